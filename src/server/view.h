/*
 * view — the REST API's JSON shapes (docs/api.md) for the objects the model answers:
 * the prototype's names (cpu_millicores, memory_bytes, disk_io.read_bytes, …), a
 * human-readable companion beside every raw number ("150m", "2.53 GB", "4.0 KB/s"),
 * null for a figure nothing answered. Shaping only: every figure comes from the model
 * as the engine answered it; the one conversion is an I/O rate into the bytes of an
 * interval (read_bytes = read_bytes_per_second × the sampling interval, or × the step
 * of a time series), as the prototype showed them.
 *
 * Writes into a caller's JSON writer; thread-safe.
 */
#ifndef KMON_SERVER_VIEW_H
#define KMON_SERVER_VIEW_H

#include "common/jsonw.h"
#include "model.h"

#include <stddef.h>
#include <stdint.h>

/* The object e of a level, its current figures and cluster state: a node (node_name,
 * cluster, figures, pod_count, conditions, allocatable, capacity, unschedulable), a pod
 * (pod_name, namespace, node_name, deployment, cluster, figures, phase, reason, restarts,
 * owner, requests, limits), a namespace (namespace, deployment_count, pod_count, figures,
 * phase, pods_by_phase) or a deployment (deployment, namespace, replicas, pod_count,
 * figures, desired_replicas, ready_, available_, updated_, unavailable_replicas).
 * `interval_s` is the sampling interval the I/O bytes are counted over. */
void km_view_object(struct km_jsonw *w, enum km_seed_level level, const struct km_entity *e,
                    double interval_s);

/* "pods": [every pod of `pods` whose deployment is `deployment` (NULL: any)], "count". */
void km_view_pods(struct km_jsonw *w, const struct km_entities *pods, const char *deployment,
                  double interval_s);

/* Step k of a range answer as a time-series point (timestamp, the figures, the I/O
 * bytes of the step), or nothing when no figure answered at that step. Returns whether
 * a point was written. */
bool km_view_point(struct km_jsonw *w, const struct km_entity *e, const struct km_pq_grid *g,
                   size_t k);

/* An RFC 3339 time (ms since the epoch), or null for 0. */
void km_view_time(struct km_jsonw *w, const char *key, int64_t ms);

#endif
