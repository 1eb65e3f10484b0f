/*
 * events — the Events watcher: list + watch of events.k8s.io/v1 Events into log lines
 * handed to a sink (see events.h).
 *
 * Two threads:
 *   watcher: a reflector's thread (reflector.c) with this file as its consumer instead
 *            of a store: a paged list, then a watch from its resourceVersion with
 *            bookmarks, a relist on 410 Gone, a jittered backoff on errors, a 403 logged
 *            once and probed again every forbidden_retry_ms. Each ADDED or MODIFIED
 *            Event is decoded; when the map of observations (events_seen.c) says it is
 *            new, its labels and line are copied into one allocation and queued;
 *            DELETED forgets the uid. A list marks what it saw in the map and drops the
 *            rest at its end.
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
 * what is queued, remembering that it missed something; once it leads, the sender asks
 * the reflector for a relist (km_kreflector_relist: the request in flight is cut short),
 * the watcher forgets its map (on_relist) and relists, writing every Event the API holds
 * (duplicates of what the old leader wrote are dropped by the store).
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
    /* The watcher (the reflector's thread, or km_kevents_feed's caller; but the atomics). */
    struct km_kreflector *refl;     /* NULL without a Kubernetes configuration */
    struct km_kreflector_stats st0; /* the statistics without a reflector: zeros */
    struct km_buf line;
    atomic_bool stopping;  /* km_kevents_stop() began */
    atomic_bool missed;    /* something was not written while standing by */
    atomic_size_t tracked; /* seen.n, for other threads */
    struct km_kevents_seen seen;
    bool has_watcher;
    char scratch[KM_KEVENTS_SCRATCH]; /* labels cut to size */
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
    return atomic_load(&e->stopping);
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

/* ---- the watcher: the reflector's consumer ---------------------------------------------- */

static void on_list_begin(void *ud)
{
    struct km_kevents *e = ud;

    km_kevents_seen_begin(&e->seen);
}

static int on_put(void *ud, enum km_watch_type type, const json_t *obj)
{
    handle(ud, type, obj);
    return 0;
}

static void on_list_end(void *ud)
{
    struct km_kevents *e = ud;

    km_kevents_seen_end(&e->seen);
    atomic_store(&e->tracked, e->seen.n);
}

/* A relist the sender asked for: forget what was written (the last leader wrote it, or
 * nobody did). */
static void on_relist(void *ud)
{
    struct km_kevents *e = ud;

    km_kevents_seen_clear(&e->seen);
    atomic_store(&e->tracked, e->seen.n);
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
            km_kreflector_relist(e->refl);
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
    atomic_store(&e->stopping, true); /* a watcher waiting for room drops instead */
    km_kreflector_stop(e->refl);
    km_buf_fini(&e->line);
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

/* The watcher: a reflector of Events into on_put (before the sender starts, which reads
 * e->refl). */
static int start_watcher(struct km_kevents *e, const struct km_kube_config *cfg)
{
    static const struct km_kreflector_consumer c0 = { on_list_begin, on_put, on_list_end, on_relist,
                                                      NULL };
    struct km_kreflector_consumer c = c0;
    struct km_kreflector_opts ro = {
        .watch_timeout_s = e->o.watch_timeout_s,
        .page_limit = e->o.page_limit,
        .forbidden_retry_ms = e->o.forbidden_retry_ms,
        .backoff_min_ms = e->o.backoff_min_ms,
        .backoff_max_ms = e->o.backoff_max_ms,
        .max_page_bytes = MAX_PAGE_BYTES,
        .max_event_bytes = MAX_EVENT_BYTES,
    };
    char msg[512];
    struct km_kreflector_target t = { "events", e->o.path, msg };

    snprintf(msg, sizeof(msg),
             "forbidden: cannot list events.k8s.io/events; Kubernetes Events are not written to "
             "the logs (the ClusterRole needs list,watch on events, apiGroups: "
             "[\"events.k8s.io\"]); asking again every %lld s",
             (long long)(e->o.forbidden_retry_ms / 1000));
    c.ud = e;
    return km_kreflector_start_consumer(&e->refl, &t, &c, cfg, &ro);
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
    km_buf_init(&e->line, KM_KEVENTS_MAX_LINE);
    km_kevents_seen_init(&e->seen, o->max_tracked);
    km_kube_backoff_init(&e->sink_backoff, e->o.backoff_min_ms, e->o.backoff_max_ms,
                         (uint64_t)km_time_mono_ns() ^ ((uintptr_t)e >> 4));
    e->sink_log.period_ns = 60 * 1000000000ll;
    e->q = calloc(e->o.max_queued, sizeof(*e->q));
    if (!e->q || (o->cluster && *o->cluster && !(e->cluster = strdup(o->cluster)))) {
        rc = km_err_set(KM_ENOMEM, "out of memory");
        goto out_free;
    }
    e->has_watcher = cfg != NULL;
    if (cfg) {
        rc = start_watcher(e, cfg);
        if (rc)
            goto out_free;
    }
    if (pthread_create(&e->sender, NULL, sender_run, e) != 0) {
        rc = km_err_set(KM_ENOMEM, "cannot start the Events sender's thread");
        goto out_free;
    }
    e->sender_started = true;
    *out = e;
    return 0;

out_free:
    events_free(e);
    return rc;
}

const struct km_kreflector_stats *km_kevents_stats(const struct km_kevents *e)
{
    return e->refl ? km_kreflector_stats(e->refl) : &e->st0;
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
                NULL, 0, atomic_load(&km_kevents_stats(e)->forbidden) ? 1.0 : 0.0);
}

void km_kevents_stop(struct km_kevents *e)
{
    if (!e)
        return;
    atomic_store(&e->stopping, true);
    km_kreflector_halt(e->refl);
    pthread_mutex_lock(&e->mu);
    e->stop = true;
    pthread_cond_broadcast(&e->wake);
    pthread_cond_broadcast(&e->room);
    pthread_mutex_unlock(&e->mu);
    if (e->sender_started)
        pthread_join(e->sender, NULL);
    events_free(e);
}
