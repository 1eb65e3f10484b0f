/*
 * fwd_dest — one forwarding destination: its relabelling, its bounded in-memory queue
 * fed by ingest, its disk spool (DATA/forward/<name>/) and its sender thread.
 *
 * Order is kept from ingest to the destination: the sender sends from the queue while
 * the spool is empty; a request that fails goes to the spool (then the oldest thing
 * waiting), and while the spool holds anything, or the queue is half full, the queue
 * is moved to the spool's end and the spool is sent, oldest first, with exponential
 * backoff between failures. Only the sender touches the spool. Ingest never waits on
 * the network or the disk: at capacity (the sender stuck in a request for its whole
 * timeout) new samples are dropped and counted.
 *
 * On stop the request in flight is abandoned and everything still waiting goes to the
 * spool, which the next start sends first.
 */
#ifndef KMON_SERVER_FORWARD_FWD_DEST_H
#define KMON_SERVER_FORWARD_FWD_DEST_H

#include "server/forward/fwd_config.h"
#include "storage/sample.h"

#include <stddef.h>
#include <stdint.h>

struct km_fwd_dest;
struct km_mset;
struct km_relabel_scratch;

/* Open the spool in dir (created) holding at most spool_max bytes, and start the
 * sender. d is borrowed for the destination's life. */
int km_fwd_dest_start(struct km_fwd_dest **out, const struct km_fwd_dest_cfg *d, const char *dir,
                      uint64_t spool_max);
/* Stop the sender, spool what waits. Accepts NULL. */
void km_fwd_dest_stop(struct km_fwd_dest *q);

/* Relabel and enqueue the samples s[0..n) (with st, only those KM_SAMPLE_APPENDED):
 * any thread; never blocks on I/O. */
void km_fwd_dest_push(struct km_fwd_dest *q, const struct km_sample *s, size_t n,
                      const enum km_sample_status *st, struct km_relabel_scratch *sc);

/* Add this destination's figures to the kmon_forward_* families (created by the
 * caller; their indexes in fam[]). */
enum {
    KM_FWD_F_SENT,
    KM_FWD_F_FAILED,
    KM_FWD_F_DROPPED,
    KM_FWD_F_RETRIES,
    KM_FWD_F_QUEUE,
    KM_FWD_F_QUEUE_CAP,
    KM_FWD_F_SPOOL_BYTES,
    KM_FWD_F_SPOOL_SAMPLES,
    KM_FWD_F_LAST_SEND,
    KM_FWD_F_HIGHEST_SENT,
    KM_FWD_F_HIGHEST_QUEUED,
    KM_FWD_F_COUNT
};
void km_fwd_dest_metrics(struct km_fwd_dest *q, struct km_mset *m, const int *fam);

#endif
