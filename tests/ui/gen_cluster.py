#!/usr/bin/env python3
"""A Kubernetes cluster's metrics, made up and pushed to a server through remote_write:
the dataset the dashboard's browser tests and its benchmark share.

N nodes (node-exporter names, as kmon's agent ships them: labels cluster and node) and P
pods spread over namespaces and workloads (Deployments, StatefulSets, DaemonSets, Jobs)
with cAdvisor-named container series (namespace, pod, container, pod_uid, node,
workload_kind, workload) and kube-state-metrics-named cluster state (kube_pod_info,
kube_pod_status_phase, requests and limits, restarts, nodes, workloads), every `step`
over the last `minutes` up to now. Some pods are Pending (no container series), some
restart, some run near their CPU limit (throttled); the last nodes stop reporting
`--silent-minutes` before now. The same --seed gives the same cluster.

Prints one JSON line describing what it pushed (counts and a few names the tests look
for). Standard library only (tests/runtime/rwlib.py builds the requests)."""
import argparse
import json
import math
import os
import random
import struct
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "runtime"))
import rwlib  # noqa: E402

NAMESPACES = ["kube-system", "monitoring", "ingress", "default", "payments", "checkout",
              "search", "catalog", "accounts", "analytics", "batch", "ml-serving",
              "logging", "staging", "team-a", "team-b"]
MODES = ["user", "system", "idle", "iowait", "irq", "softirq", "steal", "nice"]
GiB = 1 << 30
MiB = 1 << 20


def suffix(rng, n=5):
    return "".join(rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(n))


class Cluster:
    """The cluster's objects (no samples yet): nodes, workloads, pods, containers."""

    def __init__(self, nodes, pods, seed, cluster):
        rng = random.Random(seed)
        self.cluster = cluster
        self.nodes = []
        for i in range(nodes):
            cpus = rng.choice([4, 8, 8, 16, 16, 32])
            self.nodes.append({"name": f"node-{i:03d}", "cpus": cpus,
                               "mem": cpus * rng.choice([4, 8]) * GiB,
                               "disk": rng.choice([100, 200, 500]) * GiB,
                               "fill": rng.uniform(0.15, 0.92)})
        self.workloads = []
        self.pods = []
        # One DaemonSet pod per node in kube-system and monitoring, then Deployments,
        # StatefulSets and Jobs until P pods exist.
        for ns, name in (("kube-system", "kube-proxy"), ("monitoring", "kmon-agent")):
            w = {"kind": "DaemonSet", "ns": ns, "name": name, "replicas": nodes}
            self.workloads.append(w)
            for n in self.nodes:
                self._pod(rng, w, f"{name}-{suffix(rng)}", n)
        while len(self.pods) < pods:
            ns = rng.choice(NAMESPACES[2:])
            r = rng.random()
            if r < 0.75:
                kind, reps = "Deployment", rng.choice([1, 2, 2, 3, 3, 5, 8, 12, 20])
            elif r < 0.9:
                kind, reps = "StatefulSet", rng.choice([1, 3, 3, 5])
            else:
                kind, reps = "Job", 1
            base = rng.choice(["api", "web", "worker", "db", "cache", "queue", "frontend",
                               "backend", "cron", "etl", "gateway", "auth", "indexer"])
            name = f"{base}-{suffix(rng, 4)}"
            reps = min(reps, pods - len(self.pods))
            w = {"kind": kind, "ns": ns, "name": name, "replicas": reps}
            self.workloads.append(w)
            rs = suffix(rng, 10)
            for k in range(reps):
                if kind == "Deployment":
                    pname = f"{name}-{rs}-{suffix(rng)}"
                elif kind == "StatefulSet":
                    pname = f"{name}-{k}"
                else:
                    pname = f"{name}-{suffix(rng)}"
                self._pod(rng, w, pname, rng.choice(self.nodes))

    def _pod(self, rng, w, name, node):
        uid = "%08x-%04x-4%03x-8%03x-%012x" % (rng.getrandbits(32), rng.getrandbits(16),
                                                rng.getrandbits(12), rng.getrandbits(12),
                                                rng.getrandbits(48))
        phase = "Running"
        if rng.random() < 0.02:
            phase = "Pending"
        elif w["kind"] == "Job" and rng.random() < 0.5:
            phase = "Succeeded"
        busy = rng.random() ** 3  # most pods idle, a few busy
        containers = []
        for c in range(1 if rng.random() < 0.7 else 2):
            req = rng.choice([50, 100, 100, 250, 500, 1000]) / 1000.0
            lim = None if rng.random() < 0.3 else req * rng.choice([1, 2, 4])
            mreq = rng.choice([64, 128, 256, 512, 1024]) * MiB
            containers.append({
                "name": w["name"].split("-")[0] if c == 0 else "sidecar",
                "cpu_req": req, "cpu_lim": lim, "mem_req": mreq,
                "mem_lim": None if rng.random() < 0.2 else mreq * 2,
                "cpu": (lim or req * 2) * (0.02 + busy * 0.95) if c == 0 else 0.01,
                "mem": mreq * rng.uniform(0.3, 1.3),
                "restarts": rng.choice([0] * 30 + [1, 2, 40]),
            })
        self.pods.append({"ns": w["ns"], "name": name, "uid": uid, "node": node["name"],
                          "w": w, "phase": phase, "containers": containers,
                          "net": rng.uniform(1e3, 5e6) * (0.1 + busy)})


class Writer:
    """Series with samples on the shared time grid, encoded straight to WriteRequest
    bytes and sent in bodies of about `limit` bytes."""

    def __init__(self, url, times, limit=8 << 20):
        self.url = url.rstrip("/") + "/api/v1/write"
        self.times = times
        self.tvar = [rwlib.varint(t) for t in times]
        self.limit = limit
        self.parts = []
        self.size = 0
        self.series = 0
        self.samples = 0
        self.requests = 0

    def add(self, labels, values, first=0):
        """labels: dict; values: one per time from index `first` (None: no sample)."""
        lab = b"".join(rwlib.field(1, 2, rwlib.label(k, v))
                       for k, v in sorted(labels.items()) if v is not None)
        smp = []
        for i, v in enumerate(values, first):
            if v is None:
                continue
            body = b"\x09" + struct.pack("<d", v) + b"\x10" + self.tvar[i]
            smp.append(b"\x12" + bytes([len(body)]) + body)
        if not smp:
            return
        ts = lab + b"".join(smp)
        part = rwlib.field(1, 2, ts)
        self.parts.append(part)
        self.size += len(part)
        self.series += 1
        self.samples += len(smp)
        if self.size >= self.limit:
            self.flush()

    def flush(self):
        if not self.parts:
            return
        body = rwlib.snappy(b"".join(self.parts))
        req = urllib.request.Request(self.url, data=body, headers=rwlib.HEADERS, method="POST")
        with urllib.request.urlopen(req, timeout=120) as r:
            if r.status not in (200, 204):
                raise SystemExit(f"gen_cluster: {self.url} answered {r.status}")
        self.requests += 1
        self.parts = []
        self.size = 0


def counter(rate, times, rng, start=0.0, jitter=0.25):
    """A counter growing at about `rate`/s."""
    out, v = [], start
    prev = times[0]
    for t in times:
        v += max(0.0, rate * (1 + rng.uniform(-jitter, jitter))) * (t - prev) / 1000.0
        prev = t
        out.append(v)
    return out


def gauge(level, times, rng, wobble=0.05, period_ms=1800000):
    phase = rng.uniform(0, 2 * math.pi)
    return [level * (1 + wobble * math.sin(phase + 2 * math.pi * t / period_ms) +
                     rng.uniform(-wobble, wobble) / 2) for t in times]


def push_nodes(c, w, times, rng, silent_from):
    base = {"cluster": c.cluster}
    for i, n in enumerate(c.nodes):
        end = silent_from if i >= len(c.nodes) - c.silent else len(times)
        tt = times[:end]
        lab = dict(base, node=n["name"])
        busy = rng.uniform(0.05, 0.85)
        for cpu in range(n["cpus"]):
            for m in MODES:
                share = {"idle": 1 - busy, "user": busy * 0.7, "system": busy * 0.2,
                         "iowait": busy * 0.05, "softirq": busy * 0.03, "irq": 0.005,
                         "steal": 0.001, "nice": 0.002}[m]
                w.add(dict(lab, __name__="node_cpu_seconds_total", cpu=str(cpu), mode=m),
                      counter(share, tt, rng, start=86400 * share))
        avail = n["mem"] * rng.uniform(0.2, 0.7)
        w.add(dict(lab, __name__="node_memory_MemTotal_bytes"), [float(n["mem"])] * end)
        w.add(dict(lab, __name__="node_memory_MemAvailable_bytes"), gauge(avail, tt, rng))
        w.add(dict(lab, __name__="node_memory_MemFree_bytes"), gauge(avail * 0.4, tt, rng))
        w.add(dict(lab, __name__="node_memory_Cached_bytes"), gauge(avail * 0.5, tt, rng))
        w.add(dict(lab, __name__="node_memory_Buffers_bytes"), gauge(avail * 0.05, tt, rng))
        for mp, dev, size in (("/", "/dev/sda1", n["disk"]), ("/var/lib/kubelet", "/dev/sdb1",
                                                              n["disk"] * 2)):
            fl = dict(lab, mountpoint=mp, device=dev, fstype="ext4")
            w.add(dict(fl, __name__="node_filesystem_size_bytes"), [float(size)] * end)
            w.add(dict(fl, __name__="node_filesystem_avail_bytes"),
                  gauge(size * (1 - n["fill"]), tt, rng, wobble=0.01))
        for name, rate in (("node_disk_read_bytes_total", 2e6), ("node_disk_written_bytes_total",
                                                                5e6)):
            w.add(dict(lab, __name__=name, device="sda"), counter(rate * busy, tt, rng))
        for name, rate in (("node_network_receive_bytes_total", 8e6),
                           ("node_network_transmit_bytes_total", 6e6)):
            w.add(dict(lab, __name__=name, device="eth0"), counter(rate * busy, tt, rng))
        for k in ("1", "5", "15"):
            w.add(dict(lab, __name__="node_load" + k), gauge(n["cpus"] * busy, tt, rng, 0.2))
        for res in ("cpu", "io", "memory"):
            for kind in ("waiting", "stalled"):
                w.add(dict(lab, __name__=f"node_pressure_{res}_{kind}_seconds_total"),
                      counter(busy * 0.02, tt, rng))
        w.add(dict(lab, __name__="node_boot_time_seconds"), [times[0] / 1000.0 - 86400] * end)
        w.add(dict(lab, __name__="node_time_seconds"), [t / 1000.0 for t in tt])
        w.add(dict(lab, __name__="node_uname_info", sysname="Linux", release="6.1.0-26-amd64",
                   machine="x86_64", nodename=n["name"]), [1.0] * end)


def push_pods(c, w, times, rng):
    for p in c.pods:
        if p["phase"] != "Running":
            continue
        lab = {"cluster": c.cluster, "namespace": p["ns"], "pod": p["name"],
               "pod_uid": p["uid"], "node": p["node"], "workload_kind": p["w"]["kind"],
               "workload": p["w"]["name"]}
        start = [times[0] / 1000.0 - 3600 * rng.uniform(1, 100)] * len(times)
        tot_cpu = [0.0] * len(times)
        tot_mem = [0.0] * len(times)
        for ct in p["containers"]:
            cl = dict(lab, container=ct["name"])
            cpu = counter(ct["cpu"], times, rng, start=1000 * ct["cpu"])
            mem = gauge(ct["mem"], times, rng, 0.08)
            tot_cpu = [a + b for a, b in zip(tot_cpu, cpu)]
            tot_mem = [a + b for a, b in zip(tot_mem, mem)]
            w.add(dict(cl, __name__="container_cpu_usage_seconds_total"), cpu)
            w.add(dict(cl, __name__="container_memory_working_set_bytes"), mem)
            w.add(dict(cl, __name__="container_memory_usage_bytes"), [m * 1.2 for m in mem])
            w.add(dict(cl, __name__="container_memory_rss"), [m * 0.8 for m in mem])
            w.add(dict(cl, __name__="container_start_time_seconds"), start)
            if ct["cpu_lim"]:
                w.add(dict(cl, __name__="container_spec_cpu_quota"),
                      [ct["cpu_lim"] * 100000] * len(times))
                w.add(dict(cl, __name__="container_spec_cpu_period"), [100000.0] * len(times))
                near = ct["cpu"] / ct["cpu_lim"]
                w.add(dict(cl, __name__="container_cpu_cfs_periods_total"),
                      counter(10, times, rng, jitter=0))
                w.add(dict(cl, __name__="container_cpu_cfs_throttled_periods_total"),
                      counter(10 * max(0.0, near - 0.6), times, rng))
            if ct["mem_lim"]:
                w.add(dict(cl, __name__="container_spec_memory_limit_bytes"),
                      [float(ct["mem_lim"])] * len(times))
        pl = dict(lab, container="")
        w.add(dict(pl, __name__="container_cpu_usage_seconds_total"), tot_cpu)
        w.add(dict(pl, __name__="container_memory_working_set_bytes"), tot_mem)
        w.add(dict(pl, __name__="container_network_receive_bytes_total"),
              counter(p["net"], times, rng))
        w.add(dict(pl, __name__="container_network_transmit_bytes_total"),
              counter(p["net"] * 0.6, times, rng))


def push_state(c, w, times):
    """kube-state-metrics families, every step (constant over the window but for the
    restart counters)."""
    n = len(times)
    base = {"cluster": c.cluster}

    def const(labels, v):
        w.add(dict(base, **labels), [float(v)] * n)

    for node in c.nodes:
        nl = {"node": node["name"]}
        const(dict(nl, __name__="kube_node_info", kernel_version="6.1.0-26-amd64",
                   kubelet_version="v1.32.2", os_image="Debian GNU/Linux 12 (bookworm)",
                   container_runtime_version="containerd://1.7.24"), 1)
        for res, unit, cap in (("cpu", "core", node["cpus"]), ("memory", "byte", node["mem"]),
                               ("pods", "integer", 110)):
            const(dict(nl, __name__="kube_node_status_capacity", resource=res, unit=unit), cap)
            const(dict(nl, __name__="kube_node_status_allocatable", resource=res, unit=unit),
                  cap * (0.95 if res != "pods" else 1))
        silent = node in c.nodes[len(c.nodes) - c.silent:]
        for st in ("true", "false", "unknown"):
            v = (st == "unknown") if silent else (st == "true")
            const(dict(nl, __name__="kube_node_status_condition", condition="Ready", status=st),
                  int(v))
    for ns in NAMESPACES:
        const({"__name__": "kube_namespace_status_phase", "namespace": ns, "phase": "Active"},
              1)
    for wl in c.workloads:
        k, lab = wl["kind"], {"namespace": wl["ns"]}
        if k == "Deployment":
            lab["deployment"] = wl["name"]
            const(dict(lab, __name__="kube_deployment_spec_replicas"), wl["replicas"])
            const(dict(lab, __name__="kube_deployment_status_replicas_available"),
                  wl["available"])
        elif k == "StatefulSet":
            lab["statefulset"] = wl["name"]
            const(dict(lab, __name__="kube_statefulset_replicas"), wl["replicas"])
            const(dict(lab, __name__="kube_statefulset_status_replicas_ready"), wl["available"])
        elif k == "DaemonSet":
            lab["daemonset"] = wl["name"]
            const(dict(lab, __name__="kube_daemonset_status_desired_number_scheduled"),
                  wl["replicas"])
            const(dict(lab, __name__="kube_daemonset_status_number_ready"), wl["available"])
        else:
            lab["job_name"] = wl["name"]
            const(dict(lab, __name__="kube_job_status_active"), wl["replicas"] - wl["done"])
            const(dict(lab, __name__="kube_job_status_succeeded"), wl["done"])
            const(dict(lab, __name__="kube_job_status_failed"), 0)
    rng = random.Random(7)
    for p in c.pods:
        pl = {"namespace": p["ns"], "pod": p["name"], "uid": p["uid"]}
        owner = "ReplicaSet" if p["w"]["kind"] == "Deployment" else p["w"]["kind"]
        const(dict(pl, __name__="kube_pod_info", node="" if p["phase"] == "Pending" else
                   p["node"], created_by_kind=owner, created_by_name=p["w"]["name"],
                   host_network="false", pod_ip="10.%d.%d.%d" % (rng.randrange(256),
                                                                 rng.randrange(256),
                                                                 rng.randrange(256))), 1)
        const(dict(pl, __name__="kube_pod_owner", owner_kind=owner, owner_name=p["w"]["name"],
                   owner_is_controller="true"), 1)
        for ph in ("Pending", "Running", "Succeeded", "Failed", "Unknown"):
            const(dict(pl, __name__="kube_pod_status_phase", phase=ph), int(ph == p["phase"]))
        for ct in p["containers"]:
            cl = dict(pl, container=ct["name"])
            r0 = ct["restarts"]
            if r0 >= 40:  # crash-looping: one more restart every 5 minutes
                w.add(dict(base, __name__="kube_pod_container_status_restarts_total", **cl),
                      [float(r0 + (t - times[0]) // 300000) for t in times])
            else:
                const(dict(cl, __name__="kube_pod_container_status_restarts_total"), r0)
            const(dict(cl, __name__="kube_pod_container_resource_requests", resource="cpu",
                       unit="core"), ct["cpu_req"])
            const(dict(cl, __name__="kube_pod_container_resource_requests", resource="memory",
                       unit="byte"), ct["mem_req"])
            if ct["cpu_lim"]:
                const(dict(cl, __name__="kube_pod_container_resource_limits", resource="cpu",
                           unit="core"), ct["cpu_lim"])
            if ct["mem_lim"]:
                const(dict(cl, __name__="kube_pod_container_resource_limits",
                           resource="memory", unit="byte"), ct["mem_lim"])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--url", required=True, help="the server's base URL (remote_write at "
                    "/api/v1/write)")
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--pods", type=int, default=3000)
    ap.add_argument("--minutes", type=int, default=60, help="history before now (60)")
    ap.add_argument("--step", type=int, default=30, help="seconds between samples (30)")
    ap.add_argument("--silent", type=int, default=2, help="nodes that stopped reporting (2)")
    ap.add_argument("--silent-minutes", type=int, default=15,
                    help="how long before now they stopped (15)")
    ap.add_argument("--cluster", default="", help="the cluster label (none)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-state", action="store_true", help="no kube_* series (as without "
                    "--cluster-state)")
    a = ap.parse_args(argv)
    if a.nodes < 1 or a.pods < 2 * a.nodes or a.step < 1 or a.minutes < 1:
        ap.error("need at least one node, two pods per node (DaemonSets), step and minutes > 0")

    t0 = time.monotonic()
    c = Cluster(a.nodes, a.pods, a.seed, a.cluster or None)
    c.silent = min(a.silent, a.nodes - 1)
    for wl in c.workloads:
        pods = [p for p in c.pods if p["w"] is wl]
        wl["available"] = sum(p["phase"] == "Running" for p in pods)
        wl["done"] = sum(p["phase"] == "Succeeded" for p in pods)
    now = int(time.time()) // a.step * a.step * 1000
    times = list(range(now - a.minutes * 60000, now + 1, a.step * 1000))
    silent_from = len([t for t in times if t <= now - a.silent_minutes * 60000])
    w = Writer(a.url, times)
    rng = random.Random(a.seed + 1)
    push_nodes(c, w, times, rng, silent_from)
    push_pods(c, w, times, rng)
    if not a.no_state:
        push_state(c, w, times)
    w.flush()
    running = [p for p in c.pods if p["phase"] == "Running"]
    busiest = max(running, key=lambda p: p["containers"][0]["cpu"])
    print(json.dumps({
        "series": w.series, "samples": w.samples, "requests": w.requests,
        "seconds": round(time.monotonic() - t0, 1), "now_ms": now,
        "nodes": a.nodes, "silent_nodes": [n["name"] for n in c.nodes[a.nodes - c.silent:]],
        "pods": len(c.pods), "running": len(running),
        "pending": sum(p["phase"] == "Pending" for p in c.pods),
        "namespaces": sorted({p["ns"] for p in c.pods}),
        "workloads": len(c.workloads), "busiest_pod": [busiest["ns"], busiest["name"]],
        "cluster": a.cluster,
    }))


if __name__ == "__main__":
    main()
