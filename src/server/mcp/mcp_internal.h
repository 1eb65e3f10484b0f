/*
 * mcp_internal — what the MCP endpoint's parts share: a tool call's environment, the
 * tool, resource and prompt tables, and the helpers the tools evaluate with.
 */
#ifndef KMON_SERVER_MCP_MCP_INTERNAL_H
#define KMON_SERVER_MCP_MCP_INTERNAL_H

#include "common/buf.h"
#include "promql/eval.h"
#include "server/auth/auth.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct km_server;
struct km_http_req;

/* Rows a tool lists at most by default, and the most it may be asked for. */
#define KM_MCP_ROWS     20
#define KM_MCP_ROWS_MAX 200
/* Characters of a log line kept in an answer. */
#define KM_MCP_LINE_MAX 400

/* One tool call: the server, the request (its token's view of the stores), now. */
struct km_mcp_call {
    struct km_server *s;
    struct km_http_req *req;
    struct km_storage *store; /* the request's view */
    struct km_auth_view av;
    int64_t now_ms;
};

/* A tool: call() builds *out (an object, dumped as the result's text) and returns 0, or
 * returns KM_EINVAL (the caller's mistake) or another KM_E* with a sentence in err that
 * tells the model what to do instead; it becomes an isError result. */
struct km_mcp_tool {
    const char *name;
    const char *title;
    const char *description;
    const char *schema; /* the inputSchema, JSON text */
    int (*call)(struct km_mcp_call *c, json_t *args, json_t **out, struct km_buf *err);
};

extern const struct km_mcp_tool km_mcp_tools_prom[]; /* mcp_tools_prom.c */
extern const size_t km_mcp_ntools_prom;
extern const struct km_mcp_tool km_mcp_tools_k8s[]; /* mcp_tools_k8s.c */
extern const size_t km_mcp_ntools_k8s;
extern const struct km_mcp_tool km_mcp_tools_ops[]; /* mcp_tools_ops.c */
extern const size_t km_mcp_ntools_ops;

/* The tool of that name, or NULL. */
const struct km_mcp_tool *km_mcp_tool_find(const char *name);

/* ---- resources and prompts (mcp_catalog.c) -------------------------------------------- */

/* resources/list, resources/read, prompts/list, prompts/get: 0 with *out the result, or
 * a JSON-RPC error code with its message in err. */
int km_mcp_resources_list(json_t **out);
int km_mcp_resource_read(struct km_mcp_call *c, json_t *params, json_t **out, struct km_buf *err);
int km_mcp_prompts_list(json_t **out);
int km_mcp_prompt_get(json_t *params, json_t **out, struct km_buf *err);

/* The metric names with data in the last --stale window (containing `contains` when not
 * NULL), sorted: a new JSON array in *out. And a name's {type, help}, or NULL when the
 * store has no metadata for it (mcp_tools_prom.c). */
int km_mcp_metric_names(struct km_mcp_call *c, const char *contains, json_t **out,
                        struct km_buf *err);
json_t *km_mcp_metric_meta(struct km_mcp_call *c, const char *name);

/* The rules' alerts now, as /api/v1/alerts lists them: a new JSON array, or NULL
 * (mcp_tools_ops.c). */
json_t *km_mcp_alerts(struct km_mcp_call *c);

/* ---- helpers (mcp_eval.c) ------------------------------------------------------------- */

/* Set err to the formatted sentence and return KM_EINVAL. */
int km_mcp_fail(struct km_buf *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Arguments: a string (NULL when absent; KM_EINVAL when of another type or, with
 * `required`, absent or empty), an integer in [lo, hi] (dflt when absent), a duration
 * ("1h", "90s"; dflt when absent), a time (RFC 3339 or Unix seconds; dflt when absent). */
int km_mcp_arg_str(json_t *args, const char *name, bool required, const char **out,
                   struct km_buf *err);
int km_mcp_arg_int(json_t *args, const char *name, long long lo, long long hi, long long dflt,
                   long long *out, struct km_buf *err);
int km_mcp_arg_duration(json_t *args, const char *name, int64_t dflt, int64_t *out,
                        struct km_buf *err);
int km_mcp_arg_time(json_t *args, const char *name, int64_t dflt, int64_t *out, struct km_buf *err);
/* One of the words of `choices` (NULL-terminated; the first when absent). */
int km_mcp_arg_choice(json_t *args, const char *name, const char *const *choices, const char **out,
                      struct km_buf *err);
/* A label value fit to go between the quotes of a PromQL or LogQL matcher (no quote,
 * backslash or control character): KM_EINVAL naming the argument otherwise. */
int km_mcp_arg_plain(json_t *args, const char *name, bool required, const char **out,
                     struct km_buf *err);

/* Evaluate the PromQL text at t (ms), or over [start, end] every step: 0, or an error
 * with the parser's or evaluator's message in err. The result is the caller's
 * (km_pq_result_fini, also after an error). */
int km_mcp_instant(struct km_mcp_call *c, const char *q, int64_t t, struct km_pq_result *r,
                   struct km_buf *err);
int km_mcp_range(struct km_mcp_call *c, const char *q, int64_t start, int64_t end, int64_t step,
                 struct km_pq_result *r, struct km_buf *err);
/* The value of a one-series instant query at now (NAN when it has no series or fails). */
double km_mcp_scalar(struct km_mcp_call *c, const char *q);

/* A number as JSON: rounded to 6 significant digits; NaN and infinities as strings. */
json_t *km_mcp_num(double v);
/* Labels as a JSON object (without __name__ when drop_name). */
json_t *km_mcp_labels(const struct km_labels *l, bool drop_name);
/* The latest set value of series i of a vector or matrix result (false when none). */
bool km_mcp_last(const struct km_pq_result *r, size_t i, double *v);

/* The series of a vector or matrix result ordered by their last value, largest first
 * (series without a value last): a new array of r->vec.n (the caller frees it), or NULL
 * when out of memory. */
struct km_mcp_ranked {
    size_t i;
    double v;
};
struct km_mcp_ranked *km_mcp_rank(const struct km_pq_result *r);

/* Set key to value in o, stealing value (NULL is ignored: an allocation failed, and the
 * answer is then incomplete rather than wrong). */
void km_mcp_set(json_t *o, const char *key, json_t *value);

#endif
