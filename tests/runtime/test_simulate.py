"""kmon simulate: its series have a real agent's names and label names (node_* from this
host's agent, container_* from a real kubepods cgroup tree when run as root) and the
cluster-state collector's families (src/kstate/kind_*.c); the same seed gives the same
series; and a few rounds pushed to a real server arrive with the agent's names and the
identity labels (cluster, node)."""
import json
import os
import re
import sys
import urllib.parse

import pytest

from conftest import http_get, parse_exposition, run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def shapes(text):
    """{family: set of label-name tuples} of an exposition."""
    samples, _, _ = parse_exposition(text)
    out = {}
    for name, labels in samples:
        out.setdefault(name, set()).add(tuple(sorted(k for k, _ in labels)))
    return out


def sim_print(*extra):
    r = run("simulate", "--nodes", "3", "--pods-per-node", "4", "--print-node", "0", *extra)
    assert r.returncode == 0, r.stderr
    return r.stdout


# Families the simulated node has whose presence depends on the hardware (a link speed
# is not reported by every interface).
HARDWARE = {"node_network_speed_bytes"}


def test_node_series_match_this_hosts_agent():
    r = run("agent", "--once", "--format", "prom", "--node-name", "sim-node-00000",
            "--disable-collectors", "pods")
    assert r.returncode == 0, r.stderr
    agent = {n: s for n, s in shapes(r.stdout).items() if n.startswith("node_")}
    sim = {n: s for n, s in shapes(sim_print()).items() if n.startswith("node_")}
    assert agent, "the agent reported no node_* family"
    missing = set(agent) - set(sim)
    assert not missing, f"the agent has families the simulator lacks: {sorted(missing)}"
    extra = set(sim) - set(agent) - HARDWARE
    assert not extra, f"the simulator has families the agent does not: {sorted(extra)}"
    for name in agent:
        assert sim[name] == agent[name], (name, sim[name], agent[name])


def test_pod_series_match_a_real_pod():
    if os.geteuid() != 0:
        pytest.skip("creating cgroups needs root")
    sys.path.insert(0, os.path.dirname(__file__))
    import shutil
    import time

    from test_agent_pods import KubePods  # the agent's own pod fixture

    tmp = __import__("tempfile").mkdtemp()
    try:
        import pathlib
        pause = pathlib.Path(tmp) / "bin" / "pause"
        pause.parent.mkdir()
        shutil.copy("/bin/sleep", pause)
        k = KubePods(pathlib.Path(tmp), ["app"])
        try:
            k.add("POD", [str(pause), "600"])
            k.add("app", ["/bin/sleep", "600"])
            time.sleep(0.5)
            r = run("agent", "--once", "--format", "prom", "--host-root", str(k.root),
                    "--node-name", "sim-node-00000", "--no-kubernetes",
                    "--disable-collectors", "filesystem")
            assert r.returncode == 0, r.stderr
        finally:
            k.remove()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    agent = {n: s for n, s in shapes(r.stdout).items()
             if n.startswith(("container_", "kmon_container_", "kmon_pod_"))}
    sim = shapes(sim_print())
    assert "container_cpu_usage_seconds_total" in agent, r.stdout[:2000]
    # A node with swap (this one, perhaps) reports container_memory_swap; the simulated
    # nodes have none, as the kubelet wants by default.
    agent.pop("container_memory_swap", None)
    for name, labels in agent.items():
        assert name in sim, f"the agent reports {name}, the simulator does not"
        # The simulated pods are named by the API: qos_class and the workload on top.
        want = {tuple(sorted(set(l) | {"qos_class", "workload", "workload_kind"}))
                for l in labels}
        assert sim[name] == want, (name, sim[name], want)


def kstate_families():
    names = set()
    for f in os.listdir(os.path.join(ROOT, "src/kstate")):
        if f.startswith("kind_") and f.endswith(".c"):
            names |= set(re.findall(r'"(kube_[a-z0-9_]+)"',
                                    open(os.path.join(ROOT, "src/kstate", f)).read()))
    return names


def test_state_series_are_the_collectors_families():
    sim = {n for n in shapes(sim_print()) if n.startswith("kube_")}
    known = kstate_families()
    assert sim <= known, sorted(sim - known)
    for want in ["kube_pod_info", "kube_pod_status_phase", "kube_pod_container_status_restarts_total",
                 "kube_pod_container_resource_requests", "kube_node_info",
                 "kube_node_status_condition", "kube_deployment_status_replicas_available",
                 "kube_replicaset_owner", "kube_namespace_status_phase", "kube_pod_owner"]:
        assert want in sim, want


def test_same_seed_same_series_other_seed_other_series():
    a, b = sim_print("--seed", "7"), sim_print("--seed", "7")
    c = sim_print("--seed", "8")
    strip = lambda t: [l for l in t.splitlines() if not l.startswith(("node_time_seconds",))]
    assert strip(a) == strip(b)
    assert set(shapes(a)) == set(shapes(c))
    assert strip(a) != strip(c)


def query(base, q):
    s, _, body = http_get(base + "/api/v1/query?query=" + urllib.parse.quote(q))
    assert s == 200, body
    return json.loads(body)["data"]["result"]


def test_rounds_arrive_at_a_server(server_factory):
    _, base, _ = server_factory()
    r = run("simulate", "--url", base + "/api/v1/write", "--nodes", "5", "--pods-per-node", "6",
            "--as-fast-as-possible", "--rounds", "3", "--interval", "15s", "--connections", "2",
            "--cluster", "simc")
    assert r.returncode == 0, r.stderr
    summary = dict(l.split(" ", 1) for l in r.stdout.splitlines())
    assert int(summary["rounds"]) == 3
    assert int(summary["dropped_samples"]) == 0
    assert int(summary["samples"]) == 3 * int(summary["series_last_round"])
    nodes = query(base, 'count by (node) (node_cpu_seconds_total{cluster="simc",mode="idle"})')
    assert sorted(x["metric"]["node"] for x in nodes) == [f"sim-node-{i:05d}" for i in range(5)]
    pods = query(base, 'count(count by (pod) (container_cpu_usage_seconds_total{container=""}))')
    assert pods[0]["value"][1] == "30"
    info = query(base, "count(kube_pod_info)")
    assert info[0]["value"][1] == "30"
    c = query(base, 'container_memory_working_set_bytes{container="app"}')[0]["metric"]
    assert {"cluster", "node", "namespace", "pod", "pod_uid", "container", "workload",
            "workload_kind", "qos_class"} <= set(c)
    # Counters move forward between the rounds (15 s of simulated time apart).
    inc = query(base, "sum(increase(node_cpu_seconds_total[1m]))")
    assert float(inc[0]["value"][1]) > 0
    s, _, body = http_get(base + "/api/nodes")
    assert s == 200 and body.count("sim-node-") >= 5, body[:500]


def test_bad_flags_are_refused():
    r = run("simulate", "--nodes", "0")
    assert r.returncode == 2 and "nodes" in r.stderr
    r = run("simulate", "--as-fast-as-possible")
    assert r.returncode == 2 and "--rounds" in r.stderr
    r = run("simulate", "--rollouts-per-hour", "x", "--rounds", "1")
    assert r.returncode == 2 and "rollouts" in r.stderr
