/*
 * cgfs — the cgroup filesystems of a host and one cgroup's statistics read from them.
 *
 * Detection looks at <sys>/fs/cgroup itself (so a captured tree or a host's /sys
 * mounted at /host/sys work alike): cgroup v2 when its root lists controllers in
 * cgroup.controllers; v1 when controller directories are there ("cpu", "cpuacct" or a
 * combined "cpu,cpuacct", "memory", "blkio", "pids"), including hybrid hosts whose
 * unified hierarchy (<cgroup>/unified) has no controllers — it still gives the pressure
 * files, read from there when present. A cgroup is named by its path relative to the
 * hierarchy roots, the same in every v1 controller.
 *
 * Reading opens each file for the moment of the read: a cgroup that vanishes between
 * collections (or mid-read) simply yields what could be read, never an error.
 */
#ifndef KMON_AGENT_CGROUP_CGFS_H
#define KMON_AGENT_CGROUP_CGFS_H

#include "hostfs/cgparse.h"
#include "hostfs/procfs.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

enum km_cg_mode { KM_CG_NONE, KM_CG_V1, KM_CG_V2 };

enum km_cg_ctrl { KM_CG_CPU, KM_CG_CPUACCT, KM_CG_MEMORY, KM_CG_BLKIO, KM_CG_PIDS, KM_CG_NCTRL };

struct km_cg_fs {
    enum km_cg_mode mode;
    char v2[PATH_MAX];              /* the unified root (v2), a hybrid's unified, or "" */
    char v1[KM_CG_NCTRL][PATH_MAX]; /* v1 controller roots, "" when not mounted */
};

/* Find the cgroup filesystems under `sys` (e.g. "/sys"). KM_ENOTFOUND when there are
 * none, with a sentence. */
int km_cg_detect(const char *sys, struct km_cg_fs *fs);

/* Where to look for the kubelet's tree: the v2 root, or a v1 controller's. */
const char *km_cg_walk_root(const struct km_cg_fs *fs);

#define KM_CG_MAX_DEVICES 16

/* Bits of km_cg_stats.have. */
enum {
    KM_CGS_CPU = 1u << 0,        /* usage */
    KM_CGS_CPU_SPLIT = 1u << 1,  /* user, system */
    KM_CGS_CFS = 1u << 2,        /* periods, throttled, throttled_s */
    KM_CGS_MEM = 1u << 3,        /* usage */
    KM_CGS_MEM_STAT = 1u << 4,   /* working set and the memory.stat figures */
    KM_CGS_SWAP = 1u << 5,       /* swap */
    KM_CGS_FAILCNT = 1u << 6,    /* failcnt */
    KM_CGS_OOM = 1u << 7,        /* oom_kill (v2) */
    KM_CGS_QUOTA = 1u << 8,      /* a CPU quota is set */
    KM_CGS_PERIOD = 1u << 9,     /* period */
    KM_CGS_SHARES = 1u << 10,    /* shares */
    KM_CGS_MEM_LIMIT = 1u << 11, /* mem_limit (0: none) */
    KM_CGS_PIDS = 1u << 12,      /* pids */
    KM_CGS_IO = 1u << 13,        /* io[] */
    KM_CGS_PSI = 1u << 14,       /* psi[] */
};

enum { KM_PSI_CPU, KM_PSI_MEMORY, KM_PSI_IO, KM_PSI_N };

struct km_cg_stats {
    unsigned have;
    double cpu_s, user_s, system_s, throttled_s;
    uint64_t periods, throttled;
    uint64_t mem_usage, working_set, nonreclaimable, rss, cache, mapped_file, swap;
    uint64_t failcnt, oom_kill;
    uint64_t quota_us, period_us, shares, mem_limit;
    uint64_t pids;
    struct km_cg_io io[KM_CG_MAX_DEVICES];
    unsigned nio;
    struct km_pressure psi[KM_PSI_N];
    int64_t created_s; /* the cgroup directory's mtime, seconds since the epoch; 0 unknown */
};

/* Flags of km_cg_read. */
#define KM_CG_SKIP_SPEC 1u /* leave out the limits (quota, period, shares, memory limit) */
#define KM_CG_NO_SWAP   2u /* the node has no swap: v2 swap usage is 0 without reading it */

/* The bits of km_cg_stats.have that the limits fill. */
#define KM_CGS_SPEC (KM_CGS_QUOTA | KM_CGS_PERIOD | KM_CGS_SHARES | KM_CGS_MEM_LIMIT)

/* Read everything the files of cgroup `rel` offer into *out. `buf` is scratch of `cap`
 * bytes. Returns the number of files that were present but malformed (the caller counts
 * them); a missing cgroup gives out->have == 0. */
int km_cg_read(const struct km_cg_fs *fs, const char *rel, unsigned flags, char *buf, size_t cap,
               struct km_cg_stats *out);

/* The first process of cgroup `rel` (from cgroup.procs), or 0. */
long km_cg_first_pid(const struct km_cg_fs *fs, const char *rel, char *buf, size_t cap);

#endif
