/*
 * chstore — the ClickHouse store's ops table (storage.h) and its life: open checks the
 * options, creates the client, tries the schema once (ClickHouse may be down: the
 * writer's thread retries), opens the spool and starts the writer; close flushes with a
 * bounded wait and stops the threads. Reads are the read side's (query.c); writes, the
 * writer's. Metric metadata is kept as the embedded store keeps it (tsdb/mdstore.h) in
 * DIR/metadata, read at open, written at flush and close.
 *
 * Threads: any (the parts are thread-safe).
 */
#include "chstore/chstore.h"

#include "chstore/chstore_internal.h"
#include "chstore/logs.h"
#include "chstore/schema.h"
#include "chstore/series.h"
#include "chstore/spool.h"
#include "chstore/writer.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/mset.h"
#include "tsdb/mdstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KM_CH_RETENTION_DEFAULT_MS  (15 * 86400 * 1000LL)
#define KM_CH_MAX_FUTURE_DEFAULT_MS (10 * 60 * 1000LL)
#define KM_CH_CLOSE_FLUSH_MS        10000
#define KM_CH_FLUSH_MS              30000

/* The store's context: the shared part and the metadata. */
struct km_ch_ctx {
    struct km_ch_store st; /* first: the read side takes a struct km_ch_store * */
    struct km_mdstore *md;
    char *md_path;
};

static int64_t km_ch_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void km_ch_info(void *ctx, struct km_storage_info *out)
{
    struct km_ch_store *st = ctx;
    struct km_ch_writer_info wi;

    km_ch_writer_info(st, &wi);
    memset(out, 0, sizeof(*out));
    out->retention_ms = st->retention_ms;
    out->max_future_ms = st->max_future_ms;
    out->ooo_window_ms = st->retention_ms; /* any order within the window */
    out->series = km_ch_known_size(st->known);
    out->newest_ms = wi.newest_ms;
    out->samples_appended = wi.samples_appended;
    out->blocks = wi.segments;
}

static void km_ch_save_metadata(struct km_ch_ctx *c)
{
    if (c->md && km_mdstore_save(c->md, c->md_path, km_ch_now_ms()) != 0)
        km_log_warn(KM_CH_LOG, "metric metadata not saved: %s", km_err_msg());
}

static int km_ch_flush(void *ctx)
{
    struct km_ch_ctx *c = ctx;

    km_ch_save_metadata(c);
    return km_ch_writer_flush(&c->st, KM_CH_FLUSH_MS);
}

static void km_ch_metrics(void *ctx, struct km_mset *m)
{
    struct km_ch_store *st = ctx;

    km_ch_writer_metrics(st, m);
    km_ch_read_metrics(st, m);
}

static int km_ch_metadata_put(void *ctx, const struct km_metadata *md, size_t n)
{
    return km_mdstore_put(((struct km_ch_ctx *)ctx)->md, md, n, km_ch_now_ms());
}

static int km_ch_metadata_list(void *ctx, const char *metric, km_metadata_fn fn, void *ud)
{
    return km_mdstore_list(((struct km_ch_ctx *)ctx)->md, metric, km_ch_now_ms(), fn, ud);
}

static void km_ch_close(void *ctx)
{
    struct km_ch_ctx *c = ctx;

    if (!c)
        return;
    km_ch_writer_stop(&c->st, KM_CH_CLOSE_FLUSH_MS);
    km_ch_logs_destroy(&c->st);
    km_ch_save_metadata(c);
    km_mdstore_destroy(c->md);
    free(c->md_path);
    km_ch_known_destroy(c->st.known);
    km_ch_client_destroy(c->st.cl);
    free(c);
}

static const struct km_storage_ops km_ch_ops = {
    .version = KM_STORAGE_OPS_V2,
    .name = "clickhouse",
    .time_window = km_ch_time_window,
    .append = km_ch_append,
    .series_ref = km_ch_series_ref,
    .append_refs = km_ch_append_refs,
    .querier_open = km_ch_querier_open,
    .querier_close = km_ch_querier_close,
    .select = km_ch_select,
    .set_next = km_ch_set_next,
    .set_labels = km_ch_set_labels,
    .set_batch = km_ch_set_batch,
    .set_error = km_ch_set_error,
    .set_close = km_ch_set_close,
    .label_names = km_ch_label_names,
    .label_values = km_ch_label_values,
    .info = km_ch_info,
    .cardinality = km_ch_cardinality,
    .flush = km_ch_flush,
    .metrics = km_ch_metrics,
    .close = km_ch_close,
    .metadata_put = km_ch_metadata_put,
    .metadata_list = km_ch_metadata_list,
};

bool km_storage_is_clickhouse(const struct km_storage *s)
{
    return s && s->ops == &km_ch_ops;
}

int km_ch_logs_open(struct km_storage *s, const struct km_log_limits *lim, struct km_log_sink *sink,
                    struct km_log_source *src)
{
    struct km_ch_store *st;
    int rc;

    if (!km_storage_is_clickhouse(s))
        return km_err_set(KM_EINVAL, "not a ClickHouse store");
    st = &((struct km_ch_ctx *)s->ctx)->st;
    rc = km_ch_logs_create(st, lim);
    if (rc != 0)
        return rc;
    *sink = (struct km_log_sink){ .push = km_ch_log_push, .metrics = km_ch_log_metrics, .ctx = st };
    *src = (struct km_log_source){ .ops = &km_ch_log_source_ops, .ctx = st };
    return 0;
}

static int km_ch_opts_check(const struct km_ch_opts *o)
{
    const char *db = o->client.database ? o->client.database : "kmon";

    if (!o->dir || !*o->dir)
        return km_err_set(KM_EINVAL, "the ClickHouse store needs a data directory for its spool");
    if (o->client.nurls == 0)
        return km_err_set(KM_EINVAL, "--storage clickhouse needs --clickhouse-url");
    if (!km_ch_ident_valid(db))
        return km_err_set(KM_EINVAL,
                          "--clickhouse-database \"%s\": expected letters, digits and _ (not "
                          "starting with a digit)",
                          db);
    if (o->cluster && *o->cluster && !km_ch_ident_valid(o->cluster))
        return km_err_set(KM_EINVAL,
                          "--clickhouse-cluster \"%s\": expected letters, digits and _ (not "
                          "starting with a digit)",
                          o->cluster);
    if (o->client.nurls > 1 && !(o->cluster && *o->cluster))
        return km_err_set(KM_EINVAL,
                          "%zu ClickHouse URLs need --clickhouse-cluster: the name of the "
                          "remote_servers cluster whose shards they are, in its order",
                          o->client.nurls);
    return 0;
}

/* The metadata of the store, read from DIR/metadata when there is one. */
static int km_ch_open_metadata(struct km_ch_ctx *c, const char *dir, int64_t retention_ms)
{
    struct km_mdstore_opts mo = { .ttl_ms = retention_ms };
    size_t len = strlen(dir) + sizeof("/metadata");
    int rc;

    c->md_path = malloc(len);
    if (!c->md_path)
        return km_err_set(KM_ENOMEM, "out of memory");
    snprintf(c->md_path, len, "%s/metadata", dir);
    rc = km_mdstore_create(&c->md, &mo);
    if (rc)
        return rc;
    rc = km_mdstore_load(c->md, c->md_path, km_ch_now_ms());
    if (rc == KM_ENOMEM)
        return rc;
    if (rc && rc != KM_ENOTFOUND)
        km_log_warn(KM_CH_LOG, "metric metadata not read, starting without it: %s", km_err_msg());
    return 0;
}

int km_storage_open_clickhouse(struct km_storage **out, const struct km_ch_opts *o)
{
    struct km_storage *s = NULL;
    struct km_ch_ctx *c = NULL;
    struct km_ch_store *st;
    char *spool = NULL;
    size_t n;
    int rc;

    if ((rc = km_ch_opts_check(o)) != 0)
        return rc;
    s = calloc(1, sizeof(*s));
    c = calloc(1, sizeof(*c));
    n = strlen(o->dir) + sizeof("/" KM_CH_SPOOL_DIR);
    spool = malloc(n);
    if (!s || !c || !spool) {
        rc = km_err_set(KM_ENOMEM, "out of memory");
        goto out_close;
    }
    snprintf(spool, n, "%s/" KM_CH_SPOOL_DIR, o->dir);
    st = &c->st;
    st->cluster = o->cluster && *o->cluster;
    st->rollups = !o->no_rollups;
    st->retention_ms = o->retention_ms > 0 ? o->retention_ms : KM_CH_RETENTION_DEFAULT_MS;
    st->max_future_ms = o->max_future_ms > 0 ? o->max_future_ms : KM_CH_MAX_FUTURE_DEFAULT_MS;
    atomic_init(&st->schema_ready, false);
    atomic_init(&st->logs_retention_ms, st->retention_ms);
    if ((rc = km_mkdir_p(o->dir, 0755)) != 0 ||
        (rc = km_ch_client_create(&st->cl, &o->client)) != 0 ||
        (rc = km_ch_known_create(&st->known, 0)) != 0 ||
        (rc = km_ch_open_metadata(c, o->dir, st->retention_ms)) != 0)
        goto out_close;
    km_ch_tables_init(&st->tab, km_ch_client_database(st->cl), st->cluster);
    rc = km_ch_schema_apply(st->cl, st->cluster ? o->cluster : NULL);
    if (rc == 0) {
        atomic_store(&st->schema_ready, true);
    } else if (rc == KM_EAGAIN) {
        km_log_warn(KM_CH_LOG, "ClickHouse does not answer yet (writes wait in the spool): %s",
                    km_err_msg());
    } else {
        goto out_close;
    }
    rc = km_ch_writer_start(st, o, spool);
    if (rc != 0)
        goto out_close;
    free(spool);
    s->ops = &km_ch_ops;
    s->ctx = c;
    *out = s;
    return 0;
out_close:
    free(spool);
    if (c) {
        if (c->st.w)
            km_ch_writer_stop(&c->st, 0);
        c->st.w = NULL;
        km_mdstore_destroy(c->md);
        c->md = NULL;
        km_ch_close(c);
    }
    free(s);
    return rc;
}
