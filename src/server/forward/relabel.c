/*
 * relabel — write_relabel_configs with Prometheus' semantics (see relabel.h).
 */
#include "server/forward/relabel.h"

#include "common/err.h"
#include "common/regex.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define MAX_GROUPS 32

struct km_relabel {
    enum km_relabel_action action;
    char **source;
    size_t nsource;
    char *separator, *target, *replacement;
    struct km_regex *re;
};

static const char *const action_names[] = { "replace",   "keep",      "drop",      "labeldrop",
                                            "labelkeep", "labelmap",  "lowercase", "uppercase",
                                            "keepequal", "dropequal", NULL };

void km_relabel_destroy(struct km_relabel *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nsource; i++)
        free(r->source[i]);
    free(r->source);
    free(r->separator);
    free(r->target);
    free(r->replacement);
    km_regex_destroy(r->re);
    free(r);
}

static int check(const struct km_relabel *r, const struct km_relabel_spec *s)
{
    const char *a = action_names[r->action];

    switch (r->action) {
    case KM_RELABEL_REPLACE:
    case KM_RELABEL_LOWERCASE:
    case KM_RELABEL_UPPERCASE:
    case KM_RELABEL_KEEPEQUAL:
    case KM_RELABEL_DROPEQUAL:
        if (!s->target_label || !s->target_label[0])
            return km_err_set(KM_EINVAL, "the %s action requires a target_label", a);
        if (r->action != KM_RELABEL_REPLACE && !km_label_name_valid(r->target, strlen(r->target)))
            return km_err_set(KM_EINVAL, "\"%s\" is not a valid label name (target_label)",
                              r->target);
        break;
    case KM_RELABEL_LABELDROP:
    case KM_RELABEL_LABELKEEP:
        if (s->nsource || s->target_label || s->separator || s->replacement)
            return km_err_set(KM_EINVAL,
                              "the %s action takes only a regex (no source_labels, "
                              "target_label, separator or replacement)",
                              a);
        break;
    default:
        break;
    }
    for (size_t i = 0; i < s->nsource; i++)
        if (!km_label_name_valid(s->source_labels[i], strlen(s->source_labels[i])))
            return km_err_set(KM_EINVAL, "\"%s\" is not a valid label name (source_labels)",
                              s->source_labels[i]);
    return 0;
}

int km_relabel_compile(struct km_relabel **out, const struct km_relabel_spec *s)
{
    struct km_relabel *r = calloc(1, sizeof(*r));
    const char *action = s->action ? s->action : "replace";
    int rc;

    if (!r)
        return km_err_set(KM_ENOMEM, "out of memory");
    for (r->action = 0; action_names[r->action]; r->action++)
        if (strcmp(action_names[r->action], action) == 0)
            break;
    if (!action_names[r->action]) {
        km_relabel_destroy(r);
        return km_err_set(KM_EINVAL,
                          "unknown relabel action \"%s\" (replace, keep, drop, labeldrop, "
                          "labelkeep, labelmap, lowercase, uppercase, keepequal, dropequal)",
                          action);
    }
    r->source = calloc(s->nsource ? s->nsource : 1, sizeof(*r->source));
    r->separator = strdup(s->separator ? s->separator : ";");
    r->target = strdup(s->target_label ? s->target_label : "");
    r->replacement = strdup(s->replacement ? s->replacement : "$1");
    if (!r->source || !r->separator || !r->target || !r->replacement)
        goto out_nomem;
    for (; r->nsource < s->nsource; r->nsource++)
        if (!(r->source[r->nsource] = strdup(s->source_labels[r->nsource])))
            goto out_nomem;
    rc = check(r, s);
    if (rc == 0)
        rc = km_regex_compile(&r->re, s->regex ? s->regex : "(.*)", KM_REGEX_ANCHORED);
    if (rc) {
        km_relabel_destroy(r);
        return rc;
    }
    *out = r;
    return 0;
out_nomem:
    km_relabel_destroy(r);
    return km_err_set(KM_ENOMEM, "out of memory");
}

void km_relabel_scratch_init(struct km_relabel_scratch *sc)
{
    km_arena_init(&sc->strs, 4096, (size_t)64 << 20);
    sc->n = 0;
}

void km_relabel_scratch_fini(struct km_relabel_scratch *sc)
{
    km_arena_fini(&sc->strs);
}

/* ---- the working label set ---------------------------------------------------------------- */

static ssize_t find(const struct km_relabel_scratch *sc, const char *name)
{
    for (size_t i = 0; i < sc->n; i++)
        if (strcmp(sc->v[i].name, name) == 0)
            return (ssize_t)i;
    return -1;
}

static const char *get(const struct km_relabel_scratch *sc, const char *name)
{
    ssize_t i = find(sc, name);

    return i < 0 ? "" : sc->v[i].value;
}

static void del(struct km_relabel_scratch *sc, size_t i)
{
    sc->v[i] = sc->v[--sc->n];
}

/* Set name to value (NULL or "" removes it). False when the set is full. */
static bool set(struct km_relabel_scratch *sc, const char *name, const char *value)
{
    ssize_t i = find(sc, name);

    if (!value || !value[0]) {
        if (i >= 0)
            del(sc, (size_t)i);
        return true;
    }
    if (i >= 0) {
        sc->v[i].value = value;
        return true;
    }
    if (sc->n == KM_RELABEL_MAX_LABELS)
        return false;
    sc->v[sc->n++] = (struct km_label){ name, value };
    return true;
}

/* The source labels' values joined with the separator, in the arena. */
static const char *joined(const struct km_relabel *r, struct km_relabel_scratch *sc, size_t *len)
{
    size_t n = 0, seplen = strlen(r->separator);
    char *s, *p;

    for (size_t i = 0; i < r->nsource; i++)
        n += strlen(get(sc, r->source[i])) + (i ? seplen : 0);
    s = p = km_arena_alloc(&sc->strs, n + 1, 1);
    if (!s)
        return NULL;
    for (size_t i = 0; i < r->nsource; i++) {
        const char *v = get(sc, r->source[i]);
        size_t k = strlen(v);

        if (i) {
            memcpy(p, r->separator, seplen);
            p += seplen;
        }
        memcpy(p, v, k);
        p += k;
    }
    *p = '\0';
    *len = n;
    return s;
}

/* ---- Go's Regexp.Expand -----------------------------------------------------------------------
 */

struct out {
    char *p;
    size_t n, cap;
    bool oom;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->n + n + 1 > o->cap) {
        size_t cap = (o->n + n + 1) * 2;
        char *q = realloc(o->p, cap);

        if (!q) {
            o->oom = true;
            return;
        }
        o->p = q;
        o->cap = cap;
    }
    memcpy(o->p + o->n, s, n);
    o->n += n;
    o->p[o->n] = '\0';
}

static bool name_byte(unsigned char c)
{
    return isalnum(c) || c == '_' || c >= 0x80; /* Go takes any Unicode letter or digit */
}

/* Expand template with the groups ov[0..2*ng) of a match in src, into the arena. */
static const char *expand(const struct km_relabel *r, struct km_relabel_scratch *sc,
                          const char *tmpl, const char *src, const size_t *ov, int ng)
{
    struct out o = { 0 };
    const char *t = tmpl, *res;

    put(&o, "", 0);
    while (*t) {
        const char *d = strchr(t, '$'), *nm;
        size_t nlen;
        bool brace;
        long num = 0;

        if (!d)
            break;
        put(&o, t, (size_t)(d - t));
        t = d + 1;
        if (*t == '$') {
            put(&o, "$", 1);
            t++;
            continue;
        }
        brace = *t == '{';
        nm = t + brace;
        for (nlen = 0; nm[nlen] && name_byte((unsigned char)nm[nlen]); nlen++)
            ;
        if (nlen == 0 || (brace && nm[nlen] != '}')) {
            put(&o, "$", 1); /* malformed: the $ is text */
            continue;
        }
        t = nm + nlen + brace;
        for (size_t i = 0; i < nlen; i++) {
            if (!isdigit((unsigned char)nm[i]) || num >= 100000000) {
                num = -1;
                break;
            }
            num = num * 10 + (nm[i] - '0');
        }
        if (nm[0] == '0' && nlen > 1)
            num = -1;
        if (num < 0) {
            char name[128];

            if (nlen >= sizeof(name))
                continue;
            memcpy(name, nm, nlen);
            name[nlen] = '\0';
            num = km_regex_group_number(r->re, name);
        }
        if (num >= 0 && num < ng && ov[2 * num] != (size_t)-1)
            put(&o, src + ov[2 * num], ov[2 * num + 1] - ov[2 * num]);
    }
    put(&o, t, strlen(t));
    res = o.oom ? NULL : km_arena_strndup(&sc->strs, o.p, o.n);
    free(o.p);
    return res;
}

/* ---- the actions -------------------------------------------------------------------------- */

/* What one rule did: 1 kept, 0 dropped, -1 out of memory or room (dropped). */
static int apply_one(const struct km_relabel *r, struct km_relabel_scratch *sc)
{
    size_t ov[2 * MAX_GROUPS], len = 0;
    const char *val = NULL, *s;
    int ng;

    if (r->action != KM_RELABEL_LABELDROP && r->action != KM_RELABEL_LABELKEEP &&
        r->action != KM_RELABEL_LABELMAP && !(val = joined(r, sc, &len)))
        return -1;
    switch (r->action) {
    case KM_RELABEL_KEEP:
        return km_regex_match(r->re, val, len) ? 1 : 0;
    case KM_RELABEL_DROP:
        return km_regex_match(r->re, val, len) ? 0 : 1;
    case KM_RELABEL_KEEPEQUAL:
        return strcmp(val, get(sc, r->target)) == 0 ? 1 : 0;
    case KM_RELABEL_DROPEQUAL:
        return strcmp(val, get(sc, r->target)) == 0 ? 0 : 1;
    case KM_RELABEL_REPLACE: {
        const char *target, *res;

        ng = km_regex_match_groups(r->re, val, len, ov, MAX_GROUPS);
        if (ng <= 0)
            return 1;
        target = expand(r, sc, r->target, val, ov, ng);
        res = expand(r, sc, r->replacement, val, ov, ng);
        if (!target || !res)
            return -1;
        if (!km_label_name_valid(target, strlen(target)))
            return 1;
        return set(sc, target, res) ? 1 : -1;
    }
    case KM_RELABEL_LOWERCASE:
    case KM_RELABEL_UPPERCASE: {
        char *v = km_arena_strndup(&sc->strs, val, len);

        if (!v)
            return -1;
        for (char *p = v; *p; p++)
            *p = (char)(r->action == KM_RELABEL_LOWERCASE ? tolower((unsigned char)*p)
                                                          : toupper((unsigned char)*p));
        return set(sc, r->target, v) ? 1 : -1;
    }
    case KM_RELABEL_LABELDROP:
    case KM_RELABEL_LABELKEEP:
        for (size_t i = 0; i < sc->n;) {
            bool m = km_regex_match(r->re, sc->v[i].name, strlen(sc->v[i].name));

            if (m == (r->action == KM_RELABEL_LABELDROP))
                del(sc, i);
            else
                i++;
        }
        return 1;
    case KM_RELABEL_LABELMAP: {
        size_t n = sc->n;

        /* New names are added after the originals: only those are matched. */
        for (size_t i = 0; i < n; i++) {
            const char *name = sc->v[i].name, *value = sc->v[i].value;

            ng = km_regex_match_groups(r->re, name, strlen(name), ov, MAX_GROUPS);
            if (ng <= 0)
                continue;
            s = expand(r, sc, r->replacement, name, ov, ng);
            if (!s)
                return -1;
            if (km_label_name_valid(s, strlen(s)) && !set(sc, s, value))
                return -1;
        }
        return 1;
    }
    }
    return 1;
}

bool km_relabel_apply(struct km_relabel *const *rules, size_t n, const struct km_label *in,
                      size_t nin, struct km_relabel_scratch *sc)
{
    km_arena_reset(&sc->strs);
    sc->n = 0;
    for (size_t i = 0; i < nin && sc->n < KM_RELABEL_MAX_LABELS; i++)
        if (in[i].value[0])
            sc->v[sc->n++] = in[i];
    for (size_t i = 0; i < n; i++)
        if (apply_one(rules[i], sc) <= 0)
            return false;
    if (sc->n == 0)
        return false;
    km_labels_sort(sc->v, sc->n);
    return true;
}
