/*
 * http_server — kmon's HTTP server: libmicrohttpd underneath, routing by method and path
 * pattern, request bodies collected up to a cap, JSON and text responses, CORS, and a
 * graceful stop that lets in-flight requests finish.
 *
 * Threads: libmicrohttpd's polling thread(s) (opts.threads, epoll) read requests and write
 * answers and never wait on a handler: with opts.workers > 0 a handler runs on one of
 * that many worker threads while its connection is suspended, so a slow handler (a big
 * ingest, a long query) holds a worker, never the polling thread that serves every other
 * connection. Handlers registered with km_http_server_route_inline() (health probes) run
 * on the polling thread itself and are answered at once whatever the workers are doing.
 * Handlers must be thread-safe with respect to the data they read. A handler runs once
 * the whole body has arrived and must answer with exactly one km_http_respond*() call
 * before it returns.
 *
 * Floods: at most opts.max_conns connections at once (RLIMIT_NOFILE's soft limit is
 * raised towards the hard one to fit them) and opts.max_conns_per_ip from one client
 * address, so one client cannot take the capacity others (the kubelet's probes) need; a
 * new connection must complete its request headers within opts.header_timeout_s.
 *
 * Errors: every answer kmon gives is JSON, including those about the request itself:
 * 413 (body past the cap; the body is read and dropped, up to KM_LIMIT_HTTP_DISCARD, so
 * that a client that sends it all before reading can read the answer), 414 (target past
 * KM_LIMIT_HTTP_URI), 431 (head past KM_LIMIT_HTTP_HEAD). libmicrohttpd answers by
 * itself, with its own HTML, only what it cannot parse (a malformed request line, header
 * or chunk, an unsupported HTTP version) and heads past KM_LIMIT_HTTP_CONN_MEMORY.
 *
 * Patterns are paths whose segments are literals or <name> parameters:
 * "/api/nodes/<node>/timeseries". A path that matches a pattern with another method
 * answers 405 with Allow; no match answers 404; both as JSON {"error": "..."}.
 */
#ifndef KMON_COMMON_HTTP_SERVER_H
#define KMON_COMMON_HTTP_SERVER_H

#include "buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct km_http_server;
struct km_http_req;

typedef void (*km_http_handler)(struct km_http_req *req, void *ud);

struct km_http_opts {
    const char *listen; /* "ADDR:PORT", ":PORT" (all addresses), "[::1]:PORT"; port 0 picks one */
    const char *name;   /* module name in logs, "agent" */
    size_t max_body;    /* request bodies past this answer 413 (0: KM_LIMIT_HTTP_BODY) */
    unsigned threads;   /* polling threads: 0 or 1: one; more: a pool of that many */
    unsigned workers;   /* handler threads (0: handlers run on the polling threads) */
    unsigned timeout_s; /* idle connections are closed after this (0: 30 s) */
    unsigned request_timeout_s; /* a request (headers and body) taking longer is cut (0: 30 s) */
    unsigned header_timeout_s;  /* a new connection's first request headers (0: 10 s) */
    unsigned max_conns;         /* concurrent connections (0: 1024) */
    unsigned max_conns_per_ip;  /* concurrent connections from one address (0: no limit) */
    bool cors;                  /* Access-Control-Allow-Origin: * and OPTIONS preflight */
};

/* Bind the listening socket and prepare the server (not yet serving). On success *out
 * is new; free it with km_http_server_destroy(). When RLIMIT_NOFILE cannot be raised to
 * fit opts.max_conns, the server takes fewer and says so at warn. */
int km_http_server_create(struct km_http_server **out, const struct km_http_opts *opts);

/* Register a route before km_http_server_start(). `method` is "GET", "POST", … ; GET
 * routes answer HEAD too. */
int km_http_server_route(struct km_http_server *s, const char *method, const char *pattern,
                         km_http_handler fn, void *ud);
/* The same for a handler that answers in microseconds and waits on no lock a slow
 * handler may hold (health probes): it runs on the polling thread, ahead of any queue. */
int km_http_server_route_inline(struct km_http_server *s, const char *method, const char *pattern,
                                km_http_handler fn, void *ud);

int km_http_server_start(struct km_http_server *s);

/* The port actually bound (useful with port 0). */
uint16_t km_http_server_port(const struct km_http_server *s);

/* Stop accepting connections, wait up to `grace_ms` for requests in flight, then close
 * everything. Safe to call on a server that was never started. */
void km_http_server_stop(struct km_http_server *s, int64_t grace_ms);

/* Stop (without grace) and free. Accepts NULL. */
void km_http_server_destroy(struct km_http_server *s);

struct km_mset;

/* kmon_http_requests_total{code,handler,method} and handler time, per route; open
 * connections, requests waiting for a worker, slow connections cut. */
void km_http_server_metrics(struct km_http_server *s, struct km_mset *m);

/* ---- inside a handler ---------------------------------------------------------------- */

const char *km_http_req_method(const struct km_http_req *r);
const char *km_http_req_path(const struct km_http_req *r);
/* A <name> segment of the matched pattern, or NULL. */
const char *km_http_req_param(const struct km_http_req *r, const char *name);
/* A query-string argument (?name=value), or NULL. */
const char *km_http_req_query(const struct km_http_req *r, const char *name);
/* A request header, or NULL. */
const char *km_http_req_header(const struct km_http_req *r, const char *name);
/* The request body (empty for GET). */
const char *km_http_req_body(const struct km_http_req *r, size_t *len);

/* The client's address as "ip:port" ("[ip6]:port") in out; returns out. */
const char *km_http_req_peer(const struct km_http_req *r, char *out, size_t size);

/* Add a response header to the answer that follows. At most 8 per request. */
int km_http_req_add_header(struct km_http_req *r, const char *name, const char *value);

/* Answer with a copy of data[0..len). */
int km_http_respond(struct km_http_req *r, unsigned status, const char *content_type,
                    const void *data, size_t len);
/* Answer with the buffer's contents, taking its memory (the buffer is left empty). */
int km_http_respond_buf(struct km_http_req *r, unsigned status, const char *content_type,
                        struct km_buf *body);
int km_http_respond_text(struct km_http_req *r, unsigned status, const char *text);
/* {"error": "<formatted message>"} with the given status. */
int km_http_respond_error(struct km_http_req *r, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
