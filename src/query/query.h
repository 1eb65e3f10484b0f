/*
 * query — the parts of `kmon query` (query_main.c is the command): one PromQL query,
 * instant or range, asked of a data directory opened read-only (query_local.c) or of a
 * running kmon server or any Prometheus through its HTTP API (query_remote.c, whose JSON
 * answer query_decode.c reads back into the evaluator's result type), and that result
 * printed as a table, CSV or the API's JSON (query_print.c).
 *
 * Both sources give the same struct km_pq_result, so one printer serves both and the
 * same expression prints the same answer either way. Single-threaded; every function
 * returns 0 or a negative KM_E* code with a sentence in km_err_msg() and prints nothing;
 * what a function fills in is the caller's to free.
 */
#ifndef KMON_QUERY_QUERY_H
#define KMON_QUERY_QUERY_H

#include "common/buf.h"
#include "common/cfg.h"
#include "promql/eval.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* One query, its times resolved (milliseconds since the epoch). */
struct km_query_req {
    const char *expr; /* the PromQL text (borrowed, NUL-terminated) */
    bool range;       /* start, end, step; else an instant query at time */
    int64_t time_ms, start_ms, end_ms, step_ms;
    int64_t lookback_ms;  /* 0: the engine's default (5m) */
    uint64_t max_samples; /* 0: the engine's default (50 000 000) */
    int64_t timeout_ms;   /* > 0 */
};

/* A query's answer: the result and what the source warned about. */
struct km_query_answer {
    struct km_pq_result r;
    char *warnings; /* the server's warnings, one a line, or NULL (owned) */
};

void km_query_answer_fini(struct km_query_answer *a);

/* ---- query_time.c: the command's time and step arguments -------------------------------- */

/* A time as `kmon query` takes one: what the HTTP API takes (RFC 3339, seconds since the
 * epoch), "now", or a duration back from or ahead of now ("-1h", "now-90m", "+5m"). */
int km_query_parse_time(const char *s, int64_t now_ms, int64_t *out_ms);

/* The step of a range query given none: the range over 250 points, in whole seconds and
 * at least one (as promtool chooses). */
int64_t km_query_auto_step(int64_t start_ms, int64_t end_ms);

/* Prometheus answers at most this many points per series in a range query. */
#define KM_QUERY_MAX_POINTS 11000

/* ---- the sources ---------------------------------------------------------------------- */

/* Evaluate q over the database in dir, opened read-only (blocks, and the WAL replayed
 * into memory; nothing written, no lock taken: safe beside a running server). Errors:
 * KM_ENOTFOUND/KM_EINVAL when dir is not a readable data directory, KM_EINVAL with
 * Prometheus' message when the expression does not parse ("1:5: parse error: …") or
 * cannot be evaluated, KM_ELIMIT, KM_ETIMEDOUT, KM_ENOMEM, KM_EIO. */
int km_query_local(const char *dir, const struct km_query_req *q, struct km_query_answer *out);

/* Ask the server at base_url (http:// or https://, the API under /api/v1/) with a POST to
 * /api/v1/query or /api/v1/query_range. An error the API answers in its envelope is
 * returned with the API's message as it is (so it reads as the local one); a server that
 * cannot be reached, does not answer in time or answers something else is said with its
 * address (KM_EIO, KM_ETIMEDOUT, KM_ECORRUPT). */
struct km_query_client;
int km_query_remote(const char *base_url, const struct km_query_client *client,
                    const struct km_query_req *q, struct km_query_answer *out);

/* One request of kmon's commands (`kmon query`, `kmon logs query`) to a server: a GET of
 * base_url (its "?…" and "#…" and trailing slashes dropped) + path, path holding its own
 * query string, or a POST of form[0..form_len) (a form body) when form is not NULL; with
 * libcurl: http and https only, the CA, client certificate and token of client (NULL:
 * none; a file that cannot be read is KM_EINVAL/KM_ENOTFOUND/KM_EIO naming it),
 * compressed answers taken, `agent` as the User-Agent, a connection within 10 s and the
 * whole within timeout_ms + 10 s. On success (any HTTP status) *status is the status and
 * body holds the answer, at most body's cap. Errors name the server by its address
 * without a password: KM_ELIMIT (the answer is larger than body's cap), KM_ETIMEDOUT,
 * KM_EIO (cannot reach it), KM_ENOMEM. */
int km_query_http(const char *base_url, const struct km_query_client *client, const char *path,
                  const char *form, size_t form_len, const char *agent, int64_t timeout_ms,
                  struct km_buf *body, long *status);

/* How a command that asks a server checks it and proves who it is (common/httpc_auth.h):
 * the settings of km_query_client_fields (--ca-file, --cert-file, --key-file,
 * --token-file; each NULL when not given). */
struct km_query_client {
    char *ca_file, *cert_file, *key_file, *token_file;
};
extern const struct km_cfg_field km_query_client_fields[];

/* The general settings of a command that prints an answer (km_cfg_common_fields), with
 * logging quiet unless asked: into out[0..cap), ended by KM_CFG_FIELDS_END. */
void km_query_general_fields(struct km_cfg_field *out, size_t cap);

/* base_url without a user and password ("http://u:p@h:1/x" → "http://h:1/x"), for
 * messages. Returns out. */
const char *km_query_url_for_humans(const char *base_url, char *out, size_t size);

/* Read an answer of the Prometheus HTTP API (its envelope: status, data or errorType and
 * error, warnings) into *out. An error answer is returned as KM_EINVAL (bad_data,
 * execution), KM_ETIMEDOUT, KM_ECANCELED or KM_EIO (internal, unavailable) with the
 * API's message, the instant query's "invalid parameter \"query\": " taken off; text
 * that is not such an answer is KM_ECORRUPT (with the text of a bare {"error": "…"}, as
 * kmon answers outside the API). Native histograms are refused (KM_EINVAL). */
int km_query_decode(const char *body, size_t len, struct km_query_answer *out);

/* ---- query_print.c -------------------------------------------------------------------- */

enum km_query_output {
    KM_QUERY_OUTPUT_TABLE, /* one line per point: labels, value, @ time (RFC 3339) */
    KM_QUERY_OUTPUT_JSON,  /* the API's data object, as /api/v1/query answers it */
    KM_QUERY_OUTPUT_CSV,   /* timestamp, value and a column per label name */
};

/* Print r to out. KM_EIO when out cannot be written, KM_ENOMEM. */
int km_query_print(FILE *out, const struct km_pq_result *r, enum km_query_output how);

/* True when r holds no series (an empty vector or matrix). */
bool km_query_result_empty(const struct km_pq_result *r);

#endif
