/*
 * array — growing heap arrays (see array.h).
 */
#include "array.h"

#include "err.h"

#include <stdint.h>
#include <stdlib.h>

int km_array_grow(void **v, size_t *cap, size_t need, size_t elem, size_t first, const char *what)
{
    size_t n = *cap ? *cap : (first ? first : 16);
    void *p;

    if (need <= *cap)
        return 0;
    while (n < need) {
        if (n > SIZE_MAX / 2 / elem)
            return km_err_set(KM_ENOMEM, "out of memory %s", what);
        n *= 2;
    }
    p = realloc(*v, n * elem);
    if (!p)
        return km_err_set(KM_ENOMEM, "out of memory %s", what);
    *v = p;
    *cap = n;
    return 0;
}
