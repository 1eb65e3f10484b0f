/*
 * instfn — PromQL's functions of instant vectors and scalars at every step: the math
 * (abs … atanh, deg, rad, round, clamp*), the calendar (year … days_in_month),
 * label_replace and label_join, histogram_quantile over `le` buckets, absent, sort and
 * sort_desc, scalar and vector — with Prometheus 2.x's rules for which of them drop the
 * metric name and what their errors say.
 */
#ifndef KMON_PROMQL_INSTFN_H
#define KMON_PROMQL_INSTFN_H

#include "promql/value.h"
#include "storage/sample.h"

#include <stdbool.h>
#include <stddef.h>

enum km_pq_mathfn {
    KM_PQ_ABS,
    KM_PQ_CEIL,
    KM_PQ_FLOOR,
    KM_PQ_EXP,
    KM_PQ_SQRT,
    KM_PQ_LN,
    KM_PQ_LOG2,
    KM_PQ_LOG10,
    KM_PQ_SGN,
    KM_PQ_SIN,
    KM_PQ_COS,
    KM_PQ_TAN,
    KM_PQ_ASIN,
    KM_PQ_ACOS,
    KM_PQ_ATAN,
    KM_PQ_SINH,
    KM_PQ_COSH,
    KM_PQ_TANH,
    KM_PQ_ASINH,
    KM_PQ_ACOSH,
    KM_PQ_ATANH,
    KM_PQ_DEG,
    KM_PQ_RAD,
    /* calendar fields of a value taken as seconds since the epoch (UTC) */
    KM_PQ_YEAR,
    KM_PQ_MONTH,
    KM_PQ_DAY_OF_MONTH,
    KM_PQ_DAY_OF_WEEK,
    KM_PQ_DAY_OF_YEAR,
    KM_PQ_DAYS_IN_MONTH,
    KM_PQ_HOUR,
    KM_PQ_MINUTE,
};

double km_pq_math(enum km_pq_mathfn fn, double v);

/* fn applied to every value of `in`, the metric name dropped, into `out`. */
int km_pq_map(enum km_pq_mathfn fn, const struct km_pq_vec *in, struct km_pq_budget *b,
              struct km_pq_vec *out);

/* `in` with the metric name dropped and every value divided by `div` (timestamp()). */
int km_pq_drop_names(const struct km_pq_vec *in, double div, struct km_pq_budget *b,
                     struct km_pq_vec *out);

/* round(v, to_nearest), clamp(v, min, max) with per-step parameters (clamp_min: max is
 * NULL; clamp_max: min is NULL). */
int km_pq_round(const struct km_pq_vec *in, const double *to_nearest, struct km_pq_budget *b,
                struct km_pq_vec *out);
int km_pq_clamp(const struct km_pq_vec *in, const double *min, const double *max,
                struct km_pq_budget *b, struct km_pq_vec *out);

/* label_replace(v, dst, replacement, src, regex) and label_join(v, dst, sep, src…):
 * KM_EINVAL with Prometheus' message for a bad label name or regex. */
int km_pq_label_replace(const struct km_pq_vec *in, const char *dst, const char *replacement,
                        const char *src, const char *regex, struct km_pq_budget *b,
                        struct km_pq_vec *out);
int km_pq_label_join(const struct km_pq_vec *in, const char *dst, const char *sep,
                     const char *const *src, size_t nsrc, struct km_pq_budget *b,
                     struct km_pq_vec *out);

/* histogram_quantile(q, buckets) per step. */
int km_pq_histogram_quantile(const double *q, const struct km_pq_vec *in, struct km_pq_budget *b,
                             struct km_pq_vec *out);

/* The q-quantile of buckets (upper bound, cumulative count), as Prometheus computes it;
 * `b` is sorted and coalesced here. */
struct km_pq_bucket {
    double upper, count;
};
double km_pq_bucket_quantile(double q, struct km_pq_bucket *b, size_t n);

/* absent: 1 with `labels` at every step where `in` has no value (labels is taken). */
int km_pq_absent(const struct km_pq_vec *in, struct km_labels *labels, struct km_pq_budget *b,
                 struct km_pq_vec *out);

/* The labels absent() gives a selector: its equality matchers but __name__, a name
 * matched more than once left out. */
int km_pq_absent_labels(struct km_matcher *const *m, size_t nm, struct km_labels **out);

/* scalar(v): the value of the only element at each step, else NaN. */
void km_pq_scalar_of(const struct km_pq_vec *in, double *out);

/* sort / sort_desc of a one-step vector by value (NaN last), in place. */
void km_pq_sort_by_value(struct km_pq_vec *v, bool desc);

#endif
