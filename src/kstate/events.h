/*
 * events — Kubernetes Events (events.k8s.io/v1) as a log stream: the cluster-state
 * collector lists and watches Events and hands each new observation of one to a sink as
 * one logfmt line, labelled {source="kubernetes-events", namespace, kind, name, reason,
 * type} (plus cluster when configured), so "why is this pod Pending" is a log query on
 * the pod's namespace, kind and name.
 *
 * Nothing is kept of an Event but a small bounded map uid → the last observation
 * written (its time and count): an ADDED or MODIFIED Event whose observation is the
 * same is not written again. A relist (after 410 Gone, a restart, a takeover by this
 * replica) writes again whatever the map cannot tell apart, which is harmless because
 * the line and its timestamp are a pure function of the Event's observation: a store
 * that drops exact (timestamp, line) duplicates in a stream, as kmon's log store does,
 * keeps one copy.
 *
 * The parts, each usable alone:
 *   - the decoder (km_kevents_decode) and the line and labels of an Event (pure,
 *     thread-safe; events_decode.c);
 *   - the map of observations written (struct km_kevents_seen; one owner;
 *     events_seen.c);
 *   - the watcher (km_kevents_start): a list + watch thread feeding a bounded queue and
 *     a sender thread handing batches to the sink, retrying with backoff when the sink
 *     refuses; a full queue makes the watcher wait while the sink takes lines and drops
 *     the oldest lines (counted) while it refuses (events.c).
 *
 * Threads: the watcher's two threads; km_kevents_metrics from any thread.
 */
#ifndef KMON_KSTATE_EVENTS_H
#define KMON_KSTATE_EVENTS_H

#include "common/buf.h"
#include "common/labels.h"
#include "kube/kconfig.h"
#include "kube/watch.h"
#include "logs/logtypes.h"
#include "reflector.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct km_mset;

/* The caps, in one place. */
#define KM_KEVENTS_MAX_NOTE     (16u * 1024) /* the note's bytes in a line, escaped; longer is cut */
#define KM_KEVENTS_MAX_VALUE    1024         /* a label, or a short field of a line (escaped) */
#define KM_KEVENTS_MAX_LINE     (32u * 1024) /* a whole line: the note, nine short fields, keys */
#define KM_KEVENTS_LABELS       7            /* source, cluster, namespace, kind, name, … */
#define KM_KEVENTS_TRACKED      65536        /* default of opts.max_tracked */
#define KM_KEVENTS_QUEUED       4096         /* default of opts.max_queued */
#define KM_KEVENTS_QUEUED_BYTES (8u << 20)   /* lines waiting for the sink, bytes */
#define KM_KEVENTS_BATCH        500          /* default of opts.batch */

/* ---- the decoder ---------------------------------------------------------------------- */

/* One Event's observation, its strings borrowed from the JSON object (valid while it
 * lives); NULL for an absent or empty field. */
struct km_kevent {
    const char *uid;                    /* metadata.uid */
    const char *ns;                     /* metadata.namespace */
    const char *kind, *name, *obj_ns;   /* regarding (or core/v1's involvedObject) */
    const char *field_path;             /* regarding.fieldPath: spec.containers{app} */
    const char *reason, *type, *action; /* "FailedScheduling", "Warning", "Scheduling" */
    const char *note;                   /* note (or core/v1's message) */
    const char *controller, *instance;  /* reportingController, reportingInstance (or
                                         * deprecatedSource.component, .host) */
    int64_t count;                      /* series.count, else deprecatedCount, else 1 */
    int64_t ts_ns;                      /* the observation's time (see km_kevents_decode) */
};

/* Read an Event object (events.k8s.io/v1; core/v1's field names are understood too).
 * The time is series.lastObservedTime, else deprecatedLastTimestamp, else eventTime,
 * else deprecatedFirstTimestamp, else metadata.creationTimestamp (the first that
 * parses). On success *out is filled. KM_EINVAL (with a sentence) when obj is not an
 * object, has no uid or no time. */
int km_kevents_decode(struct km_kevent *out, const json_t *obj);

/* Append the Event's line to b, logfmt as `| logfmt` reads it (keys in a fixed order,
 * values quoted and escaped when they must be, absent optional keys left out):
 *   type=Warning reason=FailedScheduling kind=Pod name=web-1 namespace=shop count=3
 *   reportingController=default-scheduler action=Scheduling msg="0/3 nodes are …"
 * A note longer than KM_KEVENTS_MAX_NOTE bytes once escaped is cut on a UTF-8 boundary
 * and the line ends with truncated=true; other values are cut likewise at
 * KM_KEVENTS_MAX_VALUE (silently). The line is never longer than KM_KEVENTS_MAX_LINE.
 * A pure function of ev. Returns 0 or b's error. */
int km_kevents_line(struct km_buf *b, const struct km_kevent *ev);

/* The Event's labels into l[0..KM_KEVENTS_LABELS): source="kubernetes-events", cluster
 * (when not NULL or empty), namespace (the regarding object's, else the Event's), kind,
 * name, reason, type; a label without a value is left out and a value is cut at
 * KM_KEVENTS_MAX_VALUE bytes into `scratch` (KM_KEVENTS_LABELS × (KM_KEVENTS_MAX_VALUE + 1)
 * bytes at least) only when it must be. Returns how many labels, in this order. */
#define KM_KEVENTS_SCRATCH (KM_KEVENTS_LABELS * (KM_KEVENTS_MAX_VALUE + 1))
size_t km_kevents_labels(struct km_label *l, char *scratch, const struct km_kevent *ev,
                         const char *cluster);

/* The map key of a uid. */
uint64_t km_kevents_key(const char *uid);

/* ---- the map of observations written -------------------------------------------------- */

struct km_kevents_seen_slot;

struct km_kevents_seen {
    struct km_kevents_seen_slot *slot; /* open addressing, linear probing */
    size_t nslots, n, cap;             /* cap: the most entries kept */
    uint32_t epoch;                    /* the current list's mark */
    uint64_t evicted;                  /* entries dropped for room */
};

/* An empty map of at most `cap` entries (0: KM_KEVENTS_TRACKED). */
void km_kevents_seen_init(struct km_kevents_seen *s, size_t cap);
void km_kevents_seen_fini(struct km_kevents_seen *s); /* accepts a zeroed map */

/* Record (key → ts_ns, count) marked with the current epoch. Returns 1 when this is a
 * new observation (no entry, or another one: the line must be written), 0 when the same
 * one is recorded (a repeat), KM_ENOMEM. When the map is full the entries with the
 * oldest observations (an eighth of them) are dropped first: their Events, if seen
 * again unchanged, are written again. */
int km_kevents_seen_put(struct km_kevents_seen *s, uint64_t key, int64_t ts_ns, int64_t count);

/* Forget a key (its Event was deleted). */
void km_kevents_seen_del(struct km_kevents_seen *s, uint64_t key);

/* A list starts: entries put from now on carry a new mark. */
void km_kevents_seen_begin(struct km_kevents_seen *s);

/* The list completed: drop the entries it did not put (Events gone meanwhile). Returns
 * how many. */
size_t km_kevents_seen_end(struct km_kevents_seen *s);

/* Forget everything. */
void km_kevents_seen_clear(struct km_kevents_seen *s);

/* ---- the watcher ---------------------------------------------------------------------- */

/* Where the lines go. push takes n streams (everything borrowed for the call) and
 * returns 0 (or more) when it took them, stored or refused for good (a line too old,
 * too long: nothing a retry changes), or a negative code when it could not take them
 * now (the store is down, the server unreachable): the same lines are offered again
 * after a backoff. Called from the watcher's sender thread, one call at a time; it may
 * block up to a timeout of its own (an HTTP push), lines queue meanwhile up to the cap. */
struct km_kevents_sink {
    int (*push)(void *ud, const struct km_log_push_stream *st, size_t n);
    void *ud;
};

struct km_kevents_opts {
    struct km_kevents_sink sink; /* required */
    const char *cluster;         /* NULL or "": no cluster label */
    bool (*leading)(void *ud);   /* NULL: always; else lines are written only while true,
                                  * and becoming true relists (writing what the API holds,
                                  * duplicates being harmless) */
    void *leading_ud;
    long watch_timeout_s;       /* 0: 300 */
    unsigned page_limit;        /* 0: 500 */
    size_t max_tracked;         /* 0: KM_KEVENTS_TRACKED */
    size_t max_queued;          /* 0: KM_KEVENTS_QUEUED */
    size_t batch;               /* 0: KM_KEVENTS_BATCH */
    int64_t backoff_min_ms;     /* 0: 1 s; the API and the sink */
    int64_t backoff_max_ms;     /* 0: 30 s */
    int64_t forbidden_retry_ms; /* 0: 10 min */
    const char *path;           /* NULL: /apis/events.k8s.io/v1/events (all namespaces) */
};

/* The outcomes counted in kmon_kstate_events_total{outcome}. */
enum km_kevents_outcome {
    KM_KEV_EMITTED,   /* taken by the sink */
    KM_KEV_DUPLICATE, /* the same observation as the one written before: not written */
    KM_KEV_DROPPED,   /* the queue was full while the sink refused: the oldest dropped */
    KM_KEV_INVALID,   /* not a usable Event (no uid, no time) */
    KM_KEV__N,
};

struct km_kevents;

/* Start the watcher's threads (cfg NULL: the sender only; see km_kevents_feed). cfg
 * must outlive the watcher. On success *out is new;
 * stop it with km_kevents_stop(). KM_EINVAL without a sink. */
int km_kevents_start(struct km_kevents **out, const struct km_kube_config *cfg,
                     const struct km_kevents_opts *o);

/* Without a Kubernetes configuration (km_kevents_start with cfg NULL) the events come
 * from here instead (tests, tools): one watch event as the watcher would handle it
 * (ADDED or MODIFIED written when new, DELETED forgotten). KM_EINVAL when the watcher
 * has a thread of its own. */
int km_kevents_feed(struct km_kevents *e, enum km_watch_type type, const json_t *obj);

/* The list/watch statistics, as a reflector's (objects: entries in the map). */
const struct km_kreflector_stats *km_kevents_stats(const struct km_kevents *e);

/* Outcome counts so far (any thread). */
uint64_t km_kevents_count(const struct km_kevents *e, enum km_kevents_outcome o);

/* Entries in the map of observations (any thread; approximate). */
size_t km_kevents_tracked(const struct km_kevents *e);

/* kmon_kstate_events_total{outcome}, kmon_kstate_events_queued,
 * kmon_kstate_events_tracked, kmon_kstate_events_forbidden. */
void km_kevents_metrics(struct km_kevents *e, struct km_mset *m);

/* Stop both threads, offering what is queued to the sink once (no retry), and free.
 * The sink is not called after this returns. Accepts NULL. */
void km_kevents_stop(struct km_kevents *e);

#endif
