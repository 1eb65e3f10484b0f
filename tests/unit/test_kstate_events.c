/*
 * test_kstate_events — Kubernetes Events as log lines, without a network: the decoder
 * on Events shaped as a 1.29 cluster serves them (events.k8s.io/v1 with series, one
 * written through core/v1 with the deprecated* fields, core/v1 itself, missing and
 * mistyped fields), the logfmt line (exact text, and read back by a logfmt reader of the
 * test's own for hostile notes), the line and timestamp as a pure function of the
 * observation, the labels, the bounded map of observations against a model, and the
 * watcher's queue and sender with a test sink (repeats suppressed, a refusing sink
 * retried without loss, the oldest dropped and counted past the cap, a standby writing
 * nothing). Also a small tool for the runtime test (see tool()).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/mset.h"
#include "common/timefmt.h"
#include "kstate/events.h"
#include "kstate/kstate.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static json_t *parse(const char *s)
{
    json_error_t je;
    json_t *j = json_loads(s, 0, &je);

    if (!j)
        fail_msg("bad test JSON: %s", je.text);
    return j;
}

static int64_t ts(const char *s)
{
    int64_t ns = 0;

    assert_int_equal(km_time_parse_rfc3339(s, &ns), 0);
    return ns;
}

/* The scheduler's Event after three attempts, as `kubectl get events.v1.events.k8s.io
 * -o json` shows it (events.k8s.io/v1 written by an events.k8s.io client: series set,
 * deprecated fields zero). */
static const char *const SCHED =
    "{\"kind\":\"Event\",\"apiVersion\":\"events.k8s.io/v1\",\"metadata\":{\"name\":"
    "\"web-1.17c5e8f4a2b3c4d5\",\"namespace\":\"shop\",\"uid\":"
    "\"5b2f7a3e-1c4d-4e5f-8a9b-0c1d2e3f4a5b\",\"resourceVersion\":\"48213\","
    "\"creationTimestamp\":\"2026-11-20T08:00:01Z\"},\"eventTime\":"
    "\"2026-11-20T08:00:01.123456Z\",\"series\":{\"count\":3,\"lastObservedTime\":"
    "\"2026-11-20T08:05:12.654321Z\"},\"reportingController\":\"default-scheduler\","
    "\"reportingInstance\":\"default-scheduler-control-plane\",\"action\":\"Scheduling\","
    "\"reason\":\"FailedScheduling\",\"regarding\":{\"kind\":\"Pod\",\"namespace\":\"shop\","
    "\"name\":\"web-1\",\"uid\":\"0f1e2d3c-4b5a-4697-8877-665544332211\",\"apiVersion\":"
    "\"v1\",\"resourceVersion\":\"48100\"},\"note\":\"0/3 nodes are available: 3 "
    "Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found "
    "for incoming pod.\",\"type\":\"Warning\",\"deprecatedSource\":{},"
    "\"deprecatedFirstTimestamp\":null,\"deprecatedLastTimestamp\":null}";

/* The kubelet's BackOff Event (written through core/v1) as events.k8s.io/v1 serves it:
 * eventTime null, the count and times in deprecated*, the source in deprecatedSource. */
static const char *const KUBELET =
    "{\"kind\":\"Event\",\"apiVersion\":\"events.k8s.io/v1\",\"metadata\":{\"name\":"
    "\"api-7d9c-xk2lp.17c5e90112345678\",\"namespace\":\"default\",\"uid\":"
    "\"a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d\",\"resourceVersion\":\"50100\","
    "\"creationTimestamp\":\"2026-11-20T08:01:00Z\"},\"eventTime\":null,"
    "\"reportingController\":\"\",\"reportingInstance\":\"\",\"reason\":\"BackOff\","
    "\"regarding\":{\"kind\":\"Pod\",\"namespace\":\"default\",\"name\":\"api-7d9c-xk2lp\","
    "\"uid\":\"11111111-2222-4333-8444-555555555555\",\"apiVersion\":\"v1\","
    "\"resourceVersion\":\"49990\",\"fieldPath\":\"spec.containers{app}\"},\"note\":"
    "\"Back-off restarting failed container app in pod api-7d9c-xk2lp_default(1111)\","
    "\"type\":\"Warning\",\"deprecatedSource\":{\"component\":\"kubelet\",\"host\":"
    "\"node-1\"},\"deprecatedFirstTimestamp\":\"2026-11-20T08:01:00Z\","
    "\"deprecatedLastTimestamp\":\"2026-11-20T08:09:40Z\",\"deprecatedCount\":42}";

/* The same Event as core/v1 serves it. */
static const char *const CORE =
    "{\"kind\":\"Event\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":"
    "\"api-7d9c-xk2lp.17c5e90112345678\",\"namespace\":\"default\",\"uid\":"
    "\"a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d\",\"resourceVersion\":\"50100\","
    "\"creationTimestamp\":\"2026-11-20T08:01:00Z\"},\"involvedObject\":{\"kind\":\"Pod\","
    "\"namespace\":\"default\",\"name\":\"api-7d9c-xk2lp\",\"uid\":"
    "\"11111111-2222-4333-8444-555555555555\",\"apiVersion\":\"v1\",\"resourceVersion\":"
    "\"49990\",\"fieldPath\":\"spec.containers{app}\"},\"reason\":\"BackOff\",\"message\":"
    "\"Back-off restarting failed container app in pod api-7d9c-xk2lp_default(1111)\","
    "\"source\":{\"component\":\"kubelet\",\"host\":\"node-1\"},\"firstTimestamp\":"
    "\"2026-11-20T08:01:00Z\",\"lastTimestamp\":\"2026-11-20T08:09:40Z\",\"count\":42,"
    "\"type\":\"Warning\",\"eventTime\":null,\"reportingComponent\":\"\","
    "\"reportingInstance\":\"\"}";

/* ---- decoder ------------------------------------------------------------------------- */

static void test_decode_series(void **state)
{
    json_t *j = parse(SCHED);
    struct km_kevent ev;

    (void)state;
    assert_int_equal(km_kevents_decode(&ev, j), 0);
    assert_string_equal(ev.uid, "5b2f7a3e-1c4d-4e5f-8a9b-0c1d2e3f4a5b");
    assert_string_equal(ev.ns, "shop");
    assert_string_equal(ev.kind, "Pod");
    assert_string_equal(ev.name, "web-1");
    assert_string_equal(ev.obj_ns, "shop");
    assert_null(ev.field_path);
    assert_string_equal(ev.reason, "FailedScheduling");
    assert_string_equal(ev.type, "Warning");
    assert_string_equal(ev.action, "Scheduling");
    assert_string_equal(ev.controller, "default-scheduler");
    assert_string_equal(ev.instance, "default-scheduler-control-plane");
    assert_int_equal(ev.count, 3);
    assert_int_equal(ev.ts_ns, ts("2026-11-20T08:05:12.654321Z"));
    json_decref(j);
}

static void test_decode_deprecated(void **state)
{
    json_t *j = parse(KUBELET), *c = parse(CORE);
    struct km_kevent a, b;
    struct km_buf la, lb;

    (void)state;
    assert_int_equal(km_kevents_decode(&a, j), 0);
    assert_int_equal(a.count, 42);
    assert_int_equal(a.ts_ns, ts("2026-11-20T08:09:40Z"));
    assert_string_equal(a.controller, "kubelet");
    assert_string_equal(a.instance, "node-1");
    assert_string_equal(a.field_path, "spec.containers{app}");
    assert_null(a.action);
    /* core/v1's names give the same observation and line */
    assert_int_equal(km_kevents_decode(&b, c), 0);
    assert_int_equal(b.count, a.count);
    assert_int_equal(b.ts_ns, a.ts_ns);
    km_buf_init(&la, 0);
    km_buf_init(&lb, 0);
    assert_int_equal(km_kevents_line(&la, &a), 0);
    assert_int_equal(km_kevents_line(&lb, &b), 0);
    assert_string_equal(km_buf_cstr(&la), km_buf_cstr(&lb));
    assert_string_equal(km_buf_cstr(&la),
                        "type=Warning reason=BackOff kind=Pod name=api-7d9c-xk2lp "
                        "namespace=default fieldPath=spec.containers{app} count=42 "
                        "reportingController=kubelet reportingInstance=node-1 "
                        "msg=\"Back-off restarting failed container app in pod "
                        "api-7d9c-xk2lp_default(1111)\"");
    km_buf_fini(&la);
    km_buf_fini(&lb);
    json_decref(j);
    json_decref(c);
}

static void test_decode_times(void **state)
{
    static const struct {
        const char *json;
        const char *want; /* NULL: refused */
        int64_t count;
    } cases[] = {
        /* only the creation time */
        { "{\"metadata\":{\"uid\":\"u\",\"creationTimestamp\":\"2026-01-02T03:04:05Z\"}}",
          "2026-01-02T03:04:05Z", 1 },
        /* eventTime before deprecatedFirstTimestamp and creation */
        { "{\"metadata\":{\"uid\":\"u\",\"creationTimestamp\":\"2026-01-02T03:04:05Z\"},"
          "\"eventTime\":\"2026-01-02T03:04:06.5Z\",\"deprecatedFirstTimestamp\":"
          "\"2026-01-02T03:04:01Z\"}",
          "2026-01-02T03:04:06.5Z", 1 },
        /* deprecatedLastTimestamp before eventTime */
        { "{\"metadata\":{\"uid\":\"u\"},\"eventTime\":\"2026-01-02T03:04:06Z\","
          "\"deprecatedLastTimestamp\":\"2026-01-02T03:09:00Z\",\"deprecatedCount\":7}",
          "2026-01-02T03:09:00Z", 7 },
        /* series before everything; series.count before deprecatedCount */
        { "{\"metadata\":{\"uid\":\"u\"},\"series\":{\"count\":9,\"lastObservedTime\":"
          "\"2026-01-02T04:00:00.000001Z\"},\"deprecatedLastTimestamp\":"
          "\"2026-01-02T03:09:00Z\",\"deprecatedCount\":7}",
          "2026-01-02T04:00:00.000001Z", 9 },
        /* a series without a time: the next time, its count still */
        { "{\"metadata\":{\"uid\":\"u\"},\"series\":{\"count\":4},\"eventTime\":"
          "\"2026-01-02T03:04:06Z\"}",
          "2026-01-02T03:04:06Z", 4 },
        /* garbage times skipped; a count of the wrong type or sign is 1 */
        { "{\"metadata\":{\"uid\":\"u\",\"creationTimestamp\":\"2026-01-02T03:04:05Z\"},"
          "\"eventTime\":\"yesterday\",\"series\":{\"lastObservedTime\":17,\"count\":\"3\"},"
          "\"deprecatedCount\":-5}",
          "2026-01-02T03:04:05Z", 1 },
        /* refused: no time, no uid, an empty uid, not an object */
        { "{\"metadata\":{\"uid\":\"u\"},\"eventTime\":null}", NULL, 0 },
        { "{\"metadata\":{\"creationTimestamp\":\"2026-01-02T03:04:05Z\"}}", NULL, 0 },
        { "{\"metadata\":{\"uid\":\"\",\"creationTimestamp\":\"2026-01-02T03:04:05Z\"}}", NULL, 0 },
        { "{\"metadata\":[]}", NULL, 0 },
        { "[1,2]", NULL, 0 },
        { "\"event\"", NULL, 0 },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
        struct km_kevent ev = { .count = -99 };
        int rc;

        assert_non_null(j);
        rc = km_kevents_decode(&ev, j);
        if (!cases[i].want) {
            assert_int_equal(rc, KM_EINVAL);
            assert_int_equal(ev.count, -99); /* untouched */
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(ev.ts_ns, ts(cases[i].want));
            assert_int_equal(ev.count, cases[i].count);
            assert_null(ev.kind);
            assert_null(ev.note);
        }
        json_decref(j);
    }
}

/* ---- the line ------------------------------------------------------------------------ */

static void test_line_exact(void **state)
{
    json_t *j = parse(SCHED);
    struct km_kevent ev;
    struct km_buf b;

    (void)state;
    km_buf_init(&b, 0);
    assert_int_equal(km_kevents_decode(&ev, j), 0);
    assert_int_equal(km_kevents_line(&b, &ev), 0);
    assert_string_equal(km_buf_cstr(&b),
                        "type=Warning reason=FailedScheduling kind=Pod name=web-1 namespace=shop "
                        "count=3 reportingController=default-scheduler "
                        "reportingInstance=default-scheduler-control-plane action=Scheduling "
                        "msg=\"0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes "
                        "are available: 3 No preemption victims found for incoming pod.\"");
    /* nothing but a uid and a time: count and an empty msg */
    km_buf_reset(&b);
    memset(&ev, 0, sizeof(ev));
    ev.count = 1;
    assert_int_equal(km_kevents_line(&b, &ev), 0);
    assert_string_equal(km_buf_cstr(&b), "count=1 msg=\"\"");
    km_buf_fini(&b);
    json_decref(j);
}

/* A logfmt reader as go-logfmt reads (what LogQL's `| logfmt` uses): key=value pairs
 * separated by spaces, a value bare or quoted with Go's escapes. Returns the value of
 * `key` (into out) or -1; -2 on malformed input. */
static int logfmt_get(const char *s, const char *key, char *out, size_t size)
{
    int found = -1;

    while (*s) {
        const char *k;
        size_t klen, n = 0;
        char val[65536];

        while (*s == ' ')
            s++;
        if (!*s)
            break;
        k = s;
        while (*s && *s != '=' && *s != ' ')
            s++;
        klen = (size_t)(s - k);
        if (*s != '=')
            return -2;
        s++;
        if (*s == '"') {
            s++;
            while (*s && *s != '"') {
                if ((unsigned char)*s < ' ')
                    return -2;
                if (*s == '\\') {
                    s++;
                    switch (*s) {
                    case '"':
                    case '\\':
                        val[n++] = *s++;
                        break;
                    case 'n':
                        val[n++] = '\n';
                        s++;
                        break;
                    case 'r':
                        val[n++] = '\r';
                        s++;
                        break;
                    case 't':
                        val[n++] = '\t';
                        s++;
                        break;
                    case 'u': {
                        unsigned v;

                        if (sscanf(s + 1, "%4x", &v) != 1 || v >= 0x80)
                            return -2;
                        val[n++] = (char)v;
                        s += 5;
                        break;
                    }
                    default:
                        return -2;
                    }
                } else {
                    val[n++] = *s++;
                }
                if (n >= sizeof(val) - 1)
                    return -2;
            }
            if (*s != '"')
                return -2;
            s++;
        } else {
            while (*s && *s != ' ') {
                if (*s == '"' || *s == '=' || (unsigned char)*s < ' ')
                    return -2;
                val[n++] = *s++;
                if (n >= sizeof(val) - 1)
                    return -2;
            }
        }
        if (*s && *s != ' ')
            return -2;
        val[n] = '\0';
        if (klen == strlen(key) && memcmp(k, key, klen) == 0) {
            size_t c = n < size - 1 ? n : size - 1;

            memcpy(out, val, c);
            out[c] = '\0';
            found = (int)n;
        }
    }
    return found;
}

static void test_line_quoting(void **state)
{
    static const char *const notes[] = {
        "plain",
        "two words",
        "a=b",
        "say \"hi\"",
        "back\\slash",
        "line\nbreak\r\n\ttab",
        "bell\x07 and \x1f unit",
        "del\x7f",
        "  leading and trailing  ",
        "=",
        "\"",
        "ünïcödé 日本語 ✓",
        ("Liveness probe failed: Get \"http://10.244.1.7:8080/healthz\": dial tcp "
         "10.244.1.7:8080: connect: connection refused"),
    };
    struct km_buf b;

    (void)state;
    km_buf_init(&b, 0);
    for (size_t i = 0; i < sizeof(notes) / sizeof(notes[0]); i++) {
        struct km_kevent ev = { .count = 5,
                                .type = "Normal",
                                .reason = notes[i],
                                .name = "x y",
                                .action = notes[i],
                                .note = notes[i] };
        char got[4096];

        km_buf_reset(&b);
        assert_int_equal(km_kevents_line(&b, &ev), 0);
        assert_int_equal(logfmt_get(km_buf_cstr(&b), "msg", got, sizeof(got)),
                         (int)strlen(notes[i]));
        assert_string_equal(got, notes[i]);
        assert_int_equal(logfmt_get(km_buf_cstr(&b), "reason", got, sizeof(got)),
                         (int)strlen(notes[i]));
        assert_string_equal(got, notes[i]);
        assert_int_equal(logfmt_get(km_buf_cstr(&b), "name", got, sizeof(got)), 3);
        assert_string_equal(got, "x y");
        assert_int_equal(logfmt_get(km_buf_cstr(&b), "count", got, sizeof(got)), 1);
        assert_string_equal(got, "5");
        assert_int_equal(logfmt_get(km_buf_cstr(&b), "truncated", got, sizeof(got)), -1);
    }
    km_buf_fini(&b);
}

static void test_line_truncated(void **state)
{
    size_t n = KM_KEVENTS_MAX_NOTE + 100;
    char *note = malloc(n + 1), *got = malloc(KM_KEVENTS_MAX_NOTE + 16);
    struct km_kevent ev = { .count = 1 };
    struct km_buf b;
    size_t k = 0;
    int len;

    (void)state;
    /* "é" (2 bytes) repeated, shifted by one byte so the cap falls inside a character */
    note[k++] = 'x';
    while (k + 2 <= n) {
        note[k++] = (char)0xC3;
        note[k++] = (char)0xA9;
    }
    note[k] = '\0';
    ev.note = note;
    km_buf_init(&b, 0);
    assert_int_equal(km_kevents_line(&b, &ev), 0);
    assert_true(b.len <= KM_KEVENTS_MAX_LINE);
    len = logfmt_get(km_buf_cstr(&b), "msg", got, KM_KEVENTS_MAX_NOTE + 16);
    assert_true(len > 0 && (size_t)len <= KM_KEVENTS_MAX_NOTE);
    assert_int_equal(len % 2, 1); /* 'x' and whole characters only */
    assert_memory_equal(got, note, (size_t)len);
    assert_int_equal(logfmt_get(km_buf_cstr(&b), "truncated", got, 16), 4);
    assert_string_equal(got, "true");
    /* a note of exactly the cap is whole */
    note[KM_KEVENTS_MAX_NOTE] = '\0';
    note[KM_KEVENTS_MAX_NOTE - 1] = 'z'; /* no character left half */
    km_buf_reset(&b);
    assert_int_equal(km_kevents_line(&b, &ev), 0);
    assert_int_equal(logfmt_get(km_buf_cstr(&b), "truncated", got, 16), -1);
    /* a note of control bytes (six bytes each, escaped) is cut by what it takes */
    memset(note, '\x01', KM_KEVENTS_MAX_NOTE);
    note[KM_KEVENTS_MAX_NOTE] = '\0';
    ev.reason = note; /* and a reason as long (cut silently) */
    km_buf_reset(&b);
    assert_int_equal(km_kevents_line(&b, &ev), 0);
    assert_true(b.len <= KM_KEVENTS_MAX_LINE);
    len = logfmt_get(km_buf_cstr(&b), "msg", got, KM_KEVENTS_MAX_NOTE + 16);
    assert_int_equal(len, KM_KEVENTS_MAX_NOTE / 6);
    assert_int_equal(logfmt_get(km_buf_cstr(&b), "reason", got, KM_KEVENTS_MAX_NOTE + 16),
                     KM_KEVENTS_MAX_VALUE / 6);
    assert_int_equal(logfmt_get(km_buf_cstr(&b), "truncated", got, 16), 4);
    km_buf_fini(&b);
    free(note);
    free(got);
}

/* The line and time depend on the observation only: resourceVersion, managedFields,
 * key order and the regarding object's version change nothing. */
static void test_line_pure(void **state)
{
    static const char *const variants[] = {
        "{\"metadata\":{\"uid\":\"u1\",\"resourceVersion\":\"1\",\"namespace\":\"shop\"},"
        "\"regarding\":{\"kind\":\"Pod\",\"name\":\"p\",\"namespace\":\"shop\","
        "\"resourceVersion\":\"10\"},\"reason\":\"Killing\",\"type\":\"Normal\",\"note\":"
        "\"Stopping container app\",\"deprecatedLastTimestamp\":\"2026-01-01T00:00:09Z\","
        "\"deprecatedCount\":2,\"deprecatedSource\":{\"component\":\"kubelet\"}}",
        "{\"deprecatedCount\":2,\"note\":\"Stopping container app\",\"type\":\"Normal\","
        "\"reason\":\"Killing\",\"deprecatedSource\":{\"component\":\"kubelet\"},"
        "\"deprecatedLastTimestamp\":\"2026-01-01T00:00:09Z\",\"regarding\":{\"name\":\"p\","
        "\"kind\":\"Pod\",\"namespace\":\"shop\",\"resourceVersion\":\"99\"},\"metadata\":{"
        "\"managedFields\":[{\"manager\":\"kubelet\"}],\"uid\":\"u1\",\"resourceVersion\":"
        "\"777\",\"namespace\":\"shop\",\"annotations\":{\"a\":\"b\"}}}",
    };
    char first[1024] = "";
    int64_t first_ts = 0;

    (void)state;
    for (size_t i = 0; i < 2; i++) {
        json_t *j = parse(variants[i]);
        struct km_kevent ev;
        struct km_buf b;

        km_buf_init(&b, 0);
        assert_int_equal(km_kevents_decode(&ev, j), 0);
        assert_int_equal(km_kevents_line(&b, &ev), 0);
        if (i == 0) {
            snprintf(first, sizeof(first), "%s", km_buf_cstr(&b));
            first_ts = ev.ts_ns;
        } else {
            assert_string_equal(km_buf_cstr(&b), first);
            assert_int_equal(ev.ts_ns, first_ts);
        }
        km_buf_fini(&b);
        json_decref(j);
    }
    assert_string_equal(first, "type=Normal reason=Killing kind=Pod name=p namespace=shop "
                               "count=2 reportingController=kubelet msg=\"Stopping container "
                               "app\"");
}

/* ---- labels -------------------------------------------------------------------------- */

static void test_labels(void **state)
{
    json_t *j = parse(SCHED);
    struct km_kevent ev;
    struct km_label l[KM_KEVENTS_LABELS];
    char scratch[KM_KEVENTS_SCRATCH], big[3000];
    size_t n;

    (void)state;
    assert_int_equal(km_kevents_decode(&ev, j), 0);
    n = km_kevents_labels(l, scratch, &ev, "prod-1");
    assert_int_equal(n, 7);
    {
        static const char *const want[][2] = {
            { "source", "kubernetes-events" },
            { "cluster", "prod-1" },
            { "namespace", "shop" },
            { "kind", "Pod" },
            { "name", "web-1" },
            { "reason", "FailedScheduling" },
            { "type", "Warning" },
        };

        for (size_t i = 0; i < n; i++) {
            assert_string_equal(l[i].name, want[i][0]);
            assert_string_equal(l[i].value, want[i][1]);
        }
    }
    /* a Node's Event: the regarding object has no namespace, the Event's is used; no
     * cluster, no reason: left out */
    memset(&ev, 0, sizeof(ev));
    ev.ns = "default";
    ev.kind = "Node";
    ev.name = "node-1";
    ev.type = "Normal";
    n = km_kevents_labels(l, scratch, &ev, "");
    assert_int_equal(n, 5);
    assert_string_equal(l[1].name, "namespace");
    assert_string_equal(l[1].value, "default");
    assert_string_equal(l[4].name, "type");
    /* a huge value is cut */
    memset(big, 'r', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ev.reason = big;
    n = km_kevents_labels(l, scratch, &ev, NULL);
    assert_int_equal(n, 6);
    assert_string_equal(l[4].name, "reason");
    assert_int_equal(strlen(l[4].value), KM_KEVENTS_MAX_VALUE);
    json_decref(j);
}

/* ---- the map ------------------------------------------------------------------------- */

static void test_seen_basic(void **state)
{
    struct km_kevents_seen s;

    (void)state;
    km_kevents_seen_init(&s, 0);
    assert_int_equal(s.cap, KM_KEVENTS_TRACKED);
    assert_int_equal(km_kevents_seen_put(&s, 7, 100, 1), 1);
    assert_int_equal(km_kevents_seen_put(&s, 7, 100, 1), 0); /* repeat */
    assert_int_equal(km_kevents_seen_put(&s, 7, 100, 2), 1); /* count changed */
    assert_int_equal(km_kevents_seen_put(&s, 7, 200, 2), 1); /* time changed */
    assert_int_equal(km_kevents_seen_put(&s, 7, 200, 2), 0);
    assert_int_equal(km_kevents_seen_put(&s, 8, 200, 2), 1);
    assert_int_equal(s.n, 2);
    km_kevents_seen_del(&s, 7);
    km_kevents_seen_del(&s, 12345); /* absent: nothing */
    assert_int_equal(s.n, 1);
    assert_int_equal(km_kevents_seen_put(&s, 7, 200, 2), 1); /* forgotten */
    /* a list that sees only 7: 8 goes */
    km_kevents_seen_begin(&s);
    assert_int_equal(km_kevents_seen_put(&s, 7, 200, 2), 0);
    assert_int_equal(km_kevents_seen_end(&s), 1);
    assert_int_equal(s.n, 1);
    assert_int_equal(km_kevents_seen_put(&s, 8, 200, 2), 1);
    km_kevents_seen_clear(&s);
    assert_int_equal(s.n, 0);
    assert_int_equal(km_kevents_seen_put(&s, 7, 200, 2), 1);
    km_kevents_seen_fini(&s);
    km_kevents_seen_fini(&s); /* twice: harmless */
}

static uint64_t rnd(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Random operations against a plain array model (without eviction: cap above the keys);
 * keys collide in their low bits to exercise probing and deletion's back shift. */
static void test_seen_model(void **state)
{
    enum { KEYS = 600 };
    struct {
        bool in;
        int64_t ts, count;
    } m[KEYS] = { 0 };
    struct km_kevents_seen s;
    uint64_t x = 88172645463325252ull;

    (void)state;
    km_kevents_seen_init(&s, 4096);
    for (int step = 0; step < 200000; step++) {
        size_t k = (size_t)(rnd(&x) % KEYS);
        uint64_t key = ((uint64_t)k << 40) | (k % 7); /* low bits: 7 homes */
        unsigned op = (unsigned)(rnd(&x) % 10);

        if (op == 0) {
            km_kevents_seen_del(&s, key);
            m[k].in = false;
        } else {
            int64_t t = (int64_t)(rnd(&x) % 3), c = (int64_t)(rnd(&x) % 2);
            int want = m[k].in && m[k].ts == t && m[k].count == c ? 0 : 1;

            assert_int_equal(km_kevents_seen_put(&s, key, t, c), want);
            m[k].in = true;
            m[k].ts = t;
            m[k].count = c;
        }
        if (step % 5000 == 0) {
            size_t n = 0;

            for (size_t i = 0; i < KEYS; i++)
                n += m[i].in;
            assert_int_equal(s.n, n);
        }
    }
    km_kevents_seen_fini(&s);
}

static void test_seen_bounded(void **state)
{
    struct km_kevents_seen s;
    size_t cap = 64;

    (void)state;
    km_kevents_seen_init(&s, cap);
    for (uint64_t k = 1; k <= 10000; k++) {
        assert_int_equal(km_kevents_seen_put(&s, k * 0x9E3779B97F4A7C15ull, (int64_t)k, 1), 1);
        assert_true(s.n <= cap);
        assert_true(s.nslots <= 4 * cap);
    }
    assert_true(s.evicted >= 10000 - cap);
    assert_int_equal(s.evicted + s.n, 10000);
    /* the newest are kept, the oldest gone (evicted by age) */
    assert_int_equal(km_kevents_seen_put(&s, 10000 * 0x9E3779B97F4A7C15ull, 10000, 1), 0);
    assert_int_equal(km_kevents_seen_put(&s, 9999 * 0x9E3779B97F4A7C15ull, 9999, 1), 0);
    assert_int_equal(km_kevents_seen_put(&s, 1 * 0x9E3779B97F4A7C15ull, 1, 1), 1);
    km_kevents_seen_fini(&s);
}

/* ---- the watcher's queue and sender (fed, no network) --------------------------------- */

struct sink {
    pthread_mutex_t mu;
    int refuse; /* refuse this many pushes, then take */
    bool refuse_all;
    size_t calls, max_n;
    char lines[64][512];
    int64_t ts[64];
    char labels[64][256];
    size_t n;
};

static int sink_push(void *ud, const struct km_log_push_stream *st, size_t n)
{
    struct sink *k = ud;
    int rc = 0;

    pthread_mutex_lock(&k->mu);
    k->calls++;
    if (n > k->max_n)
        k->max_n = n;
    if (k->refuse_all || k->refuse > 0) {
        k->refuse--;
        rc = KM_EAGAIN;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(st[i].n_entries, 1);
        if (k->n < 64) {
            size_t p = 0;

            snprintf(k->lines[k->n], sizeof(k->lines[0]), "%.*s", (int)st[i].entries[0].len,
                     st[i].entries[0].line);
            k->ts[k->n] = st[i].entries[0].ts_ns;
            for (size_t j = 0; j < st[i].n_labels; j++)
                p += (size_t)snprintf(k->labels[k->n] + p, sizeof(k->labels[0]) - p, "%s=%s,",
                                      st[i].labels[j].name, st[i].labels[j].value);
        }
        k->n++;
    }
out:
    pthread_mutex_unlock(&k->mu);
    return rc;
}

static size_t sink_count(struct sink *k)
{
    size_t n;

    pthread_mutex_lock(&k->mu);
    n = k->n;
    pthread_mutex_unlock(&k->mu);
    return n;
}

/* Wait (no time limit is asserted: ctest's timeout guards) until the sink holds n lines. */
static void wait_lines(struct sink *k, size_t n)
{
    while (sink_count(k) < n) {
        struct timespec t = { 0, 5 * 1000 * 1000 };

        nanosleep(&t, NULL);
    }
}

static json_t *event_json(const char *uid, int count, int second, const char *note)
{
    char s[1024];

    snprintf(s, sizeof(s),
             "{\"metadata\":{\"uid\":\"%s\",\"namespace\":\"shop\"},\"regarding\":{\"kind\":"
             "\"Pod\",\"name\":\"web-1\",\"namespace\":\"shop\"},\"reason\":\"Unhealthy\","
             "\"type\":\"Warning\",\"note\":\"%s\",\"deprecatedCount\":%d,"
             "\"deprecatedLastTimestamp\":\"2026-01-01T00:00:%02dZ\"}",
             uid, note, count, second);
    return parse(s);
}

static void feed(struct km_kevents *e, enum km_watch_type t, const char *uid, int count, int second)
{
    json_t *j = event_json(uid, count, second, "Readiness probe failed");

    assert_int_equal(km_kevents_feed(e, t, j), 0);
    json_decref(j);
}

static void test_watcher_fed(void **state)
{
    struct sink k = { .mu = PTHREAD_MUTEX_INITIALIZER, .refuse = 3 };
    struct km_kevents_opts o = { .sink = { sink_push, &k },
                                 .cluster = "c1",
                                 .backoff_min_ms = 5,
                                 .backoff_max_ms = 20,
                                 .batch = 2 };
    struct km_kevents *e;
    struct km_mset m;

    (void)state;
    assert_int_equal(km_kevents_start(&e, NULL, &o), 0);
    feed(e, KM_W_ADDED, "a", 1, 1);
    feed(e, KM_W_MODIFIED, "a", 1, 1); /* the same observation */
    feed(e, KM_W_MODIFIED, "a", 2, 5); /* a new one */
    feed(e, KM_W_ADDED, "b", 1, 2);
    feed(e, KM_W_DELETED, "a", 2, 5);
    feed(e, KM_W_ADDED, "a", 2, 5); /* after DELETED: written again */
    wait_lines(&k, 4);
    assert_int_equal(km_kevents_count(e, KM_KEV_EMITTED), 4);
    assert_int_equal(km_kevents_count(e, KM_KEV_DUPLICATE), 1);
    assert_int_equal(km_kevents_count(e, KM_KEV_DROPPED), 0);
    assert_true(k.calls >= 3 + 2); /* three refusals retried */
    assert_true(k.max_n <= 2);
    /* in order, nothing lost to the refusals */
    assert_string_equal(k.lines[0], "type=Warning reason=Unhealthy kind=Pod name=web-1 "
                                    "namespace=shop count=1 msg=\"Readiness probe failed\"");
    assert_int_equal(k.ts[0], ts("2026-01-01T00:00:01Z"));
    assert_non_null(strstr(k.lines[1], " count=2 "));
    assert_int_equal(k.ts[1], ts("2026-01-01T00:00:05Z"));
    assert_int_equal(k.ts[2], ts("2026-01-01T00:00:02Z"));
    assert_string_equal(k.lines[3], k.lines[1]); /* the same line and time again */
    assert_int_equal(k.ts[3], k.ts[1]);
    assert_string_equal(k.labels[0], "source=kubernetes-events,cluster=c1,namespace=shop,"
                                     "kind=Pod,name=web-1,reason=Unhealthy,type=Warning,");
    km_mset_init(&m);
    km_kevents_metrics(e, &m);
    assert_true(m.nfam >= 4);
    km_mset_fini(&m);
    km_kevents_stop(e);
    km_kevents_stop(NULL);
}

static void test_watcher_overflow(void **state)
{
    struct sink k = { .mu = PTHREAD_MUTEX_INITIALIZER, .refuse_all = true };
    struct km_kevents_opts o = { .sink = { sink_push, &k },
                                 .backoff_min_ms = 5,
                                 .backoff_max_ms = 10,
                                 .max_queued = 8,
                                 .batch = 4 };
    struct km_kevents *e;
    char uid[32];

    (void)state;
    assert_int_equal(km_kevents_start(&e, NULL, &o), 0);
    for (int i = 0; i < 30; i++) {
        snprintf(uid, sizeof(uid), "u%d", i);
        feed(e, KM_W_ADDED, uid, 1, i);
    }
    /* the queue never holds more than 8 (plus the batch in flight): 22 at least dropped */
    assert_true(km_kevents_count(e, KM_KEV_DROPPED) >= 30 - 8 - 4);
    pthread_mutex_lock(&k.mu);
    k.refuse_all = false;
    pthread_mutex_unlock(&k.mu);
    /* the sink takes again: what is left arrives, the newest among it */
    while (km_kevents_count(e, KM_KEV_EMITTED) + km_kevents_count(e, KM_KEV_DROPPED) < 30) {
        struct timespec t = { 0, 5 * 1000 * 1000 };

        nanosleep(&t, NULL);
    }
    assert_true(sink_count(&k) <= 8 + 4);
    assert_true(sink_count(&k) >= 1);
    assert_non_null(strstr(k.lines[sink_count(&k) - 1], "count=1"));
    assert_int_equal(k.ts[sink_count(&k) - 1], ts("2026-01-01T00:00:29Z")); /* the newest */
    km_kevents_stop(e);
}

/* A sink slower than the feeder, with a queue of 4: the feeder waits, nothing is
 * dropped, everything arrives in order. */
static int slow_push(void *ud, const struct km_log_push_stream *st, size_t n)
{
    struct timespec t = { 0, 2 * 1000 * 1000 };

    nanosleep(&t, NULL);
    return sink_push(ud, st, n);
}

static void test_watcher_backpressure(void **state)
{
    struct sink k = { .mu = PTHREAD_MUTEX_INITIALIZER };
    struct km_kevents_opts o = { .sink = { slow_push, &k }, .max_queued = 4, .batch = 2 };
    struct km_kevents *e;
    char uid[32], want[64];

    (void)state;
    assert_int_equal(km_kevents_start(&e, NULL, &o), 0);
    for (int i = 0; i < 60; i++) {
        snprintf(uid, sizeof(uid), "u%d", i);
        feed(e, KM_W_ADDED, uid, i + 1, i % 60);
    }
    wait_lines(&k, 60);
    assert_int_equal(km_kevents_count(e, KM_KEV_DROPPED), 0);
    assert_int_equal(km_kevents_count(e, KM_KEV_EMITTED), 60);
    for (int i = 0; i < 60; i++) {
        snprintf(want, sizeof(want), " count=%d ", i + 1);
        assert_non_null(strstr(k.lines[i], want));
    }
    km_kevents_stop(e);
}

static bool never(void *ud)
{
    (void)ud;
    return false;
}

static void test_watcher_standby(void **state)
{
    struct sink k = { .mu = PTHREAD_MUTEX_INITIALIZER };
    struct km_kevents_opts o = { .sink = { sink_push, &k }, .leading = never };
    struct km_kevents *e;

    (void)state;
    assert_int_equal(km_kevents_start(&e, NULL, &o), 0);
    feed(e, KM_W_ADDED, "a", 1, 1);
    feed(e, KM_W_ADDED, "b", 1, 1);
    km_kevents_stop(e); /* offers what is queued: nothing */
    assert_int_equal(k.n, 0);
    assert_int_equal(k.calls, 0);
}

static void test_watcher_no_sink(void **state)
{
    struct km_kevents_opts o = { 0 };
    struct km_kevents *e = (struct km_kevents *)&o;

    (void)state;
    assert_int_equal(km_kevents_start(&e, NULL, &o), KM_EINVAL);
    assert_null(e);
}

/* ---- a tool for the runtime test (tests/runtime/test_kstate_events.py) ----------------- */

/* `test_kstate_events --watch KUBECONFIG CLUSTER REFUSE_FILE [IDENTITY]`: the collector (namespaces
 * only) with its Events watcher against a real (or double) API, its sink printing each line as a
 * JSON object on stdout
 * ({"labels":{…},"ts":"<ns>","line":"…"}) and refusing while REFUSE_FILE exists; the
 * counters go to stderr as "outcome=N …" on each line read from stdin, and it stops at
 * the end of stdin. With IDENTITY it elects a leader (a Lease kmon/kmon-events-test, 2 s)
 * and only the leader writes. */
static const char *refuse_file;
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

static int tool_push(void *ud, const struct km_log_push_stream *st, size_t n)
{
    (void)ud;
    if (access(refuse_file, F_OK) == 0)
        return KM_EAGAIN;
    pthread_mutex_lock(&out_mu);
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object(), *l = json_object();
        char tsbuf[32];
        char *s;

        for (size_t j = 0; j < st[i].n_labels; j++)
            json_object_set_new(l, st[i].labels[j].name, json_string(st[i].labels[j].value));
        snprintf(tsbuf, sizeof(tsbuf), "%lld", (long long)st[i].entries[0].ts_ns);
        json_object_set_new(o, "labels", l);
        json_object_set_new(o, "ts", json_string(tsbuf));
        json_object_set_new(o, "line", json_stringn(st[i].entries[0].line, st[i].entries[0].len));
        s = json_dumps(o, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
        json_decref(o);
    }
    fflush(stdout);
    pthread_mutex_unlock(&out_mu);
    return 0;
}

/* The counters of the Events watcher inside the collector, and its metrics as the
 * collector renders them (the lines naming events), on stderr. */
static void tool_counters(struct km_kstate *ks)
{
    struct km_kevents *e = km_kstate_events(ks);
    const struct km_kreflector_stats *st = km_kevents_stats(e);
    struct km_mset m;
    struct km_buf b;
    const char *p;

    fprintf(stderr,
            "emitted=%llu duplicate=%llu dropped=%llu invalid=%llu tracked=%zu "
            "forbidden=%d lists=%llu relists_gone=%llu\n",
            (unsigned long long)km_kevents_count(e, KM_KEV_EMITTED),
            (unsigned long long)km_kevents_count(e, KM_KEV_DUPLICATE),
            (unsigned long long)km_kevents_count(e, KM_KEV_DROPPED),
            (unsigned long long)km_kevents_count(e, KM_KEV_INVALID), km_kevents_tracked(e),
            (int)atomic_load(&st->forbidden), (unsigned long long)atomic_load(&st->lists),
            (unsigned long long)atomic_load(&st->relists_gone));
    km_mset_init(&m);
    km_buf_init(&b, 0);
    km_kstate_metrics(ks, &m);
    km_mset_render_prom(&m, &b);
    for (p = km_buf_cstr(&b); *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);

        if (p[0] != '#' &&
            (memmem(p, n, "kind=\"events\"", 13) || memmem(p, n, "kstate_events", 13)))
            fprintf(stderr, "metric %.*s\n", (int)n, p);
        p += n + (nl != NULL);
    }
    fflush(stderr);
    km_buf_fini(&b);
    km_mset_fini(&m);
}

/* The collector (kstate) with namespaces only and an Events sink, as the server and the
 * agent run it. */
static int tool(char **argv)
{
    struct km_kstate_opts o = { .kubeconfig = argv[2],
                                .cluster = argv[3],
                                .kinds = "namespaces",
                                .r = { .watch_timeout_s = 5,
                                       .page_limit = 3,
                                       .backoff_min_ms = 50,
                                       .backoff_max_ms = 200,
                                       .forbidden_retry_ms = 500 },
                                .events = true,
                                .events_sink = { tool_push, NULL } };
    struct km_kstate *ks;
    char line[256];

    refuse_file = argv[4];
    if (argv[5]) { /* an identity: elect a leader with the Lease kmon/kmon-events-test */
        o.leader_elect = true;
        o.leader = (struct km_kleader_opts){ .ns = "kmon",
                                             .name = "kmon-events-test",
                                             .identity = argv[5],
                                             .lease_duration_ms = 2000,
                                             .renew_deadline_ms = 1500,
                                             .retry_period_ms = 200 };
    }
    if (km_kstate_start(&ks, &o) != 0) {
        fprintf(stderr, "test_kstate_events: %s\n", km_err_msg());
        return 1;
    }
    while (fgets(line, sizeof(line), stdin))
        tool_counters(ks);
    km_kstate_stop(ks);
    return 0;
}

int main(int argc, char **argv)
{
    if ((argc == 5 || argc == 6) && strcmp(argv[1], "--watch") == 0)
        return tool(argv);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_series),    cmocka_unit_test(test_decode_deprecated),
        cmocka_unit_test(test_decode_times),     cmocka_unit_test(test_line_exact),
        cmocka_unit_test(test_line_quoting),     cmocka_unit_test(test_line_truncated),
        cmocka_unit_test(test_line_pure),        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_seen_basic),       cmocka_unit_test(test_seen_model),
        cmocka_unit_test(test_seen_bounded),     cmocka_unit_test(test_watcher_fed),
        cmocka_unit_test(test_watcher_overflow), cmocka_unit_test(test_watcher_standby),
        cmocka_unit_test(test_watcher_no_sink),  cmocka_unit_test(test_watcher_backpressure),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
