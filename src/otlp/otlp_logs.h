/*
 * otlp_logs — OTLP log records as log-store streams (logs/logtypes.h), kmon's Loki push
 * shape: a stream per resource and level, labelled job (service.namespace/service.name),
 * service_name, instance, namespace, pod, node, cluster, container (otlp_prom.h's
 * resource labels) and level (severity_text lowercased, else the severity_number's
 * range: trace, debug, info, warn, error, fatal); the line is the body (a string as it
 * is, anything else as JSON); the timestamp time_unix_nano, else observed_time_unix_nano,
 * else now. Log attributes, trace and span ids are dropped, as the Loki push path drops
 * structured metadata: the store keeps labels and lines only.
 *
 * Pure; everything points into the request's arena except the arrays of *out.
 */
#ifndef KMON_OTLP_OTLP_LOGS_H
#define KMON_OTLP_OTLP_LOGS_H

#include "logs/logtypes.h"
#include "otlp.h"

struct km_otlp_streams {
    struct km_log_push_stream *v;
    size_t n;
    struct km_log_entry *entries; /* every stream's, one array */
    struct km_label *labels;      /* every stream's, one array */
    size_t nentries;
};

/* The level word of a record ("" when it has none). */
const char *km_otlp_log_level(struct km_arena *a, const struct km_otlp_log *l);

/* Group the request's records into streams (zero *out first). `cluster`: the write
 * token's cluster, set on every stream, or NULL. 0, or KM_ENOMEM/KM_ELIMIT. */
int km_otlp_to_streams(struct km_otlp_logs_req *r, const char *cluster, int64_t now_ns,
                       struct km_otlp_streams *out);
void km_otlp_streams_fini(struct km_otlp_streams *s);

#endif
