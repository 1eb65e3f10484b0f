"""The rights deploy/'s agent DaemonSet grants are the ones the agent needs: the agent runs
as the manifest runs it (uid 0, every capability dropped but those the rendered DaemonSet
adds, no new privileges) against a real pod whose processes belong to another user in
their own network namespace, and measures the pod's network; and it cannot without
SYS_PTRACE, nor from a PID namespace of its own (hostPID: false). Reuses the kubepods
tree of test_agent_pods.py. Needs root, iproute2 and util-linux (setpriv, unshare)."""
import os
import shutil
import subprocess
import time

import pytest
import yaml

from conftest import KMON, parse_exposition
from test_agent_pods import NODE, KubePods, labels, pause_bin  # noqa: F401 (a fixture)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="creating cgroups and namespaces needs root"),
    pytest.mark.skipif(not all(shutil.which(t) for t in ("ip", "setpriv", "unshare")),
                       reason="needs ip (iproute2), setpriv and unshare (util-linux)"),
]


def daemonset():
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.skip("kubectl is not installed")
    r = subprocess.run([kubectl, "kustomize", os.path.join(ROOT, "deploy/overlays/single")],
                       capture_output=True, text=True, timeout=120, check=True)
    return next(d for d in yaml.safe_load_all(r.stdout) if d and d["kind"] == "DaemonSet")


def as_manifest(caps):
    """setpriv arguments: the container's capabilities (drop ALL, add caps), uid 0, and
    allowPrivilegeEscalation: false (no_new_privs)."""
    bounding = ",".join(["-all"] + [f"+{c.lower()}" for c in caps])
    return ["setpriv", "--no-new-privs", f"--bounding-set={bounding}", "--inh-caps=-all"]


def pod_network(k, prefix, pod_if):
    r = subprocess.run([*prefix, KMON, "agent", "--once", "--interval", "100ms", "--format",
                        "prom", "--host-root", str(k.root), "--node-name", NODE,
                        "--no-kubernetes", "--disable-collectors", "filesystem,logs"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    samples, _, _ = parse_exposition(r.stdout)
    pod = labels(k, "")
    assert [1 for n, l in samples if n == "container_cpu_usage_seconds_total"
            and all(dict(l).get(a) == b for a, b in pod.items())], "the pod itself was not seen"
    want = dict(pod, interface=pod_if)
    return [v for (n, l), v in samples.items() if n == "container_network_transmit_bytes_total"
            and all(dict(l).get(a) == b for a, b in want.items())]


def test_the_daemonsets_rights_suffice_and_are_needed(tmp_path, pause_bin):  # noqa: F811
    c = daemonset()["spec"]["template"]
    caps = c["spec"]["containers"][0]["securityContext"]["capabilities"]["add"]
    assert c["spec"]["hostPID"] is True
    k = KubePods(tmp_path, ["app"])
    ns = f"kmon-rights-{os.getpid()}"
    host_if, pod_if = f"krh{os.getpid() % 10000}", f"krp{os.getpid() % 10000}"
    try:
        try:
            subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)
        except subprocess.CalledProcessError as e:
            pytest.skip(f"cannot create a network namespace: {e.stderr.decode().strip()}")
        sh = lambda *a: subprocess.run(a, check=True, capture_output=True)
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", pod_if)
        sh("ip", "link", "set", pod_if, "netns", ns)
        sh("ip", "link", "set", host_if, "up")
        sh("ip", "netns", "exec", ns, "ip", "link", "set", pod_if, "up")
        # The pod's process: another user (as most pods run), in the pod's network.
        k.add("POD", ["ip", "netns", "exec", ns, "setpriv", "--reuid=65534", "--regid=65534",
                      "--clear-groups", pause_bin, "600"])
        time.sleep(0.3)
        assert pod_network(k, as_manifest(caps), pod_if), \
            f"the pod's network was not measured with capabilities {caps}"
        # Without SYS_PTRACE the pod process's /proc/<pid>/ns/net cannot be read.
        less = [x for x in caps if x != "SYS_PTRACE"]
        assert pod_network(k, as_manifest(less), pod_if) == []
        # In a PID namespace of its own (hostPID: false), with the host's /proc mounted
        # as the DaemonSet does, the pod's cgroup.procs hides every pid from the agent.
        assert pod_network(k, ["unshare", "--pid", "--fork", *as_manifest(caps)], pod_if) == []
    finally:
        k.remove()
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
