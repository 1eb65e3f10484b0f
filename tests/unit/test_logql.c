/*
 * Unit tests: LogQL — parsing (canonical printing, round trips, Loki's error messages)
 * and evaluation over an in-memory source holding a dataset written here (JSON, logfmt
 * and plain lines, malformed ones among them). Every expected answer is computed from
 * the records the test generated, never by parsing the lines the way the code does.
 */
#include "common/buf.h"
#include "common/err.h"
#include "logql/logql.h"
#include "logql_memsource.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEC 1000000000LL
#define T0  (1700000000LL * SEC)

enum kind { API, WEB, DB };

struct rec {
    enum kind k;
    int64_t ts;
    char line[256];
    bool malformed;
    const char *level;
    int status;
    int latency_ms; /* api */
    int size_kb;    /* api */
    int dur_s;      /* web */
    int mb;         /* web */
    bool db_error;  /* db */
};

#define NREC (120 + 90 + 60)
static struct rec recs[NREC];
static size_t nrec;
static struct memsource *ms;

static const char *const api_levels[] = { "info", "warn", "error" };

static void build(void)
{
    nrec = 0;
    for (int i = 0; i < 120; i++) {
        struct rec *r = &recs[nrec++];

        memset(r, 0, sizeof(*r));
        r->k = API;
        r->ts = T0 + i * SEC;
        r->level = api_levels[i % 3];
        r->status = i % 5 == 0 ? 500 : i % 7 == 0 ? 404 : 200;
        r->latency_ms = (i * 37) % 200;
        r->size_kb = i % 4 + 1;
        r->malformed = i % 10 == 9;
        if (r->malformed)
            snprintf(r->line, sizeof(r->line), "{\"level\":\"%s\",\"status\":", r->level);
        else
            snprintf(r->line, sizeof(r->line),
                     "{\"level\":\"%s\",\"status\":%d,\"latency\":\"%dms\",\"size\":\"%dKB\","
                     "\"msg\":\"req %d\",\"user\":{\"id\":%d}}",
                     r->level, r->status, r->latency_ms, r->size_kb, i, i % 4);
    }
    for (int i = 0; i < 90; i++) {
        struct rec *r = &recs[nrec++];

        memset(r, 0, sizeof(*r));
        r->k = WEB;
        r->ts = T0 + i * SEC + 300000000LL;
        r->level = i % 2 ? "warn" : "info";
        r->status = 200 + (i % 3) * 100;
        r->dur_s = i;
        r->mb = i % 30;
        snprintf(r->line, sizeof(r->line),
                 "level=%s status=%d duration=%dm%ds bytes=%dMB msg=\"hello %d\" path=/p%d",
                 r->level, r->status, r->dur_s / 60, r->dur_s % 60, r->mb, i, i % 5);
    }
    for (int i = 0; i < 60; i++) {
        struct rec *r = &recs[nrec++];

        memset(r, 0, sizeof(*r));
        r->k = DB;
        r->ts = T0 + i * 2 * SEC + 600000000LL;
        r->db_error = i % 6 == 0;
        if (r->db_error)
            snprintf(r->line, sizeof(r->line), "ERROR deadlock detected tx=%d", i);
        else
            snprintf(r->line, sizeof(r->line), "connection from 10.0.0.%d port %d", i % 8,
                     5000 + i);
    }
}

static const char *stream_labels(enum kind k)
{
    return k == API ? "app=api,env=prod" : k == WEB ? "app=web,env=prod" : "app=db,env=dev";
}

static int setup(void **state)
{
    (void)state;
    build();
    ms = memsource_create(7);
    if (!ms)
        return -1;
    for (size_t i = 0; i < nrec; i++)
        if (memsource_add(ms, stream_labels(recs[i].k), recs[i].ts, recs[i].line,
                          strlen(recs[i].line)))
            return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    memsource_destroy(ms);
    return 0;
}

/* ---- helpers ---------------------------------------------------------------------------- */

static struct km_logql_result *run_p(const char *q, const struct km_logql_params *p)
{
    struct km_logql_expr *e = NULL;
    struct km_buf err;
    struct km_logql_result *r = NULL;
    struct km_log_source src = memsource_source(ms);
    int rc;

    km_buf_init(&err, 0);
    rc = km_logql_parse(&e, q, strlen(q), &err);
    if (rc)
        fprintf(stderr, "parse %s: %s\n", q, km_buf_cstr(&err));
    assert_int_equal(rc, 0);
    km_buf_fini(&err);
    rc = km_logql_eval(e, &src, p, &r);
    if (rc)
        fprintf(stderr, "eval %s: %s\n", q, km_err_msg());
    assert_int_equal(rc, 0);
    km_logql_expr_destroy(e);
    return r;
}

static struct km_logql_result *run_log(const char *q, int64_t start, int64_t end,
                                       enum km_logql_direction dir, size_t limit)
{
    struct km_logql_params p;

    km_logql_params_default(&p);
    p.start_ns = start;
    p.end_ns = end;
    p.direction = dir;
    p.limit = limit;
    p.max_entries = 100000;
    return run_p(q, &p);
}

static int eval_err(const char *q, const struct km_logql_params *p)
{
    struct km_logql_expr *e = NULL;
    struct km_logql_result *r = NULL;
    struct km_log_source src = memsource_source(ms);
    int rc;

    assert_int_equal(km_logql_parse(&e, q, strlen(q), NULL), 0);
    rc = km_logql_eval(e, &src, p, &r);
    km_logql_result_destroy(r);
    km_logql_expr_destroy(e);
    return rc;
}

static size_t total_entries(const struct km_logql_result *r)
{
    size_t n = 0;

    for (size_t i = 0; i < r->nstreams; i++)
        n += r->streams[i].n;
    return n;
}

/* The entries of the log query q over the whole data set (at most 1000). */
static size_t count_all(const char *q)
{
    struct km_logql_result *r = run_log(q, T0, T0 + 1000 * SEC, KM_LOGQL_FORWARD, 1000);
    size_t n = total_entries(r);

    km_logql_result_destroy(r);
    return n;
}

static bool find_sub(const char *hay, size_t n, const char *needle)
{
    return memmem(hay, n, needle, strlen(needle)) != NULL;
}

/* ---- parsing ---------------------------------------------------------------------------- */

static void check_print(const char *q, const char *want)
{
    struct km_logql_expr *e = NULL, *e2 = NULL;
    struct km_buf err, out, out2;

    km_buf_init(&err, 0);
    km_buf_init(&out, 0);
    km_buf_init(&out2, 0);
    if (km_logql_parse(&e, q, strlen(q), &err))
        fprintf(stderr, "%s: %s\n", q, km_buf_cstr(&err));
    assert_non_null(e);
    assert_int_equal(km_logql_print(e, &out), 0);
    if (strcmp(km_buf_cstr(&out), want))
        fprintf(stderr, "printed %s\n   want %s\n", km_buf_cstr(&out), want);
    assert_string_equal(km_buf_cstr(&out), want);
    assert_int_equal(km_logql_parse(&e2, out.data, out.len, &err), 0);
    km_logql_print(e2, &out2);
    assert_string_equal(km_buf_cstr(&out2), want);
    km_logql_expr_destroy(e);
    km_logql_expr_destroy(e2);
    km_buf_fini(&err);
    km_buf_fini(&out);
    km_buf_fini(&out2);
}

static void test_print(void **state)
{
    (void)state;
    check_print("{app=\"a\"}", "{app=\"a\"}");
    check_print("{app=\"a\",env=~\"p.*\"} |= \"x\" != `y` |~ \"a|b\" !~ \"c\"",
                "{app=\"a\", env=~\"p.*\"} |= \"x\" != \"y\" |~ \"a|b\" !~ \"c\"");
    check_print("{app=\"a\"} |= \"a\" or \"b\" | json", "{app=\"a\"} |= \"a\" or \"b\" | json");
    check_print("{app=\"a\"} | json first=\"a.b\", c=\"d[0]\"",
                "{app=\"a\"} | json first=\"a.b\", c=\"d[0]\"");
    check_print("{app=\"a\"} | logfmt --strict --keep-empty",
                "{app=\"a\"} | logfmt --strict --keep-empty");
    check_print("{app=\"a\"} | regexp \"(?P<ip>\\\\S+) x\"",
                "{app=\"a\"} | regexp \"(?P<ip>\\\\S+) x\"");
    check_print("{app=\"a\"} | pattern \"<ip> - <_> <code>\"",
                "{app=\"a\"} | pattern \"<ip> - <_> <code>\"");
    check_print("{app=\"a\"} | json | status >= 400 and latency > 1m30s or size < 20MB",
                "{app=\"a\"} | json | status>=400 and latency>1m30s or size<20MB");
    check_print("{app=\"a\"} | logfmt | (a=\"1\" or b!=\"2\"), c=~\"x.*\"",
                "{app=\"a\"} | logfmt | (a=\"1\" or b!=\"2\"), c=~\"x.*\"");
    check_print(
        "{app=\"a\"} | line_format \"{{.a}} {{ .b | ToUpper }}\" | label_format x=y, z=\"{{.q}}\"",
        "{app=\"a\"} | line_format \"{{.a}} {{ .b | ToUpper }}\" | label_format x=y, z=\"{{.q}}\"");
    check_print("{app=\"a\"} | drop a, b=\"v\" | keep c", "{app=\"a\"} | drop a, b=\"v\" | keep c");
    check_print("count_over_time({app=\"a\"}[5m])", "count_over_time({app=\"a\"}[5m])");
    check_print("rate({app=\"a\"} |= \"x\" [1m] offset 1h)",
                "rate({app=\"a\"} |= \"x\"[1m] offset 1h)");
    check_print("sum by (level) (count_over_time({app=\"a\"} | json [1m]))",
                "sum by (level)(count_over_time({app=\"a\"} | json[1m]))");
    check_print("sum(rate({app=\"a\"}[1m])) without (x)", "sum without (x)(rate({app=\"a\"}[1m]))");
    check_print("quantile_over_time(0.99, {app=\"a\"} | json | unwrap duration(latency) | "
                "__error__=\"\" [5m]) by (app)",
                "quantile_over_time(0.99,{app=\"a\"} | json | unwrap duration(latency) | "
                "__error__=\"\"[5m]) by (app)");
    check_print("topk(2, sum by (a) (rate({app=\"a\"}[1m])))",
                "topk(2,sum by (a)(rate({app=\"a\"}[1m])))");
    check_print(
        "sum(rate({app=\"a\"}[1m])) / on (x) group_left (y) sum(rate({app=\"b\"}[1m])) > bool 2",
        "sum(rate({app=\"a\"}[1m])) / on (x) group_left (y) sum(rate({app=\"b\"}[1m])) > bool 2");
    check_print("vector(1) + 2 * 3", "vector(1) + 2 * 3");
    check_print("(1 + 2) * 3", "(1 + 2) * 3");
    check_print("label_replace(rate({app=\"a\"}[1m]), \"d\", \"$1\", \"app\", \"(.*)\")",
                "label_replace(rate({app=\"a\"}[1m]),\"d\",\"$1\",\"app\",\"(.*)\")");
    check_print("count_over_time({app=\"a\"}[1m]) or vector(0)",
                "count_over_time({app=\"a\"}[1m]) or vector(0)");
}

static void check_error(const char *q, const char *want)
{
    struct km_logql_expr *e = NULL;
    struct km_buf err;
    int rc;

    km_buf_init(&err, 0);
    rc = km_logql_parse(&e, q, strlen(q), &err);
    assert_int_not_equal(rc, 0);
    assert_null(e);
    if (strcmp(km_buf_cstr(&err), want))
        fprintf(stderr, "query %s\n  got  %s\n  want %s\n", q, km_buf_cstr(&err), want);
    assert_string_equal(km_buf_cstr(&err), want);
    km_buf_fini(&err);
}

static void test_parse_errors(void **state)
{
    (void)state;
    check_error(
        "{app}",
        "parse error at line 1, col 5: syntax error: unexpected }, expecting = or =~ or !~ or !=");
    check_error("{app=\"a\"} |= ",
                "parse error at line 1, col 14: syntax error: unexpected $end, expecting STRING");
    check_error("sum({app=\"a\"})", "parse error at line 1, col 14: syntax error: unexpected )");
    check_error("foo", "parse error at line 1, col 1: syntax error: unexpected IDENTIFIER");
    check_error(
        "{app=~\".*\"}",
        "parse error : queries require at least one regexp or equality matcher that does not "
        "have an empty-compatible value. For instance, app=~\".*\" does not meet this "
        "requirement, but app=~\".+\" will");
    check_error(
        "{}", "parse error : queries require at least one regexp or equality matcher that does not "
              "have an empty-compatible value. For instance, app=~\".*\" does not meet this "
              "requirement, but app=~\".+\" will");
    check_error("sum_over_time({app=\"a\"}[5m])",
                "parse error : invalid aggregation sum_over_time without unwrap");
    check_error("count_over_time({app=\"a\"} | unwrap x [5m])",
                "parse error : invalid aggregation count_over_time with unwrap");
    check_error("{app=\"a\"} | regexp \"(a)\"",
                "parse error at line 1, col 20: at least one named capture must be supplied");
    check_error(
        "{app=\"a\"}\n| json |",
        "parse error at line 2, col 9: syntax error: unexpected $end, expecting IDENTIFIER");
    check_error("{app=\"a\"} | unwrap x",
                "parse error at line 1, col 13: syntax error: unexpected IDENTIFIER");
    check_error("1 > 2", "parse error : comparisons between scalars must use BOOL modifier");
    check_error("{app=\"a\"} |~ \"(\"",
                "parse error at line 1, col 14: error parsing regexp: missing closing ): `(`");
}

static void test_selector_and_hints(void **state)
{
    struct km_matcher **m;
    size_t nm;
    struct km_logql_expr *e;
    const char *const *lit;
    const size_t *len;
    const char *q = "{app=\"a\", env!=\"b\"} |= \"foo\" |= \"bar\" | json |= \"baz\" | line_format "
                    "\"x\" |= \"no\"";

    (void)state;
    assert_int_equal(km_logql_parse_selector("{a=\"b\", c=~\"d.*\"}", 17, &m, &nm, NULL), 0);
    assert_int_equal(nm, 2);
    assert_string_equal(m[0]->name, "a");
    assert_string_equal(m[1]->value, "d.*");
    assert_int_equal(m[1]->type, KM_MATCH_RE);
    km_logql_matchers_free(m, nm);
    assert_int_not_equal(km_logql_parse_selector("{a=\"b\"} |= \"x\"", 15, &m, &nm, NULL), 0);

    assert_int_equal(km_logql_parse(&e, q, strlen(q), NULL), 0);
    assert_int_equal(km_logql_expr_kind(e), KM_LOGQL_LOG);
    assert_int_equal(km_logql_expr_nselectors(e), 1);
    /* literals before line_format: foo, bar and baz (a parser does not change the line) */
    assert_int_equal(km_logql_expr_must_contain(e, 0, &lit, &len), 3);
    assert_memory_equal(lit[0], "foo", 3);
    assert_memory_equal(lit[2], "baz", 3);
    km_logql_expr_destroy(e);

    q = "sum(rate({a=\"1\"} |= \"x\" [1m])) + sum(rate({b=\"2\"}[1m]))";
    assert_int_equal(km_logql_parse(&e, q, strlen(q), NULL), 0);
    assert_int_equal(km_logql_expr_kind(e), KM_LOGQL_METRIC);
    assert_int_equal(km_logql_expr_nselectors(e), 2);
    assert_int_equal(km_logql_expr_must_contain(e, 0, &lit, &len), 1);
    assert_int_equal(km_logql_expr_must_contain(e, 1, &lit, &len), 0);
    km_logql_expr_destroy(e);
}

/* ---- log queries ------------------------------------------------------------------------ */

static void test_line_filters(void **state)
{
    struct km_logql_result *r;
    size_t want = 0;
    const char *must;

    (void)state;
    /* |= "error" on api: lines whose level is error (malformed ones included) */
    for (size_t i = 0; i < nrec; i++)
        want += recs[i].k == API && !strcmp(recs[i].level, "error");
    r = run_log("{app=\"api\"} |= \"error\"", T0, T0 + 1000 * SEC, KM_LOGQL_FORWARD, 1000);
    assert_int_equal(total_entries(r), want);
    assert_int_equal(r->nstreams, 1);
    assert_int_equal(memsource_last_must(ms, &must), 1);
    assert_string_equal(must, "error");
    km_logql_result_destroy(r);

    /* regex and negation chained, across streams with a regex matcher */
    want = 0;
    for (size_t i = 0; i < nrec; i++)
        if (recs[i].k != API &&
            (strstr(recs[i].line, "hello 1") || strstr(recs[i].line, "10.0.0.1 ")) &&
            !strstr(recs[i].line, "status=400"))
            want++;
    assert_int_equal(
        count_all("{app=~\"web|db\"} |~ \"hello 1|10\\\\.0\\\\.0\\\\.1 \" != \"status=400\""),
        want);

    /* or alternatives */
    want = 0;
    for (size_t i = 0; i < nrec; i++)
        if (recs[i].k == DB && (recs[i].db_error || strstr(recs[i].line, "port 5001")))
            want++;
    assert_int_equal(count_all("{app=\"db\"} |= \"deadlock\" or \"port 5001\""), want);
    want = 0;
    for (size_t i = 0; i < nrec; i++)
        if (recs[i].k == DB && !(recs[i].db_error || strstr(recs[i].line, "port 5001")))
            want++;
    assert_int_equal(count_all("{app=\"db\"} != \"deadlock\" or \"port 5001\""), want);
}

static void test_direction_and_limit(void **state)
{
    struct km_logql_result *r;
    int64_t ts[NREC];
    size_t n = 0, left;
    int64_t start = T0 + 10 * SEC, end = T0 + 50 * SEC;

    (void)state;
    for (size_t i = 0; i < nrec; i++)
        if (recs[i].k != DB && recs[i].ts >= start && recs[i].ts < end)
            ts[n++] = recs[i].ts;
    /* sort */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && ts[j - 1] > ts[j]; j--) {
            int64_t t = ts[j];

            ts[j] = ts[j - 1];
            ts[j - 1] = t;
        }
    left = memsource_left_early(ms);
    r = run_log("{env=\"prod\"}", start, end, KM_LOGQL_BACKWARD, 5);
    assert_int_equal(total_entries(r), 5);
    assert_true(memsource_left_early(ms) > left); /* streams were left early */
    /* the newest five, each stream's newest first */
    {
        int64_t got[5];
        size_t k = 0;

        for (size_t s = 0; s < r->nstreams; s++)
            for (size_t i = 0; i < r->streams[s].n; i++) {
                if (i)
                    assert_true(r->streams[s].e[i - 1].ts_ns > r->streams[s].e[i].ts_ns);
                got[k++] = r->streams[s].e[i].ts_ns;
            }
        for (size_t i = 0; i < 5; i++) {
            bool found = false;

            for (size_t j = 0; j < 5; j++)
                found |= got[j] == ts[n - 1 - i];
            assert_true(found);
        }
    }
    assert_string_equal(km_labels_get(r->streams[0].labels, "app"), "api"); /* label order */
    km_logql_result_destroy(r);

    r = run_log("{env=\"prod\"}", start, end, KM_LOGQL_FORWARD, 7);
    assert_int_equal(total_entries(r), 7);
    for (size_t s = 0; s < r->nstreams; s++)
        for (size_t i = 0; i < r->streams[s].n; i++) {
            bool found = false;

            if (i)
                assert_true(r->streams[s].e[i - 1].ts_ns < r->streams[s].e[i].ts_ns);
            for (size_t j = 0; j < 7; j++)
                found |= r->streams[s].e[i].ts_ns == ts[j];
            assert_true(found);
        }
    km_logql_result_destroy(r);

    /* the half-open range: an entry at end is out, at start in */
    r = run_log("{app=\"api\"}", T0 + 3 * SEC, T0 + 5 * SEC, KM_LOGQL_FORWARD, 100);
    assert_int_equal(total_entries(r), 2);
    assert_int_equal(r->streams[0].e[0].ts_ns, T0 + 3 * SEC);
    km_logql_result_destroy(r);
}

static void test_json_and_label_filters(void **state)
{
    struct km_logql_result *r;
    size_t want = 0;

    (void)state;
    /* numbers; as in Loki, a numeric filter lets lines with an __error__ through */
    for (size_t i = 0; i < nrec; i++)
        want += recs[i].k == API && (recs[i].malformed || recs[i].status >= 404);
    r = run_log("{app=\"api\"} | json | status >= 404", T0, T0 + 1000 * SEC, KM_LOGQL_FORWARD,
                1000);
    assert_int_equal(total_entries(r), want);
    /* labels after json: nested user_id, or the error */
    for (size_t s = 0; s < r->nstreams; s++) {
        const struct km_labels *l = r->streams[s].labels;

        if (km_labels_get(l, "__error__")) {
            assert_string_equal(km_labels_get(l, "__error__"), "JSONParserErr");
            continue;
        }
        assert_non_null(km_labels_get(l, "user_id"));
        assert_true(atoi(km_labels_get(l, "status")) >= 404);
    }
    km_logql_result_destroy(r);

    /* durations, combined with or / and and parentheses */
    want = 0;
    for (size_t i = 0; i < nrec; i++)
        if (recs[i].k == API && (recs[i].malformed ||
                                 (recs[i].latency_ms > 150 && strcmp(recs[i].level, "info") == 0) ||
                                 recs[i].status == 404))
            want++;
    assert_int_equal(
        count_all("{app=\"api\"} | json | (latency > 150ms and level=\"info\") or status == 404"),
        want);

    /* bytes */
    want = 0;
    for (size_t i = 0; i < nrec; i++)
        want += recs[i].k == API && (recs[i].malformed || recs[i].size_kb * 1000 > 2048);
    assert_int_equal(count_all("{app=\"api\"} | json | size > 2KiB"), want);

    /* json with parameters */
    r = run_log("{app=\"api\"} | json lvl=\"level\", uid=\"user.id\" | uid=\"3\"", T0,
                T0 + 1000 * SEC, KM_LOGQL_FORWARD, 1000);
    want = 0;
    for (size_t i = 0; i < 120; i++)
        want += !recs[i].malformed && i % 4 == 3;
    assert_int_equal(total_entries(r), want);
    assert_non_null(km_labels_get(r->streams[0].labels, "lvl"));
    assert_null(km_labels_get(r->streams[0].labels, "status"));
    km_logql_result_destroy(r);

    /* __error__ on malformed lines, with details */
    want = 0;
    for (size_t i = 0; i < nrec; i++)
        want += recs[i].k == API && recs[i].malformed;
    r = run_log("{app=\"api\"} | json | __error__=\"JSONParserErr\"", T0, T0 + 1000 * SEC,
                KM_LOGQL_FORWARD, 1000);
    assert_int_equal(total_entries(r), want);
    assert_non_null(km_labels_get(r->streams[0].labels, "__error_details__"));
    km_logql_result_destroy(r);
    r = run_log("{app=\"api\"} | json | __error__=\"\"", T0, T0 + 1000 * SEC, KM_LOGQL_FORWARD,
                1000);
    assert_int_equal(total_entries(r), 120 - want);
    km_logql_result_destroy(r);
    /* a stream label clashing with an extracted one: app_extracted */
    memsource_add(ms, "app=clash", T0, "{\"app\":\"inner\",\"x\":1}", 21);
    r = run_log("{app=\"clash\"} | json", T0, T0 + SEC, KM_LOGQL_FORWARD, 10);
    assert_int_equal(total_entries(r), 1);
    assert_string_equal(km_labels_get(r->streams[0].labels, "app"), "clash");
    assert_string_equal(km_labels_get(r->streams[0].labels, "app_extracted"), "inner");
    km_logql_result_destroy(r);
}

static void test_logfmt_and_formats(void **state)
{
    struct km_logql_result *r;
    size_t want = 0;

    (void)state;
    for (size_t i = 0; i < nrec; i++)
        want += recs[i].k == WEB && recs[i].mb >= 20 && recs[i].dur_s > 60;
    assert_int_equal(count_all("{app=\"web\"} | logfmt | bytes >= 20MB, duration > 1m"), want);

    /* line_format with a function; label_format rename and template; drop and keep */
    r = run_log(
        "{app=\"web\"} | logfmt | status=400 | line_format \"{{.level | ToUpper}} {{.msg}}\" "
        "| label_format code=status, where=\"{{.path}}!\" | drop msg, duration | keep app, code, "
        "where, level",
        T0, T0 + 1000 * SEC, KM_LOGQL_FORWARD, 1000);
    want = 0;
    for (size_t i = 0; i < nrec; i++)
        want += recs[i].k == WEB && recs[i].status == 400;
    assert_int_equal(total_entries(r), want);
    for (size_t s = 0; s < r->nstreams; s++) {
        const struct km_labels *l = r->streams[s].labels;

        assert_int_equal(l->n, 4);
        assert_string_equal(km_labels_get(l, "code"), "400");
        assert_null(km_labels_get(l, "status"));
        assert_true(strstr(km_labels_get(l, "where"), "/p") != NULL);
        for (size_t k = 0; k < r->streams[s].n; k++) {
            const char *line = r->streams[s].e[k].line;

            /* find the record by timestamp; check the formatted line */
            for (size_t i = 0; i < nrec; i++)
                if (recs[i].k == WEB && recs[i].ts == r->streams[s].e[k].ts_ns) {
                    char w[64];

                    snprintf(w, sizeof(w), "%s hello %d", recs[i].level[0] == 'w' ? "WARN" : "INFO",
                             (int)((recs[i].ts - T0 - 300000000LL) / SEC));
                    assert_string_equal(line, w);
                }
        }
    }
    km_logql_result_destroy(r);

    /* regexp and pattern on plain lines */
    r = run_log("{app=\"db\"} | pattern \"connection from <ip> port <port>\" | port > 5050", T0,
                T0 + 1000 * SEC, KM_LOGQL_FORWARD, 1000);
    want = 0;
    for (size_t i = 0; i < nrec; i++)
        if (recs[i].k == DB && !recs[i].db_error) {
            int port = atoi(strrchr(recs[i].line, ' ') + 1);

            want += port > 5050;
        }
    assert_int_equal(total_entries(r), want);
    assert_non_null(km_labels_get(r->streams[0].labels, "ip"));
    km_logql_result_destroy(r);
    r = run_log("{app=\"db\"} | regexp \"tx=(?P<tx>\\\\d+)\" | tx =~ \"1.*\"", T0, T0 + 1000 * SEC,
                KM_LOGQL_FORWARD, 1000);
    want = 0;
    for (size_t i = 0; i < nrec; i++)
        if (recs[i].k == DB && recs[i].db_error && strstr(recs[i].line, "tx=1"))
            want++;
    assert_int_equal(total_entries(r), want);
    km_logql_result_destroy(r);
}

/* ---- metric queries --------------------------------------------------------------------- */

static size_t count_window(enum kind k, int64_t t, int64_t range, bool (*pred)(const struct rec *))
{
    size_t n = 0;

    for (size_t i = 0; i < nrec; i++)
        if (recs[i].k == k && recs[i].ts > t - range && recs[i].ts <= t &&
            (!pred || pred(&recs[i])))
            n++;
    return n;
}

static bool is_error_level(const struct rec *r)
{
    return !strcmp(r->level, "error") && !r->malformed;
}

static bool is_db_error(const struct rec *r)
{
    return r->db_error;
}

static double value_of(const struct km_logql_result *r, const char *label, const char *value)
{
    for (size_t i = 0; i < r->metric.vec.n; i++) {
        const char *v = label ? km_labels_get(r->metric.vec.s[i].labels, label) : "";

        if (v && !strcmp(v, value))
            return r->metric.vec.s[i].v[0];
    }
    return NAN;
}

static void test_metric_instant(void **state)
{
    struct km_logql_params p;
    struct km_logql_result *r;
    int64_t t = T0 + 45 * SEC;

    (void)state;
    km_logql_params_default(&p);
    p.end_ns = t;
    r = run_p("count_over_time({app=\"api\"}[30s])", &p);
    assert_int_equal(r->type, KM_LOGQL_VECTOR);
    assert_int_equal(r->metric.vec.n, 1);
    assert_true(r->metric.vec.s[0].v[0] == (double)count_window(API, t, 30 * SEC, NULL));
    km_logql_result_destroy(r);

    r = run_p("rate({app=\"web\"}[20s])", &p);
    assert_true(fabs(r->metric.vec.s[0].v[0] -
                     (double)count_window(WEB, t, 20 * SEC, NULL) / 20.0) < 1e-12);
    km_logql_result_destroy(r);

    /* streams whose lines are all filtered away give no series */
    r = run_p("count_over_time({env=~\".+\"} |= \"deadlock\" [30s])", &p);
    assert_int_equal(r->metric.vec.n, 1);
    assert_string_equal(km_labels_get(r->metric.vec.s[0].labels, "app"), "db");
    assert_true(r->metric.vec.s[0].v[0] == (double)count_window(DB, t, 30 * SEC, is_db_error));
    km_logql_result_destroy(r);

    /* windows reaching past the ends of time read nothing, without overflow */
    r = run_p("count_over_time({app=\"api\"}[290y] offset 290y) or vector(7)", &p);
    assert_int_equal(r->metric.vec.n, 1);
    assert_true(r->metric.vec.s[0].v[0] == 7);
    km_logql_result_destroy(r);

    /* offset moves the window back */
    r = run_p("count_over_time({app=\"api\"}[10s] offset 20s)", &p);
    assert_true(r->metric.vec.s[0].v[0] == (double)count_window(API, t - 20 * SEC, 10 * SEC, NULL));
    km_logql_result_destroy(r);

    /* sum by a parsed label, errors filtered */
    r = run_p("sum by (level) (count_over_time({app=\"api\"} | json | __error__=\"\" [60s]))", &p);
    assert_int_equal(r->metric.vec.n, 3);
    assert_true(value_of(r, "level", "error") ==
                (double)count_window(API, t, 60 * SEC, is_error_level));
    km_logql_result_destroy(r);

    /* bytes_over_time */
    {
        double want = 0;

        for (size_t i = 0; i < nrec; i++)
            if (recs[i].k == DB && recs[i].ts > t - 30 * SEC && recs[i].ts <= t)
                want += (double)strlen(recs[i].line);
        r = run_p("bytes_over_time({app=\"db\"}[30s])", &p);
        assert_true(r->metric.vec.s[0].v[0] == want);
        km_logql_result_destroy(r);
    }

    /* unwrap: sum, max, avg and quantile over the web durations (in seconds) */
    {
        double sum = 0, mx = -1, vals[100];
        size_t n = 0;

        for (size_t i = 0; i < nrec; i++)
            if (recs[i].k == WEB && recs[i].ts > t - 30 * SEC && recs[i].ts <= t) {
                sum += recs[i].dur_s;
                mx = recs[i].dur_s > mx ? recs[i].dur_s : mx;
                vals[n++] = recs[i].dur_s;
            }
        r = run_p("sum(sum_over_time({app=\"web\"} | logfmt | unwrap duration(duration) [30s]))",
                  &p);
        assert_true(fabs(r->metric.vec.s[0].v[0] - sum) < 1e-9);
        km_logql_result_destroy(r);
        r = run_p(
            "max(max_over_time({app=\"web\"} | logfmt | unwrap duration(duration) [30s]) by (app))",
            &p);
        assert_true(r->metric.vec.s[0].v[0] == mx);
        km_logql_result_destroy(r);
        /* values are consecutive integers: the median is their mean */
        r = run_p("quantile_over_time(0.5, {app=\"web\"} | logfmt | unwrap duration(duration) "
                  "[30s]) by (app)",
                  &p);
        assert_int_equal(r->metric.vec.n, 1);
        assert_true(fabs(r->metric.vec.s[0].v[0] - sum / (double)n) < 1e-9);
        assert_string_equal(km_labels_get(r->metric.vec.s[0].labels, "app"), "web");
        km_logql_result_destroy(r);
        (void)vals;
    }

    /* binary operators, scalars, topk and vector() */
    r = run_p("sum(count_over_time({env=\"prod\"}[30s])) / 2 + vector(1)", &p);
    assert_true(
        r->metric.vec.s[0].v[0] ==
        (double)(count_window(API, t, 30 * SEC, NULL) + count_window(WEB, t, 30 * SEC, NULL)) / 2 +
            1);
    km_logql_result_destroy(r);
    r = run_p("1 + 2 * 3", &p);
    assert_int_equal(r->type, KM_LOGQL_SCALAR);
    assert_true(r->metric.scalar[0] == 7);
    km_logql_result_destroy(r);
    r = run_p("topk(1, count_over_time({env=~\".+\"}[30s]))", &p);
    assert_int_equal(r->metric.vec.n, 1);
    assert_string_equal(km_labels_get(r->metric.vec.s[0].labels, "app"), "api");
    km_logql_result_destroy(r);
    r = run_p("count_over_time({app=\"api\"}[30s]) > bool 1000", &p);
    assert_true(r->metric.vec.s[0].v[0] == 0);
    km_logql_result_destroy(r);
    r = run_p(
        "label_replace(count_over_time({app=\"api\"}[30s]), \"svc\", \"x-$1\", \"app\", \"(a.*)\")",
        &p);
    assert_string_equal(km_labels_get(r->metric.vec.s[0].labels, "svc"), "x-api");
    km_logql_result_destroy(r);
    r = run_p("absent_over_time({app=\"nope\"}[30s])", &p);
    assert_int_equal(r->metric.vec.n, 1);
    assert_string_equal(km_labels_get(r->metric.vec.s[0].labels, "app"), "nope");
    km_logql_result_destroy(r);

    /* the pipeline error of a metric over lines with __error__ */
    assert_int_equal(eval_err("count_over_time({app=\"api\"} | json [60s])", &p), KM_EINVAL);
    assert_non_null(strstr(km_err_msg(), "pipeline error: 'JSONParserErr' for series:"));
    /* an unwrap of a label that is not a number */
    assert_int_equal(eval_err("sum_over_time({app=\"api\"} | json | unwrap level [60s])", &p),
                     KM_EINVAL);
    assert_non_null(strstr(km_err_msg(), "SampleExtractionErr"));
}

static void test_metric_range(void **state)
{
    struct km_logql_params p;
    struct km_logql_result *r;
    struct km_buf b;

    (void)state;
    km_logql_params_default(&p);
    p.start_ns = T0 + 10 * SEC;
    p.end_ns = T0 + 100 * SEC;
    p.step_ns = 15 * SEC;
    r = run_p("sum by (app) (count_over_time({env=\"prod\"} |= \"e\" [20s]))", &p);
    assert_int_equal(r->type, KM_LOGQL_MATRIX);
    assert_int_equal(r->metric.grid.n, 7);
    for (size_t s = 0; s < r->metric.vec.n; s++) {
        const char *app = km_labels_get(r->metric.vec.s[s].labels, "app");
        enum kind k = !strcmp(app, "api") ? API : WEB;

        for (size_t i = 0; i < r->metric.grid.n; i++) {
            int64_t t = p.start_ns + (int64_t)i * p.step_ns;
            size_t want = 0;

            for (size_t j = 0; j < nrec; j++)
                want += recs[j].k == k && recs[j].ts > t - 20 * SEC && recs[j].ts <= t &&
                        strchr(recs[j].line, 'e');
            if (want)
                assert_true(km_pq_has(&r->metric.vec.s[s], i) &&
                            r->metric.vec.s[s].v[i] == (double)want);
            else
                assert_false(km_pq_has(&r->metric.vec.s[s], i));
        }
    }
    km_buf_init(&b, 0);
    assert_int_equal(km_logql_render_data(&b, r), 0);
    assert_true(find_sub(b.data, b.len,
                         "{\"resultType\":\"matrix\",\"result\":[{\"metric\":{\"app\":\"api\"},"
                         "\"values\":[[1700000010,\""));
    assert_true(find_sub(b.data, b.len, "\"stats\":{\"summary\":{"));
    assert_true(find_sub(b.data, b.len, "\"totalLinesProcessed\":"));
    km_buf_fini(&b);
    km_logql_result_destroy(r);

    /* too many points */
    p.step_ns = 1000;
    assert_int_equal(eval_err("count_over_time({app=\"api\"}[1m])", &p), KM_EINVAL);
    assert_non_null(strstr(km_err_msg(), "exceeded maximum resolution of 11,000 points"));
}

static void test_render_streams(void **state)
{
    struct km_logql_result *r;
    struct km_buf b;
    char want[256];

    (void)state;
    r = run_log("{app=\"db\"} |= \"deadlock\"", T0, T0 + 3 * SEC, KM_LOGQL_FORWARD, 10);
    km_buf_init(&b, 0);
    assert_int_equal(km_logql_render_data(&b, r), 0);
    snprintf(want, sizeof(want),
             "{\"resultType\":\"streams\",\"result\":[{\"stream\":{\"app\":\"db\",\"env\":\"dev\"},"
             "\"values\":[[\"%lld\",\"ERROR deadlock detected tx=0\"]]}],\"stats\":",
             (long long)(T0 + 600000000LL));
    assert_true(find_sub(b.data, b.len, want));
    km_buf_fini(&b);
    km_logql_result_destroy(r);
}

/* One line through a pipeline, in a stream of its own. */
static struct km_logql_result *one_line(const char *labels, const char *line, const char *q)
{
    static int64_t ts = T0 + 5000 * SEC;

    ts += SEC;
    assert_int_equal(memsource_add(ms, labels, ts, line, strlen(line)), 0);
    return run_log(q, ts, ts + 1, KM_LOGQL_FORWARD, 10);
}

static void test_pipeline_details(void **state)
{
    struct km_logql_result *r;
    const struct km_labels *l;

    (void)state;
    /* unpack: string values become labels, _entry the line */
    r = one_line("app=u1", "{\"_entry\":\"the line\",\"pod\":\"p-1\",\"n\":3}",
                 "{app=\"u1\"} | unpack");
    assert_int_equal(total_entries(r), 1);
    assert_string_equal(r->streams[0].e[0].line, "the line");
    assert_string_equal(km_labels_get(r->streams[0].labels, "pod"), "p-1");
    assert_null(km_labels_get(r->streams[0].labels, "n"));
    km_logql_result_destroy(r);

    /* json: escapes, nested objects, arrays skipped, names sanitised */
    r = one_line("app=j1",
                 "{\"a-b\":\"x\\\"y\\u00e9\",\"o\":{\"p\":{\"q\":true}},\"arr\":[1,2],\"1st\":1.5}",
                 "{app=\"j1\"} | json");
    l = r->streams[0].labels;
    assert_string_equal(km_labels_get(l, "a_b"), "x\"y\xc3\xa9");
    assert_string_equal(km_labels_get(l, "o_p_q"), "true");
    assert_null(km_labels_get(l, "arr"));
    assert_string_equal(km_labels_get(l, "_1st"), "1.5");
    km_logql_result_destroy(r);

    /* logfmt: quoted values, bare keys dropped unless --keep-empty, --strict errors */
    r = one_line("app=l1", "a=1 b=\"two words\" flag c=", "{app=\"l1\"} | logfmt");
    l = r->streams[0].labels;
    assert_string_equal(km_labels_get(l, "b"), "two words");
    assert_null(km_labels_get(l, "flag"));
    km_logql_result_destroy(r);
    r = one_line("app=l2", "a=1 =oops b=2", "{app=\"l2\"} | logfmt --strict");
    l = r->streams[0].labels;
    assert_string_equal(km_labels_get(l, "__error__"), "LogfmtParserErr");
    assert_string_equal(km_labels_get(l, "a"), "1");
    km_logql_result_destroy(r);
    r = one_line("app=l3", "a=1 =oops b=2", "{app=\"l3\"} | logfmt");
    l = r->streams[0].labels;
    assert_null(km_labels_get(l, "__error__"));
    assert_string_equal(km_labels_get(l, "b"), "2");
    km_logql_result_destroy(r);

    /* templates: functions, pipelines, if/else, __line__, trim markers */
    r = one_line("app=t1", "level=warn msg=\"  Hi There  \"",
                 "{app=\"t1\"} | logfmt | line_format \"{{ .msg | trim | lower }}|{{ if .level "
                 "}}L={{ .level | upper }}{{ else }}none{{ end }}|{{ replace \\\"warn\\\" "
                 "\\\"w\\\" .level }}|{{ .missing }}|{{- \\\" x\\\" -}} |{{ __line__ | len }}\"");
    assert_string_equal(r->streams[0].e[0].line, "hi there|L=WARN|w|| x|29");
    km_logql_result_destroy(r);

    /* decolorize, and keep with a value */
    r = one_line("app=c1,team=x", "\x1b[31mred\x1b[0m text",
                 "{app=\"c1\"} | decolorize | keep app, team=\"y\"");
    assert_string_equal(r->streams[0].e[0].line, "red text");
    assert_int_equal(r->streams[0].labels->n, 1);
    km_logql_result_destroy(r);
}

static void test_limits(void **state)
{
    struct km_logql_params p;

    (void)state;
    km_logql_params_default(&p);
    p.start_ns = T0;
    p.end_ns = T0 + 1000 * SEC;
    p.limit = 6000;
    assert_int_equal(eval_err("{app=\"api\"}", &p), KM_EINVAL);
    assert_string_equal(
        km_err_msg(),
        "max entries limit per query exceeded, limit > max_entries_limit (6000 > 5000)");
    p.limit = 10;
    p.max_lines = 50;
    assert_int_equal(eval_err("{env=~\".+\"} |= \"nothing-matches\"", &p), KM_ELIMIT);
    p.max_lines = 0;
    p.max_series = 2;
    p.end_ns = T0 + 50 * SEC;
    assert_int_equal(eval_err("count_over_time({env=~\".+\"}[1m])", &p), KM_ELIMIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_print),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_selector_and_hints),
        cmocka_unit_test(test_line_filters),
        cmocka_unit_test(test_direction_and_limit),
        cmocka_unit_test(test_json_and_label_filters),
        cmocka_unit_test(test_logfmt_and_formats),
        cmocka_unit_test(test_metric_instant),
        cmocka_unit_test(test_metric_range),
        cmocka_unit_test(test_render_streams),
        cmocka_unit_test(test_pipeline_details),
        cmocka_unit_test(test_limits),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
