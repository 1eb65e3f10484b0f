/*
 * wal_records — WAL record payloads (see wal_records.h and FORMAT.md). The count is
 * written last into a reserved 5-byte uvarint slot (padded encoding), so records can be
 * built in one pass.
 */
#include "wal_records.h"

#include "bits.h"
#include "common/err.h"
#include "common/limits.h"

#include <stdlib.h>
#include <string.h>

#define COUNT_SLOT 5 /* a padded uvarint: counts below 2^35 */

static void put_uv(struct km_buf *b, uint64_t v)
{
    uint8_t tmp[10];

    km_buf_append(b, tmp, km_put_uvarint(tmp, v));
}

static void put_str(struct km_buf *b, const char *s)
{
    size_t n = strlen(s);

    put_uv(b, n);
    km_buf_append(b, s, n);
}

void km_walrec_series_begin(struct km_buf *b)
{
    km_buf_reset(b);
    km_buf_append(b, "\0\0\0\0\0", COUNT_SLOT);
}

void km_walrec_series_add(struct km_buf *b, uint64_t ref, const struct km_label *l, size_t n)
{
    put_uv(b, ref);
    put_uv(b, n);
    for (size_t i = 0; i < n; i++) {
        put_str(b, l[i].name);
        put_str(b, l[i].value);
    }
}

void km_walrec_finish(struct km_buf *b, uint64_t count)
{
    if (b->err || b->len < COUNT_SLOT)
        return;
    for (int i = 0; i < COUNT_SLOT; i++) {
        uint8_t byte = (uint8_t)((count >> (7 * i)) & 0x7f);

        b->data[i] = (char)(i < COUNT_SLOT - 1 ? byte | 0x80 : byte);
    }
}

void km_walrec_samples_begin(struct km_buf *b, int64_t base_t)
{
    km_buf_reset(b);
    km_buf_append(b, "\0\0\0\0\0", COUNT_SLOT);
    put_uv(b, km_zigzag(base_t));
}

void km_walrec_samples_add(struct km_buf *b, uint64_t ref, int64_t base_t, int64_t t, double v)
{
    uint8_t tmp[28];
    size_t n = km_put_uvarint(tmp, ref);

    n += km_put_uvarint(tmp + n, km_zigzag((int64_t)((uint64_t)t - (uint64_t)base_t)));
    km_le64(tmp + n, km_double_bits(v));
    km_buf_append(b, tmp, n + 8);
}

int km_walrec_decode_series(const uint8_t *p, size_t len, km_walrec_series_fn fn, void *ud)
{
    struct km_label l[KM_LIMIT_LABELS_PER_SERIES];
    struct km_rd r;
    uint64_t count;
    char *strs;
    int rc = 0;

    /* Every string of the record, NUL-terminated, fits in its length plus one byte per
     * length prefix it had. */
    strs = malloc(len + 1);
    if (!strs)
        return km_err_set(KM_ENOMEM, "out of memory");
    km_rd_init(&r, p, len);
    count = km_rd_uvarint(&r);
    for (uint64_t k = 0; k < count && rc == 0; k++) {
        uint64_t ref = km_rd_uvarint(&r), n = km_rd_uvarint(&r);
        char *w = strs;

        if (r.err || n > KM_LIMIT_LABELS_PER_SERIES) {
            rc = km_err_set(KM_ECORRUPT, "WAL series record: bad label count");
            break;
        }
        for (uint64_t i = 0; i < 2 * n; i++) {
            uint64_t sl = km_rd_uvarint(&r);
            const uint8_t *s = km_rd_bytes(&r, sl);

            if (r.err || !s || memchr(s, '\0', sl)) {
                rc = km_err_set(KM_ECORRUPT, "WAL series record: bad label");
                goto out_free;
            }
            memcpy(w, s, sl);
            w[sl] = '\0';
            if (i % 2 == 0)
                l[i / 2].name = w;
            else
                l[i / 2].value = w;
            w += sl + 1;
        }
        rc = fn(ud, ref, l, (size_t)n);
    }
    if (rc == 0 && r.err)
        rc = km_err_set(KM_ECORRUPT, "WAL series record: truncated");
out_free:
    free(strs);
    return rc;
}

int km_walrec_decode_samples(const uint8_t *p, size_t len, km_walrec_sample_fn fn, void *ud)
{
    struct km_rd r;
    uint64_t count;
    int64_t base;
    int rc = 0;

    km_rd_init(&r, p, len);
    count = km_rd_uvarint(&r);
    base = km_rd_varint(&r);
    if (r.err || count > len)
        return km_err_set(KM_ECORRUPT, "WAL samples record: bad header");
    for (uint64_t k = 0; k < count && rc == 0; k++) {
        uint64_t ref = km_rd_uvarint(&r);
        int64_t dt = km_rd_varint(&r);
        uint64_t bits = km_rd_u64(&r);

        if (r.err)
            return km_err_set(KM_ECORRUPT, "WAL samples record: truncated");
        rc = fn(ud, ref, (int64_t)((uint64_t)base + (uint64_t)dt), km_bits_double(bits));
    }
    return rc;
}
