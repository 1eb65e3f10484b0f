/*
 * array — growing a heap array by doubling, the one way every module does it.
 */
#ifndef KMON_COMMON_ARRAY_H
#define KMON_COMMON_ARRAY_H

#include <stddef.h>

/* Make room for `need` elements of `elem` bytes in *v (capacity *cap, doubled from
 * `first` or from the current capacity). *v is unchanged on failure. Returns 0, or
 * KM_ENOMEM with "out of memory <what>" in km_err_msg(). */
int km_array_grow(void **v, size_t *cap, size_t need, size_t elem, size_t first, const char *what);

#endif
