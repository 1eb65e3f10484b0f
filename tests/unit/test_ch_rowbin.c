/*
 * Unit tests: the ClickHouse store's streaming RowBinary decoder (src/chstore/rowbin.c)
 * — every column type, the answer cut into two chunks at every byte and fed one byte at
 * a time, and the bad answers: a varint over 64 bits, a length past the row cap, an
 * answer ending inside a row, a callback that stops.
 */
#include "chstore/rowbin.h"
#include "common/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const enum km_ch_col cols[] = { KM_CH_U64, KM_CH_STR, KM_CH_STRS, KM_CH_I64, KM_CH_F64 };

/* What the rows decoded to, as text: one line a row. */
struct seen {
    struct km_buf text;
    size_t stop_at; /* the row whose callback fails (0: none) */
};

static int on_row(void *ud, const struct km_ch_val *r)
{
    struct seen *s = ud;

    if (s->stop_at && ++s->stop_at == 2)
        return km_err_set(KM_ECANCELED, "stopped");
    km_buf_printf(&s->text, "%llu|%.*s|", (unsigned long long)r[0].u, (int)r[1].s.n, r[1].s.p);
    for (size_t i = 0; i < r[2].a.n; i++)
        km_buf_printf(&s->text, "%s%.*s", i ? "," : "", (int)r[2].a.v[i].n, r[2].a.v[i].p);
    km_buf_printf(&s->text, "|%lld|%g\n", (long long)r[3].i, r[4].f);
    return 0;
}

static void put_varint(struct km_buf *b, uint64_t v)
{
    do {
        uint8_t byte = v & 0x7f;

        v >>= 7;
        km_buf_putc(b, (char)(byte | (v ? 0x80 : 0)));
    } while (v);
}

static void put_le64(struct km_buf *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        km_buf_putc(b, (char)(v >> (8 * i)));
}

static void put_str(struct km_buf *b, const char *s, size_t n)
{
    put_varint(b, n);
    km_buf_append(b, s, n);
}

static void put_row(struct km_buf *b, uint64_t u, const char *s, size_t ns, const char *const *a,
                    size_t na, int64_t i, double f)
{
    uint64_t fb;

    put_le64(b, u);
    put_str(b, s, ns);
    put_varint(b, na);
    for (size_t k = 0; k < na; k++)
        put_str(b, a[k], strlen(a[k]));
    put_le64(b, (uint64_t)i);
    memcpy(&fb, &f, 8);
    put_le64(b, fb);
}

/* An answer of a few rows, one of them with a string longer than 127 bytes (a 2-byte
 * length) and one with an empty array, and what they decode to. */
static void make_answer(struct km_buf *b, struct km_buf *want)
{
    static const char *const arr[] = { "job", "", "instance" };
    char big[300];

    memset(big, 'x', sizeof(big));
    km_buf_init(b, 0);
    km_buf_init(want, 0);
    put_row(b, 18446744073709551615ull, "up", 2, arr, 3, -5, 1.5);
    km_buf_puts(want, "18446744073709551615|up|job,,instance|-5|1.5\n");
    put_row(b, 7, big, sizeof(big), NULL, 0, INT64_MIN, -0.25);
    km_buf_printf(want, "7|%.*s||%lld|-0.25\n", (int)sizeof(big), big, (long long)INT64_MIN);
    put_row(b, 0, "", 0, arr, 1, 0, 0);
    km_buf_puts(want, "0||job|0|0\n");
}

static void decode_in(const char *data, size_t n, const size_t *cuts, size_t ncuts,
                      const char *want)
{
    struct km_ch_rowbin d;
    struct seen s = { 0 };
    size_t at = 0;

    km_buf_init(&s.text, 0);
    assert_int_equal(km_ch_rowbin_init(&d, cols, 5, on_row, &s), 0);
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : n;

        assert_int_equal(km_ch_rowbin_feed(&d, data + at, end - at), 0);
        at = end;
    }
    assert_int_equal(km_ch_rowbin_finish(&d), 0);
    assert_string_equal(km_buf_cstr(&s.text), want);
    assert_int_equal(d.rows, 3);
    assert_int_equal(d.bytes, n);
    km_ch_rowbin_fini(&d);
    km_buf_fini(&s.text);
}

static void test_whole_and_every_cut(void **state)
{
    struct km_buf b, want;
    size_t *cuts;

    (void)state;
    make_answer(&b, &want);
    decode_in(b.data, b.len, NULL, 0, km_buf_cstr(&want));
    for (size_t c = 0; c <= b.len; c++)
        decode_in(b.data, b.len, &c, 1, km_buf_cstr(&want));
    /* One byte a chunk. */
    cuts = calloc(b.len, sizeof(*cuts));
    assert_non_null(cuts);
    for (size_t c = 0; c < b.len; c++)
        cuts[c] = c;
    decode_in(b.data, b.len, cuts, b.len, km_buf_cstr(&want));
    /* Every pair of cuts within the first row and a half. */
    for (size_t c1 = 0; c1 < 40; c1++) {
        for (size_t c2 = c1; c2 < 40; c2++) {
            size_t two[2] = { c1, c2 };

            decode_in(b.data, b.len, two, 2, km_buf_cstr(&want));
        }
    }
    free(cuts);
    km_buf_fini(&b);
    km_buf_fini(&want);
}

/* Feed `data` in one chunk to a decoder of one column; the feed's and finish's codes. */
static void decode_bad(const enum km_ch_col *c, size_t nc, const void *data, size_t n,
                       int want_feed, int want_finish)
{
    struct km_ch_rowbin d;
    struct seen s = { 0 };

    km_buf_init(&s.text, 0);
    assert_int_equal(km_ch_rowbin_init(&d, c, nc, on_row, &s), 0);
    assert_int_equal(km_ch_rowbin_feed(&d, data, n), want_feed);
    assert_int_equal(km_ch_rowbin_finish(&d), want_finish);
    km_ch_rowbin_fini(&d);
    km_buf_fini(&s.text);
}

static void test_bad_answers(void **state)
{
    static const enum km_ch_col str[] = { KM_CH_STR };
    static const enum km_ch_col strs[] = { KM_CH_STRS };
    static const enum km_ch_col u64[] = { KM_CH_U64 };
    const uint8_t long_varint[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02 };
    const uint8_t huge_len[] = { 0xff, 0xff, 0xff, 0xff, 0x7f };
    const uint8_t huge_count[] = { 0x80, 0x80, 0x80, 0x80, 0x01 };
    const uint8_t cut_str[] = { 0x05, 'a', 'b' };
    const uint8_t cut_num[] = { 1, 2, 3 };
    struct km_ch_rowbin d;

    (void)state;
    decode_bad(str, 1, long_varint, sizeof(long_varint), KM_ECORRUPT, KM_ECORRUPT);
    assert_non_null(strstr(km_err_msg(), "64 bits"));
    decode_bad(str, 1, huge_len, sizeof(huge_len), KM_ELIMIT, KM_ELIMIT);
    assert_non_null(strstr(km_err_msg(), "MiB"));
    /* A count whose strings cannot fit in a row (each takes a byte at least). */
    decode_bad(strs, 1, huge_count, sizeof(huge_count), KM_ELIMIT, KM_ELIMIT);
    decode_bad(str, 1, cut_str, sizeof(cut_str), 0, KM_ECORRUPT);
    assert_non_null(strstr(km_err_msg(), "ends inside a row (3 bytes"));
    decode_bad(u64, 1, cut_num, sizeof(cut_num), 0, KM_ECORRUPT);
    decode_bad(u64, 1, "", 0, 0, 0);
    assert_int_equal(km_ch_rowbin_init(&d, u64, 0, on_row, NULL), KM_EINVAL);
    km_ch_rowbin_fini(&d);
}

static void test_callback_stops(void **state)
{
    struct km_buf b, want;
    struct km_ch_rowbin d;
    struct seen s = { .stop_at = 1 };

    (void)state;
    make_answer(&b, &want);
    km_buf_init(&s.text, 0);
    assert_int_equal(km_ch_rowbin_init(&d, cols, 5, on_row, &s), 0);
    assert_int_equal(km_ch_rowbin_feed(&d, b.data, 5), 0);
    assert_int_equal(km_ch_rowbin_feed(&d, b.data + 5, b.len - 5), KM_ECANCELED);
    /* Sticky. */
    assert_int_equal(km_ch_rowbin_feed(&d, b.data, 1), KM_ECANCELED);
    assert_int_equal(km_ch_rowbin_finish(&d), KM_ECANCELED);
    assert_int_equal(s.text.len, 0);
    km_ch_rowbin_fini(&d);
    km_buf_fini(&s.text);
    km_buf_fini(&b);
    km_buf_fini(&want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_and_every_cut),
        cmocka_unit_test(test_bad_answers),
        cmocka_unit_test(test_callback_stops),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
