"""The agent pointed at captured /proc trees (--host-proc), as it is in a container that
mounts the host's /proc at /host/proc: values come from those files, and files the tree
lacks are counted and logged once, never fatal."""
import json
import os
import re

from conftest import FIXTURES, parse_exposition, run, value

VM = os.path.join(FIXTURES, "proc", "debian12-vm")
OLD = os.path.join(FIXTURES, "proc", "kernel-2.6.9")


def meminfo_of(path):
    out = {}
    with open(os.path.join(path, "meminfo")) as f:
        for line in f:
            k, _, rest = line.partition(":")
            parts = rest.split()
            out[k] = int(parts[0]) * (1024 if len(parts) > 1 else 1)
    return out


def once(*args, tmp_path):
    sysdir = tmp_path / "sys"
    sysdir.mkdir(exist_ok=True)
    return run("agent", "--once", "--interval", "100ms", "--host-sys", str(sysdir),
               "--host-root", str(tmp_path), *args)


def test_values_come_from_the_host_proc_tree(tmp_path):
    r = once("--host-proc", VM, "--format", "prom", "--disable-collectors", "filesystem",
             tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    samples, _, _ = parse_exposition(r.stdout)
    mem = meminfo_of(VM)
    assert value(samples, "node_memory_MemTotal_bytes") == mem["MemTotal"]
    assert value(samples, "kmon_node_memory_bytes") == mem["MemTotal"] - mem["MemAvailable"]
    with open(os.path.join(VM, "stat")) as f:
        cpu0 = next(l.split() for l in f if l.startswith("cpu0 "))
    hz = os.sysconf("SC_CLK_TCK")
    assert value(samples, "node_cpu_seconds_total", cpu="0", mode="idle") == int(cpu0[4]) / hz
    with open(os.path.join(VM, "loadavg")) as f:
        assert value(samples, "node_load1") == float(f.read().split()[0])
    with open(os.path.join(VM, "net", "dev")) as f:
        eth0 = next(l for l in f if l.strip().startswith("eth0:")).split(":")[1].split()
    assert value(samples, "node_network_receive_bytes_total", device="eth0") == int(eth0[0])
    with open(os.path.join(VM, "diskstats")) as f:
        vda = next(l.split() for l in f if l.split()[2] == "vda")
    assert value(samples, "node_disk_read_bytes_total", device="vda") == int(vda[5]) * 512
    # Two identical readings: no CPU time passed, so there is no cpu_millicores to show.
    assert not any(n == "kmon_node_cpu_millicores" for n, _ in samples)


def test_json_from_a_fixture_tree(tmp_path):
    r = once("--host-proc", VM, "--format", "json", "--disable-collectors", "filesystem",
             tmp_path=tmp_path)
    d = json.loads(r.stdout)
    mem = meminfo_of(VM)
    assert d["memory_bytes"] == mem["MemTotal"] - mem["MemAvailable"]
    assert d["cpu_millicores"] is None  # the two readings are the same file
    assert d["disk_io"]["read_bytes"] == 0 and d["network_io"]["bytes_recv"] == 0


def test_missing_files_are_counted_and_logged_once(tmp_path):
    """kernel-2.6.9 has only /proc/stat: every other source is missing."""
    r = once("--host-proc", OLD, "--format", "prom", "--log-level", "debug",
             tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    samples, _, _ = parse_exposition(r.stdout)
    # What exists is read (7 columns: no steal, no guest).
    modes = {dict(l)["mode"] for n, l in samples if n == "node_cpu_seconds_total"}
    assert modes == {"user", "nice", "system", "idle", "iowait", "irq", "softirq"}
    assert not any(n == "node_cpu_guest_seconds_total" for n, _ in samples)
    # What is missing is counted, per collector, for both collections.
    for c in ("meminfo", "loadavg", "diskstats", "netdev", "filefd", "pressure"):
        assert value(samples, "kmon_agent_collect_errors_total", collector=c) >= 2, c
    assert value(samples, "kmon_agent_collect_errors_total", collector="stat") == 0
    # ... and logged once each at debug level, although it happened twice.
    lines = [l for l in r.stderr.splitlines() if "collector meminfo:" in l]
    assert len(lines) == 1, r.stderr
    assert re.search(r"opening .*/meminfo: No such file or directory", lines[0])


def test_malformed_lines_are_skipped(tmp_path):
    tree = tmp_path / "proc"
    (tree / "net").mkdir(parents=True)
    with open(os.path.join(VM, "meminfo")) as f:
        good = f.read()
    (tree / "meminfo").write_text("garbage line without colon\n" + good + "Broken: x kB\n")
    with open(os.path.join(VM, "stat")) as f:
        (tree / "stat").write_text(f.read() + "cpu9\nctxt notanumber\n")
    r = once("--host-proc", str(tree), "--format", "prom", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    samples, _, _ = parse_exposition(r.stdout)
    assert value(samples, "node_memory_MemTotal_bytes") == meminfo_of(VM)["MemTotal"]
    assert value(samples, "kmon_agent_collect_errors_total", collector="meminfo") == 4
    assert value(samples, "kmon_agent_collect_errors_total", collector="stat") == 4
    # The good ctxt line before the broken one still counts.
    with open(os.path.join(VM, "stat")) as f:
        ctxt = next(int(l.split()[1]) for l in f if l.startswith("ctxt "))
    assert value(samples, "node_context_switches_total") == ctxt
