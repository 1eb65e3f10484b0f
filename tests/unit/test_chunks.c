/*
 * Unit tests: the head chunk (bit-packed) and block chunk (varint, pre-zstd) codecs —
 * bit-exact round trips for every kind of value (decimals, 4 KiB multiples, NaN with a
 * payload, ±Inf, -0.0, random doubles), timestamp edge cases (huge gaps, negative
 * times, one sample), parameter changes in the middle of a head chunk, and corrupt or
 * truncated input that must fail cleanly.
 */
#include "tsdb/chunk_block.h"
#include "tsdb/chunk_head.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define STALE_NAN 0x7ff0000000000002ull /* Prometheus' stale marker */

static uint64_t rng = 88172645463325252ull;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double bits_to_double(uint64_t u)
{
    double d;

    memcpy(&d, &u, sizeof(d));
    return d;
}

static uint64_t double_bits(double d)
{
    uint64_t u;

    memcpy(&u, &d, sizeof(u));
    return u;
}

/* Push samples through a head chunk (new chunks when full) and through a block chunk;
 * both must read back every timestamp and value bit for bit. */
static void roundtrip(const int64_t *t, const double *v, int n)
{
    struct km_hchunk *c = NULL;
    int done = 0;

    while (done < n) {
        int64_t tt[KM_HCHUNK_MAX];
        double vv[KM_HCHUNK_MAX];
        int start = done, got;

        c = km_hchunk_new(t[done], v[done]);
        assert_non_null(c);
        done++;
        while (done < n && !km_hchunk_full(c)) {
            c = km_hchunk_append(c, t[done], v[done]);
            assert_non_null(c);
            done++;
        }
        assert_int_equal(c->n, done - start);
        assert_int_equal(c->mint, t[start]);
        assert_int_equal(c->maxt, t[done - 1]);
        got = km_hchunk_decode_chunk(c, tt, vv);
        assert_int_equal(got, done - start);
        for (int i = 0; i < got; i++) {
            assert_int_equal(tt[i], t[start + i]);
            if (double_bits(vv[i]) != double_bits(v[start + i]))
                fail_msg("head chunk sample %d: %.17g (%llx) read back as %.17g (%llx)", start + i,
                         v[start + i], (unsigned long long)double_bits(v[start + i]), vv[i],
                         (unsigned long long)double_bits(vv[i]));
        }
        free(c);
    }
    {
        struct km_buf b;
        struct km_samples s = { 0 };
        long used;

        km_buf_init(&b, 0);
        km_bchunk_encode(&b, t, v, (size_t)n);
        assert_int_equal(km_buf_error(&b), 0);
        used = km_bchunk_decode((const uint8_t *)b.data, b.len, &s, 1u << 20);
        assert_int_equal(used, (long)b.len);
        assert_int_equal(s.n, n);
        for (int i = 0; i < n; i++) {
            assert_int_equal(s.t[i], t[i]);
            if (double_bits(s.v[i]) != double_bits(v[i]))
                fail_msg("block chunk sample %d: %.17g read back as %.17g", i, v[i], s.v[i]);
        }
        km_samples_fini(&s);
        km_buf_fini(&b);
    }
}

static void regular_times(int64_t *t, int n, int64_t start, int64_t step)
{
    for (int i = 0; i < n; i++)
        t[i] = start + i * step;
}

static void test_integer_counter(void **state)
{
    int64_t t[500];
    double v[500];

    (void)state;
    regular_times(t, 500, 1763769601779, 15000);
    v[0] = 123456789;
    for (int i = 1; i < 500; i++)
        v[i] = v[i - 1] + (double)(next_rand() % 100000);
    roundtrip(t, v, 500);
}

static void test_decimals_and_pages(void **state)
{
    int64_t t[300];
    double v[300];

    (void)state;
    regular_times(t, 300, 0, 15000);
    for (int i = 0; i < 300; i++)
        v[i] = 1088.993 + i * 1.052; /* cpu seconds with ms resolution */
    roundtrip(t, v, 300);
    for (int i = 0; i < 300; i++)
        v[i] = (double)((next_rand() % 100000) * 4096); /* memory in pages */
    roundtrip(t, v, 300);
    for (int i = 0; i < 300; i++)
        v[i] = 0.01 * (double)(next_rand() % 1000); /* load averages */
    roundtrip(t, v, 300);
}

static void test_parameter_changes_mid_chunk(void **state)
{
    int64_t t[40];
    double v[40];
    struct km_hchunk *c;

    (void)state;
    regular_times(t, 40, 1000, 1000);
    for (int i = 0; i < 40; i++)
        v[i] = (double)(i * 4096);
    v[10] = 40961;     /* fewer trailing zeros: shift drops from 12 to 0 */
    v[20] = 1.25;      /* needs 2 decimals */
    v[30] = 0.1 + 0.2; /* not a decimal with <= 9 digits: XOR from here */
    roundtrip(t, v, 40);
    c = km_hchunk_new(0, 4096);
    c = km_hchunk_append(c, 1, 8192);
    assert_int_equal(c->enc, KM_HC_INT);
    assert_int_equal(c->shift, 12);
    c = km_hchunk_append(c, 2, 8193);
    assert_int_equal(c->shift, 0);
    c = km_hchunk_append(c, 3, 8193.5);
    assert_int_equal(c->exp, 1);
    c = km_hchunk_append(c, 4, NAN);
    assert_int_equal(c->enc, KM_HC_XOR);
    free(c);
}

static void test_special_values(void **state)
{
    int64_t t[12];
    double v[12] = { 1,
                     -0.0,
                     0.0,
                     INFINITY,
                     -INFINITY,
                     bits_to_double(STALE_NAN),
                     NAN,
                     bits_to_double(0xfff8000000000123ull), /* negative NaN with payload */
                     5e-324,                                /* smallest subnormal */
                     1.7976931348623157e308,
                     -1e-300,
                     42 };

    (void)state;
    regular_times(t, 12, 0, 15000);
    roundtrip(t, v, 12);
    /* A chunk made only of the stale marker. */
    roundtrip(t, &v[5], 1);
    /* -0.0 alone must not come back as +0.0. */
    roundtrip(t, &v[1], 1);
}

static void test_timestamp_edges(void **state)
{
    int64_t t[6] = {
        -9000000000000000000ll, -1, 0, 1, 4611686018427387904ll, 9000000000000000000ll
    };
    double v[6] = { 1, 2, 3, 4, 5, 6 };
    int64_t one = 1234;
    double onev = 0.5;

    (void)state;
    roundtrip(t, v, 6); /* gaps far beyond every code's width */
    roundtrip(&one, &onev, 1);
    {
        int64_t jt[200];
        double jv[200];

        for (int i = 0; i < 200; i++) {
            jt[i] = 1000000 + i * 15000 + (int64_t)(next_rand() % 50); /* scrape jitter */
            jv[i] = 7;
        }
        roundtrip(jt, jv, 200);
    }
}

static void test_random_doubles(void **state)
{
    int64_t t[1000];
    double v[1000];

    (void)state;
    for (int round = 0; round < 20; round++) {
        int64_t now = (int64_t)(next_rand() % 1000000);

        for (int i = 0; i < 1000; i++) {
            now += 1 + (int64_t)(next_rand() % (round % 2 ? 3 : 100000));
            t[i] = now;
            v[i] = bits_to_double(next_rand());
        }
        roundtrip(t, v, 1000);
    }
}

static void test_head_chunk_is_compact(void **state)
{
    struct km_hchunk *c = km_hchunk_new(0, 1e6);

    (void)state;
    for (int i = 1; i < KM_HCHUNK_MAX; i++)
        c = km_hchunk_append(c, i * 15000, 1e6 + i * 4096.0 * (i % 7));
    /* A regular interval costs one bit per timestamp and page-multiple gauge deltas
     * about a byte and a half: well under Gorilla's ~2.4 bytes per sample. */
    assert_true(km_hchunk_bytes(c) < KM_HCHUNK_MAX * 2);
    free(c);
}

static void test_block_chunk_corruption(void **state)
{
    int64_t t[50];
    double v[50];
    struct km_buf b;
    struct km_samples s = { 0 };

    (void)state;
    regular_times(t, 50, 1000, 15000);
    for (int i = 0; i < 50; i++)
        v[i] = i * 1.5;
    km_buf_init(&b, 0);
    km_bchunk_encode(&b, t, v, 50);
    /* Every truncation fails cleanly. */
    for (size_t cut = 0; cut < b.len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);

        memcpy(copy, b.data, cut);
        assert_true(km_bchunk_decode(copy, cut, &s, 1u << 20) < 0);
        free(copy);
    }
    /* Every single-byte change either fails cleanly or decodes to something. */
    for (size_t at = 0; at < b.len; at++) {
        uint8_t *copy = malloc(b.len);

        memcpy(copy, b.data, b.len);
        copy[at] ^= 0x5a;
        km_bchunk_decode(copy, b.len, &s, 1u << 20);
        free(copy);
    }
    /* A sample count beyond the caller's limit. */
    assert_int_equal(km_bchunk_decode((const uint8_t *)b.data, b.len, &s, 10), -6 /* ELIMIT */);
    km_samples_fini(&s);
    km_buf_fini(&b);
}

static void test_head_chunk_corruption(void **state)
{
    struct km_hchunk *c = km_hchunk_new(0, 1.5);
    int64_t t[KM_HCHUNK_MAX];
    double v[KM_HCHUNK_MAX];

    (void)state;
    for (int i = 1; i < 100; i++)
        c = km_hchunk_append(c, i * 1000, i % 3 ? 1.5 * i : NAN);
    {
        struct km_hchunk_hdr h;

        km_hchunk_get_hdr(c, &h);

        for (uint32_t bits = 0; bits < c->nbits; bits++) {
            h.nbits = bits; /* truncated data */
            assert_int_equal(km_hchunk_decode(&h, c->data, t, v), -1);
        }
        /* Ones after the last bit (the last byte's spare bits, or a shorter nbits over
         * longer data) are never read as part of a code: the samples before still
         * decode, the one cut short is an error. */
        {
            size_t nbytes = (c->nbits + 7) / 8;
            uint8_t *d = malloc(nbytes + 8);
            int64_t t0[KM_HCHUNK_MAX];
            double v0[KM_HCHUNK_MAX];
            int n0;

            assert_non_null(d);
            km_hchunk_get_hdr(c, &h);
            n0 = km_hchunk_decode(&h, c->data, t0, v0);
            assert_int_equal(n0, c->n);
            memcpy(d, c->data, nbytes);
            memset(d + nbytes, 0xff, 8);
            if (c->nbits % 8)
                d[nbytes - 1] |= (uint8_t)(0xffu >> (c->nbits % 8));
            assert_int_equal(km_hchunk_decode(&h, d, t, v), n0);
            for (int i = 0; i < n0; i++) {
                assert_true(t[i] == t0[i]);
                assert_memory_equal(&v[i], &v0[i], sizeof(double));
            }
            for (uint32_t bits = 0; bits < c->nbits; bits++) {
                memcpy(d, c->data, nbytes);
                for (uint32_t b = bits; b < nbytes * 8; b++)
                    d[b / 8] |= (uint8_t)(0x80u >> (b % 8));
                h.nbits = bits;
                assert_int_equal(km_hchunk_decode(&h, d, t, v), -1);
            }
            free(d);
        }
        km_hchunk_get_hdr(c, &h);
        h.enc = 9;
        assert_int_equal(km_hchunk_decode(&h, c->data, t, v), -1);
    }
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_integer_counter),
        cmocka_unit_test(test_decimals_and_pages),
        cmocka_unit_test(test_parameter_changes_mid_chunk),
        cmocka_unit_test(test_special_values),
        cmocka_unit_test(test_timestamp_edges),
        cmocka_unit_test(test_random_doubles),
        cmocka_unit_test(test_head_chunk_is_compact),
        cmocka_unit_test(test_block_chunk_corruption),
        cmocka_unit_test(test_head_chunk_corruption),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
