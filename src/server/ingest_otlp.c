/*
 * ingest_otlp — OTLP/HTTP ingest (see ingest_otlp.h). One request:
 *   1. the headers (content type, encoding), the body inflated within the cap;
 *   2. decoded whole (otlp/otlp.h): a body that does not decode stores nothing (400);
 *   3. metrics: the limits (rate, series cap) before anything else, so that a 429'd
 *      request leaves no trace in the delta state either; mapped to samples
 *      (otlp/otlp_prom.h); each sample checked as remote_write's are (labels per
 *      series, names, values' length and UTF-8, the clock's window); the good ones
 *      appended; the metadata kept when the store keeps any;
 *      logs: mapped to streams (otlp/otlp_logs.h) and pushed into the log store, which
 *      judges each entry;
 *   4. 200 with the response message, partial_success counting what was refused.
 */
#include "ingest_otlp.h"

#include "auth/auth.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/http_server.h"
#include "common/jsonw.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/mset.h"
#include "common/timefmt.h"
#include "ingest_cluster.h"
#include "ingest_internal.h"
#include "logs/logsink.h"
#include "otlp/otlp.h"
#include "otlp/otlp_delta.h"
#include "otlp/otlp_logs.h"
#include "otlp/otlp_prom.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#define LOG_NAME "otlp"

enum { SIG_METRICS, SIG_LOGS, SIG__N };
enum { OUT_OK, OUT_PARTIAL, OUT_BAD, OUT_LIMITED, OUT_FAILED, OUT__N };

struct km_otlp_ingest {
    struct km_ingest *in;
    struct km_log_sink logs;
    struct km_otlp_delta *delta;
    size_t max_decoded;
    atomic_uint_fast64_t requests[SIG__N][OUT__N];
    atomic_uint_fast64_t received[SIG__N], rejected[SIG__N];
};

int km_otlp_ingest_create(struct km_otlp_ingest **out, size_t max_decoded_bytes,
                          size_t max_delta_series)
{
    struct km_otlp_ingest *o = calloc(1, sizeof(*o));
    int rc;

    if (!o)
        return km_err_set(KM_ENOMEM, "out of memory");
    rc = km_otlp_delta_create(&o->delta, max_delta_series);
    if (rc) {
        free(o);
        return rc;
    }
    o->max_decoded = max_decoded_bytes ? max_decoded_bytes : (256u << 20);
    *out = o;
    return 0;
}

void km_otlp_ingest_attach(struct km_otlp_ingest *o, struct km_ingest *in,
                           const struct km_log_sink *logs)
{
    o->in = in;
    o->logs = *logs;
}

void km_otlp_ingest_destroy(struct km_otlp_ingest *o)
{
    if (!o)
        return;
    km_otlp_delta_destroy(o->delta);
    free(o);
}

/* ---- the request's body ------------------------------------------------------------------ */

static bool media_is(const char *v, const char *want)
{
    size_t n = strlen(want);

    return v && strncasecmp(v, want, n) == 0 && (v[n] == '\0' || v[n] == ';' || v[n] == ' ');
}

/* The inflated form of a gzip body in out (at most max bytes). */
static int inflate_body(struct km_buf *out, const char *in, size_t n, size_t max)
{
    z_stream z;
    int zrc;

    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 15 + 32) != Z_OK) /* gzip or zlib header */
        return km_err_set(KM_ENOMEM, "out of memory");
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    do {
        size_t step = out->len + 65536 > max + 1 ? max + 1 - out->len : 65536;

        if (step == 0 || km_buf_reserve(out, step) != 0) {
            inflateEnd(&z);
            return step == 0 ? km_err_set(KM_ELIMIT, "the body inflates past %zu bytes", max)
                             : km_err_set(KM_ENOMEM, "out of memory inflating the body");
        }
        z.next_out = (Bytef *)out->data + out->len;
        z.avail_out = (uInt)step;
        zrc = inflate(&z, Z_NO_FLUSH);
        out->len += step - z.avail_out;
    } while (zrc == Z_OK && (z.avail_in || z.avail_out == 0));
    inflateEnd(&z);
    if (out->len > max)
        return km_err_set(KM_ELIMIT, "the body inflates past %zu bytes", max);
    if (zrc != Z_STREAM_END)
        return km_err_set(KM_EINVAL, "the body is not valid gzip (%s)",
                          zrc == Z_OK || zrc == Z_BUF_ERROR ? "truncated" : "corrupt");
    return 0;
}

struct body {
    bool json;
    const char *p;
    size_t n;
    struct km_buf plain;
};

/* Check the headers and take the body; false after answering. */
static bool take_body(struct km_otlp_ingest *o, struct km_http_req *req, int sig, struct body *b)
{
    const char *ct = km_http_req_header(req, "Content-Type");
    const char *ce = km_http_req_header(req, "Content-Encoding");
    int rc;

    b->json = media_is(ct, "application/json");
    if (ct && !b->json && !media_is(ct, "application/x-protobuf")) {
        atomic_fetch_add(&o->requests[sig][OUT_BAD], 1);
        km_http_respond_error(req, 415,
                              "unsupported Content-Type \"%.64s\": OTLP/HTTP takes "
                              "application/x-protobuf or application/json",
                              ct);
        return false;
    }
    b->p = km_http_req_body(req, &b->n);
    if (!b->p)
        b->p = "", b->n = 0;
    if (ce && media_is(ce, "gzip")) {
        rc = inflate_body(&b->plain, b->p, b->n, o->max_decoded);
        if (rc) {
            atomic_fetch_add(&o->requests[sig][OUT_BAD], 1);
            km_http_respond_error(req, rc == KM_ELIMIT ? 413 : 400, "%s", km_err_msg());
            return false;
        }
        b->p = b->plain.data ? b->plain.data : "";
        b->n = b->plain.len;
    } else if (ce && !media_is(ce, "identity")) {
        atomic_fetch_add(&o->requests[sig][OUT_BAD], 1);
        km_http_respond_error(req, 415, "unsupported Content-Encoding \"%.32s\": send gzip or none",
                              ce);
        return false;
    }
    return true;
}

static void refuse_decode(struct km_otlp_ingest *o, struct km_http_req *req, int sig, int rc,
                          bool json)
{
    atomic_fetch_add(&o->requests[sig][OUT_BAD], 1);
    if (sig == SIG_METRICS && o->in)
        atomic_fetch_add(&o->in->refused[KM_SRC_OTLP], 1);
    km_log_debug(LOG_NAME, "request refused: %s", km_err_msg());
    km_http_respond_error(req,
                          rc == KM_ELIMIT   ? 413
                          : rc == KM_ENOMEM ? 503
                                            : 400,
                          "malformed %s (%s): %s",
                          sig == SIG_METRICS ? "ExportMetricsServiceRequest"
                                             : "ExportLogsServiceRequest",
                          json ? "JSON" : "protobuf", km_err_msg());
}

/* ---- the answer ------------------------------------------------------------------------------ */

static void put_varint(struct km_buf *b, uint64_t v)
{
    while (v >= 0x80) {
        km_buf_putc(b, (char)(v | 0x80));
        v >>= 7;
    }
    km_buf_putc(b, (char)v);
}

/* 200 with Export{Metrics,Logs}ServiceResponse: empty, or partial_success {rejected,
 * error_message}. */
static void answer(struct km_http_req *req, bool json, int sig, uint64_t rejected, const char *msg)
{
    struct km_buf b;

    km_buf_init(&b, 0);
    if (json) {
        struct km_jsonw w;

        km_jsonw_init(&w, &b);
        km_jsonw_obj_begin(&w);
        if (rejected || (msg && msg[0])) {
            km_jsonw_key(&w, "partialSuccess");
            km_jsonw_obj_begin(&w);
            km_jsonw_key(&w, sig == SIG_METRICS ? "rejectedDataPoints" : "rejectedLogRecords");
            km_jsonw_i64(&w, (int64_t)rejected);
            km_jsonw_key(&w, "errorMessage");
            km_jsonw_str(&w, msg ? msg : "");
            km_jsonw_obj_end(&w);
        }
        km_jsonw_obj_end(&w);
    } else if (rejected || (msg && msg[0])) {
        struct km_buf inner;
        size_t ml = msg ? strlen(msg) : 0;

        km_buf_init(&inner, 0);
        km_buf_putc(&inner, 1 << 3 | 0);
        put_varint(&inner, rejected);
        km_buf_putc(&inner, 2 << 3 | 2);
        put_varint(&inner, ml);
        km_buf_append(&inner, msg ? msg : "", ml);
        km_buf_putc(&b, 1 << 3 | 2);
        put_varint(&b, inner.len);
        km_buf_append(&b, inner.data, inner.len);
        km_buf_fini(&inner);
    }
    km_http_respond_buf(req, 200, json ? "application/json" : "application/x-protobuf", &b);
    km_buf_fini(&b);
}

static void limited(struct km_otlp_ingest *o, struct km_http_req *req, int sig, int64_t retry_s,
                    const char *msg)
{
    char ra[24];

    snprintf(ra, sizeof(ra), "%lld", (long long)retry_s);
    km_http_req_add_header(req, "Retry-After", ra);
    atomic_fetch_add(&o->requests[sig][OUT_LIMITED], 1);
    if (sig == SIG_METRICS)
        atomic_fetch_add(&o->in->limited, 1);
    km_http_respond_error(req, 429, "%s", msg);
}

/* ---- metrics --------------------------------------------------------------------------------- */

/* A sample's labels pass remote_write's checks. */
static bool sample_ok(const struct km_ingest *in, const struct km_sample *s)
{
    if (s->nlabels > KM_LIMIT_LABELS_PER_SERIES || km_labels_check(s->labels, s->nlabels) != 0 ||
        !km_metric_name_valid(s->labels[0].value, strlen(s->labels[0].value)))
        return false;
    for (size_t i = 0; i < s->nlabels; i++)
        if (km_ingest_check_value(in, s->labels[i].name, s->labels[i].value,
                                  strlen(s->labels[i].value)) != 0)
            return false;
    return true;
}

/* Keep the families' metadata when the store keeps any; invalid entries are dropped. */
static void keep_metadata(struct km_ingest *in, const struct km_otlp_samples *s)
{
    size_t k = 0;
    struct km_metadata *md = s->md;

    if (!s->nmd || !km_storage_keeps_metadata(in->store))
        return;
    for (size_t i = 0; i < s->nmd; i++) {
        if (!km_metric_name_valid(md[i].name, strlen(md[i].name)) ||
            km_ingest_check_text("help", md[i].help, strlen(md[i].help)) != 0 ||
            km_ingest_check_text("unit", md[i].unit, strlen(md[i].unit)) != 0) {
            atomic_fetch_add(&in->metadata_dropped, 1);
            continue;
        }
        md[k++] = md[i];
    }
    if (k && km_storage_metadata_put(in->store, md, k) != 0)
        km_log_warn(LOG_NAME, "metadata not kept: %s", km_err_msg());
}

/* A sample's label set as bytes (name NUL value NUL ...), the series cache's key: the
 * cache (shared with remote_write, whose keys are protobuf bytes and never start with a
 * label name's character) remembers each label set checked and resolved before. */
static int series_key(struct km_buf *b, const struct km_sample *s)
{
    km_buf_reset(b);
    for (size_t i = 0; i < s->nlabels; i++) {
        km_buf_append(b, s->labels[i].name, strlen(s->labels[i].name) + 1);
        km_buf_append(b, s->labels[i].value, strlen(s->labels[i].value) + 1);
    }
    return km_buf_error(b);
}

/* What resolving a request's series shares: the key buffer, and a view of the head
 * (opened when first needed) to tell whether a series a cluster at its series cap sends
 * exists already. */
struct resolver {
    struct km_ingest *in;
    struct km_buf key;
    struct km_querier *head;
    uint64_t over_cap; /* samples of new series refused for their cluster's cap */
    uint32_t over_slot;
};

/* The entry of a sample's cluster (its `cluster` label, "" without). */
static uint32_t sample_slot(struct km_ingest *in, const struct km_sample *s)
{
    for (size_t i = 0; i < s->nlabels; i++)
        if (strcmp(s->labels[i].name, "cluster") == 0)
            return km_clusters_slot(in->clusters, s->labels[i].value, strlen(s->labels[i].value));
    return km_clusters_slot(in->clusters, "", 0);
}

/* Whether a series the cache does not know may be created: its cluster is under its
 * series cap, or it exists already. */
static bool series_allowed(struct resolver *rs, const struct km_sample *s, uint32_t slot)
{
    struct km_cluster_use u = { slot, 1, 1 };

    if (km_clusters_series_fit(rs->in->clusters, &u, 1, &(size_t){ 0 }))
        return true;
    if (!rs->head)
        rs->head = km_ingest_head_querier(rs->in);
    return rs->head && km_ingest_series_exists(rs->head, s->labels, s->nlabels);
}

/* The reference of a sample's series: from the cache, or checked (remote_write's rules)
 * and resolved (created when new, within its cluster's series cap), then cached.
 * KM_EINVAL for an invalid label set, KM_ELIMIT for a new series over the cap. */
static int resolve(struct resolver *rs, const struct km_sample *s, bool fresh, uint64_t *ref)
{
    struct km_ingest *in = rs->in;
    uint32_t slot;
    struct km_series_fp fp;
    bool created;
    int rc = series_key(&rs->key, s);

    if (rc)
        return km_err_set(KM_ENOMEM, "out of memory storing OTLP metrics");
    fp = km_series_cache_fp(in->cache, rs->key.data, rs->key.len);
    if (fresh)
        km_series_cache_drop(in->cache, fp);
    else if (km_series_cache_get(in->cache, fp, ref, &slot))
        return 0;
    if (!sample_ok(in, s))
        return KM_EINVAL;
    slot = sample_slot(in, s);
    if (!series_allowed(rs, s, slot)) {
        rs->over_cap++;
        rs->over_slot = slot;
        return KM_ELIMIT;
    }
    rc = km_storage_series_ref(in->store, s->labels, s->nlabels, ref, &created);
    if (rc)
        return rc;
    if (created) {
        atomic_fetch_add(&in->series_created, 1);
        km_clusters_created(in->clusters, slot, 1);
    }
    km_series_cache_put(in->cache, fp, *ref, slot);
    return 0;
}

static void add_result(struct km_append_result *to, const struct km_append_result *r)
{
    to->appended += r->appended;
    to->duplicate += r->duplicate;
    to->too_old += r->too_old;
    to->conflicting += r->conflicting;
    to->series_created += r->series_created;
}

/* Give the appended samples (ok[i] came from s->v[from[i]]) to the forwarding tap. */
static void forward_appended(struct km_ingest *in, const struct km_otlp_samples *s,
                             const size_t *from, const enum km_sample_status *st, size_t k)
{
    struct km_sample *out;
    size_t n = 0;

    if (!in->forward || k == 0 || !(out = malloc(k * sizeof(*out))))
        return;
    for (size_t i = 0; i < k; i++)
        if (st[i] == KM_SAMPLE_APPENDED)
            out[n++] = s->v[from[i]];
    km_ingest_tap(in, out, n, NULL);
    free(out);
}

/* Check, resolve and append by reference (as remote_write does), and say what was
 * refused: the points with a refused sample (rs->over_cap counts those of new series
 * over their cluster's cap). */
static int store_samples(struct km_otlp_ingest *o, struct km_otlp_samples *s, uint64_t *rejected,
                         struct km_ingest_refusals *ref, struct resolver *rs)
{
    struct km_ingest *in = o->in;
    struct km_ref_sample *ok = malloc((s->n + 1) * sizeof(*ok));
    size_t *from = malloc((s->n + 1) * sizeof(*from));
    enum km_sample_status *st = malloc((s->n + 1) * sizeof(*st));
    uint8_t *bad = calloc(s->points + 1, 1);
    struct km_append_result res = { 0 }, more;
    size_t k = 0;
    int64_t lo, hi;
    int rc = 0;

    if (!ok || !from || !st || !bad) {
        rc = km_err_set(KM_ENOMEM, "out of memory storing OTLP metrics");
        goto out_free;
    }
    km_storage_time_window(in->store, &lo, &hi);
    for (size_t i = 0; i < s->n; i++) {
        enum km_sample_status t = km_sample_check_time(s->v[i].t, lo, hi);
        uint64_t r = 0;

        ref->received++;
        if (t == KM_SAMPLE_APPENDED) {
            rc = resolve(rs, &s->v[i], false, &r);
            if (rc == 0) {
                ok[k] = (struct km_ref_sample){ r, s->v[i].t, s->v[i].v };
                from[k++] = i;
                continue;
            }
            if (rc != KM_EINVAL && rc != KM_ELIMIT)
                goto out_free;
            if (rc == KM_EINVAL)
                km_ingest_refusals_add(ref, KM_SAMPLE_INVALID, s->v[i].t);
            rc = 0;
        } else {
            km_ingest_refusals_add(ref, t, s->v[i].t);
        }
        if (s->point[i] != UINT32_MAX)
            bad[s->point[i]] = 1;
    }
    if (k)
        rc = km_storage_append_refs(in->store, ok, k, st, &res);
    for (size_t i = 0; rc == 0 && i < k; i++) {
        const struct km_sample *x = &s->v[from[i]];

        if (st[i] == KM_SAMPLE_STALE_REF) {
            /* Its series left the head since it was cached: resolve it again. */
            rc = resolve(rs, x, true, &ok[i].ref);
            if (rc == 0)
                rc = km_storage_append_refs(in->store, &ok[i], 1, &st[i], &more);
            if (rc == 0)
                add_result(&res, &more);
            if (rc == KM_EINVAL || rc == KM_ELIMIT) {
                if (rc == KM_EINVAL)
                    km_ingest_refusals_add(ref, KM_SAMPLE_INVALID, x->t);
                rc = 0;
                st[i] = KM_SAMPLE_INVALID;
                if (s->point[from[i]] != UINT32_MAX)
                    bad[s->point[from[i]]] = 1;
                continue;
            }
        }
        if (rc || st[i] == KM_SAMPLE_APPENDED || st[i] == KM_SAMPLE_DUPLICATE)
            continue;
        km_ingest_refusals_add(ref, st[i], x->t);
        if (s->point[from[i]] != UINT32_MAX)
            bad[s->point[from[i]]] = 1;
    }
    if (rc == 0)
        forward_appended(in, s, from, st, k);
    res.too_new = ref->n[KM_SAMPLE_TOO_NEW];
    res.out_of_retention = ref->n[KM_SAMPLE_OUT_OF_RETENTION];
    res.series_created = 0; /* counted when resolved */
    km_ingest_count(in, &res);
    for (uint64_t i = 0; i < s->points; i++)
        *rejected += bad[i];
out_free:
    free(ok);
    free(from);
    free(st);
    free(bad);
    return rc;
}

/* The per-cluster budgets, before mapping (so that a request answered 429 leaves no
 * trace in the delta totals either): each resource's samples (at most) count for its
 * cluster — the write token's, else the resource's k8s.cluster.name ("" without). False
 * after answering 429 (or 503). */
static bool admit_clusters(struct km_otlp_ingest *o, struct km_http_req *req,
                           const struct km_otlp_metrics_req *r, const char *bound)
{
    struct km_ingest *in = o->in;
    struct km_cluster_use *u = calloc(r->nresources + 1, sizeof(*u));
    size_t nu = 0;
    bool ok;

    if (!u) {
        km_http_respond_error(req, 503, "out of memory reading the request");
        return false;
    }
    for (size_t i = 0; i < r->nresources; i++) {
        const struct km_otlp_resource_metrics *res = &r->resources[i];
        struct km_otlp_metrics_req one = { .resources = res, .nresources = 1 };
        const char *c = bound;

        for (size_t k = 0; !c && k < res->nattrs; k++)
            if (strcmp(res->attrs[k].key, "k8s.cluster.name") == 0)
                c = res->attrs[k].value;
        if (!c)
            c = "";
        km_cluster_use_add(u, &nu, r->nresources, km_clusters_slot(in->clusters, c, strlen(c)),
                           km_otlp_samples_estimate(&one), 0);
    }
    ok = km_ingest_cluster_admit(in, req, u, nu);
    if (!ok)
        atomic_fetch_add(&o->requests[SIG_METRICS][OUT_LIMITED], 1);
    free(u);
    return ok;
}

static void on_metrics(struct km_http_req *req, void *ud)
{
    struct km_otlp_ingest *o = ud;
    struct km_otlp_metrics_req r = { 0 };
    struct km_otlp_samples s = { 0 };
    struct km_ingest_refusals ref = { 0 };
    struct body b = { 0 };
    struct km_otlp_map_opts mo = { 0 };
    struct resolver rs = { .in = o->in };
    struct km_storage_info info;
    uint64_t rejected = 0;
    int64_t retry_s = 1;
    char msg[600] = "";
    int rc;

    km_buf_init(&b.plain, o->max_decoded + 1);
    km_buf_init(&rs.key, 0);
    atomic_fetch_add(&o->in->requests[KM_SRC_OTLP], 1);
    if (!take_body(o, req, SIG_METRICS, &b))
        goto out;
    rc = b.json ? km_otlp_metrics_decode_json(&r, b.p, b.n)
                : km_otlp_metrics_decode_pb(&r, b.p, b.n);
    if (rc) {
        refuse_decode(o, req, SIG_METRICS, rc, b.json);
        goto out;
    }
    atomic_fetch_add(&o->received[SIG_METRICS], r.npoints);
    /* Limits first: a request answered 429 changes nothing, delta totals included. */
    if (!km_ingest_rate_take(o->in, km_otlp_samples_estimate(&r), &retry_s)) {
        snprintf(msg, sizeof(msg), "over the ingest rate limit of %.0f samples/s",
                 o->in->o.max_samples_per_s);
        limited(o, req, SIG_METRICS, retry_s, msg);
        goto out;
    }
    km_storage_info(o->in->store, &info);
    if (o->in->o.max_series && info.series >= o->in->o.max_series) {
        snprintf(msg, sizeof(msg), "the database holds %llu series and the limit is %llu",
                 (unsigned long long)info.series, (unsigned long long)o->in->o.max_series);
        limited(o, req, SIG_METRICS, 60, msg);
        goto out;
    }
    mo.cluster = km_auth_write_cluster(req);
    if (!admit_clusters(o, req, &r, mo.cluster))
        goto out;
    mo.delta = o->delta;
    mo.now_ms = km_time_now_ns() / 1000000;
    rc = km_otlp_to_samples(&r, &mo, &s);
    if (rc == 0)
        rc = store_samples(o, &s, &rejected, &ref, &rs);
    atomic_fetch_add(&o->in->samples[KM_SRC_OTLP], s.n);
    if (rc) {
        atomic_fetch_add(&o->requests[SIG_METRICS][OUT_FAILED], 1);
        km_log_error(LOG_NAME, "metrics: %s", km_err_msg());
        km_http_req_add_header(req, "Retry-After", "5");
        km_http_respond_error(req, 503, "the samples could not be stored: %s", km_err_msg());
        goto out;
    }
    keep_metadata(o->in, &s);
    rejected += s.dropped;
    if (rejected) {
        size_t k = 0;

        if (ref.total)
            k = (size_t)snprintf(
                msg, sizeof(msg), "%llu of %llu samples refused (first: %s at %lld ms)",
                (unsigned long long)ref.total, (unsigned long long)ref.received,
                km_sample_status_str(ref.example_status), (long long)ref.example_t);
        if (rs.over_cap && k < sizeof(msg))
            k +=
                (size_t)snprintf(msg + k, sizeof(msg) - k,
                                 "%s%llu samples of new series refused: cluster \"%s\" is at its "
                                 "series limit of %llu (--max-series-per-cluster)",
                                 k ? "; " : "", (unsigned long long)rs.over_cap,
                                 km_clusters_name(o->in->clusters, rs.over_slot),
                                 (unsigned long long)km_clusters_opts(o->in->clusters)->max_series);
        if (s.dropped && k < sizeof(msg))
            snprintf(msg + k, sizeof(msg) - k, "%s%llu data points not representable (first: %s)",
                     k ? "; " : "", (unsigned long long)s.dropped, s.dropped_why);
        atomic_fetch_add(&o->rejected[SIG_METRICS], rejected);
        atomic_fetch_add(&o->requests[SIG_METRICS][OUT_PARTIAL], 1);
    } else {
        atomic_fetch_add(&o->requests[SIG_METRICS][OUT_OK], 1);
    }
    answer(req, b.json, SIG_METRICS, rejected, msg);
out:
    km_querier_close(rs.head);
    km_buf_fini(&rs.key);
    km_otlp_samples_fini(&s);
    km_otlp_metrics_fini(&r);
    km_buf_fini(&b.plain);
}

/* ---- logs ------------------------------------------------------------------------------------ */

/* The per-cluster log bytes budgets (--max-log-bytes-per-second-per-cluster), as for a
 * Loki push: false after answering 429 with Retry-After. */
static bool admit_log_bytes(struct km_otlp_ingest *o, struct km_http_req *req,
                            const struct km_otlp_streams *st)
{
    struct km_clusters *c = o->in->clusters;
    struct km_cluster_use *u = calloc(st->n + 1, sizeof(*u));
    int64_t retry_s = 1;
    size_t nu = 0, over = 0;
    char msg[300];
    bool ok;

    if (!u) {
        km_http_respond_error(req, 503, "out of memory reading the request");
        return false;
    }
    km_clusters_log_uses(c, st->v, st->n, u, &nu);
    ok = km_clusters_take(c, KM_CLUSTER_LOG_BYTES, u, nu, &over, &retry_s);
    km_clusters_note(c, KM_CLUSTER_LOG_BYTES, u, nu, !ok);
    if (!ok) {
        snprintf(msg, sizeof(msg),
                 "cluster \"%s\" is over its log rate limit of %.0f bytes/s "
                 "(--max-log-bytes-per-second-per-cluster): retry in %lld s",
                 km_clusters_name(c, u[over].slot), km_clusters_opts(c)->max_log_bytes_per_s,
                 (long long)retry_s);
        limited(o, req, SIG_LOGS, retry_s, msg);
    }
    free(u);
    return ok;
}

static void on_logs(struct km_http_req *req, void *ud)
{
    struct km_otlp_ingest *o = ud;
    struct km_otlp_logs_req r = { 0 };
    struct km_otlp_streams st = { 0 };
    struct km_log_push_result res = { 0 };
    struct body b = { 0 };
    char msg[700] = "";
    int rc;

    km_buf_init(&b.plain, o->max_decoded + 1);
    if (!take_body(o, req, SIG_LOGS, &b))
        goto out;
    rc = b.json ? km_otlp_logs_decode_json(&r, b.p, b.n) : km_otlp_logs_decode_pb(&r, b.p, b.n);
    if (rc) {
        refuse_decode(o, req, SIG_LOGS, rc, b.json);
        goto out;
    }
    atomic_fetch_add(&o->received[SIG_LOGS], r.nlogs);
    rc = km_otlp_to_streams(&r, km_auth_write_cluster(req), km_time_now_ns(), &st);
    if (rc == 0 && !admit_log_bytes(o, req, &st))
        goto out;
    if (rc == 0 && st.n)
        rc = km_log_sink_push(&o->logs, st.v, st.n, &res);
    if (rc) {
        atomic_fetch_add(&o->requests[SIG_LOGS][OUT_FAILED], 1);
        km_log_error(LOG_NAME, "logs: %s", km_err_msg());
        km_http_req_add_header(req, "Retry-After", "5");
        km_http_respond_error(req, 503, "the log store failed: %s", km_err_msg());
        goto out;
    }
    if (res.refused_total) {
        snprintf(msg, sizeof(msg), "%llu of %llu log records refused%s%s",
                 (unsigned long long)res.refused_total, (unsigned long long)r.nlogs,
                 res.example[0] ? ": for example " : "", res.example);
        atomic_fetch_add(&o->rejected[SIG_LOGS], res.refused_total);
        atomic_fetch_add(&o->requests[SIG_LOGS][OUT_PARTIAL], 1);
    } else {
        atomic_fetch_add(&o->requests[SIG_LOGS][OUT_OK], 1);
    }
    answer(req, b.json, SIG_LOGS, res.refused_total, msg);
out:
    km_otlp_streams_fini(&st);
    km_otlp_logs_fini(&r);
    km_buf_fini(&b.plain);
}

const struct km_http_route km_otlp_routes[] = {
    { "POST", "/v1/metrics", on_metrics, KM_ROUTE_WRITE | KM_ROUTE_NEEDS_READY },
    { "POST", "/v1/logs", on_logs, KM_ROUTE_WRITE | KM_ROUTE_NEEDS_READY },
};
const size_t km_otlp_nroutes = sizeof(km_otlp_routes) / sizeof(km_otlp_routes[0]);

void km_otlp_ingest_metrics(struct km_otlp_ingest *o, struct km_mset *m)
{
    static const char *const sig[SIG__N] = { "metrics", "logs" };
    static const char *const out[OUT__N] = { "ok", "partial", "invalid", "limited", "failed" };
    int f;

    f = km_mset_family(m, "kmon_otlp_requests_total",
                       "OTLP/HTTP export requests, by signal and outcome (ok, partial: some "
                       "points refused, invalid: 4xx, limited: 429, failed: 5xx).",
                       KM_MT_COUNTER, 0);
    for (int i = 0; i < SIG__N; i++)
        for (int k = 0; k < OUT__N; k++)
            km_mset_add(m, f, (struct km_label[]){ { "signal", sig[i] }, { "outcome", out[k] } }, 2,
                        (double)atomic_load(&o->requests[i][k]));
    f = km_mset_family(m, "kmon_otlp_received_total",
                       "OTLP data points (metrics) and log records (logs) decoded.", KM_MT_COUNTER,
                       0);
    for (int i = 0; i < SIG__N; i++)
        km_mset_add(m, f, &(struct km_label){ "signal", sig[i] }, 1,
                    (double)atomic_load(&o->received[i]));
    f = km_mset_family(m, "kmon_otlp_rejected_total",
                       "OTLP data points and log records refused (partial_success).", KM_MT_COUNTER,
                       0);
    for (int i = 0; i < SIG__N; i++)
        km_mset_add(m, f, &(struct km_label){ "signal", sig[i] }, 1,
                    (double)atomic_load(&o->rejected[i]));
    km_mset_gauge(m, "kmon_otlp_delta_series",
                  "Series whose OTLP delta points are being accumulated into cumulative ones.",
                  (double)km_otlp_delta_series(o->delta));
}
