/*
 * Unit tests: RFC 6455 — the handshake key (the RFC's own example), frames written with
 * each length encoding (125, 126, 65535, 65536) read back masked, fragmented messages
 * with control frames between fragments, every protocol error a hostile client may make
 * (unmasked, reserved bits, unknown opcodes, long or fragmented control frames, 64-bit
 * lengths with the top bit, continuations out of place, messages past the cap announced
 * or joined, invalid UTF-8 in text and close reasons, bad close codes), input fed a byte
 * at a time; then the HTTP server's sessions over real loopback sockets: an echo
 * session, the handshake refused (not WebSocket, wrong version, bad key, past the cap),
 * and the stop closing a session with 1001; a session over TLS.
 */
#include "common/err.h"
#include "common/http_server.h"
#include "common/websocket.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <gnutls/gnutls.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static const uint8_t MASK[4] = { 0x37, 0xfa, 0x21, 0x3d };

/* ---- codec ------------------------------------------------------------------------------- */

static void test_accept_key(void **state)
{
    char out[29];

    (void)state;
    /* RFC 6455 section 1.3. */
    assert_int_equal(km_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_equal(km_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ=", out), KM_EINVAL);
    assert_int_equal(km_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==x", out), KM_EINVAL);
    assert_int_equal(km_ws_accept_key("dGhlIHNhbXBsZSBub25j!Q==", out), KM_EINVAL);
    assert_int_equal(km_ws_accept_key("dGhlIHNhbXBsZSBub25jZR==", out), KM_EINVAL); /* bits */
    assert_int_equal(km_ws_accept_key("", out), KM_EINVAL);
    assert_int_equal(km_ws_accept_key(NULL, out), KM_EINVAL);
}

/* A reader over data[0..n) fed whole, or a byte at a time. */
static int next_event(struct km_ws_reader *rd, const uint8_t *data, size_t n, bool bytewise,
                      size_t *fed, struct km_ws_event *ev)
{
    for (;;) {
        int rc = km_ws_reader_next(rd, ev);

        if (rc != 0 || *fed == n)
            return rc;
        {
            size_t k = bytewise ? 1 : n - *fed;

            if (k > KM_WS_READ_CHUNK)
                k = KM_WS_READ_CHUNK;
            assert_int_equal(km_ws_reader_feed(rd, data + *fed, k), 0);
            *fed += k;
        }
    }
}

static void test_lengths_round_trip(void **state)
{
    static const size_t lens[] = { 0, 1, 125, 126, 127, 65535, 65536, 200000 };
    struct km_buf b;

    (void)state;
    km_buf_init(&b, 0);
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        size_t n = lens[i], hn = n <= 125 ? 2 : n <= 65535 ? 4 : 10;
        uint8_t *p = malloc(n + 1);
        struct km_ws_reader rd;
        struct km_ws_event ev;
        size_t fed = 0;

        for (size_t k = 0; k < n; k++)
            p[k] = (uint8_t)(k * 7 + 3);
        /* Unmasked, as a server writes: the exact header. */
        km_buf_reset(&b);
        assert_int_equal(km_ws_frame_write(&b, KM_WS_BINARY, true, p, n, NULL), 0);
        assert_int_equal(b.len, hn + n);
        assert_int_equal((uint8_t)b.data[0], 0x82);
        if (hn == 2)
            assert_int_equal((uint8_t)b.data[1], n);
        else if (hn == 4)
            assert_true((uint8_t)b.data[1] == 126 && (uint8_t)b.data[2] == (n >> 8) &&
                        (uint8_t)b.data[3] == (n & 0xff));
        else
            assert_true((uint8_t)b.data[1] == 127 && (uint8_t)b.data[7] == ((n >> 16) & 0xff) &&
                        (uint8_t)b.data[9] == (n & 0xff));
        assert_memory_equal(b.data + hn, p, n);
        /* Masked, as a client writes: read back. */
        km_buf_reset(&b);
        assert_int_equal(km_ws_frame_write(&b, KM_WS_BINARY, true, p, n, MASK), 0);
        assert_int_equal(b.len, hn + 4 + n);
        assert_int_equal((uint8_t)b.data[1] & 0x80, 0x80);
        km_ws_reader_init(&rd, 1u << 20, true);
        assert_int_equal(next_event(&rd, (uint8_t *)b.data, b.len, n < 300, &fed, &ev), 1);
        assert_int_equal(ev.op, KM_WS_BINARY);
        assert_int_equal(ev.len, n);
        if (n)
            assert_memory_equal(ev.data, p, n);
        assert_int_equal(km_ws_reader_next(&rd, &ev), 0);
        km_ws_reader_fini(&rd);
        free(p);
    }
    /* A control frame must be short and final. */
    km_buf_reset(&b);
    assert_int_equal(km_ws_frame_write(&b, KM_WS_PING, true, "x", 126, NULL), KM_EINVAL);
    assert_int_equal(km_ws_frame_write(&b, KM_WS_PING, false, "x", 1, NULL), KM_EINVAL);
    km_buf_fini(&b);
}

static void test_fragments(void **state)
{
    struct km_buf b;
    struct km_ws_reader rd;
    struct km_ws_event ev;
    size_t fed;

    (void)state;
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        km_buf_init(&b, 0);
        /* "Hé" split inside the é, a ping between fragments, then "llo". */
        km_ws_frame_write(&b, KM_WS_TEXT, false, "H\xc3", 2, MASK);
        km_ws_frame_write(&b, KM_WS_PING, true, "p", 1, MASK);
        km_ws_frame_write(&b, KM_WS_CONT, false, "\xa9", 1, MASK);
        km_ws_frame_write(&b, KM_WS_CONT, true, "llo", 3, MASK);
        km_ws_frame_write(&b, KM_WS_TEXT, true, "", 0, MASK);
        km_ws_reader_init(&rd, 16, true);
        fed = 0;
        assert_int_equal(next_event(&rd, (uint8_t *)b.data, b.len, bytewise, &fed, &ev), 1);
        assert_int_equal(ev.op, KM_WS_PING);
        assert_int_equal(ev.len, 1);
        assert_int_equal(ev.data[0], 'p');
        assert_int_equal(next_event(&rd, (uint8_t *)b.data, b.len, bytewise, &fed, &ev), 1);
        assert_int_equal(ev.op, KM_WS_TEXT);
        assert_int_equal(ev.len, 6);
        assert_memory_equal(ev.data, "H\xc3\xa9llo", 6);
        assert_int_equal(next_event(&rd, (uint8_t *)b.data, b.len, bytewise, &fed, &ev), 1);
        assert_int_equal(ev.op, KM_WS_TEXT);
        assert_int_equal(ev.len, 0);
        assert_int_equal(next_event(&rd, (uint8_t *)b.data, b.len, bytewise, &fed, &ev), 0);
        km_ws_reader_fini(&rd);
        km_buf_fini(&b);
    }
}

/* The error (and close code) the frames in b give, after any events before. */
static int error_of(struct km_buf *b, size_t max_msg, bool need_mask, uint16_t *code)
{
    struct km_ws_reader rd;
    struct km_ws_event ev;
    size_t fed = 0;
    int rc;

    km_ws_reader_init(&rd, max_msg, need_mask);
    while ((rc = next_event(&rd, (uint8_t *)b->data, b->len, false, &fed, &ev)) == 1)
        ;
    *code = rd.error_code;
    /* Sticky. */
    if (rc < 0)
        assert_int_equal(km_ws_reader_next(&rd, &ev), rc);
    km_ws_reader_fini(&rd);
    km_buf_reset(b);
    return rc;
}

static void test_hostile_frames(void **state)
{
    struct km_buf b;
    uint16_t code;
    uint8_t raw[16];

    (void)state;
    km_buf_init(&b, 0);
    /* Unmasked from a client. */
    km_ws_frame_write(&b, KM_WS_TEXT, true, "x", 1, NULL);
    assert_int_equal(error_of(&b, 100, true, &code), KM_EINVAL);
    assert_int_equal(code, 1002);
    /* Reserved bits (no extension). */
    km_ws_frame_write(&b, KM_WS_TEXT, true, "x", 1, MASK);
    b.data[0] |= 0x40;
    assert_int_equal(error_of(&b, 100, true, &code), KM_EINVAL);
    assert_int_equal(code, 1002);
    /* Unknown opcodes. */
    km_ws_frame_write(&b, KM_WS_TEXT, true, "x", 1, MASK);
    b.data[0] = (char)0x83;
    assert_int_equal(error_of(&b, 100, true, &code), KM_EINVAL);
    km_ws_frame_write(&b, KM_WS_TEXT, true, "x", 1, MASK);
    b.data[0] = (char)0x8b;
    assert_int_equal(error_of(&b, 100, true, &code), KM_EINVAL);
    /* A fragmented ping; a long ping (126 in the length byte). */
    raw[0] = 0x09;
    raw[1] = 0x80;
    memcpy(raw + 2, MASK, 4);
    km_buf_append(&b, raw, 6);
    assert_int_equal(error_of(&b, 100, true, &code), KM_EINVAL);
    assert_int_equal(code, 1002);
    raw[0] = 0x89;
    raw[1] = 0x80 | 126;
    raw[2] = 0;
    raw[3] = 126;
    km_buf_append(&b, raw, 4);
    assert_int_equal(error_of(&b, 1000, true, &code), KM_EINVAL);
    /* A 64-bit length with the top bit set. */
    raw[0] = 0x82;
    raw[1] = 0x80 | 127;
    memset(raw + 2, 0xff, 8);
    km_buf_append(&b, raw, 10);
    assert_int_equal(error_of(&b, 100, true, &code), KM_EINVAL);
    assert_int_equal(code, 1002);
    /* 2^62 announced: refused from the header alone, nothing allocated. */
    raw[2] = 0x40;
    memset(raw + 3, 0, 7);
    km_buf_append(&b, raw, 10);
    assert_int_equal(error_of(&b, 100, true, &code), KM_ELIMIT);
    assert_int_equal(code, 1009);
    /* One byte over the cap in one frame; in fragments. */
    {
        char big[101];

        memset(big, 'a', sizeof(big));
        km_ws_frame_write(&b, KM_WS_TEXT, true, big, 100, MASK);
        assert_int_equal(error_of(&b, 100, true, &code), 0); /* exactly the cap: fine */
        km_ws_frame_write(&b, KM_WS_TEXT, true, big, 101, MASK);
        assert_int_equal(error_of(&b, 100, true, &code), KM_ELIMIT);
        km_ws_frame_write(&b, KM_WS_TEXT, false, big, 60, MASK);
        km_ws_frame_write(&b, KM_WS_CONT, true, big, 41, MASK);
        assert_int_equal(error_of(&b, 100, true, &code), KM_ELIMIT);
        assert_int_equal(code, 1009);
    }
    /* Continuations out of place. */
    km_ws_frame_write(&b, KM_WS_CONT, true, "x", 1, MASK);
    assert_int_equal(error_of(&b, 100, true, &code), KM_EINVAL);
    assert_int_equal(code, 1002);
    km_ws_frame_write(&b, KM_WS_TEXT, false, "x", 1, MASK);
    km_ws_frame_write(&b, KM_WS_TEXT, true, "y", 1, MASK);
    assert_int_equal(error_of(&b, 100, true, &code), KM_EINVAL);
    /* Text that is not UTF-8, whole or in fragments. */
    km_ws_frame_write(&b, KM_WS_TEXT, true, "\xc0\x80", 2, MASK);
    assert_int_equal(error_of(&b, 100, true, &code), KM_EINVAL);
    assert_int_equal(code, 1007);
    km_ws_frame_write(&b, KM_WS_TEXT, false, "ok", 2, MASK);
    km_ws_frame_write(&b, KM_WS_CONT, true, "\xed\xa0\x80", 3, MASK);
    assert_int_equal(error_of(&b, 100, true, &code), KM_EINVAL);
    assert_int_equal(code, 1007);
    /* Binary may hold anything. */
    km_ws_frame_write(&b, KM_WS_BINARY, true, "\xc0\x80", 2, MASK);
    assert_int_equal(error_of(&b, 100, true, &code), 0);
    km_buf_fini(&b);
}

static void test_close_frames(void **state)
{
    struct km_buf b;
    struct km_ws_reader rd;
    struct km_ws_event ev;
    uint16_t code;
    size_t fed = 0;
    char reason[300];

    (void)state;
    km_buf_init(&b, 0);
    km_ws_close_write(&b, 1001, "going", MASK);
    km_ws_frame_write(&b, KM_WS_CLOSE, true, "", 0, MASK);
    km_ws_reader_init(&rd, 100, true);
    assert_int_equal(next_event(&rd, (uint8_t *)b.data, b.len, true, &fed, &ev), 1);
    assert_int_equal(ev.op, KM_WS_CLOSE);
    assert_int_equal(ev.close_code, 1001);
    assert_int_equal(ev.len, 5);
    assert_memory_equal(ev.data, "going", 5);
    assert_int_equal(next_event(&rd, (uint8_t *)b.data, b.len, true, &fed, &ev), 1);
    assert_int_equal(ev.close_code, KM_WS_CLOSE_NO_STATUS);
    km_ws_reader_fini(&rd);
    km_buf_reset(&b);
    /* One byte; codes never sent (1005, 1006, 1015) or out of range; a bad reason. */
    km_ws_frame_write(&b, KM_WS_CLOSE, true, "\x03", 1, MASK);
    assert_int_equal(error_of(&b, 100, true, &code), KM_EINVAL);
    assert_int_equal(code, 1002);
    km_ws_frame_write(&b, KM_WS_CLOSE, true, "\x03\xed", 2, MASK); /* 1005 */
    assert_int_equal(error_of(&b, 100, true, &code), KM_EINVAL);
    km_ws_frame_write(&b, KM_WS_CLOSE, true, "\x03\xee", 2, MASK); /* 1006 */
    assert_int_equal(error_of(&b, 100, true, &code), KM_EINVAL);
    km_ws_frame_write(&b, KM_WS_CLOSE, true, "\x03\xe7", 2, MASK); /* 999 */
    assert_int_equal(error_of(&b, 100, true, &code), KM_EINVAL);
    km_ws_frame_write(&b, KM_WS_CLOSE, true, "\x13\x88", 2, MASK); /* 5000 */
    assert_int_equal(error_of(&b, 100, true, &code), KM_EINVAL);
    km_ws_frame_write(&b, KM_WS_CLOSE, true, "\x0f\xa0", 2, MASK); /* 4000: private use */
    assert_int_equal(error_of(&b, 100, true, &code), 0);
    km_ws_frame_write(&b, KM_WS_CLOSE, true, "\x03\xe8\xff", 3, MASK);
    assert_int_equal(error_of(&b, 100, true, &code), KM_EINVAL);
    assert_int_equal(code, 1007);
    /* A long reason is cut to fit 125 bytes at a character boundary. */
    for (size_t i = 0; i + 2 < sizeof(reason); i += 2)
        memcpy(reason + i, "\xc3\xa9", 2);
    reason[sizeof(reason) - 2] = '\0';
    km_ws_close_write(&b, 1000, reason, NULL);
    assert_int_equal((uint8_t)b.data[1], 124); /* 2 + 122: 61 characters of 2 bytes */
    assert_true(km_ws_utf8_valid((uint8_t *)b.data + 4, 122));
    km_buf_fini(&b);
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(km_ws_utf8_valid((const uint8_t *)"", 0));
    assert_true(km_ws_utf8_valid((const uint8_t *)"a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 10));
    assert_false(km_ws_utf8_valid((const uint8_t *)"\xc0\xaf", 2));         /* overlong */
    assert_false(km_ws_utf8_valid((const uint8_t *)"\xe0\x80\xaf", 3));     /* overlong */
    assert_false(km_ws_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3));     /* surrogate */
    assert_false(km_ws_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(km_ws_utf8_valid((const uint8_t *)"\xe2\x82", 2));         /* truncated */
    assert_false(km_ws_utf8_valid((const uint8_t *)"\x80", 1));
    assert_false(km_ws_utf8_valid((const uint8_t *)"\xff", 1));
}

static void test_feed_cap(void **state)
{
    struct km_ws_reader rd;
    static char chunk[KM_WS_READ_CHUNK + 1];

    (void)state;
    km_ws_reader_init(&rd, 10, true);
    assert_int_equal(km_ws_reader_feed(&rd, chunk, sizeof(chunk)), KM_ELIMIT);
    assert_int_equal(km_ws_reader_feed(&rd, chunk, KM_WS_READ_CHUNK), 0);
    /* Without reading what is there, the buffer is full. */
    assert_int_equal(km_ws_reader_feed(&rd, chunk, KM_WS_READ_CHUNK), KM_ELIMIT);
    km_ws_reader_fini(&rd);
}

/* ---- sessions over the HTTP server ---------------------------------------------------------- */

/* Echo messages back as "echo: …"; "bye" ends the session with 4000. */
static void echo_session(struct km_ws *ws, void *ud)
{
    struct km_buf msg, out;

    (void)ud;
    km_buf_init(&msg, 0);
    km_buf_init(&out, 0);
    for (;;) {
        int rc = km_ws_recv(ws, 100, &msg);

        if (rc < 0)
            break;
        if (rc == 0)
            continue;
        if (msg.len == 3 && memcmp(msg.data, "bye", 3) == 0) {
            km_ws_close(ws, 4000, "asked to");
            break;
        }
        km_buf_reset(&out);
        km_buf_puts(&out, "echo: ");
        km_buf_append(&out, msg.data, msg.len);
        if (km_ws_send_text(ws, out.data, out.len))
            break;
    }
    km_buf_fini(&msg);
    km_buf_fini(&out);
}

static void on_ws(struct km_http_req *r, void *ud)
{
    km_http_respond_websocket(r, echo_session, ud, NULL);
}

static int connect_to(uint16_t port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    struct timeval tv = { 10, 0 };
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* The client's end: a socket, over TLS when tls is set. */
static gnutls_session_t tls;

static ssize_t io_send(int fd, const void *p, size_t n)
{
    return tls ? gnutls_record_send(tls, p, n) : send(fd, p, n, MSG_NOSIGNAL);
}

/* Exactly n bytes (fewer: the end of the stream or an error). */
static ssize_t io_recv(int fd, void *p, size_t n)
{
    size_t got = 0;

    while (got < n) {
        ssize_t k = tls ? gnutls_record_recv(tls, (char *)p + got, n - got)
                        : recv(fd, (char *)p + got, n - got, 0);

        if (k == GNUTLS_E_AGAIN || k == GNUTLS_E_INTERRUPTED)
            continue;
        if (k <= 0)
            return got ? (ssize_t)got : k;
        got += (size_t)k;
    }
    return (ssize_t)got;
}

/* Send a handshake with `headers`; the status of the answer, its head in head. */
static int handshake(int fd, const char *headers, char *head, size_t size)
{
    char req[1024];
    size_t n = 0;

    snprintf(req, sizeof(req), "GET /ws HTTP/1.1\r\nHost: x\r\n%s\r\n", headers);
    assert_int_equal(io_send(fd, req, strlen(req)), (ssize_t)strlen(req));
    while (n + 1 < size) {
        ssize_t k = io_recv(fd, head + n, 1); /* a byte at a time: nothing past the head */

        if (k <= 0)
            break;
        n += (size_t)k;
        head[n] = '\0';
        if (n >= 4 && memcmp(head + n - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    head[n] = '\0';
    return n > 12 ? atoi(head + 9) : -1;
}

#define GOOD_HEADERS                                                                               \
    "Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: "             \
    "13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"

/* Read one frame from the server: its opcode, payload into p (up to size). */
static int read_frame(int fd, char *p, size_t size, size_t *len)
{
    uint8_t h[2];
    size_t n;

    if (io_recv(fd, h, 2) != 2)
        return -1;
    assert_int_equal(h[1] & 0x80, 0); /* never masked */
    n = h[1] & 0x7f;
    assert_true(n < 126 && n <= size);
    if (n && io_recv(fd, p, n) != (ssize_t)n)
        return -1;
    *len = n;
    return h[0] & 0x0f;
}

static void send_frame(int fd, enum km_ws_opcode op, const char *s, size_t n)
{
    struct km_buf b;

    km_buf_init(&b, 0);
    km_ws_frame_write(&b, op, true, s, n, MASK);
    assert_int_equal(io_send(fd, b.data, b.len), (ssize_t)b.len);
    km_buf_fini(&b);
}

static void test_sessions(void **state)
{
    struct km_http_opts o = {
        .listen = "127.0.0.1:0", .name = "t", .workers = 2, .max_websockets = 1
    };
    struct km_http_route routes[] = { { "GET", "/ws", on_ws, 0 } };
    struct km_http_server *s;
    char head[2048], p[200];
    size_t len;
    int fd, fd2, op;

    (void)state;
    assert_int_equal(km_http_server_create(&s, &o), 0);
    assert_int_equal(km_http_server_add_routes(s, routes, 1, NULL), 0);
    assert_int_equal(km_http_server_start(s), 0);
    /* Refusals before any upgrade. */
    fd = connect_to(km_http_server_port(s));
    assert_int_equal(handshake(fd, "", head, sizeof(head)), 400);
    close(fd);
    fd = connect_to(km_http_server_port(s));
    assert_int_equal(handshake(fd,
                               "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-"
                               "Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
                               head, sizeof(head)),
                     426);
    assert_non_null(strstr(head, "Sec-WebSocket-Version: 13"));
    close(fd);
    fd = connect_to(km_http_server_port(s));
    assert_int_equal(handshake(fd,
                               "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-"
                               "Version: 13\r\nSec-WebSocket-Key: short\r\n",
                               head, sizeof(head)),
                     400);
    close(fd);
    /* An echo session. */
    fd = connect_to(km_http_server_port(s));
    assert_int_equal(handshake(fd, GOOD_HEADERS, head, sizeof(head)), 101);
    assert_non_null(strstr(head, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    assert_non_null(strstr(head, "\r\nConnection: Upgrade\r\n")); /* once */
    send_frame(fd, KM_WS_TEXT, "hi", 2);
    op = read_frame(fd, p, sizeof(p), &len);
    assert_int_equal(op, KM_WS_TEXT);
    assert_int_equal(len, 8);
    assert_memory_equal(p, "echo: hi", 8);
    send_frame(fd, KM_WS_PING, "x", 1);
    assert_int_equal(read_frame(fd, p, sizeof(p), &len), KM_WS_PONG);
    /* The cap (1): a second session is refused with 503. */
    fd2 = connect_to(km_http_server_port(s));
    assert_int_equal(handshake(fd2, GOOD_HEADERS, head, sizeof(head)), 503);
    assert_non_null(strstr(head, "Retry-After: 5"));
    close(fd2);
    /* The session ends itself with its own code. */
    send_frame(fd, KM_WS_TEXT, "bye", 3);
    assert_int_equal(read_frame(fd, p, sizeof(p), &len), KM_WS_CLOSE);
    assert_int_equal(len, 2 + 8);
    assert_int_equal((uint8_t)p[0] << 8 | (uint8_t)p[1], 4000);
    send_frame(fd, KM_WS_CLOSE, "\x0f\xa0", 2);
    assert_int_equal(io_recv(fd, p, 1), 0); /* then the end of the stream */
    close(fd);
    /* Its place is free again; the stop closes the next one with 1001. */
    for (int tries = 0;; tries++) {
        fd = connect_to(km_http_server_port(s));
        if (handshake(fd, GOOD_HEADERS, head, sizeof(head)) == 101)
            break;
        close(fd);
        assert_true(tries < 100);
        usleep(20000);
    }
    send_frame(fd, KM_WS_TEXT, "still", 5);
    assert_int_equal(read_frame(fd, p, sizeof(p), &len), KM_WS_TEXT);
    km_http_server_stop(s, 1000);
    assert_int_equal(read_frame(fd, p, sizeof(p), &len), KM_WS_CLOSE);
    assert_int_equal((uint8_t)p[0] << 8 | (uint8_t)p[1], 1001);
    assert_true(io_recv(fd, p, 1) <= 0);
    close(fd);
    km_http_server_destroy(s);
}

/* The same over TLS (libmicrohttpd relays the upgraded connection through a socket
 * pair): a certificate made with openssl now, a GnuTLS client that trusts anything. */
static void test_session_tls(void **state)
{
    char dir[] = "/tmp/kmon-test-ws-XXXXXX", cmd[1024], cert[300], key[300], head[2048], p[200];
    struct km_http_opts o = { .listen = "127.0.0.1:0", .name = "t", .workers = 1 };
    struct km_http_route routes[] = { { "GET", "/ws", on_ws, 0 } };
    gnutls_certificate_credentials_t cred;
    struct km_http_server *s;
    size_t len;
    int fd, rc;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(cmd, sizeof(cmd),
             "cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
             "-nodes -days 2 -keyout k.pem -out c.pem -subj /CN=localhost >/dev/null 2>&1",
             dir);
    assert_int_equal(system(cmd), 0);
    snprintf(cert, sizeof(cert), "%s/c.pem", dir);
    snprintf(key, sizeof(key), "%s/k.pem", dir);
    o.tls_cert_file = cert;
    o.tls_key_file = key;
    assert_int_equal(km_http_server_create(&s, &o), 0);
    assert_int_equal(km_http_server_add_routes(s, routes, 1, NULL), 0);
    assert_int_equal(km_http_server_start(s), 0);
    fd = connect_to(km_http_server_port(s));
    assert_int_equal(gnutls_certificate_allocate_credentials(&cred), 0);
    assert_int_equal(gnutls_init(&tls, GNUTLS_CLIENT), 0);
    assert_int_equal(gnutls_set_default_priority(tls), 0);
    assert_int_equal(gnutls_credentials_set(tls, GNUTLS_CRD_CERTIFICATE, cred), 0);
    gnutls_transport_set_int(tls, fd);
    do
        rc = gnutls_handshake(tls);
    while (rc < 0 && !gnutls_error_is_fatal(rc));
    assert_int_equal(rc, 0);
    assert_int_equal(handshake(fd, GOOD_HEADERS, head, sizeof(head)), 101);
    send_frame(fd, KM_WS_TEXT, "over tls", 8);
    assert_int_equal(read_frame(fd, p, sizeof(p), &len), KM_WS_TEXT);
    assert_int_equal(len, 14);
    assert_memory_equal(p, "echo: over tls", 14);
    km_http_server_stop(s, 1000);
    assert_int_equal(read_frame(fd, p, sizeof(p), &len), KM_WS_CLOSE);
    assert_int_equal((uint8_t)p[0] << 8 | (uint8_t)p[1], 1001);
    gnutls_deinit(tls);
    tls = NULL;
    gnutls_certificate_free_credentials(cred);
    close(fd);
    km_http_server_destroy(s);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key),   cmocka_unit_test(test_lengths_round_trip),
        cmocka_unit_test(test_fragments),    cmocka_unit_test(test_hostile_frames),
        cmocka_unit_test(test_close_frames), cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_feed_cap),     cmocka_unit_test(test_sessions),
        cmocka_unit_test(test_session_tls),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
