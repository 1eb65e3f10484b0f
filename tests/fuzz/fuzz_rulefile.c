/*
 * fuzz_rulefile — Prometheus rule files (src/rules/rulefile*.c) over arbitrary bytes.
 *
 * A file is either loaded or refused with at least one error line, each naming the file;
 * a loaded file's rules are whole (a name, a parsed expression, sorted labels and
 * annotations, recording rules without `for`); nothing may crash, hang or leak.
 */
#include "common/buf.h"
#include "common/err.h"
#include "fuzz_common.h"
#include "promql/ast.h"
#include "rules/rulefile.h"

#include <string.h>

static void check_rule(const struct km_rule *r)
{
    CHECK(r->name && *r->name);
    CHECK(r->expr && r->expr_text && *r->expr_text);
    CHECK(r->kind == KM_RULE_ALERT || (r->for_ms == 0 && r->nannotations == 0));
    for (size_t k = 1; k < r->nlabels; k++)
        CHECK(strcmp(r->labels[k - 1].name, r->labels[k].name) <= 0);
    for (size_t k = 1; k < r->nannotations; k++)
        CHECK(strcmp(r->annotations[k - 1].name, r->annotations[k].name) <= 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct km_rulefile *f = NULL;
    struct km_buf errs;
    char *text = fuzz_copy(data, size);
    size_t n = 0;
    int rc;

    if (!text)
        return 0;
    km_buf_init(&errs, 16u << 20);
    rc = km_rulefile_parse(&f, "fuzz.yaml", text, size, &errs);
    if (rc == 0) {
        CHECK(errs.len == 0);
        for (size_t j = 0; j < f->ngroups; j++) {
            for (size_t i = 0; i < f->groups[j].nrules; i++)
                check_rule(&f->groups[j].rules[i]);
            n += f->groups[j].nrules;
        }
        CHECK(n == f->nrules);
        km_buf_reset(&errs);
        km_rulefile_lint_duplicates(f, &errs);
        km_rulefile_destroy(f);
    } else if (rc == KM_EINVAL || rc == KM_ELIMIT) {
        CHECK(errs.len > 0);
        CHECK(strncmp(km_buf_cstr(&errs), "fuzz.yaml: ", 11) == 0);
    }
    km_buf_fini(&errs);
    free(text);
    return 0;
}
