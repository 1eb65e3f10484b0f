/*
 * Unit tests: km_buf (growable capped buffer) and km_arena (chunked bump allocator).
 */
#include "common/arena.h"
#include "common/buf.h"
#include "common/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

static void test_buf_append_and_format(void **state)
{
    struct km_buf b;

    (void)state;
    km_buf_init(&b, 0);
    assert_string_equal(km_buf_cstr(&b), "");
    assert_int_equal(km_buf_puts(&b, "hello"), 0);
    assert_int_equal(km_buf_putc(&b, ' '), 0);
    assert_int_equal(km_buf_printf(&b, "%d-%s", 42, "x"), 0);
    assert_int_equal(km_buf_put_u64(&b, 18446744073709551615ull), 0);
    assert_int_equal(km_buf_put_i64(&b, -9223372036854775807ll - 1), 0);
    assert_string_equal(km_buf_cstr(&b), "hello 42-x18446744073709551615-9223372036854775808");
    assert_int_equal(b.len, strlen(km_buf_cstr(&b)));
    km_buf_fini(&b);
}

static void test_buf_grows_across_printf(void **state)
{
    struct km_buf b;
    char big[5000];

    (void)state;
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    km_buf_init(&b, 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(km_buf_printf(&b, "%s", big), 0);
    assert_int_equal(b.len, 10 * (sizeof(big) - 1));
    assert_int_equal(km_buf_error(&b), 0);
    km_buf_fini(&b);
}

static void test_buf_cap_is_sticky(void **state)
{
    struct km_buf b;

    (void)state;
    km_buf_init(&b, 8);
    assert_int_equal(km_buf_puts(&b, "12345678"), 0);
    assert_int_equal(km_buf_putc(&b, '9'), KM_ELIMIT);
    assert_int_equal(km_buf_error(&b), KM_ELIMIT);
    /* Later appends are ignored even if they would fit. */
    assert_int_equal(km_buf_puts(&b, ""), KM_ELIMIT);
    assert_int_equal(b.len, 8);
    km_buf_reset(&b);
    assert_int_equal(km_buf_error(&b), 0);
    assert_int_equal(km_buf_puts(&b, "abc"), 0);
    assert_string_equal(km_buf_cstr(&b), "abc");
    km_buf_fini(&b);
}

static void test_buf_printf_past_cap(void **state)
{
    struct km_buf b;

    (void)state;
    km_buf_init(&b, 10);
    assert_int_equal(km_buf_printf(&b, "%s", "this is longer than ten"), KM_ELIMIT);
    assert_int_equal(b.len, 0);
    km_buf_fini(&b);
}

static void test_buf_detach(void **state)
{
    struct km_buf b;
    size_t len;
    char *p;

    (void)state;
    km_buf_init(&b, 0);
    km_buf_puts(&b, "owned");
    p = km_buf_detach(&b, &len);
    assert_string_equal(p, "owned");
    assert_int_equal(len, 5);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    free(p);
    km_buf_fini(&b);
}

static void test_arena_reuses_chunks(void **state)
{
    struct km_arena a;
    void *first[100];

    (void)state;
    km_arena_init(&a, 256, 0);
    for (int i = 0; i < 100; i++) {
        first[i] = km_arena_alloc(&a, 24, 8);
        assert_non_null(first[i]);
        assert_int_equal((uintptr_t)first[i] % 8, 0);
        memset(first[i], i, 24);
    }
    {
        size_t total = a.total;

        km_arena_reset(&a);
        /* The same sequence of allocations reuses the same memory: no new chunks. */
        for (int i = 0; i < 100; i++)
            assert_ptr_equal(km_arena_alloc(&a, 24, 8), first[i]);
        assert_int_equal(a.total, total);
    }
    km_arena_fini(&a);
}

static void test_arena_big_and_limit(void **state)
{
    struct km_arena a;
    char *s;

    (void)state;
    km_arena_init(&a, 64, 1000);
    s = km_arena_alloc(&a, 500, 1); /* bigger than a chunk: its own chunk */
    assert_non_null(s);
    memset(s, 'x', 500);
    s = km_arena_strndup(&a, "abcdef", 3);
    assert_string_equal(s, "abc");
    assert_null(km_arena_alloc(&a, 600, 1)); /* past the 1000-byte cap */
    assert_int_equal(a.total <= 1000, 1);
    km_arena_fini(&a);
    km_arena_fini(&a); /* twice is harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_append_and_format),
        cmocka_unit_test(test_buf_grows_across_printf),
        cmocka_unit_test(test_buf_cap_is_sticky),
        cmocka_unit_test(test_buf_printf_past_cap),
        cmocka_unit_test(test_buf_detach),
        cmocka_unit_test(test_arena_reuses_chunks),
        cmocka_unit_test(test_arena_big_and_limit),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
