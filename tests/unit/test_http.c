/*
 * Unit tests: the HTTP server wrapper over libmicrohttpd, spoken to over real loopback
 * sockets — routing, parameters, 404/405/413, HEAD, CORS preflight, request bodies,
 * idle-connection timeouts and a graceful stop that finishes requests in flight.
 */
#include "common/err.h"
#include "common/http_server.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

static struct km_http_server *start(bool cors, unsigned timeout_s)
{
    struct km_http_opts o = { .listen = "127.0.0.1:0",
                              .name = "test",
                              .max_body = 1024,
                              .cors = cors,
                              .timeout_s = timeout_s };
    struct km_http_server *s;

    assert_int_equal(km_http_server_create(&s, &o), 0);
    assert_int_equal(km_http_server_route(s, "GET", "/hello", on_hello, NULL), 0);
    assert_int_equal(km_http_server_route(s, "GET", "/api/nodes/<node>/<what>", on_node, NULL), 0);
    assert_int_equal(km_http_server_route(s, "POST", "/echo", on_echo, NULL), 0);
    assert_int_equal(km_http_server_route(s, "PUT", "/echo", on_echo, NULL), 0);
    assert_int_equal(km_http_server_route(s, "GET", "/slow", on_slow, NULL), 0);
    assert_int_equal(km_http_server_route(s, "GET", "/silent", on_silent, NULL), 0);
    assert_int_equal(km_http_server_start(s), 0);
    assert_true(km_http_server_port(s) > 0);
    return s;
}

static int dial(uint16_t port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

/* Send a raw request and read the whole answer (the server closes the connection). */
static char *roundtrip(uint16_t port, const char *req, size_t reqlen)
{
    static char resp[1 << 16];
    size_t n = 0;
    ssize_t got;
    int fd = dial(port);

    assert_int_equal(write(fd, req, reqlen), (ssize_t)reqlen);
    while (n < sizeof(resp) - 1 && (got = read(fd, resp + n, sizeof(resp) - 1 - n)) > 0)
        n += (size_t)got;
    resp[n] = '\0';
    close(fd);
    return resp;
}

static char *get(uint16_t port, const char *method, const char *path)
{
    char req[512];
    int n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                     method, path);

    return roundtrip(port, req, (size_t)n);
}

static void test_routing(void **state)
{
    struct km_http_server *s = start(false, 5);
    uint16_t p = km_http_server_port(s);
    char *r;

    (void)state;
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
    km_http_server_destroy(s);
}

static void test_bodies(void **state)
{
    struct km_http_server *s = start(false, 5);
    uint16_t p = km_http_server_port(s);
    char big[4096], req[8192];
    char *r;
    int n;

    (void)state;
    n = snprintf(req, sizeof(req),
                 "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n"
                 "\r\nabcde");
    r = roundtrip(p, req, (size_t)n);
    assert_non_null(strstr(r, "HTTP/1.1 201"));
    assert_non_null(strstr(r, "\r\n\r\nabcde"));
    /* Announced too large: refused before reading the body. */
    n = snprintf(req, sizeof(req),
                 "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 "Content-Length: 100000\r\n\r\n");
    r = roundtrip(p, req, (size_t)n);
    assert_non_null(strstr(r, "HTTP/1.1 413"));
    /* Chunked and too large: discovered while reading. */
    memset(big, 'x', sizeof(big));
    n = snprintf(req, sizeof(req),
                 "PUT /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n%x\r\n%.*s\r\n0\r\n\r\n",
                 (unsigned)sizeof(big), (int)sizeof(big), big);
    r = roundtrip(p, req, (size_t)n);
    assert_non_null(strstr(r, "HTTP/1.1 413"));
    /* Garbage instead of HTTP: an error status or a closed connection, and the server
     * still answers the next request. */
    r = roundtrip(p, "\x01\x02\x03 nonsense\r\n\r\n", 16);
    assert_null(strstr(r, "HTTP/1.1 200"));
    r = get(p, "GET", "/hello");
    assert_non_null(strstr(r, "HTTP/1.1 200"));
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

struct slow_call {
    uint16_t port;
    char result[256];
};

static void *call_slow(void *arg)
{
    struct slow_call *c = arg;
    char *r = get(c->port, "GET", "/slow");

    snprintf(c->result, sizeof(c->result), "%s", r);
    return NULL;
}

static void test_graceful_stop(void **state)
{
    struct km_http_server *s = start(false, 5);
    struct slow_call c = { .port = km_http_server_port(s) };
    pthread_t th;

    (void)state;
    pthread_create(&th, NULL, call_slow, &c);
    usleep(100000); /* the request is now in its handler */
    km_http_server_stop(s, 5000);
    pthread_join(th, NULL);
    assert_non_null(strstr(c.result, "slow done"));
    km_http_server_destroy(s);
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
        cmocka_unit_test(test_routing),       cmocka_unit_test(test_bodies),
        cmocka_unit_test(test_cors),          cmocka_unit_test(test_idle_connection_is_closed),
        cmocka_unit_test(test_graceful_stop), cmocka_unit_test(test_bad_listen),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
