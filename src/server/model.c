/*
 * model — the REST API's questions put to the PromQL engine (see model.h).
 *
 * A request's query is built as text (the table's queries, placeholders filled in, each
 * tagged with its part), parsed, and evaluated once; the answer's series are then sorted
 * by the identity of their object, level by level, and each object takes its answers
 * from its run of series. Everything is freed before returning but the objects, which
 * the caller owns through struct km_model.
 */
#include "model.h"
#include "common/array.h"

#include "common/err.h"
#include "common/labels.h"
#include "promql/parse.h"
#include "promql/quote.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PART_LABEL "kmon_part"

/* ---- placeholders ---------------------------------------------------------------------- */

/* The placeholders' texts for one request. */
struct fill {
    struct km_buf node, instance, pod, name, namespace;
    char window[32], window_ms[32];
};

static void put_matcher(struct km_buf *b, const char *name, const char *op, const char *value)
{
    km_buf_putc(b, ',');
    km_buf_puts(b, name);
    km_buf_puts(b, op);
    km_promql_quote_expr(b, value, strlen(value));
}

/* A node name as the regex of an instance it is named after: "n", "n:port", "[n]:port". */
static void put_instance_matcher(struct km_buf *b, const char *node)
{
    struct km_buf re, lit;

    km_buf_init(&lit, 0);
    for (const char *c = node; *c; c++) { /* Go's regexp.QuoteMeta */
        if (strchr("\\.+*?()|[]{}^$", *c))
            km_buf_putc(&lit, '\\');
        km_buf_putc(&lit, *c);
    }
    km_buf_init(&re, 0);
    km_buf_printf(&re, "(?:%s|\\[%s\\])(?::[0-9]+)?", km_buf_cstr(&lit), km_buf_cstr(&lit));
    if (km_buf_error(&lit) || km_buf_error(&re))
        b->err = b->err ? b->err : KM_ENOMEM;
    else
        put_matcher(b, "instance", "=~", km_buf_cstr(&re));
    km_buf_fini(&lit);
    km_buf_fini(&re);
}

static void fill_init(struct fill *fl, const struct km_model_params *p)
{
    int64_t w = p->rate_window_ms;

    km_buf_init(&fl->node, 0);
    km_buf_init(&fl->instance, 0);
    km_buf_init(&fl->pod, 0);
    km_buf_init(&fl->name, 0);
    km_buf_init(&fl->namespace, 0);
    if (p->f.node) {
        put_matcher(&fl->node, "node", "=", p->f.node);
        put_instance_matcher(&fl->instance, p->f.node);
    }
    if (p->f.namespace) {
        put_matcher(&fl->pod, "namespace", "=", p->f.namespace);
        put_matcher(&fl->name, "namespace", "=", p->f.namespace);
        put_matcher(&fl->namespace, "namespace", "=", p->f.namespace);
    }
    if (p->f.pod) {
        put_matcher(&fl->pod, "pod", "=", p->f.pod);
        put_matcher(&fl->name, "pod", "=", p->f.pod);
    }
    if (p->f.node)
        put_matcher(&fl->pod, "node", "=", p->f.node);
    if (w % 1000 == 0)
        snprintf(fl->window, sizeof(fl->window), "%llds", (long long)(w / 1000));
    else
        snprintf(fl->window, sizeof(fl->window), "%lldms", (long long)w);
    snprintf(fl->window_ms, sizeof(fl->window_ms), "%lld", (long long)w);
}

static void fill_fini(struct fill *fl)
{
    km_buf_fini(&fl->node);
    km_buf_fini(&fl->instance);
    km_buf_fini(&fl->pod);
    km_buf_fini(&fl->name);
    km_buf_fini(&fl->namespace);
}

static int fill_error(const struct fill *fl)
{
    const struct km_buf *b[] = { &fl->node, &fl->instance, &fl->pod, &fl->name, &fl->namespace };

    for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++) {
        if (km_buf_error(b[i]))
            return km_buf_error(b[i]);
    }
    return 0;
}

static const struct km_seed_query *pod_query_named(const char *name, size_t n)
{
    for (size_t i = 0; i < km_seed_nqueries; i++) {
        const struct km_seed_query *q = &km_seed_queries[i];

        if (q->level == KM_SEED_POD && strlen(q->name) == n && strncmp(q->name, name, n) == 0)
            return q;
    }
    return NULL;
}

/* Whether the placeholder name[0..n) is `want`. */
static bool named(const char *name, size_t n, const char *want)
{
    return strlen(want) == n && strncmp(name, want, n) == 0;
}

static int expand_text(struct km_buf *out, const char *t, const struct fill *fl, int depth)
{
    while (*t) {
        const char *dollar = strstr(t, "$__"), *name;
        const struct km_seed_query *sub = NULL;
        size_t n;
        int rc;

        if (!dollar) {
            km_buf_puts(out, t);
            break;
        }
        km_buf_append(out, t, (size_t)(dollar - t));
        name = dollar + 3;
        n = strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_");
        t = name + n;
        if (named(name, n, "rate_interval")) {
            km_buf_puts(out, fl->window);
        } else if (named(name, n, "rate_interval_ms")) {
            km_buf_puts(out, fl->window_ms);
        } else if (named(name, n, "node_filter")) {
            km_buf_puts(out, km_buf_cstr(&fl->node));
        } else if (named(name, n, "instance_filter")) {
            km_buf_puts(out, km_buf_cstr(&fl->instance));
        } else if (named(name, n, "pod_filter")) {
            km_buf_puts(out, km_buf_cstr(&fl->pod));
        } else if (named(name, n, "name_filter")) {
            km_buf_puts(out, km_buf_cstr(&fl->name));
        } else if (named(name, n, "namespace_filter")) {
            km_buf_puts(out, km_buf_cstr(&fl->namespace));
        } else {
            if (n > 4 && strncmp(name, "pod_", 4) == 0 && depth == 0)
                sub = pod_query_named(name + 4, n - 4);
            if (!sub)
                return km_err_set(KM_EINVAL, "unknown placeholder $__%.*s in a REST API query",
                                  (int)n, name);
            km_buf_putc(out, '(');
            rc = expand_text(out, sub->promql, fl, depth + 1);
            if (rc)
                return rc;
            km_buf_putc(out, ')');
        }
    }
    return km_buf_error(out) ? km_err_set(km_buf_error(out), "out of memory building a query") : 0;
}

int km_model_expand(struct km_buf *out, const struct km_seed_query *q,
                    const struct km_model_params *p)
{
    struct fill fl;
    int rc;

    fill_init(&fl, p);
    rc = fill_error(&fl) ? km_err_set(KM_ENOMEM, "out of memory building a query")
                         : expand_text(out, q->promql, &fl, 0);
    fill_fini(&fl);
    return rc;
}

int km_model_compose(struct km_buf *out, const struct km_model_ask *ask,
                     const struct km_model_params *p)
{
    struct fill fl;
    bool first = true;
    int rc;

    fill_init(&fl, p);
    rc = fill_error(&fl) ? km_err_set(KM_ENOMEM, "out of memory building a query") : 0;
    for (int l = 0; rc == 0 && l < KM_SEED_LEVELS; l++) {
        for (int f = 0; rc == 0 && f < KM_SEED_FIGS; f++) {
            const struct km_seed_query *q;

            if (!(ask->figs[l] & (1ull << f)) ||
                !(q = km_seed_query_get((enum km_seed_level)l, (enum km_seed_fig)f)))
                continue;
            km_buf_puts(out, first ? "label_replace(" : " or label_replace(");
            first = false;
            rc = expand_text(out, q->promql, &fl, 0);
            km_buf_printf(out, ", \"" PART_LABEL "\", \"%d\", \"\", \"\")", l * KM_SEED_FIGS + f);
        }
    }
    if (rc == 0 && first)
        rc = km_err_set(KM_EINVAL, "nothing asked");
    if (rc == 0 && km_buf_error(out))
        rc = km_err_set(km_buf_error(out), "out of memory building a query");
    fill_fini(&fl);
    return rc;
}

/* ---- answers ---------------------------------------------------------------------------- */

int64_t km_model_rate_window(int64_t step_ms, int64_t scrape_ms)
{
    int64_t w = 60000;

    if (4 * scrape_ms > w)
        w = 4 * scrape_ms;
    if (step_ms + scrape_ms > w)
        w = step_ms + scrape_ms;
    return w;
}

static void entity_fini(struct km_entity *e)
{
    free(e->name);
    free(e->namespace);
    free(e->node);
    free(e->deployment);
    free(e->cluster);
    for (int f = 0; f < KM_SEED_FIGS; f++) {
        free(e->steps[f]);
        free(e->text[f]);
    }
}

void km_model_fini(struct km_model *m)
{
    for (int l = 0; l < KM_SEED_LEVELS; l++) {
        for (size_t i = 0; i < m->level[l].n; i++)
            entity_fini(&m->level[l].v[i]);
        free(m->level[l].v);
    }
    memset(m, 0, sizeof(*m));
}

/* One series of the answer: which object and part it belongs to. */
struct row {
    const char *ns, *name; /* borrowed from the series' labels; ns NULL for unnamespaced */
    const struct km_pq_series *s;
    const char *label; /* a text figure's label */
    int fig;
};

static int cmp_row(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    int c = strcmp(x->ns ? x->ns : "", y->ns ? y->ns : "");

    return c ? c : strcmp(x->name, y->name);
}

static char *dup_label(const struct km_labels *l, const char *name, int *rc)
{
    const char *v = km_labels_get(l, name);
    char *d;

    if (!v || !*v)
        return NULL;
    d = strdup(v);
    if (!d)
        *rc = km_err_set(KM_ENOMEM, "out of memory reading an answer");
    return d;
}

/* Take over a name from the newest series of the object that has one. */
static int take_attr(char **dst, const struct km_labels *l, const char *name, bool newer)
{
    int rc = 0;
    char *v;

    if (*dst && !newer)
        return 0;
    v = dup_label(l, name, &rc);
    if (v) {
        free(*dst);
        *dst = v;
    }
    return rc;
}

/* Give row r's answer to e: instant answers one value, range answers one per step. */
static int take_row(struct km_entity *e, const struct row *r, size_t nsteps, bool range)
{
    const struct km_pq_series *s = r->s;
    int rc = 0;

    if (range) {
        double *v = e->steps[r->fig];

        if (!v) {
            v = malloc((nsteps ? nsteps : 1) * sizeof(*v));
            if (!v)
                return km_err_set(KM_ENOMEM, "out of memory reading an answer");
            for (size_t i = 0; i < nsteps; i++)
                v[i] = NAN;
            e->steps[r->fig] = v;
        }
        for (size_t i = 0; i < nsteps; i++) {
            if (km_pq_has(s, i))
                v[i] = s->v[i];
        }
        e->has[r->fig] = true;
        return 0;
    }
    if (!km_pq_has(s, 0))
        return 0;
    if (r->fig == KM_SEED_TIMESTAMP) {
        /* Several series when an object's series disagree on its node or cluster: the
         * newest says; the timestamp is the newest. */
        bool newer = !e->has[r->fig] || s->v[0] > e->v[r->fig];

        rc = take_attr(&e->node, s->labels, "node", newer);
        if (rc == 0)
            rc = take_attr(&e->cluster, s->labels, "cluster", newer);
        if (!newer)
            return rc;
    } else if (r->fig == KM_SEED_DEPLOYMENT_OF && !e->deployment) {
        e->deployment = dup_label(s->labels, "deployment", &rc);
    } else if (r->fig == KM_SEED_STATE) {
        /* The object's own series say where it is when its figures' series do not. */
        rc = take_attr(&e->node, s->labels, "node", false);
        if (rc == 0)
            rc = take_attr(&e->cluster, s->labels, "cluster", false);
    } else if (r->label && !e->text[r->fig]) {
        e->text[r->fig] = dup_label(s->labels, r->label, &rc);
    }
    e->v[r->fig] = s->v[0];
    e->has[r->fig] = true;
    return rc;
}

/* The objects of one level from its rows (sorted). */
static int gather_level(struct km_entities *out, struct row *rows, size_t n, size_t nsteps,
                        bool range)
{
    int rc = 0;

    km_sort(rows, n, sizeof(*rows), cmp_row);
    out->v = calloc(n ? n : 1, sizeof(*out->v));
    if (!out->v)
        return km_err_set(KM_ENOMEM, "out of memory reading an answer");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct km_entity *e;

        if (i == 0 || cmp_row(&rows[i - 1], &rows[i]) != 0) {
            e = &out->v[out->n++];
            e->name = strdup(rows[i].name);
            if (!e->name || (rows[i].ns && !(e->namespace = strdup(rows[i].ns))))
                rc = km_err_set(KM_ENOMEM, "out of memory reading an answer");
        }
        if (rc == 0)
            rc = take_row(&out->v[out->n - 1], &rows[i], nsteps, range);
    }
    return rc;
}

/* Sort the answer's series into objects. */
static int gather(const struct km_pq_vec *vec, bool range, struct km_model *out)
{
    struct row *rows;
    size_t nrows[KM_SEED_LEVELS] = { 0 }, start[KM_SEED_LEVELS], k = 0;
    const char *labels[KM_SEED_LEVELS][KM_SEED_FIGS] = { { NULL } };
    int rc = 0;

    rows = malloc((vec->n ? vec->n : 1) * sizeof(*rows));
    if (!rows)
        return km_err_set(KM_ENOMEM, "out of memory reading an answer");
    for (size_t i = 0; i < km_seed_nqueries; i++) /* the text figures' labels */
        labels[km_seed_queries[i].level][km_seed_queries[i].fig] = km_seed_queries[i].label;
    /* Two passes: count per level, then place each series in its level's run. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < vec->n; i++) {
            const struct km_labels *l = vec->s[i].labels;
            const char *part = km_labels_get(l, PART_LABEL);
            int idx = part ? atoi(part) : -1, level = idx / KM_SEED_FIGS;
            size_t nk;
            const char *const *keys;
            struct row r;

            if (idx < 0 || level >= KM_SEED_LEVELS)
                continue;
            keys = km_seed_level_keys((enum km_seed_level)level, &nk);
            r.ns = nk == 2 ? km_labels_get(l, keys[0]) : NULL;
            r.name = km_labels_get(l, keys[nk - 1]);
            if (!r.name || !*r.name || (nk == 2 && (!r.ns || !*r.ns)))
                continue; /* a series the query could not name (no such label) */
            r.s = &vec->s[i];
            r.fig = idx % KM_SEED_FIGS;
            r.label = labels[level][r.fig];
            if (pass == 0)
                nrows[level]++;
            else
                rows[start[level]++] = r;
        }
        if (pass == 0) {
            for (int lv = 0; lv < KM_SEED_LEVELS; lv++) {
                start[lv] = k;
                k += nrows[lv];
            }
        }
    }
    k = 0;
    for (int lv = 0; rc == 0 && lv < KM_SEED_LEVELS; lv++) {
        rc = gather_level(&out->level[lv], rows + k, nrows[lv], vec->nsteps, range);
        k += nrows[lv];
    }
    free(rows);
    return rc;
}

/* When a level's timestamp was asked, its objects are those it answers for, or that
 * exist by their cluster state: a node that only its pods name (a pod count) is not a
 * node of the list. */
static void keep_timestamped(struct km_entities *es)
{
    size_t n = 0;

    for (size_t i = 0; i < es->n; i++) {
        if (es->v[i].has[KM_SEED_TIMESTAMP] || es->v[i].has[KM_SEED_STATE])
            es->v[n++] = es->v[i];
        else
            entity_fini(&es->v[i]);
    }
    es->n = n;
}

static int ask(struct km_storage *store, const struct km_pq_opts *o,
               const struct km_model_ask *what, const struct km_model_params *p, int64_t t,
               const struct km_pq_grid *g, struct km_model *out)
{
    struct km_promql_error perr;
    struct km_promql_expr *e = NULL;
    struct km_pq_result r;
    struct km_buf q;
    int rc;

    memset(out, 0, sizeof(*out));
    memset(&r, 0, sizeof(r));
    km_buf_init(&q, 0);
    rc = km_model_compose(&q, what, p);
    if (rc)
        goto out_free_text;
    rc = km_promql_parse(q.data, q.len, &e, &perr);
    if (rc)
        goto out_free_text;
    if (g)
        rc = km_pq_eval_range(store, e, g->start, g->start + (int64_t)(g->n - 1) * g->step, g->step,
                              o, &r);
    else
        rc = km_pq_eval_instant(store, e, t, o, &r);
    if (rc == 0) {
        out->grid = r.grid;
        rc = gather(&r.vec, g != NULL, out);
        for (int l = 0; rc == 0 && l < KM_SEED_LEVELS; l++) {
            if (what->figs[l] & (1ull << KM_SEED_TIMESTAMP))
                keep_timestamped(&out->level[l]);
        }
        if (rc)
            km_model_fini(out);
    }
    km_pq_result_fini(&r);
    km_promql_expr_destroy(e);
out_free_text:
    km_buf_fini(&q);
    return rc;
}

int km_model_instant(struct km_storage *store, const struct km_pq_opts *o,
                     const struct km_model_ask *what, const struct km_model_params *p, int64_t t,
                     struct km_model *out)
{
    return ask(store, o, what, p, t, NULL, out);
}

int km_model_range(struct km_storage *store, const struct km_pq_opts *o,
                   const struct km_model_ask *what, const struct km_model_params *p,
                   const struct km_pq_grid *g, struct km_model *out)
{
    return ask(store, o, what, p, 0, g, out);
}

const struct km_entity *km_model_find(const struct km_model *m, enum km_seed_level level,
                                      const char *namespace, const char *name)
{
    const struct km_entities *es = &m->level[level];

    for (size_t i = 0; i < es->n; i++) {
        const struct km_entity *e = &es->v[i];

        if (strcmp(e->name, name) == 0 &&
            (!namespace || (e->namespace && strcmp(e->namespace, namespace) == 0)))
            return e;
    }
    return NULL;
}
