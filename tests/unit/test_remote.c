/*
 * Unit tests: remote_write — random requests encoded with the protobuf-c code read back
 * exactly by the in-place decoder (labels, samples, edge values), label adjacency (the
 * cache key), malformed bodies rejected with a message, and snappy with its cap.
 */
#include "common/err.h"
#include "remote/rw_codec.h"
#include "remote/rw_decode.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NSERIES 300

struct req {
    struct km_rw_ts ts[NSERIES];
    struct km_label labels[NSERIES][8];
    char strs[NSERIES][8][2][24];
    int64_t t[NSERIES][4];
    double v[NSERIES][4];
    size_t n;
};

static void random_request(struct req *r, unsigned *seed)
{
    static const uint64_t special[] = { 0x7ff0000000000002ull, 0x8000000000000000ull,
                                        0x7ff0000000000000ull, 0xfff0000000000000ull,
                                        0x0000000000000001ull };

    r->n = 1 + (size_t)(rand_r(seed) % NSERIES);
    for (size_t i = 0; i < r->n; i++) {
        size_t nl = 1 + (size_t)(rand_r(seed) % 8), ns = (size_t)(rand_r(seed) % 4);

        for (size_t k = 0; k < nl; k++) {
            snprintf(r->strs[i][k][0], 24, k ? "l%zu" : "__name__", k);
            /* Empty values, NULs are not sent by encoders; long and short ones are. */
            snprintf(r->strs[i][k][1], 24, "%.*s", rand_r(seed) % 23, "value-é-0123456789abcdef");
            r->labels[i][k] = (struct km_label){ r->strs[i][k][0], r->strs[i][k][1] };
        }
        for (size_t k = 0; k < ns; k++) {
            switch (rand_r(seed) % 4) {
            case 0:
                r->t[i][k] = INT64_MIN + rand_r(seed);
                break;
            case 1:
                r->t[i][k] = INT64_MAX - rand_r(seed);
                break;
            default:
                r->t[i][k] = 1763769600000 + rand_r(seed);
            }
            if (rand_r(seed) % 3 == 0)
                memcpy(&r->v[i][k], &special[rand_r(seed) % 5], 8);
            else
                r->v[i][k] = (double)rand_r(seed) / 7.0;
        }
        r->ts[i] = (struct km_rw_ts){ r->labels[i], nl, r->t[i], r->v[i], ns };
    }
}

struct check {
    const struct req *r;
    size_t i;
};

static int check_series(void *ud, const struct km_rw_series *s)
{
    struct check *c = ud;
    const struct km_rw_ts *want = &c->r->ts[c->i++];
    struct km_rw_label l[16];
    struct km_rw_sample_it it;
    size_t n, k = 0;
    int64_t t;
    double v;

    assert_int_equal(s->nlabels, want->nlabels);
    assert_int_equal(s->nsamples, want->nsamples);
    assert_true(s->labels_adjacent);
    assert_int_equal(km_rw_series_labels(s, l, 16, &n), 0);
    assert_int_equal(n, want->nlabels);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(l[i].name_len, strlen(want->labels[i].name));
        assert_memory_equal(l[i].name, want->labels[i].name, l[i].name_len);
        assert_int_equal(l[i].value_len, strlen(want->labels[i].value));
        assert_memory_equal(l[i].value, want->labels[i].value, l[i].value_len);
    }
    km_rw_samples_init(&it, s);
    while (km_rw_samples_next(&it, &t, &v)) {
        assert_true(k < want->nsamples);
        assert_true(t == want->t[k]);
        /* proto3 omits a value equal to 0, so -0.0 arrives as +0.0 (Prometheus' Go
         * encoder does the same). */
        if (want->v[k] == 0)
            assert_true(v == 0);
        else
            assert_memory_equal(&v, &want->v[k], 8);
        k++;
    }
    assert_int_equal(k, want->nsamples);
    return 0;
}

static void test_round_trip(void **state)
{
    static struct req r;
    unsigned seed = 7;
    struct km_buf body, packed, unpacked;

    (void)state;
    km_buf_init(&body, 0);
    km_buf_init(&packed, 0);
    km_buf_init(&unpacked, 0);
    for (int round = 0; round < 50; round++) {
        struct check c = { &r, 0 };
        struct km_rw_stats st;
        size_t samples = 0;

        random_request(&r, &seed);
        km_buf_reset(&body);
        assert_int_equal(km_rw_encode(&body, r.ts, r.n), 0);
        /* Through snappy as on the wire. */
        assert_int_equal(km_rw_compress(&packed, body.data, body.len), 0);
        assert_int_equal(km_rw_uncompress(&unpacked, packed.data, packed.len, body.len), 0);
        assert_int_equal(unpacked.len, body.len);
        assert_memory_equal(unpacked.data, body.data, body.len);
        assert_int_equal(
            km_rw_decode((const uint8_t *)unpacked.data, unpacked.len, check_series, &c, &st), 0);
        assert_int_equal(c.i, r.n);
        for (size_t i = 0; i < r.n; i++)
            samples += r.ts[i].nsamples;
        assert_true(st.series == r.n && st.samples == samples);
        /* A cap one byte short is refused before anything is decompressed. */
        if (body.len > 0)
            assert_int_equal(km_rw_uncompress(&unpacked, packed.data, packed.len, body.len - 1),
                             KM_ELIMIT);
    }
    km_buf_fini(&body);
    km_buf_fini(&packed);
    km_buf_fini(&unpacked);
}

static int count_only(void *ud, const struct km_rw_series *s)
{
    (void)s;
    (*(int *)ud)++;
    return 0;
}

static int note_adjacency(void *ud, const struct km_rw_series *s)
{
    struct km_rw_label l[4];
    size_t n;

    *(int *)ud = s->labels_adjacent ? 1 : 0;
    assert_int_equal(km_rw_series_labels(s, l, 4, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(l[1].value_len, 3);
    assert_memory_equal(l[1].value, "api", 3);
    /* A cap smaller than the labels is an error, not an overflow. */
    assert_int_equal(km_rw_series_labels(s, l, 1, &n), KM_ELIMIT);
    return 0;
}

static void test_label_adjacency(void **state)
{
    /* TimeSeries{label, sample, label}: valid, but its labels are not one span. */
    static const uint8_t split[] = {
        0x0a, 0x1a,                                                       /* timeseries, 26 */
        0x0a, 0x0a, 0x0a, 0x08, '_', '_', 'n', 'a',  'm',  'e', '_', '_', /* label name */
        0x12, 0x00,                                                       /* sample {} */
        0x0a, 0x0a, 0x0a, 0x03, 'j', 'o', 'b', 0x12, 0x03, 'a', 'p', 'i'  /* label */
    };
    struct km_rw_stats st;
    int adjacent = -1;

    (void)state;
    assert_int_equal(km_rw_decode(split, sizeof(split), note_adjacency, &adjacent, &st), 0);
    assert_int_equal(adjacent, 0);
    assert_true(st.samples == 1 && st.series == 1);
}

static void test_malformed(void **state)
{
    static const struct {
        const char *what;
        uint8_t b[16];
        size_t n;
    } cases[] = {
        { "field number 0", { 0x02, 0x00 }, 2 },
        { "truncated length", { 0x0a, 0x05, 0x0a }, 3 },
        { "group wire type", { 0x0b }, 1 },
        { "wire type 7", { 0x0f, 0x00 }, 2 },
        { "timeseries as varint", { 0x08, 0x01 }, 2 },
        { "sample value as varint", { 0x0a, 0x04, 0x12, 0x02, 0x08, 0x01 }, 6 },
        { "label name as fixed64", { 0x0a, 0x0b, 0x0a, 0x09, 0x09, 1, 2, 3, 4, 5, 6, 7, 8 }, 13 },
        { "unterminated varint", { 0x18, 0xff, 0xff }, 3 },
        { "overlong tag", { 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 }, 6 },
    };
    int n = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = km_rw_decode(cases[i].b, cases[i].n, count_only, &n, NULL);

        if (rc != KM_EINVAL)
            fail_msg("%s: got %d", cases[i].what, rc);
        assert_true(strlen(km_err_msg()) > 0);
    }
    /* Unknown fields of every valid wire type are skipped, anywhere. */
    {
        static const uint8_t unknown[] = { 0x20, 0x05,                        /* 4: varint */
                                           0x29, 1,    2,   3, 4, 5, 6, 7, 8, /* 5: fixed64 */
                                           0x35, 1,    2,   3, 4,             /* 6: fixed32 */
                                           0x3a, 0x01, 0x00 };                /* 7: bytes */
        assert_int_equal(km_rw_decode(unknown, sizeof(unknown), count_only, &n, NULL), 0);
    }
}

struct md_check {
    const struct km_rw_md *want;
    size_t n, i;
};

static int check_metadata(void *ud, const struct km_rw_metadata *m)
{
    struct md_check *c = ud;
    const struct km_rw_md *w;

    assert_true(c->i < c->n);
    w = &c->want[c->i++];
    assert_int_equal(m->type, w->type);
    assert_int_equal(m->name_len, strlen(w->name));
    assert_memory_equal(m->name, w->name, m->name_len);
    assert_int_equal(m->help_len, strlen(w->help));
    assert_memory_equal(m->help, w->help, m->help_len);
    assert_int_equal(m->unit_len, strlen(w->unit));
    assert_memory_equal(m->unit, w->unit, m->unit_len);
    return 0;
}

/* Metadata appended after the series makes one request carrying both; alone, a
 * request of metadata only. Every type number (and one no enum names) goes through. */
static void test_metadata_round_trip(void **state)
{
    static const struct km_label l[] = { { "__name__", "up" }, { "job", "api" } };
    static const struct km_rw_md md[] = {
        { 1, "http_requests_total", "Requests by code.", "" },
        { 2, "temperature", "Temperature, \"quoted\" and \\ and\nnewline, \xc3\xa9.", "celsius" },
        { 0, "up", "", "" },
        { 3, "latency_seconds", "A histogram.", "seconds" },
        { 4, "gh", "x", "" },
        { 5, "s", "y", "" },
        { 6, "build_info", "z", "" },
        { 7, "feature", "", "" },
        { 42, "future_type", "from a newer sender", "" },
    };
    const size_t nmd = sizeof(md) / sizeof(md[0]);
    int64_t t = 1000;
    double v = 1;
    struct km_rw_ts ts = { l, 2, &t, &v, 1 };
    struct km_buf body;
    struct km_rw_stats st;

    (void)state;
    km_buf_init(&body, 0);
    for (int with_series = 0; with_series < 2; with_series++) {
        struct md_check c = { md, nmd, 0 };
        int n = 0;

        km_buf_reset(&body);
        if (with_series)
            assert_int_equal(km_rw_encode(&body, &ts, 1), 0);
        assert_int_equal(km_rw_encode_metadata(&body, md, nmd), 0);
        assert_int_equal(km_rw_decode((const uint8_t *)body.data, body.len, count_only, &n, &st),
                         0);
        assert_int_equal(n, with_series);
        assert_int_equal(st.metadata, nmd);
        assert_int_equal(
            km_rw_decode_metadata((const uint8_t *)body.data, body.len, check_metadata, &c), 0);
        assert_int_equal(c.i, nmd);
    }
    /* Nothing to encode adds nothing. */
    km_buf_reset(&body);
    assert_int_equal(km_rw_encode_metadata(&body, md, 0), 0);
    assert_int_equal(body.len, 0);
    km_buf_fini(&body);
}

static void test_snappy_garbage(void **state)
{
    struct km_buf out;
    const char junk[] = "\xff\xff\xff\x7fnot snappy at all"; /* claims 256 MiB */

    (void)state;
    km_buf_init(&out, 0);
    assert_int_equal(km_rw_uncompress(&out, junk, sizeof(junk) - 1, 1 << 20), KM_ELIMIT);
    assert_int_equal(km_rw_uncompress(&out,
                                      "\x05"
                                      "abc",
                                      4, 1 << 20),
                     KM_EINVAL);
    assert_int_equal(km_rw_uncompress(&out, "", 0, 1 << 20), KM_EINVAL);
    km_buf_fini(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),          cmocka_unit_test(test_label_adjacency),
        cmocka_unit_test(test_malformed),           cmocka_unit_test(test_snappy_garbage),
        cmocka_unit_test(test_metadata_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
