/*
 * block_format — section framing and checksums of block files (see block_format.h).
 */
#include "block_format.h"

#include "common/err.h"

#define XXH_INLINE_ALL
#include <xxhash.h>
#include <zstd.h>

uint32_t km_blk_checksum(const void *p, size_t n)
{
    return (uint32_t)XXH3_64bits(p, n);
}

int km_blk_section_put(struct km_buf *out, const void *raw, size_t n, int level)
{
    size_t bound = ZSTD_compressBound(n), start = out->len, got;
    int rc;

    if (n > KM_BLK_MAX_SECTION)
        return km_err_set(KM_ELIMIT, "block section of %zu bytes is too large", n);
    rc = km_buf_reserve(out, KM_BLK_SECTION_HDR + bound);
    if (rc)
        return rc;
    got = ZSTD_compress(out->data + start + KM_BLK_SECTION_HDR, bound, raw, n, level);
    if (ZSTD_isError(got))
        return km_err_set(KM_EIO, "zstd: %s", ZSTD_getErrorName(got));
    km_le32((uint8_t *)out->data + start, (uint32_t)n);
    km_le32((uint8_t *)out->data + start + 4, (uint32_t)got);
    km_le32((uint8_t *)out->data + start + 8,
            km_blk_checksum(out->data + start + KM_BLK_SECTION_HDR, got));
    out->len = start + KM_BLK_SECTION_HDR + got;
    out->data[out->len] = '\0';
    return 0;
}

long km_blk_section_get(const uint8_t *file, size_t file_len, uint64_t off, struct km_buf *out)
{
    uint32_t raw, stored, sum;
    size_t got;
    int rc;

    if (off > file_len || file_len - off < KM_BLK_SECTION_HDR)
        return km_err_set(KM_ECORRUPT, "the section header at byte %llu is out of the file",
                          (unsigned long long)off);
    raw = km_get_le32(file + off);
    stored = km_get_le32(file + off + 4);
    sum = km_get_le32(file + off + 8);
    if (raw > KM_BLK_MAX_SECTION || stored > file_len - off - KM_BLK_SECTION_HDR)
        return km_err_set(KM_ECORRUPT, "the section at byte %llu has impossible lengths",
                          (unsigned long long)off);
    if (km_blk_checksum(file + off + KM_BLK_SECTION_HDR, stored) != sum)
        return km_err_set(KM_ECORRUPT, "the section at byte %llu fails its checksum",
                          (unsigned long long)off);
    km_buf_reset(out);
    rc = km_buf_reserve(out, raw);
    if (rc)
        return rc;
    got = ZSTD_decompress(out->data, raw + 1, file + off + KM_BLK_SECTION_HDR, stored);
    if (ZSTD_isError(got) || got != raw)
        return km_err_set(KM_ECORRUPT, "the section at byte %llu does not decompress",
                          (unsigned long long)off);
    out->len = raw;
    out->data[raw] = '\0';
    return (long)(KM_BLK_SECTION_HDR + stored);
}
