/*
 * collector — the type every metric source of the agent implements, and what a
 * collection hands it.
 *
 * A collector is a versioned ops table (declared with designated initialisers, one per
 * file under collectors/) plus a context of ops->ctx_size bytes that holds all its
 * state: open files, previous readings, compiled filters. Its settings are fields of
 * ops->cfg pointing into that context, so `kmon agent --help` lists them and flags,
 * KMON_* variables and the YAML file fill them before init() runs.
 *
 * Threads: init, collect and fini run on the agent's collection thread, never
 * concurrently for one collector. collect() writes into a km_mset that the agent
 * publishes afterwards; it must not keep pointers into it.
 */
#ifndef KMON_AGENT_COLLECTOR_H
#define KMON_AGENT_COLLECTOR_H

#include "common/buf.h"
#include "common/cfg.h"
#include "common/mset.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KM_COLLECTOR_OPS_V1 1u

/* Where the host's files are: "/proc", "/sys", "/" on the host itself; "/host/proc",
 * "/host/sys", "/host/root" in a container that mounts them. */
struct km_host {
    const char *proc;
    const char *sys;
    const char *root;
    const char *node_name;
    /* The process whose view of per-process files (net/dev, mountinfo) is the host's:
     * "self" when reading our own /proc, "1" (the host's init) through a mounted one. */
    const char *host_pid;
};

/* The prototype's node shape, filled by the collectors that know each part. Totals are
 * cumulative counters; the agent turns them into per-interval figures. */
struct km_node_summary {
    bool has_cpu, has_memory, has_disk, has_net, has_uptime;
    double cpu_millicores; /* cores in use × 1000 over the last interval */
    double memory_bytes;   /* MemTotal − MemAvailable */
    double memory_total_bytes;
    uint64_t disk_read_bytes, disk_written_bytes; /* summed over reported disks */
    uint64_t net_recv_bytes, net_sent_bytes;      /* summed over physical interfaces */
    double uptime_seconds;
};

struct km_collector_state;

/* What one collect() call gets. */
struct km_collect {
    struct km_mset *out;
    struct km_node_summary *summary;
    int64_t now_ms;                   /* wall clock at the start of the collection */
    struct km_collector_state *state; /* for km_collect_error() */
    /* When the agent ships: hand a part of the collection to shipping at once instead of
     * keeping it in `out` (a collection too large to be held whole: the cluster state).
     * NULL when the agent does not ship. */
    int (*ship)(void *ud, const struct km_mset *part);
    void *ship_ud;
};

/* Count a skipped file, line or metric against this collector
 * (kmon_agent_collect_errors_total{collector}) and log it at debug level the first time
 * this message is seen. Never stops the collection. */
void km_collect_error(struct km_collect *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Count `n` malformed lines of `what` (a parser's return value); no-op for 0. */
void km_collect_malformed(struct km_collect *c, int n, const char *what);

struct km_collector_ops {
    unsigned version;               /* KM_COLLECTOR_OPS_V1 */
    const char *name;               /* "stat": label value and --disable-collectors name */
    const char *help;               /* what it reports, for --help */
    const struct km_cfg_field *cfg; /* settings inside ctx, or NULL */
    size_t ctx_size;
    /* Open files, compile filters. A failure disables the collector with a warning. */
    int (*init)(void *ctx, const struct km_host *host);
    void (*collect)(void *ctx, struct km_collect *c);
    /* Release everything; must accept a context whose init failed half-way. */
    void (*fini)(void *ctx);
    /* Optional: series not kept in the collection, rendered for /metrics on demand in
     * steps (view_step: 1 while more follows, 0 at the end, a negative code on error),
     * after the collection's own. */
    int (*view_begin)(void *ctx, void **view);
    int (*view_step)(void *view, struct km_buf *b);
    void (*view_end)(void *view);
};

/* The node collectors, in the order their families are rendered. NULL-terminated. */
extern const struct km_collector_ops *const km_node_collectors[];

/* `kmon agent --mode cluster`: the cluster-state collector only. NULL-terminated. */
extern const struct km_collector_ops *const km_cluster_collectors[];

#endif
