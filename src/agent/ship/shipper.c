/*
 * shipper — the agent's remote_write sender (see shipper.h).
 *
 * Order is kept by one rule: while the spool holds anything, new requests join it
 * behind what is there; only with an empty spool do they wait in the memory queue, and
 * only the sender moves that queue (all of it, in order) into the spool, when a
 * delivery fails retryably. So the memory queue is empty whenever the spool is not,
 * and the sender, which takes the spool's oldest request first, sends in order.
 */
#include "agent/ship/shipper.h"

#include "agent/ship/spool.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/httpc_auth.h"
#include "common/log.h"
#include "common/mset.h"
#include "common/timefmt.h"
#include "version.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LOG            "ship"
#define QUEUE_MAX      720 /* requests in memory: an hour of 5 s collections */
#define REPLY_MAX      2048
#define MESSAGE_MAX    300 /* of a refusal's reply, in the log */
#define LOG_EVERY_NS   (60 * 1000000000ll)
#define MAX_RETRY_WAIT (300 * 1000ll)

struct req {
    uint8_t *body;
    size_t len;
    uint32_t samples;
};

enum outcome { SENT, RETRY, REJECTED };

struct km_shipper {
    struct km_ship_opts o;
    char *url;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    int64_t stop_deadline_ns; /* mono; stop trying after this */
    /* Under mu. */
    struct km_spool *spool;
    struct req *q; /* ring */
    size_t qcap, qhead, qlen;
    bool sending_head; /* the sender is posting q's head */
    uint64_t dropped;
    /* Sender state (sender thread only, read by metrics under mu). */
    CURL *curl;
    struct curl_slist *headers;
    struct km_buf body, reply;
    int64_t backoff_ms;
    int64_t retry_at_ns;
    int64_t retry_after_ms; /* from the last reply's Retry-After */
    unsigned seed;
    bool up;
    int64_t last_ok_ms, last_log_ns;
    int64_t last_reject_log_ns; /* mono; refusals are logged once a minute */
    uint64_t rejects_unlogged;  /* refusals since that line */
    uint64_t req_ok, req_retry, req_rejected, smp_ok, smp_rejected;
};

/* ---- queue ---------------------------------------------------------------------------- */

static struct req *q_at(struct km_shipper *sh, size_t i)
{
    return &sh->q[(sh->qhead + i) % sh->qcap];
}

static void q_pop(struct km_shipper *sh)
{
    free(q_at(sh, 0)->body);
    sh->qhead = (sh->qhead + 1) % sh->qcap;
    sh->qlen--;
}

/* Under mu: move the memory queue into the spool, oldest first. */
static void spill(struct km_shipper *sh)
{
    while (sh->spool && sh->qlen) {
        struct req *r = q_at(sh, 0);

        if (km_spool_push(sh->spool, r->body, r->len, r->samples, &sh->dropped) != 0) {
            km_log_error(LOG, "spooling a request failed (%s): its %u samples are dropped",
                         km_err_msg(), r->samples);
            sh->dropped += r->samples;
        }
        q_pop(sh);
    }
}

void km_shipper_submit(struct km_shipper *sh, const void *body, size_t len, uint32_t samples)
{
    struct req r = { malloc(len ? len : 1), len, samples };

    if (!r.body) {
        km_log_error(LOG, "out of memory: %u samples dropped", samples);
        pthread_mutex_lock(&sh->mu);
        sh->dropped += samples;
        pthread_mutex_unlock(&sh->mu);
        return;
    }
    memcpy(r.body, body, len);
    pthread_mutex_lock(&sh->mu);
    if (sh->spool && !km_spool_empty(sh->spool)) {
        /* Behind what waits on disk. */
        if (km_spool_push(sh->spool, r.body, r.len, r.samples, &sh->dropped) != 0) {
            km_log_error(LOG, "spooling a request failed (%s): its %u samples are dropped",
                         km_err_msg(), r.samples);
            sh->dropped += r.samples;
        }
        free(r.body);
    } else {
        if (sh->qlen == sh->qcap) {
            /* Full (no spool, or a delivery stuck that long): the oldest not being sent
             * goes. */
            size_t victim = sh->sending_head ? 1 : 0;
            struct req *v = q_at(sh, victim);

            sh->dropped += v->samples;
            free(v->body);
            if (victim)
                *v = *q_at(sh, 0);
            sh->qhead = (sh->qhead + 1) % sh->qcap;
            sh->qlen--;
        }
        *q_at(sh, sh->qlen) = r;
        sh->qlen++;
    }
    pthread_cond_signal(&sh->cv);
    pthread_mutex_unlock(&sh->mu);
}

/* ---- HTTP ---------------------------------------------------------------------------- */

static size_t on_reply(char *p, size_t size, size_t n, void *ud)
{
    struct km_shipper *sh = ud;
    size_t len = size * n;

    if (sh->reply.len < REPLY_MAX)
        km_buf_append(&sh->reply, p,
                      len < REPLY_MAX - sh->reply.len ? len : REPLY_MAX - sh->reply.len);
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct km_shipper *sh = ud;
    size_t len = size * n;

    /* Seconds only; an HTTP-date falls back to the backoff. */
    if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        long long secs = atoll(p + 12);

        if (secs > 0)
            sh->retry_after_ms = secs * 1000;
    }
    return len;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    struct km_shipper *sh = ud;
    int abort_now;

    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    pthread_mutex_lock(&sh->mu);
    abort_now = sh->stopping && km_time_mono_ns() > sh->stop_deadline_ns;
    pthread_mutex_unlock(&sh->mu);
    return abort_now;
}

static enum outcome post(struct km_shipper *sh, const struct km_buf *body, long *status, char *why,
                         size_t whysize)
{
    struct curl_slist *headers;
    CURLcode cc;
    int rc;

    km_buf_reset(&sh->reply);
    sh->retry_after_ms = 0;
    *status = 0;
    rc = km_httpc_auth_headers(sh->o.auth, sh->curl, sh->headers, &headers);
    if (rc == KM_ENOMEM) {
        snprintf(why, whysize, "%s", km_err_msg());
        return RETRY;
    }
    if (rc) /* the token file changed into something unusable: once per change */
        km_log_error(LOG, "%s", km_err_msg());
    curl_easy_setopt(sh->curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(sh->curl, CURLOPT_POSTFIELDS, body->data);
    curl_easy_setopt(sh->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    cc = curl_easy_perform(sh->curl);
    curl_easy_setopt(sh->curl, CURLOPT_HTTPHEADER, sh->headers);
    curl_slist_free_all(headers);
    if (cc != CURLE_OK) {
        snprintf(why, whysize, "%s", curl_easy_strerror(cc));
        return RETRY;
    }
    curl_easy_getinfo(sh->curl, CURLINFO_RESPONSE_CODE, status);
    snprintf(why, whysize, "HTTP %ld: %.*s", *status, (int)sh->reply.len,
             sh->reply.data ? sh->reply.data : "");
    if (*status >= 200 && *status < 300)
        return SENT;
    if (*status == 429 || *status >= 500 || *status < 200)
        return RETRY;
    return REJECTED;
}

/* ---- the sender ---------------------------------------------------------------------- */

/* Under mu: the next request into sh->body; false when there is none. */
static bool next_request(struct km_shipper *sh, bool *from_spool, uint32_t *samples)
{
    *from_spool = false;
    if (sh->spool && !km_spool_empty(sh->spool)) {
        if (km_spool_peek(sh->spool, &sh->body, samples, &sh->dropped) == 0) {
            *from_spool = true;
            return true;
        }
    }
    if (!sh->qlen)
        return false;
    km_buf_reset(&sh->body);
    km_buf_append(&sh->body, q_at(sh, 0)->body, q_at(sh, 0)->len);
    *samples = q_at(sh, 0)->samples;
    return !km_buf_error(&sh->body);
}

static void note_failure(struct km_shipper *sh, const char *why, uint32_t samples)
{
    int64_t now = km_time_mono_ns(), wait;

    sh->req_retry++;
    sh->backoff_ms = sh->backoff_ms ? sh->backoff_ms * 2 : sh->o.backoff_min_ms;
    if (sh->backoff_ms > sh->o.backoff_max_ms)
        sh->backoff_ms = sh->o.backoff_max_ms;
    /* Full jitter over the upper half, so agents restarted together spread out. */
    wait = sh->backoff_ms / 2 + (int64_t)(rand_r(&sh->seed) % (unsigned)(sh->backoff_ms / 2 + 1));
    if (sh->retry_after_ms > wait)
        wait = sh->retry_after_ms < MAX_RETRY_WAIT ? sh->retry_after_ms : MAX_RETRY_WAIT;
    sh->retry_at_ns = now + wait * 1000000;
    if (sh->up || now - sh->last_log_ns > LOG_EVERY_NS) {
        km_log_warn(LOG, "cannot deliver to %s (%s): %u samples kept%s, retrying in %.1f s",
                    sh->url, why, samples, sh->spool ? " in the spool" : " in memory",
                    (double)wait / 1000.0);
        sh->last_log_ns = now;
    }
    sh->up = false;
}

/* The server's message in a reply: the "error" sentence of a JSON error body, else the
 * body itself; at most MESSAGE_MAX bytes (cut before a UTF-8 continuation byte, "…"
 * appended), control characters as spaces, so it stays one log line. */
static void reply_message(const struct km_buf *reply, char *out, size_t size)
{
    const char *msg = reply->data ? reply->data : "";
    size_t len = reply->len, n;
    json_t *doc = json_loadb(msg, len, 0, NULL);
    const json_t *err = json_object_get(doc, "error");

    if (json_is_string(err)) {
        msg = json_string_value(err);
        len = json_string_length(err);
    }
    n = len < MESSAGE_MAX ? len : MESSAGE_MAX;
    while (n < len && n > 0 && ((unsigned char)msg[n] & 0xC0) == 0x80)
        n--;
    if (n >= size)
        n = size - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)msg[i] < 0x20 || msg[i] == 0x7f ? ' ' : msg[i];
    out[n] = '\0';
    if (n < len && n + 4 <= size)
        memcpy(out + n, "\xe2\x80\xa6", 4); /* … */
    json_decref(doc);
}

/* A 4xx other than 429: the server will not take the request (or took only part of it,
 * saying in its reply what it refused and why). Not retried; counted, and logged at
 * most once a minute with the server's message. */
static void note_rejection(struct km_shipper *sh, long status, uint32_t samples)
{
    int64_t now = km_time_mono_ns();
    char msg[MESSAGE_MAX + 4], more[80] = "";

    sh->req_rejected++;
    sh->smp_rejected += samples;
    if (sh->last_reject_log_ns && now - sh->last_reject_log_ns < LOG_EVERY_NS) {
        sh->rejects_unlogged++;
        return;
    }
    reply_message(&sh->reply, msg, sizeof(msg));
    if (sh->rejects_unlogged)
        snprintf(more, sizeof(more), " (%" PRIu64 " more rejected since the last such message)",
                 sh->rejects_unlogged);
    km_log_warn(LOG, "%s answered HTTP %ld to a request of %u samples, which is not retried%s: %s",
                sh->url, status, samples, more, msg);
    sh->last_reject_log_ns = now;
    sh->rejects_unlogged = 0;
}

static void *sender(void *arg)
{
    struct km_shipper *sh = arg;

    pthread_mutex_lock(&sh->mu);
    for (;;) {
        bool from_spool;
        uint32_t samples = 0;
        enum outcome res;
        long status;
        char why[REPLY_MAX + 64];

        if (sh->stopping && (km_time_mono_ns() > sh->stop_deadline_ns || !sh->qlen))
            break;
        if (!sh->stopping && sh->retry_at_ns > km_time_mono_ns()) {
            struct timespec ts;
            int64_t wait = sh->retry_at_ns - km_time_mono_ns();

            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += wait / 1000000000;
            ts.tv_nsec += wait % 1000000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&sh->cv, &sh->mu, &ts);
            continue;
        }
        if (!next_request(sh, &from_spool, &samples)) {
            if (sh->stopping)
                break;
            pthread_cond_wait(&sh->cv, &sh->mu);
            continue;
        }
        if (sh->stopping && from_spool)
            break; /* it is safe on disk already */
        sh->sending_head = !from_spool;
        pthread_mutex_unlock(&sh->mu);
        res = post(sh, &sh->body, &status, why, sizeof(why));
        pthread_mutex_lock(&sh->mu);
        sh->sending_head = false;
        switch (res) {
        case SENT:
        case REJECTED:
            if (res == SENT) {
                sh->req_ok++;
                sh->smp_ok += samples;
                sh->last_ok_ms = km_time_now_ns() / 1000000;
                if (!sh->up && sh->req_retry)
                    km_log_info(LOG, "delivering to %s again", sh->url);
                sh->up = true;
                sh->backoff_ms = 0;
            } else {
                note_rejection(sh, status, samples);
            }
            if (from_spool)
                km_spool_pop(sh->spool);
            else
                q_pop(sh);
            break;
        case RETRY:
            note_failure(sh, why, samples);
            if (!from_spool)
                spill(sh);
            if (sh->stopping)
                goto out_unlock;
            break;
        }
    }
out_unlock:
    spill(sh); /* what could not be delivered in time waits on disk */
    pthread_mutex_unlock(&sh->mu);
    return NULL;
}

/* ---- life cycle ----------------------------------------------------------------------- */

static void free_shipper(struct km_shipper *sh)
{
    while (sh->qlen)
        q_pop(sh);
    free(sh->q);
    km_spool_close(sh->spool);
    if (sh->curl)
        curl_easy_cleanup(sh->curl);
    curl_slist_free_all(sh->headers);
    km_buf_fini(&sh->body);
    km_buf_fini(&sh->reply);
    free(sh->url);
    pthread_mutex_destroy(&sh->mu);
    pthread_cond_destroy(&sh->cv);
    free(sh);
}

static void init_curl(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int km_shipper_start(struct km_shipper **out, const struct km_ship_opts *o)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    struct km_shipper *sh = calloc(1, sizeof(*sh));
    int rc = 0;

    if (!sh)
        return km_err_set(KM_ENOMEM, "out of memory");
    pthread_once(&once, init_curl);
    sh->o = *o;
    pthread_mutex_init(&sh->mu, NULL);
    {
        pthread_condattr_t ca;

        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&sh->cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    km_buf_init(&sh->body, 0);
    km_buf_init(&sh->reply, 0);
    sh->seed = (unsigned)km_time_now_ns();
    sh->up = true;
    sh->url = strdup(o->url);
    sh->qcap = QUEUE_MAX;
    sh->q = calloc(sh->qcap, sizeof(*sh->q));
    sh->curl = curl_easy_init();
    if (!sh->url || !sh->q || !sh->curl) {
        rc = km_err_set(KM_ENOMEM, "out of memory starting the shipper");
        goto out_free;
    }
    if (o->spool_dir && *o->spool_dir) {
        rc = km_spool_open(&sh->spool, o->spool_dir, o->spool_max);
        if (rc)
            goto out_free;
    }
    sh->headers = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
    sh->headers = curl_slist_append(sh->headers, "Content-Encoding: snappy");
    sh->headers = curl_slist_append(sh->headers, "X-Prometheus-Remote-Write-Version: 0.1.0");
    sh->headers = curl_slist_append(sh->headers, "Expect:"); /* no 100-continue round trip */
    if (!sh->headers) {
        rc = km_err_set(KM_ENOMEM, "out of memory starting the shipper");
        goto out_free;
    }
    curl_easy_setopt(sh->curl, CURLOPT_URL, sh->url);
    curl_easy_setopt(sh->curl, CURLOPT_POST, 1L);
    curl_easy_setopt(sh->curl, CURLOPT_HTTPHEADER, sh->headers);
    curl_easy_setopt(sh->curl, CURLOPT_USERAGENT, "kmon-agent/" KMON_VERSION);
    curl_easy_setopt(sh->curl, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
    curl_easy_setopt(sh->curl, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(o->timeout_ms < 5000 ? o->timeout_ms : 5000));
    curl_easy_setopt(sh->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(sh->curl, CURLOPT_WRITEFUNCTION, on_reply);
    curl_easy_setopt(sh->curl, CURLOPT_WRITEDATA, sh);
    curl_easy_setopt(sh->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(sh->curl, CURLOPT_HEADERDATA, sh);
    curl_easy_setopt(sh->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(sh->curl, CURLOPT_XFERINFODATA, sh);
    curl_easy_setopt(sh->curl, CURLOPT_NOPROGRESS, 0L);
    if (pthread_create(&sh->thread, NULL, sender, sh) != 0) {
        rc = km_err_set(KM_EIO, "cannot start the shipping thread");
        goto out_free;
    }
    *out = sh;
    return 0;

out_free:
    free_shipper(sh);
    return rc;
}

void km_shipper_stop(struct km_shipper *sh, int64_t grace_ms)
{
    if (!sh)
        return;
    pthread_mutex_lock(&sh->mu);
    sh->stopping = true;
    sh->stop_deadline_ns = km_time_mono_ns() + grace_ms * 1000000;
    pthread_cond_signal(&sh->cv);
    pthread_mutex_unlock(&sh->mu);
    pthread_join(sh->thread, NULL);
    free_shipper(sh);
}

/* ---- metrics -------------------------------------------------------------------------- */

void km_shipper_metrics(struct km_shipper *sh, struct km_mset *m)
{
    struct km_spool_stats st = { 0 };
    int f;

    pthread_mutex_lock(&sh->mu);
    if (sh->spool)
        km_spool_stats(sh->spool, &st);
    f = km_mset_family(m, "kmon_agent_ship_requests_total",
                       "Remote-write requests by outcome: delivered, retried (network error, "
                       "5xx, 429), rejected (other 4xx: not retried; the server may have "
                       "stored part of it and says what it refused, logged once a minute).",
                       KM_MT_COUNTER, 0);
    km_mset_add(m, f, &(struct km_label){ "result", "delivered" }, 1, (double)sh->req_ok);
    km_mset_add(m, f, &(struct km_label){ "result", "retried" }, 1, (double)sh->req_retry);
    km_mset_add(m, f, &(struct km_label){ "result", "rejected" }, 1, (double)sh->req_rejected);
    f = km_mset_family(m, "kmon_agent_ship_samples_total",
                       "Samples in requests delivered, and in requests rejected (some or all of "
                       "their samples refused by the server; not retried).",
                       KM_MT_COUNTER, 0);
    km_mset_add(m, f, &(struct km_label){ "result", "delivered" }, 1, (double)sh->smp_ok);
    km_mset_add(m, f, &(struct km_label){ "result", "rejected" }, 1, (double)sh->smp_rejected);
    km_mset_add(m,
                km_mset_family(m, "kmon_agent_spool_dropped_samples_total",
                               "Samples dropped because the spool (or, without one, the memory "
                               "queue) was full or damaged.",
                               KM_MT_COUNTER, 0),
                NULL, 0, (double)sh->dropped);
    km_mset_gauge(m, "kmon_agent_spool_bytes", "Bytes in the on-disk spool.", (double)st.bytes);
    km_mset_gauge(m, "kmon_agent_spool_requests", "Requests waiting in the spool.",
                  (double)st.requests);
    km_mset_gauge(m, "kmon_agent_spool_samples", "Samples waiting in the spool.",
                  (double)st.samples);
    km_mset_gauge(m, "kmon_agent_ship_queue_requests", "Requests waiting in memory.",
                  (double)sh->qlen);
    km_mset_gauge(m, "kmon_agent_ship_up", "1 when the last delivery attempt succeeded.",
                  sh->up ? 1 : 0);
    if (sh->last_ok_ms)
        km_mset_gauge(m, "kmon_agent_ship_last_success_timestamp_seconds",
                      "When a request was last delivered.", (double)sh->last_ok_ms / 1000.0);
    pthread_mutex_unlock(&sh->mu);
}
