/*
 * Unit tests: Pod objects from the Kubernetes API (identity, containers with their
 * runtime prefix stripped, allowlisted labels, the controlling owner; entries that
 * cannot name a container skipped, objects that are not a Pod refused) and the watch
 * stream cut at arbitrary points.
 */
#include "agent/kube/podmeta.h"
#include "common/err.h"
#include "kube/watch.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

static const char *const allow[] = { "app", "team" };

/* Parse a Pod given as JSON text; the result of km_pod_meta_parse. */
static int parse(const char *text, struct km_pod_meta *m)
{
    json_error_t je;
    json_t *pod = json_loads(text, 0, &je);
    int rc;

    assert_non_null(pod);
    rc = km_pod_meta_parse(pod, allow, 2, m);
    json_decref(pod);
    return rc;
}

static void test_pod(void **state)
{
    struct km_pod_meta m;

    (void)state;
    assert_int_equal(
        parse("{\"metadata\":{\"uid\":\"u1\",\"namespace\":\"shop\",\"name\":\"web-1\","
              "\"resourceVersion\":\"42\",\"labels\":{\"app\":\"web\",\"tier\":\"x\"},"
              "\"ownerReferences\":[{\"kind\":\"ReplicaSet\",\"name\":\"web-5f\","
              "\"controller\":true}]},"
              "\"spec\":{\"nodeName\":\"n1\",\"hostNetwork\":true},"
              "\"status\":{\"qosClass\":\"Burstable\",\"containerStatuses\":["
              "{\"name\":\"nginx\",\"containerID\":\"containerd://abc\","
              "\"state\":{\"running\":{\"startedAt\":\"2024-01-02T03:04:05Z\"}}},"
              "{\"name\":\"waiting\"}],"
              "\"initContainerStatuses\":[{\"name\":\"init\",\"containerID\":\"cri-o://def\"}]}}",
              &m),
        0);
    assert_string_equal(m.uid, "u1");
    assert_string_equal(m.ns, "shop");
    assert_string_equal(m.name, "web-1");
    assert_string_equal(m.node, "n1");
    assert_string_equal(m.qos, "Burstable");
    assert_string_equal(m.rv, "42");
    assert_true(m.host_network);
    assert_string_equal(m.owner_kind, "ReplicaSet");
    assert_string_equal(m.owner_name, "web-5f");
    assert_int_equal(m.nlabels, 1);
    assert_string_equal(m.labels[0].name, "app");
    assert_string_equal(m.labels[0].value, "web");
    /* The container not started yet has no id and is not kept. */
    assert_int_equal(m.nc, 2);
    assert_string_equal(km_pod_meta_container(&m, "abc")->name, "nginx");
    assert_int_equal(km_pod_meta_container(&m, "abc")->started_s, 1704164645);
    assert_string_equal(km_pod_meta_container(&m, "def")->name, "init");
    assert_null(km_pod_meta_container(&m, "containerd://abc"));
    km_pod_meta_fini(&m);
}

/* A status entry with an empty name (seen by the fuzzer) would give its container the
 * pod total's series (container=""): it is skipped, the others kept. */
static void test_container_without_name_skipped(void **state)
{
    struct km_pod_meta m;

    (void)state;
    assert_int_equal(parse("{\"metadata\":{\"uid\":\"u\",\"namespace\":\"n\",\"name\":\"p\"},"
                           "\"status\":{\"containerStatuses\":["
                           "{\"name\":\"\",\"containerID\":\"containerd://aaa\"},"
                           "{\"name\":7,\"containerID\":\"containerd://bbb\"},"
                           "{\"name\":\"ok\",\"containerID\":\"containerd://\"},"
                           "{\"name\":\"app\",\"containerID\":\"containerd://ccc\"}],"
                           "\"ephemeralContainerStatuses\":[{\"name\":\"\","
                           "\"containerID\":\"ddd\"}]}}",
                           &m),
                     0);
    assert_int_equal(m.nc, 1);
    assert_string_equal(m.c[0].id, "ccc");
    assert_string_equal(m.c[0].name, "app");
    assert_null(km_pod_meta_container(&m, "aaa"));
    assert_null(km_pod_meta_container(&m, "ddd"));
    km_pod_meta_fini(&m);
}

static void test_not_a_pod(void **state)
{
    struct km_pod_meta m;

    (void)state;
    assert_int_equal(parse("{\"metadata\":{\"uid\":\"u\",\"namespace\":\"n\"}}", &m), KM_EINVAL);
    assert_int_equal(parse("{\"metadata\":{\"uid\":\"\",\"namespace\":\"n\",\"name\":\"p\"}}", &m),
                     KM_EINVAL);
    assert_int_equal(parse("{\"spec\":{}}", &m), KM_EINVAL);
    assert_int_equal(parse("{\"metadata\":{\"uid\":\"u\",\"namespace\":\"n\",\"name\":\"p\"},"
                           "\"status\":{\"containerStatuses\":{}}}",
                           &m),
                     KM_EINVAL);
    assert_int_equal(parse("{\"metadata\":{\"uid\":\"u\",\"namespace\":\"n\",\"name\":\"p\","
                           "\"labels\":[]}}",
                           &m),
                     KM_EINVAL);
}

struct seen {
    int events;
    enum km_watch_type last;
    char name[32];
};

static int on_event(void *ud, enum km_watch_type type, const json_t *obj)
{
    struct seen *s = ud;
    const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));

    s->events++;
    s->last = type;
    strncpy(s->name, name ? name : "", sizeof(s->name) - 1);
    return 0;
}

static void test_watch_stream(void **state)
{
    static const char text[] =
        "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n"
        "\r\n"
        "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"b\"}}}\n";
    struct km_watch_stream s;
    struct seen seen = { 0 };

    (void)state;
    km_watch_stream_init(&s, 4096);
    /* Cut in chunks of every size: the same two events each time. */
    for (size_t cut = 1; cut < sizeof(text); cut++) {
        memset(&seen, 0, sizeof(seen));
        km_watch_stream_reset(&s);
        for (size_t at = 0; at < sizeof(text) - 1; at += cut) {
            size_t n = sizeof(text) - 1 - at < cut ? sizeof(text) - 1 - at : cut;

            assert_int_equal(km_watch_stream_feed(&s, text + at, n, on_event, &seen), 0);
        }
        assert_int_equal(seen.events, 2);
        assert_int_equal(seen.last, KM_W_DELETED);
        assert_string_equal(seen.name, "b");
    }
    assert_int_equal(
        km_watch_stream_feed(&s, "{\"type\":\"NOPE\",\"object\":{}}\n", 29, on_event, &seen),
        KM_EINVAL);
    km_watch_stream_reset(&s);
    assert_int_equal(km_watch_stream_feed(&s, "not json\n", 9, on_event, &seen), KM_EINVAL);
    km_watch_stream_fini(&s);
    km_watch_stream_init(&s, 8);
    assert_int_equal(km_watch_stream_feed(&s, "0123456789", 10, on_event, &seen), KM_ELIMIT);
    km_watch_stream_fini(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pod),
        cmocka_unit_test(test_container_without_name_skipped),
        cmocka_unit_test(test_not_a_pod),
        cmocka_unit_test(test_watch_stream),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
