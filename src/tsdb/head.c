/*
 * head — series, chunks and the inverted index in memory (see head.h).
 *
 * Lock order, outermost first: stripe lock → index lock → series lock. Appends to an
 * existing series take only its series lock (after a lookup under its stripe's read
 * lock), so they never wait for other series, for the index or for queries.
 *
 * Where a sample goes, under its series' lock:
 *   - t >= min_valid (newer than every cut so far): into the chunks when it is the
 *     series' newest, else into the out-of-order buffer (`ooo`);
 *   - t <  min_valid (a window already cut, or being cut: a lagging sender, a backfill,
 *     an agent's spool after an outage): into the `late` buffer. Cuts write late
 *     samples window by window into blocks of their own, which compaction merges with
 *     the block already there.
 * A cut raises min_valid to its boundary b before it reads any series, so from then on
 * nothing below b enters chunks or `ooo`: reading a series takes everything below b
 * from them, and its `late` buffer as a whole (`late_cut`); samples arriving meanwhile
 * go to a fresh `late`. Truncation then drops from chunks and `ooo` what is below b and
 * from `late_cut` what the cut wrote, and returns the rest of `late_cut` to `late`. So
 * a sample is dropped from the head only after a block holding it is durable.
 */
#include "head.h"
#include "common/array.h"

#include "chunk_head.h"
#include "common/err.h"
#include "common/limits.h"
#include "postings.h"
#include "storage/storage.h"
#include "symtab.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NSTRIPES       64
#define ORD_PAGE_BITS  12
#define ORD_PAGE_SIZE  (1u << ORD_PAGE_BITS)
#define TOMB           ((struct km_hseries *)(uintptr_t)1)
#define PAIR_EMPTY_KEY UINT64_MAX

struct ooo {
    uint32_t n, cap;
    int64_t *t;
    double *v;
};

struct km_hseries {
    uint64_t ref;
    uint64_t hash;
    atomic_uint refs;
    atomic_flag lock;
    bool removed; /* under lock: truncation took it out of the head */
    uint16_t nlabels;
    struct km_hchunk *first, *last; /* oldest and newest chunk */
    struct ooo *ooo;                /* out-of-order samples, sorted, or NULL */
    struct ooo *late;     /* samples older than min_valid (behind a cut), sorted, or NULL */
    struct ooo *late_cut; /* late samples the cut in progress has taken, or NULL */
    int64_t maxt;         /* newest sample ever stored: the out-of-order window's end */
    uint32_t lab[];       /* name id, value id, … sorted by name */
};

#define NCOUNTERS 64

/* Samples in the head are counted per thread (slot), each on its own cache line, so
 * threads appending to different series never write the same line; the total is their
 * sum (wrapping arithmetic: a slot may go "below zero" when another thread's samples
 * are dropped). */
struct counter {
    _Alignas(64) atomic_uint_fast64_t n;
    atomic_uint_fast64_t chunks, chunk_bytes;
};

struct stripe {
    pthread_rwlock_t lock;
    struct km_hseries **slots; /* NULL, TOMB or a series */
    size_t nslots, used, count;
};

struct ordpage {
    _Atomic(struct km_hseries *) s[ORD_PAGE_SIZE];
};

struct orddir {
    struct orddir *older;
    size_t npages;
    _Atomic(struct ordpage *) pages[];
};

struct pair {
    uint64_t key; /* name id << 32 | value id; PAIR_EMPTY_KEY when unused */
    struct km_postings p;
};

struct name {
    uint32_t name;
    bool used;
    uint32_t *values; /* value ids, unsorted */
    size_t n, cap;
};

struct km_head {
    struct km_head_opts o;
    struct km_symtab *syms;
    struct stripe stripes[NSTRIPES];
    atomic_uint_fast64_t next_ref;
    _Atomic(struct orddir *) ords;
    struct counter samples[NCOUNTERS];
    atomic_uint next_slot;
    pthread_rwlock_t index_lock;
    struct pair *pairs;
    size_t npairs_slots, npairs;
    struct name *names;
    size_t nnames_slots, nnames;
    struct km_postings all;
    bool bulk; /* under the index write lock: lists appended to unsorted (km_head_bulk_begin) */
    /* Read by every append: on a cache line of their own, away from counters. `mint` is
     * the oldest sample in chunks and out-of-order buffers, `late_mint` the oldest late
     * one (both lowered by appends, recomputed by truncation). */
    _Alignas(64) atomic_int_fast64_t mint, maxt, min_valid;
    _Alignas(64) atomic_int_fast64_t late_mint;
    atomic_uint_fast64_t late_samples, late_total;
    _Alignas(64) atomic_uint_fast64_t nseries, series_bytes;
};

/* ---- small helpers -------------------------------------------------------------------- */

static struct stripe *stripe_of(struct km_head *h, uint64_t hash)
{
    return &h->stripes[hash >> 58];
}

/* The calling thread's counters. */
static struct counter *my_counters(struct km_head *h)
{
    static _Thread_local unsigned slot_plus1;

    if (!slot_plus1)
        slot_plus1 = atomic_fetch_add(&h->next_slot, 1) % NCOUNTERS + 1;
    return &h->samples[slot_plus1 - 1];
}

static atomic_uint_fast64_t *samples_of(struct km_head *h, const struct km_hseries *s)
{
    (void)s;
    return &my_counters(h)->n;
}

static void series_lock(struct km_hseries *s)
{
    unsigned spins = 0;

    while (atomic_flag_test_and_set_explicit(&s->lock, memory_order_acquire)) {
        if (++spins > 64)
            sched_yield();
    }
}

static void series_unlock(struct km_hseries *s)
{
    atomic_flag_clear_explicit(&s->lock, memory_order_release);
}

static void atomic_max64(atomic_int_fast64_t *a, int64_t v)
{
    int64_t cur = atomic_load_explicit(a, memory_order_relaxed);

    while (v > cur && !atomic_compare_exchange_weak(a, &cur, v))
        ;
}

static void atomic_min64(atomic_int_fast64_t *a, int64_t v)
{
    int64_t cur = atomic_load_explicit(a, memory_order_relaxed);

    while (v < cur && !atomic_compare_exchange_weak(a, &cur, v))
        ;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static size_t chunk_alloc_bytes(const struct km_hchunk *c)
{
    return sizeof(*c) + c->cap;
}

uint64_t km_head_series_ref(const struct km_hseries *s)
{
    return s->ref;
}

/* The position in the ordinal array and postings: the low 32 bits of the reference
 * (references above 2^32 are refused at creation). */
static uint32_t ord_of(const struct km_hseries *s)
{
    return (uint32_t)s->ref;
}

/* ---- ordinal array ----------------------------------------------------------------- */

/* Under the series lock. An atomic store: km_head_prefetch reads it without the lock. */
static void set_last(struct km_hseries *s, struct km_hchunk *c)
{
    __atomic_store_n(&s->last, c, __ATOMIC_RELAXED);
}

static struct km_hseries *ord_get(struct km_head *h, uint32_t ord)
{
    struct orddir *d = atomic_load_explicit(&h->ords, memory_order_acquire);
    size_t page = ord >> ORD_PAGE_BITS;
    struct ordpage *p;

    if (page >= d->npages)
        return NULL;
    p = atomic_load_explicit(&d->pages[page], memory_order_acquire);
    return p ? atomic_load_explicit(&p->s[ord & (ORD_PAGE_SIZE - 1)], memory_order_acquire) : NULL;
}

/* Under the index write lock. */
static int ord_set(struct km_head *h, uint32_t ord, struct km_hseries *s)
{
    struct orddir *d = atomic_load(&h->ords);
    size_t page = ord >> ORD_PAGE_BITS;
    struct ordpage *p;

    if (page >= d->npages) {
        size_t n = d->npages * 2;
        struct orddir *nd;

        while (n <= page)
            n *= 2;
        nd = calloc(1, sizeof(*nd) + n * sizeof(nd->pages[0]));
        if (!nd)
            return KM_ENOMEM;
        for (size_t i = 0; i < d->npages; i++)
            atomic_init(&nd->pages[i], atomic_load(&d->pages[i]));
        nd->npages = n;
        nd->older = d;
        atomic_store_explicit(&h->ords, nd, memory_order_release);
        d = nd;
    }
    p = atomic_load(&d->pages[page]);
    if (!p) {
        p = calloc(1, sizeof(*p));
        if (!p)
            return KM_ENOMEM;
        atomic_store_explicit(&d->pages[page], p, memory_order_release);
    }
    atomic_store_explicit(&p->s[ord & (ORD_PAGE_SIZE - 1)], s, memory_order_release);
    return 0;
}

/* ---- series life cycle ------------------------------------------------------------- */

static void free_chunks(struct km_head *h, const struct km_hseries *s, struct km_hchunk *c)
{
    while (c) {
        struct km_hchunk *next = c->next;

        atomic_fetch_sub(&my_counters(h)->chunk_bytes, chunk_alloc_bytes(c));
        atomic_fetch_sub(&my_counters(h)->chunks, 1);
        atomic_fetch_sub(samples_of(h, s), c->n);
        free(c);
        c = next;
    }
}

static void free_ooo(struct ooo *o)
{
    if (!o)
        return;
    free(o->t);
    free(o->v);
    free(o);
}

/* Free a late buffer, counting its samples out of the head. */
static void late_free(struct km_head *h, const struct km_hseries *s, struct ooo **o)
{
    if (!*o)
        return;
    atomic_fetch_sub(samples_of(h, s), (*o)->n);
    atomic_fetch_sub(&h->late_samples, (*o)->n);
    free_ooo(*o);
    *o = NULL;
}

static void series_free(struct km_head *h, struct km_hseries *s)
{
    for (unsigned i = 0; i < 2u * s->nlabels; i++)
        km_symtab_release(h->syms, s->lab[i]);
    free_chunks(h, s, s->first);
    if (s->ooo)
        atomic_fetch_sub(samples_of(h, s), s->ooo->n);
    free_ooo(s->ooo);
    late_free(h, s, &s->late);
    late_free(h, s, &s->late_cut);
    atomic_fetch_sub(&h->series_bytes, sizeof(*s) + 2u * s->nlabels * sizeof(uint32_t));
    free(s);
}

void km_head_series_put(struct km_head *h, struct km_hseries *s)
{
    if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        series_free(h, s);
}

static bool labels_equal(struct km_head *h, const struct km_hseries *s, const struct km_label *l,
                         size_t n)
{
    if (s->nlabels != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(km_symtab_str(h->syms, s->lab[2 * i]), l[i].name) != 0 ||
            strcmp(km_symtab_str(h->syms, s->lab[2 * i + 1]), l[i].value) != 0)
            return false;
    }
    return true;
}

/* Under the stripe's lock: the slot of the series with these labels, or of where it
 * would go (*found false). */
static size_t stripe_probe(struct km_head *h, struct stripe *st, const struct km_label *l, size_t n,
                           uint64_t hash, bool *found)
{
    size_t mask = st->nslots - 1, i = hash & mask, insert_at = SIZE_MAX;

    for (;;) {
        struct km_hseries *s = st->slots[i];

        if (!s) {
            *found = false;
            return insert_at != SIZE_MAX ? insert_at : i;
        }
        if (s == TOMB) {
            if (insert_at == SIZE_MAX)
                insert_at = i;
        } else if (s->hash == hash && labels_equal(h, s, l, n)) {
            *found = true;
            return i;
        }
        i = (i + 1) & mask;
    }
}

struct km_hseries *km_head_lookup(struct km_head *h, const struct km_label *l, size_t n,
                                  uint64_t hash)
{
    struct stripe *st = stripe_of(h, hash);
    struct km_hseries *s = NULL;
    bool found;
    size_t i;

    pthread_rwlock_rdlock(&st->lock);
    i = stripe_probe(h, st, l, n, hash, &found);
    if (found) {
        s = st->slots[i];
        atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    }
    pthread_rwlock_unlock(&st->lock);
    return s;
}

void km_head_reserve_ref(struct km_head *h, uint64_t ref)
{
    uint64_t cur = atomic_load(&h->next_ref);

    while (ref >= cur && !atomic_compare_exchange_weak(&h->next_ref, &cur, ref + 1))
        ;
}

int km_head_series_new(struct km_head *h, const struct km_label *l, size_t n, uint64_t hash,
                       uint64_t ref, struct km_hseries **out)
{
    struct km_hseries *s;
    size_t i;

    if (n > KM_LIMIT_LABELS_PER_SERIES)
        return km_err_set(KM_ELIMIT, "too many labels");
    if (ref == 0)
        ref = atomic_fetch_add(&h->next_ref, 1);
    else
        km_head_reserve_ref(h, ref);
    if (ref > UINT32_MAX)
        return km_err_set(KM_ELIMIT, "series references exhausted (2^32 series created in this "
                                     "data directory); restart with a fresh head");
    s = calloc(1, sizeof(*s) + 2 * n * sizeof(uint32_t));
    if (!s)
        return km_err_set(KM_ENOMEM, "out of memory creating a series");
    for (i = 0; i < n; i++) {
        if (km_symtab_intern(h->syms, l[i].name, strlen(l[i].name), &s->lab[2 * i]) != 0)
            break;
        if (km_symtab_intern(h->syms, l[i].value, strlen(l[i].value), &s->lab[2 * i + 1]) != 0) {
            km_symtab_release(h->syms, s->lab[2 * i]);
            break;
        }
    }
    if (i < n) {
        while (i--) {
            km_symtab_release(h->syms, s->lab[2 * i]);
            km_symtab_release(h->syms, s->lab[2 * i + 1]);
        }
        free(s);
        return km_err_set(KM_ENOMEM, "out of memory interning labels");
    }
    s->ref = ref;
    s->hash = hash;
    s->maxt = INT64_MIN;
    s->nlabels = (uint16_t)n;
    atomic_init(&s->refs, 1);
    atomic_flag_clear(&s->lock);
    atomic_fetch_add(&h->series_bytes, sizeof(*s) + 2 * n * sizeof(uint32_t));
    *out = s;
    return 0;
}

/* ---- index ------------------------------------------------------------------------- */

static uint64_t mix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
}

/* Under the index write lock: the postings of (name, value), created if missing. */
static struct km_postings *pair_get(struct km_head *h, uint32_t name, uint32_t value, bool create)
{
    uint64_t key = (uint64_t)name << 32 | value;
    size_t mask, i;

    if (create && (h->npairs + 1) * 4 > h->npairs_slots * 3) {
        size_t n = h->npairs_slots ? h->npairs_slots * 2 : 256;
        struct pair *np = malloc(n * sizeof(*np));

        if (!np)
            return NULL;
        for (size_t k = 0; k < n; k++)
            np[k].key = PAIR_EMPTY_KEY;
        for (size_t k = 0; k < h->npairs_slots; k++) {
            size_t j;

            if (h->pairs[k].key == PAIR_EMPTY_KEY)
                continue;
            j = mix(h->pairs[k].key) & (n - 1);
            while (np[j].key != PAIR_EMPTY_KEY)
                j = (j + 1) & (n - 1);
            np[j] = h->pairs[k];
        }
        free(h->pairs);
        h->pairs = np;
        h->npairs_slots = n;
    }
    if (!h->npairs_slots)
        return NULL;
    mask = h->npairs_slots - 1;
    for (i = mix(key) & mask; h->pairs[i].key != PAIR_EMPTY_KEY; i = (i + 1) & mask) {
        if (h->pairs[i].key == key)
            return &h->pairs[i].p;
    }
    if (!create)
        return NULL;
    h->pairs[i].key = key;
    memset(&h->pairs[i].p, 0, sizeof(h->pairs[i].p));
    h->npairs++;
    return &h->pairs[i].p;
}

static struct name *name_get(struct km_head *h, uint32_t name, bool create)
{
    size_t mask, i;

    if (create && (h->nnames + 1) * 4 > h->nnames_slots * 3) {
        size_t n = h->nnames_slots ? h->nnames_slots * 2 : 64;
        struct name *nn = calloc(n, sizeof(*nn));

        if (!nn)
            return NULL;
        for (size_t k = 0; k < h->nnames_slots; k++) {
            size_t j;

            if (!h->names[k].used)
                continue;
            j = mix(h->names[k].name) & (n - 1);
            while (nn[j].used)
                j = (j + 1) & (n - 1);
            nn[j] = h->names[k];
        }
        free(h->names);
        h->names = nn;
        h->nnames_slots = n;
    }
    if (!h->nnames_slots)
        return NULL;
    mask = h->nnames_slots - 1;
    for (i = mix(name) & mask; h->names[i].used; i = (i + 1) & mask) {
        if (h->names[i].name == name)
            return &h->names[i];
    }
    if (!create)
        return NULL;
    h->names[i].used = true;
    h->names[i].name = name;
    h->nnames++;
    return &h->names[i];
}

/* Insert x keeping the list sorted (appends are the common case). */
static int postings_insert(struct km_postings *p, uint32_t x)
{
    size_t lo = 0, hi;
    int rc;

    if (p->n == 0 || p->v[p->n - 1] < x)
        return km_postings_push(p, x);
    hi = p->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (p->v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < p->n && p->v[lo] == x)
        return 0;
    rc = km_postings_push(p, x); /* grow by one, then shift into place */
    if (rc)
        return rc;
    memmove(p->v + lo + 1, p->v + lo, (p->n - 1 - lo) * sizeof(uint32_t));
    p->v[lo] = x;
    return 0;
}

/* Under the index write lock: x into list p, in order, or at its end during a bulk load
 * (a WAL replay brings series in no order of theirs: inserting each in place moved
 * megabytes a series in the longest lists, 80 % of a 4 M-series replay). */
static int index_put(struct km_head *h, struct km_postings *p, uint32_t x)
{
    return h->bulk ? km_postings_push(p, x) : postings_insert(p, x);
}

/* Under the index write lock: add a series to every list it belongs to. */
static int index_add(struct km_head *h, struct km_hseries *s)
{
    for (unsigned i = 0; i < s->nlabels; i++) {
        uint32_t nm = s->lab[2 * i], val = s->lab[2 * i + 1];
        struct km_postings *p = pair_get(h, nm, val, true);
        struct name *n;

        if (!p)
            return KM_ENOMEM;
        if (p->n == 0) {
            /* A new value of this name. */
            n = name_get(h, nm, true);
            if (!n)
                return KM_ENOMEM;
            if (n->n == n->cap) {
                size_t ncap = n->cap ? n->cap * 2 : 4;
                uint32_t *v = realloc(n->values, ncap * sizeof(*v));

                if (!v)
                    return KM_ENOMEM;
                n->values = v;
                n->cap = ncap;
            }
            n->values[n->n++] = val;
        }
        if (index_put(h, p, ord_of(s)) != 0)
            return KM_ENOMEM;
    }
    if (index_put(h, &h->all, ord_of(s)) != 0)
        return KM_ENOMEM;
    return ord_set(h, ord_of(s), s);
}

void km_head_bulk_begin(struct km_head *h)
{
    pthread_rwlock_wrlock(&h->index_lock);
    h->bulk = true;
    pthread_rwlock_unlock(&h->index_lock);
}

int km_head_bulk_end(struct km_head *h)
{
    int rc = 0;

    pthread_rwlock_wrlock(&h->index_lock);
    for (size_t i = 0; i < h->npairs_slots && rc == 0; i++) {
        if (h->pairs[i].key != PAIR_EMPTY_KEY)
            rc = km_postings_settle(&h->pairs[i].p);
    }
    if (rc == 0)
        rc = km_postings_settle(&h->all);
    if (rc == 0)
        h->bulk = false;
    pthread_rwlock_unlock(&h->index_lock);
    return rc;
}

static void index_clear(struct km_head *h)
{
    for (size_t i = 0; i < h->npairs_slots; i++) {
        if (h->pairs[i].key != PAIR_EMPTY_KEY)
            km_postings_fini(&h->pairs[i].p);
    }
    free(h->pairs);
    h->pairs = NULL;
    h->npairs_slots = h->npairs = 0;
    for (size_t i = 0; i < h->nnames_slots; i++)
        free(h->names[i].values);
    free(h->names);
    h->names = NULL;
    h->nnames_slots = h->nnames = 0;
    h->all.n = 0;
}

struct km_hseries *km_head_publish(struct km_head *h, struct km_hseries *s)
{
    struct stripe *st = stripe_of(h, s->hash);
    struct km_label l[KM_LIMIT_LABELS_PER_SERIES];
    struct km_hseries *got;
    size_t n, slot;
    bool found;

    km_head_series_label_view(h, s, l, &n);
    pthread_rwlock_wrlock(&st->lock);
    slot = stripe_probe(h, st, l, n, s->hash, &found);
    if (found) {
        got = st->slots[slot];
        atomic_fetch_add(&got->refs, 1);
        pthread_rwlock_unlock(&st->lock);
        km_head_series_put(h, s);
        return got;
    }
    if ((st->used + 1) * 4 > st->nslots * 3) {
        /* Grow (dropping tombstones) before inserting. */
        size_t nn = st->nslots * 2;
        struct km_hseries **ns = calloc(nn, sizeof(*ns));

        if (!ns) {
            pthread_rwlock_unlock(&st->lock);
            km_head_series_put(h, s);
            return NULL;
        }
        for (size_t i = 0; i < st->nslots; i++) {
            struct km_hseries *x = st->slots[i];
            size_t j;

            if (!x || x == TOMB)
                continue;
            j = x->hash & (nn - 1);
            while (ns[j])
                j = (j + 1) & (nn - 1);
            ns[j] = x;
        }
        free(st->slots);
        st->slots = ns;
        st->nslots = nn;
        st->used = st->count;
        slot = stripe_probe(h, st, l, n, s->hash, &found);
    }
    pthread_rwlock_wrlock(&h->index_lock);
    if (index_add(h, s) != 0) {
        pthread_rwlock_unlock(&h->index_lock);
        pthread_rwlock_unlock(&st->lock);
        km_head_series_put(h, s);
        return NULL;
    }
    pthread_rwlock_unlock(&h->index_lock);
    if (!st->slots[slot])
        st->used++;
    st->slots[slot] = s;
    st->count++;
    atomic_fetch_add(&h->nseries, 1);
    atomic_fetch_add(&s->refs, 1); /* the head's own reference, plus the caller's */
    pthread_rwlock_unlock(&st->lock);
    return s;
}

struct km_hseries *km_head_by_ref(struct km_head *h, uint64_t ref)
{
    struct km_hseries *s;

    if (ref > UINT32_MAX)
        return NULL;
    pthread_rwlock_rdlock(&h->index_lock);
    s = ord_get(h, (uint32_t)ref);
    if (s && s->ref == ref)
        atomic_fetch_add(&s->refs, 1);
    else
        s = NULL;
    pthread_rwlock_unlock(&h->index_lock);
    return s;
}

void km_head_read_begin(struct km_head *h)
{
    pthread_rwlock_rdlock(&h->index_lock);
}

void km_head_read_end(struct km_head *h)
{
    pthread_rwlock_unlock(&h->index_lock);
}

/* A series leaves the ordinal array only under the index write lock, and its head
 * reference is dropped after that: under the read lock every series found is alive. */
struct km_hseries *km_head_by_ref_locked(struct km_head *h, uint64_t ref)
{
    struct km_hseries *s;

    if (ref > UINT32_MAX)
        return NULL;
    s = ord_get(h, (uint32_t)ref);
    return s && s->ref == ref ? s : NULL;
}

void km_head_prefetch(struct km_head *h, uint64_t ref, bool chunk)
{
    struct km_hseries *s;
    struct km_hchunk *c;

    if (ref > UINT32_MAX || !(s = ord_get(h, (uint32_t)ref)))
        return;
    if (!chunk) {
        __builtin_prefetch(s);
        return;
    }
    /* Without the series lock: a chunk replaced meanwhile only makes the hint useless. */
    c = __atomic_load_n(&s->last, __ATOMIC_RELAXED);
    if (c)
        __builtin_prefetch(c);
}

void km_head_series_label_view(struct km_head *h, const struct km_hseries *s, struct km_label *l,
                               size_t *n)
{
    for (unsigned i = 0; i < s->nlabels; i++) {
        l[i].name = km_symtab_str(h->syms, s->lab[2 * i]);
        l[i].value = km_symtab_str(h->syms, s->lab[2 * i + 1]);
    }
    *n = s->nlabels;
}

int km_head_series_labels(struct km_head *h, const struct km_hseries *s, struct km_labels **out)
{
    struct km_label l[KM_LIMIT_LABELS_PER_SERIES];
    uint32_t len[2 * KM_LIMIT_LABELS_PER_SERIES];

    /* Interned from a checked set, hashed when created: lengths and hash are known. */
    for (unsigned i = 0; i < s->nlabels; i++) {
        l[i].name = km_symtab_strn(h->syms, s->lab[2 * i], &len[2 * i]);
        l[i].value = km_symtab_strn(h->syms, s->lab[2 * i + 1], &len[2 * i + 1]);
    }
    return km_labels_create_known(out, l, len, s->nlabels, s->hash);
}

int km_head_series_label_set(struct km_head *h, const struct km_hseries *s, struct km_labels **buf,
                             size_t *cap)
{
    struct km_labels *l = *buf;

    if (!l || *cap < s->nlabels) {
        size_t n = s->nlabels > 16 ? s->nlabels : 16;

        l = realloc(l, sizeof(*l) + n * sizeof(struct km_label));
        if (!l)
            return km_err_set(KM_ENOMEM, "out of memory reading a series' labels");
        *buf = l;
        *cap = n;
    }
    for (unsigned i = 0; i < s->nlabels; i++) {
        l->v[i].name = km_symtab_str(h->syms, s->lab[2 * i]);
        l->v[i].value = km_symtab_str(h->syms, s->lab[2 * i + 1]);
    }
    l->n = s->nlabels;
    l->hash = s->hash;
    return 0;
}

void km_head_series_prefetch(const struct km_hseries *s, bool buffers)
{
    const char *c = (const char *)s->first;

    if (buffers) {
        /* The out-of-order buffer's arrays; its header was asked for before. */
        if (s->ooo) {
            __builtin_prefetch(s->ooo->t);
            __builtin_prefetch(s->ooo->v);
        }
        return;
    }
    /* What series_read touches first: the oldest chunk (header and the first bytes of
     * its data) and the out-of-order buffer's header. */
    if (c) {
        __builtin_prefetch(c);
        __builtin_prefetch(c + 64);
        __builtin_prefetch(c + 128);
    }
    if (s->ooo)
        __builtin_prefetch(s->ooo);
}

/* ---- appending ----------------------------------------------------------------------- */

/* The value of a chunk's last sample (append state keeps it). */
static uint64_t last_value_bits(const struct km_hchunk *c)
{
    static const double p10[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9 };
    double v;

    if (c->enc == KM_HC_XOR)
        return c->last.bits;
    v = (double)c->last.m / p10[c->exp];
    return km_double_bits(v);
}

/* A sorted buffer's sample at t, if any: its value bits in *bits. */
static bool ooo_find(const struct ooo *o, int64_t t, uint64_t *bits)
{
    size_t lo = 0, hi;

    if (!o)
        return false;
    hi = o->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (o->t[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < o->n && o->t[lo] == t) {
        *bits = km_double_bits(o->v[lo]);
        return true;
    }
    return false;
}

/* Under the series lock: is there a stored sample at t? Its value bits in *bits. */
static bool find_sample(const struct km_hseries *s, int64_t t, uint64_t *bits)
{
    for (const struct km_hchunk *c = s->first; c; c = c->next) {
        int64_t ts[KM_HCHUNK_MAX];
        double vs[KM_HCHUNK_MAX];
        int n;

        if (t < c->mint || t > c->maxt)
            continue;
        n = km_hchunk_decode_chunk(c, ts, vs);
        for (int i = 0; i < n; i++) {
            if (ts[i] == t) {
                *bits = km_double_bits(vs[i]);
                return true;
            }
        }
        break; /* chunks do not overlap: only the buffers are left */
    }
    return ooo_find(s->ooo, t, bits) || ooo_find(s->late, t, bits) ||
           ooo_find(s->late_cut, t, bits);
}

/* Insert (t, v) into the sorted buffer *po (created if NULL); t is not in it. */
static bool ooo_insert(struct ooo **po, int64_t t, double v)
{
    struct ooo *o = *po;
    size_t lo = 0, hi;

    if (!o) {
        o = calloc(1, sizeof(*o));
        if (!o)
            return false;
        *po = o;
    }
    if (o->n == o->cap) {
        uint32_t ncap = o->cap ? o->cap * 2 : 4;
        int64_t *nt = realloc(o->t, ncap * sizeof(*nt));
        double *nv;

        if (!nt)
            return false;
        o->t = nt;
        nv = realloc(o->v, ncap * sizeof(*nv));
        if (!nv)
            return false;
        o->v = nv;
        o->cap = ncap;
    }
    hi = o->n;
    if (hi && o->t[hi - 1] < t) {
        lo = hi; /* appending in order: the common case of a backfill */
    } else {
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;

            if (o->t[mid] < t)
                lo = mid + 1;
            else
                hi = mid;
        }
    }
    memmove(o->t + lo + 1, o->t + lo, (o->n - lo) * sizeof(*o->t));
    memmove(o->v + lo + 1, o->v + lo, (o->n - lo) * sizeof(*o->v));
    o->t[lo] = t;
    o->v[lo] = v;
    o->n++;
    return true;
}

/* Under the series lock: merge the sorted buffer *from into *into (their timestamps are
 * disjoint) and free it. */
static bool ooo_merge(struct ooo **into, struct ooo **from)
{
    struct ooo *a = *into, *b = *from;
    int64_t *t;
    double *v;
    size_t i = 0, j = 0, k = 0;

    if (!b)
        return true;
    if (!a || a->n == 0) {
        free_ooo(a);
        *into = b;
        *from = NULL;
        return true;
    }
    t = malloc((a->n + b->n) * sizeof(*t));
    v = malloc((a->n + b->n) * sizeof(*v));
    if (!t || !v) {
        free(t);
        free(v);
        return false;
    }
    while (i < a->n || j < b->n) {
        if (j >= b->n || (i < a->n && a->t[i] < b->t[j])) {
            t[k] = a->t[i];
            v[k++] = a->v[i++];
        } else {
            t[k] = b->t[j];
            v[k++] = b->v[j++];
        }
    }
    free(a->t);
    free(a->v);
    a->t = t;
    a->v = v;
    a->n = a->cap = (uint32_t)k;
    free_ooo(b);
    *from = NULL;
    return true;
}

/* Under the series lock: put what an earlier cut took and did not finish back into
 * `late`. False when out of memory (both buffers are left as they were). */
static bool late_restore(struct km_hseries *s)
{
    return ooo_merge(&s->late, &s->late_cut);
}

/* Under the series lock: replace chunk `old` (the last one) by `c` in the list. */
static void replace_last(struct km_hseries *s, struct km_hchunk *old, struct km_hchunk *c)
{
    if (s->first == old) {
        s->first = c;
    } else {
        struct km_hchunk *p = s->first;

        while (p->next != old)
            p = p->next;
        p->next = c;
    }
    set_last(s, c);
}

/* Under the series lock: t is newer than every sample of the series (or it has none):
 * into the last chunk, or a new one at a chunk or block-range boundary. */
static enum km_append_status append_newest(struct km_head *h, struct km_hseries *s, int64_t t,
                                           double v)
{
    struct km_hchunk *last = s->last, *c;
    int64_t boundary =
        last ? (floor_div(last->mint, h->o.block_range_ms) + 1) * h->o.block_range_ms : 0;

    if (!last || km_hchunk_full(last) || t >= boundary) {
        c = km_hchunk_new(t, v);
        if (!c)
            return KM_APPEND_NOMEM;
        if (last) {
            /* The old chunk is closed: give back its unused capacity. */
            size_t before = chunk_alloc_bytes(last);
            struct km_hchunk *closed = km_hchunk_shrink(last);

            if (closed != last)
                replace_last(s, last, closed);
            atomic_fetch_sub(&my_counters(h)->chunk_bytes, before - chunk_alloc_bytes(closed));
            closed->next = c;
        } else {
            s->first = c;
        }
        set_last(s, c);
        atomic_fetch_add(&my_counters(h)->chunks, 1);
        atomic_fetch_add(&my_counters(h)->chunk_bytes, chunk_alloc_bytes(c));
    } else {
        size_t before = chunk_alloc_bytes(last);

        c = km_hchunk_append(last, t, v);
        if (!c)
            return KM_APPEND_NOMEM;
        if (c != last)
            replace_last(s, last, c);
        atomic_fetch_add(&my_counters(h)->chunk_bytes, chunk_alloc_bytes(c) - before);
    }
    return KM_APPEND_OK;
}

/* Under the series lock: a sample older than what it has: a duplicate, a conflict, or
 * one more for `ooo` (t >= min_valid) or `late` (behind a cut). */
static enum km_append_status append_older(struct km_head *h, struct km_hseries *s, int64_t t,
                                          double v, bool late)
{
    uint64_t bits;

    if (s->last && t == s->last->maxt) {
        bits = last_value_bits(s->last);
        return bits == km_double_bits(v) ? KM_APPEND_DUPLICATE : KM_APPEND_CONFLICT;
    }
    if (find_sample(s, t, &bits))
        return bits == km_double_bits(v) ? KM_APPEND_DUPLICATE : KM_APPEND_CONFLICT;
    if (!ooo_insert(late ? &s->late : &s->ooo, t, v))
        return KM_APPEND_NOMEM;
    if (late) {
        atomic_fetch_add(&h->late_samples, 1);
        atomic_fetch_add(&h->late_total, 1);
        atomic_min64(&h->late_mint, t);
    }
    return KM_APPEND_OK;
}

static int64_t sat_sub(int64_t a, int64_t b)
{
    return a < INT64_MIN + b ? INT64_MIN : a - b;
}

enum km_append_status km_head_append(struct km_head *h, struct km_hseries *s, int64_t t, double v,
                                     bool replay)
{
    enum km_append_status st;
    bool late;

    series_lock(s);
    if (s->removed) {
        series_unlock(s);
        return KM_APPEND_REMOVED;
    }
    /* Too old is judged against this series' own newest sample, never another's; a
     * stored sample sent again is a duplicate however old (retries stay harmless). */
    if (!replay && s->maxt != INT64_MIN && t < sat_sub(s->maxt, h->o.ooo_window_ms)) {
        uint64_t bits;

        st = find_sample(s, t, &bits) && bits == km_double_bits(v) ? KM_APPEND_DUPLICATE
                                                                   : KM_APPEND_TOO_OLD;
        series_unlock(s);
        return st;
    }
    /* Read under the series lock: a cut raises min_valid before it reads a series under
     * this lock, so a sample below the cut is either read by it or lands in `late`. */
    late = t < atomic_load_explicit(&h->min_valid, memory_order_acquire);
    if (!late && (!s->last || t > s->last->maxt))
        st = append_newest(h, s, t, v);
    else
        st = append_older(h, s, t, v, late);
    if (st == KM_APPEND_OK) {
        atomic_fetch_add_explicit(samples_of(h, s), 1, memory_order_relaxed);
        if (t > s->maxt)
            s->maxt = t;
        atomic_max64(&h->maxt, t);
        if (!late)
            atomic_min64(&h->mint, t);
    }
    series_unlock(s);
    return st;
}

/* ---- reading ------------------------------------------------------------------------- */

/* Append the samples of a sorted buffer within [mint, maxt] to out. */
static int push_buffer(const struct ooo *o, int64_t mint, int64_t maxt, struct km_samples *out)
{
    int rc = 0;

    for (uint32_t i = 0; o && i < o->n && rc == 0; i++) {
        if (o->t[i] >= mint && o->t[i] <= maxt)
            rc = km_samples_push(out, o->t[i], o->v[i]);
    }
    return rc;
}

/* out[0..k) and out[k..n) are each sorted (and share no timestamp): merge them in
 * place, from the back. */
static int merge_runs(struct km_samples *out, size_t k)
{
    size_t m = out->n - k, i = k, j = m, w = out->n;
    int64_t *tt;
    double *vv;

    if (m == 0 || k == 0 || out->t[k - 1] < out->t[k])
        return 0;
    tt = malloc(m * sizeof(*tt));
    vv = malloc(m * sizeof(*vv));
    if (!tt || !vv) {
        free(tt);
        free(vv);
        return km_err_set(KM_ENOMEM, "out of memory merging samples");
    }
    memcpy(tt, out->t + k, m * sizeof(*tt));
    memcpy(vv, out->v + k, m * sizeof(*vv));
    while (j > 0) {
        if (i > 0 && out->t[i - 1] > tt[j - 1]) {
            out->t[--w] = out->t[--i];
            out->v[w] = out->v[i];
        } else {
            out->t[--w] = tt[--j];
            out->v[w] = vv[j];
        }
    }
    free(tt);
    free(vv);
    return 0;
}

/* The newest chunk of s holding a sample in [mint, maxt], or NULL. */
static const struct km_hchunk *newest_chunk(const struct km_hseries *s, int64_t mint, int64_t maxt)
{
    const struct km_hchunk *found = NULL;

    for (const struct km_hchunk *c = s->first; c && c->mint <= maxt; c = c->next) {
        if (c->maxt >= mint)
            found = c;
    }
    return found;
}

/* The series' samples in chunks and `ooo` within [mint, maxt], and in the late buffers
 * within [late_mint, maxt], in time order. Takes the series lock. With `take`, the
 * series' `late` buffer becomes `late_cut` first (a cut reading it). With `newest`, of
 * the chunks only the newest in range is read (its last sample alone when it ends in
 * range): what a reader of the newest sample needs. */
static int series_read(struct km_hseries *s, int64_t mint, int64_t maxt, int64_t late_mint,
                       bool take, bool newest, struct km_samples *out)
{
    const struct km_hchunk *from, *to = NULL; /* the chunks read: [from, to) */
    size_t runs[4], nruns = 0;
    int rc = 0;

    out->n = 0;
    series_lock(s);
    if (take) {
        if (!late_restore(s)) {
            series_unlock(s);
            return km_err_set(KM_ENOMEM, "out of memory reading a series for a cut");
        }
        s->late_cut = s->late;
        s->late = NULL;
    }
    from = s->first;
    if (newest) {
        const struct km_hchunk *c = newest_chunk(s, mint, maxt);

        from = c;
        to = c ? c->next : NULL;
        if (c && c->maxt <= maxt) {
            int64_t t;
            double v;

            km_hchunk_last(c, &t, &v);
            rc = km_samples_append(out, &t, &v, 1);
            from = to;
        }
    }
    for (const struct km_hchunk *c = from; c != to && rc == 0; c = c->next) {
        int64_t ts[KM_HCHUNK_MAX];
        double vs[KM_HCHUNK_MAX];
        int n;

        if (c->maxt < mint || c->mint > maxt)
            continue;
        n = km_hchunk_decode_chunk(c, ts, vs);
        if (n < 0) {
            rc = km_err_set(KM_ECORRUPT, "head chunk of series %llu does not decode",
                            (unsigned long long)s->ref);
            break;
        }
        {
            /* A chunk's times increase: what is in range is one run, appended at once. */
            int a = 0, b = n;

            while (a < b && ts[a] < mint)
                a++;
            while (b > a && ts[b - 1] > maxt)
                b--;
            rc = km_samples_append(out, ts + a, vs + a, (size_t)(b - a));
        }
    }
    /* Each buffer is a sorted run of its own, merged in below (outside the lock). */
    runs[nruns++] = out->n;
    if (rc == 0)
        rc = push_buffer(s->ooo, mint, maxt, out);
    runs[nruns++] = out->n;
    if (rc == 0)
        rc = push_buffer(s->late, late_mint, maxt, out);
    runs[nruns++] = out->n;
    if (rc == 0)
        rc = push_buffer(s->late_cut, late_mint, maxt, out);
    runs[nruns++] = out->n;
    series_unlock(s);
    for (size_t r = 0; r + 1 < nruns && rc == 0; r++) {
        size_t n = out->n;

        out->n = runs[r + 1];
        rc = merge_runs(out, runs[r]);
        out->n = n;
    }
    return rc;
}

int km_head_series_samples(struct km_head *h, struct km_hseries *s, int64_t mint, int64_t maxt,
                           struct km_samples *out)
{
    (void)h;
    return series_read(s, mint, maxt, mint, false, false, out);
}

int km_head_series_newest(struct km_head *h, struct km_hseries *s, int64_t mint, int64_t maxt,
                          struct km_samples *out)
{
    (void)h;
    return series_read(s, mint, maxt, mint, false, true, out);
}

int km_head_series_cut_samples(struct km_head *h, struct km_hseries *s, int64_t a, int64_t b,
                               struct km_samples *out)
{
    (void)h;
    return series_read(s, INT64_MIN, b - 1, a, true, false, out);
}

/* ---- settling after a replay ------------------------------------------------------- */

/* The series' chunks and out-of-order buffer as chunks alone, in time order: built aside
 * (appended as in-order samples would have been), then swapped in. *rebuilt when so. */
static int settle_series(struct km_head *h, struct km_hseries *s, struct km_samples *buf,
                         bool *rebuilt)
{
    struct km_hseries tmp;
    size_t k;
    int rc = 0;

    *rebuilt = false;
    series_lock(s);
    if (!s->ooo || s->ooo->n == 0) {
        series_unlock(s);
        return 0;
    }
    buf->n = 0;
    for (const struct km_hchunk *c = s->first; c && rc == 0; c = c->next) {
        int64_t ts[KM_HCHUNK_MAX];
        double vs[KM_HCHUNK_MAX];
        int n = km_hchunk_decode_chunk(c, ts, vs);

        rc = n < 0 ? km_err_set(KM_ECORRUPT, "head chunk of series %llu does not decode",
                                (unsigned long long)s->ref)
                   : km_samples_append(buf, ts, vs, (size_t)n);
    }
    k = buf->n;
    if (rc == 0)
        rc = push_buffer(s->ooo, INT64_MIN, INT64_MAX, buf);
    if (rc == 0)
        rc = merge_runs(buf, k);
    memset(&tmp, 0, sizeof(tmp));
    for (size_t i = 0; i < buf->n && rc == 0; i++) {
        if (append_newest(h, &tmp, buf->t[i], buf->v[i]) != KM_APPEND_OK)
            rc = km_err_set(KM_ENOMEM, "out of memory putting replayed samples in order");
        else
            atomic_fetch_add_explicit(samples_of(h, &tmp), 1, memory_order_relaxed);
    }
    if (rc) {
        free_chunks(h, &tmp, tmp.first); /* counts its own samples back out */
        series_unlock(s);
        return rc;
    }
    free_chunks(h, s, s->first);
    atomic_fetch_sub(samples_of(h, s), s->ooo->n);
    free_ooo(s->ooo);
    s->ooo = NULL;
    s->first = tmp.first;
    set_last(s, tmp.last);
    series_unlock(s);
    *rebuilt = true;
    return 0;
}

int km_head_settle(struct km_head *h, uint64_t *settled)
{
    struct km_samples buf = { 0 };
    uint64_t end = atomic_load(&h->next_ref);
    int rc = 0;

    *settled = 0;
    for (uint64_t ref = 1; ref < end && rc == 0; ref++) {
        struct km_hseries *s = km_head_by_ref(h, ref);
        bool rebuilt;

        if (!s)
            continue;
        rc = settle_series(h, s, &buf, &rebuilt);
        *settled += rebuilt;
        km_head_series_put(h, s);
    }
    km_samples_fini(&buf);
    return rc;
}

static bool buffer_overlaps(const struct ooo *o, int64_t mint, int64_t maxt)
{
    return o && o->n && o->t[0] <= maxt && o->t[o->n - 1] >= mint;
}

/* Whether the series holds samples within [mint, maxt]. Takes the series lock. */
static bool series_overlaps(struct km_hseries *s, int64_t mint, int64_t maxt)
{
    bool yes;

    series_lock(s);
    yes = (s->first && s->first->mint <= maxt && s->last->maxt >= mint) ||
          buffer_overlaps(s->ooo, mint, maxt) || buffer_overlaps(s->late, mint, maxt) ||
          buffer_overlaps(s->late_cut, mint, maxt);
    series_unlock(s);
    return yes;
}

/* ---- selection ---------------------------------------------------------------------- */

/* Under the index read lock: the postings of one matcher into out. */
static int matcher_postings(struct km_head *h, const struct km_matcher *m, struct km_postings *out)
{
    uint32_t name_id, value_id;
    const struct km_postings **lists = NULL;
    struct km_postings tmp = { 0 };
    struct name *n;
    size_t k = 0;
    int rc = 0;

    out->n = 0;
    if (km_symtab_find(h->syms, m->name, strlen(m->name), &name_id) != 0) {
        /* No series has the label: all of them match if the matcher takes "". */
        return m->matches_empty ? km_postings_copy(out, &h->all) : 0;
    }
    if (m->type == KM_MATCH_EQ && !m->matches_empty) {
        const struct km_postings *p = NULL;

        if (km_symtab_find(h->syms, m->value, strlen(m->value), &value_id) == 0)
            p = pair_get(h, name_id, value_id, false);
        return p ? km_postings_copy(out, p) : 0;
    }
    n = name_get(h, name_id, false);
    if (!n)
        return m->matches_empty ? km_postings_copy(out, &h->all) : 0;
    lists = malloc((n->n ? n->n : 1) * sizeof(*lists));
    if (!lists)
        return km_err_set(KM_ENOMEM, "out of memory");
    /* Values that match, or (when "" matches) those that do not, to subtract. */
    for (size_t i = 0; i < n->n; i++) {
        const char *val = km_symtab_str(h->syms, n->values[i]);

        if (km_matcher_matches(m, val) != m->matches_empty) {
            const struct km_postings *p = pair_get(h, name_id, n->values[i], false);

            if (p && p->n)
                lists[k++] = p;
        }
    }
    if (!m->matches_empty) {
        rc = k ? km_postings_union(out, lists, k) : 0;
    } else {
        rc = k ? km_postings_union(&tmp, lists, k) : 0;
        if (rc == 0)
            rc = km_postings_subtract(out, &h->all, &tmp);
    }
    km_postings_fini(&tmp);
    free(lists);
    return rc;
}

/* Selection: how many matchers are ordered, and below how many candidate series the
 * remaining matchers are checked against each series' labels. */
#define KM_SELECT_MATCHERS_MAX 64
#define KM_SELECT_FILTER_MAX   4096

/* Under the index read lock: keep in p the series whose value of m's label (""
 * when they have none) matches m. */
static void filter_postings(struct km_head *h, const struct km_matcher *m, struct km_postings *p)
{
    uint32_t name_id;
    bool known = km_symtab_find(h->syms, m->name, strlen(m->name), &name_id) == 0;
    size_t w = 0;

    for (size_t i = 0; i < p->n; i++) {
        const struct km_hseries *s = ord_get(h, p->v[i]);
        const char *val = "";

        if (!s)
            continue;
        for (unsigned j = 0; known && j < s->nlabels; j++) {
            if (s->lab[2 * j] == name_id) {
                val = km_symtab_str(h->syms, s->lab[2 * j + 1]);
                break;
            }
        }
        if (km_matcher_matches(m, val))
            p->v[w++] = p->v[i];
    }
    p->n = w;
}

static int cmp_series(const void *a, const void *b, void *ud)
{
    const struct km_hseries *x = *(struct km_hseries *const *)a;
    const struct km_hseries *y = *(struct km_hseries *const *)b;
    struct km_head *h = ud;
    unsigned n = x->nlabels < y->nlabels ? x->nlabels : y->nlabels;

    for (unsigned i = 0; i < n; i++) {
        int c;

        if (x->lab[2 * i] != y->lab[2 * i]) {
            c = strcmp(km_symtab_str(h->syms, x->lab[2 * i]),
                       km_symtab_str(h->syms, y->lab[2 * i]));
            if (c)
                return c;
        }
        if (x->lab[2 * i + 1] != y->lab[2 * i + 1]) {
            c = strcmp(km_symtab_str(h->syms, x->lab[2 * i + 1]),
                       km_symtab_str(h->syms, y->lab[2 * i + 1]));
            if (c)
                return c;
        }
    }
    return (int)x->nlabels - (int)y->nlabels;
}

static void sort_series(struct km_head *h, struct km_hseries **v, size_t n)
{
    if (n > 1)
        qsort_r(v, n, sizeof(*v), cmp_series, h);
}

/* Selection without the time filter when all_series is set (checkpoints and cuts must
 * see series that hold no samples yet: their series record is still needed). */
static int select_series(struct km_head *h, struct km_matcher *const *m, size_t nm, int64_t mint,
                         int64_t maxt, bool all_series, bool sorted, struct km_hseries ***out,
                         size_t *nout);

int km_head_select(struct km_head *h, struct km_matcher *const *m, size_t nm, int64_t mint,
                   int64_t maxt, bool sorted, struct km_hseries ***out, size_t *nout)
{
    return select_series(h, m, nm, mint, maxt, false, sorted, out, nout);
}

static int select_series(struct km_head *h, struct km_matcher *const *m, size_t nm, int64_t mint,
                         int64_t maxt, bool all_series, bool sorted, struct km_hseries ***out,
                         size_t *nout)
{
    struct km_postings acc = { 0 }, cur = { 0 }, tmp = { 0 };
    struct km_hseries **v = NULL;
    size_t n = 0;
    int rc = 0;

    pthread_rwlock_rdlock(&h->index_lock);
    if (nm == 0) {
        rc = km_postings_copy(&acc, &h->all);
    } else {
        size_t order[KM_SELECT_MATCHERS_MAX], no = 0, i;

        /* Equalities first (a lookup each, and the most selective); once few series are
         * left, the other matchers check those series' own values rather than build the
         * union of every value they take (`node!=""` holds most series). */
        for (i = 0; i < nm && no < KM_SELECT_MATCHERS_MAX; i++)
            if (m[i]->type == KM_MATCH_EQ && !m[i]->matches_empty)
                order[no++] = i;
        for (i = 0; i < nm && no < KM_SELECT_MATCHERS_MAX; i++)
            if (!(m[i]->type == KM_MATCH_EQ && !m[i]->matches_empty))
                order[no++] = i;
        for (i = 0; i < no && rc == 0; i++) {
            if (i > 0 && acc.n <= KM_SELECT_FILTER_MAX) {
                filter_postings(h, m[order[i]], &acc);
            } else {
                rc = matcher_postings(h, m[order[i]], i == 0 ? &acc : &cur);
                if (rc == 0 && i > 0) {
                    rc = km_postings_intersect(&tmp, &acc, &cur);
                    if (rc == 0) {
                        struct km_postings swap = acc;

                        acc = tmp;
                        tmp = swap;
                    }
                }
            }
            if (acc.n == 0)
                break;
        }
        /* More matchers than the order holds: the rest, each on what is left. */
        for (i = no; i < nm && rc == 0 && acc.n; i++)
            filter_postings(h, m[i], &acc);
    }
    if (rc == 0 && acc.n) {
        v = malloc(acc.n * sizeof(*v));
        if (!v)
            rc = km_err_set(KM_ENOMEM, "out of memory selecting series");
    }
    for (size_t i = 0; rc == 0 && i < acc.n; i++) {
        struct km_hseries *s = ord_get(h, acc.v[i]);

        if (!s)
            continue;
        atomic_fetch_add(&s->refs, 1);
        v[n++] = s;
    }
    pthread_rwlock_unlock(&h->index_lock);
    km_postings_fini(&acc);
    km_postings_fini(&cur);
    km_postings_fini(&tmp);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            km_head_series_put(h, v[i]);
        free(v);
        return rc;
    }
    /* Keep only series with samples in the range. */
    if (!all_series) {
        size_t w = 0;

        for (size_t i = 0; i < n; i++) {
            if (series_overlaps(v[i], mint, maxt))
                v[w++] = v[i];
            else
                km_head_series_put(h, v[i]);
        }
        n = w;
    }
    if (sorted)
        sort_series(h, v, n);
    *out = v;
    *nout = n;
    return 0;
}

int km_head_all_sorted(struct km_head *h, struct km_hseries ***out, size_t *n)
{
    return select_series(h, NULL, 0, INT64_MIN, INT64_MAX, true, true, out, n);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Collect label names or values of selected series, sort, dedupe, report. */
static int push_str(const char ***strs, size_t *ns, size_t *cap, const char *s)
{
    if (*ns == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        const char **p = realloc(*strs, ncap * sizeof(*p));

        if (!p)
            return km_err_set(KM_ENOMEM, "out of memory");
        *strs = p;
        *cap = ncap;
    }
    (*strs)[(*ns)++] = s;
    return 0;
}

/* Sorted, without duplicates, to fn. */
static void emit_strings(const char **strs, size_t ns, km_str_fn fn, void *ud)
{
    km_sort(strs, ns, sizeof(*strs), cmp_str);
    for (size_t i = 0; i < ns; i++) {
        if (i > 0 && strcmp(strs[i], strs[i - 1]) == 0)
            continue;
        if (fn(ud, strs[i]))
            break;
    }
}

/* Without matchers, over a range holding the whole head: every series the head holds
 * has a sample in the range, so the index alone answers (the names, or one name's
 * values, that some series still has) without visiting any series. */
static int collect_from_index(struct km_head *h, const char *name, km_str_fn fn, void *ud)
{
    const char **strs = NULL;
    size_t ns = 0, cap = 0;
    uint32_t name_id;
    int rc = 0;

    pthread_rwlock_rdlock(&h->index_lock);
    for (size_t i = 0; i < h->nnames_slots && rc == 0; i++) {
        const struct name *n = &h->names[i];

        if (!n->used)
            continue;
        if (name &&
            (km_symtab_find(h->syms, name, strlen(name), &name_id) != 0 || n->name != name_id))
            continue;
        for (size_t k = 0; k < n->n && rc == 0; k++) {
            const struct km_postings *p = pair_get(h, n->name, n->values[k], false);

            if (!p || p->n == 0)
                continue;
            rc = push_str(&strs, &ns, &cap, km_symtab_str(h->syms, name ? n->values[k] : n->name));
            if (!name)
                break; /* the name is in use: once is enough */
        }
    }
    /* The strings belong to the symbol table: handed over under the lock that keeps the
     * series using them alive. */
    if (rc == 0 && ns)
        emit_strings(strs, ns, fn, ud);
    pthread_rwlock_unlock(&h->index_lock);
    free(strs);
    return rc;
}

static int collect_strings(struct km_head *h, const char *name, struct km_matcher *const *m,
                           size_t nm, int64_t mint, int64_t maxt, km_str_fn fn, void *ud)
{
    struct km_hseries **v;
    const char **strs = NULL;
    size_t n, ns = 0, cap = 0;
    int64_t hmin = atomic_load(&h->mint), hlate = atomic_load(&h->late_mint);
    int rc;

    if (hlate < hmin)
        hmin = hlate;
    if (nm == 0 && mint <= hmin && maxt >= atomic_load(&h->maxt))
        return collect_from_index(h, name, fn, ud);
    rc = km_head_select(h, m, nm, mint, maxt, false, &v, &n); /* the strings are sorted */
    if (rc)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        for (unsigned k = 0; k < v[i]->nlabels; k++) {
            const char *s = NULL;

            if (!name)
                s = km_symtab_str(h->syms, v[i]->lab[2 * k]);
            else if (strcmp(km_symtab_str(h->syms, v[i]->lab[2 * k]), name) == 0)
                s = km_symtab_str(h->syms, v[i]->lab[2 * k + 1]);
            if (s && (rc = push_str(&strs, &ns, &cap, s)) != 0)
                break;
        }
    }
    if (rc == 0 && ns)
        emit_strings(strs, ns, fn, ud);
    free(strs);
    /* The strings were borrowed from the series: release them only now. */
    for (size_t i = 0; i < n; i++)
        km_head_series_put(h, v[i]);
    free(v);
    return rc;
}

int km_head_label_names(struct km_head *h, struct km_matcher *const *m, size_t nm, int64_t mint,
                        int64_t maxt, km_str_fn fn, void *ud)
{
    return collect_strings(h, NULL, m, nm, mint, maxt, fn, ud);
}

int km_head_label_values(struct km_head *h, const char *name, struct km_matcher *const *m,
                         size_t nm, int64_t mint, int64_t maxt, km_str_fn fn, void *ud)
{
    return collect_strings(h, name, m, nm, mint, maxt, fn, ud);
}

/* ---- truncation ----------------------------------------------------------------------- */

/* Drop the samples within [a, b) from a sorted buffer (freed when emptied); how many. */
static uint32_t buffer_drop(struct ooo **po, int64_t a, int64_t b)
{
    struct ooo *o = *po;
    uint32_t lo = 0, hi;

    if (!o)
        return 0;
    while (lo < o->n && o->t[lo] < a)
        lo++;
    hi = lo;
    while (hi < o->n && o->t[hi] < b)
        hi++;
    if (hi > lo) {
        memmove(o->t + lo, o->t + hi, (o->n - hi) * sizeof(int64_t));
        memmove(o->v + lo, o->v + hi, (o->n - hi) * sizeof(double));
        o->n -= hi - lo;
    }
    if (o->n == 0) {
        free_ooo(o);
        *po = NULL;
    }
    return hi - lo;
}

/* Under the series lock: drop what a cut of [a, b) wrote: everything before b in chunks
 * and `ooo`, the late samples it took within [a, b). True if the series is empty. */
static bool series_truncate(struct km_head *h, struct km_hseries *s, int64_t a, int64_t b)
{
    while (s->first && s->first->maxt < b) {
        struct km_hchunk *c = s->first;

        s->first = c->next;
        c->next = NULL;
        free_chunks(h, s, c);
    }
    if (!s->first) {
        set_last(s, NULL);
    } else if (s->first->mint < b) {
        /* A chunk straddling b (only after a forced flush): keep its samples >= b. */
        int64_t ts[KM_HCHUNK_MAX];
        double vs[KM_HCHUNK_MAX];
        struct km_hchunk *old = s->first, *c = NULL;
        int n = km_hchunk_decode_chunk(old, ts, vs), i = 0;

        while (i < n && ts[i] < b)
            i++;
        if (n > i) {
            c = km_hchunk_new(ts[i], vs[i]);
            for (int k = i + 1; c && k < n; k++)
                c = km_hchunk_append(c, ts[k], vs[k]);
        }
        if (c || n <= i) {
            struct km_hchunk *next = old->next;

            old->next = NULL;
            free_chunks(h, s, old);
            if (c) {
                c->next = next;
                atomic_fetch_add(&my_counters(h)->chunks, 1);
                atomic_fetch_add(samples_of(h, s), c->n);
                atomic_fetch_add(&my_counters(h)->chunk_bytes, chunk_alloc_bytes(c));
                s->first = c;
            } else {
                s->first = next;
            }
            if (!s->first || !s->first->next)
                set_last(s, s->first);
            else if (s->last == old)
                set_last(s, c);
        }
    }
    atomic_fetch_sub(samples_of(h, s), buffer_drop(&s->ooo, INT64_MIN, b));
    if (s->late_cut) {
        uint32_t k = buffer_drop(&s->late_cut, a, b);

        atomic_fetch_sub(samples_of(h, s), k);
        atomic_fetch_sub(&h->late_samples, k);
    }
    /* What the cut did not write (other windows) waits in `late` for the next one. If
     * memory is short it stays in `late_cut`, which the next cut reads first. */
    late_restore(s);
    return !s->first && !s->ooo && !s->late && !s->late_cut;
}

void km_head_set_min_valid(struct km_head *h, int64_t b)
{
    if (b == INT64_MIN)
        return;
    atomic_max64(&h->min_valid, b);
    atomic_max64(&h->maxt, b - 1);
}

int km_head_truncate(struct km_head *h, int64_t a, int64_t b, size_t *removed_out)
{
    struct km_hseries **v, **removed = NULL;
    size_t n, nrem = 0;
    int64_t mint = INT64_MAX, late_mint = INT64_MAX, old_mint, old_late_mint;
    int rc;

    /* From now on nothing older than b enters chunks or `ooo`; then drop what the cut
     * wrote. The time bounds are recomputed from what is left: reset before the series
     * are listed, so that appends to series the list misses lower them themselves. */
    km_head_set_min_valid(h, b);
    old_mint = atomic_exchange(&h->mint, INT64_MAX);
    old_late_mint = atomic_exchange(&h->late_mint, INT64_MAX);
    rc = km_head_all_sorted(h, &v, &n);
    if (rc == 0) {
        removed = malloc((n ? n : 1) * sizeof(*removed));
        if (!removed) {
            for (size_t i = 0; i < n; i++)
                km_head_series_put(h, v[i]);
            free(v);
            rc = km_err_set(KM_ENOMEM, "out of memory truncating the head");
        }
    }
    if (rc) {
        atomic_min64(&h->mint, old_mint);
        atomic_min64(&h->late_mint, old_late_mint);
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        struct km_hseries *s = v[i];
        bool empty;

        series_lock(s);
        empty = series_truncate(h, s, a, b);
        if (empty)
            s->removed = true;
        if (s->first && s->first->mint < mint)
            mint = s->first->mint;
        if (s->ooo && s->ooo->t[0] < mint)
            mint = s->ooo->t[0];
        if (s->late && s->late->t[0] < late_mint)
            late_mint = s->late->t[0];
        if (s->late_cut && s->late_cut->t[0] < late_mint)
            late_mint = s->late_cut->t[0];
        series_unlock(s);
        if (empty)
            removed[nrem++] = s;
        else
            km_head_series_put(h, s);
    }
    free(v);
    /* Take removed series out of their stripes and the index. */
    for (size_t i = 0; i < nrem; i++) {
        struct km_hseries *s = removed[i];
        struct stripe *st = stripe_of(h, s->hash);
        struct km_label l[KM_LIMIT_LABELS_PER_SERIES];
        size_t nl, slot;
        bool found;

        km_head_series_label_view(h, s, l, &nl);
        pthread_rwlock_wrlock(&st->lock);
        slot = stripe_probe(h, st, l, nl, s->hash, &found);
        if (found && st->slots[slot] == s) {
            st->slots[slot] = TOMB;
            st->count--;
        }
        pthread_rwlock_unlock(&st->lock);
    }
    if (nrem) {
        pthread_rwlock_wrlock(&h->index_lock);
        for (size_t i = 0; i < nrem; i++)
            ord_set(h, ord_of(removed[i]), NULL);
        /* Rebuild the index from the series still present (series are few enough that
         * this beats deleting from every list, and it drops emptied values too). */
        {
            struct orddir *d = atomic_load(&h->ords);

            index_clear(h);
            for (size_t p = 0; p < d->npages; p++) {
                struct ordpage *pg = atomic_load(&d->pages[p]);

                for (size_t k = 0; pg && k < ORD_PAGE_SIZE; k++) {
                    struct km_hseries *s = atomic_load(&pg->s[k]);

                    if (s && index_add(h, s) != 0)
                        rc = km_err_set(KM_ENOMEM, "out of memory rebuilding the head index");
                }
            }
        }
        pthread_rwlock_unlock(&h->index_lock);
        atomic_fetch_sub(&h->nseries, nrem);
    }
    for (size_t i = 0; i < nrem; i++) {
        km_head_series_put(h, removed[i]); /* the select's reference */
        km_head_series_put(h, removed[i]); /* the head's own */
    }
    free(removed);
    /* Appends racing with the pass lowered them themselves. */
    atomic_min64(&h->mint, mint);
    atomic_min64(&h->late_mint, late_mint);
    if (removed_out)
        *removed_out = nrem;
    return rc;
}

/* ---- life cycle ------------------------------------------------------------------------ */

int km_head_create(struct km_head **out, const struct km_head_opts *o)
{
    struct km_head *h = calloc(1, sizeof(*h));
    struct orddir *d;
    int rc;

    if (!h)
        return km_err_set(KM_ENOMEM, "out of memory");
    h->o = *o;
    rc = km_symtab_create(&h->syms);
    if (rc)
        goto out_free_head;
    d = calloc(1, sizeof(*d) + 16 * sizeof(d->pages[0]));
    if (!d) {
        rc = km_err_set(KM_ENOMEM, "out of memory");
        goto out_free_syms;
    }
    d->npages = 16;
    atomic_init(&h->ords, d);
    for (int i = 0; i < NSTRIPES; i++) {
        h->stripes[i].nslots = 64;
        h->stripes[i].slots = calloc(64, sizeof(struct km_hseries *));
        if (!h->stripes[i].slots) {
            rc = km_err_set(KM_ENOMEM, "out of memory");
            goto out_free_stripes;
        }
        pthread_rwlock_init(&h->stripes[i].lock, NULL);
    }
    pthread_rwlock_init(&h->index_lock, NULL);
    atomic_init(&h->next_ref, 1);
    atomic_init(&h->mint, INT64_MAX);
    atomic_init(&h->maxt, INT64_MIN);
    atomic_init(&h->min_valid, INT64_MIN);
    atomic_init(&h->late_mint, INT64_MAX);
    *out = h;
    return 0;

out_free_stripes:
    for (int i = 0; i < NSTRIPES; i++) {
        if (h->stripes[i].slots)
            pthread_rwlock_destroy(&h->stripes[i].lock);
        free(h->stripes[i].slots);
    }
    free(d);
out_free_syms:
    km_symtab_destroy(h->syms);
out_free_head:
    free(h);
    return rc;
}

void km_head_destroy(struct km_head *h)
{
    struct orddir *d;

    if (!h)
        return;
    for (int i = 0; i < NSTRIPES; i++) {
        struct stripe *st = &h->stripes[i];

        for (size_t k = 0; k < st->nslots; k++) {
            if (st->slots[k] && st->slots[k] != TOMB)
                km_head_series_put(h, st->slots[k]);
        }
        free(st->slots);
        pthread_rwlock_destroy(&st->lock);
    }
    index_clear(h);
    km_postings_fini(&h->all);
    d = atomic_load(&h->ords);
    for (size_t p = 0; p < d->npages; p++)
        free(atomic_load(&d->pages[p]));
    while (d) {
        struct orddir *older = d->older;

        free(d);
        d = older;
    }
    pthread_rwlock_destroy(&h->index_lock);
    km_symtab_destroy(h->syms);
    free(h);
}

void km_head_stats(struct km_head *h, struct km_head_stats *out)
{
    size_t index_bytes = 0;

    pthread_rwlock_rdlock(&h->index_lock);
    index_bytes = h->npairs_slots * sizeof(struct pair) + h->nnames_slots * sizeof(struct name) +
                  km_postings_bytes(&h->all);
    for (size_t i = 0; i < h->npairs_slots; i++) {
        if (h->pairs[i].key != PAIR_EMPTY_KEY)
            index_bytes += km_postings_bytes(&h->pairs[i].p);
    }
    for (size_t i = 0; i < h->nnames_slots; i++)
        index_bytes += h->names[i].cap * sizeof(uint32_t);
    {
        struct orddir *d = atomic_load(&h->ords);

        for (size_t p = 0; p < d->npages; p++)
            index_bytes += atomic_load(&d->pages[p]) ? sizeof(struct ordpage) : 0;
    }
    pthread_rwlock_unlock(&h->index_lock);
    for (int i = 0; i < NSTRIPES; i++) {
        pthread_rwlock_rdlock(&h->stripes[i].lock);
        index_bytes += h->stripes[i].nslots * sizeof(void *);
        pthread_rwlock_unlock(&h->stripes[i].lock);
    }
    out->series = atomic_load(&h->nseries);

    out->samples = 0;
    out->chunks = 0;
    {
        uint64_t chunk_bytes = 0;

        for (int i = 0; i < NCOUNTERS; i++) {
            out->samples += atomic_load(&h->samples[i].n);
            out->chunks += atomic_load(&h->samples[i].chunks);
            chunk_bytes += atomic_load(&h->samples[i].chunk_bytes);
        }
        out->bytes = chunk_bytes;
    }
    out->bytes += atomic_load(&h->series_bytes) + index_bytes + km_symtab_bytes(h->syms);
    km_head_times(h, &out->times);
}

/* ---- cardinality ------------------------------------------------------------------------ */

/* The top entries seen so far, kept sorted largest first (ties by name). */
struct top {
    struct km_storage_stat *v;
    size_t n, cap;
};

static int stat_cmp(uint64_t ca, const char *na, uint64_t cb, const char *nb)
{
    if (ca != cb)
        return ca > cb ? -1 : 1;
    return strcmp(na, nb);
}

/* Offer (name a[=b], count); kept when among the top cap. */
static int top_offer(struct top *t, const char *a, const char *b, uint64_t count)
{
    char buf[512];
    size_t pos;

    snprintf(buf, sizeof(buf), "%s%s%s", a, b ? "=" : "", b ? b : "");
    if (t->n == t->cap && stat_cmp(count, buf, t->v[t->n - 1].count, t->v[t->n - 1].name) >= 0)
        return 0;
    pos = t->n < t->cap ? t->n : t->cap - 1;
    if (t->n == t->cap)
        free(t->v[pos].name);
    else
        t->n++;
    while (pos > 0 && stat_cmp(count, buf, t->v[pos - 1].count, t->v[pos - 1].name) < 0) {
        t->v[pos] = t->v[pos - 1];
        pos--;
    }
    t->v[pos].count = count;
    t->v[pos].name = strdup(buf);
    return t->v[pos].name ? 0 : km_err_set(KM_ENOMEM, "out of memory");
}

int km_head_cardinality(struct km_head *h, size_t top, struct km_storage_cardinality *out)
{
    struct top metric = { 0 }, values = { 0 }, memory = { 0 }, pairs = { 0 };
    struct km_head_stats st;
    uint32_t name_label = UINT32_MAX;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (top == 0)
        top = 1;
    metric.cap = values.cap = memory.cap = pairs.cap = top;
    metric.v = calloc(top, sizeof(*metric.v));
    values.v = calloc(top, sizeof(*values.v));
    memory.v = calloc(top, sizeof(*memory.v));
    pairs.v = calloc(top, sizeof(*pairs.v));
    if (!metric.v || !values.v || !memory.v || !pairs.v)
        rc = km_err_set(KM_ENOMEM, "out of memory");
    km_head_stats(h, &st);
    pthread_rwlock_rdlock(&h->index_lock);
    km_symtab_find(h->syms, KM_METRIC_NAME_LABEL, strlen(KM_METRIC_NAME_LABEL), &name_label);
    for (size_t i = 0; i < h->npairs_slots && rc == 0; i++) {
        const struct pair *p = &h->pairs[i];
        const char *n, *v;

        if (p->key == PAIR_EMPTY_KEY || p->p.n == 0)
            continue;
        n = km_symtab_str(h->syms, (uint32_t)(p->key >> 32));
        v = km_symtab_str(h->syms, (uint32_t)p->key);
        out->label_pairs++;
        if ((uint32_t)(p->key >> 32) == name_label)
            rc = top_offer(&metric, v, NULL, p->p.n);
        if (rc == 0)
            rc = top_offer(&pairs, n, v, p->p.n);
    }
    for (size_t i = 0; i < h->nnames_slots && rc == 0; i++) {
        const struct name *nm = &h->names[i];
        uint64_t bytes = 0, live = 0;

        if (!nm->used)
            continue;
        for (size_t k = 0; k < nm->n; k++) {
            const struct km_postings *p = pair_get(h, nm->name, nm->values[k], false);

            if (!p || p->n == 0)
                continue;
            live++;
            bytes += strlen(km_symtab_str(h->syms, nm->values[k]));
        }
        if (!live)
            continue;
        rc = top_offer(&values, km_symtab_str(h->syms, nm->name), NULL, live);
        if (rc == 0)
            rc = top_offer(&memory, km_symtab_str(h->syms, nm->name), NULL, bytes);
    }
    pthread_rwlock_unlock(&h->index_lock);
    out->series = st.series;
    out->chunks = st.chunks;
    out->mint = st.times.mint < st.times.late_mint ? st.times.mint : st.times.late_mint;
    out->maxt = st.samples ? st.times.maxt : INT64_MIN;
    out->by_metric = metric.v;
    out->n_by_metric = metric.n;
    out->values_by_label = values.v;
    out->n_values_by_label = values.n;
    out->memory_by_label = memory.v;
    out->n_memory_by_label = memory.n;
    out->by_pair = pairs.v;
    out->n_by_pair = pairs.n;
    if (rc)
        km_storage_cardinality_fini(out);
    return rc;
}

uint64_t km_head_nseries(struct km_head *h)
{
    return atomic_load(&h->nseries);
}

void km_head_times(struct km_head *h, struct km_head_times *out)
{
    out->mint = atomic_load(&h->mint);
    out->late_mint = atomic_load(&h->late_mint);
    out->maxt = atomic_load(&h->maxt);
    out->min_valid = atomic_load(&h->min_valid);
    out->late_samples = atomic_load(&h->late_samples);
    out->late_total = atomic_load(&h->late_total);
}
