/*
 * value — vectors over the evaluation grid, the samples budget, and the label
 * operations groupings and vector matchings use (see value.h).
 */
#include "promql/value.h"
#include "common/array.h"

#include "common/err.h"
#include "common/limits.h"
#include "common/timefmt.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <stdlib.h>
#include <string.h>

/* ---- budget ---------------------------------------------------------------------------- */

int km_pq_budget_take(struct km_pq_budget *b, uint64_t n)
{
    if (!b)
        return 0;
    if (b->max_samples && b->samples + n > b->max_samples)
        return km_err_set(KM_ELIMIT, "query processing would load too many samples into "
                                     "memory in query execution");
    b->samples += n;
    if (b->samples > b->peak)
        b->peak = b->samples;
    return 0;
}

void km_pq_budget_give(struct km_pq_budget *b, uint64_t n)
{
    if (b)
        b->samples = n > b->samples ? 0 : b->samples - n;
}

int km_pq_budget_check(struct km_pq_budget *b)
{
    if (!b)
        return 0;
    if (b->deadline_ns && km_time_mono_ns() > b->deadline_ns)
        return km_err_set(KM_ETIMEDOUT, "query timed out in query execution");
    if (b->cancelled && b->cancelled(b->cancel_ud))
        return km_err_set(KM_ECANCELED, "query was canceled in query execution");
    return 0;
}

/* ---- vectors ----------------------------------------------------------------------------- */

void km_pq_vec_init(struct km_pq_vec *v, size_t nsteps)
{
    memset(v, 0, sizeof(*v));
    v->nsteps = nsteps;
}

static void series_free(struct km_pq_series *s)
{
    km_labels_destroy(s->labels);
    free(s->v); /* and the bitmap after the values */
}

void km_pq_vec_fini(struct km_pq_vec *v, struct km_pq_budget *b)
{
    for (size_t i = 0; i < v->n; i++)
        series_free(&v->s[i]);
    free(v->s);
    km_pq_budget_give(b, v->points);
    v->s = NULL;
    v->n = v->cap = 0;
    v->points = 0;
}

int km_pq_vec_add(struct km_pq_vec *v, struct km_labels *labels, struct km_pq_series **out)
{
    size_t nv = v->nsteps ? v->nsteps : 1, nw = (v->nsteps + 63) / 64 + 1;
    struct km_pq_series *s;

    if (v->n == v->cap) {
        size_t ncap = v->cap ? v->cap * 2 : 16;
        struct km_pq_series *p = realloc(v->s, ncap * sizeof(*p));

        if (!p) {
            km_labels_destroy(labels);
            return km_err_set(KM_ENOMEM, "out of memory evaluating a query");
        }
        v->s = p;
        v->cap = ncap;
    }
    s = &v->s[v->n];
    s->labels = labels;
    /* One allocation: the values, then the bitmap (a word, like a double, is 8 bytes). */
    s->v = malloc((nv + nw) * sizeof(double));
    if (!s->v) {
        km_labels_destroy(labels);
        return km_err_set(KM_ENOMEM, "out of memory evaluating a query");
    }
    s->set = (uint64_t *)(void *)(s->v + nv);
    memset(s->set, 0, nw * sizeof(uint64_t));
    v->n++;
    *out = s;
    return 0;
}

int km_pq_points_init(struct km_pq_points *p, size_t nsteps)
{
    p->words = (nsteps + 63) / 64;
    p->v = malloc((nsteps ? nsteps : 1) * sizeof(double));
    p->set = calloc(p->words + 1, sizeof(uint64_t));
    if (!p->v || !p->set) {
        km_pq_points_fini(p);
        return km_err_set(KM_ENOMEM, "out of memory evaluating a query");
    }
    return 0;
}

void km_pq_points_reset(struct km_pq_points *p)
{
    memset(p->set, 0, p->words * sizeof(uint64_t));
}

void km_pq_points_fini(struct km_pq_points *p)
{
    free(p->v);
    free(p->set);
    memset(p, 0, sizeof(*p));
}

int km_pq_set_once(struct km_pq_vec *v, struct km_pq_budget *b, size_t si, size_t i, double x)
{
    if (km_pq_has(&v->s[si], i))
        return km_err_set(KM_EINVAL, "vector cannot contain metrics with the same labelset");
    return km_pq_set(v, b, &v->s[si], i, x);
}

/* ---- series by labels ------------------------------------------------------------------- */

static int index_grow(struct km_pq_index *ix, const struct km_pq_vec *v)
{
    size_t n = ix->nslots ? ix->nslots * 2 : 64;
    size_t *slots = calloc(n, sizeof(*slots));

    if (!slots)
        return km_err_set(KM_ENOMEM, "out of memory evaluating a query");
    for (size_t k = 0; k < ix->nslots; k++) {
        size_t j;

        if (!ix->slots[k])
            continue;
        j = v->s[ix->slots[k] - 1].labels->hash & (n - 1);
        while (slots[j])
            j = (j + 1) & (n - 1);
        slots[j] = ix->slots[k];
    }
    free(ix->slots);
    ix->slots = slots;
    ix->nslots = n;
    return 0;
}

int km_pq_index_get(struct km_pq_index *ix, struct km_pq_vec *v, struct km_labels *labels,
                    size_t *out)
{
    struct km_pq_series *s;
    size_t k;
    int rc;

    if ((ix->n + 1) * 2 > ix->nslots && (rc = index_grow(ix, v)) != 0) {
        km_labels_destroy(labels);
        return rc;
    }
    for (k = labels->hash & (ix->nslots - 1); ix->slots[k]; k = (k + 1) & (ix->nslots - 1)) {
        const struct km_labels *have = v->s[ix->slots[k] - 1].labels;

        if (have->hash == labels->hash && km_labels_cmp(have, labels) == 0) {
            km_labels_destroy(labels);
            *out = ix->slots[k] - 1;
            return 0;
        }
    }
    rc = km_pq_vec_add(v, labels, &s);
    if (rc)
        return rc;
    ix->slots[k] = v->n;
    ix->n++;
    *out = v->n - 1;
    return 0;
}

void km_pq_index_fini(struct km_pq_index *ix)
{
    free(ix->slots);
    memset(ix, 0, sizeof(*ix));
}

static bool series_empty(const struct km_pq_series *s, size_t nsteps)
{
    for (size_t w = 0; w < (nsteps + 63) / 64; w++) {
        if (s->set[w])
            return false;
    }
    return true;
}

void km_pq_vec_compact(struct km_pq_vec *v)
{
    size_t w = 0;

    for (size_t i = 0; i < v->n; i++) {
        if (series_empty(&v->s[i], v->nsteps))
            series_free(&v->s[i]);
        else
            v->s[w++] = v->s[i];
    }
    v->n = w;
}

static int cmp_series(const void *a, const void *b)
{
    return km_labels_cmp(((const struct km_pq_series *)a)->labels,
                         ((const struct km_pq_series *)b)->labels);
}

void km_pq_vec_sort(struct km_pq_vec *v)
{
    if (v->n > 1)
        km_sort(v->s, v->n, sizeof(*v->s), cmp_series);
}

bool km_pq_is_stale(double v)
{
    uint64_t u;

    memcpy(&u, &v, sizeof(u));
    return u == KM_PQ_STALE_BITS;
}

/* ---- labels -------------------------------------------------------------------------------- */

static bool listed(const char *name, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        /* The first byte tells most names apart without a call. */
        if (names[i][0] == name[0] && strcmp(name, names[i]) == 0)
            return true;
    }
    return false;
}

/* Whether a grouping or matching looks at label `name`. */
static bool looked_at(const char *name, const char *const *names, size_t n, bool on, bool drop_name)
{
    if (drop_name && name[0] == '_' && strcmp(name, KM_METRIC_NAME_LABEL) == 0)
        return false;
    return listed(name, names, n) == on;
}

int km_pq_labels_filter(const struct km_labels *l, const char *const *names, size_t n, bool keep,
                        bool drop_name, struct km_labels **out)
{
    struct km_label v[KM_LIMIT_LABELS_PER_SERIES + 1];
    size_t k = 0;

    for (size_t i = 0; i < l->n && k < KM_LIMIT_LABELS_PER_SERIES + 1; i++) {
        if (drop_name && strcmp(l->v[i].name, KM_METRIC_NAME_LABEL) == 0)
            continue;
        if (listed(l->v[i].name, names, n) == keep)
            v[k++] = l->v[i];
    }
    return km_labels_create_sorted(out, v, k); /* a part of a sorted, checked set */
}

int km_pq_labels_drop_name(const struct km_labels *l, struct km_labels **out)
{
    return km_pq_labels_filter(l, NULL, 0, false, true, out);
}

uint64_t km_pq_labels_group_hash(const struct km_labels *l, const char *const *names, size_t n,
                                 bool on, bool drop_name)
{
    char buf[1024]; /* the labels looked at, "name\0value\0" each, hashed at once */
    size_t len = 0;
    XXH3_state_t st;

    for (size_t i = 0; i < l->n; i++) {
        size_t ln, lv;

        if (!looked_at(l->v[i].name, names, n, on, drop_name))
            continue;
        ln = strlen(l->v[i].name) + 1;
        lv = strlen(l->v[i].value) + 1;
        if (len + ln + lv > sizeof(buf))
            goto streamed;
        memcpy(buf + len, l->v[i].name, ln);
        memcpy(buf + len + ln, l->v[i].value, lv);
        len += ln + lv;
    }
    return XXH3_64bits(buf, len);
streamed: /* longer than the buffer: the same bytes through the streaming interface */
    XXH3_64bits_reset(&st);
    for (size_t i = 0; i < l->n; i++) {
        if (!looked_at(l->v[i].name, names, n, on, drop_name))
            continue;
        XXH3_64bits_update(&st, l->v[i].name, strlen(l->v[i].name) + 1);
        XXH3_64bits_update(&st, l->v[i].value, strlen(l->v[i].value) + 1);
    }
    return XXH3_64bits_digest(&st);
}

bool km_pq_labels_group_eq(const struct km_labels *a, const struct km_labels *b,
                           const char *const *names, size_t n, bool on, bool drop_name)
{
    size_t i = 0, j = 0;

    for (;;) {
        while (i < a->n && !looked_at(a->v[i].name, names, n, on, drop_name))
            i++;
        while (j < b->n && !looked_at(b->v[j].name, names, n, on, drop_name))
            j++;
        if (i == a->n || j == b->n)
            return i == a->n && j == b->n;
        if (strcmp(a->v[i].name, b->v[j].name) != 0 || strcmp(a->v[i].value, b->v[j].value) != 0)
            return false;
        i++;
        j++;
    }
}
