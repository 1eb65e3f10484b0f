/*
 * seccache — decompressed block sections (series pages, chunk frames) kept for the
 * queries that come next, within a byte budget, least recently used first out.
 *
 * Blocks are zstd-compressed on disk; a dashboard asks the same questions every few
 * seconds, and without this every query decompresses the same pages and frames again
 * (for an instant query over many series, most of its time). Sections are immutable, so
 * an entry is valid as long as its block is: a block's entries are keyed by a serial
 * number never reused, and dropped when the block goes.
 *
 * Threads: one cache is shared by every query; its own mutex guards it. Entries are
 * reference counted: one in use is never evicted nor freed under its reader. With a
 * budget of 0 nothing is kept (each get decompresses into an entry freed by its put).
 */
#ifndef KMON_TSDB_SECCACHE_H
#define KMON_TSDB_SECCACHE_H

#include <stddef.h>
#include <stdint.h>

struct km_seccache;
struct km_seccache_ent;

/* A cache keeping at most max_bytes of decompressed sections. *out has one reference. */
int km_seccache_create(struct km_seccache **out, uint64_t max_bytes);
void km_seccache_acquire(struct km_seccache *c);
/* Drops a reference; the last frees the cache (every entry must have been put back).
 * Accepts NULL. */
void km_seccache_release(struct km_seccache *c);

/* The section at byte `off` of `file` (a block file with serial `serial`), decompressed:
 * *data (NUL-terminated) and *len are valid until km_seccache_put(c, *ent). Errors are
 * those of km_blk_section_get (KM_ECORRUPT with a message). c may be NULL: no cache. */
int km_seccache_get(struct km_seccache *c, uint64_t serial, const uint8_t *file, size_t file_len,
                    uint64_t off, struct km_seccache_ent **ent, const char **data, size_t *len);
/* Give an entry back. Accepts a NULL entry. */
void km_seccache_put(struct km_seccache *c, struct km_seccache_ent *ent);

/* Drop the entries of block `serial` that no reader holds (its block is going). */
void km_seccache_forget(struct km_seccache *c, uint64_t serial);

struct km_seccache_stats {
    uint64_t hits, misses, evictions;
    uint64_t bytes, entries, max_bytes;
};
void km_seccache_stats(struct km_seccache *c, struct km_seccache_stats *out);

#endif
