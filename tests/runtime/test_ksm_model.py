"""Unit checks of ksm_model (the independent expectation of kube-state-metrics series):
quantities, and a few objects whose series were written out by hand from
kube-state-metrics' docs/metrics (values, label sets, absent series) rather than
computed by the model."""
from fractions import Fraction

import pytest

from kubeapi import make_job, make_pod
from kubeobjects import (make_deployment, make_namespace, make_node, make_pending_pod,
                         make_pvc, make_resourcequota, make_service, set_container_state)
from ksm_model import (FAMILIES, diff_series, expected_series, from_samples, parse_allowlist,
                       parse_quantity, sanitize_label_name)

CREATED_POD = 1795162502.0  # 2026-11-20T08:15:02Z
T0 = 1795161600.0           # 2026-11-20T08:00:00Z


def fam(series, name):
    """{frozenset(labels): value} of one family."""
    return {k[1]: v for k, v in series.items() if k[0] == name}


def L(**kw):
    return frozenset(kw.items())


@pytest.mark.parametrize("text,value", [
    ("100m", Fraction(1, 10)), ("1Gi", 1073741824), ("1.5", Fraction(3, 2)), ("2e3", 2000),
    ("128974848", 128974848), ("129M", 129000000), ("123Mi", 128974848), ("1k", 1000),
    ("16393244Ki", 16786681856), ("0", 0), (".5", Fraction(1, 2)), ("5.", 5),
    ("1E3", 1000), ("1E", 10 ** 18), ("250u", Fraction(1, 4000)), ("3n", Fraction(3, 10 ** 9)),
    ("-2", -2), ("1.25Ki", 1280), ("1e-3", Fraction(1, 1000))])
def test_parse_quantity(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize("bad", ["", "1KB", "k", "1 Gi", "1.2.3", "0x10", "1e", "Gi"])
def test_parse_quantity_rejects(bad):
    with pytest.raises(ValueError):
        parse_quantity(bad)


def test_allowlist_and_label_names():
    assert parse_allowlist("pods=[app,team],namespaces=[*]") == {
        "pods": ["app", "team"], "namespaces": ["*"]}
    assert parse_allowlist("*=[*]") == {"*": ["*"]}
    assert sanitize_label_name("app.kubernetes.io/name") == "app_kubernetes_io_name"


def test_running_pod_by_hand():
    pod = make_pod("web-5d8f7c9b4-x2x7k", "shop", "node-1", owner=("ReplicaSet",
                                                                 "web-5d8f7c9b4"))
    uid, hip, pip = (pod["metadata"]["uid"], pod["status"]["hostIP"], pod["status"]["podIP"])
    s = expected_series([pod], cluster="prod")
    ident = dict(namespace="shop", pod="web-5d8f7c9b4-x2x7k", uid=uid, cluster="prod")
    assert fam(s, "kube_pod_info") == {L(**ident, host_ip=hip, pod_ip=pip, node="node-1",
                                         created_by_kind="ReplicaSet",
                                         created_by_name="web-5d8f7c9b4",
                                         host_network="false"): 1}
    assert fam(s, "kube_pod_owner") == {L(**ident, owner_kind="ReplicaSet",
                                          owner_name="web-5d8f7c9b4",
                                          owner_is_controller="true"): 1}
    assert fam(s, "kube_pod_status_phase") == {
        L(**ident, phase="Pending"): 0, L(**ident, phase="Succeeded"): 0,
        L(**ident, phase="Failed"): 0, L(**ident, phase="Unknown"): 0,
        L(**ident, phase="Running"): 1}
    assert fam(s, "kube_pod_status_ready") == {L(**ident, condition="true"): 1,
                                               L(**ident, condition="false"): 0,
                                               L(**ident, condition="unknown"): 0}
    assert fam(s, "kube_pod_created") == {L(**ident): CREATED_POD}
    assert fam(s, "kube_pod_start_time") == {L(**ident): CREATED_POD + 1}
    assert set(fam(s, "kube_pod_status_reason").values()) == {0}
    assert len(fam(s, "kube_pod_status_reason")) == 5
    c = dict(ident, container="app")
    # Burstable: requests cpu 100m, memory 128Mi; limits memory 256Mi
    assert fam(s, "kube_pod_container_resource_requests") == {
        L(**c, node="node-1", resource="cpu", unit="core"): 0.1,
        L(**c, node="node-1", resource="memory", unit="byte"): 134217728}
    assert fam(s, "kube_pod_container_resource_limits") == {
        L(**c, node="node-1", resource="memory", unit="byte"): 268435456}
    assert fam(s, "kube_pod_container_status_running") == {L(**c): 1}
    assert fam(s, "kube_pod_container_status_waiting") == {L(**c): 0}
    assert fam(s, "kube_pod_container_status_waiting_reason") == {}
    assert fam(s, "kube_pod_container_status_restarts_total") == {L(**c): 0}
    info = fam(s, "kube_pod_container_info")
    (labels,) = info
    assert dict(labels)["image_spec"] == "nginx:1.25.3"
    assert dict(labels)["image"] == "docker.io/library/nginx:1.25.3"
    assert dict(labels)["container_id"].startswith("containerd://")
    assert all(dict(k)["cluster"] == "prod" for k in (x[1] for x in s))


def test_crashloop_imagepull_and_pending_by_hand():
    p = make_pod("api-0", "shop", "node-2", containers=("app", "sidecar"),
                 container_resources={"sidecar": {"requests": {"cpu": "1.5",
                                                               "memory": "1.5"}}})
    set_container_state(p, "app", "CrashLoopBackOff", restarts=7, last_reason="OOMKilled")
    uid = p["metadata"]["uid"]
    s = expected_series([p])
    app = dict(namespace="shop", pod="api-0", uid=uid, container="app")
    side = dict(app, container="sidecar")
    assert fam(s, "kube_pod_container_status_restarts_total") == {L(**app): 7, L(**side): 0}
    assert fam(s, "kube_pod_container_status_waiting_reason") == {
        L(**app, reason="CrashLoopBackOff"): 1}
    assert fam(s, "kube_pod_container_status_last_terminated_reason") == {
        L(**app, reason="OOMKilled"): 1}
    assert fam(s, "kube_pod_container_status_ready") == {L(**app): 0, L(**side): 1}
    assert fam(s, "kube_pod_status_ready")[L(namespace="shop", pod="api-0", uid=uid,
                                             condition="false")] == 1
    req = fam(s, "kube_pod_container_resource_requests")
    assert req[L(**side, node="node-2", resource="cpu", unit="core")] == 1.5
    assert req[L(**side, node="node-2", resource="memory", unit="byte")] == 2  # Value() rounds up

    q = make_pod("img-0", "shop", "node-2", phase="Pending")
    set_container_state(q, "app", "ImagePullBackOff")
    s = expected_series([q])
    c = dict(namespace="shop", pod="img-0", uid=q["metadata"]["uid"], container="app")
    assert fam(s, "kube_pod_container_status_waiting_reason") == {
        L(**c, reason="ImagePullBackOff"): 1}
    assert fam(s, "kube_pod_container_status_terminated_reason") == {}
    (info,) = fam(s, "kube_pod_container_info")
    assert "container_id" not in dict(info) and "image_id" not in dict(info)

    u = make_pending_pod("big-0", "shop", owner=("ReplicaSet", "big-5c9f8b7d6"))
    s = expected_series([u])
    ident = dict(namespace="shop", pod="big-0", uid=u["metadata"]["uid"])
    assert fam(s, "kube_pod_info") == {L(**ident, created_by_kind="ReplicaSet",
                                         created_by_name="big-5c9f8b7d6",
                                         host_network="false"): 1}
    assert fam(s, "kube_pod_start_time") == {}
    assert fam(s, "kube_pod_status_scheduled") == {L(**ident, condition="true"): 0,
                                                   L(**ident, condition="false"): 1,
                                                   L(**ident, condition="unknown"): 0}
    assert fam(s, "kube_pod_status_phase")[L(**ident, phase="Pending")] == 1
    assert fam(s, "kube_pod_container_status_running") == {}
    # requests are from the spec, so they exist before any container does; no node label
    assert fam(s, "kube_pod_container_resource_requests")[
        L(**ident, container="app", resource="cpu", unit="core")] == 0.1

    bare = make_pod("solo", "default", "node-1", init_containers=("init-db",))
    s = expected_series([bare])
    ident = dict(namespace="default", pod="solo", uid=bare["metadata"]["uid"])
    assert fam(s, "kube_pod_owner") == {L(**ident): 1}  # owner labels empty: dropped
    assert "created_by_kind" not in dict(next(iter(fam(s, "kube_pod_info"))))
    i = dict(ident, container="init-db")
    assert fam(s, "kube_pod_init_container_status_terminated_reason") == {
        L(**i, reason="Completed"): 1}
    assert fam(s, "kube_pod_init_container_status_running") == {L(**i): 0}


def test_node_by_hand():
    n = make_node("node-1", taints=[{"key": "dedicated", "value": "db",
                                     "effect": "NoSchedule"}])
    s = expected_series([n])
    node = dict(node="node-1")
    assert fam(s, "kube_node_status_capacity") == {
        L(**node, resource="cpu", unit="core"): 4,
        L(**node, resource="memory", unit="byte"): 16786681856,
        L(**node, resource="pods", unit="integer"): 110,
        L(**node, resource="ephemeral_storage", unit="byte"): 52776349696,
        L(**node, resource="hugepages_1Gi", unit="byte"): 0,
        L(**node, resource="hugepages_2Mi", unit="byte"): 0}
    assert fam(s, "kube_node_status_allocatable")[
        L(**node, resource="memory", unit="byte")] == 16681824256
    assert fam(s, "kube_node_status_allocatable")[
        L(**node, resource="ephemeral_storage", unit="byte")] == 47498714648
    cond = fam(s, "kube_node_status_condition")
    assert len(cond) == 15
    assert cond[L(**node, condition="Ready", status="true")] == 1
    assert cond[L(**node, condition="Ready", status="unknown")] == 0
    assert cond[L(**node, condition="DiskPressure", status="false")] == 1
    assert fam(s, "kube_node_spec_taint") == {L(**node, key="dedicated", value="db",
                                                effect="NoSchedule"): 1}
    assert fam(s, "kube_node_spec_unschedulable") == {L(**node): 0}
    (info,) = fam(s, "kube_node_info")
    info = dict(info)
    assert info["kubelet_version"] == "v1.29.4" and info["internal_ip"].startswith("10.0.0.")
    assert info["container_runtime_version"] == "containerd://1.7.13"
    assert fam(s, "kube_node_created") == {L(**node): T0}


def test_workloads_quota_pvc_service_by_hand():
    d = make_deployment("web", "shop", replicas=4, ready=3)
    s = expected_series([d])
    dep = dict(namespace="shop", deployment="web")
    assert fam(s, "kube_deployment_spec_replicas") == {L(**dep): 4}
    assert fam(s, "kube_deployment_status_replicas_ready") == {L(**dep): 3}
    assert fam(s, "kube_deployment_status_replicas_unavailable") == {L(**dep): 1}
    assert fam(s, "kube_deployment_spec_paused") == {L(**dep): 0}
    cond = fam(s, "kube_deployment_status_condition")
    assert cond[L(**dep, reason="MinimumReplicasAvailable", condition="Available",
                  status="true")] == 1
    assert cond[L(**dep, reason="ReplicaSetUpdated", condition="Progressing",
                  status="false")] == 0
    assert len(cond) == 6

    q = make_resourcequota("compute", "shop", used={"limits.cpu": "1500m",
                                                    "limits.memory": "1Gi", "pods": "3",
                                                    "requests.cpu": "250m",
                                                    "requests.memory": "512Mi"})
    s = expected_series([q])
    rq = dict(namespace="shop", resourcequota="compute")
    got = fam(s, "kube_resourcequota")
    assert got[L(**rq, resource="requests.cpu", type="hard")] == 2
    assert got[L(**rq, resource="requests.cpu", type="used")] == 0.25
    assert got[L(**rq, resource="limits.cpu", type="used")] == 1.5
    assert got[L(**rq, resource="limits.memory", type="hard")] == 8589934592
    assert got[L(**rq, resource="pods", type="used")] == 3
    assert len(got) == 10

    p = make_pvc("data-db-0", "shop", storage="10Gi")
    s = expected_series([p])
    c = dict(namespace="shop", persistentvolumeclaim="data-db-0")
    assert fam(s, "kube_persistentvolumeclaim_info") == {
        L(**c, storageclass="standard", volumename="pvc-" + p["metadata"]["uid"],
          volumemode="Filesystem"): 1}
    assert fam(s, "kube_persistentvolumeclaim_status_phase") == {
        L(**c, phase="Lost"): 0, L(**c, phase="Bound"): 1, L(**c, phase="Pending"): 0}
    assert fam(s, "kube_persistentvolumeclaim_resource_requests_storage_bytes") == {
        L(**c): 10737418240}
    assert fam(s, "kube_persistentvolumeclaim_access_mode") == {
        L(**c, access_mode="ReadWriteOnce"): 1}
    p = make_pvc("tmp", "shop", storage_class=None, phase="Pending")
    s = expected_series([p])
    c = dict(namespace="shop", persistentvolumeclaim="tmp")
    assert fam(s, "kube_persistentvolumeclaim_info") == {
        L(**c, storageclass="<none>", volumemode="Filesystem"): 1}
    assert fam(s, "kube_persistentvolumeclaim_status_phase")[L(**c, phase="Pending")] == 1

    svc = make_service("dns", "kube-system", cluster_ip="10.96.0.10")
    s = expected_series([svc])
    sv = dict(namespace="kube-system", service="dns")
    assert fam(s, "kube_service_info") == {L(**sv, cluster_ip="10.96.0.10"): 1}
    assert fam(s, "kube_service_spec_type") == {L(**sv, type="ClusterIP"): 1}
    assert fam(s, "kube_service_created") == {L(**sv): T0}

    j = make_job("backup-29000000", "shop")
    j["status"].update({"failed": 2, "conditions": [{"type": "Failed", "status": "True",
                                                     "reason": "BackoffLimitExceeded"}]})
    s = expected_series([j])
    jb = dict(namespace="shop", job_name="backup-29000000")
    assert fam(s, "kube_job_status_failed") == {
        L(**jb, reason="BackoffLimitExceeded"): 1, L(**jb, reason="DeadlineExceeded"): 0,
        L(**jb, reason="Evicted"): 0}
    assert fam(s, "kube_job_failed") == {L(**jb, condition="true"): 1,
                                         L(**jb, condition="false"): 0,
                                         L(**jb, condition="unknown"): 0}
    assert fam(s, "kube_job_owner") == {L(**jb, owner_kind="CronJob", owner_name="backup",
                                          owner_is_controller="true"): 1}
    assert fam(s, "kube_job_spec_completions") == {L(**jb): 1}
    assert fam(s, "kube_job_status_completion_time") == {}


def test_labels_and_annotations_allowlists():
    pod = make_pod("web-1", "shop", labels={"app": "web", "team": "a", "other": "x"},
                   annotations={"prometheus.io/scrape": "true"})
    ns = make_namespace("shop", labels={"env": "prod"})
    node = make_node("node-1")
    s = expected_series([pod, ns, node], labels_allowlist="pods=[app,team,missing],"
                        "namespaces=[*]", annotations_allowlist={"pods": ["prometheus.io/scrape"]})
    ident = dict(namespace="shop", pod="web-1", uid=pod["metadata"]["uid"])
    assert fam(s, "kube_pod_labels") == {L(**ident, label_app="web", label_team="a"): 1}
    assert fam(s, "kube_pod_annotations") == {L(**ident, annotation_prometheus_io_scrape="true"): 1}
    assert fam(s, "kube_namespace_labels") == {
        L(namespace="shop", label_env="prod", label_kubernetes_io_metadata_name="shop"): 1}
    assert fam(s, "kube_node_labels") == {}  # nodes not in the allowlist: no family
    s = expected_series([pod, node])
    assert fam(s, "kube_pod_labels") == {} and fam(s, "kube_node_labels") == {}


def test_every_family_from_a_small_cluster():
    from kubeapi import make_replicaset
    from kubeobjects import (make_cronjob, make_daemonset, make_hpa, make_statefulset)
    crash = make_pod("api-0", "shop", "node-1")
    set_container_state(crash, "app", "CrashLoopBackOff", restarts=2)
    done = make_job("backup-29000000", "shop", active=0)
    done["status"].update({"succeeded": 1, "completionTime": "2026-11-20T08:01:00Z",
                           "conditions": [{"type": "Complete", "status": "True"}]})
    failed = make_job("migrate", "shop", active=0)
    failed["status"].update({"failed": 1, "conditions": [
        {"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}]})
    objs = [make_node("node-1", control_plane=True), make_namespace("shop"),
            make_pod("web-1", "shop", "node-1", init_containers=("init-db",)),
            make_pod("init-0", "shop", "node-1", phase="Pending",
                     init_containers=("init-db",)),
            make_pod("once", "shop", "node-1", phase="Succeeded"), crash,
            make_deployment("web", "shop"), make_replicaset("web-5d8f7c9b4", "shop"),
            make_statefulset("db", "shop"), make_daemonset("fluentd"), done, failed,
            make_cronjob("backup", "shop", last_schedule="2026-11-20T08:00:00Z"),
            make_hpa("web", "shop"), make_pvc("data", "shop"), make_service("web", "shop"),
            make_resourcequota("compute", "shop")]
    s = expected_series(objs, cluster="c1", labels_allowlist="*=[*]")
    got = {k[0] for k in s}
    assert got - {f for f in got if f.endswith("_labels")} == set(FAMILIES)
    assert {f for f in got if f.endswith("_labels")} == {
        "kube_pod_labels", "kube_node_labels", "kube_namespace_labels",
        "kube_deployment_labels", "kube_replicaset_labels", "kube_statefulset_labels",
        "kube_daemonset_labels", "kube_job_labels", "kube_cronjob_labels",
        "kube_horizontalpodautoscaler_labels", "kube_persistentvolumeclaim_labels",
        "kube_service_labels"}
    jb = dict(namespace="shop", job_name="backup-29000000", cluster="c1")
    assert fam(s, "kube_job_status_completion_time") == {L(**jb): T0 + 60}
    assert fam(s, "kube_job_complete")[L(**jb, condition="true")] == 1
    once = [k for k in fam(s, "kube_pod_container_status_terminated_reason")
            if dict(k)["pod"] == "once"]
    assert [dict(k)["reason"] for k in once] == ["Completed"]
    assert fam(s, "kube_pod_init_container_status_waiting_reason")
    assert diff_series(s, s) == ""
    other = dict(s)
    k = next(iter(fam(s, "kube_pod_created")))
    other.pop(("kube_pod_created", k))
    other[("kube_pod_created", k | {("extra", "x")})] = 1.0
    other[("kube_node_spec_unschedulable", L(node="node-1", cluster="c1"))] = 1.0
    d = diff_series(s, other).splitlines()
    assert [ln.split()[0] for ln in d] == ["missing", "unexpected", "value"]


def test_from_samples_and_generated_cluster():
    from kubescript import make_cluster
    objs = make_cluster(nodes=4, deployments=6, pods_per_deployment=3, namespaces=2)
    pods = [o for o in objs if o["kind"] == "Pod"]
    assert len(pods) == 18 and len({p["metadata"]["name"] for p in pods}) == 18
    per_node = {}
    for p in pods:
        per_node[p["spec"]["nodeName"]] = per_node.get(p["spec"]["nodeName"], 0) + 1
    assert sorted(per_node.values()) == [4, 4, 5, 5]
    s = expected_series(objs)
    assert len(fam(s, "kube_deployment_spec_replicas")) == 6
    samples = {("kube_node_spec_unschedulable", (("instance", "x"), ("node", "node-0"))): 0.0,
               ("kube_pod_owner", (("namespace", "a"), ("owner_kind", ""), ("pod", "p"))): 1.0,
               ("up", ()): 1.0}
    assert from_samples(samples, drop=("instance",)) == {
        ("kube_node_spec_unschedulable", L(node="node-0")): 0.0,
        ("kube_pod_owner", L(namespace="a", pod="p")): 1.0}
