/*
 * template_parse — Go's text/template parser: the tokens of template_lex.c into a syntax
 * tree (template_internal.h), one tree per named template ({{define}}, {{block}} and the
 * text around them), built by recursive descent the way Go's parse package builds its
 * own, so that the same text fails with the same message on the same line: functions
 * must exist and variables must be declared when a tree uses them, {{break}} and
 * {{continue}} belong inside {{range}}, and so on. Also Go's String() of a node, which
 * execution errors quote. The tree and its strings live in the template's arena.
 * Pure; thread-safe.
 */
#include "common/array.h"
#include "common/err.h"
#include "common/limits.h"
#include "promql/quote.h"
#include "rules/template_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct name {
    const char *p;
    size_t n;
};

struct parser {
    struct km_tmpl *t;
    struct tlex lx;
    size_t i;          /* the next token */
    size_t furthest;   /* the furthest token read: errors are on its line */
    struct km_buf msg; /* the message of the first error */
    int rc;            /* the first error; nothing is parsed after it */
    struct name *vars; /* the variables in scope, "$" first */
    size_t nvars, capvars;
    int range_depth;
    unsigned nesting;
    uint32_t action_line; /* the line of the action being parsed, 0 outside one */
};

/* ---- Errors and tokens ---------------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static void fail(struct parser *p, int rc, const char *fmt,
                                                       ...)
{
    va_list ap;

    if (p->rc)
        return;
    p->rc = rc;
    if (rc == KM_ENOMEM) {
        km_buf_puts(&p->msg, "out of memory parsing a template");
        return;
    }
    km_buf_printf(&p->msg, "template: %s:%u: ", p->t->name, p->lx.v[p->furthest].line);
    va_start(ap, fmt);
    km_buf_vprintf(&p->msg, fmt, ap);
    va_end(ap);
}

#define FAILED(p) ((p)->rc != 0)

static const struct ttoken *tok_next(struct parser *p)
{
    const struct ttoken *tok = &p->lx.v[p->i];

    if (p->i > p->furthest)
        p->furthest = p->i;
    if (p->i + 1 < p->lx.n) /* the last token (EOF or an error) repeats */
        p->i++;
    return tok;
}

static const struct ttoken *tok_peek(struct parser *p)
{
    if (p->i > p->furthest)
        p->furthest = p->i;
    return &p->lx.v[p->i];
}

static void tok_backup(struct parser *p, const struct ttoken *tok)
{
    p->i = (size_t)(tok - p->lx.v);
}

static const struct ttoken *tok_next_nonspace(struct parser *p)
{
    const struct ttoken *tok;

    do
        tok = tok_next(p);
    while (tok->t == TK_SPACE);
    return tok;
}

static const struct ttoken *tok_peek_nonspace(struct parser *p)
{
    const struct ttoken *tok = tok_next_nonspace(p);

    tok_backup(p, tok);
    return tok;
}

static const char *tok_text(const struct parser *p, const struct ttoken *tok)
{
    return p->t->text + tok->pos;
}

/* A token as Go's item String() prints it in "unexpected …". */
static void tok_string(struct parser *p, struct km_buf *out, const struct ttoken *tok)
{
    const char *s = tok_text(p, tok);

    if (tok->t == TK_EOF)
        km_buf_puts(out, "EOF");
    else if (tok->t == TK_ERROR)
        km_buf_puts(out, km_buf_cstr(&p->lx.msg));
    else if (tok->t > TK_KEYWORD)
        km_buf_printf(out, "<%.*s>", (int)tok->len, s);
    else if (tok->len <= 10)
        tmpl_quote(out, s, tok->len);
    else {
        tmpl_quote_prefix(out, s, tok->len, 10);
        km_buf_puts(out, "...");
    }
}

static void unexpected(struct parser *p, const struct ttoken *tok, const char *context)
{
    struct km_buf what;

    km_buf_init(&what, 0);
    tok_string(p, &what, tok);
    if (tok->t == TK_ERROR) {
        const char *msg = km_buf_cstr(&p->lx.msg);
        size_t len = strlen(msg);

        if (p->action_line != 0 && p->action_line != tok->line) {
            bool action_suffix = len >= 7 && strcmp(msg + len - 7, " action") == 0;

            fail(p, KM_EINVAL, "%s%s started at %s:%u", msg, action_suffix ? "" : " in action",
                 p->t->name, p->action_line);
        } else {
            fail(p, KM_EINVAL, "%s", msg);
        }
    } else {
        fail(p, KM_EINVAL, "unexpected %s in %s", km_buf_cstr(&what), context);
    }
    tmpl_buf_done(&p->msg, &what);
}

static const struct ttoken *expect(struct parser *p, enum ttok t, const char *context)
{
    const struct ttoken *tok = tok_next_nonspace(p);

    if (tok->t != t)
        unexpected(p, tok, context);
    return tok;
}

/* ---- Nodes ---------------------------------------------------------------------------- */

static void *alloc(struct parser *p, size_t n)
{
    void *m = km_arena_alloc(&p->t->arena, n, _Alignof(max_align_t));

    if (!m)
        fail(p, KM_ENOMEM, "out of memory");
    else
        memset(m, 0, n);
    return m;
}

static struct tnode *node_new(struct parser *p, enum tnode_kind kind, const struct ttoken *at)
{
    struct tnode *n = alloc(p, sizeof(*n));

    if (n) {
        n->kind = kind;
        n->pos = at->pos;
        n->line = at->line;
    }
    return n;
}

static char *strdup_arena(struct parser *p, const char *s, size_t n)
{
    char *c = km_arena_strndup(&p->t->arena, s, n);

    if (!c)
        fail(p, KM_ENOMEM, "out of memory");
    return c;
}

/* Append to a list, a command's arguments or a pipeline's commands. */
static void append(struct tnode *to, struct tnode **first, size_t *n, struct tnode *what)
{
    struct tnode **at = first;

    (void)to;
    while (*at)
        at = &(*at)->next;
    *at = what;
    (*n)++;
}

static void list_append(struct tnode *list, struct tnode *what)
{
    append(list, &list->list.first, &list->list.n, what);
}

/* ---- Variables in scope --------------------------------------------------------------- */

static void var_push(struct parser *p, const char *s, size_t n)
{
    if (km_array_grow((void **)&p->vars, &p->capvars, p->nvars + 1, sizeof(*p->vars), 8,
                      "template variables") != 0) {
        fail(p, KM_ENOMEM, "out of memory");
        return;
    }
    p->vars[p->nvars].p = s;
    p->vars[p->nvars].n = n;
    p->nvars++;
}

static bool var_known(const struct parser *p, const char *s, size_t n)
{
    for (size_t k = 0; k < p->nvars; k++) {
        if (p->vars[k].n == n && memcmp(p->vars[k].p, s, n) == 0)
            return true;
    }
    return false;
}

/* A node for the variable of token tok ($x). */
static struct tnode *var_node(struct parser *p, const struct ttoken *tok)
{
    struct tnode *n = node_new(p, TN_VARIABLE, tok);

    if (!n)
        return NULL;
    n->field.idents = alloc(p, sizeof(*n->field.idents));
    if (!n->field.idents)
        return NULL;
    n->field.idents[0] = strdup_arena(p, tok_text(p, tok), tok->len);
    n->field.n = 1;
    return FAILED(p) ? NULL : n;
}

/* ---- Constants ------------------------------------------------------------------------ */

/* Go's underscoreOK: underscores only between digits (a base prefix counts as one). */
static bool underscores_ok(const char *s, size_t n)
{
    char saw = '^';
    bool hex = false;
    size_t i = 0;

    if (n >= 1 && (s[0] == '-' || s[0] == '+')) {
        s++;
        n--;
    }
    if (n >= 2 && s[0] == '0' && strchr("bBoOxX", s[1]) && s[1]) {
        i = 2;
        saw = '0';
        hex = s[1] == 'x' || s[1] == 'X';
    }
    for (; i < n; i++) {
        char c = s[i];

        if ((c >= '0' && c <= '9') || (hex && strchr("abcdefABCDEF", c) && c)) {
            saw = '0';
            continue;
        }
        if (c == '_') {
            if (saw != '0')
                return false;
            saw = '_';
            continue;
        }
        if (saw == '_')
            return false;
        saw = '!';
    }
    return saw != '_';
}

/* Go's strconv.ParseUint(s, 0, 64): 0, KM_EINVAL (syntax) or KM_ELIMIT (range). */
static int parse_uint(const char *s, size_t n, uint64_t *out)
{
    const char *s0 = s;
    size_t n0 = n;
    unsigned base = 10;
    bool underscores = false;
    uint64_t v = 0;

    if (n == 0)
        return KM_EINVAL;
    if (s[0] == '0') {
        char c = n >= 3 ? (char)(s[1] | 0x20) : 0;

        base = c == 'b' ? 2 : c == 'o' ? 8 : c == 'x' ? 16 : 8;
        s += base == 8 && c != 'o' ? 1 : 2;
        n -= base == 8 && c != 'o' ? 1 : 2;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned c = (unsigned char)s[i], d;

        if (c == '_') {
            underscores = true;
            continue;
        }
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
            d = (c | 0x20) - 'a' + 10;
        else
            return KM_EINVAL;
        if (d >= base)
            return KM_EINVAL;
        if (v > (UINT64_MAX - d) / base)
            return KM_ELIMIT;
        v = v * base + d;
    }
    if (underscores && !underscores_ok(s0, n0))
        return KM_EINVAL;
    *out = v;
    return 0;
}

/* Go's strconv.ParseInt(s, 0, 64). */
static int parse_int(const char *s, size_t n, int64_t *out)
{
    bool neg = false;
    uint64_t u;
    int rc;

    if (n > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        s++;
        n--;
    }
    rc = parse_uint(s, n, &u);
    if (rc)
        return rc;
    if ((!neg && u > (uint64_t)INT64_MAX) || (neg && u > (uint64_t)INT64_MAX + 1))
        return KM_ELIMIT;
    *out = neg ? (int64_t)(0 - u) : (int64_t)u;
    return 0;
}

/* Go's strconv.UnquoteChar for a character constant's body s[0..n) ending in '\''. */
static int unquote_char(const char *s, size_t n, int32_t *r, size_t *used)
{
    uint32_t v = 0;
    size_t digits;

    if (n == 0 || s[0] == '\'')
        return KM_EINVAL;
    if (s[0] != '\\') {
        *used = tmpl_utf8_decode(s, n, r);
        return 0;
    }
    if (n < 2)
        return KM_EINVAL;
    switch (s[1]) {
    case 'a':
        *r = '\a';
        break;
    case 'b':
        *r = '\b';
        break;
    case 'f':
        *r = '\f';
        break;
    case 'n':
        *r = '\n';
        break;
    case 'r':
        *r = '\r';
        break;
    case 't':
        *r = '\t';
        break;
    case 'v':
        *r = '\v';
        break;
    case '\\':
    case '\'':
        *r = s[1];
        break;
    case 'x':
    case 'u':
    case 'U':
        digits = s[1] == 'x' ? 2 : s[1] == 'u' ? 4 : 8;
        if (n < 2 + digits)
            return KM_EINVAL;
        for (size_t i = 0; i < digits; i++) {
            int h = km_promql_hexval((unsigned char)s[2 + i]);

            if (h < 0)
                return KM_EINVAL;
            v = v * 16 + (uint32_t)h;
        }
        if (s[1] != 'x' && (v > 0x10ffff || (v >= 0xd800 && v < 0xe000)))
            return KM_EINVAL;
        *r = (int32_t)v;
        *used = 2 + digits;
        return 0;
    default:
        if (s[1] < '0' || s[1] > '7' || n < 4)
            return KM_EINVAL;
        for (size_t i = 1; i < 4; i++) {
            if (s[i] < '0' || s[i] > '7')
                return KM_EINVAL;
            v = v * 8 + (uint32_t)(s[i] - '0');
        }
        if (v > 255)
            return KM_EINVAL;
        *r = (int32_t)v;
        *used = 4;
        return 0;
    }
    *used = 2;
    return 0;
}

/* tmpl_parse_float(), failing the parse when memory runs out. */
static int parse_float(struct parser *p, const char *s, size_t n, double *v)
{
    int rc = tmpl_parse_float(s, n, v);

    if (rc == KM_ENOMEM)
        fail(p, KM_ENOMEM, "out of memory");
    return rc;
}

/* Go's parse.newNumber: which of int, uint, float (or complex) the text is. */
static struct tnode *number_node(struct parser *p, const struct ttoken *tok)
{
    const char *s = tok_text(p, tok);
    size_t n = tok->len;
    struct tnode *node = node_new(p, TN_NUMBER, tok);
    struct tnum *v;
    struct km_buf q;

    if (!node)
        return NULL;
    node->num.text = s;
    node->num.len = n;
    v = &node->num.v;
    if (tok->t == TK_CHAR) {
        int32_t r;
        size_t used;

        if (unquote_char(s + 1, n - 1, &r, &used) != 0) {
            fail(p, KM_EINVAL, "invalid syntax");
            return NULL;
        }
        if (1 + used != n - 1) {
            fail(p, KM_EINVAL, "malformed character constant: %.*s", (int)n, s);
            return NULL;
        }
        v->is_int = v->is_uint = v->is_float = v->is_char = true;
        v->i = r;
        v->u = (uint64_t)r;
        v->f = r;
        return node;
    }
    if (tok->t == TK_COMPLEX) {
        /* a±bi: the real part ends at the sign that follows a digit or '.'. */
        size_t k = 1;
        double re, im;

        while (k < n && !((s[k] == '+' || s[k] == '-') && s[k - 1] != 'e' && s[k - 1] != 'E' &&
                          s[k - 1] != 'p' && s[k - 1] != 'P'))
            k++;
        if (k >= n || parse_float(p, s, k, &re) != 0 || parse_float(p, s + k, n - k - 1, &im) != 0)
            goto out_illegal;
        v->is_complex = true;
        v->f = re;
        v->imag = im;
        return node;
    }
    if (n > 0 && s[n - 1] == 'i') {
        double im;

        if (parse_float(p, s, n - 1, &im) == 0) {
            v->is_complex = true;
            v->f = 0;
            v->imag = im;
            return node;
        }
    }
    if (parse_uint(s, n, &v->u) == 0)
        v->is_uint = true;
    if (parse_int(s, n, &v->i) == 0) {
        v->is_int = true;
        if (v->i == 0)
            v->is_uint = true; /* -0 */
    }
    if (v->is_int) {
        v->is_float = true;
        v->f = (double)v->i;
    } else if (v->is_uint) {
        v->is_float = true;
        v->f = (double)v->u;
    } else if (parse_float(p, s, n, &v->f) == 0) {
        bool looks_float = false;

        for (size_t k = 0; k < n; k++)
            looks_float |= s[k] == '.' || s[k] == 'e' || s[k] == 'E' || s[k] == 'p' || s[k] == 'P';
        if (!looks_float) {
            km_buf_init(&q, 0);
            tmpl_quote(&q, s, n);
            fail(p, KM_EINVAL, "integer overflow: %s", km_buf_cstr(&q));
            tmpl_buf_done(&p->msg, &q);
            return NULL;
        }
        v->is_float = true;
        if (v->f >= -9223372036854775808.0 && v->f < 9223372036854775808.0 && trunc(v->f) == v->f) {
            v->is_int = true;
            v->i = (int64_t)v->f;
        }
        if (v->f >= 0 && v->f < 18446744073709551616.0 && trunc(v->f) == v->f) {
            v->is_uint = true;
            v->u = (uint64_t)v->f;
        }
    }
    if (!v->is_int && !v->is_uint && !v->is_float)
        goto out_illegal;
    return node;

out_illegal:
    if (FAILED(p))
        return NULL;
    km_buf_init(&q, 0);
    tmpl_quote(&q, s, n);
    fail(p, KM_EINVAL, "illegal number syntax: %s", km_buf_cstr(&q));
    tmpl_buf_done(&p->msg, &q);
    return NULL;
}

/* The value of a quoted string token into the arena; Go's strconv.Unquote (which also
 * drops the carriage returns of a raw string). */
static bool unquote(struct parser *p, const struct ttoken *tok, const char **out, size_t *len)
{
    const char *s = tok_text(p, tok);
    char *v = NULL, *a;
    size_t n = 0, k = 0;
    int rc;

    if (tok->t == TK_RAW) {
        a = alloc(p, tok->len);
        if (!a)
            return false;
        for (size_t i = 1; i + 1 < tok->len; i++) {
            if (s[i] != '\r')
                a[k++] = s[i];
        }
        a[k] = '\0';
        *out = a;
        *len = k;
        return true;
    }
    rc = km_promql_unquote(s, tok->len, &v, &n);
    if (rc) {
        fail(p, rc == KM_ENOMEM ? KM_ENOMEM : KM_EINVAL, "invalid syntax");
        return false;
    }
    a = alloc(p, n + 1);
    if (a) {
        memcpy(a, v, n);
        a[n] = '\0';
    }
    free(v);
    *out = a;
    *len = n;
    return a != NULL;
}

/* ---- Pipelines ------------------------------------------------------------------------ */

static struct tnode *pipeline(struct parser *p, const char *context, enum ttok end);

static bool nest(struct parser *p)
{
    if (++p->nesting > KM_LIMIT_TMPL_NESTING) {
        fail(p, KM_ELIMIT, "template nesting exceeds the limit of %d", KM_LIMIT_TMPL_NESTING);
        return false;
    }
    return true;
}

static struct tnode *term(struct parser *p)
{
    const struct ttoken *tok = tok_next_nonspace(p);
    const char *s = tok_text(p, tok);
    struct tnode *n = NULL;
    struct km_buf q;

    switch (tok->t) {
    case TK_IDENT:
        n = node_new(p, TN_IDENT, tok);
        if (!n)
            return NULL;
        n->ident.fn = tmpl_func_find(s, tok->len);
        if (!n->ident.fn) {
            km_buf_init(&q, 0);
            tmpl_quote(&q, s, tok->len);
            fail(p, KM_EINVAL, "function %s not defined", km_buf_cstr(&q));
            tmpl_buf_done(&p->msg, &q);
            return NULL;
        }
        n->ident.name = n->ident.fn->name;
        return n;
    case TK_DOT:
        return node_new(p, TN_DOT, tok);
    case TK_NIL:
        return node_new(p, TN_NIL, tok);
    case TK_VAR:
        if (!var_known(p, s, tok->len)) {
            km_buf_init(&q, 0);
            tmpl_quote(&q, s, tok->len);
            fail(p, KM_EINVAL, "undefined variable %s", km_buf_cstr(&q));
            tmpl_buf_done(&p->msg, &q);
            return NULL;
        }
        return var_node(p, tok);
    case TK_FIELD:
        n = node_new(p, TN_FIELD, tok);
        if (!n)
            return NULL;
        n->field.idents = alloc(p, sizeof(*n->field.idents));
        if (!n->field.idents)
            return NULL;
        n->field.idents[0] = strdup_arena(p, s + 1, tok->len - 1);
        n->field.n = 1;
        return FAILED(p) ? NULL : n;
    case TK_BOOL:
        n = node_new(p, TN_BOOL, tok);
        if (n)
            n->b = s[0] == 't';
        return n;
    case TK_CHAR:
    case TK_COMPLEX:
    case TK_NUMBER:
        return number_node(p, tok);
    case TK_LPAREN:
        if (!nest(p))
            return NULL;
        n = pipeline(p, "parenthesized pipeline", TK_RPAREN);
        p->nesting--;
        return n;
    case TK_STRING:
    case TK_RAW:
        n = node_new(p, TN_STRING, tok);
        if (!n)
            return NULL;
        n->str.quoted = s;
        n->str.quoted_len = tok->len;
        return unquote(p, tok, &n->str.p, &n->str.n) ? n : NULL;
    default:
        tok_backup(p, tok);
        return NULL;
    }
}

/* A term with the fields that follow it: .a.b, $x.a, (pipeline).a. */
static struct tnode *operand(struct parser *p)
{
    struct tnode *node = term(p), *chain;
    const struct ttoken *at;
    size_t nfields = 0, have, k = 0;
    const char **idents;

    if (!node || FAILED(p))
        return NULL;
    at = tok_peek(p);
    if (at->t != TK_FIELD)
        return node;
    for (size_t j = p->i; p->lx.v[j].t == TK_FIELD; j++)
        nfields++;
    switch (node->kind) {
    case TN_BOOL:
    case TN_STRING:
    case TN_NUMBER:
    case TN_NIL:
    case TN_DOT: {
        struct km_buf s, q;

        km_buf_init(&s, 0);
        km_buf_init(&q, 0);
        tmpl_node_string(&s, node);
        tmpl_quote(&q, s.data ? s.data : "", s.len);
        fail(p, KM_EINVAL, "unexpected . after term %s", km_buf_cstr(&q));
        tmpl_buf_done(&p->msg, &s);
        tmpl_buf_done(&p->msg, &q);
        return NULL;
    }
    case TN_FIELD:
    case TN_VARIABLE:
        /* More names on the field or variable itself, positioned at the first new one. */
        have = node->field.n;
        idents = alloc(p, (have + nfields) * sizeof(*idents));
        if (!idents)
            return NULL;
        memcpy(idents, node->field.idents, have * sizeof(*idents));
        k = have;
        chain = node;
        chain->pos = at->pos;
        chain->line = at->line;
        break;
    default:
        chain = node_new(p, TN_CHAIN, at);
        idents = alloc(p, nfields * sizeof(*idents));
        if (!chain || !idents)
            return NULL;
        chain->field.node = node;
        break;
    }
    while (tok_peek(p)->t == TK_FIELD) {
        const struct ttoken *f = tok_next(p);

        idents[k++] = strdup_arena(p, tok_text(p, f) + 1, f->len - 1);
    }
    chain->field.idents = idents;
    chain->field.n = k;
    return FAILED(p) ? NULL : chain;
}

static struct tnode *command(struct parser *p)
{
    struct tnode *cmd = node_new(p, TN_COMMAND, tok_peek_nonspace(p));

    if (!cmd)
        return NULL;
    for (;;) {
        struct tnode *arg;
        const struct ttoken *tok;

        tok_peek_nonspace(p);
        arg = operand(p);
        if (FAILED(p))
            return NULL;
        if (arg)
            list_append(cmd, arg);
        tok = tok_next(p);
        if (tok->t == TK_SPACE)
            continue;
        if (tok->t == TK_RIGHT || tok->t == TK_RPAREN)
            tok_backup(p, tok);
        else if (tok->t != TK_PIPE)
            unexpected(p, tok, "operand");
        break;
    }
    if (!FAILED(p) && cmd->list.n == 0)
        fail(p, KM_EINVAL, "empty command");
    return FAILED(p) ? NULL : cmd;
}

static void check_pipeline(struct parser *p, struct tnode *pipe, const char *context)
{
    size_t stage = 1;

    if (pipe->pipe.ncmds == 0) {
        fail(p, KM_EINVAL, "missing value for %s", context);
        return;
    }
    for (struct tnode *c = pipe->pipe.cmds->next; c; c = c->next) {
        enum tnode_kind k = c->list.first->kind;

        stage++;
        if (k == TN_BOOL || k == TN_DOT || k == TN_NIL || k == TN_NUMBER || k == TN_STRING) {
            fail(p, KM_EINVAL, "non executable command in pipeline stage %zu", stage);
            return;
        }
    }
}

/* A pipeline up to the token `end`, with the variables it declares ($x := …, $x = …,
 * and in a range $i, $e := …). */
static struct tnode *pipeline(struct parser *p, const char *context, enum ttok end)
{
    struct tnode *pipe = node_new(p, TN_PIPE, tok_peek_nonspace(p));
    bool is_range = strcmp(context, "range") == 0;

    if (!pipe)
        return NULL;
    for (;;) {
        const struct ttoken *v = tok_peek_nonspace(p), *nx;

        if (v->t != TK_VAR)
            break;
        tok_next(p);
        nx = tok_next_nonspace(p);
        if (nx->t == TK_ASSIGN || nx->t == TK_DECLARE) {
            pipe->pipe.assign = nx->t == TK_ASSIGN;
            pipe->pipe.decl[pipe->pipe.ndecl++] = var_node(p, v);
            var_push(p, tok_text(p, v), v->len);
            if (FAILED(p))
                return NULL;
            break;
        }
        if (nx->t == TK_PUNCT && tok_text(p, nx)[0] == ',') {
            enum ttok t;

            pipe->pipe.decl[pipe->pipe.ndecl++] = var_node(p, v);
            var_push(p, tok_text(p, v), v->len);
            if (FAILED(p))
                return NULL;
            if (is_range && pipe->pipe.ndecl < 2) {
                t = tok_peek_nonspace(p)->t;
                if (t == TK_VAR || t == TK_RIGHT || t == TK_RPAREN)
                    continue;
                fail(p, KM_EINVAL, "range can only initialize variables");
                return NULL;
            }
            fail(p, KM_EINVAL, "too many declarations in %s", context);
            return NULL;
        }
        /* "$x foo": $x is an argument after all. */
        tok_backup(p, v);
        break;
    }
    for (;;) {
        const struct ttoken *tok = tok_next_nonspace(p);
        struct tnode *cmd;

        if (tok->t == end) {
            check_pipeline(p, pipe, context);
            return FAILED(p) ? NULL : pipe;
        }
        switch (tok->t) {
        case TK_BOOL:
        case TK_CHAR:
        case TK_COMPLEX:
        case TK_DOT:
        case TK_FIELD:
        case TK_IDENT:
        case TK_NUMBER:
        case TK_NIL:
        case TK_RAW:
        case TK_STRING:
        case TK_VAR:
        case TK_LPAREN:
            tok_backup(p, tok);
            cmd = command(p);
            if (!cmd)
                return NULL;
            append(pipe, &pipe->pipe.cmds, &pipe->pipe.ncmds, cmd);
            break;
        default:
            unexpected(p, tok, context);
            return NULL;
        }
    }
}

/* ---- Actions and lists ---------------------------------------------------------------- */

static struct tnode *text_or_action(struct parser *p);
static struct tnode *if_control(struct parser *p);

/* Nodes up to an {{end}} or {{else}}, which *last is set to. */
static struct tnode *item_list(struct parser *p, struct tnode **last)
{
    struct tnode *list = node_new(p, TN_LIST, tok_peek_nonspace(p));

    *last = NULL;
    if (!list)
        return NULL;
    while (tok_peek_nonspace(p)->t != TK_EOF) {
        struct tnode *n = text_or_action(p);

        if (!n)
            return NULL;
        if (n->kind == TN_END || n->kind == TN_ELSE) {
            *last = n;
            return list;
        }
        list_append(list, n);
    }
    fail(p, KM_EINVAL, "unexpected EOF");
    return NULL;
}

/* if, range and with: the pipeline, the list and the else list. */
static struct tnode *control(struct parser *p, enum tnode_kind kind, const char *context)
{
    size_t nvars = p->nvars;
    struct tnode *node, *pipe, *list, *last = NULL, *else_list = NULL;

    if (!nest(p))
        return NULL;
    pipe = pipeline(p, context, TK_RIGHT);
    if (!pipe)
        return NULL;
    if (kind == TN_RANGE)
        p->range_depth++;
    list = item_list(p, &last);
    if (kind == TN_RANGE)
        p->range_depth--;
    if (!list)
        return NULL;
    if (last->kind == TN_ELSE) {
        if (kind == TN_IF && tok_peek(p)->t == TK_IF) {
            /* {{else if …}} is {{else}}{{if …}}…{{end}}{{end}} with one {{end}}. */
            struct tnode *inner;

            else_list = node_new(p, TN_LIST, tok_peek(p));
            tok_next(p);
            inner = else_list ? if_control(p) : NULL;
            if (!inner)
                return NULL;
            list_append(else_list, inner);
        } else {
            else_list = item_list(p, &last);
            if (!else_list)
                return NULL;
            if (last->kind != TN_END) {
                struct km_buf s;

                km_buf_init(&s, 0);
                tmpl_node_string(&s, last);
                fail(p, KM_EINVAL, "expected end; found %s", km_buf_cstr(&s));
                tmpl_buf_done(&p->msg, &s);
                return NULL;
            }
        }
    }
    p->nvars = nvars;
    p->nesting--;
    node = alloc(p, sizeof(*node));
    if (!node)
        return NULL;
    node->kind = kind;
    node->pos = pipe->pos;
    node->line = pipe->line;
    node->ctl.pipe = pipe;
    node->ctl.list = list;
    node->ctl.else_list = else_list;
    return node;
}

static struct tnode *if_control(struct parser *p)
{
    return control(p, TN_IF, "if");
}

static bool template_name(struct parser *p, const struct ttoken *tok, const char *context,
                          const char **name, size_t *len)
{
    if (tok->t != TK_STRING && tok->t != TK_RAW) {
        unexpected(p, tok, context);
        return false;
    }
    return unquote(p, tok, name, len);
}

/* Go's IsEmptyTree: nothing but white space. */
static bool empty_tree(const struct tnode *list)
{
    for (const struct tnode *n = list ? list->list.first : NULL; n; n = n->next) {
        if (n->kind != TN_TEXT)
            return false;
        for (size_t k = 0; k < n->text.n; k++) {
            if (!strchr(" \t\n\v\f\r", n->text.p[k]) || !n->text.p[k])
                return false;
        }
    }
    return true;
}

/* Record a named template (Go's Tree.add). */
static void add_tree(struct parser *p, const char *name, size_t len, struct tnode *root)
{
    struct tdef *d;

    for (d = p->t->defs; d; d = d->next) {
        if (d->name_len == len && memcmp(d->name, name, len) == 0)
            break;
    }
    if (d && !empty_tree(d->root)) {
        if (!empty_tree(root)) {
            struct km_buf q;

            km_buf_init(&q, 0);
            tmpl_quote(&q, name, len);
            fail(p, KM_EINVAL, "template: multiple definition of template %s", km_buf_cstr(&q));
            tmpl_buf_done(&p->msg, &q);
        }
        return;
    }
    if (!d) {
        d = alloc(p, sizeof(*d));
        if (!d)
            return;
        d->name = name;
        d->name_len = len;
        d->next = p->t->defs;
        p->t->defs = d;
    }
    d->root = root;
}

/* The body of {{define}} or {{block}}: a tree of its own, with its own variables. */
static void definition_body(struct parser *p, const char *name, size_t len, const char *context)
{
    struct name *vars = p->vars;
    size_t nvars = p->nvars, capvars = p->capvars;
    int range_depth = p->range_depth;
    struct tnode *root, *last = NULL;

    p->vars = NULL;
    p->nvars = p->capvars = 0;
    p->range_depth = 0;
    var_push(p, "$", 1);
    root = nest(p) ? item_list(p, &last) : NULL;
    if (root && last->kind != TN_END) {
        struct km_buf s;

        km_buf_init(&s, 0);
        tmpl_node_string(&s, last);
        fail(p, KM_EINVAL, "unexpected %s in %s", km_buf_cstr(&s), context);
        tmpl_buf_done(&p->msg, &s);
    }
    if (root && !FAILED(p)) {
        p->nesting--;
        add_tree(p, name, len, root);
    }
    free(p->vars);
    p->vars = vars;
    p->nvars = nvars;
    p->capvars = capvars;
    p->range_depth = range_depth;
}

static void define(struct parser *p)
{
    const char *context = "define clause";
    const struct ttoken *tok = tok_next_nonspace(p);
    const char *name;
    size_t len;

    if (tok->t != TK_STRING && tok->t != TK_RAW) {
        unexpected(p, tok, context);
        return;
    }
    if (!unquote(p, tok, &name, &len))
        return;
    expect(p, TK_RIGHT, context);
    if (!FAILED(p))
        definition_body(p, name, len, context);
}

static struct tnode *template_call(struct parser *p, bool block)
{
    const char *context = block ? "block clause" : "template clause";
    const struct ttoken *tok = tok_next_nonspace(p);
    struct tnode *node = node_new(p, TN_TEMPLATE, tok);

    if (!node || !template_name(p, tok, context, &node->call.name, &node->call.name_len))
        return NULL;
    if (block) {
        node->call.pipe = pipeline(p, context, TK_RIGHT);
        if (!node->call.pipe)
            return NULL;
        definition_body(p, node->call.name, node->call.name_len, context);
        return FAILED(p) ? NULL : node;
    }
    tok = tok_next_nonspace(p);
    if (tok->t != TK_RIGHT) {
        tok_backup(p, tok);
        node->call.pipe = pipeline(p, context, TK_RIGHT);
        if (!node->call.pipe)
            return NULL;
    }
    return node;
}

static struct tnode *loop_control(struct parser *p, const struct ttoken *at, enum tnode_kind kind)
{
    const char *word = kind == TN_BREAK ? "{{break}}" : "{{continue}}";
    const struct ttoken *tok = tok_next_nonspace(p);

    if (tok->t != TK_RIGHT) {
        unexpected(p, tok, word);
        return NULL;
    }
    if (p->range_depth == 0) {
        fail(p, KM_EINVAL, "%s outside {{range}}", word);
        return NULL;
    }
    return node_new(p, kind, at);
}

static struct tnode *action(struct parser *p)
{
    const struct ttoken *tok = tok_next_nonspace(p);
    struct tnode *n;

    switch (tok->t) {
    case TK_BLOCK:
        return template_call(p, true);
    case TK_BREAK:
        return loop_control(p, tok, TN_BREAK);
    case TK_CONTINUE:
        return loop_control(p, tok, TN_CONTINUE);
    case TK_ELSE: {
        const struct ttoken *at = tok_peek_nonspace(p);

        if (at->t != TK_IF)
            at = expect(p, TK_RIGHT, "else");
        return FAILED(p) ? NULL : node_new(p, TN_ELSE, at);
    }
    case TK_END:
        tok = expect(p, TK_RIGHT, "end");
        return FAILED(p) ? NULL : node_new(p, TN_END, tok);
    case TK_IF:
        return if_control(p);
    case TK_RANGE:
        return control(p, TN_RANGE, "range");
    case TK_TEMPLATE:
        return template_call(p, false);
    case TK_WITH:
        return control(p, TN_WITH, "with");
    default:
        break;
    }
    tok_backup(p, tok);
    n = node_new(p, TN_ACTION, tok);
    if (n)
        n->action = pipeline(p, "command", TK_RIGHT);
    return n && n->action ? n : NULL;
}

static struct tnode *text_or_action(struct parser *p)
{
    const struct ttoken *tok = tok_next_nonspace(p);
    struct tnode *n;

    switch (tok->t) {
    case TK_TEXT:
        n = node_new(p, TN_TEXT, tok);
        if (n) {
            n->text.p = tok_text(p, tok);
            n->text.n = tok->len;
        }
        return n;
    case TK_LEFT:
        p->action_line = tok->line;
        n = action(p);
        p->action_line = 0;
        return n;
    default:
        unexpected(p, tok, "input");
        return NULL;
    }
}

static void parse_top(struct parser *p)
{
    struct tnode *root = node_new(p, TN_LIST, tok_peek(p));

    while (root && !FAILED(p) && tok_peek(p)->t != TK_EOF) {
        struct tnode *n;

        if (tok_peek(p)->t == TK_LEFT) {
            const struct ttoken *delim = tok_next(p);

            if (tok_next_nonspace(p)->t == TK_DEFINE) {
                define(p);
                continue;
            }
            tok_backup(p, delim);
        }
        n = text_or_action(p);
        if (!n)
            break;
        if (n->kind == TN_END || n->kind == TN_ELSE) {
            struct km_buf s;

            km_buf_init(&s, 0);
            tmpl_node_string(&s, n);
            fail(p, KM_EINVAL, "unexpected %s", km_buf_cstr(&s));
            tmpl_buf_done(&p->msg, &s);
            break;
        }
        list_append(root, n);
    }
    if (root && !FAILED(p))
        add_tree(p, p->t->name, strlen(p->t->name), root);
}

int tmpl_parse_tree(struct km_tmpl *t, struct km_buf *err)
{
    struct parser p = { .t = t };
    int rc;

    rc = tmpl_lex(&p.lx, t->text, t->len);
    if (rc) {
        km_buf_puts(err, "out of memory parsing a template");
        return rc;
    }
    km_buf_init(&p.msg, 64 * 1024);
    var_push(&p, "$", 1);
    if (!FAILED(&p))
        parse_top(&p);
    /* A message cut short for want of memory is the parse's failure too. */
    if (p.rc && km_buf_error(&p.msg) == KM_ENOMEM) {
        p.rc = KM_ENOMEM;
        km_buf_reset(&p.msg);
        km_buf_puts(&p.msg, "out of memory parsing a template");
    }
    if (p.rc)
        km_buf_append(err, p.msg.data ? p.msg.data : "", p.msg.len);
    km_buf_fini(&p.msg);
    free(p.vars);
    tmpl_lex_fini(&p.lx);
    return p.rc;
}

const struct tdef *tmpl_lookup(const struct km_tmpl *t, const char *name, size_t n)
{
    for (const struct tdef *d = t->defs; d; d = d->next) {
        if (d->name_len == n && memcmp(d->name, name, n) == 0)
            return d;
    }
    return NULL;
}

/* ---- Go's String() of nodes ----------------------------------------------------------- */

static void list_string(struct km_buf *out, const struct tnode *first, const char *sep)
{
    for (const struct tnode *n = first; n; n = n->next) {
        if (n != first)
            km_buf_puts(out, sep);
        tmpl_node_string(out, n);
    }
}

void tmpl_node_string(struct km_buf *out, const struct tnode *n)
{
    static const char *const branch[] = {
        [TN_IF] = "if", [TN_RANGE] = "range", [TN_WITH] = "with"
    };

    switch (n->kind) {
    case TN_LIST:
        list_string(out, n->list.first, "");
        break;
    case TN_TEXT:
        km_buf_append(out, n->text.p, n->text.n);
        break;
    case TN_ACTION:
        km_buf_puts(out, "{{");
        tmpl_node_string(out, n->action);
        km_buf_puts(out, "}}");
        break;
    case TN_IF:
    case TN_RANGE:
    case TN_WITH:
        km_buf_printf(out, "{{%s ", branch[n->kind]);
        tmpl_node_string(out, n->ctl.pipe);
        km_buf_puts(out, "}}");
        tmpl_node_string(out, n->ctl.list);
        if (n->ctl.else_list) {
            km_buf_puts(out, "{{else}}");
            tmpl_node_string(out, n->ctl.else_list);
        }
        km_buf_puts(out, "{{end}}");
        break;
    case TN_TEMPLATE:
        km_buf_puts(out, "{{template ");
        tmpl_quote(out, n->call.name, n->call.name_len);
        if (n->call.pipe) {
            km_buf_putc(out, ' ');
            tmpl_node_string(out, n->call.pipe);
        }
        km_buf_puts(out, "}}");
        break;
    case TN_BREAK:
        km_buf_puts(out, "{{break}}");
        break;
    case TN_CONTINUE:
        km_buf_puts(out, "{{continue}}");
        break;
    case TN_PIPE:
        for (size_t k = 0; k < n->pipe.ndecl; k++) {
            if (k > 0)
                km_buf_puts(out, ", ");
            tmpl_node_string(out, n->pipe.decl[k]);
        }
        if (n->pipe.ndecl > 0)
            km_buf_puts(out, " := ");
        list_string(out, n->pipe.cmds, " | ");
        break;
    case TN_COMMAND:
        for (const struct tnode *a = n->list.first; a; a = a->next) {
            if (a != n->list.first)
                km_buf_putc(out, ' ');
            if (a->kind == TN_PIPE)
                km_buf_putc(out, '(');
            tmpl_node_string(out, a);
            if (a->kind == TN_PIPE)
                km_buf_putc(out, ')');
        }
        break;
    case TN_FIELD:
        for (size_t k = 0; k < n->field.n; k++)
            km_buf_printf(out, ".%s", n->field.idents[k]);
        break;
    case TN_VARIABLE:
        for (size_t k = 0; k < n->field.n; k++)
            km_buf_printf(out, "%s%s", k ? "." : "", n->field.idents[k]);
        break;
    case TN_CHAIN:
        if (n->field.node->kind == TN_PIPE)
            km_buf_putc(out, '(');
        tmpl_node_string(out, n->field.node);
        if (n->field.node->kind == TN_PIPE)
            km_buf_putc(out, ')');
        for (size_t k = 0; k < n->field.n; k++)
            km_buf_printf(out, ".%s", n->field.idents[k]);
        break;
    case TN_IDENT:
        km_buf_puts(out, n->ident.name);
        break;
    case TN_DOT:
        km_buf_putc(out, '.');
        break;
    case TN_NIL:
        km_buf_puts(out, "nil");
        break;
    case TN_BOOL:
        km_buf_puts(out, n->b ? "true" : "false");
        break;
    case TN_NUMBER:
        km_buf_append(out, n->num.text, n->num.len);
        break;
    case TN_STRING:
        km_buf_append(out, n->str.quoted, n->str.quoted_len);
        break;
    case TN_END:
        km_buf_puts(out, "{{end}}");
        break;
    case TN_ELSE:
        km_buf_puts(out, "{{else}}");
        break;
    }
}

/* ---- The public entry ----------------------------------------------------------------- */

/* What Prometheus puts before an alert's template (rules/alerting.go), joined on one line. */
static const char prometheus_defs[] = "{{$labels := .Labels}}"
                                      "{{$externalLabels := .ExternalLabels}}"
                                      "{{$externalURL := .ExternalURL}}"
                                      "{{$value := .Value}}";

int km_tmpl_parse(struct km_tmpl **out, const char *name, const char *text, size_t n,
                  struct km_buf *err)
{
    size_t ndefs = sizeof(prometheus_defs) - 1;
    int err_before = km_buf_error(err), rc;
    struct km_tmpl *t;

    if (n > KM_LIMIT_TMPL_TEXT) {
        km_buf_printf(err, "template: %s: the text of %zu bytes exceeds the limit of %u", name, n,
                      KM_LIMIT_TMPL_TEXT);
        return KM_ELIMIT;
    }
    t = calloc(1, sizeof(*t));
    if (!t)
        goto out_nomem;
    km_arena_init(&t->arena, 4096, SIZE_MAX);
    t->name = strdup(name);
    t->len = ndefs + n;
    t->text = malloc(t->len + 1);
    if (!t->name || !t->text)
        goto out_nomem;
    memcpy(t->text, prometheus_defs, ndefs);
    if (n)
        memcpy(t->text + ndefs, text, n);
    t->text[t->len] = '\0';
    rc = tmpl_parse_tree(t, err);
    if (rc && rc != KM_ENOMEM && km_buf_error(err) == KM_ENOMEM && err_before != KM_ENOMEM)
        rc = KM_ENOMEM; /* the message could not be given */
    if (rc) {
        km_tmpl_destroy(t);
        return rc;
    }
    *out = t;
    return 0;

out_nomem:
    km_tmpl_destroy(t);
    km_buf_puts(err, "out of memory parsing a template");
    return KM_ENOMEM;
}

const char *km_tmpl_name(const struct km_tmpl *t)
{
    return t->name;
}

void km_tmpl_destroy(struct km_tmpl *t)
{
    if (!t)
        return;
    km_arena_fini(&t->arena);
    free(t->text);
    free(t->name);
    free(t);
}
