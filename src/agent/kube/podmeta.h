/*
 * podmeta — what the agent keeps of a Pod object from the Kubernetes API: identity,
 * QoS class, host networking, the controlling owner and the workload it resolves to,
 * container ids → names, and the pod labels an allowlist asks for.
 *
 * Parsing takes jansson values or raw bytes from the network and never trusts them:
 * missing or mistyped fields give an error with a sentence, oversized input is refused.
 */
#ifndef KMON_AGENT_KUBE_PODMETA_H
#define KMON_AGENT_KUBE_PODMETA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct km_pod_container {
    char *id; /* without the runtime prefix ("containerd://") */
    char *name;
    int64_t started_s; /* state.running.startedAt, seconds since the epoch; 0 unknown */
};

struct km_pod_label {
    char *name; /* the Kubernetes label key */
    char *value;
};

struct km_pod_meta {
    char *uid, *ns, *name, *node, *qos; /* qos: "Guaranteed", "Burstable", "BestEffort" or "" */
    bool host_network;
    char *owner_kind, *owner_name; /* the controller ownerReference, or NULL */
    char *template_hash;           /* the pod-template-hash label, or NULL */
    char *rv;                      /* metadata.resourceVersion */
    int64_t started_s;             /* status.startTime, seconds since the epoch; 0 unknown */
    struct km_pod_container *c;    /* containers, init and ephemeral ones included */
    size_t nc;
    struct km_pod_label *labels; /* allowlisted labels present on the pod */
    size_t nlabels;
};

/* Fill *out from a Pod object (out is overwritten; free with km_pod_meta_fini). Labels
 * are kept when their key is one of allow[0..nallow). KM_EINVAL with a sentence when the
 * object is not a usable Pod. */
int km_pod_meta_parse(const json_t *pod, const char *const *allow, size_t nallow,
                      struct km_pod_meta *out);

void km_pod_meta_fini(struct km_pod_meta *m);

/* The container with a runtime id, or NULL. */
const struct km_pod_container *km_pod_meta_container(const struct km_pod_meta *m, const char *id);

#endif
