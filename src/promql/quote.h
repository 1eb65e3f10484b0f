/*
 * quote — PromQL's strings as Prometheus (a Go program) reads and writes them: UTF-8
 * decoding the way Go's does (an invalid byte is one U+FFFD), string literals unquoted
 * (the three quote styles and Go's escapes), and text quoted the way Go's %q, %.Nq, %q
 * of a rune and %#U print it, which is what format_query and the error messages show.
 * Pure functions; thread-safe.
 */
#ifndef KMON_PROMQL_QUOTE_H
#define KMON_PROMQL_QUOTE_H

#include "common/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KM_PROMQL_RUNE_ERROR 0xFFFD

/* The rune at s[0..n) into *r and its length in bytes (1 to 4), as Go decodes: an invalid
 * or truncated sequence is U+FFFD of length 1. n must be at least 1. */
size_t km_promql_utf8_decode(const char *s, size_t n, int32_t *r);

/* Append the UTF-8 encoding of r (U+FFFD for a surrogate or a value past U+10FFFF). */
void km_promql_utf8_append(struct km_buf *out, int32_t r);

/* The value of a hexadecimal digit (either case), or -1. */
int km_promql_hexval(int32_t c);

/* Go's unicode.IsPrint as Prometheus 2.42 applies it (isprint.c). */
bool km_promql_isprint(int32_t r);

/* Append s[0..n) quoted as Go's %q does ("a\nb", "\xff", "\u00a0"). */
void km_promql_quote(struct km_buf *out, const char *s, size_t n);

/* As km_promql_quote(), but U+FFFD escaped as \ufffd: Prometheus prints it as it is,
 * which its own lexer then refuses; printed queries must parse again. */
void km_promql_quote_expr(struct km_buf *out, const char *s, size_t n);

/* As Go's %.<runes>q: the first `runes` runes of s quoted. */
void km_promql_quote_prefix(struct km_buf *out, const char *s, size_t n, size_t runes);

/* Append r quoted as a Go rune literal ('a', '\n', '\x00'); an invalid rune is '\ufffd'
 * printed as the character itself, as Go does. */
void km_promql_quote_rune(struct km_buf *out, int32_t r);

/* Append r as Go's %#U: "U+0041 'A'", or "U+000A" when it is not printable. */
void km_promql_format_rune_u(struct km_buf *out, int32_t r);

/* The value of a string token as the lexer accepted it (with its quotes: "…", '…' or
 * `…`): *out is a new buffer (NUL-terminated, freed with free()) of *len bytes, which may
 * hold NUL and invalid UTF-8 as Go strings do. KM_EINVAL for text the lexer would not
 * have accepted, KM_ENOMEM. */
int km_promql_unquote(const char *tok, size_t n, char **out, size_t *len);

#endif
