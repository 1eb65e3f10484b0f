/*
 * kma — the Kubernetes resource metrics API (metrics.k8s.io/v1beta1) that metrics-server
 * serves and `kubectl top` and the HPA read, answered from kmon's series, plus the small
 * part of the core API `kubectl top node` also reads (/api, /api/v1, a node list with
 * capacity and allocatable). Shapes and units are metrics-server's: cpu in n/u/m or whole
 * cores, memory in bytes with a binary suffix, `window` as a Go duration. Beyond
 * metrics-server: `?window=5m` answers the average over a longer window (docs/k8s-metrics.md).
 *
 *   kma_select.c    Kubernetes label selectors → PromQL matchers on kube_*_labels
 *   kma_format.c    quantities, Go durations, RFC 3339 times
 *   kma_usage.c     the figures, asked of the PromQL engine
 *   kma_api.c       the routes: discovery documents, NodeMetrics, PodMetrics, nodes
 *   kma_rules.c     --k8s-metrics-config: the custom and external metrics, as PromQL
 *   kma_custom.c    custom.metrics.k8s.io and external.metrics.k8s.io (what an HPA
 *                   scales on: requests per second, queue length, any query)
 */
#ifndef KMON_SERVER_KMETRICS_KMA_H
#define KMON_SERVER_KMETRICS_KMA_H

#include "common/buf.h"
#include "common/http_server.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct km_api_ctx;

/* ---- the custom and external metrics (kma_rules.c) ------------------------------- */

struct km_kma_rule {
    char *name;     /* the metric's name in the API */
    char *query;    /* PromQL with $__matchers */
    char *resource; /* custom: "pods", "nodes", …; external: "" */
    char *label;    /* custom: the label naming an object ("pod"); external: "" */
    bool external;
    bool namespaced; /* objects in namespaces (custom); namespace="…" added (external) */
};

struct km_kma_rules {
    struct km_kma_rule *v;
    size_t n;
};

/* Read the YAML of --k8s-metrics-config ("FILE:LINE: sentence" errors, KM_EINVAL). */
int km_kma_rules_load(struct km_kma_rules *out, const char *path);
int km_kma_rules_parse(struct km_kma_rules *out, const char *text, size_t len, const char *path);
void km_kma_rules_fini(struct km_kma_rules *r);

/* A resource's singular, the label naming its objects ("deployments" → "deployment",
 * "ingresses" → "ingress"). KM_EINVAL when it does not fit. */
int km_kma_singular(char *out, size_t size, const char *resource);

/* Append `query` with every $__matchers replaced by `matchers`. */
int km_kma_expand(struct km_buf *out, const char *query, const char *matchers);

/* ---- the routes (kma_api.c, kma_custom.c) ----------------------------------------- */

/* What the routes are given: the server's API context, and the rules (may be empty). */
struct km_kma {
    const struct km_api_ctx *api;
    struct km_kma_rules rules;
};

/* The routes, for a struct km_kma. */
extern const struct km_http_route km_kma_routes[];
extern const size_t km_kma_nroutes;

/* Accepts NULL config_path (no custom or external metrics). On success *out is new. */
int km_kma_create(struct km_kma **out, const struct km_api_ctx *api, const char *config_path);
void km_kma_destroy(struct km_kma *k); /* accepts NULL */

/* custom.metrics.k8s.io and external.metrics.k8s.io under /apis/<group>/v1beta1/… */
void km_kma_on_custom(struct km_http_req *req, void *ud);
void km_kma_on_external(struct km_http_req *req, void *ud);
/* Helpers both files use (kma_api.c). */
void km_kma_respond_status(struct km_http_req *req, int code, const char *reason, const char *msg);
void km_kma_respond_store_error(struct km_http_req *req, int rc);
/* Append ",name=\"value\"" with the value quoted for PromQL. */
int km_kma_put_eq(struct km_buf *b, const char *name, const char *value);
/* The PromQL instant query `text` at t (ms). */
struct km_pq_result;
int km_kma_eval(const struct km_api_ctx *api, const struct km_buf *text, int64_t t,
                struct km_pq_result *r);

/* ---- label selectors (kma_select.c) ----------------------------------------------- */

/* Append to `out` the PromQL matchers (",label_app=\"x\",…", each with a leading comma)
 * that select, on a kube_<kind>_labels series, the objects Kubernetes' label selector
 * `sel` selects (equality, inequality, in, notin, exists, !exists), keys sanitised and
 * prefixed as kube-state-metrics names them (prefix "label_"; "" for a series' own
 * labels). An empty selector appends nothing. KM_EINVAL with the API server's kind of
 * message for a malformed selector. */
int km_kma_selector_matchers(struct km_buf *out, const char *sel, const char *prefix);

/* ---- formats (kma_format.c) ------------------------------------------------------- */

/* CPU cores as a canonical Kubernetes quantity: "250m", "2", "1234567n" (never below 0). */
void km_kma_cpu(char *out, size_t size, double cores);
/* Any value as a canonical decimal quantity: "-1500m", "42", "12500000000". */
void km_kma_quantity(char *out, size_t size, double v);
/* Bytes as a canonical binary-SI quantity: "1536Ki", "2Gi", "1000". */
void km_kma_bytes(char *out, size_t size, double bytes);
/* Milliseconds as a Go duration: "1m0s", "20s", "1.5s", "2h0m0s". */
void km_kma_duration(char *out, size_t size, int64_t ms);
/* A wall-clock time (ms) as RFC 3339 in UTC, seconds precision: "2026-12-06T21:00:00Z". */
void km_kma_time(char *out, size_t size, int64_t ms);

/* ---- the figures (kma_usage.c) ----------------------------------------------------- */

struct km_kma_container {
    char *name;
    double cpu_cores, memory_bytes;
    bool has_cpu, has_memory;
};

struct km_kma_pod {
    char *namespace, *name;
    struct km_kma_container *c; /* sorted by name */
    size_t nc;
};

struct km_kma_node {
    char *name;
    double cpu_cores, memory_bytes;
    bool has_cpu, has_memory;
    /* From kube-state-metrics series when present (capacity: also the node's own). */
    double cap_cpu, cap_memory, alloc_cpu, alloc_memory;
    bool has_cap_cpu, has_cap_memory, has_alloc_cpu, has_alloc_memory;
};

struct km_kma_ask {
    int64_t t;             /* evaluation time (ms) */
    int64_t window_ms;     /* the rate (and, with `averaged`, averaging) window */
    bool averaged;         /* memory averaged over the window (?window=) rather than newest */
    const char *namespace; /* pods: NULL for all */
    const char *name;      /* one object, or NULL */
    const char *selector_matchers; /* km_kma_selector_matchers(), or "" */
};

/* Pods with containers that have usage, sorted by (namespace, name). */
int km_kma_pods(const struct km_api_ctx *api, const struct km_kma_ask *a, struct km_kma_pod **out,
                size_t *n);
void km_kma_pods_free(struct km_kma_pod *p, size_t n);

/* Nodes with usage (usage_only) or every node kmon knows (the node list). */
int km_kma_nodes(const struct km_api_ctx *api, const struct km_kma_ask *a, bool usage_only,
                 struct km_kma_node **out, size_t *n);
void km_kma_nodes_free(struct km_kma_node *v, size_t n);

#endif
