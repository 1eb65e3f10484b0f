/*
 * chunk_head — bit-packed head chunks (see chunk_head.h and FORMAT.md "Head chunks").
 *
 * Codes, most significant bit first:
 *   timestamps  first: 64 raw bits; then dod = (t - prev_t) - prev_dt, zz = zigzag(dod):
 *               '0' zz=0 | '10' 14 bits | '110' 17 bits | '1110' 20 bits | '1111' 64 bits
 *   INT values  first: zigzag(mantissa) in the value code; then zigzag(delta / 2^shift):
 *               '0' 0 | '10' 4 | '110' 8 | '1110' 12 | '11110' 16 | '111110' 24 |
 *               '1111110' 32 | '1111111' 64 bits
 *   XOR values  first: 64 raw bits; then x = bits ^ prev_bits: '0' x=0 | '10' the bits
 *               of x inside the previous leading/trailing zero window | '11' 5 bits
 *               leading zeros, 6 bits significant length (0 means 64), the bits
 * When a new value does not fit the chunk's parameters (a value needs more decimals, a
 * delta has fewer trailing zeros, a value is not a decimal at all), the chunk is
 * re-encoded with parameters chosen from all its samples.
 */
#include "chunk_head.h"

#include "bits.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BITS_PER_SAMPLE 160 /* an upper bound: 68 for the time, 77 for an XOR value */

static unsigned ctz64(uint64_t x)
{
    return (unsigned)__builtin_ctzll(x);
}

/* ---- writing ------------------------------------------------------------------------ */

static struct km_hchunk *reserve(struct km_hchunk *c, unsigned extra_bits)
{
    size_t need = ((size_t)c->nbits + extra_bits + 7) / 8, ncap;
    struct km_hchunk *nc;

    if (need <= c->cap)
        return c;
    /* Grow by a quarter: the open chunk's slack is what the head pays per series. */
    ncap = c->cap ? (size_t)c->cap + c->cap / 4 + 8 : 32;
    /* Once the chunk has shown its bits per sample, grow once to what a full chunk
     * will need (an eighth to spare): every move leaves a hole in the heap, which
     * costs as much as slack. */
    if (c->n >= 16) {
        size_t first_bits = (size_t)c->first * 8;
        size_t rest = c->nbits > first_bits ? c->nbits - first_bits : 0;
        size_t full = c->first + rest * (KM_HCHUNK_MAX - 1) / (c->n - 1) / 8;

        full += full / 16 + 8;
        if (full > ncap)
            ncap = full;
    }
    while (ncap < need)
        ncap += ncap / 4 + 8;
    nc = realloc(c, sizeof(*c) + ncap);
    if (!nc)
        return NULL;
    memset(nc->data + nc->cap, 0, ncap - nc->cap);
    nc->cap = (uint32_t)ncap;
    return nc;
}

static void put_bits(struct km_hchunk *c, uint64_t v, unsigned n)
{
    while (n) {
        unsigned bit = c->nbits & 7, avail = 8 - bit, take = n < avail ? n : avail;
        uint8_t piece = (uint8_t)((v >> (n - take)) & ((1u << take) - 1));

        c->data[c->nbits >> 3] |= (uint8_t)(piece << (avail - take));
        c->nbits += take;
        n -= take;
    }
}

static void put_tcode(struct km_hchunk *c, int64_t dod)
{
    uint64_t zz = km_zigzag(dod);

    if (zz == 0) {
        put_bits(c, 0, 1);
    } else if (zz < (1ull << 14)) {
        put_bits(c, 2, 2);
        put_bits(c, zz, 14);
    } else if (zz < (1ull << 17)) {
        put_bits(c, 6, 3);
        put_bits(c, zz, 17);
    } else if (zz < (1ull << 20)) {
        put_bits(c, 14, 4);
        put_bits(c, zz, 20);
    } else {
        put_bits(c, 15, 4);
        put_bits(c, zz, 64);
    }
}

/* Prefix lengths and payload widths of the value code, in order. */
static const unsigned vcode_width[8] = { 0, 4, 8, 12, 16, 24, 32, 64 };

static void put_vcode(struct km_hchunk *c, uint64_t zz)
{
    unsigned k = 1;

    if (zz == 0) {
        put_bits(c, 0, 1);
        return;
    }
    while (k < 7 && zz >= (1ull << vcode_width[k]))
        k++;
    put_bits(c, (1ull << k) - 1, k); /* k ones, then a zero except after seven */
    if (k < 7)
        put_bits(c, 0, 1);
    put_bits(c, zz, vcode_width[k]);
}

static void put_xor(struct km_hchunk *c, uint64_t bits)
{
    uint64_t x = bits ^ c->last.bits;
    unsigned lead, trail, sig;

    c->last.bits = bits;
    if (x == 0) {
        put_bits(c, 0, 1);
        return;
    }
    lead = (unsigned)__builtin_clzll(x);
    trail = ctz64(x);
    if (lead > 31)
        lead = 31;
    if (c->lead != 0xff && lead >= c->lead && trail >= c->trail) {
        put_bits(c, 2, 2);
        put_bits(c, x >> c->trail, 64 - c->lead - c->trail);
        return;
    }
    sig = 64 - lead - trail;
    put_bits(c, 3, 2);
    put_bits(c, lead, 5);
    put_bits(c, sig == 64 ? 0 : sig, 6);
    put_bits(c, x >> trail, sig);
    c->lead = (uint8_t)lead;
    c->trail = (uint8_t)trail;
}

/* Append one sample with the chunk's current parameters; the caller has checked they
 * fit (INT: the value has a mantissa at exp and its delta a multiple of 2^shift). */
static void put_sample(struct km_hchunk *c, int64_t t, double v, int64_t m)
{
    if (c->n == 0) {
        put_bits(c, (uint64_t)t, 64);
        c->mint = t;
        if (c->enc == KM_HC_INT)
            put_vcode(c, km_zigzag(m));
        else
            put_bits(c, c->last.bits = km_double_bits(v), 64);
        c->last_dt = 0;
    } else {
        int64_t dt = (int64_t)((uint64_t)t - (uint64_t)c->maxt);

        put_tcode(c, (int64_t)((uint64_t)dt - (uint64_t)c->last_dt));
        c->last_dt = dt;
        if (c->enc == KM_HC_INT) {
            int64_t d = (int64_t)((uint64_t)m - (uint64_t)c->last.m);

            put_vcode(c, d == 0 ? 0 : km_zigzag(d / ((int64_t)1 << c->shift)));
        } else {
            put_xor(c, km_double_bits(v));
        }
    }
    if (c->enc == KM_HC_INT)
        c->last.m = m; /* XOR keeps its bits in the same field (put_xor) */
    c->maxt = t;
    c->n++;
}

static struct km_hchunk *alloc_chunk(uint8_t enc, uint8_t exp, uint8_t shift, size_t cap)
{
    struct km_hchunk *c = calloc(1, sizeof(*c) + cap);

    if (!c)
        return NULL;
    c->cap = (uint32_t)cap;
    c->enc = enc;
    c->exp = exp;
    c->shift = shift;
    c->lead = 0xff; /* no XOR window yet */
    return c;
}

/* Choose parameters that fit all samples: INT at the smallest exp every value has a
 * mantissa for, with the largest shift every delta allows; else XOR. */
static void choose(const double *v, int n, uint8_t *enc, uint8_t *exp, uint8_t *shift)
{
    for (unsigned e = 0; e <= KM_DEC_MAX_EXP; e++) {
        int64_t prev = 0, m;
        unsigned s = 64;
        int i;

        for (i = 0; i < n; i++) {
            if (!km_dec_mantissa(v[i], e, &m))
                break;
            if (i > 0 && m != prev) {
                unsigned tz = ctz64((uint64_t)m - (uint64_t)prev);

                if (tz < s)
                    s = tz;
            }
            prev = m;
        }
        if (i == n) {
            *enc = KM_HC_INT;
            *exp = (uint8_t)e;
            *shift = (uint8_t)s; /* 64: no non-zero delta yet */
            return;
        }
    }
    *enc = KM_HC_XOR;
    *exp = 0;
    *shift = 64;
}

/* Encode samples into a fresh chunk with parameters that fit them all. */
static struct km_hchunk *encode_all(const int64_t *t, const double *v, int n)
{
    uint8_t enc, exp, shift;
    struct km_hchunk *c;

    choose(v, n, &enc, &exp, &shift);
    c = alloc_chunk(enc, exp, shift, ((size_t)n * 24 + 7) / 8 + 16);
    if (!c)
        return NULL;
    for (int i = 0; i < n; i++) {
        int64_t m = 0;
        struct km_hchunk *nc;

        if (enc == KM_HC_INT)
            km_dec_mantissa(v[i], exp, &m);
        nc = reserve(c, BITS_PER_SAMPLE);
        if (!nc) {
            free(c);
            return NULL;
        }
        c = nc;
        put_sample(c, t[i], v[i], m);
        if (i == 0)
            c->first = (uint8_t)(c->nbits / 8 < 255 ? (c->nbits + 7) / 8 : 255);
    }
    return c;
}

struct km_hchunk *km_hchunk_new(int64_t t, double v)
{
    return encode_all(&t, &v, 1);
}

struct km_hchunk *km_hchunk_append(struct km_hchunk *c, int64_t t, double v)
{
    int64_t m = 0;
    bool fits = true;

    if (c->enc == KM_HC_INT) {
        fits = km_dec_mantissa(v, c->exp, &m);
        if (fits && m != c->last.m) {
            unsigned tz = ctz64((uint64_t)m - (uint64_t)c->last.m);

            /* Mantissas are below 2^53, so a delta has at most 54 trailing zeros. */
            if (c->shift == 64)
                c->shift = (uint8_t)tz; /* every delta so far was 0 */
            else
                fits = tz >= c->shift;
        }
    }
    if (!fits) {
        int64_t ts[KM_HCHUNK_MAX + 1];
        double vs[KM_HCHUNK_MAX + 1];
        struct km_hchunk *nc;
        int n;

        if (c->n > KM_HCHUNK_MAX)
            return NULL;
        n = km_hchunk_decode_chunk(c, ts, vs);
        if (n < 0)
            return NULL;
        ts[n] = t;
        vs[n] = v;
        nc = encode_all(ts, vs, n + 1);
        if (!nc)
            return NULL;
        nc->next = c->next;
        free(c);
        return nc;
    }
    {
        struct km_hchunk *nc = reserve(c, BITS_PER_SAMPLE);

        if (!nc)
            return NULL;
        put_sample(nc, t, v, m);
        return nc;
    }
}

struct km_hchunk *km_hchunk_shrink(struct km_hchunk *c)
{
    size_t need = km_hchunk_bytes(c);
    struct km_hchunk *nc;

    if (need >= c->cap)
        return c;
    nc = realloc(c, sizeof(*c) + need);
    if (!nc)
        return c;
    nc->cap = (uint32_t)need;
    return nc;
}

/* ---- reading ------------------------------------------------------------------------ */

void km_hchunk_it_init(struct km_hchunk_it *it, const struct km_hchunk_hdr *h, const uint8_t *data)
{
    memset(it, 0, sizeof(*it));
    it->h = *h;
    it->data = data;
    it->lead = 0xff;
}

/* The 64 bits from byte `byte` on, big-endian (bits past the chunk's last byte read as
 * zeros). */
static inline uint64_t load64(const struct km_hchunk_it *it, uint64_t byte)
{
    uint64_t nbytes = ((uint64_t)it->h.nbits + 7) / 8, x = 0;

    if (byte + 8 <= nbytes) {
        memcpy(&x, it->data + byte, 8);
    } else {
        uint8_t b[8] = { 0 };

        if (byte < nbytes)
            memcpy(b, it->data + byte, nbytes - byte);
        memcpy(&x, b, 8);
    }
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    x = __builtin_bswap64(x);
#endif
    return x;
}

/* The next n bits (at most 57 are in one load at any bit offset). */
static inline uint64_t get_bits(struct km_hchunk_it *it, unsigned n)
{
    uint64_t pos = it->bitpos;

    if (n == 0)
        return 0;
    if (pos > it->h.nbits || it->h.nbits - pos < n) {
        it->err = true;
        it->bitpos = it->h.nbits;
        return 0;
    }
    if (n > 56) {
        uint64_t hi = get_bits(it, 32);

        return hi << (n - 32) | get_bits(it, n - 32);
    }
    it->bitpos += n;
    return (load64(it, pos >> 3) << (pos & 7)) >> (64 - n);
}

/* Count leading one bits, up to max (the code's prefix), and take them with the zero that
 * ends them (none after max ones). */
static inline unsigned get_prefix(struct km_hchunk_it *it, unsigned max)
{
    uint64_t pos = it->bitpos, avail = pos > it->h.nbits ? 0 : it->h.nbits - pos;
    uint64_t w = load64(it, pos >> 3) << (pos & 7);
    /* The bit at max stops the count (max < 57, all within the load). */
    unsigned k = (unsigned)__builtin_clzll(~w | (1ull << (63 - max)));

    /* The bits taken must all be the chunk's (its last byte may hold more). */
    if (avail < (uint64_t)k + (k < max)) {
        it->err = true;
        it->bitpos = it->h.nbits;
        return k;
    }
    it->bitpos += k + (k < max);
    return k;
}

/* A prefix code: up to max ones (and the zero that ends fewer), then width[ones] bits.
 * Prefix and payload from one load when both fit in it and in the data. */
static inline uint64_t get_code(struct km_hchunk_it *it, unsigned max, const unsigned *width)
{
    uint64_t pos = it->bitpos, avail = pos > it->h.nbits ? 0 : it->h.nbits - pos;
    uint64_t w = load64(it, pos >> 3) << (pos & 7);
    unsigned k = (unsigned)__builtin_clzll(~w | (1ull << (63 - max)));
    unsigned p = k + (k < max), n = width[k];

    if (p + n <= 57 && avail >= (uint64_t)p + n) {
        it->bitpos += p + n;
        return n ? (w << p) >> (64 - n) : 0;
    }
    return get_bits(it, width[get_prefix(it, max)]);
}

static uint64_t get_tcode(struct km_hchunk_it *it)
{
    static const unsigned width[5] = { 0, 14, 17, 20, 64 };

    return get_code(it, 4, width);
}

static uint64_t get_vcode(struct km_hchunk_it *it)
{
    return get_code(it, 7, vcode_width);
}

bool km_hchunk_it_next(struct km_hchunk_it *it, int64_t *t, double *v)
{
    if (it->err || it->i >= it->h.n)
        return false;
    if (it->h.enc != KM_HC_INT && it->h.enc != KM_HC_XOR) {
        it->err = true;
        return false;
    }
    if (it->i == 0) {
        it->t = (int64_t)get_bits(it, 64);
        if (it->h.enc == KM_HC_INT)
            it->m = km_unzigzag(get_vcode(it));
        else
            it->bits = get_bits(it, 64);
    } else {
        it->dt = (int64_t)((uint64_t)it->dt + (uint64_t)km_unzigzag(get_tcode(it)));
        it->t = (int64_t)((uint64_t)it->t + (uint64_t)it->dt);
        if (it->h.enc == KM_HC_INT) {
            int64_t d = km_unzigzag(get_vcode(it));

            if (d != 0) {
                if (it->h.shift > 62) {
                    it->err = true; /* a non-zero delta in a chunk that has none */
                    return false;
                }
                it->m = (int64_t)((uint64_t)it->m + ((uint64_t)d << it->h.shift));
            }
        } else if (get_bits(it, 1)) {
            uint64_t x;

            if (get_bits(it, 1)) {
                unsigned lead = (unsigned)get_bits(it, 5), sig = (unsigned)get_bits(it, 6);

                if (sig == 0)
                    sig = 64;
                if (lead + sig > 64) {
                    it->err = true;
                    return false;
                }
                it->lead = (uint8_t)lead;
                it->trail = (uint8_t)(64 - lead - sig);
            } else if (it->lead == 0xff) {
                it->err = true; /* reuses a window never set */
                return false;
            }
            x = get_bits(it, 64u - it->lead - it->trail);
            it->bits ^= it->trail >= 64 ? 0 : x << it->trail;
        }
    }
    if (it->err)
        return false;
    if (it->h.enc == KM_HC_INT) {
        if (it->h.exp > KM_DEC_MAX_EXP) {
            it->err = true;
            return false;
        }
        *v = (double)it->m / km_pow10[it->h.exp];
    } else {
        *v = km_bits_double(it->bits);
    }
    *t = it->t;
    it->i++;
    return true;
}

int km_hchunk_decode_chunk(const struct km_hchunk *c, int64_t *t, double *v)
{
    struct km_hchunk_hdr h;

    km_hchunk_get_hdr(c, &h);
    return km_hchunk_decode(&h, c->data, t, v);
}

void km_hchunk_last(const struct km_hchunk *c, int64_t *t, double *v)
{
    *t = c->maxt;
    *v = c->enc == KM_HC_INT ? (double)c->last.m / km_pow10[c->exp] : km_bits_double(c->last.bits);
}

int km_hchunk_decode(const struct km_hchunk_hdr *h, const uint8_t *data, int64_t *t, double *v)
{
    struct km_hchunk_it it;
    int n = 0;

    km_hchunk_it_init(&it, h, data);
    while (km_hchunk_it_next(&it, &t[n], &v[n]))
        n++;
    return it.err ? -1 : n;
}
