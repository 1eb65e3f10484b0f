/*
 * self_scrape — the server stores its own /metrics in its database every
 * --self-scrape-interval, as a Prometheus scraping itself would (job="kmon",
 * instance=<listen address>): kmon's own alerts (ingest refusals, WAL errors, the data
 * directory filling up, rule evaluation failures) and the dashboard read them with PromQL
 * like any other series.
 */
#include "common/err.h"
#include "common/log.h"
#include "common/mset.h"
#include "common/timefmt.h"
#include "ingest.h"
#include "server_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void *scrape_thread(void *arg)
{
    struct km_server *s = arg;
    struct km_label extra[2] = { { "job", "kmon" }, { "instance", s->o.listen } };
    struct km_mset m;

    km_mset_init(&m);
    pthread_mutex_lock(&s->scrape_mu);
    while (!s->scrape_stop) {
        struct km_ingest_mset_result r;
        int64_t now = km_time_now_ns() / 1000000, next = now + s->o.self_scrape_ms;
        struct timespec until = { .tv_sec = next / 1000, .tv_nsec = (next % 1000) * 1000000 };

        pthread_mutex_unlock(&s->scrape_mu);
        km_mset_reset(&m, now);
        km_server_collect_metrics(s, &m);
        if (km_mset_error(&m) == 0 && km_ingest_mset_self(s->api.ingest, &m, extra, 2, &r) != 0)
            km_log_warn(KM_SERVER_LOG, "storing the server's own metrics failed: %s", km_err_msg());
        pthread_mutex_lock(&s->scrape_mu);
        while (!s->scrape_stop &&
               pthread_cond_timedwait(&s->scrape_wake, &s->scrape_mu, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&s->scrape_mu);
    km_mset_fini(&m);
    return NULL;
}

int km_server_self_scrape_start(struct km_server *s)
{
    int rc;

    pthread_mutex_init(&s->scrape_mu, NULL);
    pthread_cond_init(&s->scrape_wake, NULL);
    s->scrape_init = true;
    if (s->o.self_scrape_ms <= 0)
        return 0;
    rc = pthread_create(&s->scrape_thread, NULL, scrape_thread, s);
    if (rc)
        return km_err_set_errno(KM_EIO, rc, "cannot start the self-scrape thread");
    s->scrape_started = true;
    return 0;
}

void km_server_self_scrape_stop(struct km_server *s)
{
    if (!s->scrape_init)
        return;
    if (s->scrape_started) {
        pthread_mutex_lock(&s->scrape_mu);
        s->scrape_stop = true;
        pthread_cond_broadcast(&s->scrape_wake);
        pthread_mutex_unlock(&s->scrape_mu);
        pthread_join(s->scrape_thread, NULL);
        s->scrape_started = false;
    }
    pthread_cond_destroy(&s->scrape_wake);
    pthread_mutex_destroy(&s->scrape_mu);
    s->scrape_init = false;
}
