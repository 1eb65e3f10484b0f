"""Ingest from a real Prometheus (Debian's prometheus 2.42): it scrapes the kmon agent's
/metrics like any node-exporter and remote-writes to the kmon server; the same series
arrive, with the same values, and the prototype's API finds the node by its instance
address."""
import json
import subprocess
import time

import pytest

from conftest import (KMON, PROMETHEUS, SANITIZED, Prometheus, free_port, http_get, meminfo,
                      parse_exposition)


def stored(data_dir, *args):
    out = subprocess.run([KMON, "tsdb", "dump", "--format", "json", "--log-level", "error",
                          *args, data_dir], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


@pytest.mark.skipif(PROMETHEUS is None,
                    reason="Debian's prometheus is not installed (scripts/install-deps.sh test)")
def test_prometheus_remote_writes_the_agents_series(server_factory, agent_factory, tmp_path):
    srv, base, data = server_factory()
    agent, abase = agent_factory()
    agent_port = abase.rsplit(":", 1)[1]
    prom_port = free_port()
    (tmp_path / "prometheus.yml").write_text(f"""
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: kmon-agent
    static_configs:
      - targets: ["127.0.0.1:{agent_port}"]
remote_write:
  - url: {base}/api/v1/write
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 100ms
      max_backoff: 1s
""")
    prom = Prometheus([f"--config.file={tmp_path / 'prometheus.yml'}",
                       f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                       f"--web.listen-address=127.0.0.1:{prom_port}"])
    try:
        # The node, named by its instance address without the port.
        deadline = time.monotonic() + (90 if SANITIZED else 45)
        node = None
        while time.monotonic() < deadline and not node:
            assert prom.p.poll() is None, prom.log()
            nodes = json.loads(http_get(base + "/api/nodes")[2])["nodes"]
            node = next((n for n in nodes if n["node_name"] == "127.0.0.1"
                         and n["cpu_millicores"] is not None), None)
            time.sleep(0.5)
        assert node, f"no node from Prometheus' remote_write\n{prom.log()}\n{srv.log()}"
        assert node["memory_total_bytes"] == meminfo()["MemTotal"]

        # Every family the agent exposes arrives, labelled as Prometheus labels it.
        samples, _, _ = parse_exposition(http_get(abase + "/metrics")[2])
        families = {name for name, _ in samples}
        series = stored(data, "--label", "job=kmon-agent")
        names = {s["labels"]["__name__"] for s in series}
        missing = families - names
        assert not missing, f"not stored: {sorted(missing)[:20]}"
        assert {"up", "scrape_duration_seconds"} <= names
        for s in series:
            assert s["labels"]["instance"] == f"127.0.0.1:{agent_port}"
        # Values arrive as scraped: MemTotal does not change.
        mt = [s for s in series if s["labels"]["__name__"] == "node_memory_MemTotal_bytes"]
        assert len(mt) == 1
        assert {float(v) for _, v in mt[0]["samples"]} == {float(meminfo()["MemTotal"])}
        # A counter's stored samples never go down.
        ctx = [s for s in series if s["labels"]["__name__"] == "node_context_switches_total"]
        vals = [float(v) for _, v in ctx[0]["samples"]]
        assert vals == sorted(vals) and len(vals) >= 2
    finally:
        prom.close()
