/*
 * settings — the cluster-state collector's settings as one config table (common/cfg.h),
 * shared by `kmon server --cluster-state` (its "Cluster state" section) and
 * `kmon agent --mode cluster` (the cluster_state collector's settings): where the API
 * is, which kinds, the watch timeout, KSM's allowlists. Constant data.
 */
#ifndef KMON_KSTATE_SETTINGS_H
#define KMON_KSTATE_SETTINGS_H

#include "common/cfg.h"
#include "kstate.h"

#include <stdint.h>

struct km_kstate_settings {
    char *kubeconfig, *sa_dir, *kinds, *labels, *annots;
    int64_t watch_timeout_ms;
};

/* Fields pointing into a struct km_kstate_settings. */
extern const struct km_cfg_field km_kstate_fields[];

/* The collector's options from the settings (strings borrowed); cluster as given. */
void km_kstate_opts_from(struct km_kstate_opts *out, const struct km_kstate_settings *s,
                         const char *cluster);

#endif
