/*
 * spool — the agent's bounded on-disk queue of remote_write requests, kept while the
 * server cannot be reached and replayed oldest first once it can. It survives the
 * agent's restart (and a crash: a record cut short is found and dropped), and at its
 * size bound drops the oldest requests, counting their samples.
 *
 * Files in the spool directory (byte layout in spool.c and docs/internals/agent.md):
 *   <16-digit sequence>.spool   segments: a header, then records (one request each)
 *   cursor                      how far the oldest segment has been sent
 *
 * One owner; not thread-safe (the shipper serialises access).
 */
#ifndef KMON_AGENT_SHIP_SPOOL_H
#define KMON_AGENT_SHIP_SPOOL_H

#include "common/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct km_spool;

/* Open (creating dir if needed) with room for max_bytes of requests. Records already
 * there are kept in order; a torn or damaged record ends its segment. */
int km_spool_open(struct km_spool **out, const char *dir, uint64_t max_bytes);
/* Accepts NULL. */
void km_spool_close(struct km_spool *s);

/* Append one request (fsynced before returning). To stay within the bound, whole
 * oldest segments are deleted first; the samples they still held are added to
 * *dropped. */
int km_spool_push(struct km_spool *s, const void *body, size_t len, uint32_t samples,
                  uint64_t *dropped);

bool km_spool_empty(const struct km_spool *s);

/* The oldest request into out (replacing its contents) and its sample count.
 * KM_ENOTFOUND when the spool is empty. A damaged record is skipped (logged; its
 * samples counted into *dropped when known) and the next one returned. */
int km_spool_peek(struct km_spool *s, struct km_buf *out, uint32_t *samples, uint64_t *dropped);

/* Forget the oldest request (it was delivered). */
int km_spool_pop(struct km_spool *s);

struct km_spool_stats {
    uint64_t bytes;    /* on disk */
    uint64_t requests; /* waiting */
    uint64_t samples;  /* in the waiting requests */
};

void km_spool_stats(const struct km_spool *s, struct km_spool_stats *st);

#endif
