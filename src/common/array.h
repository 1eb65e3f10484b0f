/*
 * array — growing a heap array by doubling, the one way every module does it.
 */
#ifndef KMON_COMMON_ARRAY_H
#define KMON_COMMON_ARRAY_H

#include <stddef.h>
#include <stdlib.h>

/* Make room for `need` elements of `elem` bytes in *v (capacity *cap, doubled from
 * `first` or from the current capacity). *v is unchanged on failure. Returns 0, or
 * KM_ENOMEM with "out of memory <what>" in km_err_msg(). */
int km_array_grow(void **v, size_t *cap, size_t need, size_t elem, size_t first, const char *what);

/* qsort() of n elements, which may be none at a NULL base (C leaves qsort(NULL, 0, …)
 * undefined; UBSan stops on it). */
static inline void km_sort(void *base, size_t n, size_t size,
                           int (*cmp)(const void *, const void *))
{
    if (n > 1)
        qsort(base, n, size, cmp);
}

#endif
