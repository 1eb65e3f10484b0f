/*
 * Unit tests: which listen addresses only this machine can reach, and the sentence a
 * user gets when an address cannot be bound.
 */
#include "common/cfg.h"
#include "common/err.h"
#include "common/listen.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_loopback(void **state)
{
    static const char *const yes[] = { "127.0.0.1:5000", "127.1.2.3:1", "[::1]:5000",
                                       "[::ffff:127.0.0.1]:5000", "localhost:5000" };
    static const char *const no[] = { ":5000",  "0.0.0.0:5000",  "[::]:5000",
                                      "*:5000", "10.1.2.3:5000", "[2001:db8::1]:5000" };

    (void)state;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (!km_listen_is_loopback(yes[i]))
            fail_msg("%s is loopback", yes[i]);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        if (km_listen_is_loopback(no[i]))
            fail_msg("%s is not loopback", no[i]);
    }
}

struct opts {
    char *listen;
};

static const struct km_cfg_field fields[] = {
    { .name = "listen",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct opts, listen),
      .help = "address",
      .per_command = true },
    KM_CFG_FIELDS_END,
};

/* What km_listen_explain_failure() writes for `listen` after an error with `errnum`. */
static char *explain(const char *cmd_name, int errnum, const char *listen, const char *make)
{
    struct opts o = { 0 };
    struct km_cfg_cmd c = { .name = cmd_name };
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);

    c.sections[c.nsections++] = (struct km_cfg_section){ "X", fields, &o };
    km_err_set_errno(KM_EIO, errnum, "cannot listen on %s", listen);
    km_err_wrap(KM_EIO, "starting"); /* the cause survives context */
    km_listen_explain_failure(mem, &c, listen, make);
    fclose(mem);
    return text;
}

static void expect(char *text, const char *needle)
{
    if (!strstr(text, needle))
        fail_msg("\"%s\" lacks \"%s\"", text, needle);
}

static void test_explain_in_use(void **state)
{
    char *t;

    (void)state;
    t = explain("server", EADDRINUSE, "127.0.0.1:5000", NULL);
    expect(t, "is listening on 127.0.0.1:5000");
    expect(t, "--listen 127.0.0.1:5001, or KMON_SERVER_LISTEN=127.0.0.1:5001");
    free(t);
    t = explain("demo", EADDRINUSE, "127.0.0.1:5000", "demo");
    expect(t, "make demo ARGS='--listen 127.0.0.1:5001', or KMON_DEMO_LISTEN=127.0.0.1:5001 "
              "make demo");
    free(t);
    t = explain("agent", EADDRINUSE, "[::1]:9105", NULL);
    expect(t, "--listen [::1]:9106");
    free(t);
    t = explain("agent", EADDRINUSE, ":9105", NULL);
    expect(t, "KMON_AGENT_LISTEN=:9106");
    free(t);
    t = explain("server", EACCES, ":80", NULL);
    expect(t, "below 1024");
    expect(t, "--listen :5001");
    free(t);
}

static void test_other_causes_say_nothing(void **state)
{
    char *t;

    (void)state;
    t = explain("server", ENOENT, ":5000", NULL);
    assert_string_equal(t, "");
    free(t);
    km_err_set(KM_EINVAL, "bad listen address"); /* no errno at all */
    {
        struct km_cfg_cmd c = { .name = "server" };
        char *text = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&text, &len);

        assert_false(km_listen_explain_failure(mem, &c, ":5000", NULL));
        fclose(mem);
        assert_string_equal(text, "");
        free(text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loopback),
        cmocka_unit_test(test_explain_in_use),
        cmocka_unit_test(test_other_causes_say_nothing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
