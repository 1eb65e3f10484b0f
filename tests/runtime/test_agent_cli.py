"""`kmon` and `kmon agent` as a user meets them on the command line: help, version,
wrong flags, --once snapshots, configuration precedence."""
import json
import os
import re
import subprocess

import pytest

from conftest import KMON, FIXTURES, free_port, http_get, meminfo, parse_exposition, run, value, Proc, wait_http


def test_version_and_help():
    r = run("--version")
    assert r.returncode == 0 and re.match(r"kmon \d+\.\d+\.\d+ \(revision ", r.stdout)
    r = run("help")
    assert r.returncode == 0 and "agent" in r.stdout
    for args in (("agent", "--help"), ("help", "agent"), ("agent", "-h")):
        r = run(*args)
        assert r.returncode == 0, r.stderr
        for flag in ("--listen", "--interval", "--host-proc", "--host-sys", "--once", "--format",
                     "--node-name", "--config", "--log-level", "KMON_INTERVAL"):
            assert flag in r.stdout, flag


@pytest.mark.parametrize("args,sentence", [
    (("agent", "--bogus"), "unknown flag --bogus"),
    (("agent", "--interval", "soon"), "bad value for --interval"),
    (("agent", "--interval"), "needs a value"),
    (("agent", "--format", "xml"), "--format"),
    (("agent", "--listen", "nocolon", "--interval", "1s"), "listen address"),
    (("agent", "--host-proc", "/nonexistent"), "cannot read --host-proc"),
    (("agent", "--disable-collectors", "stat,bogus", "--once"), "no collector named \"bogus\""),
    (("agent", "--collector.diskstats.device-exclude", "(unclosed", "--once", "--interval", "100ms"),
     "--collector.diskstats.device-exclude: bad regular expression"),
    (("nosuchcommand",), "unknown command"),
    ((), "Usage"),
])
def test_wrong_input_exits_with_a_sentence(args, sentence):
    r = run(*args, timeout=30)
    assert r.returncode != 0
    assert sentence in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and "Sanitizer" not in r.stderr


def test_once_json_has_the_prototype_shape():
    r = run("agent", "--once", "--interval", "1s", "--format", "json", "--node-name", "node-a")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["node_name"] == "node-a"
    assert isinstance(d["cpu_millicores"], int) and 0 <= d["cpu_millicores"] <= os.cpu_count() * 1000
    mem = meminfo()
    assert abs(d["memory_bytes"] - (mem["MemTotal"] - mem["MemAvailable"])) < 256 * 2**20
    assert d["memory_total_bytes"] == mem["MemTotal"]
    for k in ("read_bytes", "write_bytes"):
        assert isinstance(d["disk_io"][k], int) and d["disk_io"][k] >= 0
    for k in ("bytes_recv", "bytes_sent"):
        assert isinstance(d["network_io"][k], int) and d["network_io"][k] >= 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", d["timestamp"]), d["timestamp"]
    assert 0.9 < d["interval_seconds"] < 3
    names = {f["name"] for f in d["metrics"]}
    for n in ("node_cpu_seconds_total", "node_memory_MemTotal_bytes", "node_load1",
              "node_network_receive_bytes_total", "node_disk_read_bytes_total",
              "node_filesystem_avail_bytes", "node_boot_time_seconds", "node_uname_info",
              "node_filefd_allocated", "kmon_agent_collect_errors_total",
              "process_resident_memory_bytes", "kmon_build_info"):
        assert n in names, n
    memtotal = next(f for f in d["metrics"] if f["name"] == "node_memory_MemTotal_bytes")
    assert memtotal["samples"][0]["value"] == mem["MemTotal"]
    assert memtotal["type"] == "gauge"


def test_once_prom_is_valid_exposition():
    r = run("agent", "--once", "--interval", "200ms", "--format", "prom")
    assert r.returncode == 0, r.stderr
    samples, types, _ = parse_exposition(r.stdout)
    assert types["node_cpu_seconds_total"] == "counter"
    modes = {dict(l)["mode"] for (n, l) in samples if n == "node_cpu_seconds_total"}
    assert {"user", "nice", "system", "idle", "iowait", "irq", "softirq"} <= modes
    cpus = {dict(l)["cpu"] for (n, l) in samples if n == "node_cpu_seconds_total"}
    assert len(cpus) == os.cpu_count()


def test_config_file_env_and_flags(tmp_path):
    """YAML < KMON_* < flag, end to end: the agent listens where the winner says."""
    p_yaml, p_env = free_port(), free_port()
    cfg = tmp_path / "kmon.yaml"
    cfg.write_text(f"agent:\n  listen: 127.0.0.1:{p_yaml}\n  interval: 1s\n"
                   "collector:\n  netdev:\n    device-exclude: '^lo$'\n")
    env = dict(os.environ, KMON_CONFIG=str(cfg))
    proc = Proc(["agent"], env=env)
    try:
        _, _, body = wait_http(f"http://127.0.0.1:{p_yaml}/metrics", proc)
        assert 'node_network_receive_bytes_total{device="lo"}' not in body
    finally:
        proc.stop()
        proc.close()
    env["KMON_AGENT_LISTEN"] = f"127.0.0.1:{p_env}"
    proc = Proc(["agent"], env=env)
    try:
        wait_http(f"http://127.0.0.1:{p_env}/healthz", proc)
    finally:
        proc.stop()
        proc.close()
    cfg.write_text("agent:\n  listen: 127.0.0.1:1\n  intervall: 1s\n")
    r = run("agent", "--config", str(cfg))
    assert r.returncode == 2 and "line 3: unknown setting \"intervall\"" in r.stderr


def test_node_name_from_downward_api_env():
    env = dict(os.environ, NODE_NAME="worker-17")
    r = run("agent", "--once", "--interval", "100ms", env=env)
    assert json.loads(r.stdout)["node_name"] == "worker-17"
    env["KMON_NODE_NAME"] = "override"
    r = run("agent", "--once", "--interval", "100ms", env=env)
    assert json.loads(r.stdout)["node_name"] == "override"
    r = run("agent", "--once", "--interval", "100ms", "--node-name", "flag", env=env)
    assert json.loads(r.stdout)["node_name"] == "flag"
