/*
 * lex — the PromQL lexer (see lex.h).
 *
 * Runes are read as Go reads them (an invalid byte is U+FFFD, one byte long), because
 * Prometheus' lexer works on runes and its messages quote them. The states:
 *
 *   statements   operators, numbers, durations, strings, identifiers and keywords
 *                (keywords match in any case; "inf" and "nan" are numbers), comments
 *                from '#' to the end of the line, parentheses counted;
 *   braces       after '{' until '}': identifiers (never keywords), '=', '!=', '=~',
 *                '!~', ',', strings;
 *   duration     right after '[' (and its spaces): a duration, or an error;
 *   brackets     until ']': as statements, but a letter or ':' is the subquery COLON
 *                (once: a second one is an error) and '[' is an error.
 *
 * A number is digits (hexadecimal after 0x), an optional fraction and exponent, and must
 * not be followed by a letter or digit; otherwise it may be a duration: a unit (s m h d
 * w y, or ms), then more digit-unit pairs (y only first), and then no letter or digit.
 * Which durations are valid is the parser's business (literal.c).
 */
#include "promql/lex.h"

#include "promql/quote.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define EOF_RUNE (-1)

struct keyword {
    const char *word;
    enum km_promql_tok type;
};

/* Words that are not identifiers, in any case. */
static const struct keyword keywords[] = {
    { "and", KM_PROMQL_TOK_LAND },
    { "or", KM_PROMQL_TOK_LOR },
    { "unless", KM_PROMQL_TOK_LUNLESS },
    { "atan2", KM_PROMQL_TOK_ATAN2 },
    { "sum", KM_PROMQL_TOK_SUM },
    { "avg", KM_PROMQL_TOK_AVG },
    { "count", KM_PROMQL_TOK_COUNT },
    { "min", KM_PROMQL_TOK_MIN },
    { "max", KM_PROMQL_TOK_MAX },
    { "group", KM_PROMQL_TOK_GROUP },
    { "stddev", KM_PROMQL_TOK_STDDEV },
    { "stdvar", KM_PROMQL_TOK_STDVAR },
    { "topk", KM_PROMQL_TOK_TOPK },
    { "bottomk", KM_PROMQL_TOK_BOTTOMK },
    { "count_values", KM_PROMQL_TOK_COUNT_VALUES },
    { "quantile", KM_PROMQL_TOK_QUANTILE },
    { "offset", KM_PROMQL_TOK_OFFSET },
    { "by", KM_PROMQL_TOK_BY },
    { "without", KM_PROMQL_TOK_WITHOUT },
    { "on", KM_PROMQL_TOK_ON },
    { "ignoring", KM_PROMQL_TOK_IGNORING },
    { "group_left", KM_PROMQL_TOK_GROUP_LEFT },
    { "group_right", KM_PROMQL_TOK_GROUP_RIGHT },
    { "bool", KM_PROMQL_TOK_BOOL },
    { "start", KM_PROMQL_TOK_START },
    { "end", KM_PROMQL_TOK_END },
    { "inf", KM_PROMQL_TOK_NUMBER },
    { "nan", KM_PROMQL_TOK_NUMBER },
};

static bool is_alpha(int32_t r)
{
    return r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z');
}

static bool is_digit(int32_t r)
{
    return r >= '0' && r <= '9';
}

static bool is_alnum(int32_t r)
{
    return is_alpha(r) || is_digit(r);
}

static bool is_space(int32_t r)
{
    return r == ' ' || r == '\t' || r == '\n' || r == '\r';
}

void km_promql_lex_init(struct km_promql_lexer *l, const char *text, size_t len)
{
    memset(l, 0, sizeof(*l));
    l->in = text;
    l->len = len;
    l->line = 1;
}

static int32_t next(struct km_promql_lexer *l)
{
    int32_t r;

    if (l->pos >= l->len) {
        l->width = 0;
        return EOF_RUNE;
    }
    l->width = km_promql_utf8_decode(l->in + l->pos, l->len - l->pos, &r);
    l->pos += l->width;
    return r;
}

static void backup(struct km_promql_lexer *l)
{
    l->pos -= l->width;
}

static int32_t peek(struct km_promql_lexer *l)
{
    int32_t r = next(l);

    backup(l);
    return r;
}

/* Take the next rune when it is one of `valid` (ASCII). */
static bool accept(struct km_promql_lexer *l, const char *valid)
{
    int32_t r = next(l);

    if (r > 0 && r < 0x80 && strchr(valid, (int)r))
        return true;
    backup(l);
    return false;
}

static void accept_run(struct km_promql_lexer *l, const char *valid)
{
    while (accept(l, valid))
        ;
}

static void set_pos(struct km_promql_lexer *l, struct km_promql_token *t, size_t pos)
{
    /* Tokens come in order, so lines are counted once over the text. */
    if (pos < l->line_pos) {
        l->line = 1;
        l->line_pos = l->line_start = 0;
    }
    for (; l->line_pos < pos; l->line_pos++) {
        if (l->in[l->line_pos] == '\n') {
            l->line++;
            l->line_start = l->line_pos + 1;
        }
    }
    t->pos = pos;
    t->line = l->line;
    t->col = (unsigned)(pos - l->line_start + 1);
}

static void emit(struct km_promql_lexer *l, struct km_promql_token *t, enum km_promql_tok type)
{
    t->type = type;
    set_pos(l, t, l->start);
    t->len = l->pos - l->start;
    l->start = l->pos;
}

static void errorf(struct km_promql_lexer *l, struct km_promql_token *t, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void errorf(struct km_promql_lexer *l, struct km_promql_token *t, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(l->err, sizeof(l->err), fmt, ap);
    va_end(ap);
    t->type = KM_PROMQL_TOK_ERROR;
    set_pos(l, t, l->start);
    t->len = 0;
    l->done = true;
}

/* An error whose message ends with a rune quoted as Go's %q (or %#U) prints it. */
static void error_rune(struct km_promql_lexer *l, struct km_promql_token *t, const char *prefix,
                       int32_t r, bool unicode_form, const char *suffix)
{
    struct km_buf b;

    km_buf_init(&b, sizeof(l->err) * 4);
    km_buf_puts(&b, prefix);
    if (unicode_form)
        km_promql_format_rune_u(&b, r);
    else
        km_promql_quote_rune(&b, r);
    km_buf_puts(&b, suffix);
    errorf(l, t, "%s", km_buf_cstr(&b));
    km_buf_fini(&b);
}

/* Digits of a number; true when what was read is a number (not followed by a letter or
 * a digit). */
static bool scan_number(struct km_promql_lexer *l)
{
    const char *digits = "0123456789";

    if (accept(l, "0") && accept(l, "xX"))
        digits = "0123456789abcdefABCDEF";
    accept_run(l, digits);
    if (accept(l, "."))
        accept_run(l, digits);
    if (accept(l, "eE")) {
        accept(l, "+-");
        accept_run(l, "0123456789");
    }
    return !is_alnum(peek(l));
}

/* The rest of a duration after its first digits; true when it is one. */
static bool accept_remaining_duration(struct km_promql_lexer *l)
{
    if (!accept(l, "smhdwy"))
        return false;
    accept(l, "s"); /* ms; "hs" and the like are refused by the parser */
    while (accept(l, "0123456789")) {
        accept_run(l, "0123456789");
        if (!accept(l, "smhdw")) /* y only comes first */
            return false;
        accept(l, "s");
    }
    return !is_alnum(next(l));
}

static void lex_number_or_duration(struct km_promql_lexer *l, struct km_promql_token *t)
{
    if (scan_number(l)) {
        emit(l, t, KM_PROMQL_TOK_NUMBER);
        return;
    }
    if (accept_remaining_duration(l)) {
        backup(l);
        emit(l, t, KM_PROMQL_TOK_DURATION);
        return;
    }
    errorf(l, t, "bad number or duration syntax: \"%.*s\"", (int)(l->pos - l->start),
           l->in + l->start);
}

static void lex_duration(struct km_promql_lexer *l, struct km_promql_token *t)
{
    if (scan_number(l)) {
        errorf(l, t, "missing unit character in duration");
        return;
    }
    if (!accept_remaining_duration(l)) {
        struct km_buf b;

        km_buf_init(&b, sizeof(l->err) * 4);
        km_buf_puts(&b, "bad duration syntax: ");
        km_promql_quote(&b, l->in + l->start, l->pos - l->start);
        errorf(l, t, "%s", km_buf_cstr(&b));
        km_buf_fini(&b);
        return;
    }
    backup(l);
    emit(l, t, KM_PROMQL_TOK_DURATION);
}

/* The escape after a backslash in a string quoted with `quote`; false after an error. */
static bool lex_escape(struct km_promql_lexer *l, struct km_promql_token *t, char quote)
{
    int32_t ch = next(l), max;
    uint32_t x = 0;
    int n, base;

    switch (ch) {
    case 'a':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
    case 'v':
    case '\\':
        return true;
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
        n = 3, base = 8, max = 255;
        break;
    case 'x':
        ch = next(l);
        n = 2, base = 16, max = 255;
        break;
    case 'u':
        ch = next(l);
        n = 4, base = 16, max = 0x10ffff;
        break;
    case 'U':
        ch = next(l);
        n = 8, base = 16, max = 0x10ffff;
        break;
    case EOF_RUNE:
        errorf(l, t, "escape sequence not terminated");
        return false;
    default:
        if (ch == quote)
            return true;
        error_rune(l, t, "unknown escape sequence ", ch, true, "");
        return false;
    }
    while (n > 0) {
        int d = km_promql_hexval(ch) < 0 ? 16 : km_promql_hexval(ch);

        if (d >= base) {
            if (ch == EOF_RUNE)
                errorf(l, t, "escape sequence not terminated");
            else
                error_rune(l, t, "illegal character ", ch, true, " in escape sequence");
            return false;
        }
        x = x * (uint32_t)base + (uint32_t)d;
        if (--n > 0)
            ch = next(l);
    }
    if (x > (uint32_t)max || (x >= 0xd800 && x < 0xe000)) {
        errorf(l, t, "escape sequence is an invalid Unicode code point");
        return false;
    }
    return true;
}

static void lex_string(struct km_promql_lexer *l, struct km_promql_token *t, char quote)
{
    for (;;) {
        int32_t r = next(l);

        if (r == '\\') {
            if (!lex_escape(l, t, quote))
                return;
        } else if (r == KM_PROMQL_RUNE_ERROR) {
            errorf(l, t, "invalid UTF-8 rune");
            return;
        } else if (r == EOF_RUNE || r == '\n') {
            errorf(l, t, "unterminated quoted string");
            return;
        } else if (r == quote) {
            emit(l, t, KM_PROMQL_TOK_STRING);
            return;
        }
    }
}

static void lex_raw_string(struct km_promql_lexer *l, struct km_promql_token *t)
{
    for (;;) {
        int32_t r = next(l);

        if (r == KM_PROMQL_RUNE_ERROR) {
            errorf(l, t, "invalid UTF-8 rune");
            return;
        }
        if (r == EOF_RUNE) {
            errorf(l, t, "unterminated raw string");
            return;
        }
        if (r == '`') {
            emit(l, t, KM_PROMQL_TOK_STRING);
            return;
        }
    }
}

static void lex_comment(struct km_promql_lexer *l, struct km_promql_token *t)
{
    int32_t r;

    l->pos++; /* '#' */
    do {
        r = next(l);
    } while (r != '\n' && r != '\r' && r != EOF_RUNE);
    backup(l);
    emit(l, t, KM_PROMQL_TOK_COMMENT);
}

static void lex_keyword_or_identifier(struct km_promql_lexer *l, struct km_promql_token *t)
{
    size_t n;
    const char *word;
    int32_t r;

    do {
        r = next(l);
    } while (is_alnum(r) || r == ':');
    backup(l);
    word = l->in + l->start;
    n = l->pos - l->start;
    for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
        if (strlen(keywords[i].word) == n && strncasecmp(keywords[i].word, word, n) == 0) {
            emit(l, t, keywords[i].type);
            return;
        }
    }
    emit(l, t, memchr(word, ':', n) ? KM_PROMQL_TOK_METRIC_IDENTIFIER : KM_PROMQL_TOK_IDENTIFIER);
}

static void skip_spaces(struct km_promql_lexer *l)
{
    while (is_space(peek(l)))
        next(l);
    l->start = l->pos;
}

/* One token inside braces; false when it was only space (nothing emitted). */
static bool lex_inside_braces(struct km_promql_lexer *l, struct km_promql_token *t)
{
    int32_t r;

    if (l->pos < l->len && l->in[l->pos] == '#') {
        lex_comment(l, t);
        return true;
    }
    r = next(l);
    if (r == EOF_RUNE) {
        errorf(l, t, "unexpected end of input inside braces");
    } else if (is_space(r)) {
        skip_spaces(l);
        return false;
    } else if (is_alpha(r)) {
        do {
            r = next(l);
        } while (is_alnum(r));
        backup(l);
        emit(l, t, KM_PROMQL_TOK_IDENTIFIER);
    } else if (r == ',') {
        emit(l, t, KM_PROMQL_TOK_COMMA);
    } else if (r == '"' || r == '\'') {
        lex_string(l, t, (char)r);
    } else if (r == '`') {
        lex_raw_string(l, t);
    } else if (r == '=') {
        if (next(l) == '~') {
            emit(l, t, KM_PROMQL_TOK_EQL_REGEX);
        } else {
            backup(l);
            emit(l, t, KM_PROMQL_TOK_EQL);
        }
    } else if (r == '!') {
        int32_t nr = next(l);

        if (nr == '~')
            emit(l, t, KM_PROMQL_TOK_NEQ_REGEX);
        else if (nr == '=')
            emit(l, t, KM_PROMQL_TOK_NEQ);
        else
            error_rune(l, t, "unexpected character after '!' inside braces: ", nr, false, "");
    } else if (r == '{') {
        errorf(l, t, "unexpected left brace '{'");
    } else if (r == '}') {
        emit(l, t, KM_PROMQL_TOK_RIGHT_BRACE);
        l->brace_open = false;
    } else {
        error_rune(l, t, "unexpected character inside braces: ", r, false, "");
    }
    return true;
}

/* One token in statements (or brackets); false when it was only space. */
static bool lex_statements(struct km_promql_lexer *l, struct km_promql_token *t)
{
    int32_t r;

    if (l->pos < l->len && l->in[l->pos] == '#') {
        lex_comment(l, t);
        return true;
    }
    r = next(l);
    switch (r) {
    case EOF_RUNE:
        if (l->paren_depth != 0)
            errorf(l, t, "unclosed left parenthesis");
        else if (l->bracket_open)
            errorf(l, t, "unclosed left bracket");
        else
            emit(l, t, KM_PROMQL_TOK_EOF);
        return true;
    case ',':
        emit(l, t, KM_PROMQL_TOK_COMMA);
        return true;
    case ' ':
    case '\t':
    case '\n':
    case '\r':
        skip_spaces(l);
        return false;
    case '*':
        emit(l, t, KM_PROMQL_TOK_MUL);
        return true;
    case '/':
        emit(l, t, KM_PROMQL_TOK_DIV);
        return true;
    case '%':
        emit(l, t, KM_PROMQL_TOK_MOD);
        return true;
    case '+':
        emit(l, t, KM_PROMQL_TOK_ADD);
        return true;
    case '-':
        emit(l, t, KM_PROMQL_TOK_SUB);
        return true;
    case '^':
        emit(l, t, KM_PROMQL_TOK_POW);
        return true;
    case '=': {
        int32_t nr = peek(l);

        if (nr == '=') {
            next(l);
            emit(l, t, KM_PROMQL_TOK_EQLC);
        } else if (nr == '~') {
            error_rune(l, t, "unexpected character after '=': ", nr, false, "");
        } else {
            emit(l, t, KM_PROMQL_TOK_EQL);
        }
        return true;
    }
    case '!': {
        int32_t nr = next(l);

        if (nr == '=')
            emit(l, t, KM_PROMQL_TOK_NEQ);
        else
            error_rune(l, t, "unexpected character after '!': ", nr, false, "");
        return true;
    }
    case '<':
        if (peek(l) == '=') {
            next(l);
            emit(l, t, KM_PROMQL_TOK_LTE);
        } else {
            emit(l, t, KM_PROMQL_TOK_LSS);
        }
        return true;
    case '>':
        if (peek(l) == '=') {
            next(l);
            emit(l, t, KM_PROMQL_TOK_GTE);
        } else {
            emit(l, t, KM_PROMQL_TOK_GTR);
        }
        return true;
    case '"':
    case '\'':
        lex_string(l, t, (char)r);
        return true;
    case '`':
        lex_raw_string(l, t);
        return true;
    case '(':
        emit(l, t, KM_PROMQL_TOK_LEFT_PAREN);
        l->paren_depth++;
        return true;
    case ')':
        emit(l, t, KM_PROMQL_TOK_RIGHT_PAREN);
        if (--l->paren_depth < 0)
            errorf(l, t, "unexpected right parenthesis ')'");
        return true;
    case '{':
        emit(l, t, KM_PROMQL_TOK_LEFT_BRACE);
        l->brace_open = true;
        return true;
    case '[':
        if (l->bracket_open) {
            errorf(l, t, "unexpected left bracket '['");
            return true;
        }
        l->got_colon = false;
        emit(l, t, KM_PROMQL_TOK_LEFT_BRACKET);
        skip_spaces(l);
        l->bracket_open = true;
        l->duration_next = true;
        return true;
    case ']':
        if (!l->bracket_open) {
            errorf(l, t, "unexpected right bracket ']'");
            return true;
        }
        emit(l, t, KM_PROMQL_TOK_RIGHT_BRACKET);
        l->bracket_open = false;
        return true;
    case '@':
        emit(l, t, KM_PROMQL_TOK_AT);
        return true;
    default:
        break;
    }
    if (is_digit(r) || (r == '.' && is_digit(peek(l)))) {
        backup(l);
        lex_number_or_duration(l, t);
        return true;
    }
    if (is_alpha(r) || r == ':') {
        if (!l->bracket_open) {
            backup(l);
            lex_keyword_or_identifier(l, t);
        } else if (l->got_colon) {
            error_rune(l, t, "unexpected colon ", r, false, "");
        } else {
            emit(l, t, KM_PROMQL_TOK_COLON);
            l->got_colon = true;
        }
        return true;
    }
    error_rune(l, t, "unexpected character: ", r, false, "");
    return true;
}

void km_promql_lex_next(struct km_promql_lexer *l, struct km_promql_token *t)
{
    if (l->done) {
        *t = l->last;
        return;
    }
    for (;;) {
        bool got;

        if (l->brace_open) {
            got = lex_inside_braces(l, t);
        } else if (l->duration_next) {
            l->duration_next = false;
            lex_duration(l, t);
            got = true;
        } else {
            got = lex_statements(l, t);
        }
        if (got)
            break;
    }
    if (t->type == KM_PROMQL_TOK_EOF)
        l->done = true;
    l->last = *t;
}

const char *km_promql_lex_error(const struct km_promql_lexer *l)
{
    return l->err;
}

void km_promql_linecol(const char *text, size_t len, size_t pos, unsigned *line, unsigned *col)
{
    size_t line_start = 0;
    unsigned ln = 1;

    for (size_t i = 0; i < pos && i < len; i++) {
        if (text[i] == '\n') {
            ln++;
            line_start = i + 1;
        }
    }
    *line = ln;
    *col = (unsigned)(pos - line_start + 1);
}

/* Fixed spellings of tokens that are not values. */
static const char *const tok_text[] = {
    [KM_PROMQL_TOK_LEFT_PAREN] = "(",   [KM_PROMQL_TOK_RIGHT_PAREN] = ")",
    [KM_PROMQL_TOK_LEFT_BRACE] = "{",   [KM_PROMQL_TOK_RIGHT_BRACE] = "}",
    [KM_PROMQL_TOK_LEFT_BRACKET] = "[", [KM_PROMQL_TOK_RIGHT_BRACKET] = "]",
    [KM_PROMQL_TOK_COMMA] = ",",        [KM_PROMQL_TOK_EQL] = "=",
    [KM_PROMQL_TOK_COLON] = ":",        [KM_PROMQL_TOK_AT] = "@",
    [KM_PROMQL_TOK_START] = "start",    [KM_PROMQL_TOK_END] = "end",
};

void km_promql_tok_describe(struct km_buf *out, const char *text, const struct km_promql_token *t)
{
    const char *val = text + t->pos;
    size_t n = t->len;

    switch (t->type) {
    case KM_PROMQL_TOK_EOF:
        km_buf_puts(out, "end of input");
        return;
    case KM_PROMQL_TOK_IDENTIFIER:
        km_buf_puts(out, "identifier ");
        km_promql_quote(out, val, n);
        return;
    case KM_PROMQL_TOK_METRIC_IDENTIFIER:
        km_buf_puts(out, "metric identifier ");
        km_promql_quote(out, val, n);
        return;
    case KM_PROMQL_TOK_NUMBER:
        km_buf_puts(out, "number ");
        break;
    case KM_PROMQL_TOK_STRING:
        km_buf_puts(out, "string ");
        break;
    case KM_PROMQL_TOK_DURATION:
        km_buf_puts(out, "duration ");
        break;
    case KM_PROMQL_TOK_COMMENT:
        km_buf_puts(out, "comment ");
        break;
    default:
        if (km_promql_tok_is_keyword(t->type)) {
            km_buf_printf(out, "<%.*s>", (int)n, val);
            return;
        }
        if (t->type == KM_PROMQL_TOK_AT) {
            /* Prometheus has no name for '@' and describes it by its internal number. */
            km_buf_puts(out, "\"<Item 57385>\" <op:@>");
            return;
        }
        if (km_promql_tok_is_operator(t->type)) {
            km_buf_printf(out, "<op:%.*s>", (int)n, val);
            return;
        }
        if (km_promql_tok_is_aggregator(t->type)) {
            km_buf_printf(out, "<aggr:%.*s>", (int)n, val);
            return;
        }
        /* Punctuation (the colon's text may be a letter), start, end: the text quoted. */
        if (t->type < sizeof(tok_text) / sizeof(tok_text[0]) && tok_text[t->type])
            break;
        km_buf_puts(out, "error");
        return;
    }
    /* Values longer than 10 bytes are cut to 10 runes, as Go's "%.10q..." does. */
    if (n > 10) {
        km_promql_quote_prefix(out, val, n, 10);
        km_buf_puts(out, "...");
    } else {
        km_promql_quote(out, val, n);
    }
}
