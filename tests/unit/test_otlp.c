/*
 * Unit tests: OTLP ingest's pure parts — metric and label names with units as the
 * OpenTelemetry Prometheus-compatibility specification converts them; delta points
 * accumulated into cumulative totals (order, layout changes, the bound); protobuf and
 * JSON bodies of the same request decoding to the same samples; histograms, exponential
 * histograms and summaries as buckets and quantiles; stale markers; resource labels and
 * target_info; malformed bodies refused with their message.
 */
#include "common/err.h"
#include "common/labels.h"
#include "otlp/otlp.h"
#include "otlp/otlp_delta.h"
#include "otlp/otlp_logs.h"
#include "otlp/otlp_prom.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- names ------------------------------------------------------------------------------ */

static void test_metric_names(void **state)
{
    static const struct {
        const char *name, *unit;
        bool counter, gauge;
        const char *want;
    } cases[] = {
        { "http.server.duration", "ms", false, false, "http_server_duration_milliseconds" },
        { "http.requests", "{request}", true, false, "http_requests_total" },
        { "http.requests.total", "", true, false, "http_requests_total" },
        { "process.cpu.time", "s", true, false, "process_cpu_time_seconds_total" },
        { "memory.usage", "By", false, true, "memory_usage_bytes" },
        { "process_memory_bytes", "By", false, true, "process_memory_bytes" },
        { "cpu.utilization", "1", false, true, "cpu_utilization_ratio" },
        { "hits", "1", true, false, "hits_total" },
        { "net.io", "By/s", false, true, "net_io_bytes_per_second" },
        { "speed", "m/s", false, true, "speed_meters_per_second" },
        { "rate", "{packets}/s", false, true, "rate_per_second" },
        { "temp", "Cel", false, true, "temp_celsius" },
        { "odd..name--x", "", false, true, "odd_name_x" },
        { "2xx.count", "", false, true, "_2xx_count" },
        { "q", "widgets", false, true, "q_widgets" },
        { "size", "KiBy", false, true, "size_kibibytes" },
        { "ns:metric", "us", false, true, "ns:metric_microseconds" },
    };
    struct km_arena a;

    (void)state;
    km_otlp_arena_init(&a, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got =
            km_otlp_metric_name(&a, cases[i].name, cases[i].unit, cases[i].counter, cases[i].gauge);

        assert_non_null(got);
        assert_string_equal(got, cases[i].want);
    }
    assert_string_equal(km_otlp_label_name(&a, "k8s.pod.name"), "k8s_pod_name");
    assert_string_equal(km_otlp_label_name(&a, "__name__"), "_name_");
    assert_string_equal(km_otlp_label_name(&a, "9lives"), "key_9lives");
    assert_string_equal(km_otlp_label_name(&a, "http.método"), "http_m_todo");
    km_arena_fini(&a);
}

/* ---- delta → cumulative -----------------------------------------------------------------------
 */

static void test_delta(void **state)
{
    struct km_otlp_delta *d;
    double v[3];

    (void)state;
    assert_int_equal(km_otlp_delta_create(&d, 2), 0);
    v[0] = 5;
    assert_int_equal(km_otlp_delta_add(d, 1, 0, 10, v, 1, 1000), 0);
    assert_true(v[0] == 5);
    v[0] = 3;
    assert_int_equal(km_otlp_delta_add(d, 1, 10, 20, v, 1, 1000), 0);
    assert_true(v[0] == 8);
    /* A repeat (same time) or an older point changes nothing. */
    v[0] = 3;
    assert_int_equal(km_otlp_delta_add(d, 1, 10, 20, v, 1, 1000), KM_EINVAL);
    assert_true(v[0] == 3);
    /* Another series; a histogram's layout (count, sum, buckets). */
    v[0] = 2, v[1] = 1.5, v[2] = 1;
    assert_int_equal(km_otlp_delta_add(d, 2, 0, 10, v, 3, 1000), 0);
    v[0] = 1, v[1] = 0.5, v[2] = 0;
    assert_int_equal(km_otlp_delta_add(d, 2, 10, 20, v, 3, 1000), 0);
    assert_true(v[0] == 3 && v[1] == 2 && v[2] == 1);
    assert_int_equal(km_otlp_delta_series(d), 2);
    /* Full: a third series is refused while the others are fresh... */
    v[0] = 1;
    assert_int_equal(km_otlp_delta_add(d, 3, 0, 10, v, 1, 2000), KM_ELIMIT);
    /* ...and taken once they have been idle for an hour (they are forgotten). */
    assert_int_equal(km_otlp_delta_add(d, 3, 0, 10, v, 1, 1000 + 3600 * 1000 + 1), 0);
    assert_int_equal(km_otlp_delta_series(d), 1);
    /* A new layout for a series starts it again. */
    v[0] = 4, v[1] = 4;
    assert_int_equal(km_otlp_delta_add(d, 3, 10, 20, v, 2, 1000 + 3600 * 1000 + 2), 0);
    assert_true(v[0] == 4 && v[1] == 4);
    km_otlp_delta_destroy(d);
}

/* ---- protobuf built by hand ------------------------------------------------------------------ */

struct pb {
    uint8_t b[8192];
    size_t n;
};

static void pb_varint(struct pb *p, uint64_t v)
{
    while (v >= 0x80) {
        p->b[p->n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p->b[p->n++] = (uint8_t)v;
}

static void pb_bytes(struct pb *p, uint32_t num, const void *s, size_t n)
{
    pb_varint(p, num << 3 | 2);
    pb_varint(p, n);
    memcpy(p->b + p->n, s, n);
    p->n += n;
}

static void pb_str(struct pb *p, uint32_t num, const char *s)
{
    pb_bytes(p, num, s, strlen(s));
}

static void pb_msg(struct pb *p, uint32_t num, const struct pb *m)
{
    pb_bytes(p, num, m->b, m->n);
}

static void pb_fixed64(struct pb *p, uint32_t num, uint64_t v)
{
    pb_varint(p, num << 3 | 1);
    for (int i = 0; i < 8; i++)
        p->b[p->n++] = (uint8_t)(v >> (8 * i));
}

static void pb_double(struct pb *p, uint32_t num, double d)
{
    uint64_t v;

    memcpy(&v, &d, 8);
    pb_fixed64(p, num, v);
}

static void pb_uint(struct pb *p, uint32_t num, uint64_t v)
{
    pb_varint(p, num << 3);
    pb_varint(p, v);
}

static void pb_kv(struct pb *p, uint32_t num, const char *k, const char *v)
{
    struct pb kv = { .n = 0 }, any = { .n = 0 };

    pb_str(&any, 1, v);
    pb_str(&kv, 1, k);
    pb_msg(&kv, 2, &any);
    pb_msg(p, num, &kv);
}

#define T_NS 1700000000123456789ull

/* A request: a resource (service, k8s), a scope, and the metric m. */
static void request(struct pb *out, const struct pb *metric)
{
    struct pb res = { .n = 0 }, scope = { .n = 0 }, sm = { .n = 0 }, rm = { .n = 0 };

    pb_kv(&res, 1, "service.name", "shop");
    pb_kv(&res, 1, "service.namespace", "demo");
    pb_kv(&res, 1, "service.instance.id", "i-1");
    pb_kv(&res, 1, "k8s.namespace.name", "prod");
    pb_kv(&res, 1, "k8s.pod.name", "shop-1");
    pb_kv(&res, 1, "host.arch", "amd64");
    pb_str(&scope, 1, "lib");
    pb_str(&scope, 2, "1.0");
    pb_msg(&sm, 1, &scope);
    pb_msg(&sm, 2, metric);
    pb_msg(&rm, 1, &res);
    pb_msg(&rm, 2, &sm);
    out->n = 0;
    pb_msg(out, 1, &rm);
}

/* A monotonic Sum (temporality t) with one point of value v at time t_ns. */
static void sum_metric(struct pb *m, int temporality, uint64_t start_ns, uint64_t t_ns, int64_t v)
{
    struct pb pt = { .n = 0 }, sum = { .n = 0 };

    pb_kv(&pt, 7, "route", "/a");
    pb_kv(&pt, 7, "http.method", "GET");
    pb_fixed64(&pt, 2, start_ns);
    pb_fixed64(&pt, 3, t_ns);
    pb_fixed64(&pt, 6, (uint64_t)v);
    pb_msg(&sum, 1, &pt);
    pb_uint(&sum, 2, (uint64_t)temporality);
    pb_uint(&sum, 3, 1);
    m->n = 0;
    pb_str(m, 1, "http.requests");
    pb_str(m, 3, "{request}");
    pb_msg(m, 7, &sum);
}

static const char *label(const struct km_sample *s, const char *name)
{
    for (size_t i = 0; i < s->nlabels; i++)
        if (strcmp(s->labels[i].name, name) == 0)
            return s->labels[i].value;
    return NULL;
}

static const struct km_sample *find(const struct km_otlp_samples *s, const char *name,
                                    const char *lname, const char *lvalue)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(label(&s->v[i], "__name__"), name) == 0 &&
            (!lname || (label(&s->v[i], lname) && strcmp(label(&s->v[i], lname), lvalue) == 0)))
            return &s->v[i];
    return NULL;
}

static void map(struct km_otlp_metrics_req *r, struct km_otlp_delta *d, const char *cluster,
                struct km_otlp_samples *out)
{
    struct km_otlp_map_opts o = { .cluster = cluster, .delta = d, .now_ms = 42 };

    memset(out, 0, sizeof(*out));
    assert_int_equal(km_otlp_to_samples(r, &o, out), 0);
    for (size_t i = 0; i < out->n; i++)
        assert_int_equal(km_labels_check(out->v[i].labels, out->v[i].nlabels), 0);
}

static const char JSON_SUM[] =
    "{\"resourceMetrics\":[{\"resource\":{\"attributes\":["
    "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"shop\"}},"
    "{\"key\":\"service.namespace\",\"value\":{\"stringValue\":\"demo\"}},"
    "{\"key\":\"service.instance.id\",\"value\":{\"stringValue\":\"i-1\"}},"
    "{\"key\":\"k8s.namespace.name\",\"value\":{\"stringValue\":\"prod\"}},"
    "{\"key\":\"k8s.pod.name\",\"value\":{\"stringValue\":\"shop-1\"}},"
    "{\"key\":\"host.arch\",\"value\":{\"stringValue\":\"amd64\"}}]},"
    "\"scopeMetrics\":[{\"scope\":{\"name\":\"lib\",\"version\":\"1.0\"},\"metrics\":[{"
    "\"name\":\"http.requests\",\"unit\":\"{request}\",\"sum\":{\"aggregationTemporality\":2,"
    "\"isMonotonic\":true,\"dataPoints\":[{\"attributes\":["
    "{\"key\":\"route\",\"value\":{\"stringValue\":\"/a\"}},"
    "{\"key\":\"http.method\",\"value\":{\"stringValue\":\"GET\"}}],"
    "\"startTimeUnixNano\":\"1\",\"timeUnixNano\":\"1700000000123456789\",\"asInt\":\"7\"}]}}]}]}]"
    "}";

static void check_sum_samples(const struct km_otlp_samples *s)
{
    const struct km_sample *c = find(s, "http_requests_total", NULL, NULL);
    const struct km_sample *ti = find(s, "target_info", NULL, NULL);

    assert_int_equal(s->n, 2);
    assert_non_null(c);
    assert_true(c->v == 7);
    assert_int_equal(c->t, 1700000000123);
    assert_string_equal(label(c, "job"), "demo/shop");
    assert_string_equal(label(c, "instance"), "i-1");
    assert_string_equal(label(c, "namespace"), "prod");
    assert_string_equal(label(c, "pod"), "shop-1");
    assert_string_equal(label(c, "http_method"), "GET");
    assert_string_equal(label(c, "otel_scope_name"), "lib");
    assert_string_equal(label(c, "otel_scope_version"), "1.0");
    assert_null(label(c, "host_arch"));
    assert_non_null(ti);
    assert_true(ti->v == 1);
    assert_string_equal(label(ti, "host_arch"), "amd64");
    assert_string_equal(label(ti, "k8s_pod_name"), "shop-1");
    assert_string_equal(label(ti, "job"), "demo/shop");
    assert_null(label(ti, "service_name"));
    assert_int_equal(s->nmd, 2);
    assert_string_equal(s->md[0].name, "http_requests_total");
    assert_int_equal(s->md[0].type, KM_METRIC_COUNTER);
}

static void test_sum_pb_and_json(void **state)
{
    struct pb m, body;
    struct km_otlp_metrics_req r = { 0 }, j = { 0 };
    struct km_otlp_samples s, sj;

    (void)state;
    sum_metric(&m, 2, 1, T_NS, 7);
    request(&body, &m);
    assert_int_equal(km_otlp_metrics_decode_pb(&r, body.b, body.n), 0);
    assert_int_equal(r.npoints, 1);
    map(&r, NULL, NULL, &s);
    check_sum_samples(&s);
    assert_int_equal(km_otlp_metrics_decode_json(&j, JSON_SUM, strlen(JSON_SUM)), 0);
    map(&j, NULL, NULL, &sj);
    check_sum_samples(&sj);
    /* The write token's cluster is on everything. */
    km_otlp_samples_fini(&s);
    map(&r, NULL, "east", &s);
    for (size_t i = 0; i < s.n; i++)
        assert_string_equal(label(&s.v[i], "cluster"), "east");
    km_otlp_samples_fini(&s);
    km_otlp_samples_fini(&sj);
    km_otlp_metrics_fini(&r);
    km_otlp_metrics_fini(&j);
}

static void test_delta_sum_mapped(void **state)
{
    struct km_otlp_delta *d;
    struct pb m, body;
    int64_t deltas[] = { 5, 3, 4 };
    double want[] = { 5, 8, 12 };

    (void)state;
    assert_int_equal(km_otlp_delta_create(&d, 100), 0);
    for (size_t i = 0; i < 3; i++) {
        struct km_otlp_metrics_req r = { 0 };
        struct km_otlp_samples s;

        sum_metric(&m, 1, T_NS + i * 1000000000ull, T_NS + (i + 1) * 1000000000ull, deltas[i]);
        request(&body, &m);
        assert_int_equal(km_otlp_metrics_decode_pb(&r, body.b, body.n), 0);
        map(&r, d, NULL, &s);
        assert_true(find(&s, "http_requests_total", NULL, NULL)->v == want[i]);
        km_otlp_samples_fini(&s);
        km_otlp_metrics_fini(&r);
    }
    /* Without state, delta points are dropped and counted. */
    {
        struct km_otlp_metrics_req r = { 0 };
        struct km_otlp_samples s;

        assert_int_equal(km_otlp_metrics_decode_pb(&r, body.b, body.n), 0);
        map(&r, NULL, NULL, &s);
        assert_null(find(&s, "http_requests_total", NULL, NULL));
        assert_int_equal(s.dropped, 1);
        km_otlp_samples_fini(&s);
        km_otlp_metrics_fini(&r);
    }
    km_otlp_delta_destroy(d);
}

static void test_histograms(void **state)
{
    struct pb pt = { .n = 0 }, h = { .n = 0 }, m = { .n = 0 }, body, packed = { .n = 0 };
    struct km_otlp_metrics_req r = { 0 };
    struct km_otlp_samples s;
    const uint64_t counts[] = { 1, 2, 0, 4 };
    const double bounds[] = { 0.1, 0.5, 1 };

    (void)state;
    pb_fixed64(&pt, 3, T_NS);
    pb_fixed64(&pt, 4, 7);
    pb_double(&pt, 5, 3.5);
    for (size_t i = 0; i < 4; i++) /* packed fixed64 */
        for (int k = 0; k < 8; k++)
            packed.b[packed.n++] = (uint8_t)(counts[i] >> (8 * k));
    pb_msg(&pt, 6, &packed);
    for (size_t i = 0; i < 3; i++) /* unpacked doubles */
        pb_double(&pt, 7, bounds[i]);
    pb_msg(&h, 1, &pt);
    pb_uint(&h, 2, 2);
    pb_str(&m, 1, "rpc.duration");
    pb_str(&m, 3, "s");
    pb_msg(&m, 9, &h);
    request(&body, &m);
    assert_int_equal(km_otlp_metrics_decode_pb(&r, body.b, body.n), 0);
    map(&r, NULL, NULL, &s);
    assert_true(find(&s, "rpc_duration_seconds_bucket", "le", "0.1")->v == 1);
    assert_true(find(&s, "rpc_duration_seconds_bucket", "le", "0.5")->v == 3);
    assert_true(find(&s, "rpc_duration_seconds_bucket", "le", "1")->v == 3);
    assert_true(find(&s, "rpc_duration_seconds_bucket", "le", "+Inf")->v == 7);
    assert_true(find(&s, "rpc_duration_seconds_sum", NULL, NULL)->v == 3.5);
    assert_true(find(&s, "rpc_duration_seconds_count", NULL, NULL)->v == 7);
    km_otlp_samples_fini(&s);
    km_otlp_metrics_fini(&r);
}

static void test_exponential_histogram(void **state)
{
    static const char json[] =
        "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":\"size\","
        "\"exponentialHistogram\":{\"aggregationTemporality\":2,\"dataPoints\":[{"
        "\"timeUnixNano\":\"1700000000000000000\",\"count\":\"6\",\"sum\":9,\"scale\":0,"
        "\"zeroCount\":\"1\",\"positive\":{\"offset\":0,\"bucketCounts\":[\"2\",\"1\"]},"
        "\"negative\":{\"offset\":1,\"bucketCounts\":[\"2\"]}}]}}]}]}]}";
    struct km_otlp_metrics_req r = { 0 };
    struct km_otlp_samples s;

    (void)state;
    assert_int_equal(km_otlp_metrics_decode_json(&r, json, strlen(json)), 0);
    map(&r, NULL, NULL, &s);
    /* Scale 0: base 2. Negative bucket 1 holds (-4, -2]... its upper bound -2; zero
     * bucket le 0; positive buckets 0 and 1: (1, 2] and (2, 4]. */
    assert_true(find(&s, "size_bucket", "le", "-2")->v == 2);
    assert_true(find(&s, "size_bucket", "le", "0")->v == 3);
    assert_true(find(&s, "size_bucket", "le", "2")->v == 5);
    assert_true(find(&s, "size_bucket", "le", "4")->v == 6);
    assert_true(find(&s, "size_bucket", "le", "+Inf")->v == 6);
    assert_true(find(&s, "size_count", NULL, NULL)->v == 6);
    assert_true(find(&s, "size_sum", NULL, NULL)->v == 9);
    km_otlp_samples_fini(&s);
    km_otlp_metrics_fini(&r);
}

static void test_summary_and_stale(void **state)
{
    static const char json[] =
        "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":["
        "{\"name\":\"lat\",\"unit\":\"ms\",\"summary\":{\"dataPoints\":[{"
        "\"timeUnixNano\":\"1700000000000000000\",\"count\":4,\"sum\":10,"
        "\"quantileValues\":[{\"quantile\":0.5,\"value\":2},{\"quantile\":0.99,\"value\":5}]}]}},"
        "{\"name\":\"up\",\"gauge\":{\"dataPoints\":[{\"timeUnixNano\":\"0\",\"flags\":1,"
        "\"asDouble\":1}]}}]}]}]}";
    struct km_otlp_metrics_req r = { 0 };
    struct km_otlp_samples s;
    const struct km_sample *up;
    uint64_t bits;

    (void)state;
    assert_int_equal(km_otlp_metrics_decode_json(&r, json, strlen(json)), 0);
    map(&r, NULL, NULL, &s);
    assert_true(find(&s, "lat_milliseconds", "quantile", "0.5")->v == 2);
    assert_true(find(&s, "lat_milliseconds", "quantile", "0.99")->v == 5);
    assert_true(find(&s, "lat_milliseconds_count", NULL, NULL)->v == 4);
    up = find(&s, "up", NULL, NULL);
    memcpy(&bits, &up->v, 8);
    assert_true(bits == 0x7ff0000000000002ull);       /* NoRecordedValue: a stale marker */
    assert_int_equal(up->t, 42);                      /* no time: now */
    assert_null(find(&s, "target_info", NULL, NULL)); /* no resource attributes */
    km_otlp_samples_fini(&s);
    km_otlp_metrics_fini(&r);
}

static void test_logs(void **state)
{
    static const char json[] =
        "{\"resourceLogs\":[{\"resource\":{\"attributes\":["
        "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"shop\"}},"
        "{\"key\":\"k8s.node.name\",\"value\":{\"stringValue\":\"n1\"}}]},"
        "\"scopeLogs\":[{\"logRecords\":["
        "{\"timeUnixNano\":\"5\",\"severityText\":\"WARN\",\"body\":{\"stringValue\":\"a\"}},"
        "{\"observedTimeUnixNano\":\"6\",\"severityNumber\":17,"
        "\"body\":{\"kvlistValue\":{\"values\":[{\"key\":\"k\",\"value\":{\"intValue\":\"3\"}}]}},"
        "\"traceId\":\"0102030405060708090A0B0C0D0E0F10\"},"
        "{\"timeUnixNano\":\"7\",\"severityText\":\"warn\",\"body\":{\"stringValue\":\"b\"}}"
        "]}]}]}";
    struct km_otlp_logs_req r = { 0 };
    struct km_otlp_streams st = { 0 };

    (void)state;
    assert_int_equal(km_otlp_logs_decode_json(&r, json, strlen(json)), 0);
    assert_int_equal(r.nlogs, 3);
    assert_string_equal(r.resources[0].scopes[0].logs[1].trace_id,
                        "0102030405060708090a0b0c0d0e0f10");
    assert_int_equal(km_otlp_to_streams(&r, "c9", 99, &st), 0);
    assert_int_equal(st.n, 2);
    assert_int_equal(st.v[0].n_entries, 2); /* warn: a, b */
    assert_int_equal(st.v[0].entries[0].ts_ns, 5);
    assert_memory_equal(st.v[0].entries[1].line, "b", 1);
    assert_int_equal(st.v[1].n_entries, 1); /* error: the map as JSON, observed time */
    assert_int_equal(st.v[1].entries[0].ts_ns, 6);
    assert_int_equal(st.v[1].entries[0].len, strlen("{\"k\":3}"));
    assert_memory_equal(st.v[1].entries[0].line, "{\"k\":3}", 7);
    for (size_t i = 0; i < st.n; i++) {
        bool cluster = false, level = false;

        for (size_t k = 0; k < st.v[i].n_labels; k++) {
            cluster |= strcmp(st.v[i].labels[k].name, "cluster") == 0 &&
                       strcmp(st.v[i].labels[k].value, "c9") == 0;
            level |= strcmp(st.v[i].labels[k].name, "level") == 0;
        }
        assert_true(cluster && level);
    }
    km_otlp_streams_fini(&st);
    km_otlp_logs_fini(&r);
}

static void test_malformed(void **state)
{
    static const struct {
        const char *body;
        size_t n;
        const char *msg;
    } pb[] = {
        { "\x0a\x05\x12\x03", 4, "" },                 /* truncated */
        { "\x08\x01", 2, "resource_metrics" },         /* wrong wire type */
        { "\x0a\x04\x12\x02\x12\x00", 6, "" },         /* scope_metrics ok, metric empty */
        { "\x0a\x06\x0a\x04\x0a\x02\x08\x01", 8, "" }, /* a KeyValue as a varint */
    };
    static const char *const json[] = {
        "[]",
        "{\"resourceMetrics\":{}}",
        "{\"resourceMetrics\":[{\"scopeMetrics\":[{"
        "\"metrics\":[{\"name\":\"x\",\"gauge\":{\"dataPoints\":[{\"asInt\":\"12x\"}]}}]}]}]}",
        "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":\"x\",\"histogram\":{"
        "\"dataPoints\":[{\"bucketCounts\":[-1]}]}}]}]}]}",
        "{",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(pb) / sizeof(pb[0]); i++) {
        struct km_otlp_metrics_req r = { 0 };
        int rc = km_otlp_metrics_decode_pb(&r, pb[i].body, pb[i].n);

        if (i == 2)
            assert_int_equal(rc, 0);
        else
            assert_int_equal(rc, KM_EINVAL);
        if (pb[i].msg[0])
            assert_non_null(strstr(km_err_msg(), pb[i].msg));
        km_otlp_metrics_fini(&r);
    }
    for (size_t i = 0; i < sizeof(json) / sizeof(json[0]); i++) {
        struct km_otlp_metrics_req r = { 0 };

        assert_int_equal(km_otlp_metrics_decode_json(&r, json[i], strlen(json[i])), KM_EINVAL);
        km_otlp_metrics_fini(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metric_names),      cmocka_unit_test(test_delta),
        cmocka_unit_test(test_sum_pb_and_json),   cmocka_unit_test(test_delta_sum_mapped),
        cmocka_unit_test(test_histograms),        cmocka_unit_test(test_exponential_histogram),
        cmocka_unit_test(test_summary_and_stale), cmocka_unit_test(test_logs),
        cmocka_unit_test(test_malformed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
