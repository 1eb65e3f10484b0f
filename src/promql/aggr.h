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

/* ---- folding series by series ---------------------------------------------------------- */

/* The running folds (sum, avg, count, min, max, group, stddev, stdvar) need no more than
 * their groups at once: their argument can be streamed in, one series after another in
 * the argument's order, with the same answer bit for bit. */
bool km_pq_aggregate_streams(enum km_pq_aggr op);

struct km_pq_agg_stream;

/* A fold of op over nsteps steps with grouping g (which must outlive it). The budget
 * counts the points of every series folded in, until the end, and the answer's points:
 * what Prometheus holds, so its samples limit refuses the same queries. */
int km_pq_aggregate_stream_open(struct km_pq_agg_stream **out, enum km_pq_aggr op,
                                const struct km_pq_grouping *g, size_t nsteps,
                                struct km_pq_budget *b);
/* Fold one argument series in, as a sink takes it (struct km_pq_sink: labels borrowed,
 * read without __name__ when `drop_name`; a value per step set in `set`). Its points are
 * counted against the budget until the end, as if the series were kept; one without
 * values is ignored. */
int km_pq_aggregate_stream_add(struct km_pq_agg_stream *st, const struct km_labels *l,
                               bool drop_name, const double *v, const uint64_t *set);
/* The answer, groups in order of first appearance, into out (initialised here). */
int km_pq_aggregate_stream_finish(struct km_pq_agg_stream *st, struct km_pq_vec *out);
/* Accepts NULL. */
void km_pq_aggregate_stream_destroy(struct km_pq_agg_stream *st);

#endif
