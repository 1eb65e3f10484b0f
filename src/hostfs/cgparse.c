/*
 * cgparse — cgroup file and kubelet name parsers (see cgparse.h).
 */
#include "cgparse.h"

#include "hostfs/procfs.h"

#include <stdio.h>
#include <string.h>

/* ---- files ------------------------------------------------------------------------- */

int km_cg_parse_flat(const char *s, size_t n, const char *const *keys, size_t nkeys, uint64_t *vals,
                     uint64_t *found)
{
    const char *p = s, *end = n ? s + n : s;
    int bad = 0;

    *found = 0;
    if (km_has_nul(s, n))
        return 1;
    while (p < end) {
        const char *eol = km_line_end(p, end), *w;
        size_t wl;
        uint64_t v;

        if (!km_scan_word(&p, eol, &w, &wl)) {
            p = km_next_line(eol, end);
            continue; /* blank line */
        }
        if (!km_scan_u64(&p, eol, &v) || !km_rest_blank(p, eol)) {
            bad++;
            p = km_next_line(eol, end);
            continue;
        }
        for (size_t i = 0; i < nkeys && i < 64; i++) {
            if (strlen(keys[i]) == wl && memcmp(keys[i], w, wl) == 0) {
                vals[i] = v;
                *found |= UINT64_C(1) << i;
                break;
            }
        }
        p = km_next_line(eol, end);
    }
    return bad;
}

/* The input's single word, with nothing but white space around it. */
static bool one_word(const char *s, size_t n, const char **w, size_t *wl)
{
    const char *p = s, *end = n ? s + n : s, *eol = km_line_end(p, end);

    if (km_has_nul(s, n) || !km_scan_word(&p, eol, w, wl) || !km_rest_blank(p, eol))
        return false;
    for (p = eol; p < end; p++) {
        if (*p != '\n' && *p != ' ' && *p != '\t')
            return false;
    }
    return true;
}

int km_cg_parse_value(const char *s, size_t n, uint64_t *v, bool *is_max)
{
    const char *w, *p;
    size_t wl;

    *is_max = false;
    if (!one_word(s, n, &w, &wl))
        return 1;
    if (wl == 3 && memcmp(w, "max", 3) == 0) {
        *is_max = true;
        *v = UINT64_MAX;
        return 0;
    }
    p = w;
    return km_scan_u64(&p, w + wl, v) && p == w + wl ? 0 : 1;
}

int km_cg_parse_signed(const char *s, size_t n, int64_t *v)
{
    const char *w, *p;
    size_t wl;

    if (!one_word(s, n, &w, &wl))
        return 1;
    p = w;
    return km_scan_i64(&p, w + wl, v) && p == w + wl ? 0 : 1;
}

int km_cg_parse_cpu_max(const char *s, size_t n, bool *has_quota, uint64_t *quota, uint64_t *period)
{
    const char *p = s, *end = n ? s + n : s, *eol = km_line_end(p, end), *w;
    size_t wl;

    *has_quota = false;
    if (km_has_nul(s, n) || !km_scan_word(&p, eol, &w, &wl))
        return 1;
    if (wl == 3 && memcmp(w, "max", 3) == 0) {
        *quota = 0;
    } else {
        const char *q = w;

        if (!km_scan_u64(&q, w + wl, quota) || q != w + wl)
            return 1;
        *has_quota = true;
    }
    if (!km_scan_u64(&p, eol, period) || !km_rest_blank(p, eol)) {
        *has_quota = false;
        return 1;
    }
    return 0;
}

/* "MAJ:MIN" at *p. */
static bool scan_devno(const char **p, const char *end, unsigned *major, unsigned *minor)
{
    const char *q = *p;
    uint64_t a, b;

    while (q < end && (*q == ' ' || *q == '\t'))
        q++;
    if (!km_scan_u64(&q, end, &a) || q >= end || *q != ':' || a > 0xfffff)
        return false;
    q++;
    if (q >= end || *q < '0' || *q > '9' || !km_scan_u64(&q, end, &b) || b > 0xfffff)
        return false;
    if (q < end && *q != ' ' && *q != '\t')
        return false;
    *major = (unsigned)a;
    *minor = (unsigned)b;
    *p = q;
    return true;
}

int km_cg_parse_io_stat(const char *s, size_t n, km_cg_io_fn fn, void *ud)
{
    const char *p = s, *end = n ? s + n : s;
    int bad = 0;

    if (km_has_nul(s, n))
        return 1;
    while (p < end) {
        const char *eol = km_line_end(p, end), *w;
        struct km_cg_io io = { 0 };
        size_t wl;
        bool ok;

        if (km_rest_blank(p, eol)) {
            p = km_next_line(eol, end);
            continue;
        }
        ok = scan_devno(&p, eol, &io.major, &io.minor);
        while (ok && km_scan_word(&p, eol, &w, &wl)) {
            const char *eq = memchr(w, '=', wl), *v;
            uint64_t x;

            if (!eq) {
                ok = false;
                break;
            }
            v = eq + 1;
            if (!km_scan_u64(&v, w + wl, &x) || v != w + wl) {
                ok = false;
                break;
            }
#define KEY(k) ((size_t)(eq - w) == sizeof(k) - 1 && memcmp(w, k, sizeof(k) - 1) == 0)
            if (KEY("rbytes"))
                io.rbytes = x;
            else if (KEY("wbytes"))
                io.wbytes = x;
            else if (KEY("rios"))
                io.rios = x;
            else if (KEY("wios"))
                io.wios = x;
#undef KEY
        }
        if (ok)
            fn(ud, &io);
        else
            bad++;
        p = km_next_line(eol, end);
    }
    return bad;
}

int km_cg_parse_blkio(const char *s, size_t n, bool ops, km_cg_io_fn fn, void *ud)
{
    const char *p = s, *end = n ? s + n : s;
    struct km_cg_io cur = { 0 };
    bool have = false;
    int bad = 0;

    if (km_has_nul(s, n))
        return 1;
    while (p < end) {
        const char *eol = km_line_end(p, end), *w, *q = p;
        unsigned major, minor;
        size_t wl;
        uint64_t v;

        if (km_rest_blank(p, eol)) {
            p = km_next_line(eol, end);
            continue;
        }
        if (!scan_devno(&q, eol, &major, &minor)) {
            /* The closing "Total N" (or a kernel's other summary lines). */
            if (!km_scan_word(&q, eol, &w, &wl) || !km_scan_u64(&q, eol, &v) ||
                !km_rest_blank(q, eol))
                bad++;
            p = km_next_line(eol, end);
            continue;
        }
        if (!km_scan_word(&q, eol, &w, &wl) || !km_scan_u64(&q, eol, &v) ||
            !km_rest_blank(q, eol)) {
            bad++;
            p = km_next_line(eol, end);
            continue;
        }
        if (have && (cur.major != major || cur.minor != minor)) {
            fn(ud, &cur);
            have = false;
        }
        if (!have) {
            memset(&cur, 0, sizeof(cur));
            cur.major = major;
            cur.minor = minor;
            have = true;
        }
        if (wl == 4 && memcmp(w, "Read", 4) == 0)
            *(ops ? &cur.rios : &cur.rbytes) = v;
        else if (wl == 5 && memcmp(w, "Write", 5) == 0)
            *(ops ? &cur.wios : &cur.wbytes) = v;
        p = km_next_line(eol, end);
    }
    if (have)
        fn(ud, &cur);
    return bad;
}

/* ---- names ----------------------------------------------------------------------------- */

static bool is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return n > 0;
}

static bool has_suffix(const char *s, size_t n, const char *suf)
{
    size_t k = strlen(suf);

    return n >= k && memcmp(s + n - k, suf, k) == 0;
}

static bool has_prefix(const char *s, const char *pre)
{
    return strncmp(s, pre, strlen(pre)) == 0;
}

bool km_kube_qos_dir(const char *name, enum km_qos *qos)
{
    if (strcmp(name, "kubepods-burstable.slice") == 0 || strcmp(name, "burstable") == 0)
        *qos = KM_QOS_BURSTABLE;
    else if (strcmp(name, "kubepods-besteffort.slice") == 0 || strcmp(name, "besteffort") == 0)
        *qos = KM_QOS_BESTEFFORT;
    else
        return false;
    return true;
}

/* A pod uid: a UUID, or the 32-hex hash of a static pod's manifest. */
static bool copy_uid(const char *s, size_t n, bool underscores, char uid[KM_POD_UID_MAX])
{
    if (n == 0 || n >= KM_POD_UID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (c == (underscores ? '_' : '-'))
            c = '-';
        else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
        uid[i] = c;
    }
    uid[n] = '\0';
    return n == 36 || n == 32;
}

bool km_kube_pod_dir(const char *name, char uid[KM_POD_UID_MAX])
{
    static const char *const systemd[] = { "kubepods-pod", "kubepods-burstable-pod",
                                           "kubepods-besteffort-pod" };
    size_t n = strlen(name);

    if (has_suffix(name, n, ".slice")) {
        for (size_t i = 0; i < sizeof(systemd) / sizeof(systemd[0]); i++) {
            size_t k = strlen(systemd[i]);

            if (has_prefix(name, systemd[i]))
                return n > k + 6 && copy_uid(name + k, n - k - 6, true, uid);
        }
        return false;
    }
    return has_prefix(name, "pod") && copy_uid(name + 3, n - 3, false, uid);
}

bool km_kube_container_dir(const char *name, enum km_runtime *rt, char id[KM_CONTAINER_ID_MAX],
                           bool *conmon)
{
    static const struct {
        const char *prefix;
        enum km_runtime rt;
        bool conmon;
    } kinds[] = {
        { "cri-containerd-", KM_RT_CONTAINERD, false },
        { "crio-conmon-", KM_RT_CRIO, true },
        { "crio-", KM_RT_CRIO, false },
        { "docker-", KM_RT_DOCKER, false },
    };
    size_t n = strlen(name);

    *conmon = false;
    if (n == 64 && is_hex(name, 64)) {
        memcpy(id, name, 65);
        *rt = KM_RT_PLAIN;
        return true;
    }
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        size_t k = strlen(kinds[i].prefix), len;

        if (!has_prefix(name, kinds[i].prefix))
            continue;
        len = n - k;
        if (has_suffix(name, n, ".scope"))
            len -= 6;
        if (len != 64 || !is_hex(name + k, 64))
            return false;
        memcpy(id, name + k, 64);
        id[64] = '\0';
        *rt = kinds[i].rt;
        *conmon = kinds[i].conmon;
        return true;
    }
    return false;
}

/* Split "a_b_c" into three non-empty parts at its only two underscores. */
static bool split3(const char *s, size_t n, const char *part[3], size_t len[3])
{
    const char *u1 = memchr(s, '_', n), *u2;

    if (!u1)
        return false;
    u2 = memchr(u1 + 1, '_', (size_t)(s + n - u1 - 1));
    if (!u2 || memchr(u2 + 1, '_', (size_t)(s + n - u2 - 1)))
        return false;
    part[0] = s;
    len[0] = (size_t)(u1 - s);
    part[1] = u1 + 1;
    len[1] = (size_t)(u2 - u1 - 1);
    part[2] = u2 + 1;
    len[2] = (size_t)(s + n - u2 - 1);
    return len[0] && len[1] && len[2];
}

static bool copy_part(char *out, size_t size, const char *s, size_t n)
{
    if (n >= size)
        return false;
    memcpy(out, s, n);
    out[n] = '\0';
    return true;
}

bool km_kube_pod_log_dir(const char *name, char *ns, char *pod, char *uid, size_t size)
{
    const char *part[3];
    size_t len[3];

    return split3(name, strlen(name), part, len) && copy_part(ns, size, part[0], len[0]) &&
           copy_part(pod, size, part[1], len[1]) && copy_part(uid, size, part[2], len[2]);
}

bool km_kube_container_log(const char *name, char *pod, char *ns, char *container, char *id,
                           size_t size)
{
    size_t n = strlen(name);
    const char *part[3];
    size_t len[3];

    /* <pod>_<namespace>_<container>-<64 hex>.log */
    if (!has_suffix(name, n, ".log") || !split3(name, n - 4, part, len) || len[2] < 66)
        return false;
    if (part[2][len[2] - 65] != '-' || !is_hex(part[2] + len[2] - 64, 64))
        return false;
    return copy_part(pod, size, part[0], len[0]) && copy_part(ns, size, part[1], len[1]) &&
           copy_part(container, size, part[2], len[2] - 65) &&
           copy_part(id, size, part[2] + len[2] - 64, 64);
}

const char *km_qos_name(enum km_qos q)
{
    switch (q) {
    case KM_QOS_GUARANTEED:
        return "Guaranteed";
    case KM_QOS_BURSTABLE:
        return "Burstable";
    case KM_QOS_BESTEFFORT:
        return "BestEffort";
    default:
        return "";
    }
}

const char *km_runtime_name(enum km_runtime r)
{
    switch (r) {
    case KM_RT_CONTAINERD:
        return "containerd";
    case KM_RT_CRIO:
        return "cri-o";
    case KM_RT_DOCKER:
        return "docker";
    default:
        return "";
    }
}
