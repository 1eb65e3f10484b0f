/*
 * buf — growable byte buffer with a hard cap (see buf.h). Growth doubles the capacity,
 * starting at 256 bytes, and never passes `max` (+1 for the NUL).
 */
#include "buf.h"

#include "err.h"
#include "limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void km_buf_init(struct km_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max ? max : KM_LIMIT_BUF_DEFAULT;
    b->err = 0;
}

void km_buf_fini(struct km_buf *b)
{
    size_t max = b->max;

    free(b->data);
    km_buf_init(b, max);
}

void km_buf_reset(struct km_buf *b)
{
    b->len = 0;
    b->err = 0;
    if (b->data)
        b->data[0] = '\0';
}

int km_buf_reserve(struct km_buf *b, size_t extra)
{
    size_t need, ncap;
    char *p;

    if (b->err)
        return b->err;
    if (b->max == 0)
        b->max = KM_LIMIT_BUF_DEFAULT;
    if (extra > b->max - b->len) {
        b->err = km_err_set(KM_ELIMIT, "buffer would exceed its limit of %zu bytes", b->max);
        return b->err;
    }
    need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    ncap = b->cap ? b->cap : 256;
    while (ncap < need)
        ncap *= 2;
    if (ncap > b->max + 1)
        ncap = b->max + 1;
    p = realloc(b->data, ncap);
    if (!p) {
        b->err = km_err_set(KM_ENOMEM, "out of memory growing a buffer to %zu bytes", ncap);
        return b->err;
    }
    b->data = p;
    b->cap = ncap;
    return 0;
}

int km_buf_append(struct km_buf *b, const void *p, size_t n)
{
    int rc = km_buf_reserve(b, n);

    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int km_buf_puts(struct km_buf *b, const char *s)
{
    return km_buf_append(b, s, strlen(s));
}

int km_buf_putc(struct km_buf *b, char c)
{
    int rc = km_buf_reserve(b, 1);

    if (rc)
        return rc;
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
    return 0;
}

int km_buf_vprintf(struct km_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n, rc;

    if (b->err)
        return b->err;
    va_copy(ap2, ap);
    n = vsnprintf(b->data ? b->data + b->len : NULL, b->data ? b->cap - b->len : 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        b->err = km_err_set(KM_EINVAL, "bad format string");
        return b->err;
    }
    if (b->data && (size_t)n < b->cap - b->len) {
        b->len += (size_t)n;
        return 0;
    }
    rc = km_buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int km_buf_printf(struct km_buf *b, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = km_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int km_buf_put_u64(struct km_buf *b, unsigned long long v)
{
    char tmp[24];
    size_t i = sizeof(tmp);

    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return km_buf_append(b, tmp + i, sizeof(tmp) - i);
}

int km_buf_put_i64(struct km_buf *b, long long v)
{
    if (v < 0) {
        int rc = km_buf_putc(b, '-');

        if (rc)
            return rc;
        return km_buf_put_u64(b, 0ull - (unsigned long long)v);
    }
    return km_buf_put_u64(b, (unsigned long long)v);
}

const char *km_buf_cstr(const struct km_buf *b)
{
    return b->data ? b->data : "";
}

char *km_buf_detach(struct km_buf *b, size_t *len)
{
    char *p = b->data;

    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->err = 0;
    return p;
}
