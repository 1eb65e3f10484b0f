#!/usr/bin/env python3
"""kstate-bench — the cluster-state collector on a generated cluster served by the
Kubernetes API double (tests/runtime/kubeapi.py): NODES nodes, DEPLOYMENTS deployments
with their ReplicaSets and PODS pods (spread evenly), namespaces. It runs
`kmon agent --mode cluster` (the collector alone: no TSDB in the figures) and reports:

  first_emission_s   start → /metrics lists every pod (lists paged by 500, all kinds)
  rss_mib            VmRSS once synced, and after N intervals (steady state)
  cpu_ms_per_interval  utime+stime of the process over N intervals / N
  series             KSM series on /metrics
  events_per_s       watch events applied per second while the double streams
                     MODIFIED events for EVENTS pods as fast as it can

Usage: bench/kstate-bench.py [--pods 30000] [--nodes 1000] [--deployments 3000]
       [--kmon build/kmon] [--interval 5s] [--events 5000]
"""
import argparse
import os
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "runtime"))

from kubeapi import KubeAPI, make_pod, make_replicaset  # noqa: E402
from kubeobjects import make_deployment, make_namespace, make_node  # noqa: E402


def get(url):
    with urllib.request.urlopen(url, timeout=60) as r:
        return r.read().decode()


def metric(text, name, **labels):
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    prefix = f"{name}{{{want}}} " if want else f"{name} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.split()[-1])
    return None


def proc_stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu_ms = (int(parts[11]) + int(parts[12])) * 1000 / ticks
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    return cpu_ms, rss / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=30000)
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--deployments", type=int, default=3000)
    ap.add_argument("--namespaces", type=int, default=50)
    ap.add_argument("--kmon", default=os.path.join(HERE, "..", "build", "kmon"))
    ap.add_argument("--interval", default="5s")
    ap.add_argument("--intervals", type=int, default=4)
    ap.add_argument("--events", type=int, default=5000)
    a = ap.parse_args()
    interval_s = float(a.interval.rstrip("s"))
    work = tempfile.mkdtemp(prefix="kstate-bench-")
    t0 = time.monotonic()
    api = KubeAPI(os.path.join(work, "api"), bookmark_interval=60.0).start()
    for i in range(a.nodes):
        api.add(make_node(f"node-{i:04d}"))
    for i in range(a.namespaces):
        api.add(make_namespace(f"ns-{i:02d}"))
    per = max(1, a.pods // a.deployments)
    n = 0
    for d in range(a.deployments):
        ns = f"ns-{d % a.namespaces:02d}"
        dep = make_deployment(f"app-{d:04d}", ns, replicas=per)
        api.add(dep)
        rs = make_replicaset(f"app-{d:04d}-6d4cf56db6", ns, f"app-{d:04d}",
                             deployment_uid=dep["metadata"]["uid"], replicas=per)
        api.add(rs)
        for p in range(per):
            if n == a.pods:
                break
            api.add_pod(make_pod(f"app-{d:04d}-6d4cf56db6-{p:05d}", ns,
                                 f"node-{n % a.nodes:04d}",
                                 owner=("ReplicaSet", rs["metadata"]["name"]),
                                 containers=["app", "sidecar"]))
            n += 1
    print(f"# generated {a.nodes} nodes, {a.deployments} deployments, {n} pods in "
          f"{time.monotonic() - t0:.1f}s", file=sys.stderr)
    kc = api.write_kubeconfig(os.path.join(work, "kubeconfig"))
    port = 19000 + os.getpid() % 1000
    import subprocess
    log = open(os.path.join(work, "kmon.log"), "w")
    proc = subprocess.Popen([a.kmon, "agent", "--mode", "cluster", "--listen",
                             f"127.0.0.1:{port}", "--interval", a.interval, "--kubeconfig",
                             str(kc), "--spool-dir", "none"], stderr=log)
    base = f"http://127.0.0.1:{port}"
    start = time.monotonic()
    first = None
    try:
        while time.monotonic() - start < 600:
            try:
                text = get(base + "/metrics")
            except OSError:
                time.sleep(0.2)
                continue
            if metric(text, "kube_pod_info") is not None or "kube_pod_info{" in text:
                count = text.count("\nkube_pod_info{")
                if count >= n:
                    first = time.monotonic() - start
                    break
            time.sleep(0.2)
        cpu0, rss_synced = proc_stat(proc.pid)
        time.sleep(interval_s * a.intervals)
        cpu1, rss_steady = proc_stat(proc.pid)
        text = get(base + "/metrics")
        series = sum(1 for l in text.splitlines() if l.startswith("kube_"))
        ev0 = metric(text, "kmon_cluster_state_events_total", kind="pods") or 0
        t1 = time.monotonic()
        pods = [p for p in api.pods()][: a.events]
        for p in pods:
            p["metadata"].setdefault("labels", {})["bench"] = "1"
            api.update_pod(p)
        gen_s = time.monotonic() - t1
        while True:
            ev = metric(get(base + "/metrics"), "kmon_cluster_state_events_total",
                        kind="pods") or 0
            if ev - ev0 >= len(pods) or time.monotonic() - t1 > 120:
                break
            time.sleep(0.05)
        ev_s = time.monotonic() - t1
        _, rss_after = proc_stat(proc.pid)
        print(f'{{"pods":{n},"nodes":{a.nodes},"deployments":{a.deployments},'
              f'"first_emission_s":{first if first is None else round(first, 2)},'
              f'"rss_synced_mib":{rss_synced:.1f},"rss_steady_mib":{rss_steady:.1f},'
              f'"rss_after_events_mib":{rss_after:.1f},'
              f'"cpu_ms_per_interval":{(cpu1 - cpu0) / a.intervals:.1f},'
              f'"interval":"{a.interval}","series":{series},'
              f'"events":{int(ev - ev0)},"events_per_s":{(ev - ev0) / ev_s:.0f},'
              f'"double_event_generation_s":{gen_s:.2f}}}')
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        api.stop()


if __name__ == "__main__":
    main()
