/*
 * test_rules_manager — the rule manager's evaluation as Prometheus' rule manager does it,
 * step by step over an embedded TSDB: recording rules written back with stale markers,
 * alerts pending → firing after `for` → resolved and kept for Alertmanager, keep_firing_for,
 * ALERTS / ALERTS_FOR_STATE after the restore point, the `for` state restored across a
 * restart with the downtime skipped, re-sending, a group's limit, and the duplicate
 * labelset error.
 */
#include "common/buf.h"
#include "common/err.h"
#include "common/jsonw.h"
#include "rules/manager.h"
#include "storage/storage.h"
#include "tsdb/tsdb_storage.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S   1000LL
#define MIN (60 * S)
#define T0  (1000 * MIN) /* the tests' time zero */

static char dir[200];
static char file[220];
static struct km_storage *store;
static int64_t now_ms;

struct sent {
    char alertname[64];
    int64_t starts, ends;
};
static struct sent sent[256];
static size_t nsent;
static size_t ntransitions;
static enum km_alert_state last_to;

static int64_t test_clock(void)
{
    return now_ms;
}

static int append(void *ud, const struct km_sample *s, size_t n)
{
    struct km_append_result res;

    (void)ud;
    return km_storage_append(store, s, n, NULL, &res);
}

static void notify(void *ud, const struct km_rules_alert *a, size_t n)
{
    (void)ud;
    for (size_t i = 0; i < n && nsent < 256; i++) {
        snprintf(sent[nsent].alertname, sizeof(sent[nsent].alertname), "%s",
                 km_labels_get(a[i].labels, "alertname"));
        sent[nsent].starts = a[i].starts_at_ms;
        sent[nsent].ends = a[i].ends_at_ms;
        nsent++;
    }
}

static void transition(void *ud, const struct km_rules_transition *t)
{
    (void)ud;
    ntransitions++;
    last_to = t->to;
}

static int setup(void **state)
{
    struct km_tsdb_opts o;
    char cmd[600];

    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/kmon-test-rules-manager-%d", (int)getpid());
    snprintf(file, sizeof(file), "%s.yaml", dir);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return -1;
    km_tsdb_opts_default(&o);
    o.dir = dir;
    o.no_background = true;
    o.clock_ms = test_clock;
    now_ms = T0;
    nsent = ntransitions = 0;
    return km_tsdb_storage_open(&store, &o) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[600];

    (void)state;
    km_storage_close(store);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", dir, file);
    return system(cmd) == 0 ? 0 : -1;
}

static void put(const char *name, const char *inst, int64_t t, double v)
{
    struct km_label l[] = { { "__name__", name }, { "instance", inst } };
    struct km_sample s = { l, 2, t, v };
    struct km_append_result res;

    if (t > now_ms)
        now_ms = t; /* the store refuses samples from the future */
    assert_int_equal(km_storage_append(store, &s, 1, NULL, &res), 0);
    assert_int_equal(res.appended, 1);
}

static struct km_rules *manager(const char *rules)
{
    struct km_rules_opts o;
    struct km_rules *m;
    struct km_buf errs;
    char *files[] = { file };
    FILE *f = fopen(file, "w");

    assert_non_null(f);
    fputs(rules, f);
    fclose(f);
    km_rules_opts_default(&o);
    o.store = store;
    o.append = append;
    o.notify = notify;
    o.transition = transition;
    assert_int_equal(km_rules_create(&m, &o), 0);
    km_buf_init(&errs, 0);
    if (km_rules_load_stopped(m, files, 1, &errs) != 0)
        fail_msg("%s", km_buf_cstr(&errs));
    km_buf_fini(&errs);
    return m;
}

/* The value of the single series `sel` selects at t (NAN: none). */
static double value_at(const char *name, const char *label, const char *value, int64_t t)
{
    struct km_matcher *m[2] = { NULL, NULL };
    struct km_querier *q;
    struct km_series_set *set;
    struct km_sample_batch b;
    double v = NAN;
    size_t nm = 1;

    assert_int_equal(km_matcher_create(&m[0], KM_MATCH_EQ, "__name__", name), 0);
    if (label) {
        assert_int_equal(km_matcher_create(&m[1], KM_MATCH_EQ, label, value), 0);
        nm = 2;
    }
    assert_int_equal(km_querier_open(store, t, t, &q), 0);
    assert_int_equal(km_querier_select(q, m, nm, NULL, &set), 0);
    while (km_series_next(set)) {
        while (km_series_batch(set, &b)) {
            for (size_t i = 0; i < b.n; i++)
                v = b.v[i];
        }
    }
    km_series_set_close(set);
    km_querier_close(q);
    km_matcher_destroy(m[0]);
    km_matcher_destroy(m[1]);
    return v;
}

static bool is_stale(double v)
{
    union {
        double d;
        uint64_t u;
    } x = { v };
    return x.u == 0x7ff0000000000002ull;
}

static void eval(struct km_rules *m, int64_t t)
{
    now_ms = t;
    km_rules_eval_all(m, t);
}

static void test_recording_rule_and_stale_marker(void **state)
{
    struct km_rules *m;

    (void)state;
    put("x", "a", T0, 1);
    put("x", "b", T0, 2);
    m = manager("groups:\n  - name: g\n    rules:\n      - record: x:sum\n"
                "        expr: sum by (instance) (x)\n        labels: {team: t}\n");
    eval(m, T0 + S);
    assert_true(value_at("x:sum", "instance", "a", T0 + S) == 1);
    assert_true(value_at("x:sum", "instance", "b", T0 + S) == 2);
    /* b disappears (a stale marker on x{instance="b"}): its recorded series goes stale. */
    put("x", "a", T0 + 2 * S, 5);
    {
        union {
            uint64_t u;
            double d;
        } st = { 0x7ff0000000000002ull };
        put("x", "b", T0 + 3 * S, st.d);
    }
    eval(m, T0 + 4 * S);
    assert_true(value_at("x:sum", "instance", "a", T0 + 4 * S) == 5);
    assert_true(is_stale(value_at("x:sum", "instance", "b", T0 + 4 * S)));
    km_rules_destroy(m);
}

static const char alert_rules[] = "groups:\n  - name: g\n    rules:\n      - alert: High\n"
                                  "        expr: x > 5\n        for: 1m\n"
                                  "        labels: {severity: page}\n";

static void test_alert_lifecycle(void **state)
{
    struct km_rules *m;

    (void)state;
    m = manager(alert_rules);
    put("x", "a", T0, 9);
    eval(m, T0);          /* pending; not yet restored: no ALERTS */
    eval(m, T0 + 10 * S); /* the second evaluation, then the restore */
    assert_true(isnan(value_at("ALERTS", NULL, NULL, T0 + 10 * S)));
    eval(m, T0 + 30 * S); /* from now on ALERTS and ALERTS_FOR_STATE are written */
    assert_true(value_at("ALERTS", "alertstate", "pending", T0 + 30 * S) == 1);
    assert_true(value_at("ALERTS_FOR_STATE", NULL, NULL, T0 + 30 * S) == (double)(T0 / 1000));
    assert_int_equal(nsent, 0); /* pending alerts are not sent */
    put("x", "a", T0 + 50 * S, 9);
    eval(m, T0 + MIN); /* active for 1m: firing, and sent */
    assert_true(value_at("ALERTS", "alertstate", "firing", T0 + MIN) == 1);
    assert_true(is_stale(value_at("ALERTS", "alertstate", "pending", T0 + MIN)));
    assert_int_equal(nsent, 1);
    assert_string_equal(sent[0].alertname, "High");
    assert_int_equal(sent[0].starts, T0 + MIN);
    assert_int_equal(sent[0].ends, T0 + MIN + 4 * MIN); /* valid for 4 × max(resend, interval) */
    assert_int_equal(last_to, KM_ALERT_FIRING);
    eval(m, T0 + MIN + 30 * S); /* not resent within the resend delay */
    assert_int_equal(nsent, 1);
    put("x", "a", T0 + 2 * MIN, 9);
    eval(m, T0 + 2 * MIN + S); /* resent after it */
    assert_int_equal(nsent, 2);
    /* Below the threshold: resolved, sent as resolved at once. */
    put("x", "a", T0 + 3 * MIN, 1);
    eval(m, T0 + 3 * MIN);
    assert_int_equal(last_to, KM_ALERT_INACTIVE);
    assert_int_equal(nsent, 3);
    assert_int_equal(sent[2].ends, T0 + 3 * MIN);
    assert_true(is_stale(value_at("ALERTS", "alertstate", "firing", T0 + 3 * MIN)));
    km_rules_destroy(m);
}

static void test_keep_firing_for(void **state)
{
    struct km_rules *m;

    (void)state;
    m = manager("groups:\n  - name: g\n    rules:\n      - alert: High\n        expr: x > 5\n"
                "        keep_firing_for: 2m\n");
    put("x", "a", T0, 9);
    eval(m, T0);
    eval(m, T0 + S);
    eval(m, T0 + 2 * S);
    assert_true(value_at("ALERTS", "alertstate", "firing", T0 + 2 * S) == 1);
    put("x", "a", T0 + 3 * S, 1);
    eval(m, T0 + MIN); /* gone from the result, kept firing */
    assert_true(value_at("ALERTS", "alertstate", "firing", T0 + MIN) == 1);
    eval(m, T0 + 3 * MIN + 5 * S); /* past keep_firing_for since it left */
    assert_true(is_stale(value_at("ALERTS", "alertstate", "firing", T0 + 3 * MIN + 5 * S)));
    km_rules_destroy(m);
}

static void test_for_state_restored_after_restart(void **state)
{
    struct km_rules *m;

    (void)state;
    m = manager("groups:\n  - name: g\n    rules:\n      - alert: High\n        expr: x > 5\n"
                "        for: 30m\n");
    put("x", "a", T0, 9);
    eval(m, T0);
    eval(m, T0 + MIN);
    put("x", "a", T0 + 9 * MIN, 9);
    eval(m, T0 + 10 * MIN); /* pending for 10 minutes, then the process dies */
    km_rules_destroy(m);
    /* Restarted 5 minutes later: the alert is pending again, then restored. */
    m = manager("groups:\n  - name: g\n    rules:\n      - alert: High\n        expr: x > 5\n"
                "        for: 30m\n");
    put("x", "a", T0 + 15 * MIN, 9);
    eval(m, T0 + 15 * MIN);
    /* Restored after the second evaluation: down at T0 + 10m, back at T0 + 16m, so active
     * since T0 + 6m (the downtime does not count; the 10 minutes pending before do). */
    eval(m, T0 + 16 * MIN);
    eval(m, T0 + 17 * MIN);
    assert_true(value_at("ALERTS_FOR_STATE", NULL, NULL, T0 + 17 * MIN) ==
                (double)((T0 + 6 * MIN) / 1000));
    put("x", "a", T0 + 34 * MIN, 9);
    eval(m, T0 + 35 * MIN); /* 29 minutes: still pending */
    assert_true(value_at("ALERTS", "alertstate", "pending", T0 + 35 * MIN) == 1);
    eval(m, T0 + 36 * MIN); /* 30 minutes without the downtime: firing */
    assert_true(value_at("ALERTS", "alertstate", "firing", T0 + 36 * MIN) == 1);
    km_rules_destroy(m);
}

static void test_limit_and_duplicates(void **state)
{
    struct km_rules *m;

    (void)state;
    put("x", "a", T0, 9);
    put("x", "b", T0, 9);
    m = manager("groups:\n  - name: g\n    limit: 1\n    rules:\n      - record: r\n"
                "        expr: x\n      - record: d\n        expr: x\n"
                "        labels: {instance: same}\n");
    eval(m, T0 + S);
    assert_true(isnan(value_at("r", NULL, NULL, T0 + S)));
    assert_true(isnan(value_at("d", NULL, NULL, T0 + S)));
    {
        struct km_buf b;
        struct km_jsonw w;

        km_buf_init(&b, 0);
        km_jsonw_init(&w, &b);
        km_rules_write_groups(m, NULL, &w);
        assert_non_null(strstr(km_buf_cstr(&b), "exceeded limit of 1 with 2 series"));
        assert_non_null(strstr(km_buf_cstr(&b), "vector contains metrics with the same "
                                                "labelset after applying rule labels"));
        km_buf_fini(&b);
    }
    km_rules_destroy(m);
}

/* Thousands of series, half of them gone and others new at the next evaluation: exactly
 * the gone ones get stale markers, and the ones that come back are written again. */
static void test_many_series_churn(void **state)
{
    enum { N = 3000 };
    union {
        uint64_t u;
        double d;
    } st = { 0x7ff0000000000002ull };
    struct km_rules *m;
    char inst[32];

    (void)state;
    for (int i = 0; i < N; i++) {
        snprintf(inst, sizeof(inst), "i%04d", i);
        put("x", inst, T0, i);
    }
    m = manager("groups:\n  - name: g\n    rules:\n      - record: x:copy\n"
                "        expr: x\n");
    eval(m, T0 + S);
    for (int i = 0; i < N; i++) {
        snprintf(inst, sizeof(inst), "i%04d", i);
        put("x", inst, T0 + 2 * S, i % 2 ? i : st.d);
    }
    for (int i = N; i < N + 100; i++) {
        snprintf(inst, sizeof(inst), "i%04d", i);
        put("x", inst, T0 + 2 * S, i);
    }
    eval(m, T0 + 3 * S);
    for (int i = 0; i < N + 100; i++) {
        double v;

        snprintf(inst, sizeof(inst), "i%04d", i);
        v = value_at("x:copy", "instance", inst, T0 + 3 * S);
        if (i < N && i % 2 == 0)
            assert_true(is_stale(v));
        else
            assert_true(v == i);
    }
    for (int i = 0; i < N; i += 2) {
        snprintf(inst, sizeof(inst), "i%04d", i);
        put("x", inst, T0 + 4 * S, -i);
    }
    eval(m, T0 + 5 * S);
    for (int i = 0; i < N; i += 2) {
        snprintf(inst, sizeof(inst), "i%04d", i);
        assert_true(value_at("x:copy", "instance", inst, T0 + 5 * S) == -i);
    }
    km_rules_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_recording_rule_and_stale_marker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keep_firing_for, setup, teardown),
        cmocka_unit_test_setup_teardown(test_for_state_restored_after_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limit_and_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_series_churn, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
