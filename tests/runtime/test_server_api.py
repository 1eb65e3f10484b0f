"""The server's REST API (the prototype's endpoints, docs/api.md) against a real
`kmon server`: controlled series written with remote_write (rwlib) and the JSON POST
endpoints, then every GET checked for its figures (CPU rates, MemTotal - MemAvailable,
I/O rates, bytes and totals, sums over pods), identity rules (node / instance, pod,
deployment from workload labels or ReplicaSet names), errors (400, 404, 405, 409 as
JSON), CORS, health, /metrics and the time series.

Every figure is a PromQL query (docs/api.md, "The figures as PromQL"), so the figures
are Prometheus' rate(): extrapolated to the rate window's edges. The controlled counters
run steadily from two minutes before now to a minute after it (the server takes samples
up to --max-future ahead), so that at any moment the window is covered and a rate is
exactly the counter's slope. Whatever depends on the moment the server answered (totals,
the edges of a series, the prototype's JSON gauges) is checked against /api/v1/query and
/api/v1/query_range asked the queries docs/api.md lists: both paths must agree."""
import json
import os
import re
import time
import urllib.parse
from datetime import datetime, timezone

import pytest

import rwlib
from conftest import http_request, run, scrape, value

G = 5000  # sample spacing of every controlled series (ms)
S = 5     # the server's --scrape-interval (s): the interval read_bytes counts


# ---- helpers ---------------------------------------------------------------------------

def now_ms():
    return int(time.time() * 1000)


def rfc3339(ms):
    """The API's timestamp format: RFC 3339, UTC, microseconds."""
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ts_ms(stamp):
    return round(datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")
                 .replace(tzinfo=timezone.utc).timestamp() * 1000)


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


def pair(t0, t1, v0, v1):
    return [(t0, v0), (t1, v1)]


def grid(past=120000, ahead=60000):
    """Sample times every 5 s from `past` ms before now to `ahead` ms after it."""
    end = now_ms() // G * G
    return list(range(end - past, end + ahead + 1, G))


def ramp(times, slope, v0=1e6):
    """A counter growing by `slope` per second from v0 at times[0]."""
    return [(t, v0 + slope * (t - times[0]) / 1000) for t in times]


def at(times, t, slope, v0=1e6):
    return v0 + slope * (t - times[0]) / 1000


def flat(times, v):
    return [(t, v) for t in times]


def current_ts(doc, before, after):
    """An object's timestamp: its newest sample at the moment the server answered."""
    t = ts_ms(doc["timestamp"])
    assert t % G == 0 and before - G < t <= after, (doc["timestamp"], before, after)
    return t


# ---- the queries docs/api.md lists, asked of /api/v1/query ------------------------------

LEVELS = {"Nodes": "node", "Pods": "pod", "Namespaces": "namespace",
          "Deployments": "deployment"}
KEYS = {"node": ("node",), "pod": ("namespace", "pod"), "namespace": ("namespace",),
        "deployment": ("namespace", "deployment")}


def load_doc_queries():
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "api.md")) as f:
        doc = f.read()
    sec = doc[doc.index("<!-- seed-queries"):doc.index("<!-- /seed-queries -->")]
    q = {}
    for m in re.finditer(r"^(Nodes|Pods|Namespaces|Deployments) `(\w+)`:\n\n```promql\n(.*?)\n```",
                         sec, re.M | re.S):
        q[(LEVELS[m[1]], m[2])] = m[3]
    for key, text in q.items():
        q[key] = re.sub(r"\$__pod_(\w+)", lambda p: "(" + q[("pod", p[1])] + ")", text)
    assert len(q) > 40 and all("$__" not in t for t in q.values()), sorted(q)
    return q


DOC_QUERIES = load_doc_queries()


def doc_query(level, figure, window_ms=60000):
    """The query docs/api.md lists for a figure, for another rate window if need be."""
    text = DOC_QUERIES[(level, figure)]
    if window_ms != 60000:
        text = text.replace("[1m]", f"[{window_ms}ms]").replace("60000 / 1000",
                                                               f"{window_ms} / 1000")
    return text


def promql(base, expr, t_ms):
    """/api/v1/query at t: {identity tuple or labels: value}."""
    st, _, b = http_request(base + "/api/v1/query?" + urllib.parse.urlencode(
        {"query": expr, "time": f"{t_ms / 1000:.3f}"}))
    assert st == 200, b
    doc = json.loads(b)
    return {tuple(sorted(r["metric"].items())): float(r["value"][1])
            for r in doc["data"]["result"]}


def figure_of(base, level, figure, ident, t_ms, window_ms=60000):
    """The answer of a figure's query for one object (ident: its key labels), or None."""
    got = {}
    for labels, v in promql(base, doc_query(level, figure, window_ms), t_ms).items():
        d = dict(labels)
        got.setdefault(tuple(d.get(k) for k in KEYS[level]), v)
    return got.get(tuple(ident))


# (JSON keys, the figure's name, how the API rounds it)
FIGURES = [
    (("cpu_millicores",), "cpu_millicores", 0),
    (("memory_bytes",), "memory_bytes", 0),
    (("disk_io", "read_bytes_per_second"), "disk_read_bytes_per_second", 3),
    (("disk_io", "write_bytes_per_second"), "disk_write_bytes_per_second", 3),
    (("network_io", "bytes_recv_per_second"), "network_receive_bytes_per_second", 3),
    (("network_io", "bytes_sent_per_second"), "network_transmit_bytes_per_second", 3),
]
TOTALS = [
    (("disk_io", "read_bytes_total"), "disk_read_bytes_total", 0),
    (("disk_io", "write_bytes_total"), "disk_write_bytes_total", 0),
    (("network_io", "bytes_recv_total"), "network_receive_bytes_total", 0),
    (("network_io", "bytes_sent_total"), "network_transmit_bytes_total", 0),
]
BYTES = [(("disk_io", "read_bytes"), ("disk_io", "read_bytes_per_second")),
         (("disk_io", "write_bytes"), ("disk_io", "write_bytes_per_second")),
         (("network_io", "bytes_recv"), ("network_io", "bytes_recv_per_second")),
         (("network_io", "bytes_sent"), ("network_io", "bytes_sent_per_second"))]


def dig(doc, keys):
    for k in keys:
        doc = doc[k]
    return doc


def same(rest, promql_value, digits, rel=0):
    if promql_value is None:
        return rest is None
    return rest is not None and \
        abs(rest - round(promql_value, digits)) <= 10 ** -digits + rel * abs(promql_value)


def assert_agrees(base, level, ident, obj, t_ms, rel=0, interval=S):
    """Every figure of a REST object is its query's answer at t (within `rel` of it for a
    figure that moves with the moment it is asked); the I/O bytes are the rates × the
    interval."""
    for keys, figure, digits in FIGURES + TOTALS:
        want = figure_of(base, level, figure, ident, t_ms)
        assert same(dig(obj, keys), want, digits, rel), \
            (level, ident, figure, dig(obj, keys), want)
    for bkeys, rkeys in BYTES:
        rate = dig(obj, rkeys)
        assert dig(obj, bkeys) == (None if rate is None else round(rate * interval)) or \
            abs(dig(obj, bkeys) - rate * interval) <= 1, (bkeys, obj)
    t = figure_of(base, level, "timestamp", ident, t_ms)
    assert obj["timestamp"] == (rfc3339(round(t * 1000)) if t is not None else None)


def assert_points_agree(base, level, ident, doc, window_ms=60000):
    """A time series is the range query of the figures over the same grid."""
    pts = doc["points"]
    step = doc["step"] * 1000
    assert pts, doc
    start, end = ts_ms(pts[0]["timestamp"]), ts_ms(pts[-1]["timestamp"])
    want = {}
    for keys, figure, digits in FIGURES:
        st, _, b = http_request(base + "/api/v1/query_range?" + urllib.parse.urlencode(
            {"query": doc_query(level, figure, window_ms), "start": start / 1000,
             "end": end / 1000, "step": step / 1000}))
        assert st == 200, b
        for r in json.loads(b)["data"]["result"]:
            if tuple(r["metric"].get(k) for k in KEYS[level]) == tuple(ident):
                for t, v in r["values"]:
                    want[(round(t * 1000), figure)] = float(v)
    for p in pts:
        t = ts_ms(p["timestamp"])
        assert (t - start) % step == 0
        for keys, figure, digits in FIGURES:
            assert same(dig(p, keys), want.get((t, figure)), digits), (t, figure, p)
        for bkeys, rkeys in BYTES:
            rate = dig(p, rkeys)
            assert rate is None or abs(dig(p, bkeys) - rate * step / 1000) <= 1, p
    # Steps the query answers for and the series leaves out: none.
    assert {t for t, _ in want} <= {ts_ms(p["timestamp"]) for p in pts}


# ---- the cluster most tests read -----------------------------------------------------

def load_cluster(base):
    """Node n1 (agent-style labels), node 10.0.0.5 (node-exporter, instance only), pods
    in namespaces shop and ops (cAdvisor-style series), a stale pod. Counters grow
    steadily from two minutes ago to a minute ahead (from 1e6 at times[0]). Returns the
    sample times."""
    times = grid()
    flat_ = lambda v: flat(times, v)  # noqa: E731
    n1 = dict(node="n1", cluster="c1", instance="n1:9105", job="kmon-agent")
    s = [
        ser("node_cpu_seconds_total", ramp(times, 0.4), cpu="0", mode="user", **n1),
        ser("node_cpu_seconds_total", ramp(times, 0.1), cpu="0", mode="system", **n1),
        ser("node_cpu_seconds_total", ramp(times, 0.1), cpu="1", mode="user", **n1),
        ser("node_cpu_seconds_total", ramp(times, 0.8), cpu="0", mode="idle", **n1),
        ser("node_cpu_seconds_total", ramp(times, 0.2), cpu="0", mode="iowait", **n1),
        ser("node_memory_MemTotal_bytes", flat_(8589934592), **n1),
        ser("node_memory_MemAvailable_bytes", flat_(5873913856), **n1),
        ser("node_disk_read_bytes_total", ramp(times, 10240), device="sda", **n1),
        ser("node_disk_read_bytes_total", ramp(times, 2048), device="sdb", **n1),
        ser("node_disk_written_bytes_total", ramp(times, 20480), device="sda", **n1),
        ser("node_network_receive_bytes_total", ramp(times, 102400), device="eth0", **n1),
        ser("node_network_receive_bytes_total", ramp(times, 999999), device="lo", **n1),
        ser("node_network_transmit_bytes_total", ramp(times, 5120), device="eth0", **n1),
        ser("node_network_transmit_bytes_total", ramp(times, 777777), device="lo", **n1),
        # A node-exporter target scraped by Prometheus: no node label, only instance.
        ser("node_cpu_seconds_total", ramp(times, 0.2), cpu="0", mode="user",
            instance="10.0.0.5:9100", job="node-exporter"),
        ser("node_memory_MemTotal_bytes", flat_(4294967296), instance="10.0.0.5:9100",
            job="node-exporter"),
        ser("node_memory_MemAvailable_bytes", flat_(3221225472), instance="10.0.0.5:9100",
            job="node-exporter"),
    ]

    def pod(ns, name, node, cpu=None, mem=None, container="", **extra):
        labels = dict(namespace=ns, pod=name, container=container, node=node, cluster="c1",
                      **extra)
        out = []
        if cpu:
            out.append(ser("container_cpu_usage_seconds_total", ramp(times, cpu), **labels))
        if mem is not None:
            out.append(ser("container_memory_working_set_bytes", flat_(mem), **labels))
        return out

    web1, web2 = "web-7d4f9c6b8d-x2k9q", "web-7d4f9c6b8d-p5m7z"
    s += pod("shop", web1, "n1", 0.15, 157286400)                     # 150m
    s += pod("shop", web1, "n1", 0.1, 100000000, container="app")     # ignored
    s += pod("shop", web1, "n1", 0.002, 1000, container="POD")        # ignored
    w1 = dict(namespace="shop", pod=web1, container="", node="n1", cluster="c1")
    s += [
        ser("container_fs_reads_bytes_total", ramp(times, 8192), **w1),
        ser("container_fs_writes_bytes_total", ramp(times, 4096), **w1),
        ser("container_network_receive_bytes_total", ramp(times, 20480), **w1),
        ser("container_network_transmit_bytes_total", ramp(times, 10240), **w1),
    ]
    s += pod("shop", web2, "n1", 0.05, 104857600)                     # 50m
    s.append(ser("container_fs_reads_bytes_total", ramp(times, 2048), namespace="shop",
                 pod=web2, container="", node="n1", cluster="c1"))
    s += pod("shop", "db-0", "n1", 0.1, 52428800)                     # 100m, StatefulSet
    s += pod("shop", "checkout-a", "n1", 0.02, 10485760,              # 20m, labels
             workload_kind="Deployment", workload="checkout")
    s += pod("shop", "report-28391234-zt7xq", "n1", 0.03, 5242880,    # 30m, a Job
             workload_kind="Job", workload="report-28391234")
    s += pod("ops", "db-0", "n2", 0.04, 20971520)                     # 40m
    # Only per-container series: the containers add up, the pause container does not.
    s += pod("ops", "multi-6f7b9d8c5-k2m4n", "n2", 0.1, 1048576, container="a")
    s += pod("ops", "multi-6f7b9d8c5-k2m4n", "n2", 0.05, 2097152, container="b")
    s += pod("ops", "multi-6f7b9d8c5-k2m4n", "n2", 0.01, 524288, container="POD")
    # Older than --stale-after (5 m): not listed.
    t1 = times[0] - 300000
    s.append(ser("container_cpu_usage_seconds_total", pair(t1 - G, t1, 0, 1), namespace="shop",
                 pod="gone-0", container="", node="n1"))
    write(base, s)
    return times


@pytest.fixture
def cluster(server_factory):
    _, base, _ = server_factory()
    times = load_cluster(base)
    return base, times


# ---- nodes --------------------------------------------------------------------------

def test_node_figures_are_exact(cluster):
    base, times = cluster
    before = now_ms()
    n = get(base, "/api/nodes/n1")
    t = current_ts(n, before, now_ms())
    assert n["node_name"] == "n1" and n["cluster"] == "c1"
    # 0.6 s of CPU per second, idle and iowait excluded.
    assert n["cpu_millicores"] == 600 and n["cpu"] == "600m"
    assert n["memory_bytes"] == 2716020736 and n["memory"] == "2.53 GB"
    assert n["memory_total_bytes"] == 8589934592 and n["memory_total"] == "8.00 GB"
    # read_bytes: the bytes of one 5 s interval at the rate.
    assert n["disk_io"] == {
        "read_bytes": 61440, "write_bytes": 102400,
        "read_bytes_per_second": 12288.0, "write_bytes_per_second": 20480.0,
        "read_bytes_total": round(at(times, t, 10240) + at(times, t, 2048)),
        "write_bytes_total": round(at(times, t, 20480)),
        "read": "12.0 KB/s", "write": "20.0 KB/s",
    }
    assert n["network_io"] == {  # lo excluded
        "bytes_recv": 512000, "bytes_sent": 25600,
        "bytes_recv_per_second": 102400.0, "bytes_sent_per_second": 5120.0,
        "bytes_recv_total": round(at(times, t, 102400)),
        "bytes_sent_total": round(at(times, t, 5120)),
        "recv": "100.0 KB/s", "sent": "5.0 KB/s",
    }
    assert n["pod_count"] == 5
    assert_agrees(base, "node", ["n1"], n, t)
    assert figure_of(base, "node", "pod_count", ["n1"], t) == 5


def test_nodes_list_and_instance_fallback(cluster):
    base, _ = cluster
    before = now_ms()
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
    assert_agrees(base, "node", ["10.0.0.5"], ne, current_ts(ne, before, now_ms()))
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
    assert "n2" not in [n["node_name"] for n in get(base, "/api/nodes")["nodes"]]
    assert post_json(base, "/api/namespaces/j/pods/solo/metrics",
                     {"node_name": "json-only", "cpu_millicores": 5})[0] == 204
    doc = get(base, "/api/nodes/json-only/pods")
    assert [(p["pod_name"], p["namespace"]) for p in doc["pods"]] == [("solo", "j")]
    assert error_of(base, "/api/nodes/nobody/pods", 404) == {"error": 'node "nobody" not found'}


# ---- pods ---------------------------------------------------------------------------

def test_pod_figures_prefer_the_pod_cgroup(cluster):
    base, times = cluster
    before = now_ms()
    p = get(base, "/api/pods/web-7d4f9c6b8d-x2k9q")
    t = current_ts(p, before, now_ms())
    assert (p["pod_name"], p["namespace"], p["node_name"], p["deployment"], p["cluster"]) == \
        ("web-7d4f9c6b8d-x2k9q", "shop", "n1", "web", "c1")
    assert p["cpu_millicores"] == 150 and p["cpu"] == "150m"
    assert p["memory_bytes"] == 157286400 and p["memory"] == "150.00 MB"
    assert p["disk_io"] == {
        "read_bytes": 40960, "write_bytes": 20480,
        "read_bytes_per_second": 8192.0, "write_bytes_per_second": 4096.0,
        "read_bytes_total": round(at(times, t, 8192)),
        "write_bytes_total": round(at(times, t, 4096)),
        "read": "8.0 KB/s", "write": "4.0 KB/s",
    }
    assert p["network_io"] == {
        "bytes_recv": 102400, "bytes_sent": 51200,
        "bytes_recv_per_second": 20480.0, "bytes_sent_per_second": 10240.0,
        "bytes_recv_total": round(at(times, t, 20480)),
        "bytes_sent_total": round(at(times, t, 10240)),
        "recv": "20.0 KB/s", "sent": "10.0 KB/s",
    }
    assert "memory_total_bytes" not in p
    assert_agrees(base, "pod", ["shop", "web-7d4f9c6b8d-x2k9q"], p, t)


def test_pod_of_containers_only_sums_them_without_pause(cluster):
    base, _ = cluster
    p = get(base, "/api/pods/multi-6f7b9d8c5-k2m4n")
    assert p["cpu_millicores"] == 150  # (0.1 + 0.05) s per second; "POD" not added
    assert p["memory_bytes"] == 3145728 and p["memory"] == "3.00 MB"
    assert p["deployment"] == "multi" and p["node_name"] == "n2"


def test_pods_list(cluster):
    base, _ = cluster
    before = now_ms()
    doc = get(base, "/api/pods")
    after = now_ms()
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
    for p in doc["pods"]:
        assert_agrees(base, "pod", [p["namespace"], p["pod_name"]], p,
                      current_ts(p, before, after))
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
    times = grid()
    cut = times[len(times) // 2]
    # A counter that went down restarted from zero: 0.1 s of CPU per second throughout,
    # the restart inside the rate window.
    reset = [(t, at(times, t, 0.1) if t < cut else 0.1 * (t - cut + G) / 1000)
             for t in times]
    write(base, [
        ser("node_cpu_seconds_total", reset, node="reset", cpu="0", mode="user"),
        ser("node_cpu_seconds_total", ramp(times, 0.2), instance="[fd00::5]:9100",
            cpu="0", mode="user"),
        ser("node_cpu_seconds_total", ramp(times, 0.2), instance="plainhost", cpu="0",
            mode="user"),
        # The node label on only one of a pod's series is enough.
        ser("container_cpu_usage_seconds_total", ramp(times, 0.2), namespace="e",
            pod="p", container=""),
        ser("container_memory_working_set_bytes", flat(times, 5), namespace="e",
            pod="p", container="", node="late"),
    ])
    assert [n["node_name"] for n in get(base, "/api/nodes")["nodes"]] == \
        ["fd00::5", "plainhost", "reset"]
    assert get(base, "/api/nodes/reset")["cpu_millicores"] == 100
    assert get(base, "/api/nodes/fd00::5")["cpu_millicores"] == 200
    assert get(base, "/api/nodes/plainhost")["cpu_millicores"] == 200
    p = get(base, "/api/pods/p")
    assert (p["node_name"], p["cpu_millicores"], p["memory_bytes"], p["memory"]) == \
        ("late", 200, 5, "5 B")


def test_deployment_labels_on_some_of_a_pods_series(server_factory):
    """A pod measured by cAdvisor (no workload labels, a name without the ReplicaSet
    convention) and also posted by the prototype's collector with its deployment:
    the pod, the deployment list and the deployment detail must agree."""
    _, base, _ = server_factory()
    times = grid()
    labels = dict(namespace="m", pod="api-main", container="", node="n1")
    write(base, [ser("container_cpu_usage_seconds_total", ramp(times, 0.2), **labels),
                 ser("container_memory_working_set_bytes", flat(times, 5), **labels)])
    st, _, b = post_json(base, "/api/namespaces/m/pods/api-main/metrics",
                         {"cpu_millicores": 50, "deployment": "api", "node_name": "n1",
                          "timestamp": (now_ms() - 30000) / 1000})
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
    base, times = cluster
    before = now_ms()
    doc = get(base, "/api/namespaces")
    after = now_ms()
    assert doc["count"] == 2 and [n["namespace"] for n in doc["namespaces"]] == ["ops", "shop"]
    shop = by(doc["namespaces"], "namespace")["shop"]
    t = current_ts(shop, before, after)
    assert shop["pod_count"] == 5 and shop["deployment_count"] == 2
    assert shop["cpu_millicores"] == 350 and shop["cpu"] == "350m"
    assert shop["memory_bytes"] == 330301440 and shop["memory"] == "315.00 MB"
    assert shop["disk_io"]["read_bytes"] == 51200
    assert shop["disk_io"]["read_bytes_per_second"] == 10240.0
    assert shop["disk_io"]["read_bytes_total"] == round(at(times, t, 8192) + at(times, t, 2048))
    assert shop["disk_io"]["write_bytes"] == 20480
    assert shop["network_io"]["bytes_recv_per_second"] == 20480.0
    for ns in doc["namespaces"]:
        assert_agrees(base, "namespace", [ns["namespace"]], ns, current_ts(ns, before, after))
    assert figure_of(base, "namespace", "deployment_count", ["shop"], t) == 2
    ops = get(base, "/api/namespaces/ops")
    assert (ops["pod_count"], ops["deployment_count"], ops["cpu_millicores"],
            ops["memory_bytes"]) == (2, 1, 190, 24117248)
    again = get(base, "/api/namespaces/shop")
    for key in ("pod_count", "deployment_count", "cpu_millicores", "memory_bytes"):
        assert again[key] == shop[key], key


def test_namespace_pods(cluster):
    base, _ = cluster
    doc = get(base, "/api/namespaces/ops/pods")
    assert doc["namespace"] == "ops" and doc["count"] == 2
    assert [p["pod_name"] for p in doc["pods"]] == ["db-0", "multi-6f7b9d8c5-k2m4n"]


def test_deployments(cluster):
    base, _ = cluster
    before = now_ms()
    doc = get(base, "/api/namespaces/shop/deployments")
    after = now_ms()
    assert doc["namespace"] == "shop" and doc["count"] == 2
    deps = by(doc["deployments"], "deployment")
    assert set(deps) == {"web", "checkout"}
    web = get(base, "/api/namespaces/shop/deployments/web")
    for key in ("replicas", "pod_count", "cpu_millicores", "memory_bytes"):
        assert web[key] == deps["web"][key], key
    assert web["namespace"] == "shop" and web["replicas"] == 2 and web["pod_count"] == 2
    assert web["cpu_millicores"] == 200 and web["cpu"] == "200m"
    assert web["memory_bytes"] == 262144000 and web["memory"] == "250.00 MB"
    assert web["disk_io"]["read_bytes"] == 51200
    c = deps["checkout"]
    assert (c["replicas"], c["cpu_millicores"], c["memory_bytes"]) == (1, 20, 10485760)
    for d in doc["deployments"]:
        assert_agrees(base, "deployment", ["shop", d["deployment"]], d,
                      current_ts(d, before, after))
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
    a = {p["timestamp"]: p for p in get(base, "/api/nodes/n1/timeseries?window=5m&step=5s")
         ["points"]}
    b = {p["timestamp"]: p for p in get(base, "/api/nodes/n1/timeseries?window=300&step=5")
         ["points"]}
    common = set(a) & set(b)  # the grid moves on if a step passes between the two
    assert len(common) >= 20 and all(a[t] == b[t] for t in common)


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


@pytest.mark.parametrize("cache", ["default", "0"])
def test_block_cache_answers_the_same(server_factory, cache):
    """Queries over blocks read their pages decompressed from the block cache after the
    first (hits counted in /metrics); with --tsdb-cache-size 0 nothing is kept. The
    answers are the same either way, and right."""
    extra = () if cache == "default" else ("--tsdb-cache-size", "0")
    _, base, _ = server_factory("--enable-admin-api", *extra)
    t0 = (now_ms() - 600000) // 1000 * 1000
    series = [ser("node_cpu_seconds_total", [(t0 + k * 15000, k * (i + 1)) for k in range(40)],
                  instance=f"n{i}", mode="idle") for i in range(300)]
    write(base, series)
    assert http_request(base + "/api/v1/admin/flush", "POST")[0] == 204
    q = urllib.parse.urlencode({"query": "sum(rate(node_cpu_seconds_total[5m]))",
                                "time": (t0 + 39 * 15000) / 1000})
    answers = []
    for _ in range(3):
        st, _, b = http_request(base + "/api/v1/query?" + q)
        assert st == 200, b
        answers.append(json.loads(b)["data"]["result"])
    assert answers[0] == answers[1] == answers[2]
    assert float(answers[0][0]["value"][1]) == pytest.approx(sum(i + 1 for i in range(300)) / 15)
    m = scrape(base)
    hits = value(m, "kmon_tsdb_block_cache_requests_total", result="hit")
    if cache == "default":
        assert hits > 0 and value(m, "kmon_tsdb_block_cache_bytes") > 0
        assert value(m, "kmon_tsdb_block_cache_max_bytes") == 64 * 1024 * 1024
    else:
        assert hits == 0 and value(m, "kmon_tsdb_block_cache_bytes") == 0


# ---- JSON POST endpoints ----------------------------------------------------------------

def test_json_node_and_pod_posts(server_factory):
    """The prototype's collector posts gauges (cpu, memory) and the bytes of each
    interval: the API shows the newest gauges and, as I/O rates, the bytes posted in the
    rate window (1 m) divided by it."""
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
    assert n["cpu_millicores"] == 150 and n["cpu"] == "150m"
    assert n["memory_bytes"] == 2716020736 and n["memory"] == "2.53 GB"
    assert n["disk_io"]["write_bytes_per_second"] == round(253952 / 60, 3)
    assert n["disk_io"]["write_bytes"] == round(253952 / 60 * S)
    assert n["disk_io"]["read_bytes_total"] is None
    node2 = dict(node, cpu_millicores=250, disk_io={"read_bytes": 51200, "write_bytes": 253952},
                 timestamp=t1 / 1000)  # seconds since the epoch work too
    assert post_json(base, "/api/nodes/jnode/metrics", node2)[0] == 204
    n = get(base, "/api/nodes/jnode")
    after = now_ms()
    assert n["cluster"] == "default" and n["timestamp"] == rfc3339(t1)
    assert n["cpu_millicores"] == 250 and n["cpu"] == "250m"
    assert n["disk_io"] == {
        "read_bytes": round(51200 / 60 * S), "write_bytes": round(2 * 253952 / 60 * S),
        "read_bytes_per_second": round(51200 / 60, 3),
        "write_bytes_per_second": round(2 * 253952 / 60, 3),
        "read_bytes_total": None, "write_bytes_total": None,
        "read": "853 B/s", "write": "8.3 KB/s",
    }
    assert n["network_io"]["bytes_recv_per_second"] == round(2 * 39274 / 60, 3)
    assert n["network_io"]["bytes_sent_per_second"] == round(2 * 162132 / 60, 3)
    assert "memory_total_bytes" not in n
    assert_agrees(base, "node", ["jnode"], n, after)

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
        ser("node_disk_read_bytes_total", [(t, 1e6 + j * 1024) for j, t in enumerate(times)],
            device="sda", **nl),
        ser("node_network_receive_bytes_total",
            [(t, 1e6 + j * 5120) for j, t in enumerate(times)], device="eth0", **nl),
    ]
    for ns, pod, cpu_step, mem in (("tsns", "web-7d4f9c6b8d-bcdfg", 0.5, 1e8),
                                   ("tsns", "web-7d4f9c6b8d-hjklm", 0.25, 2e8),
                                   ("other", "web-5f6d7c8b9-nprst", 1.0, 5e7)):
        pl = dict(namespace=ns, pod=pod, container="", node="ts-node",
                  workload_kind="Deployment", workload="web")
        s.append(ser("container_cpu_usage_seconds_total",
                     [(t, 100 + j * cpu_step) for j, t in enumerate(times)], **pl))
        s.append(ser("container_memory_working_set_bytes",
                     [(t, mem + j * 1000) for j, t in enumerate(times)], **pl))
    write(base, s)
    return times


def covered(pts, times, window_ms=60000):
    """The points whose rate window lies within the samples: their rates are exact."""
    return [p for p in pts if times[0] <= ts_ms(p["timestamp"]) - window_ms
            and ts_ms(p["timestamp"]) <= times[-1]]


def test_node_timeseries_points_and_values(server_factory):
    _, base, _ = server_factory()
    times = load_series(base)
    doc = get(base, "/api/nodes/ts-node/timeseries?window=300&step=5")
    assert doc["node_name"] == "ts-node" and doc["window"] == 300 and doc["step"] == 5
    pts = doc["points"]
    assert doc["count"] == len(pts)
    # Points from the first sample on, on the step's grid.
    assert ts_ms(pts[0]["timestamp"]) == times[0]
    assert [ts_ms(p["timestamp"]) for p in pts[:37]] == times
    assert pts[0]["cpu_millicores"] is None  # one sample: no rate yet
    assert pts[0]["disk_io"]["read_bytes"] is None
    inside = covered(pts, times)
    assert len(inside) >= 20
    for p in inside:
        assert p["cpu_millicores"] == 200  # 1 s of user CPU per 5 s, idle excluded
        assert p["disk_io"] == {"read_bytes": 1024, "write_bytes": None,
                                "read_bytes_per_second": 204.8,
                                "write_bytes_per_second": None,
                                "read": "205 B/s", "write": None}
        assert p["network_io"]["bytes_recv"] == 5120
        assert p["network_io"]["bytes_recv_per_second"] == 1024.0
        assert p["network_io"]["bytes_sent"] is None
    # A gauge's point is its sample at that time.
    assert [p["memory_bytes"] for p in pts[:37]] == [1000000000 + j * 1000000
                                                     for j in range(37)]
    # Past the last sample: the rates fade out of their window, the gauge is the last
    # sample for the look-back (5 m), as in Prometheus.
    for p in pts[37:]:
        assert p["memory_bytes"] == 1036000000
        if ts_ms(p["timestamp"]) - 60000 > times[-1]:
            assert p["cpu_millicores"] is None and p["disk_io"]["read_bytes"] is None
    # Every point, edges included, is what query_range answers.
    assert_points_agree(base, "node", ["ts-node"], doc)


def test_timeseries_points_are_rates_over_the_rate_window(server_factory):
    """Each point is the rate over the rate window (1 m) ending at it, as a dashboard's
    $__rate_interval: alternating increases every 5 s come back as their average."""
    _, base, _ = server_factory()
    times = grid(past=150000, ahead=60000)
    cpu, disk = [0.0], [0]
    for j in range(1, len(times)):
        cpu.append(cpu[-1] + (0.5 if j % 2 else 1.5))       # 100m, 300m, 100m, ...
        disk.append(disk[-1] + (5120 if j % 2 else 15360))  # 1024 B/s, 3072 B/s, ...
    write(base, [
        ser("node_cpu_seconds_total", [(t, 1000 + c) for t, c in zip(times, cpu)],
            node="alt", cpu="0", mode="user"),
        ser("node_disk_read_bytes_total", [(t, 1e6 + d) for t, d in zip(times, disk)],
            node="alt", device="sda"),
    ])
    # Now: the window holds 11 intervals, 6 of one and 5 of the other.
    assert 190 <= get(base, "/api/nodes/alt")["cpu_millicores"] <= 210
    doc = get(base, "/api/nodes/alt/timeseries?window=120&step=5")
    inside = covered(doc["points"], times)
    assert len(inside) >= 12
    assert {p["cpu_millicores"] for p in inside} == {200}
    assert {p["disk_io"]["read_bytes_per_second"] for p in inside} == {2048.0}
    assert {p["disk_io"]["read_bytes"] for p in inside} == {10240}  # 5 s at the rate
    assert_points_agree(base, "node", ["alt"], doc)
    doc = get(base, "/api/nodes/alt/timeseries?window=120&step=10")
    assert {p["cpu_millicores"] for p in covered(doc["points"], times)} == {200}
    assert_points_agree(base, "node", ["alt"], doc)


def test_default_step_keeps_points_under_500(server_factory):
    _, base, _ = server_factory("--out-of-order-window", "24h")
    times = load_series(base)
    doc = get(base, "/api/nodes/ts-node/timeseries?window=300")
    assert doc["step"] == 5  # --scrape-interval
    assert [ts_ms(p["timestamp"]) for p in doc["points"][:37]] == times
    # A node sampled every minute for the last 23 hours, on a server told so.
    proc, base, data = server_factory("--out-of-order-window", "24h", "--scrape-interval", "1m")
    end = now_ms() // 60000 * 60000
    times = [end - k * 60000 for k in range(23 * 60, 0, -1)]
    nl = dict(node="long")
    write(base, [
        ser("node_cpu_seconds_total", [(t, j * 6.0) for j, t in enumerate(times)],
            cpu="0", mode="user", **nl),
        ser("node_memory_MemTotal_bytes", [(t, 2e9) for t in times], **nl),
        ser("node_memory_MemAvailable_bytes", [(t, 1e9) for t in times], **nl),
    ])
    assert get(base, "/")["samples_appended"] == 3 * len(times)
    doc = get(base, "/api/nodes/long/timeseries")  # window defaults to an hour
    assert doc["window"] == 3600 and doc["step"] == 60 and 59 <= doc["count"] <= 60
    # The rate window is max(step + 1m, 4 × 1m): four minutes of samples.
    assert {p["cpu_millicores"] for p in covered(doc["points"], times, 240000)} == {100}
    assert {p["memory_bytes"] for p in doc["points"]} == {1000000000}
    assert_points_agree(base, "node", ["long"], doc, window_ms=240000)
    for window, step in ((86400, 173), (604800, 1210), (1296000, 2592)):
        doc = get(base, f"/api/nodes/long/timeseries?window={window}")
        assert (doc["window"], doc["step"]) == (window, step)
        assert window / step <= 500
        pts = doc["points"]
        assert len(pts) == doc["count"] <= 500
        # Every step that the 23 hours of data cover has a point.
        assert len(pts) >= min((23 * 3600) // step, window // step) - 1, (window, len(pts))
        rate_window = max(step * 1000 + 60000, 240000)
        assert {p["cpu_millicores"] for p in covered(pts, times, rate_window)} == {100}
        assert {p["memory_bytes"] for p in pts} == {1000000000}
        gaps = {ts_ms(b["timestamp"]) - ts_ms(a["timestamp"]) for a, b in zip(pts, pts[1:])}
        assert gaps == {step * 1000}
        assert_points_agree(base, "node", ["long"], doc, window_ms=rate_window)


def test_pod_namespace_deployment_timeseries(server_factory):
    _, base, _ = server_factory()
    times = load_series(base)
    p = get(base, "/api/pods/web-7d4f9c6b8d-bcdfg/timeseries?namespace=tsns&window=300&step=5")
    assert (p["pod_name"], p["namespace"]) == ("web-7d4f9c6b8d-bcdfg", "tsns")
    assert [ts_ms(x["timestamp"]) for x in p["points"][:37]] == times
    assert p["points"][0]["cpu_millicores"] is None
    assert {x["cpu_millicores"] for x in covered(p["points"], times)} == {100}
    assert p["points"][5]["memory_bytes"] == 100005000
    assert_points_agree(base, "pod", ["tsns", "web-7d4f9c6b8d-bcdfg"], p)
    # Without ?namespace= a pod name found once is enough.
    again = get(base, "/api/pods/web-7d4f9c6b8d-bcdfg/timeseries?window=300&step=5")
    assert again["namespace"] == "tsns" and again["points"][:37] == p["points"][:37]

    n = get(base, "/api/namespaces/tsns/timeseries?window=300&step=5")
    assert n["namespace"] == "tsns"
    assert {x["cpu_millicores"] for x in covered(n["points"], times)} == {150}
    assert [x["memory_bytes"] for x in n["points"][:37]] == \
        [300000000 + j * 2000 for j in range(37)]
    assert_points_agree(base, "namespace", ["tsns"], n)

    doc = error_of(base, "/api/deployments/web/timeseries?window=300", 409)
    assert doc["namespaces"] == ["other", "tsns"]
    d = get(base, "/api/deployments/web/timeseries?namespace=tsns&window=300&step=5")
    assert d["deployment"] == "web" and d["namespace"] == "tsns"
    assert d["points"][:37] == n["points"][:37]
    assert_points_agree(base, "deployment", ["tsns", "web"], d)
    o = get(base, "/api/deployments/web/timeseries?namespace=other&window=300&step=5")
    assert {x["cpu_millicores"] for x in covered(o["points"], times)} == {200}
    assert ts_ms(o["points"][0]["timestamp"]) == times[0]


def test_timeseries_points_have_human_readable_companions(server_factory):
    """Every raw number has its human-readable companion, in time series too (the
    same keys as the current figures: cpu, memory, read/write, recv/sent)."""
    _, base, _ = server_factory()
    times = load_series(base)
    pts = get(base, "/api/nodes/ts-node/timeseries?window=300&step=5")["points"]
    p = covered(pts, times)[0]
    j = times.index(ts_ms(p["timestamp"]))
    assert (p["cpu_millicores"], p["memory_bytes"]) == (200, 1000000000 + j * 1000000)
    assert p.get("cpu") == "200m"
    assert p.get("memory") == f"{(1000000000 + j * 1000000) / 1048576:.2f} MB"
    assert p["disk_io"].get("read") == "205 B/s"
    assert p["network_io"].get("recv") == "1.0 KB/s"


def test_series_renamed_by_the_api_count_once(server_factory):
    """A pod first named from the kubelet's log layout, then by the API (the same series
    gaining workload_kind, workload, qos_class, label_*): one cgroup, counted once while
    both series are in the window (the larger of the two), never their sum."""
    _, base, _ = server_factory()
    times = grid()
    cut = now_ms() // G * G - 40000
    ident = dict(namespace="m", pod="api-5f6d7c8b9-nprst", container="", node="n1",
                 pod_uid="1b4e28ba-2fa1-11d2-883f-0016d3cca427")
    old = [(t, v) for t, v in ramp(times, 0.2) if t < cut]          # 200m until 40 s ago
    new = [(t, v) for t, v in ramp(times, 0.4) if t >= cut]         # 400m since
    named = dict(ident, workload_kind="Deployment", workload="api", qos_class="Burstable",
                 label_app="api")
    write(base, [ser("container_cpu_usage_seconds_total", old, **ident),
                 ser("container_memory_working_set_bytes", [(t, 100e6) for t, _ in old],
                     **ident),
                 ser("container_cpu_usage_seconds_total", new, **named),
                 ser("container_memory_working_set_bytes", [(t, 300e6) for t, _ in new],
                     **named)])
    pod = get(base, "/api/pods/api-5f6d7c8b9-nprst")
    after = now_ms()
    rates = promql(base, 'rate(container_cpu_usage_seconds_total{pod="api-5f6d7c8b9-nprst"}'
                   '[1m]) * 1000', after)
    assert len(rates) == 2  # both series are in the window
    assert abs(pod["cpu_millicores"] - max(rates.values())) <= 1
    assert pod["cpu_millicores"] < sum(rates.values())
    assert_agrees(base, "pod", ["m", "api-5f6d7c8b9-nprst"], pod, after, rel=0.01)
    assert pod["memory_bytes"] == 300000000
    assert pod["deployment"] == "api"
    ns = get(base, "/api/namespaces/m")
    assert ns["memory_bytes"] == 300000000
    assert abs(ns["cpu_millicores"] - pod["cpu_millicores"]) <= 1


def test_first_reading_shows_totals_not_rates(server_factory):
    """One reading of a counter gives its total; a rate needs two in the window. Gauges
    (memory) are there from the first reading."""
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
    # The second reading brings the rate: Prometheus' two samples 5 s apart, 15 s and more
    # before now, extrapolated by half an interval after the last and, before the first,
    # as far as the counter could have been at zero (1000 of the 5000 bytes: 1 s); the
    # totals go on.
    write(base, [ser("node_disk_read_bytes_total", [(t + G, 6000)], device="sda", **n),
                 ser("node_disk_read_bytes_total", [(t + G, 24)], device="sdb", **n)])
    node = get(base, "/api/nodes/fresh")
    after = now_ms()
    d = node["disk_io"]
    rate = 5000 * (5 + 1 + 2.5) / 5 / 60
    assert (d["read_bytes_per_second"], d["read_bytes_total"]) == (round(rate, 3), 6024)
    assert d["read_bytes"] == round(rate * S)
    assert_agrees(base, "node", ["fresh"], node, after)


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
    the pod keeps the older series' rate (not 0, not null) while it is in the window;
    the total is the newest reading's."""
    _, base, _ = server_factory()
    times = grid()
    cut = now_ms() // G * G - 10000  # the old series' last reading is 15 s old
    ident = dict(namespace="m", pod="api-5f6d7c8b9-nprst", container="", node="n1")
    named = dict(ident, workload_kind="Deployment", workload="api")
    cpu, fs = ramp(times, 0.2), ramp(times, 1000)
    write(base, [
        ser("container_cpu_usage_seconds_total", [x for x in cpu if x[0] < cut], **ident),
        ser("container_fs_reads_bytes_total", [x for x in fs if x[0] < cut], **ident),
        ser("container_cpu_usage_seconds_total", [x for x in cpu if x[0] == cut], **named),
        ser("container_fs_reads_bytes_total", [x for x in fs if x[0] == cut], **named)])
    pod = get(base, "/api/pods/api-5f6d7c8b9-nprst")
    after = now_ms()
    # The old series' rate, extrapolated by half an interval past its last reading.
    assert 100 < pod["cpu_millicores"] <= 200
    assert 500 < pod["disk_io"]["read_bytes_per_second"] <= 1000
    assert pod["disk_io"]["read_bytes_total"] == round(at(times, cut, 1000))
    assert pod["deployment"] == "api"
    assert_agrees(base, "pod", ["m", "api-5f6d7c8b9-nprst"], pod, after, rel=0.01)
