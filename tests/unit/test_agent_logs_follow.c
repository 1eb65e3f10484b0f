/*
 * Unit tests: the log tailer over real files in a temporary host root — lines in order
 * with their labels; partial lines joined and cut at the cap with the mark; rotation as
 * the kubelet does it (rename, writes still landing in the renamed file, a new file,
 * gzip of the older one) read exactly once; a rotated (and gzipped) file that appeared
 * while the tailer was stopped; a restart resuming exactly at the acknowledged position
 * and re-reading what was not acknowledged; truncation; Docker json-file; multiline
 * records; fairness between a noisy and a quiet container; malformed lines skipped.
 */
#include "agent/logs/tailer.h"
#include "common/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char root[128], state[256], cdir[512], cdir2[512];

static void sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    assert_int_equal(system(cmd), 0);
}

static int setup(void **st)
{
    static int n;

    (void)st;
    snprintf(root, sizeof(root), "/tmp/kmon-test-tailer-%d-%d", (int)getpid(), n++);
    snprintf(state, sizeof(state), "%s/state", root);
    snprintf(cdir, sizeof(cdir), "%s/var/log/pods/ns1_pod1_uid1/app", root);
    snprintf(cdir2, sizeof(cdir2), "%s/var/log/pods/ns2_pod2_uid2/side", root);
    sh("rm -rf '%s' && mkdir -p '%s' '%s' '%s'", root, state, cdir, cdir2);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    sh("rm -rf '%s'", root);
    return 0;
}

/* Append CRI lines to dir/name: "<ts> <stream> <tag> <text>\n". */
static void cri(const char *dir, const char *name, const char *stream, const char *tag,
                const char *text)
{
    char path[1024];
    FILE *f;
    static long seq;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "a");
    assert_non_null(f);
    fprintf(f, "2026-12-06T05:19:%02ld.%09ldZ %s %s %s\n", (seq / 1000000000) % 60,
            seq % 1000000000, stream, tag, text);
    seq++;
    fclose(f);
}

static void lines(const char *dir, const char *name, int from, int to)
{
    char t[64];

    for (int i = from; i < to; i++) {
        snprintf(t, sizeof(t), "line %d", i);
        cri(dir, name, "stdout", "F", t);
    }
}

struct got {
    char **v;
    size_t n;
};

static void got_free(struct got *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->v[i]);
    free(g->v);
    g->v = NULL;
    g->n = 0;
}

static const char *label(const struct km_log_push_stream *s, const char *name)
{
    for (size_t i = 0; i < s->n_labels; i++)
        if (strcmp(s->labels[i].name, name) == 0)
            return s->labels[i].value;
    return "";
}

/* Take one batch into g ("<pod>/<container>/<stream>:<line>"); ack it when asked.
 * Returns the lines taken. */
static size_t take(struct km_tailer *t, struct got *g, bool ack)
{
    const struct km_log_push_stream *st;
    size_t n, total = 0;
    uint64_t bytes;

    assert_int_equal(km_tailer_fill(t, &st, &n, &bytes), 0);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(label(&st[i], "cluster"), "c1");
        assert_string_equal(label(&st[i], "node"), "n1");
        for (size_t e = 0; e < st[i].n_entries; e++) {
            const struct km_log_entry *en = &st[i].entries[e];
            size_t len = strlen(label(&st[i], "pod")) + strlen(label(&st[i], "container")) +
                         strlen(label(&st[i], "stream")) + en->len + 4;
            char *s = malloc(len);

            snprintf(s, len, "%s/%s/%s:%.*s", label(&st[i], "pod"), label(&st[i], "container"),
                     label(&st[i], "stream"), (int)en->len, en->line);
            g->v = realloc(g->v, (g->n + 1) * sizeof(*g->v));
            g->v[g->n++] = s;
            total++;
        }
    }
    if (ack)
        km_tailer_ack(t, true);
    return total;
}

/* Scan and take batches until nothing more comes. */
static void drain(struct km_tailer *t, struct got *g)
{
    int idle = 0;

    while (idle < 3) {
        assert_int_equal(km_tailer_scan(t), 0);
        if (take(t, g, true) == 0)
            idle++;
        else
            idle = 0;
    }
}

static struct km_tailer *open_t(size_t max_line, size_t batch, const char *ml)
{
    struct km_tailer *t;
    struct km_tailer_opts o = { .root = root,
                                .state_dir = state,
                                .cluster = "c1",
                                .node = "n1",
                                .max_line = max_line,
                                .batch_bytes = batch,
                                .multiline = ml,
                                .rotate_grace_ms = 1,
                                .multiline_flush_ms = 1 };

    assert_int_equal(km_tailer_open(&t, &o), 0);
    return t;
}

/* Expect exactly "pod1/app/stdout:line <from..to)" at g[at...]. */
static void expect_seq(const struct got *g, size_t at, int from, int to)
{
    char want[128];

    assert_true(g->n >= at + (size_t)(to - from));
    for (int i = from; i < to; i++) {
        snprintf(want, sizeof(want), "pod1/app/stdout:line %d", i);
        assert_string_equal(g->v[at + (size_t)(i - from)], want);
    }
}

static void gzip_file(const char *dir, const char *name)
{
    char src[1024], dst[1024], tmp[1100], buf[65536];
    FILE *in;
    gzFile out;
    size_t n;

    snprintf(src, sizeof(src), "%s/%s", dir, name);
    snprintf(dst, sizeof(dst), "%s/%s.gz", dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", dst);
    in = fopen(src, "r");
    out = gzopen(tmp, "wb");
    assert_non_null(in);
    assert_non_null(out);
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        assert_int_equal(gzwrite(out, buf, (unsigned)n), (int)n);
    fclose(in);
    assert_int_equal(gzclose(out), Z_OK);
    assert_int_equal(rename(tmp, dst), 0);
    assert_int_equal(unlink(src), 0);
}

static void test_basic(void **st)
{
    struct km_tailer *t = open_t(256 * 1024, 1 << 20, NULL);
    struct got g = { 0 };

    (void)st;
    lines(cdir, "0.log", 0, 100);
    cri(cdir2, "0.log", "stderr", "F", "side says");
    drain(t, &g);
    assert_int_equal(g.n, 101);
    {
        size_t at = strcmp(g.v[0], "pod2/side/stderr:side says") == 0 ? 1 : 0;

        assert_string_equal(g.v[at ? 0 : 100], "pod2/side/stderr:side says");
        expect_seq(&g, at, 0, 100);
    }
    got_free(&g);
    /* Appended lines, and a line written in two writes (the first without "\n"). */
    lines(cdir, "0.log", 100, 110);
    {
        char path[1024];
        FILE *f;

        snprintf(path, sizeof(path), "%s/0.log", cdir);
        f = fopen(path, "a");
        fputs("2026-12-06T05:20:00Z stdout F line ", f);
        fclose(f);
        drain(t, &g);
        f = fopen(path, "a");
        fputs("110\n", f);
        fclose(f);
    }
    drain(t, &g);
    assert_int_equal(g.n, 11);
    expect_seq(&g, 0, 100, 111);
    got_free(&g);
    km_tailer_close(t);
}

static void test_partials_and_cap(void **st)
{
    struct km_tailer *t = open_t(256, 1 << 20, NULL);
    struct got g = { 0 };
    char big[1001];
    struct km_tailer_stats s;

    (void)st;
    cri(cdir, "0.log", "stdout", "P", "hello ");
    cri(cdir, "0.log", "stderr", "F", "interleaved");
    cri(cdir, "0.log", "stdout", "P", "partial ");
    cri(cdir, "0.log", "stdout", "F", "world");
    /* 1000 bytes in 100-byte partials: cut into 256-byte pieces, marked. */
    for (int i = 0; i < 1000; i++)
        big[i] = (char)('a' + i % 26);
    big[1000] = '\0';
    for (int i = 0; i < 10; i++) {
        char piece[101];

        memcpy(piece, big + i * 100, 100);
        piece[100] = '\0';
        cri(cdir, "0.log", "stdout", i == 9 ? "F" : "P", piece);
    }
    drain(t, &g);
    /* Pieces of 256 bytes: 256 - mark bytes of text and the mark, while more than 256
     * bytes remain; then the rest unmarked (1000 = 4 x 226 + 96). */
    assert_int_equal(g.n, 2 + 5);
    assert_string_equal(g.v[0], "pod1/app/stderr:interleaved");
    assert_string_equal(g.v[1], "pod1/app/stdout:hello partial world");
    {
        char joined[1100] = "";
        const char *pre = "pod1/app/stdout:";
        size_t ml = strlen(KM_TAILER_SPLIT_MARK), pmax = 256 - ml;

        for (size_t i = 2; i < 7; i++) {
            const char *txt = g.v[i] + strlen(pre);
            size_t len = strlen(txt);

            assert_memory_equal(g.v[i], pre, strlen(pre));
            if (i < 6) {
                assert_int_equal(len, 256);
                assert_string_equal(txt + pmax, KM_TAILER_SPLIT_MARK);
                strncat(joined, txt, pmax);
            } else {
                assert_int_equal(len, 1000 - 4 * pmax);
                strcat(joined, txt);
            }
        }
        assert_string_equal(joined, big);
    }
    km_tailer_stats(t, &s);
    assert_int_equal(s.lines_split, 4);
    got_free(&g);
    km_tailer_close(t);
}

static void test_long_physical_line(void **st)
{
    /* One CRI line of 2 MiB without partials: cut into pieces like joined partials. */
    struct km_tailer *t = open_t(4096, 1 << 20, NULL);
    struct got g = { 0 };
    size_t n = 2u << 20, total = 0;
    char *txt = malloc(n + 1);

    (void)st;
    for (size_t i = 0; i < n; i++)
        txt[i] = (char)('A' + i % 23);
    txt[n] = '\0';
    cri(cdir, "0.log", "stdout", "F", txt);
    lines(cdir, "0.log", 0, 3);
    drain(t, &g);
    {
        size_t pmax = 4096 - strlen(KM_TAILER_SPLIT_MARK), rem = n, pieces = 1;

        while (rem > 4096) {
            rem -= pmax;
            pieces++;
        }
        assert_int_equal(g.n, pieces + 3);
        for (size_t i = 0; i < pieces; i++) {
            const char *p = g.v[i] + strlen("pod1/app/stdout:");
            size_t len = strlen(p), piece = i + 1 < pieces ? pmax : n - total;

            if (i + 1 < pieces) {
                assert_int_equal(len, 4096);
                assert_string_equal(p + pmax, KM_TAILER_SPLIT_MARK);
            } else {
                assert_int_equal(len, piece);
            }
            assert_memory_equal(p, txt + total, piece);
            total += piece;
        }
    }
    assert_int_equal(total, n);
    expect_seq(&g, g.n - 3, 0, 3);
    got_free(&g);
    free(txt);
    km_tailer_close(t);
}

static void test_rotation(void **st)
{
    struct km_tailer *t = open_t(256 * 1024, 4096, NULL);
    struct got g = { 0 };
    char a[1024], b[1024];

    (void)st;
    lines(cdir, "0.log", 0, 200);
    assert_int_equal(km_tailer_scan(t), 0);
    take(t, &g, true); /* part of it */
    /* The kubelet renames; the runtime still writes a few lines to the renamed file
     * before it reopens; then a new 0.log. */
    snprintf(a, sizeof(a), "%s/0.log", cdir);
    snprintf(b, sizeof(b), "%s/0.log.20261206-051900", cdir);
    assert_int_equal(rename(a, b), 0);
    lines(cdir, "0.log.20261206-051900", 200, 210);
    lines(cdir, "0.log", 210, 300);
    usleep(10000); /* past the rotation grace */
    drain(t, &g);
    assert_int_equal(g.n, 300);
    expect_seq(&g, 0, 0, 300);
    got_free(&g);
    /* The next rotation; the older one gzipped (and its plain file removed). */
    snprintf(b, sizeof(b), "%s/0.log.20261206-052000", cdir);
    assert_int_equal(rename(a, b), 0);
    lines(cdir, "0.log", 300, 350);
    gzip_file(cdir, "0.log.20261206-051900");
    usleep(10000);
    drain(t, &g);
    assert_int_equal(g.n, 50);
    expect_seq(&g, 0, 300, 350);
    got_free(&g);
    assert_int_equal(km_tailer_checkpoint(t), 0);
    km_tailer_close(t);
    /* Restarted: nothing is read again (the gzipped copy is known). */
    t = open_t(256 * 1024, 4096, NULL);
    drain(t, &g);
    assert_int_equal(g.n, 0);
    km_tailer_close(t);
}

static void test_rotated_while_stopped(void **st)
{
    struct km_tailer *t = open_t(256 * 1024, 2048, NULL);
    struct got g = { 0 };
    char a[1024], b[1024];
    size_t acked, unacked;

    (void)st;
    lines(cdir, "0.log", 0, 2000);
    assert_int_equal(km_tailer_scan(t), 0);
    take(t, &g, true);
    take(t, &g, true);
    acked = g.n;
    unacked = take(t, &g, false); /* read, not acknowledged: read again after the restart */
    assert_true(acked > 0 && unacked > 0 && acked + unacked < 2000);
    assert_int_equal(km_tailer_checkpoint(t), 0);
    km_tailer_close(t);
    got_free(&g);
    /* While stopped: more lines, rotation, gzip, a new file, and another rotation. */
    lines(cdir, "0.log", 2000, 2100);
    snprintf(a, sizeof(a), "%s/0.log", cdir);
    snprintf(b, sizeof(b), "%s/0.log.20261206-051900", cdir);
    assert_int_equal(rename(a, b), 0);
    gzip_file(cdir, "0.log.20261206-051900");
    lines(cdir, "0.log", 2100, 2200);
    snprintf(b, sizeof(b), "%s/0.log.20261206-052000", cdir);
    assert_int_equal(rename(a, b), 0);
    lines(cdir, "0.log", 2200, 2300);
    usleep(10000);
    t = open_t(256 * 1024, 2048, NULL);
    drain(t, &g);
    /* Exactly from the first unacknowledged line on. */
    assert_int_equal(g.n, 2300 - acked);
    expect_seq(&g, 0, (int)acked, 2300);
    got_free(&g);
    km_tailer_close(t);
}

static void test_restart_exact(void **st)
{
    struct km_tailer *t = open_t(256 * 1024, 1 << 20, NULL);
    struct got g = { 0 };

    (void)st;
    lines(cdir, "0.log", 0, 50);
    drain(t, &g);
    assert_int_equal(g.n, 50);
    got_free(&g);
    assert_int_equal(km_tailer_checkpoint(t), 0);
    km_tailer_close(t);
    lines(cdir, "0.log", 50, 100);
    t = open_t(256 * 1024, 1 << 20, NULL);
    drain(t, &g);
    assert_int_equal(g.n, 50);
    expect_seq(&g, 0, 50, 100);
    got_free(&g);
    km_tailer_close(t);
    /* A different file under the same name (another inode, other bytes): read whole. */
    sh("rm '%s/0.log'", cdir);
    lines(cdir, "0.log", 1000, 1010);
    t = open_t(256 * 1024, 1 << 20, NULL);
    drain(t, &g);
    assert_int_equal(g.n, 10);
    expect_seq(&g, 0, 1000, 1010);
    got_free(&g);
    km_tailer_close(t);
}

static void test_truncation(void **st)
{
    struct km_tailer *t = open_t(256 * 1024, 1 << 20, NULL);
    struct got g = { 0 };
    char a[1024];
    struct km_tailer_stats s;

    (void)st;
    lines(cdir, "0.log", 0, 50);
    drain(t, &g);
    got_free(&g);
    snprintf(a, sizeof(a), "%s/0.log", cdir);
    assert_int_equal(truncate(a, 0), 0);
    lines(cdir, "0.log", 50, 60);
    drain(t, &g);
    assert_int_equal(g.n, 10);
    expect_seq(&g, 0, 50, 60);
    km_tailer_stats(t, &s);
    assert_int_equal(s.truncations, 1);
    got_free(&g);
    km_tailer_close(t);
}

static void test_docker(void **st)
{
    struct km_tailer *t = open_t(256 * 1024, 1 << 20, NULL);
    struct got g = { 0 };
    char p[1024];
    FILE *f;

    (void)st;
    snprintf(p, sizeof(p), "%s/0.log", cdir);
    f = fopen(p, "w");
    fputs("{\"log\":\"one\\n\",\"stream\":\"stdout\",\"time\":\"2026-12-06T05:19:08Z\"}\n"
          "{\"log\":\"tw\",\"stream\":\"stderr\",\"time\":\"2026-12-06T05:19:09Z\"}\n"
          "{\"log\":\"o\\n\",\"stream\":\"stderr\",\"time\":\"2026-12-06T05:19:10Z\"}\n"
          "not json\n"
          "{\"log\":\"three "
          "\\\"q\\\"\\n\",\"stream\":\"stdout\",\"time\":\"2026-12-06T05:19:11Z\"}\n",
          f);
    fclose(f);
    drain(t, &g);
    /* A batch holds each stream's lines together: order is per stream. */
    assert_int_equal(g.n, 3);
    assert_string_equal(g.v[0], "pod1/app/stdout:one");
    assert_string_equal(g.v[1], "pod1/app/stdout:three \"q\"");
    assert_string_equal(g.v[2], "pod1/app/stderr:two");
    {
        struct km_tailer_stats s;

        km_tailer_stats(t, &s);
        assert_int_equal(s.drop_malformed, 1);
    }
    got_free(&g);
    km_tailer_close(t);
}

static void test_multiline(void **st)
{
    struct km_tailer *t = open_t(256 * 1024, 1 << 20, "ns1/app=^\\d{4}-;*/other=^x");
    struct got g = { 0 };

    (void)st;
    cri(cdir, "0.log", "stdout", "F", "2026-12-06 ERROR boom");
    cri(cdir, "0.log", "stdout", "F", "\tat a.b(C.java:1)");
    cri(cdir, "0.log", "stdout", "F", "\tat d.e(F.java:2)");
    cri(cdir, "0.log", "stdout", "F", "2026-12-06 INFO next");
    cri(cdir2, "0.log", "stdout", "F", "\tnot joined: no rule for ns2/side");
    drain(t, &g);
    usleep(5000); /* past the idle flush */
    drain(t, &g);
    assert_int_equal(g.n, 3);
    {
        size_t i = strncmp(g.v[0], "pod2", 4) == 0 ? 1 : 0;

        assert_string_equal(g.v[i], "pod1/app/stdout:2026-12-06 ERROR boom\n\tat a.b(C.java:1)\n"
                                    "\tat d.e(F.java:2)");
        assert_string_equal(g.v[2], "pod1/app/stdout:2026-12-06 INFO next");
    }
    got_free(&g);
    km_tailer_close(t);
    {
        struct km_tailer *bad;
        struct km_tailer_opts o = {
            .root = root, .max_line = 4096, .batch_bytes = 4096, .multiline = "ns1/app=("
        };

        assert_int_equal(km_tailer_open(&bad, &o), KM_EINVAL);
        o.multiline = "no-equals";
        assert_int_equal(km_tailer_open(&bad, &o), KM_EINVAL);
    }
}

static void test_fairness(void **st)
{
    /* A noisy container with 100x the quiet one's bytes: the quiet one's lines are all
     * in the first batch. */
    struct km_tailer *t = open_t(256 * 1024, 64 * 1024, NULL);
    struct got g = { 0 };
    size_t quiet = 0;

    (void)st;
    lines(cdir, "0.log", 0, 20000);
    for (int i = 0; i < 100; i++)
        cri(cdir2, "0.log", "stdout", "F", "quiet");
    assert_int_equal(km_tailer_scan(t), 0);
    take(t, &g, true);
    for (size_t i = 0; i < g.n; i++)
        quiet += strncmp(g.v[i], "pod2/", 5) == 0;
    assert_int_equal(quiet, 100);
    assert_true(g.n < 20000);
    got_free(&g);
    km_tailer_close(t);
}

static void test_fairness_many(void **st)
{
    /* 40 busy containers and a quiet one: with the batch shared out between them, the
     * quiet container's line is in the first batch. */
    struct km_tailer *t = open_t(256 * 1024, 256 * 1024, NULL);
    struct got g = { 0 };
    bool quiet = false;

    (void)st;
    for (int k = 0; k < 40; k++) {
        char d[600];

        snprintf(d, sizeof(d), "%s/var/log/pods/busy_b%02d_u%02d/c", root, k, k);
        sh("mkdir -p '%s'", d);
        lines(d, "0.log", 0, 2000);
    }
    cri(cdir2, "0.log", "stdout", "F", "quiet");
    assert_int_equal(km_tailer_scan(t), 0);
    take(t, &g, true);
    for (size_t i = 0; i < g.n; i++)
        quiet |= strcmp(g.v[i], "pod2/side/stdout:quiet") == 0;
    assert_true(quiet);
    got_free(&g);
    km_tailer_close(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_basic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partials_and_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_physical_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotated_while_stopped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_docker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multiline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fairness, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fairness_many, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
