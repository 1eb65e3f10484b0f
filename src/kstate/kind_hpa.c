/*
 * kind_hpa — HorizontalPodAutoscalers (autoscaling/v2): target, bounds, current and
 * desired replicas, conditions, as kube-state-metrics v2.15 reports them
 * (internal/store/hpa.go). Objects are struct km_kobj.
 */
#include "common/err.h"
#include "kinds.h"

enum { H_MIN, H_MAX, H_CUR, H_DESIRED };
enum { H_API, H_KIND, H_NAME };

static int hpa_parse(struct km_kparse *p, const json_t *json, void *obj)
{
    struct km_kobj *o = obj;
    const json_t *spec = json_object_get(json, "spec"), *st = json_object_get(json, "status");
    const json_t *ref = json_object_get(spec, "scaleTargetRef");
    int rc = km_kmeta_parse(p, json, true, &o->m);

    if (rc)
        return rc;
    o->v[H_MIN] = km_kjson_int(spec, "minReplicas", KM_KABSENT);
    o->v[H_MAX] = km_kjson_int(spec, "maxReplicas", 0);
    o->v[H_CUR] = km_kjson_int(st, "currentReplicas", 0);
    o->v[H_DESIRED] = km_kjson_int(st, "desiredReplicas", 0);
    if (km_kintern(p, &o->s[H_API], ref, "apiVersion") ||
        km_kintern(p, &o->s[H_KIND], ref, "kind") || km_kintern(p, &o->s[H_NAME], ref, "name") ||
        km_kconds_parse(p, st, &o->conds, &o->nconds)) {
        km_kobj_fini(p->in, o);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    return 0;
}

enum { F_INFO, F_LABELS, F_ANNOTS, F_MIN, F_MAX, F_CUR, F_DESIRED, F_COND };

#define G KM_MT_GAUGE
static const struct km_kfam fams[] = {
    { "kube_horizontalpodautoscaler_info", "Information about this autoscaler.", G },
    { "kube_horizontalpodautoscaler_labels", "Kubernetes labels converted to Prometheus labels.",
      G },
    { "kube_horizontalpodautoscaler_annotations",
      "Kubernetes annotations converted to "
      "Prometheus labels.",
      G },
    { "kube_horizontalpodautoscaler_spec_min_replicas",
      "Lower limit for the number of pods that "
      "can be set by the autoscaler, default "
      "1.",
      G },
    { "kube_horizontalpodautoscaler_spec_max_replicas",
      "Upper limit for the number of pods that "
      "can be set by the autoscaler; cannot be "
      "smaller than MinReplicas.",
      G },
    { "kube_horizontalpodautoscaler_status_current_replicas",
      "Current number of replicas of "
      "pods managed by this autoscaler.",
      G },
    { "kube_horizontalpodautoscaler_status_desired_replicas",
      "Desired number of replicas of "
      "pods managed by this autoscaler.",
      G },
    { "kube_horizontalpodautoscaler_status_condition", "The condition of this autoscaler.", G },
};
#undef G

static void hpa_emit(struct km_kemit *e, const void *obj)
{
    const struct km_kobj *o = obj;
    struct km_label base[2] = { { "namespace", o->m.ns },
                                { "horizontalpodautoscaler", o->m.name } };
    struct km_label l[3] = { { "scaletargetref_api_version", km_kemit_str(o->s[H_API]) },
                             { "scaletargetref_kind", km_kemit_str(o->s[H_KIND]) },
                             { "scaletargetref_name", km_kemit_str(o->s[H_NAME]) } };

    km_kemit_base(e, base, 2);
    km_kemit_add(e, F_INFO, l, 3, 1);
    km_kemit_kv(e, F_LABELS, o->m.labels, o->m.nlabels, e->labels_on);
    km_kemit_kv(e, F_ANNOTS, o->m.annots, o->m.nannots, e->annots_on);
    if (o->v[H_MIN] != KM_KABSENT)
        km_kemit_add(e, F_MIN, NULL, 0, (double)o->v[H_MIN]);
    km_kemit_add(e, F_MAX, NULL, 0, (double)o->v[H_MAX]);
    km_kemit_add(e, F_CUR, NULL, 0, (double)o->v[H_CUR]);
    km_kemit_add(e, F_DESIRED, NULL, 0, (double)o->v[H_DESIRED]);
    for (uint16_t i = 0; i < o->nconds; i++) {
        l[0] = (struct km_label){ "condition", o->conds[i].type };
        km_kemit_tristate(e, F_COND, l, 1, "status", o->conds[i].status);
    }
}

const struct km_kind km_kind_hpas = {
    .name = "horizontalpodautoscalers",
    .group = "autoscaling",
    .path = "/apis/autoscaling/v2/horizontalpodautoscalers",
    .namespaced = true,
    .size = sizeof(struct km_kobj),
    .parse = hpa_parse,
    .fini = km_kobj_fini,
    .fams = fams,
    .nfams = sizeof(fams) / sizeof(fams[0]),
    .emit = hpa_emit,
};
