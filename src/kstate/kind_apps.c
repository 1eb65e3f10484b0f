/*
 * kind_apps — Deployments and ReplicaSets: desired, current, ready, available and
 * updated replicas, generations, conditions, the rolling-update bounds and the
 * ReplicaSet's owner, as kube-state-metrics v2.15 reports them (internal/store/
 * deployment.go, replicaset.go).
 */
#include "common/err.h"
#include "kinds.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* An IntOrString bound scaled to the replicas ("25%" of 4 is 1 rounded down, 1 rounded
 * up), as the deployment controller computes it; NAN when absent or malformed. */
static double scaled_bound(const json_t *v, int64_t replicas, bool up)
{
    const char *s;
    char *end;
    double pct;

    if (json_is_integer(v))
        return (double)json_integer_value(v);
    if (!json_is_string(v))
        return NAN;
    s = json_string_value(v);
    pct = strtod(s, &end);
    if (end == s || strcmp(end, "%") != 0 || replicas < 0)
        return NAN;
    return up ? ceil(pct * (double)replicas / 100.0) : floor(pct * (double)replicas / 100.0);
}

/* ---- Deployments --------------------------------------------------------------------- */

static void deploy_fini(struct km_intern *in, void *obj)
{
    struct km_kdeploy *d = obj;

    km_kmeta_fini(in, &d->m);
    km_kconds_fini(in, d->conds, d->nconds);
    memset(d, 0, sizeof(*d));
}

static int deploy_parse(struct km_kparse *p, const json_t *json, void *obj)
{
    struct km_kdeploy *d = obj;
    const json_t *spec = json_object_get(json, "spec"), *st = json_object_get(json, "status");
    const json_t *strategy = json_object_get(spec, "strategy");
    const json_t *ru = json_object_get(strategy, "rollingUpdate");
    int rc = km_kmeta_parse(p, json, true, &d->m);

    if (rc)
        return rc;
    d->spec_replicas = km_kjson_int(spec, "replicas", 1); /* the API's default */
    d->paused = json_is_true(json_object_get(spec, "paused"));
    d->replicas = km_kjson_int(st, "replicas", 0);
    d->ready = km_kjson_int(st, "readyReplicas", 0);
    d->available = km_kjson_int(st, "availableReplicas", 0);
    d->unavailable = km_kjson_int(st, "unavailableReplicas", 0);
    d->updated = km_kjson_int(st, "updatedReplicas", 0);
    d->observed_gen = km_kjson_int(st, "observedGeneration", 0);
    d->max_unavailable = d->max_surge = NAN;
    if (json_is_object(ru) && d->spec_replicas >= 0) {
        d->max_unavailable =
            scaled_bound(json_object_get(ru, "maxUnavailable"), d->spec_replicas, false);
        d->max_surge = scaled_bound(json_object_get(ru, "maxSurge"), d->spec_replicas, true);
    }
    if (km_kconds_parse(p, st, &d->conds, &d->nconds)) {
        deploy_fini(p->in, d);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    return 0;
}

enum {
    D_CREATED,
    D_LABELS,
    D_ANNOTS,
    D_SPEC_REPLICAS,
    D_PAUSED,
    D_REPLICAS,
    D_READY,
    D_AVAILABLE,
    D_UNAVAILABLE,
    D_UPDATED,
    D_OBSERVED,
    D_GENERATION,
    D_COND,
    D_MAX_UNAVAILABLE,
    D_MAX_SURGE,
};

#define G KM_MT_GAUGE
static const struct km_kfam deploy_fams[] = {
    { "kube_deployment_created", "Unix creation timestamp", G },
    { "kube_deployment_labels", "Kubernetes labels converted to Prometheus labels.", G },
    { "kube_deployment_annotations", "Kubernetes annotations converted to Prometheus labels.", G },
    { "kube_deployment_spec_replicas", "Number of desired pods for a deployment.", G },
    { "kube_deployment_spec_paused",
      "Whether the deployment is paused and will not be "
      "processed by the deployment controller.",
      G },
    { "kube_deployment_status_replicas", "The number of replicas per deployment.", G },
    { "kube_deployment_status_replicas_ready", "The number of ready replicas per deployment.", G },
    { "kube_deployment_status_replicas_available",
      "The number of available replicas per "
      "deployment.",
      G },
    { "kube_deployment_status_replicas_unavailable",
      "The number of unavailable replicas per "
      "deployment.",
      G },
    { "kube_deployment_status_replicas_updated",
      "The number of updated replicas per "
      "deployment.",
      G },
    { "kube_deployment_status_observed_generation",
      "The generation observed by the deployment "
      "controller.",
      G },
    { "kube_deployment_metadata_generation",
      "Sequence number representing a specific "
      "generation of the desired state.",
      G },
    { "kube_deployment_status_condition", "The current status conditions of a deployment.", G },
    { "kube_deployment_spec_strategy_rollingupdate_max_unavailable",
      "Maximum number of "
      "unavailable replicas during "
      "a rolling update of a "
      "deployment.",
      G },
    { "kube_deployment_spec_strategy_rollingupdate_max_surge",
      "Maximum number of replicas that "
      "can be scheduled above the "
      "desired number of replicas "
      "during a rolling update of a "
      "deployment.",
      G },
};

/* KSM v2.15 labels a deployment condition with its reason when the deployment
 * controller is known to write it, else "unknown" (bounded cardinality). */
static const char *known_reason(const char *r)
{
    static const char *const known[] = {
        "ReplicaSetUpdated",          "ReplicaSetCreateError",  "NewReplicaSetCreated",
        "FoundNewReplicaSet",         "NewReplicaSetAvailable", "ProgressDeadlineExceeded",
        "DeploymentPaused",           "DeploymentResumed",      "MinimumReplicasAvailable",
        "MinimumReplicasUnavailable",
    };

    if (!r || !*r)
        return "";
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (strcmp(r, known[i]) == 0)
            return r;
    }
    return "unknown";
}

static void deploy_emit(struct km_kemit *e, const void *obj)
{
    const struct km_kdeploy *d = obj;
    struct km_label base[2] = { { "namespace", d->m.ns }, { "deployment", d->m.name } };
    struct km_label l[2];

    km_kemit_base(e, base, 2);
    km_kemit_meta(e, D_CREATED, D_LABELS, D_ANNOTS, &d->m);
    km_kemit_add(e, D_SPEC_REPLICAS, NULL, 0, (double)d->spec_replicas);
    km_kemit_add(e, D_PAUSED, NULL, 0, d->paused);
    km_kemit_add(e, D_REPLICAS, NULL, 0, (double)d->replicas);
    km_kemit_add(e, D_READY, NULL, 0, (double)d->ready);
    km_kemit_add(e, D_AVAILABLE, NULL, 0, (double)d->available);
    km_kemit_add(e, D_UNAVAILABLE, NULL, 0, (double)d->unavailable);
    km_kemit_add(e, D_UPDATED, NULL, 0, (double)d->updated);
    km_kemit_add(e, D_OBSERVED, NULL, 0, (double)d->observed_gen);
    km_kemit_add(e, D_GENERATION, NULL, 0, (double)d->m.generation);
    for (uint16_t i = 0; i < d->nconds; i++) {
        l[0] = (struct km_label){ "reason", known_reason(d->conds[i].reason) };
        l[1] = (struct km_label){ "condition", d->conds[i].type };
        km_kemit_tristate(e, D_COND, l, 2, "status", d->conds[i].status);
    }
    if (!isnan(d->max_unavailable))
        km_kemit_add(e, D_MAX_UNAVAILABLE, NULL, 0, d->max_unavailable);
    if (!isnan(d->max_surge))
        km_kemit_add(e, D_MAX_SURGE, NULL, 0, d->max_surge);
}

const struct km_kind km_kind_deployments = {
    .name = "deployments",
    .group = "apps",
    .path = "/apis/apps/v1/deployments",
    .namespaced = true,
    .size = sizeof(struct km_kdeploy),
    .parse = deploy_parse,
    .fini = deploy_fini,
    .fams = deploy_fams,
    .nfams = sizeof(deploy_fams) / sizeof(deploy_fams[0]),
    .emit = deploy_emit,
};

/* ---- ReplicaSets ---------------------------------------------------------------------- */

static void rs_fini(struct km_intern *in, void *obj)
{
    struct km_krs *r = obj;

    km_kmeta_fini(in, &r->m);
    km_kowners_fini(in, r->owners, r->nowners);
    memset(r, 0, sizeof(*r));
}

static int rs_parse(struct km_kparse *p, const json_t *json, void *obj)
{
    struct km_krs *r = obj;
    const json_t *spec = json_object_get(json, "spec"), *st = json_object_get(json, "status");
    int rc = km_kmeta_parse(p, json, true, &r->m);

    if (rc)
        return rc;
    r->spec_replicas = km_kjson_int(spec, "replicas", -1);
    r->replicas = km_kjson_int(st, "replicas", 0);
    r->fully_labeled = km_kjson_int(st, "fullyLabeledReplicas", 0);
    r->ready = km_kjson_int(st, "readyReplicas", 0);
    r->observed_gen = km_kjson_int(st, "observedGeneration", 0);
    if (km_kowners_parse(p, json_object_get(json, "metadata"), &r->owners, &r->nowners)) {
        rs_fini(p->in, r);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    return 0;
}

enum {
    R_CREATED,
    R_LABELS,
    R_ANNOTS,
    R_SPEC,
    R_REPLICAS,
    R_FULLY,
    R_READY,
    R_OBSERVED,
    R_GEN,
    R_OWNER
};

static const struct km_kfam rs_fams[] = {
    { "kube_replicaset_created", "Unix creation timestamp", G },
    { "kube_replicaset_labels", "Kubernetes labels converted to Prometheus labels.", G },
    { "kube_replicaset_annotations", "Kubernetes annotations converted to Prometheus labels.", G },
    { "kube_replicaset_spec_replicas", "Number of desired pods for a ReplicaSet.", G },
    { "kube_replicaset_status_replicas", "The number of replicas per ReplicaSet.", G },
    { "kube_replicaset_status_fully_labeled_replicas",
      "The number of fully labeled replicas per "
      "ReplicaSet.",
      G },
    { "kube_replicaset_status_ready_replicas", "The number of ready replicas per ReplicaSet.", G },
    { "kube_replicaset_status_observed_generation",
      "The generation observed by the ReplicaSet "
      "controller.",
      G },
    { "kube_replicaset_metadata_generation",
      "Sequence number representing a specific "
      "generation of the desired state.",
      G },
    { "kube_replicaset_owner", "Information about the ReplicaSet's owner.", G },
};
#undef G

static void rs_emit(struct km_kemit *e, const void *obj)
{
    const struct km_krs *r = obj;
    struct km_label base[2] = { { "namespace", r->m.ns }, { "replicaset", r->m.name } };

    km_kemit_base(e, base, 2);
    km_kemit_meta(e, R_CREATED, R_LABELS, R_ANNOTS, &r->m);
    if (r->spec_replicas >= 0)
        km_kemit_add(e, R_SPEC, NULL, 0, (double)r->spec_replicas);
    km_kemit_add(e, R_REPLICAS, NULL, 0, (double)r->replicas);
    km_kemit_add(e, R_FULLY, NULL, 0, (double)r->fully_labeled);
    km_kemit_add(e, R_READY, NULL, 0, (double)r->ready);
    km_kemit_add(e, R_OBSERVED, NULL, 0, (double)r->observed_gen);
    km_kemit_add(e, R_GEN, NULL, 0, (double)r->m.generation);
    km_kemit_owners(e, R_OWNER, r->owners, r->nowners);
}

const struct km_kind km_kind_replicasets = {
    .name = "replicasets",
    .group = "apps",
    .path = "/apis/apps/v1/replicasets",
    .namespaced = true,
    .size = sizeof(struct km_krs),
    .parse = rs_parse,
    .fini = rs_fini,
    .fams = rs_fams,
    .nfams = sizeof(rs_fams) / sizeof(rs_fams[0]),
    .emit = rs_emit,
};
