/*
 * series — a simulated node's agent series: node_* and the pods' container_* (see
 * series.h). The families, their label names and which series exist follow the agent's
 * collectors (stat.c, meminfo.c, diskstats.c, netdev.c, netclass.c, filesystem.c,
 * loadavg.c, pressure.c, filefd.c, uname.c, time.c, pods.c) on a cgroup v2 node without
 * swap; tests/runtime/test_simulate.py compares them with a real agent's.
 */
#include "sim/series.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define NCPU      8
#define MEM_TOTAL (32.0 * 1073741824.0)

double km_sim_counter(uint64_t key, double rate, int64_t start_s, double now_s)
{
    double dt = now_s - (double)start_s, period = 600.0 + 3000.0 * km_sim_unit(key ^ 0x51);
    double w = 2.0 * M_PI / period, phi = 2.0 * M_PI * km_sim_unit(key ^ 0x52), a = 0.6;

    if (dt <= 0)
        return 0;
    /* ∫ rate·(1 + a·sin(w·t + φ)) dt from 0 to dt: never decreasing since a < 1. */
    return rate * (dt + a / w * (cos(phi) - cos(w * dt + phi)));
}

/* A gauge around `level`: a slow wave and a little noise of the round. */
static double gauge(uint64_t key, double level, double now_s)
{
    double period = 900.0 + 5000.0 * km_sim_unit(key ^ 0x61);
    double wave = 0.15 * sin(2.0 * M_PI * now_s / period + 6.28 * km_sim_unit(key ^ 0x62));
    double noise = 0.04 * (km_sim_unit(key ^ (uint64_t)(now_s / 5)) - 0.5);

    return level * (1.0 + wave + noise);
}

static uint64_t k2(uint64_t key, uint64_t salt)
{
    return km_sim_mix(key ^ (salt * 0x9e3779b97f4a7c15ull));
}

/* The set being filled and its families by name pointer (every name is a constant), so
 * each family is declared once per set. */
#define FAM_SLOTS 512

struct out {
    struct km_mset *m;
    const char *key[FAM_SLOTS];
    int idx[FAM_SLOTS];
};

static int fam(struct out *o, const char *name, enum km_mtype t)
{
    size_t h = ((uintptr_t)name >> 3) % FAM_SLOTS;

    while (o->key[h] && o->key[h] != name)
        h = (h + 1) % FAM_SLOTS;
    if (!o->key[h]) {
        o->key[h] = name;
        o->idx[h] = km_mset_family(o->m, name, "", t, 0);
    }
    return o->idx[h];
}

/* ---- the node ----------------------------------------------------------------------- */

static const char *const cpu_modes[] = { "user",   "nice", "system",  "idle",
                                         "iowait", "irq",  "softirq", "steal" };
static const double cpu_share[] = { 0.25, 0.01, 0.08, 0.62, 0.01, 0.0, 0.02, 0.01 };

static const char *const meminfo_fam[] = {
    "node_memory_Active_anon_bytes",    "node_memory_Active_bytes",
    "node_memory_Active_file_bytes",    "node_memory_AnonHugePages_bytes",
    "node_memory_AnonPages_bytes",      "node_memory_Balloon_bytes",
    "node_memory_Bounce_bytes",         "node_memory_Buffers_bytes",
    "node_memory_Cached_bytes",         "node_memory_CommitLimit_bytes",
    "node_memory_Committed_AS_bytes",   "node_memory_DirectMap1G_bytes",
    "node_memory_DirectMap2M_bytes",    "node_memory_DirectMap4k_bytes",
    "node_memory_Dirty_bytes",          "node_memory_FileHugePages_bytes",
    "node_memory_FilePmdMapped_bytes",  "node_memory_Hugepagesize_bytes",
    "node_memory_Hugetlb_bytes",        "node_memory_Inactive_anon_bytes",
    "node_memory_Inactive_bytes",       "node_memory_Inactive_file_bytes",
    "node_memory_KReclaimable_bytes",   "node_memory_KernelStack_bytes",
    "node_memory_Mapped_bytes",         "node_memory_MemAvailable_bytes",
    "node_memory_MemFree_bytes",        "node_memory_MemTotal_bytes",
    "node_memory_Mlocked_bytes",        "node_memory_NFS_Unstable_bytes",
    "node_memory_PageTables_bytes",     "node_memory_Percpu_bytes",
    "node_memory_SReclaimable_bytes",   "node_memory_SUnreclaim_bytes",
    "node_memory_SecPageTables_bytes",  "node_memory_ShmemHugePages_bytes",
    "node_memory_ShmemPmdMapped_bytes", "node_memory_Shmem_bytes",
    "node_memory_Slab_bytes",           "node_memory_SwapCached_bytes",
    "node_memory_SwapFree_bytes",       "node_memory_SwapTotal_bytes",
    "node_memory_Unevictable_bytes",    "node_memory_VmallocChunk_bytes",
    "node_memory_VmallocTotal_bytes",   "node_memory_VmallocUsed_bytes",
    "node_memory_WritebackTmp_bytes",   "node_memory_Writeback_bytes",
    "node_memory_Zswap_bytes",          "node_memory_Zswapped_bytes",
};
static const char *const hugepages[] = { "node_memory_HugePages_Free", "node_memory_HugePages_Rsvd",
                                         "node_memory_HugePages_Surp",
                                         "node_memory_HugePages_Total" };

static const char *const disk_ctr[] = {
    "node_disk_discard_time_seconds_total",
    "node_disk_discarded_sectors_total",
    "node_disk_discards_completed_total",
    "node_disk_discards_merged_total",
    "node_disk_flush_requests_time_seconds_total",
    "node_disk_flush_requests_total",
    "node_disk_io_time_seconds_total",
    "node_disk_io_time_weighted_seconds_total",
    "node_disk_read_bytes_total",
    "node_disk_read_time_seconds_total",
    "node_disk_reads_completed_total",
    "node_disk_reads_merged_total",
    "node_disk_write_time_seconds_total",
    "node_disk_writes_completed_total",
    "node_disk_writes_merged_total",
    "node_disk_written_bytes_total",
};
static const double disk_rate[] = { 0.001, 20,   2,  0.1, 0.01, 3,  0.2, 0.5,
                                    200e3, 0.05, 10, 2,   0.3,  60, 20,  2e6 };

static const char *const net_ctr[] = {
    "node_network_receive_bytes_total",     "node_network_receive_compressed_total",
    "node_network_receive_drop_total",      "node_network_receive_errs_total",
    "node_network_receive_fifo_total",      "node_network_receive_frame_total",
    "node_network_receive_multicast_total", "node_network_receive_packets_total",
    "node_network_transmit_bytes_total",    "node_network_transmit_carrier_total",
    "node_network_transmit_colls_total",    "node_network_transmit_compressed_total",
    "node_network_transmit_drop_total",     "node_network_transmit_errs_total",
    "node_network_transmit_fifo_total",     "node_network_transmit_packets_total",
};
static const double net_rate[] = { 5e6, 0, 0.01, 0, 0, 0, 0.1, 4e3, 4e6, 0, 0, 0, 0, 0, 0, 3.5e3 };

static const char *const fs_gauge[] = {
    "node_filesystem_avail_bytes", "node_filesystem_device_error", "node_filesystem_files_free",
    "node_filesystem_files",       "node_filesystem_free_bytes",   "node_filesystem_readonly",
    "node_filesystem_size_bytes",
};

static const char *const psi[] = {
    "node_pressure_cpu_stalled_seconds_total",    "node_pressure_cpu_waiting_seconds_total",
    "node_pressure_io_stalled_seconds_total",     "node_pressure_io_waiting_seconds_total",
    "node_pressure_memory_stalled_seconds_total", "node_pressure_memory_waiting_seconds_total",
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static void node_cpu(struct out *o, const struct km_sim_node *n, double t)
{
    int f = fam(o, "node_cpu_seconds_total", KM_MT_COUNTER);
    int g = fam(o, "node_cpu_guest_seconds_total", KM_MT_COUNTER);
    char cpu[8];

    for (unsigned c = 0; c < NCPU; c++) {
        snprintf(cpu, sizeof(cpu), "%u", c);
        for (size_t i = 0; i < ARRAY_LEN(cpu_modes); i++) {
            struct km_label l[] = { { "cpu", cpu }, { "mode", cpu_modes[i] } };
            double v = km_sim_counter(k2(n->key, c * 16 + i), cpu_share[i], n->created_s, t);

            km_mset_add(o->m, f, l, 2, floor(v * 100) / 100);
        }
        for (size_t i = 0; i < 2; i++) {
            struct km_label l[] = { { "cpu", cpu }, { "mode", cpu_modes[i] } };

            km_mset_add(o->m, g, l, 2, 0);
        }
    }
}

static void node_memory(struct out *o, const struct km_sim_node *n, double t)
{
    for (size_t i = 0; i < ARRAY_LEN(meminfo_fam); i++) {
        double v = strcmp(meminfo_fam[i], "node_memory_MemTotal_bytes") == 0 ? MEM_TOTAL
                   : strncmp(meminfo_fam[i], "node_memory_Swap", 16) == 0
                       ? 0
                       : gauge(k2(n->key, 100 + i), MEM_TOTAL * (0.01 + 0.3 * km_sim_unit(i)), t);

        km_mset_add(o->m, fam(o, meminfo_fam[i], KM_MT_GAUGE), NULL, 0, floor(v / 4096) * 4096);
    }
    for (size_t i = 0; i < ARRAY_LEN(hugepages); i++) {
        km_mset_add(o->m, fam(o, hugepages[i], KM_MT_GAUGE), NULL, 0, 0);
    }
}

static void node_disks(struct out *o, const struct km_sim_node *n, double t)
{
    static const char *const dev[][3] = { { "nvme0n1", "259", "0" }, { "nvme1n1", "259", "1" } };

    for (size_t d = 0; d < ARRAY_LEN(dev); d++) {
        struct km_label l[] = { { "device", dev[d][0] },
                                { "major", dev[d][1] },
                                { "minor", dev[d][2] } };

        km_mset_add(o->m, fam(o, "node_disk_info", KM_MT_GAUGE), l, 3, 1);
        km_mset_add(o->m, fam(o, "node_disk_io_now", KM_MT_GAUGE), l, 1,
                    floor(gauge(k2(n->key, 200 + d), 2, t)));
        for (size_t i = 0; i < ARRAY_LEN(disk_ctr); i++)
            km_mset_add(
                o->m, fam(o, disk_ctr[i], KM_MT_COUNTER), l, 1,
                floor(km_sim_counter(k2(n->key, 210 + d * 32 + i), disk_rate[i], n->created_s, t)));
    }
}

static void node_network(struct out *o, const struct km_sim_node *n, double t)
{
    static const char *const dev[] = { "eth0", "lo", "cni0", "flannel.1" };
    char mac[24];

    for (size_t d = 0; d < ARRAY_LEN(dev); d++) {
        struct km_label l[] = { { "device", dev[d] },
                                { "address", mac },
                                { "duplex", "full" },
                                { "operstate", d == 1 ? "unknown" : "up" } };
        uint64_t k = k2(n->key, 300 + d);

        snprintf(mac, sizeof(mac), "02:%02x:%02x:%02x:%02x:%02x", (unsigned)(k >> 8) & 255,
                 (unsigned)(k >> 16) & 255, (unsigned)(k >> 24) & 255, (unsigned)(k >> 32) & 255,
                 (unsigned)(k >> 40) & 255);
        km_mset_add(o->m, fam(o, "node_network_info", KM_MT_GAUGE), l, 4, 1);
        km_mset_add(o->m, fam(o, "node_network_mtu_bytes", KM_MT_GAUGE), l, 1,
                    d == 1 ? 65536 : 1500);
        km_mset_add(o->m, fam(o, "node_network_up", KM_MT_GAUGE), l, 1, d == 1 ? 0 : 1);
        if (d < 2)
            km_mset_add(o->m, fam(o, "node_network_carrier", KM_MT_GAUGE), l, 1, 1);
        if (d == 0)
            km_mset_add(o->m, fam(o, "node_network_speed_bytes", KM_MT_GAUGE), l, 1, 1.25e9);
        for (size_t i = 0; i < ARRAY_LEN(net_ctr); i++)
            km_mset_add(
                o->m, fam(o, net_ctr[i], KM_MT_COUNTER), l, 1,
                floor(km_sim_counter(k2(k, i), net_rate[i] / (1.0 + (double)d), n->created_s, t)));
    }
}

static void node_filesystems(struct out *o, const struct km_sim_node *n, double t)
{
    static const char *const fs[][3] = { { "/dev/nvme0n1p1", "ext4", "/" },
                                         { "/dev/nvme1n1", "xfs", "/var/lib/containerd" },
                                         { "/dev/nvme1n1", "xfs", "/var/lib/kubelet" } };

    for (size_t i = 0; i < ARRAY_LEN(fs); i++) {
        struct km_label l[] = { { "device", fs[i][0] },
                                { "fstype", fs[i][1] },
                                { "mountpoint", fs[i][2] } };
        double size = 200e9, freeb = gauge(k2(n->key, 400 + i), 120e9, t);
        double v[] = { floor(freeb * 0.95), 0, 12e6 - 1e5, 12e6, floor(freeb), 0, size };

        for (size_t f = 0; f < ARRAY_LEN(fs_gauge); f++)
            km_mset_add(o->m, fam(o, fs_gauge[f], KM_MT_GAUGE), l, 3, v[f]);
    }
}

static void node_misc(struct out *o, const struct km_sim_node *n, double t)
{
    struct km_label un[] = { { "domainname", "(none)" }, { "machine", "x86_64" },
                             { "nodename", n->name },    { "release", "6.1.0-18-amd64" },
                             { "sysname", "Linux" },     { "version", "#1 SMP Debian 6.1.76-1" } };
    struct km_label info[] = { { "boot_id", n->uid }, { "machine_id", n->uid } };
    double load = gauge(k2(n->key, 500), 2.5, t);

    km_mset_add(o->m, fam(o, "node_boot_time_seconds", KM_MT_GAUGE), NULL, 0, (double)n->created_s);
    km_mset_add(o->m, fam(o, "node_context_switches_total", KM_MT_COUNTER), NULL, 0,
                floor(km_sim_counter(k2(n->key, 501), 20e3, n->created_s, t)));
    km_mset_add(o->m, fam(o, "node_forks_total", KM_MT_COUNTER), NULL, 0,
                floor(km_sim_counter(k2(n->key, 502), 30, n->created_s, t)));
    km_mset_add(o->m, fam(o, "node_intr_total", KM_MT_COUNTER), NULL, 0,
                floor(km_sim_counter(k2(n->key, 503), 15e3, n->created_s, t)));
    km_mset_add(o->m, fam(o, "node_procs_blocked", KM_MT_GAUGE), NULL, 0, 0);
    km_mset_add(o->m, fam(o, "node_procs_running", KM_MT_GAUGE), NULL, 0, floor(load));
    km_mset_add(o->m, fam(o, "node_load1", KM_MT_GAUGE), NULL, 0, floor(load * 100) / 100);
    km_mset_add(o->m, fam(o, "node_load5", KM_MT_GAUGE), NULL, 0, floor(load * 95) / 100);
    km_mset_add(o->m, fam(o, "node_load15", KM_MT_GAUGE), NULL, 0, floor(load * 90) / 100);
    km_mset_add(o->m, fam(o, "node_filefd_allocated", KM_MT_GAUGE), NULL, 0,
                floor(gauge(k2(n->key, 504), 9000, t)));
    km_mset_add(o->m, fam(o, "node_filefd_maximum", KM_MT_GAUGE), NULL, 0, 9223372036854775807.0);
    for (size_t i = 0; i < ARRAY_LEN(psi); i++)
        km_mset_add(o->m, fam(o, psi[i], KM_MT_COUNTER), NULL, 0,
                    km_sim_counter(k2(n->key, 510 + i), 0.02, n->created_s, t));
    km_mset_add(o->m, fam(o, "node_time_seconds", KM_MT_GAUGE), NULL, 0, t);
    km_mset_add(o->m, fam(o, "node_uname_info", KM_MT_GAUGE), un, 6, 1);
    km_mset_add(o->m, fam(o, "kmon_node_info", KM_MT_GAUGE), info, 2, 1);
}

/* ---- the pods ----------------------------------------------------------------------- */

static const char *const cnames[KM_SIM_MAX_CONTAINERS] = { "app", "sidecar", "proxy" };

struct pod_labels {
    struct km_label l[10];
    size_t n;
};

/* One cgroup's families: the pod's (container "") or a container's. `start_s` starts
 * its counters; `share` scales its figures (a container's part of the pod). */
static void cgroup_series(struct out *o, const struct pod_labels *pl, const struct km_sim_deploy *d,
                          uint64_t key, int64_t start_s, double scale, unsigned procs, double t)
{
    static const struct {
        const char *name;
        double rate; /* per second, × the CPU request */
    } cpu[] = { { "container_cpu_usage_seconds_total", 0.6 },
                { "container_cpu_user_seconds_total", 0.45 },
                { "container_cpu_system_seconds_total", 0.15 } };
    static const char *const psi_names[] = {
        "container_pressure_cpu_waiting_seconds_total",
        "container_pressure_cpu_stalled_seconds_total",
        "container_pressure_memory_waiting_seconds_total",
        "container_pressure_memory_stalled_seconds_total",
        "container_pressure_io_waiting_seconds_total",
        "container_pressure_io_stalled_seconds_total",
    };
    const struct km_label *l = pl->l;
    struct km_label dl[11];
    double req = d->cpu_request * scale, lim = d->mem_limit * scale;
    double ws = gauge(key ^ 1, lim * 0.45, t), cache = gauge(key ^ 2, lim * 0.15, t);
    double periods = km_sim_counter(key ^ 3, 10, start_s, t);

    for (size_t i = 0; i < ARRAY_LEN(cpu); i++)
        km_mset_add(o->m, fam(o, cpu[i].name, KM_MT_COUNTER), l, pl->n,
                    km_sim_counter(key ^ (10 + i), cpu[i].rate * req, start_s, t));
    km_mset_add(o->m, fam(o, "container_cpu_cfs_periods_total", KM_MT_COUNTER), l, pl->n,
                floor(periods));
    km_mset_add(o->m, fam(o, "container_cpu_cfs_throttled_periods_total", KM_MT_COUNTER), l, pl->n,
                floor(periods * 0.02));
    km_mset_add(o->m, fam(o, "container_cpu_cfs_throttled_seconds_total", KM_MT_COUNTER), l, pl->n,
                km_sim_counter(key ^ 4, 0.002, start_s, t));
    km_mset_add(o->m, fam(o, "container_memory_usage_bytes", KM_MT_GAUGE), l, pl->n,
                floor(ws + cache));
    km_mset_add(o->m, fam(o, "container_memory_working_set_bytes", KM_MT_GAUGE), l, pl->n,
                floor(ws));
    km_mset_add(o->m, fam(o, "kmon_container_memory_nonreclaimable_bytes", KM_MT_GAUGE), l, pl->n,
                floor(ws * 0.9));
    km_mset_add(o->m, fam(o, "container_memory_rss", KM_MT_GAUGE), l, pl->n, floor(ws * 0.85));
    km_mset_add(o->m, fam(o, "container_memory_cache", KM_MT_GAUGE), l, pl->n, floor(cache));
    km_mset_add(o->m, fam(o, "container_memory_mapped_file", KM_MT_GAUGE), l, pl->n,
                floor(cache * 0.2));
    km_mset_add(o->m, fam(o, "container_memory_failcnt", KM_MT_COUNTER), l, pl->n, 0);
    km_mset_add(o->m, fam(o, "container_oom_events_total", KM_MT_COUNTER), l, pl->n, 0);
    km_mset_add(o->m, fam(o, "container_spec_cpu_quota", KM_MT_GAUGE), l, pl->n,
                floor(req * 2 * 100000));
    km_mset_add(o->m, fam(o, "container_spec_cpu_period", KM_MT_GAUGE), l, pl->n, 100000);
    km_mset_add(o->m, fam(o, "container_spec_cpu_shares", KM_MT_GAUGE), l, pl->n,
                floor(req * 1024));
    km_mset_add(o->m, fam(o, "container_spec_memory_limit_bytes", KM_MT_GAUGE), l, pl->n, lim);
    memcpy(dl, l, pl->n * sizeof(*l));
    dl[pl->n] = (struct km_label){ "device", "/dev/nvme1n1" };
    km_mset_add(o->m, fam(o, "container_fs_reads_bytes_total", KM_MT_COUNTER), dl, pl->n + 1,
                floor(km_sim_counter(key ^ 5, 2e3 * scale, start_s, t)) * 4096);
    km_mset_add(o->m, fam(o, "container_fs_writes_bytes_total", KM_MT_COUNTER), dl, pl->n + 1,
                floor(km_sim_counter(key ^ 6, 8e3 * scale, start_s, t)) * 4096);
    km_mset_add(o->m, fam(o, "container_fs_reads_total", KM_MT_COUNTER), dl, pl->n + 1,
                floor(km_sim_counter(key ^ 7, 0.5 * scale, start_s, t)));
    km_mset_add(o->m, fam(o, "container_fs_writes_total", KM_MT_COUNTER), dl, pl->n + 1,
                floor(km_sim_counter(key ^ 8, 2 * scale, start_s, t)));
    km_mset_add(o->m, fam(o, "container_processes", KM_MT_GAUGE), l, pl->n, procs);
    for (size_t i = 0; i < ARRAY_LEN(psi_names); i++)
        km_mset_add(o->m, fam(o, psi_names[i], KM_MT_COUNTER), l, pl->n,
                    km_sim_counter(key ^ (20 + i), 0.001, start_s, t));
    km_mset_add(o->m, fam(o, "container_start_time_seconds", KM_MT_GAUGE), l, pl->n,
                (double)start_s);
}

static void pod_network(struct out *o, const struct pod_labels *pl, uint64_t key, int64_t start_s,
                        double t)
{
    static const char *const names[] = {
        "container_network_receive_bytes_total",
        "container_network_receive_packets_total",
        "container_network_receive_errors_total",
        "container_network_receive_packets_dropped_total",
        "container_network_transmit_bytes_total",
        "container_network_transmit_packets_total",
        "container_network_transmit_errors_total",
        "container_network_transmit_packets_dropped_total",
    };
    static const double rate[] = { 40e3, 40, 0, 0.001, 30e3, 35, 0, 0 };
    struct km_label l[11];

    memcpy(l, pl->l, pl->n * sizeof(*l));
    l[pl->n] = (struct km_label){ "interface", "eth0" };
    for (size_t i = 0; i < ARRAY_LEN(names); i++)
        km_mset_add(o->m, fam(o, names[i], KM_MT_COUNTER), l, pl->n + 1,
                    floor(km_sim_counter(key ^ (40 + i), rate[i], start_s, t)));
    km_mset_add(o->m, fam(o, "kmon_pod_host_network", KM_MT_GAUGE), pl->l, pl->n, 0);
}

static void pod_series(struct out *o, const struct km_sim_model *md, const struct km_sim_pod *p,
                       const char *node, double t)
{
    const struct km_sim_deploy *d = &md->deploy[p->deploy];
    struct pod_labels pl = { .l = {
                                 { "container", "" },
                                 { "namespace", km_sim_namespaces[d->ns] },
                                 { "pod", p->name },
                                 { "pod_uid", p->uid },
                                 { "node", node },
                                 { "qos_class", "burstable" },
                                 { "workload_kind", "Deployment" },
                                 { "workload", d->name },
                             },
                             .n = 8 };
    int64_t crashed_s;

    km_sim_pod_restarts(p, (int64_t)t, &crashed_s);
    cgroup_series(o, &pl, d, p->key, p->created_s, d->ncontainers, 2 + 2 * d->ncontainers, t);
    pod_network(o, &pl, p->key, p->created_s, t);
    for (unsigned c = 0; c < d->ncontainers; c++) {
        pl.l[0].value = cnames[c];
        cgroup_series(o, &pl, d, k2(p->key, c + 1), c == 0 ? crashed_s : p->created_s, 1.0, 1 + c,
                      t);
    }
}

static void agent_self(struct out *o, const struct km_sim_node *n, unsigned pods,
                       unsigned containers)
{
    km_mset_add(o->m, fam(o, "kmon_agent_pods", KM_MT_GAUGE), NULL, 0, pods);
    km_mset_add(o->m, fam(o, "kmon_agent_containers", KM_MT_GAUGE), NULL, 0, containers);
    km_mset_add(o->m, fam(o, "kmon_agent_pods_unnamed", KM_MT_GAUGE), NULL, 0, 0);
    km_mset_add(o->m, fam(o, "kmon_agent_kubernetes_api_up", KM_MT_GAUGE), NULL, 0, 1);
    km_mset_add(o->m, fam(o, "kmon_agent_kubernetes_pods", KM_MT_GAUGE), NULL, 0, pods);
    (void)n;
}

void km_sim_node_series(struct km_mset *m, const struct km_sim_model *md, unsigned i,
                        int64_t now_ms)
{
    const struct km_sim_node *n = &md->node[i];
    double t = (double)now_ms / 1000.0;
    unsigned containers = 0;
    struct out o; /* 6 KiB */

    if (!n->present)
        return;
    memset(&o, 0, sizeof(o));
    o.m = m;
    node_cpu(&o, n, t);
    node_memory(&o, n, t);
    node_disks(&o, n, t);
    node_network(&o, n, t);
    node_filesystems(&o, n, t);
    node_misc(&o, n, t);
    for (unsigned k = md->node_first[i]; k < md->node_first[i + 1]; k++) {
        const struct km_sim_pod *p = &md->pod[md->by_node[k]];

        pod_series(&o, md, p, n->name, t);
        containers += md->deploy[p->deploy].ncontainers;
    }
    agent_self(&o, n, n->npods, containers);
}
