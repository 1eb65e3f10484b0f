/*
 * Unit tests: the /proc parsers (agent/procfs). Every value a parser reports from a
 * fixture under tests/fixtures/proc is checked: against the file itself, parsed again
 * here with sscanf/strtoull, for the files captured from a real machine (so the test
 * stays right if they are captured again), and against literal numbers for the files
 * written by hand. Edge cases (malformed, truncated, huge, escaped input) are inline.
 *
 * Parsers are always given exactly the bytes of the input in a heap buffer of that size,
 * never a NUL-terminated string, so the sanitizer build catches any read past the end.
 */
#include "hostfs/procfs.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define U64MAX_STR    "18446744073709551615"
#define U64MAX_P1_STR "18446744073709551616"
#define NAME8         "nnnnnnnn"
#define NAME63        NAME8 NAME8 NAME8 NAME8 NAME8 NAME8 NAME8 "nnnnnnn"
#define NAME64        NAME63 "n"

/* ---- helpers ------------------------------------------------------------------------ */

/* A heap copy of exactly n bytes (no NUL after them), as a parser must cope with. */
static char *exact(const char *s, size_t n)
{
    /* malloc(0) gives a unique pointer to no bytes under glibc and ASan: any read of
     * an empty input is then caught too. */
    char *p = malloc(n);

    if (!p && n == 0)
        p = malloc(1);
    assert_non_null(p);
    if (n)
        memcpy(p, s, n);
    return p;
}

/* The bytes of tests/fixtures/proc/<rel>, in a buffer of exactly that size. */
static char *read_fixture(const char *rel, size_t *len)
{
    char path[1024], chunk[4096];
    char *buf = NULL;
    size_t n = 0, got;
    FILE *f;

    snprintf(path, sizeof(path), "%s/proc/%s", KMON_FIXTURES, rel);
    f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open fixture %s", path);
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        char *nb = realloc(buf, n + got);

        assert_non_null(nb);
        buf = nb;
        memcpy(buf + n, chunk, got);
        n += got;
    }
    fclose(f);
    assert_true(n > 0);
    *len = n;
    return buf;
}

/* A NUL-terminated copy, for the test's own parsing with sscanf/strtoull. */
static char *cstr(const char *s, size_t n)
{
    char *p = malloc(n + 1);

    assert_non_null(p);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* Exact comparison: the parsers and sscanf both round with strtod, and a C literal is
 * rounded the same way, so the doubles must be identical. */
#define assert_double_eq(a, b)                                                                     \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (a_ != b_)                                                                              \
            fail_msg("%s == %.17g, expected %.17g", #a, a_, b_);                                   \
    } while (0)

/* Reads the next unsigned decimal at *q with strtoull; false when there is none. */
static bool next_u64(char **q, uint64_t *v)
{
    char *e;

    while (**q == ' ' || **q == '\t')
        (*q)++;
    if (**q < '0' || **q > '9')
        return false;
    *v = strtoull(*q, &e, 10);
    *q = e;
    return true;
}

/* ---- recorders ---------------------------------------------------------------------- */

#define MAX_REC 128

struct cpu_rec {
    int n;
    struct km_stat_cpu c[MAX_REC];
};

static void on_cpu(void *ud, const struct km_stat_cpu *c)
{
    struct cpu_rec *r = ud;

    assert_true(r->n < MAX_REC);
    r->c[r->n++] = *c;
}

struct mem_entry {
    char key[64];
    uint64_t value;
    bool has_unit;
};

struct mem_rec {
    int n;
    struct mem_entry e[MAX_REC];
};

static void on_mem(void *ud, const char *key, size_t keylen, uint64_t value, bool has_unit)
{
    struct mem_rec *r = ud;

    assert_true(r->n < MAX_REC);
    assert_true(keylen > 0 && keylen < sizeof(r->e[0].key));
    memcpy(r->e[r->n].key, key, keylen);
    r->e[r->n].key[keylen] = '\0';
    r->e[r->n].value = value;
    r->e[r->n].has_unit = has_unit;
    r->n++;
}

struct disk_rec {
    int n;
    struct km_diskstat d[MAX_REC];
};

static void on_disk(void *ud, const struct km_diskstat *d)
{
    struct disk_rec *r = ud;

    assert_true(r->n < MAX_REC);
    r->d[r->n++] = *d;
}

struct net_rec {
    int n;
    struct km_netdev d[MAX_REC];
};

static void on_net(void *ud, const struct km_netdev *d)
{
    struct net_rec *r = ud;

    assert_true(r->n < MAX_REC);
    r->d[r->n++] = *d;
}

/* The parser's strings live in its stack frame: keep copies. */
struct mount_entry {
    unsigned major, minor;
    char *root, *mountpoint, *options, *fstype, *source, *super_options;
};

struct mount_rec {
    int n;
    struct mount_entry m[MAX_REC];
};

static char *xstrdup(const char *s)
{
    char *p = strdup(s);

    assert_non_null(p);
    return p;
}

static void on_mount(void *ud, const struct km_mount *m)
{
    struct mount_rec *r = ud;
    struct mount_entry *e;

    assert_true(r->n < MAX_REC);
    e = &r->m[r->n++];
    e->major = m->major;
    e->minor = m->minor;
    e->root = xstrdup(m->root);
    e->mountpoint = xstrdup(m->mountpoint);
    e->options = xstrdup(m->options);
    e->fstype = xstrdup(m->fstype);
    e->source = xstrdup(m->source);
    e->super_options = xstrdup(m->super_options);
}

static void mount_entry_free(struct mount_entry *e)
{
    free(e->root);
    free(e->mountpoint);
    free(e->options);
    free(e->fstype);
    free(e->source);
    free(e->super_options);
}

static void mount_rec_free(struct mount_rec *r)
{
    for (int i = 0; i < r->n; i++)
        mount_entry_free(&r->m[i]);
    r->n = 0;
}

/* Parsers over literal text, each through an exact-size heap copy. */
static int stat_of(const char *text, struct km_stat *st, struct cpu_rec *r)
{
    size_t n = strlen(text);
    char *b = exact(text, n);
    int bad;

    memset(r, 0, sizeof(*r));
    bad = km_parse_stat(b, n, st, on_cpu, r);
    free(b);
    return bad;
}

static int meminfo_of(const char *text, struct mem_rec *r)
{
    size_t n = strlen(text);
    char *b = exact(text, n);
    int bad;

    memset(r, 0, sizeof(*r));
    bad = km_parse_meminfo(b, n, on_mem, r);
    free(b);
    return bad;
}

static int diskstats_of(const char *text, struct disk_rec *r)
{
    size_t n = strlen(text);
    char *b = exact(text, n);
    int bad;

    memset(r, 0, sizeof(*r));
    bad = km_parse_diskstats(b, n, on_disk, r);
    free(b);
    return bad;
}

static int netdev_of(const char *text, struct net_rec *r)
{
    size_t n = strlen(text);
    char *b = exact(text, n);
    int bad;

    memset(r, 0, sizeof(*r));
    bad = km_parse_netdev(b, n, on_net, r);
    free(b);
    return bad;
}

static int mountinfo_of(const char *text, struct mount_rec *r)
{
    size_t n = strlen(text);
    char *b = exact(text, n);
    int bad;

    memset(r, 0, sizeof(*r));
    bad = km_parse_mountinfo(b, n, on_mount, r);
    free(b);
    return bad;
}

static int pressure_of(const char *text, struct km_pressure *p)
{
    size_t n = strlen(text);
    char *b = exact(text, n);
    int bad = km_parse_pressure(b, n, p);

    free(b);
    return bad;
}

static int pidstat_of(const char *text, struct km_pidstat *ps)
{
    size_t n = strlen(text);
    char *b = exact(text, n);
    int bad = km_parse_pidstat(b, n, ps);

    free(b);
    return bad;
}

static int filenr_of(const char *text, struct km_filenr *f)
{
    size_t n = strlen(text);
    char *b = exact(text, n);
    int bad = km_parse_filenr(b, n, f);

    free(b);
    return bad;
}

/* ---- checkers ----------------------------------------------------------------------- */

static void check_cpu(const struct km_stat_cpu *c, int cpu, unsigned nfields,
                      const uint64_t ticks[KM_CPU_NMODES])
{
    assert_int_equal(c->cpu, cpu);
    assert_int_equal(c->nfields, nfields);
    for (int i = 0; i < KM_CPU_NMODES; i++) {
        if (c->ticks[i] != ticks[i])
            fail_msg("cpu%d column %d: %" PRIu64 ", expected %" PRIu64, cpu, i, c->ticks[i],
                     ticks[i]);
    }
}

static void check_disk(const struct km_diskstat *d, unsigned major, unsigned minor,
                       const char *name, unsigned nstats, const uint64_t v[KM_DISK_NSTATS])
{
    assert_int_equal(d->major, major);
    assert_int_equal(d->minor, minor);
    assert_string_equal(d->name, name);
    assert_int_equal(d->nstats, nstats);
    for (int i = 0; i < KM_DISK_NSTATS; i++) {
        if (d->v[i] != v[i])
            fail_msg("%s field %d: %" PRIu64 ", expected %" PRIu64, name, i + 1, d->v[i], v[i]);
    }
}

static void check_netdev(const struct km_netdev *d, const char *name,
                         const uint64_t v[KM_NETDEV_NSTATS])
{
    assert_string_equal(d->name, name);
    for (int i = 0; i < KM_NETDEV_NSTATS; i++) {
        if (d->v[i] != v[i])
            fail_msg("%s counter %d: %" PRIu64 ", expected %" PRIu64, name, i, d->v[i], v[i]);
    }
}

static void check_pressure_line(const struct km_pressure_line *l, bool present, double avg10,
                                double avg60, double avg300, uint64_t total)
{
    assert_int_equal(l->present, present);
    assert_double_eq(l->avg10, avg10);
    assert_double_eq(l->avg60, avg60);
    assert_double_eq(l->avg300, avg300);
    assert_int_equal(l->total_us, total);
}

/* ---- scan helpers -------------------------------------------------------------------- */

static void test_scan_u64(void **state)
{
    const char *s = "  42\t" U64MAX_STR " " U64MAX_P1_STR " 99999999999999999999 x";
    const char *p = s, *end = s + strlen(s), *before;
    uint64_t v = 7;

    (void)state;
    assert_true(km_scan_u64(&p, end, &v));
    assert_int_equal(v, 42);
    assert_true(km_scan_u64(&p, end, &v));
    assert_true(v == UINT64_MAX);
    /* Overflow: false, *p and *out untouched. */
    before = p;
    v = 7;
    assert_false(km_scan_u64(&p, end, &v));
    assert_ptr_equal(p, before);
    assert_int_equal(v, 7);
    p += 1 + strlen(U64MAX_P1_STR);
    before = p;
    assert_false(km_scan_u64(&p, end, &v));
    assert_ptr_equal(p, before);
    p += 1 + strlen("99999999999999999999");
    assert_false(km_scan_u64(&p, end, &v)); /* "x" */
    p = end;
    assert_false(km_scan_u64(&p, end, &v));
    /* Bounded by end, not by a NUL: "12345" cut after 3 bytes reads 123. */
    p = "12345";
    assert_true(km_scan_u64(&p, p + 3, &v));
    assert_int_equal(v, 123);
    /* No sign accepted. */
    p = "-1";
    assert_false(km_scan_u64(&p, p + 2, &v));
}

static void test_scan_i64(void **state)
{
    const char *s = "-9223372036854775808 9223372036854775807 +5 -0 9223372036854775808";
    const char *p = s, *end = s + strlen(s), *before;
    int64_t v;

    (void)state;
    assert_true(km_scan_i64(&p, end, &v));
    assert_true(v == INT64_MIN);
    assert_true(km_scan_i64(&p, end, &v));
    assert_true(v == INT64_MAX);
    assert_true(km_scan_i64(&p, end, &v));
    assert_int_equal(v, 5);
    assert_true(km_scan_i64(&p, end, &v));
    assert_int_equal(v, 0);
    before = p;
    assert_false(km_scan_i64(&p, end, &v));
    assert_ptr_equal(p, before);
    p = "-9223372036854775809";
    assert_false(km_scan_i64(&p, p + strlen(p), &v));
    p = "- 5";
    assert_false(km_scan_i64(&p, p + 3, &v));
    p = "-";
    assert_false(km_scan_i64(&p, p + 1, &v));
}

static void test_scan_double_word_line(void **state)
{
    const char *s = " 0.53 12 1e3 2.5e-1 abc", *p = s, *end = s + strlen(s), *w;
    double d;
    size_t wl;

    (void)state;
    assert_true(km_scan_double(&p, end, &d));
    assert_double_eq(d, 0.53);
    assert_true(km_scan_double(&p, end, &d));
    assert_double_eq(d, 12.0);
    assert_true(km_scan_double(&p, end, &d));
    assert_double_eq(d, 1000.0);
    assert_true(km_scan_double(&p, end, &d));
    assert_double_eq(d, 0.25);
    assert_false(km_scan_double(&p, end, &d));
    /* Bounded by end: "1.25" cut after 3 bytes is 1.2. */
    p = "1.25";
    assert_true(km_scan_double(&p, p + 3, &d));
    assert_double_eq(d, 1.2);
    p = ".";
    assert_false(km_scan_double(&p, p + 1, &d));

    p = "  foo\tbar\nbaz";
    end = p + strlen(p);
    assert_true(km_scan_word(&p, end, &w, &wl));
    assert_int_equal(wl, 3);
    assert_memory_equal(w, "foo", 3);
    assert_true(km_scan_word(&p, end, &w, &wl));
    assert_memory_equal(w, "bar", 3);
    assert_false(km_scan_word(&p, end, &w, &wl)); /* stops at the newline */
    p = "   ";
    assert_false(km_scan_word(&p, p + 3, &w, &wl));

    p = "ab\ncd";
    assert_ptr_equal(km_line_end(p, p + 5), p + 2);
    assert_ptr_equal(km_line_end(p + 3, p + 5), p + 5);
}

/* ---- /proc/stat ------------------------------------------------------------------------ */

/* The captured file, checked against an independent parse of the same bytes. */
static void test_stat_debian12(void **state)
{
    size_t n;
    char *buf = read_fixture("debian12-vm/stat", &n), *text = cstr(buf, n), *save = NULL;
    struct km_stat st, want;
    struct cpu_rec got = { 0 }, ref = { 0 };

    (void)state;
    memset(&want, 0, sizeof(want));
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char key[64];
        int off;
        char *q;
        uint64_t v = 0;

        if (sscanf(line, "%63s%n", key, &off) != 1)
            continue;
        q = line + off;
        if (strncmp(key, "cpu", 3) == 0) {
            struct km_stat_cpu *c = &ref.c[ref.n++];

            c->cpu = key[3] ? atoi(key + 3) : -1;
            while (c->nfields < KM_CPU_NMODES && next_u64(&q, &c->ticks[c->nfields]))
                c->nfields++;
            continue;
        }
        assert_true(next_u64(&q, &v));
        if (strcmp(key, "ctxt") == 0) {
            want.ctxt = v;
            want.have |= KM_STAT_CTXT;
        } else if (strcmp(key, "btime") == 0) {
            want.btime = v;
            want.have |= KM_STAT_BTIME;
        } else if (strcmp(key, "processes") == 0) {
            want.processes = v;
            want.have |= KM_STAT_PROCESSES;
        } else if (strcmp(key, "procs_running") == 0) {
            want.procs_running = v;
            want.have |= KM_STAT_PROCS_RUNNING;
        } else if (strcmp(key, "procs_blocked") == 0) {
            want.procs_blocked = v;
            want.have |= KM_STAT_PROCS_BLOCKED;
        } else if (strcmp(key, "intr") == 0) {
            want.intr = v;
            want.have |= KM_STAT_INTR;
        } else if (strcmp(key, "softirq") == 0) {
            want.softirq = v;
            want.have |= KM_STAT_SOFTIRQ;
        }
    }
    assert_true(ref.n >= 2); /* the aggregate and at least one CPU */
    assert_int_equal(km_parse_stat(buf, n, &st, on_cpu, &got), 0);
    assert_int_equal(got.n, ref.n);
    for (int i = 0; i < ref.n; i++)
        check_cpu(&got.c[i], ref.c[i].cpu, ref.c[i].nfields, ref.c[i].ticks);
    assert_int_equal(st.have, want.have);
    assert_int_equal(st.have, KM_STAT_CTXT | KM_STAT_BTIME | KM_STAT_PROCESSES |
                                  KM_STAT_PROCS_RUNNING | KM_STAT_PROCS_BLOCKED | KM_STAT_INTR |
                                  KM_STAT_SOFTIRQ);
    assert_int_equal(st.ctxt, want.ctxt);
    assert_int_equal(st.btime, want.btime);
    assert_int_equal(st.processes, want.processes);
    assert_int_equal(st.procs_running, want.procs_running);
    assert_int_equal(st.procs_blocked, want.procs_blocked);
    assert_int_equal(st.intr, want.intr);
    assert_int_equal(st.softirq, want.softirq);
    free(text);
    free(buf);
}

static void test_stat_kernel_2_6_9(void **state)
{
    static const uint64_t all[KM_CPU_NMODES] = { 2255, 34, 2290, 22625563, 6290, 127, 456 };
    static const uint64_t cpu0[KM_CPU_NMODES] = { 1132, 34, 1441, 11311718, 3675, 127, 438 };
    static const uint64_t cpu1[KM_CPU_NMODES] = { 1123, 0, 849, 11313845, 2615, 0, 18 };
    size_t n;
    char *buf = read_fixture("kernel-2.6.9/stat", &n);
    struct km_stat st;
    struct cpu_rec r = { 0 };

    (void)state;
    assert_int_equal(km_parse_stat(buf, n, &st, on_cpu, &r), 0);
    assert_int_equal(r.n, 3);
    check_cpu(&r.c[0], -1, 7, all);
    check_cpu(&r.c[1], 0, 7, cpu0);
    check_cpu(&r.c[2], 1, 7, cpu1);
    /* No softirq line before 2.6.31. */
    assert_int_equal(st.have, KM_STAT_CTXT | KM_STAT_BTIME | KM_STAT_PROCESSES |
                                  KM_STAT_PROCS_RUNNING | KM_STAT_PROCS_BLOCKED | KM_STAT_INTR);
    assert_int_equal(st.intr, 114931824);
    assert_int_equal(st.ctxt, 1990473);
    assert_int_equal(st.btime, 1062191376);
    assert_int_equal(st.processes, 2915);
    assert_int_equal(st.procs_running, 1);
    assert_int_equal(st.procs_blocked, 0);
    assert_int_equal(st.softirq, 0);
    free(buf);
}

static void test_stat_kernel_2_6_24(void **state)
{
    static const uint64_t all[KM_CPU_NMODES] = { 48125, 1273, 29861, 3617540, 11904,
                                                 412,   2087, 3321,  1580 };
    static const uint64_t cpu0[KM_CPU_NMODES] = { 24310, 601,  15140, 1808204, 6102,
                                                  398,   1541, 1705,  812 };
    static const uint64_t cpu1[KM_CPU_NMODES] = { 23815, 672, 14721, 1809336, 5802,
                                                  14,    546, 1616,  768 };
    size_t n;
    char *buf = read_fixture("kernel-2.6.24/stat", &n);
    struct km_stat st;
    struct cpu_rec r = { 0 };

    (void)state;
    assert_int_equal(km_parse_stat(buf, n, &st, on_cpu, &r), 0);
    assert_int_equal(r.n, 3);
    check_cpu(&r.c[0], -1, 9, all);
    check_cpu(&r.c[1], 0, 9, cpu0);
    check_cpu(&r.c[2], 1, 9, cpu1);
    assert_int_equal(st.have, KM_STAT_CTXT | KM_STAT_BTIME | KM_STAT_PROCESSES |
                                  KM_STAT_PROCS_RUNNING | KM_STAT_PROCS_BLOCKED | KM_STAT_INTR);
    assert_int_equal(st.intr, 4215632);
    assert_int_equal(st.ctxt, 8361024);
    assert_int_equal(st.btime, 1201863412);
    assert_int_equal(st.processes, 27480);
    assert_int_equal(st.procs_running, 3);
    assert_int_equal(st.procs_blocked, 1);
    assert_int_equal(st.softirq, 0);
    free(buf);
}

static void test_stat_kernel_6_x(void **state)
{
    static const uint64_t want[5][KM_CPU_NMODES] = {
        { 4705981, 1032, 1623477, 98012345, 40213, 0, 52311, 8804, 120450, 3307 },
        { 1180243, 260, 409811, 24490012, 10102, 0, 31007, 2205, 30112, 824 },
        { 1175118, 255, 404360, 24501877, 9987, 0, 7121, 2199, 30099, 831 },
        { 1177006, 259, 405102, 24508333, 10046, 0, 7080, 2204, 30126, 826 },
        { 1173614, 258, 404204, 24512123, 10078, 0, 7103, 2196, 30113, 826 },
    };
    size_t n;
    char *buf = read_fixture("kernel-6.x/stat", &n);
    struct km_stat st;
    struct cpu_rec r = { 0 };

    (void)state;
    assert_int_equal(km_parse_stat(buf, n, &st, on_cpu, &r), 0);
    assert_int_equal(r.n, 5);
    for (int i = 0; i < 5; i++)
        check_cpu(&r.c[i], i - 1, 10, want[i]);
    assert_int_equal(st.have, KM_STAT_CTXT | KM_STAT_BTIME | KM_STAT_PROCESSES |
                                  KM_STAT_PROCS_RUNNING | KM_STAT_PROCS_BLOCKED | KM_STAT_INTR |
                                  KM_STAT_SOFTIRQ);
    assert_int_equal(st.intr, 352016458);
    assert_int_equal(st.ctxt, 701245932);
    assert_int_equal(st.btime, 1763784900);
    assert_int_equal(st.processes, 2281904);
    assert_int_equal(st.procs_running, 5);
    assert_int_equal(st.procs_blocked, 2);
    assert_int_equal(st.softirq, 208801376);
    free(buf);
}

static void test_stat_malformed_lines_skipped(void **state)
{
    static const uint64_t all[KM_CPU_NMODES] = { 10, 20, 30, 40, 50, 60, 70, 80, 90, 100 };
    static const uint64_t cpu1[KM_CPU_NMODES] = { 5, 6, 7, 8 };
    struct km_stat st;
    struct cpu_rec r;

    (void)state;
    assert_int_equal(stat_of("cpu  10 20 30 40 50 60 70 80 90 100\n"
                             "cpu0 1 2 3\n"   /* three columns: malformed */
                             "cpux 1 2 3 4\n" /* not cpu<N>: another key, ignored */
                             "\n"             /* blank: ignored */
                             "cpu1 5 6 7 8\n" /* four columns: the minimum */
                             "btime soon\n"   /* known key, no number: malformed */
                             "ctxt 77\n"
                             "some_new_key 1 2 3\n" /* unknown key: ignored */
                             "processes 9\n",
                             &st, &r),
                     2);
    assert_int_equal(r.n, 2);
    check_cpu(&r.c[0], -1, 10, all);
    check_cpu(&r.c[1], 1, 4, cpu1);
    assert_int_equal(st.have, KM_STAT_CTXT | KM_STAT_PROCESSES);
    assert_int_equal(st.ctxt, 77);
    assert_int_equal(st.processes, 9);
    assert_int_equal(st.btime, 0);
}

static void test_stat_huge_numbers(void **state)
{
    static const uint64_t maxes[KM_CPU_NMODES] = { UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX };
    struct km_stat st;
    struct cpu_rec r;

    (void)state;
    assert_int_equal(stat_of("cpu " U64MAX_STR " " U64MAX_STR " " U64MAX_STR " " U64MAX_STR "\n"
                             "cpu0 " U64MAX_P1_STR " 1 2 3\n"
                             "ctxt " U64MAX_STR "\n"
                             "btime " U64MAX_P1_STR "\n",
                             &st, &r),
                     2);
    assert_int_equal(r.n, 1);
    check_cpu(&r.c[0], -1, 4, maxes);
    assert_int_equal(st.have, KM_STAT_CTXT);
    assert_true(st.ctxt == UINT64_MAX);
    assert_int_equal(st.btime, 0);
}

/* ---- /proc/meminfo -------------------------------------------------------------------- */

static void test_meminfo_debian12(void **state)
{
    size_t n;
    char *buf = read_fixture("debian12-vm/meminfo", &n), *text = cstr(buf, n), *save = NULL;
    struct mem_rec got = { 0 }, ref = { 0 };

    (void)state;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        struct mem_entry *e = &ref.e[ref.n++];
        char unit[8];
        int k = sscanf(line, "%63[^:]: %" SCNu64 " %7s", e->key, &e->value, unit);

        assert_true(k == 2 || (k == 3 && strcmp(unit, "kB") == 0));
        e->has_unit = k == 3;
        if (e->has_unit)
            e->value *= 1024;
    }
    assert_true(ref.n > 20);
    assert_int_equal(km_parse_meminfo(buf, n, on_mem, &got), 0);
    assert_int_equal(got.n, ref.n);
    for (int i = 0; i < ref.n; i++) {
        assert_string_equal(got.e[i].key, ref.e[i].key);
        assert_int_equal(got.e[i].value, ref.e[i].value);
        assert_int_equal(got.e[i].has_unit, ref.e[i].has_unit);
    }
    free(text);
    free(buf);
}

static void test_meminfo_3_10(void **state)
{
    static const struct mem_entry want[] = {
        { "MemTotal", 7994400ull * 1024, true },
        { "MemFree", 583624ull * 1024, true },
        { "Buffers", 201356ull * 1024, true },
        { "Cached", 4520168ull * 1024, true },
        { "SwapCached", 2212ull * 1024, true },
        { "Active", 4402040ull * 1024, true },
        { "Inactive", 2358712ull * 1024, true },
        { "Active(anon)", 1806532ull * 1024, true },
        { "Inactive(anon)", 301724ull * 1024, true },
        { "Active(file)", 2595508ull * 1024, true },
        { "Inactive(file)", 2056988ull * 1024, true },
        { "Unevictable", 3104ull * 1024, true },
        { "Mlocked", 3088ull * 1024, true },
        { "SwapTotal", 8257532ull * 1024, true },
        { "SwapFree", 8241344ull * 1024, true },
        { "Dirty", 436ull * 1024, true },
        { "Writeback", 8ull * 1024, true },
        { "AnonPages", 2037940ull * 1024, true },
        { "Mapped", 160416ull * 1024, true },
        { "Shmem", 68012ull * 1024, true },
        { "Slab", 467384ull * 1024, true },
        { "SReclaimable", 401280ull * 1024, true },
        { "SUnreclaim", 66104ull * 1024, true },
        { "KernelStack", 5872ull * 1024, true },
        { "PageTables", 24560ull * 1024, true },
        { "NFS_Unstable", 4ull * 1024, true },
        { "Bounce", 0, true },
        { "WritebackTmp", 0, true },
        { "CommitLimit", 12254732ull * 1024, true },
        { "Committed_AS", 4933148ull * 1024, true },
        { "VmallocTotal", 34359738367ull * 1024, true },
        { "VmallocUsed", 337632ull * 1024, true },
        { "VmallocChunk", 34359384060ull * 1024, true },
        { "HardwareCorrupted", 0, true },
        { "AnonHugePages", 1267712ull * 1024, true },
        { "HugePages_Total", 512, false },
        { "HugePages_Free", 448, false },
        { "HugePages_Rsvd", 16, false },
        { "HugePages_Surp", 2, false },
        { "Hugepagesize", 2048ull * 1024, true },
        { "DirectMap4k", 108800ull * 1024, true },
        { "DirectMap2M", 8280064ull * 1024, true },
    };
    size_t n;
    char *buf = read_fixture("meminfo-3.10/meminfo", &n);
    struct mem_rec r = { 0 };

    (void)state;
    assert_int_equal(km_parse_meminfo(buf, n, on_mem, &r), 0);
    assert_int_equal(r.n, sizeof(want) / sizeof(want[0]));
    for (int i = 0; i < r.n; i++) {
        assert_string_equal(r.e[i].key, want[i].key);
        assert_int_equal(r.e[i].value, want[i].value);
        assert_int_equal(r.e[i].has_unit, want[i].has_unit);
        /* 3.10 predates MemAvailable (3.14). */
        assert_string_not_equal(r.e[i].key, "MemAvailable");
    }
    free(buf);
}

static void test_meminfo_malformed_lines_skipped(void **state)
{
    struct mem_rec r;

    (void)state;
    assert_int_equal(meminfo_of("MemTotal:       100 kB\n"
                                "NoColonHere 5 kB\n"
                                "Bad:        x kB\n"
                                "Unit:         5 MB\n"
                                ": 5 kB\n"
                                "\n"
                                "HugePages_Total:   7\n"
                                "MemFree:        50 kB\n",
                                &r),
                     4);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.e[0].key, "MemTotal");
    assert_int_equal(r.e[0].value, 102400);
    assert_true(r.e[0].has_unit);
    assert_string_equal(r.e[1].key, "HugePages_Total");
    assert_int_equal(r.e[1].value, 7);
    assert_false(r.e[1].has_unit);
    assert_string_equal(r.e[2].key, "MemFree");
    assert_int_equal(r.e[2].value, 51200);
    assert_true(r.e[2].has_unit);
}

static void test_meminfo_huge_numbers(void **state)
{
    struct mem_rec r;

    (void)state;
    /* UINT64_MAX / 1024 is the largest kB value whose byte count fits. */
    assert_int_equal(meminfo_of("HugePages_Total: " U64MAX_STR "\n"
                                "HugePages_Free:  " U64MAX_P1_STR "\n"
                                "Big:    18014398509481983 kB\n"
                                "Bigger: 18014398509481984 kB\n",
                                &r),
                     2);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.e[0].key, "HugePages_Total");
    assert_true(r.e[0].value == UINT64_MAX);
    assert_string_equal(r.e[1].key, "Big");
    assert_true(r.e[1].value == 18014398509481983ull * 1024);
}

/* ---- /proc/diskstats ------------------------------------------------------------------- */

static void test_diskstats_debian12(void **state)
{
    size_t n;
    char *buf = read_fixture("debian12-vm/diskstats", &n), *text = cstr(buf, n), *save = NULL;
    struct disk_rec got = { 0 }, ref = { 0 };

    (void)state;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        struct km_diskstat *d = &ref.d[ref.n++];
        int off;
        char *q;

        assert_int_equal(sscanf(line, "%u %u %63s%n", &d->major, &d->minor, d->name, &off), 3);
        q = line + off;
        while (d->nstats < KM_DISK_NSTATS && next_u64(&q, &d->v[d->nstats]))
            d->nstats++;
    }
    assert_true(ref.n > 0);
    assert_int_equal(km_parse_diskstats(buf, n, on_disk, &got), 0);
    assert_int_equal(got.n, ref.n);
    for (int i = 0; i < ref.n; i++)
        check_disk(&got.d[i], ref.d[i].major, ref.d[i].minor, ref.d[i].name, ref.d[i].nstats,
                   ref.d[i].v);
    free(text);
    free(buf);
}

struct disk_want {
    unsigned major, minor;
    const char *name;
    unsigned nstats;
    uint64_t v[KM_DISK_NSTATS];
};

/* iostats.rst: 11 statistics before 4.18. */
static const struct disk_want want_diskstats_14[] = {
    { 8,
      0,
      "sda",
      11,
      { 140101, 140102, 140103, 140104, 140105, 140106, 140107, 140108, 140109, 140110, 140111 } },
    { 8,
      1,
      "sda1",
      11,
      { 140201, 140202, 140203, 140204, 140205, 140206, 140207, 140208, 140209, 140210, 140211 } },
    { 7,
      0,
      "loop0",
      11,
      { 140301, 140302, 140303, 140304, 140305, 140306, 140307, 140308, 140309, 140310, 140311 } },
    { 1,
      0,
      "ram0",
      11,
      { 140401, 140402, 140403, 140404, 140405, 140406, 140407, 140408, 140409, 140410, 140411 } },
    { 253,
      0,
      "dm-0",
      11,
      { 140501, 140502, 140503, 140504, 140505, 140506, 140507, 140508, 140509, 140510, 140511 } },
};

/* 4.18–5.4: plus four discard statistics. */
static const struct disk_want want_diskstats_18[] = {
    { 8,
      0,
      "sda",
      15,
      { 180101, 180102, 180103, 180104, 180105, 180106, 180107, 180108, 180109, 180110, 180111,
        180112, 180113, 180114, 180115 } },
    { 8,
      1,
      "sda1",
      15,
      { 180201, 180202, 180203, 180204, 180205, 180206, 180207, 180208, 180209, 180210, 180211,
        180212, 180213, 180214, 180215 } },
    { 7,
      0,
      "loop0",
      15,
      { 180301, 180302, 180303, 180304, 180305, 180306, 180307, 180308, 180309, 180310, 180311,
        180312, 180313, 180314, 180315 } },
    { 1,
      0,
      "ram0",
      15,
      { 180401, 180402, 180403, 180404, 180405, 180406, 180407, 180408, 180409, 180410, 180411,
        180412, 180413, 180414, 180415 } },
    { 253,
      0,
      "dm-0",
      15,
      { 180501, 180502, 180503, 180504, 180505, 180506, 180507, 180508, 180509, 180510, 180511,
        180512, 180513, 180514, 180515 } },
};

/* 5.5+: plus two flush statistics. */
static const struct disk_want want_diskstats_20[] = {
    { 259,
      0,
      "nvme0n1",
      17,
      { 200101, 200102, 200103, 200104, 200105, 200106, 200107, 200108, 200109, 200110, 200111,
        200112, 200113, 200114, 200115, 200116, 200117 } },
    { 259,
      1,
      "nvme0n1p1",
      17,
      { 200201, 200202, 200203, 200204, 200205, 200206, 200207, 200208, 200209, 200210, 200211,
        200212, 200213, 200214, 200215, 200216, 200217 } },
    { 7,
      0,
      "loop0",
      17,
      { 200301, 200302, 200303, 200304, 200305, 200306, 200307, 200308, 200309, 200310, 200311,
        200312, 200313, 200314, 200315, 200316, 200317 } },
    { 1,
      0,
      "ram0",
      17,
      { 200401, 200402, 200403, 200404, 200405, 200406, 200407, 200408, 200409, 200410, 200411,
        200412, 200413, 200414, 200415, 200416, 200417 } },
    { 253,
      0,
      "dm-0",
      17,
      { 200501, 200502, 200503, 200504, 200505, 200506, 200507, 200508, 200509, 200510, 200511,
        200512, 200513, 200514, 200515, 200516, 200517 } },
};

static void check_diskstats_fixture(const char *rel, const struct disk_want *want, int nwant)
{
    size_t n;
    char *buf = read_fixture(rel, &n);
    struct disk_rec r = { 0 };

    assert_int_equal(km_parse_diskstats(buf, n, on_disk, &r), 0);
    assert_int_equal(r.n, nwant);
    for (int i = 0; i < nwant; i++)
        check_disk(&r.d[i], want[i].major, want[i].minor, want[i].name, want[i].nstats, want[i].v);
    free(buf);
}

static void test_diskstats_14_fields(void **state)
{
    (void)state;
    check_diskstats_fixture("diskstats-14/diskstats", want_diskstats_14, 5);
}

static void test_diskstats_18_fields(void **state)
{
    (void)state;
    check_diskstats_fixture("diskstats-18/diskstats", want_diskstats_18, 5);
}

static void test_diskstats_20_fields(void **state)
{
    (void)state;
    check_diskstats_fixture("diskstats-20/diskstats", want_diskstats_20, 5);
}

static void test_diskstats_malformed_lines_skipped(void **state)
{
    static const uint64_t sda[KM_DISK_NSTATS] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 };
    static const uint64_t dm0[KM_DISK_NSTATS] = { 21, 22, 23, 24, 25, 26, 27, 28,
                                                  29, 30, 31, 32, 33, 34, 35 };
    struct disk_rec r;

    (void)state;
    assert_int_equal(
        diskstats_of("   8       0 sda 1 2 3 4 5 6 7 8 9 10 11\n"
                     /* 12 statistics is no kernel's layout */
                     "   8       1 sda1 1 2 3 4 5 6 7 8 9 10 11 12\n"
                     /* the 4-statistic partition lines of 2.6.0-2.6.24 */
                     "   8       2 sda2 1 2 3 4\n"
                     /* 16 statistics */
                     "   8       3 sda3 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"
                     "not a disk line\n"
                     "   8\n"
                     "   8       4\n"
                     /* a name of 64 bytes does not fit name[64] with its NUL */
                     "   8       5 " NAME64 " 1 2 3 4 5 6 7 8 9 10 11\n"
                     /* major does not fit unsigned */
                     "4294967296   0 big 1 2 3 4 5 6 7 8 9 10 11\n"
                     "\n"
                     " 253       0 dm-0 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35\n",
                     &r),
        8);
    assert_int_equal(r.n, 2);
    check_disk(&r.d[0], 8, 0, "sda", 11, sda);
    check_disk(&r.d[1], 253, 0, "dm-0", 15, dm0);
}

static void test_diskstats_longer_future_layout(void **state)
{
    static const uint64_t v[KM_DISK_NSTATS] = { 1,  2,  3,  4,  5,  6,  7,  8, 9,
                                                10, 11, 12, 13, 14, 15, 16, 17 };
    static const uint64_t nvme[KM_DISK_NSTATS] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 };
    struct disk_rec r;

    (void)state;
    /* A kernel with more than 17 statistics: the first 17 are kept. A name of 63 bytes
     * (the most name[64] holds) is fine. */
    assert_int_equal(diskstats_of("   8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19\n"
                                  " 259 0 " NAME63 " 1 2 3 4 5 6 7 8 9 10 11\n",
                                  &r),
                     0);
    assert_int_equal(r.n, 2);
    check_disk(&r.d[0], 8, 0, "sda", 17, v);
    assert_int_equal(strlen(NAME63), KM_DISK_NAME_MAX - 1);
    check_disk(&r.d[1], 259, 0, NAME63, 11, nvme);
}

static void test_diskstats_huge_numbers(void **state)
{
    static const uint64_t maxes[KM_DISK_NSTATS] = {
        UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX,
        UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX,
    };
    struct disk_rec r;

    (void)state;
    assert_int_equal(diskstats_of("4294967295 4294967295 sda " U64MAX_STR " " U64MAX_STR
                                  " " U64MAX_STR " " U64MAX_STR " " U64MAX_STR " " U64MAX_STR
                                  " " U64MAX_STR " " U64MAX_STR " " U64MAX_STR " " U64MAX_STR
                                  " " U64MAX_STR "\n"
                                  "8 1 sda1 1 2 3 4 " U64MAX_P1_STR " 6 7 8 9 10 11\n",
                                  &r),
                     1);
    assert_int_equal(r.n, 1);
    check_disk(&r.d[0], 4294967295u, 4294967295u, "sda", 11, maxes);
}

/* ---- /proc/net/dev ---------------------------------------------------------------------- */

static void test_netdev_debian12(void **state)
{
    size_t n;
    char *buf = read_fixture("debian12-vm/net/dev", &n), *text = cstr(buf, n), *save = NULL;
    struct net_rec got = { 0 }, ref = { 0 };

    (void)state;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        struct km_netdev *d;
        char *colon = strchr(line, ':'), *name = line, *q;

        if (!colon) {
            assert_non_null(strchr(line, '|')); /* the two header lines */
            continue;
        }
        d = &ref.d[ref.n++];
        while (*name == ' ')
            name++;
        assert_true(colon - name > 0 && colon - name < KM_NETDEV_NAME_MAX);
        memcpy(d->name, name, (size_t)(colon - name));
        q = colon + 1;
        for (int k = 0; k < KM_NETDEV_NSTATS; k++)
            assert_true(next_u64(&q, &d->v[k]));
    }
    assert_true(ref.n > 0);
    assert_int_equal(km_parse_netdev(buf, n, on_net, &got), 0);
    assert_int_equal(got.n, ref.n);
    for (int i = 0; i < ref.n; i++)
        check_netdev(&got.d[i], ref.d[i].name, ref.d[i].v);
    free(text);
    free(buf);
}

static void test_netdev_counter_touching_colon(void **state)
{
    static const uint64_t eth0[KM_NETDEV_NSTATS] = { 123, 2,  3,  4,  5,  6,  7,  8,
                                                     9,   10, 11, 12, 13, 14, 15, 16 };
    static const uint64_t big[KM_NETDEV_NSTATS] = { 4294967296123ull, 1, 0, 0, 0, 0, 0, 0,
                                                    987654321,        1, 0, 0, 0, 0, 0, 0 };
    struct net_rec r;

    (void)state;
    /* The kernel prints "%6s:%8llu": a name of 6+ characters or a counter of 8+ digits
     * leaves no blank between the colon and the first counter. */
    assert_int_equal(netdev_of("Inter-|   Receive  |  Transmit\n"
                               " face |bytes    packets|bytes    packets\n"
                               "  eth0:123 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"
                               "enp0s31f6:4294967296123 1 0 0 0 0 0 0 987654321 1 0 0 0 0 0 0\n",
                               &r),
                     0);
    assert_int_equal(r.n, 2);
    check_netdev(&r.d[0], "eth0", eth0);
    check_netdev(&r.d[1], "enp0s31f6", big);
}

static void test_netdev_malformed_lines_skipped(void **state)
{
    static const uint64_t lo[KM_NETDEV_NSTATS] = { 1, 2,  3,  4,  5,  6,  7,  8,
                                                   9, 10, 11, 12, 13, 14, 15, 16 };
    static const uint64_t eth1[KM_NETDEV_NSTATS] = { 0, 0, 0, 0, 0, 0, 0, 0,
                                                     0, 0, 0, 0, 0, 0, 0, UINT64_MAX };
    struct net_rec r;

    (void)state;
    assert_int_equal(netdev_of("Inter-|   Receive  |  Transmit\n"
                               " face |bytes    packets|bytes    packets\n"
                               "    lo: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"
                               "  eth0: 1 2 3\n"           /* too few */
                               "garbage without a colon\n" /* no ':' nor '|' */
                               "      : 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n" /* no name */
                               "  eth2: 1 2 3 4 5 6 7 8 " U64MAX_P1_STR
                               " 0 0 0 0 0 0 0\n" /* overflow */
                               "\n"
                               "  eth1: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 " U64MAX_STR "\n",
                               &r),
                     4);
    assert_int_equal(r.n, 2);
    check_netdev(&r.d[0], "lo", lo);
    check_netdev(&r.d[1], "eth1", eth1);
}

/* ---- /proc/<pid>/mountinfo -------------------------------------------------------------- */

/* Decodes the kernel's \ooo escapes, independently of the parser. */
static void unescape(const char *in, char *out)
{
    while (*in) {
        if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' && in[2] >= '0' && in[2] <= '7' &&
            in[3] >= '0' && in[3] <= '7') {
            char oct[4] = { in[1], in[2], in[3], '\0' };

            *out++ = (char)strtol(oct, NULL, 8);
            in += 4;
        } else {
            *out++ = *in++;
        }
    }
    *out = '\0';
}

static void check_mountinfo_against_file(const char *rel)
{
    size_t n;
    char *buf = read_fixture(rel, &n), *text = cstr(buf, n), *save = NULL;
    struct mount_rec got = { 0 };
    int nexp = 0;

    assert_int_equal(km_parse_mountinfo(buf, n, on_mount, &got), 0);
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[64], *fsave = NULL, dec[KM_MOUNT_FIELD_MAX];
        int nf = 0, sep = -1;
        unsigned major, minor;
        const struct mount_entry *e;

        for (char *w = strtok_r(line, " ", &fsave); w && nf < 64; w = strtok_r(NULL, " ", &fsave))
            f[nf++] = w;
        for (int i = 6; i < nf; i++) {
            if (strcmp(f[i], "-") == 0) {
                sep = i;
                break;
            }
        }
        assert_true(sep >= 6 && sep + 2 < nf); /* fstype and source at least */
        assert_int_equal(sscanf(f[2], "%u:%u", &major, &minor), 2);
        assert_true(nexp < got.n);
        e = &got.m[nexp++];
        assert_int_equal(e->major, major);
        assert_int_equal(e->minor, minor);
        unescape(f[3], dec);
        assert_string_equal(e->root, dec);
        unescape(f[4], dec);
        assert_string_equal(e->mountpoint, dec);
        unescape(f[5], dec);
        assert_string_equal(e->options, dec);
        unescape(f[sep + 1], dec);
        assert_string_equal(e->fstype, dec);
        unescape(f[sep + 2], dec);
        assert_string_equal(e->source, dec);
        if (sep + 3 < nf)
            unescape(f[sep + 3], dec);
        else
            dec[0] = '\0';
        assert_string_equal(e->super_options, dec);
    }
    assert_true(nexp > 0);
    assert_int_equal(got.n, nexp);
    mount_rec_free(&got);
    free(text);
    free(buf);
}

static void test_mountinfo_debian12(void **state)
{
    (void)state;
    check_mountinfo_against_file("debian12-vm/self/mountinfo");
    check_mountinfo_against_file("debian12-vm/1/mountinfo");
}

static void check_mount(const struct mount_entry *e, unsigned major, unsigned minor,
                        const char *root, const char *mp, const char *opts, const char *fstype,
                        const char *source, const char *sopts)
{
    assert_int_equal(e->major, major);
    assert_int_equal(e->minor, minor);
    assert_string_equal(e->root, root);
    assert_string_equal(e->mountpoint, mp);
    assert_string_equal(e->options, opts);
    assert_string_equal(e->fstype, fstype);
    assert_string_equal(e->source, source);
    assert_string_equal(e->super_options, sopts);
}

static void test_mountinfo_escapes_fixture(void **state)
{
    size_t n;
    char *buf = read_fixture("mountinfo-escapes/self/mountinfo", &n);
    struct mount_rec r = { 0 };

    (void)state;
    assert_int_equal(km_parse_mountinfo(buf, n, on_mount, &r), 0);
    assert_int_equal(r.n, 10);
    check_mount(&r.m[0], 8, 2, "/", "/", "rw,relatime", "ext4", "/dev/sda2",
                "rw,errors=remount-ro");
    check_mount(&r.m[1], 0, 17, "/", "/sys", "rw,nosuid,nodev,noexec,relatime", "sysfs", "sysfs",
                "rw");
    check_mount(&r.m[2], 0, 4, "/", "/proc", "rw,nosuid,nodev,noexec,relatime", "proc", "proc",
                "rw");
    /* \040 is a space; two optional fields (shared:1 master:2). */
    check_mount(&r.m[3], 8, 17, "/", "/mnt/my disk", "rw,relatime", "ext4", "/dev/sdb1",
                "rw,data=ordered");
    /* \011 is a tab; no optional fields. */
    check_mount(&r.m[4], 8, 18, "/", "/mnt/tab\tstop", "rw,noatime", "xfs", "/dev/sdb2",
                "rw,attr2,inode64,noquota");
    /* \134 is a backslash. */
    check_mount(&r.m[5], 8, 19, "/", "/mnt/back\\slash", "rw,relatime", "vfat", "/dev/sdb3",
                "rw,fmask=0022,dmask=0022");
    /* A bind mount of a directory of /dev/sdb1: root is not "/". */
    check_mount(&r.m[6], 8, 17, "/photos/2024 summer", "/srv/share photos", "rw,relatime", "ext4",
                "/dev/sdb1", "rw,data=ordered");
    /* Two mounts stacked on one mount point: both reported, in order. */
    check_mount(&r.m[7], 0, 45, "/", "/mnt/stack", "rw,relatime", "tmpfs", "lower",
                "rw,size=1024k,mode=755");
    check_mount(&r.m[8], 0, 46, "/", "/mnt/stack", "rw,relatime", "tmpfs", "upper",
                "rw,size=2048k,mode=700");
    /* Every escape in one path, and an escaped source. */
    check_mount(&r.m[9], 0, 47, "/", "/mnt/a b\tc\\d\ne", "rw,relatime", "fuse.sshfs",
                "user@host:/home/a b", "rw,user_id=0,group_id=0");
    mount_rec_free(&r);
    free(buf);
}

static void test_mountinfo_octal_decoding(void **state)
{
    struct mount_rec r;

    (void)state;
    /* Only \ followed by three octal digits (first 0-3) is an escape; anything else is
     * kept as it is, including a backslash too close to the end of the field. */
    assert_int_equal(mountinfo_of("1 0 0:1 / /a\\040b rw - t s o\n"
                                  "2 0 0:1 / /\\101\\102\\103 rw - t s o\n"
                                  "3 0 0:1 / /x\\y rw - t s o\n"
                                  "4 0 0:1 / /x\\08 rw - t s o\n"
                                  "5 0 0:1 / /x\\400 rw - t s o\n"
                                  "6 0 0:1 / /x\\04 rw - t s o\n"
                                  "7 0 0:1 / /x\\ rw - t s o\n"
                                  "8 0 0:1 / /\\134040 rw - t s o\n"
                                  "9 0 0:1 / /\\377 rw - t s\\040x o\\011p\n",
                                  &r),
                     0);
    assert_int_equal(r.n, 9);
    assert_string_equal(r.m[0].mountpoint, "/a b");
    assert_string_equal(r.m[1].mountpoint, "/ABC");
    assert_string_equal(r.m[2].mountpoint, "/x\\y");
    assert_string_equal(r.m[3].mountpoint, "/x\\08");
    assert_string_equal(r.m[4].mountpoint, "/x\\400");
    assert_string_equal(r.m[5].mountpoint, "/x\\04");
    assert_string_equal(r.m[6].mountpoint, "/x\\");
    /* An escaped backslash is not decoded again: "\134040" is "\040" literally. */
    assert_string_equal(r.m[7].mountpoint, "/\\040");
    assert_string_equal(r.m[8].mountpoint, "/\377");
    assert_string_equal(r.m[8].source, "s x");
    assert_string_equal(r.m[8].super_options, "o\tp");
    mount_rec_free(&r);
}

static void test_mountinfo_malformed_lines_skipped(void **state)
{
    struct mount_rec r;

    (void)state;
    assert_int_equal(
        mountinfo_of("22 27 0:21 / /proc rw,relatime - proc proc rw\n"
                     "23 27 0:22 / /sys rw,relatime sysfs sysfs rw\n"    /* no "-" */
                     "24 27 8-1 / /dev rw,relatime - devtmpfs udev rw\n" /* bad major:minor */
                     "25 27 8: / /dev rw,relatime - devtmpfs udev rw\n"  /* no minor */
                     "26 27 :1 / /dev rw,relatime - devtmpfs udev rw\n"  /* no major */
                     "27 27 4294967296:0 / /x rw - t s o\n"              /* major too big */
                     "28 27\n"                                           /* cut short */
                     "29 27 0:1 / /x rw -\n"                             /* no fstype */
                     "30 27 0:1 / /x rw - t\n"                           /* no source */
                     "x 27 0:1 / /x rw - t s o\n"                        /* no mount id */
                     "\n"
                     "31 27 4294967295:7 / /y rw shared:5 - t s\n", /* no super opts */
                     &r),
        9);
    assert_int_equal(r.n, 2);
    check_mount(&r.m[0], 0, 21, "/", "/proc", "rw,relatime", "proc", "proc", "rw");
    check_mount(&r.m[1], 4294967295u, 7, "/", "/y", "rw", "t", "s", "");
    mount_rec_free(&r);
}

static void test_mountinfo_long_fields(void **state)
{
    /* A field of KM_MOUNT_FIELD_MAX - 1 bytes fits with its NUL; one more does not. */
    size_t fit = KM_MOUNT_FIELD_MAX - 1, cap = 3 * KM_MOUNT_FIELD_MAX + 256, len = 0;
    char *text = malloc(cap);
    struct mount_rec r;

    (void)state;
    assert_non_null(text);
    len += (size_t)snprintf(text + len, cap - len, "1 0 0:1 / /");
    memset(text + len, 'a', fit - 1);
    len += fit - 1;
    len += (size_t)snprintf(text + len, cap - len, " rw - t s o\n2 0 0:1 / /");
    memset(text + len, 'b', fit);
    len += fit;
    len += (size_t)snprintf(text + len, cap - len, " rw - t s o\n");
    text[len] = '\0';
    assert_int_equal(mountinfo_of(text, &r), 1);
    assert_int_equal(r.n, 1);
    assert_int_equal(strlen(r.m[0].mountpoint), fit);
    mount_rec_free(&r);
    free(text);
}

/* ---- small files ---------------------------------------------------------------------------- */

static void test_loadavg_uptime_filenr_debian12(void **state)
{
    size_t n;
    char *buf, *text;
    struct km_loadavg la;
    struct km_uptime up;
    struct km_filenr fnr;
    double l1, l5, l15, u, idle;
    uint64_t running, total, a, b, c;

    (void)state;
    buf = read_fixture("debian12-vm/loadavg", &n);
    text = cstr(buf, n);
    assert_int_equal(
        sscanf(text, "%lf %lf %lf %" SCNu64 "/%" SCNu64, &l1, &l5, &l15, &running, &total), 5);
    assert_int_equal(km_parse_loadavg(buf, n, &la), 0);
    assert_double_eq(la.load1, l1);
    assert_double_eq(la.load5, l5);
    assert_double_eq(la.load15, l15);
    assert_int_equal(la.running, running);
    assert_int_equal(la.total, total);
    free(text);
    free(buf);

    buf = read_fixture("debian12-vm/uptime", &n);
    text = cstr(buf, n);
    assert_int_equal(sscanf(text, "%lf %lf", &u, &idle), 2);
    assert_int_equal(km_parse_uptime(buf, n, &up), 0);
    assert_double_eq(up.uptime, u);
    assert_double_eq(up.idle, idle);
    free(text);
    free(buf);

    buf = read_fixture("debian12-vm/sys/fs/file-nr", &n);
    text = cstr(buf, n);
    assert_int_equal(sscanf(text, "%" SCNu64 " %" SCNu64 " %" SCNu64, &a, &b, &c), 3);
    assert_int_equal(km_parse_filenr(buf, n, &fnr), 0);
    assert_int_equal(fnr.allocated, a);
    assert_int_equal(fnr.unused, b);
    assert_int_equal(fnr.maximum, c);
    free(text);
    free(buf);
}

static void test_small_literals(void **state)
{
    struct km_loadavg la;
    struct km_uptime up;
    struct km_filenr fnr;
    char *b;

    (void)state;
    b = exact("0.05 0.07 0.02 2/79 3011\n", 25);
    assert_int_equal(km_parse_loadavg(b, 25, &la), 0);
    assert_double_eq(la.load1, 0.05);
    assert_double_eq(la.load5, 0.07);
    assert_double_eq(la.load15, 0.02);
    assert_int_equal(la.running, 2);
    assert_int_equal(la.total, 79);
    free(b);
    /* "running/total" is optional. */
    b = exact("1.50 2.25 3.00", 14);
    assert_int_equal(km_parse_loadavg(b, 14, &la), 0);
    assert_double_eq(la.load15, 3.0);
    assert_int_equal(la.running, 0);
    assert_int_equal(la.total, 0);
    free(b);
    b = exact("0.05 0.07\n", 10);
    assert_int_equal(km_parse_loadavg(b, 10, &la), 1);
    free(b);

    b = exact("314.11 593.70\n", 14);
    assert_int_equal(km_parse_uptime(b, 14, &up), 0);
    assert_double_eq(up.uptime, 314.11);
    assert_double_eq(up.idle, 593.70);
    free(b);
    b = exact("up 1\n", 5);
    assert_int_equal(km_parse_uptime(b, 5, &up), 1);
    free(b);

    assert_int_equal(filenr_of("305\t0\t2466177\n", &fnr), 0);
    assert_int_equal(fnr.allocated, 305);
    assert_int_equal(fnr.unused, 0);
    assert_int_equal(fnr.maximum, 2466177);
    assert_int_equal(filenr_of(U64MAX_STR "\t0\t" U64MAX_STR "\n", &fnr), 0);
    assert_true(fnr.allocated == UINT64_MAX && fnr.maximum == UINT64_MAX);
    assert_int_equal(filenr_of(U64MAX_P1_STR "\t0\t1\n", &fnr), 1);
    assert_int_equal(filenr_of("305\t0\n", &fnr), 1);
}

/* ---- /proc/pressure ----------------------------------------------------------------------- */

static void check_pressure_against_file(const char *rel)
{
    size_t n;
    char *buf = read_fixture(rel, &n), *text = cstr(buf, n), *save = NULL;
    struct km_pressure got, want;

    memset(&want, 0, sizeof(want));
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char kind[8];
        struct km_pressure_line *l;

        assert_int_equal(sscanf(line, "%7s", kind), 1);
        l = strcmp(kind, "some") == 0 ? &want.some : &want.full;
        assert_int_equal(sscanf(line, "%*s avg10=%lf avg60=%lf avg300=%lf total=%" SCNu64,
                                &l->avg10, &l->avg60, &l->avg300, &l->total_us),
                         4);
        l->present = true;
    }
    assert_int_equal(km_parse_pressure(buf, n, &got), 0);
    check_pressure_line(&got.some, want.some.present, want.some.avg10, want.some.avg60,
                        want.some.avg300, want.some.total_us);
    check_pressure_line(&got.full, want.full.present, want.full.avg10, want.full.avg60,
                        want.full.avg300, want.full.total_us);
    free(text);
    free(buf);
}

static void test_pressure_debian12(void **state)
{
    (void)state;
    check_pressure_against_file("debian12-vm/pressure/cpu");
    check_pressure_against_file("debian12-vm/pressure/memory");
    check_pressure_against_file("debian12-vm/pressure/io");
}

static struct km_pressure pressure_fixture(const char *rel)
{
    size_t n;
    char *buf = read_fixture(rel, &n);
    struct km_pressure p;

    assert_int_equal(km_parse_pressure(buf, n, &p), 0);
    free(buf);
    return p;
}

static void test_pressure_5_x_some_without_full(void **state)
{
    struct km_pressure p;

    (void)state;
    /* Before 5.13 pressure/cpu has only "some". */
    p = pressure_fixture("pressure-5.x/pressure/cpu");
    check_pressure_line(&p.some, true, 2.04, 0.75, 0.40, 157656722);
    check_pressure_line(&p.full, false, 0, 0, 0, 0);
    p = pressure_fixture("pressure-5.x/pressure/memory");
    check_pressure_line(&p.some, true, 0.31, 0.12, 0.05, 4123067);
    check_pressure_line(&p.full, true, 0.17, 0.06, 0.02, 2260119);
    p = pressure_fixture("pressure-5.x/pressure/io");
    check_pressure_line(&p.some, true, 8.36, 5.13, 2.91, 88406129);
    check_pressure_line(&p.full, true, 6.52, 3.98, 2.27, 70216644);
}

static void test_pressure_6_x(void **state)
{
    struct km_pressure p;

    (void)state;
    p = pressure_fixture("pressure-6.x/pressure/cpu");
    check_pressure_line(&p.some, true, 12.50, 9.87, 6.25, 982173345);
    check_pressure_line(&p.full, true, 0, 0, 0, 0);
    p = pressure_fixture("pressure-6.x/pressure/memory");
    check_pressure_line(&p.some, true, 1.09, 0.84, 0.33, 31288760);
    check_pressure_line(&p.full, true, 0.71, 0.52, 0.19, 19542931);
    p = pressure_fixture("pressure-6.x/pressure/io");
    check_pressure_line(&p.some, true, 23.44, 18.02, 11.76, 512340987);
    check_pressure_line(&p.full, true, 19.81, 15.37, 9.64, 431102556);
    /* irq (6.1+) has only "full". */
    p = pressure_fixture("pressure-6.x/pressure/irq");
    check_pressure_line(&p.some, false, 0, 0, 0, 0);
    check_pressure_line(&p.full, true, 0.42, 0.27, 0.13, 7391844);
}

static void test_pressure_malformed_lines_skipped(void **state)
{
    struct km_pressure p;

    (void)state;
    assert_int_equal(pressure_of("some avg10=0.00 avg60=0.00 avg300=0.00\n" /* no total */
                                 "bogus avg10=1.00 total=2\n"
                                 "full avg10 avg60=0.20\n" /* a word without '=' */
                                 "\n"
                                 "full avg10=0.10 avg60=0.20 avg300=0.30 total=42\n",
                                 &p),
                     3);
    assert_false(p.some.present);
    check_pressure_line(&p.full, true, 0.10, 0.20, 0.30, 42);

    assert_int_equal(pressure_of("some avg10=0.00 avg60=0.00 avg300=0.00 total=" U64MAX_STR "\n"
                                 "full avg10=0.00 avg60=0.00 avg300=0.00 total=" U64MAX_P1_STR "\n",
                                 &p),
                     1);
    assert_true(p.some.present && p.some.total_us == UINT64_MAX);
    assert_false(p.full.present);
}

/* ---- /proc/<pid>/stat ------------------------------------------------------------------------ */

static void test_pidstat_debian12(void **state)
{
    size_t n;
    char *buf = read_fixture("debian12-vm/self/stat", &n), *text = cstr(buf, n), *rp, *save = NULL;
    char *f[64];
    int nf = 0;
    struct km_pidstat ps;

    (void)state;
    /* Fields after the comm: f[0] is field 3 (state), f[k] is field k + 3. */
    rp = strrchr(text, ')');
    assert_non_null(rp);
    for (char *w = strtok_r(rp + 1, " \n", &save); w && nf < 64; w = strtok_r(NULL, " \n", &save))
        f[nf++] = w;
    assert_true(nf >= 22);
    assert_int_equal(km_parse_pidstat(buf, n, &ps), 0);
    assert_int_equal(ps.state, f[0][0]);
    assert_int_equal(ps.utime, strtoull(f[11], NULL, 10));
    assert_int_equal(ps.stime, strtoull(f[12], NULL, 10));
    assert_int_equal(ps.num_threads, strtoll(f[17], NULL, 10));
    assert_int_equal(ps.starttime, strtoull(f[19], NULL, 10));
    assert_int_equal(ps.vsize, strtoull(f[20], NULL, 10));
    assert_int_equal(ps.rss_pages, strtoll(f[21], NULL, 10));
    free(text);
    free(buf);
}

static void test_pidstat_comm_with_spaces_and_parens(void **state)
{
    struct km_pidstat ps;

    (void)state;
    /* prctl(PR_SET_NAME) allows any bytes: only the last ')' ends the comm. */
    assert_int_equal(pidstat_of("1234 (a) b) S 1 1234 1234 0 -1 4194560 100 0 0 0 11 22 0 0 20 "
                                "0 3 0 555 1048576 256 18446744073709551615 1 1 0 0 0 0 0 0 0 "
                                "0 0 0 17 1 0 0 0 0 0\n",
                                &ps),
                     0);
    assert_int_equal(ps.state, 'S');
    assert_int_equal(ps.utime, 11);
    assert_int_equal(ps.stime, 22);
    assert_int_equal(ps.num_threads, 3);
    assert_int_equal(ps.starttime, 555);
    assert_int_equal(ps.vsize, 1048576);
    assert_int_equal(ps.rss_pages, 256);

    /* Real-time priority is negative; a comm can be empty or hold "(". */
    assert_int_equal(pidstat_of("7 ((x) ) (y)) R 2 0 0 0 -1 69238880 0 0 0 0 " U64MAX_STR
                                " 5 0 0 -100 0 1 0 " U64MAX_STR " " U64MAX_STR " -1",
                                &ps),
                     0);
    assert_int_equal(ps.state, 'R');
    assert_true(ps.utime == UINT64_MAX);
    assert_int_equal(ps.stime, 5);
    assert_int_equal(ps.num_threads, 1);
    assert_true(ps.starttime == UINT64_MAX);
    assert_true(ps.vsize == UINT64_MAX);
    assert_int_equal(ps.rss_pages, -1);

    assert_int_equal(pidstat_of("9 () Z 1 0 0 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 3 4 5", &ps), 0);
    assert_int_equal(ps.state, 'Z');
    assert_int_equal(ps.rss_pages, 5);

    /* Malformed: no ')', nothing after it, a field that is not a number, cut short. */
    assert_int_equal(pidstat_of("1234 (kmon S 1 2 3", &ps), 1);
    assert_int_equal(pidstat_of("1234 (kmon)", &ps), 1);
    assert_int_equal(pidstat_of("1234 (kmon)   ", &ps), 1);
    assert_int_equal(pidstat_of("1234 (kmon) S x 1234 1234 0 -1 4194560 100 0 0 0 11 22 0 0 "
                                "20 0 3 0 555 1048576 256",
                                &ps),
                     1);
    assert_int_equal(pidstat_of("1234 (kmon) S 1 1234 1234 0 -1 4194560 100 0 0 0 11 22 0 0 "
                                "20 0 3 0 555 1048576",
                                &ps),
                     1);
    assert_int_equal(pidstat_of("1234 (kmon) S 1 1234 1234 0 -1 4194560 100 0 0 0 " U64MAX_P1_STR
                                " 22 0 0 20 0 3 0 555 1048576 256",
                                &ps),
                     1);
}

/* ---- every parser: empty input, no trailing newline, a line cut short -------------------- */

static void test_empty_input(void **state)
{
    char *b = exact("", 0);
    struct km_stat st;
    struct cpu_rec cr = { 0 };
    struct mem_rec mr = { 0 };
    struct disk_rec dr = { 0 };
    struct net_rec nr = { 0 };
    struct mount_rec mo = { 0 };
    struct km_loadavg la;
    struct km_filenr fnr;
    struct km_uptime up;
    struct km_pressure p;
    struct km_pidstat ps;

    (void)state;
    assert_int_equal(km_parse_stat(b, 0, &st, on_cpu, &cr), 0);
    assert_int_equal(cr.n, 0);
    assert_int_equal(st.have, 0);
    assert_int_equal(km_parse_meminfo(b, 0, on_mem, &mr), 0);
    assert_int_equal(mr.n, 0);
    assert_int_equal(km_parse_diskstats(b, 0, on_disk, &dr), 0);
    assert_int_equal(dr.n, 0);
    assert_int_equal(km_parse_netdev(b, 0, on_net, &nr), 0);
    assert_int_equal(nr.n, 0);
    assert_int_equal(km_parse_mountinfo(b, 0, on_mount, &mo), 0);
    assert_int_equal(mo.n, 0);
    assert_int_equal(km_parse_pressure(b, 0, &p), 0);
    assert_false(p.some.present);
    assert_false(p.full.present);
    /* The one-line files need their line. */
    assert_int_equal(km_parse_loadavg(b, 0, &la), 1);
    assert_int_equal(km_parse_filenr(b, 0, &fnr), 1);
    assert_int_equal(km_parse_uptime(b, 0, &up), 1);
    assert_int_equal(km_parse_pidstat(b, 0, &ps), 1);
    free(b);

    /* Only newlines: nothing, and nothing malformed either. */
    b = exact("\n\n\n", 3);
    assert_int_equal(km_parse_stat(b, 3, &st, on_cpu, &cr), 0);
    assert_int_equal(km_parse_meminfo(b, 3, on_mem, &mr), 0);
    assert_int_equal(km_parse_diskstats(b, 3, on_disk, &dr), 0);
    assert_int_equal(km_parse_netdev(b, 3, on_net, &nr), 0);
    assert_int_equal(km_parse_mountinfo(b, 3, on_mount, &mo), 0);
    assert_int_equal(km_parse_pressure(b, 3, &p), 0);
    assert_int_equal(cr.n + mr.n + dr.n + nr.n + mo.n, 0);
    free(b);
}

static void test_callbacks_optional(void **state)
{
    size_t n;
    char *buf;
    struct km_stat st;

    (void)state;
    buf = read_fixture("kernel-6.x/stat", &n);
    assert_int_equal(km_parse_stat(buf, n, &st, NULL, NULL), 0);
    assert_int_equal(st.softirq, 208801376);
    free(buf);
    buf = read_fixture("meminfo-3.10/meminfo", &n);
    assert_int_equal(km_parse_meminfo(buf, n, NULL, NULL), 0);
    free(buf);
    buf = read_fixture("diskstats-20/diskstats", &n);
    assert_int_equal(km_parse_diskstats(buf, n, NULL, NULL), 0);
    free(buf);
    buf = read_fixture("debian12-vm/net/dev", &n);
    assert_int_equal(km_parse_netdev(buf, n, NULL, NULL), 0);
    free(buf);
    buf = read_fixture("mountinfo-escapes/self/mountinfo", &n);
    assert_int_equal(km_parse_mountinfo(buf, n, NULL, NULL), 0);
    free(buf);
}

static void test_no_trailing_newline(void **state)
{
    static const uint64_t cpu0[KM_CPU_NMODES] = { 5, 6, 7, 8, 9 };
    static const uint64_t sdb[KM_DISK_NSTATS] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 };
    static const uint64_t eth0[KM_NETDEV_NSTATS] = { 1, 2,  3,  4,  5,  6,  7,  8,
                                                     9, 10, 11, 12, 13, 14, 15, 16 };
    struct km_stat st;
    struct cpu_rec cr;
    struct mem_rec mr;
    struct disk_rec dr;
    struct net_rec nr;
    struct mount_rec mo;
    struct km_pressure p;
    struct km_pidstat ps;

    (void)state;
    assert_int_equal(stat_of("ctxt 1\ncpu0 5 6 7 8 9", &st, &cr), 0);
    assert_int_equal(cr.n, 1);
    check_cpu(&cr.c[0], 0, 5, cpu0);
    assert_int_equal(stat_of("cpu0 5 6 7 8 9\nprocs_blocked 3", &st, &cr), 0);
    assert_int_equal(st.procs_blocked, 3);
    assert_true(st.have & KM_STAT_PROCS_BLOCKED);

    assert_int_equal(meminfo_of("MemTotal: 1 kB\nHugePages_Surp: 4", &mr), 0);
    assert_int_equal(mr.n, 2);
    assert_string_equal(mr.e[1].key, "HugePages_Surp");
    assert_int_equal(mr.e[1].value, 4);
    assert_int_equal(meminfo_of("MemTotal: 1 kB\nMemFree: 2 kB", &mr), 0);
    assert_int_equal(mr.e[1].value, 2048);
    assert_true(mr.e[1].has_unit);

    assert_int_equal(diskstats_of("8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n8 16 sdb 1 2 3 4 5 6 7 8 9 "
                                  "10 11",
                                  &dr),
                     0);
    assert_int_equal(dr.n, 2);
    check_disk(&dr.d[1], 8, 16, "sdb", 11, sdb);

    assert_int_equal(netdev_of("a|b\nc|d\n  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16", &nr), 0);
    assert_int_equal(nr.n, 1);
    check_netdev(&nr.d[0], "eth0", eth0);

    assert_int_equal(mountinfo_of("1 0 0:1 / / rw - t s o\n2 1 0:2 / /x rw - t2 s2 o2", &mo), 0);
    assert_int_equal(mo.n, 2);
    check_mount(&mo.m[1], 0, 2, "/", "/x", "rw", "t2", "s2", "o2");
    mount_rec_free(&mo);

    assert_int_equal(pressure_of("some avg10=0.00 avg60=0.00 avg300=0.00 total=1\n"
                                 "full avg10=0.50 avg60=0.25 avg300=0.125 total=2",
                                 &p),
                     0);
    check_pressure_line(&p.full, true, 0.5, 0.25, 0.125, 2);

    assert_int_equal(
        pidstat_of("1 (init) S 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 9 10 11", &ps), 0);
    assert_int_equal(ps.rss_pages, 11);
}

static void test_line_cut_short(void **state)
{
    struct km_stat st;
    struct cpu_rec cr;
    struct mem_rec mr;
    struct disk_rec dr;
    struct net_rec nr;
    struct mount_rec mo;
    struct km_pressure p;

    (void)state;
    /* A read cut in the middle of a line leaves it without the fields it needs. (Cut in
     * the middle of a number, or after enough columns, it cannot be told apart from a
     * whole line; the collectors read each file whole.) */
    assert_int_equal(stat_of("cpu  1 2 3 4 5\ncpu0 1 2", &st, &cr), 1);
    assert_int_equal(cr.n, 1);
    assert_int_equal(stat_of("ctxt 5\nbtime", &st, &cr), 1);
    assert_int_equal(st.have, KM_STAT_CTXT);

    assert_int_equal(meminfo_of("MemTotal: 1 kB\nMemFree: 2 k", &mr), 1);
    assert_int_equal(mr.n, 1);
    assert_int_equal(meminfo_of("MemTotal: 1 kB\nMemFree:", &mr), 1);
    assert_int_equal(meminfo_of("MemTotal: 1 kB\nMemFr", &mr), 1);
    assert_int_equal(mr.n, 1);

    assert_int_equal(diskstats_of("8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n8 16 sdb 1 2 3 4 5 6 7", &dr),
                     1);
    assert_int_equal(dr.n, 1);
    assert_int_equal(diskstats_of("8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n8 16 sd", &dr), 1);
    assert_int_equal(dr.n, 1);

    assert_int_equal(
        netdev_of("  lo: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n  eth0: 1 2 3 4", &nr), 1);
    assert_int_equal(nr.n, 1);
    assert_int_equal(netdev_of("  lo: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n  eth", &nr), 1);
    assert_int_equal(nr.n, 1);

    assert_int_equal(mountinfo_of("1 0 0:1 / / rw - t s o\n2 1 0:2 / /x rw shar", &mo), 1);
    assert_int_equal(mo.n, 1);
    mount_rec_free(&mo);
    assert_int_equal(mountinfo_of("1 0 0:1 / / rw - t s o\n2 1 0:2 / /x rw - t2", &mo), 1);
    assert_int_equal(mo.n, 1);
    mount_rec_free(&mo);

    assert_int_equal(pressure_of("some avg10=0.00 avg60=0.00 avg300=0.00 total=7\n"
                                 "full avg10=0.00 avg60=0.00 avg300=0.00 tot",
                                 &p),
                     1);
    assert_true(p.some.present);
    assert_int_equal(p.some.total_us, 7);
    assert_false(p.full.present);
}

/* Defects found by reviewing the parsers after fuzzing: each must count as malformed
 * (or be handled as documented), never be half-accepted. */
static void test_review_regressions(void **state)
{
    struct km_stat st;
    struct cpu_rec r;
    double d = 42;
    const char *p;
    struct km_pressure pr;
    struct km_uptime up;

    (void)state;
    /* Text where a column belongs, or a column past 64 bits, spoils the whole line. */
    assert_int_equal(stat_of("cpu  1 2 3 4 5 6 7 " U64MAX_P1_STR " 9 10\n"
                             "cpu0 1 2 3 4 x y\n"
                             "cpufreq 1 2\n" /* a key of its own: ignored */
                             "cpu1 1 2 3 4\n",
                             &st, &r),
                     2);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.c[0].cpu, 1);
    /* A NUL byte inside a line. */
    {
        static const char nul[] = "cpu0 1 2 3 4\nct\0xt 5\ncpu1 1 2 3 4\n";
        char *b = exact(nul, sizeof(nul) - 1);

        memset(&r, 0, sizeof(r));
        assert_int_equal(km_parse_stat(b, sizeof(nul) - 1, &st, on_cpu, &r), 1);
        assert_int_equal(r.n, 2);
        free(b);
    }
    /* Empty input, even as NULL. */
    assert_int_equal(km_parse_stat(NULL, 0, &st, on_cpu, &r), 0);
    assert_int_equal(km_parse_meminfo(NULL, 0, NULL, NULL), 0);
    assert_int_equal(km_parse_diskstats(NULL, 0, NULL, NULL), 0);
    assert_int_equal(km_parse_netdev(NULL, 0, NULL, NULL), 0);
    assert_int_equal(km_parse_mountinfo(NULL, 0, NULL, NULL), 0);
    assert_int_equal(km_parse_pressure(NULL, 0, &pr), 0);
    /* A failed number leaves the output untouched; infinities are not numbers here. */
    p = "1e999";
    assert_false(km_scan_double(&p, p + 5, &d));
    assert_true(d == 42);
    p = "1e";
    assert_false(km_scan_double(&p, p + 2, &d));
    assert_true(d == 42);
    {
        char *b = exact("1e 2", 4);

        assert_int_equal(km_parse_uptime(b, 4, &up), 1);
        free(b);
    }
    /* A rejected pressure line leaves nothing behind. */
    {
        static const char t[] = "some avg10=1.5 avg60=2.5 avg300=x\nfull avg10=1 total=9\n";
        char *b = exact(t, sizeof(t) - 1);

        assert_int_equal(km_parse_pressure(b, sizeof(t) - 1, &pr), 1);
        assert_false(pr.some.present);
        assert_true(pr.some.avg10 == 0);
        assert_true(pr.full.present);
        assert_int_equal(pr.full.total_us, 9);
        free(b);
    }
    /* meminfo: text after the unit; blank lines are not errors. */
    {
        static const char t[] = "MemTotal: 10 kB junk\n   \nMemFree: 5 kB\n";
        char *b = exact(t, sizeof(t) - 1);

        assert_int_equal(km_parse_meminfo(b, sizeof(t) - 1, NULL, NULL), 1);
        free(b);
    }
    /* diskstats: trailing text is malformed; extra numeric columns of a future kernel are
     * not. */
    {
        static const char t[] = "8 0 sda 1 2 3 4 5 6 7 8 9 10 11 x\n"
                                "8 16 sdb 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19\n";
        char *b = exact(t, sizeof(t) - 1);
        struct disk_rec dr = { 0 };

        assert_int_equal(km_parse_diskstats(b, sizeof(t) - 1, on_disk, &dr), 1);
        assert_int_equal(dr.n, 1);
        assert_string_equal(dr.d[0].name, "sdb");
        assert_int_equal(dr.d[0].nstats, 17);
        assert_int_equal(dr.d[0].v[16], 17);
        free(b);
    }
    /* netdev: a NUL in the name, text after the counters, a blank line. */
    {
        static const char t[] = "  e\0h0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"
                                "  eth1: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 x\n"
                                "   \n"
                                "  eth2: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n";
        char *b = exact(t, sizeof(t) - 1);

        assert_int_equal(km_parse_netdev(b, sizeof(t) - 1, NULL, NULL), 2);
        free(b);
    }
    /* mountinfo: an escaped NUL is not a path. */
    {
        static const char t[] = "36 35 98:0 / /a\\000b rw - ext4 /dev/x rw\n";
        char *b = exact(t, sizeof(t) - 1);

        assert_int_equal(km_parse_mountinfo(b, sizeof(t) - 1, NULL, NULL), 1);
        free(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_u64),
        cmocka_unit_test(test_scan_i64),
        cmocka_unit_test(test_scan_double_word_line),
        cmocka_unit_test(test_stat_debian12),
        cmocka_unit_test(test_stat_kernel_2_6_9),
        cmocka_unit_test(test_stat_kernel_2_6_24),
        cmocka_unit_test(test_stat_kernel_6_x),
        cmocka_unit_test(test_stat_malformed_lines_skipped),
        cmocka_unit_test(test_review_regressions),
        cmocka_unit_test(test_stat_huge_numbers),
        cmocka_unit_test(test_meminfo_debian12),
        cmocka_unit_test(test_meminfo_3_10),
        cmocka_unit_test(test_meminfo_malformed_lines_skipped),
        cmocka_unit_test(test_meminfo_huge_numbers),
        cmocka_unit_test(test_diskstats_debian12),
        cmocka_unit_test(test_diskstats_14_fields),
        cmocka_unit_test(test_diskstats_18_fields),
        cmocka_unit_test(test_diskstats_20_fields),
        cmocka_unit_test(test_diskstats_malformed_lines_skipped),
        cmocka_unit_test(test_diskstats_longer_future_layout),
        cmocka_unit_test(test_diskstats_huge_numbers),
        cmocka_unit_test(test_netdev_debian12),
        cmocka_unit_test(test_netdev_counter_touching_colon),
        cmocka_unit_test(test_netdev_malformed_lines_skipped),
        cmocka_unit_test(test_mountinfo_debian12),
        cmocka_unit_test(test_mountinfo_escapes_fixture),
        cmocka_unit_test(test_mountinfo_octal_decoding),
        cmocka_unit_test(test_mountinfo_malformed_lines_skipped),
        cmocka_unit_test(test_mountinfo_long_fields),
        cmocka_unit_test(test_loadavg_uptime_filenr_debian12),
        cmocka_unit_test(test_small_literals),
        cmocka_unit_test(test_pressure_debian12),
        cmocka_unit_test(test_pressure_5_x_some_without_full),
        cmocka_unit_test(test_pressure_6_x),
        cmocka_unit_test(test_pressure_malformed_lines_skipped),
        cmocka_unit_test(test_pidstat_debian12),
        cmocka_unit_test(test_pidstat_comm_with_spaces_and_parens),
        cmocka_unit_test(test_empty_input),
        cmocka_unit_test(test_callbacks_optional),
        cmocka_unit_test(test_no_trailing_newline),
        cmocka_unit_test(test_line_cut_short),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
