/*
 * otlp_prom — OTLP metrics as Prometheus samples, as the OpenTelemetry "Prometheus and
 * OpenMetrics Compatibility" specification maps them (OTLP Metric points to Prometheus):
 *
 *   names     invalid characters → "_", runs of "_" → one, a leading digit gets "_";
 *             the unit converted ("s" → seconds, "By" → bytes, "ms" → milliseconds,
 *             "1" → ratio for gauges, {annotations} dropped, "a/b" → a_per_b) and
 *             appended unless the name already holds it; monotonic sums get "_total"
 *             (after the unit);
 *   Gauge     a gauge; Sum monotonic → counter, non-monotonic cumulative → gauge; delta
 *             monotonic sums accumulated into cumulative ones (otlp_delta.h), delta
 *             non-monotonic sums dropped (the specification's "otherwise dropped");
 *   Histogram _bucket{le} (cumulative, ending with le="+Inf"), _sum (when sent), _count;
 *             delta histograms accumulated as sums are;
 *   ExponentialHistogram  kmon's store keeps no native histograms: converted to explicit
 *             buckets (le = each bucket's upper bound base^(index+1), negative buckets
 *             and the zero bucket below them) with _sum and _count; delta ones dropped
 *             (as the specification says);
 *   Summary   {quantile} series, _sum, _count;
 *   labels    attributes with names sanitised like metric names (a leading digit gets
 *             "key_"), names that collide joined with ";" in the order of the original
 *             keys; otel_scope_name, otel_scope_version; from the resource job
 *             (service.namespace/service.name), instance (service.instance.id) and kmon's
 *             promoted ones: namespace, pod, node, cluster, container (k8s.*.name);
 *   target_info  one gauge (1) per resource with job, instance and the other resource
 *             attributes as labels (plus cluster);
 *   NoRecordedValue  a Prometheus stale marker; time_unix_nano → ms (0: now);
 *   metadata  type, help (description) and unit per metric family.
 * Created timestamps (_created) and exemplars are not produced.
 *
 * Pure apart from the delta state the caller passes; label strings live in the
 * request's arena, the sample arrays in *out.
 */
#ifndef KMON_OTLP_OTLP_PROM_H
#define KMON_OTLP_OTLP_PROM_H

#include "otlp.h"
#include "storage/metadata.h"
#include "storage/sample.h"

struct km_otlp_delta;

struct km_otlp_map_opts {
    const char *cluster;         /* the `cluster` label of everything, or NULL: as sent */
    struct km_otlp_delta *delta; /* delta state, or NULL: delta points are dropped */
    int64_t now_ms;              /* the time of points without one */
};

struct km_otlp_samples {
    struct km_sample *v;
    uint32_t *point; /* the data point (0-based, in request order) each sample comes from */
    size_t n, cap;
    struct km_metadata *md; /* one entry per family name (the first one met) */
    size_t nmd, capmd;
    uint32_t *mdset; /* open addressing over md by name (indexes + 1; 0: empty) */
    size_t mdmask;
    uint64_t points;       /* data points read */
    uint64_t dropped;      /* data points not stored: delta kinds Prometheus has none of, delta
                            * points out of order or past the delta state's bound, unusable
                            * exponential scales */
    char dropped_why[160]; /* the first drop's reason */
};

/* Map the request's metrics into *out (zero it first; free with km_otlp_samples_fini
 * after the request's arena is no longer needed... the labels live there). 0, or
 * KM_ENOMEM/KM_ELIMIT. */
int km_otlp_to_samples(struct km_otlp_metrics_req *r, const struct km_otlp_map_opts *o,
                       struct km_otlp_samples *out);
void km_otlp_samples_fini(struct km_otlp_samples *s);

/* The samples km_otlp_to_samples() gives the request at most (for a rate limit taken
 * before mapping). */
uint64_t km_otlp_samples_estimate(const struct km_otlp_metrics_req *r);

/* The Prometheus unit word of an OTLP unit ("ms" → "milliseconds", "By/s" →
 * "bytes_per_second", "1" → "ratio" when gauge, else ""; "{req}" → ""); into out. */
void km_otlp_unit_name(const char *unit, bool gauge, char *out, size_t size);

/* The Prometheus name of a metric (sanitised, unit, _total), into the arena; NULL when
 * out of memory. `counter`: a monotonic sum; `gauge`: exposed as a gauge. */
char *km_otlp_metric_name(struct km_arena *a, const char *name, const char *unit, bool counter,
                          bool gauge);

/* An attribute key as a label name (sanitised; a leading digit gets "key_"). */
char *km_otlp_label_name(struct km_arena *a, const char *key);

/* The labels a resource gives its series and streams: job, instance, namespace, pod,
 * node, cluster, container (only those it has), plus service_name when logs is set. At
 * most KM_OTLP_RESOURCE_LABELS, into out; returns how many. Strings from the arena or
 * the attributes. */
#define KM_OTLP_RESOURCE_LABELS 9
size_t km_otlp_resource_labels(struct km_arena *a, const struct km_otlp_attr *attrs, size_t n,
                               bool logs, struct km_label *out);

#endif
