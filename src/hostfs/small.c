/*
 * small — parsers of the one-line /proc files (see procfs.h):
 *
 *   /proc/loadavg          0.05 0.07 0.02 2/79 3011
 *   /proc/sys/fs/file-nr   305	0	2466177
 *   /proc/uptime           314.11 593.70
 *   /proc/pressure/io      some avg10=0.00 avg60=0.00 avg300=0.00 total=1958510
 *                          full avg10=0.00 avg60=0.00 avg300=0.00 total=0
 *   /proc/<pid>/stat       1234 (kmon agent) S 1 … (52 fields; comm may hold ' ' and ')')
 */
#include "procfs.h"

#include <string.h>

int km_parse_loadavg(const char *s, size_t n, struct km_loadavg *out)
{
    const char *p = s, *end = n ? s + n : s;

    memset(out, 0, sizeof(*out));
    if (!km_scan_double(&p, end, &out->load1) || !km_scan_double(&p, end, &out->load5) ||
        !km_scan_double(&p, end, &out->load15))
        return 1;
    /* "running/total" is optional for our purposes. */
    if (km_scan_u64(&p, end, &out->running) && p < end && *p == '/') {
        p++;
        km_scan_u64(&p, end, &out->total);
    }
    return 0;
}

int km_parse_filenr(const char *s, size_t n, struct km_filenr *out)
{
    const char *p = s, *end = n ? s + n : s;

    memset(out, 0, sizeof(*out));
    if (!km_scan_u64(&p, end, &out->allocated) || !km_scan_u64(&p, end, &out->unused) ||
        !km_scan_u64(&p, end, &out->maximum))
        return 1;
    return 0;
}

int km_parse_uptime(const char *s, size_t n, struct km_uptime *out)
{
    const char *p = s, *end = n ? s + n : s;

    memset(out, 0, sizeof(*out));
    if (!km_scan_double(&p, end, &out->uptime))
        return 1;
    km_scan_double(&p, end, &out->idle);
    return 0;
}

/* "avg10=0.00 avg60=0.00 avg300=0.00 total=1958510" into l. */
static bool parse_pressure_fields(const char *p, const char *end, struct km_pressure_line *l)
{
    const char *w;
    size_t wl;
    unsigned seen = 0;

    while (km_scan_word(&p, end, &w, &wl)) {
        const char *eq = memchr(w, '=', wl), *v;

        if (!eq)
            return false;
        v = eq + 1;
        if ((size_t)(eq - w) == 5 && memcmp(w, "avg10", 5) == 0) {
            seen |= km_scan_double(&v, w + wl, &l->avg10) ? 1 : 0;
        } else if ((size_t)(eq - w) == 5 && memcmp(w, "avg60", 5) == 0) {
            seen |= km_scan_double(&v, w + wl, &l->avg60) ? 2 : 0;
        } else if ((size_t)(eq - w) == 6 && memcmp(w, "avg300", 6) == 0) {
            seen |= km_scan_double(&v, w + wl, &l->avg300) ? 4 : 0;
        } else if ((size_t)(eq - w) == 5 && memcmp(w, "total", 5) == 0) {
            seen |= km_scan_u64(&v, w + wl, &l->total_us) ? 8 : 0;
        }
    }
    return (seen & 8) != 0; /* total is what the metrics need */
}

int km_parse_pressure(const char *s, size_t n, struct km_pressure *out)
{
    const char *p = s, *end = n ? s + n : s;
    int bad = 0;

    memset(out, 0, sizeof(*out));
    while (p < end) {
        const char *eol = km_line_end(p, end), *w;
        struct km_pressure_line *l = NULL;
        size_t wl;

        if (!km_scan_word(&p, eol, &w, &wl)) {
            p = km_next_line(eol, end);
            continue;
        }
        if (wl == 4 && memcmp(w, "some", 4) == 0)
            l = &out->some;
        else if (wl == 4 && memcmp(w, "full", 4) == 0)
            l = &out->full;
        {
            struct km_pressure_line tmp = { 0 };

            if (!l || !parse_pressure_fields(p, eol, &tmp)) {
                bad++;
            } else {
                tmp.present = true;
                *l = tmp;
            }
        }
        p = km_next_line(eol, end);
    }
    return bad;
}

int km_parse_pidstat(const char *s, size_t n, struct km_pidstat *out)
{
    const char *end = n ? s + n : s, *p = NULL;
    uint64_t uskip;
    int64_t iskip;

    memset(out, 0, sizeof(*out));
    /* comm is in parentheses and may itself contain ')': the last ')' ends it. */
    for (const char *q = s; q < end; q++) {
        if (*q == ')')
            p = q + 1;
    }
    if (!p || p >= end)
        return 1;
    while (p < end && *p == ' ')
        p++;
    if (p >= end)
        return 1;
    out->state = *p++;
    /* Fields 4..8 are signed (ppid pgrp session tty_nr tpgid), 9..13 unsigned (flags
     * minflt cminflt majflt cmajflt). */
    for (int i = 4; i <= 8; i++) {
        if (!km_scan_i64(&p, end, &iskip))
            return 1;
    }
    for (int i = 9; i <= 13; i++) {
        if (!km_scan_u64(&p, end, &uskip))
            return 1;
    }
    if (!km_scan_u64(&p, end, &out->utime) || !km_scan_u64(&p, end, &out->stime))
        return 1;
    /* 16 cutime, 17 cstime, 18 priority, 19 nice. */
    for (int i = 16; i <= 19; i++) {
        if (!km_scan_i64(&p, end, &iskip))
            return 1;
    }
    if (!km_scan_i64(&p, end, &out->num_threads))
        return 1;
    if (!km_scan_i64(&p, end, &iskip)) /* 21 itrealvalue */
        return 1;
    if (!km_scan_u64(&p, end, &out->starttime) || !km_scan_u64(&p, end, &out->vsize) ||
        !km_scan_i64(&p, end, &out->rss_pages))
        return 1;
    return 0;
}
