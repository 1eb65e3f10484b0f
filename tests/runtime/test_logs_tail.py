"""`kmon server`'s Loki live tail, GET /loki/api/v1/tail, over a WebSocket, on a real
server on loopback, with a WebSocket client written here (the handshake, masked frames
and frame parsing by hand, per RFC 6455) and, when Node has one, Node's own WebSocket:
lines pushed after the tail began arrive once each and in order; the first message holds
the last `limit` lines; a filter keeps only matching lines; bad queries and metric
queries answer Loki's 400 before any upgrade; an idle tail outlives the request
timeouts; a client's ping gets its pong and its close
is echoed; a hostile frame (unmasked) gets close 1002; the server stopping (SIGTERM)
sends close 1001 and ends the socket; idle tails past the cap (64) are refused with 503
and a clear error, counted in /metrics. Expected lines are computed here from what the
test pushed."""
import base64
import hashlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
import urllib.parse

import pytest

from conftest import http_request, scrape, wait_until

NS = 1_000_000_000
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
NODE = shutil.which("node")


def now_ns():
    return time.time_ns()


def push(base, labels, entries):
    body = json.dumps({"streams": [{"stream": labels,
                                    "values": [[str(ts), line] for ts, line in entries]}]})
    status, _, b = http_request(base + "/loki/api/v1/push", "POST", body.encode(),
                                {"Content-Type": "application/json"})
    assert status == 204, b


class WSError(Exception):
    pass


class WS:
    """A minimal RFC 6455 client: connect() does the handshake (or returns the HTTP
    refusal), recv() gives (opcode, payload) of whole frames."""

    def __init__(self, sock, extra=b""):
        self.sock = sock
        self.buf = extra
        self.pings = 0

    @staticmethod
    def connect(base, path, args, timeout=10):
        host, port = base.replace("http://", "").split(":")
        s = socket.create_connection((host, int(port)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        target = path + "?" + urllib.parse.urlencode(args)
        s.sendall((f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                   f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                raise WSError(f"connection closed during the handshake: {head!r}")
            head += chunk
        head, rest = head.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, v in
                   (l.split(":", 1) for l in lines[1:])}
        if status != 101:
            n = int(headers.get("content-length", "0"))
            while len(rest) < n:
                rest += s.recv(4096)
            s.close()
            return status, headers, rest
        want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        assert headers["sec-websocket-accept"] == want
        assert headers["upgrade"].lower() == "websocket"
        assert headers["connection"].lower() == "upgrade"  # once: browsers refuse more
        return status, headers, WS(s, rest)

    def send_frame(self, op, payload=b"", fin=True, mask=True):
        h = bytes([(0x80 if fin else 0) | op])
        n = len(payload)
        mbit = 0x80 if mask else 0
        if n < 126:
            h += bytes([mbit | n])
        elif n < 65536:
            h += bytes([mbit | 126]) + struct.pack(">H", n)
        else:
            h += bytes([mbit | 127]) + struct.pack(">Q", n)
        if mask:
            m = os.urandom(4)
            h += m
            payload = bytes(b ^ m[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(h + payload)

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise WSError("connection closed")
            self.buf += chunk

    def recv(self, timeout=10):
        self.sock.settimeout(timeout)
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        assert b1 & 0x80 == 0, "a server's frames are never masked"
        assert b0 & 0x70 == 0
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, off = struct.unpack(">H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, off = struct.unpack(">Q", self.buf[2:10])[0], 10
        self._need(off + n)
        payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
        assert b0 & 0x80, "the server sends no fragments"
        return b0 & 0x0F, payload

    def recv_json(self, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout()
            op, p = self.recv(left)
            if op == 1:
                return json.loads(p)
            if op == 9:
                self.pings += 1
                self.send_frame(0xA, p)  # as every client does
            if op == 8:
                raise WSError(f"closed: {close_code(p)}")

    def close(self):
        self.sock.close()


def close_code(p):
    return (struct.unpack(">H", p[:2])[0], p[2:].decode()) if len(p) >= 2 else (1005, "")


def entries_of(msg):
    """[(labels tuple, ts, line)] of a TailResponse, in the order sent."""
    assert set(msg) <= {"streams", "dropped_entries"}, msg
    out = []
    for s in msg["streams"]:
        for ts, line in s["values"]:
            out.append((tuple(sorted(s["stream"].items())), int(ts), line))
    return out


def collect(ws, want, timeout=20):
    """Messages until `want` entries came (or the time is up)."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        try:
            got += entries_of(ws.recv_json(timeout=max(0.1, deadline - time.monotonic())))
        except socket.timeout:
            break
    return got


def quiet(ws, seconds):
    """Entries that came within `seconds` (none expected)."""
    got = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            got += entries_of(ws.recv_json(timeout=max(0.05, deadline - time.monotonic())))
        except socket.timeout:
            break
    return got


def tail(base, query, **args):
    status, headers, ws = WS.connect(base, "/loki/api/v1/tail", {"query": query, **args})
    assert status == 101, (status, ws)
    return ws


# ---- tests ------------------------------------------------------------------------------

def test_tail_sends_new_lines_once_in_order(server_factory):
    _, base, _ = server_factory()
    t0 = now_ns()
    old = [(t0 - 10 * NS + k, f"old line {k}") for k in range(5)]
    push(base, {"app": "web", "pod": "p1"}, old)
    ws = tail(base, '{app="web"}', limit="3")
    # The first message: the newest 3 of the old lines, oldest first.
    first = collect(ws, 3, timeout=10)
    assert [(ts, l) for _, ts, l in first] == old[2:]
    # New lines, in several pushes, some sharing a timestamp, across two streams.
    sent = []
    for batch in range(4):
        ts = now_ns()
        a = [(ts, f"a {batch} {k}") for k in range(3)]  # one instant, three lines
        b = [(ts + 1 + k, f"b {batch} {k}") for k in range(2)]
        push(base, {"app": "web", "pod": "p1"}, a)
        push(base, {"app": "web", "pod": "p2"}, b)
        push(base, {"app": "other", "pod": "p3"}, [(ts, f"not mine {batch}")])
        sent += [(("app", "web"), ("pod", "p1"), t, l) for t, l in a]
        sent += [(("app", "web"), ("pod", "p2"), t, l) for t, l in b]
        time.sleep(0.7)
    got = collect(ws, len(sent), timeout=20)
    got += quiet(ws, 3.5)  # nothing more: no duplicate comes later (window 2 s)
    assert sorted((dict(lab)["pod"], ts, l) for lab, ts, l in got) == \
        sorted((p[1], t, l) for _, p, t, l in sent)
    assert len(got) == len(set(got)) == len(sent)
    # In order within each stream (equal timestamps in the order pushed).
    for pod in ("p1", "p2"):
        mine = [(ts, l) for lab, ts, l in got if dict(lab)["pod"] == pod]
        assert mine == [(t, l) for _, p, t, l in sent if p[1] == pod]
    ws.close()


def test_tail_late_entry_within_delay(server_factory):
    """An entry pushed late (its timestamp a second in the past, behind lines already
    sent) within the window of delay_for is sent once."""
    _, base, _ = server_factory()
    ws = tail(base, '{app="late"}', delay_for="2")
    assert collect(ws, 1, timeout=2) == []
    ts = now_ns()
    push(base, {"app": "late"}, [(ts, "on time")])
    assert [l for _, _, l in collect(ws, 1)] == ["on time"]
    push(base, {"app": "late"}, [(ts - NS, "late by a second")])
    assert [l for _, _, l in collect(ws, 1)] == ["late by a second"]
    assert quiet(ws, 2.5) == []
    ws.close()


def test_tail_outlives_request_timeouts(server_factory):
    """A WebSocket is no longer an HTTP request: the slow-request watchdog (request
    timeout 2 s here) leaves an idle tail alone."""
    _, base, _ = server_factory("--http-request-timeout", "2s", "--http-header-timeout", "1s")
    ws = tail(base, '{app="idle"}')
    assert quiet(ws, 6) == []
    push(base, {"app": "idle"}, [(now_ns(), "after 6 s")])
    assert [l for _, _, l in collect(ws, 1)] == ["after 6 s"]
    ws.close()


def test_tail_filter(server_factory):
    _, base, _ = server_factory()
    ws = tail(base, '{app="f"} |= "error" != "ignore"')
    assert collect(ws, 1, timeout=1.5) == []
    ts = now_ns()
    lines = ["ok 1", "error 2", "error ignore 3", "ERROR 4", "an error 5"]
    push(base, {"app": "f"}, [(ts + k, l) for k, l in enumerate(lines)])
    want = [l for l in lines if "error" in l and "ignore" not in l]
    got = collect(ws, len(want))
    assert [l for _, _, l in got] == want
    assert quiet(ws, 1.5) == []
    ws.close()


@pytest.mark.parametrize("args,code,needle", [
    ({"query": '{app="x"'}, 400, "parse error"),
    ({"query": ""}, 400, "query must not be empty"),
    ({"query": 'rate({app="x"}[1m])'}, 400, "metric query"),
    ({"query": '{app="x"}', "delay_for": "6"}, 400, "delay_for can't be greater than 5"),
    ({"query": '{app="x"}', "limit": "-1"}, 400, "limit must be a positive value"),
    ({"query": '{app="x"}', "start": "yesterday"}, 400, "cannot parse"),
])
def test_tail_bad_request_before_upgrade(server_factory, args, code, needle):
    _, base, _ = server_factory()
    status, headers, body = WS.connect(base, "/loki/api/v1/tail", args)
    assert status == code
    err = json.loads(body)
    assert err["status"] == "error" and err["code"] == code and needle in err["message"], err


def test_tail_needs_websocket(server_factory):
    _, base, _ = server_factory()
    q = urllib.parse.urlencode({"query": '{app="x"}'})
    status, _, body = http_request(f"{base}/loki/api/v1/tail?{q}")
    assert status == 400 and b"WebSocket" in body


def test_tail_ping_close_and_hostile_frames(server_factory):
    _, base, _ = server_factory()
    ws = tail(base, '{app="p"}')
    ws.send_frame(0x9, b"hello")
    op, p = ws.recv()
    assert (op, p) == (0xA, b"hello")
    # A message from the client is read and dropped; the tail goes on.
    ws.send_frame(0x1, b"frag", fin=False)
    ws.send_frame(0x0, b"ment")
    ws.send_frame(0x9, b"again")
    assert ws.recv() == (0xA, b"again")
    ws.send_frame(0x8, struct.pack(">H", 1000) + b"bye")
    op, p = ws.recv()
    assert op == 8 and close_code(p)[0] == 1000
    with pytest.raises(WSError):
        ws.recv(timeout=5)  # then the server ends the connection
    ws.close()
    # Unmasked frames from a client break the protocol: close 1002.
    ws = tail(base, '{app="p"}')
    ws.send_frame(0x1, b"x", mask=False)
    op, p = ws.recv()
    assert op == 8 and close_code(p)[0] == 1002
    ws.close()
    # A frame announcing 2^62 bytes: close 1009, nothing allocated.
    ws = tail(base, '{app="p"}')
    ws.sock.sendall(bytes([0x82, 0xFF]) + struct.pack(">Q", 1 << 62) + b"\0\0\0\0")
    op, p = ws.recv()
    assert op == 8 and close_code(p)[0] == 1009
    ws.close()
    # The server still serves.
    status, _, _ = http_request(base + "/readyz")
    assert status == 200


def test_tail_stop_closes_cleanly(server_factory):
    proc, base, _ = server_factory()
    socks = [tail(base, '{app="s"}') for _ in range(3)]
    time.sleep(0.5)
    proc.p.send_signal(signal.SIGTERM)
    for ws in socks:
        code = None
        while code is None:
            op, p = ws.recv(timeout=15)
            if op == 8:
                code = close_code(p)
        assert code[0] == 1001, code
        ws.send_frame(0x8, struct.pack(">H", 1001))
        with pytest.raises(WSError):
            ws.recv(timeout=15)
        ws.close()
    assert proc.p.wait(timeout=30) == 0, proc.log()


def test_tail_cap(server_factory):
    _, base, _ = server_factory()
    open_ = [tail(base, '{app="cap"}') for _ in range(64)]
    status, headers, body = WS.connect(base, "/loki/api/v1/tail", {"query": '{app="cap"}'})
    assert status == 503, status
    assert "too many WebSocket connections" in json.loads(body)["error"]
    assert headers.get("retry-after") == "5"
    m = scrape(base)
    assert m[("kmon_http_websockets", ())] == 64
    assert m[("kmon_http_websockets_refused_total", ())] >= 1
    # One goes away: a new tail is served.
    open_.pop().close()
    wait_until(lambda: scrape(base)[("kmon_http_websockets", ())] == 63, timeout=20)
    ws = tail(base, '{app="cap"}')
    ts = now_ns()
    push(base, {"app": "cap"}, [(ts, "after the cap")])
    assert [l for _, _, l in collect(ws, 1)] == ["after the cap"]
    for w in open_ + [ws]:
        w.close()


NODE_CLIENT = r"""
const [url, n] = [process.argv[2], +process.argv[3]];
const ws = new WebSocket(url);
const got = [];
ws.onmessage = (ev) => {
  const m = JSON.parse(ev.data);
  for (const s of m.streams) for (const [ts, line] of s.values) got.push(line);
  if (got.length >= n) { console.log(JSON.stringify(got)); ws.close(1000); }
};
ws.onopen = () => console.error("open");
ws.onerror = (e) => { console.error("error", e.message); process.exit(2); };
ws.onclose = () => process.exit(got.length >= n ? 0 : 3);
"""


def node_websocket_args():
    """Node's arguments for its built-in WebSocket (undici's, as browsers have it): none
    from Node 22, --experimental-websocket on Node 20.10+; None when it has none."""
    if not NODE:
        return None
    for args in ([], ["--experimental-websocket"]):
        r = subprocess.run([NODE, *args, "-e",
                            "process.exit(typeof WebSocket === 'function' ? 0 : 1)"],
                           capture_output=True)
        if r.returncode == 0:
            return args
    return None


@pytest.mark.skipif(node_websocket_args() is None, reason="Node without a WebSocket client")
def test_tail_node_client(server_factory, tmp_path):
    _, base, _ = server_factory()
    script = tmp_path / "client.cjs"
    script.write_text(NODE_CLIENT)
    url = base.replace("http", "ws") + "/loki/api/v1/tail?" + urllib.parse.urlencode(
        {"query": '{app="node"}'})
    p = subprocess.Popen([NODE, *node_websocket_args(), str(script), url, "3"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    wait_until(lambda: scrape(base).get(("kmon_http_websockets", ()), 0) == 1, timeout=20)
    ts = now_ns()
    push(base, {"app": "node"}, [(ts + k, f"node line {k}") for k in range(3)])
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert json.loads(out) == [f"node line {k}" for k in range(3)]
