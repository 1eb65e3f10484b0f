/*
 * query_print — a query's result for people, spreadsheets and scripts (see query.h).
 *
 * table: one line per point, `<series>  <value>  @ <time>`, the series as Prometheus
 *   prints a metric (`up{instance="a:9100", job="node"}`), columns aligned over the whole
 *   result, values as the API writes them, times in RFC 3339 (UTC). A range result is the
 *   same lines grouped by series with a blank line between series, so that grep for a
 *   label finds every point of its series. A scalar or a string is one line.
 * csv: a header, then one row per point: a column per label name (__name__ first, then
 *   by name; empty where a series has no such label), timestamp (seconds, as the API)
 *   and value.
 * json: the API's data object, written by the server's own renderer.
 *
 * Lines are built in a buffer written out as it fills.
 */
#include "common/array.h"
#include "query/query.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/jsonw.h"
#include "common/limits.h"
#include "common/timefmt.h"
#include "promql/fmt.h"
#include "promql/quote.h"
#include "promql/render.h"

#include <stdlib.h>
#include <string.h>

#define FLUSH_AT (1u << 20)

struct out {
    FILE *f;
    struct km_buf b;
    int rc;
};

static void out_flush(struct out *o)
{
    if (o->rc == 0 && km_buf_error(&o->b))
        o->rc = km_err_set(km_buf_error(&o->b) == KM_ENOMEM ? KM_ENOMEM : KM_ELIMIT,
                           "the result is too large to print");
    if (o->rc == 0 && o->b.len && fwrite(o->b.data, 1, o->b.len, o->f) != o->b.len)
        o->rc = km_err_set(KM_EIO, "cannot write the result");
    km_buf_reset(&o->b);
}

static void out_maybe_flush(struct out *o)
{
    if (o->b.len >= FLUSH_AT || km_buf_error(&o->b))
        out_flush(o);
}

bool km_query_result_empty(const struct km_pq_result *r)
{
    if (r->type == KM_PQ_RESULT_VECTOR)
        return r->vec.n == 0;
    if (r->type == KM_PQ_RESULT_MATRIX)
        return r->range_form ? r->range.n == 0 : r->vec.n == 0;
    return false;
}

/* ---- the points of a result, whatever its form ------------------------------------------ */

/* How many series, and series i's labels and points. */
static size_t nseries(const struct km_pq_result *r)
{
    if (r->type == KM_PQ_RESULT_VECTOR || (r->type == KM_PQ_RESULT_MATRIX && !r->range_form))
        return r->vec.n;
    if (r->type == KM_PQ_RESULT_MATRIX)
        return r->range.n;
    return 0;
}

static const struct km_labels *series_labels(const struct km_pq_result *r, size_t i)
{
    return r->range_form ? r->range.s[i].labels : r->vec.s[i].labels;
}

/* Point k of series i: false past the last. Grid series skip their unset steps. */
static bool series_point(const struct km_pq_result *r, size_t i, size_t *k, int64_t *t, double *v)
{
    if (r->range_form) {
        const struct km_pq_rseries *s = &r->range.s[i];

        if (*k >= s->n)
            return false;
        *t = s->t[*k];
        *v = s->v[(*k)++];
        return true;
    }
    for (; *k < r->grid.n; (*k)++) {
        const struct km_pq_series *s = &r->vec.s[i];

        if (km_pq_has(s, *k)) {
            *t = km_pq_grid_time(&r->grid, *k);
            *v = s->v[(*k)++];
            return true;
        }
    }
    return false;
}

/* ---- table -------------------------------------------------------------------------- */

/* A series as Prometheus prints a metric: name{a="x", b="y"}, `up` alone, `{}` empty. */
static void put_series(struct km_buf *b, const struct km_labels *l)
{
    const char *name = km_labels_get(l, KM_METRIC_NAME_LABEL);
    bool first = true;

    if (name)
        km_buf_puts(b, name);
    if (name && l->n == 1)
        return;
    km_buf_putc(b, '{');
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->v[i].name, KM_METRIC_NAME_LABEL) == 0)
            continue;
        if (!first)
            km_buf_puts(b, ", ");
        first = false;
        km_buf_printf(b, "%s=", l->v[i].name);
        km_promql_quote(b, l->v[i].value, strlen(l->v[i].value));
    }
    km_buf_putc(b, '}');
}

/* Characters (not bytes) of UTF-8 text, for alignment. */
static size_t text_width(const char *s, size_t n)
{
    size_t w = 0;

    for (size_t i = 0; i < n; i++)
        w += ((unsigned char)s[i] & 0xC0) != 0x80;
    return w;
}

static void put_padded(struct km_buf *b, const char *s, size_t n, size_t width, bool right)
{
    size_t w = text_width(s, n);

    for (size_t i = w; right && i < width; i++)
        km_buf_putc(b, ' ');
    km_buf_append(b, s, n);
    for (size_t i = w; !right && i < width; i++)
        km_buf_putc(b, ' ');
}

/* RFC 3339 in UTC, milliseconds only when the time has some. */
static void put_time(struct km_buf *b, int64_t ms)
{
    char t[64];

    if (ms < -9000000000000ll || ms > 9000000000000ll)
        km_time_format_ms(t, sizeof(t), ms);
    else
        km_time_format_rfc3339(t, sizeof(t), ms * 1000000, ms % 1000 ? 3 : 0);
    km_buf_puts(b, t);
}

static void put_row(struct km_buf *b, const char *series, size_t series_n, size_t series_w,
                    const char *value, size_t value_n, size_t value_w, int64_t t)
{
    put_padded(b, series, series_n, series_w, false);
    km_buf_puts(b, "  ");
    put_padded(b, value, value_n, value_w, true);
    km_buf_puts(b, "  @ ");
    put_time(b, t);
    km_buf_putc(b, '\n');
}

/* The series column of every series, as one buffer of NUL-separated texts. */
static int series_texts(const struct km_pq_result *r, struct km_buf *names, size_t *offsets,
                        size_t *widths, size_t *max_width)
{
    size_t n = nseries(r);

    *max_width = 0;
    for (size_t i = 0; i < n; i++) {
        offsets[i] = names->len;
        put_series(names, series_labels(r, i));
        widths[i] = text_width(names->data + offsets[i], names->len - offsets[i]);
        if (widths[i] > *max_width)
            *max_width = widths[i];
        km_buf_putc(names, '\0');
    }
    offsets[n] = names->len;
    return km_buf_error(names) ? km_err_set(KM_ENOMEM, "out of memory printing the result") : 0;
}

static void print_table_series(struct out *o, const struct km_pq_result *r)
{
    size_t n = nseries(r), value_w = 0, series_w, *offsets, *widths;
    struct km_buf names;
    char v[KM_PQ_FMT_MAX];

    km_buf_init(&names, KM_LIMIT_QUERY_ANSWER);
    offsets = malloc((n + 1) * sizeof(*offsets));
    widths = malloc((n + 1) * sizeof(*widths));
    if (!offsets || !widths) {
        o->rc = km_err_set(KM_ENOMEM, "out of memory printing the result");
        goto out_free;
    }
    o->rc = series_texts(r, &names, offsets, widths, &series_w);
    for (size_t i = 0; i < n && o->rc == 0; i++) {
        size_t k = 0, len;
        int64_t t;
        double x;

        while (series_point(r, i, &k, &t, &x)) {
            len = text_width(v, km_pq_fmt_value(v, sizeof(v), x));
            value_w = len > value_w ? len : value_w;
        }
    }
    for (size_t i = 0; i < n && o->rc == 0; i++) {
        const char *s = names.data + offsets[i];
        size_t k = 0, sn = offsets[i + 1] - offsets[i] - 1;
        int64_t t;
        double x;

        if (i > 0 && r->type == KM_PQ_RESULT_MATRIX)
            km_buf_putc(&o->b, '\n');
        while (series_point(r, i, &k, &t, &x)) {
            size_t vn = km_pq_fmt_value(v, sizeof(v), x);

            put_row(&o->b, s, sn, series_w, v, vn, value_w, t);
            out_maybe_flush(o);
        }
    }
out_free:
    free(widths);
    free(offsets);
    km_buf_fini(&names);
}

static void print_table(struct out *o, const struct km_pq_result *r)
{
    char v[KM_PQ_FMT_MAX];
    size_t vn;

    switch (r->type) {
    case KM_PQ_RESULT_SCALAR:
        vn = km_pq_fmt_float_f(v, sizeof(v), r->scalar[0]);
        put_row(&o->b, "scalar", 6, 0, v, vn, 0, r->grid.start);
        break;
    case KM_PQ_RESULT_STRING: {
        struct km_buf q;

        km_buf_init(&q, 0);
        km_promql_quote(&q, r->string, strlen(r->string));
        put_row(&o->b, "string", 6, 0, km_buf_cstr(&q), q.len, 0, r->grid.start);
        if (km_buf_error(&q))
            o->rc = km_err_set(KM_ENOMEM, "out of memory printing the result");
        km_buf_fini(&q);
        break;
    }
    default:
        print_table_series(o, r);
    }
}

/* ---- csv ------------------------------------------------------------------------------ */

/* A field, quoted when it holds a comma, a quote or a line break (RFC 4180). */
static void put_csv_field(struct km_buf *b, const char *s)
{
    if (!s[strcspn(s, ",\"\r\n")]) {
        km_buf_puts(b, s);
        return;
    }
    km_buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"')
            km_buf_putc(b, '"');
        km_buf_putc(b, *s);
    }
    km_buf_putc(b, '"');
}

static int cmp_label_names(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    bool xn = strcmp(x, KM_METRIC_NAME_LABEL) == 0, yn = strcmp(y, KM_METRIC_NAME_LABEL) == 0;

    if (xn || yn)
        return yn - xn;
    return strcmp(x, y);
}

/* Every label name of the result, __name__ first, each once (borrowed from the result). */
static int label_columns(const struct km_pq_result *r, const char ***out, size_t *nout)
{
    size_t n = 0, total = 0, ns = nseries(r);
    const char **names;

    for (size_t i = 0; i < ns; i++)
        total += series_labels(r, i)->n;
    names = malloc((total + 1) * sizeof(*names));
    if (!names)
        return km_err_set(KM_ENOMEM, "out of memory printing the result");
    for (size_t i = 0; i < ns; i++) {
        const struct km_labels *l = series_labels(r, i);

        for (size_t k = 0; k < l->n; k++)
            names[n++] = l->v[k].name;
    }
    km_sort(names, n, sizeof(*names), cmp_label_names);
    *nout = 0;
    for (size_t i = 0; i < n; i++) {
        if (*nout == 0 || strcmp(names[*nout - 1], names[i]) != 0)
            names[(*nout)++] = names[i];
    }
    *out = names;
    return 0;
}

static void put_csv_point(struct km_buf *b, int64_t t, const char *value)
{
    char ts[KM_PQ_FMT_MAX];

    km_pq_fmt_time(ts, sizeof(ts), t);
    km_buf_puts(b, ts);
    km_buf_putc(b, ',');
    put_csv_field(b, value);
    km_buf_putc(b, '\n');
}

static void print_csv(struct out *o, const struct km_pq_result *r)
{
    const char **cols = NULL;
    size_t ncols = 0;
    char v[KM_PQ_FMT_MAX];

    if (r->type == KM_PQ_RESULT_SCALAR || r->type == KM_PQ_RESULT_STRING) {
        km_buf_puts(&o->b, "timestamp,value\n");
        if (r->type == KM_PQ_RESULT_SCALAR)
            km_pq_fmt_float_f(v, sizeof(v), r->scalar[0]);
        put_csv_point(&o->b, r->grid.start, r->type == KM_PQ_RESULT_SCALAR ? v : r->string);
        return;
    }
    o->rc = label_columns(r, &cols, &ncols);
    if (o->rc)
        return;
    for (size_t c = 0; c < ncols; c++) {
        put_csv_field(&o->b, cols[c]);
        km_buf_putc(&o->b, ',');
    }
    km_buf_puts(&o->b, "timestamp,value\n");
    for (size_t i = 0; i < nseries(r) && o->rc == 0; i++) {
        const struct km_labels *l = series_labels(r, i);
        size_t k = 0;
        int64_t t;
        double x;

        while (series_point(r, i, &k, &t, &x)) {
            for (size_t c = 0; c < ncols; c++) {
                const char *lv = km_labels_get(l, cols[c]);

                put_csv_field(&o->b, lv ? lv : "");
                km_buf_putc(&o->b, ',');
            }
            km_pq_fmt_value(v, sizeof(v), x);
            put_csv_point(&o->b, t, v);
            out_maybe_flush(o);
        }
    }
    free(cols);
}

/* ---- all ------------------------------------------------------------------------------ */

int km_query_print(FILE *f, const struct km_pq_result *r, enum km_query_output how)
{
    struct out o = { .f = f };

    km_buf_init(&o.b, KM_LIMIT_QUERY_ANSWER);
    if (how == KM_QUERY_OUTPUT_JSON) {
        struct km_jsonw w;

        km_jsonw_init(&w, &o.b);
        km_pq_render_data(&w, r);
        km_buf_putc(&o.b, '\n');
    } else if (how == KM_QUERY_OUTPUT_CSV) {
        print_csv(&o, r);
    } else {
        print_table(&o, r);
    }
    out_flush(&o);
    if (o.rc == 0 && fflush(f) != 0)
        o.rc = km_err_set(KM_EIO, "cannot write the result");
    km_buf_fini(&o.b);
    return o.rc;
}
