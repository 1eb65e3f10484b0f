/*
 * notify — sends alerts to Prometheus Alertmanagers (API v2) and to generic JSON
 * webhooks, as Prometheus' notifier does: a bounded queue that drops its oldest alerts
 * when full, one sender thread that takes batches of at most max_batch alerts off it and
 * POSTs each batch to every target at once; a batch counts as sent when at least one
 * target took it (2xx), else its alerts are counted as dropped.
 *
 * Unlike Prometheus (2.42), a transient failure (a transport error, a timeout, 5xx, 408,
 * 429) is retried a bounded number of times with exponential backoff, and destroy()
 * tries to deliver what is queued for a bounded time before it gives up.
 *
 * The bodies (docs/internals/notify.md has examples):
 *   Alertmanager: POST <url>/api/v2/alerts with the v2 PostableAlerts array
 *     [{"labels":{…},"annotations":{…},"startsAt":"…","endsAt":"…","generatorURL":"…"}]
 *     (times RFC 3339 in UTC with milliseconds; empty annotations, unset times and an
 *     empty generator URL left out);
 *   webhook: POST <url> with
 *     {"version":"1","status":"firing|resolved","alerts":[{"status":"firing|resolved",…}]}
 *     where each alert object is the Alertmanager one with its "status" first: "resolved"
 *     when its endsAt is set and not after the time of sending, and the top-level status
 *     "resolved" only when every alert of the batch is.
 *
 * Threads: km_notifier_send() and the metrics from any thread (a mutex guards the queue
 * and the counters; send never waits on the network); create and destroy from the
 * owning thread. Logging: the sender thread logs failed deliveries (module "notify", at
 * most one line per target per 10 s), which nobody else would see.
 */
#ifndef KMON_NOTIFY_NOTIFY_H
#define KMON_NOTIFY_NOTIFY_H

#include "common/buf.h"
#include "common/labels.h"

#include <stddef.h>
#include <stdint.h>

struct km_mset;

enum km_notify_kind {
    KM_NOTIFY_ALERTMANAGER = 0, /* Alertmanager API v2 */
    KM_NOTIFY_WEBHOOK = 1,      /* the generic JSON webhook above */
};

struct km_notify_target {
    enum km_notify_kind kind;
    /* http:// or https://. An Alertmanager's base URL (a path prefix allowed:
     * "http://am:9093/prefix"), to which /api/v2/alerts is appended; a webhook's full
     * URL. User information in it is sent (basic auth) but left out of metrics and logs. */
    const char *url;
    const char *bearer_token; /* NULL: none; else "Authorization: Bearer <token>" */
    const char *ca_file;      /* PEM CAs to verify the server with (NULL: the system's) */
    int64_t timeout_ms;       /* one request, connecting included (0: 10 000, Prometheus') */
};

/* Defaults. The queue's is Prometheus' --alertmanager.notification-queue-capacity, the
 * batch's its 2.42 maxBatchSize. */
#define KM_NOTIFY_QUEUE_CAPACITY 10000
#define KM_NOTIFY_MAX_BATCH      64
#define KM_NOTIFY_MAX_ATTEMPTS   3
#define KM_NOTIFY_RETRY_MS       500
#define KM_NOTIFY_DRAIN_MS       5000

struct km_notifier_opts {
    const struct km_notify_target *targets; /* copied; none: every batch is dropped */
    size_t n_targets;
    size_t queue_capacity;                   /* alerts (0: KM_NOTIFY_QUEUE_CAPACITY) */
    size_t max_batch;                        /* alerts in one POST (0: KM_NOTIFY_MAX_BATCH) */
    const struct km_labels *external_labels; /* copied; NULL: none */
    /* Tries of one batch at one target (0: KM_NOTIFY_MAX_ATTEMPTS; 1: no retry). */
    unsigned max_attempts;
    /* The wait before the first retry, doubled before each next one, ±25 % jitter
     * (0: KM_NOTIFY_RETRY_MS). */
    int64_t retry_backoff_ms;
    /* How long destroy() goes on delivering what is queued (0: KM_NOTIFY_DRAIN_MS;
     * negative: not at all, the queue is dropped at once). */
    int64_t drain_timeout_ms;
};

/* One alert as the rule manager hands it over; everything is copied by send. */
struct km_alert_msg {
    const struct km_labels *labels;      /* must hold alertname for Alertmanager to route it */
    const struct km_labels *annotations; /* NULL: none */
    int64_t starts_at_ms;                /* ms since the epoch; 0: unset */
    int64_t ends_at_ms;                  /* 0: unset (firing until Alertmanager times it out) */
    const char *generator_url;           /* NULL or "": none */
};

struct km_notifier;

/* Check and copy the options, set up an HTTP client per target and start the sender
 * thread. On success *out is new; the caller frees it with km_notifier_destroy(). A
 * target URL that is not http(s), or a token with a line break in it, is KM_EINVAL with
 * a message naming the target. */
int km_notifier_create(struct km_notifier **out, const struct km_notifier_opts *o);

/* Queue copies of alerts[0..count), in order, and wake the sender; never waits on the
 * network. Each alert's labels get the external labels it lacks (a label with an empty
 * value counts as lacking, and is left out), as Prometheus does. When the queue would
 * overflow, the oldest queued alerts are dropped to make room (and, of a call with more
 * alerts than the whole queue holds, its first ones), each counted in
 * prometheus_notifications_dropped_total. Returns 0, or KM_ENOMEM (KM_ELIMIT: more than
 * KM_LIMIT_LABELS_PER_SERIES labels) when copying failed, in which case none of these
 * alerts is queued (they are counted as dropped). Not to be called once destroy() began. */
int km_notifier_send(struct km_notifier *n, const struct km_alert_msg *alerts, size_t count);

/* The prometheus_notifications_* families (the latency as _sum and _count), and
 * kmon_notifications_retries_total{alertmanager}. */
void km_notifier_metrics(struct km_notifier *n, struct km_mset *m);

/* The same rendered as Prometheus text exposition, appended to out. */
void km_notifier_write_metrics(struct km_notifier *n, struct km_buf *out);

/* Stop: the sender goes on delivering what is queued (and retrying) for up to the drain
 * timeout, then abandons transfers in flight, counts what is left as dropped, and is
 * joined; then everything is freed. Accepts NULL. */
void km_notifier_destroy(struct km_notifier *n);

#endif
