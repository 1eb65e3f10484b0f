/*
 * parse_internal — what the parser (parse.c) shares with its type checker (check.c):
 * where the first error goes. Like Prometheus, kmon reports only the first error a query
 * has, in the order Prometheus finds them; once one is set, later ones are dropped.
 */
#ifndef KMON_PROMQL_PARSE_INTERNAL_H
#define KMON_PROMQL_PARSE_INTERNAL_H

#include "promql/parse.h"

#include <stddef.h>

struct km_promql_diag {
    const char *text;
    size_t len;
    int rc; /* 0 until the first error */
    struct km_promql_error err;
};

/* Record an error at text[start..end) unless one is recorded already: the message is
 * "<line>:<col>: parse error: <msg>". Returns d->rc (the first error's code). */
int km_promql_diag_set(struct km_promql_diag *d, int rc, size_t start, size_t end, const char *msg);
int km_promql_diag_setf(struct km_promql_diag *d, int rc, size_t start, size_t end, const char *fmt,
                        ...) __attribute__((format(printf, 5, 6)));

/* Type-check a parsed tree as Prometheus does after parsing (check.c), completing what
 * only the types decide: vector matching is dropped when a side is not a vector, and
 * set operators become many-to-many. Returns d->rc. */
int km_promql_check(struct km_promql_expr *root, struct km_promql_diag *d);

#endif
