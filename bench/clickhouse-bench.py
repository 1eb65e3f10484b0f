#!/usr/bin/python3
"""clickhouse-bench.py — kmon on ClickHouse against kmon on its embedded store, in one run
on this machine. For each dataset (the side-by-side harness's default one, ../shared/bench
rwgen: 11 589 series x 240 samples at 15 s; and one with 10x the series, `--nodes 200`):

  - two ClickHouse shards (Debian's clickhouse-server, tests/runtime/clickhouse_fixture.py),
    a `kmon server --storage clickhouse` on them and a `kmon server` on the embedded store;
  - rwgen pushes the dataset to each kmon; ingest = samples per kmon CPU-second (kmon's
    own utime + stime from /proc/PID/stat, from before the push until ClickHouse holds
    every sample), with ClickHouse's CPU (both shards) and the wall time beside it;
  - bytes per sample on ClickHouse's disk: system.parts bytes_on_disk of samples and of
    series (active parts, every shard, after OPTIMIZE … FINAL), against the embedded
    store's blocks after its flush;
  - the harness's query set (bench/queries.tsv) as range queries over the dataset's hour
    at 15 s and 60 s steps: median and p90 of RUNS runs after one warm-up, kmon on
    ClickHouse against kmon embedded, and whether both answer the same series count.

Then, on a fresh cluster, 30 days of a small cluster (rwgen --nodes 2 --pods-per-node 10,
one sample every 2 min; kmon with --retention 40d) and 30-day range queries at a 1 h step
asked of kmon with its rollups (auto) and of a second kmon with --clickhouse-rollups off
on the same ClickHouse: the latencies and whether the answers agree.

  bench/clickhouse-bench.py [--kmon-bin build/kmon] [--datasets default,10x] [--runs 5]
                            [--skip-30d] [--keep] [--json FILE]

Prints one table (markdown). A measurement, never a test: nothing here passes or fails.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HARNESS = os.path.join(ROOT, "..", "shared", "bench")
sys.path.insert(0, os.path.join(ROOT, "tests", "runtime"))
sys.path.insert(0, HARNESS)

import clickhouse_fixture  # noqa: E402
from benchtool import Client, load_queries, pctl  # noqa: E402

DATASETS = {
    "default": ["--nodes", "20", "--pods-per-node", "30", "--samples", "240",
                "--interval-s", "15"],
    "10x": ["--nodes", "200", "--pods-per-node", "30", "--samples", "240",
            "--interval-s", "15"],
}
DAY = 86400000
H = 3600000
STEPS = (15, 60)
LONG_QUERIES = [
    ("mem_avail_max", "max_over_time(node_memory_MemAvailable_bytes[1h])"),
    ("wss_by_ns", "sum by (namespace) (container_memory_working_set_bytes)"),
    ("wss_max_by_pod", "max by (pod) (max_over_time(container_memory_working_set_bytes[1h]))"),
    ("load1_min", "min_over_time(node_load1[1h])"),
]
TICK = os.sysconf("SC_CLK_TCK")


def log(msg):
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def cpu_s(pid):
    """utime + stime of a process, seconds (fields 14, 15 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / TICK


def die_with_parent():
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except OSError:
        pass


class Kmon:
    """A kmon server on a free port, its log in the work directory."""

    def __init__(self, kmon_bin, work, name, extra):
        self.name = name
        self.port = clickhouse_fixture._free_ports(1)[0]
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(work, f"{name}.log")
        self.logf = open(self.log_path, "w")
        self.p = subprocess.Popen(
            [kmon_bin, "server", "--listen", f"127.0.0.1:{self.port}",
             "--data", os.path.join(work, name), "--log-level", "warn",
             "--self-scrape-interval", "0", "--default-rules=false", "--enable-admin-api",
             *extra], stdout=self.logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent)
        deadline = time.monotonic() + 60
        while True:
            if self.p.poll() is not None:
                raise SystemExit(f"{name} exited with {self.p.returncode}:\n{self.tail()}")
            try:
                if Client(self.base, timeout=2).get("/readyz", {})[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{name} not ready within 60 s:\n{self.tail()}")
            time.sleep(0.1)

    def cpu(self):
        return cpu_s(self.p.pid)

    def tail(self):
        self.logf.flush()
        with open(self.log_path, errors="replace") as f:
            return "".join(f.readlines()[-30:])

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.logf.close()


def build_rwgen(build):
    src = os.path.join(HARNESS, "rwgen.c")
    out = os.path.join(build, "bench", "rwgen")
    if not os.path.exists(src):
        raise SystemExit(f"the harness is missing: expected {src} (../shared beside the repo)")
    if not os.access(out, os.X_OK) or os.path.getmtime(src) > os.path.getmtime(out):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        subprocess.run(["gcc", "-O2", "-std=gnu11", "-o", out, src, "-lcurl", "-lsnappy",
                        "-lpthread", "-lm"], check=True)
    return out


def push(rwgen, url, args):
    p = subprocess.run([rwgen, "--url", url + "/api/v1/write", "--quiet", *args],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"rwgen failed ({p.returncode}): {p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def ch_samples(ch):
    return int(ch.scalar("SELECT count() FROM kmon.samples"))


def ch_cpu(ch):
    return sum(cpu_s(s.p.pid) for s in ch.shards)


def ingest_clickhouse(rwgen, kmon, ch, args, want_samples):
    """Push to kmon-on-ClickHouse; kmon's CPU until ClickHouse holds every sample."""
    c0, k0, t0 = kmon.cpu(), ch_cpu(ch), time.monotonic()
    summary = push(rwgen, kmon.base, args)
    pushed = time.monotonic() - t0
    deadline = time.monotonic() + 1800
    while ch_samples(ch) < want_samples:
        if time.monotonic() > deadline:
            raise SystemExit(f"ClickHouse holds {ch_samples(ch)} of {want_samples} samples "
                             f"after 30 min:\n{kmon.tail()}")
        time.sleep(0.2)
    return {"samples": want_samples, "kmon_cpu_s": kmon.cpu() - c0,
            "clickhouse_cpu_s": ch_cpu(ch) - k0, "push_wall_s": pushed,
            "stored_wall_s": time.monotonic() - t0, "rwgen": summary}


def ingest_embedded(rwgen, kmon, args, want_samples):
    c0, t0 = kmon.cpu(), time.monotonic()
    summary = push(rwgen, kmon.base, args)
    wall = time.monotonic() - t0
    # Cut the head into a block, as the harness's kmon backend does before measuring.
    req = urllib.request.Request(kmon.base + "/api/v1/admin/flush", data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=600) as r:
        if r.status // 100 != 2:
            raise SystemExit(f"kmon flush answered {r.status}")
    return {"samples": want_samples, "kmon_cpu_s": kmon.cpu() - c0, "push_wall_s": wall,
            "stored_wall_s": wall, "rwgen": summary}


def optimize_and_measure(ch):
    """bytes_on_disk and rows of the active parts of each table on every shard, after
    every partition of samples_local and series_local is merged (OPTIMIZE … FINAL)."""
    out = {}
    for i in range(len(ch.shards)):
        for table in ("samples_local", "series_local", "rollup_5m_local", "rollup_1h_local"):
            parts = ch.query(f"SELECT DISTINCT partition_id FROM system.parts WHERE "
                             f"database = 'kmon' AND table = '{table}' AND active",
                             shard=i).split()
            for p in parts:
                ch.query(f"OPTIMIZE TABLE kmon.{table} PARTITION ID '{p}' FINAL", shard=i,
                         timeout=1800)
        for table, b, r in ch.rows("SELECT table, sum(bytes_on_disk), sum(rows) FROM "
                                   "system.parts WHERE database = 'kmon' AND active "
                                   "GROUP BY table", shard=i):
            o = out.setdefault(table, [0, 0])
            o[0] += int(b)
            o[1] += int(r)
    return out


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_blocks * 512
            except OSError:
                pass
    return total


def series_count(body):
    try:
        return len(json.loads(body)["data"]["result"])
    except (ValueError, KeyError, TypeError):
        return None


def time_queries(bases, queries, start_s, end_s, steps, runs):
    """{(name, step): {server: (median ms, p90 ms, series)}}; servers asked in turn."""
    out = {}
    clients = {n: Client(b) for n, b in bases.items()}
    for name, q in queries:
        for step in steps:
            params = {"query": q, "start": f"{start_s:.3f}", "end": f"{end_s:.3f}",
                      "step": str(step)}
            row = {}
            for n, cl in clients.items():
                times, series = [], None
                for k in range(runs + 1):
                    st, body, dt = cl.get("/api/v1/query_range", params)
                    if st != 200:
                        series = f"HTTP {st}: {body[:200]!r}"
                        break
                    if k:
                        times.append(dt * 1000)
                    series = series_count(body)
                times.sort()
                row[n] = (statistics.median(times) if times else None,
                          pctl(times, 90), series)
            out[(name, step)] = row
    return out


def same_answers(bases, queries, start_s, end_s, step):
    """Whether every server answers each query with the same JSON data."""
    out = {}
    for name, q in queries:
        params = {"query": q, "start": f"{start_s:.3f}", "end": f"{end_s:.3f}",
                  "step": str(step)}
        docs = []
        for b in bases.values():
            st, body, _ = Client(b).get("/api/v1/query_range", params)
            d = json.loads(body).get("data") if st == 200 else body
            if isinstance(d, dict):
                d["result"] = sorted(d["result"], key=lambda r: sorted(r["metric"].items()))
            docs.append(json.dumps(d, sort_keys=True))
        out[name] = len(set(docs)) == 1
    return out


def run_dataset(a, rwgen, name, work):
    args = list(DATASETS[name])
    now = int(time.time() * 1000)
    start = (now - 2 * H) // H * H  # a whole hour, ending at least an hour before now
    args += ["--start-ms", str(start), "--concurrency", "4", "--batch", "5000"]
    desc = json.loads(subprocess.run([rwgen, "--describe", *args], capture_output=True,
                                     text=True, check=True).stdout)
    log(f"{name}: {desc['series']} series, {desc['samples']} samples")
    d = os.path.join(work, name)
    ch = clickhouse_fixture.ClickHouse(2, os.path.join(d, "clickhouse"))
    procs = []
    try:
        ch.start()
        kch = Kmon(a.kmon_bin, d, "kmon-clickhouse",
                   ["--retention", "40d", *ch.kmon_flags()])
        procs.append(kch)
        kem = Kmon(a.kmon_bin, d, "kmon-embedded", ["--retention", "40d"])
        procs.append(kem)
        ing_ch = ingest_clickhouse(rwgen, kch, ch, args, desc["samples"])
        log(f"{name}: ClickHouse ingest {ing_ch['samples'] / ing_ch['kmon_cpu_s']:.0f} "
            f"samples per kmon CPU-s")
        ing_em = ingest_embedded(rwgen, kem, args, desc["samples"])
        disk = optimize_and_measure(ch)
        em_blocks = dir_bytes(os.path.join(d, "kmon-embedded", "blocks"))
        queries = load_queries(os.path.join(HERE, "queries.tsv"),
                               {"NODE0": desc["first_node"]})
        bases = {"clickhouse": kch.base, "embedded": kem.base}
        lat = time_queries(bases, queries, start / 1000, (start + H) / 1000, STEPS, a.runs)
        return {"dataset": name, "series": desc["series"], "samples": desc["samples"],
                "ingest_clickhouse": ing_ch, "ingest_embedded": ing_em, "disk": disk,
                "embedded_blocks_bytes": em_blocks,
                "latency": {f"{k[0]}@{k[1]}": v for k, v in lat.items()}}
    finally:
        for p in procs:
            p.stop()
        ch.stop()


def run_30d(a, rwgen, work):
    now = int(time.time() * 1000)
    interval = 120
    start = (now - 30 * DAY) // H * H
    samples = (now - H - start) // (interval * 1000)
    args = ["--nodes", "2", "--pods-per-node", "10", "--interval-s", str(interval),
            "--samples", str(samples), "--start-ms", str(start), "--concurrency", "2",
            "--batch", "20000"]
    desc = json.loads(subprocess.run([rwgen, "--describe", *args], capture_output=True,
                                     text=True, check=True).stdout)
    log(f"30d: {desc['series']} series, {desc['samples']} samples")
    d = os.path.join(work, "30d")
    ch = clickhouse_fixture.ClickHouse(2, os.path.join(d, "clickhouse"))
    procs = []
    try:
        ch.start()
        auto = Kmon(a.kmon_bin, d, "kmon-rollups", ["--retention", "40d", *ch.kmon_flags()])
        procs.append(auto)
        ing = ingest_clickhouse(rwgen, auto, ch, args, desc["samples"])
        raw = Kmon(a.kmon_bin, d, "kmon-raw", ["--retention", "40d",
                                                "--clickhouse-rollups", "off",
                                                *ch.kmon_flags()])
        procs.append(raw)
        bases = {"rollups": auto.base, "raw": raw.base}
        s, e = (start + H) / 1000, (start + samples * interval * 1000) / 1000
        lat = time_queries(bases, LONG_QUERIES, s, e, (3600,), a.runs)
        same = same_answers(bases, LONG_QUERIES, s, e, 3600)
        return {"series": desc["series"], "samples": desc["samples"], "ingest": ing,
                "latency": {k[0]: v for k, v in lat.items()}, "same_answer": same}
    finally:
        for p in procs:
            p.stop()
        ch.stop()


def fmt(v, nd=1):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.{nd}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def render(results, long):
    out = []
    names = [r["dataset"] for r in results]
    out.append("| | " + " | ".join(names) + " |")
    out.append("|---|" + "---:|" * len(names))

    def row(label, fn):
        out.append(f"| {label} | " + " | ".join(fn(r) for r in results) + " |")

    row("series / samples", lambda r: f"{r['series']:,} / {r['samples']:,}")
    row("ingest into ClickHouse, samples per kmon CPU-second",
        lambda r: fmt(r["samples"] / r["ingest_clickhouse"]["kmon_cpu_s"], 0))
    row("  kmon CPU / ClickHouse CPU (both shards), s",
        lambda r: f"{fmt(r['ingest_clickhouse']['kmon_cpu_s'])} / "
                  f"{fmt(r['ingest_clickhouse']['clickhouse_cpu_s'])}")
    row("  wall: push acknowledged / all in ClickHouse, s",
        lambda r: f"{fmt(r['ingest_clickhouse']['push_wall_s'])} / "
                  f"{fmt(r['ingest_clickhouse']['stored_wall_s'])}")
    row("ingest embedded, samples per kmon CPU-second",
        lambda r: fmt(r["samples"] / r["ingest_embedded"]["kmon_cpu_s"], 0))

    def per_sample(r, tables):
        return fmt(sum(r["disk"].get(t, [0, 0])[0] for t in tables) / r["samples"], 3)

    row("ClickHouse bytes per sample: samples + series",
        lambda r: per_sample(r, ("samples_local", "series_local")))
    row("  samples table alone", lambda r: per_sample(r, ("samples_local",)))
    row("  series table, bytes per series",
        lambda r: fmt(r["disk"].get("series_local", [0, 0])[0] / r["series"], 1))
    row("  rollups (5 m + 1 h), bytes per sample",
        lambda r: per_sample(r, ("rollup_5m_local", "rollup_1h_local")))
    row("embedded store bytes per sample (blocks)",
        lambda r: fmt(r["embedded_blocks_bytes"] / r["samples"], 3))
    keys = list(results[0]["latency"]) if results else []
    for k in keys:
        def lat(r, k=k):
            v = r["latency"].get(k)
            if not v:
                return "–"
            c, e = v["clickhouse"], v["embedded"]
            flag = "" if c[2] == e[2] else f" (series {c[2]} vs {e[2]})"
            return f"{fmt(c[0])} / {fmt(e[0])}{flag}"
        row(f"`{k}` median ms, on ClickHouse / embedded", lat)
    if long:
        out.append("")
        out.append(f"30 days, {long['series']:,} series, {long['samples']:,} samples, "
                   f"range query at step 1 h ({long['samples'] / long['ingest']['kmon_cpu_s']:,.0f} "
                   "samples per kmon CPU-second into ClickHouse):")
        out.append("")
        out.append("| query | rollups median ms | raw median ms | same answer |")
        out.append("|---|---:|---:|---|")
        for name, q in LONG_QUERIES:
            v = long["latency"][name]
            out.append(f"| `{q}` | {fmt(v['rollups'][0])} | {fmt(v['raw'][0])} | "
                       f"{'yes' if long['same_answer'][name] else 'NO'} |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--kmon-bin", default=os.environ.get("KMON_BIN",
                                                         os.path.join(ROOT, "build", "kmon")))
    ap.add_argument("--datasets", default="default,10x")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--skip-30d", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--json", help="write every figure to this file")
    a = ap.parse_args()
    a.kmon_bin = os.path.abspath(a.kmon_bin)
    why = clickhouse_fixture.missing()
    if why:
        raise SystemExit(why)
    for n in a.datasets.split(","):
        if n not in DATASETS:
            raise SystemExit(f"unknown dataset {n!r} (default, 10x)")
    rwgen = build_rwgen(os.path.dirname(a.kmon_bin))
    work = tempfile.mkdtemp(prefix="kmon-ch-bench-")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(2))
    try:
        results = [run_dataset(a, rwgen, n, work) for n in a.datasets.split(",") if n]
        long = None if a.skip_30d else run_30d(a, rwgen, work)
    finally:
        if a.keep:
            log(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"datasets": results, "30d": long}, f, indent=1, default=str)
    print(render(results, long))


if __name__ == "__main__":
    main()
