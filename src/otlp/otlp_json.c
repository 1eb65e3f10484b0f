/*
 * otlp_json — ExportMetricsServiceRequest and ExportLogsServiceRequest in OTLP's JSON
 * encoding (jansson) into the tree of otlp.h: field names in lowerCamelCase, 64-bit
 * integers as decimal strings or numbers, doubles as numbers or the strings "NaN",
 * "Infinity", "-Infinity", enums as integers, trace and span ids as hex strings, bytes
 * values as base64 strings. Unknown fields are ignored; null means absent; a known field
 * of another JSON type is an error naming it.
 */
#include "otlp.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/jsonw.h"
#include "common/numfmt.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 32

struct jdec {
    struct km_arena *a;
};

static int bad(const char *where, const char *name, const char *want)
{
    return km_err_set(KM_EINVAL, "%s: %s is not %s", where, name, want);
}

/* A member that is present and not null, or NULL. */
static json_t *get(const json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);

    return json_is_null(v) ? NULL : v;
}

static int get_array(const json_t *o, const char *where, const char *name, json_t **out)
{
    *out = get(o, name);
    if (*out && !json_is_array(*out))
        return bad(where, name, "an array");
    return 0;
}

static int get_object(const json_t *o, const char *where, const char *name, json_t **out)
{
    *out = get(o, name);
    if (*out && !json_is_object(*out))
        return bad(where, name, "an object");
    return 0;
}

static int get_str(struct jdec *d, const json_t *o, const char *where, const char *name,
                   const char **out)
{
    json_t *v = get(o, name);

    if (!v)
        return 0;
    if (!json_is_string(v))
        return bad(where, name, "a string");
    *out = km_otlp_strdup(d->a, json_string_value(v), json_string_length(v));
    return *out ? 0 : KM_ELIMIT;
}

/* A 64-bit integer: a JSON integer or a decimal string. */
static int int_value(const json_t *v, const char *where, const char *name, bool is_signed,
                     uint64_t *out)
{
    const char *s;
    char *end;

    if (!v)
        return 0;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);

        if (!is_signed && i < 0)
            return bad(where, name, "a non-negative integer");
        *out = (uint64_t)i;
        return 0;
    }
    if (!json_is_string(v))
        return bad(where, name, "an integer (a number or a decimal string)");
    s = json_string_value(v);
    errno = 0;
    if (is_signed)
        *out = (uint64_t)strtoll(s, &end, 10);
    else
        *out = strtoull(s, &end, 10);
    if (!*s || *end || errno || (!is_signed && strchr(s, '-')))
        return bad(where, name, "an integer (a number or a decimal string)");
    return 0;
}

/* A double: a JSON number, or a string holding one ("NaN", "Infinity", "-Infinity"). */
static int double_value(const json_t *v, const char *where, const char *name, double *out,
                        bool *present)
{
    const char *s;
    char *end;

    if (!v)
        return 0;
    if (present)
        *present = true;
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 0;
    }
    if (!json_is_string(v))
        return bad(where, name, "a number");
    s = json_string_value(v);
    if (strcmp(s, "NaN") == 0)
        *out = NAN;
    else if (strcmp(s, "Infinity") == 0)
        *out = INFINITY;
    else if (strcmp(s, "-Infinity") == 0)
        *out = -INFINITY;
    else if (!*s || (*out = strtod(s, &end), *end))
        return bad(where, name, "a number");
    return 0;
}

static int get_int(const json_t *o, const char *where, const char *name, bool is_signed,
                   uint64_t *out)
{
    return int_value(get(o, name), where, name, is_signed, out);
}

static int get_double(const json_t *o, const char *where, const char *name, double *out,
                      bool *present)
{
    return double_value(get(o, name), where, name, out, present);
}

static int get_bool(const json_t *o, const char *where, const char *name, bool *out)
{
    json_t *v = get(o, name);

    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return bad(where, name, "a boolean");
    *out = json_is_true(v);
    return 0;
}

/* ---- attribute values ------------------------------------------------------------------ */

static void quoted(struct km_buf *b, const char *s, size_t n)
{
    km_buf_putc(b, '"');
    km_json_escape(b, s, n);
    km_buf_putc(b, '"');
}

static int any_json(const json_t *v, struct km_buf *b, int depth);

static int list_json(const json_t *list, bool kv, struct km_buf *b, int depth)
{
    json_t *vals, *e;
    size_t i;

    if (depth > MAX_DEPTH)
        return km_err_set(KM_EINVAL, "AnyValue: nested deeper than %d", MAX_DEPTH);
    if (!json_is_object(list))
        return bad("AnyValue", kv ? "kvlistValue" : "arrayValue", "an object");
    if (get_array(list, kv ? "KeyValueList" : "ArrayValue", "values", &vals))
        return KM_EINVAL;
    km_buf_putc(b, kv ? '{' : '[');
    json_array_foreach(vals, i, e)
    {
        int rc;

        if (i)
            km_buf_putc(b, ',');
        if (kv) {
            json_t *k;

            if (!json_is_object(e))
                return bad("KeyValueList", "an element of values", "an object");
            k = get(e, "key");
            if (k && !json_is_string(k))
                return bad("KeyValue", "key", "a string");
            quoted(b, k ? json_string_value(k) : "", k ? json_string_length(k) : 0);
            km_buf_putc(b, ':');
            e = get(e, "value");
        }
        rc = any_json(e, b, depth + 1);
        if (rc)
            return rc;
    }
    km_buf_putc(b, kv ? '}' : ']');
    return 0;
}

/* Which member of an AnyValue is set: its name and value, or false for an empty one. */
static const char *any_kind(const json_t *v, json_t **val)
{
    static const char *const kinds[] = { "stringValue", "boolValue",   "intValue",  "doubleValue",
                                         "arrayValue",  "kvlistValue", "bytesValue" };

    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        *val = get(v, kinds[i]);
        if (*val)
            return kinds[i];
    }
    return NULL;
}

static int any_json(const json_t *v, struct km_buf *b, int depth)
{
    json_t *val;
    const char *kind;
    double dv = 0;
    uint64_t iv = 0;
    bool bv = false;
    char num[KM_FMT_DOUBLE_MAX];

    if (v && !json_is_object(v))
        return bad("KeyValue", "value", "an AnyValue object");
    kind = v ? any_kind(v, &val) : NULL;
    if (!kind) {
        km_buf_puts(b, "null");
        return 0;
    }
    switch (kind[0]) {
    case 's':
    case 'b':
        if (kind[1] == 'o') {
            if (get_bool(v, "AnyValue", kind, &bv))
                return KM_EINVAL;
            km_buf_puts(b, bv ? "true" : "false");
            return 0;
        }
        if (!json_is_string(val))
            return bad("AnyValue", kind, "a string");
        quoted(b, json_string_value(val), json_string_length(val));
        return 0;
    case 'i':
        if (get_int(v, "AnyValue", kind, true, &iv))
            return KM_EINVAL;
        km_buf_put_i64(b, (long long)(int64_t)iv);
        return 0;
    case 'd': {
        size_t n;

        if (get_double(v, "AnyValue", kind, &dv, NULL))
            return KM_EINVAL;
        n = km_fmt_double(num, dv);
        if (dv != dv || dv - dv != 0)
            quoted(b, num, n);
        else
            km_buf_append(b, num, n);
        return 0;
    }
    default:
        return list_json(val, kind[0] == 'k', b, depth);
    }
}

/* An AnyValue as text (otlp.h). */
static int any_text(struct jdec *d, const json_t *v, const char **out, size_t *len)
{
    json_t *val;
    const char *kind = v ? any_kind(v, &val) : NULL;
    struct km_buf b;
    int rc;

    if (v && !json_is_object(v))
        return bad("KeyValue", "value", "an AnyValue object");
    if (!kind) {
        *out = "", *len = 0;
        return 0;
    }
    if (strcmp(kind, "stringValue") == 0 || strcmp(kind, "bytesValue") == 0) {
        if (!json_is_string(val))
            return bad("AnyValue", kind, "a string");
        *len = json_string_length(val);
        *out = km_otlp_strdup(d->a, json_string_value(val), *len);
        return *out ? 0 : KM_ELIMIT;
    }
    if (strcmp(kind, "doubleValue") == 0) {
        char num[KM_FMT_DOUBLE_MAX];
        double dv = 0;

        if (get_double(v, "AnyValue", kind, &dv, NULL))
            return KM_EINVAL;
        *len = km_fmt_double(num, dv);
        *out = km_otlp_strdup(d->a, num, *len);
        return *out ? 0 : KM_ELIMIT;
    }
    km_buf_init(&b, (size_t)1 << 26);
    rc = any_json(v, &b, 0);
    if (rc == 0 && km_buf_error(&b))
        rc = km_err_set(KM_ELIMIT, "an attribute value is too large");
    if (rc == 0) {
        /* Scalars render as their JSON text; a string-like rendering is not quoted. */
        *len = b.len;
        *out = km_otlp_strdup(d->a, b.data ? b.data : "", b.len);
        if (!*out)
            rc = KM_ELIMIT;
    }
    km_buf_fini(&b);
    return rc;
}

static int attrs(struct jdec *d, const json_t *o, const char *where,
                 const struct km_otlp_attr **out, size_t *nout)
{
    struct km_otlp_attr *v;
    json_t *arr, *e;
    size_t i, len;
    int rc = get_array(o, where, "attributes", &arr);

    if (rc)
        return rc;
    v = km_otlp_alloc(d->a, json_array_size(arr), sizeof(*v));
    if (!v)
        return KM_ELIMIT;
    json_array_foreach(arr, i, e)
    {
        if (!json_is_object(e))
            return bad(where, "an attribute", "an object");
        v[i].key = "";
        rc = get_str(d, e, "KeyValue", "key", &v[i].key);
        if (rc == 0)
            rc = any_text(d, get(e, "value"), &v[i].value, &len);
        if (rc)
            return rc;
    }
    *out = v;
    *nout = json_array_size(arr);
    return 0;
}

static int scope(struct jdec *d, const json_t *o, struct km_otlp_scope *s)
{
    json_t *sc;
    int rc = get_object(o, "Scope*", "scope", &sc);

    s->name = s->version = "";
    if (rc || !sc)
        return rc;
    rc = get_str(d, sc, "InstrumentationScope", "name", &s->name);
    if (rc == 0)
        rc = get_str(d, sc, "InstrumentationScope", "version", &s->version);
    return rc ? rc : attrs(d, sc, "InstrumentationScope", &s->attrs, &s->nattrs);
}

static int resource(struct jdec *d, const json_t *o, const struct km_otlp_attr **out, size_t *n)
{
    json_t *r;
    int rc = get_object(o, "Resource*", "resource", &r);

    if (rc || !r)
        return rc;
    return attrs(d, r, "Resource", out, n);
}

/* ---- metrics ------------------------------------------------------------------------------ */

static int times(const json_t *o, const char *where, struct km_otlp_point *pt)
{
    uint64_t flags = 0;
    int rc = get_int(o, where, "startTimeUnixNano", false, &pt->start_ns);

    if (rc == 0)
        rc = get_int(o, where, "timeUnixNano", false, &pt->time_ns);
    if (rc == 0)
        rc = get_int(o, where, "flags", false, &flags);
    pt->flags = (uint32_t)flags;
    return rc;
}

/* An array of unsigned integers (as get_int takes them). */
static int u64_array(struct jdec *d, const json_t *o, const char *where, const char *name,
                     const uint64_t **out, size_t *n)
{
    json_t *arr, *e;
    uint64_t *v;
    size_t i;
    int rc = get_array(o, where, name, &arr);

    if (rc)
        return rc;
    v = km_otlp_alloc(d->a, json_array_size(arr), sizeof(*v));
    if (!v)
        return KM_ELIMIT;
    json_array_foreach(arr, i, e)
    {
        rc = e ? int_value(e, where, name, false, &v[i]) : bad(where, name, "an array of integers");
        if (rc)
            return rc;
    }
    *out = v;
    *n = json_array_size(arr);
    return 0;
}

static int double_array(struct jdec *d, const json_t *arr, const char *where, const char *name,
                        double *v)
{
    json_t *e;
    size_t i;

    json_array_foreach(arr, i, e)
    {
        int rc = double_value(e, where, name, &v[i], NULL);

        if (rc)
            return rc;
    }
    (void)d;
    return 0;
}

static int number_point(struct jdec *d, const json_t *o, struct km_otlp_point *pt)
{
    static const char *where = "NumberDataPoint";
    uint64_t i = 0;
    int rc = times(o, where, pt);

    if (rc == 0 && get(o, "asInt")) {
        rc = get_int(o, where, "asInt", true, &i);
        pt->value = (double)(int64_t)i;
    } else if (rc == 0) {
        rc = get_double(o, where, "asDouble", &pt->value, NULL);
    }
    return rc ? rc : attrs(d, o, where, &pt->attrs, &pt->nattrs);
}

static int histogram_point(struct jdec *d, const json_t *o, struct km_otlp_point *pt)
{
    static const char *where = "HistogramDataPoint";
    json_t *bounds;
    double *b;
    int rc = times(o, where, pt);

    if (rc == 0)
        rc = get_int(o, where, "count", false, &pt->count);
    if (rc == 0)
        rc = get_double(o, where, "sum", &pt->sum, &pt->has_sum);
    if (rc == 0)
        rc = u64_array(d, o, where, "bucketCounts", &pt->buckets, &pt->nbuckets);
    if (rc == 0)
        rc = get_array(o, where, "explicitBounds", &bounds);
    if (rc)
        return rc;
    b = km_otlp_alloc(d->a, json_array_size(bounds), sizeof(*b));
    if (!b)
        return KM_ELIMIT;
    rc = double_array(d, bounds, where, "explicitBounds", b);
    pt->bounds = b;
    pt->nbounds = json_array_size(bounds);
    return rc ? rc : attrs(d, o, where, &pt->attrs, &pt->nattrs);
}

static int ebuckets(struct jdec *d, const json_t *o, const char *name, struct km_otlp_ebuckets *b)
{
    json_t *side;
    uint64_t off = 0;
    int rc = get_object(o, "ExponentialHistogramDataPoint", name, &side);

    if (rc || !side)
        return rc;
    rc = get_int(side, "Buckets", "offset", true, &off);
    b->offset = (int32_t)(int64_t)off;
    return rc ? rc : u64_array(d, side, "Buckets", "bucketCounts", &b->counts, &b->n);
}

static int exp_point(struct jdec *d, const json_t *o, struct km_otlp_point *pt)
{
    static const char *where = "ExponentialHistogramDataPoint";
    uint64_t scale = 0;
    int rc = times(o, where, pt);

    if (rc == 0)
        rc = get_int(o, where, "count", false, &pt->count);
    if (rc == 0)
        rc = get_double(o, where, "sum", &pt->sum, &pt->has_sum);
    if (rc == 0)
        rc = get_int(o, where, "scale", true, &scale);
    pt->scale = (int32_t)(int64_t)scale;
    if (rc == 0)
        rc = get_int(o, where, "zeroCount", false, &pt->zero_count);
    if (rc == 0)
        rc = get_double(o, where, "zeroThreshold", &pt->zero_threshold, NULL);
    if (rc == 0)
        rc = ebuckets(d, o, "positive", &pt->pos);
    if (rc == 0)
        rc = ebuckets(d, o, "negative", &pt->neg);
    return rc ? rc : attrs(d, o, where, &pt->attrs, &pt->nattrs);
}

static int summary_point(struct jdec *d, const json_t *o, struct km_otlp_point *pt)
{
    static const char *where = "SummaryDataPoint";
    json_t *qs, *e;
    double *q, *v;
    size_t i;
    int rc = times(o, where, pt);

    if (rc == 0)
        rc = get_int(o, where, "count", false, &pt->count);
    if (rc == 0)
        rc = get_double(o, where, "sum", &pt->sum, &pt->has_sum);
    if (rc == 0)
        rc = get_array(o, where, "quantileValues", &qs);
    if (rc)
        return rc;
    q = km_otlp_alloc(d->a, json_array_size(qs), sizeof(*q));
    v = km_otlp_alloc(d->a, json_array_size(qs), sizeof(*v));
    if (!q || !v)
        return KM_ELIMIT;
    json_array_foreach(qs, i, e)
    {
        if (!json_is_object(e))
            return bad(where, "a quantile value", "an object");
        rc = get_double(e, "ValueAtQuantile", "quantile", &q[i], NULL);
        if (rc == 0)
            rc = get_double(e, "ValueAtQuantile", "value", &v[i], NULL);
        if (rc)
            return rc;
    }
    pt->quantiles = q;
    pt->qvalues = v;
    pt->nquantiles = json_array_size(qs);
    return attrs(d, o, where, &pt->attrs, &pt->nattrs);
}

static int metric(struct jdec *d, const json_t *o, struct km_otlp_metric *m, size_t *npoints)
{
    static const struct {
        const char *name;
        enum km_otlp_type type;
    } kinds[] = { { "gauge", KM_OTLP_GAUGE },
                  { "sum", KM_OTLP_SUM },
                  { "histogram", KM_OTLP_HISTOGRAM },
                  { "exponentialHistogram", KM_OTLP_EXP_HISTOGRAM },
                  { "summary", KM_OTLP_SUMMARY } };
    struct km_otlp_point *pts;
    json_t *data = NULL, *dps, *e;
    uint64_t temp = 0;
    size_t i;
    int rc;

    m->name = m->description = m->unit = "";
    rc = get_str(d, o, "Metric", "name", &m->name);
    if (rc == 0)
        rc = get_str(d, o, "Metric", "description", &m->description);
    if (rc == 0)
        rc = get_str(d, o, "Metric", "unit", &m->unit);
    for (size_t k = 0; rc == 0 && k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        json_t *v;

        rc = get_object(o, "Metric", kinds[k].name, &v);
        if (v) {
            data = v;
            m->type = kinds[k].type;
        }
    }
    if (rc || !data)
        return rc;
    rc = get_int(data, "Metric", "aggregationTemporality", false, &temp);
    m->temporality = (int)temp;
    if (rc == 0)
        rc = get_bool(data, "Sum", "isMonotonic", &m->monotonic);
    if (rc == 0)
        rc = get_array(data, "Metric", "dataPoints", &dps);
    if (rc)
        return rc;
    pts = km_otlp_alloc(d->a, json_array_size(dps), sizeof(*pts));
    if (!pts)
        return KM_ELIMIT;
    json_array_foreach(dps, i, e)
    {
        if (!json_is_object(e))
            return bad("Metric", "a data point", "an object");
        switch (m->type) {
        case KM_OTLP_GAUGE:
        case KM_OTLP_SUM:
            rc = number_point(d, e, &pts[i]);
            break;
        case KM_OTLP_HISTOGRAM:
            rc = histogram_point(d, e, &pts[i]);
            break;
        case KM_OTLP_EXP_HISTOGRAM:
            rc = exp_point(d, e, &pts[i]);
            break;
        default:
            rc = summary_point(d, e, &pts[i]);
            break;
        }
        if (rc)
            return rc;
    }
    m->points = pts;
    m->npoints = json_array_size(dps);
    *npoints += m->npoints;
    return 0;
}

/* Each element of the array member `name` of o, an object, decoded by fn into an array
 * of `elem`-byte elements. */
typedef int (*jchild_fn)(struct jdec *d, const json_t *o, void *elem, size_t *total);

static int children(struct jdec *d, const json_t *o, const char *where, const char *name,
                    size_t elem, jchild_fn fn, void **out, size_t *nout, size_t *total)
{
    json_t *arr, *e;
    char *v;
    size_t i;
    int rc = get_array(o, where, name, &arr);

    if (rc)
        return rc;
    v = km_otlp_alloc(d->a, json_array_size(arr), elem);
    if (!v)
        return KM_ELIMIT;
    json_array_foreach(arr, i, e)
    {
        if (!json_is_object(e))
            return bad(where, name, "an array of objects");
        rc = fn(d, e, v + elem * i, total);
        if (rc)
            return rc;
    }
    *out = v;
    *nout = json_array_size(arr);
    return 0;
}

static int metric_child(struct jdec *d, const json_t *o, void *elem, size_t *total)
{
    return metric(d, o, elem, total);
}

static int scope_metrics(struct jdec *d, const json_t *o, void *elem, size_t *total)
{
    struct km_otlp_scope_metrics *sm = elem;
    void *v = NULL;
    int rc = scope(d, o, &sm->scope);

    if (rc == 0)
        rc = children(d, o, "ScopeMetrics", "metrics", sizeof(struct km_otlp_metric), metric_child,
                      &v, &sm->nmetrics, total);
    sm->metrics = v;
    return rc;
}

static int resource_metrics(struct jdec *d, const json_t *o, void *elem, size_t *total)
{
    struct km_otlp_resource_metrics *rm = elem;
    void *v = NULL;
    int rc = resource(d, o, &rm->attrs, &rm->nattrs);

    if (rc == 0)
        rc = children(d, o, "ResourceMetrics", "scopeMetrics", sizeof(struct km_otlp_scope_metrics),
                      scope_metrics, &v, &rm->nscopes, total);
    rm->scopes = v;
    return rc;
}

/* Parse the body as a JSON object. */
static int load(const void *body, size_t n, const char *what, json_t **out)
{
    json_error_t err;

    *out = json_loadb(body, n, JSON_DECODE_ANY, &err);
    if (!*out)
        return km_err_set(KM_EINVAL, "%s: not JSON (%s at line %d, column %d)", what, err.text,
                          err.line, err.column);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return km_err_set(KM_EINVAL, "%s: not a JSON object", what);
    }
    return 0;
}

/* A whole Export*ServiceRequest: its resources (`kids`) decoded by fn into the arena. */
static int decode_root(struct km_arena *a, const void *body, size_t n, const char *what,
                       const char *kids, size_t kid_size, jchild_fn fn, void **v, size_t *nv,
                       size_t *total)
{
    struct jdec d = { .a = a };
    json_t *root;
    int rc;

    km_otlp_arena_init(a, n);
    rc = load(body, n, what, &root);
    if (rc)
        return rc;
    rc = children(&d, root, what, kids, kid_size, fn, v, nv, total);
    json_decref(root);
    return rc;
}

int km_otlp_metrics_decode_json(struct km_otlp_metrics_req *r, const void *body, size_t n)
{
    void *v = NULL;
    int rc = decode_root(&r->arena, body, n, "ExportMetricsServiceRequest", "resourceMetrics",
                         sizeof(struct km_otlp_resource_metrics), resource_metrics, &v,
                         &r->nresources, &r->npoints);

    r->resources = v;
    return rc;
}

/* ---- logs ---------------------------------------------------------------------------------- */

/* A hex id (traceId, spanId) checked and lowercased. */
static int hex_id(struct jdec *d, const json_t *o, const char *name, const char **out)
{
    char *s;
    int rc = get_str(d, o, "LogRecord", name, out);

    if (rc)
        return rc;
    s = (char *)*out;
    for (; *s; s++) {
        if (*s >= 'A' && *s <= 'F')
            *s = (char)(*s - 'A' + 'a');
        else if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return bad("LogRecord", name, "a hex string");
    }
    return 0;
}

static int log_record(struct jdec *d, const json_t *o, void *elem, size_t *total)
{
    static const char *where = "LogRecord";
    struct km_otlp_log *l = elem;
    uint64_t sev = 0;
    int rc;

    l->severity_text = l->trace_id = l->span_id = "";
    l->body = "";
    rc = get_int(o, where, "timeUnixNano", false, &l->time_ns);
    if (rc == 0)
        rc = get_int(o, where, "observedTimeUnixNano", false, &l->observed_ns);
    if (rc == 0)
        rc = get_int(o, where, "severityNumber", true, &sev);
    l->severity_number = (int32_t)(int64_t)sev;
    if (rc == 0)
        rc = get_str(d, o, where, "severityText", &l->severity_text);
    if (rc == 0)
        rc = any_text(d, get(o, "body"), &l->body, &l->body_len);
    if (rc == 0)
        rc = hex_id(d, o, "traceId", &l->trace_id);
    if (rc == 0)
        rc = hex_id(d, o, "spanId", &l->span_id);
    if (rc == 0)
        rc = attrs(d, o, where, &l->attrs, &l->nattrs);
    (*total)++;
    return rc;
}

static int scope_logs(struct jdec *d, const json_t *o, void *elem, size_t *total)
{
    struct km_otlp_scope_logs *sl = elem;
    void *v = NULL;
    int rc = scope(d, o, &sl->scope);

    if (rc == 0)
        rc = children(d, o, "ScopeLogs", "logRecords", sizeof(struct km_otlp_log), log_record, &v,
                      &sl->nlogs, total);
    sl->logs = v;
    return rc;
}

static int resource_logs(struct jdec *d, const json_t *o, void *elem, size_t *total)
{
    struct km_otlp_resource_logs *rl = elem;
    void *v = NULL;
    int rc = resource(d, o, &rl->attrs, &rl->nattrs);

    if (rc == 0)
        rc = children(d, o, "ResourceLogs", "scopeLogs", sizeof(struct km_otlp_scope_logs),
                      scope_logs, &v, &rl->nscopes, total);
    rl->scopes = v;
    return rc;
}

int km_otlp_logs_decode_json(struct km_otlp_logs_req *r, const void *body, size_t n)
{
    void *v = NULL;
    int rc = decode_root(&r->arena, body, n, "ExportLogsServiceRequest", "resourceLogs",
                         sizeof(struct km_otlp_resource_logs), resource_logs, &v, &r->nresources,
                         &r->nlogs);

    r->resources = v;
    return rc;
}
