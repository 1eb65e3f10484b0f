/*
 * chunk_head — the in-memory chunk of the head: up to KM_HCHUNK_MAX samples of one
 * series, in time order, bit-packed as they arrive (format: FORMAT.md, "Head chunks").
 *
 * Timestamps are delta-of-delta coded (a regular scrape costs one bit per sample).
 * Values are coded one of two ways, chosen per chunk and changed only by re-encoding
 * the chunk (it has at most KM_HCHUNK_MAX samples, so that is cheap and rare):
 *   INT  the values are decimals: value = mantissa / 10^exp exactly, bit for bit; the
 *        mantissa deltas, divided by 2^shift (all deltas share shift trailing zero
 *        bits, e.g. 12 for byte counts in 4 KiB pages), are coded in a prefix code;
 *   XOR  Gorilla's XOR of consecutive IEEE bit patterns, for everything else (NaN,
 *        ±Inf, -0.0, values with more than 9 decimals).
 * Both read back bit-exactly; a stale-marker NaN keeps its payload.
 *
 * A chunk is one allocation (header + data) owned by its series; appending may move it
 * (realloc), so the owner replaces its pointer with the one returned. Not thread-safe:
 * the series lock protects it.
 */
#ifndef KMON_TSDB_CHUNK_HEAD_H
#define KMON_TSDB_CHUNK_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KM_HCHUNK_MAX 240

enum km_hchunk_enc {
    KM_HC_INT = 1,
    KM_HC_XOR = 2,
};

/* What a reader needs to decode a chunk's bits. */
struct km_hchunk_hdr {
    int64_t mint, maxt;
    uint16_t n;
    uint8_t enc;
    uint8_t exp;   /* INT */
    uint8_t shift; /* INT; 64 until the first non-zero delta */
    uint32_t nbits;
};

/* 56 bytes of header: the fields a reader needs (see km_hchunk_hdr) and the append state
 * of the last sample (its time delta, and its mantissa or IEEE bits). */
struct km_hchunk {
    struct km_hchunk *next; /* the next newer chunk of the series, or NULL */
    int64_t mint, maxt;
    int64_t last_dt;
    union {
        int64_t m;     /* INT: last mantissa */
        uint64_t bits; /* XOR: last value's bits */
    } last;
    uint32_t nbits; /* bits of data[] in use */
    uint32_t cap;   /* bytes of data[] */
    uint16_t n;
    uint8_t enc, exp, shift;
    uint8_t lead, trail; /* XOR: the current leading/trailing zero window */
    uint8_t first;       /* bytes the first sample took (at most 255): sizing growth */
    uint8_t data[];
};

static inline void km_hchunk_get_hdr(const struct km_hchunk *c, struct km_hchunk_hdr *h)
{
    h->mint = c->mint;
    h->maxt = c->maxt;
    h->n = c->n;
    h->enc = c->enc;
    h->exp = c->exp;
    h->shift = c->shift;
    h->nbits = c->nbits;
}

/* Start a chunk with its first sample. NULL when out of memory. */
struct km_hchunk *km_hchunk_new(int64_t t, double v);

/* Append a sample with t > maxt. Returns the (possibly moved) chunk, or NULL when out
 * of memory, in which case the old chunk is unchanged and still valid. */
struct km_hchunk *km_hchunk_append(struct km_hchunk *c, int64_t t, double v);

static inline bool km_hchunk_full(const struct km_hchunk *c)
{
    return c->n >= KM_HCHUNK_MAX;
}

/* Give back the unused capacity of a chunk that will take no more samples. Returns the
 * (possibly moved) chunk; on failure the old one, unchanged. */
struct km_hchunk *km_hchunk_shrink(struct km_hchunk *c);

/* Bytes of data[] in use. */
static inline size_t km_hchunk_bytes(const struct km_hchunk *c)
{
    return (c->nbits + 7) / 8;
}

/* Decoding: an iterator over a header and its data (e.g. copied out of a chunk). */
struct km_hchunk_it {
    struct km_hchunk_hdr h;
    const uint8_t *data;
    uint64_t bitpos;
    uint16_t i;
    int64_t t, dt, m;
    uint64_t bits;
    uint8_t lead, trail;
    bool err;
};

void km_hchunk_it_init(struct km_hchunk_it *it, const struct km_hchunk_hdr *h, const uint8_t *data);

/* The next sample; false at the end or on corrupt data (then it->err is set). */
bool km_hchunk_it_next(struct km_hchunk_it *it, int64_t *t, double *v);

/* Decode every sample of a chunk into t[], v[] (room for h.n). Returns the count, or -1
 * on corrupt data. */
int km_hchunk_decode(const struct km_hchunk_hdr *h, const uint8_t *data, int64_t *t, double *v);

/* The same for a chunk in memory. */
int km_hchunk_decode_chunk(const struct km_hchunk *c, int64_t *t, double *v);

/* A chunk's newest sample, from its append state (nothing decoded). */
void km_hchunk_last(const struct km_hchunk *c, int64_t *t, double *v);

#endif
