/*
 * Unit tests: the REST API's arithmetic over one series (server/view.c) — newest reading
 * and rate, step evaluation of counters (exact split of increases whatever the alignment,
 * resets, gaps left unknown, steps shorter than the sample spacing) and gauges (nothing
 * carried past a series' last step) — and the ReplicaSet naming rule that names a pod's
 * deployment when no workload labels say it (server/model.c).
 */
#include "server/model.h"
#include "server/view.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>

#define N 64

static void eval(const int64_t *t, const double *v, size_t n, bool counter, struct km_view_steps st,
                 double *out)
{
    double scratch[N];

    assert_true(n <= N && st.n <= N);
    km_view_eval_steps(t, v, n, counter, &st, scratch, out);
}

static void test_last(void **state)
{
    int64_t t[] = { 1000, 6000, 11000 };
    double v[] = { 10, 20, 5 }; /* a reset between the last two */
    struct km_view_last l;

    (void)state;
    km_view_last(t, v, 3, 12000, 5000, &l);
    assert_true(l.has && l.has_rate);
    assert_int_equal(l.t, 11000);
    assert_true(l.delta == 5 && l.interval == 5);
    km_view_last(t, v, 3, 9000, 5000, &l); /* at 9 s the newest is the one at 6 s */
    assert_true(l.has && l.value == 20 && l.delta == 10);
    km_view_last(t, v, 3, 17000, 5000, &l); /* stale */
    assert_false(l.has);
    km_view_last(t, v, 1, 2000, 5000, &l);
    assert_true(l.has && !l.has_rate);
}

/* Counter increments alternating 5 and 15 every 5 s: steps of 5 s aligned with the
 * samples give each interval's own rate, never an average of two. */
static void test_counter_aligned_steps(void **state)
{
    int64_t t[9];
    double v[9], out[9];

    (void)state;
    for (int i = 0; i < 9; i++) {
        t[i] = 100000 + i * 5000;
        v[i] = i == 0 ? 0 : v[i - 1] + (i % 2 ? 5 : 15);
    }
    eval(t, v, 9, true,
         (struct km_view_steps){ .start = 100000, .step = 5000, .range = 10000, .n = 9 }, out);
    assert_true(isnan(out[0])); /* the first sample alone */
    for (int k = 1; k < 9; k++)
        assert_true(out[k] == (k % 2 ? 1.0 : 3.0));
}

/* The counter's linear interpolation at x (t[0] <= x <= t[n-1]). */
static double interpolate(const int64_t *t, const double *v, size_t n, int64_t x)
{
    size_t i = 0;

    while (i + 2 < n && t[i + 1] < x)
        i++;
    return v[i] + (v[i + 1] - v[i]) * (double)(x - t[i]) / (double)(t[i + 1] - t[i]);
}

/* Samples off the grid: adjacent steps share each increase exactly, so the bytes of
 * all fully covered steps add up to the counter's increase over their span. */
static void test_counter_unaligned_sum(void **state)
{
    int64_t t[20], first = 0, last = 0;
    double v[20], out[N], sum = 0;
    struct km_view_steps st = { .start = 104000, .step = 3000, .range = 14000, .n = 45 };

    (void)state;
    for (int i = 0; i < 20; i++) {
        t[i] = 101300 + i * 7000 + (i % 3) * 450;
        v[i] = i == 0 ? 1000 : v[i - 1] + 10 * (i % 4) + 1;
    }
    eval(t, v, 20, true, st, out);
    for (size_t k = 0; k < st.n; k++) {
        int64_t T = st.start + (int64_t)k * st.step;

        if (T - st.step < t[0] || T > t[19])
            continue;
        assert_false(isnan(out[k]));
        sum += out[k] * 3;
        first = first ? first : T - st.step;
        last = T;
    }
    assert_true(last - first > 100000);
    assert_true(fabs(sum - (interpolate(t, v, 20, last) - interpolate(t, v, 20, first))) < 1e-6);
}

/* A reset, then a gap longer than the range: the reset costs nothing, the gap is
 * unknown rather than bridged. */
static void test_counter_reset_and_gap(void **state)
{
    int64_t t[] = { 0, 10000, 20000, 30000, 90000, 100000 };
    double v[] = { 100, 110, 5, 15, 75, 85 }, out[11];

    (void)state;
    eval(t, v, 6, true,
         (struct km_view_steps){ .start = 10000, .step = 10000, .range = 20000, .n = 11 }, out);
    assert_true(out[0] == 1.0); /* [0, 10 s] */
    assert_true(out[1] == 0.5); /* the counter restarted at 0: 5 in 10 s */
    assert_true(out[2] == 1.0);
    for (int k = 3; k < 9; k++) /* [30 s, 90 s] is a 60 s gap */
        assert_true(isnan(out[k]));
    assert_true(out[9] == 1.0);  /* [90 s, 100 s] */
    assert_true(isnan(out[10])); /* after the last sample */
}

/* Steps shorter than the sample spacing get the interval's rate, not gaps. */
static void test_counter_fine_steps(void **state)
{
    int64_t t[] = { 0, 15000, 30000 };
    double v[] = { 0, 30, 45 }, out[6];

    (void)state;
    eval(t, v, 3, true,
         (struct km_view_steps){ .start = 5000, .step = 5000, .range = 30000, .n = 6 }, out);
    for (int k = 0; k < 3; k++)
        assert_true(out[k] == 2.0);
    for (int k = 3; k < 6; k++)
        assert_true(out[k] == 1.0);
}

static void test_gauge_steps(void **state)
{
    int64_t t[] = { 0, 15000, 30000 };
    double v[] = { 7, 8, 9 }, out[8];

    (void)state;
    eval(t, v, 3, false, (struct km_view_steps){ .start = 0, .step = 5000, .range = 30000, .n = 8 },
         out);
    assert_true(out[0] == 7 && out[1] == 7 && out[2] == 7); /* bridged to the next sample */
    assert_true(out[3] == 8 && out[5] == 8);
    assert_true(out[6] == 9);
    assert_true(isnan(out[7])); /* a step after the last one: not carried */
}

static void test_deployment_from_pod(void **state)
{
    char d[64];

    (void)state;
    assert_true(km_model_deployment_from_pod("web-7d4f9c6b8d-x2x9k", d, sizeof(d)));
    assert_string_equal(d, "web");
    assert_true(km_model_deployment_from_pod("my-api-5f6d7c8b9-nprst", d, sizeof(d)));
    assert_string_equal(d, "my-api");
    /* A CronJob's pod: <cronjob>-<minutes since the epoch>-<suffix>. */
    assert_false(km_model_deployment_from_pod("backup-28861440-7qkzv", d, sizeof(d)));
    /* A StatefulSet's, a DaemonSet's, a bare pod, a suffix outside the alphabet. */
    assert_false(km_model_deployment_from_pod("db-0", d, sizeof(d)));
    assert_false(km_model_deployment_from_pod("fluentd-x2x9k", d, sizeof(d)));
    assert_false(km_model_deployment_from_pod("checkout", d, sizeof(d)));
    assert_false(km_model_deployment_from_pod("web-7d4f9c6b8d-x2x9a", d, sizeof(d)));
    assert_false(km_model_deployment_from_pod("-7d4f9c6b8d-x2x9k", d, sizeof(d)));
    assert_false(km_model_deployment_from_pod("web-7d4f-x2x9k", d, sizeof(d)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_last),
        cmocka_unit_test(test_counter_aligned_steps),
        cmocka_unit_test(test_counter_unaligned_sum),
        cmocka_unit_test(test_counter_reset_and_gap),
        cmocka_unit_test(test_counter_fine_steps),
        cmocka_unit_test(test_gauge_steps),
        cmocka_unit_test(test_deployment_from_pod),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
