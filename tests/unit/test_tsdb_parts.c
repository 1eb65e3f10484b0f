/*
 * Unit tests: the tsdb's smaller parts — postings set operations (against a naive
 * model), the symbol table's reference counting, WAL record encoding (round trips,
 * edge values, every truncation rejected), matchers (anchoring, empty-value semantics,
 * bad regexes), and WAL lanes written from several threads replayed in full.
 */
#include "common/buf.h"
#include "common/err.h"
#include "tsdb/postings.h"
#include "tsdb/symtab.h"
#include "tsdb/tsdb.h"
#include "tsdb/wal.h"
#include "tsdb/wal_records.h"

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
#include <unistd.h>

/* ---- postings ------------------------------------------------------------------------ */

static void random_list(struct km_postings *p, unsigned *seed, uint32_t universe)
{
    p->n = 0;
    for (uint32_t x = 0; x < universe; x++) {
        if (rand_r(seed) % 3 == 0)
            assert_int_equal(km_postings_push(p, x), 0);
    }
}

static bool has(const struct km_postings *p, uint32_t x)
{
    for (size_t i = 0; i < p->n; i++) {
        if (p->v[i] == x)
            return true;
    }
    return false;
}

static void assert_sorted_unique(const struct km_postings *p)
{
    for (size_t i = 1; i < p->n; i++)
        assert_true(p->v[i - 1] < p->v[i]);
}

static void test_postings_against_model(void **state)
{
    unsigned seed = 42;

    (void)state;
    for (int round = 0; round < 200; round++) {
        struct km_postings l[5] = { 0 }, out = { 0 };
        const struct km_postings *lists[5];
        uint32_t universe = 1 + (uint32_t)(rand_r(&seed) % 300);
        size_t k = 1 + (size_t)(rand_r(&seed) % 5);

        for (size_t i = 0; i < k; i++) {
            random_list(&l[i], &seed, universe);
            lists[i] = &l[i];
        }
        assert_int_equal(km_postings_intersect(&out, &l[0], lists[k - 1]), 0);
        assert_sorted_unique(&out);
        for (uint32_t x = 0; x < universe; x++)
            assert_int_equal(has(&out, x), has(&l[0], x) && has(lists[k - 1], x));
        assert_int_equal(km_postings_subtract(&out, &l[0], lists[k - 1]), 0);
        assert_sorted_unique(&out);
        for (uint32_t x = 0; x < universe; x++)
            assert_int_equal(has(&out, x), has(&l[0], x) && !has(lists[k - 1], x));
        assert_int_equal(km_postings_union(&out, lists, k), 0);
        assert_sorted_unique(&out);
        for (uint32_t x = 0; x < universe; x++) {
            bool any = false;

            for (size_t i = 0; i < k; i++)
                any = any || has(&l[i], x);
            assert_int_equal(has(&out, x), any);
        }
        /* Remove what is there and what is not. */
        if (out.n) {
            uint32_t x = out.v[out.n / 2];
            size_t n = out.n;

            km_postings_remove(&out, x);
            assert_int_equal(out.n, n - 1);
            assert_false(has(&out, x));
            km_postings_remove(&out, x);
            assert_int_equal(out.n, n - 1);
        }
        for (size_t i = 0; i < 5; i++)
            km_postings_fini(&l[i]);
        km_postings_fini(&out);
    }
}

static void test_postings_empty_inputs(void **state)
{
    struct km_postings a = { 0 }, b = { 0 }, out = { 0 };
    const struct km_postings *one[1] = { &a };

    (void)state;
    assert_int_equal(km_postings_intersect(&out, &a, &b), 0);
    assert_int_equal(out.n, 0);
    assert_int_equal(km_postings_union(&out, one, 1), 0);
    assert_int_equal(out.n, 0);
    assert_int_equal(km_postings_push(&a, 7), 0);
    assert_int_equal(km_postings_subtract(&out, &a, &b), 0);
    assert_int_equal(out.n, 1);
    assert_int_equal(out.v[0], 7);
    assert_int_equal(km_postings_copy(&b, &a), 0);
    assert_int_equal(b.n, 1);
    km_postings_fini(&a);
    km_postings_fini(&b);
    km_postings_fini(&out);
}

/* ---- symbol table ----------------------------------------------------------------------- */

static void test_symtab_references(void **state)
{
    struct km_symtab *st;
    uint32_t a, b, again, found;
    char name[32];
    uint32_t ids[2000];

    (void)state;
    assert_int_equal(km_symtab_create(&st), 0);
    assert_int_equal(km_symtab_intern(st, "node", 4, &a), 0);
    assert_int_equal(km_symtab_intern(st, "nodes", 4, &again), 0); /* by length */
    assert_int_equal(a, again);
    assert_int_equal(km_symtab_intern(st, "", 0, &b), 0);
    assert_int_not_equal(a, b);
    assert_string_equal(km_symtab_str(st, a), "node");
    assert_string_equal(km_symtab_str(st, b), "");
    assert_int_equal(km_symtab_count(st), 2);
    /* Two references to "node": it survives one release. */
    km_symtab_release(st, a);
    assert_int_equal(km_symtab_find(st, "node", 4, &found), 0);
    assert_int_equal(found, a);
    km_symtab_release(st, a);
    assert_int_equal(km_symtab_find(st, "node", 4, &found), KM_ENOTFOUND);
    assert_int_equal(km_symtab_count(st), 1);
    /* Growth through many strings, then all released. */
    for (int i = 0; i < 2000; i++) {
        int n = snprintf(name, sizeof(name), "value-%d", i);

        assert_int_equal(km_symtab_intern(st, name, (size_t)n, &ids[i]), 0);
    }
    for (int i = 0; i < 2000; i++) {
        snprintf(name, sizeof(name), "value-%d", i);
        assert_string_equal(km_symtab_str(st, ids[i]), name);
        km_symtab_release(st, ids[i]);
    }
    assert_int_equal(km_symtab_count(st), 1);
    km_symtab_release(st, b);
    assert_int_equal(km_symtab_count(st), 0);
    km_symtab_destroy(st);
}

/* ---- WAL records ------------------------------------------------------------------------ */

struct got {
    uint64_t ref[16];
    int64_t t[16];
    uint64_t bits[16];
    char labels[16][256];
    size_t n;
};

static int on_series(void *ud, uint64_t ref, const struct km_label *l, size_t n)
{
    struct got *g = ud;
    size_t off = 0;

    g->ref[g->n] = ref;
    g->labels[g->n][0] = '\0';
    for (size_t i = 0; i < n; i++)
        off += (size_t)snprintf(g->labels[g->n] + off, sizeof(g->labels[0]) - off, "%s=%s;",
                                l[i].name, l[i].value);
    g->n++;
    return 0;
}

static int on_sample(void *ud, uint64_t ref, int64_t t, double v)
{
    struct got *g = ud;

    g->ref[g->n] = ref;
    g->t[g->n] = t;
    memcpy(&g->bits[g->n], &v, 8);
    g->n++;
    return 0;
}

static void test_walrec_series_round_trip(void **state)
{
    struct km_label a[] = { { "__name__", "up" }, { "job", "node" } };
    struct km_label b[] = { { "__name__", "x" }, { "empty", "" }, { "utf8", "é€😀" } };
    struct km_buf buf;
    struct got g = { .n = 0 };

    (void)state;
    km_buf_init(&buf, 0);
    km_walrec_series_begin(&buf);
    km_walrec_series_add(&buf, 1, a, 2);
    km_walrec_series_add(&buf, UINT64_MAX, b, 3);
    km_walrec_finish(&buf, 2);
    assert_int_equal(km_buf_error(&buf), 0);
    assert_int_equal(km_walrec_decode_series((const uint8_t *)buf.data, buf.len, on_series, &g), 0);
    assert_int_equal(g.n, 2);
    assert_true(g.ref[0] == 1);
    assert_string_equal(g.labels[0], "__name__=up;job=node;");
    assert_true(g.ref[1] == UINT64_MAX);
    assert_string_equal(g.labels[1], "__name__=x;empty=;utf8=é€😀;");
    /* Every truncation is rejected, never read past its end. */
    for (size_t cut = 0; cut < buf.len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);

        memcpy(copy, buf.data, cut);
        g.n = 0;
        assert_int_equal(km_walrec_decode_series(copy, cut, on_series, &g), KM_ECORRUPT);
        free(copy);
    }
    km_buf_fini(&buf);
}

static void test_walrec_samples_edge_values(void **state)
{
    const int64_t base = 1763769600000;
    const int64_t ts[] = { base, base - 3600000, INT64_MAX, INT64_MIN, base + 15000 };
    const uint64_t bits[] = { 0x7ff0000000000002ull /* stale marker NaN */,
                              0x8000000000000000ull /* -0.0 */, 0x7ff0000000000000ull /* +Inf */,
                              0xfff8000000000001ull /* NaN with payload */,
                              0x3ff0000000000000ull /* 1.0 */ };
    struct km_buf buf;
    struct got g = { .n = 0 };

    (void)state;
    km_buf_init(&buf, 0);
    km_walrec_samples_begin(&buf, base);
    for (size_t i = 0; i < 5; i++) {
        double v;

        memcpy(&v, &bits[i], 8);
        km_walrec_samples_add(&buf, 100 + i, base, ts[i], v);
    }
    km_walrec_finish(&buf, 5);
    assert_int_equal(km_walrec_decode_samples((const uint8_t *)buf.data, buf.len, on_sample, &g),
                     0);
    assert_int_equal(g.n, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_true(g.ref[i] == 100 + i);
        assert_true(g.t[i] == ts[i]);
        assert_true(g.bits[i] == bits[i]);
    }
    for (size_t cut = 0; cut < buf.len; cut++) {
        g.n = 0;
        assert_int_equal(km_walrec_decode_samples((const uint8_t *)buf.data, cut, on_sample, &g),
                         KM_ECORRUPT);
    }
    km_buf_fini(&buf);
}

/* ---- matchers ---------------------------------------------------------------------------- */

static void test_matchers(void **state)
{
    struct km_matcher *m;

    (void)state;
    /* Regexes are fully anchored, as in Prometheus. */
    assert_int_equal(km_matcher_create(&m, KM_MATCH_RE, "job", "node"), 0);
    assert_true(km_matcher_matches(m, "node"));
    assert_false(km_matcher_matches(m, "node-exporter"));
    assert_false(km_matcher_matches(m, "my-node"));
    km_matcher_destroy(m);
    assert_int_equal(km_matcher_create(&m, KM_MATCH_RE, "job", "node|kube.*"), 0);
    assert_true(km_matcher_matches(m, "kubelet"));
    assert_false(km_matcher_matches(m, "xnode"));
    km_matcher_destroy(m);
    assert_int_equal(km_matcher_create(&m, KM_MATCH_NRE, "job", "a.*"), 0);
    assert_false(km_matcher_matches(m, "abc"));
    assert_true(km_matcher_matches(m, "ba"));
    assert_true(km_matcher_matches(m, ""));
    km_matcher_destroy(m);
    assert_int_equal(km_matcher_create(&m, KM_MATCH_NEQ, "job", "x"), 0);
    assert_true(km_matcher_matches(m, ""));
    assert_false(km_matcher_matches(m, "x"));
    assert_string_equal(km_matcher_name(m), "job");
    km_matcher_destroy(m);
    assert_int_equal(km_matcher_create(&m, KM_MATCH_EQ, "job", ""), 0);
    assert_true(km_matcher_matches(m, ""));
    assert_false(km_matcher_matches(m, "x"));
    km_matcher_destroy(m);
    /* A bad regex is an error with a message, not a crash. */
    assert_int_equal(km_matcher_create(&m, KM_MATCH_RE, "job", "(unclosed"), KM_EINVAL);
    assert_true(strlen(km_err_msg()) > 0);
    assert_int_equal(km_matcher_create(&m, KM_MATCH_RE, "job", "a{2,1}"), KM_EINVAL);
}

/* ---- WAL lanes ------------------------------------------------------------------------- */

struct writer {
    struct km_wal *w;
    uint64_t id;
    int records;
};

static void *write_records(void *arg)
{
    struct writer *wr = arg;
    struct km_buf b;

    km_buf_init(&b, 0);
    for (int i = 0; i < wr->records; i++) {
        km_buf_reset(&b);
        km_walrec_samples_begin(&b, 0);
        km_walrec_samples_add(&b, wr->id, 0, i, (double)i);
        km_walrec_finish(&b, 1);
        assert_int_equal(km_wal_log(wr->w, KM_WAL_SAMPLES, b.data, b.len), 0);
    }
    km_buf_fini(&b);
    return NULL;
}

struct tally {
    int per_writer[4];
    int64_t last_t[4];
    bool in_order;
};

static int count_sample(void *ud, uint64_t ref, int64_t t, double v)
{
    struct tally *c = ud;

    (void)v;
    if (ref >= 1 && ref <= 4) {
        if (t <= c->last_t[ref - 1])
            c->in_order = false;
        c->last_t[ref - 1] = t;
        c->per_writer[ref - 1]++;
    }
    return 0;
}

static int count_record(void *ud, uint8_t type, const uint8_t *p, size_t len)
{
    assert_int_equal(type, KM_WAL_SAMPLES);
    return km_walrec_decode_samples(p, len, count_sample, ud);
}

static void test_wal_lanes_replay_everything(void **state)
{
    char dir[] = "/tmp/kmon-test-wal-XXXXXX";
    struct km_wal_opts o = { .lanes = 3, .segment_bytes = 4096 };
    struct km_wal_replay_stats st;
    struct writer wr[4];
    pthread_t th[4];
    struct tally c = { .in_order = true };
    struct km_wal *w;
    char cmd[64];

    (void)state;
    assert_non_null(mkdtemp(dir));
    o.dir = dir;
    assert_int_equal(km_wal_open(&w, &o, 1), 0);
    for (int i = 0; i < 4; i++) {
        wr[i] = (struct writer){ w, (uint64_t)i + 1, 2000 };
        assert_int_equal(pthread_create(&th[i], NULL, write_records, &wr[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    km_wal_close(w);
    for (int i = 0; i < 4; i++)
        c.last_t[i] = -1;
    assert_int_equal(km_wal_replay(dir, true, count_record, &c, &st), 0);
    /* Small segments: many of them, every record back, each writer's in its order. */
    assert_true(st.segments > 10);
    assert_true(st.records == 8000);
    assert_int_equal(st.torn_tails, 0);
    assert_int_equal(st.corruptions, 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(c.per_writer[i], 2000);
    assert_true(c.in_order);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_postings_against_model),
        cmocka_unit_test(test_postings_empty_inputs),
        cmocka_unit_test(test_symtab_references),
        cmocka_unit_test(test_walrec_series_round_trip),
        cmocka_unit_test(test_walrec_samples_edge_values),
        cmocka_unit_test(test_matchers),
        cmocka_unit_test(test_wal_lanes_replay_everything),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
