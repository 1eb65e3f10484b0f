"""The MCP endpoint (docs/mcp.md): `POST /mcp` (Streamable HTTP) and `kmon mcp --server`
(stdio), driven by the real client of the MCP SDK from npm (mcp_client.cjs) over both
transports against a server loaded with a small cluster (test_server_api_state.py's
load_state: nodes, pods crash-looping, pending, evicted; its cgroup series), Kubernetes
events and container logs pushed through the Loki API, and a rule that fires. Every tool
is called with good and bad arguments and its answer checked against what was loaded;
the JSON-RPC framing, the transport's status codes and the token gate are checked with
plain HTTP requests."""
import json
import os
import shutil
import subprocess
import time
import urllib.parse

import pytest

import rwlib
from conftest import KMON, http_request, wait_until
from test_server_api_state import API, CRON, MI, WEB1, WEB2, WEB3, load_state

NODE = shutil.which("node")
NODE_MODULES = os.environ.get(
    "KMON_NODE_MODULES", os.path.join(os.path.dirname(__file__), "../../web/node_modules"))
CLIENT = os.path.join(os.path.dirname(__file__), "mcp_client.cjs")

RULES = """groups:
  - name: pods
    interval: 1s
    rules:
      - alert: PodRestartingOften
        expr: kube_pod_container_status_restarts_total > 10
        labels: {severity: warning}
        annotations: {summary: "{{ $labels.pod }} restarted {{ $value }} times"}
"""

JSON_HEADERS = {"Content-Type": "application/json",
                "Accept": "application/json, text/event-stream"}


def need_sdk():
    if not NODE:
        pytest.skip("node is not installed")
    if not os.path.isdir(os.path.join(NODE_MODULES, "@modelcontextprotocol/sdk")):
        pytest.skip(f"the MCP SDK is not installed in {NODE_MODULES}: run "
                    "scripts/web-deps.sh test")


def run_client(tmp_path, mode, base, plan, token_file=None):
    need_sdk()
    f = tmp_path / f"plan-{mode}.json"
    f.write_text(json.dumps(plan))
    args = [NODE, CLIENT, mode, base, KMON, str(f)] + ([str(token_file)] if token_file else [])
    r = subprocess.run(args, env=dict(os.environ, NODE_PATH=NODE_MODULES), capture_output=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    return json.loads(r.stdout)


def push_logs(base, streams, headers=None):
    body = json.dumps({"streams": streams}).encode()
    st, _, b = http_request(base + "/loki/api/v1/push", "POST", body,
                            {"Content-Type": "application/json", **(headers or {})})
    assert st == 204, b


def load_logs(base):
    ns = time.time_ns()
    ev = dict(source="kubernetes-events", namespace="shop", kind="Pod", name=API,
              reason="BackOff", type="Warning", cluster="c1")
    push_logs(base, [
        {"stream": ev, "values": [
            [str(ns - 3_000_000_000), f'type=Warning reason=BackOff kind=Pod name={API} '
                                      'msg="Back-off restarting failed container api"'],
            [str(ns - 2_000_000_000), f'type=Warning reason=BackOff kind=Pod name={API} '
                                      'msg="Back-off restarting failed container api" count=2']]},
        {"stream": dict(namespace="shop", pod=API, container="api", cluster="c1"),
         "values": [[str(ns - 5_000_000_000 + i * 1_000_000), f"line {i} error: db down"]
                    for i in range(30)] +
                   [[str(ns - 1_000_000_000), "x" * 1000]]},
    ])


def load_metadata(base):
    body = rwlib.write_request([]) + rwlib.metadata(
        "counter", "kube_pod_container_status_restarts_total",
        "The number of container restarts per container.")
    st, _, b = http_request(base + "/api/v1/write", "POST", rwlib.snappy(body), rwlib.HEADERS)
    assert st == 204, b


@pytest.fixture
def loaded(server_factory, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    _, base, _ = server_factory("--rules", str(rules))
    load_state(base)
    load_logs(base)
    load_metadata(base)

    def firing():
        st, _, b = http_request(base + "/api/v1/alerts")
        return st == 200 and any(a["state"] == "firing" for a in json.loads(b)["data"]["alerts"])
    wait_until(firing, what="the rule's alert firing")
    return base


def promql(base, q):
    """{pod label (or ""): value} of an instant query through /api/v1/query."""
    st, _, b = http_request(base + "/api/v1/query?" + urllib.parse.urlencode({"query": q}))
    assert st == 200, b
    return {r["metric"].get("pod", ""): float(r["value"][1])
            for r in json.loads(b)["data"]["result"]}


def text_of(result):
    assert "error" not in result, result
    assert len(result["content"]) == 1 and result["content"][0]["type"] == "text", result
    return result["content"][0]["text"]


def ok(result):
    assert result.get("isError") is False, result
    return json.loads(text_of(result))


def failed(result):
    assert result.get("isError") is True, result
    return text_of(result)


# What each tool is called with, good then bad: (name, arguments).
PLAN = {
    "prompts": {"investigate-pod": {"namespace": "shop", "pod": API},
                "node-pressure": {"node": "n1"}},
    "calls": [
        {"name": "cluster_overview", "arguments": {}},
        {"name": "promql_query", "arguments": {"query": 'sum(kube_node_status_capacity{resource="cpu"})'}},
        {"name": "promql_query", "arguments": {"query": "kube_pod_container_status_restarts_total", "limit": 2}},
        {"name": "promql_query", "arguments": {"query": "sum(rate(x[5m]"}},
        {"name": "promql_query", "arguments": {}},
        {"name": "promql_range", "arguments": {"query": f'kube_pod_container_status_restarts_total{{pod="{API}"}}', "range": "2m", "step": "10s"}},
        {"name": "promql_range", "arguments": {"query": "up", "range": "soon"}},
        {"name": "list_metrics", "arguments": {"contains": "kube_pod_container_status_re"}},
        {"name": "list_metrics", "arguments": {"limit": 0}},
        {"name": "label_values", "arguments": {"label": "pod", "match": 'kube_pod_info{namespace="shop"}'}},
        {"name": "label_values", "arguments": {"label": "1pod"}},
        {"name": "top_pods", "arguments": {"by": "cpu"}},
        {"name": "top_pods", "arguments": {"by": "memory"}},
        {"name": "top_pods", "arguments": {"by": "restarts", "namespace": "shop", "limit": 2}},
        {"name": "top_pods", "arguments": {"by": "disk"}},
        {"name": "top_nodes", "arguments": {"by": "memory"}},
        {"name": "top_nodes", "arguments": {"by": "restarts"}},
        {"name": "top_nodes", "arguments": {"limit": "ten"}},
        {"name": "describe_pod", "arguments": {"namespace": "shop", "pod": API}},
        {"name": "describe_pod", "arguments": {"namespace": "shop", "pod": "nope-0"}},
        {"name": "describe_pod", "arguments": {"namespace": "shop", "pod": 'x"}'}},
        {"name": "search_logs", "arguments": {"query": '{source="kubernetes-events", namespace="shop"}'}},
        {"name": "search_logs", "arguments": {"query": f'{{pod="{API}"}} |= "error"', "limit": 5}},
        {"name": "search_logs", "arguments": {"query": f'{{pod="{API}"}} |= "xxxx"'}},
        {"name": "search_logs", "arguments": {"query": '{pod="a"'}},
        {"name": "active_alerts", "arguments": {"state": "firing"}},
        {"name": "active_alerts", "arguments": {"state": "gone"}},
        {"name": "alert_history", "arguments": {"alertname": "PodRestartingOften"}},
        {"name": "alert_history", "arguments": {"range": "-1h"}},
        {"name": "no_such_tool", "arguments": {}},
    ],
}


def check_session(out, base, tmp_path):
    tools = {t["name"]: t for t in out["tools"]}
    assert set(tools) == {"promql_query", "promql_range", "list_metrics", "label_values",
                          "cluster_overview", "top_pods", "top_nodes", "describe_pod",
                          "search_logs", "active_alerts", "alert_history"}
    for t in tools.values():
        assert t["inputSchema"]["type"] == "object" and t["description"], t
    assert "container_memory_working_set_bytes" in tools["promql_query"]["description"]
    assert "kube_pod_status_phase" in tools["cluster_overview"]["description"]
    assert out["server"]["name"] == "kmon"
    assert {"tools", "resources", "prompts"} <= set(out["capabilities"])

    # Resources: the catalogue names every metric, with TYPE and HELP where known.
    assert {r["uri"] for r in out["resources"]} == {"kmon://metrics", "kmon://rules"}
    cat = out["reads"]["kmon://metrics"]["contents"][0]["text"].splitlines()
    assert ("kube_pod_container_status_restarts_total counter The number of container "
            "restarts per container.") in cat
    assert "kube_pod_info unknown" in cat
    rules = json.loads(out["reads"]["kmon://rules"]["contents"][0]["text"])
    (g,) = [g for g in rules if g["group"] == "pods"]
    assert g["rules"][0]["name"] == "PodRestartingOften"
    assert g["rules"][0]["query"] == "kube_pod_container_status_restarts_total > 10"
    assert out["badRead"]["code"] == -32002

    # Prompts, with their arguments in the text.
    assert {p["name"] for p in out["prompts"]} == {"investigate-pod", "node-pressure"}
    ip = out["gotPrompts"]["investigate-pod"]["messages"][0]["content"]["text"]
    assert f'pod "{API}"' in ip and "describe_pod" in ip
    assert 'node="n1"' in out["gotPrompts"]["node-pressure"]["messages"][0]["content"]["text"]

    calls = out["calls"]
    it = iter(calls)

    def nxt(name):
        c = next(it)
        assert c["name"] == name, c
        return c["result"]

    o = ok(nxt("cluster_overview"))
    assert o["nodes"] == 2 and o["nodes_not_ready"] == 1 and o["nodes_reporting"] == 1
    assert o["pods"] == 6
    assert o["pods_by_phase"] == {"Running": 2, "Pending": 2, "Failed": 1, "Succeeded": 1}
    assert o["cpu_cores"] == 8 and o["memory_bytes"] == 8 * 1024 * MI
    assert o["memory_bytes_used"] == 2 * 1024 * MI
    # The rate over 5m of series 2 minutes old is extrapolated as PromQL does: the same as
    # /api/v1/query's answer.
    assert o["cpu_cores_used"] == pytest.approx(
        promql(base, 'sum(rate(node_cpu_seconds_total{mode!="idle"}[5m]))')[""], rel=0.02)  # evaluated a moment apart
    assert o["cpu_cores_requested"] == pytest.approx(0.25)
    assert o["alerts_firing"] == 1 and o["firing_alerts_by_name"] == {"PodRestartingOften": 1}

    assert ok(nxt("promql_query")) == {"resultType": "vector", "series": 1,
                                       "result": [{"labels": {}, "value": 8}]}
    o = ok(nxt("promql_query"))
    assert o["resultType"] == "vector" and o["series"] == 6 and len(o["result"]) == 2
    assert [r["value"] for r in o["result"]] == [40, 1]
    assert o["result"][0]["labels"]["pod"] == API
    assert o["more"].startswith("4 more series")
    # A parse error is the engine's own message, as /api/v1/query gives it.
    st, _, b = http_request(base + "/api/v1/query?query=sum%28rate%28x%5B5m%5D")
    msg = failed(nxt("promql_query"))
    api_msg = json.loads(b)["error"].removeprefix('invalid parameter "query": ')
    assert msg == "the PromQL does not parse: " + api_msg
    assert "unclosed left parenthesis" in msg
    assert 'argument "query" is required' in failed(nxt("promql_query"))

    o = ok(nxt("promql_range"))
    (s,) = o["result"]
    assert s["labels"]["pod"] == API and s["labels"]["container"] == "api"
    assert (s["min"], s["avg"], s["max"], s["last"], s["trend"]) == (40, 40, 40, 40, "flat")
    assert o["step_seconds"] == 10 and s["points"] >= 10
    assert "positive duration" in failed(nxt("promql_range"))

    o = ok(nxt("list_metrics"))
    assert o["result"] == [{"name": "kube_pod_container_status_restarts_total", "type": "counter",
                            "help": "The number of container restarts per container."}]
    assert "from 1 to 200" in failed(nxt("list_metrics"))

    o = ok(nxt("label_values"))
    assert o["result"] == sorted([WEB1, WEB2, WEB3, API, CRON, "report-x"])
    assert "not a label name" in failed(nxt("label_values"))

    o = ok(nxt("top_pods"))
    want = promql(base, 'sum by (pod) (rate(container_cpu_usage_seconds_total[5m]))')
    assert [(r["pod"], r["value"]) for r in o["result"]] == [
        (p, pytest.approx(want[p], rel=0.02)) for p in (WEB1, CRON, "db-0")]
    assert want[WEB1] > want[CRON] > want["db-0"] > 0
    assert o["unit"] == "cores" and o["total"] == 3
    o = ok(nxt("top_pods"))
    assert [(r["pod"], r["value"]) for r in o["result"]] == [(WEB1, 150 * MI)]
    o = ok(nxt("top_pods"))
    assert [(r["pod"], r["value"]) for r in o["result"]] == [(API, 40), (WEB1, 1)]
    assert o["total"] == 5 and o["more"] == "3 more"
    assert 'one of "cpu", "memory", "restarts"' in failed(nxt("top_pods"))

    o = ok(nxt("top_nodes"))
    assert [(r["node"], r["value"]) for r in o["result"]] == [("n1", 25)]
    o = ok(nxt("top_nodes"))
    assert [(r["node"], r["value"]) for r in o["result"]] == [("n1", 41), ("n2", 0)]
    assert "integer" in failed(nxt("top_nodes"))

    o = ok(nxt("describe_pod"))
    assert (o["phase"], o["node"], o["owner_kind"], o["owner_name"]) == (
        "Running", "n1", "ReplicaSet", "api-5f6d7c8b9")
    api = o["containers"]["api"]
    assert api["restarts"] == 40 and api["waiting_reason"] == "CrashLoopBackOff"
    assert api["last_terminated_reason"] == "Error" and api["limits"] == {"memory": 64 * MI}
    assert len(o["recent_events"]) == 2 and "Back-off restarting" in o["recent_events"][0]
    assert "count=2" in o["recent_events"][0]  # newest first
    msg = failed(nxt("describe_pod"))
    assert 'no pod "nope-0" in namespace "shop"' in msg and "label_values" in msg
    assert "plain name" in failed(nxt("describe_pod"))

    o = ok(nxt("search_logs"))
    assert o["streams"] == 1 and o["entries"] == 2
    assert o["result"][0]["stream"]["reason"] == "BackOff"
    o = ok(nxt("search_logs"))
    assert o["entries"] == 5 and "more" in o
    assert [e["line"] for e in o["result"][0]["entries"]] == [
        f"line {i} error: db down" for i in (29, 28, 27, 26, 25)]
    o = ok(nxt("search_logs"))  # a long line is cut
    assert o["entries"] == 1 and o["result"][0]["entries"][0]["line"] == "x" * 400
    assert "the LogQL does not parse: parse error" in failed(nxt("search_logs"))

    o = ok(nxt("active_alerts"))
    assert o["alerts"] == 1
    (a,) = o["result"]
    assert a["alertname"] == "PodRestartingOften" and a["state"] == "firing"
    assert a["labels"]["pod"] == API and a["summary"] == f"{API} restarted 40 times"
    assert "must be one of" in failed(nxt("active_alerts"))

    o = ok(nxt("alert_history"))
    assert o["transitions"] >= 2
    assert {r["alertname"] for r in o["result"]} == {"PodRestartingOften"}
    assert all(r["labels"]["pod"] == API and r["summary"] == f"{API} restarted 40 times"
               for r in o["result"] if r["state"] == "firing")
    assert [r["state"] for r in o["result"]][:2] == ["pending", "firing"]
    assert "positive duration" in failed(nxt("alert_history"))

    c = next(it)
    assert c["result"]["error"]["code"] == -32602 and "Unknown tool" in c["result"]["error"]["message"]


def test_sdk_client_over_http(loaded, tmp_path):
    out = run_client(tmp_path, "http", loaded, PLAN)
    assert out["sessionId"] and len(out["sessionId"]) == 48
    assert out["protocolVersion"] == "2025-06-18"
    check_session(out, loaded, tmp_path)


def test_sdk_client_over_stdio(loaded, tmp_path):
    out = run_client(tmp_path, "stdio", loaded, PLAN)
    check_session(out, loaded, tmp_path)


# ---- the transport and the framing, by hand ---------------------------------------------------

def post(base, body, headers=None, raw=False):
    h = dict(JSON_HEADERS, **(headers or {}))
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    st, hd, b = http_request(base + "/mcp", "POST", data, h)
    return st, hd, (b if raw else (json.loads(b) if b else None))


def init(version="2025-06-18"):
    return {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": version, "capabilities": {},
                       "clientInfo": {"name": "t", "version": "1"}}}


def test_framing_and_transport(server_factory):
    _, base, _ = server_factory("--max-request-bytes", "1MiB")
    st, h, d = post(base, init())
    assert st == 200 and d["result"]["protocolVersion"] == "2025-06-18"
    sid = h["Mcp-Session-Id"]
    # Negotiation: a version kmon speaks is answered as asked, another with the newest.
    assert post(base, init("2025-03-26"))[2]["result"]["protocolVersion"] == "2025-03-26"
    assert post(base, init("2024-01-01"))[2]["result"]["protocolVersion"] == "2025-06-18"
    assert post(base, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
                )[2]["error"]["code"] == -32602
    # With the session: ping; a forged session is 404.
    st, _, d = post(base, {"jsonrpc": "2.0", "id": "a", "method": "ping"},
                    {"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-06-18"})
    assert st == 200 and d == {"jsonrpc": "2.0", "id": "a", "result": {}}
    st, _, d = post(base, {"jsonrpc": "2.0", "id": 2, "method": "ping"},
                    {"Mcp-Session-Id": sid[:-1] + ("0" if sid[-1] != "0" else "1")})
    assert st == 404 and d["error"]["code"] == -32600
    # Notifications and responses: 202, no body.
    st, _, b = post(base, {"jsonrpc": "2.0", "method": "notifications/initialized"}, raw=True)
    assert (st, b) == (202, b"")
    st, _, b = post(base, {"jsonrpc": "2.0", "id": 9, "result": {}}, raw=True)
    assert (st, b) == (202, b"")
    # Errors with the standard codes.
    st, _, d = post(base, b'{"jsonrpc": "2.0", "id": 1, "method": ')
    assert st == 400 and d["error"]["code"] == -32700 and d["id"] is None
    assert post(base, {"jsonrpc": "1.0", "id": 3, "method": "ping"})[2]["error"]["code"] == -32600
    assert post(base, {"jsonrpc": "2.0", "id": None, "method": "ping"})[2]["error"]["code"] == -32600
    assert post(base, {"jsonrpc": "2.0", "id": 3, "method": "ping", "params": [1]}
                )[2]["error"]["code"] == -32600
    d = post(base, {"jsonrpc": "2.0", "id": 4, "method": "tools/lisst"})[2]
    assert d["error"]["code"] == -32601 and d["id"] == 4
    d = post(base, {"jsonrpc": "2.0", "id": 5, "method": "tools/call",
                    "params": {"name": "top_pods", "arguments": [1]}})[2]
    assert d["error"]["code"] == -32602
    d = post(base, {"jsonrpc": "2.0", "id": 6, "method": "prompts/get",
                    "params": {"name": "investigate-pod", "arguments": {"pod": "x"}}})[2]
    assert d["error"]["code"] == -32602 and '"namespace"' in d["error"]["message"]
    # Batches: under 2025-03-26 (and without the header) answered as an array of the
    # requests' answers; under 2025-06-18 refused.
    batch = [{"jsonrpc": "2.0", "id": 1, "method": "ping"},
             {"jsonrpc": "2.0", "method": "notifications/initialized"},
             {"jsonrpc": "2.0", "id": 2, "method": "nope"}, 7]
    for hdr in ({}, {"MCP-Protocol-Version": "2025-03-26"}):
        st, _, d = post(base, batch, hdr)
        assert st == 200 and [x.get("id") for x in d] == [1, 2, None]
        assert d[0]["result"] == {} and d[1]["error"]["code"] == -32601
        assert d[2]["error"]["code"] == -32600
    st, _, d = post(base, batch, {"MCP-Protocol-Version": "2025-06-18"})
    assert st == 400 and d["error"]["code"] == -32600
    assert post(base, [])[2]["error"]["code"] == -32600
    st, _, d = post(base, {"jsonrpc": "2.0", "id": 1, "method": "ping"},
                    {"MCP-Protocol-Version": "1999-01-01"})
    assert st == 400 and "unsupported MCP-Protocol-Version" in d["error"]["message"]
    # The transport's statuses.
    assert post(base, init(), {"Content-Type": "text/plain"})[0] == 415
    assert post(base, init(), {"Accept": "text/html"})[0] == 406
    st, h, _ = http_request(base + "/mcp")
    assert st == 405 and "POST" in h["Allow"]
    st, _, _ = http_request(base + "/mcp", "DELETE", headers={"Mcp-Session-Id": sid})
    assert st == 204
    # Bodies are bounded by the server's body limit (--max-request-bytes).
    st, _, _ = post(base, b"[" + b" " * (2 * 1024 * 1024) + b"]", raw=True)
    assert st == 413


def test_token_gate(server_factory, tmp_path):
    import hashlib
    tok = "mcp-reader-0123456789"
    f = tmp_path / "tokens.yaml"
    f.write_text("tokens:\n  - name: reader\n    sha256: "
                 f"{hashlib.sha256(tok.encode()).hexdigest()}\n    scope: read\n")
    _, base, _ = server_factory("--tokens", str(f))
    st, _, _ = post(base, init())
    assert st == 401
    st, _, _ = post(base, init(), {"Authorization": "Bearer wrong"})
    assert st == 401
    st, _, d = post(base, init(), {"Authorization": f"Bearer {tok}"})
    assert st == 200 and d["result"]["serverInfo"]["name"] == "kmon"
    tf = tmp_path / "token"
    tf.write_text(tok + "\n")
    plan = {"calls": [{"name": "promql_query", "arguments": {"query": "1 + 1"}}]}
    for mode in ("http", "stdio"):
        out = run_client(tmp_path, mode, base, plan, token_file=tf)
        assert ok(out["calls"][0]["result"]) == {"resultType": "scalar", "value": 2}
    # Without the token the stdio command answers the client's request with an error
    # naming the refusal, and exits 0 at the end of its input.
    r = subprocess.run([KMON, "mcp", "--server", base],
                       input=json.dumps(init()).encode() + b"\n", capture_output=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    (line,) = r.stdout.decode().splitlines()
    d = json.loads(line)
    assert d["id"] == 1 and d["error"]["code"] == -32603 and "401" in d["error"]["message"]


def test_stdio_command_alone(server_factory):
    _, base, _ = server_factory()
    r = subprocess.run([KMON, "mcp", "--help"], capture_output=True, timeout=30)
    assert r.returncode == 0 and b"--server" in r.stdout and b"--token-file" in r.stdout
    r = subprocess.run([KMON, "mcp"], capture_output=True, timeout=30)
    assert r.returncode == 2 and b"--server URL is required" in r.stderr
    msgs = [init(), {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, "{oops"]
    stdin = b"".join((m if isinstance(m, str) else json.dumps(m)).encode() + b"\n"
                     for m in msgs)
    r = subprocess.run([KMON, "mcp", "--server", base + "/"], input=stdin, capture_output=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.decode().splitlines()]
    assert [x.get("id") for x in lines] == [1, 2, None]
    assert len(lines[1]["result"]["tools"]) == 11 and lines[2]["error"]["code"] == -32700
    # A server that is not there: the request is answered with an error, status 0.
    r = subprocess.run([KMON, "mcp", "--server", "http://127.0.0.1:9"],
                       input=json.dumps(init()).encode() + b"\n", capture_output=True,
                       timeout=30)
    assert r.returncode == 0 and json.loads(r.stdout)["error"]["code"] == -32603
    assert b"cannot reach" in r.stderr
