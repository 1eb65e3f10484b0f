"""`kmon server` against careless and hostile senders: samples dated 2099, seconds sent
for milliseconds, t = 0, negative times, INT64_MAX, a request mixing good and bad
samples, a flood of refused series, four remote_write shards backfilling four hours
while drifting apart, and a data directory an older version let a 2099 sample into.
In every case each sample acknowledged before and after is still stored (read back
with `kmon tsdb dump` and through the API), cuts and retention delete nothing, refused
samples leave no trace (no series, no time bound moved), and the answer says what was
refused and why."""
import json
import os
import subprocess
import threading
import time

import pytest

from conftest import SANITIZED, http_request, run, scrape, value
from rwlib import HEADERS, snappy, write_request

SLOW = 3 if SANITIZED else 1
FILL = os.environ.get("KMON_TSDB_FILL",
                      os.path.join(os.path.dirname(__file__), "../../build/tests/tools/tsdb_fill"))
T2099 = 4070908800000  # 2099-01-01T00:00:00Z
INT64_MAX = (1 << 63) - 1
# Short blocks so that cuts, compactions and retention passes happen within a test.
FAST_BLOCKS = ("--block-range", "1m", "--out-of-order-window", "20s", "--retention", "1h")


def now_ms():
    return int(time.time() * 1000)


def post_rw(base, series):
    return http_request(base + "/api/v1/write", "POST", snappy(write_request(series)), HEADERS,
                        timeout=60 * SLOW)


def post_json(base, path, doc):
    return http_request(base + path, "POST", json.dumps(doc).encode(),
                        {"Content-Type": "application/json"}, timeout=30 * SLOW)


def error_of(answer):
    status, headers, body = answer
    assert status == 400, (status, body[:400])
    doc = json.loads(body)
    assert list(doc) == ["error"], doc
    return doc["error"]


def labels(name, **extra):
    return sorted([("__name__", name)] + list(extra.items()))


def dump(data, *flags):
    """{(metric, frozenset(labels)): [(t, v)]} of everything stored, read-only."""
    p = run("tsdb", "dump", "--format", "json", *flags, str(data), timeout=120)
    assert p.returncode == 0, p.stderr
    out = {}
    for line in p.stdout.splitlines():
        doc = json.loads(line)
        lab = dict(doc["labels"])
        key = (lab.pop("__name__"), frozenset(lab.items()))
        out[key] = [(int(t), float(v)) for t, v in doc["samples"]]
    return out


def stored_times(data, metric):
    return {k: [t for t, _ in v] for k, v in dump(data, "--metric", metric).items()}


def history(base, t_end, minutes=10, step=15000, n=4, name="kmon_node_memory_bytes",
            prefix="hist"):
    """n nodes' memory gauge (what the prototype's API shows as memory_bytes) with a
    sample every `step` over `minutes` ending at t_end, acknowledged: {node: [t]}."""
    sent = {}
    t0 = t_end - minutes * 60000
    for t in range(t0, t_end + 1, step):
        batch = [(labels(name, node=f"{prefix}{i}"), [(t, float(t // 1000 + i))])
                 for i in range(n)]
        st = post_rw(base, batch)
        assert st[0] == 204, st
        for i in range(n):
            sent.setdefault(f"{prefix}{i}", []).append(t)
    return sent


def assert_all_stored(data, name, sent, base=None):
    """Every acknowledged sample is in the store; with `base`, the API answers each."""
    got = stored_times(data, name)
    for node, times in sent.items():
        key = (name, frozenset({("node", node)}))
        assert key in got, f"series {node} missing; have {list(got)[:5]}"
        missing = sorted(set(times) - set(got[key]))
        assert not missing, f"{node}: {len(missing)} acknowledged samples lost, first {missing[:3]}"
        if base is None:
            continue
        window = (now_ms() - times[0]) // 1000 + 60
        status, _, body = http_request(f"{base}/api/nodes/{node}/timeseries?window={window}"
                                       "&step=15")
        assert status == 200, body
        # A point per 15 s step: every sample shows (the first may fall just before the
        # grid's first step).
        shown = [p for p in json.loads(body)["points"] if p["memory_bytes"] is not None]
        assert len(shown) >= len(times) - 1, (node, len(shown), len(times))


def wait_metric(base, name, pred, timeout=30, **lab):
    deadline = time.monotonic() + timeout * SLOW
    while True:
        try:
            v = value(scrape(base), name, **lab)
        except KeyError:
            v = None
        if v is not None and pred(v):
            return v
        assert time.monotonic() < deadline, f"{name}{lab} = {v}"
        time.sleep(0.2)


# ---- one bad sample never costs data -----------------------------------------------------


@pytest.mark.parametrize("bad", [
    pytest.param(T2099, id="2099"),
    pytest.param("seconds", id="seconds-for-milliseconds"),
    pytest.param(0, id="zero"),
    pytest.param(-86400000, id="negative"),
    pytest.param(INT64_MAX, id="int64-max"),
    pytest.param("microseconds", id="microseconds-for-milliseconds"),
])
def test_bad_timestamp_over_remote_write_costs_nothing(server_factory, bad):
    proc, base, data = server_factory(*FAST_BLOCKS)
    t_end = now_ms() - 30000
    sent = history(base, t_end)
    wait_metric(base, "kmon_tsdb_block_cuts_total", lambda v: v >= 3)
    series0 = value(scrape(base), "kmon_tsdb_head_series")
    t_bad = {"seconds": now_ms() // 1000, "microseconds": now_ms() * 1000}.get(bad, bad)
    msg = error_of(post_rw(base, [(labels("kmon_test_poison", job="x"), [(t_bad, 1.0)])]))
    assert "1 of 1 samples refused, none stored" in msg
    assert "kmon_test_poison" in msg
    assert ("future" in msg) if t_bad > now_ms() else ("retention" in msg)
    # Nothing of it in the store, no series, no time bound moved.
    s = scrape(base)
    assert value(s, "kmon_tsdb_head_series") == series0
    assert value(s, "kmon_tsdb_head_max_time_seconds") <= now_ms() / 1000 + 600
    # Later samples are taken as before, and cuts and retention delete nothing.
    sent2 = history(base, now_ms(), minutes=1, prefix="after")
    cuts = value(scrape(base), "kmon_tsdb_block_cuts_total")
    time.sleep(3)  # maintenance rounds: cut, compact, retention
    s = scrape(base)
    assert value(s, "kmon_tsdb_retention_deletions_total") == 0
    assert value(s, "kmon_tsdb_block_cuts_total") >= cuts
    assert_all_stored(data, "kmon_node_memory_bytes", sent, base)
    assert_all_stored(data, "kmon_node_memory_bytes", sent2, base)
    assert stored_times(data, "kmon_test_poison") == {}
    # A restart heals nothing because nothing needs healing: all of it still there.
    assert proc.stop() == 0
    proc2, base2, _ = server_factory(*FAST_BLOCKS, data=data)
    assert "from the future" not in proc2.log()
    assert_all_stored(data, "kmon_node_memory_bytes", sent, base2)
    assert post_rw(base2, [(labels("kmon_node_memory_bytes", node="after0"),
                            [(now_ms(), 1.0)])])[0] == 204


@pytest.mark.parametrize("stamp,why", [
    ("2099-01-01T00:00:00Z", "future"),
    ("9999-12-31T23:59:59Z", "future"),
    (4102444800, "future"),  # 2100 in seconds
    (1700000, "retention"),  # milliseconds sent as seconds: 1970
    ("1970-01-01T00:00:00Z", "retention"),
])
def test_bad_timestamp_over_json_costs_nothing(server_factory, stamp, why):
    proc, base, data = server_factory()
    t0 = now_ms() - 60000
    for k in range(5):
        st = post_json(base, "/api/nodes/n1/metrics",
                       {"cpu_millicores": 100 + k, "memory_bytes": 1 << 30,
                        "timestamp": (t0 + k * 5000) / 1000})
        assert st[0] == 204, st
    before = stored_times(data, "kmon_node_cpu_millicores")
    msg = error_of(post_json(base, "/api/nodes/n1/metrics",
                             {"cpu_millicores": 5, "memory_bytes": 10, "timestamp": stamp}))
    assert "2 of 2 samples refused, none stored" in msg and why in msg
    assert "RFC 3339" not in msg
    assert "kmon_node_cpu_millicores" in msg or "kmon_node_memory_bytes" in msg
    st = post_json(base, "/api/nodes/n1/metrics", {"cpu_millicores": 7, "memory_bytes": 11})
    assert st[0] == 204, st
    after = stored_times(data, "kmon_node_cpu_millicores")
    (key,) = after
    assert set(before[key]) < set(after[key]) and len(after[key]) == 6
    # The API answers from the stored figures.
    status, _, body = http_request(base + "/api/nodes/n1")
    assert status == 200 and json.loads(body)["node_name"] == "n1"


def test_partial_request_stores_the_good_and_says_why(server_factory):
    proc, base, data = server_factory()
    t = now_ms() - 10000
    assert post_rw(base, [(labels("kmon_test_x", i="old"), [(t, 1.0)])])[0] == 204
    series = [
        (labels("kmon_test_x", i="a"), [(t, 1.0), (t + 1000, 2.0)]),
        (labels("kmon_test_x", i="future"), [(T2099, 3.0), (T2099 + 1, 3.0)]),
        (labels("kmon_test_x", i="old"), [(t - 2 * 3600000, 4.0)]),  # 2 h behind its newest
        (labels("kmon_test_x", i="old"), [(t, 9.0)]),  # conflicts with the stored 1.0
        (labels("kmon_test_x", i="b"), [(t, 5.0)]),
    ]
    h0 = value(scrape(base), "kmon_tsdb_head_series")
    msg = error_of(post_rw(base, series))
    assert "4 of 7 samples refused (the other 3 were stored)" in msg
    assert "2 too far in the future" in msg
    assert "1 too old for their series" in msg and "1 conflicting" in msg
    assert 'i="future"' in msg and "2099-01-01T00:00:00.000Z" in msg
    got = stored_times(data, "kmon_test_x")
    assert {dict(k[1])["i"] for k in got} == {"a", "b", "old"}
    assert value(scrape(base), "kmon_tsdb_head_series") == h0 + 2
    s = scrape(base)
    assert value(s, "kmon_ingest_samples_total", outcome="too_new") == 2
    assert value(s, "kmon_ingest_samples_total", outcome="too_old") == 1
    assert value(s, "kmon_ingest_samples_total", outcome="conflicting") == 1
    assert value(s, "kmon_ingest_requests_partial_total") == 1
    # Logged at warn with the sender's address.
    assert "warn  ingest: remote_write from 127.0.0.1:" in proc.log()


def test_refused_samples_create_no_series(server_factory):
    proc, base, data = server_factory()
    h0 = value(scrape(base), "kmon_tsdb_head_series")
    for k in range(10):
        batch = [(labels("kmon_test_flood", n=f"{k}-{i}"), [(T2099 + i, 1.0)]) for i in range(1000)]
        msg = error_of(post_rw(base, batch))
        assert "1000 of 1000 samples refused" in msg
    assert value(scrape(base), "kmon_tsdb_head_series") == h0
    assert value(scrape(base), "kmon_ingest_series_created_total") == 0
    # Not in the WAL either: a restart brings none back.
    assert proc.stop() == 0
    proc2, base2, _ = server_factory(data=data)
    assert value(scrape(base2), "kmon_tsdb_head_series") == 0
    # The refusals were logged, but not ten times.
    assert proc.log().count("warn  ingest:") <= 2


# ---- an older version's poisoned directory heals by restarting ---------------------------


def test_directory_poisoned_by_a_future_sample_heals_on_restart(server_factory, tmp_path):
    data = tmp_path / "poisoned"
    t0 = (now_ms() - 3 * 3600000) // 15000 * 15000
    # Real history in a block and in the WAL, then a 2099 sample in the WAL, the way an
    # older version that took it left the directory.
    for start, mode in ((t0, "flush"), (t0 + 3600000, "head"), (T2099, "head")):
        p = subprocess.run([FILL, str(data), "20", "10", str(start), "15000", mode],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
    p = run("tsdb", "inspect", "--format", "json", str(data))
    assert json.loads(p.stdout)["wal"]["future_samples"] == 200
    proc, base, _ = server_factory(data=data)
    log = proc.log()
    assert "dropped 200 samples from the future (2099-01-01T00:00:00.000Z to" in log
    # The history is there, and new samples of the same series are stored (before the
    # fix every later sample was refused as too old).
    t = now_ms()
    st = post_rw(base, [(labels(f"fill_metric_{i % 10}", instance=f"host-{i}", job="fill"),
                         [(t, 1.0)]) for i in range(20)])
    assert st[0] == 204, st
    got = dump(data, "--label", "job=fill")
    assert len(got) == 20
    for samples in got.values():
        times = [x for x, _ in samples]
        assert len([x for x in times if x < t0 + 2 * 3600000]) == 20 and times[-1] == t
        assert max(times) < T2099
    # Healed for good: the WAL no longer holds it.
    assert proc.stop() == 0
    r = json.loads(run("tsdb", "inspect", "--format", "json", str(data)).stdout)
    assert r["wal"]["future_samples"] == 0 and r["future_blocks"] == 0
    assert r["samples"] == 20 * 21


# ---- concurrent senders drifting apart lose nothing --------------------------------------


def test_four_shards_backfilling_four_hours_lose_nothing(server_factory):
    """Four remote_write shards (series i -> shard i % 4), each strictly in time order,
    backfill the last 4 h at 15 s; the shards drift apart by hours (shard 0 runs ahead,
    shard 3 holds back), so cuts happen while the lagging shards still send samples for
    ranges already cut. Every acknowledged sample must come back, and none may be
    refused."""
    proc, base, data = server_factory()
    nseries, step, span = 64, 15000, 4 * 3600000
    t_end = now_ms() // step * step
    t_start = t_end - span
    errors = []
    progress = [0] * 4
    shard3_may_go = threading.Event()

    def shard(k):
        mine = [i for i in range(nseries) if i % 4 == k]
        t = t_start
        while t <= t_end:
            batch = []
            for _ in range(40):  # 40 steps per request: 10 min of this shard's series
                if t > t_end:
                    break
                batch += [(labels("kmon_test_backfill", series=str(i)),
                           [(t, float(t // step * nseries + i))]) for i in mine]
                t += step
            st = post_rw(base, batch)
            if st[0] != 204:
                errors.append((k, st[0], st[2][:300]))
                return
            progress[k] = t
            if k == 3 and not shard3_may_go.is_set():
                # Hold back until shard 0 is 3 h ahead and the server has cut blocks.
                wait_metric(base, "kmon_tsdb_block_cuts_total", lambda v: v >= 1, timeout=120)
                shard3_may_go.set()
            elif k > 0:
                time.sleep(0.002 * k)

    threads = [threading.Thread(target=shard, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(300)
    assert not errors, errors
    # The drift happened: cuts ran while shard 3 was hours behind.
    s = scrape(base)
    assert shard3_may_go.is_set() and value(s, "kmon_tsdb_block_cuts_total") >= 1
    assert value(s, "kmon_tsdb_samples_late_total") > 0
    total = nseries * (span // step + 1)
    assert value(s, "kmon_ingest_samples_total", outcome="stored") == total
    for outcome in ("too_old", "too_new", "out_of_retention", "conflicting"):
        assert value(s, "kmon_ingest_samples_total", outcome=outcome) == 0
    got = dump(data, "--metric", "kmon_test_backfill")
    assert len(got) == nseries
    want = list(range(t_start, t_end + 1, step))
    for (_, lab), samples in got.items():
        i = int(dict(lab)["series"])
        assert [t for t, _ in samples] == want, f"series {i}"
        assert all(v == float(t // step * nseries + i) for t, v in samples)
    # Late samples reach blocks of their own and merge; still all there afterwards.
    status, _, _ = http_request(base + "/api/v1/admin/flush", "POST")
    if status == 204:
        time.sleep(3)
        got = dump(data, "--metric", "kmon_test_backfill")
        assert sum(len(v) for v in got.values()) == total


# ---- hostile questions to the query API ---------------------------------------------------


def get_json(base, path, **params):
    from urllib.parse import urlencode
    status, _, body = http_request(base + path + "?" + urlencode(params), timeout=30 * SLOW)
    return status, json.loads(body)


def test_query_api_extremes_are_answered_not_crashed(server_factory):
    proc, base, _ = server_factory()
    t = now_ms() - 5000
    assert post_rw(base, [(labels("kmon_test_q", job="x"), [(t, 1.0)])])[0] == 204
    huge = "9200000000000000"  # seconds: end - start is more than an int64 of ms
    # 18.4e18 ms at a step of 1 s or of 1e12 s: far past 11,000 points either way.
    for step in ("1", "1000000000000"):
        status, doc = get_json(base, "/api/v1/query_range", query="kmon_test_q",
                               start="-" + huge, end=huge, step=step)
        assert status == 400 and doc["errorType"] == "bad_data", doc
        assert "11,000 points" in doc["error"]
    # At the edge of the bound: answered, and the sample is there.
    status, doc = get_json(base, "/api/v1/query_range", query="kmon_test_q",
                           start=str((t - 11000 * 1000) / 1000), end=str(t / 1000), step="1")
    assert status == 200, doc
    assert doc["data"]["result"][0]["metric"]["job"] == "x"
    # Series, labels and values of a selector matching nothing: empty lists, not errors.
    for path in ("/api/v1/series", "/api/v1/labels", "/api/v1/label/job/values"):
        status, doc = get_json(base, path, **{"match[]": 'kmon_no_such{job="none"}'})
        assert status == 200 and doc == {"status": "success", "data": []}, (path, doc)
    status, doc = get_json(base, "/api/v1/series", **{"match[]": "kmon_test_q"})
    assert status == 200 and len(doc["data"]) == 1
    assert proc.stop() == 0
