/*
 * arenas — how many malloc arenas glibc may use (mallopt M_ARENA_MAX): the commands cap
 * them so that threads that allocate little do not each hold pages of their own.
 *
 * Not under AddressSanitizer: its allocator replaces glibc's, so the cap would only
 * initialise glibc's arenas beside it for nothing (and keeps glibc's allocator out of
 * the sanitizer build, where an abort in glibc's arena accounting at a thread's exit is
 * still being hunted: see tests/runtime/test_logs_events.py).
 */
#ifndef KMON_COMMON_ARENAS_H
#define KMON_COMMON_ARENAS_H

#include <malloc.h>

#if defined(__SANITIZE_ADDRESS__)
#define KM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KM_ASAN 1
#endif
#endif

static inline void km_malloc_arenas(int n)
{
#ifdef KM_ASAN
    (void)n;
#else
    mallopt(M_ARENA_MAX, n);
#endif
}

#endif
