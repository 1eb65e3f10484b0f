/*
 * Unit tests: the ClickHouse store's read statements (src/chstore/sql.c) as exact SQL —
 * matchers of each kind, quoting, the series resolution, each kind of sample read, label
 * names and values — the rollup choice, and the log statements (streams, pages, labels,
 * stats).
 */
#include "chstore/sql.h"
#include "common/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

static const struct km_ch_tables tab = {
    .series = "series",
    .samples = "samples",
    .rollup_5m = "rollup_5m",
    .rollup_1h = "rollup_1h",
    .series_local = "series",
    .samples_local = "samples",
    .log_streams = "log_streams",
    .logs = "logs",
    .log_streams_local = "log_streams_local",
    .logs_local = "logs_local",
};

/* The SQL of nm matchers given as (type, name, value) triples. */
static void check_matchers(const char *want, size_t nm, ...)
{
    struct km_matcher *m[8];
    struct km_buf b;
    va_list ap;

    va_start(ap, nm);
    for (size_t i = 0; i < nm; i++) {
        enum km_match_type t = va_arg(ap, enum km_match_type);
        const char *name = va_arg(ap, const char *);
        const char *value = va_arg(ap, const char *);

        assert_int_equal(km_matcher_create(&m[i], t, name, value), 0);
    }
    va_end(ap);
    km_buf_init(&b, 0);
    assert_int_equal(km_ch_sql_matchers(&b, m, nm), 0);
    assert_string_equal(km_buf_cstr(&b), want);
    km_buf_fini(&b);
    for (size_t i = 0; i < nm; i++)
        km_matcher_destroy(m[i]);
}

static void test_matchers(void **state)
{
    (void)state;
    check_matchers("1", 0);
    check_matchers("metric = 'up'", 1, KM_MATCH_EQ, "__name__", "up");
    check_matchers("vals[indexOf(names, 'job')] != 'api'", 1, KM_MATCH_NEQ, "job", "api");
    check_matchers("match(vals[indexOf(names, 'job')], '^(?-s:a.*|b)$')", 1, KM_MATCH_RE, "job",
                   "a.*|b");
    check_matchers("NOT match(metric, '^(?-s:node_.+)$')", 1, KM_MATCH_NRE, "__name__", "node_.+");
    /* Empty values: a missing label reads '' on both sides. */
    check_matchers("metric = 'up' AND vals[indexOf(names, 'pod')] = ''", 2, KM_MATCH_EQ, "__name__",
                   "up", KM_MATCH_EQ, "pod", "");
    check_matchers("metric = 'up' AND vals[indexOf(names, 'pod')] != ''", 2, KM_MATCH_EQ,
                   "__name__", "up", KM_MATCH_NEQ, "pod", "");
    /* Quotes, backslashes (a regex's escapes kept as written) and control bytes. */
    check_matchers("vals[indexOf(names, 'a')] = 'it\\'s \\\\ \\x0A'", 1, KM_MATCH_EQ, "a",
                   "it's \\ \n");
    check_matchers("match(vals[indexOf(names, 'path')], '^(?-s:/a\\\\.b\\\\d+)$')", 1, KM_MATCH_RE,
                   "path", "/a\\.b\\d+");
}

static void test_series(void **state)
{
    struct km_matcher *m;
    struct km_buf b;

    (void)state;
    assert_int_equal(km_matcher_create(&m, KM_MATCH_EQ, "__name__", "up"), 0);
    km_buf_init(&b, 0);
    assert_int_equal(km_ch_sql_series(&b, &tab, &m, 1, 7200000, 9000000, false), 0);
    assert_string_equal(km_buf_cstr(&b),
                        "SELECT id, metric, any(names), any(vals) FROM series WHERE metric = "
                        "'up' GROUP BY id, metric HAVING max(last_ms) >= 3600000 FORMAT "
                        "RowBinary");
    /* A selection of labels only: the series with a sample in the range, asked of each
     * shard's own samples. */
    km_buf_reset(&b);
    assert_int_equal(km_ch_sql_series(&b, &tab, &m, 1, 7200000, 9000000, true), 0);
    assert_string_equal(km_buf_cstr(&b),
                        "SELECT id, metric, any(names), any(vals) FROM series WHERE metric = "
                        "'up' AND id IN (SELECT id FROM samples WHERE metric = 'up' AND t >= "
                        "7200000 AND t <= 9000000) GROUP BY id, metric HAVING max(last_ms) >= "
                        "3600000 FORMAT RowBinary");
    /* The widest range stays within ±2^62 (no overflow, no literal ClickHouse misreads). */
    km_buf_reset(&b);
    assert_int_equal(km_ch_sql_series(&b, &tab, &m, 1, INT64_MIN, INT64_MAX, false), 0);
    assert_string_equal(km_buf_cstr(&b),
                        "SELECT id, metric, any(names), any(vals) FROM series WHERE metric = "
                        "'up' GROUP BY id, metric HAVING max(last_ms) >= -4611686018427387904 "
                        "FORMAT RowBinary");
    km_buf_fini(&b);
    km_matcher_destroy(m);
}

static void test_samples(void **state)
{
    const char *metrics[] = { "a", "b'c" };
    const uint64_t ids[] = { 1, 18446744073709551615ull };
    struct km_ch_sql_read r = {
        .kind = KM_CH_READ_RAW,
        .mint = 1000,
        .maxt = 2000,
        .metrics = metrics,
        .nmetrics = 2,
        .ids = ids,
        .nids = 2,
    };
    struct km_buf b;

    (void)state;
    km_buf_init(&b, 0);
    assert_int_equal(km_ch_sql_samples(&b, &tab, &r), 0);
    assert_string_equal(km_buf_cstr(&b),
                        "SELECT id, t, v FROM samples WHERE metric IN ('a', 'b\\'c') AND id IN "
                        "(1, 18446744073709551615) AND t >= 1000 AND t <= 2000 ORDER BY id, t "
                        "FORMAT RowBinary");
    km_buf_reset(&b);
    r.kind = KM_CH_READ_NEWEST;
    r.nmetrics = r.nids = 1;
    assert_int_equal(km_ch_sql_samples(&b, &tab, &r), 0);
    assert_string_equal(km_buf_cstr(&b),
                        "SELECT id, max(t), argMax(v, t) FROM samples WHERE metric IN ('a') AND "
                        "id IN (1) AND t >= 1000 AND t <= 2000 GROUP BY id ORDER BY id FORMAT "
                        "RowBinary");
    km_buf_reset(&b);
    r.kind = KM_CH_READ_LAST;
    r.rollup_ms = KM_CH_ROLLUP_5M_MS;
    assert_int_equal(km_ch_sql_samples(&b, &tab, &r), 0);
    assert_string_equal(km_buf_cstr(&b),
                        "SELECT id, maxMerge(lastt) AS lt, argMaxMerge(lastv) FROM rollup_5m "
                        "WHERE metric IN ('a') AND id IN (1) AND b >= 1000 AND b < 302000 GROUP "
                        "BY id, b HAVING lt >= 1000 AND lt <= 2000 ORDER BY id, lt FORMAT "
                        "RowBinary");
    km_buf_reset(&b);
    r.kind = KM_CH_READ_MIN;
    r.rollup_ms = KM_CH_ROLLUP_1H_MS;
    assert_int_equal(km_ch_sql_samples(&b, &tab, &r), 0);
    assert_string_equal(km_buf_cstr(&b),
                        "SELECT id, tv.1 AS t, tv.2 AS v FROM (SELECT id, b, maxMerge(lastt) AS "
                        "lt, argMaxMerge(lastv) AS lv, minMerge(mn) AS m FROM rollup_1h WHERE "
                        "metric IN ('a') AND id IN (1) AND b >= 1000 AND b < 3602000 GROUP BY id, "
                        "b) ARRAY JOIN if(lt = b, [(b - 3599999, m), (b, lv)], [(b - 3599999, "
                        "m)]) AS tv WHERE t >= 1000 AND t <= 2000 ORDER BY id, t FORMAT "
                        "RowBinary");
    km_buf_reset(&b);
    r.kind = KM_CH_READ_MAX;
    assert_int_equal(km_ch_sql_samples(&b, &tab, &r), 0);
    assert_non_null(strstr(km_buf_cstr(&b), "maxMerge(mx) AS m FROM rollup_1h"));
    km_buf_reset(&b);
    r.kind = KM_CH_READ_NONE;
    assert_int_equal(km_ch_sql_samples(&b, &tab, &r), KM_EINVAL);
    km_buf_fini(&b);
}

static void test_labels(void **state)
{
    struct km_matcher *m;
    struct km_buf b;

    (void)state;
    assert_int_equal(km_matcher_create(&m, KM_MATCH_RE, "job", "a|b"), 0);
    km_buf_init(&b, 0);
    assert_int_equal(km_ch_sql_label_names(&b, &tab, &m, 1, 3600000, 7200000), 0);
    assert_string_equal(km_buf_cstr(&b),
                        "SELECT DISTINCT arrayJoin(arrayPushFront(names, '__name__')) AS n FROM "
                        "series WHERE match(vals[indexOf(names, 'job')], '^(?-s:a|b)$') AND "
                        "last_ms >= 0 ORDER BY n FORMAT RowBinary");
    km_buf_reset(&b);
    assert_int_equal(km_ch_sql_label_values(&b, &tab, "pod", NULL, 0, 3600000, 7200000), 0);
    assert_string_equal(km_buf_cstr(&b),
                        "SELECT DISTINCT vals[indexOf(names, 'pod')] AS x FROM series WHERE 1 AND "
                        "last_ms >= 0 AND x != '' ORDER BY x FORMAT "
                        "RowBinary");
    km_buf_reset(&b);
    assert_int_equal(km_ch_sql_label_values(&b, &tab, "__name__", &m, 1, 3600000, 7200000), 0);
    assert_string_equal(km_buf_cstr(&b),
                        "SELECT DISTINCT metric AS x FROM series WHERE match(vals[indexOf(names, "
                        "'job')], '^(?-s:a|b)$') AND last_ms >= 0 AND x "
                        "!= '' ORDER BY x FORMAT RowBinary");
    km_buf_fini(&b);
    km_matcher_destroy(m);
}

static void test_choose(void **state)
{
    const int64_t m5 = KM_CH_ROLLUP_5M_MS, h1 = KM_CH_ROLLUP_1H_MS;
    struct km_select_hints h = { 0 };
    int64_t r;

    (void)state;
    assert_int_equal(km_ch_sql_choose(NULL, true, &r), KM_CH_READ_RAW);
    h.labels_only = true;
    assert_int_equal(km_ch_sql_choose(&h, true, &r), KM_CH_READ_NONE);
    h.labels_only = false;
    h.newest_only = true;
    assert_int_equal(km_ch_sql_choose(&h, true, &r), KM_CH_READ_NEWEST);
    h.newest_only = false;
    /* Instant selectors of a range query: by step. */
    h.step_ms = m5 - 1;
    assert_int_equal(km_ch_sql_choose(&h, true, &r), KM_CH_READ_RAW);
    assert_int_equal(r, 0);
    h.step_ms = m5;
    assert_int_equal(km_ch_sql_choose(&h, true, &r), KM_CH_READ_LAST);
    assert_int_equal(r, m5);
    assert_int_equal(km_ch_sql_choose(&h, false, &r), KM_CH_READ_RAW);
    h.step_ms = h1;
    assert_int_equal(km_ch_sql_choose(&h, true, &r), KM_CH_READ_LAST);
    assert_int_equal(r, h1);
    /* Only when the evaluation times are bucket ends: a step of whole buckets, and the
     * last time on a bucket's end (else each step's newest sample may not be a bucket's). */
    h.maxt = 7 * h1 + m5;
    assert_int_equal(km_ch_sql_choose(&h, true, &r), KM_CH_READ_LAST);
    assert_int_equal(r, m5);
    h.maxt = 7 * h1 + 1000;
    assert_int_equal(km_ch_sql_choose(&h, true, &r), KM_CH_READ_RAW);
    h.maxt = 7 * h1;
    h.step_ms = 7 * 60000; /* not a whole number of 5m buckets */
    assert_int_equal(km_ch_sql_choose(&h, true, &r), KM_CH_READ_RAW);
    h.step_ms = h1;
    /* A range selector without a function it serves: raw. */
    h.range_ms = h1;
    assert_int_equal(km_ch_sql_choose(&h, true, &r), KM_CH_READ_RAW);
    h.func = "rate";
    assert_int_equal(km_ch_sql_choose(&h, true, &r), KM_CH_READ_RAW);
    h.func = "last_over_time";
    assert_int_equal(km_ch_sql_choose(&h, true, &r), KM_CH_READ_RAW);
    h.func = "min_over_time";
    assert_int_equal(km_ch_sql_choose(&h, true, &r), KM_CH_READ_MIN);
    assert_int_equal(r, h1);
    h.func = "max_over_time";
    h.range_ms = 2 * h1 + m5; /* not whole hours: the 5m buckets */
    assert_int_equal(km_ch_sql_choose(&h, true, &r), KM_CH_READ_MAX);
    assert_int_equal(r, m5);
    h.range_ms = m5 + 1; /* not whole buckets of either */
    assert_int_equal(km_ch_sql_choose(&h, true, &r), KM_CH_READ_RAW);
    h.range_ms = m5;
    h.step_ms = m5 - 1; /* step below a bucket */
    assert_int_equal(km_ch_sql_choose(&h, true, &r), KM_CH_READ_RAW);
}

/* ---- logs --------------------------------------------------------------------------- */

static void test_log_statements(void **state)
{
    struct km_matcher *m[2];
    struct km_buf b;
    const char *const must[2] = { "err'", "x\ny" };
    const size_t must_len[2] = { 4, 3 };
    struct km_ch_sql_log_page p = { .stream = 42, .lo = 100, .hi = 200, .limit = 2000 };
    const char *where =
        " WHERE vals[indexOf(names, '__name__')] = 'a' AND match(vals[indexOf(names, 'app')], "
        "'^(?-s:w.*)$') AND last_ns >= -3599999999900 AND stream IN (SELECT stream FROM logs_local "
        "WHERE ts >= 100 AND ts < 200)";
    char want[1024];

    (void)state;
    assert_int_equal(km_matcher_create(&m[0], KM_MATCH_EQ, "__name__", "a"), 0);
    assert_int_equal(km_matcher_create(&m[1], KM_MATCH_RE, "app", "w.*"), 0);
    km_buf_init(&b, 0);
    /* __name__ is no column of a stream: every label is in the arrays. */
    assert_int_equal(km_ch_sql_log_streams(&b, &tab, m, 2, 100, 200), 0);
    snprintf(want, sizeof(want),
             "SELECT stream, any(names), any(vals) FROM log_streams%s GROUP BY stream FORMAT "
             "RowBinary",
             where);
    assert_string_equal(km_buf_cstr(&b), want);
    km_buf_reset(&b);
    assert_int_equal(km_ch_sql_log_label_names(&b, &tab, m, 2, 100, 200), 0);
    snprintf(want, sizeof(want),
             "SELECT DISTINCT arrayJoin(names) AS x FROM log_streams%s ORDER BY x FORMAT RowBinary",
             where);
    assert_string_equal(km_buf_cstr(&b), want);
    km_buf_reset(&b);
    assert_int_equal(km_ch_sql_log_label_values(&b, &tab, "pod", m, 2, 100, 200), 0);
    snprintf(want, sizeof(want),
             "SELECT DISTINCT vals[indexOf(names, 'pod')] AS x FROM log_streams%s AND x != '' "
             "ORDER BY x FORMAT RowBinary",
             where);
    assert_string_equal(km_buf_cstr(&b), want);
    km_buf_reset(&b);
    assert_int_equal(km_ch_sql_log_stats(&b, &tab, m, 1, 100, 200), 0);
    assert_string_equal(
        km_buf_cstr(&b),
        "SELECT uniqExact(stream), uniqExact(stream, intDiv(ts, 86400000000000)), count(), "
        "sum(length(line)) FROM (SELECT DISTINCT stream, ts, line FROM logs_local WHERE ts >= 100 "
        "AND ts < 200 AND stream IN (SELECT stream FROM log_streams_local WHERE "
        "vals[indexOf(names, '__name__')] = 'a')) FORMAT RowBinary");
    /* Pages: forward, backward with the filters pushed down (quoted), one timestamp. */
    km_buf_reset(&b);
    assert_int_equal(km_ch_sql_log_page(&b, &tab, &p), 0);
    assert_string_equal(km_buf_cstr(&b), "SELECT ts, line FROM logs WHERE stream = 42 AND ts >= "
                                         "100 AND ts < 200 ORDER BY ts, line LIMIT 2000 FORMAT "
                                         "RowBinary");
    p.backward = true;
    p.must_contain = must;
    p.must_contain_len = must_len;
    p.n_must_contain = 2;
    km_buf_reset(&b);
    assert_int_equal(km_ch_sql_log_page(&b, &tab, &p), 0);
    assert_string_equal(km_buf_cstr(&b),
                        "SELECT ts, line FROM logs WHERE stream = 42 AND ts >= 100 AND ts < 200 "
                        "AND position(line, 'err\\'') > 0 AND position(line, 'x\\x0Ay') > 0 "
                        "ORDER BY ts DESC, line DESC LIMIT 2000 FORMAT RowBinary");
    p.exact = true;
    p.limit = 0;
    p.n_must_contain = 0;
    km_buf_reset(&b);
    assert_int_equal(km_ch_sql_log_page(&b, &tab, &p), 0);
    assert_string_equal(km_buf_cstr(&b), "SELECT ts, line FROM logs WHERE stream = 42 AND ts = 100 "
                                         "ORDER BY ts DESC, line DESC FORMAT RowBinary");
    km_buf_fini(&b);
    km_matcher_destroy(m[0]);
    km_matcher_destroy(m[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matchers), cmocka_unit_test(test_series),
        cmocka_unit_test(test_samples),  cmocka_unit_test(test_labels),
        cmocka_unit_test(test_choose),   cmocka_unit_test(test_log_statements),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
