/*
 * fuzz_logql_parse — the LogQL parser on arbitrary text: it must never crash, and what it
 * accepts must print canonically, parse again, and print the same text (parse → print →
 * parse round trip). A bare selector parsed alone must agree with its printed form.
 */
#include "fuzz_common.h"

#include "common/buf.h"
#include "logql/logql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *q = fuzz_copy(data, size);
    struct km_logql_expr *e = NULL, *e2 = NULL;
    struct km_buf err, out, out2;
    struct km_matcher **m = NULL;
    size_t nm = 0;

    if (!q)
        return 0;
    km_buf_init(&err, 0);
    km_buf_init(&out, 0);
    km_buf_init(&out2, 0);
    if (km_logql_parse(&e, q, size, &err) == 0) {
        CHECK(e != NULL);
        CHECK(km_logql_print(e, &out) == 0);
        km_buf_reset(&err);
        if (km_logql_parse(&e2, out.data ? out.data : "", out.len, &err) != 0) {
            fprintf(stderr, "printed %s does not parse: %s\n", km_buf_cstr(&out),
                    km_buf_cstr(&err));
            CHECK(0);
        }
        CHECK(km_logql_print(e2, &out2) == 0);
        if (out.len != out2.len || memcmp(out.data, out2.data, out.len) != 0) {
            fprintf(stderr, "round trip: %s\n         vs %s\n", km_buf_cstr(&out),
                    km_buf_cstr(&out2));
            CHECK(0);
        }
        CHECK(km_logql_expr_kind(e) == km_logql_expr_kind(e2));
        CHECK(km_logql_expr_nselectors(e) == km_logql_expr_nselectors(e2));
    } else {
        CHECK(e == NULL);
        CHECK(err.len > 0);
    }
    if (km_logql_parse_selector(q, size, &m, &nm, NULL) == 0)
        CHECK(nm > 0);
    km_logql_matchers_free(m, nm);
    km_logql_expr_destroy(e);
    km_logql_expr_destroy(e2);
    km_buf_fini(&err);
    km_buf_fini(&out);
    km_buf_fini(&out2);
    free(q);
    return 0;
}
