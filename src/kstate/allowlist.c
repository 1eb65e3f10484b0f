/*
 * allowlist — KSM's label and annotation allowlists (see allowlist.h).
 */
#include "allowlist.h"

#include "common/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* A trimmed copy of [s, e). */
static char *dup_trim(const char *s, const char *e)
{
    char *r;

    while (s < e && is_space(*s))
        s++;
    while (e > s && is_space(e[-1]))
        e--;
    r = malloc((size_t)(e - s) + 1);
    if (r) {
        memcpy(r, s, (size_t)(e - s));
        r[e - s] = '\0';
    }
    return r;
}

static int add_key(struct km_allow *a, const char *s, const char *e)
{
    char **k;
    char *key = dup_trim(s, e);

    if (!key)
        return km_err_set(KM_ENOMEM, "out of memory");
    if (!*key) {
        free(key);
        return 0;
    }
    if (strcmp(key, "*") == 0) {
        a->all = true;
        free(key);
        return 0;
    }
    k = realloc(a->keys, (a->nkeys + 1) * sizeof(*k));
    if (!k) {
        free(key);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    a->keys = k;
    a->keys[a->nkeys++] = key;
    return 0;
}

int km_allowlist_parse(struct km_allowlist *out, const char *spec)
{
    const char *p = spec;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    while (p && *p) {
        const char *eq = strchr(p, '='), *open, *close;
        struct km_allow *a, *k;

        while (*p == ',' || is_space(*p))
            p++;
        if (!*p)
            break;
        eq = strchr(p, '=');
        open = eq ? eq + 1 : NULL;
        while (open && is_space(*open))
            open++;
        close = open && *open == '[' ? strchr(open, ']') : NULL;
        if (!eq || !close) {
            rc = km_err_set(KM_EINVAL,
                            "\"%.80s\": an allowlist is kind=[key,…],kind=[*] (e.g. "
                            "pods=[app,team],namespaces=[*])",
                            spec);
            break;
        }
        k = realloc(out->k, (out->n + 1) * sizeof(*k));
        if (!k) {
            rc = km_err_set(KM_ENOMEM, "out of memory");
            break;
        }
        out->k = k;
        a = &out->k[out->n];
        memset(a, 0, sizeof(*a));
        a->kind = dup_trim(p, eq);
        if (!a->kind) {
            rc = km_err_set(KM_ENOMEM, "out of memory");
            break;
        }
        out->n++;
        if (!a->kind[0]) {
            rc = km_err_set(KM_EINVAL, "\"%.80s\": an allowlist entry without a kind", spec);
            break;
        }
        for (const char *s = open + 1; rc == 0 && s < close;) {
            const char *c = memchr(s, ',', (size_t)(close - s));
            const char *e = c ? c : close;

            rc = add_key(a, s, e);
            s = e + 1;
        }
        if (rc)
            break;
        p = close + 1;
    }
    if (rc)
        km_allowlist_fini(out);
    return rc;
}

void km_allowlist_fini(struct km_allowlist *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free(a->k[i].kind);
        for (size_t j = 0; j < a->k[i].nkeys; j++)
            free(a->k[i].keys[j]);
        free(a->k[i].keys);
    }
    free(a->k);
    memset(a, 0, sizeof(*a));
}

const struct km_allow *km_allowlist_for(const struct km_allowlist *a, const char *kind)
{
    const struct km_allow *any = NULL;

    for (size_t i = 0; a && i < a->n; i++) {
        if (strcmp(a->k[i].kind, kind) == 0)
            return &a->k[i];
        if (strcmp(a->k[i].kind, "*") == 0)
            any = &a->k[i];
    }
    return any;
}

bool km_allow_has(const struct km_allow *a, const char *key)
{
    if (!a)
        return false;
    if (a->all)
        return true;
    for (size_t i = 0; i < a->nkeys; i++) {
        if (strcmp(a->keys[i], key) == 0)
            return true;
    }
    return false;
}

void km_allow_label_name(char *out, size_t size, const char *prefix, const char *key)
{
    size_t k = (size_t)snprintf(out, size, "%s", prefix);

    for (; *key && k + 1 < size; key++) {
        char c = *key;
        bool ok;

        if (((unsigned char)c & 0xC0) == 0x80)
            continue; /* one '_' per UTF-8 character, as KSM's rune-wise replacement */
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';

        out[k++] = ok ? c : '_';
    }
    if (k < size)
        out[k] = '\0';
}
