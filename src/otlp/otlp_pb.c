/*
 * otlp_pb — ExportMetricsServiceRequest and ExportLogsServiceRequest read from protobuf
 * in place (remote/pbread.h, protobuf-c's acceptance rules) into the tree of otlp.h.
 * Field numbers: otlp.proto. A known field with another wire type than declared is an
 * error; unknown fields are skipped; a message field given twice means the last one;
 * repeated scalars are read packed or not. Each repeated message field is counted in a
 * first pass over its parent so that its array is allocated once.
 */
#include "otlp.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/jsonw.h"
#include "common/numfmt.h"
#include "remote/pbread.h"

#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 32 /* nesting of arrays and maps in an attribute value */

struct dec {
    struct km_arena *a;
    struct km_buf json; /* an array or map value being rendered */
};

/* Iterate over the fields of p[0..n); rc is 0 after the last, or the error. */
#define FOR_FIELDS(buf, len, fld, where, rc) FOR_FIELDS_(buf, len, fld, where, rc, __LINE__)
#define CAT_(a, b)                           a##b
#define CAT(a, b)                            CAT_(a, b)
#define FOR_FIELDS_(buf, len, fld, where, rc, line)                                                \
    FOR_FIELDS__(buf, len, fld, where, rc, CAT(rd_, line))
#define FOR_FIELDS__(buf, len, fld, where, rc, rd)                                                 \
    for (struct km_pb_reader rd = { (buf), (buf) + (len) };                                        \
         rd.p < rd.end && ((rc) = km_pb_next(&rd, &(fld), (where))) == 0;)

static uint64_t u64le(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static int32_t zigzag32(uint64_t v)
{
    uint32_t u = (uint32_t)v;

    return (int32_t)((u >> 1) ^ (uint32_t) - (int32_t)(u & 1));
}

static uint64_t varint(const struct km_pb_field *f)
{
    return km_pb_varint(f->val, f->len);
}

/* How many times field `num` occurs in p[0..n). */
static int count(const uint8_t *p, size_t n, uint32_t num, const char *where, size_t *out)
{
    struct km_pb_field f;
    int rc = 0;

    *out = 0;
    FOR_FIELDS(p, n, f, where, rc)
    {
        if (f.num == num)
            (*out)++;
    }
    return rc;
}

static int str(struct dec *d, const struct km_pb_field *f, const char *where, const char *name,
               const char **out)
{
    int rc = km_pb_expect(f, KM_PB_LEN, where, name);

    if (rc)
        return rc;
    *out = km_otlp_strdup(d->a, (const char *)f->val, f->len);
    return *out ? 0 : KM_ELIMIT;
}

static int f64(const struct km_pb_field *f, const char *where, const char *name, double *out)
{
    int rc = km_pb_expect(f, KM_PB_64BIT, where, name);

    if (rc == 0)
        *out = km_pb_double(f->val);
    return rc;
}

static int fixed64(const struct km_pb_field *f, const char *where, const char *name, uint64_t *out)
{
    int rc = km_pb_expect(f, KM_PB_64BIT, where, name);

    if (rc == 0)
        *out = u64le(f->val);
    return rc;
}

static int uvarint(const struct km_pb_field *f, const char *where, const char *name, uint64_t *out)
{
    int rc = km_pb_expect(f, KM_PB_VARINT, where, name);

    if (rc == 0)
        *out = varint(f);
    return rc;
}

/* ---- repeated scalars ---------------------------------------------------------------- */

/* Repeated fixed64 or double (8 bytes each), packed or not: count in pass 1. */
static int count_fixed(const struct km_pb_field *f, const char *where, const char *name, size_t *n)
{
    if (f->wt == KM_PB_64BIT) {
        (*n)++;
        return 0;
    }
    if (f->wt != KM_PB_LEN)
        return km_pb_wire_type_error(f, KM_PB_LEN, where, name);
    if (f->len % 8)
        return km_err_set(KM_EINVAL, "%s: packed %s is %zu bytes long (not a multiple of 8)", where,
                          name, f->len);
    *n += f->len / 8;
    return 0;
}

/* ...and copy them in pass 2 (v has room: counted). */
static void take_fixed(const struct km_pb_field *f, uint64_t *v, size_t *n)
{
    if (f->wt == KM_PB_64BIT) {
        v[(*n)++] = u64le(f->val);
        return;
    }
    for (size_t i = 0; i < f->len; i += 8)
        v[(*n)++] = u64le(f->val + i);
}

static void take_doubles(const struct km_pb_field *f, double *v, size_t *n)
{
    if (f->wt == KM_PB_64BIT) {
        v[(*n)++] = km_pb_double(f->val);
        return;
    }
    for (size_t i = 0; i < f->len; i += 8)
        v[(*n)++] = km_pb_double(f->val + i);
}

/* Repeated uint64 varints, packed or not. */
static int count_varints(const struct km_pb_field *f, const char *where, const char *name,
                         size_t *n)
{
    if (f->wt == KM_PB_VARINT) {
        (*n)++;
        return 0;
    }
    if (f->wt != KM_PB_LEN)
        return km_pb_wire_type_error(f, KM_PB_LEN, where, name);
    for (size_t i = 0, k = 0; i < f->len; i++, k++) {
        if (k == 10)
            return km_err_set(KM_EINVAL, "%s: packed %s holds a varint past 10 bytes", where, name);
        if (!(f->val[i] & 0x80)) {
            (*n)++;
            k = (size_t)-1;
        } else if (i + 1 == f->len) {
            return km_err_set(KM_EINVAL, "%s: packed %s ends inside a varint", where, name);
        }
    }
    return 0;
}

static void take_varints(const struct km_pb_field *f, uint64_t *v, size_t *n)
{
    size_t start = 0;

    if (f->wt == KM_PB_VARINT) {
        v[(*n)++] = varint(f);
        return;
    }
    for (size_t i = 0; i < f->len; i++) {
        if (!(f->val[i] & 0x80)) {
            v[(*n)++] = km_pb_varint(f->val + start, i + 1 - start);
            start = i + 1;
        }
    }
}

/* ---- attribute values ------------------------------------------------------------------ */

/* The field of an AnyValue that is set (the last one given); num 0 for an empty value. */
static int any_field(const uint8_t *p, size_t n, struct km_pb_field *out)
{
    static const unsigned wt[8] = { 0,           KM_PB_LEN, KM_PB_VARINT, KM_PB_VARINT,
                                    KM_PB_64BIT, KM_PB_LEN, KM_PB_LEN,    KM_PB_LEN };
    static const char *const names[8] = { "",
                                          "string_value",
                                          "bool_value",
                                          "int_value",
                                          "double_value",
                                          "array_value",
                                          "kvlist_value",
                                          "bytes_value" };
    struct km_pb_field f;
    int rc = 0;

    out->num = 0;
    FOR_FIELDS(p, n, f, "AnyValue", rc)
    {
        if (f.num < 1 || f.num > 7)
            continue;
        rc = km_pb_expect(&f, wt[f.num], "AnyValue", names[f.num]);
        if (rc)
            return rc;
        *out = f;
    }
    return rc;
}

static void json_quoted(struct km_buf *b, const char *s, size_t n)
{
    km_buf_putc(b, '"');
    km_json_escape(b, s, n);
    km_buf_putc(b, '"');
}

static void json_double(struct km_buf *b, double v)
{
    char num[KM_FMT_DOUBLE_MAX];
    size_t n = km_fmt_double(num, v);

    if (v != v || v - v != 0) /* NaN, ±Inf: not JSON numbers */
        json_quoted(b, num, n);
    else
        km_buf_append(b, num, n);
}

static int any_json(struct dec *d, const uint8_t *p, size_t n, int depth);

/* An ArrayValue (kv false) or KeyValueList (kv true) as a JSON array or object. */
static int list_json(struct dec *d, const uint8_t *p, size_t n, bool kv, int depth)
{
    const char *where = kv ? "KeyValueList" : "ArrayValue";
    struct km_pb_field f, g;
    bool first = true;
    int rc = 0;

    if (depth > MAX_DEPTH)
        return km_err_set(KM_EINVAL, "AnyValue: nested deeper than %d", MAX_DEPTH);
    km_buf_putc(&d->json, kv ? '{' : '[');
    FOR_FIELDS(p, n, f, where, rc)
    {
        const uint8_t *val = (const uint8_t *)"";
        size_t vlen = 0;

        if (f.num != 1)
            continue;
        rc = km_pb_expect(&f, KM_PB_LEN, where, "values");
        if (rc)
            return rc;
        if (!first)
            km_buf_putc(&d->json, ',');
        first = false;
        if (!kv) {
            val = f.val, vlen = f.len;
        } else {
            const uint8_t *key = (const uint8_t *)"";
            size_t klen = 0;

            FOR_FIELDS(f.val, f.len, g, "KeyValue", rc)
            {
                if (g.num != 1 && g.num != 2)
                    continue;
                rc = km_pb_expect(&g, KM_PB_LEN, "KeyValue", g.num == 1 ? "key" : "value");
                if (rc)
                    return rc;
                if (g.num == 1)
                    key = g.val, klen = g.len;
                else
                    val = g.val, vlen = g.len;
            }
            if (rc)
                return rc;
            json_quoted(&d->json, (const char *)key, klen);
            km_buf_putc(&d->json, ':');
        }
        rc = any_json(d, val, vlen, depth + 1);
        if (rc)
            return rc;
    }
    if (rc == 0)
        km_buf_putc(&d->json, kv ? '}' : ']');
    return rc;
}

static int any_json(struct dec *d, const uint8_t *p, size_t n, int depth)
{
    struct km_pb_field f;
    char *b64;
    int rc = any_field(p, n, &f);

    if (rc)
        return rc;
    switch (f.num) {
    case 0:
        km_buf_puts(&d->json, "null");
        return 0;
    case 1:
        json_quoted(&d->json, (const char *)f.val, f.len);
        return 0;
    case 2:
        km_buf_puts(&d->json, varint(&f) ? "true" : "false");
        return 0;
    case 3:
        km_buf_put_i64(&d->json, (long long)varint(&f));
        return 0;
    case 4:
        json_double(&d->json, km_pb_double(f.val));
        return 0;
    case 5:
    case 6:
        return list_json(d, f.val, f.len, f.num == 6, depth);
    default:
        b64 = km_otlp_base64(d->a, f.val, f.len);
        if (!b64)
            return KM_ELIMIT;
        json_quoted(&d->json, b64, strlen(b64));
        return 0;
    }
}

/* An AnyValue p[0..n) as text: *out (NUL-terminated, *len bytes). */
static int any_text(struct dec *d, const uint8_t *p, size_t n, const char **out, size_t *len)
{
    struct km_pb_field f;
    char num[KM_FMT_DOUBLE_MAX];
    size_t k;
    int rc = any_field(p, n, &f);

    if (rc)
        return rc;
    switch (f.num) {
    case 0:
        *out = "", *len = 0;
        return 0;
    case 1:
        *out = km_otlp_strdup(d->a, (const char *)f.val, f.len), *len = f.len;
        break;
    case 2:
        *out = varint(&f) ? "true" : "false", *len = strlen(*out);
        return 0;
    case 3:
        k = (size_t)snprintf(num, sizeof(num), "%lld", (long long)varint(&f));
        *out = km_otlp_strdup(d->a, num, k), *len = k;
        break;
    case 4:
        k = km_fmt_double(num, km_pb_double(f.val));
        *out = km_otlp_strdup(d->a, num, k), *len = k;
        break;
    case 5:
    case 6:
        km_buf_reset(&d->json);
        rc = list_json(d, f.val, f.len, f.num == 6, 0);
        if (rc)
            return rc;
        if (km_buf_error(&d->json))
            return km_err_set(KM_ELIMIT, "an attribute value is too large");
        *out = km_otlp_strdup(d->a, d->json.data, d->json.len), *len = d->json.len;
        break;
    default:
        *out = km_otlp_base64(d->a, f.val, f.len), *len = *out ? strlen(*out) : 0;
        break;
    }
    return *out ? 0 : KM_ELIMIT;
}

/* The KeyValue p[0..n) into *kv. */
static int keyvalue(struct dec *d, const uint8_t *p, size_t n, struct km_otlp_attr *kv)
{
    struct km_pb_field f;
    const uint8_t *val = (const uint8_t *)"";
    size_t vlen = 0, len;
    int rc = 0;

    kv->key = "";
    FOR_FIELDS(p, n, f, "KeyValue", rc)
    {
        if (f.num == 1) {
            rc = str(d, &f, "KeyValue", "key", &kv->key);
        } else if (f.num == 2) {
            rc = km_pb_expect(&f, KM_PB_LEN, "KeyValue", "value");
            val = f.val, vlen = f.len;
        }
        if (rc)
            return rc;
    }
    return rc ? rc : any_text(d, val, vlen, &kv->value, &len);
}

/* The repeated KeyValue field `num` of the message p[0..n). */
static int attrs(struct dec *d, const uint8_t *p, size_t n, uint32_t num, const char *where,
                 const struct km_otlp_attr **out, size_t *nout)
{
    struct km_otlp_attr *v;
    struct km_pb_field f;
    size_t cnt, k = 0;
    int rc = count(p, n, num, where, &cnt);

    if (rc)
        return rc;
    v = km_otlp_alloc(d->a, cnt, sizeof(*v));
    if (!v)
        return KM_ELIMIT;
    FOR_FIELDS(p, n, f, where, rc)
    {
        if (f.num != num)
            continue;
        rc = km_pb_expect(&f, KM_PB_LEN, where, "attributes");
        if (rc == 0)
            rc = keyvalue(d, f.val, f.len, &v[k++]);
        if (rc)
            return rc;
    }
    *out = v;
    *nout = k;
    return rc;
}

/* A Resource (its attributes). */
static int resource(struct dec *d, const struct km_pb_field *f, const char *where,
                    const struct km_otlp_attr **out, size_t *n)
{
    int rc = km_pb_expect(f, KM_PB_LEN, where, "resource");

    return rc ? rc : attrs(d, f->val, f->len, 1, "Resource", out, n);
}

static int scope(struct dec *d, const struct km_pb_field *fs, const char *where,
                 struct km_otlp_scope *s)
{
    struct km_pb_field f;
    int rc = km_pb_expect(fs, KM_PB_LEN, where, "scope");

    if (rc)
        return rc;
    s->name = s->version = "";
    FOR_FIELDS(fs->val, fs->len, f, "InstrumentationScope", rc)
    {
        if (f.num == 1)
            rc = str(d, &f, "InstrumentationScope", "name", &s->name);
        else if (f.num == 2)
            rc = str(d, &f, "InstrumentationScope", "version", &s->version);
        if (rc)
            return rc;
    }
    return rc ? rc : attrs(d, fs->val, fs->len, 3, "InstrumentationScope", &s->attrs, &s->nattrs);
}

/* ---- metrics ------------------------------------------------------------------------------ */

/* The fields every data point type shares: times (2, 3), flags. True when f was one. */
static int common_point(const struct km_pb_field *f, uint32_t flags_num, const char *where,
                        struct km_otlp_point *pt, bool *taken)
{
    uint64_t v;
    int rc = 0;

    *taken = true;
    if (f->num == 2)
        rc = fixed64(f, where, "start_time_unix_nano", &pt->start_ns);
    else if (f->num == 3)
        rc = fixed64(f, where, "time_unix_nano", &pt->time_ns);
    else if (f->num == flags_num && (rc = uvarint(f, where, "flags", &v)) == 0)
        pt->flags = (uint32_t)v;
    else
        *taken = false;
    return rc;
}

static int number_point(struct dec *d, const uint8_t *p, size_t n, struct km_otlp_point *pt)
{
    static const char *where = "NumberDataPoint";
    struct km_pb_field f;
    uint64_t i;
    bool taken;
    int rc = 0;

    FOR_FIELDS(p, n, f, where, rc)
    {
        rc = common_point(&f, 8, where, pt, &taken);
        if (rc == 0 && !taken) {
            if (f.num == 4)
                rc = f64(&f, where, "as_double", &pt->value);
            else if (f.num == 6 && (rc = fixed64(&f, where, "as_int", &i)) == 0)
                pt->value = (double)(int64_t)i;
        }
        if (rc)
            return rc;
    }
    return rc ? rc : attrs(d, p, n, 7, where, &pt->attrs, &pt->nattrs);
}

static int histogram_point(struct dec *d, const uint8_t *p, size_t n, struct km_otlp_point *pt)
{
    static const char *where = "HistogramDataPoint";
    struct km_pb_field f;
    size_t nb = 0, nc = 0;
    uint64_t *counts;
    double *bounds;
    bool taken;
    int rc = 0;

    FOR_FIELDS(p, n, f, where, rc)
    {
        if (f.num == 6)
            rc = count_fixed(&f, where, "bucket_counts", &nc);
        else if (f.num == 7)
            rc = count_fixed(&f, where, "explicit_bounds", &nb);
        if (rc)
            return rc;
    }
    if (rc)
        return rc;
    bounds = km_otlp_alloc(d->a, nb, sizeof(*bounds));
    counts = km_otlp_alloc(d->a, nc, sizeof(*counts));
    if (!bounds || !counts)
        return KM_ELIMIT;
    FOR_FIELDS(p, n, f, where, rc)
    {
        rc = common_point(&f, 10, where, pt, &taken);
        if (rc == 0 && !taken) {
            if (f.num == 4)
                rc = fixed64(&f, where, "count", &pt->count);
            else if (f.num == 5 && (rc = f64(&f, where, "sum", &pt->sum)) == 0)
                pt->has_sum = true;
            else if (f.num == 6)
                take_fixed(&f, counts, &pt->nbuckets);
            else if (f.num == 7)
                take_doubles(&f, bounds, &pt->nbounds);
        }
        if (rc)
            return rc;
    }
    pt->buckets = counts;
    pt->bounds = bounds;
    return rc ? rc : attrs(d, p, n, 9, where, &pt->attrs, &pt->nattrs);
}

static int ebuckets(struct dec *d, const struct km_pb_field *fb, struct km_otlp_ebuckets *b)
{
    static const char *where = "Buckets";
    struct km_pb_field f;
    size_t cnt = 0;
    uint64_t *v;
    int rc = km_pb_expect(fb, KM_PB_LEN, "ExponentialHistogramDataPoint", "positive/negative");

    if (rc)
        return rc;
    FOR_FIELDS(fb->val, fb->len, f, where, rc)
    {
        if (f.num == 2 && (rc = count_varints(&f, where, "bucket_counts", &cnt)) != 0)
            return rc;
    }
    if (rc)
        return rc;
    v = km_otlp_alloc(d->a, cnt, sizeof(*v));
    if (!v)
        return KM_ELIMIT;
    b->n = 0;
    b->offset = 0;
    FOR_FIELDS(fb->val, fb->len, f, where, rc)
    {
        uint64_t o;

        if (f.num == 1 && (rc = uvarint(&f, where, "offset", &o)) == 0)
            b->offset = zigzag32(o);
        else if (f.num == 2)
            take_varints(&f, v, &b->n);
        if (rc)
            return rc;
    }
    b->counts = v;
    return rc;
}

static int exp_point(struct dec *d, const uint8_t *p, size_t n, struct km_otlp_point *pt)
{
    static const char *where = "ExponentialHistogramDataPoint";
    struct km_pb_field f;
    uint64_t v;
    bool taken;
    int rc = 0;

    FOR_FIELDS(p, n, f, where, rc)
    {
        rc = common_point(&f, 10, where, pt, &taken);
        if (rc == 0 && !taken) {
            if (f.num == 4)
                rc = fixed64(&f, where, "count", &pt->count);
            else if (f.num == 5 && (rc = f64(&f, where, "sum", &pt->sum)) == 0)
                pt->has_sum = true;
            else if (f.num == 6 && (rc = uvarint(&f, where, "scale", &v)) == 0)
                pt->scale = zigzag32(v);
            else if (f.num == 7)
                rc = fixed64(&f, where, "zero_count", &pt->zero_count);
            else if (f.num == 8)
                rc = ebuckets(d, &f, &pt->pos);
            else if (f.num == 9)
                rc = ebuckets(d, &f, &pt->neg);
            else if (f.num == 14)
                rc = f64(&f, where, "zero_threshold", &pt->zero_threshold);
        }
        if (rc)
            return rc;
    }
    return rc ? rc : attrs(d, p, n, 1, where, &pt->attrs, &pt->nattrs);
}

static int summary_point(struct dec *d, const uint8_t *p, size_t n, struct km_otlp_point *pt)
{
    static const char *where = "SummaryDataPoint";
    struct km_pb_field f, g;
    double *q, *v;
    size_t cnt;
    bool taken;
    int rc = count(p, n, 6, where, &cnt);

    if (rc)
        return rc;
    q = km_otlp_alloc(d->a, cnt, sizeof(*q));
    v = km_otlp_alloc(d->a, cnt, sizeof(*v));
    if (!q || !v)
        return KM_ELIMIT;
    pt->quantiles = q;
    pt->qvalues = v;
    FOR_FIELDS(p, n, f, where, rc)
    {
        rc = common_point(&f, 8, where, pt, &taken);
        if (rc == 0 && !taken) {
            if (f.num == 4) {
                rc = fixed64(&f, where, "count", &pt->count);
            } else if (f.num == 5 && (rc = f64(&f, where, "sum", &pt->sum)) == 0) {
                pt->has_sum = true;
            } else if (f.num == 6 &&
                       (rc = km_pb_expect(&f, KM_PB_LEN, where, "quantile_values")) == 0) {
                size_t k = pt->nquantiles++;

                FOR_FIELDS(f.val, f.len, g, "ValueAtQuantile", rc)
                {
                    if (g.num == 1)
                        rc = f64(&g, "ValueAtQuantile", "quantile", &q[k]);
                    else if (g.num == 2)
                        rc = f64(&g, "ValueAtQuantile", "value", &v[k]);
                    if (rc)
                        return rc;
                }
            }
        }
        if (rc)
            return rc;
    }
    return rc ? rc : attrs(d, p, n, 7, where, &pt->attrs, &pt->nattrs);
}

/* The data of a metric: Gauge, Sum, Histogram, ExponentialHistogram or Summary. */
static int metric_data(struct dec *d, const struct km_pb_field *fd, struct km_otlp_metric *m,
                       size_t *npoints)
{
    static const char *const names[] = {
        "", "Gauge", "Sum", "Histogram", "ExponentialHistogram", "Summary"
    };
    const char *where = names[m->type];
    struct km_otlp_point *pts;
    struct km_pb_field f;
    size_t cnt, k = 0;
    uint64_t v;
    int rc = km_pb_expect(fd, KM_PB_LEN, "Metric", where);

    if (rc == 0)
        rc = count(fd->val, fd->len, 1, where, &cnt);
    if (rc)
        return rc;
    pts = km_otlp_alloc(d->a, cnt, sizeof(*pts));
    if (!pts)
        return KM_ELIMIT;
    FOR_FIELDS(fd->val, fd->len, f, where, rc)
    {
        if (f.num == 1) {
            rc = km_pb_expect(&f, KM_PB_LEN, where, "data_points");
            if (rc)
                return rc;
            switch (m->type) {
            case KM_OTLP_GAUGE:
            case KM_OTLP_SUM:
                rc = number_point(d, f.val, f.len, &pts[k++]);
                break;
            case KM_OTLP_HISTOGRAM:
                rc = histogram_point(d, f.val, f.len, &pts[k++]);
                break;
            case KM_OTLP_EXP_HISTOGRAM:
                rc = exp_point(d, f.val, f.len, &pts[k++]);
                break;
            default:
                rc = summary_point(d, f.val, f.len, &pts[k++]);
                break;
            }
        } else if (f.num == 2 && m->type != KM_OTLP_GAUGE && m->type != KM_OTLP_SUMMARY) {
            if ((rc = uvarint(&f, where, "aggregation_temporality", &v)) == 0)
                m->temporality = (int)v;
        } else if (f.num == 3 && m->type == KM_OTLP_SUM) {
            if ((rc = uvarint(&f, where, "is_monotonic", &v)) == 0)
                m->monotonic = v != 0;
        }
        if (rc)
            return rc;
    }
    m->points = pts;
    m->npoints = k;
    *npoints += k;
    return rc;
}

static int metric(struct dec *d, const uint8_t *p, size_t n, struct km_otlp_metric *m,
                  size_t *npoints)
{
    static const enum km_otlp_type types[12] = { [5] = KM_OTLP_GAUGE,
                                                 [7] = KM_OTLP_SUM,
                                                 [9] = KM_OTLP_HISTOGRAM,
                                                 [10] = KM_OTLP_EXP_HISTOGRAM,
                                                 [11] = KM_OTLP_SUMMARY };
    struct km_pb_field f, data = { 0 };
    int rc = 0;

    m->name = m->description = m->unit = "";
    FOR_FIELDS(p, n, f, "Metric", rc)
    {
        if (f.num == 1)
            rc = str(d, &f, "Metric", "name", &m->name);
        else if (f.num == 2)
            rc = str(d, &f, "Metric", "description", &m->description);
        else if (f.num == 3)
            rc = str(d, &f, "Metric", "unit", &m->unit);
        else if (f.num < 12 && types[f.num])
            data = f;
        if (rc)
            return rc;
    }
    if (rc || data.num == 0)
        return rc;
    m->type = types[data.num];
    return metric_data(d, &data, m, npoints);
}

/* A repeated message field `num` of p[0..n): counted, allocated (elem bytes each), each
 * decoded by fn. */
typedef int (*child_fn)(struct dec *d, const uint8_t *p, size_t n, void *elem, size_t *total);

static int children(struct dec *d, const uint8_t *p, size_t n, uint32_t num, const char *where,
                    const char *name, size_t elem, child_fn fn, void **out, size_t *nout,
                    size_t *total)
{
    struct km_pb_field f;
    size_t cnt, k = 0;
    char *v;
    int rc = count(p, n, num, where, &cnt);

    if (rc)
        return rc;
    v = km_otlp_alloc(d->a, cnt, elem);
    if (!v)
        return KM_ELIMIT;
    FOR_FIELDS(p, n, f, where, rc)
    {
        if (f.num != num)
            continue;
        rc = km_pb_expect(&f, KM_PB_LEN, where, name);
        if (rc == 0)
            rc = fn(d, f.val, f.len, v + elem * k++, total);
        if (rc)
            return rc;
    }
    *out = v;
    *nout = k;
    return rc;
}

/* A Scope{Metrics,Logs}: its scope (field 1) and its children (field 2, `kids`). */
static int scope_level(struct dec *d, const uint8_t *p, size_t n, const char *what,
                       const char *kids, size_t kid_size, child_fn fn, struct km_otlp_scope *sc,
                       void **v, size_t *nv, size_t *total)
{
    struct km_pb_field f;
    int rc = 0;

    sc->name = sc->version = "";
    FOR_FIELDS(p, n, f, what, rc)
    {
        if (f.num == 1 && (rc = scope(d, &f, what, sc)) != 0)
            return rc;
    }
    if (rc == 0)
        rc = children(d, p, n, 2, what, kids, kid_size, fn, v, nv, total);
    return rc;
}

/* A Resource{Metrics,Logs}: its resource's attributes (field 1) and its scopes (field
 * 2, `kids`). */
static int resource_level(struct dec *d, const uint8_t *p, size_t n, const char *what,
                          const char *kids, size_t kid_size, child_fn fn,
                          const struct km_otlp_attr **attrs, size_t *nattrs, void **v, size_t *nv,
                          size_t *total)
{
    struct km_pb_field f;
    int rc = 0;

    FOR_FIELDS(p, n, f, what, rc)
    {
        if (f.num == 1 && (rc = resource(d, &f, what, attrs, nattrs)) != 0)
            return rc;
    }
    if (rc == 0)
        rc = children(d, p, n, 2, what, kids, kid_size, fn, v, nv, total);
    return rc;
}

static int metric_child(struct dec *d, const uint8_t *p, size_t n, void *elem, size_t *total)
{
    return metric(d, p, n, elem, total);
}

static int scope_metrics(struct dec *d, const uint8_t *p, size_t n, void *elem, size_t *total)
{
    struct km_otlp_scope_metrics *sm = elem;
    void *v = NULL;
    int rc = scope_level(d, p, n, "ScopeMetrics", "metrics", sizeof(struct km_otlp_metric),
                         metric_child, &sm->scope, &v, &sm->nmetrics, total);

    sm->metrics = v;
    return rc;
}

static int resource_metrics(struct dec *d, const uint8_t *p, size_t n, void *elem, size_t *total)
{
    struct km_otlp_resource_metrics *rm = elem;
    void *v = NULL;
    int rc = resource_level(d, p, n, "ResourceMetrics", "scope_metrics",
                            sizeof(struct km_otlp_scope_metrics), scope_metrics, &rm->attrs,
                            &rm->nattrs, &v, &rm->nscopes, total);

    rm->scopes = v;
    return rc;
}

/* A whole Export*ServiceRequest: its resources (field 1, `kids`) decoded by fn into the
 * arena. */
static int decode_root(struct km_arena *a, const void *body, size_t n, const char *what,
                       const char *kids, size_t kid_size, child_fn fn, void **v, size_t *nv,
                       size_t *total)
{
    struct dec d = { .a = a };
    int rc;

    km_otlp_arena_init(a, n);
    km_buf_init(&d.json, n + 64);
    rc = children(&d, body, n, 1, what, kids, kid_size, fn, v, nv, total);
    km_buf_fini(&d.json);
    return rc;
}

int km_otlp_metrics_decode_pb(struct km_otlp_metrics_req *r, const void *body, size_t n)
{
    void *v = NULL;
    int rc = decode_root(&r->arena, body, n, "ExportMetricsServiceRequest", "resource_metrics",
                         sizeof(struct km_otlp_resource_metrics), resource_metrics, &v,
                         &r->nresources, &r->npoints);

    r->resources = v;
    return rc;
}

/* ---- logs ---------------------------------------------------------------------------------- */

static int log_record(struct dec *d, const uint8_t *p, size_t n, void *elem, size_t *total)
{
    static const char *where = "LogRecord";
    struct km_otlp_log *l = elem;
    struct km_pb_field f, body = { 0 };
    uint64_t v;
    int rc = 0;

    l->severity_text = l->trace_id = l->span_id = "";
    l->body = "";
    FOR_FIELDS(p, n, f, where, rc)
    {
        if (f.num == 1) {
            rc = fixed64(&f, where, "time_unix_nano", &l->time_ns);
        } else if (f.num == 11) {
            rc = fixed64(&f, where, "observed_time_unix_nano", &l->observed_ns);
        } else if (f.num == 2) {
            if ((rc = uvarint(&f, where, "severity_number", &v)) == 0)
                l->severity_number = (int32_t)v;
        } else if (f.num == 3) {
            rc = str(d, &f, where, "severity_text", &l->severity_text);
        } else if (f.num == 5) {
            rc = km_pb_expect(&f, KM_PB_LEN, where, "body");
            body = f;
        } else if (f.num == 9 || f.num == 10) {
            const char **id = f.num == 9 ? &l->trace_id : &l->span_id;

            rc = km_pb_expect(&f, KM_PB_LEN, where, f.num == 9 ? "trace_id" : "span_id");
            if (rc == 0 && !(*id = km_otlp_hex(d->a, f.val, f.len)))
                rc = KM_ELIMIT;
        }
        if (rc)
            return rc;
    }
    if (rc == 0 && body.num)
        rc = any_text(d, body.val, body.len, &l->body, &l->body_len);
    if (rc == 0)
        rc = attrs(d, p, n, 6, where, &l->attrs, &l->nattrs);
    (*total)++;
    return rc;
}

static int scope_logs(struct dec *d, const uint8_t *p, size_t n, void *elem, size_t *total)
{
    struct km_otlp_scope_logs *sl = elem;
    void *v = NULL;
    int rc = scope_level(d, p, n, "ScopeLogs", "log_records", sizeof(struct km_otlp_log),
                         log_record, &sl->scope, &v, &sl->nlogs, total);

    sl->logs = v;
    return rc;
}

static int resource_logs(struct dec *d, const uint8_t *p, size_t n, void *elem, size_t *total)
{
    struct km_otlp_resource_logs *rl = elem;
    void *v = NULL;
    int rc =
        resource_level(d, p, n, "ResourceLogs", "scope_logs", sizeof(struct km_otlp_scope_logs),
                       scope_logs, &rl->attrs, &rl->nattrs, &v, &rl->nscopes, total);

    rl->scopes = v;
    return rc;
}

int km_otlp_logs_decode_pb(struct km_otlp_logs_req *r, const void *body, size_t n)
{
    void *v = NULL;
    int rc = decode_root(&r->arena, body, n, "ExportLogsServiceRequest", "resource_logs",
                         sizeof(struct km_otlp_resource_logs), resource_logs, &v, &r->nresources,
                         &r->nlogs);

    r->resources = v;
    return rc;
}
