/*
 * binop — binary operators (see binop.h).
 *
 * Vector matching works series by series rather than step by step: each side's series
 * are bucketed once by their matching signature (the labels `on` names, or all but the
 * `ignoring` ones and __name__); a step then looks for the one series of the bucket
 * present there. The errors Prometheus raises per step are raised the same way: a
 * bucket of the "one" side with two series at one step, a one-to-one match used twice
 * at one step, a many-to-one result whose labels repeat at one step.
 */
#include "promql/binop.h"
#include "promql/quote.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/limits.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool km_pq_binop_is_comparison(enum km_pq_binop op)
{
    return op >= KM_PQ_EQL && op <= KM_PQ_LTE;
}

/* Arithmetic that drops the metric name (atan2 keeps it, as in Prometheus 2.x). */
static bool drops_name(enum km_pq_binop op)
{
    return op <= KM_PQ_POW;
}

double km_pq_binop_apply(enum km_pq_binop op, double lhs, double rhs, bool *keep)
{
    *keep = true;
    switch (op) {
    case KM_PQ_ADD:
        return lhs + rhs;
    case KM_PQ_SUB:
        return lhs - rhs;
    case KM_PQ_MUL:
        return lhs * rhs;
    case KM_PQ_DIV:
        return lhs / rhs;
    case KM_PQ_MOD:
        return fmod(lhs, rhs);
    case KM_PQ_POW:
        return pow(lhs, rhs);
    case KM_PQ_ATAN2:
        return atan2(lhs, rhs);
    case KM_PQ_EQL:
        *keep = lhs == rhs;
        return lhs;
    case KM_PQ_NEQ:
        *keep = lhs != rhs;
        return lhs;
    case KM_PQ_GTR:
        *keep = lhs > rhs;
        return lhs;
    case KM_PQ_LSS:
        *keep = lhs < rhs;
        return lhs;
    case KM_PQ_GTE:
        *keep = lhs >= rhs;
        return lhs;
    case KM_PQ_LTE:
        *keep = lhs <= rhs;
        return lhs;
    default:
        *keep = false;
        return NAN;
    }
}

/* ---- vector and scalar ---------------------------------------------------------------- */

int km_pq_binop_vector_scalar(enum km_pq_binop op, bool return_bool, struct km_pq_vec *v,
                              const double *scalar, bool scalar_left, struct km_pq_budget *b,
                              struct km_pq_vec *out)
{
    bool drop = drops_name(op) || return_bool, named = false;
    struct km_pq_index ix = { 0 };
    int rc = 0;

    /* Only a dropped name can make two series one (an error): with no name to drop, the
     * series stay as distinct as v's and keep their labels. */
    for (size_t si = 0; drop && si < v->n && !named; si++)
        named = km_labels_get(v->s[si].labels, KM_METRIC_NAME_LABEL) != NULL;
    km_pq_vec_init(out, v->nsteps);
    for (size_t si = 0; si < v->n && rc == 0; si++) {
        struct km_pq_series *s = &v->s[si];
        size_t o = SIZE_MAX;

        for (size_t i = 0; i < v->nsteps && rc == 0; i++) {
            double lv, rv, x;
            bool keep;

            if (!km_pq_has(s, i))
                continue;
            lv = scalar_left ? scalar[i] : s->v[i];
            rv = scalar_left ? s->v[i] : scalar[i];
            x = km_pq_binop_apply(op, lv, rv, &keep);
            /* A comparison keeps the vector's value, whichever side it is on. */
            if (km_pq_binop_is_comparison(op) && scalar_left)
                x = rv;
            if (return_bool) {
                x = keep ? 1 : 0;
                keep = true;
            }
            if (!keep)
                continue;
            if (o == SIZE_MAX) {
                struct km_labels *l = NULL;
                struct km_pq_series *added;

                if (named) {
                    rc = km_pq_labels_drop_name(s->labels, &l);
                    if (rc == 0)
                        rc = km_pq_index_get(&ix, out, l, &o);
                } else {
                    l = s->labels;
                    s->labels = NULL;
                    rc = km_pq_vec_add(out, l, &added);
                    o = out->n - 1;
                }
                if (rc)
                    break;
            }
            rc = km_pq_set_once(out, b, o, i, x);
        }
    }
    km_pq_index_fini(&ix);
    if (rc)
        km_pq_vec_fini(out, b);
    return rc;
}

/* ---- signatures ------------------------------------------------------------------------- */

/* Series of one side bucketed by their matching signature. */
struct sigs {
    const struct km_pq_vec *v;
    const struct km_pq_matching *m;
    uint64_t *hash; /* per series */
    size_t *bucket; /* per series: its bucket's first series */
    size_t *next;   /* per series: next series of its bucket, SIZE_MAX at the end */
    size_t *slots;  /* first series + 1 of each bucket; open addressing */
    size_t nslots;
};

static bool sig_eq(const struct sigs *x, const struct km_labels *a, const struct km_labels *b)
{
    return km_pq_labels_group_eq(a, b, x->m->labels, x->m->nlabels, x->m->on, !x->m->on);
}

static uint64_t sig_hash(const struct km_pq_matching *m, const struct km_labels *l)
{
    return km_pq_labels_group_hash(l, m->labels, m->nlabels, m->on, !m->on);
}

static void sigs_fini(struct sigs *x)
{
    free(x->hash);
    free(x->bucket);
    free(x->next);
    free(x->slots);
}

static int sigs_build(struct sigs *x, const struct km_pq_vec *v, const struct km_pq_matching *m)
{
    size_t *last;

    memset(x, 0, sizeof(*x));
    x->v = v;
    x->m = m;
    x->nslots = 16;
    while (x->nslots < v->n * 2)
        x->nslots *= 2;
    x->hash = malloc((v->n ? v->n : 1) * sizeof(*x->hash));
    x->bucket = malloc((v->n ? v->n : 1) * sizeof(*x->bucket));
    x->next = malloc((v->n ? v->n : 1) * sizeof(*x->next));
    x->slots = calloc(x->nslots, sizeof(*x->slots));
    last = malloc((v->n ? v->n : 1) * sizeof(*last));
    if (!x->hash || !x->bucket || !x->next || !x->slots || !last) {
        free(last);
        sigs_fini(x);
        return km_err_set(KM_ENOMEM, "out of memory matching vectors");
    }
    for (size_t i = 0; i < v->n; i++) {
        size_t k;

        x->hash[i] = sig_hash(m, v->s[i].labels);
        x->next[i] = SIZE_MAX;
        for (k = x->hash[i] & (x->nslots - 1); x->slots[k]; k = (k + 1) & (x->nslots - 1)) {
            size_t f = x->slots[k] - 1;

            if (x->hash[f] == x->hash[i] && sig_eq(x, v->s[f].labels, v->s[i].labels))
                break;
        }
        if (!x->slots[k]) {
            x->slots[k] = i + 1;
            x->bucket[i] = i;
            last[i] = i;
        } else {
            size_t f = x->slots[k] - 1;

            x->bucket[i] = f;
            x->next[last[f]] = i;
            last[f] = i;
        }
    }
    free(last);
    return 0;
}

/* The first series of the bucket matching labels l (with hash h) in x, or SIZE_MAX. */
static size_t sigs_find(const struct sigs *x, const struct km_labels *l, uint64_t h)
{
    for (size_t k = h & (x->nslots - 1); x->slots[k]; k = (k + 1) & (x->nslots - 1)) {
        size_t f = x->slots[k] - 1;

        if (x->hash[f] == h && sig_eq(x, x->v->s[f].labels, l))
            return f;
    }
    return SIZE_MAX;
}

/* One label as Prometheus' Labels.String() prints it: name="Go-quoted value". */
static void print_label(struct km_buf *out, const struct km_label *l, bool first)
{
    if (!first)
        km_buf_puts(out, ", ");
    km_buf_puts(out, l->name);
    km_buf_puts(out, "=");
    km_promql_quote(out, l->value, strlen(l->value));
}

/* {a="b", …} of the labels a matching looks at, for error messages. */
static void matched_labels(struct km_buf *out, const struct km_pq_matching *m,
                           const struct km_labels *l)
{
    bool first = true;

    km_buf_puts(out, "{");
    for (size_t i = 0; i < l->n; i++) {
        bool listed = false;

        for (size_t j = 0; j < m->nlabels; j++)
            listed = listed || strcmp(l->v[i].name, m->labels[j]) == 0;
        if (m->on != listed || (!m->on && strcmp(l->v[i].name, KM_METRIC_NAME_LABEL) == 0))
            continue;
        print_label(out, &l->v[i], first);
        first = false;
    }
    km_buf_puts(out, "}");
}

/* {__name__="x", a="b"} of a whole label set, as Prometheus prints one. */
static void print_labels(struct km_buf *out, const struct km_labels *l)
{
    km_buf_puts(out, "{");
    for (size_t i = 0; i < l->n; i++)
        print_label(out, &l->v[i], i == 0);
    km_buf_puts(out, "}");
}

/* ---- set operators --------------------------------------------------------------------- */

/* Whether some series of bucket `first` is present at step i. */
static bool bucket_has(const struct sigs *x, size_t first, size_t i)
{
    for (size_t j = first; j != SIZE_MAX; j = x->next[j]) {
        if (km_pq_has(&x->v->s[j], i))
            return true;
    }
    return false;
}

static int copy_steps(struct km_pq_vec *out, struct km_pq_index *ix, struct km_pq_budget *b,
                      const struct km_pq_series *s, const bool *take)
{
    struct km_labels *l;
    size_t o = SIZE_MAX;
    int rc = 0;

    for (size_t i = 0; i < out->nsteps && rc == 0; i++) {
        if (!km_pq_has(s, i) || !take[i])
            continue;
        if (o == SIZE_MAX) {
            rc = km_labels_dup(&l, s->labels);
            if (rc == 0)
                rc = km_pq_index_get(ix, out, l, &o);
            if (rc)
                break;
        }
        rc = km_pq_set_once(out, b, o, i, s->v[i]);
    }
    return rc;
}

static int set_operation(enum km_pq_binop op, const struct km_pq_matching *m,
                         const struct km_pq_vec *lhs, const struct km_pq_vec *rhs,
                         struct km_pq_budget *b, struct km_pq_vec *out)
{
    struct sigs ls, rs;
    struct km_pq_index ix = { 0 };
    bool *take = malloc((lhs->nsteps ? lhs->nsteps : 1) * sizeof(bool));
    int rc;

    km_pq_vec_init(out, lhs->nsteps);
    if (!take)
        return km_err_set(KM_ENOMEM, "out of memory matching vectors");
    rc = sigs_build(&ls, lhs, m);
    if (rc) {
        free(take);
        return rc;
    }
    rc = sigs_build(&rs, rhs, m);
    if (rc) {
        sigs_fini(&ls);
        free(take);
        return rc;
    }
    for (size_t si = 0; si < lhs->n && rc == 0 && op != KM_PQ_OR; si++) {
        size_t f = sigs_find(&rs, lhs->s[si].labels, ls.hash[si]);

        for (size_t i = 0; i < lhs->nsteps; i++) {
            bool matched = f != SIZE_MAX && bucket_has(&rs, f, i);

            take[i] = op == KM_PQ_AND ? matched : !matched;
        }
        rc = copy_steps(out, &ix, b, &lhs->s[si], take);
    }
    if (op == KM_PQ_OR) {
        for (size_t i = 0; i < lhs->nsteps; i++)
            take[i] = true;
        for (size_t si = 0; si < lhs->n && rc == 0; si++)
            rc = copy_steps(out, &ix, b, &lhs->s[si], take);
        for (size_t si = 0; si < rhs->n && rc == 0; si++) {
            size_t f = sigs_find(&ls, rhs->s[si].labels, rs.hash[si]);

            for (size_t i = 0; i < rhs->nsteps; i++)
                take[i] = f == SIZE_MAX || !bucket_has(&ls, f, i);
            rc = copy_steps(out, &ix, b, &rhs->s[si], take);
        }
    }
    sigs_fini(&ls);
    sigs_fini(&rs);
    km_pq_index_fini(&ix);
    free(take);
    if (rc)
        km_pq_vec_fini(out, b);
    return rc;
}

bool km_pq_binop_covers_unlabelled(const struct km_pq_matching *m, const struct km_pq_vec *v)
{
    static const struct km_labels none = { 0 };
    size_t words = (v->nsteps + 63) / 64;
    uint64_t *seen;
    bool all = true;

    if (v->nsteps == 0 || v->n == 0)
        return false;
    seen = calloc(words, sizeof(*seen));
    if (!seen)
        return false; /* only a shortcut: the full evaluation decides */
    for (size_t si = 0; si < v->n; si++) {
        if (!km_pq_labels_group_eq(v->s[si].labels, &none, m->labels, m->nlabels, m->on, !m->on))
            continue;
        for (size_t w = 0; w < words; w++)
            seen[w] |= v->s[si].set[w];
    }
    for (size_t i = 0; i < v->nsteps && all; i++)
        all = (seen[i >> 6] >> (i & 63)) & 1;
    free(seen);
    return all;
}

/* ---- arithmetic and comparisons between vectors ---------------------------------------- */

/* The labels of a result: the "many" side's, without __name__ for arithmetic, reduced
 * to the matching labels for one-to-one, with the group_x labels of the "one" side. */
static int result_labels(enum km_pq_binop op, bool return_bool, const struct km_pq_matching *m,
                         const struct km_labels *many, const struct km_labels *one,
                         struct km_labels **out)
{
    struct km_label v[KM_LIMIT_LABELS_PER_SERIES * 2];
    size_t n = 0;

    for (size_t i = 0; i < many->n && n < KM_LIMIT_LABELS_PER_SERIES; i++) {
        const char *name = many->v[i].name;
        bool listed = false, included = false;

        if ((drops_name(op) || return_bool) && strcmp(name, KM_METRIC_NAME_LABEL) == 0)
            continue;
        for (size_t j = 0; j < m->nlabels; j++)
            listed = listed || strcmp(name, m->labels[j]) == 0;
        if (m->card == KM_PQ_ONE_TO_ONE && listed != m->on)
            continue;
        for (size_t j = 0; j < m->ninclude; j++)
            included = included || strcmp(name, m->include[j]) == 0;
        if (!included)
            v[n++] = many->v[i];
    }
    for (size_t j = 0; j < m->ninclude && n < KM_LIMIT_LABELS_PER_SERIES * 2; j++) {
        const char *val = km_labels_get(one, m->include[j]);

        if (val && *val && !(return_bool && strcmp(m->include[j], KM_METRIC_NAME_LABEL) == 0))
            v[n++] = (struct km_label){ m->include[j], val };
    }
    return km_labels_create(out, v, n);
}

struct vv {
    enum km_pq_binop op;
    bool return_bool;
    const struct km_pq_matching *m;
    struct km_pq_budget *b;
    struct km_pq_vec *out;
    struct km_pq_index ix;
    uint64_t **used; /* one-to-one: per "one"-side bucket, the steps already matched */
};

/* The series of bucket `f` present at step i, or SIZE_MAX; an error when two are. */
static int one_at(const struct sigs *one, size_t f, size_t i, bool right, size_t *out)
{
    *out = SIZE_MAX;
    for (size_t j = f; j != SIZE_MAX; j = one->next[j]) {
        struct km_buf msg;
        int rc;

        if (!km_pq_has(&one->v->s[j], i))
            continue;
        if (*out == SIZE_MAX) {
            *out = j;
            continue;
        }
        km_buf_init(&msg, 0);
        km_buf_puts(&msg, "found duplicate series for the match group ");
        matched_labels(&msg, one->m, one->v->s[j].labels);
        km_buf_printf(&msg, " on the %s hand-side of the operation: [", right ? "right" : "left");
        print_labels(&msg, one->v->s[j].labels);
        km_buf_puts(&msg, ", ");
        print_labels(&msg, one->v->s[*out].labels);
        km_buf_puts(&msg, "];many-to-many matching not allowed: matching labels must be unique on "
                          "one side");
        rc = km_buf_error(&msg) == KM_ENOMEM ? km_err_set(KM_ENOMEM, "out of memory")
                                             : km_err_set(KM_EINVAL, "%s", km_buf_cstr(&msg));
        km_buf_fini(&msg);
        return rc;
    }
    return 0;
}

/* One series of the "many" side against the "one" side, at every step. */
static int match_series(struct vv *c, const struct sigs *one, const struct km_pq_series *s,
                        uint64_t h, bool swapped)
{
    size_t f = sigs_find(one, s->labels, h), cur_one = SIZE_MAX, o = SIZE_MAX;
    int rc = 0;

    if (f == SIZE_MAX)
        return 0;
    for (size_t i = 0; i < c->out->nsteps && rc == 0; i++) {
        size_t r;
        double x;
        bool keep;

        if (!km_pq_has(s, i))
            continue;
        rc = one_at(one, f, i, !swapped, &r);
        if (rc || r == SIZE_MAX)
            continue;
        x = swapped ? km_pq_binop_apply(c->op, one->v->s[r].v[i], s->v[i], &keep)
                    : km_pq_binop_apply(c->op, s->v[i], one->v->s[r].v[i], &keep);
        if (c->return_bool) {
            x = keep ? 1 : 0;
            keep = true;
        }
        if (!keep)
            continue;
        if (c->m->card == KM_PQ_ONE_TO_ONE) {
            uint64_t *u = c->used[f];

            if ((u[i >> 6] >> (i & 63)) & 1)
                return km_err_set(KM_EINVAL, "multiple matches for labels: many-to-one matching "
                                             "must be explicit (group_left/group_right)");
            u[i >> 6] |= (uint64_t)1 << (i & 63);
        }
        if (r != cur_one || o == SIZE_MAX) {
            struct km_labels *l;

            rc = result_labels(c->op, c->return_bool, c->m, s->labels, one->v->s[r].labels, &l);
            if (rc == 0)
                rc = km_pq_index_get(&c->ix, c->out, l, &o);
            if (rc)
                break;
            cur_one = r;
        }
        if (km_pq_has(&c->out->s[o], i))
            return km_err_set(KM_EINVAL, c->m->card == KM_PQ_ONE_TO_ONE
                                             ? "multiple matches for labels: many-to-one "
                                               "matching must be explicit (group_left/group_right)"
                                             : "multiple matches for labels: grouping labels "
                                               "must ensure unique matches");
        rc = km_pq_set(c->out, c->b, &c->out->s[o], i, x);
    }
    return rc;
}

int km_pq_binop_vectors(enum km_pq_binop op, bool return_bool, const struct km_pq_matching *m,
                        const struct km_pq_vec *lhs, const struct km_pq_vec *rhs,
                        struct km_pq_budget *b, struct km_pq_vec *out)
{
    bool swapped = m->card == KM_PQ_ONE_TO_MANY;
    const struct km_pq_vec *many = swapped ? rhs : lhs, *onev = swapped ? lhs : rhs;
    struct vv c = { .op = op, .return_bool = return_bool, .m = m, .b = b, .out = out };
    struct sigs one;
    int rc;

    if (op >= KM_PQ_AND)
        return set_operation(op, m, lhs, rhs, b, out);
    if (m->card == KM_PQ_MANY_TO_MANY)
        return km_err_set(KM_EINVAL, "many-to-many only allowed for set operators");
    km_pq_vec_init(out, lhs->nsteps);
    rc = sigs_build(&one, onev, m);
    if (rc)
        return rc;
    if (m->card == KM_PQ_ONE_TO_ONE) {
        c.used = calloc(onev->n ? onev->n : 1, sizeof(*c.used));
        for (size_t i = 0; c.used && i < onev->n; i++) {
            if (one.bucket[i] == i &&
                !(c.used[i] = calloc((lhs->nsteps + 63) / 64 + 1, sizeof(uint64_t))))
                rc = km_err_set(KM_ENOMEM, "out of memory matching vectors");
        }
        if (!c.used)
            rc = km_err_set(KM_ENOMEM, "out of memory matching vectors");
    }
    for (size_t si = 0; si < many->n && rc == 0; si++)
        rc = match_series(&c, &one, &many->s[si], sig_hash(m, many->s[si].labels), swapped);
    for (size_t i = 0; c.used && i < onev->n; i++)
        free(c.used[i]);
    free(c.used);
    sigs_fini(&one);
    km_pq_index_fini(&c.ix);
    if (rc)
        km_pq_vec_fini(out, b);
    else
        km_pq_vec_compact(out);
    return rc;
}
