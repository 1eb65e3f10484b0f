/*
 * http_stream — streamed answers (see http_server.h): a queue of chunks between what
 * makes the body (a produce function on the worker that ran the handler, or writers on
 * any thread for push streams) and libmicrohttpd, which takes it through a content
 * reader callback on its polling thread and sends it with chunked transfer encoding.
 *
 * The reader never waits: when the queue is empty it suspends the connection
 * (MHD_suspend_connection from inside the content reader, which libmicrohttpd allows)
 * and returns 0; whoever adds data or ends the stream resumes it. The producer waits
 * while KM_LIMIT_HTTP_STREAM_BUF bytes are queued, so a slow client holds the producer
 * and never memory; a push writer is refused instead (KM_EAGAIN). When the client goes
 * away, or the answer has been sent, libmicrohttpd destroys the response: its free
 * callback (stream_let_go) marks the stream gone and wakes the producer, which stops
 * (writers get KM_ECANCELED). While the connection is suspended libmicrohttpd notices
 * no disconnect; km_http_stream_cancelled() then polls the socket (POLLRDHUP).
 *
 * A handler on a polling thread (no workers, or KM_ROUTE_INLINE) gets its stream
 * produced there, one step whenever the queue runs dry.
 *
 * References: the MHD response holds one (dropped in stream_let_go), the producer or
 * the push writer the other; the last to let go frees the stream. The produce function's
 * ud is released (free_ud) as soon as production is over, by the producing thread.
 *
 * Locks: the server's streams_mu before a stream's mu, never after. The reader suspends
 * the connection holding mu (so no write can slip between its "queue empty" and the
 * suspension); everyone else resumes it after letting mu go, having claimed the
 * wake-up under mu (reader_waiting true → false, one claimant) and counted it in the
 * server's `resuming`, which the stop waits for before MHD_stop_daemon (a connection
 * still suspended then would make libmicrohttpd abort). A suspended connection cannot
 * be closed, so the stream and its connection stay valid until that resume.
 */
#include "err.h"
#include "http_internal.h"
#include "limits.h"
#include "log.h"
#include "timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What libmicrohttpd is told to ask the content reader for at a time. */
#define KM_HTTP_STREAM_BLOCK (32u * 1024)
/* km_http_stream_cancelled() looks at the socket at most this often. */
#define KM_HTTP_STREAM_PEER_CHECK_NS (5 * 1000000)

struct chunk {
    struct chunk *next;
    char *data; /* owned */
    size_t len, off;
};

struct km_http_stream {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* room in the queue, or gone: for the producer */
    unsigned refs;
    struct km_http_server *srv; /* while in its list (the MHD response lives); NULL after */
    struct km_http_stream *prev, *next;
    struct MHD_Connection *conn; /* valid while !gone */
    int fd;
    struct chunk *head, *tail;
    size_t queued; /* bytes in the chunks */
    bool push;
    bool reader_waiting; /* the connection is suspended until data or the end */
    bool ended;          /* nothing more comes after what is queued */
    bool failed;         /* the body cannot be completed: cut the connection */
    bool gone;           /* MHD let go of the response */
    bool cancelled;      /* the server stops past its grace */
    bool peer_gone;      /* the socket said the client left */
    int64_t peer_checked_ns;
    /* Pull streams. */
    km_http_produce_fn produce;
    void *ud;
    void (*free_ud)(void *ud);
    bool produce_inline; /* produced by the reader, on the polling thread */
    struct km_buf step;  /* what one produce call appends */
};

/* ---- references ---------------------------------------------------------------------- */

/* Production is over: release the producer's data (once). */
static void producer_done(struct km_http_stream *st)
{
    void (*free_ud)(void *) = st->free_ud;

    st->free_ud = NULL;
    st->produce = NULL;
    if (free_ud)
        free_ud(st->ud);
    st->ud = NULL;
    km_buf_fini(&st->step);
}

static void release(struct km_http_stream *st)
{
    bool last;

    pthread_mutex_lock(&st->mu);
    last = --st->refs == 0;
    pthread_mutex_unlock(&st->mu);
    if (!last)
        return;
    producer_done(st);
    while (st->head) {
        struct chunk *c = st->head;

        st->head = c->next;
        free(c->data);
        free(c);
    }
    pthread_cond_destroy(&st->cv);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

/* ---- waking the reader ------------------------------------------------------------------ */

/* A suspended reader to resume, claimed under the stream's lock. */
struct wake {
    struct km_http_server *srv;
    struct MHD_Connection *conn; /* NULL: nothing to do */
};

/* Under st->mu: claim the wake-up of a suspended reader (one claimant per suspension);
 * the caller passes it to resume() after unlocking. */
static struct wake claim_wake(struct km_http_stream *st)
{
    struct wake w = { 0 };

    if (!st->reader_waiting || st->gone)
        return w;
    st->reader_waiting = false;
    atomic_fetch_add(&st->srv->resuming, 1);
    w.srv = st->srv;
    w.conn = st->conn;
    return w;
}

static void resume(struct wake w)
{
    if (!w.conn)
        return;
    MHD_resume_connection(w.conn);
    atomic_fetch_sub(&w.srv->resuming, 1);
}

/* Under st->mu: queue data (taking it). */
static int enqueue(struct km_http_stream *st, char *data, size_t len)
{
    struct chunk *c = malloc(sizeof(*c));

    if (!c) {
        free(data);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    *c = (struct chunk){ .data = data, .len = len };
    if (st->tail)
        st->tail->next = c;
    else
        st->head = c;
    st->tail = c;
    st->queued += len;
    return 0;
}

/* Under st->mu: copy up to max queued bytes out. */
static size_t take(struct km_http_stream *st, char *buf, size_t max)
{
    size_t n = 0;

    while (n < max && st->head) {
        struct chunk *c = st->head;
        size_t k = c->len - c->off < max - n ? c->len - c->off : max - n;

        memcpy(buf + n, c->data + c->off, k);
        c->off += k;
        n += k;
        if (c->off == c->len) {
            st->head = c->next;
            if (!st->head)
                st->tail = NULL;
            free(c->data);
            free(c);
        }
    }
    st->queued -= n;
    return n;
}

/* End the body (complete, or cut when failed) and wake the reader. */
static void finish(struct km_http_stream *st, bool failed)
{
    struct wake w;

    pthread_mutex_lock(&st->mu);
    st->ended = true;
    st->failed = st->failed || failed;
    w = claim_wake(st);
    pthread_mutex_unlock(&st->mu);
    resume(w);
}

/* ---- libmicrohttpd's side --------------------------------------------------------------- */

/* One produce step and what it made, queued. The return is the produce function's. */
static int produce_step(struct km_http_stream *st)
{
    int rc = st->produce(st, &st->step, st->ud);
    size_t len;
    char *data;

    if (rc >= 0 && km_buf_error(&st->step))
        rc = km_err_set(km_buf_error(&st->step), "a streamed answer's step is too large");
    if (rc < 0 || !st->step.len)
        return rc;
    data = km_buf_detach(&st->step, &len);
    pthread_mutex_lock(&st->mu);
    if (enqueue(st, data, len) != 0)
        rc = KM_ENOMEM;
    pthread_mutex_unlock(&st->mu);
    return rc;
}

/* A stream made on the polling thread: a step whenever the queue has run dry. */
static void produce_here(struct km_http_stream *st)
{
    for (;;) {
        int rc;

        pthread_mutex_lock(&st->mu);
        if (st->queued || st->ended || st->gone || st->cancelled || !st->produce) {
            pthread_mutex_unlock(&st->mu);
            return;
        }
        pthread_mutex_unlock(&st->mu);
        rc = produce_step(st);
        if (rc == KM_HTTP_MORE)
            continue;
        pthread_mutex_lock(&st->mu);
        st->ended = true;
        st->failed = rc < 0;
        pthread_mutex_unlock(&st->mu);
        producer_done(st);
    }
}

/* The connection's clock: moved on when the client took data; the watchdog leaves it
 * alone while the stream waits for its producer or writer (server_idle). */
static void note_progress(struct km_http_server *s, struct MHD_Connection *conn, bool idle,
                          bool moved)
{
    struct conn *c = km_http_conn_of(conn);

    if (!c)
        return;
    pthread_mutex_lock(&s->conns_mu);
    c->server_idle = idle;
    if (moved)
        c->since_ns = km_time_mono_ns();
    pthread_mutex_unlock(&s->conns_mu);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct km_http_stream *st = cls;
    struct km_http_server *s = st->srv; /* cleared only by stream_let_go, not before this */
    ssize_t ret;

    (void)pos;
    if (st->produce_inline)
        produce_here(st);
    pthread_mutex_lock(&st->mu);
    if (st->cancelled || st->failed) {
        ret = MHD_CONTENT_READER_END_WITH_ERROR;
    } else if (st->queued) {
        ret = (ssize_t)take(st, buf, max);
        pthread_cond_broadcast(&st->cv);
    } else if (st->ended) {
        ret = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        st->reader_waiting = true;
        MHD_suspend_connection(st->conn);
        ret = 0;
    }
    pthread_mutex_unlock(&st->mu);
    note_progress(s, st->conn, ret == 0, ret > 0);
    return ret;
}

/* The response is destroyed: the answer was sent, or the client went away, or the
 * server stops. */
static void stream_let_go(void *cls)
{
    struct km_http_stream *st = cls;
    struct km_http_server *s = st->srv;

    pthread_mutex_lock(&s->streams_mu);
    if (st->prev)
        st->prev->next = st->next;
    else
        s->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    s->nstreams--;
    pthread_mutex_lock(&st->mu);
    st->gone = true;
    st->srv = NULL;
    st->conn = NULL;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
    pthread_mutex_unlock(&s->streams_mu);
    release(st);
}

/* ---- opening -------------------------------------------------------------------------- */

/* A stream answering r, with two references (the response's and the caller's). */
static int stream_open(struct km_http_req *r, unsigned status, const char *ctype, bool push,
                       struct km_http_stream **out)
{
    struct km_http_server *s = r->srv;
    struct km_http_stream *st = calloc(1, sizeof(*st));
    struct MHD_Response *resp;
    int rc;

    if (!st)
        return km_err_set(KM_ENOMEM, "out of memory");
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    st->refs = 2;
    st->srv = s;
    st->conn = r->conn;
    st->fd = r->fd;
    st->push = push;
    km_buf_init(&st->step, KM_LIMIT_HTTP_STREAM_STEP);
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, KM_HTTP_STREAM_BLOCK, stream_read,
                                             st, stream_let_go);
    if (!resp) {
        st->refs = 1;
        release(st);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    pthread_mutex_lock(&s->streams_mu);
    st->next = s->streams;
    if (s->streams)
        s->streams->prev = st;
    s->streams = st;
    s->nstreams++;
    st->cancelled = s->streams_cancelled;
    st->ended = push && s->streams_ending;
    pthread_mutex_unlock(&s->streams_mu);
    /* On failure the response is destroyed, and with it the response's reference. */
    rc = km_http_keep_response(r, status, ctype, resp);
    if (rc) {
        release(st);
        return rc;
    }
    *out = st;
    return 0;
}

int km_http_respond_stream(struct km_http_req *r, unsigned status, const char *content_type,
                           km_http_produce_fn produce, void *ud, void (*free_ud)(void *ud))
{
    struct km_http_stream *st;
    int rc = stream_open(r, status, content_type, false, &st);

    if (rc) {
        if (free_ud)
            free_ud(ud);
        return rc;
    }
    st->produce = produce;
    st->ud = ud;
    st->free_ud = free_ud;
    if (strcmp(r->method, "HEAD") == 0) {
        /* The head only: nothing to make. */
        producer_done(st);
        finish(st, false);
        release(st);
    } else if (r->suspended) {
        r->stream = st; /* the worker produces it once the connection is resumed */
    } else {
        st->produce_inline = true;
        release(st); /* the response's reference is enough: all happens in the reader */
    }
    return 0;
}

int km_http_respond_push(struct km_http_req *r, unsigned status, const char *content_type,
                         struct km_http_stream **out)
{
    int rc = km_http_req_add_header(r, "Cache-Control", "no-cache");

    if (rc == 0)
        rc = stream_open(r, status, content_type, true, out);
    return rc;
}

/* ---- the producer, on a worker ---------------------------------------------------------- */

/* Wait while the queue is full; false when the stream is over for the producer. */
static bool wait_room(struct km_http_stream *st)
{
    bool ok;

    pthread_mutex_lock(&st->mu);
    while (st->queued >= KM_LIMIT_HTTP_STREAM_BUF && !st->gone && !st->cancelled)
        pthread_cond_wait(&st->cv, &st->mu);
    ok = !st->gone && !st->cancelled;
    pthread_mutex_unlock(&st->mu);
    return ok;
}

/* Wake the reader about what a step queued. */
static void kick_reader(struct km_http_stream *st)
{
    struct wake w = { 0 };

    pthread_mutex_lock(&st->mu);
    if (st->queued)
        w = claim_wake(st);
    pthread_mutex_unlock(&st->mu);
    resume(w);
}

void km_http_stream_produce(struct km_http_stream *st)
{
    int rc = KM_HTTP_MORE;

    while (rc == KM_HTTP_MORE) {
        if (!wait_room(st) || km_http_stream_cancelled(st)) {
            rc = KM_ECANCELED;
            break;
        }
        rc = produce_step(st);
        kick_reader(st);
    }
    if (rc < 0 && rc != KM_ECANCELED)
        km_log_warn("http", "a streamed answer was cut: %s", km_err_msg());
    producer_done(st);
    finish(st, rc != 0);
    release(st);
}

/* ---- writers ---------------------------------------------------------------------------- */

bool km_http_stream_cancelled(struct km_http_stream *st)
{
    bool over;

    pthread_mutex_lock(&st->mu);
    if (!st->gone && !st->cancelled && !st->peer_gone && !st->produce_inline) {
        int64_t now = km_time_mono_ns();

        /* The connection is open while MHD holds the response (!gone). */
        if (now - st->peer_checked_ns >= KM_HTTP_STREAM_PEER_CHECK_NS) {
            st->peer_checked_ns = now;
            st->peer_gone = km_http_peer_hung_up(st->fd);
        }
    }
    over = st->gone || st->cancelled || st->peer_gone;
    pthread_mutex_unlock(&st->mu);
    return over;
}

int km_http_stream_write(struct km_http_stream *st, const void *data, size_t len)
{
    struct wake w = { 0 };
    char *copy;
    int rc;

    if (len > KM_LIMIT_HTTP_STREAM_BUF)
        return km_err_set(KM_ELIMIT, "a write of %zu bytes to a stream (at most %u)", len,
                          KM_LIMIT_HTTP_STREAM_BUF);
    if (!len)
        return 0;
    copy = malloc(len);
    if (!copy)
        return km_err_set(KM_ENOMEM, "out of memory");
    memcpy(copy, data, len);
    pthread_mutex_lock(&st->mu);
    if (st->gone || st->cancelled || st->ended || st->peer_gone) {
        rc = km_err_set(KM_ECANCELED, "the client has gone away or the server stops");
        free(copy);
    } else if (st->queued + len > KM_LIMIT_HTTP_STREAM_BUF) {
        rc = km_err_set(KM_EAGAIN, "the client reads slower than the stream is written");
        free(copy);
    } else {
        rc = enqueue(st, copy, len);
        w = claim_wake(st);
    }
    pthread_mutex_unlock(&st->mu);
    resume(w);
    return rc;
}

/* Append "<field>: <line>\n" for each line of text (CRLF, LF or CR end a line). */
static void event_lines(struct km_buf *b, const char *field, const char *text)
{
    const char *p = text;

    for (;;) {
        size_t n = strcspn(p, "\r\n");

        km_buf_puts(b, field);
        km_buf_puts(b, ": ");
        km_buf_append(b, p, n);
        km_buf_putc(b, '\n');
        p += n;
        if (!*p)
            break;
        p += p[0] == '\r' && p[1] == '\n' ? 2 : 1;
    }
}

int km_http_stream_event(struct km_http_stream *st, const char *event, const char *data)
{
    struct km_buf b;
    int rc;

    if (event && event[strcspn(event, "\r\n")])
        return km_err_set(KM_EINVAL, "an event name holds a line break");
    km_buf_init(&b, KM_LIMIT_HTTP_STREAM_BUF);
    if (event)
        event_lines(&b, "event", event);
    event_lines(&b, "data", data ? data : "");
    km_buf_putc(&b, '\n');
    rc = km_buf_error(&b) ? km_err_set(km_buf_error(&b), "an event larger than %u bytes",
                                       KM_LIMIT_HTTP_STREAM_BUF)
                          : km_http_stream_write(st, b.data, b.len);
    km_buf_fini(&b);
    return rc;
}

void km_http_stream_close(struct km_http_stream *st)
{
    if (!st)
        return;
    finish(st, false);
    release(st);
}

/* ---- the server's side ------------------------------------------------------------------- */

/* Mark every stream (ending push streams, or cancelling all) and resume their readers,
 * one at a time outside the locks (a suspended connection keeps its stream alive). */
static void mark_all(struct km_http_server *s, bool cancel)
{
    pthread_mutex_lock(&s->streams_mu);
    if (cancel)
        s->streams_cancelled = true;
    else
        s->streams_ending = true;
    for (;;) {
        struct wake w = { 0 };

        for (struct km_http_stream *st = s->streams; st; st = st->next) {
            pthread_mutex_lock(&st->mu);
            if (cancel) {
                st->cancelled = true;
                pthread_cond_broadcast(&st->cv);
            } else if (st->push) {
                st->ended = true;
            }
            if (!w.conn)
                w = claim_wake(st);
            pthread_mutex_unlock(&st->mu);
        }
        if (!w.conn)
            break;
        pthread_mutex_unlock(&s->streams_mu);
        resume(w);
        pthread_mutex_lock(&s->streams_mu);
    }
    pthread_mutex_unlock(&s->streams_mu);
}

void km_http_streams_end_push(struct km_http_server *s)
{
    mark_all(s, false);
}

void km_http_streams_cancel(struct km_http_server *s)
{
    mark_all(s, true);
}

size_t km_http_streams_open(struct km_http_server *s)
{
    size_t n;

    pthread_mutex_lock(&s->streams_mu);
    n = s->nstreams;
    pthread_mutex_unlock(&s->streams_mu);
    return n;
}
