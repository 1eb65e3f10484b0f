/*
 * lset — a hash set of owned label sets (see lset.h).
 */
#include "lset.h"

#include "common/err.h"

#include <stdlib.h>

int km_lset_init(struct km_lset *s, size_t n)
{
    size_t cap = 16;

    while (cap < 2 * n)
        cap *= 2;
    s->slot = calloc(cap, sizeof(*s->slot));
    s->mask = s->slot ? cap - 1 : 0;
    return s->slot ? 0 : km_err_set(KM_ENOMEM, "out of memory indexing %zu label sets", n);
}

void km_lset_fini(struct km_lset *s)
{
    free(s->slot);
    s->slot = NULL;
    s->mask = 0;
}

/* The slot holding a set equal to l, or the empty slot where it would go; NULL when the
 * table is full (or absent) and holds no equal set. */
static const struct km_labels **probe(const struct km_lset *s, const struct km_labels *l)
{
    size_t i;

    if (!s->slot)
        return NULL;
    i = (size_t)l->hash & s->mask;
    for (size_t step = 0; step <= s->mask; step++, i = (i + 1) & s->mask) {
        const struct km_labels *o = s->slot[i];

        if (!o || (o->hash == l->hash && km_labels_cmp(o, l) == 0))
            return &s->slot[i];
    }
    return NULL;
}

const struct km_labels *km_lset_add(struct km_lset *s, const struct km_labels *l)
{
    const struct km_labels **p = probe(s, l);

    if (!p)
        return l;
    if (*p)
        return *p;
    *p = l;
    return NULL;
}

const struct km_labels *km_lset_find(const struct km_lset *s, const struct km_labels *l)
{
    const struct km_labels **p = probe(s, l);

    return p ? *p : NULL;
}
