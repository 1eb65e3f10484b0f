"""Forwarding (--remote-write-url, --remote-write-config): a kmon server A receives
remote_write from the test and forwards what it stores to a downstream store B (another
kmon, or a real Prometheus with its remote-write receiver). B gets every sample, with
write_relabel_configs applied as Prometheus applies them; nothing is lost while B is
down for 30 s, nor when A itself is restarted during the outage (its spool survives)."""
import http.server
import json
import os
import ssl
import threading
import time
import urllib.parse
import urllib.request

import pytest

from conftest import (PROMETHEUS, SANITIZED, Prometheus, free_port, http_get, http_request,
                      run, scrape, wait_ready, wait_until)
from kubeapi import _pki
from rwlib import HEADERS, series_of, snappy, write_request

SLOW = 3 if SANITIZED else 1


def post(base, series):
    status, _, body = http_request(base + "/api/v1/write", "POST",
                                   snappy(write_request(series)), HEADERS, timeout=30 * SLOW)
    assert status == 204, (status, body)


def query(base, q, path="/api/v1/query"):
    url = base + path + "?" + urllib.parse.urlencode({"query": q, "time": time.time()})
    doc = json.loads(http_get(url)[2])
    assert doc["status"] == "success", doc
    return doc["data"]["result"]


def count(base, selector):
    """Samples stored for the selector over the last hour."""
    r = query(base, f"sum(count_over_time({selector}[1h]))")
    return int(float(r[0]["value"][1])) if r else 0


def metric_sum(base, name):
    return sum(v for (n, _), v in scrape(base).items() if n == name)


class Writer:
    """Writes n series, one sample each per call, timestamps strictly increasing."""

    def __init__(self, name, nseries=10):
        self.name = name
        self.nseries = nseries
        self.t = int(time.time() * 1000) - 60000
        self.samples = 0

    def write(self, base):
        self.t = max(self.t + 1, int(time.time() * 1000))
        post(base, [series_of(self.name, self.t, float(self.samples + i), series=f"s{i}")
                    for i in range(self.nseries)])
        self.samples += self.nseries


def test_forwarded_with_relabelling(server_factory, tmp_path):
    _, b, _ = server_factory()
    cfg = tmp_path / "rw.yml"
    cfg.write_text(f"""
remote_write:
  - url: {b}/api/v1/write
    name: edge-to-host
    queue_config:
      batch_send_deadline: 200ms
    write_relabel_configs:
      - source_labels: [__name__]
        regex: fwd_.*
        action: keep
      - source_labels: [env, tier]
        regex: dev;.*
        action: drop
      - regex: secret_.*
        action: labeldrop
      - source_labels: [pod]
        regex: 'p(\\d+)'
        target_label: pod_no
        replacement: n${{1}}x
      - target_label: team
        replacement: ''
""")
    proc_a, a, data_a = server_factory("--remote-write-config", str(cfg))
    t = int(time.time() * 1000)
    post(a, [
        series_of("fwd_kept", t, 1, env="prod", pod="p12", secret_token="x", team="a"),
        series_of("fwd_dropped_env", t, 2, env="dev", tier="web"),
        series_of("other_name", t, 3, env="prod"),
        series_of("fwd_kept2", t, 4, env="dev2", pod="q1"),
    ])
    wait_until(lambda: count(b, '{__name__=~"fwd_.*"}') == 2, 20 * SLOW, "forwarded series")
    got = {r["metric"]["__name__"]: r["metric"] for r in query(b, '{__name__=~".+"}')}
    assert got["fwd_kept"] == {"__name__": "fwd_kept", "env": "prod", "pod": "p12",
                               "pod_no": "n12x"}
    # No match of the replace rule's regex: unchanged but for the empty-result rule.
    assert got["fwd_kept2"] == {"__name__": "fwd_kept2", "env": "dev2", "pod": "q1"}
    assert "other_name" not in got and "fwd_dropped_env" not in got
    m = scrape(a)
    key = lambda n, **l: (n, tuple(sorted({"remote_name": "edge-to-host",
                                           "url": f"{b}/api/v1/write", **l}.items())))
    assert m[key("kmon_forward_samples_sent_total")] == 2
    assert m[key("kmon_forward_samples_dropped_total", reason="relabel")] == 2
    assert abs(m[key("kmon_forward_highest_sent_timestamp_seconds")] - t / 1000) < 0.002
    assert os.path.isdir(os.path.join(data_a, "forward", "edge-to-host"))
    assert proc_a.stop() == 0, proc_a.log()  # (a sanitized build: no leak either)


def test_each_destination_of_a_repeated_flag_gets_everything(server_factory):
    _, b1, _ = server_factory()
    _, b2, _ = server_factory()
    _, a, _ = server_factory("--remote-write-url", f"{b1}/api/v1/write",
                             "--remote-write-url", f"{b2}/api/v1/write")
    w = Writer("fwd_two")
    for _ in range(5):
        w.write(a)
    for b in (b1, b2):
        wait_until(lambda: count(b, "fwd_two") == w.samples, 20 * SLOW, f"all samples at {b}")
    names = {dict(l).get("remote_name") for (n, l), _ in scrape(a).items()
             if n == "kmon_forward_samples_sent_total"}
    assert len(names) == 2


def test_url_passwords_are_never_shown(server_factory):
    _, b, _ = server_factory()
    url = b.replace("http://", "http://fwd:s3cret@") + "/api/v1/write"
    _, a, _ = server_factory("--remote-write-url", url)
    Writer("fwd_pw").write(a)
    wait_until(lambda: count(b, "fwd_pw") == 10, 20 * SLOW, "forwarded with credentials")
    flags = json.loads(http_get(a + "/api/v1/status/flags")[2])["data"]
    assert flags["remote-write-url"] == b.replace("http://", "http://fwd:xxxxx@") + "/api/v1/write"
    assert "s3cret" not in http_get(a + "/metrics")[2]
    assert "s3cret" not in http_get(a + "/api/v1/status/config")[2]


def test_nothing_lost_across_a_30s_outage(server_factory):
    port_b = free_port()
    proc_b, b, data_b = server_factory(port=port_b)
    _, a, _ = server_factory("--remote-write-url", f"{b}/api/v1/write")
    w = Writer("fwd_outage")
    for _ in range(20):
        w.write(a)
        time.sleep(0.1)
    proc_b.stop()
    outage_end = time.monotonic() + 30
    while time.monotonic() < outage_end:
        w.write(a)
        time.sleep(0.1)
    m = scrape(a)
    assert metric_sum(a, "kmon_forward_retries_total") > 0
    assert metric_sum(a, "kmon_forward_spool_samples") + \
        metric_sum(a, "kmon_forward_queue_samples") > 0, m
    server_factory(port=port_b, data=data_b)
    for _ in range(20):
        w.write(a)
        time.sleep(0.1)
    wait_until(lambda: count(b, "fwd_outage") == w.samples, 60 * SLOW,
               f"all {w.samples} samples at B")
    wait_until(lambda: metric_sum(a, "kmon_forward_spool_samples") == 0, 10 * SLOW, "spool empty")
    assert metric_sum(a, "kmon_forward_samples_dropped_total") == 0
    assert count(b, "fwd_outage") == w.samples


def test_spool_survives_a_restart_of_the_forwarder(server_factory):
    port_a, port_b = free_port(), free_port()
    url = f"http://127.0.0.1:{port_b}/api/v1/write"
    proc_a, a, data_a = server_factory("--remote-write-url", url, port=port_a)
    w = Writer("fwd_restart")
    for _ in range(30):  # B is not there: everything waits in A's queue and spool
        w.write(a)
        time.sleep(0.05)
    assert proc_a.stop() == 0
    spool = os.path.join(data_a, "forward", f"127.0.0.1_{port_b}_api_v1_write")
    assert sum(os.path.getsize(os.path.join(spool, f)) for f in os.listdir(spool)) > 0
    proc_a, a, _ = server_factory("--remote-write-url", url, port=port_a, data=data_a)
    for _ in range(10):
        w.write(a)
        time.sleep(0.05)
    _, b, _ = server_factory(port=port_b)
    wait_until(lambda: count(b, "fwd_restart") == w.samples, 60 * SLOW,
               f"all {w.samples} samples at B")


def test_spool_cap_drops_the_oldest_counted(server_factory):
    port_b = free_port()
    url = f"http://127.0.0.1:{port_b}/api/v1/write"
    _, a, _ = server_factory("--remote-write-url", url, "--remote-write-spool-max", "256KiB")
    w = Writer("fwd_cap", nseries=600)
    for _ in range(150):  # ~600 KiB of requests while B is not there
        w.write(a)
    wait_until(lambda: metric_sum(a, "kmon_forward_queue_samples") == 0, 30 * SLOW,
               "the queue spooled")
    dropped = metric_sum(a, "kmon_forward_samples_dropped_total")
    assert dropped > 0, "\n".join(f"{k[0]} {v}" for k, v in scrape(a).items()
                                   if k[0].startswith("kmon_forward"))
    assert metric_sum(a, "kmon_forward_spool_bytes") <= 256 * 1024
    _, b, _ = server_factory(port=port_b)
    # What was not dropped arrives, and nothing else: the newest, in order.
    wait_until(lambda: count(b, "fwd_cap") == w.samples - dropped, 60 * SLOW,
               f"{w.samples} - {dropped} samples at B")
    assert metric_sum(a, "kmon_forward_samples_sent_total") == w.samples - dropped
    newest = query(b, "max(timestamp(fwd_cap))")
    assert abs(float(newest[0]["value"][1]) - w.t / 1000) < 0.002


def test_rejected_requests_are_dropped_and_counted(server_factory):
    # B refuses every series (a label value longer than it allows): 400, not retried.
    _, b, _ = server_factory("--max-label-value-bytes", "8")
    _, a, _ = server_factory("--remote-write-url", f"{b}/api/v1/write")
    post(a, [series_of("fwd_rejected", int(time.time() * 1000), 1, v="0123456789")])
    wait_until(lambda: metric_sum(a, "kmon_forward_samples_dropped_total") == 1, 20 * SLOW,
               "the rejected sample counted")
    assert metric_sum(a, "kmon_forward_retries_total") == 0
    assert count(b, "fwd_rejected") == 0


def test_bad_config_is_refused_naming_the_line(tmp_path):
    cfg = tmp_path / "rw.yml"
    cfg.write_text("remote_write:\n  - url: http://127.0.0.1:1/api/v1/write\n"
                   "    queue_config:\n      capacity: 10\n      colour: blue\n")
    r = run("server", "--listen", "127.0.0.1:0", "--data", str(tmp_path / "d"),
            "--remote-write-config", str(cfg), timeout=30)
    assert r.returncode != 0
    assert f"{cfg}:5:" in r.stderr and "colour" in r.stderr, r.stderr
    r = run("server", "--listen", "127.0.0.1:0", "--data", str(tmp_path / "d"),
            "--remote-write-url", "ftp://x/", timeout=30)
    assert r.returncode != 0 and "ftp://x/" in r.stderr, r.stderr


@pytest.mark.skipif(PROMETHEUS is None,
                    reason="Debian's prometheus is not installed (scripts/install-deps.sh test)")
def test_prometheus_receives_the_forwarded_series(server_factory, tmp_path):
    prom_port = free_port()
    (tmp_path / "prometheus.yml").write_text("global:\n  scrape_interval: 1h\n")
    prom = Prometheus([f"--config.file={tmp_path / 'prometheus.yml'}",
                       f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                       f"--web.listen-address=127.0.0.1:{prom_port}",
                       "--web.enable-remote-write-receiver"])
    try:
        pbase = f"http://127.0.0.1:{prom_port}"
        wait_ready(pbase, prom, path="/-/ready")
        _, a, _ = server_factory("--remote-write-url", f"{pbase}/api/v1/write")
        w = Writer("fwd_to_prometheus", nseries=5)
        for _ in range(10):
            w.write(a)
            time.sleep(0.05)
        wait_until(lambda: count(pbase, "fwd_to_prometheus") == w.samples, 30 * SLOW,
                   f"all {w.samples} samples in Prometheus", proc=prom)
        series = query(pbase, "fwd_to_prometheus")
        assert sorted(r["metric"]["series"] for r in series) == [f"s{i}" for i in range(5)]
        assert metric_sum(a, "kmon_forward_samples_dropped_total") == 0
    finally:
        prom.close()


# write_relabel_configs cases run both by Prometheus' own relabelling (promtool applies a
# job's relabel_configs to its static targets) and by kmon's forwarder: the same labels
# must come out. (input labels, rules as YAML lines indented for a list under a key)
RELABEL_CASES = [
    ({"pod": "p12-eu", "a": "v"}, """
      - source_labels: [pod]
        regex: 'p(\\d+)-(?P<zone>[a-z]+)'
        target_label: x
        replacement: 'n${1}_$zone'
      - source_labels: [pod]
        regex: 'p(\\d+)-.*'
        target_label: y
        replacement: '$1x'
      - source_labels: [a]
        target_label: b
        replacement: '$$1 $ $}'
      - source_labels: [a]
        target_label: 'lbl_$1'
        replacement: 'yes'
      - source_labels: [a, nope]
        target_label: c
      - source_labels: [pod]
        regex: 'p1'
        target_label: z
        replacement: hit"""),
    ({"team": "t", "meta_team": "a", "meta_zone": "z1", "keepme": "1"}, """
      - target_label: team
        replacement: ''
      - regex: 'meta_(.+)'
        action: labelmap
      - regex: 'meta_.*'
        action: labeldrop"""),
    ({"env": "dev", "tier": "web"}, """
      - source_labels: [env, tier]
        regex: 'dev;.*'
        action: drop"""),
    ({"env": "prod", "tier": "web"}, """
      - source_labels: [env, tier]
        separator: '/'
        regex: 'prod/(.*)'
        target_label: where
        replacement: 'in-$1'
      - source_labels: [env]
        regex: 'pro'
        action: keep"""),
    ({"a": "MiXed", "b": "mixed", "c": "1"}, """
      - source_labels: [a]
        target_label: lower
        action: lowercase
      - source_labels: [lower]
        target_label: b
        action: keepequal
      - regex: '[ab]'
        action: labelkeep"""),
]


@pytest.mark.skipif(PROMETHEUS is None,
                    reason="Debian's prometheus is not installed (scripts/install-deps.sh test)")
def test_relabelling_matches_prometheus(server_factory, tmp_path):
    import shutil
    import subprocess
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed")
    want = []
    for i, (labels, rules) in enumerate(RELABEL_CASES):
        cfg = tmp_path / f"prom{i}.yml"
        cfg.write_text(f"""
scrape_configs:
  - job_name: j
    static_configs:
      - targets: ["h:80"]
        labels: {json.dumps(labels)}
    relabel_configs:{rules}
""")
        out = subprocess.run([promtool, "check", "service-discovery", "--timeout=1s", str(cfg),
                              "j"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        got = json.loads(out.stdout)[0].get("labels") or {}
        want.append({k: v for k, v in got.items()
                     if not k.startswith("__") and k not in ("job", "instance")})
    _, b, _ = server_factory()
    dests = "".join(f"""
  - url: {b}/api/v1/write
    name: case{i}
    queue_config:
      batch_send_deadline: 100ms
    write_relabel_configs:
      - source_labels: [case]
        regex: '{i}'
        action: keep
      - regex: case
        action: labeldrop{rules}""" for i, (_, rules) in enumerate(RELABEL_CASES))
    (tmp_path / "rw.yml").write_text("remote_write:" + dests + "\n")
    _, a, _ = server_factory("--remote-write-config", str(tmp_path / "rw.yml"))
    t = int(time.time() * 1000)
    post(a, [series_of(f"fwd_case{i}", t, 1, case=str(i), **labels)
             for i, (labels, _) in enumerate(RELABEL_CASES)])
    kept = sum(1 for w in want if w)
    wait_until(lambda: count(b, '{__name__=~"fwd_case.*"}') == kept, 20 * SLOW,
               "the forwarded cases")
    time.sleep(0.5)  # a dropped case would have arrived by now too
    got = {r["metric"]["__name__"]: r["metric"] for r in query(b, '{__name__=~"fwd_case.*"}')}
    for i, w in enumerate(want):
        g = got.get(f"fwd_case{i}")
        if g is not None:
            g = {k: v for k, v in g.items() if k != "__name__"}
        assert (g or {}) == w, (i, RELABEL_CASES[i], g, w)


class _Gate(http.server.BaseHTTPRequestHandler):
    """An HTTPS front of a kmon server: it checks the bearer token, answers 429 with
    Retry-After to the first requests, and passes the rest on as they came."""

    def do_POST(self):
        g = self.server.gate
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with g["lock"]:
            g["seen"].append({k.lower(): v for k, v in self.headers.items()})
            auth = self.headers.get("Authorization", "")
            if auth not in {f"Bearer {t}" for t in g["tokens"]}:
                status, extra, out = 401, {}, b'{"error":"bad token"}'
            elif g["busy"] > 0:
                g["busy"] -= 1
                status, extra, out = 429, {"Retry-After": "1"}, b'{"error":"slow down"}'
            else:
                status = None
        if status is None:
            req = urllib.request.Request(g["to"], data=body, method="POST", headers={
                k: self.headers[k] for k in ("Content-Encoding", "Content-Type",
                                             "X-Prometheus-Remote-Write-Version")})
            with urllib.request.urlopen(req, timeout=30) as r:
                status, extra, out = r.status, {}, r.read()
        self.send_response(status)
        for k, v in extra.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


def test_https_with_client_certificate_token_rotation_and_429(server_factory, tmp_path):
    pki = _pki("rsa")
    _, b, _ = server_factory()
    gate = {"lock": threading.Lock(), "seen": [], "tokens": {"first-token"}, "busy": 2,
            "to": f"{b}/api/v1/write"}
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Gate)
    srv.gate = gate
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(pki, "apiserver.crt"), os.path.join(pki, "apiserver.key"))
    ctx.load_verify_locations(os.path.join(pki, "ca.crt"))
    ctx.verify_mode = ssl.CERT_REQUIRED  # mutual TLS
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        token = tmp_path / "token"
        token.write_text("first-token\n")
        cfg = tmp_path / "rw.yml"
        cfg.write_text(f"""
remote_write:
  - url: https://127.0.0.1:{srv.server_address[1]}/api/v1/write
    name: gate
    authorization:
      type: Bearer
      credentials_file: {token}
    tls_config:
      ca_file: {pki}/ca.crt
      cert_file: {pki}/client.crt
      key_file: {pki}/client.key
    queue_config:
      batch_send_deadline: 100ms
      min_backoff: 50ms
      max_backoff: 200ms
""")
        proc_a, a, _ = server_factory("--remote-write-config", str(cfg))
        w = Writer("fwd_https", nseries=3)
        w.write(a)
        wait_until(lambda: count(b, "fwd_https") == w.samples, 20 * SLOW, "through the gate")
        # The two 429s were waited out for Retry-After (1 s), longer than max_backoff.
        assert metric_sum(a, "kmon_forward_retries_total") == 2
        assert metric_sum(a, "kmon_forward_samples_dropped_total") == 0
        h = gate["seen"][-1]
        assert h["content-encoding"] == "snappy"
        assert h["content-type"] == "application/x-protobuf"
        assert h["x-prometheus-remote-write-version"] == "0.1.0"
        assert h["user-agent"].startswith("kmon/")
        # The token rotates: the next requests carry the new one.
        with gate["lock"]:
            gate["tokens"] = {"first-token", "second-token"}
        time.sleep(1.1)
        token.write_text("second-token\n")
        time.sleep(1.5)
        with gate["lock"]:
            gate["tokens"] = {"second-token"}
        w.write(a)
        wait_until(lambda: count(b, "fwd_https") == w.samples, 20 * SLOW, "with the new token")
        assert gate["seen"][-1]["authorization"] == "Bearer second-token"
        assert metric_sum(a, "kmon_forward_samples_dropped_total") == 0
        assert proc_a.stop() == 0, proc_a.log()
    finally:
        srv.shutdown()
        srv.server_close()
