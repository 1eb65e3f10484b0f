/*
 * ingest_rw — POST /api/v1/write, Prometheus remote_write 1.0 (see ingest.h).
 *
 * One request, on one HTTP thread, with that thread's reusable scratch:
 *   1. check the headers (snappy, protobuf, version 0.1.0), decompress within the cap;
 *   2. walk the WriteRequest in place (rw_decode), fingerprinting each series' label
 *      bytes, then look them all up in the series cache: a series it knows is
 *      known-good and already resolved; any other is parsed and validated (names,
 *      order, duplicates, metric name, UTF-8, lengths). Nothing is stored yet, so a bad
 *      series anywhere refuses the whole request;
 *   3. apply the limits (rate, series; the same per cluster), resolve the new series,
 *      append every sample by reference; a reference gone stale (its series left the
 *      head) is resolved again from its labels and its samples appended once more;
 *   4. hand the request's metric metadata (TYPE, HELP, UNIT) to the store, when it
 *      keeps any: an invalid entry is dropped and counted, never a reason to refuse the
 *      samples (Prometheus' own receiver ignores metadata altogether).
 *
 * A write token bound to a cluster (km_auth_write_cluster) sets the label `cluster` of
 * every series; the series cache is then keyed by that cluster and the label bytes, so
 * bound and unbound requests never share an entry. Each cache entry also remembers the
 * series' entry in the per-cluster table (ingest_cluster.h).
 */
#include "ingest_internal.h"

#include "common/arena.h"
#include "common/array.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/http_server.h"
#include "common/limits.h"
#include "common/log.h"
#include "remote/rw_codec.h"
#include "remote/rw_decode.h"
#include "server/auth/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Items ahead of the one being looked up whose cache slots are prefetched. */
#define PREFETCH_AHEAD 8

struct item {
    struct km_rw_series s;
    struct km_series_fp fp; /* of the label bytes, when keyed */
    bool keyed;             /* the labels are adjacent: the cache may know them */
    uint64_t ref;
    size_t lab;    /* parsed labels: offset in scratch labels (new series) */
    size_t nlab;   /* 0 while not parsed */
    size_t live;   /* samples within the clock's window: none, and the series is not created */
    uint32_t slot; /* its cluster's entry (ingest_cluster.h) */
    bool known;    /* found in the cache */
    bool exists;   /* not in the cache, but in the database (checked at a series cap) */
};

struct scratch {
    struct km_buf body;
    struct item *items;
    size_t nitems, capitems;
    struct km_ref_sample *smp;
    uint32_t *smp_item;
    enum km_sample_status *status;
    size_t nsmp, capsmp;
    struct km_label *labels;
    size_t nlabels, caplabels;
    struct km_arena strs;
    struct km_rw_label wire[KM_LIMIT_LABELS_PER_SERIES];
    struct km_buf key; /* a bound request's cache key */
    struct km_cluster_use *use;
    size_t capuse;
};

struct ctx {
    struct km_ingest *in;
    struct scratch *sc;
    size_t npending;
    int64_t lo, hi;    /* the database's time window for this request */
    const char *bound; /* the write token's cluster, or NULL */
    uint32_t bound_slot;
    struct km_ingest_refusals refused;
    char err[1024]; /* the first validation error */
};

void km_ingest_rw_scratch_free(void *p)
{
    struct scratch *sc = p;

    if (!sc)
        return;
    km_buf_fini(&sc->body);
    free(sc->items);
    free(sc->smp);
    free(sc->smp_item);
    free(sc->status);
    free(sc->labels);
    km_arena_fini(&sc->strs);
    km_buf_fini(&sc->key);
    free(sc->use);
    free(sc);
}

static struct scratch *scratch_get(struct km_ingest *in)
{
    struct scratch *sc = pthread_getspecific(in->scratch_key);

    if (sc)
        return sc;
    sc = calloc(1, sizeof(*sc));
    if (!sc)
        return NULL;
    km_buf_init(&sc->body, in->o.max_decoded_bytes + 1);
    km_arena_init(&sc->strs, 64 * 1024, (size_t)1 << 40);
    km_buf_init(&sc->key, 0);
    if (pthread_setspecific(in->scratch_key, sc) != 0) {
        km_ingest_rw_scratch_free(sc);
        return NULL;
    }
    return sc;
}

static int grow(void **v, size_t *cap, size_t need, size_t elem)
{
    return km_array_grow(v, cap, need, elem, 256, "reading a remote_write request");
}

static int grow_samples(struct scratch *sc, size_t need)
{
    size_t cap = sc->capsmp;
    int rc;

    if (need <= cap)
        return 0;
    rc = grow((void **)&sc->smp, &cap, need, sizeof(*sc->smp));
    if (rc == 0)
        rc = grow((void **)&sc->smp_item, &sc->capsmp, need, sizeof(*sc->smp_item));
    if (rc == 0) {
        void *q = realloc(sc->status, sc->capsmp * sizeof(*sc->status));

        if (!q)
            return km_err_set(KM_ENOMEM, "out of memory reading a remote_write request");
        sc->status = q;
    }
    return rc;
}

/* ---- validation ---------------------------------------------------------------------- */

/* {name="value", …} for error messages, values cut short. */
static void preview(char *out, size_t size, const struct km_rw_label *l, size_t n)
{
    size_t k = 0;

    k += (size_t)snprintf(out + k, size - k, "{");
    for (size_t i = 0; i < n && k < size - 8; i++)
        k += (size_t)snprintf(out + k, size - k, "%s%.*s=\"%.*s%s\"", i ? ", " : "",
                              (int)(l[i].name_len < 64 ? l[i].name_len : 64), l[i].name,
                              (int)(l[i].value_len < 40 ? l[i].value_len : 40), l[i].value,
                              l[i].value_len > 40 ? "…" : "");
    if (k < size - 2)
        snprintf(out + k, size - k, "}");
}

static int cmp_bytes(const char *a, size_t na, const char *b, size_t nb)
{
    int c = memcmp(a, b, na < nb ? na : nb);

    return c ? c : (na > nb) - (na < nb);
}

/* The rules remote_write 1.0 sets for a label set, plus kmon's bounds. */
static int validate(const struct km_ingest *in, const struct km_rw_label *l, size_t n)
{
    bool has_name = false;

    for (size_t i = 0; i < n; i++) {
        char what[96];
        int rc;

        if (!km_label_name_valid(l[i].name, l[i].name_len))
            return km_err_set(KM_EINVAL, "invalid label name \"%.*s\"",
                              (int)(l[i].name_len < 64 ? l[i].name_len : 64), l[i].name);
        if (i && cmp_bytes(l[i].name, l[i].name_len, l[i - 1].name, l[i - 1].name_len) == 0)
            return km_err_set(KM_EINVAL, "duplicate label name \"%.*s\"", (int)l[i].name_len,
                              l[i].name);
        if (i && cmp_bytes(l[i].name, l[i].name_len, l[i - 1].name, l[i - 1].name_len) < 0)
            return km_err_set(KM_EINVAL, "labels are not sorted by name (\"%.*s\" after \"%.*s\")",
                              (int)l[i].name_len, l[i].name, (int)l[i - 1].name_len, l[i - 1].name);
        snprintf(what, sizeof(what), "the value of label \"%.*s\"", (int)l[i].name_len, l[i].name);
        rc = km_ingest_check_value(in, what, l[i].value, l[i].value_len);
        if (rc)
            return rc;
        if (l[i].name_len == 8 && memcmp(l[i].name, "__name__", 8) == 0) {
            if (l[i].value_len == 0)
                return km_err_set(KM_EINVAL, "empty metric name");
            if (!km_metric_name_valid(l[i].value, l[i].value_len))
                return km_err_set(KM_EINVAL, "invalid metric name \"%.*s\"",
                                  (int)(l[i].value_len < 64 ? l[i].value_len : 64), l[i].value);
            has_name = true;
        }
    }
    if (!has_name)
        return km_err_set(KM_EINVAL, "no metric name (label __name__)");
    return 0;
}

/* The cluster of a parsed item: the label `cluster` set to the bound one (when the
 * request is bound), and its entry in the per-cluster table. */
static int bind(struct ctx *c, struct item *it, size_t index)
{
    struct km_label *l = &c->sc->labels[it->lab];
    size_t n = it->nlab;
    const char *v = "";

    if (km_ingest_bind_cluster(l, &n, KM_LIMIT_LABELS_PER_SERIES, c->bound) != 0) {
        snprintf(c->err, sizeof(c->err), "time series %zu: %s", index + 1, km_err_msg());
        return KM_EINVAL;
    }
    c->sc->nlabels += n - it->nlab;
    it->nlab = n;
    if (c->bound) {
        it->slot = c->bound_slot;
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(l[i].name, "cluster") == 0) {
            v = l[i].value;
            break;
        }
    }
    it->slot = km_clusters_slot(c->in->clusters, v, strlen(v));
    return 0;
}

/* The series cache key of an item: its label bytes, prefixed with "\0<cluster>\0" when
 * the request is bound (no label bytes start with a zero byte: field 0 is not valid
 * protobuf). NULL when the item cannot be cached. */
static const void *cache_key(struct ctx *c, const struct item *it, size_t *len)
{
    struct km_buf *k = &c->sc->key;

    if (!it->s.labels_adjacent)
        return NULL;
    if (!c->bound) {
        *len = it->s.labels_len;
        return it->s.labels;
    }
    km_buf_reset(k);
    km_buf_putc(k, '\0');
    km_buf_append(k, c->bound, strlen(c->bound));
    km_buf_putc(k, '\0');
    if (km_buf_append(k, it->s.labels, it->s.labels_len) != 0)
        return NULL;
    *len = k->len;
    return k->data;
}

/* Parse and validate the labels of it->s into the scratch label array (NUL-terminated
 * copies, empty values dropped as Prometheus does). On error ctx->err says why. */
static int parse_labels(struct ctx *c, struct item *it, size_t index)
{
    struct scratch *sc = c->sc;
    size_t n;
    int rc;

    rc = km_rw_series_labels(&it->s, sc->wire, KM_LIMIT_LABELS_PER_SERIES, &n);
    if (rc == 0)
        rc = validate(c->in, sc->wire, n);
    if (rc) {
        char pv[384];

        preview(pv, sizeof(pv), sc->wire, n < 16 ? n : 16);
        if (rc == KM_ELIMIT)
            snprintf(c->err, sizeof(c->err), "time series %zu has %u labels (at most %d)",
                     index + 1, it->s.nlabels, KM_LIMIT_LABELS_PER_SERIES);
        else
            snprintf(c->err, sizeof(c->err), "time series %zu %s: %s", index + 1, pv, km_err_msg());
        return KM_EINVAL;
    }
    rc = grow((void **)&sc->labels, &sc->caplabels, sc->nlabels + n + 1, sizeof(*sc->labels));
    if (rc)
        return rc;
    it->lab = sc->nlabels;
    it->nlab = 0;
    for (size_t i = 0; i < n; i++) {
        struct km_label *l = &sc->labels[sc->nlabels];

        if (sc->wire[i].value_len == 0)
            continue;
        l->name = km_arena_strndup(&sc->strs, sc->wire[i].name, sc->wire[i].name_len);
        l->value = km_arena_strndup(&sc->strs, sc->wire[i].value, sc->wire[i].value_len);
        if (!l->name || !l->value)
            return km_err_set(KM_ENOMEM, "out of memory reading a remote_write request");
        sc->nlabels++;
        it->nlab++;
    }
    return bind(c, it, index);
}

/* Note a refused sample of item `it`; the first one becomes the answer's example. */
static void note_refusal(struct ctx *c, const struct item *it, enum km_sample_status st, int64_t t)
{
    size_t n;

    if (!km_ingest_refusals_add(&c->refused, st, t))
        return;
    if (km_rw_series_labels(&it->s, c->sc->wire, KM_LIMIT_LABELS_PER_SERIES, &n) != 0)
        n = 0;
    preview(c->refused.example_series, sizeof(c->refused.example_series), c->sc->wire,
            n < 16 ? n : 16);
}

/* ---- the walk ------------------------------------------------------------------------- */

static int collect(void *ud, const struct km_rw_series *s)
{
    struct ctx *c = ud;
    struct scratch *sc = c->sc;
    struct km_rw_sample_it si;
    struct item *it;
    size_t index = sc->nitems;
    int64_t t;
    double v;
    int rc;

    rc = grow((void **)&sc->items, &sc->capitems, sc->nitems + 1, sizeof(*sc->items));
    if (rc == 0)
        rc = grow_samples(sc, sc->nsmp + s->nsamples);
    if (rc)
        return rc;
    it = &sc->items[sc->nitems++];
    memset(it, 0, sizeof(*it));
    it->s = *s;
    if (s->nlabels == 0) {
        snprintf(c->err, sizeof(c->err), "time series %zu has no labels", index + 1);
        return KM_EINVAL;
    }
    if (s->labels_adjacent) {
        size_t klen;
        const void *key = cache_key(c, it, &klen);

        if (key) {
            it->fp = km_series_cache_fp(c->in->cache, key, klen);
            it->keyed = true;
        }
    }
    /* Samples outside the clock's window never reach the database, and a series with
     * none inside it is never created. */
    km_rw_samples_init(&si, s);
    while (km_rw_samples_next(&si, &t, &v)) {
        enum km_sample_status st = km_sample_check_time(t, c->lo, c->hi);

        c->refused.received++;
        if (st != KM_SAMPLE_APPENDED) {
            note_refusal(c, it, st, t);
            continue;
        }
        sc->smp[sc->nsmp] = (struct km_ref_sample){ 0, t, v };
        sc->smp_item[sc->nsmp] = (uint32_t)index;
        sc->nsmp++;
        it->live++;
    }
    return 0;
}

/* After the walk: every item looked up in the series cache (the lookups a few items
 * ahead prefetched), and those it does not know parsed and validated. */
static int recognise(struct ctx *c)
{
    struct scratch *sc = c->sc;

    for (size_t i = 0; i < sc->nitems; i++) {
        struct item *it = &sc->items[i];
        int rc;

        if (i + PREFETCH_AHEAD < sc->nitems && sc->items[i + PREFETCH_AHEAD].keyed)
            km_series_cache_prefetch(c->in->cache, sc->items[i + PREFETCH_AHEAD].fp);
        if (it->keyed)
            it->known = km_series_cache_get(c->in->cache, it->fp, &it->ref, &it->slot);
        if (it->known)
            continue;
        rc = parse_labels(c, it, i);
        if (rc)
            return rc;
        if (it->live)
            c->npending++;
    }
    return 0;
}

/* Resolve an item's labels (parsing them first if only the cache knew them) to a
 * reference, and remember it. */
static int resolve(struct ctx *c, struct item *it, size_t index)
{
    bool created;
    int rc;

    if (it->nlab == 0 && (rc = parse_labels(c, it, index)) != 0)
        return rc;
    rc = km_storage_series_ref(c->in->store, &c->sc->labels[it->lab], it->nlab, &it->ref, &created);
    if (rc)
        return rc;
    if (created) {
        atomic_fetch_add(&c->in->series_created, 1);
        km_clusters_created(c->in->clusters, it->slot, 1);
    }
    it->known = true;
    if (it->keyed)
        km_series_cache_put(c->in->cache, it->fp, it->ref, it->slot);
    return 0;
}

/* The request's use of each cluster (into sc->use): samples to store, new series. */
static int cluster_uses(struct ctx *c, size_t *nuse)
{
    struct scratch *sc = c->sc;
    int rc = grow((void **)&sc->use, &sc->capuse, sc->nitems + 1, sizeof(*sc->use));

    *nuse = 0;
    for (size_t i = 0; rc == 0 && i < sc->nitems; i++) {
        const struct item *it = &sc->items[i];

        if (it->live)
            km_cluster_use_add(sc->use, nuse, sc->capuse, it->slot, it->live,
                               !it->known && !it->exists);
    }
    return rc;
}

/* At a cluster's series cap, the series the cache did not know may exist already: those
 * found in the database are not new (their uses recounted). */
static int recount_new(struct ctx *c, size_t *nuse)
{
    struct km_querier *q = km_ingest_head_querier(c->in);

    for (size_t i = 0; q && i < c->sc->nitems; i++) {
        struct item *it = &c->sc->items[i];

        if (!it->known && it->live && km_ingest_series_exists(q, &c->sc->labels[it->lab], it->nlab))
            it->exists = true;
    }
    km_querier_close(q);
    return cluster_uses(c, nuse);
}

/* ---- metadata ---------------------------------------------------------------------------- */

/* Entries handed to the store at a time. */
#define MD_BATCH 128

struct md_batch {
    struct ctx *c;
    struct km_metadata v[MD_BATCH];
    size_t n;
    uint64_t dropped;
};

static int md_flush(struct md_batch *b)
{
    int rc = b->n ? km_storage_metadata_put(b->c->in->store, b->v, b->n) : 0;

    b->n = 0;
    km_arena_reset(&b->c->sc->strs);
    return rc;
}

static int md_collect(void *ud, const struct km_rw_metadata *m)
{
    struct md_batch *b = ud;
    struct km_arena *a = &b->c->sc->strs;
    struct km_metadata *md;

    if (!km_metric_name_valid(m->name, m->name_len) ||
        km_ingest_check_text("help", m->help, m->help_len) != 0 ||
        km_ingest_check_text("unit", m->unit, m->unit_len) != 0) {
        b->dropped++;
        return 0;
    }
    md = &b->v[b->n];
    md->type = m->type < KM_METRIC_NTYPES ? (enum km_metric_type)m->type : KM_METRIC_UNKNOWN;
    md->name = km_arena_strndup(a, m->name, m->name_len);
    md->help = km_arena_strndup(a, m->help, m->help_len);
    md->unit = km_arena_strndup(a, m->unit, m->unit_len);
    if (!md->name || !md->help || !md->unit)
        return km_err_set(KM_ENOMEM, "out of memory reading remote_write metadata");
    return ++b->n == MD_BATCH ? md_flush(b) : 0;
}

/* Keep the metadata of the request (st->metadata entries) once its samples are in. */
static void keep_metadata(struct ctx *c, uint64_t count)
{
    struct md_batch b = { .c = c };
    int rc;

    if (!count)
        return;
    if (!km_storage_keeps_metadata(c->in->store)) {
        atomic_fetch_add(&c->in->metadata_dropped, count);
        return;
    }
    km_arena_reset(&c->sc->strs);
    rc = km_rw_decode_metadata((const uint8_t *)c->sc->body.data, c->sc->body.len, md_collect, &b);
    if (rc == 0)
        rc = md_flush(&b);
    if (rc)
        km_log_warn(KM_INGEST_LOG, "remote_write metadata not kept: %s", km_err_msg());
    atomic_fetch_add(&c->in->metadata_dropped, b.dropped);
}

/* ---- the handler ------------------------------------------------------------------------ */

static bool header_is(const char *v, const char *want)
{
    size_t n = strlen(want);

    return v && strncasecmp(v, want, n) == 0 && (v[n] == '\0' || v[n] == ';' || v[n] == ' ');
}

static void refuse(struct km_ingest *in, struct km_http_req *req, unsigned status, const char *msg)
{
    atomic_fetch_add(&in->refused[KM_SRC_REMOTE_WRITE], 1);
    km_log_debug(KM_INGEST_LOG, "remote_write refused (%u): %s", status, msg);
    km_http_respond_error(req, status, "%s", msg);
}

/* Tally the outcomes of sc->smp[0..n) (their statuses in sc->status). */
static void note_outcomes(struct ctx *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (c->sc->status[i] != KM_SAMPLE_STALE_REF)
            note_refusal(c, &c->sc->items[c->sc->smp_item[i]], c->sc->status[i], c->sc->smp[i].t);
    }
}

/* Give the appended ones of sc->smp[0..n) (their statuses in sc->status) to the
 * forwarding tap, with their labels (parsed for series the cache knew). */
static void forward_appended(struct ctx *c, size_t n)
{
    struct scratch *sc = c->sc;
    struct km_sample *out;
    size_t k = 0;

    if (!c->in->forward || n == 0)
        return;
    for (size_t i = 0; i < n; i++) {
        struct item *it = &sc->items[sc->smp_item[i]];

        if (sc->status[i] == KM_SAMPLE_APPENDED && it->nlab == 0 &&
            parse_labels(c, it, sc->smp_item[i]) != 0)
            return;
    }
    out = malloc(n * sizeof(*out));
    if (!out)
        return;
    for (size_t i = 0; i < n; i++) {
        const struct item *it = &sc->items[sc->smp_item[i]];

        if (sc->status[i] == KM_SAMPLE_APPENDED)
            out[k++] =
                (struct km_sample){ &sc->labels[it->lab], it->nlab, sc->smp[i].t, sc->smp[i].v };
    }
    km_ingest_tap(c->in, out, k, NULL);
    free(out);
}

/* Append the samples whose reference went stale again after re-resolving their series
 * (compacting sc->smp and sc->smp_item to them), and tally the outcomes. */
static int retry_stale(struct ctx *c, struct km_append_result *total)
{
    struct scratch *sc = c->sc;
    struct km_append_result res;
    size_t n = 0;
    int rc = 0;

    for (size_t i = 0; i < sc->nsmp; i++) {
        struct item *it = &sc->items[sc->smp_item[i]];

        if (sc->status[i] != KM_SAMPLE_STALE_REF)
            continue;
        if (it->ref == sc->smp[i].ref) { /* not re-resolved yet in this round */
            if (it->keyed)
                km_series_cache_drop(c->in->cache, it->fp);
            it->nlab = 0;
            rc = resolve(c, it, sc->smp_item[i]);
            if (rc)
                return rc;
        }
        sc->smp[n] = (struct km_ref_sample){ it->ref, sc->smp[i].t, sc->smp[i].v };
        sc->smp_item[n] = sc->smp_item[i];
        n++;
    }
    atomic_fetch_add(&c->in->stale_refs, n);
    if (n == 0)
        return 0;
    rc = km_storage_append_refs(c->in->store, sc->smp, n, sc->status, &res);
    if (rc == 0)
        note_outcomes(c, n);
    if (rc == 0)
        forward_appended(c, n);
    total->appended += res.appended;
    total->duplicate += res.duplicate;
    total->too_old += res.too_old;
    total->too_new += res.too_new;
    total->out_of_retention += res.out_of_retention;
    total->conflicting += res.conflicting;
    total->series_created += res.series_created;
    return rc;
}

void km_ingest_remote_write(struct km_http_req *req, void *ud)
{
    struct km_ingest *in = ud;
    struct ctx c = { .in = in };
    struct km_append_result res = { 0 };
    struct km_rw_stats st;
    const char *body;
    size_t len, nuse = 0;
    int64_t retry_s = 1;
    int rc;

    atomic_fetch_add(&in->requests[KM_SRC_REMOTE_WRITE], 1);
    if (!header_is(km_http_req_header(req, "Content-Encoding"), "snappy")) {
        refuse(in, req, 415, "Content-Encoding must be snappy (Prometheus remote_write 1.0)");
        return;
    }
    if (km_http_req_header(req, "Content-Type") &&
        !header_is(km_http_req_header(req, "Content-Type"), "application/x-protobuf")) {
        refuse(in, req, 415, "Content-Type must be application/x-protobuf");
        return;
    }
    if (km_http_req_header(req, "X-Prometheus-Remote-Write-Version") &&
        km_http_req_header(req, "X-Prometheus-Remote-Write-Version")[0] == '2') {
        refuse(in, req, 415, "remote_write 2.0 is not supported: send 1.0 (version 0.1.0)");
        return;
    }
    body = km_http_req_body(req, &len);
    if (len == 0) {
        refuse(in, req, 400, "empty body: expected a snappy-compressed WriteRequest");
        return;
    }
    c.sc = scratch_get(in);
    if (!c.sc) {
        km_http_respond_error(req, 503, "out of memory");
        return;
    }
    c.sc->nitems = c.sc->nsmp = c.sc->nlabels = 0;
    km_arena_reset(&c.sc->strs);
    c.bound = km_auth_write_cluster(req);
    if (c.bound)
        c.bound_slot = km_clusters_slot(in->clusters, c.bound, strlen(c.bound));
    atomic_fetch_add(&in->body_bytes, len);
    rc = km_rw_uncompress(&c.sc->body, body, len, in->o.max_decoded_bytes);
    if (rc) {
        char msg[512];

        snprintf(msg, sizeof(msg), "%s", km_err_msg());
        refuse(in, req, rc == KM_ELIMIT ? 413 : 400, msg);
        return;
    }
    atomic_fetch_add(&in->decoded_bytes, c.sc->body.len);
    km_storage_time_window(in->store, &c.lo, &c.hi);
    rc = km_rw_decode((const uint8_t *)c.sc->body.data, c.sc->body.len, collect, &c, &st);
    if (rc == 0)
        rc = recognise(&c);
    if (rc == KM_ENOMEM) {
        km_http_respond_error(req, 503, "out of memory reading the request");
        return;
    }
    if (rc) {
        char msg[1100];

        if (c.err[0])
            snprintf(msg, sizeof(msg), "%s", c.err);
        else
            snprintf(msg, sizeof(msg), "malformed WriteRequest: %s", km_err_msg());
        refuse(in, req, 400, msg);
        return;
    }
    atomic_fetch_add(&in->exemplars, st.exemplars);
    atomic_fetch_add(&in->histograms, st.histograms);
    atomic_fetch_add(&in->metadata, st.metadata);
    /* Limits, before anything is stored. */
    rc = cluster_uses(&c, &nuse);
    if (rc) {
        km_http_respond_error(req, 503, "out of memory reading the request");
        return;
    }
    if (!km_ingest_rate_take(in, c.sc->nsmp, &retry_s)) {
        char ra[24];

        km_clusters_note(in->clusters, KM_CLUSTER_SAMPLES, c.sc->use, nuse, true);
        snprintf(ra, sizeof(ra), "%lld", (long long)retry_s);
        km_http_req_add_header(req, "Retry-After", ra);
        atomic_fetch_add(&in->limited, 1);
        km_http_respond_error(req, 429, "over the ingest rate limit of %.0f samples/s",
                              in->o.max_samples_per_s);
        return;
    }
    if (in->o.max_series && c.npending) {
        struct km_storage_info ts;

        km_storage_info(in->store, &ts);
        if (ts.series + c.npending > in->o.max_series) {
            km_clusters_note(in->clusters, KM_CLUSTER_SAMPLES, c.sc->use, nuse, true);
            km_http_req_add_header(req, "Retry-After", "60");
            atomic_fetch_add(&in->limited, 1);
            km_http_respond_error(req, 429,
                                  "the database holds %llu series and the limit is %llu: "
                                  "%zu new series refused",
                                  (unsigned long long)ts.series,
                                  (unsigned long long)in->o.max_series, c.npending);
            return;
        }
    }
    if (!km_clusters_series_fit(in->clusters, c.sc->use, nuse, &(size_t){ 0 }) &&
        recount_new(&c, &nuse) != 0) {
        km_http_respond_error(req, 503, "out of memory reading the request");
        return;
    }
    if (!km_ingest_cluster_admit(in, req, c.sc->use, nuse))
        return;
    /* Resolve new series (those with samples to store), then append. */
    for (size_t i = 0; i < c.sc->nitems; i++) {
        struct item *it = &c.sc->items[i];

        if (!it->known && it->live && (rc = resolve(&c, it, i)) != 0)
            break;
    }
    if (rc) {
        km_http_respond_error(req, rc == KM_ENOMEM ? 503 : 500, "storing series: %s", km_err_msg());
        return;
    }
    for (size_t i = 0; i < c.sc->nsmp; i++)
        c.sc->smp[i].ref = c.sc->items[c.sc->smp_item[i]].ref;
    atomic_fetch_add(&in->samples[KM_SRC_REMOTE_WRITE], c.refused.received);
    rc = c.sc->nsmp ? km_storage_append_refs(in->store, c.sc->smp, c.sc->nsmp, c.sc->status, &res)
                    : 0;
    if (rc == 0)
        note_outcomes(&c, c.sc->nsmp);
    if (rc == 0)
        forward_appended(&c, c.sc->nsmp);
    if (rc == 0 && res.stale_refs)
        rc = retry_stale(&c, &res);
    /* The tally holds these refusals from both the window check here and the database. */
    res.too_new = c.refused.n[KM_SAMPLE_TOO_NEW];
    res.out_of_retention = c.refused.n[KM_SAMPLE_OUT_OF_RETENTION];
    km_ingest_count(in, &res);
    if (rc) {
        /* The WAL could not be written: nothing of this request may be durable. */
        km_log_error(KM_INGEST_LOG, "remote_write: %s", km_err_msg());
        km_http_respond_error(req, 503, "the write-ahead log could not be written: %s",
                              km_err_msg());
        return;
    }
    keep_metadata(&c, st.metadata);
    km_ingest_answer(in, req, &c.refused, "remote_write");
}
