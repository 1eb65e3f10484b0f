/*
 * stale — which series of the previous emission are gone from the current one, as
 * stale markers: one sample of Prometheus' stale NaN (0x7ff0000000000002) per series,
 * so a deleted object's series end at once in any Prometheus-compatible store instead
 * of lingering for the lookback delta. Series are told apart by a 64-bit hash of the
 * family name and labels (kept sorted for the previous emission). One owner.
 */
#ifndef KMON_KSTATE_STALE_H
#define KMON_KSTATE_STALE_H

#include "common/mset.h"

#include <stddef.h>
#include <stdint.h>

#define KM_STALE_NAN_BITS 0x7ff0000000000002ull

struct km_kstale {
    uint64_t *h; /* the current emission's hashes, sorted */
    size_t n, cap;
};

/* Hash cur's series. Then, for every series of prev not among them, add a stale marker
 * to out (families declared with `flags`, samples at out's timestamp). Returns the number
 * of markers, or a negative code (out of memory; out's error). */
int64_t km_kstale_mark(struct km_kstale *s, const struct km_mset *prev, const struct km_mset *cur,
                       struct km_mset *out, unsigned flags);

void km_kstale_fini(struct km_kstale *s);

#endif
