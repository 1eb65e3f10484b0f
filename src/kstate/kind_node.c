/*
 * kind_node — Nodes: what the collector keeps of one (struct km_knode) and its
 * kube-state-metrics families, following kube-state-metrics v2.15 (internal/store/
 * node.go, docs/node-metrics.md).
 */
#include "common/err.h"
#include "kinds.h"

#include <stdlib.h>
#include <string.h>

#define ROLE_PREFIX "node-role.kubernetes.io/"
#define MAX_ITEMS   1024

static void node_fini(struct km_intern *in, void *obj)
{
    struct km_knode *n = obj;
    const char *s[] = { n->kernel,      n->os_image, n->runtime,     n->kubelet,    n->kubeproxy,
                        n->provider_id, n->pod_cidr, n->system_uuid, n->internal_ip };

    km_kmeta_fini(in, &n->m);
    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
        km_intern_put(in, s[i]);
    for (uint16_t i = 0; i < n->nroles; i++)
        km_intern_put(in, n->roles[i]);
    free(n->roles);
    for (uint16_t i = 0; i < n->ntaints; i++) {
        km_intern_put(in, n->taints[i].key);
        km_intern_put(in, n->taints[i].value);
        km_intern_put(in, n->taints[i].effect);
    }
    free(n->taints);
    km_kconds_fini(in, n->conds, n->nconds);
    km_kres_fini(in, n->capacity, n->ncapacity);
    km_kres_fini(in, n->allocatable, n->nallocatable);
    memset(n, 0, sizeof(*n));
}

/* Roles from the node-role.kubernetes.io/<role> label keys (all labels, not only the
 * allowlisted ones). */
static int parse_roles(struct km_kparse *p, const json_t *labels, struct km_knode *n)
{
    const char *key;
    const json_t *v;

    n->roles = calloc(json_object_size(labels) ? json_object_size(labels) : 1, sizeof(char *));
    if (!n->roles)
        return KM_ENOMEM;
    json_object_foreach((json_t *)labels, key, v)
    {
        if (strncmp(key, ROLE_PREFIX, strlen(ROLE_PREFIX)) != 0 || !key[strlen(ROLE_PREFIX)] ||
            n->nroles == MAX_ITEMS)
            continue;
        if (km_kintern_str(p, &n->roles[n->nroles++], key + strlen(ROLE_PREFIX)))
            return KM_ENOMEM;
    }
    return 0;
}

static int parse_taints(struct km_kparse *p, const json_t *taints, struct km_knode *n)
{
    const json_t *t;
    size_t i;

    if (!json_array_size(taints))
        return 0;
    n->taints = calloc(json_array_size(taints), sizeof(*n->taints));
    if (!n->taints)
        return KM_ENOMEM;
    json_array_foreach(taints, i, t)
    {
        struct km_ktaint *k;

        if (!km_kjson_str(t, "key") || n->ntaints == MAX_ITEMS)
            continue;
        k = &n->taints[n->ntaints++];
        if (km_kintern(p, &k->key, t, "key") ||
            km_kintern_str(p, &k->value,
                           km_kjson_str(t, "value") ? km_kjson_str(t, "value") : "") ||
            km_kintern_str(p, &k->effect,
                           km_kjson_str(t, "effect") ? km_kjson_str(t, "effect") : ""))
            return KM_ENOMEM;
    }
    return 0;
}

static int parse_info(struct km_kparse *p, const json_t *spec, const json_t *status,
                      struct km_knode *n)
{
    const json_t *ni = json_object_get(status, "nodeInfo"), *a;
    size_t i;
    int rc = 0;

    rc |= km_kintern(p, &n->kernel, ni, "kernelVersion");
    rc |= km_kintern(p, &n->os_image, ni, "osImage");
    rc |= km_kintern(p, &n->runtime, ni, "containerRuntimeVersion");
    rc |= km_kintern(p, &n->kubelet, ni, "kubeletVersion");
    rc |= km_kintern(p, &n->kubeproxy, ni, "kubeProxyVersion");
    rc |= km_kintern(p, &n->system_uuid, ni, "systemUUID");
    rc |= km_kintern(p, &n->provider_id, spec, "providerID");
    rc |= km_kintern(p, &n->pod_cidr, spec, "podCIDR");
    json_array_foreach(json_object_get(status, "addresses"), i, a)
    {
        const char *t = km_kjson_str(a, "type");

        if (t && strcmp(t, "InternalIP") == 0 && !n->internal_ip) {
            rc |= km_kintern(p, &n->internal_ip, a, "address");
            break;
        }
    }
    return rc ? KM_ENOMEM : 0;
}

static int node_parse(struct km_kparse *p, const json_t *json, void *obj)
{
    struct km_knode *n = obj;
    const json_t *spec = json_object_get(json, "spec"), *status = json_object_get(json, "status");
    int rc;

    rc = km_kmeta_parse(p, json, false, &n->m);
    if (rc)
        return rc;
    n->unschedulable = json_is_true(json_object_get(spec, "unschedulable"));
    rc = parse_info(p, spec, status, n);
    if (rc == 0)
        rc = parse_roles(p, json_object_get(json_object_get(json, "metadata"), "labels"), n);
    if (rc == 0)
        rc = parse_taints(p, json_object_get(spec, "taints"), n);
    if (rc == 0)
        rc = km_kconds_parse(p, status, &n->conds, &n->nconds);
    if (rc == 0)
        rc = km_kres_parse(p, json_object_get(status, "capacity"), true, &n->capacity,
                           &n->ncapacity);
    if (rc == 0)
        rc = km_kres_parse(p, json_object_get(status, "allocatable"), true, &n->allocatable,
                           &n->nallocatable);
    if (rc) {
        node_fini(p->in, n);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    return 0;
}

enum { F_INFO, F_CREATED, F_LABELS, F_ANNOTS, F_ROLE, F_UNSCHED, F_TAINT, F_COND, F_CAP, F_ALLOC };

#define G KM_MT_GAUGE
static const struct km_kfam fams[] = {
    { "kube_node_info", "Information about a cluster node.", G },
    { "kube_node_created", "Unix creation timestamp", G },
    { "kube_node_labels", "Kubernetes labels converted to Prometheus labels.", G },
    { "kube_node_annotations", "Kubernetes annotations converted to Prometheus labels.", G },
    { "kube_node_role", "The role of a cluster node.", G },
    { "kube_node_spec_unschedulable", "Whether a node can schedule new pods.", G },
    { "kube_node_spec_taint", "The taint of a cluster node.", G },
    { "kube_node_status_condition", "The condition of a cluster node.", G },
    { "kube_node_status_capacity", "The capacity for different resources of a node.", G },
    { "kube_node_status_allocatable",
      "The allocatable for different resources of a node that "
      "are available for scheduling.",
      G },
};
#undef G

static void node_emit(struct km_kemit *e, const void *obj)
{
    const struct km_knode *n = obj;
    struct km_label base = { "node", n->m.name }, l[10];

    km_kemit_base(e, &base, 1);
    l[0] = (struct km_label){ "kernel_version", km_kemit_str(n->kernel) };
    l[1] = (struct km_label){ "os_image", km_kemit_str(n->os_image) };
    l[2] = (struct km_label){ "container_runtime_version", km_kemit_str(n->runtime) };
    l[3] = (struct km_label){ "kubelet_version", km_kemit_str(n->kubelet) };
    l[4] = (struct km_label){ "kubeproxy_version", km_kemit_str(n->kubeproxy) };
    l[5] = (struct km_label){ "provider_id", km_kemit_str(n->provider_id) };
    l[6] = (struct km_label){ "pod_cidr", km_kemit_str(n->pod_cidr) };
    l[7] = (struct km_label){ "system_uuid", km_kemit_str(n->system_uuid) };
    l[8] = (struct km_label){ "internal_ip", km_kemit_str(n->internal_ip) };
    km_kemit_add(e, F_INFO, l, 9, 1);
    km_kemit_meta(e, F_CREATED, F_LABELS, F_ANNOTS, &n->m);
    for (uint16_t i = 0; i < n->nroles; i++)
        km_kemit_add1(e, F_ROLE, "role", n->roles[i], 1);
    km_kemit_add(e, F_UNSCHED, NULL, 0, n->unschedulable);
    for (uint16_t i = 0; i < n->ntaints; i++) {
        l[0] = (struct km_label){ "key", n->taints[i].key };
        l[1] = (struct km_label){ "value", n->taints[i].value };
        l[2] = (struct km_label){ "effect", n->taints[i].effect };
        km_kemit_add(e, F_TAINT, l, 3, 1);
    }
    for (uint16_t i = 0; i < n->nconds; i++) {
        l[0] = (struct km_label){ "condition", n->conds[i].type };
        km_kemit_tristate(e, F_COND, l, 1, "status", n->conds[i].status);
    }
    km_kemit_res(e, F_CAP, NULL, 0, n->capacity, n->ncapacity);
    km_kemit_res(e, F_ALLOC, NULL, 0, n->allocatable, n->nallocatable);
}

const struct km_kind km_kind_nodes = {
    .name = "nodes",
    .group = "",
    .path = "/api/v1/nodes",
    .namespaced = false,
    .size = sizeof(struct km_knode),
    .parse = node_parse,
    .fini = node_fini,
    .fams = fams,
    .nfams = sizeof(fams) / sizeof(fams[0]),
    .emit = node_emit,
};
