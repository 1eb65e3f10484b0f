/*
 * kma_custom — custom.metrics.k8s.io/v1beta1 and external.metrics.k8s.io/v1beta1, the
 * APIs an HPA's Pods, Object and External metrics read (prometheus-adapter's role),
 * answered by the PromQL of --k8s-metrics-config (kma_rules.c):
 *
 *   GET /apis/custom.metrics.k8s.io/v1beta1                        the metrics, as resources
 *   GET …/namespaces/<ns>/<resource>/<name|*>/<metric>[?labelSelector=]   objects in a namespace
 *   GET …/<resource>/<name|*>/<metric>                              nodes, namespaces
 *   GET …/namespaces/<ns>/metrics/<metric>                          the namespace itself
 *   GET /apis/external.metrics.k8s.io/v1beta1/namespaces/<ns>/<metric>[?labelSelector=]
 *
 * A custom metric's query is narrowed by `$__matchers` to the namespace and object named
 * (and, for `*` with a selector, joined with kube_<kind>_labels, as the metrics API
 * selects pods); each series of the answer is an object, named by the rule's label. An
 * external metric's selector becomes matchers on the series' own labels, and each
 * series is one value with its labels.
 */
#include "kma.h"

#include "common/err.h"
#include "common/jsonw.h"
#include "common/labels.h"
#include "common/timefmt.h"
#include "kstate/allowlist.h"
#include "promql/eval.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KMA_SEGS_MAX 8

/* The path after /apis/<group>, split at '/' into segs (in buf). */
struct kma_path {
    char buf[1024];
    char *seg[KMA_SEGS_MAX];
    size_t n;
};

static bool split_path(const char *path, const char *group, struct kma_path *p)
{
    const char *rest = path + strlen("/apis/") + strlen(group);
    char *save = NULL, *tok;

    p->n = 0;
    if (strlen(rest) >= sizeof(p->buf))
        return false;
    strcpy(p->buf, rest);
    for (tok = strtok_r(p->buf, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
        if (p->n == KMA_SEGS_MAX)
            return false;
        p->seg[p->n++] = tok;
    }
    return true;
}

/* What $__matchers becomes: the matchers built with a leading comma each, without the
 * first one's. */
static const char *matchers_of(const struct km_buf *m)
{
    const char *s = km_buf_cstr(m);

    return s[0] == ',' ? s + 1 : s;
}

/* {"kind":…,"apiVersion":…,"metadata":{},"items": — the caller opens the array. */
static void list_begin(struct km_jsonw *w, const char *kind, const char *api_version)
{
    km_jsonw_obj_begin(w);
    km_jsonw_key(w, "kind");
    km_jsonw_str(w, kind);
    km_jsonw_key(w, "apiVersion");
    km_jsonw_str(w, api_version);
    km_jsonw_key(w, "metadata");
    km_jsonw_obj_begin(w);
    km_jsonw_obj_end(w);
    km_jsonw_key(w, "items");
}

/* An item's time and value, and its end. */
static void item_end(struct km_jsonw *w, const char *ts, double value)
{
    char v[64];

    km_jsonw_key(w, "timestamp");
    km_jsonw_str(w, ts);
    km_kma_quantity(v, sizeof(v), value);
    km_jsonw_key(w, "value");
    km_jsonw_str(w, v);
    km_jsonw_obj_end(w);
}

static void send_json(struct km_http_req *req, struct km_buf *b)
{
    km_buf_putc(b, '\n');
    if (km_buf_error(b))
        km_http_respond_error(req, 500, "the answer could not be built (out of memory)");
    else
        km_http_respond_buf(req, 200, "application/json", b);
}

static bool run_query(struct km_http_req *req, const struct km_kma *k, int rc,
                      const struct km_buf *q, int64_t now, struct km_pq_result *res);

/* The API group's documents: the group, and its resources (one per metric). */
static void group_doc(struct km_http_req *req, const struct km_kma *k, const char *group,
                      bool external, bool resources)
{
    struct km_buf b;
    struct km_jsonw w;

    km_buf_init(&b, 0);
    km_jsonw_init(&w, &b);
    km_jsonw_obj_begin(&w);
    km_jsonw_key(&w, "kind");
    km_jsonw_str(&w, resources ? "APIResourceList" : "APIGroup");
    km_jsonw_key(&w, "apiVersion");
    km_jsonw_str(&w, "v1");
    if (resources) {
        km_buf_printf(&b, ",\"groupVersion\":\"%s/v1beta1\"", group);
        km_jsonw_key(&w, "resources");
        km_jsonw_arr_begin(&w);
        for (size_t i = 0; i < k->rules.n; i++) {
            const struct km_kma_rule *r = &k->rules.v[i];
            char name[512];

            if (r->external != external)
                continue;
            snprintf(name, sizeof(name), "%s%s%s", r->resource, external ? "" : "/", r->name);
            km_jsonw_obj_begin(&w);
            km_jsonw_key(&w, "name");
            km_jsonw_str(&w, name);
            km_jsonw_key(&w, "singularName");
            km_jsonw_str(&w, "");
            km_jsonw_key(&w, "namespaced");
            km_jsonw_bool(&w, external || r->namespaced);
            km_jsonw_key(&w, "kind");
            km_jsonw_str(&w, external ? "ExternalMetricValueList" : "MetricValueList");
            km_jsonw_key(&w, "verbs");
            km_jsonw_arr_begin(&w);
            km_jsonw_str(&w, "get");
            km_jsonw_arr_end(&w);
            km_jsonw_obj_end(&w);
        }
        km_jsonw_arr_end(&w);
    } else {
        km_buf_printf(&b,
                      ",\"name\":\"%s\",\"versions\":[{\"groupVersion\":\"%s/v1beta1\",\"version\":"
                      "\"v1beta1\"}],\"preferredVersion\":{\"groupVersion\":\"%s/v1beta1\","
                      "\"version\":\"v1beta1\"}",
                      group, group, group);
    }
    km_jsonw_obj_end(&w);
    send_json(req, &b);
    km_buf_fini(&b);
}

static const struct km_kma_rule *find_rule(const struct km_kma *k, bool external,
                                           const char *resource, const char *metric)
{
    for (size_t i = 0; i < k->rules.n; i++) {
        const struct km_kma_rule *r = &k->rules.v[i];

        if (r->external == external && strcmp(r->name, metric) == 0 &&
            (external || strcmp(r->resource, resource) == 0))
            return r;
    }
    return NULL;
}

/* The described object's kind and apiVersion for a resource. */
static void kind_of(const struct km_kma_rule *r, char *kind, size_t size, const char **api_version)
{
    static const struct {
        const char *resource, *kind, *api_version;
    } known[] = {
        { "pods", "Pod", "/v1" },
        { "nodes", "Node", "/v1" },
        { "namespaces", "Namespace", "/v1" },
        { "services", "Service", "/v1" },
        { "deployments", "Deployment", "apps/v1" },
        { "statefulsets", "StatefulSet", "apps/v1" },
        { "daemonsets", "DaemonSet", "apps/v1" },
        { "replicasets", "ReplicaSet", "apps/v1" },
        { "jobs", "Job", "batch/v1" },
        { "ingresses", "Ingress", "networking.k8s.io/v1" },
    };

    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (strcmp(r->resource, known[i].resource) == 0) {
            snprintf(kind, size, "%s", known[i].kind);
            *api_version = known[i].api_version;
            return;
        }
    }
    snprintf(kind, size, "%s", r->label);
    kind[0] = (char)toupper((unsigned char)kind[0]);
    *api_version = "";
}

/* The query of a custom metric for the objects named (ns may be NULL, name "*": all). */
static int custom_query(struct km_buf *q, const struct km_kma_rule *r, const char *ns,
                        const char *name, const char *selector)
{
    struct km_buf m, sel;
    int rc;

    km_buf_init(&m, 0);
    km_buf_init(&sel, 0);
    rc = ns && r->namespaced ? km_kma_put_eq(&m, "namespace", ns) : 0;
    if (rc == 0 && strcmp(name, "*") != 0)
        rc = km_kma_put_eq(&m, strcmp(r->resource, "namespaces") == 0 ? "namespace" : r->label,
                           name);
    if (rc == 0)
        rc = km_kma_selector_matchers(&sel, selector, "label_");
    if (rc == 0)
        rc = km_buf_putc(q, '(');
    if (rc == 0)
        rc = km_kma_expand(q, r->query, matchers_of(&m));
    if (rc == 0)
        rc = km_buf_putc(q, ')');
    if (rc == 0 && sel.len) {
        /* The objects the selector picks, by kube-state-metrics' kube_<kind>_labels, whose
         * object label is the kind's singular ("pod"), renamed to the rule's label. */
        const char *by = r->namespaced ? "namespace, " : "";
        const char *obj = strcmp(r->resource, "namespaces") == 0 ? "namespace" : r->label;
        char kube[160];

        rc = km_kma_singular(kube, sizeof(kube), r->resource);
        if (rc == 0 && strcmp(kube, obj) == 0)
            rc = km_buf_printf(q, " and on (%s%s) group by (%s%s) (kube_%s_labels{%s!=\"\"%s%s})",
                               by, obj, by, obj, kube, obj, km_buf_cstr(&m), km_buf_cstr(&sel));
        else if (rc == 0)
            rc = km_buf_printf(q,
                               " and on (%s%s) group by (%s%s) (label_replace(kube_%s_labels{%s!="
                               "\"\"%s}, \"%s\", \"$1\", \"%s\", \"(.*)\"))",
                               by, obj, by, obj, kube, kube, km_buf_cstr(&sel), obj, kube);
    }
    km_buf_fini(&sel);
    km_buf_fini(&m);
    return rc;
}

static void custom_values(struct km_http_req *req, const struct km_kma *k,
                          const struct km_kma_rule *r, const char *ns, const char *name)
{
    const char *selector = km_http_req_arg(req, "labelSelector");
    int64_t now = km_time_now_ns() / 1000000;
    const char *obj_label = strcmp(r->resource, "namespaces") == 0 ? "namespace" : r->label;
    const char *api_version;
    char ts[32], kind[160];
    struct km_pq_result res;
    struct km_buf q, b;
    struct km_jsonw w;
    size_t items = 0;
    int rc;

    memset(&res, 0, sizeof(res));
    km_buf_init(&q, 0);
    rc = custom_query(&q, r, ns, name, selector);
    if (!run_query(req, k, rc, &q, now, &res))
        goto out_free_result;
    kind_of(r, kind, sizeof(kind), &api_version);
    km_kma_time(ts, sizeof(ts), now);
    km_buf_init(&b, 0);
    km_jsonw_init(&w, &b);
    list_begin(&w, "MetricValueList", "custom.metrics.k8s.io/v1beta1");
    km_jsonw_arr_begin(&w);
    for (size_t i = 0; i < res.vec.n; i++) {
        const struct km_pq_series *s = &res.vec.s[i];
        const char *oname = km_labels_get(s->labels, obj_label);
        const char *ons = km_labels_get(s->labels, "namespace");

        if (!oname || !*oname || !km_pq_has(s, 0))
            continue;
        items++;
        km_jsonw_obj_begin(&w);
        km_jsonw_key(&w, "describedObject");
        km_jsonw_obj_begin(&w);
        km_jsonw_key(&w, "kind");
        km_jsonw_str(&w, kind);
        if (r->namespaced) {
            km_jsonw_key(&w, "namespace");
            km_jsonw_str(&w, ons ? ons : (ns ? ns : ""));
        }
        km_jsonw_key(&w, "name");
        km_jsonw_str(&w, oname);
        km_jsonw_key(&w, "apiVersion");
        km_jsonw_str(&w, api_version);
        km_jsonw_obj_end(&w);
        km_jsonw_key(&w, "metricName");
        km_jsonw_str(&w, r->name);
        item_end(&w, ts, s->v[0]);
    }
    km_jsonw_arr_end(&w);
    km_jsonw_obj_end(&w);
    if (items == 0 && strcmp(name, "*") != 0) {
        char msg[600];

        snprintf(msg, sizeof(msg), "the server could not find the metric %s for %s %s", r->name,
                 r->resource, name);
        km_kma_respond_status(req, 404, "NotFound", msg);
    } else {
        send_json(req, &b);
    }
    km_buf_fini(&b);
out_free_result:
    km_pq_result_fini(&res);
    km_buf_fini(&q);
}

/* Evaluate q at now into res once building it went well (rc), or answer the error. */
static bool run_query(struct km_http_req *req, const struct km_kma *k, int rc,
                      const struct km_buf *q, int64_t now, struct km_pq_result *res)
{
    if (rc) {
        km_kma_respond_status(req, rc == KM_EINVAL ? 400 : 500,
                              rc == KM_EINVAL ? "BadRequest" : "InternalError", km_err_msg());
        return false;
    }
    rc = km_kma_eval(k->api, q, now, res);
    if (rc)
        km_kma_respond_store_error(req, rc);
    return rc == 0;
}

static void not_found(struct km_http_req *req, const char *what, const char *name)
{
    char msg[1024];

    snprintf(msg, sizeof(msg),
             "%.300s \"%.300s\" is not served: --k8s-metrics-config names no "
             "such metric",
             what, name);
    km_kma_respond_status(req, 404, "NotFound", msg);
}

void km_kma_on_custom(struct km_http_req *req, void *ud)
{
    static const char group[] = "custom.metrics.k8s.io";
    const struct km_kma *k = ud;
    const struct km_kma_rule *r;
    struct kma_path p;
    const char *ns = NULL, *resource, *name, *metric;

    if (!split_path(km_http_req_path(req), group, &p) || (p.n > 0 && strcmp(p.seg[0], "v1beta1"))) {
        km_kma_respond_status(req, 404, "NotFound",
                              "the server could not find the requested "
                              "resource");
        return;
    }
    if (p.n <= 1) {
        group_doc(req, k, group, false, p.n == 1);
        return;
    }
    if (p.n == 5 && strcmp(p.seg[1], "namespaces") == 0 && strcmp(p.seg[3], "metrics") == 0) {
        ns = p.seg[2]; /* the namespace itself: namespaces/<ns>/metrics/<metric> */
        resource = "namespaces";
        name = p.seg[2];
        metric = p.seg[4];
    } else if (p.n == 6 && strcmp(p.seg[1], "namespaces") == 0) {
        ns = p.seg[2];
        resource = p.seg[3];
        name = p.seg[4];
        metric = p.seg[5];
    } else if (p.n == 4) {
        resource = p.seg[1];
        name = p.seg[2];
        metric = p.seg[3];
    } else {
        km_kma_respond_status(req, 404, "NotFound",
                              "the server could not find the requested "
                              "resource");
        return;
    }
    r = find_rule(k, false, resource, metric);
    if (!r) {
        char what[300];

        snprintf(what, sizeof(what), "custom metric %.100s of %.100s", metric, resource);
        not_found(req, what, metric);
        return;
    }
    if (r->namespaced && !ns) {
        km_kma_respond_status(req, 400, "BadRequest",
                              "this metric's objects live in namespaces: ask "
                              "/namespaces/<namespace>/<resource>/<name>/<metric>");
        return;
    }
    custom_values(req, k, r, ns, name);
}

/* An external metric's series: its labels (without __name__) and value. */
static void external_values(struct km_http_req *req, const struct km_kma *k,
                            const struct km_kma_rule *r, const char *ns)
{
    int64_t now = km_time_now_ns() / 1000000;
    struct km_pq_result res;
    struct km_buf q, m, b;
    struct km_jsonw w;
    char ts[32];
    int rc;

    memset(&res, 0, sizeof(res));
    km_buf_init(&q, 0);
    km_buf_init(&m, 0);
    km_buf_init(&b, 0);
    rc = r->namespaced ? km_kma_put_eq(&m, "namespace", ns) : 0;
    if (rc == 0)
        rc = km_kma_selector_matchers(&m, km_http_req_arg(req, "labelSelector"), "");
    if (rc == 0)
        rc = km_kma_expand(&q, r->query, matchers_of(&m));
    if (!run_query(req, k, rc, &q, now, &res))
        goto out_free;
    km_kma_time(ts, sizeof(ts), now);
    km_jsonw_init(&w, &b);
    list_begin(&w, "ExternalMetricValueList", "external.metrics.k8s.io/v1beta1");
    km_jsonw_arr_begin(&w);
    for (size_t i = 0; i < res.vec.n; i++) {
        const struct km_pq_series *s = &res.vec.s[i];

        if (!km_pq_has(s, 0))
            continue;
        km_jsonw_obj_begin(&w);
        km_jsonw_key(&w, "metricName");
        km_jsonw_str(&w, r->name);
        km_jsonw_key(&w, "metricLabels");
        km_jsonw_obj_begin(&w);
        for (size_t j = 0; j < s->labels->n; j++) {
            if (strcmp(s->labels->v[j].name, "__name__") == 0)
                continue;
            km_jsonw_key(&w, s->labels->v[j].name);
            km_jsonw_str(&w, s->labels->v[j].value);
        }
        km_jsonw_obj_end(&w);
        item_end(&w, ts, s->v[0]);
    }
    km_jsonw_arr_end(&w);
    km_jsonw_obj_end(&w);
    send_json(req, &b);
out_free:
    km_pq_result_fini(&res);
    km_buf_fini(&b);
    km_buf_fini(&m);
    km_buf_fini(&q);
}

void km_kma_on_external(struct km_http_req *req, void *ud)
{
    static const char group[] = "external.metrics.k8s.io";
    const struct km_kma *k = ud;
    const struct km_kma_rule *r;
    struct kma_path p;

    if (!split_path(km_http_req_path(req), group, &p) || (p.n > 0 && strcmp(p.seg[0], "v1beta1"))) {
        km_kma_respond_status(req, 404, "NotFound",
                              "the server could not find the requested "
                              "resource");
        return;
    }
    if (p.n <= 1) {
        group_doc(req, k, group, true, p.n == 1);
        return;
    }
    if (p.n != 4 || strcmp(p.seg[1], "namespaces") != 0) {
        km_kma_respond_status(req, 404, "NotFound",
                              "external metrics are read at "
                              "/apis/external.metrics.k8s.io/v1beta1/"
                              "namespaces/<namespace>/<metric>");
        return;
    }
    r = find_rule(k, true, "", p.seg[3]);
    if (!r) {
        not_found(req, "external metric", p.seg[3]);
        return;
    }
    external_values(req, k, r, p.seg[2]);
}
