/*
 * numfmt — shortest round-trip double formatting and UTF-8 validation (see numfmt.h).
 *
 * Doubles: integer values below 2^53 are printed exactly with integer arithmetic (the
 * common case for counters read from /proc); others try 15, 16 then 17 significant digits
 * and keep the first that strtod() reads back bit-exactly.
 */
#include "numfmt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t km_fmt_double(char out[KM_FMT_DOUBLE_MAX], double v)
{
    if (isnan(v)) {
        memcpy(out, "NaN", 4);
        return 3;
    }
    if (isinf(v)) {
        memcpy(out, v > 0 ? "+Inf" : "-Inf", 5);
        return 4;
    }
    if (v == 0) {
        /* Keep the sign of -0.0 so it reads back bit-exactly. */
        if (signbit(v)) {
            memcpy(out, "-0", 3);
            return 2;
        }
        memcpy(out, "0", 2);
        return 1;
    }
    if (fabs(v) < 9007199254740992.0 && v == trunc(v)) {
        char tmp[24];
        unsigned long long u = (unsigned long long)fabs(v);
        size_t i = sizeof(tmp), n = 0;

        do {
            tmp[--i] = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        if (v < 0)
            out[n++] = '-';
        memcpy(out + n, tmp + i, sizeof(tmp) - i);
        n += sizeof(tmp) - i;
        out[n] = '\0';
        return n;
    }
    for (int prec = 15; prec <= 17; prec++) {
        int w = snprintf(out, KM_FMT_DOUBLE_MAX, "%.*g", prec, v);

        if (prec == 17 || strtod(out, NULL) == v)
            return w > 0 ? (size_t)w : 0;
    }
    return 0; /* not reached */
}

size_t km_utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned c;

    if (n == 0)
        return 0;
    c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        if (n >= 2 && (s[1] & 0xc0) == 0x80)
            return 2;
        return 0;
    }
    if (c >= 0xe0 && c <= 0xef) {
        if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
            return 0;
        if (c == 0xe0 && s[1] < 0xa0)
            return 0; /* overlong */
        if (c == 0xed && s[1] >= 0xa0)
            return 0; /* surrogate */
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
            return 0;
        if (c == 0xf0 && s[1] < 0x90)
            return 0; /* overlong */
        if (c == 0xf4 && s[1] >= 0x90)
            return 0; /* past U+10FFFF */
        return 4;
    }
    return 0;
}
