/*
 * loki_push_json — the JSON form of Loki's push API (loki_push.h), read with jansson:
 *
 *   {"streams": [{"stream": {"app": "x"},
 *                 "values": [["1700000000000000000", "line", {"trace_id": "…"}], …]}]}
 *
 * and Loki's older form, which some clients still send:
 *
 *   {"streams": [{"labels": "{app=\"x\"}",
 *                 "entries": [{"ts": "2018-12-18T08:28:06.801064-04:00", "line": "…"}]}]}
 *
 * A value's timestamp is a string of nanoseconds (an integer number is taken too); the
 * optional third element (structured metadata) must be an object of strings and is
 * dropped. Lines may hold any character, NUL included (\u0000).
 */
#include "loki_push.h"
#include "loki_push_internal.h"

#include "common/err.h"
#include "common/timefmt.h"

#include <jansson.h>
#include <string.h>

/* Nanoseconds from a JSON timestamp: a string of decimal digits (an optional sign) as
 * Go's strconv.ParseInt reads, or an integer. */
static int json_ts(const json_t *v, int64_t *ns)
{
    const char *s;
    size_t n, i = 0;
    bool neg = false;
    uint64_t acc = 0;

    if (json_is_integer(v)) {
        *ns = (int64_t)json_integer_value(v);
        return 0;
    }
    if (!json_is_string(v))
        return km_err_set(KM_EINVAL, "the timestamp is not a string of nanoseconds");
    s = json_string_value(v);
    n = json_string_length(v);
    if (n && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == n)
        return km_err_set(KM_EINVAL, "timestamp \"%.*s\" is not a number of nanoseconds",
                          (int)(n > 40 ? 40 : n), s);
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return km_err_set(KM_EINVAL, "timestamp \"%.*s\" is not a number of nanoseconds",
                              (int)(n > 40 ? 40 : n), s);
        if (acc > (UINT64_MAX - 9) / 10)
            return km_err_set(KM_EINVAL, "timestamp \"%.*s\" is out of range",
                              (int)(n > 40 ? 40 : n), s);
        acc = acc * 10 + (uint64_t)(s[i] - '0');
    }
    if ((!neg && acc > (uint64_t)INT64_MAX) || (neg && acc > (uint64_t)INT64_MAX + 1))
        return km_err_set(KM_EINVAL, "timestamp \"%.*s\" is out of range", (int)(n > 40 ? 40 : n),
                          s);
    *ns = neg ? (int64_t)(0 - acc) : (int64_t)acc;
    return 0;
}

static int copy_line(struct km_loki_push *out, const json_t *v, struct km_log_entry *e)
{
    size_t n;
    char *line;

    if (!json_is_string(v))
        return km_err_set(KM_EINVAL, "the line is not a string");
    n = json_string_length(v);
    line = km_arena_alloc(&out->arena, n + 1, 1);
    if (!line)
        return km_err_wrap(KM_ELIMIT, "the request is too large to decode");
    memcpy(line, json_string_value(v), n + 1);
    e->line = line;
    e->len = n;
    out->n_bytes += n;
    return 0;
}

/* The "stream" object's labels. */
static int stream_labels(struct km_loki_push *out, json_t *obj, struct km_log_push_stream *st)
{
    size_t n = json_object_size(obj), k = 0;
    struct km_label *l;
    const char *key;
    json_t *val;

    if (n > KM_LOKI_LIMIT_LABELS)
        return km_err_set(KM_EINVAL, "more than %d labels", KM_LOKI_LIMIT_LABELS);
    l = km_arena_alloc(&out->arena, (n ? n : 1) * sizeof(*l), _Alignof(struct km_label));
    if (!l)
        return km_err_wrap(KM_ELIMIT, "the request is too large to decode");
    json_object_foreach(obj, key, val)
    {
        const char *name, *value;

        if (!json_is_string(val))
            return km_err_set(KM_EINVAL, "the value of label %s is not a string", key);
        if (strlen(json_string_value(val)) != json_string_length(val))
            return km_err_set(KM_EINVAL, "the value of label %s holds a NUL byte", key);
        name = km_arena_strndup(&out->arena, key, strlen(key));
        value = km_arena_strndup(&out->arena, json_string_value(val), json_string_length(val));
        if (!name || !value)
            return km_err_wrap(KM_ELIMIT, "the request is too large to decode");
        l[k].name = name;
        l[k].value = value;
        k++;
    }
    st->labels = l;
    st->n_labels = k;
    return 0;
}

/* One of "values": [timestamp, line] or [timestamp, line, {structured metadata}]. */
static int value_entry(struct km_loki_push *out, json_t *v, struct km_log_entry *e)
{
    size_t len = json_array_size(v);
    int rc;

    if (!json_is_array(v) || len < 2 || len > 3)
        rc = km_err_set(KM_EINVAL, "not an array of a timestamp, a line and optional metadata");
    else
        rc = json_ts(json_array_get(v, 0), &e->ts_ns);
    if (rc == 0)
        rc = copy_line(out, json_array_get(v, 1), e);
    if (rc == 0 && len == 3) {
        json_t *md = json_array_get(v, 2), *mv;
        const char *mk;

        if (!json_is_object(md))
            rc = km_err_set(KM_EINVAL, "the structured metadata is not an object");
        json_object_foreach(md, mk, mv)
        {
            if (rc == 0 && !json_is_string(mv))
                rc = km_err_set(KM_EINVAL, "structured metadata %s is not a string", mk);
        }
    }
    return rc;
}

/* One of the older form's "entries": {"ts": RFC 3339 or nanoseconds, "line": …}. */
static int old_entry(struct km_loki_push *out, json_t *v, struct km_log_entry *e)
{
    json_t *ts = json_object_get(v, "ts");
    int rc;

    if (!json_is_object(v))
        rc = km_err_set(KM_EINVAL, "not an object");
    else if (json_is_string(ts))
        rc = km_time_parse_rfc3339(json_string_value(ts), &e->ts_ns);
    else if (json_is_integer(ts))
        rc = json_ts(ts, &e->ts_ns);
    else
        rc = km_err_set(KM_EINVAL, "\"ts\" is missing or not a string");
    if (rc == 0)
        rc = copy_line(out, json_object_get(v, "line"), e);
    return rc;
}

/* st's entries from the array arr, each read by one (errors name `what` and its place). */
static int read_entries(struct km_loki_push *out, json_t *arr,
                        int (*one)(struct km_loki_push *, json_t *, struct km_log_entry *),
                        const char *what, struct km_log_push_stream *st)
{
    size_t n = json_array_size(arr), i;
    struct km_log_entry *e;
    json_t *v;
    int rc;

    e = km_arena_alloc(&out->arena, (n ? n : 1) * sizeof(*e), _Alignof(struct km_log_entry));
    if (!e)
        return km_err_wrap(KM_ELIMIT, "the request is too large to decode");
    json_array_foreach(arr, i, v)
    {
        rc = one(out, v, &e[i]);
        if (rc)
            return km_err_wrap(rc, "%s %zu", what, i + 1);
    }
    st->entries = e;
    st->n_entries = n;
    return 0;
}

static int decode_stream(struct km_loki_push *out, json_t *s, struct km_log_push_stream *st)
{
    json_t *labels = json_object_get(s, "stream"), *values = json_object_get(s, "values");
    int rc;

    if (!json_is_object(s))
        return km_err_set(KM_EINVAL, "not an object");
    if (!labels) {
        json_t *ls = json_object_get(s, "labels");
        struct km_label *l;
        size_t nl;

        if (!json_is_string(ls))
            return km_err_set(KM_EINVAL, "no \"stream\" object of labels");
        rc = km_loki_labels_parse(&out->arena, json_string_value(ls), json_string_length(ls), &l,
                                  &nl);
        if (rc)
            return rc;
        st->labels = l;
        st->n_labels = nl;
    } else if (!json_is_object(labels)) {
        return km_err_set(KM_EINVAL, "\"stream\" is not an object of labels");
    } else if ((rc = stream_labels(out, labels, st)) != 0) {
        return rc;
    }
    if (values) {
        if (!json_is_array(values))
            return km_err_set(KM_EINVAL, "\"values\" is not an array");
        return read_entries(out, values, value_entry, "value", st);
    }
    values = json_object_get(s, "entries");
    if (values && !json_is_array(values))
        return km_err_set(KM_EINVAL, "\"entries\" is not an array");
    if (values)
        return read_entries(out, values, old_entry, "entry", st);
    return km_err_set(KM_EINVAL, "no \"values\" array");
}

int km_loki_push_decode_json(struct km_loki_push *out, const char *body, size_t len)
{
    struct km_log_push_stream *st;
    json_error_t jerr;
    json_t *root, *streams, *s;
    size_t i, n;
    int rc = 0;

    km_loki_push_reset(out, len);
    root = json_loadb(body, len, JSON_ALLOW_NUL, &jerr);
    if (!root)
        return km_err_set(KM_EINVAL, "the body is not JSON: %s (line %d, column %d)", jerr.text,
                          jerr.line, jerr.column);
    if (!json_is_object(root)) {
        rc = km_err_set(KM_EINVAL, "the body is not a JSON object");
        goto out_root;
    }
    streams = json_object_get(root, "streams");
    if (!json_is_array(streams)) {
        rc = km_err_set(KM_EINVAL, "the body has no \"streams\" array");
        goto out_root;
    }
    n = json_array_size(streams);
    if (n == 0)
        goto out_root;
    st = km_arena_alloc(&out->arena, n * sizeof(*st), _Alignof(struct km_log_push_stream));
    if (!st) {
        rc = km_err_wrap(KM_ELIMIT, "the request is too large to decode");
        goto out_root;
    }
    memset(st, 0, n * sizeof(*st));
    json_array_foreach(streams, i, s)
    {
        rc = decode_stream(out, s, &st[i]);
        if (rc) {
            rc = km_err_wrap(rc, "stream %zu", i + 1);
            out->n_entries = out->n_bytes = 0;
            goto out_root;
        }
        out->n_entries += st[i].n_entries;
    }
    out->streams = st;
    out->n_streams = n;
out_root:
    json_decref(root);
    return rc;
}
