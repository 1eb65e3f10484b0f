"""Processes for the differential suite: a real Prometheus (Debian's /usr/bin/prometheus)
and a kmon server, each on a free loopback port with its data in a temporary directory,
the dataset pushed to both by remote_write, and HTTP helpers (GET and form POST).

Prometheus 2.42 refuses a sample older than its head's lower bound (the newest sample
minus 1 h once the head holds data) and any sample behind its series' newest; the
dataset is pushed in time order, one window of every series per request, and the config
also sets an out-of-order window so that nothing in a run depends on that bound. Every
push must be answered 2xx by both servers, or the run stops.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PROMETHEUS = os.environ.get("PROMETHEUS_BIN", "/usr/bin/prometheus")
PROMTOOL = os.environ.get("PROMTOOL_BIN", "/usr/bin/promtool")

# Limits both servers are started with. The max-samples limit is lowered from
# Prometheus' 50 M so that the corpus can reach it on a small dataset; kmon gets the
# same limit through --query-max-samples once its server knows that flag.
MAX_SAMPLES = 500000
LOOKBACK = "5m"

PROM_CONFIG = """\
global:
  scrape_interval: 15s
  evaluation_interval: 1m
storage:
  tsdb:
    out_of_order_time_window: 1d
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(base, path, params=None, method="GET", body=None, headers=None, timeout=60,
            with_type=False):
    """(status, body bytes); params a list of (name, value) pairs (repeats allowed), sent
    in the URL for GET and as a form body for POST. HTTP errors are returned. With
    with_type, (status, body bytes, Content-Type)."""
    url = base + path
    data = body
    hdrs = dict(headers or {})
    if params is not None:
        enc = urllib.parse.urlencode(params)
        if method == "GET":
            url += "?" + enc if enc else ""
        else:
            data = enc.encode()
            hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            out = (r.status, r.read(), r.headers.get("Content-Type"))
    except urllib.error.HTTPError as e:
        out = (e.code, e.read(), e.headers.get("Content-Type"))
    return out if with_type else out[:2]


def _die_with_parent():
    """In the child: SIGTERM when the runner dies, however it dies (a SIGKILL from a
    ctest timeout included), so that no server outlives a run."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Server:
    """A background process with its log in a file; stop() ends it (only it)."""

    name = "server"

    def __init__(self, argv, workdir):
        self.argv = argv
        self.log_path = os.path.join(workdir, f"{self.name}.log")
        self.log = open(self.log_path, "w+")
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)

    def tail(self, n=40):
        self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return "".join(f.readlines()[-n:])

    def wait_ready(self, path, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.p.returncode}:\n{self.tail()}")
            try:
                if request(self.base, path, timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready within {timeout}s:\n{self.tail()}")

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()


class Prometheus(Server):
    name = "prometheus"

    def __init__(self, workdir, port=None, tag=""):
        self.name = "prometheus" + tag
        port = port or free_port()
        self.base = f"http://127.0.0.1:{port}"
        cfg = os.path.join(workdir, f"prometheus{tag}.yml")
        with open(cfg, "w") as f:
            f.write(PROM_CONFIG)
        if not os.access(PROMETHEUS, os.X_OK):
            raise RuntimeError(f"{PROMETHEUS} is missing: install Debian's prometheus "
                               "(scripts/install-deps.sh test)")
        super().__init__([PROMETHEUS, f"--config.file={cfg}",
                          f"--storage.tsdb.path={os.path.join(workdir, 'prom-data' + tag)}",
                          f"--web.listen-address=127.0.0.1:{port}",
                          "--web.enable-remote-write-receiver",
                          f"--query.max-samples={MAX_SAMPLES}",
                          f"--query.lookback-delta={LOOKBACK}",
                          "--log.level=warn"], workdir)
        self.wait_ready("/-/ready")


def kmon_flags(kmon_bin):
    """The query limits the kmon server is told about, when its server knows them."""
    try:
        help_text = subprocess.run([kmon_bin, "server", "--help"], capture_output=True,
                                   text=True, timeout=20).stdout
    except OSError:
        return []
    flags = []
    if "--query-max-samples" in help_text:
        flags += ["--query-max-samples", str(MAX_SAMPLES)]
    if "--query-lookback-delta" in help_text:
        flags += ["--query-lookback-delta", LOOKBACK]
    # The same data on both sides: the Prometheus here neither scrapes itself nor
    # evaluates rules, so kmon stores neither its own metrics nor its rule pack's results.
    if "--self-scrape-interval" in help_text:
        flags += ["--self-scrape-interval", "0"]
    if "--default-rules" in help_text:
        flags += ["--default-rules=false"]
    return flags


class Kmon(Server):
    name = "kmon"

    def __init__(self, kmon_bin, workdir, port=None, extra=()):
        port = port or free_port()
        self.base = f"http://127.0.0.1:{port}"
        if not os.access(kmon_bin, os.X_OK):
            raise RuntimeError(f"KMON_BIN={kmon_bin} is not an executable kmon binary")
        super().__init__([kmon_bin, "server", "--listen", f"127.0.0.1:{port}",
                          "--data", os.path.join(workdir, "kmon-data"), "--log-level", "warn",
                          *kmon_flags(kmon_bin), *extra], workdir)
        self.wait_ready("/readyz")


def push(base, bodies, name):
    """POST every remote_write body; every one must be answered 2xx."""
    headers = {
        "Content-Encoding": "snappy",
        "Content-Type": "application/x-protobuf",
        "X-Prometheus-Remote-Write-Version": "0.1.0",
    }
    for i, body in enumerate(bodies):
        try:
            status, text = request(base, "/api/v1/write", method="POST", body=body,
                                   headers=headers, timeout=300)
        except OSError as e:
            raise RuntimeError(f"{name} did not answer remote_write request "
                               f"{i + 1}/{len(bodies)}: {e}")
        if status // 100 != 2:
            raise RuntimeError(f"{name} refused remote_write request {i + 1}/{len(bodies)}: "
                               f"{status} {text[:2000]!r}")


def series_count(base, at_s):
    status, body = request(base, "/api/v1/query",
                           [("query", 'count({__name__=~".+"})'), ("time", f"{at_s:.3f}")])
    if status != 200:
        return None
    res = json.loads(body)["data"]["result"]
    return int(float(res[0]["value"][1])) if res else 0


def wait_holding(base, name, expected, at_s, timeout=60):
    """Poll count({__name__=~".+"}) at the time every series of the dataset was alive
    (the wide count over the whole span is what the suite checks) until `expected`."""
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = series_count(base, at_s)
        if got == expected:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{name} holds {got} series, expected {expected}")


def spool_unacked(base):
    """The bytes kmon-on-ClickHouse holds in its spool that ClickHouse has not
    acknowledged (its kmon_clickhouse_spool_unacked_bytes gauge), or None."""
    status, body = request(base, "/metrics")
    if status != 200:
        return None
    for line in body.decode(errors="replace").splitlines():
        name, _, v = line.partition(" ")
        if name == "kmon_clickhouse_spool_unacked_bytes":
            return float(v)
    return None


def wait_drained(base, name, timeout=300):
    """Poll until kmon's spool has nothing ClickHouse has not acknowledged: every push
    was answered after it was spooled, so ClickHouse then holds the whole dataset."""
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = spool_unacked(base)
        if got == 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{name}'s spool still holds {got} bytes not in ClickHouse after "
                       f"{timeout}s (kmon_clickhouse_spool_unacked_bytes)")


class Workdir:
    def __init__(self, keep=False):
        self.path = tempfile.mkdtemp(prefix="kmon-promql-")
        self.keep = keep

    def close(self):
        if not self.keep:
            shutil.rmtree(self.path, ignore_errors=True)
