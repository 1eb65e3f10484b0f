/*
 * notify_send — HTTP delivery: each target's libcurl handle (set up once, so connections
 * are kept alive between batches) and the delivery of one batch to every target at
 * once through the notifier's multi handle, as Prometheus posts to its Alertmanagers in
 * parallel and waits for all of them.
 *
 * Per target and batch: POST; a 2xx is success; a transport error, a timeout, 408, 429
 * or 5xx is tried again after a backoff (retry_ms doubled each time, ±25 % jitter, at
 * most max_attempts tries, never past the stop deadline); any other answer is a failure
 * at once. Runs on the sender thread only, apart from destroy()'s curl_multi_wakeup();
 * counters are updated under the notifier's mutex.
 */
#include "notify/notify_internal.h"

#include "common/err.h"
#include "common/timefmt.h"
#include "version.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TIMEOUT_MS 10000 /* Prometheus' alertmanager_config timeout */
#define LOG_PERIOD_S       10    /* one failure line per target per this */
#define POLL_MAX_MS        1000  /* the stop deadline is looked at again after this */

/* ---- a target's HTTP client -------------------------------------------------------------- */

static size_t on_reply(char *p, size_t size, size_t nmemb, void *ud)
{
    struct km_notify_dest *d = ud;
    size_t n = size * nmemb;

    if (d->reply.len < KM_NOTIFY_REPLY_MAX)
        km_buf_append(&d->reply, p,
                      n < KM_NOTIFY_REPLY_MAX - d->reply.len ? n
                                                             : KM_NOTIFY_REPLY_MAX - d->reply.len);
    return n; /* the rest is read and dropped, so the connection can be kept */
}

/* A copy of what libcurl allocated (freed with curl_free()), or NULL. */
static char *dup_curl(char *s)
{
    char *copy = s ? strdup(s) : NULL;

    curl_free(s);
    return copy;
}

/* The Alertmanager push path under u's path (a prefix, maybe with trailing slashes). */
static int set_am_path(CURLU *u, const char *url, size_t i)
{
    struct km_buf p;
    char *path = NULL;
    size_t len;
    int rc = 0;

    if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
        return km_err_set(KM_EINVAL, "notification target %zu: %s has no path", i, url);
    len = strlen(path);
    while (len && path[len - 1] == '/')
        len--;
    km_buf_init(&p, 0);
    km_buf_append(&p, path, len);
    km_buf_puts(&p, "/api/v2/alerts");
    if (km_buf_error(&p))
        rc = km_err_set(KM_ENOMEM, "out of memory");
    else if (curl_url_set(u, CURLUPART_PATH, km_buf_cstr(&p), 0) != CURLUE_OK)
        rc = km_err_set(KM_EINVAL, "notification target %zu: cannot add a path to %s", i, url);
    km_buf_fini(&p);
    curl_free(path);
    return rc;
}

/* d->url and d->label from the target's URL (an Alertmanager's with /api/v2/alerts). */
static int make_urls(struct km_notify_dest *d, const char *url, size_t i)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *s = NULL;
    int rc = 0;

    if (!u)
        return km_err_set(KM_ENOMEM, "out of memory");
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
        rc = km_err_set(KM_EINVAL, "notification target %zu: %s is not an http:// or https:// URL",
                        i, url);
        goto out_free_url;
    }
    curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0);
    if (d->kind == KM_NOTIFY_ALERTMANAGER) {
        rc = set_am_path(u, url, i);
        if (rc)
            goto out_free_url;
    }
    curl_url_get(u, CURLUPART_URL, &s, 0);
    d->url = dup_curl(s);
    /* The label: without user, password and login options (secrets stay out of /metrics). */
    curl_url_set(u, CURLUPART_USER, NULL, 0);
    curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
    curl_url_set(u, CURLUPART_OPTIONS, NULL, 0);
    s = NULL;
    curl_url_get(u, CURLUPART_URL, &s, 0);
    d->label = dup_curl(s);
    if (!d->url || !d->label)
        rc = km_err_set(KM_ENOMEM, "out of memory");
out_free_url:
    curl_free(scheme);
    curl_url_cleanup(u);
    return rc;
}

static int make_headers(struct km_notify_dest *d, const char *token, size_t i)
{
    const char *lines[3] = { "Content-Type: application/json",
                             "Expect:", /* no 100-continue round trip */
                             NULL };
    struct km_buf auth;
    int rc = 0;

    km_buf_init(&auth, 0);
    if (token && *token) {
        if (strpbrk(token, "\r\n")) {
            rc = km_err_set(KM_EINVAL, "notification target %zu: the bearer token has a line break",
                            i);
            goto out_free_auth;
        }
        km_buf_printf(&auth, "Authorization: Bearer %s", token);
        lines[2] = km_buf_cstr(&auth);
    }
    for (size_t k = 0; k < 3 && lines[k]; k++) {
        /* On failure the list is left as it was, for km_notify_dest_fini(). */
        struct curl_slist *h = km_buf_error(&auth) ? NULL : curl_slist_append(d->headers, lines[k]);

        if (!h) {
            rc = km_err_set(KM_ENOMEM, "out of memory");
            break;
        }
        d->headers = h;
    }
out_free_auth:
    km_buf_fini(&auth);
    return rc;
}

int km_notify_dest_init(struct km_notify_dest *d, const struct km_notify_target *t, size_t i)
{
    CURL *c;
    int rc;

    km_buf_init(&d->reply, 0);
    atomic_init(&d->log_limit.next_ns, 0);
    atomic_init(&d->log_limit.held, 0);
    d->log_limit.period_ns = (int64_t)LOG_PERIOD_S * 1000000000;
    d->kind = t->kind;
    d->timeout_ms = t->timeout_ms > 0 ? t->timeout_ms : DEFAULT_TIMEOUT_MS;
    if (t->kind != KM_NOTIFY_ALERTMANAGER && t->kind != KM_NOTIFY_WEBHOOK)
        return km_err_set(KM_EINVAL, "notification target %zu: unknown kind %d", i, (int)t->kind);
    if (!t->url || !*t->url)
        return km_err_set(KM_EINVAL, "notification target %zu has no URL", i);
    rc = make_urls(d, t->url, i);
    if (rc == 0)
        rc = make_headers(d, t->bearer_token, i);
    if (rc)
        return rc;
    c = d->curl = curl_easy_init();
    if (!c)
        return km_err_set(KM_ENOMEM, "cannot set up an HTTP client");
    if (curl_easy_setopt(c, CURLOPT_URL, d->url) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        (t->ca_file && curl_easy_setopt(c, CURLOPT_CAINFO, t->ca_file) != CURLE_OK))
        return km_err_set(KM_EINVAL, "notification target %zu (%s): libcurl refuses its settings",
                          i, d->label);
    if (t->ca_file)
        curl_easy_setopt(c, CURLOPT_CAPATH, NULL); /* that CA only, not also the system's */
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, d->headers);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "kmon/" KMON_VERSION);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)d->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)d->timeout_ms);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_reply);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, d);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, d->errbuf);
    curl_easy_setopt(c, CURLOPT_PRIVATE, d);
    return 0;
}

void km_notify_dest_fini(struct km_notify_dest *d)
{
    if (d->curl)
        curl_easy_cleanup(d->curl);
    curl_slist_free_all(d->headers);
    km_buf_fini(&d->reply);
    free(d->url);
    free(d->label);
    memset(d, 0, sizeof(*d));
}

/* ---- one batch ------------------------------------------------------------------------ */

/* Why an attempt failed, on one line: libcurl's message, or the status and the start of
 * the answer with control characters as spaces. */
static void describe(const struct km_notify_dest *d, CURLcode cc, long status, char *out,
                     size_t size)
{
    size_t n;

    if (cc != CURLE_OK) {
        snprintf(out, size, "%s", d->errbuf[0] ? d->errbuf : curl_easy_strerror(cc));
        return;
    }
    n = (size_t)snprintf(out, size, "HTTP %ld%s", status, d->reply.len ? ": " : "");
    for (size_t i = 0; i < d->reply.len && n + 1 < size; i++) {
        unsigned char ch = (unsigned char)d->reply.data[i];

        out[n++] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
    }
    if (n < size)
        out[n] = '\0';
}

static int64_t backoff_ns(struct km_notifier *n, unsigned tries)
{
    int64_t cap = n->retry_ms > KM_NOTIFY_RETRY_MAX_MS ? n->retry_ms : KM_NOTIFY_RETRY_MAX_MS;
    int64_t ms = n->retry_ms;

    for (unsigned i = 1; i < tries && ms < cap; i++)
        ms *= 2;
    if (ms > cap)
        ms = cap;
    n->rnd = n->rnd * 6364136223846793005ull + 1442695040888963407ull;
    ms = ms * 3 / 4 + (int64_t)((n->rnd >> 33) % (uint64_t)(ms / 2 + 1));
    return ms * 1000000;
}

/* The batch is done with at d: count it (as Prometheus 2.42: the alerts as sent whatever
 * the outcome, one error per batch not taken, the time since the batch began). */
static void finish(struct km_notifier *n, struct km_notify_dest *d, size_t nb, int64_t begin,
                   const char *why)
{
    double secs = (double)(km_time_mono_ns() - begin) / 1e9;
    uint64_t held = 0;

    d->state = KM_NOTIFY_DONE;
    d->ok = why == NULL;
    pthread_mutex_lock(&n->mu);
    d->sent += nb;
    d->errors += d->ok ? 0 : 1;
    d->latency_sum += secs;
    d->latency_count++;
    pthread_mutex_unlock(&n->mu);
    if (!d->ok && km_log_limit_take(&d->log_limit, &held)) {
        char more[64] = "";

        if (held)
            snprintf(more, sizeof(more), " (%" PRIu64 " more such failures held back)", held);
        km_log_error(KM_NOTIFY_LOG, "sending %zu alerts to %s failed after %u tries: %s%s", nb,
                     d->label, d->attempt, why, more);
    }
}

static void start(struct km_notifier *n, struct km_notify_dest *d, size_t nb, int64_t begin)
{
    const struct km_buf *body = d->kind == KM_NOTIFY_ALERTMANAGER ? &n->am_body : &n->hook_body;

    km_buf_reset(&d->reply);
    d->errbuf[0] = '\0';
    d->attempt++;
    curl_easy_setopt(d->curl, CURLOPT_POSTFIELDS, body->data);
    curl_easy_setopt(d->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    if (curl_multi_add_handle(n->multi, d->curl) != CURLM_OK) {
        finish(n, d, nb, begin, "libcurl cannot start a transfer");
        return;
    }
    d->state = KM_NOTIFY_IN_FLIGHT;
}

/* An attempt at d ended with cc (and status when cc is CURLE_OK). */
static void attempt_done(struct km_notifier *n, struct km_notify_dest *d, CURLcode cc, long status,
                         size_t nb, int64_t begin, int64_t deadline)
{
    char why[KM_NOTIFY_REPLY_MAX + CURL_ERROR_SIZE + 32];
    bool transient = cc != CURLE_OK || status == 408 || status == 429 || status >= 500;

    if (cc == CURLE_OK && status >= 200 && status < 300) {
        finish(n, d, nb, begin, NULL);
        return;
    }
    describe(d, cc, status, why, sizeof(why));
    if (transient && d->attempt < n->max_attempts) {
        int64_t at = km_time_mono_ns() + backoff_ns(n, d->attempt);

        if (at < deadline) {
            d->state = KM_NOTIFY_WAITING;
            d->next_ns = at;
            pthread_mutex_lock(&n->mu);
            d->retries++;
            pthread_mutex_unlock(&n->mu);
            km_log_debug(KM_NOTIFY_LOG, "sending %zu alerts to %s: %s; trying again in %.2f s", nb,
                         d->label, why, (double)(at - km_time_mono_ns()) / 1e9);
            return;
        }
    }
    finish(n, d, nb, begin, why);
}

static void collect(struct km_notifier *n, size_t nb, int64_t begin, int64_t deadline)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(n->multi, &left))) {
        CURL *easy = msg->easy_handle;
        CURLcode cc = msg->data.result;
        char *priv = NULL;
        long status = 0;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        curl_multi_remove_handle(n->multi, easy); /* msg is gone after this */
        attempt_done(n, (struct km_notify_dest *)(void *)priv, cc, status, nb, begin, deadline);
    }
}

bool km_notify_deliver(struct km_notifier *n, const struct km_notify_alert *batch, size_t nb)
{
    int64_t begin = km_time_mono_ns();
    bool need_am = false, need_hook = false;
    size_t taken = 0;
    int rc = 0;

    for (size_t i = 0; i < n->ndests; i++) {
        need_am = need_am || n->dests[i].kind == KM_NOTIFY_ALERTMANAGER;
        need_hook = need_hook || n->dests[i].kind == KM_NOTIFY_WEBHOOK;
    }
    if (need_am)
        rc = km_notify_encode_am(&n->am_body, batch, nb);
    if (rc == 0 && need_hook)
        rc = km_notify_encode_webhook(&n->hook_body, batch, nb, km_time_now_ns() / 1000000);
    if (rc) {
        km_log_error(KM_NOTIFY_LOG, "encoding %zu alerts failed (%s): they are dropped", nb,
                     km_err_name(rc));
        return false;
    }
    for (size_t i = 0; i < n->ndests; i++) {
        n->dests[i].state = KM_NOTIFY_WAITING;
        n->dests[i].attempt = 0;
        n->dests[i].next_ns = begin;
        n->dests[i].ok = false;
    }
    for (;;) {
        int64_t now = km_time_mono_ns(), deadline = km_notify_deadline(n), wait = deadline - now;
        size_t pending = 0;
        int running;

        for (size_t i = 0; i < n->ndests; i++) {
            struct km_notify_dest *d = &n->dests[i];

            if (d->state == KM_NOTIFY_WAITING && d->next_ns <= now && now < deadline)
                start(n, d, nb, begin);
            if (d->state == KM_NOTIFY_IN_FLIGHT && now >= deadline) {
                curl_multi_remove_handle(n->multi, d->curl);
                finish(n, d, nb, begin, "given up: the notifier is stopping");
            }
            if (d->state == KM_NOTIFY_WAITING && now >= deadline)
                finish(n, d, nb, begin, "given up: the notifier is stopping");
        }
        curl_multi_perform(n->multi, &running);
        collect(n, nb, begin, deadline);
        for (size_t i = 0; i < n->ndests; i++) {
            const struct km_notify_dest *d = &n->dests[i];

            pending += d->state != KM_NOTIFY_DONE;
            if (d->state == KM_NOTIFY_WAITING && d->next_ns - now < wait)
                wait = d->next_ns - now;
        }
        if (!pending)
            break;
        if (wait > (int64_t)POLL_MAX_MS * 1000000)
            wait = (int64_t)POLL_MAX_MS * 1000000;
        curl_multi_poll(n->multi, NULL, 0, wait > 0 ? (int)((wait + 999999) / 1000000) : 0, NULL);
    }
    for (size_t i = 0; i < n->ndests; i++)
        taken += n->dests[i].ok;
    return taken > 0;
}
