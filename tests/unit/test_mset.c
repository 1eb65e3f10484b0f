/*
 * Unit tests: metric sets — grouping samples by family whatever the insertion order,
 * rendering to text and JSON, reuse without allocation, and sticky errors.
 */
#include "common/buf.h"
#include "common/jsonw.h"
#include "common/mset.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

static void fill(struct km_mset *m)
{
    int a = km_mset_family(m, "disk_reads_total", "Reads.", KM_MT_COUNTER, 0);
    int b = km_mset_family(m, "disk_busy", "Busy.", KM_MT_GAUGE, 0);
    int empty = km_mset_family(m, "never_used", "Skipped when empty.", KM_MT_GAUGE, 0);

    (void)empty;
    /* Devices outside, fields inside: samples of the two families interleave. */
    for (int d = 0; d < 2; d++) {
        struct km_label l = { "device", d ? "sdb" : "sda" };

        km_mset_add(m, a, &l, 1, 10 + d);
        km_mset_add(m, b, &l, 1, 0.5 + d);
    }
    km_mset_gauge(m, "up", NULL, 1);
    km_mset_add(m, -5, NULL, 0, 1); /* a failed declaration's index is ignored */
}

static void test_render_groups_families(void **state)
{
    struct km_mset m;
    struct km_buf b;

    (void)state;
    km_mset_init(&m);
    km_mset_reset(&m, 1000);
    fill(&m);
    km_buf_init(&b, 0);
    km_mset_render_prom(&m, &b);
    assert_string_equal(km_buf_cstr(&b), "# HELP disk_reads_total Reads.\n"
                                         "# TYPE disk_reads_total counter\n"
                                         "disk_reads_total{device=\"sda\"} 10\n"
                                         "disk_reads_total{device=\"sdb\"} 11\n"
                                         "# HELP disk_busy Busy.\n"
                                         "# TYPE disk_busy gauge\n"
                                         "disk_busy{device=\"sda\"} 0.5\n"
                                         "disk_busy{device=\"sdb\"} 1.5\n"
                                         "# TYPE up gauge\n"
                                         "up 1\n");
    km_buf_reset(&b);
    {
        struct km_jsonw w;

        km_jsonw_init(&w, &b);
        km_jsonw_arr_begin(&w);
        km_mset_render_json(&m, &w);
        km_jsonw_arr_end(&w);
    }
    assert_non_null(strstr(km_buf_cstr(&b), "{\"name\":\"disk_busy\",\"help\":\"Busy.\",\"type\":"
                                            "\"gauge\",\"samples\":[{\"labels\":{\"device\":"
                                            "\"sda\"},\"value\":0.5}"));
    assert_null(strstr(km_buf_cstr(&b), "never_used"));
    km_buf_fini(&b);
    km_mset_fini(&m);
}

static void test_find(void **state)
{
    struct km_mset m;
    struct km_label want = { "device", "sdb" };
    const struct km_msample *s;

    (void)state;
    km_mset_init(&m);
    km_mset_reset(&m, 1234);
    fill(&m);
    s = km_mset_find(&m, "disk_busy", &want, 1);
    assert_non_null(s);
    assert_true(s->value == 1.5);
    assert_int_equal(s->ts_ms, 1234);
    assert_null(km_mset_find(&m, "disk_busy", &(struct km_label){ "device", "sdz" }, 1));
    assert_non_null(km_mset_find(&m, "up", NULL, 0));
    km_mset_fini(&m);
}

static void test_reuse_keeps_memory(void **state)
{
    struct km_mset m;
    void *fam, *smp, *lab;
    size_t arena;

    (void)state;
    km_mset_init(&m);
    km_mset_reset(&m, 0);
    fill(&m);
    fam = m.fam;
    smp = m.smp;
    lab = m.lab;
    arena = m.strings.total;
    for (int i = 0; i < 100; i++) {
        km_mset_reset(&m, i);
        fill(&m);
    }
    assert_ptr_equal(m.fam, fam);
    assert_ptr_equal(m.smp, smp);
    assert_ptr_equal(m.lab, lab);
    assert_int_equal(m.strings.total, arena);
    assert_int_equal(m.nsmp, 5);
    km_mset_fini(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_groups_families),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_reuse_keeps_memory),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
