/*
 * block_format — constants and section framing shared by the block writer and reader.
 * The full layout is in FORMAT.md ("Blocks"); in short:
 *
 *   chunks  "KMC1" u32 version | frames | frame table | footer
 *   index   "KMI1" u32 version | symbol pages | series pages | postings pages |
 *           symbol table | series table | postings table | footer
 *
 * Every page, frame and table is a *section*: u32 raw length, u32 stored length, u32
 * checksum of the stored bytes, then the bytes, zstd-compressed. Footers are fixed-size
 * and carry their own checksum, so a truncated or damaged file is detected before
 * anything in it is trusted.
 */
#ifndef KMON_TSDB_BLOCK_FORMAT_H
#define KMON_TSDB_BLOCK_FORMAT_H

#include "bits.h"
#include "common/buf.h"

#include <stddef.h>
#include <stdint.h>

#define KM_BLK_CHUNKS_MAGIC "KMC1"
#define KM_BLK_INDEX_MAGIC  "KMI1"
#define KM_BLK_FOOTER_MAGIC "KMBF"
#define KM_BLK_VERSION      1

#define KM_BLK_SECTION_HDR 12
#define KM_BLK_MAX_SECTION (64u * 1024 * 1024) /* raw bytes of one page, frame or table */

#define KM_BLK_FRAME_RAW       (256u * 1024) /* chunk data per zstd frame */
#define KM_BLK_SYMS_PER_PAGE   1024
#define KM_BLK_SERIES_PER_PAGE 128
#define KM_BLK_POSTINGS_PAGE   (16u * 1024)
#define KM_BLK_CHUNK_SAMPLES   4096 /* at most this many samples per chunk */

/* chunks footer: u64 frame table offset, u32 frames, u32 magic, u32 checksum (24 bytes) */
#define KM_BLK_CHUNKS_FOOTER 24
/* index footer: u64 symtab, u64 seriestab, u64 posttab offsets, u32 nsymbols, u32 nseries,
 * u32 npairs, u32 magic, u32 checksum (44 bytes) */
#define KM_BLK_INDEX_FOOTER 44

uint32_t km_blk_checksum(const void *p, size_t n);

/* Compress raw[0..n) into a section appended to out (level: zstd level). */
int km_blk_section_put(struct km_buf *out, const void *raw, size_t n, int level);

/* Decompress the section at file[off..] (file is file_len bytes) into out (replacing its
 * contents). Returns the section's total size on disk, or a negative code
 * (KM_ECORRUPT for anything out of bounds or failing its checksum). */
long km_blk_section_get(const uint8_t *file, size_t file_len, uint64_t off, struct km_buf *out);

#endif
