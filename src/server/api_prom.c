/*
 * api_prom — the Prometheus HTTP API (see api_prom.h).
 *
 * Arguments are read as Prometheus reads them (query string and form body alike;
 * times as seconds or RFC 3339, durations as seconds or "5m"), errors are answered in
 * its envelope with its status codes and messages, and answers are built with the
 * streaming JSON writer.
 */
#include "api_prom.h"
#include "auth/auth.h"

#include "common/array.h"
#include "rules/manager.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/jsonw.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "promql/eval.h"
#include "promql/parse.h"
#include "promql/print.h"
#include "promql/quote.h"
#include "promql/render.h"
#include "server_internal.h"
#include "storage/storage.h"
#include "version.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Prometheus' "min" and "max" times for an absent start or end (series, labels). */
#define MIN_TIME KM_TIME_PROM_MIN_MS
#define MAX_TIME KM_TIME_PROM_MAX_MS

/* ---- answers ------------------------------------------------------------------------------ */

enum api_error {
    ERR_BAD_DATA,
    ERR_EXECUTION,
    ERR_TIMEOUT,
    ERR_CANCELED,
    ERR_INTERNAL,
    ERR_UNAVAILABLE, /* the store cannot answer now (ClickHouse down): worth retrying */
};

static void respond_error(struct km_http_req *req, enum api_error type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void respond_error(struct km_http_req *req, enum api_error type, const char *fmt, ...)
{
    static const char *const names[] = { "bad_data", "execution", "timeout",
                                         "canceled", "internal",  "unavailable" };
    static const unsigned codes[] = { 400, 422, 503, 503, 500, 503 };
    char msg[KM_PROMQL_ERR_MAX + 256];
    struct km_buf b;
    struct km_jsonw w;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    km_buf_init(&b, 0);
    km_jsonw_init(&w, &b);
    km_jsonw_obj_begin(&w);
    km_jsonw_key(&w, "status");
    km_jsonw_str(&w, "error");
    km_jsonw_key(&w, "errorType");
    km_jsonw_str(&w, names[type]);
    km_jsonw_key(&w, "error");
    km_jsonw_str(&w, msg);
    km_jsonw_obj_end(&w);
    km_http_respond_buf(req, codes[type], "application/json", &b);
    km_buf_fini(&b);
}

/* Start {"status":"success","data": — the caller writes the data and calls finish. */
static void success_begin(struct km_jsonw *w, struct km_buf *b)
{
    km_buf_init(b, 0);
    km_jsonw_init(w, b);
    km_jsonw_obj_begin(w);
    km_jsonw_key(w, "status");
    km_jsonw_str(w, "success");
    km_jsonw_key(w, "data");
}

static void success_finish(struct km_http_req *req, struct km_jsonw *w, struct km_buf *b)
{
    km_jsonw_obj_end(w);
    if (km_buf_error(b))
        respond_error(req, ERR_INTERNAL, "the answer could not be written: %s",
                      km_err_name(km_buf_error(b)));
    else
        km_http_respond_buf(req, 200, "application/json", b);
    km_buf_fini(b);
}

/* ---- arguments ------------------------------------------------------------------------------ */

/* Seconds since the epoch ("1435781451.781") or RFC 3339, as Prometheus parses a time,
 * into ms. */
static bool parse_time(const char *s, int64_t *ms)
{
    return km_time_parse_prom(s, ms) == 0;
}

/* Go's %q of s, for messages that quote what the client sent. */
static const char *quoted(struct km_buf *b, const char *s)
{
    km_buf_init(b, 0);
    km_promql_quote(b, s, strlen(s));
    return km_buf_cstr(b);
}

/* A time argument, dflt when absent or empty (Prometheus' parseTimeParam); false after
 * answering 400. */
static bool time_arg(struct km_http_req *req, const char *name, int64_t dflt, int64_t *ms)
{
    const char *v = km_http_req_arg(req, name);
    struct km_buf q;

    *ms = dflt;
    if (!v || !*v || parse_time(v, ms))
        return true;
    respond_error(req, ERR_BAD_DATA,
                  "invalid parameter \"%s\": Invalid time value for '%s': cannot parse %s to a "
                  "valid timestamp",
                  name, name, quoted(&q, v));
    km_buf_fini(&q);
    return false;
}

/* Seconds ("15", "0.5") or a Prometheus duration ("15s", "1m"), into ms. */
static bool parse_duration(const char *s, int64_t *ms)
{
    char *end;
    double d = strtod(s, &end);

    if (*s && *end == '\0') {
        if (!isfinite(d) || fabs(d) > 9.2e15)
            return false;
        *ms = (int64_t)llround(d * 1000);
        return true;
    }
    return km_duration_parse(s, ms) == 0;
}

/* A required time argument (query_range's start and end), answered 400 when absent or
 * bad. */
static bool required_time(struct km_http_req *req, const char *name, int64_t *ms)
{
    const char *v = km_http_req_arg(req, name);
    struct km_buf q;

    if (v && parse_time(v, ms))
        return true;
    respond_error(req, ERR_BAD_DATA,
                  "invalid parameter \"%s\": cannot parse %s to a valid timestamp", name,
                  quoted(&q, v ? v : ""));
    km_buf_fini(&q);
    return false;
}

/* The query's timeout: its `timeout` argument, no longer than the server's. */
static bool timeout_arg(struct km_http_req *req, const struct km_api_ctx *api, int64_t *ms)
{
    const char *v = km_http_req_arg(req, "timeout");

    struct km_buf q;

    *ms = api->query.timeout_ms;
    if (!v || !*v)
        return true;
    if (!parse_duration(v, ms)) {
        respond_error(req, ERR_BAD_DATA,
                      "invalid parameter \"timeout\": cannot parse %s to a valid duration",
                      quoted(&q, v));
        km_buf_fini(&q);
        return false;
    }
    if (api->query.timeout_ms > 0 && (*ms <= 0 || *ms > api->query.timeout_ms))
        *ms = api->query.timeout_ms;
    return true;
}

/* Parse the `query` argument; false after answering 400 with Prometheus' message (an
 * instant query names the parameter, a range query does not). */
static bool parse_query(struct km_http_req *req, const char *prefix, struct km_promql_expr **e)
{
    const char *q = km_http_req_arg(req, "query");
    struct km_promql_error err;
    int rc;

    if (!q)
        q = "";
    rc = km_promql_parse(q, strlen(q), e, &err);
    if (rc) {
        respond_error(req, ERR_BAD_DATA, "%s%s", prefix,
                      rc == KM_ENOMEM ? "out of memory" : err.msg);
        return false;
    }
    return true;
}

/* Polled by long evaluations. */
static bool client_gone(void *ud)
{
    return km_http_req_cancelled(ud);
}

/* Answer a store's error: 503 when it cannot answer now (KM_EAGAIN), else 500. */
static void respond_store_error(struct km_http_req *req, int rc)
{
    respond_error(req, rc == KM_EAGAIN ? ERR_UNAVAILABLE : ERR_INTERNAL, "%s", km_err_msg());
}

/* Answer an evaluation's error as Prometheus classifies it. */
static void respond_eval_error(struct km_http_req *req, int rc)
{
    switch (rc) {
    case KM_ETIMEDOUT:
        respond_error(req, ERR_TIMEOUT, "%s", km_err_msg());
        break;
    case KM_ECANCELED:
        respond_error(req, ERR_CANCELED, "%s", km_err_msg());
        break;
    case KM_EAGAIN:
        respond_error(req, ERR_UNAVAILABLE, "%s", km_err_msg());
        break;
    case KM_ENOMEM:
    case KM_EIO:
    case KM_ECORRUPT:
        respond_error(req, ERR_INTERNAL, "%s", km_err_msg());
        break;
    default:
        respond_error(req, ERR_EXECUTION, "%s", km_err_msg());
        break;
    }
}

static void respond_result(struct km_http_req *req, const struct km_pq_result *r)
{
    struct km_buf b;
    struct km_jsonw w;

    success_begin(&w, &b);
    km_pq_render_data(&w, r);
    success_finish(req, &w, &b);
}

/* ---- query, query_range ------------------------------------------------------------------- */

static void on_query(struct km_http_req *req, void *ud)
{
    const struct km_api_ctx *api = ud;
    struct km_pq_opts o = api->query;
    struct km_promql_expr *e = NULL;
    struct km_pq_result r;
    struct km_auth_view av;
    int64_t t;
    int rc;

    if (!time_arg(req, "time", km_time_now_ns() / 1000000, &t) ||
        !timeout_arg(req, api, &o.timeout_ms) ||
        !parse_query(req, "invalid parameter \"query\": ", &e))
        return;
    o.cancelled = client_gone;
    o.cancel_ud = req;
    rc = km_pq_eval_instant(km_auth_storage(req, api->store, &av), e, t, &o, &r);
    if (rc)
        respond_eval_error(req, rc);
    else
        respond_result(req, &r);
    km_pq_result_fini(&r);
    km_promql_expr_destroy(e);
}

static void on_query_range(struct km_http_req *req, void *ud)
{
    const struct km_api_ctx *api = ud;
    struct km_pq_opts o = api->query;
    struct km_promql_expr *e = NULL;
    struct km_pq_result r;
    struct km_auth_view av;
    int64_t start, end, step;
    const char *sv;
    int rc;

    if (!required_time(req, "start", &start) || !required_time(req, "end", &end))
        return;
    if (end < start) {
        respond_error(req, ERR_BAD_DATA,
                      "invalid parameter \"end\": end timestamp must not be before start time");
        return;
    }
    sv = km_http_req_arg(req, "step");
    if (!sv || !parse_duration(sv, &step)) {
        struct km_buf q;

        respond_error(req, ERR_BAD_DATA,
                      "invalid parameter \"step\": cannot parse %s to a valid duration",
                      quoted(&q, sv ? sv : ""));
        km_buf_fini(&q);
        return;
    }
    if (step <= 0) {
        respond_error(req, ERR_BAD_DATA,
                      "invalid parameter \"step\": zero or negative query resolution step widths "
                      "are not accepted. Try a positive integer");
        return;
    }
    /* As Prometheus: at most 11 000 points per series. */
    /* end - start can exceed int64 (start -9.2e15 s, end 9.2e15 s). */
    if (((uint64_t)end - (uint64_t)start) / (uint64_t)step > 11000) {
        respond_error(req, ERR_BAD_DATA,
                      "exceeded maximum resolution of 11,000 points per timeseries. Try "
                      "decreasing the query resolution (?step=XX)");
        return;
    }
    if (!timeout_arg(req, api, &o.timeout_ms) || !parse_query(req, "", &e))
        return;
    if (e->type != KM_PROMQL_TYPE_SCALAR && e->type != KM_PROMQL_TYPE_VECTOR) {
        respond_error(req, ERR_BAD_DATA,
                      "invalid expression type \"%s\" for range query, must be Scalar or "
                      "instant Vector",
                      km_promql_type_name(e->type));
        km_promql_expr_destroy(e);
        return;
    }
    o.cancelled = client_gone;
    o.cancel_ud = req;
    rc = km_pq_eval_range(km_auth_storage(req, api->store, &av), e, start, end, step, &o, &r);
    if (rc)
        respond_eval_error(req, rc);
    else
        respond_result(req, &r);
    km_pq_result_fini(&r);
    km_promql_expr_destroy(e);
}

/* ---- series, labels, label values ------------------------------------------------------------ */

/* The selectors of match[]: each a vector selector. False after answering 400. */
struct matches {
    struct km_promql_expr *e[KM_LIMIT_PROM_MATCHES];
    size_t n;
};

static void matches_fini(struct matches *m)
{
    for (size_t i = 0; i < m->n; i++)
        km_promql_expr_destroy(m->e[i]);
    m->n = 0;
}

/* Parse every match[] as Prometheus does: each a series selector, and each with a
 * matcher that an empty value fails. Messages carry `prefix` (the series endpoint names
 * the parameter, labels and label values do not). */
static bool parse_matches(struct km_http_req *req, struct matches *m, const char *prefix)
{
    const char *v[KM_LIMIT_PROM_MATCHES];
    size_t n = km_http_req_args(req, "match[]", v, KM_LIMIT_PROM_MATCHES);

    m->n = 0;
    if (n > KM_LIMIT_PROM_MATCHES) {
        respond_error(req, ERR_BAD_DATA, "%stoo many match[] parameters (kmon takes up to %d)",
                      prefix, KM_LIMIT_PROM_MATCHES);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        struct km_promql_error err;
        int rc = km_promql_parse_selector(v[i], strlen(v[i]), &m->e[m->n], &err);

        if (rc != 0) {
            respond_error(req, ERR_BAD_DATA, "%s%s", prefix,
                          rc == KM_ENOMEM ? "out of memory" : err.msg);
            matches_fini(m);
            return false;
        }
        m->n++;
    }
    for (size_t i = 0; i < m->n; i++) {
        const struct km_promql_expr *e = m->e[i];
        bool nonempty = false;

        for (size_t j = 0; j < e->vector.nmatchers && !nonempty; j++)
            nonempty = !km_matcher_matches(e->vector.matchers[j], "");
        if (!nonempty) {
            respond_error(req, ERR_BAD_DATA,
                          "%smatch[] must contain at least one non-empty matcher", prefix);
            matches_fini(m);
            return false;
        }
    }
    return true;
}

static bool range_args(struct km_http_req *req, int64_t *start, int64_t *end)
{
    return time_arg(req, "start", MIN_TIME, start) && time_arg(req, "end", MAX_TIME, end);
}

/* A sorted, de-duplicated set of strings (label names or values) or label sets. */
struct strset {
    char **v;
    size_t n, cap;
};

static int strset_add(void *ud, const char *s)
{
    struct strset *x = ud;

    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 64;
        char **p = realloc(x->v, cap * sizeof(*p));

        if (!p)
            return km_err_set(KM_ENOMEM, "out of memory");
        x->v = p;
        x->cap = cap;
    }
    x->v[x->n] = strdup(s);
    if (!x->v[x->n])
        return km_err_set(KM_ENOMEM, "out of memory");
    x->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void strset_finish(struct strset *x)
{
    size_t w = 0;

    km_sort(x->v, x->n, sizeof(*x->v), cmp_str);
    for (size_t i = 0; i < x->n; i++) {
        if (w && strcmp(x->v[w - 1], x->v[i]) == 0)
            free(x->v[i]);
        else
            x->v[w++] = x->v[i];
    }
    x->n = w;
}

static void strset_fini(struct strset *x)
{
    for (size_t i = 0; i < x->n; i++)
        free(x->v[i]);
    free(x->v);
}

static void respond_strings(struct km_http_req *req, const struct strset *x)
{
    struct km_buf b;
    struct km_jsonw w;

    success_begin(&w, &b);
    km_jsonw_arr_begin(&w);
    for (size_t i = 0; i < x->n; i++)
        km_jsonw_str(&w, x->v[i]);
    km_jsonw_arr_end(&w);
    success_finish(req, &w, &b);
}

/* Label names, or the values of `name`, of the series matching any of m (all when
 * none) in [start, end]. */
static int collect_strings(struct km_http_req *req, const struct km_api_ctx *api,
                           const struct matches *m, const char *name, int64_t start, int64_t end,
                           struct strset *out)
{
    struct km_auth_view av;
    struct km_querier *q;
    int rc = km_querier_open(km_auth_storage(req, api->store, &av), start, end, &q);

    if (rc)
        return rc;
    for (size_t i = 0; i < (m->n ? m->n : 1) && rc == 0; i++) {
        const struct km_promql_expr *vs = m->n ? m->e[i] : NULL;
        struct km_matcher *const *mv = vs ? vs->vector.matchers : NULL;
        size_t nm = vs ? vs->vector.nmatchers : 0;

        rc = name ? km_querier_label_values(q, name, mv, nm, strset_add, out)
                  : km_querier_label_names(q, mv, nm, strset_add, out);
    }
    km_querier_close(q);
    if (rc == 0)
        strset_finish(out);
    return rc;
}

static void on_labels(struct km_http_req *req, void *ud)
{
    const struct km_api_ctx *api = ud;
    struct matches m;
    struct strset x = { 0 };
    int64_t start, end;
    int rc;

    if (!range_args(req, &start, &end) || !parse_matches(req, &m, ""))
        return;
    rc = collect_strings(req, api, &m, NULL, start, end, &x);
    if (rc)
        respond_store_error(req, rc);
    else
        respond_strings(req, &x);
    strset_fini(&x);
    matches_fini(&m);
}

static void on_label_values(struct km_http_req *req, void *ud)
{
    const struct km_api_ctx *api = ud;
    const char *name = km_http_req_param(req, "name");
    struct matches m;
    struct strset x = { 0 };
    int64_t start, end;
    int rc;

    if (!km_label_name_valid(name, strlen(name))) {
        struct km_buf q;

        respond_error(req, ERR_BAD_DATA, "invalid label name: %s", quoted(&q, name));
        km_buf_fini(&q);
        return;
    }
    if (!range_args(req, &start, &end) || !parse_matches(req, &m, ""))
        return;
    rc = collect_strings(req, api, &m, name, start, end, &x);
    if (rc)
        respond_store_error(req, rc);
    else
        respond_strings(req, &x);
    strset_fini(&x);
    matches_fini(&m);
}

/* Label sets of the series matching any selector, merged and sorted. */
struct lsets {
    struct km_labels **v;
    size_t n, cap;
};

static int cmp_lset(const void *a, const void *b)
{
    return km_labels_cmp(*(struct km_labels *const *)a, *(struct km_labels *const *)b);
}

static void on_series(struct km_http_req *req, void *ud)
{
    const struct km_api_ctx *api = ud;
    struct matches m;
    struct lsets x = { 0 };
    struct km_querier *q = NULL;
    struct km_auth_view av;
    int64_t start, end;
    int rc;

    if (!km_http_req_arg(req, "match[]")) {
        respond_error(req, ERR_BAD_DATA, "no match[] parameter provided");
        return;
    }
    if (!range_args(req, &start, &end) ||
        !parse_matches(req, &m, "invalid parameter \"match[]\": "))
        return;
    rc = km_querier_open(km_auth_storage(req, api->store, &av), start, end, &q);
    for (size_t i = 0; i < m.n && rc == 0; i++) {
        const struct km_promql_expr *vs = m.e[i];
        struct km_select_hints h = {
            .mint = start, .maxt = end, .labels_only = true, .func = "series"
        };
        struct km_series_set *set = NULL;

        rc = km_querier_select(q, vs->vector.matchers, vs->vector.nmatchers, &h, &set);
        while (rc == 0 && km_series_next(set)) {
            if (x.n == x.cap) {
                size_t cap = x.cap ? x.cap * 2 : 64;
                struct km_labels **p = realloc(x.v, cap * sizeof(*p));

                if (!p) {
                    rc = km_err_set(KM_ENOMEM, "out of memory");
                    break;
                }
                x.v = p;
                x.cap = cap;
            }
            rc = km_labels_dup(&x.v[x.n], km_series_labels(set));
            if (rc == 0)
                x.n++;
        }
        if (rc == 0)
            rc = km_series_error(set);
        if (set)
            km_series_set_close(set);
    }
    km_querier_close(q);
    if (rc) {
        respond_store_error(req, rc);
    } else {
        struct km_buf b;
        struct km_jsonw w;

        km_sort(x.v, x.n, sizeof(*x.v), cmp_lset);
        success_begin(&w, &b);
        km_jsonw_arr_begin(&w);
        for (size_t i = 0; i < x.n; i++) {
            if (i && km_labels_cmp(x.v[i], x.v[i - 1]) == 0)
                continue;
            km_pq_render_labels(&w, x.v[i]);
        }
        km_jsonw_arr_end(&w);
        success_finish(req, &w, &b);
    }
    for (size_t i = 0; i < x.n; i++)
        km_labels_destroy(x.v[i]);
    free(x.v);
    matches_fini(&m);
}

/* ---- metadata ---------------------------------------------------------------------------- */

/* An integer as Go's strconv.Atoi reads one (a sign, decimal digits, within int64). */
static bool parse_go_int(const char *s, long long *out)
{
    bool neg = *s == '-';
    unsigned long long v = 0, lim = neg ? 9223372036854775808ull : 9223372036854775807ull;

    if (*s == '+' || *s == '-')
        s++;
    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (lim - (unsigned long long)(*s - '0')) / 10)
            return false;
        v = v * 10 + (unsigned long long)(*s - '0');
    }
    *out = neg ? (long long)(0 - v) : (long long)v;
    return true;
}

/* An optional integer argument (-1 when absent or empty); false after answering 400. */
static bool int_arg(struct km_http_req *req, const char *name, long long *v)
{
    const char *s = km_http_req_arg(req, name);

    *v = -1;
    if (!s || !*s || parse_go_int(s, v))
        return true;
    respond_error(req, ERR_BAD_DATA, "%s must be a number", name);
    return false;
}

/* Writing the metadata listing: {"name":[{"type":…,"help":…,"unit":…},…],…}. */
struct md_writer {
    struct km_jsonw *w;
    const char *name; /* the name whose list is open (the store's, during the walk) */
    long long limit, per_metric, names, in_name;
};

static int md_write(void *ud, const struct km_metadata *md)
{
    struct md_writer *x = ud;

    if (!x->name || strcmp(x->name, md->name) != 0) {
        /* As Prometheus: at most `limit` names when limit >= 0. */
        if (x->limit >= 0 && x->names >= x->limit)
            return 1;
        if (x->name)
            km_jsonw_arr_end(x->w);
        km_jsonw_key(x->w, md->name);
        km_jsonw_arr_begin(x->w);
        x->name = md->name;
        x->names++;
        x->in_name = 0;
    }
    /* As Prometheus from 2.45 (2.42 ignores it): at most limit_per_metric entries of a
     * name when it is positive. */
    if (x->per_metric > 0 && x->in_name >= x->per_metric)
        return 0;
    x->in_name++;
    km_jsonw_obj_begin(x->w);
    km_jsonw_key(x->w, "type");
    km_jsonw_str(x->w, km_metric_type_name(md->type));
    km_jsonw_key(x->w, "help");
    km_jsonw_str(x->w, md->help);
    km_jsonw_key(x->w, "unit");
    km_jsonw_str(x->w, md->unit);
    km_jsonw_obj_end(x->w);
    return 0;
}

static void on_metadata(struct km_http_req *req, void *ud)
{
    const struct km_api_ctx *api = ud;
    const char *metric = km_http_req_arg(req, "metric");
    struct md_writer x = { 0 };
    struct km_buf b;
    struct km_jsonw w;
    int rc;

    if (!int_arg(req, "limit", &x.limit) || !int_arg(req, "limit_per_metric", &x.per_metric))
        return;
    success_begin(&w, &b);
    x.w = &w;
    km_jsonw_obj_begin(&w);
    rc = km_storage_metadata_list(api->store, metric && *metric ? metric : NULL, md_write, &x);
    if (rc < 0) {
        km_buf_fini(&b);
        respond_error(req, ERR_INTERNAL, "%s", km_err_msg());
        return;
    }
    if (x.name)
        km_jsonw_arr_end(&w);
    km_jsonw_obj_end(&w);
    success_finish(req, &w, &b);
}

/* ---- format_query ------------------------------------------------------------------------ */

static void on_format_query(struct km_http_req *req, void *ud)
{
    struct km_promql_expr *e;
    struct km_buf text, b;
    struct km_jsonw w;

    (void)ud;
    if (!parse_query(req, "invalid parameter \"query\": ", &e))
        return;
    km_buf_init(&text, 0);
    km_promql_format(&text, e);
    km_promql_expr_destroy(e);
    success_begin(&w, &b);
    km_jsonw_strn(&w, text.data ? text.data : "", text.len);
    km_buf_fini(&text);
    success_finish(req, &w, &b);
}

/* ---- status ----------------------------------------------------------------------------- */

static void on_buildinfo(struct km_http_req *req, void *ud)
{
    struct km_buf b;
    struct km_jsonw w;

    (void)ud;
    success_begin(&w, &b);
    km_jsonw_obj_begin(&w);
    km_jsonw_key(&w, "version");
    km_jsonw_str(&w, KMON_VERSION);
    km_jsonw_key(&w, "revision");
    km_jsonw_str(&w, KMON_REVISION);
    km_jsonw_key(&w, "branch");
    km_jsonw_str(&w, "");
    km_jsonw_key(&w, "buildUser");
    km_jsonw_str(&w, "");
    km_jsonw_key(&w, "buildDate");
    km_jsonw_str(&w, "");
    km_jsonw_key(&w, "goVersion");
    km_jsonw_str(&w, "");
    km_jsonw_obj_end(&w);
    success_finish(req, &w, &b);
}

static void on_runtimeinfo(struct km_http_req *req, void *ud)
{
    const struct km_api_ctx *api = ud;
    char ts[48], cwd[4096], ret[32];
    struct km_buf b;
    struct km_jsonw w;

    success_begin(&w, &b);
    km_jsonw_obj_begin(&w);
    km_time_format_rfc3339(ts, sizeof(ts), api->start_ns, 3);
    km_jsonw_key(&w, "startTime");
    km_jsonw_str(&w, ts);
    km_jsonw_key(&w, "CWD");
    km_jsonw_str(&w, getcwd(cwd, sizeof(cwd)) ? cwd : "");
    km_jsonw_key(&w, "reloadConfigSuccess");
    km_jsonw_bool(&w, true);
    km_jsonw_key(&w, "lastConfigTime");
    km_jsonw_str(&w, ts);
    km_jsonw_key(&w, "corruptionCount");
    km_jsonw_u64(&w, 0);
    km_jsonw_key(&w, "goroutineCount");
    km_jsonw_u64(&w, 0);
    km_jsonw_key(&w, "GOMAXPROCS");
    km_jsonw_i64(&w, sysconf(_SC_NPROCESSORS_ONLN));
    km_jsonw_key(&w, "GOGC");
    km_jsonw_str(&w, "");
    km_jsonw_key(&w, "GODEBUG");
    km_jsonw_str(&w, "");
    km_duration_format(ret, sizeof(ret), api->retention_ms);
    km_jsonw_key(&w, "storageRetention");
    km_jsonw_str(&w, ret);
    km_jsonw_obj_end(&w);
    success_finish(req, &w, &b);
}

/* Hide the passwords of URLs in a setting's value ("https://user:pw@host" shows as
 * "https://user:xxxxx@host", as Prometheus shows its configuration), in v[size]. */
static void redact_url_passwords(char *v, size_t size)
{
    struct km_buf out;
    const char *p = v, *scheme;

    if (!strstr(v, "://"))
        return;
    km_buf_init(&out, 0);
    while ((scheme = strstr(p, "://")) != NULL) {
        const char *user = scheme + 3, *end = user + strcspn(user, "/,@"), *colon;

        km_buf_append(&out, p, (size_t)(user - p));
        p = user;
        if (*end != '@' || !(colon = memchr(user, ':', (size_t)(end - user))))
            continue;
        km_buf_append(&out, user, (size_t)(colon - user));
        km_buf_puts(&out, ":xxxxx");
        p = end;
    }
    km_buf_puts(&out, p);
    if (!km_buf_error(&out))
        snprintf(v, size, "%s", km_buf_cstr(&out));
    km_buf_fini(&out);
}

/* The server's settings, as /flags (an object) or /config (YAML in "yaml"). */
static void settings(struct km_http_req *req, const struct km_api_ctx *api, bool yaml)
{
    struct km_buf b, y;
    struct km_jsonw w;

    success_begin(&w, &b);
    km_buf_init(&y, 0);
    if (!yaml)
        km_jsonw_obj_begin(&w);
    for (const struct km_cfg_field *f = api->settings; f && f->name; f++) {
        char v[512];

        km_cfg_format_value(f, api->settings_base, v, sizeof(v));
        redact_url_passwords(v, sizeof(v));
        if (yaml) {
            km_buf_printf(&y, "%s: \"", f->name);
            km_json_escape(&y, v, strlen(v));
            km_buf_printf(&y, "\"\n");
        } else {
            km_jsonw_key(&w, f->name);
            km_jsonw_str(&w, v);
        }
    }
    if (yaml) {
        km_jsonw_obj_begin(&w);
        km_jsonw_key(&w, "yaml");
        km_jsonw_strn(&w, y.data ? y.data : "", y.len);
    }
    km_jsonw_obj_end(&w);
    km_buf_fini(&y);
    success_finish(req, &w, &b);
}

static void on_flags(struct km_http_req *req, void *ud)
{
    settings(req, ud, false);
}

static void on_config(struct km_http_req *req, void *ud)
{
    settings(req, ud, true);
}

static void stat_list(struct km_jsonw *w, const char *key, const struct km_storage_stat *v,
                      size_t n)
{
    km_jsonw_key(w, key);
    km_jsonw_arr_begin(w);
    for (size_t i = 0; i < n; i++) {
        km_jsonw_obj_begin(w);
        km_jsonw_key(w, "name");
        km_jsonw_str(w, v[i].name);
        km_jsonw_key(w, "value");
        km_jsonw_u64(w, v[i].count);
        km_jsonw_obj_end(w);
    }
    km_jsonw_arr_end(w);
}

static void on_tsdb_status(struct km_http_req *req, void *ud)
{
    const struct km_api_ctx *api = ud;
    const char *limit = km_http_req_arg(req, "limit");
    struct km_storage_cardinality c;
    struct km_buf b;
    struct km_jsonw w;
    long top = 10;
    int rc;

    if (limit) {
        char *end;

        top = strtol(limit, &end, 10);
        if (*end || top <= 0 || top > 10000) {
            respond_error(req, ERR_BAD_DATA, "limit must be a positive number");
            return;
        }
    }
    /* Figures over every cluster: not for a token limited to some. */
    if (km_auth_refuse_limited(req, "the TSDB's cardinality figures"))
        return;
    rc = km_storage_cardinality(api->store, (size_t)top, &c);
    if (rc != 0) {
        respond_store_error(req, rc);
        return;
    }
    success_begin(&w, &b);
    km_jsonw_obj_begin(&w);
    km_jsonw_key(&w, "headStats");
    km_jsonw_obj_begin(&w);
    km_jsonw_key(&w, "numSeries");
    km_jsonw_u64(&w, c.series);
    km_jsonw_key(&w, "numLabelPairs");
    km_jsonw_u64(&w, c.label_pairs);
    km_jsonw_key(&w, "chunkCount");
    km_jsonw_u64(&w, c.chunks);
    km_jsonw_key(&w, "minTime");
    km_jsonw_i64(&w, c.maxt == INT64_MIN ? INT64_MAX : c.mint);
    km_jsonw_key(&w, "maxTime");
    km_jsonw_i64(&w, c.maxt);
    km_jsonw_obj_end(&w);
    stat_list(&w, "seriesCountByMetricName", c.by_metric, c.n_by_metric);
    stat_list(&w, "labelValueCountByLabelName", c.values_by_label, c.n_values_by_label);
    stat_list(&w, "memoryInBytesByLabelName", c.memory_by_label, c.n_memory_by_label);
    stat_list(&w, "seriesCountByLabelValuePair", c.by_pair, c.n_by_pair);
    km_jsonw_obj_end(&w);
    success_finish(req, &w, &b);
    km_storage_cardinality_fini(&c);
}

/* What kmon has none of yet (rules and alerts come with the rules issue): the shapes
 * Grafana expects, empty. */
static void respond_empty(struct km_http_req *req, const char *key1, const char *key2)
{
    struct km_buf b;
    struct km_jsonw w;

    success_begin(&w, &b);
    if (!key1) {
        km_jsonw_arr_begin(&w);
        km_jsonw_arr_end(&w);
    } else {
        km_jsonw_obj_begin(&w);
        km_jsonw_key(&w, key1);
        km_jsonw_arr_begin(&w);
        km_jsonw_arr_end(&w);
        if (key2) {
            km_jsonw_key(&w, key2);
            km_jsonw_arr_begin(&w);
            km_jsonw_arr_end(&w);
        }
        km_jsonw_obj_end(&w);
    }
    success_finish(req, &w, &b);
}

static void on_exemplars(struct km_http_req *req, void *ud)
{
    (void)ud;
    respond_empty(req, NULL, NULL);
}

static void on_targets(struct km_http_req *req, void *ud)
{
    (void)ud;
    respond_empty(req, "activeTargets", "droppedTargets");
}

static void on_rules(struct km_http_req *req, void *ud)
{
    const struct km_api_ctx *api = ud;
    struct km_rules *rules = __atomic_load_n(&api->rules, __ATOMIC_ACQUIRE);
    const char *type = km_http_req_arg(req, "type");
    struct km_buf b;
    struct km_jsonw w;

    if (type && strcmp(type, "alert") != 0 && strcmp(type, "record") != 0) {
        respond_error(req, ERR_BAD_DATA, "unsupported type: %s", type);
        return;
    }
    /* Rules and their alerts span every cluster. */
    if (km_auth_refuse_limited(req, "the rules and their alerts"))
        return;
    if (!rules) {
        respond_empty(req, "groups", NULL);
        return;
    }
    success_begin(&w, &b);
    km_jsonw_obj_begin(&w);
    km_jsonw_key(&w, "groups");
    km_rules_write_groups(rules, type, &w);
    km_jsonw_obj_end(&w);
    success_finish(req, &w, &b);
}

static void on_alerts(struct km_http_req *req, void *ud)
{
    const struct km_api_ctx *api = ud;
    struct km_rules *rules = __atomic_load_n(&api->rules, __ATOMIC_ACQUIRE);
    struct km_buf b;
    struct km_jsonw w;

    if (km_auth_refuse_limited(req, "the alerts"))
        return;
    if (!rules) {
        respond_empty(req, "alerts", NULL);
        return;
    }
    success_begin(&w, &b);
    km_jsonw_obj_begin(&w);
    km_jsonw_key(&w, "alerts");
    km_rules_write_alerts(rules, &w);
    km_jsonw_obj_end(&w);
    success_finish(req, &w, &b);
}

const struct km_http_route km_api_prom_routes[] = {
    { "GET", "/api/v1/query", on_query, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "POST", "/api/v1/query", on_query, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "GET", "/api/v1/query_range", on_query_range, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "POST", "/api/v1/query_range", on_query_range, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "GET", "/api/v1/series", on_series, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "POST", "/api/v1/series", on_series, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "GET", "/api/v1/labels", on_labels, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "POST", "/api/v1/labels", on_labels, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "GET", "/api/v1/label/<name>/values", on_label_values, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "GET", "/api/v1/metadata", on_metadata, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "POST", "/api/v1/metadata", on_metadata, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "GET", "/federate", km_api_federate, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "GET", "/api/v1/format_query", on_format_query, KM_ROUTE_READ },
    { "POST", "/api/v1/format_query", on_format_query, KM_ROUTE_READ },
    { "GET", "/api/v1/query_exemplars", on_exemplars, KM_ROUTE_READ },
    { "POST", "/api/v1/query_exemplars", on_exemplars, KM_ROUTE_READ },
    { "GET", "/api/v1/status/buildinfo", on_buildinfo, 0 },
    { "GET", "/api/v1/status/runtimeinfo", on_runtimeinfo, KM_ROUTE_READ },
    { "GET", "/api/v1/status/flags", on_flags, KM_ROUTE_READ },
    { "GET", "/api/v1/status/config", on_config, KM_ROUTE_READ },
    { "GET", "/api/v1/status/tsdb", on_tsdb_status, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "GET", "/api/v1/targets", on_targets, KM_ROUTE_READ },
    { "GET", "/api/v1/rules", on_rules, KM_ROUTE_READ },
    { "GET", "/api/v1/alerts", on_alerts, KM_ROUTE_READ },
};

const size_t km_api_prom_nroutes = sizeof(km_api_prom_routes) / sizeof(km_api_prom_routes[0]);
