/*
 * buf — a growable byte buffer with a hard cap and a sticky error.
 *
 * Appends never fail silently: the first failure (out of memory or past the cap) sets
 * `err`, later appends do nothing, and the owner checks km_buf_error() once at the end,
 * like ferror(). The data is always NUL-terminated when non-empty, so text users can
 * read it as a C string. One owner per buffer; not thread-safe.
 */
#ifndef KMON_COMMON_BUF_H
#define KMON_COMMON_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct km_buf {
    char *data; /* owned; NULL until the first append */
    size_t len;
    size_t cap;
    size_t max; /* hard cap on len */
    int err;    /* 0, KM_ENOMEM or KM_ELIMIT; sticky until km_buf_reset() */
};

/* Initialise an empty buffer that never grows past `max` bytes (0: KM_LIMIT_BUF_DEFAULT). */
void km_buf_init(struct km_buf *b, size_t max);

/* Free the memory; the buffer is empty and usable again. Accepts a zeroed buffer. */
void km_buf_fini(struct km_buf *b);

/* Empty the buffer and clear its error, keeping its memory for reuse. */
void km_buf_reset(struct km_buf *b);

/* Make room for `extra` more bytes (plus the terminating NUL). */
int km_buf_reserve(struct km_buf *b, size_t extra);

int km_buf_append(struct km_buf *b, const void *p, size_t n);
int km_buf_puts(struct km_buf *b, const char *s);
int km_buf_putc(struct km_buf *b, char c);
int km_buf_printf(struct km_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int km_buf_vprintf(struct km_buf *b, const char *fmt, va_list ap);

/* Append an unsigned/signed decimal integer (faster than printf on hot paths). */
int km_buf_put_u64(struct km_buf *b, unsigned long long v);
int km_buf_put_i64(struct km_buf *b, long long v);

/* The sticky error: 0 if every append so far succeeded. */
static inline int km_buf_error(const struct km_buf *b)
{
    return b->err;
}

/* The contents as a C string ("" when empty). Borrowed: valid until the next append. */
const char *km_buf_cstr(const struct km_buf *b);

/* Hand the memory to the caller (who frees it with free()); the buffer becomes empty. */
char *km_buf_detach(struct km_buf *b, size_t *len);

#endif
