/*
 * diskstats — block device I/O from /proc/diskstats with node-exporter's names
 * (node_disk_reads_completed_total, node_disk_read_bytes_total, … per device), for the
 * 11-, 15- and 17-statistic layouts, plus node_disk_info{device,major,minor}.
 *
 * Devices are filtered as node-exporter does by default (ram, loop, fd and partitions
 * by name: --collector.diskstats.device-exclude), and partitions are also recognised by
 * /sys/class/block/<dev>/partition so names the regex misses (mmcblk0p1, sdaa1) are not
 * double-counted with their disk. Sectors in /proc/diskstats are always 512 bytes.
 */
#include "agent/collector.h"
#include "common/err.h"
#include "common/procfile.h"
#include "common/regex.h"
#include "hostfs/procfs.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define PART_CACHE_MAX 256

struct part_entry {
    unsigned major, minor;
    bool partition;
};

struct diskstats_ctx {
    /* settings */
    char *exclude, *include;
    bool partitions;
    /* state */
    const char *sys;
    struct km_procfile file;
    struct km_regex *exclude_re, *include_re;
    struct part_entry cache[PART_CACHE_MAX];
    size_t ncache;
    /* per collection */
    struct km_collect *c;
    int fam[KM_DISK_NSTATS];
    int fam_info;
};

struct disk_metric {
    const char *name;
    const char *help;
    enum km_mtype type;
    double scale; /* sectors → bytes (512), ms → s (0.001) */
};

static const struct disk_metric metrics[KM_DISK_NSTATS] = {
    { "node_disk_reads_completed_total", "The total number of reads completed successfully.",
      KM_MT_COUNTER, 1 },
    { "node_disk_reads_merged_total", "The total number of reads merged.", KM_MT_COUNTER, 1 },
    { "node_disk_read_bytes_total", "The total number of bytes read successfully.", KM_MT_COUNTER,
      512 },
    { "node_disk_read_time_seconds_total", "The total number of seconds spent by all reads.",
      KM_MT_COUNTER, 0.001 },
    { "node_disk_writes_completed_total", "The total number of writes completed successfully.",
      KM_MT_COUNTER, 1 },
    { "node_disk_writes_merged_total", "The number of writes merged.", KM_MT_COUNTER, 1 },
    { "node_disk_written_bytes_total", "The total number of bytes written successfully.",
      KM_MT_COUNTER, 512 },
    { "node_disk_write_time_seconds_total",
      "This is the total number of seconds spent by all writes.", KM_MT_COUNTER, 0.001 },
    { "node_disk_io_now", "The number of I/Os currently in progress.", KM_MT_GAUGE, 1 },
    { "node_disk_io_time_seconds_total", "Total seconds spent doing I/Os.", KM_MT_COUNTER, 0.001 },
    { "node_disk_io_time_weighted_seconds_total",
      "The weighted number of seconds spent doing I/Os.", KM_MT_COUNTER, 0.001 },
    { "node_disk_discards_completed_total", "The total number of discards completed successfully.",
      KM_MT_COUNTER, 1 },
    { "node_disk_discards_merged_total", "The total number of discards merged.", KM_MT_COUNTER, 1 },
    { "node_disk_discarded_sectors_total", "The total number of sectors discarded successfully.",
      KM_MT_COUNTER, 1 },
    { "node_disk_discard_time_seconds_total",
      "This is the total number of seconds spent by all discards.", KM_MT_COUNTER, 0.001 },
    { "node_disk_flush_requests_total", "The total number of flush requests completed successfully",
      KM_MT_COUNTER, 1 },
    { "node_disk_flush_requests_time_seconds_total",
      "This is the total number of seconds spent by all flush requests.", KM_MT_COUNTER, 0.001 },
};

static const struct km_cfg_field diskstats_cfg[] = {
    { .name = "collector.diskstats.device-exclude",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct diskstats_ctx, exclude),
      .def = "^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\\d+n\\d+p)\\d+$",
      .metavar = "REGEX",
      .help = "block devices to leave out (matched anywhere in the name)" },
    { .name = "collector.diskstats.device-include",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct diskstats_ctx, include),
      .metavar = "REGEX",
      .help = "if set, report only block devices matching this" },
    { .name = "collector.diskstats.partitions",
      .type = KM_CFG_BOOL,
      .offset = offsetof(struct diskstats_ctx, partitions),
      .def = "false",
      .help = "also report partitions (they double-count their disk's I/O)" },
    KM_CFG_FIELDS_END,
};

static int diskstats_init(void *vctx, const struct km_host *host)
{
    struct diskstats_ctx *ctx = vctx;
    int rc;

    ctx->sys = host->sys;
    if (ctx->exclude && *ctx->exclude) {
        rc = km_regex_compile(&ctx->exclude_re, ctx->exclude, 0);
        if (rc)
            return km_err_wrap(rc, "--collector.diskstats.device-exclude");
    }
    if (ctx->include && *ctx->include) {
        rc = km_regex_compile(&ctx->include_re, ctx->include, 0);
        if (rc)
            return km_err_wrap(rc, "--collector.diskstats.device-include");
    }
    return km_procfile_init(&ctx->file, host->proc, "diskstats");
}

/* Is major:minor a partition? Asked of sysfs once per device and remembered. */
static bool is_partition(struct diskstats_ctx *ctx, const struct km_diskstat *d)
{
    char path[512];
    struct stat st;
    bool part;

    for (size_t i = 0; i < ctx->ncache; i++) {
        if (ctx->cache[i].major == d->major && ctx->cache[i].minor == d->minor)
            return ctx->cache[i].partition;
    }
    snprintf(path, sizeof(path), "%s/dev/block/%u:%u/partition", ctx->sys, d->major, d->minor);
    part = stat(path, &st) == 0;
    if (ctx->ncache == PART_CACHE_MAX)
        ctx->ncache = 0; /* devices churned past the cache: start over */
    ctx->cache[ctx->ncache++] = (struct part_entry){ d->major, d->minor, part };
    return part;
}

static void on_disk(void *ud, const struct km_diskstat *d)
{
    struct diskstats_ctx *ctx = ud;
    struct km_collect *c = ctx->c;
    size_t nl = strlen(d->name);
    char major[16], minor[16];

    if (ctx->exclude_re && km_regex_match(ctx->exclude_re, d->name, nl))
        return;
    if (ctx->include_re && !km_regex_match(ctx->include_re, d->name, nl))
        return;
    if (!ctx->partitions && is_partition(ctx, d))
        return;
    for (unsigned k = 0; k < d->nstats; k++) {
        struct km_label l = { "device", d->name };

        km_mset_add(c->out, ctx->fam[k], &l, 1, (double)d->v[k] * metrics[k].scale);
    }
    snprintf(major, sizeof(major), "%u", d->major);
    snprintf(minor, sizeof(minor), "%u", d->minor);
    {
        struct km_label l[3] = { { "device", d->name }, { "major", major }, { "minor", minor } };

        km_mset_add(c->out, ctx->fam_info, l, 3, 1);
    }
    c->summary->has_disk = true;
    c->summary->disk_read_bytes += d->v[KM_DISK_SECTORS_READ] * 512;
    c->summary->disk_written_bytes += d->v[KM_DISK_SECTORS_WRITTEN] * 512;
}

static void diskstats_collect(void *vctx, struct km_collect *c)
{
    struct diskstats_ctx *ctx = vctx;
    const char *data;
    size_t len;

    if (km_procfile_read(&ctx->file, &data, &len) != 0) {
        km_collect_error(c, "%s", km_err_msg());
        return;
    }
    ctx->c = c;
    for (int k = 0; k < KM_DISK_NSTATS; k++)
        ctx->fam[k] = km_mset_family(c->out, metrics[k].name, metrics[k].help, metrics[k].type, 0);
    ctx->fam_info = km_mset_family(c->out, "node_disk_info", "Info of /sys/block/<block_device>.",
                                   KM_MT_GAUGE, 0);
    km_collect_malformed(c, km_parse_diskstats(data, len, on_disk, ctx), "/proc/diskstats");
}

static void diskstats_fini(void *vctx)
{
    struct diskstats_ctx *ctx = vctx;

    km_procfile_fini(&ctx->file);
    km_regex_destroy(ctx->exclude_re);
    km_regex_destroy(ctx->include_re);
}

const struct km_collector_ops km_collector_diskstats = {
    .version = KM_COLLECTOR_OPS_V1,
    .name = "diskstats",
    .help = "block device I/O per disk (/proc/diskstats)",
    .cfg = diskstats_cfg,
    .ctx_size = sizeof(struct diskstats_ctx),
    .init = diskstats_init,
    .collect = diskstats_collect,
    .fini = diskstats_fini,
};
