#!/usr/bin/env python3
"""Ask a real Prometheus (2.42, Debian's) how it parses PromQL, and compare kmon with it.

Queries are JSON lines {"q": "<query>"} (other keys are ignored). Prometheus' answer for
each is what /api/v1/format_query says: {"q", "ok": true, "out": "<formatted>"} or
{"q", "ok": false, "out": "<line>:<col>: parse error: ..."} (its 'invalid parameter
"query": ' prefix removed).

    promql_oracle.py ask URL < queries.jsonl > answers.jsonl
    promql_oracle.py compare URL PROMQL_FMT < queries.jsonl   # mismatches, exit 1 if any
    promql_oracle.py start PORT        # a Prometheus on 127.0.0.1:PORT (pid on stdout)

PROMQL_FMT is build/tests/tools/promql_fmt. The unit test's golden cases
(tests/unit/data/promql_parse.jsonl) are `ask` answers.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

PREFIX = 'invalid parameter "query": '


def ask(base, q):
    data = urllib.parse.urlencode({"query": q}).encode()
    try:
        r = urllib.request.urlopen(base + "/api/v1/format_query", data)
    except urllib.error.HTTPError as e:
        r = e
    j = json.load(r)
    if j["status"] == "success":
        return True, j["data"]
    err = j["error"]
    return False, err[len(PREFIX):] if err.startswith(PREFIX) else err


def read_queries():
    out = []
    for line in sys.stdin:
        line = line.strip()
        if line:
            out.append(json.loads(line)["q"])
    return out


def start(port):
    d = tempfile.mkdtemp(prefix="kmon-promql-oracle-")
    cfg = os.path.join(d, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global: {}\n")
    p = subprocess.Popen(["prometheus", "--storage.tsdb.path=" + os.path.join(d, "data"),
                          "--web.listen-address=127.0.0.1:%d" % port, "--config.file=" + cfg],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    for _ in range(100):
        try:
            ask("http://127.0.0.1:%d" % port, "1")
            break
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    print(p.pid)


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "start":
        start(int(sys.argv[2]))
        return 0
    if len(sys.argv) >= 3 and sys.argv[1] == "ask":
        for q in read_queries():
            ok, out = ask(sys.argv[2], q)
            print(json.dumps({"q": q, "ok": ok, "out": out}))
        return 0
    if len(sys.argv) >= 4 and sys.argv[1] == "compare":
        qs = read_queries()
        mine = subprocess.run([sys.argv[3]], input="".join(json.dumps({"q": q}) + "\n" for q in qs),
                              capture_output=True, text=True, check=True).stdout.splitlines()
        bad = 0
        for q, m in zip(qs, mine):
            m = json.loads(m)
            ok, out = ask(sys.argv[2], q)
            if (ok, out) != (m["ok"], m["out"]):
                bad += 1
                print(json.dumps({"q": q, "prometheus": [ok, out], "kmon": [m["ok"], m["out"]]}))
        print("%d of %d differ" % (bad, len(qs)), file=sys.stderr)
        return 1 if bad else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
