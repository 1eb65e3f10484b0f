"""Per-cluster limits of `kmon server` (issue 15): --max-samples-per-second-per-cluster,
--max-series-per-cluster and --max-log-bytes-per-second-per-cluster, on a real server
with remote_write and Loki push bodies. A noisy cluster past its budget is answered 429
with Retry-After and a JSON message naming the cluster and the limit while a quiet
cluster's writes pass; a refused request stores nothing; existing series keep being
written at the series cap; /metrics shows the per-cluster figures (kmon_cluster_*)."""
import json
import time
import urllib.parse

from conftest import SANITIZED, http_get, http_request, scrape, wait_until
from rwlib import HEADERS, series_of, snappy, write_request

SLOW = 3 if SANITIZED else 1


def now_ms():
    return int(time.time() * 1000)


def hdr(headers, name):
    for k, v in headers.items():
        if k.lower() == name.lower():
            return v
    return None


def write(base, series):
    return http_request(base + "/api/v1/write", "POST", snappy(write_request(series)), HEADERS,
                        timeout=30 * SLOW)


def batch(cluster, metric, n, t_ms, **labels):
    """n series metric{cluster, i} with one sample each ("" cluster: no label)."""
    extra = {"cluster": cluster} if cluster else {}
    return [series_of(metric, t_ms, float(i), i=str(i), **extra, **labels) for i in range(n)]


def count(base, selector):
    """How many series an instant query of `selector` finds."""
    q = urllib.parse.quote(f"count({selector}) or vector(0)")
    doc = json.loads(http_get(f"{base}/api/v1/query?query={q}")[2])
    assert doc["status"] == "success", doc
    return int(float(doc["data"]["result"][0]["value"][1]))


def metric(samples, name, **labels):
    """The sample of `name` with exactly these labels, or None."""
    return samples.get((name, tuple(sorted(labels.items()))))


def error_of(status, headers, body):
    assert (hdr(headers, "Content-Type") or "").startswith("application/json"), headers
    doc = json.loads(body)
    return doc.get("error") or doc.get("message")


def test_samples_rate_per_cluster(server_factory):
    _, base, _ = server_factory("--max-samples-per-second-per-cluster", "100")
    t = now_ms()
    # The burst is one second's worth: the first request takes it whole.
    st, _, body = write(base, batch("noisy", "noisy_first", 100, t))
    assert st == 204, body
    # The bucket is empty now: the next request of that cluster is refused whole.
    st, h, body = write(base, batch("noisy", "noisy_refused", 50, t))
    assert st == 429, body
    retry = int(hdr(h, "Retry-After"))
    assert 1 <= retry <= 2, retry
    msg = error_of(st, h, body)
    assert '"noisy"' in msg and "100 samples/s" in msg, msg
    # Another cluster is not affected.
    for k in range(3):
        st, _, body = write(base, batch("quiet", f"quiet_{k}", 10, t))
        assert st == 204, body
    # Nothing of the refused request was stored.
    assert count(base, "noisy_refused") == 0
    assert count(base, "noisy_first") == 100
    assert count(base, "{__name__=~'quiet_.*'}") == 30
    m = scrape(base)
    assert metric(m, "kmon_cluster_samples_received_total", cluster="noisy") == 100
    assert metric(m, "kmon_cluster_samples_limited_total", cluster="noisy") == 50
    assert metric(m, "kmon_cluster_samples_received_total", cluster="quiet") == 30
    assert metric(m, "kmon_cluster_samples_limited_total", cluster="quiet") == 0
    assert metric(m, "kmon_cluster_max_samples_per_second") == 100
    last = metric(m, "kmon_cluster_last_write_timestamp_seconds", cluster="quiet")
    assert last and abs(last - time.time()) < 60, last
    # Once the bucket refilled (Retry-After), the noisy cluster writes again.
    time.sleep(retry)
    st, _, body = write(base, batch("noisy", "noisy_later", 50, t))
    assert st == 204, body
    assert count(base, "noisy_later") == 50


def test_series_cap_per_cluster(server_factory):
    _, base, _ = server_factory("--max-series-per-cluster", "5")
    t = now_ms()
    assert write(base, batch("a", "capped", 5, t))[0] == 204
    # A sixth series of cluster a is refused, with the five existing ones beside it.
    st, h, body = write(base, batch("a", "capped", 6, t + 1000))
    assert st == 429, body
    assert int(hdr(h, "Retry-After")) >= 1
    msg = error_of(st, h, body)
    assert '"a"' in msg and "series" in msg and "5" in msg, msg
    # Nothing of it was stored: not the new series, nor the newer samples of the old.
    assert count(base, "capped") == 5
    assert count(base, "capped @ %d" % ((t + 1000) // 1000 + 1)) == 5
    # Existing series keep being written.
    for k in range(1, 4):
        st, _, body = write(base, batch("a", "capped", 5, t + 2000 * k))
        assert st == 204, body
    # Other clusters, and data without a cluster label (a cluster of its own), have their
    # own caps.
    assert write(base, batch("b", "capped", 5, t))[0] == 204
    assert write(base, batch("", "capped", 5, t))[0] == 204
    assert write(base, batch("", "capped_more", 1, t))[0] == 429
    assert count(base, "capped") == 15
    m = scrape(base)
    assert metric(m, "kmon_cluster_series", cluster="a") == 5
    assert metric(m, "kmon_cluster_series", cluster="b") == 5
    assert metric(m, "kmon_cluster_series", cluster="") == 5
    assert metric(m, "kmon_cluster_samples_limited_total", cluster="a") == 6
    assert metric(m, "kmon_cluster_max_series") == 5


def test_series_cap_after_restart(server_factory, tmp_path):
    """After a restart the series cache is empty: series the database holds are no new
    series, and the cap still holds for new ones (the head is recounted at start)."""
    data = tmp_path / "restart"
    proc, base, _ = server_factory("--max-series-per-cluster", "3", data=data)
    t = now_ms()
    assert write(base, batch("a", "kept", 3, t))[0] == 204
    proc.p.terminate()
    proc.p.wait(timeout=30)
    _, base, _ = server_factory("--max-series-per-cluster", "3", data=data)
    wait_until(lambda: metric(scrape(base), "kmon_cluster_series", cluster="a") == 3,
               what="the recount of cluster a's series")
    st, _, body = write(base, batch("a", "kept", 3, t + 1000))
    assert st == 204, body
    st, _, body = write(base, batch("a", "kept", 4, t + 2000))
    assert st == 429, body
    assert count(base, "kept") == 3
    assert metric(scrape(base), "kmon_cluster_series", cluster="a") == 3


def loki_push(base, streams):
    body = json.dumps({"streams": streams}).encode()
    return http_request(base + "/loki/api/v1/push", "POST", body,
                        {"Content-Type": "application/json"}, timeout=30 * SLOW)


def stream(cluster, app, lines, t_ns):
    return {"stream": {"cluster": cluster, "app": app},
            "values": [[str(t_ns + i), line] for i, line in enumerate(lines)]}


def loki_count(base, selector, t_ns):
    q = urllib.parse.urlencode({"query": selector, "start": str(t_ns - 10**9),
                                "end": str(t_ns + 60 * 10**9), "limit": "5000"})
    doc = json.loads(http_get(f"{base}/loki/api/v1/query_range?{q}")[2])
    return sum(len(s["values"]) for s in doc["data"]["result"])


def test_log_bytes_per_cluster(server_factory):
    _, base, _ = server_factory("--max-log-bytes-per-second-per-cluster", "1000")
    t = time.time_ns()
    line = "x" * 99  # 100 bytes with the index digit
    lines = [f"{line}{i}" for i in range(9)]  # 900 bytes
    assert loki_push(base, [stream("noisy", "one", lines, t)])[0] == 204
    # 100 bytes left in the bucket: the next 900 are refused whole.
    st, h, body = loki_push(base, [stream("noisy", "three", lines, t)])
    assert st == 429, body
    assert 1 <= int(hdr(h, "Retry-After")) <= 2
    msg = error_of(st, h, body)
    assert '"noisy"' in msg and "1000 bytes/s" in msg, msg
    # A push holding a quiet stream and a noisy one is refused whole.
    st, _, body = loki_push(base, [stream("quiet", "mixed", lines[:1], t),
                                   stream("noisy", "mixed", lines[:2], t)])
    assert st == 429, body
    assert loki_push(base, [stream("quiet", "q", lines, t)])[0] == 204
    assert loki_count(base, '{app="three"}', t) == 0
    assert loki_count(base, '{app="mixed"}', t) == 0
    assert loki_count(base, '{cluster="noisy"}', t) == 9
    assert loki_count(base, '{app="q"}', t) == 9
    m = scrape(base)
    assert metric(m, "kmon_cluster_log_bytes_received_total", cluster="noisy") == 900
    assert metric(m, "kmon_cluster_log_bytes_limited_total", cluster="noisy") == 1100
    assert metric(m, "kmon_cluster_log_bytes_received_total", cluster="quiet") == 900
    assert metric(m, "kmon_cluster_log_bytes_limited_total", cluster="quiet") == 100
    assert metric(m, "kmon_cluster_max_log_bytes_per_second") == 1000
    assert metric(m, "kmon_logs_push_requests_total", code="429") == 2


def test_no_limits_still_counts_per_cluster(server_factory):
    _, base, _ = server_factory()
    t = now_ms()
    assert write(base, batch("east", "plain", 3, t))[0] == 204
    assert write(base, batch("west", "plain", 2, t))[0] == 204
    assert write(base, batch("west", "plain", 2, t + 1000))[0] == 204  # cached series
    m = scrape(base)
    assert metric(m, "kmon_cluster_samples_received_total", cluster="east") == 3
    assert metric(m, "kmon_cluster_samples_received_total", cluster="west") == 4
    assert metric(m, "kmon_cluster_series", cluster="west") == 2
    assert metric(m, "kmon_cluster_max_series") == 0
