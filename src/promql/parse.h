/*
 * parse — PromQL text to a checked syntax tree (ast.h), accepting exactly what
 * Prometheus 2.42 accepts and refusing the rest with its message and position
 * ("1:14: parse error: unexpected <by> in aggregation"). Reentrant: parsers share nothing.
 */
#ifndef KMON_PROMQL_PARSE_H
#define KMON_PROMQL_PARSE_H

#include "promql/ast.h"

#include <stddef.h>

/* An error message longer than this is cut (only absurd inputs make one). */
#define KM_PROMQL_ERR_MAX 2048

struct km_promql_error {
    size_t start, end;           /* the byte range the error points at */
    unsigned line, col;          /* of start, from 1; the column in bytes, as Prometheus counts */
    char msg[KM_PROMQL_ERR_MAX]; /* "1:14: parse error: unexpected …" */
};

/* Parse text[0..len) (any bytes; no NUL needed after it) and type-check it as Prometheus
 * does. On success *out is a new tree (free it with km_promql_expr_destroy()). On
 * failure *out is untouched, `err` (if not NULL) and km_err_msg() hold the message, and
 * the result is KM_EINVAL (the query is not valid PromQL), KM_ELIMIT (valid perhaps, but
 * longer or deeper than kmon parses: KM_LIMIT_PROMQL_*) or KM_ENOMEM. */
int km_promql_parse(const char *text, size_t len, struct km_promql_expr **out,
                    struct km_promql_error *err);

/* Parse a series selector as Prometheus reads match[] ("up", "{job=~"api.*"}",
 * "up{job="x"}" and nothing more): a vector selector node on success, unchecked (an
 * all-empty selector is the caller's to refuse); errors and results as km_promql_parse(). */
int km_promql_parse_selector(const char *text, size_t len, struct km_promql_expr **out,
                             struct km_promql_error *err);

#endif
