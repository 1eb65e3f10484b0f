/*
 * netdev — network interface counters from /proc/net/dev with node-exporter's names
 * (node_network_receive_bytes_total{device}, …_packets_, _errs_, _drop_, _fifo_,
 * _frame_, _compressed_, _multicast_; node_network_transmit_…, _colls_, _carrier_).
 *
 * Filters: --collector.netdev.device-exclude / -include (regexes) and
 * --no-collector.netdev.virtual, which drops loopback, bridges, veths and every other
 * interface the kernel lists under /sys/devices/virtual/net. The node summary
 * (network_io) always counts physical interfaces only, so traffic that crosses a veth
 * and a bridge on its way out is not counted two or three times.
 */
#include "agent/collector.h"
#include "common/err.h"
#include "common/procfile.h"
#include "common/regex.h"
#include "hostfs/procfs.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define VIRT_CACHE_MAX 128

struct virt_entry {
    char name[KM_NETDEV_NAME_MAX];
    bool virtual_;
};

struct netdev_ctx {
    char *exclude, *include;
    bool include_virtual;
    const char *sys;
    bool sys_ok; /* /sys/class/net readable: we can tell virtual interfaces apart */
    struct km_procfile file;
    struct km_regex *exclude_re, *include_re;
    struct virt_entry cache[VIRT_CACHE_MAX];
    size_t ncache;
    struct km_collect *c;
    int fam[KM_NETDEV_NSTATS];
};

static const char *const stat_names[KM_NETDEV_NSTATS] = {
    "receive_bytes",  "receive_packets",  "receive_errs",       "receive_drop",
    "receive_fifo",   "receive_frame",    "receive_compressed", "receive_multicast",
    "transmit_bytes", "transmit_packets", "transmit_errs",      "transmit_drop",
    "transmit_fifo",  "transmit_colls",   "transmit_carrier",   "transmit_compressed",
};

static const struct km_cfg_field netdev_cfg[] = {
    { .name = "collector.netdev.device-exclude",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct netdev_ctx, exclude),
      .metavar = "REGEX",
      .help = "network interfaces to leave out (matched anywhere in the name)" },
    { .name = "collector.netdev.device-include",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct netdev_ctx, include),
      .metavar = "REGEX",
      .help = "if set, report only network interfaces matching this" },
    { .name = "collector.netdev.virtual",
      .type = KM_CFG_BOOL,
      .offset = offsetof(struct netdev_ctx, include_virtual),
      .def = "true",
      .help = "report virtual interfaces (lo, veth, bridges, tunnels); "
              "--no-collector.netdev.virtual leaves them out" },
    KM_CFG_FIELDS_END,
};

static int netdev_init(void *vctx, const struct km_host *host)
{
    struct netdev_ctx *ctx = vctx;
    char path[PATH_MAX];
    int rc;

    ctx->sys = host->sys;
    if (ctx->exclude && *ctx->exclude) {
        rc = km_regex_compile(&ctx->exclude_re, ctx->exclude, 0);
        if (rc)
            return km_err_wrap(rc, "--collector.netdev.device-exclude");
    }
    if (ctx->include && *ctx->include) {
        rc = km_regex_compile(&ctx->include_re, ctx->include, 0);
        if (rc)
            return km_err_wrap(rc, "--collector.netdev.device-include");
    }
    snprintf(path, sizeof(path), "%s/class/net", host->sys);
    ctx->sys_ok = access(path, R_OK | X_OK) == 0;
    snprintf(path, sizeof(path), "%s/net/dev", host->host_pid);
    return km_procfile_init(&ctx->file, host->proc, path);
}

/* Virtual interfaces resolve to /sys/devices/virtual/net/<name>. Remembered per name. */
static bool is_virtual(struct netdev_ctx *ctx, const char *name)
{
    char path[PATH_MAX], target[PATH_MAX];
    ssize_t n;
    bool v;

    if (!ctx->sys_ok)
        return strcmp(name, "lo") == 0;
    for (size_t i = 0; i < ctx->ncache; i++) {
        if (strcmp(ctx->cache[i].name, name) == 0)
            return ctx->cache[i].virtual_;
    }
    snprintf(path, sizeof(path), "%s/class/net/%s", ctx->sys, name);
    n = readlink(path, target, sizeof(target) - 1);
    if (n < 0)
        return strcmp(name, "lo") == 0; /* gone already, or not a symlink: do not cache */
    target[n] = '\0';
    v = strstr(target, "/devices/virtual/") != NULL;
    if (ctx->ncache == VIRT_CACHE_MAX)
        ctx->ncache = 0;
    snprintf(ctx->cache[ctx->ncache].name, sizeof(ctx->cache[0].name), "%s", name);
    ctx->cache[ctx->ncache++].virtual_ = v;
    return v;
}

static void on_dev(void *ud, const struct km_netdev *d)
{
    struct netdev_ctx *ctx = ud;
    struct km_collect *c = ctx->c;
    size_t nl = strlen(d->name);
    bool virt = is_virtual(ctx, d->name);
    struct km_label l = { "device", d->name };

    if (!virt) {
        c->summary->has_net = true;
        c->summary->net_recv_bytes += d->v[0];
        c->summary->net_sent_bytes += d->v[8];
    }
    if (virt && !ctx->include_virtual)
        return;
    if (ctx->exclude_re && km_regex_match(ctx->exclude_re, d->name, nl))
        return;
    if (ctx->include_re && !km_regex_match(ctx->include_re, d->name, nl))
        return;
    for (int k = 0; k < KM_NETDEV_NSTATS; k++)
        km_mset_add(c->out, ctx->fam[k], &l, 1, (double)d->v[k]);
}

static void netdev_collect(void *vctx, struct km_collect *c)
{
    struct netdev_ctx *ctx = vctx;
    const char *data;
    size_t len;

    if (km_procfile_read(&ctx->file, &data, &len) != 0) {
        km_collect_error(c, "%s", km_err_msg());
        return;
    }
    ctx->c = c;
    for (int k = 0; k < KM_NETDEV_NSTATS; k++) {
        char name[96], help[128];

        snprintf(name, sizeof(name), "node_network_%s_total", stat_names[k]);
        snprintf(help, sizeof(help), "Network device statistic %s.", stat_names[k]);
        ctx->fam[k] = km_mset_family(c->out, name, help, KM_MT_COUNTER, 0);
    }
    km_collect_malformed(c, km_parse_netdev(data, len, on_dev, ctx), "/proc/net/dev");
}

static void netdev_fini(void *vctx)
{
    struct netdev_ctx *ctx = vctx;

    km_procfile_fini(&ctx->file);
    km_regex_destroy(ctx->exclude_re);
    km_regex_destroy(ctx->include_re);
}

const struct km_collector_ops km_collector_netdev = {
    .version = KM_COLLECTOR_OPS_V1,
    .name = "netdev",
    .help = "network interface traffic, packets, errors and drops (/proc/net/dev)",
    .cfg = netdev_cfg,
    .ctx_size = sizeof(struct netdev_ctx),
    .init = netdev_init,
    .collect = netdev_collect,
    .fini = netdev_fini,
};
