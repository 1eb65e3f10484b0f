/*
 * otlp_delta — running totals that turn OTLP delta points (Sums, Histograms) into the
 * cumulative values Prometheus series hold, as the OpenTelemetry Prometheus-compatibility
 * specification asks: per series (a key the caller derives from the metric's name, its
 * labels and for histograms its bucket bounds) the sum of every delta since the first
 * one seen, and the interval covered (the first point's start, the last point's time).
 *
 * Bounded: at most max_series series; when full, series not updated for an hour are
 * forgotten, and if none is, new series are refused (their points dropped and counted
 * by the caller). A server restart loses the totals: the next points start a new
 * cumulative series from zero, which PromQL's rate() reads as a counter reset.
 *
 * Threads: every call may run concurrently (one mutex).
 */
#ifndef KMON_OTLP_OTLP_DELTA_H
#define KMON_OTLP_OTLP_DELTA_H

#include <stddef.h>
#include <stdint.h>

struct km_otlp_delta;

int km_otlp_delta_create(struct km_otlp_delta **out, size_t max_series);
/* Accepts NULL. */
void km_otlp_delta_destroy(struct km_otlp_delta *d);

/* Add the delta point v[0..n) (a sum: one value; a histogram: count, sum, then each
 * bucket's count) of series `key` covering (start_ns, time_ns] to its totals, and write
 * the totals back into v. A series whose n changes starts again from this point. 0, or
 * KM_EINVAL (the point is not after the series' last one: a repeat or out of order; v
 * unchanged) or KM_ELIMIT (the table is full). now_ms drives forgetting idle series. */
int km_otlp_delta_add(struct km_otlp_delta *d, uint64_t key, uint64_t start_ns, uint64_t time_ns,
                      double *v, size_t n, int64_t now_ms);

/* Series held now. */
size_t km_otlp_delta_series(struct km_otlp_delta *d);

#endif
