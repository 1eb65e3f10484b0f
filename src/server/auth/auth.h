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

#endif
