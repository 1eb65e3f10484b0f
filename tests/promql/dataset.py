"""The differential suite's dataset: a deterministic set of series (same seed, same
start -> the same bytes) covering what PromQL's semantics depend on, and its encoding as
Prometheus remote_write 1.0 requests (protobuf + literal-only snappy, tests/runtime/rwlib.py),
with the families' metadata (TYPE, HELP, UNIT) as a request of its own: Prometheus 2.42's
receiver drops metadata, so the suite never sends it; tests/runtime/test_metadata.py does.

Everything is placed relative to a start time S (ms, a whole hour) and lasts SPAN (3 h,
under the 3 h span at which Prometheus 2.42 compacts its head, so that pushing in time
order is always accepted). Targets are scraped like Prometheus scrapes them: a phase, an
interval, a few ms of jitter, `up`, and stale markers (0x7ff0000000000002) written at the
first scrape after a series or target disappears:

  node-exporter   4 nodes, 15 s: node-3 starts at 40m, node-4 is removed at 2h20m,
                  node-2 is down (up=0, stale markers) from 1h10m to 1h35m,
                  node-1 reboots at 1h50m (every counter restarts near zero)
  kubelet         cAdvisor series per container, per pod (no container label) and per
                  node root (id="/"), 15 s; pods come and go, one container restarts
  kube-state-metrics  30 s; kube_pod_info, _owner, _status_phase, requests, limits, nodes
  apiserver       2 instances, 10 s; request histograms and counters by code
  test            exact 15 s (no jitter) and other intervals (1 s, 10 s, 60 s, 7 s):
                  special floats, counters with resets, edge-case histograms, staleness,
                  gaps beyond the 5 m lookback, regex-hostile label values

A label with an empty value is the same as no label (Prometheus drops it on ingest),
so the dataset never sends one; `container=""` in a selector matches series without it.
"""
import os
import random
import struct
import sys
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "runtime"))
import rwlib  # noqa: E402

SEED = 20240610
SPAN_MS = 3 * 3600 * 1000 - 1000  # last sample strictly before S + 3h
MIN = 60 * 1000
H = 60 * MIN

STALE_BITS = 0x7FF0000000000002  # Prometheus' value.StaleNaN
GO_NAN_BITS = 0x7FF8000000000001  # Go's math.NaN(), what a Go client sends as NaN


class _Stale(float):
    """The stale marker: a NaN that is encoded with StaleNaN's exact bits."""

    def __repr__(self):
        return "STALE"


STALE = _Stale("nan")


def _bits_bytes(bits):
    return struct.pack("<Q", bits)


def encode_value(v):
    if v is STALE:
        return _bits_bytes(STALE_BITS)
    if v != v:
        return _bits_bytes(GO_NAN_BITS)
    return struct.pack("<d", v)


def _rng(*key):
    return random.Random(zlib.crc32(repr((SEED,) + key).encode()))


class Target:
    """A scrape target: its scrape times and whether each scrape succeeded."""

    def __init__(self, name, start_ms, interval_ms, phase_ms, jitter_ms=0, life=(0, SPAN_MS),
                 down=()):
        r = _rng("target", name)
        self.name = name
        self.times = []  # (t_ms, up)
        k = 0
        while True:
            off = phase_ms + k * interval_ms
            if off > SPAN_MS:
                break
            t = off + (r.randint(-jitter_ms, jitter_ms) if jitter_ms else 0)
            k += 1
            if not (life[0] <= off < life[1]) or t < 0 or t > SPAN_MS:
                continue
            up = not any(a <= off < b for a, b in down)
            self.times.append((start_ms + t, up))
        self.start = start_ms
        self.end_ms = start_ms + life[1]  # the target is removed here (stale markers)
        self.removed = life[1] < SPAN_MS


class Dataset:
    def __init__(self, start_ms):
        self.start = start_ms
        self.series = {}  # labels tuple -> [(t, v)]

    def add(self, labels, samples):
        key = tuple(sorted((k, str(v)) for k, v in labels.items() if str(v) != ""))
        assert key not in self.series, f"duplicate series {key}"
        assert all(samples[i][0] < samples[i + 1][0] for i in range(len(samples) - 1)), key
        self.series[key] = samples

    def scrape(self, target, labels, fn, alive=None):
        """One series of `target`: fn(t_ms, rel_ms) gives the value of each successful
        scrape while alive(rel_ms) (default: always); a stale marker follows the last
        sample of every run of presence (series gone, target down or removed)."""
        out, present = [], False
        for t, up in target.times:
            rel = t - self.start
            here = up and (alive is None or alive(rel))
            if here:
                out.append((t, fn(t, rel)))
                present = True
            elif present:
                out.append((t, STALE))
                present = False
        if present and target.removed:
            out.append((target.end_ms + 1000, STALE))
        if out:
            self.add(labels, out)

    def present_at(self, t_ms, lookback_ms=5 * MIN):
        """How many series an instant selector sees at t_ms: the newest sample at or
        before t_ms is at most lookback_ms old (inclusive in Prometheus 2.42) and is
        not a stale marker."""
        import bisect
        n = 0
        for samples in self.series.values():
            i = bisect.bisect_right(samples, (t_ms, float("inf"))) - 1
            while i >= 0 and samples[i][0] > t_ms:
                i -= 1
            if i >= 0 and samples[i][0] >= t_ms - lookback_ms and samples[i][1] is not STALE:
                n += 1
        return n

    def count_samples(self):
        return sum(len(s) for s in self.series.values())

    # ---- metric metadata ----------------------------------------------------------

    def metadata(self):
        """{family: (type, help, unit)} as the exporters imitated here publish it: a
        histogram's family is its name without _bucket, _sum and _count; _total names are
        counters, _info names info, the rest gauges; units from a _seconds or _bytes
        suffix."""
        names = {dict(key)["__name__"] for key in self.series}
        hist = {n[:-len("_bucket")] for n in names if n.endswith("_bucket")}
        out = {}
        for n in sorted(names):
            fam = next((n[:-len(s)] for s in ("_bucket", "_sum", "_count")
                        if n.endswith(s) and n[:-len(s)] in hist), n)
            if fam in hist:
                t = "histogram"
            elif n.endswith("_total"):
                t = "counter"
            elif n.endswith("_info"):
                t = "info"
            else:
                t = "gauge"
            unit = next((u for u in ("seconds", "bytes") if fam.endswith("_" + u) or
                         fam.endswith(f"_{u}_total")), "")
            out[fam] = (t, f"{fam}: the differential suite's {t}.", unit)
        return out

    def metadata_request(self):
        """The families' metadata as one remote_write request of metadata only."""
        md = self.metadata()
        return rwlib.snappy(b"".join(rwlib.metadata(t, name, h, u)
                                     for name, (t, h, u) in sorted(md.items())))

    # ---- encoding -----------------------------------------------------------------

    def requests(self, window_ms=15 * MIN):
        """The whole dataset as remote_write bodies (snappy-compressed), in time order:
        one request per window, every series' samples of that window."""
        enc_labels = {}
        for key in self.series:
            enc_labels[key] = b"".join(rwlib.field(1, 2, rwlib.label(n, v)) for n, v in key)
        cursors = {key: 0 for key in self.series}
        out = []
        t0 = self.start
        end = self.start + SPAN_MS + 2 * MIN
        while t0 <= end:
            t1 = t0 + window_ms
            ts_parts = []
            for key, samples in self.series.items():
                i = cursors[key]
                j = i
                n = len(samples)
                while j < n and samples[j][0] < t1:
                    j += 1
                if j == i:
                    continue
                cursors[key] = j
                body = [enc_labels[key]]
                for t, v in samples[i:j]:
                    s = b"\x09" + encode_value(v) + b"\x10" + rwlib.varint(t)
                    body.append(b"\x12" + rwlib.varint(len(s)) + s)
                ts = b"".join(body)
                ts_parts.append(b"\x0a" + rwlib.varint(len(ts)) + ts)
            if ts_parts:
                out.append(rwlib.snappy(b"".join(ts_parts)))
            t0 = t1
        assert all(cursors[k] == len(s) for k, s in self.series.items())
        return out


# ---- value shapes -------------------------------------------------------------------


class Counter:
    """A counter: grows by rate * dt (with noise), rounded to `digits`, restarting at
    the given relative times (to `after_reset`)."""

    def __init__(self, rng, start, rate, digits=2, resets=(), after_reset=0.0, noise=0.3):
        self.r, self.v, self.rate, self.digits = rng, start, rate, digits
        self.resets = sorted(resets)
        self.after = after_reset
        self.noise = noise
        self.last = None

    def __call__(self, t, rel):
        if self.last is not None:
            dt = (t - self.last) / 1000.0
            self.v += self.rate * dt * (1 + self.noise * (self.r.random() * 2 - 1))
        while self.resets and rel >= self.resets[0]:
            self.resets.pop(0)
            self.v = self.after
        self.last = t
        return round(self.v, self.digits) if self.digits is not None else self.v


def gauge(rng, base, amp, digits=0, floor=None, period_ms=47 * MIN):
    import math
    phase = rng.random() * 6.28

    def f(t, rel):
        v = base + amp * math.sin(phase + rel / period_ms * 6.283) + amp * 0.2 * (rng.random() - 0.5)
        if floor is not None:
            v = max(floor, v)
        return round(v, digits) if digits else float(round(v))
    return f


def const(v):
    return lambda t, rel: v


# ---- the families ---------------------------------------------------------------------

NODES = [  # name, ip, cpus, memory
    ("node-1", "10.0.0.1", 2, 8 * 2**30),
    ("node-2", "10.0.0.2", 4, 16 * 2**30),
    ("node-3", "10.0.0.3", 2, 8 * 2**30),
    ("node-4", "10.0.0.4", 2, 4 * 2**30),
]
NODE_LIFE = {"node-3": (40 * MIN, SPAN_MS), "node-4": (0, 2 * H + 20 * MIN)}
NODE_DOWN = {"node-2": [(70 * MIN, 95 * MIN)]}
NODE_REBOOT = {"node-1": 110 * MIN}

CPU_MODES = {  # mode -> seconds per second per cpu
    "idle": 0.70, "user": 0.17, "system": 0.06, "iowait": 0.012, "irq": 0.0,
    "nice": 0.0, "softirq": 0.004, "steal": 0.001,
}

# namespace, workload kind, workload, replicas, containers, node indexes, life (rel ms)
WORKLOADS = [
    ("default", "Deployment", "nginx", 2, ["nginx"], [0, 1], None),
    ("default", "Pod", "debug", 1, ["shell"], [1], (30 * MIN, 95 * MIN)),
    ("kube-system", "Deployment", "coredns", 2, ["coredns"], [0, 1], None),
    ("kube-system", "DaemonSet", "kube-proxy", 4, ["kube-proxy"], [0, 1, 2, 3], None),
    ("kube-system", "StatefulSet", "etcd", 1, ["etcd"], [0], None),
    ("monitoring", "StatefulSet", "prometheus-k8s", 1, ["prometheus", "config-reloader"], [1],
     None),
    ("monitoring", "DaemonSet", "node-exporter", 4, ["node-exporter", "kube-rbac-proxy"],
     [0, 1, 2, 3], None),
    ("monitoring", "Deployment", "grafana", 1, ["grafana"], [2], None),
    ("prod", "Deployment", "web", 3, ["app", "istio-proxy"], [0, 1, 2], None),
    ("prod", "Deployment", "api", 2, ["api"], [1, 3], None),
    ("prod", "Job", "batch-20240610", 1, ["batch"], [2], (60 * MIN, 100 * MIN)),
    ("prod", "Deployment", "worker", 2, ["worker"], [0, 1], None),
    ("team.a", "Deployment", "svc.v1", 1, ["main"], [1], None),
]
RESTARTING_POD = ("prod", "worker", 0)  # its container restarts at 80m (counters reset)


def _pod_names(ns, kind, name, replicas, r):
    suffix = lambda n: "".join(r.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(n))
    if kind == "Deployment":
        rs = f"{name}-{r.randint(10**8, 10**9):x}"[:len(name) + 10]
        return rs, [f"{rs}-{suffix(5)}" for _ in range(replicas)]
    if kind == "StatefulSet":
        return None, [f"{name}-{i}" for i in range(replicas)]
    if kind == "DaemonSet":
        return None, [f"{name}-{suffix(5)}" for _ in range(replicas)]
    if kind == "Job":
        return None, [f"{name}-{suffix(5)}"]
    return None, [name]


def pods():
    """[(ns, pod, uid, node, kind, workload, replicaset, containers, life)]"""
    r = _rng("pods")
    out = []
    for ns, kind, name, replicas, containers, nodes, life in WORKLOADS:
        rs, names = _pod_names(ns, kind, name, replicas, r)
        for i, pod in enumerate(names):
            node = NODES[nodes[i % len(nodes)]][0]
            nlife = NODE_LIFE.get(node, (0, SPAN_MS))
            plife = life or (0, SPAN_MS)
            plife = (max(plife[0], nlife[0]), min(plife[1], nlife[1]))
            uid = "%08x-%04x-%04x-%04x-%012x" % (r.getrandbits(32), r.getrandbits(16),
                                                  r.getrandbits(16), r.getrandbits(16),
                                                  r.getrandbits(48))
            out.append((ns, pod, uid, node, kind, name, rs, containers, plife,
                        (ns, name, i) == RESTARTING_POD))
    return out


def build(start_ms):
    ds = Dataset(start_ms)
    _node_exporter(ds)
    _kubelet(ds)
    _kube_state_metrics(ds)
    _apiserver(ds)
    _test(ds)
    return ds


def _up(ds, target, job, instance, extra=None):
    labels = {"__name__": "up", "job": job, "instance": instance, **(extra or {})}
    status = dict(target.times)
    ds.scrape(_AllScrapes(target), labels, lambda t, rel: 1.0 if status[t] else 0.0)


class _AllScrapes:
    """A view of a target where every scrape counts (up is written even when down)."""

    def __init__(self, target):
        self.times = [(t, True) for t, _ in target.times]
        self.end_ms, self.removed = target.end_ms, target.removed


def _node_exporter(ds):
    for idx, (node, ip, cpus, mem) in enumerate(NODES):
        inst = f"{ip}:9100"
        tg = Target(f"node-{node}", ds.start, 15000, 1000 + idx * 3100, jitter_ms=40,
                    life=NODE_LIFE.get(node, (0, SPAN_MS)), down=NODE_DOWN.get(node, ()))
        reboot = [NODE_REBOOT[node]] if node in NODE_REBOOT else []
        # kube-prometheus' ServiceMonitor adds the exporter pod's namespace and name.
        pod = next(p[1] for p in pods() if p[5] == "node-exporter" and p[3] == node)
        base = {"job": "node-exporter", "instance": inst, "namespace": "monitoring",
                "pod": pod, "service": "node-exporter"}
        _up(ds, tg, "node-exporter", inst, {"namespace": "monitoring", "pod": pod,
                                            "service": "node-exporter"})
        r = _rng("node", node)
        for cpu in range(cpus):
            for mode, rate in CPU_MODES.items():
                busy = rate * (1 + 0.5 * idx / 3) if mode != "idle" else rate
                ds.scrape(tg, {"__name__": "node_cpu_seconds_total", **base, "cpu": str(cpu),
                               "mode": mode},
                          Counter(r, round(r.uniform(1e3, 5e4) * rate, 2), busy,
                                  resets=reboot, after_reset=round(rate * 3, 2)))
        ds.scrape(tg, {"__name__": "node_memory_MemTotal_bytes", **base}, const(float(mem)))
        for field, frac in (("MemAvailable", 0.55), ("MemFree", 0.2), ("Cached", 0.25),
                            ("Buffers", 0.03)):
            ds.scrape(tg, {"__name__": f"node_memory_{field}_bytes", **base},
                      gauge(r, mem * frac, mem * frac * 0.2))
        for n, load in (("node_load1", 0.9), ("node_load5", 0.8), ("node_load15", 0.7)):
            ds.scrape(tg, {"__name__": n, **base}, gauge(r, load * cpus, load, digits=2, floor=0))
        for dev, fstype, mp, size in (("/dev/sda1", "ext4", "/", 100 * 2**30),
                                      ("/dev/sda2", "vfat", "/boot/efi", 512 * 2**20),
                                      ("tmpfs", "tmpfs", "/run", 2**30)):
            lab = {**base, "device": dev, "fstype": fstype, "mountpoint": mp}
            ds.scrape(tg, {"__name__": "node_filesystem_size_bytes", **lab}, const(float(size)))
            ds.scrape(tg, {"__name__": "node_filesystem_avail_bytes", **lab},
                      gauge(r, size * (0.4 if mp == "/" else 0.8), size * 0.05))
            ds.scrape(tg, {"__name__": "node_filesystem_free_bytes", **lab},
                      gauge(r, size * (0.45 if mp == "/" else 0.82), size * 0.05))
            ds.scrape(tg, {"__name__": "node_filesystem_readonly", **lab}, const(0.0))
            ds.scrape(tg, {"__name__": "node_filesystem_files", **lab}, const(6553600.0))
            ds.scrape(tg, {"__name__": "node_filesystem_files_free", **lab},
                      gauge(r, 6000000, 20000))
        for dev in ("eth0", "lo"):
            lab = {**base, "device": dev}
            for n, rate in (("receive_bytes", 120000.0), ("transmit_bytes", 80000.0),
                            ("receive_packets", 300.0), ("transmit_packets", 250.0)):
                ds.scrape(tg, {"__name__": f"node_network_{n}_total", **lab},
                          Counter(r, r.uniform(1e6, 1e9) // 1, rate, digits=0, resets=reboot))
            for n, rate in (("receive_drop", 0.02), ("transmit_drop", 0.0),
                            ("receive_errs", 0.01), ("transmit_errs", 0.0)):
                ds.scrape(tg, {"__name__": f"node_network_{n}_total", **lab},
                          Counter(r, float(r.randint(0, 50)), rate, digits=0, resets=reboot,
                                  noise=1.0))
        for dev in ("sda", "nvme0n1"):
            lab = {**base, "device": dev}
            for n, rate, dg in (("read_bytes", 40000.0, 0), ("written_bytes", 90000.0, 0),
                                ("reads_completed", 10.0, 0), ("writes_completed", 25.0, 0),
                                ("io_time_seconds", 0.05, 3),
                                ("io_time_weighted_seconds", 0.08, 3)):
                ds.scrape(tg, {"__name__": f"node_disk_{n}_total", **lab},
                          Counter(r, round(r.uniform(1e3, 1e6), dg), rate, digits=dg,
                                  resets=reboot))
        ds.scrape(tg, {"__name__": "node_vmstat_pgmajfault", **base},
                  Counter(r, float(r.randint(1000, 9000)), 0.5, digits=0, resets=reboot))
        ds.scrape(tg, {"__name__": "node_context_switches_total", **base},
                  Counter(r, float(r.randint(10**6, 10**8)), 1500.0, digits=0, resets=reboot))
        ds.scrape(tg, {"__name__": "node_filefd_allocated", **base}, gauge(r, 3000, 200))
        ds.scrape(tg, {"__name__": "node_filefd_maximum", **base}, const(9.223372036854776e18))
        boot = (ds.start / 1000.0) - 86400 * (idx + 1)
        ds.scrape(tg, {"__name__": "node_boot_time_seconds", **base},
                  lambda t, rel, b=boot, rb=reboot: float(ds.start // 1000 + rb[0] // 1000)
                  if rb and rel >= rb[0] else b)
        ds.scrape(tg, {"__name__": "node_time_seconds", **base}, lambda t, rel: t / 1000.0)
        ds.scrape(tg, {"__name__": "node_uname_info", **base, "nodename": node,
                       "release": "6.1.0-18-amd64", "sysname": "Linux", "machine": "x86_64"},
                  const(1.0))
        ds.scrape(tg, {"__name__": "node_exporter_build_info", **base, "version": "1.5.0",
                       "goversion": "go1.19.8"}, const(1.0))


def _kubelet(ds):
    targets = {}
    for idx, (node, ip, cpus, mem) in enumerate(NODES):
        targets[node] = Target(f"kubelet-{node}", ds.start, 15000, 4200 + idx * 2300,
                               jitter_ms=25, life=NODE_LIFE.get(node, (0, SPAN_MS)),
                               down=NODE_DOWN.get(node, ()))
        _up(ds, targets[node], "kubelet", f"{ip}:10250",
            {"metrics_path": "/metrics/cadvisor", "node": node})
    nodeinfo = {n[0]: n for n in NODES}
    for node, ip, cpus, mem in NODES:
        tg = targets[node]
        base = {"job": "kubelet", "metrics_path": "/metrics/cadvisor", "instance": f"{ip}:10250",
                "node": node}
        r = _rng("kubelet-root", node)
        ds.scrape(tg, {"__name__": "container_cpu_usage_seconds_total", **base, "id": "/"},
                  Counter(r, r.uniform(1e4, 1e5), cpus * 0.3, digits=6,
                          resets=[NODE_REBOOT[node]] if node in NODE_REBOOT else []))
        ds.scrape(tg, {"__name__": "container_memory_working_set_bytes", **base, "id": "/"},
                  gauge(r, mem * 0.4, mem * 0.05))
    for ns, pod, uid, node, kind, wl, rs, containers, life, restarts in pods():
        tg = targets[node]
        ip = nodeinfo[node][1]
        base = {"job": "kubelet", "metrics_path": "/metrics/cadvisor", "instance": f"{ip}:10250",
                "node": node, "namespace": ns, "pod": pod}
        alive = lambda rel, l=life: l[0] <= rel < l[1]
        r = _rng("pod", pod)
        pod_id = f"/kubepods/burstable/pod{uid}"
        total_cpu = 0.0
        for ci, c in enumerate(containers):
            cid = "%016x" % r.getrandbits(64)
            lab = {**base, "container": c, "id": f"{pod_id}/{cid}",
                   "image": f"registry.k8s.io/{c}:v1.{ci}", "name": cid}
            rate = r.uniform(0.005, 0.4)
            total_cpu += rate
            resets = [80 * MIN] if restarts else []
            ds.scrape(tg, {"__name__": "container_cpu_usage_seconds_total", **lab},
                      Counter(r, r.uniform(0, 500), rate, digits=6, resets=resets), alive)
            ds.scrape(tg, {"__name__": "container_cpu_cfs_periods_total", **lab},
                      Counter(r, float(r.randint(0, 10**5)), 10.0, digits=0, resets=resets,
                              noise=0.0), alive)
            ds.scrape(tg, {"__name__": "container_cpu_cfs_throttled_periods_total", **lab},
                      Counter(r, float(r.randint(0, 100)), r.choice([0.0, 0.5, 2.0]), digits=0,
                              resets=resets, noise=1.0), alive)
            ws = r.uniform(2e7, 6e8)
            ds.scrape(tg, {"__name__": "container_memory_working_set_bytes", **lab},
                      gauge(r, ws, ws * 0.1), alive)
            ds.scrape(tg, {"__name__": "container_memory_rss", **lab},
                      gauge(r, ws * 0.8, ws * 0.08), alive)
            ds.scrape(tg, {"__name__": "container_memory_cache", **lab},
                      gauge(r, ws * 0.3, ws * 0.03), alive)
            ds.scrape(tg, {"__name__": "container_memory_swap", **lab}, const(0.0), alive)
            ds.scrape(tg, {"__name__": "container_memory_usage_bytes", **lab},
                      gauge(r, ws * 1.2, ws * 0.1), alive)
        lab = {**base, "id": pod_id}
        ds.scrape(tg, {"__name__": "container_cpu_usage_seconds_total", **lab},
                  Counter(r, r.uniform(0, 1000), total_cpu, digits=6), alive)
        ds.scrape(tg, {"__name__": "container_memory_working_set_bytes", **lab},
                  gauge(r, 3e8, 3e7), alive)
        for iface in ("eth0",):
            l2 = {**lab, "interface": iface}
            for n, rate in (("receive_bytes", 5000.0), ("transmit_bytes", 3000.0),
                            ("receive_packets", 40.0), ("transmit_packets", 35.0),
                            ("receive_packets_dropped", 0.01), ("transmit_packets_dropped", 0.0)):
                ds.scrape(tg, {"__name__": f"container_network_{n}_total", **l2},
                          Counter(r, float(r.randint(0, 10**6)), rate * r.uniform(0.5, 2),
                                  digits=0), alive)


def _kube_state_metrics(ds):
    tg = Target("ksm", ds.start, 30000, 7000, jitter_ms=15)
    base = {"job": "kube-state-metrics", "instance": "10.1.0.5:8080"}
    _up(ds, tg, "kube-state-metrics", "10.1.0.5:8080")
    r = _rng("ksm")
    for node, ip, cpus, mem in NODES:
        life = NODE_LIFE.get(node)
        alive = (lambda rel, l=life: l[0] <= rel < l[1]) if life else None
        ds.scrape(tg, {"__name__": "kube_node_info", **base, "node": node, "internal_ip": ip,
                       "kernel_version": "6.1.0-18-amd64", "os_image": "Debian GNU/Linux 12",
                       "kubelet_version": "v1.28.4"}, const(1.0), alive)
        for res, unit, v in (("cpu", "core", float(cpus)), ("memory", "byte", float(mem)),
                             ("pods", "integer", 110.0)):
            alloc = v - (0.1 if res == "cpu" else 2**28 if res == "memory" else 0)
            ds.scrape(tg, {"__name__": "kube_node_status_allocatable", **base, "node": node,
                           "resource": res, "unit": unit}, const(alloc), alive)
            ds.scrape(tg, {"__name__": "kube_node_status_capacity", **base, "node": node,
                           "resource": res, "unit": unit}, const(v), alive)
        for status in ("true", "false", "unknown"):
            down = NODE_DOWN.get(node, [])

            def ready(t, rel, st=status, d=down):
                is_down = any(a <= rel < b for a, b in d)
                want = "false" if is_down else "true"
                return 1.0 if st == want else 0.0
            ds.scrape(tg, {"__name__": "kube_node_status_condition", **base, "node": node,
                           "condition": "Ready", "status": status}, ready, alive)
        ds.scrape(tg, {"__name__": "kube_node_spec_unschedulable", **base, "node": node},
                  const(0.0), alive)
    rs_done = set()
    deployments = {}
    for ns, pod, uid, node, kind, wl, rs, containers, life, restarts in pods():
        alive = lambda rel, l=life: l[0] <= rel < l[1]
        ip = next(n[1] for n in NODES if n[0] == node)
        owner_kind, owner = ("ReplicaSet", rs) if kind == "Deployment" else (kind, wl)
        pl = {**base, "namespace": ns, "pod": pod, "uid": uid}
        if kind != "Pod":
            ds.scrape(tg, {"__name__": "kube_pod_info", **pl, "node": node, "host_ip": ip,
                           "pod_ip": f"10.244.{node[-1]}.{r.randint(2, 250)}",
                           "created_by_kind": owner_kind, "created_by_name": owner,
                           "priority_class": "", "host_network": "false"}, const(1.0), alive)
            ds.scrape(tg, {"__name__": "kube_pod_owner", **pl, "owner_kind": owner_kind,
                           "owner_name": owner, "owner_is_controller": "true"}, const(1.0), alive)
        else:
            ds.scrape(tg, {"__name__": "kube_pod_info", **pl, "node": node, "host_ip": ip,
                           "pod_ip": "10.244.1.99", "host_network": "false"}, const(1.0), alive)
            ds.scrape(tg, {"__name__": "kube_pod_owner", **pl, "owner_kind": "<none>",
                           "owner_name": "<none>", "owner_is_controller": "<none>"},
                      const(1.0), alive)
        if rs and rs not in rs_done:
            rs_done.add(rs)
            ds.scrape(tg, {"__name__": "kube_replicaset_owner", **base, "namespace": ns,
                           "replicaset": rs, "owner_kind": "Deployment", "owner_name": wl},
                      const(1.0))
        if kind == "Deployment":
            deployments.setdefault((ns, wl), 0)
            deployments[(ns, wl)] += 1
        for phase in ("Pending", "Running", "Succeeded", "Failed", "Unknown"):
            def ph(t, rel, p=phase, l=life, k=kind):
                if k == "Job" and rel >= l[1] - 5 * MIN:
                    cur = "Succeeded"
                elif rel < l[0] + 2 * MIN:
                    cur = "Pending"
                else:
                    cur = "Running"
                return 1.0 if cur == p else 0.0
            ds.scrape(tg, {"__name__": "kube_pod_status_phase", **pl, "phase": phase}, ph,
                      alive)
        for c in containers:
            cl = {**pl, "container": c}
            ds.scrape(tg, {"__name__": "kube_pod_container_info", **cl,
                           "image": f"registry.k8s.io/{c}:v1", "container_id": f"containerd://{r.getrandbits(64):016x}"},
                      const(1.0), alive)
            cpu_req = r.choice([0.05, 0.1, 0.25, 0.5, 1.0])
            mem_req = float(r.choice([64, 128, 256, 512]) * 2**20)
            ds.scrape(tg, {"__name__": "kube_pod_container_resource_requests", **cl,
                           "node": node, "resource": "cpu", "unit": "core"}, const(cpu_req),
                      alive)
            ds.scrape(tg, {"__name__": "kube_pod_container_resource_requests", **cl,
                           "node": node, "resource": "memory", "unit": "byte"},
                      const(mem_req), alive)
            if c not in ("shell", "batch"):
                ds.scrape(tg, {"__name__": "kube_pod_container_resource_limits", **cl,
                               "node": node, "resource": "cpu", "unit": "core"},
                          const(cpu_req * 2), alive)
                ds.scrape(tg, {"__name__": "kube_pod_container_resource_limits", **cl,
                               "node": node, "resource": "memory", "unit": "byte"},
                          const(mem_req * 2), alive)
            ds.scrape(tg, {"__name__": "kube_pod_container_status_restarts_total", **cl},
                      lambda t, rel, rs_=restarts: 1.0 if rs_ and rel >= 80 * MIN else 0.0,
                      alive)
    for (ns, wl), n in sorted(deployments.items()):
        dl = {**base, "namespace": ns, "deployment": wl}
        ds.scrape(tg, {"__name__": "kube_deployment_spec_replicas", **dl}, const(float(n)))
        ds.scrape(tg, {"__name__": "kube_deployment_status_replicas_available", **dl},
                  lambda t, rel, n_=n, w=wl: float(n_ - 1) if w == "api" and 2 * H <= rel < 2 * H + 10 * MIN else float(n_))
    for ns in sorted({w[0] for w in WORKLOADS}):
        ds.scrape(tg, {"__name__": "kube_namespace_status_phase", **base, "namespace": ns,
                       "phase": "Active"}, const(1.0))


APISERVER_LE = ["0.005", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30",
                "60", "+Inf"]
APISERVER_COMBOS = [  # verb, resource, scope, mean seconds, requests per second
    ("GET", "pods", "resource", 0.01, 20.0),
    ("LIST", "pods", "namespace", 0.12, 3.0),
    ("LIST", "nodes", "cluster", 0.3, 0.5),
    ("WATCH", "pods", "namespace", 20.0, 0.2),
    ("POST", "configmaps", "resource", 0.03, 1.0),
    ("PUT", "leases", "resource", 0.008, 4.0),
    ("PATCH", "nodes", "resource", 0.05, 0.8),
    ("DELETE", "pods", "resource", 0.2, 0.1),
]


def _apiserver(ds):
    import math
    for idx, ip in enumerate(("10.0.0.1", "10.0.0.2")):
        inst = f"{ip}:6443"
        tg = Target(f"apiserver-{ip}", ds.start, 10000, 500 + idx * 4000, jitter_ms=20)
        _up(ds, tg, "apiserver", inst)
        base = {"job": "apiserver", "instance": inst, "component": "apiserver",
                "group": "", "version": "v1"}
        for verb, res, scope, mean, rps in APISERVER_COMBOS:
            r = _rng("api", ip, verb, res)
            lab = {**base, "verb": verb, "resource": res, "scope": scope}
            # One stream of requests; each bucket counts those under its bound.
            fracs = []
            for le in APISERVER_LE:
                ub = float(le)
                fracs.append(1.0 if ub == math.inf else 0.5 * (1 + math.erf(
                    (math.log(ub) - math.log(mean)) / (1.2 * math.sqrt(2)))))
            n = float(r.randint(1000, 100000))
            total = round(n * mean, 3)
            states, last = {}, None
            for t, up in tg.times:
                if last is not None:
                    k = r.randint(0, max(1, int(rps * (t - last) / 500)))
                    n += k
                    total = round(total + k * mean * r.uniform(0.8, 1.2), 3)
                last = t
                states[t] = (n, total, [float(math.floor(n * f)) for f in fracs])

            def step(t, s=states):
                return s[t]
            for i, le in enumerate(APISERVER_LE):
                ds.scrape(tg, {"__name__": "apiserver_request_duration_seconds_bucket", **lab,
                               "le": le},
                          lambda t, rel, i=i, st=step: st(t)[2][i])
            ds.scrape(tg, {"__name__": "apiserver_request_duration_seconds_sum", **lab},
                      lambda t, rel, st=step: st(t)[1])
            ds.scrape(tg, {"__name__": "apiserver_request_duration_seconds_count", **lab},
                      lambda t, rel, st=step: st(t)[0])
            codes = [("200", 0.97), ("404", 0.02), ("500", 0.007), ("503", 0.003)]
            if verb == "POST":
                codes = [("201", 0.95), ("409", 0.04), ("500", 0.01)]
            for code, frac in codes:
                ds.scrape(tg, {"__name__": "apiserver_request_total", **lab, "code": code},
                          Counter(r, float(r.randint(0, 10**5)), rps * frac, digits=0,
                                  noise=0.8))


def _test(ds):
    import math
    exact = Target("test", ds.start, 15000, 0)  # timestamps exactly on S + k*15s
    base = {"job": "test", "instance": "test:1"}
    _up(ds, exact, "test", "test:1")
    r = _rng("test")
    # Special floats.
    specials = {
        "neg": lambda t, rel: -1.0 - (rel // 15000 % 7) * 0.5,
        "zero": const(0.0),
        "negzero": const(-0.0),
        "huge": lambda t, rel: 1e300 * (1 + rel // 15000 % 5),
        "max": const(1.7976931348623157e308),
        "tiny": const(5e-324),
        "small": lambda t, rel: 1e-10 * (1 + rel // 15000 % 3),
        "decimal": lambda t, rel: [0.1, 0.2, 0.3, 0.7, 1.1][rel // 15000 % 5],
        "third": const(1 / 3),
        "int53": const(float(2**53 + 2)),
        "million": const(1e6),
        "e21": lambda t, rel: [1e21, 9.99999e20, 1e-6, 9.9e-7][rel // 15000 % 4],
        "nan": const(float("nan")),
        "inf": const(math.inf),
        "minusinf": const(-math.inf),
        "mixed": lambda t, rel: [1.0, float("nan"), math.inf, -2.5, -math.inf, 0.0, 3.0][
            rel // 15000 % 7],
        "wave": gauge(r, 50, 40, digits=3),
    }
    for case, fn in specials.items():
        ds.scrape(exact, {"__name__": "test_gauge", **base, "case": case}, fn)
    # Counters.
    counters = {
        "steady": Counter(r, 0.0, 1 / 15, digits=None, noise=0.0),
        "resets": Counter(r, 100.0, 2.0, digits=0, resets=[40 * MIN, 80 * MIN, 120 * MIN,
                                                           150 * MIN], after_reset=0.0),
        "reset_nonzero": Counter(r, 5000.0, 3.0, digits=1, resets=[70 * MIN, 71 * MIN],
                                 after_reset=17.5),
        "dip": lambda t, rel: float(1000 + rel // 15000 * 10 - (5 if rel // 15000 == 300 else 0)),
        "float": Counter(r, 0.0, 0.1 / 15, digits=None, noise=0.0),
        "flat": const(42.0),
        "big": Counter(r, 1.5e15, 1e9, digits=0, noise=0.1),
    }
    for case, fn in counters.items():
        ds.scrape(exact, {"__name__": "test_counter_total", **base, "case": case}, fn)
    ds.scrape(exact, {"__name__": "test_counter_total", **base, "case": "late"},
              Counter(r, 10.0, 0.5, digits=1), lambda rel: rel >= 2 * H + 7 * MIN)
    ds.scrape(exact, {"__name__": "test_counter_total", **base, "case": "early"},
              Counter(r, 10.0, 0.5, digits=1), lambda rel: rel < 53 * MIN)
    # Staleness and gaps (exact timestamps, 15 s).
    ds.scrape(exact, {"__name__": "test_stale", **base, "case": "mid"},
              lambda t, rel: float(rel // 15000),
              lambda rel: not (90 * MIN <= rel < 92 * MIN))
    ds.scrape(exact, {"__name__": "test_stale", **base, "case": "end"},
              lambda t, rel: 7.0, lambda rel: rel < 100 * MIN)
    # gaps without stale markers: added by hand below.
    gap = [(ds.start + k * 15000, float(k)) for k in range(720)
           if not (60 * MIN <= k * 15000 < 80 * MIN) and not (120 * MIN <= k * 15000 < 124 * MIN)]
    ds.add({"__name__": "test_gap", **base, "case": "nostale"}, gap)
    # Other intervals.
    for iv, phase, life in ((1000, 0, (100 * MIN, 110 * MIN)), (10000, 3000, None),
                            (60000, 0, None), (7000, 0, None), (300000, 0, None)):
        tg = Target(f"iv{iv}", ds.start, iv, phase, life=life or (0, SPAN_MS))
        lab = {"__name__": "test_interval", **base, "interval": f"{iv // 1000}s"}
        ds.scrape(tg, {**lab, "kind": "gauge"}, gauge(_rng("iv", iv), 10, 5, digits=2))
        ds.scrape(tg, {**lab, "__name__": "test_interval_total", "kind": "counter"},
                  Counter(_rng("ivc", iv), 0.0, 3.0, digits=1, resets=[75 * MIN]))
    # Classic histograms: cases of histogram_quantile.
    hists = {
        "normal": [("0.1", 10), ("0.5", 40), ("1", 70), ("5", 95), ("+Inf", 100)],
        "nonmono": [("0.1", 10), ("0.5", 50), ("1", 40), ("5", 95), ("+Inf", 100)],
        "dupe": [("0.5", 20), ("1", 60), ("1.0", 5), ("5", 90), ("+Inf", 100)],
        "noinf": [("0.1", 10), ("0.5", 40), ("1", 70)],
        "onlyinf": [("+Inf", 100)],
        "zero": [("0.1", 0), ("1", 0), ("+Inf", 0)],
        "neg": [("-1", 5), ("0", 20), ("1", 60), ("+Inf", 100)],
        "bad": [("0.1", 10), ("abc", 30), ("1", 70), ("+Inf", 100)],
        "exp": [("1e-3", 1), ("1e-2", 10), ("1e-1", 40), ("1e0", 80), ("1e+1", 99), ("+Inf", 100)],
        "inflast": [("0.1", 10), ("1", 10), ("+Inf", 100)],
    }
    for case, buckets in hists.items():
        for le, share in buckets:
            ds.scrape(exact, {"__name__": "test_hist_bucket", **base, "case": case, "le": le},
                      lambda t, rel, s=share: float(s * (rel // 15000)
                                                    + (s // 10) * (rel // 15000 % 3)))
        ds.scrape(exact, {"__name__": "test_hist_sum", **base, "case": case},
                  lambda t, rel: round(0.42 * 100 * (rel // 15000), 3))
        ds.scrape(exact, {"__name__": "test_hist_count", **base, "case": case},
                  lambda t, rel: float(100 * (rel // 15000)))
    # Regex-hostile label values and names.
    hostile = ["a.b", "a*b", "[x]", "(y)", "a\\b", 'q"uote', "ünï日本", "line\nbreak", "a|b",
               "^$", "{}", "x+y", "tab\there", " lead", "trail ", "dollar$", "?", "%2F/",
               "a,b=c", "😀"]
    for i, v in enumerate(hostile):
        ds.scrape(exact, {"__name__": "test_labels", **base, "v": v, "idx": str(i)},
                  const(float(i)))
    ds.scrape(exact, {"__name__": "test_labels", **base, "idx": "none"}, const(-1.0))
    ds.scrape(exact, {"__name__": "test_labels", **base, "idx": "names", "_underscore": "u",
                      "camelCase": "c", "a1": "d", "le": "0.5", "quantile": "0.9"},
              const(100.0))
    ds.scrape(exact, {"__name__": "job:test_requests:rate5m", **base, "svc": "a"},
              gauge(r, 5, 2, digits=2))
    ds.scrape(exact, {"__name__": "job:test_requests:rate5m", **base, "svc": "b"},
              gauge(r, 7, 3, digits=2))
    # For matching: one side with duplicates per key, an info metric for group_left.
    for k in ("1", "2", "3"):
        for x in ("a", "b"):
            ds.scrape(exact, {"__name__": "test_mm", **base, "k": k, "x": x},
                      const(float(int(k) * 10 + (1 if x == "a" else 2))))
        ds.scrape(exact, {"__name__": "test_one", **base, "k": k}, const(float(k)))
        ds.scrape(exact, {"__name__": "test_info", **base, "k": k, "owner": f"team-{k}",
                          "tier": "gold" if k != "2" else "silver"}, const(1.0))
    ds.scrape(exact, {"__name__": "test_one", **base, "k": "4"}, const(4.0))
