/*
 * store — one kind's compact objects by uid (see store.h).
 *
 * An entry is one allocation: the chain link, the uid's hash, the generation of the list
 * or watch that last put it, then the kind's object (obj_size bytes, aligned). Buckets
 * double when the load passes one; the table never shrinks (a relist of the same cluster
 * needs the same size again).
 *
 * Stale markers without keeping the previous emission: an entry that has been emitted
 * and is then replaced, deleted or dropped by a relist is not freed but retired, and the
 * next emission runs the kind's emitter over it once more in stale mode. Its series that
 * no current object with the same namespace and name emits get a stale marker (the
 * current objects with a retired twin record their series' hashes as they are emitted).
 * Memory is what changed during one interval, not a copy of the whole emission; series
 * belong to one object each, so comparing an object with its twins is enough.
 */
#include "store.h"

#include "common/array.h"
#include "common/err.h"

#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

struct entry {
    struct entry *next;
    uint64_t hash; /* of the uid */
    uint64_t key;  /* of the namespace and name */
    uint64_t gen;
    bool emitted;      /* by the last emission: its series are out there */
    max_align_t obj[]; /* the kind's object */
};

struct km_kstore {
    const struct km_kind *kind;
    struct km_intern *in;
    pthread_mutex_t mu;
    struct entry **b;
    size_t nb, n;
    uint64_t gen;
    struct entry *retired; /* emitted, then replaced or removed: stale markers next time */
    size_t nretired;
    uint64_t *keys; /* scratch for the emission: the retired entries' keys */
};

static const struct km_kmeta *meta_of(const struct entry *e)
{
    return (const struct km_kmeta *)(const void *)e->obj;
}

int km_kstore_create(struct km_kstore **out, const struct km_kind *kind, struct km_intern *in)
{
    struct km_kstore *s = calloc(1, sizeof(*s));

    *out = NULL;
    if (!s)
        return km_err_set(KM_ENOMEM, "out of memory");
    s->kind = kind;
    s->in = in;
    s->nb = 64;
    s->b = calloc(s->nb, sizeof(*s->b));
    if (!s->b) {
        free(s);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&s->mu, NULL);
    *out = s;
    return 0;
}

static void entry_free(struct km_kstore *s, struct entry *e)
{
    s->kind->fini(s->in, e->obj);
    free(e);
}

static void chain_free(struct km_kstore *s, struct entry *e)
{
    for (struct entry *nx; e; e = nx) {
        nx = e->next;
        entry_free(s, e);
    }
}

/* Under the lock: e left the table. Returns it when it is to be freed (after the
 * lock), NULL when it has been retired for the next emission's stale markers. */
static struct entry *drop(struct km_kstore *s, struct entry *e)
{
    if (!e || !e->emitted)
        return e;
    e->next = s->retired;
    s->retired = e;
    s->nretired++;
    return NULL;
}

void km_kstore_destroy(struct km_kstore *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nb; i++)
        chain_free(s, s->b[i]);
    chain_free(s, s->retired);
    free(s->keys);
    free(s->b);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static void grow(struct km_kstore *s)
{
    size_t nb = s->nb * 2;
    struct entry **b = calloc(nb, sizeof(*b));

    if (!b)
        return;
    for (size_t i = 0; i < s->nb; i++) {
        for (struct entry *e = s->b[i], *nx; e; e = nx) {
            nx = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
        }
    }
    free(s->b);
    s->b = b;
    s->nb = nb;
}

/* An object's identity as its series' labels carry it: namespace and name. */
static uint64_t key_of(const struct km_kmeta *m)
{
    uint64_t h = XXH3_64bits(m->ns ? m->ns : "", m->ns ? strlen(m->ns) : 0);

    return XXH3_64bits_withSeed(m->name ? m->name : "", m->name ? strlen(m->name) : 0, h);
}

/* The link that points at the entry with this uid (or the chain's end). */
static struct entry **slot(struct km_kstore *s, const char *uid, uint64_t h)
{
    struct entry **pp = &s->b[h & (s->nb - 1)];

    while (*pp && !((*pp)->hash == h && strcmp(meta_of(*pp)->uid, uid) == 0))
        pp = &(*pp)->next;
    return pp;
}

int km_kstore_upsert(struct km_kstore *s, struct km_kparse *p, const json_t *obj)
{
    struct entry *e = calloc(1, sizeof(*e) + s->kind->size), **pp, *old;
    int rc;

    if (!e)
        return km_err_set(KM_ENOMEM, "out of memory");
    rc = s->kind->parse(p, obj, e->obj);
    if (rc) {
        free(e);
        return rc;
    }
    e->hash = XXH3_64bits(meta_of(e)->uid, strlen(meta_of(e)->uid));
    e->key = key_of(meta_of(e));
    pthread_mutex_lock(&s->mu);
    e->gen = s->gen;
    pp = slot(s, meta_of(e)->uid, e->hash);
    old = *pp;
    e->next = old ? old->next : NULL;
    *pp = e;
    if (!old && ++s->n > s->nb)
        grow(s);
    old = drop(s, old);
    pthread_mutex_unlock(&s->mu);
    if (old)
        entry_free(s, old);
    return 0;
}

void km_kstore_delete(struct km_kstore *s, const json_t *obj)
{
    const char *uid = km_kjson_str(json_object_get(obj, "metadata"), "uid");
    struct entry **pp, *old;
    uint64_t h;

    if (!uid)
        return;
    h = XXH3_64bits(uid, strlen(uid));
    pthread_mutex_lock(&s->mu);
    pp = slot(s, uid, h);
    old = *pp;
    if (old) {
        *pp = old->next;
        s->n--;
        old = drop(s, old);
    }
    pthread_mutex_unlock(&s->mu);
    if (old)
        entry_free(s, old);
}

void km_kstore_relist_begin(struct km_kstore *s)
{
    pthread_mutex_lock(&s->mu);
    s->gen++;
    pthread_mutex_unlock(&s->mu);
}

size_t km_kstore_relist_end(struct km_kstore *s)
{
    struct entry *gone = NULL;
    size_t removed = 0;

    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nb; i++) {
        for (struct entry **pp = &s->b[i]; *pp;) {
            struct entry *e = *pp;

            if (e->gen != s->gen) {
                *pp = e->next;
                s->n--;
                removed++;
                if (drop(s, e)) {
                    e->next = gone;
                    gone = e;
                }
            } else {
                pp = &e->next;
            }
        }
    }
    pthread_mutex_unlock(&s->mu);
    chain_free(s, gone);
    return removed;
}

size_t km_kstore_count(struct km_kstore *s)
{
    size_t n;

    pthread_mutex_lock(&s->mu);
    n = s->n;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void km_kstore_each(struct km_kstore *s, void (*fn)(void *ud, const void *obj), void *ud)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nb; i++) {
        for (struct entry *e = s->b[i]; e; e = e->next)
            fn(ud, e->obj);
    }
    pthread_mutex_unlock(&s->mu);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Under the lock: the retired entries' keys, sorted, into s->keys; how many (0 when
 * there is no memory for them: current objects then record nothing and every series of
 * a retired entry is marked, which only ends a live series early until the next
 * sample). */
static size_t retired_keys(struct km_kstore *s)
{
    uint64_t *k;
    size_t n = 0;

    if (!s->nretired)
        return 0;
    k = realloc(s->keys, s->nretired * sizeof(*k));
    if (!k)
        return 0;
    s->keys = k;
    for (struct entry *e = s->retired; e; e = e->next)
        k[n++] = e->key;
    km_sort(k, n, sizeof(*k), cmp_u64);
    return n;
}

/* Under the lock: the retired chain, for the caller to free after the lock. */
static struct entry *take_retired(struct km_kstore *s)
{
    struct entry *r = s->retired;

    s->retired = NULL;
    s->nretired = 0;
    return r;
}

uint64_t km_kstore_emit(struct km_kstore *s, struct km_kemit *e)
{
    struct entry *retired;
    uint64_t marked = e->stale;
    size_t nkeys;

    pthread_mutex_lock(&s->mu);
    e->kind = s->kind;
    km_kemit_begin_kind(e);
    nkeys = retired_keys(s);
    for (size_t i = 0; i < s->nb; i++) {
        for (struct entry *x = s->b[i]; x; x = x->next) {
            e->mode = nkeys && bsearch(&x->key, s->keys, nkeys, sizeof(x->key), cmp_u64)
                          ? KM_KEMIT_PUT_RECORD
                          : KM_KEMIT_PUT;
            s->kind->emit(e, x->obj);
            x->emitted = true;
            km_kemit_object_done(e);
        }
    }
    e->mode = KM_KEMIT_STALE;
    for (struct entry *x = s->retired; x; x = x->next) {
        s->kind->emit(e, x->obj);
        km_kemit_object_done(e);
    }
    e->mode = KM_KEMIT_PUT;
    retired = take_retired(s);
    pthread_mutex_unlock(&s->mu);
    chain_free(s, retired);
    return e->stale - marked;
}

bool km_kstore_view(struct km_kstore *s, struct km_kemit *e, size_t *pos, size_t max)
{
    size_t i;

    pthread_mutex_lock(&s->mu);
    e->kind = s->kind;
    e->mode = KM_KEMIT_PUT;
    for (i = *pos; i < s->nb && e->m->nsmp < max; i++) {
        for (struct entry *x = s->b[i]; x; x = x->next)
            s->kind->emit(e, x->obj);
    }
    *pos = i;
    pthread_mutex_unlock(&s->mu);
    return i >= s->nb;
}

void km_kstore_forget(struct km_kstore *s)
{
    struct entry *retired;

    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nb; i++) {
        for (struct entry *x = s->b[i]; x; x = x->next)
            x->emitted = false;
    }
    retired = take_retired(s);
    pthread_mutex_unlock(&s->mu);
    chain_free(s, retired);
}
