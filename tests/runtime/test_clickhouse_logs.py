"""Logs on ClickHouse end to end (src/chstore/SCHEMA.md "Logs"): real clickhouse-server
processes (two shards, clickhouse_fixture.py) and `kmon server --storage clickhouse`, fed
the same Loki pushes (JSON and protobuf, one retried) as a kmon server on the embedded
log store; LogQL answers (log queries with filters and parsers, both directions, limits,
metric queries), labels, label values, series and index stats must be equal. A shard
killed during pushes loses nothing and doubles nothing in the answers; a tail over
WebSocket sees new lines. Every wait polls with a deadline; nothing is asserted by
sleeping."""
import json
import time

import pytest

import clickhouse_fixture
from conftest import http_request, parse_exposition, wait_until
from test_logs_api import NS, get_json, json_body, proto_body, push
from test_logs_tail import collect, tail

clickhouse_factory = clickhouse_fixture.clickhouse_factory  # the pytest fixture

CATCH_UP = 120  # seconds kmon may take to empty its spool into ClickHouse
BIG = 4500      # entries of the stream read in several pages (2000 a page)
SAME_TS = 2300  # of which this many share one timestamp (more than a page)


def dataset(end):
    """[(labels, [(ts, line)])]: logfmt and JSON lines over four apps, entries of one
    stream at distinct times except one run of SAME_TS lines at one timestamp (pushed in
    byte order: the order ClickHouse returns equal timestamps in)."""
    out = []
    levels = ("info", "warn", "error", "debug")
    for a, app in enumerate(("web", "db", "api", "job")):
        for p in range(3):
            labels = {"app": app, "pod": f"{app}-{p}", "namespace": "ns" + str(p % 2)}
            if app == "job" and p == 2:
                labels["extra"] = "x"
            entries = []
            for k in range(60):
                ts = end - (600 - k * 10 + p) * NS + a * 1000 + 7
                lvl = levels[(k + p) % 4]
                if app == "api":
                    line = json.dumps({"level": lvl, "status": 200 + (k % 3) * 100, "k": k})
                else:
                    line = f'level={lvl} msg="{app} request {k}" dur={k % 7}ms pod={p}'
                entries.append((ts, line))
            out.append((labels, entries))
    big_end = end - 30 * NS
    big = [(big_end - (BIG - i) * 1000, f"big line {i:05d} level=info") for i in range(BIG)]
    same = big_end - 2 * NS
    big += [(same, f"same ts {i:05d}") for i in range(SAME_TS)]
    out.append(({"app": "big", "pod": "big-0", "namespace": "ns0"}, sorted(big)))
    return out


def push_all(base, streams):
    """Half the streams as JSON, half as protobuf (in bodies of a few streams), and the
    first body twice (a retried push)."""
    bodies = []
    for i in range(0, len(streams), 3):
        part = streams[i:i + 3]
        if (i // 3) % 2:
            bodies.append((proto_body(part), "application/x-protobuf"))
        else:
            bodies.append((json_body(part), "application/json"))
    bodies.append(bodies[0])
    for body, ctype in bodies:
        status, _, text = push(base, body, ctype)
        assert status == 204, (status, text)


def total(base, start, end):
    status, ans = get_json(base, "/loki/api/v1/query", query='sum(count_over_time({app=~".+"}[2h]))',
                           time=str(end))
    assert status == 200, ans
    r = ans["data"]["result"]
    return int(float(r[0]["value"][1])) if r else 0


def answers(base, start, end):
    """Everything compared, as {name: answer}."""
    rng = {"start": str(start), "end": str(end)}
    logq = [
        '{app="web"}',
        '{app=~"web|db", namespace="ns1"} |= "request 1"',
        '{app="db"} != "level=info" |~ "dur=[0-3]ms"',
        '{app="web"} | logfmt | level="error"',
        '{app="api"} | json | status >= 300',
        '{app="job"} | logfmt | line_format "{{.level}} {{.pod}}"',
        '{app="big"}',
        '{app="big"} |= "same ts 0"',
        '{namespace="ns0", app!="big"} |= "level=warn"',
        '{extra="x"}',
        '{app="nope"}',
    ]
    out = {}
    for q in logq:
        for direction in ("backward", "forward"):
            for limit in ("7", "5000"):
                status, ans = get_json(base, "/loki/api/v1/query_range", query=q,
                                       direction=direction, limit=limit, **rng)
                assert status == 200, (q, ans)
                out[f"{q} {direction} {limit}"] = ans["data"]
    metq = [
        'sum by (app) (count_over_time({app=~".+"}[1m]))',
        'sum(rate({app="web"} |= "request" [2m]))',
        'sum by (pod) (bytes_over_time({namespace="ns1"}[5m]))',
        'count_over_time({app="big"}[30s])',
        'sum by (level) (count_over_time({app="api"} | json [10m]))',
    ]
    for q in metq:
        status, ans = get_json(base, "/loki/api/v1/query_range", query=q, step="60", **rng)
        assert status == 200, (q, ans)
        out[q] = ans["data"]
    status, ans = get_json(base, "/loki/api/v1/query", query=metq[0], time=str(end))
    out["instant"] = ans["data"]
    for path, args in (("/loki/api/v1/labels", {}),
                       ("/loki/api/v1/label/app/values", {}),
                       ("/loki/api/v1/label/pod/values", {"query": '{app=~"web|job"}'}),
                       ("/loki/api/v1/series", {"match[]": ['{app=~"db|job"}', '{extra="x"}']}),
                       ("/loki/api/v1/index/stats", {"query": '{app=~".+"}'}),
                       ("/loki/api/v1/index/stats", {"query": '{app="web"}'})):
        status, ans = get_json(base, path, **args, **rng)
        assert status == 200, (path, ans)
        if path.endswith("stats"):
            ans = {k: v for k, v in ans.items() if k != "chunks"}  # a store's own unit
        if path.endswith("series"):
            ans["data"] = sorted(ans["data"], key=lambda d: sorted(d.items()))
        out[path + json.dumps(args)] = ans
    return out


def strip_stats(d):
    """A query answer without its statistics (timings, bytes a store read)."""
    d = dict(d)
    d.pop("stats", None)
    return d


def test_logql_answers_equal_the_embedded_store(clickhouse_factory, server_factory):
    ch = clickhouse_factory(2)
    _, ref, _ = server_factory()
    _, got, _ = server_factory(*ch.kmon_flags())
    end = time.time_ns()
    streams = dataset(end)
    want = sum(len(e) for _, e in streams)
    push_all(ref, streams)
    push_all(got, streams)
    start, stop = end - 3600 * NS, end + 60 * NS
    wait_until(lambda: total(got, start, end) == want, CATCH_UP, "ClickHouse holding every entry")
    assert total(ref, start, end) == want
    a, b = answers(ref, start, stop), answers(got, start, stop)
    for k in a:
        assert strip_stats(b[k]) == strip_stats(a[k]), k
    # The tables the schema has, on each shard, and rows on shard stream % 2.
    for shard in (0, 1):
        assert ch.scalar("SELECT max(version) FROM kmon.kmon_schema_local", shard) == "2"
        assert int(ch.scalar("SELECT count() FROM kmon.logs_local WHERE stream % 2 != "
                             f"{shard}", shard)) == 0
        assert int(ch.scalar("SELECT count() FROM kmon.logs_local", shard)) > 0
    # The retried push is stored twice, read once.
    assert int(ch.scalar("SELECT count() FROM kmon.logs")) > want


def test_shard_killed_during_pushes(clickhouse_factory, server_factory):
    ch = clickhouse_factory(2)
    _, got, _ = server_factory(*ch.kmon_flags())
    end = time.time_ns()
    sent = []
    for i in range(30):
        if i == 10:
            ch.kill(1)
        if i == 20:
            ch.restart(1)
        batch = [({"app": "k", "pod": f"p{j}"},
                  [(end - (100 - i) * NS + j * 1000 + n, f"batch {i} pod {j} entry {n}")
                   for n in range(5)]) for j in range(4)]
        status, _, text = push(got, json_body(batch))
        assert status == 204, (status, text)
        sent += [(l["pod"], ts, line) for l, e in batch for ts, line in e]
    start, stop = end - 3600 * NS, end + 60 * NS

    def read_all():
        status, ans = get_json(got, "/loki/api/v1/query_range", query='{app="k"}',
                               direction="forward", limit="5000", start=str(start),
                               end=str(stop))
        if status != 200:
            return None
        return sorted((s["stream"]["pod"], int(t), l) for s in ans["data"]["result"]
                      for t, l in s["values"])

    wait_until(lambda: read_all() == sorted(sent), CATCH_UP, "every entry read back once")
    assert int(ch.scalar("SELECT count() FROM kmon.logs")) >= len(sent)


def test_v1_database_migrated_and_tail_sees_new_lines(clickhouse_factory, server_factory):
    ch = clickhouse_factory(1)
    # A database as a kmon of schema version 1 left it: no log tables.
    ch.query("CREATE DATABASE kmon")
    ch.query("CREATE TABLE kmon.kmon_schema_local (version UInt32, applied_ms Int64, by String) "
             "ENGINE = TinyLog")
    ch.query("INSERT INTO kmon.kmon_schema_local VALUES (1, 0, 'kmon v1')")
    _, got, _ = server_factory(*ch.kmon_flags())
    wait_until(lambda: b"kmon_clickhouse_schema_ready 1" in http_request(got + "/metrics")[2],
               60, "the schema in place")
    assert ch.rows("SELECT version FROM kmon.kmon_schema_local ORDER BY version") == [["1"], ["2"]]
    assert ch.rows("SELECT name FROM system.tables WHERE database = 'kmon' AND name LIKE 'log%' "
                   "ORDER BY name") == [["log_streams"], ["logs"]]
    ws = tail(got, '{app="tail"}', delay_for="3")
    try:
        t0 = time.time_ns()
        lines = [(t0 + k, f"tail line {k}") for k in range(5)]
        status, _, text = push(got, json_body([({"app": "tail"}, lines)]))
        assert status == 204, (status, text)
        seen = collect(ws, 5, timeout=30)
        assert [(ts, line) for _, ts, line in seen] == lines
    finally:
        ws.close()


def test_push_throughput_and_disk(clickhouse_factory, server_factory):
    """Push MiB of log text per kmon CPU-second and ClickHouse's bytes on disk per raw
    byte (printed for the report; asserted only to be positive)."""
    ch = clickhouse_factory(2)
    proc, got, _ = server_factory(*ch.kmon_flags())
    end = time.time_ns()
    raw = 0
    n = 0
    cpu0 = cpu_seconds(proc)
    for b in range(20):
        streams = [({"app": "bench", "pod": f"p{p}", "namespace": "ns"},
                    [(end - (20 - b) * NS - p * 1000 + k * 100,
                      f'ts={b}.{k} level=info caller=server.go:{k % 97} msg="handled request" '
                      f'path=/api/v1/items/{k * 7919 % 10007} status=200 dur={k % 13}ms')
                     for k in range(2000)]) for p in range(5)]
        raw += sum(len(l) for _, e in streams for _, l in e)
        n += sum(len(e) for _, e in streams)
        status, _, text = push(got, json_body(streams))
        assert status == 204, (status, text)
    wait_until(lambda: total(got, end - 3600 * NS, end) == n, CATCH_UP, "the entries in ClickHouse")
    cpu = cpu_seconds(proc) - cpu0
    for shard in (0, 1):
        ch.query("OPTIMIZE TABLE kmon.logs_local FINAL", shard)
    disk = sum(int(ch.scalar("SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND "
                             "database = 'kmon' AND table = 'logs_local'", s)) for s in (0, 1))
    print(f"\nlogs on ClickHouse: {n} entries, {raw / 2**20:.1f} MiB of lines, "
          f"{raw / 2**20 / cpu:.1f} MiB per kmon CPU-second ({cpu:.2f} s), "
          f"{disk / raw:.3f} bytes on disk per raw byte")
    assert cpu > 0 and disk > 0


def cpu_seconds(proc):
    import os
    with open(f"/proc/{proc.p.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
