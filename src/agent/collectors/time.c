/*
 * time — the node's clock and uptime: node_time_seconds (wall clock, as node-exporter's
 * time collector) and kmon_node_uptime_seconds from /proc/uptime (monotonic since boot,
 * unaffected by clock steps; node-local, not shipped, since node_boot_time_seconds
 * carries the same information for queries).
 */
#include "agent/collector.h"
#include "common/err.h"
#include "common/procfile.h"
#include "hostfs/procfs.h"

struct time_ctx {
    struct km_procfile file;
};

static int time_init(void *vctx, const struct km_host *host)
{
    struct time_ctx *ctx = vctx;

    return km_procfile_init(&ctx->file, host->proc, "uptime");
}

static void time_collect(void *vctx, struct km_collect *c)
{
    struct time_ctx *ctx = vctx;
    struct km_uptime up;
    const char *data;
    size_t len;

    km_mset_gauge(c->out, "node_time_seconds", "System time in seconds since epoch (1970).",
                  (double)c->now_ms / 1000.0);
    if (km_procfile_read(&ctx->file, &data, &len) != 0) {
        km_collect_error(c, "%s", km_err_msg());
        return;
    }
    if (km_parse_uptime(data, len, &up) != 0) {
        km_collect_error(c, "malformed /proc/uptime");
        return;
    }
    km_mset_add(c->out,
                km_mset_family(c->out, "kmon_node_uptime_seconds",
                               "Seconds since the node booted (/proc/uptime).", KM_MT_GAUGE,
                               KM_MF_LOCAL),
                NULL, 0, up.uptime);
    c->summary->has_uptime = true;
    c->summary->uptime_seconds = up.uptime;
}

static void time_fini(void *vctx)
{
    struct time_ctx *ctx = vctx;

    km_procfile_fini(&ctx->file);
}

const struct km_collector_ops km_collector_time = {
    .version = KM_COLLECTOR_OPS_V1,
    .name = "time",
    .help = "the node's wall clock and uptime (/proc/uptime)",
    .ctx_size = sizeof(struct time_ctx),
    .init = time_init,
    .collect = time_collect,
    .fini = time_fini,
};
