/*
 * runtime — the node agent's engine: it owns the collector instances, runs a collection
 * across all of them, keeps the last good reading of each for readers, and renders what
 * it holds as Prometheus text or as the prototype's JSON node snapshot.
 *
 * Threads: km_agent_collect() runs on one thread (the main loop); the render functions
 * may run concurrently on others (the HTTP server). Each collector writes into a private
 * scratch set; the swap into the published slot happens under the agent's mutex, so a
 * reader always sees complete collections.
 *
 * Life cycle: create (allocates collector contexts), km_agent_cfg_sections() (their
 * settings join the command's config table), parse the config, start (init each
 * enabled collector), collect / render as often as needed, destroy.
 */
#ifndef KMON_AGENT_RUNTIME_H
#define KMON_AGENT_RUNTIME_H

#include "agent/collector.h"
#include "common/buf.h"
#include "common/cfg.h"
#include "common/mset.h"

#include <stddef.h>
#include <stdint.h>

struct km_agent;

/* The node's name: `given` when set (--node-name), else the host name. */
void km_agent_node_name(const char *given, char *out, size_t size);

int km_agent_create(struct km_agent **out, const struct km_collector_ops *const *collectors);

/* Append one config section per collector that has settings to sections[*n..max). */
void km_agent_cfg_sections(struct km_agent *a, struct km_cfg_section *sections, size_t *n,
                           size_t max);

/* Init every collector not named in `disabled` (a comma-separated list, may be NULL).
 * A collector whose settings are invalid (init returns KM_EINVAL) fails the start; one
 * whose init fails otherwise is disabled with a warning. An unknown name in `disabled`
 * is an error. `host` must outlive the agent. */
int km_agent_start(struct km_agent *a, const struct km_host *host, const char *disabled);

/* Run every enabled collector once and publish the results. */
void km_agent_collect(struct km_agent *a);

/* Prometheus text 0.0.4 of the last collection, the agent's own health and process_*,
 * then the collectors' views (collector.h), whole into out. 0 or a negative code. */
int km_agent_render_prom(struct km_agent *a, struct km_buf *out);

/* The same in steps, for a streamed /metrics: step appends the next part to out and
 * returns 1 while more follows, 0 at the end, or a negative code. The agent and its
 * collectors must outlive the view. */
struct km_agent_view;
int km_agent_view_begin(struct km_agent *a, struct km_agent_view **out);
int km_agent_view_step(struct km_agent_view *v, struct km_buf *out);
void km_agent_view_end(struct km_agent_view *v);

/* The prototype's node snapshot (node_name, cpu_millicores, memory_bytes, disk_io,
 * network_io, timestamp) followed by "metrics": every family. */
void km_agent_render_json(struct km_agent *a, struct km_buf *out);

/* Add families to the agent's own health set at each collection (the shipper's
 * counters); fn runs on the collection thread. */
typedef void (*km_agent_health_fn)(void *ud, struct km_mset *m);
void km_agent_set_health_hook(struct km_agent *a, km_agent_health_fn fn, void *ud);

/* Give collectors a way to ship parts of a collection at once (km_collect.ship); fn
 * runs on the collection thread. */
void km_agent_set_ship_hook(struct km_agent *a, int (*fn)(void *ud, const struct km_mset *part),
                            void *ud);

/* Call fn with every published set of the last collection (the collectors' and the
 * agent's health), under the agent's lock: the sets and their strings are valid during
 * the call only. */
typedef void (*km_agent_sets_fn)(void *ud, const struct km_mset *const *sets, size_t n);
void km_agent_with_sets(struct km_agent *a, km_agent_sets_fn fn, void *ud);

/* The number of enabled, initialised collectors. */
size_t km_agent_ncollectors(const struct km_agent *a);

void km_agent_destroy(struct km_agent *a);

#endif
