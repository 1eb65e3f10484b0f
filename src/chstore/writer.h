/*
 * writer — the write side of the ClickHouse store (writer.c): appends encoded to RowBinary
 * rows and put in the spool, and one thread per shard inserting what the spool holds
 * into that shard's node (series rows before sample rows), retrying until ClickHouse has
 * it. Shard 0's thread also creates the schema while ClickHouse is down at open, and
 * runs the retention (retention.c) hourly.
 */
#ifndef KMON_CHSTORE_WRITER_H
#define KMON_CHSTORE_WRITER_H

#include "chstore/chstore_internal.h"

#include <stdint.h>

struct km_mset;

/* Open the spool in `spool_dir` and start the threads. On success st->w is set. */
int km_ch_writer_start(struct km_ch_store *st, const struct km_ch_opts *o, const char *spool_dir);
/* Wait up to flush_ms for the spool to be acknowledged, stop the threads, close the
 * spool. Accepts st->w NULL. */
void km_ch_writer_stop(struct km_ch_store *st, int64_t flush_ms);

/* The ops of storage.h (ctx: struct km_ch_store). */
void km_ch_time_window(void *ctx, int64_t *lo, int64_t *hi);
int km_ch_append(void *ctx, const struct km_sample *s, size_t n, enum km_sample_status *status,
                 struct km_append_result *res);
int km_ch_series_ref(void *ctx, const struct km_label *l, size_t n, uint64_t *ref, bool *created);
int km_ch_append_refs(void *ctx, const struct km_ref_sample *s, size_t n,
                      enum km_sample_status *status, struct km_append_result *res);

/* Put one record of parts in the spool (the log sink's rows): 0 once it is there
 * (KM_ELIMIT when the spool is full, counted as a refused append). */
struct km_ch_spool_part;
int km_ch_writer_spool(struct km_ch_store *st, const struct km_ch_spool_part *p, size_t n);
/* The number of shards rows are split for. */
size_t km_ch_writer_shards(const struct km_ch_store *st);

/* Wait until ClickHouse acknowledged everything appended so far (KM_ETIMEDOUT). */
int km_ch_writer_flush(struct km_ch_store *st, int64_t timeout_ms);

struct km_ch_writer_info {
    uint64_t samples_appended, segments;
    int64_t newest_ms; /* INT64_MIN: none */
};
void km_ch_writer_info(struct km_ch_store *st, struct km_ch_writer_info *out);
/* The write side's kmon_clickhouse_* families. */
void km_ch_writer_metrics(struct km_ch_store *st, struct km_mset *m);

/* retention.c: drop the day partitions wholly older than the retention on every node
 * (and, when `series` is true, the series rows not written within it). */
int km_ch_retention_run(struct km_ch_store *st, bool series);

#endif
