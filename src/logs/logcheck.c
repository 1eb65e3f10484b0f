/*
 * logcheck — the judgement of pushed entries every log store shares (logcheck.h).
 */
#include "logs/logcheck.h"

#include "common/array.h"
#include "common/err.h"
#include "common/limits.h"
#include "common/timefmt.h"
#include "logs/lstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEF_RETENTION_MS  (15LL * 24 * 3600 * 1000)
#define DEF_MAX_FUTURE_MS (10LL * 60 * 1000)
#define DEF_OOO_WINDOW_MS (3600LL * 1000)
#define DEF_MAX_LINE      (256u * 1024)
#define DEF_MAX_STREAMS   1000000u
#define MAX_MS            (100LL * 366 * 24 * 3600 * 1000)

const char *km_log_refusal_str(enum km_log_refusal r)
{
    switch (r) {
    case KM_LOG_INVALID:
        return "invalid labels";
    case KM_LOG_TOO_NEW:
        return "too far in the future";
    case KM_LOG_RETENTION:
        return "older than the retention";
    case KM_LOG_TOO_OLD:
        return "too far behind its stream's newest entry";
    case KM_LOG_TOO_LONG:
        return "line too long";
    case KM_LOG_STREAM_LIMIT:
        return "too many streams";
    default:
        return "refused";
    }
}

const char *km_log_refusal_reason(enum km_log_refusal r)
{
    static const char *const names[] = { "invalid", "too_new",  "retention",
                                         "too_old", "too_long", "stream_limit" };

    return (unsigned)r < KM_LOG_REFUSAL__N ? names[r] : "refused";
}

void km_log_limits_resolve(struct km_log_limits *l)
{
    int64_t *ms[] = { &l->retention_ms, &l->max_future_ms, &l->ooo_window_ms };

    for (size_t i = 0; i < sizeof(ms) / sizeof(*ms); i++)
        if (*ms[i] > MAX_MS)
            *ms[i] = MAX_MS;
    if (l->retention_ms <= 0)
        l->retention_ms = DEF_RETENTION_MS;
    /* 0 is the default, a negative value none */
    if (l->max_future_ms == 0)
        l->max_future_ms = DEF_MAX_FUTURE_MS;
    else if (l->max_future_ms < 0)
        l->max_future_ms = 0;
    if (l->ooo_window_ms == 0)
        l->ooo_window_ms = DEF_OOO_WINDOW_MS;
    else if (l->ooo_window_ms < 0)
        l->ooo_window_ms = 0;
    if (l->max_line_bytes == 0)
        l->max_line_bytes = DEF_MAX_LINE;
    if (l->max_line_bytes > KM_LOGS_WAL_REC_BYTES)
        l->max_line_bytes = KM_LOGS_WAL_REC_BYTES;
    if (l->max_streams == 0)
        l->max_streams = DEF_MAX_STREAMS;
}

bool km_log_labels_prepare(const struct km_log_push_stream *ps, struct km_label *lv, size_t *nl,
                           const char **why)
{
    size_t lbytes = 0, k = 0;
    bool bad = ps->n_labels > KM_LIMIT_LABELS_PER_SERIES;

    for (size_t i = 0; !bad && i < ps->n_labels; i++) {
        if (!ps->labels[i].name || !ps->labels[i].value) {
            bad = true;
            break;
        }
        if (!ps->labels[i].value[0])
            continue;
        lbytes += strlen(ps->labels[i].name) + strlen(ps->labels[i].value);
        lv[k++] = ps->labels[i];
    }
    if (!bad) {
        km_labels_sort(lv, k);
        if (k == 0 || lbytes > KM_LOGS_LABEL_BYTES || km_labels_check(lv, k) < 0)
            bad = true;
    }
    *nl = k;
    *why = k == 0 ? "(a stream needs at least one label with a value)"
                  : "(label names must match [a-zA-Z_][a-zA-Z0-9_]* and be unique)";
    return !bad;
}

int km_log_entry_check(const struct km_log_limits *l, int64_t now_ms, int64_t newest,
                       const struct km_log_entry *e, char *detail, size_t n)
{
    int64_t fut = now_ms * 1000000 + l->max_future_ms * 1000000;
    int64_t old = now_ms * 1000000 - l->retention_ms * 1000000;

    if (e->ts_ns > fut) {
        snprintf(detail, n, "(more than %llds ahead of the clock)",
                 (long long)(l->max_future_ms / 1000));
        return KM_LOG_TOO_NEW;
    }
    if (e->ts_ns < old) {
        snprintf(detail, n, "(the retention is %lldh)", (long long)(l->retention_ms / 3600000));
        return KM_LOG_RETENTION;
    }
    if (newest != INT64_MIN && newest >= INT64_MIN + l->ooo_window_ms * 1000000 &&
        e->ts_ns < newest - l->ooo_window_ms * 1000000) {
        snprintf(detail, n, "(more than %llds behind; the window is %llds)",
                 (long long)((newest - e->ts_ns) / 1000000000),
                 (long long)(l->ooo_window_ms / 1000));
        return KM_LOG_TOO_OLD;
    }
    if (e->len > l->max_line_bytes) {
        snprintf(detail, n, "(%zu bytes; the limit is %zu)", e->len, l->max_line_bytes);
        return KM_LOG_TOO_LONG;
    }
    return -1;
}

struct pidx {
    int64_t ts;
    uint32_t i;
};

static int cmp_pidx(const void *a, const void *b)
{
    const struct pidx *x = a, *y = b;

    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

int km_log_entries_order(const struct km_log_push_stream *ps, uint32_t **out)
{
    struct pidx *ord = malloc((ps->n_entries ? ps->n_entries : 1) * sizeof(*ord));
    uint32_t *idx = malloc((ps->n_entries ? ps->n_entries : 1) * sizeof(*idx));

    if (!ord || !idx) {
        free(ord);
        free(idx);
        return km_err_set(KM_ENOMEM, "out of memory storing log entries");
    }
    for (size_t i = 0; i < ps->n_entries; i++)
        ord[i] = (struct pidx){ ps->entries[i].ts_ns, (uint32_t)i };
    km_sort(ord, ps->n_entries, sizeof(*ord), cmp_pidx);
    for (size_t i = 0; i < ps->n_entries; i++)
        idx[i] = ord[i].i;
    free(ord);
    *out = idx;
    return 0;
}

static void labels_str(char *out, size_t size, const struct km_label *v, size_t n)
{
    size_t k = 0;
    int w;

    w = snprintf(out, size, "{");
    k = w > 0 ? (size_t)w : 0;
    for (size_t i = 0; i < n && k < size; i++) {
        w = snprintf(out + k, size - k, "%s%s=\"%s\"", i ? ", " : "", v[i].name ? v[i].name : "",
                     v[i].value ? v[i].value : "");
        if (w < 0)
            break;
        k += (size_t)w;
    }
    if (k < size)
        snprintf(out + k, size - k, "}");
}

void km_log_refusal_note(struct km_log_push_result *res, enum km_log_refusal r,
                         const struct km_label *lv, size_t nl, const struct km_log_entry *e,
                         const char *detail)
{
    res->refused[r]++;
    res->refused_total++;
    if (!res->example[0]) {
        char ls[256], ts[48] = "";

        labels_str(ls, sizeof(ls), lv, nl);
        if (e)
            km_time_format_rfc3339(ts, sizeof(ts), e->ts_ns, 9);
        snprintf(res->example, sizeof(res->example), "entry%s%s for stream %s refused: %s%s%s",
                 e ? " at " : "", ts, ls, km_log_refusal_str(r), detail ? " " : "",
                 detail ? detail : "");
    }
}
