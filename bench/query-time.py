#!/usr/bin/env python3
"""query-time — the server's own time to answer a page's API calls asked one after
another: the calls as `node bench/ui-bench.mjs --calls` lists them (one per line, after
their browser time; the number is ignored), asked PASSES times in order; each pass is
timed by the server's kmon_http_request_duration_seconds_sum (so neither the client nor
the network counts; one /metrics read per pass, ~0.2 ms, is included). Prints each pass
and the best.

    node bench/ui-bench.mjs --url URL --runs 3 --pages overview --calls > calls.txt
    bench/query-time.py --url URL calls.txt
"""
import argparse
import re
import urllib.parse
import urllib.request


def server_seconds(base):
    text = urllib.request.urlopen(base + "/metrics", timeout=30).read().decode()
    return sum(float(m.group(1)) for m in
               re.finditer(r"^kmon_http_request_duration_seconds_sum\{[^}]*\} (\S+)", text, re.M))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("calls", help="ui-bench --calls output (lines '   123  /api/v1/...')")
    a = ap.parse_args()
    calls = []
    with open(a.calls) as f:
        for line in f:
            m = re.match(r"^\s+\d+\s+(/\S.*)$", line.rstrip("\n"))
            if m:
                calls.append(m.group(1))
    best = None
    for p in range(a.passes):
        before = server_seconds(a.url)
        for c in calls:
            path, _, query = c.partition("?")
            args = urllib.parse.urlencode(urllib.parse.parse_qsl(query, keep_blank_values=True))
            urllib.request.urlopen(a.url + path + ("?" + args if args else ""), timeout=60).read()
        ms = (server_seconds(a.url) - before) * 1000
        best = ms if best is None else min(best, ms)
        print(f"pass {p}: {ms:.1f} ms of server time for {len(calls)} calls")
    print(f"best: {best:.1f} ms")


if __name__ == "__main__":
    main()
