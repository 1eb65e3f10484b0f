/*
 * store — one kind's compact objects by uid (see store.h).
 *
 * An entry is one allocation: the chain link, the uid's hash, the generation of the list
 * or watch that last put it, then the kind's object (obj_size bytes, aligned). Buckets
 * double when the load passes one; the table never shrinks (a relist of the same cluster
 * needs the same size again).
 */
#include "store.h"

#include "common/err.h"

#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

struct entry {
    struct entry *next;
    uint64_t hash;
    uint64_t gen;
    max_align_t obj[]; /* the kind's object */
};

struct km_kstore {
    const struct km_kind *kind;
    struct km_intern *in;
    pthread_mutex_t mu;
    struct entry **b;
    size_t nb, n;
    uint64_t gen;
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

void km_kstore_destroy(struct km_kstore *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nb; i++) {
        for (struct entry *e = s->b[i], *nx; e; e = nx) {
            nx = e->next;
            entry_free(s, e);
        }
    }
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
    pthread_mutex_lock(&s->mu);
    e->gen = s->gen;
    pp = slot(s, meta_of(e)->uid, e->hash);
    old = *pp;
    e->next = old ? old->next : NULL;
    *pp = e;
    if (!old && ++s->n > s->nb)
        grow(s);
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
                e->next = gone;
                gone = e;
                s->n--;
                removed++;
            } else {
                pp = &e->next;
            }
        }
    }
    pthread_mutex_unlock(&s->mu);
    for (struct entry *nx; gone; gone = nx) {
        nx = gone->next;
        entry_free(s, gone);
    }
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

static void emit_one(void *ud, const void *obj)
{
    struct km_kemit *e = ud;
    const struct km_kind *k = e->kind;

    k->emit(e, obj);
}

void km_kstore_emit(struct km_kstore *s, struct km_kemit *e)
{
    e->kind = s->kind;
    km_kemit_declare(e, s->kind->fams, s->kind->nfams);
    km_kstore_each(s, emit_one, e);
}
