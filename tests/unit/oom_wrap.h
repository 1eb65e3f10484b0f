/*
 * oom_wrap — the allocator of an out-of-memory test: the test binary is linked with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=strndup (see
 * CMakeLists.txt), so every allocation of kmon's static libraries comes here, and while
 * `oom_armed` the one numbered `oom_fail_at` (counting from 0) fails; and
 * oom_each_allocation(), which runs a piece of work once to count its allocations, then
 * once with each of them failing in turn. (Shared libraries, libc's own and pcre2's
 * allocations are not wrapped.)
 */
#ifndef KMON_TESTS_OOM_WRAP_H
#define KMON_TESTS_OOM_WRAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

static long oom_allocations;  /* counted while armed */
static long oom_fail_at = -1; /* the allocation (from 0) that fails; -1: none */
static bool oom_armed;

static bool oom_fail_now(void)
{
    if (!oom_armed)
        return false;
    return oom_allocations++ == oom_fail_at;
}

void *__wrap_malloc(size_t n)
{
    return oom_fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return oom_fail_now() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return oom_fail_now() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
    return oom_fail_now() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
    return oom_fail_now() ? NULL : __real_strndup(s, n);
}

/* Run work(ctx, text, size) — which returns 0 or a KM_E* code and leaves its answer in
 * text — with enough memory, then with each of its allocations failing in turn. Every run
 * must give KM_ENOMEM (-1), or the same code and text as with enough memory. False, with
 * the first run that did not in why, otherwise. */
static bool oom_each_allocation(int (*work)(const void *ctx, char *text, size_t size),
                                const void *ctx, char *why, size_t whysize)
{
    char want[8192], got[8192];
    int want_rc, rc;
    long total;

    oom_allocations = 0;
    oom_fail_at = -1;
    oom_armed = true;
    want_rc = work(ctx, want, sizeof(want));
    oom_armed = false;
    total = oom_allocations;
    if (want_rc == -1 || total == 0) {
        snprintf(why, whysize, "with enough memory: %d after %ld allocations", want_rc, total);
        return false;
    }
    for (long k = 0; k < total; k++) {
        oom_allocations = 0;
        oom_fail_at = k;
        oom_armed = true;
        rc = work(ctx, got, sizeof(got));
        oom_armed = false;
        if (rc != -1 && (rc != want_rc || strcmp(got, want) != 0)) {
            snprintf(why, whysize,
                     "allocation %ld of %ld failing: %d \"%.3000s\", want %d \"%.3000s\"", k, total,
                     rc, got, want_rc, want);
            oom_fail_at = -1;
            return false;
        }
    }
    oom_fail_at = -1;
    return true;
}

#endif
