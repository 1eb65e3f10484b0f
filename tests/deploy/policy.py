#!/usr/bin/python3
"""policy.py — kmon's own rules for its Kubernetes manifests, beyond the schema.

    kubectl kustomize deploy/overlays/single | python3 tests/deploy/policy.py

Every container of every workload (Deployment, DaemonSet, StatefulSet, ReplicaSet, Job,
CronJob, Pod):
  - is not privileged (no exception possible);
  - names its image with a tag that is not `latest`, or a digest (no exception possible);
  - has cpu and memory requests and limits                      (rule `resources`);
  - has a liveness and a readiness probe (not init containers)   (rule `probes`);
  - has readOnlyRootFilesystem: true                             (rule `read-only-root`).
A workload may be exempted from the last three by an annotation saying which and why:
    kmon.dev/policy-exception: "probes,read-only-root: <the reason>"
Pods in a namespace whose Pod Security enforce label is `restricted` must also meet the
restricted level's main rules (no host namespaces or hostPath volumes, runAsNonRoot,
allowPrivilegeEscalation false, every capability dropped, a RuntimeDefault or Localhost
seccomp profile), so a manifest is refused here before an API server refuses its pods.
Prints one line per problem; exit status 1 when there is any.
"""
import sys

import yaml

WORKLOADS = {"Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Job", "CronJob", "Pod"}
EXCEPTION = "kmon.dev/policy-exception"
EXEMPTABLE = {"resources", "probes", "read-only-root"}


def pod_spec(o):
    """The pod template's spec of a workload."""
    spec = o.get("spec") or {}
    if o["kind"] == "Pod":
        return spec
    if o["kind"] == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    return ((spec.get("template") or {}).get("spec")) or {}


def exemptions(o, problems, name):
    """The rules the workload's annotation exempts it from; a malformed one is a problem."""
    value = ((o.get("metadata") or {}).get("annotations") or {}).get(EXCEPTION)
    if value is None:
        return set()
    rules, sep, reason = value.partition(":")
    names = {r.strip() for r in rules.split(",") if r.strip()}
    if not sep or not reason.strip() or not names or not names <= EXEMPTABLE:
        problems.append(f"{name}: annotation {EXCEPTION} must be '<rule>[,<rule>]: <reason>' "
                        f"with rules among {sorted(EXEMPTABLE)}, got {value!r}")
        return set()
    return names


def image_problem(image):
    if not image:
        return "has no image"
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return None  # pinned by digest
    if ":" not in last:
        return f"image {image!r} has no tag"
    if last.rsplit(":", 1)[1] == "latest":
        return f"image {image!r} uses the tag latest"
    return None


def restricted_problems(spec, containers):
    out = []
    psc = spec.get("securityContext") or {}
    for k in ("hostPID", "hostNetwork", "hostIPC"):
        if spec.get(k):
            out.append(f"{k}: true")
    for v in spec.get("volumes") or []:
        if "hostPath" in v:
            out.append(f"hostPath volume {v.get('name')!r}")
    for c in containers:
        sc = c.get("securityContext") or {}
        cn = c.get("name")
        if not sc.get("runAsNonRoot", psc.get("runAsNonRoot")):
            out.append(f"container {cn!r}: runAsNonRoot is not true")
        if sc.get("runAsUser", psc.get("runAsUser")) == 0:
            out.append(f"container {cn!r}: runAsUser 0")
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"container {cn!r}: allowPrivilegeEscalation is not false")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            out.append(f"container {cn!r}: capabilities do not drop ALL")
        extra = set(caps.get("add") or []) - {"NET_BIND_SERVICE"}
        if extra:
            out.append(f"container {cn!r}: adds capabilities {sorted(extra)}")
        seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            out.append(f"container {cn!r}: seccompProfile is not RuntimeDefault or Localhost")
    return out


def check(objects):
    """Every problem of the objects, as 'Kind/namespace/name: sentence'."""
    problems = []
    restricted = {(o.get("metadata") or {}).get("name") for o in objects
                  if o.get("kind") == "Namespace" and ((o.get("metadata") or {}).get("labels") or {})
                  .get("pod-security.kubernetes.io/enforce") == "restricted"}
    for o in objects:
        if o.get("kind") not in WORKLOADS:
            continue
        meta = o.get("metadata") or {}
        name = f"{o['kind']}/{meta.get('namespace', '-')}/{meta.get('name', '?')}"
        exempt = exemptions(o, problems, name)
        spec = pod_spec(o)
        inits = spec.get("initContainers") or []
        mains = spec.get("containers") or []
        if not mains:
            problems.append(f"{name}: no containers")
        for c, init in [(c, True) for c in inits] + [(c, False) for c in mains]:
            cn = f"{name}: container {c.get('name')!r}"
            sc = c.get("securityContext") or {}
            if sc.get("privileged"):
                problems.append(f"{cn}: privileged: true")
            bad = image_problem(c.get("image"))
            if bad:
                problems.append(f"{cn}: {bad}")
            res = c.get("resources") or {}
            if "resources" not in exempt:
                for kind in ("requests", "limits"):
                    missing = [r for r in ("cpu", "memory") if r not in (res.get(kind) or {})]
                    if missing:
                        problems.append(f"{cn}: no {kind} for {', '.join(missing)}")
            if not init and "probes" not in exempt:
                for probe in ("livenessProbe", "readinessProbe"):
                    if probe not in c:
                        problems.append(f"{cn}: no {probe}")
            if "read-only-root" not in exempt and sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{cn}: readOnlyRootFilesystem is not true")
        if meta.get("namespace") in restricted:
            for p in restricted_problems(spec, inits + mains):
                problems.append(f"{name}: restricted namespace {meta['namespace']!r}: {p}")
    return problems


def main():
    objects = [d for d in yaml.safe_load_all(sys.stdin) if d]
    problems = check(objects)
    for p in problems:
        print(p)
    print(f"policy: {len(objects)} objects, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
