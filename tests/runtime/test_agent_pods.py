"""The pods collector on real cgroups and a real network namespace: the test builds a
kubepods-shaped tree in this machine's cgroup hierarchy (v2 unified with the systemd
driver's names, or the v1 controllers with the cgroupfs driver's names — whatever the
kernel here runs), moves real processes into it (a sandbox whose command is "pause", a
busy loop, a process holding 64 MiB), writes the kubelet's log layout under a scratch
--host-root, and checks the agent's figures against the kernel's own files and that they
move as expected. The network test puts the sandbox in a network namespace joined to the
host by a veth pair, sends traffic through it and compares the pod's counters with the
namespace's. Needs root (skipped otherwise, with the reason)."""
import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from conftest import parse_exposition, run, value

CG = "/sys/fs/cgroup"
V2 = os.path.exists(f"{CG}/cgroup.controllers")
V1_CTRLS = [c for c in ("cpu", "cpuacct", "cpu,cpuacct", "memory", "blkio", "pids")
            if os.path.isdir(f"{CG}/{c}") and not os.path.islink(f"{CG}/{c}")]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creating cgroups needs root")


def cid():
    return uuid.uuid4().hex + uuid.uuid4().hex


class KubePods:
    """A kubepods tree with one Burstable pod: sandbox + the given containers."""

    def __init__(self, tmp_path, containers):
        self.uid = str(uuid.uuid4())
        self.root = tmp_path / "host"
        self.ns, self.pod = "kmon-test", "web-7d4f9c6b8d-x2x9k"
        self.ids = {name: cid() for name in ["POD", *containers]}
        self.procs = []
        if V2:
            u = self.uid.replace("-", "_")
            self.top = "kubepods.slice"
            self.pod_rel = (f"kubepods.slice/kubepods-burstable.slice/"
                            f"kubepods-burstable-pod{u}.slice")
            self.rel = {n: f"{self.pod_rel}/cri-containerd-{i}.scope" for n, i in self.ids.items()}
        else:
            self.top = "kubepods"
            self.pod_rel = f"kubepods/burstable/pod{self.uid}"
            self.rel = {n: f"{self.pod_rel}/{i}" for n, i in self.ids.items()}
        try:
            for rel in self.rel.values():
                self._mkdir(rel)
        except OSError as e:
            self.remove()
            pytest.skip(f"the kernel refused a cgroup: {e}")
        logs = self.root / "var/log"
        pod_dir = logs / "pods" / f"{self.ns}_{self.pod}_{self.uid}"
        (logs / "containers").mkdir(parents=True)
        for name, i in self.ids.items():
            if name == "POD":
                continue  # the kubelet keeps no log for the sandbox
            (pod_dir / name).mkdir(parents=True)
            (pod_dir / name / "0.log").touch()
            os.symlink(f"/var/log/pods/{self.ns}_{self.pod}_{self.uid}/{name}/0.log",
                       logs / "containers" / f"{self.pod}_{self.ns}_{name}-{i}.log")

    def _mkdir(self, rel):
        if V2:
            parts = rel.split("/")
            for k in range(len(parts)):
                d = os.path.join(CG, *parts[:k + 1])
                os.makedirs(d, exist_ok=True)
                if k < len(parts) - 1:
                    ctl = os.path.join(d, "cgroup.subtree_control")
                    avail = open(os.path.join(d, "cgroup.controllers")).read().split()
                    for c in ("cpu", "memory", "io", "pids"):
                        if c in avail:
                            try:
                                with open(ctl, "w") as f:
                                    f.write(f"+{c}")
                            except OSError:
                                pass
        else:
            for c in V1_CTRLS:
                os.makedirs(os.path.join(CG, c, rel), exist_ok=True)

    def dirs(self, rel):
        return [os.path.join(CG, rel)] if V2 else [os.path.join(CG, c, rel) for c in V1_CTRLS]

    def add(self, name, argv, **kw):
        p = subprocess.Popen(argv, **kw)
        self.procs.append(p)
        for d in self.dirs(self.rel[name]):
            with open(os.path.join(d, "cgroup.procs"), "w") as f:
                f.write(str(p.pid))
        return p

    def read(self, name, file, ctrl=None):
        rel = self.rel[name] if name else self.pod_rel
        base = os.path.join(CG, rel) if V2 else os.path.join(CG, ctrl, rel)
        with open(os.path.join(base, file)) as f:
            return f.read()

    def remove(self):
        for p in self.procs:
            p.kill()
            p.wait()
        time.sleep(0.2)
        roots = [CG] if V2 else [os.path.join(CG, c) for c in V1_CTRLS]
        for r in roots:
            top = os.path.join(r, self.top)
            for d, _, _ in sorted(os.walk(top), key=lambda x: -len(x[0])):
                try:
                    os.rmdir(d)
                except OSError:
                    pass


@pytest.fixture
def pause_bin(tmp_path):
    """A sleeping program whose command name is "pause", like the kubelet's sandbox."""
    path = tmp_path / "bin" / "pause"
    path.parent.mkdir()
    shutil.copy("/bin/sleep", path)
    return str(path)


NODE = "kmon-test-node"


def collect(k, *extra):
    r = run("agent", "--once", "--interval", "100ms", "--format", "prom", "--host-root", str(k.root),
            "--node-name", NODE, "--disable-collectors", "filesystem", *extra)
    assert r.returncode == 0, r.stderr
    samples, _, _ = parse_exposition(r.stdout)
    return samples


def labels(k, container):
    return dict(namespace=k.ns, pod=k.pod, pod_uid=k.uid, container=container, node=NODE)


def kernel_cpu_s(k, name):
    if V2:
        usage = next(l for l in k.read(name, "cpu.stat").splitlines() if l.startswith("usage_usec"))
        return int(usage.split()[1]) / 1e6
    ctrl = "cpuacct" if "cpuacct" in V1_CTRLS else "cpu,cpuacct"
    return int(k.read(name, "cpuacct.usage", ctrl)) / 1e9


def kernel_mem(k, name):
    if V2:
        usage = int(k.read(name, "memory.current"))
        stat = dict(l.split() for l in k.read(name, "memory.stat").splitlines())
        return usage, int(stat["inactive_file"])
    usage = int(k.read(name, "memory.usage_in_bytes", "memory"))
    stat = dict(l.split() for l in k.read(name, "memory.stat", "memory").splitlines())
    return usage, int(stat["total_inactive_file"])


def test_pod_and_containers_match_the_kernel(tmp_path, pause_bin):
    k = KubePods(tmp_path, ["busy", "hog"])
    try:
        k.add("POD", [pause_bin, "600"])
        busy = k.add("busy", [sys.executable, "-c", "while True: pass"])
        k.add("hog", [sys.executable, "-c",
                      "import time\nb = bytearray(64 << 20)\nfor i in range(0, len(b), 4096): "
                      "b[i] = 1\ntime.sleep(600)"])
        time.sleep(1.5)
        before = kernel_cpu_s(k, "busy")
        s = collect(k)
        after = kernel_cpu_s(k, "busy")
        cpu = value(s, "container_cpu_usage_seconds_total", **labels(k, "busy"))
        assert before <= cpu <= after, (before, cpu, after)
        assert cpu > 0.5, "the busy loop ran for over a second"
        pod_cpu = value(s, "container_cpu_usage_seconds_total", **labels(k, ""))
        assert pod_cpu >= cpu
        # The sandbox has no series of its own; each application container has.
        names = {dict(l).get("container") for n, l in s
                 if n == "container_cpu_usage_seconds_total" and dict(l).get("pod") == k.pod}
        assert names == {"", "busy", "hog"}
        assert value(s, "kmon_agent_containers") >= 2

        usage, inactive = kernel_mem(k, "hog")
        got = value(s, "container_memory_usage_bytes", **labels(k, "hog"))
        assert abs(got - usage) < 4 << 20, (got, usage)
        assert got >= 64 << 20
        ws = value(s, "container_memory_working_set_bytes", **labels(k, "hog"))
        assert abs(ws - max(usage - inactive, 0)) < 4 << 20
        assert value(s, "container_processes", **labels(k, "busy")) == 1
        assert value(s, "container_processes", **labels(k, "")) >= 3

        # Moving as expected: CPU grows for the busy one only.
        time.sleep(1)
        s2 = collect(k)
        assert value(s2, "container_cpu_usage_seconds_total", **labels(k, "busy")) > cpu + 0.5
        assert value(s2, "container_cpu_usage_seconds_total", **labels(k, "hog")) < \
            value(s, "container_cpu_usage_seconds_total", **labels(k, "hog")) + 0.2
        busy.kill()
        busy.wait()
    finally:
        k.remove()


def test_excluded_namespace_and_vanished_container(tmp_path, pause_bin):
    k = KubePods(tmp_path, ["app"])
    try:
        k.add("POD", [pause_bin, "600"])
        k.add("app", [pause_bin, "600"])
        s = collect(k, "--exclude-namespaces", f"kube-system,{k.ns}")
        assert not [n for n, l in s if dict(l).get("pod") == k.pod]
        # A container whose cgroup is gone is skipped, never an error.
        for p in k.procs[1:]:
            p.kill()
            p.wait()
        k.procs = k.procs[:1]
        for d in k.dirs(k.rel["app"]):
            time.sleep(0.1)
            os.rmdir(d)
        s = collect(k)
        assert value(s, "container_cpu_usage_seconds_total", **labels(k, "")) is not None
        assert not [n for n, l in s if dict(l).get("container") == "app"]
    finally:
        k.remove()


@pytest.mark.skipif(shutil.which("ip") is None, reason="needs ip (iproute2)")
def test_pod_network_from_its_namespace(tmp_path, pause_bin):
    k = KubePods(tmp_path, ["app"])
    ns = f"kmon-test-{os.getpid()}"
    host_if, pod_if = f"kmh{os.getpid() % 10000}", f"kmp{os.getpid() % 10000}"
    try:
        try:
            subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)
        except subprocess.CalledProcessError as e:
            pytest.skip(f"cannot create a network namespace: {e.stderr.decode().strip()}")
        sh = lambda *a: subprocess.run(a, check=True, capture_output=True)
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", pod_if)
        sh("ip", "link", "set", pod_if, "netns", ns)
        sh("ip", "addr", "add", "10.231.0.1/30", "dev", host_if)
        sh("ip", "link", "set", host_if, "up")
        sh("ip", "netns", "exec", ns, "ip", "addr", "add", "10.231.0.2/30", "dev", pod_if)
        sh("ip", "netns", "exec", ns, "ip", "link", "set", pod_if, "up")
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        sandbox = k.add("POD", ["ip", "netns", "exec", ns, pause_bin, "600"])
        time.sleep(0.3)
        # 200 datagrams of 1000 bytes from the pod to the host side.
        sh("ip", "netns", "exec", ns, sys.executable, "-c",
           "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
           "for _ in range(200): s.sendto(b'x' * 1000, ('10.231.0.1', 9))")
        def counters():
            with open(f"/proc/{sandbox.pid}/net/dev") as f:
                return next(l for l in f
                            if l.strip().startswith(pod_if + ":")).split(":")[1].split()

        before = counters()
        s = collect(k)
        row = counters()
        # Read between two readings of the kernel's counters: either side may still send
        # (IPv6 neighbour discovery on a new link).
        for name, col in (("transmit_bytes", 8), ("transmit_packets", 9),
                          ("receive_bytes", 0)):
            got = value(s, f"container_network_{name}_total", interface=pod_if,
                        **labels(k, ""))
            assert int(before[col]) <= got <= int(row[col]), (name, before, got, row)
        assert int(before[8]) >= 200 * 1000
        assert value(s, "kmon_pod_host_network", **labels(k, "")) == 0
        assert not [l for n, l in s if n.startswith("container_network_")
                    and dict(l).get("interface") == "lo"]
    finally:
        k.remove()
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_host_network_pod_is_marked_not_counted(tmp_path, pause_bin):
    k = KubePods(tmp_path, ["app"])
    try:
        k.add("POD", [pause_bin, "600"])
        s = collect(k)
        assert value(s, "kmon_pod_host_network", **labels(k, "")) == 1
        assert not [n for n, l in s if n.startswith("container_network_")
                    and dict(l).get("pod") == k.pod]
    finally:
        k.remove()
