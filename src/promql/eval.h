/*
 * eval — the PromQL evaluator: a parsed expression (ast.h) evaluated over a store
 * (storage/storage.h) at one time or over a range of steps, with Prometheus 2.x's
 * semantics: 5-minute lookback and staleness, offset and @, subqueries, every operator,
 * aggregation and function, the samples limit, a timeout and cancellation.
 *
 * Every node is evaluated for all steps at once (one pass over each series' samples);
 * the store is read through one querier (one consistent view) per evaluation, one
 * selection per selector over exactly the time it needs. Nothing here knows HTTP.
 */
#ifndef KMON_PROMQL_EVAL_H
#define KMON_PROMQL_EVAL_H

#include "promql/ast.h"
#include "promql/select.h"
#include "promql/value.h"
#include "storage/storage.h"

#include <stdbool.h>
#include <stdint.h>

struct km_pq_opts {
    int64_t lookback_ms;         /* 5m */
    int64_t subquery_step_ms;    /* a subquery's step when it names none: 1m */
    uint64_t max_samples;        /* 50 000 000 */
    int64_t timeout_ms;          /* 0: none */
    bool (*cancelled)(void *ud); /* polled during long evaluations; may be NULL */
    void *cancel_ud;
    bool any_order; /* an instant vector's series may come in any order (rules: the store
                     * then need not sort what it does not merge) */
};

void km_pq_opts_default(struct km_pq_opts *o);

enum km_pq_result_type {
    KM_PQ_RESULT_SCALAR,
    KM_PQ_RESULT_STRING,
    KM_PQ_RESULT_VECTOR, /* an instant query's instant vector */
    KM_PQ_RESULT_MATRIX, /* a range query, or an instant query of a range vector */
};

struct km_pq_result {
    enum km_pq_result_type type;
    struct km_pq_grid grid;
    double *scalar;           /* SCALAR: one value per step */
    char *string;             /* STRING (owned) */
    struct km_pq_vec vec;     /* VECTOR, and MATRIX of a range query: series over the grid */
    struct km_pq_range range; /* MATRIX of an instant query of a range vector: raw samples */
    bool range_form;          /* MATRIX given as `range` rather than `vec` */
    uint64_t peak_samples;    /* the most points alive at once while evaluating */
};

void km_pq_result_fini(struct km_pq_result *r);

/* Evaluate e at `time` (an instant query). KM_EINVAL with Prometheus' message for what
 * it reports as execution errors, KM_ELIMIT for the samples limit, KM_ETIMEDOUT,
 * KM_ECANCELED. */
int km_pq_eval_instant(struct km_storage *store, const struct km_promql_expr *e, int64_t time,
                       const struct km_pq_opts *o, struct km_pq_result *out);

/* Evaluate e at start, start + step, …, up to end (a range query): a MATRIX result, its
 * series sorted by labels. KM_EINVAL when e is not a scalar or instant vector. */
int km_pq_eval_range(struct km_storage *store, const struct km_promql_expr *e, int64_t start,
                     int64_t end, int64_t step, const struct km_pq_opts *o,
                     struct km_pq_result *out);

#endif
