/*
 * postings — sorted ordinal lists and their set operations (see postings.h).
 * Intersection gallops (binary search forward) through the longer list when the two
 * differ much in size, as with `namespace="a"` (few) ∩ `__name__="x"` (many).
 */
#include "postings.h"
#include "common/array.h"

#include "common/err.h"

#include <stdlib.h>
#include <string.h>

void km_postings_fini(struct km_postings *p)
{
    free(p->v);
    memset(p, 0, sizeof(*p));
}

static int reserve(struct km_postings *p, size_t n)
{
    size_t ncap;
    uint32_t *v;

    if (n <= p->cap)
        return 0;
    ncap = p->cap ? p->cap * 2 : 2; /* most label values belong to few series */
    while (ncap < n)
        ncap *= 2;
    v = realloc(p->v, ncap * sizeof(*v));
    if (!v)
        return km_err_set(KM_ENOMEM, "out of memory growing a postings list");
    p->v = v;
    p->cap = ncap;
    return 0;
}

int km_postings_push(struct km_postings *p, uint32_t x)
{
    int rc = reserve(p, p->n + 1);

    if (rc)
        return rc;
    p->v[p->n++] = x;
    return 0;
}

int km_postings_copy(struct km_postings *dst, const struct km_postings *src)
{
    int rc = reserve(dst, src->n);

    if (rc)
        return rc;
    if (src->n)
        memcpy(dst->v, src->v, src->n * sizeof(uint32_t));
    dst->n = src->n;
    return 0;
}

/* The first index i >= lo with v[i] >= x (galloping then binary search). */
static size_t seek(const uint32_t *v, size_t n, size_t lo, uint32_t x)
{
    size_t step = 1, hi = lo;

    while (hi < n && v[hi] < x) {
        lo = hi + 1;
        hi += step;
        step *= 2;
    }
    if (hi > n)
        hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int km_postings_intersect(struct km_postings *out, const struct km_postings *a,
                          const struct km_postings *b)
{
    size_t i = 0, j = 0;
    int rc;

    if (a->n > b->n) {
        const struct km_postings *t = a;

        a = b;
        b = t;
    }
    rc = reserve(out, a->n);
    if (rc)
        return rc;
    out->n = 0;
    while (i < a->n && j < b->n) {
        if (a->v[i] == b->v[j]) {
            out->v[out->n++] = a->v[i];
            i++;
            j++;
        } else if (a->v[i] < b->v[j]) {
            i++;
        } else {
            j = seek(b->v, b->n, j, a->v[i]);
        }
    }
    return 0;
}

int km_postings_subtract(struct km_postings *out, const struct km_postings *a,
                         const struct km_postings *b)
{
    size_t i = 0, j = 0;
    int rc = reserve(out, a->n);

    if (rc)
        return rc;
    out->n = 0;
    for (; i < a->n; i++) {
        j = seek(b->v, b->n, j, a->v[i]);
        if (j == b->n || b->v[j] != a->v[i])
            out->v[out->n++] = a->v[i];
    }
    return 0;
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

    return a < b ? -1 : a > b;
}

/* Sort n ordinals, by comparisons when few; when many, by an LSD radix sort in three
 * passes of 11 bits through a scratch copy (linear: a `label!=""` union of every value's
 * list holds most series of a metric, and a comparison sort of those cost most of such
 * a query). */
#define RADIX_MIN  2048
#define RADIX_BITS 11
#define RADIX_SIZE (1u << RADIX_BITS)

static int sort_ordinals(uint32_t *v, size_t n)
{
    uint32_t count[3][RADIX_SIZE];
    uint32_t *tmp, *src, *dst;

    if (n < RADIX_MIN) {
        km_sort(v, n, sizeof(uint32_t), cmp_u32);
        return 0;
    }
    tmp = malloc(n * sizeof(*tmp));
    if (!tmp)
        return km_err_set(KM_ENOMEM, "out of memory sorting a postings list");
    memset(count, 0, sizeof(count));
    for (size_t i = 0; i < n; i++) {
        for (unsigned p = 0; p < 3; p++)
            count[p][(v[i] >> (p * RADIX_BITS)) & (RADIX_SIZE - 1)]++;
    }
    src = v;
    dst = tmp;
    for (unsigned p = 0; p < 3; p++) {
        uint32_t sum = 0;

        for (unsigned b = 0; b < RADIX_SIZE; b++) {
            uint32_t c = count[p][b];

            count[p][b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[count[p][(src[i] >> (p * RADIX_BITS)) & (RADIX_SIZE - 1)]++] = src[i];
        src = dst;
        dst = dst == tmp ? v : tmp;
    }
    memcpy(v, src, n * sizeof(*v)); /* three passes: the result is in tmp */
    free(tmp);
    return 0;
}

int km_postings_union(struct km_postings *out, const struct km_postings *const *lists, size_t k)
{
    size_t total = 0;
    int rc;

    for (size_t i = 0; i < k; i++)
        total += lists[i]->n;
    out->n = 0;
    if (total == 0)
        return 0;
    if (k == 1)
        return km_postings_copy(out, lists[0]);
    rc = reserve(out, total);
    if (rc)
        return rc;
    /* Concatenate, sort, deduplicate: simple and fast enough for the fan-in of a regex
     * over label values (a heap merge wins only for very many long lists). */
    for (size_t i = 0; i < k; i++) {
        if (lists[i]->n)
            memcpy(out->v + out->n, lists[i]->v, lists[i]->n * sizeof(uint32_t));
        out->n += lists[i]->n;
    }
    return km_postings_settle(out);
}

int km_postings_settle(struct km_postings *p)
{
    size_t w = 0;
    int rc = sort_ordinals(p->v, p->n);

    if (rc)
        return rc;
    for (size_t i = 0; i < p->n; i++) {
        if (w == 0 || p->v[w - 1] != p->v[i])
            p->v[w++] = p->v[i];
    }
    p->n = w;
    return 0;
}

void km_postings_remove(struct km_postings *p, uint32_t x)
{
    size_t i = seek(p->v, p->n, 0, x);

    if (i < p->n && p->v[i] == x) {
        memmove(p->v + i, p->v + i + 1, (p->n - i - 1) * sizeof(uint32_t));
        p->n--;
    }
}
