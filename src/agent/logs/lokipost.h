/*
 * lokipost — one HTTP client posting bodies to a Loki push endpoint (kmon's
 * /loki/api/v1/push), shared by the agent's log sender (logship.h) and the cluster
 * mode's Kubernetes Events sink: the request, the classification of its answer (2xx
 * sent; network error, 5xx and 429 retry; any other 4xx rejected for good), the
 * server's Retry-After, and the rejection's warning at most once a minute with the
 * server's sentence.
 *
 * Threads: one owner at a time (the sender's thread); km_lokipost_open/close from any.
 */
#ifndef KMON_AGENT_LOGS_LOKIPOST_H
#define KMON_AGENT_LOGS_LOKIPOST_H

#include "common/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KM_LOKIPOST_WHY 2112 /* size of the `why` of km_lokipost_send (reply + status) */

enum km_lokipost_result { KM_LOKIPOST_SENT, KM_LOKIPOST_RETRY, KM_LOKIPOST_REJECTED };

struct km_httpc_auth;

struct km_lokipost_opts {
    const char *url; /* the push endpoint (copied) */
    /* CA, client certificate and token file (NULL: none); borrowed, outlives the
     * client. */
    struct km_httpc_auth *auth;
    bool json; /* Content-Type application/json instead of x-protobuf */
    int64_t timeout_ms;
    /* NULL, or polled during a request: true abandons it (a RETRY). */
    bool (*abort)(void *ud);
    void *abort_ud;
};

struct km_lokipost;

/* On success *out is new; free it with km_lokipost_close(). */
int km_lokipost_open(struct km_lokipost **out, const struct km_lokipost_opts *o);

/* POST body. *status is the HTTP status (0 without an answer); `why` (KM_LOKIPOST_WHY
 * bytes) receives a sentence for a log line: the curl error or "HTTP <status>: <reply>". */
enum km_lokipost_result km_lokipost_send(struct km_lokipost *p, const struct km_buf *body,
                                         long *status, char *why);

/* The server's Retry-After of the last answer in ms, 0 when none. */
int64_t km_lokipost_retry_after_ms(const struct km_lokipost *p);

/* The last answer was a rejection of `lines` lines of `what` ("log lines"): warn with
 * the server's sentence, at most once a minute (counting the rejections in between). */
void km_lokipost_log_rejected(struct km_lokipost *p, long status, uint64_t lines, const char *what);

const char *km_lokipost_url(const struct km_lokipost *p);

/* Accepts NULL. */
void km_lokipost_close(struct km_lokipost *p);

#endif
