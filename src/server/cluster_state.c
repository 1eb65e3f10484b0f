/*
 * cluster_state — the collector inside the server, emitting through ingest with stale
 * markers (see cluster_state.h).
 *
 * Staleness: the previous emission is kept (two metric sets, swapped each interval)
 * with the sorted 64-bit hashes of the current one's series (family name and labels);
 * each previous series whose hash is not among them gets one sample of Prometheus'
 * stale NaN at the current emission's time.
 */
#include "cluster_state.h"

#include "common/err.h"
#include "common/log.h"
#include "common/mset.h"
#include "common/timefmt.h"
#include "ingest.h"
#include "promql/value.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#define LOG "cluster-state"

struct km_server_cs {
    struct km_kstate *ks;
    struct km_ingest *in;
    int64_t interval_ms;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    bool stop;
    struct km_mset sets[2], stale;
    int cur;
    uint64_t *hashes;
    size_t nhashes, caphashes;
    struct km_log_limit fail_log;
    /* Statistics (under mu). */
    uint64_t emissions, stale_markers, refused, failures;
    uint64_t last_series;
    double last_seconds;
};

static uint64_t series_hash(const struct km_mset *m, const struct km_msample *s)
{
    const struct km_label *l = km_mset_labels(m, s);
    uint64_t h = XXH3_64bits(m->fam[s->family].name, strlen(m->fam[s->family].name));

    /* Each string seeded with the hash so far: order and boundaries count. */
    for (uint32_t i = 0; i < s->nlabels; i++) {
        h = XXH3_64bits_withSeed(l[i].name, strlen(l[i].name), h);
        h = XXH3_64bits_withSeed(l[i].value, strlen(l[i].value), h ^ 0x9e3779b97f4a7c15ull);
    }
    return h;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* The hashes of m's series, sorted, into cs->hashes. */
static int hash_all(struct km_server_cs *cs, const struct km_mset *m)
{
    if (m->nsmp > cs->caphashes) {
        uint64_t *h = realloc(cs->hashes, m->nsmp * sizeof(*h));

        if (!h)
            return km_err_set(KM_ENOMEM, "out of memory");
        cs->hashes = h;
        cs->caphashes = m->nsmp;
    }
    for (size_t i = 0; i < m->nsmp; i++)
        cs->hashes[i] = series_hash(m, &m->smp[i]);
    cs->nhashes = m->nsmp;
    qsort(cs->hashes, cs->nhashes, sizeof(*cs->hashes), cmp_u64);
    return 0;
}

/* A stale marker at t for every series of prev whose hash is not in cs->hashes. */
static void mark_stale(struct km_server_cs *cs, const struct km_mset *prev, int64_t t)
{
    uint64_t bits = KM_PQ_STALE_BITS;
    double nan;
    int fam = -1;
    uint32_t last_family = UINT32_MAX;

    memcpy(&nan, &bits, sizeof(nan));
    km_mset_reset(&cs->stale, t);
    for (size_t i = 0; i < prev->nsmp; i++) {
        const struct km_msample *s = &prev->smp[i];
        uint64_t h = series_hash(prev, s);

        if (bsearch(&h, cs->hashes, cs->nhashes, sizeof(h), cmp_u64))
            continue;
        if (s->family != last_family) {
            const struct km_mfamily *f = &prev->fam[s->family];

            fam = km_mset_family(&cs->stale, f->name, f->help, f->type, 0);
            last_family = s->family;
        }
        km_mset_add(&cs->stale, fam, km_mset_labels(prev, s), s->nlabels, nan);
    }
}

static void emit_once(struct km_server_cs *cs)
{
    struct km_mset *cur = &cs->sets[cs->cur], *prev = &cs->sets[1 - cs->cur];
    struct km_ingest_mset_result r = { 0 }, rs = { 0 };
    int64_t t0 = km_time_mono_ns(), t = km_time_now_ns() / 1000000;
    uint64_t series;
    int rc;

    km_mset_reset(cur, t);
    series = km_kstate_emit(cs->ks, cur);
    rc = km_mset_error(cur);
    if (rc == 0)
        rc = hash_all(cs, cur);
    if (rc == 0) {
        mark_stale(cs, prev, t);
        rc = km_ingest_mset(cs->in, cur, &r);
    }
    if (rc == 0 && cs->stale.nsmp)
        rc = km_ingest_mset(cs->in, &cs->stale, &rs);
    pthread_mutex_lock(&cs->mu);
    cs->emissions++;
    cs->last_series = series;
    cs->stale_markers += rs.stored;
    cs->refused += r.received - r.stored + rs.received - rs.stored;
    cs->last_seconds = (double)(km_time_mono_ns() - t0) / 1e9;
    if (rc)
        cs->failures++;
    pthread_mutex_unlock(&cs->mu);
    if (rc) {
        uint64_t held;

        if (km_log_limit_take(&cs->fail_log, &held))
            km_log_warn(LOG, "the cluster state could not be stored: %s", km_err_msg());
        return; /* the previous emission stays the reference for stale markers */
    }
    cs->cur = 1 - cs->cur;
}

static void *run(void *arg)
{
    struct km_server_cs *cs = arg;
    struct timespec ts;

    pthread_mutex_lock(&cs->mu);
    while (!cs->stop) {
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += cs->interval_ms / 1000;
        ts.tv_nsec += (cs->interval_ms % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        while (!cs->stop && pthread_cond_timedwait(&cs->wake, &cs->mu, &ts) == 0)
            ;
        if (cs->stop)
            break;
        pthread_mutex_unlock(&cs->mu);
        emit_once(cs);
        pthread_mutex_lock(&cs->mu);
    }
    pthread_mutex_unlock(&cs->mu);
    return NULL;
}

int km_server_cs_start(struct km_server_cs **out, const struct km_kstate_opts *o,
                       int64_t interval_ms, struct km_ingest *in)
{
    struct km_server_cs *cs = calloc(1, sizeof(*cs));
    int rc;

    *out = NULL;
    if (!cs)
        return km_err_set(KM_ENOMEM, "out of memory");
    cs->in = in;
    cs->interval_ms = interval_ms > 0 ? interval_ms : 30000;
    cs->fail_log.period_ns = 60 * 1000000000ll;
    pthread_mutex_init(&cs->mu, NULL);
    pthread_cond_init(&cs->wake, NULL);
    km_mset_init(&cs->sets[0]);
    km_mset_init(&cs->sets[1]);
    km_mset_init(&cs->stale);
    rc = km_kstate_start(&cs->ks, o);
    if (rc)
        goto out_free;
    if (pthread_create(&cs->thread, NULL, run, cs) != 0) {
        rc = km_err_set(KM_ENOMEM, "cannot start the cluster-state thread");
        goto out_free;
    }
    cs->started = true;
    *out = cs;
    return 0;

out_free:
    km_server_cs_stop(cs);
    return rc;
}

void km_server_cs_metrics(struct km_server_cs *cs, struct km_mset *m)
{
    uint64_t emissions, stale, refused, failures, series;
    double secs;

    pthread_mutex_lock(&cs->mu);
    emissions = cs->emissions;
    stale = cs->stale_markers;
    refused = cs->refused;
    failures = cs->failures;
    series = cs->last_series;
    secs = cs->last_seconds;
    pthread_mutex_unlock(&cs->mu);
    km_kstate_metrics(cs->ks, m);
    {
        const struct {
            const char *name, *help;
            enum km_mtype type;
            double v;
        } g[] = {
            { "kmon_cluster_state_stored_emissions_total",
              "Emissions of the cluster state given to ingest.", KM_MT_COUNTER, (double)emissions },
            { "kmon_cluster_state_stale_markers_total",
              "Stale markers stored for series that ended (deleted objects).", KM_MT_COUNTER,
              (double)stale },
            { "kmon_cluster_state_samples_refused_total",
              "Cluster-state samples ingest did not store (labels, time window, series cap).",
              KM_MT_COUNTER, (double)refused },
            { "kmon_cluster_state_store_failures_total", "Emissions the database could not take.",
              KM_MT_COUNTER, (double)failures },
            { "kmon_cluster_state_stored_series", "Series in the last emission given to ingest.",
              KM_MT_GAUGE, (double)series },
            { "kmon_cluster_state_store_duration_seconds",
              "How long the last emission took, ingest included.", KM_MT_GAUGE, secs },
        };

        for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++)
            km_mset_add(m, km_mset_family(m, g[i].name, g[i].help, g[i].type, 0), NULL, 0, g[i].v);
    }
}

void km_server_cs_stop(struct km_server_cs *cs)
{
    if (!cs)
        return;
    pthread_mutex_lock(&cs->mu);
    cs->stop = true;
    pthread_cond_broadcast(&cs->wake);
    pthread_mutex_unlock(&cs->mu);
    if (cs->started)
        pthread_join(cs->thread, NULL);
    km_kstate_stop(cs->ks);
    km_mset_fini(&cs->sets[0]);
    km_mset_fini(&cs->sets[1]);
    km_mset_fini(&cs->stale);
    free(cs->hashes);
    pthread_cond_destroy(&cs->wake);
    pthread_mutex_destroy(&cs->mu);
    free(cs);
}
