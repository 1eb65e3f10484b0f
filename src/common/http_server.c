/*
 * http_server — libmicrohttpd wrapper with routing (see http_server.h): life cycle,
 * listening socket, routes, requests and plain answers. Arguments are decoded in
 * http_args.c, streamed answers live in http_stream.c, TLS material in http_tls.c.
 *
 * Request life cycle, all of it on MHD's polling thread but the handler:
 *   URI logged  allocate a km_http_req with the target's length and a copy of its raw
 *               query string (owned by the connection until MHD's completion callback
 *               frees it, even when MHD answers an unparsable head itself and the access
 *               handler never runs);
 *   1st call    check the head (414, 431) and Content-Length (413: answered now only
 *               when the client waits for 100-continue or announces more than we would
 *               drain; otherwise the body is drained first, see below);
 *   next calls  append upload data to the body; past the cap, drop it (no buffering)
 *               up to KM_LIMIT_HTTP_DISCARD, so the 413 that follows can be read;
 *   last call   route (404, 405, or 503 for a route that needs readiness); an inline
 *               route (or a server without workers) runs its handler here; any other
 *               suspends the connection and queues the request for a worker, which runs
 *               the handler and resumes the connection; MHD then calls once more and the
 *               answer the handler built is queued. Before the handler, the arguments
 *               are decoded (400, 413). A streamed answer is produced by the worker
 *               after the connection was resumed (http_stream.c).
 * Handlers build their answer (km_http_respond*) into the request; deliver() hands it
 * to MHD on the polling thread. We bind the listening socket ourselves (clear errors,
 * dual-stack for ":PORT", a deep accept queue) and pass it to MHD;
 * MHD_quiesce_daemon() hands it back at shutdown.
 */
#include "http_server.h"

#include "err.h"
#include "http_internal.h"
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
#include <poll.h>
#include <pthread.h>
#include <sched.h>
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

/* Descriptors left for the rest of the process when sizing RLIMIT_NOFILE. */
#define KM_HTTP_FD_RESERVE 1024
/* At a stop, how long answers given after the grace period may take to leave. */
#define KM_HTTP_FLUSH_MS 1000
/* km_http_req_cancelled() looks at the socket at most this often. */
#define KM_HTTP_PEER_CHECK_NS (5 * 1000000)

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

/* ---- routes -------------------------------------------------------------------------- */

/* Split a path into segments in place ("/a/b/" gives "a", "b"), at most max + 1 of them:
 * max + 1 means "more than max" (segs[max] is where the rest begins). */
static size_t split_path(char *p, char **segs, size_t max)
{
    size_t n = 0;

    while (*p) {
        while (*p == '/')
            *p++ = '\0';
        if (!*p)
            break;
        segs[n++] = p;
        if (n == max + 1)
            return n;
        while (*p && *p != '/')
            p++;
    }
    return n;
}

/* Check a pattern's segments: "*" only last, <name> with a name; strip the '>' so that
 * parameter names compare as given. */
static int check_pattern(struct route *r, const char *pattern)
{
    char *segs[KM_HTTP_MAX_SEGMENTS + 1];
    size_t n = split_path(r->segstore, segs, KM_HTTP_MAX_SEGMENTS);

    if (n > KM_HTTP_MAX_SEGMENTS)
        return km_err_set(KM_ELIMIT, "route %s has too many segments", pattern);
    if (pattern[0] != '/')
        return km_err_set(KM_EINVAL, "route %s does not begin with /", pattern);
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(segs[i]);

        if (strcmp(segs[i], "*") == 0) {
            if (i != n - 1)
                return km_err_set(KM_EINVAL, "route %s: \"*\" may only end a pattern", pattern);
            r->prefix = true;
            break;
        }
        if (strchr(segs[i], '*'))
            return km_err_set(KM_EINVAL, "route %s: \"*\" must be a whole segment", pattern);
        if (segs[i][0] == '<') {
            if (l < 3 || segs[i][l - 1] != '>' || strpbrk(segs[i] + 1, "<>") != segs[i] + l - 1)
                return km_err_set(KM_EINVAL, "route %s: bad parameter %s", pattern, segs[i]);
            segs[i][l - 1] = '\0';
        }
        r->segs[r->nsegs++] = segs[i];
    }
    return 0;
}

static int add_route(struct km_http_server *s, const struct km_http_route *def, void *ctx)
{
    struct route *r;
    int rc;

    if (s->nroutes == KM_HTTP_MAX_ROUTES)
        return km_err_set(KM_ELIMIT, "too many HTTP routes");
    if (!def->method || !def->pattern || !def->fn || strlen(def->method) >= sizeof(r->method))
        return km_err_set(KM_EINVAL, "a route needs a method, a pattern and a handler");
    r = &s->routes[s->nroutes];
    memset(r, 0, sizeof(*r));
    snprintf(r->method, sizeof(r->method), "%s", def->method);
    r->pattern = strdup(def->pattern);
    r->segstore = strdup(def->pattern);
    if (!r->pattern || !r->segstore) {
        rc = km_err_set(KM_ENOMEM, "out of memory");
        goto out_free_copies;
    }
    rc = check_pattern(r, def->pattern);
    if (rc)
        goto out_free_copies;
    r->fn = def->fn;
    r->ctx = ctx;
    r->flags = def->flags;
    s->nroutes++;
    return 0;

out_free_copies:
    free(r->pattern);
    free(r->segstore);
    memset(r, 0, sizeof(*r));
    return rc;
}

int km_http_server_add_routes(struct km_http_server *s, const struct km_http_route *routes,
                              size_t n, void *ctx)
{
    for (size_t i = 0; i < n; i++) {
        int rc = add_route(s, &routes[i], ctx);

        if (rc)
            return rc;
    }
    return 0;
}

void km_http_server_set_ready(struct km_http_server *s, bool ready)
{
    atomic_store_explicit(&s->ready, ready, memory_order_release);
}

bool km_http_server_ready(const struct km_http_server *s)
{
    return atomic_load_explicit(&s->ready, memory_order_acquire);
}

/* How well a route matches a path of nsegs segments (more than KM_HTTP_MAX_SEGMENTS:
 * nsegs is one more): 0 not at all; higher wins. A pattern without "*" beats every
 * prefix, and a longer prefix a shorter one. */
static size_t route_score(const struct route *r, char **segs, size_t nsegs)
{
    if (r->prefix ? r->nsegs > nsegs : (r->nsegs != nsegs || nsegs > KM_HTTP_MAX_SEGMENTS))
        return 0;
    for (size_t i = 0; i < r->nsegs; i++) {
        if (r->segs[i][0] == '<')
            continue;
        if (strcmp(r->segs[i], segs[i]) != 0)
            return 0;
    }
    return r->prefix ? 1 + r->nsegs : 2 + KM_HTTP_MAX_SEGMENTS;
}

static bool method_matches(const char *route_method, const char *method)
{
    return strcmp(route_method, method) == 0 ||
           (strcmp(route_method, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

/* ---- responses ----------------------------------------------------------------------- */

int km_http_keep_response(struct km_http_req *r, unsigned status, const char *ctype,
                          struct MHD_Response *resp)
{
    if (!resp)
        return km_err_set(KM_ENOMEM, "out of memory");
    if (r->resp) {
        MHD_destroy_response(resp);
        return km_err_set(KM_EINVAL, "a second answer to one request");
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

struct conn *km_http_conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci ? ci->socket_context : NULL;
}

bool km_http_peer_hung_up(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLRDHUP };

    return fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Queue the answer the request holds; on the polling thread. */
static enum MHD_Result deliver(struct km_http_req *r)
{
    struct conn *c = km_http_conn_of(r->conn);
    enum MHD_Result ret;

    if (!r->resp)
        return MHD_NO;
    ret = MHD_queue_response(r->conn, r->status, r->resp);
    MHD_destroy_response(r->resp);
    r->resp = NULL;
    /* Answered: the next request's clock starts now (the idle timeout covers the wait
     * for it; a streamed answer moves it on as it goes). */
    if (c) {
        pthread_mutex_lock(&r->srv->conns_mu);
        c->since_ns = km_time_mono_ns();
        c->server_idle = false;
        pthread_mutex_unlock(&r->srv->conns_mu);
    }
    return ret;
}

/* While a handler works (or waits for a worker), the delay is the server's: the request
 * timeout, which is about a client slow to send, must not cut the connection (a block
 * cut or a query of a large head takes longer than 30 s). */
static void set_server_idle(struct km_http_req *r, bool idle)
{
    struct conn *c = km_http_conn_of(r->conn);

    if (!c)
        return;
    pthread_mutex_lock(&r->srv->conns_mu);
    c->server_idle = idle;
    pthread_mutex_unlock(&r->srv->conns_mu);
}

/* Answers this size and larger are worth compressing (smaller ones fit a packet). */
#define GZIP_MIN 1024

bool km_http_req_accepts_gzip(const struct km_http_req *r)
{
    return km_http_accepts_gzip(km_http_req_header(r, "Accept-Encoding"));
}

bool km_http_req_etag_matches(const struct km_http_req *r, const char *etag)
{
    return km_http_list_has(km_http_req_header(r, "If-None-Match"), etag);
}

/* A JSON or text answer the client takes gzip-compressed, not already encoded. */
static bool want_gzip(const struct km_http_req *r, const char *ctype, size_t len)
{
    if (len < GZIP_MIN || !ctype ||
        !(strncmp(ctype, "application/json", 16) == 0 || strncmp(ctype, "text/", 5) == 0))
        return false;
    for (size_t i = 0; i < r->nheaders; i++) {
        if (strcasecmp(r->headers[i][0], "Content-Encoding") == 0)
            return false;
    }
    return km_http_req_accepts_gzip(r);
}

/* Compress the answer for the client when it takes gzip: *resp is the compressed one
 * (NULL when the answer goes as it is). Level 1: most of the gain (JSON compresses
 * 5-10x) at a small cost per answer. */
static int gzip_response(struct km_http_req *r, const char *ctype, const void *data, size_t len,
                         struct MHD_Response **resp)
{
    char *gz;
    size_t gzlen;

    *resp = NULL;
    if (!want_gzip(r, ctype, len) || km_http_gzip(data, len, 1, &gz, &gzlen) != 0)
        return 0;
    *resp = MHD_create_response_from_buffer_with_free_callback(gzlen, gz, free);
    if (!*resp) {
        free(gz);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    MHD_add_response_header(*resp, "Content-Encoding", "gzip");
    for (size_t i = 0; i < r->nheaders; i++) {
        if (strcasecmp(r->headers[i][0], "Vary") == 0)
            return 0; /* the handler's says it */
    }
    MHD_add_response_header(*resp, "Vary", "Accept-Encoding");
    return 0;
}

int km_http_respond(struct km_http_req *r, unsigned status, const char *content_type,
                    const void *data, size_t len)
{
    struct MHD_Response *resp;
    int rc = gzip_response(r, content_type, data, len, &resp);

    if (rc)
        return rc;
    if (!resp)
        resp = MHD_create_response_from_buffer(len, (void *)(uintptr_t)data, MHD_RESPMEM_MUST_COPY);
    return km_http_keep_response(r, status, content_type, resp);
}

int km_http_respond_static(struct km_http_req *r, unsigned status, const char *content_type,
                           const void *data, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)(uintptr_t)data, MHD_RESPMEM_PERSISTENT);

    return km_http_keep_response(r, status, content_type, resp);
}

int km_http_respond_buf(struct km_http_req *r, unsigned status, const char *content_type,
                        struct km_buf *body)
{
    size_t len;
    char *data;
    struct MHD_Response *resp;
    int rc = gzip_response(r, content_type, body->data, body->len, &resp);

    if (rc)
        return rc;
    if (resp) {
        km_buf_fini(body); /* taken: the compressed copy goes out */
        return km_http_keep_response(r, status, content_type, resp);
    }
    data = km_buf_detach(body, &len);
    resp = MHD_create_response_from_buffer_with_free_callback(len, data, free);
    if (!resp) {
        free(data);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    return km_http_keep_response(r, status, content_type, resp);
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

void km_http_req_set_auth(struct km_http_req *r, void *auth, void (*free_auth)(void *auth))
{
    if (r->free_auth)
        r->free_auth(r->auth);
    r->auth = auth;
    r->free_auth = free_auth;
}

void *km_http_req_auth(const struct km_http_req *r)
{
    return r->auth;
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

const char *km_http_req_query(const struct km_http_req *r, size_t *len)
{
    *len = r->query_len;
    return r->query;
}

const char *km_http_req_param(const struct km_http_req *r, const char *name)
{
    for (size_t i = 0; i < r->nparams; i++) {
        if (strcmp(r->param_names[i], name) == 0)
            return r->param_values[i];
    }
    return NULL;
}

const char *km_http_req_header(const struct km_http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

struct header_values {
    const char *name;
    const char **out;
    size_t max, n;
};

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    struct header_values *h = cls;

    (void)kind;
    if (strcasecmp(key, h->name) == 0) {
        if (h->n < h->max)
            h->out[h->n] = value;
        h->n++;
    }
    return MHD_YES;
}

size_t km_http_req_headers(const struct km_http_req *r, const char *name, const char **out,
                           size_t max)
{
    struct header_values h = { .name = name, .out = out, .max = max };

    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, collect_header, &h);
    return h.n;
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

bool km_http_req_cancelled(struct km_http_req *r)
{
    int64_t now;

    if (atomic_load(&r->srv->cancel_all))
        return true;
    /* Only a suspended connection (a handler on a worker) is certainly open and ours to
     * look at; MHD itself notices clients leaving otherwise. */
    if (!r->suspended || r->peer_gone)
        return r->peer_gone;
    now = km_time_mono_ns();
    if (now - r->peer_checked_ns >= KM_HTTP_PEER_CHECK_NS) {
        r->peer_checked_ns = now;
        r->peer_gone = km_http_peer_hung_up(r->fd);
    }
    return r->peer_gone;
}

/* ---- handlers -------------------------------------------------------------------------- */

/* A request as its target arrives; the raw query string (after '?') is kept in it. */
static struct km_http_req *req_new(struct km_http_server *s, struct MHD_Connection *conn,
                                   const char *target)
{
    const char *q = target ? strchr(target, '?') : NULL;
    size_t qlen = q ? strlen(q + 1) : 0;
    struct km_http_req *r;

    if (qlen > KM_LIMIT_HTTP_URI)
        qlen = 0; /* refused with 414 before anything reads it */
    r = calloc(1, sizeof(*r) + qlen + 1);
    if (!r)
        return NULL;
    r->srv = s;
    r->conn = conn;
    r->fd = -1;
    r->target_len = target ? strlen(target) : 0;
    r->query_len = qlen;
    if (qlen)
        memcpy(r->query, q + 1, qlen);
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
    km_http_args_fini(r);
    km_http_ws_abandon(r->ws);
    if (r->free_auth)
        r->free_auth(r->auth);
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->headers[i][0]);
        free(r->headers[i][1]);
    }
    free(r);
}

static void count_answer(struct route *rt, unsigned status, int64_t t0)
{
    atomic_fetch_add(&rt->handling_ns, (uint_fast64_t)(km_time_mono_ns() - t0));
    if (status >= 100 && status < 600)
        atomic_fetch_add(&rt->answered[status / 100 - 1], 1);
}

/* Decode the arguments, run the route's handler and count its answer (a 500 if it gave
 * none). */
static void run_handler(struct km_http_req *r, struct route *rt)
{
    int64_t t0 = km_time_mono_ns();
    char msg[256];
    unsigned status;

    r->routed = true;
    status = km_http_args_parse(r, msg, sizeof(msg));
    if (status) {
        km_http_respond_error(r, status, "%s", msg);
    } else {
        rt->fn(r, rt->ctx);
        if (!r->responded) {
            km_log_error(r->srv->name, "handler for %s %s gave no response", r->method,
                         rt->pattern);
            km_http_respond_error(r, 500, "internal error: no response");
        }
    }
    count_answer(rt, r->status, t0);
}

static void *worker_main(void *arg)
{
    struct km_http_server *s = arg;

    pthread_setname_np(pthread_self(), "kmon-http"); /* top -H, /proc/PID/task/N/comm */
    pthread_mutex_lock(&s->pool_mu);
    for (;;) {
        struct km_http_req *r;
        struct km_http_stream *st;

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
        st = r->stream;
        r->stream = NULL;
        /* From here on the request is MHD's again (and may be freed at any moment). */
        MHD_resume_connection(r->conn);
        if (st)
            km_http_stream_produce(st);
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

    set_server_idle(r, true);
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

/* A route flagged KM_ROUTE_NEEDS_READY before the server is ready: 503, counted as the
 * route's answer. */
static enum MHD_Result answer_not_ready(struct km_http_req *r, struct route *rt)
{
    int64_t t0 = km_time_mono_ns();

    r->routed = true;
    km_http_req_add_header(r, "Retry-After", "5");
    km_http_respond_error(r, 503, "%s", r->srv->not_ready_msg);
    count_answer(rt, r->status, t0);
    return deliver(r);
}

/* opts.authorize: true to go on; false when it answered (counted as the route's answer). */
static bool answer_authorized(struct km_http_req *r, struct route *rt)
{
    int64_t t0 = km_time_mono_ns();

    if (r->srv->opts.authorize(r, rt->flags, r->srv->opts.authorize_ud))
        return true;
    if (!r->responded)
        km_http_respond_error(r, 403, "access denied");
    r->routed = true;
    count_answer(rt, r->status, t0);
    return false;
}

static enum MHD_Result run_route(struct km_http_req *r, struct route *rt, char **segs, size_t nsegs)
{
    r->nparams = 0;
    for (size_t k = 0; k < rt->nsegs && r->nparams < KM_HTTP_MAX_PARAMS; k++) {
        if (rt->segs[k][0] != '<')
            continue;
        r->param_names[r->nparams] = rt->segs[k] + 1;
        r->param_values[r->nparams] = segs[k];
        r->nparams++;
    }
    if (rt->prefix && r->nparams < KM_HTTP_MAX_PARAMS) {
        /* The rest of the path as sent: the offset of its first segment in the copy. */
        r->param_names[r->nparams] = "*";
        r->param_values[r->nparams] =
            rt->nsegs < nsegs ? r->path + (segs[rt->nsegs] - r->pathcopy) : "";
        r->nparams++;
    }
    if (r->srv->opts.authorize && !answer_authorized(r, rt))
        return deliver(r);
    if ((rt->flags & KM_ROUTE_NEEDS_READY) && !km_http_server_ready(r->srv))
        return answer_not_ready(r, rt);
    if (!(rt->flags & KM_ROUTE_INLINE) && r->srv->opts.workers)
        return hand_to_worker(r, rt);
    set_server_idle(r, true);
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
    char *segs[KM_HTTP_MAX_SEGMENTS + 1];
    char allow[160] = "";
    size_t nsegs, alen = 0, best_score = 0;
    struct route *best = NULL;
    bool path_known = false;

    if (strlen(r->path) >= sizeof(r->pathcopy))
        return refuse(r, 414, "request path longer than %zu bytes", sizeof(r->pathcopy) - 1);
    memcpy(r->pathcopy, r->path, strlen(r->path) + 1);
    nsegs = split_path(r->pathcopy, segs, KM_HTTP_MAX_SEGMENTS);
    for (size_t i = 0; i < s->nroutes; i++) {
        struct route *rt = &s->routes[i];
        size_t score = route_score(rt, segs, nsegs);

        if (!score)
            continue;
        path_known = true;
        if (method_matches(rt->method, r->method)) {
            if (score > best_score) {
                best = rt;
                best_score = score;
            }
            continue;
        }
        if (!strstr(allow, rt->method) && alen + strlen(rt->method) + 3 < sizeof(allow))
            alen += (size_t)snprintf(allow + alen, sizeof(allow) - alen, "%s%s", alen ? ", " : "",
                                     rt->method);
    }
    if (best)
        return run_route(r, best, segs, nsegs);
    if (path_known && strcmp(r->method, "OPTIONS") == 0 && s->opts.cors)
        return answer_preflight(r, allow);
    if (path_known) {
        km_http_req_add_header(r, "Allow", allow);
        return refuse(r, 405, "method %s not allowed on %s (allowed: %s)", r->method, r->path,
                      allow);
    }
    return refuse(r, 404, "no such endpoint: %s", r->path);
}

/* ---- requests as MHD hands them over ------------------------------------------------- */

/* MHD's first word about a request: its target, as sent, once the request line is in. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    return req_new(cls, conn, uri);
}

/* The headers are in; false when the connection must be refused (a client certificate
 * was needed and could not be required). */
static bool mark_headers_done(struct km_http_req *r)
{
    struct conn *c = km_http_conn_of(r->conn);
    bool ok;

    if (!c)
        return !r->srv->tls_ca;
    pthread_mutex_lock(&r->srv->conns_mu);
    c->headers_done = true;
    r->fd = c->fd;
    ok = !c->unverified;
    pthread_mutex_unlock(&r->srv->conns_mu);
    return ok;
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
    if (!mark_headers_done(r)) {
        km_http_req_add_header(r, "Connection", "close");
        return refuse(r, 403, "a client certificate is required");
    }
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
        r = req_new(s, conn, NULL);
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
    struct conn *c = km_http_conn_of(conn);

    (void)toe;
    if (c) {
        /* A long answer (a stream) has just left: the next request's clock starts. */
        pthread_mutex_lock(&s->conns_mu);
        c->since_ns = km_time_mono_ns();
        c->server_idle = false;
        pthread_mutex_unlock(&s->conns_mu);
    }
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
        c->unverified = !km_http_tls_on_connection(s, conn, &c->tls_cred);
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
    km_http_tls_on_close(c->tls_cred);
    free(c);
    *socket_context = NULL;
}

/* Cut connections whose first request headers or current request take too long, or
 * whose client stopped taking a streamed answer; the idle timeout alone never fires for
 * a client that sends (or reads) a byte now and then. A stream waiting for its own
 * producer or writer is the server's delay, not the client's. */
static void cut_slow(struct km_http_server *s, int64_t now)
{
    int64_t req_limit = (int64_t)s->opts.request_timeout_s * 1000000000;
    int64_t head_limit = (int64_t)s->opts.header_timeout_s * 1000000000;

    if (head_limit > req_limit)
        head_limit = req_limit;
    for (struct conn *c = s->conns; c; c = c->next) {
        if (c->cut || c->server_idle || c->upgraded ||
            now - c->since_ns <= (c->headers_done ? req_limit : head_limit))
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
        if (s->tls) { /* file reads and parsing: not under the connections' lock */
            pthread_mutex_unlock(&s->conns_mu);
            km_http_tls_tick(s, km_time_mono_ns());
            pthread_mutex_lock(&s->conns_mu);
            if (s->watchdog_stop)
                break;
        }
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
    pthread_mutex_init(&s->streams_mu, NULL);
    pthread_mutex_init(&s->ws_mu, NULL);
}

static void fini_sync(struct km_http_server *s)
{
    pthread_mutex_destroy(&s->conns_mu);
    pthread_cond_destroy(&s->conns_cv);
    pthread_mutex_destroy(&s->pool_mu);
    pthread_cond_destroy(&s->pool_cv);
    pthread_mutex_destroy(&s->streams_mu);
    pthread_mutex_destroy(&s->ws_mu);
}

int km_http_server_create(struct km_http_server **out, const struct km_http_opts *opts)
{
    struct km_http_server *s;
    int rc;

    s = calloc(1, sizeof(*s));
    if (!s)
        return km_err_set(KM_ENOMEM, "out of memory");
    s->opts = *opts;
    /* Strings are not kept (the TLS files are read below). */
    s->opts.listen = s->opts.name = s->opts.not_ready_msg = NULL;
    s->opts.tls_cert_file = s->opts.tls_key_file = s->opts.tls_client_ca_file = NULL;
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
    snprintf(s->not_ready_msg, sizeof(s->not_ready_msg), "%s",
             opts->not_ready_msg ? opts->not_ready_msg : "not ready yet");
    init_sync(s);
    s->listen_fd = -1;
    rc = km_http_tls_load(s, opts);
    if (rc)
        goto out_free_server;
    rc = open_listener(opts->listen, &s->listen_fd, &s->port);
    if (rc)
        goto out_free_tls;
    fit_descriptors(s);
    *out = s;
    return 0;

out_free_tls:
    km_http_tls_free(s);
out_free_server:
    fini_sync(s);
    free(s);
    return rc;
}

static struct MHD_Daemon *start_daemon(struct km_http_server *s)
{
    /* Suspend/resume always: handlers on workers, and streams waiting for data. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG |
                     MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE |
                     km_http_tls_flags(s);
    struct MHD_OptionItem o[24];
    size_t n = 0;

#define OPT(opt, val, ptr) (o[n++] = (struct MHD_OptionItem){ (opt), (intptr_t)(val), (ptr) })
    OPT(MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s);
    OPT(MHD_OPTION_LISTEN_SOCKET, s->listen_fd, NULL);
    OPT(MHD_OPTION_URI_LOG_CALLBACK, on_uri, s);
    OPT(MHD_OPTION_NOTIFY_COMPLETED, on_completed, s);
    OPT(MHD_OPTION_NOTIFY_CONNECTION, on_connection, s);
    OPT(MHD_OPTION_CONNECTION_TIMEOUT, s->opts.timeout_s, NULL);
    OPT(MHD_OPTION_CONNECTION_LIMIT, s->opts.max_conns, NULL);
    OPT(MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->opts.max_conns_per_ip, NULL);
    OPT(MHD_OPTION_CONNECTION_MEMORY_LIMIT, KM_LIMIT_HTTP_CONN_MEMORY, NULL);
    if (s->opts.threads > 1)
        OPT(MHD_OPTION_THREAD_POOL_SIZE, s->opts.threads, NULL);
#undef OPT
    km_http_tls_options(s, o, &n);
    o[n++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
    return MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, o,
                            MHD_OPTION_END);
}

int km_http_server_start(struct km_http_server *s)
{
    int rc;

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

/* Stop accepting; push streams end; requests being handled and streams being made
 * finish; new requests on kept-alive connections are turned away (503, Connection:
 * close). */
static void drain(struct km_http_server *s, int64_t grace_ms)
{
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);

    if (fd != MHD_INVALID_SOCKET && fd == s->listen_fd) {
        close(fd);
        s->listen_fd = -1;
    }
    atomic_store(&s->quiescing, true);
    km_http_streams_end_push(s);
    /* WebSocket sessions end now (close 1001): they would hold their requests open. */
    km_http_ws_stop_all(s);
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
    /* Past the grace: long handlers and streams give up. No connection may stay
     * suspended past this point: MHD would abort. */
    atomic_store(&s->cancel_all, true);
    km_http_streams_cancel(s);
    pool_stop(s);
    /* The answers the workers just gave, and the 503s of what still waited, go out;
     * a writer resuming a stream's reader right now finishes doing so. */
    wait_inflight(s, KM_HTTP_FLUSH_MS);
    while (atomic_load(&s->resuming) > 0)
        sched_yield();
    /* Sessions upgraded since the drain (their 101 was on its way) end too: MHD must
     * not stop with upgraded connections still the application's. */
    km_http_ws_stop_all(s);
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
    km_http_tls_free(s);
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
    km_http_tls_metrics(s, m);
    km_mset_gauge(m, "kmon_http_connections_limit",
                  "HTTP connections served at once; more wait in the accept queue.",
                  (double)s->opts.max_conns);
    km_mset_gauge(m, "kmon_http_requests_waiting",
                  "Requests whose handler waits for a free worker thread.", (double)waiting);
    km_mset_gauge(m, "kmon_http_streams", "Streamed answers being sent now.",
                  (double)km_http_streams_open(s));
    km_mset_gauge(m, "kmon_http_websockets", "WebSocket sessions open now.",
                  (double)km_http_ws_open(s));
    km_mset_gauge(m, "kmon_http_websockets_limit", "WebSocket sessions open at once at most.",
                  (double)km_http_ws_cap(s));
    km_mset_add(m,
                km_mset_family(m, "kmon_http_websockets_refused_total",
                               "WebSocket handshakes refused (503) for the limit on sessions.",
                               KM_MT_COUNTER, 0),
                NULL, 0, (double)atomic_load(&s->ws_refused));
    km_mset_add(m,
                km_mset_family(m, "kmon_http_slow_connections_cut_total",
                               "Connections closed for taking longer than the header or "
                               "request timeout over one request, or for not reading a "
                               "streamed answer (slow clients).",
                               KM_MT_COUNTER, 0),
                NULL, 0, (double)atomic_load(&s->cut));
    for (int c = 0; c < 5; c++) {
        uint64_t k = atomic_load(&s->unrouted[c]);
        struct km_label l[3] = { { "code", classes[c] }, { "handler", "none" }, { "method", "" } };

        if (k)
            km_mset_add(m, req, l, 3, (double)k);
    }
}
