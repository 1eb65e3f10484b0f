/*
 * registry — the agent's collectors, in the order their families are rendered: the node
 * agent's, and `--mode cluster`'s (the cluster-state collector alone).
 * Adding a collector: write collectors/<name>.c with its ops, declare it here.
 */
#include "agent/collector.h"

extern const struct km_collector_ops km_collector_stat;
extern const struct km_collector_ops km_collector_meminfo;
extern const struct km_collector_ops km_collector_loadavg;
extern const struct km_collector_ops km_collector_pressure;
extern const struct km_collector_ops km_collector_diskstats;
extern const struct km_collector_ops km_collector_filesystem;
extern const struct km_collector_ops km_collector_netdev;
extern const struct km_collector_ops km_collector_netclass;
extern const struct km_collector_ops km_collector_filefd;
extern const struct km_collector_ops km_collector_time;
extern const struct km_collector_ops km_collector_uname;
extern const struct km_collector_ops km_collector_pods;
extern const struct km_collector_ops km_collector_cluster_state;

const struct km_collector_ops *const km_node_collectors[] = {
    &km_collector_stat,
    &km_collector_meminfo,
    &km_collector_loadavg,
    &km_collector_pressure,
    &km_collector_diskstats,
    &km_collector_filesystem,
    &km_collector_netdev,
    &km_collector_netclass,
    &km_collector_filefd,
    &km_collector_time,
    &km_collector_uname,
    &km_collector_pods,
    NULL,
};

const struct km_collector_ops *const km_cluster_collectors[] = {
    &km_collector_cluster_state,
    NULL,
};
