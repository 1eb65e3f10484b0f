/*
 * Crash test for the log store: a child process pushes batches and reports each
 * acknowledged batch through a pipe; the parent kills it with SIGKILL at a random
 * moment (chunks being cut, written and the WAL truncated meanwhile), reopens the
 * store, and checks that every acknowledged entry is there exactly once and nothing
 * else is. Several rounds, each child resuming with the first unacknowledged batch (a
 * retry: what the killed child wrote but did not report must be recognised as
 * duplicate).
 *
 * A second test kills a child that churns streams (one new stream per batch, as pods
 * come and go) on a fake clock with a 10-second retention, running retention after
 * every push: heads trimmed, chunk files deleted, the streams file rewritten by stream
 * GC over and over. After each kill the store must hold every acknowledged batch still
 * within the retention exactly once, nothing older, and stream ids must stay unique.
 */
#include "common/err.h"
#include "common/timefmt.h"
#include "logs/logstore.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PER_BATCH 40
#define MAX_BATCH 100000
#define NSTREAMS  5

static char g_dir[64];
static int64_t g_base;

static void make_line(char *out, size_t size, uint32_t b, uint32_t i)
{
    snprintf(out, size,
             "batch %u entry %u {\"level\":\"info\",\"msg\":\"request served\","
             "\"path\":\"/api/v1/items/%u\"}",
             b, i, (b * 7919u + i) % 100000u);
}

static void child(int wfd, uint32_t first)
{
    struct km_logstore_opts o = { .dir = g_dir,
                                  .chunk_target_bytes = 16 * 1024,
                                  .wal_segment_bytes = 64 * 1024,
                                  .fsync_interval_ms = 50 };
    struct km_logstore *s;
    static char lines[PER_BATCH][160];
    struct km_log_entry e[PER_BATCH];
    char sv[16];
    struct km_label lv[2] = { { "app", "crash" }, { "stream", sv } };

    if (km_logstore_open(&s, &o) < 0)
        _exit(3);
    for (uint32_t b = first; b < MAX_BATCH; b++) {
        struct km_log_push_stream ps = { lv, 2, e, PER_BATCH };
        struct km_log_push_result res;

        snprintf(sv, sizeof(sv), "s%u", b % NSTREAMS);
        for (uint32_t i = 0; i < PER_BATCH; i++) {
            make_line(lines[i], sizeof(lines[i]), b, i);
            e[i] = (struct km_log_entry){ g_base + ((int64_t)b * PER_BATCH + i) * 1000, lines[i],
                                          strlen(lines[i]) };
        }
        if (km_logstore_push(s, &ps, 1, &res) < 0 || res.stored + res.duplicate != PER_BATCH)
            _exit(4);
        if (write(wfd, &b, sizeof(b)) != sizeof(b))
            _exit(5);
    }
    _exit(0);
}

/* ---------------------------------------------------------------- stream churn */

#define GC_RETENTION_MS 10000
#define GC_STEP_MS      1000

static int64_t g_fake_ms;

static int64_t fake_now(void *ud)
{
    (void)ud;
    return g_fake_ms;
}

static int64_t gc_batch_ts(uint32_t b, uint32_t i)
{
    return (g_base / 1000000 + (int64_t)b * GC_STEP_MS) * 1000000 + (int64_t)i * 1000;
}

/* Odd batches are long enough (> 4 KiB) to be cut into a chunk file at once, even
 * ones stay in their stream's head (and the WAL) until retention trims them. */
static void gc_line(char *out, size_t size, uint32_t b, uint32_t i)
{
    make_line(out, size, b, i);
    if (b % 2) {
        size_t n = strlen(out);
        snprintf(out + n, size - n, " %s", "padding padding padding padding padding");
    }
}

static struct km_logstore_opts gc_opts(void)
{
    return (struct km_logstore_opts){ .dir = g_dir,
                                      .now_ms = fake_now,
                                      .retention_ms = GC_RETENTION_MS,
                                      .chunk_target_bytes = 4096,
                                      .chunk_file_bytes = 1,
                                      .wal_segment_bytes = 16 * 1024,
                                      .fsync_interval_ms = 50 };
}

static void gc_child(int wfd, uint32_t first)
{
    struct km_logstore_opts o = gc_opts();
    struct km_logstore *s;
    static char lines[PER_BATCH][160];
    struct km_log_entry e[PER_BATCH];
    char pod[16];
    struct km_label lv[2] = { { "app", "gc" }, { "pod", pod } };

    g_fake_ms = g_base / 1000000 + (int64_t)first * GC_STEP_MS;
    if (km_logstore_open(&s, &o) < 0)
        _exit(3);
    for (uint32_t b = first; b < MAX_BATCH; b++) {
        struct km_log_push_stream ps = { lv, 2, e, PER_BATCH };
        struct km_log_push_result res;

        g_fake_ms = g_base / 1000000 + (int64_t)b * GC_STEP_MS;
        snprintf(pod, sizeof(pod), "p%u", b);
        for (uint32_t i = 0; i < PER_BATCH; i++) {
            gc_line(lines[i], sizeof(lines[i]), b, i);
            e[i] = (struct km_log_entry){ gc_batch_ts(b, i), lines[i], strlen(lines[i]) };
        }
        if (km_logstore_push(s, &ps, 1, &res) < 0 || res.stored + res.duplicate != PER_BATCH)
            _exit(4);
        if (write(wfd, &b, sizeof(b)) != sizeof(b))
            _exit(5);
        km_logstore_retention(s);
    }
    _exit(0);
}

/* Read the store whole: every acknowledged batch below `next` still within the
 * retention at the store's clock exactly once, nothing older, one stream per batch. */
static void gc_verify(struct km_logstore *s, const uint8_t *acked, uint32_t next, int round)
{
    static uint8_t seen[MAX_BATCH][PER_BATCH];
    struct km_log_source src;
    struct km_matcher *m;
    struct km_log_set *set;
    struct km_log_batch bt;
    int64_t cut = (g_fake_ms - GC_RETENTION_MS) * 1000000;
    uint32_t nstreams = 0;

    memset(seen, 0, sizeof(seen));
    km_logstore_source(s, &src);
    assert_int_equal(km_matcher_create(&m, KM_MATCH_EQ, "app", "gc"), 0);
    struct km_log_select sel = { .m = &m, .nm = 1, .start_ns = 0, .end_ns = INT64_MAX };
    assert_int_equal(km_log_select(&src, &sel, &set), 0);
    while (km_log_set_next(set)) {
        unsigned pb;
        uint32_t n = 0;

        assert_int_equal(sscanf(km_labels_get(km_log_set_labels(set), "pod"), "p%u", &pb), 1);
        while (km_log_set_batch(set, &bt))
            for (size_t k = 0; k < bt.n; k++) {
                unsigned lb, li;
                char wl[160];

                assert_int_equal(sscanf(bt.e[k].line, "batch %u entry %u", &lb, &li), 2);
                assert_true(lb == pb && li < PER_BATCH);
                gc_line(wl, sizeof(wl), lb, li);
                assert_int_equal(bt.e[k].len, strlen(wl));
                assert_memory_equal(bt.e[k].line, wl, bt.e[k].len);
                assert_int_equal(bt.e[k].ts_ns, gc_batch_ts(lb, li));
                seen[lb][li]++;
                n++;
            }
        nstreams += n > 0;
    }
    assert_int_equal(km_log_set_error(set), 0);
    km_log_set_close(set);
    km_matcher_destroy(m);
    uint32_t want_streams = 0;
    for (uint32_t lb = 0; lb < next + 1 && lb < MAX_BATCH; lb++) {
        bool kept = gc_batch_ts(lb, PER_BATCH - 1) >= cut;
        bool any = false;

        for (uint32_t li = 0; li < PER_BATCH; li++) {
            if (seen[lb][li] > 1)
                fail_msg("round %d: batch %u entry %u seen %u times", round, lb, li, seen[lb][li]);
            if (acked[lb] && kept && gc_batch_ts(lb, li) >= cut && seen[lb][li] != 1)
                fail_msg("round %d: acknowledged batch %u entry %u lost", round, lb, li);
            if (seen[lb][li] && gc_batch_ts(lb, li) < cut)
                fail_msg("round %d: batch %u entry %u outlived the retention", round, lb, li);
            any |= seen[lb][li] > 0;
        }
        want_streams += any;
    }
    assert_int_equal(nstreams, want_streams);
}

static void test_kill_during_stream_gc(void **state)
{
    static uint8_t acked[MAX_BATCH];
    uint32_t next = 0;
    char cmd[128];

    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/kmon-test-loggc-XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    g_base = km_time_now_ns() - 3600LL * 1000000000;
    srand((unsigned)getpid() * 7u);
    for (int round = 0; round < 5; round++) {
        int p[2];
        pid_t pid;
        uint32_t b;
        int status, want = 20 + rand() % 60;

        assert_int_equal(pipe(p), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            gc_child(p[1], next);
        }
        close(p[1]);
        for (int got = 0; got < want && read(p[0], &b, sizeof(b)) == sizeof(b); got++) {
            acked[b] = 1;
            next = b + 1;
        }
        kill(pid, SIGKILL);
        while (read(p[0], &b, sizeof(b)) == sizeof(b)) {
            acked[b] = 1;
            next = b + 1;
        }
        close(p[0]);
        waitpid(pid, &status, 0);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        /* reopen at the clock of the next batch, apply retention, read everything;
         * then 5 s later (heads trimmed in memory, files deleted), again */
        struct km_logstore_opts o = gc_opts();
        struct km_logstore *s;

        g_fake_ms = g_base / 1000000 + (int64_t)next * GC_STEP_MS;
        assert_int_equal(km_logstore_open(&s, &o), 0);
        km_logstore_retention(s);
        gc_verify(s, acked, next, round);
        g_fake_ms += 5 * GC_STEP_MS;
        km_logstore_retention(s);
        gc_verify(s, acked, next, round);
        km_logstore_close(s);
    }
    assert_true(next > 20);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
    assert_int_equal(system(cmd), 0);
}

static void test_kill_and_reopen(void **state)
{
    static uint8_t acked[MAX_BATCH];
    static uint8_t seen[MAX_BATCH][PER_BATCH];
    uint32_t next = 0;
    char cmd[128];

    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/kmon-test-logcrash-XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    g_base = km_time_now_ns() - 60LL * 1000000000;
    srand((unsigned)getpid());
    for (int round = 0; round < 4; round++) {
        int p[2];
        pid_t pid;
        uint32_t b;
        int status, want = 200 + rand() % 400;

        assert_int_equal(pipe(p), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            child(p[1], next);
        }
        close(p[1]);
        for (int got = 0; got < want && read(p[0], &b, sizeof(b)) == sizeof(b); got++) {
            acked[b] = 1;
            next = b + 1;
        }
        kill(pid, SIGKILL);
        while (read(p[0], &b, sizeof(b)) == sizeof(b)) {
            acked[b] = 1;
            next = b + 1;
        }
        close(p[0]);
        waitpid(pid, &status, 0);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    }
    assert_true(next > 0);

    /* reopen and read everything */
    struct km_logstore_opts o = { .dir = g_dir };
    struct km_logstore *s;
    struct km_log_source src;
    struct km_matcher *m;
    struct km_log_set *set;
    struct km_log_batch bt;

    assert_int_equal(km_logstore_open(&s, &o), 0);
    km_logstore_source(s, &src);
    assert_int_equal(km_matcher_create(&m, KM_MATCH_EQ, "app", "crash"), 0);
    struct km_log_select sel = { .m = &m, .nm = 1, .start_ns = g_base, .end_ns = INT64_MAX };
    assert_int_equal(km_log_select(&src, &sel, &set), 0);
    while (km_log_set_next(set)) {
        int64_t last = INT64_MIN;

        while (km_log_set_batch(set, &bt))
            for (size_t k = 0; k < bt.n; k++) {
                unsigned b, i;
                char want[160];

                assert_true(bt.e[k].ts_ns >= last);
                last = bt.e[k].ts_ns;
                assert_int_equal(sscanf(bt.e[k].line, "batch %u entry %u", &b, &i), 2);
                assert_true(b < MAX_BATCH && i < PER_BATCH);
                make_line(want, sizeof(want), b, i);
                assert_int_equal(bt.e[k].len, strlen(want));
                assert_memory_equal(bt.e[k].line, want, bt.e[k].len);
                assert_int_equal(bt.e[k].ts_ns, g_base + ((int64_t)b * PER_BATCH + i) * 1000);
                seen[b][i]++;
            }
    }
    assert_int_equal(km_log_set_error(set), 0);
    km_log_set_close(set);
    km_matcher_destroy(m);
    km_logstore_close(s);
    for (uint32_t b = 0; b < MAX_BATCH; b++)
        for (uint32_t i = 0; i < PER_BATCH; i++) {
            if (seen[b][i] > 1 && getenv("KMON_LOGCRASH_DEBUG")) {
                km_logstore_inspect(g_dir, false, stderr);
                fprintf(stderr, "dir %s batch %u stream s%u\n", g_dir, b, b % NSTREAMS);
            }
            if (acked[b] && seen[b][i] != 1)
                fail_msg("acknowledged batch %u entry %u seen %u times", b, i, seen[b][i]);
            if (seen[b][i] > 1)
                fail_msg("batch %u entry %u seen %u times", b, i, seen[b][i]);
        }
    snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_and_reopen),
        cmocka_unit_test(test_kill_during_stream_gc),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
