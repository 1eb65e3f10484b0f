/*
 * fmt — Go-compatible number formatting for the Prometheus API (see fmt.h).
 *
 * The shortest digits that read back to the same double come from dtoa.c; here they are
 * laid out as Go's 'f' or 'e' formats do.
 */
#include "promql/fmt.h"

#include "promql/dtoa.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t put(char *out, size_t size, size_t k, char c)
{
    if (k + 1 < size)
        out[k] = c;
    return k + 1;
}

static size_t finish(char *out, size_t size, size_t k)
{
    if (size)
        out[k < size ? k : size - 1] = '\0';
    return k < size ? k : size - 1;
}

/* Go's 'f' layout of the digits: all of them, no exponent. */
static size_t layout_f(char *out, size_t size, bool neg, const char *d, int n, int e)
{
    size_t k = 0;

    if (neg)
        k = put(out, size, k, '-');
    if (e < 0) {
        k = put(out, size, k, '0');
        k = put(out, size, k, '.');
        for (int i = 0; i < -e - 1; i++)
            k = put(out, size, k, '0');
        for (int i = 0; i < n; i++)
            k = put(out, size, k, d[i]);
        return finish(out, size, k);
    }
    for (int i = 0; i <= e; i++)
        k = put(out, size, k, i < n ? d[i] : '0');
    if (n > e + 1) {
        k = put(out, size, k, '.');
        for (int i = e + 1; i < n; i++)
            k = put(out, size, k, d[i]);
    }
    return finish(out, size, k);
}

/* Go's 'e' layout: d[.ddd]e±XX, at least two exponent digits. */
static size_t layout_e(char *out, size_t size, bool neg, const char *d, int n, int e)
{
    char ex[16];
    size_t k = 0;

    if (neg)
        k = put(out, size, k, '-');
    k = put(out, size, k, d[0]);
    if (n > 1) {
        k = put(out, size, k, '.');
        for (int i = 1; i < n; i++)
            k = put(out, size, k, d[i]);
    }
    snprintf(ex, sizeof(ex), "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    for (const char *p = ex; *p; p++)
        k = put(out, size, k, *p);
    return finish(out, size, k);
}

static size_t special(char *out, size_t size, double v)
{
    const char *s = isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf";

    snprintf(out, size, "%s", s);
    return strlen(s) < size ? strlen(s) : size ? size - 1 : 0;
}

size_t km_pq_fmt_float_f(char *out, size_t size, double v)
{
    char d[24];
    int n, e;

    if (!isfinite(v))
        return special(out, size, v);
    if (v == 0)
        return layout_f(out, size, signbit(v), "0", 1, 0);
    n = km_pq_shortest(v, d, &e);
    return layout_f(out, size, v < 0, d, n, e);
}

size_t km_pq_fmt_value(char *out, size_t size, double v)
{
    char d[24];
    double a = fabs(v);
    int n, e;

    if (!isfinite(v))
        return special(out, size, v);
    if (v == 0)
        return layout_f(out, size, signbit(v), "0", 1, 0);
    n = km_pq_shortest(v, d, &e);
    if (a < 1e-6 || a >= 1e21)
        return layout_e(out, size, v < 0, d, n, e);
    return layout_f(out, size, v < 0, d, n, e);
}

size_t km_pq_fmt_time(char *out, size_t size, int64_t ms)
{
    uint64_t a = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms, sec = a / 1000;
    unsigned frac = (unsigned)(a % 1000);
    char rev[32];
    size_t k = 0, n = 0;

    /* By hand: a range query writes one of these per point. */
    if (frac) {
        rev[n++] = (char)('0' + frac % 10);
        rev[n++] = (char)('0' + frac / 10 % 10);
        rev[n++] = (char)('0' + frac / 100);
        rev[n++] = '.';
    }
    do {
        rev[n++] = (char)('0' + sec % 10);
        sec /= 10;
    } while (sec);
    if (ms < 0)
        rev[n++] = '-';
    while (n)
        k = put(out, size, k, rev[--n]);
    return finish(out, size, k);
}

size_t km_pq_fmt_float_g(char *out, size_t size, double v)
{
    char d[24];
    int n, e;

    if (!isfinite(v))
        return special(out, size, v);
    if (v == 0)
        return layout_f(out, size, signbit(v), "0", 1, 0);
    n = km_pq_shortest(v, d, &e);
    /* Go decides by the exponent against a precision of 6 for the shortest form. */
    if (e < -4 || e >= 6)
        return layout_e(out, size, v < 0, d, n, e);
    return layout_f(out, size, v < 0, d, n, e);
}

size_t km_pq_fmt_json_float(char *out, size_t size, double v)
{
    size_t n = km_pq_fmt_value(out, size, v);

    /* encoding/json writes e-07 as e-7. */
    if (n >= 4 && out[n - 4] == 'e' && out[n - 3] == '-' && out[n - 2] == '0') {
        out[n - 2] = out[n - 1];
        out[--n] = '\0';
    }
    return n;
}
