"""/federate against the real thing: the same series, ending near now, remote-written to
Debian's Prometheus 2.42 and to kmon; then each /federate request asked of both and the
answers compared byte for byte (status, Content-Type, every line). Prometheus' federation
takes no time parameter (it answers at its clock's now), so the data's newest samples
lie 20 s to 2 min before the push and nothing lies near the edges of the 5 m lookback
while the test runs. promtool check metrics reads kmon's answers as it reads
Prometheus'. Then kmon alone: a large answer arrives streamed (chunked) and whole, and
a client that leaves half way leaves no stream behind."""
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
import urllib.parse

import pytest

from conftest import http_get, http_request, parse_exposition, scrape
import rwlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "promql"))
import harness  # noqa: E402

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
STALE = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]

needs_prometheus = pytest.mark.skipif(
    PROMETHEUS is None or PROMTOOL is None,
    reason="Debian's prometheus is not installed (scripts/install-deps.sh test)")

SPECIAL = [("zero", 0.0), ("negzero", -0.0), ("one", 1.0), ("minus_one", -1.0),
           ("nan", float("nan")), ("inf", float("inf")), ("neginf", float("-inf")),
           ("million", 1e6), ("e21", 1e21), ("e20", 1e20), ("small", 1e-7), ("e5", 1e-5),
           ("tenth", 0.1), ("big", 123456789.0), ("e5int", 100000.0), ("frac", 2.5),
           ("max", 1.7976931348623157e308), ("denorm", 5e-324), ("neg", -42.125),
           ("third", 1 / 3)]
HOSTILE = ['q"uote', "back\\slash", "new\nline", "tab\there", "é", "😀", "a,b", "}", "a=b",
           "trailing\\"]


def dataset(now):
    """[(labels, samples)]: the series both servers get."""
    out = []
    steps = [now - 120000 + i * 20000 for i in range(6)]  # now-2m .. now-20s

    def add(name, labels, last, times=steps):
        pairs = sorted([("__name__", name)] + list(labels.items()))
        samples = [(t, float(i)) for i, t in enumerate(times[:-1])] + [(times[-1], last)]
        out.append((pairs, samples))

    for case, v in SPECIAL:
        add("fed_gauge", {"case": case, "job": "test"}, v)
    for i, v in enumerate(HOSTILE):
        add("fed_labels", {"v": v, "i": str(i)}, float(i))
    add("fed_inst", {"instance": "host:9100", "job": "a"}, 1.5)
    add("fed_inst", {"job": "b"}, 2.5)
    add("fed_inst", {"instance": "z", "zone": "b"}, 3.5)
    # A stale marker last: left out. A stale marker then a sample: the sample.
    add("fed_stale", {"s": "1"}, STALE)
    out.append(([("__name__", "fed_stale"), ("s", "2")],
                [(steps[0], 1.0), (steps[2], STALE), (steps[4], 7.0)]))
    # Newest sample before the lookback: left out; just inside it: written.
    out.append(([("__name__", "fed_old")], [(now - 9 * 60000, 1.0), (now - 8 * 60000, 2.0)]))
    out.append(([("__name__", "fed_edge")], [(now - 8 * 60000, 1.0), (now - 150000, 2.0)]))
    # Names whose byte order matters.
    for name in ("Fed_Upper", "fed:rule:rate5m", "fed_a", "fed_a_b", "fed_aa", "fed__x",
                 "fed_a:b"):
        add(name, {"job": "names"}, 4.0)
    # Enough series for many produce steps.
    for f in range(30):
        for i in range(100):
            add(f"fed_many_{f:02d}", {"pod": f"pod-{i:03d}", "ns": f"ns-{i % 7}"}, f * 1000.0 + i)
    # Label names that sort before __name__: held and merged into their families.
    add("fed_held", {"Zone": "a"}, 1.0)
    add("fed_held", {"Zone": "b", "job": "x"}, 2.0)
    add("fed_held", {"job": "c"}, 3.0)
    add("fed_held", {"__aa": "1"}, 4.0)
    add("fed_held2", {"AZ": "x"}, 5.0)
    add("fed_held_z", {"job": "z"}, 6.0)
    return out


def push(base, series, name):
    body = rwlib.snappy(rwlib.write_request(series))
    harness.push(base, [body], name)


def federate(base, params):
    return harness.request(base, "/federate", params, with_type=True)


# Each compared byte for byte. Selectors that take the held series (a label name before
# __name__) match fewer than 13 series: Prometheus sorts its vector by name with Go's
# sort.Sort, which keeps the order of up to 12 (insertion sort) and may permute equal
# names beyond; kmon keeps label order within a family.
EXACT = [
    [("match[]", '{__name__=~"fed_.+|Fed_.+", __name__!~"fed_held.*"}')],
    [("match[]", '{__name__=~"fed_held.*"}')],
    [("match[]", "fed_gauge"), ("match[]", '{case="nan"}'),
     ("match[]", '{__name__=~"fed_many_0[0-2]"}'), ("match[]", '{ns="ns-1"}')],
    [("match[]", '{__name__=~"fed_labels|fed_inst"}')],
    [("match[]", '{foo="", __name__=~"fed_(gauge|inst|stale)"}')],
    [("match[]", '{job="names"}'), ("match[]", '{job="names"}')],
    [("match[]", "fed_stale"), ("match[]", "fed_old"), ("match[]", "fed_edge")],
    [("match[]", "fed_old")],
    [("match[]", "fed_never_sent")],
    [("match[]", "fed_held"), ("match[]", '{Zone=~"a|b"}')],
    [],
    [("match[]", "{}")],
    [("match[]", "fed_gauge{")],
    [("match[]", 'fed_gauge{case="zero"}'), ("match[]", "sum(fed_gauge)")],
    [("match[]", '{__name__=~"("}')],
]


@needs_prometheus
def test_federate_matches_prometheus(server_factory, tmp_path):
    _, kbase, _ = server_factory("--query-lookback-delta", "5m")
    prom = harness.Prometheus(str(tmp_path))
    try:
        series = dataset(int(time.time() * 1000))
        push(prom.base, series, "Prometheus")
        push(kbase, series, "kmon")
        for params in EXACT:
            ref, got = federate(prom.base, params), federate(kbase, params)
            assert ref[0] == got[0] and ref[2] == got[2], (params, ref, got[:1] + got[2:])
            if ref[1] != got[1]:
                rl, gl = ref[1].decode().split("\n"), got[1].decode().split("\n")
                first = next((i for i, (a, b) in enumerate(zip(rl, gl)) if a != b),
                             min(len(rl), len(gl)))
                raise AssertionError(
                    f"{params}: line {first + 1} differs\n  Prometheus: "
                    f"{rl[first] if first < len(rl) else None!r}\n  kmon:       "
                    f"{gl[first] if first < len(gl) else None!r}")
            if ref[0] == 200 and ref[1]:
                # The same lints from promtool, and never a parse error.
                pr = subprocess.run([PROMTOOL, "check", "metrics"], input=ref[1],
                                    capture_output=True)
                kr = subprocess.run([PROMTOOL, "check", "metrics"], input=got[1],
                                    capture_output=True)
                assert kr.returncode in (0, 3), kr
                assert (kr.returncode, kr.stdout, kr.stderr) == \
                    (pr.returncode, pr.stdout, pr.stderr)
                parse_exposition(got[1].decode())
        # The large selector answered non-trivially, special values included.
        big = federate(kbase, EXACT[0])[1].decode()
        assert big.count("\n") > 3000
        assert 'fed_gauge{case="negzero",job="test",instance=""} 0 ' in big
        assert 'fed_gauge{case="million",job="test",instance=""} 1e+06 ' in big
        assert "fed_stale{" in big and 'fed_stale{s="1"' not in big
        assert "fed_old" not in big and "fed_edge{" in big
        # Every series (held ones among many): the same lines, and families kept whole.
        every = [("match[]", '{__name__=~".+"}')]
        ref, got = federate(prom.base, every), federate(kbase, every)
        assert sorted(ref[1].split(b"\n")) == sorted(got[1].split(b"\n"))
        parse_exposition(got[1].decode())
    finally:
        prom.stop()


def test_federate_streams_and_lets_go(server_factory):
    _, base, _ = server_factory()
    now = int(time.time() * 1000)
    n = 20000
    series = [([("__name__", "bulk"), ("i", f"{i:06d}"), ("pad", "x" * 40)], [(now - 30000, i)])
              for i in range(n)]
    status, _, body = http_request(base + "/api/v1/write", "POST",
                                   rwlib.snappy(rwlib.write_request(series)), rwlib.HEADERS)
    assert status == 204, body
    url = base + "/federate?" + urllib.parse.urlencode([("match[]", "bulk")])
    status, headers, text = http_get(url, timeout=60)
    assert status == 200
    assert headers.get("Transfer-Encoding") == "chunked"
    lines = text.split("\n")
    assert lines[0] == "# TYPE bulk untyped" and lines[-1] == ""
    assert len(lines) == n + 2
    assert lines[1] == f'bulk{{i="000000",pad="{"x" * 40}",instance=""}} 0 {now - 30000}'
    assert lines[-2].startswith('bulk{i="019999",')

    # A client that reads a little and leaves: the stream ends, the server goes on.
    host, port = base[len("http://"):].split(":")
    for _ in range(3):
        s = socket.create_connection((host, int(port)))
        s.sendall(f"GET /federate?match[]=bulk HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        s.close()
    deadline = time.monotonic() + 30
    while scrape(base).get(("kmon_http_streams", ())) != 0:
        assert time.monotonic() < deadline, "a stream stayed open after its client left"
        time.sleep(0.1)
    assert http_get(url, timeout=60)[2] == text
