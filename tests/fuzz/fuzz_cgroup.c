/*
 * fuzz_cgroup — every cgroup file parser and kubelet name parser over the same
 * arbitrary bytes: flat keyed files (cpu.stat, memory.stat, memory.events), single
 * values, cpu.max, v2 io.stat, v1 blkio (bytes and ops), and the pod, container and
 * log-layout names (given a NUL-terminated copy, as directory entries are).
 *
 * The input is copied into a heap buffer of exactly its size (no NUL after it), so
 * AddressSanitizer reports any read past the end. Invariants: counts of malformed lines
 * never exceed the lines; a parsed name is NUL-terminated within its buffer.
 */
#include "fuzz_common.h"
#include "hostfs/cgparse.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile uint64_t sink;

static void on_io(void *ud, const struct km_cg_io *io)
{
    (*(size_t *)ud)++;
    sink += io->major + io->minor + io->rbytes + io->wbytes + io->rios + io->wios;
}

static void names(const char *s)
{
    char uid[KM_POD_UID_MAX], id[KM_CONTAINER_ID_MAX], a[64], b[64], c[64], d[80];
    enum km_runtime rt;
    enum km_qos qos;
    bool conmon;

    if (km_kube_qos_dir(s, &qos))
        sink += qos;
    if (km_kube_pod_dir(s, uid))
        CHECK(strlen(uid) == 36 || strlen(uid) == 32);
    if (km_kube_container_dir(s, &rt, id, &conmon))
        CHECK(strlen(id) == 64 && rt != KM_RT_NONE);
    if (km_kube_pod_log_dir(s, a, b, c, sizeof(a)))
        CHECK(a[0] && b[0] && c[0] && strlen(a) < sizeof(a) && !strchr(a, '_'));
    if (km_kube_container_log(s, a, b, c, d, sizeof(a)))
        CHECK(strlen(d) == 64 && c[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const keys[] = { "usage_usec", "user_usec", "inactive_file",
                                        "max",        "total_rss", "oom_kill" };
    char *buf = fuzz_copy(data, size), *str;
    size_t lines, n = 0;
    uint64_t v[6], found, q, p;
    int64_t i;
    bool is_max, has;
    int r;

    if (!buf)
        return 0;
    lines = fuzz_count_lines(buf, size);

    r = km_cg_parse_flat(buf, size, keys, 6, v, &found);
    CHECK(r >= 0 && (size_t)r <= (lines ? lines : 1));
    CHECK(found < 64);
    for (int k = 0; k < 6; k++)
        sink += (found >> k & 1) ? v[k] : 0;

    r = km_cg_parse_value(buf, size, &q, &is_max);
    CHECK(r == 0 || r == 1);
    sink += r == 0 ? q + is_max : 0;
    r = km_cg_parse_signed(buf, size, &i);
    CHECK(r == 0 || r == 1);
    sink += r == 0 ? (uint64_t)i : 0;
    r = km_cg_parse_cpu_max(buf, size, &has, &q, &p);
    CHECK(r == 0 || r == 1);
    CHECK(r == 0 || !has);
    sink += r == 0 ? p + (has ? q : 0) : 0;

    r = km_cg_parse_io_stat(buf, size, on_io, &n);
    CHECK(r >= 0 && (size_t)r + n <= lines);
    n = 0;
    r = km_cg_parse_blkio(buf, size, false, on_io, &n);
    CHECK(r >= 0 && (size_t)r <= lines && n <= lines);
    n = 0;
    r = km_cg_parse_blkio(buf, size, true, on_io, &n);
    CHECK(r >= 0 && (size_t)r <= lines && n <= lines);

    str = malloc(size + 1);
    if (str) {
        memcpy(str, data, size);
        str[size] = '\0';
        names(str);
        free(str);
    }
    free(buf);
    return 0;
}
