/*
 * select — what PromQL reads from a store: an instant vector selector at every step of
 * the grid (the newest sample within the lookback, none when it is a staleness marker),
 * and the raw samples a range selector gives its function (staleness markers removed),
 * both with offset and @ applied. Reads go through the storage querier, one selection
 * per selector over exactly the time it needs.
 */
#ifndef KMON_PROMQL_SELECT_H
#define KMON_PROMQL_SELECT_H

#include "promql/value.h"
#include "storage/storage.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct km_pq_selector {
    struct km_matcher *const *m;
    size_t nm;
    int64_t offset_ms;
    bool has_at;
    int64_t at_ms; /* with has_at: the time every step reads */
};

/* The time step i of the grid reads at (offset and @ applied). */
static inline int64_t km_pq_selector_time(const struct km_pq_selector *sel,
                                          const struct km_pq_grid *g, size_t i)
{
    return km_pq_time_sub(sel->has_at ? sel->at_ms : km_pq_grid_time(g, i), sel->offset_ms);
}

/* The instant vector of the selector over the grid into `out` (initialised here); with
 * a sink, each series goes to it instead and `out` ends empty. */
int km_pq_select_vector(struct km_querier *q, const struct km_pq_selector *sel,
                        const struct km_pq_grid *g, int64_t lookback_ms,
                        const struct km_pq_sink *sink, struct km_pq_budget *b,
                        struct km_pq_vec *out);

/* The same, with the time (ms) of the sample each step read as its value: what
 * timestamp() gives a selector. */
int km_pq_select_vector_times(struct km_querier *q, const struct km_pq_selector *sel,
                              const struct km_pq_grid *g, int64_t lookback_ms,
                              struct km_pq_budget *b, struct km_pq_vec *out);

/* One series of a range vector: its samples over every window the grid needs. */
struct km_pq_rseries {
    struct km_labels *labels; /* owned */
    int64_t *t;
    double *v;
    size_t n, cap;
};

struct km_pq_range {
    struct km_pq_rseries *s;
    size_t n, cap;
    uint64_t points; /* counted in the budget */
};

/* A range selector's series one at a time (what a function of a range holds at once,
 * as Prometheus counts it): the samples of each, staleness markers removed, borrowed
 * until the next call and counted in the budget until then. */
struct km_pq_range_iter {
    struct km_series_set *set;
    int64_t *t;
    double *v;
    size_t n, cap;
    uint64_t held; /* counted in the budget */
};

/* `func` names the function that consumes the range ("rate"; NULL: unknown), a hint to
 * the store (storage.h: km_select_hints). */
int km_pq_range_open(struct km_querier *q, const struct km_pq_selector *sel, int64_t range_ms,
                     const char *func, const struct km_pq_grid *g, struct km_pq_range_iter *it);
/* The next series (false at the end; then *rc is 0 or the error). */
bool km_pq_range_next(struct km_pq_range_iter *it, struct km_pq_budget *b,
                      const struct km_labels **labels, int *rc);
void km_pq_range_close(struct km_pq_range_iter *it, struct km_pq_budget *b);

/* The range vector `sel[range_ms]` for every step of the grid into `out`: for step i
 * the window is [time_i − range, time_i] (km_pq_selector_time). */
int km_pq_select_range(struct km_querier *q, const struct km_pq_selector *sel, int64_t range_ms,
                       const struct km_pq_grid *g, struct km_pq_budget *b, struct km_pq_range *out);

/* Add a series to a range vector (for subqueries); takes `labels`. */
int km_pq_range_add(struct km_pq_range *r, struct km_labels *labels, struct km_pq_rseries **out);
/* Append a sample to a range series, counted in the budget. */
int km_pq_rseries_push(struct km_pq_range *r, struct km_pq_budget *b, struct km_pq_rseries *s,
                       int64_t t, double v);

void km_pq_range_fini(struct km_pq_range *r, struct km_pq_budget *b);

#endif
