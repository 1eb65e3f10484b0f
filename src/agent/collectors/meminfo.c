/*
 * meminfo — every field of /proc/meminfo as a node-exporter gauge:
 * node_memory_<Field>_bytes for fields in kB (converted to bytes), node_memory_<Field>
 * for plain counts (HugePages_Total), with "Active(anon)" spelled Active_anon. Plus the
 * prototype's memory_bytes = MemTotal − MemAvailable (kmon_node_memory_bytes), falling
 * back to MemTotal − (MemFree + Buffers + Cached) on kernels before 3.14 that lack
 * MemAvailable.
 */
#include "agent/collector.h"
#include "common/err.h"
#include "common/procfile.h"
#include "hostfs/procfs.h"

#include <stdio.h>
#include <string.h>

struct meminfo_ctx {
    struct km_procfile file;
    struct km_mset *out;
    bool have_total, have_avail;
    double total, avail, free_, buffers, cached;
};

static int meminfo_init(void *vctx, const struct km_host *host)
{
    struct meminfo_ctx *ctx = vctx;

    return km_procfile_init(&ctx->file, host->proc, "meminfo");
}

static bool key_eq(const char *k, size_t kl, const char *want)
{
    return kl == strlen(want) && memcmp(k, want, kl) == 0;
}

static void on_field(void *ud, const char *key, size_t kl, uint64_t value, bool has_unit)
{
    struct meminfo_ctx *ctx = ud;
    char name[160], help[200];
    size_t n = 0;
    double v = (double)value;

    /* node_memory_ + key with "(x)" → "_x" and any other non-name byte → '_'. */
    n = (size_t)snprintf(name, sizeof(name), "node_memory_");
    for (size_t i = 0; i < kl && n + 8 < sizeof(name); i++) {
        char ch = key[i];

        if (ch == ')')
            continue;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')))
            ch = '_';
        name[n++] = ch;
    }
    if (has_unit) {
        memcpy(name + n, "_bytes", 7);
        n += 6;
    } else {
        name[n] = '\0';
    }
    snprintf(help, sizeof(help), "Memory information field %s.", name + 12);
    km_mset_gauge(ctx->out, name, help, v);

    if (key_eq(key, kl, "MemTotal")) {
        ctx->total = v;
        ctx->have_total = true;
    } else if (key_eq(key, kl, "MemAvailable")) {
        ctx->avail = v;
        ctx->have_avail = true;
    } else if (key_eq(key, kl, "MemFree")) {
        ctx->free_ = v;
    } else if (key_eq(key, kl, "Buffers")) {
        ctx->buffers = v;
    } else if (key_eq(key, kl, "Cached")) {
        ctx->cached = v;
    }
}

static void meminfo_collect(void *vctx, struct km_collect *c)
{
    struct meminfo_ctx *ctx = vctx;
    const char *data;
    size_t len;
    double used;

    if (km_procfile_read(&ctx->file, &data, &len) != 0) {
        km_collect_error(c, "%s", km_err_msg());
        return;
    }
    ctx->out = c->out;
    ctx->have_total = ctx->have_avail = false;
    ctx->free_ = ctx->buffers = ctx->cached = 0;
    km_collect_malformed(c, km_parse_meminfo(data, len, on_field, ctx), "/proc/meminfo");
    if (!ctx->have_total) {
        km_collect_error(c, "/proc/meminfo has no MemTotal");
        return;
    }
    used = ctx->total - (ctx->have_avail ? ctx->avail : ctx->free_ + ctx->buffers + ctx->cached);
    if (used < 0)
        used = 0;
    km_mset_add(c->out,
                km_mset_family(c->out, "kmon_node_memory_bytes",
                               "Memory in use: MemTotal minus MemAvailable, in bytes.", KM_MT_GAUGE,
                               KM_MF_LOCAL),
                NULL, 0, used);
    c->summary->has_memory = true;
    c->summary->memory_bytes = used;
    c->summary->memory_total_bytes = ctx->total;
}

static void meminfo_fini(void *vctx)
{
    struct meminfo_ctx *ctx = vctx;

    km_procfile_fini(&ctx->file);
}

const struct km_collector_ops km_collector_meminfo = {
    .version = KM_COLLECTOR_OPS_V1,
    .name = "meminfo",
    .help = "every /proc/meminfo field as node_memory_*, and memory_bytes",
    .ctx_size = sizeof(struct meminfo_ctx),
    .init = meminfo_init,
    .collect = meminfo_collect,
    .fini = meminfo_fini,
};
