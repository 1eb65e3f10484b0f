/*
 * arena — chunked bump allocator (see arena.h). Chunks form a list; reset rewinds to the
 * first chunk and allocations refill the existing chunks in order before adding more.
 */
#include "arena.h"

#include "err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct km_arena_chunk {
    struct km_arena_chunk *next;
    size_t size; /* usable bytes in data[] */
    size_t used;
    _Alignas(16) unsigned char data[];
};

void km_arena_init(struct km_arena *a, size_t chunk_size, size_t max)
{
    a->head = NULL;
    a->cur = NULL;
    a->chunk_size = chunk_size ? chunk_size : 16384;
    a->max = max ? max : SIZE_MAX;
    a->total = 0;
}

void km_arena_fini(struct km_arena *a)
{
    struct km_arena_chunk *c = a->head, *next;

    while (c) {
        next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->cur = NULL;
    a->total = 0;
}

void km_arena_reset(struct km_arena *a)
{
    struct km_arena_chunk *c;

    for (c = a->head; c; c = c->next)
        c->used = 0;
    a->cur = a->head;
}

static void *chunk_take(struct km_arena_chunk *c, size_t n, size_t align)
{
    size_t off = (c->used + align - 1) & ~(align - 1);

    if (off > c->size || n > c->size - off)
        return NULL;
    c->used = off + n;
    return c->data + off;
}

void *km_arena_alloc(struct km_arena *a, size_t n, size_t align)
{
    struct km_arena_chunk *c;
    size_t size;
    void *p;

    if (align == 0 || align > 16)
        align = 16;
    /* Try the current chunk, then the (already allocated) chunks after it. */
    for (c = a->cur; c; c = c->next) {
        p = chunk_take(c, n, align);
        if (p) {
            a->cur = c;
            return p;
        }
    }
    size = n > a->chunk_size ? n : a->chunk_size;
    if (size > a->max || a->total > a->max - size) {
        km_err_set(KM_ELIMIT, "arena would exceed its limit of %zu bytes", a->max);
        return NULL;
    }
    c = malloc(sizeof(*c) + size);
    if (!c) {
        km_err_set(KM_ENOMEM, "out of memory allocating an arena chunk of %zu bytes", size);
        return NULL;
    }
    c->next = NULL;
    c->size = size;
    c->used = 0;
    a->total += size;
    /* Append at the end of the list so reuse order stays oldest-first. */
    if (!a->head) {
        a->head = c;
    } else {
        struct km_arena_chunk *last = a->cur ? a->cur : a->head;

        while (last->next)
            last = last->next;
        last->next = c;
    }
    a->cur = c;
    return chunk_take(c, n, align);
}

char *km_arena_strndup(struct km_arena *a, const char *s, size_t n)
{
    char *p = km_arena_alloc(a, n + 1, 1);

    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
