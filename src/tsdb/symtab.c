/*
 * symtab — interned, reference-counted strings (see symtab.h).
 *
 * Entries live in pages of 1024; a directory points at the pages. Growing the directory
 * publishes a new copy atomically and keeps the old one until destroy, so lock-free
 * readers always see a valid directory. Lookup by content is an open-addressing table
 * (linear probing, tombstones) of ids, under the mutex. Freed ids are reused.
 */
#include "symtab.h"

#include "common/err.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_BITS 10
#define PAGE_SIZE (1u << PAGE_BITS)
#define EMPTY     0u         /* hash slot: never used */
#define TOMB      UINT32_MAX /* hash slot: deleted */

struct sym {
    char *s; /* NULL when the id is free */
    uint32_t len;
    uint32_t refs;
    uint64_t hash;
};

struct dir {
    struct dir *older; /* directories replaced by this one, freed at destroy */
    size_t npages;
    struct sym *pages[];
};

struct km_symtab {
    pthread_mutex_t mu;
    _Atomic(struct dir *) dir;
    uint32_t nids;      /* ids handed out so far (the next new id) */
    uint32_t *free_ids; /* ids released and reusable */
    size_t nfree, capfree;
    uint32_t *slots;     /* hash table: id + 1, EMPTY or TOMB */
    size_t nslots, used; /* used counts live and tombstone slots */
    size_t count, bytes;
};

int km_symtab_create(struct km_symtab **out)
{
    struct km_symtab *st = calloc(1, sizeof(*st));
    struct dir *d = calloc(1, sizeof(*d) + 16 * sizeof(struct sym *));

    if (!st || !d) {
        free(st);
        free(d);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    d->npages = 16;
    atomic_init(&st->dir, d);
    st->nslots = 1024;
    st->slots = calloc(st->nslots, sizeof(*st->slots));
    if (!st->slots) {
        free(d);
        free(st);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&st->mu, NULL);
    *out = st;
    return 0;
}

void km_symtab_destroy(struct km_symtab *st)
{
    struct dir *d;

    if (!st)
        return;
    d = atomic_load(&st->dir);
    for (size_t p = 0; p < d->npages; p++) {
        if (!d->pages[p])
            continue;
        for (size_t i = 0; i < PAGE_SIZE; i++)
            free(d->pages[p][i].s);
        free(d->pages[p]);
    }
    while (d) {
        struct dir *older = d->older;

        free(d);
        d = older;
    }
    free(st->free_ids);
    free(st->slots);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

static struct sym *entry(const struct dir *d, uint32_t id)
{
    return &d->pages[id >> PAGE_BITS][id & (PAGE_SIZE - 1)];
}

const char *km_symtab_str(const struct km_symtab *st, uint32_t id)
{
    const struct dir *d =
        atomic_load_explicit(&((struct km_symtab *)st)->dir, memory_order_acquire);

    return entry(d, id)->s;
}

const char *km_symtab_strn(const struct km_symtab *st, uint32_t id, uint32_t *len)
{
    const struct dir *d =
        atomic_load_explicit(&((struct km_symtab *)st)->dir, memory_order_acquire);
    const struct sym *e = entry(d, id);

    *len = e->len;
    return e->s;
}

/* Under mu: make room for id in the directory and its page. */
static int ensure_id(struct km_symtab *st, uint32_t id)
{
    struct dir *d = atomic_load(&st->dir);
    size_t page = id >> PAGE_BITS;

    if (page >= d->npages) {
        size_t n = d->npages * 2;
        struct dir *nd;

        while (n <= page)
            n *= 2;
        nd = calloc(1, sizeof(*nd) + n * sizeof(struct sym *));
        if (!nd)
            return KM_ENOMEM;
        memcpy(nd->pages, d->pages, d->npages * sizeof(struct sym *));
        nd->npages = n;
        nd->older = d;
        atomic_store_explicit(&st->dir, nd, memory_order_release);
        d = nd;
    }
    if (!d->pages[page]) {
        d->pages[page] = calloc(PAGE_SIZE, sizeof(struct sym));
        if (!d->pages[page])
            return KM_ENOMEM;
    }
    return 0;
}

/* Under mu: the slot holding s, or the slot where it would go (with *found false). */
static size_t probe(struct km_symtab *st, const struct dir *d, const char *s, size_t n, uint64_t h,
                    bool *found)
{
    size_t mask = st->nslots - 1, i = h & mask, insert_at = SIZE_MAX;

    for (;;) {
        uint32_t v = st->slots[i];

        if (v == EMPTY) {
            *found = false;
            return insert_at != SIZE_MAX ? insert_at : i;
        }
        if (v == TOMB) {
            if (insert_at == SIZE_MAX)
                insert_at = i;
        } else {
            struct sym *e = entry(d, v - 1);

            if (e->hash == h && e->len == n && memcmp(e->s, s, n) == 0) {
                *found = true;
                return i;
            }
        }
        i = (i + 1) & mask;
    }
}

/* Under mu: double the hash table (dropping tombstones). */
static int rehash(struct km_symtab *st, const struct dir *d)
{
    size_t n = st->nslots * 2;
    uint32_t *slots = calloc(n, sizeof(*slots));

    if (!slots)
        return KM_ENOMEM;
    for (size_t i = 0; i < st->nslots; i++) {
        uint32_t v = st->slots[i];
        size_t j;

        if (v == EMPTY || v == TOMB)
            continue;
        j = entry(d, v - 1)->hash & (n - 1);
        while (slots[j] != EMPTY)
            j = (j + 1) & (n - 1);
        slots[j] = v;
    }
    free(st->slots);
    st->slots = slots;
    st->nslots = n;
    st->used = st->count;
    return 0;
}

int km_symtab_intern(struct km_symtab *st, const char *s, size_t n, uint32_t *id)
{
    uint64_t h = XXH3_64bits(s, n);
    struct dir *d;
    struct sym *e;
    uint32_t nid;
    size_t slot;
    bool found, from_free = false;
    int rc = 0;

    pthread_mutex_lock(&st->mu);
    d = atomic_load(&st->dir);
    if ((st->used + 1) * 4 > st->nslots * 3 && rehash(st, d) != 0) {
        rc = km_err_set(KM_ENOMEM, "out of memory growing the symbol table");
        goto out_unlock;
    }
    slot = probe(st, d, s, n, h, &found);
    if (found) {
        nid = st->slots[slot] - 1;
        entry(d, nid)->refs++;
        *id = nid;
        goto out_unlock;
    }
    if (st->nfree) {
        nid = st->free_ids[--st->nfree];
        from_free = true;
    } else {
        if (st->nids == UINT32_MAX - 1) {
            rc = km_err_set(KM_ELIMIT, "symbol table full");
            goto out_unlock;
        }
        nid = st->nids;
        if (ensure_id(st, nid) != 0) {
            rc = km_err_set(KM_ENOMEM, "out of memory growing the symbol table");
            goto out_unlock;
        }
        st->nids++;
        d = atomic_load(&st->dir);
    }
    e = entry(d, nid);
    e->s = malloc(n + 1);
    if (!e->s) {
        if (from_free)
            st->nfree++; /* give the id back */
        else
            st->nids--;
        rc = km_err_set(KM_ENOMEM, "out of memory interning a string");
        goto out_unlock;
    }
    memcpy(e->s, s, n);
    e->s[n] = '\0';
    e->len = (uint32_t)n;
    e->refs = 1;
    e->hash = h;
    if (st->slots[slot] == EMPTY)
        st->used++;
    st->slots[slot] = nid + 1;
    st->count++;
    st->bytes += n + 1;
    *id = nid;
out_unlock:
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int km_symtab_find(struct km_symtab *st, const char *s, size_t n, uint32_t *id)
{
    uint64_t h = XXH3_64bits(s, n);
    size_t slot;
    bool found;

    pthread_mutex_lock(&st->mu);
    slot = probe(st, atomic_load(&st->dir), s, n, h, &found);
    if (found)
        *id = st->slots[slot] - 1;
    pthread_mutex_unlock(&st->mu);
    return found ? 0 : KM_ENOTFOUND;
}

void km_symtab_release(struct km_symtab *st, uint32_t id)
{
    struct dir *d;
    struct sym *e;

    pthread_mutex_lock(&st->mu);
    d = atomic_load(&st->dir);
    e = entry(d, id);
    if (--e->refs == 0) {
        bool found;
        size_t slot = probe(st, d, e->s, e->len, e->hash, &found);

        if (found)
            st->slots[slot] = TOMB;
        /* Keep the free list big enough for every id ever handed out. */
        if (st->nfree == st->capfree) {
            size_t ncap = st->capfree ? st->capfree * 2 : 64;
            uint32_t *p = realloc(st->free_ids, ncap * sizeof(*p));

            if (p) {
                st->free_ids = p;
                st->capfree = ncap;
            }
        }
        st->bytes -= e->len + 1;
        st->count--;
        free(e->s);
        e->s = NULL;
        if (st->nfree < st->capfree)
            st->free_ids[st->nfree++] = id; /* else the id is simply never reused */
    }
    pthread_mutex_unlock(&st->mu);
}

size_t km_symtab_count(struct km_symtab *st)
{
    size_t n;

    pthread_mutex_lock(&st->mu);
    n = st->count;
    pthread_mutex_unlock(&st->mu);
    return n;
}

size_t km_symtab_bytes(struct km_symtab *st)
{
    size_t n;

    pthread_mutex_lock(&st->mu);
    n = st->bytes + st->nslots * sizeof(uint32_t) +
        (size_t)((st->nids + PAGE_SIZE - 1) >> PAGE_BITS) * PAGE_SIZE * sizeof(struct sym);
    pthread_mutex_unlock(&st->mu);
    return n;
}
