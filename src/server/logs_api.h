/*
 * logs_api — the server's Loki HTTP API over its log store (DATA/logs): the push API
 * (POST /loki/api/v1/push and Loki's legacy /api/prom/push, protobuf + snappy or JSON,
 * gzip accepted), LogQL queries (/loki/api/v1/query, /query_range), /labels,
 * /label/<name>/values, /series, /index/stats, /index/volume and /status/buildinfo,
 * with Loki's JSON shapes and status codes, so that promtail, Grafana Alloy, logging
 * libraries, Grafana's Loki data source and logcli work against kmon.
 *
 * Threads: the handlers run on the HTTP server's workers; the store is thread-safe and
 * the counters are atomic.
 */
#ifndef KMON_SERVER_LOGS_API_H
#define KMON_SERVER_LOGS_API_H

#include "common/http_server.h"

#include <stddef.h>
#include <stdint.h>

struct km_logstore;
struct km_log_sink;
struct km_log_source;
struct km_mset;

struct km_logs_api_opts {
    uint64_t max_decoded_bytes; /* a push body may not expand past this (413) */
    int64_t query_timeout_ms;   /* a query's longest run */
};

struct km_logs_api;

/* The API, without a store yet (its routes are registered before the store opens and
 * answer 503 until the server is ready). On success *out is new; free it with
 * km_logs_api_destroy(). */
int km_logs_api_create(struct km_logs_api **out, const struct km_logs_api_opts *o);

/* Serve from an open store: pushes go to `sink`, reads come from `src` (both copied; the
 * store they name is borrowed: close it after the HTTP server stopped), before the
 * server is marked ready. km_logs_api_attach() does it for the embedded log store. */
void km_logs_api_attach_sink(struct km_logs_api *a, const struct km_log_sink *sink,
                             const struct km_log_source *src);
void km_logs_api_attach(struct km_logs_api *a, struct km_logstore *store);

/* Share ingest's per-cluster table (ingest_cluster.h): pushes then count each cluster's
 * line bytes against --max-log-bytes-per-second-per-cluster (429 with Retry-After) and
 * in kmon_cluster_log_bytes_*; without it pushes are not counted per cluster. Borrowed;
 * set before the server is marked ready. Pushes by a write token bound to a cluster get
 * that cluster as their label `cluster` either way. */
struct km_clusters;
void km_logs_api_set_clusters(struct km_logs_api *a, struct km_clusters *c);

/* Accepts NULL. */
void km_logs_api_destroy(struct km_logs_api *a);

/* Its routes, to register with the struct km_logs_api as their context (every one
 * flagged KM_ROUTE_NEEDS_READY). */
extern const struct km_http_route km_logs_api_routes[];
extern const size_t km_logs_api_nroutes;

/* A time as Loki's API reads one (start, end, time): NULL or "" → def; a float with a
 * '.' is seconds; an integer of 10 digits or fewer is seconds, a longer one nanoseconds;
 * else RFC 3339. Stores nanoseconds; KM_EINVAL with Loki's message. */
int km_logs_api_parse_time(const char *v, int64_t def, int64_t *out);

/* kmon_logs_push_requests_total{code}, kmon_logs_queries_total{endpoint,code}. */
void km_logs_api_metrics(struct km_logs_api *a, struct km_mset *m);

#endif
