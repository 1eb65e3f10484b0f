/*
 * Crash test: a child process appends batches of samples and reports each batch the
 * database acknowledged; the parent kills it with SIGKILL at a random moment — while
 * appending, cutting blocks, checkpointing or compacting, since the child runs
 * maintenance after every batch and blocks span only 10 s of data — then reopens the
 * directory and checks that every acknowledged sample is there, that nothing was
 * invented, and that the one batch in flight is all there or not at all. The child is
 * restarted on the same directory each time, so recovery is also tested on data that
 * has already been recovered before.
 */
#include "common/err.h"
#include "tsdb/tsdb.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NSERIES 20
#define ROUNDS  40

static char dir[256];

/* A clock 11.6 days after the epoch: every batch (t = b seconds) is in its past and
 * within the retention. */
static int64_t test_clock(void)
{
    return 1000000000;
}

static struct km_tsdb *open_db(bool background)
{
    struct km_tsdb_opts o;
    struct km_tsdb *db;

    km_tsdb_opts_default(&o);
    o.dir = dir;
    o.no_background = !background;
    o.clock_ms = test_clock;
    o.block_range_ms = 10000;
    o.ooo_window_ms = 2000;
    o.wal_segment_bytes = 8192;
    o.fsync_interval_ms = 50;
    if (km_tsdb_open(&db, &o) != 0) {
        fprintf(stderr, "open: %s\n", km_err_msg());
        return NULL;
    }
    return db;
}

/* Batch b holds every series at t = b seconds; the value is a function of both. */
static double value_of(int series, int64_t b)
{
    return (double)(b * 1000 + series) + 0.25;
}

static char series_name[NSERIES][16];

static void child(int fd, int64_t first)
{
    struct km_tsdb *db = open_db(true);

    if (!db)
        _exit(3);
    for (int64_t b = first;; b++) {
        struct km_sample s[NSERIES];
        struct km_label l[NSERIES][2];
        struct km_append_result r;
        char line[32];
        int n;

        for (int i = 0; i < NSERIES; i++) {
            l[i][0] = (struct km_label){ "__name__", "crash_test" };
            l[i][1] = (struct km_label){ "s", series_name[i] };
            s[i] = (struct km_sample){ l[i], 2, b * 1000, value_of(i, b) };
        }
        if (km_tsdb_append(db, s, NSERIES, NULL, &r) != 0)
            _exit(4);
        if (r.appended + r.duplicate != NSERIES)
            _exit(5);
        n = snprintf(line, sizeof(line), "%lld\n", (long long)b);
        if (write(fd, line, (size_t)n) != n)
            _exit(6);
        if (km_tsdb_maintain(db) != 0)
            _exit(7);
    }
}

/* Read acknowledged batch numbers until the deadline; returns the last one (or -1). */
static int64_t read_acks(int fd, int64_t last, int64_t deadline_ns)
{
    char buf[4096];
    static char pending[64];
    static size_t npending;

    for (;;) {
        struct timespec ts;
        struct pollfd p = { fd, POLLIN, 0 };
        int64_t now;
        ssize_t got;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        now = ts.tv_sec * 1000000000LL + ts.tv_nsec;
        if (now >= deadline_ns)
            return last;
        if (poll(&p, 1, (int)((deadline_ns - now) / 1000000) + 1) <= 0)
            continue;
        got = read(fd, buf, sizeof(buf));
        if (got <= 0)
            return last;
        for (ssize_t i = 0; i < got; i++) {
            if (buf[i] == '\n') {
                pending[npending] = '\0';
                last = strtoll(pending, NULL, 10);
                npending = 0;
            } else if (npending < sizeof(pending) - 1) {
                pending[npending++] = buf[i];
            }
        }
    }
}

static void verify(int64_t acked, int64_t *highest_seen)
{
    struct km_tsdb *db = open_db(false);
    struct km_tsdb_query *q;
    struct km_tsdb_series_set *ss;
    struct km_matcher *m;
    int nseries = 0;
    int64_t max_seen = -1;

    assert_non_null(db);
    assert_int_equal(km_matcher_create(&m, KM_MATCH_EQ, "__name__", "crash_test"), 0);
    assert_int_equal(km_tsdb_query_open(db, INT64_MIN, INT64_MAX, &q), 0);
    assert_int_equal(km_tsdb_select(q, &m, 1, &ss), 0);
    while (km_tsdb_series_next(ss)) {
        const char *name = km_labels_get(km_tsdb_series_labels(ss), "s");
        int id = atoi(name + 1);
        int64_t t, expect = 0;
        double v;

        nseries++;
        while (km_tsdb_series_sample(ss, &t, &v)) {
            int64_t b = t / 1000;

            /* No invented samples, no holes: batch numbers run 0, 1, 2, … */
            if (b != expect || t != b * 1000 || v != value_of(id, b))
                fail_msg("series %s: got (%lld, %g), expected batch %lld", name, (long long)t, v,
                         (long long)expect);
            expect++;
        }
        /* Every acknowledged batch is there; at most the one in flight beyond it. */
        if (expect - 1 < acked || expect - 1 > acked + 1)
            fail_msg("series %s ends at batch %lld, %lld were acknowledged", name,
                     (long long)(expect - 1), (long long)acked);
        if (expect - 1 > max_seen)
            max_seen = expect - 1;
    }
    assert_int_equal(km_tsdb_series_error(ss), 0);
    km_tsdb_series_set_destroy(ss);
    km_tsdb_query_close(q);
    km_matcher_destroy(m);
    km_tsdb_close(db);
    if (acked >= 0)
        assert_int_equal(nseries, NSERIES);
    *highest_seen = max_seen;
}

static void test_sigkill_loses_nothing_acknowledged(void **state)
{
    uint64_t rng = (uint64_t)time(NULL) ^ (uint64_t)getpid();
    int64_t acked = -1;

    (void)state;
    fprintf(stderr, "crash test seed %llu\n", (unsigned long long)rng);
    for (int i = 0; i < NSERIES; i++)
        snprintf(series_name[i], sizeof(series_name[i]), "s%d", i);
    for (int round = 0; round < ROUNDS; round++) {
        int fds[2], status;
        pid_t pid;
        struct timespec ts;
        int64_t first = acked + 1, highest;

        assert_int_equal(pipe(fds), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            child(fds[1], first);
        }
        close(fds[1]);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        /* Kill after 20 to 400 ms: tens to thousands of batches, through cuts. */
        acked =
            read_acks(fds[0], acked,
                      ts.tv_sec * 1000000000LL + ts.tv_nsec + (int64_t)(20 + rng % 380) * 1000000);
        kill(pid, SIGKILL);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        /* The lines still in the pipe: the child is gone, so read to the end. */
        acked = read_acks(fds[0], acked, INT64_MAX);
        close(fds[0]);
        if (!WIFSIGNALED(status))
            fail_msg("child exited with %d before the kill", WEXITSTATUS(status));
        verify(acked, &highest);
        /* The batch in flight may have made it: continue after what is there. */
        if (highest > acked)
            acked = highest;
    }
    assert_true(acked > ROUNDS);
}

static int setup(void **state)
{
    char cmd[300];

    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/kmon-test-crash-%d", (int)getpid());
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sigkill_loses_nothing_acknowledged, setup, setup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
