/*
 * Unit tests: the PromQL evaluator over a small store, for what fuzz_promql_eval found —
 * each test names the fault it keeps fixed. Queries are parsed, evaluated over an
 * embedded TSDB in a scratch directory and their results compared as the JSON the HTTP
 * API writes of them (expected answers checked against Prometheus 2.42 with promtool
 * where Prometheus answers). Faults that were undefined behaviour or leaks fail here in
 * the sanitizer build (UBSan, LeakSanitizer).
 */
#include "common/buf.h"
#include "common/err.h"
#include "common/jsonw.h"
#include "promql/eval.h"
#include "promql/parse.h"
#include "promql/render.h"
#include "tsdb/tsdb_storage.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIN 60000LL

static char dir[256];
static struct km_storage *store;

static int64_t test_clock(void)
{
    return 24 * 60 * MIN;
}

/* x{job="a",i="1"} 1 1, x{job="b",i="2"} 1 2, x{job="c",i="3"} 2 2 at 0 and 1m. */
static int setup(void **state)
{
    static const struct km_label l[3][3] = {
        { { "__name__", "x" }, { "job", "a" }, { "i", "1" } },
        { { "__name__", "x" }, { "job", "b" }, { "i", "2" } },
        { { "__name__", "x" }, { "job", "c" }, { "i", "3" } },
    };
    static const double v[3][2] = { { 1, 1 }, { 1, 2 }, { 2, 2 } };
    struct km_sample smp[6];
    struct km_append_result res;
    struct km_tsdb_opts o;
    char cmd[300];

    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/kmon-test-promql-eval-%d", (int)getpid());
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return -1;
    km_tsdb_opts_default(&o);
    o.dir = dir;
    o.no_background = true;
    o.clock_ms = test_clock;
    if (km_tsdb_storage_open(&store, &o) != 0)
        return -1;
    for (int s = 0; s < 3; s++) {
        for (int k = 0; k < 2; k++)
            smp[s * 2 + k] = (struct km_sample){ l[s], 3, k * MIN, v[s][k] };
    }
    return km_storage_append(store, smp, 6, NULL, &res) == 0 && res.appended == 6 ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[300];

    (void)state;
    km_storage_close(store);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Evaluate q (instant at `start` when step is 0) with this samples limit; the result's
 * JSON in out, or the error message. Returns the evaluator's code. */
static int query(const char *q, int64_t start, int64_t end, int64_t step, uint64_t max_samples,
                 char *out, size_t outsize)
{
    struct km_promql_expr *e = NULL;
    struct km_pq_opts o;
    struct km_pq_result r;
    int rc;

    km_pq_opts_default(&o);
    o.max_samples = max_samples;
    if (km_promql_parse(q, strlen(q), &e, NULL) != 0)
        fail_msg("%s does not parse: %s", q, km_err_msg());
    rc = step ? km_pq_eval_range(store, e, start, end, step, &o, &r)
              : km_pq_eval_instant(store, e, start, &o, &r);
    if (rc == 0) {
        struct km_buf b;
        struct km_jsonw w;

        km_buf_init(&b, 0);
        km_jsonw_init(&w, &b);
        km_pq_render_data(&w, &r);
        snprintf(out, outsize, "%s", km_buf_cstr(&b));
        km_buf_fini(&b);
    } else {
        snprintf(out, outsize, "%s", km_err_msg());
    }
    km_pq_result_fini(&r);
    km_promql_expr_destroy(e);
    return rc;
}

#define VECTOR(...) "{\"resultType\":\"vector\",\"result\":[" __VA_ARGS__ "]}"

/* count_values sets its label before grouping (so `by (job)` counts across jobs by
 * value, and `without (job)` drops the value); kmon grouped first, and gave two series
 * with one label set. */
static void test_count_values_groups_after_labelling(void **state)
{
    char got[4096];

    (void)state;
    assert_int_equal(query("count_values(\"job\", x) by (job)", 0, 0, 0, 1000, got, sizeof(got)),
                     0);
    assert_string_equal(got, VECTOR("{\"metric\":{\"job\":\"1\"},\"value\":[0,\"2\"]},"
                                    "{\"metric\":{\"job\":\"2\"},\"value\":[0,\"1\"]}"));
    assert_int_equal(
        query("count_values(\"job\", x) without (job)", 0, 0, 0, 1000, got, sizeof(got)), 0);
    assert_string_equal(got, VECTOR("{\"metric\":{\"i\":\"1\"},\"value\":[0,\"1\"]},"
                                    "{\"metric\":{\"i\":\"2\"},\"value\":[0,\"1\"]},"
                                    "{\"metric\":{\"i\":\"3\"},\"value\":[0,\"1\"]}"));
    assert_int_equal(query("count_values(\"v\", x) without (i)", 0, 0, 0, 1000, got, sizeof(got)),
                     0);
    assert_string_equal(got,
                        VECTOR("{\"metric\":{\"job\":\"a\",\"v\":\"1\"},\"value\":[0,\"1\"]},"
                               "{\"metric\":{\"job\":\"b\",\"v\":\"1\"},\"value\":[0,\"1\"]},"
                               "{\"metric\":{\"job\":\"c\",\"v\":\"2\"},\"value\":[0,\"1\"]}"));
}

/* count_values over a range query makes a series per distinct value, each a row of every
 * step: 2 000 steps of distinct values held 4 million cells (32 MB) for 4 000 points.
 * Past a row per point of the limit it is now refused. */
static void test_count_values_rows_within_the_limit(void **state)
{
    char got[4096];

    (void)state;
    assert_int_equal(
        query("count_values(\"v\", vector(time()))", 0, 1999000, 1000, 10000, got, sizeof(got)),
        KM_ELIMIT);
    assert_string_equal(got, "query processing would load too many samples into memory in "
                             "query execution");
    /* A few values over the same steps are fine. */
    assert_int_equal(query("count_values(\"v\", x)", 0, 1999000, 1000, 10000, got, sizeof(got)), 0);
}

/* Times at the ends of int64: `@ 1e17` is INT64_MIN (as Go converts it), and offsets,
 * ranges and the lookback went past it (signed overflow; UBSan). They read nothing. */
static void test_times_at_the_ends_of_int64(void **state)
{
    static const char *const queries[] = {
        "x @ 1e17",
        "x @ -1e17 offset 1y",
        "rate(x[5m] @ 1e17)",
        "x @ 9223372036854775 offset -292y",
        "max_over_time(x[1h:1m] @ 1e17)",
        "max_over_time(x[1h:7s] @ 9223372036854775 offset -1h)",
        "count_over_time(x[292y] @ -9223372036854775)",
    };
    char got[4096];

    (void)state;
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        assert_int_equal(query(queries[i], 0, 0, 0, 1000, got, sizeof(got)), 0);
        assert_string_equal(got, VECTOR());
    }
}

/* vector(s) that hits the samples limit half way left its series behind (a leak,
 * LeakSanitizer). */
static void test_vector_at_the_limit(void **state)
{
    char got[4096];

    (void)state;
    assert_int_equal(query("vector(1) ^ 0", 0, 99000, 1000, 50, got, sizeof(got)), KM_ELIMIT);
}

/* A range query from -9.2e15 s to 9.2e15 s (what the API parses) spans more than an int64
 * of milliseconds: end − start wrapped (signed overflow; UBSan) and made a grid of 2^64 − 2
 * steps. The span is counted unsigned now: 185 steps of 1e17 ms. */
static void test_range_across_int64(void **state)
{
    struct km_promql_expr *e = NULL;
    struct km_pq_opts o;
    struct km_pq_result r;

    (void)state;
    km_pq_opts_default(&o);
    o.max_samples = 1000;
    assert_int_equal(km_promql_parse("time()", 6, &e, NULL), 0);
    assert_int_equal(km_pq_eval_range(store, e, -9200000000000000000LL, 9200000000000000000LL,
                                      100000000000000000LL, &o, &r),
                     0);
    assert_int_equal(r.grid.n, 185);
    assert_int_equal(r.vec.n, 1);
    assert_true(r.vec.s[0].v[184] == 9.2e15);
    km_pq_result_fini(&r);
    km_promql_expr_destroy(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count_values_groups_after_labelling),
        cmocka_unit_test(test_count_values_rows_within_the_limit),
        cmocka_unit_test(test_times_at_the_ends_of_int64),
        cmocka_unit_test(test_vector_at_the_limit),
        cmocka_unit_test(test_range_across_int64),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
