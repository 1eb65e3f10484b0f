/*
 * timefmt — clocks, RFC 3339 formatting, duration and size parsing (see timefmt.h).
 */
#include "timefmt.h"

#include "err.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int64_t km_time_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t km_time_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

size_t km_time_format_rfc3339(char *out, size_t size, int64_t ns, int digits)
{
    time_t sec = (time_t)(ns / 1000000000);
    long frac = (long)(ns % 1000000000);
    struct tm tm;
    size_t n;
    int w;

    if (frac < 0) {
        frac += 1000000000;
        sec -= 1;
    }
    if (size == 0)
        return 0;
    gmtime_r(&sec, &tm);
    n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
    if (digits == 3)
        w = snprintf(out + n, size - n, ".%03ldZ", frac / 1000000);
    else if (digits == 6)
        w = snprintf(out + n, size - n, ".%06ldZ", frac / 1000);
    else if (digits == 9)
        w = snprintf(out + n, size - n, ".%09ldZ", frac);
    else
        w = snprintf(out + n, size - n, "Z");
    if (w < 0)
        return n;
    n += (size_t)w;
    return n < size ? n : size - 1;
}

struct unit {
    const char *name;
    double ms;
};

static const struct unit duration_units[] = {
    { "ms", 1 },         { "s", 1000 },        { "m", 60000 },         { "h", 3600000 },
    { "d", 86400000.0 }, { "w", 604800000.0 }, { "y", 31536000000.0 },
};

int km_duration_parse(const char *s, int64_t *out_ms)
{
    const char *p = s;
    double total = 0;
    int last_unit = -1;

    if (!s || !*s)
        return km_err_set(KM_EINVAL, "empty duration");
    while (*p) {
        char *end;
        double v;
        size_t best_len = 0;
        int best = -1;

        if (!isdigit((unsigned char)*p) && *p != '.')
            return km_err_set(KM_EINVAL, "bad duration \"%s\" (want e.g. 500ms, 5s, 1m30s, 15d)",
                              s);
        v = strtod(p, &end);
        if (end == p || !isfinite(v))
            return km_err_set(KM_EINVAL, "bad duration \"%s\"", s);
        p = end;
        if (*p == '\0') {
            /* A bare number is seconds, and only allowed alone. */
            if (last_unit != -1)
                return km_err_set(KM_EINVAL, "bad duration \"%s\": number without a unit", s);
            total = v * 1000;
            break;
        }
        for (int i = 0; i < (int)(sizeof(duration_units) / sizeof(duration_units[0])); i++) {
            size_t l = strlen(duration_units[i].name);

            if (strncmp(p, duration_units[i].name, l) == 0 && l > best_len) {
                best = i;
                best_len = l;
            }
        }
        if (best < 0)
            return km_err_set(KM_EINVAL, "bad duration \"%s\": unknown unit at \"%s\"", s, p);
        if (last_unit != -1 && duration_units[best].ms >= duration_units[last_unit].ms)
            return km_err_set(KM_EINVAL, "bad duration \"%s\": units must go from large to small",
                              s);
        last_unit = best;
        total += v * duration_units[best].ms;
        p += best_len;
    }
    if (total >= 9.2e18)
        return km_err_set(KM_EINVAL, "duration \"%s\" is too large", s);
    *out_ms = (int64_t)llround(total);
    return 0;
}

size_t km_duration_format(char *out, size_t size, int64_t ms)
{
    static const struct {
        const char *name;
        int64_t ms;
    } parts[] = { { "d", 86400000 }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 }, { "ms", 1 } };
    size_t n = 0;

    if (size == 0)
        return 0;
    out[0] = '\0';
    if (ms == 0)
        return (size_t)snprintf(out, size, "0s");
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]) && n < size; i++) {
        int64_t q = ms / parts[i].ms;
        int w;

        if (q == 0)
            continue;
        ms -= q * parts[i].ms;
        w = snprintf(out + n, size - n, "%lld%s", (long long)q, parts[i].name);
        if (w < 0)
            break;
        n += (size_t)w;
    }
    return n < size ? n : size - 1;
}

static const struct {
    const char *name;
    double mult;
} size_units[] = {
    { "", 1 },
    { "B", 1 },
    { "k", 1e3 },
    { "K", 1e3 },
    { "KB", 1e3 },
    { "kB", 1e3 },
    { "Ki", 1024.0 },
    { "KiB", 1024.0 },
    { "M", 1e6 },
    { "MB", 1e6 },
    { "Mi", 1048576.0 },
    { "MiB", 1048576.0 },
    { "G", 1e9 },
    { "GB", 1e9 },
    { "Gi", 1073741824.0 },
    { "GiB", 1073741824.0 },
    { "T", 1e12 },
    { "TB", 1e12 },
    { "Ti", 1099511627776.0 },
    { "TiB", 1099511627776.0 },
};

int km_size_parse(const char *s, uint64_t *out)
{
    char *end;
    double v;

    if (!s || !*s)
        return km_err_set(KM_EINVAL, "empty size");
    if (!isdigit((unsigned char)*s) && *s != '.')
        return km_err_set(KM_EINVAL, "bad size \"%s\" (want e.g. 256MiB, 1GB, 1048576)", s);
    v = strtod(s, &end);
    if (end == s || !isfinite(v) || v < 0)
        return km_err_set(KM_EINVAL, "bad size \"%s\"", s);
    while (*end == ' ')
        end++;
    for (size_t i = 0; i < sizeof(size_units) / sizeof(size_units[0]); i++) {
        if (strcmp(end, size_units[i].name) == 0) {
            double b = v * size_units[i].mult;

            if (b >= 1.8e19)
                return km_err_set(KM_EINVAL, "size \"%s\" is too large", s);
            *out = (uint64_t)llround(b);
            return 0;
        }
    }
    return km_err_set(KM_EINVAL,
                      "bad size \"%s\": unknown unit \"%s\" (want B, KiB, MiB, GiB, KB, MB, GB)", s,
                      end);
}

/* Exactly n decimal digits at s; -1 if not. */
static int digits(const char *s, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* The seconds since the epoch and the nanoseconds of an RFC 3339 timestamp. */
static int parse_rfc3339(const char *s, int64_t *out_secs, int64_t *out_frac)
{
    static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    struct tm tm = { 0 };
    int year, mon, day, hh, mm, ss, off = 0;
    int64_t frac = 0, secs;
    const char *p = s;

    if (strlen(s) < 20)
        goto bad;
    year = digits(p, 4);
    mon = digits(p + 5, 2);
    day = digits(p + 8, 2);
    hh = digits(p + 11, 2);
    mm = digits(p + 14, 2);
    ss = digits(p + 17, 2);
    if (year < 0 || mon < 1 || mon > 12 || day < 1 || day > mdays[mon - 1] || hh < 0 || hh > 23 ||
        mm < 0 || mm > 59 || ss < 0 || ss > 60 || p[4] != '-' || p[7] != '-' ||
        (p[10] != 'T' && p[10] != 't' && p[10] != ' ') || p[13] != ':' || p[16] != ':')
        goto bad;
    p += 19;
    if (*p == '.') {
        int n = 0;

        for (p++; *p >= '0' && *p <= '9'; p++, n++) {
            if (n < 9)
                frac = frac * 10 + (*p - '0');
        }
        if (n == 0)
            goto bad;
        for (; n < 9; n++)
            frac *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh = digits(p + 1, 2), om = p[1] && p[2] && p[3] == ':' ? digits(p + 4, 2) : -1;

        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            goto bad;
        off = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        goto bad;
    }
    if (*p != '\0')
        goto bad;
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hh;
    tm.tm_min = mm;
    tm.tm_sec = ss;
    secs = (int64_t)timegm(&tm) - off;
    *out_secs = secs;
    *out_frac = frac;
    return 0;

bad:
    return km_err_set(KM_EINVAL,
                      "\"%.64s\" is not an RFC 3339 timestamp (like 2025-06-12T10:25:19Z)", s);
}

int km_time_parse_rfc3339(const char *s, int64_t *out_ns)
{
    int64_t secs, frac;
    int rc = parse_rfc3339(s, &secs, &frac);

    if (rc)
        return rc;
    if (secs < -9000000000ll || secs > 9000000000ll)
        return km_err_set(
            KM_EINVAL, "\"%.64s\" is outside the years a nanosecond clock holds (1678 to 2262)", s);
    *out_ns = secs * 1000000000 + frac;
    return 0;
}

int km_time_parse_rfc3339_ms(const char *s, int64_t *out_ms)
{
    int64_t secs, frac;
    int rc = parse_rfc3339(s, &secs, &frac);

    if (rc == 0)
        *out_ms = secs * 1000 + frac / 1000000;
    return rc;
}

int km_time_parse_prom(const char *s, int64_t *out_ms)
{
    char *end;
    double d;

    if (!*s)
        return km_err_set(KM_EINVAL, "empty time");
    d = strtod(s, &end);
    if (*end == '\0' && isfinite(d)) {
        double sec = trunc(d), frac = round((d - sec) * 1000) / 1000;

        if (fabs(sec) > 9.2e15)
            return km_err_set(KM_EINVAL, "time \"%s\" is out of range", s);
        *out_ms = (int64_t)sec * 1000 + (int64_t)llround(frac * 1000);
        return 0;
    }
    if (km_time_parse_rfc3339_ms(s, out_ms) == 0)
        return 0;
    if (strcmp(s, "-292273086-05-16T16:47:06Z") == 0) {
        *out_ms = KM_TIME_PROM_MIN_MS;
        return 0;
    }
    if (strcmp(s, "292277025-08-18T07:12:54.999999999Z") == 0) {
        *out_ms = KM_TIME_PROM_MAX_MS;
        return 0;
    }
    return km_err_set(KM_EINVAL,
                      "bad time \"%s\" (want RFC 3339 like 2025-06-12T10:25:19Z or seconds "
                      "since the epoch)",
                      s);
}

const char *km_time_format_ms(char *out, size_t size, int64_t ms)
{
    int64_t sec = ms / 1000, frac = ms % 1000;
    struct tm tm;
    size_t n;

    if (size == 0)
        return out;
    if (frac < 0) {
        frac += 1000;
        sec -= 1;
    }
    /* Years 0 to 9999: beyond them a timestamp is surely a unit mix-up; say it raw. */
    if (sec < -62167219200ll || sec > 253402300799ll || !gmtime_r(&(time_t){ (time_t)sec }, &tm)) {
        snprintf(out, size, "%lld ms since the epoch", (long long)ms);
        return out;
    }
    n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, size - n, ".%03lldZ", (long long)frac);
    return out;
}
