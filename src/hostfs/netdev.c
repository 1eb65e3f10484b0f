/*
 * netdev — parser of /proc/net/dev (see procfs.h).
 *
 *   Inter-|   Receive                                                |  Transmit
 *    face |bytes    packets errs drop fifo frame compressed multicast|bytes …
 *       lo:    3267      29    0    0    0     0          0         0     3267 …
 *
 * Two header lines, then "name: 16 counters". The name ends at the first ':' (the
 * kernel forbids ':' in interface names since 2.6); counters may touch the colon.
 */
#include "procfs.h"

#include <string.h>

int km_parse_netdev(const char *s, size_t n, km_netdev_fn fn, void *ud)
{
    const char *p = s, *end = n ? s + n : s;
    int bad = 0;

    while (p < end) {
        const char *eol = km_line_end(p, end), *colon, *name = p;
        struct km_netdev d;
        size_t nl;
        int k;

        if (km_rest_blank(p, eol)) {
            p = km_next_line(eol, end);
            continue;
        }
        colon = memchr(p, ':', (size_t)(eol - p));
        if (!colon) {
            /* The two header lines have '|' and no ':'; anything else is malformed. */
            if (!memchr(p, '|', (size_t)(eol - p)))
                bad++;
            p = km_next_line(eol, end);
            continue;
        }
        while (name < colon && (*name == ' ' || *name == '\t'))
            name++;
        nl = (size_t)(colon - name);
        if (nl == 0 || nl >= sizeof(d.name) || km_has_nul(p, (size_t)(eol - p))) {
            bad++;
            p = km_next_line(eol, end);
            continue;
        }
        memset(&d, 0, sizeof(d));
        memcpy(d.name, name, nl);
        d.name[nl] = '\0';
        p = colon + 1;
        for (k = 0; k < KM_NETDEV_NSTATS; k++) {
            if (!km_scan_u64(&p, eol, &d.v[k]))
                break;
        }
        if (k != KM_NETDEV_NSTATS || !km_rest_blank(p, eol)) {
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
