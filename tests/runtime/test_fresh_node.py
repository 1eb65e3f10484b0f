"""`kmon agent` and `kmon server` started the way a DaemonSet and a Deployment start them:
as root, with only the flags a user must give, on a machine where nothing of kmon exists
yet.

Each test runs kmon in private mount and network namespaces (unshare): an empty tmpfs
over /var/lib, so there is no /var/lib/kmon, and a loopback of its own, so the default
ports (9105 for the agent, 5000 for the server) are free whatever else runs on this
machine. The test talks to kmon through `nsenter --net curl`, sees its files through
/proc/<pid>/root, and stops it with SIGTERM. Every process dies with the test (SIGKILL on
the test's exit, and again when the test ends)."""
import ctypes
import json
import os
import shutil
import signal
import stat
import subprocess
import time

import pytest

from conftest import KMON, SANITIZED, parse_exposition, value
from rwlib import HEADERS, series_of, snappy, write_request

# Inside the new namespaces: loopback up, an empty /var/lib, then the command.
PREPARE = ('ip link set lo up && mount -t tmpfs -o "$0" tmpfs /var/lib && exec "$@"')
EMPTY_VAR_LIB = "mode=0755"
READ_ONLY_VAR_LIB = "ro,mode=0755"
PROMPT = 90 if SANITIZED else 30  # seconds a start or an answer may take


def _unusable():
    """Why these tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root: kmon is started as root on a fresh node, in private namespaces"
    for tool in ("unshare", "nsenter", "curl", "ip"):
        if not shutil.which(tool):
            return f"needs {tool} (util-linux, curl, iproute2)"
    r = subprocess.run(["unshare", "--mount", "--net", "--propagation", "private", "sh", "-c",
                        PREPARE, EMPTY_VAR_LIB, "true"], capture_output=True, text=True,
                       timeout=30)
    if r.returncode != 0:
        return f"cannot make private mount and network namespaces here: {r.stderr.strip()}"
    return None


def _die_with_the_test():
    """In the child before exec: SIGKILL when the test process goes away."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def _user_env():
    """The environment without any kmon setting: only what a user must give."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("KMON_") and k != "NODE_NAME"}


class Node:
    """A fresh node: the first kmon started makes the namespaces, later ones join them."""

    def __init__(self, tmp_path, var_lib=EMPTY_VAR_LIB):
        self.tmp = tmp_path
        self.var_lib = var_lib
        self.procs = []

    def start(self, *args, cwd=None):
        if not self.procs:
            cmd = ["unshare", "--mount", "--net", "--propagation", "private", "sh", "-c",
                   PREPARE, self.var_lib, KMON, *args]
        else:
            cmd = ["nsenter", f"--target={self.procs[0].pid}", "--mount", "--net", KMON, *args]
        log = open(self.tmp / f"{args[0]}-{len(self.procs)}.log", "w+")
        p = subprocess.Popen(cmd, cwd=cwd or self.tmp, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=log, env=_user_env(),
                             preexec_fn=_die_with_the_test)
        p.log_file = log
        self.procs.append(p)
        return p

    @staticmethod
    def log(p):
        p.log_file.flush()
        p.log_file.seek(0)
        return p.log_file.read()

    def curl(self, port, path, body=None, headers=None):
        """(status, body text) of a request to 127.0.0.1:port inside the node."""
        cmd = ["nsenter", f"--target={self.procs[0].pid}", "--net", "curl", "-sS", "-m", "10",
               "-o", "-", "-w", "\n%{http_code}"]
        for k, v in (headers or {}).items():
            cmd += ["-H", f"{k}: {v}"]
        if body is not None:
            cmd += ["--data-binary", "@-"]
        r = subprocess.run(cmd + [f"http://127.0.0.1:{port}{path}"], input=body or b"",
                           capture_output=True, timeout=30)
        text, _, status = r.stdout.decode(errors="replace").rpartition("\n")
        return int(status or 0), text

    def wait_http(self, p, port, path, until=lambda text: True):
        deadline = time.monotonic() + PROMPT
        while time.monotonic() < deadline:
            if p.poll() is not None:
                raise AssertionError(f"kmon exited with {p.returncode}:\n{self.log(p)}")
            status, text = self.curl(port, path)
            if status == 200 and until(text):
                return text
            time.sleep(0.2)
        raise AssertionError(f":{port}{path} did not answer within {PROMPT}s:\n{self.log(p)}")

    def stop(self, p):
        """SIGTERM, and the exit status once it stopped."""
        p.send_signal(signal.SIGTERM)
        try:
            return p.wait(timeout=PROMPT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise AssertionError(f"kmon did not stop within {PROMPT}s of SIGTERM:\n{self.log(p)}")

    def close(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.kill()
                p.wait()
            p.log_file.close()


@pytest.fixture(scope="module")
def namespaces():
    why = _unusable()
    if why:
        pytest.skip(why)


@pytest.fixture
def node(namespaces, tmp_path):
    n = Node(tmp_path)
    yield n
    n.close()


@pytest.fixture
def read_only_node(namespaces, tmp_path):
    n = Node(tmp_path, READ_ONLY_VAR_LIB)
    yield n
    n.close()


def assert_dir(path, mode):
    st = os.stat(path)
    assert stat.S_ISDIR(st.st_mode), path
    assert stat.S_IMODE(st.st_mode) == mode, f"{path}: {oct(stat.S_IMODE(st.st_mode))}"


def test_server_with_no_flags_stores_and_answers(node, tmp_path):
    work = tmp_path / "work"  # the container's working directory: ./data goes there
    work.mkdir()
    server = node.start("server", cwd=work)
    node.wait_http(server, 5000, "/readyz")
    for d in ("data", "data/wal", "data/blocks"):
        assert (work / d).is_dir(), d
    assert_dir(work / "data", 0o750)
    # The default listens on every interface: the missing authentication is said.
    assert "listening on :5000 without authentication" in node.log(server)

    t = int(time.time() * 1000)
    body = snappy(write_request([series_of("kmon_fresh_node_test", t, 42.0, job="fresh")]))
    status, text = node.curl(5000, "/api/v1/write", body, HEADERS)
    assert status == 204, text
    samples = parse_exposition(node.wait_http(server, 5000, "/metrics"))[0]
    assert value(samples, "kmon_ingest_samples_received_total", protocol="remote_write") == 1
    q = json.loads(node.wait_http(server, 5000, "/api/v1/query?query=kmon_fresh_node_test"))
    assert [r["value"][1] for r in q["data"]["result"]] == ["42"]
    # By default the server also stores its own metrics (job="kmon"), for kmon's alerts.
    node.wait_http(server, 5000, "/api/v1/query?query=kmon_server_start_time_seconds%7Bjob%3D%22kmon%22%7D",
                   until=lambda text: json.loads(text)["data"]["result"])

    assert node.stop(server) == 0, node.log(server)
    assert "stopped" in node.log(server)


def test_agent_and_server_on_a_fresh_node(node, tmp_path):
    """The agent as the DaemonSet runs it: --server only. /var/lib/kmon/spool does not
    exist yet; it must be made, /metrics must answer on :9105, and the server must get
    this node's metrics."""
    work = tmp_path / "work"
    work.mkdir()
    server = node.start("server", cwd=work)
    node.wait_http(server, 5000, "/readyz")
    agent = node.start("agent", "--server", "http://127.0.0.1:5000")
    text = node.wait_http(agent, 9105, "/metrics",
                          until=lambda t: "kmon_agent_collections_total" in t)
    samples = parse_exposition(text)[0]
    assert value(samples, "kmon_agent_collections_total") >= 1

    var_lib = f"/proc/{agent.pid}/root/var/lib"
    assert_dir(f"{var_lib}/kmon", 0o750)
    assert_dir(f"{var_lib}/kmon/spool", 0o750)

    me = os.uname().nodename
    nodes = node.wait_http(server, 5000, "/api/nodes", until=lambda t: me in t)
    assert me in [n["node_name"] for n in json.loads(nodes)["nodes"]]

    assert node.stop(agent) == 0, node.log(agent)
    assert node.stop(server) == 0, node.log(server)


@pytest.mark.parametrize("args,sentence", [
    (("agent", "--server", "http://127.0.0.1:5000"),
     ("cannot create the spool directory /var/lib/kmon/spool", "--spool-dir DIR",
      "--spool-dir none")),
    (("server", "--data", "/var/lib/kmon/data"),
     ("cannot create the data directory /var/lib/kmon/data", "--data DIR")),
])
def test_a_directory_that_cannot_be_made_is_named_with_its_flag(read_only_node, args, sentence):
    p = read_only_node.start(*args)
    assert p.wait(timeout=PROMPT) != 0
    err = read_only_node.log(p)
    for words in (*sentence, "creating /var/lib/kmon: Read-only file system"):
        assert words in err, err
    assert "Sanitizer" not in err
