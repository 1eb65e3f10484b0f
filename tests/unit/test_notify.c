/*
 * Unit tests: the alert notifier (src/notify/) against a receiver of the test's own (the
 * repo's HTTP server on loopback, which records every POST and answers as told) — the
 * Alertmanager v2 body and headers, external labels, batching, retries on 500, no retry
 * on 400, errors on a refused connection, one live target of two, drop-oldest on
 * overflow, the drain at destroy and its bound with a receiver that never answers, the
 * webhook body, metrics, bad options — and against a real Alertmanager (Debian's
 * prometheus-alertmanager, skipped when absent): an alert sent through the notifier
 * reaches Alertmanager's webhook receiver (the test's) and its /api/v2/alerts, and a
 * resolved notification resolves it.
 */
#include "common/err.h"
#include "common/http_server.h"
#include "common/labels.h"
#include "common/log.h"
#include "common/mset.h"
#include "common/timefmt.h"
#include "notify/notify.h"
#include "version.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_POSTS 64

/* ---- the receiver ------------------------------------------------------------------------ */

struct post {
    char *path, *body, *ctype, *ua, *auth;
};

struct rx {
    struct km_http_server *srv;
    uint16_t port;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct post posts[MAX_POSTS];
    size_t n;
    int fail_left;        /* answer fail_status to this many first requests */
    unsigned fail_status; /* (0: 500) */
    unsigned status;      /* then (0: 200) */
    bool gate;            /* hold requests while set */
    size_t waiting;       /* requests held at the gate */
};

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void on_post(struct km_http_req *r, void *ud)
{
    struct rx *rx = ud;
    size_t len;
    const char *body = km_http_req_body(r, &len);
    unsigned status;

    pthread_mutex_lock(&rx->mu);
    if (rx->n < MAX_POSTS) {
        struct post *p = &rx->posts[rx->n++];

        p->path = strdup(km_http_req_path(r));
        p->body = strndup(body ? body : "", len);
        p->ctype = dup_or_null(km_http_req_header(r, "Content-Type"));
        p->ua = dup_or_null(km_http_req_header(r, "User-Agent"));
        p->auth = dup_or_null(km_http_req_header(r, "Authorization"));
    }
    pthread_cond_broadcast(&rx->cv);
    rx->waiting++;
    while (rx->gate)
        pthread_cond_wait(&rx->cv, &rx->mu);
    rx->waiting--;
    if (rx->fail_left > 0) {
        rx->fail_left--;
        status = rx->fail_status ? rx->fail_status : 500;
    } else {
        status = rx->status ? rx->status : 200;
    }
    pthread_mutex_unlock(&rx->mu);
    km_http_respond_text(r, status, status == 200 ? "ok\n" : "no\n");
}

static void rx_start(struct rx *rx)
{
    struct km_http_opts o = { .listen = "127.0.0.1:0", .name = "test-rx", .workers = 4 };
    struct km_http_route routes[] = { { "POST", "/*", on_post, 0 } };

    memset(rx, 0, sizeof(*rx));
    pthread_mutex_init(&rx->mu, NULL);
    pthread_cond_init(&rx->cv, NULL);
    assert_int_equal(km_http_server_create(&rx->srv, &o), 0);
    assert_int_equal(km_http_server_add_routes(rx->srv, routes, 1, rx), 0);
    assert_int_equal(km_http_server_start(rx->srv), 0);
    rx->port = km_http_server_port(rx->srv);
}

static void rx_open_gate(struct rx *rx)
{
    pthread_mutex_lock(&rx->mu);
    rx->gate = false;
    pthread_cond_broadcast(&rx->cv);
    pthread_mutex_unlock(&rx->mu);
}

static void rx_stop(struct rx *rx)
{
    rx_open_gate(rx);
    km_http_server_destroy(rx->srv);
    for (size_t i = 0; i < rx->n; i++) {
        free(rx->posts[i].path);
        free(rx->posts[i].body);
        free(rx->posts[i].ctype);
        free(rx->posts[i].ua);
        free(rx->posts[i].auth);
    }
    pthread_cond_destroy(&rx->cv);
    pthread_mutex_destroy(&rx->mu);
}

/* Wait until the receiver has n posts (or more); false after timeout_ms. */
static bool rx_wait(struct rx *rx, size_t n, int64_t timeout_ms)
{
    int64_t end = km_time_mono_ns() + timeout_ms * 1000000;
    bool ok;

    pthread_mutex_lock(&rx->mu);
    while (rx->n < n && km_time_mono_ns() < end) {
        pthread_mutex_unlock(&rx->mu);
        usleep(5000);
        pthread_mutex_lock(&rx->mu);
    }
    ok = rx->n >= n;
    pthread_mutex_unlock(&rx->mu);
    return ok;
}

static size_t rx_count(struct rx *rx)
{
    size_t n;

    pthread_mutex_lock(&rx->mu);
    n = rx->n;
    pthread_mutex_unlock(&rx->mu);
    return n;
}

static json_t *rx_json(struct rx *rx, size_t i)
{
    json_error_t e;
    json_t *j;

    pthread_mutex_lock(&rx->mu);
    assert_true(i < rx->n);
    j = json_loads(rx->posts[i].body, 0, &e);
    pthread_mutex_unlock(&rx->mu);
    if (!j)
        fail_msg("post %zu is not JSON: %s", i, e.text);
    return j;
}

static char *url_of(uint16_t port, const char *path)
{
    static char buf[8][128];
    static int k;
    char *b = buf[k++ % 8];

    snprintf(b, sizeof(buf[0]), "http://127.0.0.1:%u%s", port, path);
    return b;
}

/* A loopback port with nothing listening on it. */
static uint16_t closed_port(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* A socket that takes connections (the kernel completes them) but never answers. */
static int dead_listener(uint16_t *port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* ---- helpers ------------------------------------------------------------------------------ */

static struct km_labels *labels_of(const char *const *kv, size_t n)
{
    struct km_label v[16];
    struct km_labels *l = NULL;

    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++) {
        v[i].name = kv[2 * i];
        v[i].value = kv[2 * i + 1];
    }
    assert_int_equal(km_labels_create(&l, v, n), 0);
    return l;
}

#define LABELS(...)                                                                                \
    labels_of((const char *const[]){ __VA_ARGS__ },                                                \
              sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *) / 2)

/* A metric's value (-1 when absent); am: the alertmanager label, or NULL. */
static double metric(struct km_notifier *n, const char *family, const char *am)
{
    struct km_mset m;
    const struct km_msample *s;
    struct km_label l = { "alertmanager", am };
    double v = -1;

    km_mset_init(&m);
    km_mset_reset(&m, 0);
    km_notifier_metrics(n, &m);
    assert_int_equal(km_mset_error(&m), 0);
    s = km_mset_find(&m, family, am ? &l : NULL, am ? 1 : 0);
    if (s)
        v = s->value;
    km_mset_fini(&m);
    return v;
}

static bool wait_metric(struct km_notifier *n, const char *family, const char *am, double want,
                        int64_t timeout_ms)
{
    int64_t end = km_time_mono_ns() + timeout_ms * 1000000;

    while (metric(n, family, am) != want) {
        if (km_time_mono_ns() > end)
            return false;
        usleep(5000);
    }
    return true;
}

static const char *jstr(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Send alerts named "<prefix><i>" for i in [from, to), in one call (so in one batch when
 * the sender is idle and they fit). */
static void send_range(struct km_notifier *n, const char *prefix, int from, int to)
{
    struct km_alert_msg a[200];
    struct km_labels *l[200];
    int count = to - from;

    assert_true(count > 0 && count <= 200);
    for (int i = 0; i < count; i++) {
        char name[64];

        snprintf(name, sizeof(name), "%s%d", prefix, from + i);
        l[i] = LABELS("alertname", name);
        a[i] = (struct km_alert_msg){ .labels = l[i], .starts_at_ms = 1700000000000 };
    }
    assert_int_equal(km_notifier_send(n, a, (size_t)count), 0);
    for (int i = 0; i < count; i++)
        km_labels_destroy(l[i]);
}

/* The alertnames in every post, in order, into names (comma-separated). */
static void names_posted(struct rx *rx, bool webhook, char *out, size_t size)
{
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < rx_count(rx); i++) {
        json_t *j = rx_json(rx, i), *arr = webhook ? json_object_get(j, "alerts") : j, *a;
        size_t k;

        json_array_foreach(arr, k, a)
        {
            const char *name = jstr(json_object_get(a, "labels"), "alertname");

            used += (size_t)snprintf(out + used, size - used, "%s%s", used ? "," : "",
                                     name ? name : "?");
            assert_true(used < size);
        }
        json_decref(j);
    }
}

/* ---- Alertmanager body and headers ------------------------------------------------------ */

static void test_alertmanager_body(void **state)
{
    struct rx rx;
    struct km_notifier *n;
    struct km_notify_target t = { KM_NOTIFY_ALERTMANAGER, NULL, "s3cret", NULL, 5000 };
    struct km_notifier_opts o = { .targets = &t, .n_targets = 1 };
    struct km_labels *l1 = LABELS("alertname", "DiskFull", "severity", "page", "zone", "a\"b");
    struct km_labels *an = LABELS("summary", "disk is full", "runbook", "");
    struct km_labels *l2 = LABELS("alertname", "Other");
    struct km_alert_msg a[2] = {
        { l1, an, 1700000000123, 1700000300000, "http://kmon:9090/graph?g0.expr=up" },
        { l2, NULL, 0, 0, NULL },
    };
    json_t *j, *x;
    char want_ua[64];

    (void)state;
    rx_start(&rx);
    t.url = url_of(rx.port, "/"); /* a trailing slash is not doubled */
    assert_int_equal(km_notifier_create(&n, &o), 0);
    assert_int_equal(km_notifier_send(n, a, 2), 0);
    assert_true(rx_wait(&rx, 1, 5000));
    assert_string_equal(rx.posts[0].path, "/api/v2/alerts");
    assert_string_equal(rx.posts[0].ctype, "application/json");
    snprintf(want_ua, sizeof(want_ua), "kmon/%s", KMON_VERSION);
    assert_string_equal(rx.posts[0].ua, want_ua);
    assert_string_equal(rx.posts[0].auth, "Bearer s3cret");
    j = rx_json(&rx, 0);
    assert_true(json_is_array(j));
    assert_int_equal(json_array_size(j), 2);
    x = json_array_get(j, 0);
    assert_int_equal(json_object_size(json_object_get(x, "labels")), 3);
    assert_string_equal(jstr(json_object_get(x, "labels"), "alertname"), "DiskFull");
    assert_string_equal(jstr(json_object_get(x, "labels"), "zone"), "a\"b");
    /* Annotations are copied as they are, an empty value included. */
    assert_int_equal(json_object_size(json_object_get(x, "annotations")), 2);
    assert_string_equal(jstr(json_object_get(x, "annotations"), "summary"), "disk is full");
    assert_string_equal(jstr(json_object_get(x, "annotations"), "runbook"), "");
    assert_string_equal(jstr(x, "startsAt"), "2023-11-14T22:13:20.123Z");
    assert_string_equal(jstr(x, "endsAt"), "2023-11-14T22:18:20.000Z");
    assert_string_equal(jstr(x, "generatorURL"), "http://kmon:9090/graph?g0.expr=up");
    assert_int_equal(json_object_size(x), 5);
    /* Nothing but labels when nothing else is set. */
    x = json_array_get(j, 1);
    assert_int_equal(json_object_size(x), 1);
    assert_string_equal(jstr(json_object_get(x, "labels"), "alertname"), "Other");
    json_decref(j);
    assert_true(wait_metric(n, "prometheus_notifications_sent_total",
                            url_of(rx.port, "/api/v2/alerts"), 2, 5000));
    assert_true(metric(n, "prometheus_notifications_latency_seconds_count",
                       url_of(rx.port, "/api/v2/alerts")) == 1);
    km_notifier_destroy(n);
    rx_stop(&rx);
    km_labels_destroy(l1);
    km_labels_destroy(l2);
    km_labels_destroy(an);
}

/* ---- external labels --------------------------------------------------------------------- */

static void test_external_labels(void **state)
{
    struct rx rx;
    struct km_notifier *n;
    struct km_notify_target t = { KM_NOTIFY_ALERTMANAGER, NULL, NULL, NULL, 5000 };
    struct km_labels *ext = LABELS("cluster", "prod", "region", "eu", "zz", "");
    struct km_notifier_opts o = { .targets = &t, .n_targets = 1, .external_labels = ext };
    struct km_labels *l1 = LABELS("alertname", "A");
    struct km_labels *l2 = LABELS("alertname", "B", "cluster", "dev");
    struct km_labels *l3 = LABELS("alertname", "C", "cluster", "", "empty", "");
    struct km_alert_msg a[3] = { { .labels = l1 }, { .labels = l2 }, { .labels = l3 } };
    json_t *j, *x;

    (void)state;
    rx_start(&rx);
    t.url = url_of(rx.port, "/prefix/");
    assert_int_equal(km_notifier_create(&n, &o), 0);
    km_labels_destroy(ext); /* copied */
    assert_int_equal(km_notifier_send(n, a, 3), 0);
    assert_true(rx_wait(&rx, 1, 5000));
    assert_string_equal(rx.posts[0].path, "/prefix/api/v2/alerts");
    j = rx_json(&rx, 0);
    /* Lacking: added. */
    x = json_object_get(json_array_get(j, 0), "labels");
    assert_int_equal(json_object_size(x), 3);
    assert_string_equal(jstr(x, "cluster"), "prod");
    assert_string_equal(jstr(x, "region"), "eu");
    /* The alert's own value wins. */
    x = json_object_get(json_array_get(j, 1), "labels");
    assert_string_equal(jstr(x, "cluster"), "dev");
    assert_string_equal(jstr(x, "region"), "eu");
    /* An empty value is absence: replaced by the external one, or left out. */
    x = json_object_get(json_array_get(j, 2), "labels");
    assert_int_equal(json_object_size(x), 3);
    assert_string_equal(jstr(x, "cluster"), "prod");
    assert_null(json_object_get(x, "empty"));
    assert_null(json_object_get(x, "zz"));
    json_decref(j);
    km_notifier_destroy(n);
    rx_stop(&rx);
    km_labels_destroy(l1);
    km_labels_destroy(l2);
    km_labels_destroy(l3);
}

/* ---- batching ---------------------------------------------------------------------------- */

static void test_batching(void **state)
{
    struct rx rx;
    struct km_notifier *n;
    struct km_notify_target t = { KM_NOTIFY_ALERTMANAGER, NULL, NULL, NULL, 5000 };
    struct km_notifier_opts o = { .targets = &t, .n_targets = 1 };
    size_t sizes[3] = { 64, 64, 22 }, next = 0;

    (void)state;
    rx_start(&rx);
    t.url = url_of(rx.port, "");
    assert_int_equal(km_notifier_create(&n, &o), 0);
    send_range(n, "A", 0, 150);
    assert_true(rx_wait(&rx, 3, 5000));
    assert_true(wait_metric(n, "prometheus_notifications_sent_total",
                            url_of(rx.port, "/api/v2/alerts"), 150, 5000));
    assert_int_equal(rx_count(&rx), 3);
    for (size_t p = 0; p < 3; p++) {
        json_t *j = rx_json(&rx, p), *x;
        size_t k;

        assert_int_equal(json_array_size(j), sizes[p]);
        json_array_foreach(j, k, x)
        {
            char name[16];

            /* In order, none twice, none lost. */
            snprintf(name, sizeof(name), "A%zu", next++);
            assert_string_equal(jstr(json_object_get(x, "labels"), "alertname"), name);
        }
        json_decref(j);
    }
    assert_true(metric(n, "prometheus_notifications_dropped_total", NULL) == 0);
    assert_true(metric(n, "prometheus_notifications_queue_length", NULL) == 0);
    km_notifier_destroy(n);
    rx_stop(&rx);
}

/* ---- failures ---------------------------------------------------------------------------- */

static void test_retry_on_500(void **state)
{
    struct rx rx;
    struct km_notifier *n;
    struct km_notify_target t = { KM_NOTIFY_ALERTMANAGER, NULL, NULL, NULL, 5000 };
    struct km_notifier_opts o = { .targets = &t, .n_targets = 1, .retry_backoff_ms = 20 };
    const char *am;
    char names[256];

    (void)state;
    rx_start(&rx);
    rx.fail_left = 2;
    t.url = url_of(rx.port, "");
    am = url_of(rx.port, "/api/v2/alerts");
    assert_int_equal(km_notifier_create(&n, &o), 0);
    send_range(n, "R", 0, 3);
    assert_true(wait_metric(n, "prometheus_notifications_sent_total", am, 3, 5000));
    assert_int_equal(rx_count(&rx), 3); /* two answered 500, the third 200 */
    names_posted(&rx, false, names, sizeof(names));
    assert_string_equal(names, "R0,R1,R2,R0,R1,R2,R0,R1,R2");
    assert_true(metric(n, "kmon_notifications_retries_total", am) == 2);
    assert_true(metric(n, "prometheus_notifications_errors_total", am) == 0);
    assert_true(metric(n, "prometheus_notifications_dropped_total", NULL) == 0);

    /* Past max_attempts (3): given up, one error, the batch dropped. */
    rx.fail_left = 10;
    send_range(n, "S", 0, 2);
    assert_true(wait_metric(n, "prometheus_notifications_dropped_total", NULL, 2, 5000));
    assert_int_equal(rx_count(&rx), 6);
    assert_true(metric(n, "prometheus_notifications_errors_total", am) == 1);
    assert_true(metric(n, "kmon_notifications_retries_total", am) == 4);
    /* Counted as sent all the same, as Prometheus 2.42 counts. */
    assert_true(metric(n, "prometheus_notifications_sent_total", am) == 5);
    km_notifier_destroy(n);
    rx_stop(&rx);
}

static void test_4xx_not_retried(void **state)
{
    struct rx rx;
    struct km_notifier *n;
    struct km_notify_target t = { KM_NOTIFY_ALERTMANAGER, NULL, NULL, NULL, 5000 };
    struct km_notifier_opts o = { .targets = &t, .n_targets = 1, .retry_backoff_ms = 20 };
    const char *am;

    (void)state;
    rx_start(&rx);
    rx.status = 400;
    t.url = url_of(rx.port, "");
    am = url_of(rx.port, "/api/v2/alerts");
    assert_int_equal(km_notifier_create(&n, &o), 0);
    send_range(n, "B", 0, 4);
    assert_true(wait_metric(n, "prometheus_notifications_dropped_total", NULL, 4, 5000));
    assert_int_equal(rx_count(&rx), 1);
    assert_true(metric(n, "prometheus_notifications_errors_total", am) == 1);
    assert_true(metric(n, "kmon_notifications_retries_total", am) == 0);
    /* 429 is transient. */
    rx.fail_left = 1;
    rx.fail_status = 429;
    rx.status = 204;
    send_range(n, "C", 0, 1);
    assert_true(wait_metric(n, "prometheus_notifications_sent_total", am, 5, 5000));
    assert_int_equal(rx_count(&rx), 3);
    assert_true(metric(n, "kmon_notifications_retries_total", am) == 1);
    assert_true(metric(n, "prometheus_notifications_dropped_total", NULL) == 4);
    km_notifier_destroy(n);
    rx_stop(&rx);
}

static void test_connection_refused(void **state)
{
    struct km_notifier *n;
    struct km_notify_target t = { KM_NOTIFY_ALERTMANAGER, NULL, NULL, NULL, 2000 };
    struct km_notifier_opts o = {
        .targets = &t, .n_targets = 1, .max_attempts = 2, .retry_backoff_ms = 10
    };
    uint16_t port = closed_port();
    const char *am = url_of(port, "/api/v2/alerts");

    (void)state;
    t.url = url_of(port, "");
    assert_int_equal(km_notifier_create(&n, &o), 0);
    send_range(n, "X", 0, 5);
    assert_true(wait_metric(n, "prometheus_notifications_dropped_total", NULL, 5, 5000));
    assert_true(metric(n, "prometheus_notifications_errors_total", am) == 1);
    assert_true(metric(n, "kmon_notifications_retries_total", am) == 1);
    assert_true(metric(n, "prometheus_notifications_latency_seconds_count", am) == 1);
    km_notifier_destroy(n);
}

/* One target of two takes the batch: it counts as sent (Prometheus' numSuccess > 0). */
static void test_one_of_two(void **state)
{
    struct rx rx;
    struct km_notifier *n;
    struct km_notify_target t[2] = { { KM_NOTIFY_ALERTMANAGER, NULL, NULL, NULL, 2000 },
                                     { KM_NOTIFY_ALERTMANAGER, NULL, NULL, NULL, 2000 } };
    struct km_notifier_opts o = {
        .targets = t, .n_targets = 2, .max_attempts = 1, .retry_backoff_ms = 10
    };
    uint16_t dead = closed_port();

    (void)state;
    rx_start(&rx);
    t[0].url = url_of(dead, "");
    t[1].url = url_of(rx.port, "");
    assert_int_equal(km_notifier_create(&n, &o), 0);
    send_range(n, "T", 0, 3);
    assert_true(wait_metric(n, "prometheus_notifications_errors_total",
                            url_of(dead, "/api/v2/alerts"), 1, 5000));
    assert_true(wait_metric(n, "prometheus_notifications_sent_total",
                            url_of(rx.port, "/api/v2/alerts"), 3, 5000));
    assert_true(metric(n, "prometheus_notifications_dropped_total", NULL) == 0);
    assert_true(metric(n, "prometheus_notifications_alertmanagers_discovered", NULL) == 2);
    km_notifier_destroy(n);
    rx_stop(&rx);
}

/* ---- overflow ---------------------------------------------------------------------------- */

static void test_drop_oldest(void **state)
{
    struct rx rx;
    struct km_notifier *n;
    struct km_notify_target t = { KM_NOTIFY_ALERTMANAGER, NULL, NULL, NULL, 5000 };
    struct km_notifier_opts o = { .targets = &t, .n_targets = 1, .queue_capacity = 5 };
    char names[512];

    (void)state;
    rx_start(&rx);
    rx.gate = true;
    t.url = url_of(rx.port, "");
    assert_int_equal(km_notifier_create(&n, &o), 0);
    assert_true(metric(n, "prometheus_notifications_queue_capacity", NULL) == 5);
    /* The sender takes Q0 and is held at the receiver; Q1..Q4 then Q5..Q8 overflow the
     * queue of 5: Q1..Q3, the oldest, go. */
    send_range(n, "Q", 0, 1);
    assert_true(rx_wait(&rx, 1, 5000));
    send_range(n, "Q", 1, 5);
    send_range(n, "Q", 5, 9);
    assert_true(metric(n, "prometheus_notifications_dropped_total", NULL) == 3);
    assert_true(metric(n, "prometheus_notifications_queue_length", NULL) == 5);
    /* More at once than the queue holds: the call's first ones go too (7 - 5), and all
     * that was queued before (5). */
    send_range(n, "W", 0, 7);
    assert_true(metric(n, "prometheus_notifications_dropped_total", NULL) == 3 + 2 + 5);
    assert_true(metric(n, "prometheus_notifications_queue_length", NULL) == 5);
    rx_open_gate(&rx);
    assert_true(rx_wait(&rx, 2, 5000));
    assert_true(wait_metric(n, "prometheus_notifications_queue_length", NULL, 0, 5000));
    assert_true(wait_metric(n, "prometheus_notifications_sent_total",
                            url_of(rx.port, "/api/v2/alerts"), 6, 5000));
    names_posted(&rx, false, names, sizeof(names));
    assert_string_equal(names, "Q0,W2,W3,W4,W5,W6");
    km_notifier_destroy(n);
    rx_stop(&rx);
}

/* ---- shutdown ---------------------------------------------------------------------------- */

/* destroy() delivers what is queued. */
static void test_drain(void **state)
{
    struct rx rx;
    struct km_notifier *n;
    struct km_notify_target t = { KM_NOTIFY_WEBHOOK, NULL, NULL, NULL, 5000 };
    struct km_notifier_opts o = { .targets = &t, .n_targets = 1, .max_batch = 10 };
    size_t total = 0;

    (void)state;
    rx_start(&rx);
    t.url = url_of(rx.port, "/hook");
    assert_int_equal(km_notifier_create(&n, &o), 0);
    send_range(n, "D", 0, 200);
    km_notifier_destroy(n);
    assert_int_equal(rx_count(&rx), 20);
    for (size_t i = 0; i < rx_count(&rx); i++) {
        json_t *j = rx_json(&rx, i);

        total += json_array_size(json_object_get(j, "alerts"));
        json_decref(j);
    }
    assert_int_equal(total, 200);
    rx_stop(&rx);
}

/* A receiver that never answers: destroy() returns after the drain timeout, not after the
 * request timeout or the retries. */
static void test_bounded_shutdown(void **state)
{
    struct km_notifier *n;
    struct km_notify_target t = { KM_NOTIFY_ALERTMANAGER, NULL, NULL, NULL, 10000 };
    struct km_notifier_opts o = {
        .targets = &t, .n_targets = 1, .max_batch = 4, .drain_timeout_ms = 300
    };
    uint16_t port;
    int fd = dead_listener(&port);
    int64_t t0;

    (void)state;
    t.url = url_of(port, "");
    assert_int_equal(km_notifier_create(&n, &o), 0);
    send_range(n, "Z", 0, 100);
    usleep(100000); /* the first batch is in flight */
    t0 = km_time_mono_ns();
    km_notifier_destroy(n);
    assert_true(km_time_mono_ns() - t0 < 1500ll * 1000000);
    close(fd);

    /* Without a drain: at once. */
    fd = dead_listener(&port);
    t.url = url_of(port, "");
    o.drain_timeout_ms = -1;
    assert_int_equal(km_notifier_create(&n, &o), 0);
    send_range(n, "Z", 0, 10);
    usleep(50000);
    t0 = km_time_mono_ns();
    km_notifier_destroy(n);
    assert_true(km_time_mono_ns() - t0 < 1000ll * 1000000);
    close(fd);
}

/* ---- webhook ----------------------------------------------------------------------------- */

static void test_webhook_body(void **state)
{
    struct rx rx;
    struct km_notifier *n;
    struct km_notify_target t = { KM_NOTIFY_WEBHOOK, NULL, NULL, NULL, 5000 };
    struct km_labels *ext = LABELS("cluster", "c1");
    struct km_notifier_opts o = { .targets = &t, .n_targets = 1, .external_labels = ext };
    struct km_labels *l1 = LABELS("alertname", "Up");
    struct km_labels *l2 = LABELS("alertname", "Gone");
    struct km_labels *an = LABELS("summary", "s");
    int64_t now = km_time_now_ns() / 1000000;
    struct km_alert_msg a[2] = {
        { l1, an, now - 60000, now + 300000, "http://g/1" },
        { l2, NULL, now - 60000, now - 1000, NULL },
    };
    json_t *j, *x;

    (void)state;
    rx_start(&rx);
    t.url = url_of(rx.port, "/hooks/kmon?token=1");
    assert_int_equal(km_notifier_create(&n, &o), 0);
    assert_int_equal(km_notifier_send(n, a, 2), 0);
    assert_true(rx_wait(&rx, 1, 5000));
    assert_string_equal(rx.posts[0].path, "/hooks/kmon");
    assert_string_equal(rx.posts[0].ctype, "application/json");
    assert_null(rx.posts[0].auth);
    j = rx_json(&rx, 0);
    assert_int_equal(json_object_size(j), 3);
    assert_string_equal(jstr(j, "version"), "1");
    assert_string_equal(jstr(j, "status"), "firing"); /* one of them is */
    assert_int_equal(json_array_size(json_object_get(j, "alerts")), 2);
    x = json_array_get(json_object_get(j, "alerts"), 0);
    assert_string_equal(jstr(x, "status"), "firing");
    assert_string_equal(jstr(json_object_get(x, "labels"), "alertname"), "Up");
    assert_string_equal(jstr(json_object_get(x, "labels"), "cluster"), "c1");
    assert_string_equal(jstr(json_object_get(x, "annotations"), "summary"), "s");
    assert_non_null(jstr(x, "startsAt"));
    assert_non_null(jstr(x, "endsAt"));
    assert_string_equal(jstr(x, "generatorURL"), "http://g/1");
    x = json_array_get(json_object_get(j, "alerts"), 1);
    assert_string_equal(jstr(x, "status"), "resolved");
    json_decref(j);

    /* Every alert resolved: so is the notification. */
    assert_int_equal(km_notifier_send(n, &a[1], 1), 0);
    assert_true(rx_wait(&rx, 2, 5000));
    j = rx_json(&rx, 1);
    assert_string_equal(jstr(j, "status"), "resolved");
    json_decref(j);
    assert_true(wait_metric(n, "prometheus_notifications_sent_total",
                            url_of(rx.port, "/hooks/kmon?token=1"), 3, 5000));
    km_notifier_destroy(n);
    rx_stop(&rx);
    km_labels_destroy(ext);
    km_labels_destroy(l1);
    km_labels_destroy(l2);
    km_labels_destroy(an);
}

/* ---- metrics and options ------------------------------------------------------------------- */

static void test_metrics_text(void **state)
{
    struct rx rx;
    struct km_notifier *n;
    struct km_notify_target t = { KM_NOTIFY_ALERTMANAGER, NULL, NULL, NULL, 5000 };
    struct km_notifier_opts o = { .targets = &t, .n_targets = 1 };
    struct km_buf b;
    char url[128], line[256];

    (void)state;
    rx_start(&rx);
    snprintf(url, sizeof(url), "http://kmon:pw@127.0.0.1:%u", rx.port);
    t.url = url;
    assert_int_equal(km_notifier_create(&n, &o), 0);
    send_range(n, "M", 0, 2);
    assert_true(rx_wait(&rx, 1, 5000));
    /* User information goes as basic auth, and stays out of the label. */
    assert_string_equal(rx.posts[0].auth, "Basic a21vbjpwdw==");
    assert_true(wait_metric(n, "prometheus_notifications_sent_total",
                            url_of(rx.port, "/api/v2/alerts"), 2, 5000));
    km_buf_init(&b, 0);
    km_notifier_write_metrics(n, &b);
    assert_int_equal(km_buf_error(&b), 0);
    assert_null(strstr(km_buf_cstr(&b), "pw@"));
    snprintf(line, sizeof(line),
             "prometheus_notifications_sent_total{alertmanager=\"http://127.0.0.1:%u/api/v2/"
             "alerts\"} 2\n",
             rx.port);
    assert_non_null(strstr(km_buf_cstr(&b), line));
    assert_non_null(strstr(km_buf_cstr(&b), "# TYPE prometheus_notifications_sent_total counter"));
    assert_non_null(strstr(km_buf_cstr(&b), "\nprometheus_notifications_dropped_total 0\n"));
    assert_non_null(strstr(km_buf_cstr(&b), "\nprometheus_notifications_queue_length 0\n"));
    assert_non_null(strstr(km_buf_cstr(&b), "\nprometheus_notifications_queue_capacity 10000\n"));
    assert_non_null(
        strstr(km_buf_cstr(&b), "\nprometheus_notifications_alertmanagers_discovered 1\n"));
    assert_non_null(strstr(km_buf_cstr(&b), "prometheus_notifications_latency_seconds_sum{"));
    assert_non_null(strstr(km_buf_cstr(&b), "prometheus_notifications_latency_seconds_count{"));
    assert_non_null(strstr(km_buf_cstr(&b), "prometheus_notifications_errors_total{"));
    km_buf_fini(&b);
    km_notifier_destroy(n);
    rx_stop(&rx);
}

static void test_bad_options(void **state)
{
    struct km_notifier *n = NULL;
    struct km_notify_target t = { KM_NOTIFY_ALERTMANAGER, "ftp://x/", NULL, NULL, 0 };
    struct km_notifier_opts o = { .targets = &t, .n_targets = 1 };

    (void)state;
    assert_int_equal(km_notifier_create(&n, &o), KM_EINVAL);
    assert_non_null(strstr(km_err_msg(), "ftp://x/"));
    t.url = "no url at all";
    assert_int_equal(km_notifier_create(&n, &o), KM_EINVAL);
    t.url = "";
    assert_int_equal(km_notifier_create(&n, &o), KM_EINVAL);
    t.url = "http://127.0.0.1:1";
    t.bearer_token = "a\r\nX-Evil: 1";
    assert_int_equal(km_notifier_create(&n, &o), KM_EINVAL);
    assert_non_null(strstr(km_err_msg(), "line break"));
    t.bearer_token = NULL;
    t.kind = (enum km_notify_kind)7;
    assert_int_equal(km_notifier_create(&n, &o), KM_EINVAL);
    assert_null(n);
    km_notifier_destroy(NULL);

    /* No targets: every batch is dropped (Prometheus without Alertmanagers). */
    o.n_targets = 0;
    o.targets = NULL;
    assert_int_equal(km_notifier_create(&n, &o), 0);
    send_range(n, "N", 0, 3);
    assert_true(wait_metric(n, "prometheus_notifications_dropped_total", NULL, 3, 5000));
    assert_true(metric(n, "prometheus_notifications_alertmanagers_discovered", NULL) == 0);
    km_notifier_destroy(n);
}

/* ---- a real Alertmanager ------------------------------------------------------------------ */

#define AM_BIN "/usr/bin/prometheus-alertmanager"

static size_t keep_body(char *p, size_t size, size_t nmemb, void *ud)
{
    km_buf_append(ud, p, size * nmemb);
    return size * nmemb;
}

/* GET url; the status, and the body into b. */
static long http_get(const char *url, struct km_buf *b)
{
    CURL *c = curl_easy_init();
    long status = 0;

    km_buf_reset(b);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return status;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* The alert named `name` in Alertmanager's /api/v2/alerts, or NULL (a new reference). */
static json_t *am_alert(uint16_t am_port, const char *name)
{
    struct km_buf b;
    json_t *arr, *x, *found = NULL;
    size_t k;

    km_buf_init(&b, 0);
    assert_int_equal(http_get(url_of(am_port, "/api/v2/alerts"), &b), 200);
    arr = json_loads(km_buf_cstr(&b), 0, NULL);
    assert_true(json_is_array(arr));
    json_array_foreach(arr, k, x)
    {
        const char *an = jstr(json_object_get(x, "labels"), "alertname");

        if (an && strcmp(an, name) == 0)
            found = json_incref(x);
    }
    json_decref(arr);
    km_buf_fini(&b);
    return found;
}

/* The first post to path at or after post `from` whose webhook status is `status`;
 * its index, or -1 after timeout_ms. */
static int wait_am_hook(struct rx *rx, size_t from, const char *status, int64_t timeout_ms)
{
    int64_t end = km_time_mono_ns() + timeout_ms * 1000000;

    for (size_t i = from;; i++) {
        json_t *j;
        bool match;

        if (!rx_wait(rx, i + 1, (end - km_time_mono_ns()) / 1000000))
            return -1;
        j = rx_json(rx, i);
        match = strcmp(rx->posts[i].path, "/am-hook") == 0 && jstr(j, "status") &&
                strcmp(jstr(j, "status"), status) == 0;
        json_decref(j);
        if (match)
            return (int)i;
    }
}

/* What the real-Alertmanager test must undo even when an assertion stops it. */
struct am_fixture {
    char dir[64];
    pid_t pid;
    struct rx rx;
    bool rx_started;
    struct km_notifier *n;
    struct km_labels *ext, *l, *an;
};

static int am_setup(void **state)
{
    struct am_fixture *fx = calloc(1, sizeof(*fx));

    if (!fx)
        return -1;
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/kmon-notify-am-XXXXXX");
    *state = fx;
    return 0;
}

static int am_teardown(void **state)
{
    struct am_fixture *fx = *state;
    int64_t t0 = km_time_mono_ns();
    int st;

    km_notifier_destroy(fx->n);
    if (fx->pid > 0) {
        kill(fx->pid, SIGTERM);
        while (waitpid(fx->pid, &st, WNOHANG) != fx->pid) {
            if (km_time_mono_ns() - t0 > 5ll * 1000000000) {
                kill(fx->pid, SIGKILL);
                waitpid(fx->pid, &st, 0);
                break;
            }
            usleep(20000);
        }
    }
    if (fx->rx_started)
        rx_stop(&fx->rx);
    if (strstr(fx->dir, "XXXXXX") == NULL)
        nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    km_labels_destroy(fx->ext);
    km_labels_destroy(fx->l);
    km_labels_destroy(fx->an);
    free(fx);
    return 0;
}

static void write_am_config(const char *path, uint16_t hook_port)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fprintf(f,
            "route:\n"
            "  receiver: hook\n"
            "  group_by: [alertname]\n"
            "  group_wait: 1s\n"
            "  group_interval: 1s\n"
            "  repeat_interval: 1h\n"
            "receivers:\n"
            "  - name: hook\n"
            "    webhook_configs:\n"
            "      - url: http://127.0.0.1:%u/am-hook\n"
            "        send_resolved: true\n",
            hook_port);
    assert_int_equal(fclose(f), 0);
}

/* Start Alertmanager on a free loopback port, clustering off; wait until it is ready. */
static uint16_t start_am(struct am_fixture *fx)
{
    char cfg[128], logf[128], a_cfg[160], a_data[160], a_listen[64];
    char *argv[] = {
        AM_BIN, a_cfg, a_data, a_listen, "--cluster.listen-address=", "--log.level=warn", NULL
    };
    extern char **environ;
    posix_spawn_file_actions_t fa;
    uint16_t port = closed_port();
    struct km_buf b;
    int64_t t0;
    int st;

    snprintf(cfg, sizeof(cfg), "%s/alertmanager.yml", fx->dir);
    snprintf(logf, sizeof(logf), "%s/alertmanager.log", fx->dir);
    write_am_config(cfg, fx->rx.port);
    snprintf(a_cfg, sizeof(a_cfg), "--config.file=%s", cfg);
    snprintf(a_data, sizeof(a_data), "--storage.path=%s/data", fx->dir);
    snprintf(a_listen, sizeof(a_listen), "--web.listen-address=127.0.0.1:%u", port);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, logf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    assert_int_equal(posix_spawn(&fx->pid, AM_BIN, &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    km_buf_init(&b, 0);
    t0 = km_time_mono_ns();
    while (http_get(url_of(port, "/-/ready"), &b) != 200) {
        if (waitpid(fx->pid, &st, WNOHANG) == fx->pid) {
            fx->pid = 0;
            fail_msg("Alertmanager exited (its log: %s)", logf);
        }
        if (km_time_mono_ns() - t0 > 10ll * 1000000000)
            fail_msg("Alertmanager is not ready after 10 s (its log: %s)", logf);
        usleep(50000);
    }
    km_buf_fini(&b);
    return port;
}

static void test_real_alertmanager(void **state)
{
    struct am_fixture *fx = *state;
    struct km_notify_target t = { KM_NOTIFY_ALERTMANAGER, NULL, NULL, NULL, 5000 };
    struct km_notifier_opts o = { .targets = &t, .n_targets = 1 };
    int64_t now = km_time_now_ns() / 1000000;
    struct km_alert_msg a = { NULL, NULL, now - 5000, now + 300000, "http://kmon.test/graph" };
    const char *push;
    uint16_t am_port;
    json_t *j, *x;
    int i;

    if (access(AM_BIN, X_OK) != 0) {
        fprintf(stderr,
                "[  SKIP    ] %s is not installed (apt-get install -y "
                "prometheus-alertmanager)\n",
                AM_BIN);
        skip();
    }
    fx->ext = LABELS("cluster", "kmon-test");
    fx->l = LABELS("alertname", "KmonNotifyTest", "severity", "warning");
    fx->an = LABELS("summary", "sent by test_notify");
    o.external_labels = fx->ext;
    a.labels = fx->l;
    a.annotations = fx->an;
    rx_start(&fx->rx);
    fx->rx_started = true;
    assert_non_null(mkdtemp(fx->dir));
    am_port = start_am(fx);
    t.url = url_of(am_port, "");
    push = url_of(am_port, "/api/v2/alerts");
    assert_int_equal(km_notifier_create(&fx->n, &o), 0);
    assert_int_equal(km_notifier_send(fx->n, &a, 1), 0);
    assert_true(wait_metric(fx->n, "prometheus_notifications_sent_total", push, 1, 5000));
    assert_true(metric(fx->n, "prometheus_notifications_errors_total", push) == 0);

    /* Alertmanager lists it, with the external label added. */
    x = am_alert(am_port, "KmonNotifyTest");
    assert_non_null(x);
    assert_string_equal(jstr(json_object_get(x, "labels"), "severity"), "warning");
    assert_string_equal(jstr(json_object_get(x, "labels"), "cluster"), "kmon-test");
    assert_string_equal(jstr(json_object_get(x, "annotations"), "summary"), "sent by test_notify");
    assert_string_equal(jstr(x, "generatorURL"), "http://kmon.test/graph");
    assert_string_equal(jstr(json_object_get(x, "status"), "state"), "active");
    json_decref(x);

    /* And notifies its receiver (ours) after group_wait. */
    i = wait_am_hook(&fx->rx, 0, "firing", 8000);
    assert_true(i >= 0);
    j = rx_json(&fx->rx, (size_t)i);
    x = json_array_get(json_object_get(j, "alerts"), 0);
    assert_string_equal(jstr(x, "status"), "firing");
    assert_string_equal(jstr(json_object_get(x, "labels"), "alertname"), "KmonNotifyTest");
    assert_string_equal(jstr(json_object_get(x, "labels"), "cluster"), "kmon-test");
    assert_string_equal(jstr(json_object_get(x, "annotations"), "summary"), "sent by test_notify");
    json_decref(j);

    /* Resolved: an end in the past. */
    a.ends_at_ms = km_time_now_ns() / 1000000 - 1000;
    assert_int_equal(km_notifier_send(fx->n, &a, 1), 0);
    i = wait_am_hook(&fx->rx, (size_t)i + 1, "resolved", 8000);
    assert_true(i >= 0);
    j = rx_json(&fx->rx, (size_t)i);
    x = json_array_get(json_object_get(j, "alerts"), 0);
    assert_string_equal(jstr(x, "status"), "resolved");
    assert_string_equal(jstr(json_object_get(x, "labels"), "alertname"), "KmonNotifyTest");
    json_decref(j);
    x = am_alert(am_port, "KmonNotifyTest");
    assert_null(x); /* no longer among the alerts it lists */
    assert_true(metric(fx->n, "prometheus_notifications_sent_total", push) == 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alertmanager_body),
        cmocka_unit_test(test_external_labels),
        cmocka_unit_test(test_batching),
        cmocka_unit_test(test_retry_on_500),
        cmocka_unit_test(test_4xx_not_retried),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_one_of_two),
        cmocka_unit_test(test_drop_oldest),
        cmocka_unit_test(test_drain),
        cmocka_unit_test(test_bounded_shutdown),
        cmocka_unit_test(test_webhook_body),
        cmocka_unit_test(test_metrics_text),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test_setup_teardown(test_real_alertmanager, am_setup, am_teardown),
    };

    km_log_set_level(KM_LOG_ERROR);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
