/*
 * chclient — kmon's client of ClickHouse's HTTP interface (libcurl): one endpoint per
 * shard (--clickhouse-url, in the cluster's shard order), statements POSTed with the
 * database, user and password (from a file, sent as X-ClickHouse-User/-Key headers, never
 * logged), TLS through httpc_auth (CA, client certificate), a body after the statement for
 * INSERTs (gzip-compressed on request), the answer streamed to a sink, and ClickHouse's
 * "Code: N, e.displayText() = …" errors turned into kmon errors that keep its text.
 *
 * Threads: a client serves any number of threads (one curl easy handle per call, taken
 * from a small pool of idle handles so their connections are reused). Errors are returned
 * (km_err_msg() says why), never printed.
 */
#ifndef KMON_CHSTORE_CHCLIENT_H
#define KMON_CHSTORE_CHCLIENT_H

#include "common/httpc_auth.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct km_ch_client_opts {
    const char *const *urls; /* http(s)://host:port of each shard, in shard order */
    size_t nurls;
    const char *database;          /* NULL: "kmon" (statements run with it as the default db) */
    const char *user;              /* NULL: "default" */
    const char *password_file;     /* one line; NULL: no password */
    struct km_httpc_auth_opts tls; /* CA, client certificate for https:// URLs */
    long connect_timeout_ms;       /* 0: 3000 */
    long timeout_ms;               /* a whole statement; 0: 60000 */
};

struct km_ch_client;

/* Check the options (bad URL or unreadable password file: KM_EINVAL naming it). Contacts
 * nothing. On success *out is new. */
int km_ch_client_create(struct km_ch_client **out, const struct km_ch_client_opts *o);
void km_ch_client_destroy(struct km_ch_client *c); /* accepts NULL */

size_t km_ch_client_nodes(const struct km_ch_client *c);
const char *km_ch_client_url(const struct km_ch_client *c, size_t node);
const char *km_ch_client_database(const struct km_ch_client *c);

/* What an answer's bytes go to, in order as they arrive; return 0, or an error code
 * (negative) to stop the transfer (km_ch_exec then returns it). */
typedef int (*km_ch_sink_fn)(void *ud, const void *data, size_t n);

struct km_ch_request {
    const char *sql;  /* the statement (for an INSERT: up to FORMAT X) */
    const void *body; /* data after it (INSERT rows), or NULL */
    size_t body_len;
    bool gzip_body;     /* compress the body (Content-Encoding: gzip) */
    bool no_database;   /* run without the default database (CREATE DATABASE) */
    km_ch_sink_fn sink; /* NULL: the answer is read and dropped */
    void *ud;
};

/* Run one statement on `node` (its index), or on any node when node < 0: the nodes are
 * tried from a rotating start, skipping those that failed to connect in the last few
 * seconds, until one answers (a statement ClickHouse refused is not retried elsewhere).
 * Returns 0; KM_EAGAIN when no node could be reached (connect failure, timeout, 5xx that
 * is not a query error: worth retrying later); KM_EINVAL when ClickHouse refused the
 * statement (km_err_msg() holds its message, without the stack trace); a sink's error. */
int km_ch_exec(struct km_ch_client *c, int node, const struct km_ch_request *r);

/* Run `sql` on `node` (< 0: any) and keep the answer (text, NUL-terminated, trailing
 * newline removed) in *out (malloc'd, the caller frees), for small answers
 * (SELECT version(), SHOW TABLES). At most 1 MiB. */
int km_ch_exec_text(struct km_ch_client *c, int node, const char *sql, char **out);

/* A string as a ClickHouse SQL literal, quotes included, appended to `b` ('…' with \\ and
 * \' escaped, control bytes as \xNN). Returns 0 or KM_ENOMEM. */
struct km_buf;
int km_ch_quote(struct km_buf *b, const char *s, size_t n);

#endif
