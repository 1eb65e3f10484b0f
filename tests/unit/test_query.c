/*
 * Unit tests of `kmon query`'s parts: the API's answers read back (and rendered again to
 * the same bytes), the API's errors, the table and CSV printers, the time arguments and
 * the address shown in messages.
 */
#include "common/buf.h"
#include "common/err.h"
#include "common/jsonw.h"
#include "promql/render.h"
#include "query/query.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OK_PREFIX "{\"status\":\"success\",\"data\":"

/* The data objects of real answers; each must come back byte for byte. */
static const char *const datas[] = {
    "{\"resultType\":\"vector\",\"result\":[]}",
    "{\"resultType\":\"matrix\",\"result\":[]}",
    "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"__name__\":\"up\",\"instance\":"
    "\"a:9100\",\"job\":\"node\"},\"value\":[1435781451.781,\"1\"]},{\"metric\":{\"job\":"
    "\"x\"},\"value\":[1435781451.781,\"NaN\"]},{\"metric\":{},\"value\":[1435781451.781,"
    "\"+Inf\"]}]}",
    "{\"resultType\":\"matrix\",\"result\":[{\"metric\":{\"a\":\"x\\\"y\\n\xc3\xbc\"},"
    "\"values\":[[12,\"-Inf\"],[12.500,\"1e-07\"],[13.001,\"123456789012345680000\"],[14,"
    "\"1.2345678901234568e+21\"]]}]}",
    "{\"resultType\":\"scalar\",\"result\":[1796397007.25,\"0.3333333333333333\"]}",
    "{\"resultType\":\"scalar\",\"result\":[-1.5,\"-12345.678\"]}",
    "{\"resultType\":\"string\",\"result\":[1435781451,\"a \\\"b\\\"\"]}",
};

static int decode_data(const char *data, struct km_query_answer *a)
{
    struct km_buf b;
    int rc;

    km_buf_init(&b, 0);
    km_buf_printf(&b, OK_PREFIX "%s}", data);
    rc = km_query_decode(b.data, b.len, a);
    km_buf_fini(&b);
    return rc;
}

static void test_decode_renders_the_same(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(datas) / sizeof(datas[0]); i++) {
        struct km_query_answer a;
        struct km_buf b;
        struct km_jsonw w;

        assert_int_equal(decode_data(datas[i], &a), 0);
        km_buf_init(&b, 0);
        km_jsonw_init(&w, &b);
        km_pq_render_data(&w, &a.r);
        assert_string_equal(km_buf_cstr(&b), datas[i]);
        assert_null(a.warnings);
        km_buf_fini(&b);
        km_query_answer_fini(&a);
    }
}

static void check_refused(const char *body, int code, const char *msg_part)
{
    struct km_query_answer a;

    assert_int_equal(km_query_decode(body, strlen(body), &a), code);
    if (!strstr(km_err_msg(), msg_part))
        fail_msg("\"%s\" not in \"%s\"", msg_part, km_err_msg());
    assert_null(a.warnings);
    assert_int_equal(a.r.vec.n + a.r.range.n, 0);
}

static void test_decode_errors(void **state)
{
    struct km_query_answer a;
    static const char warn[] =
        OK_PREFIX "{\"resultType\":\"vector\",\"result\":[]},\"warnings\":[\"one\",\"two\"]}";

    (void)state;
    /* The API's errors, as the API words them (the parameter name taken off). */
    check_refused("{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid "
                  "parameter \\\"query\\\": 1:5: parse error: unexpected end of input\"}",
                  KM_EINVAL, "1:5: parse error: unexpected end of input");
    assert_string_equal(km_err_msg(), "1:5: parse error: unexpected end of input");
    check_refused("{\"status\":\"error\",\"errorType\":\"execution\",\"error\":\"boom\"}",
                  KM_EINVAL, "boom");
    check_refused("{\"status\":\"error\",\"errorType\":\"timeout\",\"error\":\"slow\"}",
                  KM_ETIMEDOUT, "slow");
    check_refused("{\"status\":\"error\",\"errorType\":\"canceled\",\"error\":\"gone\"}",
                  KM_ECANCELED, "gone");
    check_refused("{\"status\":\"error\",\"errorType\":\"internal\",\"error\":\"io\"}", KM_EIO,
                  "io");
    /* What is not such an answer. */
    check_refused("{\"error\":\"no such endpoint: /x\"}", KM_ECORRUPT, "no such endpoint: /x");
    check_refused("<html>404</html>", KM_ECORRUPT, "not JSON");
    check_refused("", KM_ECORRUPT, "not JSON");
    check_refused("[]", KM_ECORRUPT, "not an answer of the Prometheus API");
    check_refused(OK_PREFIX "{\"resultType\":\"table\",\"result\":[]}}", KM_ECORRUPT, "resultType");
    check_refused(OK_PREFIX "{\"resultType\":\"vector\",\"result\":{}}}", KM_ECORRUPT,
                  "not a list");
    check_refused(OK_PREFIX "{\"resultType\":\"vector\",\"result\":[{\"metric\":{},\"value\":"
                            "[1,\"x1\"]}]}}",
                  KM_ECORRUPT, "sample value");
    check_refused(OK_PREFIX "{\"resultType\":\"vector\",\"result\":[{\"metric\":{},\"value\":"
                            "[\"1\",\"1\"]}]}}",
                  KM_ECORRUPT, "time");
    check_refused(OK_PREFIX "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"a\":\"1\"},"
                            "\"value\":[1,\"1\"]},{\"metric\":{\"a\":\"2\"},\"value\":[2,\"1\"]}]"
                            "}}",
                  KM_ECORRUPT, "different times");
    check_refused(OK_PREFIX "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"a-b\":\"1\"},"
                            "\"value\":[1,\"1\"]}]}}",
                  KM_ECORRUPT, "bad label set");
    check_refused(OK_PREFIX "{\"resultType\":\"matrix\",\"result\":[{\"metric\":{},\"values\":"
                            "[[1,\"1\"],[2]]}]}}",
                  KM_ECORRUPT, "[time, \"value\"]");
    check_refused(OK_PREFIX "{\"resultType\":\"vector\",\"result\":[{\"metric\":{},"
                            "\"histogram\":[1,{\"count\":\"1\"}]}]}}",
                  KM_EINVAL, "native histograms");
    check_refused(OK_PREFIX "{\"resultType\":\"scalar\",\"result\":[1e300,\"1\"]}}", KM_ECORRUPT,
                  "out of range");
    /* Warnings come along, one a line. */
    assert_int_equal(km_query_decode(warn, strlen(warn), &a), 0);
    assert_string_equal(a.warnings, "one\ntwo");
    km_query_answer_fini(&a);
}

/* What km_query_print writes for the answer with data `data`. */
static char *print_data(const char *data, enum km_query_output how)
{
    struct km_query_answer a;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    assert_non_null(f);
    assert_int_equal(decode_data(data, &a), 0);
    assert_int_equal(km_query_print(f, &a.r, how), 0);
    fclose(f);
    km_query_answer_fini(&a);
    return text;
}

static void check_print(const char *data, enum km_query_output how, const char *want)
{
    char *got = print_data(data, how);

    assert_string_equal(got, want);
    free(got);
}

static void test_print_table(void **state)
{
    (void)state;
    /* Columns aligned in characters (ü is one), values to the right. */
    check_print("{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"__name__\":\"up\",\"a\":"
                "\"\\u00fc\"},\"value\":[12,\"1\"]},{\"metric\":{\"__name__\":\"up\"},\"value\":"
                "[12,\"0.25\"]},{\"metric\":{\"b\":\"x\\\"\\n\"},\"value\":[12,\"-Inf\"]}]}",
                KM_QUERY_OUTPUT_TABLE,
                "up{a=\"\xc3\xbc\"}       1  @ 1970-01-01T00:00:12Z\n"
                "up           0.25  @ 1970-01-01T00:00:12Z\n"
                "{b=\"x\\\"\\n\"}  -Inf  @ 1970-01-01T00:00:12Z\n");
    /* A matrix: every line names its series, a blank line between series. */
    check_print("{\"resultType\":\"matrix\",\"result\":[{\"metric\":{\"j\":\"a\"},\"values\":[[1,"
                "\"10\"],[1.5,\"2\"]]},{\"metric\":{\"j\":\"bb\"},\"values\":[[1,\"3\"]]}]}",
                KM_QUERY_OUTPUT_TABLE,
                "{j=\"a\"}   10  @ 1970-01-01T00:00:01Z\n"
                "{j=\"a\"}    2  @ 1970-01-01T00:00:01.500Z\n"
                "\n"
                "{j=\"bb\"}   3  @ 1970-01-01T00:00:01Z\n");
}

static void test_print_table_kinds(void **state)
{
    (void)state;
    check_print(datas[4], KM_QUERY_OUTPUT_TABLE,
                "scalar  0.3333333333333333  @ 2026-12-04T15:10:07.250Z\n");
    check_print(datas[6], KM_QUERY_OUTPUT_TABLE,
                "string  \"a \\\"b\\\"\"  @ 2015-07-01T20:10:51Z\n");
    check_print(datas[0], KM_QUERY_OUTPUT_TABLE, "");
}

/* JSON is the data object as the API writes it, and a newline. */
static void test_print_json(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(datas) / sizeof(datas[0]); i++) {
        char *got = print_data(datas[i], KM_QUERY_OUTPUT_JSON);

        assert_int_equal(strlen(got), strlen(datas[i]) + 1);
        assert_memory_equal(got, datas[i], strlen(datas[i]));
        assert_int_equal(got[strlen(datas[i])], '\n');
        free(got);
    }
}

static void test_print_csv(void **state)
{
    (void)state;
    check_print("{\"resultType\":\"matrix\",\"result\":[{\"metric\":{\"__name__\":\"m\",\"z\":"
                "\"a,b\"},\"values\":[[1,\"1\"],[2.5,\"NaN\"]]},{\"metric\":{\"A\":\"q\\\"\\n\"},"
                "\"values\":[[3,\"2\"]]}]}",
                KM_QUERY_OUTPUT_CSV,
                "__name__,A,z,timestamp,value\n"
                "m,,\"a,b\",1,1\n"
                "m,,\"a,b\",2.500,NaN\n"
                ",\"q\"\"\n\",,3,2\n");
    check_print(datas[4], KM_QUERY_OUTPUT_CSV,
                "timestamp,value\n1796397007.250,0.3333333333333333\n");
    check_print(datas[0], KM_QUERY_OUTPUT_CSV, "timestamp,value\n");
}

static void check_time(const char *s, int64_t now, int64_t want)
{
    int64_t ms = 0;

    assert_int_equal(km_query_parse_time(s, now, &ms), 0);
    assert_int_equal(ms, want);
}

static void test_times(void **state)
{
    int64_t ms = 42;

    (void)state;
    check_time("1435781451.781", 0, 1435781451781ll);
    check_time("-3600", 5000000, -3600000); /* a number is a time, as the API reads it */
    check_time("2015-07-01T20:10:51Z", 0, 1435781451000ll);
    check_time("now", 5000000, 5000000);
    check_time("-1h", 5000000, 5000000 - 3600000);
    check_time("now-90m", 9000000, 9000000 - 5400000);
    check_time("+5m", 0, 300000);
    check_time("now+1m30s", 0, 90000);
    assert_int_equal(km_query_parse_time("1h", 0, &ms), KM_EINVAL);
    assert_non_null(strstr(km_err_msg(), "bad time \"1h\""));
    assert_int_equal(km_query_parse_time("now-", 0, &ms), KM_EINVAL);
    assert_int_equal(km_query_parse_time("nowhere", 0, &ms), KM_EINVAL);
    assert_int_equal(km_query_parse_time("--1h", 0, &ms), KM_EINVAL);
    assert_int_equal(km_query_parse_time("", 0, &ms), KM_EINVAL);
    assert_int_equal(ms, 42);
    /* promtool's step: the range over 250 points in whole seconds, at least 1 s. */
    assert_int_equal(km_query_auto_step(0, 3600000), 14000);
    assert_int_equal(km_query_auto_step(0, 60000), 1000);
    assert_int_equal(km_query_auto_step(0, 0), 1000);
    assert_int_equal(km_query_auto_step(0, 86400000), 345000);
}

static void test_url_for_humans(void **state)
{
    char out[256];

    (void)state;
    assert_string_equal(km_query_url_for_humans("http://h:5000", out, sizeof(out)),
                        "http://h:5000");
    assert_string_equal(km_query_url_for_humans("https://me:s3cr@t@h:5000/p?a@b", out, sizeof(out)),
                        "https://h:5000/p?a@b");
    assert_string_equal(km_query_url_for_humans("http://me@h/x@y", out, sizeof(out)),
                        "http://h/x@y");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_renders_the_same),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_print_table),
        cmocka_unit_test(test_print_table_kinds),
        cmocka_unit_test(test_print_json),
        cmocka_unit_test(test_print_csv),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_url_for_humans),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
