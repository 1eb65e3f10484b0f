/*
 * rangefn — range-vector functions over one window (see rangefn.h). The arithmetic
 * follows Prometheus 2.x step by step, because users compare its numbers with ours:
 * the extrapolation of rate/increase/delta, the reset handling, the least squares with
 * the intercept at a given time, the incremental mean.
 */
#include "promql/rangefn.h"
#include "common/array.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- rate, increase, delta ------------------------------------------------------------- */

/* The change over the window extrapolated to its edges (at most half an average
 * sample interval beyond the first and last samples, and for counters never below
 * zero), per second for a rate. */
static bool extrapolated(const struct km_pq_window *w, bool counter, bool per_second, double *out)
{
    double result, first = w->v[0], last = w->v[w->n - 1], correction = 0;
    double to_start, to_end, sampled, avg_gap, threshold, interval, factor;

    if (w->n < 2)
        return false;
    /* The same operations in the same order as Prometheus, so that the last bits agree. */
    if (counter && !w->no_resets) {
        double prev = 0;

        for (size_t i = 0; i < w->n; i++) {
            if (w->v[i] < prev)
                correction += prev;
            prev = w->v[i];
        }
    }
    result = last - first + correction;
    to_start = (double)(w->t[0] - w->start) / 1e3;
    to_end = (double)(w->end - w->t[w->n - 1]) / 1e3;
    sampled = (double)(w->t[w->n - 1] - w->t[0]) / 1e3;
    avg_gap = sampled / (double)(w->n - 1);
    if (counter && result > 0 && first >= 0) {
        /* A counter cannot have been below zero: do not extrapolate past the time it
         * would have been zero. */
        double to_zero = sampled * (first / result);

        if (to_zero < to_start)
            to_start = to_zero;
    }
    threshold = avg_gap * 1.1;
    interval = sampled;
    interval += to_start < threshold ? to_start : avg_gap / 2;
    interval += to_end < threshold ? to_end : avg_gap / 2;
    factor = interval / sampled;
    if (per_second)
        factor /= (double)(w->end - w->start) / 1e3;
    *out = result * factor;
    return true;
}

/* irate and idelta: the last two samples. */
static bool instant(const struct km_pq_window *w, bool rate, double *out)
{
    double last, prev, result;
    int64_t gap;

    if (w->n < 2)
        return false;
    last = w->v[w->n - 1];
    prev = w->v[w->n - 2];
    gap = w->t[w->n - 1] - w->t[w->n - 2];
    result = rate && last < prev ? last : last - prev;
    if (gap == 0)
        return false;
    if (rate)
        result /= (double)gap / 1e3;
    *out = result;
    return true;
}

/* ---- least squares ------------------------------------------------------------------- */

/* Slope (per second) and intercept at time `at` of the samples' least-squares line. */
static void regression(const struct km_pq_window *w, int64_t at, double *slope, double *intercept)
{
    double n = 0, sx = 0, sy = 0, sxy = 0, sx2 = 0, first = w->v[0];
    bool constant = true;

    for (size_t i = 0; i < w->n; i++) {
        double x = (double)(w->t[i] - at) / 1e3, y = w->v[i];

        if (i > 0 && y != first)
            constant = false;
        n += 1;
        sx += x;
        sy += y;
        sxy += x * y;
        sx2 += x * x;
    }
    if (constant) {
        *slope = isinf(first) ? NAN : 0;
        *intercept = isinf(first) ? NAN : first;
        return;
    }
    *slope = (sxy - sx * sy / n) / (sx2 - sx * sx / n);
    *intercept = sy / n - *slope * sx / n;
}

/* ---- holt_winters -------------------------------------------------------------------- */

static bool holt_winters(const struct km_pq_window *w, double sf, double tf, double *out)
{
    double s0 = 0, s1, b;

    if (w->n < 2)
        return false;
    s1 = w->v[0];
    b = w->v[1] - w->v[0];
    for (size_t i = 1; i < w->n; i++) {
        double x = sf * w->v[i], y;

        if (i > 1)
            b = tf * (s1 - s0) + (1 - tf) * b;
        y = (1 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    *out = s1;
    return true;
}

/* ---- over time ---------------------------------------------------------------------- */

/* Kahan-compensated running sum: add x to *sum with compensation *c. */
static void kahan_add(double x, double *sum, double *c)
{
    double t = *sum + x;

    if (fabs(*sum) >= fabs(x))
        *c += (*sum - t) + x;
    else
        *c += (x - t) + *sum;
    *sum = t;
}

static double avg_over_time(const struct km_pq_window *w)
{
    double mean = 0, c = 0, count = 0;

    for (size_t i = 0; i < w->n; i++) {
        double v = w->v[i];

        count++;
        if (isinf(mean)) {
            /* Inf of the same sign stays; a finite value cannot change an infinite mean
             * (Inf - Inf would make it NaN). */
            if (isinf(v) && (mean > 0) == (v > 0))
                continue;
            if (!isinf(v) && !isnan(v))
                continue;
        }
        kahan_add(v / count - mean / count, &mean, &c);
    }
    return isinf(mean) ? mean : mean + c;
}

static double sum_over_time(const struct km_pq_window *w)
{
    double sum = 0, c = 0;

    for (size_t i = 0; i < w->n; i++)
        kahan_add(w->v[i], &sum, &c);
    return isinf(sum) ? sum : sum + c;
}

/* Welford's variance, compensated as Prometheus does. */
static double stdvar_over_time(const struct km_pq_window *w)
{
    double count = 0, mean = 0, cmean = 0, aux = 0, caux = 0;

    for (size_t i = 0; i < w->n; i++) {
        double v = w->v[i], delta;

        count++;
        delta = v - (mean + cmean);
        kahan_add(delta / count, &mean, &cmean);
        kahan_add(delta * (v - (mean + cmean)), &aux, &caux);
    }
    return (aux + caux) / count;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    /* NaN sorts first, as Go's sort.Float64s does. */
    if (isnan(x) || isnan(y))
        return isnan(x) && isnan(y) ? 0 : isnan(x) ? -1 : 1;
    return (x > y) - (x < y);
}

double km_pq_quantile(double q, double *v, size_t n)
{
    double rank, weight;
    size_t lo, hi;

    if (n == 0 || isnan(q))
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    km_sort(v, n, sizeof(*v), cmp_double);
    rank = q * (double)(n - 1);
    lo = (size_t)floor(rank);
    hi = lo + 1 < n ? lo + 1 : n - 1;
    weight = rank - floor(rank);
    return v[lo] * (1 - weight) + v[hi] * weight;
}

static double extreme(const struct km_pq_window *w, bool max)
{
    double r = w->v[0];

    for (size_t i = 1; i < w->n; i++) {
        double v = w->v[i];

        if ((max ? v > r : v < r) || isnan(r))
            r = v;
    }
    return r;
}

/* ---- dispatch ------------------------------------------------------------------------- */

bool km_pq_range_apply(enum km_pq_rangefn fn, const struct km_pq_window *w, double arg1,
                       double arg2, int64_t at, double *scratch, double *out)
{
    double slope, intercept;
    double count = 0;

    if (w->n == 0)
        return false;
    switch (fn) {
    case KM_PQ_RATE:
        return extrapolated(w, true, true, out);
    case KM_PQ_INCREASE:
        return extrapolated(w, true, false, out);
    case KM_PQ_DELTA:
        return extrapolated(w, false, false, out);
    case KM_PQ_IRATE:
        return instant(w, true, out);
    case KM_PQ_IDELTA:
        return instant(w, false, out);
    case KM_PQ_DERIV:
        if (w->n < 2)
            return false;
        regression(w, w->t[0], &slope, &intercept);
        *out = slope;
        return true;
    case KM_PQ_PREDICT_LINEAR:
        if (w->n < 2)
            return false;
        regression(w, at, &slope, &intercept);
        *out = slope * arg1 + intercept;
        return true;
    case KM_PQ_HOLT_WINTERS:
        return holt_winters(w, arg1, arg2, out);
    case KM_PQ_CHANGES:
    case KM_PQ_RESETS:
        for (size_t i = 1; i < w->n; i++) {
            double cur = w->v[i], prev = w->v[i - 1];

            if (fn == KM_PQ_CHANGES ? !(cur == prev || (isnan(cur) && isnan(prev))) : cur < prev)
                count++;
        }
        *out = count;
        return true;
    case KM_PQ_AVG_OVER_TIME:
        *out = avg_over_time(w);
        return true;
    case KM_PQ_MIN_OVER_TIME:
    case KM_PQ_MAX_OVER_TIME:
        *out = extreme(w, fn == KM_PQ_MAX_OVER_TIME);
        return true;
    case KM_PQ_SUM_OVER_TIME:
        *out = sum_over_time(w);
        return true;
    case KM_PQ_COUNT_OVER_TIME:
        *out = (double)w->n;
        return true;
    case KM_PQ_QUANTILE_OVER_TIME:
        memcpy(scratch, w->v, w->n * sizeof(double));
        *out = km_pq_quantile(arg1, scratch, w->n);
        return true;
    case KM_PQ_STDDEV_OVER_TIME:
        *out = sqrt(stdvar_over_time(w));
        return true;
    case KM_PQ_STDVAR_OVER_TIME:
        *out = stdvar_over_time(w);
        return true;
    case KM_PQ_LAST_OVER_TIME:
        *out = w->v[w->n - 1];
        return true;
    case KM_PQ_PRESENT_OVER_TIME:
        *out = 1;
        return true;
    }
    return false;
}
