/*
 * jsonw — a small streaming JSON writer into a km_buf, for responses too large or too
 * hot to build as a tree. The writer inserts commas and colons; the caller only states
 * structure and values. Strings are escaped per RFC 8259 and invalid UTF-8 is replaced
 * by U+FFFD, so the output is always valid JSON. Errors (nesting past 64 levels, buffer
 * cap) land in the buffer's sticky error. One owner; not thread-safe.
 */
#ifndef KMON_COMMON_JSONW_H
#define KMON_COMMON_JSONW_H

#include "buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct km_jsonw {
    struct km_buf *b; /* borrowed */
    unsigned depth;
    uint64_t has_items; /* bit d: the container at depth d already has an element */
    bool after_key;
};

void km_jsonw_init(struct km_jsonw *w, struct km_buf *b);

void km_jsonw_obj_begin(struct km_jsonw *w);
void km_jsonw_obj_end(struct km_jsonw *w);
void km_jsonw_arr_begin(struct km_jsonw *w);
void km_jsonw_arr_end(struct km_jsonw *w);

/* An object key; the next call writes its value. */
void km_jsonw_key(struct km_jsonw *w, const char *key);

void km_jsonw_str(struct km_jsonw *w, const char *s);
void km_jsonw_strn(struct km_jsonw *w, const char *s, size_t n);
/* A number; NaN and ±Inf, which JSON cannot represent, are written as null. */
void km_jsonw_double(struct km_jsonw *w, double v);
void km_jsonw_i64(struct km_jsonw *w, int64_t v);
void km_jsonw_u64(struct km_jsonw *w, uint64_t v);
void km_jsonw_bool(struct km_jsonw *w, bool v);
void km_jsonw_null(struct km_jsonw *w);
/* A value already written as JSON text (a number in a chosen format), as is. */
void km_jsonw_raw(struct km_jsonw *w, const char *s, size_t n);

/* Append s[0..n) to b as the inside of a JSON string (no quotes). */
void km_json_escape(struct km_buf *b, const char *s, size_t n);

#endif
