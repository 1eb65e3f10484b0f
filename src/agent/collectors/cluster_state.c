/*
 * cluster_state — the cluster-state collector (kstate/) as the agent's one collector in
 * `kmon agent --mode cluster`: every collection the kube-state-metrics families of what
 * the Kubernetes API holds. /metrics shows them as KSM's exposition does (a deleted
 * object's series are simply no longer listed); what is shipped also carries a stale
 * marker for each series of the previous collection that is gone (families flagged
 * KM_MF_SHIP_ONLY), so the receiving store ends them at once. The collector writes
 * straight into the collection's set: no copy of the previous emission is kept.
 *
 * Threads: the collection thread; the collector's reflectors run on their own.
 */
#include "agent/collector.h"
#include "common/err.h"
#include "kstate/kstate.h"
#include "kstate/settings.h"

#include <stddef.h>

struct cs_ctx {
    struct km_kstate_settings set; /* first: km_kstate_fields point into it */
    struct km_kstate *ks;
};

_Static_assert(offsetof(struct cs_ctx, set) == 0, "km_kstate_fields point into the context");

static int cs_init(void *vctx, const struct km_host *host)
{
    struct cs_ctx *ctx = vctx;
    struct km_kstate_opts o;
    int rc;

    (void)host;
    km_kstate_opts_from(&o, &ctx->set, NULL); /* the shipper adds --cluster */
    rc = km_kstate_start(&ctx->ks, &o);
    /* Without a way to reach the API this collector has nothing to do: a settings error
     * (the agent stops) rather than a silently empty agent. */
    return rc == KM_ENOTFOUND ? km_err_wrap(KM_EINVAL, "the cluster-state collector") : rc;
}

static void cs_collect(void *vctx, struct km_collect *c)
{
    struct cs_ctx *ctx = vctx;
    struct km_kemit_out out = { .m = c->out, .stale_flags = KM_MF_SHIP_ONLY };
    int rc = km_kstate_emit(ctx->ks, &out, NULL);

    if (rc)
        km_collect_error(c, "the cluster state: %s", km_err_name(rc));
    km_kstate_metrics(ctx->ks, c->out);
}

static void cs_fini(void *vctx)
{
    struct cs_ctx *ctx = vctx;

    km_kstate_stop(ctx->ks);
}

const struct km_collector_ops km_collector_cluster_state = {
    .version = KM_COLLECTOR_OPS_V1,
    .name = "cluster_state",
    .help = "kube-state-metrics series from a list + watch of the Kubernetes API",
    .cfg = km_kstate_fields,
    .ctx_size = sizeof(struct cs_ctx),
    .init = cs_init,
    .collect = cs_collect,
    .fini = cs_fini,
};
