/*
 * quote — Go's UTF-8 decoding, quoting and unquoting as Prometheus applies them to
 * PromQL text (see quote.h). The printable set is the generated table in isprint.c.
 */
#include "promql/quote.h"

#include "common/err.h"
#include "common/numfmt.h"

#include <stdlib.h>
#include <string.h>

static const char lowerhex[] = "0123456789abcdef";

size_t km_promql_utf8_decode(const char *s, size_t n, int32_t *r)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t w = km_utf8_seq_len(u, n);

    switch (w) {
    case 1:
        *r = u[0];
        return 1;
    case 2:
        *r = (int32_t)(((u[0] & 0x1fu) << 6) | (u[1] & 0x3fu));
        return 2;
    case 3:
        *r = (int32_t)(((u[0] & 0x0fu) << 12) | ((u[1] & 0x3fu) << 6) | (u[2] & 0x3fu));
        return 3;
    case 4:
        *r = (int32_t)(((u[0] & 0x07u) << 18) | ((u[1] & 0x3fu) << 12) | ((u[2] & 0x3fu) << 6) |
                       (u[3] & 0x3fu));
        return 4;
    default:
        *r = KM_PROMQL_RUNE_ERROR;
        return 1;
    }
}

void km_promql_utf8_append(struct km_buf *out, int32_t r)
{
    char b[4];

    if (r < 0 || r > 0x10ffff || (r >= 0xd800 && r < 0xe000))
        r = KM_PROMQL_RUNE_ERROR;
    if (r < 0x80) {
        km_buf_putc(out, (char)r);
        return;
    }
    if (r < 0x800) {
        b[0] = (char)(0xc0 | (r >> 6));
        b[1] = (char)(0x80 | (r & 0x3f));
        km_buf_append(out, b, 2);
        return;
    }
    if (r < 0x10000) {
        b[0] = (char)(0xe0 | (r >> 12));
        b[1] = (char)(0x80 | ((r >> 6) & 0x3f));
        b[2] = (char)(0x80 | (r & 0x3f));
        km_buf_append(out, b, 3);
        return;
    }
    b[0] = (char)(0xf0 | (r >> 18));
    b[1] = (char)(0x80 | ((r >> 12) & 0x3f));
    b[2] = (char)(0x80 | ((r >> 6) & 0x3f));
    b[3] = (char)(0x80 | (r & 0x3f));
    km_buf_append(out, b, 4);
}

static void put_hex(struct km_buf *out, const char *prefix, uint32_t v, int digits)
{
    km_buf_puts(out, prefix);
    for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4)
        km_buf_putc(out, lowerhex[(v >> shift) & 0xf]);
}

/* One rune inside quotes `quote`, escaped as Go's strconv does (and U+FFFD too when
 * `escape_fffd`). */
static void put_escaped_rune(struct km_buf *out, int32_t r, char quote, bool escape_fffd)
{
    if (escape_fffd && r == KM_PROMQL_RUNE_ERROR) {
        km_buf_puts(out, "\\ufffd");
        return;
    }
    if (r == quote || r == '\\') {
        km_buf_putc(out, '\\');
        km_buf_putc(out, (char)r);
        return;
    }
    if (km_promql_isprint(r)) {
        km_promql_utf8_append(out, r);
        return;
    }
    switch (r) {
    case '\a':
        km_buf_puts(out, "\\a");
        return;
    case '\b':
        km_buf_puts(out, "\\b");
        return;
    case '\f':
        km_buf_puts(out, "\\f");
        return;
    case '\n':
        km_buf_puts(out, "\\n");
        return;
    case '\r':
        km_buf_puts(out, "\\r");
        return;
    case '\t':
        km_buf_puts(out, "\\t");
        return;
    case '\v':
        km_buf_puts(out, "\\v");
        return;
    default:
        break;
    }
    if (r < ' ' || r == 0x7f)
        put_hex(out, "\\x", (uint32_t)r, 2);
    else if (r < 0x10000)
        put_hex(out, "\\u", (uint32_t)r, 4);
    else
        put_hex(out, "\\U", (uint32_t)r, 8);
}

static void quote(struct km_buf *out, const char *s, size_t n, size_t runes, bool escape_fffd)
{
    km_buf_putc(out, '"');
    for (size_t i = 0, count = 0; i < n && count < runes; count++) {
        int32_t r;
        size_t w = km_promql_utf8_decode(s + i, n - i, &r);

        if (w == 1 && r == KM_PROMQL_RUNE_ERROR)
            put_hex(out, "\\x", (unsigned char)s[i], 2);
        else
            put_escaped_rune(out, r, '"', escape_fffd);
        i += w;
    }
    km_buf_putc(out, '"');
}

void km_promql_quote_prefix(struct km_buf *out, const char *s, size_t n, size_t runes)
{
    quote(out, s, n, runes, false);
}

void km_promql_quote(struct km_buf *out, const char *s, size_t n)
{
    quote(out, s, n, SIZE_MAX, false);
}

void km_promql_quote_expr(struct km_buf *out, const char *s, size_t n)
{
    quote(out, s, n, SIZE_MAX, true);
}

void km_promql_quote_rune(struct km_buf *out, int32_t r)
{
    if (r < 0 || r > 0x10ffff || (r >= 0xd800 && r < 0xe000))
        r = KM_PROMQL_RUNE_ERROR;
    km_buf_putc(out, '\'');
    put_escaped_rune(out, r, '\'', false);
    km_buf_putc(out, '\'');
}

void km_promql_format_rune_u(struct km_buf *out, int32_t r)
{
    km_buf_printf(out, "U+%04X", (unsigned)r);
    if (r >= 0 && r <= 0x10ffff && km_promql_isprint(r)) {
        km_buf_puts(out, " '");
        km_promql_utf8_append(out, r);
        km_buf_putc(out, '\'');
    }
}

int km_promql_hexval(int32_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The escape at s[0..n) (after the backslash) into out; returns the bytes it used, or 0
 * when it is not one Go accepts inside quotes `quote`. */
static size_t unescape(struct km_buf *out, const char *s, size_t n, char quote)
{
    static const char simple[] = "abfnrtv";
    static const char simple_val[] = "\a\b\f\n\r\t\v";
    const char *p;
    uint32_t v = 0;
    size_t digits;

    if (n == 0)
        return 0;
    if (s[0] == '\\' || s[0] == quote) {
        km_buf_putc(out, s[0]);
        return 1;
    }
    p = strchr(simple, s[0]);
    if (p && *p) {
        km_buf_putc(out, simple_val[p - simple]);
        return 1;
    }
    if (s[0] >= '0' && s[0] <= '7') {
        if (n < 3)
            return 0;
        for (size_t i = 0; i < 3; i++) {
            if (s[i] < '0' || s[i] > '7')
                return 0;
            v = v * 8 + (uint32_t)(s[i] - '0');
        }
        if (v > 255)
            return 0;
        km_buf_putc(out, (char)v);
        return 3;
    }
    digits = s[0] == 'x' ? 2 : s[0] == 'u' ? 4 : s[0] == 'U' ? 8 : 0;
    if (digits == 0 || n < digits + 1)
        return 0;
    for (size_t i = 1; i <= digits; i++) {
        int h = km_promql_hexval((unsigned char)s[i]);

        if (h < 0)
            return 0;
        v = v * 16 + (uint32_t)h;
    }
    if (s[0] == 'x')
        km_buf_putc(out, (char)v);
    else if (v > 0x10ffff)
        return 0;
    else
        km_promql_utf8_append(out, (int32_t)v);
    return digits + 1;
}

int km_promql_unquote(const char *tok, size_t n, char **out, size_t *len)
{
    struct km_buf b;
    char quote;
    int rc;

    if (n < 2 || tok[0] != tok[n - 1] || (tok[0] != '"' && tok[0] != '\'' && tok[0] != '`'))
        return km_err_set(KM_EINVAL, "not a quoted string");
    quote = tok[0];
    km_buf_init(&b, 0);
    km_buf_reserve(&b, n);
    if (quote == '`') {
        km_buf_append(&b, tok + 1, n - 2);
    } else {
        for (size_t i = 1; i < n - 1;) {
            size_t used;

            if (tok[i] != '\\') {
                km_buf_putc(&b, tok[i++]);
                continue;
            }
            used = unescape(&b, tok + i + 1, n - 2 - i, quote);
            if (used == 0) {
                km_buf_fini(&b);
                return km_err_set(KM_EINVAL, "invalid escape in a quoted string");
            }
            i += 1 + used;
        }
    }
    rc = km_buf_error(&b);
    if (rc) {
        km_buf_fini(&b);
        return km_err_set(rc, "out of memory unquoting a string");
    }
    b.data[b.len] = '\0'; /* reserved above, even when nothing was appended */
    *out = km_buf_detach(&b, len);
    return 0;
}
