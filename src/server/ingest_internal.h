/*
 * ingest_internal — the ingest object shared by ingest.c (common parts, limits,
 * counters), ingest_rw.c (remote_write) and ingest_json.c (the prototype's JSON).
 * Internal to the server.
 */
#ifndef KMON_SERVER_INGEST_INTERNAL_H
#define KMON_SERVER_INGEST_INTERNAL_H

#include "common/log.h"
#include "ingest.h"
#include "ingest_cluster.h"
#include "series_cache.h"
#include "storage/storage.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#define KM_INGEST_LOG "ingest"

enum km_ingest_source {
    KM_SRC_REMOTE_WRITE,
    KM_SRC_JSON,
    KM_SRC_CLUSTER_STATE,
    KM_SRC_RULES,
    KM_SRC_SELF,
    KM_SRC_OTLP,
    KM_SRC_COUNT
};

struct km_ingest {
    struct km_storage *store;
    struct km_ingest_opts o;
    struct km_series_cache *cache;
    struct km_clusters *clusters;
    /* Recounting series per cluster (recount_main) until `stopping`. */
    pthread_t recount;
    pthread_mutex_t recount_mu;
    pthread_cond_t recount_cv;
    bool stopping;
    pthread_key_t scratch_key; /* per-thread remote_write buffers */
    /* Token bucket for max_samples_per_s; may go negative by one request. */
    pthread_mutex_t rate_mu;
    double tokens;
    int64_t refill_ns;
    /* Counters. */
    atomic_uint_fast64_t requests[KM_SRC_COUNT], refused[KM_SRC_COUNT];
    atomic_uint_fast64_t limited; /* 429 answers */
    atomic_uint_fast64_t samples[KM_SRC_COUNT];
    atomic_uint_fast64_t appended, duplicate, too_old, too_new, out_of_retention, conflicting;
    atomic_uint_fast64_t series_created;
    atomic_uint_fast64_t partial; /* requests answered 400 for refused samples */
    struct km_log_limit refusal_log;
    atomic_uint_fast64_t stale_refs;
    atomic_uint_fast64_t exemplars, histograms;      /* received, not stored */
    atomic_uint_fast64_t metadata, metadata_dropped; /* entries received; not stored */
    atomic_uint_fast64_t body_bytes, decoded_bytes;
    atomic_int_fast64_t last_ms;
    km_ingest_forward_fn forward; /* km_ingest_set_forward(), or NULL */
    void *forward_ud;
};

/* Give the samples of an append to the forwarding tap, if any (see ingest.h). */
static inline void km_ingest_tap(struct km_ingest *in, const struct km_sample *s, size_t n,
                                 const enum km_sample_status *st)
{
    if (in->forward && n)
        in->forward(in->forward_ud, s, n, st);
}

/* The samples of one request the database refused, by reason, with the first one as
 * an example for the answer. */
struct km_ingest_refusals {
    uint64_t received;             /* samples in the request */
    uint64_t n[KM_SAMPLE_NSTATUS]; /* by km_sample_status */
    uint64_t total;
    enum km_sample_status example_status;
    int64_t example_t;
    char example_series[400];
};

/* Count one sample's outcome; true when it is a refusal and the first one (the caller
 * then fills example_series). */
bool km_ingest_refusals_add(struct km_ingest_refusals *r, enum km_sample_status st, int64_t t);

/* Answer a request whose samples were all appended (204), or, when some were refused,
 * 400 with a sentence that counts them by reason and shows the example (the accepted
 * ones stay stored); refusals are logged at warn, at most once per 10 s, with the
 * sender's address. `what` names the protocol in the log. */
void km_ingest_answer(struct km_ingest *in, struct km_http_req *req,
                      const struct km_ingest_refusals *r, const char *what);

/* Take n samples from the rate budget. False (and *retry_s, whole seconds ≥ 1) when the
 * sender must slow down. */
bool km_ingest_rate_take(struct km_ingest *in, uint64_t n, int64_t *retry_s);

/* The limits of one request's clusters (u[0..n), KM_CLUSTER_SAMPLES) before anything is
 * stored: new series within each cluster's cap, samples within its rate. False after
 * answering 429 (Retry-After, a message naming the cluster and the limit) and counting
 * the request's samples as limited; true after counting them as received. */
bool km_ingest_cluster_admit(struct km_ingest *in, struct km_http_req *req,
                             const struct km_cluster_use *u, size_t n);

/* A labels-only view of the head's span (NULL on error), to ask km_ingest_series_exists
 * of series a cluster at its series cap sends: a series the remote_write cache does not
 * know (after a restart, an eviction) may exist, and is then no new series. */
struct km_querier *km_ingest_head_querier(struct km_ingest *in);
/* Whether the view holds a series with exactly these labels (sorted). Errors: false. */
bool km_ingest_series_exists(struct km_querier *q, const struct km_label *l, size_t n);

/* Count an append's outcome and note the time of the last stored data. */
void km_ingest_count(struct km_ingest *in, const struct km_append_result *res);

/* A label value (or name) a client sent is stored only if it is valid UTF-8 without
 * NUL and at most the configured length. 0, or KM_EINVAL with a sentence. */
int km_ingest_check_value(const struct km_ingest *in, const char *what, const char *s, size_t n);

/* Text a client sent (metadata help, unit) is stored only if it is valid UTF-8 without
 * NUL. 0, or KM_EINVAL with a sentence naming `what`. */
int km_ingest_check_text(const char *what, const char *s, size_t n);

/* Per-thread scratch of the remote_write handler (ingest_rw.c). */
void km_ingest_rw_scratch_free(void *scratch);

#endif
