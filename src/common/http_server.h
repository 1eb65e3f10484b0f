/*
 * http_server — kmon's HTTP server: libmicrohttpd underneath, routes as data (method,
 * path pattern, handler, flags), request arguments from the query string and form
 * bodies, bodies collected up to a cap, JSON and text answers, streamed answers
 * (chunked: produced on demand, or pushed from other threads as Server-Sent Events),
 * WebSocket sessions (RFC 6455, a thread each, capped), CORS, optional TLS (and client
 * certificates), and a graceful stop.
 *
 * Threads: libmicrohttpd's polling thread(s) (opts.threads, epoll) read requests and write
 * answers and never wait on a handler: with opts.workers > 0 a handler runs on one of
 * that many worker threads while its connection is suspended, so a slow handler (a big
 * ingest, a long query) holds a worker, never the polling thread that serves every other
 * connection. Routes flagged KM_ROUTE_INLINE (health probes) run on the polling thread
 * itself and are answered at once whatever the workers are doing. Handlers must be
 * thread-safe with respect to the data they read. A handler runs once the whole body
 * has arrived and must answer with exactly one km_http_respond*() call before it returns.
 *
 * Floods: at most opts.max_conns connections at once (RLIMIT_NOFILE's soft limit is
 * raised towards the hard one to fit them) and opts.max_conns_per_ip from one client
 * address, so one client cannot take the capacity others (the kubelet's probes) need; a
 * new connection must complete its request headers within opts.header_timeout_s.
 *
 * Errors: every answer kmon gives is JSON, including those about the request itself:
 * 400 (a malformed query string or form body), 413 (body past the cap; the body is read
 * and dropped, up to KM_LIMIT_HTTP_DISCARD, so that a client that sends it all before
 * reading can read the answer), 414 (target past KM_LIMIT_HTTP_URI), 431 (head past
 * KM_LIMIT_HTTP_HEAD). libmicrohttpd answers by itself, with its own HTML, only what it
 * cannot parse (a malformed request line, header or chunk, an unsupported HTTP version)
 * and heads past KM_LIMIT_HTTP_CONN_MEMORY.
 *
 * Patterns are paths whose segments are literals or <name> parameters
 * ("/api/nodes/<node>/timeseries"); a last segment "*" makes a prefix route, which
 * matches every path under the prefix ("/ui/" + "*" matches "/ui", "/ui/", "/ui/app.js",
 * "/ui/a/b"; the rest of the path is the parameter "*"). Among the routes whose pattern matches the
 * path and whose method is the request's, one without "*" wins over prefixes, a longer prefix over
 * a shorter one, and the first registered over later ones. A path that matches only patterns of
 * other methods answers 405 with Allow (every method registered for a pattern matching the path);
 * no match answers 404; both as JSON {"error": "..."}.
 */
#ifndef KMON_COMMON_HTTP_SERVER_H
#define KMON_COMMON_HTTP_SERVER_H

#include "buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct km_http_server;
struct km_http_req;
struct km_http_stream;

typedef void (*km_http_handler)(struct km_http_req *req, void *ctx);

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
    /* What routes flagged KM_ROUTE_NEEDS_READY answer (503, Retry-After: 5) until
     * km_http_server_set_ready() (NULL: "not ready yet"). */
    const char *not_ready_msg;
    /* HTTPS: PEM files read by km_http_server_create() (NULL: plain HTTP). The
     * certificate file may hold the chain after the server's certificate. TLS 1.2 and
     * 1.3 only. The files (and the client CA) are looked at every 2 s while serving and
     * reloaded when they change: new connections get the new pair; a pair that cannot
     * be used is logged once and the previous one keeps serving (kmon_tls_cert_* in
     * km_http_server_metrics()). */
    const char *tls_cert_file;
    const char *tls_key_file;
    /* With TLS: PEM CA certificate(s); every client must then present a certificate
     * they signed, or the TLS handshake fails (mutual TLS). NULL: none asked for. */
    const char *tls_client_ca_file;
    /* WebSocket sessions open at once (km_http_respond_websocket; 0: 64). Each holds a
     * thread and a connection; past the cap handshakes are refused with 503. */
    unsigned max_websockets;
    /* Access control. Called on the polling thread for each request a route matched, with
     * the route's flags, before anything else is done with it (before
     * KM_ROUTE_NEEDS_READY's 503, before a worker takes it): return true to let it
     * through, after km_http_req_set_auth() when there is an identity to attach, or false
     * after answering it (401 or 403 with km_http_respond_error()). Quick and never
     * blocking. NULL: every request passes. */
    bool (*authorize)(struct km_http_req *r, unsigned route_flags, void *ud);
    void *authorize_ud;
};

/* Bind the listening socket, read the TLS files, prepare the server (not yet serving).
 * On success *out is new; free it with km_http_server_destroy(). When RLIMIT_NOFILE
 * cannot be raised to fit opts.max_conns, the server takes fewer and says so at warn.
 * A TLS file that cannot be read or parsed is KM_EINVAL/KM_EIO with a message naming
 * it. */
int km_http_server_create(struct km_http_server **out, const struct km_http_opts *opts);

/* ---- routes ------------------------------------------------------------------------ */

enum {
    /* Runs on the polling thread, ahead of any queue: for handlers that answer in
     * microseconds and wait on no lock a slow handler may hold (health probes). */
    KM_ROUTE_INLINE = 1u << 0,
    /* Answers 503 (opts.not_ready_msg, Retry-After: 5) until km_http_server_set_ready():
     * the handler never runs before, so it need not check. */
    KM_ROUTE_NEEDS_READY = 1u << 1,
    /* The access a request needs when the server has opts.authorize (a route with none of
     * these is open to everyone: health probes, the dashboard's files). */
    KM_ROUTE_READ = 1u << 2,  /* queries: the REST, Prometheus and Loki APIs, /metrics */
    KM_ROUTE_WRITE = 1u << 3, /* ingest: remote_write, Loki push, OTLP, the JSON endpoints */
    KM_ROUTE_ADMIN = 1u << 4, /* reload, flush, snapshot, delete */
};

struct km_http_route {
    const char *method;  /* "GET" (answers HEAD too), "POST", … */
    const char *pattern; /* "/api/nodes/<node>"; a last segment "*" for a prefix */
    km_http_handler fn;
    unsigned flags; /* KM_ROUTE_* */
};

/* Register routes[0..n) before km_http_server_start(); each handler is called with
 * `ctx` (what those handlers need, and nothing more). Patterns and methods are copied. */
int km_http_server_add_routes(struct km_http_server *s, const struct km_http_route *routes,
                              size_t n, void *ctx);

/* Open (or close again) the routes flagged KM_ROUTE_NEEDS_READY. Whatever their
 * handlers' context holds must be set before this is called with true; any thread. */
void km_http_server_set_ready(struct km_http_server *s, bool ready);
bool km_http_server_ready(const struct km_http_server *s);

int km_http_server_start(struct km_http_server *s);

/* The port actually bound (useful with port 0). */
uint16_t km_http_server_port(const struct km_http_server *s);

/* Stop accepting connections; end push streams (their clients see a complete stream);
 * wait up to `grace_ms` for requests and streams in flight; then cancel what is left
 * (km_http_req_cancelled() and km_http_stream_cancelled() turn true, unfinished streams
 * are cut) and close everything. Safe to call on a server that was never started. */
void km_http_server_stop(struct km_http_server *s, int64_t grace_ms);

/* Stop (without grace) and free. Accepts NULL. Push streams still referenced by their
 * writers stay valid (cancelled) until km_http_stream_close(). */
void km_http_server_destroy(struct km_http_server *s);

struct km_mset;

/* kmon_http_requests_total{code,handler,method} and handler time, per route; open
 * connections, requests waiting for a worker, streams open, WebSockets open (and their
 * cap, and handshakes refused for it), slow connections cut. */
void km_http_server_metrics(struct km_http_server *s, struct km_mset *m);

/* ---- inside a handler ---------------------------------------------------------------- */

const char *km_http_req_method(const struct km_http_req *r);
const char *km_http_req_path(const struct km_http_req *r);
/* The raw query string (after '?', as sent, not decoded; "" when none): for opts.authorize,
 * which runs before the arguments are decoded. */
const char *km_http_req_query(const struct km_http_req *r, size_t *len);
/* A <name> segment of the matched pattern, or for "*" the rest of the path after a
 * prefix route's prefix, as sent ("" when nothing follows); NULL when there is none. */
const char *km_http_req_param(const struct km_http_req *r, const char *name);

/* Arguments, as Go's net/http (Request.ParseForm) reads them: for POST, PUT and PATCH
 * with Content-Type application/x-www-form-urlencoded, the body's first, then the query
 * string's, each in the order sent. Both are decoded the same way ("+" is a space, %XX
 * a byte; "a" alone is a = ""; empty pairs are skipped); a malformed one (a bad %
 * escape, a ";" separator) was answered 400 before the handler ran, and a form body past
 * KM_LIMIT_HTTP_FORM_BODY or more than KM_LIMIT_HTTP_FORM_FIELDS fields 413.
 * km_http_req_arg(): the first value of `name` (so a body's wins, as FormValue), or NULL. */
const char *km_http_req_arg(const struct km_http_req *r, const char *name);
/* Every value of `name` ("match[]" sent many times), in the order above: up to `max`
 * into out[]; returns how many there are (more than max: some were left out). */
size_t km_http_req_args(const struct km_http_req *r, const char *name, const char **out,
                        size_t max);
/* The i-th argument of all (0-based, same order): false past the last. */
bool km_http_req_arg_at(const struct km_http_req *r, size_t i, const char **name,
                        const char **value);

/* A request header (name case-insensitive), the first when sent several times, or NULL. */
const char *km_http_req_header(const struct km_http_req *r, const char *name);
/* Every value of a header sent several times, like km_http_req_args(). */
size_t km_http_req_headers(const struct km_http_req *r, const char *name, const char **out,
                           size_t max);
/* The client takes gzip (Accept-Encoding). JSON and text answers of 1 KiB and more are
 * compressed for it by km_http_respond() and km_http_respond_buf() unless the handler
 * set Content-Encoding itself (a body compressed ahead of time). */
bool km_http_req_accepts_gzip(const struct km_http_req *r);
/* If-None-Match names this (quoted) ETag, weak or strong, or is "*": answer 304. */
bool km_http_req_etag_matches(const struct km_http_req *r, const char *etag);
/* The request body (empty for GET; the raw bytes of a form body too). */
const char *km_http_req_body(const struct km_http_req *r, size_t *len);

/* The client's address as "ip:port" ("[ip6]:port") in out; returns out. */
const char *km_http_req_peer(const struct km_http_req *r, char *out, size_t size);

/* True once the client has gone away (closed or reset its connection) or the server is
 * stopping past its grace: a long evaluation polls it and gives up (its answer is never
 * read). Cheap to call often (it looks at the socket at most every few milliseconds).
 * Always false for a handler running on a polling thread (KM_ROUTE_INLINE, or a server
 * without workers): those must be short anyway. */
bool km_http_req_cancelled(struct km_http_req *r);

/* Attach who the request is (opts.authorize does, before the handler runs); free_auth
 * (if not NULL) frees it with the request. km_http_req_auth(): what was attached, or
 * NULL. */
void km_http_req_set_auth(struct km_http_req *r, void *auth, void (*free_auth)(void *auth));
void *km_http_req_auth(const struct km_http_req *r);

/* Add a response header to the answer that follows. At most 12 per request. */
int km_http_req_add_header(struct km_http_req *r, const char *name, const char *value);

/* Answer with a copy of data[0..len). */
int km_http_respond(struct km_http_req *r, unsigned status, const char *content_type,
                    const void *data, size_t len);
/* Answer with data[0..len) as it is, not copied: it must outlive the server (data
 * compiled into the binary). */
int km_http_respond_static(struct km_http_req *r, unsigned status, const char *content_type,
                           const void *data, size_t len);
/* Answer with the buffer's contents, taking its memory (the buffer is left empty). */
int km_http_respond_buf(struct km_http_req *r, unsigned status, const char *content_type,
                        struct km_buf *body);
int km_http_respond_text(struct km_http_req *r, unsigned status, const char *text);
/* {"error": "<formatted message>"} with the given status. */
int km_http_respond_error(struct km_http_req *r, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- streamed answers -----------------------------------------------------------------
 *
 * The body goes out with chunked transfer encoding as it is made, never whole in memory:
 * at most KM_LIMIT_HTTP_STREAM_BUF bytes wait for a slow client (plus what one produce
 * call adds). A stream ends complete (the terminating chunk) or cut (the connection is
 * closed without it, so the client knows the answer is incomplete).
 */

/* Return value of a produce function that wants to be called again. */
#define KM_HTTP_MORE 1

/* Append the next part of the body to `out` (any amount up to KM_LIMIT_HTTP_STREAM_STEP;
 * tens to hundreds of KiB at a time keep memory low) and return KM_HTTP_MORE to be
 * called again, 0 when the body is complete, or a negative KM_E* code when it cannot be
 * completed (the stream is cut). Called on the thread that ran the handler (a worker),
 * only while the client takes what was made before (backpressure), and never again once
 * the client has gone or the server stops; a long step may poll
 * km_http_stream_cancelled(st) and return KM_ECANCELED. */
typedef int (*km_http_produce_fn)(struct km_http_stream *st, struct km_buf *out, void *ud);

/* Answer with a body made by `produce`, called after the handler returns until it is
 * done, the client goes away or the server stops; then `free_ud(ud)` (if not NULL) runs
 * once, on the same thread. `ud` belongs to the stream from this call on, even when it
 * fails. The worker stays busy for the whole stream (a handler on a polling thread
 * produces there, in steps as the socket takes them: keep those short). A HEAD request
 * gets the head only (produce is never called). */
int km_http_respond_stream(struct km_http_req *r, unsigned status, const char *content_type,
                           km_http_produce_fn produce, void *ud, void (*free_ud)(void *ud));

/* Answer with a long-lived body that other threads write (Server-Sent Events: give
 * "text/event-stream"; a log tail): the handler returns at once and holds no worker. On
 * success *out is the writer's reference: write with km_http_stream_write() or
 * km_http_stream_event() from any thread, and end with km_http_stream_close(), which
 * must be called once in every case (also after the client went away). */
int km_http_respond_push(struct km_http_req *r, unsigned status, const char *content_type,
                         struct km_http_stream **out);

/* Queue data[0..len) for the client, all or nothing, without waiting: 0; KM_EAGAIN when
 * KM_LIMIT_HTTP_STREAM_BUF bytes already wait (the client reads slower than data comes:
 * drop this, or close); KM_ELIMIT when len alone is larger; KM_ECANCELED once the client
 * has gone or the server stops (close the stream). */
int km_http_stream_write(struct km_http_stream *st, const void *data, size_t len);
/* One Server-Sent Event: "event: <event>\n" (when not NULL) and a "data: " line for each
 * line of `data`, then a blank line; as km_http_stream_write(). */
int km_http_stream_event(struct km_http_stream *st, const char *event, const char *data);

/* True once the client has gone away or the server is stopping: stop producing. */
bool km_http_stream_cancelled(struct km_http_stream *st);

/* End a push stream (the client gets the rest of what was queued, then the end of the
 * body) and release the writer's reference; st is invalid after. Accepts NULL. */
void km_http_stream_close(struct km_http_stream *st);

/* ---- WebSockets (RFC 6455) -------------------------------------------------------------
 *
 * A handler that accepts a WebSocket answers with km_http_respond_websocket(): the
 * server checks the opening handshake, answers 101 and, once the connection is the
 * session's, runs `session` on a thread of its own (so a session may block; at most
 * opts.max_websockets of them at once). The session talks with km_ws_send_text() and
 * km_ws_recv() (which answers pings and watches for the client's close while it waits)
 * and returns when it is done; the server then sends a close frame (the code given to
 * km_ws_close(), 1000 by default, 1001 when the server stops), waits up to a second for
 * the client's, and closes the connection. It sends a ping after 30 s without traffic and
 * drops a client silent for 90 s. Frames from the client must be masked; messages are
 * joined from fragments up to 1 MiB. km_http_server_stop() ends every session: its
 * km_ws_* calls return KM_ECANCELED and it must return soon. Over TLS it works the same
 * (libmicrohttpd relays the bytes).
 *
 * The km_ws_* functions are for the session's own thread only.
 */
struct km_ws;

typedef void (*km_ws_session_fn)(struct km_ws *ws, void *ud);

/* Answer the request as a WebSocket opening handshake and give the connection to
 * `session`. `ud` belongs to the session from this call on: free_ud(ud) (if not NULL)
 * runs once when it is over, also when this call fails. On failure the request was
 * answered with an error (400 not a WebSocket handshake, 426 another version than 13,
 * 503 with Retry-After past opts.max_websockets or while stopping) and the error is
 * returned (KM_EINVAL, KM_ELIMIT, KM_ECANCELED). Validate the request's arguments
 * before: after the 101 errors can only go in close frames. */
int km_http_respond_websocket(struct km_http_req *r, km_ws_session_fn session, void *ud,
                              void (*free_ud)(void *ud));

/* Send a text message (UTF-8: the caller's promise). 0; KM_ECANCELED once the
 * connection is closing (the client closed, left or broke the protocol, or the server
 * stops); KM_ETIMEDOUT when the client took nothing for 10 s (the session ends). */
int km_ws_send_text(struct km_ws *ws, const void *data, size_t len);

/* Wait up to timeout_ms for a message from the client, meanwhile answering pings and
 * handling close frames: 1 with the message in msg (reset first; NULL: messages are
 * dropped, the wait goes on); 0 when the time is up; KM_ECANCELED once the connection
 * is closing. */
int km_ws_recv(struct km_ws *ws, int64_t timeout_ms, struct km_buf *msg);

/* The close frame sent when the session returns (default 1000, ""); the reason is cut
 * to 123 bytes. */
void km_ws_close(struct km_ws *ws, uint16_t code, const char *reason);

/* True once km_ws_* calls fail with KM_ECANCELED. */
bool km_ws_closing(const struct km_ws *ws);

#endif
