/*
 * settings — the cluster-state collector's settings as one config table (common/cfg.h),
 * shared by `kmon server --cluster-state` (its "Cluster state" section) and
 * `kmon agent --mode cluster` (the cluster_state collector's settings): where the API
 * is, which kinds, the watch timeout, KSM's allowlists, leader election among replicas,
 * Kubernetes Events as logs.
 * Constant data.
 */
#ifndef KMON_KSTATE_SETTINGS_H
#define KMON_KSTATE_SETTINGS_H

#include "common/cfg.h"
#include "kstate.h"

#include <stdint.h>

struct km_kstate_settings {
    char *kubeconfig, *sa_dir, *kinds, *labels, *annots;
    int64_t watch_timeout_ms;
    bool leader_elect;
    char *le_ns, *le_name, *le_identity;
    int64_t le_lease_ms, le_renew_ms, le_retry_ms;
    bool events; /* --cluster-state-events */
};

/* Fields pointing into a struct km_kstate_settings. */
extern const struct km_cfg_field km_kstate_fields[];

/* Check what the table alone cannot: the leader-election durations in order (retry
 * period < renew deadline < lease duration, whole seconds). 0 or KM_EINVAL with a
 * sentence naming the flags. */
int km_kstate_settings_check(const struct km_kstate_settings *s);

/* The collector's options from checked settings (strings borrowed); cluster as given.
 * 0 or km_kstate_settings_check()'s error. */
int km_kstate_opts_from(struct km_kstate_opts *out, const struct km_kstate_settings *s,
                        const char *cluster);

#endif
