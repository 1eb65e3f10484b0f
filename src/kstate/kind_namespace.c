/*
 * kind_namespace — Namespaces: their phase, creation time, labels and annotations as
 * kube-state-metrics v2.15 reports them (internal/store/namespace.go).
 */
#include "common/err.h"
#include "kinds.h"

#include <string.h>

static void ns_fini(struct km_intern *in, void *obj)
{
    struct km_knamespace *n = obj;

    km_kmeta_fini(in, &n->m);
    km_intern_put(in, n->phase);
    memset(n, 0, sizeof(*n));
}

static int ns_parse(struct km_kparse *p, const json_t *json, void *obj)
{
    struct km_knamespace *n = obj;
    const char *phase = km_kjson_str(json_object_get(json, "status"), "phase");
    int rc = km_kmeta_parse(p, json, false, &n->m);

    if (rc)
        return rc;
    if (km_kintern_str(p, &n->phase, phase && *phase ? phase : NULL)) {
        ns_fini(p->in, n);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    return 0;
}

enum { F_CREATED, F_LABELS, F_ANNOTS, F_PHASE };

static const struct km_kfam fams[] = {
    { "kube_namespace_created", "Unix creation timestamp", KM_MT_GAUGE },
    { "kube_namespace_labels", "Kubernetes labels converted to Prometheus labels.", KM_MT_GAUGE },
    { "kube_namespace_annotations", "Kubernetes annotations converted to Prometheus labels.",
      KM_MT_GAUGE },
    { "kube_namespace_status_phase", "kubernetes namespace status phase.", KM_MT_GAUGE },
};

static void ns_emit(struct km_kemit *e, const void *obj)
{
    const struct km_knamespace *n = obj;
    struct km_label base = { "namespace", n->m.name };

    km_kemit_base(e, &base, 1);
    km_kemit_meta(e, F_CREATED, F_LABELS, F_ANNOTS, &n->m);
    km_kemit_add1(e, F_PHASE, "phase", "Active", n->phase && strcmp(n->phase, "Active") == 0);
    km_kemit_add1(e, F_PHASE, "phase", "Terminating",
                  n->phase && strcmp(n->phase, "Terminating") == 0);
}

const struct km_kind km_kind_namespaces = {
    .name = "namespaces",
    .group = "",
    .path = "/api/v1/namespaces",
    .namespaced = false,
    .size = sizeof(struct km_knamespace),
    .parse = ns_parse,
    .fini = ns_fini,
    .fams = fams,
    .nfams = sizeof(fams) / sizeof(fams[0]),
    .emit = ns_emit,
};
