"""The agent shipping to a real server: this machine appears in every endpoint with
plausible figures, a busy process moves cpu_millicores, time series have their points;
and delivery survives the server's outages: stopped for 30 s (the agent's spool fills
and drains), killed with SIGKILL (nothing it acknowledged is lost), down across a
restart of the agent itself (the spool survives it); a 400 is dropped, not retried. Continuity is
checked on the stored samples themselves (`kmon tsdb dump`): the agent's
kmon_agent_collections_total counts 1, 2, 3, … one per collection, so a lost or
duplicated delivery shows as a hole or a repeat."""
import http.server
import json
import os
import signal
import subprocess
import threading
import time

import pytest

from conftest import KMON, SANITIZED, Proc, free_port, http_get, meminfo, scrape, value

SLOW = 3 if SANITIZED else 1


def get_json(url):
    return json.loads(http_get(url, timeout=10)[2])


def wait_for(cond, timeout, what, proc_logs=()):
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.2)
    logs = "\n".join(p.log() for p in proc_logs)
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


def start_agent(tmp_path, server_base, node="test-node", interval="1s"):
    port = free_port()
    proc = Proc(["agent", "--listen", f"127.0.0.1:{port}", "--interval", interval,
                 "--server", server_base, "--node-name", node, "--cluster", "ci",
                 "--spool-dir", str(tmp_path / "spool")])
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(base + "/healthz"), 20, "the agent", [proc])
    return proc, base


def _answers(url):
    try:
        return http_get(url, timeout=2)[0] == 200
    except OSError:
        return False


def node_seen(base, node):
    try:
        nodes = get_json(base + "/api/nodes")["nodes"]
    except OSError:
        return None
    return next((n for n in nodes if n["node_name"] == node and n["cpu_millicores"] is not None),
                None)


def collections(data_dir, node="test-node"):
    """The stored values of the agent's collection counter, in time order."""
    out = subprocess.run([KMON, "tsdb", "dump", "--format", "json", "--log-level", "error",
                          "--metric", "kmon_agent_collections_total", "--label",
                          f"node={node}", data_dir], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    series = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(series) == 1, out.stdout
    return [float(v) for _, v in series[0]["samples"]], [t for t, _ in series[0]["samples"]]


def assert_continuous(values):
    assert values, "no samples"
    want = list(range(int(values[0]), int(values[0]) + len(values)))
    holes = sorted(set(want) - set(int(v) for v in values))
    assert [int(v) for v in values] == want, f"holes or repeats; missing {holes[:20]}"


@pytest.fixture
def running(server_factory, tmp_path):
    """A server and an agent shipping to it every second (the server told so)."""
    srv, base, data = server_factory("--scrape-interval", "1s")
    agent, abase = start_agent(tmp_path, base)
    yield srv, base, data, agent, abase
    agent.close()


def test_this_machine_in_every_endpoint(running):
    srv, base, data, agent, abase = running
    node = wait_for(lambda: node_seen(base, "test-node"), 20, "the node in /api/nodes",
                    [srv, agent])
    assert node["cluster"] == "ci"
    mem = meminfo()
    assert node["memory_total_bytes"] == mem["MemTotal"]
    used = mem["MemTotal"] - mem["MemAvailable"]
    assert 0 < node["memory_bytes"] < mem["MemTotal"]
    assert abs(node["memory_bytes"] - used) < mem["MemTotal"] * 0.2
    assert 0 <= node["cpu_millicores"] <= os.cpu_count() * 1000 * 1.05
    assert node["cpu"] == f"{node['cpu_millicores']}m"
    assert node["memory"].endswith(("KB", "MB", "GB", "TB"))
    assert node["disk_io"]["read_bytes_total"] is not None
    assert node["pod_count"] == 0
    detail = get_json(base + "/api/nodes/test-node")
    assert detail["node_name"] == "test-node"
    assert detail["memory_total_bytes"] == mem["MemTotal"]
    assert get_json(base + "/api/nodes/test-node/pods") == {
        "node_name": "test-node", "pods": [], "count": 0}
    health = get_json(base + "/")
    assert health["status"] == "ok" and health["series"] > 100
    assert health["last_ingest"] is not None
    # The agent says what it delivered.
    m = scrape(abase)
    assert value(m, "kmon_agent_ship_samples_total", result="delivered") > 0
    assert value(m, "kmon_agent_ship_up") == 1


def test_busy_process_raises_cpu(running):
    srv, base, data, agent, abase = running
    wait_for(lambda: node_seen(base, "test-node"), 20, "the node", [srv, agent])
    busy = subprocess.Popen(["/usr/bin/python3", "-c", "while True: pass"])
    try:
        os.sched_setaffinity(busy.pid, {0})
        # cpu_millicores is the rate over the last minute (the REST API's rate window):
        # a core kept busy passes 800m once it fills most of the window.
        wait_for(lambda: (get_json(base + "/api/nodes/test-node")["cpu_millicores"] or 0) > 800,
                 90, "cpu_millicores above 800 with a busy process", [srv, agent])
    finally:
        busy.kill()
        busy.wait()


def test_timeseries_has_its_points(running):
    srv, base, data, agent, abase = running
    wait_for(lambda: node_seen(base, "test-node"), 20, "the node", [srv, agent])
    time.sleep(12)
    ts = get_json(base + "/api/nodes/test-node/timeseries?window=10&step=1")
    assert ts["step"] == 1 and ts["window"] == 10
    # Ten steps; the newest may not have its sample yet.
    assert ts["count"] in (9, 10), ts
    stamps = [p["timestamp"] for p in ts["points"]]
    assert stamps == sorted(stamps)
    for p in ts["points"][1:]:
        assert p["memory_bytes"] > 0 and p["cpu_millicores"] is not None
    # The default step follows --scrape-interval, the agent's 1 s.
    auto = get_json(base + "/api/nodes/test-node/timeseries?window=8")
    assert auto["step"] == 1 and auto["count"] in (7, 8)


def test_outage_fills_and_drains_the_spool(server_factory, tmp_path):
    srv, base, data = server_factory()
    port = int(base.rsplit(":", 1)[1])
    agent, abase = start_agent(tmp_path, base)
    try:
        wait_for(lambda: node_seen(base, "test-node"), 20, "the node", [srv, agent])
        srv.stop()
        time.sleep(30)
        m = scrape(abase)
        spooled = value(m, "kmon_agent_spool_requests")
        assert spooled >= 20, spooled
        assert value(m, "kmon_agent_ship_up") == 0
        assert value(m, "kmon_agent_spool_dropped_samples_total") == 0
        srv2, base2, _ = server_factory(data=data, port=port)
        wait_for(lambda: value(scrape(abase), "kmon_agent_spool_requests") == 0, 30,
                 "the spool to drain", [srv2, agent])
        time.sleep(2)
        agent.stop()
        values, stamps = collections(data)
        assert_continuous(values)
        assert len(values) >= 35
        # Each collection stored once: no sample was stored twice with another value.
        assert value(scrape(base2), "kmon_ingest_samples_total", outcome="conflicting") == 0
    finally:
        agent.close()


def test_kill_9_loses_nothing_acknowledged(server_factory, tmp_path):
    srv, base, data = server_factory()
    port = int(base.rsplit(":", 1)[1])
    agent, abase = start_agent(tmp_path, base)
    try:
        wait_for(lambda: node_seen(base, "test-node"), 20, "the node", [srv, agent])
        time.sleep(3)
        delivered = value(scrape(abase), "kmon_agent_ship_requests_total", result="delivered")
        srv.stop(signal.SIGKILL)
        time.sleep(3)
        srv2, base2, _ = server_factory(data=data, port=port)
        wait_for(lambda: value(scrape(abase), "kmon_agent_spool_requests") == 0
                 and value(scrape(abase), "kmon_agent_ship_up") == 1, 30,
                 "delivery to resume", [srv2, agent])
        time.sleep(2)
        agent.stop()
        values, _ = collections(data)
        # Every collection since the first is there once: what the killed server had
        # acknowledged survived, and the agent replayed the rest.
        assert_continuous(values)
        assert values[0] == 1
        assert len(values) >= delivered
    finally:
        agent.close()


def test_agent_restart_keeps_its_spool(server_factory, tmp_path):
    """The server is down while the agent runs, the agent is stopped and started again
    (SIGTERM, same spool), then the server comes back: what both agent runs collected
    arrives, in order, the first run's before the second's."""
    srv, base, data = server_factory()
    port = int(base.rsplit(":", 1)[1])
    agent, abase = start_agent(tmp_path, base)
    try:
        wait_for(lambda: node_seen(base, "test-node"), 20, "the node", [srv, agent])
        srv.stop()
        time.sleep(6)
        spooled = value(scrape(abase), "kmon_agent_spool_requests")
        assert spooled >= 3, spooled
        agent.stop()
        assert list((tmp_path / "spool").glob("*.spool")), "no spool segment on disk"
    finally:
        agent.close()
    agent, abase = start_agent(tmp_path, base)
    try:
        time.sleep(4)
        assert value(scrape(abase), "kmon_agent_spool_requests") >= spooled
        srv2, base2, _ = server_factory(data=data, port=port)
        wait_for(lambda: value(scrape(abase), "kmon_agent_spool_requests") == 0
                 and value(scrape(abase), "kmon_agent_ship_up") == 1, 30,
                 "the spool to drain", [srv2, agent])
        time.sleep(2)
        agent.stop()
        values, stamps = collections(data)
        assert stamps == sorted(stamps)
        # The counter restarts with the agent: the first run's collections continue
        # from 1, then the second run's from 1 again, each without holes.
        restart = next(i for i in range(1, len(values)) if values[i] < values[i - 1])
        assert_continuous(values[:restart])
        assert_continuous(values[restart:])
        assert values[0] == 1 and values[restart] == 1
        assert value(scrape(base2), "kmon_ingest_samples_total", outcome="conflicting") == 0
    finally:
        agent.close()


class _Refusing(http.server.BaseHTTPRequestHandler):
    """A remote_write endpoint that refuses every request with 400 and a long sentence
    (as the server does when it stores a request's good samples and refuses others)."""
    posts = 0
    MESSAGE = ("3 of 412 samples refused: 2 too far in the future (example "
               "up{job=\"x\"} at 4102444800000), 1 with label name \"0bad\" not valid; "
               + "the others are stored; " * 20 + "TAIL-NOT-LOGGED")

    def do_POST(self):
        type(self).posts += 1
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"error": self.MESSAGE}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_other_4xx_is_not_retried_and_logged(tmp_path):
    """A 400 is the sender's fault: the batch is dropped (counted as rejected), never
    retried nor spooled, and the server's message (its first 300 characters) is in the
    agent's log at warn — once a minute, not once per request."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    agent, abase = start_agent(tmp_path, base)
    try:
        wait_for(lambda: value(scrape(abase), "kmon_agent_ship_requests_total",
                               result="rejected") >= 3, 20, "three rejections", [agent])
        m = scrape(abase)
        rejected = value(m, "kmon_agent_ship_requests_total", result="rejected")
        # One POST per rejected batch: none was sent twice.
        assert _Refusing.posts <= rejected + 1, (_Refusing.posts, rejected)
        assert value(m, "kmon_agent_spool_requests") == 0
        agent.stop()
        lines = [l for l in agent.log().splitlines() if "HTTP 400" in l]
        assert len(lines) == 1, agent.log()
        assert " warn " in lines[0] and "not retried" in lines[0], lines[0]
        assert _Refusing.MESSAGE[:250] in lines[0], lines[0]
        assert "TAIL-NOT-LOGGED" not in lines[0] and lines[0].endswith("\u2026"), lines[0]
    finally:
        agent.close()
        srv.shutdown()
