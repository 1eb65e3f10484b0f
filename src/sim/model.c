/*
 * model — the simulated cluster and its churn (see model.h).
 */
#include "sim/model.h"

#include "common/err.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const km_sim_namespaces[] = {
    "kube-system", "monitoring", "ingress",  "payments", "checkout", "catalog",    "search",
    "accounts",    "orders",     "shipping", "billing",  "media",    "ml-serving", "analytics",
    "auth",        "gateway",    "cache",    "queue",    "reports",  "staging",
};
const unsigned km_sim_nnamespaces = sizeof(km_sim_namespaces) / sizeof(km_sim_namespaces[0]);

static const char *const words[] = { "api",    "web",   "worker", "frontend", "backend",
                                     "cron",   "proxy", "stream", "indexer",  "render",
                                     "notify", "sync",  "ledger", "feed",     "export" };
#define NWORDS (sizeof(words) / sizeof(words[0]))

/* The alphabet Kubernetes uses for generated name suffixes. */
static const char safe[] = "bcdfghjklmnpqrstvwxz2456789";

static uint64_t next(struct km_sim_model *m)
{
    m->rng = km_sim_mix(m->rng);
    return m->rng;
}

/* True with probability p. */
static bool chance(struct km_sim_model *m, double p)
{
    return km_sim_unit(next(m)) < p;
}

static void suffix(uint64_t x, char *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out[i] = safe[x % (sizeof(safe) - 1)];
        x /= sizeof(safe) - 1;
    }
    out[n] = '\0';
}

static void make_uid(uint64_t a, char out[40])
{
    uint64_t b = km_sim_mix(a ^ 0x5bd1e995u);

    snprintf(out, 40, "%08x-%04x-4%03x-a%03x-%012llx", (unsigned)(a >> 32),
             (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff, (unsigned)(b >> 52),
             (unsigned long long)(b & 0xffffffffffffull));
}

static void new_template(struct km_sim_model *m, struct km_sim_deploy *d)
{
    char h[11];

    suffix(next(m), h, 10);
    snprintf(d->hash, sizeof(d->hash), "%s", h);
    make_uid(next(m), d->rs_uid);
    d->revision++;
    d->rs_created_s = m->now_s;
}

/* The node a new pod of slot i goes to: its home node when present, else the next
 * present one (the model keeps at least one node present). */
static unsigned place(const struct km_sim_model *m, unsigned slot)
{
    unsigned k = slot % m->nnodes;

    for (unsigned i = 0; i < m->nnodes; i++) {
        unsigned n = (k + i) % m->nnodes;

        if (m->node[n].present)
            return n;
    }
    return k;
}

/* Slot i gets a new pod (a new name, uid and series) created now. */
static void make_pod(struct km_sim_model *m, unsigned i)
{
    struct km_sim_pod *p = &m->pod[i];
    const struct km_sim_deploy *d = &m->deploy[p->deploy];
    uint64_t k = km_sim_mix(m->o.seed ^ (++m->serial * 0x100000001b3ull));
    char sfx[6];

    if (p->name[0] && m->node[p->node].npods)
        m->node[p->node].npods--;
    suffix(k, sfx, 5);
    snprintf(p->name, sizeof(p->name), "%s-%s-%s", d->name, d->hash, sfx);
    snprintf(p->hash, sizeof(p->hash), "%s", d->hash);
    make_uid(km_sim_mix(k), p->uid);
    p->key = k;
    p->created_s = m->now_s;
    p->node = place(m, i);
    m->node[p->node].npods++;
    p->crash_period_s = km_sim_unit(k ^ 0xc4a5) < m->o.crashloop_fraction
                            ? 60 + (unsigned)(km_sim_unit(k ^ 0x77) * 240)
                            : 0;
    m->pods_created++;
}

static void name_node(struct km_sim_model *m, unsigned i)
{
    struct km_sim_node *n = &m->node[i];

    if (n->gen)
        snprintf(n->name, sizeof(n->name), "sim-node-%05u-%u", i, n->gen);
    else
        snprintf(n->name, sizeof(n->name), "sim-node-%05u", i);
    n->key = km_sim_mix(m->o.seed ^ ((uint64_t)i << 20) ^ n->gen);
    make_uid(n->key, n->uid);
    n->created_s = m->now_s;
    n->present = true;
}

/* The pods of each node, in slot order (a counting sort). */
static void index_nodes(struct km_sim_model *m)
{
    memset(m->node_first, 0, (m->nnodes + 1) * sizeof(*m->node_first));
    for (unsigned p = 0; p < m->npods; p++)
        m->node_first[m->pod[p].node + 1]++;
    for (unsigned i = 0; i < m->nnodes; i++)
        m->node_first[i + 1] += m->node_first[i];
    for (unsigned i = 0; i < m->nnodes; i++)
        m->node[i].npods = m->node_first[i + 1] - m->node_first[i];
    for (unsigned p = 0; p < m->npods; p++)
        m->by_node[m->node_first[m->pod[p].node] + --m->node[m->pod[p].node].npods] = p;
    for (unsigned i = 0; i < m->nnodes; i++)
        m->node[i].npods = m->node_first[i + 1] - m->node_first[i];
}

int km_sim_model_init(struct km_sim_model *m, const struct km_sim_opts *o, int64_t start_s)
{
    unsigned total;

    memset(m, 0, sizeof(*m));
    if (o->nodes < 1 || o->nodes > 100000)
        return km_err_set(KM_EINVAL, "--nodes must be between 1 and 100000 (got %u)", o->nodes);
    if (o->pods_per_node < 1 || o->pods_per_node > 1000)
        return km_err_set(KM_EINVAL, "--pods-per-node must be between 1 and 1000 (got %u)",
                          o->pods_per_node);
    if (o->replicas < 1 || o->replicas > 1000)
        return km_err_set(KM_EINVAL, "replicas per deployment must be between 1 and 1000");
    if (o->interval_s < 1)
        return km_err_set(KM_EINVAL, "the interval must be at least 1s");
    m->o = *o;
    m->rng = km_sim_mix(o->seed ^ 0x6b6d6f6eull);
    m->now_s = start_s;
    total = o->nodes * o->pods_per_node;
    m->nnodes = o->nodes;
    m->npods = total;
    m->ndeploy = (total + o->replicas - 1) / o->replicas;
    m->nns = km_sim_nnamespaces;
    m->node = calloc(m->nnodes, sizeof(*m->node));
    m->deploy = calloc(m->ndeploy, sizeof(*m->deploy));
    m->pod = calloc(m->npods, sizeof(*m->pod));
    m->by_node = calloc(m->npods, sizeof(*m->by_node));
    m->node_first = calloc(m->nnodes + 1, sizeof(*m->node_first));
    if (!m->node || !m->deploy || !m->pod || !m->by_node || !m->node_first) {
        km_sim_model_fini(m);
        return km_err_set(KM_ENOMEM, "out of memory for %u pods", total);
    }
    for (unsigned i = 0; i < m->nnodes; i++) {
        name_node(m, i);
        m->node[i].created_s = start_s - 86400 * (1 + (int64_t)(km_sim_unit(m->node[i].key) * 60));
    }
    for (unsigned d = 0; d < m->ndeploy; d++) {
        struct km_sim_deploy *dp = &m->deploy[d];
        uint64_t k = next(m);
        double u = km_sim_unit(k ^ 3);

        dp->ns = d % m->nns;
        snprintf(dp->name, sizeof(dp->name), "%s-%s-%u", words[k % NWORDS],
                 words[(k >> 8) % NWORDS], d);
        make_uid(next(m), dp->uid);
        dp->first = d * o->replicas;
        dp->n = dp->first + o->replicas <= total ? o->replicas : total - dp->first;
        dp->ncontainers = u < 0.7 ? 1 : u < 0.95 ? 2 : 3;
        dp->cpu_request = 0.05 * (1 + (k >> 16) % 10);
        dp->mem_limit = (double)(64ull << 20) * (double)(1 + (k >> 24) % 16);
        dp->created_s = start_s - 3600 * (1 + (int64_t)((k >> 32) % 2000));
        m->now_s = dp->created_s;
        new_template(m, dp);
        m->now_s = start_s;
        for (unsigned i = dp->first; i < dp->first + dp->n; i++) {
            m->pod[i].deploy = d;
            make_pod(m, i);
            m->pod[i].created_s = dp->rs_created_s + (int64_t)(km_sim_unit(m->pod[i].key) * 600);
        }
    }
    m->pods_created = 0;
    index_nodes(m);
    return 0;
}

void km_sim_model_fini(struct km_sim_model *m)
{
    free(m->node);
    free(m->deploy);
    free(m->pod);
    free(m->by_node);
    free(m->node_first);
    memset(m, 0, sizeof(*m));
}

static unsigned present_nodes(const struct km_sim_model *m)
{
    unsigned n = 0;

    for (unsigned i = 0; i < m->nnodes; i++)
        n += m->node[i].present;
    return n;
}

/* Node i leaves: its pods are made again elsewhere. */
static void leave(struct km_sim_model *m, unsigned i)
{
    m->node[i].present = false;
    m->node[i].back_s = m->now_s + m->o.node_away_s;
    m->node_leaves++;
    for (unsigned p = 0; p < m->npods; p++) {
        if (m->pod[p].node == i)
            make_pod(m, p);
    }
    m->node[i].npods = 0;
}

void km_sim_model_step(struct km_sim_model *m, int64_t now_s)
{
    double dt_h = (double)(now_s - m->now_s) / 3600.0;
    double p_roll = 1.0 - exp(-m->o.rollouts_per_hour * dt_h);
    double p_leave = 1.0 - exp(-m->o.node_leaves_per_hour * dt_h);

    m->now_s = now_s;
    for (unsigned i = 0; i < m->nnodes; i++) {
        struct km_sim_node *n = &m->node[i];

        if (!n->present && now_s >= n->back_s) {
            n->gen++;
            name_node(m, i);
            m->node_joins++;
        } else if (n->present && chance(m, p_leave) && present_nodes(m) > 1) {
            leave(m, i);
        }
    }
    for (unsigned d = 0; d < m->ndeploy; d++) {
        struct km_sim_deploy *dp = &m->deploy[d];
        unsigned step = (dp->n + 3) / 4; /* maxSurge 25% */

        if (!dp->rolling && chance(m, p_roll)) {
            new_template(m, dp);
            dp->rolling = dp->n;
            m->rollouts++;
        }
        for (; dp->rolling && step; step--, dp->rolling--)
            make_pod(m, dp->first + dp->n - dp->rolling);
    }
    index_nodes(m);
}

unsigned km_sim_pod_restarts(const struct km_sim_pod *p, int64_t now_s, int64_t *started_s)
{
    int64_t age = now_s - p->created_s;
    unsigned r;

    if (!p->crash_period_s || age < 0) {
        *started_s = p->created_s;
        return 0;
    }
    r = (unsigned)(age / p->crash_period_s);
    *started_s = p->created_s + (int64_t)r * p->crash_period_s;
    return r;
}
