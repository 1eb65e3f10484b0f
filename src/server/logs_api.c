/*
 * logs_api — the Loki HTTP API over the server's log store (logs_api.h).
 *
 * Loki's conventions followed here: a push answers 204 when everything was stored (or
 * was a duplicate of what is stored); the body is protobuf (snappy) unless Content-Type
 * says application/json; errors are {"code":N,"message":"…","status":"error"}; times
 * are RFC 3339, Unix seconds (10 digits or fewer, or with a fraction) or nanoseconds;
 * a range query reads [start, end) with start defaulting to end - since (1h); /labels,
 * /label/<name>/values and /series default to the last 6 hours.
 */
#include "logs_api.h"
#include "logs_tail.h"

#include "auth/auth.h"
#include "common/array.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/jsonw.h"
#include "common/log.h"
#include "common/mset.h"
#include "common/timefmt.h"
#include "logql/logql.h"
#include "logs/logstore.h"
#include "remote/loki_push.h"
#include "remote/rw_codec.h"
#include "server/auth/auth.h"
#include "server/ingest.h"
#include "server/ingest_cluster.h"
#include "version.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#define LOG_NAME "logs"

#define NS_PER_S  1000000000ll
#define NS_PER_MS 1000000ll

/* Defaults of Loki's API: a log query's window, the metadata endpoints' window. */
#define QUERY_SINCE_NS (3600ll * NS_PER_S)
#define META_SINCE_NS  (6ll * 3600 * NS_PER_S)

/* match[] arguments of one /series request. */
#define MAX_MATCH_ARGS 64

/* Outcomes of pushes, for kmon_logs_push_requests_total{code}. */
enum { PUSH_204, PUSH_400, PUSH_413, PUSH_415, PUSH_429, PUSH_5XX, PUSH__N };
static const char *const push_codes[PUSH__N] = { "204", "400", "413", "415", "429", "5xx" };

enum { Q_OK, Q_400, Q_5XX, Q__N };
static const char *const query_codes[Q__N] = { "2xx", "400", "5xx" };

struct km_logs_api {
    struct km_log_sink sink;
    struct km_log_source src;
    bool attached;
    struct km_logs_api_opts o;
    struct km_clusters *clusters; /* per-cluster budgets and figures (or NULL) */
    _Atomic uint64_t push[PUSH__N];
    _Atomic uint64_t push_bytes, push_entries;
    _Atomic uint64_t queries[Q__N];
};

int km_logs_api_create(struct km_logs_api **out, const struct km_logs_api_opts *o)
{
    struct km_logs_api *a = calloc(1, sizeof(*a));

    if (!a)
        return km_err_set(KM_ENOMEM, "out of memory");
    a->o = *o;
    *out = a;
    return 0;
}

void km_logs_api_attach(struct km_logs_api *a, struct km_logstore *store)
{
    struct km_log_sink sink;
    struct km_log_source src;

    km_logstore_sink(store, &sink);
    km_logstore_source(store, &src);
    km_logs_api_attach_sink(a, &sink, &src);
}

void km_logs_api_attach_sink(struct km_logs_api *a, const struct km_log_sink *sink,
                             const struct km_log_source *src)
{
    a->sink = *sink;
    a->src = *src;
    a->attached = true;
}

void km_logs_api_set_clusters(struct km_logs_api *a, struct km_clusters *c)
{
    a->clusters = c;
}

void km_logs_api_destroy(struct km_logs_api *a)
{
    free(a);
}

void km_logs_api_metrics(struct km_logs_api *a, struct km_mset *m)
{
    int f;

    if (!a || !a->attached)
        return;
    f = km_mset_family(m, "kmon_logs_push_requests_total",
                       "Loki push requests answered, by status code.", KM_MT_COUNTER, 0);
    for (int i = 0; i < PUSH__N; i++) {
        struct km_label l = { "code", push_codes[i] };

        km_mset_add(m, f, &l, 1, (double)atomic_load(&a->push[i]));
    }
    f = km_mset_family(m, "kmon_logs_push_received_bytes_total",
                       "Bytes of Loki push bodies received (as sent).", KM_MT_COUNTER, 0);
    km_mset_add(m, f, NULL, 0, (double)atomic_load(&a->push_bytes));
    f = km_mset_family(m, "kmon_logs_push_received_entries_total",
                       "Entries decoded from Loki push requests.", KM_MT_COUNTER, 0);
    km_mset_add(m, f, NULL, 0, (double)atomic_load(&a->push_entries));
    f = km_mset_family(m, "kmon_logs_queries_total",
                       "Loki API reads (queries, labels, series, stats), by status.", KM_MT_COUNTER,
                       0);
    for (int i = 0; i < Q__N; i++) {
        struct km_label l = { "code", query_codes[i] };

        km_mset_add(m, f, &l, 1, (double)atomic_load(&a->queries[i]));
    }
    if (a->sink.metrics)
        a->sink.metrics(a->sink.ctx, m);
}

/* ---- answers --------------------------------------------------------------------------- */

/* Loki's error body: {"code":400,"message":"…","status":"error"}. */
static void loki_error(struct km_http_req *req, unsigned code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void loki_error(struct km_http_req *req, unsigned code, const char *fmt, ...)
{
    struct km_buf msg, b;
    struct km_jsonw w;
    va_list ap;

    km_buf_init(&msg, 1u << 16);
    va_start(ap, fmt);
    km_buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    km_buf_init(&b, 0);
    km_jsonw_init(&w, &b);
    km_jsonw_obj_begin(&w);
    km_jsonw_key(&w, "code");
    km_jsonw_u64(&w, code);
    km_jsonw_key(&w, "message");
    km_jsonw_strn(&w, msg.data ? msg.data : "", msg.len);
    km_jsonw_key(&w, "status");
    km_jsonw_str(&w, "error");
    km_jsonw_obj_end(&w);
    km_buf_putc(&b, '\n');
    km_http_respond_buf(req, code, "application/json; charset=utf-8", &b);
    km_buf_fini(&b);
    km_buf_fini(&msg);
}

static bool header_starts(const char *h, const char *what)
{
    size_t n = strlen(what);

    if (!h)
        return false;
    while (*h == ' ')
        h++;
    return strncasecmp(h, what, n) == 0 && (h[n] == '\0' || h[n] == ';' || h[n] == ' ');
}

/* ---- push ------------------------------------------------------------------------------ */

/* Inflate a gzip body into out, at most max bytes: 0, KM_EINVAL or KM_ELIMIT. */
static int gunzip(struct km_buf *out, const char *in, size_t n, size_t max)
{
    z_stream zs = { 0 };
    int zrc = Z_OK, rc = 0;

    km_buf_reset(out);
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
        return km_err_set(KM_ENOMEM, "out of memory inflating the body");
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)n;
    while (zrc != Z_STREAM_END) {
        size_t room = 65536;

        if (out->len >= max) {
            rc = km_err_set(KM_ELIMIT, "the gzip body expands past %zu bytes", max);
            break;
        }
        if (room > max - out->len)
            room = max - out->len;
        /* One byte more than allowed tells a body that is exactly too long. */
        if (km_buf_reserve(out, room + 1)) {
            rc = km_err_set(KM_ENOMEM, "out of memory inflating the body");
            break;
        }
        zs.next_out = (Bytef *)out->data + out->len;
        zs.avail_out = (uInt)(room + 1);
        zrc = inflate(&zs, Z_NO_FLUSH);
        out->len = (size_t)((char *)zs.next_out - out->data);
        if (zrc == Z_STREAM_END)
            break;
        if (zrc != Z_OK) {
            rc = km_err_set(KM_EINVAL, "the body is not valid gzip data (%s)",
                            zs.msg ? zs.msg : "truncated");
            break;
        }
        if (zs.avail_in == 0 && zs.avail_out != 0) {
            rc = km_err_set(KM_EINVAL, "the body is not valid gzip data (truncated)");
            break;
        }
    }
    if (rc == 0 && out->len > max)
        rc = km_err_set(KM_ELIMIT, "the gzip body expands past %zu bytes", max);
    inflateEnd(&zs);
    if (rc == 0 && out->data)
        out->data[out->len] = '\0';
    return rc;
}

static void push_refuse(struct km_logs_api *a, struct km_http_req *req, int slot, unsigned code,
                        const char *msg)
{
    atomic_fetch_add(&a->push[slot], 1);
    km_log_debug(LOG_NAME, "push refused (%u): %s", code, msg);
    loki_error(req, code, "%s", msg);
}

/* The 400 sentence: how many of how many, by reason, and the store's example. */
static void refusal_sentence(const struct km_log_push_result *r, uint64_t received,
                             struct km_buf *b)
{
    static const enum km_log_refusal order[] = { KM_LOG_TOO_NEW, KM_LOG_RETENTION,
                                                 KM_LOG_TOO_OLD, KM_LOG_TOO_LONG,
                                                 KM_LOG_INVALID, KM_LOG_STREAM_LIMIT };
    bool first = true;

    if (r->refused_total == received)
        km_buf_printf(b, "%llu of %llu entries refused, none stored:",
                      (unsigned long long)r->refused_total, (unsigned long long)received);
    else
        km_buf_printf(b, "%llu of %llu entries refused (the other %llu were stored):",
                      (unsigned long long)r->refused_total, (unsigned long long)received,
                      (unsigned long long)(received - r->refused_total));
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        if (!r->refused[order[i]])
            continue;
        km_buf_printf(b, "%s %llu %s", first ? "" : ",", (unsigned long long)r->refused[order[i]],
                      km_log_refusal_str(order[i]));
        first = false;
    }
    if (r->example[0])
        km_buf_printf(b, ". For example %s", r->example);
    km_buf_putc(b, '.');
}

/* Bind every stream of p to the write token's cluster (labels copied into p's arena with
 * `cluster` set), and count each cluster's line bytes into u (capacity: one per stream).
 * 0, or KM_ENOMEM. */
static int push_clusters(struct km_logs_api *a, const char *bound, struct km_loki_push *p,
                         struct km_cluster_use *u, size_t *nu)
{
    *nu = 0;
    for (size_t i = 0; bound && i < p->n_streams; i++) {
        struct km_log_push_stream *st = &p->streams[i];
        struct km_label *l =
            km_arena_alloc(&p->arena, (st->n_labels + 1) * sizeof(*l), _Alignof(struct km_label));
        size_t n = st->n_labels;
        int rc;

        if (!l)
            return km_err_set(KM_ENOMEM, "out of memory binding the push to its cluster");
        memcpy(l, st->labels, n * sizeof(*l));
        rc = km_ingest_bind_cluster(l, &n, n + 1, bound);
        if (rc)
            return rc;
        st->labels = l;
        st->n_labels = n;
    }
    if (a->clusters)
        km_clusters_log_uses(a->clusters, p->streams, p->n_streams, u, nu);
    return 0;
}

/* The per-cluster log bytes budgets: false after answering 429 with Retry-After. */
static bool push_admit(struct km_logs_api *a, struct km_http_req *req,
                       const struct km_cluster_use *u, size_t n)
{
    int64_t retry_s = 1;
    size_t over = 0;
    char ra[24];

    if (km_clusters_take(a->clusters, KM_CLUSTER_LOG_BYTES, u, n, &over, &retry_s)) {
        km_clusters_note(a->clusters, KM_CLUSTER_LOG_BYTES, u, n, false);
        return true;
    }
    km_clusters_note(a->clusters, KM_CLUSTER_LOG_BYTES, u, n, true);
    atomic_fetch_add(&a->push[PUSH_429], 1);
    snprintf(ra, sizeof(ra), "%lld", (long long)retry_s);
    km_http_req_add_header(req, "Retry-After", ra);
    loki_error(req, 429,
               "cluster \"%s\" is over its log rate limit of %.0f bytes/s "
               "(--max-log-bytes-per-second-per-cluster): retry in %lld s",
               km_clusters_name(a->clusters, u[over].slot),
               km_clusters_opts(a->clusters)->max_log_bytes_per_s, (long long)retry_s);
    return false;
}

static void on_push(struct km_http_req *req, void *ud)
{
    struct km_logs_api *a = ud;
    const char *ctype = km_http_req_header(req, "Content-Type");
    const char *cenc = km_http_req_header(req, "Content-Encoding");
    bool json = header_starts(ctype, "application/json");
    struct km_loki_push p = { 0 };
    struct km_log_push_result res;
    struct km_buf raw, plain, msg;
    struct km_cluster_use *use = NULL;
    size_t nuse = 0;
    const char *body;
    size_t len, max = a->o.max_decoded_bytes ? a->o.max_decoded_bytes : (256u << 20);
    int rc;

    body = km_http_req_body(req, &len);
    if (!body)
        body = "";
    atomic_fetch_add(&a->push_bytes, len);
    km_buf_init(&raw, max + 1);
    km_buf_init(&plain, max + 1);
    km_buf_init(&msg, 1u << 16);
    if (ctype && !json && !header_starts(ctype, "application/x-protobuf") &&
        !header_starts(ctype, "application/octet-stream")) {
        push_refuse(a, req, PUSH_415, 415,
                    "unsupported Content-Type: send application/x-protobuf (snappy) or "
                    "application/json");
        goto out;
    }
    if (cenc && header_starts(cenc, "gzip")) {
        rc = gunzip(&plain, body, len, max);
        if (rc) {
            push_refuse(a, req, rc == KM_ELIMIT ? PUSH_413 : PUSH_400, rc == KM_ELIMIT ? 413 : 400,
                        km_err_msg());
            goto out;
        }
        body = plain.data ? plain.data : "";
        len = plain.len;
    } else if (cenc && !header_starts(cenc, "identity") && !header_starts(cenc, "snappy")) {
        push_refuse(a, req, PUSH_415, 415,
                    "unsupported Content-Encoding: send gzip or none (protobuf bodies are "
                    "snappy-compressed)");
        goto out;
    }
    if (json) {
        rc = km_loki_push_decode_json(&p, body, len);
    } else {
        if (len == 0) {
            push_refuse(a, req, PUSH_400, 400,
                        "empty body: expected a snappy-compressed protobuf PushRequest");
            goto out;
        }
        rc = km_rw_uncompress(&raw, body, len, max);
        if (rc) {
            push_refuse(a, req, rc == KM_ELIMIT ? PUSH_413 : PUSH_400, rc == KM_ELIMIT ? 413 : 400,
                        km_err_msg());
            goto out;
        }
        rc = km_loki_push_decode_proto(&p, raw.data ? raw.data : "", raw.len);
    }
    if (rc) {
        km_buf_printf(&msg, "malformed push request (%s): %s", json ? "JSON" : "protobuf",
                      km_err_msg());
        push_refuse(a, req, rc == KM_ELIMIT ? PUSH_413 : PUSH_400, rc == KM_ELIMIT ? 413 : 400,
                    km_buf_cstr(&msg));
        goto out;
    }
    atomic_fetch_add(&a->push_entries, p.n_entries);
    use = calloc(p.n_streams + 1, sizeof(*use));
    rc = use ? push_clusters(a, km_auth_write_cluster(req), &p, use, &nuse) : KM_ENOMEM;
    if (rc) {
        atomic_fetch_add(&a->push[PUSH_5XX], 1);
        loki_error(req, 503, "out of memory reading the push");
        goto out;
    }
    if (a->clusters && !push_admit(a, req, use, nuse))
        goto out;
    rc = km_log_sink_push(&a->sink, p.streams, p.n_streams, &res);
    if (rc) {
        km_log_error(LOG_NAME, "push: the log store failed: %s", km_err_msg());
        atomic_fetch_add(&a->push[PUSH_5XX], 1);
        loki_error(req, rc == KM_ENOMEM ? 503 : 500, "the log store failed: %s", km_err_msg());
        goto out;
    }
    if (res.refused_total == 0) {
        atomic_fetch_add(&a->push[PUSH_204], 1);
        km_http_respond(req, 204, NULL, "", 0);
        goto out;
    }
    refusal_sentence(&res, p.n_entries, &msg);
    push_refuse(a, req, PUSH_400, 400, km_buf_cstr(&msg));
out:
    free(use);
    km_loki_push_fini(&p);
    km_buf_fini(&msg);
    km_buf_fini(&plain);
    km_buf_fini(&raw);
}

/* ---- arguments ------------------------------------------------------------------------- */

/* A time as Loki's API reads one: empty → def; with a '.' a float of seconds (rounded to
 * the millisecond); an integer of 10 digits or fewer is seconds, longer nanoseconds;
 * else RFC 3339. */
int km_logs_api_parse_time(const char *v, int64_t def, int64_t *out)
{
    size_t n;
    bool digits = true;

    if (!v || !*v) {
        *out = def;
        return 0;
    }
    n = strlen(v);
    if (strchr(v, '.')) {
        char *end;
        double d;

        errno = 0;
        d = strtod(v, &end);
        if (*end == '\0' && errno == 0 && isfinite(d) && fabs(d) < 9.2e9) {
            double s = trunc(d), frac = round((d - s) * 1000) / 1000;

            *out = (int64_t)s * NS_PER_S + (int64_t)llround(frac * 1e9);
            return 0;
        }
    }
    for (size_t i = (v[0] == '-' || v[0] == '+') ? 1 : 0; i < n; i++)
        digits &= v[i] >= '0' && v[i] <= '9';
    if (digits && n > (size_t)(v[0] == '-' || v[0] == '+')) {
        long long x;
        char *end;

        errno = 0;
        x = strtoll(v, &end, 10);
        if (errno == 0 && *end == '\0') {
            if (n <= 10) {
                *out = (int64_t)x * NS_PER_S;
                return 0;
            }
            *out = (int64_t)x;
            return 0;
        }
    }
    if (km_time_parse_rfc3339(v, out) == 0)
        return 0;
    return km_err_set(KM_EINVAL, "cannot parse \"%s\" to a valid timestamp", v);
}

/* A step or interval: a float of seconds or a duration ("15s", "1m"). */
static int parse_step(const char *v, int64_t *out)
{
    char *end;
    double d;
    int64_t ms;

    errno = 0;
    d = strtod(v, &end);
    if (end != v && *end == '\0' && errno == 0 && isfinite(d) && fabs(d) < 9.2e9) {
        *out = (int64_t)llround(d * 1e9);
        return 0;
    }
    if (km_duration_parse(v, &ms) == 0 && ms < INT64_MAX / NS_PER_MS) {
        *out = ms * NS_PER_MS;
        return 0;
    }
    return km_err_set(KM_EINVAL, "cannot parse \"%s\" to a valid duration", v);
}

/* start and end of a request: end defaults to now, start to end - since (since defaults
 * to def_since). */
static int parse_range(struct km_http_req *req, int64_t def_since, int64_t *start, int64_t *end)
{
    const char *since = km_http_req_arg(req, "since");
    int64_t s = def_since;
    int rc;

    rc = km_logs_api_parse_time(km_http_req_arg(req, "end"), km_time_now_ns(), end);
    if (rc == 0 && since && *since) {
        int64_t ms;

        if (km_duration_parse(since, &ms) != 0 || ms < 0)
            return km_err_set(KM_EINVAL, "cannot parse \"%s\" to a valid duration", since);
        s = ms * NS_PER_MS;
    }
    if (rc == 0)
        rc = km_logs_api_parse_time(km_http_req_arg(req, "start"), *end - s, start);
    if (rc == 0 && *end < *start)
        rc = km_err_set(KM_EINVAL, "end timestamp must not be before or equal to start time");
    return rc;
}

static int parse_limit(struct km_http_req *req, size_t *limit)
{
    const char *v = km_http_req_arg(req, "limit");
    char *end;
    long long x;

    *limit = KM_LOGQL_DEFAULT_LIMIT;
    if (!v || !*v)
        return 0;
    errno = 0;
    x = strtoll(v, &end, 10);
    if (*end || errno)
        return km_err_set(KM_EINVAL, "cannot parse \"%s\" to a valid limit", v);
    if (x <= 0)
        return km_err_set(KM_EINVAL, "limit must be a positive value");
    *limit = (size_t)x;
    return 0;
}

static int parse_direction(struct km_http_req *req, enum km_logql_direction *d)
{
    const char *v = km_http_req_arg(req, "direction");

    *d = KM_LOGQL_BACKWARD;
    if (!v || !*v || strcasecmp(v, "backward") == 0)
        return 0;
    if (strcasecmp(v, "forward") == 0) {
        *d = KM_LOGQL_FORWARD;
        return 0;
    }
    return km_err_set(KM_EINVAL, "invalid direction '%s'", v);
}

/* The optional selector of /labels, /label/…/values, /index/stats (`query`). */
static int parse_selector_arg(struct km_http_req *req, const char *name, struct km_matcher ***m,
                              size_t *nm, struct km_buf *err)
{
    const char *v = km_http_req_arg(req, name);

    *m = NULL;
    *nm = 0;
    if (!v || !*v)
        return 0;
    return km_logql_parse_selector(v, strlen(v), m, nm, err);
}

/* ---- queries --------------------------------------------------------------------------- */

static bool req_cancelled(void *ud)
{
    return km_http_req_cancelled(ud);
}

/* The status and counter slot of an evaluation's error. */
static unsigned eval_status(int rc)
{
    switch (rc) {
    case KM_EINVAL:
    case KM_ELIMIT:
        return 400;
    case KM_ETIMEDOUT:
        return 504;
    case KM_ECANCELED:
        return 499;
    case KM_ENOMEM:
        return 503;
    default:
        return 500;
    }
}

static void answer_error(struct km_logs_api *a, struct km_http_req *req, unsigned code,
                         const char *msg)
{
    atomic_fetch_add(&a->queries[code < 500 ? Q_400 : Q_5XX], 1);
    loki_error(req, code, "%s", msg);
}

static void run_query(struct km_logs_api *a, struct km_http_req *req, bool range)
{
    const char *q = km_http_req_arg(req, "query");
    struct km_logql_expr *e = NULL;
    struct km_logql_result *res = NULL;
    struct km_logql_params p;
    struct km_auth_log_view av;
    struct km_buf err, b;
    int rc;

    km_buf_init(&err, 1u << 16);
    km_buf_init(&b, 0);
    km_logql_params_default(&p);
    if (!q || !*q) {
        answer_error(a, req, 400, "query must not be empty");
        goto out;
    }
    rc = km_logql_parse(&e, q, strlen(q), &err);
    if (rc) {
        answer_error(a, req, rc == KM_ENOMEM ? 503 : 400,
                     err.len ? km_buf_cstr(&err) : km_err_msg());
        goto out;
    }
    rc = parse_limit(req, &p.limit);
    if (rc == 0)
        rc = parse_direction(req, &p.direction);
    if (rc == 0 && range) {
        const char *step = km_http_req_arg(req, "step");

        rc = parse_range(req, QUERY_SINCE_NS, &p.start_ns, &p.end_ns);
        if (rc == 0 && step && *step) {
            rc = parse_step(step, &p.step_ns);
            if (rc == 0 && p.step_ns <= 0)
                rc = km_err_set(KM_EINVAL, "zero or negative query resolution step widths are "
                                           "not accepted. Try a positive integer");
        } else if (rc == 0) {
            int64_t s = (int64_t)ceil((double)(p.end_ns - p.start_ns) / 1e9 / 250);

            p.step_ns = (s < 1 ? 1 : s) * NS_PER_S;
        }
        if (rc == 0 && (p.end_ns - p.start_ns) / p.step_ns > 11000)
            rc = km_err_set(KM_EINVAL,
                            "exceeded maximum resolution of 11,000 points per timeseries. Try "
                            "decreasing the query resolution (?step=XX)");
    } else if (rc == 0) {
        rc = km_logs_api_parse_time(km_http_req_arg(req, "time"), km_time_now_ns(), &p.end_ns);
        p.start_ns = p.end_ns;
        p.step_ns = 0;
        if (rc == 0 && km_logql_expr_kind(e) == KM_LOGQL_LOG)
            rc = km_err_set(KM_EINVAL,
                            "log queries are not supported as an instant query type, please "
                            "change your query to a range query type");
    }
    if (rc) {
        answer_error(a, req, 400, km_err_msg());
        goto out;
    }
    if (range && km_logql_expr_kind(e) == KM_LOGQL_LOG)
        p.step_ns = 0; /* a log query reads [start, end) */
    if (a->o.query_timeout_ms > 0)
        p.deadline_ns = km_time_mono_ns() + a->o.query_timeout_ms * NS_PER_MS;
    p.cancelled = req_cancelled;
    p.cancel_ud = req;
    rc = km_logql_eval(e, km_auth_logs(req, &a->src, &av), &p, &res);
    if (rc) {
        answer_error(a, req, eval_status(rc), km_err_msg());
        goto out;
    }
    km_buf_puts(&b, "{\"status\":\"success\",\"data\":");
    rc = km_logql_render_data(&b, res);
    km_buf_puts(&b, "}\n");
    if (rc || km_buf_error(&b)) {
        answer_error(a, req, 500, "rendering the answer failed: it is too large");
        goto out;
    }
    atomic_fetch_add(&a->queries[Q_OK], 1);
    km_http_respond_buf(req, 200, "application/json; charset=utf-8", &b);
out:
    km_logql_result_destroy(res);
    km_logql_expr_destroy(e);
    km_buf_fini(&b);
    km_buf_fini(&err);
}

static void on_query(struct km_http_req *req, void *ud)
{
    run_query(ud, req, false);
}

static void on_query_range(struct km_http_req *req, void *ud)
{
    run_query(ud, req, true);
}

/* ---- metadata -------------------------------------------------------------------------- */

static int add_str(void *ud, const char *s)
{
    km_jsonw_str(ud, s);
    return 0;
}

/* /labels and /label/<name>/values. */
static void labels_common(struct km_logs_api *a, struct km_http_req *req, const char *name)
{
    struct km_auth_log_view av;
    const struct km_log_source *src = km_auth_logs(req, &a->src, &av);
    struct km_matcher **m = NULL;
    struct km_buf err, b;
    struct km_jsonw w;
    size_t nm = 0;
    int64_t start, end;
    int rc;

    km_buf_init(&err, 1u << 16);
    km_buf_init(&b, 0);
    rc = parse_range(req, META_SINCE_NS, &start, &end);
    if (rc) {
        answer_error(a, req, 400, km_err_msg());
        goto out;
    }
    rc = parse_selector_arg(req, "query", &m, &nm, &err);
    if (rc) {
        answer_error(a, req, 400, err.len ? km_buf_cstr(&err) : km_err_msg());
        goto out;
    }
    km_jsonw_init(&w, &b);
    km_jsonw_obj_begin(&w);
    km_jsonw_key(&w, "status");
    km_jsonw_str(&w, "success");
    km_jsonw_key(&w, "data");
    km_jsonw_arr_begin(&w);
    if (name)
        rc = km_log_label_values(src, name, m, nm, start, end, add_str, &w);
    else
        rc = km_log_label_names(src, m, nm, start, end, add_str, &w);
    km_jsonw_arr_end(&w);
    km_jsonw_obj_end(&w);
    km_buf_putc(&b, '\n');
    if (rc || km_buf_error(&b)) {
        answer_error(a, req, rc ? eval_status(rc) : 500, rc ? km_err_msg() : "answer too large");
        goto out;
    }
    atomic_fetch_add(&a->queries[Q_OK], 1);
    km_http_respond_buf(req, 200, "application/json; charset=utf-8", &b);
out:
    km_logql_matchers_free(m, nm);
    km_buf_fini(&b);
    km_buf_fini(&err);
}

static void on_labels(struct km_http_req *req, void *ud)
{
    labels_common(ud, req, NULL);
}

static void on_label_values(struct km_http_req *req, void *ud)
{
    const char *name = km_http_req_param(req, "name");

    labels_common(ud, req, name ? name : "");
}

struct series_acc {
    struct km_labels **v;
    size_t n, cap;
};

static int add_series(void *ud, const struct km_labels *l)
{
    struct series_acc *acc = ud;
    struct km_labels *d;
    int rc;

    rc = km_array_grow((void **)&acc->v, &acc->cap, acc->n + 1, sizeof(*acc->v), 64, "series");
    if (rc == 0)
        rc = km_labels_dup(&d, l);
    if (rc == 0)
        acc->v[acc->n++] = d;
    return rc;
}

static int cmp_labels_p(const void *x, const void *y)
{
    return km_labels_cmp(*(struct km_labels *const *)x, *(struct km_labels *const *)y);
}

static void on_series(struct km_http_req *req, void *ud)
{
    struct km_logs_api *a = ud;
    struct km_auth_log_view av;
    const struct km_log_source *src = km_auth_logs(req, &a->src, &av);
    const char *match[MAX_MATCH_ARGS];
    struct series_acc acc = { 0 };
    struct km_buf err, b;
    struct km_jsonw w;
    size_t nmatch;
    int64_t start, end;
    int rc;

    km_buf_init(&err, 1u << 16);
    km_buf_init(&b, 0);
    nmatch = km_http_req_args(req, "match[]", match, MAX_MATCH_ARGS);
    if (nmatch == 0)
        nmatch = km_http_req_args(req, "match", match, MAX_MATCH_ARGS);
    if (nmatch > MAX_MATCH_ARGS) {
        answer_error(a, req, 400, "too many match[] arguments");
        goto out;
    }
    rc = parse_range(req, META_SINCE_NS, &start, &end);
    if (rc) {
        answer_error(a, req, 400, km_err_msg());
        goto out;
    }
    if (nmatch == 0)
        rc = km_log_series(src, NULL, 0, start, end, add_series, &acc);
    for (size_t i = 0; i < nmatch && rc == 0; i++) {
        struct km_matcher **m = NULL;
        size_t nm = 0;

        rc = km_logql_parse_selector(match[i], strlen(match[i]), &m, &nm, &err);
        if (rc) {
            answer_error(a, req, 400, err.len ? km_buf_cstr(&err) : km_err_msg());
            goto out_free;
        }
        rc = km_log_series(src, m, nm, start, end, add_series, &acc);
        km_logql_matchers_free(m, nm);
    }
    if (rc) {
        answer_error(a, req, eval_status(rc), km_err_msg());
        goto out_free;
    }
    km_sort(acc.v, acc.n, sizeof(*acc.v), cmp_labels_p);
    km_jsonw_init(&w, &b);
    km_jsonw_obj_begin(&w);
    km_jsonw_key(&w, "status");
    km_jsonw_str(&w, "success");
    km_jsonw_key(&w, "data");
    km_jsonw_arr_begin(&w);
    for (size_t i = 0; i < acc.n; i++) {
        if (i && km_labels_cmp(acc.v[i - 1], acc.v[i]) == 0)
            continue;
        km_jsonw_obj_begin(&w);
        for (size_t k = 0; k < acc.v[i]->n; k++) {
            km_jsonw_key(&w, acc.v[i]->v[k].name);
            km_jsonw_str(&w, acc.v[i]->v[k].value);
        }
        km_jsonw_obj_end(&w);
    }
    km_jsonw_arr_end(&w);
    km_jsonw_obj_end(&w);
    km_buf_putc(&b, '\n');
    if (km_buf_error(&b)) {
        answer_error(a, req, 500, "answer too large");
        goto out_free;
    }
    atomic_fetch_add(&a->queries[Q_OK], 1);
    km_http_respond_buf(req, 200, "application/json; charset=utf-8", &b);
out_free:
    for (size_t i = 0; i < acc.n; i++)
        km_labels_destroy(acc.v[i]);
    free(acc.v);
out:
    km_buf_fini(&b);
    km_buf_fini(&err);
}

static void on_stats(struct km_http_req *req, void *ud)
{
    struct km_logs_api *a = ud;
    struct km_auth_log_view av;
    const struct km_log_source *src = km_auth_logs(req, &a->src, &av);
    struct km_matcher **m = NULL;
    struct km_log_stats st = { 0 };
    struct km_buf err, b;
    size_t nm = 0;
    int64_t start, end;
    int rc;

    km_buf_init(&err, 1u << 16);
    km_buf_init(&b, 0);
    rc = parse_range(req, QUERY_SINCE_NS, &start, &end);
    if (rc) {
        answer_error(a, req, 400, km_err_msg());
        goto out;
    }
    rc = parse_selector_arg(req, "query", &m, &nm, &err);
    if (rc == 0 && nm == 0)
        rc = km_err_set(KM_EINVAL, "query must be a stream selector");
    if (rc) {
        answer_error(a, req, 400, err.len ? km_buf_cstr(&err) : km_err_msg());
        goto out;
    }
    rc = km_log_stats(src, m, nm, start, end, &st);
    if (rc) {
        answer_error(a, req, eval_status(rc), km_err_msg());
        goto out;
    }
    km_buf_printf(&b, "{\"streams\":%llu,\"chunks\":%llu,\"bytes\":%llu,\"entries\":%llu}\n",
                  (unsigned long long)st.streams, (unsigned long long)st.chunks,
                  (unsigned long long)st.bytes, (unsigned long long)st.entries);
    atomic_fetch_add(&a->queries[Q_OK], 1);
    km_http_respond_buf(req, 200, "application/json; charset=utf-8", &b);
out:
    km_logql_matchers_free(m, nm);
    km_buf_fini(&b);
    km_buf_fini(&err);
}

/* ---- volume ---------------------------------------------------------------------------- */

/* Labels a volume groups by (the selector's names, or targetLabels). */
#define MAX_VOLUME_LABELS 16
/* Groups of one /index/volume answer looked at. */
#define MAX_VOLUME_GROUPS 100000

struct volume_group {
    char *values[MAX_VOLUME_LABELS]; /* NULL: absent */
    uint64_t bytes;
};

struct volume_acc {
    const char *names[MAX_VOLUME_LABELS];
    size_t nnames;
    struct volume_group *g;
    size_t n, cap;
};

static int same_group(const struct volume_acc *acc, const struct volume_group *g,
                      const struct km_labels *l)
{
    for (size_t i = 0; i < acc->nnames; i++) {
        const char *v = km_labels_get(l, acc->names[i]);

        if ((v == NULL) != (g->values[i] == NULL) || (v && strcmp(v, g->values[i]) != 0))
            return 0;
    }
    return 1;
}

static int add_volume_series(void *ud, const struct km_labels *l)
{
    struct volume_acc *acc = ud;
    struct volume_group *g;
    int rc;

    for (size_t i = 0; i < acc->n; i++)
        if (same_group(acc, &acc->g[i], l))
            return 0;
    if (acc->n == MAX_VOLUME_GROUPS)
        return km_err_set(KM_ELIMIT, "more than %d groups: narrow the selector", MAX_VOLUME_GROUPS);
    rc = km_array_grow((void **)&acc->g, &acc->cap, acc->n + 1, sizeof(*acc->g), 16, "volume");
    if (rc)
        return rc;
    g = &acc->g[acc->n++];
    memset(g, 0, sizeof(*g));
    for (size_t i = 0; i < acc->nnames; i++) {
        const char *v = km_labels_get(l, acc->names[i]);

        if (v && !(g->values[i] = strdup(v)))
            return km_err_set(KM_ENOMEM, "out of memory");
    }
    return 0;
}

static int by_bytes_desc(const void *a, const void *b)
{
    const struct volume_group *x = a, *y = b;

    return (x->bytes < y->bytes) - (x->bytes > y->bytes);
}

/* /loki/api/v1/index/volume: the bytes of the matching streams within the range,
 * grouped by the selector's label names (or targetLabels), largest first, as a vector. */
static void on_volume(struct km_http_req *req, void *ud)
{
    struct km_logs_api *a = ud;
    struct km_auth_log_view av;
    const struct km_log_source *src = km_auth_logs(req, &a->src, &av);
    struct km_matcher **m = NULL, *all[KM_LOKI_LIMIT_LABELS + MAX_VOLUME_LABELS];
    struct volume_acc acc = { .nnames = 0 };
    const char *targets = km_http_req_arg(req, "targetLabels");
    char *tcopy = NULL;
    struct km_buf err, b;
    struct km_jsonw w;
    size_t nm = 0, limit;
    int64_t start, end;
    int rc;

    km_buf_init(&err, 1u << 16);
    km_buf_init(&b, 0);
    rc = parse_range(req, QUERY_SINCE_NS, &start, &end);
    if (rc == 0)
        rc = parse_limit(req, &limit);
    if (rc) {
        answer_error(a, req, 400, km_err_msg());
        goto out;
    }
    rc = parse_selector_arg(req, "query", &m, &nm, &err);
    if (rc == 0 && nm == 0)
        rc = km_err_set(KM_EINVAL, "query must be a stream selector");
    if (rc == 0 && nm > KM_LOKI_LIMIT_LABELS)
        rc = km_err_set(KM_EINVAL, "too many matchers");
    if (rc) {
        answer_error(a, req, 400, err.len ? km_buf_cstr(&err) : km_err_msg());
        goto out;
    }
    if (targets && *targets) {
        char *save = NULL;

        tcopy = strdup(targets);
        for (char *t = tcopy ? strtok_r(tcopy, ",", &save) : NULL;
             t && acc.nnames < MAX_VOLUME_LABELS; t = strtok_r(NULL, ",", &save))
            acc.names[acc.nnames++] = t;
    } else {
        for (size_t i = 0; i < nm && acc.nnames < MAX_VOLUME_LABELS; i++) {
            bool seen = false;

            for (size_t k = 0; k < acc.nnames; k++)
                seen |= strcmp(acc.names[k], m[i]->name) == 0;
            if (!seen)
                acc.names[acc.nnames++] = m[i]->name;
        }
    }
    rc = km_log_series(src, m, nm, start, end, add_volume_series, &acc);
    /* Each group's bytes: the selector narrowed to the group's values (a value "" matches
     * the streams without the label, as in every selector). */
    for (size_t g = 0; g < acc.n && rc == 0; g++) {
        struct km_log_stats st = { 0 };
        size_t n = nm;

        memcpy(all, m, nm * sizeof(*m));
        for (size_t i = 0; i < acc.nnames && rc == 0; i++) {
            rc = km_matcher_create(&all[n], KM_MATCH_EQ, acc.names[i],
                                   acc.g[g].values[i] ? acc.g[g].values[i] : "");
            n += rc == 0;
        }
        if (rc == 0)
            rc = km_log_stats(src, all, n, start, end, &st);
        for (size_t i = nm; i < n; i++)
            km_matcher_destroy(all[i]);
        acc.g[g].bytes = st.bytes;
    }
    if (rc) {
        answer_error(a, req, eval_status(rc), km_err_msg());
        goto out;
    }
    km_sort(acc.g, acc.n, sizeof(*acc.g), by_bytes_desc);
    km_jsonw_init(&w, &b);
    km_jsonw_obj_begin(&w);
    km_jsonw_key(&w, "status");
    km_jsonw_str(&w, "success");
    km_jsonw_key(&w, "data");
    km_jsonw_obj_begin(&w);
    km_jsonw_key(&w, "resultType");
    km_jsonw_str(&w, "vector");
    km_jsonw_key(&w, "result");
    km_jsonw_arr_begin(&w);
    for (size_t g = 0; g < acc.n && g < limit; g++) {
        char num[24];

        if (acc.g[g].bytes == 0)
            continue;
        km_jsonw_obj_begin(&w);
        km_jsonw_key(&w, "metric");
        km_jsonw_obj_begin(&w);
        for (size_t i = 0; i < acc.nnames; i++) {
            if (!acc.g[g].values[i])
                continue;
            km_jsonw_key(&w, acc.names[i]);
            km_jsonw_str(&w, acc.g[g].values[i]);
        }
        km_jsonw_obj_end(&w);
        km_jsonw_key(&w, "value");
        km_jsonw_arr_begin(&w);
        km_jsonw_double(&w, (double)(end / NS_PER_MS) / 1000.0);
        snprintf(num, sizeof(num), "%llu", (unsigned long long)acc.g[g].bytes);
        km_jsonw_str(&w, num);
        km_jsonw_arr_end(&w);
        km_jsonw_obj_end(&w);
    }
    km_jsonw_arr_end(&w);
    km_jsonw_obj_end(&w);
    km_jsonw_obj_end(&w);
    km_buf_putc(&b, '\n');
    atomic_fetch_add(&a->queries[Q_OK], 1);
    km_http_respond_buf(req, 200, "application/json; charset=utf-8", &b);
out:
    for (size_t g = 0; g < acc.n; g++)
        for (size_t i = 0; i < acc.nnames; i++)
            free(acc.g[g].values[i]);
    free(acc.g);
    free(tcopy);
    km_logql_matchers_free(m, nm);
    km_buf_fini(&b);
    km_buf_fini(&err);
}

/* GET /loki/api/v1/tail: a WebSocket session (logs_tail.c). */
static void on_tail(struct km_http_req *req, void *ud)
{
    struct km_logs_api *a = ud;

    km_logs_tail_serve(req, &a->src, a->o.query_timeout_ms);
}

static void on_buildinfo(struct km_http_req *req, void *ud)
{
    struct km_buf b;
    struct km_jsonw w;

    (void)ud;
    km_buf_init(&b, 0);
    km_jsonw_init(&w, &b);
    km_jsonw_obj_begin(&w);
    km_jsonw_key(&w, "version");
    km_jsonw_str(&w, KMON_VERSION);
    km_jsonw_key(&w, "revision");
    km_jsonw_str(&w, KMON_REVISION);
    km_jsonw_key(&w, "branch");
    km_jsonw_str(&w, "");
    km_jsonw_key(&w, "buildUser");
    km_jsonw_str(&w, "");
    km_jsonw_key(&w, "buildDate");
    km_jsonw_str(&w, "");
    km_jsonw_key(&w, "goVersion");
    km_jsonw_str(&w, "");
    km_jsonw_obj_end(&w);
    km_buf_putc(&b, '\n');
    km_http_respond_buf(req, 200, "application/json; charset=utf-8", &b);
    km_buf_fini(&b);
}

const struct km_http_route km_logs_api_routes[] = {
    { "POST", "/loki/api/v1/push", on_push, KM_ROUTE_NEEDS_READY | KM_ROUTE_WRITE },
    { "POST", "/api/prom/push", on_push, KM_ROUTE_NEEDS_READY | KM_ROUTE_WRITE },
    { "GET", "/loki/api/v1/query", on_query, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "POST", "/loki/api/v1/query", on_query, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "GET", "/loki/api/v1/query_range", on_query_range, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "POST", "/loki/api/v1/query_range", on_query_range, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "GET", "/loki/api/v1/labels", on_labels, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "POST", "/loki/api/v1/labels", on_labels, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "GET", "/loki/api/v1/label", on_labels, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "GET", "/loki/api/v1/label/<name>/values", on_label_values,
      KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "POST", "/loki/api/v1/label/<name>/values", on_label_values,
      KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "GET", "/loki/api/v1/series", on_series, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "POST", "/loki/api/v1/series", on_series, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "GET", "/loki/api/v1/index/stats", on_stats, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "POST", "/loki/api/v1/index/stats", on_stats, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "GET", "/loki/api/v1/index/volume", on_volume, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "POST", "/loki/api/v1/index/volume", on_volume, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "GET", "/loki/api/v1/tail", on_tail, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "GET", "/loki/api/v1/status/buildinfo", on_buildinfo, 0 },
};
const size_t km_logs_api_nroutes = sizeof(km_logs_api_routes) / sizeof(km_logs_api_routes[0]);
