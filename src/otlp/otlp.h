/*
 * otlp — OpenTelemetry OTLP/HTTP export requests (ExportMetricsServiceRequest,
 * ExportLogsServiceRequest) decoded from protobuf (application/x-protobuf) or from OTLP's
 * JSON (application/json: lowerCamelCase names, 64-bit integers as strings or numbers,
 * enums as integers, trace and span ids as hex) into one plain tree both decoders fill
 * alike. otlp.proto beside this file lists the messages and fields read.
 *
 * What the tree holds: attribute values rendered as text the way OpenTelemetry's
 * attribute specification turns them into strings (bool "true"/"false", integers in
 * decimal, doubles shortest-exact, bytes base64, arrays and maps as JSON); a log body
 * the same way (a string as it is, anything else as JSON). Every string is a
 * NUL-terminated copy in the request's arena, so the tree outlives the body.
 *
 * Pure: no server types, no I/O; each request owns its memory (one arena, bounded by a
 * multiple of the body's size: a body that would expand past it is KM_ELIMIT).
 * Thread-safe as long as each request has one user.
 */
#ifndef KMON_OTLP_OTLP_H
#define KMON_OTLP_OTLP_H

#include "common/arena.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One attribute: key and value as text (see above). */
struct km_otlp_attr {
    const char *key;
    const char *value;
};

enum km_otlp_type {
    KM_OTLP_NONE = 0, /* a metric without data (skipped) */
    KM_OTLP_GAUGE,
    KM_OTLP_SUM,
    KM_OTLP_HISTOGRAM,
    KM_OTLP_EXP_HISTOGRAM,
    KM_OTLP_SUMMARY,
};

/* AggregationTemporality. */
enum { KM_OTLP_TEMPORALITY_UNSPECIFIED = 0, KM_OTLP_DELTA = 1, KM_OTLP_CUMULATIVE = 2 };

/* DataPointFlags: the point marks the end of its series (a Prometheus stale marker). */
#define KM_OTLP_FLAG_NO_RECORDED_VALUE 1u

/* An exponential histogram's buckets on one side of zero: counts[i] is the bucket of
 * index offset + i, holding values in (base^index, base^(index+1)], base = 2^(2^-scale). */
struct km_otlp_ebuckets {
    int32_t offset;
    const uint64_t *counts;
    size_t n;
};

/* One data point, whatever its metric's type (the fields of the other types are zero). */
struct km_otlp_point {
    const struct km_otlp_attr *attrs;
    size_t nattrs;
    uint64_t start_ns, time_ns;
    uint32_t flags;
    /* Gauge, Sum (as_int read as a double). */
    double value;
    /* Histogram, ExponentialHistogram, Summary. */
    uint64_t count;
    double sum;
    bool has_sum;
    /* Histogram: nbounds + 1 buckets when it has any. */
    const double *bounds;
    size_t nbounds;
    const uint64_t *buckets;
    size_t nbuckets;
    /* ExponentialHistogram. */
    int32_t scale;
    uint64_t zero_count;
    double zero_threshold;
    struct km_otlp_ebuckets pos, neg;
    /* Summary: quantile → value, as sent. */
    const double *quantiles, *qvalues;
    size_t nquantiles;
};

struct km_otlp_metric {
    const char *name, *description, *unit;
    enum km_otlp_type type;
    int temporality; /* KM_OTLP_DELTA, KM_OTLP_CUMULATIVE (Sum, Histogram, Exp.) */
    bool monotonic;  /* Sum */
    const struct km_otlp_point *points;
    size_t npoints;
};

/* An instrumentation scope. */
struct km_otlp_scope {
    const char *name, *version;
    const struct km_otlp_attr *attrs;
    size_t nattrs;
};

struct km_otlp_scope_metrics {
    struct km_otlp_scope scope;
    const struct km_otlp_metric *metrics;
    size_t nmetrics;
};

struct km_otlp_resource_metrics {
    const struct km_otlp_attr *attrs; /* the resource's */
    size_t nattrs;
    const struct km_otlp_scope_metrics *scopes;
    size_t nscopes;
};

/* A decoded ExportMetricsServiceRequest. Zero it before decoding. */
struct km_otlp_metrics_req {
    struct km_arena arena;
    const struct km_otlp_resource_metrics *resources;
    size_t nresources;
    size_t npoints; /* over every metric */
};

/* One LogRecord. */
struct km_otlp_log {
    uint64_t time_ns, observed_ns;
    int32_t severity_number;
    const char *severity_text;
    const char *body; /* body_len bytes (+ NUL) */
    size_t body_len;
    const struct km_otlp_attr *attrs;
    size_t nattrs;
    const char *trace_id, *span_id; /* lowercase hex, "" when absent */
};

struct km_otlp_scope_logs {
    struct km_otlp_scope scope;
    const struct km_otlp_log *logs;
    size_t nlogs;
};

struct km_otlp_resource_logs {
    const struct km_otlp_attr *attrs;
    size_t nattrs;
    const struct km_otlp_scope_logs *scopes;
    size_t nscopes;
};

/* A decoded ExportLogsServiceRequest. Zero it before decoding. */
struct km_otlp_logs_req {
    struct km_arena arena;
    const struct km_otlp_resource_logs *resources;
    size_t nresources;
    size_t nlogs;
};

/* Decode body[0..n): 0, or KM_EINVAL (malformed, with a message naming the message and
 * field), KM_ELIMIT (the tree would pass the memory bound) or KM_ENOMEM. On error the
 * request holds nothing usable but must still be finished. */
int km_otlp_metrics_decode_pb(struct km_otlp_metrics_req *r, const void *body, size_t n);
int km_otlp_metrics_decode_json(struct km_otlp_metrics_req *r, const void *body, size_t n);
int km_otlp_logs_decode_pb(struct km_otlp_logs_req *r, const void *body, size_t n);
int km_otlp_logs_decode_json(struct km_otlp_logs_req *r, const void *body, size_t n);

/* Free a request's memory (accepts one that was only zeroed). */
void km_otlp_metrics_fini(struct km_otlp_metrics_req *r);
void km_otlp_logs_fini(struct km_otlp_logs_req *r);

/* ---- shared by the decoders (otlp_common.c) ---------------------------------------- */

/* The arena of a request decoding a body of n bytes. */
void km_otlp_arena_init(struct km_arena *a, size_t n);
/* n zeroed elements of size `size` from the arena, or NULL with KM_ELIMIT/KM_ENOMEM set
 * (n == 0: a valid pointer to nothing). */
void *km_otlp_alloc(struct km_arena *a, size_t n, size_t size);
/* A NUL-terminated copy, or NULL with the error set. */
char *km_otlp_strdup(struct km_arena *a, const char *s, size_t n);
/* Bytes as base64 (attribute values) or lowercase hex (trace/span ids), or NULL. */
char *km_otlp_base64(struct km_arena *a, const uint8_t *p, size_t n);
char *km_otlp_hex(struct km_arena *a, const uint8_t *p, size_t n);

#endif
