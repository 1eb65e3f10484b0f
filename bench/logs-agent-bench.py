#!/usr/bin/env python3
"""Agent log throughput: MiB of log text shipped per agent CPU-second.

Writes ~SIZE of realistic Kubernetes container logs (JSON access logs, klog lines, Java
stack traces, 16 KiB partials for the occasional long line) in the CRI format under a
temporary host root, starts `kmon agent` on it shipping to a receiver, and waits until
the agent's kmon_agent_logs_lines_total{stage="shipped"} reaches the number of lines
written. The agent's CPU time is read from /proc/<pid>/stat (user + system) at that
moment; throughput = line text shipped / CPU seconds (and / wall seconds).

The receiver is either a sink in this script (answers 204 to every push without
decoding it: the agent's cost alone) or a real `kmon server` (--server URL).

  bench/logs-agent-bench.py --kmon build-rel/kmon --size 1GiB
  bench/logs-agent-bench.py --kmon build-rel/kmon --size 256MiB --containers 16
"""
import argparse
import http.server
import os
import random
import re
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../tests/runtime"))
from kubelet_logs import Container  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")


def size_arg(s):
    m = re.fullmatch(r"(\d+)(KiB|MiB|GiB)?", s)
    if not m:
        raise argparse.ArgumentTypeError("a size like 512MiB")
    return int(m.group(1)) * {None: 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[m.group(2)]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PATHS = ["/api/v1/users", "/api/v1/orders", "/healthz", "/static/app.js", "/api/v1/cart/items"]
METHODS = ["GET", "GET", "GET", "POST", "PUT"]


def gen_lines(rng, kind, n):
    """n realistic lines (bytes) of one kind."""
    out = []
    for i in range(n):
        if kind == "json":
            out.append((
                '{"ts":"2026-12-06T05:%02d:%02d.%03dZ","level":"info","msg":"request done",'
                '"method":"%s","path":"%s","status":%d,"bytes":%d,"duration_ms":%.3f,'
                '"trace_id":"%032x","user_agent":"Mozilla/5.0 (X11; Linux x86_64)"}'
                % (i // 60 % 60, i % 60, rng.randrange(1000), rng.choice(METHODS),
                   rng.choice(PATHS), rng.choice([200, 200, 200, 201, 404, 500]),
                   rng.randrange(100, 90000), rng.random() * 300, rng.getrandbits(128))).encode())
        elif kind == "klog":
            out.append((
                "I1206 05:%02d:%02d.%06d       1 controller.go:%d] \"Reconciling\" "
                "object=\"ns-%d/deploy-%d\" generation=%d resourceVersion=\"%d\""
                % (i // 60 % 60, i % 60, rng.randrange(10**6), rng.randrange(100, 900),
                   rng.randrange(50), rng.randrange(200), rng.randrange(1, 40),
                   rng.randrange(10**8))).encode())
        else:  # java: a record and, now and then, its stack trace
            if i % 20 == 0:
                out.append(b"2026-12-06 05:19:08.123 ERROR [main] c.e.OrderService - failed "
                           b"to place order %d" % i)
                out.append(b"java.lang.IllegalStateException: inventory not reserved")
                for d in range(12):
                    out.append(b"\tat com.example.orders.OrderService.place%d(OrderService.java"
                               b":%d)" % (d, 100 + d))
            else:
                out.append(b"2026-12-06 05:19:08.%03d INFO  [http-nio-8080-exec-%d] "
                           b"c.e.OrderController - order %d accepted in %d ms"
                           % (rng.randrange(1000), rng.randrange(1, 200), i,
                              rng.randrange(1, 900)))
    return out


class Sink:
    def __init__(self):
        self.bytes = 0
        sink = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                while n:
                    chunk = self.rfile.read(min(n, 1 << 20))
                    if not chunk:
                        break
                    n -= len(chunk)
                    sink.bytes += len(chunk)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

        class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.port = free_port()
        self.httpd = S(("127.0.0.1", self.port), H)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.port}"


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def shipped_lines(metrics_url):
    try:
        with urllib.request.urlopen(metrics_url, timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return -1
    m = re.search(r'^kmon_agent_logs_lines_total\{stage="shipped"\} (\S+)$', text, re.M)
    return int(float(m.group(1))) if m else -1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kmon", default=os.path.join(os.path.dirname(__file__), "../build/kmon"))
    ap.add_argument("--size", type=size_arg, default=1 << 30, help="log text to write (1GiB)")
    ap.add_argument("--containers", type=int, default=8)
    ap.add_argument("--server", help="a running kmon server's base URL instead of the sink")
    ap.add_argument("--encoding", default="protobuf", choices=["protobuf", "json"])
    ap.add_argument("--batch", default="1MiB", help="--logs-batch-bytes")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="kmon-logbench-")
    root = os.path.join(tmp, "root")
    rng = random.Random(42)
    kinds = ["json", "klog", "java"]
    per = a.size // a.containers
    total_lines = total_text = 0
    t0 = time.monotonic()
    for k in range(a.containers):
        c = Container(root, f"ns{k % 3}", f"pod{k}", "app", rotate_bytes=64 << 20)
        kind = kinds[k % 3]
        pool = gen_lines(rng, kind, 20000)
        written = 0
        i = 0
        while written < per:
            ln = pool[i % len(pool)] + b" #%d" % i  # unique lines
            if i % 5000 == 4999:
                ln = ln + b" " + b"z" * 40000  # a long line: containerd's 16 KiB partials
            c.line(ln)
            written += len(ln)
            total_lines += 1
            i += 1
        total_text += written
        c.close()
    print(f"wrote {total_text / 2**20:.0f} MiB of log text, {total_lines} lines, "
          f"{a.containers} containers in {time.monotonic() - t0:.0f}s", flush=True)

    sink = None
    base = a.server
    if not base:
        sink = Sink()
        base = sink.base
    port = free_port()
    args = [a.kmon, "agent", "--listen", f"127.0.0.1:{port}", "--interval", "1s",
            "--server", base, "--node-name", "bench", "--cluster", "bench", "--spool-dir", "none",
            "--host-root", root, "--logs", "on", "--logs-encoding", a.encoding,
            "--logs-batch-bytes", a.batch, "--logs-state-dir", os.path.join(tmp, "state"),
            "--disable-collectors", "stat,meminfo,loadavg,pressure,diskstats,filesystem,netdev,"
            "netclass,filefd,time,uname,pods"]
    t0 = time.monotonic()
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "agent.log"), "w"))
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        while True:
            n = shipped_lines(url)
            if n >= total_lines:
                break
            if p.poll() is not None:
                sys.exit(f"the agent exited: see {tmp}/agent.log")
            time.sleep(0.05)
        wall = time.monotonic() - t0
        cpu = cpu_seconds(p.pid)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait()
    mib = total_text / 2**20
    print(f"agent: {cpu:.2f} CPU-s, {wall:.2f} s wall (metrics published every 1 s)")
    print(f"throughput: {mib / cpu:.0f} MiB/s of log text per agent CPU-second, "
          f"{mib / wall:.0f} MiB/s wall")
    if sink:
        print(f"push bodies: {sink.bytes / 2**20:.0f} MiB ({a.encoding})")
    if a.keep:
        print(f"kept {tmp}")
    else:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
