/*
 * pods — what the pods collector (pods.c) shares with the rest of the agent: the
 * workload of a pod of this node, from the Kubernetes API metadata it watches
 * (kube/meta.h), for the container logs' labels (agent/logs/tailer.h).
 *
 * The collector publishes its metadata at init and withdraws it at fini (one agent per
 * process, as agent/logs/logs.h); a lookup from any thread meanwhile is safe, and one
 * before or after answers "not known".
 */
#ifndef KMON_AGENT_COLLECTORS_PODS_H
#define KMON_AGENT_COLLECTORS_PODS_H

/* A km_tailer_workload_fn (ud unused): 1 with the pod's workload kind and name in
 * kind and name (KM_TAILER_WORKLOAD_MAX bytes each, NUL-terminated, cut), 0 when the pod
 * is known and has none, KM_ENOTFOUND when it is not known (or the metadata is not
 * there: no API access, --no-kubernetes, the collector disabled). */
int km_pods_workload(void *ud, const char *uid, char *kind, char *name);

#endif
