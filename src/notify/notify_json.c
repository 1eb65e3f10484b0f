/*
 * notify_json — the request bodies: Alertmanager's API v2 PostableAlerts array and the
 * generic webhook object wrapped around the same alert objects (see notify.h for their
 * shapes). Written with the repo's streaming JSON writer; pure functions of their
 * arguments, used by the sender thread only.
 */
#include "notify/notify_internal.h"

#include "common/jsonw.h"
#include "common/timefmt.h"

#include <stdbool.h>

/* What RFC 3339 can say with four-digit years (km_time_format_ms writes other text
 * outside them): 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z. */
#define TIME_MIN_MS (-62167219200000ll)
#define TIME_MAX_MS (253402300799999ll)

static void put_labels(struct km_jsonw *w, const struct km_labels *l)
{
    km_jsonw_obj_begin(w);
    for (size_t i = 0; l && i < l->n; i++) {
        km_jsonw_key(w, l->v[i].name);
        km_jsonw_str(w, l->v[i].value);
    }
    km_jsonw_obj_end(w);
}

static void put_time(struct km_jsonw *w, const char *key, int64_t ms)
{
    char text[64];

    if (!ms)
        return; /* unset */
    if (ms < TIME_MIN_MS)
        ms = TIME_MIN_MS;
    if (ms > TIME_MAX_MS)
        ms = TIME_MAX_MS;
    km_jsonw_key(w, key);
    km_jsonw_str(w, km_time_format_ms(text, sizeof(text), ms));
}

static bool resolved(const struct km_notify_alert *a, int64_t now_ms)
{
    /* As Prometheus' Alert.ResolvedAt: an end that is set and not after now. */
    return a->ends_at_ms != 0 && a->ends_at_ms <= now_ms;
}

/* One alert object; with status (the webhook's), "status" comes first. */
static void put_alert(struct km_jsonw *w, const struct km_notify_alert *a, const char *status)
{
    km_jsonw_obj_begin(w);
    if (status) {
        km_jsonw_key(w, "status");
        km_jsonw_str(w, status);
    }
    km_jsonw_key(w, "labels");
    put_labels(w, a->labels);
    if (a->annotations && a->annotations->n) {
        km_jsonw_key(w, "annotations");
        put_labels(w, a->annotations);
    }
    put_time(w, "startsAt", a->starts_at_ms);
    put_time(w, "endsAt", a->ends_at_ms);
    if (a->generator_url) {
        km_jsonw_key(w, "generatorURL");
        km_jsonw_str(w, a->generator_url);
    }
    km_jsonw_obj_end(w);
}

int km_notify_encode_am(struct km_buf *b, const struct km_notify_alert *a, size_t n)
{
    struct km_jsonw w;

    km_buf_reset(b);
    km_jsonw_init(&w, b);
    km_jsonw_arr_begin(&w);
    for (size_t i = 0; i < n; i++)
        put_alert(&w, &a[i], NULL);
    km_jsonw_arr_end(&w);
    return km_buf_error(b);
}

int km_notify_encode_webhook(struct km_buf *b, const struct km_notify_alert *a, size_t n,
                             int64_t now_ms)
{
    struct km_jsonw w;
    bool all_resolved = true;

    for (size_t i = 0; i < n; i++)
        all_resolved = all_resolved && resolved(&a[i], now_ms);
    km_buf_reset(b);
    km_jsonw_init(&w, b);
    km_jsonw_obj_begin(&w);
    km_jsonw_key(&w, "version");
    km_jsonw_str(&w, "1");
    km_jsonw_key(&w, "status");
    km_jsonw_str(&w, all_resolved ? "resolved" : "firing");
    km_jsonw_key(&w, "alerts");
    km_jsonw_arr_begin(&w);
    for (size_t i = 0; i < n; i++)
        put_alert(&w, &a[i], resolved(&a[i], now_ms) ? "resolved" : "firing");
    km_jsonw_arr_end(&w);
    km_jsonw_obj_end(&w);
    return km_buf_error(b);
}
