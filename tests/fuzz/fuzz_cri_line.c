/*
 * fuzz_cri_line — the CRI log line parser over every line of the input, then the whole
 * tailer over the input as a container's log file (a small --logs-max-line, partial
 * lines, splitting and multiline joining all reached): no crash, no read past the input,
 * every parsed text inside its line, every line handed out within the cap plus the
 * split mark, and the positions never past the file's end.
 */
#include "agent/logs/logline.h"
#include "agent/logs/tailer.h"
#include "fuzz_common.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static volatile uint64_t sink;

static void parse_lines(const char *buf, size_t size)
{
    size_t i = 0;

    while (i < size) {
        const char *nl = memchr(buf + i, '\n', size - i);
        size_t e = nl ? (size_t)(nl - buf) : size;
        char *line = fuzz_copy((const uint8_t *)buf + i, e - i);
        struct km_logline l;

        if (line && km_logline_parse_cri(line, e - i, &l) == 0) {
            CHECK(l.text >= line && l.text + l.len <= line + (e - i));
            CHECK(l.stream == KM_LOGLINE_STDOUT || l.stream == KM_LOGLINE_STDERR);
            sink += (uint64_t)l.ts_ns + l.len + l.partial;
        }
        free(line);
        i = e + 1;
    }
}

static void tail_file(const uint8_t *data, size_t size)
{
    char root[128], dir[256], path[300];
    struct km_tailer *t;
    struct km_tailer_opts o = { 0 };
    int fd;

    snprintf(root, sizeof(root), "%s", fuzz_dir("cri_line"));
    snprintf(dir, sizeof(dir), "%s/var", root);
    mkdir(dir, 0755);
    snprintf(dir, sizeof(dir), "%s/var/log", root);
    mkdir(dir, 0755);
    snprintf(dir, sizeof(dir), "%s/var/log/pods", root);
    mkdir(dir, 0755);
    snprintf(dir, sizeof(dir), "%s/var/log/pods/ns_pod_uid", root);
    mkdir(dir, 0755);
    snprintf(dir, sizeof(dir), "%s/var/log/pods/ns_pod_uid/c", root);
    mkdir(dir, 0755);
    snprintf(path, sizeof(path), "%s/0.log", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return;
    CHECK(write(fd, data, size) == (ssize_t)size);
    close(fd);
    o.root = root;
    o.cluster = "c";
    o.node = "n";
    o.max_line = 256;
    o.batch_bytes = 1024;
    o.multiline = "ns/c=^\\d";
    o.rotate_grace_ms = 1;
    o.multiline_flush_ms = 1;
    if (km_tailer_open(&t, &o) != 0)
        return;
    km_tailer_scan(t);
    for (int round = 0; round < 10000; round++) {
        const struct km_log_push_stream *st;
        size_t n, lines = 0;
        uint64_t bytes;
        struct km_tailer_stats s;

        CHECK(km_tailer_fill(t, &st, &n, &bytes) == 0);
        for (size_t i = 0; i < n; i++) {
            CHECK(st[i].n_labels == 6);
            for (size_t e = 0; e < st[i].n_entries; e++) {
                CHECK(st[i].entries[e].len <= 256 + sizeof(KM_TAILER_SPLIT_MARK));
                if (st[i].entries[e].len)
                    sink += (uint64_t)st[i].entries[e].line[0];
                sink += (uint64_t)st[i].entries[e].ts_ns;
                lines++;
            }
        }
        km_tailer_ack(t, true);
        km_tailer_stats(t, &s);
        CHECK(s.bytes_read <= size);
        if (!lines)
            break;
    }
    km_tailer_close(t);
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = fuzz_copy(data, size);

    if (!buf)
        return 0;
    parse_lines(buf, size);
    free(buf);
    if (size <= 64 * 1024)
        tail_file(data, size);
    return 0;
}
