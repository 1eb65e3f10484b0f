"""`kmon server` ingest over HTTP: POST /api/v1/write (Prometheus remote_write 1.0,
protobuf WriteRequest in snappy block format) on a real server on loopback. Valid writes
answer 204 and are stored once (a repeat counts as duplicates); malformed bodies,
invalid label sets, wrong headers and oversized bodies get their exact 4xx with a JSON
error, the rate and series limits answer 429 with Retry-After, a refused request stores
nothing (not even its good series), and slow clients neither block others nor keep
their connection forever. Stored data is checked through the server's own /metrics."""
import json
import random
import re
import socket
import time

import pytest

from conftest import SANITIZED, http_request, scrape, value
from rwlib import HEADERS, series_of, snappy, varint, write_request

SLOW = 3 if SANITIZED else 1
PROMPT = 2.0 * SLOW  # seconds a request on a healthy server may take

# The counters and gauges that change when anything is stored.
STATE = [
    ("kmon_ingest_samples_total", {"outcome": "stored"}),
    ("kmon_ingest_samples_total", {"outcome": "duplicate"}),
    ("kmon_ingest_samples_total", {"outcome": "too_old"}),
    ("kmon_ingest_samples_total", {"outcome": "conflicting"}),
    ("kmon_ingest_samples_received_total", {"protocol": "remote_write"}),
    ("kmon_ingest_series_created_total", {}),
    ("kmon_tsdb_head_series", {}),
    ("kmon_tsdb_head_samples", {}),
    ("kmon_tsdb_samples_appended_total", {}),
    ("kmon_tsdb_samples_duplicate_total", {}),
    ("kmon_tsdb_series_created_total", {}),
]


def now_ms():
    return int(time.time() * 1000)


def state(base):
    s = scrape(base)
    return {(n, tuple(sorted(l.items()))): value(s, n, **l) for n, l in STATE}


def metric(base, name, **labels):
    return value(scrape(base), name, **labels)


def hdr(headers, name):
    for k, v in headers.items():
        if k.lower() == name.lower():
            return v
    return None


def post(base, body, headers=None, timeout=30 * SLOW):
    """POST raw bytes (already snappy-compressed, or deliberately not) to the endpoint."""
    return http_request(base + "/api/v1/write", "POST", body,
                        HEADERS if headers is None else headers, timeout=timeout)


def write(base, series):
    return post(base, snappy(write_request(series)))


def error_message(status, headers, body):
    """The message of a JSON error answer {"error": "..."}; fails on any other shape."""
    ctype = hdr(headers, "Content-Type") or ""
    assert ctype.startswith("application/json"), (status, headers, body)
    doc = json.loads(body)
    assert isinstance(doc, dict) and list(doc) == ["error"], doc
    msg = doc["error"]
    assert isinstance(msg, str) and len(msg) >= 10 and " " in msg, doc
    return msg


def assert_words(msg, *words):
    low = msg.lower()
    for w in words:
        assert w.lower() in low, f"{w!r} not in error message {msg!r}"


def baseline(base, n=3, name="kmon_test_baseline"):
    """Store n series with one sample each; return the state after."""
    t = now_ms() - 60000
    series = [series_of(name, t, float(i), instance=f"i{i}") for i in range(n)]
    st = write(base, series)
    assert st[0] == 204, st
    after = state(base)
    assert after[("kmon_tsdb_head_series", ())] == n
    return after


def assert_still_serving(proc, base, before=None):
    """The process lives, /healthz answers, stored data equals `before`, and a new valid
    write is accepted and stored."""
    assert proc.p.poll() is None, f"kmon server died:\n{proc.log()}"
    st, _, body = http_request(base + "/healthz", timeout=PROMPT * 5)
    assert st == 200 and body == b"ok\n"
    if before is not None:
        assert state(base) == before
    s0 = metric(base, "kmon_ingest_samples_total", outcome="stored")
    h0 = metric(base, "kmon_tsdb_head_series")
    st = write(base, [series_of("kmon_test_after", now_ms(), 1.0, n=str(time.monotonic_ns()))])
    assert st[0] == 204, st
    assert metric(base, "kmon_ingest_samples_total", outcome="stored") == s0 + 1
    assert metric(base, "kmon_tsdb_head_series") == h0 + 1


def refused(base, body, status, *words, headers=None):
    """Send a bad request to a server holding a baseline: exact status, a JSON error with
    the given words, nothing stored, the refusal counted; returns the message."""
    before = state(base)
    r0 = metric(base, "kmon_ingest_requests_refused_total", protocol="remote_write")
    st, h, b = post(base, body, headers)
    assert st == status, (st, b[:300])
    msg = error_message(st, h, b)
    assert_words(msg, *words)
    assert state(base) == before, "a refused request changed the stored data"
    assert metric(base, "kmon_ingest_requests_refused_total", protocol="remote_write") == r0 + 1
    return msg


def good_request(n=4, t=None):
    t = t or now_ms()
    return write_request([series_of("kmon_test_metric", t, float(i), pod=f"p{i}",
                                    namespace="default") for i in range(n)])


# ---- success -----------------------------------------------------------------------------


def test_valid_write_stored_then_repeat_counted_as_duplicate(server_factory):
    proc, base, _ = server_factory()
    t = now_ms() - 5000
    series = [(sorted([("__name__", "kmon_test_up"), ("job", "j"), ("instance", f"h{i}")]),
               [(t, 1.0), (t + 1000, 2.5)]) for i in range(3)]
    body = snappy(write_request(series))
    before = state(base)
    assert before[("kmon_tsdb_head_series", ())] == 0

    st, h, b = post(base, body)
    assert st == 204 and b == b"", (st, b)
    s1 = state(base)
    assert s1[("kmon_ingest_samples_total", (("outcome", "stored"),))] == 6
    assert s1[("kmon_ingest_samples_total", (("outcome", "duplicate"),))] == 0
    assert s1[("kmon_ingest_samples_received_total", (("protocol", "remote_write"),))] == 6
    assert s1[("kmon_tsdb_head_series", ())] == 3
    assert s1[("kmon_tsdb_head_samples", ())] == 6
    assert s1[("kmon_tsdb_samples_appended_total", ())] == 6
    assert s1[("kmon_tsdb_series_created_total", ())] == 3
    assert metric(base, "kmon_ingest_requests_refused_total", protocol="remote_write") == 0

    # The very same request again: accepted, nothing stored twice.
    st, h, b = post(base, body)
    assert st == 204, (st, b)
    s2 = state(base)
    assert s2[("kmon_ingest_samples_total", (("outcome", "stored"),))] == 6
    assert s2[("kmon_ingest_samples_total", (("outcome", "duplicate"),))] == 6
    assert s2[("kmon_tsdb_head_series", ())] == 3
    assert s2[("kmon_tsdb_head_samples", ())] == 6
    assert s2[("kmon_tsdb_samples_appended_total", ())] == 6
    assert s2[("kmon_tsdb_series_created_total", ())] == 3

    # New samples of the same series: stored, no new series.
    series2 = [(l, [(t + 2000, 3.0)]) for l, _ in series]
    assert write(base, series2)[0] == 204
    s3 = state(base)
    assert s3[("kmon_ingest_samples_total", (("outcome", "stored"),))] == 9
    assert s3[("kmon_tsdb_head_series", ())] == 3
    assert s3[("kmon_tsdb_head_samples", ())] == 9


def test_series_created_counter_counts_remote_write_series(server_factory):
    """kmon_ingest_series_created_total ("Series created by ingest.") counts the series a
    remote_write request creates, as kmon_tsdb_series_created_total does."""
    proc, base, _ = server_factory()
    t = now_ms()
    assert write(base, [series_of("kmon_test_new", t, 1.0, i=str(i)) for i in range(4)])[0] == 204
    assert metric(base, "kmon_tsdb_series_created_total") == 4
    assert metric(base, "kmon_ingest_series_created_total") == 4
    st = write(base, [series_of("kmon_test_new", t + 1, 1.0, i=str(i)) for i in range(5)])
    assert st[0] == 204, st
    assert metric(base, "kmon_tsdb_series_created_total") == 5
    assert metric(base, "kmon_ingest_series_created_total") == 5


def test_label_value_of_exactly_16kib_is_accepted(server_factory):
    proc, base, _ = server_factory()
    before = baseline(base)
    st = write(base, [series_of("kmon_test_big", now_ms(), 1.0, v="x" * 16384)])
    assert st[0] == 204, st
    after = state(base)
    assert after[("kmon_tsdb_head_series", ())] == before[("kmon_tsdb_head_series", ())] + 1


# ---- headers -----------------------------------------------------------------------------

WRONG_HEADERS = {
    "no-content-encoding": ({"Content-Type": "application/x-protobuf",
                             "X-Prometheus-Remote-Write-Version": "0.1.0"},
                            ("content-encoding", "snappy")),
    "gzip-encoding": (dict(HEADERS, **{"Content-Encoding": "gzip"}),
                      ("content-encoding", "snappy")),
    "text-content-type": (dict(HEADERS, **{"Content-Type": "text/plain"}),
                          ("content-type", "application/x-protobuf")),
    "json-content-type": (dict(HEADERS, **{"Content-Type": "application/json"}),
                          ("content-type", "application/x-protobuf")),
    "remote-write-2.0": (dict(HEADERS, **{"X-Prometheus-Remote-Write-Version": "2.0.0"}),
                         ("2.0", "not supported")),
}


@pytest.mark.parametrize("case", list(WRONG_HEADERS))
def test_wrong_headers_415(server_factory, case):
    proc, base, _ = server_factory()
    baseline(base)
    headers, words = WRONG_HEADERS[case]
    # A body that would be stored with the right headers.
    refused(base, snappy(good_request()), 415, *words, headers=headers)
    assert_still_serving(proc, base)


def test_empty_body_400(server_factory):
    proc, base, _ = server_factory()
    baseline(base)
    refused(base, b"", 400, "empty")
    assert_still_serving(proc, base)


# ---- malformed bodies --------------------------------------------------------------------


def snappy_claim(body):
    """The uncompressed length a snappy block claims (a varint32), or None."""
    v = 0
    for i, c in enumerate(body[:5]):
        if i == 4 and c >= 16:
            return None
        v |= (c & 0x7F) << (7 * i)
        if not c & 0x80:
            return v
    return None


@pytest.mark.parametrize("seed,size", [(1, 3), (2, 17), (3, 200), (4, 4096), (5, 65536)])
def test_random_bytes_body(server_factory, seed, size):
    proc, base, _ = server_factory("--max-decoded-bytes", "1MiB")
    baseline(base)
    rnd = random.Random(seed)
    body = bytes(rnd.getrandbits(8) for _ in range(size))
    claim = snappy_claim(body)
    if claim is not None and claim > 1 << 20:
        refused(base, body, 413, "expands")
    else:
        refused(base, body, 400, "snappy")
    assert_still_serving(proc, base)


@pytest.mark.parametrize("seed,size", [(11, 1), (12, 40), (13, 300), (14, 5000), (15, 70000)])
def test_valid_snappy_of_random_bytes_400(server_factory, seed, size):
    proc, base, _ = server_factory()
    baseline(base)
    rnd = random.Random(seed)
    data = bytes(rnd.getrandbits(8) for _ in range(size))
    if size == 1:
        data = b"\x0b"  # field 1, wire type 3 (a group): never valid
    refused(base, snappy(data), 400, "")
    assert_still_serving(proc, base)


def top_level_boundaries(wr):
    """Offsets in a WriteRequest where a top-level field starts or the message ends."""
    out, pos = {0, len(wr)}, 0
    while pos < len(wr):
        pos += 1  # one-byte tag (field 1, LEN)
        n, shift = 0, 0
        while True:
            c = wr[pos]
            pos += 1
            n |= (c & 0x7F) << shift
            shift += 7
            if not c & 0x80:
                break
        pos += n
        out.add(pos)
    return out


def test_truncated_bodies_400(server_factory):
    proc, base, _ = server_factory()
    before = baseline(base)
    wr = good_request(n=20, t=now_ms())
    assert len(wr) > 200
    full = snappy(wr)
    # Snappy level: the compressed body cut short (inside the length varint, just after
    # it, in the middle, one byte short).
    assert full[0] & 0x80  # a two-byte length varint, so cutting at 1 is inside it
    for cut in (1, 2, 3, len(full) // 3, len(full) // 2, len(full) - 1):
        msg = refused(base, full[:cut], 400, "snappy")
        assert "snappy" in msg
    # Protobuf level: the WriteRequest cut inside a field, then compressed properly.
    bounds = top_level_boundaries(wr)
    cuts = [c for c in (1, 2, 3, 5, 8, len(wr) // 2, len(wr) - 9, len(wr) - 1)
            if c not in bounds]
    assert len(cuts) >= 6
    for cut in cuts:
        refused(base, snappy(wr[:cut]), 400, "WriteRequest")
    assert state(base) == before
    assert_still_serving(proc, base, before)
    # The untruncated request is fine.
    assert post(base, full)[0] == 204


# ---- invalid series ----------------------------------------------------------------------

BAD_SERIES = {
    "label-name-digit-first": ([("1abc", "x"), ("__name__", "m")], ("invalid label name", "1abc")),
    "label-name-dash": ([("__name__", "m"), ("a-b", "x")], ("invalid label name", "a-b")),
    "label-name-empty": ([("", "x"), ("__name__", "m")], ("invalid label name",)),
    "unsorted": ([("__name__", "m"), ("b", "1"), ("a", "2")], ("sorted",)),
    "duplicate": ([("__name__", "m"), ("a", "1"), ("a", "2")], ("duplicate", "\"a\"")),
    "duplicate-same-value": ([("__name__", "m"), ("a", "1"), ("a", "1")], ("duplicate",)),
    "empty-metric-name": ([("__name__", ""), ("job", "x")], ("empty metric name",)),
    "missing-metric-name": ([("instance", "h"), ("job", "x")], ("metric name", "__name__")),
    "no-labels": ([], ("no labels",)),
    "value-over-16kib": ([("__name__", "m"), ("v", "x" * 16385)],
                         ("16385", "at most 16384", "\"v\"")),
    "value-1mib": ([("__name__", "m"), ("v", "y" * (1 << 20))], ("bytes long", "at most")),
    "nul-in-value": ([("__name__", "m"), ("v", "a\x00b")], ("nul",)),
    "nul-in-metric-name": ([("__name__", "m\x00n")], ("nul",)),
    "invalid-utf8": ([("__name__", "m"), ("v", b"ok\xff\xfe")], ("utf-8",)),
    "truncated-utf8": ([("__name__", "m"), ("v", b"caf\xc3")], ("utf-8",)),
    "overlong-utf8": ([("__name__", "m"), ("v", b"\xc0\xaf")], ("utf-8",)),
    "surrogate-utf8": ([("__name__", "m"), ("v", b"\xed\xa0\x80")], ("utf-8",)),
}


@pytest.mark.parametrize("case", list(BAD_SERIES))
def test_invalid_series_400(server_factory, case):
    proc, base, _ = server_factory()
    before = baseline(base)
    labels, words = BAD_SERIES[case]
    body = snappy(write_request([(labels, [(now_ms(), 1.0)])]))
    refused(base, body, 400, *words)
    assert_still_serving(proc, base, before)


def test_ten_thousand_labels_400(server_factory):
    proc, base, _ = server_factory()
    before = baseline(base)
    labels = [("__name__", "m")] + [(f"l{i:05d}", "v") for i in range(10000)]
    body = snappy(write_request([(labels, [(now_ms(), 1.0)])]))
    refused(base, body, 400, "10001 labels", "at most")
    assert_still_serving(proc, base, before)


def test_bad_series_in_the_middle_stores_nothing(server_factory):
    proc, base, _ = server_factory()
    t = now_ms() - 10000
    # Two series already stored (so the series cache knows their label bytes).
    known = [series_of("kmon_test_known", t, 1.0, k=str(i)) for i in range(2)]
    assert write(base, known)[0] == 204
    before = state(base)
    good_new = [series_of("kmon_test_new", t + 1000, float(i), k=str(i)) for i in range(5)]
    known_again = [series_of("kmon_test_known", t + 1000, 2.0, k=str(i)) for i in range(2)]
    bad = ([("__name__", "kmon_test_new"), ("a-b", "x")], [(t + 1000, 9.0)])
    req = known_again[:1] + good_new[:3] + [bad] + good_new[3:] + known_again[1:]
    msg = refused(base, snappy(write_request(req)), 400, "invalid label name", "a-b")
    assert_words(msg, "time series 5")
    assert state(base) == before
    # Nothing of it was stored: sending the good part now stores every sample and
    # creates every new series.
    st = write(base, known_again + good_new)
    assert st[0] == 204, st
    after = state(base)
    assert (after[("kmon_ingest_samples_total", (("outcome", "stored"),))]
            == before[("kmon_ingest_samples_total", (("outcome", "stored"),))] + 7)
    assert after[("kmon_ingest_samples_total", (("outcome", "duplicate"),))] == 0
    assert after[("kmon_tsdb_head_series", ())] == 7
    assert after[("kmon_tsdb_series_created_total", ())] == 7


# ---- size limits -------------------------------------------------------------------------


def raw_exchange(port, head, body_parts, timeout=10 * SLOW):
    """Send a request head and body parts on a raw socket (tolerating the server closing
    early) and return (status, headers, body) of the answer, or None if the connection
    closed without one."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(head)
        for p in body_parts:
            try:
                s.sendall(p)
            except (BrokenPipeError, ConnectionResetError):
                break
        data = b""
        try:
            while True:
                m = re.match(rb"HTTP/1\.[01] (\d{3})[^\r]*\r\n(.*?)\r\n\r\n", data, re.S)
                if m:
                    headers = dict(line.split(": ", 1) for line in
                                   m.group(2).decode().split("\r\n") if ": " in line)
                    n = int(hdr(headers, "Content-Length") or 0)
                    if len(data) >= m.end() + n:
                        return int(m.group(1)), headers, data[m.end():m.end() + n]
                c = s.recv(65536)
                if not c:
                    break
                data += c
        except ConnectionResetError:
            pass
        return None
    finally:
        s.close()


def test_body_over_max_request_bytes_413(server_factory):
    proc, base, _ = server_factory("--max-request-bytes", "64KiB")
    port = int(base.rsplit(":", 1)[1])
    before = baseline(base)
    # A valid request of ~100 KiB (one series with many samples).
    t = now_ms() - 3600000
    wr = write_request([([("__name__", "kmon_test_many")],
                         [(t + i, float(i)) for i in range(5000)])])
    body = snappy(wr)
    assert 65536 < len(body) < 200000

    # With a Content-Length.
    r = None
    for _ in range(3):  # the early answer may race with the rest of the upload
        r = raw_exchange(port, (b"POST /api/v1/write HTTP/1.1\r\nHost: x\r\n"
                                b"Content-Type: application/x-protobuf\r\n"
                                b"Content-Encoding: snappy\r\n"
                                b"X-Prometheus-Remote-Write-Version: 0.1.0\r\n"
                                b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)),
                         [body])
        if r:
            break
    assert r is not None, "no answer to an over-size body with Content-Length"
    assert r[0] == 413, r
    assert_words(error_message(*r), "larger than", "65536")
    assert state(base) == before

    # Chunked: no length announced, the cap is found while reading.
    chunks = [b"%x\r\n%s\r\n" % (len(body[i:i + 8192]), body[i:i + 8192])
              for i in range(0, len(body), 8192)] + [b"0\r\n\r\n"]
    r = raw_exchange(port, (b"POST /api/v1/write HTTP/1.1\r\nHost: x\r\n"
                            b"Content-Type: application/x-protobuf\r\n"
                            b"Content-Encoding: snappy\r\n"
                            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"), chunks)
    assert r is not None, "no answer to an over-size chunked body"
    assert r[0] == 413, r
    assert_words(error_message(*r), "larger than")
    assert state(base) == before

    # Under the cap, chunked, the same way: accepted.
    small = snappy(write_request([series_of("kmon_test_chunked", now_ms(), 1.0)]))
    r = raw_exchange(port, (b"POST /api/v1/write HTTP/1.1\r\nHost: x\r\n"
                            b"Content-Type: application/x-protobuf\r\n"
                            b"Content-Encoding: snappy\r\n"
                            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"),
                     [b"%x\r\n%s\r\n0\r\n\r\n" % (len(small), small)])
    assert r is not None and r[0] == 204, r
    assert metric(base, "kmon_tsdb_head_series") == before[("kmon_tsdb_head_series", ())] + 1
    assert_still_serving(proc, base)


def test_body_expanding_past_max_decoded_bytes_413(server_factory):
    proc, base, _ = server_factory("--max-decoded-bytes", "64KiB")
    before = baseline(base)
    # A body that only claims to expand to 10 MiB.
    claim = varint(10 << 20) + bytes([(4 - 1) << 2]) + b"abcd"
    refused(base, claim, 413, "expands", "65536")
    # A claim of 4 GiB - 1 (the largest varint32).
    refused(base, varint((1 << 32) - 1) + b"\x00", 413, "expands")
    # A real, valid WriteRequest of ~100 KiB decoded.
    t = now_ms() - 3600000
    wr = write_request([([("__name__", "kmon_test_many")],
                         [(t + i, float(i)) for i in range(5000)])])
    assert len(wr) > 65536
    refused(base, snappy(wr), 413, "expands")
    assert_still_serving(proc, base, before)


# ---- rate and series limits --------------------------------------------------------------


def test_rate_limit_429_with_retry_after(server_factory):
    proc, base, _ = server_factory("--max-samples-per-second", "10")
    t = now_ms() - 60000
    limited = None
    for i in range(20):
        req = [(sorted([("__name__", "kmon_test_rate"), ("r", str(i))]),
                [(t + k, float(k)) for k in range(15)])]
        before = state(base)
        st, h, b = write(base, req)
        if st == 429:
            limited = (req, before, h, b)
            break
        assert st == 204, (st, b)
    assert limited, "20 requests of 15 samples at 10 samples/s were never limited"
    req, before, h, b = limited
    assert i <= 3, f"limited only at request {i + 1}"
    ra = hdr(h, "Retry-After")
    assert ra is not None and re.fullmatch(r"[0-9]+", ra) and int(ra) >= 1, h
    assert int(ra) <= 10, ra
    assert_words(error_message(429, h, b), "rate")
    assert state(base) == before, "samples of a request answered 429 were stored"
    assert metric(base, "kmon_ingest_requests_limited_total") >= 1
    # After the wait the server asked for, the same request goes through.
    time.sleep(int(ra) + 0.2)
    st = write(base, req)
    assert st[0] == 204, st
    after = state(base)
    assert (after[("kmon_ingest_samples_total", (("outcome", "stored"),))]
            == before[("kmon_ingest_samples_total", (("outcome", "stored"),))] + 15)
    assert after[("kmon_tsdb_head_series", ())] == before[("kmon_tsdb_head_series", ())] + 1


def test_series_limit_429_existing_series_still_accepted(server_factory):
    proc, base, _ = server_factory("--max-series", "5")
    t = now_ms() - 60000
    existing = [series_of("kmon_test_lim", t, 1.0, s=str(i)) for i in range(3)]
    assert write(base, existing)[0] == 204
    before = state(base)
    assert before[("kmon_tsdb_head_series", ())] == 3

    # Three new series would make 6 > 5: all refused, the request stores nothing, not
    # even the sample of the existing series it carries.
    req = ([series_of("kmon_test_lim", t + 1000, 2.0, s="0")] +
           [series_of("kmon_test_lim", t + 1000, 2.0, s=f"new{i}") for i in range(3)])
    st, h, b = write(base, req)
    assert st == 429, (st, b)
    ra = hdr(h, "Retry-After")
    assert ra is not None and re.fullmatch(r"[0-9]+", ra) and int(ra) >= 1, h
    assert_words(error_message(st, h, b), "series", "limit")
    assert state(base) == before

    # Existing series keep accepting samples.
    st = write(base, [series_of("kmon_test_lim", t + 2000, 3.0, s=str(i)) for i in range(3)])
    assert st[0] == 204, st
    mid = state(base)
    assert mid[("kmon_tsdb_head_series", ())] == 3
    assert (mid[("kmon_ingest_samples_total", (("outcome", "stored"),))]
            == before[("kmon_ingest_samples_total", (("outcome", "stored"),))] + 3)

    # Two new series fit exactly; one more does not.
    st = write(base, [series_of("kmon_test_lim", t, 1.0, s=f"fit{i}") for i in range(2)])
    assert st[0] == 204, st
    assert metric(base, "kmon_tsdb_head_series") == 5
    full = state(base)
    st, h, b = write(base, [series_of("kmon_test_lim", t, 1.0, s="one-too-many")])
    assert st == 429, (st, b)
    assert state(base) == full
    st = write(base, [series_of("kmon_test_lim", t + 3000, 4.0, s="fit1")])
    assert st[0] == 204, st
    assert metric(base, "kmon_tsdb_head_series") == 5


# ---- everything at one server ------------------------------------------------------------


def test_gauntlet_server_stays_up_and_data_unchanged(server_factory):
    """Every kind of bad input in turn at one server: each gets its status, and then the
    server still answers /healthz, holds exactly what it held and accepts a valid write."""
    proc, base, _ = server_factory("--max-decoded-bytes", "4MiB")
    before = baseline(base, n=5)
    bodies = [(b"", 400), (b"\x05\x01", 400), (b"\xff" * 64, 400), (snappy(b"\xff" * 64), 400),
              (snappy(good_request())[:-3], 400), (snappy(good_request()[:-3]), 400),
              (varint(1 << 30), 413)]
    for labels, _ in BAD_SERIES.values():
        bodies.append((snappy(write_request([(labels, [(now_ms(), 1.0)])])), 400))
    many = [("__name__", "m")] + [(f"l{i:05d}", "v") for i in range(10000)]
    bodies.append((snappy(write_request([(many, [(now_ms(), 1.0)])])), 400))
    for body, status in bodies:
        st, h, b = post(base, body)
        assert st == status, (st, b[:200], body[:40])
        error_message(st, h, b)
    for headers, _ in WRONG_HEADERS.values():
        st, h, b = post(base, snappy(good_request()), headers)
        assert st == 415, (st, b)
    # Garbage that is not HTTP at all: an error answer or a closed connection.
    s = socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), timeout=5 * SLOW)
    s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64 + b"\r\n\r\n")
    try:
        got = s.recv(4096)
        assert got == b"" or got.startswith(b"HTTP/1.1 4"), got[:100]
    except ConnectionResetError:
        pass
    s.close()
    assert_still_serving(proc, base, before)


# ---- slow clients ------------------------------------------------------------------------


def test_slow_loris_does_not_block_others_and_is_closed(server_factory):
    """Three slow clients on a server with one HTTP thread: one sends half its headers
    and goes quiet; one trickles its headers a byte every 1-2 s; one sends complete
    headers and trickles its body the same way. Other clients are answered promptly all
    along, and the server closes every slow connection (the idle timeout is 30 s; a
    trickling client must not be allowed to hold its connection past it either)."""
    proc, base, _ = server_factory("--http-threads", "1")
    port = int(base.rsplit(":", 1)[1])
    before = baseline(base)
    limit = 30 + 8 * SLOW  # seconds

    def conn(first):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(first)
        s.setblocking(False)
        return s

    slow = {
        "idle": conn(b"POST /api/v1/write HTTP/1.1\r\nHost: x\r\nContent-Le"),
        "trickle-headers": conn(b"POST /api/v1/write HTTP/1.1\r\n"),
        "trickle-body": conn(b"POST /api/v1/write HTTP/1.1\r\nHost: x\r\n"
                             b"Content-Type: application/x-protobuf\r\n"
                             b"Content-Encoding: snappy\r\nContent-Length: 100000\r\n\r\n"),
    }
    header_bytes = b"X-Slow: " + b"a" * 1000
    closed, answers = {}, {}
    t0 = time.monotonic()
    i = 0
    while time.monotonic() - t0 < limit and len(closed) < len(slow):
        for name, s in slow.items():
            if name in closed:
                continue
            try:
                got = s.recv(4096)
                if got == b"":
                    closed[name] = time.monotonic() - t0
                else:
                    answers[name] = answers.get(name, b"") + got
            except BlockingIOError:
                pass
            except OSError:
                closed[name] = time.monotonic() - t0
            if name in closed:
                continue
            try:
                if name == "trickle-headers":
                    s.send(header_bytes[i:i + 1])
                elif name == "trickle-body":
                    s.send(b"\x00")
            except OSError:
                closed[name] = time.monotonic() - t0
        # Another client on a fresh connection is answered promptly.
        if i % 3 == 0:
            t1 = time.monotonic()
            st = write(base, [series_of("kmon_test_other", now_ms(), float(i))])
            took = time.monotonic() - t1
            assert st[0] == 204, st
            assert took < PROMPT, f"a normal write took {took:.1f}s next to slow clients"
            t1 = time.monotonic()
            assert http_request(base + "/healthz", timeout=PROMPT * 5)[0] == 200
            assert time.monotonic() - t1 < PROMPT
        i += 1
        time.sleep(2.0 if i % 3 else 1.0)
    for s in slow.values():
        s.close()
    assert proc.p.poll() is None, proc.log()
    for name, got in answers.items():  # an answer, if any, is a 4xx
        assert re.match(rb"HTTP/1\.[01] 4\d\d ", got), (name, got[:200])
    assert "idle" in closed, f"an idle half-sent request was not closed within {limit}s"
    still_open = sorted(set(slow) - set(closed))
    assert not still_open, (f"slow connections still open after {limit}s: {still_open} "
                            f"(closed: {closed})")
    assert_still_serving(proc, base)
