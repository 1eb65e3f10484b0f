/*
 * gomath — the arithmetic Prometheus inherits from Go on amd64, where it differs from C:
 * float to int64 conversion, Max/Min and their NaN rules, Log on subnormals, and the
 * calendar of time.Unix(sec, 0).UTC() (which answers even for NaN or 1e300 seconds).
 * Queries that meet these edges answer exactly as Prometheus does.
 */
#ifndef KMON_PROMQL_GOMATH_H
#define KMON_PROMQL_GOMATH_H

#include <stdint.h>

/* int64(x): truncation, and out of range or NaN is the minimum (CVTTSD2SQ). */
int64_t km_go_int64(double x);

/* math.Max / math.Min: +Inf (Max) or -Inf (Min) wins over NaN, NaN over numbers, and
 * Max(-0, 0) is 0, Min(-0, 0) is -0. */
double km_go_max(double x, double y);
double km_go_min(double x, double y);

/* math.Log: as C's, except that subnormals read as Go's assembly reads them (exponent
 * field 0 taken as -1022 with a 0.5 mantissa). math.Log10 is Log(x) * (1/Ln10). */
double km_go_log(double x);
double km_go_log10(double x);

/* The fields of time.Unix(int64(seconds), 0).UTC() as Go 1.19 computes them. */
struct km_go_date {
    int64_t year;
    int month;   /* 1..12 */
    int day;     /* 1..31 */
    int yday;    /* 1..366 */
    int hour;    /* 0..23 */
    int minute;  /* 0..59 */
    int weekday; /* 0 (Sunday)..6 */
    int days_in_month;
};

void km_go_date(double seconds, struct km_go_date *d);

#endif
