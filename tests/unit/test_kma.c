/*
 * Unit tests: the Kubernetes metrics API's pure parts (server/kmetrics/) — label
 * selectors as Kubernetes parses them turned into PromQL matchers (every operator,
 * spacing, prefixed keys, sanitised names, and the refusals with the API server's kind of
 * message), the quantities, durations and times printed as the Kubernetes API prints
 * them (kubectl parses these), and --k8s-metrics-config's rules (read, and refused with
 * FILE:LINE sentences).
 */
#include "common/buf.h"
#include "common/err.h"
#include "promql/parse.h"
#include "server/kmetrics/kma.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

static void expect_selector(const char *sel, const char *want)
{
    struct km_buf b, q;
    struct km_promql_expr *e = NULL;
    struct km_promql_error perr;

    km_buf_init(&b, 0);
    assert_int_equal(km_kma_selector_matchers(&b, sel, "label_"), 0);
    assert_string_equal(b.data ? b.data : "", want);
    /* What it gives is a valid selector's matchers. */
    km_buf_init(&q, 0);
    km_buf_printf(&q, "kube_pod_labels{namespace!=\"\"%s}", b.data ? b.data : "");
    assert_int_equal(km_promql_parse(q.data, q.len, &e, &perr), 0);
    km_promql_expr_destroy(e);
    km_buf_fini(&q);
    km_buf_fini(&b);
}

static void expect_refused(const char *sel, const char *words)
{
    struct km_buf b;

    km_buf_init(&b, 0);
    assert_int_equal(km_kma_selector_matchers(&b, sel, "label_"), KM_EINVAL);
    if (!strstr(km_err_msg(), words))
        fail_msg("selector \"%s\": message \"%s\" lacks \"%s\"", sel, km_err_msg(), words);
    km_buf_fini(&b);
}

static void test_selector_operators(void **state)
{
    (void)state;
    expect_selector("", "");
    expect_selector("   ", "");
    expect_selector("app=web", ",label_app=\"web\"");
    expect_selector("app==web", ",label_app=\"web\"");
    expect_selector("app!=web", ",label_app!=\"web\"");
    expect_selector("app", ",label_app!=\"\"");
    expect_selector("!canary", ",label_canary=\"\"");
    expect_selector("env in (prod, staging)", ",label_env=~\"prod|staging\"");
    expect_selector("env notin (a.b,c)", ",label_env!~\"a\\\\.b|c\"");
    expect_selector(" app = web , tier != db ", ",label_app=\"web\",label_tier!=\"db\"");
    expect_selector("app.kubernetes.io/name=kmon", ",label_app_kubernetes_io_name=\"kmon\"");
    expect_selector("app=", ",label_app=\"\"");
}

static void test_selector_refused(void **state)
{
    (void)state;
    expect_refused("app=web,", "expected: identifier");
    expect_refused(",", "expected: identifier");
    expect_refused("app=web x", "expected: ',' or 'end of string'");
    expect_refused("replicas>3", "not supported");
    expect_refused("env in prod", "expected '('");
    expect_refused("env in (a b)", "expected ',' or ')'");
    expect_refused("-app=web", "invalid label key");
    expect_refused("Bad.Prefix/app=web", "lowercase DNS subdomain");
    expect_refused("app=-web", "invalid label value");
    expect_refused("app=a/b", "invalid label value");
    expect_refused("app=\"web\"", "expected: ',' or 'end of string'");
    expect_refused("app=0123456789012345678901234567890123456789012345678901234567890123",
                   "invalid label value");
    expect_refused("app like web", "expected: in, notin");
}

static void test_quantities(void **state)
{
    char s[64];

    (void)state;
    km_kma_cpu(s, sizeof(s), 0);
    assert_string_equal(s, "0");
    km_kma_cpu(s, sizeof(s), 2);
    assert_string_equal(s, "2");
    km_kma_cpu(s, sizeof(s), 0.25);
    assert_string_equal(s, "250m");
    km_kma_cpu(s, sizeof(s), 0.000012);
    assert_string_equal(s, "12u");
    km_kma_cpu(s, sizeof(s), 0.141572421);
    assert_string_equal(s, "141572421n");
    km_kma_cpu(s, sizeof(s), -1);
    assert_string_equal(s, "0");
    km_kma_bytes(s, sizeof(s), 1000);
    assert_string_equal(s, "1000");
    km_kma_bytes(s, sizeof(s), 1536 * 1024.0);
    assert_string_equal(s, "1536Ki");
    km_kma_bytes(s, sizeof(s), 2.0 * 1024 * 1024 * 1024);
    assert_string_equal(s, "2Gi");
    km_kma_bytes(s, sizeof(s), 4096 * 3.0);
    assert_string_equal(s, "12Ki");
}

static void test_durations_and_times(void **state)
{
    char s[64];

    (void)state;
    km_kma_duration(s, sizeof(s), 60000);
    assert_string_equal(s, "1m0s");
    km_kma_duration(s, sizeof(s), 20000);
    assert_string_equal(s, "20s");
    km_kma_duration(s, sizeof(s), 1500);
    assert_string_equal(s, "1.5s");
    km_kma_duration(s, sizeof(s), 10508);
    assert_string_equal(s, "10.508s");
    km_kma_duration(s, sizeof(s), 7200000);
    assert_string_equal(s, "2h0m0s");
    km_kma_duration(s, sizeof(s), 0);
    assert_string_equal(s, "0s");
    km_kma_time(s, sizeof(s), 1796594310000LL);
    assert_string_equal(s, "2026-12-06T21:58:30Z");
}

static void test_quantity_and_singular(void **state)
{
    char s[64];

    (void)state;
    km_kma_quantity(s, sizeof(s), -1.5);
    assert_string_equal(s, "-1500m");
    km_kma_quantity(s, sizeof(s), 42);
    assert_string_equal(s, "42");
    km_kma_quantity(s, sizeof(s), 12.5e9);
    assert_string_equal(s, "12500000000");
    km_kma_quantity(s, sizeof(s), 0.0000000001);
    assert_string_equal(s, "0");
    km_kma_singular(s, sizeof(s), "pods");
    assert_string_equal(s, "pod");
    km_kma_singular(s, sizeof(s), "ingresses");
    assert_string_equal(s, "ingress");
    km_kma_singular(s, sizeof(s), "statefulsets");
    assert_string_equal(s, "statefulset");
}

static void test_expand(void **state)
{
    struct km_buf b;

    (void)state;
    km_buf_init(&b, 0);
    assert_int_equal(
        km_kma_expand(&b, "sum(rate(x{$__matchers}[1m])) / y{a=\"b\",$__matchers}", "pod=\"p\""),
        0);
    assert_string_equal(b.data, "sum(rate(x{pod=\"p\"}[1m])) / y{a=\"b\",pod=\"p\"}");
    km_buf_fini(&b);
}

static const char good_rules[] =
    "custom:\n"
    "  - name: http_requests_per_second\n"
    "    resource: pods\n"
    "    query: sum by (namespace, pod) (rate(http_requests_total{$__matchers}[2m]))\n"
    "  - name: http_requests_per_second\n"
    "    resource: deployments\n"
    "    label: workload\n"
    "    query: sum by (namespace, workload) (rate(http_requests_total{$__matchers}[2m]))\n"
    "  - name: load\n"
    "    resource: nodes\n"
    "    query: node_load1{$__matchers}\n"
    "external:\n"
    "  - name: queue_messages_ready\n"
    "    query: sum by (queue) (rabbitmq_queue_messages_ready{$__matchers})\n"
    "    namespaced: true\n";

static void test_rules_parse(void **state)
{
    struct km_kma_rules r;

    (void)state;
    assert_int_equal(km_kma_rules_parse(&r, good_rules, sizeof(good_rules) - 1, "k.yaml"), 0);
    assert_int_equal(r.n, 4);
    assert_string_equal(r.v[0].label, "pod");
    assert_true(r.v[0].namespaced && !r.v[0].external);
    assert_string_equal(r.v[1].label, "workload");
    assert_false(r.v[2].namespaced);
    assert_string_equal(r.v[2].label, "node");
    assert_true(r.v[3].external && r.v[3].namespaced);
    km_kma_rules_fini(&r);
}

static void expect_rules_refused(const char *text, const char *words)
{
    struct km_kma_rules r;

    assert_int_equal(km_kma_rules_parse(&r, text, strlen(text), "k.yaml"), KM_EINVAL);
    if (!strstr(km_err_msg(), words))
        fail_msg("rules \"%s\": message \"%s\" lacks \"%s\"", text, km_err_msg(), words);
}

static void test_rules_refused(void **state)
{
    (void)state;
    expect_rules_refused("custom: [", "did not find expected node content");
    expect_rules_refused("nope: []\n", "k.yaml:1: unknown key \"nope\"");
    expect_rules_refused("custom:\n  - name: x\n    query: up{$__matchers}\n",
                         "k.yaml:2: metric \"x\" needs a resource");
    expect_rules_refused("custom:\n  - name: x\n    resource: pods\n    query: up\n",
                         "k.yaml:4: the query has no $__matchers");
    expect_rules_refused("external:\n  - name: x\n    query: sum(up{$__matchers}\n",
                         "k.yaml:3: the query does not parse");
    expect_rules_refused("external:\n  - name: x\n    query: up{$__matchers}\n    resource: p\n",
                         "unknown key \"resource\"");
    expect_rules_refused("external:\n  - name: a b\n    query: up{$__matchers}\n", "needs a name");
    expect_rules_refused("external:\n  - name: x\n    query: up{$__matchers}\n"
                         "  - name: x\n    query: up{$__matchers}\n",
                         "k.yaml:4: metric \"x\" is defined twice");
    expect_rules_refused("external:\n  - name: x\n    query: up{$__matchers}\n"
                         "    namespaced: maybe\n",
                         "namespaced is true or false");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_selector_operators),
        cmocka_unit_test(test_selector_refused),
        cmocka_unit_test(test_quantities),
        cmocka_unit_test(test_durations_and_times),
        cmocka_unit_test(test_quantity_and_singular),
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_rules_parse),
        cmocka_unit_test(test_rules_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
