#!/usr/bin/env python3
"""tmpl_oracle — what Prometheus (Debian's promtool) makes of alert templates.

Reads a JSON list of cases from the file named (or stdin): each a template string, or an
object {"t": template, "expr": PromQL}; the alert's expression defaults to
`up{job="node"}`, whose one series has instance="host:9090", job="node" and the value
1234567. Every case becomes an alerting rule with the template as its annotation `t`,
and `promtool test rules` evaluates them at time 0 against the series below; since each
test expects no alert, promtool prints what it got, and this script reads the expanded
annotation back from that. Prints a JSON list of {"t", "expr", "out"} to stdout.

It is how the expected strings in tests/unit/test_rules_template.c were obtained, from
the cases in tmpl_cases.json:
    python3 tests/tools/tmpl_oracle.py --c tests/tools/tmpl_cases.json
prints them as the rows of that test's table ({name, template, output, error}).
"""
import json
import os
import re
import subprocess
import sys
import tempfile

SERIES = [
    {"series": 'up{instance="host:9090",job="node"}', "values": "1234567 1234567"},
    {"series": 'node_load1{instance="b:9100",job="node"}', "values": "0.25 0.25"},
    {"series": 'node_load1{instance="a:9100",job="node"}', "values": "1.5 1.5"},
    {"series": 'node_load1{instance="c:9100",job="other"}', "values": "3 3"},
]


def go_unquote(s):
    """The text of a Go strconv.Quote'd string (the quotes included)."""
    assert s[0] == '"' and s[-1] == '"'
    out = bytearray()
    i, body = 0, s[1:-1]
    simple = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, '"': 34}
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        e = body[i + 1]
        if e in simple:
            out.append(simple[e])
            i += 2
        elif e == "x":
            out.append(int(body[i + 2:i + 4], 16))
            i += 4
        elif e == "u":
            out += chr(int(body[i + 2:i + 6], 16)).encode()
            i += 6
        elif e == "U":
            out += chr(int(body[i + 2:i + 10], 16)).encode()
            i += 10
        else:
            raise ValueError("unknown escape \\" + e)
    return out.decode("utf-8", "surrogateescape")


def c_string(s):
    """s as a C string literal (UTF-8 as it is; no hex escape a digit could extend)."""
    if s is None:
        return "NULL"
    out = []
    for b in s.encode("utf-8", "surrogateescape"):
        c = chr(b)
        if c == "\\" or c == '"':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif b < 0x20 or b == 0x7f:
            out.append("\\%03o" % b)
        elif c == "?" and out and out[-1] == "?":
            out.append("\\?")
        elif b >= 0x80:
            out.append(bytes([b]))
        else:
            out.append(c)
    data = b"".join(x if isinstance(x, bytes) else x.encode() for x in out)
    return '"' + data.decode("utf-8", "surrogateescape") + '"'


def print_c(cases):
    for i, c in enumerate(cases):
        if "parse_error" in c:
            out, err = None, c["parse_error"]
        elif c["out"].startswith("<error expanding template: "):
            out, err = None, c["out"][len("<error expanding template: "):-1]
        else:
            out, err = c["out"], None
        print("    { \"A%d\", %s,\n      %s,\n      %s }," % (i, c_string(c["t"]), c_string(out),
                                                         c_string(err)))


def main():
    as_c = len(sys.argv) > 1 and sys.argv[1] == "--c"
    if as_c:
        del sys.argv[1]
    src = open(sys.argv[1]) if len(sys.argv) > 1 else sys.stdin
    cases = [c if isinstance(c, dict) else {"t": c} for c in json.load(src)]
    for c in cases:
        c.setdefault("expr", 'up{job="node"}')
    # A template that does not parse fails the whole rule file: note its error (as the
    # rule loader gives it, under "parse_error") and run again without it.
    while True:
        todo = [(i, c) for i, c in enumerate(cases) if "parse_error" not in c]
        out = run(todo)
        bad = re.findall(r'rule \d+, "A(\d+)": annotation "t": (.*)', out)
        if not bad:
            break
        for i, msg in bad:
            cases[int(i)]["parse_error"] = msg
    got = {}
    name = None
    for line in out.splitlines():
        m = re.match(r"\s*alertname: (A\d+), time:", line)
        if m:
            name = m.group(1)
            continue
        m = re.match(r'\s*Annotations:\{t=(".*")\}$', line)
        if m and name and name not in got:
            got[name] = go_unquote(m.group(1))
    if todo and not got:
        sys.stderr.write(out)
        sys.exit(1)
    for i, c in enumerate(cases):
        if "parse_error" not in c:
            c["out"] = got.get("A%d" % i)
    if as_c:
        print_c(cases)
        return
    json.dump(cases, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


def run(todo):
    """promtool's output for the cases (index, case)."""
    rules, tests = [], []
    for i, c in todo:
        rules.append({"alert": "A%d" % i, "expr": c["expr"], "annotations": {"t": c["t"]}})
        tests.append({"eval_time": "0m", "alertname": "A%d" % i, "exp_alerts": []})
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "r.yml"), "w") as f:
            json.dump({"groups": [{"name": "g", "rules": rules}]}, f)
        with open(os.path.join(d, "t.yml"), "w") as f:
            json.dump({"rule_files": ["r.yml"], "evaluation_interval": "1m",
                       "tests": [{"interval": "1m", "input_series": SERIES,
                                  "alert_rule_test": tests}]}, f)
        p = subprocess.run(["promtool", "test", "rules", "t.yml"], cwd=d,
                           capture_output=True, text=True)
    return p.stdout + p.stderr

if __name__ == "__main__":
    main()
