/*
 * push — one remote_write connection of the simulator: posts snappy-compressed
 * WriteRequests to a server over one keep-alive libcurl handle, retrying 429 and 503
 * (and network errors) with exponential backoff (100 ms doubling to 5 s, or the
 * server's Retry-After), at most `retries` times; counts what it sent and what it met.
 * One owner thread per pusher.
 */
#ifndef KMON_SIM_PUSH_H
#define KMON_SIM_PUSH_H

#include <stddef.h>
#include <stdint.h>

struct km_sim_push_stats {
    uint64_t requests, samples, bytes; /* delivered (2xx) */
    uint64_t throttled;                /* 429 and 503 answers (each retried) */
    uint64_t net_errors;               /* connection failures and timeouts (retried) */
    uint64_t rejected;                 /* other answers: the request is dropped */
    uint64_t dropped_samples;          /* of rejected requests and of those out of retries */
};

struct km_sim_push;

/* url borrowed for the pusher's life. 0 or KM_ENOMEM. */
int km_sim_push_create(struct km_sim_push **out, const char *url, unsigned retries);
void km_sim_push_destroy(struct km_sim_push *p);

/* Post one body of `samples` samples until delivered, refused or out of retries.
 * 0 when delivered, KM_EAGAIN when given up, KM_EINVAL when refused (message set). */
int km_sim_push_post(struct km_sim_push *p, const void *body, size_t len, uint32_t samples);

const struct km_sim_push_stats *km_sim_push_stats(const struct km_sim_push *p);

#endif
