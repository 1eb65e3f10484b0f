/*
 * sql — the statements the read side sends to ClickHouse (SCHEMA.md "Reads"), built as
 * text: Prometheus label matchers as conditions on the series table, the series
 * resolution, the reads of samples (raw, newest per series, or a rollup table's buckets)
 * for a group of series, label names and values; and which of those reads a selection
 * takes (the rollup choice). Every literal goes through km_ch_quote(); numbers are printed
 * by kmon. Pure functions of their arguments; thread-safe.
 *
 * Matchers: `__name__` is the `metric` column; any other label `n` is
 * `vals[indexOf(names, 'n')]`, which is '' for a series without it (indexOf gives 0 and
 * element 0 of an array is the type's default), as Prometheus treats a missing label. A
 * regex is anchored and kept to kmon's dot: `match(x, '^(?-s:re)$')`. Both ends speak
 * RE2 syntax (the PromQL parser refuses what RE2 refuses); what still differs between
 * kmon's engine (PCRE2, used by the embedded store and for every matcher the engine
 * evaluates itself) and ClickHouse's RE2: `.` — ClickHouse's match() lets it match a
 * newline, kmon's does not, hence the `(?-s:…)`; `\s` — PCRE2 counts the vertical tab
 * (\v) as space, RE2 does not; case-insensitive matching (`(?i)`) of non-ASCII letters
 * folds a few letters differently (RE2's simple folding vs PCRE2's Unicode tables);
 * both stay in UTF-8 mode and `$` matches only at the very end in both.
 */
#ifndef KMON_CHSTORE_SQL_H
#define KMON_CHSTORE_SQL_H

#include "chstore/chstore_internal.h"
#include "common/buf.h"
#include "storage/sample.h"
#include "storage/storage.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Times are kept within ±2^62 ms in statements (far beyond any sample) so that `mint -
 * 1h` and `maxt + R` never overflow. */
#define KM_CH_SQL_TIME_MAX (INT64_C(1) << 62)

/* The conditions of nm matchers on a series row, joined by AND ("1" when nm == 0),
 * appended to b. Returns km_buf_error(b). */
int km_ch_sql_matchers(struct km_buf *b, struct km_matcher *const *m, size_t nm);

/* The series matching the matchers whose rows say they had samples in [mint, maxt]
 * (last_ms is re-written at most hourly, so from mint - 1h on), and with `exact` (a
 * selection of labels only, which reads no samples to tell) only those that hold a
 * sample in it:
 * `SELECT id, metric, any(names), any(vals) FROM <series> WHERE … GROUP BY id, metric
 * HAVING … FORMAT RowBinary` (columns UInt64, String, Array(String), Array(String)). */
#define KM_CH_SQL_NAME_MATCHERS 16
int km_ch_sql_series(struct km_buf *b, const struct km_ch_tables *tab, struct km_matcher *const *m,
                     size_t nm, int64_t mint, int64_t maxt, bool exact);

/* What a selection reads of its series' samples. */
enum km_ch_read_kind {
    KM_CH_READ_NONE,   /* labels only */
    KM_CH_READ_RAW,    /* every sample in range */
    KM_CH_READ_NEWEST, /* the newest sample in range of each series */
    KM_CH_READ_LAST,   /* a rollup: each bucket's newest sample */
    KM_CH_READ_MIN,    /* a rollup: each bucket's min at its newest sample's time */
    KM_CH_READ_MAX,    /* a rollup: each bucket's max, likewise */
};

/* The read a selection with these hints takes (hints may be NULL); for a rollup,
 * *rollup_ms is its bucket (KM_CH_ROLLUP_5M_MS or KM_CH_ROLLUP_1H_MS). Rollups only when
 * `rollups`, the step is at least a bucket (1h preferred when the step is at least 1h)
 * and either the selector is an instant one (no range, no function: each bucket's newest
 * sample) or it is consumed by min_over_time/max_over_time over a range that is a whole
 * number of buckets. Everything else reads raw samples (or the newest only, or none). */
enum km_ch_read_kind km_ch_sql_choose(const struct km_select_hints *h, bool rollups,
                                      int64_t *rollup_ms);

/* Samples of a group of series: their metric names (the primary key's prefix) and ids,
 * in [mint, maxt], as rows (id UInt64, t Int64, v Float64) ordered by id, then t. */
struct km_ch_sql_read {
    enum km_ch_read_kind kind; /* not KM_CH_READ_NONE */
    int64_t mint, maxt;
    int64_t rollup_ms; /* for the rollup kinds */
    const char *const *metrics;
    size_t nmetrics;
    const uint64_t *ids;
    size_t nids;
};

int km_ch_sql_samples(struct km_buf *b, const struct km_ch_tables *tab,
                      const struct km_ch_sql_read *r);

/* The distinct label names (with __name__) of the series matching the matchers and
 * present in [mint, maxt], sorted: rows of one String. */
int km_ch_sql_label_names(struct km_buf *b, const struct km_ch_tables *tab,
                          struct km_matcher *const *m, size_t nm, int64_t mint, int64_t maxt);

/* The distinct non-empty values of label `name` likewise. */
int km_ch_sql_label_values(struct km_buf *b, const struct km_ch_tables *tab, const char *name,
                           struct km_matcher *const *m, size_t nm, int64_t mint, int64_t maxt);

/* ---- logs (SCHEMA.md "Logs"); times in nanoseconds, ranges [start, end) ---------------- */

/* The conditions of nm matchers on a log stream row: every label, `__name__` too, is
 * `vals[indexOf(names, 'n')]`. */
int km_ch_sql_stream_matchers(struct km_buf *b, struct km_matcher *const *m, size_t nm);

/* The streams matching with entries in [start, end): rows (stream UInt64, names
 * Array(String), vals Array(String)). */
int km_ch_sql_log_streams(struct km_buf *b, const struct km_ch_tables *tab,
                          struct km_matcher *const *m, size_t nm, int64_t start, int64_t end);

/* One page of a stream's entries: rows (ts Int64, line String) in [lo, hi) (or at ts ==
 * lo exactly), holding every must_contain string, ordered by ts then line (both
 * descending when backward), at most `limit` (0: all). */
struct km_ch_sql_log_page {
    uint64_t stream;
    int64_t lo, hi;
    bool exact, backward;
    size_t limit;
    const char *const *must_contain;
    const size_t *must_contain_len;
    size_t n_must_contain;
};
int km_ch_sql_log_page(struct km_buf *b, const struct km_ch_tables *tab,
                       const struct km_ch_sql_log_page *p);

/* Label names (sorted, distinct) and the non-empty values of one, of the streams matching
 * with entries in [start, end): rows of one String. */
int km_ch_sql_log_label_names(struct km_buf *b, const struct km_ch_tables *tab,
                              struct km_matcher *const *m, size_t nm, int64_t start, int64_t end);
int km_ch_sql_log_label_values(struct km_buf *b, const struct km_ch_tables *tab, const char *name,
                               struct km_matcher *const *m, size_t nm, int64_t start, int64_t end);

/* One row (streams UInt64, chunks UInt64, entries UInt64, bytes UInt64) of the entries in
 * [start, end) of the streams matching, exact duplicates counted once; a chunk is a
 * (stream, UTC day). Over the local tables: run on every node, the rows summed (a
 * stream is on one shard). */
int km_ch_sql_log_stats(struct km_buf *b, const struct km_ch_tables *tab,
                        struct km_matcher *const *m, size_t nm, int64_t start, int64_t end);

#endif
