"""kmon on ClickHouse end to end, as a user runs it: real clickhouse-server processes (1 or
2 shards, clickhouse_fixture.py) and `kmon server --storage clickhouse --clickhouse-url …
[--clickhouse-cluster kmon]`. The schema kmon creates (src/chstore/SCHEMA.md) is checked
on every shard; data remote_written to kmon is read back through /api/v1/query,
query_range, series, labels, label values and the REST API and must equal the same data
in a kmon server on the embedded store run side by side; rows land on shard id % 2 with
the series id SCHEMA.md defines; retention drops old day partitions; a shard killed
during ingest, kmon killed with a full spool and ClickHouse down at kmon's start lose
nothing and duplicate nothing; two kmon servers write side by side. Every wait polls with
a deadline; nothing is asserted by sleeping."""
import ctypes
import json
import signal
import time
import urllib.parse

import pytest

import rwlib
import test_server_api as seed
import clickhouse_fixture
from clickhouse_fixture import ClickHouseError
from conftest import (Proc, free_port, http_request, parse_exposition, wait_http,
                      wait_until)

clickhouse_factory = clickhouse_fixture.clickhouse_factory  # the pytest fixture

DB = "kmon"
LOCAL_TABLES = ("series_local", "samples_local", "rollup_5m_local", "rollup_1h_local")
DIST_TABLES = ("series", "samples", "rollup_5m", "rollup_1h")
MIN = 60000
H = 3600000
DAY = 24 * H
CATCH_UP = 120  # seconds kmon may take to empty its spool into ClickHouse


# ---- the series id (SCHEMA.md: XXH64, seed 0, name 0xff value 0xff in name order) ------

_xxh = ctypes.CDLL("libxxhash.so.0")
_xxh.XXH64.restype = ctypes.c_uint64
_xxh.XXH64.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64]


def series_id(labels):
    """labels: [(name, value)] with __name__; the id kmon gives the series."""
    buf = b"".join(n.encode() + b"\xff" + v.encode() + b"\xff" for n, v in sorted(labels))
    return _xxh.XXH64(buf, len(buf), 0)


# ---- helpers -------------------------------------------------------------------------

def now_ms():
    return int(time.time() * 1000)


def ser(name, samples, **labels):
    return (sorted([("__name__", name)] + list(labels.items())), samples)


def write(base, series, expect_2xx=True):
    body = rwlib.snappy(rwlib.write_request(series))
    st, _, b = http_request(base + "/api/v1/write", "POST", body, rwlib.HEADERS)
    if expect_2xx:
        assert 200 <= st < 300, (st, b)
    return st, b


def api(base, path, params=()):
    """(status, parsed JSON or raw text) of a GET with params [(name, value)]."""
    url = base + path + ("?" + urllib.parse.urlencode(list(params)) if params else "")
    st, _, b = http_request(url)
    try:
        return st, json.loads(b)
    except ValueError:
        return st, b.decode(errors="replace")


def instant(base, q, t_ms):
    st, doc = api(base, "/api/v1/query", [("query", q), ("time", f"{t_ms / 1000:.3f}")])
    assert st == 200, (q, st, doc)
    return doc["data"]


def count_at(base, q, t_ms):
    """The single value of an instant query (None when it fails or is empty)."""
    st, doc = api(base, "/api/v1/query", [("query", q), ("time", f"{t_ms / 1000:.3f}")])
    if st != 200 or not doc["data"]["result"]:
        return None
    return float(doc["data"]["result"][0]["value"][1])


def wait_value(base, q, t_ms, want, proc=None, timeout=CATCH_UP):
    """Poll an instant query until it answers `want` (a store that writes through a spool
    shows the data a moment after the write is acknowledged)."""
    got = [None]

    def ok():
        got[0] = count_at(base, q, t_ms)
        return got[0] == want

    try:
        wait_until(ok, timeout, f"{q} == {want}", proc)
    except AssertionError as e:
        raise AssertionError(f"{e}\nlast answer: {got[0]}") from None


def normalise(data):
    """An API answer in an order that does not depend on the store: vectors and matrices
    sorted by label set, lists of names sorted."""
    if isinstance(data, dict) and "resultType" in data:
        res = data["result"]
        if data["resultType"] in ("vector", "matrix"):
            res = sorted(res, key=lambda r: sorted(r["metric"].items()))
        return {"resultType": data["resultType"], "result": res}
    if isinstance(data, list):
        return sorted(data, key=lambda x: json.dumps(x, sort_keys=True))
    return data


def local_name(ch, table):
    """The table kmon writes on one shard: <table>_local on a cluster, <table> alone."""
    return table + "_local" if len(ch.shards) > 1 else table


def per_shard(ch, sql):
    return [ch.query(sql, shard=i).strip() for i in range(len(ch.shards))]


def clickhouse_families(base):
    st, _, b = http_request(base + "/metrics")
    assert st == 200
    _, types, _ = parse_exposition(b.decode())
    return {n: t for n, t in types.items() if n.startswith("kmon_clickhouse_")}


# ---- a dataset: counters, gauges, a histogram, awkward label values --------------------

def dataset(end):
    """Series over the two hours before `end` (ms, whole minute) every 30 s: counters
    (one reset), gauges, a histogram, label values SQL and JSON must escape."""
    times = list(range(end - 2 * H, end + 1, 30000))
    out = []
    for job in ("api", "db", "web"):
        for i in range(4):
            inst = f"i-{i}"
            # A counter with a reset at the middle for half of them.
            vals, v = [], 0.0
            for k, t in enumerate(times):
                v = 0.0 if (i % 2 and k == len(times) // 2) else v + 1.5 * (i + 1)
                vals.append((t, v))
            out.append(ser("ch_requests_total", vals, job=job, instance=inst,
                           code="200" if i < 3 else "500"))
            out.append(ser("ch_temperature", [(t, 20 + ((k * 7 + i) % 13) / 4)
                                              for k, t in enumerate(times)],
                           job=job, instance=inst))
    for le in ("0.1", "0.5", "1", "+Inf"):
        n = {"0.1": 1, "0.5": 3, "1": 6, "+Inf": 8}[le]
        out.append(ser("ch_latency_seconds_bucket", [(t, n * k) for k, t in enumerate(times)],
                       job="api", le=le))
    awkward = ["it's", 'a"quote', "back\\slash", "new\nline", "tab\there", "ünï漢字",
               "%_like_", "semi;colon -- comment", "curly{}[]()"]
    for k, val in enumerate(awkward):
        out.append(ser("ch_awkward", [(t, k) for t in times], path=val, job="odd"))
    # A series with many labels, and one whose name needs no labels at all.
    out.append(ser("ch_wide", [(t, 1) for t in times],
                   **{f"l{j:02d}": f"v{j}" for j in range(20)}))
    out.append(ser("ch_bare", [(t, 42) for t in times]))
    return out


def dataset_samples(series):
    return sum(len(s) for _, s in series)


QUERIES = [
    "ch_requests_total",
    'ch_requests_total{job="api"}',
    'ch_requests_total{job=~"a.*|w.b",code!="500"}',
    'ch_requests_total{job!~"db|web"}',
    'ch_requests_total{nope=""}',
    'ch_requests_total{code=""}',
    "rate(ch_requests_total[5m])",
    "sum by (job) (rate(ch_requests_total[5m]))",
    "increase(ch_requests_total[10m])",
    "resets(ch_requests_total[1h])",
    "max_over_time(ch_temperature[5m])",
    "min_over_time(ch_temperature[1h])",
    "avg_over_time(ch_temperature[10m])",
    "count_over_time(ch_temperature[15m])",
    "last_over_time(ch_temperature[5m])",
    "ch_temperature",
    "topk(3, ch_temperature)",
    'histogram_quantile(0.9, sum by (le) (rate(ch_latency_seconds_bucket[5m])))',
    "ch_awkward",
    "ch_awkward{path=\"it's\"}",
    'ch_awkward{path="back\\\\slash"}',
    'ch_awkward{path="a\\"quote"}',
    'ch_awkward{path=~".*\\\\n.*|ün.*"}',
    'ch_awkward{path=~"%.*"}',
    "ch_wide",
    "ch_bare",
    'count({__name__=~"ch_.+"})',
    'count by (__name__) ({__name__=~"ch_.+"})',
    "absent(ch_nothing)",
    'ch_nothing{job="x"}',
]


def compare_apis(ref, got, end, proc=None):
    """Every read API of `got` answers as `ref` does over the dataset ending at `end`."""
    start = end - 2 * H
    asked = []
    for q in QUERIES:
        for t in (end, end - 37 * MIN - 4500, start + 5 * MIN):
            asked.append(("/api/v1/query", [("query", q), ("time", f"{t / 1000:.3f}")]))
        for step in ("30", "60", "300", "3600"):
            asked.append(("/api/v1/query_range",
                          [("query", q), ("start", f"{start / 1000:.3f}"),
                           ("end", f"{end / 1000:.3f}"), ("step", step)]))
    rng = [("start", f"{start / 1000:.3f}"), ("end", f"{end / 1000:.3f}")]
    for m in ("ch_requests_total", '{job="odd"}', '{__name__=~"ch_.+"}',
              'ch_temperature{instance=~"i-[12]"}'):
        asked.append(("/api/v1/series", [("match[]", m)] + rng))
    asked.append(("/api/v1/labels", rng))
    asked.append(("/api/v1/labels", [("match[]", "ch_wide")] + rng))
    for name in ("__name__", "job", "path", "instance", "l07", "nope"):
        asked.append((f"/api/v1/label/{name}/values", rng))
    asked.append(("/api/v1/label/path/values", [("match[]", '{job="odd"}')] + rng))
    diffs = []
    for path, params in asked:
        a, b = api(ref, path, params), api(got, path, params)
        if a[0] != b[0] or normalise(a[1].get("data") if isinstance(a[1], dict) else a[1]) != \
                normalise(b[1].get("data") if isinstance(b[1], dict) else b[1]):
            diffs.append(f"{path} {params}:\n  embedded: {str(a)[:600]}\n"
                         f"  clickhouse: {str(b)[:600]}")
    assert not diffs, f"{len(diffs)} of {len(asked)} answers differ:\n" + "\n".join(diffs[:60])
    return len(asked)


def load_both(ref, got, series, end, proc):
    """Write `series` to both servers and wait until the ClickHouse one holds it all."""
    write(ref, series)
    write(got, series)
    names = {dict(l)["__name__"] for l, _ in series}
    expr = 'count({__name__=~"%s"})' % "|".join(sorted(names))
    wait_value(got, expr, end, float(len(series)), proc)
    want = float(dataset_samples(series))
    wait_value(got, 'sum(count_over_time({__name__=~"%s"}[3h]))' % "|".join(sorted(names)),
               end, want, proc)


def seed_api_paths():
    return ["/api/nodes", "/api/nodes/n1", "/api/nodes/10.0.0.5", "/api/nodes/n1/pods",
            "/api/nodes/n2/pods", "/api/pods", "/api/pods?namespace=ops",
            "/api/pods/web-7d4f9c6b8d-x2k9q", "/api/pods/db-0?namespace=shop",
            "/api/pods/multi-6f7b9d8c5-k2m4n", "/api/namespaces", "/api/namespaces/shop",
            "/api/namespaces/m/deployments", "/api/namespaces/shop/deployments",
            "/api/nodes/n1/timeseries?window=120&step=10",
            "/api/pods/web-7d4f9c6b8d-x2k9q/timeseries?window=120&step=10",
            "/api/nodes/nobody", "/api/pods/db-0"]


def unstamped(answer):
    """An answer of the REST API without the list documents' "timestamp" (the moment it
    was answered; an object's own timestamp, its newest sample, stays)."""
    st, doc = answer
    if isinstance(doc, dict) and "count" in doc:
        doc = {k: v for k, v in doc.items() if k != "timestamp"}
    return st, doc


def compare_seed_api(ref, got, proc):
    """The REST API's answers agree. They depend on the moment asked (the newest sample
    at or before it), so a difference is asked again until both are asked within one
    sample step; a real difference stays."""
    for path in seed_api_paths():
        last = [None]

        def same():
            a, b = unstamped(api(ref, path)), unstamped(api(got, path))
            last[0] = (a, b)
            return a == b

        try:
            wait_until(same, 30, f"{path} agrees", proc)
        except AssertionError:
            a, b = last[0]
            raise AssertionError(f"{path}:\n  embedded:   {str(a)[:1500]}\n"
                                 f"  clickhouse: {str(b)[:1500]}") from None


def capture_seed_cluster(monkeypatch):
    """The series test_server_api's load_cluster() writes (the REST API's cluster)."""
    captured = []
    monkeypatch.setattr(seed, "write", lambda base, s: captured.extend(s))
    seed.load_cluster(None)
    monkeypatch.undo()
    return captured


# ---- schema ---------------------------------------------------------------------------

def assert_schema(ch):
    """Every table SCHEMA.md lists, on every shard, and version 1 applied once."""
    cluster = len(ch.shards) > 1
    for i in range(len(ch.shards)):
        rows = dict(tuple(r) for r in ch.rows(
            f"SELECT name, engine FROM system.tables WHERE database = '{DB}'", shard=i))
        want_local = {local_name(ch, t) for t in DIST_TABLES}
        missing = want_local - set(rows)
        assert not missing, f"shard {i}: {missing} missing from {sorted(rows)}"
        assert rows[local_name(ch, "samples")] == "MergeTree", rows
        assert rows[local_name(ch, "series")] == "ReplacingMergeTree", rows
        for r in ("rollup_5m", "rollup_1h"):
            assert rows[local_name(ch, r)] == "AggregatingMergeTree", rows
            assert rows.get(f"{r}_mv") == "MaterializedView", rows
        if cluster:
            for t in DIST_TABLES:
                assert rows.get(t) == "Distributed", (i, t, rows)
        schema = [n for n in rows if n.startswith("kmon_schema")]
        assert len(schema) == 1, rows
        versions = ch.rows(f"SELECT version, count() FROM {DB}.{schema[0]} GROUP BY version",
                           shard=i)
        assert versions == [["2", "1"]], (i, versions)  # a new database: the newest version
        key = ch.scalar(f"SELECT partition_key FROM system.tables WHERE database = '{DB}' "
                        f"AND name = '{local_name(ch, 'samples')}'", shard=i)
        assert "intDiv(t, 1000)" in key.replace(" ", "").replace(",", ", "), key


# ---- tests ----------------------------------------------------------------------------

@pytest.mark.parametrize("shards", [1, 2])
def test_reads_equal_the_embedded_store(clickhouse_factory, server_factory, monkeypatch,
                                        shards):
    """Schema on every shard; the same remote_write data in kmon-on-ClickHouse and in the
    embedded store answers every read API the same (PromQL instant and range at steps
    that do and do not use the rollups, series, labels, label values, REST API)."""
    kw = dict(user="kmon", password="s3cret:pw") if shards == 2 else {}
    ch = clickhouse_factory(shards, **kw)
    ref_proc, ref, _ = server_factory()
    proc, got, _ = server_factory(*ch.kmon_flags())
    wait_until(lambda: _schema_ready(ch), 60, "kmon's schema on every shard", proc)
    assert_schema(ch)

    # On an hour's end: the range queries' steps of 5 m and 1 h then end on bucket ends,
    # where kmon reads the rollups (it reads raw samples off them).
    end = (now_ms() - 10 * MIN) // H * H
    series = dataset(end)
    load_both(ref, got, series, end, proc)
    compare_apis(ref, got, end, proc)
    # The comparison went through the rollups too (steps of 5 m and 1 h), not only raw.
    st, _, body = http_request(got + "/metrics")
    samples, _, _ = parse_exposition(body.decode())
    assert sum(v for (n, _), v in samples.items()
               if n.startswith("kmon_clickhouse_") and "rollup" in n) > 0, \
        "no rollup read counted in kmon_clickhouse_*"

    cluster = capture_seed_cluster(monkeypatch)
    write(ref, cluster)
    write(got, cluster)
    t = now_ms()
    q = 'count_over_time({__name__=~"node_.+|container_.+"}[20m])'
    wait_value(got, f"sum({q})", t, count_at(ref, f"sum({q})", t), proc)
    compare_seed_api(ref, got, proc)

    # The counts per table: every sample once, rollups filled by the views.
    # (`samples` and `rollup_*` are the Distributed tables on a cluster, the plain ones
    # on one node.)
    total = dataset_samples(series)
    assert int(ch.scalar(f"SELECT count() FROM {DB}.samples WHERE metric LIKE 'ch%'")) == total
    for r in ("rollup_5m", "rollup_1h"):
        cnt = ch.scalar(f"SELECT countMerge(cnt) FROM {DB}.{r} WHERE metric LIKE 'ch%'")
        assert int(cnt) == total, (r, cnt, total)

    # A restart against the existing schema migrates nothing twice.
    proc.stop()
    proc2, got2, _ = server_factory(*ch.kmon_flags())
    wait_value(got2, 'count({__name__=~"ch_.+"})', end, float(len(series)), proc2)
    assert_schema(ch)


def _schema_ready(ch):
    """Whether every shard records a schema version (kmon writes it last)."""
    try:
        return all(int(x) >= 1 for x in per_shard(
            ch, f"SELECT count() FROM {DB}.kmon_schema_local"))
    except ClickHouseError:
        return False


def test_rows_land_on_shard_of_their_series_id(clickhouse_factory, server_factory):
    """A series' rows (series row, samples, rollups) are all on shard id % 2, and the id
    is SCHEMA.md's XXH64 of the label set; the series row holds the labels as written."""
    ch = clickhouse_factory(2)
    proc, base, _ = server_factory(*ch.kmon_flags())
    end = now_ms() // MIN * MIN - 5 * MIN
    series = [ser("ch_place", [(end - k * 15000, k) for k in range(40)], pod=f"p{i}",
                  ns=f"n{i % 3}") for i in range(64)]
    write(base, series)
    wait_value(base, "count(ch_place)", end, 64.0, proc)
    wait_value(base, "sum(count_over_time(ch_place[15m]))", end, 64.0 * 40, proc)
    ids = {series_id(l): l for l, _ in series}
    want = [{i for i in ids if i % 2 == s} for s in (0, 1)]
    assert want[0] and want[1], "both shards should get series"
    for s in (0, 1):
        for table in LOCAL_TABLES:
            got = {int(r[0]) for r in ch.rows(
                f"SELECT DISTINCT id FROM {DB}.{table} WHERE metric = 'ch_place'", shard=s)}
            assert got == want[s], (s, table, len(got), len(want[s]))
        n = ch.rows(f"SELECT count(), uniqExact(id, t) FROM {DB}.samples_local "
                    f"WHERE metric = 'ch_place'", shard=s)
        assert n == [[str(40 * len(want[s]))] * 2], (s, n)
    one = series[5][0]
    rows = ch.rows(f"SELECT metric, names, vals FROM {DB}.series WHERE id = {series_id(one)} "
                   f"LIMIT 1")
    names = [n for n, _ in one if n != "__name__"]
    vals = [v for n, v in one if n != "__name__"]
    assert rows == [["ch_place", json.dumps(names).replace('"', "'").replace(" ", ""),
                     json.dumps(vals).replace('"', "'").replace(" ", "")]], rows


def test_retention_drops_old_day_partitions(clickhouse_factory, server_factory, tmp_path):
    """Samples three days old, accepted under --retention 5d, land in their own day
    partition; kmon restarted with --retention 1d drops that partition (and the rollups'
    of that day) from every shard and keeps today's. (Retention runs once as soon as the
    schema is in place at start, then hourly: SCHEMA.md's "every hour" counted from the
    start.)"""
    ch = clickhouse_factory(2)
    data = tmp_path / "kmon"
    proc, base, _ = server_factory(*ch.kmon_flags(), "--retention", "5d", data=data)
    now = now_ms()
    old = (now - 3 * DAY) // DAY * DAY + 12 * H  # noon: its hour's rollups on the same day
    old_day = time.strftime("%Y-%m-%d", time.gmtime(old / 1000))
    series = [ser("ch_ret", [(old + k * 1000, k) for k in range(30)] +
                  [(now - 60000 + k * 1000, k) for k in range(30)], i=str(i))
              for i in range(16)]
    write(base, series)
    wait_value(base, "sum(count_over_time(ch_ret[1m]))", old + 30000, 16.0 * 30, proc)
    wait_value(base, "sum(count_over_time(ch_ret[2m]))", now, 16.0 * 30, proc)

    def partitions(table):
        return {p for s in range(2) for p in ch.query(
            f"SELECT DISTINCT partition FROM system.parts WHERE database = '{DB}' "
            f"AND table = '{table}' AND active", shard=s).split()}

    for t in ("samples_local", "rollup_5m_local", "rollup_1h_local"):
        assert old_day in {p.strip("'") for p in partitions(t)}, (t, partitions(t))
    proc.stop()
    proc2, base2, _ = server_factory(*ch.kmon_flags(), "--retention", "1d", data=data)
    for t in ("samples_local", "rollup_5m_local", "rollup_1h_local"):
        wait_until(lambda: old_day not in {p.strip("'") for p in partitions(t)}, 90,
                   f"{t}'s partition {old_day} dropped", proc2)
    n = int(ch.scalar(f"SELECT count() FROM {DB}.samples WHERE metric = 'ch_ret'"))
    assert n == 16 * 30
    wait_value(base2, "sum(count_over_time(ch_ret[2m]))", now, 16.0 * 30, proc2)


def chaos_batch(r, base_t, nseries=40, per=5):
    """Round r of the outage tests: `per` new samples of each of `nseries` series."""
    return [ser("ch_chaos_total", [(base_t + (r * per + j) * 1000, r * per + j)
                                   for j in range(per)], s=f"{i:03d}")
            for i in range(nseries)]


def expected_per_shard(rounds, nseries=40, per=5):
    out = [0, 0]
    for i in range(nseries):
        out[series_id([("__name__", "ch_chaos_total"), ("s", f"{i:03d}")]) % 2] += rounds * per
    return out


def wait_shards_hold(ch, want, proc, metric="ch_chaos_total"):
    """Poll each shard until it holds exactly want[s] distinct samples of `metric` (None:
    that shard is not asked); more than that fails at once."""
    for s, n in enumerate(want):
        if n is None:
            continue
        got = [None]

        def done():
            if not ch.alive(s):
                return False
            try:
                got[0] = ch.rows(f"SELECT count(), uniqExact(id, t) FROM {DB}.samples_local "
                                 f"WHERE metric = '{metric}'", shard=s)[0]
            except (ClickHouseError, OSError):
                return False
            u = int(got[0][1])
            # A shard killed after storing an insert but before answering it gets the
            # rows again (18.16 deduplicates inserts only on Replicated tables): exact
            # duplicates may sit in storage, which kmon's reads drop (the callers check
            # the answers count each sample once). Never more distinct samples than sent.
            assert u <= n, f"shard {s}: {u} distinct samples, more than the {n} written"
            return u == n

        try:
            wait_until(done, CATCH_UP, f"shard {s} holds {n} samples", proc)
        except AssertionError as e:
            raise AssertionError(f"{e}\nlast: {got[0]}") from None


def test_shard_killed_during_ingest_loses_and_duplicates_nothing(clickhouse_factory,
                                                                 server_factory):
    """Shard 1 SIGKILLed while kmon has rows in flight: writes are still acknowledged,
    shard 0 keeps receiving its rows, kmon counts the failed inserts; once shard 1 is
    back every sample is there, and kmon answers with each exactly once (a retried
    insert's exact duplicates in storage are dropped when read)."""
    ch = clickhouse_factory(2)
    proc, base, _ = server_factory(*ch.kmon_flags())
    base_t = now_ms() - 10 * MIN
    for r in range(6):
        write(base, chaos_batch(r, base_t))
    wait_shards_hold(ch, expected_per_shard(6), proc)
    for r in range(6, 9):
        write(base, chaos_batch(r, base_t))
    ch.kill(1)  # rows of rounds 6..8 may be in flight to it
    for r in range(9, 18):
        write(base, chaos_batch(r, base_t))
    wait_until(lambda: failed_inserts(base) > 0, 60, "kmon counting failed inserts", proc)
    wait_shards_hold(ch, [expected_per_shard(18)[0], None], proc)
    ch.restart(1)
    for r in range(18, 24):
        write(base, chaos_batch(r, base_t))
    wait_shards_hold(ch, expected_per_shard(24), proc)
    wait_value(base, "sum(count_over_time(ch_chaos_total[15m]))", base_t + 24 * 5000,
               40.0 * 24 * 5, proc)


def spool_unacked(base):
    """The bytes kmon's spool holds that ClickHouse has not acknowledged (the sum of its
    kmon_clickhouse_spool*unacked* gauges; None when it has none)."""
    st, _, b = http_request(base + "/metrics")
    samples, _, _ = parse_exposition(b.decode())
    vals = [v for (n, _), v in samples.items()
            if n.startswith("kmon_clickhouse_spool") and "unacked" in n and "bytes" in n]
    return sum(vals) if vals else None


def failed_inserts(base):
    """What kmon's /metrics counts of inserts that failed: families named *error*, or
    samples labelled with a failed result (refused, unreachable, error)."""
    st, _, b = http_request(base + "/metrics")
    samples, _, _ = parse_exposition(b.decode())
    bad = ("error", "errors", "refused", "unreachable", "failed")
    return sum(v for (n, labels), v in samples.items()
               if n.startswith("kmon_clickhouse_") and "insert" in n and
               ("error" in n or any(val in bad for _, val in labels)))


def test_kmon_killed_with_a_full_spool_loses_nothing(clickhouse_factory, server_factory,
                                                      tmp_path):
    ch = clickhouse_factory(2)
    data = tmp_path / "kmon"
    proc, base, _ = server_factory(*ch.kmon_flags(), data=data)
    base_t = now_ms() - 10 * MIN
    write(base, chaos_batch(0, base_t))
    wait_shards_hold(ch, expected_per_shard(1), proc)
    # kmon has had ClickHouse's answers (an insert stored whose answer is lost with the
    # shard is sent again: 18.16 deduplicates only Replicated tables, SCHEMA.md).
    wait_until(lambda: spool_unacked(base) == 0, 30, "an empty spool", proc)
    ch.kill(0)
    ch.kill(1)
    for r in range(1, 10):
        write(base, chaos_batch(r, base_t))
    wait_until(lambda: spool_unacked(base), 30, "kmon_clickhouse_spool*unacked* > 0", proc)
    proc.stop(signal.SIGKILL)
    ch.restart(0)
    ch.restart(1)
    proc2, base2, _ = server_factory(*ch.kmon_flags(), data=data)
    wait_shards_hold(ch, expected_per_shard(10), proc2)
    wait_value(base2, "sum(count_over_time(ch_chaos_total[15m]))", base_t + 50000,
               40.0 * 50, proc2)


def test_clickhouse_down_at_start(clickhouse_factory, tmp_path):
    """kmon starts while no shard answers, acknowledges writes (spooled), answers reads
    503 with a message naming ClickHouse, and stores everything once ClickHouse comes."""
    ch = clickhouse_factory(2)
    ch.stop()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = Proc(["server", "--listen", f"127.0.0.1:{port}", "--data", str(tmp_path / "k"),
                 "--self-scrape-interval", "0", "--default-rules=false", *ch.kmon_flags()])
    try:
        wait_http(base + "/healthz", proc)
        base_t = now_ms() - 10 * MIN
        for r in range(4):
            write(base, chaos_batch(r, base_t))
        st, doc = api(base, "/api/v1/query", [("query", "ch_chaos_total")])
        assert st == 503, (st, doc)
        assert doc["status"] == "error" and "clickhouse" in doc["error"].lower(), doc
        st, doc = api(base, "/api/v1/labels")
        assert st == 503, (st, doc)
        ch.restart(0)
        ch.restart(1)
        wait_shards_hold(ch, expected_per_shard(4), proc)
        wait_value(base, "sum(count_over_time(ch_chaos_total[15m]))", base_t + 20000,
                   40.0 * 20, proc)
        assert proc.stop() == 0
    finally:
        proc.close()


def test_metrics_families(clickhouse_factory, server_factory):
    ch = clickhouse_factory(1)
    proc, base, _ = server_factory(*ch.kmon_flags())
    t = now_ms() - MIN
    write(base, [ser("ch_m", [(t, 1)], i=str(i)) for i in range(10)])
    wait_value(base, "count(ch_m)", t, 10.0, proc)
    fams = clickhouse_families(base)
    for what in ("insert", "rows", "spool", "quer"):
        assert any(what in f for f in fams), (what, sorted(fams))
    # The rows written (whatever the family's exact name: rows that are not read ones).
    st, _, b = http_request(base + "/metrics")
    samples, _, _ = parse_exposition(b.decode())
    rows = sum(v for (n, _), v in samples.items()
               if n.startswith("kmon_clickhouse_") and "rows" in n and "read" not in n)
    assert rows >= 10, sorted(n for n, _ in samples if n.startswith("kmon_clickhouse_"))


def test_two_kmon_servers_write_side_by_side(clickhouse_factory, server_factory):
    """Two servers on one cluster: the same series written through both is one series
    (the same id), its samples the union, an exact duplicate read once; each reads what
    the other wrote."""
    ch = clickhouse_factory(2)
    pa, a, _ = server_factory(*ch.kmon_flags())
    pb, b, _ = server_factory(*ch.kmon_flags())
    t0 = now_ms() // 1000 * 1000 - 10 * MIN
    shared = [(t0 + k * 1000, k) for k in range(20)]
    write(a, [ser("ch_two", shared[:12], s="shared"), ser("ch_two", [(t0, 1)], s="a")])
    write(b, [ser("ch_two", shared[8:], s="shared"), ser("ch_two", [(t0, 2)], s="b")])
    for base, proc in ((a, pa), (b, pb)):
        wait_value(base, "count(ch_two)", t0 + 19000, 3.0, proc)
        wait_value(base, 'count_over_time(ch_two{s="shared"}[1m])', t0 + 19000, 20.0, proc)
    sid = series_id([("__name__", "ch_two"), ("s", "shared")])
    assert ch.scalar(f"SELECT uniqExact(id) FROM {DB}.series WHERE metric = 'ch_two' "
                     f"AND has(vals, 'shared')") == "1"
    assert ch.scalar(f"SELECT any(id) FROM {DB}.series WHERE metric = 'ch_two' "
                     f"AND has(vals, 'shared')") == str(sid)
    # The 4 samples written through both are stored twice (no deduplication on 18.16)
    # or once; either way, reads see each once.
    n = int(ch.scalar(f"SELECT uniqExact(t) FROM {DB}.samples WHERE id = {sid}"))
    assert n == 20
    st, doc = api(a, "/api/v1/query_range", [("query", 'ch_two{s="shared"}'),
                                              ("start", f"{t0 / 1000}"),
                                              ("end", f"{(t0 + 19000) / 1000}"), ("step", "1")])
    assert st == 200 and [float(v) for _, v in doc["data"]["result"][0]["values"]] == \
        [float(k) for k in range(20)], doc
