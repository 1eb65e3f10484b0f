/*
 * kma_usage — the figures of the metrics API, asked of the PromQL engine at one time in
 * one evaluation each. Nodes are the REST API's nodes (model.c: the same cpu and memory
 * figures, allocatable and capacity from kube-state-metrics series). Containers are
 * asked here, since no other API has that level: cpu is the rate of
 * container_cpu_usage_seconds_total over the window, memory the newest
 * container_memory_working_set_bytes (or its average over the window when asked), both
 * of real containers (not the pod's own cgroup, not the pause container), as cAdvisor
 * and metrics-server count them. A label selector narrows through kube_<kind>_labels.
 */
#include "kma.h"

#include "common/err.h"
#include "common/labels.h"
#include "promql/parse.h"
#include "server/model.h"
#include "server/server_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Evaluate `text` at t. */
int km_kma_eval(const struct km_api_ctx *api, const struct km_buf *text, int64_t t,
                struct km_pq_result *r)
{
    struct km_promql_error perr;
    struct km_promql_expr *e = NULL;
    int rc;

    memset(r, 0, sizeof(*r));
    rc = km_promql_parse(text->data, text->len, &e, &perr);
    if (rc)
        return km_err_wrap(rc, "metrics API query");
    rc = km_pq_eval_instant(api->store, e, t, &api->query, r);
    km_promql_expr_destroy(e);
    return rc;
}

int km_kma_put_eq(struct km_buf *b, const char *name, const char *value)
{
    int rc = km_buf_printf(b, ",%s=\"", name);

    for (const char *p = value; rc == 0 && *p; p++) {
        if (*p == '"' || *p == '\\')
            rc = km_buf_putc(b, '\\');
        if (rc == 0)
            rc = km_buf_putc(b, *p);
    }
    return rc ? rc : km_buf_putc(b, '"');
}

/* ---- pods and containers -------------------------------------------------------------- */

struct kma_row {
    const char *ns, *pod, *container;
    bool cpu;
    double v;
};

static int row_cmp(const void *a, const void *b)
{
    const struct kma_row *x = a, *y = b;
    int c = strcmp(x->ns, y->ns);

    if (c == 0)
        c = strcmp(x->pod, y->pod);
    return c ? c : strcmp(x->container, y->container);
}

/* The one query: both figures of every container, tagged kmon_kma="cpu" / "memory". */
static int pods_query(struct km_buf *q, const struct km_kma_ask *a)
{
    struct km_buf sel;
    char w[32];
    int rc;

    km_buf_init(&sel, 0);
    snprintf(w, sizeof(w), "%lldms", (long long)a->window_ms);
    rc = km_buf_puts(&sel, "container!~\"|POD\"");
    if (rc == 0 && a->namespace)
        rc = km_kma_put_eq(&sel, "namespace", a->namespace);
    if (rc == 0 && a->name)
        rc = km_kma_put_eq(&sel, "pod", a->name);
    if (rc == 0)
        rc = km_buf_printf(q,
                           "label_replace(max by (namespace, pod, container) (rate("
                           "container_cpu_usage_seconds_total{%s}[%s])), \"kmon_kma\", \"cpu\", "
                           "\"\", \"\")",
                           sel.data, w);
    if (rc == 0 && a->selector_matchers && *a->selector_matchers)
        rc = km_buf_printf(q,
                           " and on (namespace, pod) group by (namespace, pod) "
                           "(kube_pod_labels{namespace!=\"\"%s})",
                           a->selector_matchers);
    if (rc == 0 && a->averaged)
        rc = km_buf_printf(q,
                           " or label_replace(max by (namespace, pod, container) (avg_over_time("
                           "container_memory_working_set_bytes{%s}[%s])), \"kmon_kma\", "
                           "\"memory\", \"\", \"\")",
                           sel.data, w);
    else if (rc == 0)
        rc = km_buf_printf(q,
                           " or label_replace(max by (namespace, pod, container) ("
                           "container_memory_working_set_bytes{%s}), \"kmon_kma\", \"memory\", "
                           "\"\", \"\")",
                           sel.data);
    if (rc == 0 && a->selector_matchers && *a->selector_matchers)
        rc = km_buf_printf(q,
                           " and on (namespace, pod) group by (namespace, pod) "
                           "(kube_pod_labels{namespace!=\"\"%s})",
                           a->selector_matchers);
    km_buf_fini(&sel);
    return rc;
}

void km_kma_pods_free(struct km_kma_pod *p, size_t n)
{
    for (size_t i = 0; p && i < n; i++) {
        for (size_t j = 0; j < p[i].nc; j++)
            free(p[i].c[j].name);
        free(p[i].c);
        free(p[i].namespace);
        free(p[i].name);
    }
    free(p);
}

/* Group the sorted rows into pods of containers. */
static int pods_gather(const struct kma_row *rows, size_t n, struct km_kma_pod **out, size_t *nout)
{
    struct km_kma_pod *pods = calloc(n ? n : 1, sizeof(*pods));
    size_t np = 0;

    if (!pods)
        return km_err_set(KM_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        struct km_kma_pod *p = np ? &pods[np - 1] : NULL;
        struct km_kma_container *c;

        if (!p || strcmp(p->namespace, rows[i].ns) != 0 || strcmp(p->name, rows[i].pod) != 0) {
            p = &pods[np++];
            p->namespace = strdup(rows[i].ns);
            p->name = strdup(rows[i].pod);
            p->c = calloc(n - i, sizeof(*p->c)); /* at most the rows left */
            if (!p->namespace || !p->name || !p->c)
                goto out_nomem;
        }
        c = p->nc ? &p->c[p->nc - 1] : NULL;
        if (!c || strcmp(c->name, rows[i].container) != 0) {
            c = &p->c[p->nc++];
            if (!(c->name = strdup(rows[i].container)))
                goto out_nomem;
        }
        if (rows[i].cpu) {
            c->cpu_cores = rows[i].v;
            c->has_cpu = true;
        } else {
            c->memory_bytes = rows[i].v;
            c->has_memory = true;
        }
    }
    *out = pods;
    *nout = np;
    return 0;

out_nomem:
    km_kma_pods_free(pods, np);
    return km_err_set(KM_ENOMEM, "out of memory");
}

int km_kma_pods(const struct km_api_ctx *api, const struct km_kma_ask *a, struct km_kma_pod **out,
                size_t *n)
{
    struct kma_row *rows = NULL;
    struct km_pq_result r;
    struct km_buf q;
    size_t nrows = 0;
    int rc;

    *out = NULL;
    *n = 0;
    memset(&r, 0, sizeof(r));
    km_buf_init(&q, 0);
    rc = pods_query(&q, a);
    if (rc == 0)
        rc = km_kma_eval(api, &q, a->t, &r);
    if (rc)
        goto out_free_result;
    rows = calloc(r.vec.n ? r.vec.n : 1, sizeof(*rows));
    if (!rows) {
        rc = km_err_set(KM_ENOMEM, "out of memory");
        goto out_free_result;
    }
    for (size_t i = 0; i < r.vec.n; i++) {
        const struct km_pq_series *s = &r.vec.s[i];
        const char *ns = km_labels_get(s->labels, "namespace");
        const char *pod = km_labels_get(s->labels, "pod");
        const char *c = km_labels_get(s->labels, "container");
        const char *fig = km_labels_get(s->labels, "kmon_kma");

        if (!ns || !pod || !c || !fig || !*ns || !*pod || !*c || !km_pq_has(s, 0))
            continue;
        rows[nrows++] = (struct kma_row){ ns, pod, c, strcmp(fig, "cpu") == 0, s->v[0] };
    }
    qsort(rows, nrows, sizeof(*rows), row_cmp);
    rc = pods_gather(rows, nrows, out, n);
    free(rows);
out_free_result:
    km_pq_result_fini(&r);
    km_buf_fini(&q);
    return rc;
}

/* ---- nodes ------------------------------------------------------------------------------ */

void km_kma_nodes_free(struct km_kma_node *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i].name);
    free(v);
}

/* The nodes a selector keeps: names of `group by (node) (kube_node_labels{…})`. */
static int nodes_selected(const struct km_api_ctx *api, const struct km_kma_ask *a,
                          struct km_pq_result *r)
{
    struct km_buf q;
    int rc;

    km_buf_init(&q, 0);
    rc =
        km_buf_printf(&q, "group by (node) (kube_node_labels{node!=\"\"%s})", a->selector_matchers);
    if (rc == 0)
        rc = km_kma_eval(api, &q, a->t, r);
    km_buf_fini(&q);
    return rc;
}

static bool in_result(const struct km_pq_result *r, const char *label, const char *value)
{
    for (size_t i = 0; i < r->vec.n; i++) {
        const char *v = km_labels_get(r->vec.s[i].labels, label);

        if (v && strcmp(v, value) == 0 && km_pq_has(&r->vec.s[i], 0))
            return true;
    }
    return false;
}

/* Node memory averaged over the window: the same figure's query, in a subquery. */
static int nodes_memory_avg(const struct km_api_ctx *api, const struct km_kma_ask *a,
                            const struct km_model_params *p, struct km_pq_result *r)
{
    const struct km_seed_query *sq = km_seed_query_get(KM_SEED_NODE, KM_SEED_MEMORY);
    struct km_buf q;
    int64_t res = api->scrape_ms > 0 ? api->scrape_ms : 15000;
    int rc;

    km_buf_init(&q, 0);
    rc = km_buf_puts(&q, "avg_over_time((");
    if (rc == 0)
        rc = km_model_expand(&q, sq, p);
    if (rc == 0)
        rc = km_buf_printf(&q, ")[%lldms:%lldms])", (long long)a->window_ms, (long long)res);
    if (rc == 0)
        rc = km_kma_eval(api, &q, a->t, r);
    km_buf_fini(&q);
    return rc;
}

static void node_fill(struct km_kma_node *n, const struct km_entity *e,
                      const struct km_pq_result *avg)
{
    n->has_cpu = e->has[KM_SEED_CPU];
    n->cpu_cores = e->v[KM_SEED_CPU] / 1000.0;
    n->has_memory = e->has[KM_SEED_MEMORY];
    n->memory_bytes = e->v[KM_SEED_MEMORY];
    if (avg) {
        n->has_memory = false;
        for (size_t i = 0; i < avg->vec.n; i++) {
            const char *v = km_labels_get(avg->vec.s[i].labels, "node");

            if (v && strcmp(v, e->name) == 0 && km_pq_has(&avg->vec.s[i], 0)) {
                n->memory_bytes = avg->vec.s[i].v[0];
                n->has_memory = true;
            }
        }
    }
    n->has_alloc_cpu = e->has[KM_SEED_ALLOC_CPU];
    n->alloc_cpu = e->v[KM_SEED_ALLOC_CPU] / 1000.0;
    n->has_alloc_memory = e->has[KM_SEED_ALLOC_MEMORY];
    n->alloc_memory = e->v[KM_SEED_ALLOC_MEMORY];
    n->has_cap_cpu = e->has[KM_SEED_CAP_CPU];
    n->cap_cpu = e->v[KM_SEED_CAP_CPU] / 1000.0;
    n->has_cap_memory = e->has[KM_SEED_CAP_MEMORY] || e->has[KM_SEED_MEMORY_TOTAL];
    n->cap_memory =
        e->has[KM_SEED_CAP_MEMORY] ? e->v[KM_SEED_CAP_MEMORY] : e->v[KM_SEED_MEMORY_TOTAL];
}

int km_kma_nodes(const struct km_api_ctx *api, const struct km_kma_ask *a, bool usage_only,
                 struct km_kma_node **out, size_t *n)
{
    /* The metrics asks for usage only; the node list for what a node offers, and every
     * node known (by its cluster state, or its own memory total). */
    static const enum km_seed_fig usage_figs[] = { KM_SEED_CPU, KM_SEED_MEMORY };
    static const enum km_seed_fig list_figs[] = { KM_SEED_MEMORY_TOTAL, KM_SEED_ALLOC_CPU,
                                                  KM_SEED_ALLOC_MEMORY, KM_SEED_CAP_CPU,
                                                  KM_SEED_CAP_MEMORY,   KM_SEED_TIMESTAMP,
                                                  KM_SEED_STATE };
    const enum km_seed_fig *figs = usage_only ? usage_figs : list_figs;
    size_t nfigs = usage_only ? 2 : sizeof(list_figs) / sizeof(list_figs[0]);
    struct km_model_params p = { .f = { .node = a->name }, .rate_window_ms = a->window_ms };
    struct km_model_ask ask = { 0 };
    struct km_pq_result sel, avg;
    bool have_sel = a->selector_matchers && *a->selector_matchers;
    struct km_kma_node *v = NULL;
    struct km_model m;
    size_t nv = 0;
    int rc;

    *out = NULL;
    *n = 0;
    memset(&sel, 0, sizeof(sel));
    memset(&avg, 0, sizeof(avg));
    for (size_t i = 0; i < nfigs; i++)
        ask.figs[KM_SEED_NODE] |= 1ull << figs[i];
    rc = km_model_instant(api->store, &api->query, &ask, &p, a->t, &m);
    if (rc)
        return rc;
    if (have_sel && (rc = nodes_selected(api, a, &sel)) != 0)
        goto out_free_model;
    if (usage_only && a->averaged && (rc = nodes_memory_avg(api, a, &p, &avg)) != 0)
        goto out_free_results;
    v = calloc(m.level[KM_SEED_NODE].n ? m.level[KM_SEED_NODE].n : 1, sizeof(*v));
    if (!v) {
        rc = km_err_set(KM_ENOMEM, "out of memory");
        goto out_free_results;
    }
    for (size_t i = 0; i < m.level[KM_SEED_NODE].n; i++) {
        const struct km_entity *e = &m.level[KM_SEED_NODE].v[i];

        if (a->name && strcmp(e->name, a->name) != 0)
            continue;
        if (have_sel && !in_result(&sel, "node", e->name))
            continue;
        if (usage_only ? !e->has[KM_SEED_CPU] && !e->has[KM_SEED_MEMORY]
                       : !e->has[KM_SEED_STATE] && !e->has[KM_SEED_MEMORY_TOTAL])
            continue;
        if (!(v[nv].name = strdup(e->name))) {
            rc = km_err_set(KM_ENOMEM, "out of memory");
            goto out_free_results;
        }
        node_fill(&v[nv++], e, usage_only && a->averaged ? &avg : NULL);
    }
    *out = v;
    *n = nv;
    v = NULL;
out_free_results:
    km_kma_nodes_free(v, nv);
    km_pq_result_fini(&avg);
    km_pq_result_fini(&sel);
out_free_model:
    km_model_fini(&m);
    return rc;
}
