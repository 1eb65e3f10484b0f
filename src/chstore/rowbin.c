/*
 * rowbin — the streaming RowBinary decoder (see rowbin.h).
 *
 * Rows are decoded where the chunk lies; only a row that a chunk's end cuts is copied,
 * into the carry buffer, and only as far as it is known to reach: decoding stops at the
 * first missing byte and says how many bytes the row needs at least (what it read, plus
 * the rest of the item it was reading, plus one byte per array element and string still
 * to come and eight per number), and the carry is decoded again once it holds that many.
 * So the carry never holds more than one row, and a long row is decoded again only as
 * often as a length or count in it was cut.
 */
#include "chstore/rowbin.h"

#include "common/array.h"
#include "common/err.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Bytes a column takes at least. */
static size_t col_min(enum km_ch_col c)
{
    return c == KM_CH_STR || c == KM_CH_STRS ? 1 : 8;
}

/* Bytes the columns after `c` take at least. */
static size_t rest_min(const struct km_ch_rowbin *d, size_t c)
{
    size_t n = 0;

    for (size_t k = c + 1; k < d->ncols; k++)
        n += col_min(d->cols[k]);
    return n;
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* A LEB128 varint at p[*off]: 1 (read, *off moved past it), 0 (cut short) or KM_ECORRUPT. */
static int read_varint(const uint8_t *p, size_t len, size_t *off, uint64_t *v)
{
    uint64_t x = 0;

    for (unsigned i = 0; i < 10; i++) {
        uint8_t b;

        if (*off + i >= len)
            return 0;
        b = p[*off + i];
        if (i == 9 && b > 1)
            return km_err_set(KM_ECORRUPT,
                              "ClickHouse's RowBinary answer holds a length longer than 64 bits");
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *off += i + 1;
            *v = x;
            return 1;
        }
    }
    return 0; /* not reached: the tenth byte has no continuation bit */
}

static int too_long(void)
{
    return km_err_set(KM_ELIMIT, "a row of ClickHouse's RowBinary answer is longer than %u MiB",
                      KM_CH_ROWBIN_MAX_ROW >> 20);
}

/* A String at p[*off]: 1 (read), 0 (cut short: *short_by more bytes at least from *off
 * on) or an error. */
static int read_str(const uint8_t *p, size_t len, size_t *off, struct km_ch_str *s,
                    size_t *short_by)
{
    size_t at = *off;
    uint64_t n = 0;
    int rc = read_varint(p, len, &at, &n);

    if (rc <= 0) {
        *short_by = len - *off + 1;
        return rc;
    }
    if (n > KM_CH_ROWBIN_MAX_ROW)
        return too_long();
    if (len - at < n) {
        *short_by = at - *off + (size_t)n;
        return 0;
    }
    s->p = (const char *)p + at;
    s->n = (size_t)n;
    *off = at + (size_t)n;
    return 1;
}

static int push_str(struct km_ch_rowbin *d, const struct km_ch_str *s)
{
    int rc = km_array_grow((void **)&d->strs, &d->strs_cap, d->nstrs + 1, sizeof(*d->strs), 64,
                           "decoding a RowBinary array");

    if (rc == 0)
        d->strs[d->nstrs++] = *s;
    return rc;
}

/* An Array(String) at p[*off] into column c: as read_str(). */
static int read_strs(struct km_ch_rowbin *d, size_t c, const uint8_t *p, size_t len, size_t *off,
                     size_t *short_by)
{
    size_t at = *off;
    uint64_t count = 0;
    int rc = read_varint(p, len, &at, &count);

    if (rc <= 0) {
        *short_by = len - *off + 1;
        return rc;
    }
    if (count > KM_CH_ROWBIN_MAX_ROW)
        return too_long();
    d->arr_at[c] = d->nstrs;
    d->row[c].a.n = (size_t)count;
    for (uint64_t i = 0; i < count; i++) {
        struct km_ch_str s;
        size_t sb = 0;

        rc = read_str(p, len, &at, &s, &sb);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            *short_by = at - *off + sb + (size_t)(count - i - 1);
            return 0;
        }
        rc = push_str(d, &s);
        if (rc)
            return rc;
    }
    *off = at;
    return 1;
}

/* One row from p[0..len): 1 with *used, 0 with *need (the bytes it takes at least) or an
 * error. */
static int decode_row(struct km_ch_rowbin *d, const uint8_t *p, size_t len, size_t *used,
                      size_t *need)
{
    size_t off = 0;

    d->nstrs = 0;
    for (size_t c = 0; c < d->ncols; c++) {
        size_t short_by = 0;
        int rc = 1;

        switch (d->cols[c]) {
        case KM_CH_U64:
        case KM_CH_I64:
        case KM_CH_F64:
            if (len - off < 8) {
                short_by = 8;
                rc = 0;
                break;
            }
            d->row[c].u = le64(p + off);
            off += 8;
            break;
        case KM_CH_STR:
            rc = read_str(p, len, &off, &d->row[c].s, &short_by);
            break;
        case KM_CH_STRS:
            rc = read_strs(d, c, p, len, &off, &short_by);
            break;
        }
        if (rc < 0)
            return rc;
        if (rc == 0) {
            *need = off + short_by + rest_min(d, c);
            return *need > KM_CH_ROWBIN_MAX_ROW ? too_long() : 0;
        }
        if (off > KM_CH_ROWBIN_MAX_ROW)
            return too_long();
    }
    /* Arrays point into strs only now that it no longer moves. */
    for (size_t c = 0; c < d->ncols; c++) {
        if (d->cols[c] == KM_CH_STRS)
            d->row[c].a.v = d->row[c].a.n ? d->strs + d->arr_at[c] : NULL;
    }
    *used = off;
    return 1;
}

int km_ch_rowbin_init(struct km_ch_rowbin *d, const enum km_ch_col *cols, size_t ncols,
                      km_ch_row_fn fn, void *ud)
{
    memset(d, 0, sizeof(*d));
    if (ncols == 0)
        return km_err_set(KM_EINVAL, "a RowBinary row needs a column");
    d->cols = cols;
    d->ncols = ncols;
    d->fn = fn;
    d->ud = ud;
    km_buf_init(&d->carry, KM_CH_ROWBIN_MAX_ROW);
    d->row = calloc(ncols, sizeof(*d->row));
    d->arr_at = calloc(ncols, sizeof(*d->arr_at));
    if (!d->row || !d->arr_at) {
        km_ch_rowbin_fini(d);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    return 0;
}

static int fail(struct km_ch_rowbin *d, int rc)
{
    d->err = rc;
    return rc;
}

static int emit(struct km_ch_rowbin *d)
{
    int rc;

    d->rows++;
    rc = d->fn(d->ud, d->row);
    return rc ? fail(d, rc) : 0;
}

/* Decode the carried row once it holds what it needs, from the next bytes of p. */
static int feed_carry(struct km_ch_rowbin *d, const uint8_t **p, size_t *n)
{
    size_t k = d->need - d->carry.len, used, need;
    int rc;

    if (k > *n)
        k = *n;
    km_buf_append(&d->carry, *p, k);
    if (km_buf_error(&d->carry))
        return fail(d, km_buf_error(&d->carry) == KM_ENOMEM ? km_err_set(KM_ENOMEM, "out of memory")
                                                            : too_long());
    *p += k;
    *n -= k;
    if (d->carry.len < d->need)
        return 0;
    rc = decode_row(d, (const uint8_t *)d->carry.data, d->carry.len, &used, &need);
    if (rc < 0)
        return fail(d, rc);
    if (rc == 0) {
        d->need = need;
        return 0;
    }
    /* The carry never goes past the row's known length, so the row is all of it. */
    rc = emit(d);
    km_buf_reset(&d->carry);
    return rc;
}

int km_ch_rowbin_feed(void *ud, const void *data, size_t n)
{
    struct km_ch_rowbin *d = ud;
    const uint8_t *p = data;
    size_t off = 0, used, need = 0;
    int rc;

    if (d->err)
        return d->err;
    d->bytes += n;
    while (n > 0 && d->carry.len > 0) {
        rc = feed_carry(d, &p, &n);
        if (rc)
            return rc;
    }
    while (off < n) {
        rc = decode_row(d, p + off, n - off, &used, &need);
        if (rc < 0)
            return fail(d, rc);
        if (rc == 0)
            break;
        off += used;
        rc = emit(d);
        if (rc)
            return rc;
    }
    if (off < n) {
        /* A row cut by the chunk's end: shorter than what it needs, so it fits. */
        if (km_buf_append(&d->carry, p + off, n - off) != 0)
            return fail(d, km_err_set(KM_ENOMEM, "out of memory"));
        d->need = need;
    }
    return 0;
}

int km_ch_rowbin_finish(struct km_ch_rowbin *d)
{
    if (d->err)
        return d->err;
    if (d->carry.len > 0) {
        size_t used, need;
        int rc = decode_row(d, (const uint8_t *)d->carry.data, d->carry.len, &used, &need);

        /* What the carried bytes already say is wrong, as if they had come whole. */
        if (rc < 0)
            return fail(d, rc);
        return fail(d, km_err_set(KM_ECORRUPT,
                                  "ClickHouse's RowBinary answer ends inside a row (%zu bytes "
                                  "of it came)",
                                  d->carry.len));
    }
    return 0;
}

void km_ch_rowbin_fini(struct km_ch_rowbin *d)
{
    km_buf_fini(&d->carry);
    free(d->row);
    free(d->arr_at);
    free(d->strs);
    memset(d, 0, sizeof(*d));
}

/* ---- encoding ------------------------------------------------------------------------- */

void km_ch_rb_varint(struct km_buf *b, uint64_t v)
{
    unsigned char tmp[10];
    size_t n = 0;

    do {
        tmp[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v)
            tmp[n] |= 0x80;
        n++;
    } while (v);
    km_buf_append(b, tmp, n);
}

void km_ch_rb_u64(struct km_buf *b, uint64_t v)
{
    unsigned char tmp[8];

    for (int i = 0; i < 8; i++)
        tmp[i] = (unsigned char)(v >> (8 * i));
    km_buf_append(b, tmp, 8);
}

void km_ch_rb_bytes(struct km_buf *b, const void *p, size_t n)
{
    km_ch_rb_varint(b, n);
    km_buf_append(b, p, n);
}

void km_ch_rb_string(struct km_buf *b, const char *s)
{
    km_ch_rb_bytes(b, s, strlen(s));
}
