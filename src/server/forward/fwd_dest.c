/*
 * fwd_dest — one destination's queue, spool and sender thread (see fwd_dest.h).
 */
#include "server/forward/fwd_dest.h"

#include "agent/ship/spool.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/mset.h"
#include "common/timefmt.h"
#include "remote/rw_codec.h"
#include "remote/rw_decode.h"
#include "server/forward/fwd_send.h"
#include "server/forward/relabel.h"
#include "storage/sample.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOG "forward"

enum drop_reason {
    DROP_RELABEL,
    DROP_QUEUE_FULL,
    DROP_SPOOL_FULL,
    DROP_REJECTED,
    DROP_SPOOL_ERROR,
    DROP_COUNT
};
static const char *const drop_names[DROP_COUNT] = { "relabel", "queue_full", "spool_full",
                                                    "rejected", "spool_error" };

struct entry {
    struct km_labels *l;
    int64_t t;
    double v;
};

struct km_fwd_dest {
    const struct km_fwd_dest_cfg *cfg;
    /* The queue: a ring, under mu. */
    pthread_mutex_t mu;
    pthread_cond_t wake;
    struct entry *ring;
    size_t cap, head, len;
    int64_t first_ns; /* monotonic time the oldest waiting sample arrived */
    atomic_bool stop;
    bool started;
    pthread_t thread;
    /* The sender's own. */
    struct km_spool *spool;
    struct km_fwd_http *http;
    struct entry *batch;
    struct km_rw_ts *ts;
    struct km_buf pb, body, scratch;
    int64_t backoff_ms, next_try_ns;
    /* Figures. */
    atomic_uint_fast64_t sent, failed, retries, dropped[DROP_COUNT];
    atomic_uint_fast64_t spool_bytes, spool_samples;
    atomic_int_fast64_t last_send_ms, highest_sent_ms, highest_queued_ms;
    struct km_log_limit warn_log;
};

static void atomic_max(atomic_int_fast64_t *a, int64_t v)
{
    int64_t cur = atomic_load(a);

    while (v > cur && !atomic_compare_exchange_weak(a, &cur, v))
        ;
}

/* ---- ingest's side --------------------------------------------------------------------------- */

/* Enqueue e[0..n) under one lock; what does not fit is dropped. */
static void enqueue(struct km_fwd_dest *q, struct entry *e, size_t n)
{
    size_t k = 0, before;
    int64_t newest = INT64_MIN;

    pthread_mutex_lock(&q->mu);
    before = q->len;
    for (; k < n && q->len < q->cap; k++) {
        q->ring[(q->head + q->len++) % q->cap] = e[k];
        if (e[k].t > newest)
            newest = e[k].t;
    }
    if (before == 0 && k)
        q->first_ns = km_time_mono_ns();
    if ((before == 0 && k) ||
        (before < q->cfg->max_samples_per_send && q->len >= q->cfg->max_samples_per_send) ||
        (before <= q->cap / 2 && q->len > q->cap / 2))
        pthread_cond_signal(&q->wake);
    pthread_mutex_unlock(&q->mu);
    for (size_t i = k; i < n; i++)
        km_labels_destroy(e[i].l);
    atomic_fetch_add(&q->dropped[DROP_QUEUE_FULL], n - k);
    atomic_max(&q->highest_queued_ms, newest);
}

void km_fwd_dest_push(struct km_fwd_dest *q, const struct km_sample *s, size_t n,
                      const enum km_sample_status *st, struct km_relabel_scratch *sc)
{
    struct entry e[256];
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        struct km_labels *l;

        if (st && st[i] != KM_SAMPLE_APPENDED)
            continue;
        if (!km_relabel_apply(q->cfg->relabel, q->cfg->nrelabel, s[i].labels, s[i].nlabels, sc)) {
            atomic_fetch_add(&q->dropped[DROP_RELABEL], 1);
            continue;
        }
        if (km_labels_create_sorted(&l, sc->v, sc->n) != 0) {
            atomic_fetch_add(&q->dropped[DROP_QUEUE_FULL], 1);
            continue;
        }
        e[k++] = (struct entry){ l, s[i].t, s[i].v };
        if (k == sizeof(e) / sizeof(e[0])) {
            enqueue(q, e, k);
            k = 0;
        }
    }
    if (k)
        enqueue(q, e, k);
}

/* ---- the sender ------------------------------------------------------------------------------ */

/* Take up to max of the oldest samples into q->batch. */
static size_t take(struct km_fwd_dest *q, size_t max)
{
    size_t n;

    pthread_mutex_lock(&q->mu);
    n = q->len < max ? q->len : max;
    for (size_t i = 0; i < n; i++)
        q->batch[i] = q->ring[(q->head + i) % q->cap];
    q->head = (q->head + n) % q->cap;
    q->len -= n;
    if (q->len)
        q->first_ns = km_time_mono_ns();
    pthread_mutex_unlock(&q->mu);
    return n;
}

/* Encode batch[0..n) into q->body (freeing their labels); the newest timestamp. */
static int encode(struct km_fwd_dest *q, size_t n, int64_t *max_t)
{
    int rc;

    *max_t = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        q->ts[i] = (struct km_rw_ts){ q->batch[i].l->v, q->batch[i].l->n, &q->batch[i].t,
                                      &q->batch[i].v, 1 };
        if (q->batch[i].t > *max_t)
            *max_t = q->batch[i].t;
    }
    km_buf_reset(&q->pb);
    rc = km_rw_encode(&q->pb, q->ts, n);
    if (rc == 0)
        rc = km_rw_compress(&q->body, q->pb.data, q->pb.len);
    for (size_t i = 0; i < n; i++)
        km_labels_destroy(q->batch[i].l);
    return rc;
}

static void note_spool(struct km_fwd_dest *q)
{
    struct km_spool_stats st;

    km_spool_stats(q->spool, &st);
    atomic_store(&q->spool_bytes, st.bytes);
    atomic_store(&q->spool_samples, st.samples);
}

/* Append q->body (n samples) to the spool. */
static void spool_body(struct km_fwd_dest *q, size_t n)
{
    uint64_t dropped = 0;

    if (km_spool_push(q->spool, q->body.data, q->body.len, (uint32_t)n, &dropped) != 0) {
        km_log_error(LOG, "%s: spooling %zu samples: %s", q->cfg->name, n, km_err_msg());
        atomic_fetch_add(&q->dropped[DROP_SPOOL_ERROR], n);
    }
    atomic_fetch_add(&q->dropped[DROP_SPOOL_FULL], dropped);
    note_spool(q);
}

/* Move everything in the queue to the spool's end. */
static void spill(struct km_fwd_dest *q)
{
    size_t n;
    int64_t max_t;

    while ((n = take(q, q->cfg->max_samples_per_send)) > 0) {
        if (encode(q, n, &max_t) != 0) {
            atomic_fetch_add(&q->dropped[DROP_SPOOL_ERROR], n);
            continue;
        }
        spool_body(q, n);
    }
}

static void warn(struct km_fwd_dest *q, const char *what, size_t n, const char *why)
{
    uint64_t held;

    if (km_log_limit_take(&q->warn_log, &held))
        km_log_warn(LOG, "remote_write to %s: %s %zu samples: %s (%llu more such messages held)",
                    q->cfg->url_label, what, n, why, (unsigned long long)held);
}

static void backoff(struct km_fwd_dest *q, int64_t retry_after_ms)
{
    int64_t ms;

    q->backoff_ms = q->backoff_ms ? q->backoff_ms * 2 : q->cfg->min_backoff_ms;
    if (q->backoff_ms > q->cfg->max_backoff_ms)
        q->backoff_ms = q->cfg->max_backoff_ms;
    ms = retry_after_ms > q->backoff_ms ? retry_after_ms : q->backoff_ms;
    q->next_try_ns = km_time_mono_ns() + ms * 1000000;
    atomic_fetch_add(&q->retries, 1);
}

/* The newest timestamp of a spooled request. */
static int newest_cb(void *ud, const struct km_rw_series *s)
{
    struct km_rw_sample_it it;
    int64_t t;
    double v;

    km_rw_samples_init(&it, s);
    while (km_rw_samples_next(&it, &t, &v))
        if (t > *(int64_t *)ud)
            *(int64_t *)ud = t;
    return 0;
}

static int64_t newest_of(struct km_fwd_dest *q)
{
    int64_t t = INT64_MIN;
    struct km_rw_stats st;

    if (km_rw_uncompress(&q->scratch, q->body.data, q->body.len, (size_t)1 << 30) == 0)
        km_rw_decode((const uint8_t *)q->scratch.data, q->scratch.len, newest_cb, &t, &st);
    return t;
}

/* Send q->body of n samples; what came of it. */
static enum km_fwd_outcome send_body(struct km_fwd_dest *q, size_t n, int64_t max_t,
                                     int64_t *retry_after_ms)
{
    char why[600];
    enum km_fwd_outcome o =
        km_fwd_http_post(q->http, q->body.data, q->body.len, retry_after_ms, why, sizeof(why));

    switch (o) {
    case KM_FWD_SENT:
        atomic_fetch_add(&q->sent, n);
        atomic_store(&q->last_send_ms, km_time_now_ns() / 1000000);
        atomic_max(&q->highest_sent_ms, max_t);
        q->backoff_ms = 0;
        break;
    case KM_FWD_RETRY:
        atomic_fetch_add(&q->failed, n);
        if (!atomic_load(&q->stop))
            warn(q, "will retry", n, why);
        break;
    case KM_FWD_REJECTED:
        atomic_fetch_add(&q->failed, n);
        atomic_fetch_add(&q->dropped[DROP_REJECTED], n);
        warn(q, "rejected, dropped", n, why);
        break;
    }
    return o;
}

/* The oldest spooled request, once its backoff has passed. */
static void send_spooled(struct km_fwd_dest *q)
{
    uint32_t n = 0;
    uint64_t dropped = 0;
    int64_t retry_after_ms;
    int rc = km_spool_peek(q->spool, &q->body, &n, &dropped);

    atomic_fetch_add(&q->dropped[DROP_SPOOL_ERROR], dropped);
    if (rc == KM_ENOTFOUND)
        return;
    if (rc) {
        km_log_error(LOG, "%s: reading the spool: %s", q->cfg->name, km_err_msg());
        q->next_try_ns = km_time_mono_ns() + q->cfg->max_backoff_ms * 1000000;
        return;
    }
    switch (send_body(q, n, newest_of(q), &retry_after_ms)) {
    case KM_FWD_RETRY:
        backoff(q, retry_after_ms);
        return;
    case KM_FWD_SENT:
    case KM_FWD_REJECTED:
        if (km_spool_pop(q->spool) != 0)
            km_log_error(LOG, "%s: spool: %s", q->cfg->name, km_err_msg());
        note_spool(q);
        return;
    }
}

/* A batch from the queue (the spool being empty). */
static void send_queued(struct km_fwd_dest *q, size_t n)
{
    int64_t max_t, retry_after_ms;

    if (encode(q, n, &max_t) != 0) {
        atomic_fetch_add(&q->dropped[DROP_SPOOL_ERROR], n);
        return;
    }
    if (send_body(q, n, max_t, &retry_after_ms) == KM_FWD_RETRY) {
        spool_body(q, n); /* the oldest waiting: it goes first */
        backoff(q, retry_after_ms);
    }
}

static void wait_until(struct km_fwd_dest *q, int64_t mono_ns)
{
    int64_t now = km_time_mono_ns();
    struct timespec ts;

    if (mono_ns <= now)
        return;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (mono_ns - now) / 1000000000;
    ts.tv_nsec += (mono_ns - now) % 1000000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&q->wake, &q->mu, &ts);
}

static void *run(void *arg)
{
    struct km_fwd_dest *q = arg;
    const struct km_fwd_dest_cfg *c = q->cfg;
    int64_t deadline_ns = c->batch_send_deadline_ms * 1000000;

    while (!atomic_load(&q->stop)) {
        bool spooled = !km_spool_empty(q->spool), full, due;
        size_t n;

        pthread_mutex_lock(&q->mu);
        full = q->len >= c->max_samples_per_send;
        due = q->len && km_time_mono_ns() >= q->first_ns + deadline_ns;
        if (q->len > q->cap / 2 || (spooled && (full || due))) {
            pthread_mutex_unlock(&q->mu);
            spill(q);
            continue;
        }
        if (spooled) {
            if (km_time_mono_ns() < q->next_try_ns) {
                wait_until(q, q->next_try_ns);
                pthread_mutex_unlock(&q->mu);
                continue;
            }
            pthread_mutex_unlock(&q->mu);
            send_spooled(q);
            continue;
        }
        if (q->len == 0) {
            pthread_cond_wait(&q->wake, &q->mu);
            pthread_mutex_unlock(&q->mu);
            continue;
        }
        if (!full && !due) {
            wait_until(q, q->first_ns + deadline_ns);
            pthread_mutex_unlock(&q->mu);
            continue;
        }
        pthread_mutex_unlock(&q->mu);
        n = take(q, c->max_samples_per_send);
        if (n)
            send_queued(q, n);
    }
    spill(q);
    return NULL;
}

/* ---- life cycle ------------------------------------------------------------------------------ */

static void dest_free(struct km_fwd_dest *q)
{
    for (size_t i = 0; i < q->len; i++)
        km_labels_destroy(q->ring[(q->head + i) % q->cap].l);
    free(q->ring);
    free(q->batch);
    free(q->ts);
    km_buf_fini(&q->pb);
    km_buf_fini(&q->body);
    km_buf_fini(&q->scratch);
    km_fwd_http_destroy(q->http);
    km_spool_close(q->spool);
    pthread_cond_destroy(&q->wake);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

int km_fwd_dest_start(struct km_fwd_dest **out, const struct km_fwd_dest_cfg *d, const char *dir,
                      uint64_t spool_max)
{
    struct km_fwd_dest *q = calloc(1, sizeof(*q));
    pthread_condattr_t ca;
    int rc;

    if (!q)
        return km_err_set(KM_ENOMEM, "out of memory");
    q->cfg = d;
    q->cap = d->capacity;
    pthread_mutex_init(&q->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->wake, &ca);
    pthread_condattr_destroy(&ca);
    q->warn_log.period_ns = 30 * 1000000000ll;
    km_buf_init(&q->pb, 0);
    km_buf_init(&q->body, 0);
    km_buf_init(&q->scratch, 0);
    atomic_store(&q->highest_sent_ms, INT64_MIN);
    atomic_store(&q->highest_queued_ms, INT64_MIN);
    q->ring = calloc(q->cap, sizeof(*q->ring));
    q->batch = calloc(d->max_samples_per_send, sizeof(*q->batch));
    q->ts = calloc(d->max_samples_per_send, sizeof(*q->ts));
    if (!q->ring || !q->batch || !q->ts) {
        dest_free(q);
        return km_err_set(KM_ENOMEM, "out of memory for the queue of %s", d->url_label);
    }
    rc = km_spool_open(&q->spool, dir, spool_max);
    if (rc) {
        dest_free(q);
        return km_err_wrap(rc, "the forwarding spool of %s", d->url_label);
    }
    note_spool(q);
    rc = km_fwd_http_create(&q->http, d, &q->stop);
    if (rc == 0 && pthread_create(&q->thread, NULL, run, q) != 0)
        rc = km_err_set(KM_ENOMEM, "cannot start the sender thread of %s", d->url_label);
    if (rc) {
        dest_free(q);
        return rc;
    }
    q->started = true;
    *out = q;
    return 0;
}

void km_fwd_dest_stop(struct km_fwd_dest *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->mu);
    atomic_store(&q->stop, true);
    pthread_cond_signal(&q->wake);
    pthread_mutex_unlock(&q->mu);
    if (q->started)
        pthread_join(q->thread, NULL);
    dest_free(q);
}

void km_fwd_dest_metrics(struct km_fwd_dest *q, struct km_mset *m, const int *fam)
{
    struct km_label l[3] = { { "remote_name", q->cfg->name }, { "url", q->cfg->url_label } };
    size_t len;
    int64_t t;

    pthread_mutex_lock(&q->mu);
    len = q->len;
    pthread_mutex_unlock(&q->mu);
    km_mset_add(m, fam[KM_FWD_F_SENT], l, 2, (double)atomic_load(&q->sent));
    km_mset_add(m, fam[KM_FWD_F_FAILED], l, 2, (double)atomic_load(&q->failed));
    for (int i = 0; i < DROP_COUNT; i++) {
        l[2] = (struct km_label){ "reason", drop_names[i] };
        km_mset_add(m, fam[KM_FWD_F_DROPPED], l, 3, (double)atomic_load(&q->dropped[i]));
    }
    km_mset_add(m, fam[KM_FWD_F_RETRIES], l, 2, (double)atomic_load(&q->retries));
    km_mset_add(m, fam[KM_FWD_F_QUEUE], l, 2, (double)len);
    km_mset_add(m, fam[KM_FWD_F_QUEUE_CAP], l, 2, (double)q->cap);
    km_mset_add(m, fam[KM_FWD_F_SPOOL_BYTES], l, 2, (double)atomic_load(&q->spool_bytes));
    km_mset_add(m, fam[KM_FWD_F_SPOOL_SAMPLES], l, 2, (double)atomic_load(&q->spool_samples));
    if ((t = atomic_load(&q->last_send_ms)) != 0)
        km_mset_add(m, fam[KM_FWD_F_LAST_SEND], l, 2, (double)t / 1000.0);
    if ((t = atomic_load(&q->highest_sent_ms)) != INT64_MIN)
        km_mset_add(m, fam[KM_FWD_F_HIGHEST_SENT], l, 2, (double)t / 1000.0);
    if ((t = atomic_load(&q->highest_queued_ms)) != INT64_MIN)
        km_mset_add(m, fam[KM_FWD_F_HIGHEST_QUEUED], l, 2, (double)t / 1000.0);
}
