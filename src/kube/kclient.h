/*
 * kclient — requests to the Kubernetes API over libcurl: GETs of whole bodies (lists,
 * single objects; capped) and streams (watches, handed over chunk by chunk as they
 * arrive), and writes with a JSON body (POST, PUT: a leader election's Lease).
 * Every request sends the bearer token read afresh (rotation), verifies the server with
 * the configured CA, and can be cut short by the owner's stop flag. One thread.
 */
#ifndef KMON_KUBE_KCLIENT_H
#define KMON_KUBE_KCLIENT_H

#include "common/buf.h"
#include "kconfig.h"

#include <curl/curl.h>
#include <stdatomic.h>
#include <stddef.h>

struct km_kube_client {
    CURL *curl;
    const struct km_kube_config *cfg;
    const atomic_bool *stop;
    char errbuf[CURL_ERROR_SIZE];
    /* The current request. */
    struct km_buf *body;
    int (*fn)(void *ud, const char *data, size_t n);
    void *ud;
    int fn_rc;
    long status;
};

int km_kube_client_init(struct km_kube_client *k, const struct km_kube_config *cfg,
                        const atomic_bool *stop);

/* GET `path` (with its query) into `out`. *status is the HTTP status (0: no answer).
 * Returns 0 when an answer came (whatever its status), else KM_EIO with a sentence
 * (connection refused, TLS failure, timeout, stopped, body over out's cap). */
int km_kube_get(struct km_kube_client *k, const char *path, struct km_buf *out, long timeout_s,
                long *status);

/* `method` ("POST", "PUT") `path` with the JSON `body` (len bytes, sent as
 * Content-Type: application/json); the answer into `out`. Results as km_kube_get. A NULL
 * method is a GET without a body. */
int km_kube_send(struct km_kube_client *k, const char *method, const char *path, const char *body,
                 size_t len, struct km_buf *out, long timeout_s, long *status);

/* GET `path` as a stream: a 2xx body is given to fn as it arrives (fn returning non-zero
 * ends the request, and that code is returned); another status's body goes to `errbody`.
 * Returns when the server ends the response, after `timeout_s`, on a transport error
 * (KM_EIO) or when stopped. */
int km_kube_stream(struct km_kube_client *k, const char *path, long timeout_s,
                   int (*fn)(void *ud, const char *data, size_t n), void *ud,
                   struct km_buf *errbody, long *status);

void km_kube_client_fini(struct km_kube_client *k);

/* The message of a Status object in b (an error answer's body), for logs: into out,
 * "no message" when there is none. Returns out. */
const char *km_kube_status_message(const struct km_buf *b, char *out, size_t size);

#endif
