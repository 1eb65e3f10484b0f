/*
 * Unit tests: km_series_cache (remote_write label bytes → series reference), its
 * fingerprints, growth, drops, the memory bound and concurrent use.
 */
#include "server/series_cache.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* A label-bytes-like key for number i. */
static size_t key_of(char *buf, size_t cap, uint64_t i)
{
    return (size_t)snprintf(buf, cap,
                            "\n\x08__name__\x12\x1c"
                            "container_cpu_usage_seconds_total pod=web-%llu namespace=shop",
                            (unsigned long long)i);
}

static struct km_series_fp fp_of(struct km_series_cache *c, uint64_t i)
{
    char k[160];
    size_t n = key_of(k, sizeof(k), i);

    return km_series_cache_fp(c, k, n);
}

static void test_fingerprints(void **state)
{
    struct km_series_cache *a, *b;
    struct km_series_fp x, y, z;

    (void)state;
    assert_int_equal(km_series_cache_create(&a, 1 << 20), 0);
    assert_int_equal(km_series_cache_create(&b, 1 << 20), 0);
    x = fp_of(a, 1);
    y = fp_of(a, 1);
    z = fp_of(a, 2);
    assert_true(x.lo == y.lo && x.hi == y.hi);
    assert_false(x.lo == z.lo && x.hi == z.hi);
    assert_true(x.lo & 1);
    /* Each cache draws its own secret: nobody outside can predict a fingerprint. */
    y = fp_of(b, 1);
    assert_false(x.lo == y.lo && x.hi == y.hi);
    km_series_cache_destroy(a);
    km_series_cache_destroy(b);
}

static void test_put_get_drop_grow(void **state)
{
    struct km_series_cache *c;
    struct km_series_cache_stats st;
    const uint64_t n = 200000;
    uint64_t ref;
    uint32_t aux;

    (void)state;
    assert_int_equal(km_series_cache_create(&c, 64 << 20), 0);
    assert_false(km_series_cache_get(c, fp_of(c, 7), &ref, &aux));
    for (uint64_t i = 0; i < n; i++)
        km_series_cache_put(c, fp_of(c, i), i + 1000, (uint32_t)(i % 77));
    for (uint64_t i = 0; i < n; i++) {
        km_series_cache_prefetch(c, fp_of(c, i));
        assert_true(km_series_cache_get(c, fp_of(c, i), &ref, &aux));
        assert_int_equal(ref, i + 1000);
        assert_int_equal(aux, i % 77);
    }
    /* Replacing an entry keeps one. */
    km_series_cache_put(c, fp_of(c, 5), 99, 3);
    assert_true(km_series_cache_get(c, fp_of(c, 5), &ref, &aux));
    assert_int_equal(ref, 99);
    km_series_cache_put(c, fp_of(c, 5), 1005, 5);
    km_series_cache_stats(c, &st);
    assert_int_equal(st.entries, n);
    assert_int_equal(st.evictions, 0);
    assert_true(st.bytes >= n * 32 && st.bytes <= n * 32 * 3);
    /* Dropped entries miss; the probes past their tombstones still find the rest. */
    for (uint64_t i = 0; i < n; i += 2)
        km_series_cache_drop(c, fp_of(c, i));
    for (uint64_t i = 0; i < n; i++)
        assert_int_equal(km_series_cache_get(c, fp_of(c, i), &ref, &aux), i % 2 == 1);
    /* Tombstones are reused and cleared: refilling does not grow the table past twice. */
    for (uint64_t i = 0; i < n; i += 2)
        km_series_cache_put(c, fp_of(c, i), i + 1000, 0);
    for (uint64_t i = 0; i < n; i++) {
        assert_true(km_series_cache_get(c, fp_of(c, i), &ref, &aux));
        assert_int_equal(ref, i + 1000);
    }
    km_series_cache_stats(c, &st);
    assert_int_equal(st.entries, n);
    assert_true(st.bytes <= n * 32 * 3);
    km_series_cache_destroy(c);
}

static void test_bound(void **state)
{
    struct km_series_cache *c;
    struct km_series_cache_stats st;
    const uint64_t n = 300000;
    size_t hits = 0;
    uint64_t ref;
    uint32_t aux;

    (void)state;
    /* 64 shards of 256 slots: 16 384 slots, ~13 000 entries. */
    assert_int_equal(km_series_cache_create(&c, 512 << 10), 0);
    for (uint64_t i = 0; i < n; i++)
        km_series_cache_put(c, fp_of(c, i), i, 0);
    km_series_cache_stats(c, &st);
    assert_true(st.bytes <= 512 << 10);
    assert_true(st.entries <= 64 * 256 * 4 / 5);
    assert_true(st.entries > 64 * 200);
    assert_true(st.evictions > n / 2);
    /* Whatever it still knows, it knows right; the newest are mostly there. */
    for (uint64_t i = 0; i < n; i++) {
        if (km_series_cache_get(c, fp_of(c, i), &ref, &aux)) {
            assert_int_equal(ref, i);
            hits++;
        }
    }
    assert_int_equal(hits, st.entries);
    hits = 0;
    for (uint64_t i = n - 1000; i < n; i++)
        hits += km_series_cache_get(c, fp_of(c, i), &ref, &aux);
    assert_true(hits > 500);
    km_series_cache_destroy(c);
}

struct worker {
    struct km_series_cache *c;
    uint64_t base;
    int wrong;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    uint64_t ref;
    uint32_t aux;

    for (int round = 0; round < 3; round++) {
        for (uint64_t i = w->base; i < w->base + 50000; i++) {
            if (!km_series_cache_get(w->c, fp_of(w->c, i), &ref, &aux))
                km_series_cache_put(w->c, fp_of(w->c, i), i, (uint32_t)round);
            else if (ref != i)
                w->wrong++;
            if (i % 97 == 0)
                km_series_cache_drop(w->c, fp_of(w->c, i));
        }
    }
    return NULL;
}

static void test_threads(void **state)
{
    struct km_series_cache *c;
    struct worker w[4];
    pthread_t t[4];

    (void)state;
    assert_int_equal(km_series_cache_create(&c, 64 << 20), 0);
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){ c, (uint64_t)i * 1000000, 0 };
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].wrong, 0);
    }
    km_series_cache_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fingerprints),
        cmocka_unit_test(test_put_get_drop_grow),
        cmocka_unit_test(test_bound),
        cmocka_unit_test(test_threads),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
