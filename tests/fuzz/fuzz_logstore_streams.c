/*
 * Fuzz target: the log store's streams file (src/logs/store.c load_streams, lcodec.c
 * stream records) with its next-id records (type 3, written by stream GC). The input is
 * the file after its header (or, after an 'F', records to frame with valid checksums: u8
 * type, u16 length, payload). A store opened on it (read-write) must load what is valid,
 * skip or cut off the rest, and then give a newly pushed stream an id that no stream in
 * the file holds and that is at least every next-id record's value; after a stream GC
 * pass the rewritten file must load the same streams again. Never a crash, a hang or
 * unbounded memory.
 */
#include "fuzz_common.h"

#include "common/err.h"
#include "common/labels.h"
#include "logs/lcodec.h"
#include "logs/logstore.h"

#include <fcntl.h>
#include <time.h>

static void write_file(const char *path, const void *a, size_t na, const void *b, size_t nb)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    CHECK(fd >= 0);
    CHECK(write(fd, a, na) == (ssize_t)na);
    if (nb)
        CHECK(write(fd, b, nb) == (ssize_t)nb);
    close(fd);
}

static int count_series(void *ud, const struct km_labels *l)
{
    (void)l;
    (*(size_t *)ud)++;
    return 0;
}

/* The ids the streams file at path names (type 2 records that decode), the largest
 * value of a type 3 record (valid checksums only, as the store reads them). */
static void scan_ids(const char *path, uint64_t *max_id, uint64_t *max_next, size_t *nstreams)
{
    FILE *fp = fopen(path, "rb");
    static uint8_t buf[1 << 20];
    size_t len;

    *max_id = *max_next = 0;
    *nstreams = 0;
    if (!fp)
        return;
    len = fread(buf, 1, sizeof(buf), fp);
    fclose(fp);
    for (size_t off = KM_LC_FILE_HEADER; off < len;) {
        uint8_t type;
        const uint8_t *pl;
        uint32_t pl_len;
        size_t total;
        uint64_t id;
        struct km_labels *l;

        if (km_lc_rec_next(buf + off, buf + len, &type, &pl, &pl_len, &total) <= 0)
            break;
        if (type == KM_LC_REC_STREAM && km_lc_stream_decode(pl, pl_len, &id, &l) == 0) {
            if (id > 0 && id < (1ull << 62)) { /* the store ignores the others */
                if (id > *max_id)
                    *max_id = id;
                (*nstreams)++;
            }
            km_labels_destroy(l);
        } else if (type == KM_LC_REC_NEXT_ID) {
            const uint8_t *q = pl;

            if (km_lc_get_uvarint(&q, pl + pl_len, &id) == 0 && q == pl + pl_len &&
                id > *max_next && id < (1ull << 62))
                *max_next = id;
        }
        off += total;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *p = (uint8_t *)fuzz_copy(data, size);
    char path[300], cmd[400];
    const char *dir;

    if (!p)
        return 0;
    if (size > 0 && p[0] == 'F') {
        struct km_buf fb;

        km_buf_init(&fb, 0);
        for (size_t i = 1; i + 3 <= size;) {
            uint8_t type = p[i], hdr[KM_LC_REC_HEADER];
            size_t len = (size_t)p[i + 1] | (size_t)p[i + 2] << 8;

            i += 3;
            if (len > size - i)
                len = size - i;
            km_lc_rec_header(hdr, type, p + i, (uint32_t)len);
            km_buf_append(&fb, hdr, sizeof(hdr));
            km_buf_append(&fb, p + i, len);
            i += len;
        }
        free(p);
        size = fb.len;
        p = (uint8_t *)fuzz_copy((const uint8_t *)fb.data, size);
        km_buf_fini(&fb);
        if (!p)
            return 0;
    }
    if (size > 512 * 1024) { /* the checks below read the file into 1 MiB */
        free(p);
        return 0;
    }

    dir = fuzz_dir("logstore_streams");
    snprintf(cmd, sizeof(cmd), "rm -rf %s/wal %s/chunks %s/lock %s/streams", dir, dir, dir, dir);
    CHECK(system(cmd) == 0);
    snprintf(path, sizeof(path), "%s/streams", dir);
    write_file(path, KM_LC_MAGIC_STRM "\x01\0\0\0", 8, p, size);

    uint64_t max_id, max_next;
    size_t nfile;
    scan_ids(path, &max_id, &max_next, &nfile);

    /* a clock far ahead: every stream has no data, so GC drops them all */
    struct km_logstore_opts o = { .dir = dir, .fsync_interval_ms = 60000 };
    struct km_logstore *s;
    if (km_logstore_open(&s, &o) == 0) {
        struct km_log_source src;
        struct km_label lv = { "fuzz", "new" };
        struct km_log_entry e = { 0, "x", 1 };
        struct km_log_push_result res;
        struct km_log_push_stream ps = { &lv, 1, &e, 1 };
        struct timespec ts;
        size_t n = 0;

        clock_gettime(CLOCK_REALTIME, &ts);
        e.ts_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
        km_logstore_source(s, &src);
        CHECK(km_log_series(&src, NULL, 0, INT64_MIN, INT64_MAX, count_series, &n) == 0);
        CHECK(n == 0);            /* streams without data are not listed */
        km_logstore_retention(s); /* drops every stream of the file: none has data */
        if (km_logstore_push(s, &ps, 1, &res) == 0 && res.stored == 1) {
            uint64_t mi, mn;
            size_t ns;

            scan_ids(path, &mi, &mn, &ns);
            /* only the new stream is left, with an id above all the file held */
            CHECK(ns == 1);
            CHECK(mi > max_id && mi >= max_next);
        }
        km_logstore_close(s);
    }
    CHECK(system(cmd) == 0);
    free(p);
    return 0;
}
