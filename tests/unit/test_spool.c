/*
 * Unit tests: the agent's spool — order through many segments, survival across reopen
 * (with the delivery cursor), a torn record at the end cut off, the size bound dropping
 * whole oldest segments and counting their samples, a damaged record in the middle.
 */
#include "agent/ship/spool.h"
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
    snprintf(dir, sizeof(dir), "/tmp/kmon-test-spool-%d", (int)getpid());
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Request i: its number repeated, a size that varies. */
static size_t make(int i, char *buf)
{
    size_t n = 100 + (size_t)(i * 37 % 900);

    for (size_t k = 0; k < n; k++)
        buf[k] = (char)('a' + (i + (int)k) % 26);
    snprintf(buf, 16, "%08d", i);
    return n;
}

static void expect_next(struct km_spool *s, int i)
{
    struct km_buf b;
    char want[1024];
    size_t n = make(i, want);
    uint32_t samples;

    km_buf_init(&b, 0);
    assert_int_equal(km_spool_peek(s, &b, &samples, NULL), 0);
    assert_int_equal(samples, (uint32_t)i);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.data, want, n);
    assert_int_equal(km_spool_pop(s), 0);
    km_buf_fini(&b);
}

static void push(struct km_spool *s, int i, uint64_t *dropped)
{
    char buf[1024];
    size_t n = make(i, buf);

    assert_int_equal(km_spool_push(s, buf, n, (uint32_t)i, dropped), 0);
}

static void test_order_and_reopen(void **state)
{
    struct km_spool *s;
    struct km_spool_stats st;
    struct km_buf b;
    uint32_t samples;
    uint64_t dropped = 0;

    (void)state;
    km_buf_init(&b, 0);
    /* Small bound: segments of 64 KiB, so 300 requests span several. */
    assert_int_equal(km_spool_open(&s, dir, 1 << 20), 0);
    assert_true(km_spool_empty(s));
    assert_int_equal(km_spool_peek(s, &b, &samples, NULL), KM_ENOTFOUND);
    for (int i = 1; i <= 300; i++)
        push(s, i, &dropped);
    assert_int_equal(dropped, 0);
    km_spool_stats(s, &st);
    assert_int_equal(st.requests, 300);
    assert_int_equal(st.samples, 300 * 301 / 2);
    for (int i = 1; i <= 120; i++)
        expect_next(s, i);
    km_spool_close(s);
    /* Reopened: the cursor says where delivery stopped. */
    assert_int_equal(km_spool_open(&s, dir, 1 << 20), 0);
    km_spool_stats(s, &st);
    assert_int_equal(st.requests, 180);
    for (int i = 121; i <= 200; i++)
        expect_next(s, i);
    push(s, 301, &dropped);
    for (int i = 201; i <= 301; i++)
        expect_next(s, i);
    assert_true(km_spool_empty(s));
    km_spool_stats(s, &st);
    assert_int_equal(st.samples, 0);
    /* Everything delivered: the files are gone or back to their header. */
    assert_true(st.bytes <= 8);
    km_spool_close(s);
    km_buf_fini(&b);
}

static void test_torn_tail(void **state)
{
    struct km_spool *s;
    struct km_spool_stats st;
    char path[512];
    struct dirent *de;
    DIR *d;
    int fd;

    (void)state;
    assert_int_equal(km_spool_open(&s, dir, 1 << 20), 0);
    for (int i = 1; i <= 10; i++)
        push(s, i, NULL);
    km_spool_close(s);
    /* A crash in the middle of the 11th record: half a header and a few bytes. */
    d = opendir(dir);
    while ((de = readdir(d)) != NULL) {
        if (strstr(de->d_name, ".spool"))
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
    }
    closedir(d);
    fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "\x10\x00\x00\x00\x05\x00", 6), 6);
    close(fd);
    assert_int_equal(km_spool_open(&s, dir, 1 << 20), 0);
    km_spool_stats(s, &st);
    assert_int_equal(st.requests, 10);
    /* Appends continue after the last good record. */
    push(s, 11, NULL);
    for (int i = 1; i <= 11; i++)
        expect_next(s, i);
    km_spool_close(s);
}

static void test_bound_drops_oldest(void **state)
{
    struct km_spool *s;
    struct km_spool_stats st;
    uint64_t dropped = 0, pushed = 0;
    struct km_buf b;
    uint32_t samples;
    int first;

    (void)state;
    km_buf_init(&b, 0);
    assert_int_equal(km_spool_open(&s, dir, 256 * 1024), 0);
    for (int i = 1; i <= 2000; i++) {
        push(s, i, &dropped);
        pushed += (uint64_t)i;
    }
    km_spool_stats(s, &st);
    assert_true(st.bytes <= 256 * 1024);
    assert_true(dropped > 0);
    /* Nothing lost unaccounted: what is left plus what was dropped is what came in. */
    assert_int_equal(st.samples + dropped, pushed);
    /* The oldest went first: what is left is a contiguous run ending at 2000. */
    assert_int_equal(km_spool_peek(s, &b, &samples, NULL), 0);
    first = (int)samples;
    assert_true(first > 1);
    for (int i = first; i <= 2000; i++)
        expect_next(s, i);
    assert_true(km_spool_empty(s));
    km_spool_close(s);
    km_buf_fini(&b);
}

static void test_damaged_record(void **state)
{
    struct km_spool *s;
    struct km_spool_stats st;
    char path[512];
    struct dirent *de;
    DIR *d;
    int fd;

    (void)state;
    assert_int_equal(km_spool_open(&s, dir, 1 << 20), 0);
    for (int i = 1; i <= 5; i++)
        push(s, i, NULL);
    km_spool_close(s);
    d = opendir(dir);
    while ((de = readdir(d)) != NULL) {
        if (strstr(de->d_name, ".spool"))
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
    }
    closedir(d);
    /* Flip a byte inside the third record's payload. */
    fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    {
        off_t at = 8 + (12 + 100 + 37) + (12 + 100 + 74) + 12 + 50;
        char c;

        assert_int_equal(pread(fd, &c, 1, at), 1);
        c ^= 0x40;
        assert_int_equal(pwrite(fd, &c, 1, at), 1);
    }
    close(fd);
    /* The records before the damage are kept; the rest of the segment is not trusted. */
    assert_int_equal(km_spool_open(&s, dir, 1 << 20), 0);
    km_spool_stats(s, &st);
    assert_int_equal(st.requests, 2);
    expect_next(s, 1);
    expect_next(s, 2);
    assert_true(km_spool_empty(s));
    push(s, 6, NULL);
    expect_next(s, 6);
    km_spool_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_order_and_reopen, setup, setup),
        cmocka_unit_test_setup_teardown(test_torn_tail, setup, setup),
        cmocka_unit_test_setup_teardown(test_bound_drops_oldest, setup, setup),
        cmocka_unit_test_setup_teardown(test_damaged_record, setup, setup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
