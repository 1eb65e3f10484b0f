/*
 * http_args — a request's arguments: its query string and, for POST, PUT and PATCH with
 * Content-Type application/x-www-form-urlencoded, its body, decoded as Go's net/url
 * ParseQuery does, in the order Request.ParseForm gives them to Prometheus' handlers:
 * the body's first, then the query string's (so FormValue sees the body's value first).
 *
 *   pairs are separated by '&'; an empty pair is skipped; a pair holding ';' is an
 *   error (Go 1.17 on); "k=v" splits at the first '='; "k" alone is k = "";
 *   in names and values '+' is a space and %XX a byte; '%' not followed by two hex
 *   digits is an error.
 *
 * An error is answered 400 by the router (Prometheus' handlers answer bad_data when
 * ParseForm fails); a form body past KM_LIMIT_HTTP_FORM_BODY (Go's 10 MB) or with more
 * than KM_LIMIT_HTTP_FORM_FIELDS fields, 413. Written here rather than taken from
 * libmicrohttpd because 0.9.75 decodes leniently (a bad escape is passed on as it was
 * sent, with no way to know) and its post processor likewise.
 *
 * Runs once per request, before the handler, on the thread that runs it; the decoded
 * strings live in one allocation owned by the request (r->argstore), as many bytes as
 * the raw query string and body plus two.
 */
#include "err.h"
#include "http_internal.h"
#include "limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode s[0..len) into out, NUL-terminated; on a bad escape return its offset, else
 * (size_t)-1. */
static size_t unescape(const char *s, size_t len, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%') {
            int hi = i + 2 < len ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < len ? hexval(s[i + 2]) : -1;

            if (hi < 0 || lo < 0)
                return i;
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return (size_t)-1;
}

/* Parse one source ("the query string", "the form body") into r->args, decoded into
 * *store (advanced past what was written). 0, or 400 with msg. */
static unsigned parse_source(struct km_http_req *r, const char *src, size_t len, const char *where,
                             char **store, char *msg, size_t size)
{
    const char *p = src, *end = src + len;

    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pair = p, *pend = amp ? amp : end, *eq;
        struct km_http_arg *a;
        size_t bad;

        p = amp ? amp + 1 : end;
        if (pair == pend)
            continue;
        if (memchr(pair, ';', (size_t)(pend - pair))) {
            snprintf(msg, size, "invalid semicolon separator in %s", where);
            return 400;
        }
        eq = memchr(pair, '=', (size_t)(pend - pair));
        a = &r->args[r->nargs];
        a->name = *store;
        bad = unescape(pair, (size_t)((eq ? eq : pend) - pair), *store);
        if (bad == (size_t)-1 && eq) {
            *store += strlen(*store) + 1;
            a->value = *store;
            bad = unescape(eq + 1, (size_t)(pend - eq - 1), *store);
            if (bad != (size_t)-1)
                bad += (size_t)(eq + 1 - pair);
        } else if (bad == (size_t)-1) {
            a->value = "";
        }
        if (bad != (size_t)-1) {
            size_t n = (size_t)(pend - pair) - bad;

            snprintf(msg, size, "invalid URL escape \"%.*s\" in %s", n < 3 ? (int)n : 3, pair + bad,
                     where);
            return 400;
        }
        *store += strlen(*store) + 1;
        r->nargs++;
    }
    return 0;
}

static size_t count_pairs(const char *s, size_t len)
{
    size_t n = len ? 1 : 0;

    for (const char *p = s; (p = memchr(p, '&', len - (size_t)(p - s))) != NULL; p++)
        n++;
    return n;
}

/* The body is a form: POST, PUT or PATCH with Content-Type
 * application/x-www-form-urlencoded (parameters after ';' allowed). */
static bool form_body(const struct km_http_req *r)
{
    static const char form[] = "application/x-www-form-urlencoded";
    const char *ct;

    if (strcmp(r->method, "POST") != 0 && strcmp(r->method, "PUT") != 0 &&
        strcmp(r->method, "PATCH") != 0)
        return false;
    ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!ct)
        return false;
    ct += strspn(ct, " \t");
    if (strncasecmp(ct, form, sizeof(form) - 1) != 0)
        return false;
    ct += sizeof(form) - 1;
    ct += strspn(ct, " \t");
    return *ct == '\0' || *ct == ';';
}

unsigned km_http_args_parse(struct km_http_req *r, char *msg, size_t size)
{
    bool form = form_body(r);
    size_t flen = form ? r->body.len : 0, npairs;
    const char *fdata = form ? km_buf_cstr(&r->body) : "";
    char *store;
    unsigned status;

    if (form && flen > KM_LIMIT_HTTP_FORM_BODY) {
        snprintf(msg, size, "form body larger than %u bytes", KM_LIMIT_HTTP_FORM_BODY);
        return 413;
    }
    npairs = count_pairs(fdata, flen);
    if (npairs > KM_LIMIT_HTTP_FORM_FIELDS) {
        snprintf(msg, size, "form body with more than %u fields", KM_LIMIT_HTTP_FORM_FIELDS);
        return 413;
    }
    npairs += count_pairs(r->query, r->query_len);
    if (!npairs)
        return 0;
    r->args = calloc(npairs, sizeof(*r->args));
    r->argstore = malloc(flen + r->query_len + 2);
    if (!r->args || !r->argstore) {
        snprintf(msg, size, "out of memory decoding the request's arguments");
        return 500;
    }
    store = r->argstore;
    status = parse_source(r, fdata, flen, "the form body", &store, msg, size);
    if (!status)
        status = parse_source(r, r->query, r->query_len, "the query string", &store, msg, size);
    return status;
}

void km_http_args_fini(struct km_http_req *r)
{
    free(r->args);
    free(r->argstore);
    r->args = NULL;
    r->argstore = NULL;
    r->nargs = 0;
}

const char *km_http_req_arg(const struct km_http_req *r, const char *name)
{
    for (size_t i = 0; i < r->nargs; i++) {
        if (strcmp(r->args[i].name, name) == 0)
            return r->args[i].value;
    }
    return NULL;
}

size_t km_http_req_args(const struct km_http_req *r, const char *name, const char **out, size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < r->nargs; i++) {
        if (strcmp(r->args[i].name, name) != 0)
            continue;
        if (n < max)
            out[n] = r->args[i].value;
        n++;
    }
    return n;
}

bool km_http_req_arg_at(const struct km_http_req *r, size_t i, const char **name,
                        const char **value)
{
    if (i >= r->nargs)
        return false;
    *name = r->args[i].name;
    *value = r->args[i].value;
    return true;
}
