/*
 * lcodec — the log store's byte formats (FORMAT.md): varints, framed records (WAL
 * segments and the streams file), chunk index entries, chunk bodies (timestamps apart
 * from lines, zstd-compressed) and the per-chunk trigram filter. Pure functions over
 * buffers, so the fuzz targets and `kmon logs inspect` use exactly what the store uses.
 * Every decoder treats its input as hostile: a bad input gives KM_ECORRUPT, never a
 * read past the end or an unbounded allocation. Thread-safe.
 */
#ifndef KMON_LOGS_LCODEC_H
#define KMON_LOGS_LCODEC_H

#include "common/buf.h"
#include "logs/logtypes.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* File magics: 4 bytes, then a u32 format version (1). */
#define KM_LC_FILE_HEADER 8
#define KM_LC_MAGIC_WAL   "KLW1"
#define KM_LC_MAGIC_STRM  "KLS1"
#define KM_LC_MAGIC_DAT   "KLD1"
#define KM_LC_MAGIC_IDX   "KLI1"
#define KM_LC_VERSION     1u

/* Framed record: u32 payload length, u32 checksum of type byte + payload, u8 type. */
#define KM_LC_REC_HEADER  9
#define KM_LC_REC_MAX     (64u * 1024 * 1024)
#define KM_LC_REC_ENTRIES 1 /* WAL: one stream's entries */
#define KM_LC_REC_STREAM  2 /* streams file: a stream's id and labels */
#define KM_LC_REC_NEXT_ID 3 /* streams file: uvarint; every id below it was once taken */

/* A chunk index entry is fixed-size. */
#define KM_LC_IDX_ENTRY 72

/* Largest decompressed chunk body a decoder accepts. */
#define KM_LC_BODY_MAX (256u * 1024 * 1024)
/* Largest entry count in one chunk. */
#define KM_LC_CHUNK_ENTRIES_MAX (16u * 1024 * 1024)

/* Bloom filter sizes, in bytes (powers of two). */
#define KM_LC_BLOOM_MIN 64
#define KM_LC_BLOOM_MAX 8192

size_t km_lc_put_uvarint(uint8_t *p, uint64_t v); /* p has room for 10 bytes */
int km_lc_get_uvarint(const uint8_t **p, const uint8_t *end, uint64_t *v);
int km_lc_get_varint(const uint8_t **p, const uint8_t *end, int64_t *v);
void km_lc_put_u32(uint8_t *p, uint32_t v);
void km_lc_put_u64(uint8_t *p, uint64_t v);
uint32_t km_lc_get_u32(const uint8_t *p);
uint64_t km_lc_get_u64(const uint8_t *p);

/* Low 32 bits of XXH3-64 over the type byte and the payload. */
uint32_t km_lc_rec_checksum(uint8_t type, const void *payload, size_t len);
uint32_t km_lc_checksum(const void *p, size_t len);

/* One framed record at the start of [p, end): 1 with *type, *payload, *len, *total set;
 * 0 when the bytes end before the record does (a torn tail); KM_ECORRUPT when the
 * length is impossible or the checksum fails. */
int km_lc_rec_next(const uint8_t *p, const uint8_t *end, uint8_t *type, const uint8_t **payload,
                   uint32_t *len, size_t *total);

/* Encode a record header for a payload into hdr[KM_LC_REC_HEADER]. */
void km_lc_rec_header(uint8_t *hdr, uint8_t type, const void *payload, uint32_t len);

/* WAL entries payload. Encode appends to b. Decode calls fn per entry (lines point into
 * the payload); fn returning non-zero stops with that value. */
void km_lc_wal_encode(struct km_buf *b, uint64_t stream_id, const struct km_log_entry *e, size_t n);
typedef int (*km_lc_entry_fn)(void *ud, uint64_t stream_id, const struct km_log_entry *e);
int km_lc_wal_decode(const uint8_t *p, size_t len, km_lc_entry_fn fn, void *ud);

/* Streams file payload: the id and sorted labels. Decode gives labels in *out (new;
 * km_labels_destroy()) checked with km_labels_check(). */
void km_lc_stream_encode(struct km_buf *b, uint64_t id, const struct km_labels *l);
int km_lc_stream_decode(const uint8_t *p, size_t len, uint64_t *id, struct km_labels **out);

/* A chunk index entry. */
struct km_lc_idx {
    uint64_t stream_id;
    int64_t mint, maxt;
    uint32_t entries;
    uint32_t bloom_len;
    uint64_t raw_bytes; /* sum of line lengths */
    uint64_t offset;    /* in the .dat file */
    uint32_t length;    /* bloom + zstd frame */
    uint32_t crc;       /* checksum of those bytes */
    uint64_t wal_pos;   /* the stream's newest WAL record this chunk holds */
};
void km_lc_idx_encode(uint8_t *p, const struct km_lc_idx *x);
/* KM_ECORRUPT when the entry's checksum or fields are impossible. */
int km_lc_idx_decode(const uint8_t *p, struct km_lc_idx *x);

/* Chunk body from entries sorted by time: appended to b (uncompressed). */
void km_lc_body_encode(struct km_buf *b, const struct km_log_entry *e, size_t n);
/* Parse a body: *out is a new array of n entries whose lines point into body (free()).
 * `want_n` (or 0 for any) must match the count. */
int km_lc_body_decode(const uint8_t *body, size_t len, size_t want_n, struct km_log_entry **out,
                      size_t *n);
/* Decompress a zstd frame of at most `max` bytes: *out new (free()). */
int km_lc_unzstd(const void *src, size_t len, size_t max, uint8_t **out, size_t *out_len);

/* Trigram bloom filter: its size for a chunk of raw bytes, filling, and testing. */
uint32_t km_lc_bloom_size(uint64_t raw_bytes);
void km_lc_bloom_add(uint8_t *bloom, uint32_t size, const char *s, size_t len);
/* False when some trigram of the needle is absent: no line of the chunk contains it.
 * Needles under 3 bytes are always possible. */
bool km_lc_bloom_maybe(const uint8_t *bloom, uint32_t size, const char *needle, size_t len);

#endif
