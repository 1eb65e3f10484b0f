"""Two clusters into one server across a network, as issue 15 puts it: the server serves
HTTPS with tokens; an agent on this host writes with cluster a's write token, a second
agent in a network namespace of its own (its own network stack, reaching the server over a
veth pair, as a node of another cluster would) writes with cluster b's token while
claiming --cluster a, and is stored as b all the same; a read token limited to a sees
only a, an unlimited one both (needs root for the network namespace; skipped otherwise).
And a real Prometheus remote-writing over HTTPS with a bearer token."""
import hashlib
import json
import os
import secrets
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import KMON, Prometheus, Proc, free_port, wait_until
from tlscerts import Certs

SLOW = 3 if os.environ.get("KMON_SANITIZED") else 1


class NsProc(Proc):
    """A kmon process in network namespace ns (`ip netns exec` execs it: its pid is
    kmon's)."""

    def __init__(self, ns, args):
        self.args = args
        self.stderr_path = f"/tmp/kmon-test-{os.getpid()}-{time.monotonic_ns()}.log"
        self.stderr = open(self.stderr_path, "w+")
        self.p = subprocess.Popen(["ip", "netns", "exec", ns, KMON, *args],
                                  stdout=subprocess.DEVNULL, stderr=self.stderr)


def token_entry(name, token, scope, cluster=None, clusters=None):
    e = f"  - name: {name}\n    sha256: {hashlib.sha256(token.encode()).hexdigest()}\n"
    e += f"    scope: {scope}\n"
    if cluster:
        e += f"    cluster: {cluster}\n"
    if clusters:
        e += f"    clusters: [{', '.join(clusters)}]\n"
    return e


@pytest.fixture
def netns():
    """A network namespace joined to this one by a veth pair: (name, host address, its
    address)."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    n = os.getpid() % 250 + 1
    ns, host_if, ns_if = f"kmon-mc-{os.getpid()}", f"kmc{n}h", f"kmc{n}n"
    host_ip, ns_ip = f"10.233.{n}.1", f"10.233.{n}.2"
    try:
        subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"cannot create a network namespace: {e}")

    def sh(*a):
        subprocess.run(a, check=True, capture_output=True)

    try:
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        sh("ip", "link", "set", ns_if, "netns", ns)
        sh("ip", "addr", "add", f"{host_ip}/30", "dev", host_if)
        sh("ip", "link", "set", host_if, "up")
        sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{ns_ip}/30", "dev", ns_if)
        sh("ip", "netns", "exec", ns, "ip", "link", "set", ns_if, "up")
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        yield ns, host_ip, ns_ip
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def query(base, ctx, token, q):
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": q})
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
        return json.load(r)["data"]["result"]


def pairs(result):
    return sorted((r["metric"].get("cluster"), r["metric"].get("node")) for r in result)


def test_two_clusters_over_https_with_tokens(netns, tmp_path):
    ns, host_ip, _ = netns
    certs = Certs(tmp_path / "certs")
    cert, key = certs.issue("server-mc", "kmon", server=True, ips=(host_ip,))
    tok = {n: secrets.token_hex(16) for n in ("a", "b", "read-a", "admin")}
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text("tokens:\n" + token_entry("a", tok["a"], "write", cluster="a")
                      + token_entry("b", tok["b"], "write", cluster="b")
                      + token_entry("read-a", tok["read-a"], "read", clusters=["a"])
                      + token_entry("admin", tok["admin"], "admin"))
    for n in ("a", "b"):
        (tmp_path / f"token-{n}").write_text(tok[n] + "\n")
    port = free_port()
    # Beyond loopback, on every address: the namespace reaches it over the veth pair.
    server = Proc(["server", "--listen", f":{port}", "--data", str(tmp_path / "data"),
                   "--tls-cert", cert, "--tls-key", key, "--tokens", str(tokens),
                   "--self-scrape-interval", "0", "--default-rules=false"])
    agents = []
    try:
        ctx = ssl.create_default_context(cafile=certs.ca)
        base = f"https://127.0.0.1:{port}"
        wait_until(lambda: _ready(base, ctx), 30 * SLOW, "the server over HTTPS", server)
        assert "without authentication" not in server.log()
        common = ["--interval", "1s", "--spool-dir", "none", "--ca-file", certs.ca]
        agents.append(Proc(["agent", "--listen", f"127.0.0.1:{free_port()}",
                            "--server", base, "--node-name", "node-a", "--cluster", "a",
                            "--token-file", str(tmp_path / "token-a"), *common]))
        # The second cluster's node: another network stack, the server by its address on
        # the veth pair, and a --cluster that lies (its token says b).
        agents.append(NsProc(ns, ["agent", "--listen", f"127.0.0.1:{free_port()}",
                                  "--server", f"https://{host_ip}:{port}",
                                  "--node-name", "node-b", "--cluster", "a",
                                  "--token-file", str(tmp_path / "token-b"), *common]))
        q = "kmon_agent_collections_total"
        want = [("a", "node-a"), ("b", "node-b")]
        wait_until(lambda: pairs(query(base, ctx, tok["admin"], q)) == want, 40 * SLOW,
                   "both clusters' agents stored under their tokens' clusters", agents[1])
        # The lie stored nothing under a for node-b.
        assert query(base, ctx, tok["admin"], f'{q}{{node="node-b",cluster="a"}}') == []
        # A read token limited to a sees a only, asked for b or for everything.
        assert pairs(query(base, ctx, tok["read-a"], q)) == [("a", "node-a")]
        assert query(base, ctx, tok["read-a"], f'{q}{{cluster="b"}}') == []
        # A write token cannot read.
        with pytest.raises(urllib.error.HTTPError) as e:
            query(base, ctx, tok["a"], q)
        assert e.value.code == 403
        for a in agents:
            assert tok["a"] not in a.log() and tok["b"] not in a.log()
        assert not any(t in server.log() for t in tok.values())
    finally:
        for a in agents:
            a.close()
        server.close()


def _ready(base, ctx):
    try:
        with urllib.request.urlopen(base + "/readyz", context=ctx, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def test_prometheus_remote_writes_over_https_with_a_bearer_token(tmp_path):
    """A real Prometheus 2.42 as one cluster's sender: HTTPS verified with the CA, a bearer
    token from a file; its external label says cluster "a", its token says "p"."""
    certs = Certs(tmp_path / "certs")
    tok = {"p": secrets.token_hex(16), "admin": secrets.token_hex(16)}
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text("tokens:\n" + token_entry("p", tok["p"], "write", cluster="p")
                      + token_entry("admin", tok["admin"], "admin"))
    (tmp_path / "token-p").write_text(tok["p"] + "\n")
    port, prom_port = free_port(), free_port()
    server = Proc(["server", "--listen", f"127.0.0.1:{port}", "--data", str(tmp_path / "data"),
                   "--tls-cert", certs.server, "--tls-key", certs.server_key,
                   "--tokens", str(tokens), "--self-scrape-interval", "0",
                   "--default-rules=false"])
    prom = None
    try:
        ctx = ssl.create_default_context(cafile=certs.ca)
        base = f"https://127.0.0.1:{port}"
        wait_until(lambda: _ready(base, ctx), 30 * SLOW, "the server over HTTPS", server)
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
      credentials_file: {tmp_path / 'token-p'}
    tls_config:
      ca_file: {certs.ca}
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 100ms
      max_backoff: 1s
""")
        prom = Prometheus([f"--config.file={tmp_path / 'prometheus.yml'}",
                           f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                           f"--web.listen-address=127.0.0.1:{prom_port}"])
        got = wait_until(lambda: query(base, ctx, tok["admin"], 'up{job="prom-self"}'),
                         60 * SLOW, "Prometheus' series over HTTPS with its token", server)
        assert [r["metric"]["cluster"] for r in got] == ["p"], got
        assert query(base, ctx, tok["admin"], '{cluster="a"}') == []
        assert tok["p"] not in server.log()
    finally:
        if prom:
            prom.close()
        server.close()
