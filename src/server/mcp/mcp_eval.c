/*
 * mcp_eval — the helpers MCP tools share: reading their arguments, evaluating PromQL in
 * the server's own engine (as /api/v1/query does, through the request's view of the
 * store), and writing numbers and labels compactly for a model's context.
 */
#include "mcp_internal.h"

#include "common/array.h"
#include "common/err.h"
#include "common/http_server.h"
#include "common/timefmt.h"
#include "promql/parse.h"
#include "server/server_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int km_mcp_fail(struct km_buf *err, const char *fmt, ...)
{
    va_list ap;

    km_buf_reset(err);
    va_start(ap, fmt);
    km_buf_vprintf(err, fmt, ap);
    va_end(ap);
    return KM_EINVAL;
}

int km_mcp_arg_str(json_t *args, const char *name, bool required, const char **out,
                   struct km_buf *err)
{
    json_t *v = json_object_get(args, name);

    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required)
            return km_mcp_fail(err, "the argument \"%s\" is required", name);
        return 0;
    }
    if (!json_is_string(v))
        return km_mcp_fail(err, "the argument \"%s\" must be a string", name);
    if (required && json_string_length(v) == 0)
        return km_mcp_fail(err, "the argument \"%s\" must not be empty", name);
    *out = json_string_value(v);
    return 0;
}

int km_mcp_arg_int(json_t *args, const char *name, long long lo, long long hi, long long dflt,
                   long long *out, struct km_buf *err)
{
    json_t *v = json_object_get(args, name);

    *out = dflt;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return km_mcp_fail(err, "the argument \"%s\" must be an integer from %lld to %lld", name,
                           lo, hi);
    *out = json_integer_value(v);
    return 0;
}

int km_mcp_arg_duration(json_t *args, const char *name, int64_t dflt, int64_t *out,
                        struct km_buf *err)
{
    const char *s;
    int rc = km_mcp_arg_str(args, name, false, &s, err);

    *out = dflt;
    if (rc || !s || !*s)
        return rc;
    if (km_duration_parse(s, out) != 0 || *out <= 0)
        return km_mcp_fail(err,
                           "the argument \"%s\" must be a positive duration such as \"30m\", "
                           "\"1h\" or \"2d\" (got \"%.40s\")",
                           name, s);
    return 0;
}

int km_mcp_arg_time(json_t *args, const char *name, int64_t dflt, int64_t *out, struct km_buf *err)
{
    const char *s;
    json_t *v = json_object_get(args, name);
    int rc;

    *out = dflt;
    if (json_is_number(v)) {
        double d = json_number_value(v);

        if (!isfinite(d) || fabs(d) > 9.2e12)
            return km_mcp_fail(err, "the argument \"%s\" is out of range", name);
        *out = (int64_t)llround(d * 1000);
        return 0;
    }
    rc = km_mcp_arg_str(args, name, false, &s, err);
    if (rc || !s || !*s)
        return rc;
    if (km_time_parse_prom(s, out) != 0)
        return km_mcp_fail(err,
                           "the argument \"%s\" must be an RFC 3339 time "
                           "(\"2025-01-31T12:00:00Z\") or Unix seconds (got \"%.40s\")",
                           name, s);
    return 0;
}

int km_mcp_arg_choice(json_t *args, const char *name, const char *const *choices, const char **out,
                      struct km_buf *err)
{
    const char *s;
    int rc = km_mcp_arg_str(args, name, false, &s, err);

    *out = choices[0];
    if (rc || !s)
        return rc;
    for (size_t i = 0; choices[i]; i++) {
        if (strcmp(s, choices[i]) == 0) {
            *out = choices[i];
            return 0;
        }
    }
    km_buf_reset(err);
    km_buf_printf(err, "the argument \"%s\" must be one of", name);
    for (size_t i = 0; choices[i]; i++)
        km_buf_printf(err, "%s \"%s\"", i ? "," : "", choices[i]);
    km_buf_printf(err, " (got \"%.40s\")", s);
    return KM_EINVAL;
}

int km_mcp_arg_plain(json_t *args, const char *name, bool required, const char **out,
                     struct km_buf *err)
{
    int rc = km_mcp_arg_str(args, name, required, out, err);

    if (rc || !*out)
        return rc;
    for (const unsigned char *p = (const unsigned char *)*out; *p; p++) {
        if (*p < 0x20 || *p == '"' || *p == '\\' || *p == '`' || *p == 0x7f)
            return km_mcp_fail(err,
                               "the argument \"%s\" must be a plain name (no quotes, backslashes "
                               "or control characters)",
                               name);
    }
    if (strlen(*out) > 253)
        return km_mcp_fail(err, "the argument \"%s\" is longer than a Kubernetes name can be",
                           name);
    return 0;
}

/* ---- evaluation ------------------------------------------------------------------------ */

static bool client_gone(void *ud)
{
    return km_http_req_cancelled(ud);
}

static int parse(const char *q, struct km_promql_expr **e, struct km_buf *err)
{
    struct km_promql_error pe;
    int rc = km_promql_parse(q, strlen(q), e, &pe);

    if (rc == KM_ENOMEM)
        return km_mcp_fail(err, "out of memory");
    if (rc)
        return km_mcp_fail(err, "the PromQL does not parse: %s", pe.msg);
    return 0;
}

static int eval(struct km_mcp_call *c, const char *q, bool range, int64_t start, int64_t end,
                int64_t step, struct km_pq_result *r, struct km_buf *err)
{
    const struct km_api_ctx *api = &c->s->api;
    struct km_pq_opts o = api->query;
    struct km_promql_expr *e = NULL;
    int rc;

    memset(r, 0, sizeof(*r));
    rc = parse(q, &e, err);
    if (rc)
        return rc;
    o.cancelled = client_gone;
    o.cancel_ud = c->req;
    if (range && e->type != KM_PROMQL_TYPE_SCALAR && e->type != KM_PROMQL_TYPE_VECTOR)
        rc = km_mcp_fail(err,
                         "a range query needs an instant vector or a scalar, not a %s: drop the "
                         "[range] selector (promql_range evaluates the query at every step)",
                         km_promql_type_name(e->type));
    else if (range)
        rc = km_pq_eval_range(c->store, e, start, end, step, &o, r);
    else
        rc = km_pq_eval_instant(c->store, e, end, &o, r);
    if (rc && !err->len)
        km_mcp_fail(err, "the query failed: %s", km_err_msg());
    km_promql_expr_destroy(e);
    return rc;
}

int km_mcp_instant(struct km_mcp_call *c, const char *q, int64_t t, struct km_pq_result *r,
                   struct km_buf *err)
{
    return eval(c, q, false, t, t, 0, r, err);
}

int km_mcp_range(struct km_mcp_call *c, const char *q, int64_t start, int64_t end, int64_t step,
                 struct km_pq_result *r, struct km_buf *err)
{
    return eval(c, q, true, start, end, step, r, err);
}

double km_mcp_scalar(struct km_mcp_call *c, const char *q)
{
    struct km_pq_result r;
    struct km_buf err;
    double v = NAN;

    km_buf_init(&err, 0);
    if (km_mcp_instant(c, q, c->now_ms, &r, &err) == 0) {
        if (r.type == KM_PQ_RESULT_SCALAR && r.scalar && r.grid.n)
            v = r.scalar[0];
        else if (r.type == KM_PQ_RESULT_VECTOR && r.vec.n)
            km_mcp_last(&r, 0, &v);
    }
    km_pq_result_fini(&r);
    km_buf_fini(&err);
    return v;
}

/* ---- writing -------------------------------------------------------------------------- */

json_t *km_mcp_num(double v)
{
    char s[32];

    if (isnan(v))
        return json_string("NaN");
    if (isinf(v))
        return json_string(v > 0 ? "+Inf" : "-Inf");
    if (v == floor(v) && fabs(v) < 9e15)
        return json_integer((json_int_t)v);
    snprintf(s, sizeof(s), "%.6g", v);
    return json_real(strtod(s, NULL));
}

json_t *km_mcp_labels(const struct km_labels *l, bool drop_name)
{
    json_t *o = json_object();

    for (size_t i = 0; o && l && i < l->n; i++) {
        if (drop_name && strcmp(l->v[i].name, "__name__") == 0)
            continue;
        json_object_set_new(o, l->v[i].name, json_string(l->v[i].value));
    }
    return o;
}

bool km_mcp_last(const struct km_pq_result *r, size_t i, double *v)
{
    const struct km_pq_series *s;

    if (i >= r->vec.n)
        return false;
    s = &r->vec.s[i];
    for (size_t k = r->grid.n; k-- > 0;) {
        if (km_pq_has(s, k)) {
            *v = s->v[k];
            return true;
        }
    }
    return false;
}

void km_mcp_set(json_t *o, const char *key, json_t *value)
{
    if (value)
        json_object_set_new(o, key, value);
}

static int cmp_ranked(const void *a, const void *b)
{
    const struct km_mcp_ranked *x = a, *y = b;

    if (isnan(x->v) != isnan(y->v))
        return isnan(x->v) ? 1 : -1;
    if (x->v != y->v)
        return x->v < y->v ? 1 : -1;
    return x->i < y->i ? -1 : x->i > y->i;
}

struct km_mcp_ranked *km_mcp_rank(const struct km_pq_result *r)
{
    struct km_mcp_ranked *x = calloc(r->vec.n ? r->vec.n : 1, sizeof(*x));

    for (size_t i = 0; x && i < r->vec.n; i++) {
        x[i].i = i;
        if (!km_mcp_last(r, i, &x[i].v))
            x[i].v = NAN;
    }
    if (x)
        km_sort(x, r->vec.n, sizeof(*x), cmp_ranked);
    return x;
}
