/*
 * lstore — the log store's internal structures, shared by store.c (open, push, WAL,
 * chunk writing, retention, metrics) and lread.c (the log source: select, merge,
 * label queries). Not for use outside src/logs.
 *
 * Locking: `mu` guards the stream table, the label index, heads, chunk lists, the WAL
 * writer and counters; it is never held while compressing or decompressing. `wmu`
 * serialises the chunk writer (the background thread and flush). Chunk payloads are
 * reached through reference-counted objects (struct lmem for chunks still in memory,
 * struct lfile for chunk files), so a reader keeps reading a chunk that retention or
 * the writer moved or deleted.
 */
#ifndef KMON_LOGS_LSTORE_H
#define KMON_LOGS_LSTORE_H

#include "common/buf.h"
#include "logs/lcodec.h"
#include "logs/logstore.h"

#include <pthread.h>
#include <stdatomic.h>

/* Named bounds (see FORMAT.md for the ones that shape files). */
#define KM_LOGS_DEDUP_ENTRIES   4096u              /* remembered entries per stream */
#define KM_LOGS_BATCH           1024u              /* entries per read batch */
#define KM_LOGS_WAL_REC_BYTES   (8u * 1024 * 1024) /* split a stream's push above this */
#define KM_LOGS_WAL_REC_ENTRIES 65536u             /* or above this many entries */
#define KM_LOGS_LABEL_BYTES     (16u * 1024)       /* a stream's labels, all together */
#define KM_LOGS_HEAD_MAX_BYTES  (64u * 1024 * 1024)
#define KM_LOGS_MAX_STREAM_ID   (1ull << 62) /* a larger next id in the streams file is ignored */
#define KM_LOGS_GC_PERIOD_MS    60000        /* drop streams with no data at most this often */

/* An immutable, time-sorted run of entries in memory (a cut chunk not yet on disk, or
 * a reader's copy of a head). */
struct lmem {
    atomic_int refs;
    size_t n;
    struct km_log_entry *e; /* lines point into `lines` */
    char *lines;
};

/* A chunk file pair (.dat and .idx). */
struct lfile {
    atomic_int refs;
    uint32_t seq;
    int dat, idx; /* open descriptors */
    uint64_t dat_size, idx_size;
    int64_t mint, maxt; /* over its chunks */
    uint64_t chunks;
    uint64_t raw; /* line bytes held */
    bool deleted;
};

struct lchunk {
    int64_t mint, maxt;
    uint32_t n;
    uint64_t raw;
    uint64_t first_pos, last_pos; /* WAL positions of its oldest and newest records */
    struct lmem *mem;             /* while not yet written */
    struct lfile *file;           /* once written */
    uint64_t off;
    uint32_t len, bloom_len, crc;
};

struct ldedup {
    uint64_t *tab; /* open addressing, 0 = empty */
    uint32_t tcap;
    struct {
        int64_t ts;
        uint64_t fp;
    } * ring;
    uint32_t rcap, rhead, rlen;
    bool loaded; /* fingerprints of its chunks on disk within the window are in */
};

struct lhead_entry {
    int64_t ts;
    uint32_t off, len;
};

struct lstream {
    uint64_t id;
    uint32_t idx; /* in the store's table */
    struct km_labels *labels;
    int64_t mint, maxt; /* of the data held (INT64_MAX/INT64_MIN when none) */
    int64_t newest;     /* newest timestamp ever accepted (the out-of-order window) */
    /* head */
    struct lhead_entry *he;
    size_t hn, hcap;
    struct km_buf hlines;
    int64_t hmint, hmaxt;
    uint64_t hfirst_pos, hlast_pos;
    int64_t hcreated_ms;
    /* chunks, oldest cut first */
    struct lchunk **ch;
    size_t nch, capch;
    uint64_t durable_pos;
    struct ldedup dd;
};

/* A growable list of stream indexes (postings). */
struct lpost {
    uint32_t *v;
    size_t n, cap;
};

/* String-keyed hash map to u32 indexes. */
struct lmap {
    uint64_t *h;
    uint32_t *v;
    size_t cap, n;
};

struct lname {
    char *name;
    struct lpost vals; /* indexes into the store's pair table */
};

struct lpair {
    uint32_t name; /* index into names */
    char *value;
    struct lpost ids; /* stream indexes, ascending */
};

struct km_logstore {
    struct km_logstore_opts o;
    char *dir;
    int lockfd;
    pthread_mutex_t mu;
    pthread_mutex_t wmu;
    pthread_cond_t cv;
    pthread_t bg;
    bool bg_running, stopping;

    /* streams and the label index */
    struct lstream **st;
    size_t nst, capst;
    struct lmap by_labels; /* labels hash -> stream index (chains by probing) */
    struct lmap by_id;     /* stream id -> stream index */
    uint64_t next_id;
    struct lname *names;
    size_t nnames, capnames;
    struct lmap name_map;
    struct lpair *pairs;
    size_t npairs, cappairs;
    struct lmap pair_map;
    int strm_fd;
    /* stream GC: streams dropped while a read set was open wait here until none is */
    struct lstream **grave;
    size_t ngrave, capgrave;
    uint64_t nsets; /* read sets open (lread.c) */
    int64_t last_gc_ms;

    /* WAL */
    int wal_fd;
    uint32_t wal_seq;
    uint32_t wal_seq_floor; /* above every chunk's wal_pos segment */
    uint64_t wal_size;
    uint32_t *wal_segs; /* on disk, ascending */
    size_t nwal_segs, capwal_segs;
    uint64_t wal_bytes;
    bool wal_dirty, strm_dirty;
    bool fsync_each;    /* opts.fsync_interval_ms < 0: sync before a push returns */
    int old_wal_fds[8]; /* rolled segments the store's thread syncs and closes */
    size_t nold_wal_fds;
    struct km_buf walbuf;

    /* chunk queue (cut, not yet written), FIFO */
    struct {
        struct lstream *s;
        struct lchunk *c;
    } * q;
    size_t qhead, qn, qcap;

    /* chunk files, ascending seq */
    struct lfile **files;
    size_t nfiles, capfiles;
    struct lfile *cur;
    uint32_t next_file_seq;

    /* counters */
    uint64_t entries_stored, bytes_stored, entries_dup, bytes_dup;
    uint64_t refused[KM_LOG_REFUSAL__N], refused_bytes[KM_LOG_REFUSAL__N];
    uint64_t chunks_written, chunk_bytes_written, chunk_raw_written;
    uint64_t retention_files, retention_chunks, retention_bytes;
    uint64_t retention_head_entries, streams_dropped;
    uint64_t head_bytes, wal_replayed;
    uint64_t write_errors;
};

int64_t km_ls_now_ms(struct km_logstore *s);

/* Map helpers (lread.c uses lookups). */
int km_lmap_find(const struct lmap *m, uint64_t h, uint32_t *from, uint32_t *out);

/* Pair lookup: index of name=value or -1. */
long km_ls_pair_find(struct km_logstore *s, const char *name, const char *value);
long km_ls_name_find(struct km_logstore *s, const char *name);

void km_lmem_unref(struct lmem *m);
void km_lfile_unref(struct lfile *f);

/* Read one written chunk: bloom (checked against the needles first, when given) and
 * frame, then decode. *skipped is set when the filter proves no line can match. */
int km_ls_read_chunk(struct lfile *f, uint64_t off, uint32_t len, uint32_t bloom_len, uint32_t crc,
                     uint32_t n, const char *const *needle, const size_t *needle_len,
                     size_t nneedle, bool *skipped, uint8_t **body, struct km_log_entry **e,
                     size_t *ne);

extern const struct km_log_source_ops km_logstore_source_ops;

#endif
