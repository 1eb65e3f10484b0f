#!/usr/bin/env python3
"""Write a synthetic kubelet node as the kmon agent sees it through
--host-sys TREE/sys --host-proc TREE/proc --host-root TREE: the cgroup filesystem(s)
with pod and container cgroups, /proc/<pid> of the pod processes, /var/log/pods and
/var/log/containers, and /sys/dev/block.

    make_kubepods_tree.py OUTDIR --pods 110 --layout systemd-v2-containerd --seed 1

Layouts:
  systemd-v2-containerd  cgroup v2, systemd driver, containerd (cri-containerd-<id>.scope)
  cgroupfs-v1-docker     cgroup v1 only, cgroupfs driver, Docker via dockershim
  systemd-v2-crio        cgroup v2, systemd driver, CRI-O (crio-<id>.scope + crio-conmon-<id>.scope)
  systemd-hybrid-v1      v1 controllers + an empty cgroup2 at sys/fs/cgroup/unified,
                         systemd driver, containerd

Deterministic for a given (layout, pods, seed).  Stdlib only.  The file formats are
the kernel's (key sets and order of the kernel version each layout assumes, see
KERNELS); the values are made up but internally consistent: a parent cgroup holds the
sum of its children plus what exited children left behind.  Next to the tree it writes
expected.json, the series the agent must report, computed from the model that wrote
the files (tests/fixtures/nodes/check_expected.py recomputes them from the files).

This module is also the writer behind tests/fixtures/nodes/build_fixtures.py, which
builds the four hand-designed fixture trees from explicit pod specifications.
"""
import argparse
import json
import os
import random
import shutil
import sys

PAGE = 4096
V1_UNLIMITED = 9223372036854771712  # PAGE_COUNTER_MAX * PAGE_SIZE on 64-bit x86
USER_HZ = 100

# ---------------------------------------------------------------------------------------
# Kernel profiles: key sets and order of the files, per assumed kernel version/config.
# ---------------------------------------------------------------------------------------

# memory.stat of cgroup v2, kernel 6.1 (mm/memcontrol.c memory_stats[] and
# memory_stat_format(), CONFIG_ZSWAP=y CONFIG_SWAP=y CONFIG_TRANSPARENT_HUGEPAGE=y).
MEMSTAT_V2_6_1 = [
    "anon", "file", "kernel", "kernel_stack", "pagetables", "sec_pagetables", "percpu",
    "sock", "vmalloc", "shmem", "zswap", "zswapped", "file_mapped", "file_dirty",
    "file_writeback", "swapcached", "anon_thp", "file_thp", "shmem_thp", "inactive_anon",
    "active_anon", "inactive_file", "active_file", "unevictable", "slab_reclaimable",
    "slab_unreclaimable", "slab", "workingset_refault_anon", "workingset_refault_file",
    "workingset_activate_anon", "workingset_activate_file", "workingset_restore_anon",
    "workingset_restore_file", "workingset_nodereclaim", "pgscan", "pgsteal",
    "pgscan_kswapd", "pgscan_direct", "pgsteal_kswapd", "pgsteal_direct", "pgfault",
    "pgmajfault", "pgrefill", "pgactivate", "pgdeactivate", "pglazyfree", "pglazyfreed",
    "zswpin", "zswpout", "thp_fault_alloc", "thp_collapse_alloc",
]

# memory.stat of cgroup v2, kernel 6.18 (memory_stats[], memcg_stat_format() and
# memcg_vm_event_stat[] of 6.18; CONFIG_ZSWAP, SWAP, TRANSPARENT_HUGEPAGE,
# NUMA_BALANCING and MEMCG_V1 all =y, as on the machine these fixtures were made on;
# no hugetlb line: the memory_hugetlb_accounting mount option is off).
MEMSTAT_V2_6_18 = [
    "anon", "file", "kernel", "kernel_stack", "pagetables", "sec_pagetables", "percpu",
    "sock", "vmalloc", "shmem", "zswap", "zswapped", "file_mapped", "file_dirty",
    "file_writeback", "swapcached", "anon_thp", "file_thp", "shmem_thp", "inactive_anon",
    "active_anon", "inactive_file", "active_file", "unevictable", "slab_reclaimable",
    "slab_unreclaimable", "slab", "workingset_refault_anon", "workingset_refault_file",
    "workingset_activate_anon", "workingset_activate_file", "workingset_restore_anon",
    "workingset_restore_file", "workingset_nodereclaim", "pgdemote_kswapd",
    "pgdemote_direct", "pgdemote_khugepaged", "pgdemote_proactive", "pgpromote_success",
    "pgscan", "pgsteal", "pswpin", "pswpout", "pgscan_kswapd", "pgscan_direct",
    "pgscan_khugepaged", "pgscan_proactive", "pgsteal_kswapd", "pgsteal_direct",
    "pgsteal_khugepaged", "pgsteal_proactive", "pgfault", "pgmajfault", "pgrefill",
    "pgactivate", "pgdeactivate", "pglazyfree", "pglazyfreed", "swpin_zero",
    "swpout_zero", "zswpin", "zswpout", "zswpwb", "thp_fault_alloc",
    "thp_collapse_alloc", "thp_swpout", "thp_swpout_fallback", "numa_pages_migrated",
    "numa_pte_updates", "numa_hint_faults",
]

# memory.stat of cgroup v1, kernels 4.19-5.x (memcg1_stat_names[], memcg1_events[],
# the LRU lists, hierarchical limits, then total_* of the same).  "swap" lines and
# hierarchical_memsw_limit only with swap accounting (do_memsw_account()).
V1_LOCAL_STATS = ["cache", "rss", "rss_huge", "shmem", "mapped_file", "dirty", "writeback",
                  "swap"]
V1_EVENTS = ["pgpgin", "pgpgout", "pgfault", "pgmajfault"]
V1_LRU = ["inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable"]

KERNELS = {
    # Debian 12 (bookworm) kernel 6.1: cpu.stat with burst counters (5.16+), no
    # core_sched line (CONFIG_SCHED_CORE off assumed), memory.events with
    # oom_group_kill (5.17+), cpu.pressure with a full line (5.13+), DISKSEQ in uevent.
    "6.1": dict(release="6.1.0-18-amd64", memstat=MEMSTAT_V2_6_1,
                cpu_base=["usage_usec", "user_usec", "system_usec"],
                cpu_extra=["nr_periods", "nr_throttled", "throttled_usec", "nr_bursts",
                           "burst_usec"],
                mem_events=["low", "high", "max", "oom", "oom_kill", "oom_group_kill"],
                cpu_psi_full=True, diskseq=True),
    # 6.18 configured like the machine the fixtures were made on: nice_usec in cpu.stat
    # (6.6+), no core_sched line, memory.events with sock_throttled.
    "6.18": dict(release="6.18.44", memstat=MEMSTAT_V2_6_18,
                 cpu_base=["usage_usec", "user_usec", "system_usec", "nice_usec"],
                 cpu_extra=["nr_periods", "nr_throttled", "throttled_usec", "nr_bursts",
                            "burst_usec"],
                 mem_events=["low", "high", "max", "oom", "oom_kill", "oom_group_kill",
                             "sock_throttled"],
                 cpu_psi_full=True, diskseq=True),
    # Amazon Linux 2 kernel 5.10: v1 only, no swap accounting, cpu.stat without bursts.
    "5.10": dict(release="5.10.205-195.807.amzn2.x86_64", v1_cpu_stat=[
        "nr_periods", "nr_throttled", "throttled_time"], memsw=False, diskseq=False),
    # Ubuntu 20.04 GA kernel 5.4 booted with swapaccount=1 and psi=1: memsw files and
    # swap lines; the empty cgroup2 at unified has cpu.stat with the base keys only and
    # cpu.pressure without a full line (5.13+).
    "5.4": dict(release="5.4.0-169-generic", v1_cpu_stat=[
        "nr_periods", "nr_throttled", "throttled_time"], memsw=True, diskseq=False,
        cpu_base=["usage_usec", "user_usec", "system_usec"], cpu_psi_full=False),
}

LAYOUTS = {
    "systemd-v2-containerd": dict(mode="v2", driver="systemd", runtime="containerd",
                                  kernel="6.1"),
    "cgroupfs-v1-docker": dict(mode="v1", driver="cgroupfs", runtime="docker",
                               kernel="5.10"),
    "systemd-v2-crio": dict(mode="v2", driver="systemd", runtime="cri-o", kernel="6.18"),
    "systemd-hybrid-v1": dict(mode="hybrid", driver="systemd", runtime="containerd",
                              kernel="5.4"),
}

V2_CONTROLLERS = "cpuset cpu io memory hugetlb pids rdma misc"
# v1 hierarchies: (directory, /proc/<pid>/cgroup controller field, hierarchy id)
V1_HIERARCHIES = [
    ("cpu,cpuacct", "cpu,cpuacct", 4),
    ("memory", "memory", 6),
    ("blkio", "blkio", 7),
    ("pids", "pids", 9),
    ("cpuset", "cpuset", 8),
    ("devices", "devices", 3),
    ("freezer", "freezer", 2),
    ("net_cls,net_prio", "net_cls,net_prio", 5),
    ("systemd", "name=systemd", 1),
]
V1_LINKS = {"cpu": "cpu,cpuacct", "cpuacct": "cpu,cpuacct", "net_cls": "net_cls,net_prio",
            "net_prio": "net_cls,net_prio"}

HOST_NETNS = 4026531840

# ---------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------

ADDITIVE = ["cpu_ns", "user_ns", "sys_ns", "nice_ns", "user_ticks", "sys_ticks", "current",
            "swap", "pids", "pgpgin", "pgpgout"]


class Stats:
    """What one cgroup holds.  Units: ns for CPU, bytes for memory and I/O."""

    def __init__(self):
        self.cpu_ns = self.user_ns = self.sys_ns = self.nice_ns = 0
        self.user_ticks = self.sys_ticks = 0          # v1 cpuacct.stat (USER_HZ)
        self.nr_periods = self.nr_throttled = self.throttled_ns = 0  # own, not summed
        self.quota_us = None                           # None: "max" / -1
        self.period_us = 100000
        self.shares = 1024
        self.mem = {}                                  # v2 memory.stat keys, additive
        self.current = 0
        self.max_usage = 0                             # v1 memory.max_usage_in_bytes
        self.limit = None                              # None: "max" / unlimited
        self.swap = 0
        self.swap_max = None                           # v2 memory.swap.max
        self.events = {}                               # v2 memory.events, hierarchical
        self.failcnt = 0                               # v1 memory.failcnt, own
        self.pgpgin = self.pgpgout = 0                 # v1 only events
        self.io = {}                                   # "maj:min" -> [rb, wb, rios, wios, db, dios]
        self.pids = 0
        self.pids_max = None
        self.psi = {"cpu": [0, 0], "memory": [0, 0], "io": [0, 0]}  # usec totals
        self.psi_avg = {"cpu": (0, 0, 0), "memory": (0, 0, 0), "io": (0, 0, 0)}

    def add(self, o):
        for k in ADDITIVE:
            setattr(self, k, getattr(self, k) + getattr(o, k))
        for k, v in o.mem.items():
            self.mem[k] = self.mem.get(k, 0) + v
        for k, v in o.events.items():
            self.events[k] = self.events.get(k, 0) + v
        for d, v in o.io.items():
            cur = self.io.setdefault(d, [0] * 6)
            for i in range(6):
                cur[i] += v[i]
        self.max_usage += o.max_usage


class Proc:
    def __init__(self, pid, comm, cmdline, threads=1):
        self.pid, self.comm, self.cmdline, self.threads = pid, comm, cmdline, threads
        self.tids = [pid] + [pid + i for i in range(1, threads)]


class CG:
    """One cgroup directory (the same relative path in every v1 hierarchy)."""

    def __init__(self, name, kind, parent=None):
        self.name, self.kind, self.parent = name, kind, parent
        self.children = []
        self.own = Stats()      # what is charged here and not to a live child
        self.tot = None         # own + children, filled by aggregate()
        self.procs = []
        self.pod = None         # the Pod for pod/container/sandbox/conmon kinds
        self.ctr = None         # the Container for container/sandbox/conmon kinds
        if parent is not None:
            parent.children.append(self)

    @property
    def path(self):
        if self.parent is None:
            return "/"
        p = self.parent.path
        return (p if p.endswith("/") else p + "/") + self.name

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()


class Container:
    def __init__(self, name, cid, kind, image=""):
        self.name, self.id, self.kind, self.image = name, cid, kind, image
        self.cg = None
        self.procs = []
        self.restarts = 0
        self.previous_ids = []


class Pod:
    def __init__(self, ns, name, uid, qos, host_network=False):
        self.ns, self.name, self.uid, self.qos = ns, name, uid, qos
        self.host_network = host_network
        self.containers = []     # app containers
        self.sandbox = None
        self.conmons = []        # CRI-O monitor scopes
        self.netns = HOST_NETNS
        self.ifaces = []         # (name, 16 /proc/net/dev counters)
        self.cg = None


# ---------------------------------------------------------------------------------------
# Random but plausible values
# ---------------------------------------------------------------------------------------

def pg(x):
    """Round down to whole pages."""
    return int(x) // PAGE * PAGE


def new_uid(rng):
    h = "%032x" % rng.getrandbits(128)
    return "%s-%s-4%s-%x%s-%s" % (h[0:8], h[8:12], h[13:16], 8 + rng.randrange(4), h[17:20],
                                  h[20:32])


def new_cid(rng):
    return "%064x" % rng.getrandbits(256)


def fill_memory(rng, s, target, kernel_mem, anon_frac, active_file_frac=0.6,
                shmem=0, threads=1, swap=0, pressure=False):
    """Fill s.mem (v2 memory.stat keys) and s.current for about `target` bytes charged."""
    kernel_stack = 16384 * max(threads, 1)
    pagetables = pg(max(target // 600, PAGE))
    percpu = 2880 * rng.randrange(2, 12)
    small = target < (4 << 20)
    slab_r = rng.randrange(3000, 20000 if small else 400000) + int(kernel_mem * 0.5)
    slab_u = rng.randrange(5000, 30000 if small else 300000) + int(kernel_mem * 0.2)
    kernel = (kernel_stack + pagetables + percpu + slab_r + slab_u + PAGE - 1) // PAGE * PAGE
    sock = PAGE * rng.choice([0, 0, 1, 2, 3])
    rest = max(target - kernel - sock, 4 * PAGE)
    anon = pg(rest * anon_frac)
    shmem = pg(shmem)
    file = max(pg(rest - anon), shmem)
    cache = file - shmem
    active_file = pg(cache * active_file_frac)
    inactive_file = cache - active_file
    anon_lru = anon + shmem
    active_anon = pg(anon_lru * rng.uniform(0.0, 0.12))
    inactive_anon = anon_lru - active_anon
    anon_thp = 0 if anon < (64 << 20) else (2 << 20) * rng.randrange(0, int(anon // (8 << 20)) + 1)
    file_mapped = pg(min(cache, cache * rng.uniform(0.05, 0.5) + shmem))
    faults = anon // PAGE * rng.randrange(2, 30) + rng.randrange(100, 5000)
    m = {k: 0 for k in MEMSTAT_V2_6_18}
    m.update(anon=anon, file=file, kernel=kernel, kernel_stack=kernel_stack,
             pagetables=pagetables, percpu=percpu, sock=sock, shmem=shmem,
             file_mapped=file_mapped, file_dirty=pg(cache * rng.uniform(0, 0.01)),
             anon_thp=anon_thp, inactive_anon=inactive_anon, active_anon=active_anon,
             inactive_file=inactive_file, active_file=active_file,
             slab_reclaimable=slab_r, slab_unreclaimable=slab_u,
             workingset_refault_file=rng.randrange(0, 200) * (3 if pressure else 1),
             workingset_activate_file=rng.randrange(0, 60),
             pgfault=faults, pgmajfault=rng.randrange(0, 40),
             pgactivate=rng.randrange(0, cache // PAGE + 10),
             thp_fault_alloc=anon_thp // (2 << 20))
    if pressure:
        scan = rng.randrange(20000, 90000)
        steal = int(scan * rng.uniform(0.8, 0.97))
        m.update(pgscan=scan, pgsteal=steal, pgscan_direct=scan, pgsteal_direct=steal,
                 pgrefill=rng.randrange(1000, 9000), pgdeactivate=rng.randrange(500, 4000),
                 workingset_refault_anon=rng.randrange(0, 50),
                 workingset_restore_file=rng.randrange(0, 40))
    s.mem = m
    s.current = anon + file + kernel + sock
    s.max_usage = pg(s.current * rng.uniform(1.02, 1.4))
    s.swap = swap
    s.pgpgin = faults // 3 + (anon + file) // PAGE
    s.pgpgout = faults // 3


def fill_cpu(rng, s, seconds, user_frac=None, nice=0.0):
    s.cpu_ns = int(seconds * 1e9) + rng.randrange(0, 999999)
    uf = user_frac if user_frac is not None else rng.uniform(0.55, 0.92)
    s.user_ns = int(s.cpu_ns * uf)
    s.sys_ns = s.cpu_ns - s.user_ns
    s.nice_ns = int(s.user_ns * nice)
    # cpuacct.stat samples ticks; it lags the exact runtime a little.
    s.user_ticks = int(s.user_ns / 1e7 * rng.uniform(0.96, 0.999))
    s.sys_ticks = int(s.sys_ns / 1e7 * rng.uniform(0.96, 0.999))


def fill_io(rng, s, devs):
    """devs: {"maj:min": (read_bytes, write_bytes)}."""
    for d, (rb, wb) in devs.items():
        rios = rb // rng.choice([4096, 16384, 32768, 65536, 131072]) + (1 if rb else 0)
        wios = wb // rng.choice([4096, 8192, 16384, 65536]) + (1 if wb else 0)
        s.io[d] = [rb, wb, rios, wios, 0, 0]


def fill_psi(rng, s, cpu_frac=0.01, mem=0, io=0, throttled=False):
    some = int(s.cpu_ns / 1000 * cpu_frac) + rng.randrange(0, 50000)
    if throttled:
        some += s.throttled_ns // 1000
    s.psi["cpu"] = [some, int(some * rng.uniform(0.1, 0.6))]
    s.psi["memory"] = [mem, int(mem * rng.uniform(0.3, 0.9))]
    s.psi["io"] = [io, int(io * rng.uniform(0.2, 0.8))]
    if throttled:
        s.psi_avg["cpu"] = (rng.uniform(2, 12), rng.uniform(1, 8), rng.uniform(0.5, 4))


def weight_of_shares(shares):
    """kubelet's CpuSharesToCpuWeight (cgroup v1 shares -> v2 weight)."""
    return 1 + ((shares - 2) * 9999) // 262142


def shares_of_weight(weight):
    """The inverse the agent reports as container_spec_cpu_shares on v2."""
    return 2 + ((weight - 1) * 262142) // 9999


def milli_to_shares(m):
    return max(2, m * 1024 // 1000)


# ---------------------------------------------------------------------------------------
# Building a node from pod specifications
# ---------------------------------------------------------------------------------------

class Node:
    def __init__(self, layout, rng, devices, host_ifaces, allocatable_cpu_m=7910,
                 allocatable_mem=31 << 30, uptime_s=1036800):
        self.layout = layout
        self.cfg = LAYOUTS[layout]
        self.kernel = KERNELS[self.cfg["kernel"]]
        self.rng = rng
        self.devices = devices          # "maj:min" -> (devname, sysfs path, devtype)
        self.host_ifaces = host_ifaces
        self.pods = []
        self.next_pid = 1000
        self.next_netns = 4026532200 + rng.randrange(0, 300)
        self.alloc_cpu_m = allocatable_cpu_m
        self.alloc_mem = allocatable_mem
        self.uptime = uptime_s
        self.root = CG("", "root")
        self.host_procs = []
        self.others = []                # non-pod cgroups: (CG, comm list)
        self._build_skeleton()

    # --- names that depend on the driver and runtime -----------------------------------
    def pod_cg_name(self, qos, uid):
        if self.cfg["driver"] == "systemd":
            u = uid.replace("-", "_")
            if qos == "Guaranteed":
                return "kubepods-pod%s.slice" % u
            return "kubepods-%s-pod%s.slice" % (qos.lower(), u)
        return "pod" + uid

    def ctr_cg_name(self, cid, conmon=False):
        rt = self.cfg["runtime"]
        if self.cfg["driver"] == "cgroupfs":
            return cid
        if rt == "cri-o":
            return ("crio-conmon-%s.scope" if conmon else "crio-%s.scope") % cid
        if rt == "docker":
            return "docker-%s.scope" % cid
        return "cri-containerd-%s.scope" % cid

    def alloc_pid(self, span=1):
        self.next_pid += self.rng.randrange(3, 90)
        pid = self.next_pid
        self.next_pid += span
        return pid

    def _build_skeleton(self):
        sd = self.cfg["driver"] == "systemd"
        self.kubepods = CG("kubepods.slice" if sd else "kubepods", "kubepods", self.root)
        self.qos = {
            "Burstable": CG("kubepods-burstable.slice" if sd else "burstable", "qos",
                            self.kubepods),
            "BestEffort": CG("kubepods-besteffort.slice" if sd else "besteffort", "qos",
                             self.kubepods),
            "Guaranteed": self.kubepods,
        }

    # --- non-pod cgroups a real host has ------------------------------------------------
    def add_other(self, path, procs, cpu_s, mem, kind="other"):
        """path like "system.slice/containerd.service"; procs: [(comm, cmdline, threads)]."""
        parent = self.root
        parts = path.split("/")
        for i, part in enumerate(parts):
            found = [c for c in parent.children if c.name == part]
            if found:
                parent = found[0]
            else:
                parent = CG(part, kind if i == len(parts) - 1 else "other", parent)
        cg = parent
        rng = self.rng
        fill_cpu(rng, cg.own, cpu_s)
        fill_memory(rng, cg.own, mem, mem // 20, rng.uniform(0.3, 0.7),
                    threads=sum(p[2] for p in procs))
        fill_io(rng, cg.own, {d: (rng.randrange(1 << 20, 1 << 30), rng.randrange(1 << 20, 1 << 31))
                              for d in list(self.devices)[:1]})
        fill_psi(rng, cg.own, 0.005, rng.randrange(0, 200000), rng.randrange(0, 900000))
        cg.own.events = {"low": 0, "high": 0, "max": 0, "oom": 0, "oom_kill": 0,
                         "oom_group_kill": 0, "sock_throttled": 0}
        for comm, cmd, threads in procs:
            p = Proc(self.alloc_pid(threads), comm, cmd, threads)
            cg.procs.append(p)
            self.host_procs.append(p)
        cg.own.pids = sum(p.threads for p in cg.procs)
        return cg

    # --- pods ---------------------------------------------------------------------------
    def add_pod(self, spec):
        """spec: dict(ns, name, qos, host_network, uid?, ifaces?, extra_cpu_s?,
        extra_file?, pids_max?, containers=[dict(...)])."""
        rng = self.rng
        uid = spec.get("uid") or new_uid(rng)
        pod = Pod(spec["ns"], spec["name"], uid, spec["qos"], spec.get("host_network", False))
        self.pods.append(pod)
        parent = self.qos[pod.qos]
        pod.cg = cg = CG(self.pod_cg_name(pod.qos, uid), "pod", parent)
        cg.pod = pod
        if not pod.host_network:
            self.next_netns += rng.randrange(1, 40)
            pod.netns = self.next_netns
            pod.ifaces = spec.get("ifaces") or [("eth0", None)]
        crio = self.cfg["runtime"] == "cri-o"

        # sandbox
        sid = new_cid(rng)
        sb = Container("POD", sid, "sandbox", spec.get("pause_image", "registry.k8s.io/pause:3.9"))
        pod.sandbox = sb
        sb.cg = CG(self.ctr_cg_name(sid), "sandbox", cg)
        sb.cg.pod, sb.cg.ctr = pod, sb
        p = Proc(self.alloc_pid(), "pause", ["/pause"], 1)
        sb.procs.append(p)
        sb.cg.procs.append(p)
        s = sb.cg.own
        fill_cpu(rng, s, rng.uniform(0.02, 0.4))
        fill_memory(rng, s, rng.randrange(180, 420) * 1024, 8192, 0.4, threads=1)
        s.shares = 2
        s.pids = 1
        s.events = {"low": 0, "high": 0, "max": 0, "oom": 0, "oom_kill": 0,
                    "oom_group_kill": 0, "sock_throttled": 0}
        fill_psi(rng, s, 0.0)
        if crio:
            self._add_conmon(pod, sb)

        req_cpu = 0
        all_cpu_lim = all_mem_lim = True
        sum_quota = 0
        sum_mem = 0
        for cs in spec["containers"]:
            c = self._add_container(pod, cs)
            req_cpu += cs.get("req_cpu_m", 0)
            if c.cg.own.quota_us is None:
                all_cpu_lim = False
            else:
                sum_quota += c.cg.own.quota_us
            if c.cg.own.limit is None:
                all_mem_lim = False
            else:
                sum_mem += c.cg.own.limit
            if crio:
                self._add_conmon(pod, c)

        # pod-level settings as kubelet writes them
        o = cg.own
        o.shares = milli_to_shares(req_cpu) if pod.qos != "BestEffort" else 2
        if all_cpu_lim and sum_quota:
            o.quota_us = sum_quota
        if all_mem_lim and sum_mem:
            o.limit = sum_mem
        o.pids_max = spec.get("pids_max")
        # what exited containers (init containers, previous restarts) left in the pod
        extra_cpu = spec.get("extra_cpu_s", rng.uniform(0.05, 3.0))
        fill_cpu(rng, o, extra_cpu)
        extra_file = pg(spec.get("extra_file", rng.randrange(0, 6 << 20)))
        o.mem = {k: 0 for k in MEMSTAT_V2_6_18}
        o.mem.update(file=extra_file, inactive_file=extra_file,
                     pgfault=rng.randrange(0, 20000), pgmajfault=rng.randrange(0, 5))
        o.current = extra_file
        o.events = dict(spec.get("pod_events", {}))
        if spec.get("extra_io"):
            fill_io(rng, o, spec["extra_io"])
        if o.quota_us is not None:
            o.nr_periods = spec.get("pod_periods", rng.randrange(100000, 900000))
            o.nr_throttled = spec.get("pod_throttled", o.nr_periods // rng.randrange(50, 400))
            o.throttled_ns = o.nr_throttled * rng.randrange(2, 40) * 1000000 + rng.randrange(0, 999999)
        o.failcnt = spec.get("pod_failcnt", 0)
        return pod

    def _add_conmon(self, pod, c):
        rng = self.rng
        cg = CG(self.ctr_cg_name(c.id, conmon=True), "conmon", pod.cg)
        cg.pod, cg.ctr = pod, c
        logp = ("/var/log/pods/%s_%s_%s/%s/0.log" % (pod.ns, pod.name, pod.uid, c.name)
                if c.kind == "app" else "/var/log/pods/%s_%s_%s" % (pod.ns, pod.name, pod.uid))
        cmd = ["/usr/bin/conmon", "-b",
               "/run/containers/storage/overlay-containers/%s/userdata" % c.id, "-c", c.id,
               "--exit-dir", "/var/run/crio/exits", "-l", logp, "--log-level", "info",
               "-n", "k8s_%s_%s_%s_%s_0" % ("POD" if c.kind == "sandbox" else c.name,
                                             pod.name, pod.ns, pod.uid),
               "-P", "/run/containers/storage/overlay-containers/%s/userdata/conmon-pidfile" % c.id,
               "-p", "/run/containers/storage/overlay-containers/%s/userdata/pidfile" % c.id,
               "--persist-dir", "/var/lib/containers/storage/overlay-containers/%s/userdata" % c.id,
               "-r", "/usr/bin/crun", "--runtime-arg", "--root=/run/crun",
               "--socket-dir-path", "/var/run/crio", "--syslog", "-u", c.id, "-s"]
        p = Proc(self.alloc_pid(), "conmon", cmd, 2)
        cg.procs.append(p)
        s = cg.own
        fill_cpu(rng, s, rng.uniform(0.01, 0.9), user_frac=rng.uniform(0.2, 0.5))
        fill_memory(rng, s, rng.randrange(700, 1900) * 1024, 60000, 0.5, threads=2)
        s.shares = 1024   # unused: the scope keeps systemd's default CPUWeight=100
        s.pids = 2
        s.events = {"low": 0, "high": 0, "max": 0, "oom": 0, "oom_kill": 0,
                    "oom_group_kill": 0, "sock_throttled": 0}
        fill_psi(rng, s, 0.0)
        pod.conmons.append(cg)

    def _add_container(self, pod, cs):
        rng = self.rng
        cid = new_cid(rng)
        c = Container(cs["name"], cid, "app", cs.get("image", ""))
        c.restarts = cs.get("restarts", 0)
        c.previous_ids = [new_cid(rng) for _ in range(min(c.restarts, 1))]
        pod.containers.append(c)
        c.cg = cg = CG(self.ctr_cg_name(cid), "container", pod.cg)
        cg.pod, cg.ctr = pod, c
        nproc = cs.get("procs", [(cs["name"], [cs["name"]], 4)])
        for comm, cmd, threads in nproc:
            p = Proc(self.alloc_pid(threads), comm, cmd, threads)
            c.procs.append(p)
            cg.procs.append(p)
        s = cg.own
        threads = sum(p.threads for p in c.procs)
        fill_cpu(rng, s, cs.get("cpu_s", rng.uniform(5, 5000)), nice=cs.get("nice", 0.0))
        lim = cs.get("limit_mem")
        s.limit = lim
        fill_memory(rng, s, cs.get("mem", rng.randrange(8 << 20, 600 << 20)),
                    cs.get("kmem", 1 << 20), cs.get("anon_frac", rng.uniform(0.3, 0.9)),
                    cs.get("active_file_frac", rng.uniform(0.2, 0.8)),
                    shmem=cs.get("shmem", 0), threads=threads, swap=cs.get("swap", 0),
                    pressure=bool(cs.get("mem_max_events")))
        if cs.get("stat_lag"):
            # memory.stat is flushed lazily (rstat, up to 2 s): its file LRU counts can
            # run ahead of memory.current, so usage - inactive_file - active_file < 0.
            s.current = s.mem["inactive_file"] + s.mem["active_file"] - cs["stat_lag"]
        if cs.get("ws_negative"):
            # inactive_file ahead of usage: working set clamps at 0.
            s.current = s.mem["inactive_file"] - cs["ws_negative"]
        s.max_usage = max(s.max_usage, s.current)
        if lim is not None:
            s.max_usage = min(max(s.max_usage, s.current), lim)
        s.swap_max = cs.get("swap_max")
        s.shares = milli_to_shares(cs.get("req_cpu_m", 0)) if pod.qos != "BestEffort" else 2
        q = cs.get("quota_us")
        if q:
            s.quota_us = q
            s.nr_periods = cs.get("periods", rng.randrange(50000, 800000))
            s.nr_throttled = cs.get("throttled", s.nr_periods // rng.randrange(5, 60))
            s.throttled_ns = s.nr_throttled * rng.randrange(3, 45) * 1000000 + rng.randrange(0, 999999)
        ev = {"low": 0, "high": 0, "max": cs.get("mem_max_events", 0),
              "oom": cs.get("oom_kill", 0), "oom_kill": cs.get("oom_kill", 0),
              "oom_group_kill": 0, "sock_throttled": 0}
        s.events = ev
        s.failcnt = cs.get("failcnt", cs.get("mem_max_events", 0))
        fill_io(rng, s, cs.get("io", {}))
        s.pids = threads
        s.pids_max = cs.get("pids_max")
        io_total = sum(v[0] + v[1] for v in s.io.values())
        fill_psi(rng, s, rng.uniform(0.001, 0.05),
                 mem=cs.get("psi_mem", rng.randrange(0, 400000) if cs.get("mem_max_events") else 0),
                 io=int(io_total / 1e4 * rng.uniform(0.05, 2)), throttled=bool(q))
        return c

    def add_ifaces(self):
        """Counters for every pod's interfaces (after all pods exist)."""
        rng = self.rng
        for pod in self.pods:
            if pod.host_network:
                continue
            out = []
            for name, given in pod.ifaces:
                if given is None:
                    rb = rng.randrange(1 << 20, 1 << 33)
                    tb = rng.randrange(1 << 20, 1 << 32)
                    rp = rb // rng.randrange(200, 1400) + 1
                    tp = tb // rng.randrange(150, 1400) + 1
                    given = [rb, rp, 0, rng.choice([0, 0, 0, 3, 17]), 0, 0, 0, 0,
                             tb, tp, 0, 0, 0, 0, 0, 0]
                out.append((name, given))
            lo = rng.randrange(0, 4 << 20)
            lop = lo // 300
            pod.ifaces = [("lo", [lo, lop, 0, 0, 0, 0, 0, 0, lo, lop, 0, 0, 0, 0, 0, 0])] + out

    # --- aggregation --------------------------------------------------------------------
    def aggregate(self, cg=None):
        cg = cg or self.root
        t = Stats()
        t.add(cg.own)
        for ch in cg.children:
            self.aggregate(ch)
            t.add(ch.tot)
        # own (not summed) settings and counters
        o = cg.own
        for k in ("nr_periods", "nr_throttled", "throttled_ns", "quota_us", "period_us",
                  "shares", "limit", "swap_max", "failcnt", "pids_max"):
            setattr(t, k, getattr(o, k))
        for k in ("low", "high", "max", "oom", "oom_kill", "oom_group_kill", "sock_throttled"):
            t.events.setdefault(k, 0)
        # pressure: a parent stalls at least as long as its worst child
        for r in ("cpu", "memory", "io"):
            kids = [ch.tot.psi[r] for ch in cg.children]
            some = max([o.psi[r][0]] + [k[0] for k in kids]) + (
                sum(k[0] for k in kids) // 7 if len(kids) > 1 else 0)
            full = max([o.psi[r][1]] + [k[1] for k in kids]) + (
                sum(k[1] for k in kids) // 11 if len(kids) > 1 else 0)
            t.psi[r] = [some, min(full, some)]
            avgs = [o.psi_avg[r]] + [ch.tot.psi_avg[r] for ch in cg.children]
            t.psi_avg[r] = max(avgs)
        t.max_usage = max(t.max_usage, t.current)
        cg.tot = t
        return t

    # --- settings of the skeleton cgroups -------------------------------------------------
    def finish(self):
        self.add_ifaces()
        kp = self.kubepods.own
        kp.shares = milli_to_shares(self.alloc_cpu_m)
        kp.limit = self.alloc_mem
        kp.pids_max = None
        bu = self.qos["Burstable"].own
        req = 0
        for pod in self.pods:
            if pod.qos == "Burstable":
                req += sum(max(c.cg.own.shares, 2) for c in pod.containers)
        bu.shares = max(2, req)
        self.qos["BestEffort"].own.shares = 2
        for q in (self.kubepods, self.qos["Burstable"], self.qos["BestEffort"]):
            q.own.events = {}
        self.aggregate()


# ---------------------------------------------------------------------------------------
# Host defaults per layout: block devices, host interfaces, non-pod cgroups
# ---------------------------------------------------------------------------------------

def default_devices(layout):
    """"maj:min" -> (DEVNAME, path under sys/devices, DEVTYPE, diskseq)."""
    if layout == "cgroupfs-v1-docker":      # EC2 Nitro: EBS volumes are NVMe
        return {
            "259:0": ("nvme0n1", "pci0000:00/0000:00:04.0/nvme/nvme0/nvme0n1", "disk", 1),
            "259:1": ("nvme0n1p1", "pci0000:00/0000:00:04.0/nvme/nvme0/nvme0n1/nvme0n1p1",
                      "partition", 1),
            "259:3": ("nvme1n1", "pci0000:00/0000:00:1f.0/nvme/nvme1/nvme1n1", "disk", 2),
        }
    if layout == "systemd-hybrid-v1":       # older VM: virtio-scsi sd* plus LVM
        return {
            "8:0": ("sda", "pci0000:00/0000:00:05.0/virtio1/host0/target0:0:0/0:0:0:0/block/sda",
                    "disk", 1),
            "8:1": ("sda1", "pci0000:00/0000:00:05.0/virtio1/host0/target0:0:0/0:0:0:0/block/sda/sda1",
                    "partition", 1),
            "8:16": ("sdb", "pci0000:00/0000:00:05.0/virtio1/host0/target0:0:0/0:0:0:1/block/sdb",
                     "disk", 2),
            "253:0": ("dm-0", "virtual/block/dm-0", "disk", 3),
        }
    return {
        "259:0": ("nvme0n1", "pci0000:00/0000:00:04.0/nvme/nvme0/nvme0n1", "disk", 1),
        "259:1": ("nvme0n1p1", "pci0000:00/0000:00:04.0/nvme/nvme0/nvme0n1/nvme0n1p1",
                  "partition", 1),
        "8:0": ("sda", "pci0000:00/0000:00:06.0/virtio2/host1/target1:0:0/1:0:0:0/block/sda",
                "disk", 2),
        "253:0": ("dm-0", "virtual/block/dm-0", "disk", 4),
    }


def default_host_ifaces(layout, rng):
    names = {
        "systemd-v2-containerd": ["lo", "ens5", "cni0", "flannel.1"],
        "cgroupfs-v1-docker": ["lo", "eth0", "eth1", "docker0"],
        "systemd-v2-crio": ["lo", "enp1s0", "ovs-system", "br-ex", "genev_sys_6081"],
        "systemd-hybrid-v1": ["lo", "ens3", "tunl0", "vxlan.calico"],
    }[layout]
    out = []
    for n in names:
        rb = rng.randrange(1 << 24, 1 << 38)
        tb = rng.randrange(1 << 24, 1 << 37)
        out.append((n, [rb, rb // rng.randrange(300, 1400), 0, rng.randrange(0, 90), 0, 0, 0,
                        rng.randrange(0, 5000), tb, tb // rng.randrange(300, 1400), 0, 0, 0, 0,
                        0, 0]))
    return out


def add_host_cgroups(node):
    """The host's own cgroups, which the agent must not take for pods."""
    rt = node.cfg["runtime"]
    sd = node.cfg["driver"] == "systemd" or node.cfg["mode"] != "v1"
    r = node.rng
    if rt == "containerd":
        node.add_other("system.slice/containerd.service",
                       [("containerd", ["/usr/bin/containerd"], 40)] +
                       [("containerd-shim", ["/usr/bin/containerd-shim-runc-v2", "-namespace",
                                             "k8s.io", "-id", new_cid(r)[:64], "-address",
                                             "/run/containerd/containerd.sock"], 11)
                        for _ in range(3)], 7200, 180 << 20)
    elif rt == "docker":
        node.add_other("system.slice/docker.service",
                       [("dockerd", ["/usr/bin/dockerd", "-H", "fd://",
                                     "--containerd=/run/containerd/containerd.sock"], 38)],
                       9100, 140 << 20)
        node.add_other("system.slice/containerd.service",
                       [("containerd", ["/usr/bin/containerd"], 25)], 3300, 60 << 20)
        # a docker container that kubelet did not start: not a pod
        node.add_other("docker/" + new_cid(r), [("ecs-agent", ["/agent"], 9)], 410, 38 << 20,
                       kind="docker-nonpod")
    else:
        node.add_other("system.slice/crio.service",
                       [("crio", ["/usr/bin/crio"], 30)], 8800, 210 << 20)
    node.add_other("system.slice/kubelet.service",
                   [("kubelet", ["/usr/bin/kubelet", "--config=/var/lib/kubelet/config.yaml",
                                 "--kubeconfig=/etc/kubernetes/kubelet.conf"], 24)],
                   21000, 120 << 20)
    node.add_other("system.slice/ssh.service" if sd else "system.slice/sshd.service",
                   [("sshd", ["sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"], 1)],
                   3, 6 << 20)
    node.add_other("user.slice/user-1000.slice/session-4.scope",
                   [("bash", ["-bash"], 1)], 12, 9 << 20)
    if node.cfg["mode"] != "v1" or sd:
        node.add_other("init.scope", [("systemd", ["/sbin/init"], 1)], 95, 14 << 20)


# ---------------------------------------------------------------------------------------
# Writing the tree
# ---------------------------------------------------------------------------------------

class Writer:
    def __init__(self, out):
        self.out = out
        self.files = 0
        self.bytes = 0

    def file(self, rel, text):
        p = os.path.join(self.out, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        data = text.encode() if isinstance(text, str) else text
        with open(p, "wb") as f:
            f.write(data)
        self.files += 1
        self.bytes += len(data)

    def link(self, rel, target):
        p = os.path.join(self.out, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if os.path.lexists(p):
            os.unlink(p)
        os.symlink(target, p)
        self.files += 1


def fmt_psi(tot, res, full_line):
    some, full = tot.psi[res]
    a = tot.psi_avg[res]
    s = "some avg10=%.2f avg60=%.2f avg300=%.2f total=%d\n" % (a[0], a[1], a[2], some)
    if full_line:
        s += "full avg10=%.2f avg60=%.2f avg300=%.2f total=%d\n" % (
            a[0] * 0.4, a[1] * 0.4, a[2] * 0.4, full)
    return s


def v2_cpu_stat(t, keys_base, keys_extra):
    vals = {"usage_usec": t.cpu_ns // 1000, "user_usec": t.user_ns // 1000,
            "system_usec": t.sys_ns // 1000, "nice_usec": t.nice_ns // 1000,
            "nr_periods": t.nr_periods, "nr_throttled": t.nr_throttled,
            "throttled_usec": t.throttled_ns // 1000, "nr_bursts": 0, "burst_usec": 0}
    return "".join("%s %d\n" % (k, vals[k]) for k in keys_base + keys_extra)


def v2_memory_stat(t, keys):
    m = dict(t.mem)
    m["slab"] = m.get("slab_reclaimable", 0) + m.get("slab_unreclaimable", 0)
    return "".join("%s %d\n" % (k, m.get(k, 0)) for k in keys)


def v2_io_stat(t):
    return "".join("%s rbytes=%d wbytes=%d rios=%d wios=%d dbytes=%d dios=%d\n" % (d, *v)
                   for d, v in t.io.items() if any(v))


def write_v2(node, w, base, cg, mem_keys):
    """One cgroup of a v2 hierarchy with controllers enabled."""
    k = node.kernel
    t = cg.tot
    d = os.path.join(base, cg.path.lstrip("/"))
    leaf = not cg.children
    w.file(os.path.join(d, "cgroup.controllers"), V2_CONTROLLERS + "\n")
    w.file(os.path.join(d, "cgroup.subtree_control"), ("" if leaf else V2_CONTROLLERS) + "\n")
    w.file(os.path.join(d, "cgroup.procs"), "".join("%d\n" % p.pid for p in cg.procs))
    # the root has no cpu controller files: its cpu.stat is the cgroup core's base keys
    w.file(os.path.join(d, "cpu.stat"), v2_cpu_stat(
        t, k["cpu_base"], [] if cg.kind == "root" else k["cpu_extra"]))
    w.file(os.path.join(d, "cpu.pressure"), fmt_psi(t, "cpu", k["cpu_psi_full"]))
    w.file(os.path.join(d, "memory.pressure"), fmt_psi(t, "memory", True))
    w.file(os.path.join(d, "io.pressure"), fmt_psi(t, "io", True))
    w.file(os.path.join(d, "memory.stat"), v2_memory_stat(t, mem_keys))
    w.file(os.path.join(d, "io.stat"), v2_io_stat(t))
    if cg.kind == "root":
        w.file(os.path.join(d, "cgroup.max.depth"), "max\n")
        return
    w.file(os.path.join(d, "cpu.max"), "%s %d\n" % (
        "max" if t.quota_us is None else str(t.quota_us), t.period_us))
    if cg.kind in ("other", "conmon"):
        weight = 100
    else:
        weight = weight_of_shares(t.shares)
    w.file(os.path.join(d, "cpu.weight"), "%d\n" % weight)
    w.file(os.path.join(d, "memory.current"), "%d\n" % t.current)
    w.file(os.path.join(d, "memory.max"), "max\n" if t.limit is None else "%d\n" % t.limit)
    ev = t.events
    w.file(os.path.join(d, "memory.events"),
           "".join("%s %d\n" % (e, ev.get(e, 0)) for e in k["mem_events"]))
    w.file(os.path.join(d, "memory.swap.current"), "%d\n" % t.swap)
    w.file(os.path.join(d, "memory.swap.max"),
           "max\n" if t.swap_max is None else "%d\n" % t.swap_max)
    w.file(os.path.join(d, "pids.current"), "%d\n" % t.pids)
    w.file(os.path.join(d, "pids.max"), "max\n" if t.pids_max is None else "%d\n" % t.pids_max)


def write_unified_hybrid(node, w, base, cg):
    """sys/fs/cgroup/unified of a hybrid host: cgroup2 with no controllers, systemd only
    tracks processes there; only the core files exist."""
    k = node.kernel
    t = cg.tot
    d = os.path.join(base, cg.path.lstrip("/"))
    w.file(os.path.join(d, "cgroup.controllers"), "\n")
    w.file(os.path.join(d, "cgroup.subtree_control"), "\n")
    w.file(os.path.join(d, "cgroup.procs"), "".join("%d\n" % p.pid for p in cg.procs))
    w.file(os.path.join(d, "cgroup.max.depth"), "max\n")
    if cg.kind != "root":
        w.file(os.path.join(d, "cgroup.events"), "populated %d\nfrozen 0\n" % (1 if t.pids else 0))
    w.file(os.path.join(d, "cpu.pressure"), fmt_psi(t, "cpu", k["cpu_psi_full"]))
    w.file(os.path.join(d, "memory.pressure"), fmt_psi(t, "memory", True))
    w.file(os.path.join(d, "io.pressure"), fmt_psi(t, "io", True))
    if cg.kind != "root":
        # the cgroup core's cpu.stat: base cputime only, no cpu controller keys
        w.file(os.path.join(d, "cpu.stat"), v2_cpu_stat(t, k["cpu_base"], []))


def blkio_lines(io, bytes_):
    out = []
    total = 0
    for d, v in io.items():
        r, wr = (v[0], v[1]) if bytes_ else (v[2], v[3])
        disc = v[4] if bytes_ else v[5]
        sync = r + wr * 3 // 10
        asy = r + wr + disc - sync
        tot = r + wr + disc
        total += tot
        for name, val in (("Read", r), ("Write", wr), ("Sync", sync), ("Async", asy),
                          ("Discard", disc), ("Total", tot)):
            out.append("%s %s %d\n" % (d, name, val))
    out.append("Total %d\n" % total)
    return "".join(out)


def hier_limit(cg):
    lim = V1_UNLIMITED
    c = cg
    while c is not None:
        if c.own.limit is not None:
            lim = min(lim, c.own.limit)
        c = c.parent
    return lim


def v1_memory_stat(node, cg):
    memsw = node.kernel["memsw"]
    o, t = cg.own, cg.tot

    def block(s, prefix):
        m = s.mem
        vals = {"cache": m.get("file", 0), "rss": m.get("anon", 0),
                "rss_huge": m.get("anon_thp", 0), "shmem": m.get("shmem", 0),
                "mapped_file": m.get("file_mapped", 0), "dirty": m.get("file_dirty", 0),
                "writeback": m.get("file_writeback", 0), "swap": s.swap,
                "pgpgin": s.pgpgin, "pgpgout": s.pgpgout, "pgfault": m.get("pgfault", 0),
                "pgmajfault": m.get("pgmajfault", 0)}
        for k in V1_LRU:
            vals[k] = m.get(k, 0)
        keys = [k for k in V1_LOCAL_STATS if memsw or k != "swap"] + V1_EVENTS + V1_LRU
        return ["%s%s %d\n" % (prefix, k, vals[k]) for k in keys]

    lines = block(o if cg.children else t, "")
    hl = hier_limit(cg)
    lines.append("hierarchical_memory_limit %d\n" % hl)
    if memsw:
        lines.append("hierarchical_memsw_limit %d\n" % hl)
    lines += block(t, "total_")
    return "".join(lines)


def write_v1(node, w, cg):
    k = node.kernel
    t, o = cg.tot, cg.own
    rel = cg.path.lstrip("/")
    procs = "".join("%d\n" % p.pid for p in cg.procs)
    tasks = "".join("%d\n" % tid for p in cg.procs for tid in p.tids)
    for hdir, _, _ in node.v1_hier:
        d = os.path.join("sys/fs/cgroup", hdir, rel)
        w.file(os.path.join(d, "cgroup.procs"), procs)
        w.file(os.path.join(d, "tasks"), tasks)
        if hdir == "cpu,cpuacct":
            w.file(os.path.join(d, "cpu.shares"), "%d\n" % t.shares)
            w.file(os.path.join(d, "cpu.cfs_period_us"), "%d\n" % t.period_us)
            w.file(os.path.join(d, "cpu.cfs_quota_us"),
                   "-1\n" if t.quota_us is None else "%d\n" % t.quota_us)
            vals = {"nr_periods": t.nr_periods, "nr_throttled": t.nr_throttled,
                    "throttled_time": t.throttled_ns}
            w.file(os.path.join(d, "cpu.stat"),
                   "".join("%s %d\n" % (x, vals[x]) for x in k["v1_cpu_stat"]))
            w.file(os.path.join(d, "cpuacct.usage"), "%d\n" % t.cpu_ns)
            w.file(os.path.join(d, "cpuacct.stat"),
                   "user %d\nsystem %d\n" % (t.user_ticks, t.sys_ticks))
        elif hdir == "memory":
            w.file(os.path.join(d, "memory.usage_in_bytes"), "%d\n" % t.current)
            w.file(os.path.join(d, "memory.max_usage_in_bytes"), "%d\n" % t.max_usage)
            w.file(os.path.join(d, "memory.limit_in_bytes"),
                   "%d\n" % (V1_UNLIMITED if t.limit is None else t.limit))
            w.file(os.path.join(d, "memory.failcnt"), "%d\n" % t.failcnt)
            w.file(os.path.join(d, "memory.stat"), v1_memory_stat(node, cg))
            w.file(os.path.join(d, "memory.use_hierarchy"), "1\n")
            if k["memsw"]:
                w.file(os.path.join(d, "memory.memsw.usage_in_bytes"),
                       "%d\n" % (t.current + t.swap))
                w.file(os.path.join(d, "memory.memsw.limit_in_bytes"),
                       "%d\n" % (V1_UNLIMITED if t.limit is None else t.limit))
                w.file(os.path.join(d, "memory.memsw.failcnt"), "0\n")
        elif hdir == "blkio":
            w.file(os.path.join(d, "blkio.throttle.io_service_bytes"), blkio_lines(o.io, True))
            w.file(os.path.join(d, "blkio.throttle.io_serviced"), blkio_lines(o.io, False))
            w.file(os.path.join(d, "blkio.throttle.io_service_bytes_recursive"),
                   blkio_lines(t.io, True))
            w.file(os.path.join(d, "blkio.throttle.io_serviced_recursive"),
                   blkio_lines(t.io, False))
        elif hdir == "pids":
            if cg.kind != "root":
                w.file(os.path.join(d, "pids.current"), "%d\n" % t.pids)
                w.file(os.path.join(d, "pids.max"),
                       "max\n" if t.pids_max is None else "%d\n" % t.pids_max)
        elif hdir == "cpuset":
            w.file(os.path.join(d, "cpuset.cpus"), "0-7\n")
            w.file(os.path.join(d, "cpuset.mems"), "0\n")


def proc_cgroup_text(node, cg):
    mode = node.cfg["mode"]
    if mode == "v2":
        return "0::%s\n" % cg.path
    lines = ["%d:%s:%s\n" % (hid, field, cg.path)
             for _, field, hid in sorted(node.v1_hier, key=lambda h: -h[2])]
    if mode == "hybrid":
        lines.append("0::%s\n" % cg.path)
    return "".join(lines)


def netdev_text(ifaces):
    out = ["Inter-|   Receive                                                |  Transmit\n",
           " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"]
    for name, c in ifaces:
        out.append("%6s: %7d %7d %4d %4d %4d %5d %10d %9d %8d %7d %4d %4d %4d %5d %7d %10d\n"
                   % (name, *c))
    return "".join(out)


def write_proc(node, w, p, cg, netns, ifaces):
    d = "proc/%d" % p.pid
    w.file(d + "/comm", p.comm[:15] + "\n")
    w.file(d + "/cmdline", "\0".join(p.cmdline) + "\0")
    w.file(d + "/cgroup", proc_cgroup_text(node, cg))
    w.file(d + "/net/dev", netdev_text(ifaces))
    w.link(d + "/ns/net", "net:[%d]" % netns)


def mountinfo_text(node):
    mode = node.cfg["mode"]
    root_dev = {"cgroupfs-v1-docker": "259:1 / / rw,noatime shared:1 - xfs /dev/nvme0n1p1 rw,attr2,inode64,noquota",
                "systemd-hybrid-v1": "253:0 / / rw,relatime shared:1 - ext4 /dev/mapper/ubuntu--vg-ubuntu--lv rw",
                }.get(node.layout, "259:1 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p1 rw,errors=remount-ro")
    lines = ["22 1 %s" % root_dev,
             "23 22 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw",
             "24 22 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw"]
    if mode == "v2":
        lines.append("25 23 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - "
                     "cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot")
    else:
        lines.append("25 23 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs "
                     "ro,mode=755")
        mid, dev = 26, 24
        if mode == "hybrid":
            lines.append("%d 25 0:%d / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime "
                         "shared:9 - cgroup2 cgroup2 rw,nsdelegate" % (mid, dev))
            mid, dev = mid + 1, dev + 1
        for hdir, field, hid in sorted(node.v1_hier, key=lambda h: h[2]):
            opts = ("xattr,name=systemd" if field == "name=systemd" else field)
            if field == "name=systemd":
                opts = "xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd" \
                    if mode == "v1" else "xattr,name=systemd"
            lines.append("%d 25 0:%d / /sys/fs/cgroup/%s rw,nosuid,nodev,noexec,relatime "
                         "shared:%d - cgroup cgroup rw,%s" % (mid, dev, hdir, mid - 16, opts))
            mid, dev = mid + 1, dev + 1
    return "\n".join(lines) + "\n"


def write_node(node, out):
    if os.path.isdir(out):
        for e in os.listdir(out):
            if e in ("README.md",):
                continue
            p = os.path.join(out, e)
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p)
            else:
                os.unlink(p)
    os.makedirs(out, exist_ok=True)
    w = Writer(out)
    mode = node.cfg["mode"]
    k = node.kernel
    # --- cgroups ---
    if mode == "v2":
        for cg in node.root.walk():
            write_v2(node, w, "sys/fs/cgroup", cg, k["memstat"])
    else:
        for cg in node.root.walk():
            write_v1(node, w, cg)
        for name, target in V1_LINKS.items():
            w.link("sys/fs/cgroup/" + name, target)
        if mode == "hybrid":
            for cg in node.root.walk():
                write_unified_hybrid(node, w, "sys/fs/cgroup/unified", cg)
    # --- /proc ---
    host = node.host_ifaces
    w.file("proc/1/comm", "systemd\n")
    w.file("proc/1/cmdline", "/sbin/init\0")
    init = [c for c in node.root.walk() if c.name == "init.scope"]
    w.file("proc/1/cgroup", proc_cgroup_text(node, init[0] if init else node.root))
    w.file("proc/1/net/dev", netdev_text(host))
    w.link("proc/1/ns/net", "net:[%d]" % HOST_NETNS)
    w.file("proc/1/mountinfo", mountinfo_text(node))
    for cg in node.root.walk():
        if cg.kind in ("container", "sandbox", "conmon"):
            pod = cg.pod
            # conmon runs in the host network namespace, the containers in the pod's
            netns = HOST_NETNS if cg.kind == "conmon" else pod.netns
            ifaces = host if (cg.kind == "conmon" or pod.host_network) else pod.ifaces
            for p in cg.procs:
                write_proc(node, w, p, cg, netns, ifaces)
        else:
            for p in cg.procs:
                if p.pid != 1:
                    write_proc(node, w, p, cg, HOST_NETNS, host)
    # --- logs ---
    for pod in node.pods:
        pdir = "var/log/pods/%s_%s_%s" % (pod.ns, pod.name, pod.uid)
        for c in pod.containers:
            ids = [(c.id, c.restarts)] + [(pid_, c.restarts - 1) for pid_ in c.previous_ids]
            for cid, n in ids:
                rel = "%s/%s/%d.log" % (pdir, c.name, n)
                if node.cfg["runtime"] == "docker":
                    jl = "var/lib/docker/containers/%s/%s-json.log" % (cid, cid)
                    w.file(jl, "")
                    w.link(rel, "/" + jl)
                else:
                    w.file(rel, "")
                w.link("var/log/containers/%s_%s_%s-%s.log" % (pod.name, pod.ns, c.name, cid),
                       "/" + rel)
    # --- block devices ---
    for mm, (name, path, dtype, seq) in node.devices.items():
        maj, mn = mm.split(":")
        text = "MAJOR=%s\nMINOR=%s\nDEVNAME=%s\nDEVTYPE=%s\n" % (maj, mn, name, dtype)
        if k.get("diskseq"):
            text += "DISKSEQ=%d\n" % seq
        if dtype == "partition":
            text += "PARTN=1\n"
        w.file("sys/devices/%s/uevent" % path, text)
        w.link("sys/dev/block/%s" % mm, "../../devices/%s" % path)
        if dtype == "disk":
            w.link("sys/block/%s" % name, "../devices/%s" % path)
    # --- expected ---
    exp = expected_of(node)
    text = json.dumps(exp, indent=1, sort_keys=False) + "\n"
    with open(os.path.join(out, "expected.json"), "w") as f:
        f.write(text)
    w.files += 1
    w.bytes += len(text)
    ncg = sum(1 for _ in node.root.walk())
    return w, ncg


# ---------------------------------------------------------------------------------------
# expected.json from the model
# ---------------------------------------------------------------------------------------

def expected_of(node):
    mode = node.cfg["mode"]
    v2 = mode == "v2"
    k = node.kernel
    series = []

    def add(name, labels, value):
        series.append({"name": name, "labels": labels, "value": value})

    def emit(cg, base):
        t = cg.tot
        if v2:
            add("container_cpu_usage_seconds_total", base, (t.cpu_ns // 1000) / 1e6)
            add("container_cpu_user_seconds_total", base, (t.user_ns // 1000) / 1e6)
            add("container_cpu_system_seconds_total", base, (t.sys_ns // 1000) / 1e6)
            add("container_cpu_cfs_throttled_seconds_total", base, (t.throttled_ns // 1000) / 1e6)
        else:
            add("container_cpu_usage_seconds_total", base, t.cpu_ns / 1e9)
            add("container_cpu_user_seconds_total", base, t.user_ticks / USER_HZ)
            add("container_cpu_system_seconds_total", base, t.sys_ticks / USER_HZ)
            add("container_cpu_cfs_throttled_seconds_total", base, t.throttled_ns / 1e9)
        add("container_cpu_cfs_periods_total", base, t.nr_periods)
        add("container_cpu_cfs_throttled_periods_total", base, t.nr_throttled)
        m = t.mem
        usage = t.current
        ws = max(0, usage - m["inactive_file"])
        add("container_memory_usage_bytes", base, usage)
        add("container_memory_working_set_bytes", base, ws)
        add("kmon_container_memory_nonreclaimable_bytes", base, max(0, ws - m["active_file"]))
        add("container_memory_rss", base, m["anon"])
        add("container_memory_cache", base, m["file"])
        add("container_memory_mapped_file", base, m["file_mapped"])
        if v2 or k["memsw"]:
            add("container_memory_swap", base, t.swap)
        if v2:
            add("container_memory_failcnt", base, t.events.get("max", 0))
            add("container_oom_events_total", base, t.events.get("oom_kill", 0))
        else:
            add("container_memory_failcnt", base, t.failcnt)
        if t.quota_us is not None:
            add("container_spec_cpu_quota", base, t.quota_us)
        add("container_spec_cpu_period", base, t.period_us)
        add("container_spec_cpu_shares", base,
            shares_of_weight(weight_of_shares(t.shares)) if v2 else t.shares)
        add("container_spec_memory_limit_bytes", base, 0 if t.limit is None else t.limit)
        for d, v in t.io.items():
            if v2 and not any(v):
                continue
            lab = dict(base, device="/dev/" + node.devices[d][0])
            add("container_fs_reads_bytes_total", lab, v[0])
            add("container_fs_writes_bytes_total", lab, v[1])
            add("container_fs_reads_total", lab, v[2])
            add("container_fs_writes_total", lab, v[3])
        add("container_processes", base, t.pids)
        if v2 or mode == "hybrid":
            # A hybrid host's unified hierarchy has the pressure files (without cpu's
            # full line before 5.13); the agent reads them there.
            for r in ("cpu", "memory", "io"):
                add("container_pressure_%s_waiting_seconds_total" % r, base, t.psi[r][0] / 1e6)
                if v2 or r != "cpu" or k["cpu_psi_full"]:
                    add("container_pressure_%s_stalled_seconds_total" % r, base,
                        t.psi[r][1] / 1e6)

    containers, sandboxes, conmons, hostnet = [], [], [], []
    for pod in node.pods:
        lab = {"namespace": pod.ns, "pod": pod.name, "container": "", "pod_uid": pod.uid}
        emit(pod.cg, lab)
        if pod.host_network:
            hostnet.append({"namespace": pod.ns, "pod": pod.name, "pod_uid": pod.uid})
        else:
            for name, c in pod.ifaces:
                if name == "lo":
                    continue
                il = dict(lab, interface=name)
                for i, mname in ((0, "receive_bytes"), (1, "receive_packets"),
                                 (2, "receive_errors"), (3, "receive_packets_dropped"),
                                 (8, "transmit_bytes"), (9, "transmit_packets"),
                                 (10, "transmit_errors"), (11, "transmit_packets_dropped")):
                    add("container_network_%s_total" % mname, il, c[i])
        for c in pod.containers:
            emit(c.cg, dict(lab, container=c.name))
            containers.append({"namespace": pod.ns, "pod": pod.name, "pod_uid": pod.uid,
                               "container": c.name, "container_id": c.id,
                               "runtime": node.cfg["runtime"], "qos": pod.qos,
                               "cgroup_path": c.cg.path})
        sandboxes.append({"namespace": pod.ns, "pod": pod.name, "pod_uid": pod.uid,
                          "container_id": pod.sandbox.id, "cgroup_path": pod.sandbox.cg.path})
        for cg in pod.conmons:
            conmons.append({"namespace": pod.ns, "pod": pod.name, "pod_uid": pod.uid,
                            "container_id": cg.ctr.id, "cgroup_path": cg.path})
    series.sort(key=lambda s: (s["name"], sorted(s["labels"].items())))
    return {"layout": node.layout, "kernel": k["release"], "cgroup_mode": mode,
            "cgroup_driver": node.cfg["driver"], "runtime": node.cfg["runtime"],
            "containers": containers, "sandboxes": sandboxes, "conmon_scopes": conmons,
            "host_network_pods": hostnet, "series": series}


def make_node(layout, rng):
    node = Node(layout, rng, default_devices(layout), default_host_ifaces(layout, rng))
    node.v1_hier = V1_HIERARCHIES
    return node


# ---------------------------------------------------------------------------------------
# The benchmark node: N random pods
# ---------------------------------------------------------------------------------------

NAMESPACES = ["default", "kube-system", "shop", "payments", "search", "monitoring", "batch",
              "ml", "auth", "ingress"]
APPS = [("api", "python3"), ("web", "nginx"), ("worker", "java"), ("cache", "redis-server"),
        ("proxy", "envoy"), ("exporter", "node_exporter"), ("db", "postgres"),
        ("queue", "beam.smp"), ("search", "java"), ("frontend", "node"), ("sidecar", "fluent-bit")]
SUFFIX = "bcdfghjklmnpqrstvwxz2456789"


def random_pods(rng, n, devices):
    disks = [d for d, v in devices.items() if v[2] == "disk"]
    pods = []
    for i in range(n):
        app, comm = rng.choice(APPS)
        qos = rng.choices(["Burstable", "BestEffort", "Guaranteed"], [6, 2, 2])[0]
        rs = "".join(rng.choice(SUFFIX) for _ in range(rng.choice([9, 10])))
        name = "%s-%d-%s-%s" % (app, i, rs[:-5], rs[-5:])
        ctrs = []
        for j in range(rng.choice([1, 1, 1, 2, 2, 3])):
            cname = app if j == 0 else rng.choice(["istio-proxy", "log-shipper", "metrics",
                                                   "config-reloader"]) + ("" if j == 1 else "-2")
            cs = {"name": cname, "image": "registry.example/%s:1.%d" % (cname, rng.randrange(30)),
                  "procs": [(comm if j == 0 else cname[:15], [comm if j == 0 else cname],
                             rng.randrange(1, 40))],
                  "cpu_s": rng.lognormvariate(4.5, 1.6),
                  "mem": int(rng.lognormvariate(18.5, 1.1)),
                  "io": {d: (rng.randrange(0, 1 << 31), rng.randrange(0, 1 << 32))
                         for d in rng.sample(disks, rng.randrange(0, min(3, len(disks)) + 1))}}
            if qos != "BestEffort":
                cs["req_cpu_m"] = rng.choice([10, 50, 100, 250, 500, 1000, 2000])
            if qos == "Guaranteed" or (qos == "Burstable" and rng.random() < 0.4):
                lim_m = cs.get("req_cpu_m", 100) * (1 if qos == "Guaranteed" else 2)
                cs["quota_us"] = lim_m * 100
                if qos == "Guaranteed":
                    cs["req_cpu_m"] = lim_m
                cs["limit_mem"] = max(pg(cs["mem"] * rng.uniform(1.1, 3)), 64 << 20)
            if "limit_mem" in cs and rng.random() < 0.1:
                cs["mem_max_events"] = rng.randrange(1, 400)
                cs["oom_kill"] = rng.choice([0, 1, 2])
            ctrs.append(cs)
        pods.append({"ns": rng.choice(NAMESPACES), "name": name, "qos": qos,
                     "host_network": rng.random() < 0.05, "containers": ctrs,
                     "pids_max": rng.choice([None, None, 4096])})
    return pods


def build_random(layout, npods, seed):
    rng = random.Random("kmon-bench:%s:%d:%d" % (layout, npods, seed))
    node = make_node(layout, rng)
    add_host_cgroups(node)
    for spec in random_pods(rng, npods, node.devices):
        node.add_pod(spec)
    node.finish()
    return node


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--pods", type=int, default=110)
    ap.add_argument("--layout", default="systemd-v2-containerd", choices=sorted(LAYOUTS))
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    if a.pods < 1:
        ap.error("--pods must be at least 1")
    if os.path.isdir(a.outdir) and os.listdir(a.outdir) and \
            not os.path.isfile(os.path.join(a.outdir, "expected.json")):
        ap.error("%s exists and is not a tree this tool wrote (no expected.json); "
                 "refusing to empty it" % a.outdir)
    node = build_random(a.layout, a.pods, a.seed)
    w, ncg = write_node(node, a.outdir)
    nctr = sum(len(p.containers) for p in node.pods)
    print("%s: layout=%s pods=%d containers=%d (+%d sandboxes%s) cgroups=%d files=%d bytes=%d"
          % (a.outdir, a.layout, len(node.pods), nctr, len(node.pods),
             ", +%d conmon" % sum(len(p.conmons) for p in node.pods)
             if node.cfg["runtime"] == "cri-o" else "", ncg, w.files, w.bytes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
