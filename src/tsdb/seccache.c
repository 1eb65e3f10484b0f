/*
 * seccache — decompressed block sections kept within a byte budget (see seccache.h).
 *
 * A chained hash table of (serial, offset) → entry, and a list of every listed entry
 * from the most to the least recently used. A miss decompresses outside the lock (two
 * readers missing the same section both decompress it; the second keeps the first's).
 * Eviction walks from the least recently used end, skipping entries in use.
 */
#include "tsdb/seccache.h"

#include "block_format.h"
#include "common/buf.h"
#include "common/err.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct km_seccache_ent {
    uint64_t serial, off;
    struct km_buf buf; /* the section, decompressed */
    unsigned refs;
    bool listed;                           /* in the table and the list */
    struct km_seccache_ent *hnext;         /* bucket chain */
    struct km_seccache_ent *newer, *older; /* recency list */
};

struct km_seccache {
    atomic_uint refs;
    pthread_mutex_t mu;
    uint64_t max_bytes, bytes, entries;
    uint64_t hits, misses, evictions;
    struct km_seccache_ent **buckets;
    size_t nbuckets; /* a power of two */
    struct km_seccache_ent *newest, *oldest;
};

int km_seccache_create(struct km_seccache **out, uint64_t max_bytes)
{
    struct km_seccache *c = calloc(1, sizeof(*c));

    if (!c)
        return km_err_set(KM_ENOMEM, "out of memory creating the block cache");
    c->nbuckets = 256;
    c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
    if (!c->buckets) {
        free(c);
        return km_err_set(KM_ENOMEM, "out of memory creating the block cache");
    }
    atomic_init(&c->refs, 1);
    pthread_mutex_init(&c->mu, NULL);
    c->max_bytes = max_bytes;
    *out = c;
    return 0;
}

void km_seccache_acquire(struct km_seccache *c)
{
    atomic_fetch_add(&c->refs, 1);
}

static void ent_free(struct km_seccache_ent *e)
{
    km_buf_fini(&e->buf);
    free(e);
}

static size_t bucket_of(const struct km_seccache *c, uint64_t serial, uint64_t off)
{
    uint64_t h = (serial * 0x9e3779b97f4a7c15ull) ^ (off * 0xc2b2ae3d27d4eb4full);

    return (size_t)(h ^ (h >> 29)) & (c->nbuckets - 1);
}

/* ---- under the lock ----------------------------------------------------------------------- */

static void list_unlink(struct km_seccache *c, struct km_seccache_ent *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        c->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void list_push_newest(struct km_seccache *c, struct km_seccache_ent *e)
{
    e->older = c->newest;
    e->newer = NULL;
    if (c->newest)
        c->newest->newer = e;
    c->newest = e;
    if (!c->oldest)
        c->oldest = e;
}

/* Take e out of the table and the list; the caller frees it when no reader holds it. */
static void unlist(struct km_seccache *c, struct km_seccache_ent *e)
{
    struct km_seccache_ent **p = &c->buckets[bucket_of(c, e->serial, e->off)];

    while (*p != e)
        p = &(*p)->hnext;
    *p = e->hnext;
    list_unlink(c, e);
    e->listed = false;
    c->bytes -= e->buf.cap;
    c->entries--;
}

static struct km_seccache_ent *lookup(struct km_seccache *c, uint64_t serial, uint64_t off)
{
    for (struct km_seccache_ent *e = c->buckets[bucket_of(c, serial, off)]; e; e = e->hnext) {
        if (e->serial == serial && e->off == off)
            return e;
    }
    return NULL;
}

/* Twice the buckets when entries outnumber them (a failed allocation keeps the chains
 * longer, nothing worse). */
static void grow(struct km_seccache *c)
{
    size_t n = c->nbuckets * 2;
    struct km_seccache_ent **nb = calloc(n, sizeof(*nb)), **old = c->buckets;
    size_t oldn = c->nbuckets;

    if (!nb)
        return;
    c->buckets = nb;
    c->nbuckets = n;
    for (size_t i = 0; i < oldn; i++) {
        for (struct km_seccache_ent *e = old[i], *next; e; e = next) {
            size_t b = bucket_of(c, e->serial, e->off);

            next = e->hnext;
            e->hnext = nb[b];
            nb[b] = e;
        }
    }
    free(old);
}

/* Evict the least recently used entries no reader holds until `need` more bytes fit. */
static void make_room(struct km_seccache *c, uint64_t need)
{
    struct km_seccache_ent *e = c->oldest;

    while (e && c->bytes + need > c->max_bytes) {
        struct km_seccache_ent *newer = e->newer;

        if (e->refs == 0) {
            unlist(c, e);
            ent_free(e);
            c->evictions++;
        }
        e = newer;
    }
}

/* ---- the interface ------------------------------------------------------------------------- */

int km_seccache_get(struct km_seccache *c, uint64_t serial, const uint8_t *file, size_t file_len,
                    uint64_t off, struct km_seccache_ent **ent, const char **data, size_t *len)
{
    struct km_seccache_ent *e, *have;

    *ent = NULL;
    if (c) {
        pthread_mutex_lock(&c->mu);
        e = lookup(c, serial, off);
        if (e) {
            e->refs++;
            c->hits++;
            list_unlink(c, e);
            list_push_newest(c, e);
            pthread_mutex_unlock(&c->mu);
            goto found;
        }
        c->misses++;
        pthread_mutex_unlock(&c->mu);
    }
    e = calloc(1, sizeof(*e));
    if (!e)
        return km_err_set(KM_ENOMEM, "out of memory reading a block");
    km_buf_init(&e->buf, 0);
    if (km_blk_section_get(file, file_len, off, &e->buf) < 0) {
        ent_free(e);
        return KM_ECORRUPT;
    }
    e->serial = serial;
    e->off = off;
    e->refs = 1;
    if (!c || c->max_bytes == 0)
        goto found;
    pthread_mutex_lock(&c->mu);
    have = lookup(c, serial, off);
    if (have) { /* another reader decompressed it meanwhile: theirs is kept */
        have->refs++;
        list_unlink(c, have);
        list_push_newest(c, have);
        pthread_mutex_unlock(&c->mu);
        ent_free(e);
        e = have;
        goto found;
    }
    make_room(c, e->buf.cap);
    if (c->bytes + e->buf.cap <= c->max_bytes) {
        size_t b = bucket_of(c, serial, off);

        e->hnext = c->buckets[b];
        c->buckets[b] = e;
        list_push_newest(c, e);
        e->listed = true;
        c->bytes += e->buf.cap;
        if (++c->entries > c->nbuckets)
            grow(c);
    } /* else larger than what the readers leave free: this reader's alone */
    pthread_mutex_unlock(&c->mu);
found:
    *ent = e;
    *data = e->buf.data;
    *len = e->buf.len;
    return 0;
}

void km_seccache_put(struct km_seccache *c, struct km_seccache_ent *e)
{
    bool drop;

    if (!e)
        return;
    if (!c) {
        ent_free(e);
        return;
    }
    pthread_mutex_lock(&c->mu);
    drop = --e->refs == 0 && !e->listed;
    pthread_mutex_unlock(&c->mu);
    if (drop)
        ent_free(e);
}

void km_seccache_forget(struct km_seccache *c, uint64_t serial)
{
    struct km_seccache_ent *e, *newer;

    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    for (e = c->oldest; e; e = newer) {
        newer = e->newer;
        if (e->serial != serial)
            continue;
        unlist(c, e);
        if (e->refs == 0) /* else its last put frees it */
            ent_free(e);
    }
    pthread_mutex_unlock(&c->mu);
}

void km_seccache_stats(struct km_seccache *c, struct km_seccache_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    *out = (struct km_seccache_stats){ c->hits,  c->misses,  c->evictions,
                                       c->bytes, c->entries, c->max_bytes };
    pthread_mutex_unlock(&c->mu);
}

void km_seccache_release(struct km_seccache *c)
{
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    for (struct km_seccache_ent *e = c->oldest, *newer; e; e = newer) {
        newer = e->newer;
        ent_free(e);
    }
    free(c->buckets);
    pthread_mutex_destroy(&c->mu);
    free(c);
}
