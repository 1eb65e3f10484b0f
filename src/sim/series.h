/*
 * series — the samples of one simulated round, as a real kmon agent on each node and the
 * cluster-state collector would produce them:
 *   - a node's agent: node_* (node-exporter's names and labels, as src/agent/collectors
 *     emit them), kmon_node_info, and per pod the cAdvisor families of the pods
 *     collector (container_*, with container="" for the pod's own cgroup, one series set
 *     per application container, none for the pause sandbox; the network of the pod
 *     once, on eth0) with the identity labels the agent puts on them;
 *   - the cluster-state collector: the kube-state-metrics families, made by kstate's own
 *     emitters (kinds.h) from objects filled in from the model, so names, labels and
 *     cardinality are the collector's by construction.
 * Counters are the integral of a positive, slowly varying rate from the object's start
 * (a container restart starts them from zero again); gauges wander around a level.
 * Pure functions of the model and the time: deterministic.
 */
#ifndef KMON_SIM_SERIES_H
#define KMON_SIM_SERIES_H

#include "common/mset.h"
#include "sim/model.h"

#include <stdint.h>

/* Add node i's agent series (node and pods) at now_ms to m (reset by the caller). */
void km_sim_node_series(struct km_mset *m, const struct km_sim_model *md, unsigned i,
                        int64_t now_ms);

/* Add the cluster-state series of node i and its pods to m; with `cluster_wide` also of
 * the namespaces, deployments and replicasets. `cluster` (or NULL) is the collector's
 * --cluster label. 0 or the set's error. */
int km_sim_state_series(struct km_mset *m, const struct km_sim_model *md, unsigned i,
                        bool cluster_wide, const char *cluster);

/* A counter's value at now_s for an object started at start_s: `rate` per second on
 * average. Non-decreasing in now_s. */
double km_sim_counter(uint64_t key, double rate, int64_t start_s, double now_s);

#endif
