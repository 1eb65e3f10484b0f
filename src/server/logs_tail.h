/*
 * logs_tail — Loki's live tail, GET /loki/api/v1/tail, over a WebSocket (what Grafana's
 * Loki data source "Live" and `logcli query --tail` use): the last `limit` entries since
 * `start`, then every second the entries that arrived since, as Loki's TailResponse
 * ({"streams":[{"stream":{…},"values":[["<ns>","line"],…]}]}), each entry once.
 *
 * Threads: the handler runs on an HTTP worker and hands the connection to a WebSocket
 * session (a thread of its own, see http_server.h); it reads through the log source.
 */
#ifndef KMON_SERVER_LOGS_TAIL_H
#define KMON_SERVER_LOGS_TAIL_H

#include "common/http_server.h"
#include "logs/logsource.h"

#include <stdint.h>

/* The route's handler body: check the arguments (query: a log query; limit (default 100,
 * at most 5000); delay_for (seconds, at most 5); start (default an hour ago)) and answer
 * 400 in Loki's shape before the upgrade, or start the session. `src` is copied; what it
 * points to must outlive the HTTP server's stop. Every evaluation is bounded by
 * query_timeout_ms (0: none). */
void km_logs_tail_serve(struct km_http_req *req, const struct km_log_source *src,
                        int64_t query_timeout_ms);

#endif
