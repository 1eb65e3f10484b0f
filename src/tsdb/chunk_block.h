/*
 * chunk_block — the encoding of a series' samples inside a block, before the block
 * writer compresses many of them together with zstd (format: FORMAT.md, "Block chunks").
 *
 * Chosen per chunk to leave zstd as little entropy as possible: timestamps as
 * delta-of-delta varints (a regular scrape interval becomes a run of zero bytes);
 * decimal values as integer mantissas divided by the greatest common divisor of their
 * deltas, as delta or delta-of-delta varints, whichever is shorter; anything else as
 * XORed IEEE bit patterns. Reads back bit-exactly. Pure functions; thread-safe.
 */
#ifndef KMON_TSDB_CHUNK_BLOCK_H
#define KMON_TSDB_CHUNK_BLOCK_H

#include "bits.h"
#include "common/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum km_bchunk_venc {
    KM_BC_INT_DELTA = 0,
    KM_BC_INT_DOD = 1,
    KM_BC_XOR = 2,
};

/* Append the encoding of n >= 1 samples (t strictly increasing) to out. Errors land in
 * out's sticky error. */
void km_bchunk_encode(struct km_buf *out, const int64_t *t, const double *v, size_t n);

/* Decoded samples; the arrays grow as needed and are reused across decodes. */
struct km_samples {
    int64_t *t;
    double *v;
    size_t n, cap;
};

void km_samples_fini(struct km_samples *s);

/* Append one sample (growing the arrays). */
int km_samples_push(struct km_samples *s, int64_t t, double v);
/* Append n samples at once. */
int km_samples_append(struct km_samples *s, const int64_t *t, const double *v, size_t n);

/* Merge src into dst, both sorted by time; a timestamp dst already has is dropped from
 * src. tmp is scratch space (reused across calls). */
int km_samples_merge(struct km_samples *dst, const struct km_samples *src, struct km_samples *tmp);

/* Decode the chunk at p[0..len) into out (replacing its contents). On success returns
 * the bytes the chunk occupies (<= len); KM_ECORRUPT for anything malformed, KM_ENOMEM,
 * or KM_ELIMIT past `max_samples`. */
long km_bchunk_decode(const uint8_t *p, size_t len, struct km_samples *out, size_t max_samples);

#endif
