/*
 * test_leader — leader election's parts without a network: the Lease record read from
 * an object shaped as the API server returns it, written back into that object for a
 * PUT (metadata and resourceVersion kept) and into a new object for a POST, MicroTime
 * text (six fractional digits, UTC), the default identity's shape, and the
 * --leader-elect-* settings: defaults, flags, and the order of the durations checked
 * with a sentence naming the flags.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "common/cfg.h"
#include "common/err.h"
#include "kstate/settings.h"
#include "kube/leader.h"
#include "kube/lease.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A Lease as kube-apiserver 1.29 answers a GET of one kube-controller-manager holds. */
static const char LEASE[] =
    "{\"kind\":\"Lease\",\"apiVersion\":\"coordination.k8s.io/v1\",\"metadata\":{\"name\":"
    "\"kmon-cluster-state\",\"namespace\":\"kmon\",\"uid\":\"0d4c3f1e-4a3b-4a61-9d52-"
    "2f9e0c5b7a11\",\"resourceVersion\":\"48213\",\"creationTimestamp\":\"2026-12-05T08:00:"
    "00Z\",\"managedFields\":[{\"manager\":\"kmon\",\"operation\":\"Update\"}]},\"spec\":{"
    "\"holderIdentity\":\"kmon-0_6f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e\",\"leaseDurationSeconds\":"
    "15,\"acquireTime\":\"2026-12-05T08:00:00.000001Z\",\"renewTime\":\"2026-12-05T09:00:"
    "00.123456Z\",\"leaseTransitions\":3}}\n";

/* The test's JSON (never NULL: the test fails first). */
static json_t *load(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);

    assert_non_null(j);
    return j;
}

static void test_parse(void **state)
{
    struct km_klease_record r, r2;
    json_t *l = load(LEASE), *empty;

    (void)state;
    assert_int_equal(km_klease_parse(l, &r), 0);
    assert_string_equal(r.holder, "kmon-0_6f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e");
    assert_int_equal(r.duration_s, 15);
    assert_string_equal(r.acquire, "2026-12-05T08:00:00.000001Z");
    assert_string_equal(r.renew, "2026-12-05T09:00:00.123456Z");
    assert_int_equal(r.transitions, 3);
    r2 = r;
    assert_true(km_klease_equal(&r, &r2));
    snprintf(r2.renew, sizeof(r2.renew), "2026-12-05T09:00:02.123456Z"); /* a renewal */
    assert_false(km_klease_equal(&r, &r2));
    /* Released by client-go (holderIdentity "") or created empty (no spec fields). */
    empty = load("{\"metadata\":{\"name\":\"x\",\"resourceVersion\":\"1\"},\"spec\":{}}");
    assert_int_equal(km_klease_parse(empty, &r), 0);
    assert_string_equal(r.holder, "");
    assert_int_equal(r.duration_s, 0);
    assert_string_equal(r.renew, "");
    json_decref(empty);
    /* Not a Lease the API returned: no resourceVersion to update it with. */
    empty = load("{\"metadata\":{\"name\":\"x\"},\"spec\":{}}");
    assert_int_equal(km_klease_parse(empty, &r), KM_EINVAL);
    json_decref(empty);
    json_decref(l);
}

static void test_write(void **state)
{
    struct km_klease_record r = { .holder = "b_00ff", .duration_s = 3, .transitions = 4 }, back;
    json_t *l = load(LEASE), *n;
    char *text;

    (void)state;
    km_klease_microtime(r.acquire, 1796461200123456789ll); /* truncated, not rounded */
    assert_string_equal(r.acquire, "2026-12-05T09:00:00.123456Z");
    km_klease_microtime(r.renew, 1796461200000000000ll);
    assert_string_equal(r.renew, "2026-12-05T09:00:00.000000Z");
    assert_int_equal(km_klease_set(l, &r), 0);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(l, "metadata"), "resourceVersion")),
        "48213");
    assert_int_equal(km_klease_parse(l, &back), 0);
    assert_true(km_klease_equal(&r, &back));
    text = json_dumps(json_object_get(l, "spec"), JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"acquireTime\":\"2026-12-05T09:00:00.123456Z\","
                              "\"holderIdentity\":\"b_00ff\",\"leaseDurationSeconds\":3,"
                              "\"leaseTransitions\":4,\"renewTime\":\"2026-12-05T09:00:00."
                              "000000Z\"}");
    free(text);
    /* ReleaseOnCancel: an empty holder is written, not left out. */
    r.holder[0] = '\0';
    assert_int_equal(km_klease_set(l, &r), 0);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(l, "spec"), "holderIdentity")), "");
    n = km_klease_new("kmon", "kmon-cluster-state", &r);
    text = json_dumps(n, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\","
                              "\"metadata\":{\"name\":\"kmon-cluster-state\",\"namespace\":"
                              "\"kmon\"},\"spec\":{\"acquireTime\":\"2026-12-05T09:00:00."
                              "123456Z\",\"holderIdentity\":\"\",\"leaseDurationSeconds\":3,"
                              "\"leaseTransitions\":4,\"renewTime\":\"2026-12-05T09:00:00."
                              "000000Z\"}}");
    free(text);
    json_decref(n);
    json_decref(l);
}

static void test_identity(void **state)
{
    char id[KM_KLEASE_MAX_HOLDER], id2[KM_KLEASE_MAX_HOLDER], host[256] = "";
    const char *us;

    (void)state;
    km_kleader_default_identity(id, sizeof(id));
    km_kleader_default_identity(id2, sizeof(id2));
    assert_string_not_equal(id, id2);
    us = strrchr(id, '_');
    assert_non_null(us);
    assert_int_equal(strlen(us + 1), 32);
    assert_int_equal(strspn(us + 1, "0123456789abcdef"), 32);
    assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
    assert_int_equal(strncmp(id, host, strlen(host)), 0);
}

/* Parse argv into settings with the table's defaults and check them. */
static int settings(struct km_kstate_settings *s, int argc, char **argv)
{
    struct km_cfg_cmd cmd = { .name = "server", .usage = "kmon server" };
    int rc;

    memset(s, 0, sizeof(*s));
    cmd.sections[cmd.nsections++] = (struct km_cfg_section){ "Cluster state", km_kstate_fields, s };
    rc = km_cfg_parse(&cmd, argc, argv, NULL, 0, NULL);
    if (rc == 0)
        rc = km_kstate_settings_check(s);
    return rc;
}

static void test_settings(void **state)
{
    char *defaults[] = { "kmon" };
    char *ok[] = { "kmon",
                   "--leader-elect",
                   "--leader-elect-namespace=kmon",
                   "--leader-elect-lease-duration",
                   "3s",
                   "--leader-elect-renew-deadline",
                   "2s",
                   "--leader-elect-retry-period",
                   "500ms" };
    char *renew[] = { "kmon", "--leader-elect-renew-deadline", "15s" };
    char *retry[] = { "kmon", "--leader-elect-retry-period", "10s" };
    char *fraction[] = { "kmon",   "--leader-elect-lease-duration",
                         "2500ms", "--leader-elect-renew-deadline",
                         "2s",     "--leader-elect-retry-period",
                         "1s" };
    const struct {
        int argc;
        char **argv;
        const char *msg;
    } bad[] = {
        { 3, renew,
          "--leader-elect-renew-deadline (15s) must be shorter than "
          "--leader-elect-lease-duration (15s): a leader must stop leading before the others "
          "may take over" },
        { 3, retry,
          "--leader-elect-retry-period (10s) must be shorter than --leader-elect-renew-deadline "
          "(10s): a leader retries a failed renewal within its deadline" },
        { 7, fraction,
          "--leader-elect-lease-duration (2s500ms) must be whole seconds (a Lease's "
          "leaseDurationSeconds)" },
    };
    struct km_kstate_settings s;
    struct km_kstate_opts o;

    (void)state;
    unsetenv("KMON_LEADER_ELECT");
    unsetenv("KMON_CONFIG");
    assert_int_equal(settings(&s, 1, defaults), 0);
    assert_false(s.leader_elect);
    assert_null(s.le_ns);
    assert_string_equal(s.le_name, "kmon-cluster-state");
    assert_null(s.le_identity);
    assert_int_equal(s.le_lease_ms, 15000); /* kube-controller-manager's */
    assert_int_equal(s.le_renew_ms, 10000);
    assert_int_equal(s.le_retry_ms, 2000);
    km_cfg_free_fields(km_kstate_fields, &s);

    assert_int_equal(settings(&s, 9, ok), 0);
    assert_int_equal(km_kstate_opts_from(&o, &s, "c1"), 0);
    assert_true(o.leader_elect);
    assert_string_equal(o.leader.ns, "kmon");
    assert_string_equal(o.leader.name, "kmon-cluster-state");
    assert_int_equal(o.leader.lease_duration_ms, 3000);
    assert_int_equal(o.leader.renew_deadline_ms, 2000);
    assert_int_equal(o.leader.retry_period_ms, 500);
    km_cfg_free_fields(km_kstate_fields, &s);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(settings(&s, bad[i].argc, bad[i].argv), KM_EINVAL);
        assert_string_equal(km_err_msg(), bad[i].msg);
        km_cfg_free_fields(km_kstate_fields, &s);
    }
    /* The collector's options are refused with the same sentence. */
    assert_int_equal(settings(&s, 3, bad[1].argv), KM_EINVAL);
    assert_int_equal(km_kstate_opts_from(&o, &s, NULL), KM_EINVAL);
    assert_string_equal(km_err_msg(), bad[1].msg);
    km_cfg_free_fields(km_kstate_fields, &s);
}

/* The elector refuses what the settings check would (for callers without settings). */
static void test_start_checks(void **state)
{
    struct km_kube_config cfg = { .server = "https://127.0.0.1:1" };
    struct km_kleader_opts o = { .ns = "kmon",
                                 .name = "l",
                                 .lease_duration_ms = 3000,
                                 .renew_deadline_ms = 3000,
                                 .retry_period_ms = 500 };
    struct km_kleader *l = (struct km_kleader *)&o;

    (void)state;
    assert_int_equal(km_kleader_start(&l, &cfg, &o), KM_EINVAL);
    assert_null(l);
    o.renew_deadline_ms = 2000;
    o.name = "";
    assert_int_equal(km_kleader_start(&l, &cfg, &o), KM_EINVAL);
    km_kleader_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),        cmocka_unit_test(test_write),
        cmocka_unit_test(test_identity),     cmocka_unit_test(test_settings),
        cmocka_unit_test(test_start_checks),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
