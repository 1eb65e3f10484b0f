/*
 * numfmt — number formatting shared by the text exposition and JSON writers, and UTF-8
 * checking for text that came from outside. Pure functions; thread-safe.
 */
#ifndef KMON_COMMON_NUMFMT_H
#define KMON_COMMON_NUMFMT_H

#include <stddef.h>
#include <stdint.h>

#define KM_FMT_DOUBLE_MAX 32

/* Shortest text that reads back as exactly `v`: integers without a fraction ("1024"),
 * others with up to 17 significant digits ("0.1", "1.5e-07"), and "NaN", "+Inf", "-Inf"
 * as Prometheus writes them. Returns the length; out has KM_FMT_DOUBLE_MAX bytes. */
size_t km_fmt_double(char out[KM_FMT_DOUBLE_MAX], double v);

/* Length of the valid UTF-8 sequence starting at s[0] (1 to 4), or 0 if s[0..n) does not
 * start with one (overlong forms, surrogates and code points past U+10FFFF are invalid). */
size_t km_utf8_seq_len(const unsigned char *s, size_t n);

#endif
