/*
 * cgfs — cgroup hierarchy detection and reading one cgroup's statistics (see cgfs.h).
 */
#include "cgfs.h"

#include "common/err.h"
#include "common/procfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool is_dir(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* The first of `names` (under root) that is a directory, into out. */
static void find_ctrl(const char *root, const char *const *names, char out[PATH_MAX])
{
    out[0] = '\0';
    for (const char *const *n = names; *n; n++) {
        char path[PATH_MAX];

        if (snprintf(path, sizeof(path), "%s/%s", root, *n) < (int)sizeof(path) && is_dir(path)) {
            snprintf(out, PATH_MAX, "%s", path);
            return;
        }
    }
}

int km_cg_detect(const char *sys, struct km_cg_fs *fs)
{
    static const char *const cpu[] = { "cpu", "cpu,cpuacct", "cpuacct,cpu", NULL };
    static const char *const cpuacct[] = { "cpuacct", "cpu,cpuacct", "cpuacct,cpu", NULL };
    static const char *const memory[] = { "memory", NULL };
    static const char *const blkio[] = { "blkio", NULL };
    static const char *const pids[] = { "pids", NULL };
    static const char *const *const ctrls[KM_CG_NCTRL] = { cpu, cpuacct, memory, blkio, pids };
    char root[PATH_MAX], path[PATH_MAX], buf[512];
    long n;

    memset(fs, 0, sizeof(*fs));
    if (snprintf(root, sizeof(root), "%s/fs/cgroup", sys) >= (int)sizeof(root))
        return km_err_set(KM_ELIMIT, "%s: path too long", sys);
    n = km_path_join(path, sizeof(path), root, "cgroup.controllers") == 0
            ? km_read_small_file(path, buf, sizeof(buf))
            : -1;
    if (n >= 0 && (strstr(buf, "cpu") || strstr(buf, "memory"))) {
        fs->mode = KM_CG_V2;
        snprintf(fs->v2, sizeof(fs->v2), "%s", root);
        return 0;
    }
    for (int c = 0; c < KM_CG_NCTRL; c++)
        find_ctrl(root, ctrls[c], fs->v1[c]);
    if (fs->v1[KM_CG_MEMORY][0] || fs->v1[KM_CG_CPU][0] || fs->v1[KM_CG_CPUACCT][0]) {
        fs->mode = KM_CG_V1;
        if (km_path_join(path, sizeof(path), root, "unified/cgroup.procs") == 0 &&
            file_exists(path))
            km_path_join(fs->v2, sizeof(fs->v2), root, "unified");
        return 0;
    }
    if (n >= 0) {
        /* A unified hierarchy without controllers: usage from cpu.stat still works. */
        fs->mode = KM_CG_V2;
        snprintf(fs->v2, sizeof(fs->v2), "%s", root);
        return 0;
    }
    return km_err_set(KM_ENOTFOUND, "no cgroup filesystem under %s", root);
}

const char *km_cg_walk_root(const struct km_cg_fs *fs)
{
    if (fs->mode == KM_CG_V2)
        return fs->v2;
    if (fs->v1[KM_CG_MEMORY][0])
        return fs->v1[KM_CG_MEMORY];
    return fs->v1[KM_CG_CPU][0] ? fs->v1[KM_CG_CPU] : fs->v1[KM_CG_CPUACCT];
}

/* One cgroup being read: its path under each hierarchy root, and a directory
 * descriptor per root opened on first use, so each file is one openat() of a short name
 * rather than a walk down the whole path. */
#define CGDIR_ROOTS 8

struct cgdir {
    const char *path;
    const char *root[CGDIR_ROOTS];
    int fd[CGDIR_ROOTS];
    int n;
};

static int dir_fd(struct cgdir *d, const char *root)
{
    char path[PATH_MAX];
    int fd;

    for (int i = 0; i < d->n; i++) {
        if (d->root[i] == root)
            return d->fd[i];
    }
    if (snprintf(path, sizeof(path), "%s/%s", root, d->path) >= (int)sizeof(path))
        return -1;
    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d->n < CGDIR_ROOTS) {
        d->root[d->n] = root;
        d->fd[d->n++] = fd; /* a missing directory is remembered too (-1) */
    }
    return fd;
}

static void cgdir_close(struct cgdir *d)
{
    for (int i = 0; i < d->n; i++) {
        if (d->fd[i] >= 0)
            close(d->fd[i]);
    }
    d->n = 0;
}

/* Read <root>/<cgroup>/<file> into buf; its length, or -1 when absent or unreadable. */
static long read_file(const char *root, struct cgdir *rel, const char *file, char *buf, size_t cap)
{
    ssize_t n;
    size_t len = 0;
    int dfd, fd;

    if (!root[0] || (dfd = dir_fd(rel, root)) < 0)
        return -1;
    fd = openat(dfd, file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    while (len + 1 < cap) {
        n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return (long)len;
}

/* A single-number file into *v: true when it was there and valid ("max" is not); a
 * malformed one counts in *bad. */
static bool read_u64(const char *root, struct cgdir *rel, const char *file, char *buf, size_t cap,
                     uint64_t *v, int *bad)
{
    long n = read_file(root, rel, file, buf, cap);
    bool is_max;

    if (n < 0)
        return false;
    if (km_cg_parse_value(buf, (size_t)n, v, &is_max) == 0 && !is_max)
        return true;
    (*bad)++;
    return false;
}

static uint64_t sub0(uint64_t a, uint64_t b)
{
    return a > b ? a - b : 0;
}

/* The figures memory.stat gives (v: inactive file, active file, anon/rss, file/cache,
 * mapped file, in that order, both versions), with the kubelet's working set. */
static void mem_stat(const uint64_t *v, uint64_t found, struct km_cg_stats *st)
{
    if ((found & 31) != 31 || !(st->have & KM_CGS_MEM))
        return;
    st->have |= KM_CGS_MEM_STAT;
    st->working_set = sub0(st->mem_usage, v[0]);
    st->nonreclaimable = sub0(st->working_set, v[1]);
    st->rss = v[2];
    st->cache = v[3];
    st->mapped_file = v[4];
}

/* ---- v2 ------------------------------------------------------------------------------ */

static const char *const cpu_keys[] = { "usage_usec", "user_usec",    "system_usec",
                                        "nr_periods", "nr_throttled", "throttled_usec" };
static const char *const mem_keys_v2[] = { "inactive_file", "active_file", "anon", "file",
                                           "file_mapped" };
static const char *const events_keys[] = { "max", "oom_kill" };

static void add_io(void *ud, const struct km_cg_io *io)
{
    struct km_cg_stats *st = ud;

    for (unsigned i = 0; i < st->nio; i++) {
        struct km_cg_io *d = &st->io[i];

        if (d->major == io->major && d->minor == io->minor) {
            d->rbytes += io->rbytes;
            d->wbytes += io->wbytes;
            d->rios += io->rios;
            d->wios += io->wios;
            return;
        }
    }
    if (st->nio < KM_CG_MAX_DEVICES)
        st->io[st->nio++] = *io;
}

/* Pressure files: v2 always; v1 hosts from the hybrid unified hierarchy. */
static int read_psi(const char *root, struct cgdir *rel, char *buf, size_t cap,
                    struct km_cg_stats *st)
{
    static const char *const files[KM_PSI_N] = { "cpu.pressure", "memory.pressure", "io.pressure" };
    int bad = 0;

    for (int i = 0; i < KM_PSI_N; i++) {
        long n = read_file(root, rel, files[i], buf, cap);

        if (n < 0)
            continue;
        bad += km_parse_pressure(buf, (size_t)n, &st->psi[i]) > 0;
        st->have |= KM_CGS_PSI;
    }
    return bad;
}

static int read_v2(const struct km_cg_fs *fs, struct cgdir *rel, unsigned flags, char *buf,
                   size_t cap, struct km_cg_stats *st)
{
    uint64_t v[8], found;
    long n;
    int bad = 0;

    if ((n = read_file(fs->v2, rel, "cpu.stat", buf, cap)) >= 0) {
        bad += km_cg_parse_flat(buf, (size_t)n, cpu_keys, 6, v, &found) > 0;
        if (found & 1) {
            st->have |= KM_CGS_CPU;
            st->cpu_s = (double)v[0] / 1e6;
        }
        if ((found & 6) == 6) {
            st->have |= KM_CGS_CPU_SPLIT;
            st->user_s = (double)v[1] / 1e6;
            st->system_s = (double)v[2] / 1e6;
        }
        if ((found & 56) == 56) {
            st->have |= KM_CGS_CFS;
            st->periods = v[3];
            st->throttled = v[4];
            st->throttled_s = (double)v[5] / 1e6;
        }
    }
    if (read_u64(fs->v2, rel, "memory.current", buf, cap, &st->mem_usage, &bad))
        st->have |= KM_CGS_MEM;
    if ((n = read_file(fs->v2, rel, "memory.stat", buf, cap)) >= 0) {
        bad += km_cg_parse_flat(buf, (size_t)n, mem_keys_v2, 5, v, &found) > 0;
        mem_stat(v, found, st);
    }
    if (flags & KM_CG_NO_SWAP) {
        st->swap = 0;
        st->have |= KM_CGS_SWAP;
    } else if (read_u64(fs->v2, rel, "memory.swap.current", buf, cap, &st->swap, &bad)) {
        st->have |= KM_CGS_SWAP;
    }
    if ((n = read_file(fs->v2, rel, "memory.events", buf, cap)) >= 0) {
        bad += km_cg_parse_flat(buf, (size_t)n, events_keys, 2, v, &found) > 0;
        if (found & 1) {
            st->have |= KM_CGS_FAILCNT;
            st->failcnt = v[0];
        }
        if (found & 2) {
            st->have |= KM_CGS_OOM;
            st->oom_kill = v[1];
        }
    }
    if ((n = read_file(fs->v2, rel, "io.stat", buf, cap)) >= 0) {
        st->have |= KM_CGS_IO;
        bad += km_cg_parse_io_stat(buf, (size_t)n, add_io, st) > 0;
    }
    if (read_u64(fs->v2, rel, "pids.current", buf, cap, &st->pids, &bad))
        st->have |= KM_CGS_PIDS;
    return bad + read_psi(fs->v2, rel, buf, cap, st);
}

/* ---- v1 ------------------------------------------------------------------------------ */

static const char *const cpuacct_keys[] = { "user", "system" };
static const char *const cfs_keys_v1[] = { "nr_periods", "nr_throttled", "throttled_time" };
static const char *const mem_keys_v1[] = {
    "total_inactive_file", "total_active_file", "total_rss",
    "total_cache",         "total_mapped_file", "total_swap"
};

static int read_v1_cpu(const struct km_cg_fs *fs, struct cgdir *rel, char *buf, size_t cap,
                       struct km_cg_stats *st)
{
    const char *cpu = fs->v1[KM_CG_CPU], *acct = fs->v1[KM_CG_CPUACCT];
    uint64_t v[6], found, x;
    long n;
    int bad = 0;

    if ((n = read_file(acct, rel, "cpuacct.usage", buf, cap)) >= 0) {
        bool is_max;

        if (km_cg_parse_value(buf, (size_t)n, &x, &is_max) == 0 && !is_max) {
            st->have |= KM_CGS_CPU;
            st->cpu_s = (double)x / 1e9;
        } else {
            bad++;
        }
    }
    if ((n = read_file(acct, rel, "cpuacct.stat", buf, cap)) >= 0) {
        /* USER_HZ ticks; the kernel exports USER_HZ, which is 100 on every Linux ABI. */
        bad += km_cg_parse_flat(buf, (size_t)n, cpuacct_keys, 2, v, &found) > 0;
        if (found == 3) {
            st->have |= KM_CGS_CPU_SPLIT;
            st->user_s = (double)v[0] / 100.0;
            st->system_s = (double)v[1] / 100.0;
        }
    }
    if ((n = read_file(cpu, rel, "cpu.stat", buf, cap)) >= 0) {
        bad += km_cg_parse_flat(buf, (size_t)n, cfs_keys_v1, 3, v, &found) > 0;
        if (found == 7) {
            st->have |= KM_CGS_CFS;
            st->periods = v[0];
            st->throttled = v[1];
            st->throttled_s = (double)v[2] / 1e9;
        }
    }
    return bad;
}

static int read_v1_mem(const struct km_cg_fs *fs, struct cgdir *rel, char *buf, size_t cap,
                       struct km_cg_stats *st)
{
    const char *mem = fs->v1[KM_CG_MEMORY];
    uint64_t v[6], found;
    long n;
    int bad = 0;

    if (read_u64(mem, rel, "memory.usage_in_bytes", buf, cap, &st->mem_usage, &bad))
        st->have |= KM_CGS_MEM;
    if ((n = read_file(mem, rel, "memory.stat", buf, cap)) >= 0) {
        bad += km_cg_parse_flat(buf, (size_t)n, mem_keys_v1, 6, v, &found) > 0;
        mem_stat(v, found, st);
        if (found & 32) {
            st->have |= KM_CGS_SWAP;
            st->swap = v[5];
        }
    }
    if (read_u64(mem, rel, "memory.failcnt", buf, cap, &st->failcnt, &bad))
        st->have |= KM_CGS_FAILCNT;
    return bad;
}

static int read_v1(const struct km_cg_fs *fs, struct cgdir *rel, char *buf, size_t cap,
                   struct km_cg_stats *st)
{
    static const char *const bytes_files[] = { "blkio.throttle.io_service_bytes_recursive",
                                               "blkio.throttle.io_service_bytes" };
    static const char *const ops_files[] = { "blkio.throttle.io_serviced_recursive",
                                             "blkio.throttle.io_serviced" };
    const char *blkio = fs->v1[KM_CG_BLKIO];
    struct km_cg_stats ops = { 0 };
    long n;
    int bad = read_v1_cpu(fs, rel, buf, cap, st) + read_v1_mem(fs, rel, buf, cap, st);

    for (int i = 0; i < 2; i++) {
        if ((n = read_file(blkio, rel, bytes_files[i], buf, cap)) >= 0) {
            st->have |= KM_CGS_IO;
            bad += km_cg_parse_blkio(buf, (size_t)n, false, add_io, st) > 0;
            break;
        }
    }
    for (int i = 0; i < 2 && (st->have & KM_CGS_IO); i++) {
        if ((n = read_file(blkio, rel, ops_files[i], buf, cap)) >= 0) {
            bad += km_cg_parse_blkio(buf, (size_t)n, true, add_io, &ops) > 0;
            break;
        }
    }
    for (unsigned i = 0; i < ops.nio; i++)
        add_io(st, &ops.io[i]);
    if (read_u64(fs->v1[KM_CG_PIDS], rel, "pids.current", buf, cap, &st->pids, &bad))
        st->have |= KM_CGS_PIDS;
    if (fs->v2[0])
        bad += read_psi(fs->v2, rel, buf, cap, st);
    return bad;
}

/* The limits the kubelet set (they change only when a pod is resized). */
static int read_v2_spec(const struct km_cg_fs *fs, struct cgdir *rel, char *buf, size_t cap,
                        struct km_cg_stats *st)
{
    uint64_t x;
    bool is_max;
    long n;
    int bad = 0;

    if ((n = read_file(fs->v2, rel, "cpu.max", buf, cap)) >= 0) {
        bool q;

        if (km_cg_parse_cpu_max(buf, (size_t)n, &q, &st->quota_us, &st->period_us) == 0)
            st->have |= KM_CGS_PERIOD | (q ? KM_CGS_QUOTA : 0);
        else
            bad++;
    }
    if ((n = read_file(fs->v2, rel, "cpu.weight", buf, cap)) >= 0) {
        if (km_cg_parse_value(buf, (size_t)n, &x, &is_max) == 0 && !is_max && x >= 1 &&
            x <= 10000) {
            /* The kubelet's inverse: weight = 1 + ((shares - 2) * 9999) / 262142. */
            st->shares = 2 + ((x - 1) * 262142) / 9999;
            st->have |= KM_CGS_SHARES;
        } else {
            bad++;
        }
    }
    if ((n = read_file(fs->v2, rel, "memory.max", buf, cap)) >= 0) {
        if (km_cg_parse_value(buf, (size_t)n, &st->mem_limit, &is_max) == 0) {
            st->mem_limit = is_max ? 0 : st->mem_limit;
            st->have |= KM_CGS_MEM_LIMIT;
        } else {
            bad++;
        }
    }
    return bad;
}

static int read_v1_spec(const struct km_cg_fs *fs, struct cgdir *rel, char *buf, size_t cap,
                        struct km_cg_stats *st)
{
    const char *cpu = fs->v1[KM_CG_CPU], *mem = fs->v1[KM_CG_MEMORY];
    uint64_t x;
    int64_t q;
    bool is_max;
    long n;
    int bad = 0;

    if ((n = read_file(cpu, rel, "cpu.cfs_quota_us", buf, cap)) >= 0) {
        if (km_cg_parse_signed(buf, (size_t)n, &q) == 0) {
            if (q > 0) {
                st->quota_us = (uint64_t)q;
                st->have |= KM_CGS_QUOTA;
            }
        } else {
            bad++;
        }
    }
    if (read_u64(cpu, rel, "cpu.cfs_period_us", buf, cap, &st->period_us, &bad))
        st->have |= KM_CGS_PERIOD;
    if (read_u64(cpu, rel, "cpu.shares", buf, cap, &st->shares, &bad))
        st->have |= KM_CGS_SHARES;
    if ((n = read_file(mem, rel, "memory.limit_in_bytes", buf, cap)) >= 0) {
        if (km_cg_parse_value(buf, (size_t)n, &x, &is_max) == 0) {
            /* Unlimited is PAGE_COUNTER_MAX pages, just under 2^63 bytes. */
            st->mem_limit = is_max || x >= (UINT64_C(1) << 62) ? 0 : x;
            st->have |= KM_CGS_MEM_LIMIT;
        } else {
            bad++;
        }
    }
    return bad;
}

int km_cg_read(const struct km_cg_fs *fs, const char *rel, unsigned flags, char *buf, size_t cap,
               struct km_cg_stats *out)
{
    struct cgdir d = { .path = rel };
    struct stat sb;
    int bad = 0, dfd;

    memset(out, 0, sizeof(*out));
    dfd = dir_fd(&d, km_cg_walk_root(fs));
    if (dfd < 0)
        return 0; /* gone */
    if (fstat(dfd, &sb) == 0)
        out->created_s = (int64_t)sb.st_mtime;
    if (fs->mode == KM_CG_V2) {
        bad = read_v2(fs, &d, flags, buf, cap, out);
        if (!(flags & KM_CG_SKIP_SPEC))
            bad += read_v2_spec(fs, &d, buf, cap, out);
    } else if (fs->mode == KM_CG_V1) {
        bad = read_v1(fs, &d, buf, cap, out);
        if (!(flags & KM_CG_SKIP_SPEC))
            bad += read_v1_spec(fs, &d, buf, cap, out);
    }
    cgdir_close(&d);
    return bad;
}

long km_cg_first_pid(const struct km_cg_fs *fs, const char *rel, char *buf, size_t cap)
{
    struct cgdir d = { .path = rel };
    long n = read_file(km_cg_walk_root(fs), &d, "cgroup.procs", buf, cap);
    const char *p = buf;
    uint64_t pid;

    cgdir_close(&d);
    if (n <= 0 || !km_scan_u64(&p, buf + n, &pid) || pid == 0 || pid > 0x7fffffff)
        return 0;
    return (long)pid;
}
