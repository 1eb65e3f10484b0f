/*
 * series_cache — sharded open-addressing tables of (fingerprint → series reference)
 * (see series_cache.h). Each shard keeps a power-of-two array of 32-byte entries in
 * place (no allocation an entry), linear probing, tombstones on drop. A shard that
 * reaches 80 % load is rebuilt: without the entries no lookup found for STALE_S seconds
 * (and the tombstones) when they are a quarter or more of it, else at twice the size, up
 * to its share of the memory bound; beyond that a new entry takes its home slot.
 */
#include "series_cache.h"

#include "common/err.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#define NSHARDS   64
#define MIN_SLOTS 256
#define STALE_S   900 /* unseen this long: a series that stopped */
#define SECRET    192
#define HUGE_PAGE ((size_t)2 << 20)

/* lo == 0 marks a free slot (hi 0) or a tombstone (hi 1): fingerprints have lo's low bit
 * set. */
struct entry {
    uint64_t lo, hi;
    uint64_t ref;
    uint32_t aux;
    uint32_t seen; /* seconds (monotonic, coarse) of the last lookup that found it */
};

struct shard {
    pthread_rwlock_t lock;
    struct entry *slots;
    size_t nslots, used, count; /* used counts tombstones too */
    uint32_t next_scan;         /* at the bound: when to look for stale entries again */
};

struct km_series_cache {
    struct shard shards[NSHARDS];
    size_t max_slots; /* a shard's */
    unsigned char secret[SECRET];
    atomic_uint_fast64_t hits, misses, evictions;
};

static uint32_t now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint32_t)ts.tv_sec;
}

static bool is_free(const struct entry *e)
{
    return e->lo == 0;
}

static bool is_empty(const struct entry *e)
{
    return e->lo == 0 && e->hi == 0;
}

static struct shard *shard_of(struct km_series_cache *c, struct km_series_fp fp)
{
    return &c->shards[(fp.hi >> 58) & (NSHARDS - 1)];
}

static size_t home_of(struct km_series_fp fp, size_t nslots)
{
    return (size_t)(fp.lo >> 1) & (nslots - 1);
}

int km_series_cache_create(struct km_series_cache **out, size_t max_bytes)
{
    struct km_series_cache *c = calloc(1, sizeof(*c));
    size_t n = MIN_SLOTS;

    if (!c)
        return km_err_set(KM_ENOMEM, "out of memory");
    if (getrandom(c->secret, sizeof(c->secret), 0) != (ssize_t)sizeof(c->secret)) {
        free(c);
        return km_err_set(KM_EIO, "the kernel gave no random bytes for the series cache");
    }
    while (n * 2 * sizeof(struct entry) * NSHARDS <= max_bytes)
        n *= 2;
    c->max_slots = n;
    for (size_t i = 0; i < NSHARDS; i++)
        pthread_rwlock_init(&c->shards[i].lock, NULL);
    *out = c;
    return 0;
}

void km_series_cache_destroy(struct km_series_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < NSHARDS; i++) {
        free(c->shards[i].slots);
        pthread_rwlock_destroy(&c->shards[i].lock);
    }
    free(c);
}

struct km_series_fp km_series_cache_fp(const struct km_series_cache *c, const void *key, size_t len)
{
    XXH128_hash_t h = XXH3_128bits_withSecret(key, len, c->secret, sizeof(c->secret));

    return (struct km_series_fp){ h.low64 | 1, h.high64 };
}

/* Under the shard lock: the entry holding fp, or NULL. A shard always has a free slot
 * (its load stays under 80 %), so the probe ends. */
static struct entry *find(const struct shard *s, struct km_series_fp fp)
{
    size_t mask = s->nslots - 1;

    if (!s->nslots)
        return NULL;
    for (size_t i = home_of(fp, s->nslots);; i = (i + 1) & mask) {
        struct entry *e = &s->slots[i];

        if (e->lo == fp.lo && e->hi == fp.hi)
            return e;
        if (is_empty(e))
            return NULL;
    }
}

void km_series_cache_prefetch(struct km_series_cache *c, struct km_series_fp fp)
{
    struct shard *s = shard_of(c, fp);
    /* Without the lock: a table being replaced meanwhile only makes the hint useless. */
    struct entry *slots = __atomic_load_n(&s->slots, __ATOMIC_RELAXED);
    size_t n = __atomic_load_n(&s->nslots, __ATOMIC_RELAXED);

    if (slots && n)
        __builtin_prefetch(&slots[home_of(fp, n)]);
}

bool km_series_cache_get(struct km_series_cache *c, struct km_series_fp fp, uint64_t *ref,
                         uint32_t *aux)
{
    struct shard *s = shard_of(c, fp);
    struct entry *e;

    pthread_rwlock_rdlock(&s->lock);
    e = find(s, fp);
    if (e) {
        uint32_t t = now_s();

        *ref = e->ref;
        *aux = e->aux;
        /* Readers share the lock: the stamp is an atomic store, made once a second. */
        if (__atomic_load_n(&e->seen, __ATOMIC_RELAXED) != t)
            __atomic_store_n(&e->seen, t, __ATOMIC_RELAXED);
    }
    pthread_rwlock_unlock(&s->lock);
    atomic_fetch_add_explicit(e ? &c->hits : &c->misses, 1, memory_order_relaxed);
    return e != NULL;
}

static bool full(const struct shard *s)
{
    return (s->used + 1) * 5 > s->nslots * 4;
}

/* A table of n free slots. A large one on transparent huge pages where the kernel offers
 * them: lookups land anywhere in it, and with 4 KiB pages each one also missed the TLB
 * (the prefetch waited on page walks: a fifth of ingest at 4 M series). */
static struct entry *alloc_slots(size_t n)
{
    size_t bytes = n * sizeof(struct entry);
    void *p;

    if (bytes < HUGE_PAGE)
        return calloc(n, sizeof(struct entry));
    if (posix_memalign(&p, HUGE_PAGE, bytes) != 0)
        return NULL;
    madvise(p, bytes, MADV_HUGEPAGE); /* a hint: without it, small pages */
    memset(p, 0, bytes);
    return p;
}

/* Under the write lock: the shard's entries moved into a table of n slots, without
 * those unseen since `horizon` when drop_stale, and without any beyond 80 % of n. */
static int rebuild(struct km_series_cache *c, struct shard *s, size_t n, bool drop_stale,
                   uint32_t horizon)
{
    struct entry *slots = alloc_slots(n);
    size_t kept = 0, limit = n * 4 / 5 - 1;

    if (!slots)
        return KM_ENOMEM;
    for (size_t i = 0; i < s->nslots; i++) {
        struct entry *e = &s->slots[i];
        size_t k;

        if (is_free(e))
            continue;
        if ((drop_stale && (int32_t)(e->seen - horizon) < 0) || kept == limit)
            continue;
        for (k = (size_t)(e->lo >> 1) & (n - 1); !is_free(&slots[k]); k = (k + 1) & (n - 1))
            ;
        slots[k] = *e;
        kept++;
    }
    atomic_fetch_add_explicit(&c->evictions, s->count - kept, memory_order_relaxed);
    free(s->slots);
    /* Atomic stores: km_series_cache_prefetch reads these without the lock. */
    __atomic_store_n(&s->slots, slots, __ATOMIC_RELAXED);
    __atomic_store_n(&s->nslots, n, __ATOMIC_RELAXED);
    s->used = s->count = kept;
    return 0;
}

/* Under the write lock: whether the shard has room for one more entry, made by forgetting
 * stale entries and tombstones when they are a quarter of it, else by doubling it. At
 * the bound with too little to forget, it says no without looking again for a minute. */
static bool make_room(struct km_series_cache *c, struct shard *s, uint32_t t)
{
    uint32_t horizon = t - STALE_S;
    size_t stale = 0;

    if (!s->nslots)
        return rebuild(c, s, MIN_SLOTS, false, 0) == 0;
    if (s->nslots >= c->max_slots && (int32_t)(t - s->next_scan) < 0)
        return false;
    for (size_t i = 0; i < s->nslots; i++) {
        const struct entry *e = &s->slots[i];

        if (!is_free(e) && (int32_t)(e->seen - horizon) < 0)
            stale++;
    }
    if ((stale + s->used - s->count) * 4 >= s->used)
        return rebuild(c, s, s->nslots, true, horizon) == 0;
    if (s->nslots < c->max_slots)
        return rebuild(c, s, s->nslots * 2, false, 0) == 0;
    s->next_scan = t + 60;
    return false;
}

void km_series_cache_put(struct km_series_cache *c, struct km_series_fp fp, uint64_t ref,
                         uint32_t aux)
{
    struct shard *s = shard_of(c, fp);
    uint32_t t = now_s();
    struct entry *e;
    size_t i;

    pthread_rwlock_wrlock(&s->lock);
    e = find(s, fp);
    if (e)
        goto out_store;
    if (full(s) && !make_room(c, s, t)) {
        /* At the bound with every entry in use: the newcomer takes its home slot (never
         * a free one, which the probes need). */
        if (!s->nslots)
            goto out_unlock;
        e = &s->slots[home_of(fp, s->nslots)];
        if (is_empty(e))
            goto out_unlock;
        if (is_free(e))
            s->count++;
        else
            atomic_fetch_add_explicit(&c->evictions, 1, memory_order_relaxed);
        goto out_fill;
    }
    i = home_of(fp, s->nslots);
    for (; !is_free(&s->slots[i]); i = (i + 1) & (s->nslots - 1))
        ;
    e = &s->slots[i];
    if (is_empty(e))
        s->used++;
    s->count++;
out_fill:
    e->lo = fp.lo;
    e->hi = fp.hi;
out_store:
    e->ref = ref;
    e->aux = aux;
    e->seen = t;
out_unlock:
    pthread_rwlock_unlock(&s->lock);
}

void km_series_cache_drop(struct km_series_cache *c, struct km_series_fp fp)
{
    struct shard *s = shard_of(c, fp);
    struct entry *e;

    pthread_rwlock_wrlock(&s->lock);
    e = find(s, fp);
    if (e) {
        *e = (struct entry){ .hi = 1 };
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
        st->bytes += c->shards[i].nslots * sizeof(struct entry);
        pthread_rwlock_unlock(&c->shards[i].lock);
    }
    st->hits = atomic_load(&c->hits);
    st->misses = atomic_load(&c->misses);
    st->evictions = atomic_load(&c->evictions);
}
