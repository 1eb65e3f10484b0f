/*
 * Unit tests: the storage interface over the embedded TSDB, as the server uses it —
 * appends with labels and by reference with every outcome, the clock's window, a
 * querier's series in label order with their samples in batches, a labels-only
 * selection, label names and values, what the store says about itself, and flush;
 * metric metadata through the optional ops, kept across a restart, a corrupt metadata
 * file costing only the metadata, and a store without the ops keeping none.
 */
#include "common/err.h"
#include "storage/storage.h"
#include "tsdb/tsdb_storage.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOW 1800000000000ll /* the store's clock */

static char dir[256];

static int64_t test_clock(void)
{
    return NOW;
}

static int setup(void **state)
{
    char cmd[300];

    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/kmon-test-storage-%d", (int)getpid());
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    return setup(state);
}

static struct km_storage *open_store(void)
{
    struct km_tsdb_opts o;
    struct km_storage *s;

    km_tsdb_opts_default(&o);
    o.dir = dir;
    o.no_background = true;
    o.clock_ms = test_clock;
    if (km_tsdb_storage_open(&s, &o) != 0)
        fail_msg("open: %s", km_err_msg());
    return s;
}

struct strs {
    char v[16][32];
    int n;
};

static int collect(void *ud, const char *s)
{
    struct strs *x = ud;

    if (x->n < 16)
        snprintf(x->v[x->n++], sizeof(x->v[0]), "%s", s);
    return 0;
}

static void test_append_and_read_back(void **state)
{
    struct km_storage *s = open_store();
    struct km_label a[2] = { { "__name__", "up" }, { "job", "a" } };
    struct km_label b[2] = { { "__name__", "up" }, { "job", "b" } };
    struct km_sample smp[4] = {
        { a, 2, NOW - 2000, 1 },
        { b, 2, NOW - 2000, 2 },
        { a, 2, NOW + 3600000, 9 },         /* beyond the future bound */
        { b, 2, NOW - 30LL * 86400000, 9 }, /* beyond the retention */
    };
    enum km_sample_status st[4];
    struct km_append_result r;
    struct km_ref_sample rs[3];
    struct km_storage_info info;
    uint64_t ref;
    bool created;
    int64_t lo, hi;

    (void)state;
    km_storage_time_window(s, &lo, &hi);
    assert_true(lo == NOW - 15LL * 86400000 && hi == NOW + 600000);
    assert_int_equal(km_storage_append(s, smp, 4, st, &r), 0);
    assert_int_equal(r.appended, 2);
    assert_int_equal(st[2], KM_SAMPLE_TOO_NEW);
    assert_int_equal(st[3], KM_SAMPLE_OUT_OF_RETENTION);
    assert_int_equal(km_storage_series_ref(s, a, 2, &ref, &created), 0);
    assert_false(created);
    rs[0] = (struct km_ref_sample){ ref, NOW - 1000, 3 };
    rs[1] = (struct km_ref_sample){ ref, NOW - 1000, 3 };  /* duplicate */
    rs[2] = (struct km_ref_sample){ ref, NOW - 2000, 42 }; /* conflicting */
    assert_int_equal(km_storage_append_refs(s, rs, 3, st, &r), 0);
    assert_true(r.appended == 1 && r.duplicate == 1 && r.conflicting == 1);
    km_storage_info(s, &info);
    assert_int_equal(info.series, 2);
    assert_int_equal(info.samples_appended, 3);
    assert_int_equal(info.newest_ms, NOW - 1000);
    assert_int_equal(info.max_future_ms, 600000);

    /* Read back through a querier: label order, samples in batches. */
    for (int labels_only = 0; labels_only < 2; labels_only++) {
        struct km_select_hints h = { .labels_only = labels_only };
        struct km_querier *q;
        struct km_series_set *set;
        struct km_matcher *m;
        struct km_sample_batch bt;
        int nseries = 0;
        size_t nsamples = 0;

        assert_int_equal(km_querier_open(s, NOW - 3600000, NOW, &q), 0);
        assert_int_equal(km_matcher_create(&m, KM_MATCH_EQ, "__name__", "up"), 0);
        assert_int_equal(km_querier_select(q, &m, 1, &h, &set), 0);
        while (km_series_next(set)) {
            const char *job = km_labels_get(km_series_labels(set), "job");

            assert_string_equal(job, nseries == 0 ? "a" : "b");
            nseries++;
            while (km_series_batch(set, &bt)) {
                for (size_t i = 1; i < bt.n; i++)
                    assert_true(bt.t[i] > bt.t[i - 1]);
                nsamples += bt.n;
            }
        }
        assert_int_equal(km_series_error(set), 0);
        assert_int_equal(nseries, 2);
        assert_int_equal(nsamples, labels_only ? 0 : 3);
        km_series_set_close(set);
        km_matcher_destroy(m);
        {
            struct strs names = { .n = 0 }, values = { .n = 0 };

            assert_int_equal(km_querier_label_names(q, NULL, 0, collect, &names), 0);
            assert_int_equal(names.n, 2);
            assert_string_equal(names.v[0], "__name__");
            assert_string_equal(names.v[1], "job");
            assert_int_equal(km_querier_label_values(q, "job", NULL, 0, collect, &values), 0);
            assert_int_equal(values.n, 2);
            assert_string_equal(values.v[1], "b");
        }
        km_querier_close(q);
    }
    /* Cardinality: "up" has two series, job two values. */
    {
        struct km_storage_cardinality card;

        assert_int_equal(km_storage_cardinality(s, 10, &card), 0);
        assert_int_equal(card.series, 2);
        assert_int_equal(card.label_pairs, 3);
        assert_int_equal(card.n_by_metric, 1);
        assert_string_equal(card.by_metric[0].name, "up");
        assert_int_equal(card.by_metric[0].count, 2);
        assert_int_equal(card.n_values_by_label, 2);
        assert_string_equal(card.values_by_label[0].name, "job");
        assert_int_equal(card.values_by_label[0].count, 2);
        assert_int_equal(card.n_by_pair, 3);
        assert_string_equal(card.by_pair[0].name, "__name__=up");
        assert_int_equal(card.mint, NOW - 2000);
        km_storage_cardinality_fini(&card);
    }
    /* Flush makes a block; the data reads the same. */
    assert_int_equal(km_storage_flush(s), 0);
    km_storage_info(s, &info);
    assert_int_equal(info.blocks, 1);
    km_storage_close(s);
}

static int note_md(void *ud, const struct km_metadata *md)
{
    char *out = ud;
    size_t len = strlen(out);

    snprintf(out + len, 512 - len, "%s|%s|%s|%s\n", md->name, km_metric_type_name(md->type),
             md->help, md->unit);
    return 0;
}

static const char *md_list(struct km_storage *s, const char *metric)
{
    static char out[512];

    out[0] = '\0';
    assert_int_equal(km_storage_metadata_list(s, metric, note_md, out), 0);
    return out;
}

static void test_metadata(void **state)
{
    static const struct km_metadata md[] = {
        { "up", KM_METRIC_GAUGE, "1 when the target answered.", "" },
        { "http_requests_total", KM_METRIC_COUNTER, "Requests.", "" },
        { "http_requests_total", KM_METRIC_COUNTER, "Requests.", "" },
    };
    const char *want = "http_requests_total|counter|Requests.|\nup|gauge|1 when the target "
                       "answered.|\n";
    struct km_storage *s = open_store();
    char path[300];
    FILE *f;

    (void)state;
    assert_true(km_storage_keeps_metadata(s));
    assert_int_equal(km_storage_metadata_put(s, md, 3), 0);
    assert_string_equal(md_list(s, NULL), want);
    assert_string_equal(md_list(s, "up"), "up|gauge|1 when the target answered.|\n");
    /* Closed and opened again, the store has it still. */
    km_storage_close(s);
    s = open_store();
    assert_string_equal(md_list(s, NULL), want);
    /* Flush writes it too (a change since the close). */
    assert_int_equal(km_storage_metadata_put(s, md, 1), 0);
    assert_int_equal(km_storage_flush(s), 0);
    km_storage_close(s);
    /* A corrupt file costs the metadata only. */
    snprintf(path, sizeof(path), "%s/metadata", dir);
    f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, 20, SEEK_SET), 0);
    assert_int_equal(fputc('#', f), '#');
    assert_int_equal(fclose(f), 0);
    s = open_store();
    assert_string_equal(md_list(s, NULL), "");
    assert_int_equal(km_storage_metadata_put(s, md, 1), 0);
    assert_string_equal(md_list(s, NULL), "up|gauge|1 when the target answered.|\n");
    km_storage_close(s);
}

/* A store whose ops table has no metadata (a V1 store): put keeps nothing, list finds
 * nothing, neither fails. */
static void test_metadata_not_kept(void **state)
{
    struct km_storage_ops ops;
    struct km_storage *s = open_store(), v1;
    struct km_metadata md = { "up", KM_METRIC_GAUGE, "", "" };

    (void)state;
    ops = *s->ops;
    ops.version = KM_STORAGE_OPS_V1;
    v1 = (struct km_storage){ &ops, s->ctx };
    assert_false(km_storage_keeps_metadata(&v1));
    assert_int_equal(km_storage_metadata_put(&v1, &md, 1), 0);
    assert_string_equal(md_list(&v1, NULL), "");
    ops.version = KM_STORAGE_OPS_V2;
    ops.metadata_put = NULL;
    ops.metadata_list = NULL;
    assert_false(km_storage_keeps_metadata(&v1));
    assert_string_equal(md_list(&v1, NULL), "");
    assert_string_equal(md_list(s, NULL), "");
    km_storage_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_and_read_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metadata, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metadata_not_kept, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
