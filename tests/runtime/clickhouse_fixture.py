"""Real ClickHouse servers for the tests of kmon's ClickHouse store (src/chstore/): N
clickhouse-server processes (Debian's, 18.16) on free loopback ports, each with its own
temporary directory, listed in order as the shards of a `remote_servers` cluster `kmon`,
with zstd compression and small caches (the machine has 2 cores and runs several
servers), one user with an optional password.

    ch = ClickHouse(2, workdir); ch.start()    both answer SELECT 1
    ch.urls                                     the --clickhouse-url list, shard order
    ch.query("SELECT count() FROM kmon.samples_local", shard=1)   text (TSV)
    ch.kill(1); ch.restart(1)                   a shard's outage (SIGKILL), same ports
    ch.stop()                                   SIGTERM, wait, SIGKILL

`clickhouse_factory` is the pytest fixture (it skips the test when clickhouse-server is
missing); the PromQL differential suite and the benchmark use the class directly and
check `missing()` themselves. Every server dies with the process that started it
(PR_SET_PDEATHSIG), so none outlives a run killed by a timeout."""
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

CLICKHOUSE = os.environ.get("KMON_CLICKHOUSE_SERVER") or shutil.which(
    "clickhouse-server") or "/usr/sbin/clickhouse-server"
CLUSTER = "kmon"
MIB = 1024 * 1024


class ClickHouseError(Exception):
    """ClickHouse answered a query with an error (its HTTP status and text)."""

    def __init__(self, status, text):
        super().__init__(f"ClickHouse answered {status}: {text.strip()[:2000]}")
        self.status, self.text = status, text


def missing():
    """Why ClickHouse cannot be run here (a message for a skip), or None."""
    if not os.access(CLICKHOUSE, os.X_OK):
        return (f"clickhouse-server is missing ({CLICKHOUSE}): install Debian's "
                "clickhouse-server (scripts/install-deps.sh test)")
    return None


def _free_ports(n):
    """n distinct free loopback ports (held open together so none is given twice)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _die_with_parent():
    """In the child: SIGKILL when the process that started it dies, however it dies."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _xml(text):
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


class Shard:
    """One clickhouse-server: its ports, its directory, its process."""

    def __init__(self, index, directory, http_port, tcp_port, interserver_port):
        self.index, self.dir = index, directory
        self.http_port, self.tcp_port = http_port, tcp_port
        self.interserver_port = interserver_port
        self.url = f"http://127.0.0.1:{http_port}"
        self.config = os.path.join(directory, "config.xml")
        self.p = None
        self.out = None

    def log(self, n=40):
        """The tail of the server's error log and of its console output."""
        parts = []
        for name in ("err.log", "console.log"):
            path = os.path.join(self.dir, name)
            try:
                with open(path, errors="replace") as f:
                    lines = f.readlines()[-n:]
            except OSError:
                continue
            if lines:
                parts.append(f"--- shard {self.index} {name} ---\n" + "".join(lines))
        return "\n".join(parts)


class ClickHouse:
    """N ClickHouse servers on loopback, the shards of cluster `kmon` in index order."""

    def __init__(self, shards, workdir, user="default", password=None, cache_mib=64,
                 cluster=CLUSTER):
        if shards < 1:
            raise ValueError("at least one shard")
        self.workdir = workdir
        self.user, self.password, self.cluster = user, password, cluster
        self.cache_bytes = cache_mib * MIB
        ports = _free_ports(3 * shards)
        self.shards = [Shard(i, os.path.join(workdir, f"shard{i}"), *ports[3 * i:3 * i + 3])
                       for i in range(shards)]
        os.makedirs(workdir, exist_ok=True)
        for s in self.shards:
            for sub in ("data", "tmp", "user_files", "format_schemas"):
                os.makedirs(os.path.join(s.dir, sub), exist_ok=True)
        self.users_path = os.path.join(workdir, "users.xml")
        with open(self.users_path, "w") as f:
            f.write(self._users_xml())
        for s in self.shards:
            with open(s.config, "w") as f:
                f.write(self._config_xml(s))

    # ---- configuration ----------------------------------------------------------------

    def _users_xml(self):
        return f"""<?xml version="1.0"?>
<yandex>
  <profiles>
    <default>
      <max_memory_usage>1000000000</max_memory_usage>
      <background_pool_size>4</background_pool_size>
      <load_balancing>in_order</load_balancing>
    </default>
  </profiles>
  <users>
    <{self.user}>
      <password>{_xml(self.password or "")}</password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </{self.user}>
  </users>
  <quotas>
    <default>
      <interval>
        <duration>3600</duration><queries>0</queries><errors>0</errors>
        <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
      </interval>
    </default>
  </quotas>
</yandex>
"""

    def _config_xml(self, s):
        replicas = "\n".join(
            f"      <shard><replica><host>127.0.0.1</host><port>{o.tcp_port}</port>"
            f"<user>{self.user}</user><password>{_xml(self.password or '')}</password>"
            f"</replica></shard>" for o in self.shards)
        d = s.dir
        return f"""<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>{d}/server.log</log>
    <errorlog>{d}/err.log</errorlog>
    <size>10M</size>
    <count>1</count>
    <console>0</console>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>{s.http_port}</http_port>
  <tcp_port>{s.tcp_port}</tcp_port>
  <interserver_http_port>{s.interserver_port}</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <path>{d}/data/</path>
  <tmp_path>{d}/tmp/</tmp_path>
  <user_files_path>{d}/user_files/</user_files_path>
  <format_schema_path>{d}/format_schemas/</format_schema_path>
  <users_config>{self.users_path}</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <max_concurrent_queries>64</max_concurrent_queries>
  <mark_cache_size>{self.cache_bytes}</mark_cache_size>
  <uncompressed_cache_size>{self.cache_bytes}</uncompressed_cache_size>
  <compression>
    <case><method>zstd</method></case>
  </compression>
  <remote_servers>
    <{self.cluster}>
{replicas}
    </{self.cluster}>
  </remote_servers>
  <macros><shard>{s.index + 1:02d}</shard></macros>
</yandex>
"""

    # ---- processes ----------------------------------------------------------------------

    @property
    def urls(self):
        """One HTTP endpoint per shard, in the cluster's shard order."""
        return [s.url for s in self.shards]

    def kmon_flags(self, shards=None, password_file=None):
        """The `kmon server` flags for this cluster (all shards, or the first `shards`)."""
        chosen = self.shards[:shards] if shards else self.shards
        flags = ["--storage", "clickhouse",
                 "--clickhouse-url", ",".join(s.url for s in chosen)]
        if len(chosen) > 1:
            flags += ["--clickhouse-cluster", self.cluster]
        if self.user != "default":
            flags += ["--clickhouse-user", self.user]
        if self.password:
            if not password_file:
                password_file = os.path.join(self.workdir, "password")
                with open(password_file, "w") as f:
                    f.write(self.password)
            flags += ["--clickhouse-password-file", password_file]
        return flags

    def start(self, timeout=90):
        """Start every shard and wait until each answers SELECT 1."""
        reason = missing()
        if reason:
            raise RuntimeError(reason)
        for s in self.shards:
            self._spawn(s)
        for s in self.shards:
            self.wait_up(s.index, timeout)
        return self

    def _spawn(self, s):
        s.out = open(os.path.join(s.dir, "console.log"), "a")
        s.p = subprocess.Popen([CLICKHOUSE, f"--config-file={s.config}"], cwd=s.dir,
                               stdin=subprocess.DEVNULL, stdout=s.out,
                               stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)

    def alive(self, i):
        s = self.shards[i]
        return s.p is not None and s.p.poll() is None

    def wait_up(self, i, timeout=90):
        """Poll SELECT 1 on shard i until it answers; fail (with its log) if it exits or
        does not answer within `timeout` seconds."""
        s = self.shards[i]
        deadline = time.monotonic() + timeout
        while True:
            if s.p.poll() is not None:
                raise RuntimeError(f"clickhouse-server shard {i} exited with "
                                   f"{s.p.returncode}:\n{s.log()}")
            try:
                if self.query("SELECT 1", shard=i, timeout=2).strip() == "1":
                    return
            except (OSError, ClickHouseError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"clickhouse-server shard {i} did not answer SELECT 1 "
                                   f"within {timeout}s:\n{s.log()}")
            time.sleep(0.1)

    def _end(self, s, sig, timeout):
        if s.p is None:
            return
        if s.p.poll() is None:
            s.p.send_signal(sig)
            try:
                s.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                s.p.kill()
                s.p.wait()
        s.p = None
        if s.out:
            s.out.close()
            s.out = None

    def kill(self, i):
        """SIGKILL shard i (an outage: nothing flushed, nothing said goodbye)."""
        self._end(self.shards[i], signal.SIGKILL, 10)

    def restart(self, i, timeout=90):
        """Start shard i again on its ports and data (after kill() or stop_shard())."""
        s = self.shards[i]
        if s.p is not None:
            raise RuntimeError(f"shard {i} is still running")
        self._spawn(s)
        self.wait_up(i, timeout)

    def stop_shard(self, i, timeout=30):
        self._end(self.shards[i], signal.SIGTERM, timeout)

    def stop(self, timeout=30):
        """SIGTERM every shard, wait for each (SIGKILL after `timeout` s)."""
        for s in self.shards:
            if s.p is not None and s.p.poll() is None:
                s.p.send_signal(signal.SIGTERM)
        for s in self.shards:
            self._end(s, signal.SIGTERM, timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def log(self):
        return "\n".join(s.log() for s in self.shards)

    # ---- queries ------------------------------------------------------------------------

    def query(self, sql, shard=0, timeout=60, database=None):
        """POST `sql` to shard `shard`'s HTTP interface; its answer as text (TSV unless
        the statement says FORMAT). An error answer raises ClickHouseError."""
        params = {"user": self.user}
        if self.password:
            params["password"] = self.password
        if database:
            params["database"] = database
        url = self.shards[shard].url + "/?" + urllib.parse.urlencode(params)
        req = urllib.request.Request(url, data=sql.encode(), method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.read().decode()
        except urllib.error.HTTPError as e:
            raise ClickHouseError(e.code, e.read().decode(errors="replace")) from None

    def rows(self, sql, shard=0, **kw):
        """The answer's rows as lists of strings (TSV, no escapes expected)."""
        return [line.split("\t") for line in self.query(sql, shard, **kw).splitlines()]

    def scalar(self, sql, shard=0, **kw):
        return self.query(sql, shard, **kw).strip()


def _pytest_fixture():
    import pytest

    @pytest.fixture
    def clickhouse_factory(tmp_path):
        """clickhouse_factory(shards=1, user=..., password=...) starts that many
        ClickHouse servers (skipping the test when clickhouse-server is missing) and
        returns the running ClickHouse; all are stopped at the end."""
        made = []

        def start(shards=1, **kw):
            reason = missing()
            if reason:
                pytest.skip(reason)
            ch = ClickHouse(shards, str(tmp_path / f"clickhouse-{len(made)}"), **kw)
            made.append(ch)
            return ch.start()

        yield start
        for ch in made:
            ch.stop()

    return clickhouse_factory


try:
    clickhouse_factory = _pytest_fixture()
except ImportError:  # the benchmark runs without pytest
    clickhouse_factory = None
