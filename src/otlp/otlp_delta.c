/*
 * otlp_delta — the running totals of delta series (otlp_delta.h): a hash table of
 * chained entries, each holding its values inline.
 */
#include "otlp_delta.h"

#include "common/err.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define IDLE_MS (3600 * 1000ll) /* series not updated for this long may be forgotten */

struct entry {
    struct entry *next;
    uint64_t key;
    uint64_t start_ns, last_ns;
    int64_t touched_ms;
    size_t n;
    double v[];
};

struct km_otlp_delta {
    pthread_mutex_t mu;
    struct entry **tab;
    size_t mask, count, max;
};

int km_otlp_delta_create(struct km_otlp_delta **out, size_t max_series)
{
    struct km_otlp_delta *d = calloc(1, sizeof(*d));
    size_t cap = 1024;

    if (!d)
        return km_err_set(KM_ENOMEM, "out of memory");
    while (cap < max_series && cap < ((size_t)1 << 24))
        cap <<= 1;
    d->tab = calloc(cap, sizeof(*d->tab));
    if (!d->tab) {
        free(d);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    d->mask = cap - 1;
    d->max = max_series ? max_series : 1;
    pthread_mutex_init(&d->mu, NULL);
    *out = d;
    return 0;
}

void km_otlp_delta_destroy(struct km_otlp_delta *d)
{
    if (!d)
        return;
    for (size_t i = 0; i <= d->mask; i++) {
        while (d->tab[i]) {
            struct entry *e = d->tab[i];

            d->tab[i] = e->next;
            free(e);
        }
    }
    free(d->tab);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

/* Forget the series idle for IDLE_MS; called when the table is full. */
static void sweep(struct km_otlp_delta *d, int64_t now_ms)
{
    for (size_t i = 0; i <= d->mask; i++) {
        struct entry **pp = &d->tab[i];

        while (*pp) {
            struct entry *e = *pp;

            if (now_ms - e->touched_ms > IDLE_MS) {
                *pp = e->next;
                free(e);
                d->count--;
            } else {
                pp = &e->next;
            }
        }
    }
}

int km_otlp_delta_add(struct km_otlp_delta *d, uint64_t key, uint64_t start_ns, uint64_t time_ns,
                      double *v, size_t n, int64_t now_ms)
{
    struct entry **pp, *e;
    int rc = 0;

    pthread_mutex_lock(&d->mu);
    pp = &d->tab[(key ^ key >> 29) & d->mask];
    for (e = *pp; e && e->key != key; e = e->next)
        ;
    if (e && e->n == n) {
        if (time_ns <= e->last_ns) {
            rc = km_err_set(KM_EINVAL, "a delta point not after its series' last one");
            goto out_unlock;
        }
        for (size_t i = 0; i < n; i++) {
            e->v[i] += v[i];
            v[i] = e->v[i];
        }
        e->last_ns = time_ns;
        e->touched_ms = now_ms;
        goto out_unlock;
    }
    if (e) { /* another layout: start again */
        struct entry **q = pp;

        while (*q != e)
            q = &(*q)->next;
        *q = e->next;
        free(e);
        d->count--;
    }
    if (d->count >= d->max)
        sweep(d, now_ms);
    if (d->count >= d->max) {
        rc = km_err_set(KM_ELIMIT, "%zu delta series are held (the limit)", d->max);
        goto out_unlock;
    }
    e = malloc(sizeof(*e) + n * sizeof(double));
    if (!e) {
        rc = km_err_set(KM_ENOMEM, "out of memory");
        goto out_unlock;
    }
    e->key = key;
    e->start_ns = start_ns;
    e->last_ns = time_ns;
    e->touched_ms = now_ms;
    e->n = n;
    memcpy(e->v, v, n * sizeof(double));
    e->next = *pp;
    *pp = e;
    d->count++;
out_unlock:
    pthread_mutex_unlock(&d->mu);
    return rc;
}

size_t km_otlp_delta_series(struct km_otlp_delta *d)
{
    size_t n;

    pthread_mutex_lock(&d->mu);
    n = d->count;
    pthread_mutex_unlock(&d->mu);
    return n;
}
