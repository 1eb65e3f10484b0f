/*
 * literal — number and duration literals (see literal.h).
 *
 * Numbers: Prometheus tries Go's strconv.ParseInt(s, 0, 64) first (so "010" is octal 8
 * and "0x1f" hexadecimal) and falls back to ParseFloat(s, 64) (decimal, exponents, "Inf",
 * "NaN"; an overflow to infinity is an error, an underflow to 0 is not). Printing is
 * Go's shortest round-trip digits in %g form with the exponent threshold %v uses (below
 * 1e-4 or from 1e6 on), exponents of at least two digits.
 *
 * Durations: an unsigned count per unit in the fixed order y w d h m s ms, each at most
 * once; Prometheus computes in nanoseconds and refuses what overflows int64 there.
 */
#include "promql/literal.h"

#include "common/err.h"
#include "promql/quote.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Go's ParseInt(s, 0, 64) for the unsigned text a number token holds: 0 on success,
 * -1 when it is not an integer there (syntax or range). */
static int parse_int_base0(const char *s, size_t n, int64_t *out)
{
    unsigned base = 10;
    uint64_t v = 0;

    if (n == 0)
        return -1;
    if (s[0] == '0') {
        if (n >= 3 && (s[1] == 'x' || s[1] == 'X')) {
            base = 16;
            s += 2;
            n -= 2;
        } else if (n >= 3 && (s[1] == 'b' || s[1] == 'B')) {
            base = 2;
            s += 2;
            n -= 2;
        } else if (n >= 3 && (s[1] == 'o' || s[1] == 'O')) {
            base = 8;
            s += 2;
            n -= 2;
        } else {
            base = 8;
            s += 1;
            n -= 1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        unsigned d;

        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'z')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'Z')
            d = (unsigned)(c - 'A' + 10);
        else
            return -1; /* '_' never reaches here: the lexer does not take it */
        if (d >= base)
            return -1;
        if (v > (UINT64_MAX - d) / base)
            return -1;
        v = v * base + d;
    }
    if (v > (uint64_t)INT64_MAX)
        return -1;
    *out = (int64_t)v;
    return 0;
}

/* Go's ParseFloat(s, 64) for a number token: 0, or -1 (syntax) / -2 (out of range). */
static int parse_float(const char *s, size_t n, double *out)
{
    char tmp[512], *copy = tmp, *end;
    size_t i = 0, mant = 0;
    double v;

    if (n == 3 && strncasecmp(s, "inf", 3) == 0) {
        *out = INFINITY;
        return 0;
    }
    if (n == 8 && strncasecmp(s, "infinity", 8) == 0) {
        *out = INFINITY;
        return 0;
    }
    if (n == 3 && strncasecmp(s, "nan", 3) == 0) {
        *out = NAN;
        return 0;
    }
    /* Decimal only: a hexadecimal float needs a 'p' exponent no token can hold. */
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, mant++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, mant++;
    }
    if (mant == 0)
        return -1;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t exp_digits = 0;

        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, exp_digits++;
        if (exp_digits == 0)
            return -1;
    }
    if (i != n)
        return -1;
    if (n >= sizeof(tmp)) {
        copy = malloc(n + 1);
        if (!copy)
            return -1;
    }
    memcpy(copy, s, n);
    copy[n] = '\0';
    errno = 0;
    v = strtod(copy, &end);
    if (copy != tmp)
        free(copy);
    if (isinf(v))
        return -2;
    *out = v;
    return 0;
}

int km_promql_number_parse(const char *s, size_t n, double *v, struct km_buf *msg)
{
    int64_t i;
    int rc;

    if (parse_int_base0(s, n, &i) == 0) {
        *v = (double)i;
        return 0;
    }
    rc = parse_float(s, n, v);
    if (rc == 0)
        return 0;
    km_buf_puts(msg, "error parsing number: strconv.ParseFloat: parsing ");
    km_promql_quote(msg, s, n);
    km_buf_puts(msg, rc == -2 ? ": value out of range" : ": invalid syntax");
    return KM_EINVAL;
}

size_t km_promql_format_float(char out[KM_PROMQL_FLOAT_MAX], double v)
{
    char e[40], digits[24];
    size_t nd = 0, n = 0;
    int exp10, dp;
    bool neg = signbit(v);

    if (isnan(v))
        return (size_t)snprintf(out, KM_PROMQL_FLOAT_MAX, "NaN");
    if (isinf(v))
        return (size_t)snprintf(out, KM_PROMQL_FLOAT_MAX, "%s", neg ? "-Inf" : "+Inf");
    if (v == 0)
        return (size_t)snprintf(out, KM_PROMQL_FLOAT_MAX, "%s", neg ? "-0" : "0");
    /* The shortest digits that read back as v ("%.Ne" rounds to the nearest). */
    for (int prec = 0; prec < 17; prec++) {
        snprintf(e, sizeof(e), "%.*e", prec, fabs(v));
        if (strtod(e, NULL) == fabs(v))
            break;
    }
    for (const char *p = e; *p && *p != 'e'; p++) {
        if (*p != '.')
            digits[nd++] = *p;
    }
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    exp10 = atoi(strchr(e, 'e') + 1);
    if (neg)
        out[n++] = '-';
    if (exp10 < -4 || exp10 >= 6) {
        out[n++] = digits[0];
        if (nd > 1) {
            out[n++] = '.';
            memcpy(out + n, digits + 1, nd - 1);
            n += nd - 1;
        }
        n += (size_t)snprintf(out + n, KM_PROMQL_FLOAT_MAX - n, "e%c%02d", exp10 < 0 ? '-' : '+',
                              exp10 < 0 ? -exp10 : exp10);
        return n;
    }
    dp = exp10 + 1; /* digits before the decimal point */
    if (dp <= 0) {
        out[n++] = '0';
        out[n++] = '.';
        for (int z = 0; z < -dp; z++)
            out[n++] = '0';
        memcpy(out + n, digits, nd);
        n += nd;
    } else {
        for (int k = 0; k < dp; k++)
            out[n++] = (size_t)k < nd ? digits[k] : '0';
        if (nd > (size_t)dp) {
            out[n++] = '.';
            memcpy(out + n, digits + dp, nd - (size_t)dp);
            n += nd - (size_t)dp;
        }
    }
    out[n] = '\0';
    return n;
}

struct duration_unit {
    const char *name;
    int64_t ms;
};

/* In the only order a duration may use them. */
static const struct duration_unit units[] = {
    { "y", 1000LL * 60 * 60 * 24 * 365 },
    { "w", 1000LL * 60 * 60 * 24 * 7 },
    { "d", 1000LL * 60 * 60 * 24 },
    { "h", 1000LL * 60 * 60 },
    { "m", 1000LL * 60 },
    { "s", 1000 },
    { "ms", 1 },
};
#define NUNITS (sizeof(units) / sizeof(units[0]))

/* The unit spelled at s[0..n): its index and length, or -1. */
static int unit_at(const char *s, size_t n, size_t *len)
{
    if (n >= 2 && s[0] == 'm' && s[1] == 's') {
        *len = 2;
        return (int)NUNITS - 1;
    }
    for (size_t u = 0; n >= 1 && u < NUNITS - 1; u++) {
        if (s[0] == units[u].name[0]) {
            *len = 1;
            return (int)u;
        }
    }
    return -1;
}

static int parse_duration(const char *s, size_t n, bool zero_ok, int64_t *ms, struct km_buf *msg)
{
    const int64_t ns_per_ms = 1000000;
    int64_t total_ns = 0;
    int next_unit = 0; /* units before this one were passed */
    bool overflow = false;
    size_t i = 0;

    if (n == 0)
        goto out_invalid;
    while (i < n) {
        size_t start = i, ulen;
        int64_t count = 0, limit, add;
        int u;

        while (i < n && s[i] >= '0' && s[i] <= '9') {
            /* Go's Atoi saturates; every unit's limit is far below INT64_MAX. */
            if (count <= (INT64_MAX - 9) / 10)
                count = count * 10 + (s[i] - '0');
            else
                count = INT64_MAX;
            i++;
        }
        if (i == start)
            goto out_invalid;
        u = unit_at(s + i, n - i, &ulen);
        if (u < next_unit)
            goto out_invalid; /* no unit, or one out of order or repeated */
        i += ulen;
        next_unit = u + 1;
        if (overflow)
            continue;
        limit = INT64_MAX / units[u].ms / ns_per_ms;
        if (count > limit) {
            overflow = true;
            continue;
        }
        add = count * ns_per_ms * units[u].ms;
        if (add > INT64_MAX - total_ns)
            overflow = true;
        else
            total_ns += add;
    }
    if (overflow) {
        km_buf_puts(msg, "duration out of range");
        return KM_EINVAL;
    }
    if (total_ns == 0 && !zero_ok) {
        km_buf_puts(msg, "duration must be greater than 0");
        return KM_EINVAL;
    }
    *ms = total_ns / ns_per_ms;
    return 0;

out_invalid:
    km_buf_puts(msg, "not a valid duration string: ");
    km_promql_quote(msg, s, n);
    return KM_EINVAL;
}

int km_promql_duration_parse(const char *s, size_t n, int64_t *ms, struct km_buf *msg)
{
    return parse_duration(s, n, false, ms, msg);
}

int km_promql_config_duration_parse(const char *s, size_t n, int64_t *ms, struct km_buf *msg)
{
    if (n == 1 && s[0] == '0') {
        *ms = 0;
        return 0;
    }
    return parse_duration(s, n, true, ms, msg);
}

void km_promql_format_duration(struct km_buf *out, int64_t ms)
{
    if (ms == 0) {
        km_buf_puts(out, "0s");
        return;
    }
    for (size_t u = 0; u < NUNITS; u++) {
        int64_t v;

        /* Years and weeks only when they divide what is left exactly. */
        if (u < 2 && ms % units[u].ms != 0)
            continue;
        v = ms / units[u].ms;
        if (v > 0) {
            km_buf_put_i64(out, v);
            km_buf_puts(out, units[u].name);
            ms -= v * units[u].ms;
        }
    }
}
