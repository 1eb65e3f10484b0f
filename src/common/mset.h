/*
 * mset — a metric set: families (name, help, type) each holding samples (labels, value,
 * timestamp), built by a collector during one collection and then rendered (text
 * exposition, JSON) or shipped.
 *
 * Built for reuse: km_mset_reset() forgets the contents but keeps every array and the
 * string arena, so a collector that produces the same shape each interval allocates
 * nothing after the first collections. Strings passed in are copied. Samples may be
 * added to any family in any order (a collector can walk devices outside and fields
 * inside); rendering groups them by family in the order families were declared.
 *
 * Errors (out of memory, KM_LIMIT_BATCH_*) are sticky: the first one is kept in
 * km_mset_error() and later additions are ignored. One owner; not thread-safe.
 */
#ifndef KMON_COMMON_MSET_H
#define KMON_COMMON_MSET_H

#include "arena.h"
#include "buf.h"
#include "labels.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum km_mtype {
    KM_MT_GAUGE = 0,
    KM_MT_COUNTER = 1,
    KM_MT_UNTYPED = 2,
};

/* Family flags. */
#define KM_MF_LOCAL     1u /* derived on the node (cpu_millicores): shown, never shipped */
#define KM_MF_SHIP_ONLY 2u /* stale markers: shipped, never shown on /metrics */

struct km_mfamily {
    const char *name; /* arena */
    const char *help; /* arena */
    enum km_mtype type;
    unsigned flags;
    uint32_t first, last; /* sample chain (UINT32_MAX: none) */
    uint32_t count;
};

struct km_msample {
    uint32_t family;
    uint32_t next; /* next sample of the same family, UINT32_MAX at the end */
    uint32_t label_off;
    uint32_t nlabels;
    double value;
    int64_t ts_ms;
};

#define KM_MSET_STR_CACHE 256

struct km_mset {
    struct km_arena strings;
    /* Label strings copied into the arena, by the caller's pointer: collectors pass the
     * same names and identity values for many samples, which are then stored once. */
    struct {
        const char *src, *copy;
    } str_cache[KM_MSET_STR_CACHE];
    struct km_mfamily *fam;
    size_t nfam, capfam;
    struct km_msample *smp;
    size_t nsmp, capsmp;
    struct km_label *lab;
    size_t nlab, caplab;
    int64_t ts_ms; /* timestamp given to samples added without one */
    int err;
};

void km_mset_init(struct km_mset *m);
void km_mset_fini(struct km_mset *m);

/* Forget the contents, keep the memory; samples added next get timestamp ts_ms. */
void km_mset_reset(struct km_mset *m, int64_t ts_ms);

/* Declare a family; returns its index (>= 0) or a negative code. */
int km_mset_family(struct km_mset *m, const char *name, const char *help, enum km_mtype type,
                   unsigned flags);

/* Add a sample to family `fam` (an index from km_mset_family(); a negative index, as
 * returned on error, is ignored so callers need not check each declaration). */
int km_mset_add(struct km_mset *m, int fam, const struct km_label *labels, size_t nlabels,
                double value);

/* Convenience for the common label-less sample: declare and add in one call. */
int km_mset_gauge(struct km_mset *m, const char *name, const char *help, double value);

static inline int km_mset_error(const struct km_mset *m)
{
    return m->err;
}

/* Iteration: families in declaration order, each family's samples in insertion order. */
#define KM_MSET_END UINT32_MAX

static inline const struct km_label *km_mset_labels(const struct km_mset *m,
                                                    const struct km_msample *s)
{
    /* A set whose samples never had labels has no label array at all. */
    return s->nlabels ? m->lab + s->label_off : NULL;
}

/* The first sample of a family with the given name (linear search; for tests and
 * summaries, not hot paths), or NULL. With `labels` non-NULL, only a sample whose labels
 * include all of them (name=value) is returned. */
const struct km_msample *km_mset_find(const struct km_mset *m, const char *family,
                                      const struct km_label *labels, size_t nlabels);

/* Render as Prometheus text 0.0.4 (no timestamps) into b. */
void km_mset_render_prom(const struct km_mset *m, struct km_buf *b);

/* One family's samples (none for an empty or ship-only family), after its HELP and TYPE
 * lines when `header` is set: a family rendered in parts, the header once. */
void km_mset_render_prom_family(const struct km_mset *m, size_t fam, struct km_buf *b, bool header);

/* Render families as a JSON array of {"name","help","type","samples":[{"labels":{},"value"}]}
 * into an open km_jsonw value position. */
struct km_jsonw;
void km_mset_render_json(const struct km_mset *m, struct km_jsonw *w);

#endif
