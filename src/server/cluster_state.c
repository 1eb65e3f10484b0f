/*
 * cluster_state — the collector inside the server, emitting through ingest with stale
 * markers (see cluster_state.h).
 *
 * The emission goes to ingest in chunks of CHUNK samples, stale markers included (the
 * collector writes them for the objects that changed; see kstate/store.c), so the server
 * holds the stores and one chunk, never a whole emission. A replica that does not lead
 * (--leader-elect) emits nothing and forgets what it emitted without stale markers: the
 * new leader keeps those series going, and a later leadership here starts from nothing.
 */
#include "cluster_state.h"

#include "common/err.h"
#include "common/log.h"
#include "common/mset.h"
#include "common/timefmt.h"
#include "ingest.h"
#include "kube/pause.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    struct km_mset chunk; /* the emission's samples on their way to ingest */
    struct km_log_limit fail_log;
    /* Statistics (under mu). */
    uint64_t emissions, stale_markers, refused, failures;
    uint64_t last_series;
    double last_seconds;
};

/* Samples handed to ingest at a time: the emission is never whole in memory. */
#define CHUNK 16384

struct flush_ctx {
    struct km_server_cs *cs;
    struct km_ingest_mset_result r;
};

static int flush_chunk(void *ud, struct km_mset *m)
{
    struct flush_ctx *f = ud;
    struct km_ingest_mset_result r = { 0 };
    int rc = km_ingest_mset(f->cs->in, m, &r);

    f->r.received += r.received;
    f->r.stored += r.stored;
    return rc;
}

static void emit_once(struct km_server_cs *cs)
{
    struct flush_ctx f = { .cs = cs };
    struct km_kemit_out out = { .m = &cs->chunk, .chunk = CHUNK, .flush = flush_chunk, .ud = &f };
    struct km_kstate_emitted e = { 0 };
    int64_t t0 = km_time_mono_ns();
    int rc;

    if (!km_kstate_leading(cs->ks)) {
        km_kstate_forget(cs->ks); /* a standby forgets, ending nothing */
        return;
    }
    km_mset_reset(&cs->chunk, km_time_now_ns() / 1000000);
    rc = km_kstate_emit(cs->ks, &out, &e);
    pthread_mutex_lock(&cs->mu);
    cs->emissions++;
    cs->last_series = e.series;
    cs->stale_markers += e.stale;
    cs->refused += f.r.received - f.r.stored;
    cs->last_seconds = (double)(km_time_mono_ns() - t0) / 1e9;
    if (rc)
        cs->failures++;
    pthread_mutex_unlock(&cs->mu);
    if (rc) {
        uint64_t held;

        if (km_log_limit_take(&cs->fail_log, &held))
            km_log_warn(LOG, "the cluster state could not all be stored: %s", km_err_msg());
    }
}

/* Under mu: wait ms milliseconds or until stopped. */
static void sleep_locked(struct km_server_cs *cs, int64_t ms)
{
    struct timespec ts = km_kube_deadline_in(ms);

    while (!cs->stop && pthread_cond_timedwait(&cs->wake, &cs->mu, &ts) == 0)
        ;
}

static void *run(void *arg)
{
    struct km_server_cs *cs = arg;
    bool first = true;

    pthread_mutex_lock(&cs->mu);
    /* The first emission as soon as every kind has been listed (a fresh server shows the
     * cluster within seconds, not after a whole interval), at the latest after one. */
    for (int64_t waited = 0; !cs->stop && waited < cs->interval_ms; waited += 200) {
        bool synced;

        pthread_mutex_unlock(&cs->mu);
        synced = km_kstate_synced(cs->ks);
        pthread_mutex_lock(&cs->mu);
        if (synced)
            break;
        sleep_locked(cs, 200);
    }
    while (!cs->stop) {
        if (!first)
            sleep_locked(cs, cs->interval_ms);
        first = false;
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
    km_mset_init(&cs->chunk);
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
              "Stale markers given to ingest for series that ended (deleted or changed "
              "objects).",
              KM_MT_COUNTER, (double)stale },
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
    km_mset_fini(&cs->chunk);
    pthread_cond_destroy(&cs->wake);
    pthread_mutex_destroy(&cs->mu);
    free(cs);
}
