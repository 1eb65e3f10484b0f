"""OTLP/HTTP ingest (POST /v1/metrics, /v1/logs) with a real OpenTelemetry client: the JS
SDK's OTLP/HTTP exporters (JSON and protobuf, cumulative and delta temporality) push to
the kmon binary, and PromQL and LogQL find the series and lines with the names, labels
and values the OpenTelemetry Prometheus-compatibility specification gives them; bodies
that do not decode are refused and store nothing; --otlp-listen serves a second port."""
import gzip
import json
import os
import shutil
import subprocess
import time
import urllib.parse

import pytest

from conftest import free_port, http_request, run, wait_ready
from rwlib import field, varint

NODE = shutil.which("node")
NODE_MODULES = os.environ.get(
    "KMON_NODE_MODULES", os.path.join(os.path.dirname(__file__), "../../web/node_modules"))
PUSHER = os.path.join(os.path.dirname(__file__), "otlp_push.cjs")
NS = 1_000_000_000


def needs_sdk():
    if not NODE:
        pytest.skip("node is not installed")
    if not os.path.isdir(os.path.join(NODE_MODULES, "@opentelemetry/sdk-metrics")):
        pytest.skip(f"the OpenTelemetry SDK is not installed in {NODE_MODULES}: run "
                    "scripts/web-deps.sh test")


def push(base, mode, temporality, tag, rounds=1):
    env = dict(os.environ, NODE_PATH=NODE_MODULES)
    r = subprocess.run([NODE, PUSHER, base, mode, temporality, tag, str(rounds)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout + r.stderr


def get_json(base, path, **args):
    status, _, body = http_request(base + path + "?" + urllib.parse.urlencode(args))
    return status, json.loads(body)


def query(base, q):
    status, a = get_json(base, "/api/v1/query", query=q)
    assert status == 200 and a["status"] == "success", a
    return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in a["data"]["result"]}


def one(base, q):
    got = query(base, q)
    assert len(got) == 1, (q, got)
    return next(iter(got.items()))


def log_lines(base, q):
    now = time.time_ns()
    status, a = get_json(base, "/loki/api/v1/query_range", query=q, start=str(now - 3600 * NS),
                         end=str(now + 60 * NS), limit="1000")
    assert status == 200 and a["status"] == "success", a
    return {tuple(sorted(s["stream"].items())): [l for _, l in s["values"]]
            for s in a["data"]["result"]}


@pytest.mark.parametrize("mode", ["json", "proto"])
def test_sdk_cumulative(server_factory, mode):
    needs_sdk()
    _, base, _ = server_factory()
    tag = f"t{time.time_ns()}"
    push(base, mode, "cumulative", tag)
    job = f"demo/shop-{mode}-cumulative"
    labels, v = one(base, f'http_requests_total{{job="{job}"}}')
    assert v == 5
    assert dict(labels) == {
        "__name__": "http_requests_total", "job": job, "instance": "shop-1:8080",
        "namespace": "prod", "pod": "shop-1", "node": "node-a", "cluster": "east",
        "container": "app", "route": "/a", "http_method": "GET",
        "otel_scope_name": "otlp-push", "otel_scope_version": "1.2.3"}
    assert one(base, f'queue_depth_bytes{{job="{job}", queue="q1"}}')[1] == 42
    buckets = {dict(l)["le"]: v for l, v in
               query(base, f'http_duration_seconds_bucket{{job="{job}"}}').items()}
    assert buckets == {"0.1": 0, "0.5": 1, "1": 2, "+Inf": 3}
    assert one(base, f'http_duration_seconds_count{{job="{job}"}}')[1] == 3
    assert one(base, f'http_duration_seconds_sum{{job="{job}"}}')[1] == pytest.approx(2.9)
    # The exponential histogram, as explicit buckets.
    assert one(base, f'payload_size_bytes_count{{job="{job}"}}')[1] == 3
    assert one(base, f'payload_size_bytes_sum{{job="{job}"}}')[1] == pytest.approx(2900)
    assert one(base, f'max(payload_size_bytes_bucket{{job="{job}"}})')[1] == 3
    assert one(base, f'histogram_quantile(0.5, payload_size_bytes_bucket{{job="{job}"}})')[1] \
        == pytest.approx(700, rel=0.05)
    labels, v = one(base, f'target_info{{job="{job}"}}')
    assert v == 1
    info = dict(labels)
    assert info["instance"] == "shop-1:8080" and info["host_arch"] == "amd64"
    assert info["k8s_pod_name"] == "shop-1" and info["test_tag"] == tag
    assert "service_name" not in info
    # Metadata: type, help, unit.
    status, md = get_json(base, "/api/v1/metadata", metric="http_duration_seconds")
    if md["data"]:
        assert md["data"]["http_duration_seconds"][0]["type"] == "histogram"
        assert md["data"]["http_duration_seconds"][0]["help"] == "Request time."
    # Logs: a stream per level, the body as the line.
    streams = log_lines(base, f'{{job="{job}"}} |= "{tag}"')
    by_level = {dict(k)["level"]: v for k, v in streams.items()}
    assert by_level == {"warn": [f"{tag} round 0 warn"], "error": [f"{tag} round 0 error"]}
    for k in streams:
        d = dict(k)
        assert (d["namespace"], d["pod"], d["node"], d["cluster"], d["container"],
                d["service_name"], d["instance"]) == (
            "prod", "shop-1", "node-a", "east", "app", f"shop-{mode}-cumulative",
            "shop-1:8080")


def test_sdk_delta_accumulated(server_factory):
    needs_sdk()
    _, base, _ = server_factory()
    out = push(base, "proto", "delta", f"t{time.time_ns()}", rounds=3)
    job = "demo/shop-proto-delta"
    # Three delta points of 5 each: one cumulative counter at 15.
    assert one(base, f'http_requests_total{{job="{job}"}}')[1] == 15
    assert one(base, f'http_duration_seconds_count{{job="{job}"}}')[1] == 9
    buckets = {dict(l)["le"]: v for l, v in
               query(base, f'http_duration_seconds_bucket{{job="{job}"}}').items()}
    assert buckets == {"0.1": 0, "0.5": 3, "1": 6, "+Inf": 9}
    # Delta exponential histograms are dropped (the specification), and said so.
    assert "delta exponential histogram" in out
    assert query(base, f'payload_size_bytes_count{{job="{job}"}}') == {}


def series_count(base):
    status, a = get_json(base, "/api/v1/series", **{"match[]": '{__name__=~".+"}'})
    assert status == 200, a
    return len(a["data"])


def test_malformed_bodies_store_nothing(server_factory):
    _, base, _ = server_factory()
    before = series_count(base)
    cases = [
        ("/v1/metrics", "application/x-protobuf", b"\x0a\xff\xff\xff\xff\x0f", 400),
        ("/v1/metrics", "application/json", b'{"resourceMetrics": [{"scopeMetrics": 3}]}', 400),
        ("/v1/metrics", "application/json", b"not json", 400),
        ("/v1/logs", "application/x-protobuf", b"\x0a\x05\x12\x03\x12\x01", 400),
        ("/v1/logs", "application/json", b'{"resourceLogs": "x"}', 400),
        ("/v1/metrics", "text/plain", b"x 1", 415),
    ]
    for path, ct, body, want in cases:
        status, _, answer = http_request(base + path, "POST", body, {"Content-Type": ct})
        assert status == want, (path, body, answer)
        assert "error" in json.loads(answer)
    status, _, _ = http_request(base + "/v1/metrics", "POST", b"\x1f\x8b garbage",
                                {"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert status == 400
    assert series_count(base) == before


def gauge_request(name, value, job="hand"):
    return json.dumps({"resourceMetrics": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": job}}]},
        "scopeMetrics": [{"metrics": [{"name": name, "unit": "ms", "gauge": {"dataPoints": [
            {"timeUnixNano": str(time.time_ns()), "asInt": str(value),
             "attributes": [{"key": "a.b", "value": {"stringValue": "x"}},
                            {"key": "a_b", "value": {"stringValue": "y"}}]}]}}]}]}]}).encode()


def test_json_gzip_and_label_collisions(server_factory):
    _, base, _ = server_factory()
    status, hdrs, body = http_request(base + "/v1/metrics", "POST",
                                      gzip.compress(gauge_request("queue.wait", 7)),
                                      {"Content-Type": "application/json",
                                       "Content-Encoding": "gzip"})
    assert status == 200 and json.loads(body) == {}, body
    assert hdrs["Content-Type"].startswith("application/json")
    labels, v = one(base, 'queue_wait_milliseconds{job="hand"}')
    assert v == 7
    assert dict(labels)["a_b"] == "x;y"  # "a.b" and "a_b" collide: joined in key order
    # A protobuf request gets a protobuf answer (empty: nothing refused).
    status, hdrs, body = http_request(base + "/v1/metrics", "POST", b"",
                                      {"Content-Type": "application/x-protobuf"})
    assert status == 200 and body == b"" and hdrs["Content-Type"] == "application/x-protobuf"


def test_partial_success_for_refused_points(server_factory):
    _, base, _ = server_factory()
    old = json.loads(gauge_request("old.metric", 1))
    old["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["gauge"]["dataPoints"][0][
        "timeUnixNano"] = str(time.time_ns() + 3600 * NS)  # past --max-future (10m)
    status, _, body = http_request(base + "/v1/metrics", "POST", json.dumps(old).encode(),
                                   {"Content-Type": "application/json"})
    assert status == 200, body
    ps = json.loads(body)["partialSuccess"]
    assert ps["rejectedDataPoints"] == 1 and "refused" in ps["errorMessage"]
    assert query(base, "old_metric_milliseconds") == {}


def test_otlp_listen(server_factory):
    needs_sdk()
    port = free_port()
    proc, base, _ = server_factory("--otlp-listen", f"127.0.0.1:{port}")
    otlp = f"http://127.0.0.1:{port}"
    wait_ready(otlp, proc)
    push(otlp, "json", "cumulative", f"t{time.time_ns()}")
    assert one(base, 'http_requests_total{job="demo/shop-json-cumulative"}')[1] == 5
    # The second listener serves ingest only.
    status, _, _ = http_request(otlp + "/api/v1/query?query=up")
    assert status == 404
    assert "--otlp-listen" in run("server", "--help").stdout


def test_rate_limit_429_stores_nothing(server_factory):
    _, base, _ = server_factory("--max-samples-per-second", "1")
    hdrs = {"Content-Type": "application/json"}
    # The budget (two seconds' worth) goes within a few requests; the next is refused.
    for i in range(5):
        status, h, body = http_request(base + "/v1/metrics", "POST",
                                       gauge_request(f"try{i}", i), hdrs)
        if status != 200:
            break
        assert one(base, f"try{i}_milliseconds")[1] == i
    assert status == 429, body
    assert int(h["Retry-After"]) >= 1
    assert "rate limit" in json.loads(body)["error"]
    assert query(base, f"try{i}_milliseconds") == {}


def test_logs_without_resource(server_factory):
    _, base, _ = server_factory()
    now = time.time_ns()
    req = {"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"timeUnixNano": str(now), "body": {"stringValue": "bare line"}},
        {"observedTimeUnixNano": str(now + 1), "severityNumber": 9,
         "body": {"arrayValue": {"values": [{"intValue": "1"}, {"boolValue": True}]}}}]}]}]}
    status, _, body = http_request(base + "/v1/logs", "POST", json.dumps(req).encode(),
                                   {"Content-Type": "application/json"})
    assert status == 200 and json.loads(body) == {}, body
    streams = log_lines(base, '{service_name="unknown_service"}')
    got = {dict(k).get("level", ""): v for k, v in streams.items()}
    assert got == {"": ["bare line"], "info": ["[1,true]"]}


def test_logs_protobuf(server_factory):
    """ExportLogsServiceRequest in protobuf (the JS SDK's log exporter sends JSON), with a
    trace id, attributes and a non-string body; the answer is protobuf."""
    def kv(k, v):
        return field(1, 2, k.encode()) + field(2, 2, field(1, 2, v.encode()))

    _, base, _ = server_factory()
    now = time.time_ns()
    rec1 = (field(1, 1, now.to_bytes(8, "little")) + field(2, 0, varint(13)) +
            field(3, 2, b"Warning") + field(5, 2, field(1, 2, b"disk almost full")) +
            field(6, 2, kv("path", "/var")) + field(9, 2, bytes(range(16))) +
            field(10, 2, bytes(range(8))))
    rec2 = (field(11, 1, (now + 1).to_bytes(8, "little")) + field(2, 0, varint(21)) +
            field(5, 2, field(3, 0, varint(42))))
    resource = field(1, 2, kv("service.name", "pbsvc")) + field(1, 2, kv("k8s.pod.name", "p1"))
    scope_logs = field(1, 2, field(1, 2, b"lib")) + field(2, 2, rec1) + field(2, 2, rec2)
    body = field(1, 2, field(1, 2, resource) + field(2, 2, scope_logs))
    status, hdrs, answer = http_request(base + "/v1/logs", "POST", gzip.compress(body),
                                        {"Content-Type": "application/x-protobuf",
                                         "Content-Encoding": "gzip"})
    assert status == 200 and answer == b"", answer
    assert hdrs["Content-Type"] == "application/x-protobuf"
    streams = log_lines(base, '{job="pbsvc"}')
    got = {dict(k)["level"]: v for k, v in streams.items()}
    assert got == {"warning": ["disk almost full"], "fatal": ["42"]}
    assert all(dict(k)["pod"] == "p1" and dict(k)["service_name"] == "pbsvc" for k in streams)
