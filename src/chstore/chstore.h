/*
 * chstore — kmon's store on a ClickHouse server or cluster (storage/storage.h): the server
 * keeps its ingest, PromQL, rules, API and dashboard and puts the samples in ClickHouse
 * (SCHEMA.md says what kmon creates there and how it reads it). What a client was told is
 * stored sits in a local spool (the write-ahead of what ClickHouse has not acknowledged
 * yet) until ClickHouse has it, so neither a ClickHouse outage nor a crash of kmon loses
 * it, and any number of kmon servers can write side by side.
 */
#ifndef KMON_CHSTORE_CHSTORE_H
#define KMON_CHSTORE_CHSTORE_H

#include "chstore/chclient.h"
#include "storage/storage.h"

#include <stdbool.h>
#include <stdint.h>

struct km_ch_opts {
    struct km_ch_client_opts client;
    const char *cluster;       /* remote_servers name for Distributed tables (NULL: one node) */
    const char *dir;           /* kmon's own data dir: the spool goes in DIR/clickhouse-spool */
    uint64_t spool_max_bytes;  /* beyond it appends are refused (KM_ELIMIT); 0: 1 GiB */
    int64_t retention_ms;      /* day partitions wholly older are dropped; 0: 15 days */
    int64_t max_future_ms;     /* samples further ahead of the clock are refused; 0: 10 min */
    int64_t fsync_interval_ms; /* spool durability against a machine crash (0: every append) */
    bool no_rollups;           /* never read the rollup tables (exact answers only) */
    int insert_concurrency;    /* inserts in flight at once; 0: 2 */
};

/* Open the store: check the options, open (and replay) the spool and start the writer.
 * ClickHouse need not be up: the schema is created or migrated as soon as it answers,
 * writes wait in the spool meanwhile and reads fail with KM_EAGAIN. On success *out is
 * new; close it with km_storage_close(). */
int km_storage_open_clickhouse(struct km_storage **out, const struct km_ch_opts *o);

/* The store's logs (SCHEMA.md "Logs"), once: a sink that judges pushed entries by `lim`
 * (logs/logcheck.h; its retention is also the logs' in ClickHouse) and a source LogQL
 * reads, both valid until the store is closed. KM_EINVAL when `s` is no ClickHouse store
 * or its logs are open already. */
struct km_log_limits;
struct km_log_sink;
struct km_log_source;
int km_ch_logs_open(struct km_storage *s, const struct km_log_limits *lim, struct km_log_sink *sink,
                    struct km_log_source *src);

/* Whether `s` is a ClickHouse store. */
bool km_storage_is_clickhouse(const struct km_storage *s);

#endif
