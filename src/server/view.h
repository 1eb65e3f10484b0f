/*
 * view — the arithmetic the REST API does over one series' samples: the newest value
 * or rate (the prototype's "current" figures) and values at regular steps (its time
 * series). Counter resets are handled as Prometheus does (a drop means the counter
 * restarted from zero). Pure functions; thread-safe.
 */
#ifndef KMON_SERVER_VIEW_H
#define KMON_SERVER_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The newest reading of a series whose samples are t[0..n), v[0..n) (time order). */
struct km_view_last {
    bool has;        /* a sample within the staleness limit */
    int64_t t;       /* its time (ms) */
    double value;    /* its value */
    bool has_rate;   /* a previous sample to compute a rate with */
    double delta;    /* increase since the previous sample (counters; resets handled) */
    double interval; /* seconds since the previous sample */
};

/* The last reading at or before `now` and not older than now - stale_ms. */
void km_view_last(const int64_t *t, const double *v, size_t n, int64_t now, int64_t stale_ms,
                  struct km_view_last *out);

/* A grid of evaluation times: start + k * step for k in [0, n). `range` is the longest
 * gap between two samples that is still bridged. */
struct km_view_steps {
    int64_t start, step, range;
    size_t n;
};

/* Per step, into out[0..steps->n): for a counter the per-second rate over [T - step, T],
 * with the counter taken to run linearly between samples (so consecutive steps split
 * every increase between them exactly, whatever the alignment of samples and steps, and
 * a step shorter than the sample spacing gets its interval's rate), averaged over the
 * part of the step that samples cover; for a gauge the last sample at or before T, when
 * it is inside the step or the next sample bridges past T (so nothing is carried beyond
 * the step after a series' last sample). NaN where there is none. `scratch` has room for n doubles.
 */
void km_view_eval_steps(const int64_t *t, const double *v, size_t n, bool counter,
                        const struct km_view_steps *steps, double *scratch, double *out);

/* The usual spacing of the samples (the smallest gap among the last few), or 0. */
int64_t km_view_interval(const int64_t *t, size_t n);

#endif
