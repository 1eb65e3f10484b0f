"""The server's HTTP ground against a real `kmon server`: probes answered during a flood of
slow connections (from one address, while ingest keeps the workers busy), the per-address
limit and the open-files limit, errors found below the router answered in JSON like every
other (414, 431, 413, 400 for a malformed query string), and a refused body drained so that a client that sends it all
before reading gets its 413 instead of a broken pipe (with Content-Length and chunked)."""
import http.client
import json
import resource
import socket
import subprocess
import threading
import time

import pytest

import rwlib
from conftest import KMON, SANITIZED, free_port, http_request, parse_exposition, scrape, value
from flood import SlowClients, probe, summary

SLOW = 3 if SANITIZED else 1


def port_of(base):
    return int(base.rsplit(":", 1)[1])


def status_kib(pid, field):
    """VmRSS, VmHWM, … of a process, in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field}")


def json_error(status, headers, body):
    assert headers.get("Content-Type") == "application/json", (status, headers, body[:200])
    doc = json.loads(body)
    assert isinstance(doc.get("error"), str) and doc["error"], doc
    return doc["error"]


def raw(port, data, source=None, timeout=10):
    """Send bytes, read until the server closes; (status, headers, body) or None."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                  source_address=(source, 0) if source else None) as s:
        s.sendall(data)
        got = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        except ConnectionResetError:
            pass
    if not got.startswith(b"HTTP/1."):
        return None
    head, _, body = got.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split(" ", 2)[1]), headers, body


# ---- probes under floods --------------------------------------------------------------

def open_connections(port, source):
    """kmon_http_connections, asked from `source` (not the flooded address)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                      source_address=(source, 0))
    try:
        conn.request("GET", "/metrics")
        return parse_exposition(conn.getresponse().read().decode())[0][
            ("kmon_http_connections", ())]
    finally:
        conn.close()


def ingest_loop(base, stop, results):
    """Keep the handler workers busy with real remote_write requests from 127.0.0.3."""
    port = port_of(base)
    i = 0
    while not stop.is_set():
        t = int(time.time() * 1000)
        series = [([("__name__", "kmon_test_flood"), ("i", str(k))], [(t, float(i))])
                  for k in range(2000)]
        body = rwlib.snappy(rwlib.write_request(series))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30,
                                          source_address=("127.0.0.3", 0))
        try:
            conn.request("POST", "/api/v1/write", body, rwlib.HEADERS)
            results.append(conn.getresponse().status)
        finally:
            conn.close()
        i += 1


def test_probes_answered_during_slow_connection_flood(server_factory):
    """2 000 slow connections from 127.0.0.1 (half a request each, a byte a second, opened
    again as soon as the server closes them, up to 1 000 a second) while ingest keeps every handler worker
    busy: /healthz and /readyz asked from 127.0.0.2, as the kubelet asks from the node's
    address, are each answered within 1 s; afterwards 127.0.0.1 itself is served."""
    proc, base, _ = server_factory("--http-threads", "1")
    port = port_of(base)
    stop, writes = threading.Event(), []
    writer = threading.Thread(target=ingest_loop, args=(base, stop, writes), daemon=True)
    results = []
    try:
        with SlowClients(port, 2000, ["127.0.0.1"], reconnect_per_s=1000) as flood:
            writer.start()
            deadline = time.monotonic() + 30
            while flood.opened < 2000 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert flood.opened >= 2000, f"the flood opened only {flood.opened} connections"
            end = time.monotonic() + 15
            while time.monotonic() < end:
                path = "/healthz" if len(results) % 2 else "/readyz"
                results.append(probe(port, "127.0.0.2", path))
                time.sleep(0.1)
            held = open_connections(port, "127.0.0.2")
    finally:
        stop.set()
        writer.join(60)
    print(summary(results), f"- flood: {flood.opened} opened, {flood.max_open} open at most;"
          f" server held {held:.0f}; {len(writes)} writes")
    assert not writer.is_alive()
    assert proc.p.poll() is None, proc.log()
    late = [(round(t, 3), st) for t, st in results if st != 200 or t > 1.0]
    assert not late, f"probes late or failed during the flood: {late[:10]} ({summary(results)})"
    assert len(results) >= 50, summary(results)
    assert writes and all(st == 204 for st in writes), writes[-5:]
    # The per-address limit held the flood to 256 of the server's connections.
    assert held <= 256 + 16, held
    # Once the flood's connections are gone, the flooded address is served as before
    # (a sanitized server on a busy machine takes longer to see every close).
    deadline = time.monotonic() + 30
    while open_connections(port, "127.0.0.2") > 8:
        assert time.monotonic() < deadline, open_connections(port, "127.0.0.2")
        time.sleep(0.2)
    assert http_request(base + "/api/nodes")[0] == 200
    assert probe(port, "127.0.0.1")[1] == 200
    assert proc.p.poll() is None, proc.log()


def test_open_files_limit_raised_for_connections(tmp_path):
    """Started with ulimit -n 1024 (Debian's default soft limit), the server raises its
    soft limit to fit --http-max-connections; when the hard limit is lower, it serves
    fewer connections and says so."""
    def start(soft, hard, *extra):
        port = free_port()
        log = open(tmp_path / f"server-{port}.log", "w+")

        def limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        p = subprocess.Popen([KMON, "server", "--listen", f"127.0.0.1:{port}", "--data",
                              str(tmp_path / f"data-{port}"), *extra],
                             stdout=subprocess.DEVNULL, stderr=log, preexec_fn=limit)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert p.poll() is None, open(log.name).read()
            try:
                if http_request(base + "/readyz", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.05)
        return p, base, log

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 6000:
        pytest.skip(f"the hard limit on open files here is {hard}")
    p, base, log = start(1024, hard)
    try:
        with open(f"/proc/{p.pid}/limits") as f:
            soft = next(int(line.split()[3]) for line in f if line.startswith("Max open files"))
        assert soft >= 4096 + 1024, soft
        assert value(scrape(base), "kmon_http_connections_limit") == 4096
    finally:
        p.terminate()
        p.wait(15)
        log.close()
    p, base, log = start(2048, 2048)
    try:
        assert value(scrape(base), "kmon_http_connections_limit") == 1024
        log.seek(0)
        assert "open files limited to 2048" in log.read()
    finally:
        p.terminate()
        p.wait(15)
        log.close()


# ---- errors below the router ----------------------------------------------------------

def test_errors_about_the_request_itself_are_json(server_factory):
    """A target, a header or a head too big, a path the router cannot hold: JSON errors
    with the right status, like every other error. What libmicrohttpd 0.9.75 answers by
    itself (a request it cannot parse) still gets an answer and counts in /metrics."""
    proc, base, _ = server_factory()
    port = port_of(base)
    cases = [
        (b"GET /api/nodes?window=" + b"9" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414,
         "longer than 16384 bytes"),
        (b"GET /" + b"p" * 3000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "request path longer"),
        (b"GET /api/nodes HTTP/1.1\r\nHost: x\r\nX-Big: " + b"c" * 40000 + b"\r\n\r\n", 431,
         "larger than 32768 bytes"),
        (b"GET /api/nodes HTTP/1.1\r\nHost: x\r\n" +
         b"".join(b"X-H%d: %d\r\n" % (i, i) for i in range(300)) + b"\r\n", 431,
         "256 header fields"),
        (b"PUT /api/nodes HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405,
         "not allowed"),
        (b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n", 404, "no such endpoint"),
        (b"GET /api/pods?namespace=%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400,
         'invalid URL escape "%zz" in the query string'),
        (b"GET /api/pods?namespace=a;b HTTP/1.1\r\nHost: x\r\n\r\n", 400,
         "invalid semicolon separator"),
    ]
    for req, status, words in cases:
        r = raw(port, req.replace(b"Host: x\r\n", b"Host: x\r\nConnection: close\r\n", 1))
        assert r is not None and r[0] == status, (req[:60], r and r[:2])
        assert words in json_error(*r), (words, r[2])
        assert r[1].get("Access-Control-Allow-Origin") == "*", r[1]
    # Just under the caps: served.
    r = raw(port, b"GET /api/nodes?window=300&x=" + b"9" * 8000 + b" HTTP/1.1\r\nHost: x\r\n"
            b"X-Big: " + b"c" * 20000 + b"\r\nConnection: close\r\n\r\n")
    assert r is not None and r[0] == 200, r and r[:2]
    before = value(scrape(base), "kmon_http_requests_total",
                   code="4xx", handler="none", method="")
    # Unparsable: libmicrohttpd answers (400, 505) in its own words; the server goes on.
    for req, status in [(b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", 400),
                        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505)]:
        r = raw(port, req)
        assert r is not None and r[0] == status, r
    after = value(scrape(base), "kmon_http_requests_total", code="4xx", handler="none",
                  method="")
    assert after >= before + 1, (before, after)
    assert http_request(base + "/healthz")[0] == 200
    assert proc.p.poll() is None, proc.log()


# ---- a refused body can be read ---------------------------------------------------------

BIG = 50 * 1000 * 1000


def test_413_is_read_by_a_client_that_sends_the_whole_body(server_factory):
    """50 MB sent in one go, without Expect: 100-continue, to a server capped at 32 MiB:
    the client reads a JSON 413 (not a broken pipe), with Content-Length and chunked, the
    kept-alive connection serves the next request, and the server buffered none of it."""
    proc, base, _ = server_factory()
    port = port_of(base)
    rss0 = status_kib(proc.p.pid, "VmRSS")
    body = bytes(BIG)

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60 * SLOW)
    conn.request("POST", "/api/v1/write", body, rwlib.HEADERS)
    r = conn.getresponse()
    assert r.status == 413, r.status
    assert "larger than 33554432 bytes" in json_error(r.status, dict(r.headers), r.read())
    conn.request("GET", "/healthz")
    r = conn.getresponse()
    assert r.status == 200 and r.read() == b"ok\n"
    conn.close()
    if not SANITIZED:  # dropped as it came: the peak never held a fraction of it
        assert status_kib(proc.p.pid, "VmHWM") - rss0 < 16 * 1024, rss0

    def chunks():
        for i in range(0, BIG, 1 << 20):
            yield body[i:i + (1 << 20)]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60 * SLOW)
    conn.request("POST", "/api/v1/write", chunks(), rwlib.HEADERS, encode_chunked=True)
    r = conn.getresponse()
    assert r.status == 413, r.status
    assert "larger than" in json_error(r.status, dict(r.headers), r.read())
    conn.close()
    # Chunked, the first 32 MiB were taken before the cap was seen, then let go.
    if not SANITIZED:
        assert status_kib(proc.p.pid, "VmRSS") - rss0 < 16 * 1024, rss0

    # A client that waits for 100-continue, or announces more than the server would ever
    # drain, is answered before it sends anything.
    for extra in (b"Expect: 100-continue\r\n", b""):
        length = BIG if extra else 1 << 40
        r = raw(port, b"POST /api/v1/write HTTP/1.1\r\nHost: x\r\n" + extra +
                b"Content-Length: %d\r\n\r\n" % length)
        assert r is not None and r[0] == 413, r
        assert b"100 Continue" not in r[2]
        assert "larger than" in json_error(*r)
    assert value(scrape(base), "kmon_tsdb_head_series") == 0
    assert proc.p.poll() is None, proc.log()


def test_answers_are_gzip_compressed_for_clients_that_take_it(server_factory):
    """Large JSON answers (a query over many series) go out gzip-compressed to a client
    that asks (browsers, Grafana), as Prometheus does; the same bytes as uncompressed;
    small answers and clients that do not ask get them as they are."""
    import gzip

    _, base, _ = server_factory()
    now = int(time.time())
    series = [rwlib.series_of("gz_test", now * 1000, float(i), i=str(i), job="gzip")
              for i in range(200)]
    st, _, _ = http_request(base + "/api/v1/write", "POST", rwlib.snappy(
        rwlib.write_request(series)), rwlib.HEADERS)
    assert st == 204
    path = f"/api/v1/query?query=gz_test&time={now}"
    st, h, plain = http_request(base + path)
    assert st == 200 and "Content-Encoding" not in h and len(plain) > 10000
    st, h, packed = http_request(base + path, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert st == 200 and h["Content-Encoding"] == "gzip" and h["Vary"] == "Accept-Encoding"
    assert gzip.decompress(packed) == plain and len(packed) < len(plain) / 4
    assert h["Content-Type"] == "application/json"
    st, h, _ = http_request(base + path, headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in h
    st, h, small = http_request(base + "/api/v1/query?query=1",
                                headers={"Accept-Encoding": "gzip"})
    assert st == 200 and "Content-Encoding" not in h and json.loads(small)["status"] == "success"
