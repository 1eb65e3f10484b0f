"""The agent's log collection end to end: real files under a temporary host root, written
at a high rate while rotating exactly as the kubelet does (rename while the runtime still
writes, a new file, gzip of the older ones), the agent killed with SIGKILL mid-rotation
and restarted, the receiving side answering 503 and dying mid-push (after storing the
batch, before answering — the worst case for duplicates): every line arrives exactly once
in order per stream (the receiver drops exact duplicates, as the store does); long lines
written as containerd writes them (16 KiB partials) arrive joined; a 10 MiB line arrives
cut at --logs-max-line with every piece but the last marked; one pod writing 100x more
than the others does not hold their lines back.

The receiving side is a small Loki push receiver in the test (the agent sends Loki's
JSON form with --logs-encoding json), so what arrives is checked line by line."""
import http.server
import json
import os
import signal
import socketserver
import threading
import time

import pytest

from conftest import SANITIZED, Proc, free_port, http_get
from kubelet_logs import Container

SLOW = 3 if SANITIZED else 1
MARK = b" [kmon: line split, continued]"


class Receiver:
    """A Loki push endpoint: entries per stream, exact duplicates dropped."""

    def __init__(self):
        self.lock = threading.Lock()
        self.streams = {}  # (namespace, pod, container, stream) -> [line bytes]
        self.seen = set()
        self.requests = 0
        self.duplicates = 0
        self.fail_next = 0  # answer 503 to this many pushes
        self.drop_next = 0  # store, then close the connection without answering
        self.delay = 0.0
        self.arrival = {}  # line -> monotonic arrival time (for the fairness test)
        self.track_prefix = None
        rec = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path != "/loki/api/v1/push":
                    self.send_response(204)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if rec.delay:
                    time.sleep(rec.delay)
                with rec.lock:
                    rec.requests += 1
                    if rec.fail_next > 0:
                        rec.fail_next -= 1
                        fail = True
                    else:
                        fail = False
                if fail:
                    msg = b'{"error":"try later"}'
                    self.send_response(503)
                    self.send_header("Content-Length", str(len(msg)))
                    self.end_headers()
                    self.wfile.write(msg)
                    return
                rec.store(json.loads(body))
                with rec.lock:
                    drop = rec.drop_next > 0
                    if drop:
                        rec.drop_next -= 1
                if drop:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

        class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.port = free_port()
        self.httpd = S(("127.0.0.1", self.port), H)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.port}"

    def store(self, doc):
        now = time.monotonic()
        with self.lock:
            for s in doc["streams"]:
                lab = s["stream"]
                key = (lab["namespace"], lab["pod"], lab["container"], lab["stream"])
                assert lab["cluster"] == "ci" and lab["node"] == "n1"
                lst = self.streams.setdefault(key, [])
                for ts, line in s["values"]:
                    b = line.encode("utf-8", "surrogateescape")
                    k = (key, ts, b)
                    if k in self.seen:
                        self.duplicates += 1
                        continue
                    self.seen.add(k)
                    lst.append(b)
                    if self.track_prefix and b.startswith(self.track_prefix):
                        self.arrival[b] = now

    def count(self, key):
        with self.lock:
            return len(self.streams.get(key, []))

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def start_agent(tmp_path, rec, *extra):
    port = free_port()
    proc = Proc(["agent", "--listen", f"127.0.0.1:{port}", "--interval", "1s",
                 "--server", rec.base, "--node-name", "n1", "--cluster", "ci",
                 "--spool-dir", "none", "--host-root", str(tmp_path / "root"),
                 "--logs", "on", "--logs-encoding", "json",
                 "--logs-state-dir", str(tmp_path / "state"), *extra])
    return proc, f"http://127.0.0.1:{port}"


def wait_for(cond, timeout, what, procs=()):
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}\n" + "\n".join(p.log() for p in procs))


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def line_of(pod, i, width):
    head = f"{pod} seq={i:08d} ".encode()
    return head + b"x" * max(0, width - len(head))


def test_exactly_once_through_rotation_kills_and_outages(tmp_path, receiver):
    root = tmp_path / "root"
    pods = [f"p{i}" for i in range(4)]
    n_lines = 12000
    cs = {p: Container(str(root), "default", p, "app", rotate_bytes=256 * 1024) for p in pods}
    agents = []
    expected = {p: [] for p in pods}
    try:
        agent, _ = start_agent(tmp_path, receiver)
        agents.append(agent)
        for i in range(n_lines):
            for k, p in enumerate(pods):
                c = cs[p]
                # Realistic widths; every 500th line long (containerd's partials).
                width = 40000 if i % 500 == 250 else 60 + (i * 7 + k * 13) % 200
                ln = line_of(p, i, width)
                expected[p].append(ln)
                c.line(ln)
            if i % 200 == 0:
                for c in cs.values():
                    c.flush()
            if i == 3000:
                # The server goes bad: 503s, then deaths mid-push after storing.
                receiver.fail_next = 3
                receiver.drop_next = 3
            if i == 6000:
                # SIGKILL mid-rotation: a rotation with the runtime's last lines in the
                # renamed file, the kill, and the agent down while more rotations and
                # gzips happen.
                c = cs[pods[0]]
                tail = [line_of(pods[0], n_lines + t, 80) for t in range(3)]
                c.rotate(tail_lines=tail)
                expected[pods[0]].extend(tail)
                agent.stop(signal.SIGKILL)
                for j in range(3):
                    for p in pods:
                        cs[p].rotate()
            if i == 7000:
                agent, _ = start_agent(tmp_path, receiver)
                agents.append(agent)
        for c in cs.values():
            c.flush()
        wait_for(lambda: all(receiver.count(("default", p, "app", "stdout")) >=
                             len(expected[p]) for p in pods), 180,
                 "every line to arrive", agents)
        time.sleep(2)  # anything more (a duplicate that slipped through) would show now
        for p in pods:
            got = receiver.streams[("default", p, "app", "stdout")]
            want = expected[p]  # in file order (pods[0]'s tail lines after seq 6000)
            assert len(got) == len(want), f"{p}: {len(got)} lines, want {len(want)}"
            for a, b in zip(got, want):
                assert a == b, f"{p}: got {a[:60]!r}, want {b[:60]!r}"
        assert receiver.duplicates > 0  # the deaths mid-push did make the agent resend
    finally:
        for a in agents:
            a.stop(signal.SIGKILL)
            a.close()
        for c in cs.values():
            c.close()


def test_ten_mib_line_capped_and_marked(tmp_path, receiver):
    root = tmp_path / "root"
    c = Container(str(root), "big", "giant", "app")
    text = bytes((65 + i % 26) for i in range(10 * 1024 * 1024))
    c.line(b"before")
    c.line(text)
    c.line(b"after")
    c.close()
    agent, _ = start_agent(tmp_path, receiver)
    try:
        key = ("big", "giant", "app", "stdout")
        cap = 256 * 1024  # --logs-max-line's default
        # Pieces of `cap` bytes (cap - mark bytes of text, then the mark) while more than
        # cap bytes remain; the rest unmarked.
        rem, marked = len(text), 0
        while rem > cap:
            rem -= cap - len(MARK)
            marked += 1
        want = 2 + marked + 1
        wait_for(lambda: receiver.count(key) >= want, 60, "the pieces", [agent])
        got = receiver.streams[key]
        assert len(got) == want
        assert got[0] == b"before" and got[-1] == b"after"
        pieces = got[1:-1]
        for p in pieces[:-1]:
            assert len(p) == cap and p.endswith(MARK)
        assert not pieces[-1].endswith(MARK) and len(pieces[-1]) == rem
        assert b"".join(p[:-len(MARK)] for p in pieces[:-1]) + pieces[-1] == text
        wait_for(lambda: f"kmon_agent_logs_split_lines_total {marked}\n" in
                 http_get(_metrics(agent), timeout=10)[2], 20, "the split lines counted",
                 [agent])
    finally:
        agent.stop()
        agent.close()


def _metrics(agent):
    i = agent.args.index("--listen")
    return "http://" + agent.args[i + 1] + "/metrics"


def test_noisy_pod_does_not_hold_back_the_others(tmp_path, receiver):
    root = tmp_path / "root"
    noisy = Container(str(root), "loud", "noisy", "app")
    # A backlog of ~40 MiB the agent needs several seconds to ship (the receiver takes
    # 200 ms per push of at most 1 MiB: 8 s at least).
    for i in range(160000):
        noisy.line(line_of("noisy", i, 250))
    noisy.close()
    receiver.delay = 0.2
    receiver.track_prefix = b"quiet"
    quiet = [Container(str(root), "calm", f"quiet{k}", "app") for k in range(3)]
    agent, _ = start_agent(tmp_path, receiver)
    try:
        nkey = ("loud", "noisy", "app", "stdout")
        wait_for(lambda: receiver.count(nkey) > 0, 30, "the noisy pod's first lines", [agent])
        written = {}
        for i in range(20):
            for k, c in enumerate(quiet):
                ln = b"quiet%d line %d" % (k, i)
                c.line(ln)
                c.flush()
                written[ln] = time.monotonic()
            time.sleep(0.1)
        wait_for(lambda: all(ln in receiver.arrival for ln in written), 60,
                 "the quiet pods' lines", [agent])
        noisy_done = receiver.count(nkey)
        delays = [receiver.arrival[ln] - t for ln, t in written.items()]
        # Every quiet line arrived while the noisy backlog was still being shipped, and
        # within a few seconds of being written.
        assert noisy_done < 160000, "the quiet lines waited for the noisy backlog"
        assert max(delays) < 5 * SLOW, f"quiet lines delayed up to {max(delays):.1f}s"
    finally:
        agent.stop()
        agent.close()
        for c in quiet:
            c.close()


def test_rejected_batches_are_dropped_and_counted(tmp_path):
    """A 400 is final: counted as rejected, logged, not retried; reading goes on."""
    hits = {"n": 0}

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            code, msg = 204, b""
            if self.path == "/loki/api/v1/push":
                hits["n"] += 1
                code, msg = 400, b'{"error":"stream labels are not valid"}'
            self.send_response(code)
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            self.wfile.write(msg)

    port = free_port()
    srv = http.server.HTTPServer(("127.0.0.1", port), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    c = Container(str(tmp_path / "root"), "ns", "pod", "app")
    for i in range(10):
        c.line(b"line %d" % i)
    c.close()

    class R:
        base = f"http://127.0.0.1:{port}"

    agent, _ = start_agent(tmp_path, R)
    try:
        wait_for(lambda: hits["n"] >= 1, 30, "a push", [agent])

        def rejected():
            m = http_get(_metrics(agent), timeout=10)[2]
            return 'kmon_agent_logs_dropped_lines_total{reason="rejected"} 10' in m
        wait_for(rejected, 30, "the rejected lines counted", [agent])
        time.sleep(1.5)
        assert hits["n"] == 1  # not retried
        assert "stream labels are not valid" in agent.log()
    finally:
        agent.stop()
        agent.close()
        srv.shutdown()
        srv.server_close()


def query_stream(base, ns, pod, start_ns, end_ns, limit=5000):
    """Every line of one stream from the server, oldest first."""
    from urllib.parse import urlencode
    q = urlencode({"query": f'{{namespace="{ns}", pod="{pod}"}}', "start": str(start_ns),
                   "end": str(end_ns), "limit": str(limit), "direction": "forward"})
    doc = json.loads(http_get(f"{base}/loki/api/v1/query_range?{q}", timeout=60)[2])
    assert doc["status"] == "success"
    out = []
    for s in doc["data"]["result"]:
        assert s["stream"]["cluster"] == "ci" and s["stream"]["node"] == "n1"
        out.extend((int(ts), line.encode()) for ts, line in s["values"])
    out.sort(key=lambda v: v[0])
    return [line for _, line in out]


def test_real_server_exactly_once_through_kills(tmp_path, server_factory):
    """The same with the real `kmon server` (snappy protobuf pushes): the agent killed
    mid-rotation, the server killed with SIGKILL mid-push and restarted on its data; what
    the store holds is every line once, in order."""
    root = tmp_path / "root"
    port = free_port()
    data = tmp_path / "data"
    server, base, _ = server_factory(data=data, port=port)
    pods = ["r0", "r1"]
    n_lines = 3000
    cs = {p: Container(str(root), "real", p, "app", rotate_bytes=64 * 1024) for p in pods}
    expected = {p: [] for p in pods}

    class R:
        pass
    R.base = base
    agent, _ = start_agent(tmp_path, R, "--logs-encoding", "protobuf")
    agents = [agent]
    try:
        for i in range(n_lines):
            for p in pods:
                ln = line_of(p, i, 80 + i % 150)
                expected[p].append(ln)
                cs[p].line(ln)
            if i % 100 == 0:
                for c in cs.values():
                    c.flush()
                time.sleep(0.01)
            if i == 1000:
                server.stop(signal.SIGKILL)
                time.sleep(1)
                server, base2, _ = server_factory(data=data, port=port)
                assert base2 == base
            if i == 2000:
                cs[pods[0]].flush()
                agent.stop(signal.SIGKILL)
                for p in pods:
                    cs[p].rotate()
                agent, _ = start_agent(tmp_path, R, "--logs-encoding", "protobuf")
                agents.append(agent)
        for c in cs.values():
            c.flush()
        start, end = 1796515200 * 10**9, 1796601600 * 10**9  # 2026-12-06, the whole day

        def complete():
            return all(len(query_stream(base, "real", p, start, end)) >= n_lines for p in pods)
        wait_for(complete, 120, "every line in the store", agents + [server])
        for p in pods:
            got = query_stream(base, "real", p, start, end)
            assert got == expected[p]
    finally:
        for a in agents:
            a.stop(signal.SIGKILL)
            a.close()
        for c in cs.values():
            c.close()
