/*
 * Model-based test of the database: random appends (duplicates, conflicting values,
 * out-of-order samples inside and beyond the window, stale markers, infinities) from one
 * and from several threads, random block cuts, compactions and reopenings (WAL replay),
 * and random queries with every matcher type — every answer compared with a naive
 * in-memory model of what must be stored. Seeds are fixed, so a failure reproduces.
 */
#include "common/err.h"
#include "tsdb/tsdb.h"

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

#define NMETRICS 4
#define NJOBS    3
#define NINST    8
#define NSERIES  (NMETRICS * NJOBS * NINST)
#define MAXPTS   4000

static const char *const metric_names[NMETRICS] = { "cpu_total", "mem_bytes", "up", "http" };
static const char *const job_names[NJOBS] = { "node", "api", "db" };
static const char *const inst_names[NINST] = { "a", "b", "c", "d", "e", "f", "g", "h" };

/* The model: per series, a sorted array of (t, value bits). */
struct mseries {
    int64_t t[MAXPTS];
    uint64_t v[MAXPTS];
    size_t n;
};

static struct mseries model[NSERIES];
static char dir[256];
static uint64_t rng;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static uint64_t bits(double d)
{
    uint64_t u;

    memcpy(&u, &d, sizeof(u));
    return u;
}

static void labels_of(int id, struct km_label l[3])
{
    l[0] = (struct km_label){ "__name__", metric_names[id / (NJOBS * NINST)] };
    l[1] = (struct km_label){ "job", job_names[id / NINST % NJOBS] };
    l[2] = (struct km_label){ "instance", inst_names[id % NINST] };
}

static double random_value(void)
{
    switch (rnd() % 10) {
    case 0:
        return (double)(rnd() % 1000) / 100.0;
    case 1: {
        double d;
        uint64_t stale = 0x7ff0000000000002ull;

        memcpy(&d, &stale, sizeof(d));
        return d;
    }
    case 2:
        return rnd() % 2 ? INFINITY : -INFINITY;
    default:
        return (double)(rnd() % 100000) * 4096;
    }
}

/* The model's verdict on one append, applied to the model. */
enum verdict { V_APPENDED, V_DUPLICATE, V_TOO_OLD, V_CONFLICT };

static enum verdict model_append(int id, int64_t t, double v, int64_t min_valid, int64_t maxt,
                                 int64_t window)
{
    struct mseries *m = &model[id];
    size_t lo = 0, hi = m->n;

    if (t < min_valid || (maxt != INT64_MIN && t < maxt - window))
        return V_TOO_OLD;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (m->t[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < m->n && m->t[lo] == t)
        return m->v[lo] == bits(v) ? V_DUPLICATE : V_CONFLICT;
    assert_true(m->n < MAXPTS);
    memmove(m->t + lo + 1, m->t + lo, (m->n - lo) * sizeof(int64_t));
    memmove(m->v + lo + 1, m->v + lo, (m->n - lo) * sizeof(uint64_t));
    m->t[lo] = t;
    m->v[lo] = bits(v);
    m->n++;
    return V_APPENDED;
}

static struct km_tsdb *open_db(void)
{
    struct km_tsdb_opts o;
    struct km_tsdb *db;

    km_tsdb_opts_default(&o);
    o.dir = dir;
    o.no_background = true;
    o.block_range_ms = 10000;
    o.ooo_window_ms = 5000;
    o.wal_lanes = 3;
    o.wal_segment_bytes = 16384; /* many segments */
    if (km_tsdb_open(&db, &o) != 0)
        fail_msg("open: %s", km_err_msg());
    return db;
}

/* Compare the model with a query of [mint, maxt] for random matchers. */
static void check_query(struct km_tsdb *db, int64_t mint, int64_t maxt)
{
    struct km_matcher *m[3];
    size_t nm = 0;
    bool want[NSERIES];
    struct km_tsdb_query *q;
    struct km_tsdb_series_set *ss;
    int seen = 0, expected = 0;

    /* Random matchers: a metric regex, maybe a job (=, !=), maybe an instance (=~, !~). */
    {
        char re[64];
        int a = (int)(rnd() % NMETRICS), b = (int)(rnd() % NMETRICS);

        snprintf(re, sizeof(re), "%s|%s", metric_names[a], metric_names[b]);
        assert_int_equal(km_matcher_create(&m[nm++], KM_MATCH_RE, "__name__", re), 0);
    }
    if (rnd() % 2)
        assert_int_equal(km_matcher_create(&m[nm++], rnd() % 2 ? KM_MATCH_EQ : KM_MATCH_NEQ, "job",
                                           job_names[rnd() % NJOBS]),
                         0);
    if (rnd() % 2)
        assert_int_equal(km_matcher_create(&m[nm++], rnd() % 2 ? KM_MATCH_RE : KM_MATCH_NRE,
                                           "instance", "[a-d]"),
                         0);
    for (int id = 0; id < NSERIES; id++) {
        struct km_label l[3];
        bool ok = true;
        size_t k;

        labels_of(id, l);
        for (size_t i = 0; i < nm && ok; i++) {
            const char *name = km_matcher_name(m[i]);
            const char *val = "";

            for (k = 0; k < 3; k++) {
                if (strcmp(l[k].name, name) == 0)
                    val = l[k].value;
            }
            ok = km_matcher_matches(m[i], val);
        }
        /* Only series with samples in range come back. */
        want[id] = false;
        if (ok) {
            for (k = 0; k < model[id].n; k++) {
                if (model[id].t[k] >= mint && model[id].t[k] <= maxt) {
                    want[id] = true;
                    break;
                }
            }
        }
        expected += want[id];
    }
    assert_int_equal(km_tsdb_query_open(db, mint, maxt, &q), 0);
    assert_int_equal(km_tsdb_select(q, m, nm, &ss), 0);
    while (km_tsdb_series_next(ss)) {
        const struct km_labels *l = km_tsdb_series_labels(ss);
        const char *mn = km_labels_get(l, "__name__"), *jn = km_labels_get(l, "job"),
                   *in = km_labels_get(l, "instance");
        int mi = -1, ji = -1, ii = -1, id;
        size_t k = 0;
        int64_t t;
        double v;

        for (int i = 0; i < NMETRICS; i++)
            mi = strcmp(mn, metric_names[i]) == 0 ? i : mi;
        for (int i = 0; i < NJOBS; i++)
            ji = strcmp(jn, job_names[i]) == 0 ? i : ji;
        for (int i = 0; i < NINST; i++)
            ii = strcmp(in, inst_names[i]) == 0 ? i : ii;
        assert_true(mi >= 0 && ji >= 0 && ii >= 0);
        id = (mi * NJOBS + ji) * NINST + ii;
        if (!want[id])
            fail_msg("series %s/%s/%s returned but not expected", mn, jn, in);
        seen++;
        while (k < model[id].n && model[id].t[k] < mint)
            k++;
        while (km_tsdb_series_sample(ss, &t, &v)) {
            if (k >= model[id].n || model[id].t[k] > maxt)
                fail_msg("series %d: extra sample at %lld", id, (long long)t);
            if (model[id].t[k] != t || model[id].v[k] != bits(v))
                fail_msg("series %d: sample %zu is (%lld, %llx), model has (%lld, %llx)", id, k,
                         (long long)t, (unsigned long long)bits(v), (long long)model[id].t[k],
                         (unsigned long long)model[id].v[k]);
            k++;
        }
        if (k < model[id].n && model[id].t[k] <= maxt)
            fail_msg("series %d: sample at %lld missing", id, (long long)model[id].t[k]);
    }
    assert_int_equal(km_tsdb_series_error(ss), 0);
    assert_int_equal(seen, expected);
    km_tsdb_series_set_destroy(ss);
    km_tsdb_query_close(q);
    for (size_t i = 0; i < nm; i++)
        km_matcher_destroy(m[i]);
}

static void run_sequential(uint64_t seed, int rounds)
{
    struct km_tsdb *db = open_db();
    int64_t now = 1000000;

    rng = seed;
    memset(model, 0, sizeof(model));
    for (int round = 0; round < rounds; round++) {
        struct km_tsdb_sample s[64];
        struct km_label l[64][3];
        enum verdict want[64];
        struct km_tsdb_append_result r = { 0 }, expect = { 0 };
        struct km_tsdb_stats st;
        int n = 1 + (int)(rnd() % 64);

        km_tsdb_stats(db, &st);
        for (int i = 0; i < n; i++) {
            int id = (int)(rnd() % NSERIES);
            int64_t t;

            switch (rnd() % 8) {
            case 0: /* out of order, inside or beyond the window */
                t = now - (int64_t)(rnd() % 9000);
                break;
            case 1: /* an exact repeat of a stored sample, or a conflicting one */
                if (model[id].n) {
                    size_t k = rnd() % model[id].n;

                    t = model[id].t[k];
                    labels_of(id, l[i]);
                    s[i] = (struct km_tsdb_sample){ l[i], 3, t, 0 };
                    memcpy(&s[i].v, &model[id].v[k], sizeof(double));
                    if (rnd() % 3 == 0)
                        s[i].v = -1.5;
                    goto decided;
                }
                t = now;
                break;
            default:
                now += (int64_t)(rnd() % 700);
                t = now;
            }
            labels_of(id, l[i]);
            s[i] = (struct km_tsdb_sample){ l[i], 3, t, random_value() };
        decided:
            /* The model needs the head's bounds as the db will see them. */
            want[i] = model_append(id, s[i].t, s[i].v, st.min_valid_time, st.head_maxt, 5000);
            if (want[i] == V_APPENDED && s[i].t > st.head_maxt)
                st.head_maxt = s[i].t;
        }
        {
            enum km_tsdb_sample_status got[64];
            static const enum km_tsdb_sample_status of[] = { KM_TSDB_APPENDED, KM_TSDB_DUPLICATE,
                                                             KM_TSDB_TOO_OLD, KM_TSDB_CONFLICTING };

            assert_int_equal(km_tsdb_append(db, s, (size_t)n, got, &r), 0);
            for (int i = 0; i < n; i++) {
                if (got[i] != of[want[i]])
                    fail_msg("round %d sample %d of %d (t=%lld): model says %d, db %d", round, i, n,
                             (long long)s[i].t, of[want[i]], got[i]);
            }
        }
        for (int i = 0; i < n; i++) {
            expect.appended += want[i] == V_APPENDED;
            expect.duplicate += want[i] == V_DUPLICATE;
            expect.too_old += want[i] == V_TOO_OLD;
            expect.conflicting += want[i] == V_CONFLICT;
        }
        assert_int_equal(r.appended, expect.appended);
        assert_int_equal(r.duplicate, expect.duplicate);
        assert_int_equal(r.too_old, expect.too_old);
        assert_int_equal(r.conflicting, expect.conflicting);
        switch (rnd() % 10) {
        case 0:
            assert_int_equal(km_tsdb_maintain(db), 0); /* cuts, compactions */
            break;
        case 1:
            km_tsdb_close(db); /* replay */
            db = open_db();
            break;
        case 2:
            check_query(db, now - (int64_t)(rnd() % 60000), now);
            break;
        default:
            break;
        }
    }
    check_query(db, INT64_MIN, INT64_MAX);
    km_tsdb_close(db);
    db = open_db();
    for (int i = 0; i < 20; i++)
        check_query(db, INT64_MIN + (int64_t)(rnd() % 2) * (now - 30000), INT64_MAX);
    km_tsdb_close(db);
}

static int setup(void **state)
{
    char cmd[300];

    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/kmon-test-model-%d", (int)getpid());
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    return setup(state);
}

static void test_sequential_seed1(void **state)
{
    (void)state;
    run_sequential(0x1234567887654321ull, 300);
}

static void test_sequential_seed2(void **state)
{
    (void)state;
    run_sequential(0xdeadbeefcafef00dull, 300);
}

static void test_sequential_long(void **state)
{
    (void)state;
    run_sequential(0x0123456789abcdefull, 700);
}

/* ---- concurrent writers -------------------------------------------------------------- */

struct writer {
    struct km_tsdb *db;
    int first, count; /* the series this writer owns */
    uint64_t seed;
};

static void *write_series(void *arg)
{
    struct writer *w = arg;
    uint64_t x = w->seed;

    /* In-order samples (within the window from any other writer's), so every verdict is
     * known in advance whatever the interleaving. */
    for (int step = 0; step < 400; step++) {
        struct km_tsdb_sample s[NSERIES];
        struct km_label l[NSERIES][3];
        struct km_tsdb_append_result r;
        int n = 0;

        for (int id = w->first; id < w->first + w->count; id++) {
            double v;

            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v = (double)(x % 1000);
            labels_of(id, l[n]);
            s[n] = (struct km_tsdb_sample){ l[n], 3, 5000000 + step * 10LL, v };
            model[id].t[model[id].n] = s[n].t;
            model[id].v[model[id].n++] = bits(v);
            n++;
        }
        if (km_tsdb_append(w->db, s, (size_t)n, NULL, &r) != 0 || r.appended != (uint64_t)n)
            fail_msg("concurrent append: %llu of %d", (unsigned long long)r.appended, n);
    }
    return NULL;
}

static void test_concurrent_writers(void **state)
{
    struct km_tsdb *db = open_db();
    pthread_t th[4];
    struct writer w[4];

    (void)state;
    memset(model, 0, sizeof(model));
    rng = 99;
    for (int i = 0; i < 4; i++) {
        w[i] = (struct writer){ db, i * (NSERIES / 4), NSERIES / 4, 1000 + (uint64_t)i };
        pthread_create(&th[i], NULL, write_series, &w[i]);
    }
    /* Queries run while the writers write. */
    for (int i = 0; i < 20; i++) {
        struct km_tsdb_query *q;
        struct km_tsdb_series_set *ss;

        assert_int_equal(km_tsdb_query_open(db, INT64_MIN, INT64_MAX, &q), 0);
        assert_int_equal(km_tsdb_select(q, NULL, 0, &ss), 0);
        while (km_tsdb_series_next(ss))
            ;
        assert_int_equal(km_tsdb_series_error(ss), 0);
        km_tsdb_series_set_destroy(ss);
        km_tsdb_query_close(q);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 10; i++)
        check_query(db, INT64_MIN, INT64_MAX);
    km_tsdb_close(db);
    db = open_db();
    check_query(db, INT64_MIN, INT64_MAX);
    km_tsdb_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sequential_seed1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sequential_seed2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sequential_long, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
