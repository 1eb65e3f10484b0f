/*
 * logs_bench — the log store's figures (issue 14): generates realistic Kubernetes logs
 * in memory (JSON access logs, Java application logs with multi-line stack traces as
 * single entries, klog lines from controllers; 200 streams in three namespaces, "shop"
 * holding most), then, in process:
 *   push   pushes them all in batches of 100 entries per stream and flushes: MiB of raw
 *          log per CPU-second of the process (all threads: compression runs on the
 *          store's thread) and per wall second;
 *   disk   bytes of chunk files on disk per raw byte after the flush;
 *   scan   reopens the store and reads namespace "shop" whole through the log source
 *          with a `|= "needle"` emulation (must_contain hint + memmem on every line),
 *          for a rare needle and a common one: wall and CPU seconds, lines matched.
 *
 * usage: logs_bench DIR [--gib G] [--level L] [--chunk KIB] [--seed N]
 * DIR must not exist or be empty (it is removed first). Prints one JSON line.
 */
#include "common/err.h"
#include "common/timefmt.h"
#include "logs/logstore.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

/* Generated text is cut at its buffer by design. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#define NSTREAMS 200
#define BATCH    100

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static unsigned rn(unsigned n)
{
    return (unsigned)(rnd() % n);
}

/* Zipf-ish pick: small indexes much more often. */
static unsigned zipf(unsigned n)
{
    unsigned a = rn(n), b = rn(n);

    return a < b ? a : b;
}

static const char *const paths[] = { "/api/v1/products", "/api/v1/cart",
                                     "/api/v1/checkout", "/api/v1/users",
                                     "/healthz",         "/metrics",
                                     "/api/v1/search",   "/api/v1/orders",
                                     "/static/app.js",   "/api/v2/recommendations",
                                     "/login",           "/api/v1/inventory" };
static const char *const methods[] = { "GET", "GET", "GET", "GET", "POST", "PUT", "DELETE" };
static const char *const agents[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15",
    "kube-probe/1.28",
    "Prometheus/2.48.0",
    "curl/8.4.0",
    "okhttp/4.12.0",
    "Go-http-client/1.1",
};
static const int statuses[] = { 200, 200, 200, 200, 200, 200, 200, 201, 204, 301,
                                304, 400, 401, 403, 404, 404, 500, 502, 503 };
static const char *const java_classes[] = {
    "com.example.shop.order.OrderService",     "com.example.shop.payment.PaymentClient",
    "com.example.shop.cart.CartRepository",    "org.springframework.web.servlet.DispatcherServlet",
    "com.zaxxer.hikari.pool.HikariPool",       "org.hibernate.engine.jdbc.spi.SqlExceptionHelper",
    "com.example.shop.inventory.StockChecker", "io.netty.channel.nio.NioEventLoop",
};
static const char *const java_msgs[] = {
    "Processing order {} for customer {}",
    "Payment authorised for order {} amount {}",
    "Cache miss for product {} in region {}",
    "Completed initialization in {} ms",
    "Connection is not available, request timed out after {}ms",
    "Retrying request to inventory-service attempt {} of {}",
};
static const char *const exceptions[] = {
    "java.lang.IllegalStateException: Order state transition not allowed: PAID -> CREATED",
    "java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, "
    "request timed out after 30000ms.",
    "java.net.SocketTimeoutException: Read timed out",
    "java.lang.NullPointerException: Cannot invoke \"com.example.shop.cart.Cart.getItems()\" "
    "because \"cart\" is null",
};
static const char *const frames[] = {
    "com.example.shop.order.OrderService.process(OrderService.java:%u)",
    "com.example.shop.order.OrderController.create(OrderController.java:%u)",
    "org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:%u)",
    "jakarta.servlet.http.HttpServlet.service(HttpServlet.java:%u)",
    "org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:%u)",
    "org.apache.tomcat.util.net.NioEndpoint$SocketProcessor.doRun(NioEndpoint.java:%u)",
    "java.base/java.util.concurrent.ThreadPoolExecutor.runWorker(ThreadPoolExecutor.java:%u)",
    "com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:%u)",
    "org.hibernate.internal.SessionImpl.find(SessionImpl.java:%u)",
};
/* klog: each message is logged from one place in the source (file:line go with it). */
static const char *const klog_where[] = { "controller.go:317", "reflector.go:812",
                                          "controller.go:408", "event.go:364",
                                          "leaderelection.go:367" };
static const char *const klog_msgs[] = {
    "\"Reconciling\" object=\"%s/%s-%x\" reconcileID=\"%08x-%04x-%04x\"",
    "\"Watch close\" reflector=\"k8s.io/client-go/informers/factory.go:150\" type=\"*v1.Pod\" "
    "totalItems=%u",
    "\"Successfully synced\" key=\"%s/%s-%x\" duration=\"%u.%03ums\"",
    "\"Event occurred\" object=\"%s/%s-%x\" kind=\"Pod\" type=\"Normal\" reason=\"Scheduled\"",
    "\"failed to update lease\" err=\"Put \\\"https://10.96.0.1:443/apis/coordination.k8s.io/"
    "v1/namespaces/kube-system/leases/%s\\\": context deadline exceeded\"",
};

enum kind { K_ACCESS, K_JAVA, K_KLOG };

struct stream {
    char ns[16], app[32], pod[64], container[16];
    enum kind kind;
    bool traced; /* a service mesh adds trace ids to its access logs */
    int64_t ts;
    size_t bytes_target;
    /* generated entries */
    char *lines;
    size_t lines_len, lines_cap;
    int64_t *ts_v;
    uint32_t *off, *len;
    size_t n, cap;
};

static void add_line(struct stream *s, int64_t ts, const char *line, size_t len)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->ts_v = realloc(s->ts_v, s->cap * sizeof(*s->ts_v));
        s->off = realloc(s->off, s->cap * sizeof(*s->off));
        s->len = realloc(s->len, s->cap * sizeof(*s->len));
    }
    while (s->lines_len + len > s->lines_cap) {
        s->lines_cap = s->lines_cap ? s->lines_cap * 2 : 1 << 20;
        s->lines = realloc(s->lines, s->lines_cap);
    }
    if (!s->ts_v || !s->off || !s->len || !s->lines) {
        fprintf(stderr, "out of memory generating logs\n");
        exit(1);
    }
    memcpy(s->lines + s->lines_len, line, len);
    s->ts_v[s->n] = ts;
    s->off[s->n] = (uint32_t)s->lines_len;
    s->len[s->n] = (uint32_t)len;
    s->lines_len += len;
    s->n++;
}

static size_t gen_access(struct stream *s, char *out, size_t size, int64_t ts)
{
    /* Per pod: a few callers (the ingress controllers' pods), response sizes typical of
     * each path, latencies mostly small, mostly 200s; the trace id is random. */
    static const unsigned sizes[] = { 1832, 512, 2291,   774,  2,    18234,
                                      9120, 301, 184320, 4410, 1290, 655 };
    char t[48];
    unsigned st = (unsigned)statuses[zipf(sizeof(statuses) / sizeof(*statuses))];
    unsigned pi = zipf(sizeof(paths) / sizeof(*paths));
    unsigned caller = zipf(6);
    int n;

    km_time_format_rfc3339(t, sizeof(t), ts, 3);
    n = snprintf(
        out, size,
        "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"request completed\",\"method\":\"%s\","
        "\"path\":\"%s%s%.0u\",\"status\":%u,\"bytes\":%u,\"duration_ms\":%u.%u,"
        "\"remote_ip\":\"10.244.%u.%u\",\"user_agent\":\"%s\"%s%016" PRIx64 "%016" PRIx64 "%s}",
        t,
        st >= 500   ? "error"
        : st >= 400 ? "warn"
                    : "info",
        methods[zipf(sizeof(methods) / sizeof(*methods))], paths[pi], rn(3) ? "" : "/",
        rn(3) ? 0u : zipf(2000), st, st == 200 ? sizes[pi] + zipf(64) : 0u,
        zipf(40) + (rn(20) ? 0 : rn(900)), rn(10), 3 + caller % 3, 17 + caller * 23,
        agents[zipf(sizeof(agents) / sizeof(*agents))], s->traced ? ",\"trace_id\":\"" : "",
        s->traced ? rnd() : 0, s->traced ? rnd() : 0, s->traced ? "\"" : "");
    if (!s->traced && n > 0) { /* drop the zeros printed in place of a trace id */
        char *z = strstr(out, "\"0000000000000000");
        if (z) {
            memmove(z + 1, z + 33, strlen(z + 33) + 1);
            n -= 32;
        }
    }
    return n > 0 && (size_t)n < size ? (size_t)n : size - 1;
}

static size_t gen_java(struct stream *s, char *out, size_t size, int64_t ts)
{
    char t[48];

    (void)s;
    size_t k;
    int n;

    km_time_format_rfc3339(t, sizeof(t), ts, 3);
    t[10] = ' ';
    t[23] = 0;
    if (rn(100) < 4) {
        /* A given failure has the same stack each time it happens (one of two call
         * paths), each frame at its source line; the cause goes with the exception. */
        unsigned ex = zipf(4), path = rn(4) == 0, depth = 10 + ex * 7 + path * 3;

        n = snprintf(out, size,
                     "%s ERROR 1 --- [nio-8080-exec-%u] %s : Request processing failed\n%s\n", t,
                     1 + rn(200), java_classes[zipf(8)], exceptions[ex]);
        k = (size_t)n;
        for (unsigned d = 0; d < depth && k + 200 < size; d++) {
            k += (size_t)snprintf(out + k, size - k, "\tat ");
            unsigned fr = (ex * 2 + path + d) % 9;
            k += (size_t)snprintf(out + k, size - k, frames[fr], 40 + (fr * 7919u) % 900);
            k += (size_t)snprintf(out + k, size - k, "\n");
        }
        if (ex % 2 && k + 200 < size)
            k +=
                (size_t)snprintf(out + k, size - k, "Caused by: %s\n\t... %u common frames omitted",
                                 exceptions[(ex + 1) % 4], depth - 3);
        return k;
    }
    char msg[200];
    const char *f = java_msgs[zipf(6)];
    size_t m = 0;
    for (const char *p = f; *p && m < sizeof(msg) - 24; p++) {
        if (p[0] == '{' && p[1] == '}') {
            m += (size_t)snprintf(msg + m, sizeof(msg) - m, "%u", zipf(100000));
            p++;
        } else {
            msg[m++] = *p;
        }
    }
    msg[m] = 0;
    n = snprintf(out, size, "%s  %s 1 --- [nio-8080-exec-%u] %-40.40s : %s", t,
                 rn(10) ? "INFO" : "WARN", 1 + rn(200), java_classes[zipf(8)], msg);
    return n > 0 && (size_t)n < size ? (size_t)n : size - 1;
}

static size_t gen_klog(struct stream *s, char *out, size_t size, int64_t ts)
{
    time_t sec = (time_t)(ts / 1000000000);
    struct tm tm;
    char m[400];
    unsigned which = zipf(5);
    int n;

    gmtime_r(&sec, &tm);
    switch (which) {
    case 0:
    case 2:
    case 3:
        snprintf(m, sizeof(m), klog_msgs[which], s->ns, s->app,
                 0x10000u + zipf(48) * 2654435761u % 0xfffff, (unsigned)rnd(),
                 (unsigned)rnd() & 0xffff, (unsigned)rnd() & 0xffff);
        if (which == 2)
            snprintf(m, sizeof(m), klog_msgs[2], s->ns, s->app,
                     0x10000u + zipf(48) * 2654435761u % 0xfffff, zipf(900), rn(1000));
        break;
    case 1:
        snprintf(m, sizeof(m), klog_msgs[1], zipf(3000));
        break;
    default:
        snprintf(m, sizeof(m), klog_msgs[4], s->app);
    }
    n = snprintf(out, size, "%c%02d%02d %02d:%02d:%02d.%06u       1 %s] %s", which == 4 ? 'E' : 'I',
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (unsigned)((ts / 1000) % 1000000), klog_where[which], m);
    return n > 0 && (size_t)n < size ? (size_t)n : size - 1;
}

static double cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double wall_s(void)
{
    return (double)km_time_mono_ns() / 1e9;
}

static uint64_t dir_bytes(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    uint64_t total = 0;

    if (!d)
        return 0;
    while ((de = readdir(d))) {
        char p[4096];
        struct stat st;

        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        if (de->d_name[0] != '.' && stat(p, &st) == 0 && S_ISREG(st.st_mode))
            total += (uint64_t)st.st_blocks * 512;
    }
    closedir(d);
    return total;
}

struct scan_result {
    double wall, cpu;
    uint64_t lines, matched, bytes;
};

static int scan(struct km_logstore *s, const char *needle, bool hint, struct scan_result *r)
{
    struct km_log_source src;
    struct km_matcher *m;
    struct km_log_set *set;
    struct km_log_batch b;
    size_t nl = strlen(needle);
    struct km_log_select sel = { .nm = 1,
                                 .start_ns = 0,
                                 .end_ns = INT64_MAX,
                                 .must_contain = &needle,
                                 .must_contain_len = &nl,
                                 .n_must_contain = hint ? 1 : 0 };
    double w0 = wall_s(), c0 = cpu_s();

    memset(r, 0, sizeof(*r));
    if (km_matcher_create(&m, KM_MATCH_EQ, "namespace", "shop") < 0)
        return -1;
    sel.m = &m;
    km_logstore_source(s, &src);
    if (km_log_select(&src, &sel, &set) < 0)
        return -1;
    while (km_log_set_next(set))
        while (km_log_set_batch(set, &b))
            for (size_t i = 0; i < b.n; i++) {
                r->lines++;
                r->bytes += b.e[i].len;
                if (memmem(b.e[i].line, b.e[i].len, needle, nl))
                    r->matched++;
            }
    if (km_log_set_error(set) < 0)
        return -1;
    km_log_set_close(set);
    km_matcher_destroy(m);
    r->wall = wall_s() - w0;
    r->cpu = cpu_s() - c0;
    return 0;
}

int main(int argc, char **argv)
{
    double gib = 1.25;
    int level = 0;
    size_t chunk_kib = 0;
    const char *dir;
    static struct stream st[NSTREAMS];
    uint64_t raw = 0, raw_shop = 0, entries = 0;
    char cmd[4200], chunks_dir[4096];
    int64_t now = km_time_now_ns();
    char *line = malloc(1 << 16);

    if (argc < 2) {
        fprintf(stderr, "usage: logs_bench DIR [--gib G] [--level L] [--chunk KIB] [--seed N]\n");
        return 2;
    }
    dir = argv[1];
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--gib"))
            gib = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--level"))
            level = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--chunk"))
            chunk_kib = (size_t)atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--seed"))
            rng_state = strtoull(argv[i + 1], NULL, 10) | 1;
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 1;

    /* streams: shop has 120 (~80% of the bytes), data 40, ops 40 */
    for (int i = 0; i < NSTREAMS; i++) {
        struct stream *s = &st[i];
        const char *ns = i < 120 ? "shop" : i < 160 ? "data" : "ops";
        static const char *const apps[] = { "frontend",       "cart",   "checkout", "payment",
                                            "catalog",        "orders", "search",   "inventory",
                                            "recommendation", "users" };

        const char *app = i < 160 ? apps[i % 10] : "controller";

        snprintf(s->ns, sizeof(s->ns), "%s", ns);
        snprintf(s->app, sizeof(s->app), "%s", app);
        snprintf(s->pod, sizeof(s->pod), "%s-%x-%05x", app, (unsigned)rnd() & 0xfffffff,
                 (unsigned)rnd() & 0xfffff);
        snprintf(s->container, sizeof(s->container), "%s", i % 10 == 9 ? "istio-proxy" : "app");
        s->kind = i >= 160 ? K_KLOG : (i % 3 == 1 ? K_JAVA : K_ACCESS);
        s->traced = i % 2 == 0;
        s->bytes_target = (size_t)(gib * 1024 * 1024 * 1024 * (i < 120 ? 0.8 / 120 : 0.2 / 80));
        s->ts = now - 6LL * 3600 * 1000000000;
    }
    double g0 = wall_s();
    for (int i = 0; i < NSTREAMS; i++) {
        struct stream *s = &st[i];
        int64_t step = (int64_t)(6.0 * 3600 * 1e9 / ((double)s->bytes_target / 300.0));

        while (s->lines_len < s->bytes_target) {
            size_t n;

            s->ts += 1 + (int64_t)(rnd() % (uint64_t)(2 * step));
            n = s->kind == K_ACCESS ? gen_access(s, line, 1 << 16, s->ts)
                : s->kind == K_JAVA ? gen_java(s, line, 1 << 16, s->ts)
                                    : gen_klog(s, line, 1 << 16, s->ts);
            add_line(s, s->ts, line, n);
        }
        /* fit the stream's timestamps into the last 6 hours (the text keeps its own) */
        int64_t first = s->ts_v[0], span = s->ts - first + 1, room = 6LL * 3600 * 1000000000 - 1000;
        for (size_t k = 0; k < s->n; k++)
            s->ts_v[k] =
                now - room + (int64_t)((double)(s->ts_v[k] - first) / (double)span * (double)room);
        raw += s->lines_len;
        entries += s->n;
        if (i < 120)
            raw_shop += s->lines_len;
    }
    double gen_wall = wall_s() - g0;
    if (getenv("LOGS_BENCH_DUMP")) {
        int pick[3] = { 0, 1, 160 };
        for (int k = 0; k < 3; k++) {
            char p[64];
            snprintf(p, sizeof(p), "/tmp/logs_bench_kind%d.txt", k);
            FILE *fp = fopen(p, "w");
            for (size_t j = 0; fp && j < st[pick[k]].n; j++) {
                fwrite(st[pick[k]].lines + st[pick[k]].off[j], 1, st[pick[k]].len[j], fp);
                fputc('\n', fp);
            }
            if (fp)
                fclose(fp);
        }
    }

    /* push */
    struct km_logstore_opts o = { .dir = dir,
                                  .zstd_level = level,
                                  .chunk_target_bytes = chunk_kib * 1024,
                                  .ooo_window_ms = 7 * 3600 * 1000 };
    struct km_logstore *s;
    if (km_logstore_open(&s, &o) < 0) {
        fprintf(stderr, "open: %s\n", km_err_msg());
        return 1;
    }
    size_t pos[NSTREAMS] = { 0 };
    struct km_log_entry *e = malloc(BATCH * sizeof(*e));
    double w0 = wall_s(), c0 = cpu_s();
    for (bool more = true; more;) {
        more = false;
        for (int i = 0; i < NSTREAMS; i++) {
            struct stream *x = &st[i];
            struct km_label lv[5] = { { "app", x->app },
                                      { "container", x->container },
                                      { "namespace", x->ns },
                                      { "pod", x->pod },
                                      { "stream", "stdout" } };
            size_t n = 0;
            struct km_log_push_result res;

            while (n < BATCH && pos[i] < x->n) {
                e[n] = (struct km_log_entry){ x->ts_v[pos[i]], x->lines + x->off[pos[i]],
                                              x->len[pos[i]] };
                n++;
                pos[i]++;
            }
            if (!n)
                continue;
            more = true;
            struct km_log_push_stream ps = { lv, 5, e, n };
            if (km_logstore_push(s, &ps, 1, &res) < 0 || res.refused_total) {
                fprintf(stderr, "push: %s (%s)\n", km_err_msg(), res.example);
                return 1;
            }
        }
    }
    if (km_logstore_flush(s) < 0) {
        fprintf(stderr, "flush: %s\n", km_err_msg());
        return 1;
    }
    double push_wall = wall_s() - w0, push_cpu = cpu_s() - c0;
    km_logstore_close(s);
    snprintf(chunks_dir, sizeof(chunks_dir), "%s/chunks", dir);
    uint64_t disk = dir_bytes(chunks_dir);

    /* scan */
    struct km_logstore_opts ro = { .dir = dir, .read_only = true };
    struct scan_result rare, common;
    if (km_logstore_open(&s, &ro) < 0) {
        fprintf(stderr, "reopen: %s\n", km_err_msg());
        return 1;
    }
    struct scan_result rare2, full;
    if (scan(s, "OrderState transition", true, &rare) < 0 ||
        scan(s, "NullPointerException", true, &rare2) < 0 ||
        scan(s, "\"status\":503", true, &common) < 0 ||
        scan(s, "\"status\":503", false, &full) < 0) {
        fprintf(stderr, "scan: %s\n", km_err_msg());
        return 1;
    }
    km_logstore_close(s);

    printf("{\"raw_bytes\":%" PRIu64 ",\"entries\":%" PRIu64 ",\"shop_raw_bytes\":%" PRIu64
           ",\"gen_wall_s\":%.2f,"
           "\"push_wall_s\":%.2f,\"push_cpu_s\":%.2f,\"push_mib_per_cpu_s\":%.1f,"
           "\"push_mib_per_wall_s\":%.1f,\"disk_bytes\":%" PRIu64 ",\"disk_per_raw\":%.4f,"
           "\"scan_absent\":{\"wall_s\":%.3f,\"cpu_s\":%.3f,\"lines\":%" PRIu64
           ",\"matched\":%" PRIu64 "},"
           "\"scan_rare\":{\"wall_s\":%.3f,\"cpu_s\":%.3f,\"lines\":%" PRIu64
           ",\"matched\":%" PRIu64 "},"
           "\"scan_common\":{\"wall_s\":%.3f,\"cpu_s\":%.3f,\"lines\":%" PRIu64
           ",\"bytes\":%" PRIu64 ",\"matched\":%" PRIu64 "},"
           "\"scan_no_hint\":{\"wall_s\":%.3f,\"cpu_s\":%.3f,\"lines\":%" PRIu64
           ",\"bytes\":%" PRIu64 ",\"matched\":%" PRIu64 "}}\n",
           raw, entries, raw_shop, gen_wall, push_wall, push_cpu,
           (double)raw / 1048576.0 / push_cpu, (double)raw / 1048576.0 / push_wall, disk,
           (double)disk / (double)raw, rare.wall, rare.cpu, rare.lines, rare.matched, rare2.wall,
           rare2.cpu, rare2.lines, rare2.matched, common.wall, common.cpu, common.lines,
           common.bytes, common.matched, full.wall, full.cpu, full.lines, full.bytes, full.matched);
    for (int i = 0; i < NSTREAMS; i++) {
        free(st[i].lines);
        free(st[i].ts_v);
        free(st[i].off);
        free(st[i].len);
    }
    free(e);
    free(line);
    return 0;
}
