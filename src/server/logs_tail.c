/*
 * logs_tail — GET /loki/api/v1/tail (logs_tail.h): a WebSocket session that polls LogQL.
 *
 * Loki pushes new entries from its ingesters; kmon's store is read through LogQL like
 * every other endpoint, so the session evaluates the query again every second over a
 * window that reaches back `lag` (2 s plus delay_for) before now, and sends what it has
 * not sent yet. Entries are told apart by (stream labels, timestamp, line) hashes kept
 * for the window, so entries with the same timestamp as the newest one sent, and late
 * entries (out of order, or pushed a little after their timestamp) within the window,
 * are sent once; entries arriving later than the window are not sent (a query_range
 * finds them). A batch that fills the per-query limit is followed at once by the next,
 * from its newest timestamp, so a burst is sent whole, in order, before waiting again.
 *
 * The first message holds the newest `limit` entries in [start, now) (as Loki: a
 * backward query, sent oldest first).
 */
#include "logs_tail.h"

#include "auth/auth.h"
#include "common/array.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/jsonw.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "common/websocket.h"
#include "logql/logql.h"
#include "logs_api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define NS_PER_S  1000000000ll
#define NS_PER_MS 1000000ll

/* Loki's limits and defaults for tails. */
#define TAIL_SINCE_NS     (3600ll * NS_PER_S) /* start defaults to now - 1h */
#define TAIL_MAX_DELAY_S  5
#define TAIL_BASE_LAG_NS  (2ll * NS_PER_S) /* late entries sent within this (+ delay_for) */
#define TAIL_POLL_MS      1000
#define TAIL_BATCH        KM_LOGQL_DEFAULT_MAX_ENTRIES /* entries per evaluation */
#define TAIL_MAX_SEEN     (256u * 1024)                /* entries remembered for dedupe */
#define TAIL_MESSAGE_SOFT (1u << 20)                   /* a message is sent once this big */
#define TAIL_MESSAGE_MAX  (64u << 20)                  /* the hard cap of one message's buffer */

struct seen {
    int64_t ts;
    uint64_t h;
};

struct tail {
    struct km_log_source src;
    struct km_logql_expr *e;
    size_t limit;
    int64_t start_ns, lag_ns;
    int64_t query_timeout_ms;
    /* Entries sent with timestamps in the window, sorted by (ts, h) up to nsorted. */
    struct seen *seen;
    size_t nseen, nsorted, capseen;
    int64_t floor_ns; /* never read before this again */
    struct km_buf msg;
    struct km_jsonw w;
    size_t nstreams_in_msg;
};

static void tail_free(void *ud)
{
    struct tail *t = ud;

    if (!t)
        return;
    km_logql_expr_destroy(t->e);
    km_auth_log_source_fini(&t->src);
    free(t->seen);
    km_buf_fini(&t->msg);
    free(t);
}

static int cmp_seen(const void *a, const void *b)
{
    const struct seen *x = a, *y = b;

    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->h < y->h ? -1 : x->h > y->h;
}

static uint64_t entry_hash(uint64_t lh, const struct km_logql_entry *e)
{
    uint64_t h = XXH3_64bits_withSeed(e->line, e->len, lh);

    return XXH3_64bits_withSeed(&e->ts_ns, sizeof(e->ts_ns), h);
}

static bool was_sent(const struct tail *t, int64_t ts, uint64_t h)
{
    struct seen key = { ts, h };
    size_t lo = 0, hi = t->nsorted;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_seen(&t->seen[mid], &key);

        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = t->nsorted; i < t->nseen; i++) {
        if (t->seen[i].ts == ts && t->seen[i].h == h)
            return true;
    }
    return false;
}

static int remember(struct tail *t, int64_t ts, uint64_t h)
{
    int rc = km_array_grow((void **)&t->seen, &t->capseen, t->nseen + 1, sizeof(*t->seen), 1024,
                           "for a tail's window");

    if (rc)
        return rc;
    t->seen[t->nseen++] = (struct seen){ ts, h };
    return 0;
}

/* Sort what was added, forget entries before `keep_from`, and past TAIL_MAX_SEEN the
 * older half (reading never goes back before what is remembered again). */
static void settle_seen(struct tail *t, int64_t keep_from)
{
    size_t drop = 0;

    if (!t->nseen)
        return;
    km_sort(t->seen, t->nseen, sizeof(*t->seen), cmp_seen);
    while (drop < t->nseen && t->seen[drop].ts < keep_from)
        drop++;
    if (t->nseen - drop > TAIL_MAX_SEEN) {
        drop = t->nseen - TAIL_MAX_SEEN / 2;
        if (t->seen[drop - 1].ts + 1 > t->floor_ns)
            t->floor_ns = t->seen[drop - 1].ts + 1;
    }
    memmove(t->seen, t->seen + drop, (t->nseen - drop) * sizeof(*t->seen));
    t->nseen -= drop;
    t->nsorted = t->nseen;
}

/* ---- messages ---------------------------------------------------------------------------- */

static void msg_begin(struct tail *t)
{
    km_buf_reset(&t->msg);
    km_jsonw_init(&t->w, &t->msg);
    km_jsonw_obj_begin(&t->w);
    km_jsonw_key(&t->w, "streams");
    km_jsonw_arr_begin(&t->w);
    t->nstreams_in_msg = 0;
}

/* Send the message being written, if it holds a stream. */
static int msg_flush(struct tail *t, struct km_ws *ws)
{
    int rc;

    if (!t->nstreams_in_msg)
        return 0;
    km_jsonw_arr_end(&t->w);
    km_jsonw_obj_end(&t->w);
    if (km_buf_error(&t->msg))
        return km_err_set(KM_ELIMIT, "a tail message past %u bytes", TAIL_MESSAGE_MAX);
    rc = km_ws_send_text(ws, t->msg.data, t->msg.len);
    msg_begin(t);
    return rc;
}

static void write_labels(struct km_jsonw *w, const struct km_labels *l)
{
    km_jsonw_obj_begin(w);
    for (size_t i = 0; l && i < l->n; i++) {
        km_jsonw_key(w, l->v[i].name);
        km_jsonw_str(w, l->v[i].value);
    }
    km_jsonw_obj_end(w);
}

/* Write the entries of a result not sent yet (each stream's oldest first: `reversed`
 * for a backward result) and remember them; send whenever a message is big enough. */
static int send_new(struct tail *t, struct km_ws *ws, const struct km_logql_result *res,
                    bool reversed, size_t *nsent)
{
    int rc = 0;

    *nsent = 0;
    for (size_t s = 0; s < res->nstreams && rc == 0; s++) {
        const struct km_logql_stream *st = &res->streams[s];
        uint64_t lh = st->labels ? km_labels_hash(st->labels->v, st->labels->n) : 0;
        bool open = false;

        for (size_t k = 0; k < st->n && rc == 0; k++) {
            const struct km_logql_entry *e = &st->e[reversed ? st->n - 1 - k : k];
            uint64_t h = entry_hash(lh, e);
            char ts[24];

            if (e->ts_ns < t->floor_ns || was_sent(t, e->ts_ns, h))
                continue;
            rc = remember(t, e->ts_ns, h);
            if (rc)
                break;
            if (!open) {
                km_jsonw_obj_begin(&t->w);
                km_jsonw_key(&t->w, "stream");
                write_labels(&t->w, st->labels);
                km_jsonw_key(&t->w, "values");
                km_jsonw_arr_begin(&t->w);
                open = true;
                t->nstreams_in_msg++;
            }
            snprintf(ts, sizeof(ts), "%lld", (long long)e->ts_ns);
            km_jsonw_arr_begin(&t->w);
            km_jsonw_str(&t->w, ts);
            km_jsonw_strn(&t->w, e->line, e->len);
            km_jsonw_arr_end(&t->w);
            (*nsent)++;
            if (t->msg.len >= TAIL_MESSAGE_SOFT) {
                km_jsonw_arr_end(&t->w);
                km_jsonw_obj_end(&t->w);
                open = false;
                rc = msg_flush(t, ws);
            }
        }
        if (open) {
            km_jsonw_arr_end(&t->w);
            km_jsonw_obj_end(&t->w);
        }
    }
    if (rc == 0)
        rc = msg_flush(t, ws);
    return rc;
}

/* ---- the session ------------------------------------------------------------------------- */

static int eval(struct tail *t, int64_t start, int64_t end, enum km_logql_direction dir,
                size_t limit, struct km_logql_result **res)
{
    struct km_logql_params p;

    km_logql_params_default(&p);
    p.start_ns = start;
    p.end_ns = end;
    p.direction = dir;
    p.limit = limit;
    if (t->query_timeout_ms > 0)
        p.deadline_ns = km_time_mono_ns() + t->query_timeout_ms * NS_PER_MS;
    return km_logql_eval(t->e, &t->src, &p, res);
}

/* Total entries of a result, and its newest and oldest timestamps. */
static size_t result_span(const struct km_logql_result *res, int64_t *oldest, int64_t *newest)
{
    size_t n = 0;

    *oldest = INT64_MAX;
    *newest = INT64_MIN;
    for (size_t s = 0; s < res->nstreams; s++) {
        for (size_t k = 0; k < res->streams[s].n; k++) {
            int64_t ts = res->streams[s].e[k].ts_ns;

            *oldest = ts < *oldest ? ts : *oldest;
            *newest = ts > *newest ? ts : *newest;
        }
        n += res->streams[s].n;
    }
    return n;
}

/* The first message: the newest `limit` entries since start. */
static int send_history(struct tail *t, struct km_ws *ws)
{
    struct km_logql_result *res = NULL;
    int64_t now = km_time_now_ns(), oldest, newest;
    size_t n, sent;
    int rc;

    t->floor_ns = t->start_ns;
    if (t->start_ns >= now + 1)
        return 0;
    rc = eval(t, t->start_ns, now + 1, KM_LOGQL_BACKWARD, t->limit, &res);
    if (rc)
        return rc;
    n = result_span(res, &oldest, &newest);
    rc = send_new(t, ws, res, true, &sent);
    /* Cut by the limit: what is older than the oldest sent is not for this tail. */
    if (n >= t->limit && oldest + 1 > t->floor_ns)
        t->floor_ns = oldest + 1;
    settle_seen(t, INT64_MIN);
    km_logql_result_destroy(res);
    return rc;
}

static void close_for(struct km_ws *ws, int rc)
{
    if (rc == KM_ECANCELED || rc == KM_ETIMEDOUT || km_ws_closing(ws))
        return;
    km_ws_close(ws, KM_WS_CLOSE_INTERNAL, km_err_msg());
}

static void tail_session(struct km_ws *ws, void *ud)
{
    struct tail *t = ud;
    int64_t resume = INT64_MIN; /* a burst being caught up: its newest timestamp so far */
    int rc;

    msg_begin(t);
    rc = send_history(t, ws);
    while (rc == 0) {
        struct km_logql_result *res = NULL;
        int64_t now, q_start, oldest, newest;
        size_t n, sent = 0;

        /* Wait (answering pings, seeing the client's close), or only look when a
         * burst is being caught up. */
        rc = km_ws_recv(ws, resume == INT64_MIN ? TAIL_POLL_MS : 0, NULL);
        if (rc < 0)
            break;
        now = km_time_now_ns();
        q_start = resume != INT64_MIN ? resume : now - t->lag_ns;
        if (q_start < t->floor_ns)
            q_start = t->floor_ns;
        rc = eval(t, q_start, now + 1, KM_LOGQL_FORWARD, TAIL_BATCH, &res);
        if (rc)
            break;
        n = result_span(res, &oldest, &newest);
        rc = send_new(t, ws, res, false, &sent);
        km_logql_result_destroy(res);
        resume = INT64_MIN;
        if (rc == 0 && n >= TAIL_BATCH) {
            /* More than a batch: go on from the newest; a batch of one timestamp only,
             * all sent, moves past it (more entries at one instant than a batch). */
            resume = newest;
            if (sent == 0 && newest == q_start) {
                resume = newest + 1;
                if (resume > t->floor_ns)
                    t->floor_ns = resume;
            }
        }
        {
            int64_t keep = q_start < now - t->lag_ns ? q_start : now - t->lag_ns;

            settle_seen(t, keep);
        }
    }
    close_for(ws, rc);
}

/* ---- the handler ------------------------------------------------------------------------- */

static void tail_error(struct km_http_req *req, unsigned code, const char *msg)
{
    struct km_buf b;
    struct km_jsonw w;

    km_buf_init(&b, 0);
    km_jsonw_init(&w, &b);
    km_jsonw_obj_begin(&w);
    km_jsonw_key(&w, "code");
    km_jsonw_u64(&w, code);
    km_jsonw_key(&w, "message");
    km_jsonw_str(&w, msg);
    km_jsonw_key(&w, "status");
    km_jsonw_str(&w, "error");
    km_jsonw_obj_end(&w);
    km_buf_putc(&b, '\n');
    km_http_respond_buf(req, code, "application/json; charset=utf-8", &b);
    km_buf_fini(&b);
}

static int parse_args(struct km_http_req *req, struct tail *t)
{
    const char *v;
    char *end;
    long long x;
    int64_t delay = 0;

    t->limit = KM_LOGQL_DEFAULT_LIMIT;
    v = km_http_req_arg(req, "limit");
    if (v && *v) {
        errno = 0;
        x = strtoll(v, &end, 10);
        if (*end || errno)
            return km_err_set(KM_EINVAL, "cannot parse \"%s\" to a valid limit", v);
        if (x <= 0)
            return km_err_set(KM_EINVAL, "limit must be a positive value");
        if (x > KM_LOGQL_DEFAULT_MAX_ENTRIES)
            return km_err_set(KM_EINVAL,
                              "max entries limit per query exceeded, limit > "
                              "max_entries_limit (%lld > %d)",
                              x, KM_LOGQL_DEFAULT_MAX_ENTRIES);
        t->limit = (size_t)x;
    }
    v = km_http_req_arg(req, "delay_for");
    if (v && *v) {
        errno = 0;
        x = strtoll(v, &end, 10);
        if (*end || errno || x < 0)
            return km_err_set(KM_EINVAL, "cannot parse \"%s\" to a valid delay_for", v);
        if (x > TAIL_MAX_DELAY_S)
            return km_err_set(KM_EINVAL, "delay_for can't be greater than %d", TAIL_MAX_DELAY_S);
        delay = x * NS_PER_S;
    }
    t->lag_ns = TAIL_BASE_LAG_NS + delay;
    return km_logs_api_parse_time(km_http_req_arg(req, "start"), km_time_now_ns() - TAIL_SINCE_NS,
                                  &t->start_ns);
}

void km_logs_tail_serve(struct km_http_req *req, const struct km_log_source *src,
                        int64_t query_timeout_ms)
{
    const char *q = km_http_req_arg(req, "query");
    struct tail *t = calloc(1, sizeof(*t));
    struct km_buf err;
    int rc;

    km_buf_init(&err, 1u << 16);
    if (!t) {
        tail_error(req, 503, "out of memory");
        goto out;
    }
    t->query_timeout_ms = query_timeout_ms;
    km_buf_init(&t->msg, TAIL_MESSAGE_MAX);
    /* A token limited to clusters tails through a view of its own (the session outlives
     * the request). */
    if (km_auth_log_source(req, src, &t->src)) {
        tail_error(req, 503, "out of memory");
        goto out_free_tail;
    }
    if (!q || !*q) {
        tail_error(req, 400, "query must not be empty");
        goto out_free_tail;
    }
    rc = km_logql_parse(&t->e, q, strlen(q), &err);
    if (rc) {
        tail_error(req, rc == KM_ENOMEM ? 503 : 400, err.len ? km_buf_cstr(&err) : km_err_msg());
        goto out_free_tail;
    }
    if (km_logql_expr_kind(t->e) != KM_LOGQL_LOG) {
        tail_error(req, 400,
                   "tailing a metric query is not supported: tail takes a log "
                   "query (a stream selector and a log pipeline)");
        goto out_free_tail;
    }
    if (parse_args(req, t)) {
        tail_error(req, 400, km_err_msg());
        goto out_free_tail;
    }
    /* The session owns t from here on, also when the handshake is refused (answered). */
    km_http_respond_websocket(req, tail_session, t, tail_free);
    goto out;

out_free_tail:
    tail_free(t);
out:
    km_buf_fini(&err);
}
