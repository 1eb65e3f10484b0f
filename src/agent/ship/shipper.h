/*
 * shipper — delivers the agent's remote_write requests to a server, in order, at least
 * once: a sender thread posts them (one at a time, keep-alive), retries network errors,
 * 5xx and 429 with exponential backoff and jitter (honouring Retry-After), and drops
 * what the server refuses with another 4xx (logging its message). While the server
 * cannot be reached, requests go to the on-disk spool (spool.h), which is replayed
 * oldest first — before anything newer — once it can. Nothing is dropped silently:
 * every sample not delivered is counted.
 *
 * Threads: km_shipper_submit() from the collection thread, never blocking on the
 * network; the metrics from any thread; start/stop from the controlling thread.
 */
#ifndef KMON_AGENT_SHIP_SHIPPER_H
#define KMON_AGENT_SHIP_SHIPPER_H

#include <stddef.h>
#include <stdint.h>

struct km_mset;
struct km_httpc_auth;

struct km_ship_opts {
    const char *url; /* the remote_write endpoint */
    /* CA, client certificate and token file for every request (NULL: none); borrowed,
     * outlives the shipper. */
    struct km_httpc_auth *auth;
    const char *spool_dir; /* NULL or "": no spool (a bounded memory queue only) */
    uint64_t spool_max;    /* bytes */
    int64_t timeout_ms;    /* per request */
    int64_t backoff_min_ms, backoff_max_ms;
};

struct km_shipper;

/* Open the spool (replaying nothing yet) and start the sender. A spool that cannot be
 * opened is an error. */
int km_shipper_start(struct km_shipper **out, const struct km_ship_opts *o);

/* Queue one request (a snappy-compressed WriteRequest of `samples` samples); the body
 * is copied. */
void km_shipper_submit(struct km_shipper *sh, const void *body, size_t len, uint32_t samples);

/* kmon_agent_ship_* and kmon_agent_spool_* families. */
void km_shipper_metrics(struct km_shipper *sh, struct km_mset *m);

/* Deliver what is queued in memory for up to grace_ms, spool the rest, stop. Accepts
 * NULL. */
void km_shipper_stop(struct km_shipper *sh, int64_t grace_ms);

#endif
