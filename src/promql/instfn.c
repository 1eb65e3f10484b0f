/*
 * instfn — functions of instant vectors (see instfn.h).
 */
#include "promql/instfn.h"
#include "common/array.h"

#include "common/err.h"
#include "common/limits.h"
#include "common/regex.h"
#include "promql/gomath.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- math and calendar ----------------------------------------------------------------- */

/* Prometheus: time.Unix(int64(v), 0).UTC() and one of its fields. */
static double calendar(enum km_pq_mathfn fn, double v)
{
    struct km_go_date d;

    km_go_date(v, &d);
    switch (fn) {
    case KM_PQ_YEAR:
        return (double)d.year;
    case KM_PQ_MONTH:
        return d.month;
    case KM_PQ_DAY_OF_MONTH:
        return d.day;
    case KM_PQ_DAY_OF_WEEK:
        return d.weekday;
    case KM_PQ_DAY_OF_YEAR:
        return d.yday;
    case KM_PQ_HOUR:
        return d.hour;
    case KM_PQ_MINUTE:
        return d.minute;
    case KM_PQ_DAYS_IN_MONTH:
        return d.days_in_month;
    default:
        return NAN;
    }
}

double km_pq_math(enum km_pq_mathfn fn, double v)
{
    switch (fn) {
    case KM_PQ_ABS:
        return fabs(v);
    case KM_PQ_CEIL:
        return ceil(v);
    case KM_PQ_FLOOR:
        return floor(v);
    case KM_PQ_EXP:
        return exp(v);
    case KM_PQ_SQRT:
        return sqrt(v);
    case KM_PQ_LN:
        return km_go_log(v);
    case KM_PQ_LOG2:
        return log2(v);
    case KM_PQ_LOG10:
        return km_go_log10(v);
    case KM_PQ_SGN:
        return v > 0 ? 1 : v < 0 ? -1 : v; /* keeps 0, -0 and NaN */
    case KM_PQ_SIN:
        return sin(v);
    case KM_PQ_COS:
        return cos(v);
    case KM_PQ_TAN:
        return tan(v);
    case KM_PQ_ASIN:
        return asin(v);
    case KM_PQ_ACOS:
        return acos(v);
    case KM_PQ_ATAN:
        return atan(v);
    case KM_PQ_SINH:
        return sinh(v);
    case KM_PQ_COSH:
        return cosh(v);
    case KM_PQ_TANH:
        return tanh(v);
    case KM_PQ_ASINH:
        return asinh(v);
    case KM_PQ_ACOSH:
        return acosh(v);
    case KM_PQ_ATANH:
        return atanh(v);
    case KM_PQ_DEG:
        return v * 180 / M_PI;
    case KM_PQ_RAD:
        return v * M_PI / 180;
    default:
        return calendar(fn, v);
    }
}

/* Every series of `in` with __name__ dropped, merged by labels into `out`, its values
 * given by fn(value, step); fn returns false to leave a step out. Two inputs landing on
 * the same labels at one step is Prometheus' "same labelset" error. */
typedef bool (*map_fn)(double v, size_t i, const void *ud, double *out);

static int map_vector(const struct km_pq_vec *in, bool drop_name, map_fn fn, const void *ud,
                      struct km_pq_budget *b, struct km_pq_vec *out)
{
    struct km_pq_index ix = { 0 };
    int rc = 0;

    km_pq_vec_init(out, in->nsteps);
    for (size_t si = 0; si < in->n && rc == 0; si++) {
        const struct km_pq_series *s = &in->s[si];
        size_t o = SIZE_MAX;

        for (size_t i = 0; i < in->nsteps && rc == 0; i++) {
            double x;

            if (!km_pq_has(s, i) || !fn(s->v[i], i, ud, &x))
                continue;
            if (o == SIZE_MAX) {
                struct km_labels *l;

                rc = drop_name ? km_pq_labels_drop_name(s->labels, &l)
                               : km_labels_dup(&l, s->labels);
                if (rc == 0)
                    rc = km_pq_index_get(&ix, out, l, &o);
                if (rc)
                    break;
            }
            rc = km_pq_set_once(out, b, o, i, x);
        }
    }
    km_pq_index_fini(&ix);
    if (rc)
        km_pq_vec_fini(out, b);
    else
        km_pq_vec_compact(out);
    return rc;
}

static bool apply_math(double v, size_t i, const void *ud, double *out)
{
    (void)i;
    *out = km_pq_math(*(const enum km_pq_mathfn *)ud, v);
    return true;
}

int km_pq_map(enum km_pq_mathfn fn, const struct km_pq_vec *in, struct km_pq_budget *b,
              struct km_pq_vec *out)
{
    return map_vector(in, true, apply_math, &fn, b, out);
}

static bool apply_div(double v, size_t i, const void *ud, double *out)
{
    (void)i;
    *out = v / *(const double *)ud;
    return true;
}

int km_pq_drop_names(const struct km_pq_vec *in, double div, struct km_pq_budget *b,
                     struct km_pq_vec *out)
{
    return map_vector(in, true, apply_div, &div, b, out);
}

static bool apply_round(double v, size_t i, const void *ud, double *out)
{
    double inv = 1.0 / ((const double *)ud)[i];

    *out = floor(v * inv + 0.5) / inv;
    return true;
}

int km_pq_round(const struct km_pq_vec *in, const double *to_nearest, struct km_pq_budget *b,
                struct km_pq_vec *out)
{
    return map_vector(in, true, apply_round, to_nearest, b, out);
}

struct clamp_args {
    const double *min, *max;
};

static bool apply_clamp(double v, size_t i, const void *ud, double *out)
{
    const struct clamp_args *c = ud;
    double lo = c->min ? c->min[i] : -INFINITY, hi = c->max ? c->max[i] : INFINITY;

    /* clamp() with max < min gives nothing (clamp_min/clamp_max never have both). */
    if (c->min && c->max && hi < lo)
        return false;
    if (c->min && c->max)
        *out = km_go_max(lo, km_go_min(hi, v));
    else if (c->max)
        *out = km_go_min(hi, v);
    else
        *out = km_go_max(lo, v);
    return true;
}

int km_pq_clamp(const struct km_pq_vec *in, const double *min, const double *max,
                struct km_pq_budget *b, struct km_pq_vec *out)
{
    struct clamp_args c = { min, max };

    return map_vector(in, true, apply_clamp, &c, b, out);
}

/* ---- labels ------------------------------------------------------------------------------ */

/* The series' labels with dst set to value (removed when value is empty). */
static int labels_with(const struct km_labels *l, const char *dst, const char *value,
                       struct km_labels **out)
{
    struct km_label v[KM_LIMIT_LABELS_PER_SERIES + 1];
    size_t n = 0;

    for (size_t i = 0; i < l->n && n < KM_LIMIT_LABELS_PER_SERIES; i++) {
        if (strcmp(l->v[i].name, dst) != 0)
            v[n++] = l->v[i];
    }
    if (*value)
        v[n++] = (struct km_label){ dst, value };
    return km_labels_create(out, v, n);
}

/* Add string s[0..n) to a growing buffer. */
static int append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = (*len + n + 1) * 2;
        char *p = realloc(*buf, c);

        if (!p)
            return km_err_set(KM_ENOMEM, "out of memory evaluating label_replace");
        *buf = p;
        *cap = c;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

/* Go's regexp.Expand: $1, ${1}, $name, ${name}, $$; a name is the longest run of
 * letters, digits and underscores ("$1x" is group "1x"); unknown groups are empty. */
static int expand(const struct km_regex *re, const char *tmpl, const char *subject,
                  const size_t *ov, int ngroups, char **buf, size_t *len, size_t *cap)
{
    int rc = 0;

    *len = 0;
    rc = append(buf, len, cap, "", 0);
    for (const char *p = tmpl; *p && rc == 0;) {
        const char *name, *end;
        char nbuf[128];
        size_t nl;
        bool braces = false;
        long g = -1;

        if (*p != '$') {
            const char *q = strchr(p, '$');
            size_t k = q ? (size_t)(q - p) : strlen(p);

            rc = append(buf, len, cap, p, k);
            p += k;
            continue;
        }
        if (p[1] == '$') {
            rc = append(buf, len, cap, "$", 1);
            p += 2;
            continue;
        }
        name = p + 1;
        if (*name == '{') {
            braces = true;
            name++;
        }
        end = name;
        while ((*end >= 'a' && *end <= 'z') || (*end >= 'A' && *end <= 'Z') ||
               (*end >= '0' && *end <= '9') || *end == '_')
            end++;
        if (end == name || (braces && *end != '}')) {
            /* Not a reference: a lone '$' is kept as written. */
            rc = append(buf, len, cap, "$", 1);
            p++;
            continue;
        }
        nl = (size_t)(end - name) < sizeof(nbuf) - 1 ? (size_t)(end - name) : sizeof(nbuf) - 1;
        memcpy(nbuf, name, nl);
        nbuf[nl] = '\0';
        p = braces ? end + 1 : end;
        if (strspn(nbuf, "0123456789") == nl) {
            char *e;

            g = strtol(nbuf, &e, 10);
            if (nl > 9)
                g = -1;
        } else {
            g = km_regex_group_number(re, nbuf);
        }
        if (g >= 0 && g < ngroups && ov[2 * g] != (size_t)-1)
            rc = append(buf, len, cap, subject + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
    }
    return rc;
}

int km_pq_label_replace(const struct km_pq_vec *in, const char *dst, const char *replacement,
                        const char *src, const char *regex, struct km_pq_budget *b,
                        struct km_pq_vec *out)
{
    struct km_regex *re = NULL;
    struct km_pq_index ix = { 0 };
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc;

    km_pq_vec_init(out, in->nsteps);
    if (km_regex_compile(&re, regex, KM_REGEX_ANCHORED) != 0)
        return km_err_set(KM_EINVAL, "invalid regular expression in label_replace(): %s", regex);
    if (!km_label_name_valid(dst, strlen(dst))) {
        km_regex_destroy(re);
        return km_err_set(KM_EINVAL, "invalid destination label name in label_replace(): %s", dst);
    }
    rc = 0;
    for (size_t si = 0; si < in->n && rc == 0; si++) {
        const struct km_pq_series *s = &in->s[si];
        const char *subject = km_labels_get(s->labels, src);
        struct km_labels *l = NULL;
        size_t ov[2 * 32], o;
        int ng;

        if (!subject)
            subject = "";
        ng = km_regex_match_groups(re, subject, strlen(subject), ov, 32);
        if (ng > 0) {
            rc = expand(re, replacement, subject, ov, ng, &buf, &len, &cap);
            if (rc == 0)
                rc = labels_with(s->labels, dst, buf, &l);
        } else {
            rc = km_labels_dup(&l, s->labels);
        }
        if (rc == 0)
            rc = km_pq_index_get(&ix, out, l, &o);
        for (size_t i = 0; i < in->nsteps && rc == 0; i++) {
            if (km_pq_has(s, i))
                rc = km_pq_set_once(out, b, o, i, s->v[i]);
        }
    }
    free(buf);
    km_regex_destroy(re);
    km_pq_index_fini(&ix);
    if (rc)
        km_pq_vec_fini(out, b);
    return rc;
}

int km_pq_label_join(const struct km_pq_vec *in, const char *dst, const char *sep,
                     const char *const *src, size_t nsrc, struct km_pq_budget *b,
                     struct km_pq_vec *out)
{
    struct km_pq_index ix = { 0 };
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;

    km_pq_vec_init(out, in->nsteps);
    if (!km_label_name_valid(dst, strlen(dst)))
        return km_err_set(KM_EINVAL, "invalid destination label name in label_join(): %s", dst);
    for (size_t k = 0; k < nsrc; k++) {
        if (!km_label_name_valid(src[k], strlen(src[k])))
            return km_err_set(KM_EINVAL, "invalid source label name in label_join(): %s", src[k]);
    }
    for (size_t si = 0; si < in->n && rc == 0; si++) {
        const struct km_pq_series *s = &in->s[si];
        struct km_labels *l = NULL;
        size_t o;

        len = 0;
        rc = append(&buf, &len, &cap, "", 0);
        for (size_t k = 0; k < nsrc && rc == 0; k++) {
            const char *v = km_labels_get(s->labels, src[k]);

            if (k)
                rc = append(&buf, &len, &cap, sep, strlen(sep));
            if (rc == 0 && v)
                rc = append(&buf, &len, &cap, v, strlen(v));
        }
        if (rc == 0)
            rc = labels_with(s->labels, dst, buf, &l);
        if (rc == 0)
            rc = km_pq_index_get(&ix, out, l, &o);
        for (size_t i = 0; i < in->nsteps && rc == 0; i++) {
            if (km_pq_has(s, i))
                rc = km_pq_set_once(out, b, o, i, s->v[i]);
        }
    }
    free(buf);
    km_pq_index_fini(&ix);
    if (rc)
        km_pq_vec_fini(out, b);
    return rc;
}

/* ---- histogram_quantile ----------------------------------------------------------------- */

static int cmp_bucket(const void *a, const void *b)
{
    double x = ((const struct km_pq_bucket *)a)->upper, y = ((const struct km_pq_bucket *)b)->upper;

    return (x > y) - (x < y);
}

double km_pq_bucket_quantile(double q, struct km_pq_bucket *b, size_t n)
{
    double observations, rank, start = 0, end, count;
    size_t k = 0, lo, hi;

    if (isnan(q))
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    km_sort(b, n, sizeof(*b), cmp_bucket);
    if (n == 0 || !isinf(b[n - 1].upper) || b[n - 1].upper < 0)
        return NAN;
    /* Buckets with the same bound (le="1" and le="1.0") add up. */
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && b[k - 1].upper == b[i].upper)
            b[k - 1].count += b[i].count;
        else
            b[k++] = b[i];
    }
    n = k;
    /* Cumulative counts that go down (scrapes mid-update) are raised to stay monotonic. */
    for (size_t i = 1; i < n; i++) {
        if (b[i].count < b[i - 1].count)
            b[i].count = b[i - 1].count;
    }
    if (n < 2)
        return NAN;
    observations = b[n - 1].count;
    if (observations == 0)
        return NAN;
    rank = q * observations;
    /* The first bucket (of all but the last) whose count reaches the rank. */
    lo = 0;
    hi = n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (b[mid].count >= rank)
            hi = mid;
        else
            lo = mid + 1;
    }
    k = lo;
    if (k == n - 1)
        return b[n - 2].upper;
    if (k == 0 && b[0].upper <= 0)
        return b[0].upper;
    end = b[k].upper;
    count = b[k].count;
    if (k > 0) {
        start = b[k - 1].upper;
        count -= b[k - 1].count;
        rank -= b[k - 1].count;
    }
    return start + (end - start) * (rank / count);
}

/* Parse an `le` value as Go's strconv.ParseFloat does for the forms Prometheus meets. */
static bool parse_le(const char *s, double *out)
{
    char *end;

    if (!*s)
        return false;
    if (strcmp(s, "+Inf") == 0 || strcmp(s, "Inf") == 0 || strcmp(s, "inf") == 0 ||
        strcmp(s, "+inf") == 0) {
        *out = INFINITY;
        return true;
    }
    *out = strtod(s, &end);
    return *end == '\0';
}

int km_pq_histogram_quantile(const double *q, const struct km_pq_vec *in, struct km_pq_budget *b,
                             struct km_pq_vec *out)
{
    static const char *const le_name[] = { "le" };
    struct km_pq_index ix = { 0 };
    size_t *group = malloc((in->n ? in->n : 1) * sizeof(*group));
    double *upper = malloc((in->n ? in->n : 1) * sizeof(*upper));
    struct km_pq_bucket *bk = malloc((in->n ? in->n : 1) * sizeof(*bk));
    size_t ngroups;
    int rc = 0;

    km_pq_vec_init(out, in->nsteps);
    if (!group || !upper || !bk) {
        rc = km_err_set(KM_ENOMEM, "out of memory evaluating histogram_quantile");
        goto out_free;
    }
    /* Each bucket series joins the output series of its labels without le and name. */
    for (size_t si = 0; si < in->n && rc == 0; si++) {
        const char *le = km_labels_get(in->s[si].labels, "le");
        struct km_labels *l;

        group[si] = SIZE_MAX;
        if (!le || !parse_le(le, &upper[si]))
            continue;
        rc = km_pq_labels_filter(in->s[si].labels, le_name, 1, false, true, &l);
        if (rc == 0)
            rc = km_pq_index_get(&ix, out, l, &group[si]);
    }
    ngroups = out->n;
    for (size_t gi = 0; gi < ngroups && rc == 0; gi++) {
        for (size_t i = 0; i < in->nsteps && rc == 0; i++) {
            size_t n = 0;

            for (size_t si = 0; si < in->n; si++) {
                if (group[si] == gi && km_pq_has(&in->s[si], i))
                    bk[n++] = (struct km_pq_bucket){ upper[si], in->s[si].v[i] };
            }
            if (n)
                rc = km_pq_set(out, b, &out->s[gi], i, km_pq_bucket_quantile(q[i], bk, n));
        }
    }
out_free:
    free(group);
    free(upper);
    free(bk);
    km_pq_index_fini(&ix);
    if (rc)
        km_pq_vec_fini(out, b);
    else
        km_pq_vec_compact(out);
    return rc;
}

/* ---- absent, scalar, sort ------------------------------------------------------------------ */

int km_pq_absent(const struct km_pq_vec *in, struct km_labels *labels, struct km_pq_budget *b,
                 struct km_pq_vec *out)
{
    struct km_pq_series *s;
    int rc;

    km_pq_vec_init(out, in->nsteps);
    rc = km_pq_vec_add(out, labels, &s);
    for (size_t i = 0; i < in->nsteps && rc == 0; i++) {
        bool any = false;

        for (size_t si = 0; si < in->n && !any; si++)
            any = km_pq_has(&in->s[si], i);
        if (!any)
            rc = km_pq_set(out, b, s, i, 1);
    }
    if (rc)
        km_pq_vec_fini(out, b);
    else
        km_pq_vec_compact(out);
    return rc;
}

int km_pq_absent_labels(struct km_matcher *const *m, size_t nm, struct km_labels **out)
{
    struct km_label v[KM_LIMIT_LABELS_PER_SERIES];
    size_t n = 0;

    for (size_t i = 0; i < nm && n < KM_LIMIT_LABELS_PER_SERIES; i++) {
        bool twice = false;

        if (m[i]->type != KM_MATCH_EQ || strcmp(m[i]->name, KM_METRIC_NAME_LABEL) == 0)
            continue;
        for (size_t j = 0; j < nm; j++) {
            if (j != i && m[j]->type == KM_MATCH_EQ && strcmp(m[j]->name, m[i]->name) == 0)
                twice = true;
        }
        if (!twice && *m[i]->value)
            v[n++] = (struct km_label){ m[i]->name, m[i]->value };
    }
    return km_labels_create(out, v, n);
}

void km_pq_scalar_of(const struct km_pq_vec *in, double *out)
{
    for (size_t i = 0; i < in->nsteps; i++) {
        size_t n = 0;
        double v = NAN;

        for (size_t si = 0; si < in->n && n < 2; si++) {
            if (km_pq_has(&in->s[si], i)) {
                v = in->s[si].v[i];
                n++;
            }
        }
        out[i] = n == 1 ? v : NAN;
    }
}

static int cmp_asc(const void *a, const void *b)
{
    double x = ((const struct km_pq_series *)a)->v[0], y = ((const struct km_pq_series *)b)->v[0];

    if (isnan(x) || isnan(y))
        return isnan(x) - isnan(y);
    return (x > y) - (x < y);
}

static int cmp_desc(const void *a, const void *b)
{
    double x = ((const struct km_pq_series *)a)->v[0], y = ((const struct km_pq_series *)b)->v[0];

    if (isnan(x) || isnan(y))
        return isnan(x) - isnan(y);
    return (x < y) - (x > y);
}

void km_pq_sort_by_value(struct km_pq_vec *v, bool desc)
{
    if (v->n > 1)
        km_sort(v->s, v->n, sizeof(*v->s), desc ? cmp_desc : cmp_asc);
}
