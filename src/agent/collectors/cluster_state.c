/*
 * cluster_state — the cluster-state collector (kstate/) as the agent's one collector in
 * `kmon agent --mode cluster`: the kube-state-metrics families of what the Kubernetes
 * API holds. A large cluster's state (a million series at 30 000 pods) is never held
 * whole: each collection hands it to shipping in parts of KM_CS_PART samples, stale
 * markers included (a series of the last collection that is gone, so the receiving
 * store ends it at once), and /metrics renders it from the stores on demand, family by
 * family as KSM's exposition shows it (no stale markers: a deleted object's series are
 * simply no longer listed). The collection itself keeps only the collector's
 * self-metrics. Without shipping nothing is emitted; /metrics still shows the state.
 * With --leader-elect a replica that does not lead ships nothing, shows no state on
 * /metrics and forgets what it shipped without stale markers (the new leader keeps
 * those series going).
 *
 * With --server (and --cluster-state-events, the default) the Kubernetes Events go to
 * the server too: the watcher's sink (kstate/events.h) posts each batch of Event lines
 * to <--server>/loki/api/v1/push (agent/logs/lokipost.h) with the agent's --cluster as
 * their cluster label; a network error, 5xx or 429 makes the watcher offer them again
 * after a backoff, another 4xx drops them (logged once a minute with the server's
 * sentence).
 *
 * Threads: the collection thread; the views on the HTTP thread; the collector's
 * reflectors on their own.
 */
#include "agent/collector.h"
#include "agent/logs/logs.h"
#include "agent/logs/lokipost.h"
#include "agent/ship/encode.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "kstate/kstate.h"
#include "kstate/settings.h"
#include "remote/loki_push.h"

#include <inttypes.h>
#include <stddef.h>

/* Samples per part handed to shipping: one remote_write request each, unless an object
 * has more than 1 024 series. */
#define KM_CS_PART (KM_SHIP_BATCH_SAMPLES - 1024)

/* A body of Event lines: the watcher's batch (KM_KEVENTS_BATCH lines of at most
 * KM_KEVENTS_MAX_LINE bytes) encoded, with room to spare. */
#define KM_CS_EVENTS_BODY ((size_t)KM_KEVENTS_BATCH * KM_KEVENTS_MAX_LINE + (1u << 20))

#define KM_CS_EVENTS_LOG_EVERY_NS (60 * 1000000000ll)

/* The Events' way to the server; used by the watcher's sender thread only. */
struct cs_events {
    struct km_lokipost *post;
    struct km_buf body;
    bool down;
    int64_t last_fail_log_ns;
    char url[2048];
};

struct cs_ctx {
    struct km_kstate_settings set; /* first: km_kstate_fields point into it */
    struct km_kstate *ks;
    struct km_mset part; /* the emission on its way to shipping */
    bool part_ready;
    int64_t first_ms; /* the first collection's time */
    bool synced;      /* every kind has been listed once (or waiting is over) */
    struct cs_events ev;
    bool ev_ready; /* ev.body initialised */
};

_Static_assert(offsetof(struct cs_ctx, set) == 0, "km_kstate_fields point into the context");

/* The watcher's sink: one push request per batch. */
static int events_push(void *ud, const struct km_log_push_stream *st, size_t n)
{
    struct cs_events *ev = ud;
    uint64_t lines = 0;
    long status;
    char why[KM_LOKIPOST_WHY];
    int64_t now;
    int rc;

    for (size_t i = 0; i < n; i++)
        lines += st[i].n_entries;
    rc = km_loki_push_encode(&ev->body, st, n);
    if (rc) {
        km_log_error("cluster-state", "encoding %" PRIu64 " Kubernetes Event lines: %s", lines,
                     km_err_msg());
        return 0; /* the same lines would fail again */
    }
    switch (km_lokipost_send(ev->post, &ev->body, &status, why)) {
    case KM_LOKIPOST_SENT:
        if (ev->down)
            km_log_info("cluster-state", "delivering Kubernetes Events to %s again", ev->url);
        ev->down = false;
        return 0;
    case KM_LOKIPOST_REJECTED:
        km_lokipost_log_rejected(ev->post, status, lines, "Kubernetes Event lines");
        return 0;
    case KM_LOKIPOST_RETRY:
        break;
    }
    now = km_time_mono_ns();
    if (!ev->down || now - ev->last_fail_log_ns >= KM_CS_EVENTS_LOG_EVERY_NS) {
        km_log_warn("cluster-state", "cannot deliver Kubernetes Events to %s (%s): retrying",
                    ev->url, why);
        ev->last_fail_log_ns = now;
    }
    ev->down = true;
    return KM_EIO;
}

/* Events to <--server>/loki/api/v1/push when the agent ships to a kmon server. */
static int events_open(struct cs_ctx *ctx, struct km_kstate_opts *o)
{
    const char *cluster;
    int64_t timeout_ms;
    int rc;

    if (!o->events || !km_logs_server_push(ctx->ev.url, sizeof(ctx->ev.url), &cluster, &timeout_ms))
        return 0;
    km_buf_init(&ctx->ev.body, KM_CS_EVENTS_BODY);
    ctx->ev_ready = true;
    rc = km_lokipost_open(&ctx->ev.post, &(struct km_lokipost_opts){ .url = ctx->ev.url,
                                                                     .auth = km_logs_server_auth(),
                                                                     .timeout_ms = timeout_ms });
    if (rc)
        return rc;
    o->events_sink = (struct km_kevents_sink){ .push = events_push, .ud = &ctx->ev };
    o->events_cluster = cluster;
    return 0;
}

static int cs_init(void *vctx, const struct km_host *host)
{
    struct cs_ctx *ctx = vctx;
    struct km_kstate_opts o;
    int rc;

    (void)host;
    km_mset_init(&ctx->part);
    ctx->part_ready = true;
    rc = km_kstate_opts_from(&o, &ctx->set, NULL); /* the shipper adds --cluster */
    if (rc)
        return rc;
    rc = events_open(ctx, &o);
    if (rc)
        return rc;
    rc = km_kstate_start(&ctx->ks, &o);
    /* Without a way to reach the API this collector has nothing to do: a settings error
     * (the agent stops) rather than a silently empty agent. */
    return rc == KM_ENOTFOUND ? km_err_wrap(KM_EINVAL, "the cluster-state collector") : rc;
}

static int ship_part(void *ud, struct km_mset *m)
{
    struct km_collect *c = ud;

    return c->ship(c->ship_ud, m);
}

static void cs_collect(void *vctx, struct km_collect *c)
{
    struct cs_ctx *ctx = vctx;

    if (!ctx->first_ms)
        ctx->first_ms = c->now_ms;
    /* The first emission once every kind has been listed (a 30 000-pod list takes
     * seconds; emitting half-filled stores meanwhile only slows it), at the latest after
     * a minute. */
    ctx->synced = ctx->synced || km_kstate_synced(ctx->ks) || c->now_ms - ctx->first_ms > 60000;
    if (!km_kstate_leading(ctx->ks)) {
        km_kstate_forget(ctx->ks); /* a standby forgets, ending nothing */
    } else if (c->ship && ctx->synced) {
        struct km_kemit_out out = { .m = &ctx->part,
                                    .stale_flags = KM_MF_SHIP_ONLY,
                                    .chunk = KM_CS_PART,
                                    .flush = ship_part,
                                    .ud = c };
        int rc;

        km_mset_reset(&ctx->part, c->now_ms);
        rc = km_kstate_emit(ctx->ks, &out, NULL);
        if (rc)
            km_collect_error(c, "shipping the cluster state: %s", km_err_name(rc));
    }
    km_kstate_metrics(ctx->ks, c->out);
}

static int cs_view_begin(void *vctx, void **view)
{
    struct cs_ctx *ctx = vctx;

    return km_kstate_view_begin(ctx->ks, (struct km_kstate_view **)view);
}

static int cs_view_step(void *view, struct km_buf *b)
{
    return km_kstate_view_step(view, b);
}

static void cs_view_end(void *view)
{
    km_kstate_view_end(view);
}

static void cs_fini(void *vctx)
{
    struct cs_ctx *ctx = vctx;

    km_kstate_stop(ctx->ks); /* first: the Events sink is not called after this */
    ctx->ks = NULL;
    km_lokipost_close(ctx->ev.post);
    ctx->ev.post = NULL;
    if (ctx->ev_ready)
        km_buf_fini(&ctx->ev.body);
    ctx->ev_ready = false;
    if (ctx->part_ready)
        km_mset_fini(&ctx->part);
    ctx->part_ready = false;
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
    .view_begin = cs_view_begin,
    .view_step = cs_view_step,
    .view_end = cs_view_end,
};
