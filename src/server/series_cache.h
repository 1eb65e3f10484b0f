/*
 * series_cache — remembers which database series a remote_write label set names, keyed
 * by a 128-bit fingerprint of the label bytes exactly as the sender encoded them: a
 * repeated series costs one hash and one probe instead of parsing, validating, sorting
 * and looking up its labels.
 *
 * Entries are only added for label bytes the ingest has fully validated, so a hit is
 * known-good input. Identity is the fingerprint alone (32 bytes an entry, whatever the
 * labels' length: a cache of the bytes themselves held ~300 bytes a series and thrashed
 * at a large cluster's millions): XXH3-128 under a secret drawn from the kernel at
 * start and never shown to anyone, so a client cannot aim a collision at another
 * series, and an accidental one among 10^8 series has odds below 10^-22.
 *
 * A reference can go stale (its series left the head): the caller drops the entry and
 * resolves again. Memory grows with the series being sent and is bounded: a shard that
 * fills first forgets the entries no lookup found since it last filled (series that
 * stopped: a rollout's old pods); at `max_bytes` a new entry replaces the one in its
 * home slot.
 *
 * Threads: any thread; 64 shards, each under its own rwlock (hits take it shared).
 */
#ifndef KMON_SERVER_SERIES_CACHE_H
#define KMON_SERVER_SERIES_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct km_series_cache;

/* A label set's identity in the cache. */
struct km_series_fp {
    uint64_t lo, hi;
};

int km_series_cache_create(struct km_series_cache **out, size_t max_bytes);
/* Accepts NULL. */
void km_series_cache_destroy(struct km_series_cache *c);

/* The fingerprint of the label bytes key[0..len). */
struct km_series_fp km_series_cache_fp(const struct km_series_cache *c, const void *key,
                                       size_t len);

/* A hint: start loading fp's slot into the CPU's caches, for a lookup a little later
 * (the table is far larger than they are; a batch's lookups overlap their waits). */
void km_series_cache_prefetch(struct km_series_cache *c, struct km_series_fp fp);

/* The reference cached for fp, if any, and the small value stored with it (ingest: the
 * series' entry in the per-cluster table). */
bool km_series_cache_get(struct km_series_cache *c, struct km_series_fp fp, uint64_t *ref,
                         uint32_t *aux);

/* Remember fp → (ref, aux) (replacing an entry for the same fp). Out of memory only
 * means a miss next time. */
void km_series_cache_put(struct km_series_cache *c, struct km_series_fp fp, uint64_t ref,
                         uint32_t aux);

/* Forget fp (its reference went stale). */
void km_series_cache_drop(struct km_series_cache *c, struct km_series_fp fp);

struct km_series_cache_stats {
    uint64_t entries, bytes, hits, misses, evictions;
};

void km_series_cache_stats(struct km_series_cache *c, struct km_series_cache_stats *st);

#endif
