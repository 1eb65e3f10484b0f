/*
 * fuzz_rules_template — alert templates (src/rules/template.h) over arbitrary bytes:
 * parsed as a template and, when that works, expanded twice with the fixed data of
 * tests/unit/template_fixture.h (an alert's labels and value, and a `query` that answers
 * from three series).
 *
 * A text that does not parse must say so in Go's words ("template: NAME:LINE: …") with
 * KM_EINVAL, or fail with KM_ELIMIT (a bound); one that parses must expand to the same
 * output twice (nothing read uninitialised, no state kept between expansions), within
 * the output's bound, or fail with Prometheus' "error executing template NAME: …" and
 * KM_EINVAL or KM_ELIMIT. Nothing may crash, leak or hang: the bounds of
 * KM_LIMIT_TMPL_* keep every expansion small and short.
 */
#include "../unit/template_fixture.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/limits.h"
#include "fuzz_common.h"
#include "rules/template.h"

#include <stdio.h>
#include <string.h>

#define NAME "__alert_Fuzz"

static int expand(const struct km_tmpl *t, const struct km_tmpl_data *d, struct km_buf *out)
{
    struct km_buf err;
    int rc;

    km_buf_init(&err, 0);
    rc = km_tmpl_expand(t, d, out, &err);
    if (rc) {
        CHECK(rc == KM_EINVAL || rc == KM_ELIMIT);
        CHECK(out->len == 0);
        CHECK(strncmp(km_buf_cstr(&err), "error executing template " NAME ": ",
                      strlen("error executing template " NAME ": ")) == 0);
    } else {
        CHECK(out->len <= KM_LIMIT_TMPL_OUTPUT);
        CHECK(err.len == 0);
    }
    km_buf_fini(&err);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_copy(data, size);
    struct km_tmpl *t = NULL;
    struct fixture f;
    struct km_buf err, a, b;
    int rc, rc2;

    if (!text)
        return 0;
    CHECK(fixture_init(&f) == 0);
    km_buf_init(&err, 0);
    rc = km_tmpl_parse(&t, NAME, text, size, &err);
    if (rc) {
        CHECK(rc == KM_EINVAL || rc == KM_ELIMIT);
        CHECK(t == NULL);
        CHECK(strncmp(km_buf_cstr(&err), "template: " NAME, strlen("template: " NAME)) == 0);
    } else {
        CHECK(strcmp(km_tmpl_name(t), NAME) == 0);
        km_buf_init(&a, 0);
        km_buf_init(&b, 0);
        rc = expand(t, &f.d, &a);
        rc2 = expand(t, &f.d, &b);
        CHECK(rc == rc2);
        CHECK(a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0));
        km_buf_fini(&a);
        km_buf_fini(&b);
        km_tmpl_destroy(t);
    }
    km_buf_fini(&err);
    fixture_fini(&f);
    free(text);
    return 0;
}
