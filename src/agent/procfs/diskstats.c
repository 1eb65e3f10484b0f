/*
 * diskstats — parser of /proc/diskstats (see procfs.h and the kernel's
 * Documentation/admin-guide/iostats.rst).
 *
 *    254       0 vda 28399 5654 1919074 6153 7586 6663 549624 1713 0 4024 8165 4295 21 113416 251 1319 47
 *
 * major minor name, then 11 statistics (all kernels since 2.6), 15 (4.18+: discards) or
 * 17 (5.5+: flushes) — 14, 18 and 20 fields in all. Lines with another count (the
 * 7-field partition lines of 2.6.0–2.6.24) are malformed here.
 */
#include "procfs.h"

#include <string.h>

int km_parse_diskstats(const char *s, size_t n, km_diskstat_fn fn, void *ud)
{
    const char *p = s, *end = s + n;
    int bad = 0;

    while (p < end) {
        const char *eol = km_line_end(p, end), *name;
        struct km_diskstat d;
        uint64_t major, minor, extra;
        size_t nl;

        if (!km_scan_u64(&p, eol, &major)) {
            const char *q = p;

            if (km_scan_word(&q, eol, &name, &nl))
                bad++; /* a non-blank line that does not start with a number */
            p = eol + 1;
            continue;
        }
        memset(&d, 0, sizeof(d));
        if (!km_scan_u64(&p, eol, &minor) || !km_scan_word(&p, eol, &name, &nl) ||
            nl >= sizeof(d.name) || major > UINT32_MAX || minor > UINT32_MAX) {
            bad++;
            p = eol + 1;
            continue;
        }
        d.major = (unsigned)major;
        d.minor = (unsigned)minor;
        memcpy(d.name, name, nl);
        d.name[nl] = '\0';
        while (d.nstats < KM_DISK_NSTATS && km_scan_u64(&p, eol, &d.v[d.nstats]))
            d.nstats++;
        if ((d.nstats != 11 && d.nstats != 15 && d.nstats != 17) ||
            km_scan_u64(&p, eol, &extra)) {
            /* Unknown layout: a future kernel with more columns keeps its first 17. */
            if (d.nstats == KM_DISK_NSTATS) {
                if (fn)
                    fn(ud, &d);
            } else {
                bad++;
            }
            p = eol + 1;
            continue;
        }
        if (fn)
            fn(ud, &d);
        p = eol + 1;
    }
    return bad;
}
