/*
 * manager — loading and reloading rule files (all or nothing), the groups' threads, the
 * rules and alerts in Prometheus' /api/v1 JSON, and the prometheus_rule_* metrics (see
 * manager.h).
 */
#include "common/array.h"
#include "common/err.h"
#include "common/jsonw.h"
#include "common/log.h"
#include "common/mset.h"
#include "common/timefmt.h"
#include "promql/dtoa.h"
#include "rules/default_pack.h"
#include "rules/rules_internal.h"

#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG "rules"

void km_rules_opts_default(struct km_rules_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->default_interval_ms = 60000;
    o->outage_tolerance_ms = 3600000;
    o->for_grace_period_ms = 600000;
    o->resend_delay_ms = 60000;
    km_pq_opts_default(&o->query);
}

int km_rules_create(struct km_rules **out, const struct km_rules_opts *o)
{
    struct km_rules *m = calloc(1, sizeof(*m));

    if (!m)
        return km_err_set(KM_ENOMEM, "out of memory");
    m->o = *o;
    if (m->o.default_interval_ms <= 0)
        m->o.default_interval_ms = 60000;
    m->external_url = strdup(o->external_url ? o->external_url : "");
    m->disabled = strdup(o->disabled ? o->disabled : "");
    if (!m->external_url || !m->disabled)
        goto out_free;
    if (o->external_labels ? km_labels_dup(&m->external, o->external_labels)
                           : km_labels_create(&m->external, NULL, 0))
        goto out_free;
    m->o.external_labels = m->external;
    m->o.external_url = m->external_url;
    pthread_mutex_init(&m->load_mu, NULL);
    pthread_mutex_init(&m->mu, NULL);
    *out = m;
    return 0;

out_free:
    free(m->external_url);
    free(m->disabled);
    free(m);
    return km_err_set(KM_ENOMEM, "out of memory");
}

static void free_groups(struct km_rules_group **g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        km_rules_group_destroy(g[i]);
    free(g);
}

void km_rules_destroy(struct km_rules *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->ngroups; i++)
        km_rules_group_stop(m->groups[i]);
    free_groups(m->groups, m->ngroups);
    km_labels_destroy(m->external);
    free(m->external_url);
    free(m->disabled);
    pthread_mutex_destroy(&m->mu);
    pthread_mutex_destroy(&m->load_mu);
    free(m);
}

/* ---- loading ------------------------------------------------------------------------------ */

/* The files the patterns name, sorted and without repeats. */
static int expand_patterns(char *const *patterns, size_t n, glob_t *gl, struct km_buf *errs)
{
    int flags = 0;

    memset(gl, 0, sizeof(*gl));
    for (size_t i = 0; i < n; i++) {
        int rc = glob(patterns[i], flags, NULL, gl);

        if (rc == GLOB_NOSPACE)
            return KM_ENOMEM;
        if (rc == GLOB_ABORTED) {
            km_buf_printf(errs, "%s%s: cannot read the directory", errs->len ? "\n" : "",
                          patterns[i]);
            return KM_EIO;
        }
        if (rc == 0 || gl->gl_pathc)
            flags = GLOB_APPEND;
    }
    return 0;
}

/* The files named (globs when is_glob), then the default pack's when with_defaults: the
 * first *nuser of *out are the user's. */
static int load_files(char *const *files, size_t n, bool is_glob, bool with_defaults,
                      struct km_rulefile ***out, size_t *nout, size_t *nuser, struct km_buf *errs)
{
    struct km_rulefile **f;
    glob_t gl;
    char *const *paths = files;
    size_t npaths = n, nf = 0;
    int rc = 0, failed = 0;

    memset(&gl, 0, sizeof(gl));
    if (is_glob) {
        rc = expand_patterns(files, n, &gl, errs);
        if (rc) {
            globfree(&gl);
            return rc;
        }
        paths = gl.gl_pathv;
        npaths = gl.gl_pathc;
    }
    f = calloc(npaths + 1, sizeof(*f));
    if (!f) {
        globfree(&gl);
        return KM_ENOMEM;
    }
    for (size_t i = 0; i < npaths; i++) {
        bool dup = false;

        for (size_t k = 0; k < i; k++)
            dup = dup || strcmp(paths[k], paths[i]) == 0;
        if (dup)
            continue;
        rc = km_rulefile_load(&f[nf], paths[i], errs);
        if (rc == KM_ENOMEM)
            break;
        if (rc) {
            failed++;
            rc = 0;
            continue;
        }
        nf++;
    }
    globfree(&gl);
    if (rc == 0 && failed)
        rc = KM_EINVAL;
    *nuser = nf;
    for (size_t i = 0; rc == 0 && with_defaults && i < km_rules_default_pack_count; i++) {
        const struct km_rules_embedded *e = &km_rules_default_pack[i];
        char path[256];
        struct km_rulefile **grown = realloc(f, (nf + 2) * sizeof(*f));

        if (!grown) {
            rc = KM_ENOMEM;
            break;
        }
        f = grown;
        snprintf(path, sizeof(path), "default/%s", e->name);
        rc = km_rulefile_parse(&f[nf], path, e->text, e->len, errs);
        if (rc == 0)
            nf++;
    }
    if (rc) {
        for (size_t i = 0; i < nf; i++)
            km_rulefile_destroy(f[i]);
        free(f);
        return rc;
    }
    *out = f;
    *nout = nf;
    return 0;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of the default rules not to load: those disabled, and those the user's files
 * define (sorted; the strings borrowed from the files and m->disabled). */
static char **default_skips(struct km_rulefile **files, size_t nuser, char *disabled, size_t *n)
{
    size_t cap = 1;
    char **v, *save = NULL;

    for (size_t i = 0; i < nuser; i++)
        cap += files[i]->nrules;
    for (const char *p = disabled; *p; p++) /* a name after each separator, at most */
        cap += *p == ',' || *p == ' ';
    v = calloc(cap + 1, sizeof(*v));
    *n = 0;
    if (!v)
        return NULL;
    for (size_t i = 0; i < nuser; i++) {
        for (size_t j = 0; j < files[i]->ngroups; j++) {
            for (size_t k = 0; k < files[i]->groups[j].nrules; k++)
                v[(*n)++] = (char *)files[i]->groups[j].rules[k].name;
        }
    }
    for (char *t = strtok_r(disabled, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
        v[(*n)++] = t;
    km_sort(v, *n, sizeof(*v), str_cmp);
    return v;
}

/* New groups for the files; each file is owned by its groups (freed with the last). */
static int build_groups(struct km_rules *m, struct km_rulefile **files, size_t nfiles, size_t nuser,
                        struct km_rules_group ***out, size_t *nout)
{
    struct km_rules_group **g;
    size_t n = 0, total = 0, nskip = 0;
    char *disabled = strdup(m->disabled);
    char **skip = disabled ? default_skips(files, nuser, disabled, &nskip) : NULL;
    int rc = 0;

    if (!skip)
        rc = KM_ENOMEM;

    for (size_t i = 0; i < nfiles; i++)
        total += files[i]->ngroups;
    g = calloc(total + 1, sizeof(*g));
    if (!g)
        rc = KM_ENOMEM;
    for (size_t i = 0; i < nfiles; i++) {
        struct km_rules_file *rf = rc ? NULL : calloc(1, sizeof(*rf));

        if (!rf) {
            km_rulefile_destroy(files[i]);
            rc = KM_ENOMEM;
            continue;
        }
        rf->f = files[i];
        rf->refs = 1; /* ours, until the groups hold it */
        for (size_t j = 0; rc == 0 && j < files[i]->ngroups; j++) {
            rc = km_rules_group_create(&g[n], m, rf, &files[i]->groups[j], i >= nuser ? skip : NULL,
                                       i >= nuser ? nskip : 0);
            if (rc == 0 && i >= nuser && g[n]->nrules == 0)
                km_rules_group_destroy(g[n]); /* every rule replaced or disabled */
            else if (rc == 0)
                n++;
        }
        if (--rf->refs == 0) {
            km_rulefile_destroy(rf->f);
            free(rf);
        }
    }
    free(skip);
    free(disabled);
    if (rc) {
        free_groups(g, n);
        return rc;
    }
    *out = g;
    *nout = n;
    return 0;
}

static bool same_group(const struct km_rules_group *a, const struct km_rules_group *b)
{
    return strcmp(a->g->name, b->g->name) == 0 && strcmp(a->file->f->path, b->file->f->path) == 0;
}

static int load(struct km_rules *m, char *const *files, size_t n, bool is_glob, bool start,
                struct km_buf *errs)
{
    struct km_rules_group **groups = NULL, **old;
    struct km_rulefile **parsed = NULL;
    size_t nparsed = 0, ngroups = 0, nold, nuser = 0;
    int64_t now = km_time_now_ns() / 1000000;
    int rc;

    rc = load_files(files, n, is_glob, m->o.default_pack, &parsed, &nparsed, &nuser, errs);
    if (rc == 0) {
        rc = build_groups(m, parsed, nparsed, nuser, &groups, &ngroups);
        free(parsed);
    }
    pthread_mutex_lock(&m->mu);
    m->loads++;
    if (rc) {
        m->load_failures++;
        m->last_ok = false;
        pthread_mutex_unlock(&m->mu);
        return rc;
    }
    old = m->groups;
    nold = m->ngroups;
    /* Groups that stay take their state over; the rest start afresh (and restore their
     * `for` state only on the first load, as at Prometheus' start). */
    for (size_t i = 0; i < ngroups; i++) {
        groups[i]->should_restore = !m->restored && !m->o.no_restore;
        for (size_t r = 0; r < groups[i]->nrules; r++)
            groups[i]->rules[r].restored = !groups[i]->should_restore;
        for (size_t k = 0; k < nold; k++) {
            if (old[k] && same_group(groups[i], old[k])) {
                km_rules_group_stop(old[k]);
                km_rules_group_take_state(groups[i], old[k]);
                groups[i]->should_restore = old[k]->should_restore;
                km_rules_group_destroy(old[k]);
                old[k] = NULL;
                break;
            }
        }
    }
    m->groups = groups;
    m->ngroups = ngroups;
    m->restored = true;
    m->loaded_ms = now;
    m->last_ok = true;
    pthread_mutex_unlock(&m->mu);
    /* Groups gone: their series end with stale markers. */
    for (size_t k = 0; k < nold; k++) {
        if (!old[k])
            continue;
        km_rules_group_stop(old[k]);
        km_rules_group_mark_stale(old[k], now);
        km_rules_group_destroy(old[k]);
    }
    free(old);
    for (size_t i = 0; start && i < ngroups; i++) {
        if (km_rules_group_start(groups[i]) != 0)
            km_log_error(LOG, "%s", km_err_msg());
    }
    if (start)
        km_log_info(LOG, "loaded %zu rule groups", ngroups);
    return 0;
}

int km_rules_load(struct km_rules *m, char *const *patterns, size_t npatterns, struct km_buf *errs)
{
    int rc;

    pthread_mutex_lock(&m->load_mu);
    rc = load(m, patterns, npatterns, true, true, errs);
    pthread_mutex_unlock(&m->load_mu);
    return rc;
}

int km_rules_load_stopped(struct km_rules *m, char *const *files, size_t nfiles,
                          struct km_buf *errs)
{
    int rc;

    pthread_mutex_lock(&m->load_mu);
    rc = load(m, files, nfiles, false, false, errs);
    pthread_mutex_unlock(&m->load_mu);
    return rc;
}

int km_rules_eval_all(struct km_rules *m, int64_t ts_ms)
{
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->ngroups; i++) {
        km_rules_group_eval(m->groups[i], ts_ms);
        if (m->groups[i]->should_restore && m->groups[i]->iterations >= 2)
            km_rules_group_restore(m->groups[i], ts_ms);
    }
    pthread_mutex_unlock(&m->mu);
    return 0;
}

void km_rules_each_firing(struct km_rules *m, const char *alertname,
                          void (*fn)(void *ud, const struct km_labels *labels,
                                     const struct km_labels *annotations),
                          void *ud)
{
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->ngroups; i++) {
        struct km_rules_group *g = m->groups[i];

        pthread_mutex_lock(&g->mu);
        for (size_t k = 0; k < g->nrules; k++) {
            const struct km_rule_state *rs = &g->rules[k];

            if (rs->rule->kind != KM_RULE_ALERT || strcmp(rs->rule->name, alertname) != 0)
                continue;
            for (size_t a = 0; a < rs->nalerts; a++) {
                if (rs->alerts[a]->state == KM_ALERT_FIRING)
                    fn(ud, rs->alerts[a]->labels, rs->alerts[a]->annotations);
            }
        }
        pthread_mutex_unlock(&g->mu);
    }
    pthread_mutex_unlock(&m->mu);
}

void km_rules_counts(struct km_rules *m, size_t *groups, size_t *rules, int64_t *loaded_ms,
                     bool *last_ok)
{
    size_t n = 0;

    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->ngroups; i++)
        n += m->groups[i]->nrules;
    *groups = m->ngroups;
    *rules = n;
    *loaded_ms = m->loaded_ms;
    *last_ok = m->last_ok || m->loads == 0;
    pthread_mutex_unlock(&m->mu);
}

/* ---- the API ------------------------------------------------------------------------------ */

/* time.Time's JSON: RFC 3339 with the fraction's trailing zeros dropped. */
static void json_time(struct km_jsonw *w, int64_t ms)
{
    char buf[64];

    if (ms == 0) {
        km_jsonw_str(w, "0001-01-01T00:00:00Z");
        return;
    }
    km_time_format_rfc3339(buf, sizeof(buf), ms * 1000000, ms % 1000 ? 3 : 0);
    if (ms % 1000) {
        char *z = strchr(buf, 'Z');

        while (z && z[-1] == '0') {
            memmove(z - 1, z, strlen(z) + 1);
            z--;
        }
    }
    km_jsonw_str(w, buf);
}

void km_rules_json_labels(struct km_jsonw *w, const struct km_labels *l)
{
    km_jsonw_obj_begin(w);
    for (size_t i = 0; l && i < l->n; i++) {
        km_jsonw_key(w, l->v[i].name);
        km_jsonw_str(w, l->v[i].value);
    }
    km_jsonw_obj_end(w);
}

static void json_pairs(struct km_jsonw *w, const struct km_rule_pair *p, size_t n)
{
    km_jsonw_obj_begin(w);
    for (size_t i = 0; i < n; i++) {
        km_jsonw_key(w, p[i].name);
        km_jsonw_str(w, p[i].value);
    }
    km_jsonw_obj_end(w);
}

static void json_alert(struct km_jsonw *w, const struct km_alert *a)
{
    char value[KM_PQ_EXP_MAX];

    km_jsonw_obj_begin(w);
    km_jsonw_key(w, "labels");
    km_rules_json_labels(w, a->labels);
    km_jsonw_key(w, "annotations");
    km_rules_json_labels(w, a->annotations);
    km_jsonw_key(w, "state");
    km_jsonw_str(w, km_alert_state_name(a->state));
    km_jsonw_key(w, "activeAt");
    json_time(w, a->active_at);
    if (a->keep_firing_since) {
        km_jsonw_key(w, "keepFiringSince");
        json_time(w, a->keep_firing_since);
    }
    km_jsonw_key(w, "value");
    km_jsonw_str(w, km_pq_format_exp(value, a->value, 'e')); /* as Prometheus prints it */
    km_jsonw_obj_end(w);
}

static const char *health_name(enum km_rule_health h)
{
    return h == KM_HEALTH_OK ? "ok" : h == KM_HEALTH_ERR ? "err" : "unknown";
}

static void json_rule(struct km_jsonw *w, const struct km_rule_state *rs)
{
    const struct km_rule *r = rs->rule;

    km_jsonw_obj_begin(w);
    if (r->kind == KM_RULE_ALERT) {
        enum km_alert_state st = KM_ALERT_INACTIVE;

        for (size_t i = 0; i < rs->nalerts; i++) {
            if (rs->alerts[i]->state > st)
                st = rs->alerts[i]->state;
        }
        km_jsonw_key(w, "state");
        km_jsonw_str(w, km_alert_state_name(st));
    }
    km_jsonw_key(w, "name");
    km_jsonw_str(w, r->name);
    km_jsonw_key(w, "query");
    km_jsonw_str(w, rs->query);
    if (r->kind == KM_RULE_ALERT) {
        km_jsonw_key(w, "duration");
        km_jsonw_double(w, (double)r->for_ms / 1000);
        km_jsonw_key(w, "keepFiringFor");
        km_jsonw_double(w, (double)r->keep_firing_for_ms / 1000);
        km_jsonw_key(w, "labels");
        json_pairs(w, r->labels, r->nlabels);
        km_jsonw_key(w, "annotations");
        json_pairs(w, r->annotations, r->nannotations);
        km_jsonw_key(w, "alerts");
        km_jsonw_arr_begin(w);
        for (size_t i = 0; i < rs->nalerts; i++) {
            if (rs->alerts[i]->state != KM_ALERT_INACTIVE)
                json_alert(w, rs->alerts[i]);
        }
        km_jsonw_arr_end(w);
    } else if (r->nlabels) {
        km_jsonw_key(w, "labels");
        json_pairs(w, r->labels, r->nlabels);
    }
    km_jsonw_key(w, "health");
    km_jsonw_str(w, health_name(rs->health));
    if (rs->last_error) {
        km_jsonw_key(w, "lastError");
        km_jsonw_str(w, rs->last_error);
    }
    km_jsonw_key(w, "evaluationTime");
    km_jsonw_double(w, rs->last_seconds);
    km_jsonw_key(w, "lastEvaluation");
    json_time(w, rs->last_eval_ms);
    km_jsonw_key(w, "type");
    km_jsonw_str(w, r->kind == KM_RULE_ALERT ? "alerting" : "recording");
    km_jsonw_obj_end(w);
}

void km_rules_write_groups(struct km_rules *m, const char *type, struct km_jsonw *w)
{
    bool want_alert = !type || strcmp(type, "alert") == 0;
    bool want_record = !type || strcmp(type, "record") == 0;

    km_jsonw_arr_begin(w);
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->ngroups; i++) {
        struct km_rules_group *g = m->groups[i];

        pthread_mutex_lock(&g->mu);
        km_jsonw_obj_begin(w);
        km_jsonw_key(w, "name");
        km_jsonw_str(w, g->g->name);
        km_jsonw_key(w, "file");
        km_jsonw_str(w, g->file->f->path);
        km_jsonw_key(w, "rules");
        km_jsonw_arr_begin(w);
        for (size_t k = 0; k < g->nrules; k++) {
            bool alert = g->rules[k].rule->kind == KM_RULE_ALERT;

            if ((alert && want_alert) || (!alert && want_record))
                json_rule(w, &g->rules[k]);
        }
        km_jsonw_arr_end(w);
        km_jsonw_key(w, "interval");
        km_jsonw_double(w, (double)g->interval_ms / 1000);
        km_jsonw_key(w, "limit");
        km_jsonw_i64(w, g->g->limit);
        km_jsonw_key(w, "evaluationTime");
        km_jsonw_double(w, g->last_seconds);
        km_jsonw_key(w, "lastEvaluation");
        json_time(w, g->last_eval_ms);
        km_jsonw_obj_end(w);
        pthread_mutex_unlock(&g->mu);
    }
    pthread_mutex_unlock(&m->mu);
    km_jsonw_arr_end(w);
}

void km_rules_write_alerts(struct km_rules *m, struct km_jsonw *w)
{
    km_jsonw_arr_begin(w);
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->ngroups; i++) {
        struct km_rules_group *g = m->groups[i];

        pthread_mutex_lock(&g->mu);
        for (size_t k = 0; k < g->nrules; k++) {
            const struct km_rule_state *rs = &g->rules[k];

            for (size_t a = 0; a < rs->nalerts; a++) {
                if (rs->alerts[a]->state != KM_ALERT_INACTIVE)
                    json_alert(w, rs->alerts[a]);
            }
        }
        pthread_mutex_unlock(&g->mu);
    }
    pthread_mutex_unlock(&m->mu);
    km_jsonw_arr_end(w);
}

/* ---- metrics ------------------------------------------------------------------------------ */

void km_rules_metrics(struct km_rules *m, struct km_mset *ms)
{
    int f_evals = km_mset_family(ms, "prometheus_rule_evaluations_total",
                                 "Rule evaluations, by group.", KM_MT_COUNTER, 0);
    int f_fail = km_mset_family(ms, "prometheus_rule_evaluation_failures_total",
                                "Rule evaluations that failed, by group.", KM_MT_COUNTER, 0);
    int f_iter = km_mset_family(ms, "prometheus_rule_group_iterations_total",
                                "Scheduled evaluations of the group.", KM_MT_COUNTER, 0);
    int f_missed = km_mset_family(ms, "prometheus_rule_group_iterations_missed_total",
                                  "Evaluations of the group missed because one ran too long.",
                                  KM_MT_COUNTER, 0);
    int f_iv = km_mset_family(ms, "prometheus_rule_group_interval_seconds",
                              "The group's evaluation interval.", KM_MT_GAUGE, 0);
    int f_dur = km_mset_family(ms, "prometheus_rule_group_last_duration_seconds",
                               "How long the group's last evaluation took.", KM_MT_GAUGE, 0);
    int f_last = km_mset_family(ms, "prometheus_rule_group_last_evaluation_timestamp_seconds",
                                "When the group was last evaluated.", KM_MT_GAUGE, 0);
    int f_rules =
        km_mset_family(ms, "prometheus_rule_group_rules", "Rules in the group.", KM_MT_GAUGE, 0);
    int f_samples = km_mset_family(ms, "prometheus_rule_group_last_evaluation_samples",
                                   "Samples the group's last evaluation wrote.", KM_MT_GAUGE, 0);
    int f_rdur = km_mset_family(ms, "kmon_rule_last_duration_seconds",
                                "How long the last evaluation of the rules of this name took.",
                                KM_MT_GAUGE, 0);
    int f_rfail =
        km_mset_family(ms, "kmon_rule_evaluation_failures_total",
                       "Evaluations of the rules of this name that failed.", KM_MT_COUNTER, 0);
    int f_alerts =
        km_mset_family(ms, "kmon_rule_alerts", "The rule's alerts, by state.", KM_MT_GAUGE, 0);
    int f_load =
        km_mset_family(ms, "prometheus_rule_config_last_reload_successful",
                       "Whether the last load of the rule files succeeded.", KM_MT_GAUGE, 0);
    int f_loadts =
        km_mset_family(ms, "prometheus_rule_config_last_reload_success_timestamp_seconds",
                       "When the rule files were last loaded.", KM_MT_GAUGE, 0);

    pthread_mutex_lock(&m->mu);
    km_mset_add(ms, f_load, NULL, 0, m->last_ok || m->loads == 0);
    km_mset_add(ms, f_loadts, NULL, 0, (double)m->loaded_ms / 1000);
    for (size_t i = 0; i < m->ngroups; i++) {
        struct km_rules_group *g = m->groups[i];
        char key[1024];
        uint64_t evals = 0, fails = 0;

        snprintf(key, sizeof(key), "%s;%s", g->file->f->path, g->g->name);
        pthread_mutex_lock(&g->mu);
        for (size_t k = 0; k < g->nrules; k++) {
            const struct km_rule_state *rs = &g->rules[k];
            struct km_label l[2] = { { "rule_group", key }, { "rule", rs->rule->name } };
            size_t count[3] = { 0 };
            double seconds = 0, failures = 0;
            bool seen = false, alerting = false;

            evals += rs->evals;
            fails += rs->failures;
            /* Rules of one name in a group (an alert per severity) are one series each. */
            for (size_t e = 0; e < k && !seen; e++)
                seen = strcmp(g->rules[e].rule->name, rs->rule->name) == 0;
            if (seen)
                continue;
            for (size_t e = k; e < g->nrules; e++) {
                const struct km_rule_state *same = &g->rules[e];

                if (strcmp(same->rule->name, rs->rule->name) != 0)
                    continue;
                seconds += same->last_seconds;
                failures += (double)same->failures;
                alerting |= same->rule->kind == KM_RULE_ALERT;
                for (size_t a = 0; a < same->nalerts; a++)
                    count[same->alerts[a]->state]++;
            }
            km_mset_add(ms, f_rdur, l, 2, seconds);
            km_mset_add(ms, f_rfail, l, 2, failures);
            if (!alerting)
                continue;
            for (int s = KM_ALERT_PENDING; s <= KM_ALERT_FIRING; s++) {
                struct km_label ls[3] = { l[0], l[1], { "state", km_alert_state_name(s) } };

                km_mset_add(ms, f_alerts, ls, 3, (double)count[s]);
            }
        }
        {
            struct km_label l = { "rule_group", key };

            km_mset_add(ms, f_evals, &l, 1, (double)evals);
            km_mset_add(ms, f_fail, &l, 1, (double)fails);
            km_mset_add(ms, f_iter, &l, 1, (double)g->iterations);
            km_mset_add(ms, f_missed, &l, 1, (double)g->missed);
            km_mset_add(ms, f_iv, &l, 1, (double)g->interval_ms / 1000);
            km_mset_add(ms, f_dur, &l, 1, g->last_seconds);
            km_mset_add(ms, f_last, &l, 1, (double)g->last_eval_ms / 1000);
            km_mset_add(ms, f_rules, &l, 1, (double)g->nrules);
            km_mset_add(ms, f_samples, &l, 1, (double)g->last_samples);
        }
        pthread_mutex_unlock(&g->mu);
    }
    pthread_mutex_unlock(&m->mu);
}
