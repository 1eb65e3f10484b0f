#!/usr/bin/env python3
"""The pods collector's cost on a 110-pod node (bench/README.md).

1. Generates a node tree (tests/tools/make_kubepods_tree.py: 110 pods, ~400 cgroups,
   the kubelet's log layout) in a scratch directory.
2. build/bench/agent_bench --root TREE --only pods: CPU per collection (and per
   collection + /metrics render), kmon's heap allocations per steady-state collection.
3. A real `kmon agent` over the same tree with its Kubernetes metadata for all 110 pods
   from the API test double (tests/runtime/kubeapi.py, TLS, list + watch), left running
   for a number of collections: its RSS (VmRSS, VmHWM) and CPU per collection as the
   process sees it (collection + shipping-free /metrics scrapes included).

    bench/pods-bench.py [BUILD_DIR] [--pods N] [--layout L] [--seconds S]
Prints one JSON line per measurement.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "runtime"))
from kubeapi import KubeAPI, make_pod  # noqa: E402


def status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default=os.path.join(ROOT, "build"))
    ap.add_argument("--pods", type=int, default=110)
    ap.add_argument("--layout", default="systemd-v2-containerd")
    ap.add_argument("--seconds", type=float, default=30)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="kmon-pods-bench-")
    tree = os.path.join(tmp, "node")
    try:
        subprocess.run([sys.executable, os.path.join(ROOT, "tests/tools/make_kubepods_tree.py"),
                        tree, "--pods", str(a.pods), "--layout", a.layout, "--seed", "1"],
                       check=True, stdout=subprocess.DEVNULL)
        # A kubelet node runs without swap (the kubelet's default): say so, as the host's
        # /proc/meminfo would.
        with open(os.path.join(tree, "proc", "meminfo"), "w") as f:
            f.write("MemTotal:       32768000 kB\nMemFree:         8192000 kB\n"
                    "SwapTotal:             0 kB\nSwapFree:              0 kB\n")
        r = subprocess.run([os.path.join(a.build, "bench/agent_bench"), "300", "--root", tree,
                            "--only", "pods"], check=True, capture_output=True, text=True)
        print(json.dumps(dict(json.loads(r.stdout), what="agent_bench --only pods",
                              pods=a.pods, layout=a.layout)))
        with open(os.path.join(tree, "expected.json")) as f:
            exp = json.load(f)
        pods = {}
        for c in exp["containers"]:
            p = pods.setdefault(c["pod_uid"], (c["namespace"], c["pod"], []))
            p[2].append((c["container"], "containerd://" + c["container_id"]))
        with KubeAPI(os.path.join(tmp, "api")) as api:
            for uid, (ns, name, ctrs) in pods.items():
                api.add_pod(make_pod(name, ns, "bench-node", uid=uid, containers=ctrs,
                                     owner=("StatefulSet", name.rsplit("-", 1)[0]),
                                     labels={"app": name.split("-")[0]}))
            kc = api.write_kubeconfig(os.path.join(tmp, "kubeconfig"))
            port = 19105
            agent = subprocess.Popen(
                [os.path.join(a.build, "kmon"), "agent", "--listen", f"127.0.0.1:{port}",
                 "--interval", "5s", "--node-name", "bench-node", "--kubeconfig", kc,
                 "--pod-labels", "app", "--host-sys", os.path.join(tree, "sys"),
                 "--host-proc", os.path.join(tree, "proc"), "--host-root", tree,
                 "--disable-collectors", "filesystem", "--log-level", "warn"])
            try:
                time.sleep(3)
                c0, t0 = cpu_s(agent.pid), time.monotonic()
                time.sleep(a.seconds)
                c1, t1 = cpu_s(agent.pid), time.monotonic()
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
                named = sum(1 for l in body.splitlines()
                            if l.startswith("container_cpu_usage_seconds_total{")
                            and 'workload_kind="StatefulSet"' in l)
                print(json.dumps({
                    "what": "kmon agent with API metadata", "pods": len(pods),
                    "series_named_by_the_api": named,
                    "cpu_ms_per_5s_collection": round((c1 - c0) / ((t1 - t0) / 5) * 1000, 2),
                    "rss_kb": status(agent.pid, "VmRSS"), "hwm_kb": status(agent.pid, "VmHWM"),
                    "rss_anon_kb": status(agent.pid, "RssAnon"),
                    "rss_file_kb": status(agent.pid, "RssFile"),
                    "api_requests": len(api.requests())}))
            finally:
                agent.terminate()
                agent.wait(timeout=20)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
