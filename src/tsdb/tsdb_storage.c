/*
 * tsdb_storage — the storage ops of the embedded TSDB (see tsdb_storage.h): each op is
 * the database's own function; a querier is a tsdb query, a series set a tsdb series
 * set whose samples come as one batch per series.
 */
#include "tsdb/tsdb_storage.h"

#include "common/err.h"
#include "db.h"
#include "head.h"

#include <stdlib.h>

static void st_time_window(void *ctx, int64_t *lo, int64_t *hi)
{
    km_tsdb_time_window(ctx, lo, hi);
}

static int st_append(void *ctx, const struct km_sample *s, size_t n, enum km_sample_status *status,
                     struct km_append_result *res)
{
    return km_tsdb_append(ctx, s, n, status, res);
}

static int st_series_ref(void *ctx, const struct km_label *l, size_t n, uint64_t *ref,
                         bool *created)
{
    return km_tsdb_series_ref(ctx, l, n, ref, created);
}

static int st_append_refs(void *ctx, const struct km_ref_sample *s, size_t n,
                          enum km_sample_status *status, struct km_append_result *res)
{
    return km_tsdb_append_refs(ctx, s, n, status, res);
}

static int st_querier_open(void *ctx, int64_t mint, int64_t maxt, void **q)
{
    return km_tsdb_query_open(ctx, mint, maxt, (struct km_tsdb_query **)q);
}

static void st_querier_close(void *q)
{
    km_tsdb_query_close(q);
}

static int st_select(void *q, struct km_matcher *const *m, size_t nm,
                     const struct km_select_hints *hints, void **set)
{
    int64_t mint = hints->mint, maxt = hints->maxt;

    /* No range given: the querier's. */
    if (mint == 0 && maxt == 0) {
        mint = INT64_MIN;
        maxt = INT64_MAX;
    }
    return km_tsdb_select_range(q, m, nm, mint, maxt, hints->labels_only,
                                (struct km_tsdb_series_set **)set);
}

static bool st_set_next(void *set)
{
    return km_tsdb_series_next(set);
}

static const struct km_labels *st_set_labels(void *set)
{
    return km_tsdb_series_labels(set);
}

static bool st_set_batch(void *set, struct km_sample_batch *b)
{
    return km_tsdb_series_batch(set, &b->t, &b->v, &b->n);
}

static int st_set_error(void *set)
{
    return km_tsdb_series_error(set);
}

static void st_set_close(void *set)
{
    km_tsdb_series_set_destroy(set);
}

static int st_label_names(void *q, struct km_matcher *const *m, size_t nm, km_str_fn fn, void *ud)
{
    return km_tsdb_label_names(q, m, nm, fn, ud);
}

static int st_label_values(void *q, const char *name, struct km_matcher *const *m, size_t nm,
                           km_str_fn fn, void *ud)
{
    return km_tsdb_label_values(q, name, m, nm, fn, ud);
}

static void st_info(void *ctx, struct km_storage_info *out)
{
    struct km_tsdb *db = ctx;
    struct km_head_times ht;

    km_head_times(db->head, &ht);
    out->retention_ms = db->o.retention_ms;
    out->max_future_ms = db->o.max_future_ms;
    out->ooo_window_ms = db->o.ooo_window_ms;
    out->series = km_head_nseries(db->head);
    out->newest_ms = ht.maxt;
    out->samples_appended = atomic_load(&db->appended);
    pthread_rwlock_rdlock(&db->blocks_lock);
    out->blocks = db->nblocks;
    pthread_rwlock_unlock(&db->blocks_lock);
}

static int st_cardinality(void *ctx, size_t top, struct km_storage_cardinality *out)
{
    return km_head_cardinality(((struct km_tsdb *)ctx)->head, top, out);
}

static int st_flush(void *ctx)
{
    return km_tsdb_flush(ctx);
}

static void st_metrics(void *ctx, struct km_mset *m)
{
    km_tsdb_metrics(ctx, m);
}

static void st_close(void *ctx)
{
    km_tsdb_close(ctx);
}

static const struct km_storage_ops tsdb_ops = {
    .version = KM_STORAGE_OPS_V1,
    .name = "tsdb",
    .time_window = st_time_window,
    .append = st_append,
    .series_ref = st_series_ref,
    .append_refs = st_append_refs,
    .querier_open = st_querier_open,
    .querier_close = st_querier_close,
    .select = st_select,
    .set_next = st_set_next,
    .set_labels = st_set_labels,
    .set_batch = st_set_batch,
    .set_error = st_set_error,
    .set_close = st_set_close,
    .label_names = st_label_names,
    .label_values = st_label_values,
    .info = st_info,
    .cardinality = st_cardinality,
    .flush = st_flush,
    .metrics = st_metrics,
    .close = st_close,
};

int km_storage_open_tsdb(struct km_storage **out, const struct km_storage_config *c)
{
    struct km_tsdb_opts o;

    km_tsdb_opts_default(&o);
    o.dir = c->dir;
    if (c->retention_ms)
        o.retention_ms = c->retention_ms;
    o.max_bytes = c->max_bytes;
    if (c->block_range_ms)
        o.block_range_ms = c->block_range_ms;
    o.ooo_window_ms = c->ooo_window_ms;
    o.max_future_ms = c->max_future_ms;
    o.fsync_interval_ms = c->fsync_interval_ms;
    return km_tsdb_storage_open(out, &o);
}

int km_tsdb_storage_open(struct km_storage **out, const struct km_tsdb_opts *o)
{
    struct km_storage *s = calloc(1, sizeof(*s));
    struct km_tsdb *db;
    int rc;

    if (!s)
        return km_err_set(KM_ENOMEM, "out of memory");
    rc = km_tsdb_open(&db, o);
    if (rc) {
        free(s);
        return rc;
    }
    s->ops = &tsdb_ops;
    s->ctx = db;
    *out = s;
    return 0;
}
