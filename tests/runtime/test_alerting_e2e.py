"""Alerting end to end, as the issue asks: a pod of the Kubernetes API double starts
crash-looping, `kmon server --cluster-state` stores its kube-state-metrics series, the
default pack's KubePodCrashLooping fires after its `for`, the real Alertmanager
(prometheus-alertmanager 0.25) receives it with the pack's labels and annotations and
passes it to this test's webhook; the pod recovers and the alert resolves there too.

The rule is the pack's own, read from rules/default/kubernetes-apps.yaml, with its time
constants shortened so the test takes seconds (for: 15m → 2s, the [5m] window → [3s]);
everything else — expression, labels, annotation templates — is the pack's."""
import http.server
import json
import os
import re
import shutil
import subprocess
import threading

import pytest
import yaml

from conftest import free_port, http_get, wait_until
from kubeapi import KubeAPI, make_pod
from kubeobjects import make_namespace, make_node, set_container_state
from kubescript import crash_loop

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
PACK = os.path.join(os.path.dirname(__file__), "../../rules/default/kubernetes-apps.yaml")


class Hook(http.server.BaseHTTPRequestHandler):
    got = []

    def do_POST(self):
        Hook.got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def pack_rule(name):
    with open(PACK) as f:
        doc = yaml.safe_load(f)
    for g in doc["groups"]:
        for r in g["rules"]:
            if r.get("alert") == name:
                return dict(r)
    raise AssertionError(f"{name} is not in {PACK}")


@pytest.mark.skipif(not ALERTMANAGER, reason="prometheus-alertmanager is not installed")
def test_crash_looping_pod_fires_and_resolves_through_alertmanager(server_factory, tmp_path):
    rule = pack_rule("KubePodCrashLooping")
    rule["for"] = "2s"
    rule["expr"] = re.sub(r"\[5m\]", "[3s]", rule["expr"])
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "kubernetes-apps", "interval": "1s",
                                                 "rules": [rule]}]}))
    Hook.got = []
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    am_port = free_port()
    (tmp_path / "am.yml").write_text(f"""route:
  receiver: hook
  group_by: [alertname, namespace]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: http://127.0.0.1:{hook.server_address[1]}/
        send_resolved: true
""")
    am = subprocess.Popen([ALERTMANAGER, f"--config.file={tmp_path / 'am.yml'}",
                           f"--storage.path={tmp_path / 'am'}",
                           f"--web.listen-address=127.0.0.1:{am_port}",
                           "--cluster.listen-address="],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    am_url = f"http://127.0.0.1:{am_port}"
    try:
        def am_ready():
            try:
                return http_get(am_url + "/-/ready", timeout=2)[0] == 200
            except OSError:
                return False

        wait_until(am_ready, 20, "alertmanager ready")
        with KubeAPI(tmp_path / "api", bookmark_interval=1.0) as api:
            api.add(make_node("node-1"))
            api.add(make_namespace("shop"))
            api.add(make_pod("web-0", "shop", "node-1", containers=["app"]))
            kc = api.write_kubeconfig(tmp_path / "kubeconfig")
            proc, base, _ = server_factory(
                "--cluster-state", "--kubeconfig", str(kc), "--cluster", "c1",
                "--cluster-state-interval", "300ms", "--rules", str(rules),
                "--default-rules=false", "--alertmanager", am_url)
            crash_loop(api, "shop", "web-0", "app", times=3)
            firing = wait_until(lambda: [m for m in Hook.got if m["status"] == "firing"], 60,
                          "a firing KubePodCrashLooping at the webhook", proc)[0]
            alert = firing["alerts"][0]
            assert alert["labels"]["alertname"] == "KubePodCrashLooping"
            assert alert["labels"]["severity"] == "warning"
            for k, v in {"namespace": "shop", "pod": "web-0", "container": "app",
                         "cluster": "c1", "reason": "CrashLoopBackOff"}.items():
                assert alert["labels"].get(k) == v, alert["labels"]
            ann = alert["annotations"]
            assert ann["summary"] == "Pod is crash looping."
            assert ann["description"] == ('Pod shop/web-0 (app) is in waiting state '
                                          '(reason: "CrashLoopBackOff").')
            assert ann["runbook_url"].endswith("/kubernetes/kubepodcrashlooping")
            # The history has it, pending then firing.
            hist = json.loads(http_get(base + "/api/alerts/history?match=KubePodCrashLooping")[2])
            assert [t["state"] for t in hist["transitions"]][:2] == ["pending", "firing"]
            # The pod recovers: the alert resolves, and Alertmanager says so.
            api.modify("Pod", "shop", "web-0", lambda p: set_container_state(p, "app", "Running"))
            wait_until(lambda: [m for m in Hook.got if m["status"] == "resolved"], 60,
                 "a resolved KubePodCrashLooping at the webhook", proc)
    finally:
        am.terminate()
        am.wait()
        hook.shutdown()
