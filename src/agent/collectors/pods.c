/*
 * pods — every pod and container on this node, measured from the kernel's cgroup
 * accounting with cAdvisor's metric names and semantics (so kubelet dashboards work):
 * container_cpu_*, container_memory_* (working set = usage − inactive_file, clamped at
 * 0, as the kubelet computes it), container_spec_*, container_fs_* per device,
 * container_processes, container_pressure_* (v2), container_start_time_seconds, and the
 * pod's network from a pod process's /proc/<pid>/net/dev. Pod totals carry
 * container="" and come from the pod's own cgroup (so the sandbox and CRI-O's conmon are
 * in them); the sandbox (pause) container has no series of its own.
 *
 * kmon_container_memory_nonreclaimable_bytes is the working set minus the active file
 * cache, which the kernel also reclaims before it OOM-kills: the kubelet's working set
 * overstates OOM risk for file-heavy workloads.
 *
 * Names, the controlling workload (workload_kind, workload), the QoS class and the
 * allowlisted pod labels (label_<key>) come from the Kubernetes API (kube/meta.h); a pod
 * the API does not know (yet), or every pod when the API cannot be reached, is named from
 * the kubelet's log layout (kube/logmeta.h). A pod nothing names is counted in
 * kmon_agent_pods_unnamed and left out rather than reported under a made-up name.
 *
 * The API's metadata is also published for the container logs' workload labels
 * (pods.h): a pointer under a lock, set at init and withdrawn at fini before the
 * metadata stops.
 */
#include "agent/collectors/pods.h"
#include "agent/cgroup/cgfs.h"
#include "agent/cgroup/kubepods.h"
#include "agent/collector.h"
#include "agent/kube/logmeta.h"
#include "agent/kube/meta.h"
#include "agent/logs/tailer.h"
#include "common/array.h"
#include "common/cfg.h"
#include "common/err.h"
#include "common/log.h"
#include "common/procfile.h"
#include "hostfs/procfs.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUF_CAP      (64 * 1024)
#define DEV_CACHE    64
#define MAX_EXCLUDED 64

enum {
    F_CPU,
    F_USER,
    F_SYS,
    F_PERIODS,
    F_THROTTLED,
    F_THROTTLED_S,
    F_MEM,
    F_WS,
    F_NONRECLAIM,
    F_RSS,
    F_CACHE,
    F_MAPPED,
    F_SWAP,
    F_FAILCNT,
    F_OOM,
    F_QUOTA,
    F_PERIOD,
    F_SHARES,
    F_LIMIT,
    F_FS_RB,
    F_FS_WB,
    F_FS_R,
    F_FS_W,
    F_PROCS,
    F_PSI, /* 6: cpu, memory, io × waiting, stalled */
    F_START = F_PSI + 6,
    F_NET, /* 8 */
    F_HOSTNET = F_NET + 8,
    F_PODS,
    F_CONTAINERS,
    F_UNNAMED,
    F_API_UP,
    F_API_PODS,
    F_API_EVENTS,
    F_API_FAILURES,
    F_API_RELISTS,
    F_COUNT
};

struct family {
    const char *name, *help;
    enum km_mtype type;
};

static const struct family families[F_COUNT] = {
    [F_CPU] = { "container_cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds.",
                KM_MT_COUNTER },
    [F_USER] = { "container_cpu_user_seconds_total",
                 "Cumulative user cpu time consumed in seconds.", KM_MT_COUNTER },
    [F_SYS] = { "container_cpu_system_seconds_total",
                "Cumulative system cpu time consumed in seconds.", KM_MT_COUNTER },
    [F_PERIODS] = { "container_cpu_cfs_periods_total",
                    "Number of elapsed enforcement period intervals.", KM_MT_COUNTER },
    [F_THROTTLED] = { "container_cpu_cfs_throttled_periods_total",
                      "Number of throttled period intervals.", KM_MT_COUNTER },
    [F_THROTTLED_S] = { "container_cpu_cfs_throttled_seconds_total",
                        "Total time duration the container has been throttled.", KM_MT_COUNTER },
    [F_MEM] = { "container_memory_usage_bytes",
                "Current memory usage in bytes, including all memory regardless of when it was "
                "accessed.",
                KM_MT_GAUGE },
    [F_WS] = { "container_memory_working_set_bytes",
               "Current working set in bytes (usage minus inactive file cache).", KM_MT_GAUGE },
    [F_NONRECLAIM] = { "kmon_container_memory_nonreclaimable_bytes",
                       "Working set minus the active file cache the kernel reclaims before an "
                       "OOM kill: the memory that really counts towards OOM risk.",
                       KM_MT_GAUGE },
    [F_RSS] = { "container_memory_rss", "Size of RSS in bytes.", KM_MT_GAUGE },
    [F_CACHE] = { "container_memory_cache", "Number of bytes of page cache memory.", KM_MT_GAUGE },
    [F_MAPPED] = { "container_memory_mapped_file", "Size of memory mapped files in bytes.",
                   KM_MT_GAUGE },
    [F_SWAP] = { "container_memory_swap", "Container swap usage in bytes.", KM_MT_GAUGE },
    [F_FAILCNT] = { "container_memory_failcnt",
                    "Number of memory usage hits limits (v2: memory.events max).", KM_MT_COUNTER },
    [F_OOM] = { "container_oom_events_total",
                "Count of out of memory events observed for the container (v2: oom_kill).",
                KM_MT_COUNTER },
    [F_QUOTA] = { "container_spec_cpu_quota", "CPU quota of the container.", KM_MT_GAUGE },
    [F_PERIOD] = { "container_spec_cpu_period", "CPU period of the container.", KM_MT_GAUGE },
    [F_SHARES] = { "container_spec_cpu_shares", "CPU share of the container.", KM_MT_GAUGE },
    [F_LIMIT] = { "container_spec_memory_limit_bytes", "Memory limit for the container (0: none).",
                  KM_MT_GAUGE },
    [F_FS_RB] = { "container_fs_reads_bytes_total", "Cumulative count of bytes read.",
                  KM_MT_COUNTER },
    [F_FS_WB] = { "container_fs_writes_bytes_total", "Cumulative count of bytes written.",
                  KM_MT_COUNTER },
    [F_FS_R] = { "container_fs_reads_total", "Cumulative count of reads completed.",
                 KM_MT_COUNTER },
    [F_FS_W] = { "container_fs_writes_total", "Cumulative count of writes completed.",
                 KM_MT_COUNTER },
    [F_PROCS] = { "container_processes", "Number of processes running inside the container.",
                  KM_MT_GAUGE },
    [F_PSI + 0] = { "container_pressure_cpu_waiting_seconds_total",
                    "Total time duration tasks in the container have waited due to CPU "
                    "congestion.",
                    KM_MT_COUNTER },
    [F_PSI + 1] = { "container_pressure_cpu_stalled_seconds_total",
                    "Total time duration no tasks in the container could make progress due to "
                    "CPU congestion.",
                    KM_MT_COUNTER },
    [F_PSI + 2] = { "container_pressure_memory_waiting_seconds_total",
                    "Total time duration tasks in the container have waited due to memory "
                    "congestion.",
                    KM_MT_COUNTER },
    [F_PSI + 3] = { "container_pressure_memory_stalled_seconds_total",
                    "Total time duration no tasks in the container could make progress due to "
                    "memory congestion.",
                    KM_MT_COUNTER },
    [F_PSI + 4] = { "container_pressure_io_waiting_seconds_total",
                    "Total time duration tasks in the container have waited due to IO "
                    "congestion.",
                    KM_MT_COUNTER },
    [F_PSI + 5] = { "container_pressure_io_stalled_seconds_total",
                    "Total time duration no tasks in the container could make progress due to "
                    "IO congestion.",
                    KM_MT_COUNTER },
    [F_START] = { "container_start_time_seconds",
                  "Start time of the container since unix epoch in seconds.", KM_MT_GAUGE },
    [F_NET + 0] = { "container_network_receive_bytes_total", "Cumulative count of bytes received.",
                    KM_MT_COUNTER },
    [F_NET + 1] = { "container_network_receive_packets_total",
                    "Cumulative count of packets received.", KM_MT_COUNTER },
    [F_NET + 2] = { "container_network_receive_errors_total",
                    "Cumulative count of errors encountered while receiving.", KM_MT_COUNTER },
    [F_NET + 3] = { "container_network_receive_packets_dropped_total",
                    "Cumulative count of packets dropped while receiving.", KM_MT_COUNTER },
    [F_NET + 4] = { "container_network_transmit_bytes_total",
                    "Cumulative count of bytes transmitted.", KM_MT_COUNTER },
    [F_NET + 5] = { "container_network_transmit_packets_total",
                    "Cumulative count of packets transmitted.", KM_MT_COUNTER },
    [F_NET + 6] = { "container_network_transmit_errors_total",
                    "Cumulative count of errors encountered while transmitting.", KM_MT_COUNTER },
    [F_NET + 7] = { "container_network_transmit_packets_dropped_total",
                    "Cumulative count of packets dropped while transmitting.", KM_MT_COUNTER },
    [F_HOSTNET] = { "kmon_pod_host_network",
                    "1 when the pod uses the node's network namespace (its traffic is the "
                    "node's, in node_network_*).",
                    KM_MT_GAUGE },
    [F_PODS] = { "kmon_agent_pods", "Pods found in the kubelet's cgroup tree.", KM_MT_GAUGE },
    [F_CONTAINERS] = { "kmon_agent_containers",
                       "Application containers reported (sandboxes and unnamed ones excluded).",
                       KM_MT_GAUGE },
    [F_UNNAMED] = { "kmon_agent_pods_unnamed",
                    "Pods or containers left out because nothing names them yet.", KM_MT_GAUGE },
    [F_API_UP] = { "kmon_agent_kubernetes_api_up",
                   "1 when the Kubernetes API answered the last list or watch; 0 while pods are "
                   "named from the kubelet's log layout.",
                   KM_MT_GAUGE },
    [F_API_PODS] = { "kmon_agent_kubernetes_pods",
                     "Pods of this node known from the API (deleted ones in their grace period "
                     "included).",
                     KM_MT_GAUGE },
    [F_API_EVENTS] = { "kmon_agent_kubernetes_watch_events_total", "Watch events received.",
                       KM_MT_COUNTER },
    [F_API_FAILURES] = { "kmon_agent_kubernetes_request_failures_total",
                         "List or watch requests that failed (each followed by a backoff).",
                         KM_MT_COUNTER },
    [F_API_RELISTS] = { "kmon_agent_kubernetes_relists_total",
                        "Relists because a resourceVersion expired (410 Gone).", KM_MT_COUNTER },
};

struct devname {
    unsigned major, minor;
    char name[64];
};

struct netcache {
    char uid[KM_POD_UID_MAX];
    long pid;
    char ns[64]; /* its network namespace ("net:[4026532…]"): a pod's never changes */
};

/* A cgroup's limits, re-read every SPEC_REFRESH collections (they change only when a
 * pod is resized): a third of the files of a collection on cgroup v2. */
#define SPEC_REFRESH 12

struct spec {
    char rel[KM_KUBE_REL_MAX];
    unsigned have, age;
    uint64_t quota_us, period_us, shares, mem_limit;
};

#define MAX_POD_LABELS 32
#define MAX_LABELS     (8 + MAX_POD_LABELS + 1)

struct pods_ctx {
    /* Settings. */
    char *exclude_namespaces; /* comma-separated */
    bool kubernetes;
    char *kubeconfig, *sa_dir, *pod_labels;
    int64_t grace_ms, watch_timeout_ms;
    char *allow[MAX_POD_LABELS];
    char allow_names[MAX_POD_LABELS][160]; /* label_<key>, sanitised */
    size_t nallow;
    struct km_kube_meta *meta;
    char *excl[MAX_EXCLUDED];
    size_t nexcl;
    char proc[PATH_MAX], sys[PATH_MAX], host_netns[64];
    char node[256]; /* the node label of every series (what shipping would add) */
    struct km_cg_fs fs;
    bool fs_ok;
    struct km_kpods kp;
    struct km_logmeta logs;
    char *buf;
    struct devname dev[DEV_CACHE];
    size_t ndev;
    struct netcache *net, *net_next;
    size_t nnet, nnet_next, capnet;
    struct spec *spec, *spec_next;
    size_t nspec, nspec_next, capspec;
    struct km_collect *c;
    int fam[F_COUNT];
    struct km_procfile meminfo;
    unsigned read_flags; /* KM_CG_NO_SWAP when the node has no swap */
    unsigned unnamed, containers;
    /* The series labels of the pod being reported: l[0] container, then its identity;
     * nl of them, and one more slot for device or interface. */
    struct km_label l[MAX_LABELS];
    size_t nl;
    const struct km_kube_pod *kpod; /* the API's pod being reported, or NULL */
};

static const struct km_cfg_field pods_cfg[] = {
    { .name = "exclude-namespaces",
      .type = KM_CFG_LIST,
      .offset = offsetof(struct pods_ctx, exclude_namespaces),
      .metavar = "NS,...",
      .help = "namespaces whose pods are not reported (the prototype left out kube-system "
              "and kube-public; default: none)" },
    { .name = "kubernetes",
      .type = KM_CFG_BOOL,
      .offset = offsetof(struct pods_ctx, kubernetes),
      .def = "true",
      .help = "name pods from the Kubernetes API (in-cluster, or --kubeconfig); "
              "--no-kubernetes uses the kubelet's log layout only" },
    { .name = "kubeconfig",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct pods_ctx, kubeconfig),
      .metavar = "FILE",
      .help = "reach the API with this kubeconfig's current context (default: in-cluster)" },
    { .name = "kubernetes-serviceaccount-dir",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct pods_ctx, sa_dir),
      .def = "/var/run/secrets/kubernetes.io/serviceaccount",
      .metavar = "DIR",
      .help = "the in-cluster token and ca.crt (the token is re-read when it rotates)" },
    { .name = "pod-labels",
      .type = KM_CFG_LIST,
      .offset = offsetof(struct pods_ctx, pod_labels),
      .metavar = "KEY,...",
      .help = "pod labels to copy onto pod and container series, as label_<key> "
              "(e.g. app,team)" },
    { .name = "pod-metadata-grace",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct pods_ctx, grace_ms),
      .def = "5m",
      .help = "how long a deleted pod's metadata is kept, so its last samples are named",
      .min = 0,
      .max = 86400000 },
    { .name = "kubernetes-watch-timeout",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct pods_ctx, watch_timeout_ms),
      .def = "5m",
      .help = "timeoutSeconds of each watch request (the watch resumes from its last version)",
      .min = 1000,
      .max = 3600000 },
    KM_CFG_FIELDS_END,
};

/* A Kubernetes label key as a Prometheus label name: label_<key> with every character
 * outside [a-zA-Z0-9_] made '_' (as kube-state-metrics does). */
static void label_name(const char *key, char *out, size_t size)
{
    size_t n = strlen(key) + 6;

    snprintf(out, size, "label_%s", key);
    if (n >= size)
        n = size - 1; /* truncated */
    for (size_t i = 6; i < n; i++) {
        char c = out[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            out[i] = '_';
    }
}

/* The metadata published for km_pods_workload (one agent per process). */
static pthread_mutex_t shared_mu = PTHREAD_MUTEX_INITIALIZER;
static struct km_kube_meta *shared_meta;

struct workload_out {
    char *kind, *name;
    int rc;
};

static void copy_workload(void *ud, const struct km_kube_pod *p)
{
    struct workload_out *w = ud;

    w->rc = p->workload_kind && *p->workload_kind && p->workload && *p->workload;
    if (w->rc) {
        snprintf(w->kind, KM_TAILER_WORKLOAD_MAX, "%s", p->workload_kind);
        snprintf(w->name, KM_TAILER_WORKLOAD_MAX, "%s", p->workload);
    }
}

int km_pods_workload(void *ud, const char *uid, char *kind, char *name)
{
    struct workload_out w = { kind, name, KM_ENOTFOUND };

    (void)ud;
    pthread_mutex_lock(&shared_mu);
    if (shared_meta && !km_kube_meta_with_pod(shared_meta, uid, copy_workload, &w))
        w.rc = KM_ENOTFOUND;
    pthread_mutex_unlock(&shared_mu);
    return w.rc;
}

/* The API's metadata, when there is a way to reach it; without, the log layout names. */
static void start_meta(struct pods_ctx *ctx, const struct km_host *host)
{
    struct km_kube_meta_opts o = {
        .node = host->node_name,
        .kubeconfig = ctx->kubeconfig,
        .sa_dir = ctx->sa_dir,
        .labels = (const char *const *)ctx->allow,
        .nlabels = ctx->nallow,
        .grace_ms = ctx->grace_ms,
        .watch_timeout_s = (long)(ctx->watch_timeout_ms / 1000),
    };
    int rc = km_kube_meta_start(&ctx->meta, &o);

    /* The first collection names pods from the API when it answers soon. */
    if (rc == 0) {
        km_kube_meta_wait_listed(ctx->meta, 3000);
        pthread_mutex_lock(&shared_mu);
        shared_meta = ctx->meta;
        pthread_mutex_unlock(&shared_mu);
    }
    if (rc == KM_ENOTFOUND && !ctx->kubeconfig)
        km_log_info("kubernetes",
                    "no Kubernetes API access: %s and no --kubeconfig; naming pods from the "
                    "kubelet's log layout",
                    km_err_msg());
    else if (rc)
        km_log_warn("kubernetes", "%s: naming pods from the kubelet's log layout", km_err_msg());
}

static int pods_init(void *vctx, const struct km_host *host)
{
    struct pods_ctx *ctx = vctx;
    char path[PATH_MAX + 32];
    ssize_t n;
    int rc;

    snprintf(ctx->proc, sizeof(ctx->proc), "%s", host->proc);
    snprintf(ctx->sys, sizeof(ctx->sys), "%s", host->sys);
    snprintf(ctx->node, sizeof(ctx->node), "%s", host->node_name ? host->node_name : "");
    if (ctx->exclude_namespaces)
        ctx->nexcl = km_cfg_split_list(ctx->exclude_namespaces, ctx->excl, MAX_EXCLUDED);
    if (ctx->pod_labels)
        ctx->nallow = km_cfg_split_list(ctx->pod_labels, ctx->allow, MAX_POD_LABELS);
    for (size_t i = 0; i < ctx->nallow; i++)
        label_name(ctx->allow[i], ctx->allow_names[i], sizeof(ctx->allow_names[i]));
    ctx->buf = malloc(BUF_CAP);
    if (!ctx->buf)
        return km_err_set(KM_ENOMEM, "out of memory");
    rc = km_cg_detect(host->sys, &ctx->fs);
    if (rc)
        return rc;
    ctx->fs_ok = true;
    km_logmeta_init(&ctx->logs, host->root);
    rc = km_procfile_init(&ctx->meminfo, host->proc, "meminfo");
    if (rc)
        return rc;
    snprintf(path, sizeof(path), "%s/%s/ns/net", host->proc, host->host_pid);
    n = readlink(path, ctx->host_netns, sizeof(ctx->host_netns) - 1);
    ctx->host_netns[n > 0 ? n : 0] = '\0';
    if (ctx->kubernetes)
        start_meta(ctx, host);
    return 0;
}

static bool excluded(const struct pods_ctx *ctx, const char *ns)
{
    for (size_t i = 0; i < ctx->nexcl; i++) {
        if (strcmp(ctx->excl[i], ns) == 0)
            return true;
    }
    return false;
}

/* "/dev/<name>" of a block device number, from /sys/dev/block/MAJ:MIN/uevent. */
static const char *dev_name(struct pods_ctx *ctx, unsigned major, unsigned minor)
{
    char path[PATH_MAX + 64], buf[1024], *p;
    struct devname *d;

    for (size_t i = 0; i < ctx->ndev; i++) {
        if (ctx->dev[i].major == major && ctx->dev[i].minor == minor)
            return ctx->dev[i].name;
    }
    if (ctx->ndev == DEV_CACHE)
        ctx->ndev = 0;
    d = &ctx->dev[ctx->ndev++];
    d->major = major;
    d->minor = minor;
    snprintf(d->name, sizeof(d->name), "%u:%u", major, minor);
    snprintf(path, sizeof(path), "%s/dev/block/%u:%u/uevent", ctx->sys, major, minor);
    if (km_read_small_file(path, buf, sizeof(buf)) > 0 && (p = strstr(buf, "DEVNAME=")) &&
        (p == buf || p[-1] == '\n')) {
        p += 8;
        p[strcspn(p, "\n")] = '\0';
        if (*p && strlen(p) < sizeof(d->name) - 5)
            snprintf(d->name, sizeof(d->name), "/dev/%s", p);
    }
    return d->name;
}

/* A sample with the current labels (and, with `extra`, the device or interface). */
static void add(struct pods_ctx *ctx, int f, bool extra, double v)
{
    km_mset_add(ctx->c->out, ctx->fam[f], ctx->l, ctx->nl + extra, v);
}

/* Every series of one cgroup's statistics, with the labels in ctx->l[0..nl). */
static void emit_stats(struct pods_ctx *ctx, const struct km_cg_stats *st)
{
    unsigned h = st->have;

    if (h & KM_CGS_CPU)
        add(ctx, F_CPU, false, st->cpu_s);
    if (h & KM_CGS_CPU_SPLIT) {
        add(ctx, F_USER, false, st->user_s);
        add(ctx, F_SYS, false, st->system_s);
    }
    if (h & KM_CGS_CFS) {
        add(ctx, F_PERIODS, false, (double)st->periods);
        add(ctx, F_THROTTLED, false, (double)st->throttled);
        add(ctx, F_THROTTLED_S, false, st->throttled_s);
    }
    if (h & KM_CGS_MEM)
        add(ctx, F_MEM, false, (double)st->mem_usage);
    if (h & KM_CGS_MEM_STAT) {
        add(ctx, F_WS, false, (double)st->working_set);
        add(ctx, F_NONRECLAIM, false, (double)st->nonreclaimable);
        add(ctx, F_RSS, false, (double)st->rss);
        add(ctx, F_CACHE, false, (double)st->cache);
        add(ctx, F_MAPPED, false, (double)st->mapped_file);
    }
    if (h & KM_CGS_SWAP)
        add(ctx, F_SWAP, false, (double)st->swap);
    if (h & KM_CGS_FAILCNT)
        add(ctx, F_FAILCNT, false, (double)st->failcnt);
    if (h & KM_CGS_OOM)
        add(ctx, F_OOM, false, (double)st->oom_kill);
    if (h & KM_CGS_QUOTA)
        add(ctx, F_QUOTA, false, (double)st->quota_us);
    if (h & KM_CGS_PERIOD)
        add(ctx, F_PERIOD, false, (double)st->period_us);
    if (h & KM_CGS_SHARES)
        add(ctx, F_SHARES, false, (double)st->shares);
    if (h & KM_CGS_MEM_LIMIT)
        add(ctx, F_LIMIT, false, (double)st->mem_limit);
    for (unsigned i = 0; (h & KM_CGS_IO) && i < st->nio; i++) {
        const struct km_cg_io *io = &st->io[i];

        ctx->l[ctx->nl] = (struct km_label){ "device", dev_name(ctx, io->major, io->minor) };
        add(ctx, F_FS_RB, true, (double)io->rbytes);
        add(ctx, F_FS_WB, true, (double)io->wbytes);
        add(ctx, F_FS_R, true, (double)io->rios);
        add(ctx, F_FS_W, true, (double)io->wios);
    }
    if (h & KM_CGS_PIDS)
        add(ctx, F_PROCS, false, (double)st->pids);
    for (int i = 0; (h & KM_CGS_PSI) && i < KM_PSI_N; i++) {
        if (st->psi[i].some.present)
            add(ctx, F_PSI + 2 * i, false, (double)st->psi[i].some.total_us / 1e6);
        if (st->psi[i].full.present)
            add(ctx, F_PSI + 2 * i + 1, false, (double)st->psi[i].full.total_us / 1e6);
    }
    if (st->created_s > 0)
        add(ctx, F_START, false, (double)st->created_s);
}

/* The process's command name is "pause": the pod's sandbox. */
static bool is_pause(struct pods_ctx *ctx, long pid)
{
    char path[PATH_MAX + 32], comm[64];

    snprintf(path, sizeof(path), "%s/%ld/comm", ctx->proc, pid);
    return km_read_small_file(path, comm, sizeof(comm)) > 0 && strcmp(comm, "pause") == 0;
}

static void on_netdev(void *ud, const struct km_netdev *d)
{
    struct pods_ctx *ctx = ud;

    if (strcmp(d->name, "lo") == 0)
        return;
    ctx->l[ctx->nl] = (struct km_label){ "interface", d->name };
    /* bytes, packets, errs, drop for receive (0..3) and transmit (8..11) */
    for (int k = 0; k < 4; k++) {
        add(ctx, F_NET + k, true, (double)d->v[k]);
        add(ctx, F_NET + 4 + k, true, (double)d->v[8 + k]);
    }
}

/* The pod's network: /proc/<pid>/net/dev of one of its processes, unless it shares
 * the node's network namespace. The process is remembered from collection to
 * collection and chosen again when it is gone. */
static void pod_network(struct pods_ctx *ctx, const struct km_kpod *p)
{
    char path[PATH_MAX + 64], ns[64] = "";
    const char *known_ns = NULL;
    long pid = 0;
    ssize_t n;

    if (ctx->kpod && ctx->kpod->m->host_network) {
        add(ctx, F_HOSTNET, false, 1);
        return;
    }
    for (size_t i = 0; i < ctx->nnet; i++) {
        if (strcmp(ctx->net[i].uid, p->uid) == 0) {
            pid = ctx->net[i].pid;
            known_ns = ctx->net[i].ns;
            break;
        }
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        long len;

        if (pid == 0) {
            for (size_t k = 0; k < p->n && pid == 0; k++)
                pid = km_cg_first_pid(&ctx->fs, ctx->kp.c[p->first + k].rel, ctx->buf, BUF_CAP);
            if (pid == 0)
                return; /* no process (yet): nothing to read */
        }
        snprintf(path, sizeof(path), "%s/%ld/ns/net", ctx->proc, pid);
        n = readlink(path, ns, sizeof(ns) - 1);
        if (n <= 0) {
            pid = 0;
            continue;
        }
        ns[n] = '\0';
        if (known_ns && strcmp(ns, known_ns) != 0) {
            /* The remembered process is gone and its pid now names another. */
            pid = 0;
            known_ns = NULL;
            continue;
        }
        if (ctx->host_netns[0] && strcmp(ns, ctx->host_netns) == 0) {
            add(ctx, F_HOSTNET, false, 1);
            break;
        }
        snprintf(path, sizeof(path), "%s/%ld/net/dev", ctx->proc, pid);
        len = km_read_small_file(path, ctx->buf, BUF_CAP);
        if (len < 0) {
            pid = 0;
            continue;
        }
        add(ctx, F_HOSTNET, false, 0);
        km_collect_malformed(ctx->c, km_parse_netdev(ctx->buf, (size_t)len, on_netdev, ctx),
                             "a pod's net/dev");
        break;
    }
    if (pid && ctx->nnet_next < ctx->capnet) {
        struct netcache *e = &ctx->net_next[ctx->nnet_next++];

        memcpy(e->uid, p->uid, sizeof(e->uid));
        e->pid = pid;
        memcpy(e->ns, ns, sizeof(e->ns));
    }
}

/* Room for n entries in both halves of a double-buffered array (this collection's and
 * the next's), which share one capacity. */
static int reserve_pair(void **cur, void **next, size_t *cap, size_t n, size_t elem)
{
    size_t c = *cap;
    int rc = km_array_grow(cur, &c, n, elem, 64, "keeping pod state");

    c = *cap;
    if (rc == 0)
        rc = km_array_grow(next, &c, n, elem, 64, "keeping pod state");
    if (rc == 0)
        *cap = c;
    return rc;
}

static const struct spec *find_spec(const struct pods_ctx *ctx, const char *rel)
{
    size_t hint = ctx->nspec_next; /* cgroups come in the same order scan after scan */

    if (hint < ctx->nspec && strcmp(ctx->spec[hint].rel, rel) == 0)
        return &ctx->spec[hint];
    for (size_t i = 0; i < ctx->nspec; i++) {
        if (strcmp(ctx->spec[i].rel, rel) == 0)
            return &ctx->spec[i];
    }
    return NULL;
}

/* Read a cgroup, its limits from the cache while they are fresh enough. */
static void read_cgroup(struct pods_ctx *ctx, const char *rel, struct km_cg_stats *st,
                        const char *what)
{
    const struct spec *old = find_spec(ctx, rel);
    bool fresh = !old || old->age >= SPEC_REFRESH;
    struct spec *e;

    km_collect_malformed(ctx->c,
                         km_cg_read(&ctx->fs, rel, ctx->read_flags | (fresh ? 0 : KM_CG_SKIP_SPEC),
                                    ctx->buf, BUF_CAP, st),
                         what);
    if (!st->have)
        return; /* gone */
    if (!fresh) {
        st->have |= old->have;
        st->quota_us = old->quota_us;
        st->period_us = old->period_us;
        st->shares = old->shares;
        st->mem_limit = old->mem_limit;
    }
    if (ctx->nspec_next == ctx->capspec)
        return;
    e = &ctx->spec_next[ctx->nspec_next++];
    snprintf(e->rel, sizeof(e->rel), "%s", rel);
    e->have = st->have & KM_CGS_SPEC;
    e->age = fresh ? 1 : old->age + 1;
    e->quota_us = st->quota_us;
    e->period_us = st->period_us;
    e->shares = st->shares;
    e->mem_limit = st->mem_limit;
}

/* The labels every series of a pod carries, after l[0] (container): node among them,
 * so /metrics and --once show it as the shipped series have it (shipping adds node
 * only to series without one). */
static void set_pod_labels(struct pods_ctx *ctx, const struct km_kpod *p, const char *ns,
                           const char *name)
{
    const struct km_kube_pod *kp = ctx->kpod;
    size_t n = 1;

    ctx->l[n++] = (struct km_label){ "namespace", ns };
    ctx->l[n++] = (struct km_label){ "pod", name };
    ctx->l[n++] = (struct km_label){ "pod_uid", p->uid };
    if (ctx->node[0])
        ctx->l[n++] = (struct km_label){ "node", ctx->node };
    if (p->qos != KM_QOS_NONE)
        ctx->l[n++] = (struct km_label){ "qos_class", km_qos_name(p->qos) };
    if (kp && kp->workload_kind && kp->workload) {
        ctx->l[n++] = (struct km_label){ "workload_kind", kp->workload_kind };
        ctx->l[n++] = (struct km_label){ "workload", kp->workload };
    }
    for (size_t i = 0; kp && i < kp->m->nlabels; i++) {
        for (size_t k = 0; k < ctx->nallow; k++) {
            if (strcmp(kp->m->labels[i].name, ctx->allow[k]) == 0 && n < MAX_LABELS - 1)
                ctx->l[n++] = (struct km_label){ ctx->allow_names[k], kp->m->labels[i].value };
        }
    }
    ctx->nl = n;
}

static void report_pod(struct pods_ctx *ctx, const struct km_kpod *p, const char *ns,
                       const char *name)
{
    struct km_cg_stats st;

    if (excluded(ctx, ns))
        return;
    ctx->l[0] = (struct km_label){ "container", "" };
    set_pod_labels(ctx, p, ns, name);
    read_cgroup(ctx, p->rel, &st, "a pod's cgroup files");
    if (ctx->kpod && ctx->kpod->m->started_s)
        st.created_s = ctx->kpod->m->started_s;
    if (st.have)
        emit_stats(ctx, &st);
    pod_network(ctx, p);
    for (size_t k = 0; k < p->n; k++) {
        const struct km_kcontainer *c = &ctx->kp.c[p->first + k];
        const struct km_pod_container *kc =
            ctx->kpod ? km_pod_meta_container(ctx->kpod->m, c->id) : NULL;
        const char *cname = kc ? kc->name : NULL;
        long pid;

        if (!cname)
            cname = km_logmeta_container(&ctx->logs, c->id);
        if (!cname) {
            pid = km_cg_first_pid(&ctx->fs, c->rel, ctx->buf, BUF_CAP);
            if (pid == 0 || !is_pause(ctx, pid))
                ctx->unnamed++;
            continue; /* the sandbox, or a container too new to be named */
        }
        read_cgroup(ctx, c->rel, &st, "a container's cgroup files");
        if (!st.have)
            continue; /* gone since the scan */
        ctx->l[0] = (struct km_label){ "container", cname };
        if (kc && kc->started_s)
            st.created_s = kc->started_s; /* the runtime's start, not the cgroup's */
        emit_stats(ctx, &st);
        ctx->containers++;
    }
}

struct api_report {
    struct pods_ctx *ctx;
    const struct km_kpod *p;
};

static void report_api_pod(void *ud, const struct km_kube_pod *kp)
{
    struct api_report *r = ud;

    r->ctx->kpod = kp;
    report_pod(r->ctx, r->p, kp->m->ns, kp->m->name);
    r->ctx->kpod = NULL;
}

static void collect_pod(struct pods_ctx *ctx, const struct km_kpod *p)
{
    struct api_report r = { ctx, p };
    const struct km_log_pod *named;

    if (ctx->meta && km_kube_meta_with_pod(ctx->meta, p->uid, report_api_pod, &r))
        return;
    named = km_logmeta_pod(&ctx->logs, p->uid);
    if (named)
        report_pod(ctx, p, named->ns, named->name);
    else
        ctx->unnamed++;
}

static void on_meminfo(void *ud, const char *key, size_t keylen, uint64_t value, bool has_unit)
{
    bool *no_swap = ud;

    (void)has_unit;
    if (keylen == 9 && memcmp(key, "SwapTotal", 9) == 0)
        *no_swap = value == 0;
}

/* A node without swap (the kubelet's usual setting) has no swap usage in any cgroup:
 * one read of /proc/meminfo saves one file per cgroup. */
static void check_swap(struct pods_ctx *ctx)
{
    const char *data;
    size_t len;
    bool no_swap = false;

    if (km_procfile_read(&ctx->meminfo, &data, &len) == 0)
        km_parse_meminfo(data, len, on_meminfo, &no_swap);
    ctx->read_flags = no_swap ? KM_CG_NO_SWAP : 0;
}

static void pods_collect(void *vctx, struct km_collect *c)
{
    struct pods_ctx *ctx = vctx;
    struct netcache *t;
    int rc;

    if (!ctx->fs_ok)
        return;
    ctx->c = c;
    ctx->unnamed = ctx->containers = 0;
    for (int f = 0; f < F_COUNT; f++)
        ctx->fam[f] =
            km_mset_family(c->out, families[f].name, families[f].help, families[f].type, 0);
    check_swap(ctx);
    rc = km_kpods_scan(km_cg_walk_root(&ctx->fs), &ctx->kp);
    if (rc == 0)
        rc = km_logmeta_refresh(&ctx->logs);
    if (rc == 0)
        rc = reserve_pair((void **)&ctx->net, (void **)&ctx->net_next, &ctx->capnet, ctx->kp.npod,
                          sizeof(*ctx->net));
    if (rc == 0)
        rc = reserve_pair((void **)&ctx->spec, (void **)&ctx->spec_next, &ctx->capspec,
                          ctx->kp.npod + ctx->kp.nc, sizeof(*ctx->spec));
    if (rc) {
        km_collect_error(c, "%s", km_err_msg());
        return;
    }
    ctx->nnet_next = ctx->nspec_next = 0;
    for (size_t i = 0; i < ctx->kp.npod; i++)
        collect_pod(ctx, &ctx->kp.pod[i]);
    {
        struct spec *sp = ctx->spec;

        ctx->spec = ctx->spec_next;
        ctx->spec_next = sp;
        ctx->nspec = ctx->nspec_next;
    }
    /* The processes of pods still there, for the next collection. */
    t = ctx->net;
    ctx->net = ctx->net_next;
    ctx->net_next = t;
    ctx->nnet = ctx->nnet_next;
    km_mset_add(c->out, ctx->fam[F_PODS], NULL, 0, (double)ctx->kp.npod);
    km_mset_add(c->out, ctx->fam[F_CONTAINERS], NULL, 0, (double)ctx->containers);
    km_mset_add(c->out, ctx->fam[F_UNNAMED], NULL, 0, (double)ctx->unnamed);
    if (ctx->kubernetes) {
        struct km_kube_meta_stats ks = { 0 };

        if (ctx->meta)
            km_kube_meta_stats(ctx->meta, &ks);
        km_mset_add(c->out, ctx->fam[F_API_UP], NULL, 0, ks.up ? 1 : 0);
        km_mset_add(c->out, ctx->fam[F_API_PODS], NULL, 0, (double)ks.pods);
        km_mset_add(c->out, ctx->fam[F_API_EVENTS], NULL, 0, (double)ks.events);
        km_mset_add(c->out, ctx->fam[F_API_FAILURES], NULL, 0, (double)ks.failures);
        km_mset_add(c->out, ctx->fam[F_API_RELISTS], NULL, 0, (double)ks.relists_gone);
    }
}

static void pods_fini(void *vctx)
{
    struct pods_ctx *ctx = vctx;

    pthread_mutex_lock(&shared_mu);
    if (shared_meta == ctx->meta)
        shared_meta = NULL; /* no lookup runs past this */
    pthread_mutex_unlock(&shared_mu);
    km_kube_meta_stop(ctx->meta);
    km_kpods_fini(&ctx->kp);
    km_procfile_fini(&ctx->meminfo);
    km_logmeta_fini(&ctx->logs);
    free(ctx->net);
    free(ctx->net_next);
    free(ctx->spec);
    free(ctx->spec_next);
    free(ctx->buf);
}

const struct km_collector_ops km_collector_pods = {
    .version = KM_COLLECTOR_OPS_V1,
    .name = "pods",
    .help = "pods and containers from cgroups v1/v2 (cAdvisor names), pod network",
    .cfg = pods_cfg,
    .ctx_size = sizeof(struct pods_ctx),
    .init = pods_init,
    .collect = pods_collect,
    .fini = pods_fini,
};
