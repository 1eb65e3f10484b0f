/*
 * Model-based test of the database: random appends (duplicates, conflicting values,
 * out-of-order samples inside and beyond their series' window, lagging series behind
 * cuts, timestamps in the near and far future, in the distant past, negative, INT64_MIN
 * and INT64_MAX, seconds for milliseconds, stale markers, infinities) from one and from
 * several threads, random block cuts, compactions, retention passes and reopenings (WAL
 * replay), and random queries with every matcher type — every answer compared with a
 * naive in-memory model of what must be stored: nothing acknowledged inside the
 * retention is lost, nothing refused is stored. Seeds are fixed, so a failure
 * reproduces.
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

/* The database's settings in this test, and its clock (the newest time a sender has
 * reached: the database's "now"). */
#define RANGE     10000
#define WINDOW    5000
#define RETENTION 200000
#define FUTURE    3000

static int64_t clock_now;

static int64_t test_clock(void)
{
    return clock_now;
}

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

/* What the model allows the database to answer for one sample: a set of statuses (bit
 * 1 << status). Exact where the contract is exact (the clock's window; a new sample
 * within its series' window is stored). Where the answer depends on what the head still
 * holds, more than one is allowed: a series whose samples were all cut into blocks
 * takes older samples again; a sample held only by a block is not seen as a duplicate
 * (taken again as a late sample: a no-op, the stored value wins), and the head may hold
 * such a late value beside the block's; beyond its series' window a stored sample is a
 * duplicate if the head still has it, else too old. */
#define ALLOW(st) (1u << (st))

static size_t model_find(const struct mseries *m, int64_t t)
{
    size_t lo = 0, hi = m->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (m->t[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static unsigned model_verdict(int id, int64_t t, double v, int64_t min_valid, bool *stores)
{
    const struct mseries *m = &model[id];
    size_t k = model_find(m, t);
    bool old = m->n && t < m->t[m->n - 1] - WINDOW;
    unsigned allow;

    *stores = false;
    if (t > clock_now + FUTURE)
        return ALLOW(KM_SAMPLE_TOO_NEW);
    if (t < clock_now - RETENTION)
        return ALLOW(KM_SAMPLE_OUT_OF_RETENTION);
    if (k < m->n && m->t[k] == t) {
        allow = ALLOW(m->v[k] == bits(v) ? KM_SAMPLE_DUPLICATE : KM_SAMPLE_CONFLICTING);
        /* Behind a cut the head may also hold a late value that conflicted with the
         * block's (the block's stays, in queries and compaction). */
        if (t < min_valid)
            allow |= ALLOW(KM_SAMPLE_APPENDED) | ALLOW(KM_SAMPLE_DUPLICATE) |
                     ALLOW(KM_SAMPLE_CONFLICTING);
        if (old)
            allow |= ALLOW(KM_SAMPLE_TOO_OLD);
        return allow;
    }
    *stores = true;
    return ALLOW(KM_SAMPLE_APPENDED) | (old ? ALLOW(KM_SAMPLE_TOO_OLD) : 0);
}

static void model_store(int id, int64_t t, double v)
{
    struct mseries *m = &model[id];
    size_t lo = model_find(m, t);

    assert_true(m->n < MAXPTS);
    memmove(m->t + lo + 1, m->t + lo, (m->n - lo) * sizeof(int64_t));
    memmove(m->v + lo + 1, m->v + lo, (m->n - lo) * sizeof(uint64_t));
    m->t[lo] = t;
    m->v[lo] = bits(v);
    m->n++;
}

static struct km_tsdb *open_db(void)
{
    struct km_tsdb_opts o;
    struct km_tsdb *db;

    km_tsdb_opts_default(&o);
    o.dir = dir;
    o.no_background = true;
    o.clock_ms = test_clock;
    o.block_range_ms = RANGE;
    o.ooo_window_ms = WINDOW;
    o.retention_ms = RETENTION;
    o.max_future_ms = FUTURE;
    o.wal_lanes = 3;
    o.wal_segment_bytes = 16384; /* many segments */
    if (km_tsdb_open(&db, &o) != 0)
        fail_msg("open: %s", km_err_msg());
    return db;
}

/* Compare the model with a query of [mint, maxt] for random matchers. Samples older
 * than the retention may be gone with their block: only newer ones are compared. */
static void check_query(struct km_tsdb *db, int64_t mint, int64_t maxt)
{
    struct km_matcher *m[3];
    size_t nm = 0;
    bool want[NSERIES];
    struct km_tsdb_query *q;
    struct km_tsdb_series_set *ss;
    int seen = 0, expected = 0;

    if (mint < clock_now - RETENTION)
        mint = clock_now - RETENTION;

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

/* A timestamp of every kind a careless or hostile sender produces. */
static int64_t random_time(int id, int64_t *now)
{
    switch (rnd() % 16) {
    case 0: /* out of order, inside or beyond the series' window */
        return *now - (int64_t)(rnd() % 9000);
    case 1: /* a lagging sender: anywhere within the retention (behind cuts) */
        return *now - (int64_t)(rnd() % RETENTION);
    case 2: /* just inside or just beyond the future bound */
        return *now + FUTURE - 2 + (int64_t)(rnd() % 4);
    case 3: /* far future: a wrong clock, microseconds for milliseconds, INT64_MAX */
        switch (rnd() % 3) {
        case 0:
            return *now + 86400000LL * (1 + (int64_t)(rnd() % 30000));
        case 1:
            return *now * 1000;
        default:
            return INT64_MAX - (int64_t)(rnd() % 2);
        }
    case 4: /* the distant past: seconds for milliseconds, 0, negative, INT64_MIN */
        switch (rnd() % 4) {
        case 0:
            return *now / 1000;
        case 1:
            return 0;
        case 2:
            return -(int64_t)(rnd() % 100000000);
        default:
            return INT64_MIN + (int64_t)(rnd() % 2);
        }
    case 5: /* around the retention boundary */
        return *now - RETENTION - 2 + (int64_t)(rnd() % 4);
    default:
        (void)id;
        *now += (int64_t)(rnd() % 700);
        clock_now = *now;
        return *now;
    }
}

static void run_sequential(uint64_t seed, int rounds, bool coverage)
{
    struct km_tsdb *db;
    int64_t now = 1000000000;
    uint64_t seen[8] = { 0 };
    struct km_tsdb_stats end;

    clock_now = now;
    db = open_db();
    rng = seed;
    memset(model, 0, sizeof(model));
    for (int round = 0; round < rounds; round++) {
        struct km_sample s[64];
        struct km_label l[64][3];
        int ids[64];
        struct km_append_result r = { 0 };
        struct km_tsdb_stats st;
        enum km_sample_status got[64];
        int n = 1 + (int)(rnd() % 64);

        for (int i = 0; i < n; i++) {
            int id = (int)(rnd() % NSERIES);

            ids[i] = id;
            labels_of(id, l[i]);
            if (rnd() % 8 == 0 && model[id].n) {
                /* an exact repeat of a stored sample, or a conflicting one */
                size_t k = rnd() % model[id].n;

                s[i] = (struct km_sample){ l[i], 3, model[id].t[k], 0 };
                memcpy(&s[i].v, &model[id].v[k], sizeof(double));
                if (rnd() % 3 == 0)
                    s[i].v = -1.5;
            } else {
                s[i] = (struct km_sample){ l[i], 3, random_time(id, &now), random_value() };
            }
        }
        km_tsdb_stats(db, &st);
        assert_int_equal(km_tsdb_append(db, s, (size_t)n, got, &r), 0);
        for (int i = 0; i < n; i++) {
            /* Judged in order: earlier samples of the batch are in the model already. */
            bool stores;
            unsigned allow = model_verdict(ids[i], s[i].t, s[i].v, st.min_valid_time, &stores);

            if (!(allow & ALLOW(got[i])))
                fail_msg("round %d sample %d of %d (series %d, t=%lld, clock %lld): model "
                         "allows %#x, db says %d",
                         round, i, n, ids[i], (long long)s[i].t, (long long)clock_now, allow,
                         got[i]);
            if (got[i] == KM_SAMPLE_APPENDED && stores)
                model_store(ids[i], s[i].t, s[i].v);
            seen[got[i]]++;
        }
        {
            uint64_t counted[8] = { 0 };

            for (int i = 0; i < n; i++)
                counted[got[i]]++;
            assert_int_equal(r.appended, counted[KM_SAMPLE_APPENDED]);
            assert_int_equal(r.duplicate, counted[KM_SAMPLE_DUPLICATE]);
            assert_int_equal(r.too_old, counted[KM_SAMPLE_TOO_OLD]);
            assert_int_equal(r.too_new, counted[KM_SAMPLE_TOO_NEW]);
            assert_int_equal(r.out_of_retention, counted[KM_SAMPLE_OUT_OF_RETENTION]);
            assert_int_equal(r.conflicting, counted[KM_SAMPLE_CONFLICTING]);
        }
        /* Nothing refused may move a time bound: the head never reaches past the clock's
         * window. */
        km_tsdb_stats(db, &st);
        assert_true(st.head_maxt == INT64_MIN || st.head_maxt <= clock_now + FUTURE);
        switch (rnd() % 10) {
        case 0:
            assert_int_equal(km_tsdb_maintain(db), 0); /* cuts, compactions, retention */
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
    /* Late samples were written into blocks of their own and merged: everything is
     * still there after it all reaches blocks. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(km_tsdb_maintain(db), 0);
    assert_int_equal(km_tsdb_flush(db), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(km_tsdb_maintain(db), 0);
    check_query(db, INT64_MIN, INT64_MAX);
    km_tsdb_stats(db, &end);
    km_tsdb_close(db);
    db = open_db();
    for (int i = 0; i < 20; i++)
        check_query(db, INT64_MIN + (int64_t)(rnd() % 2) * (now - 30000), INT64_MAX);
    km_tsdb_close(db);
    /* Every kind of answer came up, and compaction and retention ran. */
    if (!coverage)
        return;
    for (int st = KM_SAMPLE_APPENDED; st <= KM_SAMPLE_OUT_OF_RETENTION; st++) {
        if (st != KM_SAMPLE_INVALID && st != KM_SAMPLE_STALE_REF && !seen[st])
            fail_msg("no sample was answered %d in this run", st);
    }
    assert_true(end.compactions > 0 && end.retention_deletions > 0);
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

/* KMON_MODEL_SEEDS=N runs seeds KMON_MODEL_FIRST (0) to N - 1 more (exploration, not in
 * ctest). */
static void test_more_seeds(void **state)
{
    const char *n = getenv("KMON_MODEL_SEEDS"), *first = getenv("KMON_MODEL_FIRST");

    (void)state;
    for (int i = first ? atoi(first) : 0; n && i < atoi(n); i++) {
        fprintf(stderr, "seed %d\n", i);
        run_sequential(0x9e3779b97f4a7c15ull * (uint64_t)(i + 1), 300, false);
        setup(NULL);
    }
}

static void test_sequential_seed1(void **state)
{
    (void)state;
    run_sequential(0x1234567887654321ull, 300, true);
}

static void test_sequential_seed2(void **state)
{
    (void)state;
    run_sequential(0xdeadbeefcafef00dull, 300, true);
}

static void test_sequential_long(void **state)
{
    (void)state;
    run_sequential(0x0123456789abcdefull, 700, true);
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
        struct km_sample s[NSERIES];
        struct km_label l[NSERIES][3];
        struct km_append_result r;
        int n = 0;

        for (int id = w->first; id < w->first + w->count; id++) {
            double v;

            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v = (double)(x % 1000);
            labels_of(id, l[n]);
            s[n] = (struct km_sample){ l[n], 3, 5000000 + step * 10LL, v };
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
    clock_now = 5000000 + 4000;
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
        cmocka_unit_test_setup_teardown(test_more_seeds, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
