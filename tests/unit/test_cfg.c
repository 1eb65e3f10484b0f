/*
 * Unit tests: configuration from defaults, a YAML file, KMON_* variables and flags, in
 * that order of precedence, and the errors a user sees for bad input.
 */
#include "common/cfg.h"
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

static const char *const colors[] = { "red", "green", NULL };

struct opts {
    char *listen;
    int64_t interval;
    uint64_t spool;
    bool once;
    int64_t workers;
    int color;
    char *names;
    char *node;
    char *nested;
};

static const struct km_cfg_field fields[] = {
    { .name = "listen",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct opts, listen),
      .def = ":9105",
      .help = "address" },
    { .name = "interval",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct opts, interval),
      .def = "5s",
      .help = "interval",
      .min = 100,
      .max = 3600000 },
    { .name = "spool-max",
      .type = KM_CFG_SIZE,
      .offset = offsetof(struct opts, spool),
      .def = "256MiB",
      .help = "spool" },
    { .name = "once",
      .type = KM_CFG_BOOL,
      .offset = offsetof(struct opts, once),
      .def = "false",
      .help = "once" },
    { .name = "workers",
      .type = KM_CFG_INT,
      .offset = offsetof(struct opts, workers),
      .def = "4",
      .help = "workers",
      .min = 1,
      .max = 64 },
    { .name = "color",
      .type = KM_CFG_ENUM,
      .offset = offsetof(struct opts, color),
      .def = "red",
      .help = "color",
      .choices = colors },
    { .name = "names",
      .type = KM_CFG_LIST,
      .offset = offsetof(struct opts, names),
      .help = "names" },
    { .name = "node-name",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct opts, node),
      .help = "node",
      .env_alias = "TEST_NODE_NAME" },
    { .name = "collector.disk.exclude",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct opts, nested),
      .help = "nested" },
    KM_CFG_FIELDS_END,
};

static const char *const others[] = { "server", NULL };

struct fixture {
    struct opts o;
    struct km_cfg_common common;
    struct km_cfg_cmd cmd;
    char yaml[64];
};

static void clear_env(void)
{
    unsetenv("KMON_LISTEN");
    unsetenv("KMON_INTERVAL");
    unsetenv("KMON_ONCE");
    unsetenv("KMON_NODE_NAME");
    unsetenv("TEST_NODE_NAME");
    unsetenv("KMON_CONFIG");
    unsetenv("KMON_COLLECTOR_DISK_EXCLUDE");
    unsetenv("KMON_AGENT_LISTEN");
    unsetenv("KMON_SERVER_LISTEN");
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    f->cmd.name = "agent";
    f->cmd.usage = "kmon agent [flags]";
    f->cmd.other_commands = others;
    f->cmd.sections[0] = (struct km_cfg_section){ "Agent", fields, &f->o };
    f->cmd.sections[1] = (struct km_cfg_section){ "General", km_cfg_common_fields, &f->common };
    f->cmd.nsections = 2;
    snprintf(f->yaml, sizeof(f->yaml), "/tmp/kmon-test-cfg-%d.yaml", (int)getpid());
    clear_env();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    km_cfg_free(&f->cmd);
    unlink(f->yaml);
    clear_env();
    free(f);
    return 0;
}

static void write_yaml(struct fixture *f, const char *text)
{
    FILE *fp = fopen(f->yaml, "w");

    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static int parse(struct fixture *f, int argc, char **argv)
{
    return km_cfg_parse(&f->cmd, argc, argv, NULL, 0, NULL);
}

static void test_defaults(void **state)
{
    struct fixture *f = *state;
    char *argv[] = { "agent" };

    assert_int_equal(parse(f, 1, argv), 0);
    assert_string_equal(f->o.listen, ":9105");
    assert_int_equal(f->o.interval, 5000);
    assert_int_equal(f->o.spool, 256ull << 20);
    assert_false(f->o.once);
    assert_int_equal(f->o.workers, 4);
    assert_int_equal(f->o.color, 0);
    assert_null(f->o.names);
    assert_null(f->o.node);
    assert_int_equal(f->common.log_level, 2); /* info */
}

static void test_precedence(void **state)
{
    struct fixture *f = *state;
    char cfgflag[128];
    char *argv[] = { "agent", cfgflag, "--interval", "7s" };

    write_yaml(f, "listen: \":1111\"\ninterval: 1m\nonce: true\nworkers: 8\n"
                  "collector:\n  disk:\n    exclude: \"^loop\"\n"
                  "agent:\n  workers: 9\nserver:\n  whatever: 1\n");
    snprintf(cfgflag, sizeof(cfgflag), "--config=%s", f->yaml);
    setenv("KMON_LISTEN", ":2222", 1);
    setenv("KMON_INTERVAL", "2s", 1);
    assert_int_equal(parse(f, 4, argv), 0);
    assert_string_equal(f->o.listen, ":2222"); /* env beats YAML */
    assert_int_equal(f->o.interval, 7000);     /* flag beats env */
    assert_true(f->o.once);                    /* YAML beats default */
    assert_int_equal(f->o.workers, 9);         /* the command's section beats top level */
    assert_string_equal(f->o.nested, "^loop"); /* nested keys join with '.' */
}

static void test_env_alias_and_config_from_env(void **state)
{
    struct fixture *f = *state;
    char *argv[] = { "agent" };

    write_yaml(f, "names: [a, b, c]\n");
    setenv("KMON_CONFIG", f->yaml, 1);
    setenv("TEST_NODE_NAME", "node-7", 1);
    assert_int_equal(parse(f, 1, argv), 0);
    assert_string_equal(f->o.node, "node-7");
    assert_string_equal(f->o.names, "a,b,c"); /* YAML list joined */
    setenv("KMON_NODE_NAME", "node-8", 1);    /* KMON_* beats the alias */
    assert_int_equal(parse(f, 1, argv), 0);
    assert_string_equal(f->o.node, "node-8");
}

static void test_list_flag_repeated(void **state)
{
    struct fixture *f = *state;
    char *argv[] = { "agent", "--names", "a,b", "--names=c", "--listen", "x", "--names", "d" };

    write_yaml(f, "names: [y, z]\n");
    setenv("KMON_CONFIG", f->yaml, 1);
    assert_int_equal(parse(f, 8, argv), 0);
    assert_string_equal(f->o.names, "a,b,c,d"); /* repeated flags add; the file's are replaced */
}

static void test_flag_forms(void **state)
{
    struct fixture *f = *state;
    char *argv[] = { "agent",     "--listen=127.0.0.1:1", "--once", "--color",     "green",
                     "--no-once", "--spool-max",          "1GiB",   "--node_name", "x" };

    assert_int_equal(parse(f, 10, argv), 0);
    assert_string_equal(f->o.listen, "127.0.0.1:1");
    assert_false(f->o.once); /* --no-once came last */
    assert_int_equal(f->o.color, 1);
    assert_int_equal(f->o.spool, 1ull << 30);
    assert_string_equal(f->o.node, "x"); /* '_' and '-' are the same */
}

static void expect_error(struct fixture *f, int argc, char **argv, const char *needle)
{
    int rc = parse(f, argc, argv);

    assert_true(rc < 0);
    if (!strstr(km_err_msg(), needle))
        fail_msg("error \"%s\" lacks \"%s\"", km_err_msg(), needle);
}

static void test_errors(void **state)
{
    struct fixture *f = *state;
    char *a1[] = { "agent", "--bogus" };
    char *a2[] = { "agent", "--interval", "soon" };
    char *a3[] = { "agent", "--interval" };
    char *a4[] = { "agent", "--workers", "100" };
    char *a5[] = { "agent", "--color", "blue" };
    char *a6[] = { "agent", "stray" };
    char *a7[] = { "agent", "-x" };
    char *a8[] = { "agent", "--once=maybe" };
    char *a9[] = { "agent", "--interval", "10ms" };

    expect_error(f, 2, a1, "unknown flag --bogus");
    expect_error(f, 3, a2, "--interval");
    expect_error(f, 2, a3, "needs a value");
    expect_error(f, 3, a4, "out of range");
    expect_error(f, 3, a5, "blue");
    expect_error(f, 2, a6, "unexpected argument");
    expect_error(f, 2, a7, "unknown flag -x");
    expect_error(f, 2, a8, "not a boolean");
    expect_error(f, 3, a9, "out of range");
    setenv("KMON_INTERVAL", "nope", 1);
    {
        char *argv[] = { "agent" };

        expect_error(f, 1, argv, "KMON_INTERVAL");
    }
}

static void test_yaml_errors(void **state)
{
    struct fixture *f = *state;
    char cfgflag[128];
    char *argv[] = { "agent", cfgflag };

    snprintf(cfgflag, sizeof(cfgflag), "--config=%s", f->yaml);
    write_yaml(f, "listen: ok\nlisen: typo\n");
    expect_error(f, 2, argv, "line 2: unknown setting \"lisen\"");
    write_yaml(f, "interval: [unclosed\n");
    expect_error(f, 2, argv, f->yaml);
    write_yaml(f, "- just\n- a list\n");
    expect_error(f, 2, argv, "mapping");
    write_yaml(f, "interval: forever\n");
    expect_error(f, 2, argv, "line 1");
    write_yaml(f, "");
    assert_int_equal(parse(f, 2, argv), 0); /* an empty file is fine */
    unlink(f->yaml);
    expect_error(f, 2, argv, "cannot open config file");
}

static void test_help_and_positional(void **state)
{
    struct fixture *f = *state;
    char *h[] = { "agent", "--interval", "bad", "--help" };
    char *p[] = { "inspect", "--once", "dir1", "--", "--dir2" };
    char *rest[4];
    size_t nrest = 0;
    char *text = NULL;
    size_t len = 0;
    FILE *mem;

    assert_int_equal(parse(f, 4, h), KM_CFG_HELP); /* --help wins over errors */
    f->cmd.positional_ok = true;
    assert_int_equal(km_cfg_parse(&f->cmd, 5, p, rest, 4, &nrest), 0);
    assert_int_equal(nrest, 2);
    assert_string_equal(rest[0], "dir1");
    assert_string_equal(rest[1], "--dir2");
    mem = open_memstream(&text, &len);
    km_cfg_help(&f->cmd, mem);
    fclose(mem);
    assert_non_null(strstr(text, "--interval DUR"));
    assert_non_null(strstr(text, "(default 5s)"));
    assert_non_null(strstr(text, "[env KMON_INTERVAL]"));
    assert_non_null(strstr(text, "--color red|green"));
    assert_non_null(strstr(text, "KMON_NODE_NAME, TEST_NODE_NAME"));
    assert_non_null(strstr(text, "--log-level"));
    free(text);
}

/* ---- a setting each command has on its own ------------------------------------------ */

struct listener {
    char *listen;
};

static const struct km_cfg_field own_fields[] = {
    { .name = "listen",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct listener, listen),
      .def = ":9105",
      .help = "address",
      .per_command = true },
    KM_CFG_FIELDS_END,
};

/* Parse command `name` (agent or server) with one per-command --listen. */
static int parse_own(const char *name, struct listener *l, int argc, char **argv)
{
    static const char *const all[] = { "agent", "server", "demo", NULL };
    struct km_cfg_cmd c = { .name = name, .usage = "kmon x", .other_commands = all };
    struct km_cfg_common common = { 0 };
    int rc;

    c.sections[c.nsections++] = (struct km_cfg_section){ "X", own_fields, l };
    c.sections[c.nsections++] = (struct km_cfg_section){ "General", km_cfg_common_fields, &common };
    rc = km_cfg_parse(&c, argc, argv, NULL, 0, NULL);
    km_cfg_free_fields(km_cfg_common_fields, &common);
    return rc;
}

static void test_per_command_env(void **state)
{
    struct fixture *f = *state;
    struct listener agent = { 0 }, server = { 0 };
    char *argv[] = { "x" };
    char *flag[] = { "x", "--listen", "127.0.0.1:3" };

    (void)f;
    setenv("KMON_AGENT_LISTEN", ":1", 1);
    setenv("KMON_SERVER_LISTEN", ":2", 1);
    assert_int_equal(parse_own("agent", &agent, 1, argv), 0);
    assert_int_equal(parse_own("server", &server, 1, argv), 0);
    assert_string_equal(agent.listen, ":1"); /* each reads only its own */
    assert_string_equal(server.listen, ":2");
    assert_int_equal(parse_own("agent", &agent, 3, flag), 0);
    assert_string_equal(agent.listen, "127.0.0.1:3"); /* the flag still wins */

    /* The shared name would give both the same address: refused, naming the right one. */
    setenv("KMON_LISTEN", ":4", 1);
    assert_true(parse_own("agent", &agent, 1, argv) < 0);
    assert_non_null(strstr(km_err_msg(), "KMON_LISTEN"));
    assert_non_null(strstr(km_err_msg(), "set KMON_AGENT_LISTEN for kmon agent"));
    assert_true(parse_own("server", &server, 1, argv) < 0);
    assert_non_null(strstr(km_err_msg(), "set KMON_SERVER_LISTEN for kmon server"));
    km_cfg_free_fields(own_fields, &agent);
    km_cfg_free_fields(own_fields, &server);
}

static void test_per_command_yaml_and_help(void **state)
{
    struct fixture *f = *state;
    struct listener agent = { 0 }, server = { 0 };
    struct km_cfg_cmd c = { .name = "agent", .usage = "kmon agent" };
    char cfgflag[128];
    char *argv[] = { "x", cfgflag };
    char *text = NULL;
    size_t len = 0;
    FILE *mem;

    snprintf(cfgflag, sizeof(cfgflag), "--config=%s", f->yaml);
    write_yaml(f, "listen: \":1\"\n");
    assert_true(parse_own("agent", &agent, 2, argv) < 0);
    assert_non_null(strstr(km_err_msg(), "line 1: \"listen\" is set per command"));
    assert_non_null(strstr(km_err_msg(), "put it under \"agent:\""));
    write_yaml(f, "agent:\n  listen: \":1\"\nserver:\n  listen: \":2\"\n");
    assert_int_equal(parse_own("agent", &agent, 2, argv), 0);
    assert_int_equal(parse_own("server", &server, 2, argv), 0);
    assert_string_equal(agent.listen, ":1");
    assert_string_equal(server.listen, ":2");

    c.sections[c.nsections++] = (struct km_cfg_section){ "X", own_fields, &agent };
    mem = open_memstream(&text, &len);
    km_cfg_help(&c, mem);
    fclose(mem);
    assert_non_null(strstr(text, "[env KMON_AGENT_LISTEN]"));
    free(text);
    km_cfg_free_fields(own_fields, &agent);
    km_cfg_free_fields(own_fields, &server);
}

static void test_split_list(void **state)
{
    char s[] = " a, b ,,c ,";
    char *items[8];

    (void)state;
    assert_int_equal(km_cfg_split_list(s, items, 8), 3);
    assert_string_equal(items[0], "a");
    assert_string_equal(items[1], "b");
    assert_string_equal(items[2], "c");
    assert_int_equal(km_cfg_split_list(NULL, items, 8), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_alias_and_config_from_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flag_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_flag_repeated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_yaml_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_help_and_positional, setup, teardown),
        cmocka_unit_test_setup_teardown(test_per_command_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_per_command_yaml_and_help, setup, teardown),
        cmocka_unit_test(test_split_list),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
