/*
 * wal — the write-ahead log: checksummed records in segment files, written by several
 * lanes in parallel, replayed in two passes, checkpointed when the head is cut.
 * The byte layout and the replay rules are in FORMAT.md ("Write-ahead log").
 *
 * Threads: km_wal_log() may be called from any thread; each thread is given a lane on
 * its first call and always writes there, under that lane's mutex only. km_wal_sync(),
 * km_wal_roll() and the checkpoint functions are called by the maintenance thread.
 * Replay happens before the log is opened for writing.
 */
#ifndef KMON_TSDB_WAL_H
#define KMON_TSDB_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KM_WAL_SERIES  1
#define KM_WAL_SAMPLES 2

#define KM_WAL_MAX_RECORD (64u * 1024 * 1024)

struct km_wal;

struct km_wal_opts {
    const char *dir; /* the wal/ directory */
    unsigned lanes;
    uint64_t segment_bytes;
    bool fsync_each; /* fsync before every km_wal_log() returns */
};

/* Open for writing, starting new segments at sequence number first_seq (one more than
 * the highest replay found). */
int km_wal_open(struct km_wal **out, const struct km_wal_opts *o, uint32_t first_seq);

/* fsync and close every lane. Accepts NULL. */
void km_wal_close(struct km_wal *w);

/* Append one record in the caller's lane. Returns once write(2) has taken it all (and
 * fsync, with fsync_each). On failure the lane is left without a partial record. */
int km_wal_log(struct km_wal *w, uint8_t type, const void *payload, size_t len);

/* fsync every lane written since the last sync. */
int km_wal_sync(struct km_wal *w);

/* Close every lane's segment and start new ones; *first_new is the lowest new sequence
 * number (every older segment is now closed). */
int km_wal_roll(struct km_wal *w, uint32_t *first_new);

/* Bytes and segment files the log holds on disk. */
void km_wal_size(struct km_wal *w, uint64_t *bytes, uint64_t *segments);

/* ---- checkpoints -------------------------------------------------------------------- */

struct km_wal_ckpt;

/* Start writing checkpoint.N (into a temporary directory). */
int km_wal_ckpt_begin(struct km_wal *w, uint32_t n, struct km_wal_ckpt **out);
int km_wal_ckpt_log(struct km_wal_ckpt *c, uint8_t type, const void *payload, size_t len);
/* fsync, rename into place, then delete older checkpoints and segments below N. */
int km_wal_ckpt_commit(struct km_wal_ckpt *c);
/* Give up: remove the temporary directory. Accepts NULL. */
void km_wal_ckpt_abort(struct km_wal_ckpt *c);

/* ---- replay ----------------------------------------------------------------------- */

struct km_wal_replay_stats {
    uint64_t segments, bytes, records;
    uint64_t torn_tails;  /* records cut short at the end of a segment (dropped) */
    uint64_t corruptions; /* lanes whose replay stopped early */
    uint32_t checkpoint;  /* the checkpoint replayed first, 0 if none */
    uint32_t next_seq;    /* the sequence number new segments should start at */
};

/* Called for each record; a non-zero return stops replay with that code. */
typedef int (*km_wal_record_fn)(void *ud, uint8_t type, const uint8_t *payload, size_t len);

/* Replay dir: series records of every segment first, then samples (see FORMAT.md).
 * Repairs torn tails and quarantines corruption unless read_only. */
int km_wal_replay(const char *dir, bool read_only, km_wal_record_fn fn, void *ud,
                  struct km_wal_replay_stats *st);

#endif
