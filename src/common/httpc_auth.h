/*
 * httpc_auth — how kmon's HTTP clients (the agent's shipper and log shipper, kmon query,
 * kmon logs, the server's remote_write forwarder) prove who they are and check whom they
 * talk to: the server's certificate verified against --ca-file (the system store when
 * none is given), a client certificate and key presented when configured (mutual TLS),
 * and "Authorization: Bearer <token>" from a token file re-read whenever it changes
 * (a rotated Secret), so a long-running agent never needs a restart for a new token.
 *
 * Threads: one object may serve several threads (the token is read under a lock).
 * Errors are returned (km_err_msg() says why), never printed; the token is never
 * logged.
 */
#ifndef KMON_COMMON_HTTPC_AUTH_H
#define KMON_COMMON_HTTPC_AUTH_H

#include <curl/curl.h>

struct km_httpc_auth_opts {
    const char *ca_file;    /* PEM CA bundle to verify the server with (NULL: system store) */
    const char *cert_file;  /* PEM client certificate (NULL: none) */
    const char *key_file;   /* its PEM key (NULL: in cert_file) */
    const char *token_file; /* the bearer token, one line (NULL: none) */
};

/* The help texts of the commands' flags of the same names (--ca-file, --cert-file,
 * --key-file, --token-file), so every client says the same. */
#define KM_HTTPC_HELP_CA_FILE                                                                      \
    "verify an https:// server against the CA certificate(s) in this PEM file (default: "          \
    "the system's trusted CAs)"
#define KM_HTTPC_HELP_CERT_FILE                                                                    \
    "present this PEM client certificate to the server (mutual TLS; with --key-file)"
#define KM_HTTPC_HELP_KEY_FILE "the PEM private key of --cert-file (default: in --cert-file)"
#define KM_HTTPC_HELP_TOKEN_FILE                                                                   \
    "send \"Authorization: Bearer <token>\" with the token in this file (one line); the file "     \
    "is re-read when it changes (a rotated Secret), no restart needed"

struct km_httpc_auth;

/* Check the files can be read (a bad one is KM_EINVAL/KM_EIO naming it). On success
 * *out is new. */
int km_httpc_auth_create(struct km_httpc_auth **out, const struct km_httpc_auth_opts *o);
/* Accepts NULL. */
void km_httpc_auth_destroy(struct km_httpc_auth *a);

/* Configure a curl handle for one request: CA, client certificate and key; and append
 * the Authorization header to *headers (the token file re-read first if it changed).
 * a may be NULL (nothing to do). The token file is looked at (one stat()) at most once a
 * second and re-read only when its inode, size or mtime changed. Returns 0, or an error
 * to log and go on with: the token file became unreadable, empty or holds a control
 * character — the header still carries the last good token, and the error is reported
 * once per change of the file; KM_ENOMEM: no header was added.
 * Built in the kmon_httpc library (kmon_common does not link libcurl). */
int km_httpc_auth_apply(struct km_httpc_auth *a, CURL *curl, struct curl_slist **headers);

/* One request's header list: a copy of base (which stays the caller's) with what
 * km_httpc_auth_apply() adds; the caller frees *out with curl_slist_free_all() once the
 * request is done. Same returns as km_httpc_auth_apply(); KM_ENOMEM leaves *out NULL. */
int km_httpc_auth_headers(struct km_httpc_auth *a, CURL *curl, const struct curl_slist *base,
                          struct curl_slist **out);

#endif
