/*
 * value — what the evaluator computes with. A query is evaluated at the steps of a grid
 * (one step for an instant query), every expression over all steps at once:
 *   - a scalar is one value per step;
 *   - an instant vector is a set of series, each with a value at some of the steps (a
 *     bitmap says which), its labels owned;
 *   - a range vector exists only as a function's argument: raw samples per series
 *     (range.h).
 * The evaluation context counts the points every live vector holds against the query's
 * samples limit, as Prometheus counts what a query loads into memory.
 *
 * Ownership: a vector owns its series, a series its labels and arrays; the caller of a
 * function returning a vector owns it and frees it with km_pq_vec_fini().
 */
#ifndef KMON_PROMQL_VALUE_H
#define KMON_PROMQL_VALUE_H

#include "common/labels.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The evaluation times: start + i * step for i in [0, n). */
struct km_pq_grid {
    int64_t start, step;
    size_t n;
};

/* In uint64: i × step alone may pass INT64_MAX on a grid across 0 (the time does not). */
static inline int64_t km_pq_grid_time(const struct km_pq_grid *g, size_t i)
{
    return (int64_t)((uint64_t)g->start + (uint64_t)i * (uint64_t)g->step);
}

/* a − b for times (ms), saturated at the ends of int64. @ and offset reach them (`@ 1e17`
 * is INT64_MIN, as in Go, and an offset or a range goes past it); Go wraps around there,
 * C may not, and a saturated time reads no data, as a wrapped one does. */
static inline int64_t km_pq_time_sub(int64_t a, int64_t b)
{
    int64_t r;

    if (__builtin_sub_overflow(a, b, &r))
        return b < 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* Limits and accounting of one evaluation. */
struct km_pq_budget {
    uint64_t max_samples; /* points alive at once (Prometheus' --query.max-samples) */
    uint64_t samples;     /* alive now */
    uint64_t peak;
    int64_t deadline_ns; /* monotonic; 0: none */
    bool (*cancelled)(void *ud);
    void *cancel_ud;
};

/* KM_ELIMIT with Prometheus' message when n more points would pass the limit; else
 * counts them. */
int km_pq_budget_take(struct km_pq_budget *b, uint64_t n);
void km_pq_budget_give(struct km_pq_budget *b, uint64_t n);
/* KM_ETIMEDOUT or KM_ECANCELED (with Prometheus' message) when the query must stop. */
int km_pq_budget_check(struct km_pq_budget *b);

struct km_pq_series {
    struct km_labels *labels; /* owned */
    double *v;                /* a value per step (meaningless where not set) */
    uint64_t *set;            /* bitmap of the steps with a value */
};

struct km_pq_vec {
    struct km_pq_series *s;
    size_t n, cap;
    size_t nsteps;
    uint64_t points; /* set bits over all series, as counted in the budget */
};

static inline bool km_pq_has(const struct km_pq_series *s, size_t i)
{
    return (s->set[i >> 6] >> (i & 63)) & 1;
}

static inline void km_pq_mark(struct km_pq_series *s, size_t i)
{
    s->set[i >> 6] |= (uint64_t)1 << (i & 63);
}

void km_pq_vec_init(struct km_pq_vec *v, size_t nsteps);
/* Free every series and give their points back to the budget (which may be NULL). */
void km_pq_vec_fini(struct km_pq_vec *v, struct km_pq_budget *b);

/* Add a series with no value yet; takes ownership of `labels` (freed on failure). On
 * success *out points at it (valid until the next add). */
int km_pq_vec_add(struct km_pq_vec *v, struct km_labels *labels, struct km_pq_series **out);

/* Where a producer of series (a selector, a function of a range vector) may hand each
 * finished series instead of keeping them all: add() reads its labels (borrowed; with
 * `drop_name` they still hold the __name__ the producer drops, to be read without it)
 * and its points (a value per step where `set` has the step's bit), counts the points
 * against the budget, and the producer reuses its arrays for the next series. An
 * aggregation streams its argument this way, holding its groups only. */
struct km_pq_sink {
    int (*add)(void *ud, const struct km_labels *l, bool drop_name, const double *v,
               const uint64_t *set);
    void *ud;
};

/* A producer's points for a sink, one series after another: allocated once for nsteps
 * steps (reset clears the set bits), freed by fini (which accepts a zeroed one). */
struct km_pq_points {
    double *v;
    uint64_t *set;
    size_t words;
};
int km_pq_points_init(struct km_pq_points *p, size_t nsteps);
void km_pq_points_reset(struct km_pq_points *p);
void km_pq_points_fini(struct km_pq_points *p);

/* Set step i of series s to x, counting a new point against the budget. Inline: the
 * evaluator sets every point of every answer through it. */
static inline int km_pq_set(struct km_pq_vec *v, struct km_pq_budget *b, struct km_pq_series *s,
                            size_t i, double x)
{
    s->v[i] = x;
    if (km_pq_has(s, i))
        return 0;
    km_pq_mark(s, i);
    v->points++;
    if (b && (!b->max_samples || b->samples < b->max_samples)) {
        if (++b->samples > b->peak)
            b->peak = b->samples;
        return 0;
    }
    return km_pq_budget_take(b, 1);
}

/* Remove series without any value (in place, order kept). */
void km_pq_vec_compact(struct km_pq_vec *v);

/* Sort series by labels. */
void km_pq_vec_sort(struct km_pq_vec *v);

/* Series of a vector found by their labels: results that several inputs feed (a
 * function dropping __name__, a vector matching) merge into one series per label set. */
struct km_pq_index {
    size_t *slots; /* series index + 1; 0 empty */
    size_t nslots, n;
};

/* The index in v of the series with these labels, added (with no value) when missing.
 * Takes ownership of `labels`. */
int km_pq_index_get(struct km_pq_index *ix, struct km_pq_vec *v, struct km_labels *labels,
                    size_t *out);
void km_pq_index_fini(struct km_pq_index *ix);

/* Set step i of series si to x; KM_EINVAL with "vector cannot contain metrics with the
 * same labelset" when another input already set it. */
int km_pq_set_once(struct km_pq_vec *v, struct km_pq_budget *b, size_t si, size_t i, double x);

/* The Prometheus staleness marker (a NaN with this payload) ends a series. */
#define KM_PQ_STALE_BITS 0x7ff0000000000002ull
bool km_pq_is_stale(double v);

/* ---- labels ------------------------------------------------------------------------- */

/* A copy of l without __name__ (or l copied as is when it has none). */
int km_pq_labels_drop_name(const struct km_labels *l, struct km_labels **out);

/* A copy of l keeping (keep = true) or dropping the listed names; `drop_name` also drops
 * __name__. */
int km_pq_labels_filter(const struct km_labels *l, const char *const *names, size_t n, bool keep,
                        bool drop_name, struct km_labels **out);

/* The hash of the labels a grouping or a vector matching looks at: with `on` only the
 * listed names, else all but them, and never __name__ when `drop_name` (`without` and
 * `ignoring` never look at it; `by` and `on` do unless the series' name is dropped).
 * Series with equal hashes are then compared with km_pq_labels_group_eq. */
uint64_t km_pq_labels_group_hash(const struct km_labels *l, const char *const *names, size_t n,
                                 bool on, bool drop_name);
bool km_pq_labels_group_eq(const struct km_labels *a, const struct km_labels *b,
                           const char *const *names, size_t n, bool on, bool drop_name);

#endif
