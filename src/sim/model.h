/*
 * model — the simulated cluster behind `kmon simulate`: nodes, namespaces, deployments
 * (each with its current ReplicaSet) and their pods with containers, and the churn a
 * real cluster shows, one step per round:
 *   - rollouts: a deployment's template changes (a new pod-template-hash); its pods are
 *     replaced a quarter of the replicas per round by new pods (new names and uids, so
 *     new series; the old ones go stale);
 *   - crash loops: a few pods have a container that restarts every `crash_period_s`
 *     (its restart count grows, its counters start again from zero);
 *   - node leaves and joins: a node leaves (its pods are rescheduled on the others as
 *     new pods) and comes back later under a new name (a replaced VM), empty until
 *     rollouts place pods on it again.
 * Everything comes from one xorshift generator seeded by --seed: the same seed, sizes
 * and number of steps give the same cluster. Counters and gauges are pure functions of
 * an object's identity and the time (series.c), so the model holds no per-series state.
 *
 * One owner, one thread (the simulator's controller); workers read it between steps.
 */
#ifndef KMON_SIM_MODEL_H
#define KMON_SIM_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KM_SIM_NAME_MAX       64
#define KM_SIM_MAX_CONTAINERS 3

struct km_sim_opts {
    uint64_t seed;
    unsigned nodes;              /* initial and target number of nodes */
    unsigned pods_per_node;      /* application pods per node */
    unsigned replicas;           /* pods per deployment */
    double rollouts_per_hour;    /* per deployment */
    double node_leaves_per_hour; /* per node */
    double crashloop_fraction;   /* of pods */
    int64_t node_away_s;         /* how long a node that left stays away */
    int64_t interval_s;          /* simulated seconds per step */
};

struct km_sim_node {
    char name[KM_SIM_NAME_MAX];
    char uid[40];
    uint64_t key;      /* identity for the value functions */
    int64_t created_s; /* joined */
    int64_t back_s;    /* when away: when it comes back */
    unsigned gen;      /* how many times it joined again */
    unsigned npods;
    bool present;
};

struct km_sim_deploy {
    char name[KM_SIM_NAME_MAX];
    char uid[40], rs_uid[40];
    char hash[16];     /* the current pod-template-hash */
    unsigned ns;       /* index into the namespaces */
    unsigned first, n; /* its pod slots */
    unsigned ncontainers;
    unsigned revision;
    unsigned rolling; /* replicas still to replace */
    int64_t created_s, rs_created_s;
    double cpu_request; /* cores per container */
    double mem_limit;   /* bytes per container */
};

struct km_sim_pod {
    char name[KM_SIM_NAME_MAX + 32]; /* <deployment>-<hash>-<5 characters> */
    char uid[40];
    uint64_t key;
    int64_t created_s;
    unsigned deploy, node;
    unsigned crash_period_s; /* 0: healthy; else its first container restarts this often */
    char hash[16];           /* the template it was made from */
};

struct km_sim_model {
    struct km_sim_opts o;
    uint64_t rng;
    int64_t now_s;
    uint64_t serial; /* pods made so far: names and uids */
    struct km_sim_node *node;
    unsigned nnodes;
    struct km_sim_deploy *deploy;
    unsigned ndeploy;
    struct km_sim_pod *pod;
    unsigned npods;
    unsigned nns;
    /* The pods of each node: by_node[node_first[i] .. node_first[i + 1]), rebuilt by
     * init and every step. */
    unsigned *by_node, *node_first;
    /* Churn so far. */
    uint64_t pods_created, rollouts, node_leaves, node_joins;
};

extern const char *const km_sim_namespaces[];
extern const unsigned km_sim_nnamespaces;

/* Build the cluster as it stands at start_s. KM_EINVAL for sizes out of range,
 * KM_ENOMEM. */
int km_sim_model_init(struct km_sim_model *m, const struct km_sim_opts *o, int64_t start_s);
void km_sim_model_fini(struct km_sim_model *m);

/* Advance to now_s (one round later): rollouts, node leaves and joins. */
void km_sim_model_step(struct km_sim_model *m, int64_t now_s);

/* The restarts of pod p's first container at now_s, and when it last started. */
unsigned km_sim_pod_restarts(const struct km_sim_pod *p, int64_t now_s, int64_t *started_s);

/* Deterministic helpers shared with series.c. */
static inline uint64_t km_sim_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* A number in [0, 1) from a key. */
static inline double km_sim_unit(uint64_t key)
{
    return (double)(km_sim_mix(key) >> 11) * (1.0 / 9007199254740992.0);
}

#endif
