/*
 * http_internal — what the pieces of the HTTP server share (http_server.c: life cycle,
 * routing, requests; http_args.c: query strings and form bodies; http_stream.c:
 * streamed answers; http_ws.c: WebSocket sessions; http_tls.c: certificates). Internal to
 * src/common/http_*.c.
 *
 * Ownership: the server owns its routes, TLS material and the list of open streams; a
 * request (struct km_http_req) belongs to its MHD connection, from the URI callback to
 * the completion callback, and is lent to one worker while the connection is
 * suspended; a stream is shared by its MHD response and its producer or writer and
 * freed by whichever lets go last.
 */
#ifndef KMON_COMMON_HTTP_INTERNAL_H
#define KMON_COMMON_HTTP_INTERNAL_H

#include "buf.h"
#include "http_server.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KM_HTTP_MAX_ROUTES   128
#define KM_HTTP_MAX_SEGMENTS 16
#define KM_HTTP_MAX_PARAMS   8
#define KM_HTTP_MAX_HEADERS  12
#define KM_HTTP_PATH_MAX     2048

struct route {
    char method[16];
    char *pattern;  /* owned copy, as registered (the metrics' handler label) */
    char *segstore; /* owned; segs point into it */
    char *segs[KM_HTTP_MAX_SEGMENTS];
    size_t nsegs; /* segments before the "*" of a prefix route */
    bool prefix;  /* the pattern's last segment is "*" */
    km_http_handler fn;
    void *ctx;
    unsigned flags; /* KM_ROUTE_* */
    /* Requests answered, by status class (1xx … 5xx), and their handling time. */
    atomic_uint_fast64_t answered[5];
    atomic_uint_fast64_t handling_ns;
};

/* A connection, watched so that a client sending a request slower than the request
 * timeout (a byte now and then: the idle timeout never fires), or not reading a streamed
 * answer, is cut off. Under the server's conns_mu. */
struct km_tls_cred;
struct km_http_tls;

struct conn {
    struct conn *prev, *next;
    int fd;
    int64_t since_ns;  /* when its current request began, or its answer last moved */
    bool headers_done; /* its first request's headers have arrived */
    bool cut;
    bool server_idle; /* a handler works, or a streamed answer waits for its producer or
                       * writer: the server's delay, not the client's */
    bool unverified;  /* a client certificate is needed and could not be required: refuse */
    bool upgraded;    /* handed to a WebSocket session: no longer HTTP, never cut here */
    struct km_tls_cred *tls_cred; /* the TLS credential it began with (a reference) */
};

struct km_http_server {
    struct MHD_Daemon *daemon;
    int listen_fd;
    uint16_t port;
    struct km_http_opts opts; /* strings not kept (see not_ready_msg) */
    char name[32];
    char not_ready_msg[256];
    struct route routes[KM_HTTP_MAX_ROUTES];
    size_t nroutes;
    atomic_bool ready;                /* KM_ROUTE_NEEDS_READY routes are open */
    atomic_uint_fast64_t unrouted[5]; /* 404, 405, 413, OPTIONS answered without a handler */
    atomic_int inflight;              /* requests begun and not completed */
    atomic_bool quiescing;            /* stopping: new requests get 503 and a close */
    atomic_bool cancel_all;           /* stopping past the grace: give up on everything */
    /* The watchdog and the connections it watches. */
    pthread_mutex_t conns_mu;
    pthread_cond_t conns_cv;
    struct conn *conns;
    size_t nconns;
    pthread_t watchdog;
    bool watchdog_started, watchdog_stop;
    atomic_uint_fast64_t cut; /* connections cut for being too slow */
    /* Handler workers and the requests waiting for one (suspended connections). */
    pthread_mutex_t pool_mu;
    pthread_cond_t pool_cv;
    struct km_http_req *queue_head, *queue_tail;
    size_t queued;
    pthread_t *workers;
    unsigned nworkers; /* started */
    bool pool_stop;
    /* Streams whose MHD response is alive (http_stream.c). streams_mu is taken before
     * a stream's own lock, never after. */
    pthread_mutex_t streams_mu;
    struct km_http_stream *streams;
    size_t nstreams;
    bool streams_ending;    /* stopping: push streams end as soon as they start */
    bool streams_cancelled; /* stopping past the grace: every stream is cut */
    atomic_int resuming;    /* stream readers being resumed right now (see http_stream.c) */
    /* WebSocket sessions (http_ws.c): every one begun (answered 101 or about to be)
     * and not yet joined, under ws_mu. */
    pthread_mutex_t ws_mu;
    struct km_ws *ws;
    size_t nws;                      /* sessions open or reserved (counted against the cap) */
    bool ws_stopping;                /* the server stops: sessions end with 1001 */
    atomic_uint_fast64_t ws_refused; /* handshakes refused for the cap */
    atomic_uint_fast64_t ws_total;   /* sessions begun */
    /* TLS (http_tls.c): PEM texts for MHD's start, NUL-terminated, owned; tls_cert NULL
     * for plain HTTP. tls: the files, the credential being served, reload counters. */
    char *tls_cert, *tls_key, *tls_ca;
    struct km_http_tls *tls;
};

struct km_http_arg {
    const char *name, *value;
};

struct km_http_req {
    struct km_http_server *srv;
    struct MHD_Connection *conn;
    int fd; /* the connection's socket, for cancellation checks while suspended */
    const char *method;
    const char *path;
    size_t target_len; /* the request target as sent (path and query) */
    struct km_buf body;
    uint64_t discarded; /* body bytes dropped past the cap */
    bool begun;         /* the access handler has seen it */
    bool too_large;
    bool suspended; /* queued for or held by a worker; answered once resumed */
    bool responded; /* a response was built (and then delivered) */
    bool routed;    /* a route's handler ran (and counted the answer) */
    bool peer_gone; /* km_http_req_cancelled() saw the client leave */
    int64_t peer_checked_ns;
    unsigned status;
    struct MHD_Response *resp;     /* built by km_http_respond*(), not yet delivered */
    struct km_http_stream *stream; /* a stream the worker produces once the handler returns */
    struct km_ws *ws;              /* a WebSocket answered 101, until MHD hands it the socket */
    struct route *route;           /* for a worker */
    void *auth;                    /* opts.authorize's identity, freed with free_auth */
    void (*free_auth)(void *auth);
    struct km_http_req *qnext;
    size_t nparams;
    const char *param_names[KM_HTTP_MAX_PARAMS];
    const char *param_values[KM_HTTP_MAX_PARAMS];
    char pathcopy[KM_HTTP_PATH_MAX];
    size_t nheaders;
    char *headers[KM_HTTP_MAX_HEADERS][2];
    /* Arguments (http_args.c): names and values decoded into argstore; both owned. */
    struct km_http_arg *args;
    size_t nargs;
    char *argstore;
    size_t query_len; /* the raw query string (after '?', as sent), kept below */
    char query[];
};

/* http_server.c: keep `resp` as the request's answer, with the headers every answer
 * carries (takes resp, also on failure). */
int km_http_keep_response(struct km_http_req *r, unsigned status, const char *ctype,
                          struct MHD_Response *resp);
struct conn *km_http_conn_of(struct MHD_Connection *c);
/* A poll of the socket: has the peer closed or reset it? */
bool km_http_peer_hung_up(int fd);

/* http_gzip.c: an Accept-Encoding value takes gzip; a comma-separated list (an
 * If-None-Match) holds `token` (weak or strong) or "*"; gzip data[0..len) at `level`
 * into a new *out (the caller frees it). */
bool km_http_accepts_gzip(const char *accept_encoding);
bool km_http_list_has(const char *list, const char *token);
int km_http_gzip(const void *data, size_t len, int level, char **out, size_t *outlen);

/* http_args.c: decode the query string and a form body into r->args. 0, or the status
 * to answer (400, 413) with a message in msg. */
unsigned km_http_args_parse(struct km_http_req *r, char *msg, size_t size);
void km_http_args_fini(struct km_http_req *r);

/* http_stream.c. */
/* On the worker, after its handler returned and the connection was resumed: produce
 * the whole stream, then let go of it. */
void km_http_stream_produce(struct km_http_stream *st);
/* Stopping: end every push stream (streams that begin later too). */
void km_http_streams_end_push(struct km_http_server *s);
/* Stopping past the grace: cut every stream and wake whatever waits on one. */
void km_http_streams_cancel(struct km_http_server *s);
size_t km_http_streams_open(struct km_http_server *s);

/* http_ws.c. */
/* Opening handshakes answered (101) whose connection MHD never upgraded (the client
 * left first): give the session's reservation back. */
void km_http_ws_abandon(struct km_ws *ws);
/* Stopping: every session ends (a close frame 1001 to its client) and its thread is
 * joined; sessions that begin later end at once. */
void km_http_ws_stop_all(struct km_http_server *s);
size_t km_http_ws_open(struct km_http_server *s);
/* The cap on sessions (opts.max_websockets or its default). */
unsigned km_http_ws_cap(const struct km_http_server *s);

/* http_tls.c. */
int km_http_tls_load(struct km_http_server *s, const struct km_http_opts *o);
void km_http_tls_free(struct km_http_server *s);
/* Append MHD's TLS options to items[*n..] (at most 4). */
void km_http_tls_options(struct km_http_server *s, struct MHD_OptionItem *items, size_t *n);
unsigned km_http_tls_flags(const struct km_http_server *s);
/* A new connection, before its handshake: give it the current certificate (*held: a
 * reference for km_http_tls_on_close()) and require a client certificate the CA signed,
 * when there is a CA; false when that could not be arranged (its requests are then
 * refused). */
struct km_tls_cred;
bool km_http_tls_on_connection(struct km_http_server *s, struct MHD_Connection *conn,
                               struct km_tls_cred **held);
/* A connection closed: drop its reference (NULL: nothing). */
void km_http_tls_on_close(struct km_tls_cred *held);
/* On the watchdog: reload the certificate files if they changed (looked at every 2 s). */
void km_http_tls_tick(struct km_http_server *s, int64_t now_ns);
/* kmon_tls_cert_* figures (nothing for plain HTTP). */
struct km_mset;
void km_http_tls_metrics(struct km_http_server *s, struct km_mset *m);

#endif
