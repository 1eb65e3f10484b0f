/*
 * inspect — a read-only report on a database directory for tools (`kmon tsdb inspect`):
 * its blocks with their sizes and bytes per sample, every checksum verified, the series
 * they hold, the head the WAL would rebuild, samples and blocks beyond the future bound,
 * and totals over all of it. Public, next to tsdb.h.
 *
 * It takes no lock and writes nothing, so it may run beside a live server (it reports
 * the blocks as they were when it opened them). The library logs progress; the caller
 * formats the report.
 */
#ifndef KMON_TSDB_INSPECT_H
#define KMON_TSDB_INSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct km_tsdb_block_report {
    char id[41];
    char *dir; /* owned */
    int64_t mint, maxt;
    int level;
    uint64_t series, samples, chunks;
    uint64_t index_bytes, chunk_bytes, bytes; /* bytes: index + chunks + meta.json */
    bool readable; /* opened (headers, footers and tables fine); not: set aside or damaged */
    bool verified; /* every checksum checked and chunk decoded */
    char *error;   /* owned; NULL when fine */
};

struct km_tsdb_report {
    char *dir;                           /* owned */
    struct km_tsdb_block_report *blocks; /* readable ones by mint, then unreadable ones */
    size_t nblocks;
    /* Everything the directory holds: the blocks and the head the WAL rebuilds (series
     * counted once wherever they are; bytes of blocks and of the WAL). */
    struct {
        uint64_t series, samples, chunks, bytes;
        int64_t mint, maxt; /* INT64_MAX, INT64_MIN when empty */
    } total;
    /* Totals over the readable blocks; series are counted once however many blocks
     * hold them. */
    uint64_t series, samples, chunks;
    uint64_t index_bytes, chunk_bytes, bytes;
    int64_t mint, maxt; /* INT64_MAX, INT64_MIN without blocks */
    /* The head as replaying the WAL rebuilds it (samples beyond the future bound are
     * dropped, as a server's replay drops them). */
    uint64_t head_series, head_samples, head_chunks;
    uint64_t head_late_samples; /* behind the newest block, waiting for a block of their own */
    int64_t head_mint, head_maxt;
    uint64_t wal_segments, wal_bytes, wal_records, wal_torn_tails, wal_corruptions;
    uint64_t wal_future_samples;            /* beyond the future bound: a server drops them */
    int64_t wal_future_min, wal_future_max; /* their range */
    uint32_t wal_checkpoint;                /* 0: none */
    /* The clock when inspected and the newest time a server accepts now; blocks reaching
     * beyond it (an older version took samples from the future). */
    int64_t now, future_bound;
    uint64_t future_blocks;
    /* Unreadable or failed blocks plus WAL corruptions: 0 means all is well. */
    size_t problems;
};

/* 0 when dir is a directory holding a kmon database (blocks/ or wal/); else
 * KM_ENOTFOUND (it cannot be read) or KM_EINVAL (not a directory, or no database in it)
 * with a sentence naming it. What tools check before a read-only open. */
int km_tsdb_check_dir(const char *dir);

/* Inspect the database in dir. With verify, every block is read in full (checksums,
 * chunk decoding, sample counts). Returns 0 with *out filled (problems found are in the
 * report, not the return), or an error when dir is not a readable database. */
int km_tsdb_inspect(const char *dir, bool verify, struct km_tsdb_report *out);

void km_tsdb_report_fini(struct km_tsdb_report *r);

#endif
