/*
 * watch — the watch-event stream's line splitter (see watch.h).
 */
#include "watch.h"

#include "common/array.h"
#include "common/err.h"

#include <stdlib.h>
#include <string.h>

static const char *str_at(const json_t *o, const char *key)
{
    const json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;

    return json_is_string(v) ? json_string_value(v) : NULL;
}

void km_watch_stream_init(struct km_watch_stream *s, size_t max_event)
{
    memset(s, 0, sizeof(*s));
    s->max = max_event;
}

void km_watch_stream_reset(struct km_watch_stream *s)
{
    s->len = 0;
}

void km_watch_stream_fini(struct km_watch_stream *s)
{
    free(s->buf);
    memset(s, 0, sizeof(*s));
}

static int event(struct km_watch_stream *s, const char *line, size_t n, km_watch_fn fn, void *ud)
{
    static const char *const types[] = { "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR" };
    json_error_t je;
    json_t *ev;
    const char *type;
    const json_t *obj;
    int rc = KM_EINVAL;

    while (n && (line[n - 1] == '\r' || line[n - 1] == ' '))
        n--;
    if (n == 0)
        return 0; /* a keep-alive blank line */
    ev = json_loadb(line, n, JSON_REJECT_DUPLICATES, &je);
    if (!ev) {
        s->bad_events++;
        return km_err_set(KM_EINVAL, "a watch event that is not JSON: %s", je.text);
    }
    type = str_at(ev, "type");
    obj = json_object_get(ev, "object");
    for (int t = 0; type && json_is_object(obj) && t < 5; t++) {
        if (strcmp(type, types[t]) == 0) {
            s->events++;
            rc = fn(ud, (enum km_watch_type)t, obj);
            break;
        }
    }
    if (rc == KM_EINVAL) {
        s->bad_events++;
        km_err_set(KM_EINVAL, "a watch event without a known type and an object");
    }
    json_decref(ev);
    return rc;
}

int km_watch_stream_feed(struct km_watch_stream *s, const char *data, size_t n, km_watch_fn fn,
                         void *ud)
{
    while (n) {
        const char *nl = memchr(data, '\n', n);
        size_t take = nl ? (size_t)(nl - data) : n;
        int rc;

        if (s->len + take > s->max)
            return km_err_set(KM_ELIMIT, "a watch event longer than %zu bytes", s->max);
        if (nl && s->len == 0) {
            /* The whole line is in this chunk: no copy. */
            rc = event(s, data, take, fn, ud);
        } else {
            rc = km_array_grow((void **)&s->buf, &s->cap, s->len + take + 1, 1, 4096,
                               "reading a watch stream");
            if (rc)
                return rc;
            memcpy(s->buf + s->len, data, take);
            s->len += take;
            rc = 0;
            if (nl) {
                rc = event(s, s->buf, s->len, fn, ud);
                s->len = 0;
            }
        }
        if (rc)
            return rc;
        if (!nl)
            break;
        data = nl + 1;
        n -= take + 1;
    }
    return 0;
}
