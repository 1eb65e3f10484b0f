/*
 * scan — tokenising helpers shared by the procfs parsers (see procfs.h). No locale, no
 * allocation, and always bounded by `end` (the input need not be NUL-terminated).
 */
#include "procfs.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *skip_blanks(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

const char *km_line_end(const char *p, const char *end)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));

    return nl ? nl : end;
}

const char *km_next_line(const char *eol, const char *end)
{
    return eol < end ? eol + 1 : end;
}

bool km_rest_blank(const char *p, const char *eol)
{
    return skip_blanks(p, eol) == eol;
}

bool km_has_nul(const char *p, size_t n)
{
    return n && memchr(p, '\0', n) != NULL;
}

bool km_scan_u64(const char **p, const char *end, uint64_t *out)
{
    const char *q = skip_blanks(*p, end);
    uint64_t v = 0;

    if (q == end || *q < '0' || *q > '9')
        return false;
    while (q < end && *q >= '0' && *q <= '9') {
        unsigned d = (unsigned)(*q - '0');

        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
        q++;
    }
    *out = v;
    *p = q;
    return true;
}

bool km_scan_i64(const char **p, const char *end, int64_t *out)
{
    const char *q = skip_blanks(*p, end);
    bool neg = false;
    uint64_t v;

    if (q < end && (*q == '-' || *q == '+')) {
        neg = *q == '-';
        q++;
    }
    if (q == end || *q < '0' || *q > '9' || !km_scan_u64(&q, end, &v))
        return false;
    if (v > (uint64_t)INT64_MAX + (neg ? 1 : 0))
        return false;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    *p = q;
    return true;
}

bool km_scan_double(const char **p, const char *end, double *out)
{
    const char *q = skip_blanks(*p, end), *start = q;
    char tmp[64], *tend;
    size_t len;
    double v;

    /* Copy the token and let strtod() round it correctly (the C locale is in force). */
    if (q < end && (*q == '-' || *q == '+'))
        q++;
    while (q < end && ((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E' ||
                       ((*q == '-' || *q == '+') && (q[-1] == 'e' || q[-1] == 'E'))))
        q++;
    len = (size_t)(q - start);
    if (len == 0 || len >= sizeof(tmp))
        return false;
    memcpy(tmp, start, len);
    tmp[len] = '\0';
    v = strtod(tmp, &tend);
    if (tend != tmp + len || !isfinite(v))
        return false;
    *out = v;
    *p = q;
    return true;
}

bool km_scan_word(const char **p, const char *end, const char **w, size_t *wlen)
{
    const char *q = skip_blanks(*p, end), *start = q;

    while (q < end && *q != ' ' && *q != '\t' && *q != '\n')
        q++;
    if (q == start)
        return false;
    *w = start;
    *wlen = (size_t)(q - start);
    *p = q;
    return true;
}
