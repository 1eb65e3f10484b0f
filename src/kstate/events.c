/*
 * events — the Events watcher: list + watch of events.k8s.io/v1 Events into log lines
 * handed to a sink (see events.h).
 *
 * Two threads:
 *   watcher: the reflector's loop (reflector.c) without a store: a paged list, then a
 *            watch from its resourceVersion with bookmarks, a relist on 410 Gone, a
 *            jittered backoff on errors, a 403 logged once and probed again every
 *            forbidden_retry_ms. Each ADDED or MODIFIED Event is decoded; when the map
 *            of observations (events_seen.c) says it is new, its labels and line are
 *            copied into one allocation and queued; DELETED forgets the uid. A list
 *            marks what it saw in the map and drops the rest at its end.
 *   sender:  takes up to `batch` lines off the queue, hands them to the sink with the
 *            lock released, and on a refusal puts them back at the front and waits a
 *            backoff (1 s doubling to 30 s). The queue holds at most max_queued lines
 *            and KM_KEVENTS_QUEUED_BYTES bytes. When it is full the watcher waits for
 *            room while the sink takes lines (a relist of 100 000 Events is written
 *            whole, at the sink's pace), and drops the oldest line (counted) while the
 *            sink refuses. A line dropped is not lost for good while its Event lives
 *            in the API: a restart writes it again.
 *
 * Leadership (opts.leading): a replica that does not lead queues nothing and discards
 * what is queued, remembering that it missed something; once it leads, the sender cuts
 * the watcher's request short and the watcher forgets its map and relists, writing every
 * Event the API holds (duplicates of what the old leader wrote are dropped by the store).
 *
 * Without a Kubernetes configuration (cfg NULL: tests) there is no watcher thread and
 * km_kevents_feed() gives the events.
 */
#include "events.h"

#include "common/err.h"
#include "common/log.h"
#include "common/mset.h"
#include "common/timefmt.h"
#include "kube/backoff.h"
#include "kube/kclient.h"
#include "kube/pause.h"
#include "kube/watch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG             "cluster-state"
#define PATH            "/apis/events.k8s.io/v1/events"
#define MAX_PAGE_BYTES  (64u << 20)
#define MAX_EVENT_BYTES (4u << 20)
#define MAX_ERR_BYTES   (1u << 20)
#define MAX_LIST_TRIES  5

/* Results of a list or watch, besides 0 and KM_E*. */
#define R_RELIST    1001
#define R_RETRY     1002
#define R_FORBIDDEN 1003

/* One queued line with its labels, in one allocation. */
struct item {
    int64_t ts_ns;
    size_t len, size; /* line bytes; the allocation's size */
    size_t nlabels;
    struct km_label l[KM_KEVENTS_LABELS];
    const char *line;
    char data[];
};

struct km_kevents {
    struct km_kevents_opts o;
    char *cluster;
    /* The watcher (its thread only, but for the atomics). */
    struct km_kube_client k;
    struct km_watch_stream ws;
    struct km_buf body, errbody, line;
    struct km_kube_backoff backoff;
    struct km_kreflector_stats st;
    struct km_kube_pause pause;
    atomic_bool cut;        /* ends the request in flight: stop or relist_req */
    atomic_bool relist_req; /* the sender asks for a relist (leadership taken) */
    atomic_bool missed;     /* something was not written while standing by */
    atomic_size_t tracked;  /* seen.n, for other threads */
    struct km_kevents_seen seen;
    struct km_log_limit err_log;
    pthread_t watcher;
    bool has_watcher, watcher_started, warned_forbidden;
    char scratch[KM_KEVENTS_SCRATCH]; /* labels cut to size */
    char rv[128];
    /* The queue and the sender (under mu). */
    pthread_mutex_t mu;
    pthread_cond_t wake;
    pthread_cond_t room; /* the sender took lines off the queue */
    bool sink_failing;   /* the last push was refused */
    struct item **q;     /* a ring of max_queued */
    size_t qhead, qn, qbytes;
    bool stop;
    pthread_t sender;
    bool sender_started;
    struct km_kube_backoff sink_backoff;
    struct km_log_limit sink_log;
    atomic_uint_fast64_t out[KM_KEV__N];
};

static const char *const outcome_names[KM_KEV__N] = { "emitted", "duplicate", "dropped",
                                                      "invalid" };

static bool stopped(struct km_kevents *e)
{
    return km_kube_pause_stopped(&e->pause);
}

static bool leading(struct km_kevents *e)
{
    return !e->o.leading || e->o.leading(e->o.leading_ud);
}

/* ---- the queue ----------------------------------------------------------------------- */

/* Under mu: drop the oldest line. */
static void drop_oldest(struct km_kevents *e)
{
    struct item *it = e->q[e->qhead];

    e->qhead = (e->qhead + 1) % e->o.max_queued;
    e->qn--;
    e->qbytes -= it->size;
    free(it);
    atomic_fetch_add(&e->out[KM_KEV_DROPPED], 1);
}

static bool fits(const struct km_kevents *e, size_t size)
{
    return e->qn < e->o.max_queued && e->qbytes + size <= KM_KEVENTS_QUEUED_BYTES;
}

/* Queue a line. While the queue is full the watcher waits for the sender to make room
 * (a slow sink slows the watch, whose stream waits in TCP); only while the sink refuses
 * is the oldest line dropped instead. */
static void enqueue(struct km_kevents *e, struct item *it)
{
    pthread_mutex_lock(&e->mu);
    while (e->qn && !fits(e, it->size)) {
        if (!e->sink_failing && !e->stop && !stopped(e)) {
            struct timespec ts = km_kube_deadline_in(200);

            pthread_cond_timedwait(&e->room, &e->mu, &ts);
            continue;
        }
        drop_oldest(e);
    }
    e->q[(e->qhead + e->qn) % e->o.max_queued] = it;
    e->qn++;
    e->qbytes += it->size;
    pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->mu);
}

/* Under mu: put a batch that the sink refused back at the front, newest first, as far
 * as it fits; the oldest of it are dropped when it does not. */
static void put_back(struct km_kevents *e, struct item **b, size_t n)
{
    while (n) {
        struct item *it = b[--n];

        if (!fits(e, it->size)) {
            free(it);
            atomic_fetch_add(&e->out[KM_KEV_DROPPED], 1);
            continue;
        }
        e->qhead = (e->qhead + e->o.max_queued - 1) % e->o.max_queued;
        e->q[e->qhead] = it;
        e->qn++;
        e->qbytes += it->size;
    }
}

/* Under mu: free what is queued (a standby's lines), uncounted. */
static void discard(struct km_kevents *e)
{
    if (e->qn)
        atomic_store(&e->missed, true);
    while (e->qn) {
        struct item *it = e->q[e->qhead];

        e->qhead = (e->qhead + 1) % e->o.max_queued;
        e->qn--;
        e->qbytes -= it->size;
        free(it);
    }
}

/* ---- one Event ----------------------------------------------------------------------- */

static struct item *make_item(struct km_kevents *e, const struct km_kevent *ev)
{
    struct km_label l[KM_KEVENTS_LABELS];
    size_t nl, size, k = 0;
    struct item *it;

    km_buf_reset(&e->line);
    if (km_kevents_line(&e->line, ev) != 0)
        return NULL;
    nl = km_kevents_labels(l, e->scratch, ev, e->cluster);
    size = sizeof(*it) + e->line.len + 1;
    for (size_t i = 0; i < nl; i++)
        size += strlen(l[i].value) + 1;
    it = malloc(size);
    if (!it)
        return NULL;
    it->ts_ns = ev->ts_ns;
    it->size = size;
    it->nlabels = nl;
    for (size_t i = 0; i < nl; i++) {
        size_t n = strlen(l[i].value) + 1;

        memcpy(it->data + k, l[i].value, n);
        it->l[i].name = l[i].name; /* static strings */
        it->l[i].value = it->data + k;
        k += n;
    }
    memcpy(it->data + k, e->line.data, e->line.len + 1);
    it->line = it->data + k;
    it->len = e->line.len;
    return it;
}

static void handle(struct km_kevents *e, enum km_watch_type type, const json_t *obj)
{
    struct km_kevent ev;
    struct item *it;
    int rc;

    if (type == KM_W_DELETED) {
        const json_t *meta = json_object_get(obj, "metadata");
        const json_t *uid = json_object_get(meta, "uid");

        if (json_is_string(uid))
            km_kevents_seen_del(&e->seen, km_kevents_key(json_string_value(uid)));
        atomic_store(&e->tracked, e->seen.n);
        return;
    }
    if (!leading(e)) {
        atomic_store(&e->missed, true);
        return;
    }
    if (km_kevents_decode(&ev, obj) != 0) {
        atomic_fetch_add(&e->out[KM_KEV_INVALID], 1);
        km_log_debug(LOG, "events: one was skipped: %s", km_err_msg());
        return;
    }
    rc = km_kevents_seen_put(&e->seen, km_kevents_key(ev.uid), ev.ts_ns, ev.count);
    atomic_store(&e->tracked, e->seen.n);
    if (rc == 0) {
        atomic_fetch_add(&e->out[KM_KEV_DUPLICATE], 1);
        return;
    }
    it = make_item(e, &ev);
    if (!it) {
        atomic_fetch_add(&e->out[KM_KEV_DROPPED], 1);
        return;
    }
    enqueue(e, it);
}

int km_kevents_feed(struct km_kevents *e, enum km_watch_type type, const json_t *obj)
{
    if (e->has_watcher)
        return km_err_set(KM_EINVAL, "the Events watcher has its own thread");
    handle(e, type, obj);
    return 0;
}

/* ---- the watcher: list ----------------------------------------------------------------- */

static void encode(char *out, size_t size, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t k = 0;

    for (; *s && k + 4 < size; s++) {
        unsigned char c = (unsigned char)*s;

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            out[k++] = (char)c;
        } else {
            out[k++] = '%';
            out[k++] = hex[c >> 4];
            out[k++] = hex[c & 15];
        }
    }
    out[k] = '\0';
}

static void set_rv(struct km_kevents *e, const json_t *obj)
{
    const json_t *meta = json_is_object(obj) ? json_object_get(obj, "metadata") : NULL;
    const json_t *rv = json_is_object(meta) ? json_object_get(meta, "resourceVersion") : NULL;

    if (json_is_string(rv) && json_string_length(rv) < sizeof(e->rv))
        snprintf(e->rv, sizeof(e->rv), "%s", json_string_value(rv));
}

static void log_error(struct km_kevents *e, const char *what)
{
    uint64_t held;

    atomic_fetch_add(&e->st.errors, 1);
    if (!stopped(e) && km_log_limit_take(&e->err_log, &held))
        km_log_warn(LOG, "events: %s (%llu more since the last message)", what,
                    (unsigned long long)held);
}

static int status_result(long status, struct km_buf *b)
{
    char msg[512];

    if (status == 403)
        return R_FORBIDDEN;
    if (status == 410)
        return R_RELIST;
    return km_err_set(KM_EIO, "HTTP %ld: %s", status, km_kube_status_message(b, msg, sizeof(msg)));
}

static int list_page(struct km_kevents *e, const char *cont, char *next, size_t nsize)
{
    char path[4096], enc[2048];
    const json_t *items, *item, *meta, *c;
    json_t *doc;
    long status;
    size_t i;
    int rc;

    encode(enc, sizeof(enc), cont);
    snprintf(path, sizeof(path), "%s?limit=%u%s%s", e->o.path, e->o.page_limit,
             cont[0] ? "&continue=" : "", enc);
    rc = km_kube_get(&e->k, path, &e->body, 120, &status);
    if (rc)
        return atomic_load(&e->relist_req) ? R_RELIST : rc;
    if (status != 200)
        return status_result(status, &e->body);
    if (km_buf_error(&e->body))
        return km_err_set(KM_ELIMIT, "a list page larger than %u bytes", MAX_PAGE_BYTES);
    atomic_fetch_add(&e->st.pages, 1);
    doc = json_loadb(e->body.data, e->body.len, 0, NULL);
    items = json_object_get(doc, "items");
    if (!json_is_array(items)) {
        json_decref(doc);
        return km_err_set(KM_EINVAL, "GET %s: not a list", path);
    }
    json_array_foreach(items, i, item) handle(e, KM_W_ADDED, item);
    set_rv(e, doc);
    meta = json_object_get(doc, "metadata");
    c = json_is_object(meta) ? json_object_get(meta, "continue") : NULL;
    snprintf(next, nsize, "%s",
             json_is_string(c) && json_string_length(c) < nsize ? json_string_value(c) : "");
    json_decref(doc);
    return 0;
}

static int list(struct km_kevents *e)
{
    char cont[2048] = "", next[2048];
    int tries = 0, rc;

    atomic_fetch_add(&e->st.lists, 1);
    km_kevents_seen_begin(&e->seen);
    for (;;) {
        rc = list_page(e, cont, next, sizeof(next));
        if (rc == R_RELIST && cont[0] && !atomic_load(&e->relist_req) && ++tries < MAX_LIST_TRIES) {
            atomic_fetch_add(&e->st.relists_gone, 1);
            km_kevents_seen_begin(&e->seen);
            cont[0] = '\0';
            continue;
        }
        if (rc == R_RELIST && !atomic_load(&e->relist_req))
            rc = km_err_set(KM_EIO, "the list answered 410 Gone");
        if (rc || !next[0] || stopped(e))
            break;
        memcpy(cont, next, sizeof(cont));
    }
    if (rc == 0 && !stopped(e))
        km_kevents_seen_end(&e->seen);
    atomic_store(&e->tracked, e->seen.n);
    km_buf_fini(&e->body);
    km_buf_init(&e->body, MAX_PAGE_BYTES);
    return rc;
}

/* ---- the watcher: watch ---------------------------------------------------------------- */

static int on_event(void *ud, enum km_watch_type type, const json_t *obj)
{
    struct km_kevents *e = ud;
    const char *msg;

    atomic_fetch_add(&e->st.events, 1);
    if (atomic_load(&e->relist_req))
        return R_RELIST;
    switch (type) {
    case KM_W_ADDED:
    case KM_W_MODIFIED:
    case KM_W_DELETED:
        set_rv(e, obj);
        handle(e, type, obj);
        return 0;
    case KM_W_BOOKMARK:
        set_rv(e, obj);
        return 0;
    case KM_W_ERROR:
        if (json_integer_value(json_object_get(obj, "code")) == 410)
            return R_RELIST;
        msg = json_string_value(json_object_get(obj, "message"));
        log_error(e, msg ? msg : "the watch sent an error");
        return R_RETRY;
    }
    return 0;
}

static int on_stream(void *ud, const char *data, size_t n)
{
    struct km_kevents *e = ud;

    return km_watch_stream_feed(&e->ws, data, n, on_event, e);
}

static int watch(struct km_kevents *e)
{
    char path[4096], enc[256];
    long status;
    int rc;

    encode(enc, sizeof(enc), e->rv);
    snprintf(path, sizeof(path),
             "%s?watch=1&resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=%ld", e->o.path,
             enc, e->o.watch_timeout_s);
    km_watch_stream_reset(&e->ws);
    atomic_fetch_add(&e->st.watches, 1);
    rc = km_kube_stream(&e->k, path, e->o.watch_timeout_s + 30, on_stream, e, &e->errbody, &status);
    if (atomic_load(&e->relist_req))
        return R_RELIST;
    if (rc == R_RELIST || rc == R_RETRY)
        return rc;
    if (rc == KM_EINVAL || rc == KM_ELIMIT)
        return R_RELIST;
    if (rc == 0 && (status < 200 || status >= 300))
        rc = status_result(status, &e->errbody);
    return rc;
}

static void forbidden(struct km_kevents *e)
{
    if (!e->warned_forbidden) {
        km_log_warn(LOG,
                    "forbidden: cannot list events.k8s.io/events; Kubernetes Events are not "
                    "written to the logs (the ClusterRole needs list,watch on events, "
                    "apiGroups: [\"events.k8s.io\"]); asking again every %lld s",
                    (long long)(e->o.forbidden_retry_ms / 1000));
        e->warned_forbidden = true;
    }
    atomic_store(&e->st.forbidden, true);
    atomic_store(&e->st.up, true);
    km_kube_pause_sleep(&e->pause, e->o.forbidden_retry_ms);
}

/* A relist the sender asked for: forget what was written (the last leader wrote it, or
 * nobody did) and let requests run again. */
static bool take_relist(struct km_kevents *e)
{
    if (!atomic_load(&e->relist_req))
        return false;
    atomic_store(&e->relist_req, false);
    atomic_store(&e->cut, false);
    if (stopped(e))
        atomic_store(&e->cut, true); /* stop came meanwhile: keep requests cut */
    km_kevents_seen_clear(&e->seen);
    return true;
}

static void *watcher_run(void *arg)
{
    struct km_kevents *e = arg;
    bool need_list = true;

    while (!stopped(e)) {
        int64_t started = km_time_mono_ns();
        int rc;

        if (take_relist(e))
            need_list = true;
        if (need_list) {
            rc = list(e);
            if (take_relist(e))
                continue;
            if (rc == R_FORBIDDEN) {
                forbidden(e);
                continue;
            }
            if (rc) {
                atomic_store(&e->st.up, false);
                log_error(e, km_err_msg());
                km_kube_pause_sleep(&e->pause, km_kube_backoff_next(&e->backoff));
                continue;
            }
            if (atomic_load(&e->st.forbidden))
                km_log_info(LOG, "events: listing Events is allowed now; writing them");
            atomic_store(&e->st.forbidden, false);
            e->warned_forbidden = false;
            atomic_store(&e->st.synced, true);
            atomic_store(&e->st.up, true);
            km_kube_backoff_reset(&e->backoff);
            need_list = false;
        }
        rc = watch(e);
        if (rc == R_RELIST) {
            if (!atomic_load(&e->relist_req))
                atomic_fetch_add(&e->st.relists_gone, 1);
            need_list = true;
            continue;
        }
        if (rc == R_FORBIDDEN) {
            need_list = true;
            forbidden(e);
            continue;
        }
        if (rc && rc != R_RETRY) {
            atomic_store(&e->st.up, false);
            log_error(e, km_err_msg());
        }
        if (rc || km_time_mono_ns() - started < 1000000000)
            km_kube_pause_sleep(&e->pause, km_kube_backoff_next(&e->backoff));
        else
            km_kube_backoff_reset(&e->backoff);
    }
    return NULL;
}

/* ---- the sender ---------------------------------------------------------------------- */

/* Hand b[0..n) to the sink (mu released meanwhile). Returns the sink's result. */
static int push(struct km_kevents *e, struct item **b, size_t n, struct km_log_push_stream *st,
                struct km_log_entry *ent)
{
    int rc;

    for (size_t i = 0; i < n; i++) {
        ent[i] =
            (struct km_log_entry){ .ts_ns = b[i]->ts_ns, .line = b[i]->line, .len = b[i]->len };
        st[i] = (struct km_log_push_stream){
            .labels = b[i]->l, .n_labels = b[i]->nlabels, .entries = &ent[i], .n_entries = 1
        };
    }
    pthread_mutex_unlock(&e->mu);
    rc = e->o.sink.push(e->o.sink.ud, st, n);
    pthread_mutex_lock(&e->mu);
    return rc;
}

/* Under mu: take up to batch lines off the front into b. */
static size_t take(struct km_kevents *e, struct item **b)
{
    size_t n = 0;

    while (e->qn && n < e->o.batch) {
        b[n] = e->q[e->qhead];
        e->qhead = (e->qhead + 1) % e->o.max_queued;
        e->qn--;
        e->qbytes -= b[n]->size;
        n++;
    }
    pthread_cond_broadcast(&e->room);
    return n;
}

static void sleep_locked(struct km_kevents *e, int64_t ms)
{
    struct timespec ts = km_kube_deadline_in(ms);

    while (!e->stop && pthread_cond_timedwait(&e->wake, &e->mu, &ts) == 0)
        ;
}

static void *sender_run(void *arg)
{
    struct km_kevents *e = arg;
    size_t cap = e->o.batch;
    struct item **b = calloc(cap, sizeof(*b));
    struct km_log_push_stream *st = calloc(cap, sizeof(*st));
    struct km_log_entry *ent = calloc(cap, sizeof(*ent));

    pthread_mutex_lock(&e->mu);
    while (b && st && ent) {
        size_t n;
        int rc;

        if (!leading(e)) {
            discard(e);
        } else if (atomic_load(&e->missed) && e->has_watcher) {
            /* Leading now after missing lines: the watcher relists. */
            atomic_store(&e->missed, false);
            atomic_store(&e->relist_req, true);
            atomic_store(&e->cut, true);
        }
        if (e->qn == 0 || !leading(e)) {
            if (e->stop)
                break;
            sleep_locked(e, 1000);
            continue;
        }
        n = take(e, b);
        rc = push(e, b, n, st, ent);
        e->sink_failing = rc < 0;
        if (rc >= 0) {
            for (size_t i = 0; i < n; i++)
                free(b[i]);
            atomic_fetch_add(&e->out[KM_KEV_EMITTED], n);
            km_kube_backoff_reset(&e->sink_backoff);
            continue;
        }
        put_back(e, b, n);
        if (e->stop)
            break; /* stopping: one try only */
        {
            uint64_t held;

            if (km_log_limit_take(&e->sink_log, &held))
                km_log_warn(LOG,
                            "events: the log store did not take %zu lines (%s); retrying, "
                            "keeping at most %zu lines (%llu more since the last message)",
                            n, km_err_name(rc), e->o.max_queued, (unsigned long long)held);
        }
        sleep_locked(e, km_kube_backoff_next(&e->sink_backoff));
    }
    /* Stopped (or out of memory): what is left is dropped. */
    while (e->qn)
        drop_oldest(e);
    pthread_mutex_unlock(&e->mu);
    free(b);
    free(st);
    free(ent);
    return NULL;
}

/* ---- life ---------------------------------------------------------------------------- */

static void events_free(struct km_kevents *e)
{
    km_kube_client_fini(&e->k);
    km_watch_stream_fini(&e->ws);
    km_buf_fini(&e->body);
    km_buf_fini(&e->errbody);
    km_buf_fini(&e->line);
    km_kube_pause_fini(&e->pause);
    km_kevents_seen_fini(&e->seen);
    for (size_t i = 0; i < e->qn; i++)
        free(e->q[(e->qhead + i) % e->o.max_queued]);
    free(e->q);
    pthread_cond_destroy(&e->wake);
    pthread_cond_destroy(&e->room);
    pthread_mutex_destroy(&e->mu);
    free(e->cluster);
    free(e);
}

int km_kevents_start(struct km_kevents **out, const struct km_kube_config *cfg,
                     const struct km_kevents_opts *o)
{
    struct km_kevents *e;
    int rc;

    *out = NULL;
    if (!o->sink.push)
        return km_err_set(KM_EINVAL, "the Events watcher needs a sink");
    e = calloc(1, sizeof(*e));
    if (!e)
        return km_err_set(KM_ENOMEM, "out of memory");
    e->o = *o;
    if (!e->o.watch_timeout_s)
        e->o.watch_timeout_s = 300;
    if (!e->o.page_limit)
        e->o.page_limit = 500;
    if (!e->o.max_queued)
        e->o.max_queued = KM_KEVENTS_QUEUED;
    if (!e->o.batch)
        e->o.batch = KM_KEVENTS_BATCH;
    if (e->o.batch > e->o.max_queued)
        e->o.batch = e->o.max_queued;
    if (!e->o.forbidden_retry_ms)
        e->o.forbidden_retry_ms = 10 * 60 * 1000;
    if (!e->o.path)
        e->o.path = PATH;
    if (!e->o.backoff_min_ms)
        e->o.backoff_min_ms = 1000;
    if (!e->o.backoff_max_ms)
        e->o.backoff_max_ms = 30000;
    e->o.cluster = NULL;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->wake, NULL);
    pthread_cond_init(&e->room, NULL);
    km_kube_pause_init(&e->pause);
    km_buf_init(&e->body, MAX_PAGE_BYTES);
    km_buf_init(&e->errbody, MAX_ERR_BYTES);
    km_buf_init(&e->line, KM_KEVENTS_MAX_LINE);
    km_watch_stream_init(&e->ws, MAX_EVENT_BYTES);
    km_kevents_seen_init(&e->seen, o->max_tracked);
    km_kube_backoff_init(&e->backoff, e->o.backoff_min_ms, e->o.backoff_max_ms,
                         (uint64_t)km_time_mono_ns() ^ (uintptr_t)e);
    km_kube_backoff_init(&e->sink_backoff, e->o.backoff_min_ms, e->o.backoff_max_ms,
                         (uint64_t)km_time_mono_ns() ^ ((uintptr_t)e >> 4));
    e->err_log.period_ns = 60 * 1000000000ll;
    e->sink_log.period_ns = 60 * 1000000000ll;
    e->q = calloc(e->o.max_queued, sizeof(*e->q));
    if (!e->q || (o->cluster && *o->cluster && !(e->cluster = strdup(o->cluster)))) {
        rc = km_err_set(KM_ENOMEM, "out of memory");
        goto out_free;
    }
    e->has_watcher = cfg != NULL;
    if (cfg) {
        rc = km_kube_client_init(&e->k, cfg, &e->cut);
        if (rc)
            goto out_free;
    }
    if (pthread_create(&e->sender, NULL, sender_run, e) != 0) {
        rc = km_err_set(KM_ENOMEM, "cannot start the Events sender's thread");
        goto out_free;
    }
    e->sender_started = true;
    if (cfg) {
        rc = km_kube_thread_start(&e->watcher, watcher_run, e, "the Events watcher's thread");
        if (rc)
            goto out_stop;
        e->watcher_started = true;
    }
    *out = e;
    return 0;

out_stop:
    km_kevents_stop(e);
    return rc;
out_free:
    events_free(e);
    return rc;
}

const struct km_kreflector_stats *km_kevents_stats(const struct km_kevents *e)
{
    return &e->st;
}

uint64_t km_kevents_count(const struct km_kevents *e, enum km_kevents_outcome o)
{
    return atomic_load(&e->out[o]);
}

size_t km_kevents_tracked(const struct km_kevents *e)
{
    return atomic_load(&e->tracked);
}

void km_kevents_metrics(struct km_kevents *e, struct km_mset *m)
{
    int fam = km_mset_family(m, "kmon_kstate_events_total",
                             "Kubernetes Events observations by outcome: emitted (taken by the "
                             "log sink), duplicate (the observation written before), dropped "
                             "(the queue full while the sink refused), invalid.",
                             KM_MT_COUNTER, 0);
    size_t queued;

    for (int i = 0; i < KM_KEV__N; i++) {
        struct km_label l = { "outcome", outcome_names[i] };

        km_mset_add(m, fam, &l, 1, (double)atomic_load(&e->out[i]));
    }
    pthread_mutex_lock(&e->mu);
    queued = e->qn;
    pthread_mutex_unlock(&e->mu);
    km_mset_add(m,
                km_mset_family(m, "kmon_kstate_events_queued",
                               "Event lines waiting for the log sink.", KM_MT_GAUGE, 0),
                NULL, 0, (double)queued);
    km_mset_add(m,
                km_mset_family(m, "kmon_kstate_events_tracked",
                               "Events whose last observation written is remembered.", KM_MT_GAUGE,
                               0),
                NULL, 0, (double)atomic_load(&e->tracked));
    km_mset_add(m,
                km_mset_family(m, "kmon_kstate_events_forbidden",
                               "1 when the API forbids listing Events (RBAC).", KM_MT_GAUGE, 0),
                NULL, 0, atomic_load(&e->st.forbidden) ? 1.0 : 0.0);
}

void km_kevents_stop(struct km_kevents *e)
{
    if (!e)
        return;
    atomic_store(&e->cut, true);
    km_kube_pause_stop(&e->pause);
    if (e->watcher_started)
        pthread_join(e->watcher, NULL);
    e->watcher_started = false;
    pthread_mutex_lock(&e->mu);
    e->stop = true;
    pthread_cond_broadcast(&e->wake);
    pthread_cond_broadcast(&e->room);
    pthread_mutex_unlock(&e->mu);
    if (e->sender_started)
        pthread_join(e->sender, NULL);
    events_free(e);
}
