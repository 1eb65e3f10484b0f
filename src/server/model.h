/*
 * model — the prototype's view of a cluster (nodes, pods, and through pods namespaces
 * and deployments) computed at query time from the stored series, never stored twice:
 *
 *   figure          node, from (preferred first)                pod, from
 *   cpu_millicores  rate(node_cpu_seconds_total{mode!~"idle|iowait"}) x 1000
 *                   kmon_node_cpu_millicores (JSON senders) rate(container_cpu_usage_seconds_total)
 * x 1000, kmon_pod_cpu_millicores memory_bytes    node_memory_MemTotal_bytes - MemAvailable
 * container_memory_working_set_bytes, kmon_pod_memory_bytes disk read/write
 * node_disk_{read,written}_bytes_total         container_fs_{reads,writes}_bytes_total network
 * in/out  node_network_{receive,transmit}_bytes_total{device!="lo"}
 *                                                                container_network_{receive,transmit}_bytes_total
 *   (I/O also from kmon_{node,pod}_{disk_read,disk_written,network_receive,network_transmit}_bytes:
 *    the bytes of the interval ending at each sample, as the JSON endpoints store them)
 *
 * A node is named by its `node` label, or for series from other senders (Prometheus
 * scraping node-exporter) by `instance` without its port. A pod by `namespace` + `pod`;
 * container series prefer the pod's own cgroup (container="") over a sum of its
 * containers (never counting the pause container "POD" twice). A pod's deployment is
 * `workload` when workload_kind="Deployment", else its name when it follows the
 * ReplicaSet convention <deployment>-<pod-template-hash>-<suffix>.
 *
 * Threads: pure functions over the database; callers may run them concurrently.
 */
#ifndef KMON_SERVER_MODEL_H
#define KMON_SERVER_MODEL_H

#include "view.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct km_storage;

enum km_fig {
    KM_FIG_CPU,    /* millicores */
    KM_FIG_MEM,    /* bytes */
    KM_FIG_DISK_R, /* I/O figures: bytes */
    KM_FIG_DISK_W,
    KM_FIG_NET_R,
    KM_FIG_NET_S,
    KM_FIG_COUNT
};

/* The newest figures of one node or pod. */
struct km_figs {
    bool has[KM_FIG_COUNT];
    double value[KM_FIG_COUNT]; /* cpu, memory; I/O: bytes during the last interval */
    bool has_rate[KM_FIG_COUNT];
    double rate[KM_FIG_COUNT]; /* I/O: bytes per second */
    bool has_total[KM_FIG_COUNT];
    double total[KM_FIG_COUNT]; /* I/O: counter totals (since the device or pod started) */
    bool has_mem_total;
    double mem_total; /* nodes: MemTotal */
    int64_t t;        /* newest sample (ms) */
};

struct km_entity {
    char *name;       /* node or pod name */
    char *namespace;  /* pods */
    char *node;       /* pods: their node (NULL when unknown) */
    char *deployment; /* pods: their deployment (NULL when none) */
    char *cluster;    /* NULL when unknown */
    struct km_figs f;
};

struct km_entities {
    struct km_entity *v; /* sorted by (namespace, name) */
    size_t n;
};

void km_entities_fini(struct km_entities *e);

enum km_kind { KM_NODES, KM_PODS };

/* Which entities: NULL fields match anything. */
struct km_filter {
    const char *node;
    const char *namespace;
    const char *pod;
    const char *deployment;
};

/* Every node (or pod) matching f with a sample newer than now - stale_ms, with its
 * newest figures. */
int km_model_current(struct km_storage *store, enum km_kind kind, const struct km_filter *f,
                     int64_t now, int64_t stale_ms, struct km_entities *out);

/* Figures summed over every node (or pod) matching f, at steps ending at `end`:
 * cpu millicores, memory bytes, I/O bytes per second. `steps` must be filled in
 * (km_model_plan_steps()). out[fig] has steps->n values each, NaN where nothing. */
int km_model_steps(struct km_storage *store, enum km_kind kind, const struct km_filter *f,
                   const struct km_view_steps *steps, double *out[KM_FIG_COUNT]);

/* Choose the steps of a window ending at `end` (ms): `step_ms` 0 picks the series'
 * spacing or window/500 if coarser; the look-back covers two samples. */
int km_model_plan_steps(struct km_storage *store, enum km_kind kind, const struct km_filter *f,
                        int64_t end, int64_t window_ms, int64_t step_ms,
                        struct km_view_steps *steps);

/* The deployment a pod name implies by the ReplicaSet convention, written into out;
 * false when the name does not follow it. */
bool km_model_deployment_from_pod(const char *pod, char *out, size_t size);

#endif
