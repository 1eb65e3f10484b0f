/*
 * query_decode — an answer of the Prometheus HTTP API read back into the evaluator's
 * result type (see query.h), so that what a server answers prints exactly as what the
 * engine computes here. jansson parses; times become milliseconds again (the API writes
 * seconds with at most three decimals) and values doubles (the API writes Go's shortest
 * form that reads back to the same double, so formatting them again gives the same text).
 */
#include "query/query.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/labels.h"
#include "common/limits.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int bad(const char *what)
{
    return km_err_set(KM_ECORRUPT, "not an answer of the Prometheus API: %s", what);
}

static int read_time(const json_t *j, int64_t *ms)
{
    double sec;

    if (!json_is_number(j))
        return bad("a time that is not a number");
    sec = json_number_value(j);
    if (!isfinite(sec) || fabs(sec) > 9.2e15)
        return bad("a time out of range");
    *ms = (int64_t)llround(sec * 1000);
    return 0;
}

static int read_value(const json_t *j, double *v)
{
    const char *s = json_string_value(j);
    char *end;

    if (!s || !*s)
        return bad("a sample value that is not a number in a string");
    *v = strtod(s, &end);
    if (*end)
        return bad("a sample value that is not a number in a string");
    return 0;
}

/* [<time>, "<value>"] */
static int read_point(const json_t *p, int64_t *t, double *v)
{
    int rc;

    if (!json_is_array(p) || json_array_size(p) != 2)
        return bad("a sample that is not [time, \"value\"]");
    rc = read_time(json_array_get(p, 0), t);
    return rc ? rc : read_value(json_array_get(p, 1), v);
}

/* A series object's "metric" as an owned label set; refuses native histograms. */
static int read_series_labels(const json_t *series, struct km_labels **out)
{
    struct km_label v[KM_LIMIT_LABELS_PER_SERIES];
    const json_t *metric = json_object_get(series, "metric"), *val;
    const char *key;
    size_t n = 0;

    if (json_object_get(series, "histogram") || json_object_get(series, "histograms"))
        return km_err_set(KM_EINVAL, "the answer holds native histograms, which kmon query "
                                     "does not show (ask the API itself, e.g. with curl)");
    if (!json_is_object(metric))
        return bad("a series without \"metric\"");
    if (json_object_size(metric) > KM_LIMIT_LABELS_PER_SERIES)
        return bad("a series with too many labels");
    json_object_foreach((json_t *)metric, key, val)
    {
        if (!json_is_string(val))
            return bad("a label value that is not a string");
        v[n++] = (struct km_label){ key, json_string_value(val) };
    }
    if (km_labels_create(out, v, n) != 0)
        return km_err_wrap(KM_ECORRUPT, "the answer holds a bad label set");
    return 0;
}

static int read_vector(const json_t *result, struct km_pq_result *r)
{
    size_t i;
    const json_t *item;

    r->grid = (struct km_pq_grid){ 0, 1, 1 };
    km_pq_vec_init(&r->vec, 1);
    json_array_foreach(result, i, item)
    {
        struct km_labels *l;
        struct km_pq_series *s;
        int64_t t = 0;
        double v = 0;
        int rc = read_series_labels(item, &l);

        if (rc)
            return rc;
        rc = read_point(json_object_get(item, "value"), &t, &v);
        if (rc == 0 && i > 0 && t != r->grid.start)
            rc = bad("a vector with samples at different times");
        if (rc) {
            km_labels_destroy(l);
            return rc;
        }
        r->grid.start = t;
        rc = km_pq_vec_add(&r->vec, l, &s);
        if (rc == 0)
            rc = km_pq_set(&r->vec, NULL, s, 0, v);
        if (rc)
            return rc;
    }
    return 0;
}

/* A matrix, in the raw-samples form (which prints as a range query's would). */
static int read_matrix(const json_t *result, struct km_pq_result *r)
{
    size_t i, k;
    const json_t *item, *p;

    r->range_form = true;
    json_array_foreach(result, i, item)
    {
        const json_t *values = json_object_get(item, "values");
        struct km_labels *l;
        struct km_pq_rseries *s = NULL;
        int rc = read_series_labels(item, &l);

        if (rc)
            return rc;
        if (!json_is_array(values)) {
            km_labels_destroy(l);
            return bad("a series of a matrix without \"values\"");
        }
        rc = km_pq_range_add(&r->range, l, &s);
        json_array_foreach(values, k, p)
        {
            int64_t t = 0;
            double v = 0;

            if (rc == 0)
                rc = read_point(p, &t, &v);
            if (rc == 0)
                rc = km_pq_rseries_push(&r->range, NULL, s, t, v);
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int read_scalar_or_string(const json_t *result, struct km_pq_result *r)
{
    int64_t t = 0;
    int rc;

    if (!json_is_array(result) || json_array_size(result) != 2)
        return bad("a scalar or string that is not [time, \"value\"]");
    rc = read_time(json_array_get(result, 0), &t);
    if (rc)
        return rc;
    r->grid = (struct km_pq_grid){ t, 1, 1 };
    if (r->type == KM_PQ_RESULT_STRING) {
        const char *s = json_string_value(json_array_get(result, 1));

        if (!s)
            return bad("a string result that is not a string");
        r->string = strdup(s);
        return r->string ? 0 : km_err_set(KM_ENOMEM, "out of memory");
    }
    r->scalar = malloc(sizeof(double));
    if (!r->scalar)
        return km_err_set(KM_ENOMEM, "out of memory");
    return read_value(json_array_get(result, 1), r->scalar);
}

static int read_data(const json_t *data, struct km_pq_result *r)
{
    static const char *const types[] = { [KM_PQ_RESULT_SCALAR] = "scalar",
                                         [KM_PQ_RESULT_STRING] = "string",
                                         [KM_PQ_RESULT_VECTOR] = "vector",
                                         [KM_PQ_RESULT_MATRIX] = "matrix" };
    const char *type = json_string_value(json_object_get(data, "resultType"));
    const json_t *result = json_object_get(data, "result");
    size_t t = 0;

    while (type && t < sizeof(types) / sizeof(types[0]) && strcmp(type, types[t]) != 0)
        t++;
    if (!type || t == sizeof(types) / sizeof(types[0]))
        return bad("no known \"resultType\" in \"data\"");
    r->type = (enum km_pq_result_type)t;
    if (r->type == KM_PQ_RESULT_SCALAR || r->type == KM_PQ_RESULT_STRING)
        return read_scalar_or_string(result, r);
    if (!json_is_array(result))
        return bad("a \"result\" that is not a list");
    return r->type == KM_PQ_RESULT_VECTOR ? read_vector(result, r) : read_matrix(result, r);
}

/* The API's error as ours: its message (without the instant query's parameter name, which
 * means nothing at a shell) and a code by its errorType. */
static int read_error(const json_t *root)
{
    static const char param[] = "invalid parameter \"query\": ";
    const char *type = json_string_value(json_object_get(root, "errorType"));
    const char *msg = json_string_value(json_object_get(root, "error"));
    int code = KM_EINVAL;

    if (!type || !msg)
        return bad("an error without \"errorType\" and \"error\"");
    if (strncmp(msg, param, sizeof(param) - 1) == 0)
        msg += sizeof(param) - 1;
    if (strcmp(type, "timeout") == 0)
        code = KM_ETIMEDOUT;
    else if (strcmp(type, "canceled") == 0)
        code = KM_ECANCELED;
    else if (strcmp(type, "internal") == 0 || strcmp(type, "unavailable") == 0)
        code = KM_EIO;
    return km_err_set(code, "%s", msg);
}

/* "warnings": ["…", …] joined with newlines. */
static int read_warnings(const json_t *root, char **out)
{
    const json_t *w = json_object_get(root, "warnings"), *item;
    struct km_buf b;
    size_t i;

    if (!json_is_array(w) || json_array_size(w) == 0)
        return 0;
    km_buf_init(&b, 0);
    json_array_foreach(w, i, item)
    {
        if (b.len)
            km_buf_putc(&b, '\n');
        km_buf_puts(&b, json_is_string(item) ? json_string_value(item) : "(not a string)");
    }
    if (km_buf_error(&b)) {
        km_buf_fini(&b);
        return km_err_set(KM_ENOMEM, "out of memory reading the warnings");
    }
    *out = km_buf_detach(&b, NULL);
    return 0;
}

int km_query_decode(const char *body, size_t len, struct km_query_answer *out)
{
    json_error_t je;
    json_t *root;
    const char *status;
    int rc;

    memset(out, 0, sizeof(*out));
    root = json_loadb(body, len, 0, &je);
    if (!root)
        return km_err_set(KM_ECORRUPT, "not JSON: %s", je.text);
    status = json_string_value(json_object_get(root, "status"));
    if (status && strcmp(status, "error") == 0)
        rc = read_error(root);
    else if (status && strcmp(status, "success") == 0 &&
             json_is_object(json_object_get(root, "data")))
        rc = read_data(json_object_get(root, "data"), &out->r);
    else if (!status && json_is_string(json_object_get(root, "error")))
        rc = km_err_set(KM_ECORRUPT, "%s", json_string_value(json_object_get(root, "error")));
    else
        rc = bad("no \"status\" of success with \"data\", nor of error");
    if (rc == 0)
        rc = read_warnings(root, &out->warnings);
    if (rc)
        km_query_answer_fini(out);
    json_decref(root);
    return rc;
}

void km_query_answer_fini(struct km_query_answer *a)
{
    km_pq_result_fini(&a->r);
    free(a->warnings);
    a->warnings = NULL;
}
