/*
 * fuzz_tsdb_block — opening and reading a block from arbitrary files. Input: u32 length
 * of the index, the index bytes, then the chunk file bytes. meta.json is written to
 * agree with the index footer's series count (when there is one), so damaged indexes
 * and chunk files are reached rather than stopped at the metadata check. An opened
 * block is verified (every page, frame and chunk) and queried.
 */
#include "fuzz_common.h"
#include "tsdb/block.h"
#include "tsdb/block_format.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static int write_file(const char *name, const void *p, size_t n)
{
    char path[128];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    if (n && write(fd, p, n) != (ssize_t)n) {
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

static int sink(void *ud, const char *s)
{
    (void)ud;
    CHECK(s != NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct km_block *b;
    uint32_t ilen;
    uint32_t nseries = 0;
    char meta[256];

    if (size < 4)
        return 0;
    if (!dir[0])
        snprintf(dir, sizeof(dir), "%s", fuzz_dir("block"));
    ilen = km_get_le32(data);
    if (ilen > size - 4)
        ilen = (uint32_t)(size - 4);
    if (ilen >= KM_BLK_INDEX_FOOTER)
        nseries = km_get_le32(data + 4 + ilen - KM_BLK_INDEX_FOOTER + 28);
    snprintf(meta, sizeof(meta),
             "{\"version\":1,\"id\":\"fuzz\",\"mint\":0,\"maxt\":100000000000,"
             "\"stats\":{\"series\":%u,\"samples\":0,\"chunks\":0},"
             "\"compaction\":{\"level\":1,\"parents\":[]}}",
             nseries);
    if (write_file("index", data + 4, ilen) ||
        write_file("chunks", data + 4 + ilen, size - 4 - ilen) ||
        write_file("meta.json", meta, strlen(meta)))
        return 0;
    if (km_block_open(&b, dir) == 0) {
        struct km_matcher *m[2];
        struct km_postings ids = { 0 };
        struct km_block_reader r;
        struct km_samples s = { 0 };
        uint64_t seen;

        km_block_verify(b, &seen);
        km_matcher_create(&m[0], KM_MATCH_RE, "__name__", ".+");
        km_matcher_create(&m[1], KM_MATCH_NEQ, "job", "x");
        if (km_block_postings(b, m, 2, &ids) == 0) {
            km_block_reader_init(&r, b);
            for (size_t i = 0; i < ids.n && i < 1000; i++) {
                struct km_block_series ser;

                if (km_block_read_series(&r, ids.v[i], &ser) == 0) {
                    s.n = 0;
                    km_block_read_samples(&r, &ser, INT64_MIN, INT64_MAX, &s);
                    km_block_series_fini(&ser);
                }
            }
            km_block_reader_fini(&r);
            km_block_label_names(b, &ids, sink, NULL);
            km_block_label_values(b, "job", &ids, sink, NULL);
        }
        km_postings_fini(&ids);
        km_samples_fini(&s);
        km_matcher_destroy(m[0]);
        km_matcher_destroy(m[1]);
        km_block_release(b);
    }
    return 0;
}
