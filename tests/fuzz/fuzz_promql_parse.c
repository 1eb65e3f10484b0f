/*
 * fuzz_promql_parse — the PromQL front end (src/promql/) over arbitrary bytes.
 *
 * A query that parses must come back as itself: printed on one line and parsed again it
 * prints the same (parse → print → parse → print is a fixed point), likewise through
 * format_query's layout, and both prints describe the same tree. Its tree must be
 * well formed (types, positions inside the text, depth within the limit). A query that
 * does not parse must say where, in Prometheus' "<line>:<col>: parse error: " form, at a
 * place inside the text. Nothing may crash or leak (AddressSanitizer, LeakSanitizer).
 */
#include "common/buf.h"
#include "common/err.h"
#include "common/limits.h"
#include "fuzz_common.h"
#include "promql/lex.h"
#include "promql/parse.h"
#include "promql/print.h"

#include <stdio.h>
#include <string.h>

static bool instant(enum km_promql_type t)
{
    return t == KM_PROMQL_TYPE_SCALAR || t == KM_PROMQL_TYPE_VECTOR;
}

/* The tree's own promises, checked node by node. */
static void check_tree(const struct km_promql_expr *e, size_t len)
{
    CHECK(e->start <= e->end);
    CHECK(e->end <= len);
    CHECK(e->depth >= 1 && e->depth <= KM_LIMIT_PROMQL_DEPTH);
    switch (e->kind) {
    case KM_PROMQL_NUMBER:
        CHECK(e->type == KM_PROMQL_TYPE_SCALAR);
        break;
    case KM_PROMQL_STRING:
        CHECK(e->type == KM_PROMQL_TYPE_STRING);
        CHECK(e->string.value[e->string.len] == '\0');
        break;
    case KM_PROMQL_VECTOR_SELECTOR: {
        bool nonempty = false;

        CHECK(e->type == KM_PROMQL_TYPE_VECTOR);
        for (size_t i = 0; i < e->vector.nmatchers; i++)
            nonempty |= !e->vector.matchers[i]->matches_empty;
        CHECK(nonempty);
        if (e->vector.name) {
            const struct km_matcher *last = e->vector.matchers[e->vector.nmatchers - 1];

            CHECK(last->type == KM_MATCH_EQ && strcmp(last->name, "__name__") == 0 &&
                  strcmp(last->value, e->vector.name) == 0);
        }
        break;
    }
    case KM_PROMQL_MATRIX_SELECTOR:
        CHECK(e->type == KM_PROMQL_TYPE_MATRIX && e->matrix.range_ms > 0);
        CHECK(e->matrix.vector->kind == KM_PROMQL_VECTOR_SELECTOR);
        check_tree(e->matrix.vector, len);
        break;
    case KM_PROMQL_SUBQUERY:
        CHECK(e->type == KM_PROMQL_TYPE_MATRIX && e->subquery.range_ms > 0);
        CHECK(e->subquery.step_ms >= 0);
        CHECK(e->subquery.expr->type == KM_PROMQL_TYPE_VECTOR);
        check_tree(e->subquery.expr, len);
        break;
    case KM_PROMQL_PAREN:
        CHECK(e->type == e->paren.expr->type);
        check_tree(e->paren.expr, len);
        break;
    case KM_PROMQL_UNARY:
        CHECK(instant(e->type) && e->type == e->unary.expr->type);
        check_tree(e->unary.expr, len);
        break;
    case KM_PROMQL_BINARY:
        CHECK(instant(e->binary.lhs->type) && instant(e->binary.rhs->type));
        CHECK((e->binary.matching != NULL) == (e->binary.lhs->type == KM_PROMQL_TYPE_VECTOR &&
                                               e->binary.rhs->type == KM_PROMQL_TYPE_VECTOR));
        CHECK(!km_promql_binop_is_set(e->binary.op) || !e->binary.matching ||
              e->binary.matching->card == KM_PROMQL_CARD_MANY_TO_MANY);
        check_tree(e->binary.lhs, len);
        check_tree(e->binary.rhs, len);
        break;
    case KM_PROMQL_AGGREGATE:
        CHECK(e->type == KM_PROMQL_TYPE_VECTOR);
        CHECK((e->aggregate.param != NULL) == km_promql_aggop_has_param(e->aggregate.op));
        CHECK(e->aggregate.expr->type == KM_PROMQL_TYPE_VECTOR);
        if (e->aggregate.param)
            check_tree(e->aggregate.param, len);
        check_tree(e->aggregate.expr, len);
        break;
    case KM_PROMQL_CALL:
        CHECK(e->type == e->call.func->ret);
        CHECK(e->call.nargs >= e->call.func->min_args && e->call.nargs <= e->call.func->max_args);
        for (size_t i = 0; i < e->call.nargs; i++)
            check_tree(e->call.args[i], len);
        break;
    }
}

/* print(parse(text)) must parse again and print the same. Returns the print. */
static char *fixed_point(const struct km_promql_expr *e, bool formatted)
{
    struct km_promql_expr *again = NULL;
    struct km_promql_error err;
    struct km_buf a, b;
    int rc;

    km_buf_init(&a, 0);
    km_buf_init(&b, 0);
    CHECK((formatted ? km_promql_format(&a, e) : km_promql_print(&a, e)) == 0);
    rc = km_promql_parse(a.data, a.len, &again, &err);
    if (rc != 0)
        fprintf(stderr, "printed as %s\nwhich does not parse: %s\n", km_buf_cstr(&a), err.msg);
    CHECK(rc == 0);
    CHECK((formatted ? km_promql_format(&b, again) : km_promql_print(&b, again)) == 0);
    if (strcmp(km_buf_cstr(&a), km_buf_cstr(&b)) != 0)
        fprintf(stderr, "printed as %s\nthen as %s\n", km_buf_cstr(&a), km_buf_cstr(&b));
    CHECK(strcmp(km_buf_cstr(&a), km_buf_cstr(&b)) == 0);
    km_buf_reset(&b);
    /* Both layouts are the same tree. */
    CHECK(km_promql_print(&b, again) == 0);
    km_promql_expr_destroy(again);
    km_buf_fini(&a);
    return km_buf_detach(&b, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_copy(data, size), *flat, *formatted;
    struct km_promql_expr *e = NULL;
    struct km_promql_error err;
    unsigned line, col;
    char prefix[64];
    int rc;

    if (!text)
        return 0;
    rc = km_promql_parse(text, size, &e, &err);
    if (rc == 0) {
        check_tree(e, size);
        flat = fixed_point(e, false);
        formatted = fixed_point(e, true);
        CHECK(strcmp(flat, formatted) == 0);
        free(flat);
        free(formatted);
        km_promql_expr_destroy(e);
    } else {
        CHECK(rc == KM_EINVAL || rc == KM_ELIMIT);
        CHECK(e == NULL);
        CHECK(err.start <= size && err.end >= err.start);
        km_promql_linecol(text, size, err.start, &line, &col);
        CHECK(line == err.line && col == err.col);
        snprintf(prefix, sizeof(prefix), "%u:%u: parse error: ", line, col);
        CHECK(strncmp(err.msg, prefix, strlen(prefix)) == 0);
        CHECK(strlen(err.msg) > strlen(prefix));
        /* The thread's message is the same, cut to its own size. */
        CHECK(strncmp(km_err_msg(), err.msg, strlen(km_err_msg())) == 0);
    }
    free(text);
    return 0;
}
