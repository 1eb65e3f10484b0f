/*
 * Unit tests: km_httpc_auth reads a bearer token file, puts it in the Authorization
 * header, picks up a rotated file (rewritten in place or swapped by rename, as a
 * Kubernetes Secret does) without a restart, keeps the old token when the new file is
 * unusable, and refuses missing files and tokens with control characters.
 */
#include "common/err.h"
#include "common/httpc_auth.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct fixture {
    char root[64];
    char token[128];
    CURL *curl;
};

static void write_file(const char *path, const char *text)
{
    char tmp[256];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, path), 0);
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    snprintf(f->root, sizeof(f->root), "/tmp/kmon-test-httpc-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->token, sizeof(f->token), "%s/token", f->root);
    f->curl = curl_easy_init();
    assert_non_null(f->curl);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];

    curl_easy_cleanup(f->curl);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* The Authorization header one apply() adds ("" when none), and its return code. */
static int apply_header(struct fixture *f, struct km_httpc_auth *a, char *out, size_t cap)
{
    struct curl_slist *h = NULL;
    int rc = km_httpc_auth_apply(a, f->curl, &h);

    out[0] = '\0';
    for (struct curl_slist *l = h; l; l = l->next)
        if (strncmp(l->data, "Authorization:", 14) == 0)
            snprintf(out, cap, "%s", l->data);
    curl_slist_free_all(h);
    return rc;
}

static void test_token_read_and_trimmed(void **state)
{
    struct fixture *f = *state;
    struct km_httpc_auth_opts o = { .token_file = f->token };
    struct km_httpc_auth *a = NULL;
    char hdr[256];

    write_file(f->token, "s3cret-one\r\n");
    assert_int_equal(km_httpc_auth_create(&a, &o), 0);
    assert_int_equal(apply_header(f, a, hdr, sizeof(hdr)), 0);
    assert_string_equal(hdr, "Authorization: Bearer s3cret-one");
    km_httpc_auth_destroy(a);
}

static void test_rotation_seen_without_restart(void **state)
{
    struct fixture *f = *state;
    struct km_httpc_auth_opts o = { .token_file = f->token };
    struct km_httpc_auth *a = NULL;
    char hdr[256];

    write_file(f->token, "first\n");
    assert_int_equal(km_httpc_auth_create(&a, &o), 0);
    assert_int_equal(apply_header(f, a, hdr, sizeof(hdr)), 0);
    assert_string_equal(hdr, "Authorization: Bearer first");

    /* Swapped by rename (a new inode), same length: seen within about a second. */
    write_file(f->token, "secnd\n");
    sleep_ms(1100);
    assert_int_equal(apply_header(f, a, hdr, sizeof(hdr)), 0);
    assert_string_equal(hdr, "Authorization: Bearer secnd");

    /* Rewritten in place (same inode), another size. */
    {
        FILE *w = fopen(f->token, "w");

        assert_non_null(w);
        fputs("the-third-token\n", w);
        fclose(w);
    }
    sleep_ms(1100);
    assert_int_equal(apply_header(f, a, hdr, sizeof(hdr)), 0);
    assert_string_equal(hdr, "Authorization: Bearer the-third-token");
    km_httpc_auth_destroy(a);
}

static void test_bad_new_token_keeps_old(void **state)
{
    struct fixture *f = *state;
    struct km_httpc_auth_opts o = { .token_file = f->token };
    struct km_httpc_auth *a = NULL;
    char hdr[256];

    write_file(f->token, "good\n");
    assert_int_equal(km_httpc_auth_create(&a, &o), 0);

    write_file(f->token, "two\nlines\n");
    sleep_ms(1100);
    /* Reported once, with the old token still sent; not the token in the message. */
    assert_int_equal(apply_header(f, a, hdr, sizeof(hdr)), KM_EINVAL);
    assert_null(strstr(km_err_msg(), "lines"));
    assert_string_equal(hdr, "Authorization: Bearer good");
    sleep_ms(1100);
    assert_int_equal(apply_header(f, a, hdr, sizeof(hdr)), 0);
    assert_string_equal(hdr, "Authorization: Bearer good");

    /* Removed: reported once, old token kept; back: used. */
    assert_int_equal(unlink(f->token), 0);
    sleep_ms(1100);
    assert_int_not_equal(apply_header(f, a, hdr, sizeof(hdr)), 0);
    assert_string_equal(hdr, "Authorization: Bearer good");
    write_file(f->token, "better\n");
    sleep_ms(1100);
    assert_int_equal(apply_header(f, a, hdr, sizeof(hdr)), 0);
    assert_string_equal(hdr, "Authorization: Bearer better");
    km_httpc_auth_destroy(a);
}

static void test_refused_at_create(void **state)
{
    struct fixture *f = *state;
    struct km_httpc_auth *a = NULL;
    char missing[160];

    snprintf(missing, sizeof(missing), "%s/nope.pem", f->root);
    struct km_httpc_auth_opts o1 = { .ca_file = missing };
    assert_int_equal(km_httpc_auth_create(&a, &o1), KM_ENOTFOUND);
    assert_non_null(strstr(km_err_msg(), "nope.pem"));

    write_file(f->token, "tab\there\n");
    struct km_httpc_auth_opts o2 = { .token_file = f->token };
    assert_int_equal(km_httpc_auth_create(&a, &o2), KM_EINVAL);

    write_file(f->token, "\n");
    assert_int_equal(km_httpc_auth_create(&a, &o2), KM_EINVAL);

    struct km_httpc_auth_opts o3 = { .key_file = f->token };
    assert_int_equal(km_httpc_auth_create(&a, &o3), KM_EINVAL);
    assert_null(a);
}

static void test_no_token_no_header(void **state)
{
    struct fixture *f = *state;
    struct km_httpc_auth_opts o = { 0 };
    struct km_httpc_auth *a = NULL;
    char hdr[256];

    assert_int_equal(km_httpc_auth_create(&a, &o), 0);
    assert_int_equal(apply_header(f, a, hdr, sizeof(hdr)), 0);
    assert_string_equal(hdr, "");
    km_httpc_auth_destroy(a);
    assert_int_equal(apply_header(f, NULL, hdr, sizeof(hdr)), 0);
    km_httpc_auth_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_token_read_and_trimmed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_seen_without_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_new_token_keeps_old, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_at_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_token_no_header, setup, teardown),
    };

    curl_global_init(CURL_GLOBAL_DEFAULT);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
