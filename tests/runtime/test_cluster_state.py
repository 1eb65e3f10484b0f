"""`kmon server --cluster-state` against the Kubernetes API double (kubeapi.py, with the
kinds of kubeobjects.py and the scripted changes of kubescript.py): after an interval the
server's /federate answers exactly the series ksm_model.expected_series computes from the
double's objects (values and label sets; families the collector implements), changes
over time are reflected, a deleted object's series end at the next emission (stale
markers), a relist after 410 Gone neither loses nor duplicates a series, lists are paged,
a forbidden kind is logged once and skipped, and the server keeps answering with the API
down. With --leader-elect, of two servers exactly one leads and only its store gets the
series; killed, the other takes over within the lease duration; stopped, it releases
the Lease and the other takes over at once; a Lease forbidden by RBAC is logged once and
nothing is emitted. Short intervals through the flags keep each test to seconds."""
import json
import os
import re
import time
import urllib.parse

import pytest

from conftest import SANITIZED, http_get, parse_exposition, scrape
from ksm_model import FAMILIES, diff_series, expected_series
from kubeapi import KubeAPI, make_job, make_pod
from kubeobjects import (make_cronjob, make_daemonset, make_hpa, make_namespace, make_node,
                         make_pvc, make_resourcequota, make_service, make_statefulset)
from kubescript import (crash_loop, delete_namespace, drain_node, make_deployment_tree,
                        scale_deployment)

INTERVAL = "300ms"
KINDS = ("Pod", "Node", "Namespace", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet",
         "Job", "CronJob", "HorizontalPodAutoscaler", "PersistentVolumeClaim", "Service",
         "ResourceQuota")
LABELS = "pods=[app],namespaces=[*],deployments=[app],statefulsets=[*],services=[*]"


@pytest.fixture
def api(tmp_path):
    with KubeAPI(tmp_path / "api", bookmark_interval=1.0) as a:
        yield a


def cluster(api):
    api.add(make_node("node-1"))
    api.add(make_node("node-2", control_plane=True))
    for ns in ("default", "shop", "kube-system"):
        api.add(make_namespace(ns))
    for obj in make_deployment_tree("web", "shop", replicas=3, nodes=("node-1", "node-2")):
        api.add(obj)
    for obj in make_deployment_tree("api", "default", replicas=2, nodes=("node-1",)):
        api.add(obj)
    api.add(make_pod("bare", "default", "node-1", containers=["app"]))
    api.add(make_statefulset("db", "shop", replicas=2))
    api.add(make_daemonset("proxy", "kube-system", desired=2))
    api.add(make_cronjob("report", "shop"))
    api.add(make_job("report-28000000", "shop", "report"))
    api.add(make_hpa("web", "shop"))
    api.add(make_pvc("data-db-0", "shop"))
    legacy = make_pvc("legacy", "shop")
    legacy["metadata"].setdefault("annotations", {})[
        "volume.beta.kubernetes.io/storage-class"] = "old-ssd"
    api.add(legacy)
    unclassed = make_pvc("unclassed", "shop")
    unclassed["spec"].pop("storageClassName", None)
    api.add(unclassed)
    api.add(make_service("web", "shop"))
    api.add(make_service("lb", "shop", type_="LoadBalancer"))
    api.add(make_resourcequota("compute", "shop"))


def start(server_factory, api, tmp_path, *extra):
    kc = api.write_kubeconfig(tmp_path / "kubeconfig")
    proc, base, _ = server_factory("--cluster-state", "--kubeconfig", str(kc), "--cluster", "c1",
                                   "--cluster-state-interval", INTERVAL,
                                   "--cluster-state-watch-timeout", "5s",
                                   "--metric-labels-allowlist", LABELS, *extra)
    return proc, base


def ours(fam):
    return fam in FAMILIES or fam.endswith(("_labels", "_annotations"))


def federate(base):
    q = urllib.parse.urlencode({"match[]": '{__name__=~"kube_.+"}'})
    text = http_get(f"{base}/federate?{q}")[2]
    samples = parse_exposition(text)[0] if text else {}
    # /federate adds instance="" as Prometheus' does: not a label of the series.
    return {(n, frozenset(p for p in l if p != ("instance", ""))): v
            for (n, l), v in samples.items() if ours(n)}


def expected(api, kinds=KINDS):
    objs = [o for o in api.objects() if o.get("kind") in kinds]
    return {k: v for k, v in expected_series(objs, cluster="c1",
                                             labels_allowlist=LABELS).items()
            if k[0] != "kube_replicaset_annotations"}


def wait_match(base, api, proc, timeout=10, kinds=KINDS):
    deadline = time.monotonic() + timeout
    while True:
        want, got = expected(api, kinds), federate(base)
        # Families of kinds not watched, or annotations without an allowlist, never come.
        if got == want:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(diff_series(want, got) + "\n" + proc.log()[-3000:])
        time.sleep(0.1)


def test_first_emission_once_listed_not_after_an_interval(server_factory, api, tmp_path):
    cluster(api)
    kc = api.write_kubeconfig(tmp_path / "kubeconfig")
    proc, base, _ = server_factory("--cluster-state", "--kubeconfig", str(kc), "--cluster", "c1",
                                   "--cluster-state-interval", "1h",
                                   "--metric-labels-allowlist", LABELS)
    wait_match(base, api, proc, timeout=20)


def test_every_kind_matches_the_model(server_factory, api, tmp_path):
    cluster(api)
    proc, base = start(server_factory, api, tmp_path)
    wait_match(base, api, proc)
    m = scrape(base)
    assert m[("kmon_cluster_state_objects", (("kind", "pods"),))] == 6
    assert m[("kmon_cluster_state_synced", (("kind", "deployments"),))] == 1
    assert m[("kmon_ingest_samples_received_total", (("protocol", "cluster_state"),))] > 0


def test_changes_over_time_and_stale_markers(server_factory, api, tmp_path):
    cluster(api)
    proc, base = start(server_factory, api, tmp_path)
    wait_match(base, api, proc)
    scale_deployment(api, "shop", "web", 5, nodes=["node-1"])
    wait_match(base, api, proc)
    pod = next(o for o in api.objects() if o.get("kind") == "Pod" and
               o["metadata"]["namespace"] == "default" and o["metadata"]["name"] != "bare")
    crash_loop(api, "default", pod["metadata"]["name"], "app", times=3, last_reason="OOMKilled")
    wait_match(base, api, proc)
    drain_node(api, "node-2")
    wait_match(base, api, proc)
    # A deleted pod's series end with the next emission: an instant query no longer
    # returns them (without stale markers they would linger for 5 minutes).
    api.delete_pod("default", "bare")
    got = wait_match(base, api, proc)
    assert not any(dict(l).get("pod") == "bare" for _, l in got)
    q = urllib.parse.urlencode({"query": 'kube_pod_info{pod="bare"}'})
    assert '"result":[]' in http_get(f"{base}/api/v1/query?{q}")[2].replace(" ", "")
    delete_namespace(api, "shop")
    wait_match(base, api, proc)
    assert scrape(base)[("kmon_cluster_state_stale_markers_total", ())] > 0


def test_relist_after_410_without_duplicates_or_losses(server_factory, api, tmp_path):
    cluster(api)
    proc, base = start(server_factory, api, tmp_path)
    wait_match(base, api, proc)
    lists_before = len(api.requests(path="/api/v1/pods", watch=False))
    # The watch dropped, then while the collector backs off a pod goes away, another
    # comes and the history is compacted past the collector's version: the re-watch
    # answers 410 Gone and the collector lists again.
    api.drop_watches()
    api.delete_pod("default", "bare")
    api.add_pod(make_pod("late", "default", "node-1", containers=["app"]))
    api.compact()
    wait_match(base, api, proc)
    api.wait_requests(lists_before + 1, pred=lambda r: r.path == "/api/v1/pods" and
                      not r.watch, timeout=10)
    m = scrape(base)
    assert m[("kmon_cluster_state_relists_gone_total", (("kind", "pods"),))] >= 1


def test_paged_lists(server_factory, api, tmp_path):
    api.add(make_node("node-1"))
    api.add(make_namespace("default"))
    for i in range(1203):
        api.add_pod(make_pod(f"p-{i:04d}", "default", "node-1", containers=["app"]))
    proc, base = start(server_factory, api, tmp_path)
    wait_match(base, api, proc, timeout=30)
    lists = api.requests(path="/api/v1/pods", watch=False)
    assert all(r.query.get("limit") == "500" for r in lists)
    assert len(lists) >= 3 and any(r.query.get("continue") for r in lists)


def test_forbidden_kind_logged_once_and_skipped(server_factory, api, tmp_path):
    cluster(api)
    api.deny("list", "deployments")
    api.deny("watch", "deployments")
    proc, base = start(server_factory, api, tmp_path)
    kinds = tuple(k for k in KINDS if k != "Deployment")
    wait_match(base, api, proc, kinds=kinds)
    time.sleep(1)
    log = proc.log()
    assert log.count("cluster-state: forbidden:") == 1, log
    assert "the ClusterRole needs list,watch on deployments" in log
    m = scrape(base)
    assert m[("kmon_cluster_state_forbidden", (("kind", "deployments"),))] == 1
    assert len(api.requests(path="/apis/apps/v1/deployments")) == 1  # not retried in a loop


def test_server_keeps_answering_with_the_api_down(server_factory, api, tmp_path):
    cluster(api)
    proc, base = start(server_factory, api, tmp_path)
    wait_match(base, api, proc)
    api.stop()
    time.sleep(2)
    assert http_get(base + "/readyz")[0] == 200
    m = scrape(base)
    assert m[("kmon_cluster_state_errors_total", (("kind", "pods"),))] >= 1
    assert federate(base)  # the last known state is still emitted
    # Few requests while down: backoff, never a busy loop (checked by the log's size).
    assert len(proc.log().splitlines()) < 200


def test_agent_mode_cluster(server_factory, api, tmp_path):
    """`kmon agent --mode cluster`: the KSM families on its /metrics (without stale
    markers: a deleted pod is simply no longer listed) and shipped by remote_write with
    the cluster label, stale markers ending a deleted pod's series in the server."""
    from conftest import Proc, free_port, wait_http
    cluster(api)
    _, base, _ = server_factory()
    kc = api.write_kubeconfig(tmp_path / "kubeconfig")
    port = free_port()
    agent = Proc(["agent", "--mode", "cluster", "--listen", f"127.0.0.1:{port}",
                  "--interval", INTERVAL, "--kubeconfig", str(kc), "--cluster", "c1",
                  "--remote-write", f"{base}/api/v1/write", "--metric-labels-allowlist", LABELS,
                  "--cluster-state-watch-timeout", "5s", "--spool-dir", "none"])
    try:
        abase = f"http://127.0.0.1:{port}"
        wait_http(abase + "/healthz", agent)

        def agent_series():
            # KSM's exposition writes empty labels (timezone=""); a store drops them.
            samples = parse_exposition(http_get(abase + "/metrics")[2])[0]
            return {(n, frozenset(p for p in l if p[1] != "")): v
                    for (n, l), v in samples.items() if ours(n)}

        def wait_both(timeout=10):
            deadline = time.monotonic() + timeout
            while True:
                objs = [o for o in api.objects() if o.get("kind") in KINDS]
                want_agent = expected_series(objs, labels_allowlist=LABELS)
                got_agent, got_server = agent_series(), federate(base)
                if got_agent == want_agent and got_server == expected(api):
                    return
                if time.monotonic() > deadline:
                    raise AssertionError(diff_series(want_agent, got_agent) + "\nserver:\n" +
                                         diff_series(expected(api), got_server) + "\n" +
                                         agent.log()[-2000:])
                time.sleep(0.1)

        wait_both()
        api.delete_pod("default", "bare")
        wait_both()
        q = urllib.parse.urlencode({"query": 'kube_pod_info{pod="bare"}'})
        assert '"result":[]' in http_get(f"{base}/api/v1/query?{q}")[2].replace(" ", "")
        assert "NaN" not in http_get(abase + "/metrics")[2]
    finally:
        agent.close()


def test_agent_mode_cluster_ships_a_large_state_in_several_requests(server_factory, api,
                                                                    tmp_path):
    """A cluster state of more series than one request carries (10 000 samples) is
    shipped whole, as several requests, every collection."""
    from conftest import Proc, free_port, wait_http
    api.add(make_node("node-1"))
    api.add(make_namespace("default"))
    for i in range(320):
        api.add_pod(make_pod(f"p-{i:04d}", "default", "node-1", containers=["app", "side"]))
    _, base, _ = server_factory()
    kc = api.write_kubeconfig(tmp_path / "kubeconfig")
    port = free_port()
    agent = Proc(["agent", "--mode", "cluster", "--listen", f"127.0.0.1:{port}",
                  "--interval", "1s", "--kubeconfig", str(kc), "--cluster", "c1",
                  "--remote-write", f"{base}/api/v1/write", "--metric-labels-allowlist", LABELS,
                  "--spool-dir", "none"])
    try:
        abase = f"http://127.0.0.1:{port}"
        wait_http(abase + "/healthz", agent)
        wait_match(base, api, agent, timeout=30, kinds=("Pod", "Node", "Namespace"))

        def shipped():
            m = scrape(abase)
            return (m.get(("kmon_agent_ship_requests_total", (("result", "delivered"),)), 0),
                    m.get(("kmon_agent_ship_samples_total", (("result", "delivered"),)), 0),
                    m.get(("kmon_cluster_state_emission_series", ()), 0))

        # The shipper's counters are published with the next collection: wait for them.
        deadline = time.monotonic() + 20
        while True:
            requests, samples, series = shipped()
            if series > 10000 and requests >= 2 and samples >= series:
                break
            assert time.monotonic() < deadline, (requests, samples, series)
            time.sleep(0.2)
        assert scrape(abase).get(("kmon_agent_ship_requests_total",
                                  (("result", "rejected"),)), 0) == 0, agent.log()[-3000:]
    finally:
        agent.close()


# ---- leader election (--leader-elect): two replicas against one API ---------------------

LEASE = "/apis/coordination.k8s.io/v1/namespaces/default/leases/kmon-cluster-state"
RETRY = 0.5
SLACK = 15 if SANITIZED else 3  # a sanitized pair of servers on a busy 2-core machine


def elect(lease="3s", renew="2s"):
    return ("--leader-elect", "--leader-elect-lease-duration", lease,
            "--leader-elect-renew-deadline", renew, "--leader-elect-retry-period",
            f"{int(RETRY * 1000)}ms")


def replicas(server_factory, api, tmp_path, *extra):
    """Two servers electing with the Lease default/kmon-cluster-state, identities a and b:
    {identity: (proc, base)}."""
    return {ident: start(server_factory, api, tmp_path, *elect(), "--leader-elect-identity",
                         ident, *extra) for ident in ("a", "b")}


def leading(base):
    return scrape(base).get(("kmon_cluster_state_leader", ()))


def emissions(base):
    return scrape(base).get(("kmon_cluster_state_stored_emissions_total", ()), 0)


def wait_leader(reps, timeout, among=None):
    """The one identity whose /metrics says it leads (the others saying they do not)."""
    deadline = time.monotonic() + timeout
    while True:
        flags = {i: leading(b) for i, (p, b) in reps.items() if among is None or i in among}
        leaders = [i for i, v in flags.items() if v == 1]
        if len(leaders) == 1 and all(v == 0 for i, v in flags.items() if i != leaders[0]):
            return leaders[0]
        assert len(leaders) <= 1, f"two leaders: {flags}"
        if time.monotonic() > deadline:
            raise AssertionError(f"no single leader within {timeout}s: {flags}\n" +
                                 "\n".join(p.log()[-1500:] for p, _ in reps.values()))
        time.sleep(0.05)


def holder(api):
    return (api.get("Lease", "default", "kmon-cluster-state") or {}).get("spec", {})


def test_leader_election_one_replica_emits(server_factory, api, tmp_path):
    cluster(api)
    reps = replicas(server_factory, api, tmp_path)
    lead = wait_leader(reps, 10 + SLACK)
    other = "b" if lead == "a" else "a"
    (lproc, lbase), (oproc, obase) = reps[lead], reps[other]
    wait_match(lbase, api, lproc, timeout=10 + SLACK)
    spec = holder(api)
    assert spec["holderIdentity"] == lead and spec["leaseDurationSeconds"] == 3
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", spec["renewTime"]), spec
    # The standby watches every kind (ready to take over) but stores nothing, while the
    # leader emits interval after interval and renews the Lease.
    renewed = spec["renewTime"]
    start_emissions = emissions(lbase)
    deadline = time.monotonic() + 10 + SLACK
    while emissions(lbase) < start_emissions + 5 or holder(api)["renewTime"] == renewed:
        assert wait_leader(reps, 0) == lead
        assert time.monotonic() < deadline, lproc.log()
        time.sleep(0.1)
    m = scrape(obase)
    assert m[("kmon_cluster_state_synced", (("kind", "pods"),))] == 1
    assert m[("kmon_cluster_state_objects", (("kind", "pods"),))] == 6
    assert m.get(("kmon_cluster_state_stored_emissions_total", ()), 0) == 0
    assert m[("kmon_cluster_state_leader_transitions_total", ())] == 0
    assert federate(obase) == {}
    assert scrape(lbase)[("kmon_cluster_state_leader_transitions_total", ())] == 1
    assert f"became the leader (lease default/kmon-cluster-state, identity {lead})" in \
        lproc.log()
    assert "became the leader" not in oproc.log()


def test_leader_killed_the_other_takes_over(server_factory, api, tmp_path):
    cluster(api)
    reps = replicas(server_factory, api, tmp_path)
    lead = wait_leader(reps, 10 + SLACK)
    other = "b" if lead == "a" else "a"
    wait_match(reps[lead][1], api, reps[lead][0], timeout=10 + SLACK)
    transitions = holder(api)["leaseTransitions"]
    reps[lead][0].p.kill()  # SIGKILL: no release; the Lease has to expire
    killed = time.monotonic()
    oproc, obase = reps[other]
    # The lease duration from the last renewal the standby saw, plus its jittered retries
    # (up to 2.2 retry periods each) to see that renewal and to find the Lease expired.
    wait_leader(reps, 3 + 2 * 2.2 * RETRY + SLACK, among=(other,))
    took = time.monotonic() - killed
    assert took < 3 + 2 * 2.2 * RETRY + SLACK, took
    spec = holder(api)
    assert spec["holderIdentity"] == other
    assert spec["leaseTransitions"] == transitions + 1
    wait_match(obase, api, oproc, timeout=5 + SLACK)
    # Changes after the takeover reach the new leader's store.
    api.delete_pod("default", "bare")
    wait_match(obase, api, oproc, timeout=5 + SLACK)


def test_leader_stopped_releases_the_lease(server_factory, api, tmp_path):
    """SIGTERM: the Lease is released (holderIdentity "", client-go's ReleaseOnCancel)
    and the standby takes over long before a 30 s lease would have expired."""
    cluster(api)
    kc = api.write_kubeconfig(tmp_path / "kubeconfig")
    reps = {}
    for ident in ("a", "b"):
        proc, base, _ = server_factory(
            "--cluster-state", "--kubeconfig", str(kc), "--cluster", "c1",
            "--cluster-state-interval", INTERVAL, "--cluster-state-watch-timeout", "5s",
            "--metric-labels-allowlist", LABELS, *elect(lease="30s", renew="20s"),
            "--leader-elect-identity", ident)
        reps[ident] = (proc, base)
    lead = wait_leader(reps, 10 + SLACK)
    other = "b" if lead == "a" else "a"
    lproc = reps[lead][0]
    assert lproc.stop() == 0
    stopped = time.monotonic()
    puts = [json.loads(r.body)["spec"] for r in api.requests(path=LEASE)
            if r.method == "PUT" and r.status == 200]
    released = [p for p in puts if p["holderIdentity"] == ""]
    assert len(released) == 1 and released[0]["leaseDurationSeconds"] == 1, puts
    assert "released the lease default/kmon-cluster-state (identity " + lead in lproc.log()
    oproc, obase = reps[other]
    wait_leader(reps, 2.2 * RETRY + SLACK, among=(other,))
    assert time.monotonic() - stopped < 2.2 * RETRY + SLACK < 30
    assert holder(api)["holderIdentity"] == other
    wait_match(obase, api, oproc, timeout=5 + SLACK)


def test_lease_forbidden_logged_once_and_not_leading(server_factory, api, tmp_path):
    cluster(api)
    for verb in ("get", "create", "update"):
        api.deny(verb, "leases")
    proc, base = start(server_factory, api, tmp_path, *elect())
    # Several attempts, every retry period, each refused...
    api.wait_requests(6, pred=lambda r: r.path == LEASE and r.status == 403,
                      timeout=10 + SLACK)
    log = proc.log()
    assert log.count("leader-election: forbidden:") == 1, log
    assert "needs get,create,update on leases" in log
    assert 'apiGroups: ["coordination.k8s.io"]' in log
    # ... and nothing emitted, while the kinds are watched.
    m = scrape(base)
    assert m[("kmon_cluster_state_leader", ())] == 0
    assert m[("kmon_cluster_state_synced", (("kind", "pods"),))] == 1
    assert m.get(("kmon_cluster_state_stored_emissions_total", ()), 0) == 0
    assert federate(base) == {}
    assert proc.p.poll() is None
    # Once RBAC allows it, the replica leads and emits.
    for verb in ("get", "create", "update"):
        api.allow(verb, "leases")
    wait_leader({"x": (proc, base)}, 5 + SLACK)
    wait_match(base, api, proc, timeout=5 + SLACK)
    assert holder(api)["leaseTransitions"] == 0  # created holding it


def test_lost_lease_no_stale_markers_and_a_fresh_start(server_factory, api, tmp_path):
    """A leader that sees another holder stops emitting at once, writes no stale markers,
    and when it leads again starts from an empty previous emission: a pod deleted while
    it did not lead gets no stale marker from it (the leader of the time ends those)."""
    cluster(api)
    proc, base = start(server_factory, api, tmp_path, *elect(), "--leader-elect-identity", "a")
    reps = {"a": (proc, base)}
    wait_leader(reps, 10 + SLACK)
    wait_match(base, api, proc, timeout=10 + SLACK)

    def steal(lease):
        lease["spec"]["holderIdentity"] = "intruder"  # who then never renews

    api.modify("Lease", "default", "kmon-cluster-state", steal)
    deadline = time.monotonic() + 2 * 2.2 * RETRY + SLACK
    while scrape(base)[("kmon_cluster_state_leader", ())] != 0:
        assert time.monotonic() < deadline, proc.log()
        time.sleep(0.05)
    lost = emissions(base)
    api.delete_pod("default", "bare")
    # Not leading: nothing emitted (one emission may have been under way) until the
    # intruder's lease has expired by this replica's clock and it leads again.
    deadline = time.monotonic() + 3 + 2 * 2.2 * RETRY + SLACK
    while True:
        m = scrape(base)
        if m[("kmon_cluster_state_leader", ())] == 1:
            break
        assert m.get(("kmon_cluster_state_stored_emissions_total", ()), 0) <= lost + 1
        assert time.monotonic() < deadline, proc.log()
        time.sleep(0.05)
    log = proc.log()
    assert ("lost the leadership (lease default/kmon-cluster-state, identity a): intruder "
            "holds the lease") in log
    assert log.count("became the leader") == 2
    assert holder(api)["holderIdentity"] == "a"
    again = emissions(base)
    deadline = time.monotonic() + 5 + SLACK
    while emissions(base) < again + 2:
        assert time.monotonic() < deadline, proc.log()
        time.sleep(0.05)
    m = scrape(base)
    assert m[("kmon_cluster_state_leader_transitions_total", ())] == 2
    assert m[("kmon_cluster_state_stale_markers_total", ())] == 0
    want, got = expected(api), federate(base)
    assert all(got.get(k) == v for k, v in want.items()), diff_series(want, got)
    assert all(dict(k[1]).get("pod") == "bare" for k in got if k not in want)


def test_leader_stops_leading_at_the_renew_deadline_while_the_api_hangs(
        server_factory, api, tmp_path):
    """The Lease requests hang (an API server that accepts and never answers): the leader
    stops leading at its renew deadline, before the lease could expire for another
    replica, without waiting for its request to end; it leads again once answered."""
    cluster(api)
    proc, base = start(server_factory, api, tmp_path, *elect(), "--leader-elect-identity", "a")
    reps = {"a": (proc, base)}
    wait_leader(reps, 10 + SLACK)
    api.hang_next(1000, match=LEASE)
    hung = time.monotonic()
    deadline = hung + 2 + SLACK
    while scrape(base)[("kmon_cluster_state_leader", ())] != 0:
        assert time.monotonic() < deadline, proc.log()
        time.sleep(0.05)
    assert time.monotonic() - hung < 2 + SLACK < 3 + SLACK
    api.wait_requests(1, pred=lambda r: r.path == LEASE and r.status is None)
    api.clear_faults()
    api.drop_hung()
    wait_leader(reps, 3 + 2 * 2.2 * RETRY + SLACK)
    assert ("lost the leadership (lease default/kmon-cluster-state, identity a): not renewed "
            "within the renew deadline (2s)") in proc.log()
    assert proc.log().count("became the leader") == 2


def test_agent_mode_cluster_leader_election(server_factory, api, tmp_path):
    """Two `kmon agent --mode cluster --leader-elect` shipping to one server: only the
    leader's /metrics has the KSM families; SIGTERM it and the other ships the same
    series on, none ended by the replica that stopped."""
    from conftest import Proc, free_port, wait_http
    cluster(api)
    _, base, _ = server_factory()
    kc = api.write_kubeconfig(tmp_path / "kubeconfig")
    reps = {}
    try:
        for ident in ("a", "b"):
            port = free_port()
            reps[ident] = (Proc(["agent", "--mode", "cluster", "--listen", f"127.0.0.1:{port}",
                                 "--interval", INTERVAL, "--kubeconfig", str(kc), "--cluster",
                                 "c1", "--remote-write", f"{base}/api/v1/write",
                                 "--metric-labels-allowlist", LABELS,
                                 "--cluster-state-watch-timeout", "5s", "--spool-dir", "none",
                                 *elect(lease="30s", renew="20s"), "--leader-elect-identity",
                                 ident]), f"http://127.0.0.1:{port}")
            wait_http(reps[ident][1] + "/healthz", reps[ident][0])
        lead = wait_leader(reps, 10 + SLACK)
        other = "b" if lead == "a" else "a"
        wait_match(base, api, reps[lead][0], timeout=10 + SLACK)
        assert "kube_pod_info{" in http_get(reps[lead][1] + "/metrics")[2]
        assert "kube_pod_info" not in http_get(reps[other][1] + "/metrics")[2]
        assert reps[lead][0].stop() == 0
        assert "released the lease" in reps[lead][0].log()
        wait_leader(reps, 2.2 * RETRY + SLACK, among=(other,))
        api.delete_pod("default", "bare")
        wait_match(base, api, reps[other][0], timeout=10 + SLACK)
        assert "kube_pod_info{" in http_get(reps[other][1] + "/metrics")[2]
    finally:
        for proc, _ in reps.values():
            proc.close()


def test_leader_election_settings_refused(server_factory, tmp_path):
    from conftest import run
    r = run("server", "--listen", "127.0.0.1:0", "--data", str(tmp_path / "d"),
            "--cluster-state", "--kubeconfig", str(tmp_path / "none"), "--leader-elect",
            "--leader-elect-lease-duration", "5s", "--leader-elect-renew-deadline", "5s")
    assert r.returncode != 0
    assert ("--leader-elect-renew-deadline (5s) must be shorter than "
            "--leader-elect-lease-duration (5s)") in r.stderr, r.stderr
