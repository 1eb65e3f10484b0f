/*
 * Unit tests: the head — append outcomes (in order, duplicate, conflicting, out of
 * order within and beyond the window), selection with every matcher type and
 * Prometheus' empty-value semantics, label names and values, truncation (series left
 * empty are removed, appends to them go to a new series), and concurrent writers.
 */
#include "tsdb/head.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct km_head *new_head(void)
{
    struct km_head_opts o = { .block_range_ms = 7200000, .ooo_window_ms = 3600000 };
    struct km_head *h;

    assert_int_equal(km_head_create(&h, &o), 0);
    return h;
}

/* Get or create the series for "name{k=v,...}" given as label pairs. */
static struct km_hseries *series(struct km_head *h, struct km_label *l, size_t n)
{
    struct km_hseries *s;
    uint64_t hash;

    km_labels_sort(l, n);
    hash = km_labels_hash(l, n);
    s = km_head_lookup(h, l, n, hash);
    if (s)
        return s;
    assert_int_equal(km_head_series_new(h, l, n, hash, 0, &s), 0);
    s = km_head_publish(h, s);
    assert_non_null(s);
    return s;
}

static struct km_hseries *metric(struct km_head *h, const char *name, const char *job,
                                 const char *inst)
{
    struct km_label l[3] = { { "__name__", name }, { "job", job }, { "instance", inst } };

    return series(h, l, inst ? 3 : 2);
}

static void test_append_outcomes(void **state)
{
    struct km_head *h = new_head();
    struct km_hseries *s = metric(h, "up", "node", "a");
    struct km_samples out = { 0 };

    (void)state;
    assert_int_equal(km_head_append(h, s, 10000, 1, false), KM_APPEND_OK);
    assert_int_equal(km_head_append(h, s, 20000, 1, false), KM_APPEND_OK);
    assert_int_equal(km_head_append(h, s, 20000, 1, false), KM_APPEND_DUPLICATE);
    assert_int_equal(km_head_append(h, s, 20000, 2, false), KM_APPEND_CONFLICT);
    assert_int_equal(km_head_append(h, s, 15000, 7, false), KM_APPEND_OK); /* out of order */
    assert_int_equal(km_head_append(h, s, 15000, 7, false), KM_APPEND_DUPLICATE);
    assert_int_equal(km_head_append(h, s, 10000, 1, false), KM_APPEND_DUPLICATE);
    assert_int_equal(km_head_append(h, s, 10000, 3, false), KM_APPEND_CONFLICT);
    assert_int_equal(km_head_append(h, s, 4000000, 1, false), KM_APPEND_OK);
    /* Now maxt is 4000 s: the window reaches back to 400 s. */
    assert_int_equal(km_head_append(h, s, 300000, 1, false), KM_APPEND_TOO_OLD);
    assert_int_equal(km_head_append(h, s, 300000, 1, true), KM_APPEND_OK); /* replay */
    assert_int_equal(km_head_append(h, s, 500000, NAN, false), KM_APPEND_OK);
    assert_int_equal(km_head_series_samples(h, s, INT64_MIN, INT64_MAX, &out), 0);
    assert_int_equal(out.n, 6);
    {
        int64_t want_t[] = { 10000, 15000, 20000, 300000, 500000, 4000000 };

        for (int i = 0; i < 6; i++)
            assert_int_equal(out.t[i], want_t[i]);
        assert_true(out.v[1] == 7 && isnan(out.v[4]));
    }
    assert_int_equal(km_head_series_samples(h, s, 12000, 300000, &out), 0);
    assert_int_equal(out.n, 3);
    km_samples_fini(&out);
    km_head_series_put(h, s);
    km_head_destroy(h);
}

static void test_chunks_cut_at_boundaries(void **state)
{
    struct km_head *h = new_head();
    struct km_hseries *s = metric(h, "x", "j", NULL);
    struct km_head_stats st;
    struct km_samples out = { 0 };

    (void)state;
    /* 1000 samples 15 s apart from t = 7000 s: a new chunk at each 2 h boundary (7200 s,
     * 14400 s, 21600 s) and after 240 samples: 14 | 240 240 | 240 240 | 26. */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(km_head_append(h, s, 7000000 + i * 15000LL, i, false), KM_APPEND_OK);
    km_head_stats(h, &st);
    assert_int_equal(st.samples, 1000);
    assert_int_equal(st.chunks, 6);
    assert_int_equal(st.series, 1);
    assert_int_equal(km_head_series_samples(h, s, INT64_MIN, INT64_MAX, &out), 0);
    assert_int_equal(out.n, 1000);
    for (int i = 0; i < 1000; i++)
        assert_true(out.v[i] == i);
    km_samples_fini(&out);
    km_head_series_put(h, s);
    km_head_destroy(h);
}

/* What an instant query reads (km_head_series_newest) ends with the sample a full read
 * ends with, for windows over chunk boundaries, inside chunks, between samples, with
 * decimal and binary values, a staleness marker and out-of-order samples. */
static void test_newest_matches_full_read(void **state)
{
    struct km_head *h = new_head();
    struct km_hseries *s = metric(h, "x", "j", NULL);
    struct km_samples all = { 0 }, part = { 0 };
    unsigned seed = 7;

    (void)state;
    /* 1000 samples 15 s apart from 7000 s (six chunks), the values decimal then binary. */
    for (int i = 0; i < 1000; i++) {
        double v = i < 500 ? i * 0.25 : 1.0 / (i + 3);

        if (i == 700) {
            uint64_t stale = 0x7ff0000000000002ull; /* Prometheus' staleness marker */

            memcpy(&v, &stale, sizeof(v));
        }
        assert_int_equal(km_head_append(h, s, 7000000 + i * 15000LL, v, false), KM_APPEND_OK);
    }
    /* Out of order, within the window: between samples of the last chunk. */
    assert_int_equal(km_head_append(h, s, 7000000 + 995 * 15000LL + 7000, 42, false), KM_APPEND_OK);
    for (int k = 0; k < 3000; k++) {
        int64_t maxt = 6990000 + (int64_t)(rand_r(&seed) % 15200000);
        int64_t mint = maxt - (int64_t)(rand_r(&seed) % 600000);

        if (k % 3 == 0)
            maxt = 7000000 + (int64_t)(rand_r(&seed) % 1000) * 15000; /* on a sample */
        assert_int_equal(km_head_series_samples(h, s, mint, maxt, &all), 0);
        assert_int_equal(km_head_series_newest(h, s, mint, maxt, &part), 0);
        assert_true(part.n <= all.n);
        assert_true(part.n <= 241 + 1);
        if (all.n == 0)
            continue;
        assert_true(part.n > 0);
        for (size_t i = 1; i < part.n; i++)
            assert_true(part.t[i - 1] < part.t[i]);
        assert_int_equal(part.t[part.n - 1], all.t[all.n - 1]);
        assert_memory_equal(&part.v[part.n - 1], &all.v[all.n - 1], sizeof(double));
    }
    km_samples_fini(&all);
    km_samples_fini(&part);
    km_head_series_put(h, s);
    km_head_destroy(h);
}

struct strs {
    char buf[32][64];
    int n;
};

static int collect(void *ud, const char *s)
{
    struct strs *x = ud;

    snprintf(x->buf[x->n++], sizeof(x->buf[0]), "%s", s);
    return 0;
}

static size_t select_n(struct km_head *h, enum km_match_type t, const char *name, const char *value)
{
    struct km_matcher *m[2];
    struct km_hseries **v;
    size_t n;

    assert_int_equal(km_matcher_create(&m[0], KM_MATCH_RE, "__name__", "up|load"), 0);
    assert_int_equal(km_matcher_create(&m[1], t, name, value), 0);
    assert_int_equal(km_head_select(h, m, 2, INT64_MIN, INT64_MAX, true, &v, &n), 0);
    for (size_t i = 0; i < n; i++)
        km_head_series_put(h, v[i]);
    free(v);
    km_matcher_destroy(m[0]);
    km_matcher_destroy(m[1]);
    return n;
}

static void test_select(void **state)
{
    struct km_head *h = new_head();
    struct km_hseries *s[5];

    (void)state;
    s[0] = metric(h, "up", "node", "a");
    s[1] = metric(h, "up", "node", "b");
    s[2] = metric(h, "up", "api", "a");
    s[3] = metric(h, "up", "api", NULL); /* no instance label */
    s[4] = metric(h, "load", "node", "a");
    for (int i = 0; i < 5; i++)
        assert_int_equal(km_head_append(h, s[i], 1000, i, false), KM_APPEND_OK);

    assert_int_equal(select_n(h, KM_MATCH_EQ, "job", "node"), 3);
    assert_int_equal(select_n(h, KM_MATCH_NEQ, "job", "node"), 2);
    assert_int_equal(select_n(h, KM_MATCH_RE, "instance", "a|b"), 4);
    assert_int_equal(select_n(h, KM_MATCH_RE, "instance", "a"), 3);  /* anchored: not "ab" */
    assert_int_equal(select_n(h, KM_MATCH_NRE, "instance", "a"), 2); /* b, and the unlabeled */
    assert_int_equal(select_n(h, KM_MATCH_EQ, "instance", ""), 1);   /* only the unlabeled */
    assert_int_equal(select_n(h, KM_MATCH_NEQ, "instance", ""), 4);
    assert_int_equal(select_n(h, KM_MATCH_RE, "instance", ".*"), 5);
    assert_int_equal(select_n(h, KM_MATCH_RE, "instance", ".+"), 4);
    assert_int_equal(select_n(h, KM_MATCH_EQ, "nolabel", ""), 5);
    assert_int_equal(select_n(h, KM_MATCH_EQ, "nolabel", "x"), 0);
    assert_int_equal(select_n(h, KM_MATCH_EQ, "job", "nosuchvalue"), 0);

    /* Sorted by labels, and filtered by time. */
    {
        struct km_hseries **v;
        size_t n;
        struct km_labels *l0, *l1;

        assert_int_equal(km_head_select(h, NULL, 0, 0, 2000, true, &v, &n), 0);
        assert_int_equal(n, 5);
        for (size_t i = 1; i < n; i++) {
            assert_int_equal(km_head_series_labels(h, v[i - 1], &l0), 0);
            assert_int_equal(km_head_series_labels(h, v[i], &l1), 0);
            assert_true(km_labels_cmp(l0, l1) < 0);
            km_labels_destroy(l0);
            km_labels_destroy(l1);
        }
        /* Owned copies and the borrowed view (one buffer reused) say the same, hash too,
         * and the copy's hash is what hashing its pairs gives. */
        {
            struct km_labels *view = NULL;
            size_t cap = 0;

            for (size_t i = 0; i < n; i++) {
                assert_int_equal(km_head_series_labels(h, v[i], &l0), 0);
                assert_int_equal(km_head_series_label_set(h, v[i], &view, &cap), 0);
                assert_int_equal(km_labels_cmp(l0, view), 0);
                assert_true(l0->hash == view->hash);
                assert_true(l0->hash == km_labels_hash(l0->v, l0->n));
                assert_int_equal(km_labels_create(&l1, view->v, view->n), 0);
                assert_true(l1->hash == l0->hash && km_labels_cmp(l0, l1) == 0);
                km_labels_destroy(l0);
                km_labels_destroy(l1);
            }
            free(view);
        }
        for (size_t i = 0; i < n; i++)
            km_head_series_put(h, v[i]);
        free(v);
        assert_int_equal(km_head_select(h, NULL, 0, 5000, 9000, true, &v, &n), 0);
        assert_int_equal(n, 0);
        free(v);
    }
    /* In the head's own order: the same series. */
    {
        struct km_hseries **a, **b;
        size_t na, nb;

        assert_int_equal(km_head_select(h, NULL, 0, 0, 2000, true, &a, &na), 0);
        assert_int_equal(km_head_select(h, NULL, 0, 0, 2000, false, &b, &nb), 0);
        assert_int_equal(na, 5);
        assert_int_equal(nb, 5);
        for (size_t i = 0; i < na; i++) {
            bool found = false;

            for (size_t k = 0; k < nb; k++)
                found = found || a[i] == b[k];
            assert_true(found);
        }
        for (size_t i = 0; i < na; i++) {
            km_head_series_put(h, a[i]);
            km_head_series_put(h, b[i]);
        }
        free(a);
        free(b);
    }
    {
        struct strs x = { .n = 0 };
        struct km_matcher *m;

        assert_int_equal(km_head_label_names(h, NULL, 0, INT64_MIN, INT64_MAX, collect, &x), 0);
        assert_int_equal(x.n, 3);
        assert_string_equal(x.buf[0], "__name__");
        assert_string_equal(x.buf[1], "instance");
        assert_string_equal(x.buf[2], "job");
        x.n = 0;
        assert_int_equal(km_matcher_create(&m, KM_MATCH_EQ, "job", "api"), 0);
        assert_int_equal(
            km_head_label_values(h, "instance", &m, 1, INT64_MIN, INT64_MAX, collect, &x), 0);
        assert_int_equal(x.n, 1);
        assert_string_equal(x.buf[0], "a");
        km_matcher_destroy(m);
    }
    for (int i = 0; i < 5; i++)
        km_head_series_put(h, s[i]);
    km_head_destroy(h);
}

static void test_truncate(void **state)
{
    struct km_head *h = new_head();
    struct km_hseries *old = metric(h, "old", "j", NULL), *live = metric(h, "live", "j", NULL);
    struct km_head_stats st;
    struct km_samples out = { 0 };

    (void)state;
    for (int i = 0; i < 100; i++)
        assert_int_equal(km_head_append(h, old, i * 60000LL, i, false), KM_APPEND_OK);
    for (int i = 0; i < 100; i++)
        assert_int_equal(km_head_append(h, live, i * 60000LL + 7200000, i, false), KM_APPEND_OK);
    assert_int_equal(km_head_truncate(h, INT64_MIN, 7200000, NULL), 0);
    km_head_stats(h, &st);
    assert_int_equal(st.series, 1);
    assert_int_equal(st.samples, 100);
    assert_int_equal(st.times.min_valid, 7200000);
    /* The removed series refuses appends; a lookup by its labels finds nothing. */
    assert_int_equal(km_head_append(h, old, 13000000, 1, false), KM_APPEND_REMOVED);
    {
        struct km_label l[2] = { { "__name__", "old" }, { "job", "j" } };

        assert_null(km_head_lookup(h, l, 2, km_labels_hash(l, 2)));
    }
    assert_int_equal(km_head_append(h, live, 100, 1, false), KM_APPEND_TOO_OLD);
    assert_int_equal(km_head_series_samples(h, live, INT64_MIN, INT64_MAX, &out), 0);
    assert_int_equal(out.n, 100);
    km_head_series_put(h, old); /* the last reference frees it */
    /* A forced cut inside a chunk keeps the newer samples of that chunk. */
    assert_int_equal(km_head_truncate(h, INT64_MIN, 7200000 + 50 * 60000, NULL), 0);
    assert_int_equal(km_head_series_samples(h, live, INT64_MIN, INT64_MAX, &out), 0);
    assert_int_equal(out.n, 50);
    assert_int_equal(out.t[0], 7200000 + 50 * 60000);
    km_samples_fini(&out);
    km_head_series_put(h, live);
    km_head_destroy(h);
}

/* Samples behind a cut go to the late buffer; a cut takes them window by window, and a
 * sample arriving while a cut runs is kept for the next one. */
static void test_late_samples(void **state)
{
    struct km_head *h = new_head();
    struct km_hseries *x = metric(h, "x", "j", NULL), *y = metric(h, "y", "j", NULL);
    struct km_head_stats st;
    struct km_samples out = { 0 };
    size_t removed = 0;

    (void)state;
    km_head_set_min_valid(h, 7200000);
    /* y is written in order; x lags two hours behind: nothing of it is too old. */
    assert_int_equal(km_head_append(h, y, 9000000, 1, false), KM_APPEND_OK);
    assert_int_equal(km_head_append(h, x, 1000, 1, false), KM_APPEND_OK);
    assert_int_equal(km_head_append(h, x, 1000, 1, false), KM_APPEND_DUPLICATE);
    assert_int_equal(km_head_append(h, x, 1000, 9, false), KM_APPEND_CONFLICT);
    assert_int_equal(km_head_append(h, x, 8000000, 2, false), KM_APPEND_OK); /* in order */
    assert_int_equal(km_head_append(h, x, 7100000, 3, false), KM_APPEND_OK); /* late */
    /* Too old is judged against x's own newest sample (8000 s), not y's; a stored
     * sample sent again is a duplicate however old (a retry must not fail). */
    assert_int_equal(km_head_append(h, x, 8000000 - 3600001, 4, false), KM_APPEND_TOO_OLD);
    assert_int_equal(km_head_append(h, x, 1000, 1, false), KM_APPEND_DUPLICATE);
    assert_int_equal(km_head_append(h, x, 1000, 9, false), KM_APPEND_TOO_OLD);
    km_head_stats(h, &st);
    assert_int_equal(st.samples, 4);
    assert_int_equal(st.times.late_samples, 2);
    assert_int_equal(st.times.late_mint, 1000);
    assert_int_equal(st.times.mint, 8000000);
    assert_int_equal(km_head_series_samples(h, x, INT64_MIN, INT64_MAX, &out), 0);
    assert_int_equal(out.n, 3);
    assert_true(out.t[0] == 1000 && out.t[1] == 7100000 && out.t[2] == 8000000);
    /* A cut of [0, 2 h): x gives what it has there, and a sample arriving meanwhile (in
     * the same window) waits for the next cut. */
    assert_int_equal(km_head_series_cut_samples(h, x, 0, 7200000, &out), 0);
    assert_int_equal(out.n, 2);
    assert_true(out.t[0] == 1000 && out.t[1] == 7100000);
    assert_int_equal(km_head_append(h, x, 7150000, 5, false), KM_APPEND_OK);
    assert_int_equal(km_head_append(h, x, 7100000, 3, false), KM_APPEND_DUPLICATE); /* late_cut */
    assert_int_equal(km_head_series_samples(h, x, INT64_MIN, INT64_MAX, &out), 0);
    assert_int_equal(out.n, 4);
    assert_int_equal(km_head_truncate(h, 0, 7200000, &removed), 0);
    assert_int_equal(removed, 0);
    assert_int_equal(km_head_series_samples(h, x, INT64_MIN, INT64_MAX, &out), 0);
    assert_int_equal(out.n, 2);
    assert_true(out.t[0] == 7150000 && out.t[1] == 8000000);
    km_head_stats(h, &st);
    assert_int_equal(st.times.late_samples, 1);
    assert_int_equal(st.times.late_mint, 7150000);
    /* A cut of another window leaves late samples outside it alone. */
    assert_int_equal(km_head_series_cut_samples(h, x, 7200000, 14400000, &out), 0);
    assert_int_equal(out.n, 1);
    assert_int_equal(km_head_truncate(h, 7200000, 14400000, &removed), 0);
    assert_int_equal(km_head_series_samples(h, x, INT64_MIN, INT64_MAX, &out), 0);
    assert_int_equal(out.n, 1);
    assert_int_equal(out.t[0], 7150000);
    km_samples_fini(&out);
    km_head_series_put(h, x);
    km_head_series_put(h, y);
    km_head_destroy(h);
}

struct writer {
    struct km_head *h;
    int id;
};

static void *write_many(void *arg)
{
    struct writer *w = arg;
    char inst[32];

    for (int i = 0; i < 2000; i++) {
        struct km_hseries *s;

        /* Half private series, half shared among all writers. */
        snprintf(inst, sizeof(inst), "%s%d", i % 2 ? "shared" : "w", i % 2 ? i % 50 : w->id);
        s = metric(w->h, "m", "j", inst);
        km_head_append(w->h, s, 1000000 + i, w->id, false);
        km_head_series_put(w->h, s);
    }
    return NULL;
}

static void test_concurrent_writers(void **state)
{
    struct km_head *h = new_head();
    pthread_t th[8];
    struct writer w[8];
    struct km_head_stats st;

    (void)state;
    for (int i = 0; i < 8; i++) {
        w[i] = (struct writer){ h, i };
        pthread_create(&th[i], NULL, write_many, &w[i]);
    }
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    km_head_stats(h, &st);
    /* 8 private series and 50 shared ones, never a duplicate series. */
    assert_int_equal(st.series, 8 + 25);
    km_head_destroy(h);
}

/* Samples a replay met out of order (two WAL lanes) are put back into chunks in order:
 * the same samples, fewer bytes, nothing left to merge. */
static void test_settle_after_replay(void **state)
{
    struct km_head *h = new_head();
    struct km_hseries *a = metric(h, "up", "node", "a"), *b = metric(h, "up", "node", "b");
    struct km_head_stats before, after;
    struct km_samples out = { 0 };
    uint64_t settled;

    (void)state;
    /* Lane 1 held the even samples of a, lane 2 the odd ones; b came in order. */
    for (int i = 0; i < 200; i += 2)
        assert_int_equal(km_head_append(h, a, 1000 + i * 15000, i, true), KM_APPEND_OK);
    for (int i = 1; i < 200; i += 2)
        assert_int_equal(km_head_append(h, a, 1000 + i * 15000, i, true), KM_APPEND_OK);
    for (int i = 0; i < 200; i++)
        assert_int_equal(km_head_append(h, b, 1000 + i * 15000, i, true), KM_APPEND_OK);
    km_head_stats(h, &before);
    assert_int_equal(before.samples, 400);
    assert_int_equal(km_head_settle(h, &settled), 0);
    assert_int_equal(settled, 1);
    km_head_stats(h, &after);
    assert_int_equal(after.samples, 400);
    assert_true(after.bytes < before.bytes);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(km_head_series_samples(h, k ? b : a, INT64_MIN, INT64_MAX, &out), 0);
        assert_int_equal(out.n, 200);
        for (size_t i = 0; i < out.n; i++) {
            assert_true(out.t[i] == 1000 + (int64_t)i * 15000);
            assert_true(out.v[i] == (double)i);
        }
    }
    /* Settled once is settled: a second pass has nothing to do, appends go on. */
    assert_int_equal(km_head_settle(h, &settled), 0);
    assert_int_equal(settled, 0);
    assert_int_equal(km_head_append(h, a, 1000 + 200 * 15000, 200, false), KM_APPEND_OK);
    assert_int_equal(km_head_append(h, a, 1000 + 5 * 15000, 5, false), KM_APPEND_DUPLICATE);
    km_samples_fini(&out);
    km_head_series_put(h, a);
    km_head_series_put(h, b);
    km_head_destroy(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_outcomes),
        cmocka_unit_test(test_chunks_cut_at_boundaries),
        cmocka_unit_test(test_newest_matches_full_read),
        cmocka_unit_test(test_select),
        cmocka_unit_test(test_truncate),
        cmocka_unit_test(test_late_samples),
        cmocka_unit_test(test_concurrent_writers),
        cmocka_unit_test(test_settle_after_replay),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
