/*
 * Unit tests: the REST API's queries (server/seed_queries.c) and the model that asks them
 * (server/model.c) — every query parses with its placeholders filled in, with and
 * without filters, whatever bytes the names hold; the rate window; then, over a real
 * embedded store, the identity rules the queries carry (deployments from workload labels
 * or ReplicaSet names, nodes named by instance, a pod's own cgroup before its containers
 * and never the pause container, renamed series counted once, filters that only narrow,
 * a pod's cluster state from kube-state-metrics series)
 * — and docs/api.md lists the queries the server sends (KMON_UPDATE_DOCS=1 rewrites that
 * section from the table).
 */
#include "common/buf.h"
#include "common/err.h"
#include "promql/parse.h"
#include "promql/print.h"
#include "server/model.h"
#include "server/seed_queries.h"
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

#define NOW    1800000000000ll
#define API_MD KMON_FIXTURES "/../../docs/api.md"

static char dir[256];

static int64_t test_clock(void)
{
    return NOW;
}

static char *expand(const struct km_seed_query *q, const struct km_model_params *p)
{
    struct km_buf b;

    km_buf_init(&b, 0);
    if (km_model_expand(&b, q, p) != 0)
        fail_msg("%s %s: %s", km_seed_level_name(q->level), q->name, km_err_msg());
    return km_buf_detach(&b, NULL);
}

static void assert_parses(const char *what, const char *text)
{
    struct km_promql_expr *e = NULL;
    struct km_promql_error err;

    if (km_promql_parse(text, strlen(text), &e, &err) != 0)
        fail_msg("%s: %s\n%s", what, err.msg, text);
    km_promql_expr_destroy(e);
}

static void test_every_query_parses(void **state)
{
    static const struct km_filter filters[] = {
        { 0 },
        { .node = "n1", .namespace = "shop", .pod = "web-7d4f9c6b8d-x2k9q" },
        /* Quotes, backslashes, regex metacharacters, a newline, bytes that are not UTF-8. */
        { .node = "a\"b\\c.d[e](f)*+?^$|{1}", .namespace = "n\"s\\", .pod = "p\n\xff" },
    };
    static const int64_t windows[] = { 60000, 65000, 1500 };

    (void)state;
    for (size_t i = 0; i < km_seed_nqueries; i++) {
        const struct km_seed_query *q = &km_seed_queries[i];

        for (size_t f = 0; f < sizeof(filters) / sizeof(filters[0]); f++) {
            for (size_t w = 0; w < sizeof(windows) / sizeof(windows[0]); w++) {
                struct km_model_params p = { .f = filters[f], .rate_window_ms = windows[w] };
                char *text = expand(q, &p);

                assert_null(strstr(text, "$__"));
                assert_parses(q->name, text);
                free(text);
            }
        }
        assert_ptr_equal(km_seed_query_get(q->level, q->fig), q);
    }
}

static void test_compose_everything(void **state)
{
    struct km_model_params p = { .f = { .node = "n", .namespace = "ns", .pod = "p" },
                                 .rate_window_ms = 60000 };
    struct km_model_ask ask;
    struct km_buf b;

    (void)state;
    for (int l = 0; l < KM_SEED_LEVELS; l++)
        ask.figs[l] = (1ull << KM_SEED_FIGS) - 1;
    km_buf_init(&b, 0);
    assert_int_equal(km_model_compose(&b, &ask, &p), 0);
    assert_parses("everything", km_buf_cstr(&b));
    km_buf_fini(&b);
    memset(&ask, 0, sizeof(ask));
    km_buf_init(&b, 0);
    assert_int_equal(km_model_compose(&b, &ask, &p), KM_EINVAL); /* nothing asked */
    km_buf_fini(&b);
}

static void test_unknown_placeholder(void **state)
{
    static const struct km_seed_query bad[] = {
        { KM_SEED_NODE, KM_SEED_CPU, "x", "up{$__nope}", NULL },
        { KM_SEED_NAMESPACE, KM_SEED_CPU, "x", "sum($__pod_nope)", NULL },
    };
    struct km_model_params p = { .rate_window_ms = 60000 };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct km_buf b;

        km_buf_init(&b, 0);
        assert_int_equal(km_model_expand(&b, &bad[i], &p), KM_EINVAL);
        assert_non_null(strstr(km_err_msg(), "placeholder"));
        km_buf_fini(&b);
    }
}

static void test_rate_window(void **state)
{
    (void)state;
    assert_int_equal(km_model_rate_window(0, 5000), 60000);   /* the floor */
    assert_int_equal(km_model_rate_window(0, 30000), 120000); /* four samples */
    assert_int_equal(km_model_rate_window(5000, 5000), 60000);
    assert_int_equal(km_model_rate_window(173000, 5000), 178000); /* a step and a sample */
    assert_int_equal(km_model_rate_window(15000, 60000), 240000);
}

/* ---- the queries over a real store --------------------------------------------------------- */

static int setup(void **state)
{
    char cmd[300];

    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/kmon-test-seed-%d", (int)getpid());
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

/* Store a series: "name{a=b,c=d}" given as name and label pairs, with `n` samples
 * `step` ms apart ending at `end`, growing by `slope` per second from v0. */
static void put(struct km_storage *s, const char *const *labels, size_t nl, int64_t end, int n,
                double v0, double slope)
{
    struct km_label l[16];
    struct km_sample smp[64];
    enum km_sample_status st[64];
    struct km_append_result r;

    assert_true(nl <= 16 && n <= 64);
    for (size_t i = 0; i < nl; i++)
        l[i] = (struct km_label){ labels[2 * i], labels[2 * i + 1] };
    for (int k = 0; k < n; k++) {
        int64_t t = end - (int64_t)(n - 1 - k) * 5000;

        smp[k] = (struct km_sample){ l, nl, t,
                                     v0 + slope * (double)(t - (end - (n - 1) * 5000)) / 1000 };
    }
    if (km_storage_append(s, smp, (size_t)n, st, &r) != 0 || r.appended != (uint64_t)n)
        fail_msg("append %s: %s", labels[1], km_err_msg());
}

#define PUT(s, end, n, v0, slope, ...)                                                             \
    put(s, (const char *const[]){ __VA_ARGS__ },                                                   \
        sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *) / 2, end, n, v0,       \
        slope)

static void ask(struct km_storage *s, enum km_seed_level level, uint64_t figs,
                const struct km_filter *f, struct km_model *m)
{
    struct km_model_ask a = { 0 };
    struct km_model_params p = { .rate_window_ms = 60000 };
    struct km_pq_opts o;

    km_pq_opts_default(&o);
    a.figs[level] = figs;
    if (f)
        p.f = *f;
    if (km_model_instant(s, &o, &a, &p, NOW, m) != 0)
        fail_msg("ask: %s", km_err_msg());
}

static const struct km_entity *must_find(const struct km_model *m, enum km_seed_level level,
                                         const char *ns, const char *name)
{
    const struct km_entity *e = km_model_find(m, level, ns, name);

    if (!e)
        fail_msg("%s %s/%s not answered", km_seed_level_name(level), ns ? ns : "", name);
    return e;
}

static void test_deployments(void **state)
{
    /* name, workload_kind, workload, the deployment wanted (NULL: none) */
    static const char *const pods[][4] = {
        { "web-7d4f9c6b8d-x2x9k", "", "", "web" },
        { "my-api-5f6d7c8b9-nprst", "", "", "my-api" },
        { "backup-28861440-7qkzv", "", "", NULL }, /* a CronJob's: minutes since the epoch */
        { "db-0", "", "", NULL },                  /* a StatefulSet's */
        { "fluentd-x2x9k", "", "", NULL },         /* a DaemonSet's */
        { "checkout", "", "", NULL },
        { "web-7d4f9c6b8d-x2x9a", "", "", NULL }, /* 'a' is not in the suffix alphabet */
        { "-7d4f9c6b8d-x2x9k", "", "", NULL },
        { "web-7d4f-x2x9k", "", "", NULL },
        { "labelled", "Deployment", "front", "front" },
        { "cron-5f6d7c8b9-nprst", "Job", "cron-123", NULL }, /* labels say "none" */
    };
    struct km_storage *s = open_store();
    struct km_model m;

    (void)state;
    for (size_t i = 0; i < sizeof(pods) / sizeof(pods[0]); i++)
        PUT(s, NOW - 1000, 1, 5, 0, "__name__", "container_memory_working_set_bytes", "namespace",
            "d", "pod", pods[i][0], "container", "", "workload_kind", pods[i][1], "workload",
            pods[i][2]);
    /* A pod measured without labels, posted by a JSON sender with its deployment: the
     * labels win over the name. */
    PUT(s, NOW - 1000, 1, 5, 0, "__name__", "container_memory_working_set_bytes", "namespace", "d",
        "pod", "api-5f6d7c8b9-nprst", "container", "");
    PUT(s, NOW - 1000, 1, 50, 0, "__name__", "kmon_pod_cpu_millicores", "namespace", "d", "pod",
        "api-5f6d7c8b9-nprst", "workload_kind", "Deployment", "workload", "api-main");
    ask(s, KM_SEED_POD, (1ull << KM_SEED_DEPLOYMENT_OF) | (1ull << KM_SEED_TIMESTAMP), NULL, &m);
    assert_int_equal(m.level[KM_SEED_POD].n, sizeof(pods) / sizeof(pods[0]) + 1);
    for (size_t i = 0; i < sizeof(pods) / sizeof(pods[0]); i++) {
        const struct km_entity *e = must_find(&m, KM_SEED_POD, "d", pods[i][0]);

        if (pods[i][3])
            assert_string_equal(e->deployment, pods[i][3]);
        else if (e->deployment)
            fail_msg("%s: deployment %s, want none", pods[i][0], e->deployment);
    }
    assert_string_equal(must_find(&m, KM_SEED_POD, "d", "api-5f6d7c8b9-nprst")->deployment,
                        "api-main");
    km_model_fini(&m);
    km_storage_close(s);
}

static void test_node_names_and_filters(void **state)
{
    /* instance, node label, the node's name */
    static const char *const nodes[][3] = {
        { "10.0.0.5:9100", "", "10.0.0.5" }, { "[fd00::5]:9100", "", "fd00::5" },
        { "plainhost", "", "plainhost" },    { "[v6", "", "[v6" },
        { "a.b:9100", "", "a.b" },           { "x:9105", "agent-1", "agent-1" },
        { "aXb:9100", "", "aXb" }, /* what an unquoted "a.b" would also match */
    };
    struct km_storage *s = open_store();
    struct km_model m;

    (void)state;
    for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++)
        PUT(s, NOW - 1000, 13, 1000, 0.5 * (double)(i + 1), "__name__", "node_cpu_seconds_total",
            "instance", nodes[i][0], "node", nodes[i][1], "cpu", "0", "mode", "user");
    ask(s, KM_SEED_NODE, (1ull << KM_SEED_CPU) | (1ull << KM_SEED_TIMESTAMP), NULL, &m);
    assert_int_equal(m.level[KM_SEED_NODE].n, sizeof(nodes) / sizeof(nodes[0]));
    for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
        const struct km_entity *e = must_find(&m, KM_SEED_NODE, NULL, nodes[i][2]);

        /* A counter covering the window: its rate is its slope. */
        assert_true(e->has[KM_SEED_CPU]);
        assert_true(fabs(e->v[KM_SEED_CPU] - 500.0 * (double)(i + 1)) < 1e-6);
        assert_true(e->has[KM_SEED_TIMESTAMP] && e->v[KM_SEED_TIMESTAMP] == (NOW - 1000) / 1000.0);
    }
    km_model_fini(&m);
    /* A filter names one node, whether by node label or by instance. */
    for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
        struct km_filter f = { .node = nodes[i][2] };

        ask(s, KM_SEED_NODE, (1ull << KM_SEED_CPU) | (1ull << KM_SEED_TIMESTAMP), &f, &m);
        assert_int_equal(m.level[KM_SEED_NODE].n, 1);
        assert_string_equal(m.level[KM_SEED_NODE].v[0].name, nodes[i][2]);
        km_model_fini(&m);
    }
    km_storage_close(s);
}

static void test_pod_cgroups(void **state)
{
    struct km_storage *s = open_store();
    struct km_filter weird = { .namespace = "n\"s", .pod = "we\\ird" };
    const struct km_entity *e;
    struct km_model m;

    (void)state;
    /* The pod's own cgroup wins over its containers; "POD" never counts. */
    PUT(s, NOW - 1000, 1, 100, 0, "__name__", "container_memory_working_set_bytes", "namespace",
        "n", "pod", "a", "container", "");
    PUT(s, NOW - 1000, 1, 30, 0, "__name__", "container_memory_working_set_bytes", "namespace", "n",
        "pod", "a", "container", "app");
    PUT(s, NOW - 1000, 1, 1, 0, "__name__", "container_memory_working_set_bytes", "namespace", "n",
        "pod", "b", "container", "x");
    PUT(s, NOW - 1000, 1, 2, 0, "__name__", "container_memory_working_set_bytes", "namespace", "n",
        "pod", "b", "container", "y");
    PUT(s, NOW - 1000, 1, 4, 0, "__name__", "container_memory_working_set_bytes", "namespace", "n",
        "pod", "b", "container", "POD");
    /* Renamed while it runs: the same cgroup before and after the agent named it. */
    PUT(s, NOW - 40000, 1, 7, 0, "__name__", "container_memory_working_set_bytes", "namespace", "n",
        "pod", "c", "container", "");
    PUT(s, NOW - 1000, 1, 9, 0, "__name__", "container_memory_working_set_bytes", "namespace", "n",
        "pod", "c", "container", "", "workload_kind", "Deployment", "workload", "c");
    /* Names that need quoting in a query. */
    PUT(s, NOW - 1000, 1, 3, 0, "__name__", "container_memory_working_set_bytes", "namespace",
        "n\"s", "pod", "we\\ird", "container", "");
    ask(s, KM_SEED_POD, (1ull << KM_SEED_MEMORY) | (1ull << KM_SEED_TIMESTAMP), NULL, &m);
    assert_true(must_find(&m, KM_SEED_POD, "n", "a")->v[KM_SEED_MEMORY] == 100);
    assert_true(must_find(&m, KM_SEED_POD, "n", "b")->v[KM_SEED_MEMORY] == 3);
    assert_true(must_find(&m, KM_SEED_POD, "n", "c")->v[KM_SEED_MEMORY] == 9);
    km_model_fini(&m);
    /* The namespace adds them up. */
    ask(s, KM_SEED_NAMESPACE, (1ull << KM_SEED_MEMORY) | (1ull << KM_SEED_POD_COUNT), NULL, &m);
    e = must_find(&m, KM_SEED_NAMESPACE, NULL, "n");
    assert_true(e->v[KM_SEED_MEMORY] == 112 && e->v[KM_SEED_POD_COUNT] == 3);
    km_model_fini(&m);
    ask(s, KM_SEED_POD, (1ull << KM_SEED_MEMORY) | (1ull << KM_SEED_TIMESTAMP), &weird, &m);
    assert_int_equal(m.level[KM_SEED_POD].n, 1);
    assert_true(must_find(&m, KM_SEED_POD, "n\"s", "we\\ird")->v[KM_SEED_MEMORY] == 3);
    km_model_fini(&m);
    km_storage_close(s);
}

/* A pod's cluster state (kube_pod_* series): text figures from labels, the owner resolved
 * through its ReplicaSet, the node filter narrowing through kube_pod_info (the other
 * kube_pod_* series carry no node), existence without metrics. */
#define B "db-7d4f9c6b8d-x2k9q"

static void test_pod_state(void **state)
{
    struct km_storage *s = open_store();
    struct km_filter on_n2 = { .node = "n2" };
    const struct km_entity *e;
    struct km_model m;
    const uint64_t figs = (1ull << KM_SEED_TIMESTAMP) | (1ull << KM_SEED_STATE) |
                          (1ull << KM_SEED_PHASE) | (1ull << KM_SEED_REASON) |
                          (1ull << KM_SEED_OWNER_KIND) | (1ull << KM_SEED_OWNER_NAME) |
                          (1ull << KM_SEED_DEPLOYMENT_OF) | (1ull << KM_SEED_MEMORY);

    (void)state;
    PUT(s, NOW - 1000, 1, 1, 0, "__name__", "kube_pod_info", "namespace", "n", "pod", "a", "uid",
        "1", "node", "n1");
    PUT(s, NOW - 1000, 1, 1, 0, "__name__", "kube_pod_info", "namespace", "n", "pod", B, "uid", "2",
        "node", "n2");
    PUT(s, NOW - 1000, 1, 1, 0, "__name__", "kube_pod_status_phase", "namespace", "n", "pod", "a",
        "uid", "1", "phase", "Running");
    PUT(s, NOW - 1000, 1, 0, 0, "__name__", "kube_pod_status_phase", "namespace", "n", "pod", "a",
        "uid", "1", "phase", "Pending");
    PUT(s, NOW - 1000, 1, 1, 0, "__name__", "kube_pod_status_phase", "namespace", "n", "pod", B,
        "uid", "2", "phase", "Pending");
    PUT(s, NOW - 1000, 1, 1, 0, "__name__", "kube_pod_status_reason", "namespace", "n", "pod", B,
        "uid", "2", "reason", "Evicted");
    PUT(s, NOW - 1000, 1, 1, 0, "__name__", "kube_pod_container_status_waiting_reason", "namespace",
        "n", "pod", B, "uid", "2", "container", "c", "reason", "ErrImagePull");
    PUT(s, NOW - 1000, 1, 1, 0, "__name__", "kube_pod_owner", "namespace", "n", "pod", "a", "uid",
        "1", "owner_kind", "ReplicaSet", "owner_name", "web-7d4f9c6b8d", "owner_is_controller",
        "true");
    PUT(s, NOW - 1000, 1, 1, 0, "__name__", "kube_replicaset_owner", "namespace", "n", "replicaset",
        "web-7d4f9c6b8d", "owner_kind", "Deployment", "owner_name", "web", "owner_is_controller",
        "true");
    PUT(s, NOW - 1000, 1, 1, 0, "__name__", "kube_pod_owner", "namespace", "n", "pod", B, "uid",
        "2", "owner_kind", "StatefulSet", "owner_name", "db", "owner_is_controller", "true");
    /* b reports metrics, and its name follows the ReplicaSet convention: its owner says. */
    PUT(s, NOW - 1000, 1, 5, 0, "__name__", "container_memory_working_set_bytes", "namespace", "n",
        "pod", B, "container", "");
    ask(s, KM_SEED_POD, figs, NULL, &m);
    assert_int_equal(m.level[KM_SEED_POD].n, 2);
    e = must_find(&m, KM_SEED_POD, "n", "a");
    assert_string_equal(e->text[KM_SEED_PHASE], "Running");
    assert_null(e->text[KM_SEED_REASON]);
    assert_string_equal(e->text[KM_SEED_OWNER_KIND], "Deployment");
    assert_string_equal(e->text[KM_SEED_OWNER_NAME], "web");
    assert_string_equal(e->deployment, "web");
    assert_string_equal(e->node, "n1");
    assert_false(e->has[KM_SEED_MEMORY] || e->has[KM_SEED_TIMESTAMP]);
    e = must_find(&m, KM_SEED_POD, "n", B);
    assert_string_equal(e->text[KM_SEED_PHASE], "Pending");
    assert_string_equal(e->text[KM_SEED_REASON], "ErrImagePull"); /* before the pod's */
    assert_string_equal(e->text[KM_SEED_OWNER_KIND], "StatefulSet");
    assert_null(e->deployment);
    assert_true(e->has[KM_SEED_MEMORY] && e->v[KM_SEED_MEMORY] == 5);
    km_model_fini(&m);
    ask(s, KM_SEED_POD, figs, &on_n2, &m);
    assert_int_equal(m.level[KM_SEED_POD].n, 1);
    assert_string_equal(m.level[KM_SEED_POD].v[0].name, B);
    km_model_fini(&m);
    km_storage_close(s);
}
#undef B

/* ---- docs/api.md lists the queries ------------------------------------------------------- */

#define DOC_BEGIN "<!-- seed-queries: generated from src/server/seed_queries.c by"
#define DOC_END   "<!-- /seed-queries -->"

/* The section as the table makes it: node and pod queries formatted as format_query
 * prints them, with the default rate window (1m) and no filter; namespace and deployment
 * queries as the table writes them (no filter), made of the pods' ($__pod_<figure>). */
static char *render_doc(void)
{
    static const char *const titles[] = { "Nodes", "Pods", "Namespaces", "Deployments" };
    struct km_model_params p = { .rate_window_ms = 60000 };
    struct km_buf b;

    km_buf_init(&b, 0);
    km_buf_puts(&b, DOC_BEGIN " tests/unit/test_seed_queries.c; KMON_UPDATE_DOCS=1 "
                              "build/tests/unit/test_seed_queries rewrites it -->\n");
    for (int l = 0; l < KM_SEED_LEVELS; l++) {
        km_buf_printf(&b, "\n#### %s\n", titles[l]);
        for (size_t i = 0; i < km_seed_nqueries; i++) {
            const struct km_seed_query *q = &km_seed_queries[i];

            if ((int)q->level != l)
                continue;
            km_buf_printf(&b, "\n%s `%s`:\n\n```promql\n", titles[l], q->name);
            if (l == KM_SEED_NODE || l == KM_SEED_POD) {
                char *text = expand(q, &p);
                struct km_promql_expr *e = NULL;
                struct km_promql_error err;

                if (km_promql_parse(text, strlen(text), &e, &err) != 0)
                    fail_msg("%s", err.msg);
                km_promql_format(&b, e);
                km_promql_expr_destroy(e);
                free(text);
            } else {
                /* The filters filled in (empty), the pods' queries named. */
                static const char *const filters[] = { "$__pod_filter", "$__name_filter",
                                                       "$__namespace_filter" };
                const char *t = q->promql;

                while (*t) {
                    size_t k = 0;

                    while (k < 3 && strncmp(t, filters[k], strlen(filters[k])) != 0)
                        k++;
                    if (k < 3)
                        t += strlen(filters[k]);
                    else
                        km_buf_putc(&b, *t++);
                }
            }
            km_buf_puts(&b, "\n```\n");
        }
    }
    km_buf_puts(&b, "\n" DOC_END);
    assert_int_equal(km_buf_error(&b), 0);
    return km_buf_detach(&b, NULL);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    struct km_buf b;
    char chunk[4096];
    size_t n;

    if (!f)
        fail_msg("%s: cannot open", path);
    km_buf_init(&b, 0);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        km_buf_append(&b, chunk, n);
    fclose(f);
    return km_buf_detach(&b, NULL);
}

static void test_docs_list_the_queries(void **state)
{
    char *doc = read_file(API_MD), *want = render_doc(), *begin, *end;

    (void)state;
    begin = strstr(doc, DOC_BEGIN);
    end = begin ? strstr(begin, DOC_END) : NULL;
    if (!begin || !end)
        fail_msg("%s has no section between \"%s\" and \"%s\"", API_MD, DOC_BEGIN, DOC_END);
    end += strlen(DOC_END);
    if (getenv("KMON_UPDATE_DOCS")) {
        FILE *f = fopen(API_MD, "wb");

        assert_non_null(f);
        fwrite(doc, 1, (size_t)(begin - doc), f);
        fputs(want, f);
        fputs(end, f);
        assert_int_equal(fclose(f), 0);
    } else if ((size_t)(end - begin) != strlen(want) ||
               strncmp(begin, want, (size_t)(end - begin)) != 0) {
        fail_msg("%s does not list the queries the server sends; run "
                 "KMON_UPDATE_DOCS=1 %s",
                 API_MD, "build/tests/unit/test_seed_queries");
    }
    free(doc);
    free(want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_query_parses),
        cmocka_unit_test(test_compose_everything),
        cmocka_unit_test(test_unknown_placeholder),
        cmocka_unit_test(test_rate_window),
        cmocka_unit_test_setup_teardown(test_deployments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_names_and_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pod_cgroups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pod_state, setup, teardown),
        cmocka_unit_test(test_docs_list_the_queries),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
