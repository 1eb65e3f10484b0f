/*
 * arenas — glibc's malloc arenas: how many the commands may use (mallopt M_ARENA_MAX, so
 * that threads that allocate little do not each hold pages of their own) and giving
 * freed memory back to the system after a large one-off read (malloc_trim).
 *
 * Neither under AddressSanitizer: its allocator replaces glibc's, and both calls would
 * initialise and walk glibc's arenas beside it. malloc_trim from two Kubernetes list
 * threads at once did exactly that, racing glibc's lazy initialisation: a SEGV in mtrim
 * and, at a thread's exit, the abort "__malloc_arena_thread_freeres: a->attached_threads
 * > 0" that the sanitizer build showed now and then.
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

static inline void km_malloc_trim(void)
{
#ifndef KM_ASAN
    malloc_trim(0);
#endif
}

#endif
