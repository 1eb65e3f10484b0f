"""Scripted cluster changes on the kube-apiserver double (kubeapi.KubeAPI), written the way
the real controllers write them, each step through the double's add/update/delete so that
watches see every step with an increasing resourceVersion:

* ``scale_deployment``: the user's spec change (generation + 1), then, after ``delay``
  (or later with ``settle_deployment``), the ReplicaSet's spec, pods created or deleted,
  the ReplicaSet's and the Deployment's status.
* ``crash_loop``: a container restarts n times (restartCount grows, lastState.terminated
  Error or OOMKilled, waiting CrashLoopBackOff).
* ``drain_node``: cordon (spec.unschedulable, taint node.kubernetes.io/unschedulable:
  NoSchedule), then the node's pods deleted except DaemonSet and mirror pods, as
  ``kubectl drain --ignore-daemonsets`` does.
* ``node_not_ready`` / ``node_ready``: the node lifecycle controller marking the kubelet's
  conditions Unknown (NodeStatusUnknown) and tainting node.kubernetes.io/unreachable
  NoSchedule and NoExecute; and the kubelet coming back.
* ``delete_namespace``: Terminating (deletionTimestamp, status.phase, the namespace
  controller's conditions), every namespaced object in it deleted, the ``kubernetes``
  finalizer removed, the namespace deleted.

``make_deployment_tree`` builds a Deployment with its ReplicaSet and pods for a start;
``make_cluster`` a whole generated cluster (nodes, namespaces, deployment trees spread
over the nodes) for benchmarks.
"""

import time

from kubeapi import _RESOURCES, _now_ts, _suffix, make_pod, make_replicaset
from kubeobjects import deployment_conditions, make_deployment, set_container_state

__all__ = ["make_deployment_tree", "make_cluster", "scale_deployment", "settle_deployment", "crash_loop",
           "drain_node", "node_not_ready", "node_ready", "delete_namespace",
           "finish_namespace_deletion"]


def _rs_name(dep):
    return dep["metadata"]["name"] + "-" + _suffix(10, dep["metadata"]["namespace"],
                                                   dep["metadata"]["name"], "pth")


def _owned_by(obj, uid):
    return any(r.get("uid") == uid and r.get("controller")
               for r in obj["metadata"].get("ownerReferences") or [])


def _rs_pod(rs, i, nodes, created):
    rsname, ns = rs["metadata"]["name"], rs["metadata"]["namespace"]
    name = f"{rsname}-{_suffix(5, ns, rsname, i)}"
    return make_pod(name, ns, nodes[i % len(nodes)], owner=("ReplicaSet", rsname,
                                                              rs["metadata"]["uid"]),
                    labels={"app": rs["metadata"]["labels"].get("app", rsname)},
                    created=created)


def make_deployment_tree(name, namespace="default", replicas=3, nodes=("node-1",), **kw):
    """[Deployment, ReplicaSet, pods...] all consistent (uids, owner references,
    pod-template-hash, counts).  kw goes to make_deployment."""
    dep = make_deployment(name, namespace, replicas=replicas, **kw)
    rsname = _rs_name(dep)
    rs = make_replicaset(rsname, namespace, name, deployment_uid=dep["metadata"]["uid"],
                         replicas=replicas, labels=dict(dep["metadata"]["labels"]),
                         created=dep["metadata"]["creationTimestamp"])
    pods = [_rs_pod(rs, i, list(nodes), rs["metadata"]["creationTimestamp"])
            for i in range(replicas)]
    return [dep, rs] + pods


def make_cluster(nodes=3, deployments=3, pods_per_deployment=2, namespaces=1):
    """Every object of a generated cluster, in creation order: nodes node-0..,
    namespaces ns-0.. (plus default and kube-system), Deployments app-<i> spread
    round-robin over the namespaces, each with its ReplicaSet and pods spread over the
    nodes.  make_cluster(1000, 3000, 10) is the issue's 1 000 nodes / 30 000 pods."""
    from kubeobjects import make_namespace, make_node
    node_names = [f"node-{i}" for i in range(nodes)]
    ns_names = [f"ns-{i}" for i in range(namespaces)]
    objs = [make_node(n) for n in node_names]
    objs += [make_namespace(n) for n in ["default", "kube-system"] + ns_names]
    for i in range(deployments):
        tree = make_deployment_tree(f"app-{i}", ns_names[i % namespaces],
                                    replicas=pods_per_deployment, nodes=node_names)
        start = (i * pods_per_deployment) % nodes  # spread the trees' pods evenly
        for j, p in enumerate(tree[2:]):
            p["spec"]["nodeName"] = node_names[(start + j) % nodes]
        objs += tree
    return objs


def scale_deployment(api, namespace, name, replicas, *, delay=0.0, nodes=None):
    """kubectl scale: spec.replicas and generation now; then, after delay seconds (None:
    not at all, call settle_deployment), what the controllers do.  Returns the
    Deployment as stored after the last step."""
    def spec(d):
        d["spec"]["replicas"] = replicas
        d["metadata"]["generation"] = d["metadata"].get("generation", 1) + 1

    dep = api.modify("Deployment", namespace, name, spec)
    if delay is None:
        return dep
    if delay:
        time.sleep(delay)
    return settle_deployment(api, namespace, name, nodes=nodes)


def settle_deployment(api, namespace, name, *, nodes=None):
    """Bring the Deployment's ReplicaSet, pods and statuses to spec.replicas, all ready."""
    dep = api.get("Deployment", namespace, name)
    want = dep["spec"]["replicas"]
    uid = dep["metadata"]["uid"]
    rs = next((r for r in api.list("ReplicaSet", namespace) if _owned_by(r, uid)), None)
    if rs is None:
        rs = api.add(make_replicaset(_rs_name(dep), namespace, name, deployment_uid=uid,
                                     replicas=0, labels=dict(dep["metadata"]["labels"])))

    def rs_spec(r):
        r["spec"]["replicas"] = want
        r["metadata"]["generation"] = r["metadata"].get("generation", 1) + 1
        r["metadata"].setdefault("annotations", {})[
            "deployment.kubernetes.io/desired-replicas"] = str(want)
        r["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] = str(
            want + -(-want // 4))

    rs = api.modify("ReplicaSet", namespace, rs["metadata"]["name"], rs_spec)
    pods = [p for p in api.list("Pod", namespace) if _owned_by(p, rs["metadata"]["uid"])]
    nodes = list(nodes or sorted({p["spec"].get("nodeName") for p in pods
                                  if p["spec"].get("nodeName")}) or ["node-1"])
    now = _now_ts()
    i = 0
    taken = {p["metadata"]["name"] for p in pods}
    while len(pods) < want:
        p = _rs_pod(rs, i, nodes, now)
        i += 1
        if p["metadata"]["name"] in taken:
            continue
        taken.add(p["metadata"]["name"])
        pods.append(api.add(p))
    for p in sorted(pods, key=lambda p: p["metadata"]["name"])[want:]:
        api.delete("Pod", namespace, p["metadata"]["name"], graceful=True)

    def rs_status(r):
        r["status"] = {"replicas": want, "fullyLabeledReplicas": want, "readyReplicas": want,
                       "availableReplicas": want,
                       "observedGeneration": r["metadata"]["generation"]}
        if not want:
            r["status"] = {"replicas": 0, "observedGeneration": r["metadata"]["generation"]}

    api.modify("ReplicaSet", namespace, rs["metadata"]["name"], rs_status)

    def dep_status(d):
        st = {"observedGeneration": d["metadata"]["generation"]}
        for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas"):
            if want:
                st[k] = want
        st["conditions"] = deployment_conditions(name, rs["metadata"]["name"], want, want,
                                                 now)
        d["status"] = st

    return api.modify("Deployment", namespace, name, dep_status)


def crash_loop(api, namespace, pod, container, times=1, *, last_reason="Error",
               exit_code=None):
    """The container crashes times times: each one a MODIFIED with restartCount + 1,
    lastState.terminated (last_reason, exit code 1 or 137 for OOMKilled) and waiting
    CrashLoopBackOff.  Returns the pod as stored."""
    out = None
    for _ in range(times):
        def crash(p):
            cs = next(c for c in p["status"]["containerStatuses"] if c["name"] == container)
            set_container_state(p, container, "CrashLoopBackOff",
                                restarts=cs.get("restartCount", 0) + 1,
                                last_reason=last_reason, exit_code=exit_code, at=_now_ts())
        out = api.modify("Pod", namespace, pod, crash)
    return out


def _set_taint(node, key, effect, now):
    taints = node["spec"].setdefault("taints", [])
    if not any(t["key"] == key and t["effect"] == effect for t in taints):
        taints.append({"key": key, "effect": effect, "timeAdded": now})


def drain_node(api, node):
    """Cordon the node, then delete (gracefully) its pods other than DaemonSet and mirror
    pods.  Returns the deleted pods' (namespace, name)."""
    now = _now_ts()

    def cordon(n):
        n["spec"]["unschedulable"] = True
        _set_taint(n, "node.kubernetes.io/unschedulable", "NoSchedule", now)

    api.modify("Node", None, node, cordon)
    gone = []
    for p in api.list("Pod"):
        if p["spec"].get("nodeName") != node:
            continue
        kinds = {r["kind"] for r in p["metadata"].get("ownerReferences") or []}
        if kinds & {"DaemonSet", "Node"}:
            continue
        api.delete("Pod", p["metadata"]["namespace"], p["metadata"]["name"], graceful=True)
        gone.append((p["metadata"]["namespace"], p["metadata"]["name"]))
    return gone


def node_not_ready(api, node):
    """The kubelet stopped posting status: Ready, MemoryPressure, DiskPressure and
    PIDPressure become Unknown (NodeStatusUnknown, "Kubelet stopped posting node
    status."), then the unreachable taints (NoSchedule and NoExecute) are added."""
    now = _now_ts()

    def unknown(n):
        for c in n["status"]["conditions"]:
            if c["type"] in ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure"):
                if c["status"] != "Unknown":
                    c["lastTransitionTime"] = now
                c["status"] = "Unknown"
                c["reason"] = "NodeStatusUnknown"
                c["message"] = "Kubelet stopped posting node status."

    def taint(n):
        _set_taint(n, "node.kubernetes.io/unreachable", "NoSchedule", now)
        _set_taint(n, "node.kubernetes.io/unreachable", "NoExecute", now)

    api.modify("Node", None, node, unknown)
    return api.modify("Node", None, node, taint)


def node_ready(api, node):
    """The kubelet is back: healthy conditions, unreachable/not-ready taints removed."""
    from kubeobjects import make_node
    now = _now_ts()
    healthy = {c["type"]: c for c in make_node(node)["status"]["conditions"]}

    def back(n):
        for c in n["status"]["conditions"]:
            h = healthy.get(c["type"])
            if h and c["status"] != h["status"]:
                c.update({"status": h["status"], "reason": h["reason"],
                          "message": h["message"], "lastTransitionTime": now})
            c["lastHeartbeatTime"] = now
        n["spec"]["taints"] = [t for t in n["spec"].get("taints", []) if t["key"] not in (
            "node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready")]
        if not n["spec"]["taints"]:
            del n["spec"]["taints"]

    return api.modify("Node", None, node, back)


def delete_namespace(api, namespace, *, finish=True):
    """kubectl delete namespace: the namespace goes Terminating (deletionTimestamp,
    status.phase and conditions); with finish (default) the namespace controller then
    deletes its objects and the namespace (finish_namespace_deletion)."""
    now = _now_ts()

    def terminating(n):
        n["metadata"]["deletionTimestamp"] = now
        n["status"] = {"phase": "Terminating", "conditions": [
            {"type": t, "status": "False", "lastTransitionTime": now, "reason": r,
             "message": m} for t, r, m in (
                ("NamespaceDeletionDiscoveryFailure", "ResourcesDiscovered",
                 "All resources successfully discovered"),
                ("NamespaceDeletionGroupVersionParsingFailure", "ParsedGroupVersions",
                 "All legacy kube types successfully parsed"),
                ("NamespaceDeletionContentFailure", "ContentDeleted",
                 "All content successfully deleted, may be waiting on finalization"))]}

    ns = api.modify("Namespace", None, namespace, terminating)
    if finish:
        return finish_namespace_deletion(api, namespace)
    return ns


def finish_namespace_deletion(api, namespace):
    """What the namespace controller does for a Terminating namespace: delete every
    namespaced object in it, drop the kubernetes finalizer, delete the namespace.
    Returns how many objects were deleted."""
    n = 0
    for r in _RESOURCES.values():
        if not r["namespaced"]:
            continue
        kind = r["kind"]
        for o in api.list(kind, namespace):
            api.delete(kind, namespace, o["metadata"]["name"])
            n += 1

    def unfinalize(ns):
        ns["spec"] = {}  # finalizers omitempty
    api.modify("Namespace", None, namespace, unfinalize)
    api.delete("Namespace", None, namespace)
    return n
