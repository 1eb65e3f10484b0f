/*
 * fwd_send — one remote_write POST (see fwd_send.h).
 */
#include "server/forward/fwd_send.h"

#include "common/err.h"
#include "common/httpc_auth.h"
#include "version.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define REPLY_KEEP 512 /* bytes of an answer kept for the log */

struct km_fwd_http {
    CURL *curl;
    struct curl_slist *headers; /* the fixed ones */
    struct km_httpc_auth *auth;
    const atomic_bool *stop;
    const char *url_label;
    char reply[REPLY_KEEP + 1];
    size_t nreply;
    int64_t retry_after_ms;
    char errbuf[CURL_ERROR_SIZE];
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct km_fwd_http *h = ud;
    size_t k = sz * n, room = REPLY_KEEP - h->nreply;

    memcpy(h->reply + h->nreply, p, k < room ? k : room);
    h->nreply += k < room ? k : room;
    return k;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct km_fwd_http *h = ud;
    size_t k = sz * n;
    char v[128];

    if (k > 12 && k < 12 + sizeof(v) && strncasecmp(p, "Retry-After:", 12) == 0) {
        char *end;
        long long s;

        memcpy(v, p + 12, k - 12);
        v[k - 12] = '\0';
        s = strtoll(v, &end, 10);
        if (end != v && s >= 0 && (*end == '\r' || *end == '\n' || *end == '\0' || *end == ' '))
            h->retry_after_ms = s * 1000;
        else {
            time_t when = curl_getdate(v + strspn(v, " "), NULL);

            if (when > 0 && when > time(NULL))
                h->retry_after_ms = (int64_t)(when - time(NULL)) * 1000;
        }
    }
    return k;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    struct km_fwd_http *h = ud;

    (void)dt, (void)dn, (void)ut, (void)un;
    return atomic_load(h->stop) ? 1 : 0; /* non-zero aborts */
}

int km_fwd_http_create(struct km_fwd_http **out, const struct km_fwd_dest_cfg *d,
                       const atomic_bool *stop)
{
    struct km_fwd_http *h = calloc(1, sizeof(*h));
    struct km_httpc_auth_opts ao = {
        .ca_file = d->ca_file,
        .cert_file = d->cert_file,
        .key_file = d->key_file,
        .token_file = d->token_file,
    };
    static const char *const fixed[] = { "Content-Encoding: snappy",
                                         "Content-Type: application/x-protobuf",
                                         "X-Prometheus-Remote-Write-Version: 0.1.0", "Expect:" };
    int rc;

    if (!h)
        return km_err_set(KM_ENOMEM, "out of memory");
    h->stop = stop;
    h->url_label = d->url_label;
    if (d->ca_file || d->cert_file || d->key_file || d->token_file) {
        rc = km_httpc_auth_create(&h->auth, &ao);
        if (rc) {
            free(h);
            return km_err_wrap(rc, "remote_write to %s", d->url_label);
        }
    }
    h->curl = curl_easy_init();
    if (!h->curl)
        goto out_nomem;
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        struct curl_slist *l = curl_slist_append(h->headers, fixed[i]);

        if (!l)
            goto out_nomem;
        h->headers = l;
    }
    for (size_t i = 0; i < d->nheaders; i++) {
        struct curl_slist *l = curl_slist_append(h->headers, d->headers[i]);

        if (!l)
            goto out_nomem;
        h->headers = l;
    }
    curl_easy_setopt(h->curl, CURLOPT_URL, d->url);
    curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h->curl, CURLOPT_POST, 1L);
    curl_easy_setopt(h->curl, CURLOPT_USERAGENT, "kmon/" KMON_VERSION);
    curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, (long)d->remote_timeout_ms);
    curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)d->remote_timeout_ms);
    curl_easy_setopt(h->curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(h->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h->curl, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(h->curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h->curl, CURLOPT_XFERINFODATA, h);
    curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, h->errbuf);
    *out = h;
    return 0;
out_nomem:
    km_fwd_http_destroy(h);
    return km_err_set(KM_ENOMEM, "out of memory");
}

void km_fwd_http_destroy(struct km_fwd_http *h)
{
    if (!h)
        return;
    if (h->curl)
        curl_easy_cleanup(h->curl);
    curl_slist_free_all(h->headers);
    km_httpc_auth_destroy(h->auth);
    free(h);
}

enum km_fwd_outcome km_fwd_http_post(struct km_fwd_http *h, const void *body, size_t len,
                                     int64_t *retry_after_ms, char *why, size_t whysize)
{
    struct curl_slist *hdr = NULL, *extra = NULL;
    long status = 0;
    CURLcode cc;

    h->nreply = 0;
    h->retry_after_ms = 0;
    h->errbuf[0] = '\0';
    why[0] = '\0';
    *retry_after_ms = 0;
    hdr = h->headers;
    if (h->auth) {
        /* The Authorization header goes on a list of this request's own, ahead of the
         * fixed ones (which stay owned by h). */
        if (km_httpc_auth_apply(h->auth, h->curl, &extra) != 0 && !extra) {
            snprintf(why, whysize, "%s", km_err_msg());
            return KM_FWD_RETRY;
        }
        if (extra) {
            struct curl_slist *last = extra;

            while (last->next)
                last = last->next;
            last->next = h->headers;
            hdr = extra;
        }
    }
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    cc = curl_easy_perform(h->curl);
    if (extra) { /* detach the fixed ones before freeing this request's */
        struct curl_slist *l = extra;

        while (l->next != h->headers)
            l = l->next;
        l->next = NULL;
        curl_slist_free_all(extra);
    }
    if (cc != CURLE_OK) {
        snprintf(why, whysize, "%s", h->errbuf[0] ? h->errbuf : curl_easy_strerror(cc));
        return KM_FWD_RETRY;
    }
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300)
        return KM_FWD_SENT;
    h->reply[h->nreply] = '\0';
    for (char *p = h->reply; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    snprintf(why, whysize, "HTTP %ld: %s", status, h->reply);
    *retry_after_ms = h->retry_after_ms;
    if (status == 429 || status >= 500)
        return KM_FWD_RETRY;
    return KM_FWD_REJECTED;
}
