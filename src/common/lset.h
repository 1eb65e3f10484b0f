/*
 * lset — a set of owned label sets (struct km_labels *, borrowed, never freed here),
 * found by the hash every owned set carries and confirmed with km_labels_cmp(): what a
 * rule's tens of thousands of output series need to be told apart in O(n), where
 * sorting them compared strings O(n log n) times.
 *
 * Open addressing, sized once for the count the caller says and never grown; the
 * caller adds at most that many. Not thread-safe.
 */
#ifndef KMON_COMMON_LSET_H
#define KMON_COMMON_LSET_H

#include "common/labels.h"

#include <stddef.h>

struct km_lset {
    const struct km_labels **slot; /* NULL: empty */
    size_t mask;
};

/* Room for up to n sets. KM_ENOMEM on failure (the set is then empty and usable: it
 * finds nothing and refuses adds). */
int km_lset_init(struct km_lset *s, size_t n);
void km_lset_fini(struct km_lset *s);

/* Add l unless an equal set is there: returns that equal set (l is not added), or NULL
 * once l is in. Adding past the count given to init is a caller's bug: returns l. */
const struct km_labels *km_lset_add(struct km_lset *s, const struct km_labels *l);

/* The set equal to l, or NULL. */
const struct km_labels *km_lset_find(const struct km_lset *s, const struct km_labels *l);

#endif
