/*
 * postings — sorted lists of series ordinals (the inverted index's lists) and the set
 * operations selection needs: intersection, union of many, difference.
 *
 * A list owns its array; the operations write into an output list they reset first
 * (growing its array as needed) and never alias their inputs. Not thread-safe: callers
 * hold the index lock or work on private copies.
 */
#ifndef KMON_TSDB_POSTINGS_H
#define KMON_TSDB_POSTINGS_H

#include <stddef.h>
#include <stdint.h>

struct km_postings {
    uint32_t *v; /* strictly increasing */
    size_t n, cap;
};

void km_postings_fini(struct km_postings *p);

/* Append x, which must be greater than the last element (or in any order, then
 * km_postings_settle). */
int km_postings_push(struct km_postings *p, uint32_t x);

/* Replace the contents with a copy of src. */
int km_postings_copy(struct km_postings *dst, const struct km_postings *src);

/* out = a ∩ b, a ∪ b, a \ b. */
int km_postings_intersect(struct km_postings *out, const struct km_postings *a,
                          const struct km_postings *b);
int km_postings_subtract(struct km_postings *out, const struct km_postings *a,
                         const struct km_postings *b);
/* out = the union of k lists. */
int km_postings_union(struct km_postings *out, const struct km_postings *const *lists, size_t k);

/* Sort the list and drop repeats: after km_postings_push in any order (a bulk load). */
int km_postings_settle(struct km_postings *p);

/* Remove x if present. */
void km_postings_remove(struct km_postings *p, uint32_t x);

/* Bytes the list's array takes. */
static inline size_t km_postings_bytes(const struct km_postings *p)
{
    return p->cap * sizeof(uint32_t);
}

#endif
