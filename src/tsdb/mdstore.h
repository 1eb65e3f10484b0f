/*
 * mdstore — the embedded store's metric metadata (storage/metadata.h): a bounded set in
 * memory of (name, type, help, unit) entries, each with the time it was last seen, and
 * the file that keeps it across restarts (DIR/metadata: written whole, atomically, when
 * the store is flushed or closed; read when it is opened; layout in FORMAT.md).
 *
 * Bounds (KM_LIMIT_METADATA_* in common/limits.h, or smaller ones given): names, entries
 * per name, the length of a help or unit text, bytes in all. Past them nothing fails:
 * a new name or entry is refused, the least recently seen entry of a name gives way, a
 * long text is cut; each is counted (km_mdstore_stats). An entry not seen for longer
 * than the ttl (the retention: the samples it describes are gone too) is no longer
 * listed, and is dropped at the next save or when the names run out.
 *
 * Threads: any thread (one mutex inside); a listing's callback runs under that mutex.
 * The store owns every string it keeps; what is put is copied.
 */
#ifndef KMON_TSDB_MDSTORE_H
#define KMON_TSDB_MDSTORE_H

#include "storage/metadata.h"

#include <stddef.h>
#include <stdint.h>

struct km_mdstore;

struct km_mdstore_opts {
    size_t max_names;    /* 0: KM_LIMIT_METADATA_FAMILIES */
    size_t max_variants; /* entries per name (0: KM_LIMIT_METADATA_VARIANTS) */
    size_t max_text;     /* bytes of a help or unit text (0: KM_LIMIT_METADATA_TEXT) */
    size_t max_bytes;    /* all of it (0: KM_LIMIT_METADATA_BYTES) */
    int64_t ttl_ms;      /* entries not seen for longer are forgotten (0: never) */
};

struct km_mdstore_stats {
    uint64_t names, entries, bytes; /* held now */
    uint64_t refused_names;         /* new names past max_names */
    uint64_t refused_bytes;         /* new entries past max_bytes */
    uint64_t evicted;               /* entries that gave way to a newer one of their name */
    uint64_t truncated;             /* texts cut to max_text */
    uint64_t expired;               /* entries forgotten after the ttl */
};

/* On success *out is new and empty; free it with km_mdstore_destroy(). */
int km_mdstore_create(struct km_mdstore **out, const struct km_mdstore_opts *o);
void km_mdstore_destroy(struct km_mdstore *s); /* accepts NULL */

/* Remember n entries as seen at now_ms (names must be valid metric names and the texts
 * valid UTF-8: the caller checks; a type outside the enum is kept as unknown). 0, or
 * KM_ENOMEM (the entries before the one that failed are kept). */
int km_mdstore_put(struct km_mdstore *s, const struct km_metadata *md, size_t n, int64_t now_ms);

/* Call fn for each entry seen within the ttl before now_ms (only those of `metric` when
 * not NULL): names in byte order, the entries of one name together in the order they
 * were first seen. Returns 0 or fn's first non-zero return. */
int km_mdstore_list(struct km_mdstore *s, const char *metric, int64_t now_ms, km_metadata_fn fn,
                    void *ud);

/* Replace the contents with those of the file at `path` (entries past the ttl before
 * now_ms or past the bounds are left out, as when put). 0; KM_ENOTFOUND when there is
 * no file; KM_EIO when it cannot be read; KM_ECORRUPT when it is not a whole, valid
 * metadata file. On any error the store is left empty. */
int km_mdstore_load(struct km_mdstore *s, const char *path, int64_t now_ms);

/* Write the contents to `path` (a temporary file fsynced and renamed into place, then
 * the directory fsynced), dropping entries past the ttl first; nothing is written when
 * nothing changed since the last load or save. 0, or KM_EIO / KM_ENOMEM with a message
 * (the file in place is then the previous one, whole). */
int km_mdstore_save(struct km_mdstore *s, const char *path, int64_t now_ms);

void km_mdstore_stats(struct km_mdstore *s, struct km_mdstore_stats *out);

#endif
