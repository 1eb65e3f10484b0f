/*
 * logcheck — how every log store judges a pushed entry (logsink.h), so that the
 * embedded store and the ClickHouse store refuse the same entries with the same words:
 * the limits and their defaults, a stream's labels made canonical and checked, an
 * entry's time and length checked against the clock, its stream's newest entry and the
 * limits, and the refusal counted with its example sentence. Pure functions.
 */
#ifndef KMON_LOGS_LOGCHECK_H
#define KMON_LOGS_LOGCHECK_H

#include "common/labels.h"
#include "logs/logsink.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The limits a push is judged by (km_logstore_opts documents each). */
struct km_log_limits {
    int64_t retention_ms;  /* 0: 15 d */
    int64_t max_future_ms; /* 0: 10 min; negative: none (a line ahead of the clock is refused) */
    int64_t ooo_window_ms; /* 0: 1 h; negative: none (only lines at or after the newest) */
    size_t max_line_bytes; /* 0: 256 KiB (at most 8 MiB) */
    uint64_t max_streams;  /* 0: 1 000 000 */
};

/* Replace 0 by the defaults and negative values by 0 ("none"), clamp to 100 years. */
void km_log_limits_resolve(struct km_log_limits *l);

/* The stream's labels without empty values, sorted and checked, into lv (room for
 * KM_LIMIT_LABELS_PER_SERIES), *nl of them. false when they are invalid (then *why says
 * so in words for the refusal sentence). */
bool km_log_labels_prepare(const struct km_log_push_stream *ps, struct km_label *lv, size_t *nl,
                           const char **why);

/* Whether an entry passes the clock, its stream's newest entry (INT64_MIN: none) and the
 * line length: -1, or the refusal with its detail ("(more than 600s ahead of the
 * clock)") in detail[n]. l must be resolved. */
int km_log_entry_check(const struct km_log_limits *l, int64_t now_ms, int64_t newest,
                       const struct km_log_entry *e, char *detail, size_t n);

/* The indexes of ps's entries in time order (equal times in the order pushed): *out,
 * malloc'd (the caller frees). KM_ENOMEM. */
int km_log_entries_order(const struct km_log_push_stream *ps, uint32_t **out);

/* Count refusal r in res, and make it the example when res has none yet. */
void km_log_refusal_note(struct km_log_push_result *res, enum km_log_refusal r,
                         const struct km_label *lv, size_t nl, const struct km_log_entry *e,
                         const char *detail);

#endif
