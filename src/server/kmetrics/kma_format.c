/*
 * kma_format — what the Kubernetes API prints: quantities in their canonical form
 * (metrics-server's cpu is a count of nanocores, its memory a count of bytes; both
 * printed with the largest suffix that keeps the number whole), Go durations for
 * `window`, RFC 3339 times. Pure; thread-safe.
 */
#include "kma.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <time.h>

void km_kma_quantity(char *out, size_t size, double v)
{
    static const struct {
        uint64_t div;
        const char *suffix;
    } units[] = { { 1000000000ull, "" }, { 1000000ull, "m" }, { 1000ull, "u" }, { 1ull, "n" } };
    const char *sign = v < 0 ? "-" : "";
    double a = fabs(v);
    uint64_t n;

    if (!isfinite(v) || a < 0.5e-9) {
        snprintf(out, size, "0");
        return;
    }
    if (a >= 1e9) { /* beyond nano precision in 64 bits: whole units */
        snprintf(out, size, "%s%.0f", sign, a);
        return;
    }
    n = (uint64_t)llround(a * 1e9);
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (n % units[i].div == 0) {
            snprintf(out, size, "%s%" PRIu64 "%s", sign, n / units[i].div, units[i].suffix);
            return;
        }
    }
}

void km_kma_cpu(char *out, size_t size, double cores)
{
    km_kma_quantity(out, size, cores > 0 ? cores : 0);
}

void km_kma_bytes(char *out, size_t size, double bytes)
{
    static const char *const suffix[] = { "Ki", "Mi", "Gi", "Ti", "Pi", "Ei" };
    uint64_t n;
    int k = -1;

    if (!(bytes > 0) || !isfinite(bytes)) {
        snprintf(out, size, "0");
        return;
    }
    n = (uint64_t)llround(bytes);
    while (k < 5 && n >= 1024 && n % 1024 == 0) {
        n /= 1024;
        k++;
    }
    if (k < 0)
        snprintf(out, size, "%" PRIu64, n);
    else
        snprintf(out, size, "%" PRIu64 "%s", n, suffix[k]);
}

/* Seconds with up to three decimals, trailing zeros dropped ("1.5", "20"). */
static int put_seconds(char *out, size_t size, int64_t ms)
{
    int64_t s = ms / 1000, frac = ms % 1000;

    if (frac == 0)
        return snprintf(out, size, "%" PRId64 "s", s);
    if (frac % 100 == 0)
        return snprintf(out, size, "%" PRId64 ".%01" PRId64 "s", s, frac / 100);
    if (frac % 10 == 0)
        return snprintf(out, size, "%" PRId64 ".%02" PRId64 "s", s, frac / 10);
    return snprintf(out, size, "%" PRId64 ".%03" PRId64 "s", s, frac);
}

void km_kma_duration(char *out, size_t size, int64_t ms)
{
    int64_t h, m;
    int n = 0;

    if (ms <= 0) {
        snprintf(out, size, "0s");
        return;
    }
    h = ms / 3600000;
    m = (ms / 60000) % 60;
    if (h > 0)
        n = snprintf(out, size, "%" PRId64 "h%" PRId64 "m", h, m);
    else if (m > 0)
        n = snprintf(out, size, "%" PRId64 "m", m);
    if (n < 0 || (size_t)n >= size)
        return;
    put_seconds(out + n, size - (size_t)n, ms % 60000);
}

void km_kma_time(char *out, size_t size, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
