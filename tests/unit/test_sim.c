/*
 * test_sim — the cluster simulator's model and series: the same seed gives the same
 * cluster and values after any number of steps, another seed another; rollouts replace
 * a deployment's pods with new names and uids; a node that leaves has its pods made
 * again on other nodes and comes back renamed; crash-looping containers restart and
 * their counters start again; counters never decrease otherwise.
 */
#include "sim/model.h"
#include "sim/series.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define START 1700000000

static struct km_sim_opts opts(uint64_t seed)
{
    return (struct km_sim_opts){ .seed = seed,
                                 .nodes = 6,
                                 .pods_per_node = 10,
                                 .replicas = 5,
                                 .rollouts_per_hour = 2,
                                 .node_leaves_per_hour = 0.5,
                                 .crashloop_fraction = 0.2,
                                 .node_away_s = 600,
                                 .interval_s = 15 };
}

static void run_steps(struct km_sim_model *m, unsigned n)
{
    for (unsigned i = 1; i <= n; i++)
        km_sim_model_step(m, START + (int64_t)i * 15);
}

/* Every sample's value and labels of node i, as one hash. */
static uint64_t series_hash(const struct km_sim_model *m, unsigned i, size_t *n)
{
    struct km_mset s;
    uint64_t h = 1469598103934665603ull;

    km_mset_init(&s);
    km_mset_reset(&s, (m->now_s) * 1000);
    km_sim_node_series(&s, m, i, m->now_s * 1000);
    assert_int_equal(km_sim_state_series(&s, m, i, i == 0, "c"), 0);
    assert_int_equal(km_mset_error(&s), 0);
    for (size_t k = 0; k < s.nsmp; k++) {
        const struct km_label *l = km_mset_labels(&s, &s.smp[k]);
        uint64_t v;

        memcpy(&v, &s.smp[k].value, sizeof(v));
        h = km_sim_mix(h ^ v);
        for (uint32_t j = 0; j < s.smp[k].nlabels; j++)
            h = km_sim_mix(h ^ strlen(l[j].value) ^ ((uint64_t)(unsigned char)l[j].value[0] << 32));
    }
    *n = s.nsmp;
    km_mset_fini(&s);
    return h;
}

static void test_same_seed_same_cluster(void **state)
{
    struct km_sim_model a, b, c;
    struct km_sim_opts o = opts(42), o2 = opts(43);
    size_t na, nb;

    (void)state;
    assert_int_equal(km_sim_model_init(&a, &o, START), 0);
    assert_int_equal(km_sim_model_init(&b, &o, START), 0);
    assert_int_equal(km_sim_model_init(&c, &o2, START), 0);
    run_steps(&a, 200);
    run_steps(&b, 200);
    run_steps(&c, 200);
    assert_true(a.pods_created > 0);
    assert_int_equal(a.pods_created, b.pods_created);
    for (unsigned i = 0; i < a.npods; i++) {
        assert_string_equal(a.pod[i].name, b.pod[i].name);
        assert_string_equal(a.pod[i].uid, b.pod[i].uid);
    }
    for (unsigned i = 0; i < a.nnodes; i++) {
        assert_string_equal(a.node[i].name, b.node[i].name);
        assert_true(series_hash(&a, i, &na) == series_hash(&b, i, &nb));
        assert_int_equal(na, nb);
    }
    assert_string_not_equal(a.pod[0].name, c.pod[0].name);
    km_sim_model_fini(&a);
    km_sim_model_fini(&b);
    km_sim_model_fini(&c);
}

static void test_rollouts_make_new_pods(void **state)
{
    struct km_sim_opts o = opts(7);
    struct km_sim_model m;
    char(*names)[KM_SIM_NAME_MAX + 32];
    unsigned replaced = 0;

    (void)state;
    o.node_leaves_per_hour = 0;
    assert_int_equal(km_sim_model_init(&m, &o, START), 0);
    names = calloc(m.npods, sizeof(*names));
    assert_non_null(names);
    for (unsigned i = 0; i < m.npods; i++)
        memcpy(names[i], m.pod[i].name, sizeof(names[i]));
    run_steps(&m, 240); /* an hour: about two rollouts per deployment */
    assert_true(m.rollouts > 0);
    for (unsigned i = 0; i < m.npods; i++) {
        const struct km_sim_deploy *d = &m.deploy[m.pod[i].deploy];

        replaced += strcmp(names[i], m.pod[i].name) != 0;
        /* A pod is named after its deployment and the template it was made from. */
        assert_memory_equal(m.pod[i].name, d->name, strlen(d->name));
        assert_non_null(strstr(m.pod[i].name, m.pod[i].hash));
    }
    assert_true(replaced > m.npods / 2);
    /* The pods of every node are listed once. */
    assert_int_equal(m.node_first[m.nnodes], m.npods);
    free(names);
    km_sim_model_fini(&m);
}

static void test_node_leaves_and_joins(void **state)
{
    struct km_sim_opts o = opts(9);
    struct km_sim_model m;
    bool renamed = false;

    (void)state;
    o.node_leaves_per_hour = 3;
    o.rollouts_per_hour = 0;
    assert_int_equal(km_sim_model_init(&m, &o, START), 0);
    for (unsigned s = 1; s <= 480; s++) {
        km_sim_model_step(&m, START + (int64_t)s * 15);
        for (unsigned i = 0; i < m.nnodes; i++) {
            if (!m.node[i].present)
                assert_int_equal(m.node[i].npods, 0);
            renamed |= m.node[i].gen > 0;
        }
        for (unsigned p = 0; p < m.npods; p++)
            assert_true(m.node[m.pod[p].node].present);
    }
    assert_true(m.node_leaves > 0);
    assert_true(m.node_joins > 0);
    assert_true(renamed);
    assert_true(m.pods_created > 0); /* the leaving nodes' pods were made again */
    km_sim_model_fini(&m);
}

static void test_counters_and_restarts(void **state)
{
    struct km_sim_pod p = { .created_s = START, .crash_period_s = 120 };
    int64_t started;
    double prev = 0;

    (void)state;
    for (int64_t t = START; t < START + 3600; t += 15) {
        double v = km_sim_counter(12345, 2.5, START, (double)t);

        assert_true(v >= prev);
        prev = v;
    }
    /* About the rate on average over a long time. */
    assert_true(prev > 2.5 * 3600 * 0.7 && prev < 2.5 * 3600 * 1.3);
    assert_int_equal(km_sim_pod_restarts(&p, START + 119, &started), 0);
    assert_int_equal(started, START);
    assert_int_equal(km_sim_pod_restarts(&p, START + 250, &started), 2);
    assert_int_equal(started, START + 240);
    /* The restarted container's counters start again. */
    assert_true(km_sim_counter(1, 1, started, (double)START + 250) <
                km_sim_counter(1, 1, START, (double)START + 250));
    p.crash_period_s = 0;
    assert_int_equal(km_sim_pod_restarts(&p, START + 9999, &started), 0);
}

static void test_bad_sizes(void **state)
{
    struct km_sim_opts o = opts(1);
    struct km_sim_model m;

    (void)state;
    o.nodes = 0;
    assert_int_not_equal(km_sim_model_init(&m, &o, START), 0);
    o = opts(1);
    o.pods_per_node = 0;
    assert_int_not_equal(km_sim_model_init(&m, &o, START), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_same_cluster),
        cmocka_unit_test(test_rollouts_make_new_pods),
        cmocka_unit_test(test_node_leaves_and_joins),
        cmocka_unit_test(test_counters_and_restarts),
        cmocka_unit_test(test_bad_sizes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
