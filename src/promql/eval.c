/*
 * eval — the walk over the syntax tree (see eval.h).
 *
 * A node's value over the grid is a scalar (a value per step), a string, or an instant
 * vector (km_pq_vec); range vectors exist only as a function's argument (and as the
 * answer of an instant query of one) and are read straight into km_pq_range. Functions
 * of a range slide a window per step over each series' samples with two cursors.
 */
#include "promql/eval.h"

#include "common/err.h"
#include "common/limits.h"
#include "common/timefmt.h"
#include "promql/aggr.h"
#include "promql/binop.h"
#include "promql/instfn.h"
#include "promql/rangefn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ctx {
    struct km_querier *q;
    const struct km_pq_opts *o;
    int64_t start, end; /* the query's, for @ start() and @ end() */
    bool instant;
    struct km_pq_budget *b;
};

struct val {
    enum km_promql_type type;
    double *sc;      /* SCALAR */
    const char *str; /* STRING (borrowed from the tree) */
    size_t len;
    struct km_pq_vec vec;  /* VECTOR */
    struct km_pq_range rg; /* MATRIX */
};

static int eval(struct ctx *c, const struct km_promql_expr *e, const struct km_pq_grid *g,
                struct val *out);

static void val_fini(struct val *v, struct km_pq_budget *b)
{
    free(v->sc);
    v->sc = NULL;
    if (v->type == KM_PROMQL_TYPE_VECTOR)
        km_pq_vec_fini(&v->vec, b);
    if (v->type == KM_PROMQL_TYPE_MATRIX)
        km_pq_range_fini(&v->rg, b);
    v->type = KM_PROMQL_TYPE_NONE;
}

static int scalar_new(struct val *v, const struct km_pq_grid *g)
{
    memset(v, 0, sizeof(*v));
    v->type = KM_PROMQL_TYPE_SCALAR;
    v->sc = malloc((g->n ? g->n : 1) * sizeof(double));
    return v->sc ? 0 : km_err_set(KM_ENOMEM, "out of memory evaluating a query");
}

/* Evaluate e, which the parser typed as a scalar, into a per-step array (owned). */
static int eval_scalar(struct ctx *c, const struct km_promql_expr *e, const struct km_pq_grid *g,
                       double **out)
{
    struct val v;
    int rc = eval(c, e, g, &v);

    if (rc)
        return rc;
    if (v.type != KM_PROMQL_TYPE_SCALAR) {
        val_fini(&v, c->b);
        return km_err_set(KM_EINVAL, "expected a scalar");
    }
    *out = v.sc;
    return 0;
}

/* A string argument (a literal, possibly in parentheses). */
static const char *string_arg(const struct km_promql_expr *e)
{
    e = km_promql_unparen(e);
    return e->kind == KM_PROMQL_STRING ? e->string.value : "";
}

/* ---- selectors -------------------------------------------------------------------------- */

static struct km_pq_selector selector_of(const struct ctx *c, const struct km_promql_expr *vs)
{
    struct km_pq_selector sel = {
        .m = vs->vector.matchers,
        .nm = vs->vector.nmatchers,
        .offset_ms = vs->vector.offset_ms,
    };

    switch (vs->vector.at.kind) {
    case KM_PROMQL_AT_TIME:
        sel.has_at = true;
        sel.at_ms = vs->vector.at.ms;
        break;
    case KM_PROMQL_AT_START:
        sel.has_at = true;
        sel.at_ms = c->start;
        break;
    case KM_PROMQL_AT_END:
        sel.has_at = true;
        sel.at_ms = c->end;
        break;
    default:
        break;
    }
    return sel;
}

/* ---- subqueries --------------------------------------------------------------------------- */

/* The times a subquery's windows end at, as a selector reads them. */
static struct km_pq_selector subquery_selector(const struct ctx *c, const struct km_promql_expr *e)
{
    struct km_pq_selector sel = { .offset_ms = e->subquery.offset_ms };

    switch (e->subquery.at.kind) {
    case KM_PROMQL_AT_TIME:
        sel.has_at = true;
        sel.at_ms = e->subquery.at.ms;
        break;
    case KM_PROMQL_AT_START:
        sel.has_at = true;
        sel.at_ms = c->start;
        break;
    case KM_PROMQL_AT_END:
        sel.has_at = true;
        sel.at_ms = c->end;
        break;
    default:
        break;
    }
    return sel;
}

/* Evaluate a subquery's expression at its own steps (multiples of its step) covering
 * every window the outer grid needs, as raw samples per series. */
static int eval_subquery(struct ctx *c, const struct km_promql_expr *e, const struct km_pq_grid *g,
                         struct km_pq_range *out)
{
    struct km_pq_selector sel = subquery_selector(c, e);
    int64_t step = e->subquery.step_ms ? e->subquery.step_ms : c->o->subquery_step_ms;
    int64_t first = km_pq_time_sub(km_pq_selector_time(&sel, g, 0), e->subquery.range_ms);
    int64_t last = km_pq_selector_time(&sel, g, g->n - 1), q;
    struct km_pq_grid inner;
    struct val v;
    int rc;

    memset(out, 0, sizeof(*out));
    if (step <= 0)
        return km_err_set(KM_EINVAL, "zero or negative subquery step");
    /* The first multiple of the step at or after `first` (C's division rounds towards
     * zero: up for a negative one), none when that is past int64. */
    q = first / step + (first % step > 0);
    if (__builtin_mul_overflow(q, step, &inner.start) || last < inner.start)
        return 0;
    inner.step = step;
    /* last − start may not fit an int64 (from before 1970 to far after), it fits a
     * uint64. */
    inner.n = (size_t)(((uint64_t)last - (uint64_t)inner.start) / (uint64_t)step) + 1;
    /* More steps than points the query may hold: it could only fail later, after
     * allocating them. */
    if (c->b->max_samples && inner.n > c->b->max_samples)
        return km_err_set(KM_ELIMIT, "query processing would load too many samples into "
                                     "memory in query execution");
    rc = eval(c, e->subquery.expr, &inner, &v);
    if (rc)
        return rc;
    if (v.type == KM_PROMQL_TYPE_SCALAR) {
        struct km_labels *l;
        struct km_pq_rseries *s = NULL;

        rc = km_labels_create(&l, NULL, 0);
        if (rc == 0)
            rc = km_pq_range_add(out, l, &s);
        for (size_t i = 0; i < inner.n && rc == 0; i++)
            rc = km_pq_rseries_push(out, c->b, s, km_pq_grid_time(&inner, i), v.sc[i]);
    } else {
        for (size_t si = 0; si < v.vec.n && rc == 0; si++) {
            struct km_pq_series *vs = &v.vec.s[si];
            struct km_pq_rseries *s;
            struct km_labels *l;
            uint64_t moved = 0;

            rc = km_labels_dup(&l, vs->labels);
            if (rc == 0)
                rc = km_pq_range_add(out, l, &s);
            for (size_t i = 0; i < inner.n && rc == 0; i++) {
                if (!km_pq_has(vs, i))
                    continue;
                /* The point moves: the budget counts it once, as Prometheus does. */
                km_pq_budget_give(c->b, 1);
                moved++;
                rc = km_pq_rseries_push(out, c->b, s, km_pq_grid_time(&inner, i), vs->v[i]);
            }
            v.vec.points -= moved;
        }
    }
    val_fini(&v, c->b);
    if (rc)
        km_pq_range_fini(out, c->b);
    return rc;
}

/* A function's range-vector argument, series by series: a matrix selector read one
 * series at a time from the store, or a subquery evaluated first. */
struct rsrc {
    bool live;
    struct km_pq_range_iter it; /* live */
    struct km_pq_range rg;      /* a subquery's */
    size_t next;
    struct km_pq_selector sel; /* the times windows end at */
    int64_t range;             /* their length */
    const int64_t *t;          /* the current series */
    const double *v;
    size_t n;
};

/* `func`: the function reading it (a hint to the store), or NULL. */
static int rsrc_open(struct ctx *c, const struct km_promql_expr *arg, const char *func,
                     const struct km_pq_grid *g, struct rsrc *r)
{
    memset(r, 0, sizeof(*r));
    arg = km_promql_unparen(arg);
    if (arg->kind == KM_PROMQL_MATRIX_SELECTOR) {
        r->live = true;
        r->sel = selector_of(c, arg->matrix.vector);
        r->range = arg->matrix.range_ms;
        return km_pq_range_open(c->q, &r->sel, r->range, func, g, &r->it);
    }
    if (arg->kind == KM_PROMQL_SUBQUERY) {
        r->sel = subquery_selector(c, arg);
        r->range = arg->subquery.range_ms;
        return eval_subquery(c, arg, g, &r->rg);
    }
    return km_err_set(KM_EINVAL, "expected a range vector");
}

static bool rsrc_next(struct ctx *c, struct rsrc *r, const struct km_labels **l, int *rc)
{
    *rc = 0;
    if (r->live) {
        if (!km_pq_range_next(&r->it, c->b, l, rc))
            return false;
        r->t = r->it.t;
        r->v = r->it.v;
        r->n = r->it.n;
        return true;
    }
    if (r->next >= r->rg.n)
        return false;
    *l = r->rg.s[r->next].labels;
    r->t = r->rg.s[r->next].t;
    r->v = r->rg.s[r->next].v;
    r->n = r->rg.s[r->next].n;
    r->next++;
    return true;
}

static void rsrc_close(struct ctx *c, struct rsrc *r)
{
    if (r->live)
        km_pq_range_close(&r->it, c->b);
    else
        km_pq_range_fini(&r->rg, c->b);
}

/* A range vector as a value (the answer of an instant query of one). */
static int eval_range_value(struct ctx *c, const struct km_promql_expr *e,
                            const struct km_pq_grid *g, struct km_pq_range *out)
{
    e = km_promql_unparen(e);
    if (e->kind == KM_PROMQL_MATRIX_SELECTOR) {
        struct km_pq_selector sel = selector_of(c, e->matrix.vector);

        return km_pq_select_range(c->q, &sel, e->matrix.range_ms, g, c->b, out);
    }
    return eval_subquery(c, e, g, out);
}

/* ---- functions of range vectors ------------------------------------------------------------ */

static enum km_pq_rangefn rangefn_of(enum km_promql_func_id id)
{
    switch (id) {
    case KM_PROMQL_FN_RATE:
        return KM_PQ_RATE;
    case KM_PROMQL_FN_INCREASE:
        return KM_PQ_INCREASE;
    case KM_PROMQL_FN_DELTA:
        return KM_PQ_DELTA;
    case KM_PROMQL_FN_IRATE:
        return KM_PQ_IRATE;
    case KM_PROMQL_FN_IDELTA:
        return KM_PQ_IDELTA;
    case KM_PROMQL_FN_DERIV:
        return KM_PQ_DERIV;
    case KM_PROMQL_FN_PREDICT_LINEAR:
        return KM_PQ_PREDICT_LINEAR;
    case KM_PROMQL_FN_HOLT_WINTERS:
        return KM_PQ_HOLT_WINTERS;
    case KM_PROMQL_FN_CHANGES:
        return KM_PQ_CHANGES;
    case KM_PROMQL_FN_RESETS:
        return KM_PQ_RESETS;
    case KM_PROMQL_FN_AVG_OVER_TIME:
        return KM_PQ_AVG_OVER_TIME;
    case KM_PROMQL_FN_MIN_OVER_TIME:
        return KM_PQ_MIN_OVER_TIME;
    case KM_PROMQL_FN_MAX_OVER_TIME:
        return KM_PQ_MAX_OVER_TIME;
    case KM_PROMQL_FN_SUM_OVER_TIME:
        return KM_PQ_SUM_OVER_TIME;
    case KM_PROMQL_FN_COUNT_OVER_TIME:
        return KM_PQ_COUNT_OVER_TIME;
    case KM_PROMQL_FN_QUANTILE_OVER_TIME:
        return KM_PQ_QUANTILE_OVER_TIME;
    case KM_PROMQL_FN_STDDEV_OVER_TIME:
        return KM_PQ_STDDEV_OVER_TIME;
    case KM_PROMQL_FN_STDVAR_OVER_TIME:
        return KM_PQ_STDVAR_OVER_TIME;
    case KM_PROMQL_FN_LAST_OVER_TIME:
        return KM_PQ_LAST_OVER_TIME;
    default:
        return KM_PQ_PRESENT_OVER_TIME;
    }
}

/* The Go %f of a float, for messages ("0.500000"). */
static int check_factors(const double *sf, const double *tf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!(sf[i] > 0 && sf[i] < 1))
            return km_err_set(KM_EINVAL, "invalid smoothing factor. Expected: 0 < sf < 1, got: %f",
                              sf[i]);
        if (!(tf[i] > 0 && tf[i] < 1))
            return km_err_set(KM_EINVAL, "invalid trend factor. Expected: 0 < tf < 1, got: %f",
                              tf[i]);
    }
    return 0;
}

/* Windows [ref_i − range, ref_i] of one series, advanced step by step. */
struct slider {
    size_t lo, hi;
    int64_t prev_ref;
};

static void slide(struct slider *w, const int64_t *t, size_t n, int64_t ref, int64_t range)
{
    if (ref < w->prev_ref) /* @ or a restart: from the beginning */
        w->lo = w->hi = 0;
    w->prev_ref = ref;
    while (w->lo < n && t[w->lo] < km_pq_time_sub(ref, range))
        w->lo++;
    if (w->hi < w->lo)
        w->hi = w->lo;
    while (w->hi < n && t[w->hi] <= ref)
        w->hi++;
}

/* Output series with their first input, so that two inputs landing on one label set
 * are found (an error over the whole range, as Prometheus checks the matrix). */
struct owners {
    size_t *v;
    size_t n, cap;
};

static int claim(struct owners *o, size_t out_index, size_t input)
{
    if (out_index < o->n)
        return o->v[out_index] == input
                   ? 0
                   : km_err_set(KM_EINVAL, "vector cannot contain metrics with the same labelset");
    if (out_index >= o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        size_t *p;

        while (cap <= out_index)
            cap *= 2;
        p = realloc(o->v, cap * sizeof(*p));
        if (!p)
            return km_err_set(KM_ENOMEM, "out of memory evaluating a function");
        o->v = p;
        o->cap = cap;
    }
    o->v[out_index] = input;
    o->n = out_index + 1;
    return 0;
}

/* The scalar arguments of a range function, per step. */
static int range_fn_args(struct ctx *c, const struct km_promql_expr *e, const struct km_pq_grid *g,
                         double **a1, double **a2)
{
    enum km_promql_func_id id = e->call.func->id;
    int rc = 0;

    *a1 = *a2 = NULL;
    if (id == KM_PROMQL_FN_QUANTILE_OVER_TIME)
        rc = eval_scalar(c, e->call.args[0], g, a1);
    else if (id == KM_PROMQL_FN_PREDICT_LINEAR)
        rc = eval_scalar(c, e->call.args[1], g, a1);
    else if (id == KM_PROMQL_FN_HOLT_WINTERS) {
        rc = eval_scalar(c, e->call.args[1], g, a1);
        if (rc == 0)
            rc = eval_scalar(c, e->call.args[2], g, a2);
        if (rc == 0)
            rc = check_factors(*a1, *a2, g->n);
    }
    return rc;
}

/* The functions of a range vector that call_range_fn() evaluates. */
static bool is_range_fn(enum km_promql_func_id id)
{
    switch (id) {
    case KM_PROMQL_FN_RATE:
    case KM_PROMQL_FN_INCREASE:
    case KM_PROMQL_FN_DELTA:
    case KM_PROMQL_FN_IRATE:
    case KM_PROMQL_FN_IDELTA:
    case KM_PROMQL_FN_DERIV:
    case KM_PROMQL_FN_PREDICT_LINEAR:
    case KM_PROMQL_FN_HOLT_WINTERS:
    case KM_PROMQL_FN_CHANGES:
    case KM_PROMQL_FN_RESETS:
    case KM_PROMQL_FN_AVG_OVER_TIME:
    case KM_PROMQL_FN_MIN_OVER_TIME:
    case KM_PROMQL_FN_MAX_OVER_TIME:
    case KM_PROMQL_FN_SUM_OVER_TIME:
    case KM_PROMQL_FN_COUNT_OVER_TIME:
    case KM_PROMQL_FN_QUANTILE_OVER_TIME:
    case KM_PROMQL_FN_STDDEV_OVER_TIME:
    case KM_PROMQL_FN_STDVAR_OVER_TIME:
    case KM_PROMQL_FN_LAST_OVER_TIME:
    case KM_PROMQL_FN_PRESENT_OVER_TIME:
        return true;
    default:
        return false;
    }
}

/* With a sink, each input series' result goes to it as it is made (the caller knows no
 * two inputs can give the same labels: see streams()). */
static int call_range_fn(struct ctx *c, const struct km_promql_expr *e, const struct km_pq_grid *g,
                         const struct km_pq_sink *sink, struct val *out)
{
    enum km_promql_func_id id = e->call.func->id;
    enum km_pq_rangefn fn = rangefn_of(id);
    size_t ri = id == KM_PROMQL_FN_QUANTILE_OVER_TIME ? 1 : 0; /* the range argument */
    double *a1 = NULL, *a2 = NULL, *scratch = NULL;
    size_t nscratch = 0, input = 0;
    const struct km_labels *l;
    struct km_pq_index ix = { 0 };
    struct km_pq_points pts = { 0 };
    struct owners own = { 0 };
    struct rsrc r;
    int rc;

    memset(out, 0, sizeof(*out));
    out->type = KM_PROMQL_TYPE_VECTOR;
    km_pq_vec_init(&out->vec, g->n);
    rc = range_fn_args(c, e, g, &a1, &a2);
    if (rc == 0 && sink)
        rc = km_pq_points_init(&pts, g->n);
    if (rc == 0)
        rc = rsrc_open(c, e->call.args[ri], e->call.func->name, g, &r);
    if (rc) {
        km_pq_points_fini(&pts);
        free(a1);
        free(a2);
        return rc;
    }
    while (rc == 0 && rsrc_next(c, &r, &l, &rc)) {
        struct slider w = { 0, 0, INT64_MIN };
        size_t o = SIZE_MAX;
        bool no_resets = true;

        for (size_t k = 1; k < r.n && no_resets; k++)
            no_resets = !(r.v[k] < r.v[k - 1]);

        if (r.n > nscratch) {
            double *p = realloc(scratch, r.n * sizeof(double));

            if (!p) {
                rc = km_err_set(KM_ENOMEM, "out of memory evaluating a function");
                break;
            }
            scratch = p;
            nscratch = r.n;
        }
        if (sink)
            km_pq_points_reset(&pts);
        for (size_t i = 0; i < g->n && rc == 0; i++) {
            int64_t ref = km_pq_selector_time(&r.sel, g, i);
            struct km_pq_window win;
            double x;

            slide(&w, r.t, r.n, ref, r.range);
            win = (struct km_pq_window){ r.t + w.lo,  r.v + w.lo,
                                         w.hi - w.lo, km_pq_time_sub(ref, r.range),
                                         ref,         no_resets };
            if (!km_pq_range_apply(fn, &win, a1 ? a1[i] : 0, a2 ? a2[i] : 0, km_pq_grid_time(g, i),
                                   scratch, &x))
                continue;
            if (sink) { /* the points only: the sink reads the labels as they are */
                pts.v[i] = x;
                pts.set[i >> 6] |= (uint64_t)1 << (i & 63);
                continue;
            }
            if (o == SIZE_MAX) {
                struct km_labels *nl;

                /* last_over_time keeps the metric name, as an offset would. */
                rc = id == KM_PROMQL_FN_LAST_OVER_TIME ? km_labels_dup(&nl, l)
                                                       : km_pq_labels_drop_name(l, &nl);
                if (rc == 0)
                    rc = km_pq_index_get(&ix, &out->vec, nl, &o);
                if (rc == 0)
                    rc = claim(&own, o, input);
                if (rc)
                    break;
            }
            rc = km_pq_set(&out->vec, c->b, &out->vec.s[o], i, x);
        }
        if (sink && rc == 0)
            rc = sink->add(sink->ud, l, id != KM_PROMQL_FN_LAST_OVER_TIME, pts.v, pts.set);
        input++;
    }
    rsrc_close(c, &r);
    km_pq_points_fini(&pts);
    km_pq_index_fini(&ix);
    free(own.v);
    free(a1);
    free(a2);
    free(scratch);
    if (rc)
        val_fini(out, c->b);
    else
        km_pq_vec_compact(&out->vec);
    return rc;
}

/* absent_over_time: 1 where no series has a sample in the window. */
static int call_absent_over_time(struct ctx *c, const struct km_promql_expr *e,
                                 const struct km_pq_grid *g, struct val *out)
{
    const struct km_promql_expr *arg = km_promql_unparen(e->call.args[0]);
    const struct km_labels *sl;
    struct km_labels *l = NULL;
    bool *seen = calloc(g->n ? g->n : 1, sizeof(bool));
    struct rsrc r;
    int rc;

    memset(out, 0, sizeof(*out));
    out->type = KM_PROMQL_TYPE_VECTOR;
    km_pq_vec_init(&out->vec, g->n);
    if (!seen)
        return km_err_set(KM_ENOMEM, "out of memory evaluating absent_over_time");
    rc = rsrc_open(c, arg, e->call.func->name, g, &r);
    if (rc) {
        free(seen);
        return rc;
    }
    while (rc == 0 && rsrc_next(c, &r, &sl, &rc)) {
        struct slider w = { 0, 0, INT64_MIN };

        for (size_t i = 0; i < g->n; i++) {
            slide(&w, r.t, r.n, km_pq_selector_time(&r.sel, g, i), r.range);
            seen[i] = seen[i] || w.hi > w.lo;
        }
    }
    rsrc_close(c, &r);
    if (rc == 0 && arg->kind == KM_PROMQL_MATRIX_SELECTOR)
        rc = km_pq_absent_labels(arg->matrix.vector->vector.matchers,
                                 arg->matrix.vector->vector.nmatchers, &l);
    else if (rc == 0)
        rc = km_labels_create(&l, NULL, 0);
    if (rc == 0) {
        struct km_pq_series *s;

        rc = km_pq_vec_add(&out->vec, l, &s);
        for (size_t i = 0; i < g->n && rc == 0; i++) {
            if (!seen[i])
                rc = km_pq_set(&out->vec, c->b, s, i, 1);
        }
    }
    free(seen);
    if (rc)
        val_fini(out, c->b);
    else
        km_pq_vec_compact(&out->vec);
    return rc;
}

/* ---- functions of instant vectors and scalars ---------------------------------------------- */

static bool mathfn_of(enum km_promql_func_id id, enum km_pq_mathfn *out)
{
    static const struct {
        enum km_promql_func_id id;
        enum km_pq_mathfn fn;
    } map[] = {
        { KM_PROMQL_FN_ABS, KM_PQ_ABS },
        { KM_PROMQL_FN_CEIL, KM_PQ_CEIL },
        { KM_PROMQL_FN_FLOOR, KM_PQ_FLOOR },
        { KM_PROMQL_FN_EXP, KM_PQ_EXP },
        { KM_PROMQL_FN_SQRT, KM_PQ_SQRT },
        { KM_PROMQL_FN_LN, KM_PQ_LN },
        { KM_PROMQL_FN_LOG2, KM_PQ_LOG2 },
        { KM_PROMQL_FN_LOG10, KM_PQ_LOG10 },
        { KM_PROMQL_FN_SGN, KM_PQ_SGN },
        { KM_PROMQL_FN_SIN, KM_PQ_SIN },
        { KM_PROMQL_FN_COS, KM_PQ_COS },
        { KM_PROMQL_FN_TAN, KM_PQ_TAN },
        { KM_PROMQL_FN_ASIN, KM_PQ_ASIN },
        { KM_PROMQL_FN_ACOS, KM_PQ_ACOS },
        { KM_PROMQL_FN_ATAN, KM_PQ_ATAN },
        { KM_PROMQL_FN_SINH, KM_PQ_SINH },
        { KM_PROMQL_FN_COSH, KM_PQ_COSH },
        { KM_PROMQL_FN_TANH, KM_PQ_TANH },
        { KM_PROMQL_FN_ASINH, KM_PQ_ASINH },
        { KM_PROMQL_FN_ACOSH, KM_PQ_ACOSH },
        { KM_PROMQL_FN_ATANH, KM_PQ_ATANH },
        { KM_PROMQL_FN_DEG, KM_PQ_DEG },
        { KM_PROMQL_FN_RAD, KM_PQ_RAD },
        { KM_PROMQL_FN_YEAR, KM_PQ_YEAR },
        { KM_PROMQL_FN_MONTH, KM_PQ_MONTH },
        { KM_PROMQL_FN_DAY_OF_MONTH, KM_PQ_DAY_OF_MONTH },
        { KM_PROMQL_FN_DAY_OF_WEEK, KM_PQ_DAY_OF_WEEK },
        { KM_PROMQL_FN_DAY_OF_YEAR, KM_PQ_DAY_OF_YEAR },
        { KM_PROMQL_FN_DAYS_IN_MONTH, KM_PQ_DAYS_IN_MONTH },
        { KM_PROMQL_FN_HOUR, KM_PQ_HOUR },
        { KM_PROMQL_FN_MINUTE, KM_PQ_MINUTE },
    };

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (map[i].id == id) {
            *out = map[i].fn;
            return true;
        }
    }
    return false;
}

/* vector(time()): one series without labels, the step's time in seconds. */
static int time_vector(struct ctx *c, const struct km_pq_grid *g, struct km_pq_vec *out)
{
    struct km_labels *l;
    struct km_pq_series *s;
    int rc;

    km_pq_vec_init(out, g->n);
    rc = km_labels_create(&l, NULL, 0);
    if (rc == 0)
        rc = km_pq_vec_add(out, l, &s);
    for (size_t i = 0; i < g->n && rc == 0; i++)
        rc = km_pq_set(out, c->b, s, i, (double)km_pq_grid_time(g, i) / 1e3);
    if (rc) /* the samples limit, half way: nothing is left to the caller */
        km_pq_vec_fini(out, c->b);
    return rc;
}

/* timestamp(v): the time of each sample in seconds — for a selector, of the sample read
 * (not of the step). */
static int call_timestamp(struct ctx *c, const struct km_promql_expr *arg,
                          const struct km_pq_grid *g, struct val *out)
{
    const struct km_promql_expr *a = km_promql_unparen(arg);
    struct val v;
    int rc;

    memset(out, 0, sizeof(*out));
    out->type = KM_PROMQL_TYPE_VECTOR;
    if (a->kind == KM_PROMQL_VECTOR_SELECTOR) {
        struct km_pq_selector sel = selector_of(c, a);
        struct km_pq_vec times;

        rc = km_pq_select_vector_times(c->q, &sel, g, c->o->lookback_ms, c->b, &times);
        if (rc)
            return rc;
        rc = km_pq_drop_names(&times, 1e3, c->b, &out->vec);
        km_pq_vec_fini(&times, c->b);
        return rc;
    }
    rc = eval(c, arg, g, &v);
    if (rc)
        return rc;
    for (size_t si = 0; si < v.vec.n; si++) {
        for (size_t i = 0; i < g->n; i++)
            v.vec.s[si].v[i] = (double)km_pq_grid_time(g, i);
    }
    rc = km_pq_drop_names(&v.vec, 1e3, c->b, &out->vec);
    val_fini(&v, c->b);
    return rc;
}

static int call(struct ctx *c, const struct km_promql_expr *e, const struct km_pq_grid *g,
                struct val *out)
{
    enum km_promql_func_id id = e->call.func->id;
    struct km_promql_expr *const *args = e->call.args;
    size_t nargs = e->call.nargs;
    enum km_pq_mathfn mfn;
    struct val v = { 0 };
    double *p1 = NULL, *p2 = NULL;
    int rc = 0;

    if (is_range_fn(id))
        return call_range_fn(c, e, g, NULL, out);
    switch (id) {
    case KM_PROMQL_FN_ABSENT_OVER_TIME:
        return call_absent_over_time(c, e, g, out);
    case KM_PROMQL_FN_TIME:
    case KM_PROMQL_FN_PI:
        rc = scalar_new(out, g);
        for (size_t i = 0; rc == 0 && i < g->n; i++)
            out->sc[i] = id == KM_PROMQL_FN_PI ? M_PI : (double)km_pq_grid_time(g, i) / 1e3;
        return rc;
    case KM_PROMQL_FN_SCALAR:
        rc = eval(c, args[0], g, &v);
        if (rc == 0)
            rc = scalar_new(out, g);
        if (rc == 0)
            km_pq_scalar_of(&v.vec, out->sc);
        val_fini(&v, c->b);
        return rc;
    case KM_PROMQL_FN_VECTOR:
        rc = eval_scalar(c, args[0], g, &p1);
        memset(out, 0, sizeof(*out));
        out->type = KM_PROMQL_TYPE_VECTOR;
        if (rc == 0)
            rc = time_vector(c, g, &out->vec);
        for (size_t i = 0; rc == 0 && i < g->n; i++)
            out->vec.s[0].v[i] = p1[i];
        free(p1);
        return rc;
    case KM_PROMQL_FN_TIMESTAMP:
        return call_timestamp(c, args[0], g, out);
    case KM_PROMQL_FN_HISTOGRAM_COUNT:
    case KM_PROMQL_FN_HISTOGRAM_SUM:
    case KM_PROMQL_FN_HISTOGRAM_FRACTION:
        /* Native histograms only: float series give nothing. */
        memset(out, 0, sizeof(*out));
        out->type = KM_PROMQL_TYPE_VECTOR;
        km_pq_vec_init(&out->vec, g->n);
        return 0;
    default:
        break;
    }
    /* The rest take an instant vector first (or default to vector(time())). */
    memset(out, 0, sizeof(*out));
    out->type = KM_PROMQL_TYPE_VECTOR;
    if (nargs == 0) {
        v.type = KM_PROMQL_TYPE_VECTOR;
        rc = time_vector(c, g, &v.vec);
    } else if (id == KM_PROMQL_FN_HISTOGRAM_QUANTILE) {
        rc = eval_scalar(c, args[0], g, &p1);
        if (rc == 0)
            rc = eval(c, args[1], g, &v);
        if (rc == 0)
            rc = km_pq_histogram_quantile(p1, &v.vec, c->b, &out->vec);
        goto out;
    } else {
        rc = eval(c, args[0], g, &v);
    }
    if (rc)
        goto out;
    if (mathfn_of(id, &mfn)) {
        rc = km_pq_map(mfn, &v.vec, c->b, &out->vec);
        goto out;
    }
    switch (id) {
    case KM_PROMQL_FN_ROUND:
        if (nargs > 1) {
            rc = eval_scalar(c, args[1], g, &p1);
        } else if ((p1 = malloc(g->n * sizeof(double))) != NULL) {
            for (size_t i = 0; i < g->n; i++)
                p1[i] = 1;
        } else {
            rc = km_err_set(KM_ENOMEM, "out of memory evaluating round");
        }
        if (rc == 0)
            rc = km_pq_round(&v.vec, p1, c->b, &out->vec);
        break;
    case KM_PROMQL_FN_CLAMP:
        rc = eval_scalar(c, args[1], g, &p1);
        if (rc == 0)
            rc = eval_scalar(c, args[2], g, &p2);
        if (rc == 0)
            rc = km_pq_clamp(&v.vec, p1, p2, c->b, &out->vec);
        break;
    case KM_PROMQL_FN_CLAMP_MIN:
    case KM_PROMQL_FN_CLAMP_MAX:
        rc = eval_scalar(c, args[1], g, &p1);
        if (rc == 0)
            rc = km_pq_clamp(&v.vec, id == KM_PROMQL_FN_CLAMP_MIN ? p1 : NULL,
                             id == KM_PROMQL_FN_CLAMP_MAX ? p1 : NULL, c->b, &out->vec);
        break;
    case KM_PROMQL_FN_LABEL_REPLACE:
        rc = km_pq_label_replace(&v.vec, string_arg(args[1]), string_arg(args[2]),
                                 string_arg(args[3]), string_arg(args[4]), c->b, &out->vec);
        break;
    case KM_PROMQL_FN_LABEL_JOIN: {
        const char *src[KM_LIMIT_LABELS_PER_SERIES];
        size_t n = 0;

        for (size_t i = 3; i < nargs && n < KM_LIMIT_LABELS_PER_SERIES; i++)
            src[n++] = string_arg(args[i]);
        rc = km_pq_label_join(&v.vec, string_arg(args[1]), string_arg(args[2]), src, n, c->b,
                              &out->vec);
        break;
    }
    case KM_PROMQL_FN_ABSENT: {
        const struct km_promql_expr *a = km_promql_unparen(args[0]);
        struct km_labels *l;

        if (a->kind == KM_PROMQL_VECTOR_SELECTOR)
            rc = km_pq_absent_labels(a->vector.matchers, a->vector.nmatchers, &l);
        else
            rc = km_labels_create(&l, NULL, 0);
        if (rc == 0)
            rc = km_pq_absent(&v.vec, l, c->b, &out->vec);
        break;
    }
    case KM_PROMQL_FN_SORT:
    case KM_PROMQL_FN_SORT_DESC:
        /* The series as they are; an instant query lists them by value. */
        out->vec = v.vec;
        v.type = KM_PROMQL_TYPE_NONE;
        if (c->instant)
            km_pq_sort_by_value(&out->vec, id == KM_PROMQL_FN_SORT_DESC);
        break;
    default:
        rc = km_err_set(KM_EINVAL, "function %s is not supported", e->call.func->name);
        break;
    }
out:
    val_fini(&v, c->b);
    free(p1);
    free(p2);
    return rc;
}

/* ---- operators ------------------------------------------------------------------------------ */

static enum km_pq_binop binop_of(enum km_promql_binop op)
{
    switch (op) {
    case KM_PROMQL_OP_POW:
        return KM_PQ_POW;
    case KM_PROMQL_OP_MUL:
        return KM_PQ_MUL;
    case KM_PROMQL_OP_DIV:
        return KM_PQ_DIV;
    case KM_PROMQL_OP_MOD:
        return KM_PQ_MOD;
    case KM_PROMQL_OP_ATAN2:
        return KM_PQ_ATAN2;
    case KM_PROMQL_OP_ADD:
        return KM_PQ_ADD;
    case KM_PROMQL_OP_SUB:
        return KM_PQ_SUB;
    case KM_PROMQL_OP_EQL:
        return KM_PQ_EQL;
    case KM_PROMQL_OP_NEQ:
        return KM_PQ_NEQ;
    case KM_PROMQL_OP_LTE:
        return KM_PQ_LTE;
    case KM_PROMQL_OP_LSS:
        return KM_PQ_LSS;
    case KM_PROMQL_OP_GTE:
        return KM_PQ_GTE;
    case KM_PROMQL_OP_GTR:
        return KM_PQ_GTR;
    case KM_PROMQL_OP_AND:
        return KM_PQ_AND;
    case KM_PROMQL_OP_UNLESS:
        return KM_PQ_UNLESS;
    default:
        return KM_PQ_OR;
    }
}

/* Whether every series e yields has no labels but perhaps a name: an aggregation
 * without grouping, vector(), and what keeps their labels (parentheses, a sign, an
 * operator with a number). */
static bool yields_unlabelled(const struct km_promql_expr *e)
{
    e = km_promql_unparen(e);
    switch (e->kind) {
    case KM_PROMQL_AGGREGATE:
        return !e->aggregate.without && e->aggregate.grouping.n == 0 &&
               e->aggregate.op != KM_PROMQL_AGG_TOPK && e->aggregate.op != KM_PROMQL_AGG_BOTTOMK &&
               e->aggregate.op != KM_PROMQL_AGG_COUNT_VALUES;
    case KM_PROMQL_CALL:
        return e->call.func->id == KM_PROMQL_FN_VECTOR;
    case KM_PROMQL_UNARY:
        return yields_unlabelled(e->unary.expr);
    case KM_PROMQL_BINARY:
        if (e->binary.lhs->type == KM_PROMQL_TYPE_SCALAR)
            return yields_unlabelled(e->binary.rhs);
        if (e->binary.rhs->type == KM_PROMQL_TYPE_SCALAR)
            return yields_unlabelled(e->binary.lhs);
        return false;
    default:
        return false;
    }
}

static struct km_pq_matching matching_of(const struct km_promql_expr *e)
{
    const struct km_promql_matching *pm = e->binary.matching;

    return (struct km_pq_matching){
        .card = pm ? (enum km_pq_card)pm->card : KM_PQ_ONE_TO_ONE,
        .on = pm && pm->on,
        .labels = pm ? (const char *const *)pm->labels.names : NULL,
        .nlabels = pm ? pm->labels.n : 0,
        .include = pm ? (const char *const *)pm->include.names : NULL,
        .ninclude = pm ? pm->include.n : 0,
    };
}

static int binary(struct ctx *c, const struct km_promql_expr *e, const struct km_pq_grid *g,
                  struct val *out)
{
    enum km_pq_binop op = binop_of(e->binary.op);
    struct km_pq_matching m = matching_of(e);
    struct val l, r;
    int rc;

    rc = eval(c, e->binary.lhs, g, &l);
    if (rc)
        return rc;
    /* `A or sum(B)`, the fallback dashboards write: when A has its unlabelled series at
     * every step nothing of the right side can be kept, so it is not read. */
    if (op == KM_PQ_OR && l.type == KM_PROMQL_TYPE_VECTOR && yields_unlabelled(e->binary.rhs) &&
        km_pq_binop_covers_unlabelled(&m, &l.vec)) {
        *out = l;
        return 0;
    }
    rc = eval(c, e->binary.rhs, g, &r);
    if (rc) {
        val_fini(&l, c->b);
        return rc;
    }
    memset(out, 0, sizeof(*out));
    if (l.type == KM_PROMQL_TYPE_SCALAR && r.type == KM_PROMQL_TYPE_SCALAR) {
        rc = scalar_new(out, g);
        for (size_t i = 0; i < g->n && rc == 0; i++) {
            bool keep;
            double x = km_pq_binop_apply(op, l.sc[i], r.sc[i], &keep);

            out->sc[i] = km_pq_binop_is_comparison(op) ? (keep ? 1 : 0) : x;
        }
    } else if (l.type == KM_PROMQL_TYPE_VECTOR && r.type == KM_PROMQL_TYPE_VECTOR) {
        out->type = KM_PROMQL_TYPE_VECTOR;
        rc = km_pq_binop_vectors(op, e->binary.return_bool, &m, &l.vec, &r.vec, c->b, &out->vec);
    } else {
        bool scalar_left = l.type == KM_PROMQL_TYPE_SCALAR;

        out->type = KM_PROMQL_TYPE_VECTOR;
        rc = km_pq_binop_vector_scalar(op, e->binary.return_bool, scalar_left ? &r.vec : &l.vec,
                                       scalar_left ? l.sc : r.sc, scalar_left, c->b, &out->vec);
    }
    val_fini(&l, c->b);
    val_fini(&r, c->b);
    if (rc)
        val_fini(out, c->b);
    return rc;
}

static int unary(struct ctx *c, const struct km_promql_expr *e, const struct km_pq_grid *g,
                 struct val *out)
{
    struct val v;
    int rc = eval(c, e->unary.expr, g, &v);

    if (rc || e->unary.op != KM_PROMQL_OP_SUB) {
        *out = v;
        return rc;
    }
    if (v.type == KM_PROMQL_TYPE_SCALAR) {
        for (size_t i = 0; i < g->n; i++)
            v.sc[i] = -v.sc[i];
        *out = v;
        return 0;
    }
    /* -v is v * -1 with the name dropped (and its "same labelset" error). */
    memset(out, 0, sizeof(*out));
    out->type = KM_PROMQL_TYPE_VECTOR;
    {
        double *m1 = malloc((g->n ? g->n : 1) * sizeof(double));

        if (!m1) {
            rc = km_err_set(KM_ENOMEM, "out of memory evaluating a query");
        } else {
            for (size_t i = 0; i < g->n; i++)
                m1[i] = -1;
            rc = km_pq_binop_vector_scalar(KM_PQ_MUL, false, &v.vec, m1, false, c->b, &out->vec);
            free(m1);
        }
    }
    val_fini(&v, c->b);
    return rc;
}

static enum km_pq_aggr aggr_of(enum km_promql_aggop op)
{
    return (enum km_pq_aggr)op; /* the two enums list the operators in the same order */
}

/* Whether an aggregation can fold its argument series by series instead of holding them
 * all: a running fold (not topk, quantile, count_values: they need every value of a step)
 * over a selector, or over a function of a range selector that cannot make two inputs
 * one (the selector names one metric, or the function keeps names). */
static bool streams(enum km_pq_aggr op, const struct km_promql_expr *arg)
{
    const struct km_promql_expr *r;

    if (!km_pq_aggregate_streams(op))
        return false;
    arg = km_promql_unparen(arg);
    if (arg->kind == KM_PROMQL_VECTOR_SELECTOR)
        return true;
    if (arg->kind != KM_PROMQL_CALL || !is_range_fn(arg->call.func->id) ||
        arg->call.func->id == KM_PROMQL_FN_QUANTILE_OVER_TIME)
        return false;
    r = km_promql_unparen(arg->call.args[0]);
    if (r->kind != KM_PROMQL_MATRIX_SELECTOR)
        return false;
    if (arg->call.func->id == KM_PROMQL_FN_LAST_OVER_TIME)
        return true;
    for (size_t i = 0; i < r->matrix.vector->vector.nmatchers; i++) {
        const struct km_matcher *m = r->matrix.vector->vector.matchers[i];

        if (m->type == KM_MATCH_EQ && strcmp(m->name, KM_METRIC_NAME_LABEL) == 0)
            return true;
    }
    return false;
}

static int stream_add(void *ud, const struct km_labels *l, bool drop_name, const double *v,
                      const uint64_t *set)
{
    return km_pq_aggregate_stream_add(ud, l, drop_name, v, set);
}

static int aggregate_stream(struct ctx *c, enum km_pq_aggr op, const struct km_pq_grouping *grp,
                            const struct km_promql_expr *arg, const struct km_pq_grid *g,
                            struct val *out)
{
    struct km_pq_agg_stream *st;
    struct km_pq_sink sink;
    struct val v = { 0 };
    int rc;

    memset(out, 0, sizeof(*out));
    out->type = KM_PROMQL_TYPE_VECTOR;
    rc = km_pq_aggregate_stream_open(&st, op, grp, g->n, c->b);
    if (rc)
        return rc;
    sink = (struct km_pq_sink){ stream_add, st };
    arg = km_promql_unparen(arg);
    v.type = KM_PROMQL_TYPE_VECTOR;
    if (arg->kind == KM_PROMQL_VECTOR_SELECTOR) {
        struct km_pq_selector sel = selector_of(c, arg);

        rc = km_pq_select_vector(c->q, &sel, g, c->o->lookback_ms, &sink, c->b, &v.vec);
    } else {
        rc = call_range_fn(c, arg, g, &sink, &v);
    }
    val_fini(&v, c->b);
    if (rc == 0)
        rc = km_pq_aggregate_stream_finish(st, &out->vec);
    km_pq_aggregate_stream_destroy(st);
    return rc;
}

static int aggregate(struct ctx *c, const struct km_promql_expr *e, const struct km_pq_grid *g,
                     struct val *out)
{
    struct km_pq_grouping grp = {
        .labels = (const char *const *)e->aggregate.grouping.names,
        .n = e->aggregate.grouping.n,
        .without = e->aggregate.without,
    };
    enum km_pq_aggr op = aggr_of(e->aggregate.op);
    const char *label = NULL;
    double *param = NULL;
    struct val v;
    int rc = 0;

    if (op == KM_PQ_COUNT_VALUES) {
        label = string_arg(e->aggregate.param);
        if (!km_label_name_valid(label, strlen(label)))
            return km_err_set(KM_EINVAL, "invalid label name \"%s\"", label);
    } else if (e->aggregate.param) {
        rc = eval_scalar(c, e->aggregate.param, g, &param);
    }
    if (rc == 0 && streams(op, e->aggregate.expr)) {
        free(param);
        return aggregate_stream(c, op, &grp, e->aggregate.expr, g, out);
    }
    if (rc == 0)
        rc = eval(c, e->aggregate.expr, g, &v);
    if (rc) {
        free(param);
        return rc;
    }
    memset(out, 0, sizeof(*out));
    out->type = KM_PROMQL_TYPE_VECTOR;
    rc = km_pq_aggregate(op, &v.vec, &grp, param, label, c->instant, c->b, &out->vec);
    val_fini(&v, c->b);
    free(param);
    return rc;
}

/* ---- the walk ------------------------------------------------------------------------------ */

static int eval(struct ctx *c, const struct km_promql_expr *e, const struct km_pq_grid *g,
                struct val *out)
{
    int rc = km_pq_budget_check(c->b);

    memset(out, 0, sizeof(*out));
    if (rc)
        return rc;
    switch (e->kind) {
    case KM_PROMQL_NUMBER:
        rc = scalar_new(out, g);
        for (size_t i = 0; rc == 0 && i < g->n; i++)
            out->sc[i] = e->number.value;
        return rc;
    case KM_PROMQL_STRING:
        out->type = KM_PROMQL_TYPE_STRING;
        out->str = e->string.value;
        out->len = e->string.len;
        return 0;
    case KM_PROMQL_PAREN:
        return eval(c, e->paren.expr, g, out);
    case KM_PROMQL_UNARY:
        return unary(c, e, g, out);
    case KM_PROMQL_BINARY:
        return binary(c, e, g, out);
    case KM_PROMQL_AGGREGATE:
        return aggregate(c, e, g, out);
    case KM_PROMQL_CALL:
        return call(c, e, g, out);
    case KM_PROMQL_VECTOR_SELECTOR: {
        struct km_pq_selector sel = selector_of(c, e);

        out->type = KM_PROMQL_TYPE_VECTOR;
        return km_pq_select_vector(c->q, &sel, g, c->o->lookback_ms, NULL, c->b, &out->vec);
    }
    case KM_PROMQL_MATRIX_SELECTOR:
    case KM_PROMQL_SUBQUERY:
        out->type = KM_PROMQL_TYPE_MATRIX;
        return eval_range_value(c, e, g, &out->rg);
    }
    return km_err_set(KM_EINVAL, "unknown expression");
}

/* ---- what a query reads ----------------------------------------------------------------- */

struct span {
    int64_t mint, maxt;
    bool any;
};

static void span_add(struct span *s, int64_t mint, int64_t maxt)
{
    if (!s->any || mint < s->mint)
        s->mint = mint;
    if (!s->any || maxt > s->maxt)
        s->maxt = maxt;
    s->any = true;
}

/* The times the selectors under e read when e is evaluated over [start, end]. */
static void find_span(const struct ctx *c, const struct km_promql_expr *e, int64_t start,
                      int64_t end, struct span *s)
{
    switch (e->kind) {
    case KM_PROMQL_VECTOR_SELECTOR:
    case KM_PROMQL_MATRIX_SELECTOR: {
        const struct km_promql_expr *vs =
            e->kind == KM_PROMQL_MATRIX_SELECTOR ? e->matrix.vector : e;
        struct km_pq_selector sel = selector_of(c, vs);
        int64_t back =
            e->kind == KM_PROMQL_MATRIX_SELECTOR ? e->matrix.range_ms : c->o->lookback_ms;
        int64_t a = km_pq_time_sub(sel.has_at ? sel.at_ms : start, sel.offset_ms);
        int64_t b = km_pq_time_sub(sel.has_at ? sel.at_ms : end, sel.offset_ms);

        span_add(s, km_pq_time_sub(a, back), b);
        return;
    }
    case KM_PROMQL_SUBQUERY: {
        struct km_pq_selector sel = subquery_selector(c, e);
        int64_t a = km_pq_time_sub(sel.has_at ? sel.at_ms : start, sel.offset_ms);
        int64_t b = km_pq_time_sub(sel.has_at ? sel.at_ms : end, sel.offset_ms);

        find_span(c, e->subquery.expr, km_pq_time_sub(a, e->subquery.range_ms), b, s);
        return;
    }
    case KM_PROMQL_PAREN:
        find_span(c, e->paren.expr, start, end, s);
        return;
    case KM_PROMQL_UNARY:
        find_span(c, e->unary.expr, start, end, s);
        return;
    case KM_PROMQL_BINARY:
        find_span(c, e->binary.lhs, start, end, s);
        find_span(c, e->binary.rhs, start, end, s);
        return;
    case KM_PROMQL_AGGREGATE:
        if (e->aggregate.param)
            find_span(c, e->aggregate.param, start, end, s);
        find_span(c, e->aggregate.expr, start, end, s);
        return;
    case KM_PROMQL_CALL:
        for (size_t i = 0; i < e->call.nargs; i++)
            find_span(c, e->call.args[i], start, end, s);
        return;
    default:
        return;
    }
}

/* ---- queries --------------------------------------------------------------------------------- */

void km_pq_opts_default(struct km_pq_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->lookback_ms = 5 * 60 * 1000;
    o->subquery_step_ms = 60 * 1000;
    o->max_samples = 50000000;
    o->timeout_ms = 2 * 60 * 1000;
}

void km_pq_result_fini(struct km_pq_result *r)
{
    free(r->scalar);
    free(r->string);
    km_pq_vec_fini(&r->vec, NULL);
    km_pq_range_fini(&r->range, NULL);
    memset(r, 0, sizeof(*r));
}

static int run(struct km_storage *store, const struct km_promql_expr *e, int64_t start, int64_t end,
               int64_t step, bool instant, const struct km_pq_opts *o, struct km_pq_result *out)
{
    struct km_pq_budget b = { .max_samples = o->max_samples };
    struct ctx c = { .o = o, .start = start, .end = end, .instant = instant, .b = &b };
    struct km_pq_grid g = { start, instant ? 1 : step, 0 };
    struct span span = { 0 };
    struct val v;
    int rc;

    memset(out, 0, sizeof(*out));
    if (o->timeout_ms > 0)
        b.deadline_ns = km_time_mono_ns() + o->timeout_ms * 1000000;
    b.cancelled = o->cancelled;
    b.cancel_ud = o->cancel_ud;
    /* end − start may not fit an int64 (from -9.2e15 s to 9.2e15 s, as the API parses
     * times); it fits a uint64. */
    g.n = instant ? 1 : (size_t)(((uint64_t)end - (uint64_t)start) / (uint64_t)step) + 1;
    find_span(&c, e, start, end, &span);
    rc = km_querier_open(store, span.any ? span.mint : start, span.any ? span.maxt : end, &c.q);
    if (rc)
        return rc;
    km_querier_set_any_order(c.q, o->any_order && instant);
    rc = eval(&c, e, &g, &v);
    km_querier_close(c.q);
    if (rc)
        return rc;
    out->grid = g;
    out->peak_samples = b.peak;
    if (v.type == KM_PROMQL_TYPE_SCALAR && !instant) {
        /* A range query of a scalar is a matrix of one series without labels. */
        struct km_labels *l;
        struct km_pq_series *s;

        km_pq_vec_init(&v.vec, g.n);
        rc = km_labels_create(&l, NULL, 0);
        if (rc == 0)
            rc = km_pq_vec_add(&v.vec, l, &s);
        for (size_t i = 0; i < g.n && rc == 0; i++)
            rc = km_pq_set(&v.vec, NULL, s, i, v.sc[i]);
        free(v.sc);
        v.sc = NULL;
        v.type = KM_PROMQL_TYPE_VECTOR;
    }
    switch (v.type) {
    case KM_PROMQL_TYPE_SCALAR:
        out->type = KM_PQ_RESULT_SCALAR;
        out->scalar = v.sc;
        break;
    case KM_PROMQL_TYPE_STRING:
        out->type = KM_PQ_RESULT_STRING;
        out->string = strndup(v.str, v.len);
        if (!out->string)
            rc = km_err_set(KM_ENOMEM, "out of memory");
        break;
    case KM_PROMQL_TYPE_MATRIX:
        out->type = KM_PQ_RESULT_MATRIX;
        out->range = v.rg;
        out->range_form = true;
        break;
    default:
        out->type = instant ? KM_PQ_RESULT_VECTOR : KM_PQ_RESULT_MATRIX;
        out->vec = v.vec;
        if (!instant)
            km_pq_vec_sort(&out->vec);
        break;
    }
    /* The result no longer counts against a budget (it leaves with the caller). */
    out->vec.points = 0;
    out->range.points = 0;
    return rc;
}

int km_pq_eval_instant(struct km_storage *store, const struct km_promql_expr *e, int64_t time,
                       const struct km_pq_opts *o, struct km_pq_result *out)
{
    return run(store, e, time, time, 0, true, o, out);
}

int km_pq_eval_range(struct km_storage *store, const struct km_promql_expr *e, int64_t start,
                     int64_t end, int64_t step, const struct km_pq_opts *o,
                     struct km_pq_result *out)
{
    if (e->type != KM_PROMQL_TYPE_SCALAR && e->type != KM_PROMQL_TYPE_VECTOR)
        return km_err_set(KM_EINVAL,
                          "invalid expression type \"%s\" for range query, must be Scalar or "
                          "instant Vector",
                          km_promql_type_name(e->type));
    if (step <= 0)
        return km_err_set(KM_EINVAL, "zero or negative query resolution step widths are not "
                                     "accepted. Try a positive integer");
    if (end < start)
        return km_err_set(KM_EINVAL, "end timestamp must not be before start time");
    return run(store, e, start, end, step, false, o, out);
}
