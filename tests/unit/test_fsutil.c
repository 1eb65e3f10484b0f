/*
 * Unit tests: km_mkdir_p() makes a directory and its missing parents (the agent's
 * /var/lib/kmon/spool on a fresh node) and names what it could not make.
 */
#include "common/err.h"
#include "common/fsutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fixture {
    char root[64];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    snprintf(f->root, sizeof(f->root), "/tmp/kmon-test-fsutil-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void assert_dir(const char *path, mode_t mode)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, mode);
}

static void test_parents_are_made(void **state)
{
    struct fixture *f = *state;
    char path[256], parent[256];
    mode_t old = umask(022);

    snprintf(parent, sizeof(parent), "%s/var/lib/kmon", f->root);
    snprintf(path, sizeof(path), "%s/var/lib/kmon/spool", f->root);
    assert_int_equal(km_mkdir_p(path, 0750), 0);
    assert_dir(path, 0750);
    assert_dir(parent, 0750);
    assert_int_equal(km_mkdir_p(path, 0750), 0); /* existing: fine */
    assert_int_equal(km_mkdir_p(parent, 0750), 0);
    umask(old);
}

static void test_odd_spellings(void **state)
{
    struct fixture *f = *state;
    char path[256], made[256];

    snprintf(path, sizeof(path), "%s//a///b/", f->root);
    assert_int_equal(km_mkdir_p(path, 0755), 0);
    snprintf(made, sizeof(made), "%s/a/b", f->root);
    assert_dir(made, 0755);
    assert_int_equal(km_mkdir_p("/", 0755), 0);
    assert_int_equal(km_mkdir_p("", 0755), KM_EINVAL);
}

static void test_a_file_in_the_way_is_named(void **state)
{
    struct fixture *f = *state;
    char file[256], path[256];
    FILE *fp;

    snprintf(file, sizeof(file), "%s/file", f->root);
    fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);
    snprintf(path, sizeof(path), "%s/file/x/y", f->root);
    assert_int_equal(km_mkdir_p(path, 0750), KM_EIO);
    assert_int_equal(km_err_errno(), ENOTDIR);
    assert_non_null(strstr(km_err_msg(), file));
    assert_int_equal(km_mkdir_p(file, 0750), KM_EIO); /* the last component, too */
    assert_int_equal(km_err_errno(), ENOTDIR);

    assert_int_equal(km_mkdir_setting(path, 0750, "spool directory", "spool-dir"), KM_EIO);
    if (!strstr(km_err_msg(), "cannot create the spool directory") ||
        !strstr(km_err_msg(), "Not a directory") ||
        !strstr(km_err_msg(), "give another with --spool-dir DIR"))
        fail_msg("unhelpful message: %s", km_err_msg());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_parents_are_made, setup, teardown),
        cmocka_unit_test_setup_teardown(test_odd_spellings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_file_in_the_way_is_named, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
