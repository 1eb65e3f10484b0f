/*
 * Unit tests: logging — level filtering, the text and logfmt line formats, quoting, and
 * that disabled levels do not evaluate their arguments.
 */
#include "common/err.h"
#include "common/log.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <regex.h>
#include <string.h>
#include <unistd.h>

static int fds[2];

static int setup(void **state)
{
    (void)state;
    assert_int_equal(pipe(fds), 0);
    km_log_set_fd(fds[1]);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    km_log_set_fd(2);
    km_log_set_level(KM_LOG_INFO);
    km_log_set_format(KM_LOG_TEXT);
    close(fds[0]);
    close(fds[1]);
    return 0;
}

/* Everything logged so far (the pipe is never full in these tests). */
static const char *drain(void)
{
    static char buf[8192];
    ssize_t n;

    km_log_write(KM_LOG_ERROR, "end", "."); /* a sentinel so read() never blocks */
    n = read(fds[0], buf, sizeof(buf) - 1);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void assert_matches(const char *text, const char *pattern)
{
    regex_t re;

    assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NEWLINE), 0);
    if (regexec(&re, text, 0, NULL, 0) != 0)
        fail_msg("\"%s\" does not match /%s/", text, pattern);
    regfree(&re);
}

static int evaluated;

static const char *side_effect(void)
{
    evaluated++;
    return "x";
}

static void test_levels_and_text_format(void **state)
{
    const char *out;

    (void)state;
    km_log_set_level(KM_LOG_WARN);
    km_log_info("agent", "hidden %s", side_effect());
    km_log_debug("agent", "hidden %s", side_effect());
    assert_int_equal(evaluated, 0);
    km_log_warn("agent", "disk %s is %d%% full", "sda", 93);
    km_log_error("tsdb", "two\nlines");
    out = drain();
    assert_null(strstr(out, "hidden"));
    assert_matches(out, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
                        "warn  agent: disk sda is 93% full$");
    assert_matches(out, "error tsdb: two$");
    km_log_set_level(KM_LOG_DEBUG);
    assert_true(km_log_enabled(KM_LOG_DEBUG));
    km_log_debug("agent", "now %s", side_effect());
    assert_int_equal(evaluated, 1);
    assert_non_null(strstr(drain(), "debug agent: now x"));
}

static void test_logfmt(void **state)
{
    const char *out;

    (void)state;
    km_log_set_format(KM_LOG_LOGFMT);
    km_log_info("agent", "path \"C:\\x\"\nnext");
    out = drain();
    assert_matches(out, "^ts=[0-9T:.Z-]+ level=info module=agent "
                        "msg=\"path \\\\\"C:\\\\\\\\x\\\\\"\\\\nnext\"$");
}

static void test_parse(void **state)
{
    enum km_log_level l;
    enum km_log_format f;

    (void)state;
    assert_int_equal(km_log_parse_level("debug", &l), 0);
    assert_int_equal(l, KM_LOG_DEBUG);
    assert_int_equal(km_log_parse_level("warning", &l), 0);
    assert_int_equal(l, KM_LOG_WARN);
    assert_int_equal(km_log_parse_level("loud", &l), KM_EINVAL);
    assert_non_null(strstr(km_err_msg(), "loud"));
    assert_int_equal(km_log_parse_format("logfmt", &f), 0);
    assert_int_equal(f, KM_LOG_LOGFMT);
    assert_int_equal(km_log_parse_format("xml", &f), KM_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_levels_and_text_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logfmt, setup, teardown),
        cmocka_unit_test(test_parse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
