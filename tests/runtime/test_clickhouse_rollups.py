"""kmon on ClickHouse answers long ranges from its 5-minute and 1-hour rollups only where
the answer is the raw samples' (src/chstore/SCHEMA.md "Reads"), and gives exactly that
answer: three days of samples — with some exactly on bucket ends, gaps longer than the
look-back, a counter reset and a staleness-sized hole — written to kmon on ClickHouse
(rollups on) and to kmon embedded, then range queries of plain selectors and
min/max_over_time at steps that are and are not whole buckets, compared point by point;
the rollup reads are counted in kmon_clickhouse_rollup_selects_total, so the test knows
they were taken."""
import json
import random
import time
import urllib.parse

import pytest

import rwlib
from clickhouse_fixture import clickhouse_factory  # noqa: F401 (a fixture)
from conftest import http_request, scrape, wait_until

H = 3600 * 1000
M5 = 5 * 60 * 1000


def write(base, series):
    for i in range(0, len(series), 50):
        body = rwlib.snappy(rwlib.write_request(series[i:i + 50]))
        st, _, b = http_request(base + "/api/v1/write", "POST", body, rwlib.HEADERS)
        assert st in (200, 204), b


def dataset(end):
    """Series over three days up to `end` (a whole hour): every 60 s with jitter, some
    samples exactly on 5-minute ends, a 20-minute hole, a counter reset."""
    rng = random.Random(17)
    start = end - 72 * H
    out = []
    for s in range(6):
        samples, t, v = [], start, 100.0
        while t <= end:
            if not (start + 30 * H <= t < start + 30 * H + 20 * 60 * 1000 and s % 2 == 0):
                v = v + rng.uniform(-5, 5) if s < 3 else (0.0 if t == start + 40 * H else v + 3)
                samples.append((t, round(v, 3)))
            # on a bucket end every 7th step, else off it by a few seconds
            step = 60000 + (0 if rng.random() < 1 / 7 else rng.randint(-9000, 9000))
            t += step
            if rng.random() < 0.1:
                t = (t // M5 + 1) * M5  # exactly a 5-minute end
        labels = sorted([("__name__", "gauge_x" if s < 3 else "counter_x"), ("job", "j"),
                         ("instance", f"i{s}")])
        out.append((labels, samples))
    return out


def query_range(base, q, start, end, step):
    st, _, b = http_request(base + "/api/v1/query_range?" + urllib.parse.urlencode(
        {"query": q, "start": start / 1000, "end": end / 1000, "step": step / 1000}))
    assert st == 200, b
    d = json.loads(b)["data"]["result"]
    return {json.dumps(r["metric"], sort_keys=True): r["values"] for r in d}


def unacked(base):
    return scrape(base)[("kmon_clickhouse_spool_unacked_bytes", ())]


def rollup_selects(base):
    return sum(v for (name, _), v in scrape(base).items()
               if name == "kmon_clickhouse_rollup_selects_total")


def test_rollups_answer_exactly_as_the_raw_samples(clickhouse_factory, server_factory):  # noqa: F811
    ch = clickhouse_factory(2)
    end = int(time.time() * 1000) // H * H
    flags = ("--retention", "10d", "--max-future", "10m")
    _, ref, _ = server_factory(*flags)
    proc, got, _ = server_factory(*flags, *ch.kmon_flags())
    series = dataset(end)
    write(ref, series)
    write(got, series)
    # everything in ClickHouse, rollups included: kmon's spool holds nothing ClickHouse
    # has not acknowledged (an insert is acknowledged once its materialized views ran;
    # a count of the samples can see them before the rollups)
    wait_until(lambda: unacked(got) == 0, timeout=120, what="the spool sent", proc=proc)
    start = end - 70 * H
    cases = [
        ("gauge_x", H), ("gauge_x", M5), ("counter_x", 2 * H),
        ("max_over_time(gauge_x[1h])", H), ("min_over_time(gauge_x[1h])", H),
        ("max_over_time(gauge_x[15m])", M5), ("min_over_time(counter_x[2h])", H),
        ("max_over_time(gauge_x[10m])", 10 * M5),
        # not whole buckets: the raw samples
        ("gauge_x", 7 * 60000), ("max_over_time(gauge_x[7m])", M5),
        ("rate(counter_x[1h])", H),
    ]
    before = rollup_selects(got)
    for q, step in cases:
        want = query_range(ref, q, start, end, step)
        have = query_range(got, q, start, end, step)
        assert have == want, (q, step)
        # and at a start and end that are not bucket ends: raw, and equal too
        assert query_range(got, q, start + 1000, end - 1000, step) == \
            query_range(ref, q, start + 1000, end - 1000, step), (q, step)
    assert rollup_selects(got) - before >= 7, "the rollups were never read"
