/*
 * Unit tests: the evaluator's parts that need no parser — Go-compatible number
 * formatting, the range functions' arithmetic (rate's extrapolation against hand-worked
 * values, counter resets, irate, deriv, predict_linear, holt_winters, quantiles),
 * histogram_quantile's bucket rules, and label_replace's Go-style expansion.
 */
#include "promql/fmt.h"
#include "promql/instfn.h"
#include "promql/rangefn.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>

static const char *fmt(double v)
{
    static char buf[64];

    km_pq_fmt_value(buf, sizeof(buf), v);
    return buf;
}

static void test_value_format(void **state)
{
    (void)state;
    assert_string_equal(fmt(0), "0");
    assert_string_equal(fmt(-0.0), "-0");
    assert_string_equal(fmt(1), "1");
    assert_string_equal(fmt(0.1), "0.1");
    assert_string_equal(fmt(1.5), "1.5");
    assert_string_equal(fmt(1e6), "1000000");
    assert_string_equal(fmt(123456789012345678.0), "123456789012345680");
    assert_string_equal(fmt(1e21), "1e+21");
    assert_string_equal(fmt(1.5e21), "1.5e+21");
    assert_string_equal(fmt(1e-6), "0.000001");
    assert_string_equal(fmt(1e-7), "1e-07");
    assert_string_equal(fmt(-2.5e-10), "-2.5e-10");
    assert_string_equal(fmt(1.0 / 3), "0.3333333333333333");
    assert_string_equal(fmt(2.0 / 3), "0.6666666666666666");
    assert_string_equal(fmt(0.30000000000000004), "0.30000000000000004");
    assert_string_equal(fmt(NAN), "NaN");
    assert_string_equal(fmt(INFINITY), "+Inf");
    assert_string_equal(fmt(-INFINITY), "-Inf");
    assert_string_equal(fmt(5e-324), "5e-324");
    assert_string_equal(fmt(1.7976931348623157e308), "1.7976931348623157e+308");
    {
        char buf[64];

        km_pq_fmt_float_f(buf, sizeof(buf), 1e21);
        assert_string_equal(buf, "1000000000000000000000");
        km_pq_fmt_float_f(buf, sizeof(buf), 1e-7);
        assert_string_equal(buf, "0.0000001");
        km_pq_fmt_time(buf, sizeof(buf), 1435781451781);
        assert_string_equal(buf, "1435781451.781");
        km_pq_fmt_time(buf, sizeof(buf), 1435781451780);
        assert_string_equal(buf, "1435781451.780");
        km_pq_fmt_time(buf, sizeof(buf), 1435781451000);
        assert_string_equal(buf, "1435781451");
        km_pq_fmt_time(buf, sizeof(buf), -1500);
        assert_string_equal(buf, "-1.500");
        km_pq_fmt_time(buf, sizeof(buf), 5);
        assert_string_equal(buf, "0.005");
    }
}

static double apply(enum km_pq_rangefn fn, const int64_t *t, const double *v, size_t n,
                    int64_t start, int64_t end, double a1, double a2, bool *ok)
{
    struct km_pq_window w = { t, v, n, start, end, false };
    double scratch[64], out = NAN;

    *ok = km_pq_range_apply(fn, &w, a1, a2, end, scratch, &out);
    return out;
}

static void test_rate_extrapolation(void **state)
{
    /* Samples every 15 s over a 60 s window [0, 60000], counter rising 10 per sample. */
    int64_t t[] = { 5000, 20000, 35000, 50000 };
    double v[] = { 100, 110, 120, 130 };
    bool ok;
    double r;

    (void)state;
    /* Sampled over 45 s, 15 s apart (threshold 16.5 s); 5 s to the window's start and
     * 10 s to its end are both within it: extended to 60 s. */
    r = apply(KM_PQ_INCREASE, t, v, 4, 0, 60000, 0, 0, &ok);
    assert_true(ok && fabs(r - 30.0 * 60 / 45) < 1e-12);
    r = apply(KM_PQ_RATE, t, v, 4, 0, 60000, 0, 0, &ok);
    assert_true(ok && fabs(r - 30.0 * 60 / 45 / 60) < 1e-12);
    /* 65 s from the window's start: extrapolated by half a gap only. */
    r = apply(KM_PQ_INCREASE, t, v, 4, -60000, 60000, 0, 0, &ok);
    assert_true(ok && fabs(r - 30.0 * (45 + 7.5 + 10) / 45) < 1e-12);
    /* A counter is not extrapolated below zero: from 1 rising 30 in 45 s it was zero
     * 1.5 s before the first sample. */
    {
        double v2[] = { 1, 11, 21, 31 };

        r = apply(KM_PQ_INCREASE, t, v2, 4, -60000, 60000, 0, 0, &ok);
        assert_true(ok && fabs(r - 30.0 * (45 + 1.5 + 10) / 45) < 1e-12);
        /* delta is no counter: half a gap. */
        r = apply(KM_PQ_DELTA, t, v2, 4, -60000, 60000, 0, 0, &ok);
        assert_true(ok && fabs(r - 30.0 * (45 + 7.5 + 10) / 45) < 1e-12);
    }
    /* A reset adds the value before it. */
    {
        double v3[] = { 100, 110, 5, 15 };

        r = apply(KM_PQ_INCREASE, t, v3, 4, 0, 60000, 0, 0, &ok);
        assert_true(ok && fabs(r - (15 - 100 + 110) * 60.0 / 45) < 1e-12);
        r = apply(KM_PQ_RESETS, t, v3, 4, 0, 60000, 0, 0, &ok);
        assert_true(ok && r == 1);
        r = apply(KM_PQ_DELTA, t, v3, 4, 0, 60000, 0, 0, &ok);
        assert_true(ok && fabs(r - (15 - 100) * 60.0 / 45) < 1e-12);
        r = apply(KM_PQ_IRATE, t, v3, 4, 0, 60000, 0, 0, &ok);
        assert_true(ok && fabs(r - 10.0 / 15) < 1e-12);
        r = apply(KM_PQ_IRATE, t, v3, 3, 0, 60000, 0, 0, &ok); /* reset: the last value */
        assert_true(ok && fabs(r - 5.0 / 15) < 1e-12);
    }
    /* One sample: no rate. */
    apply(KM_PQ_RATE, t, v, 1, 0, 60000, 0, 0, &ok);
    assert_false(ok);
}

static void test_regression_and_smoothing(void **state)
{
    int64_t t[] = { 0, 10000, 20000, 30000 };
    double v[] = { 1, 3, 5, 7 }; /* 0.2 per second */
    bool ok;
    double r;

    (void)state;
    r = apply(KM_PQ_DERIV, t, v, 4, 0, 30000, 0, 0, &ok);
    assert_true(ok && fabs(r - 0.2) < 1e-12);
    /* predict_linear from the window's end (30 s) 60 s ahead: 7 + 12. */
    r = apply(KM_PQ_PREDICT_LINEAR, t, v, 4, 0, 30000, 60, 0, &ok);
    assert_true(ok && fabs(r - 19) < 1e-9);
    /* A constant series has slope 0 exactly. */
    {
        double c[] = { 4, 4, 4, 4 };

        r = apply(KM_PQ_DERIV, t, c, 4, 0, 30000, 0, 0, &ok);
        assert_true(ok && r == 0);
    }
    /* holt_winters of a straight line follows it. */
    r = apply(KM_PQ_HOLT_WINTERS, t, v, 4, 0, 30000, 0.5, 0.5, &ok);
    assert_true(ok && fabs(r - 7) < 1e-9);
    r = apply(KM_PQ_CHANGES, t, v, 4, 0, 30000, 0, 0, &ok);
    assert_true(ok && r == 3);
    r = apply(KM_PQ_AVG_OVER_TIME, t, v, 4, 0, 30000, 0, 0, &ok);
    assert_true(ok && r == 4);
    r = apply(KM_PQ_STDVAR_OVER_TIME, t, v, 4, 0, 30000, 0, 0, &ok);
    assert_true(ok && fabs(r - 5) < 1e-12);
    r = apply(KM_PQ_QUANTILE_OVER_TIME, t, v, 4, 0, 30000, 0.5, 0, &ok);
    assert_true(ok && r == 4);
    r = apply(KM_PQ_QUANTILE_OVER_TIME, t, v, 4, 0, 30000, 1.5, 0, &ok);
    assert_true(ok && isinf(r) && r > 0);
    {
        double inf[] = { INFINITY, 1, INFINITY, 2 };

        r = apply(KM_PQ_AVG_OVER_TIME, t, inf, 4, 0, 30000, 0, 0, &ok);
        assert_true(ok && isinf(r) && r > 0);
    }
}

static void test_bucket_quantile(void **state)
{
    struct km_pq_bucket b[8];

    (void)state;
    /* 0.1: 10, 0.5: 50, 1: 90, +Inf: 100 — the median lies halfway into (0.1, 0.5]. */
    b[0] = (struct km_pq_bucket){ 0.1, 10 };
    b[1] = (struct km_pq_bucket){ 1, 90 };
    b[2] = (struct km_pq_bucket){ INFINITY, 100 };
    b[3] = (struct km_pq_bucket){ 0.5, 50 };
    assert_true(fabs(km_pq_bucket_quantile(0.5, b, 4) - 0.5) < 1e-12);
    b[0] = (struct km_pq_bucket){ 0.1, 10 };
    b[1] = (struct km_pq_bucket){ 1, 90 };
    b[2] = (struct km_pq_bucket){ INFINITY, 100 };
    b[3] = (struct km_pq_bucket){ 0.5, 50 };
    /* Beyond the last finite bucket: its bound. */
    assert_true(km_pq_bucket_quantile(0.99, b, 4) == 1);
    /* No +Inf bucket: NaN. */
    b[0] = (struct km_pq_bucket){ 0.1, 10 };
    b[1] = (struct km_pq_bucket){ 1, 90 };
    assert_true(isnan(km_pq_bucket_quantile(0.5, b, 2)));
    /* le="1" and le="1.0" add up; a count that goes down is raised. */
    b[0] = (struct km_pq_bucket){ 1, 30 };
    b[1] = (struct km_pq_bucket){ 1, 30 };
    b[2] = (struct km_pq_bucket){ 2, 50 };
    b[3] = (struct km_pq_bucket){ 3, 40 };
    b[4] = (struct km_pq_bucket){ INFINITY, 100 };
    assert_true(fabs(km_pq_bucket_quantile(0.5, b, 5) - 50.0 / 60) < 1e-12);
    assert_true(isinf(km_pq_bucket_quantile(-1, b, 5)));
    assert_true(isnan(km_pq_bucket_quantile(NAN, b, 5)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_value_format),
        cmocka_unit_test(test_rate_extrapolation),
        cmocka_unit_test(test_regression_and_smoothing),
        cmocka_unit_test(test_bucket_quantile),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
