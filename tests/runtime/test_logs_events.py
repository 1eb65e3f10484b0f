"""Kubernetes Events and workload labels end to end, through the server's log store and
its Loki API, against the Kubernetes API double (kubeapi.py serving events.k8s.io/v1
Events made by kubeobjects.make_event):

  (a) `kmon server --cluster-state`: the Events are found by
      {source="kubernetes-events", kind="Pod", name=...} and `| logfmt | reason=...`, each
      line and timestamp exactly what this test computes from the Event
      (test_kstate_events.expected); a new observation adds exactly one line; a restart,
      which writes every Event the API holds again, duplicates nothing;
  (b) `kmon agent --mode cluster --server URL`: the same through the push path
      (POST /loki/api/v1/push), the agent started while the server is down (its pushes
      retried until it is up) and restarted without duplicates;
  (c) `kmon agent` on a node: container log lines carry workload_kind and workload when
      the pod metadata from the API knows the pod, none for a bare pod, and a pod the API
      learns of late gets a new stream with them for its later lines (no line in both).

Event times are set near the clock (the store refuses lines older than its retention)."""
import datetime
import os
import time

import pytest

from conftest import (FIXTURES, SANITIZED, Proc, free_port, http_get, parse_exposition,
                      wait_http, wait_until)
from kubeapi import KubeAPI, make_pod, make_replicaset
from kubelet_logs import pod_dir
from kubeobjects import make_event, observe_event
from test_kstate_events import expected
from test_logs_api import lines_of, query_range

SLOW = 3 if SANITIZED else 1


def stopped_cleanly(proc):
    return proc.stop() == 0


SEL = '{{source="kubernetes-events", kind="Pod", name="{}"}}'
TREE = os.path.join(FIXTURES, "nodes", "systemd-v2-containerd")


def rfc3339(seconds_ago):
    t = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=seconds_ago)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def found(base, query):
    """Every (ts, line) the query finds, over all its streams, in time order."""
    status, a = query_range(base, query, direction="forward")
    assert status == 200, a
    return sorted(e for entries in lines_of(a).values() for e in entries)


def pod_events(base, name, reason=None):
    q = SEL.format(name) + (f' | logfmt | reason="{reason}"' if reason else "")
    return found(base, q)


def want(*evs, cluster="c1"):
    return sorted((ts, line) for _, ts, line in (expected(e, cluster) for e in evs))


def metric(base, name, labels=()):
    samples = parse_exposition(http_get(base + "/metrics")[2])[0]
    return sum(v for (n, l), v in samples.items() if n == name and set(labels) <= set(l))


def emitted(base):
    return metric(base, "kmon_kstate_events_total", [("outcome", "emitted")])


@pytest.fixture
def api(tmp_path):
    with KubeAPI(tmp_path / "api", bookmark_interval=1.0) as a:
        yield a


def add_events(api):
    sched = api.add(make_event(("Pod", "shop", "web-1"), "FailedScheduling",
                               "0/3 nodes are available: 3 Insufficient cpu.",
                               type_="Warning", action="Scheduling", count=3,
                               at=rfc3339(600), last=rfc3339(300)))
    pulled = api.add(make_event(("Pod", "shop", "web-1"), "Pulled",
                                'Successfully pulled image "nginx:1.25.3" in 1.2s',
                                legacy=True, at=rfc3339(250)))
    backoff = api.add(make_event(("Pod", "default", "api-1"), "BackOff",
                                 'Back-off restarting failed container app in pod "api-1"',
                                 type_="Warning", legacy=True, count=12, at=rfc3339(500),
                                 last=rfc3339(200), field_path="spec.containers{app}"))
    node = api.add(make_event(("Node", None, "node-1"), "NodeNotReady",
                              "Node node-1 status is now: NodeNotReady", legacy=True,
                              controller="node-controller", instance="", at=rfc3339(400)))
    return sched, pulled, backoff, node


def check_events(base, api, sched, pulled, backoff, proc, cluster="c1"):
    """The Events are found, exactly, by pod and by reason; a new observation of one
    adds exactly one line. Returns the new observation."""
    wait_until(lambda: pod_events(base, "web-1") == want(sched, pulled, cluster=cluster),
               20 * SLOW, "web-1's Events", proc)
    assert pod_events(base, "web-1", "FailedScheduling") == want(sched, cluster=cluster)
    assert pod_events(base, "api-1") == want(backoff, cluster=cluster)
    # The stream's labels, as the store keeps them.
    status, a = query_range(base, SEL.format("web-1") + ' |= "FailedScheduling"')
    labels, _, _ = expected(sched, cluster)
    assert [dict(k) for k in lines_of(a)] == [labels]
    again = api.update(observe_event(sched, rfc3339(60)))
    assert "count=4 " in expected(again, cluster)[2]
    wait_until(lambda: len(pod_events(base, "web-1", "FailedScheduling")) == 2, 20 * SLOW,
               "the new observation", proc)
    time.sleep(1.0)  # anything more would have come by now
    assert pod_events(base, "web-1", "FailedScheduling") == want(sched, again, cluster=cluster)
    assert pod_events(base, "web-1") == want(sched, pulled, again, cluster=cluster)
    return again


def test_server_cluster_state_events(server_factory, api, tmp_path):
    sched, pulled, backoff, node = add_events(api)
    kc = api.write_kubeconfig(tmp_path / "kubeconfig")
    args = ("--cluster-state", "--kubeconfig", str(kc), "--cluster", "c1",
            "--cluster-state-interval", "300ms", "--cluster-state-watch-timeout", "5s")
    data = tmp_path / "data"
    proc, base, _ = server_factory(*args, data=data)
    again = check_events(base, api, sched, pulled, backoff, proc)
    assert found(base, '{source="kubernetes-events", kind="Node"}') == want(node)
    # A restart writes every Event the API holds again: the store keeps one copy.
    assert stopped_cleanly(proc), proc.log()[-3000:]
    proc, base, _ = server_factory(*args, data=data)
    wait_until(lambda: emitted(base) >= 4, 20 * SLOW, "the Events written again", proc)
    assert pod_events(base, "web-1") == want(sched, pulled, again)
    assert pod_events(base, "api-1") == want(backoff)
    assert found(base, '{source="kubernetes-events"}') == want(sched, pulled, again,
                                                                  backoff, node)


def start_cluster_agent(kc, server, port, cluster="c1"):
    agent = Proc(["agent", "--mode", "cluster", "--listen", f"127.0.0.1:{port}",
                  "--interval", "300ms", "--kubeconfig", str(kc), "--cluster", cluster,
                  "--server", server, "--cluster-state-watch-timeout", "5s",
                  "--spool-dir", "none"])
    wait_http(f"http://127.0.0.1:{port}/healthz", agent)
    return agent


def test_agent_cluster_mode_pushes_events(server_factory, api, tmp_path):
    sched, pulled, backoff, node = add_events(api)
    kc = api.write_kubeconfig(tmp_path / "kubeconfig")
    sport, aport = free_port(), free_port()
    server = f"http://127.0.0.1:{sport}"
    abase = f"http://127.0.0.1:{aport}"
    agent = start_cluster_agent(kc, server, aport, cluster="east")
    try:
        # The server is not up yet: the pushes fail and are retried.
        wait_until(lambda: "cannot deliver Kubernetes Events" in agent.log(), 20 * SLOW,
                   "a failed push", agent)
        assert emitted(abase) == 0
        _, base, _ = server_factory(port=sport)
        again = check_events(base, api, sched, pulled, backoff, agent, cluster="east")
        assert found(base, '{source="kubernetes-events", kind="Node"}') == want(
            node, cluster="east")
        assert "delivering Kubernetes Events to" in agent.log()
        assert metric(abase, "kmon_kstate_events_total", [("outcome", "dropped")]) == 0
        assert stopped_cleanly(agent), agent.log()[-3000:]
        agent.close()
        agent = start_cluster_agent(kc, server, aport, cluster="east")
        wait_until(lambda: emitted(abase) >= 4, 20 * SLOW, "the Events pushed again", agent)
        assert pod_events(base, "web-1") == want(sched, pulled, again, cluster="east")
        assert found(base, '{source="kubernetes-events"}') == want(
            sched, pulled, again, backoff, node, cluster="east")
        assert stopped_cleanly(agent), agent.log()[-3000:]
    finally:
        agent.close()


# ---- workload labels on container log lines -------------------------------------------

class LogFile:
    """A container's 0.log in the CRI format, timestamps near the clock."""

    def __init__(self, root, ns, pod, uid, container="app"):
        self.path = os.path.join(pod_dir(root, ns, pod, uid, container), "0.log")

    def write(self, *lines):
        with open(self.path, "a") as f:
            for ln in lines:
                t = datetime.datetime.now(datetime.timezone.utc)
                f.write(t.strftime("%Y-%m-%dT%H:%M:%S.%fZ") + f" stdout F {ln}\n")


def test_agent_log_lines_carry_workload_labels(server_factory, api, tmp_path):
    root = str(tmp_path / "root")
    web = make_pod("web-7c9f8d6b5-h2kxq", "shop", "node-1", owner=("ReplicaSet", "web-7c9f8d6b5"))
    api.add(make_replicaset("web-7c9f8d6b5", "shop", "web"))
    db = make_pod("db-0", "shop", "node-1", owner=("StatefulSet", "db"))
    bare = make_pod("bare", "default", "node-1")
    late = make_pod("late-0", "shop", "node-1", owner=("StatefulSet", "late"))
    for p in (web, db, bare):
        api.add_pod(p)
    files = {p["metadata"]["name"]: LogFile(root, p["metadata"]["namespace"],
                                            p["metadata"]["name"], p["metadata"]["uid"])
             for p in (web, db, bare, late)}
    for name, f in files.items():
        f.write(*(f"{name} line {i}" for i in range(3)))
    _, base, _ = server_factory()
    kc = api.write_kubeconfig(tmp_path / "kubeconfig")
    port = free_port()
    agent = Proc(["agent", "--listen", f"127.0.0.1:{port}", "--interval", "1s",
                  "--server", base, "--node-name", "node-1", "--cluster", "ci",
                  "--spool-dir", "none", "--host-sys", os.path.join(TREE, "sys"),
                  "--host-proc", os.path.join(TREE, "proc"), "--host-root", root,
                  "--disable-collectors", "filesystem", "--kubeconfig", str(kc),
                  "--logs", "on", "--logs-state-dir", str(tmp_path / "state")])

    def streams(query):
        status, a = query_range(base, query, direction="forward")
        assert status == 200, a
        return {tuple(sorted((k, v) for k, v in dict(s).items()
                             if k in ("pod", "workload", "workload_kind"))): [l for _, l in e]
                for s, e in lines_of(a).items()}

    try:
        lines = [f"web-7c9f8d6b5-h2kxq line {i}" for i in range(3)]
        wait_until(lambda: streams('{namespace="shop", pod="web-7c9f8d6b5-h2kxq"}'),
                   30 * SLOW, "web's lines", agent)
        assert streams('{workload="web"}') == {
            (("pod", "web-7c9f8d6b5-h2kxq"), ("workload", "web"),
             ("workload_kind", "Deployment")): lines}
        wait_until(lambda: streams('{pod="db-0"}'), 30 * SLOW, "db's lines", agent)
        assert streams('{pod="db-0"}') == {
            (("pod", "db-0"), ("workload", "db"), ("workload_kind", "StatefulSet")):
                [f"db-0 line {i}" for i in range(3)]}
        wait_until(lambda: streams('{pod="bare"}'), 30 * SLOW, "bare's lines", agent)
        assert streams('{pod="bare"}') == {(("pod", "bare"),): [f"bare line {i}"
                                                                 for i in range(3)]}
        # late-0's pod is not known: its lines go without workload labels ...
        wait_until(lambda: streams('{pod="late-0"}'), 30 * SLOW, "late's lines", agent)
        assert streams('{pod="late-0"}') == {(("pod", "late-0"),): [f"late-0 line {i}"
                                                                     for i in range(3)]}
        # ... until the API knows it: its later lines are a new stream with them (the
        # watch, then the tailer's next lookup: a line every 200 ms meanwhile).
        api.add_pod(late)
        written = [f"late-0 line {i}" for i in range(3)]
        deadline = time.monotonic() + 30 * SLOW
        while not streams('{workload="late"}'):
            assert time.monotonic() < deadline, agent.log()[-3000:]
            written.append(f"late-0 line {len(written)}")
            files["late-0"].write(written[-1])
            time.sleep(0.2)
        wait_until(lambda: sum(map(len, streams('{pod="late-0"}').values())) == len(written),
                   30 * SLOW, "every late line", agent)
        got = streams('{pod="late-0"}')
        before, after = got.pop((("pod", "late-0"),)), got.pop(
            (("pod", "late-0"), ("workload", "late"), ("workload_kind", "StatefulSet")))
        assert got == {} and before + after == written and len(before) >= 3 and after
        # Labels do not change mid-stream: web's next lines stay in its stream.
        files["web-7c9f8d6b5-h2kxq"].write("web-7c9f8d6b5-h2kxq line 3")
        wait_until(lambda: len(streams('{workload="web"}').get(
            (("pod", "web-7c9f8d6b5-h2kxq"), ("workload", "web"),
             ("workload_kind", "Deployment")), [])) == 4, 30 * SLOW, "web's next line", agent)
        assert len(streams('{pod="web-7c9f8d6b5-h2kxq"}')) == 1
        assert stopped_cleanly(agent), agent.log()[-3000:]
    finally:
        agent.close()
