#!/usr/bin/python3
"""/federate over many series: a kmon server (and, with --prometheus, Debian's Prometheus
beside it) gets N series of one sample each, 30 s before now, by remote_write; then
`GET /federate?match[]={__name__=~"bench_.+"}` is read to the end and the run reports
the time to the last byte, the bytes and lines, and the server's RSS before the request
and at its highest while answering (VmRSS sampled every 20 ms; the answer is streamed,
so it should not grow with N).

  bench/federate-bench.py [--series N] [--families F] [--kmon build/kmon] [--prometheus]
"""
import argparse
import os
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "promql"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "runtime"))
import harness  # noqa: E402
import rwlib  # noqa: E402


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def bodies(n, families, now, per_request=40000):
    out, batch = [], []
    for i in range(n):
        labels = [("__name__", f"bench_{i % families:03d}"), ("instance", f"host-{i % 997}:9100"),
                  ("job", "bench"), ("series", f"{i:07d}")]
        batch.append((labels, [(now - 10000, float(i))]))
        if len(batch) == per_request:
            out.append(rwlib.snappy(rwlib.write_request(batch)))
            batch = []
    if batch:
        out.append(rwlib.snappy(rwlib.write_request(batch)))
    return out


def federate(name, server, n):
    pid = server.p.pid
    before = rss_kib(pid)
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(pid))
            time.sleep(0.02)

    t = threading.Thread(target=sample)
    t.start()
    url = server.base + "/federate?match[]=" + urllib.request.quote('{__name__=~"bench_.+"}')
    t0 = time.monotonic()
    size = lines = 0
    with urllib.request.urlopen(url, timeout=3600) as r:
        while True:
            chunk = r.read(1 << 20)
            if not chunk:
                break
            size += len(chunk)
            lines += chunk.count(b"\n")
    secs = time.monotonic() - t0
    done.set()
    t.join()
    print(f"{name}: {n} series, {lines} lines, {size / 1048576:.1f} MiB in {secs:.2f} s "
          f"({n / secs:,.0f} series/s); RSS {before / 1024:.0f} MiB before, "
          f"{peak[0] / 1024:.0f} MiB at most while answering (+{(peak[0] - before) / 1024:.0f})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--series", type=int, default=1000000)
    ap.add_argument("--families", type=int, default=100)
    ap.add_argument("--kmon", default=os.path.join(HERE, "..", "build", "kmon"))
    ap.add_argument("--prometheus", action="store_true")
    args = ap.parse_args()
    wd = harness.Workdir()
    servers = []
    try:
        kmon = harness.Kmon(os.path.abspath(args.kmon), wd.path,
                            extra=["--max-series", "0", "--max-decoded-bytes", "256MiB"])
        servers.append(("kmon", kmon))
        if args.prometheus:
            servers.append(("Prometheus", harness.Prometheus(wd.path)))
        # Each server gets data ending near its own now and is asked at once (the samples
        # must be within the 5 m lookback when it answers).
        for name, s in servers:
            t0 = time.monotonic()
            reqs = bodies(args.series, args.families, int(time.time() * 1000))
            t1 = time.monotonic()
            harness.push(s.base, reqs, name)
            print(f"{name}: {len(reqs)} requests built in {t1 - t0:.1f} s, pushed in "
                  f"{time.monotonic() - t1:.1f} s")
            federate(name, s, args.series)
    finally:
        for _, s in servers:
            s.stop()
        wd.close()


if __name__ == "__main__":
    main()
