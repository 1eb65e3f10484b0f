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
 */
#ifndef KMON_KSTATE_REFLECTOR_H
#define KMON_KSTATE_REFLECTOR_H

#include "kube/kconfig.h"
#include "store.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct km_kreflector_opts {
    long watch_timeout_s;       /* timeoutSeconds of a watch (default 300) */
    unsigned page_limit;        /* limit of a list page (default 500) */
    int64_t forbidden_retry_ms; /* re-probe a forbidden kind (default 10 min) */
    int64_t backoff_min_ms, backoff_max_ms;
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

const struct km_kreflector_stats *km_kreflector_stats(const struct km_kreflector *r);

/* Stop the thread (interrupting any request) and free. Accepts NULL. */
void km_kreflector_stop(struct km_kreflector *r);

#endif
