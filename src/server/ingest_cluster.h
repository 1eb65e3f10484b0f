/*
 * ingest_cluster — what ingest knows per cluster (the value of the label `cluster`, ""
 * for data without it): its budgets (samples per second, log line bytes per second:
 * token buckets holding one second's worth), its series in the database's head (counted
 * as ingest creates them, reconciled with the store every 30 s or so, so that series
 * gone from the head stop counting), and its figures for /metrics (kmon_cluster_*).
 *
 * The table is bounded: at most `max_clusters` names (0: 10000); clusters seen after it
 * is full share one entry, named KM_CLUSTER_OTHER, whose budgets and series cap then
 * apply to them together. A name keeps its entry for the life of the process.
 *
 * Threads: every function may be called from any thread.
 */
#ifndef KMON_SERVER_INGEST_CLUSTER_H
#define KMON_SERVER_INGEST_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct km_mset;
struct km_storage;

/* The entry shared by the clusters seen once the table is full. */
#define KM_CLUSTER_OTHER "(other)"
#define KM_CLUSTERS_MAX  10000

struct km_clusters_opts {
    uint64_t max_series;        /* series in the head per cluster (0: no cap) */
    double max_samples_per_s;   /* per cluster (0: no cap) */
    double max_log_bytes_per_s; /* log line bytes per cluster (0: no cap) */
    size_t max_clusters;        /* entries before KM_CLUSTER_OTHER (0: KM_CLUSTERS_MAX) */
};

struct km_clusters;

int km_clusters_create(struct km_clusters **out, const struct km_clusters_opts *o);
/* Accepts NULL. */
void km_clusters_destroy(struct km_clusters *c);

const struct km_clusters_opts *km_clusters_opts(const struct km_clusters *c);

/* The entry of cluster name[0..len) (added if new; the shared one when the table is full
 * or out of memory). Entries are small integers, stable for the life of the table. */
uint32_t km_clusters_slot(struct km_clusters *c, const char *name, size_t len);
/* An entry's name (KM_CLUSTER_OTHER for the shared one). */
const char *km_clusters_name(const struct km_clusters *c, uint32_t slot);

/* One request's use of one cluster: units (samples or log bytes) and, for samples,
 * the series it would create. */
struct km_cluster_use {
    uint32_t slot;
    uint64_t n;
    uint64_t new_series;
};

/* Add n units (new_series series) to the use of `slot` in u[0..*nu) (cap entries);
 * false when u is full. */
bool km_cluster_use_add(struct km_cluster_use *u, size_t *nu, size_t cap, uint32_t slot, uint64_t n,
                        uint64_t new_series);

struct km_log_push_stream;

/* The line bytes of streams st[0..n) per cluster (each stream's `cluster` label, "" for
 * none) into u (room for n uses; *nu set). */
void km_clusters_log_uses(struct km_clusters *c, const struct km_log_push_stream *st, size_t n,
                          struct km_cluster_use *u, size_t *nu);

enum km_cluster_budget {
    KM_CLUSTER_SAMPLES,
    KM_CLUSTER_LOG_BYTES,
};

/* Whether each cluster's new series fit under its cap (series in the head + new ones).
 * False: *over is the index in u of the first that does not. */
bool km_clusters_series_fit(struct km_clusters *c, const struct km_cluster_use *u, size_t n,
                            size_t *over);

/* Take each use's units from its cluster's budget, all or none: false (nothing taken)
 * when one cluster's bucket holds fewer — *over its index in u, *retry_s whole seconds
 * (≥ 1) before it holds enough. A bucket holds one second's worth; a request larger
 * than that passes when the bucket is full (the bucket then goes negative). */
bool km_clusters_take(struct km_clusters *c, enum km_cluster_budget b,
                      const struct km_cluster_use *u, size_t n, size_t *over, int64_t *retry_s);

/* Count what was accepted (received) or answered 429 (limited), per cluster. Accepted
 * also notes the time of the cluster's last write. */
void km_clusters_note(struct km_clusters *c, enum km_cluster_budget b,
                      const struct km_cluster_use *u, size_t n, bool limited);

/* n series created for a cluster. */
void km_clusters_created(struct km_clusters *c, uint32_t slot, uint64_t n);

/* Count the series of every cluster with samples in [mint, maxt] (the head's span)
 * through a labels-only selection, and make that each cluster's series count (plus the
 * series created meanwhile). Runs one at a time (a second caller returns at once). */
int km_clusters_reconcile(struct km_clusters *c, struct km_storage *store, int64_t mint,
                          int64_t maxt);

/* A cluster's series count as the table holds it (tests, messages). */
uint64_t km_clusters_series(const struct km_clusters *c, uint32_t slot);

/* kmon_cluster_* families and the limits as gauges. */
void km_clusters_metrics(struct km_clusters *c, struct km_mset *m);

#endif
