#!/usr/bin/env python3
"""MCP tool-call latency on the 100-node / 3 000-pod dataset (bench/README.md, "MCP").

1. A `kmon server` (default rule pack on) on a free port, loaded through remote_write
   with tests/ui/gen_cluster.py (NODES nodes, PODS pods, an hour of history every 30 s)
   and its pods' logs and events through Loki's push API (tests/ui/gen_logs.py).
2. The MCP SDK's real client (tests/runtime/mcp_client.cjs, Streamable HTTP) calls each
   tool REPEAT times; the first call of each is a warm-up, not counted.
3. Prints one JSON line per tool: median, p90 and max client-side latency (ms), and the
   size of its answer's text (bytes) — what a model's context receives.

    bench/mcp-bench.py [BUILD_DIR] [--nodes N] [--pods P] [--repeat R]
Needs node and the SDK (scripts/web-deps.sh test)."""
import argparse
import json
import os
import shutil
import socket
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


def wait_ready(base, proc):
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit("the server exited")
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("the server did not get ready")


def gen(script, base, a):
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "ui", script), "--url", base,
                        "--nodes", str(a.nodes), "--pods", str(a.pods)],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default=os.path.join(ROOT, "build"))
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--pods", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=11)
    a = ap.parse_args()
    kmon = os.path.join(a.build, "kmon")
    node = shutil.which("node")
    modules = os.path.join(ROOT, "web", "node_modules")
    tmp = tempfile.mkdtemp(prefix="mcp-bench-")
    base = f"http://127.0.0.1:{free_port()}"
    proc = subprocess.Popen([kmon, "server", "--listen", base[7:], "--data", tmp + "/data",
                             "--log-level", "warn"])
    try:
        wait_ready(base, proc)
        t0 = time.monotonic()
        cl = gen("gen_cluster.py", base, a)
        lg = gen("gen_logs.py", base, a)
        load_s = time.monotonic() - t0
        ns, pod = cl["busiest_pod"]
        node_name = "node-001"
        calls = [
            ("cluster_overview", {}),
            ("promql_query", {"query": "sum by (namespace) (rate(container_cpu_usage_seconds_total[5m]))"}),
            ("promql_range", {"query": "sum by (namespace) (container_memory_working_set_bytes)",
                              "range": "1h"}),
            ("list_metrics", {}),
            ("label_values", {"label": "pod", "match": f'kube_pod_info{{namespace="{ns}"}}'}),
            ("top_pods", {"by": "cpu"}),
            ("top_pods", {"by": "memory"}),
            ("top_pods", {"by": "restarts"}),
            ("top_nodes", {"by": "cpu"}),
            ("top_nodes", {"by": "memory"}),
            ("top_nodes", {"by": "restarts"}),
            ("describe_pod", {"namespace": ns, "pod": pod}),
            ("search_logs", {"query": f'{{namespace="{ns}"}} |= "error"', "limit": 20}),
            ("search_logs", {"query": '{source="kubernetes-events"}', "limit": 20}),
            ("active_alerts", {}),
            ("alert_history", {}),
        ]
        plan = {"calls": [{"name": n, "arguments": x} for n, x in calls], "repeat": a.repeat}
        pf = os.path.join(tmp, "plan.json")
        with open(pf, "w") as f:
            json.dump(plan, f)
        r = subprocess.run([node, os.path.join(ROOT, "tests", "runtime", "mcp_client.cjs"),
                            "http", base, kmon, pf], env=dict(os.environ, NODE_PATH=modules),
                           capture_output=True, text=True, check=True)
        out = json.loads(r.stdout)
        print(json.dumps({"nodes": a.nodes, "pods": a.pods, "series": cl["series"],
                          "log_lines": lg.get("lines"), "load_s": round(load_s, 1)}))
        for c in out["calls"]:
            ms = sorted(c["ms"][1:])
            res = c["result"]
            text = res["content"][0]["text"] if "content" in res else json.dumps(res)
            print(json.dumps({
                "tool": c["name"], "arguments": c["arguments"],
                "median_ms": round(ms[len(ms) // 2], 1),
                "p90_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.9))], 1),
                "max_ms": round(ms[-1], 1), "answer_bytes": len(text.encode()),
                "isError": res.get("isError")}))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
