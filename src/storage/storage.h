/*
 * storage — the versioned interface between kmon's server and any store: an appender
 * (what ingest uses) and a querier (what the REST API and PromQL read through). The
 * embedded TSDB implements it (src/tsdb/tsdb_storage.c); a ClickHouse cluster will.
 * Nothing outside a store's own folder calls the store directly.
 *
 * A store is a versioned ops table (designated initialisers, like the agent's
 * collectors) and the context it opened. Reading takes a querier: one consistent view
 * of [mint, maxt] for one evaluation (the blocks it reads stay pinned until it is
 * closed). Selecting gives a series set walked in label order; each series' samples come
 * in borrowed batches (time-ordered, valid until the next call on the set). Version 2 of
 * the table adds optional ops for metric metadata (metadata.h): a store without them
 * keeps none, and /api/v1/metadata then answers empty.
 *
 * Threads: every function may be called from any thread; a querier and its series sets
 * belong to one thread at a time. Errors are returned (km_err_msg() says why), never
 * printed.
 */
#ifndef KMON_STORAGE_STORAGE_H
#define KMON_STORAGE_STORAGE_H

#include "storage/metadata.h"
#include "storage/sample.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KM_STORAGE_OPS_V1 1u
#define KM_STORAGE_OPS_V2 2u /* V1 and the metric metadata ops (each may be NULL) */

struct km_mset;

/* What the reader will do with a selection, so a store can do less: read no samples
 * (labels only), or (a store that can) pre-aggregate per step. Zero means unknown. */
struct km_select_hints {
    int64_t mint, maxt; /* the samples to read, within the querier's (both 0: all of it) */
    int64_t step_ms;    /* evaluation step of a range query */
    int64_t range_ms;   /* the range of a range selector ([5m]) */
    const char *func;   /* the function that consumes it ("rate"), or NULL */
    bool labels_only;   /* no samples needed: series, label names and values */
    bool newest_only;   /* of each series only its newest sample in range (an instant
                         * selector): a store may return a part of them ending with it */
    bool any_order;     /* the caller takes the series in any order: a store may skip
                         * sorting them by labels where nothing needs merging */
};

/* A batch of one series' samples, borrowed from the set. */
struct km_sample_batch {
    const int64_t *t;
    const double *v;
    size_t n;
};

/* What a store says about itself (for limits and messages). */
struct km_storage_info {
    int64_t retention_ms, max_future_ms, ooo_window_ms;
    uint64_t series;           /* series in memory (what --max-series caps) */
    int64_t newest_ms;         /* the newest sample it holds (INT64_MIN: none) */
    uint64_t samples_appended; /* since it was opened */
    uint64_t blocks;           /* units of data on disk (blocks, parts) */
};

/* What users hunt cardinality with (Prometheus' /api/v1/status/tsdb): the series in
 * memory by metric name, distinct values by label name, bytes of values by label name,
 * series by label pair — the top entries of each, largest first. */
struct km_storage_stat {
    char *name; /* owned */
    uint64_t count;
};

struct km_storage_cardinality {
    uint64_t series, label_pairs, chunks;
    int64_t mint, maxt; /* of the samples in memory (INT64_MAX, INT64_MIN: none) */
    struct km_storage_stat *by_metric, *values_by_label, *memory_by_label, *by_pair;
    size_t n_by_metric, n_values_by_label, n_memory_by_label, n_by_pair;
};

void km_storage_cardinality_fini(struct km_storage_cardinality *c);

struct km_storage_ops {
    unsigned version; /* KM_STORAGE_OPS_V2 (or V1: no metadata ops) */
    const char *name; /* "tsdb" */

    /* ---- appending -------------------------------------------------------------- */
    /* The timestamps it takes now: [*lo, *hi]. Samples outside are refused, create no
     * series and move no time bound. */
    void (*time_window)(void *ctx, int64_t *lo, int64_t *hi);
    /* Append n samples; 0 means every sample counted appended or duplicate is durable
     * (crash of the process). `status` (may be NULL) gets each one's outcome. */
    int (*append)(void *ctx, const struct km_sample *s, size_t n, enum km_sample_status *status,
                  struct km_append_result *res);
    /* Resolve labels to a reference (creating the series if new). */
    int (*series_ref)(void *ctx, const struct km_label *l, size_t n, uint64_t *ref, bool *created);
    int (*append_refs)(void *ctx, const struct km_ref_sample *s, size_t n,
                       enum km_sample_status *status, struct km_append_result *res);

    /* ---- querying --------------------------------------------------------------- */
    int (*querier_open)(void *ctx, int64_t mint, int64_t maxt, void **q);
    void (*querier_close)(void *q);
    int (*select)(void *q, struct km_matcher *const *m, size_t nm,
                  const struct km_select_hints *hints, void **set);
    bool (*set_next)(void *set); /* false at the end or on error (set_error) */
    const struct km_labels *(*set_labels)(void *set);
    bool (*set_batch)(void *set, struct km_sample_batch *b); /* false: no more samples */
    int (*set_error)(void *set);
    void (*set_close)(void *set);
    int (*label_names)(void *q, struct km_matcher *const *m, size_t nm, km_str_fn fn, void *ud);
    int (*label_values)(void *q, const char *name, struct km_matcher *const *m, size_t nm,
                        km_str_fn fn, void *ud);

    /* ---- the store -------------------------------------------------------------- */
    void (*info)(void *ctx, struct km_storage_info *out);
    int (*cardinality)(void *ctx, size_t top, struct km_storage_cardinality *out);
    int (*flush)(void *ctx);                       /* make the memory durable now */
    void (*metrics)(void *ctx, struct km_mset *m); /* its kmon_* families */
    void (*close)(void *ctx);                      /* accepts a half-opened context */

    /* ---- metric metadata (V2; both NULL: the store keeps none) ------------------- */
    /* Remember n entries as seen now (checked by the caller: valid names and UTF-8).
     * What the store's bounds refuse is counted in its metrics, not an error. */
    int (*metadata_put)(void *ctx, const struct km_metadata *md, size_t n);
    /* Every entry kept (or those of `metric` when not NULL), by name in byte order, the
     * entries of one name together, each distinct (type, help, unit) once. fn runs
     * under the store's lock: it must not call the store. */
    int (*metadata_list)(void *ctx, const char *metric, km_metadata_fn fn, void *ud);
};

/* What opening a store takes (each store uses what applies to it; 0: its default). */
struct km_storage_config {
    const char *dir;           /* data directory (created if missing) */
    int64_t retention_ms;      /* data older than this by the clock is deleted */
    uint64_t max_bytes;        /* and the oldest beyond this size (0: no cap) */
    int64_t block_range_ms;    /* span of data cut from memory into each block */
    int64_t ooo_window_ms;     /* a series takes samples this far behind its newest */
    int64_t max_future_ms;     /* samples further ahead of the clock are refused */
    int64_t fsync_interval_ms; /* durability against a crash of the machine */
    uint64_t cache_bytes;      /* memory for decompressed data kept for queries (0: default) */
    bool no_cache;             /* none at all */
};

/* An open store. */
struct km_storage {
    const struct km_storage_ops *ops;
    void *ctx;
};

/* Close the store and free `s`. Accepts NULL. */
void km_storage_close(struct km_storage *s);

/* ---- appending -------------------------------------------------------------------- */

void km_storage_time_window(struct km_storage *s, int64_t *lo, int64_t *hi);
int km_storage_append(struct km_storage *s, const struct km_sample *smp, size_t n,
                      enum km_sample_status *status, struct km_append_result *res);
int km_storage_series_ref(struct km_storage *s, const struct km_label *l, size_t n, uint64_t *ref,
                          bool *created);
int km_storage_append_refs(struct km_storage *s, const struct km_ref_sample *smp, size_t n,
                           enum km_sample_status *status, struct km_append_result *res);

/* ---- querying --------------------------------------------------------------------- */

struct km_querier;
struct km_series_set;

/* A consistent view of [mint, maxt] (inclusive, ms). On success *out is new; close it
 * with km_querier_close() after every series set taken from it. */
int km_querier_open(struct km_storage *s, int64_t mint, int64_t maxt, struct km_querier **out);
void km_querier_close(struct km_querier *q);
/* Every select of q takes its series in any order (see km_select_hints.any_order): for
 * callers to whom the order of an answer means nothing, such as rule evaluation. */
void km_querier_set_any_order(struct km_querier *q, bool any_order);

/* The series matching all matchers (at least one), in label order (or any order when the
 * hints or the querier allow it). `hints` may be NULL. */
int km_querier_select(struct km_querier *q, struct km_matcher *const *m, size_t nm,
                      const struct km_select_hints *hints, struct km_series_set **out);
bool km_series_next(struct km_series_set *set);
const struct km_labels *km_series_labels(struct km_series_set *set);
bool km_series_batch(struct km_series_set *set, struct km_sample_batch *b);
int km_series_error(struct km_series_set *set);
void km_series_set_close(struct km_series_set *set);

/* Label names (sorted, unique) of the series matching the matchers (all when nm == 0),
 * and the values of one name. */
int km_querier_label_names(struct km_querier *q, struct km_matcher *const *m, size_t nm,
                           km_str_fn fn, void *ud);
int km_querier_label_values(struct km_querier *q, const char *name, struct km_matcher *const *m,
                            size_t nm, km_str_fn fn, void *ud);

/* ---- the store -------------------------------------------------------------------- */

void km_storage_info(struct km_storage *s, struct km_storage_info *out);
/* The top `top` entries of each cardinality list; free with km_storage_cardinality_fini. */
int km_storage_cardinality(struct km_storage *s, size_t top, struct km_storage_cardinality *out);
int km_storage_flush(struct km_storage *s);
void km_storage_metrics(struct km_storage *s, struct km_mset *m);

/* ---- metric metadata (optional) ---------------------------------------------------- */

/* Whether the store keeps metric metadata (a V2 store with both ops). */
bool km_storage_keeps_metadata(const struct km_storage *s);
/* The ops above; without them, put keeps nothing and list finds nothing (both 0). */
int km_storage_metadata_put(struct km_storage *s, const struct km_metadata *md, size_t n);
int km_storage_metadata_list(struct km_storage *s, const char *metric, km_metadata_fn fn, void *ud);

#endif
