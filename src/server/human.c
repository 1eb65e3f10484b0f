/*
 * human — human-readable sizes, rates and CPU (see human.h).
 */
#include "human.h"

#include <math.h>
#include <stdio.h>

static const char *scale(double *v)
{
    static const char *const unit[] = { "B", "KB", "MB", "GB", "TB", "PB" };
    size_t u = 0;

    while (fabs(*v) >= 1024 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
        *v /= 1024;
        u++;
    }
    return unit[u];
}

void km_human_bytes(char *out, size_t size, double bytes)
{
    double v = bytes;
    const char *u = scale(&v);

    if (u[0] == 'B')
        snprintf(out, size, "%.0f B", v);
    else
        snprintf(out, size, "%.2f %s", v, u);
}

void km_human_rate(char *out, size_t size, double bytes_per_s)
{
    double v = bytes_per_s;
    const char *u = scale(&v);

    if (u[0] == 'B')
        snprintf(out, size, "%.0f B/s", v);
    else
        snprintf(out, size, "%.1f %s/s", v, u);
}

void km_human_cpu(char *out, size_t size, double millicores)
{
    snprintf(out, size, "%.0fm", millicores);
}
