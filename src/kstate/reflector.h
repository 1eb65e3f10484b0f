/*
 * reflector — keeps one kind's store (store.h) equal to what the Kubernetes API holds:
 * a paged list (limit + continue; a continue token that expired, 410, restarts the list
 * from scratch), then a watch from the list's resourceVersion with bookmarks and
 * timeoutSeconds, re-watching from the last version seen when a stream ends, relisting
 * on 410 Gone (an ERROR event or the HTTP status), backing off with jitter on errors.
 * A 403 is logged once at warn and the kind is probed again at most every 10 minutes,
 * silently. One watch connection per kind.
 *
 * Threads: one thread per reflector, doing blocking libcurl requests (the shared
 * kclient, one easy handle). A thread per kind keeps each kind's list/watch state
 * machine a plain loop, lets a slow 30 000-pod list proceed without holding up the
 * nodes' watch, and costs little: about fifteen threads with small stacks. The store is
 * shared with the emitter through its own lock; statistics through atomics.
 *
 * The loop does not need a store: km_kreflector_start_consumer() hands what it lists and
 * watches to a consumer's callbacks instead (the Events watcher, events.c, turns them into
 * log lines), on the reflector's thread.
 */
#ifndef KMON_KSTATE_REFLECTOR_H
#define KMON_KSTATE_REFLECTOR_H

#include "kube/kconfig.h"
#include "kube/watch.h"
#include "store.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct km_kreflector_opts {
    long watch_timeout_s;                   /* timeoutSeconds of a watch (default 300) */
    unsigned page_limit;                    /* limit of a list page (default 500) */
    int64_t forbidden_retry_ms;             /* re-probe a forbidden kind (default 10 min) */
    int64_t backoff_min_ms, backoff_max_ms; /* default 1 s, 30 s */
    size_t max_page_bytes;                  /* a list page's body (default 256 MiB) */
    size_t max_event_bytes;                 /* one watch event (default 16 MiB) */
};

struct km_kreflector_stats {
    atomic_uint_fast64_t lists, pages, watches, events, relists_gone, errors;
    atomic_bool forbidden, synced, up;
};

struct km_kreflector;

/* Start the thread. The store, parse context (its intern table and allowlists) and
 * config must outlive the reflector. */
int km_kreflector_start(struct km_kreflector **out, const struct km_kind *kind,
                        struct km_kstore *store, const struct km_kparse *parse,
                        const struct km_kube_config *cfg, const struct km_kreflector_opts *o);

/* What a reflector without a store hands its objects to, on its thread. */
struct km_kreflector_consumer {
    /* A list starts, or starts over from its first page (its continue token expired). */
    void (*list_begin)(void *ud);
    /* One object: ADDED (each item of a list page too), MODIFIED or DELETED. 0, or
     * KM_ENOMEM to abandon the list or watch (it is retried after a backoff). */
    int (*put)(void *ud, enum km_watch_type type, const json_t *obj);
    /* The list completed: what it did not put is gone. */
    void (*list_end)(void *ud);
    /* A relist asked for with km_kreflector_relist() starts (NULL: nothing to do). */
    void (*relist)(void *ud);
    void *ud;
};

/* What a reflector lists and watches, for km_kreflector_start_consumer(). */
struct km_kreflector_target {
    const char *name;      /* in log lines: "pods", "events" */
    const char *path;      /* the list's path: /api/v1/pods */
    const char *forbidden; /* the warning logged once when the API answers 403 */
};

/* Start the thread of a reflector handing what it lists and watches to c (the strings of
 * t copied). cfg must outlive the reflector. On success *out is new; stop it with
 * km_kreflector_stop(). KM_ENOMEM, or the kube client's error. */
int km_kreflector_start_consumer(struct km_kreflector **out, const struct km_kreflector_target *t,
                                 const struct km_kreflector_consumer *c,
                                 const struct km_kube_config *cfg,
                                 const struct km_kreflector_opts *o);

/* Ask for a relist (any thread, until km_kreflector_stop()): the request in flight is cut
 * short, the consumer's relist() is called, and the kind is listed again. */
void km_kreflector_relist(struct km_kreflector *r);

const struct km_kreflector_stats *km_kreflector_stats(const struct km_kreflector *r);

/* Stop the thread (interrupting any request); the reflector stays until
 * km_kreflector_stop() (km_kreflector_relist() is harmless meanwhile). Accepts NULL. */
void km_kreflector_halt(struct km_kreflector *r);

/* Stop the thread (interrupting any request) and free. Accepts NULL. */
void km_kreflector_stop(struct km_kreflector *r);

#endif
