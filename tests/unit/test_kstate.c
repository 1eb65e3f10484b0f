/*
 * test_kstate — the cluster-state collector's parts without a network: quantities
 * (exact values, garbage refused), the allowlist syntax and label sanitising, string
 * interning, each kind's JSON (tests/fixtures/kube/, shaped like real objects) parsed
 * into its compact store and emitted as kube-state-metrics series (names, label sets,
 * values), and the store's relist semantics (objects absent from a relist removed, none
 * duplicated).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/mset.h"
#include "kstate/allowlist.h"
#include "kstate/intern.h"
#include "kstate/kinds.h"
#include "kstate/quantity.h"
#include "kstate/store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *fixture(const char *name)
{
    char path[1024];
    json_error_t je;
    json_t *j;

    snprintf(path, sizeof(path), "%s/kube/%s", KMON_FIXTURES, name);
    j = json_load_file(path, 0, &je);
    if (!j)
        fail_msg("%s: %s", path, je.text);
    return j;
}

/* ---- quantities ---------------------------------------------------------------------- */

static void test_quantity(void **state)
{
    static const struct {
        const char *s;
        bool cores;
        double want;
    } ok[] = {
        { "100m", true, 0.1 },
        { "1", true, 1 },
        { "1.5", true, 1.5 },
        { "250m", true, 0.25 },
        { "3920m", true, 3.92 },
        { "1n", true, 0.001 }, /* MilliValue rounds up */
        { "0.0001", true, 0.001 },
        { "2e3", false, 2000 },
        { "2E3", false, 2000 },
        { "1e-3", false, 1 }, /* Value rounds up */
        { "1Gi", false, 1073741824 },
        { "1.5Gi", false, 1610612736 },
        { "128Mi", false, 134217728 },
        { "129M", false, 129000000 },
        { "16393244Ki", false, 16393244.0 * 1024 },
        { "1k", false, 1000 },
        { "1E", false, 1e18 },
        { "1Ei", false, 1152921504606846976.0 },
        { "0", false, 0 },
        { "+5", false, 5 },
        { "-5", false, -5 },
        { "-1.5", true, -1.5 },
        { ".5", true, 0.5 },
        { "94635170849", false, 94635170849.0 },
        { "000012", false, 12 },
    };
    static const char *const bad[] = {
        "",    "m",    "Ki",   "1.2.3",   "12Zi",
        "--1", "1 Gi", "1Gi ", "abc",     "1e",
        "1e+", "1ee3", "0x10", "1e99999", "1234567890123456789",
        "1mi", "\xff", "NaN",  "Inf",
    };
    struct km_qty q;

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (km_qty_parse(ok[i].s, &q) != 0)
            fail_msg("\"%s\" refused: %s", ok[i].s, km_err_msg());
        if (km_qty_value(&q, ok[i].cores) != ok[i].want)
            fail_msg("\"%s\" is %.17g, want %.17g", ok[i].s, km_qty_value(&q, ok[i].cores),
                     ok[i].want);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (km_qty_parse(bad[i], &q) == 0)
            fail_msg("\"%s\" accepted", bad[i]);
        assert_non_null(strstr(km_err_msg(), "quantit"));
    }
    assert_int_equal(km_qty_parse(NULL, &q), KM_EINVAL);
}

/* ---- allowlists and interning -------------------------------------------------------- */

static void test_allowlist(void **state)
{
    struct km_allowlist a;
    const struct km_allow *p;
    char name[64];

    (void)state;
    assert_int_equal(km_allowlist_parse(&a, "pods=[app,team], namespaces=[*],nodes=[]"), 0);
    assert_int_equal(a.n, 3);
    p = km_allowlist_for(&a, "pods");
    assert_non_null(p);
    assert_true(km_allow_has(p, "app"));
    assert_true(km_allow_has(p, "team"));
    assert_false(km_allow_has(p, "tier"));
    assert_true(km_allow_has(km_allowlist_for(&a, "namespaces"), "anything"));
    assert_false(km_allow_has(km_allowlist_for(&a, "nodes"), "app"));
    assert_null(km_allowlist_for(&a, "deployments"));
    km_allowlist_fini(&a);
    assert_int_equal(km_allowlist_parse(&a, NULL), 0);
    assert_int_equal(a.n, 0);
    km_allowlist_fini(&a);
    assert_int_equal(km_allowlist_parse(&a, "pods"), KM_EINVAL);
    assert_int_equal(km_allowlist_parse(&a, "pods=[app"), KM_EINVAL);
    assert_int_equal(km_allowlist_parse(&a, "=[app]"), KM_EINVAL);
    km_allow_label_name(name, sizeof(name), "label_", "app.kubernetes.io/name");
    assert_string_equal(name, "label_app_kubernetes_io_name");
    km_allow_label_name(name, sizeof(name), "annotation_", "caf\xc3\xa9-x");
    assert_string_equal(name, "annotation_caf__x");
}

static void test_intern(void **state)
{
    struct km_intern *t;
    const char *a, *b, *c;
    uint64_t n, bytes;
    char many[32];

    (void)state;
    assert_int_equal(km_intern_create(&t), 0);
    a = km_intern_get(t, "default");
    b = km_intern_getn(t, "default-x", 7);
    assert_ptr_equal(a, b);
    c = km_intern_get(t, "kube-system");
    assert_ptr_not_equal(a, c);
    km_intern_stats(t, &n, &bytes);
    assert_int_equal(n, 2);
    km_intern_put(t, a);
    km_intern_stats(t, &n, &bytes);
    assert_int_equal(n, 2); /* b still holds it */
    km_intern_put(t, b);
    km_intern_put(t, c);
    km_intern_stats(t, &n, &bytes);
    assert_int_equal(n, 0);
    assert_int_equal(bytes, 0);
    for (int i = 0; i < 5000; i++) { /* growth */
        snprintf(many, sizeof(many), "pod-%d", i);
        assert_non_null(km_intern_get(t, many));
    }
    for (int i = 0; i < 5000; i++) {
        snprintf(many, sizeof(many), "pod-%d", i);
        a = km_intern_get(t, many);
        km_intern_put(t, a);
        km_intern_put(t, a);
    }
    km_intern_stats(t, &n, &bytes);
    assert_int_equal(n, 0);
    km_intern_put(t, NULL);
    km_intern_destroy(t);
}

/* ---- parsing and emission -------------------------------------------------------------- */

struct env {
    struct km_intern *in;
    struct km_allowlist labels, annots;
    struct km_kparse p;
    struct km_kstore *s;
    struct km_mset m;
};

static void env_init(struct env *e, const struct km_kind *k)
{
    memset(e, 0, sizeof(*e));
    assert_int_equal(km_intern_create(&e->in), 0);
    assert_int_equal(km_allowlist_parse(&e->labels, "pods=[app,app.kubernetes.io/name],"
                                                    "namespaces=[*],deployments=[app]"),
                     0);
    assert_int_equal(km_allowlist_parse(&e->annots, "pods=[kubectl.kubernetes.io/restartedAt]"), 0);
    e->p.in = e->in;
    e->p.labels = km_allowlist_for(&e->labels, k->name);
    e->p.annots = km_allowlist_for(&e->annots, k->name);
    assert_int_equal(km_kstore_create(&e->s, k, e->in), 0);
    km_mset_init(&e->m);
    km_mset_reset(&e->m, 1000);
}

static void env_emit(struct env *e, const char *cluster)
{
    /* Stale markers in families of their own (as the agent ships them). */
    struct km_kemit_out out = { .m = &e->m, .stale_flags = KM_MF_SHIP_ONLY };
    struct km_kemit em = { .m = &e->m,
                           .out = &out,
                           .cluster = cluster,
                           .labels_on = e->p.labels != NULL,
                           .annots_on = e->p.annots != NULL };

    km_mset_reset(&e->m, 1000);
    km_kstore_emit(e->s, &em);
    assert_int_equal(km_kemit_finish(&em), 0);
    assert_int_equal(km_mset_error(&e->m), 0);
}

static void env_fini(struct env *e)
{
    uint64_t n, bytes;

    km_mset_fini(&e->m);
    km_kstore_destroy(e->s);
    km_intern_stats(e->in, &n, &bytes);
    assert_int_equal(n, 0); /* every interned string given back */
    km_intern_destroy(e->in);
    km_allowlist_fini(&e->labels);
    km_allowlist_fini(&e->annots);
}

/* The value of the sample of `family` whose labels are exactly `want` (name=value pairs,
 * NULL-terminated); fails when there is none. */
static double value_of(const struct km_mset *m, const char *family, ...)
{
    const char *want[64];
    size_t nw = 0;
    va_list ap;

    va_start(ap, family);
    for (const char *s; (s = va_arg(ap, const char *)) != NULL && nw < 64;)
        want[nw++] = s;
    va_end(ap);
    for (size_t f = 0; f < m->nfam; f++) {
        if (strcmp(m->fam[f].name, family) != 0)
            continue;
        for (uint32_t i = m->fam[f].first; i != KM_MSET_END; i = m->smp[i].next) {
            const struct km_msample *s = &m->smp[i];
            const struct km_label *l = km_mset_labels(m, s);
            size_t nonempty = 0, match = 0;

            for (uint32_t j = 0; j < s->nlabels; j++) {
                if (!l[j].value[0])
                    continue;
                nonempty++;
                for (size_t w = 0; w + 1 < nw; w += 2) {
                    if (strcmp(l[j].name, want[w]) == 0 && strcmp(l[j].value, want[w + 1]) == 0)
                        match++;
                }
            }
            if (match == nw / 2 && nonempty == nw / 2)
                return s->value;
        }
    }
    fail_msg("no %s with the %zu labels asked", family, nw / 2);
    return NAN;
}

static size_t count_of(const struct km_mset *m, const char *family)
{
    for (size_t f = 0; f < m->nfam; f++) {
        if (strcmp(m->fam[f].name, family) == 0)
            return m->fam[f].count;
    }
    return 0;
}

#define POD                                                                                        \
    "namespace", "shop", "pod", "web-7d9f8c6b5-x2x9k", "uid",                                      \
        "8f1c2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b", "cluster", "c1"

static void test_pod(void **state)
{
    struct env e;
    json_t *j = fixture("pod.json");

    (void)state;
    env_init(&e, &km_kind_pods);
    assert_int_equal(km_kstore_upsert(e.s, &e.p, j), 0);
    env_emit(&e, "c1");
    assert_true(value_of(&e.m, "kube_pod_info", POD, "host_ip", "10.0.0.11", "pod_ip",
                         "10.244.1.17", "node", "node-1", "created_by_kind", "ReplicaSet",
                         "created_by_name", "web-7d9f8c6b5", "priority_class", "high",
                         "host_network", "false", NULL) == 1);
    assert_true(value_of(&e.m, "kube_pod_owner", POD, "owner_kind", "ReplicaSet", "owner_name",
                         "web-7d9f8c6b5", "owner_is_controller", "true", NULL) == 1);
    assert_true(value_of(&e.m, "kube_pod_labels", POD, "label_app", "web",
                         "label_app_kubernetes_io_name", "web", NULL) == 1);
    assert_true(value_of(&e.m, "kube_pod_annotations", POD,
                         "annotation_kubectl_kubernetes_io_restartedAt", "2024-03-01T09:59:00Z",
                         NULL) == 1);
    assert_true(value_of(&e.m, "kube_pod_created", POD, NULL) == 1709287200);
    assert_true(value_of(&e.m, "kube_pod_start_time", POD, NULL) == 1709287202);
    assert_true(value_of(&e.m, "kube_pod_status_phase", POD, "phase", "Running", NULL) == 1);
    assert_true(value_of(&e.m, "kube_pod_status_phase", POD, "phase", "Pending", NULL) == 0);
    assert_int_equal(count_of(&e.m, "kube_pod_status_phase"), 5);
    assert_true(value_of(&e.m, "kube_pod_status_ready", POD, "condition", "false", NULL) == 1);
    assert_true(value_of(&e.m, "kube_pod_status_ready", POD, "condition", "true", NULL) == 0);
    assert_true(value_of(&e.m, "kube_pod_status_scheduled", POD, "condition", "true", NULL) == 1);
    assert_true(value_of(&e.m, "kube_pod_status_reason", POD, "reason", "Evicted", NULL) == 0);
    assert_int_equal(count_of(&e.m, "kube_pod_status_reason"), 5);
    assert_true(value_of(&e.m, "kube_pod_container_info", POD, "container", "web", "image_spec",
                         "registry.example/web:1.2", "image", "registry.example/web:1.2",
                         "image_id", "registry.example/web@sha256:2222", "container_id",
                         "containerd://bbbb", NULL) == 1);
    assert_true(value_of(&e.m, "kube_pod_container_status_restarts_total", POD, "container", "web",
                         NULL) == 40);
    assert_true(value_of(&e.m, "kube_pod_container_status_waiting_reason", POD, "container", "web",
                         "reason", "CrashLoopBackOff", NULL) == 1);
    assert_int_equal(count_of(&e.m, "kube_pod_container_status_waiting_reason"), 1);
    assert_true(value_of(&e.m, "kube_pod_container_status_last_terminated_reason", POD, "container",
                         "web", "reason", "OOMKilled", NULL) == 1);
    assert_true(
        value_of(&e.m, "kube_pod_container_status_waiting", POD, "container", "web", NULL) == 1);
    assert_true(value_of(&e.m, "kube_pod_container_status_running", POD, "container", "sidecar",
                         NULL) == 1);
    assert_true(
        value_of(&e.m, "kube_pod_container_status_ready", POD, "container", "sidecar", NULL) == 1);
    assert_true(value_of(&e.m, "kube_pod_container_resource_requests", POD, "container", "web",
                         "node", "node-1", "resource", "cpu", "unit", "core", NULL) == 0.25);
    assert_true(value_of(&e.m, "kube_pod_container_resource_requests", POD, "container", "web",
                         "node", "node-1", "resource", "memory", "unit", "byte",
                         NULL) == 134217728);
    assert_true(value_of(&e.m, "kube_pod_container_resource_requests", POD, "container", "web",
                         "node", "node-1", "resource", "ephemeral_storage", "unit", "byte",
                         NULL) == 1073741824);
    assert_true(value_of(&e.m, "kube_pod_container_resource_limits", POD, "container", "web",
                         "node", "node-1", "resource", "memory", "unit", "byte",
                         NULL) == 1610612736);
    assert_true(value_of(&e.m, "kube_pod_container_resource_limits", POD, "container", "web",
                         "node", "node-1", "resource", "nvidia_com_gpu", "unit", "integer",
                         NULL) == 1);
    assert_true(value_of(&e.m, "kube_pod_container_resource_requests", POD, "container", "sidecar",
                         "node", "node-1", "resource", "memory", "unit", "byte",
                         NULL) == 129000000);
    assert_true(value_of(&e.m, "kube_pod_init_container_status_terminated_reason", POD, "container",
                         "migrate", "reason", "Completed", NULL) == 1);
    assert_true(value_of(&e.m, "kube_pod_init_container_resource_requests", POD, "container",
                         "migrate", "node", "node-1", "resource", "cpu", "unit", "core",
                         NULL) == 0.05);
    assert_int_equal(count_of(&e.m, "kube_pod_init_container_info"), 1);
    assert_true(value_of(&e.m, "kube_pod_status_reason", POD, "reason", "Evicted", NULL) == 0);
    json_decref(j);
    env_fini(&e);
}

#define NODE "node", "node-1"

static void test_node(void **state)
{
    struct env e;
    json_t *j = fixture("node.json");

    (void)state;
    env_init(&e, &km_kind_nodes);
    assert_int_equal(km_kstore_upsert(e.s, &e.p, j), 0);
    env_emit(&e, NULL);
    assert_true(value_of(&e.m, "kube_node_info", NODE, "kernel_version", "6.1.0-18-amd64",
                         "os_image", "Debian GNU/Linux 12 (bookworm)", "container_runtime_version",
                         "containerd://1.7.13", "kubelet_version", "v1.29.2", "kubeproxy_version",
                         "v1.29.2", "provider_id", "aws:///eu-1a/i-0123", "pod_cidr",
                         "10.244.1.0/24", "system_uuid", "ec2a-1234", "internal_ip", "10.0.0.11",
                         NULL) == 1);
    assert_true(value_of(&e.m, "kube_node_spec_unschedulable", NODE, NULL) == 1);
    assert_true(value_of(&e.m, "kube_node_role", NODE, "role", "control-plane", NULL) == 1);
    assert_true(value_of(&e.m, "kube_node_spec_taint", NODE, "key", "dedicated", "value", "gpu",
                         "effect", "NoExecute", NULL) == 1);
    assert_true(value_of(&e.m, "kube_node_spec_taint", NODE, "key",
                         "node.kubernetes.io/unschedulable", "effect", "NoSchedule", NULL) == 1);
    assert_true(value_of(&e.m, "kube_node_status_condition", NODE, "condition", "Ready", "status",
                         "unknown", NULL) == 1);
    assert_true(value_of(&e.m, "kube_node_status_condition", NODE, "condition", "Ready", "status",
                         "true", NULL) == 0);
    assert_int_equal(count_of(&e.m, "kube_node_status_condition"), 12);
    assert_true(value_of(&e.m, "kube_node_status_capacity", NODE, "resource", "memory", "unit",
                         "byte", NULL) == 16393244.0 * 1024);
    assert_true(value_of(&e.m, "kube_node_status_allocatable", NODE, "resource", "cpu", "unit",
                         "core", NULL) == 3.92);
    assert_true(value_of(&e.m, "kube_node_status_allocatable", NODE, "resource", "pods", "unit",
                         "integer", NULL) == 110);
    assert_true(value_of(&e.m, "kube_node_status_capacity", NODE, "resource", "hugepages_2Mi",
                         "unit", "byte", NULL) == 0);
    assert_int_equal(count_of(&e.m, "kube_node_labels"), 0); /* nodes not in the allowlist */
    json_decref(j);
    env_fini(&e);
}

#define DEP "namespace", "shop", "deployment", "web"

static void test_workloads(void **state)
{
    struct env e;
    json_t *d = fixture("deployment.json"), *rs = fixture("replicaset.json"),
           *ns = fixture("namespace.json");

    (void)state;
    env_init(&e, &km_kind_deployments);
    assert_int_equal(km_kstore_upsert(e.s, &e.p, d), 0);
    env_emit(&e, NULL);
    assert_true(value_of(&e.m, "kube_deployment_spec_replicas", DEP, NULL) == 3);
    assert_true(value_of(&e.m, "kube_deployment_status_replicas_available", DEP, NULL) == 1);
    assert_true(value_of(&e.m, "kube_deployment_status_replicas_unavailable", DEP, NULL) == 2);
    assert_true(value_of(&e.m, "kube_deployment_status_replicas_updated", DEP, NULL) == 2);
    assert_true(value_of(&e.m, "kube_deployment_status_replicas_ready", DEP, NULL) == 1);
    assert_true(value_of(&e.m, "kube_deployment_status_observed_generation", DEP, NULL) == 6);
    assert_true(value_of(&e.m, "kube_deployment_metadata_generation", DEP, NULL) == 7);
    assert_true(value_of(&e.m, "kube_deployment_spec_paused", DEP, NULL) == 0);
    assert_true(value_of(&e.m, "kube_deployment_status_condition", DEP, "reason",
                         "MinimumReplicasUnavailable", "condition", "Available", "status", "false",
                         NULL) == 1);
    assert_true(value_of(&e.m, "kube_deployment_spec_strategy_rollingupdate_max_unavailable", DEP,
                         NULL) == 0);
    assert_true(
        value_of(&e.m, "kube_deployment_spec_strategy_rollingupdate_max_surge", DEP, NULL) == 1);
    assert_true(value_of(&e.m, "kube_deployment_labels", DEP, "label_app", "web", NULL) == 1);
    json_decref(d);
    env_fini(&e);

    env_init(&e, &km_kind_replicasets);
    assert_int_equal(km_kstore_upsert(e.s, &e.p, rs), 0);
    env_emit(&e, NULL);
    assert_true(value_of(&e.m, "kube_replicaset_owner", "namespace", "shop", "replicaset",
                         "web-7d9f8c6b5", "owner_kind", "Deployment", "owner_name", "web",
                         "owner_is_controller", "true", NULL) == 1);
    assert_true(value_of(&e.m, "kube_replicaset_status_ready_replicas", "namespace", "shop",
                         "replicaset", "web-7d9f8c6b5", NULL) == 1);
    json_decref(rs);
    env_fini(&e);

    env_init(&e, &km_kind_namespaces);
    assert_int_equal(km_kstore_upsert(e.s, &e.p, ns), 0);
    env_emit(&e, NULL);
    assert_true(value_of(&e.m, "kube_namespace_status_phase", "namespace", "shop", "phase",
                         "Terminating", NULL) == 1);
    assert_true(value_of(&e.m, "kube_namespace_status_phase", "namespace", "shop", "phase",
                         "Active", NULL) == 0);
    assert_true(value_of(&e.m, "kube_namespace_labels", "namespace", "shop",
                         "label_kubernetes_io_metadata_name", "shop", "label_team", "payments",
                         NULL) == 1);
    json_decref(ns);
    env_fini(&e);
}

static json_t *parse_json(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);

    if (!j)
        fail_msg("bad test JSON: %s", je.text);
    return j;
}

#define JOB "namespace", "b", "job_name", "j"

static void test_batch_and_quota(void **state)
{
    struct env e;
    json_t *job =
        parse_json("{\"metadata\":{\"name\":\"j\",\"namespace\":\"b\",\"uid\":\"j1\"},"
                   "\"spec\":{\"parallelism\":1,\"completions\":null},\"status\":{\"failed\":6,"
                   "\"conditions\":[{\"type\":\"Failed\",\"status\":\"True\",\"reason\":"
                   "\"BackoffLimitExceeded\"}]}}");
    json_t *quota =
        parse_json("{\"metadata\":{\"name\":\"q\",\"namespace\":\"b\",\"uid\":\"q1\"},"
                   "\"status\":{\"hard\":{\"requests.cpu\":\"4\",\"requests.memory\":\"8Gi\","
                   "\"count/pods\":\"10\"},\"used\":{\"requests.cpu\":\"1500m\",\"count/pods\":"
                   "\"bad\"}}}");

    (void)state;
    env_init(&e, &km_kind_jobs);
    assert_int_equal(km_kstore_upsert(e.s, &e.p, job), 0);
    env_emit(&e, NULL);
    assert_true(
        value_of(&e.m, "kube_job_status_failed", JOB, "reason", "BackoffLimitExceeded", NULL) == 1);
    assert_true(value_of(&e.m, "kube_job_status_failed", JOB, "reason", "Evicted", NULL) == 0);
    assert_true(value_of(&e.m, "kube_job_failed", JOB, "condition", "true", NULL) == 1);
    assert_true(value_of(&e.m, "kube_job_spec_parallelism", JOB, NULL) == 1);
    assert_int_equal(count_of(&e.m, "kube_job_spec_completions"), 0); /* null */
    assert_true(value_of(&e.m, "kube_job_owner", JOB, NULL) == 1);
    env_fini(&e);

    env_init(&e, &km_kind_resourcequotas);
    assert_int_equal(km_kstore_upsert(e.s, &e.p, quota), 0);
    env_emit(&e, NULL);
    assert_true(value_of(&e.m, "kube_resourcequota", "namespace", "b", "resourcequota", "q",
                         "resource", "requests.memory", "type", "hard", NULL) == 8589934592.0);
    assert_true(value_of(&e.m, "kube_resourcequota", "namespace", "b", "resourcequota", "q",
                         "resource", "requests.cpu", "type", "used", NULL) == 1.5);
    assert_int_equal(count_of(&e.m, "kube_resourcequota"), 4); /* "bad" skipped */
    env_fini(&e);
    json_decref(job);
    json_decref(quota);
}

/* A pod object with this uid and name. */
static json_t *pod(const char *uid, const char *name, const char *phase)
{
    return json_pack("{s:{s:s,s:s,s:s},s:{s:s}}", "metadata", "uid", uid, "name", name, "namespace",
                     "ns", "status", "phase", phase);
}

static void test_relist(void **state)
{
    struct env e;
    json_t *a = pod("a", "pa", "Running"), *b = pod("b", "pb", "Running"),
           *c = pod("c", "pc", "Pending"), *c2 = pod("c", "pc", "Running"),
           *bad = json_pack("{s:{s:s}}", "metadata", "name", "no-uid");

    (void)state;
    env_init(&e, &km_kind_pods);
    assert_int_equal(km_kstore_upsert(e.s, &e.p, a), 0);
    assert_int_equal(km_kstore_upsert(e.s, &e.p, b), 0);
    assert_int_equal(km_kstore_upsert(e.s, &e.p, c), 0);
    assert_int_equal(km_kstore_upsert(e.s, &e.p, a), 0); /* MODIFIED: no duplicate */
    assert_int_equal(km_kstore_count(e.s), 3);
    assert_int_equal(km_kstore_upsert(e.s, &e.p, bad), KM_EINVAL);
    assert_int_equal(km_kstore_count(e.s), 3);
    /* A relist (after 410 Gone) that no longer contains b, with c changed. */
    km_kstore_relist_begin(e.s);
    assert_int_equal(km_kstore_upsert(e.s, &e.p, c2), 0);
    assert_int_equal(km_kstore_upsert(e.s, &e.p, a), 0);
    assert_int_equal(km_kstore_count(e.s), 3); /* until the list completes, b stays */
    assert_int_equal(km_kstore_relist_end(e.s), 1);
    assert_int_equal(km_kstore_count(e.s), 2);
    env_emit(&e, NULL);
    assert_int_equal(count_of(&e.m, "kube_pod_info"), 2);
    assert_true(value_of(&e.m, "kube_pod_owner", "namespace", "ns", "pod", "pc", "uid", "c",
                         NULL) == 1); /* no owner: KSM's empty owner labels */
    assert_true(value_of(&e.m, "kube_pod_status_reason", "namespace", "ns", "pod", "pc", "uid", "c",
                         "reason", "Evicted", NULL) == 0);
    assert_true(value_of(&e.m, "kube_pod_status_phase", "namespace", "ns", "pod", "pc", "uid", "c",
                         "phase", "Running", NULL) == 1);
    /* A relist restarted half way (an expired continue token) keeps what it saw. */
    km_kstore_relist_begin(e.s);
    assert_int_equal(km_kstore_upsert(e.s, &e.p, a), 0);
    km_kstore_relist_begin(e.s);
    assert_int_equal(km_kstore_upsert(e.s, &e.p, a), 0);
    assert_int_equal(km_kstore_upsert(e.s, &e.p, c2), 0);
    assert_int_equal(km_kstore_relist_end(e.s), 0);
    km_kstore_delete(e.s, c2);
    km_kstore_delete(e.s, c2); /* twice: nothing */
    assert_int_equal(km_kstore_count(e.s), 1);
    /* Many objects: the table grows. */
    for (int i = 0; i < 3000; i++) {
        char uid[32];
        json_t *p;

        snprintf(uid, sizeof(uid), "u%d", i);
        p = pod(uid, uid, "Running");
        assert_int_equal(km_kstore_upsert(e.s, &e.p, p), 0);
        json_decref(p);
    }
    assert_int_equal(km_kstore_count(e.s), 3001);
    km_kstore_relist_begin(e.s);
    assert_int_equal(km_kstore_relist_end(e.s), 3001); /* an empty list empties the store */
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(c2);
    json_decref(bad);
    env_fini(&e);
}

/* Samples whose `label` is `value`: the stale markers (families flagged KM_MF_SHIP_ONLY,
 * each a stale NaN) when `stale`, else the ordinary ones. */
static size_t samples_with(const struct km_mset *m, bool stale, const char *label,
                           const char *value)
{
    size_t n = 0;

    for (size_t f = 0; f < m->nfam; f++) {
        if (!!(m->fam[f].flags & KM_MF_SHIP_ONLY) != stale)
            continue;
        for (uint32_t i = m->fam[f].first; i != KM_MSET_END; i = m->smp[i].next) {
            const struct km_label *l = km_mset_labels(m, &m->smp[i]);
            uint64_t bits;

            memcpy(&bits, &m->smp[i].value, sizeof(bits));
            if (stale)
                assert_true(bits == KM_STALE_NAN_BITS);
            for (uint32_t j = 0; j < m->smp[i].nlabels; j++)
                n += strcmp(l[j].name, label) == 0 && strcmp(l[j].value, value) == 0;
        }
    }
    return n;
}

static void test_stale_markers(void **state)
{
    struct env e;
    json_t *web = fixture("pod.json"), *a = pod("a", "pa", "Running"),
           *b = pod("b", "pb", "Running"), *a2 = pod("a", "pa", "Pending"), *ctr;
    size_t web_series, b_series;

    (void)state;
    env_init(&e, &km_kind_pods);
    assert_int_equal(km_kstore_upsert(e.s, &e.p, web), 0);
    assert_int_equal(km_kstore_upsert(e.s, &e.p, a), 0);
    assert_int_equal(km_kstore_upsert(e.s, &e.p, b), 0);
    env_emit(&e, NULL);
    web_series = samples_with(&e.m, false, "pod", "web-7d9f8c6b5-x2x9k");
    b_series = samples_with(&e.m, false, "pod", "pb");
    assert_true(web_series > 20 && b_series > 5);
    assert_int_equal(samples_with(&e.m, true, "pod", "pb"), 0);
    /* The same objects again (a watch replays them): no marker. */
    assert_int_equal(km_kstore_upsert(e.s, &e.p, web), 0);
    assert_int_equal(km_kstore_upsert(e.s, &e.p, a), 0);
    env_emit(&e, NULL);
    assert_int_equal(e.m.nsmp, 2 * b_series + web_series);
    /* The crash-looping container now runs, a goes Pending (same series, other values), b
     * is deleted: b's series end, and of web only the waiting reason's. */
    ctr = json_array_get(json_object_get(json_object_get(web, "status"), "containerStatuses"), 0);
    json_object_set_new(ctr, "state",
                        json_pack("{s:{s:s}}", "running", "startedAt", "2024-03-01T10:00:00Z"));
    assert_int_equal(km_kstore_upsert(e.s, &e.p, web), 0);
    assert_int_equal(km_kstore_upsert(e.s, &e.p, a2), 0);
    assert_int_equal(km_kstore_upsert(e.s, &e.p, a), 0); /* changed twice: the first counts */
    assert_int_equal(km_kstore_upsert(e.s, &e.p, a2), 0);
    km_kstore_delete(e.s, b);
    env_emit(&e, NULL);
    assert_int_equal(samples_with(&e.m, true, "pod", "pb"), b_series);
    assert_int_equal(samples_with(&e.m, true, "pod", "pa"), 0);
    assert_int_equal(samples_with(&e.m, true, "pod", "web-7d9f8c6b5-x2x9k"), 1);
    assert_int_equal(samples_with(&e.m, true, "reason", "CrashLoopBackOff"), 1);
    assert_int_equal(samples_with(&e.m, false, "pod", "pb"), 0);
    /* Markers are written once. */
    env_emit(&e, NULL);
    assert_int_equal(samples_with(&e.m, true, "pod", "pb"), 0);
    /* A replica that stops leading forgets: a deletion then writes no marker, and what it
     * emits next is the start again. */
    km_kstore_delete(e.s, a2);
    km_kstore_forget(e.s);
    env_emit(&e, NULL);
    assert_int_equal(samples_with(&e.m, true, "pod", "pa"), 0);
    assert_int_equal(samples_with(&e.m, false, "pod", "pa"), 0);
    km_kstore_delete(e.s, web);
    env_emit(&e, NULL);
    assert_int_equal(samples_with(&e.m, true, "pod", "web-7d9f8c6b5-x2x9k"), web_series - 1);
    json_decref(web);
    json_decref(a);
    json_decref(a2);
    json_decref(b);
    env_fini(&e);
}

/* A Deployment deleted and created again under the same name in one interval: the new
 * object keeps the series its labels share with the old one (no uid in them), so only
 * what differs is marked. */
static void test_stale_markers_twins(void **state)
{
    struct env e;
    json_t *d1 = json_pack("{s:{s:s,s:s,s:s},s:{s:i},s:{}}", "metadata", "uid", "d1", "name", "web",
                           "namespace", "shop", "spec", "replicas", 3, "status"),
           *d2 = json_pack("{s:{s:s,s:s,s:s},s:{s:i},s:{}}", "metadata", "uid", "d2", "name", "web",
                           "namespace", "shop", "spec", "replicas", 5, "status");

    (void)state;
    env_init(&e, &km_kind_deployments);
    assert_int_equal(km_kstore_upsert(e.s, &e.p, d1), 0);
    env_emit(&e, NULL);
    assert_true(value_of(&e.m, "kube_deployment_spec_replicas", "namespace", "shop", "deployment",
                         "web", NULL) == 3);
    km_kstore_delete(e.s, d1);
    assert_int_equal(km_kstore_upsert(e.s, &e.p, d2), 0);
    env_emit(&e, NULL);
    assert_true(value_of(&e.m, "kube_deployment_spec_replicas", "namespace", "shop", "deployment",
                         "web", NULL) == 5);
    assert_int_equal(samples_with(&e.m, true, "deployment", "web"), 0);
    json_decref(d1);
    json_decref(d2);
    env_fini(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantity),      cmocka_unit_test(test_allowlist),
        cmocka_unit_test(test_intern),        cmocka_unit_test(test_pod),
        cmocka_unit_test(test_node),          cmocka_unit_test(test_workloads),
        cmocka_unit_test(test_relist),        cmocka_unit_test(test_batch_and_quota),
        cmocka_unit_test(test_stale_markers), cmocka_unit_test(test_stale_markers_twins),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
