/*
 * tsdb_storage — the storage ops of the embedded TSDB (see tsdb_storage.h): each op is
 * the database's own function; a querier is a tsdb query, a series set a tsdb series
 * set whose samples come as one batch per series. Beside the database, the store keeps
 * metric metadata (mdstore.h) in DIR/metadata: read at open (a file that cannot be read
 * is logged and ignored, never fatal), written at flush and close.
 */
#include "tsdb/tsdb_storage.h"

#include "common/err.h"
#include "common/log.h"
#include "common/mset.h"
#include "db.h"
#include "head.h"
#include "mdstore.h"
#include "tsdb_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The store's context: the database and its metadata. */
struct st {
    struct km_tsdb *db;
    struct km_mdstore *md;
    char *md_path;
};

static struct km_tsdb *db_of(void *ctx)
{
    return ((struct st *)ctx)->db;
}

static void st_time_window(void *ctx, int64_t *lo, int64_t *hi)
{
    km_tsdb_time_window(db_of(ctx), lo, hi);
}

static int st_append(void *ctx, const struct km_sample *s, size_t n, enum km_sample_status *status,
                     struct km_append_result *res)
{
    return km_tsdb_append(db_of(ctx), s, n, status, res);
}

static int st_series_ref(void *ctx, const struct km_label *l, size_t n, uint64_t *ref,
                         bool *created)
{
    return km_tsdb_series_ref(db_of(ctx), l, n, ref, created);
}

static int st_append_refs(void *ctx, const struct km_ref_sample *s, size_t n,
                          enum km_sample_status *status, struct km_append_result *res)
{
    return km_tsdb_append_refs(db_of(ctx), s, n, status, res);
}

static int st_querier_open(void *ctx, int64_t mint, int64_t maxt, void **q)
{
    return km_tsdb_query_open(db_of(ctx), mint, maxt, (struct km_tsdb_query **)q);
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
    return km_tsdb_select_range(q, m, nm, mint, maxt,
                                hints->labels_only   ? KM_TSDB_READ_LABELS
                                : hints->newest_only ? KM_TSDB_READ_NEWEST
                                                     : KM_TSDB_READ_SAMPLES,
                                hints->any_order, (struct km_tsdb_series_set **)set);
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
    struct km_tsdb *db = db_of(ctx);
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
    return km_head_cardinality(db_of(ctx)->head, top, out);
}

/* Write the metadata file (when it changed); a failure is logged, never fatal: the
 * senders send their metadata again. */
static void save_metadata(struct st *st)
{
    if (!st->md || km_tsdb_options(st->db)->read_only)
        return;
    if (km_mdstore_save(st->md, st->md_path, km_tsdb_now_ms(st->db)) != 0)
        km_log_warn(KM_TSDB_LOG, "metric metadata not saved: %s", km_err_msg());
}

static int st_flush(void *ctx)
{
    save_metadata(ctx);
    return km_tsdb_flush(db_of(ctx));
}

static void st_metrics(void *ctx, struct km_mset *m)
{
    struct st *st = ctx;
    struct km_mdstore_stats ms;
    int f;

    km_tsdb_metrics(st->db, m);
    km_mdstore_stats(st->md, &ms);
    km_mset_gauge(m, "kmon_tsdb_metadata_names", "Metric names with metadata (TYPE, HELP, UNIT).",
                  (double)ms.names);
    km_mset_gauge(m, "kmon_tsdb_metadata_entries",
                  "Distinct (type, help, unit) metadata entries kept, over all names.",
                  (double)ms.entries);
    km_mset_gauge(m, "kmon_tsdb_metadata_bytes", "Memory the metric metadata takes.",
                  (double)ms.bytes);
    f = km_mset_family(m, "kmon_tsdb_metadata_limited_total",
                       "Metadata the store's bounds changed: new names refused (names), new "
                       "entries refused (bytes), entries that gave way to a newer one of their "
                       "name (evicted), help or unit texts cut short (truncated).",
                       KM_MT_COUNTER, 0);
    km_mset_add(m, f, &(struct km_label){ "reason", "names" }, 1, (double)ms.refused_names);
    km_mset_add(m, f, &(struct km_label){ "reason", "bytes" }, 1, (double)ms.refused_bytes);
    km_mset_add(m, f, &(struct km_label){ "reason", "evicted" }, 1, (double)ms.evicted);
    km_mset_add(m, f, &(struct km_label){ "reason", "truncated" }, 1, (double)ms.truncated);
    km_mset_add(m,
                km_mset_family(m, "kmon_tsdb_metadata_expired_total",
                               "Metadata entries forgotten, not sent again within the retention.",
                               KM_MT_COUNTER, 0),
                NULL, 0, (double)ms.expired);
}

static int st_metadata_put(void *ctx, const struct km_metadata *md, size_t n)
{
    struct st *st = ctx;

    return km_mdstore_put(st->md, md, n, km_tsdb_now_ms(st->db));
}

static int st_metadata_list(void *ctx, const char *metric, km_metadata_fn fn, void *ud)
{
    struct st *st = ctx;

    return km_mdstore_list(st->md, metric, km_tsdb_now_ms(st->db), fn, ud);
}

static void st_close(void *ctx)
{
    struct st *st = ctx;

    if (!st)
        return;
    if (st->db)
        save_metadata(st);
    km_mdstore_destroy(st->md);
    km_tsdb_close(st->db);
    free(st->md_path);
    free(st);
}

static const struct km_storage_ops tsdb_ops = {
    .version = KM_STORAGE_OPS_V2,
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
    .metadata_put = st_metadata_put,
    .metadata_list = st_metadata_list,
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
    if (c->cache_bytes || c->no_cache)
        o.cache_bytes = c->no_cache ? 0 : c->cache_bytes;
    return km_tsdb_storage_open(out, &o);
}

/* The metadata of the store in o->dir, read from its file when there is one. */
static int open_metadata(struct st *st, const struct km_tsdb_opts *o)
{
    struct km_mdstore_opts mo = { .ttl_ms = o->retention_ms };
    size_t len = strlen(o->dir) + sizeof("/metadata");
    int rc;

    st->md_path = malloc(len);
    if (!st->md_path)
        return km_err_set(KM_ENOMEM, "out of memory");
    snprintf(st->md_path, len, "%s/metadata", o->dir);
    rc = km_mdstore_create(&st->md, &mo);
    if (rc)
        return rc;
    rc = km_mdstore_load(st->md, st->md_path, km_tsdb_now_ms(st->db));
    if (rc == KM_ENOMEM)
        return rc;
    if (rc && rc != KM_ENOTFOUND)
        km_log_warn(KM_TSDB_LOG, "metric metadata not read, starting without it: %s", km_err_msg());
    return 0;
}

int km_tsdb_storage_open(struct km_storage **out, const struct km_tsdb_opts *o)
{
    struct km_storage *s = calloc(1, sizeof(*s));
    struct st *st = calloc(1, sizeof(*st));
    int rc;

    if (!s || !st) {
        rc = km_err_set(KM_ENOMEM, "out of memory");
        goto out_free;
    }
    rc = km_tsdb_open(&st->db, o);
    if (rc == 0)
        rc = open_metadata(st, o);
    if (rc)
        goto out_free;
    s->ops = &tsdb_ops;
    s->ctx = st;
    *out = s;
    return 0;

out_free:
    st_close(st);
    free(s);
    return rc;
}

int km_tsdb_storage_snapshot(struct km_storage *s, const char *out, bool skip_head,
                             struct km_tsdb_snapshot_stats *st)
{
    if (!s || s->ops != &tsdb_ops)
        return km_err_set(KM_EINVAL, "snapshots are taken of the tsdb store only");
    save_metadata(s->ctx);
    return km_tsdb_snapshot(db_of(s->ctx), out, skip_head, st);
}
