"""The server's REST API (the prototype's endpoints, docs/api.md) against a real
`kmon server`: controlled series written with remote_write (rwlib) and the JSON POST
endpoints, then every GET checked for exact figures computed at query time (CPU rates,
MemTotal - MemAvailable, I/O deltas, rates and totals, sums over pods), identity rules
(node / instance, pod, deployment from workload labels or ReplicaSet names), errors
(400, 404, 405, 409 as JSON), CORS, health, /metrics and the time series."""
import json
import time
from datetime import datetime, timezone

import pytest

import rwlib
from conftest import KMON, http_request, run, scrape, value

G = 5000  # sample spacing of every controlled series (ms)


# ---- helpers ---------------------------------------------------------------------------

def now_ms():
    return int(time.time() * 1000)


def rfc3339(ms):
    """The API's timestamp format: RFC 3339, UTC, microseconds."""
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ser(name, samples, **labels):
    return (sorted([("__name__", name)] + list(labels.items())), samples)


def write(base, series):
    body = rwlib.snappy(rwlib.write_request(series))
    st, _, b = http_request(base + "/api/v1/write", "POST", body, rwlib.HEADERS)
    assert st == 204, b


def get(base, path, want=200):
    st, h, b = http_request(base + path)
    assert st == want, (path, st, b)
    assert h.get("Content-Type") == "application/json", (path, h)
    return json.loads(b)


def post_json(base, path, doc):
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return http_request(base + path, "POST", body, {"Content-Type": "application/json"})


def error_of(base, path, want, method="GET", body=None):
    st, h, b = http_request(base + path, method, body)
    assert st == want, (method, path, st, b)
    assert h.get("Content-Type") == "application/json", h
    assert h.get("Access-Control-Allow-Origin") == "*", h
    doc = json.loads(b)
    assert isinstance(doc.get("error"), str) and doc["error"], doc
    return doc


def by(items, key):
    return {i[key]: i for i in items}


# ---- the cluster most tests read -----------------------------------------------------

def pair(t0, t1, v0, v1):
    return [(t0, v0), (t1, v1)]


def load_cluster(base):
    """Node n1 (agent-style labels), node 10.0.0.5 (node-exporter, instance only), pods
    in namespaces shop and ops (cAdvisor-style series), a stale pod. Two samples 5 s
    apart, a minute ago. Returns the newer sample time."""
    t1 = (now_ms() - 60000) // 1000 * 1000
    t0 = t1 - G
    n1 = dict(node="n1", cluster="c1", instance="n1:9105", job="kmon-agent")
    s = [
        ser("node_cpu_seconds_total", pair(t0, t1, 100, 102), cpu="0", mode="user", **n1),
        ser("node_cpu_seconds_total", pair(t0, t1, 50, 50.5), cpu="0", mode="system", **n1),
        ser("node_cpu_seconds_total", pair(t0, t1, 10, 10.5), cpu="1", mode="user", **n1),
        ser("node_cpu_seconds_total", pair(t0, t1, 1000, 1004), cpu="0", mode="idle", **n1),
        ser("node_cpu_seconds_total", pair(t0, t1, 5, 6), cpu="0", mode="iowait", **n1),
        ser("node_memory_MemTotal_bytes", pair(t0, t1, 8589934592, 8589934592), **n1),
        ser("node_memory_MemAvailable_bytes", pair(t0, t1, 6000000000, 5873913856), **n1),
        ser("node_disk_read_bytes_total", pair(t0, t1, 1000000, 1051200), device="sda", **n1),
        ser("node_disk_read_bytes_total", pair(t0, t1, 0, 10240), device="sdb", **n1),
        ser("node_disk_written_bytes_total", pair(t0, t1, 2000000, 2102400), device="sda",
            **n1),
        ser("node_network_receive_bytes_total", pair(t0, t1, 5000000, 5512000), device="eth0",
            **n1),
        ser("node_network_receive_bytes_total", pair(t0, t1, 0, 9999999), device="lo", **n1),
        ser("node_network_transmit_bytes_total", pair(t0, t1, 3000000, 3025600),
            device="eth0", **n1),
        ser("node_network_transmit_bytes_total", pair(t0, t1, 0, 7777777), device="lo", **n1),
        # A node-exporter target scraped by Prometheus: no node label, only instance.
        ser("node_cpu_seconds_total", pair(t0, t1, 0, 1), cpu="0", mode="user",
            instance="10.0.0.5:9100", job="node-exporter"),
        ser("node_memory_MemTotal_bytes", pair(t0, t1, 4294967296, 4294967296),
            instance="10.0.0.5:9100", job="node-exporter"),
        ser("node_memory_MemAvailable_bytes", pair(t0, t1, 3221225472, 3221225472),
            instance="10.0.0.5:9100", job="node-exporter"),
    ]

    def pod(ns, name, node, cpu=None, mem=None, container="", **extra):
        labels = dict(namespace=ns, pod=name, container=container, node=node, cluster="c1",
                      **extra)
        out = []
        if cpu:
            out.append(ser("container_cpu_usage_seconds_total", pair(t0, t1, *cpu), **labels))
        if mem is not None:
            out.append(ser("container_memory_working_set_bytes", pair(t0, t1, mem, mem),
                           **labels))
        return out

    web1, web2 = "web-7d4f9c6b8d-x2k9q", "web-7d4f9c6b8d-p5m7z"
    s += pod("shop", web1, "n1", (10, 10.75), 157286400)                 # 150m
    s += pod("shop", web1, "n1", (5, 5.5), 100000000, container="app")  # ignored
    s += pod("shop", web1, "n1", (0, 0.01), 1000, container="POD")      # ignored
    w1 = dict(namespace="shop", pod=web1, container="", node="n1", cluster="c1")
    s += [
        ser("container_fs_reads_bytes_total", pair(t0, t1, 0, 40960), **w1),
        ser("container_fs_writes_bytes_total", pair(t0, t1, 1000, 21480), **w1),
        ser("container_network_receive_bytes_total", pair(t0, t1, 0, 102400), **w1),
        ser("container_network_transmit_bytes_total", pair(t0, t1, 0, 51200), **w1),
    ]
    s += pod("shop", web2, "n1", (20, 20.25), 104857600)                # 50m
    s.append(ser("container_fs_reads_bytes_total", pair(t0, t1, 0, 10240), namespace="shop",
                 pod=web2, container="", node="n1", cluster="c1"))
    s += pod("shop", "db-0", "n1", (1, 1.5), 52428800)                  # 100m, StatefulSet
    s += pod("shop", "checkout-a", "n1", (0, 0.1), 10485760,            # 20m, labels
             workload_kind="Deployment", workload="checkout")
    s += pod("shop", "report-28391234-zt7xq", "n1", (0, 0.15), 5242880,  # 30m, a Job
             workload_kind="Job", workload="report-28391234")
    s += pod("ops", "db-0", "n2", (2, 2.2), 20971520)                   # 40m
    # Only per-container series: the containers add up, the pause container does not.
    s += pod("ops", "multi-6f7b9d8c5-k2m4n", "n2", (0, 0.5), 1048576, container="a")
    s += pod("ops", "multi-6f7b9d8c5-k2m4n", "n2", (0, 0.25), 2097152, container="b")
    s += pod("ops", "multi-6f7b9d8c5-k2m4n", "n2", (0, 0.05), 524288, container="POD")
    # Older than --stale-after (5 m): not listed.
    s.append(ser("container_cpu_usage_seconds_total",
                 pair(t0 - 400000, t1 - 400000, 0, 1), namespace="shop", pod="gone-0",
                 container="", node="n1"))
    write(base, s)
    return t1


@pytest.fixture
def cluster(server_factory):
    _, base, _ = server_factory()
    t1 = load_cluster(base)
    return base, t1


# ---- nodes --------------------------------------------------------------------------

def test_node_figures_are_exact(cluster):
    base, t1 = cluster
    n = get(base, "/api/nodes/n1")
    assert n["node_name"] == "n1" and n["cluster"] == "c1"
    # (2 + 0.5 + 0.5) s of CPU in 5 s, idle and iowait excluded.
    assert n["cpu_millicores"] == 600 and n["cpu"] == "600m"
    assert n["memory_bytes"] == 2716020736 and n["memory"] == "2.53 GB"
    assert n["memory_total_bytes"] == 8589934592 and n["memory_total"] == "8.00 GB"
    assert n["disk_io"] == {
        "read_bytes": 61440, "write_bytes": 102400,
        "read_bytes_per_second": 12288.0, "write_bytes_per_second": 20480.0,
        "read_bytes_total": 1061440, "write_bytes_total": 2102400,
        "read": "12.0 KB/s", "write": "20.0 KB/s",
    }
    assert n["network_io"] == {  # lo excluded
        "bytes_recv": 512000, "bytes_sent": 25600,
        "bytes_recv_per_second": 102400.0, "bytes_sent_per_second": 5120.0,
        "bytes_recv_total": 5512000, "bytes_sent_total": 3025600,
        "recv": "100.0 KB/s", "sent": "5.0 KB/s",
    }
    assert n["timestamp"] == rfc3339(t1)
    assert n["pod_count"] == 5


def test_nodes_list_and_instance_fallback(cluster):
    base, _ = cluster
    doc = get(base, "/api/nodes")
    assert doc["count"] == 2
    assert [n["node_name"] for n in doc["nodes"]] == ["10.0.0.5", "n1"]
    nodes = by(doc["nodes"], "node_name")
    assert nodes["n1"]["cpu_millicores"] == 600 and nodes["n1"]["pod_count"] == 5
    ne = nodes["10.0.0.5"]
    assert ne["cpu_millicores"] == 200 and ne["cpu"] == "200m"
    assert ne["memory_bytes"] == 1073741824 and ne["memory"] == "1.00 GB"
    assert ne["cluster"] is None and ne["pod_count"] == 0
    assert ne["disk_io"]["read_bytes"] is None and ne["network_io"]["bytes_recv"] is None
    assert get(base, "/api/nodes/10.0.0.5")["memory_bytes"] == 1073741824
    assert isinstance(doc["timestamp"], str) and doc["timestamp"].endswith("Z")


def test_node_pods(cluster):
    base, _ = cluster
    doc = get(base, "/api/nodes/n1/pods")
    assert doc["node_name"] == "n1" and doc["count"] == 5
    assert {p["pod_name"] for p in doc["pods"]} == {
        "checkout-a", "db-0", "report-28391234-zt7xq", "web-7d4f9c6b8d-p5m7z",
        "web-7d4f9c6b8d-x2k9q"}
    assert all(p["namespace"] == "shop" and p["node_name"] == "n1" for p in doc["pods"])
    assert get(base, "/api/nodes/10.0.0.5/pods") == {"node_name": "10.0.0.5", "pods": [],
                                                     "count": 0}


def test_pods_of_a_node_known_only_through_its_pods(cluster):
    """n2 has no node series, only pods whose series say node="n2" (cgroup series), or
    JSON-posted pods naming it: its pods are answered; a node nothing names is 404."""
    base, _ = cluster
    doc = get(base, "/api/nodes/n2/pods")
    assert doc["node_name"] == "n2" and doc["count"] == 2
    assert {p["pod_name"] for p in doc["pods"]} == {"db-0", "multi-6f7b9d8c5-k2m4n"}
    assert post_json(base, "/api/namespaces/j/pods/solo/metrics",
                     {"node_name": "json-only", "cpu_millicores": 5})[0] == 204
    doc = get(base, "/api/nodes/json-only/pods")
    assert [(p["pod_name"], p["namespace"]) for p in doc["pods"]] == [("solo", "j")]
    assert error_of(base, "/api/nodes/nobody/pods", 404) == {"error": 'node "nobody" not found'}


# ---- pods ---------------------------------------------------------------------------

def test_pod_figures_prefer_the_pod_cgroup(cluster):
    base, t1 = cluster
    p = get(base, "/api/pods/web-7d4f9c6b8d-x2k9q")
    assert (p["pod_name"], p["namespace"], p["node_name"], p["deployment"], p["cluster"]) == \
        ("web-7d4f9c6b8d-x2k9q", "shop", "n1", "web", "c1")
    assert p["cpu_millicores"] == 150 and p["cpu"] == "150m"
    assert p["memory_bytes"] == 157286400 and p["memory"] == "150.00 MB"
    assert p["disk_io"] == {
        "read_bytes": 40960, "write_bytes": 20480,
        "read_bytes_per_second": 8192.0, "write_bytes_per_second": 4096.0,
        "read_bytes_total": 40960, "write_bytes_total": 21480,
        "read": "8.0 KB/s", "write": "4.0 KB/s",
    }
    assert p["network_io"] == {
        "bytes_recv": 102400, "bytes_sent": 51200,
        "bytes_recv_per_second": 20480.0, "bytes_sent_per_second": 10240.0,
        "bytes_recv_total": 102400, "bytes_sent_total": 51200,
        "recv": "20.0 KB/s", "sent": "10.0 KB/s",
    }
    assert p["timestamp"] == rfc3339(t1)
    assert "memory_total_bytes" not in p


def test_pod_of_containers_only_sums_them_without_pause(cluster):
    base, _ = cluster
    p = get(base, "/api/pods/multi-6f7b9d8c5-k2m4n")
    assert p["cpu_millicores"] == 150  # (0.5 + 0.25) s in 5 s; "POD" not added
    assert p["memory_bytes"] == 3145728 and p["memory"] == "3.00 MB"
    assert p["deployment"] == "multi" and p["node_name"] == "n2"


def test_pods_list(cluster):
    base, _ = cluster
    doc = get(base, "/api/pods")
    assert doc["count"] == 7 == len(doc["pods"])
    # Sorted by namespace, then name; the stale pod is not there.
    assert [(p["namespace"], p["pod_name"]) for p in doc["pods"]] == [
        ("ops", "db-0"), ("ops", "multi-6f7b9d8c5-k2m4n"),
        ("shop", "checkout-a"), ("shop", "db-0"), ("shop", "report-28391234-zt7xq"),
        ("shop", "web-7d4f9c6b8d-p5m7z"), ("shop", "web-7d4f9c6b8d-x2k9q")]
    cpu = {(p["namespace"], p["pod_name"]): p["cpu_millicores"] for p in doc["pods"]}
    assert cpu == {("ops", "db-0"): 40, ("ops", "multi-6f7b9d8c5-k2m4n"): 150,
                   ("shop", "checkout-a"): 20, ("shop", "db-0"): 100,
                   ("shop", "report-28391234-zt7xq"): 30,
                   ("shop", "web-7d4f9c6b8d-p5m7z"): 50, ("shop", "web-7d4f9c6b8d-x2k9q"): 150}
    assert get(base, "/api/pods?namespace=ops")["count"] == 2


def test_deployment_identity(cluster):
    base, _ = cluster
    dep = {(p["namespace"], p["pod_name"]): p["deployment"]
           for p in get(base, "/api/pods")["pods"]}
    assert dep[("shop", "web-7d4f9c6b8d-x2k9q")] == "web"     # ReplicaSet name
    assert dep[("shop", "web-7d4f9c6b8d-p5m7z")] == "web"
    assert dep[("shop", "checkout-a")] == "checkout"          # workload labels
    assert dep[("shop", "db-0")] is None                      # StatefulSet-like
    assert dep[("ops", "db-0")] is None
    assert dep[("shop", "report-28391234-zt7xq")] is None     # workload_kind="Job"
    assert dep[("ops", "multi-6f7b9d8c5-k2m4n")] == "multi"


def test_pod_in_two_namespaces_is_409_until_namespace_given(cluster):
    base, _ = cluster
    doc = error_of(base, "/api/pods/db-0", 409)
    assert doc["namespaces"] == ["ops", "shop"]
    assert "ops" in doc["error"] and "shop" in doc["error"]
    assert get(base, "/api/pods/db-0?namespace=shop")["cpu_millicores"] == 100
    p = get(base, "/api/pods/db-0?namespace=ops")
    assert (p["namespace"], p["cpu_millicores"], p["memory_bytes"]) == ("ops", 40, 20971520)
    assert error_of(base, "/api/pods/db-0?namespace=nope", 404)["error"] == \
        'pod "db-0" not found in namespace "nope"'
    error_of(base, "/api/pods/db-0/timeseries?window=300", 409)
    assert get(base, "/api/pods/db-0/timeseries?namespace=ops&window=300")["namespace"] == "ops"


def test_identity_edge_cases(server_factory):
    _, base, _ = server_factory()
    t1 = (now_ms() - 30000) // 1000 * 1000
    t0 = t1 - G
    write(base, [
        # A counter that went down restarted from zero: 0.5 s of CPU in 5 s.
        ser("node_cpu_seconds_total", pair(t0, t1, 100, 0.5), node="reset", cpu="0",
            mode="user"),
        ser("node_cpu_seconds_total", pair(t0, t1, 0, 1), instance="[fd00::5]:9100",
            cpu="0", mode="user"),
        ser("node_cpu_seconds_total", pair(t0, t1, 0, 1), instance="plainhost", cpu="0",
            mode="user"),
        # The node label on only one of a pod's series is enough.
        ser("container_cpu_usage_seconds_total", pair(t0, t1, 0, 1), namespace="e",
            pod="p", container=""),
        ser("container_memory_working_set_bytes", pair(t0, t1, 5, 5), namespace="e",
            pod="p", container="", node="late"),
    ])
    assert [n["node_name"] for n in get(base, "/api/nodes")["nodes"]] == \
        ["fd00::5", "plainhost", "reset"]
    assert get(base, "/api/nodes/reset")["cpu_millicores"] == 100
    assert get(base, "/api/nodes/fd00::5")["cpu_millicores"] == 200
    p = get(base, "/api/pods/p")
    assert (p["node_name"], p["cpu_millicores"], p["memory_bytes"], p["memory"]) == \
        ("late", 200, 5, "5 B")


def test_deployment_labels_on_some_of_a_pods_series(server_factory):
    """A pod measured by cAdvisor (no workload labels, a name without the ReplicaSet
    convention) and also posted by the prototype's collector with its deployment:
    the pod, the deployment list and the deployment detail must agree."""
    _, base, _ = server_factory()
    t1 = (now_ms() - 30000) // 1000 * 1000
    t0 = t1 - G
    labels = dict(namespace="m", pod="api-main", container="", node="n1")
    write(base, [ser("container_cpu_usage_seconds_total", pair(t0, t1, 0, 1), **labels),
                 ser("container_memory_working_set_bytes", pair(t0, t1, 5, 5), **labels)])
    st, _, b = post_json(base, "/api/namespaces/m/pods/api-main/metrics",
                         {"cpu_millicores": 50, "deployment": "api", "node_name": "n1",
                          "timestamp": t1 / 1000})
    assert st == 204, b
    pod = get(base, "/api/pods/api-main")
    assert pod["cpu_millicores"] == 200  # cAdvisor's counters win over the JSON gauge
    assert pod["deployment"] == "api"
    deps = get(base, "/api/namespaces/m/deployments")
    assert [d["deployment"] for d in deps["deployments"]] == ["api"]
    assert get(base, "/api/namespaces/m")["deployment_count"] == 1
    d = get(base, "/api/namespaces/m/deployments/api")
    assert (d["replicas"], d["cpu_millicores"], d["memory_bytes"]) == (1, 200, 5)


# ---- namespaces and deployments ---------------------------------------------------------

def test_namespaces_sum_their_pods(cluster):
    base, t1 = cluster
    doc = get(base, "/api/namespaces")
    assert doc["count"] == 2 and [n["namespace"] for n in doc["namespaces"]] == ["ops", "shop"]
    shop = get(base, "/api/namespaces/shop")
    assert shop == by(doc["namespaces"], "namespace")["shop"]
    assert shop["pod_count"] == 5 and shop["deployment_count"] == 2
    assert shop["cpu_millicores"] == 350 and shop["cpu"] == "350m"
    assert shop["memory_bytes"] == 330301440 and shop["memory"] == "315.00 MB"
    assert shop["disk_io"]["read_bytes"] == 51200
    assert shop["disk_io"]["read_bytes_per_second"] == 10240.0
    assert shop["disk_io"]["read_bytes_total"] == 51200
    assert shop["disk_io"]["write_bytes"] == 20480
    assert shop["network_io"]["bytes_recv_per_second"] == 20480.0
    assert shop["timestamp"] == rfc3339(t1)
    ops = get(base, "/api/namespaces/ops")
    assert (ops["pod_count"], ops["deployment_count"], ops["cpu_millicores"],
            ops["memory_bytes"]) == (2, 1, 190, 24117248)


def test_namespace_pods(cluster):
    base, _ = cluster
    doc = get(base, "/api/namespaces/ops/pods")
    assert doc["namespace"] == "ops" and doc["count"] == 2
    assert [p["pod_name"] for p in doc["pods"]] == ["db-0", "multi-6f7b9d8c5-k2m4n"]


def test_deployments(cluster):
    base, _ = cluster
    doc = get(base, "/api/namespaces/shop/deployments")
    assert doc["namespace"] == "shop" and doc["count"] == 2
    deps = by(doc["deployments"], "deployment")
    assert set(deps) == {"web", "checkout"}
    web = get(base, "/api/namespaces/shop/deployments/web")
    assert web == deps["web"]
    assert web["namespace"] == "shop" and web["replicas"] == 2 and web["pod_count"] == 2
    assert web["cpu_millicores"] == 200 and web["cpu"] == "200m"
    assert web["memory_bytes"] == 262144000 and web["memory"] == "250.00 MB"
    assert web["disk_io"]["read_bytes"] == 51200
    c = deps["checkout"]
    assert (c["replicas"], c["cpu_millicores"], c["memory_bytes"]) == (1, 20, 10485760)
    pods = get(base, "/api/namespaces/shop/deployments/web/pods")
    assert (pods["namespace"], pods["deployment"], pods["count"]) == ("shop", "web", 2)
    assert [p["pod_name"] for p in pods["pods"]] == ["web-7d4f9c6b8d-p5m7z",
                                                     "web-7d4f9c6b8d-x2k9q"]


# ---- errors, CORS, methods --------------------------------------------------------------

def test_unknown_objects_are_404_json(cluster):
    base, _ = cluster
    cases = {
        "/api/nodes/nope": 'node "nope" not found',
        "/api/nodes/nope/pods": 'node "nope" not found',
        "/api/nodes/nope/timeseries?window=60": 'node "nope" not found',
        "/api/pods/nope": 'pod "nope" not found',
        "/api/pods/nope/timeseries?window=60": 'pod "nope" not found',
        "/api/namespaces/nope": 'namespace "nope" not found',
        "/api/namespaces/nope/pods": 'namespace "nope" not found',
        "/api/namespaces/nope/deployments": 'namespace "nope" not found',
        "/api/namespaces/nope/timeseries?window=60": 'namespace "nope" not found',
        "/api/namespaces/shop/deployments/nope": 'deployment "nope" not found in namespace '
                                                 '"shop"',
        "/api/namespaces/shop/deployments/nope/pods": 'deployment "nope" not found in '
                                                      'namespace "shop"',
        "/api/deployments/nope/timeseries?window=60": 'deployment "nope" not found',
        "/api/pods/gone-0": 'pod "gone-0" not found',  # stale
    }
    for path, msg in cases.items():
        assert error_of(base, path, 404) == {"error": msg}, path
    assert error_of(base, "/api/nothing", 404)["error"].startswith("no such endpoint")


def test_bad_window_and_step_are_400(cluster):
    base, _ = cluster
    for q in ("window=abc", "window=-5", "window=0", "window=", "window=nan",
              "window=1296001",             # over the 15 d retention
              "window=60&step=0", "window=60&step=-1", "window=60&step=x",
              "window=60&step=120",         # step longer than window
              "window=86400&step=1"):       # too many points
        for path in ("/api/nodes/n1/timeseries", "/api/namespaces/shop/timeseries",
                     "/api/pods/web-7d4f9c6b8d-x2k9q/timeseries",
                     "/api/deployments/web/timeseries",
                     # The parameters are checked first: a bad one is a 400 even for a
                     # name that does not exist or is ambiguous.
                     "/api/nodes/nope/timeseries", "/api/pods/nope/timeseries",
                     "/api/deployments/nope/timeseries"):
            error_of(base, f"{path}?{q}", 400)
    assert "15d" in error_of(base, "/api/nodes/n1/timeseries?window=1296001",
                                   400)["error"]
    get(base, "/api/nodes/n1/timeseries?window=1296000")  # exactly the retention
    for q in ("window=5x", "window=1m5h", "window=-5m", "window=15d1ms", "window=60&step=2m",
              "window=1h&step=0s"):
        err = error_of(base, f"/api/nodes/n1/timeseries?{q}", 400)["error"]
        assert "window" in err or "step" in err, (q, err)
    assert "5m, 1h30m, 15d" in error_of(base, "/api/nodes/n1/timeseries?window=5x", 400)["error"]


def test_window_and_step_take_durations_like_the_flags(cluster):
    """window and step are seconds or durations with units, as the settings take them
    (the same parser): 300, 5m, 1h30m, 15d, 0.5, 500ms."""
    base, _ = cluster
    for q, window, step in (("window=300", 300, None), ("window=5m", 300, None),
                            ("window=1h30m", 5400, None), ("window=15d", 1296000, None),
                            ("window=2m&step=10s", 120, 10), ("window=90&step=1.5", 90, 1.5),
                            ("window=1m&step=500ms", 60, 0.5)):
        doc = get(base, f"/api/nodes/n1/timeseries?{q}")
        assert doc["window"] == window, (q, doc["window"])
        if step is not None:
            assert doc["step"] == step, (q, doc["step"])
    pts = get(base, "/api/nodes/n1/timeseries?window=5m&step=5s")["points"]
    assert pts == get(base, "/api/nodes/n1/timeseries?window=300&step=5")["points"]


def test_wrong_method_is_405_json(cluster):
    base, _ = cluster
    for method, path, allow in (("DELETE", "/api/nodes", "GET"),
                                ("POST", "/api/nodes", "GET"),
                                ("PUT", "/api/pods/db-0", "GET"),
                                ("DELETE", "/api/namespaces/shop/deployments/web", "GET"),
                                ("GET", "/api/nodes/n1/metrics", "POST"),
                                ("GET", "/api/v1/write", "POST"),
                                ("POST", "/", "GET")):
        st, h, b = http_request(base + path, method)
        assert st == 405, (method, path, st, b)
        assert h.get("Allow") == allow, (method, path, h)
        assert h.get("Access-Control-Allow-Origin") == "*"
        assert "error" in json.loads(b)


def test_cors_everywhere_and_preflight(cluster):
    base, _ = cluster
    for path in ("/", "/healthz", "/readyz", "/metrics", "/api/nodes", "/api/nodes/nope",
                 "/api/nodes/n1/timeseries?window=abc"):
        _, h, _ = http_request(base + path)
        assert h.get("Access-Control-Allow-Origin") == "*", path
    st, h, b = http_request(base + "/api/nodes", "OPTIONS",
                            headers={"Origin": "http://example.org",
                                     "Access-Control-Request-Method": "GET"})
    assert st == 204 and b == b""
    assert h["Access-Control-Allow-Origin"] == "*"
    assert h["Access-Control-Allow-Methods"] == "GET, OPTIONS"
    assert "Content-Type" in h["Access-Control-Allow-Headers"]
    st, h, _ = http_request(base + "/api/namespaces/shop/pods/x/metrics", "OPTIONS")
    assert st == 204 and h["Access-Control-Allow-Methods"] == "POST, OPTIONS"


# ---- health and /metrics --------------------------------------------------------------

def test_health_document_probes_and_metrics(server_factory):
    _, base, data = server_factory()
    doc = get(base, "/")
    version = run("--version").stdout.split()[1]
    assert doc["status"] == "ok" and doc["service"] == "kmon" and doc["version"] == version
    assert doc["series"] == 0 and doc["samples_appended"] == 0 and doc["last_ingest"] is None
    assert doc["uptime_seconds"] >= 0 and doc["data_dir"] == data
    t = now_ms() - 10000
    write(base, [ser("node_cpu_seconds_total", [(t - G, 1), (t, 2)], node="h", cpu="0",
                     mode="user"),
                 ser("node_memory_MemTotal_bytes", [(t, 100)], node="h")])
    doc = get(base, "/")
    assert doc["series"] == 2 and doc["samples_appended"] == 3
    last = datetime.strptime(doc["last_ingest"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert abs(last.replace(tzinfo=timezone.utc).timestamp() - time.time()) < 30
    st, h, b = http_request(base + "/healthz")
    assert (st, b) == (200, b"ok\n")
    st, h, b = http_request(base + "/readyz")
    assert (st, b) == (200, b"ready\n")
    m = scrape(base)
    assert value(m, "kmon_server_ready") == 1
    assert value(m, "kmon_ingest_samples_received_total", protocol="remote_write") == 3
    assert value(m, "kmon_ingest_requests_total", protocol="remote_write") == 1


def test_admin_flush_only_when_enabled(server_factory):
    _, base, _ = server_factory()
    assert http_request(base + "/api/v1/admin/flush", "POST")[0] == 404
    _, base, _ = server_factory("--enable-admin-api")
    t = now_ms() - 10000
    write(base, [ser("node_memory_MemTotal_bytes", [(t, 100)], node="h")])
    st, _, b = http_request(base + "/api/v1/admin/flush", "POST")
    assert st == 204, b


# ---- JSON POST endpoints ----------------------------------------------------------------

def test_json_node_and_pod_posts(server_factory):
    _, base, _ = server_factory()
    t1 = (now_ms() - 30000) // 1000 * 1000
    t0 = t1 - G
    node = {"node_name": "jnode", "cpu_millicores": 150, "memory_bytes": 2716020736,
            "disk_io": {"read_bytes": 0, "write_bytes": 253952},
            "network_io": {"bytes_recv": 39274, "bytes_sent": 162132}}
    st, h, b = post_json(base, "/api/nodes/jnode/metrics", dict(node, timestamp=rfc3339(t0)))
    assert (st, b) == (204, b""), b
    assert h.get("Access-Control-Allow-Origin") == "*"
    n = get(base, "/api/nodes/jnode")
    # One sample: the interval's bytes, no rate yet.
    assert n["cpu_millicores"] == 150 and n["cpu"] == "150m"
    assert n["memory_bytes"] == 2716020736 and n["memory"] == "2.53 GB"
    assert n["disk_io"]["write_bytes"] == 253952
    assert n["disk_io"]["write_bytes_per_second"] is None
    node2 = dict(node, cpu_millicores=250, disk_io={"read_bytes": 51200, "write_bytes": 253952},
                 timestamp=t1 / 1000)  # seconds since the epoch work too
    assert post_json(base, "/api/nodes/jnode/metrics", node2)[0] == 204
    n = get(base, "/api/nodes/jnode")
    assert n["cluster"] == "default" and n["timestamp"] == rfc3339(t1)
    assert n["cpu_millicores"] == 250 and n["cpu"] == "250m"
    assert n["disk_io"] == {
        "read_bytes": 51200, "write_bytes": 253952,
        "read_bytes_per_second": 10240.0, "write_bytes_per_second": 50790.4,
        "read_bytes_total": None, "write_bytes_total": None,
        "read": "10.0 KB/s", "write": "49.6 KB/s",
    }
    assert n["network_io"]["bytes_recv"] == 39274
    assert n["network_io"]["bytes_recv_per_second"] == pytest.approx(7854.8)
    assert n["network_io"]["bytes_sent_per_second"] == pytest.approx(32426.4)
    assert "memory_total_bytes" not in n

    pod = {"node_name": "jnode", "namespace": "jns", "pod_name": "jweb-1",
           "deployment": "jweb", "cluster": "prod", "cpu_millicores": 120,
           "memory_bytes": 268435456, "timestamp": rfc3339(t1)}
    assert post_json(base, "/api/namespaces/jns/pods/jweb-1/metrics", pod)[0] == 204
    # No deployment in the body: the ReplicaSet name decides.
    assert post_json(base, "/api/namespaces/jns/pods/api-5c8b7f6d4-q8w2t/metrics",
                     {"cpu_millicores": 80, "memory_bytes": 134217728,
                      "node_name": "jnode"})[0] == 204
    p = get(base, "/api/pods/jweb-1")
    assert (p["namespace"], p["node_name"], p["deployment"], p["cluster"]) == \
        ("jns", "jnode", "jweb", "prod")
    assert (p["cpu_millicores"], p["memory_bytes"], p["memory"]) == \
        (120, 268435456, "256.00 MB")
    assert get(base, "/api/pods/api-5c8b7f6d4-q8w2t")["deployment"] == "api"
    d = get(base, "/api/namespaces/jns/deployments/jweb")
    assert (d["replicas"], d["cpu_millicores"]) == (1, 120)
    ns = get(base, "/api/namespaces/jns")
    assert (ns["pod_count"], ns["deployment_count"], ns["cpu_millicores"],
            ns["memory_bytes"]) == (2, 2, 200, 402653184)
    assert get(base, "/api/nodes/jnode")["pod_count"] == 2
    assert get(base, "/api/nodes/jnode/pods")["count"] == 2


def test_json_posts_refuse_bad_bodies(server_factory):
    _, base, _ = server_factory()
    node_path = "/api/nodes/jnode/metrics"
    pod_path = "/api/namespaces/jns/pods/p1/metrics"
    bad = [
        (node_path, b'{"cpu_millicores": 150'),                  # malformed
        (node_path, b""),                                         # empty
        (node_path, b"[1, 2]"),                                   # not an object
        (node_path, {}),                                          # no figures
        (node_path, {"cpu_millicores": "150"}),                   # wrong type
        (node_path, {"cpu_millicores": True}),
        (node_path, {"cpu_millicores": -1}),                      # negative
        (node_path, {"memory_bytes": -2716020736}),
        (node_path, {"disk_io": {"read_bytes": -5, "write_bytes": 0}}),
        (node_path, {"disk_io": [0, 0]}),
        (node_path, {"network_io": {"bytes_recv": "x"}}),
        (node_path, {"node_name": 7, "cpu_millicores": 1}),
        (node_path, {"node_name": "other", "cpu_millicores": 1}),  # contradicts the path
        (node_path, {"cpu_millicores": 1, "timestamp": "yesterday"}),
        (node_path, b'{"cpu_millicores": 1, "cpu_millicores": 2}'),  # duplicate key
        (pod_path, {"pod_name": "p2", "cpu_millicores": 1}),
        (pod_path, {"namespace": "other", "cpu_millicores": 1}),
        (pod_path, {"memory_bytes": -1}),
    ]
    for path, body in bad:
        st, h, b = post_json(base, path, body)
        assert st == 400, (path, body, st, b)
        assert h.get("Content-Type") == "application/json"
        assert json.loads(b)["error"], b
    assert get(base, "/api/nodes")["count"] == 0
    assert get(base, "/api/pods")["count"] == 0
    assert get(base, "/")["series"] == 0
    m = scrape(base)
    assert value(m, "kmon_ingest_requests_refused_total", protocol="json") == len(bad)


# ---- time series ------------------------------------------------------------------------

def load_series(base):
    """37 samples 5 s apart, from 200 s to 20 s ago on a 5 s grid: a node, two pods of
    deployment web in tsns, one pod of a deployment web in other."""
    end = now_ms() // G * G
    times = [end - 200000 + j * G for j in range(37)]
    nl = dict(node="ts-node", cluster="c1")
    s = [
        ser("node_cpu_seconds_total", [(t, 100 + j * 1.0) for j, t in enumerate(times)],
            cpu="0", mode="user", **nl),
        ser("node_cpu_seconds_total", [(t, 9000 + j * 4.0) for j, t in enumerate(times)],
            cpu="0", mode="idle", **nl),
        ser("node_memory_MemTotal_bytes", [(t, 4e9) for t in times], **nl),
        ser("node_memory_MemAvailable_bytes",
            [(t, 4e9 - (1e9 + j * 1e6)) for j, t in enumerate(times)], **nl),
        ser("node_disk_read_bytes_total", [(t, j * 1024) for j, t in enumerate(times)],
            device="sda", **nl),
        ser("node_network_receive_bytes_total", [(t, j * 5120) for j, t in enumerate(times)],
            device="eth0", **nl),
    ]
    for ns, pod, cpu_step, mem in (("tsns", "web-7d4f9c6b8d-bcdfg", 0.5, 1e8),
                                   ("tsns", "web-7d4f9c6b8d-hjklm", 0.25, 2e8),
                                   ("other", "web-5f6d7c8b9-nprst", 1.0, 5e7)):
        pl = dict(namespace=ns, pod=pod, container="", node="ts-node",
                  workload_kind="Deployment", workload="web")
        s.append(ser("container_cpu_usage_seconds_total",
                     [(t, j * cpu_step) for j, t in enumerate(times)], **pl))
        s.append(ser("container_memory_working_set_bytes",
                     [(t, mem + j * 1000) for j, t in enumerate(times)], **pl))
    write(base, s)
    return times


def ts_ms(stamp):
    return round(datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")
                 .replace(tzinfo=timezone.utc).timestamp() * 1000)


def test_node_timeseries_points_and_values(server_factory):
    _, base, _ = server_factory()
    times = load_series(base)
    doc = get(base, "/api/nodes/ts-node/timeseries?window=300&step=5")
    assert doc["node_name"] == "ts-node" and doc["window"] == 300 and doc["step"] == 5
    pts = doc["points"]
    assert doc["count"] == len(pts)
    # A point at every sample.
    assert [ts_ms(p["timestamp"]) for p in pts[:37]] == times
    assert pts[0]["cpu_millicores"] is None  # one sample: no rate yet
    assert pts[0]["disk_io"]["read_bytes"] is None
    for p in pts[1:37]:
        assert p["cpu_millicores"] == 200  # 1 s of user CPU per 5 s, idle excluded
        assert p["disk_io"] == {"read_bytes": 1024, "write_bytes": None,
                                "read_bytes_per_second": 204.8,
                                "write_bytes_per_second": None,
                                "read": "205 B/s", "write": None}
        assert p["network_io"]["bytes_recv"] == 5120
        assert p["network_io"]["bytes_recv_per_second"] == 1024.0
        assert p["network_io"]["bytes_sent"] is None
    assert [p["memory_bytes"] for p in pts[:37]] == [1000000000 + j * 1000000
                                                     for j in range(37)]
    # read_bytes is the bytes of each step: over the window they add up to the
    # counter's increase (36 intervals of 1024), and a step after the last sample,
    # when there is a point for it at all, has no rate of its own.
    assert sum(p["disk_io"]["read_bytes"] or 0 for p in pts) == 36 * 1024
    for p in pts[37:]:
        assert ts_ms(p["timestamp"]) > times[-1]
        assert (p["cpu_millicores"], p["disk_io"]["read_bytes"],
                p["network_io"]["bytes_recv"]) == (None, None, None), p


def test_timeseries_points_are_the_rates_of_their_steps(server_factory):
    """With step = the sample spacing each point is that step's figure, as the
    prototype's time series returned every collected sample: alternating increases
    must not come back averaged."""
    _, base, _ = server_factory()
    end = now_ms() // G * G
    times = [end - 100000 + j * G for j in range(17)]
    cpu, disk = [0.0], [0]
    for j in range(1, 17):
        cpu.append(cpu[-1] + (0.5 if j % 2 else 1.5))       # 100m, 300m, 100m, ...
        disk.append(disk[-1] + (5120 if j % 2 else 15360))  # 1024 B/s, 3072 B/s, ...
    write(base, [
        ser("node_cpu_seconds_total", list(zip(times, cpu)), node="alt", cpu="0",
            mode="user"),
        ser("node_disk_read_bytes_total", list(zip(times, disk)), node="alt", device="sda"),
    ])
    assert get(base, "/api/nodes/alt")["cpu_millicores"] == 300  # the last interval
    pts = get(base, "/api/nodes/alt/timeseries?window=120&step=5")["points"]
    # No gauge: the first sample alone makes no point.
    assert [ts_ms(p["timestamp"]) for p in pts[:16]] == times[1:]
    assert [p["cpu_millicores"] for p in pts[:16]] == [100, 300] * 8
    assert [p["disk_io"]["read_bytes"] for p in pts[:16]] == [5120, 15360] * 8
    # Ten-second steps: each covers one 100m and one 300m interval.
    pts = get(base, "/api/nodes/alt/timeseries?window=120&step=10")["points"]
    inside = [p["cpu_millicores"] for p in pts
              if times[0] + 10000 <= ts_ms(p["timestamp"]) <= times[-1]]
    assert len(inside) >= 7 and set(inside) == {200}


def test_default_step_keeps_points_under_500(server_factory):
    _, base, _ = server_factory("--out-of-order-window", "24h")
    times = load_series(base)
    doc = get(base, "/api/nodes/ts-node/timeseries?window=300")
    assert doc["step"] == 5  # the series' own spacing
    assert [ts_ms(p["timestamp"]) for p in doc["points"][:37]] == times
    # A node sampled every minute for the last 23 hours.
    end = now_ms() // 60000 * 60000
    times = [end - k * 60000 for k in range(23 * 60, 0, -1)]
    nl = dict(node="long")
    write(base, [
        ser("node_cpu_seconds_total", [(t, j * 6.0) for j, t in enumerate(times)],
            cpu="0", mode="user", **nl),
        ser("node_memory_MemTotal_bytes", [(t, 2e9) for t in times], **nl),
        ser("node_memory_MemAvailable_bytes", [(t, 1e9) for t in times], **nl),
    ])
    assert get(base, "/")["samples_appended"] == 12 * 37 + 3 * len(times)
    doc = get(base, "/api/nodes/long/timeseries")  # window defaults to an hour
    assert doc["window"] == 3600 and doc["step"] == 60 and 59 <= doc["count"] <= 60
    assert {p["cpu_millicores"] for p in doc["points"]} == {100}
    assert {p["memory_bytes"] for p in doc["points"]} == {1000000000}
    for window, step in ((86400, 173), (604800, 1210), (1296000, 2592)):
        doc = get(base, f"/api/nodes/long/timeseries?window={window}")
        assert (doc["window"], doc["step"]) == (window, step)
        assert window / step <= 500
        pts = doc["points"]
        assert len(pts) == doc["count"] <= 500
        # Every step that the 23 hours of data cover has a point.
        covered = (23 * 3600 - step) // step
        assert len(pts) >= min(covered, window // step) - 1, (window, len(pts))
        # The first step may hold the first sample alone (no rate yet).
        assert {p["cpu_millicores"] for p in pts[1:]} == {100}
        assert {p["memory_bytes"] for p in pts} == {1000000000}
        gaps = {ts_ms(b["timestamp"]) - ts_ms(a["timestamp"]) for a, b in zip(pts, pts[1:])}
        assert gaps == {step * 1000}


def test_pod_namespace_deployment_timeseries(server_factory):
    _, base, _ = server_factory()
    times = load_series(base)
    p = get(base, "/api/pods/web-7d4f9c6b8d-bcdfg/timeseries?namespace=tsns&window=300&step=5")
    assert (p["pod_name"], p["namespace"]) == ("web-7d4f9c6b8d-bcdfg", "tsns")
    assert [ts_ms(x["timestamp"]) for x in p["points"][:37]] == times
    assert [x["cpu_millicores"] for x in p["points"][:37]] == [None] + [100] * 36
    assert p["points"][5]["memory_bytes"] == 100005000
    # Without ?namespace= a pod name found once is enough.
    assert get(base, "/api/pods/web-7d4f9c6b8d-bcdfg/timeseries?window=300&step=5") == p

    n = get(base, "/api/namespaces/tsns/timeseries?window=300&step=5")
    assert n["namespace"] == "tsns"
    assert [x["cpu_millicores"] for x in n["points"][:37]] == [None] + [150] * 36
    assert [x["memory_bytes"] for x in n["points"][:37]] == \
        [300000000 + j * 2000 for j in range(37)]

    doc = error_of(base, "/api/deployments/web/timeseries?window=300", 409)
    assert doc["namespaces"] == ["other", "tsns"]
    d = get(base, "/api/deployments/web/timeseries?namespace=tsns&window=300&step=5")
    assert d["deployment"] == "web" and d["namespace"] == "tsns"
    assert d["points"] == n["points"]
    o = get(base, "/api/deployments/web/timeseries?namespace=other&window=300&step=5")
    assert [x["cpu_millicores"] for x in o["points"][:37]] == [None] + [200] * 36
    assert ts_ms(o["points"][0]["timestamp"]) == times[0]


def test_timeseries_points_have_human_readable_companions(server_factory):
    """Every raw number has its human-readable companion, in time series too (the
    same keys as the current figures: cpu, memory, read/write, recv/sent)."""
    _, base, _ = server_factory()
    load_series(base)
    pts = get(base, "/api/nodes/ts-node/timeseries?window=300&step=5")["points"]
    p = pts[1]
    assert (p["cpu_millicores"], p["memory_bytes"]) == (200, 1001000000)
    assert p.get("cpu") == "200m"
    assert p.get("memory") == "954.63 MB"
    assert p["disk_io"].get("read") == "205 B/s"
    assert p["network_io"].get("recv") == "1.0 KB/s"



def test_series_renamed_by_the_api_count_once(server_factory):
    """A pod first named from the kubelet's log layout, then by the API (the same series
    gaining workload_kind, workload, qos_class, label_*): its current figures are the
    newest series', not the sum of both while the old one is not yet stale."""
    _, base, _ = server_factory()
    t1 = (now_ms() - 40000) // 1000 * 1000
    ident = dict(namespace="m", pod="api-5f6d7c8b9-nprst", container="", node="n1",
                 pod_uid="1b4e28ba-2fa1-11d2-883f-0016d3cca427")
    old = [(t1 - 2 * G, 0), (t1 - G, 1)]                         # 200m, until 45 s ago
    new = [(t1 + 30000, 10), (t1 + 30000 + G, 12)]                # 400m, 5 s ago
    named = dict(ident, workload_kind="Deployment", workload="api", qos_class="Burstable",
                 label_app="api")
    write(base, [ser("container_cpu_usage_seconds_total", old, **ident),
                 ser("container_memory_working_set_bytes", [(t, 100e6) for t, _ in old],
                     **ident),
                 ser("container_cpu_usage_seconds_total", new, **named),
                 ser("container_memory_working_set_bytes", [(t, 300e6) for t, _ in new],
                     **named)])
    pod = get(base, "/api/pods/api-5f6d7c8b9-nprst")
    assert pod["cpu_millicores"] == 400
    assert pod["memory_bytes"] == 300000000
    assert pod["deployment"] == "api"
    ns = get(base, "/api/namespaces/m")
    assert ns["memory_bytes"] == 300000000


def test_first_reading_shows_totals_not_rates(server_factory):
    """One reading of a counter gives its total; the interval's bytes, the rate and the
    CPU need two. Gauges (memory) are there from the first reading."""
    _, base, _ = server_factory()
    t = (now_ms() - 20000) // 1000 * 1000
    n = dict(node="fresh", cluster="c1")
    p = dict(namespace="new", pod="first-0", container="", node="fresh", cluster="c1")
    write(base, [
        ser("node_cpu_seconds_total", [(t, 100)], cpu="0", mode="user", **n),
        ser("node_memory_MemTotal_bytes", [(t, 8e9)], **n),
        ser("node_memory_MemAvailable_bytes", [(t, 6e9)], **n),
        ser("node_disk_read_bytes_total", [(t, 1000)], device="sda", **n),
        ser("node_disk_read_bytes_total", [(t, 24)], device="sdb", **n),
        ser("node_disk_written_bytes_total", [(t, 2000)], device="sda", **n),
        ser("node_network_receive_bytes_total", [(t, 5000)], device="eth0", **n),
        ser("node_network_receive_bytes_total", [(t, 99999)], device="lo", **n),
        ser("node_network_transmit_bytes_total", [(t, 3000)], device="eth0", **n),
        ser("container_cpu_usage_seconds_total", [(t, 3)], **p),
        ser("container_memory_working_set_bytes", [(t, 1048576)], **p),
        ser("container_fs_reads_bytes_total", [(t, 4096)], device="/dev/sda", **p),
        ser("container_network_receive_bytes_total", [(t, 700)], interface="eth0", **p),
        ser("container_network_transmit_bytes_total", [(t, 300)], interface="eth0", **p),
    ])
    node = get(base, "/api/nodes/fresh")
    assert node["cpu_millicores"] is None and node["memory_bytes"] == 2e9
    assert node["disk_io"] == {
        "read_bytes": None, "write_bytes": None,
        "read_bytes_per_second": None, "write_bytes_per_second": None,
        "read_bytes_total": 1024, "write_bytes_total": 2000, "read": None, "write": None}
    assert node["network_io"] == {
        "bytes_recv": None, "bytes_sent": None,
        "bytes_recv_per_second": None, "bytes_sent_per_second": None,
        "bytes_recv_total": 5000, "bytes_sent_total": 3000, "recv": None, "sent": None}
    assert get(base, "/api/nodes")["nodes"][0]["disk_io"]["read_bytes_total"] == 1024
    pod = get(base, "/api/pods/first-0")
    assert pod["cpu_millicores"] is None and pod["memory_bytes"] == 1048576
    assert pod["disk_io"]["read_bytes_total"] == 4096 and pod["disk_io"]["read_bytes"] is None
    assert pod["disk_io"]["write_bytes_total"] is None  # no series at all
    assert (pod["network_io"]["bytes_recv_total"], pod["network_io"]["bytes_sent_total"]) == \
        (700, 300)
    ns = get(base, "/api/namespaces/new")
    assert ns["network_io"]["bytes_recv_total"] == 700 and ns["network_io"]["bytes_recv"] is None
    # The second reading brings the rates; the totals go on.
    write(base, [ser("node_disk_read_bytes_total", [(t + G, 6000)], device="sda", **n),
                 ser("node_disk_read_bytes_total", [(t + G, 24)], device="sdb", **n)])
    d = get(base, "/api/nodes/fresh")["disk_io"]
    assert (d["read_bytes"], d["read_bytes_per_second"], d["read_bytes_total"]) == \
        (5000, 1000.0, 6024)


def test_docs_agree_with_the_code(server_factory):
    """What docs/api.md and the help texts say is what the code does: the probes' bodies,
    compact JSON on one line (the examples are pretty-printed, and say so), the I/O
    field names shared by the agent's snapshot and the server, `kmon tsdb inspect`
    taking its directory as an argument."""
    import os
    import re
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "api.md")) as f:
        doc = f.read()
    _, base, _ = server_factory()
    for path in ("healthz", "readyz"):
        said = re.search(r"\$ curl -s 'http://127\.0\.0\.1:5000/%s'\n([^\n]*)\n" % path, doc)
        assert said, path
        assert http_request(base + "/" + path)[2] == (said.group(1) + "\n").encode()
    assert "the server sends compact JSON" in doc
    body = http_request(base + "/api/nodes")[2]
    assert body.endswith(b"}\n") and body.count(b"\n") == 1 and b": " not in body

    write(base, [ser("node_network_receive_bytes_total", [(now_ms() - 5000, 1)],
                     device="eth0", node="d"),
                 ser("node_disk_read_bytes_total", [(now_ms() - 5000, 1)], device="sda",
                     node="d")])
    server = get(base, "/api/nodes/d")
    r = run("agent", "--once", "--interval", "100ms", "--format", "json", "--no-kubernetes",
            "--disable-collectors", "filesystem,pods")
    assert r.returncode == 0, r.stderr
    agent = json.loads(r.stdout)
    for key in ("disk_io", "network_io"):
        # The server adds the human-readable companions.
        human = {"read", "write", "recv", "sent"}
        assert set(agent[key]) == set(server[key]) - human, (key, agent[key], server[key])
        assert set(agent[key]) <= set(doc.split('"')), key
    assert "bytes_recv_per_second" in agent["network_io"]

    h = run("tsdb", "inspect", "--help")
    assert h.returncode == 0 and "kmon tsdb inspect [flags] DIR" in h.stdout
    assert "--data-dir" not in h.stdout
    assert "--data DIR" in run("server", "--help").stdout


def test_renamed_series_first_reading_does_not_hide_the_rate(server_factory):
    """The collection after the API names a pod has one reading of the renamed series:
    the pod's rates stay the older series' (not 0, not null) until the new one has
    two readings; the totals are either's."""
    _, base, _ = server_factory()
    t1 = (now_ms() - 20000) // 1000 * 1000
    ident = dict(namespace="m", pod="api-5f6d7c8b9-nprst", container="", node="n1")
    named = dict(ident, workload_kind="Deployment", workload="api")
    write(base, [ser("container_cpu_usage_seconds_total", [(t1 - G, 0), (t1, 1)], **ident),
                 ser("container_fs_reads_bytes_total", [(t1 - G, 0), (t1, 5000)], **ident),
                 ser("container_cpu_usage_seconds_total", [(t1 + G, 1.5)], **named),
                 ser("container_fs_reads_bytes_total", [(t1 + G, 6000)], **named)])
    pod = get(base, "/api/pods/api-5f6d7c8b9-nprst")
    assert pod["cpu_millicores"] == 200
    assert (pod["disk_io"]["read_bytes"], pod["disk_io"]["read_bytes_per_second"]) == \
        (5000, 1000.0)
    assert pod["disk_io"]["read_bytes_total"] == 5000
    write(base, [ser("container_cpu_usage_seconds_total", [(t1 + 2 * G, 2.5)], **named)])
    assert get(base, "/api/pods/api-5f6d7c8b9-nprst")["cpu_millicores"] == 200
    write(base, [ser("container_cpu_usage_seconds_total", [(t1 + 3 * G, 4.5)], **named)])
    assert get(base, "/api/pods/api-5f6d7c8b9-nprst")["cpu_millicores"] == 400
