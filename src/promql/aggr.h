/*
 * aggr — PromQL's aggregation operators over an instant vector at every step: sum,
 * avg, count, min, max, group, stddev, stdvar, topk, bottomk, quantile, count_values,
 * with by / without grouping, computed as Prometheus 2.x computes them (incremental
 * mean, Welford's variance, NaN handling of min/max, topk's tie-breaking by input
 * order, count_values' value formatting).
 */
#ifndef KMON_PROMQL_AGGR_H
#define KMON_PROMQL_AGGR_H

#include "promql/value.h"

#include <stdbool.h>
#include <stddef.h>

enum km_pq_aggr {
    KM_PQ_SUM,
    KM_PQ_AVG,
    KM_PQ_COUNT,
    KM_PQ_MIN,
    KM_PQ_MAX,
    KM_PQ_GROUP,
    KM_PQ_STDDEV,
    KM_PQ_STDVAR,
    KM_PQ_TOPK,
    KM_PQ_BOTTOMK,
    KM_PQ_QUANTILE,
    KM_PQ_COUNT_VALUES,
};

/* `by (labels)` when !without (no clause is `by ()`), `without (labels)` otherwise. */
struct km_pq_grouping {
    const char *const *labels;
    size_t n;
    bool without;
};

/* Aggregate `in` into `out` (initialised here over in->nsteps). `param` is the
 * parameter per step (k of topk/bottomk, q of quantile) or NULL; `label` is
 * count_values' label name. With `keep_order` (an instant query) topk and bottomk give
 * their series sorted by value, as Prometheus returns them. */
int km_pq_aggregate(enum km_pq_aggr op, const struct km_pq_vec *in, const struct km_pq_grouping *g,
                    const double *param, const char *label, bool keep_order, struct km_pq_budget *b,
                    struct km_pq_vec *out);

#endif
