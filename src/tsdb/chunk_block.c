/*
 * chunk_block — block chunk encoding (see chunk_block.h and FORMAT.md "Block chunks"):
 *
 *   uvarint n                       samples, >= 1
 *   varint  t0                      first timestamp (zigzag)
 *   varint  dt1                     second minus first, when n >= 2
 *   varint  dod * (n - 2)           (t[i] - t[i-1]) - (t[i-1] - t[i-2])
 *   u8      venc                    0 INT_DELTA, 1 INT_DOD, 2 XOR
 *   INT:  u8 exp, uvarint gcd, varint m0, then n - 1 varints: (m[i] - m[i-1]) / gcd
 *         (INT_DELTA), or the first such delta followed by the differences of
 *         consecutive ones (INT_DOD); value = m / 10^exp
 *   XOR:  u64 LE bits of v0, then n - 1 u64 LE of bits[i] ^ bits[i-1]
 */
#include "chunk_block.h"

#include "bits.h"

#include "common/err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void put_uv(struct km_buf *b, uint64_t v)
{
    uint8_t tmp[10];

    km_buf_append(b, tmp, km_put_uvarint(tmp, v));
}

static void put_v(struct km_buf *b, int64_t v)
{
    put_uv(b, km_zigzag(v));
}

static size_t uv_len(uint64_t v)
{
    size_t n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint64_t gcd64(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t r = a % b;

        a = b;
        b = r;
    }
    return a;
}

/* Mantissas of every value at the smallest exponent that fits them all; false if none. */
static bool mantissas(const double *v, size_t n, int64_t *m, uint8_t *exp)
{
    for (unsigned e = 0; e <= KM_DEC_MAX_EXP; e++) {
        size_t i;

        for (i = 0; i < n && km_dec_mantissa(v[i], e, &m[i]); i++)
            ;
        if (i == n) {
            *exp = (uint8_t)e;
            return true;
        }
    }
    return false;
}

void km_bchunk_encode(struct km_buf *out, const int64_t *t, const double *v, size_t n)
{
    int64_t *m;
    uint8_t exp;

    /* Unsigned arithmetic: any int64 timestamps are valid, and their differences wrap
     * the same way in the decoder. */
    put_uv(out, n);
    put_v(out, t[0]);
    if (n >= 2)
        put_v(out, (int64_t)((uint64_t)t[1] - (uint64_t)t[0]));
    for (size_t i = 2; i < n; i++)
        put_v(out, (int64_t)(((uint64_t)t[i] - (uint64_t)t[i - 1]) -
                             ((uint64_t)t[i - 1] - (uint64_t)t[i - 2])));

    m = malloc(n * sizeof(*m));
    if (!m) {
        if (!out->err)
            out->err = km_err_set(KM_ENOMEM, "out of memory encoding a chunk");
        return;
    }
    if (mantissas(v, n, m, &exp)) {
        uint64_t g = 0;
        size_t len_delta = 0, len_dod = 0;
        int64_t prevq = 0;

        /* Mantissas are below 2^53 in magnitude, so deltas and their differences fit. */
        for (size_t i = 1; i < n; i++) {
            int64_t d = m[i] - m[i - 1];

            g = gcd64(g, (uint64_t)(d < 0 ? -d : d));
        }
        if (g == 0)
            g = 1;
        for (size_t i = 1; i < n; i++) {
            int64_t q = (m[i] - m[i - 1]) / (int64_t)g;

            len_delta += uv_len(km_zigzag(q));
            len_dod += uv_len(km_zigzag(i == 1 ? q : q - prevq));
            prevq = q;
        }
        km_buf_putc(out, (char)(len_dod < len_delta ? KM_BC_INT_DOD : KM_BC_INT_DELTA));
        km_buf_putc(out, (char)exp);
        put_uv(out, g);
        put_v(out, m[0]);
        prevq = 0;
        for (size_t i = 1; i < n; i++) {
            int64_t q = (m[i] - m[i - 1]) / (int64_t)g;

            put_v(out, len_dod < len_delta && i > 1 ? q - prevq : q);
            prevq = q;
        }
    } else {
        uint64_t prev = 0;

        km_buf_putc(out, (char)KM_BC_XOR);
        for (size_t i = 0; i < n; i++) {
            uint8_t le[8];
            uint64_t bits = km_double_bits(v[i]);

            km_le64(le, bits ^ prev);
            km_buf_append(out, le, 8);
            prev = bits;
        }
    }
    free(m);
}

void km_samples_fini(struct km_samples *s)
{
    free(s->t);
    free(s->v);
    memset(s, 0, sizeof(*s));
}

static int samples_reserve(struct km_samples *s, size_t n)
{
    size_t ncap;
    int64_t *t;
    double *v;

    if (n <= s->cap)
        return 0;
    ncap = s->cap ? s->cap : 256;
    while (ncap < n)
        ncap *= 2;
    t = realloc(s->t, ncap * sizeof(*t));
    if (!t)
        return km_err_set(KM_ENOMEM, "out of memory decoding a chunk");
    s->t = t;
    v = realloc(s->v, ncap * sizeof(*v));
    if (!v)
        return km_err_set(KM_ENOMEM, "out of memory decoding a chunk");
    s->v = v;
    s->cap = ncap;
    return 0;
}

int km_samples_push(struct km_samples *s, int64_t t, double v)
{
    int rc = samples_reserve(s, s->n + 1);

    if (rc)
        return rc;
    s->t[s->n] = t;
    s->v[s->n++] = v;
    return 0;
}

int km_samples_append(struct km_samples *s, const int64_t *t, const double *v, size_t n)
{
    int rc = samples_reserve(s, s->n + n);

    if (rc || n == 0)
        return rc;
    memcpy(s->t + s->n, t, n * sizeof(*t));
    memcpy(s->v + s->n, v, n * sizeof(*v));
    s->n += n;
    return 0;
}

int km_samples_merge(struct km_samples *dst, const struct km_samples *src, struct km_samples *tmp)
{
    size_t i = 0, j = 0, n = 0;
    int rc = samples_reserve(tmp, dst->n + src->n);

    if (rc)
        return rc;
    while (i < dst->n || j < src->n) {
        if (j >= src->n || (i < dst->n && dst->t[i] <= src->t[j])) {
            if (j < src->n && dst->t[i] == src->t[j])
                j++; /* the same timestamp in both: keep dst's */
            tmp->t[n] = dst->t[i];
            tmp->v[n++] = dst->v[i++];
        } else {
            tmp->t[n] = src->t[j];
            tmp->v[n++] = src->v[j++];
        }
    }
    tmp->n = n;
    {
        struct km_samples swap = *dst;

        *dst = *tmp;
        *tmp = swap;
    }
    return 0;
}

long km_bchunk_decode(const uint8_t *p, size_t len, struct km_samples *out, size_t max_samples)
{
    struct km_rd r;
    uint64_t n;
    uint8_t venc;
    int rc;

    km_rd_init(&r, p, len);
    n = km_rd_uvarint(&r);
    /* Every sample takes at least one byte of timestamp and one of value. */
    if (r.err || n == 0 || n > len)
        return km_err_set(KM_ECORRUPT, "chunk: bad sample count");
    if (n > max_samples)
        return km_err_set(KM_ELIMIT, "chunk: %llu samples, more than %zu", (unsigned long long)n,
                          max_samples);
    rc = samples_reserve(out, n);
    if (rc)
        return rc;
    out->n = 0;
    {
        uint64_t t = (uint64_t)km_rd_varint(&r), dt = 0;

        out->t[0] = (int64_t)t;
        for (uint64_t i = 1; i < n; i++) {
            /* Unsigned arithmetic: corrupt input may overflow, which is not UB here. */
            dt = i == 1 ? (uint64_t)km_rd_varint(&r) : dt + (uint64_t)km_rd_varint(&r);
            t += dt;
            out->t[i] = (int64_t)t;
            if (out->t[i] <= out->t[i - 1])
                return km_err_set(KM_ECORRUPT, "chunk: timestamps not increasing");
        }
    }
    venc = km_rd_u8(&r);
    if (r.err)
        return km_err_set(KM_ECORRUPT, "chunk: truncated timestamps");
    if (venc == KM_BC_XOR) {
        uint64_t bits = 0;

        for (uint64_t i = 0; i < n; i++) {
            bits ^= km_rd_u64(&r);
            out->v[i] = km_bits_double(bits);
        }
    } else if (venc == KM_BC_INT_DELTA || venc == KM_BC_INT_DOD) {
        uint8_t exp = km_rd_u8(&r);
        uint64_t g = km_rd_uvarint(&r), m = (uint64_t)km_rd_varint(&r), q = 0;

        if (exp > KM_DEC_MAX_EXP || g == 0)
            return km_err_set(KM_ECORRUPT, "chunk: bad value header");
        out->v[0] = (double)(int64_t)m / km_pow10[exp];
        for (uint64_t i = 1; i < n; i++) {
            uint64_t x = (uint64_t)km_rd_varint(&r);

            q = (venc == KM_BC_INT_DOD && i > 1) ? q + x : x;
            m += q * g;
            out->v[i] = (double)(int64_t)m / km_pow10[exp];
        }
    } else {
        return km_err_set(KM_ECORRUPT, "chunk: unknown value encoding %u", venc);
    }
    if (r.err)
        return km_err_set(KM_ECORRUPT, "chunk: truncated values");
    out->n = n;
    return (long)(r.p - p);
}
