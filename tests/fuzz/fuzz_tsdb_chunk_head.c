/*
 * fuzz_tsdb_chunk_head — the head chunk decoder over an arbitrary header (the first 8
 * bytes of input: encoding, exponent, shift, sample count, bit length) and data (the
 * rest). Whatever decodes must encode again through km_hchunk_new/append and decode to
 * the same timestamps and value bits.
 */
#include "fuzz_common.h"
#include "tsdb/chunk_head.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct km_hchunk_hdr h = { 0 };
    int64_t t[KM_HCHUNK_MAX], t2[KM_HCHUNK_MAX];
    double v[KM_HCHUNK_MAX], v2[KM_HCHUNK_MAX];
    struct km_hchunk *c;
    char *buf;
    int n;

    if (size < 8)
        return 0;
    h.enc = data[0] % 4;
    h.exp = data[1] % 12;
    h.shift = data[2] % 70;
    h.n = (uint16_t)(1 + data[3] % KM_HCHUNK_MAX);
    h.nbits = (uint32_t)(data[4] | data[5] << 8) % (uint32_t)((size - 8) * 8 + 1);
    buf = fuzz_copy(data + 8, size - 8);
    if (!buf)
        return 0;
    n = km_hchunk_decode(&h, (const uint8_t *)buf, t, v);
    /* Only strictly increasing timestamps can be re-encoded (the head guarantees it). */
    for (int i = 1; n > 0 && i < n; i++) {
        if (t[i] <= t[i - 1])
            n = 0;
    }
    if (n > 0) {
        c = km_hchunk_new(t[0], v[0]);
        for (int i = 1; c && i < n; i++)
            c = km_hchunk_append(c, t[i], v[i]);
        if (c) {
            CHECK(km_hchunk_decode_chunk(c, t2, v2) == n);
            for (int i = 0; i < n; i++) {
                CHECK(t[i] == t2[i]);
                CHECK(memcmp(&v[i], &v2[i], sizeof(double)) == 0);
            }
            free(c);
        }
    }
    free(buf);
    return 0;
}
