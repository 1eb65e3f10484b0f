/*
 * stat — parser of /proc/stat (see procfs.h).
 *
 *   cpu  1787 0 996 37644 304 0 24 7 0 0        aggregate of all CPUs, USER_HZ ticks
 *   cpu0 528 0 359 19489 7 0 6 1 0 0            one line per online CPU
 *   intr 108623 0 0 …                           total first, then per IRQ
 *   ctxt 236050
 *   btime 1763784900
 *   processes 3011                              forks since boot
 *   procs_running 2
 *   procs_blocked 0
 *   softirq 79313 0 …
 *
 * A cpu line needs at least the four columns every kernel since 2.4 has (user nice
 * system idle); later columns are taken when present, and anything that is not a column
 * makes the line malformed. Unknown keys are ignored (newer kernels add lines); known
 * keys that fail to parse count as malformed.
 */
#include "procfs.h"

#include <string.h>

static bool key_is(const char *k, size_t kl, const char *want)
{
    return kl == strlen(want) && memcmp(k, want, kl) == 0;
}

static int parse_cpu_line(const char *key, size_t kl, const char *p, const char *end,
                          km_stat_cpu_fn fn, void *ud)
{
    struct km_stat_cpu c;

    memset(&c, 0, sizeof(c));
    if (kl == 3) {
        c.cpu = -1;
    } else {
        const char *q = key + 3;
        uint64_t id;

        if (!km_scan_u64(&q, key + kl, &id) || q != key + kl || id > 1u << 20)
            return 1;
        c.cpu = (int)id;
    }
    while (c.nfields < KM_CPU_NMODES && km_scan_u64(&p, end, &c.ticks[c.nfields]))
        c.nfields++;
    /* Fewer than the four columns of every kernel, or text where a number belongs
     * (including a number too large for 64 bits): the whole line is unusable. */
    if (c.nfields < 4 || !km_rest_blank(p, end))
        return 1;
    if (fn)
        fn(ud, &c);
    return 0;
}

int km_parse_stat(const char *s, size_t n, struct km_stat *out, km_stat_cpu_fn fn, void *ud)
{
    const char *p = s, *end = n ? s + n : s;
    int bad = 0;

    memset(out, 0, sizeof(*out));
    while (p < end) {
        const char *eol = km_line_end(p, end), *key;
        size_t kl;
        uint64_t v;
        unsigned bit = 0;
        uint64_t *slot = NULL;

        if (km_has_nul(p, (size_t)(eol - p))) {
            bad++;
            p = km_next_line(eol, end);
            continue;
        }
        if (!km_scan_word(&p, eol, &key, &kl)) {
            p = km_next_line(eol, end);
            continue; /* blank line */
        }
        /* "cpu" or "cpu<N>"; other keys starting with cpu are someone else's. */
        if (kl >= 3 && memcmp(key, "cpu", 3) == 0 &&
            (kl == 3 || (key[3] >= '0' && key[3] <= '9'))) {
            bad += parse_cpu_line(key, kl, p, eol, fn, ud);
            p = km_next_line(eol, end);
            continue;
        }
        if (key_is(key, kl, "ctxt")) {
            bit = KM_STAT_CTXT;
            slot = &out->ctxt;
        } else if (key_is(key, kl, "btime")) {
            bit = KM_STAT_BTIME;
            slot = &out->btime;
        } else if (key_is(key, kl, "processes")) {
            bit = KM_STAT_PROCESSES;
            slot = &out->processes;
        } else if (key_is(key, kl, "procs_running")) {
            bit = KM_STAT_PROCS_RUNNING;
            slot = &out->procs_running;
        } else if (key_is(key, kl, "procs_blocked")) {
            bit = KM_STAT_PROCS_BLOCKED;
            slot = &out->procs_blocked;
        } else if (key_is(key, kl, "intr")) {
            bit = KM_STAT_INTR;
            slot = &out->intr;
        } else if (key_is(key, kl, "softirq")) {
            bit = KM_STAT_SOFTIRQ;
            slot = &out->softirq;
        }
        if (slot) {
            if (km_scan_u64(&p, eol, &v)) {
                *slot = v;
                out->have |= bit;
            } else {
                bad++;
            }
        }
        p = km_next_line(eol, end);
    }
    return bad;
}
