/*
 * Fuzz target: the log store's chunk formats (src/logs/lcodec.c, store.c, lread.c). The
 * input is decoded as a chunk body, as a zstd frame holding one and as index entries;
 * then, split by its first two bytes into a chunk index and a chunk data file, written
 * into a store directory (with a streams file naming streams 1 to 3) that a read-only
 * store opens and a reader reads whole, with and without a must_contain hint. Files on
 * disk are outside input too: bad chunks must give an error, never a crash, a hang or
 * unbounded memory.
 */
#include "fuzz_common.h"

#include "common/err.h"
#include "common/labels.h"
#include "logs/lcodec.h"
#include "logs/logstore.h"

#include <fcntl.h>

static void write_file(const char *path, const void *a, size_t na, const void *b, size_t nb)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    CHECK(fd >= 0);
    CHECK(write(fd, a, na) == (ssize_t)na);
    if (nb)
        CHECK(write(fd, b, nb) == (ssize_t)nb);
    close(fd);
}

static void write_streams(const char *path)
{
    struct km_buf b;
    static const char *const names[] = { "a", "b", "c" };

    km_buf_init(&b, 0);
    km_buf_append(&b, KM_LC_MAGIC_STRM "\x01\0\0\0", 8);
    for (int i = 0; i < 3; i++) {
        struct km_label l = { "app", names[i] };
        struct km_labels *ls;
        struct km_buf p;
        uint8_t hdr[KM_LC_REC_HEADER];

        CHECK(km_labels_create(&ls, &l, 1) == 0);
        km_buf_init(&p, 0);
        km_lc_stream_encode(&p, (uint64_t)i + 1, ls);
        km_lc_rec_header(hdr, KM_LC_REC_STREAM, p.data, (uint32_t)p.len);
        km_buf_append(&b, hdr, sizeof(hdr));
        km_buf_append(&b, p.data, p.len);
        km_buf_fini(&p);
        km_labels_destroy(ls);
    }
    write_file(path, b.data, b.len, NULL, 0);
    km_buf_fini(&b);
}

static void check_entries(const struct km_log_entry *e, size_t n, const uint8_t *lo,
                          const uint8_t *hi)
{
    for (size_t i = 0; i < n; i++) {
        CHECK(i == 0 || e[i].ts_ns >= e[i - 1].ts_ns);
        CHECK(e[i].len == 0 ||
              ((const uint8_t *)e[i].line >= lo && (const uint8_t *)e[i].line + e[i].len <= hi));
    }
}

static void read_all(const char *dir, const char *needle)
{
    struct km_logstore_opts o = { .dir = dir,
                                  .read_only = true,
                                  .retention_ms = 1000LL * 3600 * 24 * 365 * 100 };
    struct km_logstore *s;
    size_t nl = needle ? strlen(needle) : 0;

    if (km_logstore_open(&s, &o) < 0)
        return;
    struct km_log_source src;
    struct km_matcher *m;
    struct km_log_set *set;
    struct km_log_batch b;
    struct km_log_stats st;

    km_logstore_source(s, &src);
    CHECK(km_matcher_create(&m, KM_MATCH_RE, "app", ".+") == 0);
    struct km_log_select sel = { .m = &m,
                                 .nm = 1,
                                 .start_ns = INT64_MIN,
                                 .end_ns = INT64_MAX,
                                 .backward = needle != NULL,
                                 .must_contain = &needle,
                                 .must_contain_len = &nl,
                                 .n_must_contain = needle ? 1 : 0 };
    if (km_log_select(&src, &sel, &set) == 0) {
        while (km_log_set_next(set))
            while (km_log_set_batch(set, &b))
                for (size_t i = 1; i < b.n; i++)
                    CHECK(needle ? b.e[i].ts_ns <= b.e[i - 1].ts_ns
                                 : b.e[i].ts_ns >= b.e[i - 1].ts_ns);
        km_log_set_close(set);
    }
    km_log_stats(&src, &m, 1, INT64_MIN, INT64_MAX, &st);
    km_matcher_destroy(m);
    km_logstore_close(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *p = (uint8_t *)fuzz_copy(data, size);
    struct km_log_entry *e;
    uint8_t *body;
    size_t n, blen;
    char path[300];
    const char *dir;

    if (!p)
        return 0;
    if (km_lc_body_decode(p, size, 0, &e, &n) == 0) {
        CHECK(n > 0);
        check_entries(e, n, p, p + size);
        free(e);
    }
    if (km_lc_unzstd(p, size, 1u << 20, &body, &blen) == 0) {
        if (km_lc_body_decode(body, blen, 0, &e, &n) == 0) {
            check_entries(e, n, body, body + blen);
            free(e);
        }
        free(body);
    }
    for (size_t off = 0; off + KM_LC_IDX_ENTRY <= size; off += KM_LC_IDX_ENTRY) {
        struct km_lc_idx x;

        if (km_lc_idx_decode(p + off, &x) == 0)
            CHECK(x.mint <= x.maxt && x.bloom_len <= x.length);
    }
    if (size >= 64 + 3) /* a 64-byte filter, then a needle */
        km_lc_bloom_maybe(p, 64, (const char *)p + 64, size - 64 > 64 ? 64 : size - 64);

    /* as a chunk file pair a store opens and reads */
    if (size >= 2) {
        size_t split = ((size_t)p[0] | (size_t)p[1] << 8);

        if (split > size - 2)
            split = size - 2;
        dir = fuzz_dir("logstore_chunk");
        snprintf(path, sizeof(path), "%s/chunks", dir);
        mkdir(path, 0755);
        snprintf(path, sizeof(path), "%s/streams", dir);
        write_streams(path);
        snprintf(path, sizeof(path), "%s/chunks/00000001.idx", dir);
        write_file(path, KM_LC_MAGIC_IDX "\x01\0\0\0", 8, p + 2, split);
        snprintf(path, sizeof(path), "%s/chunks/00000001.dat", dir);
        write_file(path, KM_LC_MAGIC_DAT "\x01\0\0\0", 8, p + 2 + split, size - 2 - split);
        read_all(dir, NULL);
        read_all(dir, "needle");
        snprintf(path, sizeof(path), "%s/chunks/00000001.idx", dir);
        unlink(path);
        snprintf(path, sizeof(path), "%s/chunks/00000001.dat", dir);
        unlink(path);
        snprintf(path, sizeof(path), "%s/chunks", dir);
        rmdir(path);
        snprintf(path, sizeof(path), "%s/streams", dir);
        unlink(path);
    }
    free(p);
    return 0;
}
