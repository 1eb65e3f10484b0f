/*
 * stale — stale markers for the series an emission no longer has (see stale.h).
 */
#include "stale.h"

#include "common/array.h"
#include "common/err.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

static uint64_t series_hash(const struct km_mset *m, const struct km_msample *s)
{
    const struct km_label *l = km_mset_labels(m, s);
    uint64_t h = XXH3_64bits(m->fam[s->family].name, strlen(m->fam[s->family].name));

    /* Each string seeded with the hash so far: order and boundaries count. */
    for (uint32_t i = 0; i < s->nlabels; i++) {
        h = XXH3_64bits_withSeed(l[i].name, strlen(l[i].name), h);
        h = XXH3_64bits_withSeed(l[i].value, strlen(l[i].value), h ^ 0x9e3779b97f4a7c15ull);
    }
    return h;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

int64_t km_kstale_mark(struct km_kstale *s, const struct km_mset *prev, const struct km_mset *cur,
                       struct km_mset *out, unsigned flags)
{
    uint64_t bits = KM_STALE_NAN_BITS;
    uint32_t last_family = UINT32_MAX;
    int64_t marked = 0;
    int fam = -1;
    double nan;

    if (cur->nsmp > s->cap) {
        uint64_t *h = realloc(s->h, cur->nsmp * sizeof(*h));

        if (!h)
            return km_err_set(KM_ENOMEM, "out of memory");
        s->h = h;
        s->cap = cur->nsmp;
    }
    for (size_t i = 0; i < cur->nsmp; i++)
        s->h[i] = series_hash(cur, &cur->smp[i]);
    s->n = cur->nsmp;
    km_sort(s->h, s->n, sizeof(*s->h), cmp_u64);
    memcpy(&nan, &bits, sizeof(nan));
    for (size_t i = 0; prev && i < prev->nsmp; i++) {
        const struct km_msample *p = &prev->smp[i];
        uint64_t h = series_hash(prev, p);

        if (s->n && bsearch(&h, s->h, s->n, sizeof(h), cmp_u64))
            continue;
        if (p->family != last_family) {
            const struct km_mfamily *f = &prev->fam[p->family];

            fam = km_mset_family(out, f->name, f->help, f->type, flags);
            last_family = p->family;
        }
        km_mset_add(out, fam, km_mset_labels(prev, p), p->nlabels, nan);
        marked++;
    }
    return km_mset_error(out) ? km_mset_error(out) : marked;
}

void km_kstale_fini(struct km_kstale *s)
{
    free(s->h);
    memset(s, 0, sizeof(*s));
}
