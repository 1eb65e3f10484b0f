/*
 * parse — LogQL's lexer and a recursive-descent parser building the tree of
 * logql_internal.h, with Loki's error messages ("parse error at line L, col C: syntax
 * error: unexpected X[, expecting Y]"). Regexes are checked as Go's RE2 would
 * (promql/re2syntax.h) and compiled once here. Pure; thread-safe.
 */
#include "common/err.h"
#include "logql/logql_internal.h"
#include "promql/quote.h"
#include "promql/re2syntax.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- numbers of the language ----------------------------------------------------------- */

int lq_parse_float(const char *s, size_t n, double *out)
{
    char tmp[64], *end;
    double v;

    if (n == 0 || n >= sizeof(tmp))
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    for (size_t i = 0; i < n; i++) /* strtod takes hex floats and spaces Go refuses */
        if (tmp[i] == 'x' || tmp[i] == 'X' || tmp[i] == 'p' || tmp[i] == 'P' ||
            isspace((unsigned char)tmp[i]))
            return -1;
    errno = 0;
    v = strtod(tmp, &end);
    if (end != tmp + n)
        return -1;
    *out = v;
    return 0;
}

/* A unit of a duration or a size, and what it multiplies a number by. */
struct unit {
    const char *u;
    double mul;
};

/* Go's time.ParseDuration, plus d, w and y as Prometheus' model.ParseDuration reads them. */
int lq_parse_duration(const char *s, size_t n, int64_t *ns)
{
    static const struct unit units[] = {
        { "ns", 1 },      { "us", 1e3 },        { "\xc2\xb5s", 1e3 },   { "\xce\xbcs", 1e3 },
        { "ms", 1e6 },    { "s", 1e9 },         { "m", 60e9 },          { "h", 3600e9 },
        { "d", 86400e9 }, { "w", 7 * 86400e9 }, { "y", 365 * 86400e9 },
    };
    size_t i = 0;
    bool neg = false;
    double total = 0;

    if (n && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        i++;
    }
    if (i == n)
        return -1;
    if (n - i == 1 && s[i] == '0') {
        *ns = 0;
        return 0;
    }
    while (i < n) {
        double v = 0, frac = 0, scale = 1;
        bool digits = false;
        size_t best = 0, k;

        while (i < n && isdigit((unsigned char)s[i])) {
            v = v * 10 + (s[i++] - '0');
            digits = true;
        }
        if (i < n && s[i] == '.') {
            i++;
            while (i < n && isdigit((unsigned char)s[i])) {
                frac = frac * 10 + (s[i++] - '0');
                scale *= 10;
                digits = true;
            }
        }
        if (!digits)
            return -1;
        for (k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
            size_t ul = strlen(units[k].u);

            if (ul <= n - i && memcmp(s + i, units[k].u, ul) == 0 &&
                (best == 0 || ul > strlen(units[best - 1].u)))
                best = k + 1;
        }
        if (!best)
            return -1;
        i += strlen(units[best - 1].u);
        total += (v + frac / scale) * units[best - 1].mul;
    }
    if (total > 9.2e18)
        return -1;
    *ns = (int64_t)(neg ? -total : total);
    return 0;
}

/* go-humanize's ParseBytes: a number, optional spaces, a unit (case-insensitive). */
int lq_parse_bytes(const char *s, size_t n, double *out)
{
    static const struct unit units[] = {
        { "", 1 },
        { "b", 1 },
        { "kib", 1024.0 },
        { "ki", 1024.0 },
        { "kb", 1e3 },
        { "k", 1e3 },
        { "mib", 1048576.0 },
        { "mi", 1048576.0 },
        { "mb", 1e6 },
        { "m", 1e6 },
        { "gib", 1073741824.0 },
        { "gi", 1073741824.0 },
        { "gb", 1e9 },
        { "g", 1e9 },
        { "tib", 1099511627776.0 },
        { "ti", 1099511627776.0 },
        { "tb", 1e12 },
        { "t", 1e12 },
        { "pib", 1125899906842624.0 },
        { "pi", 1125899906842624.0 },
        { "pb", 1e15 },
        { "p", 1e15 },
        { "eib", 1152921504606846976.0 },
        { "ei", 1152921504606846976.0 },
        { "eb", 1e18 },
        { "e", 1e18 },
    };
    size_t i = 0, j;
    char u[8];
    double v;

    while (i < n && (isdigit((unsigned char)s[i]) || s[i] == '.'))
        i++;
    if (i == 0 || lq_parse_float(s, i, &v))
        return -1;
    j = i;
    while (j < n && s[j] == ' ')
        j++;
    if (n - j >= sizeof(u))
        return -1;
    for (size_t k = 0; k < n - j; k++)
        u[k] = (char)tolower((unsigned char)s[j + k]);
    u[n - j] = '\0';
    for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++)
        if (strcmp(u, units[k].u) == 0) {
            *out = v * units[k].mul;
            return 0;
        }
    return -1;
}

/* ---- lexer ------------------------------------------------------------------------------ */

enum tok {
    T_EOF,
    T_LBRACE,
    T_RBRACE,
    T_LPAREN,
    T_RPAREN,
    T_LBRACK,
    T_RBRACK,
    T_COMMA,
    T_EQ,     /* = */
    T_NEQ,    /* != */
    T_RE,     /* =~ */
    T_NRE,    /* !~ */
    T_PEXACT, /* |= */
    T_PMATCH, /* |~ */
    T_PIPE,   /* | */
    T_EQEQ,
    T_GT,
    T_GTE,
    T_LT,
    T_LTE,
    T_ADD,
    T_SUB,
    T_MUL,
    T_DIV,
    T_MOD,
    T_POW,
    T_STRING,
    T_NUMBER,
    T_DURATION,
    T_BYTES,
    T_IDENT,
    T_FLAG, /* --strict */
    T_BAD,
};

static const char *const tok_names[] = {
    "$end",       "{",           "}",
    "(",          ")",           "[",
    "]",          ",",           "=",
    "!=",         "=~",          "!~",
    "|=",         "|~",          "|",
    "==",         ">",           ">=",
    "<",          "<=",          "+",
    "-",          "*",           "/",
    "%",          "^",           "STRING",
    "NUMBER",     "DURATION",    "BYTES",
    "IDENTIFIER", "PARSER_FLAG", "unexpected character",
};

struct token {
    enum tok t;
    size_t pos, len;
};

struct parser {
    const char *s;
    size_t n, pos;
    struct token tok; /* the current token */
    struct km_buf *err;
    int rc;
    unsigned depth;
    struct lq_selector **sels;
    size_t nsels, csels;
};

static void lex(struct parser *p)
{
    const char *s = p->s;
    size_t i = p->pos, n = p->n;
    struct token t = { T_BAD, 0, 1 };

    for (;;) {
        while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
            i++;
        if (i < n && s[i] == '#') { /* a comment to the end of the line */
            while (i < n && s[i] != '\n')
                i++;
            continue;
        }
        break;
    }
    t.pos = i;
    if (i >= n) {
        t.t = T_EOF;
        t.len = 0;
        goto out;
    }
    char c = s[i], d = i + 1 < n ? s[i + 1] : '\0';
    switch (c) {
    case '{':
        t.t = T_LBRACE;
        break;
    case '}':
        t.t = T_RBRACE;
        break;
    case '(':
        t.t = T_LPAREN;
        break;
    case ')':
        t.t = T_RPAREN;
        break;
    case '[':
        t.t = T_LBRACK;
        break;
    case ']':
        t.t = T_RBRACK;
        break;
    case ',':
        t.t = T_COMMA;
        break;
    case '+':
        t.t = T_ADD;
        break;
    case '*':
        t.t = T_MUL;
        break;
    case '/':
        t.t = T_DIV;
        break;
    case '%':
        t.t = T_MOD;
        break;
    case '^':
        t.t = T_POW;
        break;
    case '=':
        t.t = d == '~' ? T_RE : d == '=' ? T_EQEQ : T_EQ;
        t.len = t.t == T_EQ ? 1 : 2;
        break;
    case '!':
        if (d == '=' || d == '~') {
            t.t = d == '=' ? T_NEQ : T_NRE;
            t.len = 2;
        }
        break;
    case '|':
        t.t = d == '=' ? T_PEXACT : d == '~' ? T_PMATCH : T_PIPE;
        t.len = t.t == T_PIPE ? 1 : 2;
        break;
    case '>':
    case '<':
        t.t = d == '=' ? (c == '>' ? T_GTE : T_LTE) : (c == '>' ? T_GT : T_LT);
        t.len = d == '=' ? 2 : 1;
        break;
    case '-':
        if (d == '-') {
            size_t j = i + 2;

            while (j < n && (isalnum((unsigned char)s[j]) || s[j] == '-' || s[j] == '_'))
                j++;
            t.t = T_FLAG;
            t.len = j - i;
        } else {
            t.t = T_SUB;
        }
        break;
    case '"':
    case '`': {
        size_t j = i + 1;

        while (j < n && s[j] != c) {
            if (c == '"' && s[j] == '\\' && j + 1 < n)
                j++;
            j++;
        }
        if (j >= n) {
            t.t = T_BAD;
            t.len = n - i;
            break;
        }
        t.t = T_STRING;
        t.len = j + 1 - i;
        break;
    }
    default:
        if (isdigit((unsigned char)c) || (c == '.' && isdigit((unsigned char)d))) {
            size_t j = i;
            double v;
            int64_t ns;

            while (j < n && (isalnum((unsigned char)s[j]) || s[j] == '.' ||
                             ((s[j] == '+' || s[j] == '-') &&
                              (s[j - 1] == 'e' || s[j - 1] == 'E') && j - 1 > i &&
                              isdigit((unsigned char)s[i]) && !isalpha((unsigned char)s[j - 2]))))
                j++;
            /* µs */
            t.len = j - i;
            if (lq_parse_float(s + i, t.len, &v) == 0)
                t.t = T_NUMBER;
            else if (lq_parse_duration(s + i, t.len, &ns) == 0)
                t.t = T_DURATION;
            else if (lq_parse_bytes(s + i, t.len, &v) == 0)
                t.t = T_BYTES;
            else
                t.t = T_BAD;
        } else if (isalpha((unsigned char)c) || c == '_') {
            size_t j = i;

            while (j < n && (isalnum((unsigned char)s[j]) || s[j] == '_'))
                j++;
            t.t = T_IDENT;
            t.len = j - i;
        }
    }
out:
    p->tok = t;
    p->pos = t.pos + t.len;
}

static bool tok_is(const struct parser *p, const char *kw)
{
    return p->tok.t == T_IDENT && p->tok.len == strlen(kw) &&
           memcmp(p->s + p->tok.pos, kw, p->tok.len) == 0;
}

/* Line and column (1-based) of byte pos. */
static void line_col(const struct parser *p, size_t pos, size_t *line, size_t *col)
{
    size_t l = 1, c = 1;

    for (size_t i = 0; i < pos && i < p->n; i++) {
        if (p->s[i] == '\n') {
            l++;
            c = 1;
        } else {
            c++;
        }
    }
    *line = l;
    *col = c;
}

/* A syntax error at the current token. */
static int syntax(struct parser *p, const char *expecting)
{
    size_t line, col;

    if (p->rc)
        return p->rc;
    line_col(p, p->tok.pos, &line, &col);
    if (p->tok.t == T_BAD) {
        km_buf_printf(p->err,
                      "parse error at line %zu, col %zu: syntax error: unexpected character: '%c'",
                      line, col, p->s[p->tok.pos]);
    } else {
        km_buf_printf(p->err, "parse error at line %zu, col %zu: syntax error: unexpected %s", line,
                      col, tok_names[p->tok.t]);
        if (expecting)
            km_buf_printf(p->err, ", expecting %s", expecting);
    }
    p->rc = KM_EINVAL;
    return km_err_set(KM_EINVAL, "%s", km_buf_cstr(p->err));
}

/* Another error at byte pos (Loki: "parse error at line 1, col 5: <msg>"). */
static int fail_at(struct parser *p, size_t pos, const char *msg)
{
    size_t line, col;

    if (p->rc)
        return p->rc;
    line_col(p, pos, &line, &col);
    km_buf_printf(p->err, "parse error at line %zu, col %zu: %s", line, col, msg);
    p->rc = KM_EINVAL;
    return km_err_set(KM_EINVAL, "%s", km_buf_cstr(p->err));
}

/* An error without a place, as Loki words them: "parse error : " and the message. */
static __attribute__((format(printf, 2, 3))) int fail_plain(struct parser *p, const char *fmt, ...)
{
    va_list ap;

    if (p->rc)
        return p->rc;
    km_buf_puts(p->err, "parse error : ");
    va_start(ap, fmt);
    km_buf_vprintf(p->err, fmt, ap);
    va_end(ap);
    p->rc = KM_EINVAL;
    return km_err_set(KM_EINVAL, "%s", km_buf_cstr(p->err));
}

static int nomem(struct parser *p)
{
    if (!p->rc) {
        p->rc = KM_ENOMEM;
        km_buf_puts(p->err, "out of memory parsing a query");
    }
    return km_err_set(KM_ENOMEM, "out of memory parsing a query");
}

static int expect(struct parser *p, enum tok t, const char *expecting)
{
    if (p->tok.t != t)
        return syntax(p, expecting ? expecting : tok_names[t]);
    lex(p);
    return 0;
}

/* The current string token's value (NUL-terminated, new). */
static int take_string(struct parser *p, char **out, size_t *len)
{
    size_t l;
    char *v;

    if (p->tok.t != T_STRING)
        return syntax(p, "STRING");
    if (km_promql_unquote(p->s + p->tok.pos, p->tok.len, &v, &l) < 0)
        return fail_at(p, p->tok.pos, "syntax error: invalid string literal");
    *out = v;
    if (len)
        *len = l;
    lex(p);
    return 0;
}

static char *tok_dup(struct parser *p)
{
    char *s = strndup(p->s + p->tok.pos, p->tok.len);

    if (!s)
        nomem(p);
    return s;
}

static int push_ptr(struct parser *p, void **arr, size_t *n, size_t elem, const void *item)
{
    char *na = realloc(*arr, (*n + 1) * elem);

    if (!na)
        return nomem(p);
    memcpy(na + *n * elem, item, elem);
    *arr = na;
    (*n)++;
    return 0;
}

/* Compile a regex checked as Go's RE2 would: anchored for label matchers, not for line
 * filters. */
static int compile_re(struct parser *p, size_t pos, const char *re, bool anchored,
                      struct km_regex **out)
{
    struct km_buf msg;
    int rc;

    km_buf_init(&msg, 0);
    rc = km_promql_re2_check(re, strlen(re), &msg);
    if (rc == KM_EINVAL) {
        fail_at(p, pos, km_buf_cstr(&msg));
        km_buf_fini(&msg);
        return p->rc;
    }
    km_buf_fini(&msg);
    if (rc)
        return nomem(p);
    rc = km_regex_compile(out, re, (anchored ? KM_REGEX_ANCHORED : 0) | KM_REGEX_JIT);
    if (rc == KM_ENOMEM)
        return nomem(p);
    if (rc)
        return fail_at(p, pos, km_err_msg());
    return 0;
}

/* ---- selectors -------------------------------------------------------------------------- */

static int parse_matchers(struct parser *p, struct km_matcher ***out, size_t *nout)
{
    struct km_matcher **m = NULL, *one;
    size_t nm = 0, start = p->tok.pos;
    bool useful = false;
    int rc;

    if (expect(p, T_LBRACE, "{"))
        return p->rc;
    while (p->tok.t != T_RBRACE) {
        char *name, *value = NULL;
        enum km_match_type mt;
        size_t vpos;

        if (p->tok.t != T_IDENT) {
            syntax(p, nm ? "IDENTIFIER" : "IDENTIFIER or }");
            goto out_free;
        }
        name = tok_dup(p);
        if (!name)
            goto out_free;
        lex(p);
        switch (p->tok.t) {
        case T_EQ:
            mt = KM_MATCH_EQ;
            break;
        case T_NEQ:
            mt = KM_MATCH_NEQ;
            break;
        case T_RE:
            mt = KM_MATCH_RE;
            break;
        case T_NRE:
            mt = KM_MATCH_NRE;
            break;
        default:
            free(name);
            syntax(p, "= or =~ or !~ or !=");
            goto out_free;
        }
        lex(p);
        vpos = p->tok.pos;
        if (take_string(p, &value, NULL)) {
            free(name);
            goto out_free;
        }
        if (mt == KM_MATCH_RE || mt == KM_MATCH_NRE) {
            struct km_regex *re = NULL;

            rc = compile_re(p, vpos, value, true, &re);
            km_regex_destroy(re);
            if (rc) {
                free(name);
                free(value);
                goto out_free;
            }
        }
        rc = km_matcher_create(&one, mt, name, value);
        free(name);
        free(value);
        if (rc) {
            if (rc == KM_ENOMEM)
                nomem(p);
            else
                fail_at(p, vpos, km_err_msg());
            goto out_free;
        }
        if (push_ptr(p, (void **)&m, &nm, sizeof(one), &one)) {
            km_matcher_destroy(one);
            goto out_free;
        }
        if (!one->matches_empty && (mt == KM_MATCH_EQ || mt == KM_MATCH_RE))
            useful = true;
        if (p->tok.t == T_COMMA) {
            lex(p);
            continue;
        }
        if (p->tok.t != T_RBRACE) {
            syntax(p, ", or }");
            goto out_free;
        }
    }
    lex(p);
    (void)start;
    if (!useful) {
        fail_plain(p, "queries require at least one regexp or equality matcher that does not "
                      "have an empty-compatible value. For instance, app=~\".*\" does not meet "
                      "this requirement, but app=~\".+\" will");
        goto out_free;
    }
    *out = m;
    *nout = nm;
    return 0;

out_free:
    km_logql_matchers_free(m, nm);
    return p->rc;
}

/* ---- label filters ---------------------------------------------------------------------- */

static bool is_cmp(enum tok t)
{
    return t == T_EQ || t == T_NEQ || t == T_RE || t == T_NRE || t == T_EQEQ || t == T_GT ||
           t == T_GTE || t == T_LT || t == T_LTE;
}

static enum lq_cmp cmp_of(enum tok t)
{
    switch (t) {
    case T_EQ:
        return LQ_EQ;
    case T_NEQ:
        return LQ_NEQ;
    case T_RE:
        return LQ_RE;
    case T_NRE:
        return LQ_NRE;
    case T_GT:
        return LQ_GT;
    case T_GTE:
        return LQ_GTE;
    case T_LT:
        return LQ_LT;
    case T_LTE:
        return LQ_LTE;
    default:
        return LQ_EQEQ;
    }
}

static struct lq_lf *lf_or(struct parser *p);

static struct lq_lf *lf_prim(struct parser *p)
{
    struct lq_lf *f;

    if (p->tok.t == T_LPAREN) {
        if (++p->depth > KM_LOGQL_MAX_DEPTH) {
            fail_at(p, p->tok.pos, "query nests too deeply");
            return NULL;
        }
        lex(p);
        f = lf_or(p);
        p->depth--;
        if (!f)
            return NULL;
        if (expect(p, T_RPAREN, ")")) {
            lq_lf_destroy(f);
            return NULL;
        }
        f->paren = true;
        return f;
    }
    if (p->tok.t != T_IDENT) {
        syntax(p, "IDENTIFIER");
        return NULL;
    }
    f = calloc(1, sizeof(*f));
    if (!f || !(f->name = tok_dup(p))) {
        free(f);
        nomem(p);
        return NULL;
    }
    lex(p);
    if (!is_cmp(p->tok.t)) {
        syntax(p, "= or =~ or !~ or != or == or > or >= or < or <=");
        goto out_free;
    }
    f->op = cmp_of(p->tok.t);
    lex(p);
    if (p->tok.t == T_STRING) {
        size_t vpos = p->tok.pos;

        if (f->op != LQ_EQ && f->op != LQ_NEQ && f->op != LQ_RE && f->op != LQ_NRE &&
            f->op != LQ_EQEQ) {
            syntax(p, "NUMBER or DURATION or BYTES");
            goto out_free;
        }
        f->k = LQ_LF_STR;
        if (take_string(p, &f->s, NULL))
            goto out_free;
        if ((f->op == LQ_RE || f->op == LQ_NRE) && compile_re(p, vpos, f->s, true, &f->re))
            goto out_free;
        return f;
    }
    if (p->tok.t == T_NUMBER || p->tok.t == T_DURATION || p->tok.t == T_BYTES ||
        p->tok.t == T_SUB) {
        bool neg = false;
        int64_t ns;

        if (f->op == LQ_RE || f->op == LQ_NRE) {
            syntax(p, "STRING");
            goto out_free;
        }
        if (p->tok.t == T_SUB) {
            neg = true;
            lex(p);
            if (p->tok.t != T_NUMBER) {
                syntax(p, "NUMBER");
                goto out_free;
            }
        }
        f->s = malloc(p->tok.len + 2);
        if (!f->s) {
            nomem(p);
            goto out_free;
        }
        snprintf(f->s, p->tok.len + 2, "%s%.*s", neg ? "-" : "", (int)p->tok.len,
                 p->s + p->tok.pos);
        if (p->tok.t == T_NUMBER) {
            f->k = LQ_LF_NUM;
            lq_parse_float(f->s, strlen(f->s), &f->v);
        } else if (p->tok.t == T_DURATION) {
            f->k = LQ_LF_DUR;
            lq_parse_duration(f->s, strlen(f->s), &ns);
            f->v = (double)ns / 1e9;
        } else {
            f->k = LQ_LF_BYTES;
            lq_parse_bytes(f->s, strlen(f->s), &f->v);
        }
        lex(p);
        return f;
    }
    syntax(p, "STRING or NUMBER or DURATION or BYTES");
out_free:
    lq_lf_destroy(f);
    return NULL;
}

static bool lf_starts(const struct parser *p)
{
    /* a label filter juxtaposed: IDENTIFIER followed by a comparison, or '(' */
    if (p->tok.t == T_LPAREN)
        return true;
    if (p->tok.t != T_IDENT || tok_is(p, "or") || tok_is(p, "and") || tok_is(p, "unless") ||
        tok_is(p, "offset"))
        return false;
    return true;
}

static struct lq_lf *lf_join(struct parser *p, enum lq_lf_kind k, struct lq_lf *l, struct lq_lf *r,
                             bool comma)
{
    struct lq_lf *f = calloc(1, sizeof(*f));

    if (!f) {
        lq_lf_destroy(l);
        lq_lf_destroy(r);
        nomem(p);
        return NULL;
    }
    f->k = k;
    f->l = l;
    f->r = r;
    f->comma = comma;
    return f;
}

static struct lq_lf *lf_and(struct parser *p)
{
    struct lq_lf *l = lf_prim(p), *r;

    while (l) {
        bool comma = p->tok.t == T_COMMA;

        if (!comma && !tok_is(p, "and"))
            break;
        lex(p);
        r = lf_prim(p);
        if (!r) {
            lq_lf_destroy(l);
            return NULL;
        }
        l = lf_join(p, LQ_LF_AND, l, r, comma);
    }
    return l;
}

static struct lq_lf *lf_or(struct parser *p)
{
    struct lq_lf *l = lf_and(p), *r;

    while (l && tok_is(p, "or")) {
        lex(p);
        r = lf_and(p);
        if (!r) {
            lq_lf_destroy(l);
            return NULL;
        }
        l = lf_join(p, LQ_LF_OR, l, r, false);
    }
    return l;
}

/* ---- stages ----------------------------------------------------------------------------- */

static int parse_jpath(struct parser *p, size_t pos, struct lq_param *pr)
{
    const char *s = pr->expr;
    size_t i = 0, n = strlen(s);
    struct lq_jpath_el el;

    while (i < n) {
        memset(&el, 0, sizeof(el));
        if (s[i] == '[') {
            i++;
            if (i < n && (s[i] == '"' || s[i] == '\'')) {
                char q = s[i++];
                size_t st = i;

                while (i < n && s[i] != q)
                    i++;
                if (i >= n)
                    goto bad;
                el.key = strndup(s + st, i - st);
                i++;
            } else {
                size_t st = i, v = 0;

                while (i < n && isdigit((unsigned char)s[i]))
                    v = v * 10 + (size_t)(s[i++] - '0');
                if (i == st)
                    goto bad;
                el.idx = v;
            }
            if (i >= n || s[i] != ']')
                goto bad;
            i++;
            if (i < n && s[i] == '.')
                i++;
        } else {
            size_t st = i;

            while (i < n && s[i] != '.' && s[i] != '[')
                i++;
            if (i == st)
                goto bad;
            el.key = strndup(s + st, i - st);
            if (i < n && s[i] == '.')
                i++;
        }
        if (!el.key && el.idx == 0 && s[i - 1] != ']') {
            goto bad;
        }
        if (push_ptr(p, (void **)&pr->path, &pr->npath, sizeof(el), &el)) {
            free(el.key);
            return p->rc;
        }
    }
    return 0;
bad:
    free(el.key);
    return fail_at(p, pos, "syntax error: unexpected invalid JSON expression");
}

/* json/logfmt parameters and drop/keep items and label_format items. */
static int parse_params(struct parser *p, struct lq_stage *st)
{
    for (;;) {
        struct lq_param pr;
        size_t pos;

        memset(&pr, 0, sizeof(pr));
        if (p->tok.t != T_IDENT)
            return syntax(p, "IDENTIFIER");
        if (!(pr.name = tok_dup(p)))
            return p->rc;
        lex(p);
        if (st->k == LQ_S_DROP || st->k == LQ_S_KEEP) {
            if (p->tok.t == T_EQ || p->tok.t == T_NEQ || p->tok.t == T_RE || p->tok.t == T_NRE) {
                pr.cmp = cmp_of(p->tok.t);
                lex(p);
                pos = p->tok.pos;
                if (take_string(p, &pr.expr, NULL))
                    goto out_free;
                pr.has_expr = true;
                if ((pr.cmp == LQ_RE || pr.cmp == LQ_NRE) &&
                    compile_re(p, pos, pr.expr, true, &pr.re))
                    goto out_free;
            }
        } else if (st->k == LQ_S_LABEL_FMT) {
            if (expect(p, T_EQ, "="))
                goto out_free;
            pr.has_expr = true;
            if (p->tok.t == T_IDENT) {
                if (!(pr.expr = tok_dup(p)))
                    goto out_free;
                lex(p);
            } else {
                struct km_buf e;

                pos = p->tok.pos;
                if (take_string(p, &pr.expr, NULL))
                    goto out_free;
                pr.is_template = true;
                km_buf_init(&e, 0);
                if (lq_tmpl_parse(&pr.tmpl, pr.expr, strlen(pr.expr), &e)) {
                    fail_at(p, pos, km_buf_cstr(&e));
                    km_buf_fini(&e);
                    goto out_free;
                }
                km_buf_fini(&e);
            }
        } else if (p->tok.t == T_EQ) { /* json, logfmt */
            lex(p);
            pos = p->tok.pos;
            if (take_string(p, &pr.expr, NULL))
                goto out_free;
            pr.has_expr = true;
            if (st->k == LQ_S_JSON && parse_jpath(p, pos, &pr))
                goto out_free;
        } else if (st->k == LQ_S_JSON) {
            pr.expr = strdup(pr.name);
            if (!pr.expr || parse_jpath(p, p->tok.pos, &pr))
                goto out_free;
        }
        if (push_ptr(p, (void **)&st->p, &st->np, sizeof(pr), &pr))
            goto out_free;
        if (p->tok.t != T_COMMA)
            return 0;
        lex(p);
        continue;
    out_free:
        free(pr.name);
        free(pr.expr);
        for (size_t i = 0; i < pr.npath; i++)
            free(pr.path[i].key);
        free(pr.path);
        km_regex_destroy(pr.re);
        lq_tmpl_destroy(pr.tmpl);
        return p->rc ? p->rc : nomem(p);
    }
}

static int parse_pattern(struct parser *p, size_t pos, struct lq_stage *st)
{
    const char *s = st->text;
    size_t i = 0, n = strlen(s), named = 0;
    bool last_capture = false;

    while (i < n) {
        struct lq_pat_el el;

        memset(&el, 0, sizeof(el));
        if (s[i] == '<') {
            size_t j = i + 1;

            while (j < n && (isalnum((unsigned char)s[j]) || s[j] == '_'))
                j++;
            if (j < n && s[j] == '>' && j > i + 1 &&
                (isalpha((unsigned char)s[i + 1]) || s[i + 1] == '_')) {
                if (last_capture)
                    return fail_at(
                        p, pos, "invalid pattern: found consecutive capture: invalid expression");
                if (!(j == i + 2 && s[i + 1] == '_')) {
                    el.name = strndup(s + i + 1, j - i - 1);
                    if (!el.name)
                        return nomem(p);
                    named++;
                }
                if (push_ptr(p, (void **)&st->pat, &st->npat, sizeof(el), &el)) {
                    free(el.name);
                    return p->rc;
                }
                last_capture = true;
                i = j + 1;
                continue;
            }
        }
        /* a literal up to the next capture */
        size_t j = i + 1;

        while (j < n) {
            if (s[j] == '<') {
                size_t k = j + 1;

                while (k < n && (isalnum((unsigned char)s[k]) || s[k] == '_'))
                    k++;
                if (k < n && s[k] == '>' && k > j + 1 &&
                    (isalpha((unsigned char)s[j + 1]) || s[j + 1] == '_'))
                    break;
            }
            j++;
        }
        el.lit = strndup(s + i, j - i);
        el.n = j - i;
        if (!el.lit)
            return nomem(p);
        if (push_ptr(p, (void **)&st->pat, &st->npat, sizeof(el), &el)) {
            free(el.lit);
            return p->rc;
        }
        last_capture = false;
        i = j;
    }
    if (!named)
        return fail_at(p, pos,
                       "invalid pattern: at least one capture is required: invalid expression");
    return 0;
}

static int stage_push(struct parser *p, struct lq_selector *sel, struct lq_stage *st)
{
    return push_ptr(p, (void **)&sel->st, &sel->nst, sizeof(*st), st);
}

static void stage_fini(struct lq_stage *st);

/* A line filter starting at the current token (|= != |~ !~). */
static int parse_line_filter(struct parser *p, struct lq_selector *sel)
{
    struct lq_stage st;

    memset(&st, 0, sizeof(st));
    st.k = LQ_S_LINE;
    st.lf.op = p->tok.t == T_PEXACT   ? LQ_F_CONTAINS
               : p->tok.t == T_NEQ    ? LQ_F_NOT_CONTAINS
               : p->tok.t == T_PMATCH ? LQ_F_RE
                                      : LQ_F_NOT_RE;
    lex(p);
    for (;;) {
        struct lq_alt a;
        size_t pos = p->tok.pos;

        memset(&a, 0, sizeof(a));
        if (take_string(p, &a.s, &a.n))
            goto out_free;
        if ((st.lf.op == LQ_F_RE || st.lf.op == LQ_F_NOT_RE) &&
            compile_re(p, pos, a.s, false, &a.re)) {
            free(a.s);
            goto out_free;
        }
        if (push_ptr(p, (void **)&st.lf.alt, &st.lf.nalt, sizeof(a), &a)) {
            free(a.s);
            km_regex_destroy(a.re);
            goto out_free;
        }
        if (!tok_is(p, "or"))
            break;
        /* `or` followed by a string: another alternative; else a binary operator */
        size_t save_pos = p->pos;
        struct token save = p->tok;

        lex(p);
        if (p->tok.t != T_STRING) {
            p->tok = save;
            p->pos = save_pos;
            break;
        }
    }
    if (stage_push(p, sel, &st))
        goto out_free;
    return 0;
out_free:
    stage_fini(&st);
    return p->rc ? p->rc : nomem(p);
}

/* The pipeline after a selector, up to '[' or ')' or the end. With `unwrap` allowed, an
 * unwrap stage ends it into n (and its label filters after). */
static int parse_pipeline(struct parser *p, struct lq_selector *sel, struct lq_node *n)
{
    while (p->tok.t == T_PIPE || p->tok.t == T_PEXACT || p->tok.t == T_PMATCH ||
           p->tok.t == T_NEQ || p->tok.t == T_NRE) {
        struct lq_stage st;
        size_t pos;

        if (p->tok.t != T_PIPE) {
            if (n && n->has_unwrap)
                return syntax(p, NULL);
            if (parse_line_filter(p, sel))
                return p->rc;
            continue;
        }
        lex(p);
        memset(&st, 0, sizeof(st));
        if (n && n->has_unwrap) { /* only label filters after unwrap */
            struct lq_lf *f = lf_or(p);

            if (!f)
                return p->rc;
            if (push_ptr(p, (void **)&n->post, &n->npost, sizeof(f), &f)) {
                lq_lf_destroy(f);
                return p->rc;
            }
            continue;
        }
        if (tok_is(p, "json") || tok_is(p, "logfmt")) {
            st.k = tok_is(p, "json") ? LQ_S_JSON : LQ_S_LOGFMT;
            lex(p);
            while (st.k == LQ_S_LOGFMT && p->tok.t == T_FLAG) {
                if (p->tok.len == 8 && memcmp(p->s + p->tok.pos, "--strict", 8) == 0)
                    st.strict = true;
                else if (p->tok.len == 12 && memcmp(p->s + p->tok.pos, "--keep-empty", 12) == 0)
                    st.keep_empty = true;
                else
                    return syntax(p, NULL);
                lex(p);
            }
            if (p->tok.t == T_IDENT && !tok_is(p, "or") && !tok_is(p, "and") &&
                !tok_is(p, "unless") && !tok_is(p, "offset") && parse_params(p, &st))
                goto out_stage;
        } else if (tok_is(p, "unpack")) {
            st.k = LQ_S_UNPACK;
            lex(p);
        } else if (tok_is(p, "decolorize")) {
            st.k = LQ_S_DECOLORIZE;
            lex(p);
        } else if (tok_is(p, "regexp") || tok_is(p, "pattern") || tok_is(p, "line_format")) {
            st.k = tok_is(p, "regexp")    ? LQ_S_REGEXP
                   : tok_is(p, "pattern") ? LQ_S_PATTERN
                                          : LQ_S_LINE_FMT;
            lex(p);
            pos = p->tok.pos;
            if (take_string(p, &st.text, NULL))
                goto out_stage;
            if (st.k == LQ_S_REGEXP) {
                if (compile_re(p, pos, st.text, false, &st.re))
                    goto out_stage;
                bool named = strstr(st.text, "(?P<") || strstr(st.text, "(?<");

                if (!named) {
                    fail_at(p, pos, "at least one named capture must be supplied");
                    goto out_stage;
                }
                for (const char *c = st.text; (c = strstr(c, "(?")) != NULL; c++) {
                    const char *nm = c[2] == 'P' && c[3] == '<' ? c + 4
                                     : c[2] == '<'              ? c + 3
                                                                : NULL;
                    const char *e = nm ? strchr(nm, '>') : NULL;
                    struct lq_param pr;
                    int *gi;

                    if (!e)
                        continue;
                    memset(&pr, 0, sizeof(pr));
                    if (!(pr.name = strndup(nm, (size_t)(e - nm))))
                        goto out_nomem_stage;
                    gi = realloc(st.group_names_idx, (st.np + 1) * sizeof(*gi));
                    if (!gi || push_ptr(p, (void **)&st.p, &st.np, sizeof(pr), &pr)) {
                        if (gi)
                            st.group_names_idx = gi;
                        free(pr.name);
                        goto out_nomem_stage;
                    }
                    st.group_names_idx = gi;
                    gi[st.np - 1] = km_regex_group_number(st.re, pr.name);
                }
            } else if (st.k == LQ_S_PATTERN) {
                if (parse_pattern(p, pos, &st))
                    goto out_stage;
            } else {
                struct km_buf e;

                km_buf_init(&e, 0);
                if (lq_tmpl_parse(&st.tmpl, st.text, strlen(st.text), &e)) {
                    fail_at(p, pos, km_buf_cstr(&e));
                    km_buf_fini(&e);
                    goto out_stage;
                }
                km_buf_fini(&e);
            }
        } else if (tok_is(p, "label_format") || tok_is(p, "drop") || tok_is(p, "keep")) {
            st.k = tok_is(p, "drop") ? LQ_S_DROP : tok_is(p, "keep") ? LQ_S_KEEP : LQ_S_LABEL_FMT;
            lex(p);
            if (parse_params(p, &st))
                goto out_stage;
        } else if (tok_is(p, "unwrap")) {
            if (!n)
                return syntax(p, NULL);
            lex(p);
            n->has_unwrap = true;
            if ((tok_is(p, "duration") || tok_is(p, "duration_seconds") || tok_is(p, "bytes"))) {
                size_t save_pos = p->pos;
                struct token save = p->tok;
                enum lq_unwrap_conv c = tok_is(p, "bytes")      ? LQ_U_BYTES
                                        : tok_is(p, "duration") ? LQ_U_DURATION
                                                                : LQ_U_DURATION_SECONDS;

                lex(p);
                if (p->tok.t == T_LPAREN) {
                    lex(p);
                    if (p->tok.t != T_IDENT)
                        return syntax(p, "IDENTIFIER");
                    n->conv = c;
                    if (!(n->unwrap_label = tok_dup(p)))
                        return p->rc;
                    lex(p);
                    if (expect(p, T_RPAREN, ")"))
                        return p->rc;
                    continue;
                }
                p->tok = save;
                p->pos = save_pos;
            }
            if (p->tok.t != T_IDENT)
                return syntax(p, "IDENTIFIER");
            if (!(n->unwrap_label = tok_dup(p)))
                return p->rc;
            lex(p);
            continue;
        } else {
            st.k = LQ_S_LABEL_FILTER;
            st.filter = lf_or(p);
            if (!st.filter)
                return p->rc;
            /* juxtaposed filters: `| a="1" b="2"` */
            while (lf_starts(p) && p->tok.t == T_IDENT) {
                struct lq_lf *r = lf_or(p);

                if (!r)
                    goto out_stage;
                st.filter = lf_join(p, LQ_LF_AND, st.filter, r, false);
                if (!st.filter)
                    return p->rc;
            }
        }
        if (stage_push(p, sel, &st))
            goto out_stage;
        continue;
    out_nomem_stage:
        nomem(p);
    out_stage:
        stage_fini(&st);
        return p->rc ? p->rc : nomem(p);
    }
    return 0;
}

/* Derive must_contain and the flags once the pipeline is complete. */
static int finish_selector(struct parser *p, struct lq_selector *sel)
{
    bool leading = true;

    for (size_t i = 0; i < sel->nst; i++) {
        struct lq_stage *st = &sel->st[i];

        if (st->k == LQ_S_LINE) {
            if (leading && st->lf.op == LQ_F_CONTAINS && st->lf.nalt == 1 && st->lf.alt[0].n > 0) {
                const char **nm = realloc(sel->must, (sel->nmust + 1) * sizeof(*nm));
                size_t *nl;

                if (!nm)
                    return nomem(p);
                sel->must = nm;
                nl = realloc(sel->must_len, (sel->nmust + 1) * sizeof(*nl));
                if (!nl)
                    return nomem(p);
                sel->must_len = nl;
                sel->must[sel->nmust] = st->lf.alt[0].s;
                sel->must_len[sel->nmust++] = st->lf.alt[0].n;
            }
            continue;
        }
        if (st->k == LQ_S_LINE_FMT || st->k == LQ_S_UNPACK || st->k == LQ_S_DECOLORIZE) {
            sel->changes_line = true;
            leading = false;
        }
        if (st->k != LQ_S_LABEL_FILTER && st->k != LQ_S_LINE_FMT && st->k != LQ_S_DECOLORIZE)
            sel->changes_labels = true;
        /* filters after a parser still see the original line: they stay hints */
    }
    return push_ptr(p, (void **)&p->sels, &p->nsels, sizeof(sel), &sel);
}

static int parse_selector(struct parser *p, struct lq_selector *sel, struct lq_node *n)
{
    if (parse_matchers(p, &sel->m, &sel->nm))
        return p->rc;
    return parse_pipeline(p, sel, n);
}

/* ---- metric expressions ----------------------------------------------------------------- */

static const struct {
    const char *name;
    enum lq_range_op op;
} range_fns[] = {
    { "count_over_time", LQ_R_COUNT },     { "rate", LQ_R_RATE },
    { "bytes_over_time", LQ_R_BYTES },     { "bytes_rate", LQ_R_BYTES_RATE },
    { "absent_over_time", LQ_R_ABSENT },   { "sum_over_time", LQ_R_SUM },
    { "avg_over_time", LQ_R_AVG },         { "min_over_time", LQ_R_MIN },
    { "max_over_time", LQ_R_MAX },         { "stdvar_over_time", LQ_R_STDVAR },
    { "stddev_over_time", LQ_R_STDDEV },   { "quantile_over_time", LQ_R_QUANTILE },
    { "first_over_time", LQ_R_FIRST },     { "last_over_time", LQ_R_LAST },
    { "rate_counter", LQ_R_RATE_COUNTER },
};

static const struct {
    const char *name;
    enum lq_vagg_op op;
} vagg_fns[] = {
    { "sum", LQ_A_SUM },
    { "avg", LQ_A_AVG },
    { "min", LQ_A_MIN },
    { "max", LQ_A_MAX },
    { "count", LQ_A_COUNT },
    { "stddev", LQ_A_STDDEV },
    { "stdvar", LQ_A_STDVAR },
    { "topk", LQ_A_TOPK },
    { "bottomk", LQ_A_BOTTOMK },
    { "sort", LQ_A_SORT },
    { "sort_desc", LQ_A_SORT_DESC },
};

const char *lq_range_name(enum lq_range_op op)
{
    for (size_t i = 0; i < sizeof(range_fns) / sizeof(range_fns[0]); i++)
        if (range_fns[i].op == op)
            return range_fns[i].name;
    return "?";
}

const char *lq_vagg_name(enum lq_vagg_op op)
{
    for (size_t i = 0; i < sizeof(vagg_fns) / sizeof(vagg_fns[0]); i++)
        if (vagg_fns[i].op == op)
            return vagg_fns[i].name;
    return "?";
}

static struct lq_node *expr(struct parser *p, int min_prec);

static struct lq_node *node_new(struct parser *p, enum lq_node_kind k)
{
    struct lq_node *n = calloc(1, sizeof(*n));

    if (!n)
        nomem(p);
    else
        n->k = k;
    return n;
}

/* A node parser failed: free what it built, and say "out of memory" unless an error was
 * said. Returns NULL. */
static struct lq_node *node_fail(struct parser *p, struct lq_node *n)
{
    lq_node_destroy(n);
    if (!p->rc)
        nomem(p);
    return NULL;
}

static int parse_label_list(struct parser *p, char ***out, size_t *nout)
{
    if (expect(p, T_LPAREN, "("))
        return p->rc;
    while (p->tok.t != T_RPAREN) {
        char *s;

        if (p->tok.t != T_IDENT)
            return syntax(p, "IDENTIFIER");
        if (!(s = tok_dup(p)))
            return p->rc;
        if (push_ptr(p, (void **)out, nout, sizeof(s), &s)) {
            free(s);
            return p->rc;
        }
        lex(p);
        if (p->tok.t == T_COMMA)
            lex(p);
        else if (p->tok.t != T_RPAREN)
            return syntax(p, ", or )");
    }
    lex(p);
    return 0;
}

static int parse_grouping(struct parser *p, struct lq_grouping *g, bool after)
{
    if (g->present)
        return syntax(p, NULL);
    g->present = true;
    g->without = tok_is(p, "without");
    g->after = after;
    lex(p);
    return parse_label_list(p, &g->labels, &g->n);
}

static int parse_duration_tok(struct parser *p, int64_t *ns)
{
    if (p->tok.t != T_DURATION &&
        !(p->tok.t == T_NUMBER && p->tok.len == 1 && p->s[p->tok.pos] == '0'))
        return syntax(p, "DURATION");
    lq_parse_duration(p->s + p->tok.pos, p->tok.len, ns);
    lex(p);
    return 0;
}

/* The log range inside a range function: `{…} pipeline [5m] offset 1h`, `{…}[5m] pipeline`
 * or the same in parentheses. */
static int parse_log_range(struct parser *p, struct lq_node *n)
{
    bool paren = false;

    if (p->tok.t == T_LPAREN) {
        paren = true;
        lex(p);
    }
    if (p->tok.t != T_LBRACE)
        return syntax(p, "{");
    if (parse_selector(p, &n->sel, n))
        return p->rc;
    if (paren && expect(p, T_RPAREN, ")"))
        return p->rc;
    if (expect(p, T_LBRACK, "["))
        return p->rc;
    if (parse_duration_tok(p, &n->range_ns))
        return p->rc;
    if (expect(p, T_RBRACK, "]"))
        return p->rc;
    if (!paren && n->sel.nst == 0 && !n->has_unwrap && parse_pipeline(p, &n->sel, n))
        return p->rc;
    if (tok_is(p, "offset")) {
        lex(p);
        if (parse_duration_tok(p, &n->offset_ns))
            return p->rc;
    }
    return finish_selector(p, &n->sel);
}

static struct lq_node *parse_range_fn(struct parser *p, enum lq_range_op op)
{
    struct lq_node *n = node_new(p, LQ_N_RANGE);

    if (!n)
        return NULL;
    n->rop = op;
    lex(p);
    if (expect(p, T_LPAREN, "("))
        goto out_free;
    if (op == LQ_R_QUANTILE) {
        if (p->tok.t != T_NUMBER) {
            syntax(p, "NUMBER");
            goto out_free;
        }
        if (!(n->param_text = tok_dup(p)))
            goto out_free;
        lq_parse_float(p->s + p->tok.pos, p->tok.len, &n->param);
        lex(p);
        if (expect(p, T_COMMA, ","))
            goto out_free;
    }
    if (parse_log_range(p, n))
        goto out_free;
    if (expect(p, T_RPAREN, ")"))
        goto out_free;
    if ((tok_is(p, "by") || tok_is(p, "without")) && parse_grouping(p, &n->g, true))
        goto out_free;
    bool unwrap_op = op >= LQ_R_SUM;
    if (op == LQ_R_RATE && n->has_unwrap)
        unwrap_op = true;
    if (unwrap_op && !n->has_unwrap) {
        fail_plain(p, "invalid aggregation %s without unwrap", lq_range_name(op));
        goto out_free;
    }
    if (!unwrap_op && n->has_unwrap) {
        fail_plain(p, "invalid aggregation %s with unwrap", lq_range_name(op));
        goto out_free;
    }
    if (n->g.present && !n->has_unwrap) {
        fail_plain(p, "grouping not allowed for %s aggregation", lq_range_name(op));
        goto out_free;
    }
    return n;
out_free:
    return node_fail(p, n);
}

static struct lq_node *parse_vagg(struct parser *p, enum lq_vagg_op op)
{
    struct lq_node *n = node_new(p, LQ_N_VAGG);

    if (!n)
        return NULL;
    n->aop = op;
    lex(p);
    if ((tok_is(p, "by") || tok_is(p, "without")) && parse_grouping(p, &n->g, false))
        goto out_free;
    if (expect(p, T_LPAREN, "("))
        goto out_free;
    if (op == LQ_A_TOPK || op == LQ_A_BOTTOMK) {
        if (p->tok.t != T_NUMBER) {
            syntax(p, "NUMBER");
            goto out_free;
        }
        if (!(n->param_text = tok_dup(p)))
            goto out_free;
        lq_parse_float(p->s + p->tok.pos, p->tok.len, &n->param);
        if (n->param != floor(n->param) || n->param < 1 || n->param > 1e9) {
            fail_plain(p, "invalid parameter (must be greater than 0)");
            goto out_free;
        }
        lex(p);
        if (expect(p, T_COMMA, ","))
            goto out_free;
    }
    n->arg = expr(p, 0);
    if (!n->arg)
        goto out_free;
    if (n->arg->k == LQ_N_NUM) {
        fail_plain(
            p, "unexpected literal for right leg of logical/set binary operation (and): 0.000000");
        goto out_free;
    }
    if (expect(p, T_RPAREN, ")"))
        goto out_free;
    if ((tok_is(p, "by") || tok_is(p, "without")) && parse_grouping(p, &n->g, true))
        goto out_free;
    if ((op == LQ_A_SORT || op == LQ_A_SORT_DESC) && n->g.present) {
        fail_plain(p, "grouping not allowed for sort and sort_desc");
        goto out_free;
    }
    return n;
out_free:
    return node_fail(p, n);
}

static struct lq_node *parse_label_replace(struct parser *p)
{
    struct lq_node *n = node_new(p, LQ_N_LABEL_REPLACE);
    char **slots[4];
    size_t pos = 0;

    if (!n)
        return NULL;
    slots[0] = &n->lr_dst;
    slots[1] = &n->lr_repl;
    slots[2] = &n->lr_src;
    slots[3] = &n->lr_re;
    lex(p);
    if (expect(p, T_LPAREN, "("))
        goto out_free;
    n->arg = expr(p, 0);
    if (!n->arg)
        goto out_free;
    for (int i = 0; i < 4; i++) {
        if (expect(p, T_COMMA, ","))
            goto out_free;
        pos = p->tok.pos;
        if (take_string(p, slots[i], NULL))
            goto out_free;
    }
    if (compile_re(p, pos, n->lr_re, true, &n->lr_compiled))
        goto out_free;
    if (expect(p, T_RPAREN, ")"))
        goto out_free;
    return n;
out_free:
    return node_fail(p, n);
}

static struct lq_node *primary(struct parser *p)
{
    struct lq_node *n;

    if (++p->depth > KM_LOGQL_MAX_DEPTH) {
        fail_at(p, p->tok.pos, "query nests too deeply");
        return NULL;
    }
    switch (p->tok.t) {
    case T_LPAREN:
        lex(p);
        n = expr(p, 0);
        if (n && expect(p, T_RPAREN, ")")) {
            lq_node_destroy(n);
            n = NULL;
        }
        if (n)
            n->paren = true;
        break;
    case T_NUMBER:
    case T_SUB:
    case T_ADD: {
        bool neg = p->tok.t == T_SUB, sign = p->tok.t != T_NUMBER;

        if (sign) {
            lex(p);
            if (p->tok.t != T_NUMBER) {
                n = NULL;
                syntax(p, "NUMBER");
                break;
            }
        }
        n = node_new(p, LQ_N_NUM);
        if (!n)
            break;
        lq_parse_float(p->s + p->tok.pos, p->tok.len, &n->v);
        if (neg)
            n->v = -n->v;
        n->num_text = malloc(p->tok.len + 2);
        if (!n->num_text) {
            lq_node_destroy(n);
            n = NULL;
            nomem(p);
            break;
        }
        snprintf(n->num_text, p->tok.len + 2, "%s%.*s", neg ? "-" : "", (int)p->tok.len,
                 p->s + p->tok.pos);
        lex(p);
        break;
    }
    case T_IDENT:
        n = NULL;
        for (size_t i = 0; i < sizeof(range_fns) / sizeof(range_fns[0]); i++)
            if (tok_is(p, range_fns[i].name)) {
                n = parse_range_fn(p, range_fns[i].op);
                goto out;
            }
        for (size_t i = 0; i < sizeof(vagg_fns) / sizeof(vagg_fns[0]); i++)
            if (tok_is(p, vagg_fns[i].name)) {
                n = parse_vagg(p, vagg_fns[i].op);
                goto out;
            }
        if (tok_is(p, "label_replace")) {
            n = parse_label_replace(p);
            break;
        }
        if (tok_is(p, "vector")) {
            lex(p);
            if (expect(p, T_LPAREN, "("))
                break;
            if (p->tok.t != T_NUMBER) {
                syntax(p, "NUMBER");
                break;
            }
            n = node_new(p, LQ_N_VECTOR);
            if (!n)
                break;
            lq_parse_float(p->s + p->tok.pos, p->tok.len, &n->v);
            if (!(n->num_text = tok_dup(p))) {
                lq_node_destroy(n);
                n = NULL;
                break;
            }
            lex(p);
            if (expect(p, T_RPAREN, ")")) {
                lq_node_destroy(n);
                n = NULL;
            }
            break;
        }
        syntax(p, NULL);
        break;
    case T_LBRACE: {
        /* a selector where a metric expression belongs: Loki reports what follows it */
        struct lq_selector sel;

        memset(&sel, 0, sizeof(sel));
        n = NULL;
        if (parse_selector(p, &sel, NULL) == 0)
            syntax(p, NULL);
        lq_selector_fini(&sel);
        break;
    }
    default:
        n = NULL;
        syntax(p, NULL);
    }
out:
    p->depth--;
    return n;
}

static int binop_of(struct parser *p, enum km_pq_binop *op, int *prec)
{
    switch (p->tok.t) {
    case T_ADD:
        *op = KM_PQ_ADD;
        *prec = 4;
        return 1;
    case T_SUB:
        *op = KM_PQ_SUB;
        *prec = 4;
        return 1;
    case T_MUL:
        *op = KM_PQ_MUL;
        *prec = 5;
        return 1;
    case T_DIV:
        *op = KM_PQ_DIV;
        *prec = 5;
        return 1;
    case T_MOD:
        *op = KM_PQ_MOD;
        *prec = 5;
        return 1;
    case T_POW:
        *op = KM_PQ_POW;
        *prec = 6;
        return 1;
    case T_EQEQ:
        *op = KM_PQ_EQL;
        *prec = 3;
        return 1;
    case T_NEQ:
        *op = KM_PQ_NEQ;
        *prec = 3;
        return 1;
    case T_GT:
        *op = KM_PQ_GTR;
        *prec = 3;
        return 1;
    case T_GTE:
        *op = KM_PQ_GTE;
        *prec = 3;
        return 1;
    case T_LT:
        *op = KM_PQ_LSS;
        *prec = 3;
        return 1;
    case T_LTE:
        *op = KM_PQ_LTE;
        *prec = 3;
        return 1;
    case T_IDENT:
        if (tok_is(p, "or")) {
            *op = KM_PQ_OR;
            *prec = 1;
            return 1;
        }
        if (tok_is(p, "and")) {
            *op = KM_PQ_AND;
            *prec = 2;
            return 1;
        }
        if (tok_is(p, "unless")) {
            *op = KM_PQ_UNLESS;
            *prec = 2;
            return 1;
        }
        return 0;
    default:
        return 0;
    }
}

static struct lq_node *expr(struct parser *p, int min_prec)
{
    struct lq_node *l = primary(p), *r, *b;
    enum km_pq_binop op;
    int prec;

    while (l && binop_of(p, &op, &prec) && prec >= min_prec) {
        size_t oppos = p->tok.pos;

        lex(p);
        b = node_new(p, LQ_N_BINOP);
        if (!b) {
            lq_node_destroy(l);
            return NULL;
        }
        b->op = op;
        b->l = l;
        b->card = op == KM_PQ_AND || op == KM_PQ_OR || op == KM_PQ_UNLESS ? KM_PQ_MANY_TO_MANY
                                                                          : KM_PQ_ONE_TO_ONE;
        if (tok_is(p, "bool")) {
            if (!km_pq_binop_is_comparison(op)) {
                fail_at(p, p->tok.pos, "bool modifier can only be used on comparison operators");
                lq_node_destroy(b);
                return NULL;
            }
            b->ret_bool = true;
            lex(p);
        }
        if (tok_is(p, "on") || tok_is(p, "ignoring")) {
            b->has_matching = true;
            b->on = tok_is(p, "on");
            lex(p);
            if (parse_label_list(p, &b->mlabels, &b->nmlabels)) {
                lq_node_destroy(b);
                return NULL;
            }
            if (tok_is(p, "group_left") || tok_is(p, "group_right")) {
                b->card = tok_is(p, "group_left") ? KM_PQ_MANY_TO_ONE : KM_PQ_ONE_TO_MANY;
                lex(p);
                if (p->tok.t == T_LPAREN && parse_label_list(p, &b->include, &b->ninclude)) {
                    lq_node_destroy(b);
                    return NULL;
                }
            }
        }
        r = expr(p, op == KM_PQ_POW ? prec : prec + 1);
        if (!r) {
            lq_node_destroy(b);
            return NULL;
        }
        b->r = r;
        if ((l->k == LQ_N_NUM || r->k == LQ_N_NUM) &&
            (op == KM_PQ_AND || op == KM_PQ_OR || op == KM_PQ_UNLESS)) {
            fail_at(p, oppos, "unexpected literal for right leg of logical/set binary operation");
            lq_node_destroy(b);
            return NULL;
        }
        if (l->k == LQ_N_NUM && r->k == LQ_N_NUM && km_pq_binop_is_comparison(op) && !b->ret_bool) {
            fail_plain(p, "comparisons between scalars must use BOOL modifier");
            lq_node_destroy(b);
            return NULL;
        }
        l = b;
    }
    return l;
}

/* ---- the public entry --------------------------------------------------------------------- */

static void selector_collect(struct lq_node *n, struct lq_selector ***v, size_t *nv, bool *ok)
{
    if (!n)
        return;
    if (n->k == LQ_N_RANGE) {
        struct lq_selector **nvv = realloc(*v, (*nv + 1) * sizeof(**v));

        if (!nvv) {
            *ok = false;
            return;
        }
        *v = nvv;
        (*v)[(*nv)++] = &n->sel;
    }
    selector_collect(n->arg, v, nv, ok);
    selector_collect(n->l, v, nv, ok);
    selector_collect(n->r, v, nv, ok);
}

int km_logql_parse(struct km_logql_expr **out, const char *q, size_t n, struct km_buf *err)
{
    struct km_buf own;
    struct parser p;
    struct km_logql_expr *e;
    bool ok = true;

    km_buf_init(&own, 0);
    memset(&p, 0, sizeof(p));
    p.s = q;
    p.n = n;
    p.err = err ? err : &own;
    if (n > KM_LOGQL_MAX_QUERY) {
        km_buf_printf(p.err, "parse error : the query of %zu bytes exceeds the limit of %u", n,
                      KM_LOGQL_MAX_QUERY);
        km_buf_fini(&own);
        return km_err_set(KM_ELIMIT, "the query of %zu bytes exceeds the limit of %u", n,
                          KM_LOGQL_MAX_QUERY);
    }
    e = calloc(1, sizeof(*e));
    if (!e) {
        nomem(&p);
        km_buf_fini(&own);
        return KM_ENOMEM;
    }
    lex(&p);
    if (p.tok.t == T_LBRACE) {
        e->kind = KM_LOGQL_LOG;
        e->log = calloc(1, sizeof(*e->log));
        if (!e->log) {
            nomem(&p);
            goto out_fail;
        }
        if (parse_selector(&p, e->log, NULL) || finish_selector(&p, e->log))
            goto out_fail;
        if (p.tok.t != T_EOF) {
            syntax(&p, NULL);
            goto out_fail;
        }
        e->sels = p.sels;
        e->nsels = p.nsels;
        p.sels = NULL;
    } else {
        e->kind = KM_LOGQL_METRIC;
        e->root = expr(&p, 0);
        if (!e->root)
            goto out_fail;
        if (p.tok.t != T_EOF) {
            syntax(&p, NULL);
            goto out_fail;
        }
        free(p.sels);
        p.sels = NULL;
        selector_collect(e->root, &e->sels, &e->nsels, &ok);
        if (!ok) {
            nomem(&p);
            goto out_fail;
        }
    }
    km_buf_fini(&own);
    *out = e;
    return 0;

out_fail:
    free(p.sels);
    km_logql_expr_destroy(e);
    if (!p.rc)
        nomem(&p);
    km_err_set(p.rc, "%s", km_buf_cstr(p.err));
    km_buf_fini(&own);
    return p.rc;
}

int km_logql_parse_selector(const char *s, size_t n, struct km_matcher ***out, size_t *nm,
                            struct km_buf *err)
{
    struct km_buf own;
    struct parser p;
    struct km_matcher **m = NULL;
    size_t k = 0;

    km_buf_init(&own, 0);
    memset(&p, 0, sizeof(p));
    p.s = s;
    p.n = n;
    p.err = err ? err : &own;
    lex(&p);
    if (parse_matchers(&p, &m, &k) == 0 && p.tok.t != T_EOF) {
        syntax(&p, NULL);
        km_logql_matchers_free(m, k);
    }
    if (p.rc) {
        km_err_set(p.rc, "%s", km_buf_cstr(p.err));
        km_buf_fini(&own);
        return p.rc;
    }
    km_buf_fini(&own);
    *out = m;
    *nm = k;
    return 0;
}

void km_logql_matchers_free(struct km_matcher **m, size_t nm)
{
    if (!m)
        return;
    for (size_t i = 0; i < nm; i++)
        km_matcher_destroy(m[i]);
    free(m);
}

/* ---- destruction ------------------------------------------------------------------------- */

void lq_lf_destroy(struct lq_lf *f)
{
    if (!f)
        return;
    lq_lf_destroy(f->l);
    lq_lf_destroy(f->r);
    free(f->name);
    free(f->s);
    km_regex_destroy(f->re);
    free(f);
}

static void stage_fini(struct lq_stage *st)
{
    for (size_t i = 0; i < st->lf.nalt; i++) {
        free(st->lf.alt[i].s);
        km_regex_destroy(st->lf.alt[i].re);
    }
    free(st->lf.alt);
    for (size_t i = 0; i < st->np; i++) {
        struct lq_param *pr = &st->p[i];

        free(pr->name);
        free(pr->expr);
        for (size_t j = 0; j < pr->npath; j++)
            free(pr->path[j].key);
        free(pr->path);
        km_regex_destroy(pr->re);
        lq_tmpl_destroy(pr->tmpl);
    }
    free(st->p);
    free(st->group_names_idx);
    free(st->text);
    km_regex_destroy(st->re);
    for (size_t i = 0; i < st->npat; i++) {
        free(st->pat[i].lit);
        free(st->pat[i].name);
    }
    free(st->pat);
    lq_lf_destroy(st->filter);
    lq_tmpl_destroy(st->tmpl);
}

void lq_selector_fini(struct lq_selector *s)
{
    km_logql_matchers_free(s->m, s->nm);
    for (size_t i = 0; i < s->nst; i++)
        stage_fini(&s->st[i]);
    free(s->st);
    free(s->must);
    free(s->must_len);
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void lq_node_destroy(struct lq_node *n)
{
    if (!n)
        return;
    lq_selector_fini(&n->sel);
    free(n->unwrap_label);
    for (size_t i = 0; i < n->npost; i++)
        lq_lf_destroy(n->post[i]);
    free(n->post);
    free(n->param_text);
    strv_free(n->g.labels, n->g.n);
    lq_node_destroy(n->arg);
    lq_node_destroy(n->l);
    lq_node_destroy(n->r);
    strv_free(n->mlabels, n->nmlabels);
    strv_free(n->include, n->ninclude);
    free(n->num_text);
    free(n->lr_dst);
    free(n->lr_repl);
    free(n->lr_src);
    free(n->lr_re);
    km_regex_destroy(n->lr_compiled);
    free(n);
}

void km_logql_expr_destroy(struct km_logql_expr *e)
{
    if (!e)
        return;
    if (e->log) {
        lq_selector_fini(e->log);
        free(e->log);
    }
    lq_node_destroy(e->root);
    free(e->sels);
    free(e);
}

enum km_logql_kind km_logql_expr_kind(const struct km_logql_expr *e)
{
    return e->kind;
}

size_t km_logql_expr_nselectors(const struct km_logql_expr *e)
{
    return e->nsels;
}

struct km_matcher *const *km_logql_expr_matchers(const struct km_logql_expr *e, size_t i,
                                                 size_t *nm)
{
    *nm = e->sels[i]->nm;
    return e->sels[i]->m;
}

size_t km_logql_expr_must_contain(const struct km_logql_expr *e, size_t i, const char *const **lit,
                                  const size_t **len)
{
    *lit = e->sels[i]->must;
    *len = e->sels[i]->must_len;
    return e->sels[i]->nmust;
}
