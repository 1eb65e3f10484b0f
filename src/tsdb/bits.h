/*
 * bits — the byte- and bit-level coding every tsdb format uses: unsigned LEB128 varints,
 * zigzag for signed values, little-endian fixed-width integers, a bounded reader, and the
 * decimal mantissas both chunk codecs store values as.
 *
 * Readers never trust their input: every get reports failure instead of reading past
 * the end, so a corrupted chunk or index yields KM_ECORRUPT, never a crash. Pure
 * functions and caller-owned state; thread-safe.
 */
#ifndef KMON_TSDB_BITS_H
#define KMON_TSDB_BITS_H

#include "common/buf.h"

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t km_zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t km_unzigzag(uint64_t u)
{
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

/* Write v as a varint into p (room for 10 bytes); returns the bytes written. */
static inline size_t km_put_uvarint(uint8_t *p, uint64_t v)
{
    size_t n = 0;

    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* Append v as a varint to b (errors stay in b's sticky error). */
static inline void km_buf_put_uvarint(struct km_buf *b, uint64_t v)
{
    uint8_t tmp[10];

    km_buf_append(b, tmp, km_put_uvarint(tmp, v));
}

/* A bounded reader of a byte range. `err` becomes true at the first failed get. */
struct km_rd {
    const uint8_t *p, *end;
    bool err;
};

static inline void km_rd_init(struct km_rd *r, const void *p, size_t n)
{
    r->p = p;
    r->end = (const uint8_t *)p + n;
    r->err = false;
}

static inline size_t km_rd_left(const struct km_rd *r)
{
    return (size_t)(r->end - r->p);
}

static inline uint64_t km_rd_uvarint(struct km_rd *r)
{
    uint64_t v = 0;

    for (unsigned shift = 0; shift < 64; shift += 7) {
        uint8_t b;

        if (r->p >= r->end)
            break;
        b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->err = true;
    return 0;
}

/* Skip n varints, looking only for the bytes that end them, eight bytes at a time. */
static inline void km_rd_skip_uvarints(struct km_rd *r, uint64_t n)
{
    const uint8_t *p = r->p;

    while (n && r->end - p >= 8) {
        uint64_t w, m, ends;

        memcpy(&w, p, 8);
        m = ~w & 0x8080808080808080ull; /* the high bit of each byte that ends one */
        /* Summed by a multiplication (no popcnt instruction is assumed). */
        ends = ((m >> 7) * 0x0101010101010101ull) >> 56;
        if (ends < n) {
            n -= ends;
            p += 8;
            continue;
        }
        for (uint64_t k = 1; k < n; k++) /* the n-th end is in these eight bytes */
            m &= m - 1;
        p += ((unsigned)__builtin_ctzll(m) >> 3) + 1;
        n = 0;
    }
    while (n && p < r->end)
        n -= !(*p++ & 0x80);
    r->p = p;
    if (n)
        r->err = true;
}

static inline int64_t km_rd_varint(struct km_rd *r)
{
    return km_unzigzag(km_rd_uvarint(r));
}

static inline uint8_t km_rd_u8(struct km_rd *r)
{
    if (r->p >= r->end) {
        r->err = true;
        return 0;
    }
    return *r->p++;
}

static inline uint32_t km_rd_u32(struct km_rd *r)
{
    uint32_t v;

    if (km_rd_left(r) < 4) {
        r->err = true;
        r->p = r->end;
        return 0;
    }
    v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
        (uint32_t)r->p[3] << 24;
    r->p += 4;
    return v;
}

static inline uint64_t km_rd_u64(struct km_rd *r)
{
    uint64_t lo = km_rd_u32(r), hi = km_rd_u32(r);

    return lo | hi << 32;
}

/* n bytes, borrowed; NULL (and err) when fewer remain. */
static inline const uint8_t *km_rd_bytes(struct km_rd *r, size_t n)
{
    const uint8_t *p = r->p;

    if (km_rd_left(r) < n) {
        r->err = true;
        r->p = r->end;
        return NULL;
    }
    r->p += n;
    return p;
}

static inline void km_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void km_le64(uint8_t *p, uint64_t v)
{
    km_le32(p, (uint32_t)v);
    km_le32(p + 4, (uint32_t)(v >> 32));
}

static inline uint32_t km_get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t km_get_le64(const uint8_t *p)
{
    return (uint64_t)km_get_le32(p) | (uint64_t)km_get_le32(p + 4) << 32;
}

static inline uint64_t km_double_bits(double d)
{
    uint64_t u;

    memcpy(&u, &d, sizeof(u));
    return u;
}

static inline double km_bits_double(uint64_t u)
{
    double d;

    memcpy(&d, &u, sizeof(d));
    return d;
}

/* A value stored as an integer mantissa m and a power of ten: v = m / 10^exp. */
#define KM_DEC_MAX_EXP 9

static const double km_pow10[KM_DEC_MAX_EXP + 1] = { 1e0, 1e1, 1e2, 1e3, 1e4,
                                                     1e5, 1e6, 1e7, 1e8, 1e9 };

/* The mantissa of v at 10^exp, if v reads back from it bit for bit. */
static inline bool km_dec_mantissa(double v, unsigned exp, int64_t *m)
{
    double s, back;
    int64_t r;

    if (!isfinite(v))
        return false;
    s = v * km_pow10[exp];
    if (!(fabs(s) <= 9007199254740992.0))
        return false;
    r = (int64_t)llround(s);
    back = (double)r / km_pow10[exp];
    if (km_double_bits(back) != km_double_bits(v))
        return false;
    *m = r;
    return true;
}

#endif
