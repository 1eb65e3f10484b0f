/*
 * metadata — what a store keeps about a metric family besides its samples: the TYPE,
 * HELP and UNIT that exporters publish and remote_write 1.0 carries (MetricMetadata),
 * served by /api/v1/metadata. Several distinct (type, help, unit) may be kept for one
 * name (two exporters, two versions of one), each once. Plain types and pure
 * functions; thread-safe.
 */
#ifndef KMON_STORAGE_METADATA_H
#define KMON_STORAGE_METADATA_H

/* A family's type, numbered as remote.proto's MetricMetadata.MetricType. */
enum km_metric_type {
    KM_METRIC_UNKNOWN = 0,
    KM_METRIC_COUNTER = 1,
    KM_METRIC_GAUGE = 2,
    KM_METRIC_HISTOGRAM = 3,
    KM_METRIC_GAUGEHISTOGRAM = 4,
    KM_METRIC_SUMMARY = 5,
    KM_METRIC_INFO = 6,
    KM_METRIC_STATESET = 7,
};
#define KM_METRIC_NTYPES (KM_METRIC_STATESET + 1)

/* One metadata entry. Strings are NUL-terminated, valid UTF-8; `name` is a valid metric
 * name (a histogram's family name, without _bucket), help and unit may be empty. */
struct km_metadata {
    const char *name;
    enum km_metric_type type;
    const char *help;
    const char *unit;
};

/* Called for each entry of a listing; a non-zero return stops it and is returned. */
typedef int (*km_metadata_fn)(void *ud, const struct km_metadata *md);

/* Prometheus' lowercase name of a type ("counter", "gaugehistogram", …); "unknown" for
 * any value outside the enum (a newer sender's). */
const char *km_metric_type_name(enum km_metric_type t);

#endif
