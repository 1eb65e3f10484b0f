/*
 * lokipost — posting bodies to a Loki push endpoint (see lokipost.h).
 */
#include "agent/logs/lokipost.h"

#include "common/err.h"
#include "common/httpc_auth.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "version.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LOG          "logs"
#define REPLY_MAX    2048
#define MESSAGE_MAX  300
#define LOG_EVERY_NS (60 * 1000000000ll)

_Static_assert(KM_LOKIPOST_WHY >= REPLY_MAX + 64, "room for the status and the reply");

struct km_lokipost {
    struct km_lokipost_opts o;
    char *url;
    CURL *curl;
    struct curl_slist *headers;
    struct km_buf reply;
    int64_t retry_after_ms;
    int64_t last_reject_log_ns;
    uint64_t rejects_unlogged;
};

static size_t on_reply(char *p, size_t size, size_t n, void *ud)
{
    struct km_lokipost *s = ud;
    size_t len = size * n;

    if (s->reply.len < REPLY_MAX)
        km_buf_append(&s->reply, p,
                      len < REPLY_MAX - s->reply.len ? len : REPLY_MAX - s->reply.len);
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct km_lokipost *s = ud;
    size_t len = size * n;

    if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        long long secs = atoll(p + 12);

        if (secs > 0)
            s->retry_after_ms = secs * 1000;
    }
    return len;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    struct km_lokipost *s = ud;

    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    return s->o.abort && s->o.abort(s->o.abort_ud);
}

enum km_lokipost_result km_lokipost_send(struct km_lokipost *s, const struct km_buf *body,
                                         long *status, char *why)
{
    struct curl_slist *headers;
    CURLcode cc;
    int rc;

    km_buf_reset(&s->reply);
    s->retry_after_ms = 0;
    *status = 0;
    rc = km_httpc_auth_headers(s->o.auth, s->curl, s->headers, &headers);
    if (rc == KM_ENOMEM) {
        snprintf(why, KM_LOKIPOST_WHY, "%s", km_err_msg());
        return KM_LOKIPOST_RETRY;
    }
    if (rc) /* the token file changed into something unusable: once per change */
        km_log_error(LOG, "%s", km_err_msg());
    curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, body->data ? body->data : "");
    curl_easy_setopt(s->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    cc = curl_easy_perform(s->curl);
    curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, s->headers);
    curl_slist_free_all(headers);
    if (cc != CURLE_OK) {
        snprintf(why, KM_LOKIPOST_WHY, "%s", curl_easy_strerror(cc));
        return KM_LOKIPOST_RETRY;
    }
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, status);
    snprintf(why, KM_LOKIPOST_WHY, "HTTP %ld: %.*s", *status, (int)s->reply.len,
             s->reply.data ? s->reply.data : "");
    if (*status >= 200 && *status < 300)
        return KM_LOKIPOST_SENT;
    if (*status == 429 || *status >= 500 || *status < 200)
        return KM_LOKIPOST_RETRY;
    return KM_LOKIPOST_REJECTED;
}

int64_t km_lokipost_retry_after_ms(const struct km_lokipost *p)
{
    return p->retry_after_ms;
}

const char *km_lokipost_url(const struct km_lokipost *p)
{
    return p->url;
}

/* The server's sentence: the "error" (or Loki's "message") of a JSON body, else the
 * body; one line, at most MESSAGE_MAX bytes. */
static void reply_message(const struct km_buf *reply, char *out, size_t size)
{
    const char *msg = reply->data ? reply->data : "";
    size_t len = reply->len, n;
    json_t *doc = json_loadb(msg, len, 0, NULL);
    const json_t *err = json_object_get(doc, "error");

    if (!json_is_string(err))
        err = json_object_get(doc, "message");
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
    json_decref(doc);
}

void km_lokipost_log_rejected(struct km_lokipost *s, long status, uint64_t lines, const char *what)
{
    int64_t now = km_time_mono_ns();
    char msg[MESSAGE_MAX + 4], more[80] = "";

    if (s->last_reject_log_ns && now - s->last_reject_log_ns < LOG_EVERY_NS) {
        s->rejects_unlogged++;
        return;
    }
    reply_message(&s->reply, msg, sizeof(msg));
    if (s->rejects_unlogged)
        snprintf(more, sizeof(more), " (%" PRIu64 " more rejected since the last such message)",
                 s->rejects_unlogged);
    km_log_warn(LOG, "%s answered HTTP %ld to a batch of %" PRIu64 " %s, which is dropped%s: %s",
                s->url, status, lines, what, more, msg);
    s->last_reject_log_ns = now;
    s->rejects_unlogged = 0;
}

static void init_curl(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void km_lokipost_close(struct km_lokipost *s)
{
    if (!s)
        return;
    if (s->curl)
        curl_easy_cleanup(s->curl);
    curl_slist_free_all(s->headers);
    km_buf_fini(&s->reply);
    free(s->url);
    free(s);
}

int km_lokipost_open(struct km_lokipost **out, const struct km_lokipost_opts *o)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    struct km_lokipost *s;

    if (!o->url || !*o->url)
        return km_err_set(KM_EINVAL, "a Loki push client needs a URL");
    s = calloc(1, sizeof(*s));
    if (!s)
        return km_err_set(KM_ENOMEM, "out of memory");
    pthread_once(&once, init_curl);
    s->o = *o;
    km_buf_init(&s->reply, 0);
    s->url = strdup(o->url);
    s->curl = curl_easy_init();
    if (s->url && s->curl) {
        s->headers = curl_slist_append(NULL, o->json ? "Content-Type: application/json"
                                                     : "Content-Type: application/x-protobuf");
        s->headers = s->headers ? curl_slist_append(s->headers, "Expect:") : NULL;
    }
    if (!s->headers) {
        km_lokipost_close(s);
        return km_err_set(KM_ENOMEM, "out of memory starting a log sender");
    }
    s->o.url = s->url;
    curl_easy_setopt(s->curl, CURLOPT_URL, s->url);
    curl_easy_setopt(s->curl, CURLOPT_POST, 1L);
    curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(s->curl, CURLOPT_USERAGENT, "kmon-agent/" KMON_VERSION);
    curl_easy_setopt(s->curl, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
    curl_easy_setopt(s->curl, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(o->timeout_ms < 5000 ? o->timeout_ms : 5000));
    curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, on_reply);
    curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(s->curl, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(s->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(s->curl, CURLOPT_XFERINFODATA, s);
    curl_easy_setopt(s->curl, CURLOPT_NOPROGRESS, 0L);
    *out = s;
    return 0;
}
