/*
 * http_ws — WebSocket sessions over libmicrohttpd's "upgrade" (see http_server.h): the
 * opening handshake, a thread per session, the frames (websocket.h) over the socket MHD
 * hands over, pings, the closing handshake, the cap on sessions and the stop.
 *
 * Life of a session: km_http_respond_websocket() (a worker) checks the handshake,
 * reserves a place under the cap and answers 101 with an upgrade response; MHD sends it
 * and calls on_upgrade() on its polling thread with the socket (for TLS one end of a
 * socket pair MHD relays), which starts the session's thread; the thread runs the
 * session, sends the close frame, waits briefly for the client's, and gives the socket
 * back to MHD (MHD_UPGRADE_ACTION_CLOSE, never close()). Finished threads are joined by
 * the next handshake or at the stop. If MHD never upgrades (the client left before the
 * 101 went out), the request's end gives the reservation back (km_http_ws_abandon).
 *
 * Only the session's thread reads and writes the socket; other threads only set
 * `stopping` and poke the session's eventfd.
 */
#include "err.h"
#include "http_internal.h"
#include "log.h"
#include "timefmt.h"
#include "websocket.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* Defaults and caps of sessions, in one place. */
#define WS_DEFAULT_MAX     64
#define WS_MAX_MESSAGE     (1u << 20) /* a client's message, fragments joined */
#define WS_PING_MS         30000      /* a ping after this long without a frame from the client */
#define WS_SILENT_MS       90000      /* a client silent this long is dropped */
#define WS_SEND_TIMEOUT_MS 10000      /* a client taking nothing this long is dropped */
#define WS_CLOSE_WAIT_MS   1000       /* for the client's close frame after ours */

struct km_ws {
    struct km_http_server *srv;
    struct km_ws *prev, *next; /* srv->ws, under ws_mu */
    pthread_t thread;
    bool started; /* the thread runs (joined at reaping) */
    bool done;    /* the thread is over (under ws_mu) */
    MHD_socket sock;
    struct MHD_UpgradeResponseHandle *urh;
    int wake_fd;
    atomic_bool stopping;
    /* The session's thread only. */
    bool peer_closed; /* the client's close frame came */
    bool close_sent;
    bool broken; /* the socket failed, or a frame was cut: no more bytes */
    uint16_t close_code;
    char close_reason[KM_WS_MAX_CONTROL - 1];
    int64_t last_rx_ns, last_ping_ns;
    struct km_ws_reader rd;
    struct km_buf out;
    km_ws_session_fn fn;
    void *ud;
    void (*free_ud)(void *ud);
};

static void ws_free(struct km_ws *ws)
{
    if (!ws)
        return;
    if (ws->free_ud)
        ws->free_ud(ws->ud);
    km_ws_reader_fini(&ws->rd);
    km_buf_fini(&ws->out);
    if (ws->wake_fd >= 0)
        close(ws->wake_fd);
    free(ws);
}

static void unlink_ws(struct km_http_server *s, struct km_ws *ws)
{
    if (ws->prev)
        ws->prev->next = ws->next;
    else
        s->ws = ws->next;
    if (ws->next)
        ws->next->prev = ws->prev;
    ws->prev = ws->next = NULL;
}

/* Join and free the sessions whose thread is over; under nothing. */
static void reap(struct km_http_server *s)
{
    for (;;) {
        struct km_ws *ws;

        pthread_mutex_lock(&s->ws_mu);
        for (ws = s->ws; ws && !(ws->started && ws->done); ws = ws->next)
            ;
        if (ws)
            unlink_ws(s, ws);
        pthread_mutex_unlock(&s->ws_mu);
        if (!ws)
            return;
        pthread_join(ws->thread, NULL);
        ws_free(ws);
    }
}

/* ---- I/O on the session's thread -------------------------------------------------------- */

static int elapsed_ms(int64_t since_ns)
{
    int64_t ms = (km_time_mono_ns() - since_ns) / 1000000;

    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* Write all of data[0..n); the stop is only heeded between frames (a cut frame would
 * corrupt the stream). */
static int write_all(struct km_ws *ws, const void *data, size_t n)
{
    const char *p = data;
    int64_t t0 = km_time_mono_ns();

    if (ws->broken)
        return km_err_set(KM_ECANCELED, "the WebSocket connection is closed");
    while (n) {
        ssize_t k = send(ws->sock, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        struct pollfd pf = { .fd = ws->sock, .events = POLLOUT };
        int left;

        if (k > 0) {
            p += k;
            n -= (size_t)k;
            t0 = km_time_mono_ns();
            continue;
        }
        if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            ws->broken = true;
            return km_err_set(KM_ECANCELED, "the WebSocket client went away");
        }
        left = WS_SEND_TIMEOUT_MS - elapsed_ms(t0);
        if (left <= 0 || atomic_load(&ws->srv->cancel_all)) {
            ws->broken = true;
            return km_err_set(KM_ETIMEDOUT, "the WebSocket client takes nothing");
        }
        poll(&pf, 1, left > 200 ? 200 : left);
    }
    return 0;
}

static int send_frame(struct km_ws *ws, enum km_ws_opcode op, const void *data, size_t len)
{
    int rc;

    km_buf_reset(&ws->out);
    rc = km_ws_frame_write(&ws->out, op, true, data, len, NULL);
    if (rc)
        return rc;
    rc = write_all(ws, ws->out.data, ws->out.len);
    /* Keep no large buffer between messages. */
    if (ws->out.cap > (1u << 20))
        km_buf_fini(&ws->out);
    return rc;
}

static void send_close(struct km_ws *ws, uint16_t code, const char *reason)
{
    if (ws->close_sent || ws->broken)
        return;
    ws->close_sent = true;
    km_buf_reset(&ws->out);
    if (km_ws_close_write(&ws->out, code, reason, NULL) == 0)
        write_all(ws, ws->out.data, ws->out.len);
}

bool km_ws_closing(const struct km_ws *ws)
{
    return ws->peer_closed || ws->close_sent || ws->broken || atomic_load(&ws->stopping);
}

int km_ws_send_text(struct km_ws *ws, const void *data, size_t len)
{
    if (km_ws_closing(ws))
        return km_err_set(KM_ECANCELED, "the WebSocket connection is closing");
    return send_frame(ws, KM_WS_TEXT, data, len);
}

void km_ws_close(struct km_ws *ws, uint16_t code, const char *reason)
{
    ws->close_code = code;
    snprintf(ws->close_reason, sizeof(ws->close_reason), "%s", reason ? reason : "");
}

/* Handle the events already received: 1 a message for the caller (in msg), 0 none
 * left, KM_ECANCELED the connection is closing. */
static int drain_events(struct km_ws *ws, struct km_buf *msg)
{
    struct km_ws_event ev;
    int rc;

    while ((rc = km_ws_reader_next(&ws->rd, &ev)) == 1) {
        switch (ev.op) {
        case KM_WS_PING:
            if (send_frame(ws, KM_WS_PONG, ev.data, ev.len))
                return KM_ECANCELED;
            break;
        case KM_WS_PONG:
            break;
        case KM_WS_CLOSE:
            ws->peer_closed = true;
            /* Echo the code (RFC 6455 5.5.1); none given: a close without one. */
            send_close(ws, ev.close_code == KM_WS_CLOSE_NO_STATUS ? 0 : ev.close_code, "");
            return km_err_set(KM_ECANCELED, "the WebSocket client closed");
        default:
            if (!msg)
                break;
            km_buf_reset(msg);
            if (km_buf_append(msg, ev.data, ev.len)) {
                send_close(ws, KM_WS_CLOSE_TOO_BIG, "message too large");
                return km_err_set(KM_ECANCELED, "a WebSocket message past the caller's buffer");
            }
            return 1;
        }
    }
    if (rc < 0) {
        km_log_debug(ws->srv->name, "http: %s", km_err_msg());
        send_close(ws, ws->rd.error_code, km_err_msg());
        return km_err_set(KM_ECANCELED, "the WebSocket client broke the protocol");
    }
    return 0;
}

/* Read what the socket has (without waiting): 0, or KM_ECANCELED when it is closed. */
static int read_some(struct km_ws *ws)
{
    char buf[KM_WS_READ_CHUNK];
    ssize_t k = recv(ws->sock, buf, sizeof(buf), MSG_DONTWAIT);

    if (k > 0) {
        ws->last_rx_ns = km_time_mono_ns();
        return km_ws_reader_feed(&ws->rd, buf, (size_t)k) ? KM_ECANCELED : 0;
    }
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return 0;
    ws->broken = true;
    return km_err_set(KM_ECANCELED, "the WebSocket client went away");
}

int km_ws_recv(struct km_ws *ws, int64_t timeout_ms, struct km_buf *msg)
{
    int64_t t0 = km_time_mono_ns();

    for (;;) {
        struct pollfd pf[2] = { { .fd = ws->sock, .events = POLLIN },
                                { .fd = ws->wake_fd, .events = POLLIN } };
        int64_t left = timeout_ms - elapsed_ms(t0);
        int rc;

        if (km_ws_closing(ws))
            return km_err_set(KM_ECANCELED, "the WebSocket connection is closing");
        rc = drain_events(ws, msg);
        if (rc)
            return rc;
        if (elapsed_ms(ws->last_rx_ns) >= WS_SILENT_MS) {
            send_close(ws, KM_WS_CLOSE_GOING_AWAY, "no answer to pings");
            return km_err_set(KM_ECANCELED, "the WebSocket client is silent");
        }
        if (elapsed_ms(ws->last_rx_ns) >= WS_PING_MS &&
            elapsed_ms(ws->last_ping_ns) >= WS_PING_MS) {
            ws->last_ping_ns = km_time_mono_ns();
            if (send_frame(ws, KM_WS_PING, "", 0))
                return KM_ECANCELED;
        }
        if (left <= 0)
            return 0;
        if (left > 1000)
            left = 1000; /* the ping clock */
        if (poll(pf, 2, (int)left) > 0 && (pf[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            rc = read_some(ws);
            if (rc)
                return rc;
        }
    }
}

/* After ours, the client's close frame (or its end of the stream), for a little while. */
static void await_peer_close(struct km_ws *ws)
{
    int64_t t0 = km_time_mono_ns();

    while (!ws->peer_closed && !ws->broken && ws->close_sent) {
        struct pollfd pf = { .fd = ws->sock, .events = POLLIN };
        struct km_ws_event ev;
        int left = WS_CLOSE_WAIT_MS - elapsed_ms(t0), rc;

        while ((rc = km_ws_reader_next(&ws->rd, &ev)) == 1) {
            if (ev.op == KM_WS_CLOSE) {
                ws->peer_closed = true;
                return;
            }
        }
        if (rc < 0 || left <= 0 || poll(&pf, 1, left) <= 0 || read_some(ws))
            return;
    }
}

static void *ws_main(void *arg)
{
    struct km_ws *ws = arg;
    struct km_http_server *s = ws->srv;

    ws->fn(ws, ws->ud);
    if (!ws->peer_closed) {
        if (atomic_load(&ws->stopping))
            send_close(ws, KM_WS_CLOSE_GOING_AWAY, "the server is stopping");
        else
            send_close(ws, ws->close_code ? ws->close_code : KM_WS_CLOSE_NORMAL, ws->close_reason);
        await_peer_close(ws);
    }
    /* TCP: our FIN after the close frame (RFC 6455 7.1.1: the server closes first). */
    shutdown(ws->sock, SHUT_WR);
    MHD_upgrade_action(ws->urh, MHD_UPGRADE_ACTION_CLOSE);
    if (ws->free_ud)
        ws->free_ud(ws->ud);
    ws->free_ud = NULL;
    pthread_mutex_lock(&s->ws_mu);
    ws->done = true;
    s->nws--;
    pthread_mutex_unlock(&s->ws_mu);
    return NULL;
}

/* MHD, on its polling thread, after the 101 went out: the connection is the session's. */
static void on_upgrade(void *cls, struct MHD_Connection *connection, void *con_cls,
                       const char *extra_in, size_t extra_in_size, MHD_socket sock,
                       struct MHD_UpgradeResponseHandle *urh)
{
    struct km_ws *ws = cls;
    struct km_http_server *s = ws->srv;
    struct km_http_req *r = con_cls;
    struct conn *c = km_http_conn_of(connection);

    if (r && r->ws == ws)
        r->ws = NULL; /* the session's now */
    if (c) {
        pthread_mutex_lock(&s->conns_mu);
        c->upgraded = true;
        pthread_mutex_unlock(&s->conns_mu);
    }
    ws->sock = sock;
    ws->urh = urh;
    ws->last_rx_ns = ws->last_ping_ns = km_time_mono_ns();
    if (extra_in_size && km_ws_reader_feed(&ws->rd, extra_in, extra_in_size))
        ws->broken = true;
    pthread_mutex_lock(&s->ws_mu);
    if (s->ws_stopping)
        atomic_store(&ws->stopping, true);
    ws->started = pthread_create(&ws->thread, NULL, ws_main, ws) == 0;
    if (!ws->started) {
        unlink_ws(s, ws);
        s->nws--;
    }
    pthread_mutex_unlock(&s->ws_mu);
    if (!ws->started) {
        km_log_warn(s->name, "http: cannot start a WebSocket session's thread");
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        ws_free(ws);
    }
}

void km_http_ws_abandon(struct km_ws *ws)
{
    struct km_http_server *s;

    if (!ws)
        return;
    s = ws->srv;
    pthread_mutex_lock(&s->ws_mu);
    unlink_ws(s, ws);
    s->nws--;
    pthread_mutex_unlock(&s->ws_mu);
    ws_free(ws);
}

/* ---- the handshake ---------------------------------------------------------------------- */

/* A comma-separated header value holds `token` (case-insensitive). */
static bool has_token(const char *v, const char *token)
{
    size_t n = strlen(token);

    while (v && *v) {
        size_t len;

        v += strspn(v, " \t,");
        len = strcspn(v, ",");
        while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
            len--;
        if (len == n && strncasecmp(v, token, n) == 0)
            return true;
        v += strcspn(v, ",");
    }
    return false;
}

static int refuse_ws(struct km_http_req *r, unsigned status, int rc, const char *msg)
{
    km_http_respond_error(r, status, "%s", msg);
    return km_err_set(rc, "%s", msg);
}

int km_http_respond_websocket(struct km_http_req *r, km_ws_session_fn session, void *ud,
                              void (*free_ud)(void *ud))
{
    struct km_http_server *s = r->srv;
    const char *key = km_http_req_header(r, "Sec-WebSocket-Key");
    const char *version = km_http_req_header(r, "Sec-WebSocket-Version");
    unsigned cap = km_http_ws_cap(s);
    struct MHD_Response *resp;
    struct km_ws *ws = NULL;
    char accept[29];
    int rc;

    reap(s);
    if (strcmp(r->method, "GET") != 0 ||
        !has_token(km_http_req_header(r, "Upgrade"), "websocket") ||
        !has_token(km_http_req_header(r, "Connection"), "upgrade") || !key) {
        rc = refuse_ws(r, 400, KM_EINVAL,
                       "this endpoint takes WebSocket connections only (GET with Upgrade: "
                       "websocket, Connection: Upgrade and Sec-WebSocket-Key)");
        goto out_free_ud;
    }
    if (!version || strcmp(version, "13") != 0) {
        km_http_req_add_header(r, "Sec-WebSocket-Version", "13");
        rc = refuse_ws(r, 426, KM_EINVAL, "only WebSocket version 13 is supported");
        goto out_free_ud;
    }
    if (km_ws_accept_key(key, accept)) {
        rc = refuse_ws(r, 400, KM_EINVAL, "Sec-WebSocket-Key is not the base64 of 16 bytes");
        goto out_free_ud;
    }
    ws = calloc(1, sizeof(*ws));
    if (!ws) {
        rc = refuse_ws(r, 503, KM_ENOMEM, "out of memory");
        goto out_free_ud;
    }
    ws->srv = s;
    ws->sock = MHD_INVALID_SOCKET;
    ws->fn = session;
    ws->ud = ud;
    ws->free_ud = free_ud;
    km_ws_reader_init(&ws->rd, WS_MAX_MESSAGE, true);
    km_buf_init(&ws->out, 0);
    ws->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ws->wake_fd < 0) {
        ws_free(ws);
        return refuse_ws(r, 503, KM_EIO, "cannot make an eventfd for the WebSocket");
    }
    pthread_mutex_lock(&s->ws_mu);
    if (s->ws_stopping || s->nws >= cap) {
        bool stopping = s->ws_stopping;

        pthread_mutex_unlock(&s->ws_mu);
        ws_free(ws);
        km_http_req_add_header(r, "Retry-After", "5");
        if (stopping)
            return refuse_ws(r, 503, KM_ECANCELED, "the server is shutting down");
        atomic_fetch_add(&s->ws_refused, 1);
        km_http_respond_error(r, 503,
                              "too many WebSocket connections open (the limit is %u); try "
                              "again later",
                              cap);
        return km_err_set(KM_ELIMIT, "too many WebSocket connections open");
    }
    s->nws++;
    ws->next = s->ws;
    if (s->ws)
        s->ws->prev = ws;
    s->ws = ws;
    pthread_mutex_unlock(&s->ws_mu);
    atomic_fetch_add(&s->ws_total, 1);
    resp = MHD_create_response_for_upgrade(on_upgrade, ws);
    if (!resp) {
        km_http_ws_abandon(ws);
        return refuse_ws(r, 503, KM_ENOMEM, "out of memory");
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket");
    /* libmicrohttpd adds "Connection: Upgrade" itself (a second one would read
     * "Upgrade, Upgrade", which browsers refuse). */
    MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
    rc = km_http_keep_response(r, 101, NULL, resp);
    if (rc) {
        km_http_ws_abandon(ws);
        return rc;
    }
    r->ws = ws;
    return 0;

out_free_ud:
    if (free_ud)
        free_ud(ud);
    return rc;
}

/* ---- the stop ---------------------------------------------------------------------------- */

void km_http_ws_stop_all(struct km_http_server *s)
{
    uint64_t one = 1;

    pthread_mutex_lock(&s->ws_mu);
    s->ws_stopping = true;
    for (struct km_ws *ws = s->ws; ws; ws = ws->next) {
        atomic_store(&ws->stopping, true);
        if (write(ws->wake_fd, &one, sizeof(one)) < 0) {
            /* the counter is full: it is awake anyway */
        }
    }
    pthread_mutex_unlock(&s->ws_mu);
    /* Every started session ends within its bounded waits (a send's timeout, the close
     * wait); join them. Sessions never upgraded stay for their request's end. */
    for (;;) {
        struct km_ws *ws;

        pthread_mutex_lock(&s->ws_mu);
        for (ws = s->ws; ws && !ws->started; ws = ws->next)
            ;
        if (ws)
            unlink_ws(s, ws);
        pthread_mutex_unlock(&s->ws_mu);
        if (!ws)
            return;
        pthread_join(ws->thread, NULL);
        ws_free(ws);
    }
}

unsigned km_http_ws_cap(const struct km_http_server *s)
{
    return s->opts.max_websockets ? s->opts.max_websockets : WS_DEFAULT_MAX;
}

size_t km_http_ws_open(struct km_http_server *s)
{
    size_t n;

    pthread_mutex_lock(&s->ws_mu);
    n = s->nws;
    pthread_mutex_unlock(&s->ws_mu);
    return n;
}
