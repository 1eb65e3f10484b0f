/*
 * stat — the node's CPU time and scheduler counters from /proc/stat, with
 * node-exporter's names: node_cpu_seconds_total{cpu,mode} for every mode the kernel
 * reports, node_cpu_guest_seconds_total{cpu,mode}, node_boot_time_seconds,
 * node_context_switches_total, node_forks_total, node_intr_total, node_procs_running,
 * node_procs_blocked; plus the prototype's cpu_millicores (kmon_node_cpu_millicores).
 *
 * cpu_millicores: busy ticks (user + nice + system + irq + softirq; the kernel already
 * counts guest time inside user and nice) over all ticks (busy + idle + iowait + steal)
 * between the last two readings, times the number of CPUs, times 1000. Using the ratio
 * of ticks instead of wall-clock time makes it immune to collection jitter.
 */
#include "agent/collector.h"
#include "common/err.h"
#include "common/procfile.h"
#include "hostfs/procfs.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const mode_names[KM_CPU_NMODES] = {
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guest_nice",
};

struct stat_ctx {
    struct km_procfile file;
    double user_hz;
    bool have_prev;
    uint64_t prev_busy, prev_total;
    /* Filled while parsing one reading. */
    struct km_mset *out;
    int fam_cpu, fam_guest;
    unsigned ncpus;
    struct km_stat_cpu total;
    bool have_total;
};

static int stat_init(void *vctx, const struct km_host *host)
{
    struct stat_ctx *ctx = vctx;
    long hz = sysconf(_SC_CLK_TCK);

    ctx->user_hz = hz > 0 ? (double)hz : 100.0;
    return km_procfile_init(&ctx->file, host->proc, "stat");
}

static void on_cpu(void *ud, const struct km_stat_cpu *c)
{
    struct stat_ctx *ctx = ud;
    char cpu[16];

    if (c->cpu < 0) {
        ctx->total = *c;
        ctx->have_total = true;
        return;
    }
    ctx->ncpus++;
    snprintf(cpu, sizeof(cpu), "%d", c->cpu);
    for (unsigned m = 0; m < c->nfields && m <= KM_CPU_STEAL; m++) {
        struct km_label l[2] = { { "cpu", cpu }, { "mode", mode_names[m] } };

        km_mset_add(ctx->out, ctx->fam_cpu, l, 2, (double)c->ticks[m] / ctx->user_hz);
    }
    for (unsigned m = KM_CPU_GUEST; m < c->nfields; m++) {
        struct km_label l[2] = { { "cpu", cpu }, { "mode", m == KM_CPU_GUEST ? "user" : "nice" } };

        km_mset_add(ctx->out, ctx->fam_guest, l, 2, (double)c->ticks[m] / ctx->user_hz);
    }
}

static void millicores(struct stat_ctx *ctx, struct km_collect *c)
{
    const uint64_t *t = ctx->total.ticks;
    uint64_t busy =
        t[KM_CPU_USER] + t[KM_CPU_NICE] + t[KM_CPU_SYSTEM] + t[KM_CPU_IRQ] + t[KM_CPU_SOFTIRQ];
    uint64_t total = busy + t[KM_CPU_IDLE] + t[KM_CPU_IOWAIT] + t[KM_CPU_STEAL];

    if (ctx->have_prev && total > ctx->prev_total && ctx->ncpus > 0) {
        /* idle/iowait can step back a little on NO_HZ kernels: clamp. */
        double dbusy = busy > ctx->prev_busy ? (double)(busy - ctx->prev_busy) : 0;
        double v = dbusy / (double)(total - ctx->prev_total) * ctx->ncpus * 1000.0;

        km_mset_add(c->out,
                    km_mset_family(c->out, "kmon_node_cpu_millicores",
                                   "CPU in use over the last interval, in millicores "
                                   "(1000 = one core busy).",
                                   KM_MT_GAUGE, KM_MF_LOCAL),
                    NULL, 0, v);
        c->summary->has_cpu = true;
        c->summary->cpu_millicores = v;
    }
    ctx->prev_busy = busy;
    ctx->prev_total = total;
    ctx->have_prev = true;
}

static void stat_collect(void *vctx, struct km_collect *c)
{
    struct stat_ctx *ctx = vctx;
    struct km_stat st;
    const char *data;
    size_t len;
    int bad;

    if (km_procfile_read(&ctx->file, &data, &len) != 0) {
        km_collect_error(c, "%s", km_err_msg());
        return;
    }
    ctx->out = c->out;
    ctx->ncpus = 0;
    ctx->have_total = false;
    ctx->fam_cpu = km_mset_family(c->out, "node_cpu_seconds_total",
                                  "Seconds the CPUs spent in each mode.", KM_MT_COUNTER, 0);
    ctx->fam_guest =
        km_mset_family(c->out, "node_cpu_guest_seconds_total",
                       "Seconds the CPUs spent in guests (VMs) for each mode.", KM_MT_COUNTER, 0);
    bad = km_parse_stat(data, len, &st, on_cpu, ctx);
    km_collect_malformed(c, bad, "/proc/stat");
    if (ctx->have_total)
        millicores(ctx, c);
    else
        km_collect_error(c, "/proc/stat has no aggregate cpu line");
    if (st.have & KM_STAT_BTIME)
        km_mset_gauge(c->out, "node_boot_time_seconds", "Node boot time, in unixtime.",
                      (double)st.btime);
    if (st.have & KM_STAT_CTXT)
        km_mset_add(c->out,
                    km_mset_family(c->out, "node_context_switches_total",
                                   "Total number of context switches.", KM_MT_COUNTER, 0),
                    NULL, 0, (double)st.ctxt);
    if (st.have & KM_STAT_PROCESSES)
        km_mset_add(
            c->out,
            km_mset_family(c->out, "node_forks_total", "Total number of forks.", KM_MT_COUNTER, 0),
            NULL, 0, (double)st.processes);
    if (st.have & KM_STAT_INTR)
        km_mset_add(c->out,
                    km_mset_family(c->out, "node_intr_total",
                                   "Total number of interrupts serviced.", KM_MT_COUNTER, 0),
                    NULL, 0, (double)st.intr);
    if (st.have & KM_STAT_PROCS_RUNNING)
        km_mset_gauge(c->out, "node_procs_running", "Number of processes in runnable state.",
                      (double)st.procs_running);
    if (st.have & KM_STAT_PROCS_BLOCKED)
        km_mset_gauge(c->out, "node_procs_blocked",
                      "Number of processes blocked waiting for I/O to complete.",
                      (double)st.procs_blocked);
}

static void stat_fini(void *vctx)
{
    struct stat_ctx *ctx = vctx;

    km_procfile_fini(&ctx->file);
}

const struct km_collector_ops km_collector_stat = {
    .version = KM_COLLECTOR_OPS_V1,
    .name = "stat",
    .help = "CPU time per mode, cpu_millicores, boot time, context switches, forks, "
            "interrupts, running and blocked processes (/proc/stat)",
    .ctx_size = sizeof(struct stat_ctx),
    .init = stat_init,
    .collect = stat_collect,
    .fini = stat_fini,
};
