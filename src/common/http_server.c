/*
 * http_server — libmicrohttpd wrapper with routing (see http_server.h).
 *
 * Request life cycle, all of it on MHD's polling thread but the handler:
 *   URI logged  allocate a km_http_req with the target's length (owned by the connection
 *               until MHD's completion callback frees it, even when MHD answers an
 *               unparsable head itself and the access handler never runs);
 *   1st call    check the head (414, 431) and Content-Length (413: answered now only
 *               when the client waits for 100-continue or announces more than we would
 *               drain; otherwise the body is drained first, see below);
 *   next calls  append upload data to the body; past the cap, drop it (no buffering)
 *               up to KM_LIMIT_HTTP_DISCARD, so the 413 that follows can be read;
 *   last call   route; an inline route (or a server without workers) runs its handler
 *               here; any other suspends the connection and queues the request for a
 *               worker, which runs the handler and resumes the connection; MHD then
 *               calls once more and the answer the handler built is queued.
 * Handlers build their answer (km_http_respond*) into the request; deliver() hands it
 * to MHD on the polling thread. We bind the listening socket ourselves (clear errors,
 * dual-stack for ":PORT", a deep accept queue) and pass it to MHD;
 * MHD_quiesce_daemon() hands it back at shutdown.
 */
#include "http_server.h"

#include "err.h"
#include "jsonw.h"
#include "limits.h"
#include "log.h"
#include "mset.h"
#include "timefmt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define KM_HTTP_MAX_ROUTES   128
#define KM_HTTP_MAX_SEGMENTS 16
#define KM_HTTP_MAX_PARAMS   8
#define KM_HTTP_MAX_HEADERS  8
#define KM_HTTP_PATH_MAX     2048
/* Descriptors left for the rest of the process when sizing RLIMIT_NOFILE. */
#define KM_HTTP_FD_RESERVE 1024
/* At a stop, how long answers given after the grace period may take to leave. */
#define KM_HTTP_FLUSH_MS 1000

struct route {
    char method[16];
    char *pattern;                    /* owned copy */
    char *segs[KM_HTTP_MAX_SEGMENTS]; /* point into `segstore` */
    char *segstore;
    size_t nsegs;
    km_http_handler fn;
    void *ud;
    bool inline_; /* runs on the polling thread, never queued */
    /* Requests answered, by status class (1xx … 5xx), and their handling time. */
    atomic_uint_fast64_t answered[5];
    atomic_uint_fast64_t handling_ns;
};

/* A connection, watched so that a client sending a request slower than the request
 * timeout (a byte now and then: the idle timeout never fires) is cut off. */
struct conn {
    struct conn *prev, *next;
    int fd;
    int64_t since_ns;  /* when its current request began (or the last answer left) */
    bool headers_done; /* its first request's headers have arrived */
    bool cut;
};

struct km_http_server {
    struct MHD_Daemon *daemon;
    int listen_fd;
    uint16_t port;
    struct km_http_opts opts;
    char name[32];
    struct route routes[KM_HTTP_MAX_ROUTES];
    size_t nroutes;
    atomic_uint_fast64_t unrouted[5]; /* 404, 405, 413, OPTIONS answered without a handler */
    atomic_int inflight;              /* requests begun and not completed */
    atomic_bool quiescing;            /* stopping: new requests get 503 and a close */
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
};

struct km_http_req {
    struct km_http_server *srv;
    struct MHD_Connection *conn;
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
    unsigned status;
    struct MHD_Response *resp; /* built by km_http_respond*(), not yet delivered */
    struct route *route;       /* for a worker */
    struct km_http_req *qnext;
    size_t nparams;
    const char *param_names[KM_HTTP_MAX_PARAMS];
    char *param_values[KM_HTTP_MAX_PARAMS];
    char pathcopy[KM_HTTP_PATH_MAX];
    size_t nheaders;
    char *headers[KM_HTTP_MAX_HEADERS][2];
};

/* ---- listening socket ---------------------------------------------------------------- */

static int split_listen(const char *listen, char *host, size_t hsize, char *port, size_t psize)
{
    const char *colon;

    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');

        if (!close || close[1] != ':')
            return km_err_set(KM_EINVAL, "bad listen address \"%s\" (want [ADDR]:PORT)", listen);
        snprintf(host, hsize, "%.*s", (int)(close - listen - 1), listen + 1);
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon)
            return km_err_set(KM_EINVAL, "bad listen address \"%s\" (want ADDR:PORT or :PORT)",
                              listen);
        snprintf(host, hsize, "%.*s", (int)(colon - listen), listen);
    }
    snprintf(port, psize, "%s", colon + 1);
    if (!port[0] || strspn(port, "0123456789") != strlen(port) || atoi(port) > 65535)
        return km_err_set(KM_EINVAL, "bad port in listen address \"%s\"", listen);
    return 0;
}

static int bind_one(const struct sockaddr *sa, socklen_t len, bool dual)
{
    int one = 1, zero = 0;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (dual)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    /* A deep accept queue: under a burst of connections a probe's SYN must not be
     * dropped (its retry comes a second later). The kernel caps it at somaxconn. */
    if (bind(fd, sa, len) < 0 || listen(fd, SOMAXCONN) < 0) {
        int e = errno;

        close(fd);
        return -e;
    }
    return fd;
}

static int open_listener(const char *listen, int *out_fd, uint16_t *out_port)
{
    char host[256], port[16];
    struct addrinfo hints = { 0 }, *res = NULL, *ai;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    int rc, fd = -EADDRNOTAVAIL;

    rc = split_listen(listen, host, sizeof(host), port, sizeof(port));
    if (rc)
        return rc;
    if (host[0] == '\0' || strcmp(host, "*") == 0) {
        struct sockaddr_in6 a6 = { .sin6_family = AF_INET6,
                                   .sin6_addr = in6addr_any,
                                   .sin6_port = htons((uint16_t)atoi(port)) };
        struct sockaddr_in a4 = { .sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_ANY),
                                  .sin_port = htons((uint16_t)atoi(port)) };

        fd = bind_one((struct sockaddr *)&a6, sizeof(a6), true);
        if (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL)
            fd = bind_one((struct sockaddr *)&a4, sizeof(a4), false);
    } else {
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
        rc = getaddrinfo(host, port, &hints, &res);
        if (rc)
            return km_err_set(KM_EINVAL, "cannot resolve listen address \"%s\": %s", listen,
                              gai_strerror(rc));
        for (ai = res; ai; ai = ai->ai_next) {
            fd = bind_one(ai->ai_addr, ai->ai_addrlen, false);
            if (fd >= 0)
                break;
        }
        freeaddrinfo(res);
    }
    if (fd < 0)
        return km_err_set_errno(KM_EIO, -fd, "cannot listen on %s", listen);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        *out_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                   : ((struct sockaddr_in *)&ss)->sin_port);
    *out_fd = fd;
    return 0;
}

/* ---- routing ------------------------------------------------------------------------- */

/* Split a path into segments in place; "/a/b/" gives "a", "b". */
static size_t split_path(char *p, char **segs, size_t max)
{
    size_t n = 0;

    while (*p) {
        while (*p == '/')
            *p++ = '\0';
        if (!*p)
            break;
        if (n == max)
            return max + 1;
        segs[n++] = p;
        while (*p && *p != '/')
            p++;
    }
    return n;
}

static int add_route(struct km_http_server *s, const char *method, const char *pattern,
                     km_http_handler fn, void *ud, bool inline_)
{
    struct route *r;

    if (s->nroutes == KM_HTTP_MAX_ROUTES)
        return km_err_set(KM_ELIMIT, "too many HTTP routes");
    r = &s->routes[s->nroutes];
    memset(r, 0, sizeof(*r));
    snprintf(r->method, sizeof(r->method), "%s", method);
    r->pattern = strdup(pattern);
    r->segstore = strdup(pattern);
    if (!r->pattern || !r->segstore) {
        free(r->pattern);
        free(r->segstore);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    r->nsegs = split_path(r->segstore, r->segs, KM_HTTP_MAX_SEGMENTS);
    if (r->nsegs > KM_HTTP_MAX_SEGMENTS) {
        free(r->pattern);
        free(r->segstore);
        return km_err_set(KM_ELIMIT, "route %s has too many segments", pattern);
    }
    r->fn = fn;
    r->ud = ud;
    r->inline_ = inline_;
    s->nroutes++;
    return 0;
}

int km_http_server_route(struct km_http_server *s, const char *method, const char *pattern,
                         km_http_handler fn, void *ud)
{
    return add_route(s, method, pattern, fn, ud, false);
}

int km_http_server_route_inline(struct km_http_server *s, const char *method, const char *pattern,
                                km_http_handler fn, void *ud)
{
    return add_route(s, method, pattern, fn, ud, true);
}

static bool route_matches(const struct route *r, char **segs, size_t nsegs)
{
    if (r->nsegs != nsegs)
        return false;
    for (size_t i = 0; i < nsegs; i++) {
        if (r->segs[i][0] == '<')
            continue;
        if (strcmp(r->segs[i], segs[i]) != 0)
            return false;
    }
    return true;
}

static bool method_matches(const char *route_method, const char *method)
{
    return strcmp(route_method, method) == 0 ||
           (strcmp(route_method, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

/* ---- responses ----------------------------------------------------------------------- */

/* Keep `resp` as the request's answer, with the headers every answer carries. The
 * polling thread hands it to MHD (deliver()). */
static int keep_response(struct km_http_req *r, unsigned status, const char *ctype,
                         struct MHD_Response *resp)
{
    if (!resp)
        return KM_ENOMEM;
    if (r->resp) {
        MHD_destroy_response(resp);
        return KM_EINVAL; /* a second answer to one request */
    }
    if (ctype)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (r->srv->opts.cors)
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
    for (size_t i = 0; i < r->nheaders; i++)
        MHD_add_response_header(resp, r->headers[i][0], r->headers[i][1]);
    r->resp = resp;
    r->responded = true;
    r->status = status;
    return 0;
}

static struct conn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci ? ci->socket_context : NULL;
}

/* Queue the answer the request holds; on the polling thread. */
static enum MHD_Result deliver(struct km_http_req *r)
{
    struct conn *c = conn_of(r->conn);
    enum MHD_Result ret;

    if (!r->resp)
        return MHD_NO;
    ret = MHD_queue_response(r->conn, r->status, r->resp);
    MHD_destroy_response(r->resp);
    r->resp = NULL;
    /* Answered: the next request's clock starts now (the idle timeout covers the wait
     * for it). */
    if (c) {
        pthread_mutex_lock(&r->srv->conns_mu);
        c->since_ns = km_time_mono_ns();
        pthread_mutex_unlock(&r->srv->conns_mu);
    }
    return ret;
}

int km_http_respond(struct km_http_req *r, unsigned status, const char *content_type,
                    const void *data, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)(uintptr_t)data, MHD_RESPMEM_MUST_COPY);

    return keep_response(r, status, content_type, resp);
}

int km_http_respond_buf(struct km_http_req *r, unsigned status, const char *content_type,
                        struct km_buf *body)
{
    size_t len;
    char *data = km_buf_detach(body, &len);
    struct MHD_Response *resp;

    resp = MHD_create_response_from_buffer_with_free_callback(len, data, free);
    if (!resp) {
        free(data);
        return KM_ENOMEM;
    }
    return keep_response(r, status, content_type, resp);
}

int km_http_respond_text(struct km_http_req *r, unsigned status, const char *text)
{
    return km_http_respond(r, status, "text/plain; charset=utf-8", text, strlen(text));
}

static int respond_errorv(struct km_http_req *r, unsigned status, const char *fmt, va_list ap)
{
    char msg[1024];
    struct km_buf b;
    struct km_jsonw w;
    int rc;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    km_buf_init(&b, 0);
    km_jsonw_init(&w, &b);
    km_jsonw_obj_begin(&w);
    km_jsonw_key(&w, "error");
    km_jsonw_str(&w, msg);
    km_jsonw_obj_end(&w);
    km_buf_putc(&b, '\n');
    rc = km_http_respond(r, status, "application/json", km_buf_cstr(&b), b.len);
    km_buf_fini(&b);
    return rc;
}

int km_http_respond_error(struct km_http_req *r, unsigned status, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = respond_errorv(r, status, fmt, ap);
    va_end(ap);
    return rc;
}

/* Answer with a JSON error now, from the polling thread. */
static enum MHD_Result refuse(struct km_http_req *r, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum MHD_Result refuse(struct km_http_req *r, unsigned status, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = respond_errorv(r, status, fmt, ap);
    va_end(ap);
    return rc ? MHD_NO : deliver(r);
}

int km_http_req_add_header(struct km_http_req *r, const char *name, const char *value)
{
    char *n, *v;

    if (r->nheaders == KM_HTTP_MAX_HEADERS)
        return km_err_set(KM_ELIMIT, "too many response headers");
    n = strdup(name);
    v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    r->headers[r->nheaders][0] = n;
    r->headers[r->nheaders][1] = v;
    r->nheaders++;
    return 0;
}

/* ---- request accessors --------------------------------------------------------------- */

const char *km_http_req_method(const struct km_http_req *r)
{
    return r->method;
}

const char *km_http_req_path(const struct km_http_req *r)
{
    return r->path;
}

const char *km_http_req_param(const struct km_http_req *r, const char *name)
{
    for (size_t i = 0; i < r->nparams; i++) {
        if (strcmp(r->param_names[i], name) == 0)
            return r->param_values[i];
    }
    return NULL;
}

const char *km_http_req_query(const struct km_http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *km_http_req_header(const struct km_http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *km_http_req_body(const struct km_http_req *r, size_t *len)
{
    *len = r->body.len;
    return km_buf_cstr(&r->body);
}

const char *km_http_req_peer(const struct km_http_req *r, char *out, size_t size)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;

    if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)ci->client_addr;

        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
        port = ntohs(a->sin_port);
        snprintf(out, size, "%s:%u", host, port);
    } else if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)ci->client_addr;

        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        port = ntohs(a->sin6_port);
        snprintf(out, size, "[%s]:%u", host, port);
    } else {
        snprintf(out, size, "?");
    }
    return out;
}

/* ---- handlers -------------------------------------------------------------------------- */

static struct km_http_req *req_new(struct km_http_server *s, struct MHD_Connection *conn)
{
    struct km_http_req *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    r->srv = s;
    r->conn = conn;
    km_buf_init(&r->body, s->opts.max_body);
    return r;
}

static void req_free(struct km_http_req *r)
{
    if (!r)
        return;
    if (r->resp)
        MHD_destroy_response(r->resp);
    km_buf_fini(&r->body);
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->headers[i][0]);
        free(r->headers[i][1]);
    }
    free(r);
}

/* Run the route's handler and count its answer (a 500 if it gave none). */
static void run_handler(struct km_http_req *r, struct route *rt)
{
    int64_t t0 = km_time_mono_ns();

    r->routed = true;
    rt->fn(r, rt->ud);
    if (!r->responded) {
        km_log_error(r->srv->name, "handler for %s %s gave no response", r->method, rt->pattern);
        km_http_respond_error(r, 500, "internal error: no response");
    }
    atomic_fetch_add(&rt->handling_ns, (uint_fast64_t)(km_time_mono_ns() - t0));
    if (r->status >= 100 && r->status < 600)
        atomic_fetch_add(&rt->answered[r->status / 100 - 1], 1);
}

static void *worker_main(void *arg)
{
    struct km_http_server *s = arg;

    pthread_mutex_lock(&s->pool_mu);
    for (;;) {
        struct km_http_req *r;

        while (!s->queue_head && !s->pool_stop)
            pthread_cond_wait(&s->pool_cv, &s->pool_mu);
        if (s->pool_stop)
            break;
        r = s->queue_head;
        s->queue_head = r->qnext;
        if (!s->queue_head)
            s->queue_tail = NULL;
        s->queued--;
        pthread_mutex_unlock(&s->pool_mu);
        run_handler(r, r->route);
        /* From here on the request is MHD's again (and may be freed at any moment). */
        MHD_resume_connection(r->conn);
        pthread_mutex_lock(&s->pool_mu);
    }
    pthread_mutex_unlock(&s->pool_mu);
    return NULL;
}

/* Suspend the connection and queue the request for a worker; once the pool is stopping,
 * answer 503 at once instead. */
static enum MHD_Result hand_to_worker(struct km_http_req *r, struct route *rt)
{
    struct km_http_server *s = r->srv;

    pthread_mutex_lock(&s->pool_mu);
    if (s->pool_stop) {
        pthread_mutex_unlock(&s->pool_mu);
        km_http_req_add_header(r, "Connection", "close");
        return refuse(r, 503, "the server is shutting down");
    }
    r->route = rt;
    r->suspended = true;
    MHD_suspend_connection(r->conn);
    if (s->queue_tail)
        s->queue_tail->qnext = r;
    else
        s->queue_head = r;
    s->queue_tail = r;
    s->queued++;
    pthread_cond_signal(&s->pool_cv);
    pthread_mutex_unlock(&s->pool_mu);
    return MHD_YES;
}

static int pool_start(struct km_http_server *s)
{
    if (!s->opts.workers)
        return 0;
    s->workers = calloc(s->opts.workers, sizeof(*s->workers));
    if (!s->workers)
        return km_err_set(KM_ENOMEM, "out of memory");
    for (; s->nworkers < s->opts.workers; s->nworkers++) {
        if (pthread_create(&s->workers[s->nworkers], NULL, worker_main, s) != 0)
            return km_err_set(KM_EIO, "cannot start the HTTP worker threads");
    }
    return 0;
}

/* Let the workers finish what they run, then answer what still waits with 503, so that
 * no connection stays suspended when MHD stops (it would abort). */
static void pool_stop(struct km_http_server *s)
{
    struct km_http_req *waiting;

    pthread_mutex_lock(&s->pool_mu);
    s->pool_stop = true;
    pthread_cond_broadcast(&s->pool_cv);
    pthread_mutex_unlock(&s->pool_mu);
    for (unsigned i = 0; i < s->nworkers; i++)
        pthread_join(s->workers[i], NULL);
    s->nworkers = 0;
    free(s->workers);
    s->workers = NULL;
    pthread_mutex_lock(&s->pool_mu);
    waiting = s->queue_head;
    s->queue_head = s->queue_tail = NULL;
    s->queued = 0;
    pthread_mutex_unlock(&s->pool_mu);
    while (waiting) {
        struct km_http_req *r = waiting;

        waiting = r->qnext;
        km_http_req_add_header(r, "Connection", "close");
        km_http_respond_error(r, 503, "the server is shutting down");
        MHD_resume_connection(r->conn);
    }
}

/* ---- dispatch ------------------------------------------------------------------------ */

static enum MHD_Result run_route(struct km_http_req *r, struct route *rt, char **segs, size_t nsegs)
{
    r->nparams = 0;
    for (size_t k = 0; k < nsegs && r->nparams < KM_HTTP_MAX_PARAMS; k++) {
        if (rt->segs[k][0] != '<')
            continue;
        r->param_names[r->nparams] = rt->segs[k] + 1; /* "name>" compared below */
        r->param_values[r->nparams] = segs[k];
        r->nparams++;
    }
    if (!rt->inline_ && r->srv->opts.workers)
        return hand_to_worker(r, rt);
    run_handler(r, rt);
    return deliver(r);
}

static enum MHD_Result answer_preflight(struct km_http_req *r, const char *allow)
{
    char methods[200];

    snprintf(methods, sizeof(methods), "%s, OPTIONS", allow);
    km_http_req_add_header(r, "Access-Control-Allow-Methods", methods);
    km_http_req_add_header(r, "Access-Control-Allow-Headers",
                           "Content-Type, Authorization, Content-Encoding, "
                           "X-Prometheus-Remote-Write-Version");
    km_http_req_add_header(r, "Access-Control-Max-Age", "86400");
    return km_http_respond(r, 204, NULL, "", 0) ? MHD_NO : deliver(r);
}

static enum MHD_Result dispatch(struct km_http_req *r)
{
    struct km_http_server *s = r->srv;
    char *segs[KM_HTTP_MAX_SEGMENTS];
    char allow[160] = "";
    size_t nsegs, alen = 0;
    bool path_known = false;

    if (strlen(r->path) >= sizeof(r->pathcopy))
        return refuse(r, 414, "request path longer than %zu bytes", sizeof(r->pathcopy) - 1);
    memcpy(r->pathcopy, r->path, strlen(r->path) + 1);
    nsegs = split_path(r->pathcopy, segs, KM_HTTP_MAX_SEGMENTS);
    for (size_t i = 0; nsegs <= KM_HTTP_MAX_SEGMENTS && i < s->nroutes; i++) {
        struct route *rt = &s->routes[i];

        if (!route_matches(rt, segs, nsegs))
            continue;
        path_known = true;
        if (method_matches(rt->method, r->method))
            return run_route(r, rt, segs, nsegs);
        if (!strstr(allow, rt->method) && alen + strlen(rt->method) + 3 < sizeof(allow))
            alen += (size_t)snprintf(allow + alen, sizeof(allow) - alen, "%s%s", alen ? ", " : "",
                                     rt->method);
    }
    if (path_known && strcmp(r->method, "OPTIONS") == 0 && s->opts.cors)
        return answer_preflight(r, allow);
    if (path_known) {
        km_http_req_add_header(r, "Allow", allow);
        return refuse(r, 405, "method %s not allowed on %s (allowed: %s)", r->method, r->path,
                      allow);
    }
    return refuse(r, 404, "no such endpoint: %s", r->path);
}

/* Route parameter names were stored as "name>"; compare without the '>'. */
static void fix_param_names(struct km_http_server *s)
{
    for (size_t i = 0; i < s->nroutes; i++) {
        for (size_t k = 0; k < s->routes[i].nsegs; k++) {
            char *seg = s->routes[i].segs[k];
            size_t l = strlen(seg);

            if (seg[0] == '<' && l > 2 && seg[l - 1] == '>')
                seg[l - 1] = '\0';
        }
    }
}

/* ---- requests as MHD hands them over ------------------------------------------------- */

/* MHD's first word about a request: its target, as sent, once the request line is in. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct km_http_req *r = req_new(cls, conn);

    if (r)
        r->target_len = strlen(uri);
    return r;
}

static void mark_headers_done(struct km_http_req *r)
{
    struct conn *c = conn_of(r->conn);

    if (!c)
        return;
    pthread_mutex_lock(&r->srv->conns_mu);
    c->headers_done = true;
    pthread_mutex_unlock(&r->srv->conns_mu);
}

static bool expects_continue(struct MHD_Connection *conn)
{
    const char *e = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);

    return e && strcasecmp(e, "100-continue") == 0;
}

/* The most of a refused body read and dropped before the 413 (then the connection is
 * closed, and a client still sending sees a reset). */
static uint64_t drain_cap(const struct km_http_server *s)
{
    return (uint64_t)s->opts.max_body + KM_LIMIT_HTTP_DISCARD;
}

/* The head has arrived: refuse what is too big, or get ready for the body. */
static enum MHD_Result begin(struct km_http_req *r, const char *url, const char *method)
{
    struct km_http_server *s = r->srv;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    int fields = MHD_get_connection_values(
        r->conn, MHD_HEADER_KIND | MHD_COOKIE_KIND | MHD_GET_ARGUMENT_KIND, NULL, NULL);
    const char *cl =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long announced = cl ? strtoull(cl, NULL, 10) : 0;

    r->begun = true;
    r->method = method;
    r->path = url;
    atomic_fetch_add(&s->inflight, 1);
    mark_headers_done(r);
    if (atomic_load(&s->quiescing)) {
        /* Shutting down: answer at once and end the keep-alive connection. */
        km_http_req_add_header(r, "Connection", "close");
        km_http_req_add_header(r, "Retry-After", "5");
        return refuse(r, 503, "the server is shutting down");
    }
    if (r->target_len > KM_LIMIT_HTTP_URI)
        return refuse(r, 414, "request target (path and query) longer than %u bytes",
                      KM_LIMIT_HTTP_URI);
    if ((ci && ci->header_size > KM_LIMIT_HTTP_HEAD) || fields > KM_LIMIT_HTTP_HEAD_FIELDS)
        return refuse(r, 431,
                      "request head larger than %u bytes or %u header fields and query "
                      "arguments",
                      KM_LIMIT_HTTP_HEAD, KM_LIMIT_HTTP_HEAD_FIELDS);
    if (announced <= s->opts.max_body)
        return MHD_YES;
    r->too_large = true;
    /* A client waiting for 100-continue sends nothing more; a body past what we drain
     * would only waste the link: answer now (MHD closes the connection after). */
    if (expects_continue(r->conn) || announced > drain_cap(s))
        return refuse(r, 413, "request body larger than %zu bytes", s->opts.max_body);
    return MHD_YES;
}

/* A piece of the body: kept, or dropped once past the cap. */
static enum MHD_Result take_body(struct km_http_req *r, const char *data, size_t *len)
{
    size_t n = *len;

    *len = 0;
    if (!r->too_large && km_buf_append(&r->body, data, n) == 0)
        return MHD_YES;
    if (!r->too_large) {
        r->too_large = true;
        r->discarded = r->body.len;
        km_buf_fini(&r->body);
    }
    r->discarded += n;
    /* Past the drain bound MHD cannot answer mid-body: drop the connection. */
    return r->discarded > drain_cap(r->srv) ? MHD_NO : MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct km_http_server *s = cls;
    struct km_http_req *r = *con_cls;

    (void)version;
    if (!r) {
        r = req_new(s, conn);
        if (!r)
            return MHD_NO;
        *con_cls = r;
    }
    if (!r->begun)
        return begin(r, url, method);
    if (r->suspended) {
        /* Resumed by the worker that ran the handler: its answer goes out. */
        r->suspended = false;
        return deliver(r);
    }
    if (r->responded) {
        *upload_data_size = 0; /* already answered: discard the rest */
        return MHD_YES;
    }
    if (*upload_data_size)
        return take_body(r, upload_data, upload_data_size);
    if (r->too_large)
        return refuse(r, 413, "request body larger than %zu bytes", s->opts.max_body);
    return dispatch(r);
}

/* Count an answer no route gave: kmon's own (404, 405, 413, …) and those MHD gave by
 * itself to a head it could not parse. */
static void count_unrouted(struct km_http_server *s, struct km_http_req *r,
                           struct MHD_Connection *conn)
{
    unsigned status = r->status;

    if (r->routed)
        return;
    if (!r->begun) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_HTTP_STATUS);

        status = ci ? ci->http_status : 0;
    }
    if (status >= 100 && status < 600)
        atomic_fetch_add(&s->unrouted[status / 100 - 1], 1);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct km_http_server *s = cls;
    struct km_http_req *r = *con_cls;

    (void)toe;
    if (!r)
        return;
    count_unrouted(s, r, conn);
    if (r->begun)
        atomic_fetch_sub(&s->inflight, 1);
    req_free(r);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct km_http_server *s = cls;
    char msg[512];
    size_t n;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    km_log_debug(s->name, "http: %s", msg);
}

/* ---- slow clients ---------------------------------------------------------------------- */

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct km_http_server *s = cls;
    struct conn *c = *socket_context;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

        c = calloc(1, sizeof(*c));
        if (!c || !ci) {
            free(c);
            return;
        }
        c->fd = ci->connect_fd;
        c->since_ns = km_time_mono_ns();
        pthread_mutex_lock(&s->conns_mu);
        c->next = s->conns;
        if (s->conns)
            s->conns->prev = c;
        s->conns = c;
        s->nconns++;
        pthread_mutex_unlock(&s->conns_mu);
        *socket_context = c;
        return;
    }
    if (!c)
        return;
    /* MHD closes the socket after this returns: under the lock, the watchdog can no
     * longer touch its descriptor. */
    pthread_mutex_lock(&s->conns_mu);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    pthread_mutex_unlock(&s->conns_mu);
    free(c);
    *socket_context = NULL;
}

/* Cut connections whose first request headers or current request take too long; the
 * idle timeout alone never fires for a client that sends a byte now and then. */
static void cut_slow(struct km_http_server *s, int64_t now)
{
    int64_t req_limit = (int64_t)s->opts.request_timeout_s * 1000000000;
    int64_t head_limit = (int64_t)s->opts.header_timeout_s * 1000000000;

    if (head_limit > req_limit)
        head_limit = req_limit;
    for (struct conn *c = s->conns; c; c = c->next) {
        if (c->cut || now - c->since_ns <= (c->headers_done ? req_limit : head_limit))
            continue;
        /* MHD sees the end of the stream and closes the connection itself. */
        shutdown(c->fd, SHUT_RDWR);
        c->cut = true;
        atomic_fetch_add(&s->cut, 1);
    }
}

static void *watchdog(void *arg)
{
    struct km_http_server *s = arg;

    pthread_mutex_lock(&s->conns_mu);
    while (!s->watchdog_stop) {
        struct timespec ts;

        cut_slow(s, km_time_mono_ns());
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 500 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&s->conns_cv, &s->conns_mu, &ts);
    }
    pthread_mutex_unlock(&s->conns_mu);
    return NULL;
}

/* ---- life cycle ---------------------------------------------------------------------- */

/* Make room for max_conns descriptors besides KM_HTTP_FD_RESERVE for the rest of the
 * process: raise the soft RLIMIT_NOFILE towards the hard one, or take fewer connections. */
static void fit_descriptors(struct km_http_server *s)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)s->opts.max_conns + KM_HTTP_FD_RESERVE;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
        return;
    if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need)
        rl.rlim_cur = need;
    else
        rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 && getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur >= need)
        return;
    s->opts.max_conns = rl.rlim_cur > 2 * KM_HTTP_FD_RESERVE
                            ? (unsigned)(rl.rlim_cur - KM_HTTP_FD_RESERVE)
                            : (unsigned)(rl.rlim_cur / 2);
    km_log_warn(s->name,
                "open files limited to %llu (ulimit -n): serving at most %u connections "
                "at once",
                (unsigned long long)rl.rlim_cur, s->opts.max_conns);
}

static void init_sync(struct km_http_server *s)
{
    pthread_condattr_t ca;

    pthread_mutex_init(&s->conns_mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->conns_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&s->pool_mu, NULL);
    pthread_cond_init(&s->pool_cv, NULL);
}

static void fini_sync(struct km_http_server *s)
{
    pthread_mutex_destroy(&s->conns_mu);
    pthread_cond_destroy(&s->conns_cv);
    pthread_mutex_destroy(&s->pool_mu);
    pthread_cond_destroy(&s->pool_cv);
}

int km_http_server_create(struct km_http_server **out, const struct km_http_opts *opts)
{
    struct km_http_server *s;
    int rc;

    s = calloc(1, sizeof(*s));
    if (!s)
        return km_err_set(KM_ENOMEM, "out of memory");
    s->opts = *opts;
    s->opts.listen = NULL; /* not kept */
    if (!s->opts.max_body)
        s->opts.max_body = KM_LIMIT_HTTP_BODY;
    if (!s->opts.timeout_s)
        s->opts.timeout_s = 30;
    if (!s->opts.max_conns)
        s->opts.max_conns = 1024;
    if (!s->opts.request_timeout_s)
        s->opts.request_timeout_s = 30;
    if (!s->opts.header_timeout_s)
        s->opts.header_timeout_s = 10;
    snprintf(s->name, sizeof(s->name), "%s", opts->name ? opts->name : "http");
    init_sync(s);
    s->listen_fd = -1;
    rc = open_listener(opts->listen, &s->listen_fd, &s->port);
    if (rc) {
        fini_sync(s);
        free(s);
        return rc;
    }
    fit_descriptors(s);
    *out = s;
    return 0;
}

static struct MHD_Daemon *start_daemon(struct km_http_server *s)
{
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_USE_AUTO;

    if (s->opts.workers)
        flags |= MHD_ALLOW_SUSPEND_RESUME;
    /* The pool option goes last so a single-threaded server can end the list before it. */
    return MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
                            on_mhd_log, s, MHD_OPTION_LISTEN_SOCKET, s->listen_fd,
                            MHD_OPTION_URI_LOG_CALLBACK, on_uri, s, MHD_OPTION_NOTIFY_COMPLETED,
                            on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->opts.timeout_s,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->opts.max_conns,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)s->opts.max_conns_per_ip,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)KM_LIMIT_HTTP_CONN_MEMORY,
                            s->opts.threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END,
                            (unsigned)s->opts.threads, MHD_OPTION_END);
}

int km_http_server_start(struct km_http_server *s)
{
    int rc;

    fix_param_names(s);
    rc = pool_start(s);
    if (rc)
        goto out_stop_pool;
    s->daemon = start_daemon(s);
    if (!s->daemon) {
        rc = km_err_set(KM_EIO, "could not start the HTTP server on port %u", s->port);
        goto out_stop_pool;
    }
    if (pthread_create(&s->watchdog, NULL, watchdog, s) != 0)
        return km_err_set(KM_EIO, "cannot start the HTTP watchdog thread");
    s->watchdog_started = true;
    return 0;

out_stop_pool:
    pool_stop(s);
    return rc;
}

uint16_t km_http_server_port(const struct km_http_server *s)
{
    return s->port;
}

static void wait_inflight(struct km_http_server *s, int64_t ms)
{
    for (int64_t waited = 0; waited < ms && atomic_load(&s->inflight) > 0; waited += 20) {
        struct timespec ts = { 0, 20 * 1000000 };

        nanosleep(&ts, NULL);
    }
}

/* Stop accepting; requests being handled finish; new ones on kept-alive connections are
 * turned away (503, Connection: close). */
static void drain(struct km_http_server *s, int64_t grace_ms)
{
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);

    if (fd != MHD_INVALID_SOCKET && fd == s->listen_fd) {
        close(fd);
        s->listen_fd = -1;
    }
    atomic_store(&s->quiescing, true);
    wait_inflight(s, grace_ms);
}

static void stop_watchdog(struct km_http_server *s)
{
    if (!s->watchdog_started)
        return;
    pthread_mutex_lock(&s->conns_mu);
    s->watchdog_stop = true;
    pthread_cond_signal(&s->conns_cv);
    pthread_mutex_unlock(&s->conns_mu);
    pthread_join(s->watchdog, NULL);
    s->watchdog_started = false;
}

void km_http_server_stop(struct km_http_server *s, int64_t grace_ms)
{
    if (!s || !s->daemon)
        goto out_close_listener;
    drain(s, grace_ms);
    /* No connection may stay suspended past this point: MHD would abort. */
    pool_stop(s);
    /* The answers the workers just gave, and the 503s of what still waited, go out. */
    wait_inflight(s, KM_HTTP_FLUSH_MS);
    MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    stop_watchdog(s);
out_close_listener:
    if (s && s->listen_fd >= 0) {
        close(s->listen_fd);
        s->listen_fd = -1;
    }
}

void km_http_server_destroy(struct km_http_server *s)
{
    if (!s)
        return;
    km_http_server_stop(s, 0);
    for (size_t i = 0; i < s->nroutes; i++) {
        free(s->routes[i].pattern);
        free(s->routes[i].segstore);
    }
    fini_sync(s);
    free(s);
}

/* ---- metrics ----------------------------------------------------------------------- */

void km_http_server_metrics(struct km_http_server *s, struct km_mset *m)
{
    static const char *const classes[] = { "1xx", "2xx", "3xx", "4xx", "5xx" };
    size_t open, waiting;
    int req, sum, cnt;

    req = km_mset_family(m, "kmon_http_requests_total",
                         "HTTP requests answered, by route pattern and status class.",
                         KM_MT_COUNTER, 0);
    sum = km_mset_family(m, "kmon_http_request_duration_seconds_sum",
                         "Time spent in handlers, by route pattern.", KM_MT_COUNTER, 0);
    cnt = km_mset_family(m, "kmon_http_request_duration_seconds_count",
                         "Requests handled, by route pattern.", KM_MT_COUNTER, 0);
    for (size_t i = 0; i < s->nroutes; i++) {
        const struct route *rt = &s->routes[i];
        uint64_t n = 0;

        for (int c = 0; c < 5; c++) {
            uint64_t k = atomic_load(&rt->answered[c]);
            struct km_label l[3] = { { "code", classes[c] },
                                     { "handler", rt->pattern },
                                     { "method", rt->method } };

            n += k;
            if (k)
                km_mset_add(m, req, l, 3, (double)k);
        }
        {
            struct km_label l[2] = { { "handler", rt->pattern }, { "method", rt->method } };

            km_mset_add(m, sum, l, 2, (double)atomic_load(&rt->handling_ns) / 1e9);
            km_mset_add(m, cnt, l, 2, (double)n);
        }
    }
    pthread_mutex_lock(&s->conns_mu);
    open = s->nconns;
    pthread_mutex_unlock(&s->conns_mu);
    pthread_mutex_lock(&s->pool_mu);
    waiting = s->queued;
    pthread_mutex_unlock(&s->pool_mu);
    km_mset_gauge(m, "kmon_http_connections", "HTTP connections open now.", (double)open);
    km_mset_gauge(m, "kmon_http_connections_limit",
                  "HTTP connections served at once; more wait in the accept queue.",
                  (double)s->opts.max_conns);
    km_mset_gauge(m, "kmon_http_requests_waiting",
                  "Requests whose handler waits for a free worker thread.", (double)waiting);
    km_mset_add(m,
                km_mset_family(m, "kmon_http_slow_connections_cut_total",
                               "Connections closed for taking longer than the header or "
                               "request timeout over one request (slow clients).",
                               KM_MT_COUNTER, 0),
                NULL, 0, (double)atomic_load(&s->cut));
    for (int c = 0; c < 5; c++) {
        uint64_t k = atomic_load(&s->unrouted[c]);
        struct km_label l[3] = { { "code", classes[c] }, { "handler", "none" }, { "method", "" } };

        if (k)
            km_mset_add(m, req, l, 3, (double)k);
    }
}
