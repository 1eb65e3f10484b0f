"""Shared helpers for kmon's runtime tests: find the binary, start real processes on
loopback, scrape them, and parse the Prometheus text format strictly."""
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

KMON = os.environ.get("KMON_BIN", os.path.join(os.path.dirname(__file__), "../../build/kmon"))
FIXTURES = os.environ.get("KMON_FIXTURES", os.path.join(os.path.dirname(__file__), "../fixtures"))
SANITIZED = os.environ.get("KMON_SANITIZED", "0") in ("1", "ON", "TRUE", "true")
PROMETHEUS = shutil.which("prometheus")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*args, timeout=60, env=None):
    """Run kmon to completion; return CompletedProcess with text output."""
    return subprocess.run([KMON, *args], capture_output=True, text=True, timeout=timeout,
                          env=env)


def http_get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, dict(r.headers), r.read().decode()


class Proc:
    """A kmon process running in the background, stopped with SIGTERM at the end."""

    def __init__(self, args, env=None):
        self.args = args
        self.stderr_path = f"/tmp/kmon-test-{os.getpid()}-{time.monotonic_ns()}.log"
        self.stderr = open(self.stderr_path, "w+")
        self.p = subprocess.Popen([KMON, *args], stdout=subprocess.DEVNULL, stderr=self.stderr,
                                  env=env)

    def log(self):
        self.stderr.flush()
        with open(self.stderr_path) as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                raise AssertionError(f"kmon did not stop within {timeout}s:\n{self.log()}")
        return self.p.returncode

    def close(self):
        try:
            if self.p.poll() is None:
                self.p.kill()
                self.p.wait()
        finally:
            self.stderr.close()
            os.unlink(self.stderr_path)


def wait_until(cond, timeout=30, what="the condition", proc=None):
    """cond()'s first true value, polled every 0.2 s; fail after timeout seconds, with the
    kmon process's log when given (and at once, with its exit status, when cond cannot
    reach it because it has exited)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            v = cond()
        except OSError:
            # The server refusing connections because it died says nothing; its exit
            # status and log do.
            if proc and proc.p.poll() is not None:
                raise AssertionError(f"kmon exited with {proc.p.returncode} while waiting "
                                     f"for {what}:\n{proc.log()}") from None
            raise
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s" +
                                 (f":\n{proc.log()}" if proc else ""))
        time.sleep(0.2)


def wait_http(url, proc, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.p.poll() is not None:
            raise AssertionError(f"kmon exited with {proc.p.returncode}:\n{proc.log()}")
        try:
            return http_get(url, timeout=2)
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{url} did not answer within {timeout}s:\n{proc.log()}")


@pytest.fixture
def agent_factory():
    """agent_factory(*extra_args) starts `kmon agent` on a free port and returns
    (proc, base_url) once /metrics answers with a first collection."""
    procs = []

    def start(*extra, env=None, interval="1s"):
        port = free_port()
        proc = Proc(["agent", "--listen", f"127.0.0.1:{port}", "--interval", interval, *extra],
                    env=env)
        procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/healthz", proc)
        deadline = time.monotonic() + 20
        while "kmon_agent_collections_total" not in http_get(base + "/metrics")[2]:
            assert time.monotonic() < deadline, proc.log()
            time.sleep(0.05)
        return proc, base

    yield start
    for p in procs:
        p.close()


class Prometheus(Proc):
    """A Prometheus process (Debian's, at PROMETHEUS; Proc runs kmon, this the given
    binary)."""

    def __init__(self, args):
        self.args = args
        self.stderr_path = f"/tmp/kmon-test-prometheus-{time.monotonic_ns()}.log"
        self.stderr = open(self.stderr_path, "w+")
        self.p = subprocess.Popen([PROMETHEUS, *args], stdout=subprocess.DEVNULL,
                                  stderr=self.stderr)


def wait_ready(base, proc, timeout=30, path="/readyz"):
    """Wait until the server `proc` at `base` answers `path` with 200 (a kmon server's
    /readyz: its WAL is replayed; Prometheus' /-/ready); fail if it exits first."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.p.poll() is not None:
            raise AssertionError(f"{proc.args[0]} exited with {proc.p.returncode}:\n{proc.log()}")
        try:
            if http_get(base + path, timeout=2)[0] == 200:
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, proc.log()
        time.sleep(0.05)


def tree(d):
    """Every file under d with its size and modification time (to show nothing changed)."""
    out = {}
    for root, dirs, files in os.walk(d):
        for name in dirs + files:
            path = os.path.join(root, name)
            st = os.lstat(path)
            out[os.path.relpath(path, d)] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture
def server_factory(tmp_path):
    """server_factory(*extra_args, data=None) starts `kmon server` on a free port with
    its data under tmp_path (or `data`) and returns (proc, base_url, data_dir) once
    /readyz answers."""
    procs = []

    def start(*extra, data=None, env=None, port=None):
        port = port or free_port()
        data = str(data or tmp_path / f"data-{len(procs)}")
        # These tests count exactly what their requests store (series, samples) and compare
        # it with Prometheus: the server's own metrics (stored every 15 s by default) and
        # its default rule pack's results (every minute) would be counted with them. Both
        # defaults are tested on their own (test_fresh_node.py, test_rules_server.py).
        if not any(str(a).startswith("--self-scrape-interval") for a in extra):
            extra = ("--self-scrape-interval", "0", *extra)
        if not any(str(a).startswith("--default-rules") for a in extra):
            extra = ("--default-rules=false", *extra)
        proc = Proc(["server", "--listen", f"127.0.0.1:{port}", "--data", data, *extra],
                    env=env)
        procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, proc)
        return proc, base, data

    yield start
    for p in procs:
        p.close()


def http_request(url, method="GET", body=None, headers=None, timeout=30):
    """(status, headers, body bytes) of any request; HTTP errors are returned, not
    raised."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def scrape(url):
    """Parsed /metrics of a kmon process: {(name, labels): value}."""
    return parse_exposition(http_get(url + "/metrics")[2])[0]


# ---- strict Prometheus text format 0.0.4 parser ---------------------------------------

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
_VALUE = r"(?:[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)|[-+]?Inf|NaN)"
_SAMPLE = re.compile(rf"^({_NAME})(\{{.*\}})? ({_VALUE})(?: (-?\d+))?$")
_PAIR = re.compile(rf'({_LABEL})="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(,|\}})')


def _parse_labels(text):
    """'{a="1",b="x\\"y"}' -> (('a','1'),('b','x"y')) with escapes decoded."""
    assert text[0] == "{", text
    pos, out = 1, []
    if text == "{}":
        return ()
    while pos < len(text):
        m = _PAIR.match(text, pos)
        assert m, f"bad label set at {text[pos:]!r}"
        raw = m.group(2)
        val = re.sub(r'\\(.)', lambda e: {"n": "\n", "\\": "\\", '"': '"'}[e.group(1)], raw)
        out.append((m.group(1), val))
        pos = m.end()
        if m.group(3) == "}":
            assert pos == len(text), f"trailing text after labels: {text[pos:]!r}"
            break
    names = [k for k, _ in out]
    assert len(names) == len(set(names)), f"duplicate label names in {text}"
    return tuple(out)


def parse_exposition(text):
    """Parse strictly. Returns (samples, types, helps) where samples maps
    (name, labels) -> float. Fails on anything Prometheus would reject or warn about:
    bad syntax, a family split in two, TYPE after its samples, duplicate series."""
    samples, types, helps = {}, {}, {}
    seen_families, current = set(), None
    assert text.endswith("\n"), "exposition must end with a newline"
    for line in text.split("\n")[:-1]:
        if line.startswith("# HELP "):
            name, _, h = line[7:].partition(" ")
            assert name not in helps, f"second HELP for {name}"
            helps[name] = h
            continue
        if line.startswith("# TYPE "):
            name, _, t = line[7:].partition(" ")
            assert t in ("counter", "gauge", "untyped", "summary", "histogram"), line
            assert name not in types, f"second TYPE for {name}"
            assert name not in seen_families, f"TYPE for {name} after its samples"
            types[name] = t
            continue
        assert not line.startswith("#") or line.startswith("# "), line
        if line.startswith("#") or line == "":
            continue
        m = _SAMPLE.match(line)
        assert m, f"bad sample line: {line!r}"
        name, labels = m.group(1), _parse_labels(m.group(2)) if m.group(2) else ()
        if name != current:
            assert name not in seen_families, f"family {name} is split in two"
            seen_families.add(name)
            current = name
        key = (name, tuple(sorted(labels)))
        assert key not in samples, f"duplicate series {key}"
        samples[key] = float(m.group(3))
    return samples, types, helps


def value(samples, name, **labels):
    want = tuple(sorted(labels.items()))
    for (n, l), v in samples.items():
        if n == name and all(p in l for p in want):
            return v
    raise KeyError(f"{name}{labels} not found")


def meminfo():
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, _, rest = line.partition(":")
            parts = rest.split()
            out[k] = int(parts[0]) * (1024 if len(parts) > 1 else 1)
    return out
