/*
 * model — the prototype's view of a cluster (nodes, pods, namespaces, deployments), asked
 * of the PromQL engine: the queries of seed_queries.c with their placeholders filled in,
 * sent together as one query (one querier, one consistent view of the store) and the
 * answers gathered per object. Nothing here computes a figure; docs/api.md lists the
 * queries.
 *
 * Each query of the request is tagged with a `kmon_part` label (label_replace) and the
 * tagged queries are joined with `or`: every object's answers come back as series
 * labelled with its identity and the part they answer.
 *
 * The rate window is chosen as Grafana's $__rate_interval is, with a floor: for a step
 * of s (0 for the current figures) and the senders' sampling interval S (the server's
 * --scrape-interval), max(s + S, 4 × S, 1m): at least four samples, a step's increase
 * never falling between two windows, and a minute of samples for the current figures
 * even from agents that sample every second.
 *
 * Threads: pure functions over the store; callers may run them concurrently.
 */
#ifndef KMON_SERVER_MODEL_H
#define KMON_SERVER_MODEL_H

#include "common/buf.h"
#include "promql/eval.h"
#include "seed_queries.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a request is about (the placeholders' filters); NULL fields match anything. */
struct km_filter {
    const char *node;      /* nodes: the node; pods: those whose series name this node */
    const char *namespace; /* pods, namespaces, deployments */
    const char *pod;
};

struct km_model_params {
    struct km_filter f;
    int64_t rate_window_ms; /* km_model_rate_window() */
};

/* Which figures of which levels to ask: bits (1ull << enum km_seed_fig) per level. */
struct km_model_ask {
    uint64_t figs[KM_SEED_LEVELS];
};
_Static_assert(KM_SEED_FIGS < 64, "a level's figures are bits of a uint64_t");

/* One object and its answers. */
struct km_entity {
    char *name;               /* node, pod, namespace or deployment */
    char *namespace;          /* pods and deployments; NULL otherwise */
    char *node;               /* pods: their node (NULL when no series says) */
    char *deployment;         /* pods: their deployment (NULL when none) */
    char *cluster;            /* nodes and pods: NULL when no series says */
    char *text[KM_SEED_FIGS]; /* a text figure's answer (its query's label), or NULL */
    bool has[KM_SEED_FIGS];
    double v[KM_SEED_FIGS];      /* an instant query's answers */
    double *steps[KM_SEED_FIGS]; /* a range query's: one value per step, NaN where none */
};

struct km_entities {
    struct km_entity *v; /* sorted by (namespace, name) */
    size_t n;
};

/* The answers, per level. */
struct km_model {
    struct km_entities level[KM_SEED_LEVELS];
    struct km_pq_grid grid; /* the steps of a range query */
};

void km_model_fini(struct km_model *m);

/* The rate window for a step (0: the current figures) and a sampling interval. */
int64_t km_model_rate_window(int64_t step_ms, int64_t scrape_ms);

/* Append query q with its placeholders filled in from p. KM_EINVAL for a placeholder
 * the table should not have, KM_ENOMEM. */
int km_model_expand(struct km_buf *out, const struct km_seed_query *q,
                    const struct km_model_params *p);

/* Append the one query that asks everything in `ask`. */
int km_model_compose(struct km_buf *out, const struct km_model_ask *ask,
                     const struct km_model_params *p);

/* Ask at time t (ms). On success *out holds the objects that answered (free it with
 * km_model_fini()); errors are the engine's (km_err_msg() says why). */
int km_model_instant(struct km_storage *store, const struct km_pq_opts *o,
                     const struct km_model_ask *ask, const struct km_model_params *p, int64_t t,
                     struct km_model *out);

/* Ask at every step of grid g. */
int km_model_range(struct km_storage *store, const struct km_pq_opts *o,
                   const struct km_model_ask *ask, const struct km_model_params *p,
                   const struct km_pq_grid *g, struct km_model *out);

/* The object of a level with this namespace (NULL for nodes and namespaces) and name,
 * or NULL. */
const struct km_entity *km_model_find(const struct km_model *m, enum km_seed_level level,
                                      const char *namespace, const char *name);

#endif
