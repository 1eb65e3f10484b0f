#!/usr/bin/env python3
"""The dashboard's end-to-end tests in a real browser, as a user meets it: starts a real
`kmon demo` (server + agent on this host, default flags but for its port and a fresh data
directory) and a `kmon server` loaded with the 100-node/3 000-pod dataset
(gen_cluster.py, through remote_write) with its pods' logs (gen_logs.py, through Loki's
push API), then runs the browser tests (node --test
tests/ui/, playwright-core driving Debian's chromium) against both. Screenshots of every
page land in the artifact directory (--artifacts, default $KMON_UI_ARTIFACTS or
/tmp/kmon-ui-artifacts). Both processes must stop cleanly on SIGTERM, and a sanitized
build's logs must hold no sanitizer report.

Environment: KMON_BIN (default build/kmon), KMON_UI_NODES and KMON_UI_PODS (the dataset's
size, default 100 and 3000)."""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CHROMIUM = "/usr/bin/chromium"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def query(base, expr):
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    return json.loads(get(url)[1])["data"]["result"]


class Kmon:
    def __init__(self, name, args, work):
        self.name = name
        self.log_path = os.path.join(work, name + ".log")
        self.log = open(self.log_path, "w")
        self.p = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, base, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                raise SystemExit(f"{self.name} exited with {self.p.returncode}:\n{self.text()}")
            try:
                if get(base + "/readyz", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"{self.name} not ready after {timeout}s:\n{self.text()}")

    def text(self):
        self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                return f"{self.name} did not stop within 30 s of SIGTERM"
        if self.p.returncode != 0:
            return f"{self.name} exited with {self.p.returncode}"
        if "Sanitizer" in self.text() or "runtime error:" in self.text():
            return f"{self.name}: a sanitizer report"
        return None


def wait_for(what, fn, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if fn():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"run_e2e: {what} not seen within {timeout}s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--artifacts", default=os.environ.get("KMON_UI_ARTIFACTS",
                                                          "/tmp/kmon-ui-artifacts"))
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--serve", action="store_true",
                    help="start both, print their URLs and wait (Ctrl-C stops them)")
    ap.add_argument("--only", action="append", metavar="NAME",
                    help="run only the test files whose name contains NAME (repeatable)")
    a = ap.parse_args()
    kmon = os.path.abspath(os.environ.get("KMON_BIN", os.path.join(ROOT, "build", "kmon")))
    driver = os.path.join(ROOT, "web", "node_modules", "playwright-core")
    for path, fix in ((kmon, "build kmon"), (CHROMIUM, "scripts/install-deps.sh test"),
                      (driver, "scripts/web-deps.sh test")):
        if not os.path.exists(path):
            raise SystemExit(f"run_e2e: {path} is missing: run {fix}")
    work = tempfile.mkdtemp(prefix="kmon-ui-")
    os.makedirs(a.artifacts, exist_ok=True)
    procs = []
    failed = True
    try:
        demo_url = f"http://127.0.0.1:{free_port()}"
        data_url = f"http://127.0.0.1:{free_port()}"
        demo = Kmon("demo", [kmon, "demo", "--listen", demo_url[7:], "--data",
                             os.path.join(work, "demo")], work)
        procs.append(demo)
        data = Kmon("server", [kmon, "server", "--listen", data_url[7:], "--data",
                               os.path.join(work, "data"), "--log-level", "warn"], work)
        procs.append(data)
        data.wait_ready(data_url)
        t0 = time.monotonic()
        gen = subprocess.run([sys.executable, os.path.join(HERE, "gen_cluster.py"), "--url",
                              data_url, "--nodes", os.environ.get("KMON_UI_NODES", "100"),
                              "--pods", os.environ.get("KMON_UI_PODS", "3000")],
                             capture_output=True, text=True, timeout=900)
        if gen.returncode != 0:
            raise SystemExit(f"gen_cluster failed:\n{gen.stdout}{gen.stderr}")
        dataset = json.loads(gen.stdout.strip().splitlines()[-1])
        print(f"run_e2e: dataset pushed in {time.monotonic() - t0:.1f}s: "
              f"{dataset['series']} series, {dataset['samples']} samples", flush=True)
        gen = subprocess.run([sys.executable, os.path.join(HERE, "gen_logs.py"), "--url",
                              data_url, "--nodes", os.environ.get("KMON_UI_NODES", "100"),
                              "--pods", os.environ.get("KMON_UI_PODS", "3000")],
                             capture_output=True, text=True, timeout=900)
        if gen.returncode != 0:
            raise SystemExit(f"gen_logs failed:\n{gen.stdout}{gen.stderr}")
        logs = json.loads(gen.stdout.strip().splitlines()[-1])
        print(f"run_e2e: logs pushed in {logs['seconds']}s: {logs['lines']} lines, "
              f"{logs['events']} events, {logs['streams']} streams", flush=True)
        demo.wait_ready(demo_url)
        # The demo's own node with a CPU rate: two collections of its agent.
        wait_for("the demo node's CPU rate", lambda: query(
            demo_url, "sum(rate(node_cpu_seconds_total[1m])) > 0"), 90)
        env = dict(os.environ, KMON_UI_URL=demo_url, KMON_UI_DATA_URL=data_url,
                   KMON_UI_ARTIFACTS=a.artifacts, KMON_UI_DATASET=json.dumps(dataset),
                   KMON_UI_LOGS=json.dumps(logs), KMON_BIN=kmon)
        if a.serve:
            print(f"demo    {demo_url}/ui/\ndataset {data_url}/ui/\nCtrl-C stops both.",
                  flush=True)
            signal.sigwait([signal.SIGINT, signal.SIGTERM])
            failed = False
            return 0
        tests = sorted(os.path.join(HERE, f) for f in os.listdir(HERE) if f.endswith(".test.mjs")
                       and (not a.only or any(o in f for o in a.only)))
        rc = subprocess.run(["node", "--test", "--test-concurrency=1", *tests], env=env,
                            timeout=1200).returncode
        failed = rc != 0
        return rc
    finally:
        problems = [p for p in (k.stop() for k in procs) if p]
        for k in procs:
            shutil.copy(k.log_path, os.path.join(a.artifacts, k.name + ".log"))
        for p in problems:
            print("run_e2e:", p, file=sys.stderr)
        if problems and not failed:
            sys.exit(1)
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("run_e2e: kept", work)


if __name__ == "__main__":
    sys.exit(main())
