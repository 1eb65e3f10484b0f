/*
 * test_ingest_cluster — ingest's per-cluster side: the cluster table (bounded, entries
 * stable, budgets taken all or none with Retry-After, series caps, the recount from a
 * real TSDB), km_ingest_bind_cluster, and the write token's cluster binding on every
 * ingest path (remote_write, the JSON endpoints, Loki push) through a real HTTP server:
 * its test authorize callback attaches a write identity bound to the cluster named in
 * the request's X-Test-Cluster header, as the --tokens gate does for a write token.
 */
#include "common/err.h"
#include "common/http_server.h"
#include "common/labels.h"
#include "common/timefmt.h"
#include "logs/logstore.h"
#include "remote/rw_codec.h"
#include "server/auth/auth.h"
#include "server/ingest.h"
#include "server/ingest_cluster.h"
#include "server/logs_api.h"
#include "storage/storage.h"
#include "tsdb/tsdb.h"
#include "tsdb/tsdb_storage.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];

static int setup(void **state)
{
    char cmd[300];

    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/kmon-test-ingest-cluster-%d", (int)getpid());
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return -1;
    return 0;
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
    if (km_tsdb_storage_open(&s, &o) != 0)
        fail_msg("open: %s", km_err_msg());
    return s;
}

/* ---- the table ------------------------------------------------------------------------ */

static void test_slots_bounded(void **state)
{
    struct km_clusters_opts o = { .max_clusters = 3 };
    struct km_clusters *c;

    (void)state;
    assert_int_equal(km_clusters_create(&c, &o), 0);
    assert_int_equal(km_clusters_slot(c, "a", 1), 0);
    assert_int_equal(km_clusters_slot(c, "b", 1), 1);
    assert_int_equal(km_clusters_slot(c, "", 0), 2);
    /* Full: later clusters share one entry. */
    assert_int_equal(km_clusters_slot(c, "d", 1), 3);
    assert_int_equal(km_clusters_slot(c, "e", 1), 3);
    assert_string_equal(km_clusters_name(c, 3), KM_CLUSTER_OTHER);
    /* Known names keep their entry; a prefix is another name. */
    assert_int_equal(km_clusters_slot(c, "b", 1), 1);
    assert_int_equal(km_clusters_slot(c, "ab", 1), 0);
    assert_string_equal(km_clusters_name(c, 1), "b");
    assert_string_equal(km_clusters_name(c, 2), "");
    km_clusters_destroy(c);
}

static void test_budgets(void **state)
{
    struct km_clusters_opts o = { .max_samples_per_s = 100, .max_log_bytes_per_s = 0 };
    struct km_clusters *c;
    struct km_cluster_use u[4];
    size_t nu = 0, over = 99;
    int64_t retry = 0;
    uint32_t a, b, big;

    (void)state;
    assert_int_equal(km_clusters_create(&c, &o), 0);
    a = km_clusters_slot(c, "a", 1);
    b = km_clusters_slot(c, "b", 1);
    big = km_clusters_slot(c, "big", 3);
    /* A full bucket holds one second's worth. */
    assert_true(km_clusters_take(c, KM_CLUSTER_SAMPLES, &(struct km_cluster_use){ a, 60, 0 }, 1,
                                 &over, &retry));
    assert_false(km_clusters_take(c, KM_CLUSTER_SAMPLES, &(struct km_cluster_use){ a, 60, 0 }, 1,
                                  &over, &retry));
    assert_int_equal(over, 0);
    assert_int_equal(retry, 1);
    /* Another cluster has its own bucket. */
    assert_true(km_clusters_take(c, KM_CLUSTER_SAMPLES, &(struct km_cluster_use){ b, 60, 0 }, 1,
                                 &over, &retry));
    /* All or none: b's 30 fit, a's 50 do not; nothing is taken from b. */
    assert_true(km_cluster_use_add(u, &nu, 4, b, 20, 0));
    assert_true(km_cluster_use_add(u, &nu, 4, a, 50, 0));
    assert_true(km_cluster_use_add(u, &nu, 4, b, 10, 0)); /* merged with b's */
    assert_int_equal(nu, 2);
    assert_int_equal(u[0].n, 30);
    assert_false(km_clusters_take(c, KM_CLUSTER_SAMPLES, u, nu, &over, &retry));
    assert_int_equal(over, 1);
    assert_true(km_clusters_take(c, KM_CLUSTER_SAMPLES, &(struct km_cluster_use){ b, 39, 0 }, 1,
                                 &over, &retry));
    /* A request larger than the burst passes on a full bucket, which then owes it. */
    assert_true(km_clusters_take(c, KM_CLUSTER_SAMPLES, &(struct km_cluster_use){ big, 500, 0 }, 1,
                                 &over, &retry));
    assert_false(km_clusters_take(c, KM_CLUSTER_SAMPLES, &(struct km_cluster_use){ big, 1, 0 }, 1,
                                  &over, &retry));
    assert_true(retry >= 4 && retry <= 5);
    /* No cap on log bytes: everything passes. */
    assert_true(km_clusters_take(c, KM_CLUSTER_LOG_BYTES,
                                 &(struct km_cluster_use){ a, 1u << 30, 0 }, 1, &over, &retry));
    /* The use list is bounded. */
    nu = 0;
    for (uint32_t i = 0; i < 4; i++)
        assert_true(km_cluster_use_add(u, &nu, 4, i, 1, 0));
    assert_false(km_cluster_use_add(u, &nu, 4, 7, 1, 0));
    km_clusters_destroy(c);
}

static void add_series(struct km_storage *s, const char *name, const char *cluster, int64_t t)
{
    struct km_label l[3] = { { "__name__", name } };
    size_t n = 1;
    struct km_sample smp;
    struct km_append_result res;
    enum km_sample_status st;

    if (cluster)
        l[n++] = (struct km_label){ "cluster", cluster };
    l[n++] = (struct km_label){ "job", "j" };
    smp = (struct km_sample){ l, n, t, 1 };
    assert_int_equal(km_storage_append(s, &smp, 1, &st, &res), 0);
    assert_int_equal(st, KM_SAMPLE_APPENDED);
}

static void test_series_caps_and_recount(void **state)
{
    struct km_clusters_opts o = { .max_series = 2 };
    struct km_storage *s = open_store();
    int64_t now = km_time_now_ns() / 1000000;
    struct km_clusters *c;
    uint32_t a, b, none;
    size_t over = 9;

    (void)state;
    assert_int_equal(km_clusters_create(&c, &o), 0);
    a = km_clusters_slot(c, "a", 1);
    b = km_clusters_slot(c, "b", 1);
    km_clusters_created(c, a, 2);
    assert_int_equal(km_clusters_series(c, a), 2);
    assert_false(km_clusters_series_fit(c, &(struct km_cluster_use){ a, 1, 1 }, 1, &over));
    assert_int_equal(over, 0);
    /* Samples of existing series (no new ones) fit at the cap. */
    assert_true(km_clusters_series_fit(c, &(struct km_cluster_use){ a, 5, 0 }, 1, &over));
    assert_true(km_clusters_series_fit(c, &(struct km_cluster_use){ b, 2, 2 }, 1, &over));
    /* The recount makes the store's figures the table's: a has 1 series (the other
     * creation counted never reached the store), b 3, no cluster 2. */
    add_series(s, "m1", "a", now);
    add_series(s, "m1", "b", now);
    add_series(s, "m2", "b", now);
    add_series(s, "m3", "b", now);
    add_series(s, "m1", NULL, now);
    add_series(s, "m2", NULL, now);
    /* The server's own figures about clusters (its self-scrape) are not their data. */
    add_series(s, "kmon_cluster_series", "a", now);
    /* Outside the head's span: not counted. */
    add_series(s, "old", "a", now - 7200 * 1000);
    assert_int_equal(km_clusters_reconcile(c, s, now - 3600 * 1000, INT64_MAX), 0);
    none = km_clusters_slot(c, "", 0);
    assert_int_equal(km_clusters_series(c, a), 1);
    assert_int_equal(km_clusters_series(c, b), 3);
    assert_int_equal(km_clusters_series(c, none), 2);
    /* Creations after the recount add to it. */
    km_clusters_created(c, a, 1);
    assert_int_equal(km_clusters_series(c, a), 2);
    assert_false(km_clusters_series_fit(c, &(struct km_cluster_use){ b, 1, 1 }, 1, &over));
    km_clusters_destroy(c);
    km_storage_close(s);
}

/* ---- km_ingest_bind_cluster --------------------------------------------------------------- */

static void test_bind_helper(void **state)
{
    struct km_label l[4] = { { "__name__", "up" }, { "job", "x" } };
    size_t n = 2;

    (void)state;
    assert_int_equal(km_ingest_bind_cluster(l, &n, 4, NULL), 0);
    assert_int_equal(n, 2);
    /* Inserted in order. */
    assert_int_equal(km_ingest_bind_cluster(l, &n, 4, "A"), 0);
    assert_int_equal(n, 3);
    assert_string_equal(l[1].name, "cluster");
    assert_string_equal(l[1].value, "A");
    assert_string_equal(l[2].name, "job");
    /* Replaced. */
    assert_int_equal(km_ingest_bind_cluster(l, &n, 4, "B"), 0);
    assert_int_equal(n, 3);
    assert_string_equal(l[1].value, "B");
    /* At the end. */
    n = 1;
    assert_int_equal(km_ingest_bind_cluster(l, &n, 2, "A"), 0);
    assert_int_equal(n, 2);
    assert_string_equal(l[1].name, "cluster");
    /* No room. */
    l[1] = (struct km_label){ "job", "x" };
    assert_int_equal(km_ingest_bind_cluster(l, &n, 2, "A"), KM_ELIMIT);
}

/* ---- the binding on every ingest path ---------------------------------------------------- */

static bool test_authorize(struct km_http_req *r, unsigned flags, void *ud)
{
    const char *cluster = km_http_req_header(r, "X-Test-Cluster");
    struct km_auth_id *id;

    (void)flags;
    (void)ud;
    if (!cluster)
        return true;
    id = calloc(1, sizeof(*id));
    assert_non_null(id);
    id->name = strdup("test-writer");
    id->scope = KM_AUTH_WRITE;
    id->cluster = strdup(cluster);
    km_http_req_set_auth(r, id, km_auth_id_free);
    return true;
}

static size_t sink(char *data, size_t size, size_t n, void *ud)
{
    (void)data;
    (void)ud;
    return size * n;
}

static long post(uint16_t port, const char *path, const char *bound, const char *const *headers,
                 const void *body, size_t len)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char url[256], hb[128];
    long status = 0;

    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", (unsigned)port, path);
    for (size_t i = 0; headers && headers[i]; i++)
        h = curl_slist_append(h, headers[i]);
    if (bound) {
        snprintf(hb, sizeof(hb), "X-Test-Cluster: %s", bound);
        h = curl_slist_append(h, hb);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

/* POST one remote_write series (labels sorted) with one sample. */
static long post_rw(uint16_t port, const char *bound, const struct km_label *l, size_t n, int64_t t)
{
    static const char *const hdrs[] = { "Content-Encoding: snappy",
                                        "Content-Type: application/x-protobuf", NULL };
    double v = 1;
    struct km_rw_ts ts = { l, n, &t, &v, 1 };
    struct km_buf raw, body;
    long st;

    km_buf_init(&raw, 0);
    km_buf_init(&body, 0);
    assert_int_equal(km_rw_encode(&raw, &ts, 1), 0);
    assert_int_equal(km_rw_compress(&body, raw.data, raw.len), 0);
    st = post(port, "/api/v1/write", bound, hdrs, body.data, body.len);
    km_buf_fini(&raw);
    km_buf_fini(&body);
    return st;
}

/* Samples of the series matching cluster=`cluster` and __name__=`name` (-1: no such
 * series); *nseries gets how many series matched. */
static int samples_of(struct km_storage *s, const char *name, const char *cluster, int *nseries)
{
    struct km_matcher *m[2];
    struct km_querier *q;
    struct km_series_set *set;
    struct km_sample_batch b;
    int n = -1;

    *nseries = 0;
    assert_int_equal(km_matcher_create(&m[0], KM_MATCH_EQ, "__name__", name), 0);
    assert_int_equal(km_matcher_create(&m[1], KM_MATCH_EQ, "cluster", cluster), 0);
    assert_int_equal(km_querier_open(s, 0, INT64_MAX, &q), 0);
    assert_int_equal(km_querier_select(q, m, 2, NULL, &set), 0);
    while (km_series_next(set)) {
        (*nseries)++;
        n = n < 0 ? 0 : n;
        while (km_series_batch(set, &b))
            n += (int)b.n;
    }
    km_series_set_close(set);
    km_querier_close(q);
    km_matcher_destroy(m[0]);
    km_matcher_destroy(m[1]);
    return n;
}

struct strs {
    char v[8][32];
    int n;
};

static int collect(void *ud, const char *s)
{
    struct strs *x = ud;

    if (x->n < 8)
        snprintf(x->v[x->n++], sizeof(x->v[0]), "%s", s);
    return 0;
}

static void test_binding_every_path(void **state)
{
    struct km_storage *store = open_store();
    struct km_ingest_opts io = { .max_decoded_bytes = 1 << 20,
                                 .series_cache_bytes = 1 << 20,
                                 .max_label_value_bytes = 1024 };
    struct km_logs_api_opts lo = { .max_decoded_bytes = 1 << 20 };
    struct km_http_opts ho = {
        .listen = "127.0.0.1:0", .name = "test", .max_body = 1 << 20, .authorize = test_authorize
    };
    const struct km_http_route routes[] = {
        { "POST", "/api/v1/write", km_ingest_remote_write, KM_ROUTE_WRITE },
        { "POST", "/api/nodes/<node>/metrics", km_ingest_node_json, KM_ROUTE_WRITE },
    };
    struct km_logstore_opts so = { 0 };
    struct km_logstore *logs;
    struct km_logs_api *api;
    struct km_ingest *in;
    struct km_http_server *http;
    struct km_log_source src;
    struct strs got = { 0 };
    char ldir[300], body[512];
    int64_t t = km_time_now_ns() / 1000000;
    const struct km_label sent_b[] = { { "__name__", "up" }, { "cluster", "b" }, { "job", "x" } };
    const struct km_label sent_none[] = { { "__name__", "up2" }, { "job", "x" } };
    static const char *const json[] = { "Content-Type: application/json", NULL };
    int nseries;

    (void)state;
    snprintf(ldir, sizeof(ldir), "%s/logs", dir);
    so.dir = ldir;
    assert_int_equal(km_logstore_open(&logs, &so), 0);
    assert_int_equal(km_logs_api_create(&api, &lo), 0);
    km_logs_api_attach(api, logs);
    assert_int_equal(km_ingest_create(&in, store, &io), 0);
    km_logs_api_set_clusters(api, km_ingest_clusters(in));
    assert_int_equal(km_http_server_create(&http, &ho), 0);
    assert_int_equal(km_http_server_add_routes(http, routes, 2, in), 0);
    assert_int_equal(km_http_server_add_routes(http, km_logs_api_routes, km_logs_api_nroutes, api),
                     0);
    km_http_server_set_ready(http, true);
    assert_int_equal(km_http_server_start(http), 0);

    /* remote_write: the same label bytes unbound, bound to A, unbound again; the cache
     * must not give the bound request the unbound series (or the other way round). */
    assert_int_equal(post_rw(km_http_server_port(http), NULL, sent_b, 3, t), 204);
    assert_int_equal(post_rw(km_http_server_port(http), "A", sent_b, 3, t + 1000), 204);
    assert_int_equal(post_rw(km_http_server_port(http), NULL, sent_b, 3, t + 2000), 204);
    assert_int_equal(post_rw(km_http_server_port(http), "A", sent_b, 3, t + 3000), 204);
    assert_int_equal(samples_of(store, "up", "A", &nseries), 2);
    assert_int_equal(nseries, 1);
    assert_int_equal(samples_of(store, "up", "b", &nseries), 2);
    assert_int_equal(nseries, 1);
    /* A series sent without the label gets it. */
    assert_int_equal(post_rw(km_http_server_port(http), "A", sent_none, 2, t), 204);
    assert_int_equal(samples_of(store, "up2", "A", &nseries), 1);

    /* The JSON endpoints: the body's cluster is replaced. */
    snprintf(body, sizeof(body),
             "{\"node_name\": \"n1\", \"cluster\": \"b\", \"cpu_millicores\": 5}");
    assert_int_equal(
        post(km_http_server_port(http), "/api/nodes/n1/metrics", "A", json, body, strlen(body)),
        204);
    assert_int_equal(samples_of(store, "kmon_node_cpu_millicores", "A", &nseries), 1);
    assert_int_equal(samples_of(store, "kmon_node_cpu_millicores", "b", &nseries), -1);

    /* Loki push: a stream sent as cluster b, and one without the label. */
    snprintf(body, sizeof(body),
             "{\"streams\": [{\"stream\": {\"cluster\": \"b\", \"app\": \"l\"}, \"values\": "
             "[[\"%lld\", \"one\"]]}, {\"stream\": {\"app\": \"m\"}, \"values\": [[\"%lld\", "
             "\"two\"]]}]}",
             (long long)t * 1000000, (long long)t * 1000000);
    assert_int_equal(
        post(km_http_server_port(http), "/loki/api/v1/push", "A", json, body, strlen(body)), 204);
    km_logstore_source(logs, &src);
    assert_int_equal(km_log_label_values(&src, "cluster", NULL, 0, (t - 60000) * 1000000,
                                         (t + 60000) * 1000000, collect, &got),
                     0);
    assert_int_equal(got.n, 1);
    assert_string_equal(got.v[0], "A");

    km_http_server_stop(http, 1000);
    km_http_server_destroy(http);
    km_ingest_destroy(in);
    km_logstore_close(logs);
    km_logs_api_destroy(api);
    km_storage_close(store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slots_bounded),
        cmocka_unit_test(test_budgets),
        cmocka_unit_test_setup_teardown(test_series_caps_and_recount, setup, teardown),
        cmocka_unit_test(test_bind_helper),
        cmocka_unit_test_setup_teardown(test_binding_every_path, setup, teardown),
    };

    curl_global_init(CURL_GLOBAL_DEFAULT);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
