/*
 * Unit tests: the HTTP server wrapper over libmicrohttpd, spoken to over real loopback
 * sockets — routing (parameters, prefix routes, 404/405, route flags and contexts),
 * arguments from query strings and form bodies (repeated, malformed, past their caps),
 * 413/414/431 as JSON, HEAD, CORS preflight, request bodies (a refused one drained so its
 * 413 can be read), handlers on worker threads while inline probes answer at once,
 * cancellation of a handler whose client left, streamed answers (complete, cut, HEAD, a
 * slow reader holding the producer, clients vanishing mid-stream, pushed Server-Sent
 * Events, a stop under open streams), TLS and client certificates with certificates
 * made by openssl at test time (spoken to with libcurl), the per-address connection
 * limit, header and idle timeouts, and a graceful stop that finishes requests in flight.
 */
#include "common/err.h"
#include "common/http_server.h"
#include "common/mset.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static void on_hello(struct km_http_req *r, void *ud)
{
    const char *who = km_http_req_arg(r, "who");
    char text[128];

    (void)ud;
    snprintf(text, sizeof(text), "hello %s\n", who ? who : "world");
    km_http_req_add_header(r, "X-Test", "yes");
    km_http_respond_text(r, 200, text);
}

static void on_node(struct km_http_req *r, void *ud)
{
    char text[256];

    (void)ud;
    snprintf(text, sizeof(text), "node=%s what=%s", km_http_req_param(r, "node"),
             km_http_req_param(r, "what"));
    km_http_respond_text(r, 200, text);
}

static void on_echo(struct km_http_req *r, void *ud)
{
    size_t len;
    const char *body = km_http_req_body(r, &len);

    (void)ud;
    km_http_respond(r, 201, "application/octet-stream", body, len);
}

static void on_slow(struct km_http_req *r, void *ud)
{
    (void)ud;
    usleep(300000);
    km_http_respond_text(r, 200, "slow done\n");
}

static void on_slower(struct km_http_req *r, void *ud)
{
    (void)ud;
    usleep(2500000);
    km_http_respond_text(r, 200, "slower done\n");
}

static void on_silent(struct km_http_req *r, void *ud)
{
    (void)r;
    (void)ud; /* forgets to respond: the server must answer 500 */
}

/* A handler that holds its worker until the test lets it go. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open, gate_waiting;

static void on_gate(struct km_http_req *r, void *ud)
{
    (void)ud;
    pthread_mutex_lock(&gate_mu);
    gate_waiting++;
    pthread_cond_broadcast(&gate_cv);
    while (!gate_open)
        pthread_cond_wait(&gate_cv, &gate_mu);
    gate_waiting--;
    pthread_mutex_unlock(&gate_mu);
    km_http_respond_text(r, 200, "gate passed\n");
}

static void on_probe(struct km_http_req *r, void *ud)
{
    (void)ud;
    km_http_respond_text(r, 200, "ok\n");
}

/* ---- arguments, headers, prefixes, context ------------------------------------------- */

static void on_args(struct km_http_req *r, void *ud)
{
    const char *name, *value, *vals[1];
    size_t na = km_http_req_args(r, "a", vals, 1);
    const char *first = km_http_req_arg(r, "a");
    struct km_buf b;

    (void)ud;
    km_buf_init(&b, 0);
    for (size_t i = 0; km_http_req_arg_at(r, i, &name, &value); i++) {
        km_buf_puts(&b, "[");
        km_buf_puts(&b, name);
        km_buf_puts(&b, "]=[");
        km_buf_puts(&b, value);
        km_buf_puts(&b, "]\n");
    }
    assert_true(na < 2 || vals[0] == first);
    km_buf_puts(&b, "first=");
    km_buf_puts(&b, first ? first : "-");
    km_buf_puts(&b, na == 0   ? " count=0\n"
                    : na == 1 ? " count=1\n"
                    : na == 2 ? " count=2\n"
                              : " count=3+\n");
    km_http_respond_buf(r, 200, "text/plain", &b);
    km_buf_fini(&b);
}

static void on_headers(struct km_http_req *r, void *ud)
{
    const char *v[4] = { "-", "-", "-", "-" };
    size_t n = km_http_req_headers(r, "x-multi", v, 2);
    char text[256];

    (void)ud;
    snprintf(text, sizeof(text), "n=%zu %s,%s first=%s\n", n, v[0], v[1],
             km_http_req_header(r, "X-MULTI"));
    km_http_respond_text(r, 200, text);
}

static const char *or_dash(const char *s)
{
    return s ? s : "-";
}

/* Says which route answered (its context is a label) and what the path held. */
static void on_label(struct km_http_req *r, void *ud)
{
    char text[512];

    snprintf(text, sizeof(text), "route=%s name=%s rest=[%s]\n", (const char *)ud,
             or_dash(km_http_req_param(r, "name")), or_dash(km_http_req_param(r, "*")));
    km_http_respond_text(r, 200, text);
}

/* ---- streams ----------------------------------------------------------------------------- */

static atomic_size_t produced, gens_freed;
static char body_pattern[64 * 1024 + 26];

/* A body of n bytes ('a' to 'z' over and over; n 0: endless), made step bytes at a time;
 * failing at byte fail; holding its second step up to hold ms unless cancelled. */
struct gen {
    size_t total, made, step, fail_at;
    int hold_ms;
};

static int produce_gen(struct km_http_stream *st, struct km_buf *out, void *ud)
{
    struct gen *g = ud;
    size_t n = g->step;

    if (g->hold_ms && g->made) {
        for (int i = 0; i < g->hold_ms / 5; i++) {
            if (km_http_stream_cancelled(st))
                return KM_ECANCELED;
            usleep(5000);
        }
        g->hold_ms = 0;
    }
    if (g->fail_at && g->made >= g->fail_at)
        return km_err_set(KM_EIO, "failed on purpose");
    if (g->total && g->total - g->made < n)
        n = g->total - g->made;
    km_buf_append(out, body_pattern + g->made % 26, n);
    g->made += n;
    atomic_fetch_add(&produced, n);
    return g->total && g->made >= g->total ? 0 : KM_HTTP_MORE;
}

static void free_gen(void *ud)
{
    free(ud);
    atomic_fetch_add(&gens_freed, 1);
}

static size_t arg_size(struct km_http_req *r, const char *name, size_t dflt)
{
    const char *v = km_http_req_arg(r, name);

    return v ? strtoull(v, NULL, 10) : dflt;
}

static void on_stream(struct km_http_req *r, void *ud)
{
    struct gen *g = calloc(1, sizeof(*g));

    (void)ud;
    assert_non_null(g);
    g->total = arg_size(r, "n", 0);
    g->step = arg_size(r, "step", 1000);
    g->fail_at = arg_size(r, "fail", 0);
    g->hold_ms = (int)arg_size(r, "hold", 0);
    assert_true(g->step <= 64 * 1024);
    assert_int_equal(km_http_respond_stream(r, 200, "text/plain", produce_gen, g, free_gen), 0);
}

/* Push streams handed to the test thread. */
static pthread_mutex_t push_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t push_cv = PTHREAD_COND_INITIALIZER;
static struct km_http_stream *pushed;

static void on_push(struct km_http_req *r, void *ud)
{
    struct km_http_stream *st;

    (void)ud;
    assert_int_equal(km_http_respond_push(r, 200, "text/event-stream", &st), 0);
    pthread_mutex_lock(&push_mu);
    pushed = st;
    pthread_cond_broadcast(&push_cv);
    pthread_mutex_unlock(&push_mu);
}

static struct km_http_stream *take_pushed(void)
{
    struct km_http_stream *st;

    pthread_mutex_lock(&push_mu);
    while (!pushed)
        pthread_cond_wait(&push_cv, &push_mu);
    st = pushed;
    pushed = NULL;
    pthread_mutex_unlock(&push_mu);
    return st;
}

/* A long evaluation that gives up when the client leaves. */
static atomic_int saw_cancel;

static void on_cancellable(struct km_http_req *r, void *ud)
{
    (void)ud;
    for (int i = 0; i < 1000; i++) {
        if (km_http_req_cancelled(r)) {
            atomic_store(&saw_cancel, 1);
            break;
        }
        usleep(5000);
    }
    km_http_respond_text(r, 200, "done\n");
}

static const struct km_http_route routes[] = {
    { "GET", "/hello", on_hello, 0 },
    { "GET", "/api/nodes/<node>/<what>", on_node, 0 },
    { "POST", "/echo", on_echo, 0 },
    { "PUT", "/echo", on_echo, 0 },
    { "GET", "/slow", on_slow, 0 },
    { "GET", "/silent", on_silent, 0 },
    { "GET", "/slower", on_slower, 0 },
    { "GET", "/gate", on_gate, 0 },
    { "GET", "/healthz", on_probe, KM_ROUTE_INLINE },
    { "GET", "/args", on_args, 0 },
    { "POST", "/args", on_args, 0 },
    { "GET", "/headers", on_headers, 0 },
    { "GET", "/stream", on_stream, 0 },
    { "GET", "/push", on_push, 0 },
    { "GET", "/cancellable", on_cancellable, 0 },
};

/* A server with the routes above, not started (more routes may be added). */
static struct km_http_server *create_with(struct km_http_opts o)
{
    struct km_http_server *s;

    o.listen = "127.0.0.1:0";
    o.name = "test";
    if (!o.max_body)
        o.max_body = 1024;
    assert_int_equal(km_http_server_create(&s, &o), 0);
    assert_int_equal(km_http_server_add_routes(s, routes, sizeof(routes) / sizeof(routes[0]), NULL),
                     0);
    return s;
}

static struct km_http_server *run(struct km_http_server *s)
{
    assert_int_equal(km_http_server_start(s), 0);
    assert_true(km_http_server_port(s) > 0);
    return s;
}

static struct km_http_server *start_with(struct km_http_opts o)
{
    return run(create_with(o));
}

static struct km_http_server *start(bool cors, unsigned timeout_s)
{
    return start_with((struct km_http_opts){ .cors = cors, .timeout_s = timeout_s });
}

/* Handlers on two worker threads, polling on one. */
static struct km_http_server *start_workers(unsigned workers)
{
    return start_with((struct km_http_opts){ .timeout_s = 5, .workers = workers });
}

static int dial_from(uint16_t port, const char *source)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    struct sockaddr_in src = { .sin_family = AF_INET };
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (source) {
        inet_pton(AF_INET, source, &src.sin_addr);
        assert_int_equal(bind(fd, (struct sockaddr *)&src, sizeof(src)), 0);
    }
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static int dial(uint16_t port)
{
    return dial_from(port, NULL);
}

/* Read until the server closes (or 5 s pass). */
static char *read_all(int fd)
{
    static _Thread_local char resp[1 << 16];
    struct timeval tv = { 5, 0 };
    size_t n = 0;
    ssize_t got;

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while (n < sizeof(resp) - 1 && (got = read(fd, resp + n, sizeof(resp) - 1 - n)) > 0)
        n += (size_t)got;
    resp[n] = '\0';
    return resp;
}

static void write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t w = write(fd, p, len);

        assert_true(w > 0);
        p += w;
        len -= (size_t)w;
    }
}

/* Send a raw request and read the whole answer (the server closes the connection). */
static char *roundtrip_from(uint16_t port, const char *source, const char *req, size_t reqlen)
{
    int fd = dial_from(port, source);
    char *resp;

    write_all(fd, req, reqlen);
    resp = read_all(fd);
    close(fd);
    return resp;
}

static char *roundtrip(uint16_t port, const char *req, size_t reqlen)
{
    return roundtrip_from(port, NULL, req, reqlen);
}

static char *get(uint16_t port, const char *method, const char *path)
{
    static _Thread_local char req[64 * 1024];
    int n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                     method, path);

    return roundtrip(port, req, (size_t)n);
}

static double since_s(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void check_routing(struct km_http_server *s)
{
    uint16_t p = km_http_server_port(s);
    char *r;

    r = get(p, "GET", "/hello?who=kmon");
    assert_non_null(strstr(r, "HTTP/1.1 200"));
    assert_non_null(strstr(r, "X-Test: yes"));
    assert_non_null(strstr(r, "hello kmon"));
    r = get(p, "GET", "/api/nodes/node-1/pods");
    assert_non_null(strstr(r, "node=node-1 what=pods"));
    r = get(p, "HEAD", "/hello");
    assert_non_null(strstr(r, "HTTP/1.1 200"));
    assert_null(strstr(r, "hello world")); /* no body for HEAD */
    r = get(p, "GET", "/nope");
    assert_non_null(strstr(r, "HTTP/1.1 404"));
    assert_non_null(strstr(r, "{\"error\":\"no such endpoint: /nope\"}"));
    r = get(p, "DELETE", "/echo");
    assert_non_null(strstr(r, "HTTP/1.1 405"));
    assert_non_null(strstr(r, "Allow: POST, PUT"));
    r = get(p, "GET", "/silent");
    assert_non_null(strstr(r, "HTTP/1.1 500"));
    r = get(p, "GET", "/api/nodes/a/b/c");
    assert_non_null(strstr(r, "HTTP/1.1 404"));
    r = get(p, "GET", "/healthz");
    assert_non_null(strstr(r, "HTTP/1.1 200"));
}

/* A check run on a server whose handlers run on its polling thread, then on one with
 * two workers. */
static void both_ways(void (*check)(struct km_http_server *s))
{
    struct km_http_server *s = start(false, 5);

    check(s);
    km_http_server_destroy(s);
    s = start_workers(2);
    check(s);
    km_http_server_destroy(s);
}

static void test_routing(void **state)
{
    (void)state;
    both_ways(check_routing);
}

static void check_bodies(struct km_http_server *s)
{
    uint16_t p = km_http_server_port(s);
    static char big[100000], req[sizeof(big) + 1024];
    char *r;
    int n;

    n = snprintf(req, sizeof(req),
                 "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n"
                 "\r\nabcde");
    r = roundtrip(p, req, (size_t)n);
    assert_non_null(strstr(r, "HTTP/1.1 201"));
    assert_non_null(strstr(r, "\r\n\r\nabcde"));
    /* Announced too large to a client waiting for 100-continue: refused before the body. */
    n = snprintf(req, sizeof(req),
                 "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 "Content-Length: 100000\r\nExpect: 100-continue\r\n\r\n");
    r = roundtrip(p, req, (size_t)n);
    assert_non_null(strstr(r, "HTTP/1.1 413"));
    assert_null(strstr(r, "100 Continue"));
    assert_non_null(strstr(r, "{\"error\":\"request body larger than 1024 bytes\"}"));
    /* Announced too large and sent whole without waiting: the body is drained, the 413
     * read, and the kept-alive connection serves the next request. */
    memset(big, 'x', sizeof(big));
    n = snprintf(req, sizeof(req),
                 "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%.*s"
                 "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                 sizeof(big), (int)sizeof(big), big);
    r = roundtrip(p, req, (size_t)n);
    assert_non_null(strstr(r, "HTTP/1.1 413"));
    assert_non_null(strstr(r, "request body larger than 1024 bytes"));
    assert_non_null(strstr(r, "hello world"));
    /* Chunked and too large: discovered while reading, drained the same way. */
    n = snprintf(req, sizeof(req),
                 "PUT /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n%x\r\n%.*s\r\n0\r\n\r\n",
                 4096u, 4096, big);
    r = roundtrip(p, req, (size_t)n);
    assert_non_null(strstr(r, "HTTP/1.1 413"));
    assert_non_null(strstr(r, "request body larger than 1024 bytes"));
    /* Garbage instead of HTTP: an error status or a closed connection, and the server
     * still answers the next request. */
    r = roundtrip(p, "\x01\x02\x03 nonsense\r\n\r\n", 16);
    assert_null(strstr(r, "HTTP/1.1 200"));
    r = get(p, "GET", "/hello");
    assert_non_null(strstr(r, "HTTP/1.1 200"));
}

static void test_bodies(void **state)
{
    (void)state;
    both_ways(check_bodies);
}

/* Heads kmon refuses itself, in JSON, before libmicrohttpd would. */
static void test_head_limits(void **state)
{
    struct km_http_server *s = start_workers(1);
    uint16_t p = km_http_server_port(s);
    static char req[128 * 1024], filler[60 * 1024];
    char *r;
    int n;

    (void)state;
    memset(filler, 'a', sizeof(filler));
    /* A target past 16 KiB (the query makes it long). */
    n = snprintf(req, sizeof(req), "GET /hello?who=%.*s HTTP/1.1\r\nHost: x\r\n\r\n", 20000,
                 filler);
    r = roundtrip(p, req, (size_t)n);
    assert_non_null(strstr(r, "HTTP/1.1 414"));
    assert_non_null(strstr(r, "Content-Type: application/json"));
    assert_non_null(strstr(r, "{\"error\":\"request target (path and query) longer than"));
    /* A path longer than the router takes. */
    n = snprintf(req, sizeof(req), "GET /%.*s HTTP/1.1\r\nHost: x\r\n\r\n", 3000, filler);
    r = roundtrip(p, req, (size_t)n);
    assert_non_null(strstr(r, "HTTP/1.1 414"));
    assert_non_null(strstr(r, "{\"error\":\"request path longer than"));
    /* One header of 40 KiB; 300 small ones. */
    n = snprintf(req, sizeof(req), "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: %.*s\r\n\r\n", 40000,
                 filler);
    r = roundtrip(p, req, (size_t)n);
    assert_non_null(strstr(r, "HTTP/1.1 431"));
    assert_non_null(strstr(r, "{\"error\":\"request head larger than"));
    n = snprintf(req, sizeof(req), "GET /hello HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 300; i++)
        n += snprintf(req + n, sizeof(req) - (size_t)n, "X-N%d: %d\r\n", i, i);
    n += snprintf(req + n, sizeof(req) - (size_t)n, "\r\n");
    r = roundtrip(p, req, (size_t)n);
    assert_non_null(strstr(r, "HTTP/1.1 431"));
    assert_non_null(strstr(r, "application/json"));
    /* Past libmicrohttpd's own pool, or unparsable: it answers by itself (in HTML; the
     * request kmon allocated when the target arrived is freed all the same). */
    n = snprintf(req, sizeof(req), "GET /hello?who=%.*s HTTP/1.1\r\nHost: x\r\n\r\n",
                 (int)sizeof(filler), filler);
    r = roundtrip(p, req, (size_t)n);
    assert_true(strstr(r, "HTTP/1.1 414") || strstr(r, "HTTP/1.1 431"));
    r = roundtrip(p, "GET /hello HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n", 42);
    assert_non_null(strstr(r, "HTTP/1.1 400"));
    /* Under the caps: served. */
    n = snprintf(req, sizeof(req),
                 "GET /hello?who=%.*s HTTP/1.1\r\nHost: x\r\nX-Big: %.*s\r\n"
                 "Connection: close\r\n\r\n",
                 8000, filler, 20000, filler);
    r = roundtrip(p, req, (size_t)n);
    assert_non_null(strstr(r, "HTTP/1.1 200"));
    km_http_server_destroy(s);
}

struct call {
    uint16_t port;
    const char *path;
    char result[256];
};

static void *call(void *arg)
{
    struct call *c = arg;
    char *r = get(c->port, "GET", c->path);

    snprintf(c->result, sizeof(c->result), "%s", r);
    return NULL;
}

static void wait_gate(int waiting)
{
    pthread_mutex_lock(&gate_mu);
    while (gate_waiting < waiting)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
}

static void set_gate(int open)
{
    pthread_mutex_lock(&gate_mu);
    gate_open = open;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
}

/* Every worker held by a slow handler, more requests queued: an inline probe is answered
 * at once, and the queue is served once the workers are free. */
static void test_probe_while_workers_busy(void **state)
{
    struct km_http_server *s = start_workers(1);
    struct call c[3];
    pthread_t th[3];
    struct timespec t0;
    char *r;

    (void)state;
    set_gate(0);
    for (int i = 0; i < 3; i++) {
        c[i] = (struct call){ .port = km_http_server_port(s), .path = "/gate" };
        pthread_create(&th[i], NULL, call, &c[i]);
    }
    wait_gate(1);
    usleep(100000); /* the other two are queued */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    r = get(km_http_server_port(s), "GET", "/healthz");
    assert_non_null(strstr(r, "HTTP/1.1 200"));
    assert_true(since_s(&t0) < 0.5);
    set_gate(1);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_non_null(strstr(c[i].result, "gate passed"));
    }
    km_http_server_destroy(s);
}

static void *open_gate_later(void *arg)
{
    (void)arg;
    usleep(400000);
    set_gate(1);
    return NULL;
}

/* A stop whose grace runs out while a handler holds the only worker: that request
 * finishes, the one still queued is answered 503. */
static void test_stop_with_queued_requests(void **state)
{
    struct km_http_server *s = start_workers(1);
    struct call c[2];
    pthread_t th[2], opener;

    (void)state;
    set_gate(0);
    c[0] = (struct call){ .port = km_http_server_port(s), .path = "/gate" };
    pthread_create(&th[0], NULL, call, &c[0]);
    wait_gate(1);
    c[1] = (struct call){ .port = km_http_server_port(s), .path = "/hello" };
    pthread_create(&th[1], NULL, call, &c[1]);
    usleep(100000); /* queued behind the gate */
    pthread_create(&opener, NULL, open_gate_later, NULL);
    km_http_server_stop(s, 200);
    pthread_join(opener, NULL);
    pthread_join(th[0], NULL);
    pthread_join(th[1], NULL);
    assert_non_null(strstr(c[0].result, "gate passed"));
    assert_non_null(strstr(c[1].result, "HTTP/1.1 503"));
    assert_non_null(strstr(c[1].result, "shutting down"));
    km_http_server_destroy(s);
}

/* Three connections from 127.0.0.1 fill its quota: a fourth is closed at once, while
 * 127.0.0.2 is served; closing one frees a place. */
static void test_per_address_limit(void **state)
{
    struct km_http_server *s = start_with((struct km_http_opts){ .max_conns_per_ip = 3 });
    uint16_t p = km_http_server_port(s);
    const char *probe = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    int held[3], extra;
    struct timespec t0;
    char *r;

    (void)state;
    for (int i = 0; i < 3; i++) {
        held[i] = dial(p);
        write_all(held[i], "GET /hel", 8);
    }
    usleep(100000);
    extra = dial(p);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (send(extra, probe, strlen(probe), MSG_NOSIGNAL) < 0) /* it may be closed already */
        assert_true(errno == EPIPE || errno == ECONNRESET);
    r = read_all(extra);
    close(extra);
    assert_null(strstr(r, "HTTP/1.1"));
    assert_true(since_s(&t0) < 2);
    r = roundtrip_from(p, "127.0.0.2", probe, strlen(probe));
    assert_non_null(strstr(r, "HTTP/1.1 200"));
    close(held[0]);
    usleep(100000);
    r = roundtrip(p, probe, strlen(probe));
    assert_non_null(strstr(r, "HTTP/1.1 200"));
    close(held[1]);
    close(held[2]);
    km_http_server_destroy(s);
}

/* A new connection trickling its headers is cut after the header timeout; a kept-alive
 * one that has been answered may stay idle longer. */
static void test_header_timeout(void **state)
{
    struct km_http_server *s =
        start_with((struct km_http_opts){ .timeout_s = 30, .header_timeout_s = 1 });
    uint16_t p = km_http_server_port(s);
    const char *hello = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    int slow = dial(p), kept = dial(p);
    struct timespec t0;
    char buf[4096];
    ssize_t n = 1;

    (void)state;
    write_all(kept, hello, strlen(hello));
    assert_true(read(kept, buf, sizeof(buf)) > 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    write_all(slow, "GET /hello HTTP/1.1\r\nX-Slow: ", 29);
    while (since_s(&t0) < 5) {
        usleep(200000);
        if (send(slow, "a", 1, MSG_NOSIGNAL) != 1)
            break;
        n = recv(slow, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN))
            break;
    }
    assert_true(since_s(&t0) < 3);
    close(slow);
    sleep(1); /* the kept-alive connection has now been idle past the header timeout */
    write_all(kept, hello, strlen(hello));
    n = read(kept, buf, sizeof(buf) - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "HTTP/1.1 200"));
    close(kept);
    km_http_server_destroy(s);
}

/* The request timeout is about a client slow to send: a handler that works longer than
 * it (a block cut, a query of a large head) still answers on the same connection. */
static void test_slow_handler_is_not_cut(void **state)
{
    (void)state;
    for (unsigned workers = 0; workers <= 2; workers += 2) {
        struct km_http_server *s = start_with(
            (struct km_http_opts){ .timeout_s = 30, .request_timeout_s = 1, .workers = workers });
        char *r = get(km_http_server_port(s), "GET", "/slower");

        assert_non_null(strstr(r, "HTTP/1.1 200"));
        assert_non_null(strstr(r, "slower done"));
        km_http_server_destroy(s);
    }
}

static void test_cors(void **state)
{
    struct km_http_server *s = start(true, 5);
    uint16_t p = km_http_server_port(s);
    char *r;

    (void)state;
    r = get(p, "GET", "/hello");
    assert_non_null(strstr(r, "Access-Control-Allow-Origin: *"));
    r = get(p, "OPTIONS", "/echo");
    assert_non_null(strstr(r, "HTTP/1.1 204"));
    assert_non_null(strstr(r, "Access-Control-Allow-Methods: POST, PUT, OPTIONS"));
    r = get(p, "GET", "/missing");
    assert_non_null(strstr(r, "Access-Control-Allow-Origin: *")); /* errors too */
    km_http_server_destroy(s);
}

static void test_idle_connection_is_closed(void **state)
{
    struct km_http_server *s = start(false, 1);
    char buf[64];
    int fd = dial(km_http_server_port(s));
    struct timespec t0, t1;
    ssize_t n;

    (void)state;
    /* A slow-loris client sends half a request line and waits. */
    assert_int_equal(write(fd, "GET /hel", 8), 8);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    n = read(fd, buf, sizeof(buf)); /* blocks until the server gives up */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(n <= 0 || strstr(buf, "HTTP/1.1 4") != NULL);
    assert_true(t1.tv_sec - t0.tv_sec < 10);
    close(fd);
    km_http_server_destroy(s);
}

static void check_graceful_stop(struct km_http_server *s)
{
    struct call c = { .port = km_http_server_port(s), .path = "/slow" };
    pthread_t th;

    pthread_create(&th, NULL, call, &c);
    usleep(100000); /* the request is now in its handler */
    km_http_server_stop(s, 5000);
    pthread_join(th, NULL);
    assert_non_null(strstr(c.result, "slow done"));
}

static void test_graceful_stop(void **state)
{
    (void)state;
    both_ways(check_graceful_stop);
}

static void test_bad_listen(void **state)
{
    struct km_http_opts o = { .name = "test" };
    struct km_http_server *s, *s2;

    (void)state;
    o.listen = "nocolon";
    assert_int_equal(km_http_server_create(&s, &o), KM_EINVAL);
    o.listen = ":99999";
    assert_int_equal(km_http_server_create(&s, &o), KM_EINVAL);
    o.listen = "[::1:80";
    assert_int_equal(km_http_server_create(&s, &o), KM_EINVAL);
    o.listen = "127.0.0.1:0";
    assert_int_equal(km_http_server_create(&s, &o), 0);
    {
        char addr[32];

        snprintf(addr, sizeof(addr), "127.0.0.1:%u", km_http_server_port(s));
        o.listen = addr;
        assert_int_equal(km_http_server_create(&s2, &o), KM_EIO);
        assert_non_null(strstr(km_err_msg(), "in use"));
    }
    km_http_server_destroy(s);
}

/* ---- arguments ------------------------------------------------------------------------ */

static char *post(uint16_t port, const char *path, const char *ctype, const char *body, size_t len)
{
    static _Thread_local char req[64 * 1024];
    int n = snprintf(req, sizeof(req),
                     "POST %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: %s\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     path, ctype, len);
    int fd = dial(port);
    char *resp;

    write_all(fd, req, (size_t)n);
    write_all(fd, body, len);
    resp = read_all(fd);
    close(fd);
    return resp;
}

#define FORM "application/x-www-form-urlencoded"

static void check_args(struct km_http_server *s)
{
    uint16_t p = km_http_server_port(s);
    char *r;

    /* Query strings: repeated names in order, '+' and %XX, empty pairs, a bare name. */
    r = get(p, "GET", "/args?a=1&b=x+y%21&a=2&&c&m%5B%5D=%7Bjob%3D%22x%22%7D");
    assert_non_null(strstr(r, "HTTP/1.1 200"));
    assert_non_null(strstr(r, "\r\n\r\n[a]=[1]\n[b]=[x y!]\n[a]=[2]\n[c]=[]\n[m[]]=[{job=\"x\"}]\n"
                              "first=1 count=2\n"));
    /* A form body's arguments come before the query string's (Go's ParseForm). */
    r = post(p, "/args?a=q", FORM "; charset=UTF-8", "a=b1&m%5B%5D=x&a=b2", 19);
    assert_non_null(
        strstr(r, "\r\n\r\n[a]=[b1]\n[m[]]=[x]\n[a]=[b2]\n[a]=[q]\nfirst=b1 count=3+\n"));
    r = post(p, "/args", "Application/X-WWW-Form-URLEncoded", "query=up%7Bjob%3D%22a%22%7D", 27);
    assert_non_null(strstr(r, "\r\n\r\n[query]=[up{job=\"a\"}]\n"));
    /* Other bodies are not arguments. */
    r = post(p, "/args?a=q", "application/json", "a=b1", 4);
    assert_non_null(strstr(r, "\r\n\r\n[a]=[q]\nfirst=q count=1\n"));
    r = post(p, "/args", FORM "x", "a=b1", 4);
    assert_non_null(strstr(r, "\r\n\r\nfirst=- count=0\n"));
    /* Malformed: 400 in JSON, naming the escape and where it was. */
    r = get(p, "GET", "/args?a=%zz");
    assert_non_null(strstr(r, "HTTP/1.1 400"));
    assert_non_null(
        strstr(r, "{\"error\":\"invalid URL escape \\\"%zz\\\" in the query string\"}"));
    r = get(p, "GET", "/args?a=1%4");
    assert_non_null(strstr(r, "invalid URL escape \\\"%4\\\" in the query string"));
    r = get(p, "GET", "/args?a%2=1");
    assert_non_null(strstr(r, "invalid URL escape \\\"%2=\\\" in the query string"));
    r = get(p, "GET", "/args?a=1;b=2");
    assert_non_null(strstr(r, "HTTP/1.1 400"));
    assert_non_null(strstr(r, "invalid semicolon separator in the query string"));
    r = post(p, "/args", FORM, "a=%G1", 5);
    assert_non_null(strstr(r, "HTTP/1.1 400"));
    assert_non_null(strstr(r, "invalid URL escape \\\"%G1\\\" in the form body"));
    r = post(p, "/args?a=1", FORM, "b=2&%", 5);
    assert_non_null(strstr(r, "invalid URL escape \\\"%\\\" in the form body"));
}

static void test_args(void **state)
{
    (void)state;
    both_ways(check_args);
}

/* Form bodies past their caps are 413; repeated headers are all seen. */
static void test_arg_limits_and_headers(void **state)
{
    struct km_http_server *s =
        start_with((struct km_http_opts){ .workers = 1, .max_body = 16u << 20 });
    uint16_t p = km_http_server_port(s);
    size_t big = (10u << 20) + 1, many = 65537 * 2;
    char *body = malloc(big), *r;

    (void)state;
    memset(body, 'x', big);
    body[0] = 'a';
    body[1] = '=';
    r = post(p, "/args", FORM, body, big);
    assert_non_null(strstr(r, "HTTP/1.1 413"));
    assert_non_null(strstr(r, "form body larger than 10485760 bytes"));
    for (size_t i = 0; i < many; i += 2)
        memcpy(body + i, "a&", 2);
    r = post(p, "/args", FORM, body, many);
    assert_non_null(strstr(r, "HTTP/1.1 413"));
    assert_non_null(strstr(r, "form body with more than 65536 fields"));
    r = post(p, "/args", FORM, body, many - 4); /* 65535 fields */
    assert_non_null(strstr(r, "HTTP/1.1 200"));
    assert_non_null(strstr(r, "\r\n\r\n[a]=[]\n[a]=[]\n"));
    free(body);
    {
        const char *req = "GET /headers HTTP/1.1\r\nHost: x\r\nX-Multi: 1\r\nX-Other: z\r\n"
                          "x-multi: 2\r\nX-Multi: 3\r\nConnection: close\r\n\r\n";

        r = roundtrip(p, req, strlen(req));
    }
    assert_non_null(strstr(r, "n=3 1,2 first=1"));
    km_http_server_destroy(s);
}

/* ---- prefix routes, flags, context --------------------------------------------------- */

static void add_labelled(struct km_http_server *s, const char *method, const char *pattern,
                         const char *label)
{
    struct km_http_route rt = { method, pattern, on_label, 0 };

    assert_int_equal(km_http_server_add_routes(s, &rt, 1, (void *)(uintptr_t)label), 0);
}

static void test_prefix_routes(void **state)
{
    struct km_http_server *s = create_with((struct km_http_opts){ .workers = 2 });
    uint16_t p;
    char path[256], *r;
    int n;

    (void)state;
    add_labelled(s, "GET", "/ui/*", "ui");
    add_labelled(s, "GET", "/ui/api/*", "ui-api");
    add_labelled(s, "GET", "/ui/special", "special");
    add_labelled(s, "POST", "/ui/upload", "upload");
    add_labelled(s, "GET", "/files/<name>/*", "files");
    run(s);
    p = km_http_server_port(s);
    r = get(p, "GET", "/ui");
    assert_non_null(strstr(r, "route=ui name=- rest=[]"));
    r = get(p, "GET", "/ui/");
    assert_non_null(strstr(r, "route=ui name=- rest=[]"));
    r = get(p, "GET", "/ui/app.js?v=1");
    assert_non_null(strstr(r, "route=ui name=- rest=[app.js]"));
    r = get(p, "GET", "/ui/a//b/");
    assert_non_null(strstr(r, "route=ui name=- rest=[a//b/]"));
    /* Exact beats prefix, a longer prefix a shorter one. */
    r = get(p, "GET", "/ui/special");
    assert_non_null(strstr(r, "route=special"));
    r = get(p, "GET", "/ui/special/x");
    assert_non_null(strstr(r, "route=ui name=- rest=[special/x]"));
    r = get(p, "GET", "/ui/api/v1/x");
    assert_non_null(strstr(r, "route=ui-api name=- rest=[v1/x]"));
    /* The method decides first: GET /ui/upload is the prefix's. */
    r = get(p, "GET", "/ui/upload");
    assert_non_null(strstr(r, "route=ui name=- rest=[upload]"));
    r = get(p, "DELETE", "/ui/upload");
    assert_non_null(strstr(r, "HTTP/1.1 405"));
    assert_non_null(strstr(r, "Allow: GET, POST"));
    r = get(p, "POST", "/ui/other");
    assert_non_null(strstr(r, "HTTP/1.1 405"));
    assert_non_null(strstr(r, "Allow: GET\r\n"));
    r = get(p, "GET", "/uix");
    assert_non_null(strstr(r, "HTTP/1.1 404"));
    r = get(p, "GET", "/files/x/y/z");
    assert_non_null(strstr(r, "route=files name=x rest=[y/z]"));
    r = get(p, "GET", "/files/x");
    assert_non_null(strstr(r, "route=files name=x rest=[]"));
    /* Deeper than any pattern may be. */
    n = snprintf(path, sizeof(path), "/ui");
    for (int i = 0; i < 20; i++)
        n += snprintf(path + n, sizeof(path) - (size_t)n, "/s%d", i);
    r = get(p, "GET", path);
    assert_non_null(strstr(r, "route=ui name=- rest=[s0/s1/s2/"));
    assert_non_null(strstr(r, "/s19]"));
    km_http_server_destroy(s);
}

static void test_bad_patterns(void **state)
{
    struct km_http_opts o = { .listen = "127.0.0.1:0", .name = "test" };
    struct km_http_server *s;
    static const char *const bad[] = { "/a/*/b", "/a/<>",
                                       "/a/<b",  "nope",
                                       "/*x",    "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17" };

    (void)state;
    assert_int_equal(km_http_server_create(&s, &o), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct km_http_route rt = { "GET", bad[i], on_probe, 0 };
        int rc = km_http_server_add_routes(s, &rt, 1, NULL);

        if (rc != KM_EINVAL && rc != KM_ELIMIT)
            fail_msg("pattern %s accepted", bad[i]);
    }
    km_http_server_destroy(s);
}

struct greeter {
    const char *greeting;
};

static void on_greet(struct km_http_req *r, void *ud)
{
    const struct greeter *g = ud;

    km_http_respond_text(r, 200, g->greeting);
}

/* KM_ROUTE_NEEDS_READY: 503 until the server is ready, without the handler running;
 * the handler gets the context it was registered with. */
static void test_route_flags(void **state)
{
    static struct greeter g = { "hello from the context\n" };
    static const struct km_http_route rts[] = {
        { "GET", "/needs-ready", on_greet, KM_ROUTE_NEEDS_READY },
        { "GET", "/inline-ready", on_greet, KM_ROUTE_INLINE | KM_ROUTE_NEEDS_READY },
        { "GET", "/always", on_greet, 0 },
    };
    struct km_http_server *s =
        create_with((struct km_http_opts){ .workers = 1, .not_ready_msg = "warming up" });
    uint16_t p;
    char *r;

    (void)state;
    assert_int_equal(km_http_server_add_routes(s, rts, 3, &g), 0);
    run(s);
    p = km_http_server_port(s);
    assert_false(km_http_server_ready(s));
    for (int i = 0; i < 2; i++) {
        r = get(p, "GET", i ? "/inline-ready" : "/needs-ready");
        assert_non_null(strstr(r, "HTTP/1.1 503"));
        assert_non_null(strstr(r, "Retry-After: 5"));
        assert_non_null(strstr(r, "{\"error\":\"warming up\"}"));
    }
    r = get(p, "GET", "/always");
    assert_non_null(strstr(r, "hello from the context"));
    km_http_server_set_ready(s, true);
    assert_true(km_http_server_ready(s));
    r = get(p, "GET", "/needs-ready");
    assert_non_null(strstr(r, "HTTP/1.1 200"));
    assert_non_null(strstr(r, "hello from the context"));
    r = get(p, "GET", "/inline-ready");
    assert_non_null(strstr(r, "hello from the context"));
    km_http_server_set_ready(s, false);
    r = get(p, "GET", "/needs-ready");
    assert_non_null(strstr(r, "HTTP/1.1 503"));
    km_http_server_destroy(s);
}

/* ---- streams ---------------------------------------------------------------------------- */

/* Read until the server closes (or 10 s pass) into a new buffer. */
static char *read_everything(int fd, size_t *len)
{
    struct timeval tv = { 10, 0 };
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    ssize_t got;

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while ((got = read(fd, b + n, cap - n)) > 0) {
        n += (size_t)got;
        if (n == cap) {
            cap *= 2;
            b = realloc(b, cap + 1);
        }
    }
    b[n] = '\0';
    *len = n;
    return b;
}

/* The body of a chunked answer in resp, into a new buffer; *complete when the last
 * chunk was there. */
static char *dechunk(const char *resp, size_t len, size_t *blen, bool *complete)
{
    const char *p = strstr(resp, "\r\n\r\n"), *end = resp + len;
    char *out = malloc(len + 1);
    size_t n = 0;

    *complete = false;
    assert_non_null(p);
    p += 4;
    while (p < end) {
        char *after;
        unsigned long size = strtoul(p, &after, 16);

        if (after == p || after + 2 > end || after[0] != '\r')
            break;
        p = after + 2;
        if (size == 0) {
            *complete = true;
            break;
        }
        if ((size_t)(end - p) < size + 2)
            break;
        memcpy(out + n, p, size);
        n += size;
        p += size + 2;
    }
    *blen = n;
    return out;
}

static bool is_pattern(const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (b[i] != 'a' + (char)(i % 26))
            return false;
    }
    return true;
}

static char *fetch(uint16_t port, const char *method, const char *path, size_t *len)
{
    char req[512];
    int n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                     method, path);
    int fd = dial(port);
    char *resp;

    write_all(fd, req, (size_t)n);
    resp = read_everything(fd, len);
    close(fd);
    return resp;
}

static bool wait_freed(size_t before, double seconds)
{
    struct timespec t0;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (atomic_load(&gens_freed) == before && since_s(&t0) < seconds)
        usleep(2000);
    return atomic_load(&gens_freed) != before;
}

static void check_stream(struct km_http_server *s)
{
    uint16_t p = km_http_server_port(s);
    size_t len, blen, freed = atomic_load(&gens_freed);
    bool complete;
    char *r, *body;

    r = fetch(p, "GET", "/stream?n=300000&step=7001", &len);
    assert_non_null(strstr(r, "HTTP/1.1 200"));
    assert_non_null(strstr(r, "Transfer-Encoding: chunked"));
    body = dechunk(r, len, &blen, &complete);
    assert_true(complete);
    assert_int_equal(blen, 300000);
    assert_true(is_pattern(body, blen));
    free(body);
    free(r);
    assert_true(wait_freed(freed, 2));
    /* The head only: nothing produced, ud freed all the same. */
    freed = atomic_load(&gens_freed);
    r = fetch(p, "HEAD", "/stream?n=300000", &len);
    assert_non_null(strstr(r, "HTTP/1.1 200"));
    assert_null(strstr(r, "abcdef"));
    free(r);
    assert_true(wait_freed(freed, 2));
    /* A producer that fails half-way: the body is cut, without its last chunk. */
    freed = atomic_load(&gens_freed);
    r = fetch(p, "GET", "/stream?n=100000&step=1000&fail=50000", &len);
    body = dechunk(r, len, &blen, &complete);
    assert_false(complete);
    assert_true(blen <= 50000);
    assert_true(is_pattern(body, blen));
    free(body);
    free(r);
    assert_true(wait_freed(freed, 2));
    /* A kept-alive connection serves the next request after a streamed answer. */
    {
        const char *two = "GET /stream?n=5000&step=999 HTTP/1.1\r\nHost: x\r\n\r\n"
                          "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        int fd = dial(p);

        write_all(fd, two, strlen(two));
        r = read_everything(fd, &len);
        close(fd);
        assert_non_null(strstr(r, "Transfer-Encoding: chunked"));
        assert_non_null(strstr(r, "\r\n0\r\n\r\nHTTP/1.1 200"));
        assert_non_null(strstr(r, "hello world"));
        free(r);
    }
}

static void test_stream(void **state)
{
    (void)state;
    both_ways(check_stream);
}

/* A client reading 16 KiB at a time with pauses holds the producer: what was made stays
 * within the queue and the sockets' buffers of what was read. */
static void test_stream_slow_reader(void **state)
{
    struct km_http_server *s = start_with((struct km_http_opts){ .workers = 1 });
    const char *req = "GET /stream?n=33554432&step=65536 HTTP/1.1\r\nHost: x\r\n"
                      "Connection: close\r\n\r\n";
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(km_http_server_port(s)) };
    int fd = socket(AF_INET, SOCK_STREAM, 0), small = 16384;
    size_t got = 0, len, blen, max_ahead = 0;
    char buf[16384], *r, *body;
    bool complete;

    (void)state;
    atomic_store(&produced, 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    write_all(fd, req, strlen(req));
    while (got < (4u << 20)) {
        ssize_t n = read(fd, buf, sizeof(buf));
        size_t ahead;

        assert_true(n > 0);
        got += (size_t)n;
        ahead = atomic_load(&produced) - (got < atomic_load(&produced) ? got : 0);
        if (ahead > max_ahead)
            max_ahead = ahead;
        usleep(2000);
    }
    /* 256 KiB queued + a 64 KiB step + the sockets' buffers (4 MiB send at most). */
    print_message("slow reader: read %zu KiB, produced %zu KiB, at most %zu KiB ahead\n", got >> 10,
                  atomic_load(&produced) >> 10, max_ahead >> 10);
    assert_true(max_ahead < (6u << 20));
    assert_true(atomic_load(&produced) < (16u << 20));
    r = read_everything(fd, &len);
    close(fd);
    free(r);
    assert_true(got + len > (32u << 20));
    /* Again, read whole, and checked. */
    r = fetch(km_http_server_port(s), "GET", "/stream?n=33554432&step=65536", &len);
    body = dechunk(r, len, &blen, &complete);
    assert_true(complete);
    assert_int_equal(blen, 32u << 20);
    assert_true(is_pattern(body, blen));
    free(body);
    free(r);
    km_http_server_destroy(s);
}

/* Clients that go away mid-stream: the producer stops, its data is freed, the worker
 * serves the next request; also while the producer is in a long step. */
static void test_stream_vanishing_client(void **state)
{
    struct km_http_server *s = start_with((struct km_http_opts){ .workers = 1 });
    uint16_t p = km_http_server_port(s);
    const char *endless = "GET /stream?step=65536 HTTP/1.1\r\nHost: x\r\n\r\n";
    const char *held = "GET /stream?step=1000&hold=5000 HTTP/1.1\r\nHost: x\r\n\r\n";
    size_t freed = atomic_load(&gens_freed);
    struct timespec t0;
    char buf[65536], *r;
    size_t got = 0;
    int fd;

    (void)state;
    fd = dial(p);
    write_all(fd, endless, strlen(endless));
    while (got < 200000) {
        ssize_t n = read(fd, buf, sizeof(buf));

        assert_true(n > 0);
        got += (size_t)n;
    }
    close(fd);
    assert_true(wait_freed(freed, 3));
    r = get(p, "GET", "/hello");
    assert_non_null(strstr(r, "HTTP/1.1 200"));
    /* The producer holds its second step up to 5 s, polling km_http_stream_cancelled()
     * while the connection waits for it: the client's leaving is seen at once. */
    freed = atomic_load(&gens_freed);
    fd = dial(p);
    write_all(fd, held, strlen(held));
    assert_true(read(fd, buf, sizeof(buf)) > 0);
    usleep(50000);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    close(fd);
    assert_true(wait_freed(freed, 3));
    assert_true(since_s(&t0) < 1);
    r = get(p, "GET", "/hello");
    assert_non_null(strstr(r, "HTTP/1.1 200"));
    {
        struct km_mset m;
        struct km_buf b;

        km_mset_init(&m);
        km_mset_reset(&m, 0);
        km_http_server_metrics(s, &m);
        km_buf_init(&b, 0);
        km_mset_render_prom(&m, &b);
        assert_non_null(strstr(km_buf_cstr(&b), "\nkmon_http_streams 0\n"));
        km_buf_fini(&b);
        km_mset_fini(&m);
    }
    km_http_server_destroy(s);
}

/* A handler polling km_http_req_cancelled() learns that its client left. */
static void test_req_cancelled(void **state)
{
    struct km_http_server *s = start_with((struct km_http_opts){ .workers = 1 });
    const char *req = "GET /cancellable HTTP/1.1\r\nHost: x\r\n\r\n";
    struct timespec t0;
    int fd = dial(km_http_server_port(s));

    (void)state;
    atomic_store(&saw_cancel, 0);
    write_all(fd, req, strlen(req));
    usleep(100000);
    close(fd);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!atomic_load(&saw_cancel) && since_s(&t0) < 3)
        usleep(2000);
    assert_true(atomic_load(&saw_cancel));
    assert_true(since_s(&t0) < 0.5);
    assert_non_null(strstr(get(km_http_server_port(s), "GET", "/hello"), "HTTP/1.1 200"));
    km_http_server_destroy(s);
}

/* Read from fd until `want` has arrived (5 s at most); the text so far. */
static char *read_until(int fd, const char *want)
{
    static char b[1 << 16];
    size_t n = 0;
    struct timespec t0;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    b[0] = '\0';
    while (!strstr(b, want) && since_s(&t0) < 5 && n < sizeof(b) - 1) {
        ssize_t got = recv(fd, b + n, sizeof(b) - 1 - n, MSG_DONTWAIT);

        if (got > 0) {
            n += (size_t)got;
            b[n] = '\0';
        } else if (got == 0) {
            break;
        } else {
            usleep(2000);
        }
    }
    return b;
}

static int open_push(uint16_t port, int rcvbuf, struct km_http_stream **st)
{
    const char *req = "GET /push HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (rcvbuf)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    write_all(fd, req, strlen(req));
    *st = take_pushed();
    return fd;
}

/* Server-Sent Events pushed from this thread; a client that leaves; one that does not
 * read; the server stopping under an open stream. */
static void test_push_events(void **state)
{
    struct km_http_server *s = start_with((struct km_http_opts){ .workers = 1 });
    uint16_t p = km_http_server_port(s);
    struct km_http_stream *st;
    struct timespec t0;
    char chunk[4096], *r;
    size_t len;
    int fd, rc;

    (void)state;
    fd = open_push(p, 0, &st);
    assert_int_equal(km_http_stream_event(st, "tick", "1\n2\r\n3"), 0);
    r = read_until(fd, "data: 3\n\n");
    assert_non_null(strstr(r, "HTTP/1.1 200"));
    assert_non_null(strstr(r, "Content-Type: text/event-stream"));
    assert_non_null(strstr(r, "Cache-Control: no-cache"));
    assert_non_null(strstr(r, "event: tick\ndata: 1\ndata: 2\ndata: 3\n\n"));
    usleep(200000); /* idle: the connection waits, nobody cuts it */
    assert_int_equal(km_http_stream_event(st, NULL, "later"), 0);
    assert_non_null(strstr(read_until(fd, "data: later\n\n"), "data: later\n\n"));
    assert_int_equal(km_http_stream_event(st, "bad\nname", "x"), KM_EINVAL);
    km_http_stream_close(st);
    r = read_until(fd, "0\r\n\r\n");
    assert_non_null(strstr(r, "0\r\n\r\n"));
    close(fd);
    /* The client leaves: a later write says so. */
    fd = open_push(p, 0, &st);
    assert_int_equal(km_http_stream_write(st, ": hi\n\n", 6), 0);
    read_until(fd, ": hi\n\n");
    close(fd);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        usleep(10000);
        rc = km_http_stream_write(st, ": ping\n\n", 8);
    } while (rc == 0 && since_s(&t0) < 3);
    assert_int_equal(rc, KM_ECANCELED);
    assert_true(km_http_stream_cancelled(st));
    km_http_stream_close(st);
    /* A client that reads nothing: writes are refused once the queue is full. */
    fd = open_push(p, 4096, &st);
    memset(chunk, 'x', sizeof(chunk));
    for (len = 0; len < (64u << 20); len += sizeof(chunk)) {
        rc = km_http_stream_write(st, chunk, sizeof(chunk));
        if (rc)
            break;
    }
    assert_int_equal(rc, KM_EAGAIN);
    assert_int_equal(km_http_stream_write(st, chunk, 300 * 1024), KM_ELIMIT);
    close(fd);
    km_http_stream_close(st);
    /* The server stops: the stream ends (complete) at once, and stays the writer's until
     * it closes it, even after the server is gone. */
    fd = open_push(p, 0, &st);
    assert_int_equal(km_http_stream_event(st, NULL, "last"), 0);
    read_until(fd, "data: last\n\n");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    km_http_server_stop(s, 5000);
    assert_true(since_s(&t0) < 1.5);
    r = read_until(fd, "0\r\n\r\n");
    assert_non_null(strstr(r, "0\r\n\r\n"));
    close(fd);
    assert_int_equal(km_http_stream_write(st, "x", 1), KM_ECANCELED);
    km_http_server_destroy(s);
    assert_true(km_http_stream_cancelled(st));
    km_http_stream_close(st);
}

/* A stop whose grace runs out under a stream nobody reads: the stream is cut and the
 * producer's data freed. */
static void test_stop_cuts_stream(void **state)
{
    struct km_http_server *s = start_with((struct km_http_opts){ .workers = 1 });
    const char *req = "GET /stream?step=65536 HTTP/1.1\r\nHost: x\r\n\r\n";
    size_t freed = atomic_load(&gens_freed);
    struct timespec t0;
    int fd = dial(km_http_server_port(s));

    (void)state;
    write_all(fd, req, strlen(req));
    usleep(200000);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    km_http_server_stop(s, 300);
    assert_true(since_s(&t0) < 2);
    assert_true(wait_freed(freed, 1));
    close(fd);
    km_http_server_destroy(s);
}

/* ---- TLS ---------------------------------------------------------------------------------- */

static char tls_dir[64];

static const char *tls_file(const char *name)
{
    static _Thread_local char path[8][128];
    static _Thread_local int i;

    i = (i + 1) % 8;
    snprintf(path[i], sizeof(path[i]), "%s/%s", tls_dir, name);
    return path[i];
}

/* A self-signed server certificate for 127.0.0.1, a CA, a client certificate it signed,
 * and a self-signed client certificate it did not; made with openssl now. */
static int make_certs(void **state)
{
    char cmd[2048];
    const char *ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2";

    (void)state;
    snprintf(tls_dir, sizeof(tls_dir), "/tmp/kmon-test-tls-XXXXXX");
    if (!mkdtemp(tls_dir))
        return -1;
    snprintf(cmd, sizeof(cmd),
             "cd %s && exec >/dev/null 2>&1 && "
             "openssl req -x509 %s -keyout server.key -out server.pem -subj /CN=localhost "
             "-addext subjectAltName=IP:127.0.0.1,DNS:localhost && "
             "openssl req -x509 %s -keyout ca.key -out ca.pem -subj /CN=kmon-test-ca && "
             "openssl req %s -keyout client.key -out client.csr -subj /CN=client && "
             "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
             "-out client.pem -days 2 && "
             "openssl req -x509 %s -keyout rogue.key -out rogue.pem -subj /CN=rogue && "
             ": > empty.pem",
             tls_dir, ec, ec, ec, ec);
    return system(cmd) == 0 ? 0 : -1;
}

static int remove_certs(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tls_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static size_t curl_sink(char *data, size_t size, size_t n, void *ud)
{
    struct km_buf *b = ud;

    km_buf_append(b, data, size * n);
    return size * n;
}

/* GET url over HTTPS trusting the server certificate, with a client certificate when
 * cert is not NULL. The curl result; *status and body when it worked. */
static CURLcode curl_get(const char *url, const char *cert, const char *key, long *status,
                         struct km_buf *body)
{
    CURL *c = curl_easy_init();
    CURLcode rc;

    km_buf_reset(body);
    *status = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, tls_file("server.pem"));
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    if (cert) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, cert);
        curl_easy_setopt(c, CURLOPT_SSLKEY, key);
    }
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(c);
    return rc;
}

static struct km_http_server *start_tls(const char *client_ca)
{
    return start_with((struct km_http_opts){ .workers = 1,
                                             .tls_cert_file = tls_file("server.pem"),
                                             .tls_key_file = tls_file("server.key"),
                                             .tls_client_ca_file = client_ca });
}

static void test_tls(void **state)
{
    struct km_http_server *s = start_tls(NULL);
    char url[128];
    long status;
    struct km_buf body;

    (void)state;
    km_buf_init(&body, 0);
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/hello?who=tls", km_http_server_port(s));
    assert_int_equal(curl_get(url, NULL, NULL, &status, &body), CURLE_OK);
    assert_int_equal(status, 200);
    assert_string_equal(km_buf_cstr(&body), "hello tls\n");
    /* A stream over TLS. */
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/stream?n=1000000&step=65536",
             km_http_server_port(s));
    assert_int_equal(curl_get(url, NULL, NULL, &status, &body), CURLE_OK);
    assert_int_equal(body.len, 1000000);
    assert_true(is_pattern(body.data, body.len));
    /* Plain HTTP to the TLS port gets no HTTP answer. */
    assert_null(strstr(get(km_http_server_port(s), "GET", "/hello"), "hello world"));
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/hello", km_http_server_port(s));
    curl_get(url, NULL, NULL, &status, &body);
    assert_int_not_equal(status, 200);
    km_buf_fini(&body);
    km_http_server_destroy(s);
}

/* Mutual TLS: only clients with a certificate the CA signed get through the handshake. */
static void test_mtls(void **state)
{
    struct km_http_server *s = start_tls(tls_file("ca.pem"));
    char url[128];
    CURLcode rc;
    long status;
    struct km_buf body;

    (void)state;
    km_buf_init(&body, 0);
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/hello", km_http_server_port(s));
    rc = curl_get(url, NULL, NULL, &status, &body);
    print_message("mTLS without a client certificate: %s\n", curl_easy_strerror(rc));
    assert_int_not_equal(rc, CURLE_OK);
    assert_int_not_equal(status, 200);
    assert_int_not_equal(
        curl_get(url, tls_file("rogue.pem"), tls_file("rogue.key"), &status, &body), CURLE_OK);
    assert_int_not_equal(status, 200);
    assert_int_equal(curl_get(url, tls_file("client.pem"), tls_file("client.key"), &status, &body),
                     CURLE_OK);
    assert_int_equal(status, 200);
    assert_string_equal(km_buf_cstr(&body), "hello world\n");
    km_buf_fini(&body);
    km_http_server_destroy(s);
}

static void test_tls_bad_files(void **state)
{
    struct km_http_opts o = { .listen = "127.0.0.1:0", .name = "test" };
    struct km_http_server *s;

    (void)state;
    o.tls_cert_file = tls_file("missing.pem");
    o.tls_key_file = tls_file("server.key");
    assert_int_equal(km_http_server_create(&s, &o), KM_EIO);
    assert_non_null(strstr(km_err_msg(), "missing.pem"));
    o.tls_cert_file = tls_file("empty.pem");
    assert_int_equal(km_http_server_create(&s, &o), KM_EINVAL);
    o.tls_cert_file = tls_file("server.pem");
    o.tls_key_file = tls_file("client.key"); /* not the certificate's key */
    assert_int_equal(km_http_server_create(&s, &o), KM_EINVAL);
    assert_non_null(strstr(km_err_msg(), "cannot be used"));
    o.tls_key_file = NULL;
    assert_int_equal(km_http_server_create(&s, &o), KM_EINVAL);
    o.tls_cert_file = NULL;
    o.tls_client_ca_file = tls_file("ca.pem");
    assert_int_equal(km_http_server_create(&s, &o), KM_EINVAL);
    o.tls_cert_file = tls_file("server.pem");
    o.tls_key_file = tls_file("server.key");
    o.tls_client_ca_file = tls_file("server.key"); /* no certificate in it */
    assert_int_equal(km_http_server_create(&s, &o), KM_EINVAL);
    assert_non_null(strstr(km_err_msg(), "client CA"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routing),
        cmocka_unit_test(test_bodies),
        cmocka_unit_test(test_head_limits),
        cmocka_unit_test(test_probe_while_workers_busy),
        cmocka_unit_test(test_stop_with_queued_requests),
        cmocka_unit_test(test_per_address_limit),
        cmocka_unit_test(test_header_timeout),
        cmocka_unit_test(test_slow_handler_is_not_cut),
        cmocka_unit_test(test_cors),
        cmocka_unit_test(test_idle_connection_is_closed),
        cmocka_unit_test(test_graceful_stop),
        cmocka_unit_test(test_bad_listen),
        cmocka_unit_test(test_args),
        cmocka_unit_test(test_arg_limits_and_headers),
        cmocka_unit_test(test_prefix_routes),
        cmocka_unit_test(test_bad_patterns),
        cmocka_unit_test(test_route_flags),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_stream_slow_reader),
        cmocka_unit_test(test_stream_vanishing_client),
        cmocka_unit_test(test_req_cancelled),
        cmocka_unit_test(test_push_events),
        cmocka_unit_test(test_stop_cuts_stream),
    };
    const struct CMUnitTest tls_tests[] = {
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_mtls),
        cmocka_unit_test(test_tls_bad_files),
    };
    int failed;

    for (size_t i = 0; i < sizeof(body_pattern); i++)
        body_pattern[i] = (char)('a' + i % 26);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("tls", tls_tests, make_certs, remove_certs);
    curl_global_cleanup();
    return failed;
}
