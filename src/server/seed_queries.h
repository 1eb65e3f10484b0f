/*
 * seed_queries — every figure of the prototype's REST API (api_seed.c) as PromQL: one
 * table (seed_queries.c, listed in docs/api.md), the only place these figures are
 * defined. The model (model.c) fills in the placeholders, asks the engine and reads the
 * answers; nothing else computes a figure.
 *
 * A query answers one figure for every object of one level, one series per object,
 * labelled with the object's identity (node: node; pod: namespace, pod; namespace:
 * namespace; deployment: namespace, deployment) and, for some, attributes (below).
 *
 * Placeholders, named as Grafana names its variables:
 *   $__rate_interval     the rate window, a PromQL duration (model.h says how it is chosen)
 *   $__rate_interval_ms  the same in milliseconds, a number
 *   $__node_filter       `,node="<n>"` when the request is about node <n>, else nothing
 *   $__instance_filter   `,instance=~"<n>(:port)?"` likewise, for series named by instance
 *   $__pod_filter        `,namespace="<ns>"`, `,pod="<p>"`, `,node="<n>"`: what the request
 *                        names of a pod, else nothing
 *   $__name_filter       the same without the node (kube_pod_* series other than
 *                        kube_pod_info carry no node)
 *   $__namespace_filter  `,namespace="<ns>"` when the request names one, else nothing
 *   $__pod_<figure>      the pod-level query of that figure (namespace and deployment
 *                        queries are made of the pods')
 * Filters only narrow what is read; a query means the same with or without them.
 *
 * Read-only data; thread-safe.
 */
#ifndef KMON_SERVER_SEED_QUERIES_H
#define KMON_SERVER_SEED_QUERIES_H

#include <stddef.h>

enum km_seed_level {
    KM_SEED_NODE,       /* by node */
    KM_SEED_POD,        /* by namespace, pod */
    KM_SEED_NAMESPACE,  /* by namespace */
    KM_SEED_DEPLOYMENT, /* by namespace, deployment */
    KM_SEED_LEVELS
};

enum km_seed_fig {
    KM_SEED_CPU,          /* cpu_millicores */
    KM_SEED_MEMORY,       /* memory_bytes */
    KM_SEED_MEMORY_TOTAL, /* memory_total_bytes (nodes) */
    KM_SEED_DISK_READ,    /* bytes per second … */
    KM_SEED_DISK_WRITE,
    KM_SEED_NET_RECV,
    KM_SEED_NET_SENT,
    KM_SEED_DISK_READ_TOTAL, /* counter totals … */
    KM_SEED_DISK_WRITE_TOTAL,
    KM_SEED_NET_RECV_TOTAL,
    KM_SEED_NET_SENT_TOTAL,
    KM_SEED_TIMESTAMP, /* the newest sample (s); node: also `cluster`, pod: `node`, `cluster` */
    KM_SEED_POD_COUNT, /* how many pods (nodes, namespaces, deployments) */
    KM_SEED_DEPLOYMENT_COUNT, /* how many deployments (namespaces) */
    KM_SEED_DEPLOYMENT_OF,    /* a pod's deployment, in its `deployment` label (value 1) */
    /* Cluster state, from kube-state-metrics series (kube_*); a text figure's answer is
     * its query's `label`. */
    KM_SEED_STATE,      /* the object exists (kube_pod_info, …): node: `cluster`; pod: `node`,
                         * `cluster` */
    KM_SEED_PHASE,      /* text: a pod's or namespace's phase */
    KM_SEED_REASON,     /* text: a container's waiting reason, else the pod's status reason */
    KM_SEED_RESTARTS,   /* restarts, summed over a pod's containers */
    KM_SEED_OWNER_KIND, /* text: a pod's controller (a ReplicaSet's Deployment) */
    KM_SEED_OWNER_NAME, /* text */
    KM_SEED_REQ_CPU,    /* millicores, summed over containers */
    KM_SEED_REQ_MEMORY, /* bytes */
    KM_SEED_LIM_CPU,
    KM_SEED_LIM_MEMORY,
    KM_SEED_PODS_PENDING, /* a namespace's pods by phase */
    KM_SEED_PODS_RUNNING,
    KM_SEED_PODS_SUCCEEDED,
    KM_SEED_PODS_FAILED,
    KM_SEED_PODS_UNKNOWN,
    KM_SEED_REPLICAS_DESIRED, /* a deployment's replicas (spec, then status) */
    KM_SEED_REPLICAS_READY,
    KM_SEED_REPLICAS_AVAILABLE,
    KM_SEED_REPLICAS_UPDATED,
    KM_SEED_REPLICAS_UNAVAILABLE,
    KM_SEED_COND_READY, /* text: a node condition's status: true, false, unknown */
    KM_SEED_COND_MEMORY_PRESSURE,
    KM_SEED_COND_DISK_PRESSURE,
    KM_SEED_COND_PID_PRESSURE,
    KM_SEED_ALLOC_CPU, /* a node's allocatable: millicores, bytes, pods */
    KM_SEED_ALLOC_MEMORY,
    KM_SEED_ALLOC_PODS,
    KM_SEED_CAP_CPU, /* its capacity */
    KM_SEED_CAP_MEMORY,
    KM_SEED_CAP_PODS,
    KM_SEED_UNSCHEDULABLE, /* 1 or 0 */
    KM_SEED_FIGS
};

/* The four I/O figures in the order above, as rates and as totals. */
#define KM_SEED_IO_FIGS 4

struct km_seed_query {
    enum km_seed_level level;
    enum km_seed_fig fig;
    const char *name;   /* the figure's name: "cpu_millicores", $__pod_<name> */
    const char *promql; /* with placeholders */
    const char *label;  /* a text figure: the label that holds the answer; else NULL */
};

extern const struct km_seed_query km_seed_queries[];
extern const size_t km_seed_nqueries;

/* The query of a figure at a level, or NULL when that level has no such figure. */
const struct km_seed_query *km_seed_query_get(enum km_seed_level level, enum km_seed_fig fig);

/* The labels that name an object of a level ("node"; "namespace", "pod"; …), and their
 * number. */
const char *const *km_seed_level_keys(enum km_seed_level level, size_t *n);

/* "node", "pod", "namespace", "deployment". */
const char *km_seed_level_name(enum km_seed_level level);

#endif
