/*
 * kind_pvc — PersistentVolumeClaims: class, volume, phase, requested storage and access
 * modes, as kube-state-metrics v2.15 reports them (internal/store/
 * persistentvolumeclaim.go). Objects are struct km_kobj.
 */
#include "common/err.h"
#include "kinds.h"
#include "quantity.h"

#include <stdlib.h>
#include <string.h>

enum { P_STORAGE };
enum { P_CLASS, P_VOLUME, P_MODE, P_PHASE };

static int modes_parse(struct km_kparse *p, const json_t *modes, struct km_kobj *o)
{
    const json_t *m;
    size_t i;

    if (!json_array_size(modes))
        return 0;
    o->list = calloc(json_array_size(modes), sizeof(*o->list));
    if (!o->list)
        return KM_ENOMEM;
    json_array_foreach(modes, i, m)
    {
        if (json_is_string(m) && o->nlist < 64 &&
            km_kintern_str(p, &o->list[o->nlist++], json_string_value(m)))
            return KM_ENOMEM;
    }
    return 0;
}

static int pvc_parse(struct km_kparse *p, const json_t *json, void *obj)
{
    struct km_kobj *o = obj;
    const json_t *spec = json_object_get(json, "spec"), *st = json_object_get(json, "status");
    const json_t *meta = json_object_get(json, "metadata");
    const char *class, *req, *phase;
    struct km_qty q;
    int rc = km_kmeta_parse(p, json, true, &o->m);

    if (rc)
        return rc;
    /* As KSM (GetPersistentVolumeClaimClass): the beta annotation first, then the
     * field, else "<none>". */
    class = km_kjson_str(json_object_get(meta, "annotations"),
                         "volume.beta.kubernetes.io/storage-class");
    if (!class)
        class = km_kjson_str(spec, "storageClassName");
    if (!class)
        class = "<none>";
    req = km_kjson_str(json_object_get(json_object_get(spec, "resources"), "requests"), "storage");
    o->v[P_STORAGE] = KM_KABSENT;
    if (req && km_qty_parse(req, &q) == 0)
        o->v[P_STORAGE] = (int64_t)km_qty_value(&q, false);
    phase = km_kjson_str(st, "phase");
    if (km_kintern_str(p, &o->s[P_CLASS], class) ||
        km_kintern(p, &o->s[P_VOLUME], spec, "volumeName") ||
        km_kintern(p, &o->s[P_MODE], spec, "volumeMode") ||
        km_kintern_str(p, &o->s[P_PHASE], phase && *phase ? phase : NULL) ||
        modes_parse(p, json_object_get(spec, "accessModes"), o)) {
        km_kobj_fini(p->in, o);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    return 0;
}

enum { F_INFO, F_CREATED, F_LABELS, F_ANNOTS, F_PHASE, F_STORAGE, F_MODE };

#define G KM_MT_GAUGE
static const struct km_kfam fams[] = {
    { "kube_persistentvolumeclaim_info", "Information about persistent volume claim.", G },
    { "kube_persistentvolumeclaim_created", "Unix creation timestamp", G },
    { "kube_persistentvolumeclaim_labels", "Kubernetes labels converted to Prometheus labels.", G },
    { "kube_persistentvolumeclaim_annotations",
      "Kubernetes annotations converted to Prometheus "
      "labels.",
      G },
    { "kube_persistentvolumeclaim_status_phase",
      "The phase the persistent volume claim is "
      "currently in.",
      G },
    { "kube_persistentvolumeclaim_resource_requests_storage_bytes",
      "The capacity of storage "
      "requested by the persistent "
      "volume claim.",
      G },
    { "kube_persistentvolumeclaim_access_mode",
      "The access mode(s) specified by the persistent "
      "volume claim.",
      G },
};
#undef G

static void pvc_emit(struct km_kemit *e, const void *obj)
{
    static const char *const phases[] = { "Lost", "Bound", "Pending" };
    const struct km_kobj *o = obj;
    struct km_label base[2] = { { "namespace", o->m.ns }, { "persistentvolumeclaim", o->m.name } };
    struct km_label l[3] = { { "storageclass", km_kemit_str(o->s[P_CLASS]) },
                             { "volumename", km_kemit_str(o->s[P_VOLUME]) },
                             { "volumemode", km_kemit_str(o->s[P_MODE]) } };

    km_kemit_base(e, base, 2);
    km_kemit_add(e, F_INFO, l, 3, 1);
    km_kemit_meta(e, F_CREATED, F_LABELS, F_ANNOTS, &o->m);
    for (size_t i = 0; o->s[P_PHASE] && i < sizeof(phases) / sizeof(phases[0]); i++)
        km_kemit_add1(e, F_PHASE, "phase", phases[i], strcmp(o->s[P_PHASE], phases[i]) == 0);
    if (o->v[P_STORAGE] != KM_KABSENT)
        km_kemit_add(e, F_STORAGE, NULL, 0, (double)o->v[P_STORAGE]);
    for (uint16_t i = 0; i < o->nlist; i++)
        km_kemit_add1(e, F_MODE, "access_mode", o->list[i], 1);
}

const struct km_kind km_kind_pvcs = {
    .name = "persistentvolumeclaims",
    .group = "",
    .path = "/api/v1/persistentvolumeclaims",
    .namespaced = true,
    .size = sizeof(struct km_kobj),
    .parse = pvc_parse,
    .fini = km_kobj_fini,
    .fams = fams,
    .nfams = sizeof(fams) / sizeof(fams[0]),
    .emit = pvc_emit,
};
