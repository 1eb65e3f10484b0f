/*
 * rowbin — a streaming decoder of ClickHouse's RowBinary output (FORMAT RowBinary): the
 * answer's bytes are fed in chunks cut anywhere (as libcurl hands them over), and each
 * complete row goes to a callback with its values decoded after the columns the caller
 * declared:
 *
 *     UInt64, Int64, Float64   8 bytes, little-endian
 *     String                   LEB128 varint length, then that many bytes
 *     Array(String)            LEB128 varint count, then that many Strings
 *
 * A row split across chunks is gathered in a carry buffer holding that row only, capped
 * at KM_CH_ROWBIN_MAX_ROW bytes (beyond: KM_ELIMIT). A varint longer than 64 bits is
 * KM_ECORRUPT; an answer that ends inside a row is KM_ECORRUPT at km_ch_rowbin_finish().
 * One owner; not thread-safe. The encoders at the end write the same format (the
 * writer's rows).
 */
#ifndef KMON_CHSTORE_ROWBIN_H
#define KMON_CHSTORE_ROWBIN_H

#include "common/buf.h"

#include <stddef.h>
#include <stdint.h>

#define KM_CH_ROWBIN_MAX_ROW (64u << 20) /* bytes of one row */

enum km_ch_col {
    KM_CH_U64,
    KM_CH_I64,
    KM_CH_F64,
    KM_CH_STR,
    KM_CH_STRS, /* Array(String) */
};

/* A string of the answer (not NUL-terminated; may hold any byte). */
struct km_ch_str {
    const char *p;
    size_t n;
};

/* One column's value; which member is set follows the column's type. Strings and arrays
 * are borrowed: valid during the callback only. */
struct km_ch_val {
    union {
        uint64_t u;
        int64_t i;
        double f;
        struct km_ch_str s;
        struct {
            const struct km_ch_str *v;
            size_t n;
        } a;
    };
};

/* A decoded row (ncols values); return 0, or a negative code to stop the decoding (the
 * feed that called it returns it). */
typedef int (*km_ch_row_fn)(void *ud, const struct km_ch_val *row);

struct km_ch_rowbin {
    const enum km_ch_col *cols;
    size_t ncols;
    km_ch_row_fn fn;
    void *ud;
    struct km_ch_val *row;  /* ncols values of the row being handed over */
    size_t *arr_at;         /* per column: where its array starts in strs */
    struct km_ch_str *strs; /* the strings of the row's arrays */
    size_t nstrs, strs_cap;
    struct km_buf carry; /* the start of a row that a chunk cut */
    size_t need;         /* bytes the carried row needs at least before decoding it again */
    int err;             /* sticky */
    uint64_t rows, bytes;
};

/* Initialise a decoder of rows of `ncols` columns of the types `cols` (borrowed: kept
 * until fini), each handed to fn(ud, row). Returns 0 or KM_ENOMEM. */
int km_ch_rowbin_init(struct km_ch_rowbin *d, const enum km_ch_col *cols, size_t ncols,
                      km_ch_row_fn fn, void *ud);

/* Decode n more bytes of the answer (`ud` is the decoder, so this is a km_ch_sink_fn).
 * Returns 0, the callback's error, KM_ECORRUPT, KM_ELIMIT or KM_ENOMEM; after an error
 * every later call returns it again. */
int km_ch_rowbin_feed(void *ud, const void *data, size_t n);

/* The answer is over: 0 when it ended on a row boundary, else KM_ECORRUPT. */
int km_ch_rowbin_finish(struct km_ch_rowbin *d);

/* Free the decoder's memory. Accepts a zeroed decoder. */
void km_ch_rowbin_fini(struct km_ch_rowbin *d);

/* Encoding rows to insert (FORMAT RowBinary), appended to b (its sticky error says
 * whether they fit): a LEB128 varint, a UInt64/Int64 (as its two's complement), a String
 * of n bytes, a NUL-terminated String. */
void km_ch_rb_varint(struct km_buf *b, uint64_t v);
void km_ch_rb_u64(struct km_buf *b, uint64_t v);
void km_ch_rb_bytes(struct km_buf *b, const void *p, size_t n);
void km_ch_rb_string(struct km_buf *b, const char *s);

#endif
