"""A faithful test double of kube-apiserver (1.28+) for kmon's runtime tests.

The node agent lists and watches the pods on its node and reads ReplicaSets and Jobs to
resolve workload ownership; the cluster-state collector lists and watches every kind
kube-state-metrics covers (pods, nodes, namespaces, services, persistentvolumeclaims,
resourcequotas, deployments, replicasets, statefulsets, daemonsets, jobs, cronjobs,
horizontalpodautoscalers (autoscaling/v2)), watches events.k8s.io/v1 Events (written to
the logs) and elects a leader with a coordination.k8s.io Lease.  No real API server can run here, so this module serves the
same wire protocol from Python's standard library, over TLS, with the details that a
client has to get right reproduced as the real server does them:

* TLS with a CA, a server certificate (SANs 127.0.0.1, localhost, kubernetes.default.svc...)
  and a client certificate, all made at test time with the ``openssl`` CLI (RSA 2048, like
  kubeadm); HTTP/1.1 with keep-alive; ALPN offers only http/1.1 (no HTTP/2).
* Authentication in the order the real union authenticator uses: a verified client
  certificate first, then ``Authorization: Bearer``; a bad token is 401 with the real
  ``Status`` body; with no credentials it is 401 (``anonymous_auth=False``, the default
  here) or, like a default kube-apiserver, user system:anonymous who gets 403.
* Every kind at its real path (core /api/v1, /apis/<group>/<version>, cluster-scoped
  nodes and namespaces refusing a /namespaces/<ns>/ path with the plain 404), and the
  legacy discovery documents kubectl reads (/api, /api/v1, /apis, /apis/<group>[/<v>]).
* Lists (``PodList``, ``NodeList``, ...) with items sorted by etcd key and without
  per-item kind/apiVersion, ``fieldSelector`` with the field labels the real conversion
  functions accept (pods: spec.nodeName, status.phase, ...; nodes: spec.unschedulable;
  services: spec.type, spec.clusterIP; ...) and ``labelSelector``, ``limit``/``continue`` paging from a consistent snapshot
  (continue token = base64url JSON {"v","rv","start"} as etcd3's store writes it,
  ``remainingItemCount`` only without selectors, limit ignored for resourceVersion=0 as
  the 1.28 watch cache does), expired continue -> 410 Expired carrying an "inconsistent"
  continue token.
* Watches: 200, ``Content-Type: application/json``, chunked, one JSON event per line,
  one chunk per event; replay after ``resourceVersion`` then live events; initial ADDED
  events when resourceVersion is unset or "0"; ADDED/DELETED synthesised when an object
  starts or stops matching the selector (DELETED carries the previous object with the
  event's resourceVersion, as the cacher does); BOOKMARK objects shaped like the real
  ones (``"creationTimestamp":null``, ``"spec":{"containers":null}``, ``"status":{}``),
  sent only with allowWatchBookmarks, periodically and 2 s before the watch deadline;
  ``timeoutSeconds`` ends the stream with the terminating chunk and keeps the connection.
* Too old resourceVersion: 200 + one ERROR event with the ``Expired`` 410 Status and the
  watch cache's message "too old resource version: R (F)" (default), or a plain HTTP 410
  (``expired_mode="http"``, the etcd path's "The resourceVersion for the provided watch is
  too old.").
* Named GETs with the real NotFound Status; unknown paths get "the server could not find
  the requested resource"; /version, /healthz, /livez, /readyz.
* Leases are writable as leader election writes them: POST (201; 409 AlreadyExists), PUT
  with optimistic concurrency (a stale metadata.resourceVersion is 409 Conflict "the
  object has been modified; please apply your changes to the latest version and try
  again"; none is 422), DELETE (a Success Status); other kinds answer 405 to writes.
* Test controls: add/update/modify/delete objects (global, increasing resourceVersion like
  etcd's revision), compact history, emit bookmarks, hold watch events back and release
  them as one burst, drop watch connections mid-stream,
  inject 500/429/503/... (429 as a Status with Retry-After or as the plain-text reply of
  the max-in-flight/APF filter) or hanging requests, rotate tokens (rewriting in-cluster
  token files with the kubelet's atomic ``..data`` symlink swap), deny verbs (403), and a
  request log (with the bodies of writes) to assert on reconnects, backoff,
  resourceVersion and selectors.

Builders ``make_pod``, ``make_replicaset`` and ``make_job`` produce objects shaped like
``kubectl get -o json`` output on a real cluster (containerd, CRI-O or Docker runtimes);
kubeobjects.py builds the other kinds, kubescript.py scripts cluster changes (scale,
crash loop, drain, NotReady, namespace deletion) and ksm_model.py computes the
kube-state-metrics series the objects must produce.  Standard library only; needs the
``openssl`` binary.

Sized for a generated cluster of tens of thousands of objects (bench/kstate-bench.py): each
object is serialized once when stored, list pages are joined from those bytes and found by
bisecting the sorted keys (a page costs its own items), and a watch event is encoded once
for all watchers and written in batches.
"""

import atexit
import base64
import bisect
import contextlib
import copy
import datetime
import functools
import hashlib
import json
import os
import queue
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "KubeAPI", "Request", "make_pod", "make_replicaset", "make_job", "make_uid",
    "status_body", "encode_json", "parse_kubeconfig",
]

VERSION_INFO = {
    "major": "1", "minor": "29", "gitVersion": "v1.29.4",
    "gitCommit": "55019c83b0fd51ef4ced8c29eec2c4847f896e74", "gitTreeState": "clean",
    "buildDate": "2024-04-16T15:03:30Z", "goVersion": "go1.21.9", "compiler": "gc",
    "platform": "linux/amd64",
}

# --------------------------------------------------------------------------------------
# JSON and Status objects


def encode_json(obj, indent=None):
    """Encode like Go's encoding/json as the API server uses it: compact, HTML characters
    escaped, a trailing newline (json.Encoder.Encode)."""
    if indent:
        s = json.dumps(obj, indent=indent, ensure_ascii=False)
    else:
        s = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    s = (s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
         .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
    return (s + "\n").encode()


def _clone(obj):
    """A deep copy of a JSON object, several times faster than copy.deepcopy.  Stored
    objects are never changed in place (updates replace them), so the store, the event
    history and the responses share them and only what comes in or goes out to a caller
    is copied."""
    return json.loads(json.dumps(obj))


# Serialized once: a stored object's JSON (encode_json's bytes without the newline) is made
# when it is stored, and list pages and watch events are joined from those bytes instead of
# encoding the same objects again for every page, watcher and event.  The bytes are exactly
# what encode_json of the object (or of the list / event around it) gives.

_HEADS = {}


def _head(kind, api_version):
    """'{"kind":K,"apiVersion":A,' as encode_json writes those two keys first."""
    h = _HEADS.get((kind, api_version))
    if h is None:
        h = encode_json({"kind": kind, "apiVersion": api_version})[:-2] + b","
        _HEADS[(kind, api_version)] = h
    return h


def _store_json(obj):
    """(full, item): the compact JSON of obj, and of obj without kind and apiVersion (a
    list's item), both without a trailing newline."""
    full = encode_json(obj)[:-1]
    keys = list(obj)
    if keys[:2] == ["kind", "apiVersion"] and len(keys) > 2 and isinstance(
            obj["kind"], str) and isinstance(obj["apiVersion"], str):
        head = _head(obj["kind"], obj["apiVersion"])
        if full.startswith(head):
            return full, b"{" + full[len(head):]
    if "kind" not in obj and "apiVersion" not in obj:
        return full, full
    return full, encode_json({k: v for k, v in obj.items()
                              if k not in ("kind", "apiVersion")})[:-1]


def _full_from_item(obj, item):
    """The full JSON of a stored object from its cached item JSON."""
    keys = list(obj)
    if keys[:2] == ["kind", "apiVersion"] and len(keys) > 2 and isinstance(
            obj["kind"], str) and isinstance(obj["apiVersion"], str):
        return _head(obj["kind"], obj["apiVersion"]) + item[1:]
    return encode_json(obj)[:-1]


def _event_line(typ, full):
    """encode_json({"type": typ, "object": obj}) from obj's JSON."""
    return b'{"type":"%s","object":%s}\n' % (typ.encode(), full)


def status_body(code, reason, message, details=None, metadata=None):
    """A metav1.Status failure object, fields in the real server's order."""
    st = {"kind": "Status", "apiVersion": "v1", "metadata": metadata or {},
          "status": "Failure", "message": message, "reason": reason}
    if details is not None:
        st["details"] = details
    st["code"] = code
    return st


_REASONS = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
    405: "MethodNotAllowed", 409: "Conflict", 410: "Expired", 422: "Invalid",
    429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout",
}

_PHRASES = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 409: "Conflict", 410: "Gone", 422: "Unprocessable Entity",
    429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}


def _fault_status(code, retry_after):
    """The Status the real server sends for an error of this code (apierrors.New*)."""
    if code == 500:
        return status_body(500, "InternalError", "Internal error occurred: injected failure",
                           {"causes": [{"message": "injected failure"}]})
    if code == 429:
        return status_body(429, "TooManyRequests", "Too many requests: injected throttling",
                           {"retryAfterSeconds": retry_after or 1})
    if code == 503:
        return status_body(503, "ServiceUnavailable", "injected unavailability",
                           {"retryAfterSeconds": retry_after} if retry_after else None)
    if code == 504:
        return status_body(504, "Timeout", "Timeout: request did not complete within "
                           "requested timeout - context deadline exceeded",
                           {"retryAfterSeconds": retry_after} if retry_after else {})
    if code == 410:
        return status_body(410, "Expired", "The resourceVersion for the provided list is too old.")
    return status_body(code, _REASONS.get(code, "Unknown"), "injected failure")


# --------------------------------------------------------------------------------------
# Deterministic identifiers and timestamps


def _digest(*parts):
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()


def make_uid(*parts):
    """A lowercase 8-4-4-4-12 uid (version 4 layout) derived from parts, stable per run."""
    h = _digest("uid", *parts)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:32]}"


def _hex64(*parts):
    return _digest("hex64", *parts)


_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand


def _suffix(n, *parts):
    h = int(_digest("suffix", *parts), 16)
    out = ""
    for _ in range(n):
        h, r = divmod(h, len(_NAME_ALPHABET))
        out += _NAME_ALPHABET[r]
    return out


@functools.lru_cache(maxsize=4096)
def _parse_ts(ts):
    return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)


@functools.lru_cache(maxsize=65536)
def _ts(base, plus=0):
    return (_parse_ts(base) + datetime.timedelta(seconds=plus)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _now_ts():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------
# Object builders


_RUNTIME_PREFIX = {"containerd": "containerd", "cri-o": "cri-o", "crio": "cri-o",
                   "docker": "docker"}

_DEFAULT_IMAGES = {"app": "nginx:1.25.3", "sidecar": "busybox:1.36.1",
                   "istio-proxy": "docker.io/istio/proxyv2:1.20.3",
                   "fluentd": "fluent/fluentd:v1.16-1", "postgres": "postgres:16.2"}


def _qualify_image(image):
    """docker.io/library/ form, as containerd and CRI-O report the image."""
    first = image.split("/")[0]
    if "/" not in image:
        return "docker.io/library/" + image
    if "." not in first and ":" not in first and first != "localhost":
        return "docker.io/" + image
    return image


def _image_status(image, runtime):
    repo = image.rsplit(":", 1)[0] if ":" in image.split("/")[-1] else image
    digest = "sha256:" + _hex64("image", image)
    if runtime == "docker":
        return image, f"docker-pullable://{repo}@{digest}"
    q = _qualify_image(image)
    qrepo = q.rsplit(":", 1)[0] if ":" in q.split("/")[-1] else q
    return q, f"{qrepo}@{digest}"


def _resources_for(qos):
    if qos == "Guaranteed":
        return {"limits": {"cpu": "500m", "memory": "256Mi"},
                "requests": {"cpu": "500m", "memory": "256Mi"}}
    if qos == "Burstable":
        return {"limits": {"memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}}
    if qos == "BestEffort":
        return {}
    raise ValueError(f"unknown qos class {qos!r}")


def _owner_api_version(kind):
    return {"ReplicaSet": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1",
            "Deployment": "apps/v1", "Job": "batch/v1", "CronJob": "batch/v1",
            "Node": "v1", "ReplicationController": "v1"}.get(kind, "v1")


def _owner_ref(kind, name, uid):
    ref = {"apiVersion": _owner_api_version(kind), "kind": kind, "name": name, "uid": uid,
           "controller": True}
    if kind != "Node":  # mirror pods' Node owner has no blockOwnerDeletion
        ref["blockOwnerDeletion"] = True
    return ref


def _container_spec(name, image, resources, volume_name):
    return {"name": name, "image": image, "resources": copy.deepcopy(resources),
            "volumeMounts": [{"name": volume_name, "readOnly": True,
                              "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent"}


def _split_container(c):
    if isinstance(c, str):
        return c, None, None
    c = tuple(c)
    name = c[0]
    cid = c[1] if len(c) > 1 else None
    image = c[2] if len(c) > 2 else None
    return name, cid, image


def _full_container_id(cid, runtime, *seed):
    prefix = _RUNTIME_PREFIX[runtime]
    if cid is None:
        return f"{prefix}://{_hex64('container', *seed)}"
    if "://" in cid:
        return cid
    return f"{prefix}://{cid}"


def _container_status(name, image, cid, runtime, phase, started_at, finished_at,
                      restart_count, ready, init=False):
    st_image, image_id = _image_status(image, runtime)
    status = {"name": name}
    if phase == "Pending":
        status.update({"state": {"waiting": {"reason": "ContainerCreating"}},
                       "lastState": {}, "ready": False, "restartCount": 0,
                       "image": image, "imageID": "", "started": False})
        return status
    if phase in ("Succeeded", "Failed") or init:
        code, reason = (0, "Completed") if (phase != "Failed" or init) else (1, "Error")
        state = {"terminated": {"exitCode": code, "reason": reason, "startedAt": started_at,
                                "finishedAt": finished_at, "containerID": cid}}
        running = False
    else:
        state = {"running": {"startedAt": started_at}}
        running = True
    last = {}
    if restart_count and running:
        last = {"terminated": {"exitCode": 137, "reason": "OOMKilled",
                               "startedAt": _ts(started_at, -600),
                               "finishedAt": _ts(started_at, -1), "containerID":
                               cid[:-8] + _hex64("last", cid)[:8]}}
    status.update({"state": state, "lastState": last, "ready": bool(ready and running),
                   "restartCount": restart_count, "image": st_image, "imageID": image_id,
                   "containerID": cid, "started": running})
    return status


def _conditions(phase, created, ready_at, names):
    def cond(t, ok, at, reason=None, message=None):
        c = {"type": t, "status": "True" if ok else "False", "lastProbeTime": None,
             "lastTransitionTime": at}
        if reason:
            c["reason"] = reason
        if message:
            c["message"] = message
        return c

    unready = f"containers with unready status: [{' '.join(names)}]"
    if phase == "Running":
        return [cond("PodReadyToStartContainers", True, _ts(created, 2)),
                cond("Initialized", True, _ts(created, 1)),
                cond("Ready", True, ready_at), cond("ContainersReady", True, ready_at),
                cond("PodScheduled", True, created)]
    if phase == "Pending":
        return [cond("PodReadyToStartContainers", False, _ts(created, 1)),
                cond("Initialized", True, _ts(created, 1)),
                cond("Ready", False, _ts(created, 1), "ContainersNotReady", unready),
                cond("ContainersReady", False, _ts(created, 1), "ContainersNotReady", unready),
                cond("PodScheduled", True, created)]
    # Succeeded / Failed
    reason = "PodCompleted" if phase == "Succeeded" else "PodFailed"
    return [cond("PodReadyToStartContainers", False, ready_at),
            cond("Initialized", True, _ts(created, 1), "PodCompleted"),
            cond("Ready", False, ready_at, reason),
            cond("ContainersReady", False, ready_at, reason),
            cond("PodScheduled", True, created)]


def _owner_uid(namespace, kind, name):
    return make_uid(namespace, kind, name)


def make_pod(name, namespace="default", node="node-1", *, uid=None, owner=None, labels=None,
             annotations=None, containers=(("app", None),), init_containers=(),
             host_network=False, qos="Burstable", resources=None, phase="Running",
             runtime="containerd", created="2026-11-20T08:15:02Z", pod_ip=None,
             host_ip=None, service_account="default", restart_count=0,
             resource_version="1", ready=True, container_resources=None):
    """A Pod exactly as ``kubectl get pod -o json`` shows it on a real 1.29 cluster.

    owner: None, (kind, name) or (kind, name, uid) with kind ReplicaSet, StatefulSet,
    DaemonSet, Job or Node (a mirror pod).  containers: names, or tuples (name,
    containerID, image) where containerID may be None (a stable 64-hex id is made), a bare
    64-hex id, or a full "<runtime>://<id>".  runtime: containerd, cri-o or docker decides
    the containerID scheme and the image/imageID forms.  qos: Guaranteed, Burstable or
    BestEffort (container resources follow); container_resources: {container name:
    {"requests": {...}, "limits": {...}}} overrides them per container (init containers
    too).  Other states (unschedulable, ImagePullBackOff, CrashLoopBackOff ...):
    kubeobjects.make_pending_pod and set_container_state."""
    container_resources = container_resources or {}
    runtime = _RUNTIME_PREFIX[runtime]
    labels = dict(labels or {})
    annotations = dict(annotations or {})
    uid = uid or make_uid(namespace, "Pod", name)
    resources = resources if resources is not None else _resources_for(qos)
    host_ip = host_ip or f"10.0.0.{11 + int(_digest('node', node)[:4], 16) % 200}"
    if host_network:
        pod_ip = host_ip
    elif pod_ip is None:
        h = int(_digest("podip", namespace, name)[:6], 16)
        pod_ip = f"10.244.{h % 250}.{2 + (h >> 8) % 250}"
    api_vol = "kube-api-access-" + _suffix(5, namespace, name, "vol")

    meta = {"name": name}
    spec_extra = {}
    owner_refs = None
    finalizers = None
    restart_policy = "Always"
    manager = "kubectl-create"
    if owner is not None:
        okind, oname = owner[0], owner[1]
        ouid = owner[2] if len(owner) > 2 else _owner_uid(namespace, okind, oname)
        owner_refs = [_owner_ref(okind, oname, ouid)]
        manager = "kube-controller-manager"
        if okind == "ReplicaSet":
            meta["generateName"] = oname + "-"
            labels.setdefault("app", oname.rsplit("-", 1)[0])
            labels["pod-template-hash"] = oname.rsplit("-", 1)[-1]
        elif okind == "StatefulSet":
            meta["generateName"] = oname + "-"
            labels.setdefault("app", oname)
            labels["controller-revision-hash"] = f"{oname}-{_suffix(10, namespace, oname, 'rev')}"
            labels["statefulset.kubernetes.io/pod-name"] = name
            idx = name.rsplit("-", 1)[-1]
            if idx.isdigit():
                labels["apps.kubernetes.io/pod-index"] = idx
            spec_extra = {"hostname": name, "subdomain": oname}
        elif okind == "DaemonSet":
            meta["generateName"] = oname + "-"
            labels.setdefault("app", oname)
            labels["controller-revision-hash"] = _suffix(10, namespace, oname, "rev")
            labels["pod-template-generation"] = "1"
            spec_extra = {"affinity": {"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchFields": [{"key": "metadata.name", "operator": "In",
                                      "values": [node]}]}]}}}}
        elif okind == "Job":
            meta["generateName"] = oname + "-"
            labels["batch.kubernetes.io/controller-uid"] = ouid
            labels["batch.kubernetes.io/job-name"] = oname
            labels["controller-uid"] = ouid
            labels["job-name"] = oname
            restart_policy = "Never"
            if phase in ("Running", "Pending"):
                finalizers = ["batch.kubernetes.io/job-tracking"]
        elif okind == "Node":
            manager = "kubelet"
            annotations.setdefault("kubernetes.io/config.hash", _hex64("cfg", name)[:32])
            annotations.setdefault("kubernetes.io/config.mirror", _hex64("cfg", name)[:32])
            annotations.setdefault("kubernetes.io/config.seen",
                                   _ts(created, -5)[:-1] + ".412345678Z")
            annotations.setdefault("kubernetes.io/config.source", "file")
            restart_policy = "Always"
    meta["namespace"] = namespace
    meta["uid"] = uid
    meta["resourceVersion"] = str(resource_version)
    meta["creationTimestamp"] = created
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    if owner_refs:
        meta["ownerReferences"] = owner_refs
    if finalizers:
        meta["finalizers"] = finalizers
    meta["managedFields"] = [
        {"manager": manager, "operation": "Update", "apiVersion": "v1", "time": created,
         "fieldsType": "FieldsV1", "fieldsV1": {
             "f:metadata": {"f:labels": {".": {}}},
             "f:spec": {"f:containers": {}, "f:dnsPolicy": {}, "f:enableServiceLinks": {},
                        "f:restartPolicy": {}, "f:schedulerName": {}, "f:securityContext": {},
                        "f:terminationGracePeriodSeconds": {}}}},
        {"manager": "kubelet", "operation": "Update", "apiVersion": "v1",
         "time": _ts(created, 4), "fieldsType": "FieldsV1", "fieldsV1": {
             "f:status": {"f:conditions": {}, "f:containerStatuses": {}, "f:hostIP": {},
                          "f:hostIPs": {}, "f:phase": {}, "f:podIP": {}, "f:podIPs": {},
                          "f:startTime": {}}},
         "subresource": "status"},
    ]

    cspecs, cstats, names = [], [], []
    for i, c in enumerate(containers):
        cname, cid, image = _split_container(c)
        image = image or _DEFAULT_IMAGES.get(cname, f"registry.example.com/{cname}:1.0.0")
        names.append(cname)
        cspecs.append(_container_spec(cname, image, container_resources.get(cname, resources),
                                      api_vol))
        full = _full_container_id(cid, runtime, namespace, name, cname)
        started = _ts(created, 3 + len(init_containers))
        cstats.append(_container_status(cname, image, full, runtime, phase, started,
                                        _ts(created, 60), restart_count, ready))
    ispecs, istats = [], []
    for i, c in enumerate(init_containers):
        cname, cid, image = _split_container(c)
        image = image or _DEFAULT_IMAGES.get(cname, f"registry.example.com/{cname}:1.0.0")
        ispecs.append(_container_spec(cname, image, container_resources.get(cname, resources),
                                      api_vol))
        full = _full_container_id(cid, runtime, namespace, name, "init", cname)
        istats.append(_container_status(cname, image, full, runtime,
                                        "Pending" if phase == "Pending" else "Succeeded",
                                        _ts(created, 2), _ts(created, 3), 0, False, init=True))

    spec = {"volumes": [{"name": api_vol, "projected": {"sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt",
                       "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
            "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}],
        "defaultMode": 420}}]}
    if ispecs:
        spec["initContainers"] = ispecs
    spec["containers"] = cspecs
    spec["restartPolicy"] = restart_policy
    spec["terminationGracePeriodSeconds"] = 30
    spec["dnsPolicy"] = "ClusterFirstWithHostNet" if host_network else "ClusterFirst"
    spec["serviceAccountName"] = service_account
    spec["serviceAccount"] = service_account
    spec["nodeName"] = node
    if host_network:
        spec["hostNetwork"] = True
    spec["securityContext"] = {}
    if "hostname" in spec_extra:
        spec["hostname"] = spec_extra["hostname"]
        spec["subdomain"] = spec_extra["subdomain"]
    if "affinity" in spec_extra:
        spec["affinity"] = spec_extra["affinity"]
    spec["schedulerName"] = "default-scheduler"
    tolerations = [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
         "effect": "NoExecute", "tolerationSeconds": 300}]
    if owner is not None and owner[0] == "DaemonSet":
        tolerations = [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                        "effect": "NoExecute"},
                       {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                        "effect": "NoExecute"}] + [
            {"key": k, "operator": "Exists", "effect": "NoSchedule"} for k in (
                "node.kubernetes.io/disk-pressure", "node.kubernetes.io/memory-pressure",
                "node.kubernetes.io/pid-pressure", "node.kubernetes.io/unschedulable")]
        if host_network:
            tolerations.append({"key": "node.kubernetes.io/network-unavailable",
                                "operator": "Exists", "effect": "NoSchedule"})
    spec["tolerations"] = tolerations
    spec["priority"] = 0
    spec["enableServiceLinks"] = True
    spec["preemptionPolicy"] = "PreemptLowerPriority"

    ready_at = _ts(created, 4 + len(init_containers))
    status = {"phase": phase, "conditions": _conditions(phase, created, ready_at, names),
              "hostIP": host_ip, "hostIPs": [{"ip": host_ip}]}
    if phase != "Pending" or host_network:
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    status["startTime"] = _ts(created, 1)
    if istats:
        status["initContainerStatuses"] = istats
    status["containerStatuses"] = cstats
    status["qosClass"] = qos
    return {"kind": "Pod", "apiVersion": "v1", "metadata": meta, "spec": spec,
            "status": status}


def _template(labels, image="nginx:1.25.3", name="app", restart="Always"):
    return {"metadata": {"creationTimestamp": None, "labels": dict(labels)},
            "spec": {"containers": [{"name": name, "image": image, "resources": {},
                                     "terminationMessagePath": "/dev/termination-log",
                                     "terminationMessagePolicy": "File",
                                     "imagePullPolicy": "IfNotPresent"}],
                     "restartPolicy": restart, "terminationGracePeriodSeconds": 30,
                     "dnsPolicy": "ClusterFirst", "securityContext": {},
                     "schedulerName": "default-scheduler"}}


def make_replicaset(name, namespace="default", deployment=None, *, uid=None,
                    deployment_uid=None, replicas=3, labels=None,
                    created="2026-11-20T08:14:58Z", resource_version="1"):
    """A ReplicaSet as a Deployment controller makes it, owned by the Deployment
    (deployment defaults to the name without its pod-template-hash suffix)."""
    deployment = deployment or name.rsplit("-", 1)[0]
    uid = uid or _owner_uid(namespace, "ReplicaSet", name)
    deployment_uid = deployment_uid or _owner_uid(namespace, "Deployment", deployment)
    pth = name.rsplit("-", 1)[-1]
    lbl = dict(labels or {"app": deployment})
    lbl["pod-template-hash"] = pth
    sel = {k: v for k, v in lbl.items()}
    return {
        "kind": "ReplicaSet", "apiVersion": "apps/v1",
        "metadata": {
            "name": name, "namespace": namespace, "uid": uid,
            "resourceVersion": str(resource_version), "generation": 1,
            "creationTimestamp": created, "labels": lbl,
            "annotations": {"deployment.kubernetes.io/desired-replicas": str(replicas),
                            "deployment.kubernetes.io/max-replicas":
                                str(replicas + -(-replicas // 4)),
                            "deployment.kubernetes.io/revision": "1"},
            "ownerReferences": [_owner_ref("Deployment", deployment, deployment_uid)],
            "managedFields": [
                {"manager": "kube-controller-manager", "operation": "Update",
                 "apiVersion": "apps/v1", "time": created, "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:metadata": {"f:annotations": {}, "f:labels": {},
                                             "f:ownerReferences": {}},
                              "f:spec": {"f:replicas": {}, "f:selector": {},
                                         "f:template": {}}}},
                {"manager": "kube-controller-manager", "operation": "Update",
                 "apiVersion": "apps/v1", "time": _ts(created, 6), "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:status": {"f:availableReplicas": {},
                                           "f:fullyLabeledReplicas": {},
                                           "f:observedGeneration": {},
                                           "f:readyReplicas": {}, "f:replicas": {}}},
                 "subresource": "status"}]},
        "spec": {"replicas": replicas, "selector": {"matchLabels": sel},
                 "template": _template(lbl)},
        "status": {"replicas": replicas, "fullyLabeledReplicas": replicas,
                   "readyReplicas": replicas, "availableReplicas": replicas,
                   "observedGeneration": 1},
    }


def make_job(name, namespace="default", cronjob=None, *, uid=None, cronjob_uid=None,
             created=None, resource_version="1", active=1):
    """A Job as the CronJob controller makes it (name <cronjob>-<scheduled minutes since
    epoch>), owned by the CronJob; cronjob=None and no numeric suffix makes a bare Job."""
    base, _, sfx = name.rpartition("-")
    if cronjob is None and sfx.isdigit() and base:
        cronjob = base
    uid = uid or _owner_uid(namespace, "Job", name)
    if created is None:
        created = (datetime.datetime.fromtimestamp(int(sfx) * 60, datetime.timezone.utc)
                   .strftime("%Y-%m-%dT%H:%M:%SZ") if sfx.isdigit()
                   else "2026-11-20T08:00:00Z")
    lbl = {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
           "controller-uid": uid, "job-name": name}
    meta = {"name": name, "namespace": namespace, "uid": uid,
            "resourceVersion": str(resource_version), "generation": 1,
            "creationTimestamp": created, "labels": dict(lbl)}
    ann = {"batch.kubernetes.io/job-tracking": ""}
    if cronjob is not None:
        if sfx.isdigit():
            ann["batch.kubernetes.io/cronjob-scheduled-timestamp"] = created
        meta["annotations"] = ann
        cuid = cronjob_uid or _owner_uid(namespace, "CronJob", cronjob)
        meta["ownerReferences"] = [_owner_ref("CronJob", cronjob, cuid)]
    else:
        meta["annotations"] = ann
    meta["managedFields"] = [
        {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "batch/v1",
         "time": created, "fieldsType": "FieldsV1",
         "fieldsV1": {"f:metadata": {"f:annotations": {}, "f:ownerReferences": {}},
                      "f:spec": {"f:backoffLimit": {}, "f:completionMode": {},
                                 "f:completions": {}, "f:parallelism": {}, "f:suspend": {},
                                 "f:template": {}}}},
        {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "batch/v1",
         "time": _ts(created, 1), "fieldsType": "FieldsV1",
         "fieldsV1": {"f:status": {"f:active": {}, "f:ready": {}, "f:startTime": {},
                                   "f:uncountedTerminatedPods": {}}},
         "subresource": "status"}]
    tmpl = _template(lbl, image="busybox:1.36.1", name="backup", restart="Never")
    return {
        "kind": "Job", "apiVersion": "batch/v1", "metadata": meta,
        "spec": {"parallelism": 1, "completions": 1, "backoffLimit": 6,
                 "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}},
                 "manualSelector": False, "template": tmpl, "completionMode": "NonIndexed",
                 "suspend": False, "podReplacementPolicy": "TerminatingOrFailed"},
        "status": {"startTime": created, "active": active, "ready": 0,
                   "uncountedTerminatedPods": {}, "terminating": 0},
    }


# --------------------------------------------------------------------------------------
# PKI with the openssl CLI (generated once per process, copied per server)

_PKI_LOCK = threading.Lock()
_PKI_CACHE = {}


def _openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{r.stderr}")


def _make_ca(d, stem, cn, key):
    with open(os.path.join(d, stem + ".cnf"), "w") as f:
        f.write("[req]\ndistinguished_name = dn\nprompt = no\nx509_extensions = v3\n"
                f"[dn]\nCN = {cn}\n"
                "[v3]\nbasicConstraints = critical, CA:TRUE\n"
                "keyUsage = critical, digitalSignature, keyEncipherment, keyCertSign\n"
                "subjectKeyIdentifier = hash\n")
    _openssl("req", "-x509", "-new", "-newkey", key, "-nodes", "-keyout", stem + ".key",
             "-out", stem + ".crt", "-days", "3650", "-config", stem + ".cnf", cwd=d)


def _make_leaf(d, stem, ca, subject_lines, ext_lines, key):
    with open(os.path.join(d, stem + ".cnf"), "w") as f:
        f.write("[req]\ndistinguished_name = dn\nprompt = no\n[dn]\n" + subject_lines)
    with open(os.path.join(d, stem + ".ext"), "w") as f:
        f.write("[v3]\n" + ext_lines)
    _openssl("req", "-new", "-newkey", key, "-nodes", "-keyout", stem + ".key", "-out",
             stem + ".csr", "-config", stem + ".cnf", cwd=d)
    _openssl("x509", "-req", "-in", stem + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
             "-set_serial", "0x" + secrets.token_hex(8), "-days", "365", "-sha256",
             "-extfile", stem + ".ext", "-extensions", "v3", "-out", stem + ".crt", cwd=d)


def _pki(key_type):
    """Files of a CA, server and client certificate, plus an unrelated CA."""
    with _PKI_LOCK:
        if key_type in _PKI_CACHE:
            return _PKI_CACHE[key_type]
        key = {"rsa": "rsa:2048", "ec": "ec"}[key_type]
        args = key if key_type == "rsa" else None
        d = tempfile.mkdtemp(prefix="kmon-kubeapi-pki-")
        atexit.register(shutil.rmtree, d, True)
        if key_type == "ec":
            _openssl("ecparam", "-name", "prime256v1", "-out", "ec.param", cwd=d)
            args = "ec:ec.param"
        _make_ca(d, "ca", "kubernetes", args)
        _make_ca(d, "other-ca", "not-the-cluster-ca", args)
        _make_leaf(d, "apiserver", "ca", "CN = kube-apiserver\n",
                   "basicConstraints = critical, CA:FALSE\n"
                   "keyUsage = critical, digitalSignature, keyEncipherment\n"
                   "extendedKeyUsage = serverAuth\nauthorityKeyIdentifier = keyid\n"
                   "subjectAltName = DNS:localhost, DNS:kubernetes, DNS:kubernetes.default, "
                   "DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local, "
                   "IP:127.0.0.1, IP:10.96.0.1\n", args)
        _make_leaf(d, "client", "ca", "O = kmon:agents\nCN = kmon-agent\n",
                   "basicConstraints = critical, CA:FALSE\n"
                   "keyUsage = critical, digitalSignature, keyEncipherment\n"
                   "extendedKeyUsage = clientAuth\nauthorityKeyIdentifier = keyid\n", args)
        _make_leaf(d, "other-client", "other-ca", "CN = intruder\n",
                   "basicConstraints = critical, CA:FALSE\n"
                   "keyUsage = critical, digitalSignature, keyEncipherment\n"
                   "extendedKeyUsage = clientAuth\n", args)
        _PKI_CACHE[key_type] = d
        return d


# --------------------------------------------------------------------------------------
# Tokens


def _b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def make_token(namespace="kmon", serviceaccount="kmon-agent"):
    """A token shaped like a bound service-account JWT (header.payload.signature, ~1 KiB);
    the double checks it by exact match only."""
    now = int(time.time())
    hdr = {"alg": "RS256", "kid": _b64url(secrets.token_bytes(32))}
    payload = {
        "aud": ["https://kubernetes.default.svc.cluster.local"], "exp": now + 3607,
        "iat": now, "iss": "https://kubernetes.default.svc.cluster.local",
        "kubernetes.io": {"namespace": namespace,
                          "pod": {"name": f"{serviceaccount}-{_suffix(5, now)}",
                                  "uid": str(uuid.uuid4())},
                          "serviceaccount": {"name": serviceaccount, "uid": str(uuid.uuid4())},
                          "warnafter": now + 3600},
        "nbf": now, "sub": f"system:serviceaccount:{namespace}:{serviceaccount}",
        "jti": str(uuid.uuid4())}
    return ".".join([_b64url(json.dumps(hdr, separators=(",", ":")).encode()),
                     _b64url(json.dumps(payload, separators=(",", ":")).encode()),
                     _b64url(secrets.token_bytes(256))])


# --------------------------------------------------------------------------------------
# Selectors


class _BadRequest(Exception):
    pass


_POD_FIELDS = {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
               "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
               "status.podIP", "status.nominatedNodeName"}
# Field labels each resource's conversion functions accept besides metadata.name and
# metadata.namespace (pkg/apis/*/v1/conversion.go, AddFieldLabelConversionFunc).
_FIELDS = {"pods": _POD_FIELDS, "replicasets": {"status.replicas"},
           "jobs": {"status.successful"}, "nodes": {"spec.unschedulable"},
           "namespaces": {"status.phase"}, "services": {"spec.clusterIP", "spec.type"},
           "persistentvolumeclaims": set(), "resourcequotas": set(), "deployments": set(),
           "statefulsets": set(), "daemonsets": set(), "cronjobs": set(),
           "horizontalpodautoscalers": set(), "leases": set(),
           # events.k8s.io/v1 Events: only metadata.name and metadata.namespace here (the
           # core/v1 field labels involvedObject.*, reason, type, source are not modelled)
           "events": set()}


def _field_value(obj, field):
    if field in ("spec.hostNetwork", "spec.unschedulable"):  # bools: strconv.FormatBool
        return "true" if obj.get("spec", {}).get(field.split(".")[1]) else "false"
    cur = obj
    for part in field.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    return str(cur)


def _parse_field_selector(s, resource):
    reqs = []
    if not s:
        return reqs
    for term in s.split(","):
        term = term.strip()
        if not term:
            continue
        for op in ("!=", "==", "="):
            if op in term:
                k, v = term.split(op, 1)
                break
        else:
            raise _BadRequest(f"invalid selector: '{s}'; can't understand '{term}'")
        k = k.strip()
        if k not in ("metadata.name", "metadata.namespace") and k not in _FIELDS[resource]:
            raise _BadRequest(f"field label not supported: {k}")
        reqs.append((k, "!=" if op == "!=" else "=", v.strip()))
    return reqs


def _split_top(s):
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return [t.strip() for t in out if t.strip()]


_SET_RE = re.compile(r"^([A-Za-z0-9./_-]+)\s+(in|notin)\s+\(([^)]*)\)$")
_KEY_RE = re.compile(r"^!?[A-Za-z0-9./_-]+$")


def _parse_label_selector(s):
    reqs = []
    if not s:
        return reqs
    for term in _split_top(s):
        m = _SET_RE.match(term)
        if m:
            vals = {v.strip() for v in m.group(3).split(",") if v.strip()}
            reqs.append((m.group(1), m.group(2), vals))
            continue
        if _KEY_RE.match(term):
            reqs.append((term.lstrip("!"), "!exists" if term.startswith("!") else "exists",
                         None))
            continue
        for op in ("!=", "==", "="):
            if op in term:
                k, v = term.split(op, 1)
                reqs.append((k.strip(), "!=" if op == "!=" else "=", v.strip()))
                break
        else:
            raise _BadRequest(f"unable to parse requirement: {term}")
    return reqs


def _matches(obj, fsel, lsel):
    for k, op, v in fsel:
        got = _field_value(obj, k)
        if (got == v) != (op == "="):
            return False
    labels = obj.get("metadata", {}).get("labels") or {}
    for k, op, v in lsel:
        present = k in labels
        if op == "exists" and not present:
            return False
        if op == "!exists" and present:
            return False
        if op == "=" and labels.get(k) != v:
            return False
        if op == "!=" and present and labels.get(k) == v:
            return False
        if op == "in" and (not present or labels[k] not in v):
            return False
        if op == "notin" and present and labels[k] in v:
            return False
    return True


# --------------------------------------------------------------------------------------
# Resources


_TEMPLATE_ZERO = {"metadata": {"creationTimestamp": None}, "spec": {"containers": None}}
_RW = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def _res(group, version, kind, namespaced, short=(), categories=("all",), zero=None,
         hash_=""):
    return {"group": group, "version": version, "kind": kind, "list": kind + "List",
            "apiVersion": f"{group}/{version}" if group else version,
            "namespaced": namespaced, "shortNames": list(short),
            "categories": list(categories), "zero": zero or {}, "hash": hash_}


# What is served, with the discovery facts kubectl uses (shortNames, categories,
# namespaced) and the zero-valued spec/status a BOOKMARK object carries for that kind (Go
# structs marshalled empty: non-omitempty fields appear as null/0/"").
_RESOURCES = {
    "pods": _res("", "v1", "Pod", True, ["po"], zero={
        "spec": {"containers": None}, "status": {}}, hash_="xPOwRZ+Yhw8="),
    "nodes": _res("", "v1", "Node", False, ["no"], (), zero={
        "spec": {}, "status": {"daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
                               "nodeInfo": {k: "" for k in (
                                   "machineID", "systemUUID", "bootID", "kernelVersion",
                                   "osImage", "containerRuntimeVersion", "kubeletVersion",
                                   "kubeProxyVersion", "operatingSystem", "architecture")}}},
        hash_="XwShjMxG9Fs="),
    "namespaces": _res("", "v1", "Namespace", False, ["ns"], (), zero={
        "spec": {}, "status": {}}, hash_="Q3oi5N2YM8M="),
    "services": _res("", "v1", "Service", True, ["svc"], zero={
        "spec": {}, "status": {"loadBalancer": {}}}, hash_="0/CO1lhkEBI="),
    "persistentvolumeclaims": _res("", "v1", "PersistentVolumeClaim", True, ["pvc"], (),
                                   zero={"spec": {"resources": {}}, "status": {}},
                                   hash_="QWTyNDq0dC4="),
    "resourcequotas": _res("", "v1", "ResourceQuota", True, ["quota"], (), zero={
        "spec": {}, "status": {}}, hash_="8uhSgffRX6w="),
    "deployments": _res("apps", "v1", "Deployment", True, ["deploy"], zero={
        "spec": {"selector": None, "template": _TEMPLATE_ZERO, "strategy": {}},
        "status": {}}, hash_="8aSe+NMegvE="),
    "replicasets": _res("apps", "v1", "ReplicaSet", True, ["rs"], zero={
        "spec": {"selector": None, "template": _TEMPLATE_ZERO}, "status": {"replicas": 0}},
        hash_="P1RzHs8/mWQ="),
    "statefulsets": _res("apps", "v1", "StatefulSet", True, ["sts"], zero={
        "spec": {"selector": None, "template": _TEMPLATE_ZERO, "serviceName": "",
                 "updateStrategy": {}}, "status": {"replicas": 0, "availableReplicas": 0}},
        hash_="H+vl74LkKdo="),
    "daemonsets": _res("apps", "v1", "DaemonSet", True, ["ds"], zero={
        "spec": {"selector": None, "template": _TEMPLATE_ZERO, "updateStrategy": {}},
        "status": {"currentNumberScheduled": 0, "numberMisscheduled": 0,
                   "desiredNumberScheduled": 0, "numberReady": 0}}, hash_="dd7pWHUlMKQ="),
    "jobs": _res("batch", "v1", "Job", True, (), zero={
        "spec": {"template": _TEMPLATE_ZERO}, "status": {}}, hash_="mudhfqk/qZY="),
    "cronjobs": _res("batch", "v1", "CronJob", True, ["cj"], zero={
        "spec": {"schedule": "", "jobTemplate": {"spec": {"template": _TEMPLATE_ZERO}}},
        "status": {}}, hash_="sd5LIXh4Fjs="),
    "horizontalpodautoscalers": _res("autoscaling", "v2", "HorizontalPodAutoscaler", True,
                                     ["hpa"], zero={
        "spec": {"scaleTargetRef": {"kind": "", "name": ""}, "maxReplicas": 0},
        "status": {"desiredReplicas": 0}}, hash_="qiwH9XWtPkA="),
    "leases": _res("coordination.k8s.io", "v1", "Lease", True, (), (), zero={"spec": {}},
                   hash_="gqkMMb/YqFM="),
    # events.k8s.io/v1 (the same storage as core/v1 events, served in the new shape; only
    # this group version is modelled).  A BOOKMARK's Event: the struct's non-omitempty
    # fields, eventTime and the deprecated timestamps null, regarding and
    # deprecatedSource empty objects.
    "events": _res("events.k8s.io", "v1", "Event", True, ["ev"], (), zero={
        "eventTime": None, "regarding": {}, "deprecatedSource": {},
        "deprecatedFirstTimestamp": None, "deprecatedLastTimestamp": None},
        hash_="r2yiGXH7wu8="),
}
_KIND_TO_RES = {v["kind"]: k for k, v in _RESOURCES.items()}
_WRITABLE = {"leases"}  # create/update/delete served (everything else is read-only)

# Group versions served, in the order the real server lists them.
_GROUP_VERSIONS = ["apps/v1", "autoscaling/v2", "batch/v1", "coordination.k8s.io/v1",
                   "events.k8s.io/v1"]

_ROUTE = re.compile(r"^/(?:api/(v1)|apis/([^/]+)/([^/]+))(/watch)?"
                    r"(?:/namespaces/([^/]+))?/([^/]+)(?:/([^/]+))?/?$")


def _route(path):
    """(watch, namespace, resource, name) for a resource path the real server serves,
    else None: unknown resources, a resource under another group version, a cluster-scoped
    resource under /namespaces/<ns>/ all get the server's plain 404."""
    m = _ROUTE.match(path)
    if not m:
        return None
    core, group, version, watch, ns, resource, name = m.groups()
    r = _RESOURCES.get(resource)
    if r is None:
        return None
    if core:
        if r["group"] != "":
            return None
    elif (group, version) != (r["group"], r["version"]):
        return None
    if ns is not None and not r["namespaced"]:
        return None
    if name is not None and r["namespaced"] and ns is None:
        return None
    return bool(watch), ns, resource, name


def _bookmark_object(resource, rv, annotations=None):
    """What the real server sends as a BOOKMARK's object: an empty object of the watched
    kind with only the resourceVersion set, Go zero values included."""
    r = _RESOURCES[resource]
    meta = {"resourceVersion": str(rv), "creationTimestamp": None}
    if annotations:
        meta["annotations"] = annotations
    obj = {"kind": r["kind"], "apiVersion": r["apiVersion"], "metadata": meta}
    obj.update(copy.deepcopy(r["zero"]))
    return obj


def _api_resource_list(group_version):
    """The legacy discovery document /api/v1 or /apis/<group>/<version>."""
    out = []
    for name, r in _RESOURCES.items():
        if r["apiVersion"] != group_version:
            continue
        ent = {"name": name, "singularName": r["kind"].lower(), "namespaced": r["namespaced"],
               "kind": r["kind"], "verbs": _RW}
        if r["shortNames"]:
            ent["shortNames"] = r["shortNames"]
        if r["categories"]:
            ent["categories"] = r["categories"]
        ent["storageVersionHash"] = r["hash"]
        out.append(ent)
        if name in ("pods", "deployments", "statefulsets", "daemonsets", "replicasets",
                    "jobs", "cronjobs", "horizontalpodautoscalers", "nodes", "namespaces",
                    "services", "persistentvolumeclaims", "resourcequotas"):
            out.append({"name": name + "/status", "singularName": "", "namespaced":
                        r["namespaced"], "kind": r["kind"], "verbs": ["get", "patch",
                                                                      "update"]})
    if not out:
        return None
    doc = {"kind": "APIResourceList"}
    if group_version != "v1":
        doc["apiVersion"] = "v1"
    doc.update({"groupVersion": group_version, "resources": out})
    return doc


def _api_group(gv):
    group, version = gv.split("/")
    v = {"groupVersion": gv, "version": version}
    return {"name": group, "versions": [v], "preferredVersion": v}


def _skey(key):
    """The store key (namespace, name) as the etcd key's tail: <ns>/<name> or <name>."""
    return f"{key[0]}/{key[1]}" if key[0] else key[1]


def _group_resource(resource):
    group = _RESOURCES[resource]["group"]
    return resource + ("." + group if group else "")


def _details(resource, name):
    """A Status's details for one object, fields in the real server's order."""
    details = {"name": name}
    group = _RESOURCES[resource]["group"]
    if group:
        details["group"] = group
    details["kind"] = resource
    return details


def _encode_continue(start_key, rv):
    tok = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start_key},
                     separators=(",", ":"))
    return base64.urlsafe_b64encode(tok.encode()).rstrip(b"=").decode()


def _decode_continue(token):
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        c = json.loads(raw)
    except Exception as e:  # noqa: BLE001
        raise _BadRequest(f"invalid continue token: {e}")
    if not isinstance(c, dict) or c.get("v") != "meta.k8s.io/v1":
        raise _BadRequest("invalid continue token: continue key is not valid: server does "
                          "not recognize this encoded version")
    rv, start = c.get("rv"), c.get("start")
    if not isinstance(rv, int) or rv == 0:
        raise _BadRequest("invalid continue token: continue key is not valid: incorrect "
                          "encoded start resourceVersion (version meta.k8s.io/v1)")
    if not isinstance(start, str) or not start:
        raise _BadRequest("invalid continue token: continue key is not valid: encoded "
                          "start key empty (version meta.k8s.io/v1)")
    return rv, start


_INCONSISTENT_CONTINUE = (
    "The provided continue parameter is too old to display a consistent list result. You "
    "can start a new list without the continue parameter, or use the continue token in "
    "this response to retrieve the remainder of the results. Continuing with the provided "
    "token results in an inconsistent list - objects that were created, modified, or "
    "deleted between the time the first chunk was returned and now may show up in the list.")


def _parse_bool(v):
    """Go's strconv.ParseBool."""
    if v in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if v in ("0", "f", "F", "FALSE", "false", "False", ""):
        return False
    raise _BadRequest(f"strconv.ParseBool: parsing {v!r}: invalid syntax")


# --------------------------------------------------------------------------------------
# Request log


class Request:
    """One request as the double received it."""

    __slots__ = ("method", "path", "raw_query", "query", "query_list", "headers", "time",
                 "wall_time", "status", "user", "watch", "conn_id", "client_cert", "body")

    def __init__(self, method, path, raw_query, headers, conn_id, client_cert):
        self.method = method
        self.path = path
        self.raw_query = raw_query
        self.query_list = parse_qs(raw_query, keep_blank_values=True)
        self.query = {k: v[0] for k, v in self.query_list.items()}  # Go's Values.Get
        self.headers = headers
        self.time = time.monotonic()
        self.wall_time = time.time()
        self.status = None
        self.user = None
        self.watch = False
        self.conn_id = conn_id
        self.client_cert = client_cert
        self.body = b""  # what a write sent (a Lease's PUT or POST)

    def header(self, name, default=None):
        for k, v in self.headers.items():
            if k.lower() == name.lower():
                return v
        return default

    @property
    def token(self):
        a = self.header("Authorization") or ""
        parts = a.split(" ", 2)
        return parts[1] if len(parts) >= 2 and parts[0].lower() == "bearer" else None

    def __repr__(self):
        q = f"?{self.raw_query}" if self.raw_query else ""
        return f"<{self.method} {self.path}{q} -> {self.status} conn={self.conn_id}>"


class _Event:
    __slots__ = ("rv", "type", "obj", "prev", "key", "full")

    def __init__(self, rv, type_, obj, prev, key, full=None):
        self.rv, self.type, self.obj, self.prev, self.key = rv, type_, obj, prev, key
        self.full = full  # obj's JSON (see _store_json)


class _Watcher:
    def __init__(self, resource, ns, fsel, lsel, bookmarks, conn):
        self.resource = resource
        self.ns = ns
        self.fsel = fsel
        self.lsel = lsel
        self.bookmarks = bookmarks
        self.conn = conn
        self.q = queue.Queue()
        self.streaming = False  # headers and replayed events written
        self.sent = 0  # live events written (the bench waits on it)


_DROP = object()
_STOP = object()


class _Fault:
    def __init__(self, n, kind, code, retry_after, style, match):
        self.n, self.kind, self.code = n, kind, code
        self.retry_after, self.style, self.match = retry_after, style, match

    def applies(self, req):
        if self.match is None:
            return True
        if callable(self.match):
            return bool(self.match(req))
        return self.match in req.path + ("?" + req.raw_query if req.raw_query else "")


def _raw_shutdown(sock):
    """Shut the TCP connection down under the TLS layer (no close_notify, no terminating
    chunk) without closing the descriptor another thread may be using."""
    try:
        sock._kmon_abrupt = True
    except AttributeError:
        pass
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


# --------------------------------------------------------------------------------------
# HTTP handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = ""
    sys_version = ""
    timeout = None

    def setup(self):
        api = self.server.api
        self.request.settimeout(10)
        self.request.do_handshake()
        self.request.settimeout(None)
        with api._lock:
            api._conn_seq += 1
            self.conn_id = api._conn_seq
            api._conns[self.conn_id] = self.request
        super().setup()

    def finish(self):
        try:
            super().finish()
        finally:
            with self.server.api._lock:
                self.server.api._conns.pop(getattr(self, "conn_id", None), None)

    def log_message(self, *args):
        pass

    # Every method goes through one handler (only GET serves data).
    def do_GET(self):
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    # -- responses

    def _headers(self, code, ctype, extra=None):
        self.send_response_only(code, _PHRASES.get(code))
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Type", ctype)
        if ctype.startswith("text/plain"):
            self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Kubernetes-Pf-Flowschema-Uid", self.server.api._fs_uid)
        self.send_header("X-Kubernetes-Pf-Prioritylevel-Uid", self.server.api._pl_uid)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Date", self.date_time_string())

    def _send(self, code, body, ctype="application/json", extra=None):
        if isinstance(body, (dict, list)):
            body = encode_json(body)
        self._headers(code, ctype, extra)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self._req.status = code

    def _status(self, code, reason, message, details=None, metadata=None, extra=None):
        self._send(code, status_body(code, reason, message, details, metadata), extra=extra)

    def _chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    # -- main entry

    def _handle(self):
        api = self.server.api
        split = urlsplit(self.path)
        path = split.path
        try:
            peer = self.request.getpeercert() if api.client_cert_auth else None
        except (ValueError, OSError):
            peer = None
        cert_cn = None
        if peer:
            for rdn in peer.get("subject", ()):
                for k, v in rdn:
                    if k == "commonName":
                        cert_cn = v
        req = Request(self.command, path, split.query, dict(self.headers.items()),
                      self.conn_id, cert_cn)
        try:
            req.watch = "/watch/" in path or _parse_bool(req.query.get("watch", ""))
        except _BadRequest:
            req.watch = False
        self._req = req
        with api._lock:
            api._log.append(req)
            api._lock.notify_all()
        length = int(self.headers.get("Content-Length") or 0)
        self._body = self.rfile.read(length) if length else b""
        req.body = self._body
        try:
            self._dispatch(api, req, path)
        except _BadRequest as e:
            self._status(400, "BadRequest", str(e))
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True
        finally:
            with api._lock:
                api._lock.notify_all()

    def _authenticate(self, api, req):
        """x509 first, then bearer token, then anonymous, like kube-apiserver's union
        authenticator.  Returns (user, error)."""
        if req.client_cert:
            return req.client_cert, None
        auth = req.header("Authorization")
        if auth is not None:
            parts = auth.strip().split(" ")
            if parts and parts[0].lower() == "bearer":
                tok = parts[1] if len(parts) >= 2 else ""
                with api._lock:
                    ok = tok in api._tokens
                if tok and ok:
                    return "system:serviceaccount:kmon:kmon-agent", None
                return None, "Unauthorized"
        if api.anonymous_auth:
            return "system:anonymous", None
        return None, "Unauthorized"

    def _dispatch(self, api, req, path):
        user, err = self._authenticate(api, req)
        if user is None:
            self._status(401, "Unauthorized", "Unauthorized")
            return
        req.user = user

        fault = api._take_fault(req)
        if fault is not None:
            if fault.kind == "hang":
                self._hang(api)
                return
            extra = {}
            if fault.retry_after is not None and (fault.code == 429 or fault.code >= 500):
                extra["Retry-After"] = str(fault.retry_after)
            if fault.style == "text":
                msg = ("Too many requests, please try again later.\n" if fault.code == 429
                       else _PHRASES.get(fault.code, "error") + "\n")
                self._send(fault.code, msg.encode(), "text/plain; charset=utf-8", extra)
            else:
                self._send(fault.code, _fault_status(fault.code, fault.retry_after),
                           extra=extra)
            return

        if path in ("/healthz", "/livez", "/readyz"):
            self._send(200, b"ok", "text/plain; charset=utf-8")
            return
        if path == "/version":
            self._send(200, encode_json(VERSION_INFO, indent=2))
            return
        if user == "system:anonymous":
            self._forbidden(req, path, user)
            return
        if path == "/api":
            self._send(200, {"kind": "APIVersions", "versions": ["v1"],
                             "serverAddressByClientCIDRs": [
                                 {"clientCIDR": "0.0.0.0/0",
                                  "serverAddress": f"127.0.0.1:{api.port}"}]})
            return
        if self._discovery(path):
            return
        route = _route(path)
        if route is None:
            self._status(404, "NotFound", "the server could not find the requested resource",
                         {})
            return
        legacy_watch, ns, resource, name = route
        writes = {"POST": "create", "PUT": "update", "DELETE": "delete"}
        if req.method not in ("GET", "HEAD") and not (
                resource in _WRITABLE and req.method in writes and not legacy_watch
                and ns is not None and (name is None) == (req.method == "POST")):
            self._status(405, "MethodNotAllowed",
                         "the server does not allow this method on the requested resource",
                         {})
            return
        watch = bool(legacy_watch) or _parse_bool(req.query.get("watch", ""))
        if req.method in writes:
            watch = False
            verb = writes[req.method]
        else:
            verb = "watch" if watch else ("get" if name else "list")
        req.watch = watch
        if (verb, resource) in api._denied or (verb, "*") in api._denied:
            self._forbidden(req, path, user, verb, resource, ns, name)
            return
        if verb in ("create", "update", "delete"):
            self._write(api, verb, resource, ns, name)
        elif name and not watch:
            self._get(api, resource, ns, name)
        elif watch:
            self._watch(api, req, resource, ns, name)
        else:
            self._list(api, req, resource, ns)

    def _discovery(self, path):
        """Legacy discovery (/api/v1, /apis, /apis/<group>[/<version>]) as kubectl reads
        it.  An aggregated-discovery Accept header gets the plain documents too, which
        client-go takes as "not supported" and falls back to these."""
        if path == "/apis":
            self._send(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                _api_group(gv) for gv in _GROUP_VERSIONS]})
            return True
        parts = path.strip("/").split("/")
        if path == "/api/v1" or (parts[0] == "apis" and len(parts) == 3):
            doc = _api_resource_list("v1" if path == "/api/v1" else "/".join(parts[1:]))
            if doc is not None:
                self._send(200, doc)
                return True
        if parts[0] == "apis" and len(parts) == 2:
            for gv in _GROUP_VERSIONS:
                if gv.split("/")[0] == parts[1]:
                    g = _api_group(gv)
                    self._send(200, {"kind": "APIGroup", "apiVersion": "v1", **g})
                    return True
        return False

    def _forbidden(self, req, path, user, verb=None, resource=None, ns=None, name=None):
        if resource is None:
            route = _route(path)
            if route:
                _, ns, resource, name = route
                verb = "watch" if req.watch else ("get" if name else "list")
        if resource is None:
            self._status(403, "Forbidden", f'forbidden: User "{user}" cannot get path '
                         f'"{path}"', {})
            return
        group = _RESOURCES[resource]["group"]
        gr = resource + ("." + group if group else "")
        what = f'{gr} "{name}"' if name else gr
        scope = f'in the namespace "{ns}"' if ns else "at the cluster scope"
        details = {}
        if name:
            details["name"] = name
        if group:
            details["group"] = group
        details["kind"] = resource
        self._status(403, "Forbidden", f'{what} is forbidden: User "{user}" cannot {verb} '
                     f'resource "{resource}" in API group "{group}" {scope}', details)

    def _hang(self, api):
        ev = threading.Event()
        with api._lock:
            api._hung[self.conn_id] = (ev, self.request)
        try:
            ev.wait()
        finally:
            with api._lock:
                api._hung.pop(self.conn_id, None)
            _raw_shutdown(self.request)
            self.close_connection = True

    def _not_found(self, resource, name):
        self._status(404, "NotFound", f'{_group_resource(resource)} "{name}" not found',
                     _details(resource, name))

    def _get(self, api, resource, ns, name):
        with api._lock:
            obj = api._store[resource].get((ns or "", name))
        if obj is None:
            self._not_found(resource, name)
            return
        self._send(200, obj)

    # -- writes (leases: what leader election does)

    def _write(self, api, verb, resource, ns, name):
        r = _RESOURCES[resource]
        if verb == "delete":
            with api._lock:
                obj = api._store[resource].get((ns, name))
                if obj is not None:
                    uid = obj["metadata"].get("uid")
                    api.delete(r["kind"], ns, name)
            if obj is None:
                self._not_found(resource, name)
                return
            det = _details(resource, name)
            det["uid"] = uid
            self._send(200, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                             "status": "Success", "details": det})
            return
        try:
            body = json.loads(self._body or b"null")
        except ValueError as e:
            raise _BadRequest(f"error decoding JSON: {e}")
        if not isinstance(body, dict) or not isinstance(body.get("metadata"), dict):
            raise _BadRequest("Object 'Kind' is missing in the request body")
        if body.get("kind") not in (None, r["kind"]) or body.get("apiVersion") not in (
                None, r["apiVersion"]):
            raise _BadRequest(f"the API version in the data ({body.get('apiVersion')}) does "
                              f"not match the expected API version ({r['apiVersion']})")
        meta = body["metadata"]
        if meta.get("namespace") not in (None, "", ns):
            raise _BadRequest("the namespace of the provided object does not match the "
                              "namespace sent on the request")
        body["kind"], body["apiVersion"] = r["kind"], r["apiVersion"]
        meta["namespace"] = ns
        if verb == "create":
            oname = meta.get("name") or ""
            if not oname:
                self._status(422, "Invalid", f'{r["kind"]}.{r["group"]} "" is invalid: '
                             "metadata.name: Required value: name or generateName is "
                             "required", {"group": r["group"], "kind": r["kind"], "causes": [
                                 {"reason": "FieldValueRequired", "message":
                                  "Required value: name or generateName is required",
                                  "field": "metadata.name"}]})
                return
            with api._lock:
                exists = (ns, oname) in api._store[resource]
                if not exists:
                    now = _now_ts()
                    meta["uid"] = str(uuid.uuid4())
                    meta["creationTimestamp"] = now
                    meta.pop("resourceVersion", None)
                    obj = api.add(body)
            if exists:
                self._status(409, "AlreadyExists",
                             f'{_group_resource(resource)} "{oname}" already exists',
                             _details(resource, oname))
                return
            self._send(201, obj)
            return
        if meta.get("name") != name:
            raise _BadRequest(f"the name of the object ({meta.get('name')}) does not match "
                              f"the name on the URL ({name})")
        rv = meta.get("resourceVersion") or ""
        with api._lock:
            cur = api._store[resource].get((ns, name))
            if cur is None:
                outcome = "missing"
            elif not rv:
                outcome = "unconditional"
            elif rv != cur["metadata"]["resourceVersion"]:
                outcome = "conflict"
            else:
                outcome = "ok"
                for k in ("uid", "creationTimestamp"):
                    meta[k] = cur["metadata"][k]
                obj = api.update(body)
        if outcome == "missing":
            self._not_found(resource, name)
        elif outcome == "unconditional":
            self._status(422, "Invalid", f'{r["kind"]}.{r["group"]} "{name}" is invalid: '
                         "metadata.resourceVersion: Invalid value: 0x0: must be specified "
                         "for an update", {"name": name, "group": r["group"],
                                           "kind": r["kind"], "causes": [
                             {"reason": "FieldValueInvalid", "message": "Invalid value: 0x0: "
                              "must be specified for an update",
                              "field": "metadata.resourceVersion"}]})
        elif outcome == "conflict":
            self._status(409, "Conflict", f'Operation cannot be fulfilled on '
                         f'{_group_resource(resource)} "{name}": the object has been '
                         "modified; please apply your changes to the latest version and "
                         "try again", _details(resource, name))
        else:
            self._send(200, obj)

    # -- list

    def _list(self, api, req, resource, ns):
        q = req.query
        fsel = _parse_field_selector(q.get("fieldSelector", ""), resource)
        lsel = _parse_label_selector(q.get("labelSelector", ""))
        try:
            limit = int(q.get("limit", "0") or 0)
        except ValueError:
            raise _BadRequest(f"invalid limit {q.get('limit')!r}")
        cont = q.get("continue", "")
        rv_param = q.get("resourceVersion", "")
        match = q.get("resourceVersionMatch", "")
        if cont and rv_param:
            raise _BadRequest("specifying resource version is not allowed when using "
                              "continue")
        prefix = f"{ns}/" if ns else ""
        start = ""
        with api._lock:
            current = api._rv
            if cont:
                tok_rv, start = _decode_continue(cont)
                if tok_rv == -1:
                    snap_rv = current
                elif tok_rv < api._floor:
                    newtok = _encode_continue(start, -1)
                    self._status(410, "Expired", _INCONSISTENT_CONTINUE,
                                 metadata={"continue": newtok})
                    return
                else:
                    snap_rv = tok_rv
            elif rv_param in ("", "0"):
                snap_rv = current
            else:
                try:
                    want = int(rv_param)
                except ValueError:
                    raise _BadRequest(f'resourceVersion: Invalid value: "{rv_param}": '
                                      f'strconv.ParseUint: parsing "{rv_param}": invalid '
                                      'syntax')
                if match == "Exact":
                    if want < api._floor:
                        self._status(410, "Expired",
                                     "The resourceVersion for the provided list is too old.")
                        return
                    if want > current:
                        self._too_large(want, current)
                        return
                    snap_rv = want
                else:
                    deadline = time.monotonic() + api.too_large_wait
                    while api._rv < want and time.monotonic() < deadline:
                        api._lock.wait(deadline - time.monotonic())
                    if api._rv < want:
                        self._too_large(want, api._rv)
                        return
                    snap_rv = api._rv
            if limit and rv_param == "0":
                limit = 0  # the watch cache serves rv=0 lists whole (1.28-1.32)
            if snap_rv >= api._rv:
                # The current state: a page from the sorted keys, items from their JSON.
                store = api._store[resource]
                page = _page(api._skeys[resource], lambda key: store[_tkey(key)], api._items,
                             prefix, start, limit, fsel, lsel)
                state = None
            else:
                state = api._state_at(resource, snap_rv)
        if state is not None:
            # An older snapshot (objects changed while the client pages): rebuilt from the
            # history, as before.
            page = _page(sorted(state), state.__getitem__, api._items, prefix, start, limit,
                         fsel, lsel)
        items, last, more, remaining = page
        meta = {"resourceVersion": str(snap_rv)}
        if more:
            meta["continue"] = _encode_continue(last + "\x00", snap_rv)
            if not fsel and not lsel:
                meta["remainingItemCount"] = remaining
        r = _RESOURCES[resource]
        head = encode_json({"kind": r["list"], "apiVersion": r["apiVersion"],
                            "metadata": meta})[:-2]
        self._send(200, b"%s,\"items\":[%s]}\n" % (head, b",".join(items)))

    def _too_large(self, want, current):
        self._status(504, "Timeout", f"Timeout: Too large resource version: {want}, "
                     f"current: {current}",
                     {"causes": [{"reason": "ResourceVersionTooLarge",
                                  "message": "Too large resource version"}],
                      "retryAfterSeconds": 1}, extra={"Retry-After": "1"})

    # -- watch

    def _watch(self, api, req, resource, ns, name):
        q = req.query
        fsel = _parse_field_selector(q.get("fieldSelector", ""), resource)
        if name:
            fsel.append(("metadata.name", "=", name))
        lsel = _parse_label_selector(q.get("labelSelector", ""))
        bookmarks = _parse_bool(q.get("allowWatchBookmarks", ""))
        initial_events = _parse_bool(q.get("sendInitialEvents", ""))
        rv_param = q.get("resourceVersion", "")
        try:
            timeout = float(int(q["timeoutSeconds"])) if q.get("timeoutSeconds") else None
        except ValueError:
            timeout = None
        if timeout is None or timeout <= 0:
            timeout = api.default_watch_timeout
        start = None
        if rv_param not in ("", "0") and not initial_events:
            try:
                start = int(rv_param)
            except ValueError:
                raise _BadRequest(f'resourceVersion: Invalid value: "{rv_param}": '
                                  f'strconv.ParseUint: parsing "{rv_param}": invalid syntax')
        w = _Watcher(resource, ns, fsel, lsel, bookmarks, self.request)
        prefix = f"{ns}/" if ns else ""
        expired = None
        with api._lock:
            if start is None:
                # No resourceVersion (or "0", or sendInitialEvents): the current state as
                # synthetic ADDED events, then changes.
                state = api._state_at(resource, api._rv)
                pending = []
                for k in sorted(state):
                    obj = state[k]
                    if (not ns or k.startswith(prefix)) and _matches(obj, fsel, lsel):
                        hit = api._items.get(id(obj))
                        if hit is not None and hit[0] is obj:
                            pending.append(_event_line("ADDED", _full_from_item(obj, hit[1])))
                        else:
                            pending.append(encode_json({"type": "ADDED", "object": obj}))
                if initial_events and bookmarks:
                    pending.append(encode_json({"type": "BOOKMARK", "object": _bookmark_object(
                        resource, api._rv, {"k8s.io/initial-events-end": "true"})}))
            elif start < api._floor:
                expired = f"too old resource version: {start} ({api._floor})"
            else:
                pending = []
                events = api._events[resource]
                lo, hi = 0, len(events)  # rv increases along the history: bisect it
                while lo < hi:
                    mid = (lo + hi) // 2
                    if events[mid].rv <= start:
                        lo = mid + 1
                    else:
                        hi = mid
                for ev in events[lo:]:
                    line = _convert_line(ev, w)
                    if line is not None:
                        pending.append(line)
            if expired is None:
                api._watchers.add(w)
                api._lock.notify_all()
        if expired is not None:
            if api.expired_mode == "http":
                self._status(410, "Expired",
                             "The resourceVersion for the provided watch is too old.")
                return
            # The watch cache's errWatcher: 200, one ERROR event, clean end of stream.
            self._headers(200, "application/json", {"Transfer-Encoding": "chunked"})
            self.end_headers()
            self._req.status = 200
            self._chunk(encode_json({"type": "ERROR",
                                     "object": status_body(410, "Expired", expired)}))
            self._chunk(b"")
            return
        try:
            self._stream(api, w, pending, timeout)
        finally:
            with api._lock:
                api._watchers.discard(w)
                api._lock.notify_all()

    def _stream(self, api, w, pending, timeout):
        self._headers(200, "application/json", {"Transfer-Encoding": "chunked"})
        self.end_headers()
        self._req.status = 200
        start = time.monotonic()
        deadline = start + timeout

        def next_bookmark(now):
            if not w.bookmarks:
                return None
            t = min(now + api.bookmark_interval, deadline - 2.0)
            return t if t > now else None

        nbm = next_bookmark(start)
        for i in range(0, len(pending), 64):  # one chunk per event, written 64 at a time
            self.wfile.write(b"".join(b"%x\r\n%s\r\n" % (len(d), d)
                                      for d in pending[i:i + 64]))
        with api._lock:
            w.streaming = True
            api._lock.notify_all()
        while True:
            now = time.monotonic()
            if now >= deadline:
                self._chunk(b"")  # clean end: terminating chunk, connection kept
                return
            wake = deadline if nbm is None else min(deadline, nbm)
            try:
                item = w.q.get(timeout=max(0.0, wake - now))
            except queue.Empty:
                now = time.monotonic()
                if nbm is not None and now >= nbm:
                    with api._lock:
                        rv = api._rv
                    self._chunk(encode_json({"type": "BOOKMARK",
                                             "object": _bookmark_object(w.resource, rv)}))
                    nbm = next_bookmark(now)
                continue
            # Whatever else is queued goes out in the same write (still one chunk per
            # event), so a burst of events costs one TLS write per 64.
            batch, sent, end = [item], 0, False
            while len(batch) < 64:
                try:
                    batch.append(w.q.get_nowait())
                except queue.Empty:
                    break
            out = []
            for item in batch:
                if item is _DROP or item is _STOP:
                    end = True
                    break
                if isinstance(item, tuple):  # ("BOOKMARK", rv)
                    if w.bookmarks:
                        out.append(encode_json({"type": "BOOKMARK", "object":
                                                _bookmark_object(w.resource, item[1])}))
                    continue
                api._watch_gate.wait()
                line = _convert_line(item, w)
                if line is not None:
                    out.append(line)
                    sent += 1
            if out:
                self.wfile.write(b"".join(b"%x\r\n%s\r\n" % (len(d), d) for d in out))
                w.sent += sent
            if end:
                _raw_shutdown(self.request)
                self.close_connection = True
                return


def _convert(ev, w):
    """The cacher's convertToWatchEvent: selector transitions become ADDED/DELETED."""
    ns, key = w.ns, ev.key
    if ns and not key.startswith(ns + "/"):
        return None
    cur = ev.type != "DELETED" and _matches(ev.obj, w.fsel, w.lsel)
    old = ev.prev is not None and _matches(ev.prev, w.fsel, w.lsel)
    if cur and not old:
        return ("ADDED", ev.obj)
    if cur and old:
        return ("MODIFIED", ev.obj)
    if old and not cur:
        obj = dict(ev.prev, metadata=dict(ev.prev["metadata"], resourceVersion=str(ev.rv)))
        return ("DELETED", obj)
    return None


def _convert_line(ev, w):
    """_convert's event as the line a watch sends, from the event's JSON when it carries
    the event's own object; None when the watcher does not see it."""
    out = _convert(ev, w)
    if out is None:
        return None
    if out[1] is ev.obj and ev.full is not None:
        return _event_line(out[0], ev.full)
    return encode_json({"type": out[0], "object": out[1]})


def _tkey(skey):
    """The store key (namespace, name) of an etcd key tail (see _skey)."""
    ns, sep, name = skey.partition("/")
    return (ns, name) if sep else ("", skey)


def _prefix_end(prefix):
    """The smallest string above every string that starts with prefix."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _page(keys, lookup, cache, prefix, start, limit, fsel, lsel):
    """One list page over sorted etcd keys: (item JSON list, last key examined (relative to
    prefix), more, remainingItemCount).  Only the keys under prefix from start on are
    looked at (bisect), so a page costs its own items, not the whole list."""
    base = bisect.bisect_left(keys, prefix) if prefix else 0
    hi = bisect.bisect_left(keys, _prefix_end(prefix)) if prefix else len(keys)
    i = bisect.bisect_left(keys, prefix + start, base, hi) if start else base
    items, last, more, examined = [], None, False, i
    selective = bool(fsel or lsel)
    n = len(prefix)
    while i < hi:
        if limit and len(items) >= limit:
            more = True
            break
        key = keys[i]
        last = key[n:]
        examined = i
        obj = lookup(key)
        if not selective or _matches(obj, fsel, lsel):
            hit = cache.get(id(obj))
            if hit is not None and hit[0] is obj:
                items.append(hit[1])
            else:
                items.append(_store_json(obj)[1])
        i += 1
    return items, last, more, hi - examined - 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def get_request(self):
        sock, addr = self.socket.accept()
        return self.ssl_context.wrap_socket(sock, server_side=True,
                                            do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):
        pass  # handshake failures, resets: the client sees them; nothing to print

    def shutdown_request(self, request):
        # An orderly close sends TLS close_notify first, as Go's server does; a dropped
        # connection (drop_watches, drop_hung, stop) must look abrupt, so it does not.
        if not getattr(request, "_kmon_abrupt", False):
            try:
                request.settimeout(0)
                request.unwrap()
            except (OSError, ValueError, ssl.SSLError):
                pass
        try:
            request.close()
        except OSError:
            pass


# --------------------------------------------------------------------------------------
# The double


class KubeAPI:
    """kube-apiserver double.  Use as ``with KubeAPI(tmpdir) as api:``.

    workdir: directory for the PKI copy (<workdir>/pki) and nothing else.
    token: the initially accepted bearer token (default: a JWT-shaped random one).
    client_cert_auth: accept client certificates signed by the cluster CA.
    anonymous_auth: requests without credentials become system:anonymous (403 on
        resources) instead of 401.
    expired_mode: "event" (200 + ERROR event, the watch cache) or "http" (plain 410).
    bookmark_interval: seconds between periodic bookmarks (real: 60).
    default_watch_timeout: watch duration when timeoutSeconds is absent.
    history_limit: keep at most this many events per resource (like the watch cache's
        capacity); older resourceVersions become too old.  None = unbounded.
    too_large_wait: how long a list with a future resourceVersion waits before 504
        (real: 3 s).
    key_type: "rsa" (2048, as kubeadm) or "ec".
    """

    def __init__(self, workdir, *, token=None, client_cert_auth=True, anonymous_auth=False,
                 expired_mode="event", bookmark_interval=60.0, default_watch_timeout=1800.0,
                 history_limit=None, too_large_wait=3.0, key_type="rsa", port=0):
        self.workdir = str(workdir)
        self.client_cert_auth = client_cert_auth
        self.anonymous_auth = anonymous_auth
        self.expired_mode = expired_mode
        self.bookmark_interval = bookmark_interval
        self.default_watch_timeout = default_watch_timeout
        self.history_limit = history_limit
        self.too_large_wait = too_large_wait
        self._want_port = port
        self._lock = threading.Condition(threading.RLock())
        self._rv = 1
        self._floor = 0
        self._store = {r: {} for r in _RESOURCES}
        self._skeys = {r: [] for r in _RESOURCES}  # the store's etcd keys, sorted
        self._items = {}  # id(stored object) -> (object, its list item JSON)
        self._watch_gate = threading.Event()  # cleared by hold_watches()
        self._watch_gate.set()
        self._events = {r: [] for r in _RESOURCES}   # retained (watchable) history
        self._all_events = {r: [] for r in _RESOURCES}  # full history for list snapshots
        self._watchers = set()
        self._conns = {}
        self._conn_seq = 0
        self._hung = {}
        self._faults = []
        self._denied = set()
        self._log = []
        self._incluster_dirs = []
        self._tokens = {token or make_token()}
        self.token = next(iter(self._tokens))
        self._fs_uid = make_uid("flowschema", "global-default")
        self._pl_uid = make_uid("prioritylevel", "global-default")
        self._httpd = None
        self._thread = None
        pki = _pki(key_type)
        self.pki_dir = os.path.join(self.workdir, "pki")
        os.makedirs(self.pki_dir, exist_ok=True)
        for f in ("ca.crt", "apiserver.crt", "apiserver.key", "client.crt", "client.key",
                  "other-ca.crt", "other-client.crt", "other-client.key"):
            shutil.copy(os.path.join(pki, f), os.path.join(self.pki_dir, f))
        self.ca_path = os.path.join(self.pki_dir, "ca.crt")
        self.server_cert_path = os.path.join(self.pki_dir, "apiserver.crt")
        self.client_cert_path = os.path.join(self.pki_dir, "client.crt")
        self.client_key_path = os.path.join(self.pki_dir, "client.key")
        self.untrusted_ca_path = os.path.join(self.pki_dir, "other-ca.crt")
        self.untrusted_client_cert_path = os.path.join(self.pki_dir, "other-client.crt")
        self.untrusted_client_key_path = os.path.join(self.pki_dir, "other-client.key")

    # -- lifecycle

    def start(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.server_cert_path, os.path.join(self.pki_dir, "apiserver.key"))
        ctx.set_alpn_protocols(["http/1.1"])
        if self.client_cert_auth:
            ctx.verify_mode = ssl.CERT_OPTIONAL
            ctx.load_verify_locations(self.ca_path)
        self._httpd = _Server(("127.0.0.1", self._want_port), _Handler)
        self._httpd.ssl_context = ctx
        self._httpd.api = self
        self.port = self._httpd.server_address[1]
        self.host = "127.0.0.1"
        self.url = f"https://127.0.0.1:{self.port}"
        self._want_port = self.port  # a restart comes back on the same port
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name="kubeapi-accept")
        self._thread.start()
        return self

    def stop(self):
        """Stop accepting, cut every open connection (watches, hung and idle keep-alive
        ones) and return promptly."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        self._watch_gate.set()
        with self._lock:
            for w in list(self._watchers):
                w.q.put(_STOP)
            for ev, _ in list(self._hung.values()):
                ev.set()
            for s in list(self._conns.values()):
                _raw_shutdown(s)
        self._thread.join(5)
        self._httpd = None

    def restart(self):
        """Stop and start again on the same port with all state kept, like an API server
        restart in front of the same etcd: every connection is cut."""
        self.stop()
        return self.start()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- credentials and client configuration

    def write_kubeconfig(self, path, auth="token", *, embed=False, namespace="default",
                         decoy=False, server=None):
        """Write a kubeconfig (YAML as kubectl writes it).  auth: "token" or "cert".
        embed: certificate-authority-data / client-*-data (base64) instead of paths.
        decoy: put a wrong cluster/user/context first so only honouring current-context
        works.  Returns path."""
        def b64(p):
            with open(p, "rb") as f:
                return base64.b64encode(f.read()).decode()

        server = server or self.url
        cl = (f"    certificate-authority-data: {b64(self.ca_path)}\n" if embed
              else f"    certificate-authority: {self.ca_path}\n")
        if auth == "token":
            user = f"    token: {self.token}\n"
        elif auth == "cert":
            if embed:
                user = (f"    client-certificate-data: {b64(self.client_cert_path)}\n"
                        f"    client-key-data: {b64(self.client_key_path)}\n")
            else:
                user = (f"    client-certificate: {self.client_cert_path}\n"
                        f"    client-key: {self.client_key_path}\n")
        else:
            raise ValueError(f"auth must be 'token' or 'cert', not {auth!r}")
        clusters, contexts, users = "", "", ""
        if decoy:
            clusters += ("- cluster:\n    certificate-authority: /nonexistent/ca.crt\n"
                         "    server: https://127.0.0.1:1\n  name: decoy\n")
            contexts += ("- context:\n    cluster: decoy\n    user: decoy-user\n"
                         "  name: decoy\n")
            users += "- name: decoy-user\n  user:\n    token: not-a-valid-token\n"
        clusters += f"- cluster:\n{cl}    server: {server}\n  name: kmon-test\n"
        contexts += (f"- context:\n    cluster: kmon-test\n    namespace: {namespace}\n"
                     f"    user: kmon-test-user\n  name: kmon-test\n")
        users += f"- name: kmon-test-user\n  user:\n{user}"
        text = (f"apiVersion: v1\nclusters:\n{clusters}contexts:\n{contexts}"
                f"current-context: kmon-test\nkind: Config\npreferences: {{}}\n"
                f"users:\n{users}")
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)
        return str(path)

    def write_incluster(self, dir, namespace="kmon"):
        """Lay out <dir> like /var/run/secrets/kubernetes.io/serviceaccount (token, ca.crt,
        namespace as symlinks into ..data, the kubelet's atomic writer layout).  Returns
        the env vars an in-cluster client reads."""
        dir = str(dir)
        os.makedirs(dir, exist_ok=True)
        self._incluster_dirs.append((dir, namespace))
        self._write_projection(dir, namespace)
        return {"KUBERNETES_SERVICE_HOST": "127.0.0.1",
                "KUBERNETES_SERVICE_PORT": str(self.port),
                "KUBERNETES_SERVICE_PORT_HTTPS": str(self.port)}

    def _write_projection(self, dir, namespace):
        with open(self.ca_path, "rb") as f:
            ca = f.read()
        files = {"ca.crt": ca, "namespace": namespace.encode(), "token": self.token.encode()}
        old = None
        data = os.path.join(dir, "..data")
        if os.path.islink(data):
            old = os.readlink(data)
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime(
            "..%Y_%m_%d_%H_%M_%S.")
        ts = tempfile.mkdtemp(prefix=stamp, dir=dir)
        os.chmod(ts, 0o755)
        for name, content in files.items():
            with open(os.path.join(ts, name), "wb") as f:
                f.write(content)
            os.chmod(os.path.join(ts, name), 0o644)
        tmp = os.path.join(dir, "..data_tmp")
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(os.path.basename(ts), tmp)
        os.rename(tmp, data)
        for name in files:
            link = os.path.join(dir, name)
            if not os.path.islink(link):
                if os.path.lexists(link):
                    os.unlink(link)
                os.symlink(os.path.join("..data", name), link)
        if old:
            shutil.rmtree(os.path.join(dir, old), ignore_errors=True)

    def rotate_token(self, new=None, keep_old=False):
        """Issue a new token, rewrite every in-cluster token file, and (unless keep_old)
        stop accepting the old one.  Returns the new token."""
        new = new or make_token()
        with self._lock:
            if not keep_old:
                self._tokens.discard(self.token)
            self._tokens.add(new)
            self.token = new
        for d, ns in self._incluster_dirs:
            self._write_projection(d, ns)
        return new

    def add_token(self, tok):
        with self._lock:
            self._tokens.add(tok)

    def revoke_token(self, tok):
        with self._lock:
            self._tokens.discard(tok)

    @property
    def tokens(self):
        with self._lock:
            return set(self._tokens)

    # -- objects

    @property
    def resource_version(self):
        with self._lock:
            return self._rv

    def _key(self, obj):
        m = obj["metadata"]
        return (m.get("namespace") or "", m["name"])

    def _record(self, resource, typ, obj, prev, full=None):
        key = _skey(self._key(obj))
        ev = _Event(self._rv, typ, obj, prev, key, full)
        self._events[resource].append(ev)
        self._all_events[resource].append(ev)
        if self.history_limit is not None and len(self._events[resource]) > self.history_limit:
            drop = self._events[resource][:-self.history_limit]
            self._events[resource] = self._events[resource][-self.history_limit:]
            self._floor = max(self._floor, drop[-1].rv)
        for w in self._watchers:
            if w.resource == resource:
                w.q.put(ev)
        self._lock.notify_all()

    def _stamped(self, obj):
        """A private copy of obj with metadata.resourceVersion set to the current one, and
        its JSON (the copy is the JSON decoded: nothing is shared with the caller)."""
        o = dict(obj)
        o["metadata"] = dict(obj["metadata"])
        o["metadata"]["resourceVersion"] = str(self._rv)
        full, item = _store_json(o)
        return json.loads(full), full, item

    def _put(self, resource, k, obj, item):
        store = self._store[resource]
        prev = store.get(k)
        if prev is None:
            bisect.insort(self._skeys[resource], _skey(k))
        else:
            self._items.pop(id(prev), None)
        store[k] = obj
        self._items[id(obj)] = (obj, item)

    def add(self, obj):
        """Create an object of any served kind; returns the stored copy."""
        resource = _KIND_TO_RES[obj["kind"]]
        with self._lock:
            k = self._key(obj)
            if k in self._store[resource]:
                raise KeyError(f"{obj['kind']} {k} already exists")
            self._rv += 1
            obj, full, item = self._stamped(obj)
            self._put(resource, k, obj, item)
            self._record(resource, "ADDED", obj, None, full)
            return json.loads(full)

    def update(self, obj):
        """Replace an existing object (MODIFIED); returns the stored copy."""
        resource = _KIND_TO_RES[obj["kind"]]
        with self._lock:
            k = self._key(obj)
            prev = self._store[resource][k]
            self._rv += 1
            obj, full, item = self._stamped(obj)
            self._put(resource, k, obj, item)
            self._record(resource, "MODIFIED", obj, prev, full)
            return json.loads(full)

    def modify(self, kind, namespace, name, fn):
        """Apply fn(obj) to a copy of the object (it may mutate or return a new one)."""
        resource = _KIND_TO_RES[kind]
        with self._lock:
            obj = _clone(self._store[resource][(namespace or "", name)])
            res = fn(obj)
            return self.update(res if res is not None else obj)

    def delete(self, kind, namespace, name, graceful=False):
        """Delete an object.  graceful: first a MODIFIED setting deletionTimestamp and
        deletionGracePeriodSeconds, as the API does for pods with a grace period."""
        resource = _KIND_TO_RES[kind]
        with self._lock:
            if graceful:
                def mark(o):
                    o["metadata"]["deletionTimestamp"] = _now_ts()
                    o["metadata"]["deletionGracePeriodSeconds"] = 30
                self.modify(kind, namespace, name, mark)
            k = (namespace or "", name)
            prev = self._store[resource].pop(k)
            self._items.pop(id(prev), None)
            keys = self._skeys[resource]
            del keys[bisect.bisect_left(keys, _skey(k))]
            self._rv += 1
            obj, full, _ = self._stamped(prev)
            self._record(resource, "DELETED", obj, prev, full)
            return json.loads(full)

    def get(self, kind, namespace, name):
        with self._lock:
            o = self._store[_KIND_TO_RES[kind]].get((namespace or "", name))
            return _clone(o) if o is not None else None

    def list(self, kind, namespace=None):
        """Objects of kind (in namespace, if given) sorted by namespace and name."""
        with self._lock:
            return [_clone(v) for k, v in sorted(self._store[_KIND_TO_RES[kind]].items())
                    if namespace is None or k[0] == namespace]

    def objects(self):
        """Every object held, of every kind (for ksm_model.expected_series)."""
        with self._lock:
            return [_clone(v) for r in _RESOURCES
                    for _, v in sorted(self._store[r].items())]

    # pod conveniences
    def add_pod(self, pod):
        return self.add(pod)

    def update_pod(self, pod):
        return self.update(pod)

    def modify_pod(self, namespace, name, fn):
        return self.modify("Pod", namespace, name, fn)

    def delete_pod(self, namespace, name, graceful=False):
        return self.delete("Pod", namespace, name, graceful)

    def pods(self):
        return self.list("Pod")

    def bump_rv(self, n=1):
        """Advance the global resourceVersion as writes to other resources would
        (leases, events ... in a real cluster)."""
        with self._lock:
            self._rv += n
            self._lock.notify_all()
            return self._rv

    def _state_at(self, resource, rv):
        if rv >= self._rv:
            return {_skey(k): v for k, v in self._store[resource].items()}
        state = {}
        for ev in self._all_events[resource]:
            if ev.rv > rv:
                break
            if ev.type == "DELETED":
                state.pop(ev.key, None)
            else:
                state[ev.key] = ev.obj
        return state

    # -- history, bookmarks, connections

    def compact(self, rv=None):
        """Forget history up to rv (default: the current resourceVersion): watches from
        an older resourceVersion get 410 Expired, and so do continue tokens and Exact
        lists older than it.  Returns the new floor."""
        with self._lock:
            floor = self._rv if rv is None else int(rv)
            self._floor = max(self._floor, floor)
            for r in self._events:
                self._events[r] = [e for e in self._events[r] if e.rv > self._floor]
            return self._floor

    def expire_continue_tokens(self):
        """Make every continue token issued so far expired (bump + compact)."""
        self.bump_rv()
        return self.compact()

    def emit_bookmark(self):
        """Send a BOOKMARK at the current resourceVersion to every watch that allowed
        bookmarks.  Returns that resourceVersion."""
        with self._lock:
            rv = self._rv
            for w in self._watchers:
                w.q.put(("BOOKMARK", rv))
            return rv

    @contextlib.contextmanager
    def hold_watches(self):
        """Within the block, changes are recorded and queued to the watches but not sent;
        they go out as one burst when it ends (the bench measures how fast a client
        applies events, not how fast the test makes them).  stop() releases them."""
        self._watch_gate.clear()
        try:
            yield
        finally:
            self._watch_gate.set()

    def drop_watches(self):
        """Cut every open watch mid-stream (TCP shutdown, no terminating chunk).  Returns
        how many were cut."""
        with self._lock:
            ws = list(self._watchers)
            for w in ws:
                w.q.put(_DROP)
                _raw_shutdown(w.conn)
            return len(ws)

    def drop_hung(self):
        """Close every hung request's connection without a response."""
        with self._lock:
            hs = list(self._hung.values())
            for ev, s in hs:
                ev.set()
            return len(hs)

    def drop_all(self):
        """Cut watches, hung requests and idle keep-alive connections."""
        n = self.drop_watches() + self.drop_hung()
        with self._lock:
            for s in list(self._conns.values()):
                _raw_shutdown(s)
        return n

    def watch_count(self):
        """Watches streaming now (headers and replayed events already sent)."""
        with self._lock:
            return sum(1 for w in self._watchers if w.streaming)

    def wait_watchers(self, n=1, timeout=5.0):
        """Wait until at least n watches are streaming; returns the count."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self.watch_count() < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.watch_count()} watches streaming, wanted {n}")
                self._lock.wait(left)
            return self.watch_count()

    # -- faults and authorization

    def fail_next(self, n=1, code=500, *, retry_after=None, style="status", match=None):
        """The next n matching authenticated requests fail with code.  style "status"
        answers with the real Status object (429 carries details.retryAfterSeconds);
        style "text" answers as the max-in-flight/APF filter does (text/plain "Too many
        requests, please try again later.").  retry_after sets Retry-After (default 1 for
        429).  match: None, a substring of path?query, or a callable(Request)."""
        if code == 429 and retry_after is None:
            retry_after = 1
        with self._lock:
            self._faults.append(_Fault(n, "status", code, retry_after, style, match))

    def hang_next(self, n=1, *, match=None):
        """The next n matching requests get no response until drop_hung()/stop()."""
        with self._lock:
            self._faults.append(_Fault(n, "hang", 0, None, None, match))

    def clear_faults(self):
        with self._lock:
            self._faults.clear()

    def _take_fault(self, req):
        with self._lock:
            for f in self._faults:
                if f.n > 0 and f.applies(req):
                    f.n -= 1
                    if f.n == 0:
                        self._faults.remove(f)
                    return f
        return None

    def deny(self, verb, resource="*"):
        """Authenticated users get 403 Forbidden for verb on resource (RBAC missing)."""
        with self._lock:
            self._denied.add((verb, resource))

    def allow(self, verb, resource="*"):
        with self._lock:
            self._denied.discard((verb, resource))

    # -- request log

    def requests(self, path=None, watch=None, pred=None):
        """Requests so far (oldest first), filtered by exact path, watch-ness, predicate."""
        with self._lock:
            out = list(self._log)
        if path is not None:
            out = [r for r in out if r.path == path]
        if watch is not None:
            out = [r for r in out if r.watch == watch]
        if pred is not None:
            out = [r for r in out if pred(r)]
        return out

    def clear_log(self):
        with self._lock:
            self._log.clear()

    def wait_requests(self, count=1, pred=None, timeout=5.0):
        """Wait until at least count logged requests satisfy pred; returns them."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                got = [r for r in self._log if pred is None or pred(r)]
                if len(got) >= count:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(got)} matching requests, wanted {count}: "
                                       f"{self._log[-10:]}")
                self._lock.wait(left)


def parse_kubeconfig(text):
    """Parse the YAML subset write_kubeconfig writes (maps, lists of maps in kubectl's
    style, scalars, {}) into dicts; for tests that check the file's structure."""
    toks = [[len(ln) - len(ln.lstrip(" ")), ln.strip()] for ln in text.splitlines()
            if ln.strip()]

    def block(i, ind):
        if toks[i][1].startswith("- "):
            out = []
            while i < len(toks) and toks[i][0] == ind and toks[i][1].startswith("- "):
                toks[i] = [ind + 2, toks[i][1][2:]]
                item, i = block(i, ind + 2)
                out.append(item)
            return out, i
        out = {}
        while i < len(toks) and toks[i][0] == ind and not toks[i][1].startswith("- "):
            key, _, val = toks[i][1].partition(":")
            val = val.strip()
            i += 1
            if val:
                out[key] = {} if val == "{}" else val
            elif i < len(toks) and (toks[i][0] > ind or
                                    (toks[i][0] == ind and toks[i][1].startswith("- "))):
                out[key], i = block(i, toks[i][0])
            else:
                out[key] = None
        return out, i

    return block(0, 0)[0] if toks else {}
