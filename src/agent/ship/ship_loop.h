/*
 * ship_loop — the running agent's loop: collect every interval on the monotonic clock
 * (missed ticks skipped, never bunched) and, when shipping is configured, hand each
 * collection to the shipper as one remote_write request. The families' metadata (TYPE,
 * HELP) rides along with the first collection and then once per metadata interval, as
 * Prometheus' remote_write sends metadata (every minute by default), not with every
 * batch. Used by `kmon agent` and by `kmon demo`.
 */
#ifndef KMON_AGENT_SHIP_SHIP_LOOP_H
#define KMON_AGENT_SHIP_SHIP_LOOP_H

#include "agent/runtime.h"
#include "agent/ship/shipper.h"

#include <stdint.h>

struct km_ship_setup {
    const char *url;  /* NULL: do not ship */
    const char *node; /* identity labels added to every series */
    const char *cluster;
    int64_t metadata_interval_ms; /* send the families' metadata this often (0: never) */
    struct km_ship_opts ship;
};

struct km_ship_loop;

/* Prepare shipping for agent a (encoder, shipper with its spool, health counters). */
int km_ship_loop_create(struct km_ship_loop **out, struct km_agent *a,
                        const struct km_ship_setup *s);

/* Collect every interval_ms until a shutdown signal; returns its number. */
int km_ship_loop_run(struct km_ship_loop *l, int64_t interval_ms);

/* Stop shipping (grace_ms to deliver what is in memory; the rest is spooled). Accepts
 * NULL. */
void km_ship_loop_destroy(struct km_ship_loop *l, int64_t grace_ms);

#endif
