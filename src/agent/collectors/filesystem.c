/*
 * filesystem — size, free and available bytes, inodes and read-only state of every
 * mounted filesystem, as node-exporter names them (node_filesystem_size_bytes{device,
 * fstype,mountpoint}, _free_bytes, _avail_bytes, _files, _files_free, _readonly,
 * _device_error), from the host's mountinfo and statvfs().
 *
 * Pseudo filesystems and runtime-internal mount points are left out by two regexes
 * (node-exporter's defaults, plus kubelet's per-pod volume mounts, which belong to pod
 * metrics). A mount point mounted over several times is reported once, for the mount on
 * top (the one statvfs sees). statvfs runs through statfs_pool with
 * --collector.filesystem.mount-timeout, so a hung NFS or FUSE mount costs one timeout,
 * is reported with node_filesystem_device_error 1, and is skipped until it answers.
 */
#include "agent/collector.h"
#include "agent/statfs_pool.h"
#include "common/arena.h"
#include "common/array.h"
#include "common/err.h"
#include "common/limits.h"
#include "common/procfile.h"
#include "common/regex.h"
#include "hostfs/procfs.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mnt {
    const char *mountpoint, *fstype, *device; /* in ctx->strings */
    bool readonly;
    bool shadowed; /* another mount sits on the same mount point later in the table */
};

struct filesystem_ctx {
    char *mp_exclude, *fs_exclude;
    int64_t timeout_ms;
    const char *root;
    struct km_procfile file;
    struct km_regex *mp_re, *fs_re;
    struct km_statfs_pool *pool;
    struct km_arena strings;
    struct mnt *mnts;
    size_t nmnts, capmnts;
    struct mnt **sorted; /* scratch for finding shadowed mounts, reused */
    size_t capsorted;
    bool overflow;
};

static const struct km_cfg_field filesystem_cfg[] = {
    { .name = "collector.filesystem.mount-points-exclude",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct filesystem_ctx, mp_exclude),
      .def = "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/"
             "storage/.+|var/lib/kubelet/pods/.+)($|/)",
      .metavar = "REGEX",
      .help = "mount points to leave out" },
    { .name = "collector.filesystem.fs-types-exclude",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct filesystem_ctx, fs_exclude),
      .def = "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|"
             "hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|"
             "selinuxfs|squashfs|sysfs|tracefs)$",
      .metavar = "REGEX",
      .help = "filesystem types to leave out" },
    { .name = "collector.filesystem.mount-timeout",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct filesystem_ctx, timeout_ms),
      .def = "5s",
      .help = "how long to wait for statvfs on one mount before calling it hung",
      .min = 1,
      .max = 3600000 },
    KM_CFG_FIELDS_END,
};

static int filesystem_init(void *vctx, const struct km_host *host)
{
    struct filesystem_ctx *ctx = vctx;
    char rel[64];
    int rc;

    ctx->root = host->root;
    km_arena_init(&ctx->strings, 16384, KM_LIMIT_PROCFILE);
    if (ctx->mp_exclude && *ctx->mp_exclude) {
        rc = km_regex_compile(&ctx->mp_re, ctx->mp_exclude, 0);
        if (rc)
            return km_err_wrap(rc, "--collector.filesystem.mount-points-exclude");
    }
    if (ctx->fs_exclude && *ctx->fs_exclude) {
        rc = km_regex_compile(&ctx->fs_re, ctx->fs_exclude, 0);
        if (rc)
            return km_err_wrap(rc, "--collector.filesystem.fs-types-exclude");
    }
    rc = km_statfs_pool_create(&ctx->pool, ctx->timeout_ms, NULL);
    if (rc)
        return rc;
    snprintf(rel, sizeof(rel), "%s/mountinfo", host->host_pid);
    return km_procfile_init(&ctx->file, host->proc, rel);
}

/* "rw,relatime" contains the option "ro"? */
static bool has_ro(const char *opts)
{
    for (const char *p = opts; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t l = comma ? (size_t)(comma - p) : strlen(p);

        if (l == 2 && p[0] == 'r' && p[1] == 'o')
            return true;
        p = comma ? comma + 1 : NULL;
    }
    return false;
}

static void on_mount(void *ud, const struct km_mount *m)
{
    struct filesystem_ctx *ctx = ud;
    struct mnt *x;

    if (ctx->fs_re && km_regex_match(ctx->fs_re, m->fstype, strlen(m->fstype)))
        return;
    if (ctx->mp_re && km_regex_match(ctx->mp_re, m->mountpoint, strlen(m->mountpoint)))
        return;
    if (ctx->nmnts == ctx->capmnts) {
        size_t ncap = ctx->capmnts ? ctx->capmnts * 2 : 64;
        struct mnt *p;

        if (ncap > KM_LIMIT_MOUNTS || !(p = realloc(ctx->mnts, ncap * sizeof(*p)))) {
            ctx->overflow = true;
            return;
        }
        ctx->mnts = p;
        ctx->capmnts = ncap;
    }
    x = &ctx->mnts[ctx->nmnts];
    x->mountpoint = km_arena_strndup(&ctx->strings, m->mountpoint, strlen(m->mountpoint));
    x->fstype = km_arena_strndup(&ctx->strings, m->fstype, strlen(m->fstype));
    x->device = km_arena_strndup(&ctx->strings, m->source, strlen(m->source));
    if (!x->mountpoint || !x->fstype || !x->device) {
        ctx->overflow = true;
        return;
    }
    x->readonly = has_ro(m->options);
    x->shadowed = false;
    ctx->nmnts++;
}

static int cmp_mnt_ptr(const void *a, const void *b)
{
    const struct mnt *x = *(const struct mnt *const *)a, *y = *(const struct mnt *const *)b;
    int c = strcmp(x->mountpoint, y->mountpoint);

    if (c)
        return c;
    return x < y ? -1 : x > y;
}

/* Mark all but the last mount of each mount point as shadowed. */
static void mark_shadowed(struct filesystem_ctx *ctx, struct km_collect *c)
{
    struct mnt **sorted = ctx->sorted;

    if (ctx->nmnts < 2)
        return;
    if (ctx->capsorted < ctx->nmnts) {
        sorted = realloc(ctx->sorted, ctx->capmnts * sizeof(*sorted));
        if (!sorted) {
            km_collect_error(c, "out of memory sorting mounts");
            return;
        }
        ctx->sorted = sorted;
        ctx->capsorted = ctx->capmnts;
    }
    for (size_t i = 0; i < ctx->nmnts; i++)
        sorted[i] = &ctx->mnts[i];
    km_sort(sorted, ctx->nmnts, sizeof(*sorted), cmp_mnt_ptr);
    for (size_t i = 0; i + 1 < ctx->nmnts; i++) {
        if (strcmp(sorted[i]->mountpoint, sorted[i + 1]->mountpoint) == 0)
            sorted[i]->shadowed = true;
    }
}

static void filesystem_collect(void *vctx, struct km_collect *c)
{
    struct filesystem_ctx *ctx = vctx;
    const char *data;
    size_t len;
    int f_size, f_free, f_avail, f_files, f_ffree, f_ro, f_err;

    if (km_procfile_read(&ctx->file, &data, &len) != 0) {
        km_collect_error(c, "%s", km_err_msg());
        return;
    }
    km_arena_reset(&ctx->strings);
    ctx->nmnts = 0;
    ctx->overflow = false;
    km_collect_malformed(c, km_parse_mountinfo(data, len, on_mount, ctx), "mountinfo");
    if (ctx->overflow)
        km_collect_error(c, "too many mounts; some were left out (limit %u)", KM_LIMIT_MOUNTS);
    mark_shadowed(ctx, c);

    f_size = km_mset_family(c->out, "node_filesystem_size_bytes", "Filesystem size in bytes.",
                            KM_MT_GAUGE, 0);
    f_free = km_mset_family(c->out, "node_filesystem_free_bytes", "Filesystem free space in bytes.",
                            KM_MT_GAUGE, 0);
    f_avail =
        km_mset_family(c->out, "node_filesystem_avail_bytes",
                       "Filesystem space available to non-root users in bytes.", KM_MT_GAUGE, 0);
    f_files = km_mset_family(c->out, "node_filesystem_files", "Filesystem total file nodes.",
                             KM_MT_GAUGE, 0);
    f_ffree = km_mset_family(c->out, "node_filesystem_files_free",
                             "Filesystem total free file nodes.", KM_MT_GAUGE, 0);
    f_ro = km_mset_family(c->out, "node_filesystem_readonly", "Filesystem read-only status.",
                          KM_MT_GAUGE, 0);
    f_err = km_mset_family(c->out, "node_filesystem_device_error",
                           "Whether an error occurred while getting statistics for the given "
                           "device.",
                           KM_MT_GAUGE, 0);
    for (size_t i = 0; i < ctx->nmnts; i++) {
        const struct mnt *m = &ctx->mnts[i];
        struct km_label l[3] = { { "device", m->device },
                                 { "fstype", m->fstype },
                                 { "mountpoint", m->mountpoint } };
        char path[PATH_MAX];
        struct statvfs st;
        double frsize;
        int rc;

        if (m->shadowed)
            continue;
        if (km_path_join(path, sizeof(path), ctx->root, m->mountpoint) != 0) {
            km_collect_error(c, "mount point path too long: %s", m->mountpoint);
            continue;
        }
        rc = km_statfs_pool_stat(ctx->pool, path, &st);
        km_mset_add(c->out, f_err, l, 3, rc ? 1 : 0);
        if (rc) {
            km_collect_error(c, "%s", km_err_msg());
            continue;
        }
        frsize = (double)(st.f_frsize ? st.f_frsize : st.f_bsize);
        km_mset_add(c->out, f_size, l, 3, (double)st.f_blocks * frsize);
        km_mset_add(c->out, f_free, l, 3, (double)st.f_bfree * frsize);
        km_mset_add(c->out, f_avail, l, 3, (double)st.f_bavail * frsize);
        km_mset_add(c->out, f_files, l, 3, (double)st.f_files);
        km_mset_add(c->out, f_ffree, l, 3, (double)st.f_ffree);
        km_mset_add(c->out, f_ro, l, 3, m->readonly || (st.f_flag & ST_RDONLY) ? 1 : 0);
    }
}

static void filesystem_fini(void *vctx)
{
    struct filesystem_ctx *ctx = vctx;

    km_procfile_fini(&ctx->file);
    km_regex_destroy(ctx->mp_re);
    km_regex_destroy(ctx->fs_re);
    km_statfs_pool_destroy(ctx->pool);
    km_arena_fini(&ctx->strings);
    free(ctx->mnts);
    free(ctx->sorted);
}

const struct km_collector_ops km_collector_filesystem = {
    .version = KM_COLLECTOR_OPS_V1,
    .name = "filesystem",
    .help = "filesystem size, free and available space, inodes, read-only state "
            "(mountinfo + statvfs)",
    .cfg = filesystem_cfg,
    .ctx_size = sizeof(struct filesystem_ctx),
    .init = filesystem_init,
    .collect = filesystem_collect,
    .fini = filesystem_fini,
};
