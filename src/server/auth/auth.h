/*
 * auth — who may do what on the server: bearer tokens from a file (--tokens FILE; only
 * their SHA-256 digests at rest, compared in constant time, the file reloaded when it
 * changes), each with a scope — write (bound to one cluster: the server sets the
 * `cluster` label of everything it writes), read (queries and the dashboard, optionally
 * limited to some clusters) or admin (reload, flush, snapshot, delete; reads and writes
 * everything). Without a token file the server is open, as before.
 *
 * The gate (km_auth_authorize, the HTTP server's opts.authorize) checks each request
 * against its route's KM_ROUTE_READ / WRITE / ADMIN flag, answers 401 (no or unknown
 * token) or 403 (a token without the scope) with a JSON message, and attaches the
 * request's identity, which handlers read with the functions below. Secrets are never
 * logged.
 *
 * Threads: the gate runs on the HTTP server's polling threads; the identity belongs to
 * its request (a copy: a reload does not change a request in flight).
 */
#ifndef KMON_SERVER_AUTH_AUTH_H
#define KMON_SERVER_AUTH_AUTH_H

#include "logs/logsource.h"
#include "storage/storage.h"

#include <stdbool.h>
#include <stddef.h>

struct km_http_req;

enum km_auth_scope {
    KM_AUTH_READ = 1,
    KM_AUTH_WRITE = 2,
    KM_AUTH_ADMIN = 3,
};

/* A request's identity (attached by the gate when tokens are configured). */
struct km_auth_id {
    char *name; /* the token's name in the file (never the token) */
    enum km_auth_scope scope;
    char *cluster;    /* write: the cluster of everything it writes */
    char **clusters;  /* read: the clusters it may see (nclusters 0: every one) */
    size_t nclusters; /* (admin: 0, and cluster NULL) */
};

/* The identity of a request, or NULL when the server has no tokens (open). */
const struct km_auth_id *km_auth_id_of(const struct km_http_req *r);

/* The cluster a writing request's data is labelled with, whatever it sent (its write
 * token's), or NULL: kept as sent (no tokens configured, or an admin token). Every ingest
 * path (remote_write, the JSON endpoints, Loki push, OTLP) applies it to every series
 * or stream: the label `cluster` is set to it, replacing any sent. */
const char *km_auth_write_cluster(const struct km_http_req *r);

/* Whether the request may read data of `cluster` (NULL or "": data without the label).
 * True without tokens, for admin tokens and read tokens without a cluster list. */
bool km_auth_may_read_cluster(const struct km_http_req *r, const char *cluster);

/* Free an identity (the gate's free_auth). Accepts NULL. */
void km_auth_id_free(void *id);

/* ---- the token file (tokens.c) --------------------------------------------------------
 *
 *   tokens:
 *     - name: edge-a            # what logs and metrics call it (never the token)
 *       sha256: 9f86d0…         # 64 hex digits: SHA-256 of the token
 *       scope: write            # write | read | admin
 *       cluster: a              # write: required; read: optional (or clusters: [a, b])
 */

#define KM_AUTH_DIGEST_LEN 32

struct km_auth_token {
    char *name;
    unsigned char sha256[KM_AUTH_DIGEST_LEN];
    enum km_auth_scope scope;
    char **clusters; /* write: its one cluster; read: those it sees (0: all); admin: none */
    size_t nclusters;
    unsigned line; /* where it is in the file */
};

struct km_auth_token_set {
    struct km_auth_token *t;
    size_t n;
};

/* Parse a token file's text (`path` names it in messages). On success *out holds at least
 * one token; otherwise KM_EINVAL with a message "PATH: line N: …" and *out empty. */
int km_auth_tokens_parse(struct km_auth_token_set *out, const char *path, const char *text,
                         size_t len);
/* Read and parse the file. */
int km_auth_tokens_load(struct km_auth_token_set *out, const char *path);
void km_auth_token_set_fini(struct km_auth_token_set *s);

/* Whether two digests are equal, in time independent of where they differ. */
bool km_auth_digest_equal(const unsigned char *a, const unsigned char *b);
/* The token whose digest is SHA-256(token[0..len)), or -1. Every digest is compared in
 * full, whichever matches (no early exit). */
long km_auth_token_find(const struct km_auth_token_set *s, const char *token, size_t len);

/* ---- the gate (gate.c) ---------------------------------------------------------------- */

struct km_auth;
struct km_mset;

/* Load the token file (a bad one is an error naming its line: the server does not start).
 * The gate checks the file again at most once a second and reloads it when it changed; a
 * bad file then keeps the tokens in use and is logged once. */
int km_auth_open(struct km_auth **out, const char *path);
/* Accepts NULL. */
void km_auth_close(struct km_auth *a);

/* Check the file now (not waiting for the once-a-second check): 1 reloaded, 0 unchanged,
 * negative: the file is bad or unreadable (the old tokens stay). */
int km_auth_reload(struct km_auth *a);

/* The HTTP server's opts.authorize (ud: the struct km_auth). The token comes from
 * "Authorization: Bearer T", from basic auth's password (the user name when the
 * password is empty), or, for GET on read routes only (browsers' EventSource and
 * WebSocket cannot send headers), from a `token` query parameter. */
bool km_auth_authorize(struct km_http_req *r, unsigned route_flags, void *ud);

/* kmon_auth_requests_total{result}, kmon_auth_token_requests_total{token}, the tokens
 * loaded and the file's last reload. */
void km_auth_metrics(struct km_auth *a, struct km_mset *m);

/* `kmon token new` (token_cmd.c). */
int km_token_main(int argc, char **argv);

/* ---- read scoping (view.c) -------------------------------------------------------------
 *
 * A read token limited to clusters sees only the series and log streams whose `cluster`
 * label is one of them: its requests read through a view that adds the matcher
 * cluster="a" (or cluster=~"a|b") to every selection and label lookup. */

/* A view's room, on the handler's stack; nothing to free. */
struct km_auth_view {
    struct km_storage st; /* what km_auth_storage() hands out */
    struct km_storage *base;
    const struct km_auth_id *id;
};

/* Whether the request's reads are limited to some clusters (a read token with clusters). */
bool km_auth_read_limited(const struct km_http_req *r);

/* For what shows every cluster at once (cardinality figures, rules and alerts): when the
 * request's reads are limited, answer 403 (naming `what`) and return true. */
bool km_auth_refuse_limited(struct km_http_req *r, const char *what);

/* The store the request reads: `base` when it may read everything; otherwise a view in
 * *tmp (valid while tmp is; queriers opened through it stand on their own). */
struct km_storage *km_auth_storage(const struct km_http_req *r, struct km_storage *base,
                                   struct km_auth_view *tmp);

/* A log view's room, on the handler's stack (or, from km_auth_log_source(), its own). */
struct km_auth_log_view {
    struct km_log_source src; /* what km_auth_logs() hands out */
    struct km_log_source base;
    const struct km_auth_id *id;
    struct km_matcher *cluster; /* km_auth_log_source()'s own */
};

/* The log source the request reads: `base` when it may read everything; otherwise a view
 * in *tmp, valid while tmp and the request are (sets selected through it stand on their
 * own). */
const struct km_log_source *km_auth_logs(const struct km_http_req *r,
                                         const struct km_log_source *base,
                                         struct km_auth_log_view *tmp);

/* The same for a reader that outlives the request (a tail): *out = *base when it may read
 * everything; otherwise a view of its own memory. Release with km_auth_log_source_fini().
 * KM_ENOMEM. */
int km_auth_log_source(const struct km_http_req *r, const struct km_log_source *base,
                       struct km_log_source *out);
void km_auth_log_source_fini(struct km_log_source *s);

#endif
