/*
 * logstore — kmon's embedded log store: streams (label sets) with a label index,
 * time-ordered chunks of lines compressed with zstd, a write-ahead log so that every
 * acknowledged line survives kill -9, out-of-order tolerance, duplicate suppression
 * (exactly-once in the store under at-least-once delivery), and retention by time and
 * by size, run on the wall clock. The on-disk format is documented byte by byte in
 * src/logs/FORMAT.md.
 *
 * Writes: km_logstore_push() takes streams of entries as a client pushed them and
 * returns once what it accepted is in the WAL (written: it survives the process; fsync
 * every opts.fsync_interval_ms survives the machine). Each entry is judged on its own:
 *   - its stream's labels invalid (names, duplicate names, no label at all) → invalid;
 *   - ts beyond now + max_future_ms → too far in the future (creates no stream, moves
 *     no time bound: a client's clock cannot erase or hide stored lines);
 *   - ts older than now - retention_ms → older than the retention;
 *   - ts behind its stream's newest entry by more than ooo_window_ms → too old;
 *   - a line longer than max_line_bytes → too long;
 *   - identical (ts, line) to an entry its stream already holds → duplicate (counted,
 *     not stored again, not an error: a retried push is harmless);
 *   - else stored.
 * Nothing a client sends deletes or rewrites stored lines; only retention deletes.
 *
 * Reads: km_logstore_source() gives the store as a struct km_log_source
 * (logsource.h), which is what LogQL and the Loki API read.
 *
 * Threads: push, reads and maintenance may run concurrently from any threads; the
 * store runs its own background thread (cutting and compressing chunks, retention,
 * fsync) between open and close.
 */
#ifndef KMON_LOGS_LOGSTORE_H
#define KMON_LOGS_LOGSTORE_H

#include "logs/logsink.h"
#include "logs/logsource.h"
#include "logs/logtypes.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct km_logstore;
struct km_mset;

struct km_logstore_opts {
    const char *dir;           /* the store's directory (created if missing): DATA/logs */
    int64_t retention_ms;      /* lines older than this by the clock are deleted, on disk
                                * and in memory (0: 15 d) */
    uint64_t retention_bytes;  /* and the oldest while chunk files + WAL pass this (0: no
                                * cap); see FORMAT.md, Retention */
    int64_t max_future_ms;     /* lines further ahead of the clock are refused (0: 10 m;
                                * negative: none, a line ahead of the clock is refused) */
    int64_t ooo_window_ms;     /* a stream takes lines this far behind its newest (0: 1 h;
                                * negative: none, only lines at or after its newest) */
    size_t max_line_bytes;     /* longer lines are refused (0: 256 KiB) */
    uint64_t max_streams;      /* new streams past this are refused (0: 1 000 000) */
    int64_t fsync_interval_ms; /* durability against a crash of the machine (0: 1 s;
                                * negative: every push, synced before it returns) */
    bool read_only;            /* open to read only (kmon logs inspect, kmon logs query --data):
                                * no WAL writes, no background thread, no retention */
    /* Progress of long work (WAL replay at open), or NULL: called now and then with a
     * sentence ("replaying the log WAL: 41% (12 of 29 segments)"). */
    void (*progress)(void *ud, const char *msg);
    void *progress_ud;

    /* Added with the store (0/NULL: the default), mostly for tests and the benchmark: */
    int64_t (*now_ms)(void *ud); /* the wall clock in ms (NULL: the system's) */
    void *now_ud;
    size_t chunk_target_bytes;  /* cut a head past this many raw line bytes (0: 1 MiB) */
    int64_t max_chunk_age_ms;   /* or when it is this old (0: 1 h) */
    uint64_t chunk_file_bytes;  /* start a new chunk file past this size (0: 64 MiB) */
    uint64_t wal_segment_bytes; /* start a new WAL segment past this size (0: 64 MiB) */
    int zstd_level;             /* chunk compression level (0: 3) */
};

/* Open (creating the directory when missing), replay the WAL, start the background
 * thread. On success *out is new; close it with km_logstore_close(). */
int km_logstore_open(struct km_logstore **out, const struct km_logstore_opts *opts);

/* Store what can be stored of n streams; 0 when everything counted stored or duplicate
 * in *res is durable as above (refusals are counted in *res, not an error). Negative
 * only when the store itself failed (disk full, I/O error): then nothing of this call
 * was acknowledged and the client should retry. */
int km_logstore_push(struct km_logstore *s, const struct km_log_push_stream *st, size_t n,
                     struct km_log_push_result *res);

/* The store as a log sink (logsink.h: push and metrics), valid until km_logstore_close(). */
void km_logstore_sink(struct km_logstore *s, struct km_log_sink *out);

/* The store as a log source (valid until km_logstore_close()). */
void km_logstore_source(struct km_logstore *s, struct km_log_source *out);

/* Cut and write what is in memory now and fsync (tests, shutdown). */
int km_logstore_flush(struct km_logstore *s);

/* Run retention now (the background thread runs it every second), then drop the
 * streams with no data left from the streams file and the label index (the thread does
 * that at most once a minute). */
void km_logstore_retention(struct km_logstore *s);

/* kmon_logs_* families: entries and bytes taken by outcome/reason, streams, chunks and
 * bytes on disk and in memory, WAL size, retention deletions, compression ratio. */
void km_logstore_metrics(struct km_logstore *s, struct km_mset *m);

/* Flush, stop the background thread, close. Accepts NULL. */
void km_logstore_close(struct km_logstore *s);

/* `kmon logs inspect DIR`: what a store directory holds (streams, chunks, entries,
 * bytes raw and compressed, time range, the WAL, the largest streams), read-only and
 * safe on a store a running server has open; as text, or JSON when json is true. */
int km_logstore_inspect(const char *dir, bool json, FILE *out);

#endif
