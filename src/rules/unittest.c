/*
 * unittest — promtool's rule unit-test files run over kmon's own rule manager, PromQL
 * engine and TSDB (see unittest.h). The file is read with libyaml's document API and its
 * fields walked as promtool's unitTestFile/testGroup types (unknown fields refused); each
 * test group gets a scratch TSDB holding its input series from time 0 at the group's
 * interval, the manager evaluates the rule files every evaluation_interval up to the
 * latest eval_time, the firing alerts are compared at each alert test's time and the
 * PromQL tests are evaluated at theirs. Failures are described as promtool describes
 * them.
 */
#include "rules/unittest.h"

#include "common/array.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/labels.h"
#include "promql/dtoa.h"
#include "promql/eval.h"
#include "promql/literal.h"
#include "promql/parse.h"
#include "rules/manager.h"
#include "rules/series_values.h"
#include "storage/storage.h"
#include "tsdb/tsdb.h"
#include "tsdb/tsdb_storage.h"

#include <errno.h>
#include <glob.h>
#include <libgen.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct ut {
    const char *path;
    yaml_document_t *doc;
    struct km_buf *err; /* the first problem with the file, when it cannot run */
    bool rules_failed;  /* err holds the rule files' own errors */
};

/* ---- YAML helpers --------------------------------------------------------------------------- */

static yaml_node_t *node(struct ut *u, int id)
{
    return yaml_document_get_node(u->doc, id);
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int fail(struct ut *u, const yaml_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct ut *u, const yaml_node_t *at, const char *fmt, ...)
{
    va_list ap;

    if (u->err->len)
        return KM_EINVAL;
    if (at)
        km_buf_printf(u->err, "line %zu: ", (size_t)at->start_mark.line + 1);
    va_start(ap, fmt);
    km_buf_vprintf(u->err, fmt, ap);
    va_end(ap);
    return KM_EINVAL;
}

/* A mapping whose keys are all in `known`; else an error naming the first unknown. */
static int check_map(struct ut *u, const yaml_node_t *n, const char *const *known, const char *type)
{
    if (!n || n->type != YAML_MAPPING_NODE)
        return fail(u, n, "cannot unmarshal into %s: not a mapping", type);
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const char *k = scalar(node(u, p->key));
        bool ok = false;

        for (const char *const *w = known; k && *w && !ok; w++)
            ok = strcmp(*w, k) == 0;
        if (!ok) /* as yaml.UnmarshalStrict says it */
            return fail(u, NULL,
                        "yaml: unmarshal errors:\n  line %zu: field %s not found in type %s",
                        (size_t)node(u, p->key)->start_mark.line + 1, k ? k : "?", type);
    }
    return 0;
}

static yaml_node_t *get(struct ut *u, const yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const char *k = scalar(node(u, p->key));

        if (k && strcmp(k, key) == 0) {
            yaml_node_t *v = node(u, p->value);
            const char *s = scalar(v);

            /* A null value is as absent. */
            if (s && v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                (!*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0))
                return NULL;
            return v;
        }
    }
    return NULL;
}

static size_t items(const yaml_node_t *seq)
{
    return seq && seq->type == YAML_SEQUENCE_NODE
               ? (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start)
               : 0;
}

static yaml_node_t *item(struct ut *u, const yaml_node_t *seq, size_t i)
{
    return node(u, seq->data.sequence.items.start[i]);
}

static int sequence(struct ut *u, const yaml_node_t *n, const char *what)
{
    if (n && n->type != YAML_SEQUENCE_NODE)
        return fail(u, n, "%s must be a list", what);
    return 0;
}

static int duration(struct ut *u, const yaml_node_t *n, int64_t *ms, int64_t def)
{
    struct km_buf why;
    const char *s = scalar(n);
    int rc;

    *ms = def;
    if (!n)
        return 0;
    if (!s)
        return fail(u, n, "a duration must be a string");
    km_buf_init(&why, 256);
    rc = km_promql_config_duration_parse(s, strlen(s), ms, &why);
    if (rc)
        fail(u, n, "%s", km_buf_cstr(&why));
    km_buf_fini(&why);
    return rc ? KM_EINVAL : 0;
}

/* A mapping of strings as a label set (exp_labels, external_labels), with `extra` added. */
static int string_map(struct ut *u, const yaml_node_t *n, const struct km_label *extra,
                      struct km_labels **out)
{
    size_t cap = (n && n->type == YAML_MAPPING_NODE
                      ? (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start)
                      : 0) +
                 1;
    struct km_label *v = calloc(cap + 1, sizeof(*v));
    size_t k = 0;
    int rc;

    if (!v)
        return KM_ENOMEM;
    if (n && n->type != YAML_MAPPING_NODE) {
        free(v);
        return fail(u, n, "expected a mapping of names to values");
    }
    for (yaml_node_pair_t *p = n ? n->data.mapping.pairs.start : NULL;
         n && p < n->data.mapping.pairs.top; p++) {
        const char *key = scalar(node(u, p->key)), *val = scalar(node(u, p->value));

        if (!key || !val) {
            free(v);
            return fail(u, node(u, p->key), "names and values must be strings");
        }
        v[k++] = (struct km_label){ key, val };
    }
    if (extra)
        v[k++] = *extra;
    rc = km_labels_create(out, v, k);
    free(v);
    if (rc)
        return fail(u, n, "%s", km_err_msg());
    return 0;
}

/* A series written as a selector ('up{job="x"}', '{}') as its label set. */
static int series_labels(struct ut *u, const yaml_node_t *at, const char *text,
                         struct km_labels **out)
{
    struct km_promql_expr *e = NULL;
    struct km_promql_error perr;
    struct km_label *v;
    size_t k = 0;
    int rc;

    rc = km_promql_parse_selector(text, strlen(text), &e, &perr);
    if (rc)
        return fail(u, at, "%s", perr.msg);
    v = calloc(e->vector.nmatchers + 1, sizeof(*v));
    if (!v) {
        km_promql_expr_destroy(e);
        return KM_ENOMEM;
    }
    for (size_t i = 0; i < e->vector.nmatchers; i++) {
        const struct km_matcher *m = e->vector.matchers[i];

        if (m->type != KM_MATCH_EQ) {
            rc = fail(u, at, "%s: a series is written with = matchers only", text);
            break;
        }
        if (m->value[0])
            v[k++] = (struct km_label){ m->name, m->value };
    }
    if (rc == 0 && km_labels_create(out, v, k) != 0)
        rc = fail(u, at, "%s: %s", text, km_err_msg());
    free(v);
    km_promql_expr_destroy(e);
    return rc;
}

/* ---- printing as promtool does -------------------------------------------------------------- */

static void print_labels(struct km_buf *b, const struct km_labels *l)
{
    km_buf_putc(b, '{');
    for (size_t i = 0; l && i < l->n; i++)
        km_buf_printf(b, "%s%s=\"%s\"", i ? ", " : "", l->v[i].name, l->v[i].value);
    km_buf_putc(b, '}');
}

/* Go's strconv.FormatFloat(v, 'E', -1, 64), as promtool prints a value. */
static void print_value(struct km_buf *b, double v)
{
    char s[KM_PQ_EXP_MAX];

    km_buf_puts(b, km_pq_format_exp(s, v, 'E'));
}

/* ---- alerts --------------------------------------------------------------------------------- */

struct got_alert {
    struct km_labels *labels, *annotations;
};

struct got {
    struct got_alert *v;
    size_t n, cap;
};

static void collect(void *ud, const struct km_labels *labels, const struct km_labels *annotations)
{
    struct got *g = ud;

    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 16;
        struct got_alert *p = realloc(g->v, cap * sizeof(*p));

        if (!p)
            return;
        g->v = p;
        g->cap = cap;
    }
    if (km_labels_dup(&g->v[g->n].labels, labels) != 0)
        return;
    if (km_labels_dup(&g->v[g->n].annotations, annotations) != 0) {
        km_labels_destroy(g->v[g->n].labels);
        return;
    }
    g->n++;
}

static void got_fini(struct got *g)
{
    for (size_t i = 0; i < g->n; i++) {
        km_labels_destroy(g->v[i].labels);
        km_labels_destroy(g->v[i].annotations);
    }
    free(g->v);
    memset(g, 0, sizeof(*g));
}

static int alert_cmp(const void *a, const void *b)
{
    const struct got_alert *x = a, *y = b;
    int c = km_labels_cmp(x->labels, y->labels);

    return c ? c : km_labels_cmp(x->annotations, y->annotations);
}

static void print_alerts(struct km_buf *b, const struct got *g)
{
    km_buf_putc(b, '[');
    for (size_t i = 0; i < g->n; i++) {
        km_buf_printf(b, "\n            %zu:\n              Labels:", i);
        print_labels(b, g->v[i].labels);
        km_buf_puts(b, "\n              Annotations:");
        print_labels(b, g->v[i].annotations);
    }
    if (g->n)
        km_buf_puts(b, "\n            ");
    km_buf_putc(b, ']');
}

/* One alert_rule_test: compare the expected alerts with `got` (sorted). */
static int check_alerts(struct ut *u, const yaml_node_t *tc, const char *alertname, int64_t at,
                        struct got *got, struct km_buf *report)
{
    static const char *const alert_keys[] = { "exp_labels", "exp_annotations", NULL };
    const yaml_node_t *exp = get(u, tc, "exp_alerts");
    struct got want = { 0 };
    struct km_label name = { "alertname", alertname };
    bool same;
    int rc = sequence(u, exp, "exp_alerts");

    for (size_t i = 0; rc == 0 && i < items(exp); i++) {
        const yaml_node_t *a = item(u, exp, i);
        struct km_labels *l = NULL, *an = NULL;

        rc = check_map(u, a, alert_keys, "main.alert");
        if (rc == 0)
            rc = string_map(u, get(u, a, "exp_labels"), &name, &l);
        if (rc == 0)
            rc = string_map(u, get(u, a, "exp_annotations"), NULL, &an);
        if (rc == 0) {
            collect(&want, l, an);
        }
        km_labels_destroy(l);
        km_labels_destroy(an);
    }
    if (rc) {
        got_fini(&want);
        return rc;
    }
    km_sort(want.v, want.n, sizeof(*want.v), alert_cmp);
    km_sort(got->v, got->n, sizeof(*got->v), alert_cmp);
    same = want.n == got->n;
    for (size_t i = 0; same && i < want.n; i++)
        same = alert_cmp(&want.v[i], &got->v[i]) == 0;
    if (!same) {
        km_buf_printf(report, "    alertname: %s, time: ", alertname);
        km_promql_format_duration(report, at);
        km_buf_puts(report, ", \n        exp:");
        print_alerts(report, &want);
        km_buf_puts(report, ", \n        got:");
        print_alerts(report, got);
        km_buf_puts(report, "\n\x1e");
    }
    got_fini(&want);
    return same ? 0 : 1;
}

/* ---- PromQL tests --------------------------------------------------------------------------- */

struct exp_sample {
    struct km_labels *labels;
    double v;
};

static int sample_cmp(const void *a, const void *b)
{
    return km_labels_cmp(((const struct exp_sample *)a)->labels,
                         ((const struct exp_sample *)b)->labels);
}

static void print_samples(struct km_buf *b, const struct exp_sample *s, size_t n)
{
    if (n == 0) {
        km_buf_puts(b, "nil");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (i)
            km_buf_puts(b, ", ");
        print_labels(b, s[i].labels);
        km_buf_putc(b, ' ');
        print_value(b, s[i].v);
    }
}

static bool same_value(double a, double b)
{
    return a == b || (isnan(a) && isnan(b));
}

static int check_expr(struct ut *u, const yaml_node_t *tc, struct km_storage *store,
                      struct km_buf *report)
{
    static const char *const keys[] = { "expr", "eval_time", "exp_samples", NULL };
    static const char *const sample_keys[] = { "labels", "value", "exemplars", NULL };
    const yaml_node_t *exp;
    const char *text;
    struct km_promql_expr *e = NULL;
    struct km_promql_error perr;
    struct exp_sample *want = NULL, *got = NULL;
    size_t nwant = 0, ngot = 0;
    struct km_pq_result res;
    struct km_pq_opts o;
    int64_t at;
    bool same;
    int rc;

    memset(&res, 0, sizeof(res));
    rc = check_map(u, tc, keys, "main.promqlTestCase");
    if (rc)
        return rc;
    text = scalar(get(u, tc, "expr"));
    if (!text)
        return fail(u, tc, "promql_expr_test: expr is missing");
    rc = duration(u, get(u, tc, "eval_time"), &at, 0);
    if (rc)
        return rc;
    exp = get(u, tc, "exp_samples");
    rc = sequence(u, exp, "exp_samples");
    if (rc)
        return rc;
    want = calloc(items(exp) + 1, sizeof(*want));
    if (!want)
        return KM_ENOMEM;
    for (size_t i = 0; rc == 0 && i < items(exp); i++) {
        const yaml_node_t *s = item(u, exp, i);
        const char *l, *v;
        char *end;

        rc = check_map(u, s, sample_keys, "main.sample");
        if (rc)
            break;
        l = scalar(get(u, s, "labels"));
        v = scalar(get(u, s, "value"));
        rc = series_labels(u, s, l ? l : "{}", &want[nwant].labels);
        if (rc)
            break;
        want[nwant].v = v ? strtod(v, &end) : 0;
        if (v && *end)
            rc = fail(u, s, "value %s is not a number", v);
        nwant++;
    }
    if (rc == 0) {
        rc = km_promql_parse(text, strlen(text), &e, &perr);
        if (rc) {
            km_buf_printf(report, "    expr: \"%s\", time: ", text);
            km_promql_format_duration(report, at);
            km_buf_printf(report, ", err: %s\n\x1e", perr.msg);
            rc = 1;
        }
    }
    if (rc == 0) {
        km_pq_opts_default(&o);
        rc = km_pq_eval_instant(store, e, at, &o, &res);
        if (rc == 0 && res.type != KM_PQ_RESULT_VECTOR && res.type != KM_PQ_RESULT_SCALAR)
            rc = km_err_set(KM_EINVAL, "the result is neither a vector nor a scalar");
        if (rc) {
            km_buf_printf(report, "    expr: \"%s\", time: ", text);
            km_promql_format_duration(report, at);
            km_buf_printf(report, ", err: %s\n\x1e", km_err_msg());
            rc = 1;
        }
    }
    if (rc == 0) {
        size_t n = res.type == KM_PQ_RESULT_VECTOR ? res.vec.n : 1;

        got = calloc(n + 1, sizeof(*got));
        if (!got)
            rc = KM_ENOMEM;
        for (size_t i = 0; rc == 0 && i < n; i++) {
            if (res.type == KM_PQ_RESULT_SCALAR) {
                rc = km_labels_create(&got[ngot].labels, NULL, 0);
                got[ngot++].v = res.scalar[0];
            } else if (km_pq_has(&res.vec.s[i], 0)) {
                rc = km_labels_dup(&got[ngot].labels, res.vec.s[i].labels);
                got[ngot++].v = res.vec.s[i].v[0];
            }
        }
    }
    if (rc == 0) {
        km_sort(want, nwant, sizeof(*want), sample_cmp);
        km_sort(got, ngot, sizeof(*got), sample_cmp);
        same = nwant == ngot;
        for (size_t i = 0; same && i < nwant; i++)
            same = km_labels_cmp(want[i].labels, got[i].labels) == 0 &&
                   same_value(want[i].v, got[i].v);
        if (!same) {
            km_buf_printf(report, "    expr: \"%s\", time: ", text);
            km_promql_format_duration(report, at);
            km_buf_puts(report, ",\n        exp: ");
            print_samples(report, want, nwant);
            km_buf_puts(report, "\n        got: ");
            print_samples(report, got, ngot);
            km_buf_puts(report, "\n\x1e");
            rc = 1;
        }
    }
    for (size_t i = 0; i < nwant; i++)
        km_labels_destroy(want[i].labels);
    for (size_t i = 0; i < ngot; i++)
        km_labels_destroy(got[i].labels);
    free(want);
    free(got);
    km_pq_result_fini(&res);
    km_promql_expr_destroy(e);
    return rc;
}

/* ---- a test group --------------------------------------------------------------------------- */

struct group_ctx {
    struct ut *u;
    const yaml_node_t *group;
    char **rule_files;
    size_t nrule_files;
    int64_t eval_interval_ms;
};

static int store_append(void *ud, const struct km_sample *s, size_t n)
{
    struct km_append_result res;

    return km_storage_append(ud, s, n, NULL, &res);
}

static int load_series(struct ut *u, const yaml_node_t *list, int64_t interval,
                       struct km_storage *store)
{
    static const char *const keys[] = { "series", "values", NULL };
    int rc = sequence(u, list, "input_series");

    for (size_t i = 0; rc == 0 && i < items(list); i++) {
        const yaml_node_t *s = item(u, list, i);
        const char *sel, *vals;
        struct km_labels *l = NULL;
        struct km_series_value *v = NULL;
        struct km_sample *smp;
        struct km_buf why;
        size_t n = 0, k = 0;

        rc = check_map(u, s, keys, "main.series");
        if (rc)
            break;
        sel = scalar(get(u, s, "series"));
        vals = scalar(get(u, s, "values"));
        if (!sel)
            return fail(u, s, "input_series: series is missing");
        rc = series_labels(u, s, sel, &l);
        if (rc)
            break;
        km_buf_init(&why, 1024);
        rc = km_series_values_parse(vals ? vals : "", &v, &n, &why);
        if (rc)
            fail(u, s, "%s", km_buf_cstr(&why));
        km_buf_fini(&why);
        smp = rc ? NULL : calloc(n + 1, sizeof(*smp));
        if (rc == 0 && !smp)
            rc = KM_ENOMEM;
        for (size_t j = 0; rc == 0 && j < n; j++) {
            if (!v[j].missing)
                smp[k++] = (struct km_sample){ l->v, l->n, (int64_t)j * interval, v[j].v };
        }
        if (rc == 0 && k)
            rc = store_append(store, smp, k);
        free(smp);
        free(v);
        km_labels_destroy(l);
    }
    return rc;
}

/* The latest eval_time of the group's tests. */
static int64_t max_eval_time(struct ut *u, const yaml_node_t *g)
{
    static const char *const lists[] = { "alert_rule_test", "promql_expr_test" };
    int64_t max = 0;

    for (size_t l = 0; l < 2; l++) {
        const yaml_node_t *list = get(u, g, lists[l]);

        for (size_t i = 0; i < items(list); i++) {
            const yaml_node_t *tc = item(u, list, i);
            int64_t t = 0;

            if (tc && tc->type == YAML_MAPPING_NODE &&
                duration(u, get(u, tc, "eval_time"), &t, 0) == 0 && t > max)
                max = t;
        }
    }
    return max;
}

static int run_group(struct group_ctx *c, struct km_buf *report)
{
    static const char *const keys[] = { "interval",
                                        "input_series",
                                        "alert_rule_test",
                                        "promql_expr_test",
                                        "external_labels",
                                        "external_url",
                                        "name",
                                        NULL };
    static const char *const alert_keys[] = { "eval_time", "alertname", "exp_alerts", NULL };
    struct ut *u = c->u;
    const yaml_node_t *g = c->group, *alerts;
    char dir[] = "/tmp/kmon-rules-test-XXXXXX";
    struct km_storage *store = NULL;
    struct km_rules *m = NULL;
    struct km_labels *external = NULL;
    struct km_rules_opts ro;
    struct km_tsdb_opts to;
    struct km_buf errs;
    int64_t interval, maxt;
    int rc, failed = 0;

    rc = check_map(u, g, keys, "main.testGroup");
    if (rc == 0)
        rc = duration(u, get(u, g, "interval"), &interval, c->eval_interval_ms);
    if (rc == 0 && interval <= 0)
        rc = fail(u, g, "interval must be greater than 0");
    if (rc == 0)
        rc = string_map(u, get(u, g, "external_labels"), NULL, &external);
    if (rc)
        return rc;
    if (!mkdtemp(dir)) {
        km_labels_destroy(external);
        return fail(u, NULL, "cannot make a scratch directory in /tmp");
    }
    km_tsdb_opts_default(&to);
    to.dir = dir;
    to.no_background = true;
    to.retention_ms = KM_TSDB_MAX_SPAN_MS;
    to.ooo_window_ms = KM_TSDB_MAX_SPAN_MS;
    to.fsync_interval_ms = 3600000;
    to.wal_lanes = 1;
    rc = km_tsdb_storage_open(&store, &to);
    if (rc) {
        fail(u, NULL, "cannot open a scratch database: %s", km_err_msg());
        goto out_remove;
    }
    rc = load_series(u, get(u, g, "input_series"), interval, store);
    if (rc)
        goto out_close;
    km_rules_opts_default(&ro);
    ro.store = store;
    ro.append = store_append;
    ro.append_ud = store;
    ro.default_interval_ms = c->eval_interval_ms;
    ro.external_labels = external;
    ro.external_url = scalar(get(u, g, "external_url"));
    ro.no_restore = true;
    rc = km_rules_create(&m, &ro);
    if (rc)
        goto out_close;
    km_buf_init(&errs, 1u << 20);
    rc = km_rules_load_stopped(m, c->rule_files, c->nrule_files, &errs);
    if (rc) { /* promtool prints the rule files' errors as they are */
        km_buf_printf(u->err, "%s", errs.len ? km_buf_cstr(&errs) : km_err_msg());
        u->rules_failed = true;
        rc = KM_EINVAL;
    }
    km_buf_fini(&errs);
    if (rc)
        goto out_destroy;
    alerts = get(u, g, "alert_rule_test");
    rc = sequence(u, alerts, "alert_rule_test");
    for (size_t i = 0; rc == 0 && i < items(alerts); i++)
        rc = check_map(u, item(u, alerts, i), alert_keys, "main.alertTestCase");
    if (rc)
        goto out_destroy;
    maxt = max_eval_time(u, g);
    for (int64_t ts = 0; ts <= maxt; ts += c->eval_interval_ms) {
        km_rules_eval_all(m, ts);
        for (size_t i = 0; i < items(alerts); i++) {
            const yaml_node_t *tc = item(u, alerts, i);
            const char *name = scalar(get(u, tc, "alertname"));
            struct got got = { 0 };
            int64_t at;

            if (duration(u, get(u, tc, "eval_time"), &at, 0) != 0) {
                rc = KM_EINVAL;
                break;
            }
            if (!(at >= ts && at < ts + c->eval_interval_ms))
                continue;
            if (!name) {
                rc = fail(u, tc, "alert_rule_test: alertname is missing");
                break;
            }
            km_rules_each_firing(m, name, collect, &got);
            rc = check_alerts(u, tc, name, at, &got, report);
            got_fini(&got);
            if (rc == 1) {
                failed = 1;
                rc = 0;
            }
            if (rc)
                break;
        }
        if (rc)
            break;
    }
    {
        const yaml_node_t *exprs = get(u, g, "promql_expr_test");

        if (rc == 0)
            rc = sequence(u, exprs, "promql_expr_test");
        for (size_t i = 0; rc == 0 && i < items(exprs); i++) {
            rc = check_expr(u, item(u, exprs, i), store, report);
            if (rc == 1) {
                failed = 1;
                rc = 0;
            }
        }
    }

out_destroy:
    km_rules_destroy(m);
out_close:
    km_storage_close(store);
out_remove : {
    char cmd[64];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        rc = rc ? rc : fail(u, NULL, "cannot remove %s", dir);
}
    km_labels_destroy(external);
    return rc ? rc : failed;
}

/* ---- the file ------------------------------------------------------------------------------- */

/* rule_files, relative to the test file's directory, globs expanded. */
static int rule_files(struct ut *u, const yaml_node_t *list, char ***out, size_t *n)
{
    char *copy = strdup(u->path);
    const char *base = copy ? dirname(copy) : ".";
    glob_t gl;
    int flags = 0, rc = sequence(u, list, "rule_files");

    memset(&gl, 0, sizeof(gl));
    for (size_t i = 0; rc == 0 && i < items(list); i++) {
        const char *f = scalar(item(u, list, i));
        char path[4096];

        if (!f) {
            rc = fail(u, list, "rule_files must name files");
            break;
        }
        if (f[0] == '/' || strcmp(base, ".") == 0)
            snprintf(path, sizeof(path), "%s", f);
        else
            snprintf(path, sizeof(path), "%s/%s", base, f);
        if (glob(path, flags, NULL, &gl) == 0 || gl.gl_pathc)
            flags = GLOB_APPEND;
    }
    *out = calloc(gl.gl_pathc + 1, sizeof(**out));
    *n = 0;
    for (size_t i = 0; rc == 0 && *out && i < gl.gl_pathc; i++)
        (*out)[(*n)++] = strdup(gl.gl_pathv[i]);
    if (!*out)
        rc = KM_ENOMEM;
    globfree(&gl);
    free(copy);
    return rc;
}

int km_rules_unittest_run(const char *path, FILE *out, FILE *errout)
{
    static const char *const keys[] = { "rule_files", "evaluation_interval", "group_eval_order",
                                        "tests", NULL };
    yaml_parser_t parser;
    yaml_document_t doc;
    struct km_buf err, report;
    struct ut u = { .path = path, .doc = &doc, .err = &err };
    const yaml_node_t *root, *tests;
    struct group_ctx c = { .u = &u };
    FILE *f;
    int rc = 0, failed = 0;

    fprintf(out, "Unit Testing:  %s\n", path);
    fflush(out);
    km_buf_init(&err, 1u << 20);
    km_buf_init(&report, 16u << 20);
    f = fopen(path, "rb");
    if (!f) {
        fprintf(errout, "  FAILED:\n%s: open %s: %s\n", path, path, strerror(errno));
        fputs("\n\n", out);
        rc = 1;
        goto out_free;
    }
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        fprintf(errout, "  FAILED:\n%s: out of memory\n", path);
        fputs("\n\n", out);
        rc = 1;
        goto out_free;
    }
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        fprintf(errout, "  FAILED:\nyaml: line %zu: %s\n", (size_t)parser.problem_mark.line + 1,
                parser.problem ? parser.problem : "");
        fputs("\n\n", out);
        yaml_parser_delete(&parser);
        fclose(f);
        rc = 1;
        goto out_free;
    }
    root = yaml_document_get_root_node(&doc);
    rc = root ? check_map(&u, root, keys, "main.unitTestFile") : fail(&u, NULL, "empty file");
    if (rc == 0)
        rc = duration(&u, get(&u, root, "evaluation_interval"), &c.eval_interval_ms, 60000);
    if (rc == 0 && c.eval_interval_ms <= 0)
        rc = fail(&u, root, "evaluation_interval must be greater than 0");
    if (rc == 0)
        rc = rule_files(&u, get(&u, root, "rule_files"), &c.rule_files, &c.nrule_files);
    tests = rc == 0 ? get(&u, root, "tests") : NULL;
    if (rc == 0)
        rc = sequence(&u, tests, "tests");
    for (size_t i = 0; rc == 0 && i < items(tests); i++) {
        c.group = item(&u, tests, i);
        rc = run_group(&c, &report);
        if (rc == 1) {
            failed = 1;
            rc = 0;
        }
    }
    if (rc || failed)
        fprintf(errout, "  FAILED:\n");
    if (rc && (u.rules_failed || strncmp(km_buf_cstr(&err), "yaml: ", 6) == 0)) {
        fprintf(errout, "%s\n", km_buf_cstr(&err));
        fputc('\n', out);
    } else if (rc) {
        fprintf(errout, "%s: %s\n", path,
                err.len ? km_buf_cstr(&err) : (km_err_msg()[0] ? km_err_msg() : "failed"));
        fputc('\n', out);
    } else if (failed) {
        /* Each failure on the error stream, each followed by a blank line on the output
         * stream, as promtool prints them. */
        for (char *e = report.data, *sep; e && (sep = strchr(e, '\x1e')) != NULL; e = sep + 1) {
            fflush(out);
            fwrite(e, 1, (size_t)(sep - e), errout);
            fflush(errout);
            fputc('\n', out);
        }
    } else {
        fprintf(out, "  SUCCESS\n");
    }
    fputc('\n', out);
    for (size_t i = 0; i < c.nrule_files; i++)
        free(c.rule_files[i]);
    free(c.rule_files);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    rc = rc || failed;
out_free:
    km_buf_fini(&report);
    km_buf_fini(&err);
    return rc ? 1 : 0;
}
