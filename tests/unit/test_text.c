/*
 * Unit tests: number formatting, UTF-8 checks, the text exposition writer, the JSON
 * writer, durations, sizes and RFC 3339 timestamps.
 */
#include "common/buf.h"
#include "common/err.h"
#include "common/expfmt.h"
#include "common/jsonw.h"
#include "common/numfmt.h"
#include "common/timefmt.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void check_double(double v, const char *want)
{
    char out[KM_FMT_DOUBLE_MAX];
    size_t n = km_fmt_double(out, v);

    assert_int_equal(n, strlen(want));
    assert_string_equal(out, want);
}

static void test_fmt_double(void **state)
{
    (void)state;
    check_double(0, "0");
    check_double(-0.0, "-0");
    check_double(1, "1");
    check_double(-42, "-42");
    check_double(9007199254740991.0, "9007199254740991");
    check_double(0.1, "0.1");
    check_double(1787.94, "1787.94");
    check_double(1.5e-7, "1.5e-07");
    check_double(1e300, "1e+300");
    check_double(NAN, "NaN");
    check_double(INFINITY, "+Inf");
    check_double(-INFINITY, "-Inf");
}

static void test_fmt_double_roundtrips(void **state)
{
    uint64_t x = 88172645463325252ull;

    (void)state;
    /* Random bit patterns (xorshift) must read back bit-exactly. */
    for (int i = 0; i < 100000; i++) {
        char out[KM_FMT_DOUBLE_MAX];
        double v, back;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(&v, &x, sizeof(v));
        if (!isfinite(v))
            continue;
        km_fmt_double(out, v);
        back = strtod(out, NULL);
        assert_memory_equal(&v, &back, sizeof(v));
    }
}

static void test_utf8(void **state)
{
    (void)state;
    assert_int_equal(km_utf8_seq_len((const unsigned char *)"a", 1), 1);
    assert_int_equal(km_utf8_seq_len((const unsigned char *)"\xc3\xa9", 2), 2);
    assert_int_equal(km_utf8_seq_len((const unsigned char *)"\xe2\x82\xac", 3), 3);
    assert_int_equal(km_utf8_seq_len((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
    assert_int_equal(km_utf8_seq_len((const unsigned char *)"\xc3", 1), 0);         /* cut */
    assert_int_equal(km_utf8_seq_len((const unsigned char *)"\xc0\xaf", 2), 0);     /* overlong */
    assert_int_equal(km_utf8_seq_len((const unsigned char *)"\xed\xa0\x80", 3), 0); /* surrogate */
    assert_int_equal(km_utf8_seq_len((const unsigned char *)"\xf4\x90\x80\x80", 4), 0);
    assert_int_equal(km_utf8_seq_len((const unsigned char *)"\xff", 1), 0);
}

static void test_expfmt(void **state)
{
    struct km_buf b;
    struct km_label l[3] = {
        { "path", "C:\\dir\n\"q\"" },
        { "bad", "a\xff"
                 "b" },
        { "utf", "\xc3\xa9" },
    };

    (void)state;
    km_buf_init(&b, 0);
    km_expfmt_family(&b, "m_total", "Help with \\ and\nnewline and \"quotes\".", "counter");
    km_expfmt_sample(&b, "m_total", l, 3, 1.5, false, 0);
    km_expfmt_sample(&b, "m_total", NULL, 0, NAN, true, 1700000000123);
    km_expfmt_family(&b, "g", NULL, "gauge");
    km_expfmt_sample(&b, "g", NULL, 0, -INFINITY, false, 0);
    assert_string_equal(km_buf_cstr(&b),
                        "# HELP m_total Help with \\\\ and\\nnewline and \"quotes\".\n"
                        "# TYPE m_total counter\n"
                        "m_total{path=\"C:\\\\dir\\n\\\"q\\\"\",bad=\"a\xef\xbf\xbd"
                        "b\",utf=\"\xc3\xa9\"} 1.5\n"
                        "m_total NaN 1700000000123\n"
                        "# TYPE g gauge\n"
                        "g -Inf\n");
    km_buf_fini(&b);
}

static void test_jsonw(void **state)
{
    struct km_buf b;
    struct km_jsonw w;

    (void)state;
    km_buf_init(&b, 0);
    km_jsonw_init(&w, &b);
    km_jsonw_obj_begin(&w);
    km_jsonw_key(&w, "s");
    km_jsonw_str(&w, "q\"\\\n\t\x01\xff\xc3\xa9");
    km_jsonw_key(&w, "a");
    km_jsonw_arr_begin(&w);
    km_jsonw_i64(&w, -1);
    km_jsonw_u64(&w, 18446744073709551615ull);
    km_jsonw_double(&w, 0.25);
    km_jsonw_double(&w, NAN);
    km_jsonw_bool(&w, true);
    km_jsonw_null(&w);
    km_jsonw_obj_begin(&w);
    km_jsonw_obj_end(&w);
    km_jsonw_arr_begin(&w);
    km_jsonw_arr_end(&w);
    km_jsonw_arr_end(&w);
    km_jsonw_key(&w, "k\"");
    km_jsonw_bool(&w, false);
    km_jsonw_obj_end(&w);
    assert_int_equal(km_buf_error(&b), 0);
    assert_string_equal(km_buf_cstr(&b),
                        "{\"s\":\"q\\\"\\\\\\n\\t\\u0001\\ufffd\xc3\xa9\","
                        "\"a\":[-1,18446744073709551615,0.25,null,true,null,{},[]],"
                        "\"k\\\"\":false}");
    km_buf_fini(&b);
}

static void test_jsonw_depth_limit(void **state)
{
    struct km_buf b;
    struct km_jsonw w;

    (void)state;
    km_buf_init(&b, 0);
    km_jsonw_init(&w, &b);
    for (int i = 0; i < 100; i++)
        km_jsonw_arr_begin(&w);
    assert_int_equal(km_buf_error(&b), KM_ELIMIT);
    km_buf_fini(&b);
}

static void check_duration(const char *s, int64_t want)
{
    int64_t ms = -1;

    assert_int_equal(km_duration_parse(s, &ms), 0);
    assert_int_equal(ms, want);
}

static void test_duration(void **state)
{
    int64_t ms;
    char out[64];

    (void)state;
    check_duration("5s", 5000);
    check_duration("500ms", 500);
    check_duration("1m30s", 90000);
    check_duration("2h", 7200000);
    check_duration("15d", 15ll * 86400000);
    check_duration("1w", 604800000);
    check_duration("1y", 31536000000ll);
    check_duration("1h2m3s4ms", 3723004);
    check_duration("30", 30000);
    check_duration("0.5", 500);
    check_duration("1.5h", 5400000);
    assert_int_equal(km_duration_parse("", &ms), KM_EINVAL);
    assert_int_equal(km_duration_parse("5", &ms), 0);
    assert_int_equal(km_duration_parse("-5s", &ms), KM_EINVAL);
    assert_int_equal(km_duration_parse("5x", &ms), KM_EINVAL);
    assert_int_equal(km_duration_parse("s", &ms), KM_EINVAL);
    assert_int_equal(km_duration_parse("5s1m", &ms), KM_EINVAL); /* small to large */
    assert_int_equal(km_duration_parse("1m5", &ms), KM_EINVAL);
    assert_int_equal(km_duration_parse("99999999999y", &ms), KM_EINVAL);
    assert_non_null(strstr(km_err_msg(), "too large"));
    km_duration_format(out, sizeof(out), 90000);
    assert_string_equal(out, "1m30s");
    km_duration_format(out, sizeof(out), 0);
    assert_string_equal(out, "0s");
    km_duration_format(out, sizeof(out), 86400000 + 250);
    assert_string_equal(out, "1d250ms");
}

static void test_size(void **state)
{
    uint64_t v;

    (void)state;
    assert_int_equal(km_size_parse("256MiB", &v), 0);
    assert_int_equal(v, 256ull << 20);
    assert_int_equal(km_size_parse("1GB", &v), 0);
    assert_int_equal(v, 1000000000ull);
    assert_int_equal(km_size_parse("64Ki", &v), 0);
    assert_int_equal(v, 65536);
    assert_int_equal(km_size_parse("1048576", &v), 0);
    assert_int_equal(v, 1048576);
    assert_int_equal(km_size_parse("1.5KiB", &v), 0);
    assert_int_equal(v, 1536);
    assert_int_equal(km_size_parse("12 parsecs", &v), KM_EINVAL);
    assert_int_equal(km_size_parse("-1", &v), KM_EINVAL);
    assert_int_equal(km_size_parse("", &v), KM_EINVAL);
    assert_int_equal(km_size_parse("99999999TiB", &v), KM_EINVAL);
}

static void test_rfc3339(void **state)
{
    char out[64];

    (void)state;
    km_time_format_rfc3339(out, sizeof(out), 1749723919273139000ll, 6);
    assert_string_equal(out, "2025-06-12T10:25:19.273139Z");
    km_time_format_rfc3339(out, sizeof(out), 1749723919273139000ll, 3);
    assert_string_equal(out, "2025-06-12T10:25:19.273Z");
    km_time_format_rfc3339(out, sizeof(out), 0, 0);
    assert_string_equal(out, "1970-01-01T00:00:00Z");
    km_time_format_rfc3339(out, 10, 0, 9); /* truncated, still terminated */
    assert_int_equal(strlen(out) < 10, 1);
}

/* Times as the Prometheus API reads them: seconds (fraction rounded to the ms), RFC 3339,
 * its minimum and maximum times; anything else refused. */
static void test_time_parse_prom(void **state)
{
    int64_t ms = 0;

    (void)state;
    assert_int_equal(km_time_parse_prom("1435781451.781", &ms), 0);
    assert_int_equal(ms, 1435781451781ll);
    assert_int_equal(km_time_parse_prom("1435781451.7816", &ms), 0);
    assert_int_equal(ms, 1435781451782ll);
    assert_int_equal(km_time_parse_prom("-1.5", &ms), 0);
    assert_int_equal(ms, -1500);
    assert_int_equal(km_time_parse_prom("12", &ms), 0);
    assert_int_equal(ms, 12000);
    assert_int_equal(km_time_parse_prom("2015-07-01T20:10:51.781Z", &ms), 0);
    assert_int_equal(ms, 1435781451781ll);
    assert_int_equal(km_time_parse_prom("2015-07-01T22:10:51+02:00", &ms), 0);
    assert_int_equal(ms, 1435781451000ll);
    assert_int_equal(km_time_parse_prom("-292273086-05-16T16:47:06Z", &ms), 0);
    assert_int_equal(ms, KM_TIME_PROM_MIN_MS);
    assert_int_equal(km_time_parse_prom("292277025-08-18T07:12:54.999999999Z", &ms), 0);
    assert_int_equal(ms, KM_TIME_PROM_MAX_MS);
    ms = 7;
    assert_int_equal(km_time_parse_prom("", &ms), KM_EINVAL);
    assert_int_equal(km_time_parse_prom("yesterday", &ms), KM_EINVAL);
    assert_non_null(strstr(km_err_msg(), "yesterday"));
    assert_int_equal(km_time_parse_prom("NaN", &ms), KM_EINVAL);
    assert_int_equal(km_time_parse_prom("Inf", &ms), KM_EINVAL);
    assert_int_equal(km_time_parse_prom("1e300", &ms), KM_EINVAL);
    assert_int_equal(km_time_parse_prom("12s", &ms), KM_EINVAL);
    assert_int_equal(ms, 7); /* untouched on failure */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fmt_double), cmocka_unit_test(test_fmt_double_roundtrips),
        cmocka_unit_test(test_utf8),       cmocka_unit_test(test_expfmt),
        cmocka_unit_test(test_jsonw),      cmocka_unit_test(test_jsonw_depth_limit),
        cmocka_unit_test(test_duration),   cmocka_unit_test(test_size),
        cmocka_unit_test(test_rfc3339),    cmocka_unit_test(test_time_parse_prom),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
