/*
 * cluster_state — `kmon server --cluster-state`: the cluster-state collector (kstate/)
 * run inside the server. Every interval its emission goes through the server's ingest
 * path (km_ingest_mset), followed by a stale marker for each series emitted last time
 * and not now, so a deleted pod's series end at once instead of lingering for the
 * lookback delta. A dead API only logs (rate-limited) and counts; the server's
 * readiness does not depend on it.
 *
 * Threads: one emitting thread of its own, plus the collector's reflector threads;
 * km_server_cs_metrics from any HTTP thread.
 */
#ifndef KMON_SERVER_CLUSTER_STATE_H
#define KMON_SERVER_CLUSTER_STATE_H

#include "kstate/kstate.h"

#include <stdint.h>

struct km_ingest;
struct km_mset;
struct km_server_cs;

/* Start the collector and the emitting thread. Errors (no API configuration, a bad
 * kind or allowlist) are returned with a sentence. */
int km_server_cs_start(struct km_server_cs **out, const struct km_kstate_opts *o,
                       int64_t interval_ms, struct km_ingest *in);

/* kmon_cluster_state_* families. */
void km_server_cs_metrics(struct km_server_cs *cs, struct km_mset *m);

/* Stop and free. Accepts NULL. */
void km_server_cs_stop(struct km_server_cs *cs);

#endif
