/*
 * mcp_tools_prom — the MCP tools over PromQL and the metric catalogue: promql_query,
 * promql_range (a summary per series rather than every point), list_metrics (names with
 * their TYPE and HELP) and label_values. Answers are capped (`limit` rows) and say how
 * many more there were.
 */
#include "mcp_internal.h"

#include "common/array.h"
#include "common/err.h"
#include "promql/parse.h"
#include "server/server_internal.h"
#include "storage/metadata.h"
#include "storage/storage.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NAMES_HINT                                                                                 \
    "kmon's metrics: node_* from each node (node_cpu_seconds_total{mode}, "                        \
    "node_memory_MemAvailable_bytes, node_memory_MemTotal_bytes, node_filesystem_avail_bytes, "    \
    "node_load1, node_network_receive_bytes_total; label node), container_* per container "        \
    "(container_cpu_usage_seconds_total, container_memory_working_set_bytes, "                     \
    "container_spec_memory_limit_bytes, container_oom_events_total; labels namespace, pod, "       \
    "container, node), and the cluster state as kube-state-metrics names it "                      \
    "(kube_pod_status_phase{phase}, kube_pod_info{node,created_by_kind}, "                         \
    "kube_pod_container_status_restarts_total, kube_pod_container_resource_requests{resource}, "   \
    "kube_node_status_capacity{resource}, kube_node_status_condition, "                            \
    "kube_deployment_status_replicas_available). Alerts are the series "                           \
    "ALERTS{alertname,alertstate}. Use rate() over counters (_total)."

#define LIMIT_PROP                                                                                 \
    "\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":200,\"description\":\"rows to "     \
    "return at most (default 20)\"}"

/* ---- promql_query ----------------------------------------------------------------------- */

static int promql_query(struct km_mcp_call *c, json_t *args, json_t **out, struct km_buf *err)
{
    struct km_pq_result r;
    const char *q;
    long long limit;
    int64_t t;
    struct km_mcp_ranked *x = NULL;
    json_t *o, *rows;
    int rc;

    if ((rc = km_mcp_arg_str(args, "query", true, &q, err)) ||
        (rc = km_mcp_arg_time(args, "time", c->now_ms, &t, err)) ||
        (rc = km_mcp_arg_int(args, "limit", 1, KM_MCP_ROWS_MAX, KM_MCP_ROWS, &limit, err)))
        return rc;
    rc = km_mcp_instant(c, q, t, &r, err);
    if (rc)
        goto out_fini;
    o = json_object();
    *out = o;
    if (r.type == KM_PQ_RESULT_SCALAR) {
        km_mcp_set(o, "resultType", json_string("scalar"));
        km_mcp_set(o, "value", km_mcp_num(r.grid.n ? r.scalar[0] : NAN));
        goto out_fini;
    }
    if (r.type == KM_PQ_RESULT_STRING) {
        km_mcp_set(o, "resultType", json_string("string"));
        km_mcp_set(o, "value", json_string(r.string ? r.string : ""));
        goto out_fini;
    }
    if (r.type == KM_PQ_RESULT_MATRIX) {
        rc = km_mcp_fail(err, "the query returns a range vector: wrap it in a function such as "
                              "rate(...), avg_over_time(...) or max_over_time(...), or use "
                              "promql_range for a value over time");
        goto out_fini;
    }
    km_mcp_set(o, "resultType", json_string("vector"));
    km_mcp_set(o, "series", json_integer((json_int_t)r.vec.n));
    x = km_mcp_rank(&r);
    rows = json_array();
    for (size_t k = 0; x && rows && k < r.vec.n && k < (size_t)limit; k++)
        json_array_append_new(rows, json_pack("{s:o,s:o}", "labels",
                                              km_mcp_labels(r.vec.s[x[k].i].labels, false), "value",
                                              km_mcp_num(x[k].v)));
    km_mcp_set(o, "result", rows);
    if (r.vec.n > (size_t)limit)
        km_mcp_set(o, "more",
                   json_sprintf("%zu more series (largest values shown first; narrow the "
                                "query or aggregate with sum by (...))",
                                r.vec.n - (size_t)limit));
out_fini:
    free(x);
    km_pq_result_fini(&r);
    return rc;
}

/* ---- promql_range ------------------------------------------------------------------------ */

static json_t *summarise(const struct km_pq_result *r, size_t i, int64_t step)
{
    const struct km_pq_series *s = &r->vec.s[i];
    double min = INFINITY, max = -INFINITY, sum = 0, first = NAN, last = NAN;
    size_t n = 0, fi = 0, li = 0;
    json_t *o;

    for (size_t k = 0; k < r->grid.n; k++) {
        double v = s->v[k];

        if (!km_pq_has(s, k) || isnan(v))
            continue;
        if (!n) {
            first = v;
            fi = k;
        }
        last = v;
        li = k;
        min = v < min ? v : min;
        max = v > max ? v : max;
        sum += v;
        n++;
    }
    o = json_pack("{s:o,s:i}", "labels", km_mcp_labels(s->labels, false), "points", (json_int_t)n);
    if (!o || !n)
        return o;
    km_mcp_set(o, "min", km_mcp_num(min));
    km_mcp_set(o, "avg", km_mcp_num(sum / (double)n));
    km_mcp_set(o, "max", km_mcp_num(max));
    km_mcp_set(o, "first", km_mcp_num(first));
    km_mcp_set(o, "last", km_mcp_num(last));
    if (li > fi) {
        double per_hour = (last - first) / ((double)(li - fi) * (double)step / 3.6e6);
        double span = max - min;
        const char *trend = "flat";

        if (span > 0 && fabs(last - first) > 0.1 * span)
            trend = last > first ? "rising" : "falling";
        km_mcp_set(o, "trend", json_string(trend));
        km_mcp_set(o, "change_per_hour", km_mcp_num(per_hour));
    }
    return o;
}

static int promql_range(struct km_mcp_call *c, json_t *args, json_t **out, struct km_buf *err)
{
    struct km_pq_result r;
    const char *q;
    long long limit;
    int64_t range, end, step;
    struct km_mcp_ranked *x = NULL;
    json_t *o, *rows;
    int rc;

    if ((rc = km_mcp_arg_str(args, "query", true, &q, err)) ||
        (rc = km_mcp_arg_duration(args, "range", 3600000, &range, err)) ||
        (rc = km_mcp_arg_time(args, "end", c->now_ms, &end, err)) ||
        (rc = km_mcp_arg_duration(args, "step", 0, &step, err)) ||
        (rc = km_mcp_arg_int(args, "limit", 1, KM_MCP_ROWS_MAX, KM_MCP_ROWS, &limit, err)))
        return rc;
    if (range > c->s->api.retention_ms && c->s->api.retention_ms > 0)
        return km_mcp_fail(err, "the range is longer than the data kept (retention)");
    if (!step)
        step = range / 60 > 1000 ? range / 60 : 1000;
    if (range / step > 11000)
        return km_mcp_fail(err, "too many steps (at most 11000): give a larger \"step\"");
    rc = km_mcp_range(c, q, end - range, end, step, &r, err);
    if (rc)
        goto out_fini;
    o = json_object();
    *out = o;
    km_mcp_set(o, "start", json_integer((end - range) / 1000));
    km_mcp_set(o, "end", json_integer(end / 1000));
    km_mcp_set(o, "step_seconds", km_mcp_num((double)step / 1000));
    km_mcp_set(o, "series", json_integer((json_int_t)r.vec.n));
    x = km_mcp_rank(&r);
    rows = json_array();
    for (size_t k = 0; x && rows && k < r.vec.n && k < (size_t)limit; k++)
        json_array_append_new(rows, summarise(&r, x[k].i, step));
    km_mcp_set(o, "result", rows);
    if (r.vec.n > (size_t)limit)
        km_mcp_set(o, "more",
                   json_sprintf("%zu more series (largest last values shown first)",
                                r.vec.n - (size_t)limit));
out_fini:
    free(x);
    km_pq_result_fini(&r);
    return rc;
}

/* ---- list_metrics, label_values --------------------------------------------------------- */

struct names {
    json_t *all; /* array of strings */
    const char *filter;
};

static int add_name(void *ud, const char *s)
{
    struct names *n = ud;

    if (n->filter && !strstr(s, n->filter))
        return 0;
    return json_array_append_new(n->all, json_string(s)) ? km_err_set(KM_ENOMEM, "out of memory")
                                                         : 0;
}

/* The values of label `name` on series matching `sel` (a selector, or NULL: all) with
 * data in the last `window` ms. */
static int values_of(struct km_mcp_call *c, const char *name, const char *sel, int64_t window,
                     struct names *n, struct km_buf *err)
{
    struct km_promql_expr *e = NULL;
    struct km_promql_error pe;
    struct km_querier *q;
    int rc;

    if (sel && *sel) {
        rc = km_promql_parse_selector(sel, strlen(sel), &e, &pe);
        if (rc)
            return km_mcp_fail(err, "the selector does not parse: %s",
                               rc == KM_ENOMEM ? "out of memory" : pe.msg);
    }
    rc = km_querier_open(c->store, c->now_ms - window, c->now_ms, &q);
    if (rc == 0) {
        rc = km_querier_label_values(q, name, e ? e->vector.matchers : NULL,
                                     e ? e->vector.nmatchers : 0, add_name, n);
        km_querier_close(q);
    }
    if (rc)
        km_mcp_fail(err, "the store could not be read: %s", km_err_msg());
    km_promql_expr_destroy(e);
    return rc;
}

static int cmp_json_str(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

/* Sorted, distinct strings of an array, into a C array of borrowed json_t (n set). */
static json_t **sorted_unique(json_t *all, size_t *n)
{
    size_t m = json_array_size(all), w = 0;
    json_t **v = calloc(m ? m : 1, sizeof(*v));

    for (size_t i = 0; v && i < m; i++)
        v[i] = json_array_get(all, i);
    if (!v)
        return NULL;
    km_sort(v, m, sizeof(*v), cmp_json_str);
    for (size_t i = 0; i < m; i++)
        if (!w || strcmp(json_string_value(v[w - 1]), json_string_value(v[i])) != 0)
            v[w++] = v[i];
    *n = w;
    return v;
}

struct md_first {
    json_t *o;
};

static int md_first(void *ud, const struct km_metadata *md)
{
    struct md_first *f = ud;

    if (f->o)
        return 1;
    f->o = json_pack("{s:s,s:s}", "type", km_metric_type_name(md->type), "help", md->help);
    return 1;
}

int km_mcp_metric_names(struct km_mcp_call *c, const char *contains, json_t **out,
                        struct km_buf *err)
{
    struct names n = { 0 };
    json_t **v = NULL;
    size_t nv = 0;
    int rc;

    *out = NULL;
    n.filter = contains;
    n.all = json_array();
    rc = values_of(c, "__name__", NULL, c->s->api.stale_ms > 0 ? c->s->api.stale_ms : 600000, &n,
                   err);
    if (rc == 0) {
        v = sorted_unique(n.all, &nv);
        *out = json_array();
        for (size_t i = 0; v && *out && i < nv; i++)
            json_array_append(*out, v[i]);
    }
    free(v);
    json_decref(n.all);
    return rc;
}

json_t *km_mcp_metric_meta(struct km_mcp_call *c, const char *name)
{
    struct md_first f = { 0 };

    km_storage_metadata_list(c->s->api.store, name, md_first, &f);
    return f.o;
}

static int list_metrics(struct km_mcp_call *c, json_t *args, json_t **out, struct km_buf *err)
{
    const char *contains;
    long long limit;
    json_t *names, *rows, *o, *name;
    size_t nv, i;
    int rc;

    if ((rc = km_mcp_arg_str(args, "contains", false, &contains, err)) ||
        (rc = km_mcp_arg_int(args, "limit", 1, KM_MCP_ROWS_MAX, 100, &limit, err)))
        return rc;
    rc = km_mcp_metric_names(c, contains, &names, err);
    if (rc)
        return rc;
    nv = json_array_size(names);
    o = json_object();
    *out = o;
    km_mcp_set(o, "metrics", json_integer((json_int_t)nv));
    rows = json_array();
    json_array_foreach(names, i, name)
    {
        json_t *row, *md;

        if (i >= (size_t)limit)
            break;
        row = json_pack("{s:O}", "name", name);
        md = km_mcp_metric_meta(c, json_string_value(name));
        if (md && row)
            json_object_update(row, md);
        json_decref(md);
        json_array_append_new(rows, row);
    }
    km_mcp_set(o, "result", rows);
    if (nv > (size_t)limit)
        km_mcp_set(o, "more",
                   json_sprintf("%zu more metrics: narrow with \"contains\"", nv - (size_t)limit));
    json_decref(names);
    return 0;
}

static int label_values(struct km_mcp_call *c, json_t *args, json_t **out, struct km_buf *err)
{
    struct names n = { 0 };
    const char *label, *sel;
    long long limit;
    int64_t window;
    json_t **v = NULL, *rows, *o;
    size_t nv = 0;
    int rc;

    if ((rc = km_mcp_arg_str(args, "label", true, &label, err)) ||
        (rc = km_mcp_arg_str(args, "match", false, &sel, err)) ||
        (rc = km_mcp_arg_duration(args, "range", 3600000, &window, err)) ||
        (rc = km_mcp_arg_int(args, "limit", 1, KM_MCP_ROWS_MAX, 100, &limit, err)))
        return rc;
    if (!km_label_name_valid(label, strlen(label)))
        return km_mcp_fail(err, "\"%.60s\" is not a label name (letters, digits and _)", label);
    n.all = json_array();
    rc = values_of(c, label, sel, window, &n, err);
    if (rc)
        goto out_free;
    v = sorted_unique(n.all, &nv);
    o = json_object();
    *out = o;
    km_mcp_set(o, "label", json_string(label));
    km_mcp_set(o, "values", json_integer((json_int_t)nv));
    rows = json_array();
    for (size_t i = 0; v && rows && i < nv && i < (size_t)limit; i++)
        json_array_append(rows, v[i]);
    km_mcp_set(o, "result", rows);
    if (nv > (size_t)limit)
        km_mcp_set(o, "more",
                   json_sprintf("%zu more values: narrow with \"match\"", nv - (size_t)limit));
out_free:
    free(v);
    json_decref(n.all);
    return rc;
}

const struct km_mcp_tool km_mcp_tools_prom[] = {
    { "promql_query", "PromQL instant query",
      "Evaluate a PromQL expression at one time (default now) with kmon's engine; returns the "
      "series (largest value first, capped at `limit`) or a scalar. " NAMES_HINT,
      "{\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\",\"description\":"
      "\"PromQL, e.g. sum by (namespace) (rate(container_cpu_usage_seconds_total[5m]))\"},"
      "\"time\":{\"type\":\"string\",\"description\":\"RFC 3339 or Unix seconds (default "
      "now)\"}," LIMIT_PROP "},\"required\":[\"query\"]}",
      promql_query },
    { "promql_range", "PromQL range query, summarised",
      "Evaluate a PromQL expression over a time range and summarise each series (min, avg, max, "
      "first, last, trend and change per hour) instead of returning every point. " NAMES_HINT,
      "{\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\"},\"range\":{\"type\":"
      "\"string\",\"description\":\"how far back from end, e.g. 30m, 6h (default 1h)\"},"
      "\"end\":{\"type\":\"string\",\"description\":\"RFC 3339 or Unix seconds (default now)\"},"
      "\"step\":{\"type\":\"string\",\"description\":\"resolution, e.g. 1m (default range/60)\"},"
      "" LIMIT_PROP "},\"required\":[\"query\"]}",
      promql_range },
    { "list_metrics", "List metric names",
      "The metric names kmon holds recent data for, with their TYPE and HELP. Filter with "
      "`contains` (a substring such as \"memory\" or \"kube_pod\"). " NAMES_HINT,
      "{\"type\":\"object\",\"properties\":{\"contains\":{\"type\":\"string\",\"description\":"
      "\"keep names containing this\"}," LIMIT_PROP "}}",
      list_metrics },
    { "label_values", "Values of a label",
      "The values a label takes (namespace, pod, node, container, job, phase, …) on the series "
      "with data in the last `range`, optionally only those matching a series selector such as "
      "kube_pod_info{namespace=\"shop\"}.",
      "{\"type\":\"object\",\"properties\":{\"label\":{\"type\":\"string\",\"description\":\"a "
      "label name, e.g. namespace\"},\"match\":{\"type\":\"string\",\"description\":\"a series "
      "selector, e.g. kube_pod_info{namespace=\\\"shop\\\"}\"},\"range\":{\"type\":\"string\","
      "\"description\":\"look back this far (default 1h)\"}," LIMIT_PROP
      "},\"required\":[\"label\"]}",
      label_values },
};

const size_t km_mcp_ntools_prom = sizeof(km_mcp_tools_prom) / sizeof(km_mcp_tools_prom[0]);
