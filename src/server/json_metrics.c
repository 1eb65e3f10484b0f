/*
 * json_metrics — the prototype's metrics documents, parsed with jansson (see
 * json_metrics.h).
 */
#include "json_metrics.h"

#include "common/err.h"
#include "common/timefmt.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int fail(char *err, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t size, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, size, fmt, ap);
    va_end(ap);
    return KM_EINVAL;
}

static int get_string(json_t *doc, const char *key, const char **out, char *err, size_t size)
{
    json_t *v = json_object_get(doc, key);

    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || json_string_length(v) == 0)
        return fail(err, size, "\"%s\" must be a non-empty string", key);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return fail(err, size, "\"%s\" contains a NUL character", key);
    *out = json_string_value(v);
    return 0;
}

static int get_number(json_t *obj, const char *key, const char *where, bool *has, double *out,
                      char *err, size_t size)
{
    json_t *v = json_object_get(obj, key);
    double d;

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v))
        return fail(err, size, "%s%s\"%s\" must be a number", where, where[0] ? " " : "", key);
    d = json_number_value(v);
    if (!isfinite(d) || d < 0)
        return fail(err, size, "%s%s\"%s\" must be a finite number, not negative", where,
                    where[0] ? " " : "", key);
    *has = true;
    *out = d;
    return 0;
}

static int get_pair(json_t *doc, const char *key, const char *a, const char *b,
                    struct km_json_metrics *m, int fa, int fb, char *err, size_t size)
{
    json_t *o = json_object_get(doc, key);
    char where[48];
    int rc;

    if (!o || json_is_null(o))
        return 0;
    if (!json_is_object(o))
        return fail(err, size, "\"%s\" must be an object like {\"%s\": 0, \"%s\": 0}", key, a, b);
    snprintf(where, sizeof(where), "in \"%s\",", key);
    rc = get_number(o, a, where, &m->has[fa], &m->v[fa], err, size);
    if (rc == 0)
        rc = get_number(o, b, where, &m->has[fb], &m->v[fb], err, size);
    return rc;
}

/* Any time a millisecond clock can hold parses: whether the server takes it (the future
 * bound, the retention) is the database's decision, with its own message. */
static int get_time(json_t *doc, int64_t now_ms, int64_t *out, char *err, size_t size)
{
    json_t *v = json_object_get(doc, "timestamp");

    *out = now_ms;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_number(v)) {
        double s = json_number_value(v);

        if (!isfinite(s) || s < -9e15 || s > 9e15)
            return fail(err, size, "\"timestamp\" in seconds is out of range");
        *out = (int64_t)llround(s * 1000.0);
        return 0;
    }
    if (!json_is_string(v))
        return fail(err, size,
                    "\"timestamp\" must be an RFC 3339 string or seconds since the "
                    "epoch");
    if (km_time_parse_rfc3339_ms(json_string_value(v), out) != 0)
        return fail(err, size, "%s", km_err_msg());
    return 0;
}

int km_json_metrics_parse(const char *body, size_t len, int64_t now_ms, struct km_json_metrics *out,
                          char *err, size_t size)
{
    json_error_t je;
    json_t *doc;
    int rc;
    bool any = false;

    memset(out, 0, sizeof(*out));
    if (len == 0)
        return fail(err, size, "empty body: expected a JSON object");
    doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc)
        return fail(err, size, "malformed JSON at line %d, column %d: %s", je.line, je.column,
                    je.text);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return fail(err, size, "the body must be a JSON object");
    }
    rc = get_string(doc, "node_name", &out->node, err, size);
    if (rc == 0)
        rc = get_string(doc, "namespace", &out->namespace, err, size);
    if (rc == 0)
        rc = get_string(doc, "pod_name", &out->pod, err, size);
    if (rc == 0)
        rc = get_string(doc, "cluster", &out->cluster, err, size);
    if (rc == 0)
        rc = get_string(doc, "deployment", &out->deployment, err, size);
    if (rc == 0)
        rc = get_number(doc, "cpu_millicores", "", &out->has[KM_JM_CPU_MILLICORES],
                        &out->v[KM_JM_CPU_MILLICORES], err, size);
    if (rc == 0)
        rc = get_number(doc, "memory_bytes", "", &out->has[KM_JM_MEMORY_BYTES],
                        &out->v[KM_JM_MEMORY_BYTES], err, size);
    if (rc == 0)
        rc = get_pair(doc, "disk_io", "read_bytes", "write_bytes", out, KM_JM_DISK_READ_BYTES,
                      KM_JM_DISK_WRITE_BYTES, err, size);
    if (rc == 0)
        rc = get_pair(doc, "network_io", "bytes_recv", "bytes_sent", out, KM_JM_NET_RECV_BYTES,
                      KM_JM_NET_SENT_BYTES, err, size);
    if (rc == 0)
        rc = get_time(doc, now_ms, &out->t_ms, err, size);
    for (int i = 0; i < KM_JM_COUNT; i++)
        any = any || out->has[i];
    if (rc == 0 && !any)
        rc = fail(err, size,
                  "no figures in the body: expected cpu_millicores, memory_bytes, disk_io or "
                  "network_io");
    if (rc) {
        json_decref(doc);
        memset(out, 0, sizeof(*out));
        return rc;
    }
    out->doc = doc;
    return 0;
}

void km_json_metrics_fini(struct km_json_metrics *m)
{
    json_decref(m->doc);
    memset(m, 0, sizeof(*m));
}
