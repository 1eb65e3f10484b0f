/*
 * Unit tests: the PromQL front end when memory runs out. The test binary wraps malloc,
 * calloc, realloc, strdup and strndup (-Wl,--wrap, see CMakeLists.txt) so that the n-th
 * allocation fails; every query below is parsed, printed and formatted with its first,
 * second, … allocation failing, until a run needs no more. Each must end cleanly: the
 * same answer as with enough memory, or KM_ENOMEM — never a crash, a wrong tree or a
 * leak (the sanitizer build runs this test under LeakSanitizer).
 */
#include "common/buf.h"
#include "common/err.h"
#include "oom_wrap.h"
#include "promql/parse.h"
#include "promql/print.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Parse, print and format q: the result code and the texts ("" for those not made). */
static int run(const void *ctx, char *out, size_t outsize)
{
    const char *q = ctx;
    struct km_promql_expr *e = NULL;
    struct km_promql_error err;
    struct km_buf a, b;
    int rc;

    rc = km_promql_parse(q, strlen(q), &e, &err);
    km_buf_init(&a, 0);
    km_buf_init(&b, 0);
    if (rc == 0) {
        rc = km_promql_print(&a, e);
        if (rc == 0)
            rc = km_promql_format(&b, e);
    }
    if (rc == 0)
        snprintf(out, outsize, "%s\n%s", km_buf_cstr(&a), km_buf_cstr(&b));
    else if (rc != KM_ENOMEM)
        snprintf(out, outsize, "%s", err.msg);
    else
        out[0] = '\0';
    km_buf_fini(&a);
    km_buf_fini(&b);
    km_promql_expr_destroy(e);
    return rc;
}

static void test_every_allocation_fails(void **state)
{
    static const char *const queries[] = {
        "sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{job=\"kubelet\", "
        "image!=\"\"}[5m])) * on (namespace, pod) group_left(node) topk by (namespace, pod) "
        "(1, max by (namespace, pod, node) (kube_pod_info{node!=\"\"}))",
        "label_join(foo{a=~\"x.*|y\"}, \"dst\", \",\", \"a\", \"b\") offset 5m",
        "histogram_quantile(0.9, sum without (instance) (rate(x_bucket[10m])))[1h:5m] @ end()",
        "-foo{__name__=~\"a.+\"} and on() bar or -(1 + 2) ^ 3",
        "count_values(\"v\", foo) > bool 2",
        "(rate(foo[5m] offset 1m) + -time())[30m:] @ 100 > bool -\"s\" / 2",
        "-foo[5m:1m] unless ignoring(a, b) group_right(c) (bar)",
        "x{a=~\"(?P<n>a{2,3})|\\\\p{Greek}+[[:alpha:]]\"}",
        "foo{a=\"\\x00\"}",
        "x{a=~\"[\\\\w-.]\"}",
        "x{a=~\"(a{100}){100}\"}",
        "sum(foo bar)",
        "foo{a=\"b\" c}",
        "rate(foo)",
        "foo[5m] offset 1m [5m]",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        char why[16384];

        if (!oom_each_allocation(run, queries[i], why, sizeof(why)))
            fail_msg("%s: %s", queries[i], why);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_allocation_fails),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
