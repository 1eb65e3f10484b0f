"""Transport security as users meet it: `kmon server --tls-cert/--tls-key` serves HTTPS
(TLS 1.2 and 1.3 only) to curl, Python and Prometheus verifying it with the CA; with
--tls-client-ca only clients with a valid (unexpired) certificate get through; a rotated
certificate is served without a restart (a broken one is not); the agent, `kmon query`
and `kmon logs query` talk to it with --ca-file/--cert-file/--key-file, and the agent
sends the token of --token-file, re-read when the file changes. Certificates are made
with openssl (tlscerts.py)."""
import datetime
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

import rwlib
from conftest import PROMETHEUS, SANITIZED, Prometheus, Proc, free_port, run, wait_until
from tlscerts import Certs, serial_and_cn

SLOW = 3 if SANITIZED else 1


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return Certs(tmp_path_factory.mktemp("certs"))


def client_ctx(certs, cert=None, key=None, min_version=None, max_version=None):
    ctx = ssl.create_default_context(cafile=certs.ca)
    if cert:
        ctx.load_cert_chain(cert, key)
    if min_version:
        ctx.minimum_version = min_version
    if max_version:
        ctx.maximum_version = max_version
    return ctx


def request(url, ctx, method="GET", body=None, headers=None, timeout=10):
    """(status, body bytes); HTTP errors returned, not raised."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class TlsServer:
    """`kmon server` on HTTPS with only the TLS flags and its address and data added to
    the defaults."""

    def __init__(self, tmp_path, cert, key, client_ca=None, extra=()):
        self.port = free_port()
        self.base = f"https://127.0.0.1:{self.port}"
        args = ["server", "--listen", f"127.0.0.1:{self.port}", "--data",
                str(tmp_path / f"data-{self.port}"), "--tls-cert", cert, "--tls-key", key]
        if client_ca:
            args += ["--tls-client-ca", client_ca]
        self.proc = Proc([*args, *extra])

    def wait_ready(self, ctx, timeout=30):
        def ready():
            assert self.proc.p.poll() is None, self.proc.log()
            try:
                return request(self.base + "/readyz", ctx, timeout=2)[0] == 200
            except OSError:
                return False
        wait_until(ready, timeout * SLOW, "the HTTPS server ready", self.proc)
        return self

    def query(self, ctx, expr):
        q = urllib.parse.urlencode({"query": expr})
        status, body = request(f"{self.base}/api/v1/query?{q}", ctx)
        assert status == 200, body
        return json.loads(body)["data"]["result"]

    def close(self):
        self.proc.close()


@pytest.fixture
def tls_server(tmp_path, certs):
    made = []

    def start(client_ca=None, cert=None, key=None, extra=()):
        s = TlsServer(tmp_path, cert or certs.server, key or certs.server_key, client_ca, extra)
        made.append(s)
        good = client_ctx(certs, certs.client, certs.client_key)
        return s.wait_ready(good)

    yield start
    for s in made:
        s.close()


def handshake(port, ctx):
    """Connect and finish the handshake; then one request, so a TLS 1.3 server's late
    refusal of a client certificate shows too. Returns the peer certificate (DER) and the
    first bytes of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            der = s.getpeercert(binary_form=True)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            answer = s.recv(64)
            return der, answer


def refused(port, ctx):
    """True when the handshake, or the first exchange, fails (no HTTP answer)."""
    try:
        _, answer = handshake(port, ctx)
    except (ssl.SSLError, ConnectionError, OSError):
        return True
    return not answer.startswith(b"HTTP/1.1")


def scrape_tls(server, ctx):
    status, body = request(server.base + "/metrics", ctx)
    assert status == 200
    out = {}
    for line in body.decode().splitlines():
        if line.startswith("kmon_tls_"):
            name, value = line.split(" ")
            out[name] = float(value)
    return out


def not_after(pem_path):
    """The certificate's notAfter, Unix seconds."""
    out = subprocess.run(["openssl", "x509", "-in", pem_path, "-noout", "-enddate"],
                         capture_output=True, text=True, check=True).stdout
    t = datetime.datetime.strptime(out.split("=", 1)[1].strip(), "%b %d %H:%M:%S %Y GMT")
    return t.replace(tzinfo=datetime.timezone.utc).timestamp()


# ---- the server ------------------------------------------------------------------------


def test_https_with_default_flags(tls_server, certs):
    srv = tls_server()
    ctx = client_ctx(certs)
    assert request(srv.base + "/healthz", ctx) == (200, b"ok\n")
    # remote_write over HTTPS is stored and found.
    body = rwlib.snappy(rwlib.write_request([rwlib.series_of(
        "tls_probe", int(time.time() * 1000), 42, job="tls")]))
    status, answer = request(srv.base + "/api/v1/write", ctx, "POST", body,
                             {"Content-Type": "application/x-protobuf",
                              "Content-Encoding": "snappy"})
    assert status == 204, answer
    res = srv.query(ctx, "tls_probe")
    assert [r["value"][1] for r in res] == ["42"]
    # curl verifying with the CA, as a user would.
    out = subprocess.run(["curl", "-sS", "--cacert", certs.ca, srv.base + "/readyz"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    # Without the CA the certificate is not trusted.
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(srv.port, ssl.create_default_context())
    # The certificate's expiry is in /metrics.
    m = scrape_tls(srv, ctx)
    assert m["kmon_tls_cert_expiry_timestamp_seconds"] == not_after(certs.server)
    assert m["kmon_tls_cert_reloads_total"] == 0
    assert "https://127.0.0.1:" in srv.proc.log()


def test_plain_http_to_the_tls_port_fails_cleanly(tls_server, certs):
    srv = tls_server()
    t0 = time.monotonic()
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)) as e:
        urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/healthz", timeout=10).read()
    assert "timed out" not in str(e.value)
    assert time.monotonic() - t0 < 5
    # The server is unharmed.
    assert request(srv.base + "/healthz", client_ctx(certs))[0] == 200
    assert srv.proc.p.poll() is None


def test_only_tls_12_and_13(tls_server, certs):
    srv = tls_server()
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = client_ctx(certs, min_version=v, max_version=v)
        _, answer = handshake(srv.port, ctx)
        assert answer.startswith(b"HTTP/1.1 200"), (v, answer)

    old = client_ctx(certs, max_version=ssl.TLSVersion.TLSv1_1)
    old.minimum_version = ssl.TLSVersion.TLSv1
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    # The same client speaks TLS 1.1 to a server that allows it (so the refusal below is
    # the kmon server's, not this client's).
    control = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    control.minimum_version = ssl.TLSVersion.TLSv1
    control.maximum_version = ssl.TLSVersion.TLSv1_1
    control.set_ciphers("DEFAULT:@SECLEVEL=0")
    control.load_cert_chain(certs.server, certs.server_key)
    with socket.socket() as ls:
        ls.bind(("127.0.0.1", 0))
        ls.listen(1)

        def serve():
            conn, _ = ls.accept()
            try:
                with control.wrap_socket(conn, server_side=True) as s:
                    s.recv(100)
                    s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            except (ssl.SSLError, OSError):
                pass
        t = threading.Thread(target=serve)
        t.start()
        try:
            _, answer = handshake(ls.getsockname()[1], old)
        except ssl.SSLError as e:
            pytest.skip(f"this OpenSSL cannot speak TLS 1.1 at all: {e}")
        finally:
            t.join(10)
        assert answer.startswith(b"HTTP/1.1 200")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        handshake(srv.port, old)


def test_mutual_tls(tls_server, certs):
    srv = tls_server(client_ca=certs.ca)
    none = client_ctx(certs)
    expired = client_ctx(certs, certs.expired, certs.expired_key)
    good = client_ctx(certs, certs.client, certs.client_key)
    # Signed by another CA: refused too.
    other = Certs(os.path.join(certs.dir, "other"))
    stranger = client_ctx(certs, other.client, other.client_key)
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        for ctx in (none, expired, stranger):
            ctx.minimum_version = ctx.maximum_version = v
            assert refused(srv.port, ctx), v
    # TLS 1.2 says so in the handshake itself.
    expired.minimum_version = expired.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises((ssl.SSLError, ConnectionError)):
        handshake(srv.port, expired)
    # What a refused client sends is never stored.
    body = rwlib.snappy(rwlib.write_request([rwlib.series_of(
        "refused_probe", int(time.time() * 1000), 1, job="tls")]))
    expired.minimum_version = ssl.TLSVersion.TLSv1_2
    expired.maximum_version = ssl.TLSVersion.TLSv1_3
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        request(srv.base + "/api/v1/write", expired, "POST", body,
                {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"})
    assert request(srv.base + "/healthz", good)[0] == 200
    assert srv.query(good, "refused_probe") == []
    # curl with the good certificate.
    out = subprocess.run(["curl", "-sS", "--cacert", certs.ca, "--cert", certs.client, "--key",
                          certs.client_key, srv.base + "/healthz"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout == "ok\n", out.stderr
    out = subprocess.run(["curl", "-sS", "--cacert", certs.ca, srv.base + "/healthz"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0


def test_certificate_rotation(tls_server, certs, tmp_path):
    live = tmp_path / "live"
    live.mkdir()
    cert, key = str(live / "tls.crt"), str(live / "tls.key")
    shutil.copy(certs.server, cert)
    shutil.copy(certs.server_key, key)
    srv = tls_server(cert=cert, key=key)
    ctx = client_ctx(certs)
    first = serial_and_cn(handshake(srv.port, ctx)[0])
    assert first == serial_and_cn(open(certs.server).read())

    def put(src, dst):  # as a Secret update: a new file renamed into place
        shutil.copy(src, dst + ".new")
        os.rename(dst + ".new", dst)

    # A key that does not match the certificate: refused, the old pair keeps serving.
    new_cert, new_key = certs.issue("rotated", "rotated.kmon.test", server=True)
    put(new_key, key)
    wait_until(lambda: scrape_tls(srv, ctx)["kmon_tls_cert_reload_failures_total"] >= 1,
               15 * SLOW, "the broken pair noticed", srv.proc)
    assert serial_and_cn(handshake(srv.port, ctx)[0]) == first
    assert srv.proc.log().count("are not used") == 1
    time.sleep(2.5)
    assert srv.proc.log().count("are not used") == 1  # logged once, not every check
    # The matching certificate arrives: new connections get it within a few seconds.
    t0 = time.monotonic()
    put(new_cert, cert)
    want = serial_and_cn(open(new_cert).read())
    assert want[1] == "rotated.kmon.test" and want[0] != first[0]
    wait_until(lambda: serial_and_cn(handshake(srv.port, ctx)[0]) == want, 10 * SLOW,
               "the new certificate served", srv.proc)
    assert time.monotonic() - t0 < 6 * SLOW
    m = scrape_tls(srv, ctx)
    assert m["kmon_tls_cert_reloads_total"] == 1
    assert m["kmon_tls_cert_expiry_timestamp_seconds"] == not_after(new_cert)
    assert srv.proc.p.poll() is None


# ---- the clients -----------------------------------------------------------------------


def start_agent(tmp_path, server_url, *extra):
    port = free_port()
    proc = Proc(["agent", "--listen", f"127.0.0.1:{port}", "--interval", "1s",
                 "--server", server_url, "--node-name", "tls-node", "--cluster", "tls",
                 "--spool-dir", "none", *extra])
    return proc


def test_agent_ships_over_mutual_tls(tls_server, certs, tmp_path):
    srv = tls_server(client_ca=certs.ca)
    good = client_ctx(certs, certs.client, certs.client_key)
    agent = start_agent(tmp_path, srv.base, "--ca-file", certs.ca, "--cert-file", certs.client,
                        "--key-file", certs.client_key)
    try:
        res = wait_until(lambda: srv.query(good, 'kmon_agent_collections_total{node="tls-node"}'),
                         30 * SLOW, "the agent's samples over HTTPS", agent)
        assert res[0]["metric"]["cluster"] == "tls"
    finally:
        agent.close()
    # Without its certificate the same agent gets nowhere (and says why).
    agent = start_agent(tmp_path, srv.base, "--ca-file", certs.ca, "--node-name", "no-cert")
    try:
        wait_until(lambda: "cannot deliver" in agent.log(), 20 * SLOW, "a delivery failure",
                   agent)
        assert srv.query(good, 'kmon_agent_collections_total{node="no-cert"}') == []
    finally:
        agent.close()
    # A CA file that does not exist stops it at the start, naming the file.
    out = run("agent", "--server", srv.base, "--ca-file", str(tmp_path / "nope.pem"),
              "--listen", f"127.0.0.1:{free_port()}", "--spool-dir", "none", timeout=30)
    assert out.returncode != 0 and "nope.pem" in out.stderr


class Recorder(http.server.BaseHTTPRequestHandler):
    """Takes every POST with 204 and records its Authorization header."""
    seen = []

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Recorder.seen.append((self.path, self.headers.get("Authorization")))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_agent_token_file_rotation(certs, tmp_path):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(certs.server, certs.server_key)
    httpd.socket = sctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    Recorder.seen = []
    token = tmp_path / "token"
    token.write_text("first-token-AAAA\n")
    agent = start_agent(tmp_path, f"https://127.0.0.1:{httpd.server_address[1]}",
                        "--ca-file", certs.ca, "--token-file", str(token))

    def writes_with(value):
        return any(p == "/api/v1/write" and a == value for p, a in Recorder.seen)
    try:
        wait_until(lambda: writes_with("Bearer first-token-AAAA"), 20 * SLOW,
                   "a write with the first token", agent)
        # Rotated as Kubernetes does it: a new file renamed into place.
        (tmp_path / "token.new").write_text("second-token-BBBB\n")
        os.rename(tmp_path / "token.new", token)
        t0 = time.monotonic()
        wait_until(lambda: writes_with("Bearer second-token-BBBB"), 10 * SLOW,
                   "a write with the rotated token", agent)
        assert time.monotonic() - t0 < 5 * SLOW
        n = len(Recorder.seen)
        wait_until(lambda: len(Recorder.seen) > n + 2, 10 * SLOW, "more writes", agent)
        assert all(a == "Bearer second-token-BBBB" for _, a in Recorder.seen[n:])
        # A broken file (two lines) keeps the last good token, says so once, never
        # prints a token.
        token.write_text("third\nline\n")
        wait_until(lambda: "control character" in agent.log(), 10 * SLOW,
                   "the refused token reported", agent)
        n = len(Recorder.seen)
        wait_until(lambda: len(Recorder.seen) > n + 2, 10 * SLOW, "more writes", agent)
        assert all(a == "Bearer second-token-BBBB" for _, a in Recorder.seen[n:])
        log = agent.log()
        assert log.count("control character") == 1
        assert "token-AAAA" not in log and "token-BBBB" not in log and "third" not in log
    finally:
        agent.close()
        httpd.shutdown()
        httpd.server_close()


def test_kmon_query_and_logs_query_over_https(tls_server, certs):
    srv = tls_server(client_ca=certs.ca)
    good = client_ctx(certs, certs.client, certs.client_key)
    body = rwlib.snappy(rwlib.write_request([rwlib.series_of(
        "cli_probe", int(time.time() * 1000) - 2000, 7, job="tls")]))
    assert request(srv.base + "/api/v1/write", good, "POST", body,
                   {"Content-Type": "application/x-protobuf",
                    "Content-Encoding": "snappy"})[0] == 204
    creds = ["--ca-file", certs.ca, "--cert-file", certs.client, "--key-file", certs.client_key]
    out = run("query", "--server", srv.base, *creds, "--output", "json", "cli_probe")
    assert out.returncode == 0, out.stderr
    assert [r["value"][1] for r in json.loads(out.stdout)["result"]] == ["7"]
    # Without the CA: the server is not trusted, and the message says so.
    out = run("query", "--server", srv.base, "cli_probe")
    assert out.returncode == 1 and "certificate" in out.stderr.lower(), out.stderr
    # Without the client certificate: refused.
    out = run("query", "--server", srv.base, "--ca-file", certs.ca, "cli_probe")
    assert out.returncode == 1, out.stdout
    out = run("logs", "query", "--server", srv.base, *creds, '{job="none"}')
    assert out.returncode == 0, out.stderr
    out = run("logs", "query", "--server", srv.base, '{job="none"}')
    assert out.returncode == 1


@pytest.mark.skipif(PROMETHEUS is None, reason="Debian's prometheus is not installed")
def test_prometheus_remote_writes_over_mutual_tls(tls_server, certs, tmp_path):
    srv = tls_server(client_ca=certs.ca)
    good = client_ctx(certs, certs.client, certs.client_key)
    prom_port = free_port()
    (tmp_path / "prometheus.yml").write_text(f"""
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: prom-self
    static_configs:
      - targets: ["127.0.0.1:{prom_port}"]
remote_write:
  - url: {srv.base}/api/v1/write
    tls_config:
      ca_file: {certs.ca}
      cert_file: {certs.client}
      key_file: {certs.client_key}
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 100ms
      max_backoff: 1s
""")
    prom = Prometheus([f"--config.file={tmp_path / 'prometheus.yml'}",
                       f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                       f"--web.listen-address=127.0.0.1:{prom_port}"])
    try:
        def arrived():
            assert prom.p.poll() is None, prom.log()
            return srv.query(good, 'prometheus_build_info{job="prom-self"}')
        res = wait_until(arrived, 60 * SLOW, "Prometheus' series over TLS", srv.proc)
        assert res[0]["metric"]["instance"] == f"127.0.0.1:{prom_port}"
        assert srv.query(good, 'up{job="prom-self"}')[0]["value"][1] == "1"
    finally:
        prom.close()


def test_agent_metrics_over_mutual_tls(certs, tmp_path):
    port = free_port()
    agent = Proc(["agent", "--listen", f"127.0.0.1:{port}", "--interval", "1s",
                  "--tls-cert", certs.server, "--tls-key", certs.server_key,
                  "--tls-client-ca", certs.ca])
    good = client_ctx(certs, certs.client, certs.client_key)
    base = f"https://127.0.0.1:{port}"

    def scraped():
        assert agent.p.poll() is None, agent.log()
        try:
            status, body = request(base + "/metrics", good, timeout=2)
        except OSError:
            return None
        return status == 200 and b"kmon_agent_collections_total" in body and body
    try:
        wait_until(scraped, 20 * SLOW, "the agent's /metrics over HTTPS", agent)
        assert refused(port, client_ctx(certs))
        assert "https://127.0.0.1:" in agent.log()
    finally:
        agent.close()
