/*
 * meta — the pods of this node as the Kubernetes API knows them, kept current by a
 * thread that lists them (fieldSelector=spec.nodeName=<node>, paginated) and then
 * watches from the list's resourceVersion with bookmarks: re-watching from the last
 * version when a stream ends, relisting on 410 Gone, backing off with jitter on errors
 * (never a busy loop), with every buffer bounded. Each pod's controlling workload is
 * resolved once per owner: Deployment through its ReplicaSet (asking the API, else the
 * pod-template-hash naming), CronJob through its Job, StatefulSet and DaemonSet
 * directly. A deleted pod stays known for a grace period so its last samples are named.
 *
 * Readers look pods up by uid under the store's lock, through a callback.
 */
#ifndef KMON_AGENT_KUBE_META_H
#define KMON_AGENT_KUBE_META_H

#include "podmeta.h"

#include <stdbool.h>
#include <stdint.h>

struct km_kube_meta;

struct km_kube_meta_opts {
    const char *node;          /* this node's name (spec.nodeName) */
    const char *kubeconfig;    /* a kubeconfig path, or NULL: in-cluster */
    const char *sa_dir;        /* the service-account directory for in-cluster */
    const char *const *labels; /* pod label keys to keep */
    size_t nlabels;
    int64_t grace_ms;     /* how long a deleted pod stays known */
    long watch_timeout_s; /* timeoutSeconds of each watch request */
};

/* What a lookup hands the callback (valid during the call only). */
struct km_kube_pod {
    const struct km_pod_meta *m;
    const char *workload_kind, *workload; /* NULL when none (a bare pod) */
};

struct km_kube_meta_stats {
    bool up;       /* the last list or watch request was answered */
    uint64_t pods; /* pods known, deleted ones in their grace period included */
    uint64_t lists, watches, events, failures, relists_gone;
};

/* Configure and start the thread. KM_ENOTFOUND (with a sentence) when there is no way
 * to reach the API (not in a cluster and no kubeconfig): the caller goes on without. */
int km_kube_meta_start(struct km_kube_meta **out, const struct km_kube_meta_opts *o);

/* Call fn with the pod whose uid is `uid`; false (fn not called) when unknown. */
bool km_kube_meta_with_pod(struct km_kube_meta *m, const char *uid,
                           void (*fn)(void *ud, const struct km_kube_pod *p), void *ud);

/* Wait up to timeout_ms for the first list to be tried; true when it succeeded. */
bool km_kube_meta_wait_listed(struct km_kube_meta *m, int64_t timeout_ms);

void km_kube_meta_stats(struct km_kube_meta *m, struct km_kube_meta_stats *out);

/* Stop the thread (interrupting any request) and free everything. Accepts NULL. */
void km_kube_meta_stop(struct km_kube_meta *m);

#endif
