/*
 * query_remote — `kmon query --server URL`: the query asked of a kmon server or any
 * Prometheus through its HTTP API (see query.h). One POST of a form body (long queries
 * fit, as promtool and Grafana send them) to /api/v1/query or /api/v1/query_range with
 * libcurl; the answer, at most KM_LIMIT_QUERY_ANSWER bytes, is read by query_decode.c.
 *
 * The query's timeout goes to the server as its `timeout` argument (a kmon server or
 * Prometheus then stops the query and answers 503 in time); the transfer may take
 * REMOTE_GRACE_MS longer before it is abandoned here.
 */
#include "query/query.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/limits.h"
#include "promql/fmt.h"
#include "version.h"

#include <curl/curl.h>
#include <string.h>

#define REMOTE_CONNECT_TIMEOUT_MS 10000
#define REMOTE_GRACE_MS           10000

const char *km_query_url_for_humans(const char *base_url, char *out, size_t size)
{
    const char *scheme = strstr(base_url, "://");
    const char *host = scheme ? scheme + 3 : base_url;
    const char *end = host + strcspn(host, "/?#");
    const char *at = memchr(host, '@', (size_t)(end - host));

    /* Search the authority for its last '@': a password may hold one. */
    for (const char *p = at; p && p < end; p = memchr(p + 1, '@', (size_t)(end - p - 1)))
        at = p;
    if (!at)
        snprintf(out, size, "%s", base_url);
    else
        snprintf(out, size, "%.*s%s", (int)(host - base_url), base_url, at + 1);
    return out;
}

/* name=value& with the value escaped for a form body. */
static void add_arg(struct km_buf *b, CURL *c, const char *name, const char *value)
{
    char *esc = curl_easy_escape(c, value, 0);

    if (b->len)
        km_buf_putc(b, '&');
    km_buf_printf(b, "%s=", name);
    if (esc)
        km_buf_puts(b, esc);
    else
        b->err = KM_ENOMEM;
    curl_free(esc);
}

/* A time or a duration in seconds, as the API reads them ("1435781451.781"). */
static void add_seconds(struct km_buf *b, CURL *c, const char *name, int64_t ms)
{
    char num[KM_PQ_FMT_MAX];

    km_pq_fmt_time(num, sizeof(num), ms);
    add_arg(b, c, name, num);
}

static int build_form(CURL *c, const struct km_query_req *q, struct km_buf *form)
{
    add_arg(form, c, "query", q->expr);
    if (q->range) {
        add_seconds(form, c, "start", q->start_ms);
        add_seconds(form, c, "end", q->end_ms);
        add_seconds(form, c, "step", q->step_ms);
    } else {
        add_seconds(form, c, "time", q->time_ms); /* now is ours, as promtool's is */
    }
    add_seconds(form, c, "timeout", q->timeout_ms);
    if (km_buf_error(form))
        return km_err_set(KM_ENOMEM, "out of memory building the request");
    return 0;
}

struct reply {
    struct km_buf body;
    bool too_large;
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    struct reply *r = ud;

    if (km_buf_append(&r->body, p, size * n) != 0) {
        r->too_large = km_buf_error(&r->body) == KM_ELIMIT;
        return 0; /* abort the transfer */
    }
    return size * n;
}

/* The transfer failed: say why, with the server's address (no password). */
static int transfer_error(CURLcode cc, const char *errbuf, const struct reply *r, const char *who,
                          const struct km_query_req *q)
{
    const char *why = errbuf[0] ? errbuf : curl_easy_strerror(cc);

    if (r->too_large)
        return km_err_set(KM_ELIMIT, "the answer of %s is larger than kmon query reads (%u MiB)",
                          who, (unsigned)(KM_LIMIT_QUERY_ANSWER >> 20));
    if (cc == CURLE_OPERATION_TIMEDOUT)
        return km_err_set(KM_ETIMEDOUT, "%s did not answer within %lld s (--timeout) (%s)", who,
                          (long long)((q->timeout_ms + REMOTE_GRACE_MS) / 1000), why);
    return km_err_set(KM_EIO, "cannot reach the server at %s: %s", who, why);
}

int km_query_remote(const char *base_url, const struct km_query_req *q, struct km_query_answer *out)
{
    char errbuf[CURL_ERROR_SIZE] = "", who[1024];
    struct reply r = { .too_large = false };
    struct km_buf url, form;
    CURLcode cc;
    const char *path = q->range ? "/api/v1/query_range" : "/api/v1/query";
    size_t base_len;
    CURL *c;
    long status = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    km_query_url_for_humans(base_url, who, sizeof(who));
    km_buf_init(&r.body, KM_LIMIT_QUERY_ANSWER);
    km_buf_init(&url, 0);
    km_buf_init(&form, KM_LIMIT_PROMQL_QUERY * 4);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        rc = km_err_set(KM_EIO, "cannot start libcurl");
        goto out_free_buffers;
    }
    c = curl_easy_init();
    if (!c) {
        rc = km_err_set(KM_ENOMEM, "cannot start libcurl");
        goto out_cleanup_global;
    }
    base_len = strcspn(base_url, "?#");
    while (base_len > 0 && base_url[base_len - 1] == '/')
        base_len--;
    km_buf_printf(&url, "%.*s%s", (int)base_len, base_url, path);
    rc = build_form(c, q, &form);
    if (rc == 0 && km_buf_error(&url))
        rc = km_err_set(KM_ENOMEM, "out of memory");
    if (rc)
        goto out_cleanup_easy;
    curl_easy_setopt(c, CURLOPT_URL, km_buf_cstr(&url));
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, km_buf_cstr(&form));
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)form.len);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "kmon-query/" KMON_VERSION);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)REMOTE_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(q->timeout_ms + REMOTE_GRACE_MS));
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        rc = transfer_error(cc, errbuf, &r, who, q);
        goto out_cleanup_easy;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    rc = km_query_decode(r.body.data ? r.body.data : "", r.body.len, out);
    if (rc == KM_ECORRUPT) {
        char detail[512];

        snprintf(detail, sizeof(detail), "%s", km_err_msg());
        rc = km_err_set(KM_ECORRUPT, "%s answered %ld to %s: %s%s", who, status, path, detail,
                        status == 404 ? " (is that the base URL of a kmon server or a "
                                        "Prometheus?)"
                                      : "");
    }

out_cleanup_easy:
    curl_easy_cleanup(c);
out_cleanup_global:
    curl_global_cleanup();
out_free_buffers:
    km_buf_fini(&form);
    km_buf_fini(&url);
    km_buf_fini(&r.body);
    return rc;
}
