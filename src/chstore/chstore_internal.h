/*
 * chstore_internal — what the files of the ClickHouse store share: the store's context,
 * the table names reads use, the series id, and the entry points of the write side
 * (writer.c, spool.c, series.c, schema.c) and the read side (query.c, sql.c, rowbin.c)
 * that chstore.c puts in the ops table. Not for use outside src/chstore/.
 */
#ifndef KMON_CHSTORE_INTERNAL_H
#define KMON_CHSTORE_INTERNAL_H

#include "chstore/chclient.h"
#include "chstore/chstore.h"
#include "common/labels.h"
#include "storage/storage.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define KM_CH_LOG            "clickhouse"
#define KM_CH_SCHEMA_VERSION 2u
#define KM_CH_ROLLUP_5M_MS   (5 * 60 * 1000LL)
#define KM_CH_ROLLUP_1H_MS   (60 * 60 * 1000LL)

/* The tables reads name (SCHEMA.md): the Distributed ones on a cluster, the plain ones
 * on one node; `*_local` is what a subquery inside a Distributed query names (the plain
 * table on one node). */
struct km_ch_tables {
    char series[96], samples[96], rollup_5m[96], rollup_1h[96];
    char series_local[96], samples_local[96];
    char log_streams[96], logs[96], log_streams_local[96], logs_local[96];
};

/* Counters of the read side (atomics: any thread). */
struct km_ch_read_stats {
    atomic_uint_fast64_t queries, query_errors, rows_read, bytes_read, rollup_selects;
    atomic_uint_fast64_t query_ns; /* total time in ClickHouse reads */
};

struct km_ch_writer; /* writer.c: batches, spool, inserts */
struct km_ch_known;  /* series.c: series ids this server has written */
struct km_ch_logs;   /* logs_write.c: the log sink's state */

struct km_ch_store {
    struct km_ch_client *cl;
    struct km_ch_tables tab;
    bool cluster; /* Distributed tables over _local ones */
    bool rollups; /* may read rollups */
    int64_t retention_ms, max_future_ms;
    atomic_bool schema_ready; /* the schema is in place on every node */
    struct km_ch_writer *w;
    struct km_ch_known *known;
    struct km_ch_read_stats rs;
    struct km_ch_logs *logs;               /* NULL until km_ch_logs_open() */
    atomic_int_fast64_t logs_retention_ms; /* day partitions of logs older are dropped */
};

/* XXH64 (seed 0) of the label set (any order; sorted here): for each label in name order,
 * name 0xff value 0xff. The same on every kmon server. */
uint64_t km_ch_series_id(const struct km_label *l, size_t n);

/* ---- read side (query.c) ---------------------------------------------------------- */
/* The querier ops of storage.h on a struct km_ch_store (ctx). A read before the schema is
 * ready, or while no node answers, fails with KM_EAGAIN naming ClickHouse. */
int km_ch_querier_open(void *ctx, int64_t mint, int64_t maxt, void **q);
void km_ch_querier_close(void *q);
int km_ch_select(void *q, struct km_matcher *const *m, size_t nm,
                 const struct km_select_hints *hints, void **set);
bool km_ch_set_next(void *set);
const struct km_labels *km_ch_set_labels(void *set);
bool km_ch_set_batch(void *set, struct km_sample_batch *b);
int km_ch_set_error(void *set);
void km_ch_set_close(void *set);
int km_ch_label_names(void *q, struct km_matcher *const *m, size_t nm, km_str_fn fn, void *ud);
int km_ch_label_values(void *q, const char *name, struct km_matcher *const *m, size_t nm,
                       km_str_fn fn, void *ud);
int km_ch_cardinality(void *ctx, size_t top, struct km_storage_cardinality *out);
/* The read side's kmon_clickhouse_* families. */
void km_ch_read_metrics(struct km_ch_store *st, struct km_mset *m);

#endif
