/*
 * mcp_tools_ops — the MCP tools over logs and alerts: search_logs (LogQL over the log
 * store, lines cut to KM_MCP_LINE_MAX), active_alerts (the rules' alerts now) and
 * alert_history (their transitions, from DATA/alerts).
 */
#include "mcp_internal.h"

#include "common/err.h"
#include "common/jsonw.h"
#include "logql/logql.h"
#include "logs/logstore.h"
#include "rules/history.h"
#include "rules/manager.h"
#include "server/server_internal.h"
#include "storage/sample.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- search_logs ------------------------------------------------------------------------ */

static json_t *log_streams(const struct km_logql_result *res, long long limit)
{
    json_t *a = json_array();
    long long shown = 0;

    for (size_t i = 0; a && i < res->nstreams; i++) {
        const struct km_logql_stream *st = &res->streams[i];
        json_t *lines = json_array();

        for (size_t k = 0; lines && k < st->n && shown < limit; k++, shown++) {
            const struct km_logql_entry *e = &st->e[k];
            size_t n = e->len > KM_MCP_LINE_MAX ? KM_MCP_LINE_MAX : e->len;
            json_t *text, *l;

            /* Cut between UTF-8 sequences, never inside one. */
            while (n < e->len && n > 0 && ((unsigned char)e->line[n] & 0xC0) == 0x80)
                n--;
            text = json_stringn(e->line, n);
            if (!text)
                text = json_string("(a line that is not UTF-8)");
            l = json_pack("{s:I,s:o}", "time_ms", (json_int_t)(e->ts_ns / 1000000), "line", text);
            json_array_append_new(lines, l);
        }
        json_array_append_new(a, json_pack("{s:o,s:o}", "stream", km_mcp_labels(st->labels, false),
                                           "entries", lines));
    }
    return a;
}

static int search_logs(struct km_mcp_call *c, json_t *args, json_t **out, struct km_buf *err)
{
    struct km_logql_expr *e = NULL;
    struct km_logql_result *res = NULL;
    struct km_logql_params p;
    struct km_log_source src;
    struct km_auth_log_view av;
    const char *q;
    int64_t since;
    long long limit;
    struct km_buf perr;
    json_t *o;
    int rc;

    if ((rc = km_mcp_arg_str(args, "query", true, &q, err)) ||
        (rc = km_mcp_arg_duration(args, "since", 3600000, &since, err)) ||
        (rc = km_mcp_arg_int(args, "limit", 1, KM_MCP_ROWS_MAX, KM_MCP_ROWS, &limit, err)))
        return rc;
    if (!c->s->logs_on)
        return km_mcp_fail(err, "this server keeps no logs");
    km_buf_init(&perr, 0);
    rc = km_logql_parse(&e, q, strlen(q), &perr);
    if (rc) {
        km_mcp_fail(err,
                    "the LogQL does not parse: %s (a query starts with a stream selector such as "
                    "{namespace=\"shop\"} or {source=\"kubernetes-events\"}, then filters such as "
                    "|= \"error\")",
                    perr.len ? km_buf_cstr(&perr) : km_err_msg());
        goto out_free;
    }
    km_logql_params_default(&p);
    p.end_ns = c->now_ms * 1000000 + 1;
    p.start_ns = p.end_ns - since * 1000000;
    p.limit = (size_t)limit;
    if (km_logql_expr_kind(e) == KM_LOGQL_METRIC)
        p.step_ns = 0; /* an instant metric query at now */
    src = c->s->log_src;
    rc = km_logql_eval(e, km_auth_logs(c->req, &src, &av), &p, &res);
    if (rc) {
        km_mcp_fail(err, "the LogQL query failed: %s", km_err_msg());
        goto out_free;
    }
    o = json_object();
    *out = o;
    if (res->type == KM_LOGQL_STREAMS) {
        km_mcp_set(o, "streams", json_integer((json_int_t)res->nstreams));
        km_mcp_set(o, "entries", json_integer((json_int_t)res->stats.entries_returned));
        km_mcp_set(o, "result", log_streams(res, limit));
        if (res->stats.entries_returned >= (uint64_t)limit)
            km_mcp_set(o, "more",
                       json_string("the limit was reached: older lines were left out (raise "
                                   "\"limit\", shorten \"since\" or filter with |= \"text\")"));
    } else {
        const struct km_pq_result *r = &res->metric;
        json_t *rows = json_array();

        km_mcp_set(o, "series", json_integer((json_int_t)r->vec.n));
        for (size_t i = 0; rows && i < r->vec.n && i < (size_t)limit; i++) {
            double v = NAN;

            km_mcp_last(r, i, &v);
            json_array_append_new(rows, json_pack("{s:o,s:o}", "labels",
                                                  km_mcp_labels(r->vec.s[i].labels, false), "value",
                                                  km_mcp_num(v)));
        }
        if (r->type == KM_PQ_RESULT_SCALAR && r->grid.n)
            km_mcp_set(o, "value", km_mcp_num(r->scalar[0]));
        km_mcp_set(o, "result", rows);
    }
out_free:
    km_logql_result_destroy(res);
    km_logql_expr_destroy(e);
    km_buf_fini(&perr);
    return rc;
}

/* ---- alerts --------------------------------------------------------------------------------- */

/* Write with fn into a buffer and read it back as JSON. */
static json_t *written(void (*fn)(void *ud, struct km_jsonw *w), void *ud)
{
    struct km_buf b;
    struct km_jsonw w;
    json_t *j = NULL;

    km_buf_init(&b, 0);
    km_jsonw_init(&w, &b);
    fn(ud, &w);
    if (!km_buf_error(&b))
        j = json_loadb(b.data ? b.data : "", b.len, 0, NULL);
    km_buf_fini(&b);
    return j;
}

static void write_alerts(void *ud, struct km_jsonw *w)
{
    km_rules_write_alerts(ud, w);
}

json_t *km_mcp_alerts(struct km_mcp_call *c)
{
    struct km_rules *rules = __atomic_load_n(&c->s->api.rules, __ATOMIC_ACQUIRE);

    return rules ? written(write_alerts, rules) : json_array();
}

static int active_alerts(struct km_mcp_call *c, json_t *args, json_t **out, struct km_buf *err)
{
    const char *state;
    long long limit;
    json_t *all, *rows, *o, *a;
    size_t i, n = 0;
    int rc;
    static const char *const states[] = { "any", "firing", "pending", NULL };

    if ((rc = km_mcp_arg_choice(args, "state", states, &state, err)) ||
        (rc = km_mcp_arg_int(args, "limit", 1, KM_MCP_ROWS_MAX, 50, &limit, err)))
        return rc;
    if (km_auth_read_limited(c->req))
        return km_mcp_fail(err, "this token sees only some clusters, and alerts span them all");
    all = km_mcp_alerts(c);
    if (!all)
        return km_mcp_fail(err, "the alerts could not be read");
    rows = json_array();
    json_array_foreach(all, i, a)
    {
        const char *st = json_string_value(json_object_get(a, "state"));
        json_t *labels = json_object_get(a, "labels"), *ann = json_object_get(a, "annotations");
        json_t *row;

        if (strcmp(state, "any") != 0 && (!st || strcmp(st, state) != 0))
            continue;
        if (n++ >= (size_t)limit)
            continue;
        row = json_pack("{s:O?,s:s?,s:O?,s:O?,s:O?,s:O?}", "alertname",
                        json_object_get(labels, "alertname"), "state", st, "labels", labels,
                        "summary", json_object_get(ann, "summary"), "activeAt",
                        json_object_get(a, "activeAt"), "value", json_object_get(a, "value"));
        json_array_append_new(rows, row);
    }
    o = json_pack("{s:I,s:o}", "alerts", (json_int_t)n, "result", rows);
    if (o && n > (size_t)limit)
        km_mcp_set(o, "more", json_sprintf("%zu more alerts", n - (size_t)limit));
    json_decref(all);
    *out = o;
    return 0;
}

struct history_args {
    struct km_alert_history *h;
    int64_t from, to;
    struct km_matcher **m;
    size_t nm;
    size_t limit;
};

static void write_history(void *ud, struct km_jsonw *w)
{
    struct history_args *x = ud;

    km_alert_history_query(x->h, x->from, x->to, x->m, x->nm, x->limit, w);
}

/* The history's records cut to what a model reads: when, the change, the alert, its
 * labels (without alertname), its summary and value. */
static json_t *history_rows(json_t *all)
{
    json_t *rows = json_array(), *r;
    size_t i;

    json_array_foreach(all, i, r)
    {
        json_t *labels = json_deep_copy(json_object_get(r, "labels"));

        json_object_del(labels, "alertname");
        json_array_append_new(
            rows,
            json_pack("{s:O?,s:O?,s:O?,s:O?,s:o?,s:O?,s:O?}", "t", json_object_get(r, "t"), "from",
                      json_object_get(r, "from"), "state", json_object_get(r, "state"), "alertname",
                      json_object_get(r, "alertname"), "labels", labels, "summary",
                      json_object_get(json_object_get(r, "annotations"), "summary"), "value",
                      json_object_get(r, "value")));
    }
    return rows;
}

static int alert_history(struct km_mcp_call *c, json_t *args, json_t **out, struct km_buf *err)
{
    struct history_args x = { 0 };
    struct km_matcher *m = NULL;
    const char *name;
    int64_t range;
    long long limit;
    json_t *all;
    int rc;

    if ((rc = km_mcp_arg_duration(args, "range", 24 * 3600000, &range, err)) ||
        (rc = km_mcp_arg_str(args, "alertname", false, &name, err)) ||
        (rc = km_mcp_arg_int(args, "limit", 1, KM_MCP_ROWS_MAX, 50, &limit, err)))
        return rc;
    if (km_auth_read_limited(c->req))
        return km_mcp_fail(err, "this token sees only some clusters, and alerts span them all");
    if (!c->s->history)
        return km_mcp_fail(err, "this server keeps no alert history "
                                "(--alert-history-retention is 0)");
    if (name && *name) {
        rc = km_matcher_create(&m, KM_MATCH_EQ, "alertname", name);
        if (rc)
            return km_mcp_fail(err, "%s", km_err_msg());
    }
    x.h = c->s->history;
    x.to = c->now_ms;
    x.from = c->now_ms - range;
    x.m = m ? &m : NULL;
    x.nm = m ? 1 : 0;
    x.limit = (size_t)limit;
    all = written(write_history, &x);
    km_matcher_destroy(m);
    if (!all)
        return km_mcp_fail(err, "the alert history could not be read: %s", km_err_msg());
    *out = json_pack("{s:I,s:s,s:o}", "transitions", (json_int_t)json_array_size(all), "order",
                     "oldest first (the newest kept when past the limit)", "result",
                     history_rows(all));
    json_decref(all);
    return 0;
}

const struct km_mcp_tool km_mcp_tools_ops[] = {
    { "search_logs", "Search logs (LogQL)",
      "Run a LogQL query over kmon's log store: container logs labelled {namespace, pod, "
      "container, node}, and Kubernetes events as {source=\"kubernetes-events\", namespace, "
      "kind, name, reason, type}. Log queries answer the newest lines first (cut to 400 "
      "characters); metric queries (count_over_time, rate) answer their value now. Example: "
      "{namespace=\"shop\", pod=~\"api-.*\"} |= \"error\".",
      "{\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\",\"description\":"
      "\"LogQL\"},\"since\":{\"type\":\"string\",\"description\":\"how far back (default "
      "1h)\"},\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":200,\"description\":"
      "\"lines at most (default 20)\"}},\"required\":[\"query\"]}",
      search_logs },
    { "active_alerts", "Active alerts",
      "The alerts of kmon's rules now (firing and pending), with their labels, summary, "
      "since when and value. They are also the series ALERTS{alertname, alertstate}.",
      "{\"type\":\"object\",\"properties\":{\"state\":{\"type\":\"string\",\"enum\":[\"any\","
      "\"firing\",\"pending\"]},\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":200}}}",
      active_alerts },
    { "alert_history", "Alert history",
      "Every state change of kmon's alerts (pending, firing, resolved) in the last `range`, "
      "with labels, annotations, value and time, optionally for one alertname.",
      "{\"type\":\"object\",\"properties\":{\"range\":{\"type\":\"string\",\"description\":"
      "\"how far back (default 24h)\"},\"alertname\":{\"type\":\"string\"},\"limit\":{\"type\":"
      "\"integer\",\"minimum\":1,\"maximum\":200}}}",
      alert_history },
};

const size_t km_mcp_ntools_ops = sizeof(km_mcp_tools_ops) / sizeof(km_mcp_tools_ops[0]);
