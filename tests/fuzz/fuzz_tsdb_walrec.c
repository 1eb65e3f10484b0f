/*
 * fuzz_tsdb_walrec — the WAL record payload decoders over arbitrary bytes (the first
 * byte picks series or samples). Whatever decodes as series must round-trip through
 * the encoder.
 */
#include "fuzz_common.h"
#include "tsdb/wal_records.h"

struct ctx {
    struct km_buf re;
    uint64_t count;
};

static int on_series(void *ud, uint64_t ref, const struct km_label *l, size_t n)
{
    struct ctx *c = ud;

    km_walrec_series_add(&c->re, ref, l, n);
    c->count++;
    return 0;
}

static int on_sample(void *ud, uint64_t ref, int64_t t, double v)
{
    struct ctx *c = ud;

    (void)ref;
    (void)t;
    (void)v;
    c->count++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ctx c = { .count = 0 };
    char *buf;

    if (size < 1)
        return 0;
    buf = fuzz_copy(data + 1, size - 1);
    if (!buf)
        return 0;
    km_buf_init(&c.re, 0);
    if (data[0] & 1) {
        km_walrec_series_begin(&c.re);
        if (km_walrec_decode_series((const uint8_t *)buf, size - 1, on_series, &c) == 0) {
            struct ctx again = { .count = 0 };

            km_walrec_finish(&c.re, c.count);
            km_buf_init(&again.re, 0);
            CHECK(km_walrec_decode_series((const uint8_t *)c.re.data, c.re.len, on_series,
                                          &again) == 0);
            CHECK(again.count == c.count);
            km_buf_fini(&again.re);
        }
    } else {
        km_walrec_decode_samples((const uint8_t *)buf, size - 1, on_sample, &c);
    }
    km_buf_fini(&c.re);
    free(buf);
    return 0;
}
