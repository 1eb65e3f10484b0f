/*
 * emit — writing kube-state-metrics series into a metric set: the families of a kind
 * declared from a table (name, HELP, TYPE as KSM declares them), and samples added with
 * the object's identity labels, the cluster label when configured, and extra labels.
 * The set is handed on in chunks (km_kemit_out), and the same emitters write the stale
 * markers of an object's previous version (modes). Used by each kind's emitter
 * (kind_*.c) under its store's lock. One owner.
 */
#ifndef KMON_KSTATE_EMIT_H
#define KMON_KSTATE_EMIT_H

#include "common/mset.h"
#include "objects.h"

#include <stddef.h>

#define KM_KEMIT_MAX_LABELS 64

/* Prometheus' stale marker: a NaN with this payload ends a series at once in any
 * Prometheus-compatible store instead of letting it linger for the lookback delta. */
#define KM_STALE_NAN_BITS 0x7ff0000000000002ull

struct km_kfam {
    const char *name, *help;
    enum km_mtype type;
};

struct km_kind;

/* What the emitter does with a sample (the store sets it per object, see store.c). */
enum km_kemit_mode {
    KM_KEMIT_PUT,        /* add it to m */
    KM_KEMIT_PUT_RECORD, /* add it and remember its series hash (an object whose previous
                          * version left the store this interval) */
    KM_KEMIT_STALE,      /* a previous version's series: a stale marker into m, unless a
                          * remembered hash says the series is still emitted */
};

/* Where an emission goes: m, handed to flush (when set) whenever it holds `chunk`
 * samples at an object's end and once at the end, then reset, so an emission of a
 * million series never has to be whole in memory. */
struct km_kemit_out {
    struct km_mset *m;
    unsigned stale_flags; /* family flags of the stale markers' families */
    size_t chunk;         /* 0: never flush before the end */
    /* Consume m's samples (ingest, encode); non-zero is remembered as the emission's
     * error, and the emission goes on (its other chunks and stale markers still count). */
    int (*flush)(void *ud, struct km_mset *m);
    void *ud;
};

struct km_kemit {
    struct km_mset *m;
    const struct km_kemit_out *out;
    const struct km_kind *kind; /* the kind being emitted */
    const char *cluster;        /* NULL: no cluster label */
    int fam[64];                /* the current kind's family indexes */
    int sfam[64];               /* … and of its stale markers' families */
    struct km_label base[4];
    size_t nbase; /* identity labels (namespace, pod, uid, …) */
    enum km_kemit_mode mode;
    bool filter; /* only samples of family index `only` (a view rendered family by family) */
    int only;
    uint64_t *kept; /* series hashes recorded by KM_KEMIT_PUT_RECORD (this kind) */
    size_t nkept, capkept;
    bool kept_sorted;
    uint64_t series, stale;
    int err;                   /* the first flush's or the set's error */
    bool labels_on, annots_on; /* the current kind has an allowlist entry */
};

/* s, or "" for NULL (an absent field is an empty label, which Prometheus drops). */
static inline const char *km_kemit_str(const char *s)
{
    return s ? s : "";
}

/* Start emitting e->kind: declare its families (at most 64) in e->fam and, when stale
 * markers go to families of their own flags, in e->sfam; forget recorded hashes. */
void km_kemit_begin_kind(struct km_kemit *e);

/* An object's series are all out: flush when the set holds a chunk. */
void km_kemit_object_done(struct km_kemit *e);

/* The emission's end: the last flush. Frees what e holds. Returns e->err. */
int km_kemit_finish(struct km_kemit *e);

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
