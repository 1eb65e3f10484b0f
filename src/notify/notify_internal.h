/*
 * notify_internal — what the notifier's files share (see notify.h): the notifier, its
 * targets ("destinations" here, each with its libcurl handle and counters) and the
 * queued copy of an alert.
 *
 * Ownership: the notifier owns its destinations, the queue's alerts and the batch being
 * delivered (moved out of the queue by the sender thread, freed by it after delivery).
 * Locking: `mu` guards the queue, the stop request and every counter; the delivery state
 * of a destination and the bodies belong to the sender thread alone.
 */
#ifndef KMON_NOTIFY_NOTIFY_INTERNAL_H
#define KMON_NOTIFY_NOTIFY_INTERNAL_H

#include "common/buf.h"
#include "common/labels.h"
#include "common/log.h"
#include "notify/notify.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KM_NOTIFY_LOG "notify"

/* Bytes of an answer kept for the log line about a failure. */
#define KM_NOTIFY_REPLY_MAX 256

/* Retry waits never grow past this. */
#define KM_NOTIFY_RETRY_MAX_MS 5000

/* A queued alert: copies of everything the caller gave. */
struct km_notify_alert {
    struct km_labels *labels;      /* external labels merged in, empty values left out */
    struct km_labels *annotations; /* NULL: none */
    char *generator_url;           /* NULL: none */
    int64_t starts_at_ms, ends_at_ms;
};

void km_notify_alert_fini(struct km_notify_alert *a);

enum km_notify_dest_state {
    KM_NOTIFY_WAITING,   /* to be (re)tried at next_ns */
    KM_NOTIFY_IN_FLIGHT, /* its handle is in the multi handle */
    KM_NOTIFY_DONE,      /* delivered, or given up */
};

/* One target. */
struct km_notify_dest {
    enum km_notify_kind kind;
    char *url;   /* where to POST (an Alertmanager's with /api/v2/alerts) */
    char *label; /* url without user information: the alertmanager label, and in logs */
    int64_t timeout_ms;
    CURL *curl;
    struct curl_slist *headers;
    struct km_log_limit log_limit;
    /* The batch being delivered (sender thread only). */
    enum km_notify_dest_state state;
    unsigned attempt; /* tries made */
    int64_t next_ns;  /* mono: when to try again */
    bool ok;
    struct km_buf reply; /* the start of the last answer */
    char errbuf[CURL_ERROR_SIZE];
    /* Counters (under the notifier's mu). */
    uint64_t sent, errors, retries;
    uint64_t latency_count;
    double latency_sum; /* seconds */
};

/* Parse and check target i, make its URL and label, and set up its HTTP client. On
 * failure KM_EINVAL or KM_ENOMEM with a message, and d is left for
 * km_notify_dest_fini(). */
int km_notify_dest_init(struct km_notify_dest *d, const struct km_notify_target *t, size_t i);

/* Accepts a zeroed or half-initialised destination. */
void km_notify_dest_fini(struct km_notify_dest *d);

struct km_notifier {
    /* Set at create, read-only after. */
    size_t qcap, max_batch;
    unsigned max_attempts;
    int64_t retry_ms, drain_ms;
    struct km_labels *external; /* NULL: none */
    struct km_notify_dest *dests;
    size_t ndests;
    CURLM *multi;
    bool curl_ready; /* curl_global_init() done: undone at free */
    pthread_t thread;
    bool thread_started;
    struct km_log_limit drop_log_limit; /* of the "queue full" line */

    pthread_mutex_t mu;
    pthread_cond_t cv; /* the queue has alerts, or stop */
    /* Under mu. */
    struct km_notify_alert *q; /* ring of qcap */
    size_t qhead, qlen;
    bool stopping;
    int64_t stop_deadline_ns; /* mono: with stopping, nothing is tried past it */
    uint64_t dropped;

    /* Sender thread only. */
    struct km_notify_alert *batch; /* max_batch */
    struct km_buf am_body, hook_body;
    uint64_t rnd;
};

/* The time past which the sender gives up: the drain deadline once destroy() was
 * called, INT64_MAX before. Takes mu. */
int64_t km_notify_deadline(struct km_notifier *n);

/* Deliver batch[0..nb) to every destination at once, retrying transient failures, and
 * count the outcome per destination. True when at least one destination took it.
 * Sender thread only. */
bool km_notify_deliver(struct km_notifier *n, const struct km_notify_alert *batch, size_t nb);

/* The request bodies: the Alertmanager v2 array, and the webhook object (alert status
 * judged against now_ms). Replace b's contents; 0 or the buffer's error. */
int km_notify_encode_am(struct km_buf *b, const struct km_notify_alert *a, size_t n);
int km_notify_encode_webhook(struct km_buf *b, const struct km_notify_alert *a, size_t n,
                             int64_t now_ms);

#endif
