/*
 * otlp_common — what the OTLP decoders share: the request's arena and its bound, copies
 * and renderings of bytes, and freeing a request.
 */
#include "otlp.h"

#include "common/err.h"

#include <string.h>

/* A decoded tree may take this many times its body's bytes (an empty data point is two
 * bytes on the wire and about 200 in the tree), plus a floor for small bodies. */
#define EXPANSION 128
#define FLOOR     ((size_t)1 << 20)

void km_otlp_arena_init(struct km_arena *a, size_t n)
{
    size_t max = n > SIZE_MAX / EXPANSION - FLOOR ? SIZE_MAX : n * EXPANSION + FLOOR;

    km_arena_init(a, 64 * 1024, max);
}

void *km_otlp_alloc(struct km_arena *a, size_t n, size_t size)
{
    void *p;

    if (n == 0)
        n = 1; /* a valid pointer to nothing */
    if (size && n > SIZE_MAX / size) {
        km_err_set(KM_ELIMIT, "the request is too large to decode");
        return NULL;
    }
    p = km_arena_alloc(a, n * size, 8);
    if (!p) {
        km_err_set(KM_ELIMIT, "the request expands past %zu bytes of memory", a->max);
        return NULL;
    }
    memset(p, 0, n * size);
    return p;
}

char *km_otlp_strdup(struct km_arena *a, const char *s, size_t n)
{
    char *p = km_otlp_alloc(a, n + 1, 1);

    if (p && n)
        memcpy(p, s, n);
    return p;
}

char *km_otlp_base64(struct km_arena *a, const uint8_t *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = km_otlp_alloc(a, (n + 2) / 3 * 4 + 1, 1), *o = out;

    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;

        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        *o++ = tab[v >> 18 & 63];
        *o++ = tab[v >> 12 & 63];
        *o++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

char *km_otlp_hex(struct km_arena *a, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char *out = km_otlp_alloc(a, 2 * n + 1, 1);

    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    return out;
}

void km_otlp_metrics_fini(struct km_otlp_metrics_req *r)
{
    km_arena_fini(&r->arena);
    memset(r, 0, sizeof(*r));
}

void km_otlp_logs_fini(struct km_otlp_logs_req *r)
{
    km_arena_fini(&r->arena);
    memset(r, 0, sizeof(*r));
}
