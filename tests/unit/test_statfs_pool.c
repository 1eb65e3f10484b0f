/*
 * Unit tests: statfs_pool — a hanging statvfs() costs one timeout, the path is then
 * skipped while it hangs, other paths keep working on a fresh worker, and the path is
 * tried again once the hung call returns. The hang is injected with a fake statvfs
 * blocked on a condition the test controls (the runtime tests use a real stopped FUSE
 * mount).
 */
#include "agent/statfs_pool.h"
#include "common/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int released;
static int calls_hang;

static int fake_statvfs(const char *path, struct statvfs *st)
{
    memset(st, 0, sizeof(*st));
    if (strcmp(path, "/hang") == 0) {
        pthread_mutex_lock(&mu);
        calls_hang++;
        while (!released)
            pthread_cond_wait(&cv, &mu);
        pthread_mutex_unlock(&mu);
    }
    if (strcmp(path, "/missing") == 0) {
        errno = ENOENT;
        return -1;
    }
    st->f_blocks = strlen(path);
    st->f_frsize = 4096;
    return 0;
}

static void test_hang_then_recover(void **state)
{
    struct km_statfs_pool *p;
    struct statvfs st;

    (void)state;
    assert_int_equal(km_statfs_pool_create(&p, 100, fake_statvfs), 0);
    assert_int_equal(km_statfs_pool_stat(p, "/ok", &st), 0);
    assert_int_equal(st.f_blocks, 3);
    assert_int_equal(km_statfs_pool_stat(p, "/missing", &st), KM_EIO);
    assert_non_null(strstr(km_err_msg(), "No such file"));

    assert_int_equal(km_statfs_pool_stat(p, "/hang", &st), KM_ETIMEDOUT);
    assert_int_equal(km_statfs_pool_nstuck(p), 1);
    /* While it hangs: not retried (no second call), and other paths still work. */
    assert_int_equal(km_statfs_pool_stat(p, "/hang", &st), KM_EAGAIN);
    assert_int_equal(km_statfs_pool_stat(p, "/other", &st), 0);
    assert_int_equal(st.f_blocks, 6);
    pthread_mutex_lock(&mu);
    assert_int_equal(calls_hang, 1);
    released = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    /* The abandoned worker unsticks the path when its call returns. */
    for (int i = 0; i < 200 && km_statfs_pool_nstuck(p) > 0; i++)
        usleep(10000);
    assert_int_equal(km_statfs_pool_nstuck(p), 0);
    assert_int_equal(km_statfs_pool_stat(p, "/hang", &st), 0);
    km_statfs_pool_destroy(p);
    km_statfs_pool_destroy(NULL);
}

static void test_destroy_while_stuck(void **state)
{
    struct km_statfs_pool *p;
    struct statvfs st;

    (void)state;
    pthread_mutex_lock(&mu);
    released = 0;
    calls_hang = 0;
    pthread_mutex_unlock(&mu);
    assert_int_equal(km_statfs_pool_create(&p, 50, fake_statvfs), 0);
    assert_int_equal(km_statfs_pool_stat(p, "/hang", &st), KM_ETIMEDOUT);
    /* The pool goes away first; the stuck worker cleans up after itself later. */
    km_statfs_pool_destroy(p);
    pthread_mutex_lock(&mu);
    released = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    usleep(100000); /* let it finish, so leak checkers see everything freed */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hang_then_recover),
        cmocka_unit_test(test_destroy_while_stuck),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
