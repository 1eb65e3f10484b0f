/*
 * kinds — the table of Kubernetes kinds the cluster-state collector knows: for each its
 * name (the plural resource, as in RBAC rules, --cluster-state-kinds and the allowlists),
 * its API path, the size of its compact object (objects.h; every one starts with a
 * struct km_kmeta), its parser, destructor, families and emitter. Constant data.
 */
#ifndef KMON_KSTATE_KINDS_H
#define KMON_KSTATE_KINDS_H

#include "emit.h"
#include "objects.h"

#include <stddef.h>

struct km_kind {
    const char *name;  /* "pods" */
    const char *group; /* API group for RBAC: "" (core), "apps", "batch", … */
    const char *path;  /* "/api/v1/pods" */
    bool namespaced;
    size_t size;
    /* Fill *obj (zeroed by the caller) from the API object; on error nothing is held. */
    int (*parse)(struct km_kparse *p, const json_t *json, void *obj);
    void (*fini)(struct km_intern *in, void *obj);
    const struct km_kfam *fams;
    size_t nfams;
    void (*emit)(struct km_kemit *e, const void *obj);
};

extern const struct km_kind km_kind_pods, km_kind_nodes, km_kind_namespaces, km_kind_deployments,
    km_kind_replicasets, km_kind_statefulsets, km_kind_daemonsets, km_kind_jobs, km_kind_cronjobs,
    km_kind_hpas, km_kind_pvcs, km_kind_services, km_kind_resourcequotas;

/* Every kind, in the order they are listed in --help. */
extern const struct km_kind *const km_kinds[];
extern const size_t km_nkinds;

/* The kind named `name`, or NULL. */
const struct km_kind *km_kind_find(const char *name);

#endif
