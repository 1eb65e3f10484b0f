"""Builders of the cluster-state kinds the kube-apiserver double (kubeapi.py) serves
besides pods, ReplicaSets and Jobs: Node, Namespace, Deployment, StatefulSet, DaemonSet,
CronJob, HorizontalPodAutoscaler (autoscaling/v2), PersistentVolumeClaim, Service,
ResourceQuota, Lease and Event (events.k8s.io/v1: ``make_event``, ``observe_event``), plus ``set_container_state`` for the pod container states a
cluster-state collector must tell apart (ImagePullBackOff, CrashLoopBackOff with its last
termination, OOMKilled ...) and ``make_pending_pod`` for a pod the scheduler could not
place.

Each object is shaped as ``kubectl get <kind> -o json`` shows it on a real 1.29 cluster
(kubeadm, containerd): fields in the API server's (Go struct) order, omitempty zeros left
out, uids and creation timestamps, ``generation`` where the kind has one, owner references
with ``controller: true`` and ``blockOwnerDeletion``, and status blocks as the owning
controller writes them.  managedFields are left out (the server strips nothing, but no
client reads them).  Standard library only.
"""

import copy

from kubeapi import (_digest, _hex64, _owner_api_version, _owner_ref, _owner_uid,
                     _parse_ts, _suffix, _template, _ts, make_uid)

__all__ = [
    "make_node", "make_namespace", "make_deployment", "make_statefulset", "make_daemonset",
    "make_cronjob", "make_hpa", "make_pvc", "make_service", "make_resourcequota",
    "make_lease", "make_pending_pod", "set_container_state", "node_condition",
    "deployment_conditions", "make_event", "observe_event",
]

T0 = "2026-11-20T08:00:00Z"


def _meta(name, namespace, kind, uid, created, rv, labels=None, annotations=None,
          generation=None, owner=None):
    """metadata in the server's field order (name, generateName, namespace, uid,
    resourceVersion, generation, creationTimestamp, labels, annotations, ownerReferences)."""
    m = {"name": name}
    if namespace is not None:
        m["namespace"] = namespace
    m["uid"] = uid or make_uid(namespace or "", kind, name)
    m["resourceVersion"] = str(rv)
    if generation is not None:
        m["generation"] = generation
    m["creationTimestamp"] = created
    if labels:
        m["labels"] = dict(labels)
    if annotations:
        m["annotations"] = dict(annotations)
    if owner is not None:
        okind, oname = owner[0], owner[1]
        ouid = owner[2] if len(owner) > 2 else _owner_uid(namespace, okind, oname)
        m["ownerReferences"] = [_owner_ref(okind, oname, ouid)]
    return m


# ------------------------------------------------------------------------------ Node


_NODE_CONDITIONS = {
    # type: (healthy status, healthy reason, healthy message, bad reason, bad message)
    "MemoryPressure": ("False", "KubeletHasSufficientMemory",
                       "kubelet has sufficient memory available",
                       "KubeletHasInsufficientMemory", "kubelet has insufficient memory "
                       "available"),
    "DiskPressure": ("False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure",
                     "KubeletHasDiskPressure", "kubelet has disk pressure"),
    "PIDPressure": ("False", "KubeletHasSufficientPID", "kubelet has sufficient PID available",
                    "KubeletHasInsufficientPID", "kubelet has insufficient PID available"),
    "Ready": ("True", "KubeletReady", "kubelet is posting ready status",
              "KubeletNotReady", "container runtime network not ready: NetworkReady=false "
              "reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin "
              "not initialized"),
}


def node_condition(type_, status, heartbeat, transition, reason, message):
    """One NodeCondition in the server's field order."""
    return {"type": type_, "status": status, "lastHeartbeatTime": heartbeat,
            "lastTransitionTime": transition, "reason": reason, "message": message}


def make_node(name="node-1", *, uid=None, created=T0, resource_version="1",
              control_plane=False, ready=True, conditions=None, cpu="4",
              memory="16393244Ki", allocatable_memory="16290844Ki", pods="110",
              ephemeral_storage="51539404Ki", allocatable_ephemeral="47498714648",
              internal_ip=None, taints=None, unschedulable=False, provider_id=None,
              labels=None, kernel="6.1.0-18-amd64",
              os_image="Debian GNU/Linux 12 (bookworm)", runtime="containerd://1.7.13",
              kubelet="v1.29.4", heartbeat=None, network_unavailable=False):
    """A kubeadm node running containerd.  conditions: {type: "True"/"False"/"Unknown"}
    overriding the healthy defaults (Ready follows ready).  control_plane adds the role
    label and the control-plane NoSchedule taint; taints adds more (dicts as in the API);
    network_unavailable=None leaves out the CNI's NetworkUnavailable condition."""
    internal_ip = internal_ip or f"10.0.0.{11 + int(_digest('node', name)[:4], 16) % 200}"
    heartbeat = heartbeat or _ts(created, 3600)
    lbl = {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
           "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name,
           "kubernetes.io/os": "linux"}
    if control_plane:
        lbl["node-role.kubernetes.io/control-plane"] = ""
        lbl["node.kubernetes.io/exclude-from-external-load-balancers"] = ""
    lbl.update(labels or {})
    ann = {"kubeadm.alpha.kubernetes.io/cri-socket": "unix:///var/run/containerd/containerd.sock",
           "node.alpha.kubernetes.io/ttl": "0",
           "volumes.kubernetes.io/controller-managed-attach-detach": "true"}
    h = int(_digest("podcidr", name)[:4], 16) % 250
    spec = {"podCIDR": f"10.244.{h}.0/24", "podCIDRs": [f"10.244.{h}.0/24"],
            "providerID": provider_id or f"kind://docker/kmon/{name}"}
    if unschedulable:
        spec["unschedulable"] = True
    all_taints = []
    if control_plane:
        all_taints.append({"key": "node-role.kubernetes.io/control-plane",
                           "effect": "NoSchedule"})
    all_taints += [dict(t) for t in (taints or [])]
    if all_taints:
        spec["taints"] = all_taints
    want = {"Ready": "True" if ready else "False"}
    want.update(conditions or {})
    conds = []
    if network_unavailable is not None:
        conds.append(node_condition(
            "NetworkUnavailable", "True" if network_unavailable else "False",
            _ts(created, 20), _ts(created, 20),
            "NoRouteCreated" if network_unavailable else "CalicoIsUp",
            "Node created without a route" if network_unavailable
            else "Calico is running on this node"))
    for t, (good, greason, gmsg, breason, bmsg) in _NODE_CONDITIONS.items():
        st = want.get(t, good)
        if st == "Unknown":
            reason, msg = "NodeStatusUnknown", "Kubelet stopped posting node status."
        elif st == good:
            reason, msg = greason, gmsg
        else:
            reason, msg = breason, bmsg
        conds.append(node_condition(t, st, heartbeat, _ts(created, 5 if t != "Ready" else 30),
                                    reason, msg))
    boot = make_uid("boot", name)
    status = {
        "capacity": {"cpu": cpu, "ephemeral-storage": ephemeral_storage,
                     "hugepages-1Gi": "0", "hugepages-2Mi": "0", "memory": memory,
                     "pods": pods},
        "allocatable": {"cpu": cpu, "ephemeral-storage": allocatable_ephemeral,
                        "hugepages-1Gi": "0", "hugepages-2Mi": "0",
                        "memory": allocatable_memory, "pods": pods},
        "conditions": conds,
        "addresses": [{"type": "InternalIP", "address": internal_ip},
                      {"type": "Hostname", "address": name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {"machineID": _hex64("machine", name)[:32],
                     "systemUUID": make_uid("system", name), "bootID": boot,
                     "kernelVersion": kernel, "osImage": os_image,
                     "containerRuntimeVersion": runtime, "kubeletVersion": kubelet,
                     "kubeProxyVersion": kubelet, "operatingSystem": "linux",
                     "architecture": "amd64"},
        "images": [{"names": ["registry.k8s.io/kube-proxy@sha256:" + _hex64("kp", kubelet),
                              f"registry.k8s.io/kube-proxy:{kubelet}"],
                    "sizeBytes": 28130446}],
    }
    return {"kind": "Node", "apiVersion": "v1",
            "metadata": _meta(name, None, "Node", uid, created, resource_version, lbl, ann),
            "spec": spec, "status": status}


# ------------------------------------------------------------------------------ Namespace


def make_namespace(name, *, uid=None, created=T0, resource_version="1", labels=None,
                   annotations=None, phase="Active"):
    """A Namespace (label kubernetes.io/metadata.name as the server adds it)."""
    lbl = {"kubernetes.io/metadata.name": name}
    lbl.update(labels or {})
    return {"kind": "Namespace", "apiVersion": "v1",
            "metadata": _meta(name, None, "Namespace", uid, created, resource_version, lbl,
                              annotations),
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": phase}}


# ------------------------------------------------------------------------------ workloads


def _pod_template(labels, image, name="app", resources=None):
    t = _template(labels, image=image, name=name)
    if resources:
        t["spec"]["containers"][0]["resources"] = copy.deepcopy(resources)
    return t


def deployment_conditions(name, rs_name, replicas, available, at, progressing_reason=None):
    """Available and Progressing as the deployment controller writes them."""
    ok = available >= replicas - max(0, int(replicas * 0.25))  # maxUnavailable 25%, down
    avail = {"type": "Available", "status": "True" if ok else "False",
             "lastUpdateTime": at, "lastTransitionTime": at,
             "reason": "MinimumReplicasAvailable" if ok else "MinimumReplicasUnavailable",
             "message": "Deployment has minimum availability." if ok
             else "Deployment does not have minimum availability."}
    reason = progressing_reason or ("NewReplicaSetAvailable" if available >= replicas
                                    else "ReplicaSetUpdated")
    msg = (f'ReplicaSet "{rs_name}" has successfully progressed.'
           if reason == "NewReplicaSetAvailable" else f'ReplicaSet "{rs_name}" is progressing.')
    prog = {"type": "Progressing", "status": "True", "lastUpdateTime": at,
            "lastTransitionTime": at, "reason": reason, "message": msg}
    return [avail, prog]


def _omit_zero(d):
    return {k: v for k, v in d.items() if v not in (0, None, "", [], {})}


def _counts(total, current, ready, available, updated, generation, observed):
    """A controller's status counts, each defaulting to the one before it (all healthy):
    (current, ready, available, updated, observedGeneration)."""
    current = total if current is None else current
    ready = current if ready is None else ready
    available = ready if available is None else available
    updated = current if updated is None else updated
    observed = generation if observed is None else observed
    return current, ready, available, updated, observed


def make_deployment(name, namespace="default", *, uid=None, replicas=3, ready=None,
                    available=None, updated=None, current=None, generation=1,
                    observed_generation=None, paused=False, labels=None,
                    image="nginx:1.25.3", created=T0, resource_version="1",
                    pod_template_hash=None, resources=None):
    """A Deployment (RollingUpdate 25%/25%) with the status its controller writes:
    replicas (pods of all its ReplicaSets), updatedReplicas, readyReplicas,
    availableReplicas, unavailableReplicas (omitted when 0), Available/Progressing."""
    current, ready, available, updated, observed = _counts(
        replicas, current, ready, available, updated, generation, observed_generation)
    lbl = dict(labels or {"app": name})
    pth = pod_template_hash or _suffix(10, namespace, name, "pth")
    rs = f"{name}-{pth}"
    at = _ts(created, 12)
    spec = {"replicas": replicas, "selector": {"matchLabels": dict(lbl)},
            "template": _pod_template(lbl, image, resources=resources),
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "revisionHistoryLimit": 10}
    if paused:
        spec["paused"] = True
    spec["progressDeadlineSeconds"] = 600
    status = {"observedGeneration": observed}
    status.update(_omit_zero({"replicas": current, "updatedReplicas": updated,
                              "readyReplicas": ready, "availableReplicas": available,
                              "unavailableReplicas": max(0, replicas - available)}))
    status["conditions"] = deployment_conditions(name, rs, replicas, available, at)
    return {"kind": "Deployment", "apiVersion": "apps/v1",
            "metadata": _meta(name, namespace, "Deployment", uid, created, resource_version,
                              lbl, {"deployment.kubernetes.io/revision": "1"}, generation),
            "spec": spec, "status": status}


def make_statefulset(name, namespace="default", *, uid=None, replicas=3, ready=None,
                     current=None, updated=None, available=None, generation=1,
                     observed_generation=None, current_revision=None, update_revision=None,
                     labels=None, image="postgres:16.2", created=T0, resource_version="1",
                     service_name=None):
    """A StatefulSet (OrderedReady, RollingUpdate partition 0) with its controller's
    status: replicas, readyReplicas, currentReplicas, updatedReplicas, the current and
    update revisions (<name>-<hash>), availableReplicas."""
    current, ready, available, updated, observed = _counts(
        replicas, current, ready, available, updated, generation, observed_generation)
    rev = f"{name}-{_suffix(10, namespace, name, 'rev')}"
    current_revision = current_revision or rev
    update_revision = update_revision or current_revision
    lbl = dict(labels or {"app": name})
    spec = {"replicas": replicas, "selector": {"matchLabels": dict(lbl)},
            "template": _pod_template(lbl, image, name="db"),
            "serviceName": service_name or name, "podManagementPolicy": "OrderedReady",
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
            "revisionHistoryLimit": 10,
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain",
                                                     "whenScaled": "Retain"}}
    status = {"observedGeneration": observed, "replicas": current}
    status.update(_omit_zero({"readyReplicas": ready, "currentReplicas": current,
                              "updatedReplicas": updated, "currentRevision": current_revision,
                              "updateRevision": update_revision}))
    status["collisionCount"] = 0
    status["availableReplicas"] = available
    return {"kind": "StatefulSet", "apiVersion": "apps/v1",
            "metadata": _meta(name, namespace, "StatefulSet", uid, created, resource_version,
                              lbl, None, generation),
            "spec": spec, "status": status}


def make_daemonset(name, namespace="kube-system", *, uid=None, desired=3, current=None,
                   ready=None, available=None, updated=None, misscheduled=0, generation=1,
                   observed_generation=None, labels=None, image="fluent/fluentd:v1.16-1",
                   created=T0, resource_version="1"):
    """A DaemonSet with its controller's status (the four always-present counts, then
    observedGeneration, updatedNumberScheduled, numberAvailable, numberUnavailable with
    omitempty)."""
    current, ready, available, updated, observed = _counts(
        desired, current, ready, available, updated, generation, observed_generation)
    lbl = dict(labels or {"app": name})
    spec = {"selector": {"matchLabels": dict(lbl)},
            "template": _pod_template(lbl, image, name=name),
            "updateStrategy": {"type": "RollingUpdate",
                               "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
            "revisionHistoryLimit": 10}
    status = {"currentNumberScheduled": current, "numberMisscheduled": misscheduled,
              "desiredNumberScheduled": desired, "numberReady": ready,
              "observedGeneration": observed}
    status.update(_omit_zero({"updatedNumberScheduled": updated,
                              "numberAvailable": available,
                              "numberUnavailable": max(0, desired - available)}))
    return {"kind": "DaemonSet", "apiVersion": "apps/v1",
            "metadata": _meta(name, namespace, "DaemonSet", uid, created, resource_version,
                              lbl, {"deprecated.daemonset.template.generation": "1"},
                              generation),
            "spec": spec, "status": status}


def make_cronjob(name, namespace="default", *, uid=None, schedule="*/5 * * * *",
                 suspend=False, concurrency_policy="Forbid", active=(),
                 last_schedule=None, last_successful=None, created=T0, resource_version="1",
                 labels=None, time_zone=None, starting_deadline=None):
    """A CronJob.  active: names of running Jobs (ObjectReferences as the controller
    writes them); last_schedule/last_successful: RFC 3339 times or None."""
    tmpl = _template({}, image="busybox:1.36.1", name="backup", restart="OnFailure")
    tmpl["metadata"] = {"creationTimestamp": None}
    spec = {"schedule": schedule}
    if time_zone:
        spec["timeZone"] = time_zone
    if starting_deadline is not None:
        spec["startingDeadlineSeconds"] = starting_deadline
    spec.update({"concurrencyPolicy": concurrency_policy, "suspend": suspend,
                 "jobTemplate": {"metadata": {"creationTimestamp": None},
                                 "spec": {"template": tmpl}},
                 "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1})
    status = {}
    if active:
        status["active"] = [{"kind": "Job", "namespace": namespace, "name": j,
                             "uid": _owner_uid(namespace, "Job", j), "apiVersion": "batch/v1",
                             "resourceVersion": "1"} for j in active]
    if last_schedule:
        status["lastScheduleTime"] = last_schedule
    if last_successful:
        status["lastSuccessfulTime"] = last_successful
    return {"kind": "CronJob", "apiVersion": "batch/v1",
            "metadata": _meta(name, namespace, "CronJob", uid, created, resource_version,
                              labels, None, 1),
            "spec": spec, "status": status}


def make_hpa(name, namespace="default", *, uid=None, target=("Deployment", None),
             min_replicas=1, max_replicas=10, current=2, desired=None, cpu_target=50,
             cpu_current=30, able_to_scale="True", scaling_active="True",
             scaling_limited="False", created=T0, resource_version="1", labels=None,
             memory_target=None):
    """An autoscaling/v2 HorizontalPodAutoscaler on a CPU utilisation target (and a
    memory average-value target if memory_target is given, e.g. "512Mi"), with the
    AbleToScale, ScalingActive and ScalingLimited conditions the controller writes."""
    desired = current if desired is None else desired
    tkind, tname = target[0], target[1] or name
    metrics = [{"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "Utilization", "averageUtilization": cpu_target}}}]
    if memory_target:
        metrics.append({"type": "Resource", "resource": {"name": "memory", "target": {
            "type": "AverageValue", "averageValue": memory_target}}})
    spec = {"scaleTargetRef": {"kind": tkind, "name": tname, "apiVersion": "apps/v1"},
            "minReplicas": min_replicas, "maxReplicas": max_replicas, "metrics": metrics}
    at = _ts(created, 30)

    def cond(t, st, reason, msg):
        return {"type": t, "status": st, "lastTransitionTime": at, "reason": reason,
                "message": msg}

    conds = [cond("AbleToScale", able_to_scale, "ReadyForNewScale" if able_to_scale == "True"
                  else "FailedGetScale", "recommended size matches current size"
                  if able_to_scale == "True" else "the HPA controller was unable to get the "
                  "target's current scale"),
             cond("ScalingActive", scaling_active, "ValidMetricFound"
                  if scaling_active == "True" else "FailedGetResourceMetric",
                  "the HPA was able to successfully calculate a replica count from cpu "
                  "resource utilization (percentage of request)" if scaling_active == "True"
                  else "the HPA was unable to compute the replica count: failed to get cpu "
                  "utilization: unable to get metrics for resource cpu: no metrics returned "
                  "from resource metrics API"),
             cond("ScalingLimited", scaling_limited, "DesiredWithinRange"
                  if scaling_limited == "False" else "TooManyReplicas",
                  "the desired count is within the acceptable range"
                  if scaling_limited == "False"
                  else "the desired replica count is more than the maximum replica count")]
    status = {"currentReplicas": current, "desiredReplicas": desired}
    if scaling_active == "True":
        status["currentMetrics"] = [{"type": "Resource", "resource": {"name": "cpu", "current": {
            "averageValue": "12m", "averageUtilization": cpu_current}}}]
    status["conditions"] = conds
    return {"kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v2",
            "metadata": _meta(name, namespace, "HorizontalPodAutoscaler", uid, created,
                              resource_version, labels),
            "spec": spec, "status": status}


# ------------------------------------------------------------------------------ storage, network


def make_pvc(name, namespace="default", *, uid=None, storage="10Gi", storage_class="standard",
             phase="Bound", access_modes=("ReadWriteOnce",), volume_name=None, created=T0,
             resource_version="1", labels=None, volume_mode="Filesystem"):
    """A PersistentVolumeClaim, dynamically provisioned: Bound (volumeName pvc-<uid>,
    status.capacity) or Pending (no volume yet).  storage_class=None leaves the field out
    (the default class then applies)."""
    uid = uid or make_uid(namespace, "PersistentVolumeClaim", name)
    ann = {}
    if phase == "Bound":
        ann = {"pv.kubernetes.io/bind-completed": "yes",
               "pv.kubernetes.io/bound-by-controller": "yes"}
    if storage_class:
        ann["volume.beta.kubernetes.io/storage-provisioner"] = "rancher.io/local-path"
        ann["volume.kubernetes.io/storage-provisioner"] = "rancher.io/local-path"
    meta = _meta(name, namespace, "PersistentVolumeClaim", uid, created, resource_version,
                 labels, ann or None)
    meta["finalizers"] = ["kubernetes.io/pvc-protection"]
    spec = {"accessModes": list(access_modes), "resources": {"requests": {"storage": storage}}}
    if phase == "Bound":
        spec["volumeName"] = volume_name or f"pvc-{uid}"
    elif volume_name:
        spec["volumeName"] = volume_name
    if storage_class:
        spec["storageClassName"] = storage_class
    spec["volumeMode"] = volume_mode
    status = {"phase": phase}
    if phase == "Bound":
        status["accessModes"] = list(access_modes)
        status["capacity"] = {"storage": storage}
    return {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "metadata": meta,
            "spec": spec, "status": status}


def make_service(name, namespace="default", *, uid=None, type_="ClusterIP", cluster_ip=None,
                 ports=((80, 8080),), selector=None, created=T0, resource_version="1",
                 labels=None, external_name=None, load_balancer_ip=None):
    """A Service.  ports: (port, targetPort) pairs (TCP, named by index when several);
    NodePort and LoadBalancer get node ports; LoadBalancer a status ingress IP when
    load_balancer_ip is given; ExternalName has no cluster IP."""
    spec = {}
    if type_ != "ExternalName":
        plist = []
        for i, (port, target) in enumerate(ports):
            p = {}
            if len(ports) > 1:
                p["name"] = f"port-{i}"
            p.update({"protocol": "TCP", "port": port, "targetPort": target})
            if type_ in ("NodePort", "LoadBalancer"):
                p["nodePort"] = 30000 + int(_digest("np", namespace, name, i)[:4], 16) % 2767
            plist.append(p)
        spec["ports"] = plist
        spec["selector"] = dict(selector or {"app": name})
        if cluster_ip is None:
            h = int(_digest("svcip", namespace, name)[:6], 16)
            cluster_ip = f"10.96.{h % 250}.{1 + (h >> 8) % 250}"
        spec["clusterIP"] = cluster_ip
        if cluster_ip != "None":
            spec["clusterIPs"] = [cluster_ip]
        else:
            spec["clusterIPs"] = ["None"]
    spec["type"] = type_
    if type_ == "ExternalName":
        spec["externalName"] = external_name or "db.example.com"
    spec["sessionAffinity"] = "None"
    if type_ in ("NodePort", "LoadBalancer"):
        spec["externalTrafficPolicy"] = "Cluster"
    if type_ != "ExternalName":
        spec["ipFamilies"] = ["IPv4"]
        spec["ipFamilyPolicy"] = "SingleStack"
    if type_ == "LoadBalancer":
        spec["allocateLoadBalancerNodePorts"] = True
    if type_ != "ExternalName":
        spec["internalTrafficPolicy"] = "Cluster"
    lb = {}
    if type_ == "LoadBalancer" and load_balancer_ip:
        lb = {"ingress": [{"ip": load_balancer_ip, "ipMode": "VIP"}]}
    return {"kind": "Service", "apiVersion": "v1",
            "metadata": _meta(name, namespace, "Service", uid, created, resource_version,
                              labels or {"app": name}),
            "spec": spec, "status": {"loadBalancer": lb}}


def make_resourcequota(name, namespace="default", *, uid=None, hard=None, used=None,
                       created=T0, resource_version="1"):
    """A ResourceQuota: spec.hard and the quota controller's status.hard/used (used
    defaults to zero of every hard resource, as right after creation)."""
    hard = dict(hard or {"limits.cpu": "4", "limits.memory": "8Gi", "pods": "20",
                         "requests.cpu": "2", "requests.memory": "4Gi"})
    used = dict(used if used is not None else {k: "0" for k in hard})
    return {"kind": "ResourceQuota", "apiVersion": "v1",
            "metadata": _meta(name, namespace, "ResourceQuota", uid, created,
                              resource_version),
            "spec": {"hard": dict(sorted(hard.items()))},
            "status": {"hard": dict(sorted(hard.items())), "used": dict(sorted(used.items()))}}


def make_lease(name, namespace="kube-system", *, uid=None, holder=None, duration=15,
               acquire=None, renew=None, transitions=0, created=T0, resource_version="1"):
    """A coordination.k8s.io/v1 Lease as leader election writes it (MicroTime stamps with
    six fractional digits)."""
    def micro(ts):
        return ts if ts is None or "." in ts else ts[:-1] + ".000000Z"

    spec = {}
    if holder is not None:
        spec["holderIdentity"] = holder
    spec["leaseDurationSeconds"] = duration
    if acquire or holder is not None:
        spec["acquireTime"] = micro(acquire or created)
    if renew or holder is not None:
        spec["renewTime"] = micro(renew or acquire or created)
    spec["leaseTransitions"] = transitions
    return {"kind": "Lease", "apiVersion": "coordination.k8s.io/v1",
            "metadata": _meta(name, namespace, "Lease", uid, created, resource_version),
            "spec": spec}


# ------------------------------------------------------------------------------ pod states


def _set_condition(pod, type_, status, reason=None, message=None, at=None):
    for c in pod["status"].get("conditions", []):
        if c["type"] == type_:
            if c["status"] != status:
                c["lastTransitionTime"] = at or c["lastTransitionTime"]
            c["status"] = status
            for k, v in (("reason", reason), ("message", message)):
                if v:
                    c[k] = v
                else:
                    c.pop(k, None)
            return


def _refresh_readiness(pod, at=None):
    """Ready/ContainersReady as the kubelet derives them from containerStatuses."""
    st = pod["status"].get("containerStatuses") or []
    unready = [c["name"] for c in st if not c.get("ready")]
    if pod["status"].get("phase") in ("Succeeded", "Failed"):
        return
    if unready:
        msg = f"containers with unready status: [{' '.join(unready)}]"
        _set_condition(pod, "Ready", "False", "ContainersNotReady", msg, at)
        _set_condition(pod, "ContainersReady", "False", "ContainersNotReady", msg, at)
    else:
        _set_condition(pod, "Ready", "True", at=at)
        _set_condition(pod, "ContainersReady", "True", at=at)


def set_container_state(pod, container, state, *, restarts=None, last_reason=None,
                        exit_code=None, message=None, at=None, init=False):
    """Put one container of pod (in place; also returned) in a state the kubelet reports:

    "Running"; "ImagePullBackOff"/"ErrImagePull"/"CreateContainerConfigError"/
    "ContainerCreating" (waiting, never started); "CrashLoopBackOff" (waiting, with
    lastState.terminated of last_reason "Error" exit 1 or "OOMKilled" exit 137, restarts
    at least 1); "Terminated" (terminated with last_reason, default Completed/0).
    Ready conditions follow."""
    key = "initContainerStatuses" if init else "containerStatuses"
    cs = next(c for c in pod["status"][key] if c["name"] == container)
    at = at or _ts(pod["metadata"]["creationTimestamp"], 120)
    cid = cs.get("containerID") or "containerd://" + _hex64(
        "container", pod["metadata"]["namespace"], pod["metadata"]["name"], container)
    uid, pname, ns = (pod["metadata"]["uid"], pod["metadata"]["name"],
                      pod["metadata"]["namespace"])
    if restarts is not None:
        cs["restartCount"] = restarts
    if state in ("ImagePullBackOff", "ErrImagePull"):
        image = next(c["image"] for c in pod["spec"]["initContainers" if init
                                                     else "containers"]
                     if c["name"] == container)
        msg = message or (f'Back-off pulling image "{image}"' if state == "ImagePullBackOff"
                          else f'failed to pull and unpack image "{image}": not found')
        cs.update({"state": {"waiting": {"reason": state, "message": msg}}, "lastState": {},
                   "ready": False, "image": image, "imageID": "", "started": False})
        cs.pop("containerID", None)
    elif state in ("ContainerCreating", "CreateContainerConfigError", "PodInitializing"):
        w = {"reason": state}
        if message:
            w["message"] = message
        cs.update({"state": {"waiting": w}, "lastState": {}, "ready": False, "started": False})
        cs.pop("containerID", None)
    elif state == "CrashLoopBackOff":
        last_reason = last_reason or "Error"
        code = exit_code if exit_code is not None else (137 if last_reason == "OOMKilled"
                                                        else 1)
        cs["restartCount"] = max(1, cs.get("restartCount", 0))
        msg = message or (f"back-off 5m0s restarting failed container={container} "
                          f"pod={pname}_{ns}({uid})")
        cs.update({"state": {"waiting": {"reason": "CrashLoopBackOff", "message": msg}},
                   "lastState": {"terminated": {
                       "exitCode": code, "reason": last_reason, "startedAt": _ts(at, -20),
                       "finishedAt": _ts(at, -5), "containerID": cid}},
                   "ready": False, "started": False, "containerID": cid})
    elif state == "Running":
        cs.update({"state": {"running": {"startedAt": at}}, "ready": True, "started": True,
                   "containerID": cid})
        if last_reason:
            code = exit_code if exit_code is not None else (137 if last_reason == "OOMKilled"
                                                            else 1)
            cs["lastState"] = {"terminated": {"exitCode": code, "reason": last_reason,
                                              "startedAt": _ts(at, -60),
                                              "finishedAt": _ts(at, -1), "containerID": cid}}
    elif state == "Terminated":
        reason = last_reason or "Completed"
        code = exit_code if exit_code is not None else (0 if reason == "Completed" else 1)
        cs.update({"state": {"terminated": {"exitCode": code, "reason": reason,
                                            "startedAt": _ts(at, -60), "finishedAt": at,
                                            "containerID": cid}},
                   "ready": False, "started": False, "containerID": cid})
    else:
        raise ValueError(f"unknown container state {state!r}")
    if not init:
        _refresh_readiness(pod, at)
    return pod


def make_pending_pod(name, namespace="default", *, message=None, **kw):
    """A pod the scheduler could not place: Pending, no nodeName, hostIP, podIP, startTime
    or container statuses, only PodScheduled False reason Unschedulable.  Other keywords
    go to kubeapi.make_pod (owner, labels, containers, qos ...)."""
    from kubeapi import make_pod
    pod = make_pod(name, namespace, phase="Pending", **kw)
    created = pod["metadata"]["creationTimestamp"]
    pod["spec"].pop("nodeName", None)
    st = pod["status"]
    pod["status"] = {"phase": "Pending", "conditions": [{
        "type": "PodScheduled", "status": "False", "lastProbeTime": None,
        "lastTransitionTime": created, "reason": "Unschedulable",
        "message": message or "0/3 nodes are available: 3 Insufficient cpu. preemption: "
        "0/3 nodes are available: 3 No preemption victims found for incoming pod.."}],
        "qosClass": st["qosClass"]}
    return pod


# ----------------------------------------------------------------------------- Event


def _event_suffix(at, *parts):
    """The name suffix client-go gives an Event: the hex of its creation time in Unix
    nanoseconds (fmt.Sprintf("%v.%x", ref.Name, t.UnixNano())), made unique per parts."""
    dt = _parse_ts(at)
    nanos = int(dt.timestamp()) * 1_000_000_000 + int(_digest("evns", *parts)[:6], 16) % 1_000_000_000
    return format(nanos, "x")


def _micro(at, micros):
    """A MicroTime ("2026-11-20T08:00:01.123456Z") from a Time and microseconds."""
    return at[:-1] + f".{micros:06d}Z"


def make_event(regarding, reason, note, *, type_="Normal", at=T0, count=1, last=None,
               legacy=False, controller=None, instance=None, action=None, field_path=None,
               namespace=None, uid=None, resource_version="1", name=None):
    """An Event as GET /apis/events.k8s.io/v1 serves it on a real 1.29 cluster.

    regarding: the object it is about, as (kind, namespace or None, name[, uid]); a
    cluster-scoped object's Events live in "default".  Two shapes:

    * legacy=False — written by an events.k8s.io client (the scheduler, controllers on the
      new API): eventTime (MicroTime) set, ``series`` {count, lastObservedTime} once it has
      repeated (count >= 2; last = the last observation's time), deprecatedSource {},
      deprecated timestamps null, no deprecatedCount;
    * legacy=True — written through core/v1 by client-go's EventRecorder (the kubelet,
      most controllers): eventTime null, reportingController/Instance = the source's
      component/host, deprecatedSource {component, host}, deprecatedFirstTimestamp = at,
      deprecatedLastTimestamp = last (or at), deprecatedCount = count.

    Fields in the Go struct's order (metadata, eventTime, series, reportingController,
    reportingInstance, action, reason, regarding, note, type, deprecatedSource,
    deprecatedFirstTimestamp, deprecatedLastTimestamp, deprecatedCount)."""
    rkind, rns, rname = regarding[0], regarding[1], regarding[2]
    ruid = regarding[3] if len(regarding) > 3 else make_uid(rns or "", rkind, rname)
    ns = namespace or rns or "default"
    name = name or f"{rname}.{_event_suffix(at, rkind, rns, rname, reason, note)}"
    if controller is None:
        controller = "kubelet" if legacy else "default-scheduler"
    if instance is None:
        instance = "node-1" if legacy else f"{controller}-control-plane"
    meta = {"name": name, "namespace": ns,
            "uid": uid or make_uid("event", ns, name),
            "resourceVersion": str(resource_version), "creationTimestamp": at}
    ev = {"kind": "Event", "apiVersion": "events.k8s.io/v1", "metadata": meta}
    if legacy:
        ev["eventTime"] = None
    else:
        ev["eventTime"] = _micro(at, int(_digest("micro", name)[:5], 16) % 1_000_000)
        if count >= 2:
            ev["series"] = {"count": count,
                            "lastObservedTime": _micro(last or at, int(_digest(
                                "micro-last", name, count)[:5], 16) % 1_000_000)}
    if controller:  # omitempty
        ev["reportingController"] = controller
    if instance:
        ev["reportingInstance"] = instance
    if action:
        ev["action"] = action
    ev["reason"] = reason
    reg = {"kind": rkind}
    if rns:
        reg["namespace"] = rns
    reg["name"] = rname
    reg["uid"] = ruid
    reg["apiVersion"] = _owner_api_version(rkind)
    reg["resourceVersion"] = str(int(_digest("rrv", rname)[:4], 16))
    if field_path:
        reg["fieldPath"] = field_path
    ev["regarding"] = reg
    ev["note"] = note
    ev["type"] = type_
    if legacy:
        ev["deprecatedSource"] = {k: v for k, v in (("component", controller),
                                                     ("host", instance)) if v}
        ev["deprecatedFirstTimestamp"] = at
        ev["deprecatedLastTimestamp"] = last or at
        ev["deprecatedCount"] = count
    else:
        ev["deprecatedSource"] = {}
        ev["deprecatedFirstTimestamp"] = None
        ev["deprecatedLastTimestamp"] = None
    return ev


def observe_event(ev, at, note=None):
    """The Event observed once more at `at` (what a recorder's PATCH does): a new-shape
    Event gets or advances its series (count, lastObservedTime as a MicroTime), a legacy
    one its deprecatedCount and deprecatedLastTimestamp.  Returns a new object."""
    ev = copy.deepcopy(ev)
    if note is not None:
        ev["note"] = note
    if ev.get("eventTime") is None:
        ev["deprecatedCount"] = ev.get("deprecatedCount", 1) + 1
        ev["deprecatedLastTimestamp"] = at
        return ev
    count = ev.get("series", {}).get("count", 1) + 1
    series = {"count": count, "lastObservedTime": _micro(at, int(_digest(
        "micro-last", ev["metadata"]["name"], count)[:5], 16) % 1_000_000)}
    out = {}
    for k, v in ev.items():  # series goes right after eventTime
        if k == "series":
            continue
        out[k] = v
        if k == "eventTime":
            out["series"] = series
    return out
