/*
 * kma_api — the routes of the Kubernetes metrics API (kma.h), answered as the Kubernetes
 * API answers: discovery documents, lists and items with `kind`/`apiVersion`, and errors
 * as `Status` objects (404 NotFound, 400 BadRequest, 503 ServiceUnavailable) that
 * kubectl prints as it prints the API server's.
 *
 *   GET /api  /api/v1  /api/v1/nodes[/<node>]                      (what `kubectl top node` reads)
 *   GET /apis  /apis/metrics.k8s.io  /apis/metrics.k8s.io/v1beta1
 *   GET /apis/metrics.k8s.io/v1beta1/nodes[/<node>]                ?labelSelector= &window=
 *   GET /apis/metrics.k8s.io/v1beta1/pods                           (every namespace)
 *   GET /apis/metrics.k8s.io/v1beta1/namespaces/<namespace>/pods[/<pod>]
 */
#include "kma.h"

#include "common/err.h"
#include "common/jsonw.h"
#include "common/timefmt.h"
#include "server/model.h"
#include "server/server_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KMA_GROUP   "metrics.k8s.io"
#define KMA_VERSION "v1beta1"
#define KMA_GV      KMA_GROUP "/" KMA_VERSION

struct kma_out {
    struct km_buf b;
    struct km_jsonw w;
};

static void out_init(struct kma_out *o)
{
    km_buf_init(&o->b, 0);
    km_jsonw_init(&o->w, &o->b);
}

static void out_send(struct km_http_req *req, struct kma_out *o)
{
    if (km_buf_error(&o->b))
        km_http_respond_error(req, 500, "the answer could not be built (out of memory)");
    else
        km_http_respond_buf(req, 200, "application/json", &o->b);
    km_buf_fini(&o->b);
}

static void kv(struct km_jsonw *w, const char *k, const char *v)
{
    km_jsonw_key(w, k);
    km_jsonw_str(w, v);
}

/* A Kubernetes Status error. */
void km_kma_respond_status(struct km_http_req *req, int code, const char *reason, const char *msg)
{
    struct kma_out o;

    out_init(&o);
    km_jsonw_obj_begin(&o.w);
    kv(&o.w, "kind", "Status");
    kv(&o.w, "apiVersion", "v1");
    km_jsonw_key(&o.w, "metadata");
    km_jsonw_obj_begin(&o.w);
    km_jsonw_obj_end(&o.w);
    kv(&o.w, "status", "Failure");
    kv(&o.w, "message", msg);
    kv(&o.w, "reason", reason);
    km_jsonw_key(&o.w, "code");
    km_jsonw_i64(&o.w, code);
    km_jsonw_obj_end(&o.w);
    if (km_buf_error(&o.b))
        km_http_respond_error(req, code, "%s", msg);
    else
        km_http_respond_buf(req, code, "application/json", &o.b);
    km_buf_fini(&o.b);
}

void km_kma_respond_store_error(struct km_http_req *req, int rc)
{
    char msg[600];

    snprintf(msg, sizeof(msg), "reading kmon's store: %s", km_err_msg());
    if (rc == KM_ETIMEDOUT || rc == KM_EAGAIN || rc == KM_ECANCELED)
        km_kma_respond_status(req, 503, "ServiceUnavailable", msg);
    else
        km_kma_respond_status(req, 500, "InternalError", msg);
}

/* ---- discovery ---------------------------------------------------------------------- */

static void on_api(struct km_http_req *req, void *ud)
{
    static const char doc[] =
        "{\"kind\":\"APIVersions\",\"versions\":[\"v1\"],\"serverAddressByClientCIDRs\":"
        "[{\"clientCIDR\":\"0.0.0.0/0\",\"serverAddress\":\"\"}]}";
    (void)ud;
    km_http_respond(req, 200, "application/json", doc, sizeof(doc) - 1);
}

static void on_api_v1(struct km_http_req *req, void *ud)
{
    static const char doc[] =
        "{\"kind\":\"APIResourceList\",\"groupVersion\":\"v1\",\"resources\":[{\"name\":"
        "\"nodes\",\"singularName\":\"node\",\"namespaced\":false,\"kind\":\"Node\","
        "\"verbs\":[\"get\",\"list\"],\"shortNames\":[\"no\"]}]}";
    (void)ud;
    km_http_respond(req, 200, "application/json", doc, sizeof(doc) - 1);
}

#define KMA_GROUP_DOC_OF(g)                                                                        \
    "\"name\":\"" g "\",\"versions\":[{\"groupVersion\":\"" g "/" KMA_VERSION                      \
    "\",\"version\":\"" KMA_VERSION "\"}],\"preferredVersion\":{\"groupVersion\":\"" g             \
    "/" KMA_VERSION "\",\"version\":\"" KMA_VERSION "\"}"
#define KMA_GROUP_DOC KMA_GROUP_DOC_OF(KMA_GROUP)

/* The groups: metrics.k8s.io, and custom/external when --k8s-metrics-config names some. */
static void on_apis(struct km_http_req *req, void *ud)
{
    const struct km_kma *k = ud;
    bool custom = false, external = false;
    struct kma_out o;

    for (size_t i = 0; i < k->rules.n; i++) {
        custom |= !k->rules.v[i].external;
        external |= k->rules.v[i].external;
    }
    out_init(&o);
    km_buf_puts(&o.b,
                "{\"kind\":\"APIGroupList\",\"apiVersion\":\"v1\",\"groups\":[{" KMA_GROUP_DOC "}");
    if (custom)
        km_buf_puts(&o.b, ",{" KMA_GROUP_DOC_OF("custom.metrics.k8s.io") "}");
    if (external)
        km_buf_puts(&o.b, ",{" KMA_GROUP_DOC_OF("external.metrics.k8s.io") "}");
    km_buf_puts(&o.b, "]}");
    out_send(req, &o);
}

static void on_group(struct km_http_req *req, void *ud)
{
    static const char doc[] = "{\"kind\":\"APIGroup\",\"apiVersion\":\"v1\"," KMA_GROUP_DOC "}";
    (void)ud;
    km_http_respond(req, 200, "application/json", doc, sizeof(doc) - 1);
}

static void on_group_version(struct km_http_req *req, void *ud)
{
    static const char doc[] =
        "{\"kind\":\"APIResourceList\",\"apiVersion\":\"v1\",\"groupVersion\":\"" KMA_GV
        "\",\"resources\":[{\"name\":\"nodes\",\"singularName\":\"\",\"namespaced\":false,"
        "\"kind\":\"NodeMetrics\",\"verbs\":[\"get\",\"list\"]},{\"name\":\"pods\","
        "\"singularName\":\"\",\"namespaced\":true,\"kind\":\"PodMetrics\",\"verbs\":[\"get\","
        "\"list\"]}]}";
    (void)ud;
    km_http_respond(req, 200, "application/json", doc, sizeof(doc) - 1);
}

/* ---- the request's parameters ------------------------------------------------------- */

struct kma_req {
    struct km_kma_ask ask;
    struct km_buf sel; /* the selector's matchers */
    char window[32], now[32];
};

/* Parse ?labelSelector= and ?window=; false after answering 400. */
static bool req_parse(struct km_http_req *req, const struct km_api_ctx *api, struct kma_req *r)
{
    const char *sel = km_http_req_arg(req, "labelSelector");
    const char *win = km_http_req_arg(req, "window");
    int64_t now = km_time_now_ns() / 1000000;
    char msg[600];

    memset(r, 0, sizeof(*r));
    km_buf_init(&r->sel, 0);
    r->ask.t = now;
    r->ask.window_ms = km_model_rate_window(0, api->scrape_ms);
    if (win && *win) {
        int64_t ms;

        if (km_duration_parse(win, &ms) != 0 || ms <= 0 ||
            (api->retention_ms > 0 && ms > api->retention_ms)) {
            snprintf(msg, sizeof(msg),
                     "window \"%.64s\": expected a positive duration (\"5m\", \"1h\") no longer "
                     "than the retention",
                     win);
            km_kma_respond_status(req, 400, "BadRequest", msg);
            return false;
        }
        r->ask.window_ms = ms;
        r->ask.averaged = true;
    }
    if (km_kma_selector_matchers(&r->sel, sel, "label_") != 0) {
        snprintf(msg, sizeof(msg), "%s", km_err_msg());
        km_buf_fini(&r->sel);
        km_kma_respond_status(req, 400, "BadRequest", msg);
        return false;
    }
    r->ask.selector_matchers = km_buf_cstr(&r->sel);
    km_kma_duration(r->window, sizeof(r->window), r->ask.window_ms);
    km_kma_time(r->now, sizeof(r->now), now);
    return true;
}

static void list_begin(struct km_jsonw *w, const char *kind, const char *api_version)
{
    km_jsonw_obj_begin(w);
    kv(w, "kind", kind);
    kv(w, "apiVersion", api_version);
    km_jsonw_key(w, "metadata");
    km_jsonw_obj_begin(w);
    km_jsonw_obj_end(w);
    km_jsonw_key(w, "items");
    km_jsonw_arr_begin(w);
}

static void list_end(struct km_jsonw *w)
{
    km_jsonw_arr_end(w);
    km_jsonw_obj_end(w);
}

static void meta(struct km_jsonw *w, const char *ns, const char *name, const char *created)
{
    km_jsonw_key(w, "metadata");
    km_jsonw_obj_begin(w);
    kv(w, "name", name);
    if (ns)
        kv(w, "namespace", ns);
    kv(w, "creationTimestamp", created);
    km_jsonw_obj_end(w);
}

static void usage(struct km_jsonw *w, bool has_cpu, double cpu, bool has_mem, double mem)
{
    char q[48];

    km_jsonw_key(w, "usage");
    km_jsonw_obj_begin(w);
    km_kma_cpu(q, sizeof(q), has_cpu ? cpu : 0);
    kv(w, "cpu", q);
    km_kma_bytes(q, sizeof(q), has_mem ? mem : 0);
    kv(w, "memory", q);
    km_jsonw_obj_end(w);
}

/* ---- NodeMetrics ---------------------------------------------------------------------- */

/* One object of a list, or (kind non-NULL) an item answered alone, which names its kind. */
static void obj_begin(struct km_jsonw *w, const char *kind, const char *api_version)
{
    km_jsonw_obj_begin(w);
    if (kind) {
        kv(w, "kind", kind);
        kv(w, "apiVersion", api_version);
    }
}

static void node_metrics(struct km_jsonw *w, const struct km_kma_node *n, const struct kma_req *r,
                         const char *kind)
{
    obj_begin(w, kind, KMA_GV);
    meta(w, NULL, n->name, r->now);
    kv(w, "timestamp", r->now);
    kv(w, "window", r->window);
    usage(w, n->has_cpu, n->cpu_cores, n->has_memory, n->memory_bytes);
    km_jsonw_obj_end(w);
}

/* ---- PodMetrics ----------------------------------------------------------------------- */

static void pod_metrics(struct km_jsonw *w, const struct km_kma_pod *p, const struct kma_req *r,
                        const char *kind)
{
    obj_begin(w, kind, KMA_GV);
    meta(w, p->namespace, p->name, r->now);
    kv(w, "timestamp", r->now);
    kv(w, "window", r->window);
    km_jsonw_key(w, "containers");
    km_jsonw_arr_begin(w);
    for (size_t i = 0; i < p->nc; i++) {
        const struct km_kma_container *c = &p->c[i];

        km_jsonw_obj_begin(w);
        kv(w, "name", c->name);
        usage(w, c->has_cpu, c->cpu_cores, c->has_memory, c->memory_bytes);
        km_jsonw_obj_end(w);
    }
    km_jsonw_arr_end(w);
    km_jsonw_obj_end(w);
}

/* ---- core nodes ----------------------------------------------------------------------- */

static void resources(struct km_jsonw *w, const char *key, bool has_cpu, double cpu, bool has_mem,
                      double mem)
{
    char q[48];

    km_jsonw_key(w, key);
    km_jsonw_obj_begin(w);
    if (has_cpu) {
        km_kma_cpu(q, sizeof(q), cpu);
        kv(w, "cpu", q);
    }
    if (has_mem) {
        km_kma_bytes(q, sizeof(q), mem);
        kv(w, "memory", q);
    }
    km_jsonw_obj_end(w);
}

static void node_object(struct km_jsonw *w, const struct km_kma_node *n, const char *now,
                        const char *kind)
{
    obj_begin(w, kind, "v1");
    meta(w, NULL, n->name, now);
    km_jsonw_key(w, "status");
    km_jsonw_obj_begin(w);
    resources(w, "capacity", n->has_cap_cpu, n->cap_cpu, n->has_cap_memory, n->cap_memory);
    /* Without kube-state-metrics' allocatable, the capacity is what a node offers. */
    resources(w, "allocatable", n->has_alloc_cpu || n->has_cap_cpu,
              n->has_alloc_cpu ? n->alloc_cpu : n->cap_cpu,
              n->has_alloc_memory || n->has_cap_memory,
              n->has_alloc_memory ? n->alloc_memory : n->cap_memory);
    km_jsonw_obj_end(w);
    km_jsonw_obj_end(w);
}

/* ---- one answer ----------------------------------------------------------------------- */

/* What a route answers: its objects, their kinds, the name a 404 gives. */
struct kma_kind {
    const char *item, *list, *api_version, *resource;
    bool pods; /* PodMetrics; else nodes */
    bool core; /* Node objects (capacity, allocatable) rather than NodeMetrics */
};

static const struct kma_kind kind_node_metrics = { "NodeMetrics", "NodeMetricsList",
                                                   KMA_GV,        "nodemetrics.metrics.k8s.io",
                                                   false,         false };
static const struct kma_kind kind_pod_metrics = { "PodMetrics", "PodMetricsList",
                                                  KMA_GV,       "podmetrics.metrics.k8s.io",
                                                  true,         false };
static const struct kma_kind kind_node = { "Node", "NodeList", "v1", "nodes", false, true };

struct kma_found {
    struct km_kma_node *nodes;
    struct km_kma_pod *pods;
    size_t n;
};

static void write_item(struct km_jsonw *w, const struct kma_kind *k, const struct kma_found *f,
                       size_t i, const struct kma_req *r, const char *kind)
{
    if (k->pods)
        pod_metrics(w, &f->pods[i], r, kind);
    else if (k->core)
        node_object(w, &f->nodes[i], r->now, kind);
    else
        node_metrics(w, &f->nodes[i], r, kind);
}

/* A list (name NULL) or one object of namespace ns (pods) named name. */
static void answer(struct km_http_req *req, const struct km_kma *kma, const struct kma_kind *k,
                   const char *ns, const char *name)
{
    struct kma_found f = { 0 };
    struct kma_req r;
    struct kma_out o;
    int rc;

    const struct km_api_ctx *api = kma->api;

    if (!req_parse(req, api, &r))
        return;
    r.ask.namespace = ns;
    r.ask.name = name;
    if (k->pods)
        rc = km_kma_pods(api, &r.ask, &f.pods, &f.n);
    else
        rc = km_kma_nodes(api, &r.ask, !k->core, &f.nodes, &f.n);
    km_buf_fini(&r.sel);
    if (rc) {
        km_kma_respond_store_error(req, rc);
        return;
    }
    if (name && f.n == 0) {
        char msg[400];

        snprintf(msg, sizeof(msg), "%s \"%.150s%s%.150s\" not found", k->resource, ns ? ns : "",
                 ns ? "/" : "", name);
        km_kma_respond_status(req, 404, "NotFound", msg);
    } else {
        out_init(&o);
        if (name) {
            write_item(&o.w, k, &f, 0, &r, k->item);
        } else {
            list_begin(&o.w, k->list, k->api_version);
            for (size_t i = 0; i < f.n; i++)
                write_item(&o.w, k, &f, i, &r, NULL);
            list_end(&o.w);
        }
        out_send(req, &o);
    }
    km_kma_pods_free(f.pods, k->pods ? f.n : 0);
    km_kma_nodes_free(f.nodes, k->pods ? 0 : f.n);
}

static void on_node_metrics_list(struct km_http_req *req, void *ud)
{
    answer(req, ud, &kind_node_metrics, NULL, NULL);
}

static void on_node_metrics(struct km_http_req *req, void *ud)
{
    answer(req, ud, &kind_node_metrics, NULL, km_http_req_param(req, "node"));
}

static void on_pods_all(struct km_http_req *req, void *ud)
{
    answer(req, ud, &kind_pod_metrics, NULL, NULL);
}

static void on_pods_ns(struct km_http_req *req, void *ud)
{
    answer(req, ud, &kind_pod_metrics, km_http_req_param(req, "namespace"), NULL);
}

static void on_pod(struct km_http_req *req, void *ud)
{
    answer(req, ud, &kind_pod_metrics, km_http_req_param(req, "namespace"),
           km_http_req_param(req, "pod"));
}

static void on_core_nodes(struct km_http_req *req, void *ud)
{
    answer(req, ud, &kind_node, NULL, NULL);
}

static void on_core_node(struct km_http_req *req, void *ud)
{
    answer(req, ud, &kind_node, NULL, km_http_req_param(req, "node"));
}

#define KMA_ROUTE (KM_ROUTE_NEEDS_READY | KM_ROUTE_READ)
#define KMA_MV    "/apis/" KMA_GV

const struct km_http_route km_kma_routes[] = {
    { "GET", "/api", on_api, KM_ROUTE_READ },
    { "GET", "/api/v1", on_api_v1, KM_ROUTE_READ },
    { "GET", "/api/v1/nodes", on_core_nodes, KMA_ROUTE },
    { "GET", "/api/v1/nodes/<node>", on_core_node, KMA_ROUTE },
    { "GET", "/apis", on_apis, KM_ROUTE_READ },
    { "GET", "/apis/" KMA_GROUP, on_group, KM_ROUTE_READ },
    { "GET", KMA_MV, on_group_version, KM_ROUTE_READ },
    { "GET", KMA_MV "/nodes", on_node_metrics_list, KMA_ROUTE },
    { "GET", KMA_MV "/nodes/<node>", on_node_metrics, KMA_ROUTE },
    { "GET", KMA_MV "/pods", on_pods_all, KMA_ROUTE },
    { "GET", KMA_MV "/namespaces/<namespace>/pods", on_pods_ns, KMA_ROUTE },
    { "GET", KMA_MV "/namespaces/<namespace>/pods/<pod>", on_pod, KMA_ROUTE },
    { "GET", "/apis/custom.metrics.k8s.io", km_kma_on_custom, KM_ROUTE_READ },
    { "GET", "/apis/custom.metrics.k8s.io/*", km_kma_on_custom, KMA_ROUTE },
    { "GET", "/apis/external.metrics.k8s.io", km_kma_on_external, KM_ROUTE_READ },
    { "GET", "/apis/external.metrics.k8s.io/*", km_kma_on_external, KMA_ROUTE },
};
const size_t km_kma_nroutes = sizeof(km_kma_routes) / sizeof(km_kma_routes[0]);

int km_kma_create(struct km_kma **out, const struct km_api_ctx *api, const char *config_path)
{
    struct km_kma *k = calloc(1, sizeof(*k));
    int rc = 0;

    if (!k)
        return km_err_set(KM_ENOMEM, "out of memory");
    k->api = api;
    if (config_path && *config_path)
        rc = km_kma_rules_load(&k->rules, config_path);
    if (rc) {
        free(k);
        return rc;
    }
    *out = k;
    return 0;
}

void km_kma_destroy(struct km_kma *k)
{
    if (!k)
        return;
    km_kma_rules_fini(&k->rules);
    free(k);
}
