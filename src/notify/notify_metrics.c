/*
 * notify_metrics — the notifier's metrics under Prometheus' names: per target (the
 * alertmanager label is its URL without user information) sent alerts, errors and the
 * latency's _sum and _count; the queue's length and capacity, dropped alerts and the
 * number of targets. Read under the notifier's mutex from any thread.
 */
#include "notify/notify_internal.h"

#include "common/mset.h"

void km_notifier_metrics(struct km_notifier *n, struct km_mset *m)
{
    int sent, errors, lat_sum, lat_count, retries;

    sent = km_mset_family(m, "prometheus_notifications_sent_total",
                          "Total number of alerts sent: of every batch a target was given, "
                          "whether it took it or not (as Prometheus 2.42 counts).",
                          KM_MT_COUNTER, 0);
    errors = km_mset_family(m, "prometheus_notifications_errors_total",
                            "Total number of errors sending alert notifications: batches a "
                            "target did not take, after retries.",
                            KM_MT_COUNTER, 0);
    lat_sum = km_mset_family(m, "prometheus_notifications_latency_seconds_sum",
                             "Seconds from the start of a batch to a target's last answer "
                             "(retries included), summed.",
                             KM_MT_COUNTER, 0);
    lat_count = km_mset_family(m, "prometheus_notifications_latency_seconds_count",
                               "Batches timed, per target.", KM_MT_COUNTER, 0);
    retries = km_mset_family(m, "kmon_notifications_retries_total",
                             "Tries of a batch repeated after a transient failure (a transport "
                             "error, a timeout, 408, 429, 5xx).",
                             KM_MT_COUNTER, 0);
    pthread_mutex_lock(&n->mu);
    for (size_t i = 0; i < n->ndests; i++) {
        const struct km_notify_dest *d = &n->dests[i];
        struct km_label l = { "alertmanager", d->label };

        km_mset_add(m, sent, &l, 1, (double)d->sent);
        km_mset_add(m, errors, &l, 1, (double)d->errors);
        km_mset_add(m, lat_sum, &l, 1, d->latency_sum);
        km_mset_add(m, lat_count, &l, 1, (double)d->latency_count);
        km_mset_add(m, retries, &l, 1, (double)d->retries);
    }
    km_mset_add(m,
                km_mset_family(m, "prometheus_notifications_dropped_total",
                               "Total number of alerts dropped due to errors when sending to "
                               "Alertmanager, a full queue, or a stop before they were sent.",
                               KM_MT_COUNTER, 0),
                NULL, 0, (double)n->dropped);
    km_mset_gauge(m, "prometheus_notifications_queue_length",
                  "The number of alert notifications in the queue.", (double)n->qlen);
    km_mset_gauge(m, "prometheus_notifications_queue_capacity",
                  "The capacity of the alert notifications queue.", (double)n->qcap);
    km_mset_gauge(m, "prometheus_notifications_alertmanagers_discovered",
                  "The number of alertmanagers discovered and active (here: the configured "
                  "targets, webhooks included).",
                  (double)n->ndests);
    pthread_mutex_unlock(&n->mu);
}

void km_notifier_write_metrics(struct km_notifier *n, struct km_buf *out)
{
    struct km_mset m;

    km_mset_init(&m);
    km_mset_reset(&m, 0);
    km_notifier_metrics(n, &m);
    km_mset_render_prom(&m, out);
    km_mset_fini(&m);
}
