"""`kmon query`: one PromQL expression over a data directory (opened read-only) and over
a running server (its /api/v1/query and query_range), against a real `kmon server`
filled through remote_write. Both ways must print byte for byte what the server's API
answers (`--output json` is the API's data object), the table and CSV must carry the
same values, errors must say what went wrong with the right exit status, and querying a
directory the server is writing must neither disturb the server nor lose or damage data.
A real Prometheus 2.42, when installed, answers the same series through the same
command."""
import csv
import io
import json
import os
import re
import socket
import subprocess
import threading
import time
import urllib.parse
from datetime import datetime, timezone

import pytest

import rwlib
from conftest import (KMON, PROMETHEUS, Prometheus, Proc, free_port, http_request, run, tree,
                      wait_ready)

FILL = os.environ.get("KMON_TSDB_FILL",
                      os.path.join(os.path.dirname(__file__), "../../build/tests/tools/tsdb_fill"))

NOW_S = int(time.time()) // 10 * 10
T = NOW_S - 60          # the time the instant queries ask about (seconds)
T0 = T - 300            # the first sample
STEP = 10               # sample spacing (seconds)

ODD = 'a"b\\c\nd,e'     # a label value that needs quoting in every output


def series():
    """The test's series: gauges, counters, odd label values; a sample every 10 s from
    T0 to T."""
    out = []

    def add(name, labels, fn):
        pairs = sorted([("__name__", name)] + list(labels.items()))
        out.append((pairs, [((T0 + k * STEP) * 1000, fn(k)) for k in range(31)]))

    add("q_up", {"instance": "a:9100", "job": "node"}, lambda k: 1)
    add("q_up", {"instance": "b:9100", "job": "node"}, lambda k: 0)
    add("q_up", {"instance": "c", "job": "api"}, lambda k: 1)
    add("q_requests_total", {"code": "200", "job": "api"}, lambda k: 100 + 7 * k)
    add("q_requests_total", {"code": "500", "job": "api"}, lambda k: 3 * k + 0.25)
    add("q_temp", {"sensor": "x y", "note": ODD}, lambda k: 20.5 + k / 10)
    add("q_temp", {"sensor": "ünï", "note": "plain"}, lambda k: -1e-7 * k)
    return out


def write(base, ser):
    body = rwlib.snappy(rwlib.write_request(ser))
    st, _, b = http_request(base + "/api/v1/write", "POST", body, rwlib.HEADERS)
    assert st in (200, 204), b


def api(base, path, **args):
    """(status, body text) of a GET of the Prometheus API."""
    st, _, b = http_request(f"{base}{path}?{urllib.parse.urlencode(args)}")
    return st, b.decode()


def api_data(base, path, **args):
    """The API's data object as the server wrote it (text), and parsed."""
    st, body = api(base, path, **args)
    assert st == 200, body
    prefix = '{"status":"success","data":'
    assert body.startswith(prefix) and body.endswith("}"), body[:200]
    return body[len(prefix):-1], json.loads(body)["data"]


def kq(*args, env=None, stdin=None):
    p = subprocess.run([KMON, "query", *args], capture_output=True, text=True, timeout=120,
                       env=env, input=stdin)
    return p


def ok(*args, **kw):
    p = kq(*args, **kw)
    assert p.returncode == 0, (args, p.stderr)
    return p.stdout


def rfc3339(sec):
    dt = datetime.fromtimestamp(sec, timezone.utc)
    if sec != int(sec):
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{round(sec % 1 * 1000):03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def kmon_server(tmp_path_factory):
    """A kmon server holding the test's series: (base URL, data directory)."""
    data = str(tmp_path_factory.mktemp("query") / "data")
    port = free_port()
    proc = Proc(["server", "--listen", f"127.0.0.1:{port}", "--data", data,
                 "--log-level", "warn"])
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc)
        write(base, series())
        yield base, data
    finally:
        proc.close()


INSTANT = [
    "q_up",
    "sum by (job) (q_up)",
    "rate(q_requests_total[1m])",
    "q_temp",
    "q_temp / 0",
    "q_requests_total[30s]",
    "scalar(sum(q_up))",
    "1 / 3",
    '"hello"',
    "q_up == 7",
    "count_values(\"v\", q_up)",
]

RANGE = ["q_up", "rate(q_requests_total[1m])", "sum(q_temp)", "scalar(sum(q_up))", "q_up == 7"]


# ---- the same answer three ways ------------------------------------------------------------

@pytest.mark.parametrize("expr", INSTANT)
@pytest.mark.parametrize("at", [T, T - 17.25])
def test_instant_is_the_apis_answer_both_ways(kmon_server, expr, at):
    base, data = kmon_server
    want, _ = api_data(base, "/api/v1/query", query=expr, time=at)
    local = ok("--data", data, "--output", "json", "--time", str(at), expr)
    remote = ok("--server", base, "--output", "json", "--time", str(at), expr)
    assert local == want + "\n"
    assert remote == want + "\n"


@pytest.mark.parametrize("expr", RANGE)
def test_range_is_the_apis_answer_both_ways(kmon_server, expr):
    base, data = kmon_server
    args = dict(start=T - 200, end=T, step=20)
    want, _ = api_data(base, "/api/v1/query_range", query=expr, **args)
    flags = ["--start", str(args["start"]), "--end", str(args["end"]), "--step", "20s"]
    assert ok("--data", data, "--output", "json", *flags, expr) == want + "\n"
    assert ok("--server", base, "--output", "json", *flags, expr) == want + "\n"
    # RFC 3339 times are the same times.
    flags = ["--start", rfc3339(T - 200), "--end", rfc3339(T), "--step", "20"]
    assert ok("--server", base, "--output", "json", *flags, expr) == want + "\n"


def test_table_and_csv_are_the_same_both_ways(kmon_server):
    base, data = kmon_server
    for out in ("table", "csv"):
        for expr in ("q_temp", "rate(q_requests_total[1m])"):
            a = ok("--data", data, "--output", out, "--time", str(T), expr)
            b = ok("--server", base, "--output", out, "--time", str(T), expr)
            assert a == b and a
        a = ok("--data", data, "--output", out, "--start", str(T - 60), "--end", str(T),
               "--step", "30s", "q_up")
        b = ok("--server", base, "--output", out, "--start", str(T - 60), "--end", str(T),
               "--step", "30s", "q_up")
        assert a == b and a


# ---- what the outputs look like -------------------------------------------------------------

def series_text(metric):
    """A metric as Prometheus prints one: name{a="x", b="y"} (values quoted as Go's %q)."""
    name = metric.get("__name__", "")
    rest = [f'{k}={json.dumps(v, ensure_ascii=False)}' for k, v in sorted(metric.items())
            if k != "__name__"]
    if name and not rest:
        return name
    return name + "{" + ", ".join(rest) + "}"


TABLE_LINE = re.compile(r"^(.*?)  +(\S+)  @ (\S+)$")


def test_table_instant(kmon_server):
    base, data = kmon_server
    _, want = api_data(base, "/api/v1/query", query="q_temp or q_up", time=T)
    out = ok("--data", data, "--time", str(T), "q_temp or q_up")
    lines = out.splitlines()
    assert len(lines) == len(want["result"]) == 5
    got = []
    for line in lines:
        m = TABLE_LINE.match(line)
        assert m, line
        got.append((m.group(1).rstrip(), m.group(2), m.group(3)))
    assert got == [(series_text(r["metric"]), r["value"][1], rfc3339(T)) for r in want["result"]]
    # Aligned: the values end in one column, "@" is in one column (in characters).
    assert len({line.index("  @ ") for line in lines}) == 1
    assert 'q_temp{note="a\\"b\\\\c\\nd,e", sensor="x y"}' in out
    assert 'q_temp{note="plain", sensor="ünï"}' in out
    assert 'q_up{instance="a:9100", job="node"}' in out


def test_table_range_groups_points_by_series(kmon_server):
    base, data = kmon_server
    _, want = api_data(base, "/api/v1/query_range", query="q_up", start=T - 40, end=T, step=20)
    out = ok("--server", base, "--start", str(T - 40), "--end", str(T), "--step", "20s", "q_up")
    blocks = out.split("\n\n")
    assert len(blocks) == len(want["result"]) == 3
    for block, r in zip(blocks, want["result"]):
        rows = [TABLE_LINE.match(line).groups() for line in block.strip("\n").split("\n")]
        # Every line names its series: grep finds all of a series' points.
        assert [(s.rstrip(), v, t) for s, v, t in rows] == \
            [(series_text(r["metric"]), v, rfc3339(t)) for t, v in r["values"]]
    assert len(out.splitlines()) == 3 * 3 + 2


def test_table_scalar_string_and_empty(kmon_server):
    _, data = kmon_server
    assert ok("--data", data, "--time", str(T), "scalar(sum(q_up))") == \
        f"scalar  2  @ {rfc3339(T)}\n"
    assert ok("--data", data, "--time", str(T), '"a b"') == f'string  "a b"  @ {rfc3339(T)}\n'
    # An empty answer prints nothing and succeeds.
    p = kq("--data", data, "--time", str(T), "q_up == 7")
    assert p.returncode == 0 and p.stdout == "" and p.stderr == ""


def test_csv(kmon_server):
    base, data = kmon_server
    _, want = api_data(base, "/api/v1/query_range", query="q_temp", start=T - 20, end=T,
                       step=10)
    out = ok("--data", data, "--output", "csv", "--start", str(T - 20), "--end", str(T),
             "--step", "10s", "q_temp")
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["__name__", "note", "sensor", "timestamp", "value"]
    expect = [[r["metric"]["__name__"], r["metric"]["note"], r["metric"]["sensor"],
               str(t), v] for r in want["result"] for t, v in r["values"]]
    assert rows[1:] == expect
    assert any(row[1] == ODD for row in rows[1:])
    # A scalar: timestamp and value.
    out = ok("--data", data, "--output", "csv", "--time", str(T), "scalar(sum(q_up))")
    assert out == f"timestamp,value\n{T},2\n"


def test_expression_from_stdin(kmon_server):
    _, data = kmon_server
    out = ok("--data", data, "--time", str(T), "--output", "json", "-",
             stdin="sum(\n  q_up\n)\n")
    assert json.loads(out)["result"][0]["value"] == [T, "2"]


# ---- times -------------------------------------------------------------------------------

def test_relative_times_and_default_step(kmon_server):
    base, data = kmon_server
    before = int(time.time())
    out = ok("--server", base, "--output", "json", "--start", "-10m", "q_up")
    after = int(time.time()) + 1
    values = json.loads(out)["result"][0]["values"]
    times = [t for t, _ in values]
    # Now in whole seconds; the range over 250 points in whole seconds (600 s -> 2 s).
    assert all(t == int(t) for t in times)
    assert {b - a for a, b in zip(times, times[1:])} == {2}
    assert times[-1] <= after and times[0] >= before - 600 - 300
    # now-DURATION and an instant at a relative time: back to T, the newest sample's
    # time (the distance is taken now: the module's NOW_S may be minutes old when a long
    # suite gets here, and T beyond the lookback from now-(NOW_S - T)).
    before = int(time.time())
    back = before - T
    out = ok("--data", data, "--output", "json", "--time", f"now-{back}s", "q_up")
    after = int(time.time()) + 1
    t = json.loads(out)["result"][0]["value"][0]
    assert before - back <= t <= after - back


def test_lookback_and_max_samples_apply_to_the_data_directory(kmon_server):
    _, data = kmon_server
    at = T + 100  # 100 s after the newest sample
    assert "q_up" in ok("--data", data, "--time", str(at), "q_up")
    assert ok("--data", data, "--time", str(at), "--lookback-delta", "1m", "q_up") == ""
    p = kq("--data", data, "--time", str(T), "--max-samples", "2", "sum(q_up)")
    assert p.returncode == 1
    assert p.stderr == ("kmon query: query processing would load too many samples into "
                        "memory in query execution\n")


# ---- errors -------------------------------------------------------------------------------

def test_parse_error_has_prometheus_message_and_a_caret_both_ways(kmon_server):
    base, data = kmon_server
    for expr in ("sum(rate(q_up[5m])) by (job", "sum(\n\tq_up{job=\"a\"} +\n) by (job)",
                 "q_up{jöb=\"x\"}"):
        st, body = api(base, "/api/v1/query", query=expr, time=T)
        assert st == 400, body
        msg = json.loads(body)["error"].removeprefix('invalid parameter "query": ')
        line, col = map(int, re.match(r"(\d+):(\d+): parse error: ", msg).groups())
        text = expr.split("\n")[line - 1]
        caret = "".join("\t" if c == "\t" else " " for c in text.encode()[:col - 1].decode(
            errors="ignore"))
        want = (f"kmon query: the expression is not valid PromQL: {msg}\n"
                f"  {text}\n  {caret}^\n")
        for src in (["--data", data], ["--server", base]):
            p = kq(*src, expr)
            assert p.returncode == 1, p.stderr
            assert p.stdout == ""
            assert p.stderr == want


def test_execution_errors_read_the_same_both_ways(server_factory, kmon_server):
    base, data = kmon_server
    expr = "q_up[5m]"
    for src in (["--data", data], ["--server", base]):
        p = kq(*src, "--start", str(T - 60), "--end", str(T), "--step", "10s", expr)
        assert p.returncode == 1
        assert p.stderr == ('kmon query: invalid expression type "range vector" for range '
                            'query, must be Scalar or instant Vector\n')
    # The server's samples limit, and the same limit here.
    _, sbase, _ = server_factory("--query-max-samples", "2")
    write(sbase, series())
    a = kq("--server", sbase, "--time", str(T), "sum(q_up)")
    b = kq("--data", data, "--max-samples", "2", "--time", str(T), "sum(q_up)")
    assert a.returncode == b.returncode == 1
    assert a.stderr == b.stderr != ""


def test_source_errors(tmp_path, kmon_server):
    base, _ = kmon_server
    missing = tmp_path / "nothing-here"
    p = kq("--data", str(missing), "up")
    assert p.returncode == 1 and p.stdout == ""
    assert p.stderr.startswith(f"kmon query: cannot read {missing}: No such file or directory")
    assert "--data" in p.stderr and "--server" in p.stderr
    assert len(p.stderr.splitlines()) == 1
    p = kq("--data", str(tmp_path), "up")
    assert p.returncode == 1
    assert f"{tmp_path} is not a kmon data directory" in p.stderr
    # Nothing listens there.
    port = free_port()
    p = kq("--server", f"http://127.0.0.1:{port}", "up")
    assert p.returncode == 1 and p.stdout == ""
    assert p.stderr.startswith(f"kmon query: cannot reach the server at http://127.0.0.1:{port}: ")
    assert len(p.stderr.splitlines()) == 1
    # A server, but not its API's base URL; the password is not repeated.
    p = kq("--server", base.replace("http://", "http://me:s3cret@") + "/ui", "up")
    assert p.returncode == 1
    assert p.stderr == (f"kmon query: {base}/ui answered 404 to /api/v1/query: no such "
                        f"endpoint: /ui/api/v1/query (is that the base URL of a kmon server "
                        f"or a Prometheus?)\n")


def test_a_server_that_never_answers(tmp_path):
    # It takes the connection (the kernel does) and says nothing: the query gives up at
    # --timeout plus the grace it leaves the server to answer its own timeout (10 s).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        url = "http://127.0.0.1:%d" % s.getsockname()[1]
        p = kq("--server", url, "--timeout", "1s", "up")
    assert p.returncode == 1 and p.stdout == ""
    assert p.stderr.startswith(f"kmon query: {url} did not answer within 11 s (--timeout)")


@pytest.mark.parametrize("args,sentence", [
    (["--time", "yesterday", "up"], '--time: bad time "yesterday"'),
    (["--start", "1h", "up"], '--start: bad time "1h"'),
    (["--start", "-9e15", "--end", "9e15", "up"], "beyond the times Prometheus knows"),
    (["--time", "-1h", "--start", "-2h", "up"], "--time is for an instant query"),
    (["--start", "-1h", "--end", "-2h", "up"], "--end (")  ,
    (["--start", "-1d", "--step", "1s", "up"], "points per series"),
    (["--step", "0", "up"], "bad value for --step"),
    (["--data", "x", "--server", "http://x", "up"], "give --data or --server, not both"),
    (["--server", "http://x", "--lookback-delta", "1m", "up"], "apply to --data"),
    (["--server", "x:5000", "up"], "--server wants a URL starting with http://"),
    (["--output", "yaml", "up"], "bad value for --output"),
    ([], "give the expression to evaluate"),
    (["up", "down"], "give one expression"),
    (["--bogus", "up"], "unknown flag --bogus"),
])
def test_usage_errors_exit_2(args, sentence):
    p = kq(*args)
    assert p.returncode == 2, p.stderr
    assert p.stdout == ""
    assert p.stderr.startswith("kmon query: ") and sentence in p.stderr, p.stderr
    assert p.stderr.endswith("Run 'kmon query --help' for the flags.\n")


def test_help():
    p = run("query", "--help")
    assert p.returncode == 0 and p.stderr == ""
    for flag in ("--time", "--start", "--end", "--step", "--lookback-delta", "--max-samples",
                 "--timeout", "--output table|json|csv", "--data DIR", "--server URL",
                 "KMON_SERVER", "Examples:", "Exit status:", "kmon query --start -1h"):
        assert flag in p.stdout, flag
    assert run("help", "query").stdout == p.stdout
    assert "query " in run("--help").stdout


def test_environment_and_config_file(tmp_path, kmon_server):
    base, data = kmon_server
    env = dict(os.environ, KMON_SERVER=base, KMON_OUTPUT="json")
    out = ok("--time", str(T), "sum(q_up)", env=env)
    assert json.loads(out)["result"][0]["value"] == [T, "2"]
    # A shared file with a section for query, which the other commands skip.
    cfg = tmp_path / "kmon.yaml"
    cfg.write_text(f"query:\n  data: {data}\n  output: csv\ntsdb:\n  format: json\n")
    assert ok("--config", str(cfg), "--time", str(T), "sum(q_up)") == f"timestamp,value\n{T},2\n"
    p = run("tsdb", "inspect", "--config", str(cfg), data)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["problems"] == 0


# ---- beside a running server -----------------------------------------------------------------

def test_querying_a_directory_changes_nothing(tmp_path):
    d = tmp_path / "data"
    # A block, and after it a head in the WAL (40 samples 15 s apart each).
    for mode, start in (("flush", (T - 1500) * 1000), ("head", (T - 900) * 1000)):
        p = subprocess.run([FILL, str(d), "30", "40", str(start), "15000", mode],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
    before = tree(d)
    out = ok("--data", str(d), "--output", "json", "--time", str(T),
             "count(count_over_time(fill_metric_3[2h]))")
    assert json.loads(out)["result"][0]["value"][1] == "3"
    out = ok("--data", str(d), "--output", "json", "--time", str(T),
             "sum(count_over_time({job=\"fill\"}[2h]))")
    assert json.loads(out)["result"][0]["value"][1] == str(30 * 40 * 2)
    assert tree(d) == before


def test_query_beside_a_server_that_keeps_writing(server_factory):
    """The server ingests and cuts blocks (admin flush) while `kmon query --data` opens its
    directory again and again: every query succeeds and sees no fewer samples than the one
    before, every write is acknowledged, and afterwards the directory verifies clean and
    a restarted server has every sample."""
    server, base, data = server_factory("--enable-admin-api", "--log-level", "warn")
    port = int(base.rsplit(":", 1)[1])
    nseries, rounds = 20, 150
    t_base = (int(time.time()) - 600) * 1000
    expr = "count_over_time(q_live[1h])"
    at = str(t_base // 1000 + rounds + 1)
    errors = []
    done = threading.Condition()
    runs, stop = [0], [False]

    def writer():
        # After each flush, wait for a query to finish before writing on: queries and
        # writes, cuts and compactions interleave.
        try:
            for i in range(rounds):
                write(base, [([("__name__", "q_live"), ("s", str(k))], [(t_base + i * 1000, i)])
                             for k in range(nseries)])
                if i % 10 == 9:
                    st, _, b = http_request(base + "/api/v1/admin/flush", "POST")
                    assert st in (200, 204), b
                    with done:
                        n = runs[0]
                        done.wait_for(lambda: runs[0] > n or stop[0], timeout=120)
                if stop[0]:
                    return
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    w = threading.Thread(target=writer)
    w.start()
    seen = {}
    try:
        while w.is_alive():
            out = ok("--data", data, "--output", "json", "--time", at, expr)
            for r in json.loads(out)["result"]:
                s, n = r["metric"]["s"], int(r["value"][1])
                assert n >= seen.get(s, 0), (s, n, seen.get(s))
                seen[s] = n
            with done:
                runs[0] += 1
                done.notify_all()
    finally:
        with done:
            stop[0] = True
            done.notify_all()
        w.join()
    assert not errors, errors
    assert runs[0] >= rounds // 10
    want = [str(rounds)] * nseries
    _, d = api_data(base, "/api/v1/query", query=expr, time=at)
    assert [r["value"][1] for r in d["result"]] == want
    out = json.loads(ok("--data", data, "--output", "json", "--time", at, expr))
    assert [r["value"][1] for r in out["result"]] == want
    assert server.stop() == 0, server.log()
    p = run("tsdb", "inspect", "--format", "json", data)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["problems"] == 0
    _, base, _ = server_factory("--log-level", "warn", data=data, port=port)
    _, d = api_data(base, "/api/v1/query", query=expr, time=at)
    assert [r["value"][1] for r in d["result"]] == want


# ---- any Prometheus ---------------------------------------------------------------------------

@pytest.mark.skipif(PROMETHEUS is None,
                    reason="Debian's prometheus is not installed (scripts/install-deps.sh test)")
def test_a_real_prometheus_answers_through_the_same_command(tmp_path, kmon_server):
    base, _ = kmon_server
    port = free_port()
    (tmp_path / "prometheus.yml").write_text("global:\n  scrape_interval: 1m\n")
    prom = Prometheus([f"--config.file={tmp_path / 'prometheus.yml'}",
                       f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                       f"--web.listen-address=127.0.0.1:{port}",
                       "--web.enable-remote-write-receiver"])
    pbase = f"http://127.0.0.1:{port}"
    try:
        wait_ready(pbase, prom, timeout=60, path="/-/ready")
        write(pbase, series())
        # (An instant vector's order is the engine's own: compared as sets of lines.)
        for expr in ("q_up", "sum by (job) (q_up)", "q_temp", "q_requests_total[30s]",
                     "scalar(sum(q_up))", '"hello"'):
            a = json.loads(ok("--server", pbase, "--output", "json", "--time", str(T), expr))
            b = json.loads(ok("--server", base, "--output", "json", "--time", str(T), expr))
            if isinstance(a["result"], list):
                a["result"].sort(key=json.dumps)
                b["result"].sort(key=json.dumps)
            assert a == b, expr
            for out in ("table", "csv"):
                a = ok("--server", pbase, "--output", out, "--time", str(T), expr)
                b = ok("--server", base, "--output", out, "--time", str(T), expr)
                assert sorted(a.splitlines()) == sorted(b.splitlines()), (expr, out)
        flags = ["--start", str(T - 100), "--end", str(T), "--step", "20s"]
        assert ok("--server", pbase, *flags, "q_up") == ok("--server", base, *flags, "q_up")
        # Its parse errors read as kmon's.
        a = kq("--server", pbase, "sum(q_up) by (job")
        b = kq("--server", base, "sum(q_up) by (job")
        assert a.returncode == b.returncode == 1 and a.stderr == b.stderr
    finally:
        prom.close()
