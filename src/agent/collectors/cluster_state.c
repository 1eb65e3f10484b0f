/*
 * cluster_state — the cluster-state collector (kstate/) as the agent's one collector in
 * `kmon agent --mode cluster`: every collection the kube-state-metrics families of what
 * the Kubernetes API holds. /metrics shows them as KSM's exposition does (a deleted
 * object's series are simply no longer listed); what is shipped also carries a stale
 * marker for each series of the previous collection that is gone (families flagged
 * KM_MF_SHIP_ONLY), so the receiving store ends them at once. With --leader-elect a
 * replica that does not lead collects only its self-metrics and forgets its previous
 * collection without stale markers (the new leader keeps those series going).
 *
 * Threads: the collection thread; the collector's reflectors run on their own.
 */
#include "agent/collector.h"
#include "common/err.h"
#include "kstate/kstate.h"
#include "kstate/settings.h"
#include "kstate/stale.h"

#include <stddef.h>

struct cs_ctx {
    struct km_kstate_settings set; /* first: km_kstate_fields point into it */
    struct km_kstate *ks;
    struct km_mset sets[2]; /* this collection's emission and the previous one */
    int cur;
    bool sets_ready;
    struct km_kstale stale;
};

_Static_assert(offsetof(struct cs_ctx, set) == 0, "km_kstate_fields point into the context");

static int cs_init(void *vctx, const struct km_host *host)
{
    struct cs_ctx *ctx = vctx;
    struct km_kstate_opts o;
    int rc;

    (void)host;
    km_mset_init(&ctx->sets[0]);
    km_mset_init(&ctx->sets[1]);
    ctx->sets_ready = true;
    rc = km_kstate_opts_from(&o, &ctx->set, NULL); /* the shipper adds --cluster */
    if (rc)
        return rc;
    rc = km_kstate_start(&ctx->ks, &o);
    /* Without a way to reach the API this collector has nothing to do: a settings error
     * (the agent stops) rather than a silently empty agent. */
    return rc == KM_ENOTFOUND ? km_err_wrap(KM_EINVAL, "the cluster-state collector") : rc;
}

/* Copy every sample of src into dst (families declared again). */
static void copy_set(struct km_mset *dst, const struct km_mset *src)
{
    for (size_t f = 0; f < src->nfam; f++) {
        const struct km_mfamily *fam = &src->fam[f];
        int i = km_mset_family(dst, fam->name, fam->help, fam->type, fam->flags);

        for (uint32_t s = fam->first; s != KM_MSET_END; s = src->smp[s].next)
            km_mset_add(dst, i, km_mset_labels(src, &src->smp[s]), src->smp[s].nlabels,
                        src->smp[s].value);
    }
}

static void cs_collect(void *vctx, struct km_collect *c)
{
    struct cs_ctx *ctx = vctx;
    struct km_mset *cur = &ctx->sets[ctx->cur], *prev = &ctx->sets[1 - ctx->cur];

    if (!km_kstate_leading(ctx->ks)) {
        km_mset_reset(prev, c->now_ms); /* a standby forgets, ending nothing */
        km_kstate_metrics(ctx->ks, c->out);
        return;
    }
    km_mset_reset(cur, c->now_ms);
    km_kstate_emit(ctx->ks, cur);
    if (km_mset_error(cur)) {
        km_collect_error(c, "the cluster state: %s", km_err_name(km_mset_error(cur)));
        return;
    }
    copy_set(c->out, cur);
    if (km_kstale_mark(&ctx->stale, prev, cur, c->out, KM_MF_SHIP_ONLY) < 0)
        km_collect_error(c, "stale markers: out of memory");
    km_kstate_metrics(ctx->ks, c->out);
    ctx->cur = 1 - ctx->cur;
}

static void cs_fini(void *vctx)
{
    struct cs_ctx *ctx = vctx;

    km_kstate_stop(ctx->ks);
    if (ctx->sets_ready) {
        km_mset_fini(&ctx->sets[0]);
        km_mset_fini(&ctx->sets[1]);
    }
    km_kstale_fini(&ctx->stale);
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
