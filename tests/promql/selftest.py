"""The suite's own proof (run.py --self-test), needing no kmon:

1. Two Prometheus instances get the same dataset and the whole corpus is compared
   between them: identical behaviour must pass every check (this also catches corpus
   entries Prometheus does not answer deterministically).
2. The second instance is put behind fake.py, which perturbs one answer in five; the
   comparer must flag every perturbed answer that should be flagged and nothing else.
   A few of the diffs are printed to show what a failure looks like.
"""
import time
import urllib.parse

import corpus
import fake
import harness
import run


def _key(case):
    params = urllib.parse.parse_qsl(urllib.parse.urlencode(case.params), keep_blank_values=True)
    return fake.request_key(case.method, case.path, params)


def main(args):
    wd = harness.Workdir(keep=args.keep)
    servers = []
    ok = True
    try:
        a = harness.Prometheus(wd.path, tag="-a")
        servers.append(a)
        b = harness.Prometheus(wd.path, tag="-b")
        servers.append(b)
        S = args.start or run.dataset_start()
        run.load_servers([("Prometheus A", a.base), ("Prometheus B", b.base)], S)

        print("\n=== 1. Prometheus against Prometheus: every check must pass ===")
        failed, cases = run.run_suite(a.base, b.base, S, args, ref_name="Prometheus A",
                                      got_name="Prometheus B")
        if failed:
            ok = False
            print(f"SELF-TEST FAILED: {failed} checks differ between two Prometheus")

        print("\n=== 2. Prometheus against a perturbing fake: exactly the perturbed "
              "answers must fail ===")
        fk = fake.Fake(b.base, every=5)
        try:
            entries = run.select(corpus.load(args.corpus), args.k)
            cases = [c for e in entries for c in run.expand(e, S) if c.argv is None]
            t0 = time.monotonic()
            run.run_all(a.base, fk.base, cases, args.jobs)
            elapsed = time.monotonic() - t0
        finally:
            fk.stop()
        rec = fk.rec.done
        caught = missed = false_alarm = quiet_ok = 0
        by_kind = {}
        samples = {}
        for c in cases:
            kind, should_fail = rec.get(_key(c), (None, False))
            failed_now = c.diff is not None
            st = by_kind.setdefault(kind or "untouched", [0, 0])
            st[0] += 1
            if should_fail and failed_now:
                caught += 1
                st[1] += 1
                samples.setdefault(kind, (c, c.diff))
            elif should_fail:
                missed += 1
                print(f"MISSED ({kind}): [{c.entry.section}] {c.entry.text} — {c.describe()}")
            elif failed_now:
                false_alarm += 1
                print(f"FALSE ALARM ({kind or 'untouched'}): [{c.entry.section}] "
                      f"{c.entry.text} — {c.describe()}\n    {c.diff}")
            else:
                quiet_ok += 1
        print(f"compared {len(cases)} checks in {elapsed:.1f}s")
        print("perturbation        checks  flagged")
        for kind, (n, f) in sorted(by_kind.items()):
            print(f"  {kind:17s} {n:7d} {f:8d}")
        print("\nWhat the diffs look like (one per kind):")
        for kind, (c, d) in sorted(samples.items()):
            print(f"  [{kind}] {c.entry.text}\n    {c.describe()}\n      {d}")
        print(f"\nperturbed and flagged: {caught}; perturbed but missed: {missed}; "
              f"flagged without perturbation: {false_alarm}; untouched or harmless and "
              f"passed: {quiet_ok}")
        if missed or false_alarm or not caught:
            ok = False
            print("SELF-TEST FAILED: the comparer missed a perturbation or raised a false alarm")
    finally:
        for s in servers:
            s.stop()
        wd.close()
    print("\nself-test " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1
