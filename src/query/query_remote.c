/*
 * query_remote — `kmon query --server URL`: the query asked of a kmon server or any
 * Prometheus through its HTTP API (see query.h). One POST of a form body (long queries
 * fit, as promtool and Grafana send them) to /api/v1/query or /api/v1/query_range with
 * libcurl; the answer, at most KM_LIMIT_QUERY_ANSWER bytes, is read by query_decode.c.
 *
 * The query's timeout goes to the server as its `timeout` argument (a kmon server or
 * Prometheus then stops the query and answers 503 in time); the transfer may take
 * REMOTE_GRACE_MS longer before it is abandoned here.
 *
 * The transfer itself (km_query_http) serves `kmon logs query --server` too; and the
 * general settings of both commands are here (km_query_general_fields).
 */
#include "query/query.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/httpc_auth.h"
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
static void add_arg(struct km_buf *b, const char *name, const char *value)
{
    char *esc = curl_easy_escape(NULL, value, 0);

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
static void add_seconds(struct km_buf *b, const char *name, int64_t ms)
{
    char num[KM_PQ_FMT_MAX];

    km_pq_fmt_time(num, sizeof(num), ms);
    add_arg(b, name, num);
}

static int build_form(const struct km_query_req *q, struct km_buf *form)
{
    add_arg(form, "query", q->expr);
    if (q->range) {
        add_seconds(form, "start", q->start_ms);
        add_seconds(form, "end", q->end_ms);
        add_seconds(form, "step", q->step_ms);
    } else {
        add_seconds(form, "time", q->time_ms); /* now is ours, as promtool's is */
    }
    add_seconds(form, "timeout", q->timeout_ms);
    if (km_buf_error(form))
        return km_err_set(KM_ENOMEM, "out of memory building the request");
    return 0;
}

struct reply {
    struct km_buf *body;
    bool too_large;
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    struct reply *r = ud;

    if (km_buf_append(r->body, p, size * n) != 0) {
        r->too_large = km_buf_error(r->body) == KM_ELIMIT;
        return 0; /* abort the transfer */
    }
    return size * n;
}

/* The transfer failed: say why, with the server's address (no password). */
static int transfer_error(CURLcode cc, const char *errbuf, const struct reply *r, const char *who,
                          int64_t timeout_ms)
{
    const char *why = errbuf[0] ? errbuf : curl_easy_strerror(cc);

    if (r->too_large)
        return km_err_set(KM_ELIMIT, "the answer of %s is larger than kmon reads (%zu MiB)", who,
                          r->body->max >> 20);
    if (cc == CURLE_OPERATION_TIMEDOUT)
        return km_err_set(KM_ETIMEDOUT, "%s did not answer within %lld s (--timeout) (%s)", who,
                          (long long)((timeout_ms + REMOTE_GRACE_MS) / 1000), why);
    return km_err_set(KM_EIO, "cannot reach the server at %s: %s", who, why);
}

const struct km_cfg_field km_query_client_fields[] = {
    { .name = "ca-file",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_query_client, ca_file),
      .metavar = "FILE",
      .help = KM_HTTPC_HELP_CA_FILE },
    { .name = "cert-file",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_query_client, cert_file),
      .metavar = "FILE",
      .help = KM_HTTPC_HELP_CERT_FILE },
    { .name = "key-file",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_query_client, key_file),
      .metavar = "FILE",
      .help = KM_HTTPC_HELP_KEY_FILE },
    { .name = "token-file",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_query_client, token_file),
      .metavar = "FILE",
      .help = KM_HTTPC_HELP_TOKEN_FILE },
    KM_CFG_FIELDS_END,
};

int km_query_http(const char *base_url, const struct km_query_client *client, const char *path,
                  const char *form, size_t form_len, const char *agent, int64_t timeout_ms,
                  struct km_buf *body, long *status)
{
    char errbuf[CURL_ERROR_SIZE] = "", who[1024];
    struct reply r = { .body = body, .too_large = false };
    struct km_httpc_auth *auth = NULL;
    struct curl_slist *headers = NULL;
    struct km_buf url;
    size_t base_len;
    CURLcode cc;
    CURL *c;
    int rc = 0;

    km_query_url_for_humans(base_url, who, sizeof(who));
    km_buf_init(&url, 0);
    if (client) {
        rc = km_httpc_auth_create(&auth,
                                  &(struct km_httpc_auth_opts){ .ca_file = client->ca_file,
                                                                .cert_file = client->cert_file,
                                                                .key_file = client->key_file,
                                                                .token_file = client->token_file });
        if (rc)
            goto out_free_url;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        rc = km_err_set(KM_EIO, "cannot start libcurl");
        goto out_destroy_auth;
    }
    c = curl_easy_init();
    if (!c) {
        rc = km_err_set(KM_ENOMEM, "cannot start libcurl");
        goto out_cleanup_global;
    }
    rc = km_httpc_auth_headers(auth, c, NULL, &headers);
    if (rc)
        goto out_cleanup_easy;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    base_len = strcspn(base_url, "?#");
    while (base_len > 0 && base_url[base_len - 1] == '/')
        base_len--;
    km_buf_printf(&url, "%.*s%s", (int)base_len, base_url, path);
    if (km_buf_error(&url)) {
        rc = km_err_set(KM_ENOMEM, "out of memory");
        goto out_cleanup_easy;
    }
    curl_easy_setopt(c, CURLOPT_URL, km_buf_cstr(&url));
    if (form) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)form_len);
    }
    curl_easy_setopt(c, CURLOPT_USERAGENT, agent);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)REMOTE_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_ms + REMOTE_GRACE_MS));
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        rc = transfer_error(cc, errbuf, &r, who, timeout_ms);
        goto out_cleanup_easy;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);

out_cleanup_easy:
    curl_easy_cleanup(c);
    curl_slist_free_all(headers);
out_cleanup_global:
    curl_global_cleanup();
out_destroy_auth:
    km_httpc_auth_destroy(auth);
out_free_url:
    km_buf_fini(&url);
    return rc;
}

int km_query_remote(const char *base_url, const struct km_query_client *client,
                    const struct km_query_req *q, struct km_query_answer *out)
{
    char who[1024];
    struct km_buf body, form;
    const char *path = q->range ? "/api/v1/query_range" : "/api/v1/query";
    long status = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    km_buf_init(&body, KM_LIMIT_QUERY_ANSWER);
    km_buf_init(&form, KM_LIMIT_PROMQL_QUERY * 4);
    rc = build_form(q, &form);
    if (rc == 0)
        rc = km_query_http(base_url, client, path, km_buf_cstr(&form), form.len,
                           "kmon-query/" KMON_VERSION, q->timeout_ms, &body, &status);
    if (rc)
        goto out;
    rc = km_query_decode(body.data ? body.data : "", body.len, out);
    if (rc == KM_ECORRUPT) {
        char detail[512];

        snprintf(detail, sizeof(detail), "%s", km_err_msg());
        rc = km_err_set(KM_ECORRUPT, "%s answered %ld to %s: %s%s",
                        km_query_url_for_humans(base_url, who, sizeof(who)), status, path, detail,
                        status == 404 ? " (is that the base URL of a kmon server or a "
                                        "Prometheus?)"
                                      : "");
    }
out:
    km_buf_fini(&form);
    km_buf_fini(&body);
    return rc;
}

/* The general settings with logging quiet unless asked (a query's output is the point). */
void km_query_general_fields(struct km_cfg_field *out, size_t cap)
{
    size_t n = 0;

    for (const struct km_cfg_field *f = km_cfg_common_fields; f->name && n + 1 < cap; f++) {
        out[n] = *f;
        if (strcmp(f->name, "log-level") == 0)
            out[n].def = "warn";
        n++;
    }
    out[n] = (struct km_cfg_field)KM_CFG_FIELDS_END;
}
