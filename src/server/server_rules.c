/*
 * server_rules — the rule manager and the notifier inside the server: rule files from
 * --rules (globs), evaluated over the database and written back through ingest (counted
 * as protocol "rules"), alerts sent to every --alertmanager and --alert-webhook, reloaded
 * on SIGHUP and POST /-/reload (a bad file keeps the old rules and the answer says why).
 */
#include "auth/auth.h"
#include "common/cfg.h"
#include "common/err.h"
#include "common/jsonw.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "ingest.h"
#include "notify/notify.h"
#include "promql/parse.h"
#include "rules/history.h"
#include "rules/manager.h"
#include "server_internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The items of a comma-separated setting, as km_cfg_split_list() trims them, in one
 * allocation: a NULL-terminated array followed by the text it points into (free() it). */
static char **split_list(const char *list, size_t *n)
{
    const char *text = list ? list : "";
    size_t cap = 1, len = strlen(text);
    char **v;

    for (const char *p = text; *p; p++)
        cap += *p == ',';
    v = calloc(1, (cap + 1) * sizeof(*v) + len + 1);
    if (!v)
        return NULL;
    memcpy(v + cap + 1, text, len + 1);
    *n = km_cfg_split_list((char *)(v + cap + 1), v, cap);
    return v;
}

static int append_samples(void *ud, const struct km_sample *s, size_t n)
{
    struct km_ingest_mset_result r;

    return km_ingest_samples(ud, s, n, &r);
}

static void send_alerts(void *ud, const struct km_rules_alert *a, size_t n)
{
    struct km_alert_msg *msg = calloc(n + 1, sizeof(*msg));

    if (!msg)
        return;
    for (size_t i = 0; i < n; i++)
        msg[i] = (struct km_alert_msg){ a[i].labels, a[i].annotations, a[i].starts_at_ms,
                                        a[i].ends_at_ms, a[i].generator_url };
    km_notifier_send(ud, msg, n);
    free(msg);
}

static int start_notifier(struct km_server *s)
{
    size_t nam = 0, nhook = 0;
    char **am = split_list(s->o.alertmanagers, &nam);
    char **hook = split_list(s->o.alert_webhooks, &nhook);
    struct km_notify_target *t = calloc(nam + nhook + 1, sizeof(*t));
    struct km_notifier_opts no = { 0 };
    int rc = 0;

    if (!am || !hook || !t) {
        rc = km_err_set(KM_ENOMEM, "out of memory");
        goto out_free;
    }
    for (size_t i = 0; i < nam; i++)
        t[i] = (struct km_notify_target){ .kind = KM_NOTIFY_ALERTMANAGER, .url = am[i] };
    for (size_t i = 0; i < nhook; i++)
        t[nam + i] = (struct km_notify_target){ .kind = KM_NOTIFY_WEBHOOK, .url = hook[i] };
    if (nam + nhook) {
        no.targets = t;
        no.n_targets = nam + nhook;
        rc = km_notifier_create(&s->notifier, &no);
        if (rc)
            rc = km_err_wrap(rc, "--alertmanager");
    }

out_free:
    free(t);
    free(am);
    free(hook);
    return rc;
}

int km_server_rules_reload(struct km_server *s, struct km_buf *errs)
{
    size_t n = 0;
    char **patterns;
    int rc;

    if (!s->rules)
        return 0;
    patterns = split_list(s->o.rules, &n);
    if (!patterns)
        return km_err_set(KM_ENOMEM, "out of memory");
    rc = km_rules_load(s->rules, patterns, n, errs);
    free(patterns);
    if (rc == KM_EINVAL || rc == KM_EIO)
        km_log_error(KM_SERVER_LOG, "loading the rule files failed; the old rules stay:\n%s",
                     km_buf_cstr(errs));
    else if (rc)
        km_log_error(KM_SERVER_LOG, "loading the rule files failed: %s", km_err_msg());
    return rc;
}

int km_server_rules_start(struct km_server *s)
{
    struct km_rules_opts ro;
    struct km_buf errs;
    char url[1024];
    int rc;

    rc = start_notifier(s);
    if (rc)
        return rc;
    km_rules_opts_default(&ro);
    ro.store = s->api.store;
    ro.append = append_samples;
    ro.append_ud = s->api.ingest;
    if (s->notifier) {
        ro.notify = send_alerts;
        ro.notify_ud = s->notifier;
    }
    if (s->o.alert_history_retention_ms > 0) {
        char dir[4096];

        snprintf(dir, sizeof(dir), "%s/alerts", s->o.data_dir);
        rc = km_alert_history_open(&s->history, dir, s->o.alert_history_retention_ms);
        if (rc)
            return rc;
        ro.transition = km_alert_history_record;
        ro.transition_ud = s->history;
    }
    ro.default_interval_ms = s->o.rules_interval_ms;
    ro.default_pack = s->o.default_rules;
    ro.disabled = s->o.disabled_rules;
    /* As Prometheus: without --external-url, http://<hostname>:<port>. */
    if (s->o.external_url) {
        snprintf(url, sizeof(url), "%s", s->o.external_url);
    } else {
        char host[256] = "localhost";

        gethostname(host, sizeof(host) - 1);
        snprintf(url, sizeof(url), "http%s://%s:%u", s->o.tls_cert ? "s" : "", host,
                 km_http_server_port(s->http));
    }
    ro.external_url = url;
    ro.query = s->api.query; /* the server's limits: samples, lookback, --query-timeout */
    rc = km_rules_create(&s->rules, &ro);
    if (rc)
        return rc;
    km_buf_init(&errs, 1u << 20);
    rc = km_server_rules_reload(s, &errs);
    if (rc == KM_EINVAL || rc == KM_EIO)
        rc = km_err_set(KM_EINVAL, "--rules: %s", km_buf_cstr(&errs));
    km_buf_fini(&errs);
    if (rc == 0)
        __atomic_store_n(&s->api.rules, s->rules, __ATOMIC_RELEASE);
    return rc;
}

void km_server_rules_stop(struct km_server *s)
{
    __atomic_store_n(&s->api.rules, NULL, __ATOMIC_RELEASE);
    km_rules_destroy(s->rules); /* it writes through ingest and sends: first */
    s->rules = NULL;
    km_notifier_destroy(s->notifier);
    s->notifier = NULL;
    km_alert_history_close(s->history);
    s->history = NULL;
}

void km_server_rules_metrics(struct km_server *s, struct km_mset *m)
{
    if (s->rules)
        km_rules_metrics(s->rules, m);
    if (s->notifier)
        km_notifier_metrics(s->notifier, m);
    if (s->history)
        km_alert_history_metrics(s->history, m);
}

/* GET /api/v1/alertmanagers: the Alertmanagers alerts are sent to, as Prometheus lists
 * them (the URL posted to; user information left out). */
void km_server_on_alertmanagers(struct km_http_req *req, void *ud)
{
    struct km_server *s = ud;
    size_t n = 0;
    char **am = split_list(s->o.alertmanagers, &n);
    struct km_buf b;
    struct km_jsonw w;

    if (!am) {
        km_http_respond_error(req, 500, "out of memory");
        return;
    }
    km_buf_init(&b, 0);
    km_jsonw_init(&w, &b);
    km_jsonw_obj_begin(&w);
    km_jsonw_key(&w, "status");
    km_jsonw_str(&w, "success");
    km_jsonw_key(&w, "data");
    km_jsonw_obj_begin(&w);
    km_jsonw_key(&w, "activeAlertmanagers");
    km_jsonw_arr_begin(&w);
    for (size_t i = 0; i < n; i++) {
        const char *at = strchr(am[i], '@'), *scheme = strstr(am[i], "://");
        size_t len = strlen(am[i]);

        km_jsonw_obj_begin(&w);
        km_jsonw_key(&w, "url");
        if (at && scheme && at > scheme) { /* http://user:pass@host → http://host */
            char clean[2048];

            snprintf(clean, sizeof(clean), "%.*s%s", (int)(scheme + 3 - am[i]), am[i], at + 1);
            len = strlen(clean);
            while (len && clean[len - 1] == '/')
                clean[--len] = '\0';
            snprintf(clean + len, sizeof(clean) - len, "/api/v2/alerts");
            km_jsonw_str(&w, clean);
        } else {
            char url[2048];

            while (len && am[i][len - 1] == '/')
                len--;
            snprintf(url, sizeof(url), "%.*s/api/v2/alerts", (int)len, am[i]);
            km_jsonw_str(&w, url);
        }
        km_jsonw_obj_end(&w);
    }
    km_jsonw_arr_end(&w);
    km_jsonw_key(&w, "droppedAlertmanagers");
    km_jsonw_arr_begin(&w);
    km_jsonw_arr_end(&w);
    km_jsonw_obj_end(&w);
    km_jsonw_obj_end(&w);
    if (km_buf_error(&b))
        km_http_respond_error(req, 500, "the answer could not be written");
    else
        km_http_respond_buf(req, 200, "application/json", &b);
    km_buf_fini(&b);
    free(am);
}

/* The matchers of one `match` selector; a metric name stands for the alertname (an alert's
 * labels have no __name__). */
static int history_matchers(const char *text, struct km_promql_expr **e, struct km_buf *why)
{
    struct km_promql_error perr;
    int rc = km_promql_parse_selector(text, strlen(text), e, &perr);

    if (rc) {
        km_buf_puts(why, perr.msg);
        return rc;
    }
    for (size_t i = 0; i < (*e)->vector.nmatchers; i++) {
        struct km_matcher *m = (*e)->vector.matchers[i];

        if (strcmp(m->name, "__name__") == 0) {
            char *name = strdup("alertname");

            if (!name)
                return KM_ENOMEM;
            free(m->name);
            m->name = name;
        }
    }
    return 0;
}

/* GET /api/alerts/history?from=&to=&match=&limit=: the alert transitions in the range
 * (default: the last 24 hours), oldest first. */
void km_server_on_alert_history(struct km_http_req *req, void *ud)
{
    struct km_server *s = ud;
    const char *from_s = km_http_req_arg(req, "from"), *to_s = km_http_req_arg(req, "to");
    const char *match = km_http_req_arg(req, "match"), *limit_s = km_http_req_arg(req, "limit");
    int64_t now = km_time_now_ns() / 1000000, from = now - 86400000, to = now;
    struct km_promql_expr *e = NULL;
    struct km_buf b, why;
    struct km_jsonw w;
    long long limit = 10000;
    char *end;

    /* The history spans every cluster. */
    if (km_auth_refuse_limited(req, "the alert history"))
        return;
    if (!s->history) {
        km_http_respond_error(req, 404, "the alert history is off (--alert-history-retention 0)");
        return;
    }
    if ((from_s && km_time_parse_prom(from_s, &from) != 0) ||
        (to_s && km_time_parse_prom(to_s, &to) != 0)) {
        km_http_respond_error(req, 400, "from and to are RFC 3339 times or Unix seconds: %s",
                              km_err_msg());
        return;
    }
    if (from > to) {
        km_http_respond_error(req, 400, "from is after to");
        return;
    }
    if (limit_s) {
        limit = strtoll(limit_s, &end, 10);
        if (*end || limit < 1 || limit > KM_ALERT_HISTORY_MAX_RESULTS) {
            km_http_respond_error(req, 400, "limit must be a number from 1 to %d",
                                  KM_ALERT_HISTORY_MAX_RESULTS);
            return;
        }
    }
    km_buf_init(&why, 4096);
    if (match && history_matchers(match, &e, &why) != 0) {
        km_http_respond_error(req, 400, "match: %s", km_buf_cstr(&why));
        km_buf_fini(&why);
        km_promql_expr_destroy(e);
        return;
    }
    km_buf_fini(&why);
    km_buf_init(&b, 0);
    km_jsonw_init(&w, &b);
    km_jsonw_obj_begin(&w);
    km_jsonw_key(&w, "from");
    km_jsonw_i64(&w, from);
    km_jsonw_key(&w, "to");
    km_jsonw_i64(&w, to);
    km_jsonw_key(&w, "transitions");
    km_alert_history_query(s->history, from, to, e ? e->vector.matchers : NULL,
                           e ? e->vector.nmatchers : 0, (size_t)limit, &w);
    km_jsonw_obj_end(&w);
    if (km_buf_error(&b))
        km_http_respond_error(req, 500, "the answer could not be written");
    else
        km_http_respond_buf(req, 200, "application/json", &b);
    km_buf_fini(&b);
    km_promql_expr_destroy(e);
}

/* POST /-/reload: as SIGHUP; 200 when the rules loaded, 500 with the errors when not. */
void km_server_on_reload(struct km_http_req *req, void *ud)
{
    struct km_server *s = ud;
    struct km_buf errs;
    int rc;

    km_buf_init(&errs, 1u << 20);
    rc = km_server_rules_reload(s, &errs);
    if (rc)
        km_http_respond_error(req, 500, "failed to reload config: %s",
                              errs.len ? km_buf_cstr(&errs) : km_err_msg());
    else
        km_http_respond(req, 200, "text/plain; charset=utf-8", "", 0);
    km_buf_fini(&errs);
}
