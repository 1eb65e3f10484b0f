/*
 * events_decode — an Event object read into its observation, and the observation's
 * logfmt line and stream labels (see events.h). Pure functions of their input; nothing
 * here allocates but the caller's buffer.
 *
 * An events.k8s.io/v1 Event as the API serves it (core/v1 names in brackets, which the
 * decoder also reads, so a core Event decodes the same):
 *   metadata.uid, metadata.namespace, metadata.creationTimestamp
 *   regarding [involvedObject]: kind, namespace, name, fieldPath
 *   reason, type, action, note [message]
 *   reportingController [source.component; deprecatedSource.component]
 *   reportingInstance   [source.host;      deprecatedSource.host]
 *   eventTime (MicroTime, null for core-created Events)
 *   series: {count, lastObservedTime} (set once an Event repeats, by new clients)
 *   deprecatedCount [count], deprecatedFirstTimestamp [firstTimestamp],
 *   deprecatedLastTimestamp [lastTimestamp] (what core/v1 clients set: old kubelets,
 *   controllers using the core API)
 */
#include "events.h"

#include "common/err.h"
#include "common/timefmt.h"

#include <string.h>
#include <xxhash.h>

static const char *str(const json_t *o, const char *key)
{
    const json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;

    return s && *s ? s : NULL;
}

/* The first of two keys present (events.k8s.io/v1's name, then core/v1's). */
static const char *str2(const json_t *o, const char *key, const char *key2)
{
    const char *s = str(o, key);

    return s ? s : str(o, key2);
}

static const json_t *obj2(const json_t *o, const char *key, const char *key2)
{
    const json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;

    if (!json_is_object(v) && json_is_object(o))
        v = json_object_get(o, key2);
    return json_is_object(v) ? v : NULL;
}

static int64_t count_of(const json_t *o, const char *key)
{
    const json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;

    return json_is_integer(v) && json_integer_value(v) > 0 ? (int64_t)json_integer_value(v) : 0;
}

/* The time in o[key] (RFC 3339, with or without a fraction), or false. */
static bool time_of(const json_t *o, const char *key, int64_t *ns)
{
    const char *s = str(o, key);

    return s && km_time_parse_rfc3339(s, ns) == 0;
}

int km_kevents_decode(struct km_kevent *out, const json_t *obj)
{
    const json_t *meta, *reg, *series, *src;
    struct km_kevent ev = { 0 };
    int64_t ns;

    if (!json_is_object(obj))
        return km_err_set(KM_EINVAL, "an Event that is not an object");
    meta = json_object_get(obj, "metadata");
    ev.uid = str(meta, "uid");
    if (!ev.uid)
        return km_err_set(KM_EINVAL, "an Event without metadata.uid");
    ev.ns = str(meta, "namespace");
    reg = obj2(obj, "regarding", "involvedObject");
    ev.kind = str(reg, "kind");
    ev.name = str(reg, "name");
    ev.obj_ns = str(reg, "namespace");
    ev.field_path = str(reg, "fieldPath");
    ev.reason = str(obj, "reason");
    ev.type = str(obj, "type");
    ev.action = str(obj, "action");
    ev.note = str2(obj, "note", "message");
    src = obj2(obj, "deprecatedSource", "source");
    ev.controller = str(obj, "reportingController");
    if (!ev.controller)
        ev.controller = str2(src, "component", "reportingComponent");
    ev.instance = str(obj, "reportingInstance");
    if (!ev.instance)
        ev.instance = str(src, "host");
    series = json_object_get(obj, "series");
    ev.count = count_of(series, "count");
    if (!ev.count)
        ev.count = count_of(obj, "deprecatedCount");
    if (!ev.count)
        ev.count = count_of(obj, "count");
    if (!ev.count)
        ev.count = 1;
    if (time_of(series, "lastObservedTime", &ns) || time_of(obj, "deprecatedLastTimestamp", &ns) ||
        time_of(obj, "lastTimestamp", &ns) || time_of(obj, "eventTime", &ns) ||
        time_of(obj, "deprecatedFirstTimestamp", &ns) || time_of(obj, "firstTimestamp", &ns) ||
        time_of(meta, "creationTimestamp", &ns))
        ev.ts_ns = ns;
    else
        return km_err_set(KM_EINVAL, "the Event %.64s has no time", ev.uid);
    *out = ev;
    return 0;
}

uint64_t km_kevents_key(const char *uid)
{
    return XXH3_64bits(uid, strlen(uid));
}

/* ---- logfmt -------------------------------------------------------------------------- */

/* The length of s cut to at most max bytes, on a UTF-8 character boundary. */
static size_t cut_len(const char *s, size_t max, bool *cut)
{
    size_t n = strnlen(s, max + 1);

    *cut = n > max;
    if (!*cut)
        return n;
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--; /* s[n] continues a character: cut before the character */
    return n;
}

/* The bytes one byte of a value takes once written (put_value's escapes). */
static size_t esc_len(unsigned char c)
{
    if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t')
        return 2;
    return c < ' ' ? 6 : 1;
}

/* How many bytes of s fit in `budget` bytes once escaped, cut on a UTF-8 character
 * boundary; *cut says whether s was cut. */
static size_t fit_len(const char *s, size_t budget, bool *cut)
{
    size_t i = 0, out = 0;

    for (; s[i]; i++) {
        size_t e = esc_len((unsigned char)s[i]);

        if (out + e > budget)
            break;
        out += e;
    }
    *cut = s[i] != '\0';
    while (*cut && i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80)
        i--; /* s[i] continues a character: cut before the character */
    return i;
}

/* A value as go-logfmt writes one: bare when it can be, else quoted with \" \\ \n \r \t
 * and \u00XX for other control bytes. Empty is "". */
static void put_value(struct km_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    bool quote = n == 0;
    size_t i, run;

    for (i = 0; i < n && !quote; i++) {
        unsigned char c = (unsigned char)s[i];

        quote = c <= ' ' || c == '=' || c == '"' || c == '\\' || c == 0x7f;
    }
    if (!quote) {
        km_buf_append(b, s, n);
        return;
    }
    km_buf_putc(b, '"');
    for (i = 0; i < n; i = run + 1) {
        unsigned char c;

        for (run = i; run < n; run++) {
            c = (unsigned char)s[run];
            if (c < ' ' || c == '"' || c == '\\')
                break;
        }
        km_buf_append(b, s + i, run - i);
        if (run == n)
            break;
        c = (unsigned char)s[run];
        switch (c) {
        case '"':
            km_buf_puts(b, "\\\"");
            break;
        case '\\':
            km_buf_puts(b, "\\\\");
            break;
        case '\n':
            km_buf_puts(b, "\\n");
            break;
        case '\r':
            km_buf_puts(b, "\\r");
            break;
        case '\t':
            km_buf_puts(b, "\\t");
            break;
        default: {
            char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

            km_buf_append(b, u, sizeof(u));
        }
        }
    }
    km_buf_putc(b, '"');
}

static void put_kv(struct km_buf *b, bool *first, const char *key, const char *v)
{
    bool cut;

    if (!v)
        return;
    if (!*first)
        km_buf_putc(b, ' ');
    *first = false;
    km_buf_puts(b, key);
    km_buf_putc(b, '=');
    put_value(b, v, fit_len(v, KM_KEVENTS_MAX_VALUE, &cut));
}

int km_kevents_line(struct km_buf *b, const struct km_kevent *ev)
{
    const char *note = ev->note ? ev->note : "";
    bool first = true, cut;
    size_t n;

    put_kv(b, &first, "type", ev->type);
    put_kv(b, &first, "reason", ev->reason);
    put_kv(b, &first, "kind", ev->kind);
    put_kv(b, &first, "name", ev->name);
    put_kv(b, &first, "namespace", ev->obj_ns ? ev->obj_ns : ev->ns);
    put_kv(b, &first, "fieldPath", ev->field_path);
    km_buf_puts(b, first ? "count=" : " count=");
    km_buf_put_i64(b, (long long)ev->count);
    first = false;
    put_kv(b, &first, "reportingController", ev->controller);
    put_kv(b, &first, "reportingInstance", ev->instance);
    put_kv(b, &first, "action", ev->action);
    km_buf_puts(b, " msg=");
    n = fit_len(note, KM_KEVENTS_MAX_NOTE, &cut);
    put_value(b, note, n);
    if (cut)
        km_buf_puts(b, " truncated=true");
    return km_buf_error(b);
}

/* ---- labels -------------------------------------------------------------------------- */

static void label(struct km_label *l, size_t *n, char **scratch, const char *name, const char *v)
{
    bool cut;
    size_t len;

    if (!v || !*v)
        return;
    len = cut_len(v, KM_KEVENTS_MAX_VALUE, &cut);
    if (cut) {
        memcpy(*scratch, v, len);
        (*scratch)[len] = '\0';
        v = *scratch;
        *scratch += len + 1;
    }
    l[*n].name = name;
    l[*n].value = v;
    (*n)++;
}

size_t km_kevents_labels(struct km_label *l, char *scratch, const struct km_kevent *ev,
                         const char *cluster)
{
    size_t n = 0;

    label(l, &n, &scratch, "source", "kubernetes-events");
    label(l, &n, &scratch, "cluster", cluster);
    label(l, &n, &scratch, "namespace", ev->obj_ns ? ev->obj_ns : ev->ns);
    label(l, &n, &scratch, "kind", ev->kind);
    label(l, &n, &scratch, "name", ev->name);
    label(l, &n, &scratch, "reason", ev->reason);
    label(l, &n, &scratch, "type", ev->type);
    return n;
}
