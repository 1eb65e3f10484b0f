/*
 * http_gzip — gzip for answers: whether a client takes it (Accept-Encoding), and the
 * compression itself (zlib). JSON and text answers past a small size go out compressed
 * to clients that ask (browsers, Grafana, Go's HTTP client), as Prometheus does; bodies
 * compressed ahead of time (the dashboard's files) say so with their own header.
 */
#include "http_internal.h"

#include "err.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

/* The next comma-separated token of *p, trimmed, into [*b, *e); false at the end. */
static bool next_token(const char **p, const char **b, const char **e)
{
    const char *s = *p;

    while (*s == ' ' || *s == '\t' || *s == ',')
        s++;
    if (!*s)
        return false;
    *b = s;
    while (*s && *s != ',')
        s++;
    *p = s;
    while (s > *b && (s[-1] == ' ' || s[-1] == '\t'))
        s--;
    *e = s;
    return true;
}

bool km_http_accepts_gzip(const char *h)
{
    const char *b, *e;

    while (h && next_token(&h, &b, &e)) {
        const char *semi = b, *name_end, *q;

        while (semi < e && *semi != ';')
            semi++;
        name_end = semi;
        while (name_end > b && name_end[-1] == ' ')
            name_end--;
        if (!((name_end - b == 4 && strncasecmp(b, "gzip", 4) == 0) ||
              (name_end - b == 1 && *b == '*')))
            continue;
        if (semi == e)
            return true;
        q = semi + 1;
        while (q < e && *q == ' ')
            q++;
        if (e - q >= 2 && (q[0] == 'q' || q[0] == 'Q') && q[1] == '=')
            return strtod(q + 2, NULL) > 0;
        return true;
    }
    return false;
}

bool km_http_list_has(const char *h, const char *token)
{
    const char *b, *e;
    size_t n = strlen(token);

    while (h && next_token(&h, &b, &e)) {
        if (e - b >= 2 && b[0] == 'W' && b[1] == '/')
            b += 2;
        if ((e - b == 1 && *b == '*') || ((size_t)(e - b) == n && memcmp(b, token, n) == 0))
            return true;
    }
    return false;
}

int km_http_gzip(const void *data, size_t len, int level, char **out, size_t *outlen)
{
    z_stream z = { 0 };
    uLong cap = compressBound((uLong)len) + 32;
    char *buf;
    int rc;

    if (len > (size_t)UINT32_MAX / 2)
        return km_err_set(KM_ELIMIT, "too large to compress");
    buf = malloc(cap);
    if (!buf)
        return km_err_set(KM_ENOMEM, "out of memory");
    if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(buf);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    z.next_in = (Bytef *)(uintptr_t)data;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)buf;
    z.avail_out = (uInt)cap;
    rc = deflate(&z, Z_FINISH);
    *outlen = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(buf);
        return km_err_set(KM_EIO, "compressing failed");
    }
    *out = buf;
    return 0;
}
