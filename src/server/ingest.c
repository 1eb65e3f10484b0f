/*
 * ingest — the parts every ingest path shares (see ingest.h): the object, the rate
 * budget, value checks, outcome counters and the kmon_ingest_* metrics.
 */
#include "ingest_internal.h"

#include "common/err.h"
#include "common/http_server.h"
#include "common/log.h"
#include "common/mset.h"
#include "common/numfmt.h"
#include "common/timefmt.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Series per cluster are recounted from the store at least this often, and at most once
 * per 20 times what a recount took (its cost stays under 5% of a core). */
#define RECOUNT_MIN_NS (30 * 1000000000ll)

/* The span of the database's head, which the series per cluster are counted over. */
static int64_t head_span_ms(const struct km_ingest_opts *o)
{
    return o->head_span_ms > 0 ? o->head_span_ms : 3 * 3600 * 1000ll;
}

/* The thread recounting series per cluster over the head's span. */
static void *recount_main(void *p)
{
    struct km_ingest *in = p;
    int64_t span = head_span_ms(&in->o);
    int64_t wait_ns = RECOUNT_MIN_NS; /* the first count ran in km_ingest_create() */

    pthread_mutex_lock(&in->recount_mu);
    while (!in->stopping) {
        struct timespec until;
        int64_t t0, took;

        if (wait_ns) {
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += (time_t)(wait_ns / 1000000000ll);
            pthread_cond_timedwait(&in->recount_cv, &in->recount_mu, &until);
            if (in->stopping)
                break;
        }
        pthread_mutex_unlock(&in->recount_mu);
        t0 = km_time_mono_ns();
        if (km_clusters_reconcile(in->clusters, in->store, km_time_now_ns() / 1000000 - span,
                                  INT64_MAX) != 0)
            km_log_warn(KM_INGEST_LOG, "counting series per cluster: %s", km_err_msg());
        took = km_time_mono_ns() - t0;
        wait_ns = took * 20 > RECOUNT_MIN_NS ? took * 20 : RECOUNT_MIN_NS;
        pthread_mutex_lock(&in->recount_mu);
    }
    pthread_mutex_unlock(&in->recount_mu);
    return NULL;
}

int km_ingest_create(struct km_ingest **out, struct km_storage *store,
                     const struct km_ingest_opts *o)
{
    struct km_ingest *in = calloc(1, sizeof(*in));
    struct km_clusters_opts co = {
        .max_series = o->max_series_per_cluster,
        .max_samples_per_s = o->max_samples_per_s_per_cluster,
        .max_log_bytes_per_s = o->max_log_bytes_per_s_per_cluster,
    };
    int rc;

    if (!in)
        return km_err_set(KM_ENOMEM, "out of memory");
    in->store = store;
    in->o = *o;
    rc = km_series_cache_create(&in->cache, o->series_cache_bytes);
    if (rc)
        goto free_in;
    rc = km_clusters_create(&in->clusters, &co);
    if (rc)
        goto destroy_cache;
    if (pthread_key_create(&in->scratch_key, km_ingest_rw_scratch_free) != 0) {
        rc = km_err_set(KM_ENOMEM, "out of thread-specific keys");
        goto destroy_clusters;
    }
    pthread_mutex_init(&in->rate_mu, NULL);
    pthread_mutex_init(&in->recount_mu, NULL);
    pthread_cond_init(&in->recount_cv, NULL);
    /* The first count before ingest serves anything: the head holds what the WAL
     * replayed, and no request races with it. */
    if (km_clusters_reconcile(in->clusters, in->store, km_time_now_ns() / 1000000 - head_span_ms(o),
                              INT64_MAX) != 0)
        km_log_warn(KM_INGEST_LOG, "counting series per cluster: %s", km_err_msg());
    if (pthread_create(&in->recount, NULL, recount_main, in) != 0) {
        rc = km_err_set(KM_ENOMEM, "cannot start the thread counting series per cluster");
        goto destroy_sync;
    }
    in->refusal_log.period_ns = 10 * 1000000000ll;
    in->tokens = o->max_samples_per_s * 2;
    in->refill_ns = km_time_mono_ns();
    *out = in;
    return 0;

destroy_sync:
    pthread_cond_destroy(&in->recount_cv);
    pthread_mutex_destroy(&in->recount_mu);
    pthread_mutex_destroy(&in->rate_mu);
    pthread_key_delete(in->scratch_key);
destroy_clusters:
    km_clusters_destroy(in->clusters);
destroy_cache:
    km_series_cache_destroy(in->cache);
free_in:
    free(in);
    return rc;
}

void km_ingest_destroy(struct km_ingest *in)
{
    if (!in)
        return;
    pthread_mutex_lock(&in->recount_mu);
    in->stopping = true;
    pthread_cond_signal(&in->recount_cv);
    pthread_mutex_unlock(&in->recount_mu);
    pthread_join(in->recount, NULL);
    /* The HTTP threads are gone by now; their scratch went with them (key destructor).
     * This thread's, if it ever handled a request, goes here. */
    km_ingest_rw_scratch_free(pthread_getspecific(in->scratch_key));
    pthread_key_delete(in->scratch_key);
    pthread_cond_destroy(&in->recount_cv);
    pthread_mutex_destroy(&in->recount_mu);
    pthread_mutex_destroy(&in->rate_mu);
    km_clusters_destroy(in->clusters);
    km_series_cache_destroy(in->cache);
    free(in);
}

struct km_clusters *km_ingest_clusters(struct km_ingest *in)
{
    return in->clusters;
}

/* ---- clusters ------------------------------------------------------------------------ */

int km_ingest_bind_cluster(struct km_label *l, size_t *n, size_t cap, const char *cluster)
{
    size_t at = *n;

    if (!cluster)
        return 0;
    for (size_t i = 0; i < *n; i++) {
        int c = strcmp(l[i].name, "cluster");

        if (c == 0) {
            l[i].value = cluster;
            return 0;
        }
        if (c > 0 && at == *n)
            at = i;
    }
    if (*n >= cap)
        return km_err_set(KM_ELIMIT, "no room for the label cluster (at most %zu labels)", cap);
    memmove(l + at + 1, l + at, (*n - at) * sizeof(*l));
    l[at] = (struct km_label){ "cluster", cluster };
    (*n)++;
    return 0;
}

struct km_querier *km_ingest_head_querier(struct km_ingest *in)
{
    int64_t span = head_span_ms(&in->o);
    struct km_querier *q = NULL;

    if (km_querier_open(in->store, km_time_now_ns() / 1000000 - span, INT64_MAX, &q) != 0)
        return NULL;
    return q;
}

bool km_ingest_series_exists(struct km_querier *q, const struct km_label *l, size_t n)
{
    struct km_select_hints hints = { .labels_only = true };
    struct km_matcher **m = calloc(n + 1, sizeof(*m));
    struct km_series_set *set = NULL;
    bool found = false;
    size_t k = 0;

    while (m && k < n && km_matcher_create(&m[k], KM_MATCH_EQ, l[k].name, l[k].value) == 0)
        k++;
    if (m && k == n && n && km_querier_select(q, m, k, &hints, &set) == 0) {
        while (!found && km_series_next(set))
            found = km_series_labels(set)->n == n;
        km_series_set_close(set);
    }
    for (size_t i = 0; i < k; i++)
        km_matcher_destroy(m[i]);
    free(m);
    return found;
}

bool km_ingest_cluster_admit(struct km_ingest *in, struct km_http_req *req,
                             const struct km_cluster_use *u, size_t n)
{
    const struct km_clusters_opts *co = km_clusters_opts(in->clusters);
    int64_t retry_s = 1;
    size_t over = 0;
    char ra[24];

    if (!km_clusters_series_fit(in->clusters, u, n, &over)) {
        km_clusters_note(in->clusters, KM_CLUSTER_SAMPLES, u, n, true);
        atomic_fetch_add(&in->limited, 1);
        km_http_req_add_header(req, "Retry-After", "60");
        km_http_respond_error(req, 429,
                              "cluster \"%s\" has %llu series and its limit is %llu "
                              "(--max-series-per-cluster): %llu new series refused",
                              km_clusters_name(in->clusters, u[over].slot),
                              (unsigned long long)km_clusters_series(in->clusters, u[over].slot),
                              (unsigned long long)co->max_series,
                              (unsigned long long)u[over].new_series);
        return false;
    }
    if (!km_clusters_take(in->clusters, KM_CLUSTER_SAMPLES, u, n, &over, &retry_s)) {
        km_clusters_note(in->clusters, KM_CLUSTER_SAMPLES, u, n, true);
        atomic_fetch_add(&in->limited, 1);
        snprintf(ra, sizeof(ra), "%lld", (long long)retry_s);
        km_http_req_add_header(req, "Retry-After", ra);
        km_http_respond_error(req, 429,
                              "cluster \"%s\" is over its ingest rate limit of %.0f samples/s "
                              "(--max-samples-per-second-per-cluster): retry in %lld s",
                              km_clusters_name(in->clusters, u[over].slot), co->max_samples_per_s,
                              (long long)retry_s);
        return false;
    }
    km_clusters_note(in->clusters, KM_CLUSTER_SAMPLES, u, n, false);
    return true;
}

bool km_ingest_rate_take(struct km_ingest *in, uint64_t n, int64_t *retry_s)
{
    double rate = in->o.max_samples_per_s;
    int64_t now;
    bool ok;

    if (rate <= 0)
        return true;
    pthread_mutex_lock(&in->rate_mu);
    now = km_time_mono_ns();
    in->tokens += rate * (double)(now - in->refill_ns) / 1e9;
    if (in->tokens > rate * 2)
        in->tokens = rate * 2; /* two seconds of burst */
    in->refill_ns = now;
    ok = in->tokens > 0;
    if (ok)
        in->tokens -= (double)n; /* a request larger than the budget still passes, once */
    else
        *retry_s = (int64_t)ceil(-in->tokens / rate) + 1;
    pthread_mutex_unlock(&in->rate_mu);
    return ok;
}

void km_ingest_count(struct km_ingest *in, const struct km_append_result *res)
{
    atomic_fetch_add(&in->appended, res->appended);
    atomic_fetch_add(&in->duplicate, res->duplicate);
    atomic_fetch_add(&in->too_old, res->too_old);
    atomic_fetch_add(&in->too_new, res->too_new);
    atomic_fetch_add(&in->out_of_retention, res->out_of_retention);
    atomic_fetch_add(&in->conflicting, res->conflicting);
    atomic_fetch_add(&in->series_created, res->series_created);
    if (res->appended || res->duplicate)
        atomic_store(&in->last_ms, km_time_now_ns() / 1000000);
}

/* ---- refused samples --------------------------------------------------------------------- */

bool km_ingest_refusals_add(struct km_ingest_refusals *r, enum km_sample_status st, int64_t t)
{
    if (st == KM_SAMPLE_APPENDED || st == KM_SAMPLE_DUPLICATE || st > KM_SAMPLE_OUT_OF_RETENTION)
        return false;
    r->n[st]++;
    if (r->total++)
        return false;
    r->example_status = st;
    r->example_t = t;
    r->example_series[0] = '\0';
    return true;
}

/* Why a reason refuses, with the bound it applies. */
static void describe(struct km_ingest *in, enum km_sample_status st, char *out, size_t size)
{
    struct km_storage_info info;
    char d[32];

    km_storage_info(in->store, &info);
    switch (st) {
    case KM_SAMPLE_TOO_NEW:
        km_duration_format(d, sizeof(d), info.max_future_ms);
        snprintf(out, size, "too far in the future (more than %s ahead of the server's clock)", d);
        break;
    case KM_SAMPLE_OUT_OF_RETENTION:
        km_duration_format(d, sizeof(d), info.retention_ms);
        snprintf(out, size, "older than the retention (%s)", d);
        break;
    case KM_SAMPLE_TOO_OLD:
        km_duration_format(d, sizeof(d), info.ooo_window_ms);
        snprintf(out, size, "too old for their series (more than %s behind its newest sample)", d);
        break;
    default:
        snprintf(out, size, "%s", km_sample_status_str(st));
        break;
    }
}

/* The sentence: how many of how many, by reason, and the example. */
static void refusal_sentence(struct km_ingest *in, const struct km_ingest_refusals *r, char *out,
                             size_t size)
{
    static const enum km_sample_status order[] = { KM_SAMPLE_TOO_NEW, KM_SAMPLE_OUT_OF_RETENTION,
                                                   KM_SAMPLE_TOO_OLD, KM_SAMPLE_CONFLICTING,
                                                   KM_SAMPLE_INVALID };
    char why[160], when[48];
    size_t k = 0;
    bool first = true;

    if (r->total == r->received)
        k += (size_t)snprintf(out + k, size - k, "%llu of %llu samples refused, none stored:",
                              (unsigned long long)r->total, (unsigned long long)r->received);
    else
        k += (size_t)snprintf(out + k, size - k,
                              "%llu of %llu samples refused (the other %llu were stored):",
                              (unsigned long long)r->total, (unsigned long long)r->received,
                              (unsigned long long)(r->received - r->total));
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]) && k < size; i++) {
        if (!r->n[order[i]])
            continue;
        describe(in, order[i], why, sizeof(why));
        k += (size_t)snprintf(out + k, size - k, "%s %llu %s", first ? "" : ",",
                              (unsigned long long)r->n[order[i]], why);
        first = false;
    }
    if (k < size)
        snprintf(out + k, size - k, ". For example %s at %s (%lld ms): %s.", r->example_series,
                 km_time_format_ms(when, sizeof(when), r->example_t), (long long)r->example_t,
                 km_sample_status_str(r->example_status));
}

void km_ingest_answer(struct km_ingest *in, struct km_http_req *req,
                      const struct km_ingest_refusals *r, const char *what)
{
    char msg[1400], peer[80];
    uint64_t held;

    if (r->total == 0) {
        km_http_respond(req, 204, NULL, "", 0);
        return;
    }
    refusal_sentence(in, r, msg, sizeof(msg));
    atomic_fetch_add(&in->partial, 1);
    if (km_log_limit_take(&in->refusal_log, &held)) {
        if (held)
            km_log_warn(KM_INGEST_LOG, "%s from %s: %s (and %llu more such requests)", what,
                        km_http_req_peer(req, peer, sizeof(peer)), msg, (unsigned long long)held);
        else
            km_log_warn(KM_INGEST_LOG, "%s from %s: %s", what,
                        km_http_req_peer(req, peer, sizeof(peer)), msg);
    }
    km_http_respond_error(req, 400, "%s", msg);
}

/* ---- values -------------------------------------------------------------------------------- */

int km_ingest_check_value(const struct km_ingest *in, const char *what, const char *s, size_t n)
{
    if (n > in->o.max_label_value_bytes)
        return km_err_set(KM_EINVAL, "%s is %zu bytes long (at most %zu)", what, n,
                          in->o.max_label_value_bytes);
    return km_ingest_check_text(what, s, n);
}

int km_ingest_check_text(const char *what, const char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        size_t k;

        if (s[i] == '\0')
            return km_err_set(KM_EINVAL, "%s contains a NUL byte", what);
        k = km_utf8_seq_len((const unsigned char *)s + i, n - i);
        if (k == 0)
            return km_err_set(KM_EINVAL, "%s is not valid UTF-8 (byte %zu)", what, i);
        i += k;
    }
    return 0;
}

void km_ingest_set_forward(struct km_ingest *in, km_ingest_forward_fn fn, void *ud)
{
    in->forward = fn;
    in->forward_ud = ud;
}

int64_t km_ingest_last_ms(const struct km_ingest *in)
{
    return atomic_load(&in->last_ms);
}

void km_ingest_metrics(struct km_ingest *in, struct km_mset *m)
{
    static const char *const src[] = { "remote_write", "json", "cluster_state",
                                       "rules",        "self", "otlp" };
    struct km_series_cache_stats cs;
    int f;

    f = km_mset_family(m, "kmon_ingest_requests_total", "Ingest requests received, by protocol.",
                       KM_MT_COUNTER, 0);
    for (int i = 0; i < KM_SRC_COUNT; i++)
        km_mset_add(m, f, &(struct km_label){ "protocol", src[i] }, 1,
                    (double)atomic_load(&in->requests[i]));
    f = km_mset_family(m, "kmon_ingest_requests_refused_total",
                       "Ingest requests refused as malformed or invalid (4xx), by protocol.",
                       KM_MT_COUNTER, 0);
    for (int i = 0; i < KM_SRC_COUNT; i++)
        km_mset_add(m, f, &(struct km_label){ "protocol", src[i] }, 1,
                    (double)atomic_load(&in->refused[i]));
    km_mset_add(m,
                km_mset_family(m, "kmon_ingest_requests_partial_total",
                               "Ingest requests answered 400 because some of their samples were "
                               "refused (the others were stored).",
                               KM_MT_COUNTER, 0),
                NULL, 0, (double)atomic_load(&in->partial));
    km_mset_add(m,
                km_mset_family(m, "kmon_ingest_requests_limited_total",
                               "Ingest requests answered 429 (rate or series limit).",
                               KM_MT_COUNTER, 0),
                NULL, 0, (double)atomic_load(&in->limited));
    f = km_mset_family(m, "kmon_ingest_samples_received_total",
                       "Samples in accepted ingest requests, by protocol.", KM_MT_COUNTER, 0);
    for (int i = 0; i < KM_SRC_COUNT; i++)
        km_mset_add(m, f, &(struct km_label){ "protocol", src[i] }, 1,
                    (double)atomic_load(&in->samples[i]));
    f = km_mset_family(m, "kmon_ingest_samples_total",
                       "What became of received samples: stored, duplicate (already stored), "
                       "or refused: too_old (behind its series' newest by more than the "
                       "out-of-order window), too_new (beyond the future bound), "
                       "out_of_retention, conflicting.",
                       KM_MT_COUNTER, 0);
    km_mset_add(m, f, &(struct km_label){ "outcome", "stored" }, 1,
                (double)atomic_load(&in->appended));
    km_mset_add(m, f, &(struct km_label){ "outcome", "duplicate" }, 1,
                (double)atomic_load(&in->duplicate));
    km_mset_add(m, f, &(struct km_label){ "outcome", "too_old" }, 1,
                (double)atomic_load(&in->too_old));
    km_mset_add(m, f, &(struct km_label){ "outcome", "too_new" }, 1,
                (double)atomic_load(&in->too_new));
    km_mset_add(m, f, &(struct km_label){ "outcome", "out_of_retention" }, 1,
                (double)atomic_load(&in->out_of_retention));
    km_mset_add(m, f, &(struct km_label){ "outcome", "conflicting" }, 1,
                (double)atomic_load(&in->conflicting));
    f = km_mset_family(m, "kmon_ingest_not_stored_total",
                       "Remote-write content received but not stored: exemplars, native "
                       "histograms, and metadata entries that are invalid or that the store "
                       "keeps none of.",
                       KM_MT_COUNTER, 0);
    km_mset_add(m, f, &(struct km_label){ "kind", "exemplar" }, 1,
                (double)atomic_load(&in->exemplars));
    km_mset_add(m, f, &(struct km_label){ "kind", "histogram" }, 1,
                (double)atomic_load(&in->histograms));
    km_mset_add(m, f, &(struct km_label){ "kind", "metadata" }, 1,
                (double)atomic_load(&in->metadata_dropped));
    km_mset_add(m,
                km_mset_family(m, "kmon_ingest_metadata_received_total",
                               "Metric metadata entries (TYPE, HELP, UNIT) received by "
                               "remote_write.",
                               KM_MT_COUNTER, 0),
                NULL, 0, (double)atomic_load(&in->metadata));
    km_mset_add(m,
                km_mset_family(m, "kmon_ingest_series_created_total", "Series created by ingest.",
                               KM_MT_COUNTER, 0),
                NULL, 0, (double)atomic_load(&in->series_created));
    km_mset_add(m,
                km_mset_family(m, "kmon_ingest_body_bytes_total",
                               "Remote-write request bytes received (compressed).", KM_MT_COUNTER,
                               0),
                NULL, 0, (double)atomic_load(&in->body_bytes));
    km_mset_add(m,
                km_mset_family(m, "kmon_ingest_decoded_bytes_total",
                               "Remote-write request bytes after snappy.", KM_MT_COUNTER, 0),
                NULL, 0, (double)atomic_load(&in->decoded_bytes));
    km_series_cache_stats(in->cache, &cs);
    km_mset_gauge(m, "kmon_ingest_series_cache_entries",
                  "Label sets the remote-write series cache remembers.", (double)cs.entries);
    km_mset_gauge(m, "kmon_ingest_series_cache_bytes", "Memory of the remote-write series cache.",
                  (double)cs.bytes);
    f = km_mset_family(m, "kmon_ingest_series_cache_lookups_total",
                       "Series cache lookups, by result.", KM_MT_COUNTER, 0);
    km_mset_add(m, f, &(struct km_label){ "result", "hit" }, 1, (double)cs.hits);
    km_mset_add(m, f, &(struct km_label){ "result", "miss" }, 1, (double)cs.misses);
    if (atomic_load(&in->last_ms))
        km_mset_gauge(m, "kmon_ingest_last_success_timestamp_seconds",
                      "When an ingest request last stored something.",
                      (double)atomic_load(&in->last_ms) / 1000.0);
    km_clusters_metrics(in->clusters, m);
}
