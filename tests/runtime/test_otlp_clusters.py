"""OTLP/HTTP ingest among many clusters: a write token's cluster is the `cluster` of every
series and stream it writes, whatever the resource or the data points say; the
per-cluster limits (series, samples per second, log bytes per second) apply to OTLP as
to remote_write and Loki push; what OTLP stores is forwarded (--remote-write-url)."""
import hashlib
import json
import time

from conftest import http_request, wait_until
from test_otlp import log_lines, query

JSON = {"Content-Type": "application/json"}


def attrs(**kv):
    return [{"key": k.replace("_", "."), "value": {"stringValue": v}} for k, v in kv.items()]


def gauges(names, cluster=None, point_cluster=None, value=1):
    res = {"service.name": "shop"}
    if cluster:
        res["k8s.cluster.name"] = cluster
    points = [{"timeUnixNano": str(time.time_ns()), "asDouble": value,
               "attributes": ([{"key": "cluster", "value": {"stringValue": point_cluster}}]
                              if point_cluster else [])}]
    return json.dumps({"resourceMetrics": [{
        "resource": {"attributes": [{"key": k, "value": {"stringValue": v}}
                                    for k, v in res.items()]},
        "scopeMetrics": [{"metrics": [{"name": n, "gauge": {"dataPoints": points}}
                                      for n in names]}]}]}).encode()


def logs(cluster, line):
    return json.dumps({"resourceLogs": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "shop"}},
            {"key": "k8s.cluster.name", "value": {"stringValue": cluster}}]},
        "scopeLogs": [{"logRecords": [{"timeUnixNano": str(time.time_ns()),
                                       "body": {"stringValue": line}}]}]}]}).encode()


def post(base, path, body, token=None):
    h = dict(JSON)
    if token:
        h["Authorization"] = f"Bearer {token}"
    status, hdrs, out = http_request(base + path, "POST", body, h)
    return status, hdrs, json.loads(out) if out else {}


def test_write_token_sets_the_cluster_of_otlp_data(server_factory, tmp_path):
    tokens = {"w-a": ("write", "a"), "admin": ("admin", None)}
    f = tmp_path / "tokens.yaml"
    f.write_text("tokens:\n" + "".join(
        f"  - name: {n}\n    sha256: {hashlib.sha256(n.encode()).hexdigest()}\n"
        f"    scope: {s}\n" + (f"    cluster: {c}\n" if c else "")
        for n, (s, c) in tokens.items()))
    _, base, _ = server_factory("--tokens", str(f))
    # No token: refused, nothing stored.
    assert post(base, "/v1/metrics", gauges(["lie"], cluster="b"))[0] == 401
    # The resource says b, a data point says c: the token says a.
    status, _, body = post(base, "/v1/metrics", gauges(["lie"], cluster="b", point_cluster="c"),
                           "w-a")
    assert status == 200 and body == {}, body
    status, _, body = post(base, "/v1/logs", logs("b", "a line from a"), "w-a")
    assert status == 200 and body == {}, body
    h = {"Authorization": "Bearer admin"}
    status, _, out = http_request(base + "/api/v1/query?query=lie", headers=h)
    result = json.loads(out)["data"]["result"]
    assert [r["metric"]["cluster"] for r in result] == ["a"], result
    status, _, out = http_request(base + "/api/v1/query?query=target_info", headers=h)
    assert {r["metric"]["cluster"] for r in json.loads(out)["data"]["result"]} == {"a"}
    status, _, out = http_request(
        base + "/loki/api/v1/query_range?query=%7Bservice_name%3D%22shop%22%7D&limit=10"
        f"&start={time.time_ns() - 3600 * 10**9}", headers=h)
    streams = json.loads(out)["data"]["result"]
    assert [s["stream"]["cluster"] for s in streams] == ["a"], streams


def test_series_cap_per_cluster_refuses_new_series_only(server_factory):
    _, base, _ = server_factory("--max-series-per-cluster", "4")
    # Four series for x (three gauges and target_info): at the cap.
    status, _, body = post(base, "/v1/metrics", gauges(["g1", "g2", "g3"], cluster="x"))
    assert status == 200 and body == {}, body
    # Two more new ones are refused as points (partial success), the known ones still write.
    status, _, body = post(base, "/v1/metrics", gauges(["g1", "g4", "g5"], cluster="x", value=2))
    assert status == 200, body
    ps = body["partialSuccess"]
    assert ps["rejectedDataPoints"] == 2, ps
    assert '"x"' in ps["errorMessage"] and "--max-series-per-cluster" in ps["errorMessage"]
    assert query(base, 'g1{cluster="x"}') != {}
    assert list(query(base, 'g1{cluster="x"}').values()) == [2]
    assert query(base, "g4") == {} and query(base, "g5") == {}
    # Another cluster has its own cap.
    status, _, body = post(base, "/v1/metrics", gauges(["g4"], cluster="y"))
    assert status == 200 and body == {}, body
    assert len(query(base, 'g4{cluster="y"}')) == 1


def test_rate_per_cluster_429_stores_nothing(server_factory):
    _, base, _ = server_factory("--max-samples-per-second-per-cluster", "10")
    names = [f"m{i}" for i in range(6)]  # 7 samples a request with target_info
    assert post(base, "/v1/metrics", gauges(names, cluster="noisy"))[0] == 200
    status, hdrs, body = post(base, "/v1/metrics", gauges([n + "x" for n in names],
                                                          cluster="noisy"))
    assert status == 429, body
    assert int(hdrs["Retry-After"]) >= 1 and '"noisy"' in body["error"]
    assert query(base, "m0x") == {}
    # The quiet cluster is not slowed by the noisy one.
    assert post(base, "/v1/metrics", gauges(names, cluster="quiet"))[0] == 200


def test_log_bytes_per_cluster(server_factory):
    _, base, _ = server_factory("--max-log-bytes-per-second-per-cluster", "100")
    assert post(base, "/v1/logs", logs("noisy", "x" * 80))[0] == 200
    status, hdrs, body = post(base, "/v1/logs", logs("noisy", "refused " + "y" * 80))
    assert status == 429 and int(hdrs["Retry-After"]) >= 1, body
    assert post(base, "/v1/logs", logs("quiet", "z" * 80))[0] == 200
    lines = [l for v in log_lines(base, '{service_name="shop"}').values() for l in v]
    assert sorted(lines) == ["x" * 80, "z" * 80]


def test_otlp_samples_are_forwarded(server_factory):
    _, down, _ = server_factory()
    _, base, _ = server_factory("--remote-write-url", down + "/api/v1/write")
    assert post(base, "/v1/metrics", gauges(["forwarded_gauge"], cluster="f", value=5))[0] == 200
    got = wait_until(lambda: query(down, 'forwarded_gauge{cluster="f",job="shop"}'), 20,
                     "the OTLP sample forwarded")
    assert list(got.values()) == [5]
