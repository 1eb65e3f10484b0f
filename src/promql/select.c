/*
 * select — reading selectors from a store (see select.h).
 *
 * An instant vector selector walks each series' samples once with a cursor while the
 * steps advance (both are time-ordered); a range selector copies each series' samples
 * minus staleness markers, and the range function slides its windows over them.
 */
#include "promql/select.h"

#include "common/err.h"

#include <stdlib.h>
#include <string.h>

/* Samples of the current series, as one batch or gathered from several into scratch. */
struct gather {
    int64_t *t;
    double *v;
    size_t cap;
};

static int grow_gather(struct gather *g, size_t need)
{
    size_t cap = need * 2;
    int64_t *nt;
    double *nv;

    if (need <= g->cap)
        return 0;
    nt = realloc(g->t, cap * sizeof(*nt));
    if (nt)
        g->t = nt;
    nv = nt ? realloc(g->v, cap * sizeof(*nv)) : NULL;
    if (!nv)
        return km_err_set(KM_ENOMEM, "out of memory reading samples");
    g->v = nv;
    g->cap = cap;
    return 0;
}

static int gather_series(struct km_series_set *set, struct gather *g, const int64_t **t,
                         const double **v, size_t *n)
{
    struct km_sample_batch b;
    size_t k = 0;
    bool first = true;

    *n = 0;
    while (km_series_batch(set, &b)) {
        if (first && b.n) {
            /* Usually the only batch: use it where it lies. */
            *t = b.t;
            *v = b.v;
            *n = b.n;
            first = false;
            continue;
        }
        if (grow_gather(g, k + *n + b.n) != 0)
            return km_err_set(KM_ENOMEM, "out of memory reading samples");
        if (*n && k == 0) {
            /* A second batch: move the first one out of the set's memory first. */
            memcpy(g->t, *t, *n * sizeof(int64_t));
            memcpy(g->v, *v, *n * sizeof(double));
            k = *n;
        }
        memcpy(g->t + k, b.t, b.n * sizeof(int64_t));
        memcpy(g->v + k, b.v, b.n * sizeof(double));
        k += b.n;
        *t = g->t;
        *v = g->v;
        *n = k;
    }
    return km_series_error(set);
}

static int open_selection(struct km_querier *q, const struct km_pq_selector *sel, int64_t mint,
                          int64_t maxt, int64_t range_ms, const char *func, bool newest,
                          const struct km_pq_grid *g, struct km_series_set **set)
{
    struct km_select_hints h = {
        .mint = mint,
        .maxt = maxt,
        .step_ms = g->n > 1 ? g->step : 0,
        .range_ms = range_ms,
        .func = func,
        /* One step of an instant selector reads only the newest sample before it. */
        .newest_only = newest,
    };

    if (h.mint == 0 && h.maxt == 0)
        h.maxt = 1; /* [0, 0] would mean "everything" to the store */
    return km_querier_select(q, sel->m, sel->nm, &h, set);
}

static int select_vector(struct km_querier *q, const struct km_pq_selector *sel,
                         const struct km_pq_grid *g, int64_t lookback_ms, bool times,
                         const struct km_pq_sink *sink, struct km_pq_budget *b,
                         struct km_pq_vec *out)
{
    int64_t first = km_pq_selector_time(sel, g, 0), last = km_pq_selector_time(sel, g, g->n - 1);
    struct km_series_set *set;
    struct gather scratch = { 0 };
    struct km_pq_points pts = { 0 };
    int rc;

    km_pq_vec_init(out, g->n);
    rc = sink ? km_pq_points_init(&pts, g->n) : 0;
    if (rc == 0)
        rc = open_selection(q, sel, km_pq_time_sub(first, lookback_ms), last, 0, NULL,
                            first == last, g, &set);
    if (rc) {
        km_pq_points_fini(&pts);
        return rc;
    }
    while (rc == 0 && km_series_next(set)) {
        const int64_t *t = NULL;
        const double *v = NULL;
        struct km_pq_series *s = NULL;
        struct km_labels *l;
        size_t n, p = 0;

        rc = gather_series(set, &scratch, &t, &v, &n);
        if (rc || n == 0)
            continue;
        if (sink) { /* the points only, handed over with the labels the set lends */
            km_pq_points_reset(&pts);
        } else {
            rc = km_labels_dup(&l, km_series_labels(set));
            if (rc == 0)
                rc = km_pq_vec_add(out, l, &s);
        }
        for (size_t i = 0; i < g->n && rc == 0; i++) {
            int64_t ref = km_pq_selector_time(sel, g, i);

            /* The newest sample at or before ref, within the lookback. Steps (and with
             * them ref) only advance, so the cursor does too; with @ it stays. */
            if (i == 0 || ref < km_pq_selector_time(sel, g, i - 1))
                p = 0;
            while (p < n && t[p] <= ref)
                p++;
            if (p == 0 || t[p - 1] < km_pq_time_sub(ref, lookback_ms) || km_pq_is_stale(v[p - 1]))
                continue;
            if (sink) {
                pts.v[i] = times ? (double)t[p - 1] : v[p - 1];
                pts.set[i >> 6] |= (uint64_t)1 << (i & 63);
            } else {
                rc = km_pq_set(out, b, s, i, times ? (double)t[p - 1] : v[p - 1]);
            }
        }
        if (sink && rc == 0)
            rc = sink->add(sink->ud, km_series_labels(set), false, pts.v, pts.set);
        if (rc == 0 && (rc = km_pq_budget_check(b)) != 0)
            break;
    }
    if (rc == 0)
        rc = km_series_error(set);
    km_series_set_close(set);
    km_pq_points_fini(&pts);
    free(scratch.t);
    free(scratch.v);
    if (rc)
        km_pq_vec_fini(out, b);
    else
        km_pq_vec_compact(out);
    return rc;
}

int km_pq_select_vector(struct km_querier *q, const struct km_pq_selector *sel,
                        const struct km_pq_grid *g, int64_t lookback_ms,
                        const struct km_pq_sink *sink, struct km_pq_budget *b,
                        struct km_pq_vec *out)
{
    return select_vector(q, sel, g, lookback_ms, false, sink, b, out);
}

int km_pq_select_vector_times(struct km_querier *q, const struct km_pq_selector *sel,
                              const struct km_pq_grid *g, int64_t lookback_ms,
                              struct km_pq_budget *b, struct km_pq_vec *out)
{
    return select_vector(q, sel, g, lookback_ms, true, NULL, b, out);
}

/* ---- range vectors ---------------------------------------------------------------------- */

int km_pq_range_add(struct km_pq_range *r, struct km_labels *labels, struct km_pq_rseries **out)
{
    if (r->n == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 16;
        struct km_pq_rseries *p = realloc(r->s, ncap * sizeof(*p));

        if (!p) {
            km_labels_destroy(labels);
            return km_err_set(KM_ENOMEM, "out of memory evaluating a query");
        }
        r->s = p;
        r->cap = ncap;
    }
    *out = memset(&r->s[r->n++], 0, sizeof(struct km_pq_rseries));
    (*out)->labels = labels;
    return 0;
}

static int rseries_reserve(struct km_pq_rseries *s, size_t need)
{
    size_t c = s->cap ? s->cap : 16;
    int64_t *nt;
    double *nv;

    if (need <= s->cap)
        return 0;
    while (c < need)
        c *= 2;
    nt = realloc(s->t, c * sizeof(*nt));
    if (nt)
        s->t = nt;
    nv = nt ? realloc(s->v, c * sizeof(*nv)) : NULL;
    if (!nv)
        return km_err_set(KM_ENOMEM, "out of memory evaluating a query");
    s->v = nv;
    s->cap = c;
    return 0;
}

int km_pq_rseries_push(struct km_pq_range *r, struct km_pq_budget *b, struct km_pq_rseries *s,
                       int64_t t, double v)
{
    int rc = rseries_reserve(s, s->n + 1);

    if (rc)
        return rc;
    s->t[s->n] = t;
    s->v[s->n++] = v;
    r->points++;
    return km_pq_budget_take(b, 1);
}

void km_pq_range_fini(struct km_pq_range *r, struct km_pq_budget *b)
{
    for (size_t i = 0; i < r->n; i++) {
        km_labels_destroy(r->s[i].labels);
        free(r->s[i].t);
        free(r->s[i].v);
    }
    free(r->s);
    km_pq_budget_give(b, r->points);
    memset(r, 0, sizeof(*r));
}

int km_pq_range_open(struct km_querier *q, const struct km_pq_selector *sel, int64_t range_ms,
                     const char *func, const struct km_pq_grid *g, struct km_pq_range_iter *it)
{
    int64_t first = km_pq_selector_time(sel, g, 0), last = km_pq_selector_time(sel, g, g->n - 1);

    memset(it, 0, sizeof(*it));
    if (sel->has_at)
        first = last = km_pq_time_sub(sel->at_ms, sel->offset_ms);
    return open_selection(q, sel, km_pq_time_sub(first, range_ms), last, range_ms, func, false, g,
                          &it->set);
}

bool km_pq_range_next(struct km_pq_range_iter *it, struct km_pq_budget *b,
                      const struct km_labels **labels, int *rc)
{
    struct gather scratch = { it->t, it->v, it->cap };

    km_pq_budget_give(b, it->held);
    it->held = 0;
    while ((*rc = km_pq_budget_check(b)) == 0 && km_series_next(it->set)) {
        const int64_t *t = NULL;
        const double *v = NULL;
        size_t n, k = 0;

        *rc = gather_series(it->set, &scratch, &t, &v, &n);
        it->t = scratch.t;
        it->v = scratch.v;
        it->cap = scratch.cap;
        if (*rc)
            return false;
        if (n > it->cap) {
            /* The set's own batch, larger than our buffer: make room to copy it out
             * without the staleness markers. */
            *rc = grow_gather(&scratch, n);
            it->t = scratch.t;
            it->v = scratch.v;
            it->cap = scratch.cap;
            if (*rc)
                return false;
        }
        for (size_t i = 0; i < n; i++) {
            if (km_pq_is_stale(v[i]))
                continue;
            it->t[k] = t[i];
            it->v[k++] = v[i];
        }
        it->n = k;
        if (k == 0)
            continue;
        *rc = km_pq_budget_take(b, k);
        if (*rc)
            return false;
        it->held = k;
        *labels = km_series_labels(it->set);
        return true;
    }
    if (*rc == 0)
        *rc = km_series_error(it->set);
    return false;
}

void km_pq_range_close(struct km_pq_range_iter *it, struct km_pq_budget *b)
{
    km_pq_budget_give(b, it->held);
    km_series_set_close(it->set);
    free(it->t);
    free(it->v);
    memset(it, 0, sizeof(*it));
}

int km_pq_select_range(struct km_querier *q, const struct km_pq_selector *sel, int64_t range_ms,
                       const struct km_pq_grid *g, struct km_pq_budget *b, struct km_pq_range *out)
{
    struct km_pq_range_iter it;
    const struct km_labels *l;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = km_pq_range_open(q, sel, range_ms, NULL, g, &it);
    if (rc)
        return rc;
    while (km_pq_range_next(&it, b, &l, &rc)) {
        struct km_pq_rseries *s = NULL;
        struct km_labels *copy;

        rc = km_labels_dup(&copy, l);
        if (rc == 0)
            rc = km_pq_range_add(out, copy, &s);
        if (rc == 0)
            rc = rseries_reserve(s, it.n);
        if (rc)
            break;
        memcpy(s->t, it.t, it.n * sizeof(int64_t));
        memcpy(s->v, it.v, it.n * sizeof(double));
        s->n = it.n;
        /* The result keeps them: they stay counted. */
        out->points += it.n;
        it.held = 0;
    }
    km_pq_range_close(&it, b);
    if (rc)
        km_pq_range_fini(out, b);
    return rc;
}
