/*
 * series_cache — remembers which database series a remote_write label set names, keyed
 * by the label bytes exactly as the sender encoded them: a repeated series costs one
 * hash and one memcmp instead of parsing, validating and looking up its labels.
 *
 * Entries are only added for label bytes the ingest has fully validated, so a hit is
 * known-good input. Identity is the bytes themselves (hash, then full comparison). A
 * reference can go stale (its series left the head): the caller drops the entry and
 * resolves again. Memory is bounded: a shard that outgrows its share of `max_bytes` is
 * emptied and refills with the series still being sent.
 *
 * Threads: any thread; 64 shards, each under its own rwlock (hits take it shared).
 */
#ifndef KMON_SERVER_SERIES_CACHE_H
#define KMON_SERVER_SERIES_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct km_series_cache;

int km_series_cache_create(struct km_series_cache **out, size_t max_bytes);
/* Accepts NULL. */
void km_series_cache_destroy(struct km_series_cache *c);

/* The reference cached for key[0..len) (whose hash is `hash`), if any, and the small
 * value stored with it (ingest: the series' entry in the per-cluster table). */
bool km_series_cache_get(struct km_series_cache *c, uint64_t hash, const void *key, size_t len,
                         uint64_t *ref, uint32_t *aux);

/* Remember key → (ref, aux) (replacing an entry for the same key). Out of memory only
 * means a miss next time. */
void km_series_cache_put(struct km_series_cache *c, uint64_t hash, const void *key, size_t len,
                         uint64_t ref, uint32_t aux);

/* Forget key (its reference went stale). */
void km_series_cache_drop(struct km_series_cache *c, uint64_t hash, const void *key, size_t len);

struct km_series_cache_stats {
    uint64_t entries, bytes, hits, misses, evictions;
};

void km_series_cache_stats(struct km_series_cache *c, struct km_series_cache_stats *st);

#endif
