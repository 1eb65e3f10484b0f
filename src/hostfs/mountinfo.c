/*
 * mountinfo — parser of /proc/<pid>/mountinfo (see procfs.h and proc(5)).
 *
 *   36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
 *   (1)(2) (3)   (4)   (5)      (6)      (7…)  (8) (9)    (10)         (11)
 *
 * mount id, parent id, major:minor, root, mount point, per-mount options, zero or more
 * optional fields, "-", filesystem type, source, superblock options. Paths escape
 * space, tab, newline and backslash as \040 \011 \012 \134; we decode them.
 */
#include "procfs.h"

#include <string.h>

/* Decode the kernel's octal escapes of w[0..wl) into out (size KM_MOUNT_FIELD_MAX). */
static bool decode(const char *w, size_t wl, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < wl; i++) {
        if (o + 1 >= KM_MOUNT_FIELD_MAX)
            return false;
        if (w[i] == '\\' && i + 3 < wl && w[i + 1] >= '0' && w[i + 1] <= '3' && w[i + 2] >= '0' &&
            w[i + 2] <= '7' && w[i + 3] >= '0' && w[i + 3] <= '7') {
            char c = (char)((w[i + 1] - '0') * 64 + (w[i + 2] - '0') * 8 + (w[i + 3] - '0'));

            if (c == '\0')
                return false; /* a path cannot hold NUL */
            out[o++] = c;
            i += 3;
        } else {
            out[o++] = w[i];
        }
    }
    out[o] = '\0';
    return true;
}

int km_parse_mountinfo(const char *s, size_t n, km_mount_fn fn, void *ud)
{
    char root[KM_MOUNT_FIELD_MAX], mp[KM_MOUNT_FIELD_MAX], opts[KM_MOUNT_FIELD_MAX];
    char fstype[KM_MOUNT_FIELD_MAX], source[KM_MOUNT_FIELD_MAX], sopts[KM_MOUNT_FIELD_MAX];
    const char *p = s, *end = n ? s + n : s;
    int bad = 0;

    while (p < end) {
        const char *eol = km_line_end(p, end), *w, *colon;
        struct km_mount m;
        uint64_t id, parent, major, minor;
        size_t wl;
        bool ok = true, sep = false;

        if (km_rest_blank(p, eol)) {
            p = km_next_line(eol, end);
            continue;
        }
        if (km_has_nul(p, (size_t)(eol - p))) {
            bad++;
            p = km_next_line(eol, end);
            continue;
        }
        ok = km_scan_u64(&p, eol, &id) && km_scan_u64(&p, eol, &parent) &&
             km_scan_word(&p, eol, &w, &wl);
        if (ok) {
            const char *q = w;

            colon = memchr(w, ':', wl);
            ok = colon && km_scan_u64(&q, colon, &major) && q == colon;
            if (ok) {
                q = colon + 1;
                ok = km_scan_u64(&q, w + wl, &minor) && q == w + wl && major <= UINT32_MAX &&
                     minor <= UINT32_MAX;
            }
        }
        ok = ok && km_scan_word(&p, eol, &w, &wl) && decode(w, wl, root);
        ok = ok && km_scan_word(&p, eol, &w, &wl) && decode(w, wl, mp);
        ok = ok && km_scan_word(&p, eol, &w, &wl) && decode(w, wl, opts);
        while (ok && !sep) {
            ok = km_scan_word(&p, eol, &w, &wl);
            sep = ok && wl == 1 && w[0] == '-';
        }
        ok = ok && km_scan_word(&p, eol, &w, &wl) && decode(w, wl, fstype);
        ok = ok && km_scan_word(&p, eol, &w, &wl) && decode(w, wl, source);
        if (ok) {
            /* Superblock options may be missing on very old kernels. */
            if (km_scan_word(&p, eol, &w, &wl))
                ok = decode(w, wl, sopts);
            else
                sopts[0] = '\0';
        }
        if (!ok) {
            bad++;
            p = km_next_line(eol, end);
            continue;
        }
        m.major = (unsigned)major;
        m.minor = (unsigned)minor;
        m.root = root;
        m.mountpoint = mp;
        m.options = opts;
        m.fstype = fstype;
        m.source = source;
        m.super_options = sopts;
        if (fn)
            fn(ud, &m);
        p = km_next_line(eol, end);
    }
    return bad;
}
