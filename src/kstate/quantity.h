/*
 * quantity — Kubernetes resource quantities ("100m", "1Gi", "1.5", "129M", "2e3") read
 * exactly: a decimal mantissa of at most 18 significant digits, a power of ten and a
 * power of two (binary suffixes), kept as integers so that rounding happens once, the
 * way the API machinery's Quantity rounds:
 *
 *   Value()      the quantity rounded up (away from zero) to an integer — what
 *                kube-state-metrics reports for bytes and counts;
 *   MilliValue() the quantity in thousandths, rounded up likewise — divided by 1000 for
 *                cores.
 *
 * Garbage ("", "1.2.3", "12Zi", "--1", overlong mantissas or exponents) is refused with
 * KM_EINVAL and a sentence; nothing is read past the string. Pure functions.
 */
#ifndef KMON_KSTATE_QUANTITY_H
#define KMON_KSTATE_QUANTITY_H

#include <stdbool.h>
#include <stdint.h>

struct km_qty {
    bool neg;
    uint64_t mant; /* significant digits, without the decimal point */
    int exp10;     /* value = mant × 10^exp10 × 2^exp2 */
    int exp2;
};

/* Parse s. 0, or KM_EINVAL with a sentence. */
int km_qty_parse(const char *s, struct km_qty *out);

/* The quantity × 10^scale, rounded up (away from zero) to an integer, as a double (exact
 * up to 2^53; larger values are the nearest double). scale 0: Value(); 3: MilliValue(). */
double km_qty_scaled(const struct km_qty *q, int scale);

/* The quantity as KSM reports it for a resource of this unit: cores (MilliValue()/1000)
 * when `cores`, else Value(). */
double km_qty_value(const struct km_qty *q, bool cores);

#endif
