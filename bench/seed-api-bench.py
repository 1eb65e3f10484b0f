#!/usr/bin/env python3
"""Latency of the prototype's REST API (/api/nodes, /api/pods, /api/namespaces, the time
series) on a realistic cluster (bench/README.md).

1. Starts `kmon server` (the first KMON binary) on a scratch data directory and writes a
   cluster through remote_write, as kmon agents label it: NODES nodes (4 CPUs × 8 modes,
   memory, 2 disks, 2 interfaces: 42 series each) running PODS pods each (the pod's
   cgroup, two containers and the pause container: 16 series per pod) in 10 namespaces
   of 5 deployments, one sample every INTERVAL seconds for HOURS hours up to now (and
   a few minutes past it, so that the cluster stays current while every binary is
   measured).
2. For each KMON binary given: copies the data directory, starts that binary's server on
   the copy (the write-ahead log replayed), asks each endpoint WARMUP times and then
   REPEAT times in a row, and prints one JSON line per endpoint with the median, 90th
   percentile and minimum latency (ms) and the answer's size.

    bench/seed-api-bench.py KMON [KMON…] [--nodes 50] [--pods 30] [--hours 1]
                            [--interval 15] [--repeat 10] [--keep DIR]
Compare two builds by naming both binaries (the data is then the same for both).
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "runtime"))
import rwlib  # noqa: E402

MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
SAFE = "bcdfghjklmnpqrstvwxz2456789"
HASH = "456789bcdf"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(kmon, data):
    port = free_port()
    proc = subprocess.Popen([kmon, "server", "--listen", f"127.0.0.1:{port}", "--data", data,
                             "--log-level", "warn"])
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while True:
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=2) as r:
                if r.status == 200:
                    return proc, base
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{kmon} server did not start")
        time.sleep(0.1)


def cluster(nodes, pods_per_node):
    """[(labels, kind, rate per second, start value)]: kind "counter" grows by rate per
    second, "gauge" stays at start value."""
    out = []
    for n in range(nodes):
        node = f"node-{n:03d}"
        base = dict(cluster="bench", node=node, instance=f"{node}:9105", job="kmon-agent")
        for cpu in range(4):
            for mode in MODES:
                rate = {"idle": 0.6, "user": 0.25, "system": 0.1}.get(mode, 0.01)
                out.append((dict(base, __name__="node_cpu_seconds_total", cpu=str(cpu),
                                 mode=mode), "counter", rate, 1e5))
        out.append((dict(base, __name__="node_memory_MemTotal_bytes"), "gauge", 0, 32e9))
        out.append((dict(base, __name__="node_memory_MemAvailable_bytes"), "gauge", 0, 20e9))
        for dev in ("sda", "sdb"):
            out.append((dict(base, __name__="node_disk_read_bytes_total", device=dev),
                        "counter", 40960, 1e9))
            out.append((dict(base, __name__="node_disk_written_bytes_total", device=dev),
                        "counter", 81920, 2e9))
        for dev in ("eth0", "lo"):
            out.append((dict(base, __name__="node_network_receive_bytes_total", device=dev),
                        "counter", 102400, 5e9))
            out.append((dict(base, __name__="node_network_transmit_bytes_total", device=dev),
                        "counter", 51200, 3e9))
        for p in range(pods_per_node):
            k = n * pods_per_node + p
            ns = f"ns-{k % 10}"
            dep = f"app-{(k // 10) % 5}"
            h = "".join(HASH[(k * 7 + i) % 10] for i in range(9))
            s = "".join(SAFE[(k * 13 + i * 5) % len(SAFE)] for i in range(5))
            pod = f"{dep}-{h}-{s}"
            pl = dict(cluster="bench", node=node, namespace=ns, pod=pod,
                      pod_uid=f"uid-{k}", workload_kind="Deployment", workload=dep,
                      instance=f"{node}:9105", job="kmon-agent")
            for c in ("", "app", "sidecar", "POD"):
                cl = dict(pl, container=c)
                out.append((dict(cl, __name__="container_cpu_usage_seconds_total"), "counter",
                            0.05, 100))
                out.append((dict(cl, __name__="container_memory_working_set_bytes"), "gauge",
                            0, 1e8))
                if c == "POD":
                    continue
                out.append((dict(cl, __name__="container_fs_reads_bytes_total", device="sda"),
                            "counter", 1024, 1e6))
                out.append((dict(cl, __name__="container_fs_writes_bytes_total", device="sda"),
                            "counter", 2048, 1e6))
            out.append((dict(pl, container="", interface="eth0",
                             __name__="container_network_receive_bytes_total"),
                        "counter", 4096, 1e7))
            out.append((dict(pl, container="", interface="eth0",
                             __name__="container_network_transmit_bytes_total"),
                        "counter", 2048, 1e7))
    return out


def write(base, series, times):
    """Every series' samples at `times`, in requests of a few MB, oldest first."""
    per = max(1, 60000 // len(times))
    for i in range(0, len(series), per):
        chunk = []
        for labels, kind, rate, start in series[i:i + per]:
            samples = [(t, start + (rate * (t - times[0]) / 1000 if kind == "counter" else 0))
                       for t in times]
            chunk.append((sorted(labels.items()), samples))
        body = rwlib.snappy(rwlib.write_request(chunk))
        req = urllib.request.Request(base + "/api/v1/write", data=body, method="POST",
                                     headers=rwlib.HEADERS)
        with urllib.request.urlopen(req, timeout=300) as r:
            assert r.status == 204, r.status


def measure(base, path, warmup, repeat):
    times, size = [], 0
    for k in range(warmup + repeat):
        t0 = time.perf_counter()
        with urllib.request.urlopen(base + path, timeout=600) as r:
            body = r.read()
            assert r.status == 200, (path, r.status)
        dt = (time.perf_counter() - t0) * 1000
        size = len(body)
        if k >= warmup:
            times.append(dt)
    times.sort()
    return {"median_ms": round(statistics.median(times), 2),
            "p90_ms": round(times[min(len(times) - 1, int(len(times) * 0.9))], 2),
            "min_ms": round(times[0], 2), "bytes": size}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kmon", nargs="+")
    ap.add_argument("--nodes", type=int, default=50)
    ap.add_argument("--pods", type=int, default=30, help="pods per node")
    ap.add_argument("--hours", type=float, default=1)
    ap.add_argument("--interval", type=float, default=15)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--keep", metavar="DIR",
                    help="write the dataset's data directory to DIR/gen and keep it")
    a = ap.parse_args()
    tmp = a.keep or tempfile.mkdtemp(prefix="kmon-seed-bench-")
    if a.keep:
        os.makedirs(tmp, exist_ok=True)
    try:
        gen = os.path.join(tmp, "gen")
        proc, base = start_server(a.kmon[0], gen)
        step = int(a.interval * 1000)
        now = int(time.time() * 1000) // step * step
        times = list(range(now - int(a.hours * 3600000), now + 300000, step))
        series = cluster(a.nodes, a.pods)
        t0 = time.monotonic()
        write(base, series, times)
        print(json.dumps({"what": "dataset", "series": len(series), "samples":
                          len(series) * len(times), "write_s": round(time.monotonic() - t0, 1)}),
              flush=True)
        proc.terminate()
        proc.wait(timeout=60)
        node = f"node-{min(7, a.nodes - 1):03d}"
        paths = ["/api/nodes", "/api/pods", "/api/namespaces", "/api/namespaces/ns-3",
                 "/api/namespaces/ns-3/deployments", f"/api/nodes/{node}",
                 "/api/namespaces/ns-3/timeseries", f"/api/nodes/{node}/timeseries",
                 "/api/deployments/app-2/timeseries?namespace=ns-3",
                 "/api/namespaces/ns-3/timeseries?window=300&step=15"]
        for kmon in a.kmon:
            data = os.path.join(tmp, "copy")
            shutil.rmtree(data, ignore_errors=True)
            shutil.copytree(gen, data)
            proc, base = start_server(kmon, data)
            try:
                for path in paths:
                    r = measure(base, path, a.warmup, a.repeat)
                    print(json.dumps(dict(r, kmon=kmon, path=path)), flush=True)
            finally:
                proc.terminate()
                proc.wait(timeout=60)
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
