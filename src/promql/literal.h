/*
 * literal — PromQL's number and duration literals read and printed as Prometheus 2.42
 * does: numbers by Go's ParseInt (base prefix: 0x, and 0 for octal) then ParseFloat,
 * printed as Go's %v prints a float64; durations by Prometheus' model.ParseDuration
 * (y w d h m s ms, in that order) and its String(). Pure functions; thread-safe.
 */
#ifndef KMON_PROMQL_LITERAL_H
#define KMON_PROMQL_LITERAL_H

#include "common/buf.h"

#include <stddef.h>
#include <stdint.h>

/* Longest text km_promql_format_float() writes, with its NUL. */
#define KM_PROMQL_FLOAT_MAX 32

/* The value of a number token s[0..n) into *v. KM_EINVAL with Prometheus' message
 * appended to `msg` ("error parsing number: strconv.ParseFloat: parsing \"1e\": invalid
 * syntax") when Prometheus refuses it. */
int km_promql_number_parse(const char *s, size_t n, double *v, struct km_buf *msg);

/* v as Go's %v prints a float64 ("1e+06", "0.1", "+Inf", "NaN", "-0"); returns the
 * length written into out (NUL-terminated). */
size_t km_promql_format_float(char out[KM_PROMQL_FLOAT_MAX], double v);

/* The duration token s[0..n) in milliseconds into *ms (> 0). KM_EINVAL with
 * Prometheus' message appended to `msg` ("not a valid duration string: \"5m1h\"",
 * "duration out of range", "duration must be greater than 0"). */
int km_promql_duration_parse(const char *s, size_t n, int64_t *ms, struct km_buf *msg);
/* A duration of a configuration (model.ParseDuration: a rule's `for`, a group's
 * `interval`): the same, and zero ("0", "0s") allowed. */
int km_promql_config_duration_parse(const char *s, size_t n, int64_t *ms, struct km_buf *msg);

/* Append ms (>= 0) as Prometheus prints a duration: "1h30m", "2w", "90d", "0s". */
void km_promql_format_duration(struct km_buf *out, int64_t ms);

#endif
