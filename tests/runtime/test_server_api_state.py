"""The REST API aware of what exists, not only what reports (docs/api.md, "Cluster
state"): a small cluster's kube-state-metrics series (KSM v2.15's families and label sets,
as the cluster-state collector emits them: tests/runtime/ksm_model.py on the collector's
branch) written straight through remote_write, beside the cgroup series of the one pod
that reports metrics, then every new field of /api/pods, /api/nodes, /api/namespaces and
the deployments checked exactly against the series written. Without any kube_* series
the API answers as before (test_server_api.py); here, the new fields of objects the
kube_* series do not name are null."""
import pytest

from test_server_api import G, by, flat, get, grid, now_ms, ramp, ser, write

C = dict(cluster="c1")
MI = 1024 * 1024


def fam(times, name, value, **labels):
    return ser(name, flat(times, value), **C, **labels)


def node_series(times, name, ready, unschedulable, conditions=None):
    n = dict(node=name)
    out = [
        fam(times, "kube_node_info", 1, kernel_version="6.1.0", os_image="Debian 12",
            container_runtime_version="containerd://1.7.2", kubelet_version="v1.29.1",
            kubeproxy_version="v1.29.1", provider_id="kind://" + name,
            pod_cidr="10.244.0.0/24", system_uuid="u-" + name, internal_ip="10.0.0.1", **n),
        fam(times, "kube_node_spec_unschedulable", unschedulable, **n),
    ]
    conds = dict(Ready=ready, MemoryPressure="false", DiskPressure="false",
                 PIDPressure="false", NetworkUnavailable="false")
    conds.update(conditions or {})
    for c, st in conds.items():
        for s in ("true", "false", "unknown"):
            out.append(fam(times, "kube_node_status_condition", 1 if s == st else 0,
                           condition=c, status=s, **n))
    for f, cpu, mem in (("kube_node_status_capacity", 4, 8 * 1024 * MI),
                        ("kube_node_status_allocatable", 3.5, 7 * 1024 * MI)):
        out += [fam(times, f, cpu, resource="cpu", unit="core", **n),
                fam(times, f, mem, resource="memory", unit="byte", **n),
                fam(times, f, 110, resource="pods", unit="integer", **n),
                fam(times, f, 100 * 1024 * MI, resource="ephemeral_storage", unit="byte", **n)]
    return out


PHASES = ("Pending", "Succeeded", "Failed", "Unknown", "Running")
REASONS = ("Evicted", "NodeAffinity", "NodeLost", "Shutdown", "UnexpectedAdmissionError")


def pod_series(times, ns, name, phase, node=None, owner=None, containers=(),
               status_reason=None, ready=False):
    """A pod's KSM series. owner: (kind, name) of its controller; containers: dicts with
    name, restarts, waiting (a reason), last (a last-terminated reason), requests and
    limits ({resource: value in KSM's unit})."""
    uid = "uid-" + name
    p = dict(namespace=ns, pod=name, uid=uid)
    info = dict(p, host_network="false", priority_class="")
    if node:
        info.update(node=node, host_ip="10.0.0.1")
    if phase == "Running":
        info["pod_ip"] = "10.244.0.7"
    if owner:
        info.update(created_by_kind=owner[0], created_by_name=owner[1])
    info = {k: v for k, v in info.items() if v != ""}
    out = [fam(times, "kube_pod_info", 1, **info)]
    if owner:
        out.append(fam(times, "kube_pod_owner", 1, owner_kind=owner[0], owner_name=owner[1],
                       owner_is_controller="true", **p))
    else:
        out.append(fam(times, "kube_pod_owner", 1, **p))
    for ph in PHASES:
        out.append(fam(times, "kube_pod_status_phase", 1 if ph == phase else 0, phase=ph, **p))
    for s in ("true", "false", "unknown"):
        out.append(fam(times, "kube_pod_status_ready",
                       1 if s == ("true" if ready else "false") else 0, condition=s, **p))
    for r in REASONS:
        out.append(fam(times, "kube_pod_status_reason", 1 if r == status_reason else 0,
                       reason=r, **p))
    for c in containers:
        cl = dict(p, container=c["name"])
        out.append(fam(times, "kube_pod_container_status_restarts_total", c.get("restarts", 0),
                       **cl))
        if c.get("waiting"):
            out.append(fam(times, "kube_pod_container_status_waiting_reason", 1,
                           reason=c["waiting"], **cl))
        if c.get("last"):
            out.append(fam(times, "kube_pod_container_status_last_terminated_reason", 1,
                           reason=c["last"], **cl))
        for kind in ("requests", "limits"):
            for res, v in c.get(kind, {}).items():
                rl = dict(cl, resource=res, unit="core" if res == "cpu" else "byte")
                if node:
                    rl["node"] = node
                out.append(fam(times, "kube_pod_container_resource_" + kind, v, **rl))
    return out


def deployment_series(times, ns, name, desired, ready, available, updated, unavailable):
    d = dict(namespace=ns, deployment=name)
    return [fam(times, "kube_deployment_spec_replicas", desired, **d),
            fam(times, "kube_deployment_status_replicas", max(updated, ready), **d),
            fam(times, "kube_deployment_status_replicas_ready", ready, **d),
            fam(times, "kube_deployment_status_replicas_available", available, **d),
            fam(times, "kube_deployment_status_replicas_updated", updated, **d),
            fam(times, "kube_deployment_status_replicas_unavailable", unavailable, **d)]


def replicaset_series(times, ns, name, deployment):
    r = dict(namespace=ns, replicaset=name)
    return [fam(times, "kube_replicaset_owner", 1, owner_kind="Deployment",
                owner_name=deployment, owner_is_controller="true", **r),
            fam(times, "kube_replicaset_spec_replicas", 1, **r)]


WEB1, WEB2, WEB3 = "web-7d4f9c6b8d-x2k9q", "web-7d4f9c6b8d-p5m7z", "web-7d4f9c6b8d-zz2b4"
API = "api-5f6d7c8b9-nprst"
CRON = "cron-7d4f9c6b8d-x2k9q"


def load_state(base):
    """Nodes n1 (Ready, reporting metrics) and n2 (NotReady, cordoned, no metrics);
    namespace shop (Active) and old (Terminating, empty); in shop: WEB1 Running on n1
    with cgroup metrics, WEB2 Pending and unscheduled, WEB3 in ImagePullBackOff on n2
    (three pods of Deployment web, wanting 3 with 1 available), API crash-looping with
    40 restarts on n1 (Deployment api), report-x evicted (a Job's), CRON completed (a
    Job's, reporting metrics); a pod of namespace ops known only by its metrics."""
    times = grid()
    s = node_series(times, "n1", "true", 0)
    s += node_series(times, "n2", "false", 1, {"PIDPressure": "unknown"})
    s += [ser("node_cpu_seconds_total", ramp(times, 0.4), cpu="0", mode="user", node="n1",
              cluster="c1"),
          ser("node_memory_MemTotal_bytes", flat(times, 8 * 1024 * MI), node="n1", cluster="c1"),
          ser("node_memory_MemAvailable_bytes", flat(times, 6 * 1024 * MI), node="n1",
              cluster="c1")]
    for ns, phase in (("shop", "Active"), ("old", "Terminating")):
        for ph in ("Active", "Terminating"):
            s.append(fam(times, "kube_namespace_status_phase", 1 if ph == phase else 0,
                         namespace=ns, phase=ph))
    s += replicaset_series(times, "shop", "web-7d4f9c6b8d", "web")
    s += replicaset_series(times, "shop", "api-5f6d7c8b9", "api")
    s += deployment_series(times, "shop", "web", 3, 1, 1, 3, 2)
    s += deployment_series(times, "shop", "api", 1, 0, 0, 1, 1)
    rs_web, rs_api = ("ReplicaSet", "web-7d4f9c6b8d"), ("ReplicaSet", "api-5f6d7c8b9")
    web_containers = [
        dict(name="app", restarts=0, requests={"cpu": 0.1, "memory": 128 * MI},
             limits={"cpu": 0.5, "memory": 256 * MI}),
        dict(name="sidecar", restarts=1, last="OOMKilled",
             requests={"cpu": 0.05, "memory": 64 * MI})]
    s += pod_series(times, "shop", WEB1, "Running", node="n1", owner=rs_web,
                    containers=web_containers, ready=True)
    s += pod_series(times, "shop", WEB2, "Pending", owner=rs_web)
    s += pod_series(times, "shop", WEB3, "Pending", node="n2", owner=rs_web,
                    containers=[dict(name="app", waiting="ImagePullBackOff",
                                     requests={"cpu": 0.1, "memory": 128 * MI},
                                     limits={"cpu": 0.5, "memory": 256 * MI})])
    s += pod_series(times, "shop", API, "Running", node="n1", owner=rs_api,
                    containers=[dict(name="api", restarts=40, waiting="CrashLoopBackOff",
                                     last="Error", limits={"memory": 64 * MI})])
    s += pod_series(times, "shop", "report-x", "Failed", node="n1", owner=("Job", "report"),
                    status_reason="Evicted",
                    containers=[dict(name="r", restarts=0)])
    # WEB1 reports metrics (cgroup series), as the agent sends them.
    w1 = dict(namespace="shop", pod=WEB1, container="", node="n1", cluster="c1")
    s += [ser("container_cpu_usage_seconds_total", ramp(times, 0.15), **w1),
          ser("container_memory_working_set_bytes", flat(times, 150 * MI), **w1)]
    # A Job's pod whose name looks like a ReplicaSet's: its owner says it is no
    # Deployment's.
    s += pod_series(times, "shop", CRON, "Succeeded", node="n1", owner=("Job", "cron-1"),
                    containers=[dict(name="c", restarts=0, last="Completed")])
    s += [ser("container_cpu_usage_seconds_total", ramp(times, 0.03), namespace="shop",
              pod=CRON, container="", node="n1", cluster="c1")]
    s += [ser("container_cpu_usage_seconds_total", ramp(times, 0.02), namespace="ops",
              pod="db-0", container="", node="n1", cluster="c1")]
    write(base, s)
    return times


@pytest.fixture
def state(server_factory):
    _, base, _ = server_factory()
    load_state(base)
    return base


def res(cpu, mem, pods=None, with_pods=False):
    def human_cpu(v):
        return None if v is None else f"{v}m"
    out = {"cpu_millicores": cpu, "cpu": human_cpu(cpu), "memory_bytes": mem}
    out["memory"] = None if mem is None else f"{mem / MI:.2f} MB"
    if with_pods:
        out["pods"] = pods
    return out


NULL_RES = res(None, None)
STATE_KEYS = ("phase", "reason", "restarts", "owner", "requests", "limits")


def state_of(pod):
    return {k: pod[k] for k in STATE_KEYS}


WANT_PODS = {
    ("shop", WEB1): dict(phase="Running", reason=None, restarts=1,
                         owner={"kind": "Deployment", "name": "web"},
                         requests=res(150, 192 * MI), limits=res(500, 256 * MI)),
    ("shop", WEB2): dict(phase="Pending", reason=None, restarts=None,
                         owner={"kind": "Deployment", "name": "web"},
                         requests=NULL_RES, limits=NULL_RES),
    ("shop", WEB3): dict(phase="Pending", reason="ImagePullBackOff", restarts=0,
                         owner={"kind": "Deployment", "name": "web"},
                         requests=res(100, 128 * MI), limits=res(500, 256 * MI)),
    ("shop", API): dict(phase="Running", reason="CrashLoopBackOff", restarts=40,
                        owner={"kind": "Deployment", "name": "api"},
                        requests=NULL_RES, limits=res(None, 64 * MI)),
    ("shop", "report-x"): dict(phase="Failed", reason="Evicted", restarts=0,
                               owner={"kind": "Job", "name": "report"},
                               requests=NULL_RES, limits=NULL_RES),
    ("shop", CRON): dict(phase="Succeeded", reason=None, restarts=0,
                         owner={"kind": "Job", "name": "cron-1"},
                         requests=NULL_RES, limits=NULL_RES),
    ("ops", "db-0"): dict(phase=None, reason=None, restarts=None, owner=None,
                          requests=NULL_RES, limits=NULL_RES),
}
NODE_OF = {WEB1: "n1", WEB2: None, WEB3: "n2", API: "n1", "report-x": "n1", CRON: "n1",
           "db-0": "n1"}
# The deployment of each pod: its owner's (through the ReplicaSet) before its name's.
DEPLOYMENT_OF = {WEB1: "web", WEB2: "web", WEB3: "web", API: "api", "report-x": None,
                 CRON: None, "db-0": None}


def test_pods_that_exist_without_metrics_are_listed(state):
    doc = get(state, "/api/pods")
    got = {(p["namespace"], p["pod_name"]): p for p in doc["pods"]}
    assert set(got) == set(WANT_PODS), sorted(got)
    assert doc["count"] == len(WANT_PODS)
    for key, want in WANT_PODS.items():
        p = got[key]
        assert state_of(p) == want, (key, state_of(p))
        assert p["node_name"] == NODE_OF[key[1]], p
        assert p["deployment"] == DEPLOYMENT_OF[key[1]], p
        assert p["cluster"] == "c1", p
    # Metric figures stay the stored series' figures; a pod known only by kube_* series
    # has none (null, not 0) and no sample time of its own.
    web1 = got[("shop", WEB1)]
    assert (web1["cpu_millicores"], web1["memory_bytes"]) == (150, 150 * MI)
    assert web1["timestamp"] is not None
    for key in (("shop", WEB2), ("shop", WEB3), ("shop", API)):
        p = got[key]
        assert (p["cpu_millicores"], p["cpu"], p["memory_bytes"], p["memory"]) == \
            (None, None, None, None), p
        assert p["disk_io"]["read_bytes_per_second"] is None
        assert p["network_io"]["bytes_recv_total"] is None
        assert p["timestamp"] is None
    assert got[("ops", "db-0")]["cpu_millicores"] == 20


def test_one_pod_and_the_pods_of_a_namespace_and_a_node(state):
    p = get(state, "/api/pods/" + API)
    assert state_of(p) == WANT_PODS[("shop", API)]
    assert get(state, f"/api/pods/{WEB2}?namespace=shop")["phase"] == "Pending"
    shop = get(state, "/api/namespaces/shop/pods")
    assert {x["pod_name"] for x in shop["pods"]} == {k[1] for k in WANT_PODS if k[0] == "shop"}
    for x in shop["pods"]:
        assert state_of(x) == WANT_PODS[("shop", x["pod_name"])]
    # A pod that exists without metrics has a time series without points.
    ts = get(state, f"/api/pods/{WEB2}/timeseries?window=60")
    assert (ts["namespace"], ts["points"], ts["count"]) == ("shop", [], 0)
    assert get(state, "/api/deployments/api/timeseries?window=60")["count"] == 0
    assert get(state, "/api/nodes/n2/timeseries?window=60")["count"] == 0
    n1 = get(state, "/api/nodes/n1/pods")
    assert {x["pod_name"] for x in n1["pods"]} == {WEB1, API, "report-x", CRON, "db-0"}
    n2 = get(state, "/api/nodes/n2/pods")
    assert [x["pod_name"] for x in n2["pods"]] == [WEB3] and n2["count"] == 1
    assert state_of(n2["pods"][0]) == WANT_PODS[("shop", WEB3)]


def test_nodes_show_conditions_resources_and_pods(state):
    nodes = by(get(state, "/api/nodes")["nodes"], "node_name")
    assert set(nodes) == {"n1", "n2"}
    alloc = res(3500, 7 * 1024 * MI, 110, with_pods=True)
    cap = res(4000, 8 * 1024 * MI, 110, with_pods=True)
    alloc["memory"], cap["memory"] = "7.00 GB", "8.00 GB"
    n1, n2 = nodes["n1"], nodes["n2"]
    assert n1["conditions"] == {"Ready": "true", "MemoryPressure": "false",
                                "DiskPressure": "false", "PIDPressure": "false"}
    assert n2["conditions"] == {"Ready": "false", "MemoryPressure": "false",
                                "DiskPressure": "false", "PIDPressure": "unknown"}
    for n in (n1, n2):
        assert (n["allocatable"], n["capacity"]) == (alloc, cap), n
        assert n["cluster"] == "c1"
    assert (n1["unschedulable"], n2["unschedulable"]) == (False, True)
    # Pods from kube_pod_info and from the pods' own series, each once.
    assert (n1["pod_count"], n2["pod_count"]) == (5, 1)
    # n2 reports no metrics: null figures.
    assert (n2["cpu_millicores"], n2["memory_bytes"], n2["timestamp"]) == (None, None, None)
    assert n1["memory_bytes"] == 2 * 1024 * MI
    assert get(state, "/api/nodes/n2") == n2


def test_namespaces_show_phase_and_pods_by_phase(state):
    nss = by(get(state, "/api/namespaces")["namespaces"], "namespace")
    assert set(nss) == {"shop", "old", "ops"}
    shop, old, ops = nss["shop"], nss["old"], nss["ops"]
    assert shop["phase"] == "Active" and old["phase"] == "Terminating" and ops["phase"] is None
    assert shop["pods_by_phase"] == {"Pending": 2, "Running": 2, "Succeeded": 1,
                                     "Failed": 1, "Unknown": 0}
    assert old["pods_by_phase"] == {"Pending": 0, "Running": 0, "Succeeded": 0,
                                    "Failed": 0, "Unknown": 0}
    assert ops["pods_by_phase"] == {k: None for k in shop["pods_by_phase"]}
    assert (shop["pod_count"], old["pod_count"], ops["pod_count"]) == (6, 0, 1)
    assert shop["cpu_millicores"] == 180
    assert (shop["deployment_count"], old["deployment_count"]) == (2, 0)
    assert old["cpu_millicores"] is None and old["timestamp"] is None
    assert get(state, "/api/namespaces/old") == old
    assert get(state, "/api/namespaces/old/deployments") == {
        "namespace": "old", "deployments": [], "count": 0}


def test_deployments_show_their_replicas(state):
    deps = get(state, "/api/namespaces/shop/deployments")
    got = by(deps["deployments"], "deployment")
    assert set(got) == {"web", "api"} and deps["count"] == 2
    keys = ("desired_replicas", "ready_replicas", "available_replicas", "updated_replicas",
            "unavailable_replicas")
    assert {k: got["web"][k] for k in keys} == dict(zip(keys, (3, 1, 1, 3, 2)))
    assert {k: got["api"][k] for k in keys} == dict(zip(keys, (1, 0, 0, 1, 1)))
    # api runs no pod that reports metrics: it is listed, with null figures.
    assert got["api"]["cpu_millicores"] is None and got["api"]["timestamp"] is None
    assert got["web"]["cpu_millicores"] == 150
    # Pods by their owners: replicas and pod_count count them, reporting or not.
    assert (got["web"]["pod_count"], got["web"]["replicas"]) == (3, 3)
    assert (got["api"]["pod_count"], got["api"]["replicas"]) == (1, 1)
    pods = get(state, "/api/namespaces/shop/deployments/web/pods")
    assert sorted(p["pod_name"] for p in pods["pods"]) == sorted([WEB1, WEB2, WEB3])
    for p in pods["pods"]:
        assert state_of(p) == WANT_PODS[("shop", p["pod_name"])]
    assert get(state, "/api/namespaces/shop/deployments/api") == got["api"]


def test_objects_without_kube_series_have_null_state(server_factory):
    """Only metrics: every new field null (or 0 pods where a count was always 0), and no
    object the metrics do not name."""
    _, base, _ = server_factory()
    times = grid()
    write(base, [ser("container_cpu_usage_seconds_total", ramp(times, 0.1), namespace="a",
                     pod="p-7d4f9c6b8d-x2k9q", container="", node="n"),
                 ser("node_cpu_seconds_total", ramp(times, 0.1), cpu="0", mode="user",
                     node="n")])
    pod = get(base, "/api/pods")["pods"][0]
    assert state_of(pod) == dict(phase=None, reason=None, restarts=None, owner=None,
                                 requests=NULL_RES, limits=NULL_RES)
    assert pod["deployment"] == "p"
    ns = get(base, "/api/namespaces/a")
    assert ns["phase"] is None and set(ns["pods_by_phase"].values()) == {None}
    dep = get(base, "/api/namespaces/a/deployments/p")
    assert dep["desired_replicas"] is None and dep["pod_count"] == 1
    node = get(base, "/api/nodes/n")
    assert node["conditions"] == {"Ready": None, "MemoryPressure": None,
                                  "DiskPressure": None, "PIDPressure": None}
    null_res = dict(NULL_RES, pods=None)
    assert (node["allocatable"], node["capacity"]) == (null_res, null_res)
    assert node["unschedulable"] is None and node["pod_count"] == 1
    assert node["cpu_millicores"] == 100


def test_kube_series_older_than_stale_after_are_gone(server_factory):
    """An object whose kube_* series stopped (deleted: the collector stops emitting it)
    leaves the lists after --stale-after, as every object does."""
    _, base, _ = server_factory("--stale-after", "30s")
    t = now_ms() // G * G
    old = [t - 120000 + i * G for i in range(6)]
    write(base, pod_series(old, "gone", "p-0", "Running", node="n9") +
          node_series(old, "n9", "true", 0))
    assert get(base, "/api/pods")["count"] == 0
    assert get(base, "/api/nodes")["count"] == 0
    get(base, "/api/namespaces/gone/pods", want=404)
