#!/usr/bin/env python3
"""kstate-bench — the cluster-state collector on a generated cluster served by the
Kubernetes API double (tests/runtime/kubeapi.py): NODES nodes, DEPLOYMENTS deployments
with their ReplicaSets and PODS pods of two containers (spread evenly), NAMESPACES
namespaces.  It runs `kmon agent --mode cluster` (the collector alone: no TSDB in the
figures), or with --server `kmon server --cluster-state` (the collector inside the server,
storing every emission in its TSDB); with --ship the agent ships every collection by
remote_write to a sink in this script (shipped_requests_per_interval,
shipped_mb_per_interval), without which it emits nothing and only renders /metrics.
It prints one JSON line:

  generation_s         the double generating and storing the cluster (not kmon)
  lists_done_s         start -> the last kind's first watch request, as the double logged
                       it (a reflector watches once its list is complete): every kind
                       listed, paged by 500
  pods_list_s          the pods' first list request -> their watch request (paging 30 000
                       pods through the double and the collector)
  first_emission_s     agent: start -> the end of the first /metrics that lists every pod
                       (kube_pod_info), /metrics read once lists_done and then every
                       POLL s (default 2), streamed and counted, never held whole;
                       first_emission_after_s is the start of the last read that did not
                       list them all (or lists_done_s): the emission happened in between.
                       server: start -> kmon_cluster_state_stored_emissions_total >= 1
                       on the server's own /metrics (small), read every 0.2 s.
  rss_*_mib, hwm_*_mib VmRSS and VmHWM (peak) from /proc/PID/status: at lists_done
                       (nothing rendered yet), at first emission, after INTERVALS
                       intervals with nothing read (hwm_steady: the peak over those
                       intervals alone; the peak is reset through /proc/PID/clear_refs
                       before each phase), while /metrics is rendered once (agent), and
                       while the events are applied
  cpu_ms_per_interval  utime+stime over INTERVALS intervals with nothing read / INTERVALS
  cpu_ms_to_lists_done utime+stime from start to lists_done
  series               agent: kube_* series on one /metrics (with scrape_s, scrape_mb);
                       server: kmon_cluster_state_stored_series (store_s: the last
                       emission with ingest, kmon_cluster_state_store_duration_seconds)
  emission_s           kmon_cluster_state_emission_duration_seconds (the last emission)
  events_per_s         EVENTS pods MODIFIED (a label added) while the double holds its
                       watch events back, then released as one burst: EVENTS / (release ->
                       the collector's end of the pods watch has read every byte: the
                       double has written them all and the socket's receive queue is
                       empty in /proc/net/tcp, polled every 5 ms).  The reflector applies
                       an event in the callback that reads it, so this is the time to apply
                       them to within one read buffer.  events_counted: growth of
                       kmon_cluster_state_events_total{kind="pods"} read one interval later
                       (when /metrics can be read).  events_sent_s: release -> the double has
                       written the last event; double_event_generation_s: the double
                       making the EVENTS updates (held, not part of events_per_s).
  metrics_error        agent: what /metrics answered when it could not be rendered

Usage: bench/kstate-bench.py [--pods 30000] [--nodes 1000] [--deployments 3000]
       [--kmon build/kmon] [--interval 5s] [--intervals 4] [--events 5000] [--server]
       [--poll 2]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "runtime"))

from kubeapi import KubeAPI, make_pod, make_replicaset  # noqa: E402
from kubeobjects import make_deployment, make_namespace, make_node  # noqa: E402

KINDS = 13  # the kinds the collector watches by default


def parse_duration(s):
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    m = re.fullmatch(r"([0-9.]+)(ms|s|m|h)", s)
    if not m:
        raise SystemExit(f"--interval: not a duration: {s}")
    return float(m.group(1)) * units[m.group(2)]


_SELF = re.compile(rb"\n(kmon_cluster_state_[a-z_]+(?:\{[^}\n]*\})?) ([^\s]+)")


def scrape(url, timeout=600):
    """Read /metrics in 1 MiB pieces without keeping it: kube_* lines, kube_pod_info lines,
    bytes, and the kmon_cluster_state_* samples.  {"status": code, ...}."""
    t0 = time.monotonic()
    out = {"status": 200, "series": 0, "pods": 0, "bytes": 0, "self": {}}
    try:
        r = urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as e:
        out["status"] = e.code
        out["error"] = e.read(2000).decode(errors="replace").strip()
        out["seconds"] = time.monotonic() - t0
        return out
    with r:
        tail = b"\n"
        while True:
            chunk = r.read(1 << 20)
            if not chunk:
                break
            out["bytes"] += len(chunk)
            buf = tail + chunk
            cut = buf.rfind(b"\n")
            part, tail = buf[:cut + 1], buf[cut:]
            out["series"] += part.count(b"\nkube_")
            out["pods"] += part.count(b"\nkube_pod_info{")
            for m in _SELF.finditer(part):
                out["self"][m.group(1).decode()] = float(m.group(2))
    out["seconds"] = time.monotonic() - t0
    return out


def proc_cpu_ms(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def proc_mem(pid):
    """(VmRSS, VmHWM) in MiB."""
    got = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                got[line.split(":")[0]] = int(line.split()[1]) / 1024
    return round(got["VmRSS"], 1), round(got["VmHWM"], 1)


def reset_hwm(pid):
    """VmHWM := VmRSS (Linux >= 4.0)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def tcp_queues(local_port, remote_port):
    """(tx_queue, rx_queue) of the IPv4 socket local_port -> remote_port, or None."""
    want = (f"{local_port:04X}", f"{remote_port:04X}")
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            p = line.split()
            if (p[1].split(":")[1], p[2].split(":")[1]) == want:
                tx, rx = p[4].split(":")
                return int(tx, 16), int(rx, 16)
    return None


def watcher(api, resource):
    with api._lock:
        for w in api._watchers:
            if w.resource == resource and w.streaming:
                return w
    return None


def generate(api, a):
    pods = []
    for i in range(a.nodes):
        api.add(make_node(f"node-{i:04d}"))
    for i in range(a.namespaces):
        api.add(make_namespace(f"ns-{i:02d}"))
    per = max(1, a.pods // a.deployments)
    for d in range(a.deployments):
        ns = f"ns-{d % a.namespaces:02d}"
        dep = make_deployment(f"app-{d:04d}", ns, replicas=per)
        api.add(dep)
        rs = make_replicaset(f"app-{d:04d}-6d4cf56db6", ns, f"app-{d:04d}",
                             deployment_uid=dep["metadata"]["uid"], replicas=per)
        api.add(rs)
        for p in range(per):
            if len(pods) == a.pods:
                break
            name = f"app-{d:04d}-6d4cf56db6-{p:05d}"
            api.add_pod(make_pod(name, ns, f"node-{len(pods) % a.nodes:04d}",
                                 owner=("ReplicaSet", rs["metadata"]["name"]),
                                 containers=["app", "sidecar"]))
            pods.append((ns, name))
    return pods


class Sink:
    """A remote_write receiver that reads each request whole and answers 204, counting
    requests and bytes (what the agent ships, without a store's cost in the figures)."""

    def __init__(self):
        import http.server
        import threading
        sink = self
        self.requests = self.bytes = 0
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                self.rfile.read(n)
                with sink.lock:
                    sink.requests += 1
                    sink.bytes += n
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def counts(self):
        with self.lock:
            return self.requests, self.bytes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=30000)
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--deployments", type=int, default=3000)
    ap.add_argument("--namespaces", type=int, default=50)
    ap.add_argument("--kmon", default=os.path.join(HERE, "..", "build", "kmon"))
    ap.add_argument("--interval", default="5s")
    ap.add_argument("--intervals", type=int, default=4)
    ap.add_argument("--events", type=int, default=5000)
    ap.add_argument("--server", action="store_true",
                    help="run `kmon server --cluster-state` instead of the agent")
    ap.add_argument("--ship", action="store_true",
                    help="agent: ship every collection by remote_write to a sink that "
                         "reads and discards it (the emission then happens; without it the "
                         "agent only renders /metrics on demand)")
    ap.add_argument("--poll", type=float, default=2.0,
                    help="seconds between two reads of the agent's /metrics (at least 2)")
    ap.add_argument("--timeout", type=float, default=900.0)
    a = ap.parse_args()
    interval_s = parse_duration(a.interval)
    poll = max(2.0, a.poll)
    work = tempfile.mkdtemp(prefix="kstate-bench-")
    res = {"mode": "server" if a.server else "agent", "pods": 0, "nodes": a.nodes,
           "deployments": a.deployments, "interval": a.interval}

    t0 = time.monotonic()
    api = KubeAPI(os.path.join(work, "api"), bookmark_interval=60.0).start()
    pods = generate(api, a)
    res["pods"] = len(pods)
    res["generation_s"] = round(time.monotonic() - t0, 1)
    print(f"# generated {a.nodes} nodes, {a.deployments} deployments, {len(pods)} pods in "
          f"{res['generation_s']}s", file=sys.stderr)

    kc = api.write_kubeconfig(os.path.join(work, "kubeconfig"))
    port = 19000 + os.getpid() % 1000
    base = f"http://127.0.0.1:{port}"
    if a.server:
        cmd = [a.kmon, "server", "--listen", f"127.0.0.1:{port}", "--data",
               os.path.join(work, "data"), "--cluster-state", "--kubeconfig", kc,
               "--cluster-state-interval", a.interval]
    else:
        cmd = [a.kmon, "agent", "--mode", "cluster", "--listen", f"127.0.0.1:{port}",
               "--interval", a.interval, "--kubeconfig", kc, "--spool-dir", "none"]
        if a.ship:
            sink = Sink().start()
            cmd += ["--remote-write", f"http://127.0.0.1:{sink.port}/api/v1/write"]
            res["mode"] = "agent+ship"
    log = open(os.path.join(work, "kmon.log"), "w")
    api.clear_log()
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stderr=log)
    pid = proc.pid
    deadline = start + a.timeout

    def since(t):
        return round(t - start, 2)

    try:
        # 1. Every kind listed: each has had its first watch request (the double's log).
        while True:
            first_watch = {}
            for r in api.requests(watch=True):
                first_watch.setdefault(r.path, r.time)
            if len(first_watch) >= KINDS:
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"the lists did not complete (log: {work}/kmon.log)")
            time.sleep(0.05)
        lists_done = max(first_watch.values())
        res["lists_done_s"] = since(lists_done)
        res["cpu_ms_to_lists_done"] = round(proc_cpu_ms(pid))
        pod_lists = api.requests(pred=lambda r: r.path == "/api/v1/pods" and not r.watch)
        pod_watch = [t for p, t in first_watch.items() if p == "/api/v1/pods"]
        if pod_lists and pod_watch:
            res["pods_list_s"] = round(pod_watch[0] - pod_lists[0].time, 2)
            res["pods_list_pages"] = len(pod_lists)
        res["rss_synced_mib"], res["hwm_synced_mib"] = proc_mem(pid)

        # 2. The first complete emission.
        lower = lists_done
        first = None
        if a.server:
            while time.monotonic() < deadline:
                s = scrape(base + "/metrics", timeout=60)
                if s["self"].get("kmon_cluster_state_stored_emissions_total", 0) >= 1:
                    first = time.monotonic()
                    break
                lower = time.monotonic()
                time.sleep(0.2)
            res["poll_s"] = 0.2
        else:
            res["poll_s"] = poll
            while time.monotonic() < deadline:
                t = time.monotonic()
                s = scrape(base + "/metrics")
                if s["status"] != 200:
                    res["metrics_error"] = f'HTTP {s["status"]}: {s.get("error", "")}'
                    res["metrics_error_after_s"] = round(s["seconds"], 2)
                    break
                if s["pods"] >= len(pods):
                    first = time.monotonic()
                    break
                lower = t
                time.sleep(max(0.0, t + poll - time.monotonic()))
        res["first_emission_s"] = since(first) if first else None
        res["first_emission_after_s"] = since(lower) if first else None
        res["rss_first_emission_mib"], res["hwm_first_emission_mib"] = proc_mem(pid)

        # 3. Steady state: INTERVALS intervals, nothing read.
        res["hwm_reset"] = reset_hwm(pid)
        cpu0 = proc_cpu_ms(pid)
        shipped0 = sink.counts() if a.ship and not a.server else None
        time.sleep(interval_s * a.intervals)
        cpu1 = proc_cpu_ms(pid)
        res["cpu_ms_per_interval"] = round((cpu1 - cpu0) / a.intervals, 1)
        if shipped0:
            r1, b1 = sink.counts()
            res["shipped_requests_per_interval"] = round((r1 - shipped0[0]) / a.intervals, 1)
            res["shipped_mb_per_interval"] = round((b1 - shipped0[1]) / a.intervals / 1e6, 2)
        res["rss_steady_mib"], res["hwm_steady_mib"] = proc_mem(pid)

        # 4. Series (and, for the agent, what one /metrics costs).
        reset_hwm(pid)
        s = scrape(base + "/metrics")
        own = s["self"]
        if "kmon_cluster_state_emission_duration_seconds" in own:
            res["emission_s"] = round(own["kmon_cluster_state_emission_duration_seconds"], 3)
        if a.server:
            res["series"] = int(own.get("kmon_cluster_state_stored_series", -1))
            res["store_s"] = round(own.get("kmon_cluster_state_store_duration_seconds", -1), 3)
        elif s["status"] == 200:
            res["series"] = s["series"]
            res["scrape_s"] = round(s["seconds"], 2)
            res["scrape_mb"] = round(s["bytes"] / 1e6, 1)
            res["rss_scrape_mib"], res["hwm_scrape_mib"] = proc_mem(pid)
        else:
            res["series"] = None
            res.setdefault("metrics_error", f'HTTP {s["status"]}: {s.get("error", "")}')
        ev0 = s["self"].get('kmon_cluster_state_events_total{kind="pods"}')

        # 5. Watch events: EVENTS pods modified while held, released as one burst.
        w = watcher(api, "pods")
        agent_port, api_port = w.conn.getpeername()[1], w.conn.getsockname()[1]
        sent0 = w.sent
        changed = pods[: a.events]
        reset_hwm(pid)
        t1 = time.monotonic()
        with api.hold_watches():
            for ns, name in changed:
                api.modify_pod(ns, name,
                               lambda p: p["metadata"].setdefault("labels", {}).update(bench="1"))
            released = time.monotonic()
        sent_at = drained_at = None
        quiet = 0
        while time.monotonic() < released + 600:
            now = time.monotonic()
            if sent_at is None and w.sent - sent0 >= len(changed):
                sent_at = now
            if sent_at is not None:
                agent_q = tcp_queues(agent_port, api_port)
                api_q = tcp_queues(api_port, agent_port)
                if agent_q and api_q and agent_q[1] == 0 and api_q[0] == 0:
                    quiet += 1
                    if quiet == 1:
                        drained_at = now
                    if quiet >= 3:
                        break
                else:
                    quiet = 0
            time.sleep(0.005)
        res["events"] = len(changed)
        res["double_event_generation_s"] = round(released - t1, 2)
        res["events_sent_s"] = round(sent_at - released, 2) if sent_at else None
        res["events_per_s"] = (round(len(changed) / (drained_at - released))
                               if drained_at else None)
        res["rss_after_events_mib"], res["hwm_events_mib"] = proc_mem(pid)
        if ev0 is not None:
            time.sleep(interval_s + 1)  # /metrics shows the counters of the last collection
            s = scrape(base + "/metrics")
            ev1 = s["self"].get('kmon_cluster_state_events_total{kind="pods"}')
            res["events_counted"] = int(ev1 - ev0) if ev1 is not None else None
        print(json.dumps(res, separators=(",", ":")))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        api.stop()


if __name__ == "__main__":
    main()
