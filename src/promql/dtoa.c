/*
 * dtoa — shortest round-trip digits of a double (see dtoa.h).
 *
 * Written here because no C library in Debian does it (glibc's printf only rounds to a
 * precision it is given) and a range query prints one value per point: the search over
 * printf precisions this replaces cost ~1.7 µs a value.
 *
 * The reasoning: any decimal of 15 significant digits or fewer is the shortest form of
 * at most one normal double, so if |v| rounded to 15 digits reads back as v, those
 * digits without trailing zeros are the shortest; else 16 digits if they read back
 * (the correctly rounded ones are the closest), else 17, which always do.
 *
 * The fast path does this exactly with 128-bit integers: v = m × 2^q scaled by 10^k is
 * an integer product or quotient with a remainder that decides the rounding, and reading
 * back is comparing the candidate with the halfway points to v's neighbours, also as
 * integers. It covers 1e-15 ≤ |v| < 1e35 (where the products stay below 2^127), which
 * is nearly every value a monitoring system holds; the rest (and compilers without
 * __int128) take the slow path, printf and strtod, which are exact too.
 */
#include "promql/dtoa.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- slow and exact: printf and strtod -------------------------------------------------- */

/* The digits of "d.ddde±X" text (as printf's %e writes it) into d, and its exponent. */
static int digits_of_e(const char *buf, char *d, int *exp10)
{
    int n = 0;
    const char *p = buf;

    for (; *p && *p != 'e'; p++) {
        if (*p >= '0' && *p <= '9')
            d[n++] = *p;
    }
    *exp10 = atoi(p + 1);
    return n;
}

/* Whether the n digits d (d[0] first, d[0] != 0) × 10^(exp10 - n + 1) read back as a. */
static bool reads_back(const char *d, int n, int exp10, double a)
{
    char buf[40];

    snprintf(buf, sizeof(buf), "%c.%.*se%d", d[0], n - 1, d + 1, exp10);
    return strtod(buf, NULL) == a;
}

/* d17 (17 correctly rounded digits of a) rounded to n digits into out, unless the
 * dropped digits sit on a tie ("5", "50"), where rounding twice could differ from
 * rounding once: then printf rounds the exact value. */
static void round_to(double a, const char *d17, int e17, int n, char *out, int *exp10)
{
    bool tie = d17[n] == '5';
    bool up;

    for (int i = n + 1; i < 17 && tie; i++)
        tie = d17[i] == '0';
    if (tie) {
        char buf[40];

        snprintf(buf, sizeof(buf), "%.*e", n - 1, a);
        digits_of_e(buf, out, exp10);
        return;
    }
    memcpy(out, d17, (size_t)n);
    *exp10 = e17;
    up = d17[n] >= '5';
    for (int i = n - 1; i >= 0 && up; i--) {
        if (out[i] == '9') {
            out[i] = '0';
        } else {
            out[i]++;
            up = false;
        }
    }
    if (up) { /* 99…9 became 100…0 */
        out[0] = '1';
        (*exp10)++;
    }
}

/* The next n-digit decimal up from d (which is not all nines). */
static void digits_up(char *d, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        if (d[i] != '9') {
            d[i]++;
            return;
        }
        d[i] = '0';
    }
}

static int shortest_slow(double a, char *digits, int *exp10)
{
    char d17[24], buf[40];
    int e17, lo = 1, hi = 17;
    uint64_t bits;

    snprintf(buf, sizeof(buf), "%.16e", a);
    digits_of_e(buf, d17, &e17);
    memcpy(&bits, &a, sizeof(bits));
    if (a >= DBL_MIN) {
        /* As the fast path: 15 digits, 16, then 17; below a power of two (bigger than
         * the smallest normal) the interval is lopsided and the neighbour above may read
         * back where the closest does not. */
        bool pow2 = (bits & 0x000FFFFFFFFFFFFFull) == 0 && a > DBL_MIN;

        for (int n = 15; n <= 16; n++) {
            round_to(a, d17, e17, n, digits, exp10);
            if (reads_back(digits, n, *exp10, a))
                return n;
            if (pow2 && strspn(digits, "9") < (size_t)n) {
                digits_up(digits, n);
                if (reads_back(digits, n, *exp10, a))
                    return n;
            }
        }
        memcpy(digits, d17, 17);
        *exp10 = e17;
        return 17;
    }
    /* Subnormals carry fewer bits: shorter decimals may read back. */
    while (lo < hi) {
        int mid = (lo + hi) / 2;

        round_to(a, d17, e17, mid, digits, exp10);
        if (reads_back(digits, mid, *exp10, a))
            hi = mid;
        else
            lo = mid + 1;
    }
    round_to(a, d17, e17, lo, digits, exp10);
    return lo;
}

/* ---- fast and exact: 128-bit integers ------------------------------------------------- */

#ifdef __SIZEOF_INT128__
#define FAST_DTOA 1

typedef unsigned __int128 u128;

/* The fast path's range: 10^-15 ≤ a < 10^35 keeps every product below 2^127. */
#define FAST_MIN 1e-15
#define FAST_MAX 1e35

/* 5^k for k ≤ 31. */
static u128 pow5(int k)
{
    static const uint64_t p[] = {
        1ull,
        5ull,
        25ull,
        125ull,
        625ull,
        3125ull,
        15625ull,
        78125ull,
        390625ull,
        1953125ull,
        9765625ull,
        48828125ull,
        244140625ull,
        1220703125ull,
        6103515625ull,
        30517578125ull,
        152587890625ull,
        762939453125ull,
        3814697265625ull,
        19073486328125ull,
        95367431640625ull,
        476837158203125ull,
        2384185791015625ull,
        11920928955078125ull,
        59604644775390625ull,
        298023223876953125ull,
        1490116119384765625ull,
        7450580596923828125ull,
    };

    return k <= 27 ? (u128)p[k] : (u128)p[27] * p[k - 27];
}

static u128 pow10(int k)
{
    return pow5(k) << k;
}

/* a = m × 2^q, m < 2^53 an integer (a normal). */
struct binary {
    uint64_t m;
    int q;
};

static struct binary binary_of(double a)
{
    uint64_t bits;

    memcpy(&bits, &a, sizeof(bits));
    return (struct binary){ (bits & 0x000FFFFFFFFFFFFFull) | (1ull << 52),
                            (int)(bits >> 52 & 0x7FF) - 1075 };
}

/* m × 2^q × 10^k rounded to an integer, half to even, or truncated (exact). */
static u128 scaled(struct binary b, int k, bool round)
{
    u128 n, rem, half;
    int t;

    if (k < 0) { /* a ≥ 10^14; below 2^53 q < 0: m / (10^-k × 2^-q) */
        u128 d = b.q >= 0 ? pow10(-k) : pow10(-k) << -b.q;

        n = b.q >= 0 ? (u128)b.m << b.q : b.m;
        rem = n % d;
        n /= d;
        return n + (round && (2 * rem > d || (2 * rem == d && (n & 1))));
    }
    n = b.m * pow5(k);
    t = b.q + k;
    if (t >= 0)
        return n << t;
    rem = n & (((u128)1 << -t) - 1);
    half = (u128)1 << (-t - 1);
    n >>= -t;
    return n + (round && (rem > half || (rem == half && (n & 1))));
}

/* Compare d × 10^-k with c × 2^(q-2): -1, 0 or 1 (exact). */
static int compare(uint64_t d, int k, uint64_t c, int q)
{
    u128 l, r;
    int s;

    if (k < 0) { /* with q < 2, both sides × 2^(2-q) */
        l = (u128)d * pow10(-k) << (q < 2 ? 2 - q : 0);
        r = (u128)c << (q < 2 ? 0 : q - 2);
    } else {
        s = q - 2 + k;
        l = s >= 0 ? (u128)d : (u128)d << -s;
        r = s >= 0 ? (c * pow5(k)) << s : c * pow5(k);
    }
    return l < r ? -1 : l > r;
}

/* Whether d (n digits) × 10^(exp10 - n + 1) reads back as a = b: inside the interval
 * halfway to a's neighbours (the lower one half as far below a power of two), or on its
 * edge with an even mantissa. */
static bool reads_back_fast(struct binary b, uint64_t d, int n, int exp10)
{
    int k = n - 1 - exp10;
    bool even = (b.m & 1) == 0, pow2 = b.m == 1ull << 52 && b.q > -1074;
    int hi = compare(d, k, 4 * b.m + 2, b.q), lo = compare(d, k, 4 * b.m - (pow2 ? 1 : 2), b.q);

    return (hi < 0 || (hi == 0 && even)) && (lo > 0 || (lo == 0 && even));
}

static int shortest_fast(double a, char *digits, int *exp10)
{
    struct binary b = binary_of(a);
    int e = (int)floor(log10(a)), n;
    uint64_t d = 0;
    u128 t;

    /* The exponent of the first digit: log10 may be one off near powers of ten. */
    t = scaled(b, 16 - e, false);
    if (t < pow10(16))
        e--;
    else if (t >= pow10(17))
        e++;
    for (n = 15; n <= 17; n++) {
        int en = e;
        u128 y = scaled(b, n - 1 - e, true);

        if (y == pow10(n)) { /* 99…9.5 rounded up */
            y /= 10;
            en++;
        }
        d = (uint64_t)y;
        if (n == 17 || reads_back_fast(b, d, n, en)) {
            *exp10 = en;
            break;
        }
        /* Below a power of two the interval is lopsided, twice as wide above: the
         * neighbour above may read back where the closest, below, does not. */
        if (b.m == 1ull << 52 && (u128)d + 1 < pow10(n) && reads_back_fast(b, d + 1, n, en)) {
            d++;
            *exp10 = en;
            break;
        }
    }
    for (int i = n - 1; i >= 0; i--) {
        digits[i] = (char)('0' + d % 10);
        d /= 10;
    }
    return n;
}
#endif

/* ---- the digits --------------------------------------------------------------------------- */

int km_pq_shortest(double v, char digits[24], int *exp10)
{
    double a = fabs(v);
    int n = 0;

    if (a < 9007199254740992.0 && a == trunc(a)) {
        /* Integers below 2^53: their own digits. */
        uint64_t u = (uint64_t)a;
        char rev[24];
        int k = 0;

        while (u) {
            rev[k++] = (char)('0' + u % 10);
            u /= 10;
        }
        for (n = 0; n < k; n++)
            digits[n] = rev[k - 1 - n];
        *exp10 = k - 1;
    }
#ifdef FAST_DTOA
    if (!n && a >= FAST_MIN && a < FAST_MAX)
        n = shortest_fast(a, digits, exp10);
#endif
    if (!n)
        n = shortest_slow(a, digits, exp10);
    while (n > 1 && digits[n - 1] == '0')
        n--;
    digits[n] = '\0';
    return n;
}

char *km_pq_format_exp(char out[KM_PQ_EXP_MAX], double v, char e)
{
    char digits[24];
    int exp10, n;

    if (isnan(v)) {
        snprintf(out, KM_PQ_EXP_MAX, "NaN");
    } else if (isinf(v)) {
        snprintf(out, KM_PQ_EXP_MAX, "%s", v > 0 ? "+Inf" : "-Inf");
    } else if (v == 0) {
        snprintf(out, KM_PQ_EXP_MAX, "%s0%c+00", signbit(v) ? "-" : "", e);
    } else {
        n = km_pq_shortest(v, digits, &exp10);
        snprintf(out, KM_PQ_EXP_MAX, "%s%c%s%.*s%c%c%02d", v < 0 ? "-" : "", digits[0],
                 n > 1 ? "." : "", n - 1, digits + 1, e, exp10 < 0 ? '-' : '+',
                 exp10 < 0 ? -exp10 : exp10);
    }
    return out;
}
