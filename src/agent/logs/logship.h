/*
 * logship — the agent's log sender: a thread that scans and reads the log files
 * (tailer.h), posts each batch to a Loki push endpoint (kmon's /loki/api/v1/push) and
 * acknowledges it to the tailer once the server answered 2xx, then checkpoints the
 * positions at most every checkpoint interval (and when stopping).
 *
 * One batch at a time: while a batch cannot be delivered (network error, 5xx, 429) it is
 * retried with exponential backoff and jitter, and nothing more is read — the files on
 * disk are the buffer, so an outage costs no memory and loses nothing the kubelet keeps.
 * A 4xx other than 429 is final: the batch is dropped and counted, and the server's
 * message logged at most once a minute, as metrics shipping does (the request and its
 * classification: lokipost.h, shared with the cluster mode's Kubernetes Events).
 *
 * Threads: start/stop from the controlling thread; metrics from any thread.
 */
#ifndef KMON_AGENT_LOGS_LOGSHIP_H
#define KMON_AGENT_LOGS_LOGSHIP_H

#include "agent/logs/tailer.h"
#include "common/mset.h"

#include <stdbool.h>
#include <stdint.h>

struct km_httpc_auth;

struct km_logship_opts {
    const char *url;            /* the push endpoint */
    struct km_httpc_auth *auth; /* CA, client certificate, token (NULL: none; borrowed) */
    bool json;                  /* send Loki's JSON form instead of snappy protobuf (debugging) */
    int64_t timeout_ms;
    int64_t backoff_min_ms, backoff_max_ms;
    int64_t poll_ms;       /* wait when nothing new was read (250 ms) */
    int64_t scan_ms;       /* directory rescans (1 s) */
    int64_t checkpoint_ms; /* positions written at most this often (1 s) */
};

struct km_logship;

/* Start the thread over tailer t (which must outlive the sender). */
int km_logship_start(struct km_logship **out, struct km_tailer *t, const struct km_logship_opts *o);

/* kmon_agent_logs_ship_* families. */
void km_logship_metrics(struct km_logship *s, struct km_mset *m);

/* Stop: a delivery in flight is abandoned after grace_ms (its lines are read again
 * after the restart); the acknowledged positions are checkpointed. Accepts NULL. */
void km_logship_stop(struct km_logship *s, int64_t grace_ms);

#endif
