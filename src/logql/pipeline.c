/*
 * pipeline — LogQL's per-line stages: line filters (memmem for literals, compiled regexes),
 * the parsers (json, logfmt, regexp, pattern, unpack) with Loki's label naming
 * (sanitised names, `_extracted` on a clash with a stream label) and error labels
 * (__error__, __error_details__), label filters on strings, numbers, durations and
 * bytes, line_format, label_format, drop and keep.
 *
 * Nothing here allocates per line from the heap: a line's labels live in a reused array,
 * the strings the stages make in an arena the caller resets before each line. One line
 * state belongs to one evaluation (one thread).
 */
#include "common/err.h"
#include "logql/logql_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERR_LABEL   "__error__"
#define ERR_DETAILS "__error_details__"

/* ---- label state ------------------------------------------------------------------------ */

const struct lq_lbl *lq_line_get(const struct lq_line *ln, const char *n, size_t nl)
{
    for (size_t i = 0; i < ln->n; i++)
        if (!ln->l[i].del && ln->l[i].nl == nl && memcmp(ln->l[i].n, n, nl) == 0)
            return &ln->l[i];
    return NULL;
}

int lq_line_set(struct lq_line *ln, const char *n, size_t nl, const char *v, size_t vl, bool parsed)
{
    for (size_t i = 0; i < ln->n; i++)
        if (ln->l[i].nl == nl && memcmp(ln->l[i].n, n, nl) == 0) {
            ln->l[i].v = v;
            ln->l[i].vl = vl;
            ln->l[i].del = false;
            ln->l[i].parsed = parsed;
            return 0;
        }
    if (ln->n == ln->cap) {
        size_t nc = ln->cap ? ln->cap * 2 : 32;
        struct lq_lbl *nlb;

        if (nc > KM_LOGQL_MAX_LABELS)
            return km_err_set(KM_ELIMIT, "a line has more than %u labels", KM_LOGQL_MAX_LABELS);
        nlb = realloc(ln->l, nc * sizeof(*nlb));
        if (!nlb)
            return km_err_set(KM_ENOMEM, "out of memory");
        ln->l = nlb;
        ln->cap = nc;
    }
    ln->l[ln->n++] = (struct lq_lbl){ n, v, nl, vl, parsed, false };
    return 0;
}

void lq_line_del(struct lq_line *ln, const char *n, size_t nl)
{
    for (size_t i = 0; i < ln->n; i++)
        if (ln->l[i].nl == nl && memcmp(ln->l[i].n, n, nl) == 0)
            ln->l[i].del = true;
}

static bool base_has(const struct lq_line *ln, const char *n, size_t nl)
{
    for (size_t i = 0; i < ln->n; i++)
        if (!ln->l[i].parsed && !ln->l[i].del && ln->l[i].nl == nl &&
            memcmp(ln->l[i].n, n, nl) == 0)
            return true;
    return false;
}

static int set_err(struct lq_line *ln, const char *err, const char *details, size_t dl)
{
    int rc;

    if (ln->has_err)
        return 0;
    ln->has_err = true;
    rc = lq_line_set(ln, ERR_LABEL, strlen(ERR_LABEL), err, strlen(err), true);
    if (!rc && details) {
        char *d = km_arena_strndup(ln->arena, details, dl);

        if (!d)
            return KM_ENOMEM;
        rc = lq_line_set(ln, ERR_DETAILS, strlen(ERR_DETAILS), d, dl, true);
    }
    return rc;
}

char *lq_sanitize(struct km_arena *a, const char *s, size_t n, size_t *out_len)
{
    char *o;
    size_t j = 0;

    if (n == 0)
        return NULL;
    o = km_arena_alloc(a, n + 2, 1);
    if (!o)
        return NULL;
    if (isdigit((unsigned char)s[0]))
        o[j++] = '_';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        o[j++] = (isalnum(c) || c == '_') && c < 0x80 ? (char)c : '_';
    }
    o[j] = '\0';
    *out_len = j;
    return o;
}

/* A label a parser extracted: the name sanitised, `_extracted` when a stream label has it. */
static int set_parsed(struct lq_line *ln, const char *n, size_t nl, const char *v, size_t vl)
{
    size_t sl;
    char *s = lq_sanitize(ln->arena, n, nl, &sl);

    if (!s)
        return nl == 0 ? 0 : KM_ENOMEM;
    if (base_has(ln, s, sl)) {
        char *e = km_arena_alloc(ln->arena, sl + 11, 1);

        if (!e)
            return KM_ENOMEM;
        memcpy(e, s, sl);
        memcpy(e + sl, "_extracted", 11);
        s = e;
        sl += 10;
    }
    return lq_line_set(ln, s, sl, v, vl, true);
}

/* ---- line filters ----------------------------------------------------------------------- */

bool lq_line_filter_match(const struct lq_line_filter *f, const char *s, size_t n)
{
    bool any = false;

    for (size_t i = 0; i < f->nalt && !any; i++) {
        const struct lq_alt *a = &f->alt[i];

        if (a->re)
            any = km_regex_match(a->re, s, n);
        else
            any = a->n == 0 || (a->n <= n && memmem(s, n, a->s, a->n) != NULL);
    }
    return (f->op == LQ_F_CONTAINS || f->op == LQ_F_RE) ? any : !any;
}

/* ---- JSON ------------------------------------------------------------------------------ */

struct jp {
    const char *s;
    size_t n, i;
    struct lq_line *ln;
    const char *err;
    unsigned depth;
};

static void jws(struct jp *j)
{
    while (j->i < j->n &&
           (j->s[j->i] == ' ' || j->s[j->i] == '\t' || j->s[j->i] == '\n' || j->s[j->i] == '\r'))
        j->i++;
}

static int hexv(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* A string at j->i (at the quote): its unescaped value into the arena (out may be NULL to
 * skip it). */
static int jstring(struct jp *j, char **out, size_t *ol)
{
    size_t st = ++j->i, k = 0;
    bool esc = false;
    char *o;

    while (j->i < j->n && j->s[j->i] != '"') {
        if (j->s[j->i] == '\\') {
            esc = true;
            j->i++;
        }
        j->i++;
    }
    if (j->i >= j->n) {
        j->err = "Malformed JSON error: unterminated string";
        return -1;
    }
    j->i++;
    if (!out)
        return 0;
    if (!esc) {
        *out = (char *)j->s + st; /* borrowed from the line */
        *ol = j->i - 1 - st;
        return 0;
    }
    o = km_arena_alloc(j->ln->arena, j->i - st + 4, 1);
    if (!o)
        return KM_ENOMEM;
    for (size_t p = st; p < j->i - 1; p++) {
        char c = j->s[p];

        if (c != '\\') {
            o[k++] = c;
            continue;
        }
        c = j->s[++p];
        switch (c) {
        case 'n':
            o[k++] = '\n';
            break;
        case 't':
            o[k++] = '\t';
            break;
        case 'r':
            o[k++] = '\r';
            break;
        case 'b':
            o[k++] = '\b';
            break;
        case 'f':
            o[k++] = '\f';
            break;
        case 'u': {
            unsigned cp = 0;

            if (p + 4 >= j->i - 1) {
                j->err = "Malformed JSON error: bad unicode escape";
                return -1;
            }
            for (int q = 1; q <= 4; q++) {
                int h = hexv(j->s[p + q]);

                if (h < 0) {
                    j->err = "Malformed JSON error: bad unicode escape";
                    return -1;
                }
                cp = cp * 16 + (unsigned)h;
            }
            p += 4;
            if (cp < 0x80) {
                o[k++] = (char)cp;
            } else if (cp < 0x800) {
                o[k++] = (char)(0xc0 | (cp >> 6));
                o[k++] = (char)(0x80 | (cp & 0x3f));
            } else {
                o[k++] = (char)(0xe0 | (cp >> 12));
                o[k++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                o[k++] = (char)(0x80 | (cp & 0x3f));
            }
            break;
        }
        default:
            o[k++] = c;
        }
    }
    o[k] = '\0';
    *out = o;
    *ol = k;
    return 0;
}

/* Skip any value. */
static int jskip(struct jp *j)
{
    jws(j);
    if (j->i >= j->n) {
        j->err = "Malformed JSON error: unexpected end";
        return -1;
    }
    char c = j->s[j->i];

    if (c == '"')
        return jstring(j, NULL, NULL);
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';

        if (++j->depth > 64) {
            j->err = "Malformed JSON error: too deep";
            return -1;
        }
        j->i++;
        jws(j);
        if (j->i < j->n && j->s[j->i] == close) {
            j->i++;
            j->depth--;
            return 0;
        }
        for (;;) {
            if (c == '{') {
                jws(j);
                if (j->i >= j->n || j->s[j->i] != '"') {
                    j->err = "Malformed JSON error: expected a key";
                    return -1;
                }
                if (jstring(j, NULL, NULL))
                    return -1;
                jws(j);
                if (j->i >= j->n || j->s[j->i] != ':') {
                    j->err = "Malformed JSON error: expected ':'";
                    return -1;
                }
                j->i++;
            }
            if (jskip(j))
                return -1;
            jws(j);
            if (j->i < j->n && j->s[j->i] == ',') {
                j->i++;
                continue;
            }
            if (j->i < j->n && j->s[j->i] == close) {
                j->i++;
                j->depth--;
                return 0;
            }
            j->err = c == '{' ? "Value looks like object, but can't find closing '}' symbol"
                              : "Value is array, but can't find closing ']' symbol";
            return -1;
        }
    }
    size_t st = j->i;

    while (j->i < j->n && (isalnum((unsigned char)j->s[j->i]) || j->s[j->i] == '-' ||
                           j->s[j->i] == '+' || j->s[j->i] == '.'))
        j->i++;
    if (j->i == st) {
        j->err = "Unknown value type";
        return -1;
    }
    return 0;
}

/* Walk an object at j->i, setting a label per scalar leaf with prefix. */
static int jobject(struct jp *j, char *prefix, size_t pl)
{
    int rc;

    if (++j->depth > 64) {
        j->err = "Malformed JSON error: too deep";
        return -1;
    }
    j->i++; /* { */
    jws(j);
    if (j->i < j->n && j->s[j->i] == '}') {
        j->i++;
        j->depth--;
        return 0;
    }
    for (;;) {
        char *k, *key;
        size_t kl, keyl;

        jws(j);
        if (j->i >= j->n || j->s[j->i] != '"') {
            j->err = j->i >= j->n ? "Value looks like object, but can't find closing '}' symbol"
                                  : "Malformed JSON error: expected a key";
            return -1;
        }
        if ((rc = jstring(j, &k, &kl)))
            return rc;
        jws(j);
        if (j->i >= j->n || j->s[j->i] != ':') {
            j->err = "Malformed JSON error: expected ':'";
            return -1;
        }
        j->i++;
        jws(j);
        if (pl) {
            key = km_arena_alloc(j->ln->arena, pl + 1 + kl + 1, 1);
            if (!key)
                return KM_ENOMEM;
            memcpy(key, prefix, pl);
            key[pl] = '_';
            memcpy(key + pl + 1, k, kl);
            keyl = pl + 1 + kl;
            key[keyl] = '\0';
        } else {
            key = k;
            keyl = kl;
        }
        if (j->i >= j->n) {
            j->err = "Malformed JSON error: unexpected end";
            return -1;
        }
        char c = j->s[j->i];

        if (c == '{') {
            if ((rc = jobject(j, key, keyl)))
                return rc;
        } else if (c == '[') {
            if (jskip(j))
                return -1;
        } else if (c == '"') {
            char *v;
            size_t vl;

            if ((rc = jstring(j, &v, &vl)))
                return rc;
            if ((rc = set_parsed(j->ln, key, keyl, v, vl)))
                return rc;
        } else {
            size_t st = j->i;

            if (jskip(j))
                return -1;
            if (j->i - st == 4 && memcmp(j->s + st, "null", 4) == 0) {
                if ((rc = set_parsed(j->ln, key, keyl, "", 0)))
                    return rc;
            } else if ((rc = set_parsed(j->ln, key, keyl, j->s + st, j->i - st))) {
                return rc;
            }
        }
        jws(j);
        if (j->i < j->n && j->s[j->i] == ',') {
            j->i++;
            continue;
        }
        if (j->i < j->n && j->s[j->i] == '}') {
            j->i++;
            j->depth--;
            return 0;
        }
        j->err = "Value looks like object, but can't find closing '}' symbol";
        return -1;
    }
}

static int run_json(struct lq_line *ln, const char *s, size_t n)
{
    struct jp j = { s, n, 0, ln, NULL, 0 };
    int rc;

    jws(&j);
    if (j.i >= n || s[j.i] != '{') {
        j.err = "expecting json object(6), but it is not";
        return set_err(ln, "JSONParserErr", j.err, strlen(j.err));
    }
    rc = jobject(&j, NULL, 0);
    if (rc && j.err)
        return set_err(ln, "JSONParserErr", j.err, strlen(j.err));
    return rc;
}

/* Find the value at a path in a JSON text: [*vs, *ve) the raw value (a string still
 * quoted). */
static int jpath_find(const char *s, size_t n, const struct lq_jpath_el *p, size_t np, size_t *vs,
                      size_t *ve, struct lq_line *ln)
{
    struct jp j = { s, n, 0, ln, NULL, 0 };

    for (size_t e = 0; e < np; e++) {
        jws(&j);
        if (j.i >= n)
            return -1;
        if (p[e].key) {
            bool found = false;

            if (s[j.i] != '{')
                return -1;
            j.i++;
            for (;;) {
                char *k;
                size_t kl;

                jws(&j);
                if (j.i >= n || s[j.i] != '"')
                    return -1;
                if (jstring(&j, &k, &kl))
                    return -1;
                jws(&j);
                if (j.i >= n || s[j.i] != ':')
                    return -1;
                j.i++;
                if (kl == strlen(p[e].key) && memcmp(k, p[e].key, kl) == 0) {
                    found = true;
                    break;
                }
                if (jskip(&j))
                    return -1;
                jws(&j);
                if (j.i < n && s[j.i] == ',') {
                    j.i++;
                    continue;
                }
                break;
            }
            if (!found)
                return -1;
        } else {
            if (s[j.i] != '[')
                return -1;
            j.i++;
            for (size_t k = 0; k < p[e].idx; k++) {
                if (jskip(&j))
                    return -1;
                jws(&j);
                if (j.i >= n || s[j.i] != ',')
                    return -1;
                j.i++;
            }
            jws(&j);
            if (j.i < n && s[j.i] == ']')
                return -1;
        }
    }
    jws(&j);
    *vs = j.i;
    if (jskip(&j))
        return -1;
    *ve = j.i;
    return 0;
}

static int run_json_params(const struct lq_stage *st, struct lq_line *ln, const char *s, size_t n)
{
    for (size_t i = 0; i < st->np; i++) {
        const struct lq_param *pr = &st->p[i];
        size_t vs, ve;
        int rc;

        if (jpath_find(s, n, pr->path, pr->npath, &vs, &ve, ln))
            continue;
        if (s[vs] == '"') {
            struct jp j = { s, n, vs, ln, NULL, 0 };
            char *v;
            size_t vl;

            if ((rc = jstring(&j, &v, &vl)))
                return rc < -1 ? rc : 0;
            rc = set_parsed(ln, pr->name, strlen(pr->name), v, vl);
        } else if (ve - vs == 4 && memcmp(s + vs, "null", 4) == 0) {
            rc = set_parsed(ln, pr->name, strlen(pr->name), "", 0);
        } else {
            rc = set_parsed(ln, pr->name, strlen(pr->name), s + vs, ve - vs);
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int run_unpack(struct lq_line *ln, const char *s, size_t n)
{
    struct jp j = { s, n, 0, ln, NULL, 0 };
    int rc;

    jws(&j);
    if (j.i >= n || s[j.i] != '{')
        return set_err(ln, "JSONParserErr", "expecting json object(6), but it is not", 39);
    j.i++;
    jws(&j);
    if (j.i < n && s[j.i] == '}')
        return 0;
    for (;;) {
        char *k, *v;
        size_t kl, vl;

        jws(&j);
        if (j.i >= n || s[j.i] != '"' || (rc = jstring(&j, &k, &kl)))
            goto bad;
        jws(&j);
        if (j.i >= n || s[j.i] != ':')
            goto bad;
        j.i++;
        jws(&j);
        if (j.i < n && s[j.i] == '"') {
            if ((rc = jstring(&j, &v, &vl)))
                goto bad;
            if (kl == 6 && memcmp(k, "_entry", 6) == 0) {
                ln->line = v;
                ln->len = vl;
            } else if ((rc = set_parsed(ln, k, kl, v, vl))) {
                return rc;
            }
        } else if (jskip(&j)) {
            goto bad;
        }
        jws(&j);
        if (j.i < n && s[j.i] == ',') {
            j.i++;
            continue;
        }
        if (j.i < n && s[j.i] == '}')
            return 0;
        goto bad;
    }
bad:
    if (!j.err)
        j.err = "Value looks like object, but can't find closing '}' symbol";
    return set_err(ln, "JSONParserErr", j.err, strlen(j.err));
}

/* ---- logfmt ----------------------------------------------------------------------------- */

static int logfmt_value(struct lq_line *ln, const char *s, size_t n, size_t *i, char **v,
                        size_t *vl, bool *bad)
{
    size_t st = *i;

    if (*i < n && s[*i] == '"') {
        size_t k = 0;
        bool esc = false;
        char *o;

        (*i)++;
        st = *i;
        while (*i < n && s[*i] != '"') {
            if (s[*i] == '\\') {
                esc = true;
                (*i)++;
            }
            (*i)++;
        }
        if (*i >= n) {
            *bad = true;
            return 0;
        }
        (*i)++;
        if (!esc) {
            *v = (char *)s + st;
            *vl = *i - 1 - st;
            return 0;
        }
        o = km_arena_alloc(ln->arena, *i - st + 1, 1);
        if (!o)
            return KM_ENOMEM;
        for (size_t p = st; p < *i - 1; p++) {
            char c = s[p];

            if (c == '\\') {
                c = s[++p];
                c = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c;
            }
            o[k++] = c;
        }
        o[k] = '\0';
        *v = o;
        *vl = k;
        return 0;
    }
    while (*i < n && (unsigned char)s[*i] > ' ') {
        if (s[*i] == '"' || s[*i] == '=') {
            *bad = true;
            return 0;
        }
        (*i)++;
    }
    *v = (char *)s + st;
    *vl = *i - st;
    return 0;
}

static int run_logfmt(const struct lq_stage *st, struct lq_line *ln, const char *s, size_t n)
{
    size_t i = 0;
    int rc;

    while (i < n) {
        size_t ks, kl;
        char *v = NULL;
        size_t vl = 0;
        bool bad = false;

        while (i < n && (unsigned char)s[i] <= ' ')
            i++;
        if (i >= n)
            break;
        ks = i;
        while (i < n && (unsigned char)s[i] > ' ' && s[i] != '=' && s[i] != '"')
            i++;
        kl = i - ks;
        if (kl == 0) {
            bad = true;
        } else if (i < n && s[i] == '=') {
            i++;
            if ((rc = logfmt_value(ln, s, n, &i, &v, &vl, &bad)))
                return rc;
        } else if (i < n && s[i] == '"') {
            bad = true;
        }
        if (bad) {
            if (st->strict) {
                char msg[96];
                int ml =
                    snprintf(msg, sizeof(msg), "logfmt syntax error at pos %zu : unexpected '%c'",
                             i + 1, i < n ? s[i] : ' ');

                return set_err(ln, "LogfmtParserErr", msg, (size_t)ml);
            }
            /* skip the bad token */
            while (i < n && (unsigned char)s[i] > ' ')
                i++;
            continue;
        }
        if (vl == 0 && !st->keep_empty)
            continue;
        if (st->np) {
            for (size_t p = 0; p < st->np; p++) {
                const char *want = st->p[p].has_expr ? st->p[p].expr : st->p[p].name;

                if (strlen(want) == kl && memcmp(want, s + ks, kl) == 0 &&
                    (rc = set_parsed(ln, st->p[p].name, strlen(st->p[p].name), v ? v : "", vl)))
                    return rc;
            }
            continue;
        }
        if ((rc = set_parsed(ln, s + ks, kl, v ? v : "", vl)))
            return rc;
    }
    return 0;
}

/* ---- regexp and pattern ----------------------------------------------------------------- */

static int run_regexp(const struct lq_stage *st, struct lq_line *ln, const char *s, size_t n)
{
    size_t ov[2 * 64];
    int g = km_regex_match_groups(st->re, s, n, ov, 64);
    int rc;

    if (g <= 0)
        return 0;
    for (size_t i = 0; i < st->np; i++) {
        int k = st->group_names_idx[i];

        if (k < 0 || k >= g || ov[2 * k] == (size_t)-1)
            continue;
        if ((rc = set_parsed(ln, st->p[i].name, strlen(st->p[i].name), s + ov[2 * k],
                             ov[2 * k + 1] - ov[2 * k])))
            return rc;
    }
    return 0;
}

static int run_pattern(const struct lq_stage *st, struct lq_line *ln, const char *s, size_t n)
{
    size_t i = 0;
    struct cap {
        const char *name;
        size_t vs, ve;
    } caps[64];
    size_t nc = 0;
    int rc;

    for (size_t e = 0; e < st->npat; e++) {
        const struct lq_pat_el *el = &st->pat[e];

        if (el->lit) {
            if (e == 0) {
                if (n < el->n || memcmp(s, el->lit, el->n) != 0)
                    return 0;
                i = el->n;
            }
            continue;
        }
        /* a capture: up to the next literal, or the rest */
        size_t vs = i, ve;

        if (e + 1 < st->npat) {
            const struct lq_pat_el *lit = &st->pat[e + 1];
            const char *f = memmem(s + i, n - i, lit->lit, lit->n);

            if (!f)
                return 0;
            ve = (size_t)(f - s);
            i = ve + lit->n;
        } else {
            ve = n;
            i = n;
        }
        if (el->name && nc < 64)
            caps[nc++] = (struct cap){ el->name, vs, ve };
    }
    for (size_t c = 0; c < nc; c++)
        if ((rc = set_parsed(ln, caps[c].name, strlen(caps[c].name), s + caps[c].vs,
                             caps[c].ve - caps[c].vs)))
            return rc;
    return 0;
}

/* ---- label filters ---------------------------------------------------------------------- */

static bool cmp_num(enum lq_cmp op, double a, double b)
{
    switch (op) {
    case LQ_EQ:
    case LQ_EQEQ:
        return a == b;
    case LQ_NEQ:
        return a != b;
    case LQ_GT:
        return a > b;
    case LQ_GTE:
        return a >= b;
    case LQ_LT:
        return a < b;
    case LQ_LTE:
        return a <= b;
    default:
        return false;
    }
}

static int run_lf(const struct lq_lf *f, struct lq_line *ln, bool *keep)
{
    const struct lq_lbl *l;
    bool a, b;
    int rc;

    switch (f->k) {
    case LQ_LF_AND:
        if ((rc = run_lf(f->l, ln, &a)))
            return rc;
        if (!a) {
            *keep = false;
            return 0;
        }
        return run_lf(f->r, ln, keep);
    case LQ_LF_OR:
        if ((rc = run_lf(f->l, ln, &a)))
            return rc;
        if (a) {
            *keep = true;
            return 0;
        }
        if ((rc = run_lf(f->r, ln, &b)))
            return rc;
        *keep = b;
        return 0;
    case LQ_LF_STR: {
        const char *v = "";
        size_t vl = 0;
        bool eq;

        l = lq_line_get(ln, f->name, strlen(f->name));
        if (l) {
            v = l->v;
            vl = l->vl;
        }
        if (f->re) {
            eq = km_regex_match(f->re, v, vl);
            *keep = f->op == LQ_RE ? eq : !eq;
        } else {
            eq = vl == strlen(f->s) && memcmp(v, f->s, vl) == 0;
            *keep = f->op == LQ_NEQ ? !eq : eq;
        }
        return 0;
    }
    default: {
        char tmp[128], msg[200];
        double v;
        int64_t ns;
        int bad;
        int ml;

        if (ln->has_err) {
            *keep = true;
            return 0;
        }
        l = lq_line_get(ln, f->name, strlen(f->name));
        if (!l) {
            *keep = false;
            return 0;
        }
        snprintf(tmp, sizeof(tmp), "%.*s", (int)(l->vl < 100 ? l->vl : 100), l->v);
        if (f->k == LQ_LF_NUM) {
            bad = lq_parse_float(l->v, l->vl, &v);
            ml = snprintf(msg, sizeof(msg), "strconv.ParseFloat: parsing \"%s\": invalid syntax",
                          tmp);
        } else if (f->k == LQ_LF_DUR) {
            bad = lq_parse_duration(l->v, l->vl, &ns);
            v = (double)ns / 1e9;
            ml = snprintf(msg, sizeof(msg), "time: invalid duration \"%s\"", tmp);
        } else {
            bad = lq_parse_bytes(l->v, l->vl, &v);
            ml = snprintf(msg, sizeof(msg), "strconv.ParseFloat: parsing \"%s\": invalid syntax",
                          tmp);
        }
        if (bad) {
            *keep = true;
            return set_err(ln, "LabelFilterErr", msg, (size_t)ml);
        }
        *keep = cmp_num(f->op, v, f->v);
        return 0;
    }
    }
}

/* ---- formatters ------------------------------------------------------------------------- */

static bool drop_match(const struct lq_param *pr, const struct lq_lbl *l)
{
    bool eq;

    if (!pr->has_expr)
        return true;
    if (pr->re) {
        eq = km_regex_match(pr->re, l->v, l->vl);
        return pr->cmp == LQ_RE ? eq : !eq;
    }
    eq = l->vl == strlen(pr->expr) && memcmp(l->v, pr->expr, l->vl) == 0;
    return pr->cmp == LQ_NEQ ? !eq : eq;
}

static int run_label_fmt(const struct lq_stage *st, struct lq_line *ln, struct km_buf *scratch)
{
    struct {
        const char *v;
        size_t vl;
    } vals[64];
    size_t np = st->np < 64 ? st->np : 64;
    int rc;

    /* every value from the labels as they were before this stage */
    for (size_t i = 0; i < np; i++) {
        const struct lq_param *pr = &st->p[i];

        if (pr->is_template) {
            km_buf_reset(scratch);
            rc = lq_tmpl_exec(pr->tmpl, ln, scratch);
            if (rc == KM_EINVAL) {
                vals[i].v = NULL;
                set_err(ln, "TemplateFormatErr", km_err_msg(), strlen(km_err_msg()));
                continue;
            }
            if (rc)
                return rc;
            vals[i].v =
                km_arena_strndup(ln->arena, scratch->data ? scratch->data : "", scratch->len);
            if (!vals[i].v)
                return KM_ENOMEM;
            vals[i].vl = scratch->len;
        } else {
            const struct lq_lbl *l = lq_line_get(ln, pr->expr, strlen(pr->expr));

            vals[i].v = l ? l->v : "";
            vals[i].vl = l ? l->vl : 0;
        }
    }
    for (size_t i = 0; i < np; i++) {
        const struct lq_param *pr = &st->p[i];

        if (!vals[i].v)
            continue;
        if (!pr->is_template && strcmp(pr->expr, pr->name) != 0)
            lq_line_del(ln, pr->expr, strlen(pr->expr));
        if ((rc = lq_line_set(ln, pr->name, strlen(pr->name), vals[i].v, vals[i].vl, true)))
            return rc;
    }
    return 0;
}

static void decolorize(struct lq_line *ln)
{
    char *o = km_arena_alloc(ln->arena, ln->len + 1, 1);
    size_t k = 0;

    if (!o)
        return;
    for (size_t i = 0; i < ln->len; i++) {
        if (ln->line[i] == '\x1b' && i + 1 < ln->len && ln->line[i + 1] == '[') {
            size_t j = i + 2;

            while (j < ln->len && (isdigit((unsigned char)ln->line[j]) || ln->line[j] == ';'))
                j++;
            if (j < ln->len && isalpha((unsigned char)ln->line[j])) {
                i = j;
                continue;
            }
        }
        o[k++] = ln->line[i];
    }
    o[k] = '\0';
    ln->line = o;
    ln->len = k;
}

int lq_pipeline_run(const struct lq_selector *sel, struct lq_line *ln, struct km_buf *scratch)
{
    int rc = 0;

    for (size_t i = 0; i < sel->nst; i++) {
        const struct lq_stage *st = &sel->st[i];
        bool keep = true;

        switch (st->k) {
        case LQ_S_LINE:
            if (!lq_line_filter_match(&st->lf, ln->line, ln->len))
                return 0;
            break;
        case LQ_S_JSON:
            if (st->np)
                rc = run_json_params(st, ln, ln->line, ln->len);
            else
                rc = run_json(ln, ln->line, ln->len);
            break;
        case LQ_S_LOGFMT:
            rc = run_logfmt(st, ln, ln->line, ln->len);
            break;
        case LQ_S_REGEXP:
            rc = run_regexp(st, ln, ln->line, ln->len);
            break;
        case LQ_S_PATTERN:
            rc = run_pattern(st, ln, ln->line, ln->len);
            break;
        case LQ_S_UNPACK:
            rc = run_unpack(ln, ln->line, ln->len);
            break;
        case LQ_S_LABEL_FILTER:
            rc = run_lf(st->filter, ln, &keep);
            if (!rc && !keep)
                return 0;
            break;
        case LQ_S_LINE_FMT:
            km_buf_reset(scratch);
            rc = lq_tmpl_exec(st->tmpl, ln, scratch);
            if (rc == KM_EINVAL) {
                rc = set_err(ln, "TemplateFormatErr", km_err_msg(), strlen(km_err_msg()));
                break;
            }
            if (rc)
                return rc;
            {
                char *o =
                    km_arena_strndup(ln->arena, scratch->data ? scratch->data : "", scratch->len);

                if (!o)
                    return KM_ENOMEM;
                ln->line = o;
                ln->len = scratch->len;
            }
            break;
        case LQ_S_LABEL_FMT:
            rc = run_label_fmt(st, ln, scratch);
            break;
        case LQ_S_DROP:
            for (size_t k = 0; k < ln->n; k++) {
                struct lq_lbl *l = &ln->l[k];

                if (l->del)
                    continue;
                for (size_t p = 0; p < st->np; p++)
                    if (l->nl == strlen(st->p[p].name) && memcmp(l->n, st->p[p].name, l->nl) == 0 &&
                        drop_match(&st->p[p], l)) {
                        l->del = true;
                        if (l->nl == strlen(ERR_LABEL) && memcmp(l->n, ERR_LABEL, l->nl) == 0)
                            ln->has_err = false;
                    }
            }
            break;
        case LQ_S_KEEP:
            for (size_t k = 0; k < ln->n; k++) {
                struct lq_lbl *l = &ln->l[k];
                bool kept = false;

                if (l->del)
                    continue;
                for (size_t p = 0; p < st->np && !kept; p++)
                    kept = l->nl == strlen(st->p[p].name) &&
                           memcmp(l->n, st->p[p].name, l->nl) == 0 && drop_match(&st->p[p], l);
                if (!kept) {
                    l->del = true;
                    if (l->nl == strlen(ERR_LABEL) && memcmp(l->n, ERR_LABEL, l->nl) == 0)
                        ln->has_err = false;
                }
            }
            break;
        case LQ_S_DECOLORIZE:
            decolorize(ln);
            break;
        }
        if (rc)
            return rc < 0 ? rc : KM_ENOMEM;
    }
    return 1;
}
