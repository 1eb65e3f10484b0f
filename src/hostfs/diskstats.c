/*
 * diskstats — parser of /proc/diskstats (see procfs.h and the kernel's
 * Documentation/admin-guide/iostats.rst).
 *
 *    254       0 vda 28399 5654 1919074 6153 7586 6663 549624 1713 0 4024 8165 4295 21 113416 251
 * 1319 47
 *
 * major minor name, then 11 statistics (all kernels since 2.6), 15 (4.18+: discards) or
 * 17 (5.5+: flushes) — 14, 18 and 20 fields in all. Lines with another count (the
 * 7-field partition lines of 2.6.0–2.6.24) or with text after the numbers are
 * malformed here; numeric columns past the 17th (a future kernel) are ignored.
 */
#include "procfs.h"

#include <string.h>

int km_parse_diskstats(const char *s, size_t n, km_diskstat_fn fn, void *ud)
{
    const char *p = s, *end = n ? s + n : s;
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
            p = km_next_line(eol, end);
            continue;
        }
        memset(&d, 0, sizeof(d));
        if (!km_scan_u64(&p, eol, &minor) || !km_scan_word(&p, eol, &name, &nl) ||
            nl >= sizeof(d.name) || major > UINT32_MAX || minor > UINT32_MAX) {
            bad++;
            p = km_next_line(eol, end);
            continue;
        }
        d.major = (unsigned)major;
        d.minor = (unsigned)minor;
        memcpy(d.name, name, nl);
        d.name[nl] = '\0';
        while (d.nstats < KM_DISK_NSTATS && km_scan_u64(&p, eol, &d.v[d.nstats]))
            d.nstats++;
        /* A future kernel may append columns: keep the 17 we know. */
        if (d.nstats == KM_DISK_NSTATS) {
            while (km_scan_u64(&p, eol, &extra))
                ;
        }
        if ((d.nstats != 11 && d.nstats != 15 && d.nstats != 17) || !km_rest_blank(p, eol) ||
            km_has_nul(d.name, nl)) {
            bad++;
            p = km_next_line(eol, end);
            continue;
        }
        if (fn)
            fn(ud, &d);
        p = km_next_line(eol, end);
    }
    return bad;
}
