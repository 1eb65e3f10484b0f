/*
 * alert — an alerting rule's evaluation as Prometheus 2.42's AlertingRule.Eval does it:
 * each result series becomes an alert identified by its labels (the series' without
 * __name__, the rule's labels expanded as templates, alertname), annotations expanded;
 * new alerts start pending, pending alerts fire once active for `for`, alerts that left
 * the result are kept firing for `keep_firing_for`, then resolved and kept 15 minutes so
 * Alertmanager hears of it; ALERTS{alertstate} and ALERTS_FOR_STATE (the active time, in
 * seconds) written for every pending and firing alert once the rule's state has been
 * restored; and which alerts to send (sendAlerts / needsSending).
 */
#include "common/array.h"
#include "common/err.h"
#include "common/labels.h"
#include "promql/eval.h"
#include "promql/parse.h"
#include "rules/rules_internal.h"
#include "rules/template.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *km_alert_state_name(enum km_alert_state s)
{
    switch (s) {
    case KM_ALERT_PENDING:
        return "pending";
    case KM_ALERT_FIRING:
        return "firing";
    default:
        return "inactive";
    }
}

void km_rules_alert_free(struct km_alert *a)
{
    if (!a)
        return;
    km_labels_destroy(a->labels);
    km_labels_destroy(a->annotations);
    free(a);
}

/* ---- output samples --------------------------------------------------------------------- */

int km_rules_out_add(struct km_rules_out *o, struct km_labels *l, int64_t t, double v)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        struct km_sample *s = realloc(o->s, cap * sizeof(*s));
        struct km_labels **owned;

        if (!s)
            goto out_free_labels;
        o->s = s;
        owned = realloc(o->owned, cap * sizeof(*owned));
        if (!owned)
            goto out_free_labels;
        o->owned = owned;
        o->cap = cap;
    }
    o->s[o->n] = (struct km_sample){ l->v, l->n, t, v };
    o->owned[o->n++] = l;
    return 0;

out_free_labels:
    km_labels_destroy(l);
    return km_err_set(KM_ENOMEM, "out of memory");
}

void km_rules_out_fini(struct km_rules_out *o)
{
    for (size_t i = 0; i < o->n; i++)
        km_labels_destroy(o->owned[i]);
    free(o->s);
    free(o->owned);
    memset(o, 0, sizeof(*o));
}

int km_rules_labels_with(struct km_labels **out, const struct km_labels *base, const char *drop,
                         const struct km_label *extra, size_t nextra)
{
    struct km_label *v;
    size_t n = 0;
    int rc;

    v = malloc((base->n + nextra + 1) * sizeof(*v));
    if (!v)
        return km_err_set(KM_ENOMEM, "out of memory");
    for (size_t i = 0; i < base->n; i++) {
        bool replaced = drop && strcmp(base->v[i].name, drop) == 0;

        for (size_t k = 0; !replaced && k < nextra; k++)
            replaced = strcmp(base->v[i].name, extra[k].name) == 0;
        if (!replaced)
            v[n++] = base->v[i];
    }
    for (size_t k = 0; k < nextra; k++) {
        if (extra[k].value[0])
            v[n++] = extra[k];
    }
    rc = km_labels_create(out, v, n);
    free(v);
    return rc;
}

/* ---- templates -------------------------------------------------------------------------- */

/* The templates' `query`: the expression evaluated at the rule's evaluation time over
 * the rules' store, as Prometheus' rule engine would. */
static int template_query(void *ctx, const char *promql, int64_t at_ms,
                          struct km_tmpl_query_result *out, struct km_buf *err)
{
    const struct km_rules_group *g = ctx;
    struct km_promql_expr *e = NULL;
    struct km_promql_error perr;
    struct km_pq_result res;
    int rc;

    rc = km_promql_parse(promql, strlen(promql), &e, &perr);
    if (rc) {
        km_buf_puts(err, perr.msg);
        return rc;
    }
    memset(&res, 0, sizeof(res));
    rc = km_pq_eval_instant(g->m->o.store, e, at_ms, &g->m->o.query, &res);
    if (rc) {
        km_buf_puts(err, km_err_msg());
    } else if (res.type == KM_PQ_RESULT_SCALAR) {
        rc = km_tmpl_query_result_add(out, NULL, res.scalar[0]);
    } else if (res.type == KM_PQ_RESULT_VECTOR) {
        for (size_t i = 0; rc == 0 && i < res.vec.n; i++) {
            if (km_pq_has(&res.vec.s[i], 0))
                rc = km_tmpl_query_result_add(out, res.vec.s[i].labels, res.vec.s[i].v[0]);
        }
    } else {
        km_buf_puts(err, "rule result is not a vector or scalar");
        rc = KM_EINVAL;
    }
    km_pq_result_fini(&res);
    km_promql_expr_destroy(e);
    return rc;
}

/* Expand a rule's label or annotation; a failure becomes the text Prometheus puts in its
 * place ("<error expanding template: …>"). The result is appended to `out`. */
static void expand(const struct km_rules_group *g, const struct km_rule_pair *p,
                   const struct km_labels *series, double value, int64_t ts, struct km_buf *out)
{
    struct km_buf err;
    struct km_tmpl_data d = {
        .labels = series,
        .external = g->m->external,
        .value = value,
        .external_url = g->m->external_url,
        .eval_ms = ts,
        .query = template_query,
        .query_ctx = (void *)g,
    };
    size_t mark = out->len;

    if (!p->tmpl) {
        km_buf_puts(out, p->value);
        return;
    }
    km_buf_init(&err, 4096);
    if (km_tmpl_expand(p->tmpl, &d, out, &err) != 0) {
        out->len = mark;
        km_buf_printf(out, "<error expanding template: %s>", km_buf_cstr(&err));
    }
    km_buf_fini(&err);
}

/* The alert for one result series: labels and annotations expanded. */
static int alert_of(const struct km_rules_group *g, const struct km_rule *r,
                    const struct km_labels *series, double value, int64_t ts, struct km_alert **out)
{
    struct km_label *extra = NULL;
    struct km_labels *plain = NULL;
    struct km_buf text;
    struct km_alert *a;
    size_t *off = NULL, n = r->nlabels + r->nannotations;
    int rc = KM_ENOMEM;

    a = calloc(1, sizeof(*a));
    extra = calloc(n + 1, sizeof(*extra));
    off = calloc(n + 1, sizeof(*off));
    if (!a || !extra || !off)
        goto out_free;
    /* The template sees the series' labels without __name__. */
    rc = km_rules_labels_with(&plain, series, KM_METRIC_NAME_LABEL, NULL, 0);
    if (rc)
        goto out_free;
    km_buf_init(&text, 0);
    for (size_t k = 0; k < n; k++) {
        const struct km_rule_pair *p =
            k < r->nlabels ? &r->labels[k] : &r->annotations[k - r->nlabels];

        off[k] = text.len;
        expand(g, p, plain, value, ts, &text);
        km_buf_putc(&text, '\0');
    }
    rc = km_buf_error(&text);
    if (rc)
        goto out_free_text;
    for (size_t k = 0; k < n; k++) {
        const struct km_rule_pair *p =
            k < r->nlabels ? &r->labels[k] : &r->annotations[k - r->nlabels];

        extra[k] = (struct km_label){ p->name, text.data + off[k] };
    }
    rc = km_labels_create(&a->annotations, extra + r->nlabels, r->nannotations);
    /* The labels: the rule's (expanded) over the series', then alertname over all. */
    extra[r->nlabels] = (struct km_label){ "alertname", r->name };
    if (rc == 0)
        rc = km_rules_labels_with(&a->labels, plain, NULL, extra, r->nlabels + 1);
    if (rc)
        goto out_free_text;
    a->state = KM_ALERT_PENDING;
    a->active_at = ts;
    a->value = value;
    *out = a;
    a = NULL;

out_free_text:
    km_buf_fini(&text);
out_free:
    km_labels_destroy(plain);
    km_rules_alert_free(a);
    free(off);
    free(extra);
    return rc;
}

static int alert_cmp(const void *x, const void *y)
{
    return km_labels_cmp((*(struct km_alert *const *)x)->labels,
                         (*(struct km_alert *const *)y)->labels);
}

static void notify_transition(struct km_rules_group *g, const struct km_rule *r,
                              const struct km_alert *a, enum km_alert_state from, int64_t ts)
{
    struct km_rules_transition t = {
        .group = g->g->name,
        .file = g->file->f->path,
        .rule = r->name,
        .labels = a->labels,
        .annotations = a->annotations,
        .from = from,
        .to = a->state,
        .value = a->value,
        .at_ms = ts,
        .active_at_ms = a->active_at,
    };

    if (g->m->o.transition)
        g->m->o.transition(g->m->o.transition_ud, &t);
}

/* ALERTS{alertstate} 1 and ALERTS_FOR_STATE <active at, s> for one alert. */
static int write_alert(struct km_rules_out *out, const struct km_alert *a, int64_t ts)
{
    struct km_label alerts[] = { { KM_METRIC_NAME_LABEL, "ALERTS" },
                                 { "alertstate", km_alert_state_name(a->state) } };
    struct km_label for_state[] = { { KM_METRIC_NAME_LABEL, "ALERTS_FOR_STATE" } };
    struct km_labels *l;
    int rc;

    rc = km_rules_labels_with(&l, a->labels, NULL, alerts, 2);
    if (rc == 0)
        rc = km_rules_out_add(out, l, ts, 1);
    if (rc == 0)
        rc = km_rules_labels_with(&l, a->labels, NULL, for_state, 1);
    if (rc == 0)
        rc = km_rules_out_add(out, l, ts, (double)(a->active_at / 1000));
    return rc;
}

int km_rules_alerting_eval(struct km_rules_group *g, struct km_rule_state *rs,
                           const struct km_pq_result *res, int64_t ts, struct km_rules_out *out,
                           struct km_buf *err)
{
    const struct km_rule *r = rs->rule;
    struct km_alert **cur = NULL;
    size_t ncur = 0, nseries = 0, active = 0, keep = 0;
    int rc = 0;

    if (res->type == KM_PQ_RESULT_VECTOR)
        nseries = res->vec.n;
    else if (res->type == KM_PQ_RESULT_SCALAR)
        nseries = 1;
    if (nseries > KM_RULES_MAX_ALERTS)
        return km_buf_printf(err, "%zu alerts (kmon keeps at most %d per rule)", nseries,
                             KM_RULES_MAX_ALERTS),
               KM_ELIMIT;
    cur = calloc(nseries + 1, sizeof(*cur));
    if (!cur)
        return KM_ENOMEM;
    for (size_t i = 0; i < nseries; i++) {
        static const struct km_labels none = { 0 };
        const struct km_labels *l = &none;
        double v;

        if (res->type == KM_PQ_RESULT_VECTOR) {
            if (!km_pq_has(&res->vec.s[i], 0))
                continue;
            l = res->vec.s[i].labels;
            v = res->vec.s[i].v[0];
        } else {
            v = res->scalar[0];
        }
        rc = alert_of(g, r, l, v, ts, &cur[ncur]);
        if (rc)
            goto out_free_cur;
        ncur++;
    }
    km_sort(cur, ncur, sizeof(*cur), alert_cmp);
    for (size_t i = 1; i < ncur; i++) {
        if (km_labels_cmp(cur[i - 1]->labels, cur[i]->labels) == 0) {
            km_buf_puts(err, "vector contains metrics with the same labelset after applying alert "
                             "labels");
            rc = KM_EINVAL;
            goto out_free_cur;
        }
    }
    /* Merge: known alerts take the new value and annotations; new ones start pending. */
    {
        struct km_alert **all = calloc(rs->nalerts + ncur + 1, sizeof(*all));
        size_t nall = 0, i = 0, k = 0;
        bool *in_result = calloc(rs->nalerts + ncur + 1, sizeof(*in_result));

        if (!all || !in_result) {
            free(all);
            free(in_result);
            rc = KM_ENOMEM;
            goto out_free_cur;
        }
        while (i < rs->nalerts || k < ncur) {
            int c = i == rs->nalerts ? 1
                    : k == ncur      ? -1
                                     : km_labels_cmp(rs->alerts[i]->labels, cur[k]->labels);

            if (c < 0) {
                in_result[nall] = false;
                all[nall++] = rs->alerts[i++];
            } else if (c > 0) {
                in_result[nall] = true;
                all[nall++] = cur[k];
                notify_transition(g, r, cur[k], KM_ALERT_INACTIVE, ts);
                cur[k++] = NULL;
            } else {
                struct km_alert *a = rs->alerts[i++];

                if (a->state != KM_ALERT_INACTIVE) {
                    a->value = cur[k]->value;
                    km_labels_destroy(a->annotations);
                    a->annotations = cur[k]->annotations;
                    cur[k]->annotations = NULL;
                    in_result[nall] = true;
                    all[nall++] = a;
                } else {
                    /* A resolved alert that comes back starts again, pending. */
                    km_rules_alert_free(a);
                    in_result[nall] = true;
                    all[nall++] = cur[k];
                    notify_transition(g, r, cur[k], KM_ALERT_INACTIVE, ts);
                    cur[k] = NULL;
                }
                k++;
            }
        }
        free(rs->alerts);
        rs->alerts = all;
        rs->nalerts = nall;
        /* States, as Prometheus walks r.active. */
        for (size_t j = 0; j < rs->nalerts; j++) {
            struct km_alert *a = rs->alerts[j];

            if (!in_result[j]) {
                bool keep_firing = false;

                if (a->state == KM_ALERT_FIRING && r->keep_firing_for_ms > 0) {
                    if (!a->keep_firing_since)
                        a->keep_firing_since = ts;
                    keep_firing = ts - a->keep_firing_since < r->keep_firing_for_ms;
                }
                if (!keep_firing) {
                    if (a->state == KM_ALERT_PENDING ||
                        (a->resolved_at && ts - a->resolved_at > KM_RULES_RESOLVED_RETENTION_MS)) {
                        enum km_alert_state from = a->state;

                        if (from == KM_ALERT_PENDING) {
                            a->state = KM_ALERT_INACTIVE;
                            notify_transition(g, r, a, from, ts);
                        }
                        km_rules_alert_free(a);
                        rs->alerts[j] = NULL;
                        continue;
                    }
                    if (a->state != KM_ALERT_INACTIVE) {
                        enum km_alert_state from = a->state;

                        a->state = KM_ALERT_INACTIVE;
                        a->resolved_at = ts;
                        notify_transition(g, r, a, from, ts);
                    }
                    continue;
                }
            } else if (a->state != KM_ALERT_INACTIVE) {
                a->keep_firing_since = 0;
            }
            active++;
            if (a->state == KM_ALERT_PENDING && ts - a->active_at >= r->for_ms) {
                a->state = KM_ALERT_FIRING;
                a->fired_at = ts;
                notify_transition(g, r, a, KM_ALERT_PENDING, ts);
            }
            if (rs->restored && rc == 0)
                rc = write_alert(out, a, ts);
        }
        for (size_t j = 0; j < rs->nalerts; j++) {
            if (rs->alerts[j])
                rs->alerts[keep++] = rs->alerts[j];
        }
        rs->nalerts = keep;
        free(in_result);
    }
    if (rc == 0 && g->g->limit > 0 && active > (size_t)g->g->limit) {
        for (size_t j = 0; j < rs->nalerts; j++)
            km_rules_alert_free(rs->alerts[j]);
        rs->nalerts = 0;
        km_buf_printf(err, "exceeded limit of %lld with %zu alerts", (long long)g->g->limit,
                      active);
        rc = KM_ELIMIT;
    }

out_free_cur:
    for (size_t i = 0; i < ncur; i++)
        km_rules_alert_free(cur[i]);
    free(cur);
    return rc;
}

/* ---- sending ---------------------------------------------------------------------------- */

/* Prometheus' strutil.TableLinkForExpression after the external URL. */
static void generator_url(struct km_buf *out, const char *base, const char *expr)
{
    static const char hex[] = "0123456789ABCDEF";

    km_buf_printf(out, "%s/graph?g0.expr=", base ? base : "");
    for (const unsigned char *p = (const unsigned char *)expr; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~')
            km_buf_putc(out, (char)*p);
        else if (*p == ' ')
            km_buf_putc(out, '+');
        else
            km_buf_printf(out, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
    }
    km_buf_puts(out, "&g0.tab=1");
}

void km_rules_alerting_send(struct km_rules_group *g, struct km_rule_state *rs, int64_t ts)
{
    const struct km_rules_opts *o = &g->m->o;
    int64_t delta = o->resend_delay_ms > g->interval_ms ? o->resend_delay_ms : g->interval_ms;
    struct km_rules_alert *send;
    struct km_buf url;
    size_t n = 0;

    if (!o->notify || rs->nalerts == 0)
        return;
    send = calloc(rs->nalerts, sizeof(*send));
    if (!send)
        return;
    km_buf_init(&url, 0);
    generator_url(&url, g->m->external_url, rs->query);
    for (size_t i = 0; i < rs->nalerts; i++) {
        struct km_alert *a = rs->alerts[i];
        bool needs;

        if (a->state == KM_ALERT_PENDING)
            continue;
        needs = (a->resolved_at && a->resolved_at > a->last_sent_at) ||
                a->last_sent_at + o->resend_delay_ms < ts;
        if (!needs)
            continue;
        a->last_sent_at = ts;
        a->valid_until = ts + 4 * delta;
        send[n++] = (struct km_rules_alert){
            .labels = a->labels,
            .annotations = a->annotations,
            .starts_at_ms = a->fired_at,
            .ends_at_ms = a->resolved_at ? a->resolved_at : a->valid_until,
            .generator_url = km_buf_cstr(&url),
        };
    }
    if (n)
        o->notify(o->notify_ud, send, n);
    km_buf_fini(&url);
    free(send);
}
