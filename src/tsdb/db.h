/*
 * db — the database object shared by db.c (open, append, stats), query.c and compact.c.
 * Internal to the tsdb.
 *
 * Threads and locks: `blocks_lock` (rwlock) guards the block list, which only the
 * maintenance path changes, under `maint_mu` (one maintenance round at a time). Queries
 * copy the list and hold block references, so deleting a block never pulls data from
 * under a reader.
 */
#ifndef KMON_TSDB_DB_H
#define KMON_TSDB_DB_H

#include "block.h"
#include "head.h"
#include "tsdb.h"
#include "wal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

/* A block directory that did not load at open. */
struct km_tsdb_bad_block {
    char *name;  /* directory name under blocks/ */
    char *error; /* why */
};

struct km_tsdb {
    struct km_tsdb_opts o;
    char *dir, *wal_dir, *blocks_dir;
    int lock_fd;
    struct km_head *head;
    struct km_wal *wal; /* NULL when read-only */
    pthread_rwlock_t blocks_lock;
    struct km_block **blocks;  /* sorted by mint */
    struct km_seccache *cache; /* the blocks' decompressed pages and frames */
    size_t nblocks, capblocks;
    struct km_tsdb_bad_block *bad_blocks; /* found at open (read by inspect) */
    size_t nbad_blocks;
    pthread_mutex_t maint_mu;
    /* Open queries, in two generations: a cut waits for every query that may have
     * pinned its blocks before the new block was added (km_tsdb_readers_drain). */
    pthread_mutex_t readers_mu, drain_mu;
    pthread_cond_t readers_cv;
    uint64_t readers_gen;
    uint64_t readers[2];
    int64_t last_sync_ns;
    int64_t last_late_cut_ns; /* when late samples were last cut (monotonic) */
    /* Background maintenance. */
    pthread_t bg;
    bool bg_started, stopping;
    pthread_mutex_t bg_mu;
    pthread_cond_t bg_cv;
    /* Counters since open. */
    atomic_uint_fast64_t appended, duplicates, too_old, too_new, out_of_retention;
    atomic_uint_fast64_t conflicting, invalid, created;
    atomic_uint_fast64_t removed, cuts, compactions, retention_deletions;
    atomic_uint_fast64_t wal_corruptions, wal_torn_tails, replay_unknown_series;
    atomic_uint_fast64_t future_blocks;
    /* What the WAL replay at open found (read by inspect). */
    struct km_wal_replay_stats replayed;
    uint64_t replayed_series, replayed_samples;
    uint64_t replayed_dropped_future, replayed_dropped_old; /* beyond the clock's window */
    int64_t replayed_future_min, replayed_future_max;       /* the dropped future samples */
};

/* The wall clock (opts.clock_ms or the system's), ms since the epoch. */
int64_t km_tsdb_now_ms(const struct km_tsdb *db);

/* query.c: wait until every query opened before this call is closed (so none of them
 * can read the head's samples a cut is about to drop, having pinned the blocks before
 * the cut's block was added). Queries opened meanwhile are not waited for. */
void km_tsdb_readers_drain(struct km_tsdb *db);

/* compact.c */
int km_tsdb_cut_due(struct km_tsdb *db);
int km_tsdb_cut(struct km_tsdb *db, int64_t mint, int64_t b);
int km_tsdb_compact(struct km_tsdb *db);
int km_tsdb_apply_retention(struct km_tsdb *db);
int km_tsdb_checkpoint(struct km_tsdb *db);

/* db.c: insert an opened block into the sorted list (under blocks_lock write). */
int km_tsdb_blocks_add(struct km_tsdb *db, struct km_block *b);
/* Remove and return blocks (by pointer) from the list; the caller releases them. */
void km_tsdb_blocks_remove(struct km_tsdb *db, struct km_block *const *v, size_t n);
/* The newest maxt among blocks not reaching beyond `bound`, or INT64_MIN. */
int64_t km_tsdb_blocks_maxt(struct km_tsdb *db, int64_t bound);

#endif
