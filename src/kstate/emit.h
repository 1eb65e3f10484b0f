/*
 * emit — writing kube-state-metrics series into a metric set: the families of a kind
 * declared from a table (name, HELP, TYPE as KSM declares them), and samples added with
 * the object's identity labels, the cluster label when configured, and extra labels.
 * Used by each kind's emitter (kind_*.c) under its store's lock. One owner.
 */
#ifndef KMON_KSTATE_EMIT_H
#define KMON_KSTATE_EMIT_H

#include "common/mset.h"
#include "objects.h"

#include <stddef.h>

#define KM_KEMIT_MAX_LABELS 64

struct km_kfam {
    const char *name, *help;
    enum km_mtype type;
};

struct km_kind;

struct km_kemit {
    struct km_mset *m;
    const struct km_kind *kind; /* the kind being emitted */
    const char *cluster;        /* NULL: no cluster label */
    int fam[64];                /* the current kind's family indexes */
    struct km_label base[4];
    size_t nbase; /* identity labels (namespace, pod, uid, …) */
    uint64_t series;
    bool labels_on, annots_on; /* the current kind has an allowlist entry */
};

/* s, or "" for NULL (an absent field is an empty label, which Prometheus drops). */
static inline const char *km_kemit_str(const char *s)
{
    return s ? s : "";
}

/* Declare a kind's families (at most 64) in e->fam, in table order. */
void km_kemit_declare(struct km_kemit *e, const struct km_kfam *t, size_t n);

/* Set the identity labels that start every series of the object now emitted. */
void km_kemit_base(struct km_kemit *e, const struct km_label *l, size_t n);

/* Add a sample to family index f (into e->fam) with the identity, cluster and extra
 * labels. */
void km_kemit_add(struct km_kemit *e, int f, const struct km_label *extra, size_t nextra, double v);

/* One sample with one extra label. */
void km_kemit_add1(struct km_kemit *e, int f, const char *name, const char *value, double v);

/* kube_<kind>_labels / _annotations: the identity plus the allowlisted pairs, when `on`
 * (the allowlist names the kind: e->labels_on, e->annots_on). */
void km_kemit_kv(struct km_kemit *e, int f, const struct km_kkv *kv, size_t n, bool on);

/* The three series of a condition-like family: status="true","false","unknown", 1 on
 * the one that holds. `label` names the status label ("status" or "condition"). */
void km_kemit_tristate(struct km_kemit *e, int f, const struct km_label *extra, size_t nextra,
                       const char *label, uint8_t status);

/* What every object has: <kind>_created (when known), _labels and _annotations (when
 * the allowlist names the kind). */
void km_kemit_meta(struct km_kemit *e, int created, int labels, int annots,
                   const struct km_kmeta *m);

/* kube_<kind>_owner: a series per owner reference, or one of "<none>" when there is none. */
void km_kemit_owners(struct km_kemit *e, int f, const struct km_kowner *o, size_t n);

/* A resource list as {resource, unit} series, plus extra labels. */
void km_kemit_res(struct km_kemit *e, int f, const struct km_label *extra, size_t nextra,
                  const struct km_kres *r, unsigned n);

#endif
