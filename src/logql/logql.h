/*
 * logql — Loki's query language over a log source (src/logs/logsource.h): parse a query,
 * print it back, evaluate it (a log query into streams of entries, a metric query into
 * a vector or a matrix, with Loki 2.9/3.x semantics) and render the answer as the
 * `data` object of Loki's HTTP API ({"resultType": …, "result": …, "stats": …}), so an
 * HTTP handler only wraps {"status":"success","data":…} around it.
 *
 * A parsed expression is immutable: it may be evaluated any number of times, from any
 * number of threads at once. Results are owned by the caller. Errors are returned (a
 * negative KM_E* with km_err_msg() set; parse errors also appended to a buffer in Loki's
 * words), never printed.
 *
 * Times are nanoseconds since the Unix epoch throughout.
 */
#ifndef KMON_LOGQL_LOGQL_H
#define KMON_LOGQL_LOGQL_H

#include "common/buf.h"
#include "common/labels.h"
#include "logs/logsource.h"
#include "promql/eval.h" /* struct km_pq_result: a metric query's answer */
#include "storage/sample.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- parsing ------------------------------------------------------------------------- */

struct km_logql_expr;

enum km_logql_kind {
    KM_LOGQL_LOG,    /* {…} | …: answers streams of entries */
    KM_LOGQL_METRIC, /* rate({…}[1m]), sum(…), 1 + 1, vector(0): answers numbers */
};

/* Parse query q[0..n). On success *out is new; free it with km_logql_expr_destroy().
 * On failure KM_EINVAL (or KM_ENOMEM, KM_ELIMIT for a query past KM_LOGQL_MAX_QUERY
 * bytes or nesting) with Loki's message appended to err, e.g.
 * "parse error at line 1, col 12: syntax error: unexpected IDENTIFIER, expecting STRING"
 * or "parse error : queries require at least one regexp or equality matcher that does
 * not have an empty-compatible value. For instance, app=~\".*\" does not meet this
 * requirement, but app=~\".+\" will". err may be NULL. */
int km_logql_parse(struct km_logql_expr **out, const char *q, size_t n, struct km_buf *err);

/* Accepts NULL. */
void km_logql_expr_destroy(struct km_logql_expr *e);

enum km_logql_kind km_logql_expr_kind(const struct km_logql_expr *e);

/* Append the expression in canonical form (Loki's String(): `{app="a"} |= "x" | json`,
 * `sum by (app) (rate({app="a"}[5m]))`), which parses back to the same expression. */
int km_logql_print(const struct km_logql_expr *e, struct km_buf *out);

/* The stream selectors of the expression, in the order they appear (a log query has
 * one, a metric query one per range aggregation): their number, then the matchers of
 * selector i (borrowed from e) and the literals every kept line must contain (the
 * single-literal `|= "…"` filters before any stage that rewrites the line: line_format,
 * unpack, decolorize; parsers leave the line as it is), for km_log_select's must_contain.
 * Both arrays are borrowed from e. */
size_t km_logql_expr_nselectors(const struct km_logql_expr *e);
struct km_matcher *const *km_logql_expr_matchers(const struct km_logql_expr *e, size_t i,
                                                 size_t *nm);
size_t km_logql_expr_must_contain(const struct km_logql_expr *e, size_t i, const char *const **lit,
                                  const size_t **len);

/* Parse a bare stream selector `{a="b", c=~"d.*"}` (what /loki/api/v1/series takes in
 * match[]): on success *out is a new array of *nm new matchers; free it with
 * km_logql_matchers_free(). KM_EINVAL with Loki's message appended to err (may be NULL). */
int km_logql_parse_selector(const char *s, size_t n, struct km_matcher ***out, size_t *nm,
                            struct km_buf *err);
/* Accepts NULL. */
void km_logql_matchers_free(struct km_matcher **m, size_t nm);

/* ---- evaluation ---------------------------------------------------------------------- */

enum km_logql_direction {
    KM_LOGQL_BACKWARD = 0, /* newest first: Loki's default */
    KM_LOGQL_FORWARD,
};

struct km_logql_params {
    /* A log query reads [start_ns, end_ns). A metric range query is evaluated at
     * start_ns, start_ns + step_ns, … up to end_ns inclusive; an instant query (step_ns
     * == 0) at end_ns only. Each evaluation at t covers (t - range - offset,
     * t - offset]. */
    int64_t start_ns, end_ns;
    int64_t step_ns;
    enum km_logql_direction direction;
    size_t limit; /* a log query's entries at most (0: KM_LOGQL_DEFAULT_LIMIT) */

    /* Limits (0: the default named in limits below). */
    size_t max_entries;          /* a limit past it is refused: "max entries limit per query
                                    exceeded, limit > max_entries_limit (N > M)" */
    size_t max_series;           /* a metric answer's series at most: "maximum of series (N)
                                    reached for a single query" */
    uint64_t max_lines;          /* lines read at most per query (a runaway guard), 0: none */
    int64_t deadline_ns;         /* CLOCK_MONOTONIC; 0: none. KM_ETIMEDOUT past it */
    bool (*cancelled)(void *ud); /* polled in loops; may be NULL. KM_ECANCELED */
    void *cancel_ud;
};

#define KM_LOGQL_DEFAULT_LIMIT       100
#define KM_LOGQL_DEFAULT_MAX_ENTRIES 5000
#define KM_LOGQL_DEFAULT_MAX_SERIES  500
#define KM_LOGQL_MAX_QUERY           (128u * 1024u) /* bytes of a query's text */

/* Zeroes p and sets the defaults (backward, limit 100). */
void km_logql_params_default(struct km_logql_params *p);

/* What a query read and did (Loki's "stats"). */
struct km_logql_stats {
    uint64_t bytes_processed; /* bytes of the lines read */
    uint64_t lines_processed; /* lines read */
    uint64_t post_filter_lines;
    uint64_t entries_returned;
    uint64_t streams; /* streams selected */
    int64_t exec_ns;  /* wall time of the evaluation */
};

enum km_logql_result_type {
    KM_LOGQL_STREAMS,
    KM_LOGQL_VECTOR, /* metric, instant */
    KM_LOGQL_MATRIX, /* metric, range */
    KM_LOGQL_SCALAR, /* a metric query without a selector, e.g. `1 + 1`, instant */
};

struct km_logql_entry {
    int64_t ts_ns;
    char *line; /* owned by the result; len bytes, NUL-terminated */
    size_t len;
};

/* One stream of the answer: its labels after the pipeline (stream labels plus the
 * extracted ones), its entries in the query's direction. */
struct km_logql_stream {
    struct km_labels *labels;
    struct km_logql_entry *e;
    size_t n;
};

struct km_logql_result {
    enum km_logql_result_type type;
    /* STREAMS: sorted by labels (Loki sorts streams by their label string). */
    struct km_logql_stream *streams;
    size_t nstreams;
    /* VECTOR, MATRIX, SCALAR: as the PromQL evaluator gives them (grid in ms, series
     * sorted by labels), so promql/render.h writes them. */
    struct km_pq_result metric;
    struct km_logql_stats stats;
};

/* Evaluate e over source s with p. On success *out is new; free it with
 * km_logql_result_destroy(). Errors: KM_EINVAL with Loki's message for query errors
 * found at run time (a metric query over lines with __error__, an unwrap over a
 * non-number, a step too small, a limit over max_entries), KM_ELIMIT (max_series,
 * max_lines), KM_ETIMEDOUT, KM_ECANCELED, KM_ENOMEM, or a source's error. */
int km_logql_eval(const struct km_logql_expr *e, const struct km_log_source *s,
                  const struct km_logql_params *p, struct km_logql_result **out);

/* Accepts NULL. */
void km_logql_result_destroy(struct km_logql_result *r);

/* ---- rendering ----------------------------------------------------------------------- */

/* Append Loki's `data` object for r:
 *   {"resultType":"streams","result":[{"stream":{…},"values":[["<ns>","line"],…]},…],
 *    "stats":{"summary":{…},"querier":{…},"ingester":{…}}}
 * "vector"/"matrix"/"scalar" as Prometheus writes them (Go's float formatting). 0, or
 * the buffer's error (KM_ENOMEM, KM_ELIMIT). */
int km_logql_render_data(struct km_buf *out, const struct km_logql_result *r);

/* Loki's "stats" object alone. */
int km_logql_render_stats(struct km_buf *out, const struct km_logql_stats *st);

#endif
