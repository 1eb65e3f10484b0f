/*
 * mcp_tools_k8s — the MCP tools that answer Kubernetes questions from kmon's series:
 * cluster_overview, top_pods, top_nodes and describe_pod (whose events come from the log
 * store's {source="kubernetes-events"} streams). Each is a handful of PromQL queries
 * in the server's engine, summarised.
 */
#include "mcp_internal.h"

#include "common/err.h"
#include "logql/logql.h"
#include "logs/logstore.h"
#include "server/server_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QMAX 1024

/* ---- cluster_overview ------------------------------------------------------------------- */

static const struct {
    const char *key;
    const char *q;
    bool count; /* an empty answer is 0 */
} overview[] = {
    { "nodes", "count(kube_node_info)", true },
    { "nodes_reporting", "count(count by (node) (node_cpu_seconds_total))", true },
    { "nodes_not_ready",
      "count(kube_node_status_condition{condition=\"Ready\",status!=\"true\"} == 1)", true },
    { "pods", "count(kube_pod_info)", true },
    { "cpu_cores_used", "sum(rate(node_cpu_seconds_total{mode!=\"idle\"}[5m]))", false },
    { "cpu_cores", "sum(kube_node_status_capacity{resource=\"cpu\"})", false },
    { "cpu_cores_requested", "sum(kube_pod_container_resource_requests{resource=\"cpu\"})", false },
    { "memory_bytes_used", "sum(node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes)",
      false },
    { "memory_bytes", "sum(node_memory_MemTotal_bytes)", false },
    { "memory_bytes_requested", "sum(kube_pod_container_resource_requests{resource=\"memory\"})",
      false },
    { "container_restarts_last_hour", "sum(increase(kube_pod_container_status_restarts_total[1h]))",
      true },
};

static json_t *by_label(struct km_mcp_call *c, const char *q, const char *label)
{
    struct km_pq_result r;
    struct km_buf err;
    json_t *o = json_object();
    double v;

    km_buf_init(&err, 0);
    if (km_mcp_instant(c, q, c->now_ms, &r, &err) == 0 && r.type == KM_PQ_RESULT_VECTOR)
        for (size_t i = 0; o && i < r.vec.n; i++)
            if (km_mcp_last(&r, i, &v) && km_labels_get(r.vec.s[i].labels, label))
                km_mcp_set(o, km_labels_get(r.vec.s[i].labels, label), km_mcp_num(v));
    km_pq_result_fini(&r);
    km_buf_fini(&err);
    return o;
}

/* Firing and pending alerts, from the rules manager (the ALERTS series lag it). */
static void count_alerts(struct km_mcp_call *c, json_t *o)
{
    json_t *all = km_mcp_alerts(c), *a, *by = json_object();
    json_int_t firing = 0, pending = 0;
    size_t i;

    json_array_foreach(all, i, a)
    {
        const char *st = json_string_value(json_object_get(a, "state"));
        const char *name =
            json_string_value(json_object_get(json_object_get(a, "labels"), "alertname"));

        if (st && strcmp(st, "pending") == 0)
            pending++;
        if (!st || strcmp(st, "firing") != 0)
            continue;
        firing++;
        if (name && by)
            json_object_set_new(by, name,
                                json_integer(json_integer_value(json_object_get(by, name)) + 1));
    }
    json_decref(all);
    km_mcp_set(o, "alerts_firing", json_integer(firing));
    km_mcp_set(o, "alerts_pending", json_integer(pending));
    km_mcp_set(o, "firing_alerts_by_name", by);
}

static int cluster_overview(struct km_mcp_call *c, json_t *args, json_t **out, struct km_buf *err)
{
    json_t *o = json_object();

    (void)args;
    (void)err;
    *out = o;
    for (size_t i = 0; o && i < sizeof(overview) / sizeof(overview[0]); i++) {
        double v = km_mcp_scalar(c, overview[i].q);

        if (isnan(v) && overview[i].count)
            v = 0;
        km_mcp_set(o, overview[i].key, isnan(v) ? json_null() : km_mcp_num(v));
    }
    km_mcp_set(o, "pods_by_phase",
               by_label(c, "sum by (phase) (kube_pod_status_phase == 1)", "phase"));
    count_alerts(c, o);
    return 0;
}

/* ---- top_pods, top_nodes ------------------------------------------------------------------ */

static const char *const pod_by[] = { "cpu", "memory", "restarts", NULL };

/* A pod's own cgroup is its series with container="" (kmon's agent and cAdvisor alike). */
static const char *const pod_q[] = {
    ("sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{container=\"\",pod!=\"\"%s}"
     "[5m]))"),
    "sum by (namespace, pod) (container_memory_working_set_bytes{container=\"\",pod!=\"\"%s})",
    "sum by (namespace, pod) (kube_pod_container_status_restarts_total{%s})",
};

static const char *const node_q[] = {
    "100 * (1 - avg by (node) (rate(node_cpu_seconds_total{mode=\"idle\"}[5m])))",
    ("100 * (1 - sum by (node) (node_memory_MemAvailable_bytes) / sum by (node) "
     "(node_memory_MemTotal_bytes))"),
    ("sum by (node) (sum by (namespace, pod) (kube_pod_container_status_restarts_total) * on "
     "(namespace, pod) group_left (node) max by (namespace, pod, node) (kube_pod_info))"),
};

static const char *const pod_unit[] = { "cores", "bytes", "restarts" };
static const char *const node_unit[] = { "percent busy", "percent used", "restarts" };

/* Evaluate q, and list its series largest first as {labels…, value}. */
static int top(struct km_mcp_call *c, const char *q, const char *by, const char *unit,
               long long limit, json_t **out, struct km_buf *err)
{
    struct km_pq_result r;
    struct km_mcp_ranked *x = NULL;
    json_t *o, *rows;
    int rc = km_mcp_instant(c, q, c->now_ms, &r, err);

    if (rc)
        goto out_fini;
    x = km_mcp_rank(&r);
    o = json_pack("{s:s,s:s,s:s,s:i}", "by", by, "unit", unit, "query", q, "total",
                  (json_int_t)r.vec.n);
    *out = o;
    rows = json_array();
    for (size_t k = 0; o && x && rows && k < r.vec.n && k < (size_t)limit; k++) {
        json_t *row = km_mcp_labels(r.vec.s[x[k].i].labels, true);

        km_mcp_set(row, "value", km_mcp_num(x[k].v));
        json_array_append_new(rows, row);
    }
    km_mcp_set(o, "result", rows);
    if (r.vec.n > (size_t)limit)
        km_mcp_set(o, "more", json_sprintf("%zu more", r.vec.n - (size_t)limit));
out_fini:
    free(x);
    km_pq_result_fini(&r);
    return rc;
}

static size_t choice_index(const char *const *v, const char *s)
{
    size_t i = 0;

    while (v[i] && strcmp(v[i], s) != 0)
        i++;
    return i;
}

static int top_pods(struct km_mcp_call *c, json_t *args, json_t **out, struct km_buf *err)
{
    const char *by, *ns;
    char sel[320] = "", q[QMAX];
    long long limit;
    size_t i;
    int rc;

    if ((rc = km_mcp_arg_choice(args, "by", pod_by, &by, err)) ||
        (rc = km_mcp_arg_plain(args, "namespace", false, &ns, err)) ||
        (rc = km_mcp_arg_int(args, "limit", 1, KM_MCP_ROWS_MAX, 10, &limit, err)))
        return rc;
    i = choice_index(pod_by, by);
    if (ns && *ns)
        snprintf(sel, sizeof(sel), "%snamespace=\"%s\"", i < 2 ? "," : "", ns);
    snprintf(q, sizeof(q), pod_q[i], sel);
    return top(c, q, by, pod_unit[i], limit, out, err);
}

static int top_nodes(struct km_mcp_call *c, json_t *args, json_t **out, struct km_buf *err)
{
    const char *by;
    long long limit;
    int rc;

    if ((rc = km_mcp_arg_choice(args, "by", pod_by, &by, err)) ||
        (rc = km_mcp_arg_int(args, "limit", 1, KM_MCP_ROWS_MAX, 10, &limit, err)))
        return rc;
    return top(c, node_q[choice_index(pod_by, by)], by, node_unit[choice_index(pod_by, by)], limit,
               out, err);
}

/* ---- describe_pod ------------------------------------------------------------------------- */

enum field_mode {
    F_VALUE,    /* the value into containers[c][field] */
    F_REASON,   /* the label `reason` of a series at 1 into containers[c][field] */
    F_RESOURCE, /* containers[c][field][resource] = value */
};

static const struct {
    const char *metric; /* queried as metric{namespace,pod}, or a format with two %s */
    const char *field;
    enum field_mode mode;
} container_fields[] = {
    { "kube_pod_container_status_ready", "ready", F_VALUE },
    { "kube_pod_container_status_restarts_total", "restarts", F_VALUE },
    { "increase(kube_pod_container_status_restarts_total{namespace=\"%s\",pod=\"%s\"}[1h])",
      "restarts_last_hour", F_VALUE },
    { "kube_pod_container_status_waiting_reason", "waiting_reason", F_REASON },
    { "kube_pod_container_status_terminated_reason", "terminated_reason", F_REASON },
    { "kube_pod_container_status_last_terminated_reason", "last_terminated_reason", F_REASON },
    { "kube_pod_container_resource_requests", "requests", F_RESOURCE },
    { "kube_pod_container_resource_limits", "limits", F_RESOURCE },
    { "rate(container_cpu_usage_seconds_total{namespace=\"%s\",pod=\"%s\",container!=\"\"}[5m])",
      "cpu_cores_used", F_VALUE },
    { "container_memory_working_set_bytes{namespace=\"%s\",pod=\"%s\",container!=\"\"}",
      "memory_working_set_bytes", F_VALUE },
};

static json_t *container_of(json_t *containers, const char *name)
{
    json_t *o = json_object_get(containers, name);

    if (!o) {
        o = json_object();
        json_object_set_new(containers, name, o);
    }
    return o;
}

static void fill_field(json_t *containers, size_t f, const struct km_pq_result *r)
{
    for (size_t i = 0; i < r->vec.n; i++) {
        const struct km_labels *l = r->vec.s[i].labels;
        const char *cname = km_labels_get(l, "container");
        json_t *co;
        double v;

        if (!cname || !*cname || !km_mcp_last(r, i, &v))
            continue;
        co = container_of(containers, cname);
        if (container_fields[f].mode == F_VALUE) {
            km_mcp_set(co, container_fields[f].field, km_mcp_num(v));
        } else if (container_fields[f].mode == F_REASON) {
            if (v == 1 && km_labels_get(l, "reason"))
                km_mcp_set(co, container_fields[f].field, json_string(km_labels_get(l, "reason")));
        } else if (km_labels_get(l, "resource")) {
            json_t *res = json_object_get(co, container_fields[f].field);

            if (!res) {
                res = json_object();
                json_object_set_new(co, container_fields[f].field, res);
            }
            km_mcp_set(res, km_labels_get(l, "resource"), km_mcp_num(v));
        }
    }
}

/* The pod's one series of `metric` (its labels, for node, owner, phase); NULL if none. */
static json_t *pod_labels(struct km_mcp_call *c, const char *q)
{
    struct km_pq_result r;
    struct km_buf err;
    json_t *o = NULL;

    km_buf_init(&err, 0);
    if (km_mcp_instant(c, q, c->now_ms, &r, &err) == 0 && r.type == KM_PQ_RESULT_VECTOR && r.vec.n)
        o = km_mcp_labels(r.vec.s[0].labels, true);
    km_pq_result_fini(&r);
    km_buf_fini(&err);
    return o;
}

static void copy_label(json_t *to, const char *key, json_t *from, const char *label)
{
    json_t *v = json_object_get(from, label);

    if (json_is_string(v) && json_string_length(v))
        json_object_set(to, key, v);
}

/* The pod's latest events, newest first, from the log store. */
static json_t *pod_events(struct km_mcp_call *c, const char *ns, const char *pod)
{
    struct km_logql_expr *e = NULL;
    struct km_logql_result *res = NULL;
    struct km_logql_params p;
    struct km_log_source src;
    struct km_auth_log_view av;
    char q[QMAX];
    json_t *a = json_array();

    if (!c->s->logs_on)
        return a;
    snprintf(q, sizeof(q),
             "{source=\"kubernetes-events\",namespace=\"%s\",kind=\"Pod\",name=\"%s\"}", ns, pod);
    if (km_logql_parse(&e, q, strlen(q), NULL) != 0)
        return a;
    km_logql_params_default(&p);
    p.end_ns = c->now_ms * 1000000 + 1;
    p.start_ns = p.end_ns - (int64_t)24 * 3600 * 1000000000;
    p.limit = 10;
    src = c->s->log_src;
    if (km_logql_eval(e, km_auth_logs(c->req, &src, &av), &p, &res) == 0) {
        for (size_t i = 0; a && i < res->nstreams; i++)
            for (size_t k = 0; k < res->streams[i].n; k++)
                json_array_append_new(a, json_string(res->streams[i].e[k].line));
    }
    km_logql_result_destroy(res);
    km_logql_expr_destroy(e);
    return a;
}

static int describe_pod(struct km_mcp_call *c, json_t *args, json_t **out, struct km_buf *err)
{
    const char *ns, *pod;
    char q[QMAX];
    json_t *o, *info, *x, *containers;
    int rc;

    if ((rc = km_mcp_arg_plain(args, "namespace", true, &ns, err)) ||
        (rc = km_mcp_arg_plain(args, "pod", true, &pod, err)))
        return rc;
    snprintf(q, sizeof(q), "kube_pod_info{namespace=\"%s\",pod=\"%s\"}", ns, pod);
    info = pod_labels(c, q);
    if (!info)
        return km_mcp_fail(err,
                           "kmon knows no pod \"%s\" in namespace \"%s\" (no kube_pod_info series "
                           "now): list the pods with label_values {\"label\":\"pod\",\"match\":"
                           "\"kube_pod_info{namespace=\\\"%s\\\"}\"}",
                           pod, ns, ns);
    o = json_pack("{s:s,s:s}", "namespace", ns, "pod", pod);
    *out = o;
    copy_label(o, "node", info, "node");
    copy_label(o, "pod_ip", info, "pod_ip");
    copy_label(o, "owner_kind", info, "created_by_kind");
    copy_label(o, "owner_name", info, "created_by_name");
    json_decref(info);
    snprintf(q, sizeof(q), "kube_pod_status_phase{namespace=\"%s\",pod=\"%s\"} == 1", ns, pod);
    if ((x = pod_labels(c, q))) {
        copy_label(o, "phase", x, "phase");
        json_decref(x);
    }
    snprintf(q, sizeof(q), "kube_pod_owner{namespace=\"%s\",pod=\"%s\"}", ns, pod);
    if ((x = pod_labels(c, q))) {
        copy_label(o, "owner_kind", x, "owner_kind");
        copy_label(o, "owner_name", x, "owner_name");
        json_decref(x);
    }
    snprintf(q, sizeof(q), "kube_pod_status_reason{namespace=\"%s\",pod=\"%s\"} == 1", ns, pod);
    if ((x = pod_labels(c, q))) {
        copy_label(o, "reason", x, "reason");
        json_decref(x);
    }
    containers = json_object();
    for (size_t f = 0; containers && f < sizeof(container_fields) / sizeof(container_fields[0]);
         f++) {
        struct km_pq_result r;
        struct km_buf e2;

        if (strchr(container_fields[f].metric, '%'))
            snprintf(q, sizeof(q), container_fields[f].metric, ns, pod);
        else
            snprintf(q, sizeof(q), "%s{namespace=\"%s\",pod=\"%s\"}", container_fields[f].metric,
                     ns, pod);
        km_buf_init(&e2, 0);
        if (km_mcp_instant(c, q, c->now_ms, &r, &e2) == 0 && r.type == KM_PQ_RESULT_VECTOR)
            fill_field(containers, f, &r);
        km_pq_result_fini(&r);
        km_buf_fini(&e2);
    }
    km_mcp_set(o, "containers", containers);
    km_mcp_set(o, "recent_events", pod_events(c, ns, pod));
    return 0;
}

#define BY_PROP(what)                                                                              \
    "\"by\":{\"type\":\"string\",\"enum\":[\"cpu\",\"memory\",\"restarts\"],\"description\":"      \
    "\"" what "\"}"
#define LIMIT_PROP                                                                                 \
    "\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":200,\"description\":\"rows "        \
    "(default 10)\"}"

const struct km_mcp_tool km_mcp_tools_k8s[] = {
    { "cluster_overview", "Cluster overview",
      "One call for the state of the cluster: nodes (known, reporting, not Ready), pods and "
      "pods by phase (kube_pod_status_phase), CPU cores used (rate of node_cpu_seconds_total "
      "outside idle) against capacity (kube_node_status_capacity) and requests, memory used "
      "(node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes) against total and "
      "requests, container restarts in the last hour, and firing and pending alerts.",
      "{\"type\":\"object\",\"properties\":{}}", cluster_overview },
    { "top_pods", "Top pods",
      "The pods using the most CPU (cores: rate(container_cpu_usage_seconds_total[5m])), "
      "memory (bytes: container_memory_working_set_bytes) or with the most container restarts "
      "(kube_pod_container_status_restarts_total), largest first, optionally in one namespace.",
      "{\"type\":\"object\",\"properties\":{" BY_PROP(
          "cpu (default), memory or restarts") ","
                                               "\"namespace\":{\"type\":\"string\"}," LIMIT_PROP
                                               "}}",
      top_pods },
    { "top_nodes", "Top nodes",
      "The busiest nodes: CPU percent busy (from node_cpu_seconds_total{mode=\"idle\"}), "
      "memory percent used (node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes) or "
      "container restarts of their pods (kube_pod_container_status_restarts_total joined "
      "with kube_pod_info's node), largest first.",
      "{\"type\":\"object\",\"properties\":{" BY_PROP(
          "cpu (default), memory or restarts") "," LIMIT_PROP "}}",
      top_nodes },
    { "describe_pod", "Describe a pod",
      "A pod as kmon sees it: phase, node, IP, owner (kube_pod_info, kube_pod_owner), each "
      "container's readiness, restarts (total and in the last hour), waiting and last "
      "termination reasons (e.g. CrashLoopBackOff, OOMKilled), requests and limits, CPU and "
      "memory use, and its latest Kubernetes events.",
      "{\"type\":\"object\",\"properties\":{\"namespace\":{\"type\":\"string\"},\"pod\":{"
      "\"type\":\"string\",\"description\":\"the pod's name\"}},\"required\":[\"namespace\","
      "\"pod\"]}",
      describe_pod },
};

const size_t km_mcp_ntools_k8s = sizeof(km_mcp_tools_k8s) / sizeof(km_mcp_tools_k8s[0]);
