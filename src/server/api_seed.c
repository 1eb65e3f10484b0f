/*
 * api_seed — the prototype's REST API, with its paths and shapes, over the database
 * (figures from model.c, documented with examples in docs/api.md):
 *
 *   GET /api/nodes                          /api/nodes/<node>        /api/nodes/<node>/pods
 *   GET /api/pods                           /api/pods/<pod>[?namespace=]
 *   GET /api/namespaces                     /api/namespaces/<ns>     /api/namespaces/<ns>/pods
 *   GET /api/namespaces/<ns>/deployments    …/deployments/<d>        …/deployments/<d>/pods
 *   GET /api/nodes/<node>/timeseries?window=<duration>[&step=<duration>]
 *   GET /api/pods/<pod>/timeseries?[namespace=&]window=   /api/namespaces/<ns>/timeseries?window=
 *   GET /api/deployments/<d>/timeseries?[namespace=&]window=
 *
 * Every raw number has a human-readable companion ("memory": "2.53 GB", "cpu": "150m").
 * Errors are JSON: 404 for an unknown object, 400 for a bad window or step, 409 for a
 * pod or deployment name found in several namespaces without ?namespace=. Durations
 * are seconds ("300") or what the settings take ("5m", "1h30m", "15d").
 */
#include "common/err.h"
#include "common/http_server.h"
#include "common/jsonw.h"
#include "common/timefmt.h"
#include "human.h"
#include "model.h"
#include "server_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_POINTS 11000

/* ---- JSON pieces -------------------------------------------------------------------------- */

/* A rate, to a thousandth (more digits would only be noise of the sample times). */
static void num_or_null(struct km_jsonw *w, const char *key, bool has, double v)
{
    km_jsonw_key(w, key);
    if (has)
        km_jsonw_double(w, fabs(v) < 1e15 ? round(v * 1000) / 1000 : v);
    else
        km_jsonw_null(w);
}

static void int_or_null(struct km_jsonw *w, const char *key, bool has, double v)
{
    km_jsonw_key(w, key);
    if (has)
        km_jsonw_i64(w, (int64_t)llround(v));
    else
        km_jsonw_null(w);
}

static void str_or_null(struct km_jsonw *w, const char *key, const char *s)
{
    km_jsonw_key(w, key);
    if (s)
        km_jsonw_str(w, s);
    else
        km_jsonw_null(w);
}

static void human(struct km_jsonw *w, const char *key, bool has, double v,
                  void (*fmt)(char *, size_t, double))
{
    char buf[48];

    km_jsonw_key(w, key);
    if (!has) {
        km_jsonw_null(w);
        return;
    }
    fmt(buf, sizeof(buf), v);
    km_jsonw_str(w, buf);
}

static void write_time(struct km_jsonw *w, const char *key, int64_t ms)
{
    char buf[48];

    km_jsonw_key(w, key);
    if (!ms) {
        km_jsonw_null(w);
        return;
    }
    km_time_format_rfc3339(buf, sizeof(buf), ms * 1000000, 6);
    km_jsonw_str(w, buf);
}

/* One I/O pair as the prototype had it (bytes of the last interval), with rates and
 * counter totals beside. */
static void write_io(struct km_jsonw *w, const struct km_figs *f, int a, int b, const char *key,
                     const char *const names[8])
{
    km_jsonw_key(w, key);
    km_jsonw_obj_begin(w);
    int_or_null(w, names[0], f->has[a], f->value[a]);
    int_or_null(w, names[1], f->has[b], f->value[b]);
    num_or_null(w, names[2], f->has_rate[a], f->rate[a]);
    num_or_null(w, names[3], f->has_rate[b], f->rate[b]);
    int_or_null(w, names[4], f->has_total[a], f->total[a]);
    int_or_null(w, names[5], f->has_total[b], f->total[b]);
    human(w, names[6], f->has_rate[a], f->rate[a], km_human_rate);
    human(w, names[7], f->has_rate[b], f->rate[b], km_human_rate);
    km_jsonw_obj_end(w);
}

static const char *const disk_names[8] = { "read_bytes",
                                           "write_bytes",
                                           "read_bytes_per_second",
                                           "write_bytes_per_second",
                                           "read_bytes_total",
                                           "write_bytes_total",
                                           "read",
                                           "write" };
static const char *const net_names[8] = { "bytes_recv",
                                          "bytes_sent",
                                          "bytes_recv_per_second",
                                          "bytes_sent_per_second",
                                          "bytes_recv_total",
                                          "bytes_sent_total",
                                          "recv",
                                          "sent" };

static void write_figs(struct km_jsonw *w, const struct km_figs *f)
{
    int_or_null(w, "cpu_millicores", f->has[KM_FIG_CPU], f->value[KM_FIG_CPU]);
    human(w, "cpu", f->has[KM_FIG_CPU], f->value[KM_FIG_CPU], km_human_cpu);
    int_or_null(w, "memory_bytes", f->has[KM_FIG_MEM], f->value[KM_FIG_MEM]);
    human(w, "memory", f->has[KM_FIG_MEM], f->value[KM_FIG_MEM], km_human_bytes);
    if (f->has_mem_total) {
        int_or_null(w, "memory_total_bytes", true, f->mem_total);
        human(w, "memory_total", true, f->mem_total, km_human_bytes);
    }
    write_io(w, f, KM_FIG_DISK_R, KM_FIG_DISK_W, "disk_io", disk_names);
    write_io(w, f, KM_FIG_NET_R, KM_FIG_NET_S, "network_io", net_names);
    write_time(w, "timestamp", f->t);
}

/* Add b's figures into a (namespaces and deployments are sums over their pods). */
static void add_figs(struct km_figs *a, const struct km_figs *b)
{
    for (int g = 0; g < KM_FIG_COUNT; g++) {
        if (b->has[g]) {
            a->value[g] += b->value[g];
            a->has[g] = true;
        }
        if (b->has_rate[g]) {
            a->rate[g] += b->rate[g];
            a->has_rate[g] = true;
        }
        if (b->has_total[g]) {
            a->total[g] += b->total[g];
            a->has_total[g] = true;
        }
    }
    if (b->t > a->t)
        a->t = b->t;
}

static void write_node(struct km_jsonw *w, const struct km_entity *e, size_t pods)
{
    km_jsonw_obj_begin(w);
    km_jsonw_key(w, "node_name");
    km_jsonw_str(w, e->name);
    str_or_null(w, "cluster", e->cluster);
    write_figs(w, &e->f);
    km_jsonw_key(w, "pod_count");
    km_jsonw_u64(w, pods);
    km_jsonw_obj_end(w);
}

static void write_pod(struct km_jsonw *w, const struct km_entity *e)
{
    km_jsonw_obj_begin(w);
    km_jsonw_key(w, "pod_name");
    km_jsonw_str(w, e->name);
    km_jsonw_key(w, "namespace");
    km_jsonw_str(w, e->namespace);
    str_or_null(w, "node_name", e->node);
    str_or_null(w, "deployment", e->deployment);
    str_or_null(w, "cluster", e->cluster);
    write_figs(w, &e->f);
    km_jsonw_obj_end(w);
}

static void write_pods(struct km_jsonw *w, const struct km_entities *pods, const char *ns,
                       const char *dep, const char *node)
{
    size_t n = 0;

    km_jsonw_key(w, "pods");
    km_jsonw_arr_begin(w);
    for (size_t i = 0; i < pods->n; i++) {
        const struct km_entity *p = &pods->v[i];

        if ((ns && strcmp(p->namespace, ns) != 0) ||
            (dep && (!p->deployment || strcmp(p->deployment, dep) != 0)) ||
            (node && (!p->node || strcmp(p->node, node) != 0)))
            continue;
        write_pod(w, p);
        n++;
    }
    km_jsonw_arr_end(w);
    km_jsonw_key(w, "count");
    km_jsonw_u64(w, n);
}

/* ---- request plumbing ----------------------------------------------------------------------- */

struct out {
    struct km_buf b;
    struct km_jsonw w;
};

static void out_begin(struct out *o)
{
    km_buf_init(&o->b, 0);
    km_jsonw_init(&o->w, &o->b);
    km_jsonw_obj_begin(&o->w);
}

static void out_send(struct out *o, struct km_http_req *req)
{
    km_jsonw_obj_end(&o->w);
    km_buf_putc(&o->b, '\n');
    if (km_buf_error(&o->b))
        km_http_respond_error(req, 500, "the answer could not be built (out of memory)");
    else
        km_http_respond_buf(req, 200, "application/json", &o->b);
    km_buf_fini(&o->b);
}

/* For answers that are one object written by the caller (no wrapper). */
static void bare_begin(struct out *o)
{
    km_buf_init(&o->b, 0);
    km_jsonw_init(&o->w, &o->b);
}

static void bare_send(struct out *o, struct km_http_req *req)
{
    km_buf_putc(&o->b, '\n');
    if (km_buf_error(&o->b))
        km_http_respond_error(req, 500, "the answer could not be built (out of memory)");
    else
        km_http_respond_buf(req, 200, "application/json", &o->b);
    km_buf_fini(&o->b);
}

static int64_t now_ms(void)
{
    return km_time_now_ns() / 1000000;
}

static bool current(const struct km_api_ctx *api, struct km_http_req *req, enum km_kind kind,
                    const struct km_filter *f, struct km_entities *out)
{
    if (km_model_current(api->store, kind, f, now_ms(), api->stale_ms, out) == 0)
        return true;
    km_http_respond_error(req, 500, "reading the database: %s", km_err_msg());
    return false;
}

/* The nodes or pods f names, newest figures; false after answering 404 when there are
 * none (`what` "name" [in namespace "ns"] not found). */
static bool current_or_404(const struct km_api_ctx *api, struct km_http_req *req, enum km_kind kind,
                           const struct km_filter *f, const char *what, const char *name,
                           const char *ns, struct km_entities *out)
{
    if (!current(api, req, kind, f, out))
        return false;
    if (out->n)
        return true;
    km_entities_fini(out);
    if (ns)
        km_http_respond_error(req, 404, "%s \"%s\" not found in namespace \"%s\"", what, name, ns);
    else
        km_http_respond_error(req, 404, "%s \"%s\" not found", what, name);
    return false;
}

/* ---- nodes ---------------------------------------------------------------------------------- */

static size_t pods_on(const struct km_entities *pods, const char *node)
{
    size_t n = 0;

    for (size_t i = 0; i < pods->n; i++)
        n += pods->v[i].node && strcmp(pods->v[i].node, node) == 0;
    return n;
}

static void on_nodes(struct km_http_req *req, void *ud)
{
    const struct km_api_ctx *api = ud;
    struct km_filter f = { 0 };
    struct km_entities nodes, pods;
    struct out o;

    if (!current(api, req, KM_NODES, &f, &nodes))
        return;
    if (!current(api, req, KM_PODS, &f, &pods)) {
        km_entities_fini(&nodes);
        return;
    }
    out_begin(&o);
    km_jsonw_key(&o.w, "nodes");
    km_jsonw_arr_begin(&o.w);
    for (size_t i = 0; i < nodes.n; i++)
        write_node(&o.w, &nodes.v[i], pods_on(&pods, nodes.v[i].name));
    km_jsonw_arr_end(&o.w);
    km_jsonw_key(&o.w, "count");
    km_jsonw_u64(&o.w, nodes.n);
    write_time(&o.w, "timestamp", now_ms());
    out_send(&o, req);
    km_entities_fini(&nodes);
    km_entities_fini(&pods);
}

static void on_node(struct km_http_req *req, void *ud)
{
    const struct km_api_ctx *api = ud;
    const char *name = km_http_req_param(req, "node");
    struct km_filter pf = { .node = name };
    struct km_entities nodes, pods;
    struct out o;

    if (!current_or_404(api, req, KM_NODES, &pf, "node", name, NULL, &nodes))
        return;
    if (!current(api, req, KM_PODS, &pf, &pods)) {
        km_entities_fini(&nodes);
        return;
    }
    bare_begin(&o);
    write_node(&o.w, &nodes.v[0], pods.n);
    bare_send(&o, req);
    km_entities_fini(&nodes);
    km_entities_fini(&pods);
}

/* A node's pods: a node is known by its own series or by its pods' node label (pods
 * reported by JSON senders or cgroup series of a node whose node series are missing),
 * so 404 only when neither names it. */
static void on_node_pods(struct km_http_req *req, void *ud)
{
    const struct km_api_ctx *api = ud;
    const char *name = km_http_req_param(req, "node");
    struct km_filter pf = { .node = name };
    struct km_entities nodes, pods;
    struct out o;

    if (!current(api, req, KM_PODS, &pf, &pods))
        return;
    if (pods.n == 0) {
        km_entities_fini(&pods);
        if (!current_or_404(api, req, KM_NODES, &pf, "node", name, NULL, &nodes))
            return;
        km_entities_fini(&nodes);
    }
    out_begin(&o);
    km_jsonw_key(&o.w, "node_name");
    km_jsonw_str(&o.w, name);
    write_pods(&o.w, &pods, NULL, NULL, NULL);
    out_send(&o, req);
    km_entities_fini(&pods);
}

/* ---- pods --------------------------------------------------------------------------------- */

static void on_pods(struct km_http_req *req, void *ud)
{
    const struct km_api_ctx *api = ud;
    struct km_filter f = { .namespace = km_http_req_arg(req, "namespace") };
    struct km_entities pods;
    struct out o;

    if (!current(api, req, KM_PODS, &f, &pods))
        return;
    out_begin(&o);
    write_pods(&o.w, &pods, NULL, NULL, NULL);
    out_send(&o, req);
    km_entities_fini(&pods);
}

/* 409 naming the namespaces an ambiguous name was found in. */
static void ambiguous(struct km_http_req *req, const char *what, const char *name,
                      const struct km_entities *found)
{
    struct out o;
    char list[512];
    size_t k = 0;

    list[0] = '\0';
    for (size_t i = 0; i < found->n && k < sizeof(list) - 64; i++) {
        if (i && strcmp(found->v[i].namespace, found->v[i - 1].namespace) == 0)
            continue;
        k += (size_t)snprintf(list + k, sizeof(list) - k, "%s%s", k ? ", " : "",
                              found->v[i].namespace);
    }
    km_buf_init(&o.b, 0);
    km_jsonw_init(&o.w, &o.b);
    km_jsonw_obj_begin(&o.w);
    km_jsonw_key(&o.w, "error");
    {
        char msg[768];

        snprintf(msg, sizeof(msg),
                 "%s \"%s\" exists in several namespaces (%s): pick one with ?namespace=", what,
                 name, list);
        km_jsonw_str(&o.w, msg);
    }
    km_jsonw_key(&o.w, "namespaces");
    km_jsonw_arr_begin(&o.w);
    for (size_t i = 0; i < found->n; i++) {
        if (i && strcmp(found->v[i].namespace, found->v[i - 1].namespace) == 0)
            continue;
        km_jsonw_str(&o.w, found->v[i].namespace);
    }
    km_jsonw_arr_end(&o.w);
    km_jsonw_obj_end(&o.w);
    km_buf_putc(&o.b, '\n');
    km_http_respond_buf(req, 409, "application/json", &o.b);
    km_buf_fini(&o.b);
}

/* Pods named by f (one pod, or a deployment's) that answer within `stale_ms`; false
 * after answering 404 or 409 when there is not exactly one namespace. */
static bool find_in_one_namespace(const struct km_api_ctx *api, struct km_http_req *req,
                                  const char *what, const char *name, struct km_filter *f,
                                  int64_t stale_ms, struct km_entities *out)
{
    if (km_model_current(api->store, KM_PODS, f, now_ms(), stale_ms, out) != 0) {
        km_http_respond_error(req, 500, "reading the database: %s", km_err_msg());
        return false;
    }
    if (out->n == 0) {
        km_entities_fini(out);
        if (f->namespace)
            km_http_respond_error(req, 404, "%s \"%s\" not found in namespace \"%s\"", what, name,
                                  f->namespace);
        else
            km_http_respond_error(req, 404, "%s \"%s\" not found", what, name);
        return false;
    }
    for (size_t i = 1; i < out->n; i++) {
        if (strcmp(out->v[i].namespace, out->v[0].namespace) != 0) {
            ambiguous(req, what, name, out);
            km_entities_fini(out);
            return false;
        }
    }
    return true;
}

static void on_pod(struct km_http_req *req, void *ud)
{
    const struct km_api_ctx *api = ud;
    const char *name = km_http_req_param(req, "pod");
    struct km_filter f = { .pod = name, .namespace = km_http_req_arg(req, "namespace") };
    struct km_entities pods;
    struct out o;

    if (!find_in_one_namespace(api, req, "pod", name, &f, api->stale_ms, &pods))
        return;
    bare_begin(&o);
    write_pod(&o.w, &pods.v[0]);
    bare_send(&o, req);
    km_entities_fini(&pods);
}

/* ---- namespaces and deployments ---------------------------------------------------------- */

struct group {
    const char *name;
    size_t pods;
    struct km_figs f;
    size_t deployments;
};

/* Group pods (sorted by namespace, name) by namespace, or by deployment. */
static size_t group_pods(const struct km_entities *pods, bool by_deployment, struct group *g)
{
    size_t n = 0;

    for (size_t i = 0; i < pods->n; i++) {
        const struct km_entity *p = &pods->v[i];
        const char *key = by_deployment ? p->deployment : p->namespace;
        size_t k;

        if (!key)
            continue;
        for (k = 0; k < n && strcmp(g[k].name, key) != 0; k++)
            ;
        if (k == n) {
            memset(&g[n], 0, sizeof(g[n]));
            g[n++].name = key;
        }
        g[k].pods++;
        add_figs(&g[k].f, &p->f);
    }
    /* Deployments per namespace. */
    for (size_t k = 0; !by_deployment && k < n; k++) {
        for (size_t i = 0; i < pods->n; i++) {
            const struct km_entity *p = &pods->v[i];
            bool seen = false;

            if (!p->deployment || strcmp(p->namespace, g[k].name) != 0)
                continue;
            for (size_t j = 0; j < i && !seen; j++)
                seen = pods->v[j].deployment && strcmp(pods->v[j].namespace, g[k].name) == 0 &&
                       strcmp(pods->v[j].deployment, p->deployment) == 0;
            g[k].deployments += !seen;
        }
    }
    return n;
}

static void write_group(struct km_jsonw *w, const char *key, const struct group *g, const char *ns)
{
    km_jsonw_obj_begin(w);
    km_jsonw_key(w, key);
    km_jsonw_str(w, g->name);
    if (ns) {
        km_jsonw_key(w, "namespace");
        km_jsonw_str(w, ns);
        km_jsonw_key(w, "replicas");
        km_jsonw_u64(w, g->pods);
    } else {
        km_jsonw_key(w, "deployment_count");
        km_jsonw_u64(w, g->deployments);
    }
    km_jsonw_key(w, "pod_count");
    km_jsonw_u64(w, g->pods);
    write_figs(w, &g->f);
    km_jsonw_obj_end(w);
}

static void on_namespaces(struct km_http_req *req, void *ud)
{
    const struct km_api_ctx *api = ud;
    struct km_filter f = { 0 };
    struct km_entities pods;
    struct group *g;
    struct out o;
    size_t n;

    if (!current(api, req, KM_PODS, &f, &pods))
        return;
    g = calloc(pods.n ? pods.n : 1, sizeof(*g));
    if (!g) {
        km_entities_fini(&pods);
        km_http_respond_error(req, 500, "out of memory");
        return;
    }
    n = group_pods(&pods, false, g);
    out_begin(&o);
    km_jsonw_key(&o.w, "namespaces");
    km_jsonw_arr_begin(&o.w);
    for (size_t i = 0; i < n; i++)
        write_group(&o.w, "namespace", &g[i], NULL);
    km_jsonw_arr_end(&o.w);
    km_jsonw_key(&o.w, "count");
    km_jsonw_u64(&o.w, n);
    out_send(&o, req);
    free(g);
    km_entities_fini(&pods);
}

static void on_namespace(struct km_http_req *req, void *ud)
{
    const struct km_api_ctx *api = ud;
    const char *ns = km_http_req_param(req, "namespace");
    struct km_entities pods;
    struct group *g;
    struct out o;

    if (!current_or_404(api, req, KM_PODS, &(struct km_filter){ .namespace = ns }, "namespace", ns,
                        NULL, &pods))
        return;
    g = calloc(pods.n, sizeof(*g));
    if (!g) {
        km_entities_fini(&pods);
        km_http_respond_error(req, 500, "out of memory");
        return;
    }
    group_pods(&pods, false, g);
    bare_begin(&o);
    write_group(&o.w, "namespace", &g[0], NULL);
    bare_send(&o, req);
    free(g);
    km_entities_fini(&pods);
}

static void on_namespace_pods(struct km_http_req *req, void *ud)
{
    const struct km_api_ctx *api = ud;
    const char *ns = km_http_req_param(req, "namespace");
    struct km_entities pods;
    struct out o;

    if (!current_or_404(api, req, KM_PODS, &(struct km_filter){ .namespace = ns }, "namespace", ns,
                        NULL, &pods))
        return;
    out_begin(&o);
    km_jsonw_key(&o.w, "namespace");
    km_jsonw_str(&o.w, ns);
    write_pods(&o.w, &pods, ns, NULL, NULL);
    out_send(&o, req);
    km_entities_fini(&pods);
}

static void on_deployments(struct km_http_req *req, void *ud)
{
    const struct km_api_ctx *api = ud;
    const char *ns = km_http_req_param(req, "namespace");
    struct km_entities pods;
    struct group *g;
    struct out o;
    size_t n;

    if (!current_or_404(api, req, KM_PODS, &(struct km_filter){ .namespace = ns }, "namespace", ns,
                        NULL, &pods))
        return;
    g = calloc(pods.n, sizeof(*g));
    if (!g) {
        km_entities_fini(&pods);
        km_http_respond_error(req, 500, "out of memory");
        return;
    }
    n = group_pods(&pods, true, g);
    out_begin(&o);
    km_jsonw_key(&o.w, "namespace");
    km_jsonw_str(&o.w, ns);
    km_jsonw_key(&o.w, "deployments");
    km_jsonw_arr_begin(&o.w);
    for (size_t i = 0; i < n; i++)
        write_group(&o.w, "deployment", &g[i], ns);
    km_jsonw_arr_end(&o.w);
    km_jsonw_key(&o.w, "count");
    km_jsonw_u64(&o.w, n);
    out_send(&o, req);
    free(g);
    km_entities_fini(&pods);
}

static void on_deployment(struct km_http_req *req, void *ud)
{
    const struct km_api_ctx *api = ud;
    const char *ns = km_http_req_param(req, "namespace");
    const char *dep = km_http_req_param(req, "deployment");
    struct km_entities pods;
    struct group g;
    struct out o;

    if (!current_or_404(api, req, KM_PODS,
                        &(struct km_filter){ .namespace = ns, .deployment = dep }, "deployment",
                        dep, ns, &pods))
        return;
    group_pods(&pods, true, &g);
    bare_begin(&o);
    write_group(&o.w, "deployment", &g, ns);
    bare_send(&o, req);
    km_entities_fini(&pods);
}

static void on_deployment_pods(struct km_http_req *req, void *ud)
{
    const struct km_api_ctx *api = ud;
    const char *ns = km_http_req_param(req, "namespace");
    const char *dep = km_http_req_param(req, "deployment");
    struct km_entities pods;
    struct out o;

    if (!current_or_404(api, req, KM_PODS,
                        &(struct km_filter){ .namespace = ns, .deployment = dep }, "deployment",
                        dep, ns, &pods))
        return;
    out_begin(&o);
    km_jsonw_key(&o.w, "namespace");
    km_jsonw_str(&o.w, ns);
    km_jsonw_key(&o.w, "deployment");
    km_jsonw_str(&o.w, dep);
    write_pods(&o.w, &pods, NULL, NULL, NULL);
    out_send(&o, req);
    km_entities_fini(&pods);
}

/* ---- time series --------------------------------------------------------------------------- */

/* A positive duration from the query string, as the settings take them: seconds
 * ("300", "0.5") or with units ("5m", "1h30m", "15d"); *ms = dflt when absent. False
 * after answering 400. */
static bool duration_param(struct km_http_req *req, const char *name, int64_t dflt, int64_t max,
                           int64_t *ms)
{
    const char *v = km_http_req_arg(req, name);
    char max_text[32];

    *ms = dflt;
    if (!v)
        return true;
    if (km_duration_parse(v, ms) != 0 || *ms <= 0) {
        km_http_respond_error(req, 400,
                              "%s must be a positive duration: seconds (300) or with units (5m, "
                              "1h30m, 15d), not \"%.64s\"",
                              name, v);
        return false;
    }
    if (*ms > max) {
        km_duration_format(max_text, sizeof(max_text), max);
        km_http_respond_error(req, 400, "%s=%.64s is longer than the %s the server keeps", name, v,
                              max_text);
        return false;
    }
    return true;
}

/* One step's I/O pair: bytes in the step, rates, and the rates' companions. */
static void write_step_io(struct km_jsonw *w, double *v[KM_FIG_COUNT], size_t k, double sec, int a,
                          int b, const char *key, const char *const names[8])
{
    bool ha = !isnan(v[a][k]), hb = !isnan(v[b][k]);

    km_jsonw_key(w, key);
    km_jsonw_obj_begin(w);
    int_or_null(w, names[0], ha, v[a][k] * sec);
    int_or_null(w, names[1], hb, v[b][k] * sec);
    num_or_null(w, names[2], ha, v[a][k]);
    num_or_null(w, names[3], hb, v[b][k]);
    human(w, names[6], ha, v[a][k], km_human_rate);
    human(w, names[7], hb, v[b][k], km_human_rate);
    km_jsonw_obj_end(w);
}

/* The figures of step k (a time-series point), named as the current figures are. */
static void write_point(struct km_jsonw *w, double *v[KM_FIG_COUNT], size_t k, double sec)
{
    bool hc = !isnan(v[KM_FIG_CPU][k]), hm = !isnan(v[KM_FIG_MEM][k]);

    int_or_null(w, "cpu_millicores", hc, v[KM_FIG_CPU][k]);
    human(w, "cpu", hc, v[KM_FIG_CPU][k], km_human_cpu);
    int_or_null(w, "memory_bytes", hm, v[KM_FIG_MEM][k]);
    human(w, "memory", hm, v[KM_FIG_MEM][k], km_human_bytes);
    write_step_io(w, v, k, sec, KM_FIG_DISK_R, KM_FIG_DISK_W, "disk_io", disk_names);
    write_step_io(w, v, k, sec, KM_FIG_NET_R, KM_FIG_NET_S, "network_io", net_names);
}

/* A time-series request's window and step (0: choose), checked before anything is
 * looked up so that a bad one is a 400 whatever it names. */
struct ts_params {
    int64_t window, step;
};

static bool parse_ts_params(const struct km_api_ctx *api, struct km_http_req *req,
                            struct ts_params *p)
{
    if (!duration_param(req, "window", 3600000, api->retention_ms, &p->window) ||
        !duration_param(req, "step", 0, api->retention_ms, &p->step))
        return false;
    if (p->step > p->window) {
        char step[32], window[32];

        km_duration_format(step, sizeof(step), p->step);
        km_duration_format(window, sizeof(window), p->window);
        km_http_respond_error(req, 400, "step (%s) is longer than window (%s)", step, window);
        return false;
    }
    if (p->step && p->window / p->step > MAX_POINTS) {
        km_http_respond_error(req, 400, "window/step asks for %lld points (at most %d)",
                              (long long)(p->window / p->step), MAX_POINTS);
        return false;
    }
    return true;
}

static void timeseries(const struct km_api_ctx *api, struct km_http_req *req,
                       const struct ts_params *p, enum km_kind kind, const struct km_filter *f,
                       const char *key, const char *name, const char *ns)
{
    struct km_view_steps steps;
    double *v[KM_FIG_COUNT] = { 0 };
    int64_t window = p->window, end = now_ms();
    struct out o;
    size_t points = 0;
    int rc;

    rc = km_model_plan_steps(api->store, kind, f, end, window, p->step, &steps);
    for (int g = 0; rc == 0 && g < KM_FIG_COUNT; g++) {
        v[g] = malloc(steps.n * sizeof(double));
        if (!v[g])
            rc = km_err_set(KM_ENOMEM, "out of memory");
    }
    if (rc == 0)
        rc = km_model_steps(api->store, kind, f, &steps, v);
    if (rc) {
        km_http_respond_error(req, 500, "reading the database: %s", km_err_msg());
        goto out_free;
    }
    out_begin(&o);
    km_jsonw_key(&o.w, key);
    km_jsonw_str(&o.w, name);
    if (ns) {
        km_jsonw_key(&o.w, "namespace");
        km_jsonw_str(&o.w, ns);
    }
    km_jsonw_key(&o.w, "window");
    km_jsonw_double(&o.w, (double)window / 1000);
    km_jsonw_key(&o.w, "step");
    km_jsonw_double(&o.w, (double)steps.step / 1000);
    km_jsonw_key(&o.w, "points");
    km_jsonw_arr_begin(&o.w);
    for (size_t k = 0; k < steps.n; k++) {
        double sec = (double)steps.step / 1000;
        bool any = false;

        for (int g = 0; g < KM_FIG_COUNT; g++)
            any = any || !isnan(v[g][k]);
        if (!any)
            continue;
        points++;
        km_jsonw_obj_begin(&o.w);
        write_time(&o.w, "timestamp", steps.start + (int64_t)k * steps.step);
        write_point(&o.w, v, k, sec);
        km_jsonw_obj_end(&o.w);
    }
    km_jsonw_arr_end(&o.w);
    km_jsonw_key(&o.w, "count");
    km_jsonw_u64(&o.w, points);
    out_send(&o, req);

out_free:
    for (int g = 0; g < KM_FIG_COUNT; g++)
        free(v[g]);
}

/* The look-back for "does this exist" in a time-series request: its window. */
static int64_t lookback_of(const struct km_api_ctx *api, const struct ts_params *p)
{
    return p->window < api->stale_ms ? api->stale_ms : p->window;
}

/* A time series of whatever f names, 404 when it had no data in the window. */
static void ts_if_found(const struct km_api_ctx *api, struct km_http_req *req, enum km_kind kind,
                        const struct km_filter *f, const char *what, const char *key,
                        const char *name)
{
    struct km_entities found;
    struct ts_params p;

    if (!parse_ts_params(api, req, &p))
        return;
    if (km_model_current(api->store, kind, f, now_ms(), lookback_of(api, &p), &found) != 0) {
        km_http_respond_error(req, 500, "reading the database: %s", km_err_msg());
        return;
    }
    if (found.n == 0)
        km_http_respond_error(req, 404, "%s \"%s\" not found", what, name);
    else
        timeseries(api, req, &p, kind, f, key, name, NULL);
    km_entities_fini(&found);
}

/* A time series of the pods f names (a pod, a deployment's), in the one namespace they
 * are found in (409 when several and no ?namespace=). */
static void ts_in_namespace(const struct km_api_ctx *api, struct km_http_req *req,
                            struct km_filter *f, const char *what, const char *key,
                            const char *name)
{
    struct km_entities pods;
    struct ts_params p;

    if (!parse_ts_params(api, req, &p) ||
        !find_in_one_namespace(api, req, what, name, f, lookback_of(api, &p), &pods))
        return;
    f->namespace = pods.v[0].namespace;
    timeseries(api, req, &p, KM_PODS, f, key, name, f->namespace);
    km_entities_fini(&pods);
}

static void on_node_ts(struct km_http_req *req, void *ud)
{
    const char *name = km_http_req_param(req, "node");
    struct km_filter f = { .node = name };

    ts_if_found(ud, req, KM_NODES, &f, "node", "node_name", name);
}

static void on_namespace_ts(struct km_http_req *req, void *ud)
{
    const char *ns = km_http_req_param(req, "namespace");
    struct km_filter f = { .namespace = ns };

    ts_if_found(ud, req, KM_PODS, &f, "namespace", "namespace", ns);
}

static void on_pod_ts(struct km_http_req *req, void *ud)
{
    const char *name = km_http_req_param(req, "pod");
    struct km_filter f = { .pod = name, .namespace = km_http_req_arg(req, "namespace") };

    ts_in_namespace(ud, req, &f, "pod", "pod_name", name);
}

static void on_deployment_ts(struct km_http_req *req, void *ud)
{
    const char *dep = km_http_req_param(req, "deployment");
    struct km_filter f = { .deployment = dep, .namespace = km_http_req_arg(req, "namespace") };

    ts_in_namespace(ud, req, &f, "deployment", "deployment", dep);
}

/* ---- routes -------------------------------------------------------------------------------- */

const struct km_http_route km_api_seed_routes[] = {
    { "GET", "/api/nodes", on_nodes, KM_ROUTE_NEEDS_READY },
    { "GET", "/api/nodes/<node>", on_node, KM_ROUTE_NEEDS_READY },
    { "GET", "/api/nodes/<node>/pods", on_node_pods, KM_ROUTE_NEEDS_READY },
    { "GET", "/api/nodes/<node>/timeseries", on_node_ts, KM_ROUTE_NEEDS_READY },
    { "GET", "/api/pods", on_pods, KM_ROUTE_NEEDS_READY },
    { "GET", "/api/pods/<pod>", on_pod, KM_ROUTE_NEEDS_READY },
    { "GET", "/api/pods/<pod>/timeseries", on_pod_ts, KM_ROUTE_NEEDS_READY },
    { "GET", "/api/namespaces", on_namespaces, KM_ROUTE_NEEDS_READY },
    { "GET", "/api/namespaces/<namespace>", on_namespace, KM_ROUTE_NEEDS_READY },
    { "GET", "/api/namespaces/<namespace>/pods", on_namespace_pods, KM_ROUTE_NEEDS_READY },
    { "GET", "/api/namespaces/<namespace>/timeseries", on_namespace_ts, KM_ROUTE_NEEDS_READY },
    { "GET", "/api/namespaces/<namespace>/deployments", on_deployments, KM_ROUTE_NEEDS_READY },
    { "GET", "/api/namespaces/<namespace>/deployments/<deployment>", on_deployment,
      KM_ROUTE_NEEDS_READY },
    { "GET", "/api/namespaces/<namespace>/deployments/<deployment>/pods", on_deployment_pods,
      KM_ROUTE_NEEDS_READY },
    { "GET", "/api/deployments/<deployment>/timeseries", on_deployment_ts, KM_ROUTE_NEEDS_READY },
};
const size_t km_api_seed_nroutes = sizeof(km_api_seed_routes) / sizeof(km_api_seed_routes[0]);
