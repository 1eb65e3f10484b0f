/*
 * template_lex — splits a template's text into tokens as Go's text/template lexer does:
 * text between "{{" and "}}", the trim markers "{{- " and " -}}" that eat the white
 * space beside them, comments (a slash-star … star-slash right inside the delimiters),
 * and inside an action spaces, words, fields, variables, quoted strings, numbers and
 * punctuation. The whole text is lexed up front into an array; an error ends it with one
 * TK_ERROR token carrying Go's message, which the parser reports only when it reaches it
 * (as Go's parser, reading lazily, would). Pure; thread-safe.
 */
#include "common/array.h"
#include "common/err.h"
#include "promql/quote.h"
#include "rules/template_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define LEFT_DELIM    "{{"
#define RIGHT_DELIM   "}}"
#define LEFT_COMMENT  "/*"
#define RIGHT_COMMENT "*/"
#define DELIM_LEN     2
#define TRIM_LEN      2 /* a space and '-' */

#define END_OF_TEXT (-1)

struct lexer {
    struct tlex *lx;
    const char *s;
    size_t n;
    size_t start, pos; /* the token being read is s[start, pos) */
    size_t width;      /* of the last rune read */
    size_t line_pos;   /* lines are counted up to here… */
    uint32_t line;     /* …which is on this line */
    int paren_depth;
    bool done;
};

static bool is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The rune at pos (END_OF_TEXT at the end) and its width. */
static int32_t rune_at(const struct lexer *l, size_t pos, size_t *width)
{
    int32_t r;

    if (pos >= l->n) {
        *width = 0;
        return END_OF_TEXT;
    }
    *width = tmpl_utf8_decode(l->s + pos, l->n - pos, &r);
    return r;
}

static int32_t next(struct lexer *l)
{
    size_t w;
    int32_t r = rune_at(l, l->pos, &w);

    l->pos += w;
    l->width = w;
    return r;
}

static int32_t peek(const struct lexer *l)
{
    size_t w;

    return rune_at(l, l->pos, &w);
}

/* Step back over the last rune read (once after each next()). */
static void backup(struct lexer *l)
{
    l->pos -= l->width;
}

static bool accept(struct lexer *l, const char *valid)
{
    if (l->pos < l->n && l->s[l->pos] != '\0' && strchr(valid, l->s[l->pos])) {
        l->pos++;
        return true;
    }
    return false;
}

static void accept_run(struct lexer *l, const char *valid)
{
    while (accept(l, valid))
        ;
}

/* Go's unicode.IsLetter/IsDigit or '_': here every non-ASCII rune counts as a letter. */
static bool is_alnum(int32_t r)
{
    return r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') ||
           r >= 0x80;
}

static bool has_prefix(const struct lexer *l, size_t pos, const char *p)
{
    size_t k = strlen(p);

    return pos <= l->n && l->n - pos >= k && memcmp(l->s + pos, p, k) == 0;
}

/* "- " after "{{" */
static bool left_trim_marker(const struct lexer *l, size_t pos)
{
    return pos + 1 < l->n && l->s[pos] == '-' && is_space((unsigned char)l->s[pos + 1]);
}

/* " -" before "}}" */
static bool right_trim_marker(const struct lexer *l, size_t pos)
{
    return pos + 1 < l->n && is_space((unsigned char)l->s[pos]) && l->s[pos + 1] == '-';
}

static uint32_t line_of(struct lexer *l, size_t pos)
{
    for (; l->line_pos < pos; l->line_pos++)
        l->line += l->s[l->line_pos] == '\n';
    return l->line;
}

static void emit(struct lexer *l, enum ttok t)
{
    struct tlex *lx = l->lx;

    if (km_array_grow((void **)&lx->v, &lx->cap, lx->n + 1, sizeof(*lx->v), 64,
                      "template tokens") != 0) {
        l->done = true;
        lx->n = 0; /* tells tmpl_lex() it ran out of memory */
        return;
    }
    lx->v[lx->n].t = t;
    lx->v[lx->n].pos = (uint32_t)l->start;
    lx->v[lx->n].len = (uint32_t)(l->pos - l->start);
    lx->v[lx->n].line = line_of(l, l->start);
    lx->n++;
    l->start = l->pos;
}

static void ignore(struct lexer *l)
{
    l->start = l->pos;
}

/* End the text with an error token. */
__attribute__((format(printf, 2, 3))) static void lex_error(struct lexer *l, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    km_buf_vprintf(&l->lx->msg, fmt, ap);
    va_end(ap);
    l->pos = l->start;
    emit(l, TK_ERROR);
    l->done = true;
}

/* "%#U" of a rune, for messages. */
static void error_rune(struct lexer *l, const char *what, int32_t r)
{
    struct km_buf u;

    km_buf_init(&u, 64);
    if (r == END_OF_TEXT)
        km_buf_puts(&u, "U+FFFFFFFF"); /* Go's EOF rune is -1 */
    else
        km_promql_format_rune_u(&u, r);
    lex_error(l, "%s %s", what, km_buf_cstr(&u));
    tmpl_buf_done(&l->lx->msg, &u);
}

/* Is a right delimiter (after a trim marker or not) at pos? */
static bool at_right_delim(const struct lexer *l, bool *trim)
{
    if (right_trim_marker(l, l->pos) && has_prefix(l, l->pos + TRIM_LEN, RIGHT_DELIM)) {
        *trim = true;
        return true;
    }
    *trim = false;
    return has_prefix(l, l->pos, RIGHT_DELIM);
}

/* Does the next rune end a word? */
static bool at_terminator(const struct lexer *l)
{
    int32_t r = peek(l);

    if (r == END_OF_TEXT || is_space(r))
        return true;
    return r == '.' || r == ',' || r == '|' || r == ':' || r == ')' || r == '(' ||
           r == RIGHT_DELIM[0];
}

static size_t left_trim_length(const struct lexer *l, size_t pos)
{
    size_t k = pos;

    while (k < l->n && is_space((unsigned char)l->s[k]))
        k++;
    return k - pos;
}

enum state { S_TEXT, S_LEFT_DELIM, S_COMMENT, S_RIGHT_DELIM, S_INSIDE, S_END };

static enum state lex_text(struct lexer *l)
{
    const char *x =
        l->n > l->pos ? memmem(l->s + l->pos, l->n - l->pos, LEFT_DELIM, DELIM_LEN) : NULL;
    size_t at, trim = 0;

    if (!x) {
        l->pos = l->n;
        if (l->pos > l->start)
            emit(l, TK_TEXT);
        emit(l, TK_EOF);
        return S_END;
    }
    at = (size_t)(x - l->s);
    if (left_trim_marker(l, at + DELIM_LEN)) {
        while (at - trim > l->start && is_space((unsigned char)l->s[at - trim - 1]))
            trim++;
    }
    l->pos = at - trim;
    if (l->pos > l->start)
        emit(l, TK_TEXT);
    l->pos = at;
    ignore(l);
    return S_LEFT_DELIM;
}

static enum state lex_left_delim(struct lexer *l)
{
    size_t after_marker;

    l->pos += DELIM_LEN;
    after_marker = left_trim_marker(l, l->pos) ? TRIM_LEN : 0;
    if (has_prefix(l, l->pos + after_marker, LEFT_COMMENT)) {
        l->pos += after_marker;
        ignore(l);
        return S_COMMENT;
    }
    emit(l, TK_LEFT);
    l->pos += after_marker;
    ignore(l);
    l->paren_depth = 0;
    return S_INSIDE;
}

static enum state lex_comment(struct lexer *l)
{
    const char *x;
    bool trim;

    l->pos += strlen(LEFT_COMMENT);
    x = l->n > l->pos ? memmem(l->s + l->pos, l->n - l->pos, RIGHT_COMMENT, 2) : NULL;
    if (!x) {
        lex_error(l, "unclosed comment");
        return S_END;
    }
    l->pos = (size_t)(x - l->s) + strlen(RIGHT_COMMENT);
    if (!at_right_delim(l, &trim)) {
        lex_error(l, "comment ends before closing delimiter");
        return S_END;
    }
    if (trim)
        l->pos += TRIM_LEN;
    l->pos += DELIM_LEN;
    if (trim)
        l->pos += left_trim_length(l, l->pos);
    ignore(l);
    return S_TEXT;
}

static enum state lex_right_delim(struct lexer *l)
{
    bool trim = right_trim_marker(l, l->pos);

    if (trim) {
        l->pos += TRIM_LEN;
        ignore(l);
    }
    l->pos += DELIM_LEN;
    emit(l, TK_RIGHT);
    if (trim) {
        l->pos += left_trim_length(l, l->pos);
        ignore(l);
    }
    return S_TEXT;
}

static enum state lex_space(struct lexer *l)
{
    int spaces = 0;

    while (is_space(peek(l))) {
        next(l);
        spaces++;
    }
    /* A space may begin " -}}": leave it to the delimiter. */
    if (right_trim_marker(l, l->pos - 1) && has_prefix(l, l->pos - 1 + TRIM_LEN, RIGHT_DELIM)) {
        l->pos--;
        if (spaces == 1)
            return S_RIGHT_DELIM;
    }
    emit(l, TK_SPACE);
    return S_INSIDE;
}

static void lex_word(struct lexer *l)
{
    static const struct {
        const char *word;
        enum ttok t;
    } keywords[] = {
        { "block", TK_BLOCK },
        { "break", TK_BREAK },
        { "continue", TK_CONTINUE },
        { "define", TK_DEFINE },
        { "else", TK_ELSE },
        { "end", TK_END },
        { "if", TK_IF },
        { "nil", TK_NIL },
        { "range", TK_RANGE },
        { "template", TK_TEMPLATE },
        { "with", TK_WITH },
    };
    int32_t r;
    size_t len;

    while (is_alnum(r = next(l)))
        ;
    backup(l);
    if (!at_terminator(l)) {
        error_rune(l, "bad character", r);
        return;
    }
    len = l->pos - l->start;
    for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
        if (strlen(keywords[i].word) == len &&
            memcmp(keywords[i].word, l->s + l->start, len) == 0) {
            emit(l, keywords[i].t);
            return;
        }
    }
    if ((len == 4 && memcmp(l->s + l->start, "true", 4) == 0) ||
        (len == 5 && memcmp(l->s + l->start, "false", 5) == 0))
        emit(l, TK_BOOL);
    else
        emit(l, TK_IDENT);
}

/* After '.' or '$': a field or variable name, or "." or "$" alone. */
static void lex_field_or_variable(struct lexer *l, enum ttok t)
{
    int32_t r;

    if (at_terminator(l)) {
        emit(l, t == TK_VAR ? TK_VAR : TK_DOT);
        return;
    }
    while (is_alnum(r = next(l)))
        ;
    backup(l);
    if (!at_terminator(l)) {
        error_rune(l, "bad character", r);
        return;
    }
    emit(l, t);
}

/* A number's text as Go's scanNumber takes it: sign, base prefix, digits with
 * underscores, fraction, exponent, 'i'. False when a letter or digit follows. */
static bool scan_number(struct lexer *l)
{
    const char *digits = "0123456789_";

    accept(l, "+-");
    if (accept(l, "0")) {
        if (accept(l, "xX"))
            digits = "0123456789abcdefABCDEF_";
        else if (accept(l, "oO"))
            digits = "01234567_";
        else if (accept(l, "bB"))
            digits = "01_";
    }
    accept_run(l, digits);
    if (accept(l, "."))
        accept_run(l, digits);
    if (strlen(digits) == 11 && accept(l, "eE")) {
        accept(l, "+-");
        accept_run(l, "0123456789_");
    }
    if (strlen(digits) == 23 && accept(l, "pP")) {
        accept(l, "+-");
        accept_run(l, "0123456789_");
    }
    accept(l, "i");
    if (is_alnum(peek(l))) {
        next(l);
        return false;
    }
    return true;
}

static void lex_number(struct lexer *l)
{
    int32_t sign;

    if (!scan_number(l))
        goto out_bad;
    sign = peek(l);
    if (sign == '+' || sign == '-') {
        /* Complex: 1+2i, without spaces, ending in 'i'. */
        if (!scan_number(l) || l->s[l->pos - 1] != 'i')
            goto out_bad;
        emit(l, TK_COMPLEX);
        return;
    }
    emit(l, TK_NUMBER);
    return;

out_bad:;
    struct km_buf q;

    km_buf_init(&q, 0);
    tmpl_quote(&q, l->s + l->start, l->pos - l->start);
    lex_error(l, "bad number syntax: %s", km_buf_cstr(&q));
    tmpl_buf_done(&l->lx->msg, &q);
}

/* A quoted string or character constant, after its opening quote. */
static void lex_quoted(struct lexer *l, char quote, enum ttok t, const char *unterminated)
{
    for (;;) {
        int32_t r = next(l);

        if (r == '\\') {
            r = next(l);
            if (r != END_OF_TEXT && r != '\n')
                continue;
        }
        if (r == END_OF_TEXT || r == '\n') {
            lex_error(l, "%s", unterminated);
            return;
        }
        if (r == quote)
            break;
    }
    emit(l, t);
}

static enum state lex_inside(struct lexer *l)
{
    bool trim;
    int32_t r;

    if (at_right_delim(l, &trim)) {
        if (l->paren_depth == 0)
            return S_RIGHT_DELIM;
        lex_error(l, "unclosed left paren");
        return S_END;
    }
    r = next(l);
    if (r == END_OF_TEXT) {
        lex_error(l, "unclosed action");
    } else if (is_space(r)) {
        backup(l); /* in case of " -}}" */
        return lex_space(l);
    } else if (r == '=') {
        emit(l, TK_ASSIGN);
    } else if (r == ':') {
        if (next(l) != '=')
            lex_error(l, "expected :=");
        else
            emit(l, TK_DECLARE);
    } else if (r == '|') {
        emit(l, TK_PIPE);
    } else if (r == '"') {
        lex_quoted(l, '"', TK_STRING, "unterminated quoted string");
    } else if (r == '`') {
        const char *x = l->n > l->pos ? memchr(l->s + l->pos, '`', l->n - l->pos) : NULL;

        if (!x) {
            lex_error(l, "unterminated raw quoted string");
        } else {
            l->pos = (size_t)(x - l->s) + 1;
            emit(l, TK_RAW);
        }
    } else if (r == '$') {
        lex_field_or_variable(l, TK_VAR);
    } else if (r == '\'') {
        lex_quoted(l, '\'', TK_CHAR, "unterminated character constant");
    } else if (r == '.' && !(l->pos < l->n && l->s[l->pos] >= '0' && l->s[l->pos] <= '9')) {
        lex_field_or_variable(l, TK_FIELD);
    } else if (r == '.' || r == '+' || r == '-' || (r >= '0' && r <= '9')) {
        backup(l);
        lex_number(l);
    } else if (is_alnum(r)) {
        backup(l);
        lex_word(l);
    } else if (r == '(') {
        emit(l, TK_LPAREN);
        l->paren_depth++;
    } else if (r == ')') {
        emit(l, TK_RPAREN);
        if (--l->paren_depth < 0)
            error_rune(l, "unexpected right paren", r);
    } else if (r < 0x7f && r >= ' ') {
        emit(l, TK_PUNCT);
    } else {
        error_rune(l, "unrecognized character in action:", r);
    }
    return l->done ? S_END : S_INSIDE;
}

int tmpl_lex(struct tlex *lx, const char *text, size_t n)
{
    struct lexer l = { .lx = lx, .s = text, .n = n, .line = 1 };
    enum state st = S_TEXT;

    memset(lx, 0, sizeof(*lx));
    km_buf_init(&lx->msg, 4096);
    while (st != S_END && !l.done) {
        switch (st) {
        case S_TEXT:
            st = lex_text(&l);
            break;
        case S_LEFT_DELIM:
            st = lex_left_delim(&l);
            break;
        case S_COMMENT:
            st = lex_comment(&l);
            break;
        case S_RIGHT_DELIM:
            st = lex_right_delim(&l);
            break;
        case S_INSIDE:
            st = lex_inside(&l);
            break;
        case S_END:
            break;
        }
    }
    if (lx->n == 0 || km_buf_error(&lx->msg)) {
        tmpl_lex_fini(lx);
        return km_err_set(KM_ENOMEM, "out of memory lexing a template");
    }
    return 0;
}

void tmpl_lex_fini(struct tlex *lx)
{
    free(lx->v);
    km_buf_fini(&lx->msg);
    memset(lx, 0, sizeof(*lx));
}
