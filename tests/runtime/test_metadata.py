"""/api/v1/metadata: the metric metadata (TYPE, HELP, UNIT) that arrived by remote_write,
in Prometheus' JSON shape. Prometheus 2.42's own remote-write receiver drops metadata,
so what kmon answers is checked against what was sent (entries built by hand, and the
PromQL suite's dataset's families); against the real thing where Prometheus has
metadata of its own: a Prometheus scraping the kmon agent and remote-writing to kmon
sends the metadata of its targets, and kmon must then answer what that Prometheus
answers. Also: kept across a restart (and a kill -9 after a flush), a corrupt file
costing only the metadata, and the kmon agent sending its families' metadata with its
first collection and then once per --metadata-interval, never with every batch."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import Proc, free_port, http_get, http_request, scrape, value
import rwlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "promql"))
import dataset  # noqa: E402
import harness  # noqa: E402

PROMETHEUS = shutil.which("prometheus")


def write(base, body):
    status, _, text = http_request(base + "/api/v1/write", "POST", body, rwlib.HEADERS)
    assert status == 204, text


def metadata(base, **params):
    q = "&".join(f"{k}={urllib.request.quote(str(v))}" for k, v in params.items())
    status, _, body = http_request(base + "/api/v1/metadata" + ("?" + q if q else ""))
    return status, json.loads(body)


def data(base, **params):
    status, doc = metadata(base, **params)
    assert status == 200 and doc["status"] == "success" and set(doc) == {"status", "data"}, doc
    return doc["data"]


def as_sets(d):
    """Prometheus lists a name's entries in no particular order: compare them as sets."""
    return {name: sorted(json.dumps(e, sort_keys=True) for e in v) for name, v in d.items()}


def entry(t, h="", u=""):
    return {"type": t, "help": h, "unit": u}


SENT = [
    (rwlib.metadata("counter", "http_requests_total", "Requests by code."), None),
    (rwlib.metadata("counter", "http_requests_total", "Requests by code."), None),  # again
    (rwlib.metadata("counter", "http_requests_total", "Requests, v2."), None),      # another
    (rwlib.metadata("gauge", "temperature",
                    'A "quoted", back\\slashed,\nmultiline help: é 😀.', "celsius"), None),
    (rwlib.metadata("histogram", "latency_seconds", "Latency.", "seconds"), None),
    (rwlib.metadata("gaugehistogram", "queue_gh", "x"), None),
    (rwlib.metadata("summary", "rpc_seconds", "y", "seconds"), None),
    (rwlib.metadata("info", "build_info", "Build."), None),
    (rwlib.metadata("stateset", "feature_state", ""), None),
    (rwlib.metadata("unknown", "untyped_thing", "z"), None),
    (rwlib.metadata(42, "future_type", "from a newer sender"), None),
    (rwlib.metadata("gauge", "job:rate5m:sum", "A recording rule's."), None),
    # Invalid: dropped and counted, the request's samples still stored.
    (rwlib.metadata("gauge", "bad-name", "x"), "invalid"),
    (rwlib.metadata("gauge", "", "x"), "invalid"),
    (rwlib.metadata("gauge", "bad_help", b"\xff\xfe"), "invalid"),
    (rwlib.metadata("gauge", "nul_help", b"a\x00b"), "invalid"),
]

EXPECTED = {
    "http_requests_total": [entry("counter", "Requests by code."),
                            entry("counter", "Requests, v2.")],
    "temperature": [entry("gauge", 'A "quoted", back\\slashed,\nmultiline help: é 😀.',
                          "celsius")],
    "latency_seconds": [entry("histogram", "Latency.", "seconds")],
    "queue_gh": [entry("gaugehistogram", "x")],
    "rpc_seconds": [entry("summary", "y", "seconds")],
    "build_info": [entry("info", "Build.")],
    "feature_state": [entry("stateset")],
    "untyped_thing": [entry("unknown", "z")],
    "future_type": [entry("unknown", "from a newer sender")],
    "job:rate5m:sum": [entry("gauge", "A recording rule's.")],
}


def test_metadata_as_sent(server_factory):
    _, base, _ = server_factory()
    assert data(base) == {}
    now = int(time.time() * 1000)
    body = rwlib.write_request([rwlib.series_of("up", now, 1.0, job="a")])
    write(base, rwlib.snappy(body + b"".join(m for m, _ in SENT)))
    got = data(base)
    assert as_sets(got) == as_sets(EXPECTED)
    # Names in byte order, a name's entries in the order they first came.
    assert list(got) == sorted(EXPECTED)
    assert got["http_requests_total"] == EXPECTED["http_requests_total"]
    m = scrape(base)
    assert value(m, "kmon_ingest_metadata_received_total") == len(SENT)
    assert value(m, "kmon_ingest_not_stored_total", kind="metadata") == 4
    assert value(m, "kmon_tsdb_metadata_names") == len(EXPECTED)
    assert value(m, "kmon_tsdb_metadata_entries") == 11
    # The samples of the request were stored all the same.
    status, _, text = http_request(base + "/api/v1/query?query=up")
    assert status == 200 and json.loads(text)["data"]["result"], text

    # The parameters.
    assert data(base, metric="temperature") == {"temperature": EXPECTED["temperature"]}
    assert data(base, metric="nothing") == {}
    assert data(base, metric="") == got
    assert data(base, limit=0) == {}
    assert data(base, limit=-1) == got
    assert data(base, limit="+1") == {"build_info": EXPECTED["build_info"]}
    assert list(data(base, limit=3)) == sorted(EXPECTED)[:3]
    assert data(base, limit_per_metric=1)["http_requests_total"] == \
        [entry("counter", "Requests by code.")]
    assert data(base, limit_per_metric=0) == got
    assert data(base, limit_per_metric=-2) == got
    for bad in ("abc", "1.5", "0x10", "1_000", " 3", "99999999999999999999"):
        assert metadata(base, limit=bad) == (400, {
            "status": "error", "errorType": "bad_data", "error": "limit must be a number"})
        assert metadata(base, limit_per_metric=bad)[1]["error"] == \
            "limit_per_metric must be a number"
    # A form POST as well (Prometheus 2.42 answers only GET).
    status, _, text = http_request(base + "/api/v1/metadata", "POST", b"metric=build_info",
                                   {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200 and json.loads(text)["data"] == {"build_info": EXPECTED["build_info"]}

    # The PromQL suite's dataset's families, a request of metadata only.
    ds = dataset.build(now // 3600000 * 3600000 - 3 * 3600000)
    write(base, ds.metadata_request())
    got = data(base)
    for name, (t, h, u) in ds.metadata().items():
        assert got[name] == [entry(t, h, u)], name
    assert len(got) == len(EXPECTED) + len(ds.metadata())


def test_metadata_kept_across_restarts(server_factory, tmp_path):
    srv, base, data_dir = server_factory("--enable-admin-api")
    port = int(base.rsplit(":", 1)[1])
    write(base, rwlib.snappy(b"".join(m for m, why in SENT if not why)))
    want = data(base)
    assert srv.stop() == 0
    assert os.path.exists(os.path.join(data_dir, "metadata"))
    srv, base, _ = server_factory("--enable-admin-api", data=data_dir, port=port)
    assert data(base) == want
    # Something new, made durable by a flush, survives a kill -9.
    write(base, rwlib.snappy(rwlib.metadata("gauge", "after_restart", "New.")))
    assert http_request(base + "/api/v1/admin/flush", "POST")[0] == 204
    srv.stop(signal.SIGKILL)
    srv, base, _ = server_factory(data=data_dir, port=port)
    assert data(base)["after_restart"] == [entry("gauge", "New.")]
    assert data(base, metric="temperature") == {"temperature": EXPECTED["temperature"]}


def test_corrupt_metadata_file_costs_only_the_metadata(server_factory, tmp_path):
    srv, base, data_dir = server_factory()
    port = int(base.rsplit(":", 1)[1])
    now = int(time.time() * 1000)
    write(base, rwlib.snappy(rwlib.write_request([rwlib.series_of("kept", now, 7.0)]) +
                             rwlib.metadata("gauge", "kept", "Kept.")))
    assert srv.stop() == 0
    path = os.path.join(data_dir, "metadata")
    raw = bytearray(open(path, "rb").read())
    raw[len(raw) // 2] ^= 0x40
    open(path, "wb").write(raw)
    srv, base, _ = server_factory(data=data_dir, port=port)
    assert data(base) == {}
    assert "metric metadata not read" in srv.log() and "checksum" in srv.log()
    status, _, text = http_request(base + "/api/v1/query?query=kept")
    assert json.loads(text)["data"]["result"][0]["value"][1] == "7"
    # It takes new metadata, and writes a good file again.
    write(base, rwlib.snappy(rwlib.metadata("gauge", "kept", "Kept.")))
    assert srv.stop() == 0
    srv, base, _ = server_factory(data=data_dir, port=port)
    assert data(base) == {"kept": [entry("gauge", "Kept.")]}
    assert "metric metadata not read" not in srv.log()
    # Not a metadata file at all, or an empty one: the same.
    for junk in (b"", b"{\"not\": \"this\"}\n"):
        assert srv.stop() == 0
        open(path, "wb").write(junk)
        srv, base, _ = server_factory(data=data_dir, port=port)
        assert data(base) == {}
        assert "metric metadata not read" in srv.log()


def agent_families(abase):
    """{name: (type, help)} of the families the agent serves, types as /api/v1/metadata
    names them."""
    out, helps = {}, {}
    text = http_get(abase + "/metrics")[2]
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, h = line[7:].partition(" ")
            helps[name] = h.replace("\\n", "\n").replace("\\\\", "\\")
        elif line.startswith("# TYPE "):
            name, _, t = line[7:].partition(" ")
            out[name] = ("unknown" if t == "untyped" else t, helps.get(name, ""))
    return out


def shipped_names(base):
    status, _, body = http_request(base + "/api/v1/label/__name__/values")
    return set(json.loads(body)["data"])


def wait_for(cond, timeout, what, procs=()):
    deadline = time.monotonic() + timeout
    while not cond():
        for p in procs:
            assert p.p.poll() is None, p.log()
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def start_agent(server_base, *extra):
    port = free_port()
    agent = Proc(["agent", "--listen", f"127.0.0.1:{port}", "--interval", "1s",
                  "--server", server_base, "--spool-dir", "none", "--node-name", "md-node",
                  *extra])
    abase = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(abase), 20, "the agent", [agent])
    return agent, abase


def _answers(base):
    try:
        return http_get(base + "/healthz", timeout=2)[0] == 200
    except OSError:
        return False


def test_agent_ships_its_families_metadata(server_factory):
    _, base, _ = server_factory()
    agent, abase = start_agent(base, "--metadata-interval", "1s")
    try:
        # Every family the agent ships (and only those) gets its TYPE and HELP as the
        # agent serves them; node-local figures are neither shipped nor described.
        def complete():
            md, names = data(base), shipped_names(base) - {"up"}
            return names and set(md) == names
        wait_for(complete, 60, "the metadata of every shipped family", [agent])
        fams, md = agent_families(abase), data(base)
        assert len(md) > 50
        for name, entries in md.items():
            assert entries == [entry(*fams[name])], name
        assert "kmon_node_uptime_seconds" in fams and "kmon_node_uptime_seconds" not in md
    finally:
        agent.close()


def test_agent_sends_metadata_once_per_interval(server_factory):
    _, base, _ = server_factory()
    agent, _ = start_agent(base, "--metadata-interval", "1h")
    try:
        # Many collections delivered, the metadata in the first one only.
        wait_for(lambda: value(scrape(base), "kmon_ingest_requests_total",
                               protocol="remote_write") >= 5, 60, "5 deliveries", [agent])
        m = scrape(base)
        sent = value(m, "kmon_ingest_metadata_received_total")
        assert sent > 50
        assert sent == sum(len(v) for v in data(base).values())
    finally:
        agent.close()
    _, base, _ = server_factory()
    agent, _ = start_agent(base, "--metadata-interval", "0")
    try:
        wait_for(lambda: value(scrape(base), "kmon_ingest_requests_total",
                               protocol="remote_write") >= 3, 60, "3 deliveries", [agent])
        assert value(scrape(base), "kmon_ingest_metadata_received_total") == 0
        assert data(base) == {}
    finally:
        agent.close()


@pytest.mark.skipif(PROMETHEUS is None,
                    reason="Debian's prometheus is not installed (scripts/install-deps.sh test)")
def test_prometheus_sends_what_it_answers(server_factory, tmp_path):
    """A Prometheus scraping the kmon agent remote-writes its targets' metadata to kmon:
    kmon's /api/v1/metadata must become what that Prometheus answers itself."""
    _, base, _ = server_factory()
    agent = None
    port = free_port()
    agent = Proc(["agent", "--listen", f"127.0.0.1:{port}", "--interval", "1s"])
    prom = None
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}"), 20, "the agent", [agent])
        prom_port = free_port()
        cfg = tmp_path / "prometheus.yml"
        cfg.write_text(f"""
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: kmon-agent
    static_configs:
      - targets: ["127.0.0.1:{port}"]
remote_write:
  - url: {base}/api/v1/write
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 100ms
      max_backoff: 1s
    metadata_config:
      send: true
      send_interval: 1s
""")
        prom = harness.Server([PROMETHEUS, f"--config.file={cfg}",
                               f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                               f"--web.listen-address=127.0.0.1:{prom_port}",
                               "--log.level=warn"], str(tmp_path))
        pbase = f"http://127.0.0.1:{prom_port}"

        def prom_data(**params):
            status, body = harness.request(pbase, "/api/v1/metadata", list(params.items()))
            doc = json.loads(body)
            assert status == 200 and set(doc) == {"status", "data"}, doc
            return doc["data"]

        def same():
            try:
                ref = prom_data()
            except (OSError, ValueError):
                return False
            return len(ref) > 50 and as_sets(ref) == as_sets(data(base))
        wait_for(same, 90, "kmon's metadata to be Prometheus'", [agent])
        ref = prom_data()
        assert as_sets(prom_data(metric="node_load1")) == \
            as_sets(data(base, metric="node_load1")) != {}
        assert prom_data(limit=0) == data(base, limit=0) == {}
        assert len(prom_data(limit=5)) == len(data(base, limit=5)) == 5
        assert as_sets(prom_data(limit=-1)) == as_sets(data(base, limit=-1)) == as_sets(ref)
        assert prom_data(metric="nothing") == data(base, metric="nothing") == {}
        for bad in ("abc", "1.5"):
            assert harness.request(pbase, "/api/v1/metadata", [("limit", bad)]) == \
                harness.request(base, "/api/v1/metadata", [("limit", bad)])
    finally:
        if prom:
            prom.stop()
        agent.close()
