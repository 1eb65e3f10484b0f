/*
 * logship — posting the tailer's batches (see logship.h).
 */
#include "agent/logs/logship.h"

#include "agent/logs/lokipost.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/jsonw.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "remote/loki_push.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG            "logs"
#define LOG_EVERY_NS   (60 * 1000000000ll)
#define MAX_RETRY_WAIT (300 * 1000ll)

struct km_logship {
    struct km_logship_opts o;
    struct km_tailer *t;
    char *url;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    int64_t stop_deadline_ns;
    struct km_lokipost *post;
    struct km_buf body;
    unsigned seed;
    /* Under mu. */
    bool up;
    uint64_t req_ok, req_retry, req_rejected, checkpoint_errors;
    int64_t last_ok_ms;
    /* Sender thread only. */
    int64_t last_fail_log_ns;
};

static bool stopping_now(struct km_logship *s, bool hard)
{
    bool r;

    pthread_mutex_lock(&s->mu);
    r = s->stopping && (!hard || km_time_mono_ns() > s->stop_deadline_ns);
    pthread_mutex_unlock(&s->mu);
    return r;
}

static bool abort_request(void *ud)
{
    return stopping_now(ud, true);
}

static int encode_json(struct km_buf *out, const struct km_log_push_stream *st, size_t n)
{
    struct km_jsonw w;
    char ts[24];

    km_buf_reset(out);
    km_jsonw_init(&w, out);
    km_jsonw_obj_begin(&w);
    km_jsonw_key(&w, "streams");
    km_jsonw_arr_begin(&w);
    for (size_t i = 0; i < n; i++) {
        km_jsonw_obj_begin(&w);
        km_jsonw_key(&w, "stream");
        km_jsonw_obj_begin(&w);
        for (size_t k = 0; k < st[i].n_labels; k++) {
            km_jsonw_key(&w, st[i].labels[k].name);
            km_jsonw_str(&w, st[i].labels[k].value);
        }
        km_jsonw_obj_end(&w);
        km_jsonw_key(&w, "values");
        km_jsonw_arr_begin(&w);
        for (size_t e = 0; e < st[i].n_entries; e++) {
            km_jsonw_arr_begin(&w);
            snprintf(ts, sizeof(ts), "%" PRId64, st[i].entries[e].ts_ns);
            km_jsonw_str(&w, ts);
            km_jsonw_strn(&w, st[i].entries[e].line, st[i].entries[e].len);
            km_jsonw_arr_end(&w);
        }
        km_jsonw_arr_end(&w);
        km_jsonw_obj_end(&w);
    }
    km_jsonw_arr_end(&w);
    km_jsonw_obj_end(&w);
    if (km_buf_error(out))
        return km_err_set(km_buf_error(out), "encoding a log batch as JSON failed");
    return 0;
}

/* Wait up to ms, or until stop is asked. */
static void wait_ms(struct km_logship *s, int64_t ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&s->mu);
    if (!s->stopping)
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    pthread_mutex_unlock(&s->mu);
}

/* Deliver s->body: true when it was answered (2xx or a final 4xx, *delivered says
 * which), false when stopping first. */
static bool deliver(struct km_logship *s, uint64_t lines, bool *delivered)
{
    int64_t backoff = 0;

    for (;;) {
        long status;
        char why[KM_LOKIPOST_WHY];
        enum km_lokipost_result r = km_lokipost_send(s->post, &s->body, &status, why);
        int64_t now = km_time_mono_ns(), wait;

        if (r == KM_LOKIPOST_SENT) {
            pthread_mutex_lock(&s->mu);
            if (!s->up)
                km_log_info(LOG, "delivering logs to %s again", s->url);
            s->up = true;
            s->req_ok++;
            s->last_ok_ms = km_time_now_ns() / 1000000;
            pthread_mutex_unlock(&s->mu);
            *delivered = true;
            return true;
        }
        if (r == KM_LOKIPOST_REJECTED) {
            pthread_mutex_lock(&s->mu);
            s->req_rejected++;
            pthread_mutex_unlock(&s->mu);
            km_lokipost_log_rejected(s->post, status, lines, "log lines");
            *delivered = false;
            return true;
        }
        pthread_mutex_lock(&s->mu);
        s->req_retry++;
        if (s->up || now - s->last_fail_log_ns > LOG_EVERY_NS) {
            km_log_warn(LOG, "cannot deliver logs to %s (%s): reading paused, retrying", s->url,
                        why);
            s->last_fail_log_ns = now;
        }
        s->up = false;
        pthread_mutex_unlock(&s->mu);
        backoff = backoff ? backoff * 2 : s->o.backoff_min_ms;
        if (backoff > s->o.backoff_max_ms)
            backoff = s->o.backoff_max_ms;
        wait = backoff / 2 + (int64_t)(rand_r(&s->seed) % (unsigned)(backoff / 2 + 1));
        if (km_lokipost_retry_after_ms(s->post) > wait)
            wait = km_lokipost_retry_after_ms(s->post) < MAX_RETRY_WAIT
                       ? km_lokipost_retry_after_ms(s->post)
                       : MAX_RETRY_WAIT;
        wait_ms(s, wait);
        if (stopping_now(s, false))
            return false;
    }
}

static void checkpoint(struct km_logship *s)
{
    if (km_tailer_checkpoint(s->t) != 0) {
        pthread_mutex_lock(&s->mu);
        if (s->checkpoint_errors++ == 0)
            km_log_error(LOG, "checkpointing log positions: %s", km_err_msg());
        pthread_mutex_unlock(&s->mu);
    }
}

static void *run(void *arg)
{
    struct km_logship *s = arg;
    int64_t next_scan = 0, next_ckpt = km_time_mono_ns() + s->o.checkpoint_ms * 1000000;
    bool dirty = false;

    while (!stopping_now(s, false)) {
        const struct km_log_push_stream *st;
        size_t n;
        uint64_t bytes, lines = 0;
        int64_t now = km_time_mono_ns();
        bool delivered;
        int rc;

        if (now >= next_scan) {
            km_tailer_scan(s->t);
            next_scan = now + s->o.scan_ms * 1000000;
        }
        if (km_tailer_fill(s->t, &st, &n, &bytes) != 0) {
            km_log_error(LOG, "reading logs: %s", km_err_msg());
            wait_ms(s, s->o.poll_ms);
            continue;
        }
        for (size_t i = 0; i < n; i++)
            lines += st[i].n_entries;
        if (n == 0) {
            km_tailer_ack(s->t, true); /* positions past malformed lines, finished files */
            dirty = true;
        } else {
            rc = s->o.json ? encode_json(&s->body, st, n) : km_loki_push_encode(&s->body, st, n);
            if (rc) {
                km_log_error(LOG, "encoding a batch of %" PRIu64 " log lines: %s", lines,
                             km_err_msg());
                km_tailer_ack(s->t, false);
            } else if (!deliver(s, lines, &delivered)) {
                break; /* stopping: not acknowledged, read again after the restart */
            } else {
                km_tailer_ack(s->t, delivered);
            }
            dirty = true;
        }
        now = km_time_mono_ns();
        if (dirty && now >= next_ckpt) {
            checkpoint(s);
            dirty = false;
            next_ckpt = now + s->o.checkpoint_ms * 1000000;
        }
        if (n == 0)
            wait_ms(s, s->o.poll_ms);
    }
    checkpoint(s);
    return NULL;
}

static void free_ship(struct km_logship *s)
{
    km_lokipost_close(s->post);
    km_buf_fini(&s->body);
    free(s->url);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

int km_logship_start(struct km_logship **out, struct km_tailer *t, const struct km_logship_opts *o)
{
    struct km_logship *s = calloc(1, sizeof(*s));
    pthread_condattr_t ca;
    int rc;

    if (!s)
        return km_err_set(KM_ENOMEM, "out of memory");
    s->o = *o;
    s->t = t;
    if (s->o.poll_ms <= 0)
        s->o.poll_ms = 250;
    if (s->o.scan_ms <= 0)
        s->o.scan_ms = 1000;
    if (s->o.checkpoint_ms <= 0)
        s->o.checkpoint_ms = 1000;
    if (s->o.backoff_min_ms <= 0)
        s->o.backoff_min_ms = 500;
    if (s->o.backoff_max_ms < s->o.backoff_min_ms)
        s->o.backoff_max_ms = 5000;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    km_buf_init(&s->body, KM_TAILER_BATCH_MAX * 2u + 1024 * 1024);
    s->seed = (unsigned)km_time_now_ns();
    s->up = true;
    s->url = strdup(o->url);
    if (!s->url) {
        rc = km_err_set(KM_ENOMEM, "out of memory starting the log sender");
        goto out_free;
    }
    rc = km_lokipost_open(&s->post, &(struct km_lokipost_opts){ .url = o->url,
                                                                .auth = o->auth,
                                                                .json = o->json,
                                                                .timeout_ms = o->timeout_ms,
                                                                .abort = abort_request,
                                                                .abort_ud = s });
    if (rc)
        goto out_free;
    if (pthread_create(&s->thread, NULL, run, s) != 0) {
        rc = km_err_set(KM_EIO, "cannot start the log sender thread");
        goto out_free;
    }
    *out = s;
    return 0;

out_free:
    free_ship(s);
    return rc;
}

void km_logship_metrics(struct km_logship *s, struct km_mset *m)
{
    int f;

    pthread_mutex_lock(&s->mu);
    f = km_mset_family(m, "kmon_agent_logs_ship_requests_total",
                       "Log push requests by outcome: delivered, retried (network error, 5xx, "
                       "429), rejected (other 4xx: dropped, logged once a minute).",
                       KM_MT_COUNTER, 0);
    km_mset_add(m, f, &(struct km_label){ "result", "delivered" }, 1, (double)s->req_ok);
    km_mset_add(m, f, &(struct km_label){ "result", "retried" }, 1, (double)s->req_retry);
    km_mset_add(m, f, &(struct km_label){ "result", "rejected" }, 1, (double)s->req_rejected);
    km_mset_gauge(m, "kmon_agent_logs_ship_up", "1 when the last log push succeeded.",
                  s->up ? 1 : 0);
    if (s->last_ok_ms)
        km_mset_gauge(m, "kmon_agent_logs_ship_last_success_timestamp_seconds",
                      "When a log batch was last delivered.", (double)s->last_ok_ms / 1000.0);
    pthread_mutex_unlock(&s->mu);
}

void km_logship_stop(struct km_logship *s, int64_t grace_ms)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    s->stop_deadline_ns = km_time_mono_ns() + grace_ms * 1000000;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    free_ship(s);
}
