/*
 * history — the alert history Prometheus and Alertmanager do not keep: every transition
 * of every alert (pending, firing, resolved, and a pending alert that went away) with its
 * labels, annotations, value and time, kept durably in the data directory with a
 * retention, and read back by time range and label matchers.
 *
 * On disk: DIR/history-YYYYMMDD.jsonl, one file per UTC day, one JSON object per line
 * (see docs/internals/alert-history.md); each record is written and fdatasync'ed before
 * km_alert_history_record() returns. A torn last line (a crash mid-write) is skipped when
 * read. Days older than the retention are deleted (at open, then at most hourly).
 *
 * Threads: any thread may record and query; a mutex orders the writes.
 */
#ifndef KMON_RULES_HISTORY_H
#define KMON_RULES_HISTORY_H

#include "rules/manager.h"

#include <stddef.h>
#include <stdint.h>

struct km_jsonw;
struct km_matcher;
struct km_mset;
struct km_alert_history;

/* Records one query returns at most (the newest are kept when there are more). */
#define KM_ALERT_HISTORY_MAX_RESULTS 100000

/* Open (creating) the history in `dir`. */
int km_alert_history_open(struct km_alert_history **out, const char *dir, int64_t retention_ms);
void km_alert_history_close(struct km_alert_history *h);

/* Append one transition (the manager's transition callback has this shape: ud is h). */
void km_alert_history_record(void *h, const struct km_rules_transition *t);

/* Write a JSON array of the transitions in [from_ms, to_ms] whose labels match every
 * matcher, oldest first, at most `limit` (the newest ones). */
int km_alert_history_query(struct km_alert_history *h, int64_t from_ms, int64_t to_ms,
                           struct km_matcher *const *m, size_t nm, size_t limit,
                           struct km_jsonw *w);

/* kmon_alert_history_* families. */
void km_alert_history_metrics(struct km_alert_history *h, struct km_mset *ms);

#endif
