/*
 * api_prom — the Prometheus HTTP API (/api/v1/query, query_range, series, labels,
 * label values, metadata, status, format_query, federate, …) over the PromQL engine and
 * the storage interface, with Prometheus' JSON: the envelope, errorType, values as
 * strings, timestamps as seconds, and its status codes (400 bad_data, 422 execution,
 * 503 timeout and canceled). Thin: the engine (src/promql) does the work.
 */
#ifndef KMON_SERVER_API_PROM_H
#define KMON_SERVER_API_PROM_H

#include "common/http_server.h"

#include <stddef.h>

/* Its routes, for a struct km_api_ctx (server_internal.h). */
extern const struct km_http_route km_api_prom_routes[];
extern const size_t km_api_prom_nroutes;

/* GET /federate (api_federate.c), one of those routes. */
void km_api_federate(struct km_http_req *req, void *api);

#endif
