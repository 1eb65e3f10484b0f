/*
 * Unit tests: shortest round-trip digits (promql/dtoa.c) — values Go prints in a way a
 * naive formatter gets wrong (powers of two whose interval is lopsided, values just
 * below powers of ten, subnormals, the edges of the fast path), and a property check over
 * a million pseudo-random doubles: the digits read back, and no decimal with one digit
 * fewer does (checked by brute force with printf and strtod, independent of dtoa.c).
 */
#include "promql/dtoa.h"
#include "promql/fmt.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *fmt(double v)
{
    static char buf[64];

    km_pq_fmt_value(buf, sizeof(buf), v);
    return buf;
}

static void test_known(void **state)
{
    (void)state;
    /* Powers of two: the neighbour above reads back where the closest does not. */
    assert_string_equal(fmt(0x1p-24), "5.960464477539063e-08");
    assert_string_equal(fmt(0x1p-44), "5.684341886080802e-14");
    assert_string_equal(fmt(0x1p89), "6.189700196426902e+26");
    assert_string_equal(fmt(0x1p-1017), "7.120236347223045e-307");
    /* Just below powers of ten. */
    assert_string_equal(fmt(999.9999999999998), "999.9999999999998");
    assert_string_equal(fmt(9.999999999999999e20), "999999999999999900000");
    assert_string_equal(fmt(9.999999999999995e-15), "9.999999999999995e-15");
    /* Everyday values and the fast path's edges. */
    assert_string_equal(fmt(0.1), "0.1");
    assert_string_equal(fmt(0.3), "0.3");
    assert_string_equal(fmt(1.0 / 3), "0.3333333333333333");
    assert_string_equal(fmt(2.0 / 3), "0.6666666666666666");
    assert_string_equal(fmt(123.456), "123.456");
    assert_string_equal(fmt(1e-15), "1e-15");
    assert_string_equal(fmt(1e35), "1e+35");
    assert_string_equal(fmt(9007199254740993.0), "9007199254740992");
    /* 10^14 and up with fewer digits than the exponent: shifts by a negative count
     * (2^q below 2^53 and 2^(q-2) just above it; UBSan, found by fuzz_promql_eval
     * writing a scalar's time of 9.2e15 s). */
    assert_string_equal(fmt(1234567890123456.5), "1234567890123456.5");
    assert_string_equal(fmt(100000000000000.5), "100000000000000.5");
    assert_string_equal(fmt(9007199254740994.0), "9007199254740994");
    assert_string_equal(fmt(9200000000000000.0), "9200000000000000");
    assert_string_equal(fmt(18014398509481990.0), "18014398509481990");
    assert_string_equal(fmt(DBL_MAX), "1.7976931348623157e+308");
    assert_string_equal(fmt(DBL_MIN), "2.2250738585072014e-308");
    assert_string_equal(fmt(5e-324), "5e-324");
    assert_string_equal(fmt(-8.9334859036084e-310), "-8.9334859036084e-310");
}

/* Whether some decimal of n digits near |v| reads back as v (brute force). */
static bool shorter_reads_back(double v, int n)
{
    char buf[64], *end;

    if (n < 1)
        return false;
    snprintf(buf, sizeof(buf), "%.*e", n - 1, v);
    if (strtod(buf, &end) == v)
        return true;
    /* The neighbours of the rounded decimal, one unit in the last place away. */
    for (int dir = -1; dir <= 1; dir += 2) {
        double digits = strtod(buf, NULL), ulp;
        int e = (int)floor(log10(fabs(digits)));

        ulp = pow(10, e - n + 1);
        snprintf(buf, sizeof(buf), "%.*e", n - 1, digits + dir * ulp);
        if (strtod(buf, &end) == v)
            return true;
    }
    return false;
}

static uint64_t next_random(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Go's strconv.FormatFloat(v, 'e' or 'E', -1, 64), as Prometheus' alerts API and promtool
 * print values (checked with Go 1.19's output). */
static void test_format_exp(void **state)
{
    char out[KM_PQ_EXP_MAX];

    (void)state;
    assert_string_equal(km_pq_format_exp(out, 1, 'e'), "1e+00");
    assert_string_equal(km_pq_format_exp(out, 9, 'e'), "9e+00");
    assert_string_equal(km_pq_format_exp(out, 17, 'E'), "1.7E+01");
    assert_string_equal(km_pq_format_exp(out, -0.00025, 'e'), "-2.5e-04");
    assert_string_equal(km_pq_format_exp(out, 0.1, 'e'), "1e-01");
    assert_string_equal(km_pq_format_exp(out, 1e300, 'e'), "1e+300");
    assert_string_equal(km_pq_format_exp(out, 123456789012345678.0, 'e'), "1.2345678901234568e+17");
    assert_string_equal(km_pq_format_exp(out, 0, 'E'), "0E+00");
    assert_string_equal(km_pq_format_exp(out, -0.0, 'e'), "-0e+00");
    assert_string_equal(km_pq_format_exp(out, NAN, 'e'), "NaN");
    assert_string_equal(km_pq_format_exp(out, -INFINITY, 'e'), "-Inf");
    assert_string_equal(km_pq_format_exp(out, INFINITY, 'E'), "+Inf");
}

static void test_property(void **state)
{
    uint64_t seed = 0x9E3779B97F4A7C15ull;

    (void)state;
    for (int i = 0; i < 1000000; i++) {
        uint64_t bits = next_random(&seed);
        char d[24], text[64];
        int e, n;
        double v;

        /* Half with random exponents, half in the range values usually have. */
        if (i & 1)
            bits = (bits & 0x800FFFFFFFFFFFFFull) |
                   ((uint64_t)(1023 - 50 + (int)(bits >> 52) % 120) << 52);
        memcpy(&v, &bits, sizeof(v));
        if (!isfinite(v) || v == 0)
            continue;
        n = km_pq_shortest(v, d, &e);
        snprintf(text, sizeof(text), "%s%c.%se%d", v < 0 ? "-" : "", d[0], d + 1, e);
        if (strtod(text, NULL) != v)
            fail_msg("%a: %s does not read back", v, text);
        if (n > 1 && d[n - 1] == '0')
            fail_msg("%a: %s has a trailing zero", v, text);
        if (shorter_reads_back(v, n - 1))
            fail_msg("%a: %s is not the shortest", v, text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known),
        cmocka_unit_test(test_property),
        cmocka_unit_test(test_format_exp),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
