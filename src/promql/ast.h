/*
 * ast — the PromQL syntax tree the parser builds and the evaluator walks.
 *
 * Every node is a struct km_promql_expr: a kind, the static type Prometheus gives it,
 * its byte range in the query text, and the kind's fields in an anonymous union (switch
 * on `kind`, read e->binary.lhs, e->call.func->id, …). The tree is plain data: nothing
 * in it changes after km_promql_parse() returned it, so threads may share it read-only.
 *
 * Ownership: a node owns everything it points to (children, strings, matchers, label
 * lists) except `call.func`, which points into the static function table. Constructors
 * take ownership of the children and strings they are given, also when they fail (they
 * then free them and return NULL), so a caller never has two cleanup paths.
 * km_promql_expr_destroy() frees a whole tree and accepts NULL.
 *
 * As in Prometheus:
 * - a vector selector's metric name is also its last matcher (`__name__` = name);
 * - a matrix selector is a vector selector (which holds the offset and @) and a range;
 * - `-1` is a number literal, not a unary minus on 1; `-(1)` and `-foo` are unary;
 * - parentheses the user wrote are kept (KM_PROMQL_PAREN), so printing keeps them;
 * - a binary expression has vector matching only when both sides are instant vectors
 *   (`binary.matching` is NULL otherwise); set operators are always many-to-many.
 */
#ifndef KMON_PROMQL_AST_H
#define KMON_PROMQL_AST_H

#include "promql/functions.h"
#include "storage/sample.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum km_promql_kind {
    KM_PROMQL_NUMBER,
    KM_PROMQL_STRING,
    KM_PROMQL_VECTOR_SELECTOR,
    KM_PROMQL_MATRIX_SELECTOR,
    KM_PROMQL_SUBQUERY,
    KM_PROMQL_PAREN,
    KM_PROMQL_UNARY,
    KM_PROMQL_BINARY,
    KM_PROMQL_AGGREGATE,
    KM_PROMQL_CALL,
};

/* Binary operators (ADD and SUB are also the unary ones), by precedence groups. */
enum km_promql_binop {
    KM_PROMQL_OP_POW,
    KM_PROMQL_OP_MUL,
    KM_PROMQL_OP_DIV,
    KM_PROMQL_OP_MOD,
    KM_PROMQL_OP_ATAN2,
    KM_PROMQL_OP_ADD,
    KM_PROMQL_OP_SUB,
    KM_PROMQL_OP_EQL, /* == */
    KM_PROMQL_OP_NEQ,
    KM_PROMQL_OP_LTE,
    KM_PROMQL_OP_LSS,
    KM_PROMQL_OP_GTE,
    KM_PROMQL_OP_GTR,
    KM_PROMQL_OP_AND,
    KM_PROMQL_OP_UNLESS,
    KM_PROMQL_OP_OR,
};

/* "+", "==", "and", "atan2", … */
const char *km_promql_binop_name(enum km_promql_binop op);
bool km_promql_binop_is_comparison(enum km_promql_binop op);
bool km_promql_binop_is_set(enum km_promql_binop op); /* and, or, unless */

enum km_promql_aggop {
    KM_PROMQL_AGG_SUM,
    KM_PROMQL_AGG_AVG,
    KM_PROMQL_AGG_COUNT,
    KM_PROMQL_AGG_MIN,
    KM_PROMQL_AGG_MAX,
    KM_PROMQL_AGG_GROUP,
    KM_PROMQL_AGG_STDDEV,
    KM_PROMQL_AGG_STDVAR,
    KM_PROMQL_AGG_TOPK,
    KM_PROMQL_AGG_BOTTOMK,
    KM_PROMQL_AGG_QUANTILE,
    KM_PROMQL_AGG_COUNT_VALUES,
};

/* "sum", "count_values", … */
const char *km_promql_aggop_name(enum km_promql_aggop op);
/* topk, bottomk, quantile and count_values take a parameter before the expression. */
bool km_promql_aggop_has_param(enum km_promql_aggop op);

enum km_promql_card {
    KM_PROMQL_CARD_ONE_TO_ONE,
    KM_PROMQL_CARD_MANY_TO_ONE, /* group_left */
    KM_PROMQL_CARD_ONE_TO_MANY, /* group_right */
    KM_PROMQL_CARD_MANY_TO_MANY /* and, or, unless */
};

/* The @ modifier. */
enum km_promql_at_kind {
    KM_PROMQL_AT_NONE,
    KM_PROMQL_AT_TIME, /* @ <ms> */
    KM_PROMQL_AT_START,
    KM_PROMQL_AT_END,
};

struct km_promql_at {
    enum km_promql_at_kind kind;
    int64_t ms; /* KM_PROMQL_AT_TIME: milliseconds since the epoch */
};

/* A list of label names (by/without, on/ignoring, group_left/right). */
struct km_promql_labels {
    char **names; /* owned, each NUL-terminated */
    size_t n, cap;
};

/* Append a copy of name[0..len). 0 or KM_ENOMEM. */
int km_promql_labels_add(struct km_promql_labels *l, const char *name, size_t len);
/* Free the names; the list is empty again. */
void km_promql_labels_fini(struct km_promql_labels *l);

/* How a binary expression between two instant vectors matches their elements. */
struct km_promql_matching {
    enum km_promql_card card;
    bool on;                         /* on (labels); else ignoring (labels) */
    struct km_promql_labels labels;  /* the on/ignoring list */
    struct km_promql_labels include; /* the group_left/group_right list */
};

struct km_promql_expr {
    enum km_promql_kind kind;
    enum km_promql_type type; /* as Prometheus types it at parse time */
    size_t start, end;        /* byte range in the query text */
    unsigned depth;           /* 1 for a leaf, else 1 + the deepest child's */
    union {
        struct {
            double value;
        } number;
        struct {
            char *value; /* NUL-terminated, but may hold NUL bytes: use len */
            size_t len;
        } string;
        struct {
            char *name; /* the metric name written before the braces, or NULL */
            struct km_matcher **matchers;
            size_t nmatchers, cap;
            int64_t offset_ms; /* offset 5m = 300000; negative for offset -5m */
            struct km_promql_at at;
        } vector;
        struct {
            struct km_promql_expr *vector; /* KM_PROMQL_VECTOR_SELECTOR: offset, @ */
            int64_t range_ms;
        } matrix;
        struct {
            struct km_promql_expr *expr;
            int64_t range_ms;
            int64_t step_ms; /* 0: the default (the evaluation interval) */
            int64_t offset_ms;
            struct km_promql_at at;
        } subquery;
        struct {
            struct km_promql_expr *expr;
        } paren;
        struct {
            enum km_promql_binop op; /* KM_PROMQL_OP_SUB or KM_PROMQL_OP_ADD */
            struct km_promql_expr *expr;
        } unary;
        struct {
            enum km_promql_binop op;
            bool return_bool;
            struct km_promql_expr *lhs, *rhs;
            struct km_promql_matching *matching; /* NULL unless both sides are vectors */
        } binary;
        struct {
            enum km_promql_aggop op;
            bool without;                     /* without (grouping); else by (grouping) */
            struct km_promql_labels grouping; /* empty: neither by nor without, or by () */
            struct km_promql_expr *param;     /* topk's k, quantile's φ, count_values' label */
            struct km_promql_expr *expr;
        } aggregate;
        struct {
            const struct km_promql_func *func;
            struct km_promql_expr **args;
            size_t nargs, cap;
        } call;
    };
};

/* Constructors: a new node with its type and depth set, positions 0 (the parser sets
 * them), or NULL (KM_ENOMEM in km_err_msg()) after freeing what they were given. */
struct km_promql_expr *km_promql_number_create(double value);
/* Takes value (malloc'd, len bytes plus a NUL). */
struct km_promql_expr *km_promql_string_create(char *value, size_t len);
/* Takes name (malloc'd, or NULL). */
struct km_promql_expr *km_promql_vector_create(char *name);
struct km_promql_expr *km_promql_matrix_create(struct km_promql_expr *vector, int64_t range_ms);
struct km_promql_expr *km_promql_subquery_create(struct km_promql_expr *expr, int64_t range_ms,
                                                 int64_t step_ms);
struct km_promql_expr *km_promql_paren_create(struct km_promql_expr *expr);
struct km_promql_expr *km_promql_unary_create(enum km_promql_binop op, struct km_promql_expr *expr);
/* Takes matching (or NULL). */
struct km_promql_expr *km_promql_binary_create(enum km_promql_binop op, bool return_bool,
                                               struct km_promql_expr *lhs,
                                               struct km_promql_expr *rhs,
                                               struct km_promql_matching *matching);
/* param is NULL for the operators without one. */
struct km_promql_expr *km_promql_aggregate_create(enum km_promql_aggop op,
                                                  struct km_promql_expr *param,
                                                  struct km_promql_expr *expr);
struct km_promql_expr *km_promql_call_create(const struct km_promql_func *func);

/* Append a matcher to a vector selector, or an argument to a call, taking it (also on
 * failure). 0 or KM_ENOMEM. */
int km_promql_vector_add_matcher(struct km_promql_expr *vs, struct km_matcher *m);
int km_promql_call_add_arg(struct km_promql_expr *call, struct km_promql_expr *arg);

/* A new, empty one-to-one matching, or NULL. Free with km_promql_matching_destroy(),
 * which accepts NULL. */
struct km_promql_matching *km_promql_matching_create(void);
void km_promql_matching_destroy(struct km_promql_matching *m);

/* Free a tree. Accepts NULL. */
void km_promql_expr_destroy(struct km_promql_expr *e);

/* The expression under any parentheses: (((x))) is x. */
const struct km_promql_expr *km_promql_unparen(const struct km_promql_expr *e);

#endif
