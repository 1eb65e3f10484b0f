"""Backups and the data format version: POST /api/v1/admin/tsdb/snapshot on a server taking
remote_write traffic (samples in cut blocks and in the head), a second server started on
the snapshot answering every series and sample the first held when the snapshot began;
`kmon tsdb snapshot DIR OUT` on a stopped server's directory (metrics, metadata, logs),
refused on a running one; and DATA/kmon.version: written at creation, taken as 1 when
missing, a newer one refused at start with a sentence naming both versions."""
import json
import os
import threading
import time
import urllib.parse

from conftest import http_request, run, wait_until
from rwlib import HEADERS, metadata, snappy, write_request

STEP = 5000
SERIES = 40
# --block-range takes at least 1m; the out-of-order window at 0 lets the head be cut as
# soon as a window is half a range behind the newest sample.
FLAGS = ("--enable-admin-api", "--block-range", "1m", "--out-of-order-window", "0")


def now_ms():
    return int(time.time() * 1000)


def labels_of(i):
    return [("__name__", "snap_metric"), ("instance", f"host-{i:03d}"), ("job", "snap")]


def write(base, t_from, t_to, meta=False):
    """Every series' samples at t_from, t_from + STEP, ... < t_to; returns them."""
    series, sent = [], {}
    for i in range(SERIES):
        smp = [(t, float(i * 1000 + (t // STEP) % 997)) for t in range(t_from, t_to, STEP)]
        series.append((labels_of(i), smp))
        sent[f"host-{i:03d}"] = smp
    body = write_request(series)
    if meta:
        body += metadata("gauge", "snap_metric", "a gauge for the snapshot test", "bytes")
    status, _, text = http_request(base + "/api/v1/write", "POST", snappy(body), HEADERS)
    assert status == 204, text
    return sent


def stored(base, at_ms, span_ms):
    """{instance: [(t, v)]}: every raw sample of snap_metric in (at − span, at], read
    through the API (a range selector at an instant)."""
    q = urllib.parse.urlencode({"query": f"snap_metric[{span_ms // 1000}s]",
                                "time": f"{at_ms / 1000:.3f}"})
    status, _, body = http_request(f"{base}/api/v1/query?{q}")
    assert status == 200, body
    out = {}
    for r in json.loads(body)["data"]["result"]:
        out[r["metric"]["instance"]] = [(int(round(float(t) * 1000)), float(v))
                                        for t, v in r["values"]]
    return out


def blocks(data):
    d = os.path.join(data, "blocks")
    return [b for b in os.listdir(d) if not b.endswith((".tmp", ".deleted"))]


def metric(base, name):
    _, _, body = http_request(base + "/metrics")
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def test_api_snapshot_while_writing_restores_every_sample(server_factory, tmp_path):
    proc, base, data = server_factory(*FLAGS)
    start = (now_ms() - 8 * 60000) // STEP * STEP
    t0 = now_ms() // STEP * STEP
    before = write(base, start, t0 + STEP, meta=True)
    # Minutes of data behind the newest sample are cut into blocks (and compacted); the
    # last ones stay in the head.
    wait_until(lambda: len(blocks(data)) >= 2 and metric(base, "kmon_tsdb_head_samples") > 0,
               timeout=30, what="blocks cut and samples left in the head", proc=proc)
    span = t0 - start + 5 * 60000
    want = stored(base, t0, span)
    assert sum(len(v) for v in want.values()) == SERIES * len(before["host-000"])
    assert want == before

    # Writers go on (newer samples) while the snapshot is taken.
    stop, wrote, errors = threading.Event(), threading.Event(), []

    def keep_writing():
        # 100 ms of timestamps every 10 ms: ahead of the clock, but a minute of this
        # stays within --max-future (10m).
        t = t0 + STEP
        while not stop.is_set():
            try:
                write(base, t, t + 1)
                wrote.set()
            except AssertionError as e:  # reported below
                errors.append(e)
            t += 100
            time.sleep(0.01)

    th = threading.Thread(target=keep_writing)
    th.start()
    try:
        assert wrote.wait(30)
        status, _, body = http_request(base + "/api/v1/admin/tsdb/snapshot", "POST")
        time.sleep(0.2)
    finally:
        stop.set()
        th.join()
    assert not errors, errors
    assert status == 200, body
    answer = json.loads(body)
    assert answer["status"] == "success"
    name = answer["data"]["name"]
    snap = os.path.join(data, "snapshots", name)
    assert os.path.isdir(os.path.join(snap, "blocks"))
    with open(os.path.join(snap, "kmon.version")) as f:
        assert f.read().strip() == "1"
    # The blocks are links to the server's files, not copies.
    linked = [b for b in os.listdir(os.path.join(snap, "blocks"))
              if os.stat(os.path.join(snap, "blocks", b, "index")).st_nlink > 1]
    assert linked, "no block of the snapshot is a hard link"
    first_after = stored(base, now_ms() + 600000, span + 600000)

    # A second server on the snapshot: everything up to t0 exactly, and of what came
    # during the snapshot only samples the first server has too.
    proc2, base2, _ = server_factory(*FLAGS, data=snap)
    got = stored(base2, t0, span)
    assert got == want
    later = stored(base2, now_ms() + 600000, span + 600000)
    assert sum(len(v) for v in later.values()) > sum(len(v) for v in want.values())
    for inst, smp in later.items():
        assert set(smp) <= set(first_after[inst]), inst
    _, _, md = http_request(base2 + "/api/v1/metadata?metric=snap_metric")
    assert json.loads(md)["data"]["snap_metric"][0]["help"] == "a gauge for the snapshot test"
    # The second server takes writes as any other.
    write(base2, now_ms() // STEP * STEP, now_ms() // STEP * STEP + STEP)


def test_skip_head_and_bad_arguments(server_factory):
    proc, base, data = server_factory(*FLAGS)
    t = now_ms() // STEP * STEP
    write(base, t - 2 * STEP, t + STEP)
    status, _, body = http_request(base + "/api/v1/admin/tsdb/snapshot?skip_head=true", "POST")
    assert status == 200, body
    snap = os.path.join(data, "snapshots", json.loads(body)["data"]["name"])
    assert os.listdir(os.path.join(snap, "blocks")) == []  # nothing is cut yet
    status, _, body = http_request(base + "/api/v1/admin/tsdb/snapshot?skip_head=perhaps",
                                   "POST")
    assert status == 400 and b"skip_head" in body
    assert len(os.listdir(os.path.join(data, "snapshots"))) == 1
    status, _, _ = http_request(base + "/api/v1/admin/tsdb/snapshot", "GET")
    assert status == 405


def test_no_admin_api_no_snapshot(server_factory):
    _, base, data = server_factory()
    status, _, _ = http_request(base + "/api/v1/admin/tsdb/snapshot", "POST")
    assert status == 404
    assert not os.path.exists(os.path.join(data, "snapshots"))


def test_command_on_a_stopped_server(server_factory, tmp_path):
    proc, base, data = server_factory(*FLAGS)
    start = (now_ms() - 6 * 60000) // STEP * STEP
    t0 = now_ms() // STEP * STEP
    sent = write(base, start, t0 + STEP, meta=True)
    wait_until(lambda: len(blocks(data)) >= 1, timeout=30, what="a block cut", proc=proc)
    line_ts = time.time_ns()
    push = {"streams": [{"stream": {"job": "snap"}, "values": [[str(line_ts), "kept line"]]}]}
    status, _, body = http_request(base + "/loki/api/v1/push", "POST",
                                   json.dumps(push).encode(), {"Content-Type": "application/json"})
    assert status == 204, body

    out = tmp_path / "backup" / "snap"
    p = run("tsdb", "snapshot", data, str(out))
    assert p.returncode == 1
    assert "in use" in p.stderr and "/api/v1/admin/tsdb/snapshot" in p.stderr
    assert not out.exists()

    assert proc.stop() == 0, proc.log()
    p = run("tsdb", "snapshot", data, str(out))
    assert p.returncode == 0, p.stderr
    assert "log store copied" in p.stdout
    p = run("tsdb", "snapshot", data, str(out))
    assert p.returncode == 1 and "not empty" in p.stderr

    _, base2, _ = server_factory(*FLAGS, data=out)
    assert stored(base2, t0, t0 - start + 60000) == sent
    _, _, md = http_request(base2 + "/api/v1/metadata?metric=snap_metric")
    assert json.loads(md)["data"]["snap_metric"][0]["unit"] == "bytes"
    q = urllib.parse.urlencode({"query": '{job="snap"}', "start": str(line_ts - 10**9),
                                "end": str(line_ts + 10**9)})
    _, _, body = http_request(f"{base2}/loki/api/v1/query_range?{q}")
    streams = json.loads(body)["data"]["result"]
    assert [v[1] for s in streams for v in s["values"]] == ["kept line"]


def test_format_version(server_factory, tmp_path):
    proc, base, data = server_factory()
    marker = os.path.join(data, "kmon.version")
    with open(marker) as f:
        assert f.read() == "1\n"
    proc.stop()
    # A directory from before the marker: taken as version 1, and the marker written.
    os.unlink(marker)
    proc, base, _ = server_factory(data=data)
    with open(marker) as f:
        assert f.read() == "1\n"
    proc.stop()
    # A newer kmon's directory: refused with a clear sentence, nothing started.
    with open(marker, "w") as f:
        f.write("2\n")
    p = run("server", "--listen", "127.0.0.1:0", "--data", data, "--self-scrape-interval", "0",
            timeout=30)
    assert p.returncode != 0
    assert f"the data directory {data} holds data format version 2" in p.stderr, p.stderr
    assert "this kmon's version 1" in p.stderr
    p = run("tsdb", "inspect", data)
    assert p.returncode == 1 and "format version 2" in p.stderr
    with open(marker, "w") as f:
        f.write("two\n")
    p = run("server", "--listen", "127.0.0.1:0", "--data", data, "--self-scrape-interval", "0",
            timeout=30)
    assert p.returncode != 0 and "does not hold a format version" in p.stderr, p.stderr
