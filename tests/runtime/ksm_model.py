"""An independent model of the kube-state-metrics series a set of Kubernetes objects must
produce, for checking kmon's cluster-state collector against expectations that were not
computed by the code under test.

``expected_series(objects, cluster=None, labels_allowlist=None,
annotations_allowlist=None, families=None)`` takes plain dicts with their ``kind`` (as
kubeapi.KubeAPI holds them, e.g. ``api.objects()``; items of a List lack it) and returns
``{(family, frozenset(label items)): value}``; ``diff_series(expected, actual)`` says how
a collector's series differ from that.

Which kube-state-metrics: v2.15 (its internal/store/*.go and docs/metrics/*, as of the
main branch in 2025), for the families listed in FAMILIES.  Behaviours that changed across
v2.10-v2.15 are taken from that version and marked "v2.15:" below.  Conventions:

* Every series carries its kind's identifying labels (pods: namespace, pod, uid; nodes:
  node; namespaces: namespace; workloads: namespace and the kind's name label; jobs:
  job_name), plus ``cluster`` when cluster is given.
* A label whose value is the empty string is left out, as Prometheus does on ingestion
  (KSM writes ``x=""``; a TSDB that stores labels as Prometheus does never keeps it).
  E.g. kube_pod_info of a pod without a controller has no created_by_kind (v2.15 writes
  "" there; before v2.13 it wrote "<none>").
* Booleans are 1/0.  A "one series per state" family (phase, conditions) has every
  state's series, the current one 1 and the others 0; conditions get status
  ``true``/``false``/``unknown`` (label ``condition`` for the pod/job families whose
  condition is fixed, ``condition`` + ``status`` elsewhere).
* Times are Unix seconds (RFC 3339 parsed, fraction dropped as Go's Time.Unix() does).
* Quantities are parsed here from the API's strings (``parse_quantity``): cpu in cores
  (MilliValue()/1000: rounded up to the milli-core), bytes and counts with Value()
  (rounded up to an integer), resourcequota values MilliValue()/1000 for every resource.
  ``unit`` is ``core``, ``byte`` or ``integer`` as KSM writes it; resource names are
  sanitised (``ephemeral-storage`` -> ``ephemeral_storage``) except in kube_resourcequota.
* A family whose field is unset has no series (start_time before the pod started,
  spec_completions without completions, status_last_schedule_time before a first run).
* kube_<kind>_labels / _annotations exist only for kinds named in the allowlist
  (``pods=[app,team],namespaces=[*]``, ``*=[*]`` for all), one series per object with
  ``label_<sanitised key>`` for each allowed key the object has.

Standard library only, and written without reference to kmon's C code.
"""

import datetime
import functools
import math
import re
from fractions import Fraction

__all__ = ["expected_series", "parse_quantity", "parse_allowlist", "sanitize_label_name",
           "FAMILIES", "series_of", "diff_series", "from_samples", "NONE"]

# What KSM writes for "no owner" / "no controller" (kube_pod_owner, kube_replicaset_owner,
# kube_job_owner, kube_pod_info's created_by_*): "" in v2.15 (so the labels are absent
# after ingestion), "<none>" in releases before v2.13.  One place to change it.
NONE = ""

# --------------------------------------------------------------------------------------
# Quantities (k8s.io/apimachinery/pkg/api/resource), exactly, as fractions

_BINARY = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50,
           "Ei": 2 ** 60}
_DECIMAL = {"n": Fraction(1, 10 ** 9), "u": Fraction(1, 10 ** 6), "m": Fraction(1, 1000),
            "": Fraction(1), "k": Fraction(10 ** 3), "M": Fraction(10 ** 6),
            "G": Fraction(10 ** 9), "T": Fraction(10 ** 12), "P": Fraction(10 ** 15),
            "E": Fraction(10 ** 18)}
_QTY = re.compile(r"^([+-]?)(\d+\.?\d*|\.\d+)(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$")


@functools.lru_cache(maxsize=4096)
def parse_quantity(s):
    """The exact value of a Kubernetes quantity string as a Fraction: "100m" -> 1/10,
    "1Gi" -> 1073741824, "1.5" -> 3/2, "2e3" -> 2000, "129M" -> 129000000.  Raises
    ValueError on anything the API server would not accept."""
    if not isinstance(s, str):
        s = str(s)
    m = _QTY.match(s.strip())
    if not m:
        raise ValueError(f"not a quantity: {s!r}")
    sign, num, exp, suffix = m.groups()
    if "." in num:
        whole, frac = num.split(".")
        value = Fraction(int(whole or "0")) + (Fraction(int(frac), 10 ** len(frac))
                                               if frac else 0)
    else:
        value = Fraction(int(num))
    if exp:
        e = int(exp[1:])
        value *= Fraction(10) ** e
    elif suffix in _BINARY:
        value *= _BINARY[suffix]
    elif suffix:
        value *= _DECIMAL[suffix]
    return -value if sign == "-" else value


def _ceil(x):
    return math.ceil(x)


def _value(q):
    """Quantity.Value(): rounded up to an integer."""
    return float(_ceil(parse_quantity(q)))


def _milli(q):
    """float64(Quantity.MilliValue()) / 1000: rounded up to the thousandth."""
    return _ceil(parse_quantity(q) * 1000) / 1000


# --------------------------------------------------------------------------------------
# Helpers

_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def sanitize_label_name(s):
    """KSM's SanitizeLabelName: every character outside [a-zA-Z0-9_] becomes _."""
    return _INVALID.sub("_", s)


@functools.lru_cache(maxsize=65536)
def _unix(ts):
    if not ts:
        return None
    base = ts.split(".")[0].rstrip("Z")
    dt = datetime.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc)
    return float(int(dt.timestamp()))


def _b(v):
    return 1.0 if v else 0.0


def _bool_str(v):
    return "true" if v else "false"


_CONDITION_STATUSES = (("true", "True"), ("false", "False"), ("unknown", "Unknown"))


def _condition_values(status):
    """addConditionMetrics: the three statuses, 1 for the one the condition has."""
    return [(lbl, _b(status == api)) for lbl, api in _CONDITION_STATUSES]


def parse_allowlist(spec):
    """KSM's --metric-labels-allowlist / --metric-annotations-allowlist syntax,
    ``pods=[app,team],namespaces=[*]``, as {resource: [keys]}; a dict passes through."""
    if spec is None:
        return {}
    if isinstance(spec, dict):
        return {k: list(v) for k, v in spec.items()}
    out = {}
    for m in re.finditer(r"\s*([^=,\s]+)\s*=\s*\[([^\]]*)\]\s*,?", spec):
        keys = [k.strip() for k in m.group(2).split(",") if k.strip()]
        out.setdefault(m.group(1), []).extend(keys)
    return out


def _allowed(allow, resource):
    keys = list(allow.get(resource, [])) + list(allow.get("*", []))
    present = resource in allow or "*" in allow
    return present, keys


def _kv_labels(prefix, mapping, keys):
    mapping = mapping or {}
    if "*" in keys:
        chosen = sorted(mapping)
    else:
        chosen = [k for k in keys if k in mapping]
    return {f"{prefix}_{sanitize_label_name(k)}": mapping[k] for k in chosen}


def _resource_unit(name):
    """(sanitised resource, unit, converter) for a container request/limit or a node
    capacity/allocatable entry; None for names KSM does not report."""
    if name == "cpu":
        return "cpu", "core", _milli
    if name in ("memory", "storage", "ephemeral-storage"):
        return sanitize_label_name(name), "byte", _value
    if name == "pods":
        return "pods", "integer", _value
    if name.startswith("hugepages-") or name.startswith("attachable-volumes-"):
        return sanitize_label_name(name), "byte", _value
    if "/" in name and not name.startswith("kubernetes.io/") and \
            not name.startswith("requests."):
        return sanitize_label_name(name), "integer", _value
    return None


# --------------------------------------------------------------------------------------
# Families by kind.  Each function yields (family, {label: value}, value).


def _pod(p):
    meta, spec, st = p["metadata"], p.get("spec", {}), p.get("status", {})
    node = spec.get("nodeName", "")
    ctrl = next((r for r in meta.get("ownerReferences") or [] if r.get("controller")), None)
    yield "kube_pod_info", {
        "host_ip": st.get("hostIP", ""), "pod_ip": st.get("podIP", ""), "node": node,
        "created_by_kind": ctrl["kind"] if ctrl else NONE,
        "created_by_name": ctrl["name"] if ctrl else NONE,
        "priority_class": spec.get("priorityClassName", ""),
        "host_network": _bool_str(spec.get("hostNetwork", False))}, 1.0
    yield from _owner_series("kube_pod_owner", p)
    phase = st.get("phase", "")
    if phase:
        for ph in ("Pending", "Succeeded", "Failed", "Unknown", "Running"):
            yield "kube_pod_status_phase", {"phase": ph}, _b(phase == ph)
    for c in st.get("conditions") or []:
        if c["type"] == "Ready":
            for lbl, v in _condition_values(c.get("status")):
                yield "kube_pod_status_ready", {"condition": lbl}, v
        if c["type"] == "PodScheduled":
            for lbl, v in _condition_values(c.get("status")):
                yield "kube_pod_status_scheduled", {"condition": lbl}, v
    for reason in ("Evicted", "NodeAffinity", "NodeLost", "Shutdown",
                   "UnexpectedAdmissionError"):
        hit = (st.get("reason") == reason
               or any(c.get("reason") == reason for c in st.get("conditions") or [])
               or any((cs.get("state") or {}).get("terminated", {}).get("reason") == reason
                      for cs in st.get("containerStatuses") or []))
        yield "kube_pod_status_reason", {"reason": reason}, _b(hit)
    created = _unix(meta.get("creationTimestamp"))
    if created is not None:
        yield "kube_pod_created", {}, created
    if st.get("startTime"):
        yield "kube_pod_start_time", {}, _unix(st["startTime"])
    yield from _containers(p, spec.get("containers") or [],
                           st.get("containerStatuses") or [], "kube_pod_container", False)
    yield from _containers(p, spec.get("initContainers") or [],
                           st.get("initContainerStatuses") or [], "kube_pod_init_container",
                           True)
    for c in spec.get("containers") or []:
        for kind in ("requests", "limits"):
            for name, q in ((c.get("resources") or {}).get(kind) or {}).items():
                ru = _resource_unit(name)
                if ru is None or name == "pods":
                    continue
                res, unit, conv = ru
                yield f"kube_pod_container_resource_{kind}", {
                    "container": c["name"], "node": node, "resource": res,
                    "unit": unit}, conv(q)


def _containers(p, specs, statuses, prefix, init):
    by_name = {c["name"]: c for c in specs}
    for cs in statuses:
        name = cs["name"]
        state = cs.get("state") or {}
        last = cs.get("lastState") or {}
        if name in by_name:  # v2.15: only statuses with a container of that name in spec
            info = {"container": name, "image_spec": by_name[name].get("image", ""),
                    "image": cs.get("image", ""), "image_id": cs.get("imageID", ""),
                    "container_id": cs.get("containerID", "")}
            if init:
                info["restart_policy"] = by_name[name].get("restartPolicy", "")
            yield f"{prefix}_info", info, 1.0
        c = {"container": name}
        yield f"{prefix}_status_restarts_total", c, float(cs.get("restartCount", 0))
        yield f"{prefix}_status_running", c, _b("running" in state)
        yield f"{prefix}_status_ready", c, _b(cs.get("ready"))
        if not init:
            yield f"{prefix}_status_waiting", c, _b("waiting" in state)
            yield f"{prefix}_status_terminated", c, _b("terminated" in state)
        if "waiting" in state:
            yield f"{prefix}_status_waiting_reason", dict(
                c, reason=state["waiting"].get("reason", "")), 1.0
        if "terminated" in state:
            yield f"{prefix}_status_terminated_reason", dict(
                c, reason=state["terminated"].get("reason", "")), 1.0
        if not init and "terminated" in last:
            yield f"{prefix}_status_last_terminated_reason", dict(
                c, reason=last["terminated"].get("reason", "")), 1.0


def _node(n):
    meta, spec, st = n["metadata"], n.get("spec", {}), n.get("status", {})
    info = st.get("nodeInfo") or {}
    internal = ""
    for a in st.get("addresses") or []:
        if a.get("type") == "InternalIP":
            internal = a.get("address", "")
    yield "kube_node_info", {
        "kernel_version": info.get("kernelVersion", ""), "os_image": info.get("osImage", ""),
        "container_runtime_version": info.get("containerRuntimeVersion", ""),
        "kubelet_version": info.get("kubeletVersion", ""),
        "kubeproxy_version": info.get("kubeProxyVersion", ""),
        "provider_id": spec.get("providerID", ""), "pod_cidr": spec.get("podCIDR", ""),
        "system_uuid": info.get("systemUUID", ""), "internal_ip": internal}, 1.0
    created = _unix(meta.get("creationTimestamp"))
    if created is not None:
        yield "kube_node_created", {}, created
    yield "kube_node_spec_unschedulable", {}, _b(spec.get("unschedulable"))
    for t in spec.get("taints") or []:
        yield "kube_node_spec_taint", {"key": t.get("key", ""), "value": t.get("value", ""),
                                       "effect": t.get("effect", "")}, 1.0
    for c in st.get("conditions") or []:
        for lbl, v in _condition_values(c.get("status")):
            yield "kube_node_status_condition", {"condition": c["type"], "status": lbl}, v
    for fam, key in (("kube_node_status_capacity", "capacity"),
                     ("kube_node_status_allocatable", "allocatable")):
        for name, q in (st.get(key) or {}).items():
            ru = _resource_unit(name)
            if ru is None:
                continue
            res, unit, conv = ru
            yield fam, {"resource": res, "unit": unit}, conv(q)


def _namespace(ns):
    created = _unix(ns["metadata"].get("creationTimestamp"))
    if created is not None:
        yield "kube_namespace_created", {}, created
    phase = (ns.get("status") or {}).get("phase", "")
    for ph in ("Active", "Terminating"):
        yield "kube_namespace_status_phase", {"phase": ph}, _b(phase == ph)


def _created(prefix, obj):
    t = _unix(obj["metadata"].get("creationTimestamp"))
    if t is not None:
        yield f"{prefix}_created", {}, t


_DEPLOYMENT_REASONS = {"ReplicaSetUpdated", "ReplicaSetCreateError", "NewReplicaSetCreated",
                       "FoundNewReplicaSet", "NewReplicaSetAvailable",
                       "ProgressDeadlineExceeded", "DeploymentPaused", "DeploymentResumed",
                       "MinimumReplicasAvailable", "MinimumReplicasUnavailable", ""}


def _deployment(d):
    spec, st, meta = d.get("spec", {}), d.get("status", {}), d["metadata"]
    yield from _created("kube_deployment", d)
    for fam, key in (("status_replicas", "replicas"), ("status_replicas_ready", "readyReplicas"),
                     ("status_replicas_available", "availableReplicas"),
                     ("status_replicas_unavailable", "unavailableReplicas"),
                     ("status_replicas_updated", "updatedReplicas"),
                     ("status_observed_generation", "observedGeneration")):
        yield f"kube_deployment_{fam}", {}, float(st.get(key, 0))
    for c in st.get("conditions") or []:
        reason = c.get("reason", "")
        if reason not in _DEPLOYMENT_REASONS:
            reason = "unknown"
        for lbl, v in _condition_values(c.get("status")):
            # v2.15: reason label (not in v2.10-v2.12)
            yield "kube_deployment_status_condition", {"reason": reason,
                                                       "condition": c["type"],
                                                       "status": lbl}, v
    yield "kube_deployment_spec_replicas", {}, float(spec.get("replicas", 1))
    yield "kube_deployment_spec_paused", {}, _b(spec.get("paused"))
    yield "kube_deployment_metadata_generation", {}, float(meta.get("generation", 0))


def _owner_series(family, obj):
    owners = obj["metadata"].get("ownerReferences") or []
    if not owners:
        yield family, {"owner_kind": NONE, "owner_name": NONE, "owner_is_controller": NONE}, 1.0
    for r in owners:
        yield family, {"owner_kind": r["kind"], "owner_name": r["name"],
                       "owner_is_controller": _bool_str(r.get("controller"))}, 1.0


def _replicaset(r):
    spec, st = r.get("spec", {}), r.get("status", {})
    yield from _created("kube_replicaset", r)
    if "replicas" in spec:
        yield "kube_replicaset_spec_replicas", {}, float(spec["replicas"])
    yield "kube_replicaset_status_replicas", {}, float(st.get("replicas", 0))
    yield "kube_replicaset_status_ready_replicas", {}, float(st.get("readyReplicas", 0))
    yield from _owner_series("kube_replicaset_owner", r)


def _statefulset(s):
    spec, st, meta = s.get("spec", {}), s.get("status", {}), s["metadata"]
    yield from _created("kube_statefulset", s)
    if "replicas" in spec:
        yield "kube_statefulset_replicas", {}, float(spec["replicas"])
    for fam, key in (("status_replicas", "replicas"), ("status_replicas_ready", "readyReplicas"),
                     ("status_replicas_current", "currentReplicas"),
                     ("status_replicas_updated", "updatedReplicas"),
                     ("status_observed_generation", "observedGeneration")):
        yield f"kube_statefulset_{fam}", {}, float(st.get(key, 0))
    yield "kube_statefulset_metadata_generation", {}, float(meta.get("generation", 0))
    yield "kube_statefulset_status_current_revision", {
        "revision": st.get("currentRevision", "")}, 1.0
    yield "kube_statefulset_status_update_revision", {
        "revision": st.get("updateRevision", "")}, 1.0


def _daemonset(d):
    st, meta = d.get("status", {}), d["metadata"]
    yield from _created("kube_daemonset", d)
    for fam, key in (("status_current_number_scheduled", "currentNumberScheduled"),
                     ("status_desired_number_scheduled", "desiredNumberScheduled"),
                     ("status_number_available", "numberAvailable"),
                     ("status_number_misscheduled", "numberMisscheduled"),
                     ("status_number_ready", "numberReady"),
                     ("status_number_unavailable", "numberUnavailable"),
                     ("status_updated_number_scheduled", "updatedNumberScheduled"),
                     ("status_observed_generation", "observedGeneration")):
        yield f"kube_daemonset_{fam}", {}, float(st.get(key, 0))
    yield "kube_daemonset_metadata_generation", {}, float(meta.get("generation", 0))


_JOB_FAILURE_REASONS = ("BackoffLimitExceeded", "DeadlineExceeded", "Evicted")


def _job(j):
    spec, st = j.get("spec", {}), j.get("status", {})
    yield "kube_job_info", {}, 1.0
    yield from _created("kube_job", j)
    yield from _owner_series("kube_job_owner", j)
    for fam, key in (("spec_parallelism", "parallelism"), ("spec_completions", "completions")):
        if key in spec and spec[key] is not None:
            yield f"kube_job_{fam}", {}, float(spec[key])
    yield "kube_job_status_active", {}, float(st.get("active", 0))
    yield "kube_job_status_succeeded", {}, float(st.get("succeeded", 0))
    failed = float(st.get("failed", 0))
    if failed == 0:
        yield "kube_job_status_failed", {}, 0.0
    else:
        known = False
        for c in st.get("conditions") or []:
            if c.get("type") == "Failed":
                for reason in _JOB_FAILURE_REASONS:
                    hit = c.get("reason") == reason
                    known = known or hit
                    yield "kube_job_status_failed", {"reason": reason}, _b(hit)
        if not known:
            yield "kube_job_status_failed", {"reason": ""}, failed
    for c in st.get("conditions") or []:
        fam = {"Complete": "kube_job_complete", "Failed": "kube_job_failed"}.get(c.get("type"))
        if fam:
            for lbl, v in _condition_values(c.get("status")):
                yield fam, {"condition": lbl}, v
    if st.get("startTime"):
        yield "kube_job_status_start_time", {}, _unix(st["startTime"])
    if st.get("completionTime"):
        yield "kube_job_status_completion_time", {}, _unix(st["completionTime"])


def _cronjob(c):
    spec, st = c.get("spec", {}), c.get("status", {})
    yield "kube_cronjob_info", {"schedule": spec.get("schedule", ""),
                                "concurrency_policy": spec.get("concurrencyPolicy", ""),
                                "timezone": spec.get("timeZone", "")}, 1.0
    yield from _created("kube_cronjob", c)
    yield "kube_cronjob_spec_suspend", {}, _b(spec.get("suspend"))
    yield "kube_cronjob_status_active", {}, float(len(st.get("active") or []))
    if st.get("lastScheduleTime"):
        yield "kube_cronjob_status_last_schedule_time", {}, _unix(st["lastScheduleTime"])


def _hpa(h):
    spec, st = h.get("spec", {}), h.get("status", {})
    ref = spec.get("scaleTargetRef") or {}
    yield "kube_horizontalpodautoscaler_info", {
        "scaletargetref_api_version": ref.get("apiVersion", ""),
        "scaletargetref_kind": ref.get("kind", ""),
        "scaletargetref_name": ref.get("name", "")}, 1.0
    if spec.get("minReplicas") is not None:
        yield "kube_horizontalpodautoscaler_spec_min_replicas", {}, float(spec["minReplicas"])
    yield "kube_horizontalpodautoscaler_spec_max_replicas", {}, float(spec.get("maxReplicas", 0))
    yield "kube_horizontalpodautoscaler_status_current_replicas", {}, float(
        st.get("currentReplicas", 0))
    yield "kube_horizontalpodautoscaler_status_desired_replicas", {}, float(
        st.get("desiredReplicas", 0))
    for c in st.get("conditions") or []:
        for lbl, v in _condition_values(c.get("status")):
            yield "kube_horizontalpodautoscaler_status_condition", {
                "condition": c["type"], "status": lbl}, v


def _pvc(p):
    spec, st, meta = p.get("spec", {}), p.get("status", {}), p["metadata"]
    # the beta annotation first, then the field, else "<none>" (an explicit absence)
    sc = (meta.get("annotations") or {}).get("volume.beta.kubernetes.io/storage-class")
    if sc is None:
        sc = spec.get("storageClassName", "<none>")
    yield "kube_persistentvolumeclaim_info", {"storageclass": sc,
                                              "volumename": spec.get("volumeName", ""),
                                              "volumemode": spec.get("volumeMode", "")}, 1.0
    phase = st.get("phase", "")
    if phase:
        for ph in ("Lost", "Bound", "Pending"):
            yield "kube_persistentvolumeclaim_status_phase", {"phase": ph}, _b(phase == ph)
    req = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    if req is not None:
        yield "kube_persistentvolumeclaim_resource_requests_storage_bytes", {}, _value(req)
    for mode in spec.get("accessModes") or []:
        yield "kube_persistentvolumeclaim_access_mode", {"access_mode": mode}, 1.0


def _service(s):
    spec = s.get("spec", {})
    yield "kube_service_info", {"cluster_ip": spec.get("clusterIP", ""),
                                "external_name": spec.get("externalName", ""),
                                "load_balancer_ip": spec.get("loadBalancerIP", "")}, 1.0
    yield "kube_service_spec_type", {"type": spec.get("type", "")}, 1.0
    yield from _created("kube_service", s)


def _resourcequota(q):
    st = q.get("status", {})
    for typ in ("hard", "used"):
        for res, qty in (st.get(typ) or {}).items():
            yield "kube_resourcequota", {"resource": res, "type": typ}, _milli(qty)


# kind: (resource for the allowlists, family prefix, identity labels, series function)
_KINDS = {
    "Pod": ("pods", "kube_pod", lambda o: {"namespace": o["metadata"]["namespace"],
                                           "pod": o["metadata"]["name"],
                                           "uid": o["metadata"].get("uid", "")}, _pod),
    "Node": ("nodes", "kube_node", lambda o: {"node": o["metadata"]["name"]}, _node),
    "Namespace": ("namespaces", "kube_namespace",
                  lambda o: {"namespace": o["metadata"]["name"]}, _namespace),
    "Deployment": ("deployments", "kube_deployment", None, _deployment),
    "ReplicaSet": ("replicasets", "kube_replicaset", None, _replicaset),
    "StatefulSet": ("statefulsets", "kube_statefulset", None, _statefulset),
    "DaemonSet": ("daemonsets", "kube_daemonset", None, _daemonset),
    "Job": ("jobs", "kube_job", lambda o: {"namespace": o["metadata"]["namespace"],
                                           "job_name": o["metadata"]["name"]}, _job),
    "CronJob": ("cronjobs", "kube_cronjob", None, _cronjob),
    "HorizontalPodAutoscaler": ("horizontalpodautoscalers", "kube_horizontalpodautoscaler",
                                None, _hpa),
    "PersistentVolumeClaim": ("persistentvolumeclaims", "kube_persistentvolumeclaim", None,
                              _pvc),
    "Service": ("services", "kube_service", None, _service),
    "ResourceQuota": ("resourcequotas", "kube_resourcequota", None, _resourcequota),
}

# The families this model covers (labels/annotations families come on top, per allowlist).
FAMILIES = frozenset("""
kube_pod_info kube_pod_owner kube_pod_status_phase kube_pod_status_ready
kube_pod_status_scheduled kube_pod_status_reason kube_pod_created kube_pod_start_time
kube_pod_container_info kube_pod_container_status_restarts_total
kube_pod_container_status_waiting kube_pod_container_status_waiting_reason
kube_pod_container_status_running kube_pod_container_status_terminated
kube_pod_container_status_terminated_reason kube_pod_container_status_last_terminated_reason
kube_pod_container_status_ready kube_pod_container_resource_requests
kube_pod_container_resource_limits kube_pod_init_container_info
kube_pod_init_container_status_restarts_total kube_pod_init_container_status_running
kube_pod_init_container_status_ready kube_pod_init_container_status_waiting_reason
kube_pod_init_container_status_terminated_reason
kube_node_info kube_node_created kube_node_status_condition kube_node_status_allocatable
kube_node_status_capacity kube_node_spec_unschedulable kube_node_spec_taint
kube_namespace_status_phase kube_namespace_created
kube_deployment_spec_replicas kube_deployment_status_replicas
kube_deployment_status_replicas_ready kube_deployment_status_replicas_available
kube_deployment_status_replicas_unavailable kube_deployment_status_replicas_updated
kube_deployment_status_observed_generation kube_deployment_metadata_generation
kube_deployment_status_condition kube_deployment_spec_paused kube_deployment_created
kube_replicaset_spec_replicas kube_replicaset_status_replicas
kube_replicaset_status_ready_replicas kube_replicaset_owner kube_replicaset_created
kube_statefulset_replicas kube_statefulset_status_replicas
kube_statefulset_status_replicas_ready kube_statefulset_status_replicas_current
kube_statefulset_status_replicas_updated kube_statefulset_status_current_revision
kube_statefulset_status_update_revision kube_statefulset_metadata_generation
kube_statefulset_status_observed_generation kube_statefulset_created
kube_daemonset_status_current_number_scheduled kube_daemonset_status_desired_number_scheduled
kube_daemonset_status_number_available kube_daemonset_status_number_misscheduled
kube_daemonset_status_number_ready kube_daemonset_status_number_unavailable
kube_daemonset_status_updated_number_scheduled kube_daemonset_status_observed_generation
kube_daemonset_metadata_generation kube_daemonset_created
kube_job_info kube_job_owner kube_job_status_active kube_job_status_succeeded
kube_job_status_failed kube_job_complete kube_job_failed kube_job_spec_completions
kube_job_spec_parallelism kube_job_created kube_job_status_start_time
kube_job_status_completion_time
kube_cronjob_info kube_cronjob_spec_suspend kube_cronjob_status_active
kube_cronjob_status_last_schedule_time kube_cronjob_created
kube_horizontalpodautoscaler_spec_min_replicas kube_horizontalpodautoscaler_spec_max_replicas
kube_horizontalpodautoscaler_status_current_replicas
kube_horizontalpodautoscaler_status_desired_replicas
kube_horizontalpodautoscaler_status_condition kube_horizontalpodautoscaler_info
kube_persistentvolumeclaim_info kube_persistentvolumeclaim_status_phase
kube_persistentvolumeclaim_resource_requests_storage_bytes
kube_persistentvolumeclaim_access_mode
kube_service_info kube_service_spec_type kube_service_created
kube_resourcequota
""".split())

# Kinds with kube_<kind>_labels / _annotations families.
_LABELLED = {"Pod", "Node", "Namespace", "Deployment", "ReplicaSet", "StatefulSet",
             "DaemonSet", "Job", "CronJob", "HorizontalPodAutoscaler",
             "PersistentVolumeClaim", "Service"}


def _identity(kind, obj):
    resource, prefix, ident, _ = _KINDS[kind]
    if ident is not None:
        return ident(obj)
    return {"namespace": obj["metadata"].get("namespace", ""),
            prefix[len("kube_"):]: obj["metadata"]["name"]}


def series_of(obj, labels_allowlist=None, annotations_allowlist=None):
    """(family, labels dict, value) for one object, before cluster and empty-label
    filtering; objects of kinds KSM does not cover (Lease) give nothing."""
    kind = obj.get("kind")
    if kind not in _KINDS:
        return
    resource, prefix, _, fn = _KINDS[kind]
    ident = _identity(kind, obj)
    for fam, labels, value in fn(obj):
        yield fam, {**ident, **labels}, value
    if kind in _LABELLED:
        for suffix, allow, field, lprefix in (
                ("labels", parse_allowlist(labels_allowlist), "labels", "label"),
                ("annotations", parse_allowlist(annotations_allowlist), "annotations",
                 "annotation")):
            present, keys = _allowed(allow, resource)
            if present:
                yield f"{prefix}_{suffix}", {**ident, **_kv_labels(
                    lprefix, obj["metadata"].get(field), keys)}, 1.0


def expected_series(objects, cluster=None, labels_allowlist=None, annotations_allowlist=None,
                    families=None):
    """{(family, frozenset(label items)): value} for objects (plain dicts, any kinds).
    families: restrict to these names (default: FAMILIES plus the allowlisted
    _labels/_annotations families)."""
    out = {}
    for obj in objects:
        for fam, labels, value in series_of(obj, labels_allowlist, annotations_allowlist):
            if families is not None and fam not in families:
                continue
            if families is None and fam not in FAMILIES and not fam.endswith(
                    ("_labels", "_annotations")):
                continue
            if cluster is not None:
                labels["cluster"] = cluster
            key = (fam, frozenset((k, v) for k, v in labels.items() if v != ""))
            if key in out:
                raise AssertionError(f"duplicate series {key} from "
                                     f"{obj['kind']} {obj['metadata'].get('name')}")
            out[key] = value
    return out


def diff_series(expected, actual, rel_tol=1e-9):
    """A readable account of how actual ({(family, frozenset labels): value}, e.g. parsed
    from a scrape or a TSDB query) differs from expected: missing series, unexpected
    series, different values.  Empty string when they agree."""
    def show(key):
        fam, labels = key
        return fam + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels)) + "}"

    out = []
    for k in sorted(set(expected) - set(actual), key=show):
        out.append(f"missing    {show(k)} {expected[k]}")
    for k in sorted(set(actual) - set(expected), key=show):
        out.append(f"unexpected {show(k)} {actual[k]}")
    for k in sorted(set(expected) & set(actual), key=show):
        e, a = expected[k], actual[k]
        if not (e == a or math.isclose(e, a, rel_tol=rel_tol)):
            out.append(f"value      {show(k)} expected {e} got {a}")
    return "\n".join(out)


def from_samples(samples, families=None, drop=()):
    """conftest.parse_exposition's {(name, label tuple): value} (or any mapping keyed so)
    in this model's form: only kube_* families (or those in families), labels named in
    drop removed (e.g. instance, job), empty label values removed."""
    out = {}
    for (name, labels), v in samples.items():
        if families is not None:
            if name not in families:
                continue
        elif not name.startswith("kube_"):
            continue
        out[(name, frozenset((k, val) for k, val in labels
                             if val != "" and k not in drop))] = v
    return out
