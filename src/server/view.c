/*
 * view — newest readings and step evaluation over one series (see view.h).
 */
#include "view.h"

#include <math.h>

void km_view_last(const int64_t *t, const double *v, size_t n, int64_t now, int64_t stale_ms,
                  struct km_view_last *out)
{
    size_t i = n;

    out->has = out->has_rate = false;
    out->delta = out->interval = 0;
    while (i > 0 && t[i - 1] > now)
        i--;
    if (i == 0 || t[i - 1] <= now - stale_ms)
        return;
    out->has = true;
    out->t = t[i - 1];
    out->value = v[i - 1];
    if (i >= 2 && t[i - 2] < t[i - 1]) {
        out->has_rate = true;
        /* A counter that went down restarted from zero. */
        out->delta = v[i - 1] >= v[i - 2] ? v[i - 1] - v[i - 2] : v[i - 1];
        out->interval = (double)(t[i - 1] - t[i - 2]) / 1000.0;
    }
}

/* The counter's increase and the time it was measured over, inside [a, b]: the counter
 * runs linearly between consecutive samples no more than `gap` apart, and is unknown
 * across longer gaps. *seg is the first segment that may reach past a (callers move a
 * forward only). */
static void covered_increase(const int64_t *t, const double *adj, size_t n, int64_t gap, int64_t a,
                             int64_t b, size_t *seg, double *inc, double *ms)
{
    *inc = *ms = 0;
    while (*seg + 1 < n && t[*seg + 1] <= a)
        (*seg)++;
    for (size_t i = *seg; i + 1 < n && t[i] < b; i++) {
        int64_t dt = t[i + 1] - t[i], lo = t[i] > a ? t[i] : a, hi = t[i + 1] < b ? t[i + 1] : b;

        if (dt <= 0 || dt > gap || hi <= lo)
            continue;
        *inc += (adj[i + 1] - adj[i]) * (double)(hi - lo) / (double)dt;
        *ms += (double)(hi - lo);
    }
}

void km_view_eval_steps(const int64_t *t, const double *v, size_t n, bool counter,
                        const struct km_view_steps *steps, double *scratch, double *out)
{
    double *adj = scratch, correction = 0;
    size_t end = 0, seg = 0; /* first index past T; first segment reaching past T - step */

    /* The counter as if it had never been reset. */
    for (size_t i = 0; counter && i < n; i++) {
        if (i > 0 && v[i] < v[i - 1])
            correction += v[i - 1];
        adj[i] = v[i] + correction;
    }
    for (size_t k = 0; k < steps->n; k++) {
        int64_t T = steps->start + (int64_t)k * steps->step;
        double inc, ms;

        out[k] = NAN;
        if (counter) {
            covered_increase(t, adj, n, steps->range, T - steps->step, T, &seg, &inc, &ms);
            if (ms > 0)
                out[k] = inc / (ms / 1000.0);
            continue;
        }
        while (end < n && t[end] <= T)
            end++;
        /* A sample inside the step, or one before it that the next bridges past T. */
        if (end > 0 &&
            (t[end - 1] > T - steps->step || (end < n && t[end] - t[end - 1] <= steps->range)))
            out[k] = v[end - 1];
    }
}

int64_t km_view_interval(const int64_t *t, size_t n)
{
    int64_t best = 0;

    for (size_t i = n > 8 ? n - 8 : 1; i < n; i++) {
        int64_t d = t[i] - t[i - 1];

        if (d > 0 && (best == 0 || d < best))
            best = d;
    }
    return best;
}
