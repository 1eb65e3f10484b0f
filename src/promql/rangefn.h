/*
 * rangefn — the functions of a range vector, computed over one series' samples in one
 * window, exactly as Prometheus 2.x computes them: rate/increase/delta with their
 * extrapolation, irate/idelta, deriv and predict_linear (least squares), holt_winters,
 * changes, resets and every *_over_time. Pure functions; thread-safe.
 */
#ifndef KMON_PROMQL_RANGEFN_H
#define KMON_PROMQL_RANGEFN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum km_pq_rangefn {
    KM_PQ_RATE,
    KM_PQ_INCREASE,
    KM_PQ_DELTA,
    KM_PQ_IRATE,
    KM_PQ_IDELTA,
    KM_PQ_DERIV,
    KM_PQ_PREDICT_LINEAR, /* arg: seconds ahead */
    KM_PQ_HOLT_WINTERS,   /* args: smoothing factor, trend factor */
    KM_PQ_CHANGES,
    KM_PQ_RESETS,
    KM_PQ_AVG_OVER_TIME,
    KM_PQ_MIN_OVER_TIME,
    KM_PQ_MAX_OVER_TIME,
    KM_PQ_SUM_OVER_TIME,
    KM_PQ_COUNT_OVER_TIME,
    KM_PQ_QUANTILE_OVER_TIME, /* arg: quantile */
    KM_PQ_STDDEV_OVER_TIME,
    KM_PQ_STDVAR_OVER_TIME,
    KM_PQ_LAST_OVER_TIME,
    KM_PQ_PRESENT_OVER_TIME,
};

/* One series' samples in the window [start, end] (ms, both ends included, as in
 * Prometheus 2.x), time-ordered, staleness markers already removed. */
struct km_pq_window {
    const int64_t *t;
    const double *v;
    size_t n;
    int64_t start, end;
    bool no_resets; /* known: no value is below the one before it (a counter's windows
                       then need no correction pass) */
};

/* The function's value over the window, evaluated at time `at` (ms; predict_linear
 * predicts from it); false when it gives no sample (too few samples). `scratch` has room
 * for w->n doubles (quantile_over_time sorts a copy). */
bool km_pq_range_apply(enum km_pq_rangefn fn, const struct km_pq_window *w, double arg1,
                       double arg2, int64_t at, double *scratch, double *out);

/* The q-quantile of n values as Prometheus computes it (sorts `v` in place): NaN for no
 * values, −Inf for q < 0, +Inf for q > 1, linear interpolation between ranks. */
double km_pq_quantile(double q, double *v, size_t n);

#endif
