/*
 * binop — PromQL's binary operators at every step: arithmetic (+ - * / % ^ atan2),
 * comparisons (== != > < >= <=, filtering or with `bool`), and the set operators
 * (and, or, unless), between scalars, a vector and a scalar, or two vectors matched
 * one-to-one, many-to-one (group_left) or one-to-many (group_right) on or ignoring
 * labels — with Prometheus' rules for the result's labels and its error messages.
 */
#ifndef KMON_PROMQL_BINOP_H
#define KMON_PROMQL_BINOP_H

#include "promql/value.h"

#include <stdbool.h>
#include <stddef.h>

enum km_pq_binop {
    KM_PQ_ADD,
    KM_PQ_SUB,
    KM_PQ_MUL,
    KM_PQ_DIV,
    KM_PQ_MOD,
    KM_PQ_POW,
    KM_PQ_ATAN2,
    KM_PQ_EQL,
    KM_PQ_NEQ,
    KM_PQ_GTR,
    KM_PQ_LSS,
    KM_PQ_GTE,
    KM_PQ_LTE,
    KM_PQ_AND,
    KM_PQ_OR,
    KM_PQ_UNLESS,
};

enum km_pq_card {
    KM_PQ_ONE_TO_ONE,
    KM_PQ_MANY_TO_ONE,  /* group_left */
    KM_PQ_ONE_TO_MANY,  /* group_right */
    KM_PQ_MANY_TO_MANY, /* the set operators */
};

struct km_pq_matching {
    enum km_pq_card card;
    bool on; /* on (labels) rather than ignoring (labels) */
    const char *const *labels;
    size_t nlabels;
    const char *const *include; /* group_x (labels) */
    size_t ninclude;
};

bool km_pq_binop_is_comparison(enum km_pq_binop op);

/* lhs op rhs for two numbers: the value and whether a comparison holds (always true
 * for arithmetic). */
double km_pq_binop_apply(enum km_pq_binop op, double lhs, double rhs, bool *keep);

/* vector op scalar (or scalar op vector with `scalar_left`): a new vector in `out`. The
 * answer takes the labels of v's series that keep them as they are (v's are then NULL:
 * v is only for km_pq_vec_fini() afterwards). */
int km_pq_binop_vector_scalar(enum km_pq_binop op, bool return_bool, struct km_pq_vec *v,
                              const double *scalar, bool scalar_left, struct km_pq_budget *b,
                              struct km_pq_vec *out);

/* lhs op rhs between two vectors with the given matching: a new vector in `out`. */
int km_pq_binop_vectors(enum km_pq_binop op, bool return_bool, const struct km_pq_matching *m,
                        const struct km_pq_vec *lhs, const struct km_pq_vec *rhs,
                        struct km_pq_budget *b, struct km_pq_vec *out);

/* Whether at every step v has a series whose matching signature under m is the one a
 * series without labels has: then `v or <anything without labels>` is v. */
bool km_pq_binop_covers_unlabelled(const struct km_pq_matching *m, const struct km_pq_vec *v);

#endif
