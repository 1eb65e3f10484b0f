/*
 * pressure — pressure stall information from /proc/pressure/{cpu,memory,io,irq}
 * (kernel 4.20+ with CONFIG_PSI), as node-exporter names it:
 * node_pressure_<resource>_waiting_seconds_total for the "some" line (at least one task
 * stalled) and node_pressure_<resource>_stalled_seconds_total for "full" (all non-idle
 * tasks stalled). A kernel without PSI has no such files: each missing file is counted
 * as a collection error, as any missing source is.
 */
#include "agent/collector.h"
#include "common/err.h"
#include "common/procfile.h"
#include "hostfs/procfs.h"

#include <stdio.h>

enum { RES_CPU, RES_MEMORY, RES_IO, RES_IRQ, RES_COUNT };

static const char *const res_names[RES_COUNT] = { "cpu", "memory", "io", "irq" };

struct pressure_ctx {
    struct km_procfile file[RES_COUNT];
    bool absent[RES_COUNT]; /* irq is new (6.1): its absence alone is not an error */
};

static int pressure_init(void *vctx, const struct km_host *host)
{
    struct pressure_ctx *ctx = vctx;

    for (int r = 0; r < RES_COUNT; r++) {
        char rel[32];
        int rc;

        snprintf(rel, sizeof(rel), "pressure/%s", res_names[r]);
        rc = km_procfile_init(&ctx->file[r], host->proc, rel);
        if (rc)
            return rc;
    }
    return 0;
}

static void pressure_collect(void *vctx, struct km_collect *c)
{
    struct pressure_ctx *ctx = vctx;

    for (int r = 0; r < RES_COUNT; r++) {
        struct km_pressure p;
        const char *data;
        size_t len;
        char name[96], help[160];
        int rc, bad;

        rc = km_procfile_read(&ctx->file[r], &data, &len);
        if (rc) {
            /* An older kernel has cpu/memory/io but no irq: that is not an error. */
            if (!(r == RES_IRQ && rc == KM_ENOTFOUND && !ctx->absent[RES_CPU]))
                km_collect_error(c, "%s", km_err_msg());
            ctx->absent[r] = true;
            continue;
        }
        ctx->absent[r] = false;
        bad = km_parse_pressure(data, len, &p);
        km_collect_malformed(c, bad, ctx->file[r].path);
        if (p.some.present) {
            snprintf(name, sizeof(name), "node_pressure_%s_waiting_seconds_total", res_names[r]);
            snprintf(help, sizeof(help), "Total time in seconds that processes have waited for %s.",
                     res_names[r]);
            km_mset_add(c->out, km_mset_family(c->out, name, help, KM_MT_COUNTER, 0), NULL, 0,
                        (double)p.some.total_us / 1e6);
        }
        if (p.full.present) {
            snprintf(name, sizeof(name), "node_pressure_%s_stalled_seconds_total", res_names[r]);
            snprintf(help, sizeof(help),
                     "Total time in seconds no process could make progress due to %s "
                     "congestion.",
                     res_names[r]);
            km_mset_add(c->out, km_mset_family(c->out, name, help, KM_MT_COUNTER, 0), NULL, 0,
                        (double)p.full.total_us / 1e6);
        }
    }
}

static void pressure_fini(void *vctx)
{
    struct pressure_ctx *ctx = vctx;

    for (int r = 0; r < RES_COUNT; r++)
        km_procfile_fini(&ctx->file[r]);
}

const struct km_collector_ops km_collector_pressure = {
    .version = KM_COLLECTOR_OPS_V1,
    .name = "pressure",
    .help = "pressure stall information for CPU, memory, I/O and IRQ (/proc/pressure)",
    .ctx_size = sizeof(struct pressure_ctx),
    .init = pressure_init,
    .collect = pressure_collect,
    .fini = pressure_fini,
};
