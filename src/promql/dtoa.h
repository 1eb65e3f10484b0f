/*
 * dtoa — the shortest decimal digits that read back as the same double, the digits Go's
 * strconv (and so Prometheus) prints: "0.1", not "0.10000000000000001".
 */
#ifndef KMON_PROMQL_DTOA_H
#define KMON_PROMQL_DTOA_H

/* The shortest digits of finite, non-zero |v| (no leading or trailing zeros; of equally
 * short ones the closest to v) and the exponent of the first: |v| ≈ d.ddd × 10^exp10.
 * Returns the number of digits (1..17); digits is NUL-terminated. */
int km_pq_shortest(double v, char digits[24], int *exp10);

/* Longest text km_pq_format_exp() writes, with its NUL. */
#define KM_PQ_EXP_MAX 40

/* v as Go's strconv.FormatFloat(v, e, -1, 64) prints it, e being 'e' or 'E': the shortest
 * digits, at least two exponent digits ("1.5e+00", "-2E-07", "0e+00"), and "NaN",
 * "+Inf", "-Inf". Returns out. */
char *km_pq_format_exp(char out[KM_PQ_EXP_MAX], double v, char e);

#endif
