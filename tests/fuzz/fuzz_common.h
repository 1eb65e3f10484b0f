/*
 * fuzz_common — what every fuzz target shares: an invariant check that aborts (so
 * libFuzzer keeps the input as a crash), an exact-size heap copy of the input (no NUL
 * after it, so AddressSanitizer reports any read past the end), and line counting.
 */
#ifndef KMON_TESTS_FUZZ_COMMON_H
#define KMON_TESTS_FUZZ_COMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline void fuzz_check(bool ok, const char *file, int line, const char *expr)
{
    if (ok)
        return;
    fprintf(stderr, "%s:%d: invariant failed: %s\n", file, line, expr);
    abort();
}

#define CHECK(c) fuzz_check((c), __FILE__, __LINE__, #c)

/* A heap copy of exactly `size` bytes, or NULL when memory runs out. */
static inline char *fuzz_copy(const uint8_t *data, size_t size)
{
    char *p = calloc(1, size ? size : 1); /* calloc: no uninitialised byte when size is 0 */

    if (p && size)
        memcpy(p, data, size);
    return p;
}

/* Lines in the input: a last line without '\n' counts too. */
static inline size_t fuzz_count_lines(const char *s, size_t n)
{
    size_t lines = 0;

    for (size_t i = 0; i < n; i++)
        lines += s[i] == '\n';
    return lines + (n > 0 && s[n - 1] != '\n');
}

#endif
