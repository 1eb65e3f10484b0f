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
    const char *p = s, *end = s + n;
    int bad = 0;

    while (p < end) {
        const char *eol = km_line_end(p, end), *colon, *unit;
        size_t ulen;
        uint64_t v;
        bool has_unit = false;

        if (p == eol) {
            p = eol + 1;
            continue;
        }
        colon = memchr(p, ':', (size_t)(eol - p));
        if (!colon || colon == p) {
            bad++;
            p = eol + 1;
            continue;
        }
        {
            const char *q = colon + 1;

            if (!km_scan_u64(&q, eol, &v)) {
                bad++;
                p = eol + 1;
                continue;
            }
            if (km_scan_word(&q, eol, &unit, &ulen)) {
                if (ulen == 2 && (memcmp(unit, "kB", 2) == 0 || memcmp(unit, "KB", 2) == 0)) {
                    if (v > UINT64_MAX / 1024) {
                        bad++;
                        p = eol + 1;
                        continue;
                    }
                    v *= 1024;
                    has_unit = true;
                } else {
                    bad++;
                    p = eol + 1;
                    continue;
                }
            }
        }
        if (fn)
            fn(ud, p, (size_t)(colon - p), v, has_unit);
        p = eol + 1;
    }
    return bad;
}
