/*
 * tmpl — the Go text/template subset Loki's line_format and label_format templates use:
 * text, {{ pipeline }} actions ({{.label}}, {{ .a | ToUpper }}, {{ printf "%s" .a }}),
 * {{if}}/{{else}}/{{end}}, trim markers {{- -}}, and Loki's string functions (ToUpper,
 * ToLower, Replace, Trim*, lower, upper, title, trunc, substr, replace, trim*, contains,
 * hasPrefix, hasSuffix, default, repeat, regexReplaceAll, printf, __line__,
 * __timestamp__, unixEpoch). A label that is absent reads as "" (missingkey=zero).
 *
 * Parsed once into an immutable tree; expanded per line into a caller's buffer with no
 * heap allocation beyond the buffer's growth. (kmon's full text/template engine in
 * src/rules/ is built around Prometheus' alert data; see docs for why it is not used.)
 */
#include "common/err.h"
#include "logql/logql_internal.h"
#include "promql/quote.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum arg_kind { A_FIELD, A_STR, A_NUM, A_FUNC, A_DOT };

struct targ {
    enum arg_kind k;
    char *s; /* field name, string value, number text, function name */
    size_t n;
};

struct tcmd {
    struct targ *a;
    size_t n;
};

struct tpipe {
    struct tcmd *c;
    size_t n;
};

enum tnode_kind { TN_TEXT, TN_ACTION, TN_IF };

struct tnode {
    enum tnode_kind k;
    char *text;
    size_t n;
    struct tpipe p;
    struct tnode *then, *els; /* lists (arrays) */
    size_t nthen, nels;
};

struct lq_tmpl {
    struct tnode *v;
    size_t n;
};

/* ---- parse ------------------------------------------------------------------------------ */

struct tp {
    const char *s;
    size_t n, i;
    struct km_buf *err;
    unsigned depth;
};

static int terr(struct tp *t, const char *msg)
{
    km_buf_printf(t->err, "template: line:1: %s", msg);
    return km_err_set(KM_EINVAL, "template: line:1: %s", msg);
}

static void nodes_free(struct tnode *v, size_t n);

static void pipe_free(struct tpipe *p)
{
    for (size_t i = 0; i < p->n; i++) {
        for (size_t j = 0; j < p->c[i].n; j++)
            free(p->c[i].a[j].s);
        free(p->c[i].a);
    }
    free(p->c);
}

static void nodes_free(struct tnode *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].text);
        pipe_free(&v[i].p);
        nodes_free(v[i].then, v[i].nthen);
        nodes_free(v[i].els, v[i].nels);
    }
    free(v);
}

static void tws(struct tp *t)
{
    while (t->i < t->n && isspace((unsigned char)t->s[t->i]))
        t->i++;
}

static void cmd_free(struct tcmd *c)
{
    for (size_t j = 0; j < c->n; j++)
        free(c->a[j].s);
    free(c->a);
}

/* A pipeline up to the closing "}}" (or "-}}"), consumed. */
static int parse_pipe(struct tp *t, struct tpipe *p)
{
    struct tcmd cmd = { NULL, 0 };

    for (;;) {
        struct targ a = { 0 };

        tws(t);
        if (t->i >= t->n)
            goto unclosed;
        char c = t->s[t->i];

        if (c == '}' || (c == '-' && t->i + 1 < t->n && t->s[t->i + 1] == '}') || c == '|' ||
            c == ')') {
            if (cmd.n == 0)
                goto missing;
            struct tcmd *nc = realloc(p->c, (p->n + 1) * sizeof(*nc));

            if (!nc)
                goto nomem;
            p->c = nc;
            p->c[p->n++] = cmd;
            cmd = (struct tcmd){ NULL, 0 };
            if (c == '|') {
                t->i++;
                continue;
            }
            if (c == ')')
                return terr(t, "unexpected \")\" in command");
            if (c == '-')
                t->i++;
            if (t->i + 1 >= t->n || t->s[t->i + 1] != '}')
                goto unclosed;
            t->i += 2;
            return 0;
        }
        if (c == '.') {
            size_t st = ++t->i;

            while (t->i < t->n && (isalnum((unsigned char)t->s[t->i]) || t->s[t->i] == '_'))
                t->i++;
            a.k = t->i == st ? A_DOT : A_FIELD;
            a.n = t->i - st;
            a.s = strndup(t->s + st, a.n);
        } else if (c == '"' || c == '`') {
            size_t st = t->i++;
            char *v;
            size_t vl;

            while (t->i < t->n && t->s[t->i] != c) {
                if (c == '"' && t->s[t->i] == '\\')
                    t->i++;
                t->i++;
            }
            if (t->i >= t->n) {
                cmd_free(&cmd);
                return terr(t, "unterminated quoted string");
            }
            t->i++;
            if (km_promql_unquote(t->s + st, t->i - st, &v, &vl) < 0) {
                cmd_free(&cmd);
                return terr(t, "invalid syntax in a quoted string");
            }
            a.k = A_STR;
            a.s = v;
            a.n = vl;
        } else if (isdigit((unsigned char)c) || c == '-') {
            size_t st = t->i++;

            while (t->i < t->n && (isalnum((unsigned char)t->s[t->i]) || t->s[t->i] == '.'))
                t->i++;
            a.k = A_NUM;
            a.n = t->i - st;
            a.s = strndup(t->s + st, a.n);
        } else if (isalpha((unsigned char)c) || c == '_') {
            size_t st = t->i;

            while (t->i < t->n && (isalnum((unsigned char)t->s[t->i]) || t->s[t->i] == '_'))
                t->i++;
            a.k = A_FUNC;
            a.n = t->i - st;
            a.s = strndup(t->s + st, a.n);
        } else {
            for (size_t j = 0; j < cmd.n; j++)
                free(cmd.a[j].s);
            free(cmd.a);
            char m[64];

            snprintf(m, sizeof(m), "unexpected \"%c\" in command", c);
            return terr(t, m);
        }
        if (!a.s)
            goto nomem;
        struct targ *na = realloc(cmd.a, (cmd.n + 1) * sizeof(*na));

        if (!na) {
            free(a.s);
            goto nomem;
        }
        cmd.a = na;
        cmd.a[cmd.n++] = a;
    }
nomem:
    for (size_t j = 0; j < cmd.n; j++)
        free(cmd.a[j].s);
    free(cmd.a);
    return km_err_set(KM_ENOMEM, "out of memory");
missing:
    free(cmd.a);
    return terr(t, "missing value for command");
unclosed:
    for (size_t j = 0; j < cmd.n; j++)
        free(cmd.a[j].s);
    free(cmd.a);
    return terr(t, "unclosed action");
}

static bool kw_at(struct tp *t, const char *kw)
{
    size_t l = strlen(kw);

    tws(t);
    return t->n - t->i >= l && memcmp(t->s + t->i, kw, l) == 0 &&
           (t->i + l == t->n || !isalnum((unsigned char)t->s[t->i + l]));
}

/* Nodes until the end or {{else}}/{{end}} (*stop says which: 0 end of text, 1 else, 2 end). */
static int parse_list(struct tp *t, struct tnode **out, size_t *nout, int *stop)
{
    struct tnode *v = NULL;
    size_t n = 0;
    int rc;

    *stop = 0;
    if (++t->depth > 32)
        return terr(t, "templates nest too deeply");
    while (t->i < t->n) {
        const char *open = memmem(t->s + t->i, t->n - t->i, "{{", 2);
        size_t end = open ? (size_t)(open - t->s) : t->n;
        bool trim_left = open && end + 2 < t->n && t->s[end + 2] == '-' && end + 3 < t->n &&
                         isspace((unsigned char)t->s[end + 3]);
        size_t tend = end;
        struct tnode nd;

        memset(&nd, 0, sizeof(nd));
        if (trim_left)
            while (tend > t->i && isspace((unsigned char)t->s[tend - 1]))
                tend--;
        if (tend > t->i) {
            struct tnode *nv = realloc(v, (n + 1) * sizeof(*nv));

            if (!nv)
                goto nomem;
            v = nv;
            v[n].k = TN_TEXT;
            memset(&v[n], 0, sizeof(v[n]));
            v[n].text = strndup(t->s + t->i, tend - t->i);
            v[n].n = tend - t->i;
            if (!v[n++].text)
                goto nomem;
        }
        if (!open) {
            t->i = t->n;
            break;
        }
        t->i = end + 2 + (trim_left ? 1 : 0);
        if (kw_at(t, "end") || kw_at(t, "else")) {
            *stop = kw_at(t, "end") ? 2 : 1;
            t->i += *stop == 2 ? 3 : 4;
            tws(t);
            bool trim_right = t->i < t->n && t->s[t->i] == '-';

            if (trim_right)
                t->i++;
            if (t->i + 1 >= t->n || t->s[t->i] != '}' || t->s[t->i + 1] != '}') {
                rc = terr(t, "unexpected token in end/else");
                goto out_free;
            }
            t->i += 2;
            if (trim_right)
                tws(t);
            break;
        }
        if (kw_at(t, "if")) {
            int st2;

            t->i += 2;
            nd.k = TN_IF;
            if ((rc = parse_pipe(t, &nd.p)))
                goto out_nd;
            if ((rc = parse_list(t, &nd.then, &nd.nthen, &st2)))
                goto out_nd;
            if (st2 == 1 && (rc = parse_list(t, &nd.els, &nd.nels, &st2)))
                goto out_nd;
            if (st2 != 2) {
                rc = terr(t, "unexpected EOF");
                goto out_nd;
            }
        } else {
            nd.k = TN_ACTION;
            if ((rc = parse_pipe(t, &nd.p)))
                goto out_nd;
        }
        /* trim right: "-}}" was consumed; look back */
        if (t->i >= 3 && t->s[t->i - 3] == '-')
            tws(t);
        {
            struct tnode *nv = realloc(v, (n + 1) * sizeof(*nv));

            if (!nv) {
                rc = km_err_set(KM_ENOMEM, "out of memory");
                goto out_nd;
            }
            v = nv;
            v[n++] = nd;
        }
        continue;
    out_nd:
        free(nd.text);
        pipe_free(&nd.p);
        nodes_free(nd.then, nd.nthen);
        nodes_free(nd.els, nd.nels);
        goto out_free;
    }
    t->depth--;
    *out = v;
    *nout = n;
    return 0;
nomem:
    rc = km_err_set(KM_ENOMEM, "out of memory");
out_free:
    nodes_free(v, n);
    return rc;
}

int lq_tmpl_parse(struct lq_tmpl **out, const char *s, size_t n, struct km_buf *err)
{
    struct tp t = { s, n, 0, err, 0 };
    struct lq_tmpl *tm = calloc(1, sizeof(*tm));
    int stop, rc;

    if (!tm)
        return km_err_set(KM_ENOMEM, "out of memory");
    rc = parse_list(&t, &tm->v, &tm->n, &stop);
    if (!rc && stop != 0)
        rc = terr(&t, stop == 1 ? "unexpected {{else}}" : "unexpected {{end}}");
    if (rc) {
        lq_tmpl_destroy(tm);
        return rc;
    }
    *out = tm;
    return 0;
}

void lq_tmpl_destroy(struct lq_tmpl *t)
{
    if (!t)
        return;
    nodes_free(t->v, t->n);
    free(t);
}

/* ---- exec ------------------------------------------------------------------------------- */

struct sv {
    const char *p;
    size_t n;
};

struct xs {
    const struct lq_line *ln;
    struct km_buf *tmp; /* values made on the way */
    unsigned steps;
};

static int xerr(const char *fn, const char *msg)
{
    return km_err_set(KM_EINVAL, "template: line:1: executing \"line\" at <%s>: %s", fn, msg);
}

/* Append to tmp and give the value (offset-based, since tmp may move). */
struct tval {
    bool in_tmp;
    size_t off, n;
    const char *p;
};

static struct sv tv_get(struct xs *x, struct tval v)
{
    struct sv s = { v.in_tmp ? (x->tmp->data ? x->tmp->data + v.off : "") : v.p, v.n };

    if (!s.p)
        s.p = "";
    return s;
}

static struct tval tv_new(struct xs *x)
{
    return (struct tval){ true, x->tmp->len, 0, NULL };
}

static void tv_end(struct xs *x, struct tval *v)
{
    v->n = x->tmp->len - v->off;
}

static long to_int(struct sv s)
{
    char b[32];
    size_t n = s.n < 31 ? s.n : 31;

    memcpy(b, s.p, n);
    b[n] = '\0';
    return strtol(b, NULL, 10);
}

static void put_time(struct km_buf *b, int64_t ns)
{
    time_t sec = (time_t)(ns / 1000000000);
    long frac = (long)(ns % 1000000000);
    struct tm tm;
    char d[64];

    if (frac < 0) {
        frac += 1000000000;
        sec--;
    }
    gmtime_r(&sec, &tm);
    strftime(d, sizeof(d), "%Y-%m-%d %H:%M:%S", &tm);
    km_buf_puts(b, d);
    if (frac) {
        char f[16];
        int l = snprintf(f, sizeof(f), ".%09ld", frac);

        while (l > 1 && f[l - 1] == '0')
            l--;
        km_buf_append(b, f, (size_t)l);
    }
    km_buf_puts(b, " +0000 UTC");
}

static int call(struct xs *x, const char *fn, struct sv *a, size_t n, struct tval *out)
{
    struct km_buf *b = x->tmp;
    struct tval r = tv_new(x);

#define NARGS(k)                                                                                   \
    do {                                                                                           \
        if (n != (k))                                                                              \
            return xerr(fn, "wrong number of args");                                               \
    } while (0)
    if (!strcmp(fn, "ToUpper") || !strcmp(fn, "upper") || !strcmp(fn, "ToLower") ||
        !strcmp(fn, "lower")) {
        bool up = fn[0] == 'T' ? fn[2] == 'U' : fn[0] == 'u';

        NARGS(1);
        for (size_t i = 0; i < a[0].n; i++)
            km_buf_putc(b, (char)(up ? toupper((unsigned char)a[0].p[i])
                                     : tolower((unsigned char)a[0].p[i])));
    } else if (!strcmp(fn, "title") || !strcmp(fn, "Title")) {
        NARGS(1);
        for (size_t i = 0; i < a[0].n; i++) {
            char c = a[0].p[i];

            km_buf_putc(b, (char)((i == 0 || isspace((unsigned char)a[0].p[i - 1]))
                                      ? toupper((unsigned char)c)
                                      : c));
        }
    } else if (!strcmp(fn, "TrimSpace") || !strcmp(fn, "trim")) {
        NARGS(1);
        size_t s = 0, e = a[0].n;

        while (s < e && isspace((unsigned char)a[0].p[s]))
            s++;
        while (e > s && isspace((unsigned char)a[0].p[e - 1]))
            e--;
        km_buf_append(b, a[0].p + s, e - s);
    } else if (!strcmp(fn, "Trim") || !strcmp(fn, "TrimLeft") || !strcmp(fn, "TrimRight") ||
               !strcmp(fn, "trimAll")) {
        NARGS(2);
        /* Go: Trim(s, cutset); sprig: trimAll(cutset, s) */
        struct sv s = fn[0] == 't' ? a[1] : a[0], cs = fn[0] == 't' ? a[0] : a[1];
        size_t st = 0, e = s.n;

        if (strcmp(fn, "TrimRight"))
            while (st < e && memchr(cs.p, s.p[st], cs.n))
                st++;
        if (strcmp(fn, "TrimLeft"))
            while (e > st && memchr(cs.p, s.p[e - 1], cs.n))
                e--;
        km_buf_append(b, s.p + st, e - st);
    } else if (!strcmp(fn, "TrimPrefix") || !strcmp(fn, "TrimSuffix") ||
               !strcmp(fn, "trimPrefix") || !strcmp(fn, "trimSuffix")) {
        NARGS(2);
        struct sv s = fn[0] == 't' ? a[1] : a[0], f = fn[0] == 't' ? a[0] : a[1];
        bool pre = fn[4] == 'P';

        if (f.n <= s.n && pre && memcmp(s.p, f.p, f.n) == 0)
            km_buf_append(b, s.p + f.n, s.n - f.n);
        else if (f.n <= s.n && !pre && memcmp(s.p + s.n - f.n, f.p, f.n) == 0)
            km_buf_append(b, s.p, s.n - f.n);
        else
            km_buf_append(b, s.p, s.n);
    } else if (!strcmp(fn, "Replace") || !strcmp(fn, "replace")) {
        /* Go: Replace(s, old, new, n); sprig: replace(old, new, s) */
        struct sv s, o, nw;
        long lim = -1;

        if (fn[0] == 'R') {
            NARGS(4);
            s = a[0];
            o = a[1];
            nw = a[2];
            lim = to_int(a[3]);
        } else {
            NARGS(3);
            o = a[0];
            nw = a[1];
            s = a[2];
        }
        size_t i = 0;

        while (i < s.n) {
            const char *f = (o.n && lim != 0) ? memmem(s.p + i, s.n - i, o.p, o.n) : NULL;

            if (!f) {
                km_buf_append(b, s.p + i, s.n - i);
                break;
            }
            km_buf_append(b, s.p + i, (size_t)(f - (s.p + i)));
            km_buf_append(b, nw.p, nw.n);
            i = (size_t)(f - s.p) + o.n;
            if (lim > 0)
                lim--;
        }
    } else if (!strcmp(fn, "trunc")) {
        NARGS(2);
        long k = to_int(a[0]);
        struct sv s = a[1];

        if (k >= 0)
            km_buf_append(b, s.p, (size_t)k < s.n ? (size_t)k : s.n);
        else
            km_buf_append(b, (size_t)-k < s.n ? s.p + s.n + k : s.p,
                          (size_t)-k < s.n ? (size_t)-k : s.n);
    } else if (!strcmp(fn, "substr")) {
        NARGS(3);
        long st = to_int(a[0]), e = to_int(a[1]);
        struct sv s = a[2];

        if (st < 0)
            st = 0;
        if (e < 0 || (size_t)e > s.n)
            e = (long)s.n;
        if (st < e)
            km_buf_append(b, s.p + st, (size_t)(e - st));
    } else if (!strcmp(fn, "contains") || !strcmp(fn, "hasPrefix") || !strcmp(fn, "hasSuffix")) {
        NARGS(2);
        struct sv f = a[0], s = a[1];
        bool yes;

        if (fn[0] == 'c')
            yes = f.n == 0 || (f.n <= s.n && memmem(s.p, s.n, f.p, f.n));
        else if (fn[3] == 'P')
            yes = f.n <= s.n && memcmp(s.p, f.p, f.n) == 0;
        else
            yes = f.n <= s.n && memcmp(s.p + s.n - f.n, f.p, f.n) == 0;
        km_buf_puts(b, yes ? "true" : "false");
    } else if (!strcmp(fn, "default")) {
        NARGS(2);
        struct sv v = a[1].n ? a[1] : a[0];

        km_buf_append(b, v.p, v.n);
    } else if (!strcmp(fn, "repeat")) {
        NARGS(2);
        long k = to_int(a[0]);

        if (k < 0 || (size_t)k * a[1].n > KM_LOGQL_MAX_FMT_OUT)
            return xerr(fn, "repeat count out of range");
        for (long i = 0; i < k; i++)
            km_buf_append(b, a[1].p, a[1].n);
    } else if (!strcmp(fn, "regexReplaceAll") || !strcmp(fn, "regexReplaceAllLiteral")) {
        NARGS(3);
        struct km_regex *re;
        char pat[1024];
        size_t ov[20], i = 0;
        struct sv s = a[1], rp = a[2];

        if (a[0].n >= sizeof(pat))
            return xerr(fn, "regex too long");
        memcpy(pat, a[0].p, a[0].n);
        pat[a[0].n] = '\0';
        /* copy s and rp: tmp may move while appending */
        char *sc = strndup(s.p, s.n), *rc2 = strndup(rp.p, rp.n);

        if (!sc || !rc2 || km_regex_compile(&re, pat, 0)) {
            free(sc);
            free(rc2);
            return xerr(fn, "error parsing regexp");
        }
        while (i <= s.n) {
            int g = km_regex_match_groups_at(re, sc, s.n, i, ov, 10);

            if (g <= 0) {
                km_buf_append(b, sc + i, s.n - i);
                break;
            }
            km_buf_append(b, sc + i, ov[0] - i);
            for (size_t k = 0; k < rp.n; k++) {
                if (fn[15] != 'L' && rc2[k] == '$' && k + 1 < rp.n &&
                    isdigit((unsigned char)rc2[k + 1])) {
                    int gi = rc2[++k] - '0';

                    if (gi < g && ov[2 * gi] != (size_t)-1)
                        km_buf_append(b, sc + ov[2 * gi], ov[2 * gi + 1] - ov[2 * gi]);
                    continue;
                }
                km_buf_putc(b, rc2[k]);
            }
            if (ov[1] == ov[0]) {
                if (ov[0] < s.n)
                    km_buf_putc(b, sc[ov[0]]);
                i = ov[0] + 1;
            } else {
                i = ov[1];
            }
        }
        km_regex_destroy(re);
        free(sc);
        free(rc2);
    } else if (!strcmp(fn, "printf")) {
        if (n < 1)
            return xerr(fn, "wrong number of args");
        char *f = strndup(a[0].p, a[0].n);
        size_t ai = 1;

        if (!f)
            return KM_ENOMEM;
        for (size_t i = 0; i < a[0].n; i++) {
            if (f[i] != '%' || i + 1 >= a[0].n) {
                km_buf_putc(b, f[i]);
                continue;
            }
            char c = f[++i];

            if (c == '%') {
                km_buf_putc(b, '%');
            } else if (ai < n) {
                km_buf_append(b, a[ai].p, a[ai].n);
                ai++;
            } else {
                km_buf_printf(b, "%%!%c(MISSING)", c);
            }
        }
        free(f);
    } else if (!strcmp(fn, "__line__")) {
        NARGS(0);
        km_buf_append(b, x->ln->line, x->ln->len);
    } else if (!strcmp(fn, "__timestamp__")) {
        NARGS(0);
        put_time(b, x->ln->ts);
    } else if (!strcmp(fn, "unixEpoch")) {
        km_buf_printf(b, "%lld", (long long)(x->ln->ts / 1000000000));
    } else if (!strcmp(fn, "len")) {
        NARGS(1);
        km_buf_printf(b, "%zu", a[0].n);
    } else {
        char m[128];

        snprintf(m, sizeof(m), "function \"%s\" not defined", fn);
        return xerr(fn, m);
    }
#undef NARGS
    if (km_buf_error(b))
        return km_buf_error(b);
    tv_end(x, &r);
    *out = r;
    return 0;
}

static int eval_pipe(struct xs *x, const struct tpipe *p, struct tval *out)
{
    struct tval prev = { false, 0, 0, "" };
    bool has_prev = false;
    int rc;

    for (size_t c = 0; c < p->n; c++) {
        const struct tcmd *cmd = &p->c[c];
        struct tval vals[8];
        struct sv sv[9];
        size_t nv = 0;

        if (++x->steps > 100000)
            return km_err_set(KM_ELIMIT, "template: too much work");
        if (cmd->a[0].k != A_FUNC) {
            const struct targ *a = &cmd->a[0];

            if (cmd->n > 1 || has_prev)
                return xerr(a->s, "can't give argument to non-function");
            if (a->k == A_FIELD) {
                const struct lq_lbl *l = lq_line_get(x->ln, a->s, a->n);

                prev = (struct tval){ false, 0, l ? l->vl : 0, l ? l->v : "" };
            } else if (a->k == A_DOT) {
                prev = (struct tval){ false, 0, 0, "" };
            } else {
                prev = (struct tval){ false, 0, a->n, a->s };
            }
            has_prev = true;
            continue;
        }
        if (cmd->n > 8)
            return xerr(cmd->a[0].s, "too many arguments");
        for (size_t i = 1; i < cmd->n; i++) {
            const struct targ *a = &cmd->a[i];

            if (a->k == A_FIELD) {
                const struct lq_lbl *l = lq_line_get(x->ln, a->s, a->n);

                vals[nv++] = (struct tval){ false, 0, l ? l->vl : 0, l ? l->v : "" };
            } else if (a->k == A_FUNC) {
                struct tval r;
                struct tcmd one = { (struct targ *)a, 1 };
                struct tpipe pp = { &one, 1 };

                if ((rc = eval_pipe(x, &pp, &r)))
                    return rc;
                vals[nv++] = r;
            } else {
                vals[nv++] = (struct tval){ false, 0, a->n, a->s };
            }
        }
        if (has_prev)
            vals[nv++] = prev;
        for (size_t i = 0; i < nv; i++)
            sv[i] = tv_get(x, vals[i]);
        if ((rc = call(x, cmd->a[0].s, sv, nv, &prev)))
            return rc;
        has_prev = true;
    }
    *out = prev;
    return 0;
}

static int exec_list(struct xs *x, const struct tnode *v, size_t n, struct km_buf *out)
{
    int rc;

    for (size_t i = 0; i < n; i++) {
        struct tval r;
        size_t mark = x->tmp->len;

        switch (v[i].k) {
        case TN_TEXT:
            km_buf_append(out, v[i].text, v[i].n);
            break;
        case TN_ACTION:
            if ((rc = eval_pipe(x, &v[i].p, &r)))
                return rc;
            {
                struct sv s = tv_get(x, r);

                km_buf_append(out, s.p, s.n);
            }
            break;
        case TN_IF: {
            struct sv s;
            bool truth;

            if ((rc = eval_pipe(x, &v[i].p, &r)))
                return rc;
            s = tv_get(x, r);
            truth = s.n > 0 && !(s.n == 5 && memcmp(s.p, "false", 5) == 0);
            if ((rc = truth ? exec_list(x, v[i].then, v[i].nthen, out)
                            : exec_list(x, v[i].els, v[i].nels, out)))
                return rc;
            break;
        }
        }
        x->tmp->len = mark;
        if (out->len > KM_LOGQL_MAX_FMT_OUT)
            return km_err_set(KM_ELIMIT, "a formatted line is over %u bytes", KM_LOGQL_MAX_FMT_OUT);
    }
    return km_buf_error(out);
}

int lq_tmpl_exec(const struct lq_tmpl *t, const struct lq_line *ln, struct km_buf *out)
{
    struct xs x = { ln, ln->tmp, 0 };
    int rc;

    km_buf_reset(ln->tmp);
    rc = exec_list(&x, t->v, t->n, out);
    if (!rc && km_buf_error(ln->tmp))
        rc = km_buf_error(ln->tmp);
    km_buf_reset(ln->tmp);
    return rc;
}
