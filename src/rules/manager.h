/*
 * manager — recording and alerting rules evaluated as Prometheus 2.42's rule manager
 * evaluates them: each group on its own thread at timestamps aligned to its interval
 * (offset by a hash of the group, so groups spread out), its rules in order at one
 * timestamp; recording rules' results and alerts' ALERTS / ALERTS_FOR_STATE series
 * written back through the caller's append function, with stale markers for series a
 * rule stopped producing; alerts pending → firing after `for`, kept firing for
 * `keep_firing_for`, resolved and re-sent as Prometheus does; `for` state restored from
 * ALERTS_FOR_STATE after a restart; a group's `limit`.
 *
 * Rule files are loaded by glob patterns; a reload (km_rules_load() again) is all or
 * nothing: one bad file keeps every old rule and says why. Groups that survive a reload
 * (same file and name) keep their alerts.
 *
 * Threads: one per group; every function here may be called from any thread.
 */
#ifndef KMON_RULES_MANAGER_H
#define KMON_RULES_MANAGER_H

#include "common/buf.h"
#include "common/labels.h"
#include "promql/eval.h"
#include "storage/sample.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct km_jsonw;
struct km_mset;
struct km_storage;
struct km_rules;

enum km_alert_state { KM_ALERT_INACTIVE, KM_ALERT_PENDING, KM_ALERT_FIRING };

const char *km_alert_state_name(enum km_alert_state s); /* "inactive", "pending", "firing" */

/* An alert as it goes to Alertmanager (Prometheus' notifier.Alert). */
struct km_rules_alert {
    const struct km_labels *labels;
    const struct km_labels *annotations;
    int64_t starts_at_ms, ends_at_ms;
    const char *generator_url;
};

/* A change of an alert's state, for the alert history. */
struct km_rules_transition {
    const char *group, *file, *rule;
    const struct km_labels *labels;
    const struct km_labels *annotations;
    enum km_alert_state from, to;
    double value;
    int64_t at_ms, active_at_ms;
};

struct km_rules_opts {
    struct km_storage *store; /* read by the rules' queries */
    /* Write samples back (recording rules, ALERTS): 0 or an error. */
    int (*append)(void *ud, const struct km_sample *s, size_t n);
    void *append_ud;
    /* Alerts to send (may be NULL): called from group threads. */
    void (*notify)(void *ud, const struct km_rules_alert *a, size_t n);
    void *notify_ud;
    /* State changes (may be NULL): called from group threads. */
    void (*transition)(void *ud, const struct km_rules_transition *t);
    void *transition_ud;
    int64_t default_interval_ms;             /* groups without `interval`: 1m */
    int64_t outage_tolerance_ms;             /* how far back `for` state is restored from: 1h */
    int64_t for_grace_period_ms;             /* least time left to an alert restored pending: 10m */
    int64_t resend_delay_ms;                 /* resend firing alerts this often: 1m */
    const struct km_labels *external_labels; /* NULL: none */
    const char *external_url;                /* for generatorURL and templates */
    struct km_pq_opts query;
    bool no_restore; /* ALERTS written from the first evaluation (promtool's unit tests) */
    /* The default rule pack (default_pack.h) is loaded beside the files, except its rules
     * named in `disabled` (comma-separated) and those a file defines a rule of the same
     * name for (the user's rule replaces the default one). */
    bool default_pack;
    const char *disabled;
};

void km_rules_opts_default(struct km_rules_opts *o);

/* A manager with no rules. */
int km_rules_create(struct km_rules **out, const struct km_rules_opts *o);

/* Load the rule files matching the glob patterns (a pattern matching nothing is no
 * error, as in Prometheus), and the default pack when asked, and start evaluating them,
 * replacing what was loaded. On error the old rules stay, and errs holds every file's
 * errors one per line. */
int km_rules_load(struct km_rules *m, char *const *patterns, size_t npatterns, struct km_buf *errs);

/* Stop every group and free. Accepts NULL. */
void km_rules_destroy(struct km_rules *m);

/* Prometheus' /api/v1/rules "groups" array and /api/v1/alerts "alerts" array. `type`:
 * NULL, "alert" or "record". */
void km_rules_write_groups(struct km_rules *m, const char *type, struct km_jsonw *w);
void km_rules_write_alerts(struct km_rules *m, struct km_jsonw *w);

/* prometheus_rule_* and kmon_rule_* families. */
void km_rules_metrics(struct km_rules *m, struct km_mset *ms);

/* Number of groups and rules loaded, and when the last load succeeded (ms). */
void km_rules_counts(struct km_rules *m, size_t *groups, size_t *rules, int64_t *loaded_ms,
                     bool *last_ok);

/* Evaluate every group once at `ts_ms`, on the calling thread (tests, `kmon rules test`):
 * only for a manager whose groups were loaded with km_rules_load_stopped(). */
int km_rules_load_stopped(struct km_rules *m, char *const *files, size_t nfiles,
                          struct km_buf *errs);
int km_rules_eval_all(struct km_rules *m, int64_t ts_ms);

/* Call fn for every firing alert of the alerting rules named `alertname`. */
void km_rules_each_firing(struct km_rules *m, const char *alertname,
                          void (*fn)(void *ud, const struct km_labels *labels,
                                     const struct km_labels *annotations),
                          void *ud);

#endif
