"""`kmon server`'s Loki API on a real server on loopback: lines pushed as JSON (plain
and gzip), as protobuf in snappy (the bytes written here by hand, as Loki's push.proto
lays them out) and by a real client (winston with winston-loki, from npm) are found by
/loki/api/v1/query_range, /labels, /label/<name>/values, /series, /index/stats and
/index/volume;
malformed pushes answer 400 and store nothing; lines too far in the future are refused
with a count by reason while the rest of the request is stored; everything survives a
restart and a kill -9; a bad query answers Loki's 400. Expected answers are computed
here from the lines the test wrote."""
import gzip
import json
import os
import shutil
import subprocess
import time
import urllib.parse

import pytest

from conftest import http_request, run, scrape, tree
from rwlib import field, snappy, varint

NODE = shutil.which("node")
NODE_MODULES = os.environ.get(
    "KMON_NODE_MODULES", os.path.join(os.path.dirname(__file__), "../../web/node_modules"))
PUSHER = os.path.join(os.path.dirname(__file__), "loki_pusher.cjs")

NS = 1_000_000_000


def now_ns():
    return time.time_ns()


# ---- request bodies -------------------------------------------------------------------

def json_body(streams):
    """streams: [(labels dict, [(ts_ns, line)])] -> the JSON push body (bytes)."""
    return json.dumps({"streams": [
        {"stream": labels, "values": [[str(ts), line] for ts, line in entries]}
        for labels, entries in streams]}).encode()


def labels_string(labels):
    return "{" + ", ".join(f'{k}={json.dumps(v)}' for k, v in sorted(labels.items())) + "}"


def proto_body(streams, labels_override=None):
    """The protobuf PushRequest of streams (as json_body), snappy-compressed."""
    out = b""
    for i, (labels, entries) in enumerate(streams):
        ls = labels_override[i] if labels_override else labels_string(labels)
        st = field(1, 2, ls.encode())
        for ts, line in entries:
            sec, nanos = divmod(ts, NS)
            tsm = (field(1, 0, varint(sec)) if sec else b"") + \
                  (field(2, 0, varint(nanos)) if nanos else b"")
            st += field(2, 2, field(1, 2, tsm) + field(2, 2, line.encode()))
        out += field(1, 2, st)
    return snappy(out)


def push(base, body, ctype="application/json", path="/loki/api/v1/push", headers=None):
    h = {"Content-Type": ctype}
    h.update(headers or {})
    return http_request(base + path, "POST", body, h)


def get_json(base, path, **args):
    q = urllib.parse.urlencode(args, doseq=True)
    status, _, body = http_request(f"{base}{path}?{q}")
    return status, json.loads(body) if body else None


def query_range(base, query, **args):
    args.setdefault("start", str(now_ns() - 3600 * NS))
    args.setdefault("end", str(now_ns() + 60 * NS))
    args.setdefault("limit", "1000")
    return get_json(base, "/loki/api/v1/query_range", query=query, **args)


def lines_of(answer):
    """{labels tuple: [(ts, line)]} of a streams answer."""
    assert answer["status"] == "success", answer
    assert answer["data"]["resultType"] == "streams"
    out = {}
    for s in answer["data"]["result"]:
        out[tuple(sorted(s["stream"].items()))] = [(int(t), l) for t, l in s["values"]]
    return out


def sample_streams(tag, base_ts):
    """Two streams of three lines each, one second apart, ending at base_ts."""
    return [
        ({"app": "web", "pod": f"{tag}-a"},
         [(base_ts - 3 * NS + k * NS, f"{tag} web line {k}") for k in range(3)]),
        ({"app": "db", "pod": f"{tag}-b"},
         [(base_ts - 3 * NS + k * NS + 5, f"{tag} db line {k} é") for k in range(3)]),
    ]


def expect_found(base, streams):
    """Every line of streams is found, exactly, in time order (forward)."""
    for labels, entries in streams:
        sel = labels_string(labels)
        status, a = query_range(base, sel, direction="forward")
        assert status == 200, a
        got = lines_of(a)
        assert got == {tuple(sorted(labels.items())): sorted(entries)}, (sel, got)
        # Backward (the default): the same lines, newest first.
        status, a = query_range(base, sel)
        assert lines_of(a) == {tuple(sorted(labels.items())): sorted(entries, reverse=True)}


# ---- pushes found by every endpoint ---------------------------------------------------

@pytest.mark.parametrize("form", ["json", "json-gzip", "proto", "proto-legacy-path"])
def test_push_found_everywhere(server_factory, form):
    _, base, _ = server_factory()
    streams = sample_streams(form.replace("-", ""), now_ns())
    if form == "json":
        st, _, body = push(base, json_body(streams))
    elif form == "json-gzip":
        st, _, body = push(base, gzip.compress(json_body(streams)),
                           headers={"Content-Encoding": "gzip"})
    else:
        path = "/api/prom/push" if form == "proto-legacy-path" else "/loki/api/v1/push"
        st, _, body = push(base, proto_body(streams), "application/x-protobuf", path)
    assert st == 204, body
    expect_found(base, streams)

    status, a = get_json(base, "/loki/api/v1/labels")
    assert status == 200 and a["status"] == "success"
    assert a["data"] == ["app", "pod"]
    status, a = get_json(base, "/loki/api/v1/label/app/values")
    assert a["data"] == ["db", "web"]
    status, a = get_json(base, "/loki/api/v1/label/pod/values", query='{app="web"}')
    assert status == 200 and a["data"] == [streams[0][0]["pod"]]
    status, a = get_json(base, "/loki/api/v1/series", **{"match[]": ['{app=~".+"}']})
    assert status == 200
    assert sorted(a["data"], key=lambda d: d["app"]) == [streams[1][0], streams[0][0]]
    status, a = get_json(base, "/loki/api/v1/series", **{"match[]": ['{app="web"}', '{app="db"}']})
    assert len(a["data"]) == 2
    status, a = get_json(base, "/loki/api/v1/index/stats", query='{app="web"}')
    assert status == 200
    assert a["streams"] == 1 and a["entries"] == 3
    assert a["bytes"] == sum(len(l.encode()) for _, l in streams[0][1])
    # Volume: bytes per value of the selector's labels, largest first.
    status, a = get_json(base, "/loki/api/v1/index/volume", query='{app=~".+"}')
    assert status == 200 and a["data"]["resultType"] == "vector", a
    want = sorted(((labels["app"], sum(len(l.encode()) for _, l in entries))
                   for labels, entries in streams), key=lambda x: -x[1])
    assert [(r["metric"], r["value"][1]) for r in a["data"]["result"]] == \
        [({"app": app}, str(n)) for app, n in want]
    status, a = get_json(base, "/loki/api/v1/index/volume", query='{app="web"}',
                         targetLabels="pod")
    assert [r["metric"] for r in a["data"]["result"]] == [{"pod": streams[0][0]["pod"]}]

    # A repeat is harmless: 204, nothing stored twice.
    if form == "json":
        st, _, _ = push(base, json_body(streams))
        assert st == 204
        expect_found(base, streams)


def test_line_filter_and_metric_query(server_factory):
    _, base, _ = server_factory()
    t = now_ns()
    lines = [(t - 10 * NS + k * NS, ("error " if k % 3 == 0 else "ok ") + str(k)) for k in range(10)]
    assert push(base, json_body([({"app": "f"}, lines)]))[0] == 204
    status, a = query_range(base, '{app="f"} |= "error"', direction="forward")
    assert status == 200
    want = [e for e in lines if e[1].startswith("error")]
    assert lines_of(a) == {(("app", "f"),): want}
    status, a = get_json(base, "/loki/api/v1/query",
                         query='count_over_time({app="f"}[1m])', time=str(t + NS))
    assert status == 200, a
    assert a["data"]["resultType"] == "vector"
    assert [float(r["value"][1]) for r in a["data"]["result"]] == [10.0]
    # limit: the newest N
    status, a = query_range(base, '{app="f"}', limit="4")
    assert [l for _, l in lines_of(a)[(("app", "f"),)]] == [l for _, l in lines[-4:]][::-1]


# ---- refusals ------------------------------------------------------------------------

MALFORMED_JSON = [
    (b"", "not JSON"),
    (b"{\"streams\":[", "not JSON"),
    (b"[]", "not a JSON object"),
    (b"{\"streams\":[{\"stream\":{\"app\":\"x\"},\"values\":[[\"abc\",\"line\"]]}]}",
     "timestamp \"abc\" is not a number"),
    (b"{\"streams\":[{\"stream\":{\"app\":1},\"values\":[]}]}", "not a string"),
    (b"{\"streams\":[{\"stream\":{\"app\":\"x\"},\"values\":[[\"1\"]]}]}", "not an array"),
    (b"{\"streams\":[{\"stream\":{\"app\":\"x\"},\"values\":[[\"1\",2]]}]}", "line is not a string"),
]


def test_malformed_pushes_change_nothing(server_factory):
    _, base, data = server_factory()
    t = now_ns()
    good = [({"app": "good"}, [(t, "stays")])]
    assert push(base, json_body(good))[0] == 204
    before = tree(os.path.join(data, "logs"))
    for body, msg in MALFORMED_JSON:
        st, _, ans = push(base, body)
        assert st == 400, (body, ans)
        err = json.loads(ans)
        assert err["status"] == "error" and err["code"] == 400 and msg in err["message"], err
    # A bad stream after a good one in the same request: the whole request is refused.
    bad_after_good = json.dumps({"streams": [
        {"stream": {"app": "half"}, "values": [[str(t), "never stored"]]},
        {"stream": {"app": "x"}, "values": [["nope", "x"]]}]}).encode()
    assert push(base, bad_after_good)[0] == 400
    # Protobuf: not snappy, truncated message, a labels string that does not parse.
    st, _, ans = push(base, b"\xff\xff\xff\xff\xff", "application/x-protobuf")
    assert st == 400 and b"snappy" in ans
    st, _, ans = push(base, snappy(b"\x0a\x05\x0a\x01"), "application/x-protobuf")
    assert st == 400 and b"runs past the message" in ans
    st, _, ans = push(base, proto_body([({}, [(t, "x")])], ['{app=~"x"}']),
                      "application/x-protobuf")
    assert st == 400 and b"only = is allowed" in ans
    st, _, ans = push(base, b"\x1f\x8b\x08\x00garbage", headers={"Content-Encoding": "gzip"})
    assert st == 400 and b"gzip" in ans
    st, _, ans = push(base, b"x", "text/plain")
    assert st == 415
    # Not a byte of the store changed (the background thread may only fsync).
    assert tree(os.path.join(data, "logs")) == before
    # Invalid label names are the store's refusal: counted, nothing stored.
    st, _, ans = push(base, json_body([({"0bad": "x"}, [(t, "x")])]))
    assert st == 400, ans
    # Nothing but the good line is there.
    status, a = get_json(base, "/loki/api/v1/series", **{"match[]": ['{app=~".+"}']})
    assert a["data"] == [{"app": "good"}]
    status, a = query_range(base, '{app=~".+"}')
    assert lines_of(a) == {(("app", "good"),): [(t, "stays")]}
    m = scrape(base)
    assert m[("kmon_logs_push_requests_total", (("code", "400"),))] >= len(MALFORMED_JSON) + 5
    assert m[("kmon_logs_push_requests_total", (("code", "204"),))] == 1


def test_future_refused_rest_stored(server_factory):
    _, base, _ = server_factory("--max-future", "10m")
    t = now_ns()
    streams = [({"app": "clock"}, [(t, "now"), (t + 3600 * NS, "an hour ahead"),
                                   (t + 7200 * NS, "two hours ahead")])]
    st, _, ans = push(base, json_body(streams))
    assert st == 400, ans
    msg = json.loads(ans)["message"]
    assert msg.startswith("2 of 3 entries refused (the other 1 were stored):"), msg
    assert "2 too far in the future" in msg or "2 " in msg
    status, a = query_range(base, '{app="clock"}', end=str(t + 3 * 3600 * NS))
    assert lines_of(a) == {(("app", "clock"),): [(t, "now")]}
    # Every entry refused: "none stored".
    st, _, ans = push(base, json_body([({"app": "clock2"}, [(t + 3600 * NS, "x")])]))
    assert st == 400 and "none stored" in json.loads(ans)["message"]
    status, a = get_json(base, "/loki/api/v1/label/app/values")
    assert a["data"] == ["clock"]


def test_bodies_bounded(server_factory):
    _, base, _ = server_factory("--max-request-bytes", "64KiB", "--max-decoded-bytes", "256KiB")
    st, _, _ = push(base, b"{" + b" " * 70000 + b"}")
    assert st == 413
    # A small gzip body that expands past --max-decoded-bytes.
    big = json_body([({"app": "big"}, [(now_ns(), "x" * 300000)])])
    st, _, ans = push(base, gzip.compress(big), headers={"Content-Encoding": "gzip"})
    assert st == 413, ans
    # A snappy body that claims to expand past it.
    st, _, ans = push(base, varint(10 << 20) + b"\x00", "application/x-protobuf")
    assert st == 413, ans


# ---- queries -------------------------------------------------------------------------

def test_bad_queries(server_factory):
    _, base, _ = server_factory()
    for q in ['{app=', 'rate({app="x"})', '{app=~".*"}', '']:
        status, a = query_range(base, q)
        assert status == 400, (q, a)
        assert a["status"] == "error" and a["code"] == 400 and a["message"], a
    status, a = query_range(base, '{app="x"}', direction="sideways")
    assert status == 400 and "direction" in a["message"]
    status, a = query_range(base, '{app="x"}', start="yesterday")
    assert status == 400 and "yesterday" in a["message"]
    status, a = query_range(base, '{app="x"}', limit="-1")
    assert status == 400
    status, a = get_json(base, "/loki/api/v1/query", query='{app="x"}')
    assert status == 400 and "instant" in a["message"]


def test_times_as_loki_reads_them(server_factory):
    """start/end as RFC 3339, Unix seconds, fractional seconds and nanoseconds."""
    _, base, _ = server_factory()
    t = (now_ns() // NS - 100) * NS
    assert push(base, json_body([({"app": "t"}, [(t, "at t")])]))[0] == 204
    for start, end in [(str(t - NS), str(t + NS)),
                       (str(t // NS - 1), str(t // NS + 1)),
                       (f"{t // NS - 1}.5", f"{t // NS}.5"),
                       (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t // NS - 1)),
                        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t // NS + 1)))]:
        status, a = query_range(base, '{app="t"}', start=start, end=end)
        assert status == 200 and lines_of(a) == {(("app", "t"),): [(t, "at t")]}, (start, end)
    # [start, end): the end is excluded
    status, a = query_range(base, '{app="t"}', start=str(t - NS), end=str(t))
    assert lines_of(a) == {}
    status, a = get_json(base, "/loki/api/v1/status/buildinfo")
    assert status == 200 and a["version"]


# ---- durability ----------------------------------------------------------------------

@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_restart_keeps_everything(server_factory, tmp_path, how):
    import signal
    data = tmp_path / "data"
    proc, base, _ = server_factory(data=data)
    streams = sample_streams("restart", now_ns())
    assert push(base, json_body(streams))[0] == 204
    assert push(base, proto_body([({"app": "p"}, [(now_ns(), "proto line")])]),
                "application/x-protobuf")[0] == 204
    proc.stop(signal.SIGTERM if how == "sigterm" else signal.SIGKILL)
    _, base, _ = server_factory(data=data)
    expect_found(base, streams)
    status, a = query_range(base, '{app="p"}')
    assert [l for _, l in lines_of(a)[(("app", "p"),)]] == ["proto line"]


# ---- the command line ----------------------------------------------------------------

def test_logs_cli(server_factory, tmp_path):
    data = tmp_path / "data"
    proc, base, _ = server_factory(data=data)
    t = now_ns()
    lines = [(t - 5 * NS + k * NS, f"cli line {k}") for k in range(5)]
    assert push(base, json_body([({"app": "cli"}, lines)]))[0] == 204
    r = run("logs", "query", "--server", base, "--forward", '{app="cli"}')
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [l for _, l in lines]
    r = run("logs", "query", "--server", base, "--limit", "2", "--output", "jsonl", '{app="cli"}')
    assert r.returncode == 0, r.stderr
    got = [json.loads(x) for x in r.stdout.splitlines()]
    assert [g["line"] for g in got] == ["cli line 4", "cli line 3"]
    assert got[0]["labels"] == {"app": "cli"}
    r = run("logs", "query", "--server", base, '{app=')
    assert r.returncode == 1 and "parse error" in r.stderr
    # Read-only beside the running server.
    r = run("logs", "query", "--data", str(data), "--forward", '{app="cli"}')
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [l for _, l in lines]
    r = run("logs", "inspect", str(data))
    assert r.returncode == 0, r.stderr
    r = run("logs", "--help")
    assert r.returncode == 0 and "query" in r.stdout and "inspect" in r.stdout
    r = run("server", "--help")
    for flag in ["--logs-retention", "--logs-retention-size", "--logs-max-line-size",
                 "--logs-max-streams", "--logs-ooo-window"]:
        assert flag in r.stdout


# ---- a real pusher -------------------------------------------------------------------

@pytest.mark.skipif(not NODE, reason="node is not installed")
@pytest.mark.parametrize("mode", ["proto", "json"])
def test_winston_loki_pushes(server_factory, mode):
    if not os.path.isdir(os.path.join(NODE_MODULES, "winston-loki")):
        pytest.skip(f"winston-loki is not installed in {NODE_MODULES}: run "
                    "scripts/web-deps.sh test")
    _, base, _ = server_factory()
    n = 50
    tag = f"winston-{mode}-{now_ns()}"
    env = dict(os.environ, NODE_PATH=NODE_MODULES)
    r = subprocess.run([NODE, PUSHER, base, mode, str(n), tag], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    status, a = query_range(base, f'{{app="node-pusher", mode="{mode}"}} |= "{tag}"',
                            direction="forward")
    assert status == 200, a
    got = [l for vals in lines_of(a).values() for _, l in vals]
    assert sorted(got) == sorted(f"{tag} line {i}" for i in range(n))
    status, a = get_json(base, "/loki/api/v1/label/level/values")
    assert a["data"] == ["info"]
