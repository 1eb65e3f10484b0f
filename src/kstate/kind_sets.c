/*
 * kind_sets — StatefulSets and DaemonSets: replica and scheduling counts, generations and
 * revisions, as kube-state-metrics v2.15 reports them (internal/store/statefulset.go,
 * daemonset.go). Objects are struct km_kobj; the index of each number is named below.
 */
#include "common/err.h"
#include "kinds.h"

#include <string.h>

/* Read the integers at keys[i] of o into v[first + i] (0 when absent). */
static void ints(const json_t *o, const char *const *keys, size_t n, int64_t *v)
{
    for (size_t i = 0; i < n; i++)
        v[i] = km_kjson_int(o, keys[i], 0);
}

/* Emit v[0..n) into families fam[first..first+n). */
static void emit_ints(struct km_kemit *e, int first, const int64_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        km_kemit_add(e, first + (int)i, NULL, 0, (double)v[i]);
}

/* ---- StatefulSets ---------------------------------------------------------------------- */

static const char *const sts_keys[] = { "replicas", "readyReplicas", "currentReplicas",
                                        "updatedReplicas", "observedGeneration" };
enum { S_NSTATUS = 5, S_SPEC = S_NSTATUS, S_GEN };
enum { S_CURRENT_REV, S_UPDATE_REV };

static int sts_parse(struct km_kparse *p, const json_t *json, void *obj)
{
    struct km_kobj *o = obj;
    const json_t *st = json_object_get(json, "status");
    int rc = km_kmeta_parse(p, json, true, &o->m);

    if (rc)
        return rc;
    ints(st, sts_keys, S_NSTATUS, o->v);
    o->v[S_SPEC] = km_kjson_int(json_object_get(json, "spec"), "replicas", KM_KABSENT);
    o->v[S_GEN] = o->m.generation;
    if (km_kintern(p, &o->s[S_CURRENT_REV], st, "currentRevision") ||
        km_kintern(p, &o->s[S_UPDATE_REV], st, "updateRevision")) {
        km_kobj_fini(p->in, o);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    return 0;
}

enum {
    SF_STATUS = 0,
    SF_CREATED = SF_STATUS + S_NSTATUS,
    SF_LABELS,
    SF_ANNOTS,
    SF_SPEC,
    SF_GEN,
    SF_CUR,
    SF_UPD
};

#define G KM_MT_GAUGE
static const struct km_kfam sts_fams[] = {
    { "kube_statefulset_status_replicas", "The number of replicas per StatefulSet.", G },
    { "kube_statefulset_status_replicas_ready", "The number of ready replicas per StatefulSet.",
      G },
    { "kube_statefulset_status_replicas_current",
      "The number of current replicas per "
      "StatefulSet.",
      G },
    { "kube_statefulset_status_replicas_updated",
      "The number of updated replicas per "
      "StatefulSet.",
      G },
    { "kube_statefulset_status_observed_generation",
      "The generation observed by the "
      "StatefulSet controller.",
      G },
    { "kube_statefulset_created", "Unix creation timestamp", G },
    { "kube_statefulset_labels", "Kubernetes labels converted to Prometheus labels.", G },
    { "kube_statefulset_annotations", "Kubernetes annotations converted to Prometheus labels.", G },
    { "kube_statefulset_replicas", "Number of desired pods for a StatefulSet.", G },
    { "kube_statefulset_metadata_generation",
      "Sequence number representing a specific "
      "generation of the desired state for the "
      "StatefulSet.",
      G },
    { "kube_statefulset_status_current_revision",
      "Indicates the version of the StatefulSet "
      "used to generate Pods in the sequence "
      "[0,currentReplicas).",
      G },
    { "kube_statefulset_status_update_revision",
      "Indicates the version of the StatefulSet used "
      "to generate Pods in the sequence "
      "[replicas-updatedReplicas,replicas)",
      G },
};

static void sts_emit(struct km_kemit *e, const void *obj)
{
    const struct km_kobj *o = obj;
    struct km_label base[2] = { { "namespace", o->m.ns }, { "statefulset", o->m.name } };

    km_kemit_base(e, base, 2);
    emit_ints(e, SF_STATUS, o->v, S_NSTATUS);
    km_kemit_meta(e, SF_CREATED, SF_LABELS, SF_ANNOTS, &o->m);
    if (o->v[S_SPEC] != KM_KABSENT)
        km_kemit_add(e, SF_SPEC, NULL, 0, (double)o->v[S_SPEC]);
    km_kemit_add(e, SF_GEN, NULL, 0, (double)o->v[S_GEN]);
    km_kemit_add1(e, SF_CUR, "revision", o->s[S_CURRENT_REV], 1);
    km_kemit_add1(e, SF_UPD, "revision", o->s[S_UPDATE_REV], 1);
}

const struct km_kind km_kind_statefulsets = {
    .name = "statefulsets",
    .group = "apps",
    .path = "/apis/apps/v1/statefulsets",
    .namespaced = true,
    .size = sizeof(struct km_kobj),
    .parse = sts_parse,
    .fini = km_kobj_fini,
    .fams = sts_fams,
    .nfams = sizeof(sts_fams) / sizeof(sts_fams[0]),
    .emit = sts_emit,
};

/* ---- DaemonSets ------------------------------------------------------------------------ */

static const char *const ds_keys[] = {
    "currentNumberScheduled",
    "desiredNumberScheduled",
    "numberAvailable",
    "numberMisscheduled",
    "numberReady",
    "numberUnavailable",
    "updatedNumberScheduled",
    "observedGeneration",
};
enum { D_NSTATUS = 8, D_GEN = D_NSTATUS };

static int ds_parse(struct km_kparse *p, const json_t *json, void *obj)
{
    struct km_kobj *o = obj;
    int rc = km_kmeta_parse(p, json, true, &o->m);

    if (rc)
        return rc;
    ints(json_object_get(json, "status"), ds_keys, D_NSTATUS, o->v);
    o->v[D_GEN] = o->m.generation;
    return 0;
}

enum { DF_STATUS = 0, DF_GEN = DF_STATUS + D_NSTATUS, DF_CREATED, DF_LABELS, DF_ANNOTS };

static const struct km_kfam ds_fams[] = {
    { "kube_daemonset_status_current_number_scheduled",
      "The number of nodes running at least "
      "one daemon pod and are supposed to.",
      G },
    { "kube_daemonset_status_desired_number_scheduled",
      "The number of nodes that should be "
      "running the daemon pod.",
      G },
    { "kube_daemonset_status_number_available",
      "The number of nodes that should be running the "
      "daemon pod and have one or more of the daemon "
      "pod running and available",
      G },
    { "kube_daemonset_status_number_misscheduled",
      "The number of nodes running a daemon pod but "
      "are not supposed to.",
      G },
    { "kube_daemonset_status_number_ready",
      "The number of nodes that should be running the "
      "daemon pod and have one or more of the daemon pod "
      "running and ready.",
      G },
    { "kube_daemonset_status_number_unavailable",
      "The number of nodes that should be running "
      "the daemon pod and have none of the daemon pod "
      "running and available",
      G },
    { "kube_daemonset_status_updated_number_scheduled",
      "The total number of nodes that are "
      "running updated daemon pod",
      G },
    { "kube_daemonset_status_observed_generation",
      "The most recent generation observed by the "
      "daemon set controller.",
      G },
    { "kube_daemonset_metadata_generation",
      "Sequence number representing a specific "
      "generation of the desired state.",
      G },
    { "kube_daemonset_created", "Unix creation timestamp", G },
    { "kube_daemonset_labels", "Kubernetes labels converted to Prometheus labels.", G },
    { "kube_daemonset_annotations", "Kubernetes annotations converted to Prometheus labels.", G },
};
#undef G

static void ds_emit(struct km_kemit *e, const void *obj)
{
    const struct km_kobj *o = obj;
    struct km_label base[2] = { { "namespace", o->m.ns }, { "daemonset", o->m.name } };

    km_kemit_base(e, base, 2);
    emit_ints(e, DF_STATUS, o->v, D_NSTATUS + 1);
    km_kemit_meta(e, DF_CREATED, DF_LABELS, DF_ANNOTS, &o->m);
}

const struct km_kind km_kind_daemonsets = {
    .name = "daemonsets",
    .group = "apps",
    .path = "/apis/apps/v1/daemonsets",
    .namespaced = true,
    .size = sizeof(struct km_kobj),
    .parse = ds_parse,
    .fini = km_kobj_fini,
    .fams = ds_fams,
    .nfams = sizeof(ds_fams) / sizeof(ds_fams[0]),
    .emit = ds_emit,
};
