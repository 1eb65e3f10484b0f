/*
 * test_rules_file — Prometheus rule files read as rulefmt reads them: the loaded rules,
 * and the messages promtool gives for what it refuses (the runtime test compares whole
 * files with the real promtool; these pin the cases one by one).
 */
#include "common/buf.h"
#include "common/err.h"
#include "rules/rulefile.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static int parse(const char *text, struct km_rulefile **f, struct km_buf *errs)
{
    km_buf_reset(errs);
    *f = NULL;
    return km_rulefile_parse(f, "r.yaml", text, strlen(text), errs);
}

static void expect_error(const char *text, const char *want)
{
    struct km_rulefile *f;
    struct km_buf errs;

    km_buf_init(&errs, 0);
    assert_int_equal(parse(text, &f, &errs), KM_EINVAL);
    assert_null(f);
    assert_string_equal(km_buf_cstr(&errs), want);
    km_buf_fini(&errs);
}

static void test_loads_groups_and_rules(void **state)
{
    static const char text[] = "groups:\n"
                               "  - name: node\n"
                               "    interval: 30s\n"
                               "    limit: 10\n"
                               "    rules:\n"
                               "      - record: instance:cpu:rate5m\n"
                               "        expr: sum by (instance) (rate(cpu[5m]))\n"
                               "        labels: {z: last, a: first}\n"
                               "      - alert: Down\n"
                               "        expr: up == 0\n"
                               "        for: 5m\n"
                               "        keep_firing_for: 1m\n"
                               "        labels:\n"
                               "          severity: page\n"
                               "        annotations:\n"
                               "          summary: '{{ $labels.instance }} is down'\n"
                               "          b: 2\n"
                               "  - name: other\n"
                               "    rules:\n";
    struct km_rulefile *f;
    struct km_buf errs;
    const struct km_rule *r;

    (void)state;
    km_buf_init(&errs, 0);
    assert_int_equal(parse(text, &f, &errs), 0);
    assert_string_equal(f->path, "r.yaml");
    assert_int_equal(f->ngroups, 2);
    assert_int_equal(f->nrules, 2);
    assert_string_equal(f->groups[0].name, "node");
    assert_int_equal(f->groups[0].interval_ms, 30000);
    assert_int_equal(f->groups[0].limit, 10);
    assert_int_equal(f->groups[1].interval_ms, 0);
    assert_int_equal(f->groups[1].nrules, 0);
    r = &f->groups[0].rules[0];
    assert_int_equal(r->kind, KM_RULE_RECORD);
    assert_string_equal(r->name, "instance:cpu:rate5m");
    assert_non_null(r->expr);
    assert_int_equal(r->line, 6);
    assert_int_equal(r->nlabels, 2);
    assert_string_equal(r->labels[0].name, "a");
    assert_string_equal(r->labels[1].value, "last");
    r = &f->groups[0].rules[1];
    assert_int_equal(r->kind, KM_RULE_ALERT);
    assert_string_equal(r->name, "Down");
    assert_string_equal(r->expr_text, "up == 0");
    assert_int_equal(r->for_ms, 300000);
    assert_int_equal(r->keep_firing_for_ms, 60000);
    assert_int_equal(r->nannotations, 2);
    assert_string_equal(r->annotations[0].name, "b");
    assert_string_equal(r->annotations[0].value, "2");
    assert_string_equal(r->annotations[1].value, "{{ $labels.instance }} is down");
    km_rulefile_destroy(f);

    /* Empty and null documents hold no groups. */
    assert_int_equal(parse("", &f, &errs), 0);
    assert_int_equal(f->ngroups, 0);
    km_rulefile_destroy(f);
    assert_int_equal(parse("groups:\n", &f, &errs), 0);
    km_rulefile_destroy(f);
    km_rulefile_destroy(NULL);
    km_buf_fini(&errs);
}

static void test_validation_messages(void **state)
{
    (void)state;
    expect_error("groups:\n  - name: g\n    rules:\n      - record: r\n        expr: sum(up\n",
                 "r.yaml: 5:15: group \"g\", rule 1, \"r\": could not parse expression: 1:7: "
                 "parse error: unclosed left parenthesis");
    expect_error("groups:\n  - name: g\n    rules:\n      - alert: A\n        record: r\n"
                 "        expr: up\n",
                 "r.yaml: 5:17: 4:16: group \"g\", rule 1, \"A\": only one of 'record' and "
                 "'alert' must be set");
    expect_error("groups:\n  - name: g\n    rules:\n      - expr: up\n",
                 "r.yaml: 0:0: group \"g\", rule 1, \"\": one of 'record' or 'alert' must be set");
    expect_error("groups:\n  - name: g\n    rules:\n      - record: r\n",
                 "r.yaml: 0:0: group \"g\", rule 1, \"r\": field 'expr' must be set in rule");
    expect_error("groups:\n  - name: g\n    rules:\n      - record: r-1\n        expr: up\n"
                 "        for: 1m\n",
                 "r.yaml: 4:17: group \"g\", rule 1, \"r-1\": invalid field 'for' in recording "
                 "rule\nr.yaml: 4:17: group \"g\", rule 1, \"r-1\": invalid recording rule "
                 "name: r-1");
    expect_error("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n"
                 "        labels: {__name__: x, ok: y}\n        annotations: {a-b: c}\n",
                 "r.yaml: group \"g\", rule 1, \"A\": invalid label name: __name__\n"
                 "r.yaml: group \"g\", rule 1, \"A\": invalid annotation name: a-b");
    expect_error("groups:\n  - name: g\n  - name: g\n  - name: ''\n",
                 "r.yaml: 3:5: groupname: \"g\" is repeated in the same file\n"
                 "r.yaml: 4:5: Groupname must not be empty");
}

static void test_decoding_messages(void **state)
{
    (void)state;
    expect_error("groups:\n  - name: g\n    foo: 1\n    rules:\n      - record: x\n"
                 "        expr: up\n        bar: 2\n",
                 "r.yaml: yaml: unmarshal errors:\n"
                 "  line 3: field foo not found in type rulefmt.RuleGroup\n"
                 "  line 7: field bar not found in type rulefmt.RuleNode");
    expect_error("groups:\n  - name: g\n    limit: abcdefghijkl\n    rules: 5\n",
                 "r.yaml: yaml: unmarshal errors:\n"
                 "  line 3: cannot unmarshal !!str `abcdefg...` into int\n"
                 "  line 4: cannot unmarshal !!int `5` into []rulefmt.RuleNode");
    expect_error("groups:\n  - name: g\n    name: h\n",
                 "r.yaml: yaml: unmarshal errors:\n"
                 "  line 3: mapping key \"name\" already defined at line 2");
    expect_error("groups:\n  - name: g\n    interval: 5x\n",
                 "r.yaml: not a valid duration string: \"5x\"");
    expect_error("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n"
                 "        for: 5\n",
                 "r.yaml: not a valid duration string: \"5\"");
    expect_error("groups: [\n", "r.yaml: yaml: line 1: did not find expected node content");
    expect_error("- a\n", "r.yaml: yaml: unmarshal errors:\n"
                          "  line 1: cannot unmarshal !!seq into rulefmt.RuleGroups");
}

static void test_for_zero_and_nulls(void **state)
{
    struct km_rulefile *f;
    struct km_buf errs;

    (void)state;
    km_buf_init(&errs, 0);
    assert_int_equal(parse("groups:\n  - name: g\n    interval: 0s\n    rules:\n"
                           "      - alert: A\n        expr: up\n        for: 0\n"
                           "        labels: {c: ~}\n        keep_firing_for:\n",
                           &f, &errs),
                     0);
    assert_int_equal(f->groups[0].rules[0].for_ms, 0);
    assert_string_equal(f->groups[0].rules[0].labels[0].value, "");
    km_rulefile_destroy(f);
    km_buf_fini(&errs);
}

static void test_load_from_disk(void **state)
{
    struct km_rulefile *f = NULL;
    struct km_buf errs;

    (void)state;
    km_buf_init(&errs, 0);
    assert_int_equal(km_rulefile_load(&f, "/nonexistent/r.yaml", &errs), KM_ENOTFOUND);
    assert_string_equal(km_buf_cstr(&errs), "/nonexistent/r.yaml: open /nonexistent/r.yaml: No "
                                            "such file or directory");
    km_buf_reset(&errs);
    assert_int_equal(km_rulefile_load(&f, KMON_FIXTURES "/rules/good/ok.yaml", &errs), 0);
    assert_int_equal(f->nrules, 2);
    km_rulefile_destroy(f);
    km_buf_fini(&errs);
}

static void test_duplicates_lint(void **state)
{
    struct km_rulefile *f = NULL;
    struct km_buf errs, out;

    (void)state;
    km_buf_init(&errs, 0);
    km_buf_init(&out, 0);
    assert_int_equal(km_rulefile_load(&f, KMON_FIXTURES "/rules/good/duplicates.yaml", &errs), 0);
    assert_int_equal(km_rulefile_lint_duplicates(f, &out), 2);
    assert_string_equal(km_buf_cstr(&out), "2 duplicate rule(s) found.\n"
                                           "Metric: r2\nLabel(s):\n\tx: y\n"
                                           "Metric: r3\nLabel(s):\n"
                                           "Might cause inconsistency while recording "
                                           "expressions\n");
    km_rulefile_destroy(f);
    km_buf_fini(&out);
    km_buf_fini(&errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loads_groups_and_rules), cmocka_unit_test(test_validation_messages),
        cmocka_unit_test(test_decoding_messages),      cmocka_unit_test(test_for_zero_and_nulls),
        cmocka_unit_test(test_load_from_disk),         cmocka_unit_test(test_duplicates_lint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
