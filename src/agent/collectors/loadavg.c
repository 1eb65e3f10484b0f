/*
 * loadavg — node_load1, node_load5, node_load15 from /proc/loadavg.
 */
#include "agent/collector.h"
#include "common/err.h"
#include "common/procfile.h"
#include "hostfs/procfs.h"

struct loadavg_ctx {
    struct km_procfile file;
};

static int loadavg_init(void *vctx, const struct km_host *host)
{
    struct loadavg_ctx *ctx = vctx;

    return km_procfile_init(&ctx->file, host->proc, "loadavg");
}

static void loadavg_collect(void *vctx, struct km_collect *c)
{
    struct loadavg_ctx *ctx = vctx;
    struct km_loadavg la;
    const char *data;
    size_t len;

    if (km_procfile_read(&ctx->file, &data, &len) != 0) {
        km_collect_error(c, "%s", km_err_msg());
        return;
    }
    if (km_parse_loadavg(data, len, &la) != 0) {
        km_collect_error(c, "malformed /proc/loadavg");
        return;
    }
    km_mset_gauge(c->out, "node_load1", "1m load average.", la.load1);
    km_mset_gauge(c->out, "node_load5", "5m load average.", la.load5);
    km_mset_gauge(c->out, "node_load15", "15m load average.", la.load15);
}

static void loadavg_fini(void *vctx)
{
    struct loadavg_ctx *ctx = vctx;

    km_procfile_fini(&ctx->file);
}

const struct km_collector_ops km_collector_loadavg = {
    .version = KM_COLLECTOR_OPS_V1,
    .name = "loadavg",
    .help = "load averages over 1, 5 and 15 minutes (/proc/loadavg)",
    .ctx_size = sizeof(struct loadavg_ctx),
    .init = loadavg_init,
    .collect = loadavg_collect,
    .fini = loadavg_fini,
};
