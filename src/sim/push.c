/*
 * push — a remote_write connection with backoff (see push.h).
 */
#include "sim/push.h"

#include "common/err.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct km_sim_push {
    CURL *curl;
    struct curl_slist *headers;
    unsigned retries;
    long retry_after_s;
    struct km_sim_push_stats st;
    char answer[256];
    size_t nanswer;
};

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    struct km_sim_push *p = ud;
    size_t len = size * n, room = sizeof(p->answer) - 1 - p->nanswer;

    memcpy(p->answer + p->nanswer, data, len < room ? len : room);
    p->nanswer += len < room ? len : room;
    p->answer[p->nanswer] = '\0';
    return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    struct km_sim_push *p = ud;
    size_t len = size * n;

    if (len > 12 && strncasecmp(data, "Retry-After:", 12) == 0)
        p->retry_after_s = strtol(data + 12, NULL, 10);
    return len;
}

int km_sim_push_create(struct km_sim_push **out, const char *url, unsigned retries)
{
    struct km_sim_push *p = calloc(1, sizeof(*p));
    struct curl_slist *h = NULL;

    if (!p)
        goto out_nomem;
    p->curl = curl_easy_init();
    if (!p->curl)
        goto out_free_push;
    h = curl_slist_append(h, "Content-Type: application/x-protobuf");
    h = h ? curl_slist_append(h, "Content-Encoding: snappy") : NULL;
    h = h ? curl_slist_append(h, "X-Prometheus-Remote-Write-Version: 0.1.0") : NULL;
    h = h ? curl_slist_append(h, "User-Agent: kmon-simulate") : NULL;
    if (!h)
        goto out_cleanup_curl;
    p->headers = h;
    p->retries = retries;
    curl_easy_setopt(p->curl, CURLOPT_URL, url);
    curl_easy_setopt(p->curl, CURLOPT_HTTPHEADER, p->headers);
    curl_easy_setopt(p->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(p->curl, CURLOPT_WRITEDATA, p);
    curl_easy_setopt(p->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(p->curl, CURLOPT_HEADERDATA, p);
    curl_easy_setopt(p->curl, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(p->curl, CURLOPT_NOSIGNAL, 1L);
    *out = p;
    return 0;

out_cleanup_curl:
    curl_easy_cleanup(p->curl);
out_free_push:
    free(p);
out_nomem:
    return km_err_set(KM_ENOMEM, "out of memory starting a connection");
}

void km_sim_push_destroy(struct km_sim_push *p)
{
    if (!p)
        return;
    curl_easy_cleanup(p->curl);
    curl_slist_free_all(p->headers);
    free(p);
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

int km_sim_push_post(struct km_sim_push *p, const void *body, size_t len, uint32_t samples)
{
    long backoff_ms = 100;

    curl_easy_setopt(p->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(p->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    for (unsigned attempt = 0;; attempt++) {
        long code = 0;
        CURLcode rc;

        p->nanswer = 0;
        p->answer[0] = '\0';
        p->retry_after_s = 0;
        rc = curl_easy_perform(p->curl);
        if (rc == CURLE_OK)
            curl_easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, &code);
        if (rc == CURLE_OK && code >= 200 && code < 300) {
            p->st.requests++;
            p->st.samples += samples;
            p->st.bytes += len;
            return 0;
        }
        if (rc != CURLE_OK)
            p->st.net_errors++;
        else if (code == 429 || code == 503)
            p->st.throttled++;
        else {
            p->st.rejected++;
            p->st.dropped_samples += samples;
            return km_err_set(KM_EINVAL, "the server answered %ld: %s", code, p->answer);
        }
        if (attempt >= p->retries) {
            p->st.dropped_samples += samples;
            return km_err_set(KM_EAGAIN, "gave up after %u retries (%s)", p->retries,
                              rc != CURLE_OK ? curl_easy_strerror(rc) : p->answer);
        }
        sleep_ms(p->retry_after_s > 0 && p->retry_after_s < 30 ? p->retry_after_s * 1000
                                                               : backoff_ms);
        backoff_ms = backoff_ms * 2 < 5000 ? backoff_ms * 2 : 5000;
    }
}

const struct km_sim_push_stats *km_sim_push_stats(const struct km_sim_push *p)
{
    return &p->st;
}
