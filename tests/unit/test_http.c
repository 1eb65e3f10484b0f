/*
 * Unit tests: the HTTP server wrapper over libmicrohttpd, spoken to over real loopback
 * sockets — routing, parameters, 404/405/413/414/431 as JSON, HEAD, CORS preflight,
 * request bodies (a refused one drained so its 413 can be read), handlers on worker
 * threads while inline probes answer at once, the per-address connection limit, header
 * and idle timeouts, and a graceful stop that finishes requests in flight.
 */
#include "common/err.h"
#include "common/http_server.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static void on_hello(struct km_http_req *r, void *ud)
{
    const char *who = km_http_req_query(r, "who");
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

static struct km_http_server *start_with(struct km_http_opts o)
{
    struct km_http_server *s;

    o.listen = "127.0.0.1:0";
    o.name = "test";
    o.max_body = 1024;
    assert_int_equal(km_http_server_create(&s, &o), 0);
    assert_int_equal(km_http_server_route(s, "GET", "/hello", on_hello, NULL), 0);
    assert_int_equal(km_http_server_route(s, "GET", "/api/nodes/<node>/<what>", on_node, NULL), 0);
    assert_int_equal(km_http_server_route(s, "POST", "/echo", on_echo, NULL), 0);
    assert_int_equal(km_http_server_route(s, "PUT", "/echo", on_echo, NULL), 0);
    assert_int_equal(km_http_server_route(s, "GET", "/slow", on_slow, NULL), 0);
    assert_int_equal(km_http_server_route(s, "GET", "/silent", on_silent, NULL), 0);
    assert_int_equal(km_http_server_route(s, "GET", "/gate", on_gate, NULL), 0);
    assert_int_equal(km_http_server_route_inline(s, "GET", "/healthz", on_probe, NULL), 0);
    assert_int_equal(km_http_server_start(s), 0);
    assert_true(km_http_server_port(s) > 0);
    return s;
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
        cmocka_unit_test(test_cors),
        cmocka_unit_test(test_idle_connection_is_closed),
        cmocka_unit_test(test_graceful_stop),
        cmocka_unit_test(test_bad_listen),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
