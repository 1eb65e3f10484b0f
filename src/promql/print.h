/*
 * print — a PromQL syntax tree back to text, exactly as Prometheus 2.42 prints it: on
 * one line (its String(), used in messages) or formatted the way /api/v1/format_query
 * answers (lines longer than 100 bytes split and indented). Printing what was parsed and
 * parsing it again gives the same tree, so both are fixed points. Reentrant.
 */
#ifndef KMON_PROMQL_PRINT_H
#define KMON_PROMQL_PRINT_H

#include "common/buf.h"
#include "promql/ast.h"

/* Append e on one line: `sum by (job) (rate(http_requests_total{code="500"}[5m]))`.
 * Returns 0 or the buffer's error (KM_ENOMEM, KM_ELIMIT). */
int km_promql_print(struct km_buf *out, const struct km_promql_expr *e);

/* Append e as format_query prints it. Returns 0, KM_ENOMEM or the buffer's error. */
int km_promql_format(struct km_buf *out, const struct km_promql_expr *e);

/* Append a duration as PromQL prints one ("1h30m", "2w", "0s"); negative with a '-'. */
void km_promql_print_duration(struct km_buf *out, int64_t ms);

#endif
