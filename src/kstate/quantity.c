/*
 * quantity — Kubernetes resource quantities, parsed exactly (see quantity.h).
 *
 * Grammar (k8s.io/apimachinery's resource.Quantity):
 *   quantity ::= sign? digits ( "." digits? )? suffix?  |  sign? "." digits suffix?
 *   suffix   ::= "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei"          (powers of 1024)
 *              | "n" | "u" | "m" | "k" | "M" | "G" | "T" | "P" | "E" (powers of 1000)
 *              | ("e" | "E") sign? digits                         (a power of ten)
 * Rounding is done on integers of 128 bits, so "1.5Gi" is 1610612736 exactly and "100m"
 * is 0.1 core from 100 thousandths, as the API machinery computes it.
 */
#include "quantity.h"

#include "common/err.h"

#include <math.h>
#include <string.h>

#define MAX_DIGITS 18
#define MAX_EXP    1000

static int suffix(const char *s, struct km_qty *q)
{
    static const struct {
        const char *s;
        int e10, e2;
    } tab[] = {
        { "Ki", 0, 10 }, { "Mi", 0, 20 }, { "Gi", 0, 30 }, { "Ti", 0, 40 },
        { "Pi", 0, 50 }, { "Ei", 0, 60 }, { "n", -9, 0 },  { "u", -6, 0 },
        { "m", -3, 0 },  { "k", 3, 0 },   { "M", 6, 0 },   { "G", 9, 0 },
        { "T", 12, 0 },  { "P", 15, 0 },  { "E", 18, 0 },  { "", 0, 0 },
    };

    for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
        if (strcmp(s, tab[i].s) == 0) {
            q->exp10 += tab[i].e10;
            q->exp2 = tab[i].e2;
            return 0;
        }
    }
    if (s[0] == 'e' || s[0] == 'E') {
        const char *p = s + 1;
        bool neg = false;
        int e = 0;

        if (*p == '+' || *p == '-')
            neg = *p++ == '-';
        if (!*p)
            return KM_EINVAL;
        for (; *p; p++) {
            if (*p < '0' || *p > '9' || e > MAX_EXP)
                return KM_EINVAL;
            e = e * 10 + (*p - '0');
        }
        if (e > MAX_EXP)
            return KM_EINVAL;
        q->exp10 += neg ? -e : e;
        return 0;
    }
    return KM_EINVAL;
}

int km_qty_parse(const char *s, struct km_qty *out)
{
    struct km_qty q = { 0 };
    const char *p = s;
    int digits = 0, seen = 0;
    bool dot = false;

    if (!s)
        return km_err_set(KM_EINVAL, "a quantity that is not a string");
    if (*p == '+' || *p == '-')
        q.neg = *p++ == '-';
    for (; (*p >= '0' && *p <= '9') || *p == '.'; p++) {
        if (*p == '.') {
            if (dot)
                goto bad;
            dot = true;
            continue;
        }
        seen++;
        if (q.mant == 0 && *p == '0') {
            if (dot)
                q.exp10--;
            continue; /* leading zeros are not significant */
        }
        if (digits == MAX_DIGITS)
            return km_err_set(KM_EINVAL,
                              "the quantity \"%.40s\" has more than %d significant "
                              "digits",
                              s, MAX_DIGITS);
        q.mant = q.mant * 10 + (uint64_t)(*p - '0');
        digits++;
        if (dot)
            q.exp10--;
    }
    if (!seen || suffix(p, &q) != 0)
        goto bad;
    *out = q;
    return 0;
bad:
    return km_err_set(KM_EINVAL, "\"%.40s\" is not a Kubernetes quantity", s);
}

/* 10^k for 0 ≤ k ≤ 38 (fits in 128 bits). */
static unsigned __int128 pow10_u128(int k)
{
    unsigned __int128 r = 1;

    while (k-- > 0)
        r *= 10;
    return r;
}

double km_qty_scaled(const struct km_qty *q, int scale)
{
    unsigned __int128 v = q->mant;
    int e = q->exp10 + scale;
    double d;

    if (v == 0)
        return 0.0;
    v <<= q->exp2; /* mant < 10^18 < 2^60, exp2 ≤ 60: fits */
    if (e >= 0) {
        if (e > 38 || v > ((unsigned __int128)-1) / pow10_u128(e))
            d = (double)v * pow(10.0, e); /* beyond 128 bits: the nearest double */
        else
            d = (double)(v * pow10_u128(e));
    } else if (-e > 38) {
        d = 1.0; /* a positive amount below one unit rounds up to one */
    } else {
        unsigned __int128 p = pow10_u128(-e), w = v / p;

        d = (double)(w + (v % p != 0));
    }
    return q->neg ? -d : d;
}

double km_qty_value(const struct km_qty *q, bool cores)
{
    return cores ? km_qty_scaled(q, 3) / 1000.0 : km_qty_scaled(q, 0);
}
