/*
 * fuzz_ch_rowbin — the ClickHouse store's streaming RowBinary decoder (src/chstore/rowbin.c)
 * over arbitrary bytes: the first byte picks the columns (the read side's row shapes and
 * one of each type), the second the chunk size; the rest is the answer, decoded once
 * whole and once in chunks. Both must agree (failing or not, rows, what the rows hold), every
 * string must lie inside the answer, and nothing may crash, hang or leak.
 */
#include "chstore/rowbin.h"
#include "common/err.h"
#include "fuzz_common.h"

#include <xxhash.h>

static const enum km_ch_col shapes[][5] = {
    { KM_CH_U64, KM_CH_I64, KM_CH_F64 },                         /* samples */
    { KM_CH_U64, KM_CH_STR, KM_CH_STRS, KM_CH_STRS },            /* series */
    { KM_CH_STR },                                               /* label names, values */
    { KM_CH_STR, KM_CH_U64 },                                    /* cardinality */
    { KM_CH_STRS, KM_CH_F64, KM_CH_STR, KM_CH_I64, KM_CH_STRS }, /* every type */
};
static const size_t shape_cols[] = { 3, 4, 1, 2, 5 };

struct run {
    const enum km_ch_col *cols;
    size_t ncols;
    uint64_t hash; /* over every value of every row */
    uint64_t rows;
};

static int on_row(void *ud, const struct km_ch_val *row)
{
    struct run *r = ud;

    for (size_t c = 0; c < r->ncols; c++) {
        switch (r->cols[c]) {
        case KM_CH_U64:
        case KM_CH_I64:
        case KM_CH_F64:
            r->hash = XXH64(&row[c].u, 8, r->hash);
            break;
        case KM_CH_STR:
            r->hash = XXH64(row[c].s.p, row[c].s.n, r->hash + 1);
            break;
        case KM_CH_STRS:
            r->hash = XXH64(&row[c].a.n, sizeof(row[c].a.n), r->hash + 2);
            for (size_t i = 0; i < row[c].a.n; i++) {
                r->hash = XXH64(row[c].a.v[i].p, row[c].a.v[i].n, r->hash + 3);
            }
            break;
        }
    }
    r->rows++;
    return 0;
}

/* Decode data[0..n) in chunks of `chunk` bytes (each a copy of its own, so a string
 * pointing past its chunk is caught by AddressSanitizer). */
static int decode(struct run *r, const uint8_t *data, size_t n, size_t chunk)
{
    struct km_ch_rowbin d;
    int rc = km_ch_rowbin_init(&d, r->cols, r->ncols, on_row, r);

    for (size_t at = 0; rc == 0 && at < n; at += chunk) {
        size_t k = n - at < chunk ? n - at : chunk;
        char *copy = fuzz_copy(data + at, k);

        if (!copy) {
            rc = KM_ENOMEM;
            break;
        }
        rc = km_ch_rowbin_feed(&d, copy, k);
        free(copy);
    }
    if (rc == 0)
        rc = km_ch_rowbin_finish(&d);
    CHECK(d.rows == r->rows);
    km_ch_rowbin_fini(&d);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct run whole = { 0 }, chunked = { 0 };
    size_t shape, chunk;
    int rc1, rc2;

    if (size < 2 || size > 1 << 16)
        return 0;
    shape = data[0] % (sizeof(shape_cols) / sizeof(shape_cols[0]));
    chunk = (size_t)data[1] % 17 + 1;
    whole.cols = chunked.cols = shapes[shape];
    whole.ncols = chunked.ncols = shape_cols[shape];
    rc1 = decode(&whole, data + 2, size - 2, size);
    rc2 = decode(&chunked, data + 2, size - 2, chunk);
    CHECK(rc1 == 0 || rc1 == KM_ECORRUPT || rc1 == KM_ELIMIT);
    CHECK(rc2 == 0 || rc2 == KM_ECORRUPT || rc2 == KM_ELIMIT || rc2 == KM_ENOMEM);
    /* Both fail or neither (a cut row may be found too long from its lengths before the
     * bytes that make it corrupt come: the codes may differ), after the same rows. */
    CHECK((rc1 == 0) == (rc2 == 0) || rc1 == KM_ENOMEM || rc2 == KM_ENOMEM);
    CHECK(whole.rows == chunked.rows);
    CHECK(whole.hash == chunked.hash);
    return 0;
}
