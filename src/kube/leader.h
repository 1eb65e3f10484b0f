/*
 * leader — leader election with a coordination.k8s.io/v1 Lease, with the semantics of
 * client-go's leaderelection package and its LeaseLock, so that of several replicas
 * exactly one acts (the cluster-state collector emits only on the leader):
 *
 *   - a candidate reads the Lease (404: creates it, holding it); a Lease held by another
 *     identity is left alone until it has expired, judged on our monotonic clock from
 *     when *we* saw its record last change plus its leaseDurationSeconds (never by the
 *     remote renewTime against our wall clock: clocks of two machines differ); an
 *     expired, released (no holder) or own Lease is written with a conditional PUT (the
 *     observed metadata.resourceVersion; 409 Conflict: another replica was first);
 *   - candidates retry every retry period (jittered up to +120 %, as client-go's);
 *   - the leader renews every retry period and stops leading when it has not renewed
 *     within the renew deadline (or sees another holder); km_kleader_is_leader() turns
 *     false at that deadline even while a request hangs, so the old leader always stops
 *     before another replica can take over (renew deadline < lease duration);
 *   - km_kleader_stop() releases a held Lease (holderIdentity "", leaseDurationSeconds
 *     1, as client-go's ReleaseOnCancel), so another replica takes over at once.
 *
 * Errors are logged at most once a minute (a 403 once, with the RBAC rule to add),
 * becoming and losing the leadership at info.
 *
 * Threads: the elector's own thread does every request; km_kleader_is_leader() and
 * km_kleader_metrics() may be called from any thread (atomics).
 */
#ifndef KMON_KUBE_LEADER_H
#define KMON_KUBE_LEADER_H

#include "kconfig.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct km_mset;

struct km_kleader_opts {
    const char *ns, *name; /* the Lease */
    const char *identity;  /* NULL or "": km_kleader_default_identity() */
    /* client-go's LeaseDuration, RenewDeadline, RetryPeriod; 0: 15 s, 10 s, 2 s.
     * retry < renew deadline < lease duration (KM_EINVAL otherwise). */
    int64_t lease_duration_ms, renew_deadline_ms, retry_period_ms;
};

struct km_kleader;

/* This process's identity as client-go makes it: the hostname, "_", 32 random hex
 * digits. */
void km_kleader_default_identity(char *out, size_t size);

/* Start electing (the thread). cfg must outlive the elector. KM_EINVAL for durations
 * out of order or a missing namespace or name. */
int km_kleader_start(struct km_kleader **out, const struct km_kube_config *cfg,
                     const struct km_kleader_opts *o);

/* Whether this replica leads now. Any thread. */
bool km_kleader_is_leader(const struct km_kleader *l);

/* The identity written as the Lease's holder (borrowed; the elector's lifetime). */
const char *km_kleader_identity(const struct km_kleader *l);

/* kmon_cluster_state_leader (1 or 0) and kmon_cluster_state_leader_transitions_total
 * (times this replica became the leader). Any thread. */
void km_kleader_metrics(const struct km_kleader *l, struct km_mset *m);

/* Stop the thread, releasing the Lease when held, and free. Accepts NULL. */
void km_kleader_stop(struct km_kleader *l);

#endif
