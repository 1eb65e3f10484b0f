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
 */
#ifndef KMON_SERVER_KMETRICS_KMA_H
#define KMON_SERVER_KMETRICS_KMA_H

#include "common/buf.h"
#include "common/http_server.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct km_api_ctx;

/* The routes, for a struct km_api_ctx. */
extern const struct km_http_route km_kma_routes[];
extern const size_t km_kma_nroutes;

/* ---- label selectors (kma_select.c) ----------------------------------------------- */

/* Append to `out` the PromQL matchers (",label_app=\"x\",…", each with a leading comma)
 * that select, on a kube_<kind>_labels series, the objects Kubernetes' label selector
 * `sel` selects (equality, inequality, in, notin, exists, !exists), keys sanitised as
 * kube-state-metrics names them (label_<key>). An empty selector appends nothing.
 * KM_EINVAL with the API server's kind of message for a malformed selector. */
int km_kma_selector_matchers(struct km_buf *out, const char *sel);

/* ---- formats (kma_format.c) ------------------------------------------------------- */

/* CPU cores as a canonical Kubernetes quantity: "250m", "2", "1234567n". */
void km_kma_cpu(char *out, size_t size, double cores);
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
