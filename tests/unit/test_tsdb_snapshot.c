/*
 * Unit tests: km_tsdb_snapshot() and the data directory's format version. A snapshot of
 * blocks (cut, compacted) and a head with late samples opens as a database holding
 * exactly the same series and samples; snapshots taken while another thread appends,
 * cuts, compacts and deletes blocks by retention each open whole and hold every sample
 * acknowledged before they began that retention could not have removed; a non-empty
 * target and a read-only database are refused. kmon.version: written in a new directory,
 * written as 1 in an old one, a newer version refused by a writer and a reader, garbage
 * refused.
 */
#include "common/buf.h"
#include "common/err.h"
#include "tsdb/tsdb.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIN_MS  60000LL
#define HOUR_MS (60 * MIN_MS)

static char dir[256], out[300];
static _Atomic int64_t clock_now;

static int64_t test_clock(void)
{
    return atomic_load(&clock_now);
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
    snprintf(dir, sizeof(dir), "/tmp/kmon-test-snap-%d", (int)getpid());
    snprintf(out, sizeof(out), "%s.out", dir);
    rm_rf(dir);
    rm_rf(out);
    atomic_store(&clock_now, 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rm_rf(dir);
    rm_rf(out);
    return 0;
}

static int open_at(const char *d, int64_t retention, bool read_only, struct km_tsdb **db)
{
    struct km_tsdb_opts o;

    km_tsdb_opts_default(&o);
    o.dir = d;
    o.no_background = true;
    o.clock_ms = test_clock;
    o.block_range_ms = HOUR_MS;
    o.ooo_window_ms = 0;
    o.read_only = read_only;
    o.wal_lanes = 2;
    if (retention)
        o.retention_ms = retention;
    return km_tsdb_open(db, &o);
}

static struct km_tsdb *must_open(const char *d, int64_t retention)
{
    struct km_tsdb *db;

    if (open_at(d, retention, false, &db) != 0)
        fail_msg("open %s: %s", d, km_err_msg());
    return db;
}

static void put(struct km_tsdb *db, int series, int64_t t, double v)
{
    char inst[16];
    struct km_label l[2] = { { "__name__", "m" }, { "i", inst } };
    struct km_sample s = { l, 2, t, v };
    struct km_append_result r;

    snprintf(inst, sizeof(inst), "%03d", series);
    if (t > atomic_load(&clock_now))
        atomic_store(&clock_now, t);
    assert_int_equal(km_tsdb_append(db, &s, 1, NULL, &r), 0);
}

/* Every series and sample of the database within [mint, maxt] as text. */
static void dump(struct km_tsdb *db, int64_t mint, int64_t maxt, struct km_buf *b)
{
    struct km_tsdb_query *q;
    struct km_tsdb_series_set *ss;
    struct km_matcher *mt;

    km_buf_init(b, 0);
    assert_int_equal(km_matcher_create(&mt, KM_MATCH_RE, "__name__", ".+"), 0);
    assert_int_equal(km_tsdb_query_open(db, mint, maxt, &q), 0);
    assert_int_equal(km_tsdb_select(q, &mt, 1, &ss), 0);
    while (km_tsdb_series_next(ss)) {
        const struct km_labels *ls = km_tsdb_series_labels(ss);
        int64_t t;
        double v;

        for (size_t i = 0; i < ls->n; i++)
            km_buf_printf(b, "%s=%s,", ls->v[i].name, ls->v[i].value);
        km_buf_printf(b, "\n");
        while (km_tsdb_series_sample(ss, &t, &v))
            km_buf_printf(b, " %" PRId64 " %.17g\n", t, v);
    }
    assert_int_equal(km_tsdb_series_error(ss), 0);
    km_tsdb_series_set_destroy(ss);
    km_tsdb_query_close(q);
    km_matcher_destroy(mt);
    assert_int_equal(km_buf_error(&b[0]), 0);
}

static void test_snapshot_holds_blocks_and_head(void **state)
{
    struct km_tsdb *db = must_open(dir, 0), *snap;
    struct km_tsdb_snapshot_stats st;
    struct km_tsdb_stats ds;
    struct km_buf a, b;

    (void)state;
    /* Five hours of 20 series, a sample a minute: cut into blocks as they go. */
    for (int64_t t = 10 * HOUR_MS; t < 15 * HOUR_MS; t += MIN_MS) {
        for (int s = 0; s < 20; s++)
            put(db, s, t, (double)(t / MIN_MS) + s * 0.25);
        if (t % HOUR_MS == 0)
            assert_int_equal(km_tsdb_maintain(db), 0);
    }
    assert_int_equal(km_tsdb_maintain(db), 0);
    /* A late sample behind the cuts (of a new series: an old one's would be too far
     * behind its newest), kept in the head for a block of its own. */
    put(db, 99, 10 * HOUR_MS + 30000, 42);
    km_tsdb_stats(db, &ds);
    assert_true(ds.blocks >= 2);
    assert_true(ds.head_samples > 0);
    assert_true(ds.head_late_samples == 1);

    assert_int_equal(km_tsdb_snapshot(db, out, false, &st), 0);
    assert_int_equal(st.blocks, ds.blocks);
    assert_int_equal(st.head_samples, ds.head_samples); /* the late one included */
    assert_false(st.copied);
    /* Into a directory that holds something: refused. */
    assert_int_equal(km_tsdb_snapshot(db, out, false, &st), KM_EEXIST);

    snap = must_open(out, 0);
    dump(db, INT64_MIN, INT64_MAX, &a);
    dump(snap, INT64_MIN, INT64_MAX, &b);
    assert_true(a.len > 20 * 300 * 10);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    km_buf_fini(&b);
    /* The snapshot is a database of its own: compacting it changes nothing it holds. */
    km_tsdb_close(snap);
    snap = must_open(out, 0);
    assert_int_equal(km_tsdb_maintain(snap), 0);
    dump(snap, INT64_MIN, INT64_MAX, &b);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    km_buf_fini(&a);
    km_buf_fini(&b);
    km_tsdb_close(snap);

    /* skip_head: the blocks alone. */
    rm_rf(out);
    assert_int_equal(km_tsdb_snapshot(db, out, true, &st), 0);
    assert_int_equal(st.head_samples, 0);
    snap = must_open(out, 0);
    km_tsdb_stats(snap, &ds);
    assert_int_equal(ds.head_samples, 0);
    assert_int_equal(ds.blocks, st.blocks);
    km_tsdb_close(snap);
    km_tsdb_close(db);

    /* A read-only database (inspect) takes none. */
    rm_rf(out);
    assert_int_equal(open_at(dir, 0, true, &db), 0);
    assert_int_equal(km_tsdb_snapshot(db, out, false, &st), KM_EINVAL);
    km_tsdb_close(db);
}

struct writer {
    struct km_tsdb *db;
    _Atomic int64_t acked; /* every sample at or before this is appended */
    _Atomic int64_t limit; /* no sample after this is appended (yet) */
    atomic_bool stop;
};

/* Appends a minute at a time up to w->limit, running maintenance (cuts, compaction,
 * retention) each simulated quarter hour. */
static void *write_on(void *arg)
{
    struct writer *w = arg;

    for (int64_t t = 100 * HOUR_MS;; t += MIN_MS) {
        while (t > atomic_load(&w->limit) && !atomic_load(&w->stop))
            usleep(1000);
        if (atomic_load(&w->stop))
            break;
        for (int s = 0; s < 10; s++)
            put(w->db, s, t, (double)t);
        atomic_store(&w->acked, t);
        if (t % (15 * MIN_MS) == 0)
            assert_int_equal(km_tsdb_maintain(w->db), 0);
    }
    return NULL;
}

static void test_snapshot_while_maintenance_runs(void **state)
{
    struct writer w = { .db = must_open(dir, 30 * HOUR_MS) };
    struct km_tsdb_stats ds;
    pthread_t th;
    uint64_t deleted;

    (void)state;
    atomic_store(&w.acked, INT64_MIN);
    atomic_store(&w.limit, 100 * HOUR_MS);
    assert_int_equal(pthread_create(&th, NULL, write_on, &w), 0);
    for (int round = 0; round < 8; round++) {
        struct km_tsdb_snapshot_stats st;
        struct km_tsdb *snap;
        struct km_buf b;
        int64_t acked, from;
        size_t lines = 0;
        int64_t goal = 100 * HOUR_MS + (round + 1) * 5 * HOUR_MS;

        /* Retention follows the clock, which the writer's samples move. The writer goes
         * on (through the snapshot too) at most 5 hours past the goal, so past `acked`:
         * any further, and retention could rightly delete the oldest hours of the day
         * checked below before the snapshot begins. */
        atomic_store(&w.limit, goal + 5 * HOUR_MS);
        while (atomic_load(&w.acked) < goal)
            usleep(1000);
        acked = atomic_load(&w.acked);
        /* A day before the snapshot began (retention keeps 30 hours) must be whole. */
        from = acked - 24 * HOUR_MS + MIN_MS;
        if (from < 100 * HOUR_MS)
            from = 100 * HOUR_MS;
        rm_rf(out);
        assert_int_equal(km_tsdb_snapshot(w.db, out, false, &st), 0);
        snap = must_open(out, 1000 * HOUR_MS);
        km_tsdb_stats(snap, &ds);
        assert_int_equal(ds.blocks, st.blocks + (st.head_samples > 0));
        dump(snap, from, acked, &b);
        for (size_t i = 0; i < b.len; i++)
            lines += b.data[i] == '\n';
        assert_int_equal(lines, 10 * (1 + (acked - from) / MIN_MS + 1));
        km_buf_fini(&b);
        km_tsdb_close(snap);
    }
    atomic_store(&w.stop, true);
    pthread_join(th, NULL);
    km_tsdb_stats(w.db, &ds);
    deleted = ds.retention_deletions;
    assert_true(deleted > 0);
    assert_true(ds.compactions > 0);
    km_tsdb_close(w.db);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void read_file(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    size_t n;

    assert_non_null(f);
    n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static void test_format_version(void **state)
{
    struct km_tsdb *db;
    char path[400], text[64];

    (void)state;
    snprintf(path, sizeof(path), "%s/kmon.version", dir);
    db = must_open(dir, 0);
    put(db, 1, 1000, 1);
    km_tsdb_close(db);
    read_file(path, text, sizeof(text));
    assert_string_equal(text, "1\n");

    /* From before the file: version 1, written. */
    assert_int_equal(unlink(path), 0);
    db = must_open(dir, 0);
    km_tsdb_close(db);
    read_file(path, text, sizeof(text));
    assert_string_equal(text, "1\n");

    /* A newer version: refused by a writer and by a reader, and left as it is. */
    write_file(path, "2\n");
    assert_int_equal(open_at(dir, 0, false, &db), KM_EINVAL);
    assert_non_null(strstr(km_err_msg(), "holds data format version 2, newer than this kmon's "
                                         "version 1"));
    assert_non_null(strstr(km_err_msg(), dir));
    assert_int_equal(open_at(dir, 0, true, &db), KM_EINVAL);
    read_file(path, text, sizeof(text));
    assert_string_equal(text, "2\n");

    write_file(path, "1x\n");
    assert_int_equal(open_at(dir, 0, false, &db), KM_ECORRUPT);
    write_file(path, "");
    assert_int_equal(open_at(dir, 0, false, &db), KM_ECORRUPT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_snapshot_holds_blocks_and_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_while_maintenance_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_format_version, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
