/*
 * Unit tests: the blocks' section cache — a section decompressed once and found again,
 * the byte budget kept by evicting the least recently used, entries in use never
 * evicted nor freed under their reader, a block's entries forgotten (held ones freed by
 * their last put), a budget of 0 keeping nothing, corrupt sections refused; and the
 * varint skipping the block reader walks series pages with, against decoding one by one.
 */
#include "common/buf.h"
#include "common/err.h"
#include "tsdb/bits.h"
#include "tsdb/block_format.h"
#include "tsdb/seccache.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

/* A file of n sections of `size` raw bytes each (section k filled with the byte 'a' + k);
 * their offsets in off[]. */
static void make_file(struct km_buf *file, size_t n, size_t size, uint64_t *off)
{
    char *raw = malloc(size);

    assert_non_null(raw);
    km_buf_init(file, 0);
    for (size_t k = 0; k < n; k++) {
        memset(raw, 'a' + (int)k, size);
        off[k] = file->len;
        assert_int_equal(km_blk_section_put(file, raw, size, 1), 0);
    }
    free(raw);
}

static void get(struct km_seccache *c, uint64_t serial, const struct km_buf *file, uint64_t off,
                char want, size_t size, struct km_seccache_ent **e)
{
    const char *data;
    size_t len;

    assert_int_equal(
        km_seccache_get(c, serial, (const uint8_t *)file->data, file->len, off, e, &data, &len), 0);
    assert_int_equal(len, size);
    assert_int_equal(data[0], want);
    assert_int_equal(data[size - 1], want);
    assert_int_equal(data[size], '\0');
}

static void test_hits_and_budget(void **state)
{
    struct km_seccache *c;
    struct km_seccache_stats st;
    struct km_seccache_ent *e, *held;
    struct km_buf file;
    uint64_t off[6];

    (void)state;
    make_file(&file, 6, 10000, off);
    /* What one section takes (its buffer's capacity), then room for three. */
    assert_int_equal(km_seccache_create(&c, 1 << 20), 0);
    get(c, 1, &file, off[0], 'a', 10000, &e);
    km_seccache_put(c, e);
    km_seccache_stats(c, &st);
    assert_true(st.bytes > 10000);
    km_seccache_release(c);
    assert_int_equal(km_seccache_create(&c, 3 * st.bytes + 1), 0);
    get(c, 1, &file, off[0], 'a', 10000, &e);
    km_seccache_put(c, e);
    get(c, 1, &file, off[0], 'a', 10000, &e);
    km_seccache_put(c, e);
    km_seccache_stats(c, &st);
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.entries, 1);

    /* The same offset of another block is another section. */
    get(c, 2, &file, off[1], 'b', 10000, &e);
    km_seccache_put(c, e);
    /* Section 0 held by a reader: filling the cache evicts the others, never it. */
    get(c, 1, &file, off[0], 'a', 10000, &held);
    for (int k = 2; k < 6; k++) {
        get(c, 1, &file, off[k], (char)('a' + k), 10000, &e);
        km_seccache_put(c, e);
    }
    km_seccache_stats(c, &st);
    assert_true(st.bytes <= st.max_bytes);
    assert_true(st.evictions >= 3);
    assert_int_equal(st.entries, 3);
    get(c, 1, &file, off[0], 'a', 10000, &e); /* still there: a hit */
    km_seccache_put(c, e);
    km_seccache_stats(c, &st);
    assert_int_equal(st.hits, 3);
    km_seccache_put(c, held);

    /* The block goes: its entries go, a held one with its reader's put. */
    get(c, 1, &file, off[0], 'a', 10000, &held);
    km_seccache_forget(c, 1);
    km_seccache_stats(c, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(held != NULL, 1);
    km_seccache_put(c, held); /* freed here (ASan checks) */
    km_seccache_release(c);
    km_buf_fini(&file);
}

static void test_no_budget_keeps_nothing(void **state)
{
    struct km_seccache *c;
    struct km_seccache_stats st;
    struct km_seccache_ent *a, *b;
    struct km_buf file;
    uint64_t off[1];

    (void)state;
    make_file(&file, 1, 300, off);
    assert_int_equal(km_seccache_create(&c, 0), 0);
    get(c, 1, &file, off[0], 'a', 300, &a);
    get(c, 1, &file, off[0], 'a', 300, &b);
    assert_ptr_not_equal(a, b);
    km_seccache_put(c, a);
    km_seccache_put(c, b);
    km_seccache_stats(c, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.hits, 0);
    km_seccache_release(c);
    /* And no cache at all. */
    get(NULL, 1, &file, off[0], 'a', 300, &a);
    km_seccache_put(NULL, a);
    km_buf_fini(&file);
}

static void test_corrupt_section_refused(void **state)
{
    struct km_seccache *c;
    struct km_seccache_ent *e = (struct km_seccache_ent *)&e;
    struct km_seccache_stats st;
    struct km_buf file;
    uint64_t off[1];
    const char *data;
    size_t len;

    (void)state;
    make_file(&file, 1, 5000, off);
    file.data[file.len - 3] ^= 0x40;
    assert_int_equal(km_seccache_create(&c, 1 << 20), 0);
    assert_int_equal(
        km_seccache_get(c, 1, (const uint8_t *)file.data, file.len, off[0], &e, &data, &len),
        KM_ECORRUPT);
    assert_null(e);
    assert_int_equal(
        km_seccache_get(c, 1, (const uint8_t *)file.data, file.len, file.len + 5, &e, &data, &len),
        KM_ECORRUPT);
    km_seccache_stats(c, &st);
    assert_int_equal(st.entries, 0);
    km_seccache_release(c);
    km_buf_fini(&file);
}

/* Random varints of every length, skipped k at a time from every start: the reader ends
 * where decoding them one by one ends, and a skip past the end is an error. */
static void test_skip_uvarints(void **state)
{
    uint8_t buf[4096];
    size_t len = 0, nvals = 0, ends[600];
    uint64_t x = 88172645463325252ull;

    (void)state;
    while (len + 10 < sizeof(buf) && nvals < 600) {
        unsigned bits;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bits = (unsigned)(x % 65);
        len += km_put_uvarint(buf + len, bits == 64 ? x : x & ((1ull << bits) - 1));
        ends[nvals++] = len;
    }
    for (size_t start = 0; start < 40; start++) {
        for (size_t k = 0; start + k <= nvals && k < 70; k++) {
            struct km_rd r, d;
            size_t from = start ? ends[start - 1] : 0;

            km_rd_init(&r, buf + from, len - from);
            km_rd_init(&d, buf + from, len - from);
            km_rd_skip_uvarints(&r, k);
            for (size_t i = 0; i < k; i++)
                (void)km_rd_uvarint(&d);
            assert_false(r.err);
            assert_ptr_equal(r.p, d.p);
        }
    }
    {
        struct km_rd r;

        km_rd_init(&r, buf, len);
        km_rd_skip_uvarints(&r, nvals + 1);
        assert_true(r.err);
        assert_ptr_equal(r.p, buf + len);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hits_and_budget),
        cmocka_unit_test(test_no_budget_keeps_nothing),
        cmocka_unit_test(test_corrupt_section_refused),
        cmocka_unit_test(test_skip_uvarints),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
