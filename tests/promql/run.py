#!/usr/bin/python3
"""kmon's PromQL differential suite: the same dataset remote-written to a real Prometheus
(Debian's 2.42) and to a kmon server, then every entry of queries.txt asked of both
(/api/v1/query, /api/v1/query_range by GET and by form POST, /api/v1/format_query, the
metadata endpoints, /api/v1/metadata, /federate, promtool) and the answers compared
(compare.py).

  python3 tests/promql/run.py                 the whole suite (KMON_BIN, or build/kmon)
  python3 tests/promql/run.py -k rate -k '^\\[histograms'   entries matching any -k
                                              (a regex over "[section] query")
  python3 tests/promql/run.py --serve         start both, push, print their URLs, wait
  python3 tests/promql/run.py --prometheus URL --kmon URL --start MS   reuse servers
  python3 tests/promql/run.py --self-test     validate the suite itself: Prometheus
                                              against Prometheus (must pass) and against a
                                              perturbing fake (must fail where perturbed)
  python3 tests/promql/run.py --list          the entries that would run
  python3 tests/promql/run.py --kmon-storage clickhouse   kmon on ClickHouse (2 shards of
                                              Debian's clickhouse-server started here;
                                              also KMON_PROMQL_STORAGE=clickhouse)

Exit status: 0 all agree (allow-listed divergences aside), 1 a difference, 2 a harness
failure, 77 kmon answers /api/v1/query with 404 (no PromQL engine yet: ctest SKIPs) or,
with --kmon-storage clickhouse, clickhouse-server is missing.
"""
import argparse
import concurrent.futures
import os
import re
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import compare  # noqa: E402
import corpus  # noqa: E402
import dataset  # noqa: E402
import harness  # noqa: E402

sys.path.insert(0, os.path.join(HERE, "..", "runtime"))
import clickhouse_fixture  # noqa: E402

SKIP = 77
DEFAULT_KMON = os.path.join(HERE, "..", "..", "build", "kmon")


class Case:
    """One request asked of both servers."""

    def __init__(self, entry, check, label, path=None, params=None, method="GET", kind="query",
                 ordered=False, argv=None):
        self.entry, self.check, self.label = entry, check, label
        self.path, self.params, self.method = path, params, method
        self.kind, self.ordered, self.argv = kind, ordered, argv
        self.diff = None
        self.allowed = None
        self.ref_nonempty = False

    def describe(self):
        if self.argv is not None:
            return f"{self.label}: promtool {' '.join(self.argv)}"
        shown = " ".join(f"{k}={v}" for k, v in self.params if k != "query")
        return f"{self.label}: {self.method} {self.path} {shown}".rstrip()


def _time_params(S, params):
    out = []
    for k, v in params:
        if k in ("start", "end", "time"):
            v = corpus.abs_seconds(S, v)
        elif k == "step":
            v = corpus.step_param(v)
        elif v.startswith("="):
            v = v[1:]
        else:
            v = corpus.substitute(S, v)
        out.append((k, v))
    return out


def _meta_params(text):
    params = []
    for part in [p.strip() for p in text.split("&&") if p.strip()]:
        k, eq, v = part.partition("=")
        if not eq:
            raise SystemExit(f"bad parameter {part!r} (want NAME=VALUE)")
        params.append((k.strip(), v.strip()))
    return params


def expand(entry, S):
    """The cases of one corpus entry."""
    out = []
    o = entry.opts
    if entry.is_query:
        q = corpus.substitute(S, entry.text)
        m = o["methods"] or ("both" if entry.index % 4 == 0 else None)
        inst = ["GET", "POST"] if m == "both" else [m.upper()] if m else ["GET"]
        rng = ["GET", "POST"] if m == "both" else [m.upper()] if m else ["POST"]
        for t in o["instant"]:
            for meth in inst:
                out.append(Case(entry, "instant", f"instant t={t} {meth}", "/api/v1/query",
                                [("query", q), ("time", corpus.abs_seconds(S, t))], meth,
                                ordered=entry.ordered()))
        if o["range"]:
            a, b, step = o["range"]
            for meth in rng:
                out.append(Case(entry, "range", f"range {a}..{b}/{step} {meth}",
                                "/api/v1/query_range",
                                [("query", q), ("start", corpus.abs_seconds(S, a)),
                                 ("end", corpus.abs_seconds(S, b)),
                                 ("step", corpus.step_param(step))], meth))
        out.append(Case(entry, "format_query", "format_query", "/api/v1/format_query",
                        [("query", q)], "GET", kind="raw"))
        if o["promtool"]:
            for t in o["instant"][:1]:
                if not t.startswith("="):
                    out.append(Case(entry, "promtool", f"promtool instant t={t}",
                                    argv=["instant", f"--time={corpus.abs_seconds(S, t)}",
                                          "{URL}", q], ordered=entry.ordered()))
            if o["range"] and not any(x.startswith("=") for x in o["range"]):
                a, b, step = o["range"]
                out.append(Case(entry, "promtool", f"promtool range {a}..{b}/{step}",
                                argv=["range", f"--start={corpus.abs_seconds(S, a)}",
                                      f"--end={corpus.abs_seconds(S, b)}",
                                      f"--step={corpus.step_param(step)}s"
                                      if not corpus.step_param(step).endswith("s") else
                                      f"--step={corpus.step_param(step)}", "{URL}", q]))
        return out
    word, _, rest = entry.text[1:].partition(" ")
    rest = rest.strip()
    if word == "promtool":
        argv = [corpus.substitute(S, a) for a in _split_args(rest)]
        argv = [_promtool_times(S, a) for a in argv]
        return [Case(entry, "promtool", "promtool", argv=argv, ordered=False)]
    if word == "values":
        name, _, rest = rest.partition(" ")
        path = f"/api/v1/label/{name}/values"
        check, methods = "values", ["GET"]
    elif word == "labels":
        path, check, methods = "/api/v1/labels", "labels", ["GET", "POST"]
    elif word == "series":
        path, check, methods = "/api/v1/series", "series", ["GET", "POST"]
    elif word == "buildinfo":
        return [Case(entry, "buildinfo", "buildinfo", "/api/v1/status/buildinfo", [], "GET",
                     kind="buildinfo")]
    elif word == "metadata":
        # GET only: Prometheus 2.42 answers POST with 405.
        path, check, methods = "/api/v1/metadata", "metadata", ["GET"]
    elif word == "federate":
        params = _time_params(S, _meta_params(rest))
        return [Case(entry, "federate", "federate GET", "/federate", params, "GET", kind="text")]
    elif word in ("query", "query_range"):
        path, check = f"/api/v1/{word}", "instant" if word == "query" else "range"
        methods = ["GET", "POST"]
    else:
        raise SystemExit(f"queries.txt:{entry.lineno}: unknown request %{word}")
    params = _time_params(S, _meta_params(rest))
    kind = "query" if word.startswith("query") else "raw"
    return [Case(entry, check, f"{check} {meth}", path, params, meth, kind=kind)
            for meth in methods]


def _split_args(text):
    import shlex
    return shlex.split(text)


def _promtool_times(S, arg):
    m = re.match(r"(--(?:start|end|time))=(.*)$", arg)
    if m:
        return f"{m.group(1)}={corpus.abs_seconds(S, m.group(2))}"
    return arg


# ---- running -------------------------------------------------------------------------


def ask(base, case):
    if case.argv is not None:
        argv = [harness.PROMTOOL, "query", *[base if a == "{URL}" else a for a in case.argv]]
        if "{URL}" not in case.argv:
            # %promtool lines name the server last for series/labels: insert it.
            argv = _promtool_with_server(argv, base)
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            return (-1, "timeout", "")
        return (p.returncode, p.stdout, p.stderr)
    try:
        return harness.request(base, case.path, case.params, case.method,
                               with_type=case.kind == "text")
    except OSError as e:
        return (0, f"no answer: {e}".encode())


def _promtool_with_server(argv, base):
    # promtool query <cmd> [flags] <server> [<name>|<expr>]
    flags = [a for a in argv[3:] if a.startswith("--")]
    args = [a for a in argv[3:] if not a.startswith("--")]
    return argv[:3] + flags + [base] + args


def promtool_diff(ref, got, ordered):
    rc, rout, rerr = ref
    gc, gout, gerr = got
    if rc != gc:
        return f"promtool exit status: Prometheus {rc}, kmon {gc}\n    kmon: {gerr.strip()[:300]}"
    if rc != 0:
        if rerr != gerr:
            return f"promtool error:\n    Prometheus: {rerr.strip()}\n    kmon:       {gerr.strip()}"
        return None
    rl, gl = rout.splitlines(), gout.splitlines()
    if not ordered:
        rl, gl = sorted(rl), sorted(gl)
    if rl != gl:
        for i, (a, b) in enumerate(zip(rl, gl)):
            if a != b:
                return f"promtool output line {i + 1}:\n    Prometheus: {a}\n    kmon:       {b}"
        return f"promtool output: {len(rl)} lines from Prometheus, {len(gl)} from kmon"
    return None


def run_case(ref_base, got_base, case):
    ref = ask(ref_base, case)
    got = ask(got_base, case)
    if case.argv is not None:
        case.diff = promtool_diff(ref, got, case.ordered)
        case.ref_nonempty = ref[0] == 0 and ref[1].strip() != ""
        return case
    if ref[0] == 0:
        case.diff = f"Prometheus did not answer: {ref[1]!r}"
        return case
    if got[0] == 0:
        case.diff = f"kmon did not answer: {got[1].decode(errors='replace')}"
        return case
    case.diff = compare.diff(ref, got, case.kind, case.ordered)
    if case.diff is not None:
        again = ask(ref_base, case)
        if again[0] != 0 and compare.diff(ref, again, case.kind, case.ordered) is not None:
            case.diff += ("\n    (Prometheus answers this request differently when asked again: "
                          "the entry is not deterministic on Prometheus; change it)")
    if case.kind == "query":
        case.ref_nonempty = compare.non_empty(ref)
        if case.ref_nonempty and os.environ.get("KMON_PROMQL_CHECK_FORMATS"):
            bad = compare.check_formats(ref)
            if bad:
                case.diff = (case.diff or "") + f" [go_format self-check: {bad}]"
    return case


def run_all(ref_base, got_base, cases, jobs, progress=True):
    done = [0]
    lock = threading.Lock()
    t0 = time.monotonic()

    def one(c):
        r = run_case(ref_base, got_base, c)
        with lock:
            done[0] += 1
            if progress and sys.stderr.isatty() and done[0] % 50 == 0:
                sys.stderr.write(f"\r{done[0]}/{len(cases)} checks, {time.monotonic() - t0:.0f}s")
                sys.stderr.flush()
        return r

    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as ex:
        list(ex.map(one, cases))
    if progress and sys.stderr.isatty():
        sys.stderr.write("\r" + " " * 40 + "\r")
    return cases


def report(entries, cases, allow, out=sys.stdout, ref_name="Prometheus", got_name="kmon",
           verbose=False):
    """Print the differences and the summary; return the number of failed checks."""
    by_entry = {}
    for c in cases:
        by_entry.setdefault(c.entry.index, []).append(c)
    failed = skipped = passed = 0
    failed_entries = []
    skipped_lines = []
    for e in entries:
        cs = by_entry.get(e.index, [])
        bad = []
        for c in cs:
            if c.diff is None:
                passed += 1
                continue
            reason = allow.reason(c.check, e.text)
            if reason:
                c.allowed = reason
                skipped += 1
                skipped_lines.append(f"  {e.text}  [{c.check}] => {reason}")
                continue
            failed += 1
            bad.append(c)
        if bad:
            failed_entries.append(e)
            print(f"\nFAIL [{e.section}] {e.text}   (queries.txt:{e.lineno})", file=out)
            for c in bad[:4]:
                d = c.diff.replace("Prometheus", ref_name).replace("kmon", got_name) \
                    if (ref_name, got_name) != ("Prometheus", "kmon") else c.diff
                print(f"  {c.describe()}\n    {d}", file=out)
            if len(bad) > 4:
                print(f"  … and {len(bad) - 4} more checks of this entry", file=out)
    if skipped_lines:
        print(f"\nAllow-listed divergences ({os.path.basename(allow.path)}), "
              f"{len(skipped_lines)} checks:",
              file=out)
        for line in skipped_lines[:200]:
            print(line, file=out)
    unused = allow.unused()
    if unused and len(entries) == len(corpus_all_entries()):
        print("\nAllow-list entries that matched no failing check (remove them once fixed):",
              file=out)
        for c, e, r, ln in unused:
            print(f"  {os.path.basename(allow.path)}:{ln}: {e}", file=out)

    # Per section.
    sections = {}
    for e in entries:
        s = sections.setdefault(e.section, [0, 0, 0, 0])
        s[0] += 1
        cs = by_entry.get(e.index, [])
        s[1] += len(cs)
        s[2] += sum(1 for c in cs if c.diff is not None and not c.allowed)
        if any(c.ref_nonempty for c in cs):
            s[3] += 1
    print("\nsection                         entries  checks  failed  non-empty on "
          f"{ref_name}", file=out)
    for name, (n, nc, nf, ne) in sections.items():
        print(f"  {name:30s} {n:7d} {nc:7d} {nf:7d} {ne:7d}", file=out)
    queries = [e for e in entries if e.is_query]
    nonempty = sum(1 for e in queries if any(c.ref_nonempty for c in by_entry.get(e.index, [])
                                             if c.check in ("instant", "range")))
    print(f"\n{len(entries)} entries ({len(queries)} queries, "
          f"{nonempty} with a non-empty answer from {ref_name}), {len(cases)} checks; "
          f"{len(failed_entries)} entries differ", file=out)
    if verbose:
        empty = [e for e in queries if not e.opts["empty"] and
                 not any(c.ref_nonempty for c in by_entry.get(e.index, [])
                         if c.check in ("instant", "range"))]
        if empty:
            print(f"\nQueries empty on {ref_name} (not marked 'empty'): {len(empty)}", file=out)
            for e in empty:
                print(f"  queries.txt:{e.lineno}: {e.text}", file=out)
    print(f"{passed} passed, {failed} failed, {skipped} skipped", file=out)
    return failed


_ALL = []


def corpus_all_entries():
    return _ALL


def select(entries, patterns):
    _ALL[:] = entries
    if not patterns:
        return entries
    rx = [re.compile(p) for p in patterns]
    return [e for e in entries if any(r.search(f"[{e.section}] {e.text}") for r in rx)]


def dataset_start(now=None):
    """S: the whole hour three hours before the current one, so the dataset ends at
    the last whole hour (never in the future, within every retention)."""
    now = int(now or time.time())
    return (now // 3600 * 3600 - 3 * 3600) * 1000


def load_servers(bases, S, log=print, no_wait=(), drained=()):
    """Build the dataset, push it to every (name, base) and wait until each holds it
    (except the names in no_wait: a kmon without /api/v1/query cannot be asked); the
    names in `drained` (kmon on ClickHouse) are first waited for until their spool is
    all in ClickHouse."""
    t0 = time.monotonic()
    ds = dataset.build(S)
    bodies = ds.requests()
    log(f"dataset: {len(ds.series)} series, {ds.count_samples()} samples, "
        f"{len(bodies)} requests ({sum(map(len, bodies)) // 1024} KiB), S={S} "
        f"({time.strftime('%Y-%m-%d %H:%M:%SZ', time.gmtime(S / 1000))}), "
        f"built in {time.monotonic() - t0:.1f}s")
    at = S + 2 * dataset.H + 10 * dataset.MIN + 7250
    expected = ds.present_at(at)
    for name, base in bases:
        t1 = time.monotonic()
        harness.push(base, bodies, name)
        if name in no_wait:
            log(f"{name}: pushed in {time.monotonic() - t1:.1f}s (not asked: no /api/v1/query)")
            continue
        if name in drained:
            harness.wait_drained(base, name)
        harness.wait_holding(base, name, expected, at / 1000.0)
        log(f"{name}: pushed and holding {expected} series at S+2h10m7.25s "
            f"in {time.monotonic() - t1:.1f}s")
    return ds


def run_suite(ref_base, got_base, S, args, ref_name="Prometheus", got_name="kmon"):
    entries = select(corpus.load(args.corpus), args.k)
    allow = corpus.Allow(args.allow)
    cases = [c for e in entries for c in expand(e, S)]
    t0 = time.monotonic()
    run_all(ref_base, got_base, cases, args.jobs)
    print(f"compared {len(cases)} checks in {time.monotonic() - t0:.1f}s")
    failed = report(entries, cases, allow, ref_name=ref_name, got_name=got_name,
                    verbose=args.verbose)
    return failed, cases


def probe_engine(base):
    status, body = harness.request(base, "/api/v1/query", [("query", "1")])
    return status


def _interrupted(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("-k", action="append", default=[], help="regex over '[section] entry'")
    ap.add_argument("-j", "--jobs", type=int, default=3, help="requests in flight")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--kmon-bin", default=os.environ.get("KMON_BIN", DEFAULT_KMON))
    ap.add_argument("--prometheus", help="URL of a Prometheus already holding the dataset")
    ap.add_argument("--kmon", help="URL of a kmon already holding the dataset")
    ap.add_argument("--start", type=int, help="the dataset's S (ms) with --prometheus/--kmon")
    ap.add_argument("--serve", action="store_true", help="start, push, print URLs, wait")
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--corpus")
    ap.add_argument("--allow")
    ap.add_argument("--kmon-storage", choices=("tsdb", "clickhouse"),
                    default=os.environ.get("KMON_PROMQL_STORAGE", "tsdb"),
                    help="kmon's store: the embedded one, or ClickHouse (2 shards started "
                         "here); env KMON_PROMQL_STORAGE")
    args = ap.parse_args(argv)
    args.kmon_bin = os.path.abspath(args.kmon_bin)
    # SIGTERM and SIGINT (even where a background shell ignores it) end the run through
    # the cleanup below, which stops the servers.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _interrupted)

    if args.list:
        entries = select(corpus.load(args.corpus), args.k)
        for e in entries:
            print(f"{e.lineno:5d} [{e.section}] {e.text}")
        print(f"{len(entries)} entries, {sum(1 for e in entries if e.is_query)} queries")
        return 0
    if args.self_test:
        import selftest
        return selftest.main(args)

    if args.prometheus and args.kmon:
        if not args.start:
            ap.error("--start MS is needed with --prometheus and --kmon")
        failed, _ = run_suite(args.prometheus.rstrip("/"), args.kmon.rstrip("/"), args.start, args)
        return 1 if failed else 0

    wd = harness.Workdir(keep=args.keep)
    servers = []
    try:
        extra = []
        if args.kmon_storage == "clickhouse":
            why = clickhouse_fixture.missing()
            if why:
                print(f"SKIP: {why}")
                return SKIP
            t0 = time.monotonic()
            ch = clickhouse_fixture.ClickHouse(2, os.path.join(wd.path, "clickhouse"))
            servers.append(ch)
            try:
                ch.start()
            except RuntimeError as e:
                print(f"cannot start ClickHouse: {e}")
                return 2
            extra = ch.kmon_flags()
            print(f"ClickHouse: 2 shards at {' '.join(ch.urls)}, up in "
                  f"{time.monotonic() - t0:.1f}s")
        try:
            kmon = harness.Kmon(args.kmon_bin, wd.path, extra=extra)
        except RuntimeError as e:
            print(f"cannot start kmon: {e}")
            return 2
        servers.append(kmon)
        status = probe_engine(kmon.base)
        if status == 404 and not args.serve:
            print("SKIP: kmon answers GET /api/v1/query with 404: no PromQL engine in this "
                  "build yet. The differential suite (tests/promql/) runs for real as soon as "
                  "the endpoint exists.")
            return SKIP
        try:
            prom = harness.Prometheus(wd.path)
        except RuntimeError as e:
            print(f"cannot start Prometheus: {e}")
            return 2
        servers.append(prom)
        S = args.start or dataset_start()
        try:
            load_servers([("Prometheus", prom.base), ("kmon", kmon.base)], S,
                         no_wait=("kmon",) if status == 404 else (),
                         drained=("kmon",) if extra else ())
        except RuntimeError as e:
            print(f"loading the dataset failed: {e}\n--- kmon log ---\n{kmon.tail()}")
            if extra:
                print(f"--- ClickHouse logs ---\n{servers[0].log()}")
            return 2
        if args.serve:
            print(f"Prometheus {prom.base}\nkmon       {kmon.base}\n"
                  f"python3 {os.path.relpath(__file__)} --prometheus {prom.base} "
                  f"--kmon {kmon.base} --start {S} [-k PATTERN]\nCtrl-C stops both.")
            try:
                while kmon.p.poll() is None and prom.p.poll() is None:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
            return 0
        try:
            failed, _ = run_suite(prom.base, kmon.base, S, args)
        except KeyboardInterrupt:
            print("interrupted")
            return 2
        if kmon.p.poll() is not None:
            print(f"kmon exited with {kmon.p.returncode} during the run:\n{kmon.tail()}")
            return 1
        return 1 if failed else 0
    finally:
        for s in reversed(servers):  # kmon before the ClickHouse it writes to
            s.stop()
        wd.close()


if __name__ == "__main__":
    sys.exit(main())
