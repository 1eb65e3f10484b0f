/*
 * lex — the PromQL lexer: query text to tokens with their positions, split exactly as
 * Prometheus 2.42 splits it. Like Prometheus' it keeps a little context, because what a
 * character means depends on it: inside braces (label matchers) identifiers are never
 * keywords and `=~` is one token; right after `[` a duration is expected; inside
 * brackets letters are the subquery colon; it counts parentheses. Errors carry
 * Prometheus' messages. A lexer lives in its caller's storage, reads the text it was
 * given without copying it, and is used by one thread at a time.
 */
#ifndef KMON_PROMQL_LEX_H
#define KMON_PROMQL_LEX_H

#include "common/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum km_promql_tok {
    KM_PROMQL_TOK_EOF,
    KM_PROMQL_TOK_ERROR, /* km_promql_lex_error() says what */
    KM_PROMQL_TOK_COMMENT,
    KM_PROMQL_TOK_IDENTIFIER,
    KM_PROMQL_TOK_METRIC_IDENTIFIER, /* an identifier with a ':' */
    KM_PROMQL_TOK_NUMBER,
    KM_PROMQL_TOK_STRING, /* with its quotes */
    KM_PROMQL_TOK_DURATION,
    /* punctuation */
    KM_PROMQL_TOK_LEFT_PAREN,
    KM_PROMQL_TOK_RIGHT_PAREN,
    KM_PROMQL_TOK_LEFT_BRACE,
    KM_PROMQL_TOK_RIGHT_BRACE,
    KM_PROMQL_TOK_LEFT_BRACKET,
    KM_PROMQL_TOK_RIGHT_BRACKET,
    KM_PROMQL_TOK_COMMA,
    KM_PROMQL_TOK_EQL,   /* = */
    KM_PROMQL_TOK_COLON, /* the subquery's ':' (or a letter inside brackets) */
    KM_PROMQL_TOK_AT,    /* @ */
    /* operators */
    KM_PROMQL_TOK_ADD,
    KM_PROMQL_TOK_SUB,
    KM_PROMQL_TOK_MUL,
    KM_PROMQL_TOK_DIV,
    KM_PROMQL_TOK_MOD,
    KM_PROMQL_TOK_POW,
    KM_PROMQL_TOK_ATAN2,
    KM_PROMQL_TOK_EQLC, /* == */
    KM_PROMQL_TOK_NEQ,
    KM_PROMQL_TOK_LTE,
    KM_PROMQL_TOK_LSS,
    KM_PROMQL_TOK_GTE,
    KM_PROMQL_TOK_GTR,
    KM_PROMQL_TOK_LAND,
    KM_PROMQL_TOK_LOR,
    KM_PROMQL_TOK_LUNLESS,
    KM_PROMQL_TOK_EQL_REGEX,
    KM_PROMQL_TOK_NEQ_REGEX,
    /* aggregation operators */
    KM_PROMQL_TOK_AVG,
    KM_PROMQL_TOK_BOTTOMK,
    KM_PROMQL_TOK_COUNT,
    KM_PROMQL_TOK_COUNT_VALUES,
    KM_PROMQL_TOK_GROUP,
    KM_PROMQL_TOK_MAX,
    KM_PROMQL_TOK_MIN,
    KM_PROMQL_TOK_QUANTILE,
    KM_PROMQL_TOK_STDDEV,
    KM_PROMQL_TOK_STDVAR,
    KM_PROMQL_TOK_SUM,
    KM_PROMQL_TOK_TOPK,
    /* keywords */
    KM_PROMQL_TOK_BOOL,
    KM_PROMQL_TOK_BY,
    KM_PROMQL_TOK_GROUP_LEFT,
    KM_PROMQL_TOK_GROUP_RIGHT,
    KM_PROMQL_TOK_IGNORING,
    KM_PROMQL_TOK_OFFSET,
    KM_PROMQL_TOK_ON,
    KM_PROMQL_TOK_WITHOUT,
    /* the @ modifier's start() and end() */
    KM_PROMQL_TOK_START,
    KM_PROMQL_TOK_END,
};

static inline bool km_promql_tok_is_operator(enum km_promql_tok t)
{
    return t >= KM_PROMQL_TOK_ADD && t <= KM_PROMQL_TOK_NEQ_REGEX;
}

static inline bool km_promql_tok_is_aggregator(enum km_promql_tok t)
{
    return t >= KM_PROMQL_TOK_AVG && t <= KM_PROMQL_TOK_TOPK;
}

static inline bool km_promql_tok_is_keyword(enum km_promql_tok t)
{
    return t >= KM_PROMQL_TOK_BOOL && t <= KM_PROMQL_TOK_WITHOUT;
}

/* A token: its text is text[pos .. pos+len) of the lexed query (for an ERROR token, the
 * place the error points at, len 0). Lines and columns count from 1, columns in bytes as
 * Prometheus counts them. */
struct km_promql_token {
    enum km_promql_tok type;
    size_t pos, len;
    unsigned line, col;
};

#define KM_PROMQL_LEX_ERR_MAX 128

struct km_promql_lexer {
    const char *in;
    size_t len;
    size_t pos, start; /* the next byte; where the token being read began */
    size_t width;      /* bytes of the last rune read (0 at the end) */
    int paren_depth;
    bool brace_open, bracket_open, got_colon;
    bool duration_next; /* just after '[' */
    bool done;          /* EOF or an error was returned: keep returning it */
    struct km_promql_token last;
    unsigned line;     /* line of line_pos */
    size_t line_pos;   /* line and column are counted up to here */
    size_t line_start; /* offset where `line` begins */
    char err[KM_PROMQL_LEX_ERR_MAX];
};

/* Start lexing text[0..len) (any bytes; no NUL needed after it). */
void km_promql_lex_init(struct km_promql_lexer *l, const char *text, size_t len);

/* The next token, comments included; after EOF or ERROR, that token again. */
void km_promql_lex_next(struct km_promql_lexer *l, struct km_promql_token *t);

/* The message of the ERROR token the lexer returned ("unclosed left parenthesis"). */
const char *km_promql_lex_error(const struct km_promql_lexer *l);

/* Line and column (from 1; the column in bytes) of byte offset `pos` of text. */
void km_promql_linecol(const char *text, size_t len, size_t pos, unsigned *line, unsigned *col);

/* Append how Prometheus names token t of `text` when it did not expect it: "end of
 * input", "identifier \"foo\"", "<by>", "<op:+>", "<aggr:sum>", "\"(\"", "number
 * \"1234567890\"..." (values past 10 bytes are cut). */
void km_promql_tok_describe(struct km_buf *out, const char *text, const struct km_promql_token *t);

#endif
