/*
 * ingest_otlp — OpenTelemetry OTLP/HTTP ingest: POST /v1/metrics into the database and
 * POST /v1/logs into the log store, in protobuf (application/x-protobuf) or JSON
 * (application/json), gzip-compressed or not (Content-Encoding). Served by the main
 * listener and, with --otlp-listen, by a second one (the usual :4318).
 *
 * Answers as OTLP/HTTP says: 200 with an Export*ServiceResponse in the request's
 * content type, with partial_success (rejected count and a message) when some points or
 * records were refused; 400 for a body that does not decode (nothing stored), 413 past
 * the size caps, 415 for another content type or encoding, 429 (Retry-After) over the
 * ingest rate or at the series cap, 503 when the store fails. Metrics go through
 * remote_write's checks and limits (ingest_internal.h) and count as protocol "otlp";
 * the write token's cluster (auth.h) replaces the `cluster` label of everything written.
 *
 * Threads: the handlers run concurrently on the HTTP server's workers.
 */
#ifndef KMON_SERVER_INGEST_OTLP_H
#define KMON_SERVER_INGEST_OTLP_H

#include "common/http_server.h"

#include <stddef.h>

struct km_ingest;
struct km_log_sink;
struct km_mset;
struct km_otlp_ingest;

/* max_decoded_bytes: a gzip body may expand to this; max_delta_series: series whose
 * delta points are accumulated at once (otlp/otlp_delta.h). */
int km_otlp_ingest_create(struct km_otlp_ingest **out, size_t max_decoded_bytes,
                          size_t max_delta_series);
/* Where the data goes (the log sink is copied); called before the routes are marked
 * ready. */
void km_otlp_ingest_attach(struct km_otlp_ingest *o, struct km_ingest *in,
                           const struct km_log_sink *logs);
/* Accepts NULL. */
void km_otlp_ingest_destroy(struct km_otlp_ingest *o);

/* POST /v1/metrics and /v1/logs (KM_ROUTE_WRITE | KM_ROUTE_NEEDS_READY); ctx is the
 * km_otlp_ingest. */
extern const struct km_http_route km_otlp_routes[];
extern const size_t km_otlp_nroutes;

/* kmon_otlp_* families. */
void km_otlp_ingest_metrics(struct km_otlp_ingest *o, struct km_mset *m);

#endif
