#!/usr/bin/env python3
"""Latency of kmon's Kubernetes metrics API (docs/k8s-metrics.md) on the dashboard's
100-node / 3 000-pod dataset (tests/ui/gen_cluster.py, one sample every 15 s for the last
30 minutes), asked as its consumers ask: the API's lists and items over HTTP, and the real
`kubectl top` (when kubectl is installed) through a kubeconfig pointed at the server.
Prints one line per request with the median, 90th percentile and minimum (ms).

    bench/k8s-metrics-bench.py [--kmon build/kmon] [--nodes 100] [--pods 3000] [--repeat 20]
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
ROOT = os.path.dirname(HERE)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(fn, repeat):
    fn()  # warm-up
    ms = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1000)
    ms.sort()
    return statistics.median(ms), ms[int(len(ms) * 0.9) - 1 if len(ms) >= 10 else -1], ms[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kmon", default=os.path.join(ROOT, "build", "kmon"))
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--pods", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=20)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="kmon-k8s-metrics-bench-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    srv = subprocess.Popen([a.kmon, "server", "--listen", f"127.0.0.1:{port}", "--data",
                            os.path.join(tmp, "data"), "--log-level", "warn",
                            "--self-scrape-interval", "0", "--default-rules=false"])
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                sys.exit("the server did not become ready")
            time.sleep(0.1)
        gen = subprocess.run([sys.executable, os.path.join(ROOT, "tests/ui/gen_cluster.py"),
                              "--url", base, "--nodes", str(a.nodes), "--pods", str(a.pods),
                              "--minutes", "30", "--step", "15", "--silent", "0"],
                             capture_output=True, text=True, check=True)
        info = json.loads(gen.stdout.strip().splitlines()[-1])
        print(f"# {info['series']} series, {info['pods']} pods on {info['nodes']} nodes")
        for path in ("/apis/metrics.k8s.io/v1beta1/pods",
                     "/apis/metrics.k8s.io/v1beta1/namespaces/payments/pods",
                     "/apis/metrics.k8s.io/v1beta1/nodes",
                     "/apis/metrics.k8s.io/v1beta1/nodes/node-007",
                     "/api/v1/nodes",
                     "/apis/metrics.k8s.io/v1beta1/pods?window=30m"):
            def get():
                with urllib.request.urlopen(base + path, timeout=60) as r:
                    r.read()
            print("%-58s median %7.1f  p90 %7.1f  min %7.1f ms" % ((path,) + timed(get, a.repeat)))
        kubectl = shutil.which("kubectl")
        if not kubectl:
            print("# kubectl not installed: `kubectl top` not measured")
            return
        cfg = os.path.join(tmp, "kubeconfig")
        with open(cfg, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "Config", "current-context": "k",
                       "clusters": [{"name": "k", "cluster": {"server": base}}],
                       "users": [{"name": "u", "user": {}}],
                       "contexts": [{"name": "k", "context": {"cluster": "k", "user": "u"}}]},
                      f)
        env = {**os.environ, "KUBECONFIG": cfg, "HOME": tmp}
        for args in (["top", "pods", "-A"], ["top", "pods", "-A", "--containers"],
                     ["top", "node"]):
            def run():
                subprocess.run([kubectl, *args], env=env, check=True, capture_output=True)
            print("%-58s median %7.1f  p90 %7.1f  min %7.1f ms"
                  % (("kubectl " + " ".join(args),) + timed(run, max(5, a.repeat // 4))))
    finally:
        srv.terminate()
        srv.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
