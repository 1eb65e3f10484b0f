/*
 * fuzz_tsdb_chunk_block — km_bchunk_decode() over arbitrary bytes. Whatever decodes
 * must encode again and decode to the same timestamps and value bits (round trip).
 */
#include "fuzz_common.h"
#include "tsdb/chunk_block.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct km_samples a = { 0 }, b = { 0 };
    struct km_buf enc;
    char *buf = fuzz_copy(data, size);
    long used;

    if (!buf)
        return 0;
    used = km_bchunk_decode((const uint8_t *)buf, size, &a, 1u << 16);
    if (used > 0) {
        CHECK((size_t)used <= size);
        km_buf_init(&enc, 0);
        km_bchunk_encode(&enc, a.t, a.v, a.n);
        CHECK(km_buf_error(&enc) == 0);
        CHECK(km_bchunk_decode((const uint8_t *)enc.data, enc.len, &b, 1u << 16) == (long)enc.len);
        CHECK(b.n == a.n);
        for (size_t i = 0; i < a.n; i++) {
            CHECK(a.t[i] == b.t[i]);
            CHECK(memcmp(&a.v[i], &b.v[i], sizeof(double)) == 0);
        }
        km_buf_fini(&enc);
    }
    km_samples_fini(&a);
    km_samples_fini(&b);
    free(buf);
    return 0;
}
