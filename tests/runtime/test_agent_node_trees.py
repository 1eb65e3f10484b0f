"""The pods collector over complete kubelet node trees (tests/fixtures/nodes/: cgroup v2
with the systemd driver and containerd, v1 with cgroupfs and Docker, v2 with CRI-O and
its conmon scopes, a hybrid v1 host), read through --host-sys/--host-proc/--host-root as
from a container. Every series of expected.json (computed from the files by
check_expected.py, independently of the agent) must be reported with its value, and
nothing else for those pods: no sandbox, no conmon, no network for host-network pods."""
import json
import os

import pytest

from conftest import FIXTURES, parse_exposition, run

NODES = os.path.join(FIXTURES, "nodes")
LAYOUTS = sorted(d for d in os.listdir(NODES) if os.path.isfile(os.path.join(NODES, d,
                                                                           "expected.json")))
IDENTITY = ("namespace", "pod", "container", "pod_uid", "device", "interface")


def collect(tree):
    r = run("agent", "--once", "--interval", "100ms", "--format", "prom", "--no-kubernetes",
            "--host-sys", os.path.join(tree, "sys"), "--host-proc", os.path.join(tree, "proc"),
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
    expected = {key(s["name"], s["labels"]): s["value"] for s in want["series"]}
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
                       if key(n, dict(l)) == key(s["name"], s["labels"]))
        assert got == (0 if s["name"] == "container_memory_swap" else s["value"]), s
