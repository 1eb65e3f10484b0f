/*
 * sql — the read side's statements (see sql.h). Each builder appends to a buffer and
 * returns its sticky error, so a statement is either whole or not sent.
 */
#include "chstore/sql.h"

#include "common/err.h"

#include <inttypes.h>
#include <string.h>

/* ---- literals ------------------------------------------------------------------------- */

static int64_t clamp_time(int64_t t)
{
    if (t > KM_CH_SQL_TIME_MAX)
        return KM_CH_SQL_TIME_MAX;
    if (t < -KM_CH_SQL_TIME_MAX)
        return -KM_CH_SQL_TIME_MAX;
    return t;
}

static void put_time(struct km_buf *b, int64_t t)
{
    km_buf_put_i64(b, clamp_time(t));
}

static void put_quoted(struct km_buf *b, const char *s)
{
    km_ch_quote(b, s, strlen(s));
}

/* ---- matchers ------------------------------------------------------------------------- */

/* The value of the matcher's label in a series row (`metric`: __name__ is the metric
 * column) or a log stream row (every label in the arrays). */
static void put_label_of(struct km_buf *b, const char *name, bool metric)
{
    if (metric && strcmp(name, KM_METRIC_NAME_LABEL) == 0) {
        km_buf_puts(b, "metric");
        return;
    }
    km_buf_puts(b, "vals[indexOf(names, ");
    put_quoted(b, name);
    km_buf_puts(b, ")]");
}

static void put_label(struct km_buf *b, const char *name)
{
    put_label_of(b, name, true);
}

static void put_matcher(struct km_buf *b, const struct km_matcher *m, bool metric)
{
    size_t n;

    switch (m->type) {
    case KM_MATCH_EQ:
    case KM_MATCH_NEQ:
        put_label_of(b, m->name, metric);
        km_buf_puts(b, m->type == KM_MATCH_EQ ? " = " : " != ");
        put_quoted(b, m->value);
        return;
    case KM_MATCH_RE:
    case KM_MATCH_NRE:
        km_buf_puts(b, m->type == KM_MATCH_RE ? "match(" : "NOT match(");
        put_label_of(b, m->name, metric);
        km_buf_puts(b, ", ");
        /* '^(?-s:' re ')$' as one literal. */
        n = strlen(m->value);
        {
            struct km_buf re;

            km_buf_init(&re, n + 16);
            km_buf_puts(&re, "^(?-s:");
            km_buf_append(&re, m->value, n);
            km_buf_puts(&re, ")$");
            if (km_buf_error(&re))
                b->err = b->err ? b->err : km_buf_error(&re);
            else
                km_ch_quote(b, re.data, re.len);
            km_buf_fini(&re);
        }
        km_buf_putc(b, ')');
        return;
    }
}

static int put_matchers(struct km_buf *b, struct km_matcher *const *m, size_t nm, bool metric)
{
    if (nm == 0)
        km_buf_putc(b, '1');
    for (size_t i = 0; i < nm; i++) {
        if (i > 0)
            km_buf_puts(b, " AND ");
        put_matcher(b, m[i], metric);
    }
    return km_buf_error(b);
}

int km_ch_sql_matchers(struct km_buf *b, struct km_matcher *const *m, size_t nm)
{
    return put_matchers(b, m, nm, true);
}

int km_ch_sql_stream_matchers(struct km_buf *b, struct km_matcher *const *m, size_t nm)
{
    return put_matchers(b, m, nm, false);
}

/* " AND col >= mint AND col <= maxt" */
static void put_range(struct km_buf *b, const char *col, int64_t mint, int64_t maxt)
{
    km_buf_printf(b, " AND %s >= ", col);
    put_time(b, mint);
    km_buf_printf(b, " AND %s <= ", col);
    put_time(b, maxt);
}

/* ---- series ---------------------------------------------------------------------------- */

int km_ch_sql_series(struct km_buf *b, const struct km_ch_tables *tab, struct km_matcher *const *m,
                     size_t nm, int64_t mint, int64_t maxt, bool exact)
{
    km_buf_printf(b, "SELECT id, metric, any(names), any(vals) FROM %s WHERE ", tab->series);
    km_ch_sql_matchers(b, m, nm);
    if (exact) {
        /* Those with a sample in [mint, maxt]: asked of each shard's own samples (a
         * series' rows are all on one shard), its metric matchers narrowing the scan. */
        struct km_matcher *names[KM_CH_SQL_NAME_MATCHERS];
        size_t nn = 0;

        for (size_t i = 0; i < nm && nn < KM_CH_SQL_NAME_MATCHERS; i++)
            if (strcmp(m[i]->name, KM_METRIC_NAME_LABEL) == 0)
                names[nn++] = m[i];
        km_buf_printf(b, " AND id IN (SELECT id FROM %s WHERE ", tab->samples_local);
        put_matchers(b, names, nn, true);
        put_range(b, "t", mint, maxt);
        km_buf_putc(b, ')');
    }
    /* Only last_ms bounds the range: the ReplacingMergeTree keeps the row of the newest
     * last_ms, whose first_ms need not be the earliest a writer saw (SCHEMA.md). */
    km_buf_puts(b, " GROUP BY id, metric HAVING max(last_ms) >= ");
    put_time(b, clamp_time(mint) - KM_CH_ROLLUP_1H_MS);
    km_buf_puts(b, " FORMAT RowBinary");
    return km_buf_error(b);
}

/* ---- the rollup choice ------------------------------------------------------------------- */

/* The bucket of a rollup serving the hints, or 0: the larger one whose buckets the
 * evaluation times end (the step and the last time are whole numbers of buckets, so
 * every time is a bucket's end) and, for a range (0: an instant selector), whose
 * buckets tile it. Then the answer is the raw samples' (SCHEMA.md "Rollups"). */
static int64_t rollup_for(int64_t step_ms, int64_t last_ms, int64_t range_ms)
{
    static const int64_t buckets[] = { KM_CH_ROLLUP_1H_MS, KM_CH_ROLLUP_5M_MS };

    for (size_t i = 0; i < sizeof(buckets) / sizeof(buckets[0]); i++) {
        int64_t r = buckets[i];

        if (step_ms < r || step_ms % r != 0 || last_ms % r != 0)
            continue;
        if (range_ms == 0 || (range_ms >= r && range_ms % r == 0))
            return r;
    }
    return 0;
}

enum km_ch_read_kind km_ch_sql_choose(const struct km_select_hints *h, bool rollups,
                                      int64_t *rollup_ms)
{
    *rollup_ms = 0;
    if (!h)
        return KM_CH_READ_RAW;
    if (h->labels_only)
        return KM_CH_READ_NONE;
    if (h->newest_only)
        return KM_CH_READ_NEWEST;
    if (!rollups || h->step_ms <= 0)
        return KM_CH_READ_RAW;
    if (!h->func && h->range_ms == 0) {
        *rollup_ms = rollup_for(h->step_ms, h->maxt, 0);
        return *rollup_ms ? KM_CH_READ_LAST : KM_CH_READ_RAW;
    }
    if (h->func && h->range_ms > 0 &&
        (strcmp(h->func, "min_over_time") == 0 || strcmp(h->func, "max_over_time") == 0)) {
        *rollup_ms = rollup_for(h->step_ms, h->maxt, h->range_ms);
        if (*rollup_ms)
            return h->func[1] == 'i' ? KM_CH_READ_MIN : KM_CH_READ_MAX;
    }
    return KM_CH_READ_RAW;
}

/* ---- samples ----------------------------------------------------------------------------- */

static const char *rollup_table(const struct km_ch_tables *tab, const struct km_ch_sql_read *r)
{
    return r->rollup_ms >= KM_CH_ROLLUP_1H_MS ? tab->rollup_1h : tab->rollup_5m;
}

/* " AND b >= mint AND b < maxt + R": the buckets that may hold samples of the range. */
static void put_bucket_range(struct km_buf *b, const struct km_ch_sql_read *r)
{
    km_buf_puts(b, " AND b >= ");
    put_time(b, r->mint);
    km_buf_puts(b, " AND b < ");
    put_time(b, clamp_time(r->maxt) + r->rollup_ms);
}

/* "metric IN (…) AND id IN (…)" of a group. */
static void put_group(struct km_buf *b, const struct km_ch_sql_read *r)
{
    km_buf_puts(b, "metric IN (");
    for (size_t i = 0; i < r->nmetrics; i++) {
        if (i > 0)
            km_buf_puts(b, ", ");
        put_quoted(b, r->metrics[i]);
    }
    km_buf_puts(b, ") AND id IN (");
    for (size_t i = 0; i < r->nids; i++) {
        if (i > 0)
            km_buf_puts(b, ", ");
        km_buf_put_u64(b, r->ids[i]);
    }
    km_buf_putc(b, ')');
}

int km_ch_sql_samples(struct km_buf *b, const struct km_ch_tables *tab,
                      const struct km_ch_sql_read *r)
{
    switch (r->kind) {
    case KM_CH_READ_RAW:
        km_buf_printf(b, "SELECT id, t, v FROM %s WHERE ", tab->samples);
        put_group(b, r);
        put_range(b, "t", r->mint, r->maxt);
        km_buf_puts(b, " ORDER BY id, t FORMAT RowBinary");
        break;
    case KM_CH_READ_NEWEST:
        km_buf_printf(b, "SELECT id, max(t), argMax(v, t) FROM %s WHERE ", tab->samples);
        put_group(b, r);
        put_range(b, "t", r->mint, r->maxt);
        km_buf_puts(b, " GROUP BY id ORDER BY id FORMAT RowBinary");
        break;
    case KM_CH_READ_LAST:
        /* Each bucket's newest sample, at its own time: a bucket (b - R, b] whose newest
         * sample is in [mint, maxt] ends in [mint, maxt + R). */
        km_buf_printf(b, "SELECT id, maxMerge(lastt) AS lt, argMaxMerge(lastv) FROM %s WHERE ",
                      rollup_table(tab, r));
        put_group(b, r);
        put_bucket_range(b, r);
        km_buf_puts(b, " GROUP BY id, b HAVING lt >= ");
        put_time(b, r->mint);
        km_buf_puts(b, " AND lt <= ");
        put_time(b, r->maxt);
        km_buf_puts(b, " ORDER BY id, lt FORMAT RowBinary");
        break;
    case KM_CH_READ_MIN:
    case KM_CH_READ_MAX:
        /* Each bucket (b - R, b] as its min or max at b - R + 1, the earliest time a
         * sample of it can have, so that a window [t - range, t] of bucket ends takes
         * exactly the buckets within it; and its newest sample when that is at b, which
         * the window's closed start takes from the bucket before. */
        km_buf_printf(b,
                      "SELECT id, tv.1 AS t, tv.2 AS v FROM (SELECT id, b, maxMerge(lastt) AS lt, "
                      "argMaxMerge(lastv) AS lv, %s AS m FROM %s WHERE ",
                      r->kind == KM_CH_READ_MIN ? "minMerge(mn)" : "maxMerge(mx)",
                      rollup_table(tab, r));
        put_group(b, r);
        put_bucket_range(b, r);
        km_buf_printf(b,
                      " GROUP BY id, b) ARRAY JOIN if(lt = b, [(b - %lld, m), (b, lv)], "
                      "[(b - %lld, m)]) AS tv WHERE t >= ",
                      (long long)(r->rollup_ms - 1), (long long)(r->rollup_ms - 1));
        put_time(b, r->mint);
        km_buf_puts(b, " AND t <= ");
        put_time(b, r->maxt);
        km_buf_puts(b, " ORDER BY id, t FORMAT RowBinary");
        break;
    case KM_CH_READ_NONE:
        return km_err_set(KM_EINVAL, "a selection of labels only reads no samples");
    }
    return km_buf_error(b);
}

/* ---- label names and values ------------------------------------------------------------- */

/* " WHERE <matchers> AND <the row says it has samples in [mint, maxt]>" */
static void put_where(struct km_buf *b, struct km_matcher *const *m, size_t nm, int64_t mint,
                      int64_t maxt)
{
    km_buf_puts(b, " WHERE ");
    km_ch_sql_matchers(b, m, nm);
    km_buf_puts(b, " AND last_ms >= ");
    put_time(b, clamp_time(mint) - KM_CH_ROLLUP_1H_MS);
    (void)maxt; /* as km_ch_sql_series(): first_ms does not bound a series' start */
}

int km_ch_sql_label_names(struct km_buf *b, const struct km_ch_tables *tab,
                          struct km_matcher *const *m, size_t nm, int64_t mint, int64_t maxt)
{
    km_buf_printf(b, "SELECT DISTINCT arrayJoin(arrayPushFront(names, '__name__')) AS n FROM %s",
                  tab->series);
    put_where(b, m, nm, mint, maxt);
    km_buf_puts(b, " ORDER BY n FORMAT RowBinary");
    return km_buf_error(b);
}

int km_ch_sql_label_values(struct km_buf *b, const struct km_ch_tables *tab, const char *name,
                           struct km_matcher *const *m, size_t nm, int64_t mint, int64_t maxt)
{
    km_buf_puts(b, "SELECT DISTINCT ");
    put_label(b, name);
    km_buf_printf(b, " AS x FROM %s", tab->series);
    put_where(b, m, nm, mint, maxt);
    km_buf_puts(b, " AND x != '' ORDER BY x FORMAT RowBinary");
    return km_buf_error(b);
}

/* ---- logs --------------------------------------------------------------------------------- */

/* " WHERE <matchers> AND <the stream has entries in [start, end)>" on log_streams. */
static void put_stream_where(struct km_buf *b, const struct km_ch_tables *tab,
                             struct km_matcher *const *m, size_t nm, int64_t start, int64_t end)
{
    km_buf_puts(b, " WHERE ");
    put_matchers(b, m, nm, false);
    km_buf_puts(b, " AND last_ns >= ");
    put_time(b, clamp_time(start) - KM_CH_ROLLUP_1H_MS * 1000000);
    km_buf_printf(b, " AND stream IN (SELECT stream FROM %s WHERE ts >= ", tab->logs_local);
    put_time(b, start);
    km_buf_puts(b, " AND ts < ");
    put_time(b, end);
    km_buf_putc(b, ')');
}

int km_ch_sql_log_streams(struct km_buf *b, const struct km_ch_tables *tab,
                          struct km_matcher *const *m, size_t nm, int64_t start, int64_t end)
{
    km_buf_printf(b, "SELECT stream, any(names), any(vals) FROM %s", tab->log_streams);
    put_stream_where(b, tab, m, nm, start, end);
    km_buf_puts(b, " GROUP BY stream FORMAT RowBinary");
    return km_buf_error(b);
}

int km_ch_sql_log_page(struct km_buf *b, const struct km_ch_tables *tab,
                       const struct km_ch_sql_log_page *p)
{
    km_buf_printf(b, "SELECT ts, line FROM %s WHERE stream = ", tab->logs);
    km_buf_put_u64(b, p->stream);
    if (p->exact) {
        km_buf_puts(b, " AND ts = ");
        put_time(b, p->lo);
    } else {
        km_buf_puts(b, " AND ts >= ");
        put_time(b, p->lo);
        km_buf_puts(b, " AND ts < ");
        put_time(b, p->hi);
    }
    for (size_t i = 0; i < p->n_must_contain; i++) {
        km_buf_puts(b, " AND position(line, ");
        km_ch_quote(b, p->must_contain[i], p->must_contain_len[i]);
        km_buf_puts(b, ") > 0");
    }
    km_buf_puts(b, p->backward ? " ORDER BY ts DESC, line DESC" : " ORDER BY ts, line");
    if (p->limit)
        km_buf_printf(b, " LIMIT %zu", p->limit);
    km_buf_puts(b, " FORMAT RowBinary");
    return km_buf_error(b);
}

/* The distinct values of label `name` (NULL: the label names) of the streams, sorted. */
static int put_log_distinct(struct km_buf *b, const struct km_ch_tables *tab, const char *name,
                            struct km_matcher *const *m, size_t nm, int64_t start, int64_t end)
{
    km_buf_puts(b, "SELECT DISTINCT ");
    if (name)
        put_label_of(b, name, false);
    else
        km_buf_puts(b, "arrayJoin(names)");
    km_buf_printf(b, " AS x FROM %s", tab->log_streams);
    put_stream_where(b, tab, m, nm, start, end);
    km_buf_puts(b,
                name ? " AND x != '' ORDER BY x FORMAT RowBinary" : " ORDER BY x FORMAT RowBinary");
    return km_buf_error(b);
}

int km_ch_sql_log_label_names(struct km_buf *b, const struct km_ch_tables *tab,
                              struct km_matcher *const *m, size_t nm, int64_t start, int64_t end)
{
    return put_log_distinct(b, tab, NULL, m, nm, start, end);
}

int km_ch_sql_log_label_values(struct km_buf *b, const struct km_ch_tables *tab, const char *name,
                               struct km_matcher *const *m, size_t nm, int64_t start, int64_t end)
{
    return put_log_distinct(b, tab, name, m, nm, start, end);
}

int km_ch_sql_log_stats(struct km_buf *b, const struct km_ch_tables *tab,
                        struct km_matcher *const *m, size_t nm, int64_t start, int64_t end)
{
    km_buf_printf(b,
                  "SELECT uniqExact(stream), uniqExact(stream, intDiv(ts, 86400000000000)), "
                  "count(), sum(length(line)) FROM (SELECT DISTINCT stream, ts, line FROM %s "
                  "WHERE ts >= ",
                  tab->logs_local);
    put_time(b, start);
    km_buf_puts(b, " AND ts < ");
    put_time(b, end);
    km_buf_printf(b, " AND stream IN (SELECT stream FROM %s WHERE ", tab->log_streams_local);
    put_matchers(b, m, nm, false);
    km_buf_puts(b, ")) FORMAT RowBinary");
    return km_buf_error(b);
}
