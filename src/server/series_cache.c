/*
 * series_cache — sharded open-addressing tables of (label bytes → series reference)
 * (see series_cache.h). Each shard keeps power-of-two slots of entry pointers, linear
 * probing, tombstones on drop, and grows at 70 % load.
 */
#include "series_cache.h"

#include "common/err.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define NSHARDS 64
#define TOMB    ((struct entry *)(uintptr_t)1)

struct entry {
    uint64_t hash;
    uint64_t ref;
    uint32_t len;
    uint32_t aux;
    uint8_t key[];
};

struct shard {
    pthread_rwlock_t lock;
    struct entry **slots;
    size_t nslots, used, count, bytes;
};

struct km_series_cache {
    struct shard shards[NSHARDS];
    size_t shard_max;
    atomic_uint_fast64_t hits, misses, evictions;
};

static struct shard *shard_of(struct km_series_cache *c, uint64_t hash)
{
    return &c->shards[(hash >> 58) & (NSHARDS - 1)];
}

static bool same(const struct entry *e, uint64_t hash, const void *key, size_t len)
{
    return e->hash == hash && e->len == len && memcmp(e->key, key, len) == 0;
}

int km_series_cache_create(struct km_series_cache **out, size_t max_bytes)
{
    struct km_series_cache *c = calloc(1, sizeof(*c));

    if (!c)
        return km_err_set(KM_ENOMEM, "out of memory");
    for (size_t i = 0; i < NSHARDS; i++)
        pthread_rwlock_init(&c->shards[i].lock, NULL);
    c->shard_max = max_bytes / NSHARDS;
    *out = c;
    return 0;
}

static void shard_clear(struct shard *s)
{
    for (size_t i = 0; i < s->nslots; i++) {
        if (s->slots[i] && s->slots[i] != TOMB)
            free(s->slots[i]);
    }
    free(s->slots);
    s->slots = NULL;
    s->nslots = s->used = s->count = s->bytes = 0;
}

void km_series_cache_destroy(struct km_series_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < NSHARDS; i++) {
        shard_clear(&c->shards[i]);
        pthread_rwlock_destroy(&c->shards[i].lock);
    }
    free(c);
}

/* Under the shard lock: the slot holding key, or -1. */
static long find(const struct shard *s, uint64_t hash, const void *key, size_t len)
{
    size_t mask = s->nslots - 1, i;

    if (!s->nslots)
        return -1;
    for (i = hash & mask;; i = (i + 1) & mask) {
        const struct entry *e = s->slots[i];

        if (!e)
            return -1;
        if (e != TOMB && same(e, hash, key, len))
            return (long)i;
    }
}

bool km_series_cache_get(struct km_series_cache *c, uint64_t hash, const void *key, size_t len,
                         uint64_t *ref, uint32_t *aux)
{
    struct shard *s = shard_of(c, hash);
    long at;

    pthread_rwlock_rdlock(&s->lock);
    at = find(s, hash, key, len);
    if (at >= 0) {
        *ref = s->slots[at]->ref;
        *aux = s->slots[at]->aux;
    }
    pthread_rwlock_unlock(&s->lock);
    atomic_fetch_add_explicit(at >= 0 ? &c->hits : &c->misses, 1, memory_order_relaxed);
    return at >= 0;
}

/* Under the write lock: rehash into a table of n slots (tombstones go). */
static int rehash(struct shard *s, size_t n)
{
    struct entry **slots = calloc(n, sizeof(*slots));

    if (!slots)
        return KM_ENOMEM;
    for (size_t i = 0; i < s->nslots; i++) {
        struct entry *e = s->slots[i];
        size_t k;

        if (!e || e == TOMB)
            continue;
        for (k = e->hash & (n - 1); slots[k]; k = (k + 1) & (n - 1))
            ;
        slots[k] = e;
    }
    free(s->slots);
    s->slots = slots;
    s->nslots = n;
    s->used = s->count;
    return 0;
}

void km_series_cache_put(struct km_series_cache *c, uint64_t hash, const void *key, size_t len,
                         uint64_t ref, uint32_t aux)
{
    struct shard *s = shard_of(c, hash);
    struct entry *e;
    size_t cost = sizeof(*e) + len + sizeof(void *), i;
    long at;

    if (len > UINT32_MAX)
        return;
    pthread_rwlock_wrlock(&s->lock);
    at = find(s, hash, key, len);
    if (at >= 0) {
        s->slots[at]->ref = ref;
        s->slots[at]->aux = aux;
        goto out_unlock;
    }
    if (s->bytes + cost > c->shard_max && s->count) {
        shard_clear(s);
        atomic_fetch_add_explicit(&c->evictions, 1, memory_order_relaxed);
    }
    if ((s->used + 1) * 10 > s->nslots * 7 &&
        rehash(s, s->count * 2 >= s->nslots ? (s->nslots ? s->nslots * 2 : 64) : s->nslots) != 0)
        goto out_unlock;
    e = malloc(sizeof(*e) + len);
    if (!e)
        goto out_unlock;
    e->hash = hash;
    e->ref = ref;
    e->len = (uint32_t)len;
    e->aux = aux;
    memcpy(e->key, key, len);
    for (i = hash & (s->nslots - 1); s->slots[i] && s->slots[i] != TOMB;
         i = (i + 1) & (s->nslots - 1))
        ;
    if (!s->slots[i])
        s->used++;
    s->slots[i] = e;
    s->count++;
    s->bytes += cost;

out_unlock:
    pthread_rwlock_unlock(&s->lock);
}

void km_series_cache_drop(struct km_series_cache *c, uint64_t hash, const void *key, size_t len)
{
    struct shard *s = shard_of(c, hash);
    long at;

    pthread_rwlock_wrlock(&s->lock);
    at = find(s, hash, key, len);
    if (at >= 0) {
        s->bytes -= sizeof(struct entry) + s->slots[at]->len + sizeof(void *);
        free(s->slots[at]);
        s->slots[at] = TOMB;
        s->count--;
    }
    pthread_rwlock_unlock(&s->lock);
}

void km_series_cache_stats(struct km_series_cache *c, struct km_series_cache_stats *st)
{
    memset(st, 0, sizeof(*st));
    for (size_t i = 0; i < NSHARDS; i++) {
        pthread_rwlock_rdlock(&c->shards[i].lock);
        st->entries += c->shards[i].count;
        st->bytes += c->shards[i].bytes + c->shards[i].nslots * sizeof(void *);
        pthread_rwlock_unlock(&c->shards[i].lock);
    }
    st->hits = atomic_load(&c->hits);
    st->misses = atomic_load(&c->misses);
    st->evictions = atomic_load(&c->evictions);
}
