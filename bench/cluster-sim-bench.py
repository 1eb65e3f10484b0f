#!/usr/bin/python3
"""cluster-sim-bench — how kmon's costs grow with the cluster.

For each size (default 100, 300 and 1 000 nodes of 110 pods), a fresh `kmon server` (the
given build, default flags but for the listen address, the data directory and the admin
API) is loaded by `kmon simulate` (the series a kmon agent on every node and the
cluster-state collector make, with rollouts, crash loops and nodes leaving) for ROUNDS
rounds 15 s of simulated time apart, as fast as the server takes them, ending now. Then:

  series              active series after the first round (kmon_tsdb_head_series)
  create_cpu_s        server CPU-seconds for the first round: the series being created
  samples_per_cpu_s   samples appended per server CPU-second over the later rounds
                      (/proc/PID/stat at the simulator's round boundaries, less the
                      rule pack's threads, kmon-rules, which evaluate meanwhile)
  rss_mib, peak_mib   resident memory after the rounds, and its peak (VmHWM)
  rss_b_per_series    RSS / series; head_b_per_series: the head's own accounting
                      (kmon_tsdb_head_bytes) / series
  wal_b_per_sample    growth of kmon_tsdb_wal_bytes / samples appended, later rounds
  rules_cycle_ms      the default rule pack: the sum over groups of each group's last
                      evaluation (prometheus_rule_group_last_duration_seconds) once every
                      group evaluated after the rounds; rules_worst_group_ms the slowest
  ui_<page>_ms        the dashboard's pages in headless Chromium (bench/ui-bench.mjs):
                      median time from a page's first API call to its last answer
  shutdown_s          SIGTERM to exit
  replay_s, ready_s   restart: the WAL replay as the log says it, and start → /readyz 200
  restart_rss_mib     RSS once ready again
  cut_s               POST /api/v1/admin/flush: the head cut into a block
  block_b_per_sample  kmon_tsdb_blocks_bytes / the samples cut (index included: a few
                      samples a series, so mostly index)
  index_b_per_series  the block's index file / series
  day_b_per_sample    a day of this cluster in one block (compaction's 24 h level): the
                      sample data bytes per sample of a long run (--long NODES:HOURS,
                      default 10 nodes backfilled for 2 h, its own JSON line first) plus
                      this size's index bytes per series / 5 760 samples

Prints one JSON line per size; --markdown FILE writes the table, --plot FILE.png the
curves (matplotlib). Usage:
  bench/cluster-sim-bench.py [--kmon build/kmon] [--nodes 100,300,1000] [--rounds 5]
                             [--long 10:2] [--no-ui] [--markdown FILE]
                             [--plot docs/cluster-sim.png] [--from-json RUN.jsonl]
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TICK = os.sysconf("SC_CLK_TCK")
PAGES = ["overview", "nodes", "namespaces", "workloads", "pods"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, data=None, timeout=600):
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


def metrics(base):
    out = {}
    for line in get(base + "/metrics")[1].decode().splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            try:
                out[k] = float(v)
            except ValueError:
                pass
    return out


def cpu_s(pid, skip=None):
    """The process' CPU-seconds, without its threads named `skip`."""
    def ticks(stat):
        with open(stat) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    total = ticks(f"/proc/{pid}/stat")
    if skip:
        for t in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{t}/comm") as f:
                    if f.read().strip() == skip:
                        total -= ticks(f"/proc/{pid}/task/{t}/stat")
            except OSError:
                pass  # a thread that ended: its time stays in the total
    return total / TICK


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


class Server:
    def __init__(self, kmon, data, port, log):
        self.base = f"http://127.0.0.1:{port}"
        self.args = [kmon, "server", "--listen", f"127.0.0.1:{port}", "--data", data,
                     "--enable-admin-api"]
        self.log = log
        self.p = None

    def start(self):
        """Starts the server; returns the seconds until /readyz answered 200."""
        t0 = time.monotonic()
        self.logf = open(self.log, "a")
        self.p = subprocess.Popen(self.args, stdout=self.logf, stderr=subprocess.STDOUT)
        while True:
            if self.p.poll() is not None:
                sys.exit(f"cluster-sim-bench: kmon server exited {self.p.returncode}; see {self.log}")
            try:
                if get(self.base + "/readyz", timeout=2)[0] == 200:
                    return time.monotonic() - t0
            except OSError:
                pass
            time.sleep(0.05)

    def stop(self):
        """SIGTERM; returns the seconds until it exited."""
        t0 = time.monotonic()
        self.p.send_signal(signal.SIGTERM)
        rc = self.p.wait(timeout=1800)
        self.logf.close()
        if rc != 0:
            sys.exit(f"cluster-sim-bench: kmon server exited {rc} on SIGTERM; see {self.log}")
        return time.monotonic() - t0


def mark(srv):
    m = metrics(srv.base)
    # The rule pack evaluates meanwhile: its threads' time is not ingest's.
    return (cpu_s(srv.p.pid, skip="kmon-rules"), m.get("kmon_tsdb_samples_appended_total", 0),
            m.get("kmon_tsdb_wal_bytes", 0))


def simulate(kmon, srv, nodes, rounds, seed, quiet=False):
    """Runs the simulator; returns [(server CPU-s, samples appended, WAL bytes)] at each
    round's end (index 0: before the first)."""
    marks = [mark(srv)]
    sim = subprocess.Popen([kmon, "simulate", "--url", srv.base + "/api/v1/write",
                            "--nodes", str(nodes), "--rounds", str(rounds), "--seed", str(seed),
                            "--as-fast-as-possible", "--interval", "15s"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in sim.stderr:
        if re.match(r"round \d+:", line):
            if not quiet:
                marks.append(mark(srv))
                print(f"  {nodes} nodes: {line.strip()}", file=sys.stderr)
        elif line.strip():
            print(f"  simulate: {line.strip()}", file=sys.stderr)
    out = sim.stdout.read()
    if sim.wait() != 0:
        sys.exit(f"cluster-sim-bench: kmon simulate failed:\n{out}")
    return marks


def rules_figures(base, after, timeout=240):
    """Each rule group's last duration once every group evaluated after `after`."""
    deadline = time.monotonic() + timeout
    while True:
        m = metrics(base)
        ts = {k: v for k, v in m.items()
              if k.startswith("prometheus_rule_group_last_evaluation_timestamp_seconds")}
        if ts and all(v > after for v in ts.values()):
            d = [v for k, v in m.items()
                 if k.startswith("prometheus_rule_group_last_duration_seconds")]
            return sum(d) * 1000, max(d) * 1000, len(d)
        if time.monotonic() > deadline:
            return None, None, 0
        time.sleep(1)


def ui_figures(base, runs):
    node = shutil.which("node")
    if not node or not os.path.exists("/usr/bin/chromium"):
        print("  ui: skipped (no node or chromium: scripts/install-deps.sh test)", file=sys.stderr)
        return {}
    r = subprocess.run([node, os.path.join(HERE, "ui-bench.mjs"), "--url", base, "--runs",
                        str(runs), "--json"], capture_output=True, text=True, timeout=1800)
    out = {}
    for line in r.stdout.splitlines():
        if line.startswith("{"):
            o = json.loads(line)
            out[f"ui_{o['page']}_ms"] = round(o["wall_ms"]["median"], 1)
    if r.returncode != 0:
        print(f"  ui: {r.stderr.strip()[-500:]}", file=sys.stderr)
    return out


def replay_s(log, start):
    with open(log) as f:
        f.seek(start)
        m = re.findall(r"WAL replay done in ([0-9.]+) s", f.read())
    return float(m[-1]) if m else 0.0


def run_size(a, nodes, work):
    data = os.path.join(work, f"data-{nodes}")
    log = os.path.join(work, f"server-{nodes}.log")
    shutil.rmtree(data, ignore_errors=True)
    srv = Server(a.kmon, data, free_port(), log)
    srv.start()
    pid = srv.p.pid
    marks = simulate(a.kmon, srv, nodes, a.rounds, a.seed)
    ended = time.time()
    m = metrics(srv.base)
    series = m["kmon_tsdb_head_series"]
    steady_cpu = marks[-1][0] - marks[1][0]
    steady_samples = marks[-1][1] - marks[1][1]
    r = {
        "nodes": nodes,
        "series": int(series),
        "create_cpu_s": round(marks[1][0] - marks[0][0], 2),
        "samples_per_cpu_s": round(steady_samples / steady_cpu) if steady_cpu > 0 else None,
        "rss_mib": round(status_kib(pid, "VmRSS") / 1024, 1),
        "peak_mib": round(status_kib(pid, "VmHWM") / 1024, 1),
        "rss_b_per_series": round(status_kib(pid, "VmRSS") * 1024 / series),
        "head_b_per_series": round(m["kmon_tsdb_head_bytes"] / series),
        "wal_b_per_sample": round((marks[-1][2] - marks[1][2]) / steady_samples, 2),
    }
    cycle, worst, groups = rules_figures(srv.base, ended)
    r["rules_cycle_ms"] = round(cycle, 1) if cycle is not None else None
    r["rules_worst_group_ms"] = round(worst, 1) if worst is not None else None
    r["rule_groups"] = groups
    if not a.no_ui:
        r.update(ui_figures(srv.base, a.ui_runs))
    r["shutdown_s"] = round(srv.stop(), 2)
    at = os.path.getsize(log)
    r["ready_s"] = round(srv.start(), 2)
    r["replay_s"] = replay_s(log, at)
    r["restart_rss_mib"] = round(status_kib(srv.p.pid, "VmRSS") / 1024, 1)
    head_samples = metrics(srv.base)["kmon_tsdb_head_samples"]
    t0 = time.monotonic()
    get(srv.base + "/api/v1/admin/flush", data=b"")
    r["cut_s"] = round(time.monotonic() - t0, 2)
    blocks = metrics(srv.base)["kmon_tsdb_blocks_bytes"]
    r["block_b_per_sample"] = round(blocks / head_samples, 3) if head_samples else None
    idx, chunks = block_files(data)
    r["index_b_per_series"] = round(idx / series, 1)
    if a.long_data_b_per_sample is not None:
        # A day in one block (compaction's 24 h level): the sample data at a long run's
        # density, and the index once per series.
        r["day_b_per_sample"] = round(a.long_data_b_per_sample + idx / series / 5760, 3)
    srv.stop()
    if not a.keep:
        shutil.rmtree(data, ignore_errors=True)
    return r


def block_files(data):
    """Bytes of the blocks' index files and of their chunks."""
    idx = chunks = 0
    blocks = os.path.join(data, "blocks")
    for b in os.listdir(blocks):
        d = os.path.join(blocks, b)
        if os.path.isfile(os.path.join(d, "index")):
            idx += os.path.getsize(os.path.join(d, "index"))
        c = os.path.join(d, "chunks")
        if os.path.isfile(c):
            chunks += os.path.getsize(c)
        for root, _, files in os.walk(c):
            chunks += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return idx, chunks


def long_run(a, work):
    """Sample data bytes per sample over chunks as long as a real head's: LONG_NODES nodes
    backfilled for LONG_HOURS, cut into blocks."""
    nodes, hours = (float(v) for v in a.long.split(":"))
    data = os.path.join(work, "data-long")
    shutil.rmtree(data, ignore_errors=True)
    srv = Server(a.kmon, data, free_port(), os.path.join(work, "server-long.log"))
    srv.start()
    simulate(a.kmon, srv, int(nodes), int(hours * 240), a.seed, quiet=True)
    samples = metrics(srv.base)["kmon_tsdb_samples_appended_total"]
    get(srv.base + "/api/v1/admin/flush", data=b"")
    series = metrics(srv.base)["kmon_tsdb_series_created_total"]
    srv.stop()
    idx, chunks = block_files(data)
    if not a.keep:
        shutil.rmtree(data, ignore_errors=True)
    return {"long": a.long, "samples": int(samples), "series": int(series),
            "data_b_per_sample": round(chunks / samples, 3),
            "index_b_per_series": round(idx / series, 1),
            "b_per_sample": round((chunks + idx) / samples, 3)}


ROWS = [
    ("series", "active series", "{:,}"),
    ("create_cpu_s", "first round (series created): server CPU-s", "{}"),
    ("samples_per_cpu_s", "samples per server CPU-second (later rounds)", "{:,}"),
    ("rss_mib", "RSS MiB after the rounds (peak)", None),
    ("rss_b_per_series", "RSS bytes per series", "{:,}"),
    ("head_b_per_series", "head bytes per series (own accounting)", "{:,}"),
    ("wal_b_per_sample", "WAL bytes per sample", "{}"),
    ("block_b_per_sample", "block bytes per sample of these rounds (index included)", "{}"),
    ("index_b_per_series", "block index bytes per series", "{}"),
    ("day_b_per_sample", "bytes per sample over a day (the long run's data + this index)", "{}"),
    ("shutdown_s", "SIGTERM to exit, s", "{}"),
    ("replay_s", "restart: WAL replay s", "{}"),
    ("ready_s", "restart: start to ready s", "{}"),
    ("restart_rss_mib", "RSS MiB after the restart", "{}"),
    ("cut_s", "head cut into a block, s", "{}"),
    ("rules_cycle_ms", "rule pack: all groups once, ms (slowest group)", None),
] + [(f"ui_{p}_ms", f"dashboard {p}: first call to last answer, ms", "{}") for p in PAGES]


def markdown(results):
    head = "| | " + " | ".join(f"{r['nodes']} nodes" for r in results) + " |"
    lines = [head, "|---" * (len(results) + 1) + "|"]
    for key, title, fmt in ROWS:
        cells = []
        for r in results:
            if key == "rss_mib":
                cells.append(f"{r['rss_mib']} ({r['peak_mib']})")
            elif key == "rules_cycle_ms":
                cells.append(f"{r['rules_cycle_ms']} ({r['rules_worst_group_ms']})")
            elif r.get(key) is None:
                cells.append("–")
            else:
                cells.append(fmt.format(r[key]))
        if any(c != "–" for c in cells):
            lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [r["series"] / 1e6 for r in results]
    fig, ax = plt.subplots(2, 3, figsize=(15, 8.5))
    fig.suptitle("kmon server under `kmon simulate` "
                 f"({', '.join(str(r['nodes']) for r in results)} nodes of 110 pods)")

    def panel(a, title, ylabel, series):
        for label, key in series:
            ys = [r.get(key) for r in results]
            if any(y is not None for y in ys):
                a.plot(x, [y if y is not None else float("nan") for y in ys], "o-", label=label)
        a.set_title(title)
        a.set_xlabel("active series (millions)")
        a.set_ylabel(ylabel)
        a.set_ylim(bottom=0)
        a.grid(alpha=0.3)
        a.legend(fontsize=8)

    panel(ax[0][0], "ingest", "samples per server CPU-s",
          [("later rounds", "samples_per_cpu_s")])
    panel(ax[0][1], "memory", "bytes per series",
          [("RSS", "rss_b_per_series"), ("head (own accounting)", "head_b_per_series")])
    panel(ax[0][2], "disk", "bytes per sample",
          [("WAL (later rounds)", "wal_b_per_sample"),
           ("a day in one block (extrapolated)", "day_b_per_sample")])
    panel(ax[1][0], "restart and cut", "seconds",
          [("WAL replay", "replay_s"), ("start to ready", "ready_s"),
           ("head cut into a block", "cut_s"), ("SIGTERM to exit", "shutdown_s")])
    panel(ax[1][1], "rule pack", "ms", [("all groups once", "rules_cycle_ms"),
                                        ("slowest group", "rules_worst_group_ms")])
    panel(ax[1][2], "dashboard pages (first call to last answer)", "ms",
          [(p, f"ui_{p}_ms") for p in PAGES])
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kmon", default=os.path.join(ROOT, "build", "kmon"))
    ap.add_argument("--nodes", default="100,300,1000")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--ui-runs", type=int, default=3)
    ap.add_argument("--no-ui", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the data directories")
    ap.add_argument("--work", help="directory for data and logs (default: a temporary one)")
    ap.add_argument("--markdown")
    ap.add_argument("--plot")
    ap.add_argument("--long", default="10:2",
                    help="NODES:HOURS of backfill for the sample data density (0:0: none)")
    ap.add_argument("--from-json", help="redraw the table and plot from a run's JSON lines")
    a = ap.parse_args()
    a.long_data_b_per_sample = None
    if a.rounds < 2:
        sys.exit("cluster-sim-bench: --rounds must be at least 2 (the first creates the series)")
    if a.from_json:
        with open(a.from_json) as f:
            results = [json.loads(line) for line in f if line.startswith('{"nodes"')]
    else:
        work = a.work or tempfile.mkdtemp(prefix="kmon-cluster-sim-")
        os.makedirs(work, exist_ok=True)
        results = []
        if a.long != "0:0":
            lr = long_run(a, work)
            print(json.dumps(lr), flush=True)
            a.long_data_b_per_sample = lr["data_b_per_sample"]
        for n in (int(v) for v in a.nodes.split(",")):
            r = run_size(a, n, work)
            print(json.dumps(r), flush=True)
            results.append(r)
        if not a.work and not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(markdown(results))
    if a.plot:
        plot(results, a.plot)


if __name__ == "__main__":
    main()
