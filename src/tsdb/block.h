/*
 * block — immutable on-disk blocks: writing one (from the head or by compacting others)
 * and reading it back (mmap'ed index and chunk files, pages decompressed on demand).
 *
 * Threads: a writer belongs to one thread. An open block is shared: reference counted
 * (acquire/release), its lazily decompressed symbol pages guarded by its own mutex;
 * everything else it hands out is read-only. A block marked deleted loses its directory
 * at once and its mappings with its last reference.
 */
#ifndef KMON_TSDB_BLOCK_H
#define KMON_TSDB_BLOCK_H

#include "chunk_block.h"
#include "common/labels.h"
#include "postings.h"
#include "seccache.h"
#include "tsdb_internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- writing ------------------------------------------------------------------------- */

struct km_block_writer;

/* Start a block covering [mint, maxt] in blocks_dir (in a temporary directory; the
 * range grows to cover any sample added outside it). `level`
 * counts compactions (1 for a block cut from the head); `parents` names the blocks it
 * replaces (NULL-terminated, may be NULL). */
int km_block_writer_begin(struct km_block_writer **out, const char *blocks_dir, int64_t mint,
                          int64_t maxt, int level, const char *const *parents);

/* The origin of a compacted block: its oldest parent's (see km_block_meta). */
void km_block_writer_set_origin(struct km_block_writer *w, const char *origin);

/* Add a series: labels sorted by name, and greater than the previous series' labels;
 * samples in time order within [mint, maxt]. A series without samples is skipped. */
int km_block_writer_add(struct km_block_writer *w, const struct km_label *l, size_t nl,
                        const int64_t *t, const double *v, size_t ns);

/* Write the index and metadata, fsync, and rename into place. On success the block's id
 * is copied to id (41 bytes); if the block would be empty nothing is written and
 * KM_ENOTFOUND is returned. The writer is freed either way. */
int km_block_writer_commit(struct km_block_writer *w, char id[41]);

/* Discard the writer and its temporary directory. Accepts NULL. */
void km_block_writer_abort(struct km_block_writer *w);

/* ---- reading ---------------------------------------------------------------------------- */

struct km_block;

struct km_block_meta {
    char id[41];
    char origin[41]; /* the oldest data's block: its own id, or its oldest parent's origin */
    int64_t mint, maxt;
    uint64_t series, samples, chunks;
    uint64_t bytes; /* index + chunks + meta.json */
    int level;
    char **parents; /* NULL-terminated */
};

/* Orders blocks by the age of what they hold (origin, then id) for qsort of
 * struct km_block *: where two blocks hold the same timestamp of a series with other
 * values (a late sample conflicting with a stored one), the older one's is kept. */
int km_block_cmp_age(const void *a, const void *b);

/* Open the block in dir (which holds meta.json, index, chunks), checking every header,
 * footer and table. On success *out has one reference. */
int km_block_open(struct km_block **out, const char *dir);
void km_block_acquire(struct km_block *b);
void km_block_release(struct km_block *b);

/* Keep the block's decompressed pages and frames in c (acquired; given back, with its
 * entries, when the block goes). Set once, before the block is shared. */
void km_block_set_cache(struct km_block *b, struct km_seccache *c);

/* Remove the block's directory now; its memory goes with the last reference. */
void km_block_delete(struct km_block *b);

const struct km_block_meta *km_block_meta(const struct km_block *b);
const char *km_block_dir(const struct km_block *b);

/* Read every page and frame, check every checksum and decode every chunk. */
int km_block_verify(struct km_block *b, uint64_t *samples_seen);

/* Sizes of the parts, for inspection: index bytes, chunk bytes (frames only). */
void km_block_sizes(const struct km_block *b, uint64_t *index_bytes, uint64_t *chunk_bytes);

/* ---- querying a block ------------------------------------------------------------------- */

struct km_block_chunkref {
    int64_t mint, maxt;
    uint32_t frame, off;
};

/* A series of a block as a query sees it. */
struct km_block_series {
    uint32_t id;
    struct km_labels *labels;         /* owned */
    struct km_block_chunkref *chunks; /* owned */
    uint32_t nchunks;
};

/* Series ids matching the matchers (sorted, i.e. in label order). */
int km_block_postings(struct km_block *b, struct km_matcher *const *m, size_t nm,
                      struct km_postings *out);

/* Read series `id` (labels and chunk refs). A reader keeps the last decompressed series
 * page and chunk frame, so walking series and their chunks in order decompresses each
 * page and frame once. */
/* A page or frame a reader holds, decompressed (from the block's cache, if it has one). */
struct km_block_section {
    struct km_seccache_ent *ent;
    const char *data;
    size_t len;
};

struct km_block_reader {
    struct km_block *b;
    bool nocache; /* a pass over everything (compaction): leave the cache to queries */
    struct km_block_section page;
    int64_t page_no;
    uint32_t next_id; /* the series whose entry starts at next_off in the page */
    size_t next_off;  /* (reading ids in order resumes there instead of skipping) */
    struct km_block_section frame;
    int64_t frame_no;
};

void km_block_reader_init(struct km_block_reader *r, struct km_block *b);
void km_block_reader_fini(struct km_block_reader *r);
int km_block_read_series(struct km_block_reader *r, uint32_t id, struct km_block_series *out);
void km_block_series_fini(struct km_block_series *s);

/* Samples of a series within [mint, maxt] (appended to out, which is not reset). */
int km_block_read_samples(struct km_block_reader *r, const struct km_block_series *s, int64_t mint,
                          int64_t maxt, struct km_samples *out);

/* Label names, and values of a name, of the given series ids (sorted, unique). */
int km_block_label_names(struct km_block *b, const struct km_postings *ids, km_str_fn fn, void *ud);
int km_block_label_values(struct km_block *b, const char *name, const struct km_postings *ids,
                          km_str_fn fn, void *ud);

#endif
