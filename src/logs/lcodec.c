/*
 * lcodec — the log store's byte formats (see lcodec.h and FORMAT.md).
 */
#include "logs/lcodec.h"

#include "common/err.h"

#define XXH_INLINE_ALL
#include <xxhash.h>
#include <zstd.h>

#include <stdlib.h>
#include <string.h>

size_t km_lc_put_uvarint(uint8_t *p, uint64_t v)
{
    size_t n = 0;

    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

int km_lc_get_uvarint(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
    const uint8_t *p = *pp;
    uint64_t r = 0;
    unsigned shift = 0;

    while (p < end) {
        uint8_t b = *p++;

        if (shift == 63 && b > 1)
            return KM_ECORRUPT;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *pp = p;
            *v = r;
            return 0;
        }
        shift += 7;
        if (shift > 63)
            return KM_ECORRUPT;
    }
    return KM_ECORRUPT;
}

int km_lc_get_varint(const uint8_t **p, const uint8_t *end, int64_t *v)
{
    uint64_t u;

    if (km_lc_get_uvarint(p, end, &u) < 0)
        return KM_ECORRUPT;
    *v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
    return 0;
}

static size_t put_varint(uint8_t *p, int64_t v)
{
    return km_lc_put_uvarint(p, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

void km_lc_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void km_lc_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t km_lc_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t km_lc_get_u64(const uint8_t *p)
{
    return (uint64_t)km_lc_get_u32(p) | (uint64_t)km_lc_get_u32(p + 4) << 32;
}

uint32_t km_lc_rec_checksum(uint8_t type, const void *payload, size_t len)
{
    XXH3_state_t st;

    XXH3_64bits_reset(&st);
    XXH3_64bits_update(&st, &type, 1);
    XXH3_64bits_update(&st, payload, len);
    return (uint32_t)XXH3_64bits_digest(&st);
}

uint32_t km_lc_checksum(const void *p, size_t len)
{
    return (uint32_t)XXH3_64bits(p, len);
}

void km_lc_rec_header(uint8_t *hdr, uint8_t type, const void *payload, uint32_t len)
{
    km_lc_put_u32(hdr, len);
    km_lc_put_u32(hdr + 4, km_lc_rec_checksum(type, payload, len));
    hdr[8] = type;
}

int km_lc_rec_next(const uint8_t *p, const uint8_t *end, uint8_t *type, const uint8_t **payload,
                   uint32_t *len, size_t *total)
{
    size_t avail = (size_t)(end - p);
    uint32_t l;

    if (avail < KM_LC_REC_HEADER)
        return 0;
    l = km_lc_get_u32(p);
    if (l > KM_LC_REC_MAX)
        return KM_ECORRUPT;
    if (avail - KM_LC_REC_HEADER < l)
        return 0;
    if (km_lc_rec_checksum(p[8], p + KM_LC_REC_HEADER, l) != km_lc_get_u32(p + 4))
        return KM_ECORRUPT;
    *type = p[8];
    *payload = p + KM_LC_REC_HEADER;
    *len = l;
    *total = KM_LC_REC_HEADER + (size_t)l;
    return 1;
}

void km_lc_wal_encode(struct km_buf *b, uint64_t stream_id, const struct km_log_entry *e, size_t n)
{
    uint8_t tmp[32];
    size_t k;

    k = km_lc_put_uvarint(tmp, stream_id);
    k += km_lc_put_uvarint(tmp + k, n);
    k += put_varint(tmp + k, n ? e[0].ts_ns : 0);
    km_buf_append(b, tmp, k);
    for (size_t i = 0; i < n; i++) {
        k = put_varint(tmp, (int64_t)((uint64_t)e[i].ts_ns - (uint64_t)e[0].ts_ns));
        k += km_lc_put_uvarint(tmp + k, e[i].len);
        km_buf_append(b, tmp, k);
        km_buf_append(b, e[i].line, e[i].len);
    }
}

int km_lc_wal_decode(const uint8_t *p, size_t len, km_lc_entry_fn fn, void *ud)
{
    const uint8_t *end = p + len;
    uint64_t id, n, l;
    int64_t ts0, d;

    if (km_lc_get_uvarint(&p, end, &id) < 0 || km_lc_get_uvarint(&p, end, &n) < 0 ||
        km_lc_get_varint(&p, end, &ts0) < 0)
        return km_err_set(KM_ECORRUPT, "a log WAL record's header is cut short");
    if (n > len)
        return km_err_set(KM_ECORRUPT, "a log WAL record claims %llu entries in %zu bytes",
                          (unsigned long long)n, len);
    for (uint64_t i = 0; i < n; i++) {
        struct km_log_entry e;
        int rc;

        if (km_lc_get_varint(&p, end, &d) < 0 || km_lc_get_uvarint(&p, end, &l) < 0 ||
            l > (uint64_t)(end - p))
            return km_err_set(KM_ECORRUPT, "a log WAL record's entry %llu is cut short",
                              (unsigned long long)i);
        e.ts_ns = (int64_t)((uint64_t)ts0 + (uint64_t)d);
        e.line = (const char *)p;
        e.len = (size_t)l;
        p += l;
        rc = fn(ud, id, &e);
        if (rc)
            return rc;
    }
    if (p != end)
        return km_err_set(KM_ECORRUPT, "a log WAL record has %zu bytes after its entries",
                          (size_t)(end - p));
    return 0;
}

void km_lc_stream_encode(struct km_buf *b, uint64_t id, const struct km_labels *l)
{
    uint8_t tmp[20];
    size_t k;

    k = km_lc_put_uvarint(tmp, id);
    k += km_lc_put_uvarint(tmp + k, l->n);
    km_buf_append(b, tmp, k);
    for (size_t i = 0; i < l->n; i++) {
        size_t nl = strlen(l->v[i].name), vl = strlen(l->v[i].value);

        km_buf_append(b, tmp, km_lc_put_uvarint(tmp, nl));
        km_buf_append(b, l->v[i].name, nl);
        km_buf_append(b, tmp, km_lc_put_uvarint(tmp, vl));
        km_buf_append(b, l->v[i].value, vl);
    }
}

int km_lc_stream_decode(const uint8_t *p, size_t len, uint64_t *id, struct km_labels **out)
{
    const uint8_t *end = p + len;
    struct km_label v[256];
    char *strs = NULL;
    uint64_t sid, n;
    size_t used = 0;
    int rc;

    if (km_lc_get_uvarint(&p, end, &sid) < 0 || km_lc_get_uvarint(&p, end, &n) < 0)
        return km_err_set(KM_ECORRUPT, "a log stream record's header is cut short");
    if (n == 0 || n > 256)
        return km_err_set(KM_ECORRUPT, "a log stream record has %llu labels",
                          (unsigned long long)n);
    strs = malloc(len + 2 * n + 1);
    if (!strs)
        return km_err_set(KM_ENOMEM, "out of memory reading a log stream record");
    for (uint64_t i = 0; i < n; i++) {
        for (int k = 0; k < 2; k++) {
            uint64_t l;

            if (km_lc_get_uvarint(&p, end, &l) < 0 || l > (uint64_t)(end - p)) {
                rc = km_err_set(KM_ECORRUPT, "a log stream record's label %llu is cut short",
                                (unsigned long long)i);
                goto free_strs;
            }
            if (memchr(p, 0, (size_t)l)) {
                rc = km_err_set(KM_ECORRUPT, "a log stream record's label holds a NUL byte");
                goto free_strs;
            }
            memcpy(strs + used, p, (size_t)l);
            strs[used + l] = 0;
            if (k == 0)
                v[i].name = strs + used;
            else
                v[i].value = strs + used;
            used += (size_t)l + 1;
            p += l;
        }
    }
    if (p != end) {
        rc = km_err_set(KM_ECORRUPT, "a log stream record has trailing bytes");
        goto free_strs;
    }
    rc = km_labels_check(v, (size_t)n);
    if (rc < 0) {
        rc = km_err_wrap(KM_ECORRUPT, "a log stream record");
        goto free_strs;
    }
    rc = km_labels_create_sorted(out, v, (size_t)n);
    if (rc == 0)
        *id = sid;
free_strs:
    free(strs);
    return rc;
}

void km_lc_idx_encode(uint8_t *p, const struct km_lc_idx *x)
{
    memset(p, 0, KM_LC_IDX_ENTRY);
    km_lc_put_u64(p + 0, x->stream_id);
    km_lc_put_u64(p + 8, (uint64_t)x->mint);
    km_lc_put_u64(p + 16, (uint64_t)x->maxt);
    km_lc_put_u32(p + 24, x->entries);
    km_lc_put_u32(p + 28, x->bloom_len);
    km_lc_put_u64(p + 32, x->raw_bytes);
    km_lc_put_u64(p + 40, x->offset);
    km_lc_put_u32(p + 48, x->length);
    km_lc_put_u32(p + 52, x->crc);
    km_lc_put_u64(p + 56, x->wal_pos);
    km_lc_put_u32(p + 68, km_lc_checksum(p, 68));
}

int km_lc_idx_decode(const uint8_t *p, struct km_lc_idx *x)
{
    struct km_lc_idx r;

    if (km_lc_get_u32(p + 68) != km_lc_checksum(p, 68))
        return km_err_set(KM_ECORRUPT, "a log chunk index entry fails its checksum");
    r.stream_id = km_lc_get_u64(p + 0);
    r.mint = (int64_t)km_lc_get_u64(p + 8);
    r.maxt = (int64_t)km_lc_get_u64(p + 16);
    r.entries = km_lc_get_u32(p + 24);
    r.bloom_len = km_lc_get_u32(p + 28);
    r.raw_bytes = km_lc_get_u64(p + 32);
    r.offset = km_lc_get_u64(p + 40);
    r.length = km_lc_get_u32(p + 48);
    r.crc = km_lc_get_u32(p + 52);
    r.wal_pos = km_lc_get_u64(p + 56);
    if (r.mint > r.maxt || r.entries == 0 || r.entries > KM_LC_CHUNK_ENTRIES_MAX ||
        r.bloom_len > KM_LC_BLOOM_MAX || r.bloom_len > r.length || r.raw_bytes > KM_LC_BODY_MAX)
        return km_err_set(KM_ECORRUPT, "a log chunk index entry holds impossible values");
    *x = r;
    return 0;
}

void km_lc_body_encode(struct km_buf *b, const struct km_log_entry *e, size_t n)
{
    uint8_t tmp[20];
    size_t k;

    k = km_lc_put_uvarint(tmp, n);
    k += put_varint(tmp + k, n ? e[0].ts_ns : 0);
    km_buf_append(b, tmp, k);
    for (size_t i = 1; i < n; i++)
        km_buf_append(b, tmp,
                      km_lc_put_uvarint(tmp, (uint64_t)e[i].ts_ns - (uint64_t)e[i - 1].ts_ns));
    for (size_t i = 0; i < n; i++)
        km_buf_append(b, tmp, km_lc_put_uvarint(tmp, e[i].len));
    for (size_t i = 0; i < n; i++)
        km_buf_append(b, e[i].line, e[i].len);
}

int km_lc_body_decode(const uint8_t *body, size_t len, size_t want_n, struct km_log_entry **out,
                      size_t *nout)
{
    const uint8_t *p = body, *end = body + len;
    struct km_log_entry *e;
    uint64_t n, total = 0;
    int64_t ts;
    int rc;

    if (km_lc_get_uvarint(&p, end, &n) < 0 || km_lc_get_varint(&p, end, &ts) < 0)
        return km_err_set(KM_ECORRUPT, "a log chunk's body is cut short");
    /* Every entry takes at least two bytes (a delta and a length). */
    if (n == 0 || n > KM_LC_CHUNK_ENTRIES_MAX || n > len || (want_n && n != want_n))
        return km_err_set(KM_ECORRUPT, "a log chunk's body holds %llu entries (expected %zu)",
                          (unsigned long long)n, want_n);
    e = malloc((size_t)n * sizeof(*e));
    if (!e)
        return km_err_set(KM_ENOMEM, "out of memory decoding a log chunk");
    e[0].ts_ns = ts;
    for (uint64_t i = 1; i < n; i++) {
        uint64_t d;

        if (km_lc_get_uvarint(&p, end, &d) < 0 || d > (uint64_t)INT64_MAX - (uint64_t)ts) {
            rc = km_err_set(KM_ECORRUPT, "a log chunk's timestamps are cut short or overflow");
            goto free_e;
        }
        ts = (int64_t)((uint64_t)ts + d);
        e[i].ts_ns = ts;
    }
    for (uint64_t i = 0; i < n; i++) {
        uint64_t l;

        if (km_lc_get_uvarint(&p, end, &l) < 0 || l > len) {
            rc = km_err_set(KM_ECORRUPT, "a log chunk's line lengths are cut short");
            goto free_e;
        }
        e[i].len = (size_t)l;
        total += l;
    }
    if (total != (uint64_t)(end - p)) {
        rc = km_err_set(KM_ECORRUPT, "a log chunk's lines take %llu bytes, not %zu",
                        (unsigned long long)total, (size_t)(end - p));
        goto free_e;
    }
    for (uint64_t i = 0; i < n; i++) {
        e[i].line = (const char *)p;
        p += e[i].len;
    }
    *out = e;
    *nout = (size_t)n;
    return 0;
free_e:
    free(e);
    return rc;
}

int km_lc_unzstd(const void *src, size_t len, size_t max, uint8_t **out, size_t *out_len)
{
    unsigned long long sz = ZSTD_getFrameContentSize(src, len);
    uint8_t *dst;
    size_t r;

    if (sz == ZSTD_CONTENTSIZE_ERROR || sz == ZSTD_CONTENTSIZE_UNKNOWN || sz > max || sz == 0)
        return km_err_set(KM_ECORRUPT, "a log chunk's zstd frame is invalid or too large");
    dst = malloc((size_t)sz);
    if (!dst)
        return km_err_set(KM_ENOMEM, "out of memory decompressing a log chunk");
    r = ZSTD_decompress(dst, (size_t)sz, src, len);
    if (ZSTD_isError(r) || r != sz) {
        free(dst);
        return km_err_set(KM_ECORRUPT, "a log chunk does not decompress: %s",
                          ZSTD_isError(r) ? ZSTD_getErrorName(r) : "short frame");
    }
    *out = dst;
    *out_len = (size_t)sz;
    return 0;
}

uint32_t km_lc_bloom_size(uint64_t raw_bytes)
{
    uint32_t size = KM_LC_BLOOM_MIN;

    /* About one bit per 16 raw bytes: a needle's trigrams, all required, make the
     * false positive rate of a whole needle small even when each bit is often set. */
    while (size < KM_LC_BLOOM_MAX && (uint64_t)size * 8 * 16 < raw_bytes)
        size *= 2;
    return size;
}

static inline uint32_t tri_bit(const uint8_t *s, uint32_t mask)
{
    uint32_t t = (uint32_t)s[0] | (uint32_t)s[1] << 8 | (uint32_t)s[2] << 16;

    return ((t * 0x9E3779B1u) >> 8) & mask;
}

void km_lc_bloom_add(uint8_t *bloom, uint32_t size, const char *s, size_t len)
{
    const uint8_t *u = (const uint8_t *)s;
    uint32_t mask = size * 8 - 1;

    for (size_t i = 0; i + 3 <= len; i++) {
        uint32_t b = tri_bit(u + i, mask);

        bloom[b >> 3] |= (uint8_t)(1u << (b & 7));
    }
}

bool km_lc_bloom_maybe(const uint8_t *bloom, uint32_t size, const char *needle, size_t len)
{
    const uint8_t *u = (const uint8_t *)needle;
    uint32_t mask = size * 8 - 1;

    if (size == 0 || (size & (size - 1)))
        return true;
    for (size_t i = 0; i + 3 <= len; i++) {
        uint32_t b = tri_bit(u + i, mask);

        if (!(bloom[b >> 3] & (1u << (b & 7))))
            return false;
    }
    return true;
}
