/*
 * notify — the notifier's queue and life cycle (see notify.h): copying alerts in (with
 * the external labels merged), the bounded ring that drops its oldest alerts, the
 * sender thread that takes batches off it and hands them to km_notify_deliver()
 * (notify_send.c), and the bounded drain at destroy().
 *
 * Threads: send() from any thread; the sender thread; destroy() from the owner. The
 * ring, the stop request and the drop counter are under mu; cv wakes the sender.
 */
#include "notify/notify_internal.h"

#include "common/err.h"
#include "common/timefmt.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void km_notify_alert_fini(struct km_notify_alert *a)
{
    km_labels_destroy(a->labels);
    km_labels_destroy(a->annotations);
    free(a->generator_url);
    memset(a, 0, sizeof(*a));
}

/* ---- copying an alert in ----------------------------------------------------------------- */

/* The alert's labels with the external ones it lacks, as Prometheus' relabelAlerts: a
 * label whose value is empty is absent (and left out); an external label is added when
 * the alert has no value for its name. Both inputs are sorted, so a merge keeps order. */
static int merge_labels(struct km_labels **out, const struct km_labels *al,
                        const struct km_labels *ext)
{
    size_t na = al ? al->n : 0, ne = ext ? ext->n : 0, i = 0, j = 0, k = 0;
    struct km_label *v = malloc((na + ne ? na + ne : 1) * sizeof(*v));
    int rc;

    if (!v)
        return km_err_set(KM_ENOMEM, "out of memory copying an alert");
    while (i < na || j < ne) {
        int c = i == na ? 1 : j == ne ? -1 : strcmp(al->v[i].name, ext->v[j].name);
        const struct km_label *pick = NULL;

        if (c < 0) {
            pick = &al->v[i++];
        } else if (c > 0) {
            pick = &ext->v[j++];
        } else {
            pick = al->v[i].value[0] ? &al->v[i] : &ext->v[j];
            i++;
            j++;
        }
        if (pick->value[0])
            v[k++] = *pick;
    }
    rc = km_labels_create_sorted(out, v, k);
    free(v);
    return rc;
}

static int copy_alert(struct km_notify_alert *dst, const struct km_alert_msg *src,
                      const struct km_labels *ext)
{
    int rc = merge_labels(&dst->labels, src->labels, ext);

    if (rc)
        return rc;
    if (src->annotations && km_labels_dup(&dst->annotations, src->annotations) != 0)
        return km_err_set(KM_ENOMEM, "out of memory copying an alert");
    if (src->generator_url && *src->generator_url) {
        dst->generator_url = strdup(src->generator_url);
        if (!dst->generator_url)
            return km_err_set(KM_ENOMEM, "out of memory copying an alert");
    }
    dst->starts_at_ms = src->starts_at_ms;
    dst->ends_at_ms = src->ends_at_ms;
    return 0;
}

/* ---- the queue ------------------------------------------------------------------------ */

static struct km_notify_alert *q_at(struct km_notifier *n, size_t i)
{
    return &n->q[(n->qhead + i) % n->qcap];
}

/* Under mu: free the k oldest queued alerts. */
static void q_drop(struct km_notifier *n, size_t k)
{
    for (size_t i = 0; i < k; i++) {
        km_notify_alert_fini(q_at(n, 0));
        n->qhead = (n->qhead + 1) % n->qcap;
        n->qlen--;
    }
}

int km_notifier_send(struct km_notifier *n, const struct km_alert_msg *alerts, size_t count)
{
    /* Of a call larger than the whole queue, only the last qcap can ever be queued. */
    size_t skip = count > n->qcap ? count - n->qcap : 0, m = count - skip, evict = 0, i;
    struct km_notify_alert *copies;
    int rc = 0;

    if (!count)
        return 0;
    copies = calloc(m, sizeof(*copies));
    if (!copies) {
        rc = km_err_set(KM_ENOMEM, "out of memory queueing %zu alerts", count);
        goto out_count_dropped;
    }
    for (i = 0; i < m; i++) {
        rc = copy_alert(&copies[i], &alerts[skip + i], n->external);
        if (rc)
            goto out_free_copies;
    }
    pthread_mutex_lock(&n->mu);
    if (n->qlen + m > n->qcap) {
        evict = n->qlen + m - n->qcap;
        q_drop(n, evict);
    }
    for (i = 0; i < m; i++)
        *q_at(n, n->qlen++) = copies[i];
    n->dropped += skip + evict;
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
    free(copies);
    if (skip + evict) {
        uint64_t held = 0;

        if (km_log_limit_take(&n->drop_log_limit, &held))
            km_log_warn(KM_NOTIFY_LOG,
                        "the alert queue (%zu) is full: %zu older alerts dropped to make room",
                        n->qcap, skip + evict);
    }
    return 0;

out_free_copies:
    for (size_t k = 0; k <= i && k < m; k++)
        km_notify_alert_fini(&copies[k]);
    free(copies);
out_count_dropped:
    pthread_mutex_lock(&n->mu);
    n->dropped += count;
    pthread_mutex_unlock(&n->mu);
    return rc;
}

/* ---- the sender thread ------------------------------------------------------------------- */

int64_t km_notify_deadline(struct km_notifier *n)
{
    int64_t d;

    pthread_mutex_lock(&n->mu);
    d = n->stopping ? n->stop_deadline_ns : INT64_MAX;
    pthread_mutex_unlock(&n->mu);
    return d;
}

static void *sender_main(void *arg)
{
    struct km_notifier *n = arg;

    pthread_mutex_lock(&n->mu);
    for (;;) {
        size_t nb;
        bool ok;

        while (!n->stopping && !n->qlen)
            pthread_cond_wait(&n->cv, &n->mu);
        if (!n->qlen || (n->stopping && km_time_mono_ns() >= n->stop_deadline_ns))
            break;
        /* The oldest first, as Prometheus' nextBatch. */
        nb = n->qlen < n->max_batch ? n->qlen : n->max_batch;
        for (size_t i = 0; i < nb; i++)
            n->batch[i] = *q_at(n, i);
        n->qhead = (n->qhead + nb) % n->qcap;
        n->qlen -= nb;
        pthread_mutex_unlock(&n->mu);
        ok = km_notify_deliver(n, n->batch, nb);
        for (size_t i = 0; i < nb; i++)
            km_notify_alert_fini(&n->batch[i]);
        pthread_mutex_lock(&n->mu);
        if (!ok)
            n->dropped += nb;
    }
    if (n->qlen) {
        km_log_warn(KM_NOTIFY_LOG, "stopping: %zu alerts not sent in time are dropped", n->qlen);
        n->dropped += n->qlen;
        q_drop(n, n->qlen);
    }
    pthread_mutex_unlock(&n->mu);
    return NULL;
}

/* ---- life cycle ----------------------------------------------------------------------- */

/* Accepts a notifier at any point of km_notifier_create(). */
static void free_notifier(struct km_notifier *n)
{
    if (n->q) {
        q_drop(n, n->qlen);
        free(n->q);
    }
    free(n->batch);
    for (size_t i = 0; n->dests && i < n->ndests; i++)
        km_notify_dest_fini(&n->dests[i]);
    free(n->dests);
    if (n->multi)
        curl_multi_cleanup(n->multi);
    km_labels_destroy(n->external);
    km_buf_fini(&n->am_body);
    km_buf_fini(&n->hook_body);
    if (n->curl_ready)
        curl_global_cleanup();
    pthread_cond_destroy(&n->cv);
    pthread_mutex_destroy(&n->mu);
    free(n);
}

static int init_sync(struct km_notifier *n)
{
    pthread_condattr_t ca;
    int rc = 0;

    if (pthread_mutex_init(&n->mu, NULL) != 0)
        return km_err_set(KM_ENOMEM, "cannot make a mutex");
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (pthread_cond_init(&n->cv, &ca) != 0) {
        pthread_mutex_destroy(&n->mu);
        rc = km_err_set(KM_ENOMEM, "cannot make a condition variable");
    }
    pthread_condattr_destroy(&ca);
    return rc;
}

int km_notifier_create(struct km_notifier **out, const struct km_notifier_opts *o)
{
    struct km_notifier *n;
    int rc;

    if (o->n_targets && !o->targets)
        return km_err_set(KM_EINVAL, "notifier: %zu targets but no array", o->n_targets);
    n = calloc(1, sizeof(*n));
    if (!n)
        return km_err_set(KM_ENOMEM, "out of memory");
    rc = init_sync(n);
    if (rc) {
        free(n);
        return rc;
    }
    n->qcap = o->queue_capacity ? o->queue_capacity : KM_NOTIFY_QUEUE_CAPACITY;
    n->max_batch = o->max_batch ? o->max_batch : KM_NOTIFY_MAX_BATCH;
    if (n->max_batch > n->qcap)
        n->max_batch = n->qcap; /* a batch never holds more than the queue */
    n->max_attempts = o->max_attempts ? o->max_attempts : KM_NOTIFY_MAX_ATTEMPTS;
    n->retry_ms = o->retry_backoff_ms > 0 ? o->retry_backoff_ms : KM_NOTIFY_RETRY_MS;
    n->drain_ms = o->drain_timeout_ms ? o->drain_timeout_ms : KM_NOTIFY_DRAIN_MS;
    n->rnd = (uint64_t)km_time_now_ns();
    km_buf_init(&n->am_body, 0);
    km_buf_init(&n->hook_body, 0);
    atomic_init(&n->drop_log_limit.next_ns, 0);
    atomic_init(&n->drop_log_limit.held, 0);
    n->drop_log_limit.period_ns = 10ll * 1000000000;
    /* Reference-counted and thread-safe since libcurl 7.84. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        rc = km_err_set(KM_EIO, "libcurl cannot be initialised");
        goto out_free_notifier;
    }
    n->curl_ready = true;
    n->q = calloc(n->qcap, sizeof(*n->q));
    n->batch = calloc(n->max_batch, sizeof(*n->batch));
    n->dests = calloc(o->n_targets ? o->n_targets : 1, sizeof(*n->dests));
    n->multi = curl_multi_init();
    if (!n->q || !n->batch || !n->dests || !n->multi) {
        rc = km_err_set(KM_ENOMEM, "out of memory making a notifier");
        goto out_free_notifier;
    }
    if (o->external_labels) {
        rc = km_labels_dup(&n->external, o->external_labels);
        if (rc)
            goto out_free_notifier;
    }
    for (; n->ndests < o->n_targets; n->ndests++) {
        rc = km_notify_dest_init(&n->dests[n->ndests], &o->targets[n->ndests], n->ndests);
        if (rc) {
            n->ndests++; /* so that its half is freed too */
            goto out_free_notifier;
        }
    }
    if (pthread_create(&n->thread, NULL, sender_main, n) != 0) {
        rc = km_err_set(KM_EIO, "cannot start the notifier's thread");
        goto out_free_notifier;
    }
    n->thread_started = true;
    *out = n;
    return 0;

out_free_notifier:
    free_notifier(n);
    return rc;
}

void km_notifier_destroy(struct km_notifier *n)
{
    if (!n)
        return;
    if (n->thread_started) {
        pthread_mutex_lock(&n->mu);
        n->stopping = true;
        n->stop_deadline_ns = km_time_mono_ns() + (n->drain_ms > 0 ? n->drain_ms * 1000000 : 0);
        pthread_cond_signal(&n->cv);
        pthread_mutex_unlock(&n->mu);
        curl_multi_wakeup(n->multi); /* out of a wait for an answer or a retry */
        pthread_join(n->thread, NULL);
    }
    free_notifier(n);
}
