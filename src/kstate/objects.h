/*
 * objects — what the cluster-state collector keeps of each Kubernetes object: only the
 * fields the kube-state-metrics families need, every string interned (intern.h), parsed
 * straight from the API's JSON (the document is freed at once by the caller).
 *
 * Also the kind table: for each kind its API path, the size of its compact object, its
 * parser, its destructor and its emitter. Parsers and emitters live in one file per kind
 * (kind_pod.c, kind_node.c, kind_apps.c, kind_namespace.c). A kind's objects are owned by its store
 * (store.h); everything they point to is interned and released by the kind's fini.
 */
#ifndef KMON_KSTATE_OBJECTS_H
#define KMON_KSTATE_OBJECTS_H

#include "allowlist.h"
#include "intern.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* A label or annotation kept by an allowlist: the sanitised Prometheus name
 * ("label_app_kubernetes_io_name") and the value, both interned. */
struct km_kkv {
    const char *k, *v;
};

/* What every object has. */
struct km_kmeta {
    const char *uid, *ns, *name; /* ns NULL for cluster-scoped kinds */
    int64_t created_s;           /* metadata.creationTimestamp; 0 unknown */
    int64_t generation;
    struct km_kkv *labels, *annots; /* allowlisted, sorted by k */
    uint16_t nlabels, nannots;
};

struct km_kowner {
    const char *kind, *name;
    bool controller;
};

/* A resource amount (requests, limits, capacity, allocatable), already in KSM's terms:
 * resource "cpu", "memory", "nvidia_com_gpu"; unit "core", "byte", "integer". */
struct km_kres {
    const char *resource, *unit;
    double v;
};

/* A status condition as KSM reports it: status 0 false, 1 true, 2 unknown. */
struct km_kcond {
    const char *type, *reason; /* reason NULL when absent */
    uint8_t status;
};

enum km_kctr_state { KM_KC_NONE, KM_KC_WAITING, KM_KC_RUNNING, KM_KC_TERMINATED };

struct km_kctr {
    const char *name, *image_spec;                     /* from spec */
    const char *image, *image_id, *container_id;       /* from status; NULL when absent */
    const char *state_reason, *last_terminated_reason; /* waiting or terminated reason */
    const char *restart_policy;                        /* init containers ("Always": sidecar) */
    struct km_kres *req, *lim;
    int32_t restarts;
    uint8_t nreq, nlim;
    uint8_t state; /* enum km_kctr_state */
    bool has_status, ready;
};

struct km_kpod {
    struct km_kmeta m;
    const char *node, *host_ip, *pod_ip, *priority_class;
    const char *phase, *reason; /* NULL when empty */
    uint8_t reasons;            /* KSM's status reasons found (bit i: km_kpod_reasons[i]) */
    struct km_kowner *owners;
    struct km_kctr *c;
    int64_t start_s;
    uint16_t nowners, nc, ninit; /* c[0..nc) containers, c[nc..nc+ninit) init containers */
    int8_t ready, scheduled;     /* -1: no such condition, else a km_kcond status */
    bool host_network;
};

/* The reasons kube_pod_status_reason reports. */
#define KM_KPOD_NREASONS 5
extern const char *const km_kpod_reasons[KM_KPOD_NREASONS];

struct km_ktaint {
    const char *key, *value, *effect;
};

struct km_knode {
    struct km_kmeta m;
    const char *kernel, *os_image, *runtime, *kubelet, *kubeproxy, *provider_id, *pod_cidr,
        *system_uuid, *internal_ip;
    const char **roles;
    struct km_ktaint *taints;
    struct km_kcond *conds;
    struct km_kres *capacity, *allocatable;
    uint16_t nroles, ntaints, nconds;
    uint8_t ncapacity, nallocatable;
    bool unschedulable;
};

struct km_knamespace {
    struct km_kmeta m;
    const char *phase;
};

/* Deployment and ReplicaSet counts; -1 where the object does not say. */
struct km_kdeploy {
    struct km_kmeta m;
    struct km_kcond *conds;
    int64_t spec_replicas, replicas, ready, available, unavailable, updated, observed_gen;
    double max_unavailable, max_surge; /* NAN when not a RollingUpdate */
    uint16_t nconds;
    bool paused;
};

struct km_krs {
    struct km_kmeta m;
    struct km_kowner *owners;
    int64_t spec_replicas, replicas, fully_labeled, ready, observed_gen;
    uint16_t nowners;
};

/* The kinds with few fields (statefulsets, daemonsets, jobs, cronjobs, HPAs, PVCs,
 * services, resource quotas) share one shape: numbers and strings at indexes each
 * kind's file names, conditions, owners, a list of strings and two resource lists. */
#define KM_KOBJ_NV 12
#define KM_KOBJ_NS 6
#define KM_KABSENT INT64_MIN /* a number the object does not have */

struct km_kobj {
    struct km_kmeta m;
    int64_t v[KM_KOBJ_NV];
    const char *s[KM_KOBJ_NS]; /* interned; NULL when absent */
    struct km_kcond *conds;
    struct km_kowner *owners;
    const char **list; /* interned */
    struct km_kres *res[2];
    uint16_t nconds, nowners, nlist;
    uint8_t nres[2];
};

/* Give back what a struct km_kobj holds. */
void km_kobj_fini(struct km_intern *in, void *obj);

/* ---- parsing helpers shared by the kinds (kmeta.c) -------------------------------- */

struct km_kparse {
    struct km_intern *in;
    const struct km_allow *labels, *annots; /* this kind's allowlists; NULL: none */
};

/* The string at o[key], or NULL when absent or not a string. */
const char *km_kjson_str(const json_t *o, const char *key);
/* The integer at o[key], or dflt. */
int64_t km_kjson_int(const json_t *o, const char *key, int64_t dflt);
/* An RFC 3339 time at o[key] in seconds since the epoch, 0 when absent or bad. */
int64_t km_kjson_time(const json_t *o, const char *key);

/* Intern o[key] (NULL when absent). Returns 0 or KM_ENOMEM. */
int km_kintern(struct km_kparse *p, const char **dst, const json_t *o, const char *key);
int km_kintern_str(struct km_kparse *p, const char **dst, const char *s);

/* metadata: uid, name, namespace (when namespaced), creation time, generation,
 * allowlisted labels and annotations. KM_EINVAL when uid or name is missing. */
int km_kmeta_parse(struct km_kparse *p, const json_t *obj, bool namespaced, struct km_kmeta *m);
void km_kmeta_fini(struct km_intern *in, struct km_kmeta *m);

/* metadata.ownerReferences. */
int km_kowners_parse(struct km_kparse *p, const json_t *meta, struct km_kowner **out, uint16_t *n);
void km_kowners_fini(struct km_intern *in, struct km_kowner *o, uint16_t n);

/* status.conditions as (type, status). */
int km_kconds_parse(struct km_kparse *p, const json_t *status, struct km_kcond **out, uint16_t *n);
void km_kconds_fini(struct km_intern *in, struct km_kcond *c, uint16_t n);

/* A resource list ({"cpu": "100m", "memory": "1Gi", …}) in KSM's terms; `node` admits
 * "pods" (unit integer) as node capacity does. Unparsable amounts are skipped. */
int km_kres_parse(struct km_kparse *p, const json_t *list, bool node, struct km_kres **out,
                  uint8_t *n);
void km_kres_fini(struct km_intern *in, struct km_kres *r, unsigned n);

/* "True"/"False"/other as a condition status. */
uint8_t km_kcond_status(const char *s);

#endif
