/*
 * check — the type checks Prometheus makes once a query has parsed (see
 * parse_internal.h), in the order Prometheus makes them, so that a query with several
 * faults gets the same (first) message: children before their parent, except that an
 * aggregation checks its expression before its parameter.
 *
 * Two checks point at the operator of a binary expression rather than at its start:
 * Prometheus finds it as the first non-space byte after the left operand.
 */
#include "promql/ast.h"
#include "promql/parse_internal.h"
#include "promql/quote.h"

#include "common/buf.h"
#include "common/err.h"

#include <stdio.h>
#include <string.h>

static enum km_promql_type check(struct km_promql_expr *e, struct km_promql_diag *d);

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Where the operator of binary expression e starts. */
static size_t operator_pos(const struct km_promql_expr *e, const struct km_promql_diag *d)
{
    size_t pos = e->binary.lhs->end;

    while (pos < d->len && is_space(d->text[pos]))
        pos++;
    return pos;
}

/* The type of e (checked) must be `want`; `context` says where ("aggregation
 * parameter", "call to function \"rate\""). */
static void expect_type(struct km_promql_expr *e, enum km_promql_type want, const char *context,
                        struct km_promql_diag *d)
{
    enum km_promql_type got = check(e, d);

    if (got != want && !d->rc)
        km_promql_diag_setf(d, KM_EINVAL, e->start, e->end, "expected type %s in %s, got %s",
                            km_promql_type_name(want), context, km_promql_type_name(got));
}

static void check_aggregate(struct km_promql_expr *e, struct km_promql_diag *d)
{
    enum km_promql_aggop op = e->aggregate.op;

    expect_type(e->aggregate.expr, KM_PROMQL_TYPE_VECTOR, "aggregation expression", d);
    if (op == KM_PROMQL_AGG_TOPK || op == KM_PROMQL_AGG_BOTTOMK || op == KM_PROMQL_AGG_QUANTILE)
        expect_type(e->aggregate.param, KM_PROMQL_TYPE_SCALAR, "aggregation parameter", d);
    if (op == KM_PROMQL_AGG_COUNT_VALUES)
        expect_type(e->aggregate.param, KM_PROMQL_TYPE_STRING, "aggregation parameter", d);
}

static bool instant(enum km_promql_type t)
{
    return t == KM_PROMQL_TYPE_SCALAR || t == KM_PROMQL_TYPE_VECTOR;
}

static void check_binary(struct km_promql_expr *e, struct km_promql_diag *d)
{
    enum km_promql_binop op = e->binary.op;
    struct km_promql_matching *m = e->binary.matching;
    enum km_promql_type lt = check(e->binary.lhs, d), rt = check(e->binary.rhs, d);

    if (d->rc)
        return;
    if (e->binary.return_bool && !km_promql_binop_is_comparison(op))
        km_promql_diag_set(d, KM_EINVAL, operator_pos(e, d), e->end,
                           "bool modifier can only be used on comparison operators");
    if (km_promql_binop_is_comparison(op) && !e->binary.return_bool &&
        lt == KM_PROMQL_TYPE_SCALAR && rt == KM_PROMQL_TYPE_SCALAR)
        km_promql_diag_set(d, KM_EINVAL, operator_pos(e, d), e->end,
                           "comparisons between scalars must use BOOL modifier");
    if (km_promql_binop_is_set(op) && m && m->card == KM_PROMQL_CARD_ONE_TO_ONE)
        m->card = KM_PROMQL_CARD_MANY_TO_MANY;
    for (size_t i = 0; m && m->on && i < m->labels.n; i++) {
        for (size_t j = 0; j < m->include.n; j++) {
            if (strcmp(m->labels.names[i], m->include.names[j]) == 0)
                km_promql_diag_setf(d, KM_EINVAL, operator_pos(e, d), e->end,
                                    "label \"%s\" must not occur in ON and GROUP clause at once",
                                    m->labels.names[i]);
        }
    }
    if (!instant(lt))
        km_promql_diag_set(d, KM_EINVAL, e->binary.lhs->start, e->binary.lhs->end,
                           "binary expression must contain only scalar and instant vector types");
    if (!instant(rt))
        km_promql_diag_set(d, KM_EINVAL, e->binary.rhs->start, e->binary.rhs->end,
                           "binary expression must contain only scalar and instant vector types");
    if ((lt != KM_PROMQL_TYPE_VECTOR || rt != KM_PROMQL_TYPE_VECTOR) && m) {
        if (m->labels.n > 0)
            km_promql_diag_set(d, KM_EINVAL, e->start, e->end,
                               "vector matching only allowed between instant vectors");
        km_promql_matching_destroy(m);
        e->binary.matching = NULL;
    } else if (km_promql_binop_is_set(op) && m) {
        if (m->card == KM_PROMQL_CARD_ONE_TO_MANY || m->card == KM_PROMQL_CARD_MANY_TO_ONE)
            km_promql_diag_setf(d, KM_EINVAL, e->start, e->end,
                                "no grouping allowed for \"%s\" operation",
                                km_promql_binop_name(op));
        if (m->card != KM_PROMQL_CARD_MANY_TO_MANY)
            km_promql_diag_set(d, KM_EINVAL, e->start, e->end,
                               "set operations must always be many-to-many");
    }
    if ((lt == KM_PROMQL_TYPE_SCALAR || rt == KM_PROMQL_TYPE_SCALAR) && km_promql_binop_is_set(op))
        km_promql_diag_setf(d, KM_EINVAL, e->start, e->end,
                            "set operator \"%s\" not allowed in binary scalar expression",
                            km_promql_binop_name(op));
}

static void check_call(struct km_promql_expr *e, struct km_promql_diag *d)
{
    const struct km_promql_func *f = e->call.func;
    size_t n = e->call.nargs;
    char context[64];

    if (f->variadic == 0) {
        if (n != f->nargs)
            km_promql_diag_setf(d, KM_EINVAL, e->start, e->end,
                                "expected %zu argument(s) in call to \"%s\", got %zu", f->nargs,
                                f->name, n);
    } else if (n < f->min_args) {
        km_promql_diag_setf(d, KM_EINVAL, e->start, e->end,
                            "expected at least %zu argument(s) in call to \"%s\", got %zu",
                            f->min_args, f->name, n);
    } else if (f->variadic > 0 && n > f->max_args) {
        km_promql_diag_setf(d, KM_EINVAL, e->start, e->end,
                            "expected at most %zu argument(s) in call to \"%s\", got %zu",
                            f->max_args, f->name, n);
    }
    snprintf(context, sizeof(context), "call to function \"%s\"", f->name);
    for (size_t i = 0; i < n && !d->rc; i++) {
        size_t k = i;

        if (k >= f->nargs) {
            if (f->variadic == 0)
                break; /* their count is wrong already */
            k = f->nargs - 1;
        }
        expect_type(e->call.args[i], f->arg_types[k], context, d);
    }
}

static void check_vector(struct km_promql_expr *e, struct km_promql_diag *d)
{
    if (e->vector.name) {
        /* The last matcher is the name's own. */
        for (size_t i = 0; i + 1 < e->vector.nmatchers; i++) {
            const struct km_matcher *m = e->vector.matchers[i];
            struct km_buf msg;

            if (strcmp(m->name, "__name__") != 0)
                continue;
            km_buf_init(&msg, 0);
            km_buf_puts(&msg, "metric name must not be set twice: ");
            km_promql_quote(&msg, e->vector.name, strlen(e->vector.name));
            km_buf_puts(&msg, " or ");
            km_promql_quote(&msg, m->value, strlen(m->value));
            if (km_buf_error(&msg))
                km_promql_diag_set(d, KM_ENOMEM, e->start, e->end, "out of memory");
            else
                km_promql_diag_set(d, KM_EINVAL, e->start, e->end, km_buf_cstr(&msg));
            km_buf_fini(&msg);
        }
        return;
    }
    for (size_t i = 0; i < e->vector.nmatchers; i++) {
        if (!e->vector.matchers[i]->matches_empty)
            return;
    }
    km_promql_diag_set(d, KM_EINVAL, e->start, e->end,
                       "vector selector must contain at least one non-empty matcher");
}

static enum km_promql_type check(struct km_promql_expr *e, struct km_promql_diag *d)
{
    enum km_promql_type t;

    if (d->rc)
        return e->type;
    switch (e->kind) {
    case KM_PROMQL_AGGREGATE:
        check_aggregate(e, d);
        break;
    case KM_PROMQL_BINARY:
        check_binary(e, d);
        break;
    case KM_PROMQL_CALL:
        check_call(e, d);
        break;
    case KM_PROMQL_PAREN:
        check(e->paren.expr, d);
        break;
    case KM_PROMQL_UNARY:
        t = check(e->unary.expr, d);
        if (!instant(t))
            km_promql_diag_setf(d, KM_EINVAL, e->start, e->end,
                                "unary expression only allowed on expressions of type scalar or "
                                "instant vector, got \"%s\"",
                                km_promql_type_name(t));
        break;
    case KM_PROMQL_SUBQUERY:
        t = check(e->subquery.expr, d);
        if (t != KM_PROMQL_TYPE_VECTOR)
            km_promql_diag_setf(d, KM_EINVAL, e->start, e->end,
                                "subquery is only allowed on instant vector, got %s instead",
                                km_promql_type_short_name(t));
        break;
    case KM_PROMQL_MATRIX_SELECTOR:
        check(e->matrix.vector, d);
        break;
    case KM_PROMQL_VECTOR_SELECTOR:
        check_vector(e, d);
        break;
    case KM_PROMQL_NUMBER:
    case KM_PROMQL_STRING:
        break;
    }
    return e->type;
}

int km_promql_check(struct km_promql_expr *root, struct km_promql_diag *d)
{
    if (root)
        check(root, d);
    return d->rc;
}
