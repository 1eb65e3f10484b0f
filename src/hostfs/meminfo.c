/*
 * meminfo — parser of /proc/meminfo (see procfs.h).
 *
 *   MemTotal:       24684092 kB
 *   HugePages_Total:       0
 *   Active(anon):     123456 kB
 *
 * Values with a kB unit are reported in bytes (×1024, as node-exporter does); values
 * without a unit (HugePages_*) are reported as they are.
 */
#include "procfs.h"

#include <string.h>

int km_parse_meminfo(const char *s, size_t n, km_meminfo_fn fn, void *ud)
{
    const char *p = s, *end = n ? s + n : s;
    int bad = 0;

    while (p < end) {
        const char *eol = km_line_end(p, end), *colon, *unit;
        size_t ulen;
        uint64_t v;
        bool has_unit = false;

        if (km_rest_blank(p, eol)) {
            p = km_next_line(eol, end);
            continue;
        }
        colon = memchr(p, ':', (size_t)(eol - p));
        if (km_has_nul(p, (size_t)(eol - p)))
            colon = NULL; /* the kernel never writes NUL: malformed */
        if (!colon || colon == p) {
            bad++;
            p = km_next_line(eol, end);
            continue;
        }
        {
            const char *q = colon + 1;

            if (!km_scan_u64(&q, eol, &v)) {
                bad++;
                p = km_next_line(eol, end);
                continue;
            }
            if (km_scan_word(&q, eol, &unit, &ulen)) {
                if (ulen == 2 && (memcmp(unit, "kB", 2) == 0 || memcmp(unit, "KB", 2) == 0)) {
                    if (v > UINT64_MAX / 1024) {
                        bad++;
                        p = km_next_line(eol, end);
                        continue;
                    }
                    v *= 1024;
                    has_unit = true;
                    if (!km_rest_blank(q, eol)) {
                        bad++;
                        p = km_next_line(eol, end);
                        continue;
                    }
                } else {
                    bad++;
                    p = km_next_line(eol, end);
                    continue;
                }
            }
        }
        if (fn)
            fn(ud, p, (size_t)(colon - p), v, has_unit);
        p = km_next_line(eol, end);
    }
    return bad;
}
