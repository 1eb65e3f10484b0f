"""The Kubernetes resource metrics API (metrics.k8s.io/v1beta1) as its consumers meet it:
a kmon server over HTTPS with tokens, loaded by remote_write with a small cluster whose
figures the test knows exactly (counters that grow at a known rate, memory at known
levels, kube-state-metrics' allocatable and pod labels); its discovery documents, lists
and items checked value by value in metrics-server's shapes and units, label selectors,
?window= averages, Status errors; and the real kubectl (`kubectl top node`, `kubectl top
pods -A --containers`, `-l`) pointed at kmon through a kubeconfig, as the aggregation
layer would forward to it (skipped when kubectl is not installed)."""
import json
import os
import re
import shutil
import ssl
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

import rwlib
from conftest import Proc, free_port
from test_auth import bearer, secret, tokens_yaml
from tlscerts import Certs

STEP_MS = 15000
NPOINTS = 16  # four minutes of samples, the newest at "now"
MiB = 1 << 20

# node -> (non-idle cpu cores: user, system; idle cores; MemTotal; MemAvailable;
#          allocatable cores; allocatable memory)
NODES = {
    "node-a": (1.5, 0.5, 6.0, 32768 * MiB, 20480 * MiB, 7.6, 30720 * MiB),
    "node-b": (0.25, 0.0, 3.75, 16384 * MiB, 12288 * MiB, 3.8, 15360 * MiB),
}
# (namespace, pod, node, app label) -> {container: (cpu cores, memory levels over time)}
PODS = {
    ("shop", "web-1", "node-a", "web"): {"nginx": (0.25, [100 * MiB]),
                                         "sidecar": (0.005, [10 * MiB])},
    ("shop", "web-2", "node-b", "web"): {"nginx": (0.125, [64 * MiB, 128 * MiB])},
    ("shop", "db-0", "node-a", "db"): {"postgres": (1.0, [2048 * MiB])},
    ("ops", "agent-x", "node-b", None): {"agent": (0.01, [32 * MiB])},
}
TOKENS = {"reader": ("read", None), "adm": ("admin", None)}
# (namespace, pod) -> requests per second, for the custom metrics
HTTP_RPS = {("shop", "web-1"): 10.0, ("shop", "web-2"): 4.0, ("shop", "db-0"): 0.5}
QUEUES = {("shop", "jobs"): 42, ("shop", "mail"): 7, ("ops", "jobs"): 3}
K8S_METRICS = """
custom:
  - name: http_requests_per_second
    resource: pods
    query: sum by (namespace, pod) (rate(http_requests_total{$__matchers}[1m]))
  - name: http_requests_per_second
    resource: namespaces
    query: sum by (namespace) (rate(http_requests_total{$__matchers}[1m]))
  - name: memory_total
    resource: nodes
    query: max by (node) (node_memory_MemTotal_bytes{$__matchers})
external:
  - name: queue_messages_ready
    query: sum by (queue) (rabbitmq_queue_messages_ready{$__matchers})
    namespaced: true
  - name: queue_total
    query: sum(rabbitmq_queue_messages_ready{$__matchers})
"""


def series(now):
    times = [now - (NPOINTS - 1 - i) * STEP_MS for i in range(NPOINTS)]
    out = []

    def counter(labels, rate):
        out.append((sorted(labels.items()),
                    [(t, 1000.0 + rate * (t - times[0]) / 1000.0) for t in times]))

    def gauge(labels, levels):
        # the levels in turn, each for an equal share of the samples
        per = NPOINTS // len(levels)
        out.append((sorted(labels.items()),
                    [(t, float(levels[min(i // per, len(levels) - 1)]))
                     for i, t in enumerate(times)]))

    for node, (user, system, idle, total, avail, acpu, amem) in NODES.items():
        for mode, r in (("user", user), ("system", system), ("idle", idle)):
            counter({"__name__": "node_cpu_seconds_total", "node": node, "cpu": "0",
                     "mode": mode}, r)
        gauge({"__name__": "node_memory_MemTotal_bytes", "node": node}, [total])
        gauge({"__name__": "node_memory_MemAvailable_bytes", "node": node}, [avail])
        for res, unit, v in (("cpu", "core", acpu), ("memory", "byte", amem)):
            gauge({"__name__": "kube_node_status_allocatable", "node": node,
                   "resource": res, "unit": unit}, [v])
        gauge({"__name__": "kube_node_info", "node": node}, [1])
        gauge({"__name__": "kube_node_labels", "node": node,
               "label_pool": "big" if node == "node-a" else "small"}, [1])
    for (ns, queue), n in QUEUES.items():
        gauge({"__name__": "rabbitmq_queue_messages_ready", "namespace": ns, "queue": queue,
               "vhost": "/"}, [n])
    for (ns, pod, node, app), containers in PODS.items():
        labels = {"__name__": "kube_pod_labels", "namespace": ns, "pod": pod}
        if app:
            labels["label_app"] = app
        gauge(labels, [1])
        for c, (cpu, mem) in containers.items():
            base = {"namespace": ns, "pod": pod, "node": node}
            counter({"__name__": "container_cpu_usage_seconds_total", "container": c, **base},
                    cpu)
            gauge({"__name__": "container_memory_working_set_bytes", "container": c, **base},
                  mem)
        if (ns, pod) in HTTP_RPS:
            counter({"__name__": "http_requests_total", "namespace": ns, "pod": pod,
                     "code": "200"}, HTTP_RPS[(ns, pod)])
        # the pod's own cgroup and the pause container: never a container of the answer
        counter({"__name__": "container_cpu_usage_seconds_total", **base}, 9.0)
        counter({"__name__": "container_cpu_usage_seconds_total", "container": "POD", **base},
                9.0)
    return out


def mem_of(levels, averaged):
    if not averaged:
        return float(levels[-1])
    per = NPOINTS // len(levels)
    vals = [levels[min(i // per, len(levels) - 1)] for i in range(NPOINTS)]
    return sum(vals) / len(vals)


def cpu_cores(q):
    m = re.fullmatch(r"(\d+)([num]?)", q)
    assert m, q
    return int(m.group(1)) / {"": 1, "m": 1e3, "u": 1e6, "n": 1e9}[m.group(2)]


def mem_bytes(q):
    m = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti)?", q)
    assert m, q
    return int(m.group(1)) * {None: 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30,
                              "Ti": 1 << 40}[m.group(2)]


@pytest.fixture(scope="module")
def kma(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kma")
    certs = Certs(tmp / "certs")
    tokens = tmp / "tokens.yaml"
    tokens.write_text(tokens_yaml(TOKENS))
    rules = tmp / "k8s-metrics.yaml"
    rules.write_text(K8S_METRICS)
    port = free_port()
    srv = Proc(["server", "--listen", f"127.0.0.1:{port}", "--data", str(tmp / "data"),
                "--tls-cert", certs.server, "--tls-key", certs.server_key,
                "--tokens", str(tokens), "--self-scrape-interval", "0",
                "--default-rules=false", "--k8s-metrics-config", str(rules)])
    ctx = ssl.create_default_context(cafile=certs.ca)
    base = f"https://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        assert srv.p.poll() is None, srv.log()
        try:
            with urllib.request.urlopen(base + "/readyz", context=ctx, timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        assert time.monotonic() < deadline, srv.log()
        time.sleep(0.05)
    now = int(time.time() * 1000)
    body = rwlib.snappy(rwlib.write_request(series(now)))
    req = urllib.request.Request(base + "/api/v1/write", data=body, method="POST",
                                 headers={**rwlib.HEADERS, **bearer("adm")})
    with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
        assert r.status == 204
    yield {"base": base, "ctx": ctx, "certs": certs, "srv": srv, "tmp": tmp}
    assert srv.stop() == 0, srv.log()
    assert "Sanitizer" not in srv.log(), srv.log()
    srv.close()


def get(kma, path, token="reader", **params):
    url = kma["base"] + path + ("?" + urllib.parse.urlencode(params) if params else "")
    req = urllib.request.Request(url, headers=bearer(token) if token else {})
    try:
        with urllib.request.urlopen(req, context=kma["ctx"], timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


MV = "/apis/metrics.k8s.io/v1beta1"


def test_discovery_documents(kma):
    st, d = get(kma, "/apis")
    assert st == 200 and d["kind"] == "APIGroupList"
    g = [x for x in d["groups"] if x["name"] == "metrics.k8s.io"][0]
    assert g["preferredVersion"]["groupVersion"] == "metrics.k8s.io/v1beta1"
    st, d = get(kma, "/apis/metrics.k8s.io")
    assert st == 200 and d["kind"] == "APIGroup" and d["name"] == "metrics.k8s.io"
    st, d = get(kma, MV)
    assert st == 200 and d["kind"] == "APIResourceList"
    assert {(r["name"], r["kind"], r["namespaced"]) for r in d["resources"]} == {
        ("nodes", "NodeMetrics", False), ("pods", "PodMetrics", True)}
    st, d = get(kma, "/api")
    assert st == 200 and d["kind"] == "APIVersions" and d["versions"] == ["v1"]
    st, d = get(kma, "/api/v1")
    assert st == 200 and [r["name"] for r in d["resources"]] == ["nodes"]


def test_the_token_gate_holds(kma):
    st, d = get(kma, MV + "/nodes", token=None)
    assert st == 401, d


@pytest.mark.parametrize("window", [None, "3m"])
def test_node_metrics(kma, window):
    params = {"window": window} if window else {}
    st, d = get(kma, MV + "/nodes", **params)
    assert st == 200, d
    assert d["kind"] == "NodeMetricsList" and d["apiVersion"] == "metrics.k8s.io/v1beta1"
    got = {i["metadata"]["name"]: i for i in d["items"]}
    assert set(got) == set(NODES)
    for node, (user, system, idle, total, avail, _, _) in NODES.items():
        item = got[node]
        assert item["window"] == ("3m0s" if window else "1m0s")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", item["timestamp"])
        assert abs(cpu_cores(item["usage"]["cpu"]) - (user + system)) < 1e-6, item
        assert mem_bytes(item["usage"]["memory"]) == total - avail, item
    st, one = get(kma, MV + "/nodes/node-b")
    assert st == 200 and one["kind"] == "NodeMetrics" and one["metadata"]["name"] == "node-b"
    st, sel = get(kma, MV + "/nodes", labelSelector="pool=big")
    assert st == 200 and [i["metadata"]["name"] for i in sel["items"]] == ["node-a"]


def expected_pods(ns=None, app_filter=None, averaged=False):
    out = {}
    for (pns, pod, _node, app), containers in PODS.items():
        if ns and pns != ns:
            continue
        if app_filter and not app_filter(app):
            continue
        out[(pns, pod)] = {c: (cpu, mem_of(levels, averaged))
                           for c, (cpu, levels) in containers.items()}
    return out


def pods_of(d):
    return {(i["metadata"]["namespace"], i["metadata"]["name"]):
            {c["name"]: (cpu_cores(c["usage"]["cpu"]), mem_bytes(c["usage"]["memory"]))
             for c in i["containers"]}
            for i in d["items"]}


def assert_pods(got, want):
    assert set(got) == set(want), (sorted(got), sorted(want))
    for k, containers in want.items():
        assert set(got[k]) == set(containers), (k, got[k])
        for c, (cpu, mem) in containers.items():
            assert abs(got[k][c][0] - cpu) < 1e-6, (k, c, got[k][c], cpu)
            assert abs(got[k][c][1] - mem) <= 1, (k, c, got[k][c], mem)


def test_pod_metrics(kma):
    st, d = get(kma, MV + "/pods")
    assert st == 200 and d["kind"] == "PodMetricsList", d
    assert_pods(pods_of(d), expected_pods())
    st, d = get(kma, MV + "/namespaces/shop/pods")
    assert st == 200
    assert_pods(pods_of(d), expected_pods(ns="shop"))
    st, one = get(kma, MV + "/namespaces/shop/pods/web-1")
    assert st == 200 and one["kind"] == "PodMetrics"
    assert [c["name"] for c in one["containers"]] == ["nginx", "sidecar"]
    st, d = get(kma, MV + "/pods", window="4m")
    assert st == 200 and d["items"][0]["window"] == "4m0s"
    assert_pods(pods_of(d), expected_pods(averaged=True))


@pytest.mark.parametrize("selector,keep", [
    ("app=web", lambda a: a == "web"),
    ("app in (web, db)", lambda a: a in ("web", "db")),
    ("app!=web", lambda a: a != "web"),
    ("!app", lambda a: a is None),
    ("app", lambda a: a is not None),
    ("app notin (db)", lambda a: a != "db"),
])
def test_pod_label_selectors(kma, selector, keep):
    st, d = get(kma, MV + "/pods", labelSelector=selector)
    assert st == 200, d
    assert_pods(pods_of(d), expected_pods(app_filter=keep))


def test_errors_are_kubernetes_status_objects(kma):
    st, d = get(kma, MV + "/nodes/nope")
    assert st == 404 and d["kind"] == "Status" and d["reason"] == "NotFound"
    assert "nope" in d["message"]
    st, d = get(kma, MV + "/namespaces/shop/pods/nope")
    assert st == 404 and d["reason"] == "NotFound"
    st, d = get(kma, MV + "/pods", labelSelector="app=web,")
    assert st == 400 and d["reason"] == "BadRequest" and "unable to parse" in d["message"]
    st, d = get(kma, MV + "/pods", window="soon")
    assert st == 400 and d["reason"] == "BadRequest" and "window" in d["message"]


def test_core_node_list_for_kubectl(kma):
    st, d = get(kma, "/api/v1/nodes")
    assert st == 200 and d["kind"] == "NodeList"
    got = {i["metadata"]["name"]: i["status"] for i in d["items"]}
    assert set(got) == set(NODES)
    for node, (_, _, _, total, _, acpu, amem) in NODES.items():
        assert abs(cpu_cores(got[node]["allocatable"]["cpu"]) - acpu) < 1e-9
        assert mem_bytes(got[node]["allocatable"]["memory"]) == amem
        assert mem_bytes(got[node]["capacity"]["memory"]) == total
    st, one = get(kma, "/api/v1/nodes/node-a")
    assert st == 200 and one["kind"] == "Node"
    st, d = get(kma, "/api/v1/nodes/nope")
    assert st == 404 and d["kind"] == "Status"


# ---- custom.metrics.k8s.io and external.metrics.k8s.io ------------------------------------

CM = "/apis/custom.metrics.k8s.io/v1beta1"
EM = "/apis/external.metrics.k8s.io/v1beta1"


def quantity(q):
    m = re.fullmatch(r"(-?\d+)([num]?)", q)
    assert m, q
    return int(m.group(1)) / {"": 1, "m": 1e3, "u": 1e6, "n": 1e9}[m.group(2)]


def test_custom_and_external_discovery(kma):
    st, d = get(kma, "/apis")
    assert {g["name"] for g in d["groups"]} == {"metrics.k8s.io", "custom.metrics.k8s.io",
                                                "external.metrics.k8s.io"}
    st, d = get(kma, CM)
    assert st == 200 and d["kind"] == "APIResourceList"
    assert {(r["name"], r["namespaced"]) for r in d["resources"]} == {
        ("pods/http_requests_per_second", True), ("namespaces/http_requests_per_second", False),
        ("nodes/memory_total", False)}
    st, d = get(kma, EM)
    assert {r["name"] for r in d["resources"]} == {"queue_messages_ready", "queue_total"}


def test_custom_metrics_of_pods(kma):
    # what an HPA's Pods metric asks: every pod of its target's selector
    st, d = get(kma, CM + "/namespaces/shop/pods/*/http_requests_per_second",
                labelSelector="app=web")
    assert st == 200 and d["kind"] == "MetricValueList", d
    got = {i["describedObject"]["name"]: quantity(i["value"]) for i in d["items"]}
    assert got.keys() == {"web-1", "web-2"}
    for pod, v in got.items():
        assert abs(v - HTTP_RPS[("shop", pod)]) < 1e-6, (pod, v)
    item = d["items"][0]
    assert item["describedObject"]["kind"] == "Pod"
    assert item["describedObject"]["namespace"] == "shop"
    assert item["metricName"] == "http_requests_per_second"
    st, d = get(kma, CM + "/namespaces/shop/pods/*/http_requests_per_second")
    assert {i["describedObject"]["name"] for i in d["items"]} == {"web-1", "web-2", "db-0"}
    # one object, as an Object metric asks
    st, d = get(kma, CM + "/namespaces/shop/pods/db-0/http_requests_per_second")
    assert st == 200 and quantity(d["items"][0]["value"]) == pytest.approx(0.5)
    st, d = get(kma, CM + "/namespaces/shop/pods/nope/http_requests_per_second")
    assert st == 404 and d["kind"] == "Status"


def test_custom_metrics_of_cluster_objects(kma):
    st, d = get(kma, CM + "/namespaces/shop/metrics/http_requests_per_second")
    assert st == 200, d
    assert [i["describedObject"]["name"] for i in d["items"]] == ["shop"]
    assert quantity(d["items"][0]["value"]) == pytest.approx(14.5)
    st, d = get(kma, CM + "/nodes/*/memory_total")
    assert {i["describedObject"]["name"]: quantity(i["value"]) for i in d["items"]} == {
        n: v[3] for n, v in NODES.items()}
    st, d = get(kma, CM + "/namespaces/shop/pods/*/no_such_metric")
    assert st == 404 and "no such metric" in d["message"]


def test_external_metrics(kma):
    st, d = get(kma, EM + "/namespaces/shop/queue_messages_ready", labelSelector="queue=jobs")
    assert st == 200 and d["kind"] == "ExternalMetricValueList", d
    assert [(i["metricLabels"], quantity(i["value"])) for i in d["items"]] == [
        ({"queue": "jobs"}, 42)]
    st, d = get(kma, EM + "/namespaces/shop/queue_messages_ready")
    assert {i["metricLabels"]["queue"]: quantity(i["value"]) for i in d["items"]} == {
        "jobs": 42, "mail": 7}
    # not namespaced: every namespace's queues
    st, d = get(kma, EM + "/namespaces/whatever/queue_total", labelSelector="queue in (jobs)")
    assert [quantity(i["value"]) for i in d["items"]] == [45]
    st, d = get(kma, EM + "/namespaces/shop/queue_messages_ready", labelSelector="queue=")
    assert st == 200 and d["items"] == []
    st, d = get(kma, EM + "/namespaces/shop/queue_messages_ready", labelSelector="a b")
    assert st == 400 and d["reason"] == "BadRequest"
    st, d = get(kma, EM + "/namespaces/shop/nope")
    assert st == 404


def test_a_bad_metrics_config_stops_the_server_with_a_sentence(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("custom:\n  - name: x\n    resource: pods\n    query: up\n")
    r = subprocess.run([os.environ.get("KMON_BIN", "build/kmon"), "server", "--listen",
                        "127.0.0.1:0", "--data", str(tmp_path / "d"), "--k8s-metrics-config",
                        str(bad)], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert f"{bad}:4: the query has no $__matchers" in r.stderr, r.stderr


# ---- the real kubectl ---------------------------------------------------------------------

def kubectl(kma, *args, token="reader"):
    exe = shutil.which("kubectl")
    if not exe:
        pytest.skip("kubectl is not installed: `kubectl top` against kmon not tried")
    cfg = kma["tmp"] / f"kubeconfig-{token}"
    cfg.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "kmon",
        "clusters": [{"name": "kmon", "cluster": {"server": kma["base"],
                                                  "certificate-authority": kma["certs"].ca}}],
        "users": [{"name": "u", "user": {"token": secret(token)}}],
        "contexts": [{"name": "kmon", "context": {"cluster": "kmon", "user": "u"}}]}))
    env = {**os.environ, "KUBECONFIG": str(cfg), "HOME": str(kma["tmp"])}
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=60, env=env)


def table(out):
    lines = [l.split() for l in out.strip().splitlines()]
    return lines[0], lines[1:]


def test_kubectl_top_node(kma):
    r = kubectl(kma, "top", "node")
    assert r.returncode == 0, r.stderr
    head, rows = table(r.stdout)
    assert head == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"], head
    got = {row[0]: row for row in rows}
    assert set(got) == set(NODES)
    for node, (user, system, _, total, avail, acpu, amem) in NODES.items():
        cores = user + system
        assert got[node][1] == f"{round(cores * 1000)}m"
        assert got[node][2] == f"{int(cores / acpu * 100)}%"
        assert got[node][3] == f"{(total - avail) // MiB}Mi"
        assert got[node][4] == f"{int((total - avail) / amem * 100)}%"
    r = kubectl(kma, "top", "node", "node-b")
    assert r.returncode == 0 and table(r.stdout)[1][0][0] == "node-b", r.stderr


def test_kubectl_top_pods(kma):
    r = kubectl(kma, "top", "pods", "-A", "--containers")
    assert r.returncode == 0, r.stderr
    head, rows = table(r.stdout)
    assert head == ["NAMESPACE", "POD", "NAME", "CPU(cores)", "MEMORY(bytes)"], head
    want = {(ns, pod, c): (cpu, mem) for (ns, pod), cs in expected_pods().items()
            for c, (cpu, mem) in cs.items()}
    got = {(r_[0], r_[1], r_[2]): (r_[3], r_[4]) for r_ in rows}
    assert set(got) == set(want)
    for k, (cpu, mem) in want.items():
        assert got[k] == (f"{round(cpu * 1000)}m", f"{int(mem) // MiB}Mi"), (k, got[k])
    r = kubectl(kma, "top", "pods", "-n", "shop", "-l", "app=web")
    assert r.returncode == 0, r.stderr
    assert sorted(row[0] for row in table(r.stdout)[1]) == ["web-1", "web-2"]


def test_kubectl_without_a_good_token_is_refused(kma):
    r = kubectl(kma, "top", "node", token="nobody")
    assert r.returncode != 0
    assert "Unauthorized" in r.stderr or "logged in" in r.stderr, r.stderr


def test_aggregation_listener_takes_the_proxy_client_certificate(tmp_path):
    """--k8s-api-listen with --k8s-api-client-ca: what the API server's aggregation layer
    uses — its proxy client certificate is the credential (no kmon token), a client
    without one fails the handshake, and only the metrics API is served there."""
    certs = Certs(tmp_path / "certs")
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(tokens_yaml(TOKENS))
    port, kport = free_port(), free_port()
    srv = Proc(["server", "--listen", f"127.0.0.1:{port}", "--data", str(tmp_path / "data"),
                "--tls-cert", certs.server, "--tls-key", certs.server_key,
                "--tokens", str(tokens), "--self-scrape-interval", "0",
                "--default-rules=false", "--k8s-api-listen", f"127.0.0.1:{kport}",
                "--k8s-api-client-ca", certs.ca])
    try:
        with_cert = ssl.create_default_context(cafile=certs.ca)
        with_cert.load_cert_chain(certs.client, certs.client_key)
        url = f"https://127.0.0.1:{kport}{MV}/nodes"
        deadline = time.monotonic() + 30
        while True:
            assert srv.p.poll() is None, srv.log()
            try:
                with urllib.request.urlopen(url, context=with_cert, timeout=2) as r:
                    assert r.status == 200
                    assert json.loads(r.read())["kind"] == "NodeMetricsList"
                    break
            except (OSError, AssertionError):
                assert time.monotonic() < deadline, srv.log()
                time.sleep(0.1)
        bare = ssl.create_default_context(cafile=certs.ca)
        with pytest.raises((ssl.SSLError, ConnectionError, urllib.error.URLError)):
            with urllib.request.urlopen(url, context=bare, timeout=5) as r:
                r.read()
        # the rest of kmon is not on that listener
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"https://127.0.0.1:{kport}/api/v1/query?query=up",
                                   context=with_cert, timeout=5)
        assert e.value.code == 404
        # and the main listener still wants its token
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"https://127.0.0.1:{port}{MV}/nodes", context=bare,
                                   timeout=5)
        assert e.value.code == 401
        assert srv.stop() == 0, srv.log()
    finally:
        srv.close()
