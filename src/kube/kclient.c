/*
 * kclient — the Kubernetes API over libcurl (see kclient.h).
 */
#include "kclient.h"

#include "common/err.h"
#include "version.h"

#include <jansson.h>

#include <stdio.h>
#include <string.h>

int km_kube_client_init(struct km_kube_client *k, const struct km_kube_config *cfg,
                        const atomic_bool *stop)
{
    memset(k, 0, sizeof(*k));
    k->cfg = cfg;
    k->stop = stop;
    k->curl = curl_easy_init();
    if (!k->curl)
        return km_err_set(KM_ENOMEM, "cannot set up an HTTP client");
    return 0;
}

void km_kube_client_fini(struct km_kube_client *k)
{
    if (k->curl)
        curl_easy_cleanup(k->curl);
    k->curl = NULL;
}

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
    struct km_kube_client *k = ud;
    size_t n = size * nmemb;

    if (k->status == 0)
        curl_easy_getinfo(k->curl, CURLINFO_RESPONSE_CODE, &k->status);
    if (k->fn && k->status >= 200 && k->status < 300) {
        k->fn_rc = k->fn(k->ud, p, n);
        return k->fn_rc ? 0 : n;
    }
    if (km_buf_append(k->body, p, n) != 0)
        return 0;
    return n;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    const struct km_kube_client *k = ud;

    (void)a;
    (void)b;
    (void)c;
    (void)d;
    return atomic_load(k->stop) ? 1 : 0;
}

/* One request: GET when method is NULL, else `method` with the JSON body (len bytes). */
static int perform(struct km_kube_client *k, const char *method, const char *path, const char *body,
                   size_t len, long timeout_s)
{
    const struct km_kube_config *cfg = k->cfg;
    struct curl_slist *hdr = NULL;
    char url[4096], auth[8192 + 32], token[8192];
    CURLcode cc;
    int rc = 0;

    snprintf(url, sizeof(url), "%s%s", cfg->server, path);
    curl_easy_reset(k->curl);
    curl_easy_setopt(k->curl, CURLOPT_URL, url);
    curl_easy_setopt(k->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(k->curl, CURLOPT_USERAGENT, "kmon/" KMON_VERSION);
    curl_easy_setopt(k->curl, CURLOPT_ERRORBUFFER, k->errbuf);
    curl_easy_setopt(k->curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(k->curl, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(k->curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(k->curl, CURLOPT_WRITEDATA, k);
    curl_easy_setopt(k->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(k->curl, CURLOPT_XFERINFODATA, k);
    curl_easy_setopt(k->curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(k->curl, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(k->curl, CURLOPT_TCP_KEEPALIVE, 1L);
    if (cfg->ca_file) {
        /* The cluster's CA only: not also every CA of the system (libcurl's default
         * CA path costs megabytes of parsed certificates per handle). */
        curl_easy_setopt(k->curl, CURLOPT_CAINFO, cfg->ca_file);
        curl_easy_setopt(k->curl, CURLOPT_CAPATH, NULL);
    }
    if (cfg->insecure) {
        curl_easy_setopt(k->curl, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(k->curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (cfg->cert_file) {
        curl_easy_setopt(k->curl, CURLOPT_SSLCERT, cfg->cert_file);
        curl_easy_setopt(k->curl, CURLOPT_SSLKEY, cfg->key_file);
    }
    hdr = curl_slist_append(hdr, "Accept: application/json");
    if (method) {
        curl_easy_setopt(k->curl, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(k->curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(k->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        hdr = curl_slist_append(hdr, "Content-Type: application/json");
        hdr = curl_slist_append(hdr, "Expect:"); /* no 100-continue round trip */
    }
    if (km_kube_config_token(cfg, token, sizeof(token))) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        hdr = curl_slist_append(hdr, auth);
    }
    curl_easy_setopt(k->curl, CURLOPT_HTTPHEADER, hdr);
    k->errbuf[0] = '\0';
    k->status = 0;
    k->fn_rc = 0;
    cc = curl_easy_perform(k->curl);
    curl_easy_getinfo(k->curl, CURLINFO_RESPONSE_CODE, &k->status);
    if (cc == CURLE_WRITE_ERROR && k->fn_rc)
        rc = k->fn_rc;
    else if (cc == CURLE_ABORTED_BY_CALLBACK)
        rc = km_err_set(KM_EIO, "stopped");
    else if (cc == CURLE_OPERATION_TIMEDOUT && k->fn && k->status >= 200 && k->status < 300)
        rc = 0; /* a watch that lasted its time */
    else if (cc == CURLE_WRITE_ERROR)
        rc = km_err_set(KM_EIO, "%s %s: the answer is larger than %zu bytes",
                        method ? method : "GET", path, k->body->max);
    else if (cc != CURLE_OK)
        rc = km_err_set(KM_EIO, "%s %s%s: %s", method ? method : "GET", cfg->server, path,
                        k->errbuf[0] ? k->errbuf : curl_easy_strerror(cc));
    curl_slist_free_all(hdr);
    return rc;
}

int km_kube_get(struct km_kube_client *k, const char *path, struct km_buf *out, long timeout_s,
                long *status)
{
    return km_kube_send(k, NULL, path, NULL, 0, out, timeout_s, status);
}

int km_kube_send(struct km_kube_client *k, const char *method, const char *path, const char *body,
                 size_t len, struct km_buf *out, long timeout_s, long *status)
{
    int rc;

    km_buf_reset(out);
    k->body = out;
    k->fn = NULL;
    rc = perform(k, method, path, body, len, timeout_s);
    *status = k->status;
    return rc;
}

int km_kube_stream(struct km_kube_client *k, const char *path, long timeout_s,
                   int (*fn)(void *ud, const char *data, size_t n), void *ud,
                   struct km_buf *errbody, long *status)
{
    int rc;

    km_buf_reset(errbody);
    k->body = errbody;
    k->fn = fn;
    k->ud = ud;
    rc = perform(k, NULL, path, NULL, 0, timeout_s);
    *status = k->status;
    k->fn = NULL;
    return rc;
}

const char *km_kube_status_message(const struct km_buf *b, char *out, size_t size)
{
    json_t *s = b->len ? json_loadb(b->data, b->len, 0, NULL) : NULL;
    const json_t *msg = json_object_get(s, "message");

    snprintf(out, size, "%s", json_is_string(msg) ? json_string_value(msg) : "no message");
    json_decref(s);
    return out;
}
