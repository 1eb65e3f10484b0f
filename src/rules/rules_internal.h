/*
 * rules_internal — the manager's state shared by its files: manager.c (loading,
 * reloading, threads, the API and metrics), group.c (a group's evaluation and the `for`
 * state restore) and alert.c (an alerting rule's alerts).
 */
#ifndef KMON_RULES_RULES_INTERNAL_H
#define KMON_RULES_RULES_INTERNAL_H

#include "rules/manager.h"
#include "rules/rulefile.h"

#include <pthread.h>

/* A resolved alert is kept (and re-sent as resolved) this long, as Prometheus does. */
#define KM_RULES_RESOLVED_RETENTION_MS (15 * 60 * 1000)
/* Alerts one rule may hold: a rule matching every series of a big cluster stops here. */
#define KM_RULES_MAX_ALERTS 100000

enum km_rule_health { KM_HEALTH_UNKNOWN, KM_HEALTH_OK, KM_HEALTH_ERR };

struct km_alert {
    struct km_labels *labels;      /* owned: the series' without __name__, rule labels, alertname */
    struct km_labels *annotations; /* owned; expanded */
    enum km_alert_state state;
    double value;
    int64_t active_at, fired_at, resolved_at, last_sent_at, valid_until, keep_firing_since;
};

/* A rule's evaluation state. */
struct km_rule_state {
    const struct km_rule *rule; /* in the group's file */
    char *query;                /* the expression as Prometheus prints it */
    struct km_alert **alerts;   /* alerting rules: sorted by labels */
    size_t nalerts;
    struct km_labels **written; /* the series written at the last evaluation, sorted */
    size_t nwritten;
    enum km_rule_health health;
    char *last_error;
    int64_t last_eval_ms;
    double last_seconds;
    uint64_t evals, failures;
    bool restored;
};

/* A loaded rule file, shared by its groups. */
struct km_rules_file {
    struct km_rulefile *f;
    int refs;
};

struct km_rules_group {
    struct km_rules *m;
    struct km_rules_file *file;
    const struct km_rule_group *g;
    int64_t interval_ms;
    uint64_t hash;
    struct km_rule_state *rules;
    size_t nrules;
    bool should_restore;
    /* The thread. */
    pthread_t thread;
    bool started, stop;
    pthread_mutex_t mu; /* the rules' state, the statistics, stop */
    pthread_cond_t wake;
    /* Statistics. */
    uint64_t iterations, missed;
    int64_t last_eval_ms;
    double last_seconds;
    uint64_t last_samples;
};

struct km_rules {
    struct km_rules_opts o;
    struct km_labels *external; /* owned copy of o.external_labels */
    char *external_url;
    char *disabled;          /* owned copy of o.disabled */
    pthread_mutex_t load_mu; /* one load at a time (SIGHUP and POST /-/reload race) */
    pthread_mutex_t mu;      /* groups, counts */
    struct km_rules_group **groups;
    size_t ngroups;
    bool restored; /* a load happened: later new groups do not restore */
    int64_t loaded_ms;
    bool last_ok;
    uint64_t loads, load_failures;
};

/* manager.c: a label set as a JSON object (the API, the history). */
struct km_jsonw;
void km_rules_json_labels(struct km_jsonw *w, const struct km_labels *l);

/* group.c */
/* A group of `file`'s group g, without the rules named in skip[0..nskip) (sorted). */
int km_rules_group_create(struct km_rules_group **out, struct km_rules *m,
                          struct km_rules_file *file, const struct km_rule_group *g,
                          char *const *skip, size_t nskip);
void km_rules_group_destroy(struct km_rules_group *g);
int km_rules_group_start(struct km_rules_group *g);
void km_rules_group_stop(struct km_rules_group *g);
/* Take over the alerts and written series of the same rules (by name) of `old`. */
void km_rules_group_take_state(struct km_rules_group *g, struct km_rules_group *old);
/* Stale markers for every series the group wrote last (it is being removed). */
void km_rules_group_mark_stale(struct km_rules_group *g, int64_t ts);
/* Evaluate the group's rules at ts (the group's lock is taken inside). */
void km_rules_group_eval(struct km_rules_group *g, int64_t ts);
void km_rules_group_restore(struct km_rules_group *g, int64_t now);

/* alert.c: an alerting rule's result into its alerts and the samples to write. */
struct km_rules_out {
    struct km_sample *s;
    struct km_labels **owned; /* the samples' labels */
    size_t n, cap;
};
/* base's labels with `extra` set over them (an empty value removes the label, as
 * Prometheus' labels.Builder.Set does), without the label `drop` (may be NULL). */
int km_rules_labels_with(struct km_labels **out, const struct km_labels *base, const char *drop,
                         const struct km_label *extra, size_t nextra);
int km_rules_out_add(struct km_rules_out *o, struct km_labels *l, int64_t t, double v);
void km_rules_out_fini(struct km_rules_out *o);

struct km_pq_result;
int km_rules_alerting_eval(struct km_rules_group *g, struct km_rule_state *rs,
                           const struct km_pq_result *res, int64_t ts, struct km_rules_out *out,
                           struct km_buf *err);
void km_rules_alerting_send(struct km_rules_group *g, struct km_rule_state *rs, int64_t ts);
void km_rules_alert_free(struct km_alert *a);

#endif
