"""The pods collector over complete kubelet node trees (tests/fixtures/nodes/: cgroup v2
with the systemd driver and containerd, v1 with cgroupfs and Docker, v2 with CRI-O and
its conmon scopes, a hybrid v1 host), read through --host-sys/--host-proc/--host-root as
from a container. Every series of expected.json (computed from the files by
check_expected.py, independently of the agent) must be reported with its value, and
nothing else for those pods: no sandbox, no conmon, no network for host-network pods.
Every pod and container series carries the agent's node name as `node`, once (the
trees hold no node name: the test gives --node-name)."""
import json
import os
import time

import pytest

from conftest import FIXTURES, parse_exposition, run, scrape, value

NODES = os.path.join(FIXTURES, "nodes")
LAYOUTS = sorted(d for d in os.listdir(NODES) if os.path.isfile(os.path.join(NODES, d,
                                                                           "expected.json")))
IDENTITY = ("namespace", "pod", "container", "pod_uid", "node", "device", "interface")
NODE = "node-a1"


def collect(tree):
    r = run("agent", "--once", "--interval", "100ms", "--format", "prom", "--no-kubernetes",
            "--node-name", NODE, "--host-sys", os.path.join(tree, "sys"), "--host-proc", os.path.join(tree, "proc"),
            "--host-root", tree, "--disable-collectors", "filesystem")
    assert r.returncode == 0, r.stderr
    samples, _, _ = parse_exposition(r.stdout)
    return samples, r.stderr


def key(name, labels):
    return name, tuple(sorted((k, v) for k, v in labels.items() if k in IDENTITY))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_node_tree_matches_expected(layout):
    tree = os.path.join(NODES, layout)
    with open(os.path.join(tree, "expected.json")) as f:
        want = json.load(f)
    samples, stderr = collect(tree)
    got = {}
    for (name, labels), v in samples.items():
        if name.startswith(("container_", "kmon_container_")) and "container_start" not in name:
            got[key(name, dict(labels))] = v
    expected = {key(s["name"], dict(s["labels"], node=NODE)): s["value"] for s in want["series"]}
    missing = sorted(set(expected) - set(got))
    assert not missing, f"{len(missing)} series missing, e.g. {missing[:5]}"
    wrong = [(k, expected[k], got[k]) for k in expected
             if abs(got[k] - expected[k]) > 1e-9 * max(1.0, abs(expected[k]))]
    assert not wrong, f"{len(wrong)} wrong values, e.g. {wrong[:5]}"
    extra = sorted(set(got) - set(expected))
    assert not extra, f"{len(extra)} unexpected series, e.g. {extra[:5]}"
    # The sandboxes and conmon scopes have no container of their own.
    containers = {dict(k[1]).get("container") for k in got}
    assert containers == {""} | {c["container"] for c in want["containers"]}
    for p in want["host_network_pods"]:
        hostnet = [v for (n, l), v in samples.items() if n == "kmon_pod_host_network"
                   and dict(l)["pod"] == p["pod"]]
        assert hostnet == [1.0], (p, hostnet)
    pods = {c["pod_uid"] for c in want["containers"]}
    assert [v for (n, _), v in samples.items() if n == "kmon_agent_pods"] == [float(len(pods))]
    assert [v for (n, _), v in samples.items() if n == "kmon_agent_pods_unnamed"] == [0.0]


def test_fixture_trees_agree_with_their_rules():
    """The trees and their expected.json are consistent (check_expected.py recomputes
    every value from the files with the rules in the README)."""
    import subprocess
    import sys
    r = subprocess.run([sys.executable, os.path.join(NODES, "check_expected.py")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_node_without_swap_reports_zero_swap_without_reading(tmp_path):
    """With SwapTotal 0 in the host's meminfo no cgroup can use swap: the agent reports 0
    without reading memory.swap.current (one file fewer per cgroup), everything else as
    before."""
    import shutil
    tree = tmp_path / "node"
    shutil.copytree(os.path.join(NODES, "systemd-v2-containerd"), tree, symlinks=True)
    (tree / "proc" / "meminfo").write_text("MemTotal:       16384000 kB\nSwapTotal:"
                                           "             0 kB\nSwapFree:              0 kB\n")
    with open(tree / "expected.json") as f:
        want = json.load(f)
    samples, _ = collect(str(tree))
    for s in want["series"]:
        got = samples[(s["name"], tuple(sorted(s["labels"].items())))] \
            if (s["name"], tuple(sorted(s["labels"].items()))) in samples else None
        if got is None:
            got = next(v for (n, l), v in samples.items()
                       if key(n, dict(l)) == key(s["name"], dict(s["labels"], node=NODE)))
        assert got == (0 if s["name"] == "container_memory_swap" else s["value"]), s


def _no_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), f"duplicate keys {keys}"
    return dict(pairs)


def _pod_series_nodes(series):
    """The node values of the pod and container series among (name, labels) pairs."""
    return {l.get("node") for n, l in series
            if n.startswith(("container_", "kmon_container_", "kmon_pod_"))}


def test_pod_series_carry_node_once_everywhere(agent_factory, server_factory, tmp_path):
    """`node` is on every pod and container series at the source: --once json and prom,
    the agent's /metrics, and what it ships (where it is not added a second time — the
    server refuses a duplicate label name); node series keep getting it from shipping
    only, as before."""
    tree = os.path.join(NODES, "systemd-v2-containerd")
    host = ["--no-kubernetes", "--node-name", NODE, "--host-sys", os.path.join(tree, "sys"),
            "--host-proc", os.path.join(tree, "proc"), "--host-root", tree,
            "--disable-collectors", "filesystem"]
    r = run("agent", "--once", "--interval", "100ms", "--format", "json", *host)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout, object_pairs_hook=_no_duplicate_keys)
    once = [(f["name"], s["labels"]) for f in doc["metrics"] for s in f["samples"]]
    assert _pod_series_nodes(once) == {NODE}
    assert all("node" not in l for n, l in once if n == "node_uname_info")

    _, base, data = server_factory()
    agent, abase = agent_factory(*host, "--server", base, "--cluster", "ci", "--spool-dir",
                                 str(tmp_path / "spool"))
    scraped = [(n, dict(l)) for n, l in scrape(abase)]
    assert _pod_series_nodes(scraped) == {NODE}
    assert all("node" not in l for n, l in scraped if n == "node_uname_info")

    deadline = time.monotonic() + 30
    while value(scrape(abase), "kmon_agent_ship_requests_total", result="delivered") < 1:
        assert time.monotonic() < deadline, agent.log()
        time.sleep(0.2)
    assert value(scrape(abase), "kmon_agent_ship_requests_total", result="rejected") == 0, \
        agent.log()
    for metric in ("container_cpu_usage_seconds_total", "node_uname_info"):
        out = run("tsdb", "dump", "--format", "json", "--log-level", "error", "--metric",
                  metric, data)
        assert out.returncode == 0, out.stderr
        stored = [json.loads(line)["labels"] for line in out.stdout.splitlines()]
        assert stored and all(l["node"] == NODE and l["cluster"] == "ci" for l in stored), \
            stored[:3]
