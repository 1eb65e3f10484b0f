/*
 * promql_gen — a small grammar-driven generator of well-formed PromQL for
 * fuzz_promql_eval: the fuzzer's bytes choose, node by node, what to write (a selector
 * of the dataset's metrics with matchers, offset and @; every function of functions.h
 * with arguments of the types it takes; aggregations with by/without and parameters;
 * binary operators with bool, on/ignoring and group_left/right; unary minus;
 * subqueries; number and string literals; nesting). Every choice reads one byte; when
 * the bytes run out every choice is the first one, which always leads to a leaf, so
 * the expression ends. Pure: the same bytes give the same text.
 */
#ifndef KMON_TESTS_FUZZ_PROMQL_GEN_H
#define KMON_TESTS_FUZZ_PROMQL_GEN_H

#include "common/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The bytes the choices are read from. */
struct fz_bytes {
    const uint8_t *p;
    size_t n;
};

/* The next byte (0 once they are used up). */
uint8_t fz_byte(struct fz_bytes *in);

/* Append a query to `out`. 0 or KM_ENOMEM. */
int fz_gen_query(struct fz_bytes *in, struct km_buf *out);

#endif
