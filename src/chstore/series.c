/*
 * series — the series id (SCHEMA.md, "Series id") and the map of the series this server
 * has written to ClickHouse: id → label set, the first sample time seen and the hour of
 * the last series row written. The writer asks it, per sample, whether a series row must
 * be written (a new id, or a newer hour: `last_ms` is re-written at most hourly), and
 * append_refs resolves a reference (the id) to its labels with it.
 *
 * The map is split in KM_CH_KNOWN_STRIPES stripes by id, each an open-addressing table
 * under its own mutex. Growth is bounded: at `max` entries a stripe first forgets the
 * series not written for KM_CH_KNOWN_IDLE_HOURS, and if still full it adds nothing (the
 * caller then writes a series row for every such sample: correct, only slower; a
 * reference to such a series is stale and resolved again).
 *
 * Threads: any. Owns the label sets it keeps.
 */
#include "chstore/series.h"

#include "common/err.h"
#include "common/limits.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#define KM_CH_KNOWN_STRIPES    64
#define KM_CH_KNOWN_IDLE_HOURS 3

uint64_t km_ch_series_id(const struct km_label *l, size_t n)
{
    struct km_label s[KM_LIMIT_LABELS_PER_SERIES];
    XXH64_state_t st;
    size_t k = 0;
    const unsigned char sep = 0xff;

    for (size_t i = 0; i < n && k < KM_LIMIT_LABELS_PER_SERIES; i++)
        if (l[i].value[0] != '\0')
            s[k++] = l[i];
    km_labels_sort(s, k);
    XXH64_reset(&st, 0);
    for (size_t i = 0; i < k; i++) {
        XXH64_update(&st, s[i].name, strlen(s[i].name));
        XXH64_update(&st, &sep, 1);
        XXH64_update(&st, s[i].value, strlen(s[i].value));
        XXH64_update(&st, &sep, 1);
    }
    return XXH64_digest(&st);
}

struct km_ch_kentry {
    struct km_labels *labels; /* NULL: a free slot */
    uint64_t id;
    int64_t first_ms;
    int64_t last_hour; /* hour of the last series row written */
};

struct km_ch_stripe {
    pthread_mutex_t mu;
    struct km_ch_kentry *v;
    size_t cap, n; /* cap: a power of two */
};

struct km_ch_known {
    struct km_ch_stripe s[KM_CH_KNOWN_STRIPES];
    size_t max_per_stripe;
};

static uint64_t km_ch_mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

static struct km_ch_stripe *km_ch_stripe_of(struct km_ch_known *k, uint64_t id)
{
    return &k->s[km_ch_mix(id) % KM_CH_KNOWN_STRIPES];
}

int km_ch_known_create(struct km_ch_known **out, size_t max)
{
    struct km_ch_known *k = calloc(1, sizeof(*k));

    if (!k)
        return km_err_set(KM_ENOMEM, "out of memory");
    for (size_t i = 0; i < KM_CH_KNOWN_STRIPES; i++)
        pthread_mutex_init(&k->s[i].mu, NULL);
    k->max_per_stripe = (max ? max : KM_CH_KNOWN_DEFAULT_MAX) / KM_CH_KNOWN_STRIPES + 1;
    *out = k;
    return 0;
}

void km_ch_known_destroy(struct km_ch_known *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < KM_CH_KNOWN_STRIPES; i++) {
        struct km_ch_stripe *s = &k->s[i];

        for (size_t j = 0; j < s->cap; j++)
            km_labels_destroy(s->v[j].labels);
        free(s->v);
        pthread_mutex_destroy(&s->mu);
    }
    free(k);
}

/* Under s->mu: the slot of id, or the free slot where it would go. */
static struct km_ch_kentry *km_ch_slot(struct km_ch_stripe *s, uint64_t id)
{
    size_t mask = s->cap - 1;

    for (size_t i = (km_ch_mix(id) >> 8) & mask;; i = (i + 1) & mask)
        if (!s->v[i].labels || s->v[i].id == id)
            return &s->v[i];
}

/* Under s->mu: a table of `cap` slots holding the entries kept by `keep` (others freed). */
static int km_ch_rehash(struct km_ch_stripe *s, size_t cap, int64_t min_hour)
{
    struct km_ch_stripe t = { .cap = cap };

    t.v = calloc(cap, sizeof(*t.v));
    if (!t.v)
        return km_err_set(KM_ENOMEM, "out of memory growing the known-series map");
    for (size_t i = 0; i < s->cap; i++) {
        struct km_ch_kentry *e = &s->v[i];

        if (!e->labels)
            continue;
        if (e->last_hour < min_hour) {
            km_labels_destroy(e->labels);
            continue;
        }
        *km_ch_slot(&t, e->id) = *e;
        t.n++;
    }
    free(s->v);
    s->v = t.v;
    s->cap = t.cap;
    s->n = t.n;
    return 0;
}

/* Under s->mu: room for one more entry, growing or forgetting idle series; false when
 * the stripe is full. */
static bool km_ch_room(struct km_ch_known *k, struct km_ch_stripe *s, int64_t now_hour)
{
    if (s->n + 1 > k->max_per_stripe &&
        km_ch_rehash(s, s->cap, now_hour - KM_CH_KNOWN_IDLE_HOURS) != 0)
        return false;
    if (s->n + 1 > k->max_per_stripe)
        return false;
    if ((s->n + 1) * 4 > s->cap * 3 || s->cap == 0)
        return km_ch_rehash(s, s->cap ? s->cap * 2 : 64, INT64_MIN) == 0;
    return true;
}

int km_ch_known_note(struct km_ch_known *k, uint64_t id, const struct km_label *l, size_t n,
                     int64_t t, int64_t now_ms, struct km_ch_note *out)
{
    struct km_ch_stripe *s = km_ch_stripe_of(k, id);
    struct km_ch_kentry *e;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    out->first_ms = t;
    out->write_row = true;
    pthread_mutex_lock(&s->mu);
    e = s->cap ? km_ch_slot(s, id) : NULL;
    if (e && e->labels) {
        if (t < e->first_ms)
            e->first_ms = t;
        out->first_ms = e->first_ms;
        out->write_row = t / KM_CH_HOUR_MS > e->last_hour;
        goto out_unlock;
    }
    out->created = true;
    if (!km_ch_room(k, s, now_ms / KM_CH_HOUR_MS))
        goto out_unlock; /* full: not kept */
    e = km_ch_slot(s, id);
    rc = km_labels_create(&e->labels, l, n);
    if (rc != 0)
        goto out_unlock;
    e->id = id;
    e->first_ms = t;
    e->last_hour = INT64_MIN; /* until km_ch_known_written() */
    s->n++;
out_unlock:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void km_ch_known_written(struct km_ch_known *k, uint64_t id, int64_t t)
{
    struct km_ch_stripe *s = km_ch_stripe_of(k, id);
    struct km_ch_kentry *e;

    pthread_mutex_lock(&s->mu);
    e = s->cap ? km_ch_slot(s, id) : NULL;
    if (e && e->labels && t / KM_CH_HOUR_MS > e->last_hour)
        e->last_hour = t / KM_CH_HOUR_MS;
    pthread_mutex_unlock(&s->mu);
}

int km_ch_known_with(struct km_ch_known *k, uint64_t id, int64_t t, km_ch_known_fn fn, void *ud)
{
    struct km_ch_stripe *s = km_ch_stripe_of(k, id);
    struct km_ch_kentry *e;
    struct km_ch_note note = { 0 };
    int rc = KM_ENOTFOUND;

    pthread_mutex_lock(&s->mu);
    e = s->cap ? km_ch_slot(s, id) : NULL;
    if (e && e->labels) {
        if (t < e->first_ms)
            e->first_ms = t;
        note.first_ms = e->first_ms;
        note.write_row = t / KM_CH_HOUR_MS > e->last_hour;
        rc = fn(ud, e->labels, &note);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

bool km_ch_known_has(struct km_ch_known *k, uint64_t id)
{
    struct km_ch_stripe *s = km_ch_stripe_of(k, id);
    bool has;

    pthread_mutex_lock(&s->mu);
    has = s->cap && km_ch_slot(s, id)->labels;
    pthread_mutex_unlock(&s->mu);
    return has;
}

uint64_t km_ch_known_size(struct km_ch_known *k)
{
    uint64_t n = 0;

    for (size_t i = 0; i < KM_CH_KNOWN_STRIPES; i++) {
        pthread_mutex_lock(&k->s[i].mu);
        n += k->s[i].n;
        pthread_mutex_unlock(&k->s[i].mu);
    }
    return n;
}
