#!/usr/bin/python3
"""The cost of TLS and tokens on ingest: the same remote_write requests sent to a kmon
server over plain HTTP, over HTTPS (a P-256 certificate made with openssl, TLS 1.3), and
over HTTPS with a bearer token (--tokens: a write token bound to a cluster, so the gate
hashes the token and ingest sets every series' cluster label), and the server's CPU time
(utime + stime from /proc/PID/stat) per million samples for each.

SERIES series, SAMPLES_PER_REQUEST samples per request (one sample per series, rounds
of increasing timestamps), ROUNDS rounds, sent by CLIENTS threads over keep-alive
connections (as the agent and Prometheus send); with --new-connections every request
opens its own connection (each a full handshake: the worst case). The requests are
encoded by the senders (their CPU is not the server's). Each server is fresh (its own
data directory), with the default flags except no self-scrape and no default rules
(their work is not ingest). Prints one JSON line per transport and the ratios.

  bench/tls-ingest-bench.py [--series 20000] [--samples-per-request 2000] [--rounds 50]
                            [--clients 2] [--new-connections] [--kmon build/kmon]
"""
import argparse
import hashlib
import http.client
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "runtime"))
import rwlib  # noqa: E402
from tlscerts import Certs  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def body_of(first, count, t_ms):
    series = [([("__name__", f"bench_metric_{i % 50:02d}"), ("instance", f"node-{i % 500}:9100"),
                ("job", "bench"), ("series", str(i))], [(t_ms, float(i))])
              for i in range(first, first + count)]
    for labels, _ in series:
        labels.sort()
    return rwlib.snappy(rwlib.write_request(series))


TOKEN = "bench-token-0123456789abcdef"


def start_server(kmon, workdir, name, tls, token, certs):
    port = free_port()
    args = [kmon, "server", "--listen", f"127.0.0.1:{port}", "--data",
            os.path.join(workdir, f"data-{name}"),
            "--self-scrape-interval", "0", "--default-rules=false", "--log-level", "warn"]
    if tls:
        args += ["--tls-cert", certs.server, "--tls-key", certs.server_key]
    if token:
        tokens = os.path.join(workdir, "tokens.yaml")
        with open(tokens, "w") as f:
            f.write(f"tokens:\n  - name: bench\n    sha256: {hashlib.sha256(TOKEN.encode()).hexdigest()}"
                    "\n    scope: write\n    cluster: bench\n  - name: probe\n"
                    f"    sha256: {hashlib.sha256(b'probe').hexdigest()}\n    scope: read\n")
        args += ["--tokens", tokens]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ctx = ssl.create_default_context(cafile=certs.ca) if tls else None
    deadline = time.monotonic() + 30
    while True:
        try:
            c = connect(port, ctx)
            c.request("GET", "/readyz")  # open: a probe needs no token
            if c.getresponse().status == 200:
                c.close()
                return p, port, ctx
        except OSError:
            pass
        if time.monotonic() > deadline or p.poll() is not None:
            p.kill()
            raise SystemExit("the server did not start")
        time.sleep(0.1)


def connect(port, ctx):
    if ctx:
        return http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=60)
    return http.client.HTTPConnection("127.0.0.1", port, timeout=60)


def send_all(port, ctx, jobs, clients, new_connections, token):
    """jobs: [(first, count, t_ms)], sent in order of rounds by `clients` threads."""
    lock = threading.Lock()
    it = iter(jobs)
    errors = []

    def worker():
        conn = None
        while True:
            with lock:
                job = next(it, None)
            if job is None:
                break
            body = body_of(*job)
            if conn is None or new_connections:
                if conn:
                    conn.close()
                conn = connect(port, ctx)
            headers = dict(rwlib.HEADERS)
            if token:
                headers["Authorization"] = f"Bearer {TOKEN}"
            conn.request("POST", "/api/v1/write", body, headers)
            r = conn.getresponse()
            r.read()
            if r.status != 204:
                errors.append(r.status)
        if conn:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"requests refused: {errors[:5]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=20000)
    ap.add_argument("--samples-per-request", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--new-connections", action="store_true")
    ap.add_argument("--kmon", default=os.path.join(HERE, "..", "build", "kmon"))
    a = ap.parse_args()

    workdir = tempfile.mkdtemp(prefix="kmon-tls-bench-")
    try:
        certs = Certs(os.path.join(workdir, "certs"))
        now = int(time.time() * 1000) - a.rounds * 1000 - 60000
        jobs = [(first, min(a.samples_per_request, a.series - first), now + r * 1000)
                for r in range(a.rounds)
                for first in range(0, a.series, a.samples_per_request)]
        samples = a.series * a.rounds
        # The first round of each run creates the series; it is sent before measuring.
        warm = [j for j in jobs if j[2] == now]
        rest = [j for j in jobs if j[2] != now]
        results = {}
        for name, tls, token in (("http", False, False), ("https", True, False),
                                 ("https+token", True, True)):
            p, port, ctx = start_server(a.kmon, workdir, name, tls, token, certs)
            try:
                send_all(port, ctx, warm, a.clients, a.new_connections, token)
                c0, t0 = cpu_s(p.pid), time.monotonic()
                send_all(port, ctx, rest, a.clients, a.new_connections, token)
                c1, t1 = cpu_s(p.pid), time.monotonic()
            finally:
                p.terminate()
                p.wait(30)
            measured = samples - a.series
            results[name] = {
                "transport": name,
                "samples": measured,
                "requests": len(rest),
                "samples_per_request": a.samples_per_request,
                "new_connections": a.new_connections,
                "server_cpu_s": round(c1 - c0, 3),
                "wall_s": round(t1 - t0, 3),
                "server_cpu_s_per_million_samples": round((c1 - c0) / measured * 1e6, 3),
                "samples_per_server_cpu_s": round(measured / max(c1 - c0, 1e-9)),
            }
            print(json.dumps(results[name]), flush=True)
        base = max(results["http"]["server_cpu_s"], 1e-9)
        print(json.dumps({"https_cpu_over_http": round(results["https"]["server_cpu_s"] / base, 3),
                          "https_token_cpu_over_http": round(
                              results["https+token"]["server_cpu_s"] / base, 3)}))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
