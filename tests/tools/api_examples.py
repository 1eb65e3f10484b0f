#!/usr/bin/env python3
"""Capture real request/response pairs of every REST endpoint for docs/api.md.

Starts `kmon server` on a scratch directory and `kmon agent` for this host shipping to
it, posts two namespaces of pods with the prototype's JSON collector endpoints (the
machine runs no Kubernetes), waits a few intervals, then prints each request and its
pretty-printed response as Markdown. Usage:

    tests/tools/api_examples.py [KMON_BINARY] > /tmp/examples.md
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

PORT = 5077
BASE = f"http://127.0.0.1:{PORT}"
PODS = [  # namespace, pod, deployment, cpu millicores, memory bytes
    ("shop", "web-7d4f9c6b8d-x2x9k", "web", 150, 268435456),
    ("shop", "web-7d4f9c6b8d-q8w3z", "web", 120, 251658240),
    ("shop", "cart-5c9d8b7f6-m4n5p", "cart", 40, 104857600),
    ("ops", "backup-28861440-7qkzv", None, 5, 33554432),
]


def request(path, method="GET", body=None, headers=None):
    req = urllib.request.Request(BASE + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def post_pods(node, tick):
    for ns, pod, dep, cpu, mem in PODS:
        doc = {"node_name": node, "cpu_millicores": cpu + tick, "memory_bytes": mem + tick * 4096,
               "disk_io": {"read_bytes": 4096 * tick, "write_bytes": 8192 * tick},
               "network_io": {"bytes_recv": 15000 + tick, "bytes_sent": 9000 + tick}}
        if dep:
            doc["deployment"] = dep
        st, _, b = request(f"/api/namespaces/{ns}/pods/{pod}/metrics", "POST",
                           json.dumps(doc).encode(), {"Content-Type": "application/json"})
        assert st == 204, b


def show(path, method="GET", body=None, headers=None, cut=None):
    st, h, b = request(path, method, body, headers)
    cmd = f"curl -s{'i' if st >= 300 else ''} "
    if method != "GET":
        cmd += f"-X {method} "
    for k, v in (headers or {}).items():
        cmd += f"-H '{k}: {v}' "
    if body:
        cmd += f"--data '{body.decode()}' "
    print(f"### {method} {path.split('?')[0]}\n\n```\n$ {cmd}'http://127.0.0.1:5000{path}'")
    if st >= 300 or not b:
        print(f"HTTP/1.1 {st}")
    if b:
        try:
            doc = json.loads(b)
            if cut and isinstance(doc.get(cut), list) and len(doc[cut]) > 3:
                n = len(doc[cut])
                doc[cut] = doc[cut][:2] + [f"... {n - 2} more"]
            print(json.dumps(doc, indent=2))
        except ValueError:
            lines = b.decode().splitlines()
            print("\n".join(lines[:12] + (["..."] if len(lines) > 12 else [])))
    print("```\n")


def main():
    kmon = sys.argv[1] if len(sys.argv) > 1 else "build/kmon"
    tmp = tempfile.mkdtemp(prefix="kmon-api-")
    env = dict(os.environ, KMON_LOG_LEVEL="warn")
    server = subprocess.Popen([kmon, "server", "--listen", f"127.0.0.1:{PORT}", "--data",
                               f"{tmp}/data"], env=env)
    agent = None
    try:
        for _ in range(100):
            try:
                if request("/readyz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        agent = subprocess.Popen([kmon, "agent", "--listen", "127.0.0.1:0", "--interval", "5s",
                                  "--server", BASE, "--spool-dir", f"{tmp}/spool"], env=env)
        node = os.uname().nodename
        for tick in range(5):
            post_pods(node, tick)
            time.sleep(5)
        show("/")
        show("/healthz")
        show("/readyz")
        show("/api/nodes")
        show(f"/api/nodes/{node}")
        show(f"/api/nodes/{node}/pods", cut="pods")
        show("/api/pods", cut="pods")
        show("/api/pods/web-7d4f9c6b8d-x2x9k")
        show("/api/namespaces")
        show("/api/namespaces/shop")
        show("/api/namespaces/shop/pods", cut="pods")
        show("/api/namespaces/shop/deployments")
        show("/api/namespaces/shop/deployments/web")
        show("/api/namespaces/shop/deployments/web/pods", cut="pods")
        show(f"/api/nodes/{node}/timeseries?window=60&step=10", cut="points")
        show("/api/pods/web-7d4f9c6b8d-x2x9k/timeseries?namespace=shop&window=30", cut="points")
        show("/api/namespaces/shop/timeseries?window=30", cut="points")
        show("/api/deployments/web/timeseries?namespace=shop&window=30", cut="points")
        body = json.dumps({"cpu_millicores": 250, "memory_bytes": 2716020736,
                           "disk_io": {"read_bytes": 1048576, "write_bytes": 524288},
                           "network_io": {"bytes_recv": 15000, "bytes_sent": 9000}}).encode()
        show("/api/nodes/edge-1/metrics", "POST", body, {"Content-Type": "application/json"})
        show("/api/nodes/nope")
        show("/api/nodes/x/timeseries?window=-5")
        show("/api/nodes", "DELETE")
        show("/api/namespaces/shop/pods/p/metrics", "POST", b'{"cpu_millicores": "lots"}',
             {"Content-Type": "application/json"})
        show("/metrics")
    finally:
        for p in (agent, server):
            if p:
                p.terminate()
                p.wait(timeout=20)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
