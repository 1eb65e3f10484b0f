/*
 * head — the in-memory part of the database: every series that has recent samples, its
 * chunks, and the inverted index over its labels.
 *
 * Series: labels interned in a symtab (pairs of 32-bit ids, sorted by name), found by
 * label hash in one of 64 stripes (each an open-addressing table under its own rwlock),
 * or by reference through a paged array indexed by the series' ordinal (the low 32 bits
 * of its reference). Each series has a spinlock over its chunks and its out-of-order
 * buffer, and a reference count: lookups return the series with one more reference,
 * which the caller drops with km_head_series_put(); a removed series is freed by its
 * last holder.
 *
 * Index: postings lists of ordinals per (name, value) pair, the values of each name, and
 * the list of all ordinals, under one rwlock that appends to existing series never take.
 *
 * Threads: everything here may be called concurrently, except that truncation is run
 * by one thread at a time (the database's maintenance).
 */
#ifndef KMON_TSDB_HEAD_H
#define KMON_TSDB_HEAD_H

#include "chunk_block.h"
#include "common/labels.h"
#include "tsdb_internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct km_head;
struct km_hseries;

struct km_head_opts {
    int64_t block_range_ms;
    int64_t ooo_window_ms;
};

int km_head_create(struct km_head **out, const struct km_head_opts *o);
void km_head_destroy(struct km_head *h);

/* The series with these labels (sorted by name, validated), with one more reference,
 * or NULL. `hash` is km_labels_hash(l, n). */
struct km_hseries *km_head_lookup(struct km_head *h, const struct km_label *l, size_t n,
                                  uint64_t hash);

/* A new series with these labels, not yet visible to lookups. ref 0 assigns the next
 * reference (replay passes the one it read). */
int km_head_series_new(struct km_head *h, const struct km_label *l, size_t n, uint64_t hash,
                       uint64_t ref, struct km_hseries **out);

/* Never hand out references up to `ref` again (replay reserves every reference the log
 * has used, also those of series it did not create). */
void km_head_reserve_ref(struct km_head *h, uint64_t ref);

/* Make a new series visible. Returns the series now holding those labels, with one more
 * reference for the caller: `s` itself, or one published meanwhile by another thread
 * (then `s` is freed). */
struct km_hseries *km_head_publish(struct km_head *h, struct km_hseries *s);

/* The series with this reference, with one more reference, or NULL. */
struct km_hseries *km_head_by_ref(struct km_head *h, uint64_t ref);

void km_head_series_put(struct km_head *h, struct km_hseries *s);

/* Batch access by reference without reference counting: between read_begin and
 * read_end no series can be freed, so km_head_by_ref_locked() returns a borrowed
 * pointer (or NULL). Keep the section short: truncation waits for it. */
void km_head_read_begin(struct km_head *h);
void km_head_read_end(struct km_head *h);
struct km_hseries *km_head_by_ref_locked(struct km_head *h, uint64_t ref);

/* A bulk load (the WAL replay): between these, series published are appended to the
 * index's lists unsorted, and nothing may read or change the index but publishing;
 * km_head_bulk_end sorts every list once. */
void km_head_bulk_begin(struct km_head *h);
int km_head_bulk_end(struct km_head *h);
/* A hint, inside the same section: start loading series ref (chunk: its newest chunk,
 * the series itself loaded already) into the CPU's caches, for an append a little later.
 * A batch's samples come a series each in no order the head keeps, so each append
 * otherwise waits on memory in turn. */
void km_head_prefetch(struct km_head *h, uint64_t ref, bool chunk);

uint64_t km_head_series_ref(const struct km_hseries *s);

enum km_append_status {
    KM_APPEND_OK,
    KM_APPEND_DUPLICATE,
    KM_APPEND_TOO_OLD,
    KM_APPEND_CONFLICT,
    KM_APPEND_REMOVED, /* the series was removed meanwhile: look it up again */
    KM_APPEND_NOMEM,
};

/* Append one sample. Refused as too old when it is older than the series' newest
 * sample by more than the out-of-order window (not in `replay` mode: the sample was
 * accepted once). A sample older than min_valid (behind a cut) goes to the series'
 * late buffer, which later cuts write to blocks of their own. The caller applies the
 * clock bounds (future, retention). */
enum km_append_status km_head_append(struct km_head *h, struct km_hseries *s, int64_t t, double v,
                                     bool replay);

/* Samples of a series within [mint, maxt], in time order, into out. */
int km_head_series_samples(struct km_head *h, struct km_hseries *s, int64_t mint, int64_t maxt,
                           struct km_samples *out);
/* For a reader of the newest sample in [mint, maxt] only (an instant query): a part of
 * them, in time order, that ends with that one — at most one chunk's worth, and none
 * decoded when the newest chunk ends within the range. */
int km_head_series_newest(struct km_head *h, struct km_hseries *s, int64_t mint, int64_t maxt,
                          struct km_samples *out);

/* For a cut of the window [a, b) (after min_valid was raised to b): every sample of the
 * series before b in chunks and out-of-order buffer, and its late samples within
 * [a, b), which the series sets aside until km_head_truncate(h, a, b) drops them. */
int km_head_series_cut_samples(struct km_head *h, struct km_hseries *s, int64_t a, int64_t b,
                               struct km_samples *out);

/* The series' labels as an owned set. */
int km_head_series_labels(struct km_head *h, const struct km_hseries *s, struct km_labels **out);

/* The series' labels as a set whose strings are the head's own (no copy): valid while
 * the caller holds its reference to the series. Built in *buf (capacity *cap label
 * pairs, grown as needed; the caller frees it). */
int km_head_series_label_set(struct km_head *h, const struct km_hseries *s, struct km_labels **buf,
                             size_t *cap);

/* Ask the CPU for what reading the series' samples touches first, a few series before
 * they are read (4 000 series are 4 000 cache misses each otherwise): the chunk and the
 * out-of-order buffer's header, then (`buffers`, a little later) that buffer's arrays. */
void km_head_series_prefetch(const struct km_hseries *s, bool buffers);

/* Write the series' labels into l[0..*n) (room for KM_LIMIT_LABELS_PER_SERIES); the
 * strings are borrowed from the head while the caller holds its reference. */
void km_head_series_label_view(struct km_head *h, const struct km_hseries *s, struct km_label *l,
                               size_t *n);

/* The series matching the matchers that have samples in [mint, maxt], sorted by labels
 * when `sorted` (else in the head's own order), each with one more reference (release
 * with km_head_series_put, free the array). */
int km_head_select(struct km_head *h, struct km_matcher *const *m, size_t nm, int64_t mint,
                   int64_t maxt, bool sorted, struct km_hseries ***out, size_t *n);

/* Every series, with samples or not, sorted by labels, each with one more reference. */
int km_head_all_sorted(struct km_head *h, struct km_hseries ***out, size_t *n);

/* Label names, and values of one name, among series matching the matchers within
 * [mint, maxt] (nm == 0: all series in the index). Sorted, unique. */
int km_head_label_names(struct km_head *h, struct km_matcher *const *m, size_t nm, int64_t mint,
                        int64_t maxt, km_str_fn fn, void *ud);
int km_head_label_values(struct km_head *h, const char *name, struct km_matcher *const *m,
                         size_t nm, int64_t mint, int64_t maxt, km_str_fn fn, void *ud);

/* After a cut of [a, b) is durable: drop every sample before b from chunks and
 * out-of-order buffers and the late samples the cut took within [a, b); remove series
 * left empty (counted in *removed). min_valid is b from now on (if it was lower).
 * km_head_truncate(h, INT64_MIN, INT64_MIN, …) only removes series without samples. */
int km_head_truncate(struct km_head *h, int64_t a, int64_t b, size_t *removed);

/* After a replay: the WAL's lanes are read one after the other, so a series' samples that
 * two threads logged come back out of order and land in its out-of-order buffer (16
 * bytes a sample, merged at every read). Put every such series' samples back into chunks
 * in time order, as in-order appends would have; *settled is how many. Single-threaded
 * (nothing else appends meanwhile). */
int km_head_settle(struct km_head *h, uint64_t *settled);

/* Send samples older than b to the late buffers (set at open from the newest block). */
void km_head_set_min_valid(struct km_head *h, int64_t b);

/* The head's time bounds, cheap to read (no walk of the index). */
struct km_head_times {
    int64_t mint;      /* oldest sample in chunks and out-of-order buffers (INT64_MAX: none) */
    int64_t late_mint; /* oldest late sample (INT64_MAX: none) */
    int64_t maxt;      /* newest sample, or the last cut's boundary − 1 (INT64_MIN: none) */
    int64_t min_valid; /* older samples are late */
    uint64_t late_samples;
    uint64_t late_total; /* late samples taken since the head was created */
};

void km_head_times(struct km_head *h, struct km_head_times *out);

struct km_storage_cardinality;

/* The head's cardinality lists (storage.h), the top `top` of each. */
int km_head_cardinality(struct km_head *h, size_t top, struct km_storage_cardinality *out);

/* Series in the head (one atomic read). */
uint64_t km_head_nseries(struct km_head *h);

struct km_head_stats {
    uint64_t series, chunks, samples, bytes;
    struct km_head_times times;
};

void km_head_stats(struct km_head *h, struct km_head_stats *out);

#endif
