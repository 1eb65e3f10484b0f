"""deploy/: every kustomize overlay renders with the real kubectl, every rendered object
passes the Kubernetes OpenAPI schema strictly (tests/deploy/validate.mjs: the npm
kubernetes-models validators plus unknown fields refused) and kmon's own policy
(tests/deploy/policy.py); negative fixtures prove both checks refuse what they should.
The RBAC granted is compared with the API paths the C sources request."""
import copy
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
DEPLOY = os.path.join(ROOT, "deploy")
TOOLS = os.path.join(ROOT, "tests/deploy")
FIXTURES = os.path.join(TOOLS, "fixtures")
NODE_MODULES = os.environ.get("KMON_NODE_MODULES", os.path.join(ROOT, "web/node_modules"))
OVERLAYS = sorted(os.path.basename(p) for p in glob.glob(os.path.join(DEPLOY, "overlays/*")))
KUBECTL = shutil.which("kubectl")
NODE = shutil.which("node")

sys.path.insert(0, TOOLS)
import conftest  # noqa: E402
import policy  # noqa: E402


def render(path):
    if not KUBECTL:
        pytest.skip("kubectl is not installed (its built-in kustomize renders deploy/)")
    r = subprocess.run([KUBECTL, "kustomize", path], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, f"kubectl kustomize {path}: {r.stderr}"
    return [d for d in yaml.safe_load_all(r.stdout) if d]


def validate(objects):
    """(exit status, problem lines) of validate.mjs over the objects."""
    if not NODE:
        pytest.skip("node is not installed")
    if not os.path.isdir(os.path.join(NODE_MODULES, "kubernetes-models")):
        pytest.skip(f"kubernetes-models is not installed in {NODE_MODULES}: run "
                    "scripts/web-deps.sh test")
    r = subprocess.run([NODE, os.path.join(TOOLS, "validate.mjs")], input=json.dumps(objects),
                       capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, KMON_NODE_MODULES=NODE_MODULES))
    assert r.returncode in (0, 1), r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines and lines[-1].startswith(f"validate: {len(objects)} objects"), r.stdout
    return r.returncode, lines[:-1]


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def by_kind(objects, kind, name=None):
    return [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]


def test_the_overlays_are_the_documented_ones():
    assert OVERLAYS == ["agent-cluster", "host-cluster", "single", "single-nodeport"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_validates_strictly(overlay):
    objects = render(os.path.join(DEPLOY, "overlays", overlay))
    assert len(objects) >= 8
    rc, problems = validate(objects)
    assert rc == 0 and problems == [], "\n".join(problems)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_meets_the_policy(overlay):
    objects = render(os.path.join(DEPLOY, "overlays", overlay))
    assert policy.check(objects) == []
    # The command-line form users run says the same.
    r = subprocess.run([sys.executable, os.path.join(TOOLS, "policy.py")],
                       input=yaml.safe_dump_all(objects), capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.endswith("0 problems\n"), r.stdout


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_come_from_the_kustomize_images_entry(overlay):
    version = re.search(r"project\(kmon VERSION (\S+)",
                        open(os.path.join(ROOT, "CMakeLists.txt")).read()).group(1)
    for o in render(os.path.join(DEPLOY, "overlays", overlay)):
        for c in policy.pod_spec(o).get("containers", []) if o["kind"] in policy.WORKLOADS else []:
            assert c["image"] == f"kmon:{version}", (o["metadata"]["name"], c["image"])


def test_the_strict_check_refuses_unknown_fields():
    rc, problems = validate(fixture("bad-unknown-field.yaml"))
    assert rc == 1
    assert sorted(problems) == [
        'Deployment/fixture/unknown-field: /spec/template/spec/containers/0/securityContext/'
        'readOnlyRootFileSystem: unknown field "readOnlyRootFileSystem" (not in the schema)',
        'Deployment/fixture/unknown-field: /spec/template/spec/hostNetwrok: '
        'unknown field "hostNetwrok" (not in the schema)',
    ]


def test_the_strict_check_refuses_an_unknown_field_in_a_rendered_overlay():
    objects = render(os.path.join(DEPLOY, "overlays/single"))
    ds = copy.deepcopy(by_kind(objects, "DaemonSet")[0])
    ds["spec"]["template"]["spec"]["tolerations"][0]["efect"] = "NoSchedule"
    ds["spec"]["template"]["spec"]["volumes"][0]["hostPath"]["readonly"] = True
    rc, problems = validate([ds])
    assert rc == 1 and len(problems) == 2, problems
    assert all("unknown field" in p for p in problems), problems


def test_the_model_validator_refuses_wrong_types_and_unknown_kinds():
    rc, problems = validate(fixture("bad-type.yaml") +
                            [{"apiVersion": "v1", "kind": "Nope", "metadata": {"name": "x"}}])
    assert rc == 1
    assert problems == ["Deployment/fixture/wrong-type: /: data/spec/replicas must be integer",
                        "Nope/-/x: /: no model for v1 Nope"]


def test_maps_and_free_form_values_are_not_unknown_fields():
    rc, problems = validate(fixture("good.yaml") + fixture("good-exception.yaml"))
    assert (rc, problems) == (0, [])


def test_the_policy_refuses_bad_workloads():
    assert policy.check(fixture("good.yaml")) == []
    assert policy.check(fixture("good-exception.yaml")) == []
    assert policy.check(fixture("bad-privileged.yaml")) == [
        "Deployment/other/privileged: container 'app': privileged: true"]
    assert policy.check(fixture("bad-images.yaml")) == [
        "Deployment/other/images: container 'app': image 'registry.example:5000/app:latest' "
        "uses the tag latest",
        "Deployment/other/images: container 'sidecar': image 'registry.example:5000/app' "
        "has no tag"]
    assert policy.check(fixture("bad-bare.yaml")) == [
        "Deployment/other/bare: container 'app': no limits for cpu, memory",
        "Deployment/other/bare: container 'app': no livenessProbe",
        "Deployment/other/bare: container 'app': readOnlyRootFilesystem is not true"]
    assert policy.check(fixture("bad-restricted.yaml")) == [
        "Deployment/fixture/host-access: restricted namespace 'fixture': hostPID: true",
        "Deployment/fixture/host-access: restricted namespace 'fixture': hostPath volume 'proc'",
        "Deployment/fixture/host-access: restricted namespace 'fixture': container 'app': "
        "adds capabilities ['SYS_PTRACE']"]


def test_an_exception_must_name_rules_and_a_reason():
    d = fixture("good-exception.yaml")[0]
    for bad in ("probes", "probes: ", "privileged: because", "everything: because"):
        d["metadata"]["annotations"]["kmon.dev/policy-exception"] = bad
        problems = policy.check([d])
        assert any("annotation kmon.dev/policy-exception must be" in p for p in problems), bad


def test_the_policy_command_fails_on_a_bad_file():
    with open(os.path.join(FIXTURES, "bad-privileged.yaml")) as f:
        r = subprocess.run([sys.executable, os.path.join(TOOLS, "policy.py")], stdin=f,
                           capture_output=True, text=True)
    assert r.returncode == 1 and "privileged: true" in r.stdout, r.stdout


def test_namespaces_and_pod_security():
    objects = render(os.path.join(DEPLOY, "overlays/single"))
    labels = {o["metadata"]["name"]: o["metadata"]["labels"] for o in by_kind(objects, "Namespace")}
    assert labels["kmon"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["kmon-agent"]["pod-security.kubernetes.io/enforce"] == "privileged"
    # Only the agent runs in the privileged namespace.
    in_agent_ns = {(o["kind"], o["metadata"]["name"]) for o in objects
                   if o["metadata"].get("namespace") == "kmon-agent" and o["kind"] in policy.WORKLOADS}
    assert in_agent_ns == {("DaemonSet", "kmon-agent")}


def test_the_agent_daemonset():
    ds = by_kind(render(os.path.join(DEPLOY, "overlays/single")), "DaemonSet", "kmon-agent")[0]
    spec = ds["spec"]["template"]["spec"]
    c = spec["containers"][0]
    assert spec["tolerations"] == [{"operator": "Exists"}]
    assert spec["priorityClassName"] == "system-node-critical"
    assert spec["hostPID"] is True and not spec.get("hostNetwork")
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["SYS_PTRACE"]}
    assert c["securityContext"]["privileged"] is False
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    hostpaths = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"]}
    assert hostpaths == {"proc": "/proc", "sys": "/sys", "root": "/", "state": "/var/lib/kmon"}
    # Every host mount is read-only but the agent's own state directory.
    assert {n for n, m in mounts.items() if not m.get("readOnly")} == {"state"}
    args = c["args"]
    assert args[0] == "agent"
    assert "--server=http://kmon-server.kmon.svc:5000" in args
    assert "--node-name=$(NODE_NAME)" in args
    env = {e["name"]: e for e in c["env"]}
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["ports"][0]["containerPort"] == 9105


def test_agent_flags_exist_in_the_binary():
    """Every flag the manifests pass is one the built kmon accepts (its --help lists it)."""
    from conftest import run
    for overlay in OVERLAYS:
        for o in render(os.path.join(DEPLOY, "overlays", overlay)):
            if o["kind"] not in policy.WORKLOADS:
                continue
            for c in policy.pod_spec(o)["containers"]:
                args = c["args"]
                mode = [a.split("=", 1)[1] for a in args if a.startswith("--mode=")]
                help_args = [args[0], "--help"] + (["--mode", mode[0]] if mode else [])
                r = run(*help_args)
                assert r.returncode == 0, r.stderr
                for a in args[1:]:
                    flag = a.split("=", 1)[0]
                    listed = flag if not flag.startswith("--no-") else "--" + flag[5:]
                    assert re.search(rf"^\s+{re.escape(listed)}\b", r.stdout, re.M), \
                        (overlay, o["metadata"]["name"], flag)


def test_the_server_deployment():
    objects = render(os.path.join(DEPLOY, "overlays/single"))
    d = by_kind(objects, "Deployment", "kmon-server")[0]
    assert d["spec"]["replicas"] == 1 and d["spec"]["strategy"] == {"type": "Recreate"}
    spec = d["spec"]["template"]["spec"]
    c = spec["containers"][0]
    assert spec["securityContext"]["runAsUser"] == 65532 and spec["securityContext"]["runAsNonRoot"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    vols = {v["name"]: v for v in spec["volumes"]}
    assert vols["data"]["persistentVolumeClaim"]["claimName"] == "kmon-server-data"
    # The config and the rules come from the generated ConfigMaps, and the data directory
    # the config names is on the volume.
    cms = {o["metadata"]["name"]: o for o in by_kind(objects, "ConfigMap")}
    config = yaml.safe_load(cms[vols["config"]["configMap"]["name"]]["data"]["config.yaml"])
    data_mount = [m for m in c["volumeMounts"] if m["name"] == "data"][0]["mountPath"]
    assert config["data"].startswith(data_mount + "/")
    assert config["rules"] == "/etc/kmon/rules/*.yaml"
    assert yaml.safe_load(cms[vols["rules"]["configMap"]["name"]]["data"]["local.yaml"]) == {
        "groups": []}
    svc = by_kind(objects, "Service", "kmon-server")[0]
    assert svc["spec"]["ports"][0]["port"] == 5000 and svc["spec"]["type"] == "ClusterIP"
    nodeport = by_kind(render(os.path.join(DEPLOY, "overlays/single-nodeport")), "Service")[0]
    assert nodeport["spec"]["type"] == "NodePort" and nodeport["spec"]["ports"][0]["nodePort"] == 30500


def test_the_server_config_is_one_kmon_accepts(tmp_path):
    """The base's config.yaml and rule file, as the ConfigMaps carry them, start a server."""
    from conftest import Proc, free_port, wait_ready
    cfg = yaml.safe_load(open(os.path.join(DEPLOY, "base/server/config/config.yaml")))
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(os.path.join(DEPLOY, "base/server/config/local-rules.yaml"), rules / "local.yaml")
    cfg.update({"data": str(tmp_path / "data"), "rules": str(rules / "*.yaml")})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    port = free_port()
    # --cluster-state needs a cluster: the rest of the file is what is tried here.
    p = Proc(["server", "--config", str(tmp_path / "config.yaml"), "--no-cluster-state",
              "--listen", f"127.0.0.1:{port}"])
    try:
        wait_ready(f"http://127.0.0.1:{port}", p)
        assert p.stop() == 0
        assert " error " not in p.log() and " warn " not in p.log(), p.log()
    finally:
        p.close()


def source_paths(*globs):
    paths = set()
    for g in globs:
        for f in glob.glob(os.path.join(ROOT, g)):
            src = open(f).read()
            paths |= set(re.findall(r'"(/apis?/[^"?]*)', src))
            paths |= set(re.findall(r'#define PATH\s+"([^"]+)"', src))
    return paths


def rbac_rules(objects, role):
    got = set()
    for rule in by_kind(objects, "ClusterRole", role)[0]["rules"] + \
            [r for o in by_kind(objects, "Role") if o["metadata"]["name"].startswith(role)
             for r in o["rules"]]:
        for g in rule["apiGroups"]:
            for res in rule["resources"]:
                got.add((g, res, tuple(sorted(rule["verbs"]))))
    return got


def resource_of(path):
    """('apps', 'replicasets') from /apis/apps/v1/namespaces/%s/replicasets/%s."""
    parts = [p for p in path.split("/") if p]
    group = "" if parts[0] == "api" else parts[1]
    rest = parts[2:] if parts[0] == "api" else parts[3:]
    if rest[:1] == ["namespaces"] and len(rest) > 2:  # namespaced: .../namespaces/%s/<resource>
        rest = rest[2:]
    return group, rest[0]


def test_cluster_state_rbac_is_what_the_collector_lists():
    listed = {resource_of(p) for p in source_paths("src/kstate/kind_*.c", "src/kstate/events.c")}
    assert len(listed) == 14  # 13 kinds and events
    want = {(g, r, ("list", "watch")) for g, r in listed}
    single = render(os.path.join(DEPLOY, "overlays/single"))
    assert rbac_rules(single, "kmon-server-cluster-state") == want
    agent_cluster = render(os.path.join(DEPLOY, "overlays/agent-cluster"))
    (leases,) = {resource_of(p) for p in source_paths("src/kube/leader.c", "src/kube/lease.c")}
    assert rbac_rules(agent_cluster, "kmon-cluster-state") == want | {
        leases + (("create", "get", "update"),)}
    # The host cluster's server runs without --cluster-state and gets no ClusterRole.
    host = render(os.path.join(DEPLOY, "overlays/host-cluster"))
    assert by_kind(host, "ClusterRole") == [] and by_kind(host, "ClusterRoleBinding") == []


def test_agent_rbac_is_what_the_agent_asks():
    asked = {resource_of(p) for p in source_paths("src/agent/kube/*.c")}
    assert asked == {("", "pods"), ("apps", "replicasets"), ("batch", "jobs")}
    got = rbac_rules(render(os.path.join(DEPLOY, "overlays/single")), "kmon-agent")
    # pods: a list and a watch (fieldSelector spec.nodeName); owners: a get by name.
    assert got == {("", "pods", ("list", "watch")), ("apps", "replicasets", ("get",)),
                   ("batch", "jobs", ("get",))}


def test_agent_cluster_ships_over_tls_with_a_token():
    objects = render(os.path.join(DEPLOY, "overlays/agent-cluster"))
    assert by_kind(objects, "Deployment", "kmon-server") == []
    cms = {(o["metadata"]["namespace"], o["metadata"]["name"]): o["data"]
           for o in by_kind(objects, "ConfigMap")}
    for kind, name in (("DaemonSet", "kmon-agent"), ("Deployment", "kmon-cluster-state")):
        o = by_kind(objects, kind, name)[0]
        spec = o["spec"]["template"]["spec"]
        c = spec["containers"][0]
        assert "--server=$(KMON_REMOTE_SERVER)" in c["args"]
        assert "--ca-file=/etc/kmon/remote/ca.crt" in c["args"]
        assert "--token-file=/etc/kmon/remote/token" in c["args"]
        env = {e["name"]: e for e in c["env"]}
        ref = env["KMON_REMOTE_SERVER"]["valueFrom"]["configMapKeyRef"]
        assert cms[(o["metadata"]["namespace"], ref["name"])][ref["key"]].startswith("https://")
        assert "value" not in env["KMON_CLUSTER_NAME"]
        secret = [v for v in spec["volumes"] if v["name"] == "remote"][0]["secret"]
        assert secret["secretName"] == "kmon-remote"
    cs = by_kind(objects, "Deployment", "kmon-cluster-state")[0]
    assert "--mode=cluster" in cs["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--leader-elect" in cs["spec"]["template"]["spec"]["containers"][0]["args"]


def test_host_cluster_serves_tls_with_tokens_and_limits():
    objects = render(os.path.join(DEPLOY, "overlays/host-cluster"))
    d = by_kind(objects, "Deployment", "kmon-server")[0]
    c = d["spec"]["template"]["spec"]["containers"][0]
    for flag in ("--tls-cert=", "--tls-key=", "--tokens=", "--max-series-per-cluster=",
                 "--max-samples-per-second-per-cluster=",
                 "--max-log-bytes-per-second-per-cluster="):
        assert any(a.startswith(flag) for a in c["args"]), flag
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"]["scheme"] == "HTTPS"
    secrets = {v["secret"]["secretName"] for v in d["spec"]["template"]["spec"]["volumes"]
               if "secret" in v}
    assert secrets == {"kmon-server-tls", "kmon-tokens"}
    assert by_kind(objects, "Service")[0]["spec"]["type"] == "LoadBalancer"
    assert by_kind(objects, "DaemonSet") == []


def test_metrics_api_components(tmp_path):
    """deploy/components/metrics-api and custom-metrics-api over the single overlay: they
    render and validate strictly, meet the policy, register the three API groups on a
    Service whose port reaches the server's --k8s-api-listen, mount what the flags name,
    and the rules file they ship is one the server accepts."""
    comps = "".join(f"  - {os.path.relpath(os.path.join(DEPLOY, 'components', c), tmp_path)}\n"
                    for c in ("metrics-api", "custom-metrics-api"))
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources:\n  - {os.path.relpath(os.path.join(DEPLOY, 'overlays/single'), tmp_path)}\n"
        f"components:\n{comps}")
    objects = render(str(tmp_path))
    rc, problems = validate(objects)
    assert rc == 0 and problems == [], "\n".join(problems)
    assert policy.check(objects) == []
    for group in ("metrics.k8s.io", "custom.metrics.k8s.io", "external.metrics.k8s.io"):
        spec = by_kind(objects, "APIService", f"v1beta1.{group}")[0]["spec"]
        assert (spec["group"], spec["version"]) == (group, "v1beta1")
        assert spec["service"]["name"] == "kmon-server-metrics-api"
    api = by_kind(objects, "APIService", "v1beta1.metrics.k8s.io")[0]["spec"]
    svc = by_kind(objects, "Service", api["service"]["name"])[0]
    assert svc["metadata"]["namespace"] == api["service"]["namespace"]
    port = [p for p in svc["spec"]["ports"] if p["port"] == api["service"]["port"]][0]
    c = by_kind(objects, "Deployment", "kmon-server")[0]["spec"]["template"]["spec"]
    server = c["containers"][0]
    named = {p["name"]: p["containerPort"] for p in server["ports"]}
    args = dict(a.split("=", 1) for a in server["args"] if a.startswith("--k8s-"))
    assert args["--k8s-api-listen"] == f":{named[port['targetPort']]}"
    mounts = [m["mountPath"] for m in server["volumeMounts"]]
    for flag in ("--k8s-api-tls-cert", "--k8s-api-tls-key", "--k8s-api-client-ca",
                 "--k8s-metrics-config"):
        assert any(args[flag].startswith(m + "/") for m in mounts), (flag, mounts)
    cm = [o for o in by_kind(objects, "ConfigMap")
          if o["metadata"]["name"].startswith("kmon-k8s-metrics")][0]
    rules = tmp_path / "k8s-metrics.yaml"
    rules.write_text(cm["data"]["k8s-metrics.yaml"])
    kmon = os.environ.get("KMON_BIN", os.path.join(ROOT, "build/kmon"))
    srv_port = conftest.free_port()
    srv = subprocess.Popen([kmon, "server", "--listen", f"127.0.0.1:{srv_port}", "--data",
                            str(tmp_path / "data"), "--k8s-metrics-config", str(rules),
                            "--self-scrape-interval", "0", "--default-rules=false"],
                           stderr=subprocess.PIPE, text=True)
    try:
        st, d = None, None
        for _ in range(300):
            assert srv.poll() is None, srv.stderr.read()
            try:
                st, _, body = conftest.http_request(
                    f"http://127.0.0.1:{srv_port}/apis/custom.metrics.k8s.io/v1beta1", timeout=2)
                if st == 200:
                    d = json.loads(body)
                    break
            except OSError:
                pass
            time.sleep(0.1)
        assert d, "the server did not serve the custom metrics API"
        assert {r_["name"] for r_ in d["resources"]} == {
            "pods/http_requests_per_second", "pods/cpu_cores"}
    finally:
        srv.terminate()
        srv.wait(timeout=30)
    # the flags are ones the binary knows
    help_text = subprocess.run([os.environ.get("KMON_BIN", os.path.join(ROOT, "build/kmon")),
                                "server", "--help"], capture_output=True, text=True).stdout
    for flag in args:
        assert flag in help_text, flag
    netpol = by_kind(objects, "NetworkPolicy", "kmon-server")[0]["spec"]["ingress"]
    assert any(p["port"] == named[port["targetPort"]] for rule in netpol
               for p in rule.get("ports", [])), netpol
