"""The node agent against the real /proc and /sys of the test machine, over HTTP."""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import KMON, SANITIZED, http_get, meminfo, parse_exposition, run, value, Proc, free_port


def scrape(base):
    status, headers, body = http_get(base + "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse_exposition(body)


def test_memtotal_matches_proc_meminfo(agent_factory):
    _, base = agent_factory()
    samples, types, helps = scrape(base)
    mem = meminfo()
    assert value(samples, "node_memory_MemTotal_bytes") == mem["MemTotal"]
    assert value(samples, "node_memory_SwapTotal_bytes") == mem["SwapTotal"]
    assert value(samples, "node_memory_HugePages_Total") == mem["HugePages_Total"]
    assert types["node_memory_MemTotal_bytes"] == "gauge"
    assert "node_memory_MemTotal_bytes" in helps
    with open("/proc/stat") as f:
        btime = next(int(l.split()[1]) for l in f if l.startswith("btime"))
    assert value(samples, "node_boot_time_seconds") == btime
    with open("/proc/sys/fs/file-nr") as f:
        assert value(samples, "node_filefd_maximum") == int(f.read().split()[2])


def test_counters_are_monotonic(agent_factory):
    _, base = agent_factory()
    first, types, _ = scrape(base)
    time.sleep(2.2)  # two collections later
    second, _, _ = scrape(base)
    counters = [k for k in first if types.get(k[0]) == "counter"]
    assert len(counters) > 50
    for k in counters:
        assert k in second, k
        assert second[k] >= first[k], f"{k} went from {first[k]} to {second[k]}"
    # The CPU counters really advance.
    assert sum(second[k] - first[k] for k in counters if k[0] == "node_cpu_seconds_total") > 1.5


def test_every_series_is_unique_and_named(agent_factory):
    _, base = agent_factory()
    samples, types, _ = scrape(base)
    for (name, _), _v in samples.items():
        assert name in types, f"{name} has no TYPE"
    devices = [dict(l)["device"] for (n, l) in samples if n == "node_disk_read_bytes_total"]
    assert all(not d.startswith(("loop", "ram")) for d in devices), devices
    mounts = {dict(l)["mountpoint"] for (n, l) in samples if n == "node_filesystem_size_bytes"}
    with open("/proc/self/mountinfo") as f:
        root_fstype = [l.split(" - ")[1].split()[0] for l in f if l.split()[4] == "/"][-1]
    if root_fstype not in ("overlay", "squashfs"):  # excluded by default, as node-exporter does
        assert "/" in mounts, (root_fstype, mounts)
    assert not any(m.startswith(("/proc", "/sys", "/dev/")) for m in mounts), mounts
    # The agent's own health is there for every collector.
    collectors = {dict(l)["collector"] for (n, l) in samples
                  if n == "kmon_agent_collect_duration_seconds"}
    assert {"stat", "meminfo", "diskstats", "netdev", "filesystem", "loadavg"} <= collectors
    assert value(samples, "process_resident_memory_bytes") > 0
    assert value(samples, "process_open_fds") >= 3


def test_busy_child_raises_cpu_millicores(agent_factory):
    """A busy process pinned to one CPU pushes cpu_millicores above 800."""
    _, base = agent_factory()
    busy = subprocess.Popen(["taskset", "-c", "0", "sh", "-c", "while :; do :; done"])
    try:
        deadline = time.monotonic() + 20
        best = 0.0
        while time.monotonic() < deadline:
            time.sleep(1.1)
            samples, _, _ = scrape(base)
            best = max(best, value(samples, "kmon_node_cpu_millicores"))
            if best > 800:
                break
        assert best > 800, f"cpu_millicores peaked at {best} with a busy child"
        snap = json.loads(http_get(base + "/snapshot")[2])
        assert snap["cpu_millicores"] > 800
    finally:
        busy.kill()
        busy.wait()


def test_sigterm_stops_cleanly(agent_factory):
    proc, base = agent_factory()
    scrape(base)
    t0 = time.monotonic()
    assert proc.stop(signal.SIGTERM) == 0
    assert time.monotonic() - t0 < 10
    assert "shutting down" in proc.log()
    proc2, base2 = agent_factory()
    assert proc2.stop(signal.SIGINT) == 0


def test_port_in_use_is_a_clear_error(agent_factory):
    _, base = agent_factory()
    port = base.rsplit(":", 1)[1]
    r = run("agent", "--listen", f"127.0.0.1:{port}", timeout=30)
    assert r.returncode != 0
    assert "cannot listen on 127.0.0.1:" in r.stderr and "in use" in r.stderr


def test_http_errors_are_json(agent_factory):
    import urllib.error
    _, base = agent_factory()
    try:
        http_get(base + "/nope")
        raise AssertionError("expected 404")
    except urllib.error.HTTPError as e:
        assert e.code == 404
        assert "error" in json.loads(e.read())
    req = __import__("urllib.request").request.Request(base + "/metrics", data=b"x", method="POST")
    try:
        __import__("urllib.request").request.urlopen(req, timeout=5)
        raise AssertionError("expected 405")
    except urllib.error.HTTPError as e:
        assert e.code == 405 and e.headers["Allow"] == "GET"


def test_disable_collectors(agent_factory):
    _, base = agent_factory("--disable-collectors", "filesystem,netclass")
    samples, types, _ = scrape(base)
    assert not any(n.startswith("node_filesystem_") for n, _ in samples)
    assert "node_network_up" not in types
    assert value(samples, "kmon_agent_collector_enabled", collector="filesystem") == 0
    assert value(samples, "kmon_agent_collector_enabled", collector="stat") == 1


@pytest.mark.skipif(SANITIZED, reason="RSS is not meaningful under AddressSanitizer")
def test_agent_stays_small(agent_factory):
    """Not a benchmark: a guard against a leak or a runaway buffer (bench/ measures)."""
    proc, base = agent_factory(interval="200ms")
    for _ in range(30):
        scrape(base)
        time.sleep(0.05)
    with open(f"/proc/{proc.p.pid}/status") as f:
        rss_kb = next(int(l.split()[1]) for l in f if l.startswith("VmRSS"))
    first = rss_kb
    for _ in range(50):
        scrape(base)
        time.sleep(0.02)
    with open(f"/proc/{proc.p.pid}/status") as f:
        rss_kb = next(int(l.split()[1]) for l in f if l.startswith("VmRSS"))
    assert rss_kb < 16 * 1024, f"agent RSS {rss_kb} KiB"
    assert rss_kb - first < 1024, f"agent RSS grew from {first} to {rss_kb} KiB over 50 scrapes"
