#!/usr/bin/env python3
"""rules-bench — the default rule pack (rules/default/*.yaml) evaluated over the
generated cluster (tests/ui/gen_cluster.py: NODES nodes, PODS pods, 50 minutes of history
at a 30 s step) by kmon and, side by side, by Prometheus 2.42 (Debian's `prometheus`)
holding the same data and the same rule files.

Both get the dataset through remote_write (Prometheus with
--web.enable-remote-write-receiver), evaluate every group at INTERVAL, and are read after
CYCLES evaluations: each group's prometheus_rule_group_last_duration_seconds (the same
metric name in both) sampled once per cycle, and the processes' RSS. Prints one JSON line:

  groups         {group: {"kmon_ms": median, "prometheus_ms": median}}
  cycle_ms       the sum over groups of the medians, per system
  rss_mib        resident memory of each process at the end
  series         series each one holds (kmon_tsdb_head_series, prometheus_tsdb_head_series)
  load_s         seconds gen_cluster took for each

Usage: bench/rules-bench.py [--kmon build/kmon] [--nodes 100] [--pods 3000]
                            [--interval 15s] [--cycles 6]
"""
import argparse
import glob
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def wait_ready(url, proc, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{url}: the process exited with {proc.returncode}")
        try:
            get(url, timeout=2)
            return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"{url} did not answer within {timeout}s")


def group_durations(metrics):
    """{group name: seconds} from prometheus_rule_group_last_duration_seconds lines."""
    out = {}
    for line in metrics.splitlines():
        m = re.match(r'prometheus_rule_group_last_duration_seconds\{rule_group="[^;"]*;([^"]+)"\} (\S+)',
                     line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def metric(metrics, name):
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kmon", default=os.path.join(ROOT, "build", "kmon"))
    ap.add_argument("--prometheus", default=shutil.which("prometheus"))
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--pods", type=int, default=3000)
    ap.add_argument("--interval", default="15s")
    ap.add_argument("--cycles", type=int, default=6)
    a = ap.parse_args()
    if not a.prometheus:
        sys.exit("prometheus is not installed (apt-get install prometheus)")
    rules = sorted(glob.glob(os.path.join(ROOT, "rules", "default", "*.yaml")))
    work = tempfile.mkdtemp(prefix="kmon-rules-bench-")
    kport, pport = free_port(), free_port()
    with open(os.path.join(work, "prometheus.yml"), "w") as f:
        f.write(f"global:\n  evaluation_interval: {a.interval}\nrule_files:\n")
        for r in rules:
            f.write(f"  - {r}\n")
    procs = []
    try:
        km = subprocess.Popen([a.kmon, "server", "--listen", f"127.0.0.1:{kport}", "--data",
                               os.path.join(work, "kmon"), "--default-rules=false",
                               "--rules", ",".join(rules), "--rules-evaluation-interval",
                               a.interval, "--self-scrape-interval", "0"],
                              stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "kmon.log"), "w"))
        procs.append(km)
        pr = subprocess.Popen([a.prometheus, f"--config.file={work}/prometheus.yml",
                               f"--storage.tsdb.path={work}/prom", "--web.enable-remote-write-receiver",
                               f"--web.listen-address=127.0.0.1:{pport}"],
                              stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "prom.log"), "w"))
        procs.append(pr)
        kbase, pbase = f"http://127.0.0.1:{kport}", f"http://127.0.0.1:{pport}"
        wait_ready(kbase + "/readyz", km)
        wait_ready(pbase + "/-/ready", pr)
        load = {}
        for name, base in (("kmon", kbase), ("prometheus", pbase)):
            t0 = time.monotonic()
            subprocess.run([sys.executable, os.path.join(ROOT, "tests", "ui", "gen_cluster.py"),
                            "--url", base, "--nodes", str(a.nodes), "--pods", str(a.pods),
                            # Prometheus refuses samples an hour behind its newest (out of
                            # bounds): 50 minutes of history for both.
                            "--minutes", "50"],
                           check=True, stdout=subprocess.DEVNULL)
            load[name] = round(time.monotonic() - t0, 1)
        iv = float(a.interval.rstrip("s"))
        samples = {"kmon": {}, "prometheus": {}}
        time.sleep(iv)
        for _ in range(a.cycles):
            time.sleep(iv)
            for name, base in (("kmon", kbase), ("prometheus", pbase)):
                for g, s in group_durations(get(base + "/metrics")).items():
                    samples[name].setdefault(g, []).append(s * 1000)
        km_metrics, pr_metrics = get(kbase + "/metrics"), get(pbase + "/metrics")
        groups = {}
        for g in sorted(set(samples["kmon"]) | set(samples["prometheus"])):
            groups[g] = {n: round(statistics.median(samples[n][g]), 2) if g in samples[n] else None
                         for n in ("kmon", "prometheus")}
        print(json.dumps({
            "nodes": a.nodes, "pods": a.pods, "interval": a.interval, "cycles": a.cycles,
            "groups": {g: {"kmon_ms": v["kmon"], "prometheus_ms": v["prometheus"]}
                       for g, v in groups.items()},
            "cycle_ms": {n: round(sum(v[n] or 0 for v in groups.values()), 1)
                         for n in ("kmon", "prometheus")},
            "rss_mib": {"kmon": round(rss_mib(km.pid)), "prometheus": round(rss_mib(pr.pid))},
            "series": {"kmon": metric(km_metrics, "kmon_tsdb_head_series"),
                       "prometheus": metric(pr_metrics, "prometheus_tsdb_head_series")},
            "load_s": load,
        }))
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
