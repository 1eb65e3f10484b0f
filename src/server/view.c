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

void km_view_eval_steps(const int64_t *t, const double *v, size_t n, bool counter,
                        const struct km_view_steps *steps, double *scratch, double *out)
{
    double *adj = scratch, correction = 0;
    size_t end = 0, before = 0; /* first index past T, first index past T - range */

    /* The counter as if it had never been reset. */
    for (size_t i = 0; counter && i < n; i++) {
        if (i > 0 && v[i] < v[i - 1])
            correction += v[i - 1];
        adj[i] = v[i] + correction;
    }
    for (size_t k = 0; k < steps->n; k++) {
        int64_t T = steps->start + (int64_t)k * steps->step, from = T - steps->range;
        size_t last, first;

        out[k] = NAN;
        while (end < n && t[end] <= T)
            end++;
        while (before < n && t[before] <= from)
            before++;
        if (end == 0 || t[end - 1] <= from)
            continue; /* nothing inside the window */
        last = end - 1;
        if (!counter) {
            out[k] = v[last];
            continue;
        }
        /* Start from the sample just before the window when it is recent enough, so
         * consecutive windows together cover every increase. */
        first = before > 0 && t[before - 1] > from - steps->range ? before - 1 : before;
        if (first >= last || t[last] <= t[first])
            continue;
        out[k] = (adj[last] - adj[first]) / ((double)(t[last] - t[first]) / 1000.0);
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
