"""The agent's Kubernetes metadata against the API test double (kubeapi.py: TLS, bearer
tokens, chunked watches, resourceVersions, 410 Gone, dropped connections), over a
complete node tree (tests/fixtures/nodes/systemd-v2-containerd) whose pod uids and
container ids the double's Pod objects carry. Checks: workloads resolved through
ReplicaSets and Jobs, labels from the allowlist, the list + watch protocol (field
selector, resourceVersion, bookmarks, relist on 410, resume after a dropped stream),
backoff without a busy loop, token rotation in-cluster, client certificates, the grace
period of deleted pods, and the fallback to the log layout when the API is unreachable."""
import collections
import datetime
import json
import os
import socket
import time

import pytest

from conftest import FIXTURES, Proc, free_port, http_get, parse_exposition
from kubeapi import KubeAPI, make_job, make_pod, make_replicaset

TREE = os.path.join(FIXTURES, "nodes", "systemd-v2-containerd")
NODE = "node-1"


def tree_pods():
    with open(os.path.join(TREE, "expected.json")) as f:
        exp = json.load(f)
    pods = collections.OrderedDict()
    for c in exp["containers"]:
        p = pods.setdefault(c["pod_uid"], dict(ns=c["namespace"], name=c["pod"], ctrs=[]))
        p["ctrs"].append((c["container"], "containerd://" + c["container_id"]))
    hostnet = {p["pod_uid"] for p in exp["host_network_pods"]}
    return pods, hostnet


def owner_of(name):
    """The controller a pod of this tree has on a real cluster, by its name."""
    parts = name.split("-")
    if name.startswith("kube-proxy-"):
        return ("DaemonSet", "kube-proxy")
    if name.endswith("-0"):
        return ("StatefulSet", name[:-2])
    if len(parts) >= 3 and parts[-2].isdigit():
        return ("Job", "-".join(parts[:-1]))
    if len(parts) >= 3:
        return ("ReplicaSet", "-".join(parts[:-1]))
    return None


def load(api, skip=()):
    pods, hostnet = tree_pods()
    for uid, p in pods.items():
        if p["name"] in skip:
            continue
        owner = owner_of(p["name"])
        if owner and owner[0] == "ReplicaSet":
            dep = owner[1].rsplit("-", 1)[0]
            if not api.get("ReplicaSet", p["ns"], owner[1]):
                api.add(make_replicaset(owner[1], p["ns"], dep))
        if owner and owner[0] == "Job":
            if not api.get("Job", p["ns"], owner[1]):
                api.add(make_job(owner[1], p["ns"], owner[1].rsplit("-", 1)[0]))
        api.add_pod(make_pod(p["name"], p["ns"], NODE, uid=uid, owner=owner,
                             labels={"app": p["name"].split("-")[0], "team": "core"},
                             containers=p["ctrs"], host_network=uid in hostnet))
    # A pod of another node: the field selector keeps it away.
    api.add_pod(make_pod("elsewhere", "shop", "node-2", containers=["app"]))
    return pods


def start_agent(tmp_path, *extra, env=None):
    port = free_port()
    proc = Proc(["agent", "--listen", f"127.0.0.1:{port}", "--interval", "300ms",
                 "--node-name", NODE, "--host-sys", os.path.join(TREE, "sys"),
                 "--host-proc", os.path.join(TREE, "proc"), "--host-root", TREE,
                 "--disable-collectors", "filesystem", "--pod-labels", "app", *extra],
                env=env)
    base = f"http://127.0.0.1:{port}"
    wait(lambda: _up(base), 20, "the agent", proc)
    return proc, base


def _up(base):
    try:
        return http_get(base + "/healthz", timeout=2)[0] == 200
    except OSError:
        return False


def wait(cond, timeout, what, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}\n{proc.log() if proc else ''}")


def scrape(base):
    return parse_exposition(http_get(base + "/metrics")[2])[0]


def pod_labels(samples, pod):
    """The labels of the pod total's CPU series of `pod`, or None."""
    for (n, l), _ in samples.items():
        d = dict(l)
        if n == "container_cpu_usage_seconds_total" and d.get("pod") == pod and \
                d.get("container") == "":
            return d
    return None


def gauge(samples, name):
    return next((v for (n, _), v in samples.items() if n == name), None)


def named_by_api(base, pod, kind):
    return (pod_labels(scrape(base), pod) or {}).get("workload_kind") == kind


@pytest.fixture
def api(tmp_path):
    with KubeAPI(tmp_path / "api") as a:
        yield a


def test_workloads_labels_and_protocol(api, tmp_path):
    load(api)
    kc = api.write_kubeconfig(tmp_path / "kubeconfig", decoy=True)
    agent, base = start_agent(tmp_path, "--kubeconfig", kc)
    try:
        wait(lambda: named_by_api(base, "report-28374650-q8xzv", "CronJob"), 15,
             "the API's names", agent)
        s = scrape(base)
        web = pod_labels(s, "web-7c9f8d6b5-h2kxq")
        assert (web["workload_kind"], web["workload"]) == ("Deployment", "web")
        assert web["label_app"] == "web" and "label_team" not in web
        assert web["qos_class"] == "Burstable"
        assert pod_labels(s, "coredns-5dd5756b68-7xq9z")["workload"] == "coredns"
        assert (pod_labels(s, "postgres-0")["workload_kind"],
                pod_labels(s, "postgres-0")["workload"]) == ("StatefulSet", "postgres")
        assert pod_labels(s, "kube-proxy-x7k2p")["workload_kind"] == "DaemonSet"
        assert pod_labels(s, "report-28374650-q8xzv")["workload"] == "report"
        # Container series carry the same identity.
        assert any(dict(l).get("container") == "nginx" and dict(l).get("workload") == "web"
                   for (n, l) in s if n == "container_memory_working_set_bytes")
        assert gauge(s, "kmon_agent_kubernetes_api_up") == 1
        assert gauge(s, "kmon_agent_kubernetes_pods") == 5
        # Start times are the API's (the pod's startTime, each container's startedAt).
        obj = api.get("Pod", "shop", "web-7c9f8d6b5-h2kxq")
        stamp = lambda t: datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
        starts = {dict(l)["container"]: v for (n, l), v in s.items()
                  if n == "container_start_time_seconds"
                  and dict(l).get("pod") == "web-7c9f8d6b5-h2kxq"}
        assert starts[""] == stamp(obj["status"]["startTime"])
        for cs in obj["status"]["containerStatuses"]:
            assert starts[cs["name"]] == stamp(cs["state"]["running"]["startedAt"])
        lists = api.requests("/api/v1/pods", watch=False)
        assert lists and all(r.query.get("fieldSelector") == f"spec.nodeName={NODE}"
                             for r in lists)
        assert all(r.token == api.token for r in api.requests())
        watches = api.requests("/api/v1/pods", watch=True)
        assert watches, "the agent watches after listing"
        w = watches[0].query
        assert w.get("allowWatchBookmarks") == "true" and w.get("resourceVersion") not in \
            (None, "", "0")
    finally:
        agent.close()


def test_watch_names_new_pods_and_keeps_deleted_ones(api, tmp_path):
    load(api, skip=("web-7c9f8d6b5-h2kxq",))
    kc = api.write_kubeconfig(tmp_path / "kubeconfig")
    agent, base = start_agent(tmp_path, "--kubeconfig", kc, "--pod-metadata-grace", "2s")
    try:
        wait(lambda: named_by_api(base, "postgres-0", "StatefulSet"), 15, "the list", agent)
        # Not in the API yet: named from the log layout, without a workload.
        web = pod_labels(scrape(base), "web-7c9f8d6b5-h2kxq")
        assert web and "workload" not in web
        pods, _ = tree_pods()
        uid = next(u for u, p in pods.items() if p["name"] == "web-7c9f8d6b5-h2kxq")
        api.add(make_replicaset("web-7c9f8d6b5", "shop", "web"))
        api.add_pod(make_pod("web-7c9f8d6b5-h2kxq", "shop", NODE, uid=uid,
                             owner=("ReplicaSet", "web-7c9f8d6b5"),
                             containers=pods[uid]["ctrs"]))
        wait(lambda: named_by_api(base, "web-7c9f8d6b5-h2kxq", "Deployment"), 10,
             "the ADDED event", agent)
        # Deleted: still named by the API during the grace period, then by the logs.
        api.delete_pod("shop", "postgres-0")
        time.sleep(0.8)
        assert named_by_api(base, "postgres-0", "StatefulSet")
        wait(lambda: (pod_labels(scrape(base), "postgres-0") or {}).get("workload") is None,
             15, "the grace period to end", agent)
        assert len(api.requests("/api/v1/pods", watch=False)) == 1, "no relist was needed"
    finally:
        agent.close()


def test_relist_on_410_and_resume_after_a_dropped_stream(api, tmp_path):
    load(api)
    kc = api.write_kubeconfig(tmp_path / "kubeconfig")
    agent, base = start_agent(tmp_path, "--kubeconfig", kc)
    try:
        wait(lambda: named_by_api(base, "postgres-0", "StatefulSet"), 15, "the list", agent)
        api.wait_watchers(1)
        # A dropped stream: the next watch resumes from the last version seen.
        api.modify_pod("shop", "postgres-0", lambda p: p["metadata"]["labels"].update(x="1"))
        rv = api.resource_version
        time.sleep(0.5)
        api.clear_log()
        api.drop_watches()
        r = api.wait_requests(1, pred=lambda r: r.watch, timeout=10)[0]
        assert r.query["resourceVersion"] == str(rv), (r.query, rv)
        assert not api.requests("/api/v1/pods", watch=False), "a dropped stream is no relist"
        # History compacted past the agent's version: 410 → relist.
        api.wait_watchers(1)
        api.bump_rv(5)
        api.compact()
        api.clear_log()
        api.drop_watches()
        api.wait_requests(1, pred=lambda r: not r.watch and r.path == "/api/v1/pods",
                          timeout=20)
        wait(lambda: gauge(scrape(base), "kmon_agent_kubernetes_relists_total") >= 1, 10,
             "the relist to be counted", agent)
        wait(lambda: gauge(scrape(base), "kmon_agent_kubernetes_api_up") == 1, 10, "up", agent)
    finally:
        agent.close()


def test_errors_back_off_without_a_busy_loop(api, tmp_path):
    load(api)
    api.fail_next(1000, code=500)
    kc = api.write_kubeconfig(tmp_path / "kubeconfig")
    agent, base = start_agent(tmp_path, "--kubeconfig", kc)
    try:
        time.sleep(5)
        n = len(api.requests())
        assert 2 <= n <= 6, f"{n} requests in 5 s of failures"
        s = scrape(base)
        assert gauge(s, "kmon_agent_kubernetes_api_up") == 0
        # Meanwhile pods are named from the log layout.
        assert pod_labels(s, "postgres-0") is not None
        assert agent.log().count("naming pods from the kubelet's log layout") == 1
        api.clear_faults()
        wait(lambda: named_by_api(base, "postgres-0", "StatefulSet"), 40,
             "recovery after the backoff", agent)
    finally:
        agent.close()


def test_in_cluster_with_token_rotation(api, tmp_path):
    load(api)
    sa = tmp_path / "sa"
    env = dict(os.environ, **api.write_incluster(sa))
    agent, base = start_agent(tmp_path, "--kubernetes-serviceaccount-dir", str(sa),
                              "--kubernetes-watch-timeout", "2s", env=env)
    try:
        wait(lambda: named_by_api(base, "postgres-0", "StatefulSet"), 15, "the list", agent)
        old = api.token
        api.rotate_token()
        api.clear_log()
        r = api.wait_requests(2, timeout=15)
        assert all(x.token == api.token != old and (x.status or 200) < 400 for x in r), \
            [(x.token == old, x.status) for x in r]
        # Up again once a watch with the new token has been answered (a request that read
        # the token file while it was being swapped may have been refused meanwhile).
        wait(lambda: gauge(scrape(base), "kmon_agent_kubernetes_api_up") == 1, 10, "up",
             agent)
    finally:
        agent.close()


def test_client_certificate_from_embedded_kubeconfig(api, tmp_path):
    load(api)
    kc = api.write_kubeconfig(tmp_path / "kubeconfig", auth="cert", embed=True)
    agent, base = start_agent(tmp_path, "--kubeconfig", kc)
    try:
        wait(lambda: named_by_api(base, "postgres-0", "StatefulSet"), 15, "the list", agent)
        assert all(r.client_cert for r in api.requests())
    finally:
        agent.close()


def test_unreachable_api_falls_back_to_the_log_layout(tmp_path, api):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kc = api.write_kubeconfig(tmp_path / "kubeconfig", server=f"https://127.0.0.1:{port}")
    agent, base = start_agent(tmp_path, "--kubeconfig", kc)
    try:
        # Down once the first attempt has failed (a sanitized build on a busy machine may
        # be scraped before it has been made).
        wait(lambda: gauge(scrape(base), "kmon_agent_kubernetes_api_up") == 0, 15,
             "the API to be reported down", agent)
        web = wait(lambda: pod_labels(scrape(base), "web-7c9f8d6b5-h2kxq"), 15,
                   "the pod named from the log layout", agent)
        assert web["namespace"] == "shop" and "workload" not in web
        time.sleep(2)
        assert agent.log().count("naming pods from the kubelet's log layout") == 1
    finally:
        agent.close()


def test_bad_kubeconfig_is_said_once_and_the_agent_runs(tmp_path):
    kc = tmp_path / "kubeconfig"
    kc.write_text("apiVersion: v1\nkind: Config\nclusters: []\n")
    agent, base = start_agent(tmp_path, "--kubeconfig", str(kc))
    try:
        # The pods are there once the first collection that found them has been published
        # (a sanitized build on a busy machine may be scraped before).
        wait(lambda: pod_labels(scrape(base), "postgres-0"), 15, "the pod from the log layout",
             agent)
        assert "no current-context" in agent.log()
    finally:
        agent.close()


def test_forbidden_replicasets_fall_back_to_the_naming_and_are_asked_once(api, tmp_path):
    """RBAC without replicasets: the Deployment comes from the pod-template-hash naming,
    and pod updates do not turn into a request each."""
    api.deny("get", "replicasets")
    load(api)
    kc = api.write_kubeconfig(tmp_path / "kubeconfig")
    agent, base = start_agent(tmp_path, "--kubeconfig", kc)
    try:
        wait(lambda: named_by_api(base, "web-7c9f8d6b5-h2kxq", "Deployment"), 15, "names",
             agent)
        assert pod_labels(scrape(base), "web-7c9f8d6b5-h2kxq")["workload"] == "web"
        for i in range(5):
            api.modify_pod("shop", "web-7c9f8d6b5-h2kxq",
                           lambda p: p["metadata"]["labels"].update(n=str(i)))
        time.sleep(1.5)
        asked = [r for r in api.requests() if "/replicasets/web-7c9f8d6b5" in r.path]
        assert len(asked) == 1, [(r.path, r.status) for r in asked]
    finally:
        agent.close()
