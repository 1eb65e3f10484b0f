/*
 * kstate — the cluster-state collector: a reflector per enabled kind (reflector.h)
 * keeping a compact store (store.h), and on demand the whole state as kube-state-metrics
 * families (KSM v2.15's names, labels and values) in a metric set, with `cluster` on
 * every series when configured and stale markers for series that ended, streamed in
 * chunks so that a large cluster's emission is never whole in memory. Used by
 * `kmon server --cluster-state` and `kmon agent --mode cluster`; it knows neither HTTP
 * serving nor storage.
 *
 * With an Events sink (opts.events_sink, events.h) it also watches events.k8s.io/v1
 * Events and hands each new observation to the sink as a log line.
 *
 * With leader election (kube/leader.h) every replica watches, and the callers emit only
 * while km_kstate_leading() says this replica leads, so a takeover emits at once.
 *
 * Threads: the reflectors, the elector and the Events watcher (two) run on their own
 * threads; km_kstate_emit and km_kstate_metrics may be called from any one thread at a
 * time, km_kstate_leading from any thread.
 */
#ifndef KMON_KSTATE_KSTATE_H
#define KMON_KSTATE_KSTATE_H

#include "emit.h"
#include "events.h"
#include "kube/leader.h"
#include "reflector.h"

#include <stdbool.h>
#include <stddef.h>

struct km_buf;
struct km_mset;

struct km_kstate_opts {
    const char *kubeconfig; /* NULL or "": in-cluster */
    const char *sa_dir;     /* the service-account directory for in-cluster */
    const char *cluster;    /* NULL or "": no cluster label */
    const char *kinds;      /* "pods,nodes,…"; NULL or "": all */
    const char *labels_allowlist, *annotations_allowlist; /* KSM syntax */
    struct km_kreflector_opts r;
    bool leader_elect; /* elect a leader with a Lease (leader.ns NULL or "": the service
                        * account's namespace in-cluster, else "default") */
    struct km_kleader_opts leader;
    bool events; /* watch Events (--cluster-state-events), when events_sink is set */
    /* Where Event lines go (the caller sets it after km_kstate_opts_from); push NULL: no
     * Events are watched. It is called from the Events sender's thread and must stay
     * valid until km_kstate_stop() returns. Only the leader's lines are handed over. */
    struct km_kevents_sink events_sink;
    /* The Events' cluster label when it is not `cluster` (the agent's cluster mode, where
     * the metrics shipper adds cluster to samples but nothing adds it to log streams);
     * NULL or "": `cluster`. */
    const char *events_cluster;
};

struct km_kstate;

/* Check a --cluster-state-kinds value; 0 or KM_EINVAL naming the unknown kind. */
int km_kstate_check_kinds(const char *kinds);

/* The names of every kind, comma-separated (for --help). */
const char *km_kstate_kind_names(void);

/* Configure and start. KM_ENOTFOUND (with a sentence) when there is no way to reach the
 * API; KM_EINVAL for a bad kind list or allowlist. */
int km_kstate_start(struct km_kstate **out, const struct km_kstate_opts *o);

struct km_kstate_emitted {
    uint64_t series, stale;
};

/* Every enabled kind's families and series into out->m (at its timestamp), handed to
 * out->flush in chunks when set, with a stale marker for each series of the last
 * emission that is gone (objects deleted or changed since). Returns 0 or the first
 * error of a flush or of the set; the counts go to *r (may be NULL). */
int km_kstate_emit(struct km_kstate *s, const struct km_kemit_out *out,
                   struct km_kstate_emitted *r);

/* The current state as Prometheus text, family after family (each family's lines
 * together, as the format wants), rendered in steps of a few thousand samples so that
 * /metrics of a large cluster is never whole in memory. A view marks nothing emitted.
 * Objects changing between steps show as they are when their family is rendered (a
 * view is not a snapshot; the table growing during a view may show a few of them twice
 * or not at all). */
struct km_kstate_view;

int km_kstate_view_begin(struct km_kstate *s, struct km_kstate_view **out);

/* Append the next part to b: 1 when more follows, 0 at the end, or a negative code. */
int km_kstate_view_step(struct km_kstate_view *v, struct km_buf *b);

/* Accepts NULL. */
void km_kstate_view_end(struct km_kstate_view *v);

/* Another replica emits now: what this one emitted is no longer its to end. The next
 * emission starts afresh and writes no stale marker for the earlier ones. */
void km_kstate_forget(struct km_kstate *s);

/* Whether this replica should emit: true without leader election, else whether it
 * holds the Lease now. Any thread. */
bool km_kstate_leading(struct km_kstate *s);

/* Whether every kind the API does not forbid has been listed completely at least once. */
bool km_kstate_synced(struct km_kstate *s);

/* kmon_cluster_state_* self-metrics (with leader election, kmon_cluster_state_leader and
 * _leader_transitions_total; with Events, their watch as kind="events" and
 * kmon_kstate_events_*). */
void km_kstate_metrics(struct km_kstate *s, struct km_mset *m);

/* The Events watcher, or NULL when Events are not watched (tests, tools). */
struct km_kevents *km_kstate_events(struct km_kstate *s);

/* Stop the Events watcher (offering its queued lines to the sink once), the elector
 * (releasing a held Lease) and the reflectors, and free everything.
 * Accepts NULL. */
void km_kstate_stop(struct km_kstate *s);

#endif
