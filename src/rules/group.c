/*
 * group — one rule group: its thread, evaluating the rules in order at timestamps aligned
 * to the interval (Prometheus' Group.EvalTimestamp: base + hash(group) % interval, so
 * groups of one interval spread out yet each keeps a fixed phase), recording rules'
 * results and alerts' series written back with stale markers for the series a rule no
 * longer produces, and the `for` state of alerts restored from ALERTS_FOR_STATE after
 * the second evaluation of a start (RestoreForState).
 */
#include "common/err.h"
#include "common/log.h"
#include "common/lset.h"
#include "common/timefmt.h"
#include "promql/print.h"
#include "rules/rules_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#define LOG "rules"

static const union {
    uint64_t bits;
    double v;
} stale_nan = { 0x7ff0000000000002ull };

static void rule_state_fini(struct km_rule_state *rs)
{
    for (size_t i = 0; i < rs->nalerts; i++)
        km_rules_alert_free(rs->alerts[i]);
    free(rs->alerts);
    for (size_t i = 0; i < rs->nwritten; i++)
        km_labels_destroy(rs->written[i]);
    free(rs->written);
    free(rs->query);
    free(rs->last_error);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int km_rules_group_create(struct km_rules_group **out, struct km_rules *m,
                          struct km_rules_file *file, const struct km_rule_group *rg,
                          char *const *skip, size_t nskip)
{
    struct km_rules_group *g = calloc(1, sizeof(*g));
    XXH3_state_t *h;

    if (!g)
        return km_err_set(KM_ENOMEM, "out of memory");
    g->m = m;
    g->file = file;
    file->refs++;
    g->g = rg;
    g->interval_ms = rg->interval_ms > 0 ? rg->interval_ms : m->o.default_interval_ms;
    h = XXH3_createState();
    if (h) {
        XXH3_64bits_reset(h);
        XXH3_64bits_update(h, file->f->path, strlen(file->f->path));
        XXH3_64bits_update(h, "\xff", 1);
        XXH3_64bits_update(h, rg->name, strlen(rg->name));
        g->hash = XXH3_64bits_digest(h);
        XXH3_freeState(h);
    }
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->wake, NULL);
    g->rules = calloc(rg->nrules + 1, sizeof(*g->rules));
    if (!g->rules)
        goto out_destroy;
    for (size_t i = 0; i < rg->nrules; i++) {
        struct km_rule_state *rs = &g->rules[g->nrules];
        const char *name = rg->rules[i].name;
        struct km_buf b;

        if (nskip && bsearch(&name, skip, nskip, sizeof(*skip), str_cmp))
            continue;
        rs->rule = &rg->rules[i];
        rs->restored = true;
        km_buf_init(&b, 0);
        km_promql_print(&b, rg->rules[i].expr);
        rs->query = km_buf_detach(&b, NULL);
        g->nrules++;
        if (!rs->query)
            goto out_destroy;
    }
    *out = g;
    return 0;

out_destroy:
    km_rules_group_destroy(g);
    return km_err_set(KM_ENOMEM, "out of memory");
}

void km_rules_group_destroy(struct km_rules_group *g)
{
    if (!g)
        return;
    km_rules_group_stop(g);
    for (size_t i = 0; i < g->nrules; i++)
        rule_state_fini(&g->rules[i]);
    free(g->rules);
    if (--g->file->refs == 0) {
        km_rulefile_destroy(g->file->f);
        free(g->file);
    }
    pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

void km_rules_group_take_state(struct km_rules_group *g, struct km_rules_group *old)
{
    pthread_mutex_lock(&old->mu);
    for (size_t i = 0; i < g->nrules; i++) {
        struct km_rule_state *rs = &g->rules[i];

        for (size_t k = 0; k < old->nrules; k++) {
            struct km_rule_state *os = &old->rules[k];

            if (os->rule == NULL || strcmp(os->rule->name, rs->rule->name) != 0 ||
                os->rule->kind != rs->rule->kind)
                continue;
            rs->alerts = os->alerts;
            rs->nalerts = os->nalerts;
            rs->written = os->written;
            rs->nwritten = os->nwritten;
            rs->restored = os->restored;
            os->alerts = NULL;
            os->nalerts = 0;
            os->written = NULL;
            os->nwritten = 0;
            os->rule = NULL; /* taken */
            break;
        }
    }
    g->iterations = old->iterations;
    pthread_mutex_unlock(&old->mu);
}

/* ---- writing ------------------------------------------------------------------------------ */

static void append(struct km_rules_group *g, const struct km_sample *s, size_t n)
{
    if (n == 0 || !g->m->o.append)
        return;
    if (g->m->o.append(g->m->o.append_ud, s, n) != 0)
        km_log_warn(LOG, "group %s: writing %zu samples failed: %s", g->g->name, n, km_err_msg());
}

/* Write the rule's new series, then stale markers for those of the last evaluation it no
 * longer produced; the new series become the rule's written set. Both sets are told apart
 * by their labels' hashes, so a rule of tens of thousands of series costs O(n). */
static void write_rule(struct km_rules_group *g, struct km_rule_state *rs, struct km_rules_out *out,
                       int64_t ts)
{
    struct km_sample *stale;
    struct km_lset now;
    size_t nstale = 0;

    append(g, out->s, out->n);
    g->last_samples += out->n;
    stale = malloc((rs->nwritten + 1) * sizeof(*stale));
    if (!stale || km_lset_init(&now, out->n) != 0) {
        free(stale);
        return;
    }
    for (size_t i = 0; i < out->n; i++)
        km_lset_add(&now, out->owned[i]);
    for (size_t i = 0; i < rs->nwritten; i++) {
        if (!km_lset_find(&now, rs->written[i]))
            stale[nstale++] =
                (struct km_sample){ rs->written[i]->v, rs->written[i]->n, ts, stale_nan.v };
    }
    km_lset_fini(&now);
    append(g, stale, nstale);
    for (size_t i = 0; i < rs->nwritten; i++)
        km_labels_destroy(rs->written[i]);
    free(rs->written);
    free(stale);
    /* The labels now belong to the written set. */
    rs->written = out->owned;
    rs->nwritten = out->n;
    free(out->s);
    memset(out, 0, sizeof(*out));
}

void km_rules_group_mark_stale(struct km_rules_group *g, int64_t ts)
{
    for (size_t r = 0; r < g->nrules; r++) {
        struct km_rule_state *rs = &g->rules[r];
        struct km_sample *s = malloc((rs->nwritten + 1) * sizeof(*s));

        if (!s)
            continue;
        for (size_t i = 0; i < rs->nwritten; i++)
            s[i] = (struct km_sample){ rs->written[i]->v, rs->written[i]->n, ts, stale_nan.v };
        append(g, s, rs->nwritten);
        free(s);
    }
}

/* ---- evaluation --------------------------------------------------------------------------- */

static int recording_eval(const struct km_rule *r, const struct km_pq_result *res, int64_t limit,
                          int64_t ts, struct km_rules_out *out, struct km_buf *err)
{
    struct km_label *extra = calloc(r->nlabels + 2, sizeof(*extra));
    size_t n = 0;
    int rc = 0;

    if (!extra)
        return KM_ENOMEM;
    extra[0] = (struct km_label){ KM_METRIC_NAME_LABEL, r->name };
    for (size_t k = 0; k < r->nlabels; k++)
        extra[k + 1] = (struct km_label){ r->labels[k].name, r->labels[k].value };
    if (res->type == KM_PQ_RESULT_SCALAR) {
        static const struct km_labels none = { 0 };
        struct km_labels *l;

        rc = km_rules_labels_with(&l, &none, NULL, extra, r->nlabels + 1);
        if (rc == 0)
            rc = km_rules_out_add(out, l, ts, res->scalar[0]);
    } else {
        for (size_t i = 0; rc == 0 && i < res->vec.n; i++) {
            struct km_labels *l;

            if (!km_pq_has(&res->vec.s[i], 0))
                continue;
            rc = km_rules_labels_with(&l, res->vec.s[i].labels, NULL, extra, r->nlabels + 1);
            if (rc == 0)
                rc = km_rules_out_add(out, l, ts, res->vec.s[i].v[0]);
        }
    }
    free(extra);
    if (rc)
        return rc;
    {
        struct km_lset seen;

        rc = km_lset_init(&seen, out->n);
        for (size_t i = 0; rc == 0 && i < out->n; i++) {
            if (km_lset_add(&seen, out->owned[i])) {
                km_buf_puts(err, "vector contains metrics with the same labelset after applying "
                                 "rule labels");
                rc = KM_EINVAL;
            }
        }
        km_lset_fini(&seen);
    }
    n = out->n;
    if (rc == 0 && limit > 0 && n > (size_t)limit) {
        km_buf_printf(err, "exceeded limit of %lld with %zu series", (long long)limit, n);
        rc = KM_ELIMIT;
    }
    return rc;
}

static void set_error(struct km_rule_state *rs, const char *msg)
{
    free(rs->last_error);
    rs->last_error = msg ? strdup(msg) : NULL;
    rs->health = msg ? KM_HEALTH_ERR : KM_HEALTH_OK;
}

static void eval_rule(struct km_rules_group *g, struct km_rule_state *rs, int64_t ts)
{
    const struct km_rule *r = rs->rule;
    struct km_rules_out out = { 0 };
    struct km_pq_result res;
    struct km_pq_opts qo;
    struct km_buf err;
    int64_t t0 = km_time_mono_ns();
    int rc;

    km_buf_init(&err, 8192);
    memset(&res, 0, sizeof(res));
    qo = g->m->o.query;
    qo.any_order = true; /* a rule's output is a set: its order means nothing */
    rc = km_pq_eval_instant(g->m->o.store, r->expr, ts, &qo, &res);
    if (rc == 0 && res.type != KM_PQ_RESULT_VECTOR && res.type != KM_PQ_RESULT_SCALAR) {
        km_buf_puts(&err, "rule result is not a vector or scalar");
        rc = KM_EINVAL;
    } else if (rc) {
        km_buf_puts(&err, km_err_msg());
    }
    pthread_mutex_lock(&g->mu);
    if (rc == 0) {
        if (r->kind == KM_RULE_RECORD)
            rc = recording_eval(r, &res, g->g->limit, ts, &out, &err);
        else
            rc = km_rules_alerting_eval(g, rs, &res, ts, &out, &err);
        if (rc && err.len == 0)
            km_buf_puts(&err, rc == KM_ENOMEM ? "out of memory" : km_err_msg());
    }
    rs->evals++;
    rs->last_eval_ms = ts;
    if (rc) {
        rs->failures++;
        set_error(rs, km_buf_cstr(&err));
        km_log_warn(LOG, "group %s, rule %s: evaluation failed: %s", g->g->name, r->name,
                    km_buf_cstr(&err));
    } else {
        set_error(rs, NULL);
        write_rule(g, rs, &out, ts);
    }
    if (r->kind == KM_RULE_ALERT)
        km_rules_alerting_send(g, rs, ts);
    rs->last_seconds = (double)(km_time_mono_ns() - t0) / 1e9;
    pthread_mutex_unlock(&g->mu);
    km_rules_out_fini(&out);
    km_pq_result_fini(&res);
    km_buf_fini(&err);
}

void km_rules_group_eval(struct km_rules_group *g, int64_t ts)
{
    int64_t t0 = km_time_mono_ns();

    g->last_samples = 0;
    for (size_t i = 0; i < g->nrules; i++)
        eval_rule(g, &g->rules[i], ts);
    pthread_mutex_lock(&g->mu);
    g->iterations++;
    g->last_eval_ms = ts;
    g->last_seconds = (double)(km_time_mono_ns() - t0) / 1e9;
    pthread_mutex_unlock(&g->mu);
}

/* ---- restoring `for` state ---------------------------------------------------------------- */

static void restore_rule(struct km_rules_group *g, struct km_rule_state *rs, int64_t now)
{
    const struct km_rules_opts *o = &g->m->o;
    struct km_matcher *m[2] = { NULL, NULL };
    struct km_querier *q = NULL;
    struct km_series_set *set = NULL;
    int rc;

    rc = km_matcher_create(&m[0], KM_MATCH_EQ, KM_METRIC_NAME_LABEL, "ALERTS_FOR_STATE");
    if (rc == 0)
        rc = km_matcher_create(&m[1], KM_MATCH_EQ, "alertname", rs->rule->name);
    if (rc == 0)
        rc = km_querier_open(o->store, now - o->outage_tolerance_ms, now, &q);
    if (rc == 0)
        rc = km_querier_select(q, m, 2, NULL, &set);
    while (rc == 0 && km_series_next(set)) {
        const struct km_labels *sl = km_series_labels(set);
        struct km_sample_batch b;
        struct km_labels *l = NULL;
        struct km_alert *a = NULL;
        int64_t t = 0;
        double v = NAN;
        bool any = false;

        while (km_series_batch(set, &b)) {
            if (b.n) {
                t = b.t[b.n - 1];
                v = b.v[b.n - 1];
                any = true;
            }
        }
        if (!any || isnan(v) || km_rules_labels_with(&l, sl, KM_METRIC_NAME_LABEL, NULL, 0))
            continue;
        for (size_t i = 0; i < rs->nalerts; i++) {
            if (km_labels_cmp(rs->alerts[i]->labels, l) == 0) {
                a = rs->alerts[i];
                break;
            }
        }
        km_labels_destroy(l);
        if (!a || a->state == KM_ALERT_INACTIVE)
            continue;
        {
            int64_t down_at = t / 1000 * 1000;
            int64_t active_at = (int64_t)v * 1000;
            int64_t remaining = rs->rule->for_ms - (down_at - active_at);

            if (remaining <= 0)
                ;
            else if (remaining < o->for_grace_period_ms)
                active_at = now + o->for_grace_period_ms - rs->rule->for_ms;
            else
                active_at += now - down_at;
            km_log_info(LOG, "group %s, rule %s: restored an alert's for state (active since %lld)",
                        g->g->name, rs->rule->name, (long long)(active_at / 1000));
            a->active_at = active_at;
        }
    }
    if (rc == 0 && set)
        rc = km_series_error(set);
    if (rc)
        km_log_warn(LOG, "group %s, rule %s: restoring the for state failed: %s", g->g->name,
                    rs->rule->name, km_err_msg());
    km_series_set_close(set);
    km_querier_close(q);
    km_matcher_destroy(m[0]);
    km_matcher_destroy(m[1]);
}

void km_rules_group_restore(struct km_rules_group *g, int64_t now)
{
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < g->nrules; i++) {
        struct km_rule_state *rs = &g->rules[i];

        if (rs->rule->kind == KM_RULE_ALERT && rs->rule->for_ms > 0 && rs->nalerts)
            restore_rule(g, rs, now);
        rs->restored = true;
    }
    g->should_restore = false;
    pthread_mutex_unlock(&g->mu);
}

/* ---- the thread --------------------------------------------------------------------------- */

static int64_t eval_timestamp(const struct km_rules_group *g, int64_t now)
{
    int64_t iv = g->interval_ms;
    int64_t offset = (int64_t)(g->hash % (uint64_t)iv);
    int64_t adj = now - offset;
    int64_t base = adj - ((adj % iv) + iv) % iv;

    return base + offset;
}

/* Sleep until wall time `at` (ms) or a stop; true when stopping. Called with g->mu held. */
static bool wait_until(struct km_rules_group *g, int64_t at)
{
    struct timespec ts = { .tv_sec = at / 1000, .tv_nsec = (at % 1000) * 1000000 };

    while (!g->stop && km_time_now_ns() / 1000000 < at) {
        if (pthread_cond_timedwait(&g->wake, &g->mu, &ts) == ETIMEDOUT)
            break;
    }
    return g->stop;
}

static void *group_thread(void *arg)
{
    struct km_rules_group *g = arg;
    int64_t ts = eval_timestamp(g, km_time_now_ns() / 1000000) + g->interval_ms;
    uint64_t evals = 0;

    pthread_setname_np(pthread_self(), "kmon-rules"); /* top -H, /proc/PID/task/N/comm */
    pthread_mutex_lock(&g->mu);
    while (!wait_until(g, ts)) {
        int64_t now;

        pthread_mutex_unlock(&g->mu);
        km_rules_group_eval(g, ts);
        evals++;
        now = km_time_now_ns() / 1000000;
        if (g->should_restore && evals >= 2)
            km_rules_group_restore(g, now);
        pthread_mutex_lock(&g->mu);
        {
            int64_t missed = (now - ts) / g->interval_ms - 1;

            if (missed > 0)
                g->missed += (uint64_t)missed;
            ts += (missed > 0 ? missed + 1 : 1) * g->interval_ms;
        }
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

int km_rules_group_start(struct km_rules_group *g)
{
    int rc;

    g->stop = false;
    rc = pthread_create(&g->thread, NULL, group_thread, g);
    if (rc)
        return km_err_set_errno(KM_EIO, rc, "cannot start the thread of rule group %s", g->g->name);
    g->started = true;
    return 0;
}

void km_rules_group_stop(struct km_rules_group *g)
{
    if (!g->started)
        return;
    pthread_mutex_lock(&g->mu);
    g->stop = true;
    pthread_cond_broadcast(&g->wake);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->thread, NULL);
    g->started = false;
}
