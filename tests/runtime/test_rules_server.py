"""Rules in the server, as users run them: `kmon server --rules 'DIR/*.yaml'` evaluates
recording rules (written back, stale when they go), alerting rules (pending, firing after
`for`, resolved) sent to a real Alertmanager (Debian's prometheus-alertmanager 0.25) whose
webhook receiver is this test's; the `for` state survives kill -9; a bad file on reload
keeps the old rules; /api/v1/rules and /api/v1/alerts answer as Prometheus does."""
import http.server
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.parse

import pytest

from conftest import Proc, free_port, http_get, http_request, wait_ready, wait_until
from rwlib import HEADERS, series_of, snappy, write_request

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")

RULES = """groups:
  - name: test
    interval: 1s
    rules:
      - record: job:test_value:sum
        expr: sum by (job) (test_value)
      - alert: TestHigh
        expr: test_value > 5
        for: {for_}
        labels:
          severity: page
        annotations:
          summary: "{{{{ $labels.instance }}}} is at {{{{ $value }}}}"
"""


def push(base, value, t_ms=None, instance="a"):
    t_ms = t_ms or int(time.time() * 1000)
    body = snappy(write_request([series_of("test_value", t_ms, value, job="j",
                                           instance=instance)]))
    status, _, text = http_request(base + "/api/v1/write", "POST", body, HEADERS)
    assert status == 204, text


def query(base, q):
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": q})
    status, _, body = http_get(url)
    assert status == 200, body
    return json.loads(body)["data"]["result"]


def alerts(base):
    status, _, body = http_get(base + "/api/v1/alerts")
    assert status == 200
    return json.loads(body)["data"]["alerts"]


@pytest.fixture
def rules_dir(tmp_path):
    d = tmp_path / "rules"
    d.mkdir()
    return d


def start_server(tmp_path, rules_dir, *extra, data=None, port=None):
    """A server evaluating the rule files of rules_dir; without the default pack unless
    asked (its alerts would mix with the test's own; the pack has a test of its own)."""
    port = port or free_port()
    data = str(data or tmp_path / "data")
    if not any(str(a).startswith("--default-rules") for a in extra):
        extra = ("--default-rules=false", *extra)
    proc = Proc(["server", "--listen", f"127.0.0.1:{port}", "--data", data, "--rules",
                 str(rules_dir / "*.yaml"), *extra])
    base = f"http://127.0.0.1:{port}"
    wait_ready(base, proc)
    return proc, base, data, port


def test_recording_rule_is_written_back_and_goes_stale(tmp_path, rules_dir):
    (rules_dir / "r.yaml").write_text(RULES.format(for_="2s"))
    proc, base, _, _ = start_server(tmp_path, rules_dir)
    try:
        push(base, 3)
        push(base, 4, instance="b")
        got = wait_until(lambda: query(base, "job:test_value:sum"), what="recorded series",
                       proc=proc)
        assert got[0]["metric"] == {"__name__": "job:test_value:sum", "job": "j"}
        assert got[0]["value"][1] == "7"
        # The rule removed: its series ends with a stale marker (no 5-minute lookback tail).
        (rules_dir / "r.yaml").write_text("groups: []\n")
        status, _, body = http_request(base + "/-/reload", "POST")
        assert status == 200, body
        wait_until(lambda: not query(base, "job:test_value:sum"), timeout=10,
                 what="stale recorded series", proc=proc)
        groups = json.loads(http_get(base + "/api/v1/rules")[2])["data"]["groups"]
        assert groups == []
    finally:
        proc.stop()
        proc.close()


def test_rules_api_and_metrics(tmp_path, rules_dir):
    (rules_dir / "r.yaml").write_text(RULES.format(for_="1h"))
    proc, base, _, _ = start_server(tmp_path, rules_dir)
    try:
        push(base, 9)
        wait_until(lambda: alerts(base), what="a pending alert", proc=proc)
        a = alerts(base)[0]
        assert a["state"] == "pending"
        assert a["labels"] == {"alertname": "TestHigh", "instance": "a", "job": "j",
                               "severity": "page"}
        assert a["annotations"] == {"summary": "a is at 9"}
        assert a["value"] == "9e+00"
        data = json.loads(http_get(base + "/api/v1/rules")[2])["data"]
        g = data["groups"][0]
        assert g["name"] == "test" and g["file"].endswith("r.yaml") and g["interval"] == 1
        rec, alert = g["rules"]
        assert rec["type"] == "recording" and rec["query"] == "sum by (job) (test_value)"
        assert rec["health"] == "ok"
        assert alert["type"] == "alerting" and alert["state"] == "pending"
        assert alert["duration"] == 3600 and alert["labels"] == {"severity": "page"}
        assert len(alert["alerts"]) == 1
        only = json.loads(http_get(base + "/api/v1/rules?type=record")[2])["data"]["groups"]
        assert [r["type"] for r in only[0]["rules"]] == ["recording"]
        status, _, _ = http_get_status(base + "/api/v1/rules?type=nope")
        assert status == 400
        metrics = http_get(base + "/metrics")[2]
        assert 'prometheus_rule_group_rules{rule_group="' in metrics
        assert "prometheus_rule_group_last_duration_seconds" in metrics
        assert 'kmon_ingest_requests_total{protocol="rules"}' in metrics
        # ALERTS is written for a pending alert once the state is restored (2nd evaluation).
        wait_until(lambda: query(base, 'ALERTS{alertstate="pending"}'), what="ALERTS series")
        state = query(base, "ALERTS_FOR_STATE")
        assert abs(float(state[0]["value"][1]) - time.time()) < 30
    finally:
        proc.stop()
        proc.close()


def http_get_status(url):
    return http_request(url)


def test_bad_file_on_reload_keeps_the_old_rules(tmp_path, rules_dir):
    (rules_dir / "r.yaml").write_text(RULES.format(for_="2s"))
    proc, base, _, _ = start_server(tmp_path, rules_dir)
    try:
        (rules_dir / "bad.yaml").write_text(
            "groups:\n  - name: g\n    rules:\n      - record: x\n        expr: sum(up\n")
        status, _, body = http_request(base + "/-/reload", "POST")
        assert status == 500
        assert b"could not parse expression: 1:7: parse error: unclosed left parenthesis" in body
        proc.p.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert proc.p.poll() is None
        assert "the old rules stay" in proc.log()
        groups = json.loads(http_get(base + "/api/v1/rules")[2])["data"]["groups"]
        assert [g["name"] for g in groups] == ["test"]
        metrics = http_get(base + "/metrics")[2]
        assert "prometheus_rule_config_last_reload_successful 0" in metrics
        os.unlink(rules_dir / "bad.yaml")
        proc.p.send_signal(signal.SIGHUP)
        wait_until(lambda: "prometheus_rule_config_last_reload_successful 1" in
                 http_get(base + "/metrics")[2], timeout=10, what="a good reload")
    finally:
        proc.stop()
        proc.close()


def test_bad_file_at_start_is_refused_with_promtools_message(tmp_path, rules_dir):
    (rules_dir / "bad.yaml").write_text("groups:\n  - name: g\n    interval: 5x\n")
    port = free_port()
    p = subprocess.run([os.environ.get("KMON_BIN", "build/kmon"), "server", "--listen",
                        f"127.0.0.1:{port}", "--data", str(tmp_path / "d"), "--rules",
                        str(rules_dir / "*.yaml")], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert 'bad.yaml: not a valid duration string: "5x"' in p.stderr


def test_for_state_survives_kill_9(tmp_path, rules_dir):
    # `for` longer than the grace period (10m): a restored alert keeps its pending time
    # (with a shorter one Prometheus, and kmon, make it wait the grace period instead).
    (rules_dir / "r.yaml").write_text(RULES.format(for_="20m"))
    proc, base, data, port = start_server(tmp_path, rules_dir)
    try:
        push(base, 9)
        first = wait_until(lambda: alerts(base), what="a pending alert", proc=proc)[0]
        # Pending for a while, and ALERTS_FOR_STATE written (after the restore point).
        wait_until(lambda: query(base, "ALERTS_FOR_STATE"), what="ALERTS_FOR_STATE", proc=proc)
        time.sleep(6)
        proc.p.kill()
        proc.p.wait()
    finally:
        proc.close()
    down = time.time()
    proc, base, _, _ = start_server(tmp_path, rules_dir, data=data, port=port)
    try:
        push(base, 9)
        # After the second evaluation the `for` state is restored: the alert is not
        # pending from the restart but from its first activation, the downtime skipped
        # (Prometheus' RestoreForState), so it has ~6 s of pending time behind it.
        def restored():
            a = alerts(base)
            if not a:
                return None
            active = parse_time(a[0]["activeAt"])
            return active if active < time.time() - 4 else None

        active = wait_until(restored, timeout=20, what="the restored for state", proc=proc)
        assert parse_time(first["activeAt"]) <= active
        assert "restored an alert's for state" in proc.log()
    finally:
        proc.stop()
        proc.close()


def parse_time(s):
    from datetime import datetime
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


class Receiver(http.server.BaseHTTPRequestHandler):
    got = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Receiver.got.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.skipif(not ALERTMANAGER, reason="prometheus-alertmanager is not installed")
def test_alert_reaches_a_real_alertmanager_and_resolves(tmp_path, rules_dir):
    Receiver.got = []
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    am_port = free_port()
    cfg = tmp_path / "am.yml"
    cfg.write_text(f"""route:
  receiver: test
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: test
    webhook_configs:
      - url: http://127.0.0.1:{hook.server_address[1]}/hook
        send_resolved: true
""")
    am = subprocess.Popen([ALERTMANAGER, f"--config.file={cfg}",
                           f"--storage.path={tmp_path / 'am'}",
                           f"--web.listen-address=127.0.0.1:{am_port}",
                           "--cluster.listen-address="],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    am_url = f"http://127.0.0.1:{am_port}"
    (rules_dir / "r.yaml").write_text(RULES.format(for_="2s"))
    proc = None
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if http_get(am_url + "/-/ready", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "alertmanager did not start"
            time.sleep(0.1)
        proc, base, _, _ = start_server(tmp_path, rules_dir, "--alertmanager", am_url,
                                        "--external-url", "http://kmon.example:5000")
        ams = json.loads(http_get(base + "/api/v1/alertmanagers")[2])["data"]
        assert ams == {"activeAlertmanagers": [{"url": am_url + "/api/v2/alerts"}],
                       "droppedAlertmanagers": []}
        push(base, 9)
        firing = wait_until(lambda: [m for m in Receiver.got if m["status"] == "firing"],
                          timeout=40, what="a firing notification", proc=proc)[0]
        alert = firing["alerts"][0]
        assert alert["labels"] == {"alertname": "TestHigh", "instance": "a", "job": "j",
                                   "severity": "page"}
        assert alert["annotations"] == {"summary": "a is at 9"}
        assert alert["generatorURL"].startswith(
            "http://kmon.example:5000/graph?g0.expr=test_value+%3E+5")
        am_alerts = json.loads(http_get(am_url + "/api/v2/alerts")[2])
        assert am_alerts[0]["labels"]["alertname"] == "TestHigh"
        push(base, 1)
        wait_until(lambda: [m for m in Receiver.got if m["status"] == "resolved"], timeout=40,
                 what="a resolved notification", proc=proc)
        metrics = http_get(base + "/metrics")[2]
        assert f'prometheus_notifications_sent_total{{alertmanager="{am_url}/api/v2/alerts"}}' \
            in metrics
    finally:
        if proc:
            proc.stop()
            proc.close()
        am.terminate()
        am.wait()
        hook.shutdown()


def history(base, **args):
    url = base + "/api/alerts/history"
    if args:
        url += "?" + urllib.parse.urlencode(args)
    status, _, body = http_get(url)
    assert status == 200, body
    return json.loads(body)["transitions"]


def test_alert_history_is_kept_and_survives_a_restart(tmp_path, rules_dir):
    (rules_dir / "r.yaml").write_text(RULES.format(for_="0s"))
    proc, base, data, port = start_server(tmp_path, rules_dir)
    try:
        push(base, 9)
        wait_until(lambda: [t for t in history(base) if t["state"] == "firing"],
                 what="a firing transition", proc=proc)
        push(base, 1)
        wait_until(lambda: [t for t in history(base) if t["state"] == "inactive"],
                 what="a resolved transition", proc=proc)
        got = history(base, match='TestHigh{instance="a"}')
        assert [(t["from"], t["state"]) for t in got] == [
            ("inactive", "pending"), ("pending", "firing"), ("firing", "inactive")]
        t = got[1]
        assert t["alertname"] == "TestHigh" and t["group"] == "test" and t["value"] == 9
        assert t["labels"]["severity"] == "page" and t["labels"]["instance"] == "a"
        assert history(base, match='{instance="b"}') == []
        assert history(base, **{"from": "2000-01-01T00:00:00Z",
                                "to": "2000-01-02T00:00:00Z"}) == []
        assert len(history(base, limit=1)) == 1
        for bad in ({"from": "yesterday"}, {"limit": "0"}, {"match": "{"},
                    {"from": "2030-01-01T00:00:00Z", "to": "2029-01-01T00:00:00Z"}):
            status, _, body = http_request(base + "/api/alerts/history?" +
                                           urllib.parse.urlencode(bad))
            assert status == 400, (bad, body)
    finally:
        proc.p.kill()
        proc.p.wait()
        proc.close()
    proc, base, _, _ = start_server(tmp_path, rules_dir, data=data, port=port)
    try:
        assert len(history(base, match="TestHigh")) >= 3
    finally:
        proc.stop()
        proc.close()


def rules_of(base):
    groups = json.loads(http_get(base + "/api/v1/rules")[2])["data"]["groups"]
    return {(g["file"], r["name"]) for g in groups for r in g["rules"]}


def test_default_pack_loads_and_user_rules_override_it(tmp_path, rules_dir):
    # No rule flags at all: the pack is there, from the binary.
    port = free_port()
    proc = Proc(["server", "--listen", f"127.0.0.1:{port}", "--data", str(tmp_path / "d0"),
                 "--rules-evaluation-interval", "1s"])
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc)
        got = rules_of(base)
        names = {n for _, n in got}
        assert {"Watchdog", "KubePodCrashLooping", "NodeFilesystemAlmostOutOfSpace",
                "KmonAgentDown"} <= names
        assert all(f.startswith("default/") for f, _ in got)
        # Watchdog fires on the first evaluation.
        wait_until(lambda: [a for a in alerts(base) if a["labels"]["alertname"] == "Watchdog"
                          and a["state"] == "firing"], what="Watchdog firing", proc=proc)
    finally:
        proc.stop()
        proc.close()
    # A rule of the user's with a default rule's name replaces it; --disable-rules drops.
    (rules_dir / "mine.yaml").write_text("""groups:
  - name: mine
    rules:
      - alert: KubePodCrashLooping
        expr: vector(0) > 0
""")
    proc, base, _, _ = start_server(tmp_path, rules_dir, "--default-rules=true",
                                    "--disable-rules", "Watchdog, CPUThrottlingHigh KubeletTooManyPods")
    try:
        got = rules_of(base)
        assert [f for f, n in got if n == "KubePodCrashLooping"] == [
            str(rules_dir / "mine.yaml")]
        names = {n for _, n in got}
        assert not {"Watchdog", "CPUThrottlingHigh", "KubeletTooManyPods"} & names
        assert "KubePodNotReady" in names
    finally:
        proc.stop()
        proc.close()
    proc, base, _, _ = start_server(tmp_path, rules_dir, "--default-rules=false",
                                    data=tmp_path / "d2")
    try:
        assert {f for f, _ in rules_of(base)} == {str(rules_dir / "mine.yaml")}
    finally:
        proc.stop()
        proc.close()
