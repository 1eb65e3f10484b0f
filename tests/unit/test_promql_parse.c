/*
 * Unit tests: the PromQL front end (src/promql/) — lexer, parser, type checks, printer.
 *
 * The golden cases (tests/fixtures/promql/parse.jsonl, ~1 300 queries) are Prometheus
 * 2.42's own answers, recorded with tests/tools/promql_oracle.py from a real Prometheus:
 * what /api/v1/format_query prints for each valid query, and the exact error (message,
 * line and column) for each invalid one. Every case must come out the same here, and
 * every valid one must be a fixed point of parse → print → parse (both printers). The
 * tables below pin down what the golden file cannot show: the tree itself (kinds, types,
 * positions, matchers), the literal readers and writers, kmon's own limits and the few
 * places kmon knowingly differs (docs/promql.md).
 */
#include "common/buf.h"
#include "common/err.h"
#include "common/limits.h"
#include "promql/functions.h"
#include "promql/lex.h"
#include "promql/literal.h"
#include "promql/parse.h"
#include "promql/print.h"
#include "promql/quote.h"

#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ---- helpers --------------------------------------------------------------------------- */

static struct km_promql_expr *parse_ok(const char *q)
{
    struct km_promql_expr *e = NULL;
    struct km_promql_error err;
    int rc = km_promql_parse(q, strlen(q), &e, &err);

    if (rc)
        fail_msg("%s: %s", q, err.msg);
    return e;
}

/* The one-line print of q. Freed by the caller. */
static char *print_of(const char *q)
{
    struct km_promql_expr *e = parse_ok(q);
    struct km_buf b;

    km_buf_init(&b, 0);
    assert_int_equal(km_promql_print(&b, e), 0);
    km_promql_expr_destroy(e);
    return km_buf_detach(&b, NULL);
}

static void assert_prints(const char *q, const char *want)
{
    char *got = print_of(q);

    if (strcmp(got, want) != 0)
        fail_msg("%s: printed %s, want %s", q, got, want);
    free(got);
}

static void assert_error(const char *q, int want_rc, const char *want)
{
    struct km_promql_expr *e = NULL;
    struct km_promql_error err;
    int rc = km_promql_parse(q, strlen(q), &e, &err);

    if (rc != want_rc || strcmp(err.msg, want) != 0)
        fail_msg("%s: got %d \"%s\", want %d \"%s\"", q, rc, rc ? err.msg : "", want_rc, want);
    assert_null(e);
    assert_string_equal(km_err_msg(), want);
}

/* Parse text, print it both ways, parse each print again: the prints must not change. */
static void assert_fixed_point(const char *text, size_t len)
{
    struct km_promql_expr *e = NULL, *e2 = NULL;
    struct km_promql_error err;
    struct km_buf a, b;

    assert_int_equal(km_promql_parse(text, len, &e, NULL), 0);
    km_buf_init(&a, 0);
    km_buf_init(&b, 0);
    assert_int_equal(km_promql_print(&a, e), 0);
    if (km_promql_parse(a.data, a.len, &e2, &err))
        fail_msg("%.*s printed as %s, which does not parse: %s", (int)len, text, a.data, err.msg);
    assert_int_equal(km_promql_print(&b, e2), 0);
    assert_string_equal(km_buf_cstr(&a), km_buf_cstr(&b));
    km_promql_expr_destroy(e2);
    km_buf_reset(&a);
    km_buf_reset(&b);
    assert_int_equal(km_promql_format(&a, e), 0);
    if (km_promql_parse(a.data, a.len, &e2, &err))
        fail_msg("%.*s formatted as %s, which does not parse: %s", (int)len, text, a.data, err.msg);
    assert_int_equal(km_promql_format(&b, e2), 0);
    assert_string_equal(km_buf_cstr(&a), km_buf_cstr(&b));
    km_promql_expr_destroy(e2);
    km_promql_expr_destroy(e);
    km_buf_fini(&a);
    km_buf_fini(&b);
}

/* ---- the golden cases ------------------------------------------------------------------ */

static void test_golden_cases(void **state)
{
    const char *path = KMON_FIXTURES "/promql/parse.jsonl";
    FILE *f = fopen(path, "r");
    size_t cases = 0, valid = 0, failures = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;

    (void)state;
    assert_non_null(f);
    while ((n = getline(&line, &cap, f)) > 0) {
        json_error_t jerr;
        json_t *c = json_loadb(line, (size_t)n, 0, &jerr);
        json_t *jq = json_object_get(c, "q");
        const char *q = json_string_value(jq), *want = json_string_value(json_object_get(c, "out"));
        bool want_ok = json_is_true(json_object_get(c, "ok"));
        size_t qlen = json_string_length(jq);
        struct km_promql_expr *e = NULL;
        struct km_promql_error err;
        struct km_buf out;
        int rc;

        assert_non_null(c);
        assert_non_null(q);
        assert_non_null(want);
        cases++;
        rc = km_promql_parse(q, qlen, &e, &err);
        km_buf_init(&out, 0);
        if (rc == 0)
            assert_int_equal(km_promql_format(&out, e), 0);
        if ((rc == 0) != want_ok || strcmp(rc == 0 ? km_buf_cstr(&out) : err.msg, want) != 0) {
            print_error("case %zu: %s\n  prometheus: %s\n  kmon:       %s\n", cases, q, want,
                        rc == 0 ? km_buf_cstr(&out) : err.msg);
            failures++;
        } else if (rc == 0) {
            valid++;
            assert_fixed_point(q, qlen);
        } else {
            char pos[32];

            /* The error's line and column are the ones in its message. */
            snprintf(pos, sizeof(pos), "%u:%u: ", err.line, err.col);
            assert_memory_equal(err.msg, pos, strlen(pos));
        }
        km_buf_fini(&out);
        km_promql_expr_destroy(e);
        json_decref(c);
    }
    free(line);
    fclose(f);
    if (failures)
        fail_msg("%zu of %zu golden cases differ from Prometheus", failures, cases);
    assert_true(cases >= 1000);
    assert_true(valid >= 400);
}

/* ---- valid queries and their one-line print -------------------------------------------- */

static void test_print(void **state)
{
    static const struct {
        const char *q, *want;
    } cases[] = {
        /* spacing, grouping placement, parentheses kept */
        { "sum   by(a,b)(rate(foo{a=\"b\"}[5m]))", "sum by (a, b) (rate(foo{a=\"b\"}[5m]))" },
        { "sum(foo) by (a)", "sum by (a) (foo)" },
        { "sum by () (foo)", "sum(foo)" },
        { "sum without () (foo)", "sum without () (foo)" },
        { "((foo))", "((foo))" },
        { "topk(5,foo)", "topk(5, foo)" },
        { "count_values('v', foo)", "count_values(\"v\", foo)" },
        /* matchers sorted as text, the name's matcher hidden */
        { "foo{z=\"1\",a!~\"x\",m=~'y'}", "foo{a!~\"x\",m=~\"y\",z=\"1\"}" },
        { "{__name__=\"foo\"}", "{__name__=\"foo\"}" },
        { "foo{a=\"b\",}", "foo{a=\"b\"}" },
        { "foo{}", "foo" },
        /* strings as Go's %q */
        { "\"a\\x41\\u00e9\\U0001F600\"", "\"aAé😀\"" },
        { "`a\\b\"c`", "\"a\\\\b\\\"c\"" },
        { "'\\a\\b\\f\\n\\r\\t\\v\\\\\\''", "\"\\a\\b\\f\\n\\r\\t\\v\\\\'\"" },
        { "\"\\x00\\x7f\\xff\\u00a0\\u200b\\U000E0001\"",
          "\"\\x00\\x7f\\xff\\u00a0\\u200b\\U000e0001\"" },
        { "\"\\101\\377\"", "\"A\\xff\"" },
        /* numbers as Go's %v */
        { "0x1f", "31" },
        { "010", "8" },
        { "1e6", "1e+06" },
        { "123456", "123456" },
        { "1234567", "1.234567e+06" },
        { "0.0001", "0.0001" },
        { "0.00001", "1e-05" },
        { ".5", "0.5" },
        { "5.", "5" },
        { "inf", "+Inf" },
        { "-Inf", "-Inf" },
        { "NaN", "NaN" },
        { "-0", "-0" },
        { "- -2", "2" },
        { "1e-400", "0" },
        { "5e-324", "5e-324" },
        { "99999999999999999999", "1e+20" },
        { "0.30000000000000004", "0.30000000000000004" },
        /* durations */
        { "foo[90m]", "foo[1h30m]" },
        { "foo[14d]", "foo[2w]" },
        { "foo[365d]", "foo[1y]" },
        { "foo[1y2w3d4h5m6s7ms]", "foo[382d4h5m6s7ms]" },
        { "foo[3600000ms]", "foo[1h]" },
        /* modifiers: @ before offset, three decimals */
        { "foo offset 3m @ 10", "foo @ 10.000 offset 3m" },
        { "foo[5m] offset -1m @ 1.2345", "foo[5m] @ 1.235 offset -1m" },
        { "foo @ start() [5m]", "foo[5m] @ start()" },
        { "foo offset 1m [5m:]", "foo offset 1m[5m:]" },
        { "rate(foo[5m])[30m:1m] @ end() offset 1h", "rate(foo[5m])[30m:1m] @ end() offset 1h" },
        { "foo @ 1e17", "foo @ -9223372036854776.000" },
        /* operators: precedence is in the tree, the text keeps what was written */
        { "-2^2", "-2 ^ 2" },
        { "(-2)^2", "(-2) ^ 2" },
        { "- - foo", "--foo" },
        { "1 - -1", "1 - -1" },
        { "a + on(x) group_left(y) b", "a + on (x) group_left (y) b" },
        { "a + on(x) group_left b", "a + on (x) group_left () b" },
        { "a + ignoring() b", "a + b" },
        { "a + ignoring() group_left() b", "a + b" },
        { "a + on() b", "a + on () b" },
        { "1 + on() foo", "1 + foo" },
        { "a and on(x) b", "a and on (x) b" },
        { "a > bool 1", "a > bool 1" },
        { "a ATAN2 b", "a atan2 b" },
        /* keywords as metric names */
        { "sum + by - offset", "sum + by - offset" },
        { "foo and and", "foo and and" },
        { "SUM(foo) BY (a)", "sum by (a) (foo)" },
        { "foo[1m x]", "foo[1m:]" }, /* inside brackets a letter is the colon */
        /* kmon escapes U+FFFD, which Prometheus prints as it is and then cannot parse */
        { "\"\\ufffd\"", "\"\\ufffd\"" },
        /* and +Inf before ^, which Prometheus prints "+Inf ^ 2", read back as +(Inf ^ 2) */
        { "Inf ^ 2", "Inf ^ 2" },
        { "+Inf ^ 2", "+Inf ^ 2" },
        { "+Inf * 2", "+Inf * 2" },
        /* comments and line breaks */
        { "foo # comment\n + bar", "foo + bar" },
        { "foo[5m # c\n]", "foo[5m]" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_prints(cases[i].q, cases[i].want);
        assert_fixed_point(cases[i].q, strlen(cases[i].q));
    }
}

/* format_query splits lines longer than 100 bytes and indents two spaces a level. */
static void test_format(void **state)
{
    static const struct {
        const char *q, *want;
    } cases[] = {
        { "sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{job=\"kubelet\", "
          "metrics_path=\"/metrics/cadvisor\", image!=\"\"}[5m])) * on (namespace, pod) "
          "group_left(node) topk by (namespace, pod) (1, max by (namespace, pod, node) "
          "(kube_pod_info{node!=\"\"}))",
          "  sum by (namespace, pod) (\n"
          "    rate(\n"
          "      container_cpu_usage_seconds_total{image!=\"\",job=\"kubelet\",metrics_path=\"/"
          "metrics/cadvisor\"}[5m]\n"
          "    )\n"
          "  )\n"
          "* on (namespace, pod) group_left (node)\n"
          "  topk by (namespace, pod) (1, max by (namespace, pod, node) "
          "(kube_pod_info{node!=\"\"}))" },
        { "short + query", "short + query" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct km_promql_expr *e = parse_ok(cases[i].q);
        struct km_buf b;

        km_buf_init(&b, 0);
        assert_int_equal(km_promql_format(&b, e), 0);
        assert_string_equal(km_buf_cstr(&b), cases[i].want);
        km_buf_fini(&b);
        km_promql_expr_destroy(e);
    }
}

/* ---- invalid queries: Prometheus' message and position --------------------------------- */

static void test_errors(void **state)
{
    static const struct {
        const char *q, *want;
    } cases[] = {
        { "", "1:1: parse error: no expression found in input" },
        { "# just a comment", "1:1: parse error: no expression found in input" },
        { "sum by (a) (foo) by (b)", "1:18: parse error: unexpected <by>" },
        { "sum without (a) by (b) (foo)", "1:17: parse error: unexpected <by> in aggregation" },
        { "sum(foo bar)", "1:9: parse error: unexpected identifier \"bar\" in aggregation" },
        { "sum foo", "1:5: parse error: unexpected identifier \"foo\"" },
        { "sum by a (foo)",
          "1:8: parse error: unexpected identifier \"a\" in grouping opts, expected \"(\"" },
        { "sum by (a b) (foo)",
          "1:11: parse error: unexpected identifier \"b\" in grouping opts, expected \",\" or "
          "\")\"" },
        { "sum by (a:b) (foo)",
          "1:9: parse error: unexpected metric identifier \"a:b\" in grouping opts, expected "
          "label" },
        { "foo{a=\"b\" c=\"d\"}",
          "1:11: parse error: unexpected identifier \"c\" in label matching, expected \",\" or "
          "\"}\"" },
        { "foo{a}", "1:6: parse error: unexpected \"}\" in label matching, expected label matching "
                    "operator" },
        { "foo{a=b}",
          "1:7: parse error: unexpected identifier \"b\" in label matching, expected string" },
        { "foo offset", "1:11: parse error: unexpected end of input in offset, expected duration" },
        { "foo @ \"x\"",
          "1:7: parse error: unexpected string \"\\\"x\\\"\" in @, expected timestamp" },
        { "foo[5m:5]",
          "1:8: parse error: unexpected number \"5\" in subquery selector, expected duration or "
          "\"]\"" },
        { "foo[5m,]",
          "1:7: parse error: unexpected \",\" in subquery or range, expected \":\" or \"]\"" },
        { "foo \"abcdefghijklmnop\"", "1:5: parse error: unexpected string \"\\\"abcdefghi\"..." },
        { "foo @", "1:6: parse error: unexpected end of input in @, expected timestamp" },
        { " @", "1:2: parse error: unexpected \"<Item 57385>\" <op:@>" },
        { "rate(foo[5m],)",
          "1:13: parse error: trailing commas not allowed in function call args" },
        { "count_values(1, 5m)",
          "1:15: parse error: trailing commas not allowed in function call args" },
        /* the lexer's */
        { "foo (", "1:6: parse error: unclosed left parenthesis" },
        { "foo )", "1:6: parse error: unexpected right parenthesis ')'" },
        { "foo[5m", "1:7: parse error: unclosed left bracket" },
        { "foo{a=\"b\"", "1:10: parse error: unexpected end of input inside braces" },
        { "foo $", "1:5: parse error: unexpected character: '$'" },
        { "foo !", "1:5: parse error: unexpected character after '!': '\xef\xbf\xbd'" },
        { "foo{a!b}", "1:6: parse error: unexpected character after '!' inside braces: 'b'" },
        { "\"abc", "1:1: parse error: unterminated quoted string" },
        { "`abc", "1:1: parse error: unterminated raw string" },
        { "\"\\q\"", "1:1: parse error: unknown escape sequence U+0071 'q'" },
        { "\"\\uD800\"", "1:1: parse error: escape sequence is an invalid Unicode code point" },
        { "\"\\x4\"", "1:1: parse error: illegal character U+0022 '\"' in escape sequence" },
        { "\"\xff\"", "1:1: parse error: invalid UTF-8 rune" },
        { "foo[5]", "1:5: parse error: missing unit character in duration" },
        { "foo[x]", "1:5: parse error: bad duration syntax: \"\"" },
        { "1_000", "1:1: parse error: bad number or duration syntax: \"1\"" },
        { "foo[5m:1m:2m]", "1:10: parse error: unexpected colon ':'" },
        /* literals */
        { "0x", "1:1: parse error: error parsing number: strconv.ParseFloat: parsing \"0x\": "
                "invalid syntax" },
        { "1e400", "1:1: parse error: error parsing number: strconv.ParseFloat: parsing "
                   "\"1e400\": value out of range" },
        { "foo offset 0s", "1:12: parse error: duration must be greater than 0" },
        { "foo[5m1h]", "1:5: parse error: not a valid duration string: \"5m1h\"" },
        { "foo[293y]", "1:5: parse error: duration out of range" },
        { "foo @ Inf", "1:1: parse error: timestamp out of bounds for @ modifier: +Inf" },
        { "foo @ 1e19", "1:1: parse error: timestamp out of bounds for @ modifier: "
                        "10000000000000000000.000000" },
        /* modifiers */
        { "foo offset 5m offset 3m", "1:1: parse error: offset may not be set multiple times" },
        { "foo @ 1 @ 2", "1:1: parse error: @ <timestamp> may not be set multiple times" },
        { "(foo) offset 3m",
          "1:1: parse error: offset modifier must be preceded by an instant vector selector or "
          "range vector selector or a subquery" },
        { "sum(foo) @ end()",
          "1:1: parse error: @ modifier must be preceded by an instant vector selector or range "
          "vector selector or a subquery" },
        { "foo offset 1m [5m]", "1:15: parse error: no offset modifiers allowed before range" },
        { "foo @ 1 [5m]", "1:9: parse error: no @ modifiers allowed before range" },
        { "inf[5m]", "1:4: parse error: ranges only allowed for vector selectors" },
        /* type checks */
        { "{}", "1:1: parse error: vector selector must contain at least one non-empty matcher" },
        { "{a=~\".*\"}",
          "1:1: parse error: vector selector must contain at least one non-empty matcher" },
        { "foo{__name__=\"bar\"}",
          "1:1: parse error: metric name must not be set twice: \"foo\" or \"bar\"" },
        { "rate(foo)", "1:6: parse error: expected type range vector in call to function "
                       "\"rate\", got instant vector" },
        { "round(foo, 1, 2)",
          "1:1: parse error: expected at most 2 argument(s) in call to \"round\", got 3" },
        { "label_join()",
          "1:1: parse error: expected at least 3 argument(s) in call to \"label_join\", got 0" },
        { "time(1)", "1:1: parse error: expected 0 argument(s) in call to \"time\", got 1" },
        { "foo()", "1:1: parse error: unknown function with name \"foo\"" },
        { "sum()", "1:1: parse error: no arguments for aggregate expression provided" },
        { "topk(foo)", "1:1: parse error: wrong number of arguments for aggregate expression "
                       "provided, expected 2, got 1" },
        { "topk(\"a\", foo)",
          "1:6: parse error: expected type scalar in aggregation parameter, got string" },
        { "sum(foo[5m])", "1:5: parse error: expected type instant vector in aggregation "
                          "expression, got range vector" },
        { "1 > 2", "1:3: parse error: comparisons between scalars must use BOOL modifier" },
        { "a + bool b",
          "1:3: parse error: bool modifier can only be used on comparison operators" },
        { "1 and 2",
          "1:1: parse error: set operator \"and\" not allowed in binary scalar expression" },
        { "a and on(x) group_left b", "1:1: parse error: no grouping allowed for \"and\" "
                                      "operation" },
        { "1 + on(x) foo", "1:1: parse error: vector matching only allowed between instant "
                           "vectors" },
        { "foo * on(a) group_left(a) bar",
          "1:5: parse error: label \"a\" must not occur in ON and GROUP clause at once" },
        { "\"a\" + 1",
          "1:1: parse error: binary expression must contain only scalar and instant vector types" },
        { "-foo[5m]", "1:1: parse error: unary expression only allowed on expressions of type "
                      "scalar or instant vector, got \"range vector\"" },
        { "foo[5m][5m:]",
          "1:1: parse error: subquery is only allowed on instant vector, got matrix instead" },
        /* regular expressions: Go's verdicts and words, on the anchored pattern and on
         * the value alone */
        { "x{a=~\"(\"}", "1:3: parse error: error parsing regexp: missing closing ): `^(?:()$`" },
        { "x{a=~\"$)(?:\"}", "1:3: parse error: error parsing regexp: unexpected ): `$)(?:`" },
        { "x{a=~\"(?=a)\"}",
          "1:3: parse error: error parsing regexp: invalid or unsupported Perl syntax: `(?=`" },
        { "x{a=~\"a**\"}",
          "1:3: parse error: error parsing regexp: invalid nested repetition operator: `**`" },
        { "x{a=~\"(a{100}){100}\"}",
          "1:3: parse error: error parsing regexp: invalid repeat count: `{100}`" },
        { "x{a=~\"[z-a]\"}",
          "1:3: parse error: error parsing regexp: invalid character class range: `z-a`" },
        { "x{a=~\"[a\"}", "1:3: parse error: error parsing regexp: missing closing ]: `[a)$`" },
        { "x{a=~\"\\\\q\"}",
          "1:3: parse error: error parsing regexp: invalid escape sequence: `\\q`" },
        { "x{a=~\"\\\\p{Old_Uyghur}\"}",
          "1:3: parse error: error parsing regexp: invalid character "
          "class range: `\\p{Old_Uyghur}`" },
        { "x{a=~\"(?P<a-b>x)\"}",
          "1:3: parse error: error parsing regexp: invalid named capture: `(?P<a-b>`" },
        { "x{a=~\"\\xff\"}", "1:3: parse error: error parsing regexp: invalid UTF-8: `\xff)$`" },
        /* positions on later lines count bytes from the line's start */
        { "foo +\n  bar baz", "2:7: parse error: unexpected identifier \"baz\"" },
        { "1 >\n 2", "1:3: parse error: comparisons between scalars must use BOOL modifier" },
        { "sum(\n  foo\n  bar)", "3:3: parse error: unexpected identifier \"bar\" in aggregation" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_error(cases[i].q, KM_EINVAL, cases[i].want);
}

/* ---- where kmon knowingly differs (docs/promql.md) ------------------------------------- */

static void test_kmon_limits(void **state)
{
    char *deep = malloc(2 * KM_LIMIT_PROMQL_DEPTH + 16), *chain, *big;
    size_t n = 0, len;
    struct km_promql_expr *e = NULL;
    struct km_promql_error err;

    (void)state;
    /* Matchers are C strings: a NUL byte is refused, once the query is otherwise valid. */
    assert_error("foo{a=\"\\x00\"}", KM_EINVAL,
                 "1:5: parse error: kmon does not support NUL bytes in label matchers");
    assert_error("foo{a=\"\\x00\"} + rate(foo)", KM_EINVAL,
                 "1:22: parse error: expected type range vector in call to function \"rate\", got "
                 "instant vector");
    /* What Go's regexp takes and PCRE2 (kmon's matcher) does not, once the rest is checked. */
    assert_error("x{a=~\"[\\\\w-.]\"} + rate(x)", KM_EINVAL,
                 "1:24: parse error: expected type range vector in call to function \"rate\", got "
                 "instant vector");
    assert_error("x{a=~\"[\\\\w-.]\"}", KM_EINVAL,
                 "1:3: parse error: kmon cannot match this regular expression (PCRE2: invalid "
                 "range in character class)");
    /* Nesting: as deep as the limit parses, one more is refused with a sentence. */
    for (int i = 0; i < KM_LIMIT_PROMQL_DEPTH - 2; i++)
        deep[n++] = '(';
    deep[n++] = '1';
    for (int i = 0; i < KM_LIMIT_PROMQL_DEPTH - 2; i++)
        deep[n++] = ')';
    assert_int_equal(km_promql_parse(deep, n, &e, &err), 0);
    assert_int_equal(e->depth, KM_LIMIT_PROMQL_DEPTH - 1);
    km_promql_expr_destroy(e);
    memmove(deep + 2, deep, n);
    deep[0] = deep[1] = '(';
    deep[n + 2] = deep[n + 3] = ')';
    assert_int_equal(km_promql_parse(deep, n + 4, &e, &err), KM_ELIMIT);
    assert_non_null(strstr(err.msg, "parse error: expression too large"));
    free(deep);
    /* A long left-leaning chain is deep too (its printer and evaluator recurse). */
    len = 4 * (KM_LIMIT_PROMQL_DEPTH + 1);
    chain = malloc(len + 1);
    for (size_t i = 0; i < len; i += 4)
        memcpy(chain + i, "a + ", 4);
    chain[len - 3] = '\0';
    assert_int_equal(km_promql_parse(chain, len - 3, &e, &err), KM_ELIMIT);
    free(chain);
    /* Unary chains fold on numbers, but the parser's recursion is bounded all the same. */
    chain = malloc(20001);
    memset(chain, '-', 20000);
    chain[19999] = '1';
    assert_int_equal(km_promql_parse(chain, 20000, &e, &err), KM_ELIMIT);
    free(chain);
    /* The length. */
    big = malloc(KM_LIMIT_PROMQL_QUERY + 1);
    memset(big, ' ', KM_LIMIT_PROMQL_QUERY + 1);
    big[0] = '1';
    assert_int_equal(km_promql_parse(big, KM_LIMIT_PROMQL_QUERY + 1, &e, &err), KM_ELIMIT);
    assert_string_equal(err.msg, "1:1: parse error: query too long: kmon parses up to 4194304 "
                                 "bytes");
    assert_int_equal(km_promql_parse(big, KM_LIMIT_PROMQL_QUERY, &e, &err), 0);
    km_promql_expr_destroy(e);
    free(big);
    km_promql_expr_destroy(NULL);
}

/* Any bytes, NUL included, with no terminator after them. */
static void test_any_bytes(void **state)
{
    static const char q[] = { 'f', 'o', 'o', ' ', '\0', '+' };
    struct km_promql_expr *e = NULL;
    struct km_promql_error err;

    (void)state;
    assert_int_equal(km_promql_parse(q, sizeof(q), &e, &err), KM_EINVAL);
    assert_string_equal(err.msg, "1:5: parse error: unexpected character: '\\x00'");
    assert_int_equal(km_promql_parse(q, 3, &e, &err), 0);
    assert_string_equal(e->vector.name, "foo");
    km_promql_expr_destroy(e);
}

/* ---- the tree -------------------------------------------------------------------------- */

static void test_tree_selectors(void **state)
{
    struct km_promql_expr *e, *vs;

    (void)state;
    /* The name becomes the last matcher; matchers keep their order; positions. */
    e = parse_ok("  foo{b=\"1\",a=~\"x.*\"}");
    assert_int_equal(e->kind, KM_PROMQL_VECTOR_SELECTOR);
    assert_int_equal(e->type, KM_PROMQL_TYPE_VECTOR);
    assert_int_equal(e->start, 2);
    assert_int_equal(e->end, 21);
    assert_string_equal(e->vector.name, "foo");
    assert_int_equal(e->vector.nmatchers, 3);
    assert_string_equal(e->vector.matchers[0]->name, "b");
    assert_int_equal(e->vector.matchers[1]->type, KM_MATCH_RE);
    assert_true(km_matcher_matches(e->vector.matchers[1], "xyz"));
    assert_false(km_matcher_matches(e->vector.matchers[1], "axyz")); /* anchored */
    assert_string_equal(e->vector.matchers[2]->name, "__name__");
    assert_string_equal(e->vector.matchers[2]->value, "foo");
    assert_int_equal(e->vector.offset_ms, 0);
    assert_int_equal(e->vector.at.kind, KM_PROMQL_AT_NONE);
    km_promql_expr_destroy(e);

    e = parse_ok("{__name__=~\"a.*\"}");
    assert_null(e->vector.name);
    assert_int_equal(e->vector.nmatchers, 1);
    km_promql_expr_destroy(e);

    /* A matrix selector's offset and @ live in its vector selector. */
    e = parse_ok("foo[5m] offset -1h @ 1.5");
    assert_int_equal(e->kind, KM_PROMQL_MATRIX_SELECTOR);
    assert_int_equal(e->type, KM_PROMQL_TYPE_MATRIX);
    assert_int_equal(e->matrix.range_ms, 300000);
    vs = e->matrix.vector;
    assert_int_equal(vs->kind, KM_PROMQL_VECTOR_SELECTOR);
    assert_int_equal(vs->vector.offset_ms, -3600000);
    assert_int_equal(vs->vector.at.kind, KM_PROMQL_AT_TIME);
    assert_int_equal(vs->vector.at.ms, 1500);
    km_promql_expr_destroy(e);

    e = parse_ok("rate(foo[1m])[1h:] @ end() offset 5m");
    assert_int_equal(e->kind, KM_PROMQL_SUBQUERY);
    assert_int_equal(e->type, KM_PROMQL_TYPE_MATRIX);
    assert_int_equal(e->subquery.range_ms, 3600000);
    assert_int_equal(e->subquery.step_ms, 0);
    assert_int_equal(e->subquery.offset_ms, 300000);
    assert_int_equal(e->subquery.at.kind, KM_PROMQL_AT_END);
    assert_int_equal(e->subquery.expr->kind, KM_PROMQL_CALL);
    assert_int_equal(e->subquery.expr->call.func->id, KM_PROMQL_FN_RATE);
    km_promql_expr_destroy(e);

    e = parse_ok("foo[5m:30s]");
    assert_int_equal(e->subquery.step_ms, 30000);
    km_promql_expr_destroy(e);
}

static void test_tree_operators(void **state)
{
    struct km_promql_expr *e;

    (void)state;
    /* -2^2 is -(2^2); a number under a minus folds; types. */
    e = parse_ok("-2^2");
    assert_int_equal(e->kind, KM_PROMQL_UNARY);
    assert_int_equal(e->unary.op, KM_PROMQL_OP_SUB);
    assert_int_equal(e->type, KM_PROMQL_TYPE_SCALAR);
    assert_int_equal(e->unary.expr->kind, KM_PROMQL_BINARY);
    assert_int_equal(e->unary.expr->binary.op, KM_PROMQL_OP_POW);
    assert_null(e->unary.expr->binary.matching);
    km_promql_expr_destroy(e);

    e = parse_ok("-2 * 3");
    assert_int_equal(e->kind, KM_PROMQL_BINARY);
    assert_int_equal(e->binary.lhs->kind, KM_PROMQL_NUMBER);
    assert_true(e->binary.lhs->number.value == -2);
    assert_int_equal(e->binary.lhs->start, 0);
    km_promql_expr_destroy(e);

    /* ^ is right-associative, the others left; precedence. */
    e = parse_ok("2 ^ 3 ^ 4");
    assert_int_equal(e->binary.rhs->kind, KM_PROMQL_BINARY);
    km_promql_expr_destroy(e);
    e = parse_ok("a - b - c");
    assert_int_equal(e->binary.lhs->kind, KM_PROMQL_BINARY);
    km_promql_expr_destroy(e);
    e = parse_ok("a or b and c unless d == e + f * g ^ h");
    assert_int_equal(e->binary.op, KM_PROMQL_OP_OR);
    assert_int_equal(e->binary.rhs->binary.op, KM_PROMQL_OP_UNLESS);
    assert_int_equal(e->binary.rhs->binary.lhs->binary.op, KM_PROMQL_OP_AND);
    assert_int_equal(e->binary.rhs->binary.rhs->binary.op, KM_PROMQL_OP_EQL);
    km_promql_expr_destroy(e);

    /* Vector matching. */
    e = parse_ok("a * on(x, y) group_left(z) b");
    assert_non_null(e->binary.matching);
    assert_true(e->binary.matching->on);
    assert_int_equal(e->binary.matching->card, KM_PROMQL_CARD_MANY_TO_ONE);
    assert_int_equal(e->binary.matching->labels.n, 2);
    assert_string_equal(e->binary.matching->labels.names[1], "y");
    assert_int_equal(e->binary.matching->include.n, 1);
    km_promql_expr_destroy(e);
    e = parse_ok("a unless ignoring(x) b");
    assert_int_equal(e->binary.matching->card, KM_PROMQL_CARD_MANY_TO_MANY);
    assert_false(e->binary.matching->on);
    km_promql_expr_destroy(e);
    e = parse_ok("a / 2");
    assert_null(e->binary.matching);
    assert_int_equal(e->type, KM_PROMQL_TYPE_VECTOR);
    km_promql_expr_destroy(e);
    e = parse_ok("1 < bool 2");
    assert_true(e->binary.return_bool);
    assert_int_equal(e->type, KM_PROMQL_TYPE_SCALAR);
    km_promql_expr_destroy(e);
}

static void test_tree_calls(void **state)
{
    const char *q = "label_join(foo, \"dst\", \",\", \"a\", \"b\", \"c\")";
    struct km_promql_expr *e;

    (void)state;
    e = parse_ok("topk by (a, b) (3, foo)");
    assert_int_equal(e->kind, KM_PROMQL_AGGREGATE);
    assert_int_equal(e->aggregate.op, KM_PROMQL_AGG_TOPK);
    assert_false(e->aggregate.without);
    assert_int_equal(e->aggregate.grouping.n, 2);
    assert_int_equal(e->aggregate.param->kind, KM_PROMQL_NUMBER);
    assert_int_equal(e->aggregate.expr->kind, KM_PROMQL_VECTOR_SELECTOR);
    km_promql_expr_destroy(e);

    e = parse_ok("sum without (instance) (x)");
    assert_true(e->aggregate.without);
    assert_null(e->aggregate.param);
    km_promql_expr_destroy(e);

    e = parse_ok(q);
    assert_int_equal(e->call.func->id, KM_PROMQL_FN_LABEL_JOIN);
    assert_int_equal(e->call.nargs, 6);
    assert_int_equal(e->call.args[2]->kind, KM_PROMQL_STRING);
    assert_string_equal(e->call.args[2]->string.value, ",");
    assert_int_equal(e->end, strlen(q));
    km_promql_expr_destroy(e);

    e = parse_ok("time()");
    assert_int_equal(e->type, KM_PROMQL_TYPE_SCALAR);
    assert_int_equal(e->call.nargs, 0);
    km_promql_expr_destroy(e);

    e = parse_ok("(((foo)))");
    assert_int_equal(e->kind, KM_PROMQL_PAREN);
    assert_int_equal(km_promql_unparen(e)->kind, KM_PROMQL_VECTOR_SELECTOR);
    km_promql_expr_destroy(e);

    /* A string may hold NUL bytes. */
    e = parse_ok("\"a\\x00b\"");
    assert_int_equal(e->string.len, 3);
    assert_memory_equal(e->string.value, "a\0b", 3);
    km_promql_expr_destroy(e);
}

static void test_functions(void **state)
{
    static const char *const names[] = {
        "abs",
        "absent",
        "absent_over_time",
        "acos",
        "acosh",
        "asin",
        "asinh",
        "atan",
        "atanh",
        "avg_over_time",
        "ceil",
        "changes",
        "clamp",
        "clamp_max",
        "clamp_min",
        "cos",
        "cosh",
        "count_over_time",
        "days_in_month",
        "day_of_month",
        "day_of_week",
        "day_of_year",
        "deg",
        "delta",
        "deriv",
        "exp",
        "floor",
        "histogram_count",
        "histogram_fraction",
        "histogram_quantile",
        "histogram_sum",
        "holt_winters",
        "hour",
        "idelta",
        "increase",
        "irate",
        "label_join",
        "label_replace",
        "last_over_time",
        "ln",
        "log10",
        "log2",
        "max_over_time",
        "min_over_time",
        "minute",
        "month",
        "pi",
        "predict_linear",
        "present_over_time",
        "quantile_over_time",
        "rad",
        "rate",
        "resets",
        "round",
        "scalar",
        "sgn",
        "sin",
        "sinh",
        "sort",
        "sort_desc",
        "sqrt",
        "stddev_over_time",
        "stdvar_over_time",
        "sum_over_time",
        "tan",
        "tanh",
        "time",
        "timestamp",
        "vector",
        "year",
    };
    const struct km_promql_func *f;

    (void)state;
    assert_int_equal(sizeof(names) / sizeof(names[0]), KM_PROMQL_FN_COUNT_);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        f = km_promql_func_lookup(names[i], strlen(names[i]));
        assert_non_null(f);
        assert_string_equal(f->name, names[i]);
        assert_ptr_equal(km_promql_func_get(f->id), f);
    }
    assert_null(km_promql_func_lookup("rat", 3));
    assert_null(km_promql_func_lookup("rates", 5));
    assert_null(km_promql_func_lookup("Rate", 4));
    assert_non_null(km_promql_func_lookup("rate(", 4));
    f = km_promql_func_get(KM_PROMQL_FN_ROUND);
    assert_int_equal(f->min_args, 1);
    assert_int_equal(f->max_args, 2);
    f = km_promql_func_get(KM_PROMQL_FN_LABEL_JOIN);
    assert_int_equal(f->min_args, 3);
    assert_int_equal(f->max_args, SIZE_MAX);
    f = km_promql_func_get(KM_PROMQL_FN_HOLT_WINTERS);
    assert_int_equal(f->arg_types[0], KM_PROMQL_TYPE_MATRIX);
    assert_int_equal(f->min_args, 3);
    assert_int_equal(f->max_args, 3);
    f = km_promql_func_get(KM_PROMQL_FN_PI);
    assert_int_equal(f->nargs, 0);
    assert_int_equal(f->ret, KM_PROMQL_TYPE_SCALAR);
}

/* ---- literals -------------------------------------------------------------------------- */

static void test_literals(void **state)
{
    static const struct {
        double v;
        const char *want;
    } floats[] = {
        { 0, "0" },
        { 1, "1" },
        { -1.5, "-1.5" },
        { 0.1, "0.1" },
        { 1e21, "1e+21" },
        { 1e20, "1e+20" },
        { 999999, "999999" },
        { 1e6, "1e+06" },
        { 1e-4, "0.0001" },
        { 1e-5, "1e-05" },
        { 123.456, "123.456" },
        { 1e100, "1e+100" },
        { 2.5e-308, "2.5e-308" },
        { 4.9406564584124654e-324, "5e-324" },
        { 1.7976931348623157e308, "1.7976931348623157e+308" },
        { 9007199254740993.0, "9.007199254740992e+15" },
    };
    char buf[KM_PROMQL_FLOAT_MAX];
    struct km_buf b;
    int64_t ms;
    double v;

    (void)state;
    for (size_t i = 0; i < sizeof(floats) / sizeof(floats[0]); i++) {
        km_promql_format_float(buf, floats[i].v);
        assert_string_equal(buf, floats[i].want);
    }
    km_promql_format_float(buf, -0.0);
    assert_string_equal(buf, "-0");
    km_promql_format_float(buf, NAN);
    assert_string_equal(buf, "NaN");

    km_buf_init(&b, 0);
    assert_int_equal(km_promql_number_parse("0x7fffffffffffffff", 18, &v, &b), 0);
    assert_true(v == 9223372036854775807.0);
    assert_int_equal(km_promql_number_parse("0777", 4, &v, &b), 0);
    assert_true(v == 511);
    assert_int_equal(km_promql_number_parse("09.5", 4, &v, &b), 0);
    assert_true(v == 9.5);
    assert_int_equal(km_promql_number_parse("nAn", 3, &v, &b), 0);
    assert_true(isnan(v));
    assert_int_equal(km_promql_number_parse("1e", 2, &v, &b), KM_EINVAL);
    assert_string_equal(km_buf_cstr(&b),
                        "error parsing number: strconv.ParseFloat: parsing \"1e\": invalid syntax");
    km_buf_reset(&b);

    assert_int_equal(km_promql_duration_parse("1h30m", 5, &ms, &b), 0);
    assert_int_equal(ms, 5400000);
    assert_int_equal(km_promql_duration_parse("500ms", 5, &ms, &b), 0);
    assert_int_equal(ms, 500);
    assert_int_equal(km_promql_duration_parse("1m1ms", 5, &ms, &b), 0);
    assert_int_equal(ms, 60001);
    assert_int_equal(km_promql_duration_parse("106751d23h47m16s854ms", 21, &ms, &b), 0);
    assert_int_equal(km_promql_duration_parse("106751d23h47m16s855ms", 21, &ms, &b), KM_EINVAL);
    assert_string_equal(km_buf_cstr(&b), "duration out of range");
    km_buf_reset(&b);
    assert_int_equal(km_promql_duration_parse("1s1m", 4, &ms, &b), KM_EINVAL);
    assert_string_equal(km_buf_cstr(&b), "not a valid duration string: \"1s1m\"");
    km_buf_reset(&b);
    /* A query's duration is never zero; a rule's `for` and a group's `interval` may be. */
    assert_int_equal(km_promql_duration_parse("0s", 2, &ms, &b), KM_EINVAL);
    assert_string_equal(km_buf_cstr(&b), "duration must be greater than 0");
    km_buf_reset(&b);
    ms = -1;
    assert_int_equal(km_promql_config_duration_parse("0", 1, &ms, &b), 0);
    assert_int_equal(ms, 0);
    ms = -1;
    assert_int_equal(km_promql_config_duration_parse("0s", 2, &ms, &b), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(km_promql_config_duration_parse("5m", 2, &ms, &b), 0);
    assert_int_equal(ms, 300000);
    assert_int_equal(km_promql_config_duration_parse("5", 1, &ms, &b), KM_EINVAL);
    assert_int_equal(km_promql_config_duration_parse("", 0, &ms, &b), KM_EINVAL);
    km_buf_reset(&b);
    km_promql_format_duration(&b, 90061001);
    assert_string_equal(km_buf_cstr(&b), "1d1h1m1s1ms");
    km_buf_reset(&b);
    km_promql_format_duration(&b, 8 * 86400000LL);
    assert_string_equal(km_buf_cstr(&b), "8d");
    km_buf_reset(&b);
    km_promql_print_duration(&b, -604800000);
    assert_string_equal(km_buf_cstr(&b), "-1w");
    km_buf_fini(&b);
}

static void test_quote(void **state)
{
    struct km_buf b;

    (void)state;
    km_buf_init(&b, 0);
    km_promql_quote(&b, "a\"\\\n\x01\x7f\xc3\xa9\xef\xbf\xbd\xed\xa0\x80", 14);
    assert_string_equal(km_buf_cstr(&b),
                        "\"a\\\"\\\\\\n\\x01\\x7f\xc3\xa9\xef\xbf\xbd\\xed\\xa0\\x80\"");
    km_buf_reset(&b);
    km_promql_quote_expr(&b, "\xef\xbf\xbd", 3);
    assert_string_equal(km_buf_cstr(&b), "\"\\ufffd\"");
    km_buf_reset(&b);
    km_promql_quote_prefix(&b, "\xc3\xa9\xc3\xa9\xc3\xa9", 6, 2);
    assert_string_equal(km_buf_cstr(&b), "\"\xc3\xa9\xc3\xa9\"");
    km_buf_reset(&b);
    km_promql_quote_rune(&b, '\'');
    km_promql_quote_rune(&b, '"');
    km_promql_quote_rune(&b, 0xa0);
    km_promql_quote_rune(&b, 0x1f600);
    km_promql_quote_rune(&b, 0xe0001);
    km_promql_quote_rune(&b, -1);
    assert_string_equal(km_buf_cstr(&b), "'\\'''\"''\\u00a0''\xf0\x9f\x98\x80''\\U000e0001''"
                                         "\xef\xbf\xbd'");
    km_buf_reset(&b);
    km_promql_format_rune_u(&b, 'q');
    km_promql_format_rune_u(&b, '\n');
    assert_string_equal(km_buf_cstr(&b), "U+0071 'q'U+000A");
    km_buf_fini(&b);
    assert_true(km_promql_isprint(0xe9));
    assert_false(km_promql_isprint(0xa0));
    assert_false(km_promql_isprint(0x85));
    assert_true(km_promql_isprint(0x1f600));
    assert_false(km_promql_isprint(0x10ffff));
}

/* ---- the lexer ------------------------------------------------------------------------- */

static void test_lexer(void **state)
{
    static const char q[] = "sum BY(job) (rate(x:y{a=~\"b\"}[5m:])) # c\n  > bool 0x1f";
    static const struct {
        enum km_promql_tok type;
        const char *text;
        unsigned line, col;
    } want[] = {
        { KM_PROMQL_TOK_SUM, "sum", 1, 1 },
        { KM_PROMQL_TOK_BY, "BY", 1, 5 },
        { KM_PROMQL_TOK_LEFT_PAREN, "(", 1, 7 },
        { KM_PROMQL_TOK_IDENTIFIER, "job", 1, 8 },
        { KM_PROMQL_TOK_RIGHT_PAREN, ")", 1, 11 },
        { KM_PROMQL_TOK_LEFT_PAREN, "(", 1, 13 },
        { KM_PROMQL_TOK_IDENTIFIER, "rate", 1, 14 },
        { KM_PROMQL_TOK_LEFT_PAREN, "(", 1, 18 },
        { KM_PROMQL_TOK_METRIC_IDENTIFIER, "x:y", 1, 19 },
        { KM_PROMQL_TOK_LEFT_BRACE, "{", 1, 22 },
        { KM_PROMQL_TOK_IDENTIFIER, "a", 1, 23 },
        { KM_PROMQL_TOK_EQL_REGEX, "=~", 1, 24 },
        { KM_PROMQL_TOK_STRING, "\"b\"", 1, 26 },
        { KM_PROMQL_TOK_RIGHT_BRACE, "}", 1, 29 },
        { KM_PROMQL_TOK_LEFT_BRACKET, "[", 1, 30 },
        { KM_PROMQL_TOK_DURATION, "5m", 1, 31 },
        { KM_PROMQL_TOK_COLON, ":", 1, 33 },
        { KM_PROMQL_TOK_RIGHT_BRACKET, "]", 1, 34 },
        { KM_PROMQL_TOK_RIGHT_PAREN, ")", 1, 35 },
        { KM_PROMQL_TOK_RIGHT_PAREN, ")", 1, 36 },
        { KM_PROMQL_TOK_COMMENT, "# c", 1, 38 },
        { KM_PROMQL_TOK_GTR, ">", 2, 3 },
        { KM_PROMQL_TOK_BOOL, "bool", 2, 5 },
        { KM_PROMQL_TOK_NUMBER, "0x1f", 2, 10 },
        { KM_PROMQL_TOK_EOF, "", 2, 14 },
        { KM_PROMQL_TOK_EOF, "", 2, 14 },
    };
    struct km_promql_lexer l;
    struct km_promql_token t;

    (void)state;
    km_promql_lex_init(&l, q, strlen(q));
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        km_promql_lex_next(&l, &t);
        assert_int_equal(t.type, want[i].type);
        assert_int_equal(t.len, strlen(want[i].text));
        assert_memory_equal(q + t.pos, want[i].text, t.len);
        assert_int_equal(t.line, want[i].line);
        assert_int_equal(t.col, want[i].col);
    }
    km_promql_lex_init(&l, "foo[5", 5);
    km_promql_lex_next(&l, &t);
    km_promql_lex_next(&l, &t);
    km_promql_lex_next(&l, &t);
    assert_int_equal(t.type, KM_PROMQL_TOK_ERROR);
    assert_int_equal(t.pos, 4);
    assert_string_equal(km_promql_lex_error(&l), "missing unit character in duration");
    km_promql_lex_next(&l, &t);
    assert_int_equal(t.type, KM_PROMQL_TOK_ERROR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_cases),   cmocka_unit_test(test_print),
        cmocka_unit_test(test_format),         cmocka_unit_test(test_errors),
        cmocka_unit_test(test_kmon_limits),    cmocka_unit_test(test_any_bytes),
        cmocka_unit_test(test_tree_selectors), cmocka_unit_test(test_tree_operators),
        cmocka_unit_test(test_tree_calls),     cmocka_unit_test(test_functions),
        cmocka_unit_test(test_literals),       cmocka_unit_test(test_quote),
        cmocka_unit_test(test_lexer),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
