/*
 * spool — the local write-ahead of the ClickHouse store (spool.c): what an append call
 * was told is stored, kept on disk until every shard's ClickHouse node has it. Records
 * hold the RowBinary rows of one append call split per shard and kind (series rows,
 * sample rows, log stream rows, log entry rows); each shard's writer reads the records from its
 * acknowledged position and acknowledges what ClickHouse took. FORMAT: the top of spool.c.
 *
 * Threads: any; one mutex inside, never held during a read of record bytes.
 */
#ifndef KMON_CHSTORE_SPOOL_H
#define KMON_CHSTORE_SPOOL_H

#include "common/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KM_CH_SPOOL_DIR           "clickhouse-spool"
#define KM_CH_SPOOL_SEGMENT_BYTES (64u * 1024 * 1024)

/* The kinds of rows a record holds, in the order a shard's writer inserts them (a
 * series or stream row before the rows that name it). */
enum km_ch_part_kind {
    KM_CH_PART_SERIES = 0,      /* series rows */
    KM_CH_PART_SAMPLES = 1,     /* sample rows */
    KM_CH_PART_LOG_STREAMS = 2, /* log stream rows */
    KM_CH_PART_LOGS = 3,        /* log entry rows */
    KM_CH_PART__N
};

/* One shard's rows of one kind in a record. */
struct km_ch_spool_part {
    uint16_t shard;
    uint8_t kind; /* enum km_ch_part_kind */
    uint32_t rows;
    const void *data;
    uint32_t len;
};

/* A place in the spool: a segment's number and a byte offset in it. */
struct km_ch_spool_pos {
    uint64_t seq, off;
};

struct km_ch_spool_opts {
    const char *dir;           /* the spool's own directory (created if missing) */
    size_t nshards;            /* 1..65535 */
    uint64_t max_bytes;        /* 0: 1 GiB */
    uint64_t segment_bytes;    /* 0: KM_CH_SPOOL_SEGMENT_BYTES */
    int64_t fsync_interval_ms; /* 0: fsync every append */
};

struct km_ch_spool_stats {
    uint64_t bytes;    /* on disk */
    uint64_t segments; /* files */
    uint64_t unacked;  /* bytes after the slowest shard's position */
    int64_t
        oldest_ms; /* wall time of the oldest record a shard has not had acknowledged (0: none) */
    uint64_t truncated;    /* torn records cut at open */
    uint64_t replay_bytes; /* unacknowledged bytes found at open */
};

struct km_ch_spool;

/* Open (or create) the spool in o->dir: check every record (a torn tail is truncated,
 * logged as a warning), read the acknowledged positions, start a new segment. A spool
 * written for another number of shards that still holds unacknowledged records is
 * KM_EINVAL. On success *out is new. */
int km_ch_spool_open(struct km_ch_spool **out, const struct km_ch_spool_opts *o);
/* Sync and close; accepts NULL. */
void km_ch_spool_close(struct km_ch_spool *sp);

/* Write one record of n parts (durable per fsync_interval_ms when this returns 0).
 * KM_ELIMIT when the spool would exceed its bound. */
int km_ch_spool_append(struct km_ch_spool *sp, const struct km_ch_spool_part *p, size_t n);

/* fdatasync the active segment when the fsync interval has passed since the last one. */
void km_ch_spool_sync_due(struct km_ch_spool *sp);

/* The shard's acknowledged position (where its reading starts after open). */
void km_ch_spool_acked(struct km_ch_spool *sp, size_t shard, struct km_ch_spool_pos *pos);

/* Append the shard's rows of the records from *pos on to out[kind], until the end or at
 * least max_rows rows; *pos moves past the records read, rows[kind] counts the rows
 * added of each kind. 0, or KM_EIO / KM_ECORRUPT (also for a part of an unknown kind). */
int km_ch_spool_read(struct km_ch_spool *sp, size_t shard, struct km_ch_spool_pos *pos,
                     size_t max_rows, struct km_buf *const out[KM_CH_PART__N],
                     size_t rows[KM_CH_PART__N]);

/* Whether records follow pos. */
bool km_ch_spool_pending(struct km_ch_spool *sp, const struct km_ch_spool_pos *pos);

/* Bytes appended for `shard` since open (grows only): how much waits to be read. */
uint64_t km_ch_spool_shard_bytes(struct km_ch_spool *sp, size_t shard);

/* Wait until records follow pos, the spool is woken (km_ch_spool_wake) or timeout_ms
 * passed. */
void km_ch_spool_wait(struct km_ch_spool *sp, const struct km_ch_spool_pos *pos,
                      int64_t timeout_ms);
void km_ch_spool_wake(struct km_ch_spool *sp);

/* Record that ClickHouse has the shard's rows before pos: persisted, and segments every
 * shard has finished are deleted. */
int km_ch_spool_ack(struct km_ch_spool *sp, size_t shard, const struct km_ch_spool_pos *pos);

/* Wait until every shard acknowledged everything appended before the call.
 * KM_ETIMEDOUT after timeout_ms. */
int km_ch_spool_wait_acked(struct km_ch_spool *sp, int64_t timeout_ms);

void km_ch_spool_stats(struct km_ch_spool *sp, struct km_ch_spool_stats *out);

#endif
