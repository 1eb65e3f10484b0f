/*
 * template_internal — what the template's files share (not for use outside src/rules/
 * template_*.c): the tokens of the lexer, the syntax tree of the parser, the values and
 * the state of an expansion, the function table and Go's fmt.
 *
 * The tree lives in the template's arena and is never changed after parsing; an
 * expansion keeps everything it makes (strings, vectors, maps) in an arena of its own,
 * freed at its end, so values are plain structs that point and are never freed one by
 * one. Text positions are byte offsets into the template's text (Prometheus'
 * definitions, then the user's text), as Go's parser counts them for its errors.
 */
#ifndef KMON_RULES_TEMPLATE_INTERNAL_H
#define KMON_RULES_TEMPLATE_INTERNAL_H

#include "common/arena.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/labels.h"
#include "rules/template.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Tokens (template_lex.c) ---------------------------------------------------------- */

/* Go's item types; those after TK_KEYWORD print as "<word>" in messages. */
enum ttok {
    TK_ERROR, /* the lexer's error: the message is tlex.msg */
    TK_EOF,
    TK_TEXT,    /* plain text between actions (already trimmed by - markers) */
    TK_LEFT,    /* {{ */
    TK_RIGHT,   /* }} */
    TK_SPACE,   /* a run of spaces inside an action */
    TK_IDENT,   /* a function name */
    TK_FIELD,   /* .Name */
    TK_VAR,     /* $name, or $ alone */
    TK_STRING,  /* "quoted" */
    TK_RAW,     /* `raw` */
    TK_CHAR,    /* 'c' */
    TK_NUMBER,  /* 12, 0x1f, 1.5e3 */
    TK_COMPLEX, /* 1+2i */
    TK_BOOL,    /* true, false */
    TK_PIPE,    /* | */
    TK_LPAREN,
    TK_RPAREN,
    TK_DECLARE, /* := */
    TK_ASSIGN,  /* = */
    TK_PUNCT,   /* any other printable ASCII character, e.g. ',' */
    TK_KEYWORD, /* marker: the keywords follow */
    TK_BLOCK,
    TK_BREAK,
    TK_CONTINUE,
    TK_DOT,
    TK_DEFINE,
    TK_ELSE,
    TK_END,
    TK_IF,
    TK_NIL,
    TK_RANGE,
    TK_TEMPLATE,
    TK_WITH,
};

struct ttoken {
    enum ttok t;
    uint32_t pos;  /* byte offset of its first byte */
    uint32_t len;  /* its text is text[pos, pos + len) */
    uint32_t line; /* 1-based line of its first byte */
};

/* A lexed text: its tokens, ending with TK_EOF or TK_ERROR. */
struct tlex {
    struct ttoken *v;
    size_t n, cap;
    struct km_buf msg; /* the TK_ERROR token's message */
};

/* Free a scratch buffer, passing its running out of memory on to `into`: a message built
 * with scratch buffers is whole, or the buffer it went to says ENOMEM. */
static inline void tmpl_buf_done(struct km_buf *into, struct km_buf *tmp)
{
    if (km_buf_error(tmp) == KM_ENOMEM && !into->err)
        into->err = KM_ENOMEM;
    km_buf_fini(tmp);
}

/* Split text[0..n) into tokens. 0 (an error of the text is a TK_ERROR token, for the
 * parser to report where it meets it) or KM_ENOMEM. Free with tmpl_lex_fini(). */
int tmpl_lex(struct tlex *lx, const char *text, size_t n);
void tmpl_lex_fini(struct tlex *lx);

/* ---- The syntax tree (template_parse.c) ----------------------------------------------- */

enum tnode_kind {
    TN_LIST,
    TN_TEXT,
    TN_ACTION,
    TN_IF,
    TN_RANGE,
    TN_WITH,
    TN_TEMPLATE,
    TN_BREAK,
    TN_CONTINUE,
    TN_PIPE,
    TN_COMMAND,
    TN_FIELD,    /* .a.b */
    TN_VARIABLE, /* $x.a.b */
    TN_CHAIN,    /* (pipe).a.b */
    TN_IDENT,    /* a function */
    TN_DOT,
    TN_NIL,
    TN_BOOL,
    TN_NUMBER,
    TN_STRING,
    TN_END,  /* {{end}}, only while parsing */
    TN_ELSE, /* {{else}}, only while parsing */
};

struct tfunc;

/* A number constant as Go's parser classifies it: any of the forms it fits. */
struct tnum {
    bool is_int, is_uint, is_float, is_char, is_complex;
    int64_t i;
    uint64_t u;
    double f;
    double imag; /* is_complex: the value is f + imag·i */
};

struct tnode {
    enum tnode_kind kind;
    uint32_t pos;       /* where it starts in the text */
    uint32_t line;      /* its line, for parse errors */
    struct tnode *next; /* the next node of the list, command or pipeline it is in */
    union {
        struct {
            struct tnode *first;
            size_t n;
        } list; /* TN_LIST: nodes; TN_COMMAND: arguments; TN_PIPE: commands */
        struct {
            const char *p;
            size_t n;
        } text;               /* TN_TEXT */
        struct tnode *action; /* TN_ACTION: its pipeline */
        struct {
            struct tnode *pipe, *list, *else_list; /* else_list may be NULL */
        } ctl;                                     /* TN_IF, TN_RANGE, TN_WITH */
        struct {
            const char *name;
            size_t name_len;
            struct tnode *pipe; /* may be NULL */
        } call;                 /* TN_TEMPLATE */
        struct {
            struct tnode *cmds; /* the commands, linked by next */
            size_t ncmds;
            struct tnode *decl[2]; /* the variables it declares or assigns */
            size_t ndecl;
            bool assign; /* = rather than := */
        } pipe;
        struct {
            const char **idents; /* TN_FIELD: names without the dot; TN_VARIABLE: "$x"
                                    then names; TN_CHAIN: the names after the node */
            size_t n;
            struct tnode *node; /* TN_CHAIN: the operand before the fields */
        } field;
        struct {
            const char *name;
            const struct tfunc *fn;
        } ident;
        bool b;
        struct {
            struct tnum v;
            const char *text; /* as written */
            size_t len;
        } num;
        struct {
            const char *quoted; /* as written, with its quotes */
            size_t quoted_len;
            const char *p; /* the value */
            size_t n;
        } str;
    };
};

/* A named template: the main one (the text outside {{define}}) or a defined one. */
struct tdef {
    const char *name;
    size_t name_len;
    struct tnode *root; /* a TN_LIST */
    struct tdef *next;
};

struct km_tmpl {
    char *name; /* the parse name (of the main template) */
    char *text; /* Prometheus' definitions and the user's text */
    size_t len;
    struct km_arena arena; /* the tree and its strings */
    struct tdef *defs;     /* every named template, the main one included */
};

/* Parse t->text into t->defs. 0, or KM_EINVAL/KM_ELIMIT with Go's message appended to
 * err ("template: NAME:LINE: …"), or KM_ENOMEM. */
int tmpl_parse_tree(struct km_tmpl *t, struct km_buf *err);

/* The template named name[0..n), or NULL. */
const struct tdef *tmpl_lookup(const struct km_tmpl *t, const char *name, size_t n);

/* Append a node as Go's String() method prints it (for "at <…>" in messages). */
void tmpl_node_string(struct km_buf *out, const struct tnode *n);

/* ---- Values (template_exec.c, template_fmt.c, template_funcs.c) ------------------------ */

/* The Go types a template meets. */
enum tv_kind {
    TV_NIL,     /* no value: Go's invalid reflect.Value or a nil interface */
    TV_BOOL,    /* bool */
    TV_INT,     /* int */
    TV_BYTE,    /* uint8 (index of a string) */
    TV_FLOAT,   /* float64 */
    TV_COMPLEX, /* complex128 (a constant such as 2i or 1+2i) */
    TV_STRING,  /* string */
    TV_HTML,    /* template.HTML (safeHtml) */
    TV_LABELS,  /* map[string]string */
    TV_ARGS,    /* map[string]interface {} (args) */
    TV_VECTOR,  /* template.queryResult */
    TV_SAMPLE,  /* *template.sample */
    TV_TIME,    /* *time.Time */
    TV_DATA,    /* the alert's data struct */
};

struct tsample {
    const struct km_labels *labels;
    double value;
    size_t ord; /* its place in the query's answer (a stable sort's tie-break) */
};

/* A slice of samples; slices of one answer share its array, as Go's do. */
struct tvector {
    struct tsample **v;
    size_t n;
};

struct tv;

/* args' map: keys arg0 … arg<n-1>; order[k] is the k-th key as Go sorts them ("arg10"
 * before "arg2"). */
struct targs {
    size_t n;
    struct tv *v;
    size_t *order;
};

/* The Go type of a TV_INT: int, or one of the integer types a time's methods answer. */
enum tv_int_type {
    IT_INT,
    IT_INT64,
    IT_MONTH,   /* time.Month: prints as "January" */
    IT_WEEKDAY, /* time.Weekday: prints as "Sunday" */
};

struct tv {
    enum tv_kind k;
    bool iface;          /* TV_NIL: the zero of interface {} (a missing key of args'
                            map), not yet unwrapped by a pipeline */
    enum tv_int_type it; /* TV_INT */
    union {
        bool b;
        int64_t i; /* TV_INT, TV_BYTE */
        double f;  /* TV_FLOAT */
        struct {
            double re, im;
        } c; /* TV_COMPLEX */
        struct {
            const char *p;
            size_t n;
        } s;                            /* TV_STRING, TV_HTML */
        const struct km_labels *labels; /* NULL: an empty map */
        const struct targs *args;
        struct tvector *vec;          /* NULL: a nil slice */
        const struct tsample *sample; /* NULL: a nil pointer */
        int64_t ms;                   /* TV_TIME: milliseconds since the epoch */
        const struct km_tmpl_data *data;
    };
};

/* The state of one expansion. */
struct tvar {
    const char *name; /* "$x" */
    struct tv v;
};

struct xstate {
    const struct km_tmpl *t;
    const struct tdef *cur; /* the template being walked */
    const struct km_tmpl_data *d;
    struct km_buf out;   /* the expansion, capped at KM_LIMIT_TMPL_OUTPUT */
    struct km_buf *err;  /* where the message of a failure goes */
    struct km_buf fnerr; /* a function's reason for failing */
    struct km_arena arena;
    size_t mem; /* bytes asked of the arena */
    struct tvar *vars;
    size_t nvars, capvars, var_base; /* the variables of the template walked start at var_base */
    const struct tnode *node;        /* where Go would report an error now */
    unsigned depth;
    uint64_t steps;
    unsigned queries;
    struct km_tmpl_query_result *results; /* every answer of `query`, freed at the end */
    size_t nresults, capresults;
    void *ctype; /* a UTF-8 locale_t for case mapping, made on first use */
};

/* Memory of the expansion's arena: n bytes, or NULL with the reason (KM_ELIMIT past
 * KM_LIMIT_TMPL_MEMORY, KM_ENOMEM) in s->fnerr and *rc. */
void *tmpl_xalloc(struct xstate *s, size_t n, int *rc);

/* A string value copied into the arena (from a buffer being built, say). */
int tmpl_xstring(struct xstate *s, const char *p, size_t n, struct tv *out);

/* The text built in b (which it frees) as a string value; a buffer that failed (out of
 * memory, past its cap) fails with the reason in s->fnerr. */
int tmpl_xstring_buf(struct xstate *s, struct km_buf *b, struct tv *out);

/* A function's failure: the reason into s->fnerr; returns KM_EINVAL. */
int tmpl_fn_error(struct xstate *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The value of label name[0..n) in l (NULL: none), or NULL. */
const char *tmpl_label_get(const struct km_labels *l, const char *name, size_t n);

/* Go's truth of a value (isTrue). */
bool tmpl_truth(const struct tv *v);

/* ---- Functions (template_funcs.c, template_builtins.c) --------------------------------- */

/* The Go type a parameter has, which decides how an argument is evaluated and checked. */
enum tparam {
    TP_NONE,   /* no type: anything (a chain's operand) */
    TP_ANY,    /* interface {} */
    TP_VALUE,  /* reflect.Value (Go's builtins) */
    TP_STRING, /* string */
    TP_SAMPLE, /* *template.sample */
    TP_VECTOR, /* template.queryResult */
};

/* 0, or KM_EINVAL with the reason in s->fnerr ("error calling NAME: <reason>"), or
 * KM_ENOMEM/KM_ELIMIT with the reason in s->fnerr. */
typedef int (*tfunc_call)(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out);

struct tfunc {
    const char *name;
    unsigned nfixed;       /* parameters before the variadic one */
    bool variadic;         /* ...vtype after them */
    enum tparam params[3]; /* the fixed ones */
    enum tparam vtype;
    bool short_circuit; /* and, or: evaluated lazily by the executor */
    tfunc_call call;
};

/* The function called name (a builtin or one of Prometheus'), or NULL. */
const struct tfunc *tmpl_func_find(const char *name, size_t n);

/* The builtins' table (template_builtins.c) and Prometheus' (template_funcs.c). */
extern const struct tfunc tmpl_builtins[];
extern const size_t tmpl_nbuiltins;
extern const struct tfunc tmpl_prom_funcs[];
extern const size_t tmpl_nprom_funcs;

/* Go's url.QueryEscape of s[0..n) (template_builtins.c). */
void tmpl_query_escape(struct km_buf *b, const char *s, size_t n);

/* ---- Go's fmt (template_fmt.c) -------------------------------------------------------- */

/* The name a time.Month or time.Weekday value prints as, or NULL for another int. */
const char *tmpl_int_name(const struct tv *v);

/* Go's name of a value's type ("float64", "map[string]string", "*template.sample"). */
const char *tmpl_type_name(const struct tv *v);

/* fmt.Sprint, fmt.Sprintln and fmt.Sprintf of values, appended to out. */
void tmpl_sprint(struct km_buf *out, const struct tv *argv, size_t argc);
void tmpl_sprintln(struct km_buf *out, const struct tv *argv, size_t argc);
void tmpl_sprintf(struct km_buf *out, const char *format, size_t flen, const struct tv *argv,
                  size_t argc);

/* What {{ value }} prints: text/template's printValue ("<no value>" for none, a sample's
 * struct rather than its address). */
void tmpl_print_action(struct km_buf *out, const struct tv *v);

/* Go's %.<prec>g of a float ("1.235e+06", "+Inf"), and %v (the shortest digits). */
void tmpl_fmt_g(struct km_buf *out, double v, int prec);
void tmpl_fmt_v(struct km_buf *out, double v);

/* A time's calendar fields in UTC, as Go's time.Time methods give them. */
struct tmpl_civil {
    int64_t year;
    unsigned month, day, yday, wday, hour, min, sec, msec;
};

void tmpl_civil_time(int64_t ms, struct tmpl_civil *c);

/* Go's time.Time.String() in UTC of ms since the epoch:
 * "2009-11-10 23:00:00.5 +0000 UTC". */
void tmpl_fmt_time(struct km_buf *out, int64_t ms);

/* Go's strconv.Quote of s[0..n), and its %.<runes>q (the first runes, quoted). */
void tmpl_quote(struct km_buf *out, const char *s, size_t n);
void tmpl_quote_prefix(struct km_buf *out, const char *s, size_t n, size_t runes);

/* Go's strconv.ParseFloat(s[0..n), 64): 0, KM_EINVAL for bad syntax, or KM_ELIMIT when
 * out of range (*out is then ±Inf); KM_ENOMEM. */
int tmpl_parse_float(const char *s, size_t n, double *out);

/* The rune at s[0..n) (n >= 1) and its width, as Go decodes (invalid: U+FFFD, width 1). */
size_t tmpl_utf8_decode(const char *s, size_t n, int32_t *r);

#endif
