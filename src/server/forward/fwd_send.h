/*
 * fwd_send — one remote_write POST to a destination over libcurl: the headers
 * remote_write 1.0 requires, the destination's TLS and token (common/httpc_auth.h), its
 * extra headers and timeout; and what the answer means for the request: delivered,
 * to be retried (connection errors, timeouts, 5xx, 429, with Retry-After), or rejected
 * (any other 4xx: sending it again cannot help).
 *
 * One per destination, used by its sender thread only.
 */
#ifndef KMON_SERVER_FORWARD_FWD_SEND_H
#define KMON_SERVER_FORWARD_FWD_SEND_H

#include "server/forward/fwd_config.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum km_fwd_outcome { KM_FWD_SENT, KM_FWD_RETRY, KM_FWD_REJECTED };

struct km_fwd_http;

/* `stop` aborts a request in flight when it becomes true. */
int km_fwd_http_create(struct km_fwd_http **out, const struct km_fwd_dest_cfg *d,
                       const atomic_bool *stop);
void km_fwd_http_destroy(struct km_fwd_http *h);

/* POST one snappy-compressed WriteRequest. *retry_after_ms is the wait the destination
 * asked for (Retry-After), 0 when none; why[] says what went wrong (status and the start
 * of the answer, or curl's error). */
enum km_fwd_outcome km_fwd_http_post(struct km_fwd_http *h, const void *body, size_t len,
                                     int64_t *retry_after_ms, char *why, size_t whysize);

#endif
