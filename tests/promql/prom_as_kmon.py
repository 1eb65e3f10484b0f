#!/usr/bin/python3
"""A stand-in for the kmon binary that is really a Prometheus, to exercise the suite's
whole path (start, push, wait, compare, report, exit status) before kmon has an engine:

  KMON_BIN=tests/promql/prom_as_kmon.py python3 tests/promql/run.py     # must pass
  KMON_PROMQL_PERTURB=5 KMON_BIN=tests/promql/prom_as_kmon.py python3 tests/promql/run.py
                                                  # one answer in 5 perturbed: must fail

It accepts `server --listen ADDR:PORT --data DIR` (other flags ignored), starts
Prometheus on a free port with its data under DIR, and serves ADDR:PORT through fake.py
(which answers /readyz as kmon does). SIGTERM stops both.
"""
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fake  # noqa: E402
import harness  # noqa: E402


def main(argv):
    if len(argv) < 1 or argv[0] != "server" or "--help" in argv:
        print("prom_as_kmon: a Prometheus behind kmon's command line (tests only)")
        return 0
    listen = argv[argv.index("--listen") + 1]
    data = argv[argv.index("--data") + 1]
    os.makedirs(data, exist_ok=True)
    prom = harness.Prometheus(data)
    host, port = listen.rsplit(":", 1)
    proxy = fake.Fake(prom.base, every=int(os.environ.get("KMON_PROMQL_PERTURB", "0")),
                      port=int(port))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    signal.signal(signal.SIGINT, lambda *a: done.set())
    while not done.wait(0.5) and prom.p.poll() is None:
        pass
    proxy.stop()
    prom.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
