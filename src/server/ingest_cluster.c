/*
 * ingest_cluster — the per-cluster table of ingest (see ingest_cluster.h): names to
 * entries (an open-addressing index under a rwlock; entries never move or go away),
 * token buckets under one mutex, counters as atomics, series counts reconciled with
 * the store.
 */
#include "ingest_cluster.h"

#include "common/err.h"
#include "common/labels.h"
#include "common/mset.h"
#include "common/timefmt.h"
#include "logs/logtypes.h"
#include "storage/storage.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct bucket {
    double tokens;
    int64_t refill_ns; /* 0: never used (starts full) */
};

struct entry {
    char *name;
    struct bucket b[2]; /* by enum km_cluster_budget, under c->mu */
    atomic_uint_fast64_t received[2], limited[2];
    atomic_int_fast64_t last_ms;
    /* Series in the head: `base` as last counted, plus what was created since. */
    atomic_int_fast64_t base;
    atomic_uint_fast64_t created, created_base;
};

struct km_clusters {
    struct km_clusters_opts o;
    pthread_rwlock_t index_lock;
    uint32_t *index; /* slot + 1 by name hash (0: empty); nindex = 2 * max */
    size_t nindex;
    struct entry **e; /* [max + 1]: e[max] is the shared entry */
    atomic_size_t n;  /* entries in use below max */
    pthread_mutex_t mu;
    atomic_flag reconciling;
};

static struct entry *entry_new(const char *name, size_t len)
{
    struct entry *e = calloc(1, sizeof(*e));

    if (!e)
        return NULL;
    e->name = strndup(name, len);
    if (!e->name) {
        free(e);
        return NULL;
    }
    return e;
}

int km_clusters_create(struct km_clusters **out, const struct km_clusters_opts *o)
{
    struct km_clusters *c = calloc(1, sizeof(*c));

    if (!c)
        return km_err_set(KM_ENOMEM, "out of memory");
    c->o = *o;
    if (!c->o.max_clusters)
        c->o.max_clusters = KM_CLUSTERS_MAX;
    for (c->nindex = 16; c->nindex < 2 * c->o.max_clusters; c->nindex *= 2)
        ;
    c->index = calloc(c->nindex, sizeof(*c->index));
    c->e = calloc(c->o.max_clusters + 1, sizeof(*c->e));
    if (!c->index || !c->e)
        goto fail_free;
    c->e[c->o.max_clusters] = entry_new(KM_CLUSTER_OTHER, strlen(KM_CLUSTER_OTHER));
    if (!c->e[c->o.max_clusters])
        goto fail_free;
    pthread_rwlock_init(&c->index_lock, NULL);
    pthread_mutex_init(&c->mu, NULL);
    atomic_flag_clear(&c->reconciling);
    *out = c;
    return 0;

fail_free:
    free(c->index);
    free(c->e);
    free(c);
    return km_err_set(KM_ENOMEM, "out of memory");
}

void km_clusters_destroy(struct km_clusters *c)
{
    if (!c)
        return;
    for (size_t i = 0; i <= c->o.max_clusters; i++) {
        if (c->e[i])
            free(c->e[i]->name);
        free(c->e[i]);
    }
    free(c->e);
    free(c->index);
    pthread_rwlock_destroy(&c->index_lock);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

const struct km_clusters_opts *km_clusters_opts(const struct km_clusters *c)
{
    return &c->o;
}

/* The index position of name (its slot + 1 there), or of the empty place for it. */
static size_t probe(const struct km_clusters *c, const char *name, size_t len)
{
    size_t i = (size_t)XXH3_64bits(name, len) & (c->nindex - 1);

    for (;; i = (i + 1) & (c->nindex - 1)) {
        uint32_t s = c->index[i];

        if (!s)
            return i;
        if (strlen(c->e[s - 1]->name) == len && memcmp(c->e[s - 1]->name, name, len) == 0)
            return i;
    }
}

uint32_t km_clusters_slot(struct km_clusters *c, const char *name, size_t len)
{
    uint32_t other = (uint32_t)c->o.max_clusters, slot;
    size_t i;

    pthread_rwlock_rdlock(&c->index_lock);
    slot = c->index[probe(c, name, len)];
    pthread_rwlock_unlock(&c->index_lock);
    if (slot)
        return slot - 1;
    pthread_rwlock_wrlock(&c->index_lock);
    i = probe(c, name, len);
    slot = c->index[i];
    if (!slot) {
        size_t n = atomic_load(&c->n);
        struct entry *e = n < c->o.max_clusters ? entry_new(name, len) : NULL;

        if (e) {
            c->e[n] = e;
            atomic_store(&c->n, n + 1);
            c->index[i] = (uint32_t)n + 1;
            slot = (uint32_t)n + 1;
        }
    }
    pthread_rwlock_unlock(&c->index_lock);
    return slot ? slot - 1 : other;
}

const char *km_clusters_name(const struct km_clusters *c, uint32_t slot)
{
    return c->e[slot]->name;
}

bool km_cluster_use_add(struct km_cluster_use *u, size_t *nu, size_t cap, uint32_t slot, uint64_t n,
                        uint64_t new_series)
{
    size_t i = *nu;

    /* Requests mostly hold one cluster: look from the most recent. */
    while (i > 0 && u[i - 1].slot != slot)
        i--;
    if (i == 0) {
        if (*nu == cap)
            return false;
        u[(*nu)++] = (struct km_cluster_use){ slot, 0, 0 };
        i = *nu;
    }
    u[i - 1].n += n;
    u[i - 1].new_series += new_series;
    return true;
}

void km_clusters_log_uses(struct km_clusters *c, const struct km_log_push_stream *st, size_t n,
                          struct km_cluster_use *u, size_t *nu)
{
    *nu = 0;
    for (size_t i = 0; i < n; i++) {
        const char *v = "";
        uint64_t bytes = 0;

        for (size_t k = 0; k < st[i].n_labels; k++)
            if (strcmp(st[i].labels[k].name, "cluster") == 0)
                v = st[i].labels[k].value;
        for (size_t k = 0; k < st[i].n_entries; k++)
            bytes += st[i].entries[k].len;
        km_cluster_use_add(u, nu, n, km_clusters_slot(c, v, strlen(v)), bytes, 0);
    }
}

uint64_t km_clusters_series(const struct km_clusters *c, uint32_t slot)
{
    const struct entry *e = c->e[slot];
    int64_t v =
        atomic_load(&e->base) + (int64_t)(atomic_load(&e->created) - atomic_load(&e->created_base));

    return v > 0 ? (uint64_t)v : 0;
}

bool km_clusters_series_fit(struct km_clusters *c, const struct km_cluster_use *u, size_t n,
                            size_t *over)
{
    if (!c->o.max_series)
        return true;
    for (size_t i = 0; i < n; i++) {
        if (u[i].new_series &&
            km_clusters_series(c, u[i].slot) + u[i].new_series > c->o.max_series) {
            *over = i;
            return false;
        }
    }
    return true;
}

static double rate_of(const struct km_clusters *c, enum km_cluster_budget b)
{
    return b == KM_CLUSTER_SAMPLES ? c->o.max_samples_per_s : c->o.max_log_bytes_per_s;
}

/* Refill a bucket to now; its burst is one second's worth. */
static void refill(struct bucket *k, double rate, int64_t now)
{
    if (k->refill_ns == 0)
        k->tokens = rate;
    else
        k->tokens += rate * (double)(now - k->refill_ns) / 1e9;
    if (k->tokens > rate)
        k->tokens = rate;
    k->refill_ns = now;
}

bool km_clusters_take(struct km_clusters *c, enum km_cluster_budget b,
                      const struct km_cluster_use *u, size_t n, size_t *over, int64_t *retry_s)
{
    double rate = rate_of(c, b);
    int64_t now;

    if (rate <= 0)
        return true;
    pthread_mutex_lock(&c->mu);
    now = km_time_mono_ns();
    for (size_t i = 0; i < n; i++) {
        struct bucket *k = &c->e[u[i].slot]->b[b];

        double need = (double)u[i].n < rate ? (double)u[i].n : rate;

        refill(k, rate, now);
        if (u[i].n && k->tokens < need) {
            double s = ceil((need - k->tokens) / rate);

            pthread_mutex_unlock(&c->mu);
            *over = i;
            *retry_s = s < 1 ? 1 : (int64_t)s;
            return false;
        }
    }
    for (size_t i = 0; i < n; i++)
        c->e[u[i].slot]->b[b].tokens -= (double)u[i].n;
    pthread_mutex_unlock(&c->mu);
    return true;
}

void km_clusters_note(struct km_clusters *c, enum km_cluster_budget b,
                      const struct km_cluster_use *u, size_t n, bool limited)
{
    int64_t now_ms = limited ? 0 : km_time_now_ns() / 1000000;

    for (size_t i = 0; i < n; i++) {
        struct entry *e = c->e[u[i].slot];

        atomic_fetch_add(limited ? &e->limited[b] : &e->received[b], u[i].n);
        if (!limited)
            atomic_store(&e->last_ms, now_ms);
    }
}

void km_clusters_created(struct km_clusters *c, uint32_t slot, uint64_t n)
{
    atomic_fetch_add(&c->e[slot]->created, n);
}

/* ---- reconciling with the store --------------------------------------------------------- */

static int count_series(struct km_clusters *c, struct km_storage *store, int64_t mint, int64_t maxt,
                        uint64_t *count)
{
    struct km_select_hints hints = { .labels_only = true };
    struct km_matcher *m[2] = { NULL, NULL };
    struct km_querier *q = NULL;
    struct km_series_set *set = NULL;
    int rc;

    /* Every series but the server's own figures about clusters (its self-scrape stores
     * kmon_cluster_*{cluster=…}): they are not the clusters' data. */
    rc = km_matcher_create(&m[0], KM_MATCH_RE, KM_METRIC_NAME_LABEL, ".+");
    if (rc == 0)
        rc = km_matcher_create(&m[1], KM_MATCH_NRE, KM_METRIC_NAME_LABEL, "kmon_cluster_.*");
    if (rc)
        goto free_matchers;
    rc = km_querier_open(store, mint, maxt, &q);
    if (rc)
        goto free_matchers;
    rc = km_querier_select(q, m, 2, &hints, &set);
    if (rc)
        goto close_querier;
    while (km_series_next(set)) {
        const struct km_labels *l = km_series_labels(set);
        const char *v = "";

        for (size_t i = 0; i < l->n; i++) {
            if (strcmp(l->v[i].name, "cluster") == 0) {
                v = l->v[i].value;
                break;
            }
        }
        count[km_clusters_slot(c, v, strlen(v))]++;
    }
    rc = km_series_error(set);
    km_series_set_close(set);
close_querier:
    km_querier_close(q);
free_matchers:
    km_matcher_destroy(m[0]);
    km_matcher_destroy(m[1]);
    return rc;
}

int km_clusters_reconcile(struct km_clusters *c, struct km_storage *store, int64_t mint,
                          int64_t maxt)
{
    size_t m = c->o.max_clusters + 1, n0, n1;
    uint64_t *count = calloc(m, sizeof(*count)), *created = calloc(m, sizeof(*created));
    int rc = 0;

    if (!count || !created) {
        rc = km_err_set(KM_ENOMEM, "out of memory counting series by cluster");
        goto free_counts;
    }
    if (atomic_flag_test_and_set(&c->reconciling))
        goto free_counts;
    /* What was created before the walk is in it (or gone again); entries the walk adds
     * had nothing created before it. */
    n0 = atomic_load(&c->n);
    for (size_t i = 0; i < n0; i++)
        created[i] = atomic_load(&c->e[i]->created);
    created[m - 1] = atomic_load(&c->e[m - 1]->created);
    rc = count_series(c, store, mint, maxt, count);
    n1 = atomic_load(&c->n);
    for (size_t i = 0; rc == 0 && i < m; i++) {
        struct entry *e = c->e[i];

        if (i >= n1 && i != m - 1)
            continue;
        atomic_store(&e->created_base, created[i]);
        atomic_store(&e->base, (int64_t)count[i]);
    }
    atomic_flag_clear(&c->reconciling);
free_counts:
    free(count);
    free(created);
    return rc;
}

/* ---- metrics -------------------------------------------------------------------------- */

void km_clusters_metrics(struct km_clusters *c, struct km_mset *m)
{
    static const struct {
        const char *name, *help;
        int kind; /* 0..3: received/limited × budget, 4: series, 5: last write */
    } fam[] = {
        { "kmon_cluster_samples_received_total",
          "Samples accepted for storing, by cluster (the write token's, or the series' label "
          "cluster; \"\" for none; \"" KM_CLUSTER_OTHER "\" for those beyond the table's "
          "bound).",
          0 },
        { "kmon_cluster_samples_limited_total",
          "Samples in requests answered 429 (a rate or series limit), by cluster.", 1 },
        { "kmon_cluster_log_bytes_received_total",
          "Log line bytes of accepted Loki pushes, by cluster.", 2 },
        { "kmon_cluster_log_bytes_limited_total",
          "Log line bytes of Loki pushes answered 429, by cluster.", 3 },
        { "kmon_cluster_series",
          "Series in the database's head, by cluster (counted as they are created, "
          "recounted from the store about every 30 s).",
          4 },
        { "kmon_cluster_last_write_timestamp_seconds",
          "When a cluster last had samples or log lines accepted.", 5 },
    };
    size_t n = atomic_load(&c->n);

    for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
        int id = km_mset_family(m, fam[f].name, fam[f].help,
                                fam[f].kind >= 4 ? KM_MT_GAUGE : KM_MT_COUNTER, 0);

        for (size_t i = 0; i <= c->o.max_clusters; i++) {
            struct entry *e = i < n || i == c->o.max_clusters ? c->e[i] : NULL;
            struct km_label l;
            double v;

            if (!e)
                continue;
            /* The shared entry only once it is used. */
            if (i == c->o.max_clusters && n < c->o.max_clusters && !atomic_load(&e->last_ms) &&
                !km_clusters_series(c, (uint32_t)i))
                continue;
            l = (struct km_label){ "cluster", e->name };
            switch (fam[f].kind) {
            case 4:
                v = (double)km_clusters_series(c, (uint32_t)i);
                break;
            case 5:
                if (!atomic_load(&e->last_ms))
                    continue;
                v = (double)atomic_load(&e->last_ms) / 1000.0;
                break;
            default:
                v = (double)atomic_load(fam[f].kind & 1 ? &e->limited[fam[f].kind / 2]
                                                        : &e->received[fam[f].kind / 2]);
                break;
            }
            km_mset_add(m, id, &l, 1, v);
        }
    }
    km_mset_gauge(m, "kmon_cluster_max_series",
                  "The cap on series in the head per cluster (--max-series-per-cluster; 0: none).",
                  (double)c->o.max_series);
    km_mset_gauge(m, "kmon_cluster_max_samples_per_second",
                  "The ingest rate cap per cluster (--max-samples-per-second-per-cluster; 0: "
                  "none).",
                  c->o.max_samples_per_s);
    km_mset_gauge(m, "kmon_cluster_max_log_bytes_per_second",
                  "The log line bytes rate cap per cluster "
                  "(--max-log-bytes-per-second-per-cluster; 0: none).",
                  c->o.max_log_bytes_per_s);
}
