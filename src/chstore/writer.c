/*
 * writer — appends into the spool, and the threads that insert the spool into ClickHouse
 * (writer.h).
 *
 * An append call checks each sample (the clock's window, then labels as the embedded
 * store checks them: km_labels_check, a metric name, UTF-8 values), computes its series
 * id, and encodes RowBinary rows into per-shard buffers (shard = id % nshards):
 *   sample row: metric String, id UInt64, t Int64, v Float64
 *   series row: metric String, id UInt64, names Array(String), vals Array(String),
 *               first_ms Int64, last_ms Int64
 * a series row when the id is new to this process or its newest hour advanced (once per
 * id per call). The buffers go to the spool as one record; 0 is returned once it is
 * there. ClickHouse cannot tell duplicates or out-of-order samples cheaply: all count
 * appended (reads drop exact duplicates).
 *
 * Each shard's thread reads the spool from its acknowledged position in batches (up to
 * KM_CH_BATCH_ROWS rows, lingering up to KM_CH_LINGER_MS for more unless a flush waits),
 * INSERTs the series rows, then the sample rows, into that shard's node in RowBinary,
 * and acknowledges the batch. A node that cannot be reached is retried with backoff
 * (100 ms doubling to 10 s); a statement ClickHouse refuses is logged with its message
 * and retried every KM_CH_REFUSED_RETRY_MS (the schema is re-applied first when a table
 * is missing) — rows are never dropped.
 *
 * Threads: append ops from any thread; one thread per shard; counters are atomics.
 */
#include "chstore/writer.h"

#include "chstore/rowbin.h"
#include "chstore/schema.h"
#include "chstore/series.h"
#include "chstore/spool.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/mset.h"
#include "common/numfmt.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KM_CH_BATCH_ROWS       100000
#define KM_CH_BATCH_BYTES      (4u * 1024 * 1024) /* new bytes that end a linger early */
#define KM_CH_LINGER_MS        1000
#define KM_CH_BACKOFF_MIN_MS   100
#define KM_CH_BACKOFF_MAX_MS   10000
#define KM_CH_REFUSED_RETRY_MS 10000
#define KM_CH_RETENTION_MS     (3600 * 1000LL)
#define KM_CH_SERIES_GC_MS     (24 * 3600 * 1000LL)
#define KM_CH_PROGRESS_MS      10000
#define KM_CH_PROGRESS_BYTES   (64u * 1024 * 1024)

/* Counters of one node's inserts. */
struct km_ch_node_stats {
    atomic_uint_fast64_t ok, refused, unreachable, rows, bytes;
};

struct km_ch_shard {
    struct km_ch_writer *w;
    size_t idx;
    pthread_t th;
    bool started;
};

struct km_ch_writer {
    struct km_ch_store *st;
    struct km_ch_spool *sp;
    size_t nshards;
    char *cluster;               /* NULL: one node */
    char *insert[KM_CH_PART__N]; /* the INSERT statements, by enum km_ch_part_kind */
    int64_t fsync_ms;
    struct km_ch_shard *shards;
    struct km_ch_node_stats *ns;
    atomic_bool stop;
    atomic_int flushing;
    atomic_uint_fast64_t appended, too_new, out_of_retention, invalid, stale_refs, refused;
    atomic_int_fast64_t newest_ms;
};

static int64_t km_ch_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t km_ch_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void km_ch_sleep_ms(int64_t ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

    nanosleep(&ts, NULL);
}

/* ---- RowBinary ------------------------------------------------------------------------ */

static void km_rb_f64(struct km_buf *b, double v)
{
    uint64_t u;

    memcpy(&u, &v, sizeof(u));
    km_ch_rb_u64(b, u);
}

/* A series row of sorted labels l (with __name__ = metric). */
static void km_rb_series_row(struct km_buf *b, const char *metric, uint64_t id,
                             const struct km_label *l, size_t n, int64_t first_ms, int64_t last_ms)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++)
        k += strcmp(l[i].name, KM_METRIC_NAME_LABEL) != 0;
    km_ch_rb_string(b, metric);
    km_ch_rb_u64(b, id);
    km_ch_rb_varint(b, k);
    for (size_t i = 0; i < n; i++)
        if (strcmp(l[i].name, KM_METRIC_NAME_LABEL) != 0)
            km_ch_rb_string(b, l[i].name);
    km_ch_rb_varint(b, k);
    for (size_t i = 0; i < n; i++)
        if (strcmp(l[i].name, KM_METRIC_NAME_LABEL) != 0)
            km_ch_rb_string(b, l[i].value);
    km_ch_rb_u64(b, (uint64_t)first_ms);
    km_ch_rb_u64(b, (uint64_t)last_ms);
}

static void km_rb_sample_row(struct km_buf *b, const char *metric, uint64_t id, int64_t t, double v)
{
    km_ch_rb_string(b, metric);
    km_ch_rb_u64(b, id);
    km_ch_rb_u64(b, (uint64_t)t);
    km_rb_f64(b, v);
}

/* ---- one append call's rows ---------------------------------------------------------- */

/* The rows of one call, per shard, and the ids whose series row it holds. */
struct km_ch_batch {
    size_t nshards;
    struct km_buf *series, *samples; /* [nshards] */
    uint32_t *nseries, *nsamples;
    uint64_t *ids; /* open addressing set of ids with a series row (0 slot: id+1 stored) */
    int64_t *ids_t;
    size_t capids, nids;
};

static int km_ch_batch_init(struct km_ch_batch *c, size_t nshards, size_t n)
{
    memset(c, 0, sizeof(*c));
    c->nshards = nshards;
    c->capids = 16;
    while (c->capids < 2 * n)
        c->capids *= 2;
    c->series = calloc(nshards, sizeof(*c->series));
    c->samples = calloc(nshards, sizeof(*c->samples));
    c->nseries = calloc(nshards, sizeof(*c->nseries));
    c->nsamples = calloc(nshards, sizeof(*c->nsamples));
    c->ids = calloc(c->capids, sizeof(*c->ids));
    c->ids_t = calloc(c->capids, sizeof(*c->ids_t));
    if (!c->series || !c->samples || !c->nseries || !c->nsamples || !c->ids || !c->ids_t)
        return km_err_set(KM_ENOMEM, "out of memory appending");
    for (size_t i = 0; i < nshards; i++) {
        km_buf_init(&c->series[i], 0);
        km_buf_init(&c->samples[i], 0);
    }
    return 0;
}

static void km_ch_batch_fini(struct km_ch_batch *c)
{
    for (size_t i = 0; c->series && c->samples && i < c->nshards; i++) {
        km_buf_fini(&c->series[i]);
        km_buf_fini(&c->samples[i]);
    }
    free(c->series);
    free(c->samples);
    free(c->nseries);
    free(c->nsamples);
    free(c->ids);
    free(c->ids_t);
}

/* Whether the call already holds a series row of id as new as t's hour (else it is
 * recorded as holding one of time t, and the caller writes it): a call that spans hours
 * of a series (a backfill) writes a row per hour it reaches, so the row ClickHouse keeps
 * (the newest last_ms) says how far the series goes. */
static bool km_ch_batch_has_row(struct km_ch_batch *c, uint64_t id, int64_t t)
{
    size_t mask = c->capids - 1;
    uint64_t key = id + 1 ? id + 1 : 1;

    for (size_t i = (size_t)(key * 0x9e3779b97f4a7c15ULL >> 20) & mask;; i = (i + 1) & mask) {
        if (c->ids[i] == key) {
            if (t / KM_CH_HOUR_MS <= c->ids_t[i] / KM_CH_HOUR_MS)
                return true;
            c->ids_t[i] = t;
            return false;
        }
        if (c->ids[i] == 0) {
            c->ids[i] = key;
            c->ids_t[i] = t;
            c->nids++;
            return false;
        }
    }
}

/* Spool the call's rows as one record; then remember the series rows written. */
static int km_ch_batch_spool(struct km_ch_writer *w, struct km_ch_batch *c)
{
    struct km_ch_spool_part *p = calloc(2 * c->nshards, sizeof(*p));
    size_t n = 0;
    int rc = 0;

    if (!p)
        return km_err_set(KM_ENOMEM, "out of memory appending");
    for (size_t i = 0; i < c->nshards; i++) {
        if (km_buf_error(&c->series[i]) || km_buf_error(&c->samples[i])) {
            rc = km_err_set(KM_ENOMEM, "out of memory encoding rows");
            goto out_free;
        }
        if (c->nseries[i])
            p[n++] = (struct km_ch_spool_part){ .shard = (uint16_t)i,
                                                .kind = KM_CH_PART_SERIES,
                                                .rows = c->nseries[i],
                                                .data = c->series[i].data,
                                                .len = (uint32_t)c->series[i].len };
        if (c->nsamples[i])
            p[n++] = (struct km_ch_spool_part){ .shard = (uint16_t)i,
                                                .kind = KM_CH_PART_SAMPLES,
                                                .rows = c->nsamples[i],
                                                .data = c->samples[i].data,
                                                .len = (uint32_t)c->samples[i].len };
    }
    if (n == 0)
        goto out_free;
    rc = km_ch_spool_append(w->sp, p, n);
    if (rc != 0)
        goto out_free;
    for (size_t i = 0; i < c->capids; i++)
        if (c->ids[i])
            km_ch_known_written(w->st->known, c->ids[i] - 1, c->ids_t[i]);
out_free:
    free(p);
    return rc;
}

/* ---- checks ---------------------------------------------------------------------------- */

void km_ch_time_window(void *ctx, int64_t *lo, int64_t *hi)
{
    struct km_ch_store *st = ctx;
    int64_t now = km_ch_wall_ms();

    *lo = now - st->retention_ms;
    *hi = now + st->max_future_ms;
}

/* The sample's labels without empty values, sorted, checked as the embedded store
 * checks a new series; *metric points at the __name__ value. */
static int km_ch_canonical(const struct km_label *in, size_t nin, struct km_label *l, size_t *n,
                           const char **metric)
{
    size_t k = 0;

    *metric = NULL;
    if (nin > KM_LIMIT_LABELS_PER_SERIES)
        return km_err_set(KM_ELIMIT, "%zu labels on one series (at most %d)", nin,
                          KM_LIMIT_LABELS_PER_SERIES);
    for (size_t i = 0; i < nin; i++)
        if (in[i].name && in[i].value && in[i].value[0])
            l[k++] = in[i];
    km_labels_sort(l, k);
    if (km_labels_check(l, k) != 0)
        return KM_EINVAL;
    for (size_t i = 0; i < k; i++) {
        const unsigned char *v = (const unsigned char *)l[i].value;
        size_t len = strlen(l[i].value);

        if (strcmp(l[i].name, KM_METRIC_NAME_LABEL) == 0)
            *metric = l[i].value;
        for (size_t p = 0; p < len;) {
            size_t sl = v[p] < 0x80 ? 1 : km_utf8_seq_len(v + p, len - p);

            if (!sl)
                return km_err_set(KM_EINVAL, "label %s has a value that is not UTF-8", l[i].name);
            p += sl;
        }
    }
    if (!*metric)
        return km_err_set(KM_EINVAL, "a series without a metric name (__name__)");
    *n = k;
    return 0;
}

/* Count a sample outside the clock's window; its status. */
static enum km_sample_status km_ch_check_time(struct km_append_result *res, int64_t t, int64_t lo,
                                              int64_t hi)
{
    enum km_sample_status s = km_sample_check_time(t, lo, hi);

    if (s == KM_SAMPLE_TOO_NEW)
        res->too_new++;
    else if (s == KM_SAMPLE_OUT_OF_RETENTION)
        res->out_of_retention++;
    return s;
}

static void km_ch_newest(struct km_ch_writer *w, int64_t t)
{
    int64_t cur = atomic_load(&w->newest_ms);

    while (t > cur && !atomic_compare_exchange_weak(&w->newest_ms, &cur, t))
        ;
}

/* Count the call's outcome once its record is in the spool. */
static int km_ch_finish(struct km_ch_writer *w, struct km_ch_batch *c,
                        enum km_sample_status *status, size_t n, struct km_append_result *res,
                        int64_t newest, int rc)
{
    if (rc == 0)
        rc = km_ch_batch_spool(w, c);
    if (rc != 0) {
        res->appended = 0;
        res->series_created = 0;
        for (size_t i = 0; status && i < n; i++)
            if (status[i] == KM_SAMPLE_APPENDED)
                status[i] = KM_SAMPLE_INVALID;
        if (rc == KM_ELIMIT)
            atomic_fetch_add(&w->refused, 1);
    } else if (res->appended) {
        km_ch_newest(w, newest);
    }
    atomic_fetch_add(&w->appended, res->appended);
    atomic_fetch_add(&w->too_new, res->too_new);
    atomic_fetch_add(&w->out_of_retention, res->out_of_retention);
    atomic_fetch_add(&w->invalid, res->invalid);
    atomic_fetch_add(&w->stale_refs, res->stale_refs);
    return rc;
}

/* ---- the append ops --------------------------------------------------------------------- */

static int km_ch_begin_empty(struct km_append_result *res)
{
    memset(res, 0, sizeof(*res));
    return 0;
}

/* Start an append call of n samples: its result zeroed, the clock's window, its rows. */
static int km_ch_begin(struct km_ch_store *st, struct km_ch_batch *c, size_t n,
                       struct km_append_result *res, int64_t *lo, int64_t *hi)
{
    memset(res, 0, sizeof(*res));
    km_ch_time_window(st, lo, hi);
    return km_ch_batch_init(c, st->w->nshards, n);
}

int km_ch_append(void *ctx, const struct km_sample *s, size_t n, enum km_sample_status *status,
                 struct km_append_result *res)
{
    struct km_ch_store *st = ctx;
    struct km_ch_writer *w = st->w;
    struct km_ch_batch c;
    int64_t lo, hi, now = km_ch_wall_ms(), newest = INT64_MIN;
    int rc;

    if (n == 0)
        return km_ch_begin_empty(res);
    rc = km_ch_begin(st, &c, n, res, &lo, &hi);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct km_label l[KM_LIMIT_LABELS_PER_SERIES];
        enum km_sample_status ts = km_ch_check_time(res, s[i].t, lo, hi);
        struct km_ch_note note;
        const char *metric;
        uint64_t id;
        size_t nl, sh;

        if (status)
            status[i] = ts;
        if (ts != KM_SAMPLE_APPENDED)
            continue;
        if (km_ch_canonical(s[i].labels, s[i].nlabels, l, &nl, &metric) != 0) {
            res->invalid++;
            if (status)
                status[i] = KM_SAMPLE_INVALID;
            continue;
        }
        id = km_ch_series_id(l, nl);
        rc = km_ch_known_note(st->known, id, l, nl, s[i].t, now, &note);
        if (rc != 0)
            break;
        sh = id % w->nshards;
        if (note.write_row && !km_ch_batch_has_row(&c, id, s[i].t)) {
            km_rb_series_row(&c.series[sh], metric, id, l, nl, note.first_ms, s[i].t);
            c.nseries[sh]++;
        }
        km_rb_sample_row(&c.samples[sh], metric, id, s[i].t, s[i].v);
        c.nsamples[sh]++;
        res->appended++;
        res->series_created += note.created;
        if (s[i].t > newest)
            newest = s[i].t;
    }
    rc = km_ch_finish(w, &c, status, n, res, newest, rc);
    km_ch_batch_fini(&c);
    return rc;
}

int km_ch_series_ref(void *ctx, const struct km_label *l, size_t n, uint64_t *ref, bool *created)
{
    struct km_ch_store *st = ctx;
    struct km_label c[KM_LIMIT_LABELS_PER_SERIES];
    struct km_ch_note note;
    const char *metric;
    uint64_t id;
    size_t nc;
    int rc;

    rc = km_ch_canonical(l, n, c, &nc, &metric);
    if (rc != 0)
        return rc;
    id = km_ch_series_id(c, nc);
    rc = km_ch_known_note(st->known, id, c, nc, km_ch_wall_ms(), km_ch_wall_ms(), &note);
    if (rc != 0)
        return rc;
    if (!km_ch_known_has(st->known, id))
        return km_err_set(KM_ELIMIT, "the ClickHouse store's map of known series is full");
    *ref = id;
    if (created)
        *created = note.created;
    return 0;
}

/* What encoding one sample by reference needs under the map's lock. */
struct km_ch_ref_ctx {
    struct km_ch_batch *c;
    const struct km_ref_sample *s;
    size_t shard;
};

static int km_ch_ref_encode(void *ud, const struct km_labels *l, const struct km_ch_note *note)
{
    struct km_ch_ref_ctx *x = ud;
    const char *metric = km_labels_get(l, KM_METRIC_NAME_LABEL);

    if (!metric)
        return KM_ENOTFOUND;
    if (note->write_row && !km_ch_batch_has_row(x->c, x->s->ref, x->s->t)) {
        km_rb_series_row(&x->c->series[x->shard], metric, x->s->ref, l->v, l->n, note->first_ms,
                         x->s->t);
        x->c->nseries[x->shard]++;
    }
    km_rb_sample_row(&x->c->samples[x->shard], metric, x->s->ref, x->s->t, x->s->v);
    x->c->nsamples[x->shard]++;
    return 0;
}

int km_ch_append_refs(void *ctx, const struct km_ref_sample *s, size_t n,
                      enum km_sample_status *status, struct km_append_result *res)
{
    struct km_ch_store *st = ctx;
    struct km_ch_writer *w = st->w;
    struct km_ch_batch c;
    int64_t lo, hi, newest = INT64_MIN;
    int rc;

    if (n == 0)
        return km_ch_begin_empty(res);
    rc = km_ch_begin(st, &c, n, res, &lo, &hi);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        enum km_sample_status ts = km_ch_check_time(res, s[i].t, lo, hi);
        struct km_ch_ref_ctx x = { .c = &c, .s = &s[i], .shard = s[i].ref % w->nshards };
        int frc;

        if (status)
            status[i] = ts;
        if (ts != KM_SAMPLE_APPENDED)
            continue;
        frc = km_ch_known_with(st->known, s[i].ref, s[i].t, km_ch_ref_encode, &x);
        if (frc == KM_ENOTFOUND) {
            res->stale_refs++;
            if (status)
                status[i] = KM_SAMPLE_STALE_REF;
            continue;
        }
        rc = frc;
        res->appended += rc == 0;
        if (s[i].t > newest)
            newest = s[i].t;
    }
    rc = km_ch_finish(w, &c, status, n, res, newest, rc);
    km_ch_batch_fini(&c);
    return rc;
}

/* ---- the shard threads ---------------------------------------------------------------- */

/* INSERT one kind of rows of a batch into the shard's node. */
static int km_ch_insert(struct km_ch_writer *w, size_t shard, const char *sql,
                        const struct km_buf *rows, size_t nrows)
{
    struct km_ch_request r = {
        .sql = sql, .body = rows->data, .body_len = rows->len, .gzip_body = true
    };
    struct km_ch_node_stats *ns = &w->ns[shard];
    int rc = km_ch_exec(w->st->cl, (int)shard, &r);

    if (rc == 0) {
        atomic_fetch_add(&ns->ok, 1);
        atomic_fetch_add(&ns->rows, nrows);
        atomic_fetch_add(&ns->bytes, rows->len);
    } else if (rc == KM_EAGAIN) {
        atomic_fetch_add(&ns->unreachable, 1);
    } else {
        atomic_fetch_add(&ns->refused, 1);
    }
    return rc;
}

/* Whether a refusal means the schema is gone (unknown table or database). */
static bool km_ch_schema_gone(const char *msg)
{
    return strstr(msg, "Code 60:") || strstr(msg, "Code 81:");
}

/* Shard 0's housekeeping: the schema while it is not in place, the retention hourly, the
 * progress of a large spool. Returns whether the schema is ready. */
static bool km_ch_housekeep(struct km_ch_writer *w, int64_t *next_ret, int64_t *next_gc,
                            int64_t *next_progress, int *schema_fails)
{
    struct km_ch_store *st = w->st;
    int64_t now = km_ch_mono_ms();

    if (!atomic_load(&st->schema_ready)) {
        int rc = km_ch_schema_apply(st->cl, w->cluster);

        if (rc != 0) {
            if ((*schema_fails)++ == 0 || rc != KM_EAGAIN)
                km_log_warn(KM_CH_LOG, "the schema is not in place yet (retrying): %s",
                            km_err_msg());
            return false;
        }
        if (*schema_fails)
            km_log_info(KM_CH_LOG, "the schema is in place");
        *schema_fails = 0;
        atomic_store(&st->schema_ready, true);
    }
    if (now >= *next_ret) {
        bool series = now >= *next_gc;

        if (km_ch_retention_run(st, series) != 0) {
            km_log_warn(KM_CH_LOG, "retention: %s", km_err_msg());
            *next_ret = now + 60000;
        } else {
            *next_ret = now + KM_CH_RETENTION_MS;
            if (series)
                *next_gc = now + KM_CH_SERIES_GC_MS;
        }
    }
    if (now >= *next_progress) {
        struct km_ch_spool_stats ss;

        km_ch_spool_stats(w->sp, &ss);
        if (ss.unacked >= KM_CH_PROGRESS_BYTES)
            km_log_info(KM_CH_LOG, "the spool holds %" PRIu64 " MiB not yet in ClickHouse",
                        ss.unacked >> 20);
        *next_progress = now + KM_CH_PROGRESS_MS;
    }
    return true;
}

/* Wait for rows to send: up to the linger unless a flush waits or many bytes came. */
static void km_ch_linger(struct km_ch_writer *w, size_t shard, const struct km_ch_spool_pos *pos,
                         uint64_t *seen_bytes)
{
    int64_t start = km_ch_mono_ms();

    km_ch_spool_wait(w->sp, pos, 500);
    if (!km_ch_spool_pending(w->sp, pos))
        return;
    while (!atomic_load(&w->stop) && atomic_load(&w->flushing) == 0 &&
           km_ch_mono_ms() - start < KM_CH_LINGER_MS &&
           km_ch_spool_shard_bytes(w->sp, shard) - *seen_bytes < KM_CH_BATCH_BYTES)
        km_ch_sleep_ms(20);
    *seen_bytes = km_ch_spool_shard_bytes(w->sp, shard);
}

/* Send one batch (its rows of each kind, in the kinds' order) until ClickHouse has it or
 * the writer stops. */
static int km_ch_send(struct km_ch_writer *w, size_t shard, struct km_buf *const rows[],
                      const size_t nrows[])
{
    int64_t backoff = KM_CH_BACKOFF_MIN_MS;
    size_t done = 0, total = 0;
    bool logged = false;

    for (size_t k = 0; k < KM_CH_PART__N; k++)
        total += nrows[k];
    while (!atomic_load(&w->stop)) {
        int rc = 0;

        /* The kinds inserted already are not sent again. */
        while (rc == 0 && done < KM_CH_PART__N) {
            if (rows[done]->len)
                rc = km_ch_insert(w, shard, w->insert[done], rows[done], nrows[done]);
            done += rc == 0;
        }
        if (rc == 0) {
            if (logged)
                km_log_info(KM_CH_LOG, "ClickHouse %s takes inserts again",
                            km_ch_client_url(w->st->cl, shard));
            return 0;
        }
        if (rc == KM_EAGAIN) {
            if (!logged)
                km_log_warn(KM_CH_LOG, "insert delayed, retrying: %s", km_err_msg());
            logged = true;
            km_ch_sleep_ms(backoff);
            backoff = backoff * 2 > KM_CH_BACKOFF_MAX_MS ? KM_CH_BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        km_log_error(KM_CH_LOG,
                     "ClickHouse refused an insert of %zu rows (kept, retried in %d s): %s", total,
                     KM_CH_REFUSED_RETRY_MS / 1000, km_err_msg());
        logged = true;
        if (km_ch_schema_gone(km_err_msg()))
            atomic_store(&w->st->schema_ready, false);
        for (int64_t t = 0; t < KM_CH_REFUSED_RETRY_MS && !atomic_load(&w->stop); t += 100)
            km_ch_sleep_ms(100);
        while (!atomic_load(&w->st->schema_ready) && !atomic_load(&w->stop))
            km_ch_sleep_ms(100);
    }
    return KM_ECANCELED;
}

static void *km_ch_shard_main(void *arg)
{
    struct km_ch_shard *sh = arg;
    struct km_ch_writer *w = sh->w;
    struct km_ch_spool_pos pos, next;
    struct km_buf bufs[KM_CH_PART__N];
    struct km_buf *rows[KM_CH_PART__N];
    int64_t next_ret = 0, next_gc = 0, next_progress = 0;
    uint64_t seen = 0;
    int schema_fails = 0;

    for (size_t k = 0; k < KM_CH_PART__N; k++) {
        km_buf_init(&bufs[k], 0);
        rows[k] = &bufs[k];
    }
    km_ch_spool_acked(w->sp, sh->idx, &pos);
    while (!atomic_load(&w->stop)) {
        size_t nrows[KM_CH_PART__N], bytes = 0;

        if (w->fsync_ms > 0)
            km_ch_spool_sync_due(w->sp);
        if (sh->idx == 0 &&
            !km_ch_housekeep(w, &next_ret, &next_gc, &next_progress, &schema_fails)) {
            km_ch_sleep_ms(schema_fails < 5 ? 200 * schema_fails : 2000);
            continue;
        }
        if (!atomic_load(&w->st->schema_ready)) {
            km_ch_sleep_ms(100);
            continue;
        }
        km_ch_linger(w, sh->idx, &pos, &seen);
        if (!km_ch_spool_pending(w->sp, &pos))
            continue;
        next = pos;
        for (size_t k = 0; k < KM_CH_PART__N; k++)
            km_buf_reset(&bufs[k]);
        if (km_ch_spool_read(w->sp, sh->idx, &next, KM_CH_BATCH_ROWS, rows, nrows) != 0) {
            km_log_error(KM_CH_LOG, "reading the spool (shard %zu): %s", sh->idx, km_err_msg());
            km_ch_sleep_ms(1000);
            continue;
        }
        for (size_t k = 0; k < KM_CH_PART__N; k++)
            bytes += bufs[k].len;
        if (bytes && km_ch_send(w, sh->idx, rows, nrows) != 0)
            break;
        if (km_ch_spool_ack(w->sp, sh->idx, &next) != 0)
            km_log_error(KM_CH_LOG, "acknowledging the spool: %s", km_err_msg());
        pos = next;
    }
    for (size_t k = 0; k < KM_CH_PART__N; k++)
        km_buf_fini(&bufs[k]);
    return NULL;
}

/* ---- start, stop, flush, info, metrics ---------------------------------------------- */

static char *km_ch_strdupf(const char *fmt, const char *db, const char *sfx)
{
    size_t n = strlen(fmt) + strlen(db) + strlen(sfx) + 1;
    char *s = malloc(n);

    if (s)
        snprintf(s, n, fmt, db, sfx);
    return s;
}

int km_ch_writer_start(struct km_ch_store *st, const struct km_ch_opts *o, const char *spool_dir)
{
    struct km_ch_writer *w = calloc(1, sizeof(*w));
    struct km_ch_spool_opts so = { 0 };
    const char *db = km_ch_client_database(st->cl), *sfx = st->cluster ? "_local" : "";
    int rc;

    if (!w)
        return km_err_set(KM_ENOMEM, "out of memory");
    st->w = w;
    w->st = st;
    w->nshards = km_ch_client_nodes(st->cl);
    w->fsync_ms = o->fsync_interval_ms;
    atomic_store(&w->newest_ms, INT64_MIN);
    w->shards = calloc(w->nshards, sizeof(*w->shards));
    w->ns = calloc(w->nshards, sizeof(*w->ns));
    w->insert[KM_CH_PART_SERIES] =
        km_ch_strdupf("INSERT INTO `%s`.series%s FORMAT RowBinary", db, sfx);
    w->insert[KM_CH_PART_SAMPLES] =
        km_ch_strdupf("INSERT INTO `%s`.samples%s FORMAT RowBinary", db, sfx);
    w->insert[KM_CH_PART_LOG_STREAMS] =
        km_ch_strdupf("INSERT INTO `%s`.log_streams%s FORMAT RowBinary", db, sfx);
    w->insert[KM_CH_PART_LOGS] = km_ch_strdupf("INSERT INTO `%s`.logs%s FORMAT RowBinary", db, sfx);
    w->cluster = o->cluster && *o->cluster ? strdup(o->cluster) : NULL;
    if (!w->shards || !w->ns || (o->cluster && *o->cluster && !w->cluster))
        return km_err_set(KM_ENOMEM, "out of memory");
    for (size_t k = 0; k < KM_CH_PART__N; k++)
        if (!w->insert[k])
            return km_err_set(KM_ENOMEM, "out of memory");
    so.dir = spool_dir;
    so.nshards = w->nshards;
    so.max_bytes = o->spool_max_bytes;
    so.fsync_interval_ms = o->fsync_interval_ms;
    rc = km_ch_spool_open(&w->sp, &so);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < w->nshards; i++) {
        w->shards[i].w = w;
        w->shards[i].idx = i;
        if (pthread_create(&w->shards[i].th, NULL, km_ch_shard_main, &w->shards[i]) != 0)
            return km_err_set(KM_EIO, "cannot start a ClickHouse writer thread");
        w->shards[i].started = true;
    }
    return 0;
}

void km_ch_writer_stop(struct km_ch_store *st, int64_t flush_ms)
{
    struct km_ch_writer *w = st->w;

    if (!w)
        return;
    if (w->sp && flush_ms > 0 && w->shards && w->nshards && w->shards[0].started &&
        km_ch_writer_flush(st, flush_ms) != 0)
        km_log_warn(KM_CH_LOG,
                    "closing with rows not yet in ClickHouse (kept in the spool, sent "
                    "at the next start): %s",
                    km_err_msg());
    atomic_store(&w->stop, true);
    if (w->sp)
        km_ch_spool_wake(w->sp);
    for (size_t i = 0; w->shards && i < w->nshards; i++)
        if (w->shards[i].started)
            pthread_join(w->shards[i].th, NULL);
    km_ch_spool_close(w->sp);
    free(w->shards);
    free(w->ns);
    for (size_t k = 0; k < KM_CH_PART__N; k++)
        free(w->insert[k]);
    free(w->cluster);
    free(w);
    st->w = NULL;
}

int km_ch_writer_spool(struct km_ch_store *st, const struct km_ch_spool_part *p, size_t n)
{
    int rc = km_ch_spool_append(st->w->sp, p, n);

    if (rc == KM_ELIMIT)
        atomic_fetch_add(&st->w->refused, 1);
    return rc;
}

size_t km_ch_writer_shards(const struct km_ch_store *st)
{
    return st->w->nshards;
}

int km_ch_writer_flush(struct km_ch_store *st, int64_t timeout_ms)
{
    struct km_ch_writer *w = st->w;
    int rc;

    atomic_fetch_add(&w->flushing, 1);
    km_ch_spool_wake(w->sp);
    rc = km_ch_spool_wait_acked(w->sp, timeout_ms);
    atomic_fetch_sub(&w->flushing, 1);
    return rc;
}

void km_ch_writer_info(struct km_ch_store *st, struct km_ch_writer_info *out)
{
    struct km_ch_spool_stats ss;

    km_ch_spool_stats(st->w->sp, &ss);
    out->samples_appended = atomic_load(&st->w->appended);
    out->newest_ms = atomic_load(&st->w->newest_ms);
    out->segments = ss.segments;
}

void km_ch_writer_metrics(struct km_ch_store *st, struct km_mset *m)
{
    struct km_ch_writer *w = st->w;
    struct km_ch_spool_stats ss;
    int fi, fr, fb, f;

    km_ch_spool_stats(w->sp, &ss);
    fi = km_mset_family(m, "kmon_clickhouse_inserts_total",
                        "INSERTs into ClickHouse by node and result (ok, refused: ClickHouse "
                        "refused the statement, unreachable: no answer).",
                        KM_MT_COUNTER, 0);
    fr = km_mset_family(m, "kmon_clickhouse_insert_rows_total",
                        "Rows ClickHouse acknowledged, by node.", KM_MT_COUNTER, 0);
    fb = km_mset_family(m, "kmon_clickhouse_insert_bytes_total",
                        "RowBinary bytes ClickHouse acknowledged (before compression), by node.",
                        KM_MT_COUNTER, 0);
    for (size_t i = 0; i < w->nshards; i++) {
        const char *url = km_ch_client_url(st->cl, i);
        struct km_ch_node_stats *ns = &w->ns[i];

        km_mset_add(m, fi, (struct km_label[]){ { "node", url }, { "result", "ok" } }, 2,
                    (double)atomic_load(&ns->ok));
        km_mset_add(m, fi, (struct km_label[]){ { "node", url }, { "result", "refused" } }, 2,
                    (double)atomic_load(&ns->refused));
        km_mset_add(m, fi, (struct km_label[]){ { "node", url }, { "result", "unreachable" } }, 2,
                    (double)atomic_load(&ns->unreachable));
        km_mset_add(m, fr, &(struct km_label){ "node", url }, 1, (double)atomic_load(&ns->rows));
        km_mset_add(m, fb, &(struct km_label){ "node", url }, 1, (double)atomic_load(&ns->bytes));
    }
    km_mset_gauge(m, "kmon_clickhouse_spool_bytes",
                  "Bytes of the local spool on disk (what ClickHouse has not acknowledged, "
                  "and the rest of its segments).",
                  (double)ss.bytes);
    km_mset_gauge(m, "kmon_clickhouse_spool_unacked_bytes",
                  "Bytes of the spool the slowest shard has not had acknowledged.",
                  (double)ss.unacked);
    km_mset_gauge(
        m, "kmon_clickhouse_spool_oldest_unacked_seconds",
        "Age of the oldest spooled row a shard's ClickHouse node has not acknowledged (0: "
        "none).",
        ss.oldest_ms ? (double)(km_ch_wall_ms() - ss.oldest_ms) / 1000.0 : 0.0);
    km_mset_gauge(m, "kmon_clickhouse_schema_ready",
                  "1 when kmon's schema is in place on every ClickHouse node.",
                  atomic_load(&st->schema_ready) ? 1.0 : 0.0);
    f = km_mset_family(m, "kmon_clickhouse_samples_refused_total",
                       "Samples not spooled, by reason (too_new, out_of_retention, invalid, "
                       "stale_ref; spool_full counts refused append calls).",
                       KM_MT_COUNTER, 0);
    km_mset_add(m, f, &(struct km_label){ "reason", "too_new" }, 1,
                (double)atomic_load(&w->too_new));
    km_mset_add(m, f, &(struct km_label){ "reason", "out_of_retention" }, 1,
                (double)atomic_load(&w->out_of_retention));
    km_mset_add(m, f, &(struct km_label){ "reason", "invalid" }, 1,
                (double)atomic_load(&w->invalid));
    km_mset_add(m, f, &(struct km_label){ "reason", "stale_ref" }, 1,
                (double)atomic_load(&w->stale_refs));
    km_mset_add(m, f, &(struct km_label){ "reason", "spool_full" }, 1,
                (double)atomic_load(&w->refused));
    km_mset_add(m,
                km_mset_family(m, "kmon_clickhouse_samples_appended_total",
                               "Samples put in the spool since start.", KM_MT_COUNTER, 0),
                NULL, 0, (double)atomic_load(&w->appended));
    km_mset_add(m,
                km_mset_family(m, "kmon_clickhouse_known_series",
                               "Series this server has written (its map of known series).",
                               KM_MT_GAUGE, 0),
                NULL, 0, (double)km_ch_known_size(st->known));
}
