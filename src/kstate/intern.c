/*
 * intern — shared reference-counted strings (see intern.h).
 *
 * An entry is one allocation: a header (hash chain, count, hash) followed by the bytes.
 * A string handed out points at the bytes, so releasing it finds its header by
 * subtracting the header's size. Buckets double when the load passes one.
 */
#include "intern.h"

#include "common/err.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

struct ent {
    struct ent *next;
    uint32_t refs;
    uint32_t len;
    uint64_t hash;
    char s[];
};

struct km_intern {
    pthread_mutex_t mu;
    struct ent **b;
    size_t nb, n;
    uint64_t bytes;
};

int km_intern_create(struct km_intern **out)
{
    struct km_intern *t = calloc(1, sizeof(*t));

    *out = NULL;
    if (!t)
        return km_err_set(KM_ENOMEM, "out of memory");
    t->nb = 1024;
    t->b = calloc(t->nb, sizeof(*t->b));
    if (!t->b) {
        free(t);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&t->mu, NULL);
    *out = t;
    return 0;
}

void km_intern_destroy(struct km_intern *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nb; i++) {
        for (struct ent *e = t->b[i], *nx; e; e = nx) {
            nx = e->next;
            free(e);
        }
    }
    free(t->b);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

static void grow(struct km_intern *t)
{
    size_t nb = t->nb * 2;
    struct ent **b = calloc(nb, sizeof(*b));

    if (!b)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < t->nb; i++) {
        for (struct ent *e = t->b[i], *nx; e; e = nx) {
            nx = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
        }
    }
    free(t->b);
    t->b = b;
    t->nb = nb;
}

const char *km_intern_getn(struct km_intern *t, const char *s, size_t n)
{
    uint64_t h;
    struct ent *e;

    if (!s)
        return NULL;
    if (n > UINT32_MAX) {
        km_err_set(KM_ELIMIT, "a string of %zu bytes", n);
        return NULL;
    }
    h = XXH3_64bits(s, n);
    pthread_mutex_lock(&t->mu);
    for (e = t->b[h & (t->nb - 1)]; e; e = e->next) {
        if (e->hash == h && e->len == n && memcmp(e->s, s, n) == 0) {
            e->refs++;
            pthread_mutex_unlock(&t->mu);
            return e->s;
        }
    }
    e = malloc(sizeof(*e) + n + 1);
    if (!e) {
        pthread_mutex_unlock(&t->mu);
        km_err_set(KM_ENOMEM, "out of memory");
        return NULL;
    }
    e->refs = 1;
    e->len = (uint32_t)n;
    e->hash = h;
    memcpy(e->s, s, n);
    e->s[n] = '\0';
    e->next = t->b[h & (t->nb - 1)];
    t->b[h & (t->nb - 1)] = e;
    t->n++;
    t->bytes += n + 1;
    if (t->n > t->nb)
        grow(t);
    pthread_mutex_unlock(&t->mu);
    return e->s;
}

const char *km_intern_get(struct km_intern *t, const char *s)
{
    return s ? km_intern_getn(t, s, strlen(s)) : NULL;
}

void km_intern_put(struct km_intern *t, const char *s)
{
    struct ent *e, **pp;

    if (!s)
        return;
    e = (struct ent *)(void *)(s - offsetof(struct ent, s));
    pthread_mutex_lock(&t->mu);
    if (--e->refs == 0) {
        for (pp = &t->b[e->hash & (t->nb - 1)]; *pp; pp = &(*pp)->next) {
            if (*pp == e) {
                *pp = e->next;
                break;
            }
        }
        t->n--;
        t->bytes -= e->len + 1;
        free(e);
    }
    pthread_mutex_unlock(&t->mu);
}

void km_intern_stats(struct km_intern *t, uint64_t *strings, uint64_t *bytes)
{
    pthread_mutex_lock(&t->mu);
    *strings = t->n;
    *bytes = t->bytes;
    pthread_mutex_unlock(&t->mu);
}
