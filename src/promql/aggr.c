/*
 * aggr — aggregation operators (see aggr.h).
 *
 * Series are assigned to groups once (hash of the grouping labels, confirmed by
 * comparison); then each group is folded step by step over its members. topk/bottomk
 * keep their members' own labels and set a step only for the members chosen there;
 * count_values makes one output series per group and distinct value.
 */
#include "promql/aggr.h"

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
                                 !g->without, true);
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
            km_pq_labels_group_hash(gr->in->s[i].labels, g->labels, g->n, !g->without, true);
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

/* Fold one group at step i; false when no member has a value there. */
static bool fold(enum km_pq_aggr op, const struct km_pq_vec *in, const struct group *grp, size_t i,
                 double q, double *scratch, double *out)
{
    double acc = 0, mean = 0, count = 0;
    size_t k = 0;

    for (size_t m = 0; m < grp->n; m++) {
        const struct km_pq_series *s = &in->s[grp->members[m]];
        double v;

        if (!km_pq_has(s, i))
            continue;
        v = s->v[i];
        count++;
        switch (op) {
        case KM_PQ_SUM:
            acc += v;
            break;
        case KM_PQ_AVG:
            if (isinf(mean) && ((isinf(v) && (mean > 0) == (v > 0)) || (!isinf(v) && !isnan(v))))
                break; /* an infinite mean stays (Inf - Inf would make it NaN) */
            mean += v / count - mean / count;
            break;
        case KM_PQ_MIN:
            if (count == 1 || acc > v || isnan(acc))
                acc = v;
            break;
        case KM_PQ_MAX:
            if (count == 1 || acc < v || isnan(acc))
                acc = v;
            break;
        case KM_PQ_STDDEV:
        case KM_PQ_STDVAR: {
            double delta = v - mean;

            mean += delta / count;
            acc += delta * (v - mean);
            break;
        }
        case KM_PQ_QUANTILE:
            scratch[k++] = v;
            break;
        default:
            break;
        }
    }
    if (count == 0)
        return false;
    switch (op) {
    case KM_PQ_AVG:
        *out = mean;
        break;
    case KM_PQ_COUNT:
        *out = count;
        break;
    case KM_PQ_GROUP:
        *out = 1;
        break;
    case KM_PQ_STDDEV:
        *out = sqrt(acc / count);
        break;
    case KM_PQ_STDVAR:
        *out = acc / count;
        break;
    case KM_PQ_QUANTILE:
        *out = km_pq_quantile(q, scratch, k);
        break;
    default:
        *out = acc;
        break;
    }
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
            qsort(c, nc, sizeof(*c), top ? cmp_top : cmp_bottom);
            for (size_t r = 0; r < nc && r < k && rc == 0; r++) {
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
                qsort(c, nc, sizeof(*c), top ? cmp_top : cmp_bottom);
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

static int aggregate_count_values(struct grouper *gr, const char *label, struct km_pq_budget *b,
                                  struct km_pq_vec *out)
{
    const struct km_pq_vec *in = gr->in;
    int rc = 0;

    for (size_t gi = 0; gi < gr->ngroups && rc == 0; gi++) {
        const struct group *grp = &gr->groups[gi];
        struct km_labels *base;
        size_t first = out->n;

        rc = group_labels(gr, grp, &base);
        for (size_t i = 0; i < in->nsteps && rc == 0; i++) {
            for (size_t m = 0; m < grp->n && rc == 0; m++) {
                const struct km_pq_series *s = &in->s[grp->members[m]];
                char val[KM_PQ_FMT_MAX];
                struct km_pq_series *o = NULL;

                if (!km_pq_has(s, i))
                    continue;
                km_pq_fmt_float_f(val, sizeof(val), s->v[i]);
                for (size_t j = first; j < out->n && !o; j++) {
                    const char *have = km_labels_get(out->s[j].labels, label);

                    if (have && strcmp(have, val) == 0)
                        o = &out->s[j];
                }
                if (!o) {
                    struct km_label l[KM_LIMIT_LABELS_PER_SERIES + 1];
                    struct km_labels *nl;
                    size_t n = 0;

                    for (size_t j = 0; j < base->n && n + 1 < KM_LIMIT_LABELS_PER_SERIES + 1; j++) {
                        if (strcmp(base->v[j].name, label) != 0)
                            l[n++] = base->v[j];
                    }
                    l[n++] = (struct km_label){ label, val };
                    rc = km_labels_create(&nl, l, n);
                    if (rc == 0)
                        rc = km_pq_vec_add(out, nl, &o);
                    if (rc)
                        break;
                }
                rc = km_pq_set(out, b, o, i, km_pq_has(o, i) ? o->v[i] + 1 : 1);
            }
        }
        km_labels_destroy(base);
    }
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
    rc = group_all(&gr);
    if (rc == 0) {
        switch (op) {
        case KM_PQ_TOPK:
        case KM_PQ_BOTTOMK:
            rc = aggregate_k(op == KM_PQ_TOPK, &gr, param, keep_order, b, out);
            break;
        case KM_PQ_COUNT_VALUES:
            rc = aggregate_count_values(&gr, label, b, out);
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
