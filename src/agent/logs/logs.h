/*
 * logs — the node agent's log collection as the "logs" collector: its settings
 * (--logs, --logs-state-dir, --logs-max-line, --logs-multiline, --logs-batch-bytes,
 * --logs-url, --logs-encoding; KMON_LOGS_* and YAML like every setting), a sender thread
 * started at init when there is somewhere to ship to (logship.h over tailer.h), and its
 * counters on /metrics at each collection. `--disable-collectors logs` turns it off.
 *
 * Where to ship is the agent's (--server, --cluster, --ship-timeout): agent_main hands
 * it over with km_logs_set_target() before the collectors start. One agent per
 * process.
 */
#ifndef KMON_AGENT_LOGS_LOGS_H
#define KMON_AGENT_LOGS_LOGS_H

#include "agent/collector.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct km_httpc_auth;

struct km_logs_target {
    const char *server; /* the kmon server's base URL, or NULL */
    /* CA, client certificate and token file for every push (NULL: none); borrowed, it
     * outlives the agent's collectors. */
    struct km_httpc_auth *auth;
    const char *cluster; /* the cluster label */
    int64_t timeout_ms;  /* per push */
    bool run;            /* false for --once: settings are checked, nothing is started */
};

/* Copy where to ship (strings included); call before km_agent_start(). */
void km_logs_set_target(const struct km_logs_target *t);

/* Where the agent's own log lines go unless --logs-url says otherwise: the push endpoint
 * <--server>/loki/api/v1/push into url (size bytes), the cluster label and the push
 * timeout. False (nothing written) without --server, or for --once. The cluster mode's
 * Kubernetes Events go there too. */
bool km_logs_server_push(char *url, size_t size, const char **cluster, int64_t *timeout_ms);

/* The target's client credentials (NULL: none), for whoever pushes there. */
struct km_httpc_auth *km_logs_server_auth(void);

extern const struct km_collector_ops km_collector_logs;

#endif
