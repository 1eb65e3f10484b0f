/*
 * ingest — everything that writes into the server's database: Prometheus remote_write
 * (POST /api/v1/write) and the prototype's JSON endpoints (POST
 * /api/nodes/<node>/metrics, POST /api/namespaces/<ns>/pods/<pod>/metrics).
 *
 * A request is checked whole before anything is stored: a bad one answers 4xx with a
 * message and changes nothing. Limits: the body size (the HTTP server's cap), what a
 * body may expand to, labels per series, label value length, a cap on series in the
 * database and on samples per second (429 with Retry-After), and the same per cluster
 * (ingest_cluster.h). A write token bound to a cluster labels everything it writes with
 * that cluster (km_ingest_bind_cluster). Samples the database
 * refuses (too old, conflicting) are counted, not errors: the sender could do nothing
 * else with them.
 *
 * Threads: the handlers run on the HTTP server's threads, concurrently.
 */
#ifndef KMON_SERVER_INGEST_H
#define KMON_SERVER_INGEST_H

#include "storage/sample.h"

#include <stddef.h>
#include <stdint.h>

struct km_storage;
struct km_http_req;
struct km_mset;

struct km_ingest_opts {
    size_t max_decoded_bytes;     /* a remote_write body may expand to this (snappy) */
    uint64_t max_series;          /* series in the database's head (0: no cap) */
    double max_samples_per_s;     /* sustained ingest rate (0: no cap) */
    size_t series_cache_bytes;    /* remote_write label bytes → series cache */
    size_t max_label_value_bytes; /* longer values are refused */
    /* Per cluster (the write token's, else each series' label `cluster`; "" for none);
     * 0: no cap. See ingest_cluster.h. */
    uint64_t max_series_per_cluster;        /* series in the head */
    double max_samples_per_s_per_cluster;   /* samples per second */
    double max_log_bytes_per_s_per_cluster; /* Loki push line bytes per second */
    int64_t head_span_ms; /* the head's span, to recount series per cluster (0: 3h) */
};

struct km_ingest;

int km_ingest_create(struct km_ingest **out, struct km_storage *store,
                     const struct km_ingest_opts *o);
/* Accepts NULL. */
void km_ingest_destroy(struct km_ingest *in);

/* HTTP handlers; ud is the km_ingest. */
void km_ingest_remote_write(struct km_http_req *req, void *ud);
void km_ingest_node_json(struct km_http_req *req, void *ud);
void km_ingest_pod_json(struct km_http_req *req, void *ud);

/* What became of a metric set given to km_ingest_mset. */
struct km_ingest_mset_result {
    uint64_t received, stored, refused_labels, refused_time, refused_other, limited;
};

/* Append an in-process producer's metric set (the cluster-state collector's emission)
 * with remote_write's checks and limits: label names and values (length, UTF-8), labels
 * per series, empty values dropped, the clock's window (the future bound, the
 * retention), the series cap (at the cap nothing of the set is stored, as a
 * remote_write request answered 429); counted as protocol "cluster_state". Each sample keeps its
 * timestamp. 0, or the store's error (the write-ahead log could not be written). */
int km_ingest_mset(struct km_ingest *in, const struct km_mset *m, struct km_ingest_mset_result *r);

/* The same for the server's own metrics (its self-scrape): `extra` labels (job, instance)
 * added to every sample; counted as protocol "self". */
struct km_label;
int km_ingest_mset_self(struct km_ingest *in, const struct km_mset *m, const struct km_label *extra,
                        size_t nextra, struct km_ingest_mset_result *r);

/* Append samples the rules computed (recording rules' results, ALERTS), with their labels
 * already sorted and checked: values' length and UTF-8, the clock's window and the series
 * cap as for remote_write; counted as protocol "rules". 0, or the store's error. */
struct km_sample;
int km_ingest_samples(struct km_ingest *in, const struct km_sample *s, size_t n,
                      struct km_ingest_mset_result *r);

/* Forwarding (--remote-write-url): after each append, fn is given the samples handed to
 * the store with their statuses (st may be NULL: all appended); it takes those
 * KM_SAMPLE_APPENDED — neither duplicates nor refused ones — and must not block. Set
 * once, before ingest serves requests. Every path but the self-scrape feeds it. */
typedef void (*km_ingest_forward_fn)(void *ud, const struct km_sample *s, size_t n,
                                     const enum km_sample_status *st);
void km_ingest_set_forward(struct km_ingest *in, km_ingest_forward_fn fn, void *ud);

/* The cluster binding of every ingest path (remote_write, JSON, Loki push, OTLP): when
 * `cluster` (km_auth_write_cluster() of the request) is not NULL, the label `cluster` of
 * l[0..*n) is set to it, replacing the value sent, or inserted before the first label
 * whose name sorts after it (a sorted array stays sorted); l has room for `cap` labels.
 * NULL: nothing changes. 0, or KM_ELIMIT (with a message) when a label must be added and
 * *n == cap. The strings are borrowed: `cluster` must outlive the array's use. */
struct km_label;
int km_ingest_bind_cluster(struct km_label *l, size_t *n, size_t cap, const char *cluster);

/* The per-cluster table (budgets, series counts, figures), which the Loki push handler
 * shares. */
struct km_clusters;
struct km_clusters *km_ingest_clusters(struct km_ingest *in);

/* Milliseconds since the epoch of the last request that stored something (0: none). */
int64_t km_ingest_last_ms(const struct km_ingest *in);

/* kmon_ingest_* and kmon_cluster_* families. */
void km_ingest_metrics(struct km_ingest *in, struct km_mset *m);

#endif
