/*
 * Fuzz target: the log store's WAL (src/logs/lcodec.c, store.c). The input is a WAL
 * segment's records (or, after an 'F', records to frame with valid checksums): decoded record by
 * record as replay does, then written as a segment file of a store directory (with a streams file
 * naming streams 1 to 3) that a read-only store replays and a reader reads back whole. A segment on
 * disk is outside input too: torn, corrupt or hostile records must give an error or be skipped,
 * never a crash, a hang or unbounded memory.
 */
#include "fuzz_common.h"

#include "common/err.h"
#include "common/labels.h"
#include "logs/lcodec.h"
#include "logs/logstore.h"

#include <fcntl.h>

static int check_entry(void *ud, uint64_t id, const struct km_log_entry *e)
{
    const uint8_t **bounds = ud;

    (void)id;
    CHECK(e->len == 0 || ((const uint8_t *)e->line >= bounds[0] &&
                          (const uint8_t *)e->line + e->len <= bounds[1]));
    return 0;
}

static void write_file(const char *path, const void *a, size_t na, const void *b, size_t nb)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    CHECK(fd >= 0);
    CHECK(write(fd, a, na) == (ssize_t)na);
    if (nb)
        CHECK(write(fd, b, nb) == (ssize_t)nb);
    close(fd);
}

/* A streams file naming streams 1..3 ({app="a"}, {app="b"}, {app="c"}). */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *p = (uint8_t *)fuzz_copy(data, size);
    char path[300];
    const char *dir;

    if (!p)
        return 0;
    /* An input starting with 'F' holds unframed records (u8 type, u16 length, payload),
     * framed here with valid checksums, so that mutations reach the payload decoders. */
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
    const uint8_t *end = p + size;
    /* the decoders alone */
    for (const uint8_t *q = p; q < end;) {
        uint8_t type;
        const uint8_t *pl;
        uint32_t len;
        size_t total;
        int rc = km_lc_rec_next(q, end, &type, &pl, &len, &total);

        if (rc <= 0)
            break;
        CHECK(total == KM_LC_REC_HEADER + (size_t)len && total <= (size_t)(end - q));
        const uint8_t *bounds[2] = { pl, pl + len };
        km_lc_wal_decode(pl, len, check_entry, bounds);
        uint64_t id;
        struct km_labels *l;
        if (km_lc_stream_decode(pl, len, &id, &l) == 0) {
            CHECK(km_labels_check(l->v, l->n) == 0);
            km_labels_destroy(l);
        }
        q += total;
    }

    /* as a segment a store replays */
    dir = fuzz_dir("logstore_wal");
    snprintf(path, sizeof(path), "%s/wal", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/streams", dir);
    write_streams(path);
    snprintf(path, sizeof(path), "%s/wal/00000001", dir);
    write_file(path, KM_LC_MAGIC_WAL "\x01\0\0\0", 8, p, size);

    struct km_logstore_opts o = { .dir = dir,
                                  .read_only = true,
                                  .retention_ms = 1000LL * 3600 * 24 * 365 * 100 };
    struct km_logstore *s;
    if (km_logstore_open(&s, &o) == 0) {
        struct km_log_source src;
        struct km_matcher *m;
        struct km_log_set *set;
        struct km_log_batch b;

        km_logstore_source(s, &src);
        CHECK(km_matcher_create(&m, KM_MATCH_RE, "app", ".+") == 0);
        struct km_log_select sel = { .m = &m, .nm = 1, .start_ns = INT64_MIN, .end_ns = INT64_MAX };
        if (km_log_select(&src, &sel, &set) == 0) {
            while (km_log_set_next(set)) {
                int64_t last = INT64_MIN;

                while (km_log_set_batch(set, &b))
                    for (size_t i = 0; i < b.n; i++) {
                        CHECK(b.e[i].ts_ns >= last);
                        last = b.e[i].ts_ns;
                    }
            }
            km_log_set_close(set);
        }
        km_matcher_destroy(m);
        km_logstore_close(s);
    }
    snprintf(path, sizeof(path), "%s/wal/00000001", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/wal", dir);
    rmdir(path);
    snprintf(path, sizeof(path), "%s/streams", dir);
    unlink(path);
    free(p);
    return 0;
}
