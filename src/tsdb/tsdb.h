/*
 * tsdb — kmon's embedded time-series database: the public interface.
 *
 * A series is a label set (with __name__); a sample is (int64 milliseconds, double).
 * Recent samples live in the head (memory, compressed chunks) and are made durable by a
 * write-ahead log; older ones in immutable blocks on disk. Queries see both.
 *
 * Threads: every function may be called from any thread; appends from many threads
 * proceed in parallel (per-series and per-stripe locks, one WAL lane per thread group)
 * and never wait for queries. A background thread syncs the WAL, cuts blocks, compacts
 * and applies retention, unless opts.no_background asks the caller to call
 * km_tsdb_maintain() instead (tests, tools).
 *
 * Ownership: the database owns everything it returns through borrowed pointers; a query
 * pins the data it reads until km_tsdb_query_close(). The library logs progress of long
 * work (WAL replay, compaction) and returns errors; it prints nothing else.
 */
#ifndef KMON_TSDB_TSDB_H
#define KMON_TSDB_TSDB_H

#include "common/labels.h"
#include "storage/sample.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct km_tsdb;
struct km_mset;

struct km_tsdb_opts {
    const char *dir;            /* data directory (created if missing) */
    int64_t retention_ms;       /* blocks older than this (by the clock) are deleted (15d) */
    uint64_t max_bytes;         /* and the oldest beyond this size (0: no cap) */
    int64_t block_range_ms;     /* head data is cut into blocks of this span (2h) */
    int64_t ooo_window_ms;      /* a series takes samples this far behind its newest (1h) */
    int64_t max_future_ms;      /* samples further ahead of the clock are refused (10m) */
    int64_t (*clock_ms)(void);  /* the wall clock, ms since the epoch (NULL: the system's) */
    int64_t fsync_interval_ms;  /* WAL fsync period (1s); 0 fsyncs on every append */
    unsigned wal_lanes;         /* parallel WAL files (0: one per CPU, at most 8) */
    uint64_t wal_segment_bytes; /* WAL segment size (64 MiB) */
    uint64_t cache_bytes;       /* decompressed block pages kept for queries (64 MiB; 0: none) */
    bool read_only;             /* inspect: replay into memory, repair and write nothing */
    bool no_background;         /* no maintenance thread: call km_tsdb_maintain() */
};

/* The longest retention, out-of-order window, future bound or block range (100 years). */
#define KM_TSDB_MAX_SPAN_MS (100LL * 366 * 86400 * 1000)

void km_tsdb_opts_default(struct km_tsdb_opts *o);

/* Open (or create) the database in o->dir, replaying its WAL. On success *out is new;
 * close it with km_tsdb_close(). */
int km_tsdb_open(struct km_tsdb **out, const struct km_tsdb_opts *o);

/* The options the database runs with (its own copy). */
const struct km_tsdb_opts *km_tsdb_options(const struct km_tsdb *db);

/* Sync the WAL, stop the background thread and free everything. Accepts NULL. */
void km_tsdb_close(struct km_tsdb *db);

/* ---- appending ---------------------------------------------------------------------- */

/* Append n samples. When this returns 0 every sample counted in appended or duplicate
 * is durable against a crash of this process. Rejections are counted, not errors; the
 * return is negative only when the WAL cannot be written (then nothing of this call may
 * be assumed durable). `status` (may be NULL) receives each sample's outcome.
 *
 * What is refused never changes what is stored and creates no series: a sample beyond
 * the clock's window (km_tsdb_time_window), one older than its series' newest sample by
 * more than the out-of-order window (judged per series: one series' timestamps never
 * change what another may append), one conflicting with a stored value. A sample older
 * than data already cut into blocks is stored all the same (a lagging sender loses
 * nothing); it reaches a block of its own at a later cut, merged by compaction with the
 * block already there, whose values win where both have the same timestamp. */
int km_tsdb_append(struct km_tsdb *db, const struct km_sample *s, size_t n,
                   enum km_sample_status *status, struct km_append_result *res);

/* The timestamps the database takes now: [*lo, *hi] = [clock − retention, clock +
 * max_future]. Callers that create series before appending (km_tsdb_series_ref) check
 * with it first, so that refused samples create nothing. */
void km_tsdb_time_window(struct km_tsdb *db, int64_t *lo, int64_t *hi);

/* The fast path for callers that see the same series again and again (a scrape loop, a
 * remote-write connection): resolve labels to a reference once, then append by
 * reference. The reference stays valid until the series leaves the head (all its
 * samples cut into blocks); appending to a stale one reports KM_SAMPLE_STALE_REF for that
 * sample, and the caller resolves the labels again. `created` (may be NULL) says
 * whether this call created the series. */
int km_tsdb_series_ref(struct km_tsdb *db, const struct km_label *labels, size_t nlabels,
                       uint64_t *ref, bool *created);

/* Append by reference; `status` (may be NULL) receives each sample's outcome.
 * Durability as km_tsdb_append(). */
int km_tsdb_append_refs(struct km_tsdb *db, const struct km_ref_sample *s, size_t n,
                        enum km_sample_status *status, struct km_append_result *res);

/* ---- querying ----------------------------------------------------------------------- */

struct km_tsdb_query;
struct km_tsdb_series_set;

/* A consistent view of [mint, maxt] (inclusive, ms) over the head and the blocks. */
int km_tsdb_query_open(struct km_tsdb *db, int64_t mint, int64_t maxt, struct km_tsdb_query **out);
void km_tsdb_query_close(struct km_tsdb_query *q);

/* The series matching all matchers, in label order. */
int km_tsdb_select(struct km_tsdb_query *q, struct km_matcher *const *m, size_t nm,
                   struct km_tsdb_series_set **out);
/* Advance to the next series; false at the end (or on error: km_tsdb_series_error()). */
bool km_tsdb_series_next(struct km_tsdb_series_set *ss);
/* The current series' labels (borrowed until the next km_tsdb_series_next()). */
const struct km_labels *km_tsdb_series_labels(const struct km_tsdb_series_set *ss);
/* The current series' samples in [mint, maxt], in time order, one per call. */
bool km_tsdb_series_sample(struct km_tsdb_series_set *ss, int64_t *t, double *v);
/* The current series' samples not read yet, as one borrowed batch (valid until the next
 * km_tsdb_series_next()); false when none are left. */
bool km_tsdb_series_batch(struct km_tsdb_series_set *ss, const int64_t **t, const double **v,
                          size_t *n);
/* What a selection reads of each series. */
enum km_tsdb_read {
    KM_TSDB_READ_SAMPLES, /* every sample in range */
    KM_TSDB_READ_NEWEST,  /* a part that ends with the newest sample in range */
    KM_TSDB_READ_LABELS,  /* none */
};

/* The series matching the matchers with samples in [mint, maxt] (within the query's
 * range), with what `read` says of their samples within it, in label order — or, with
 * any_order, in whatever order costs least (the head's own when only the head is read). */
int km_tsdb_select_range(struct km_tsdb_query *q, struct km_matcher *const *m, size_t nm,
                         int64_t mint, int64_t maxt, enum km_tsdb_read read, bool any_order,
                         struct km_tsdb_series_set **out);
/* Like km_tsdb_select(), for the labels only: no samples are read (a series whose blocks
 * overlap the range may come back with no sample inside it, as in Prometheus). */
int km_tsdb_select_labels(struct km_tsdb_query *q, struct km_matcher *const *m, size_t nm,
                          struct km_tsdb_series_set **out);
int km_tsdb_series_error(const struct km_tsdb_series_set *ss);
void km_tsdb_series_set_destroy(struct km_tsdb_series_set *ss);

/* Label names (sorted, unique) of the series matching the matchers (all series when
 * nm == 0), and values of one label name. The callback returns non-zero to stop. */
int km_tsdb_label_names(struct km_tsdb_query *q, struct km_matcher *const *m, size_t nm,
                        km_str_fn fn, void *ud);
int km_tsdb_label_values(struct km_tsdb_query *q, const char *name, struct km_matcher *const *m,
                         size_t nm, km_str_fn fn, void *ud);

/* ---- maintenance and state ---------------------------------------------------------- */

/* One round of background work: sync the WAL if due, cut a block if the head spans
 * enough, compact, apply retention. */
int km_tsdb_maintain(struct km_tsdb *db);

/* Cut everything in the head into a block now (benchmarks, shutdown snapshots). */
int km_tsdb_flush(struct km_tsdb *db);

/* fsync the WAL now. */
int km_tsdb_sync(struct km_tsdb *db);

struct km_tsdb_snapshot_stats {
    uint64_t blocks;                    /* blocks linked (or copied) */
    uint64_t head_series, head_samples; /* the head, written as one more block */
    bool copied;                        /* files were copied: OUT is on another file system */
};

/* Write a consistent copy of the database into `out` (created with its parents, or an
 * empty directory): hard links to every block's files (copies across file systems), and
 * unless skip_head the head's samples as one more block, the metric metadata file as
 * last saved (DIR/metadata), and kmon.version. Opening
 * `out` as a database gives every sample stored when the copy began (not its WAL: the
 * head is a block there). Appends go on meanwhile; cuts, compaction, retention and the periodic WAL
 * fsync wait. Not on a read-only database. On failure `out` may hold part of the copy. */
int km_tsdb_snapshot(struct km_tsdb *db, const char *out, bool skip_head,
                     struct km_tsdb_snapshot_stats *st);

struct km_tsdb_stats {
    uint64_t series; /* in the head */
    uint64_t head_chunks;
    uint64_t head_samples;
    uint64_t head_bytes; /* memory the head accounts for (chunks, series, index) */
    int64_t head_mint, head_maxt;
    int64_t min_valid_time; /* older samples are late: behind a cut, bound for a block */
    uint64_t head_late_samples;
    uint64_t late_appended;    /* samples taken behind a cut since open (replay included) */
    uint64_t samples_appended; /* since open */
    uint64_t rejected_too_old, rejected_too_new, rejected_out_of_retention;
    uint64_t rejected_conflicting, rejected_invalid, duplicates;
    uint64_t series_created, series_removed;
    uint64_t blocks;
    uint64_t block_bytes;
    uint64_t block_samples, block_series; /* summed over blocks */
    uint64_t wal_bytes;
    uint64_t wal_segments;
    uint64_t compactions, block_cuts, retention_deletions;
    uint64_t future_blocks; /* blocks reaching beyond the future bound (an old version's) */
};

void km_tsdb_stats(struct km_tsdb *db, struct km_tsdb_stats *out);

/* kmon_tsdb_* families for /metrics. */
void km_tsdb_metrics(struct km_tsdb *db, struct km_mset *m);

#endif
