/*
 * Unit tests: the ClickHouse store's write side without ClickHouse — series ids (values
 * computed by an independent XXH64, order independence, empty values ignored), the map
 * of known series, and the spool (records split per shard, acknowledged positions across
 * reopen, a torn tail truncated, the size bound, segments deleted once every shard is
 * past them, replay, a spool written for another number of shards).
 */
#include "chstore/series.h"
#include "chstore/spool.h"
#include "common/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[128];

static int setup(void **state)
{
    char cmd[200];

    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/kmon-test-chspool-%d", (int)getpid());
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    return setup(state);
}

/* ---- series ids ------------------------------------------------------------------------ */

static void test_series_id_known(void **state)
{
    struct km_label up[] = { { "job", "node" }, { "__name__", "up" } };
    struct km_label http[] = { { "instance", "10.0.0.1:9100" },
                               { "code", "200" },
                               { "job", "api" },
                               { "__name__", "http_requests_total" } };

    (void)state;
    /* XXH64 (seed 0) of "" and of "name\xffvalue\xff…" in name order, by a separate
     * implementation of XXH64 (whose "" and "abc" match the reference vectors). */
    assert_true(km_ch_series_id(NULL, 0) == 0xef46db3751d8e999ULL);
    assert_true(km_ch_series_id(up, 2) == 0x01585e2399cc2df6ULL);
    assert_true(km_ch_series_id(http, 4) == 0x245ce731c13ad0cbULL);
}

static void test_series_id_order(void **state)
{
    struct km_label a[] = { { "__name__", "m" }, { "a", "1" }, { "b", "2" }, { "c", "3" } };
    struct km_label b[] = { { "c", "3" }, { "a", "1" }, { "__name__", "m" }, { "b", "2" } };
    struct km_label with_empty[] = {
        { "c", "3" }, { "a", "1" }, { "z", "" }, { "__name__", "m" }, { "b", "2" }
    };
    struct km_label x[] = { { "__name__", "m" }, { "a", "bc" } };
    struct km_label y[] = { { "__name__", "m" }, { "ab", "c" } };
    struct km_label other[] = { { "__name__", "m" }, { "a", "1" }, { "b", "2" }, { "c", "4" } };

    (void)state;
    assert_true(km_ch_series_id(a, 4) == km_ch_series_id(b, 4));
    assert_true(km_ch_series_id(a, 4) == km_ch_series_id(with_empty, 5));
    assert_true(km_ch_series_id(x, 2) != km_ch_series_id(y, 2));
    assert_true(km_ch_series_id(a, 4) != km_ch_series_id(other, 4));
}

/* ---- the known-series map ------------------------------------------------------------ */

static int count_labels(void *ud, const struct km_labels *l, const struct km_ch_note *note)
{
    int *seen = ud;

    *seen = (int)l->n * 10 + (note->write_row ? 1 : 0);
    return 0;
}

static void test_known_map(void **state)
{
    struct km_label l[] = { { "__name__", "up" }, { "job", "node" } };
    const int64_t hour = 3600 * 1000LL, t0 = 1000 * hour;
    uint64_t id = km_ch_series_id(l, 2);
    struct km_ch_known *k;
    struct km_ch_note n;
    int seen = 0;

    (void)state;
    assert_int_equal(km_ch_known_create(&k, 0), 0);
    assert_int_equal(km_ch_known_with(k, id, t0, count_labels, &seen), KM_ENOTFOUND);
    assert_int_equal(km_ch_known_note(k, id, l, 2, t0 + 5, t0, &n), 0);
    assert_true(n.created && n.write_row);
    assert_int_equal(n.first_ms, t0 + 5);
    /* Not yet written: the next sample still wants its row. */
    assert_int_equal(km_ch_known_note(k, id, l, 2, t0 + 10, t0, &n), 0);
    assert_true(!n.created && n.write_row);
    km_ch_known_written(k, id, t0 + 10);
    assert_int_equal(km_ch_known_note(k, id, l, 2, t0 + 20, t0, &n), 0);
    assert_false(n.write_row);
    /* An earlier sample moves first_ms back. */
    assert_int_equal(km_ch_known_note(k, id, l, 2, t0 - 100, t0, &n), 0);
    assert_int_equal(n.first_ms, t0 - 100);
    assert_false(n.write_row);
    /* A newer hour wants a row again. */
    assert_int_equal(km_ch_known_with(k, id, t0 + hour, count_labels, &seen), 0);
    assert_int_equal(seen, 21);
    assert_int_equal(km_ch_known_with(k, id, t0 + 30, count_labels, &seen), 0);
    assert_int_equal(seen, 20);
    assert_true(km_ch_known_has(k, id));
    assert_int_equal(km_ch_known_size(k), 1);
    km_ch_known_destroy(k);
}

static void test_known_bounded(void **state)
{
    const int64_t hour = 3600 * 1000LL, now = 1000 * hour;
    struct km_ch_known *k;
    size_t bound;

    (void)state;
    /* 640 series at most: 64 stripes of 11 (the bound per stripe rounds up). */
    assert_int_equal(km_ch_known_create(&k, 640), 0);
    bound = 64 * (640 / 64 + 1);
    for (int i = 0; i < 5000; i++) {
        char v[16];
        struct km_label l[] = { { "__name__", "m" }, { "i", v } };
        struct km_ch_note n;
        uint64_t id;

        snprintf(v, sizeof(v), "%d", i);
        id = km_ch_series_id(l, 2);
        assert_int_equal(km_ch_known_note(k, id, l, 2, now, now, &n), 0);
        assert_true(n.write_row);
        km_ch_known_written(k, id, now);
    }
    assert_true(km_ch_known_size(k) <= bound);
    assert_true(km_ch_known_size(k) >= 640 / 2);
    km_ch_known_destroy(k);
}

/* ---- the spool ------------------------------------------------------------------------- */

static struct km_ch_spool *open_spool(size_t nshards, uint64_t max, uint64_t seg)
{
    struct km_ch_spool_opts o = { .dir = dir,
                                  .nshards = nshards,
                                  .max_bytes = max,
                                  .segment_bytes = seg,
                                  .fsync_interval_ms = 1000 };
    struct km_ch_spool *sp = NULL;

    assert_int_equal(km_ch_spool_open(&sp, &o), 0);
    return sp;
}

/* Record i: for shard 0, "S<i>" series rows (1 row) when i is even and "s<i>" sample rows
 * (i+1 rows); for shard 1, "t<i>" sample rows (2 rows). */
static void append_record(struct km_ch_spool *sp, int i)
{
    char a[16], b[16], c[16];
    struct km_ch_spool_part p[3];
    size_t n = 0;

    snprintf(a, sizeof(a), "S%d;", i);
    snprintf(b, sizeof(b), "s%d;", i);
    snprintf(c, sizeof(c), "t%d;", i);
    if (i % 2 == 0)
        p[n++] = (struct km_ch_spool_part){ 0, KM_CH_PART_SERIES, 1, a, (uint32_t)strlen(a) };
    p[n++] =
        (struct km_ch_spool_part){ 0, KM_CH_PART_SAMPLES, (uint32_t)i + 1, b, (uint32_t)strlen(b) };
    p[n++] = (struct km_ch_spool_part){ 1, KM_CH_PART_SAMPLES, 2, c, (uint32_t)strlen(c) };
    assert_int_equal(km_ch_spool_append(sp, p, n), 0);
}

/* Read shard's rows from *pos (all of them) and compare with records [from, to). */
static void expect_rows(struct km_ch_spool *sp, size_t shard, struct km_ch_spool_pos *pos, int from,
                        int to)
{
    struct km_buf ser, smp, ls, lg, want_ser, want_smp;
    struct km_buf *const out[KM_CH_PART__N] = { &ser, &smp, &ls, &lg };
    size_t rows[KM_CH_PART__N], want_rows[2] = { 0, 0 };

    km_buf_init(&ser, 0);
    km_buf_init(&smp, 0);
    km_buf_init(&ls, 0);
    km_buf_init(&lg, 0);
    km_buf_init(&want_ser, 0);
    km_buf_init(&want_smp, 0);
    for (int i = from; i < to; i++) {
        if (shard == 0 && i % 2 == 0) {
            km_buf_printf(&want_ser, "S%d;", i);
            want_rows[KM_CH_PART_SERIES]++;
        }
        km_buf_printf(&want_smp, "%c%d;", shard == 0 ? 's' : 't', i);
        want_rows[KM_CH_PART_SAMPLES] += shard == 0 ? (size_t)i + 1 : 2;
    }
    assert_int_equal(km_ch_spool_read(sp, shard, pos, 1u << 30, out, rows), 0);
    assert_int_equal(ls.len + lg.len, 0);
    assert_string_equal(km_buf_cstr(&ser), km_buf_cstr(&want_ser));
    assert_string_equal(km_buf_cstr(&smp), km_buf_cstr(&want_smp));
    assert_int_equal(rows[KM_CH_PART_SERIES], want_rows[KM_CH_PART_SERIES]);
    assert_int_equal(rows[KM_CH_PART_SAMPLES], want_rows[KM_CH_PART_SAMPLES]);
    assert_false(km_ch_spool_pending(sp, pos));
    km_buf_fini(&ser);
    km_buf_fini(&smp);
    km_buf_fini(&ls);
    km_buf_fini(&lg);
    km_buf_fini(&want_ser);
    km_buf_fini(&want_smp);
}

static void test_spool_split_and_ack(void **state)
{
    struct km_ch_spool *sp = open_spool(2, 0, 0);
    struct km_ch_spool_pos p0, p1;
    struct km_ch_spool_stats st;

    (void)state;
    for (int i = 0; i < 5; i++)
        append_record(sp, i);
    km_ch_spool_acked(sp, 0, &p0);
    km_ch_spool_acked(sp, 1, &p1);
    assert_true(km_ch_spool_pending(sp, &p0));
    expect_rows(sp, 0, &p0, 0, 5);
    expect_rows(sp, 1, &p1, 0, 5);
    /* Shard 0 acknowledged, shard 1 not: after reopen, 0 starts after record 4, 1 at 0. */
    assert_int_equal(km_ch_spool_ack(sp, 0, &p0), 0);
    assert_int_equal(km_ch_spool_wait_acked(sp, 1), KM_ETIMEDOUT);
    km_ch_spool_close(sp);

    sp = open_spool(2, 0, 0);
    km_ch_spool_stats(sp, &st);
    assert_true(st.replay_bytes > 0);
    for (int i = 5; i < 8; i++)
        append_record(sp, i);
    km_ch_spool_acked(sp, 0, &p0);
    km_ch_spool_acked(sp, 1, &p1);
    expect_rows(sp, 0, &p0, 5, 8);
    expect_rows(sp, 1, &p1, 0, 8);
    assert_int_equal(km_ch_spool_ack(sp, 0, &p0), 0);
    assert_int_equal(km_ch_spool_ack(sp, 1, &p1), 0);
    assert_int_equal(km_ch_spool_wait_acked(sp, 1000), 0);
    km_ch_spool_stats(sp, &st);
    assert_int_equal(st.unacked, 0);
    assert_int_equal(st.segments, 1); /* the finished segment is gone */
    km_ch_spool_close(sp);

    sp = open_spool(2, 0, 0);
    km_ch_spool_stats(sp, &st);
    assert_int_equal(st.replay_bytes, 0);
    km_ch_spool_close(sp);
}

/* The segment file with the highest number. */
static void last_segment(char *out, size_t n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char best[256] = "";

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, "seg-", 4) == 0 && strcmp(e->d_name, best) > 0)
            snprintf(best, sizeof(best), "%s", e->d_name);
    closedir(d);
    assert_true(best[0] != '\0');
    snprintf(out, n, "%s/%s", dir, best);
}

static void test_spool_torn_tail(void **state)
{
    struct km_ch_spool *sp = open_spool(2, 0, 0);
    struct km_ch_spool_pos p0, p1;
    struct km_ch_spool_stats st;
    char path[512];
    struct stat s;

    (void)state;
    for (int i = 0; i < 3; i++)
        append_record(sp, i);
    km_ch_spool_close(sp);
    /* Cut the last record in half, as a crash in its write would. */
    last_segment(path, sizeof(path));
    assert_int_equal(stat(path, &s), 0);
    assert_int_equal(truncate(path, s.st_size - 5), 0);

    sp = open_spool(2, 0, 0);
    km_ch_spool_stats(sp, &st);
    assert_int_equal(st.truncated, 1);
    km_ch_spool_acked(sp, 0, &p0);
    km_ch_spool_acked(sp, 1, &p1);
    expect_rows(sp, 0, &p0, 0, 2);
    expect_rows(sp, 1, &p1, 0, 2);
    km_ch_spool_close(sp);
}

static void test_spool_corrupt_byte(void **state)
{
    struct km_ch_spool *sp = open_spool(2, 0, 0);
    struct km_ch_spool_pos p0;
    struct km_ch_spool_stats st;
    char path[512];
    struct stat s;
    int fd;

    (void)state;
    for (int i = 0; i < 3; i++)
        append_record(sp, i);
    km_ch_spool_close(sp);
    /* A flipped byte in the last record's payload: its CRC fails, it is cut. */
    last_segment(path, sizeof(path));
    assert_int_equal(stat(path, &s), 0);
    fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "#", 1, s.st_size - 2), 1);
    close(fd);

    sp = open_spool(2, 0, 0);
    km_ch_spool_stats(sp, &st);
    assert_int_equal(st.truncated, 1);
    km_ch_spool_acked(sp, 0, &p0);
    expect_rows(sp, 0, &p0, 0, 2);
    km_ch_spool_close(sp);
}

static void test_spool_bound(void **state)
{
    struct km_ch_spool *sp = open_spool(2, 300, 0);
    struct km_ch_spool_part p = { 0, KM_CH_PART_SAMPLES, 1,
                                  "0123456789012345678901234567890123456789", 40 };
    struct km_ch_spool_pos p0, p1;
    int rc = 0, ok = 0;

    (void)state;
    while (ok < 100 && (rc = km_ch_spool_append(sp, &p, 1)) == 0)
        ok++;
    assert_int_equal(rc, KM_ELIMIT);
    assert_non_null(strstr(km_err_msg(), "ClickHouse is behind: the spool holds"));
    assert_non_null(strstr(km_err_msg(), "--clickhouse-spool-max"));
    assert_true(ok > 0 && ok < 100);
    /* Once both shards acknowledged, there is room again (a new segment). */
    km_ch_spool_acked(sp, 0, &p0);
    km_ch_spool_acked(sp, 1, &p1);
    {
        struct km_buf a, b;
        struct km_buf *const out[KM_CH_PART__N] = { &a, &b, &a, &a };
        size_t rows[KM_CH_PART__N];

        km_buf_init(&a, 0);
        km_buf_init(&b, 0);
        assert_int_equal(km_ch_spool_read(sp, 0, &p0, 1000, out, rows), 0);
        assert_int_equal(rows[KM_CH_PART_SAMPLES], (size_t)ok);
        assert_int_equal(km_ch_spool_read(sp, 1, &p1, 1000, out, rows), 0);
        assert_int_equal(rows[KM_CH_PART_SAMPLES], 0);
        km_buf_fini(&a);
        km_buf_fini(&b);
    }
    assert_int_equal(km_ch_spool_ack(sp, 0, &p0), 0);
    assert_int_equal(km_ch_spool_ack(sp, 1, &p1), 0);
    assert_int_equal(km_ch_spool_append(sp, &p, 1), KM_ELIMIT); /* the active segment stays */
    km_ch_spool_close(sp);
    sp = open_spool(2, 300, 0); /* a new active segment: the old one is finished, deleted */
    assert_int_equal(km_ch_spool_append(sp, &p, 1), 0);
    km_ch_spool_close(sp);
}

static void test_spool_segments(void **state)
{
    struct km_ch_spool *sp = open_spool(2, 0, 200);
    struct km_ch_spool_pos p0, p1;
    struct km_ch_spool_stats st;

    (void)state;
    for (int i = 0; i < 40; i++)
        append_record(sp, i);
    km_ch_spool_stats(sp, &st);
    assert_true(st.segments > 5);
    km_ch_spool_acked(sp, 0, &p0);
    km_ch_spool_acked(sp, 1, &p1);
    expect_rows(sp, 0, &p0, 0, 40);
    assert_int_equal(km_ch_spool_ack(sp, 0, &p0), 0);
    km_ch_spool_stats(sp, &st);
    assert_true(st.segments > 5); /* shard 1 still needs them */
    km_ch_spool_close(sp);

    /* Replay after reopen: shard 1 gets every record, across the segments. */
    sp = open_spool(2, 0, 200);
    km_ch_spool_acked(sp, 1, &p1);
    expect_rows(sp, 1, &p1, 0, 40);
    assert_int_equal(km_ch_spool_ack(sp, 1, &p1), 0);
    km_ch_spool_stats(sp, &st);
    assert_int_equal(st.segments, 1);
    assert_int_equal(st.unacked, 0);
    km_ch_spool_close(sp);
}

static void test_spool_other_shards(void **state)
{
    struct km_ch_spool_opts o = { .dir = dir, .nshards = 3 };
    struct km_ch_spool *sp = open_spool(2, 0, 0), *other = NULL;

    (void)state;
    append_record(sp, 0);
    km_ch_spool_close(sp);
    assert_int_equal(km_ch_spool_open(&other, &o), KM_EINVAL);
    assert_non_null(strstr(km_err_msg(), "shards"));
    assert_null(other);
    /* Opened twice at once: refused. */
    sp = open_spool(2, 0, 0);
    o.nshards = 2;
    assert_int_equal(km_ch_spool_open(&other, &o), KM_EEXIST);
    km_ch_spool_close(sp);
}

/* The log kinds: each kind's rows come out in their own buffer, per shard, in record
 * order, across a reopen; a part of an unknown kind is corruption, not rows. */
static void test_spool_log_kinds(void **state)
{
    struct km_ch_spool *sp = open_spool(2, 0, 0);
    struct km_ch_spool_part p[4] = {
        { 0, KM_CH_PART_LOG_STREAMS, 1, "L0;", 3 },
        { 0, KM_CH_PART_LOGS, 3, "e0;", 3 },
        { 1, KM_CH_PART_LOGS, 2, "f0;", 3 },
        { 1, KM_CH_PART_SAMPLES, 1, "s0;", 3 },
    };
    struct km_ch_spool_part bad = { 0, 7, 1, "x", 1 };
    struct km_buf b[KM_CH_PART__N];
    struct km_buf *const out[KM_CH_PART__N] = { &b[0], &b[1], &b[2], &b[3] };
    struct km_ch_spool_pos p0, p1;
    size_t rows[KM_CH_PART__N];

    (void)state;
    for (size_t k = 0; k < KM_CH_PART__N; k++)
        km_buf_init(&b[k], 0);
    assert_int_equal(km_ch_spool_append(sp, p, 4), 0);
    p[0].data = "L1;";
    p[1].data = "e1;";
    assert_int_equal(km_ch_spool_append(sp, p, 2), 0);
    km_ch_spool_close(sp);
    sp = open_spool(2, 0, 0);
    km_ch_spool_acked(sp, 0, &p0);
    km_ch_spool_acked(sp, 1, &p1);
    assert_int_equal(km_ch_spool_read(sp, 0, &p0, 1000, out, rows), 0);
    assert_string_equal(km_buf_cstr(&b[KM_CH_PART_LOG_STREAMS]), "L0;L1;");
    assert_string_equal(km_buf_cstr(&b[KM_CH_PART_LOGS]), "e0;e1;");
    assert_int_equal(b[KM_CH_PART_SERIES].len + b[KM_CH_PART_SAMPLES].len, 0);
    assert_int_equal(rows[KM_CH_PART_LOG_STREAMS], 2);
    assert_int_equal(rows[KM_CH_PART_LOGS], 6);
    for (size_t k = 0; k < KM_CH_PART__N; k++)
        km_buf_reset(&b[k]);
    assert_int_equal(km_ch_spool_read(sp, 1, &p1, 1000, out, rows), 0);
    assert_string_equal(km_buf_cstr(&b[KM_CH_PART_LOGS]), "f0;");
    assert_string_equal(km_buf_cstr(&b[KM_CH_PART_SAMPLES]), "s0;");
    assert_int_equal(rows[KM_CH_PART_LOGS], 2);
    assert_int_equal(rows[KM_CH_PART_LOG_STREAMS], 0);
    assert_int_equal(km_ch_spool_ack(sp, 0, &p0), 0);
    assert_int_equal(km_ch_spool_ack(sp, 1, &p1), 0);
    assert_int_equal(km_ch_spool_append(sp, &bad, 1), 0);
    assert_int_equal(km_ch_spool_read(sp, 1, &p1, 1000, out, rows), KM_ECORRUPT);
    assert_non_null(strstr(km_err_msg(), "unknown kind 7"));
    for (size_t k = 0; k < KM_CH_PART__N; k++)
        km_buf_fini(&b[k]);
    km_ch_spool_close(sp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_series_id_known),
        cmocka_unit_test(test_series_id_order),
        cmocka_unit_test(test_known_map),
        cmocka_unit_test(test_known_bounded),
        cmocka_unit_test_setup_teardown(test_spool_split_and_ack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_torn_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_corrupt_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_segments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_other_shards, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_log_kinds, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
