/*
 * Unit tests: the database end to end in a temporary directory — appends read back
 * after close and reopen (WAL replay), blocks cut by a forced flush and by the head's
 * span, compaction and retention, label queries across head and blocks, and recovery
 * from a torn WAL tail, from corruption in the middle of a segment, and from a damaged
 * block file; a cut never hides samples from a query that was open while it ran.
 */
#include "common/err.h"
#include "tsdb/tsdb.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char dir[256];

/* The database's clock: it follows the newest sample put(), as a sender's clock would. */
static int64_t clock_now;

static int64_t test_clock(void)
{
    return clock_now;
}

static void rm_rf(const char *path)
{
    char cmd[600];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fail_msg("cannot remove %s", path);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/kmon-test-tsdb-%d", (int)getpid());
    rm_rf(dir);
    clock_now = 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rm_rf(dir);
    return 0;
}

static struct km_tsdb *open_db_retention(int64_t range, int64_t window, int64_t retention)
{
    struct km_tsdb_opts o;
    struct km_tsdb *db;

    km_tsdb_opts_default(&o);
    if (retention)
        o.retention_ms = retention;
    o.dir = dir;
    o.no_background = true;
    o.clock_ms = test_clock;
    o.wal_lanes = 2;
    if (range)
        o.block_range_ms = range;
    if (window >= 0)
        o.ooo_window_ms = window;
    if (km_tsdb_open(&db, &o) != 0)
        fail_msg("open: %s", km_err_msg());
    return db;
}

static struct km_tsdb *open_db(int64_t range, int64_t window)
{
    return open_db_retention(range, window, 0);
}

/* Append value v at t to series m{job=j,i=<inst>}. */
static void put(struct km_tsdb *db, const char *m, const char *inst, int64_t t, double v)
{
    struct km_label l[3] = { { "__name__", m }, { "job", "j" }, { "i", inst } };
    struct km_sample s = { l, 3, t, v };
    struct km_append_result r;

    if (t > clock_now)
        clock_now = t;
    assert_int_equal(km_tsdb_append(db, &s, 1, NULL, &r), 0);
    assert_int_equal(r.appended + r.duplicate, 1);
}

/* Count series and samples selected by __name__=m over [mint, maxt]; *sum of values. */
static size_t count(struct km_tsdb *db, const char *m, int64_t mint, int64_t maxt, size_t *ser,
                    double *sum)
{
    struct km_tsdb_query *q;
    struct km_tsdb_series_set *ss;
    struct km_matcher *mt;
    size_t n = 0, ns = 0;
    double acc = 0;

    assert_int_equal(km_matcher_create(&mt, KM_MATCH_EQ, "__name__", m), 0);
    assert_int_equal(km_tsdb_query_open(db, mint, maxt, &q), 0);
    assert_int_equal(km_tsdb_select(q, &mt, 1, &ss), 0);
    while (km_tsdb_series_next(ss)) {
        int64_t t, prev = INT64_MIN;
        double v;

        ns++;
        while (km_tsdb_series_sample(ss, &t, &v)) {
            assert_true(t > prev);
            assert_true(t >= mint && t <= maxt);
            prev = t;
            acc += v;
            n++;
        }
    }
    assert_int_equal(km_tsdb_series_error(ss), 0);
    km_tsdb_series_set_destroy(ss);
    km_tsdb_query_close(q);
    km_matcher_destroy(mt);
    if (ser)
        *ser = ns;
    if (sum)
        *sum = acc;
    return n;
}

static void test_append_reopen(void **state)
{
    struct km_tsdb *db = open_db(0, -1);
    struct km_tsdb_stats st;
    size_t ns;
    double sum;

    (void)state;
    for (int i = 0; i < 500; i++) {
        put(db, "up", "a", 1000000 + i * 1000LL, i);
        put(db, "up", "b", 1000000 + i * 1000LL, 2 * i);
    }
    put(db, "up", "a", 1000000, 0); /* a duplicate */
    assert_int_equal(count(db, "up", INT64_MIN, INT64_MAX, &ns, &sum), 1000);
    assert_int_equal(ns, 2);
    km_tsdb_close(db);
    db = open_db(0, -1);
    assert_int_equal(count(db, "up", INT64_MIN, INT64_MAX, &ns, &sum), 1000);
    assert_true(sum == 3.0 * 499 * 500 / 2);
    assert_int_equal(count(db, "up", 1000000 + 100000, 1000000 + 199000, NULL, NULL), 200);
    km_tsdb_stats(db, &st);
    assert_int_equal(st.series, 2);
    assert_int_equal(st.head_samples, 1000);
    km_tsdb_close(db);
}

static void test_flush_to_block_and_reopen(void **state)
{
    struct km_tsdb *db = open_db(0, -1);
    struct km_tsdb_stats st;
    double sum;

    (void)state;
    for (int i = 0; i < 300; i++)
        put(db, "m", "x", 5000000 + i * 15000LL, i * 0.5);
    assert_int_equal(km_tsdb_flush(db), 0);
    km_tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 1);
    assert_int_equal(st.block_samples, 300);
    assert_int_equal(st.head_samples, 0);
    /* The series' samples are all in the block now: an older sample is taken again (a
     * lagging sender loses nothing), and where it conflicts with a stored value the
     * stored one wins, in queries and in compaction. */
    {
        struct km_label l[3] = { { "__name__", "m" }, { "job", "j" }, { "i", "x" } };
        struct km_sample s = { l, 3, 5000000, 1 };
        struct km_append_result r;

        assert_int_equal(km_tsdb_append(db, &s, 1, NULL, &r), 0);
        assert_int_equal(r.appended, 1);
        km_tsdb_stats(db, &st);
        assert_int_equal(st.head_late_samples, 1);
    }
    put(db, "m", "x", 5000000 + 300 * 15000LL, 150);
    assert_int_equal(count(db, "m", INT64_MIN, INT64_MAX, NULL, &sum), 301);
    km_tsdb_close(db);
    db = open_db(0, -1);
    assert_int_equal(count(db, "m", INT64_MIN, INT64_MAX, NULL, &sum), 301);
    assert_true(sum == 0.5 * 299 * 300 / 2 + 150);
    /* The late sample's block overlaps the first: compaction merges them, and the value
     * stored first stays. */
    assert_int_equal(km_tsdb_flush(db), 0);
    assert_int_equal(km_tsdb_maintain(db), 0);
    km_tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 1);
    assert_int_equal(st.compactions, 1);
    assert_int_equal(st.block_samples, 301);
    assert_int_equal(count(db, "m", INT64_MIN, INT64_MAX, NULL, &sum), 301);
    assert_true(sum == 0.5 * 299 * 300 / 2 + 150);
    km_tsdb_close(db);
}

static void test_cut_compact_retention(void **state)
{
    /* 1-minute blocks, 10 s out-of-order window, 30-minute retention (so blocks span at
     * most 3 minutes): a 25-minute stream cuts many blocks, compaction merges them in
     * windows of 3, a shorter retention at the next open deletes the oldest. */
    struct km_tsdb *db = open_db_retention(60000, 10000, 1800000);
    struct km_tsdb_stats st;
    size_t total = 0;

    (void)state;
    for (int i = 0; i < 1500; i++) {
        put(db, "c", "1", i * 1000LL, i);
        put(db, "c", "2", i * 1000LL, -i);
        total += 2;
        if (i % 100 == 99)
            if (km_tsdb_maintain(db) != 0)
                fail_msg("maintain: %s", km_err_msg());
    }
    for (int k = 0; k < 20; k++)
        assert_int_equal(km_tsdb_maintain(db), 0);
    km_tsdb_stats(db, &st);
    assert_true(st.block_cuts >= 20);
    assert_true(st.compactions >= 5);
    assert_int_equal(st.block_samples + st.head_samples, total);
    assert_int_equal(count(db, "c", INT64_MIN, INT64_MAX, NULL, NULL), total);
    assert_int_equal(count(db, "c", 600000, 1199999, NULL, NULL), 1200);
    km_tsdb_close(db);
    /* Reopen with a 10-minute retention: blocks older than that go. */
    db = open_db_retention(60000, 10000, 600000);
    assert_int_equal(km_tsdb_maintain(db), 0);
    km_tsdb_stats(db, &st);
    assert_true(st.retention_deletions > 0);
    assert_true(count(db, "c", INT64_MIN, INT64_MAX, NULL, NULL) < total);
    assert_int_equal(count(db, "c", 1500000 - 500000, INT64_MAX, NULL, NULL), 1000);
    km_tsdb_close(db);
}

struct cut_run {
    struct km_tsdb *db;
    int rc;
    atomic_bool done;
};

static void *run_flush(void *arg)
{
    struct cut_run *c = arg;

    c->rc = km_tsdb_flush(c->db);
    atomic_store(&c->done, true);
    return NULL;
}

/* Samples of m{i=x} a query that is already open reads now. */
static size_t count_open(struct km_tsdb_query *q)
{
    struct km_tsdb_series_set *ss;
    struct km_matcher *mt;
    int64_t t;
    double v;
    size_t n = 0;

    assert_int_equal(km_matcher_create(&mt, KM_MATCH_EQ, "__name__", "m"), 0);
    assert_int_equal(km_tsdb_select(q, &mt, 1, &ss), 0);
    while (km_tsdb_series_next(ss))
        while (km_tsdb_series_sample(ss, &t, &v))
            n++;
    assert_int_equal(km_tsdb_series_error(ss), 0);
    km_tsdb_series_set_destroy(ss);
    km_matcher_destroy(mt);
    return n;
}

static void test_cut_during_open_query(void **state)
{
    /* A query pins the blocks that exist when it opens and reads the head later: a cut
     * that adds a block after the query opened must not drop that block's samples from
     * the head until the query is closed, or the query sees neither copy (a rate over
     * a cut boundary came out short while the background cut ran). */
    struct km_tsdb *db = open_db(0, -1);
    struct km_tsdb_query *q;
    struct km_tsdb_stats st;
    struct cut_run c = { .db = db };
    pthread_t th;

    (void)state;
    for (int i = 0; i < 300; i++)
        put(db, "m", "x", 5000000 + i * 15000LL, i);
    assert_int_equal(km_tsdb_query_open(db, INT64_MIN, INT64_MAX, &q), 0);
    assert_int_equal(pthread_create(&th, NULL, run_flush, &c), 0);
    /* Wait until the cut has added its block (it then waits for the query). */
    for (int k = 0; k < 20000; k++) {
        km_tsdb_stats(db, &st);
        if (st.blocks == 1 || atomic_load(&c.done))
            break;
        nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
    }
    assert_int_equal(st.blocks, 1);
    assert_int_equal(count_open(q), 300);
    assert_false(atomic_load(&c.done)); /* the head keeps the samples while q is open */
    km_tsdb_query_close(q);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(c.rc, 0);
    km_tsdb_stats(db, &st);
    assert_int_equal(st.head_samples, 0);
    assert_int_equal(count(db, "m", INT64_MIN, INT64_MAX, NULL, NULL), 300);
    km_tsdb_close(db);
}

struct names {
    char v[16][32];
    int n;
};

static int add_name(void *ud, const char *s)
{
    struct names *x = ud;

    if (x->n < 16)
        snprintf(x->v[x->n++], sizeof(x->v[0]), "%s", s);
    return 0;
}

static void test_labels_across_head_and_blocks(void **state)
{
    struct km_tsdb *db = open_db(0, -1);
    struct km_tsdb_query *q;
    struct names n = { .n = 0 };

    (void)state;
    put(db, "old", "a", 1000, 1);
    assert_int_equal(km_tsdb_flush(db), 0);
    put(db, "new", "b", 2000, 1);
    assert_int_equal(km_tsdb_query_open(db, INT64_MIN, INT64_MAX, &q), 0);
    assert_int_equal(km_tsdb_label_values(q, "__name__", NULL, 0, add_name, &n), 0);
    assert_int_equal(n.n, 2);
    assert_string_equal(n.v[0], "new");
    assert_string_equal(n.v[1], "old");
    n.n = 0;
    assert_int_equal(km_tsdb_label_names(q, NULL, 0, add_name, &n), 0);
    assert_int_equal(n.n, 3);
    km_tsdb_query_close(q);
    /* Without matchers over the whole head the index answers; over part of it the
     * series are looked at, and one with no sample in the range is left out. */
    put(db, "new", "c", 9000, 1);
    put(db, "other", "d", 3000, 1);
    n.n = 0;
    assert_int_equal(km_tsdb_query_open(db, 0, 10000, &q), 0);
    assert_int_equal(km_tsdb_label_values(q, "i", NULL, 0, add_name, &n), 0);
    assert_int_equal(n.n, 4);
    assert_string_equal(n.v[3], "d");
    n.n = 0;
    assert_int_equal(km_tsdb_label_values(q, "no_such_label", NULL, 0, add_name, &n), 0);
    assert_int_equal(n.n, 0);
    km_tsdb_query_close(q);
    n.n = 0;
    assert_int_equal(km_tsdb_query_open(db, 5000, 10000, &q), 0);
    assert_int_equal(km_tsdb_label_values(q, "i", NULL, 0, add_name, &n), 0);
    assert_int_equal(n.n, 1);
    assert_string_equal(n.v[0], "c");
    n.n = 0;
    assert_int_equal(km_tsdb_label_values(q, "__name__", NULL, 0, add_name, &n), 0);
    assert_int_equal(n.n, 1);
    km_tsdb_query_close(q);
    km_tsdb_close(db);
}

static char *first_segment(char *out, size_t size)
{
    char wal[300];
    DIR *d;
    struct dirent *de;

    snprintf(wal, sizeof(wal), "%s/wal", dir);
    d = opendir(wal);
    out[0] = '\0';
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        char p[600];

        snprintf(p, sizeof(p), "%s/%s", wal, de->d_name);
        if (strlen(de->d_name) == 8 && stat(p, &st) == 0 && st.st_size > 100 &&
            (!out[0] || strcmp(p, out) < 0))
            snprintf(out, size, "%s", p);
    }
    closedir(d);
    return out;
}

static void test_torn_tail(void **state)
{
    struct km_tsdb *db = open_db(0, -1);
    char seg[600];
    struct stat st;

    (void)state;
    for (int i = 0; i < 100; i++)
        put(db, "t", "a", i * 1000LL, i);
    km_tsdb_close(db);
    first_segment(seg, sizeof(seg));
    assert_int_equal(stat(seg, &st), 0);
    assert_int_equal(truncate(seg, st.st_size - 7), 0); /* the last record is cut */
    db = open_db(0, -1);
    assert_int_equal(count(db, "t", INT64_MIN, INT64_MAX, NULL, NULL), 99);
    put(db, "t", "a", 200000, 1); /* and the log is writable again */
    km_tsdb_close(db);
    db = open_db(0, -1);
    assert_int_equal(count(db, "t", INT64_MIN, INT64_MAX, NULL, NULL), 100);
    km_tsdb_close(db);
}

static void test_corruption_in_the_middle(void **state)
{
    struct km_tsdb *db = open_db(0, -1);
    char seg[600];
    struct stat st;
    size_t n;
    int fd;

    (void)state;
    for (int i = 0; i < 100; i++)
        put(db, "c", "a", i * 1000LL, i);
    km_tsdb_close(db);
    first_segment(seg, sizeof(seg));
    assert_int_equal(stat(seg, &st), 0);
    fd = open(seg, O_RDWR);
    assert_true(fd >= 0);
    /* Damage a byte in the middle of the segment. */
    assert_int_equal(pwrite(fd, "\xff\xff\xff", 3, st.st_size / 2), 3);
    close(fd);
    db = open_db(0, -1); /* opens, with what came before the damage */
    n = count(db, "c", INT64_MIN, INT64_MAX, NULL, NULL);
    assert_true(n > 20 && n < 100);
    put(db, "c", "a", 500000, 1);
    km_tsdb_close(db);
    db = open_db(0, -1);
    assert_int_equal(count(db, "c", INT64_MIN, INT64_MAX, NULL, NULL), n + 1);
    km_tsdb_close(db);
}

static void test_damaged_block(void **state)
{
    struct km_tsdb *db = open_db(0, -1);
    struct km_tsdb_stats st;
    char blocks[300], path[700];
    DIR *d;
    struct dirent *de;

    (void)state;
    for (int i = 0; i < 100; i++)
        put(db, "d", "a", i * 1000LL, i);
    assert_int_equal(km_tsdb_flush(db), 0);
    km_tsdb_close(db);
    snprintf(blocks, sizeof(blocks), "%s/blocks", dir);
    d = opendir(blocks);
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] != '.')
            snprintf(path, sizeof(path), "%s/%s/index", blocks, de->d_name);
    }
    closedir(d);
    assert_int_equal(truncate(path, 20), 0);
    db = open_db(0, -1); /* the store opens; the block is set aside */
    km_tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 0);
    put(db, "d", "a", 200000, 1);
    km_tsdb_close(db);
}

/* A selection that takes any order still merges a block with the head (each series once,
 * its samples in time order, in label order); over the head alone it gets every series
 * once, in the head's own order — not sorted, that being the work it saves. */
static void test_any_order_select(void **state)
{
    struct km_tsdb *db = open_db(0, -1);
    char inst[16];

    (void)state;
    for (int i = 0; i < 200; i++) {
        snprintf(inst, sizeof(inst), "i%03d", (i * 37) % 200);
        put(db, "s", inst, 1000000, i);
    }
    assert_int_equal(km_tsdb_flush(db), 0);
    for (int j = 0; j < 100; j++) {
        snprintf(inst, sizeof(inst), "i%03d", (j * 37) % 100 * 2);
        put(db, "s", inst, 2000000, j);
    }
    for (int pass = 0; pass < 4; pass++) {
        bool head_only = pass & 1, any_order = pass & 2;
        struct km_tsdb_query *q;
        struct km_tsdb_series_set *ss;
        struct km_matcher *mt;
        bool seen[200] = { false };
        size_t ns = 0, nsamples = 0, inversions = 0;
        int last = -1;

        assert_int_equal(km_matcher_create(&mt, KM_MATCH_EQ, "__name__", "s"), 0);
        assert_int_equal(km_tsdb_query_open(db, head_only ? 1500000 : 0, 3000000, &q), 0);
        assert_int_equal(km_tsdb_select_range(q, &mt, 1, INT64_MIN, INT64_MAX, KM_TSDB_READ_SAMPLES,
                                              any_order, &ss),
                         0);
        while (km_tsdb_series_next(ss)) {
            const char *v = km_labels_get(km_tsdb_series_labels(ss), "i");
            int64_t t, prev = INT64_MIN;
            double x;
            int k;

            assert_non_null(v);
            k = atoi(v + 1);
            assert_false(seen[k]);
            seen[k] = true;
            inversions += k < last;
            last = k;
            ns++;
            while (km_tsdb_series_sample(ss, &t, &x)) {
                assert_true(t > prev);
                prev = t;
                nsamples++;
            }
        }
        assert_int_equal(km_tsdb_series_error(ss), 0);
        assert_int_equal(ns, head_only ? 100 : 200);
        assert_int_equal(nsamples, head_only ? 100 : 300);
        if (head_only && any_order)
            assert_true(inversions > 0);
        else
            assert_int_equal(inversions, 0);
        km_tsdb_series_set_destroy(ss);
        km_tsdb_query_close(q);
        km_matcher_destroy(mt);
    }
    km_tsdb_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_to_block_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cut_compact_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cut_during_open_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_labels_across_head_and_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corruption_in_the_middle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_any_order_select, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
