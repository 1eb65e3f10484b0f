/*
 * Unit tests: the container log line parsers — CRI lines (streams, partial and full
 * tags, empty lines, time zones and fractions) and Docker json-file lines (escapes,
 * surrogate pairs, partials), with malformed and truncated input refused with an error.
 * Timestamps are checked against values computed independently (Python's datetime).
 * And the positions checkpoint: a round trip, a missing file, damaged files refused.
 */
#include "agent/logs/logline.h"
#include "agent/logs/positions.h"
#include "common/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S(x) x, strlen(x)

static void test_ts(void **state)
{
    int64_t ns;

    (void)state;
    assert_int_equal(km_logline_parse_ts(S("2026-12-06T05:19:08.123456789Z"), &ns), 0);
    assert_true(ns == 1796534348ll * 1000000000 + 123456789);
    assert_int_equal(km_logline_parse_ts(S("2026-12-06T05:19:08Z"), &ns), 0);
    assert_true(ns == 1796534348ll * 1000000000);
    assert_int_equal(km_logline_parse_ts(S("2026-12-06T05:19:08.5Z"), &ns), 0);
    assert_true(ns == 1796534348ll * 1000000000 + 500000000);
    /* More than 9 digits: the rest ignored. */
    assert_int_equal(km_logline_parse_ts(S("2026-12-06T05:19:08.1234567891Z"), &ns), 0);
    assert_true(ns == 1796534348ll * 1000000000 + 123456789);
    assert_int_equal(km_logline_parse_ts(S("2026-12-06T07:19:08.000000001+02:00"), &ns), 0);
    assert_true(ns == 1796534348ll * 1000000000 + 1);
    assert_int_equal(km_logline_parse_ts(S("1999-02-28T18:59:59-05:00"), &ns), 0);
    assert_true(ns == 920246399ll * 1000000000);
    assert_int_equal(km_logline_parse_ts(S("2024-02-29T12:00:00Z"), &ns), 0);
    assert_true(ns == 1709208000ll * 1000000000);
    assert_int_equal(km_logline_parse_ts(S("2024-02-30T12:00:00Z"), &ns), KM_EINVAL);
    assert_int_equal(km_logline_parse_ts(S("2024-13-01T12:00:00Z"), &ns), KM_EINVAL);
    assert_int_equal(km_logline_parse_ts(S("2024-02-01T12:00:00"), &ns), KM_EINVAL);
    assert_int_equal(km_logline_parse_ts(S("2024-02-01T12:00:00.Z"), &ns), KM_EINVAL);
    assert_int_equal(km_logline_parse_ts(S("2024-02-01T12:00:00ZZ"), &ns), KM_EINVAL);
    assert_int_equal(km_logline_parse_ts(S("2024-02-01"), &ns), KM_EINVAL);
    assert_int_equal(km_logline_parse_ts(S("9999-02-01T12:00:00Z"), &ns), KM_EINVAL);
    assert_int_equal(km_logline_parse_ts(S(""), &ns), KM_EINVAL);
}

static void test_cri(void **state)
{
    struct km_logline l;
    const char *p;

    (void)state;
    p = "2026-12-06T05:19:08.123456789Z stdout F hello world";
    assert_int_equal(km_logline_parse_cri(S(p), &l), 0);
    assert_int_equal(l.stream, KM_LOGLINE_STDOUT);
    assert_false(l.partial);
    assert_int_equal(l.len, 11);
    assert_memory_equal(l.text, "hello world", 11);
    assert_true(l.ts_ns == 1796534348ll * 1000000000 + 123456789);

    p = "2026-12-06T05:19:08.1Z stderr P  two spaces kept ";
    assert_int_equal(km_logline_parse_cri(S(p), &l), 0);
    assert_int_equal(l.stream, KM_LOGLINE_STDERR);
    assert_true(l.partial);
    assert_int_equal(l.len, strlen(" two spaces kept "));
    assert_memory_equal(l.text, " two spaces kept ", l.len);

    /* An empty line: the tag at the end, with or without its space. */
    assert_int_equal(km_logline_parse_cri(S("2026-12-06T05:19:08Z stdout F"), &l), 0);
    assert_int_equal(l.len, 0);
    assert_int_equal(km_logline_parse_cri(S("2026-12-06T05:19:08Z stdout F "), &l), 0);
    assert_int_equal(l.len, 0);
    /* Bytes of any value in the text. */
    {
        char b[] = "2026-12-06T05:19:08Z stdout F a\0b\xff";

        assert_int_equal(km_logline_parse_cri(b, sizeof(b) - 1, &l), 0);
        assert_int_equal(l.len, 4);
        assert_memory_equal(l.text, "a\0b\xff", 4);
    }
    /* Malformed. */
    assert_int_equal(km_logline_parse_cri(S("hello"), &l), KM_EINVAL);
    assert_int_equal(km_logline_parse_cri(S(""), &l), KM_EINVAL);
    assert_int_equal(km_logline_parse_cri(S("2026-12-06T05:19:08Z stdin F x"), &l), KM_EINVAL);
    assert_int_equal(km_logline_parse_cri(S("2026-12-06T05:19:08Z stdout X x"), &l), KM_EINVAL);
    assert_int_equal(km_logline_parse_cri(S("2026-12-06T05:19:08Z stdout"), &l), KM_EINVAL);
    assert_int_equal(km_logline_parse_cri(S("2026-12-06T05:19:08Z stdout "), &l), KM_EINVAL);
    assert_int_equal(km_logline_parse_cri(S("2026-13-06T05:19:08Z stdout F x"), &l), KM_EINVAL);
    assert_int_equal(km_logline_parse_cri(S("{\"log\":\"x\"}"), &l), KM_EINVAL);
    /* Every truncation of a valid line is refused or parsed within its bytes. */
    p = "2026-12-06T05:19:08.123Z stdout F hello";
    for (size_t n = 0; n < strlen(p); n++) {
        char *c = malloc(n ? n : 1);

        memcpy(c, p, n);
        if (km_logline_parse_cri(c, n, &l) == 0)
            assert_true(l.text >= c && l.text + l.len <= c + n);
        free(c);
    }
}

static void test_docker(void **state)
{
    struct km_logline l;
    struct km_buf b;

    (void)state;
    km_buf_init(&b, 1024);
    assert_int_equal(km_logline_parse_docker(S("{\"log\":\"hello \\\"x\\\"\\n\",\"stream\":"
                                               "\"stdout\",\"time\":\"2026-12-06T05:19:08."
                                               "123456789Z\"}"),
                                             &b, &l),
                     0);
    assert_false(l.partial);
    assert_int_equal(l.stream, KM_LOGLINE_STDOUT);
    assert_int_equal(l.len, strlen("hello \"x\""));
    assert_memory_equal(l.text, "hello \"x\"", l.len);
    assert_true(l.ts_ns == 1796534348ll * 1000000000 + 123456789);

    /* Any order, spaces, escapes (é, 😀 as a surrogate pair, tab); no "\n": partial. */
    assert_int_equal(km_logline_parse_docker(S(" { \"time\" : \"2026-12-06T05:19:08Z\" , "
                                               "\"stream\":\"stderr\", \"log\":\"\\u00e9\\t"
                                               "\\ud83d\\ude00\\/\" } "),
                                             &b, &l),
                     0);
    assert_true(l.partial);
    assert_int_equal(l.stream, KM_LOGLINE_STDERR);
    assert_int_equal(l.len, 2 + 1 + 4 + 1);
    assert_memory_equal(l.text, "\xc3\xa9\t\xf0\x9f\x98\x80/", l.len);

    /* A lone surrogate becomes U+FFFD. */
    assert_int_equal(km_logline_parse_docker(S("{\"log\":\"\\ud800x\\n\",\"stream\":\"stdout\","
                                               "\"time\":\"2026-12-06T05:19:08Z\"}"),
                                             &b, &l),
                     0);
    assert_int_equal(l.len, 4);
    assert_memory_equal(l.text, "\xef\xbf\xbdx", 4);

    /* Malformed. */
    assert_int_equal(km_logline_parse_docker(S(""), &b, &l), KM_EINVAL);
    assert_int_equal(km_logline_parse_docker(S("{}"), &b, &l), KM_EINVAL);
    assert_int_equal(km_logline_parse_docker(S("{\"log\":\"x\\n\",\"stream\":\"stdout\"}"), &b, &l),
                     KM_EINVAL);
    assert_int_equal(km_logline_parse_docker(S("{\"log\":\"x\\q\",\"stream\":\"stdout\","
                                               "\"time\":\"2026-12-06T05:19:08Z\"}"),
                                             &b, &l),
                     KM_EINVAL);
    assert_int_equal(km_logline_parse_docker(S("{\"log\":\"x\",\"stream\":\"stdin\","
                                               "\"time\":\"2026-12-06T05:19:08Z\"}"),
                                             &b, &l),
                     KM_EINVAL);
    assert_int_equal(km_logline_parse_docker(S("{\"log\":\"x\",\"stream\":\"stdout\","
                                               "\"time\":\"2026-12-06T05:19:08Z\"} x"),
                                             &b, &l),
                     KM_EINVAL);
    assert_int_equal(km_logline_parse_docker(S("{\"log\":\"x\",\"stream\":\"stdout\","
                                               "\"time\":\"2026-12-06T05:19:08Z\",\"attrs\":{}}"),
                                             &b, &l),
                     KM_EINVAL);
    assert_int_equal(km_logline_parse_docker(S("{\"log\":\"\\u12\"}"), &b, &l), KM_EINVAL);
    assert_int_equal(km_logline_parse_docker(S("{\"log\":\"a\x01\"}"), &b, &l), KM_EINVAL);
    km_buf_fini(&b);

    /* Text over the scratch cap: KM_ELIMIT, not truncated silently. */
    km_buf_init(&b, 8);
    assert_int_equal(km_logline_parse_docker(S("{\"log\":\"0123456789abcdef\\n\",\"stream\":"
                                               "\"stdout\",\"time\":\"2026-12-06T05:19:08Z\"}"),
                                             &b, &l),
                     KM_ELIMIT);
    km_buf_fini(&b);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_positions(void **state)
{
    char dir[128], path[200], cmd[300];
    struct km_logpos in[3] = {
        { .path = "ns_pod_uid/c/0.log",
          .dev = 2049,
          .ino = 12345,
          .fp_len = 1024,
          .fp = 0xdeadbeefcafef00dull,
          .off = 987654321,
          .done = false },
        { .path = "ns_pod_uid/c/0.log.20261206-051900.gz",
          .dev = 2049,
          .ino = 7,
          .fp_len = 10,
          .fp = 1,
          .off = 5,
          .done = true },
        { .path = "has space/skipped", .dev = 1, .ino = 1 },
    };
    struct km_logpos *out;
    size_t n;

    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/kmon-test-logpos-%d", (int)getpid());
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof(path), "%s/positions", dir);
    assert_int_equal(km_logpos_load(dir, &out, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(km_logpos_save(dir, in, 3), 0);
    assert_int_equal(km_logpos_load(dir, &out, &n), 0);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_string_equal(out[i].path, in[i].path);
        assert_true(out[i].dev == in[i].dev && out[i].ino == in[i].ino);
        assert_true(out[i].fp_len == in[i].fp_len && out[i].fp == in[i].fp);
        assert_true(out[i].off == in[i].off && out[i].done == in[i].done);
    }
    km_logpos_free(out, n);
    assert_int_equal(access(path, F_OK), 0);
    /* Damaged: another version, a cut line, a bad number, a too-long fingerprint. */
    write_file(path, "kmon-log-positions 2\n");
    assert_int_equal(km_logpos_load(dir, &out, &n), KM_ECORRUPT);
    write_file(path, "kmon-log-positions 1\n1 2 3 00000000000000ff 4 0 a/b/c");
    assert_int_equal(km_logpos_load(dir, &out, &n), KM_ECORRUPT);
    write_file(path, "kmon-log-positions 1\n1 x 3 00000000000000ff 4 0 a/b/c\n");
    assert_int_equal(km_logpos_load(dir, &out, &n), KM_ECORRUPT);
    write_file(path, "kmon-log-positions 1\n1 2 99999 00000000000000ff 4 0 a/b/c\n");
    assert_int_equal(km_logpos_load(dir, &out, &n), KM_ECORRUPT);
    write_file(path, "kmon-log-positions 1\n1 2 3 00000000000000ff 4 2 a/b/c\n");
    assert_int_equal(km_logpos_load(dir, &out, &n), KM_ECORRUPT);
    write_file(path, "");
    assert_int_equal(km_logpos_load(dir, &out, &n), KM_ECORRUPT);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ts),
        cmocka_unit_test(test_cri),
        cmocka_unit_test(test_docker),
        cmocka_unit_test(test_positions),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
