"""Tests of the kube-apiserver test double (kubeapi.py) itself, with standard-library
clients (ssl sockets, http.client) and curl: they pin down the real-server behaviours the
agent's Kubernetes client will be tested against (TLS and SANs, bearer/client-cert auth
and the Unauthorized Status, PodList shape, selectors, limit/continue paging and expired
continue tokens, chunked watch framing, replay + live events, selector transitions,
bookmarks, the 410 "too old resource version" ERROR event, dropped streams, injected
500/429/hangs, token rotation through the kubelet's ..data symlink swap, keep-alive and
prompt shutdown)."""
import base64
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time

import pytest

from kubeapi import (KubeAPI, make_job, make_pod, make_replicaset, make_uid,
                     parse_kubeconfig)
from kubeobjects import (make_cronjob, make_daemonset, make_deployment, make_hpa, make_lease,
                         make_namespace, make_node, make_pending_pod, make_pvc,
                         make_resourcequota, make_service, make_statefulset,
                         set_container_state)
from kubescript import (crash_loop, delete_namespace, drain_node, finish_namespace_deletion,
                        make_deployment_tree, node_not_ready, node_ready, scale_deployment)

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
UID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")

UNAUTHORIZED = (b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
                b'"message":"Unauthorized","reason":"Unauthorized","code":401}\n')


@pytest.fixture
def api(tmp_path):
    with KubeAPI(tmp_path) as a:
        yield a


def client_ctx(api, cert=False, cafile=None):
    ctx = ssl.create_default_context(cafile=cafile or api.ca_path)
    # Report a TCP close without TLS close_notify as an error, as OpenSSL 3 clients see it.
    ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
    if cert:
        ctx.load_cert_chain(api.client_cert_path, api.client_key_path)
    return ctx


class Conn:
    """A raw HTTP/1.1 client over TLS that exposes chunk framing and how a stream ends."""

    def __init__(self, api, cert=False, timeout=5.0, host="127.0.0.1", ctx=None):
        self.api = api
        sock = socket.create_connection(("127.0.0.1", api.port), timeout=timeout)
        self.s = (ctx or client_ctx(api, cert)).wrap_socket(sock, server_hostname=host)
        self.buf = b""

    def close(self):
        self.s.close()

    def send(self, path, token=None, extra=""):
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        self.s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.api.port}\r\n"
                        f"{auth}Accept: application/json\r\nUser-Agent: kubeapi-test\r\n"
                        f"{extra}\r\n").encode())

    def _fill(self):
        try:
            data = self.s.recv(65536)
        except ssl.SSLError as e:  # TCP closed without TLS close_notify
            if isinstance(e, ssl.SSLEOFError) or e.reason == "UNEXPECTED_EOF_WHILE_READING":
                raise EOFError("abrupt")
            raise
        except ConnectionResetError:
            raise EOFError("reset")
        if not data:
            raise EOFError("clean")
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def head(self):
        status = int(self._line().split()[1])
        headers = {}
        while True:
            line = self._line()
            if not line:
                return status, headers
            k, v = line.decode().split(":", 1)
            headers[k.strip().lower()] = v.strip()

    def body(self, headers):
        return self._exact(int(headers["content-length"]))

    def chunk(self):
        size = int(self._line(), 16)
        data = self._exact(size)
        assert self._exact(2) == b"\r\n"
        return data

    def event(self):
        data = self.chunk()
        assert data, "stream ended"
        assert data.endswith(b"\n") and data.count(b"\n") == 1, data
        return json.loads(data)

    def get(self, path, token=None):
        self.send(path, token)
        st, h = self.head()
        return st, h, self.body(h)


def get(api, path, token="default", cert=False, ctx=None):
    """One request on a fresh http.client connection: (status, headers, body bytes)."""
    tok = api.token if token == "default" else token
    c = http.client.HTTPSConnection("127.0.0.1", api.port, context=ctx or client_ctx(api, cert),
                                    timeout=10)
    try:
        c.request("GET", path, headers={"Authorization": f"Bearer {tok}"} if tok else {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def get_json(api, path, **kw):
    st, h, b = get(api, path, **kw)
    return st, h, json.loads(b)


def watch(api, path, token=None):
    c = Conn(api)
    c.send(path, token or api.token)
    st, h = c.head()
    return c, st, h


def names(items):
    return [i["metadata"]["name"] for i in items]


# ---------------------------------------------------------------------------- TLS / auth


def test_tls_certificate_sans_and_verification(api):
    cert = ssl._ssl._test_decode_cert(api.server_cert_path)
    sans = cert["subjectAltName"]
    assert ("IP Address", "127.0.0.1") in sans and ("DNS", "localhost") in sans
    assert ("DNS", "kubernetes.default.svc") in sans
    issuer = dict(x[0] for x in cert["issuer"])
    assert issuer["commonName"] == "kubernetes"
    for host in ("127.0.0.1", "localhost"):  # hostname verification against both SANs
        c = Conn(api, host=host)
        assert c.s.version() in ("TLSv1.2", "TLSv1.3")
        c.close()
    ctx = client_ctx(api)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    c = Conn(api, ctx=ctx)
    assert c.s.selected_alpn_protocol() == "http/1.1"  # never h2
    c.close()
    with pytest.raises(ssl.SSLCertVerificationError):
        Conn(api, ctx=client_ctx(api, cafile=api.untrusted_ca_path))


def test_unauthorized_exact_status(api):
    for extra in ("", "Authorization: Bearer wrong\r\n", "Authorization: Bearer \r\n",
                  "Authorization: Basic a21vbjprbW9u\r\n"):
        c = Conn(api)
        c.send("/api/v1/pods", None, extra=extra)
        st, h = c.head()
        assert st == 401 and h["content-type"] == "application/json"
        assert c.body(h) == UNAUTHORIZED
        c.close()
    st, _, _ = get(api, "/api/v1/pods")
    assert st == 200


def test_client_certificate_auth(api):
    st, _, body = get_json(api, "/api/v1/pods", token=None, cert=True)
    assert st == 200 and body["kind"] == "PodList"
    assert api.requests()[-1].client_cert == "kmon-agent"
    # A certificate from another CA fails the handshake, as with Go's
    # VerifyClientCertIfGiven.
    ctx = client_ctx(api)
    ctx.load_cert_chain(api.untrusted_client_cert_path, api.untrusted_client_key_path)
    with pytest.raises((ssl.SSLError, ConnectionResetError, EOFError)):
        c = Conn(api, ctx=ctx)
        c.get("/api/v1/pods")


def test_anonymous_and_rbac_forbidden(tmp_path):
    with KubeAPI(tmp_path, anonymous_auth=True) as api:
        st, _, b = get_json(api, "/api/v1/pods?watch=1", token=None)
        assert st == 403 and b["reason"] == "Forbidden"
        assert b["message"] == ('pods is forbidden: User "system:anonymous" cannot watch '
                                'resource "pods" in API group "" at the cluster scope')
        st, _, b = get(api, "/version", token=None)
        assert st == 200 and json.loads(b)["gitVersion"].startswith("v1.")
        assert get(api, "/api/v1/pods", token="nope")[0] == 401  # bad token is never anon
        api.deny("get", "replicasets")
        st, _, b = get_json(api, "/apis/apps/v1/namespaces/shop/replicasets/web-1")
        assert st == 403 and b["details"] == {"name": "web-1", "group": "apps",
                                              "kind": "replicasets"}
        assert b["message"] == ('replicasets.apps "web-1" is forbidden: User '
                                '"system:serviceaccount:kmon:kmon-agent" cannot get resource '
                                '"replicasets" in API group "apps" in the namespace "shop"')


def test_kubeconfig_files(api, tmp_path):
    kc = parse_kubeconfig(open(api.write_kubeconfig(tmp_path / "kc", decoy=True)).read())
    assert kc["kind"] == "Config" and kc["current-context"] == "kmon-test"
    ctx = [c for c in kc["contexts"] if c["name"] == "kmon-test"][0]["context"]
    assert kc["contexts"][0]["name"] == "decoy"
    cluster = [c for c in kc["clusters"] if c["name"] == ctx["cluster"]][0]["cluster"]
    user = [u for u in kc["users"] if u["name"] == ctx["user"]][0]["user"]
    assert cluster["server"] == api.url and cluster["certificate-authority"] == api.ca_path
    assert user["token"] == api.token
    kc = parse_kubeconfig(open(api.write_kubeconfig(tmp_path / "kc2", auth="cert",
                                                    embed=True)).read())
    cluster, user = kc["clusters"][0]["cluster"], kc["users"][0]["user"]
    assert base64.b64decode(cluster["certificate-authority-data"]) == \
        open(api.ca_path, "rb").read()
    assert base64.b64decode(user["client-certificate-data"]) == \
        open(api.client_cert_path, "rb").read()
    assert b"PRIVATE KEY" in base64.b64decode(user["client-key-data"])
    kc = parse_kubeconfig(open(api.write_kubeconfig(tmp_path / "kc3", auth="cert")).read())
    assert kc["users"][0]["user"]["client-key"] == api.client_key_path


def test_incluster_layout_and_token_rotation(api, tmp_path):
    sa = tmp_path / "serviceaccount"
    env = api.write_incluster(sa, namespace="monitoring")
    assert env == {"KUBERNETES_SERVICE_HOST": "127.0.0.1",
                   "KUBERNETES_SERVICE_PORT": str(api.port),
                   "KUBERNETES_SERVICE_PORT_HTTPS": str(api.port)}
    for f in ("token", "ca.crt", "namespace"):
        assert os.readlink(sa / f) == f"..data/{f}"
    first_dir = os.readlink(sa / "..data")
    assert re.match(r"^\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.", first_dir)
    assert (sa / "namespace").read_text() == "monitoring"
    old = (sa / "token").read_text()
    assert old == api.token and not old.endswith("\n") and old.count(".") == 2
    assert (sa / "ca.crt").read_bytes() == open(api.ca_path, "rb").read()
    assert get(api, "/api/v1/pods", token=old)[0] == 200

    new = api.rotate_token()
    assert (sa / "token").read_text() == new != old
    assert os.readlink(sa / "..data") != first_dir and not (sa / first_dir).exists()
    assert not (sa / "..data_tmp").exists()
    st, _, body = get(api, "/api/v1/pods", token=old)
    assert st == 401 and body == UNAUTHORIZED
    assert get(api, "/api/v1/pods", token=new)[0] == 200
    kept = api.rotate_token(keep_old=True)
    assert get(api, "/api/v1/pods", token=new)[0] == 200
    assert get(api, "/api/v1/pods", token=kept)[0] == 200


# ---------------------------------------------------------------------------- objects


def test_make_pod_replicaset_pod_shape():
    cid = "a" * 64
    p = make_pod("web-7d4f9c6b8d-x2kqp", "shop", "node-1", owner=("ReplicaSet", "web-7d4f9c6b8d"),
                 containers=[("app", f"containerd://{cid}"), ("sidecar", None)],
                 labels={"app": "web"})
    assert list(p) == ["kind", "apiVersion", "metadata", "spec", "status"]
    m = p["metadata"]
    assert m["generateName"] == "web-7d4f9c6b8d-" and UID.match(m["uid"])
    assert m["labels"] == {"app": "web", "pod-template-hash": "7d4f9c6b8d"}
    assert RFC3339.match(m["creationTimestamp"]) and m["resourceVersion"].isdigit()
    assert m["ownerReferences"] == [{
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4f9c6b8d",
        "uid": make_uid("shop", "ReplicaSet", "web-7d4f9c6b8d"), "controller": True,
        "blockOwnerDeletion": True}]
    assert m["managedFields"][1]["subresource"] == "status"
    s = p["spec"]
    assert s["nodeName"] == "node-1" and "hostNetwork" not in s
    assert s["volumes"][0]["name"].startswith("kube-api-access-")
    c0 = s["containers"][0]
    assert c0["terminationMessagePath"] == "/dev/termination-log"
    assert c0["imagePullPolicy"] == "IfNotPresent"
    assert c0["resources"]["requests"] and c0["resources"]["limits"]
    assert s["volumes"][0]["name"] == c0["volumeMounts"][0]["name"]
    for k in ("restartPolicy", "dnsPolicy", "serviceAccountName", "securityContext",
              "schedulerName", "tolerations", "priority", "enableServiceLinks",
              "preemptionPolicy"):
        assert k in s, k
    st = p["status"]
    assert st["phase"] == "Running" and st["qosClass"] == "Burstable"
    assert {c["type"] for c in st["conditions"]} >= {"Initialized", "Ready", "ContainersReady",
                                                      "PodScheduled"}
    assert st["podIPs"] == [{"ip": st["podIP"]}] and RFC3339.match(st["startTime"])
    cs = st["containerStatuses"]
    assert [c["name"] for c in cs] == ["app", "sidecar"]
    assert cs[0]["containerID"] == f"containerd://{cid}"
    assert cs[1]["containerID"].startswith("containerd://")
    assert HEX64.match(cs[1]["containerID"].split("://")[1])
    assert RFC3339.match(cs[0]["state"]["running"]["startedAt"])
    assert cs[0]["ready"] is True and cs[0]["started"] is True and cs[0]["lastState"] == {}
    assert cs[0]["image"] == "docker.io/library/nginx:1.25.3"
    assert re.match(r"^docker\.io/library/nginx@sha256:[0-9a-f]{64}$", cs[0]["imageID"])
    # Deterministic: the same call gives the same object.
    assert p == make_pod("web-7d4f9c6b8d-x2kqp", "shop", "node-1",
                         owner=("ReplicaSet", "web-7d4f9c6b8d"),
                         containers=[("app", f"containerd://{cid}"), ("sidecar", None)],
                         labels={"app": "web"})


@pytest.mark.parametrize("runtime,prefix,imageid", [
    ("containerd", "containerd://", r"^docker\.io/library/postgres@sha256:"),
    ("cri-o", "cri-o://", r"^docker\.io/library/postgres@sha256:"),
    ("docker", "docker://", r"^docker-pullable://postgres@sha256:")])
def test_make_pod_runtimes_and_owners(runtime, prefix, imageid):
    p = make_pod("db-0", "data", "node-2", owner=("StatefulSet", "db"), runtime=runtime,
                 containers=[("postgres", None)], qos="Guaranteed")
    cs = p["status"]["containerStatuses"][0]
    assert cs["containerID"].startswith(prefix) and HEX64.match(cs["containerID"][len(prefix):])
    assert re.match(imageid, cs["imageID"])
    lbl = p["metadata"]["labels"]
    assert lbl["statefulset.kubernetes.io/pod-name"] == "db-0"
    assert lbl["controller-revision-hash"].startswith("db-")
    assert p["spec"]["hostname"] == "db-0"
    res = p["spec"]["containers"][0]["resources"]
    assert res["requests"] == res["limits"] and p["status"]["qosClass"] == "Guaranteed"

    ds = make_pod("fluentd-x7k2p", "logging", "node-2", owner=("DaemonSet", "fluentd"),
                  host_network=True, qos="BestEffort", runtime=runtime)
    assert ds["spec"]["hostNetwork"] is True
    assert ds["status"]["podIP"] == ds["status"]["hostIP"]
    assert ds["spec"]["containers"][0]["resources"] == {}
    assert ds["metadata"]["labels"]["pod-template-generation"] == "1"
    assert "controller-revision-hash" in ds["metadata"]["labels"]
    assert ds["spec"]["affinity"]["nodeAffinity"]

    job = make_pod("backup-28861440-8xq2z", "ops", "node-2", owner=("Job", "backup-28861440"),
                   runtime=runtime, phase="Succeeded")
    juid = make_uid("ops", "Job", "backup-28861440")
    lbl = job["metadata"]["labels"]
    assert lbl["batch.kubernetes.io/job-name"] == lbl["job-name"] == "backup-28861440"
    assert lbl["batch.kubernetes.io/controller-uid"] == lbl["controller-uid"] == juid
    assert job["spec"]["restartPolicy"] == "Never"
    term = job["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["reason"] == "Completed" and term["exitCode"] == 0

    bare = make_pod("debug", "default", "node-2", owner=None)
    assert "ownerReferences" not in bare["metadata"]
    assert "generateName" not in bare["metadata"]
    pend = make_pod("new", "default", "node-2", phase="Pending")
    cs = pend["status"]["containerStatuses"][0]
    assert "containerID" not in cs and cs["state"]["waiting"]["reason"] == "ContainerCreating"


def test_replicaset_and_job_resolution(api):
    api.add(make_replicaset("web-7d4f9c6b8d", "shop", "web"))
    api.add(make_job("backup-28861440", "ops"))
    pod = api.add_pod(make_pod("web-7d4f9c6b8d-x2kqp", "shop", owner=("ReplicaSet",
                                                                      "web-7d4f9c6b8d")))
    st, h, rs = get_json(api, "/apis/apps/v1/namespaces/shop/replicasets/web-7d4f9c6b8d")
    assert st == 200 and rs["kind"] == "ReplicaSet" and rs["apiVersion"] == "apps/v1"
    assert rs["metadata"]["uid"] == pod["metadata"]["ownerReferences"][0]["uid"]
    dep = rs["metadata"]["ownerReferences"][0]
    assert (dep["kind"], dep["name"], dep["apiVersion"]) == ("Deployment", "web", "apps/v1")
    assert dep["uid"] == make_uid("shop", "Deployment", "web")
    st, _, job = get_json(api, "/apis/batch/v1/namespaces/ops/jobs/backup-28861440")
    assert st == 200 and job["kind"] == "Job"
    cj = job["metadata"]["ownerReferences"][0]
    assert (cj["kind"], cj["name"], cj["apiVersion"]) == ("CronJob", "backup", "batch/v1")
    assert job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] \
        == "2024-11-15T16:00:00Z"
    st, h, body = get(api, "/apis/apps/v1/namespaces/shop/replicasets/gone-5d9c")
    assert st == 404 and h["content-type"] == "application/json"
    assert body == (b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
                    b'"message":"replicasets.apps \\"gone-5d9c\\" not found","reason":'
                    b'"NotFound","details":{"name":"gone-5d9c","group":"apps","kind":'
                    b'"replicasets"},"code":404}\n')
    st, _, body = get_json(api, "/api/v1/namespaces/shop/pods/nope")
    assert body["message"] == 'pods "nope" not found' and body["details"] == {
        "name": "nope", "kind": "pods"}
    st, _, lst = get_json(api, "/apis/apps/v1/replicasets")
    assert lst["kind"] == "ReplicaSetList" and names(lst["items"]) == ["web-7d4f9c6b8d"]


def test_unknown_paths_and_methods(api):
    for path in ("/api/v1/nodes2", "/apis/apps/v1/pods", "/metrics2", "/api/v2/pods"):
        st, h, body = get(api, path)
        assert st == 404 and body == (
            b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":'
            b'"the server could not find the requested resource","reason":"NotFound",'
            b'"details":{},"code":404}\n'), path
    c = http.client.HTTPSConnection("127.0.0.1", api.port, context=client_ctx(api))
    c.request("DELETE", "/api/v1/namespaces/a/pods/b",
              headers={"Authorization": f"Bearer {api.token}"})
    r = c.getresponse()
    assert r.status == 405 and json.loads(r.read())["reason"] == "MethodNotAllowed"
    assert get(api, "/healthz")[2] == b"ok"


# ---------------------------------------------------------------------------- lists


def seed(api):
    """Pods on two nodes in two namespaces; returns the rv after seeding."""
    for i in range(5):
        api.add_pod(make_pod(f"web-7d4f9c6b8d-{i:05d}", "shop", "node-1" if i % 2 == 0
                             else "node-2", owner=("ReplicaSet", "web-7d4f9c6b8d"),
                             labels={"app": "web", "tier": "front" if i < 3 else "back"}))
    api.add_pod(make_pod("fluentd-x7k2p", "logging", "node-1", owner=("DaemonSet", "fluentd"),
                         host_network=True))
    return api.resource_version


def test_podlist_shape_and_field_selector(api):
    rv = seed(api)
    for q in ("fieldSelector=spec.nodeName%3Dnode-1", "fieldSelector=spec.nodeName=node-1",
              "fieldSelector=spec.nodeName%3D%3Dnode-1"):
        st, h, b = get(api, "/api/v1/pods?" + q)
        assert st == 200 and h["content-type"] == "application/json"
        assert b.startswith(b'{"kind":"PodList","apiVersion":"v1","metadata":'
                            b'{"resourceVersion":"%d"},"items":[' % rv) and b.endswith(b"]}\n")
        lst = json.loads(b)
        assert names(lst["items"]) == ["fluentd-x7k2p", "web-7d4f9c6b8d-00000",
                                       "web-7d4f9c6b8d-00002", "web-7d4f9c6b8d-00004"]
        for item in lst["items"]:
            assert "kind" not in item and "apiVersion" not in item
            assert item["spec"]["nodeName"] == "node-1"
            assert item["status"]["containerStatuses"][0]["containerID"]
            assert int(item["metadata"]["resourceVersion"]) <= rv
    st, _, lst = get_json(api, "/api/v1/namespaces/shop/pods?fieldSelector=spec.nodeName!%3Dnode-1")
    assert names(lst["items"]) == ["web-7d4f9c6b8d-00001", "web-7d4f9c6b8d-00003"]
    st, _, lst = get_json(api, "/api/v1/pods?labelSelector=app%3Dweb,tier+in+(back)")
    assert names(lst["items"]) == ["web-7d4f9c6b8d-00003", "web-7d4f9c6b8d-00004"]
    st, _, lst = get_json(api, "/api/v1/pods?labelSelector=!pod-template-hash")
    assert names(lst["items"]) == ["fluentd-x7k2p"]
    st, _, lst = get_json(api, "/api/v1/pods?fieldSelector=spec.hostNetwork%3Dtrue")
    assert names(lst["items"]) == ["fluentd-x7k2p"]
    st, _, b = get_json(api, "/api/v1/pods?fieldSelector=spec.bogus%3Dx")
    assert st == 400 and b["reason"] == "BadRequest"
    assert b["message"] == "field label not supported: spec.bogus"
    st, _, lst = get_json(api, "/api/v1/namespaces/empty/pods")
    assert st == 200 and lst["items"] == []


def test_pagination_continue_and_remaining(api):
    rv = seed(api)
    seen, tok, remaining, pages = [], None, [], 0
    while True:
        path = "/api/v1/pods?limit=2" + (f"&continue={tok}" if tok else "")
        st, _, lst = get_json(api, path)
        assert st == 200 and lst["metadata"]["resourceVersion"] == str(rv)
        pages += 1
        seen += names(lst["items"])
        tok = lst["metadata"].get("continue")
        remaining.append(lst["metadata"].get("remainingItemCount"))
        if pages == 1:  # a later write must not show up: pages come from one snapshot
            api.add_pod(make_pod("zzz-late", "zzz", "node-1"))
        if not tok:
            break
        raw = json.loads(base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4)))
        assert raw["v"] == "meta.k8s.io/v1" and raw["rv"] == rv
        assert raw["start"].endswith("\x00")
    assert seen == ["fluentd-x7k2p"] + [f"web-7d4f9c6b8d-{i:05d}" for i in range(5)]
    assert remaining == [4, 2, None]
    # With a selector: pages fill up to limit, no remainingItemCount.
    st, _, lst = get_json(api, "/api/v1/pods?limit=2&fieldSelector=spec.nodeName%3Dnode-1")
    assert len(lst["items"]) == 2 and "remainingItemCount" not in lst["metadata"]
    st, _, lst2 = get_json(api, "/api/v1/pods?limit=2&fieldSelector=spec.nodeName%3Dnode-1"
                                f"&continue={lst['metadata']['continue']}")
    assert names(lst2["items"]) == ["web-7d4f9c6b8d-00002", "web-7d4f9c6b8d-00004"]
    # resourceVersion=0 is served whole from the watch cache: limit ignored.
    st, _, lst = get_json(api, "/api/v1/pods?limit=2&resourceVersion=0")
    assert len(lst["items"]) == 7 and "continue" not in lst["metadata"]
    st, _, b = get_json(api, "/api/v1/pods?limit=2&continue=garbage!")
    assert st == 400 and b["message"].startswith("invalid continue token")


def test_expired_continue_token(api):
    seed(api)
    st, _, lst = get_json(api, "/api/v1/pods?limit=3")
    api.expire_continue_tokens()
    st, h, b = get_json(api, "/api/v1/pods?limit=3&continue=" + lst["metadata"]["continue"])
    assert st == 410 and b["reason"] == "Expired" and b["code"] == 410
    assert b["message"].startswith("The provided continue parameter is too old")
    tok = b["metadata"]["continue"]
    assert json.loads(base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4)))["rv"] == -1
    st, _, rest = get_json(api, "/api/v1/pods?limit=3&continue=" + tok)
    assert st == 200 and names(rest["items"]) == [f"web-7d4f9c6b8d-{i:05d}" for i in (2, 3, 4)]
    st, _, b = get_json(api, "/api/v1/pods?resourceVersion=2&resourceVersionMatch=Exact")
    assert st == 410 and b["message"] == "The resourceVersion for the provided list is too old."


def test_list_future_resource_version(api):
    api.too_large_wait = 0.3
    rv = api.resource_version
    st, h, b = get_json(api, f"/api/v1/pods?resourceVersion={rv + 50}")
    assert st == 504 and b["reason"] == "Timeout" and h["retry-after"] == "1"
    assert b["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge"
    api.too_large_wait = 5
    threading.Timer(0.1, lambda: api.add_pod(make_pod("a", "x", "node-1"))).start()
    st, _, lst = get_json(api, f"/api/v1/pods?resourceVersion={rv + 1}")
    assert st == 200 and names(lst["items"]) == ["a"]


# ---------------------------------------------------------------------------- watches


def test_watch_framing_timeout_and_keepalive(api):
    seed(api)
    c = Conn(api)
    st, h, body = c.get("/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1", api.token)
    rv = json.loads(body)["metadata"]["resourceVersion"]
    t0 = time.monotonic()
    c.send(f"/api/v1/pods?watch=1&resourceVersion={rv}&timeoutSeconds=1&"
           "fieldSelector=spec.nodeName%3Dnode-1", api.token)
    st, h = c.head()
    assert st == 200 and h["content-type"] == "application/json"
    assert h["transfer-encoding"] == "chunked" and "content-length" not in h
    api.wait_watchers(1)
    api.add_pod(make_pod("web-7d4f9c6b8d-live1", "shop", "node-1"))
    ev = c.event()
    assert ev["type"] == "ADDED" and ev["object"]["kind"] == "Pod"
    assert ev["object"]["apiVersion"] == "v1"
    assert ev["object"]["metadata"]["resourceVersion"] == str(int(rv) + 1)
    assert c.chunk() == b""  # terminating chunk at timeoutSeconds
    assert 0.9 <= time.monotonic() - t0 < 2.5
    assert c.buf == b""
    st, h, body = c.get("/api/v1/pods?limit=1", api.token)  # same connection, kept alive
    assert st == 200
    conns = {r.conn_id for r in api.requests()}
    assert len(conns) == 1
    c.close()


def test_watch_replay_live_and_selector_transitions(api):
    seed(api)
    st, _, lst = get_json(api, "/api/v1/pods?labelSelector=app%3Dweb")
    rv = int(lst["metadata"]["resourceVersion"])
    api.add_pod(make_pod("api-6b7c8d9e0f-aaaaa", "shop", "node-1", labels={"app": "web"}))
    api.add_pod(make_pod("other", "shop", "node-1", labels={"app": "other"}))
    c, st, _ = watch(api, f"/api/v1/namespaces/shop/pods?watch=true&resourceVersion={rv}"
                          "&labelSelector=app%3Dweb&timeoutSeconds=30")
    assert st == 200
    ev = c.event()  # replayed from history
    assert ev["type"] == "ADDED" and ev["object"]["metadata"]["name"] == "api-6b7c8d9e0f-aaaaa"
    assert ev["object"]["metadata"]["resourceVersion"] == str(rv + 1)
    api.wait_watchers(1)

    def relabel(app):
        def f(p):
            p["metadata"]["labels"]["app"] = app
        return f
    api.modify_pod("shop", "web-7d4f9c6b8d-00001", lambda p: p["status"].update(phase="Failed"))
    ev = c.event()
    assert ev["type"] == "MODIFIED" and ev["object"]["status"]["phase"] == "Failed"
    moved = api.modify_pod("shop", "web-7d4f9c6b8d-00001", relabel("elsewhere"))
    ev = c.event()  # stopped matching: DELETED with the previous state, the event's rv
    assert ev["type"] == "DELETED"
    assert ev["object"]["metadata"]["labels"]["app"] == "web"
    assert ev["object"]["metadata"]["resourceVersion"] == moved["metadata"]["resourceVersion"]
    api.modify_pod("shop", "other", relabel("web"))
    ev = c.event()
    assert ev["type"] == "ADDED" and ev["object"]["metadata"]["name"] == "other"
    api.add_pod(make_pod("elsewhere-ns", "logging", "node-1", labels={"app": "web"}))
    api.emit_bookmark()  # not requested: never sent
    api.delete_pod("shop", "other", graceful=True)
    ev = c.event()
    assert ev["type"] == "MODIFIED" and ev["object"]["metadata"]["deletionTimestamp"]
    assert ev["object"]["metadata"]["deletionGracePeriodSeconds"] == 30
    ev = c.event()
    assert ev["type"] == "DELETED" and ev["object"]["metadata"]["name"] == "other"
    assert ev["object"]["metadata"]["resourceVersion"] == str(api.resource_version)
    c.close()


def test_watch_without_resource_version_sends_current_state(api):
    seed(api)
    c, st, _ = watch(api, "/api/v1/pods?watch=1&fieldSelector=spec.nodeName%3Dnode-2"
                          "&timeoutSeconds=30")
    got = [c.event(), c.event()]
    assert [e["type"] for e in got] == ["ADDED", "ADDED"]
    assert names([e["object"] for e in got]) == ["web-7d4f9c6b8d-00001", "web-7d4f9c6b8d-00003"]
    api.wait_watchers(1)
    api.delete_pod("shop", "web-7d4f9c6b8d-00003")
    ev = c.event()
    assert ev["type"] == "DELETED" and ev["object"]["spec"]["nodeName"] == "node-2"
    c.close()
    # The legacy /watch/ path prefix is a watch too.
    c, st, _ = watch(api, "/api/v1/watch/namespaces/logging/pods?timeoutSeconds=30")
    assert st == 200 and c.event()["object"]["metadata"]["name"] == "fluentd-x7k2p"
    c.close()


def test_bookmarks(api):
    rv = seed(api)
    c, st, _ = watch(api, f"/api/v1/pods?watch=1&resourceVersion={rv}&allowWatchBookmarks=true"
                          "&timeoutSeconds=3")
    api.wait_watchers(1)
    t0 = time.monotonic()
    brv = api.emit_bookmark()
    raw = c.chunk()
    assert raw == (b'{"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":'
                   b'{"resourceVersion":"%d","creationTimestamp":null},"spec":{"containers":'
                   b'null},"status":{}}}\n' % brv)
    # The server's own bookmark 2 s before the deadline, then the clean end.
    ev = c.event()
    assert ev["type"] == "BOOKMARK" and 0.5 < time.monotonic() - t0 < 1.8
    assert c.chunk() == b""
    c.close()
    api.bookmark_interval = 0.2  # periodic bookmarks (real: every minute)
    c, st, _ = watch(api, f"/api/v1/pods?watch=1&resourceVersion={rv}&allowWatchBookmarks=1"
                          "&timeoutSeconds=60")
    api.add_pod(make_pod("p", "x", "node-1"))
    assert c.event()["type"] == "ADDED"
    b1, b2 = c.event(), c.event()
    assert b1["type"] == b2["type"] == "BOOKMARK"
    assert b2["object"]["metadata"]["resourceVersion"] == str(api.resource_version)
    c.close()
    c, st, _ = watch(api, "/api/v1/pods?watch=1&sendInitialEvents=true&allowWatchBookmarks=true"
                          "&resourceVersionMatch=NotOlderThan&timeoutSeconds=30")
    evs = [c.event() for _ in range(8)]
    assert [e["type"] for e in evs] == ["ADDED"] * 7 + ["BOOKMARK"]
    assert evs[-1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    c.close()


def test_watch_too_old_resource_version(api):
    seed(api)
    floor = api.compact()
    c, st, h = watch(api, "/api/v1/pods?watch=1&resourceVersion=3&allowWatchBookmarks=true")
    assert st == 200 and h["transfer-encoding"] == "chunked"
    assert c.chunk() == (b'{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1",'
                         b'"metadata":{},"status":"Failure","message":"too old resource '
                         b'version: 3 (%d)","reason":"Expired","code":410}}\n' % floor)
    assert c.chunk() == b""  # and the stream ends cleanly
    c.close()
    c, st, _ = watch(api, f"/api/v1/pods?watch=1&resourceVersion={floor}&timeoutSeconds=30")
    api.wait_watchers(1)  # from the floor itself is fine
    api.add_pod(make_pod("new", "x", "node-1"))
    assert c.event()["type"] == "ADDED"
    c.close()
    api.expired_mode = "http"
    st, h, b = get_json(api, "/api/v1/pods?watch=1&resourceVersion=3")
    assert st == 410 and h["content-type"] == "application/json"
    assert b == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                 "message": "The resourceVersion for the provided watch is too old.",
                 "reason": "Expired", "code": 410}
    # A bounded history (the watch cache's capacity) expires old versions by itself.
    api.expired_mode = "event"
    api.history_limit = 2
    rv = api.resource_version
    for i in range(3):
        api.add_pod(make_pod(f"h{i}", "x", "node-1"))
    c, st, _ = watch(api, f"/api/v1/pods?watch=1&resourceVersion={rv}")
    assert c.event()["type"] == "ERROR"
    c.close()


def test_drop_watches_mid_stream(api):
    seed(api)
    c, st, _ = watch(api, "/api/v1/pods?watch=1&resourceVersion=1&timeoutSeconds=60")
    for _ in range(6):
        c.event()
    api.wait_watchers(1)
    assert api.drop_watches() == 1
    with pytest.raises(EOFError) as e:
        c.chunk()
    assert str(e.value) in ("abrupt", "reset")  # no terminating chunk, no close_notify
    c.close()
    t0 = time.monotonic()
    while api.watch_count() and time.monotonic() - t0 < 2:
        time.sleep(0.01)
    assert api.watch_count() == 0
    # curl sees the broken chunked body as an error (no terminating chunk).
    env = dict(os.environ, NO_PROXY="*")
    p = subprocess.Popen(["curl", "-sS", "-N", "--cacert", api.ca_path, "-H",
                          f"Authorization: Bearer {api.token}",
                          f"{api.url}/api/v1/pods?watch=1&timeoutSeconds=60"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    api.wait_watchers(1)
    api.drop_watches()
    out, err = p.communicate(timeout=10)
    assert p.returncode != 0 and out.count(b"\n") == 6


def test_orderly_end_vs_drop_at_tls_level(api):
    c = Conn(api)
    c.send("/api/v1/pods", api.token, extra="Connection: close\r\n")
    st, h = c.head()
    c.body(h)
    with pytest.raises(EOFError) as e:  # orderly close: TLS close_notify first
        c._fill()
    assert str(e.value) == "clean"
    c.close()


def test_injected_failures(api):
    api.fail_next(1, 500)
    st, h, b = get_json(api, "/api/v1/pods")
    assert st == 500 and b["reason"] == "InternalError" and b["code"] == 500
    assert b["message"].startswith("Internal error occurred:") and "retry-after" not in h
    api.fail_next(1, 429, retry_after=2)
    st, h, b = get_json(api, "/api/v1/pods")
    assert st == 429 and h["retry-after"] == "2" and b["reason"] == "TooManyRequests"
    assert b["details"] == {"retryAfterSeconds": 2}
    api.fail_next(1, 429, style="text")  # as the max-in-flight / APF filter answers
    st, h, b = get(api, "/api/v1/pods")
    assert st == 429 and h["retry-after"] == "1"
    assert h["content-type"] == "text/plain; charset=utf-8"
    assert b == b"Too many requests, please try again later.\n"
    assert get(api, "/api/v1/pods")[0] == 200
    api.fail_next(2, 503, match=lambda r: r.watch)
    assert get(api, "/api/v1/pods")[0] == 200  # lists untouched
    assert get(api, "/api/v1/pods?watch=1&timeoutSeconds=1")[0] == 503
    assert get(api, "/api/v1/pods?watch=1&timeoutSeconds=1")[0] == 503
    api.fail_next(1, 500)
    assert get(api, "/api/v1/pods", token="bad")[0] == 401  # authn comes first
    assert get(api, "/api/v1/pods")[0] == 500
    statuses = [r.status for r in api.requests()]
    assert statuses == [500, 429, 429, 200, 200, 503, 503, 401, 500]


def test_hanging_requests(api):
    api.hang_next(1, match="/api/v1/pods")
    c = Conn(api, timeout=0.3)
    c.send("/api/v1/pods?limit=500", api.token)
    with pytest.raises(socket.timeout):
        c.head()
    api.wait_requests(1, lambda r: r.query.get("limit") == "500")
    assert api.drop_hung() == 1
    c.s.settimeout(5)
    with pytest.raises(EOFError):
        c.head()
    c.close()
    assert get(api, "/api/v1/pods")[0] == 200  # only the next one hung


def test_request_log(api):
    t0 = time.monotonic()
    get(api, "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1&limit=500&resourceVersion=0")
    c, st, _ = watch(api, "/api/v1/pods?watch=1&resourceVersion=7&allowWatchBookmarks=true"
                          "&fieldSelector=spec.nodeName%3Dnode-1&timeoutSeconds=1")
    assert c.chunk() == b""
    c.close()
    lst, w = api.requests()
    assert lst.method == "GET" and lst.path == "/api/v1/pods" and not lst.watch
    assert lst.query == {"fieldSelector": "spec.nodeName=node-1", "limit": "500",
                         "resourceVersion": "0"}
    assert lst.header("authorization") == f"Bearer {api.token}" and lst.token == api.token
    assert w.watch and w.query["resourceVersion"] == "7" and w.status == 200
    assert w.header("User-Agent") == "kubeapi-test"
    assert t0 <= lst.time <= w.time <= time.monotonic() and lst.conn_id != w.conn_id
    assert api.requests(watch=True) == [w]
    assert api.wait_requests(2, timeout=0.1) == [lst, w]
    with pytest.raises(TimeoutError):
        api.wait_requests(3, timeout=0.1)


def test_curl_list_cert_and_watch(api, tmp_path):
    seed(api)
    env = dict(os.environ, NO_PROXY="*")
    out = subprocess.run(["curl", "-sS", "--fail", "--cacert", api.ca_path, "-H",
                          f"Authorization: Bearer {api.token}",
                          f"{api.url}/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-2"],
                         capture_output=True, env=env, timeout=10)
    assert out.returncode == 0, out.stderr
    assert names(json.loads(out.stdout)["items"]) == ["web-7d4f9c6b8d-00001",
                                                      "web-7d4f9c6b8d-00003"]
    out = subprocess.run(["curl", "-sS", "--fail", "--cacert", api.ca_path, "--cert",
                          api.client_cert_path, "--key", api.client_key_path,
                          "https://localhost:%d/apis/apps/v1/replicasets" % api.port],
                         capture_output=True, env=env, timeout=10)
    assert out.returncode == 0 and json.loads(out.stdout)["kind"] == "ReplicaSetList"
    out = subprocess.run(["curl", "-sS", "-N", "--cacert", api.ca_path, "-H",
                          f"Authorization: Bearer {api.token}",
                          f"{api.url}/api/v1/pods?watch=1&timeoutSeconds=1"],
                         capture_output=True, env=env, timeout=10)
    assert out.returncode == 0  # clean end of the chunked stream
    lines = out.stdout.decode().splitlines()
    assert len(lines) == 6 and all(json.loads(ln)["type"] == "ADDED" for ln in lines)


def test_stop_with_open_connections_is_prompt(tmp_path):
    api = KubeAPI(tmp_path).start()
    w, st, _ = watch(api, "/api/v1/pods?watch=1")
    idle = Conn(api)
    assert idle.get("/api/v1/pods", api.token)[0] == 200
    api.hang_next(1)
    hung = Conn(api)
    hung.send("/api/v1/pods", api.token)
    api.wait_watchers(1)
    api.wait_requests(3)
    t0 = time.monotonic()
    api.stop()
    assert time.monotonic() - t0 < 2.0
    for c in (w, idle, hung):
        c.s.settimeout(5)
        with pytest.raises(EOFError):
            c.chunk() if c is w else c.head()
        c.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", api.port), timeout=1).close()


def test_restart_keeps_state_and_port(api):
    rv = seed(api)
    port = api.port
    c, st, _ = watch(api, f"/api/v1/pods?watch=1&resourceVersion={rv}")
    api.wait_watchers(1)
    api.restart()
    with pytest.raises(EOFError):
        c.chunk()
    c.close()
    assert api.port == port and api.resource_version == rv
    api.add_pod(make_pod("after", "x", "node-1"))
    c, st, _ = watch(api, f"/api/v1/pods?watch=1&resourceVersion={rv}&timeoutSeconds=30")
    ev = c.event()  # resuming from the old resourceVersion still works
    assert ev["type"] == "ADDED" and ev["object"]["metadata"]["name"] == "after"
    c.close()


# ---------------------------------------------------------------------------- cluster-state kinds


def call(api, method, path, body=None, token="default"):
    """One request with a JSON body: (status, parsed body)."""
    tok = api.token if token == "default" else token
    c = http.client.HTTPSConnection("127.0.0.1", api.port, context=client_ctx(api), timeout=10)
    try:
        hdrs = {"Authorization": f"Bearer {tok}", "Content-Type": "application/json"}
        data = json.dumps(body).encode() if body is not None else None
        c.request(method, path, body=data, headers=hdrs)
        r = c.getresponse()
        return r.status, json.loads(r.read())
    finally:
        c.close()


def seed_cluster(api):
    """One object or more of every kind, across namespaces; returns {resource: names}."""
    objs = [make_namespace(n) for n in ("default", "kube-system", "shop")]
    objs += [make_node("cp-1", control_plane=True), make_node("node-1"), make_node("node-2")]
    objs += make_deployment_tree("web", "shop", replicas=2, nodes=("node-1", "node-2"))
    objs += [make_statefulset("db", "shop"), make_daemonset("fluentd", "kube-system"),
             make_cronjob("backup", "shop", active=["backup-29000000"],
                          last_schedule="2026-11-20T08:00:00Z"),
             make_job("backup-29000000", "shop"),
             make_hpa("web", "shop", target=("Deployment", "web")),
             make_pvc("data-db-0", "shop"), make_pvc("scratch", "shop", phase="Pending"),
             make_service("web", "shop"), make_service("edge", "shop", type_="LoadBalancer",
                                                      load_balancer_ip="203.0.113.7"),
             make_service("kubernetes", "default", cluster_ip="10.96.0.1",
                          ports=((443, 6443),)),
             make_resourcequota("compute", "shop"),
             make_lease("kube-controller-manager", holder="cp-1_8f1c")]
    for o in objs:
        api.add(o)
    return objs


KINDS = [  # (list path, kind, names in etcd key order)
    ("/api/v1/nodes", "Node", ["cp-1", "node-1", "node-2"]),
    ("/api/v1/namespaces", "Namespace", ["default", "kube-system", "shop"]),
    ("/api/v1/services", "Service", ["kubernetes", "edge", "web"]),
    ("/api/v1/persistentvolumeclaims", "PersistentVolumeClaim", ["data-db-0", "scratch"]),
    ("/api/v1/resourcequotas", "ResourceQuota", ["compute"]),
    ("/apis/apps/v1/deployments", "Deployment", ["web"]),
    ("/apis/apps/v1/statefulsets", "StatefulSet", ["db"]),
    ("/apis/apps/v1/daemonsets", "DaemonSet", ["fluentd"]),
    ("/apis/batch/v1/cronjobs", "CronJob", ["backup"]),
    ("/apis/autoscaling/v2/horizontalpodautoscalers", "HorizontalPodAutoscaler", ["web"]),
    ("/apis/coordination.k8s.io/v1/leases", "Lease", ["kube-controller-manager"]),
]


def test_new_kinds_list_page_get_and_watch(api):
    seed_cluster(api)
    for path, kind, want in KINDS:
        st, _, lst = get_json(api, path)
        assert st == 200 and lst["kind"] == kind + "List", path
        assert names(lst["items"]) == want, path
        assert all("kind" not in i for i in lst["items"])
        # one item a page: every name once, remainingItemCount counting down
        seen, tok = [], None
        while True:
            st, _, page = get_json(api, path + "?limit=1" + (f"&continue={tok}" if tok else ""))
            assert st == 200 and len(page["items"]) == 1
            seen += names(page["items"])
            tok = page["metadata"].get("continue")
            if not tok:
                break
            assert page["metadata"]["remainingItemCount"] == len(want) - len(seen)
        assert seen == want, path
        item = lst["items"][0]
        ns = item["metadata"].get("namespace")
        base = path.rsplit("/", 1)
        one = (f"{base[0]}/namespaces/{ns}/{base[1]}/{want[0]}" if ns
               else f"{path}/{want[0]}")
        st, _, got = get_json(api, one)
        assert st == 200 and got["kind"] == kind and got["metadata"]["name"] == want[0], one
        assert got["apiVersion"] == lst["apiVersion"]
        st, _, b = get_json(api, one + "-missing")
        assert st == 404 and b["reason"] == "NotFound" and b["details"]["kind"] == base[1]
        # watch from 0: ADDED for each, then a live MODIFIED
        c, st, _ = watch(api, path + "?watch=1&allowWatchBookmarks=true")
        assert st == 200
        evs = [c.event() for _ in want]
        assert [e["type"] for e in evs] == ["ADDED"] * len(want)
        assert names([e["object"] for e in evs]) == want
        api.modify(kind, ns, want[0], lambda o: o["metadata"].setdefault(
            "labels", {}).update({"touched": "yes"}))
        ev = c.event()
        assert ev["type"] == "MODIFIED" and ev["object"]["metadata"]["labels"]["touched"]
        assert int(ev["object"]["metadata"]["resourceVersion"]) == api.resource_version
        api.emit_bookmark()
        bm = c.event()
        assert bm["type"] == "BOOKMARK" and bm["object"]["kind"] == kind
        assert bm["object"]["metadata"] == {"resourceVersion": str(api.resource_version),
                                            "creationTimestamp": None}
        c.close()


def test_namespaced_lists_and_selectors_of_new_kinds(api):
    seed_cluster(api)
    st, _, lst = get_json(api, "/api/v1/namespaces/shop/services")
    assert names(lst["items"]) == ["edge", "web"]
    st, _, lst = get_json(api, "/api/v1/services?fieldSelector=spec.type%3DLoadBalancer")
    assert names(lst["items"]) == ["edge"]
    st, _, lst = get_json(api, "/api/v1/nodes?labelSelector=node-role.kubernetes.io/"
                               "control-plane")
    assert names(lst["items"]) == ["cp-1"]
    st, _, lst = get_json(api, "/api/v1/nodes?fieldSelector=spec.unschedulable%3Dfalse")
    assert names(lst["items"]) == ["cp-1", "node-1", "node-2"]  # unset reads "false"
    st, _, lst = get_json(api, "/api/v1/namespaces?fieldSelector=status.phase%3DActive")
    assert names(lst["items"]) == ["default", "kube-system", "shop"]
    st, _, b = get_json(api, "/apis/apps/v1/deployments?fieldSelector=spec.replicas%3D2")
    assert st == 400 and b["message"] == "field label not supported: spec.replicas"
    st, _, lst = get_json(api, "/apis/apps/v1/namespaces/kube-system/deployments")
    assert st == 200 and lst["items"] == []


def test_cluster_scoped_and_wrong_group_paths(api):
    seed_cluster(api)
    for path in ("/api/v1/namespaces/default/nodes", "/api/v1/namespaces/shop/namespaces",
                 "/api/v1/namespaces/default/nodes/node-1", "/apis/apps/v1/nodes",
                 "/apis/apps/v1/services", "/api/v1/deployments",
                 "/apis/autoscaling/v1/horizontalpodautoscalers",
                 "/apis/batch/v1/leases", "/api/v1/deployments/web",
                 "/apis/apps/v1/deployments/web"):
        st, _, b = get_json(api, path)
        assert st == 404 and b["message"] == ("the server could not find the requested "
                                              "resource"), path
    st, _, ns = get_json(api, "/api/v1/namespaces/shop")
    assert st == 200 and ns["kind"] == "Namespace" and ns["status"]["phase"] == "Active"
    st, _, b = get_json(api, "/api/v1/nodes/nope")
    assert st == 404 and b["message"] == 'nodes "nope" not found'
    assert b["details"] == {"name": "nope", "kind": "nodes"}
    st, _, b = get_json(api, "/apis/apps/v1/namespaces/shop/deployments/nope")
    assert b["details"] == {"name": "nope", "group": "apps", "kind": "deployments"}
    c, st, _ = watch(api, "/api/v1/watch/nodes")  # the legacy watch path
    assert st == 200 and c.event()["object"]["metadata"]["name"] == "cp-1"
    c.close()


def test_discovery_documents(api):
    st, _, g = get_json(api, "/apis")
    assert st == 200 and g["kind"] == "APIGroupList"
    assert [x["name"] for x in g["groups"]] == ["apps", "autoscaling", "batch",
                                               "coordination.k8s.io", "events.k8s.io"]
    assert g["groups"][1]["preferredVersion"] == {"groupVersion": "autoscaling/v2",
                                                  "version": "v2"}
    st, _, core = get_json(api, "/api/v1")
    assert core["kind"] == "APIResourceList" and core["groupVersion"] == "v1"
    byname = {r["name"]: r for r in core["resources"]}
    assert byname["nodes"]["namespaced"] is False and byname["pods"]["namespaced"] is True
    assert byname["persistentvolumeclaims"]["shortNames"] == ["pvc"]
    assert "watch" in byname["services"]["verbs"]
    st, _, apps = get_json(api, "/apis/apps/v1")
    assert {r["name"] for r in apps["resources"] if "/" not in r["name"]} == {
        "deployments", "replicasets", "statefulsets", "daemonsets"}
    st, _, grp = get_json(api, "/apis/coordination.k8s.io")
    assert grp["kind"] == "APIGroup" and grp["name"] == "coordination.k8s.io"
    assert get(api, "/apis/coordination.k8s.io/v9")[0] == 404


def test_lease_create_update_conflict_delete(api):
    path = "/apis/coordination.k8s.io/v1/namespaces/kmon/leases"
    body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "kmon-cluster-state", "namespace": "kmon"},
            "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15,
                     "acquireTime": "2026-11-20T08:00:00.000000Z",
                     "renewTime": "2026-11-20T08:00:00.000000Z", "leaseTransitions": 0}}
    c, st, _ = watch(api, path + "?watch=1")
    st, created = call(api, "POST", path, body)
    assert st == 201 and UID.match(created["metadata"]["uid"])
    assert RFC3339.match(created["metadata"]["creationTimestamp"])
    rv1 = created["metadata"]["resourceVersion"]
    ev = c.event()
    assert ev["type"] == "ADDED" and ev["object"]["metadata"]["resourceVersion"] == rv1
    st, b = call(api, "POST", path, body)
    assert st == 409 and b["reason"] == "AlreadyExists"
    assert b["message"] == 'leases.coordination.k8s.io "kmon-cluster-state" already exists'
    assert b["details"] == {"name": "kmon-cluster-state", "group": "coordination.k8s.io",
                            "kind": "leases"}
    upd = dict(created, spec=dict(created["spec"], renewTime="2026-11-20T08:00:05.000000Z"))
    st, got = call(api, "PUT", path + "/kmon-cluster-state", upd)
    assert st == 200 and int(got["metadata"]["resourceVersion"]) > int(rv1)
    assert got["metadata"]["uid"] == created["metadata"]["uid"]
    assert c.event()["type"] == "MODIFIED"
    # the other candidate still holds the first version: optimistic concurrency says no
    st, b = call(api, "PUT", path + "/kmon-cluster-state",
                 dict(created, spec=dict(created["spec"], holderIdentity="b")))
    assert st == 409 and b == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'Operation cannot be fulfilled on leases.coordination.k8s.io '
                   '"kmon-cluster-state": the object has been modified; please apply your '
                   'changes to the latest version and try again', "reason": "Conflict",
        "details": {"name": "kmon-cluster-state", "group": "coordination.k8s.io",
                    "kind": "leases"}, "code": 409}
    assert api.get("Lease", "kmon", "kmon-cluster-state")["spec"]["holderIdentity"] == "a"
    nov = dict(got)
    nov["metadata"] = {k: v for k, v in got["metadata"].items() if k != "resourceVersion"}
    st, b = call(api, "PUT", path + "/kmon-cluster-state", nov)
    assert st == 422 and b["reason"] == "Invalid"
    st, b = call(api, "PUT", path + "/other", dict(got))
    assert st == 400 and "does not match the name on the URL" in b["message"]
    st, b = call(api, "PUT", path + "/missing", dict(got, metadata=dict(
        got["metadata"], name="missing")))
    assert st == 404 and b["message"] == 'leases.coordination.k8s.io "missing" not found'
    st, b = call(api, "GET", path + "/kmon-cluster-state")
    assert st == 200 and b["spec"]["renewTime"] == "2026-11-20T08:00:05.000000Z"
    st, b = call(api, "DELETE", path + "/kmon-cluster-state")
    assert st == 200 and b["status"] == "Success" and b["details"]["uid"] == \
        created["metadata"]["uid"]
    assert c.event()["type"] == "DELETED"
    assert call(api, "DELETE", path + "/kmon-cluster-state")[0] == 404
    c.close()
    # writes are for leases only, and RBAC applies to them
    st, b = call(api, "POST", "/apis/apps/v1/namespaces/shop/deployments", {"metadata": {}})
    assert st == 405
    api.deny("update", "leases")
    st, _ = call(api, "POST", path, body)
    assert st == 201
    st, b = call(api, "PUT", path + "/kmon-cluster-state",
                 api.get("Lease", "kmon", "kmon-cluster-state"))
    assert st == 403 and b["message"].endswith('cannot update resource "leases" in API group '
                                               '"coordination.k8s.io" in the namespace "kmon"')


# ---------------------------------------------------------------------------- builders


def test_node_builder_shape():
    n = make_node("cp-1", control_plane=True, taints=[{"key": "gpu", "value": "a100",
                                                        "effect": "NoSchedule"}])
    assert n["metadata"]["labels"]["kubernetes.io/hostname"] == "cp-1"
    assert n["metadata"]["labels"]["node-role.kubernetes.io/control-plane"] == ""
    assert "namespace" not in n["metadata"] and UID.match(n["metadata"]["uid"])
    assert [t["key"] for t in n["spec"]["taints"]] == [
        "node-role.kubernetes.io/control-plane", "gpu"]
    assert [c["type"] for c in n["status"]["conditions"]] == [
        "NetworkUnavailable", "MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
    ready = n["status"]["conditions"][-1]
    assert ready["status"] == "True" and ready["reason"] == "KubeletReady"
    for c in n["status"]["conditions"]:
        assert RFC3339.match(c["lastHeartbeatTime"]) and RFC3339.match(c["lastTransitionTime"])
    assert n["status"]["capacity"]["memory"] == "16393244Ki"
    assert n["status"]["allocatable"]["pods"] == "110"
    assert n["status"]["nodeInfo"]["kubeletVersion"] == "v1.29.4"
    assert {a["type"] for a in n["status"]["addresses"]} == {"InternalIP", "Hostname"}
    bad = make_node("n", ready=False, conditions={"DiskPressure": "True"})
    st = {c["type"]: (c["status"], c["reason"]) for c in bad["status"]["conditions"]}
    assert st["Ready"] == ("False", "KubeletNotReady")
    assert st["DiskPressure"] == ("True", "KubeletHasDiskPressure")


def test_workload_builders_shape():
    d = make_deployment("web", "shop", replicas=4, ready=3)
    assert d["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {
        "maxUnavailable": "25%", "maxSurge": "25%"}}
    assert d["status"]["unavailableReplicas"] == 1 and d["metadata"]["generation"] == 1
    assert [c["type"] for c in d["status"]["conditions"]] == ["Available", "Progressing"]
    assert d["status"]["conditions"][0]["status"] == "True"  # 3 of 4 within 25%
    d0 = make_deployment("idle", replicas=0)
    assert d0["status"] == {"observedGeneration": 1, "conditions": d0["status"]["conditions"]}
    tree = make_deployment_tree("web", "shop", replicas=2)
    dep, rs, pods = tree[0], tree[1], tree[2:]
    assert rs["metadata"]["ownerReferences"][0]["uid"] == dep["metadata"]["uid"]
    assert all(p["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]
               for p in pods)
    assert rs["metadata"]["name"].startswith("web-") and len(pods) == 2
    s = make_statefulset("db", replicas=3, ready=2)
    assert s["status"]["currentRevision"] == s["status"]["updateRevision"]
    assert s["status"]["readyReplicas"] == 2 and s["status"]["availableReplicas"] == 2
    ds = make_daemonset("fluentd", desired=3, ready=2)
    assert ds["status"]["numberUnavailable"] == 1 and ds["status"]["numberMisscheduled"] == 0
    cj = make_cronjob("backup", active=["backup-1"], last_schedule="2026-11-20T08:00:00Z")
    assert cj["status"]["active"][0]["kind"] == "Job" and cj["spec"]["suspend"] is False
    h = make_hpa("web", min_replicas=2, max_replicas=5, current=3, desired=4)
    assert h["apiVersion"] == "autoscaling/v2" and h["spec"]["scaleTargetRef"]["name"] == "web"
    assert [c["type"] for c in h["status"]["conditions"]] == [
        "AbleToScale", "ScalingActive", "ScalingLimited"]
    p = make_pvc("data", storage="1Gi")
    assert p["spec"]["volumeName"] == "pvc-" + p["metadata"]["uid"]
    assert p["status"]["capacity"] == {"storage": "1Gi"}
    assert "volumeName" not in make_pvc("x", phase="Pending")["spec"]
    svc = make_service("edge", type_="NodePort", ports=((80, 8080), (443, 8443)))
    assert [x["name"] for x in svc["spec"]["ports"]] == ["port-0", "port-1"]
    assert all(30000 <= x["nodePort"] <= 32767 for x in svc["spec"]["ports"])
    q = make_resourcequota("compute", hard={"pods": "10"}, used={"pods": "3"})
    assert q["status"] == {"hard": {"pods": "10"}, "used": {"pods": "3"}}
    lease = make_lease("l", holder="me")
    assert lease["spec"]["renewTime"].endswith(".000000Z")


def test_pod_states():
    p = make_pending_pod("big", "shop", owner=("ReplicaSet", "big-5c9f8b7d6"))
    assert "nodeName" not in p["spec"] and p["status"]["phase"] == "Pending"
    assert p["status"]["conditions"][0]["reason"] == "Unschedulable"
    assert "startTime" not in p["status"] and "containerStatuses" not in p["status"]
    p = make_pod("web-1", "shop", phase="Pending")
    set_container_state(p, "app", "ImagePullBackOff")
    cs = p["status"]["containerStatuses"][0]
    assert cs["state"]["waiting"]["reason"] == "ImagePullBackOff" and not cs["ready"]
    assert "containerID" not in cs
    p = make_pod("web-2", "shop", containers=("app", "sidecar"))
    set_container_state(p, "app", "CrashLoopBackOff", restarts=7, last_reason="OOMKilled")
    cs = p["status"]["containerStatuses"][0]
    assert cs["restartCount"] == 7 and cs["lastState"]["terminated"]["exitCode"] == 137
    ready = [c for c in p["status"]["conditions"] if c["type"] == "Ready"][0]
    assert ready["status"] == "False" and ready["message"] == \
        "containers with unready status: [app]"
    p = make_pod("web-3", init_containers=("init-db",), container_resources={
        "app": {"requests": {"cpu": "250m"}, "limits": {"memory": "1Gi"}}})
    assert p["spec"]["containers"][0]["resources"] == {"requests": {"cpu": "250m"},
                                                       "limits": {"memory": "1Gi"}}
    assert p["status"]["initContainerStatuses"][0]["state"]["terminated"]["reason"] == \
        "Completed"


# ---------------------------------------------------------------------------- scripted changes


def test_scripted_scale_crash_drain_notready(api):
    seed_cluster(api)
    c, st, _ = watch(api, "/apis/apps/v1/deployments?watch=1")
    c.event()
    rv0 = api.resource_version
    scale_deployment(api, "shop", "web", 4)
    ev = c.event()
    assert ev["type"] == "MODIFIED" and ev["object"]["spec"]["replicas"] == 4
    assert ev["object"]["metadata"]["generation"] == 2
    ev = c.event()
    assert ev["object"]["status"]["readyReplicas"] == 4
    assert ev["object"]["status"]["observedGeneration"] == 2
    assert int(ev["object"]["metadata"]["resourceVersion"]) > rv0
    rs = [r for r in api.list("ReplicaSet", "shop")][0]
    assert rs["spec"]["replicas"] == 4 and rs["status"]["readyReplicas"] == 4
    pods = [p for p in api.list("Pod", "shop")
            if p["metadata"]["ownerReferences"][0]["name"] == rs["metadata"]["name"]]
    assert len(pods) == 4
    scale_deployment(api, "shop", "web", 1)
    assert len([p for p in api.list("Pod", "shop")
                if p["metadata"]["ownerReferences"][0]["name"] == rs["metadata"]["name"]]) == 1
    c.close()

    pod = api.list("Pod", "shop")[0]["metadata"]["name"]
    crash_loop(api, "shop", pod, "app", times=3, last_reason="OOMKilled")
    cs = api.get("Pod", "shop", pod)["status"]["containerStatuses"][0]
    assert cs["restartCount"] == 3 and cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert cs["lastState"]["terminated"]["reason"] == "OOMKilled"

    api.add(make_pod("fluentd-abcde", "kube-system", "node-2",
                     owner=("DaemonSet", "fluentd")))
    api.add(make_pod("solo", "shop", "node-2"))
    gone = drain_node(api, "node-2")
    assert ("shop", "solo") in gone and ("kube-system", "fluentd-abcde") not in gone
    n = api.get("Node", None, "node-2")
    assert n["spec"]["unschedulable"] is True
    assert {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}.items() <= \
        n["spec"]["taints"][0].items()
    assert all(p["spec"]["nodeName"] != "node-2" or p["metadata"]["name"] == "fluentd-abcde"
               for p in api.list("Pod"))

    node_not_ready(api, "node-1")
    n = api.get("Node", None, "node-1")
    st = {c["type"]: c for c in n["status"]["conditions"]}
    assert st["Ready"]["status"] == "Unknown" and st["Ready"]["reason"] == "NodeStatusUnknown"
    assert st["NetworkUnavailable"]["status"] == "False"
    assert [(t["key"], t["effect"]) for t in n["spec"]["taints"]] == [
        ("node.kubernetes.io/unreachable", "NoSchedule"),
        ("node.kubernetes.io/unreachable", "NoExecute")]
    node_ready(api, "node-1")
    n = api.get("Node", None, "node-1")
    assert "taints" not in n["spec"]
    assert {c["type"]: c["status"] for c in n["status"]["conditions"]}["Ready"] == "True"


def test_namespace_deletion_cascades(api):
    seed_cluster(api)
    c, st, _ = watch(api, "/api/v1/namespaces?watch=1")
    for _ in range(3):
        c.event()
    cp, st, _ = watch(api, "/api/v1/namespaces/shop/pods?watch=1")
    for _ in range(2):
        cp.event()
    delete_namespace(api, "shop", finish=False)
    ev = c.event()
    assert ev["type"] == "MODIFIED" and ev["object"]["status"]["phase"] == "Terminating"
    assert RFC3339.match(ev["object"]["metadata"]["deletionTimestamp"])
    assert api.list("Service", "shop")  # content still there while Terminating
    n = finish_namespace_deletion(api, "shop")
    assert n == 13  # deployment, rs, 2 pods, sts, cronjob, job, hpa, 2 pvc, 2 svc, quota
    assert [cp.event()["type"] for _ in range(2)] == ["DELETED", "DELETED"]
    ev = c.event()
    assert ev["type"] == "MODIFIED" and ev["object"]["spec"] == {}
    ev = c.event()
    assert ev["type"] == "DELETED" and ev["object"]["metadata"]["name"] == "shop"
    assert get(api, "/api/v1/namespaces/shop")[0] == 404
    for path, kind, _ in KINDS:
        if kind not in ("Node", "Namespace", "Lease"):
            st, _, lst = get_json(api, path)
            assert all(i["metadata"]["namespace"] != "shop" for i in lst["items"]), path
    c.close()
    cp.close()


# ---------------------------------------------------------------------------- kubectl


@pytest.fixture
def kubectl(api, tmp_path):
    exe = shutil.which("kubectl")
    if exe is None:
        pytest.skip("kubectl not on PATH: the real-client checks of the double need it")
    kc = api.write_kubeconfig(tmp_path / "kubeconfig", namespace="shop")
    env = dict(os.environ, HOME=str(tmp_path), KUBECONFIG=kc, NO_PROXY="*")
    env.pop("HTTPS_PROXY", None)
    env.pop("https_proxy", None)

    argv = [exe, "--kubeconfig", kc, "--cache-dir", str(tmp_path / "cache")]

    def run(*args, timeout=20, check=True):
        r = subprocess.run(argv + list(args), capture_output=True, text=True, env=env,
                           timeout=timeout)
        if check:
            assert r.returncode == 0, (args, r.stderr)
        return r
    run.argv, run.env = argv, env  # for a kubectl left running (--watch)
    return run


def test_kubectl_reads_every_kind(api, kubectl):
    seed_cluster(api)
    for resource, kind, want in (("nodes", "Node", ["cp-1", "node-1", "node-2"]),
                                 ("namespaces", "Namespace", ["default", "kube-system",
                                                              "shop"]),
                                 ("deployments", "Deployment", ["web"]),
                                 ("statefulsets", "StatefulSet", ["db"]),
                                 ("cronjobs", "CronJob", ["backup"]),
                                 ("hpa", "HorizontalPodAutoscaler", ["web"]),
                                 ("pvc", "PersistentVolumeClaim", ["data-db-0", "scratch"]),
                                 ("svc", "Service", ["edge", "web"]),
                                 ("resourcequotas", "ResourceQuota", ["compute"]),
                                 ("pods", "Pod", None)):
        out = json.loads(kubectl("get", resource, "-o", "json").stdout)
        assert out["kind"] == "List" or out["kind"].endswith("List")
        assert all(i["kind"] == kind for i in out["items"]), resource
        if want is not None:
            assert names(out["items"]) == want, resource
    out = json.loads(kubectl("get", "daemonsets", "-n", "kube-system", "-o", "json").stdout)
    assert names(out["items"]) == ["fluentd"]
    out = json.loads(kubectl("get", "lease", "-n", "kube-system",
                             "kube-controller-manager", "-o", "json").stdout)
    assert out["kind"] == "Lease" and out["spec"]["holderIdentity"] == "cp-1_8f1c"
    out = kubectl("get", "deploy", "-A").stdout
    assert "web" in out and "shop" in out
    out = kubectl("get", "nodes").stdout
    assert "cp-1" in out and "node-2" in out
    r = kubectl("get", "nodes", "nope", check=False)
    assert r.returncode != 0 and 'nodes "nope" not found' in r.stderr


def test_kubectl_watch_sees_changes(api, kubectl):
    seed_cluster(api)
    p = subprocess.Popen(kubectl.argv + ["get", "nodes", "--watch", "-o", "json",
                                         "--request-timeout", "20s"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=kubectl.env,
                         text=True)
    try:
        api.wait_watchers(1, timeout=15)
        node_not_ready(api, "node-1")
        time.sleep(1.0)
    finally:
        p.terminate()
        out, err = p.communicate(timeout=10)
    objs = [json.loads(chunk) for chunk in re.split(r"(?<=\n})\n(?=\{)", out.strip()) if chunk]
    assert [o["metadata"]["name"] for o in objs[:3]] == ["cp-1", "node-1", "node-2"], err
    last = [o for o in objs if o["metadata"]["name"] == "node-1"][-1]
    assert {c["type"]: c["status"] for c in last["status"]["conditions"]}["Ready"] == "Unknown"
