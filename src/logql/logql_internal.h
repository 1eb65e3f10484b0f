/*
 * logql_internal — the parsed form of a LogQL query (shared by parse.c, print.c,
 * pipeline.c and eval.c) and the per-line pipeline machinery. An expression is built
 * once by the parser and never written afterwards, so evaluations may share it.
 */
#ifndef KMON_LOGQL_INTERNAL_H
#define KMON_LOGQL_INTERNAL_H

#include "common/arena.h"
#include "common/buf.h"
#include "common/regex.h"
#include "logql/logql.h"
#include "promql/aggr.h"
#include "promql/binop.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds of one query (beside KM_LOGQL_MAX_QUERY). */
#define KM_LOGQL_MAX_DEPTH   64         /* nesting of parentheses and operators */
#define KM_LOGQL_MAX_LABELS  1024       /* labels of one line after its parsers */
#define KM_LOGQL_MAX_FMT_OUT (1u << 20) /* bytes a line_format/label_format writes */
#define KM_LOGQL_MAX_STEPS   11000      /* points of a range query (Loki's 11 000) */

/* ---- line filters ---------------------------------------------------------------------- */

enum lq_filter_op { LQ_F_CONTAINS, LQ_F_NOT_CONTAINS, LQ_F_RE, LQ_F_NOT_RE };

struct lq_alt {
    char *s; /* the literal or the regex as written (unquoted) */
    size_t n;
    struct km_regex *re; /* regexes: compiled once */
};

/* `|= "a" or "b"`: a line passes when it contains any alternative (for != and !~, when
 * it contains none). */
struct lq_line_filter {
    enum lq_filter_op op;
    struct lq_alt *alt;
    size_t nalt;
};

/* ---- label filters --------------------------------------------------------------------- */

enum lq_lf_kind { LQ_LF_AND, LQ_LF_OR, LQ_LF_STR, LQ_LF_NUM, LQ_LF_DUR, LQ_LF_BYTES };
enum lq_cmp { LQ_EQ, LQ_NEQ, LQ_RE, LQ_NRE, LQ_GT, LQ_GTE, LQ_LT, LQ_LTE, LQ_EQEQ };

struct lq_lf {
    enum lq_lf_kind k;
    struct lq_lf *l, *r; /* AND, OR */
    bool paren;          /* written in parentheses (for printing) */
    bool comma;          /* AND written as ',' */
    char *name;
    enum lq_cmp op;
    char *s;             /* STR: the value; others: the literal as written */
    struct km_regex *re; /* STR with =~ !~ */
    double v;            /* NUM; DUR in seconds; BYTES in bytes */
};

/* ---- stages ---------------------------------------------------------------------------- */

enum lq_stage_kind {
    LQ_S_LINE,
    LQ_S_JSON,
    LQ_S_LOGFMT,
    LQ_S_REGEXP,
    LQ_S_PATTERN,
    LQ_S_UNPACK,
    LQ_S_LABEL_FILTER,
    LQ_S_LINE_FMT,
    LQ_S_LABEL_FMT,
    LQ_S_DROP,
    LQ_S_KEEP,
    LQ_S_DECOLORIZE,
};

/* A path into a JSON value: keys and indexes. */
struct lq_jpath_el {
    char *key; /* NULL: an index */
    size_t idx;
};

/* A parser parameter `name="expr"` (json, logfmt) or a drop/keep item `name` or
 * `name="value"`, or a label_format item `dst=src` / `dst="template"`. */
struct lq_param {
    char *name;
    char *expr; /* json/logfmt: the expression; drop/keep: the value (NULL: any);
                   label_format: the source label or the template text */
    bool has_expr;
    struct lq_jpath_el *path; /* json */
    size_t npath;
    bool is_template;     /* label_format dst="…" */
    struct lq_tmpl *tmpl; /* label_format templates, line_format */
    enum lq_cmp cmp;      /* drop/keep with a value: = != =~ !~ */
    struct km_regex *re;
};

/* pattern: literals and captures in turn. */
struct lq_pat_el {
    char *lit; /* a literal (NULL: a capture) */
    size_t n;
    char *name; /* a capture's name (NULL for <_>) */
};

struct lq_stage {
    enum lq_stage_kind k;
    struct lq_line_filter lf;
    struct lq_param *p; /* json/logfmt params, drop/keep items, label_format items */
    size_t np;
    bool strict, keep_empty; /* logfmt */
    char *text;              /* regexp/pattern/line_format text (unquoted) */
    struct km_regex *re;     /* regexp */
    int *group_names_idx;    /* unused */
    struct lq_pat_el *pat;   /* pattern */
    size_t npat;
    struct lq_lf *filter; /* label filter */
    struct lq_tmpl *tmpl; /* line_format */
};

/* A stream selector and its pipeline. */
struct lq_selector {
    struct km_matcher **m;
    size_t nm;
    struct lq_stage *st;
    size_t nst;
    /* the leading `|= "…"` literals (borrowed from st), for must_contain */
    const char **must;
    size_t *must_len;
    size_t nmust;
    bool changes_labels; /* any stage that sets or drops labels */
    bool changes_line;   /* line_format, unpack (_entry), decolorize */
};

/* ---- metric expressions ---------------------------------------------------------------- */

enum lq_node_kind { LQ_N_RANGE, LQ_N_VAGG, LQ_N_BINOP, LQ_N_NUM, LQ_N_VECTOR, LQ_N_LABEL_REPLACE };

enum lq_range_op {
    LQ_R_COUNT,
    LQ_R_RATE,
    LQ_R_BYTES,
    LQ_R_BYTES_RATE,
    LQ_R_ABSENT,
    LQ_R_SUM,
    LQ_R_AVG,
    LQ_R_MIN,
    LQ_R_MAX,
    LQ_R_STDVAR,
    LQ_R_STDDEV,
    LQ_R_QUANTILE,
    LQ_R_FIRST,
    LQ_R_LAST,
    LQ_R_RATE_COUNTER,
};

enum lq_vagg_op {
    LQ_A_SUM,
    LQ_A_AVG,
    LQ_A_MIN,
    LQ_A_MAX,
    LQ_A_COUNT,
    LQ_A_STDDEV,
    LQ_A_STDVAR,
    LQ_A_TOPK,
    LQ_A_BOTTOMK,
    LQ_A_SORT,
    LQ_A_SORT_DESC,
};

enum lq_unwrap_conv { LQ_U_NONE, LQ_U_DURATION, LQ_U_DURATION_SECONDS, LQ_U_BYTES };

struct lq_grouping {
    bool present;
    bool without;
    bool after; /* written after the arguments */
    char **labels;
    size_t n;
};

struct lq_node {
    enum lq_node_kind k;
    bool paren;
    /* RANGE */
    enum lq_range_op rop;
    struct lq_selector sel;
    bool sel_paren; /* (selector | pipeline [5m]) written as `({…} | …)[5m]`? no: printed
                       canonically */
    int64_t range_ns, offset_ns;
    bool has_unwrap;
    char *unwrap_label;
    enum lq_unwrap_conv conv;
    struct lq_lf **post; /* label filters after unwrap */
    size_t npost;
    double param; /* quantile's φ, topk's k */
    char *param_text;
    struct lq_grouping g; /* range agg grouping, vector agg grouping */
    /* VAGG */
    enum lq_vagg_op aop;
    struct lq_node *arg;
    /* BINOP */
    enum km_pq_binop op;
    bool ret_bool;
    struct lq_node *l, *r;
    bool has_matching, on;
    char **mlabels;
    size_t nmlabels;
    enum km_pq_card card;
    char **include;
    size_t ninclude;
    /* NUM, VECTOR */
    double v;
    char *num_text;
    /* LABEL_REPLACE: arg, dst, repl, src, regex */
    char *lr_dst, *lr_repl, *lr_src, *lr_re;
    struct km_regex *lr_compiled;
};

struct km_logql_expr {
    enum km_logql_kind kind;
    struct lq_selector *log;   /* a log query's selector (owned) */
    struct lq_node *root;      /* a metric query */
    struct lq_selector **sels; /* every selector, in order (borrowed) */
    size_t nsels;
};

/* ---- templates (line_format, label_format) ------------------------------------------- */

struct lq_tmpl;

/* Parse Go template text (the subset Loki's formatters use: text, {{.label}}, {{label}}
 * functions with arguments, pipelines, if/else/end on a value). KM_EINVAL with the
 * message appended to err. */
int lq_tmpl_parse(struct lq_tmpl **out, const char *s, size_t n, struct km_buf *err);
void lq_tmpl_destroy(struct lq_tmpl *t);

/* ---- the per-line label state ----------------------------------------------------------- */

struct lq_lbl {
    const char *n, *v;
    size_t nl, vl;
    bool parsed; /* extracted by a parser or a formatter (not a stream label) */
    bool del;
};

struct lq_line {
    const char *line;
    size_t len;
    int64_t ts;
    struct lq_lbl *l;
    size_t n, cap;
    struct km_arena *arena; /* per line: reset before each line */
    struct km_buf *tmp;     /* the template's scratch (values made while expanding) */
    bool has_err;
};

/* The value of label name (NULL when absent). */
const struct lq_lbl *lq_line_get(const struct lq_line *ln, const char *n, size_t nl);
/* Set (add or replace) a label; copies nothing: n and v must live as long as the line. */
int lq_line_set(struct lq_line *ln, const char *n, size_t nl, const char *v, size_t vl,
                bool parsed);
void lq_line_del(struct lq_line *ln, const char *n, size_t nl);

/* Run the selector's stages on one line (label state already holding the stream's
 * labels). Returns 1 to keep, 0 to drop, negative on error. The line may be replaced
 * (ln->line points into the arena). */
int lq_pipeline_run(const struct lq_selector *sel, struct lq_line *ln, struct km_buf *scratch);

/* Only the line filters of a stage list, on raw bytes: for pipelines made only of them. */
bool lq_line_filter_match(const struct lq_line_filter *f, const char *s, size_t n);

/* Expand a template against a line's labels into out. */
int lq_tmpl_exec(const struct lq_tmpl *t, const struct lq_line *ln, struct km_buf *out);

/* Numbers of the language: Go's time.ParseDuration (with Prometheus' d, w, y), go-humanize
 * ParseBytes, strconv.ParseFloat. 0 or -1. */
int lq_parse_duration(const char *s, size_t n, int64_t *ns);
int lq_parse_bytes(const char *s, size_t n, double *out);
int lq_parse_float(const char *s, size_t n, double *out);

/* Sanitise an extracted label name as Loki does into the arena. */
char *lq_sanitize(struct km_arena *a, const char *s, size_t n, size_t *out_len);

/* Free a selector's contents / a node tree. */
void lq_selector_fini(struct lq_selector *s);
void lq_node_destroy(struct lq_node *n);
void lq_lf_destroy(struct lq_lf *f);

/* Function names (parse.c). */
const char *lq_range_name(enum lq_range_op op);
const char *lq_vagg_name(enum lq_vagg_op op);

/* Print helpers (print.c). */
void lq_print_selector(struct km_buf *b, const struct lq_selector *s);
void lq_print_node(struct km_buf *b, const struct lq_node *n);

#endif
