/*
 * kind_pod — Pods: what the collector keeps of one (struct km_kpod) and the
 * kube-state-metrics families it becomes (pods, containers, init containers), following
 * kube-state-metrics v2.15 (internal/store/pod.go, docs/pod-metrics.md): the same family
 * names, label names, label order and values.
 */
#include "common/err.h"
#include "kinds.h"

#include <stdlib.h>
#include <string.h>

#define MAX_CONTAINERS 1024

/* ---- parsing ----------------------------------------------------------------------- */

static void ctr_fini(struct km_intern *in, struct km_kctr *c)
{
    const char *s[] = { c->name,
                        c->image_spec,
                        c->image,
                        c->image_id,
                        c->container_id,
                        c->state_reason,
                        c->last_terminated_reason };

    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
        km_intern_put(in, s[i]);
    km_kres_fini(in, c->req, c->nreq);
    km_kres_fini(in, c->lim, c->nlim);
}

static void pod_fini(struct km_intern *in, void *obj)
{
    struct km_kpod *p = obj;
    const char *s[] = { p->node, p->host_ip, p->pod_ip, p->priority_class, p->phase, p->reason };

    km_kmeta_fini(in, &p->m);
    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
        km_intern_put(in, s[i]);
    km_kowners_fini(in, p->owners, p->nowners);
    for (unsigned i = 0; i < (unsigned)p->nc + p->ninit; i++)
        ctr_fini(in, &p->c[i]);
    free(p->c);
    memset(p, 0, sizeof(*p));
}

/* The status entry of container `name` in a list of statuses. */
static const json_t *status_of(const json_t *statuses, const char *name)
{
    const json_t *cs;
    size_t i;

    json_array_foreach(statuses, i, cs)
    {
        const char *n = km_kjson_str(cs, "name");

        if (n && strcmp(n, name) == 0)
            return cs;
    }
    return NULL;
}

static int parse_status(struct km_kparse *p, const json_t *cs, struct km_kctr *c)
{
    const json_t *state = json_object_get(cs, "state");
    const json_t *w = json_object_get(state, "waiting"), *t = json_object_get(state, "terminated");
    const json_t *last = json_object_get(json_object_get(cs, "lastState"), "terminated");
    int rc;

    c->has_status = true;
    c->ready = json_is_true(json_object_get(cs, "ready"));
    c->restarts = (int32_t)km_kjson_int(cs, "restartCount", 0);
    if (json_is_object(w)) {
        c->state = KM_KC_WAITING;
        rc = km_kintern(p, &c->state_reason, w, "reason");
    } else if (json_is_object(t)) {
        c->state = KM_KC_TERMINATED;
        rc = km_kintern(p, &c->state_reason, t, "reason");
    } else {
        c->state = json_is_object(json_object_get(state, "running")) ? KM_KC_RUNNING : KM_KC_NONE;
        rc = 0;
    }
    if (rc == 0 && json_is_object(last))
        rc = km_kintern_str(p, &c->last_terminated_reason,
                            km_kjson_str(last, "reason") ? km_kjson_str(last, "reason") : "");
    if (rc == 0)
        rc = km_kintern(p, &c->image, cs, "image");
    if (rc == 0)
        rc = km_kintern(p, &c->image_id, cs, "imageID");
    if (rc == 0)
        rc = km_kintern(p, &c->container_id, cs, "containerID");
    return rc;
}

/* spec.<specs> with their status.<statuses>, appended to p->c. */
static int parse_containers(struct km_kparse *kp, struct km_kpod *p, const json_t *specs,
                            const json_t *statuses, uint16_t *count)
{
    const json_t *sc;
    size_t i;

    json_array_foreach(specs, i, sc)
    {
        const char *name = km_kjson_str(sc, "name");
        const json_t *res = json_object_get(sc, "resources"), *cs;
        struct km_kctr *c;
        int rc;

        if (!name || (unsigned)p->nc + p->ninit >= MAX_CONTAINERS)
            continue;
        c = &p->c[p->nc + p->ninit];
        (*count)++;
        rc = km_kintern_str(kp, &c->name, name);
        if (rc == 0)
            rc = km_kintern(kp, &c->image_spec, sc, "image");
        if (rc == 0 && count == &p->ninit)
            rc = km_kintern(kp, &c->restart_policy, sc, "restartPolicy");
        if (rc == 0)
            rc = km_kres_parse(kp, json_object_get(res, "requests"), false, &c->req, &c->nreq);
        if (rc == 0)
            rc = km_kres_parse(kp, json_object_get(res, "limits"), false, &c->lim, &c->nlim);
        cs = status_of(statuses, name);
        if (rc == 0 && cs)
            rc = parse_status(kp, cs, c);
        if (rc)
            return rc;
    }
    return 0;
}

static int8_t cond_of(const json_t *status, const char *type)
{
    const json_t *c;
    size_t i;

    json_array_foreach(json_object_get(status, "conditions"), i, c)
    {
        const char *t = km_kjson_str(c, "type");

        if (t && strcmp(t, type) == 0)
            return (int8_t)km_kcond_status(km_kjson_str(c, "status"));
    }
    return -1;
}

const char *const km_kpod_reasons[KM_KPOD_NREASONS] = { "Evicted", "NodeAffinity", "NodeLost",
                                                        "Shutdown", "UnexpectedAdmissionError" };

/* Bits of the KSM status reasons that s names. */
static uint8_t reason_bits(const char *s)
{
    for (int i = 0; s && i < KM_KPOD_NREASONS; i++) {
        if (strcmp(s, km_kpod_reasons[i]) == 0)
            return (uint8_t)(1u << i);
    }
    return 0;
}

/* KSM v2.15: a reason counts when status.reason, a condition's reason or a container's
 * terminated reason says it. */
static uint8_t find_reasons(const json_t *status)
{
    const json_t *c;
    size_t i;
    uint8_t bits = reason_bits(km_kjson_str(status, "reason"));

    json_array_foreach(json_object_get(status, "conditions"), i, c) bits |=
        reason_bits(km_kjson_str(c, "reason"));
    json_array_foreach(json_object_get(status, "containerStatuses"), i, c) bits |= reason_bits(
        km_kjson_str(json_object_get(json_object_get(c, "state"), "terminated"), "reason"));
    return bits;
}

static int pod_parse(struct km_kparse *kp, const json_t *json, void *obj)
{
    struct km_kpod *p = obj;
    const json_t *spec = json_object_get(json, "spec"), *status = json_object_get(json, "status");
    const json_t *specs = json_object_get(spec, "containers"),
                 *ispecs = json_object_get(spec, "initContainers");
    size_t n = json_array_size(specs) + json_array_size(ispecs);
    const char *phase = km_kjson_str(status, "phase"), *reason = km_kjson_str(status, "reason");
    int rc;

    rc = km_kmeta_parse(kp, json, true, &p->m);
    if (rc)
        return rc;
    p->host_network = json_is_true(json_object_get(spec, "hostNetwork"));
    p->start_s = km_kjson_time(status, "startTime");
    p->ready = cond_of(status, "Ready");
    p->scheduled = cond_of(status, "PodScheduled");
    p->reasons = find_reasons(status);
    rc = km_kintern(kp, &p->node, spec, "nodeName");
    if (rc == 0)
        rc = km_kintern(kp, &p->host_ip, status, "hostIP");
    if (rc == 0)
        rc = km_kintern(kp, &p->pod_ip, status, "podIP");
    if (rc == 0)
        rc = km_kintern(kp, &p->priority_class, spec, "priorityClassName");
    if (rc == 0)
        rc = km_kintern_str(kp, &p->phase, phase && *phase ? phase : NULL);
    if (rc == 0)
        rc = km_kintern_str(kp, &p->reason, reason && *reason ? reason : NULL);
    if (rc == 0)
        rc = km_kowners_parse(kp, json_object_get(json, "metadata"), &p->owners, &p->nowners);
    if (rc == 0 && n) {
        p->c = calloc(n < MAX_CONTAINERS ? n : MAX_CONTAINERS, sizeof(*p->c));
        rc = p->c ? 0 : KM_ENOMEM;
    }
    if (rc == 0)
        rc = parse_containers(kp, p, specs, json_object_get(status, "containerStatuses"), &p->nc);
    if (rc == 0)
        rc = parse_containers(kp, p, ispecs, json_object_get(status, "initContainerStatuses"),
                              &p->ninit);
    if (rc) {
        pod_fini(kp->in, p);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    return 0;
}

/* ---- emission ------------------------------------------------------------------------ */

enum {
    F_INFO,
    F_OWNER,
    F_LABELS,
    F_ANNOTS,
    F_CREATED,
    F_START,
    F_PHASE,
    F_READY,
    F_SCHEDULED,
    F_REASON,
    F_CTR, /* the container block, then the init container block, in this order: */
    C_INFO = 0,
    C_WAITING,
    C_WAITING_REASON,
    C_RUNNING,
    C_TERMINATED,
    C_TERMINATED_REASON,
    C_LAST_TERMINATED_REASON,
    C_READY,
    C_RESTARTS,
    C_REQUESTS,
    C_LIMITS,
    C_COUNT,
};

#define F_INIT (F_CTR + C_COUNT)

#define G KM_MT_GAUGE
static const struct km_kfam fams[] = {
    { "kube_pod_info", "Information about pod.", G },
    { "kube_pod_owner", "Information about the Pod's owner.", G },
    { "kube_pod_labels", "Kubernetes labels converted to Prometheus labels.", G },
    { "kube_pod_annotations", "Kubernetes annotations converted to Prometheus labels.", G },
    { "kube_pod_created", "Unix creation timestamp", G },
    { "kube_pod_start_time", "Start time in unix timestamp for a pod.", G },
    { "kube_pod_status_phase", "The pods current phase.", G },
    { "kube_pod_status_ready", "Describes whether the pod is ready to serve requests.", G },
    { "kube_pod_status_scheduled", "Describes the status of the scheduling process for the pod.",
      G },
    { "kube_pod_status_reason", "The pod status reasons", G },
    { "kube_pod_container_info", "Information about a container in a pod.", G },
    { "kube_pod_container_status_waiting",
      "Describes whether the container is currently in "
      "waiting state.",
      G },
    { "kube_pod_container_status_waiting_reason",
      "Describes the reason the container is "
      "currently in waiting state.",
      G },
    { "kube_pod_container_status_running",
      "Describes whether the container is currently in "
      "running state.",
      G },
    { "kube_pod_container_status_terminated",
      "Describes whether the container is currently in "
      "terminated state.",
      G },
    { "kube_pod_container_status_terminated_reason",
      "Describes the reason the container is "
      "currently in terminated state.",
      G },
    { "kube_pod_container_status_last_terminated_reason",
      "Describes the last reason the "
      "container was in terminated state.",
      G },
    { "kube_pod_container_status_ready",
      "Describes whether the containers readiness check "
      "succeeded.",
      G },
    { "kube_pod_container_status_restarts_total",
      "The number of container restarts per "
      "container.",
      KM_MT_COUNTER },
    { "kube_pod_container_resource_requests",
      "The number of requested request resource by a "
      "container.",
      G },
    { "kube_pod_container_resource_limits",
      "The number of requested limit resource by a "
      "container.",
      G },
    { "kube_pod_init_container_info", "Information about an init container in a pod.", G },
    { "kube_pod_init_container_status_waiting",
      "Describes whether the init container is "
      "currently in waiting state.",
      G },
    { "kube_pod_init_container_status_waiting_reason",
      "Describes the reason the init container "
      "is currently in waiting state.",
      G },
    { "kube_pod_init_container_status_running",
      "Describes whether the init container is "
      "currently in running state.",
      G },
    { "kube_pod_init_container_status_terminated",
      "Describes whether the init container is "
      "currently in terminated state.",
      G },
    { "kube_pod_init_container_status_terminated_reason",
      "Describes the reason the init "
      "container is currently in terminated "
      "state.",
      G },
    { "kube_pod_init_container_status_last_terminated_reason",
      "Describes the last reason the "
      "init container was in terminated "
      "state.",
      G },
    { "kube_pod_init_container_status_ready",
      "Describes whether the init containers readiness "
      "check succeeded.",
      G },
    { "kube_pod_init_container_status_restarts_total",
      "The number of restarts for the init "
      "container.",
      KM_MT_COUNTER },
    { "kube_pod_init_container_resource_requests",
      "The number of requested request resource "
      "by an init container.",
      G },
    { "kube_pod_init_container_resource_limits",
      "The number of requested limit resource by an "
      "init container.",
      G },
};
#undef G

static void emit_ctr(struct km_kemit *e, const struct km_kpod *p, const struct km_kctr *c, int b)
{
    struct km_label l[6] = { { "container", c->name } };

    if (c->has_status) {
        l[1] = (struct km_label){ "image_spec", km_kemit_str(c->image_spec) };
        l[2] = (struct km_label){ "image", km_kemit_str(c->image) };
        l[3] = (struct km_label){ "image_id", km_kemit_str(c->image_id) };
        l[4] = (struct km_label){ "container_id", km_kemit_str(c->container_id) };
        l[5] = (struct km_label){ "restart_policy", km_kemit_str(c->restart_policy) };
        km_kemit_add(e, b + C_INFO, l, b == F_INIT ? 6 : 5, 1);
        km_kemit_add(e, b + C_WAITING, l, 1, c->state == KM_KC_WAITING);
        if (c->state == KM_KC_WAITING) {
            l[1] = (struct km_label){ "reason", km_kemit_str(c->state_reason) };
            km_kemit_add(e, b + C_WAITING_REASON, l, 2, 1);
        }
        km_kemit_add(e, b + C_RUNNING, l, 1, c->state == KM_KC_RUNNING);
        km_kemit_add(e, b + C_TERMINATED, l, 1, c->state == KM_KC_TERMINATED);
        if (c->state == KM_KC_TERMINATED) {
            l[1] = (struct km_label){ "reason", km_kemit_str(c->state_reason) };
            km_kemit_add(e, b + C_TERMINATED_REASON, l, 2, 1);
        }
        if (c->last_terminated_reason) {
            l[1] = (struct km_label){ "reason", c->last_terminated_reason };
            km_kemit_add(e, b + C_LAST_TERMINATED_REASON, l, 2, 1);
        }
        km_kemit_add(e, b + C_READY, l, 1, c->ready);
        km_kemit_add(e, b + C_RESTARTS, l, 1, c->restarts);
    }
    l[1] = (struct km_label){ "node", km_kemit_str(p->node) };
    km_kemit_res(e, b + C_REQUESTS, l, 2, c->req, c->nreq);
    km_kemit_res(e, b + C_LIMITS, l, 2, c->lim, c->nlim);
}

static void pod_emit(struct km_kemit *e, const void *obj)
{
    static const char *const phases[] = { "Pending", "Succeeded", "Failed", "Unknown", "Running" };
    const struct km_kpod *p = obj;
    const struct km_kowner *ctl = NULL;
    struct km_label base[3] = { { "namespace", p->m.ns },
                                { "pod", p->m.name },
                                { "uid", p->m.uid } };
    struct km_label l[8];

    km_kemit_base(e, base, 3);
    for (uint16_t i = 0; i < p->nowners && !ctl; i++)
        ctl = p->owners[i].controller ? &p->owners[i] : NULL;
    l[0] = (struct km_label){ "host_ip", km_kemit_str(p->host_ip) };
    l[1] = (struct km_label){ "pod_ip", km_kemit_str(p->pod_ip) };
    l[2] = (struct km_label){ "node", km_kemit_str(p->node) };
    l[3] = (struct km_label){ "created_by_kind", ctl ? ctl->kind : "" };
    l[4] = (struct km_label){ "created_by_name", ctl ? ctl->name : "" };
    l[5] = (struct km_label){ "priority_class", km_kemit_str(p->priority_class) };
    l[6] = (struct km_label){ "host_network", p->host_network ? "true" : "false" };
    km_kemit_add(e, F_INFO, l, 7, 1);
    km_kemit_owners(e, F_OWNER, p->owners, p->nowners);
    km_kemit_kv(e, F_LABELS, p->m.labels, p->m.nlabels, e->labels_on);
    km_kemit_kv(e, F_ANNOTS, p->m.annots, p->m.nannots, e->annots_on);
    if (p->m.created_s)
        km_kemit_add(e, F_CREATED, NULL, 0, (double)p->m.created_s);
    if (p->start_s)
        km_kemit_add(e, F_START, NULL, 0, (double)p->start_s);
    for (size_t i = 0; p->phase && i < sizeof(phases) / sizeof(phases[0]); i++)
        km_kemit_add1(e, F_PHASE, "phase", phases[i], strcmp(p->phase, phases[i]) == 0);
    if (p->ready >= 0)
        km_kemit_tristate(e, F_READY, NULL, 0, "condition", (uint8_t)p->ready);
    if (p->scheduled >= 0)
        km_kemit_tristate(e, F_SCHEDULED, NULL, 0, "condition", (uint8_t)p->scheduled);
    for (int i = 0; i < KM_KPOD_NREASONS; i++)
        km_kemit_add1(e, F_REASON, "reason", km_kpod_reasons[i], (p->reasons >> i) & 1);
    for (uint16_t i = 0; i < p->nc; i++)
        emit_ctr(e, p, &p->c[i], F_CTR);
    for (uint16_t i = 0; i < p->ninit; i++)
        emit_ctr(e, p, &p->c[p->nc + i], F_INIT);
}

const struct km_kind km_kind_pods = {
    .name = "pods",
    .group = "",
    .path = "/api/v1/pods",
    .namespaced = true,
    .size = sizeof(struct km_kpod),
    .parse = pod_parse,
    .fini = pod_fini,
    .fams = fams,
    .nfams = sizeof(fams) / sizeof(fams[0]),
    .emit = pod_emit,
};
