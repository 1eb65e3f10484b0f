/*
 * gomath — Go's amd64 arithmetic and calendar where it differs from C (see gomath.h).
 *
 * The calendar follows Go's time package: seconds since 1970 are shifted to an unsigned
 * "absolute" count from year -292277022399 (wrapping as Go's int64 arithmetic wraps),
 * then split into 400-, 100- and 4-year cycles. Doing it the same way is what makes
 * year(vector(NaN)) 292277026596, as in Prometheus.
 */
#include "promql/gomath.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

int64_t km_go_int64(double x)
{
    if (isnan(x) || x >= 9223372036854775808.0 || x < -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)x;
}

double km_go_max(double x, double y)
{
    if (isinf(x) > 0 || isinf(y) > 0)
        return INFINITY;
    if (isnan(x) || isnan(y))
        return NAN;
    if (x == 0 && x == y)
        return signbit(x) ? y : x;
    return x > y ? x : y;
}

double km_go_min(double x, double y)
{
    if ((isinf(x) && x < 0) || (isinf(y) && y < 0))
        return -INFINITY;
    if (isnan(x) || isnan(y))
        return NAN;
    if (x == 0 && x == y)
        return signbit(x) ? x : y;
    return x < y ? x : y;
}

double km_go_log(double x)
{
    uint64_t bits;

    if (!(x > 0) || isinf(x) || fpclassify(x) != FP_SUBNORMAL)
        return log(x);
    /* The exponent field is 0: Go's assembly takes exponent -1022 and mantissa 0.5 + m,
     * without normalising first. */
    memcpy(&bits, &x, sizeof(bits));
    return log(0.5 + (double)(bits & 0x000FFFFFFFFFFFFFull) * 0x1p-53) - 1022 * M_LN2;
}

double km_go_log10(double x)
{
    return km_go_log(x) * (1 / M_LN10);
}

/* ---- calendar -------------------------------------------------------------------------- */

#define SECONDS_PER_DAY    86400ull
#define DAYS_PER_400_YEARS (365ull * 400 + 97)
#define DAYS_PER_100_YEARS (365ull * 100 + 24)
#define DAYS_PER_4_YEARS   (365ull * 4 + 1)
#define ABSOLUTE_ZERO_YEAR (-292277022399ll)
/* Seconds from the absolute zero to 1970-01-01 (unixToInternal + internalToAbsolute). */
#define UNIX_TO_ABSOLUTE 9223372028715321600ull

static const int days_before[] = { 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365 };

static bool is_leap(int64_t y)
{
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

/* Go's absDate: year, and with `full` month and day, of an absolute time. */
static void abs_date(uint64_t abs, bool full, int64_t *year, int *month, int *day, int *yday)
{
    uint64_t d = abs / SECONDS_PER_DAY, n, y;

    n = d / DAYS_PER_400_YEARS;
    y = 400 * n;
    d -= DAYS_PER_400_YEARS * n;
    n = d / DAYS_PER_100_YEARS;
    n -= n >> 2;
    y += 100 * n;
    d -= DAYS_PER_100_YEARS * n;
    n = d / DAYS_PER_4_YEARS;
    y += 4 * n;
    d -= DAYS_PER_4_YEARS * n;
    n = d / 365;
    n -= n >> 2;
    y += n;
    d -= 365 * n;
    *year = (int64_t)y + ABSOLUTE_ZERO_YEAR;
    *yday = (int)d;
    if (!full)
        return;
    *day = *yday;
    if (is_leap(*year)) {
        if (*day > 31 + 29 - 1) {
            (*day)--;
        } else if (*day == 31 + 29 - 1) {
            *month = 2;
            *day = 29;
            return;
        }
    }
    *month = *day / 31;
    if (*day >= days_before[*month + 1])
        (*month)++;
    *day = *day - days_before[*month] + 1;
    (*month)++;
}

/* Go's daysSinceEpoch: days from the absolute zero to January 1 of `year`. */
static uint64_t days_since_epoch(int64_t year)
{
    uint64_t y = (uint64_t)year - (uint64_t)ABSOLUTE_ZERO_YEAR, n, d;

    n = y / 400;
    y -= 400 * n;
    d = DAYS_PER_400_YEARS * n;
    n = y / 100;
    y -= 100 * n;
    d += DAYS_PER_100_YEARS * n;
    n = y / 4;
    y -= 4 * n;
    d += DAYS_PER_4_YEARS * n;
    return d + 365 * y;
}

void km_go_date(double seconds, struct km_go_date *d)
{
    uint64_t abs = (uint64_t)km_go_int64(seconds) + UNIX_TO_ABSOLUTE, next;
    int64_t y2;
    int m2, day2, yd2;

    abs_date(abs, true, &d->year, &d->month, &d->day, &d->yday);
    d->yday++;
    d->hour = (int)(abs % SECONDS_PER_DAY / 3600);
    d->minute = (int)(abs % 3600 / 60);
    d->weekday = (int)((abs + SECONDS_PER_DAY) % (7 * SECONDS_PER_DAY) / SECONDS_PER_DAY);
    /* Prometheus: 32 - time.Date(year, month, 32, 0, 0, 0, 0, UTC).Day(). */
    next = days_since_epoch(d->year) + (uint64_t)days_before[d->month - 1] +
           (is_leap(d->year) && d->month >= 3 ? 1 : 0) + 31;
    abs_date(next * SECONDS_PER_DAY, true, &y2, &m2, &day2, &yd2);
    d->days_in_month = 32 - day2;
}
