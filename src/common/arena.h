/*
 * arena — a bump allocator of chunks, reset in O(1) and reused without freeing.
 *
 * For data rebuilt wholesale on every cycle (one collection's strings): after the first
 * cycles warm it up, km_arena_reset() + allocations make no calls to malloc. Pointers
 * stay valid until the next reset. Bounded by `max` bytes of chunks. One owner; not
 * thread-safe.
 */
#ifndef KMON_COMMON_ARENA_H
#define KMON_COMMON_ARENA_H

#include <stddef.h>

struct km_arena_chunk;

struct km_arena {
    struct km_arena_chunk *head; /* all chunks, oldest first */
    struct km_arena_chunk *cur;  /* the chunk being filled */
    size_t chunk_size;           /* default size of a new chunk */
    size_t max;                  /* cap on the sum of chunk sizes */
    size_t total;                /* sum of chunk sizes */
};

/* Initialise an empty arena; chunks are `chunk_size` bytes (or larger for big requests). */
void km_arena_init(struct km_arena *a, size_t chunk_size, size_t max);

/* Free every chunk. Accepts a zeroed arena. */
void km_arena_fini(struct km_arena *a);

/* Forget every allocation, keeping the chunks for reuse. */
void km_arena_reset(struct km_arena *a);

/* `n` bytes aligned to `align` (a power of two), or NULL (km_err_msg() says why). */
void *km_arena_alloc(struct km_arena *a, size_t n, size_t align);

/* A NUL-terminated copy of s[0..n). */
char *km_arena_strndup(struct km_arena *a, const char *s, size_t n);

#endif
