/*
 * kind_service — Services: addresses and type, as kube-state-metrics v2.15 reports them
 * (internal/store/service.go). Objects are struct km_kobj.
 */
#include "common/err.h"
#include "kinds.h"

enum { S_IP, S_EXTERNAL, S_LB, S_TYPE };

static int svc_parse(struct km_kparse *p, const json_t *json, void *obj)
{
    struct km_kobj *o = obj;
    const json_t *spec = json_object_get(json, "spec");
    int rc = km_kmeta_parse(p, json, true, &o->m);

    if (rc)
        return rc;
    if (km_kintern(p, &o->s[S_IP], spec, "clusterIP") ||
        km_kintern(p, &o->s[S_EXTERNAL], spec, "externalName") ||
        km_kintern(p, &o->s[S_LB], spec, "loadBalancerIP") ||
        km_kintern(p, &o->s[S_TYPE], spec, "type")) {
        km_kobj_fini(p->in, o);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    return 0;
}

enum { F_INFO, F_TYPE, F_CREATED, F_LABELS, F_ANNOTS };

static const struct km_kfam fams[] = {
    { "kube_service_info", "Information about service.", KM_MT_GAUGE },
    { "kube_service_spec_type", "Type about service.", KM_MT_GAUGE },
    { "kube_service_created", "Unix creation timestamp", KM_MT_GAUGE },
    { "kube_service_labels", "Kubernetes labels converted to Prometheus labels.", KM_MT_GAUGE },
    { "kube_service_annotations", "Kubernetes annotations converted to Prometheus labels.",
      KM_MT_GAUGE },
};

static void svc_emit(struct km_kemit *e, const void *obj)
{
    const struct km_kobj *o = obj;
    struct km_label base[2] = { { "namespace", o->m.ns }, { "service", o->m.name } };
    struct km_label l[3] = { { "cluster_ip", km_kemit_str(o->s[S_IP]) },
                             { "external_name", km_kemit_str(o->s[S_EXTERNAL]) },
                             { "load_balancer_ip", km_kemit_str(o->s[S_LB]) } };

    km_kemit_base(e, base, 2);
    km_kemit_add(e, F_INFO, l, 3, 1);
    km_kemit_add1(e, F_TYPE, "type", o->s[S_TYPE], 1);
    km_kemit_meta(e, F_CREATED, F_LABELS, F_ANNOTS, &o->m);
}

const struct km_kind km_kind_services = {
    .name = "services",
    .group = "",
    .path = "/api/v1/services",
    .namespaced = true,
    .size = sizeof(struct km_kobj),
    .parse = svc_parse,
    .fini = km_kobj_fini,
    .fams = fams,
    .nfams = sizeof(fams) / sizeof(fams[0]),
    .emit = svc_emit,
};
