/*
 * jsonw — streaming JSON writer (see jsonw.h). `has_items` holds one bit per nesting
 * level telling whether a comma is due before the next element.
 */
#include "jsonw.h"

#include "err.h"
#include "numfmt.h"

#include <math.h>
#include <string.h>

#define KM_JSONW_MAX_DEPTH 63

void km_jsonw_init(struct km_jsonw *w, struct km_buf *b)
{
    w->b = b;
    w->depth = 0;
    w->has_items = 0;
    w->after_key = false;
}

/* Comma before a value, unless it follows a key or opens its container. */
static void before_value(struct km_jsonw *w)
{
    uint64_t bit = 1ull << w->depth;

    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->has_items & bit)
        km_buf_putc(w->b, ',');
    w->has_items |= bit;
}

static void open_container(struct km_jsonw *w, char c)
{
    before_value(w);
    if (w->depth >= KM_JSONW_MAX_DEPTH) {
        if (!w->b->err)
            w->b->err =
                km_err_set(KM_ELIMIT, "JSON nesting deeper than %d levels", KM_JSONW_MAX_DEPTH);
        return;
    }
    km_buf_putc(w->b, c);
    w->depth++;
    w->has_items &= ~(1ull << w->depth);
}

static void close_container(struct km_jsonw *w, char c)
{
    if (w->depth == 0)
        return;
    w->depth--;
    km_buf_putc(w->b, c);
}

void km_jsonw_obj_begin(struct km_jsonw *w)
{
    open_container(w, '{');
}

void km_jsonw_obj_end(struct km_jsonw *w)
{
    close_container(w, '}');
}

void km_jsonw_arr_begin(struct km_jsonw *w)
{
    open_container(w, '[');
}

void km_jsonw_arr_end(struct km_jsonw *w)
{
    close_container(w, ']');
}

void km_json_escape(struct km_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s, *end = p + n, *run = p;

    while (p < end) {
        unsigned char c = *p;
        size_t l;

        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            p++;
            continue;
        }
        if (c >= 0x80) {
            l = km_utf8_seq_len(p, (size_t)(end - p));
            if (l) {
                p += l;
                continue;
            }
        }
        km_buf_append(b, run, (size_t)(p - run));
        switch (c) {
        case '"':
            km_buf_append(b, "\\\"", 2);
            break;
        case '\\':
            km_buf_append(b, "\\\\", 2);
            break;
        case '\n':
            km_buf_append(b, "\\n", 2);
            break;
        case '\r':
            km_buf_append(b, "\\r", 2);
            break;
        case '\t':
            km_buf_append(b, "\\t", 2);
            break;
        default:
            if (c < 0x20) {
                char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

                km_buf_append(b, u, 6);
            } else {
                km_buf_append(b, "\\ufffd", 6); /* invalid UTF-8 byte */
            }
        }
        p++;
        run = p;
    }
    km_buf_append(b, run, (size_t)(p - run));
}

void km_jsonw_key(struct km_jsonw *w, const char *key)
{
    before_value(w);
    km_buf_putc(w->b, '"');
    km_json_escape(w->b, key, strlen(key));
    km_buf_append(w->b, "\":", 2);
    w->after_key = true;
}

void km_jsonw_raw(struct km_jsonw *w, const char *s, size_t n)
{
    before_value(w);
    km_buf_append(w->b, s, n);
}

void km_jsonw_strn(struct km_jsonw *w, const char *s, size_t n)
{
    before_value(w);
    km_buf_putc(w->b, '"');
    km_json_escape(w->b, s, n);
    km_buf_putc(w->b, '"');
}

void km_jsonw_str(struct km_jsonw *w, const char *s)
{
    km_jsonw_strn(w, s, strlen(s));
}

void km_jsonw_double(struct km_jsonw *w, double v)
{
    char tmp[KM_FMT_DOUBLE_MAX];
    size_t n;

    before_value(w);
    if (!isfinite(v)) {
        km_buf_append(w->b, "null", 4);
        return;
    }
    n = km_fmt_double(tmp, v);
    km_buf_append(w->b, tmp, n);
}

void km_jsonw_i64(struct km_jsonw *w, int64_t v)
{
    before_value(w);
    km_buf_put_i64(w->b, v);
}

void km_jsonw_u64(struct km_jsonw *w, uint64_t v)
{
    before_value(w);
    km_buf_put_u64(w->b, v);
}

void km_jsonw_bool(struct km_jsonw *w, bool v)
{
    before_value(w);
    km_buf_puts(w->b, v ? "true" : "false");
}

void km_jsonw_null(struct km_jsonw *w)
{
    before_value(w);
    km_buf_append(w->b, "null", 4);
}
