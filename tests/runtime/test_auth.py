"""Tokens (`kmon server --tokens FILE`): the gate's 401 and 403 on every route family,
nothing stored from a refused write, read tokens limited to clusters seeing only theirs
(metrics and logs), the file reloaded while the server runs, open health probes, and a
real Prometheus remote-writing with a bearer token file."""
import base64
import hashlib
import json
import os
import subprocess
import time
import urllib.parse

import pytest

import rwlib
from conftest import (KMON, PROMETHEUS, Prometheus, free_port, http_request, parse_exposition,
                      wait_until)

TOKENS = {
    "w-a": ("write", "a"),
    "w-b": ("write", "b"),
    "r-all": ("read", None),
    "r-a": ("read", ["a"]),
    "r-ab": ("read", ["a", "b"]),
    "adm": ("admin", None),
}


def secret(name):
    return f"secret-{name}-0123456789"


def sha(tok):
    return hashlib.sha256(tok.encode()).hexdigest()


def entry(name, scope, cl):
    e = f"  - name: {name}\n    sha256: {sha(secret(name))}\n    scope: {scope}\n"
    if isinstance(cl, list):
        e += f"    clusters: [{', '.join(cl)}]\n"
    elif cl:
        e += f"    cluster: {cl}\n"
    return e


def tokens_yaml(tokens):
    return "tokens:\n" + "".join(entry(n, s, c) for n, (s, c) in tokens.items())


def bearer(name):
    return {"Authorization": f"Bearer {secret(name)}"}


def get(base, path, token=None, **params):
    url = base + path + ("?" + urllib.parse.urlencode(params) if params else "")
    return http_request(url, headers=bearer(token) if token else {})


def write(base, token, series):
    body = rwlib.snappy(rwlib.write_request(series))
    h = dict(rwlib.HEADERS)
    if token:
        h.update(bearer(token))
    return http_request(base + "/api/v1/write", "POST", body, h)


def push_logs(base, token, cluster, line):
    body = json.dumps({"streams": [{"stream": {"cluster": cluster, "app": "x"},
                                    "values": [[str(time.time_ns()), line]]}]}).encode()
    h = {"Content-Type": "application/json", **bearer(token)}
    return http_request(base + "/loki/api/v1/push", "POST", body, h)


def query(base, token, q):
    st, _, b = get(base, "/api/v1/query", token, query=q)
    assert st == 200, b
    return json.loads(b)["data"]["result"]


@pytest.fixture
def authed(server_factory, tmp_path):
    f = tmp_path / "tokens.yaml"
    f.write_text(tokens_yaml(TOKENS))
    srv, base, data = server_factory("--tokens", str(f))
    now = int(time.time() * 1000)
    st, _, b = write(base, "adm", [rwlib.series_of("up", now, 1, cluster="a", job="j"),
                                   rwlib.series_of("up", now, 1, cluster="b", job="j")])
    assert st == 204, b
    yield srv, base, data, f
    # A clean stop: no leak or other sanitizer report (a sanitized build).
    assert srv.stop() == 0, srv.log()
    assert "Sanitizer" not in srv.log(), srv.log()


def test_refusals_are_json_and_name_the_problem(authed):
    srv, base, data, _ = authed
    st, h, b = get(base, "/api/v1/query", query="up")
    assert st == 401
    assert h["WWW-Authenticate"] == 'Bearer realm="kmon"'
    doc = json.loads(b)
    assert doc["status"] == "error" and doc["errorType"] == "unauthorized"
    assert "token" in doc["error"]

    st, _, b = http_request(base + "/api/v1/query?query=up",
                            headers={"Authorization": "Bearer not-a-token"})
    assert st == 401 and json.loads(b)["error"] == "unknown token"

    # A read token cannot write; nothing of it is stored.
    st, _, b = write(base, "r-all", [rwlib.series_of("refused_metric", int(time.time() * 1000),
                                                     1, cluster="a")])
    assert st == 403, b
    assert json.loads(b)["errorType"] == "forbidden"
    assert query(base, "adm", "refused_metric") == []
    st, _, b = push_logs(base, "r-all", "a", "refused line")
    assert st == 403, b

    # A write token cannot read; an admin token is needed for reload.
    assert get(base, "/api/v1/query", "w-a", query="up")[0] == 403
    assert get(base, "/loki/api/v1/labels", "w-a")[0] == 403
    assert http_request(base + "/-/reload", "POST", b"", bearer("r-all"))[0] == 403
    assert http_request(base + "/-/reload", "POST", b"", bearer("adm"))[0] == 200
    # /metrics needs a read token and counts the outcomes.
    assert get(base, "/metrics")[0] == 401
    st, _, b = get(base, "/metrics", "r-all")
    assert st == 200
    m = parse_exposition(b.decode())[0]
    assert m[("kmon_auth_requests_total", (("result", "forbidden"),))] >= 4
    assert m[("kmon_auth_requests_total", (("result", "unauthenticated"),))] >= 3
    assert m[("kmon_auth_token_requests_total", (("token", "w-a"),))] >= 2
    # No secret in the log.
    assert "secret-" not in srv.log()


def test_other_credentials_and_open_routes(authed):
    srv, base, data, _ = authed
    # Basic auth with the token as password (Grafana, Prometheus' basic_auth).
    cred = base64.b64encode(f"kmon:{secret('r-all')}".encode()).decode()
    st, _, _ = http_request(base + "/api/v1/query?query=up",
                            headers={"Authorization": f"Basic {cred}"})
    assert st == 200
    # ?token= only for GET on read routes (EventSource, WebSocket).
    assert http_request(base + "/api/v1/query?query=up&token=" + secret("r-all"))[0] == 200
    st, _, _ = http_request(base + "/api/v1/query?token=" + secret("r-all"), "POST",
                            b"query=up", {"Content-Type": "application/x-www-form-urlencoded"})
    assert st == 401
    # Probes and the dashboard's files are open.
    for path in ("/healthz", "/readyz", "/-/healthy", "/-/ready", "/ui/"):
        assert get(base, path)[0] == 200, path


def test_read_tokens_see_their_clusters_only(authed):
    srv, base, data, _ = authed
    assert push_logs(base, "adm", "a", "line of a")[0] == 204
    assert push_logs(base, "adm", "b", "line of b")[0] == 204

    def clusters(tok, q="up"):
        return sorted(r["metric"].get("cluster", "") for r in query(base, tok, q))

    assert clusters("r-all") == ["a", "b"]
    assert clusters("adm") == ["a", "b"]
    assert clusters("r-a") == ["a"]
    assert clusters("r-a", 'up{cluster="b"}') == []
    assert clusters("r-ab") == ["a", "b"]
    st, _, b = get(base, "/api/v1/label/cluster/values", "r-a")
    assert json.loads(b)["data"] == ["a"]
    st, _, b = get(base, "/api/v1/series", "r-a", **{"match[]": "up"})
    assert [s["cluster"] for s in json.loads(b)["data"]] == ["a"]
    st, _, b = get(base, "/federate", "r-a", **{"match[]": "up"})
    assert st == 200 and b'cluster="a"' in b and b'cluster="b"' not in b
    # Cardinality over every cluster: not for a limited token.
    assert get(base, "/api/v1/status/tsdb", "r-a")[0] == 403
    assert get(base, "/api/v1/status/tsdb", "r-all")[0] == 200

    # Logs: the same through the log source.
    def lines(tok, q='{app="x"}'):
        now = time.time_ns()
        st, _, b = get(base, "/loki/api/v1/query_range", tok, query=q, start=now - 3600 * 10**9,
                       end=now + 10**9)
        assert st == 200, b
        return sorted(v[1] for s in json.loads(b)["data"]["result"] for v in s["values"])

    assert lines("r-all") == ["line of a", "line of b"]
    assert lines("r-a") == ["line of a"]
    assert lines("r-a", '{cluster="b"}') == []
    st, _, b = get(base, "/loki/api/v1/label/cluster/values", "r-a")
    assert json.loads(b)["data"] == ["a"]
    st, _, b = get(base, "/loki/api/v1/series", "r-a", **{"match[]": '{app="x"}'})
    assert [s["cluster"] for s in json.loads(b)["data"]] == ["a"]


def test_tail_with_a_query_token_sees_its_clusters_only(authed):
    from test_logs_tail import WS, collect, entries_of  # noqa: F401 (the tail's client)
    srv, base, data, _ = authed
    st, _, ws = WS.connect(base, "/loki/api/v1/tail", {"query": '{app="x"}'})
    assert st == 401
    st, _, ws = WS.connect(base, "/loki/api/v1/tail",
                           {"query": '{app="x"}', "token": secret("r-a")})
    assert st == 101, ws
    for k in range(3):
        assert push_logs(base, "adm", "b", f"b {k}")[0] == 204
        assert push_logs(base, "adm", "a", f"a {k}")[0] == 204
    got = collect(ws, 3, timeout=15)
    time.sleep(1)
    assert sorted(line for _, _, line in got) == ["a 0", "a 1", "a 2"]
    assert all(dict(lab)["cluster"] == "a" for lab, _, _ in got)
    ws.close()
    assert "secret-" not in srv.log()


def test_token_file_reloaded_while_running(authed):
    srv, base, data, f = authed
    assert get(base, "/api/v1/query", "r-all", query="up")[0] == 200
    # A bad file keeps the tokens in use (and says so once).
    f.write_text("tokens:\n  - name: x\n    sha256: nothex\n    scope: read\n")
    time.sleep(1.2)
    assert get(base, "/api/v1/query", "r-all", query="up")[0] == 200
    wait_until(lambda: "sha256 must be 64 hexadecimal digits" in srv.log(), 10,
               "the bad file logged")
    # A new token works, a removed one is refused, within a few seconds.
    tokens = dict(TOKENS)
    del tokens["r-all"]
    tokens["r-new"] = ("read", None)
    tmp = f.with_suffix(".tmp")
    tmp.write_text(tokens_yaml(tokens))
    os.replace(tmp, f)
    wait_until(lambda: get(base, "/api/v1/query", "r-new", query="up")[0] == 200, 10,
               "the new token accepted")
    assert get(base, "/api/v1/query", "r-all", query="up")[0] == 401
    assert srv.log().count("sha256 must be 64 hexadecimal digits") == 1


def test_no_warning_beyond_loopback_with_tokens(server_factory, tmp_path):
    f = tmp_path / "tokens.yaml"
    f.write_text(tokens_yaml(TOKENS))
    port = free_port()
    srv, _, _ = server_factory("--tokens", str(f), "--listen", f":{port}", port=port)
    assert "without authentication" not in srv.log()
    assert "6 tokens from" in srv.log()


def test_bad_token_file_stops_the_server(tmp_path):
    f = tmp_path / "tokens.yaml"
    cases = {
        "tokens:\n  - name: a\n    sha256: 12\n    scope: read\n": "line 3: sha256 must be 64",
        f"tokens:\n  - name: a\n    sha256: {sha('x')}\n    scope: root\n":
            'unknown scope "root"',
        f"tokens:\n  - name: a\n    sha256: {sha('x')}\n    scope: write\n":
            "a write token is bound to one cluster",
        f"tokens:\n  - name: a\n    sha256: {sha('x')}\n    scope: read\n    colour: red\n":
            'line 5: unknown key "colour"',
        f"tokens:\n  - name: a\n    sha256: {sha('x')}\n    scope: read\n"
        f"  - name: a\n    sha256: {sha('y')}\n    scope: read\n":
            'line 5: duplicate token name "a" (first at line 2)',
    }
    for text, want in cases.items():
        f.write_text(text)
        out = subprocess.run([KMON, "server", "--listen", f"127.0.0.1:{free_port()}", "--data",
                              str(tmp_path / "d"), "--tokens", str(f)],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode != 0
        assert want in out.stderr and str(f) in out.stderr, out.stderr


def test_kmon_token_new_makes_a_working_entry(server_factory, tmp_path):
    out = subprocess.run([KMON, "token", "new", "--name", "edge-a", "--scope", "write",
                          "--cluster", "a"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    tok = out.stdout.strip()
    assert len(tok) == 64
    assert tok not in out.stderr and sha(tok) in out.stderr
    f = tmp_path / "tokens.yaml"
    f.write_text("tokens:\n" + "".join(l + "\n" for l in out.stderr.splitlines()
                                       if not l.startswith("#")))
    srv, base, data = server_factory("--tokens", str(f))
    st, _, b = http_request(base + "/loki/api/v1/push", "POST", json.dumps(
        {"streams": [{"stream": {"app": "x"}, "values": [[str(time.time_ns()), "l"]]}]}).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {tok}"})
    assert st == 204, b
    # A write token without its cluster is refused with the reason.
    out = subprocess.run([KMON, "token", "new", "--name", "x", "--scope", "write"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "bound to one cluster" in out.stderr
    assert out.stdout == ""


@pytest.mark.skipif(PROMETHEUS is None,
                    reason="Debian's prometheus is not installed (scripts/install-deps.sh test)")
def test_prometheus_remote_writes_with_a_bearer_token(authed, tmp_path):
    srv, base, data, _ = authed
    prom_port = free_port()
    cred = tmp_path / "token"
    cred.write_text(secret("w-a") + "\n")
    (tmp_path / "prometheus.yml").write_text(f"""
global:
  scrape_interval: 1s
  external_labels:
    cluster: a
scrape_configs:
  - job_name: prom-self
    static_configs:
      - targets: ["127.0.0.1:{prom_port}"]
remote_write:
  - url: {base}/api/v1/write
    authorization:
      credentials_file: {cred}
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 100ms
      max_backoff: 1s
""")
    prom = Prometheus([f"--config.file={tmp_path / 'prometheus.yml'}",
                       f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                       f"--web.listen-address=127.0.0.1:{prom_port}"])
    try:
        wait_until(lambda: query(base, "r-a", 'up{job="prom-self"}') != [], 60,
                   "Prometheus' series", proc=srv)
        st, _, b = get(base, "/metrics", "adm")
        m = parse_exposition(b.decode())[0]
        assert m[("kmon_auth_token_requests_total", (("token", "w-a"),))] >= 1
    finally:
        prom.close()
