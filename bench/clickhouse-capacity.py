#!/usr/bin/env python3
"""How many series one ClickHouse shard holds on this machine under kmon (issue 17): one
clickhouse-server (Debian's, the tests' fixture: zstd, small caches) behind `kmon server
--storage clickhouse`, loaded by `kmon simulate` (the agents' and cluster-state
collector's real series) at growing sizes, a few 15 s rounds each. For each size it
prints the active series, samples per second the shard took (end to end, and per kmon
CPU-second), ClickHouse's RSS and CPU per million samples, bytes on its disk per series
and per sample, and the latency of a cluster-wide query and a one-pod query through
kmon. The closing note extrapolates to 10 shards from these figures.

    bench/clickhouse-capacity.py [--kmon build/kmon] [--nodes 5,20,40] [--rounds 4]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "runtime"))
from clickhouse_fixture import ClickHouse, missing  # noqa: E402
from conftest import free_port  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def metric(base, name):
    with urllib.request.urlopen(base + "/metrics", timeout=30) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
    return None


def query_ms(base, q):
    t0 = time.perf_counter()
    with urllib.request.urlopen(base + "/api/v1/query?" + urllib.parse.urlencode({"query": q}),
                                timeout=300) as r:
        json.loads(r.read())
    return (time.perf_counter() - t0) * 1000


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kmon", default=os.path.join(ROOT, "build", "kmon"))
    ap.add_argument("--nodes", default="5,20,40")
    ap.add_argument("--rounds", type=int, default=4)
    a = ap.parse_args()
    if missing():
        sys.exit(missing())
    tmp = tempfile.mkdtemp(prefix="kmon-ch-capacity-")
    ch = ClickHouse(1, os.path.join(tmp, "ch"), cache_mib=256).start()
    ch_pid = ch.shards[0].p.pid
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    srv = subprocess.Popen([a.kmon, "server", "--listen", f"127.0.0.1:{port}", "--data",
                            os.path.join(tmp, "kmon"), "--log-level", "warn",
                            "--self-scrape-interval", "0", "--default-rules=false",
                            *ch.kmon_flags()])
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(base + "/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        print("| nodes | series | samples/s into ClickHouse | samples per kmon CPU-s | "
              "ClickHouse RSS MiB | ClickHouse CPU-s per M samples | disk B/series | "
              "disk B/sample | cluster-wide query ms | one-pod query ms |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for n in [int(x) for x in a.nodes.split(",")]:
            k0, c0, t0 = cpu_s(srv.pid), cpu_s(ch_pid), time.monotonic()
            out = subprocess.run([a.kmon, "simulate", "--url", base + "/api/v1/write",
                                  "--nodes", str(n), "--rounds", str(a.rounds),
                                  "--as-fast-as-possible", "--connections", "2",
                                  "--seed", str(n)],
                                 capture_output=True, text=True, check=True).stdout
            summary = dict(line.split(" ", 1) for line in out.strip().splitlines() if " " in line)
            while (metric(base, "kmon_clickhouse_spool_unacked_bytes") or 0) > 0:
                time.sleep(0.2)
            secs = time.monotonic() - t0
            samples = float(summary.get("samples", "0"))
            series = float(summary.get("series_last_round", "0"))
            kmon_cpu, ch_cpu = cpu_s(srv.pid) - k0, cpu_s(ch_pid) - c0
            ch.query("OPTIMIZE TABLE kmon.samples FINAL")
            disk = float(ch.scalar("SELECT sum(bytes_on_disk) FROM system.parts WHERE active "
                                   "AND database = 'kmon'"))
            total_series = float(ch.scalar("SELECT uniqExact(id) FROM kmon.series"))
            total_samples = float(ch.scalar("SELECT count() FROM kmon.samples"))
            wide = min(query_ms(base, "sum by (namespace) (rate(container_cpu_usage_seconds_"
                                      "total[5m]))") for _ in range(3))
            one = min(query_ms(base, 'container_memory_working_set_bytes{pod=~"' +
                               'app-0-.*", container!=""}') for _ in range(3))
            print(f"| {n} | {int(series)} | {samples / secs:,.0f} | {samples / kmon_cpu:,.0f} | "
                  f"{rss_mib(ch_pid):,.0f} | {ch_cpu / (samples / 1e6):.2f} | "
                  f"{disk / total_series:,.0f} | {disk / total_samples:.2f} | {wide:,.0f} | "
                  f"{one:,.0f} |", flush=True)
    finally:
        srv.terminate()
        srv.wait()
        ch.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
