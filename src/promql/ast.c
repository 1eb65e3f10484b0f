/*
 * ast — constructors and destruction of the PromQL syntax tree (see ast.h), and the
 * names of its operators.
 */
#include "promql/ast.h"

#include "common/array.h"
#include "common/err.h"

#include <stdlib.h>
#include <string.h>

static const char *const binop_names[] = {
    [KM_PROMQL_OP_POW] = "^",  [KM_PROMQL_OP_MUL] = "*",       [KM_PROMQL_OP_DIV] = "/",
    [KM_PROMQL_OP_MOD] = "%",  [KM_PROMQL_OP_ATAN2] = "atan2", [KM_PROMQL_OP_ADD] = "+",
    [KM_PROMQL_OP_SUB] = "-",  [KM_PROMQL_OP_EQL] = "==",      [KM_PROMQL_OP_NEQ] = "!=",
    [KM_PROMQL_OP_LTE] = "<=", [KM_PROMQL_OP_LSS] = "<",       [KM_PROMQL_OP_GTE] = ">=",
    [KM_PROMQL_OP_GTR] = ">",  [KM_PROMQL_OP_AND] = "and",     [KM_PROMQL_OP_UNLESS] = "unless",
    [KM_PROMQL_OP_OR] = "or",
};

static const char *const aggop_names[] = {
    [KM_PROMQL_AGG_SUM] = "sum",           [KM_PROMQL_AGG_AVG] = "avg",
    [KM_PROMQL_AGG_COUNT] = "count",       [KM_PROMQL_AGG_MIN] = "min",
    [KM_PROMQL_AGG_MAX] = "max",           [KM_PROMQL_AGG_GROUP] = "group",
    [KM_PROMQL_AGG_STDDEV] = "stddev",     [KM_PROMQL_AGG_STDVAR] = "stdvar",
    [KM_PROMQL_AGG_TOPK] = "topk",         [KM_PROMQL_AGG_BOTTOMK] = "bottomk",
    [KM_PROMQL_AGG_QUANTILE] = "quantile", [KM_PROMQL_AGG_COUNT_VALUES] = "count_values",
};

const char *km_promql_binop_name(enum km_promql_binop op)
{
    return (unsigned)op < sizeof(binop_names) / sizeof(binop_names[0]) ? binop_names[op] : "?";
}

bool km_promql_binop_is_comparison(enum km_promql_binop op)
{
    return op >= KM_PROMQL_OP_EQL && op <= KM_PROMQL_OP_GTR;
}

bool km_promql_binop_is_set(enum km_promql_binop op)
{
    return op == KM_PROMQL_OP_AND || op == KM_PROMQL_OP_OR || op == KM_PROMQL_OP_UNLESS;
}

const char *km_promql_aggop_name(enum km_promql_aggop op)
{
    return (unsigned)op < sizeof(aggop_names) / sizeof(aggop_names[0]) ? aggop_names[op] : "?";
}

bool km_promql_aggop_has_param(enum km_promql_aggop op)
{
    return op == KM_PROMQL_AGG_TOPK || op == KM_PROMQL_AGG_BOTTOMK ||
           op == KM_PROMQL_AGG_QUANTILE || op == KM_PROMQL_AGG_COUNT_VALUES;
}

int km_promql_labels_add(struct km_promql_labels *l, const char *name, size_t len)
{
    char *copy = strndup(name, len);

    if (!copy)
        return km_err_set(KM_ENOMEM, "out of memory for a label list");
    if (km_array_grow((void **)&l->names, &l->cap, l->n + 1, sizeof(*l->names), 4,
                      "for a label list")) {
        free(copy);
        return KM_ENOMEM;
    }
    l->names[l->n++] = copy;
    return 0;
}

void km_promql_labels_fini(struct km_promql_labels *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->names[i]);
    free(l->names);
    memset(l, 0, sizeof(*l));
}

static unsigned deeper(unsigned depth, const struct km_promql_expr *child)
{
    return child && child->depth + 1 > depth ? child->depth + 1 : depth;
}

static struct km_promql_expr *node_new(enum km_promql_kind kind, enum km_promql_type type)
{
    struct km_promql_expr *e = calloc(1, sizeof(*e));

    if (!e) {
        km_err_set(KM_ENOMEM, "out of memory for a PromQL expression");
        return NULL;
    }
    e->kind = kind;
    e->type = type;
    e->depth = 1;
    return e;
}

struct km_promql_expr *km_promql_number_create(double value)
{
    struct km_promql_expr *e = node_new(KM_PROMQL_NUMBER, KM_PROMQL_TYPE_SCALAR);

    if (e)
        e->number.value = value;
    return e;
}

struct km_promql_expr *km_promql_string_create(char *value, size_t len)
{
    struct km_promql_expr *e = node_new(KM_PROMQL_STRING, KM_PROMQL_TYPE_STRING);

    if (!e) {
        free(value);
        return NULL;
    }
    e->string.value = value;
    e->string.len = len;
    return e;
}

struct km_promql_expr *km_promql_vector_create(char *name)
{
    struct km_promql_expr *e = node_new(KM_PROMQL_VECTOR_SELECTOR, KM_PROMQL_TYPE_VECTOR);

    if (!e) {
        free(name);
        return NULL;
    }
    e->vector.name = name;
    return e;
}

struct km_promql_expr *km_promql_matrix_create(struct km_promql_expr *vector, int64_t range_ms)
{
    struct km_promql_expr *e = node_new(KM_PROMQL_MATRIX_SELECTOR, KM_PROMQL_TYPE_MATRIX);

    if (!e) {
        km_promql_expr_destroy(vector);
        return NULL;
    }
    e->matrix.vector = vector;
    e->matrix.range_ms = range_ms;
    e->depth = deeper(e->depth, vector);
    return e;
}

struct km_promql_expr *km_promql_subquery_create(struct km_promql_expr *expr, int64_t range_ms,
                                                 int64_t step_ms)
{
    struct km_promql_expr *e = node_new(KM_PROMQL_SUBQUERY, KM_PROMQL_TYPE_MATRIX);

    if (!e) {
        km_promql_expr_destroy(expr);
        return NULL;
    }
    e->subquery.expr = expr;
    e->subquery.range_ms = range_ms;
    e->subquery.step_ms = step_ms;
    e->depth = deeper(e->depth, expr);
    return e;
}

struct km_promql_expr *km_promql_paren_create(struct km_promql_expr *expr)
{
    struct km_promql_expr *e = node_new(KM_PROMQL_PAREN, expr ? expr->type : KM_PROMQL_TYPE_NONE);

    if (!e) {
        km_promql_expr_destroy(expr);
        return NULL;
    }
    e->paren.expr = expr;
    e->depth = deeper(e->depth, expr);
    return e;
}

struct km_promql_expr *km_promql_unary_create(enum km_promql_binop op, struct km_promql_expr *expr)
{
    struct km_promql_expr *e = node_new(KM_PROMQL_UNARY, expr ? expr->type : KM_PROMQL_TYPE_NONE);

    if (!e) {
        km_promql_expr_destroy(expr);
        return NULL;
    }
    e->unary.op = op;
    e->unary.expr = expr;
    e->depth = deeper(e->depth, expr);
    return e;
}

struct km_promql_expr *km_promql_binary_create(enum km_promql_binop op, bool return_bool,
                                               struct km_promql_expr *lhs,
                                               struct km_promql_expr *rhs,
                                               struct km_promql_matching *matching)
{
    bool scalar =
        lhs && rhs && lhs->type == KM_PROMQL_TYPE_SCALAR && rhs->type == KM_PROMQL_TYPE_SCALAR;
    struct km_promql_expr *e =
        node_new(KM_PROMQL_BINARY, scalar ? KM_PROMQL_TYPE_SCALAR : KM_PROMQL_TYPE_VECTOR);

    if (!e) {
        km_promql_expr_destroy(lhs);
        km_promql_expr_destroy(rhs);
        km_promql_matching_destroy(matching);
        return NULL;
    }
    e->binary.op = op;
    e->binary.return_bool = return_bool;
    e->binary.lhs = lhs;
    e->binary.rhs = rhs;
    e->binary.matching = matching;
    e->depth = deeper(deeper(e->depth, lhs), rhs);
    return e;
}

struct km_promql_expr *km_promql_aggregate_create(enum km_promql_aggop op,
                                                  struct km_promql_expr *param,
                                                  struct km_promql_expr *expr)
{
    struct km_promql_expr *e = node_new(KM_PROMQL_AGGREGATE, KM_PROMQL_TYPE_VECTOR);

    if (!e) {
        km_promql_expr_destroy(param);
        km_promql_expr_destroy(expr);
        return NULL;
    }
    e->aggregate.op = op;
    e->aggregate.param = param;
    e->aggregate.expr = expr;
    e->depth = deeper(deeper(e->depth, param), expr);
    return e;
}

struct km_promql_expr *km_promql_call_create(const struct km_promql_func *func)
{
    struct km_promql_expr *e = node_new(KM_PROMQL_CALL, func->ret);

    if (e)
        e->call.func = func;
    return e;
}

int km_promql_vector_add_matcher(struct km_promql_expr *vs, struct km_matcher *m)
{
    if (km_array_grow((void **)&vs->vector.matchers, &vs->vector.cap, vs->vector.nmatchers + 1,
                      sizeof(*vs->vector.matchers), 4, "for label matchers")) {
        km_matcher_destroy(m);
        return KM_ENOMEM;
    }
    vs->vector.matchers[vs->vector.nmatchers++] = m;
    return 0;
}

int km_promql_call_add_arg(struct km_promql_expr *call, struct km_promql_expr *arg)
{
    if (km_array_grow((void **)&call->call.args, &call->call.cap, call->call.nargs + 1,
                      sizeof(*call->call.args), 4, "for function arguments")) {
        km_promql_expr_destroy(arg);
        return KM_ENOMEM;
    }
    call->call.args[call->call.nargs++] = arg;
    call->depth = deeper(call->depth, arg);
    return 0;
}

struct km_promql_matching *km_promql_matching_create(void)
{
    struct km_promql_matching *m = calloc(1, sizeof(*m));

    if (!m)
        km_err_set(KM_ENOMEM, "out of memory for vector matching");
    return m;
}

void km_promql_matching_destroy(struct km_promql_matching *m)
{
    if (!m)
        return;
    km_promql_labels_fini(&m->labels);
    km_promql_labels_fini(&m->include);
    free(m);
}

void km_promql_expr_destroy(struct km_promql_expr *e)
{
    if (!e)
        return;
    switch (e->kind) {
    case KM_PROMQL_NUMBER:
        break;
    case KM_PROMQL_STRING:
        free(e->string.value);
        break;
    case KM_PROMQL_VECTOR_SELECTOR:
        free(e->vector.name);
        for (size_t i = 0; i < e->vector.nmatchers; i++)
            km_matcher_destroy(e->vector.matchers[i]);
        free(e->vector.matchers);
        break;
    case KM_PROMQL_MATRIX_SELECTOR:
        km_promql_expr_destroy(e->matrix.vector);
        break;
    case KM_PROMQL_SUBQUERY:
        km_promql_expr_destroy(e->subquery.expr);
        break;
    case KM_PROMQL_PAREN:
        km_promql_expr_destroy(e->paren.expr);
        break;
    case KM_PROMQL_UNARY:
        km_promql_expr_destroy(e->unary.expr);
        break;
    case KM_PROMQL_BINARY:
        km_promql_expr_destroy(e->binary.lhs);
        km_promql_expr_destroy(e->binary.rhs);
        km_promql_matching_destroy(e->binary.matching);
        break;
    case KM_PROMQL_AGGREGATE:
        km_promql_labels_fini(&e->aggregate.grouping);
        km_promql_expr_destroy(e->aggregate.param);
        km_promql_expr_destroy(e->aggregate.expr);
        break;
    case KM_PROMQL_CALL:
        for (size_t i = 0; i < e->call.nargs; i++)
            km_promql_expr_destroy(e->call.args[i]);
        free(e->call.args);
        break;
    }
    free(e);
}

const struct km_promql_expr *km_promql_unparen(const struct km_promql_expr *e)
{
    while (e && e->kind == KM_PROMQL_PAREN)
        e = e->paren.expr;
    return e;
}
