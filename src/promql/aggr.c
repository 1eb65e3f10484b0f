/*
 * aggr — aggregation operators (see aggr.h).
 *
 * Series are assigned to groups once (hash of the grouping labels, confirmed by
 * comparison); then each group is folded step by step over its members. topk/bottomk
 * keep their members' own labels and set a step only for the members chosen there;
 * count_values labels each series with its value first and groups after that, as
 * Prometheus does.
 */
#include "promql/aggr.h"

#include "common/array.h"
#include "common/err.h"
#include "common/limits.h"
#include "promql/fmt.h"
#include "promql/rangefn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct group {
    size_t first;    /* the input series that opened it */
    size_t *members; /* input series indices, in input order */
    size_t n, cap;
};

struct grouper {
    const struct km_pq_vec *in;
    const struct km_pq_grouping *g;
    struct group *groups;
    size_t ngroups, capgroups;
    size_t *slots; /* group index + 1, 0 empty; open addressing */
    uint64_t *hashes;
    size_t nslots;
};

static bool same_group(const struct grouper *gr, size_t a, size_t b)
{
    const struct km_pq_grouping *g = gr->g;

    return km_pq_labels_group_eq(gr->in->s[a].labels, gr->in->s[b].labels, g->labels, g->n,
                                 !g->without, g->without);
}

static int add_member(struct group *grp, size_t idx)
{
    if (grp->n == grp->cap) {
        size_t ncap = grp->cap ? grp->cap * 2 : 4;
        size_t *p = realloc(grp->members, ncap * sizeof(*p));

        if (!p)
            return km_err_set(KM_ENOMEM, "out of memory aggregating");
        grp->members = p;
        grp->cap = ncap;
    }
    grp->members[grp->n++] = idx;
    return 0;
}

/* Assign every input series to its group, in order of first appearance. */
static int group_all(struct grouper *gr)
{
    const struct km_pq_grouping *g = gr->g;

    gr->nslots = 16;
    while (gr->nslots < gr->in->n * 2)
        gr->nslots *= 2;
    gr->slots = calloc(gr->nslots, sizeof(*gr->slots));
    gr->hashes = calloc(gr->nslots, sizeof(*gr->hashes));
    if (!gr->slots || !gr->hashes)
        return km_err_set(KM_ENOMEM, "out of memory aggregating");
    for (size_t i = 0; i < gr->in->n; i++) {
        uint64_t h =
            km_pq_labels_group_hash(gr->in->s[i].labels, g->labels, g->n, !g->without, g->without);
        size_t k = h & (gr->nslots - 1);
        int rc;

        while (gr->slots[k] &&
               !(gr->hashes[k] == h && same_group(gr, gr->groups[gr->slots[k] - 1].first, i)))
            k = (k + 1) & (gr->nslots - 1);
        if (!gr->slots[k]) {
            if (gr->ngroups == gr->capgroups) {
                size_t ncap = gr->capgroups ? gr->capgroups * 2 : 16;
                struct group *p = realloc(gr->groups, ncap * sizeof(*p));

                if (!p)
                    return km_err_set(KM_ENOMEM, "out of memory aggregating");
                gr->groups = p;
                gr->capgroups = ncap;
            }
            memset(&gr->groups[gr->ngroups], 0, sizeof(struct group));
            gr->groups[gr->ngroups].first = i;
            gr->slots[k] = ++gr->ngroups;
            gr->hashes[k] = h;
        }
        rc = add_member(&gr->groups[gr->slots[k] - 1], i);
        if (rc)
            return rc;
    }
    return 0;
}

static void grouper_fini(struct grouper *gr)
{
    for (size_t i = 0; i < gr->ngroups; i++)
        free(gr->groups[i].members);
    free(gr->groups);
    free(gr->slots);
    free(gr->hashes);
}

/* The labels of a group's result: the grouping labels of its first series. */
static int group_labels(const struct grouper *gr, const struct group *grp, struct km_labels **out)
{
    const struct km_pq_grouping *g = gr->g;

    return km_pq_labels_filter(gr->in->s[grp->first].labels, g->labels, g->n, !g->without,
                               g->without, out);
}

/* ---- simple folds ------------------------------------------------------------------------ */

/* One value into a running fold, the way Prometheus 2.42 folds it (`count` includes v;
 * the first value starts the state as Prometheus' newAgg does). */
static inline void fold_add(enum km_pq_aggr op, double *acc, double *mean, double count, double v)
{
    if (count == 1) {
        *acc = op == KM_PQ_STDDEV || op == KM_PQ_STDVAR ? 0 : v;
        *mean = v;
        return;
    }
    switch (op) {
    case KM_PQ_SUM:
        *acc += v;
        break;
    case KM_PQ_AVG:
        if (isinf(*mean) && ((isinf(v) && (*mean > 0) == (v > 0)) || (!isinf(v) && !isnan(v))))
            break; /* an infinite mean stays (Inf - Inf would make it NaN) */
        *mean += v / count - *mean / count;
        break;
    case KM_PQ_MIN:
        if (*acc > v || isnan(*acc))
            *acc = v;
        break;
    case KM_PQ_MAX:
        if (*acc < v || isnan(*acc))
            *acc = v;
        break;
    case KM_PQ_STDDEV:
    case KM_PQ_STDVAR: {
        double delta = v - *mean;

        *mean += delta / count;
        *acc += delta * (v - *mean);
        break;
    }
    default:
        break;
    }
}

/* A running fold's answer. */
static double fold_result(enum km_pq_aggr op, double acc, double mean, double count)
{
    switch (op) {
    case KM_PQ_AVG:
        return mean;
    case KM_PQ_COUNT:
        return count;
    case KM_PQ_GROUP:
        return 1;
    case KM_PQ_STDDEV:
        return sqrt(acc / count);
    case KM_PQ_STDVAR:
        return acc / count;
    default:
        return acc;
    }
}

/* Fold one group at step i; false when no member has a value there. */
static bool fold(enum km_pq_aggr op, const struct km_pq_vec *in, const struct group *grp, size_t i,
                 double q, double *scratch, double *out)
{
    double acc = 0, mean = 0, count = 0;
    size_t k = 0;

    for (size_t m = 0; m < grp->n; m++) {
        const struct km_pq_series *s = &in->s[grp->members[m]];

        if (!km_pq_has(s, i))
            continue;
        count++;
        if (op == KM_PQ_QUANTILE)
            scratch[k++] = s->v[i];
        else
            fold_add(op, &acc, &mean, count, s->v[i]);
    }
    if (count == 0)
        return false;
    *out = op == KM_PQ_QUANTILE ? km_pq_quantile(q, scratch, k) : fold_result(op, acc, mean, count);
    return true;
}

static int aggregate_folds(enum km_pq_aggr op, struct grouper *gr, const double *param,
                           struct km_pq_budget *b, struct km_pq_vec *out)
{
    const struct km_pq_vec *in = gr->in;
    size_t maxm = 0;
    double *scratch;
    int rc = 0;

    for (size_t gi = 0; gi < gr->ngroups; gi++)
        maxm = gr->groups[gi].n > maxm ? gr->groups[gi].n : maxm;
    scratch = malloc((maxm ? maxm : 1) * sizeof(double));
    if (!scratch)
        return km_err_set(KM_ENOMEM, "out of memory aggregating");
    for (size_t gi = 0; gi < gr->ngroups && rc == 0; gi++) {
        struct km_labels *l;
        struct km_pq_series *s;

        rc = group_labels(gr, &gr->groups[gi], &l);
        if (rc == 0)
            rc = km_pq_vec_add(out, l, &s);
        for (size_t i = 0; i < in->nsteps && rc == 0; i++) {
            double v;

            if (fold(op, in, &gr->groups[gi], i, param ? param[i] : 0, scratch, &v))
                rc = km_pq_set(out, b, s, i, v);
        }
    }
    free(scratch);
    return rc;
}

/* ---- topk, bottomk ----------------------------------------------------------------------- */

struct cand {
    double v;
    size_t m; /* position in the group: ties go to the earlier series */
};

static bool nan_or(double x)
{
    return isnan(x);
}

/* topk: larger first, NaN last; bottomk: smaller first, NaN last; ties by position. */
static int cmp_top(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;

    if (nan_or(x->v) != nan_or(y->v))
        return nan_or(x->v) ? 1 : -1;
    if (!nan_or(x->v) && x->v != y->v)
        return x->v > y->v ? -1 : 1;
    return (x->m > y->m) - (x->m < y->m);
}

static int cmp_bottom(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;

    if (nan_or(x->v) != nan_or(y->v))
        return nan_or(x->v) ? 1 : -1;
    if (!nan_or(x->v) && x->v != y->v)
        return x->v < y->v ? -1 : 1;
    return (x->m > y->m) - (x->m < y->m);
}

/* Put the k first of c[0..n) in the order cmp gives (a total order) at the front, sorted:
 * with k much smaller than n a heap of the k best keeps it O(n log k). Returns how many
 * (min(k, n)). */
static size_t select_first(struct cand *c, size_t n, size_t k,
                           int (*cmp)(const void *, const void *))
{
    if (k >= n / 4) {
        km_sort(c, n, sizeof(*c), cmp);
        return k < n ? k : n;
    }
    /* c[0..k) is a heap whose root is the worst of the k best so far. */
    for (size_t i = 1; i < k; i++) {
        for (size_t j = i; j > 0 && cmp(&c[(j - 1) / 2], &c[j]) < 0; j = (j - 1) / 2) {
            struct cand t = c[j];

            c[j] = c[(j - 1) / 2];
            c[(j - 1) / 2] = t;
        }
    }
    for (size_t i = k; i < n; i++) {
        size_t j = 0;

        if (cmp(&c[i], &c[0]) >= 0)
            continue;
        c[0] = c[i];
        for (;;) {
            size_t l = 2 * j + 1, r = l + 1, w = j;
            struct cand t;

            if (l < k && cmp(&c[l], &c[w]) > 0)
                w = l;
            if (r < k && cmp(&c[r], &c[w]) > 0)
                w = r;
            if (w == j)
                break;
            t = c[j];
            c[j] = c[w];
            c[w] = t;
            j = w;
        }
    }
    km_sort(c, k, sizeof(*c), cmp);
    return k;
}

static int aggregate_k(bool top, struct grouper *gr, const double *param, bool keep_order,
                       struct km_pq_budget *b, struct km_pq_vec *out)
{
    const struct km_pq_vec *in = gr->in;
    size_t *slot = malloc((in->n ? in->n : 1) * sizeof(*slot)); /* output series + 1 */
    struct cand *c = NULL;
    size_t maxm = 0;
    int rc = 0;

    if (!slot)
        return km_err_set(KM_ENOMEM, "out of memory aggregating");
    memset(slot, 0, (in->n ? in->n : 1) * sizeof(*slot));
    for (size_t gi = 0; gi < gr->ngroups; gi++)
        maxm = gr->groups[gi].n > maxm ? gr->groups[gi].n : maxm;
    c = malloc((maxm ? maxm : 1) * sizeof(*c));
    if (!c)
        rc = km_err_set(KM_ENOMEM, "out of memory aggregating");
    for (size_t i = 0; i < in->nsteps && rc == 0; i++) {
        double kf = param ? param[i] : 0;
        size_t k;

        if (!(kf >= 1)) /* NaN, below one: nothing at this step */
            continue;
        k = kf >= 9e18 ? SIZE_MAX : (size_t)kf;
        for (size_t gi = 0; gi < gr->ngroups && rc == 0; gi++) {
            const struct group *grp = &gr->groups[gi];
            size_t nc = 0;

            for (size_t m = 0; m < grp->n; m++) {
                const struct km_pq_series *s = &in->s[grp->members[m]];

                if (km_pq_has(s, i))
                    c[nc++] = (struct cand){ s->v[i], m };
            }
            nc = select_first(c, nc, k, top ? cmp_top : cmp_bottom);
            for (size_t r = 0; r < nc && rc == 0; r++) {
                size_t idx = grp->members[c[r].m];
                struct km_pq_series *o;

                if (!slot[idx]) {
                    struct km_labels *l;

                    rc = km_labels_dup(&l, in->s[idx].labels);
                    if (rc == 0)
                        rc = km_pq_vec_add(out, l, &o);
                    if (rc)
                        break;
                    slot[idx] = out->n;
                }
                o = &out->s[slot[idx] - 1];
                rc = km_pq_set(out, b, o, i, c[r].v);
            }
        }
    }
    /* An instant query lists each group's series by value, groups in order of first
     * appearance. */
    if (rc == 0 && keep_order && in->nsteps == 1 && out->n > 1) {
        struct km_pq_series *sorted = malloc(out->n * sizeof(*sorted));
        size_t w = 0;

        if (!sorted) {
            rc = km_err_set(KM_ENOMEM, "out of memory aggregating");
        } else {
            for (size_t gi = 0; gi < gr->ngroups; gi++) {
                const struct group *grp = &gr->groups[gi];
                size_t nc = 0;

                for (size_t m = 0; m < grp->n; m++) {
                    if (slot[grp->members[m]])
                        c[nc++] = (struct cand){ out->s[slot[grp->members[m]] - 1].v[0], m };
                }
                km_sort(c, nc, sizeof(*c), top ? cmp_top : cmp_bottom);
                for (size_t r = 0; r < nc; r++)
                    sorted[w++] = out->s[slot[grp->members[c[r].m]] - 1];
            }
            memcpy(out->s, sorted, w * sizeof(*sorted));
            free(sorted);
        }
    }
    free(c);
    free(slot);
    return rc;
}

/* ---- count_values -------------------------------------------------------------------------- */

static bool listed_in(const char *name, const struct km_pq_grouping *g)
{
    for (size_t i = 0; i < g->n; i++) {
        if (strcmp(name, g->labels[i]) == 0)
            return true;
    }
    return false;
}

/* The output labels of series s counted with value `val`: as Prometheus, `label` is set
 * to the value first, then the grouping applies, with `label` one of the `by` labels
 * (so `count_values("job", x) by (job)` counts by value across jobs, and `without
 * (job)` drops the value too). */
static int count_values_labels(const struct km_labels *s, const struct km_pq_grouping *g,
                               const char *label, const char *val, struct km_labels **out)
{
    struct km_label l[KM_LIMIT_LABELS_PER_SERIES + 1];
    size_t n = 0;

    for (size_t j = 0; j < s->n && n < KM_LIMIT_LABELS_PER_SERIES; j++) {
        const char *name = s->v[j].name;

        if (strcmp(name, label) == 0)
            continue;
        if (g->without ? strcmp(name, KM_METRIC_NAME_LABEL) != 0 && !listed_in(name, g)
                       : listed_in(name, g))
            l[n++] = s->v[j];
    }
    if (!g->without || !listed_in(label, g))
        l[n++] = (struct km_label){ label, val };
    return km_labels_create(out, l, n);
}

/* One output series per label set (found by hash), counted step by step. A vector
 * keeps a row of every step for each of its series, and the values of a range query
 * can make a series each: past a row per point of the samples limit more are refused
 * (KM_ELIMIT), so that distinct values cannot take memory the limit does not count. */
static int aggregate_count_values(const struct km_pq_vec *in, const struct km_pq_grouping *g,
                                  const char *label, struct km_pq_budget *b, struct km_pq_vec *out)
{
    struct km_pq_index ix = { 0 };
    int rc = 0;

    for (size_t i = 0; i < in->nsteps && rc == 0; i++) {
        for (size_t si = 0; si < in->n && rc == 0; si++) {
            const struct km_pq_series *s = &in->s[si];
            char val[KM_PQ_FMT_MAX];
            struct km_labels *l;
            size_t o, had = out->n;

            if (!km_pq_has(s, i))
                continue;
            km_pq_fmt_float_f(val, sizeof(val), s->v[i]);
            rc = count_values_labels(s->labels, g, label, val, &l);
            if (rc == 0)
                rc = km_pq_index_get(&ix, out, l, &o);
            if (rc == 0 && out->n > had && b && b->max_samples &&
                (uint64_t)out->n * out->nsteps > b->max_samples)
                rc = km_err_set(KM_ELIMIT, "query processing would load too many samples into "
                                           "memory in query execution");
            if (rc == 0)
                rc = km_pq_set(out, b, &out->s[o], i,
                               km_pq_has(&out->s[o], i) ? out->s[o].v[i] + 1 : 1);
        }
    }
    km_pq_index_fini(&ix);
    return rc;
}

/* topk's and bottomk's k must fit an int64, as Prometheus checks at every step. */
static int check_k(const double *param, size_t n)
{
    for (size_t i = 0; param && i < n; i++) {
        if (!(param[i] >= -9223372036854775808.0 && param[i] <= 9223372036854775807.0)) {
            char v[KM_PQ_FMT_MAX];

            km_pq_fmt_float_g(v, sizeof(v), param[i]);
            return km_err_set(KM_EINVAL, "Scalar value %s overflows int64", v);
        }
    }
    return 0;
}

int km_pq_aggregate(enum km_pq_aggr op, const struct km_pq_vec *in, const struct km_pq_grouping *g,
                    const double *param, const char *label, bool keep_order, struct km_pq_budget *b,
                    struct km_pq_vec *out)
{
    struct grouper gr = { .in = in, .g = g };
    int rc;

    km_pq_vec_init(out, in->nsteps);
    if (op == KM_PQ_TOPK || op == KM_PQ_BOTTOMK) {
        rc = check_k(param, in->nsteps);
        if (rc)
            return rc;
    }
    if (op == KM_PQ_COUNT_VALUES)
        rc = aggregate_count_values(in, g, label, b, out);
    else
        rc = group_all(&gr);
    if (rc == 0 && op != KM_PQ_COUNT_VALUES) {
        switch (op) {
        case KM_PQ_TOPK:
        case KM_PQ_BOTTOMK:
            rc = aggregate_k(op == KM_PQ_TOPK, &gr, param, keep_order, b, out);
            break;
        default:
            rc = aggregate_folds(op, &gr, param, b, out);
            break;
        }
    }
    grouper_fini(&gr);
    if (rc)
        km_pq_vec_fini(out, b);
    else
        km_pq_vec_compact(out);
    return rc;
}

/* ---- folding series by series ---------------------------------------------------------- */

struct sgroup {
    struct km_labels *first; /* the group's labels, as the answer has them (owned) */
    uint64_t hash;
    double *acc, *mean; /* per step, as the fold needs them (else NULL) */
    uint32_t *count;
};

struct km_pq_agg_stream {
    enum km_pq_aggr op;
    const struct km_pq_grouping *g;
    size_t nsteps;
    struct km_pq_budget *b;
    uint64_t held;  /* points of the argument's series, counted as if kept (see below) */
    uint64_t taken; /* steps of the groups with a value, counted in the budget */
    struct sgroup *groups;
    size_t n, cap;
    size_t *slots; /* group index + 1, 0 empty; open addressing */
    size_t nslots;
};

bool km_pq_aggregate_streams(enum km_pq_aggr op)
{
    return op <= KM_PQ_STDVAR;
}

int km_pq_aggregate_stream_open(struct km_pq_agg_stream **out, enum km_pq_aggr op,
                                const struct km_pq_grouping *g, size_t nsteps,
                                struct km_pq_budget *b)
{
    struct km_pq_agg_stream *st = calloc(1, sizeof(*st));

    if (!st)
        return km_err_set(KM_ENOMEM, "out of memory aggregating");
    st->op = op;
    st->g = g;
    st->nsteps = nsteps;
    st->b = b;
    *out = st;
    return 0;
}

void km_pq_aggregate_stream_destroy(struct km_pq_agg_stream *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->n; i++) {
        km_labels_destroy(st->groups[i].first);
        free(st->groups[i].acc);
        free(st->groups[i].mean);
        free(st->groups[i].count);
    }
    km_pq_budget_give(st->b, st->held + st->taken);
    free(st->groups);
    free(st->slots);
    free(st);
}

static int stream_rehash(struct km_pq_agg_stream *st)
{
    size_t n = st->nslots ? st->nslots * 2 : 64;
    size_t *slots = calloc(n, sizeof(*slots));

    if (!slots)
        return km_err_set(KM_ENOMEM, "out of memory aggregating");
    for (size_t i = 0; i < st->n; i++) {
        size_t k = st->groups[i].hash & (n - 1);

        while (slots[k])
            k = (k + 1) & (n - 1);
        slots[k] = i + 1;
    }
    free(st->slots);
    st->slots = slots;
    st->nslots = n;
    return 0;
}

/* The group of labels l, opened when new. */
static int stream_group(struct km_pq_agg_stream *st, const struct km_labels *l, bool drop_name,
                        struct sgroup **out)
{
    const struct km_pq_grouping *g = st->g;
    bool no_name = g->without || drop_name;
    uint64_t h = km_pq_labels_group_hash(l, g->labels, g->n, !g->without, no_name);
    struct sgroup *grp;
    size_t k;
    int rc;

    if ((st->n + 1) * 2 > st->nslots && (rc = stream_rehash(st)) != 0)
        return rc;
    for (k = h & (st->nslots - 1); st->slots[k]; k = (k + 1) & (st->nslots - 1)) {
        grp = &st->groups[st->slots[k] - 1];
        if (grp->hash == h &&
            km_pq_labels_group_eq(grp->first, l, g->labels, g->n, !g->without, no_name)) {
            *out = grp;
            return 0;
        }
    }
    rc = km_array_grow((void **)&st->groups, &st->cap, st->n + 1, sizeof(*st->groups), 16,
                       "aggregating");
    if (rc)
        return rc;
    grp = memset(&st->groups[st->n], 0, sizeof(*grp));
    grp->hash = h;
    grp->count = calloc(st->nsteps ? st->nsteps : 1, sizeof(*grp->count));
    if (st->op != KM_PQ_COUNT && st->op != KM_PQ_GROUP && st->op != KM_PQ_AVG)
        grp->acc = malloc((st->nsteps ? st->nsteps : 1) * sizeof(double));
    if (st->op == KM_PQ_AVG || st->op == KM_PQ_STDDEV || st->op == KM_PQ_STDVAR)
        grp->mean = malloc((st->nsteps ? st->nsteps : 1) * sizeof(double));
    /* The labels the grouping looks at, which are the answer's labels (without the name
     * its producer drops): later members are compared with them. */
    rc = km_pq_labels_filter(l, g->labels, g->n, !g->without, no_name, &grp->first);
    if (rc || !grp->count ||
        (!grp->acc && st->op != KM_PQ_COUNT && st->op != KM_PQ_GROUP && st->op != KM_PQ_AVG) ||
        (!grp->mean && (st->op == KM_PQ_AVG || st->op == KM_PQ_STDDEV || st->op == KM_PQ_STDVAR))) {
        km_labels_destroy(grp->first);
        free(grp->acc);
        free(grp->mean);
        free(grp->count);
        return km_err_set(KM_ENOMEM, "out of memory aggregating");
    }
    st->slots[k] = ++st->n;
    *out = grp;
    return 0;
}

int km_pq_aggregate_stream_add(struct km_pq_agg_stream *st, const struct km_labels *l,
                               bool drop_name, const double *v, const uint64_t *set)
{
    struct sgroup *grp = NULL;
    double scratch_acc = 0, scratch_mean = 0;
    uint64_t points = 0;
    int rc = 0;

    /* The series stays counted against the samples limit until the end, as if kept: the
     * limit then refuses what Prometheus, holding the whole argument, refuses. */
    for (size_t w = 0; w < (st->nsteps + 63) / 64; w++)
        points += (uint64_t)__builtin_popcountll(set[w]);
    /* A series without a value opens no group (as one dropped from a vector). */
    if (!points)
        return 0;
    rc = km_pq_budget_take(st->b, points);
    if (rc)
        return rc;
    st->held += points;
    rc = stream_group(st, l, drop_name, &grp);
    if (rc)
        return rc;
    for (size_t w = 0; w < (st->nsteps + 63) / 64; w++) {
        for (uint64_t bits = set[w]; bits; bits &= bits - 1) {
            size_t i = w * 64 + (size_t)__builtin_ctzll(bits);
            double x = v[i];

            if (++grp->count[i] == 1) { /* a point of the answer */
                rc = km_pq_budget_take(st->b, 1);
                if (rc)
                    return rc;
                st->taken++;
            }
            /* The common folds without the general one's dispatch. */
            if (st->op == KM_PQ_SUM && grp->count[i] > 1)
                grp->acc[i] += x;
            else if (st->op != KM_PQ_COUNT && st->op != KM_PQ_GROUP)
                fold_add(st->op, grp->acc ? &grp->acc[i] : &scratch_acc,
                         grp->mean ? &grp->mean[i] : &scratch_mean, grp->count[i], x);
        }
    }
    return 0;
}

int km_pq_aggregate_stream_finish(struct km_pq_agg_stream *st, struct km_pq_vec *out)
{
    int rc = 0;

    km_pq_vec_init(out, st->nsteps);
    /* What the fold held is given back as the answer's points are taken. */
    km_pq_budget_give(st->b, st->held + st->taken);
    st->held = st->taken = 0;
    for (size_t gi = 0; gi < st->n && rc == 0; gi++) {
        struct sgroup *grp = &st->groups[gi];
        struct km_pq_series *s;

        /* The vector takes the group's labels. */
        rc = km_pq_vec_add(out, grp->first, &s);
        grp->first = NULL;
        for (size_t i = 0; i < st->nsteps && rc == 0; i++) {
            if (grp->count[i])
                rc = km_pq_set(out, st->b, s, i,
                               fold_result(st->op, grp->acc ? grp->acc[i] : 0,
                                           grp->mean ? grp->mean[i] : 0, grp->count[i]));
        }
    }
    if (rc)
        km_pq_vec_fini(out, st->b);
    return rc;
}
