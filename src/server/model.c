/*
 * model — nodes and pods from the stored series (see model.h).
 *
 * Two passes over the series of each source metric (a table per kind, below):
 *   1. labels only: group series into entities (nodes or pods) and note, per figure,
 *      which sources are present (priority: the agent's counters before the JSON
 *      gauges; for pods, the pod's own cgroup before its containers, before "POD");
 *   2. samples: evaluate only the chosen sources and add them up per entity (the newest
 *      figures) or into the caller's per-figure step arrays (time series).
 */
#include "model.h"

#include "common/array.h"
#include "common/err.h"
#include "common/labels.h"
#include "storage/storage.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum src_kind {
    SRC_COUNTER,  /* a monotonic counter: rates */
    SRC_GAUGE,    /* a reading */
    SRC_INTERVAL, /* bytes during the interval ending at the sample (JSON senders) */
};

struct spec {
    const char *metric;
    enum km_fig fig;
    enum src_kind kind;
    int prio;       /* 0 preferred */
    double scale;   /* cpu seconds → millicores */
    double sign;    /* memory: total - available */
    unsigned part;  /* bit of this source in a figure made of several */
    unsigned need;  /* bits a figure needs from its sources of this priority */
    bool container; /* pod series: prefer container="" (see model.h) */
    enum km_match_type xtype;
    const char *xname, *xvalue; /* an extra matcher, or NULL */
};

/* metric, figure, kind, priority, scale, sign, part, need, container rule, extra matcher */
#define SPEC(m, f, k, p, sc, sg, pt, nd, ct, xt, xn, xv)                                           \
    {                                                                                              \
        .metric = m, .fig = f, .kind = k, .prio = p, .scale = sc, .sign = sg, .part = pt,          \
        .need = nd, .container = ct, .xtype = xt, .xname = xn, .xvalue = xv                        \
    }
#define SIMPLE(m, f, k, p, ct) SPEC(m, f, k, p, 1, 1, 1, 1, ct, KM_MATCH_EQ, NULL, NULL)

static const struct spec node_specs[] = {
    SPEC("node_cpu_seconds_total", KM_FIG_CPU, SRC_COUNTER, 0, 1000, 1, 1, 1, false, KM_MATCH_NRE,
         "mode", "idle|iowait"),
    SIMPLE("kmon_node_cpu_millicores", KM_FIG_CPU, SRC_GAUGE, 1, false),
    SPEC("node_memory_MemTotal_bytes", KM_FIG_MEM, SRC_GAUGE, 0, 1, 1, 1, 3, false, KM_MATCH_EQ,
         NULL, NULL),
    SPEC("node_memory_MemAvailable_bytes", KM_FIG_MEM, SRC_GAUGE, 0, 1, -1, 2, 3, false,
         KM_MATCH_EQ, NULL, NULL),
    SIMPLE("kmon_node_memory_bytes", KM_FIG_MEM, SRC_GAUGE, 1, false),
    SIMPLE("node_disk_read_bytes_total", KM_FIG_DISK_R, SRC_COUNTER, 0, false),
    SIMPLE("kmon_node_disk_read_bytes", KM_FIG_DISK_R, SRC_INTERVAL, 1, false),
    SIMPLE("node_disk_written_bytes_total", KM_FIG_DISK_W, SRC_COUNTER, 0, false),
    SIMPLE("kmon_node_disk_written_bytes", KM_FIG_DISK_W, SRC_INTERVAL, 1, false),
    SPEC("node_network_receive_bytes_total", KM_FIG_NET_R, SRC_COUNTER, 0, 1, 1, 1, 1, false,
         KM_MATCH_NEQ, "device", "lo"),
    SIMPLE("kmon_node_network_receive_bytes", KM_FIG_NET_R, SRC_INTERVAL, 1, false),
    SPEC("node_network_transmit_bytes_total", KM_FIG_NET_S, SRC_COUNTER, 0, 1, 1, 1, 1, false,
         KM_MATCH_NEQ, "device", "lo"),
    SIMPLE("kmon_node_network_transmit_bytes", KM_FIG_NET_S, SRC_INTERVAL, 1, false),
};

static const struct spec pod_specs[] = {
    SPEC("container_cpu_usage_seconds_total", KM_FIG_CPU, SRC_COUNTER, 0, 1000, 1, 1, 1, true,
         KM_MATCH_EQ, NULL, NULL),
    SIMPLE("kmon_pod_cpu_millicores", KM_FIG_CPU, SRC_GAUGE, 1, false),
    SIMPLE("container_memory_working_set_bytes", KM_FIG_MEM, SRC_GAUGE, 0, true),
    SIMPLE("kmon_pod_memory_bytes", KM_FIG_MEM, SRC_GAUGE, 1, false),
    SIMPLE("container_fs_reads_bytes_total", KM_FIG_DISK_R, SRC_COUNTER, 0, true),
    SIMPLE("kmon_pod_disk_read_bytes", KM_FIG_DISK_R, SRC_INTERVAL, 1, false),
    SIMPLE("container_fs_writes_bytes_total", KM_FIG_DISK_W, SRC_COUNTER, 0, true),
    SIMPLE("kmon_pod_disk_written_bytes", KM_FIG_DISK_W, SRC_INTERVAL, 1, false),
    SIMPLE("container_network_receive_bytes_total", KM_FIG_NET_R, SRC_COUNTER, 0, true),
    SIMPLE("kmon_pod_network_receive_bytes", KM_FIG_NET_R, SRC_INTERVAL, 1, false),
    SIMPLE("container_network_transmit_bytes_total", KM_FIG_NET_S, SRC_COUNTER, 0, true),
    SIMPLE("kmon_pod_network_transmit_bytes", KM_FIG_NET_S, SRC_INTERVAL, 1, false),
};

#define NPRIO  2
#define NCLASS 3 /* container "" (or none), a container, "POD" */

/* An entity while it is being built. */
struct ent {
    struct km_entity e;
    char *key;
    uint64_t hash;
    unsigned present[KM_FIG_COUNT][NPRIO][NCLASS];
    int prio[KM_FIG_COUNT], cls[KM_FIG_COUNT]; /* the chosen source, -1: none */
    int dep_rank;  /* where e.deployment came from: 0 nothing, 1 the pod's name, 2 labels */
    bool excluded; /* its deployment is not the filter's */
    /* Newest figures: parts seen, and the sums being built. */
    unsigned parts[KM_FIG_COUNT];
    double sum[KM_FIG_COUNT], rate[KM_FIG_COUNT], total[KM_FIG_COUNT];
    /* Steps of a figure made of parts (node memory): sums and parts per step. */
    double *part_sum;
    unsigned char *part_mask;
    /* What each series added to the newest figures, by its identity without the labels
     * that may change under it (a pod named first without, then with its workload):
     * of two such series only the newest counts. */
    struct contrib *contrib;
    size_t ncontrib, capcontrib;
};

struct contrib {
    uint64_t key;
    int64_t t;
    int fig;
    bool total_only; /* one reading of a counter: its total, no interval nor rate yet */
    double sum, rate, total, mem_total;
};

struct model {
    struct km_storage *store;
    enum km_kind kind;
    const struct spec *specs;
    size_t nspecs;
    const struct km_filter *f;
    struct ent **ents;
    size_t nents, capents;
    size_t *slots; /* index + 1 into ents; 0 empty */
    size_t nslots;
    /* Sample buffers. */
    int64_t *t;
    double *v, *tmp, *acc;
    size_t cap;
};

/* ---- entity keys ------------------------------------------------------------------------ */

static const char *get(const struct km_labels *l, const char *name)
{
    const char *v = km_labels_get(l, name);

    return v && *v ? v : NULL;
}

/* A node's name: its `node` label, or `instance` without the port. */
static bool node_name(const struct km_labels *l, char *out, size_t size)
{
    const char *n = get(l, "node"), *inst;
    size_t len;

    if (n) {
        snprintf(out, size, "%s", n);
        return true;
    }
    inst = get(l, "instance");
    if (!inst)
        return false;
    len = strlen(inst);
    if (inst[0] == '[') { /* [v6]:port */
        const char *close = strchr(inst, ']');

        len = close ? (size_t)(close - inst - 1) : len;
        snprintf(out, size, "%.*s", (int)len, close ? inst + 1 : inst);
        return true;
    }
    {
        const char *colon = strrchr(inst, ':');

        if (colon && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1))
            len = (size_t)(colon - inst);
    }
    snprintf(out, size, "%.*s", (int)len, inst);
    return true;
}

/* The alphabet of Kubernetes' random name suffixes (rand.String). */
static bool safe_char(char c)
{
    return c && strchr("bcdfghjklmnpqrstvwxz2456789", c) != NULL;
}

/* A pod-template-hash is rand.SafeEncodeString of a 32-bit FNV hash printed in decimal:
 * each digit maps to one of these ten characters, so a CronJob's Job name (its schedule
 * time in minutes, an eight-digit number starting with 2 for decades) never passes for
 * one. */
static bool hash_char(char c)
{
    return c && strchr("456789bcdf", c) != NULL;
}

bool km_model_deployment_from_pod(const char *pod, char *out, size_t size)
{
    size_t n = strlen(pod), h = 0;
    const char *hash_end;

    /* <deployment>-<hash>-<5 safe characters> */
    if (n < 9 || pod[n - 6] != '-')
        return false;
    for (size_t i = n - 5; i < n; i++) {
        if (!safe_char(pod[i]))
            return false;
    }
    hash_end = pod + n - 6;
    while (hash_end - h > pod && hash_end[-(long)h - 1] != '-')
        h++;
    if (hash_end - h - 1 <= pod || h < 6 || h > 10)
        return false; /* no dash before the hash, or nothing before that dash */
    for (size_t i = 0; i < h; i++) {
        if (!hash_char(hash_end[-(long)h + (long)i]))
            return false;
    }
    snprintf(out, size, "%.*s", (int)(hash_end - h - 1 - pod), pod);
    return true;
}

static int container_class(const struct km_labels *l)
{
    const char *c = get(l, "container");

    if (!c)
        return 0;
    return strcmp(c, "POD") == 0 ? 2 : 1;
}

/* ---- the entity table -------------------------------------------------------------------- */

static void ent_free(struct ent *x)
{
    if (!x)
        return;
    free(x->key);
    free(x->e.name);
    free(x->e.namespace);
    free(x->e.node);
    free(x->e.deployment);
    free(x->e.cluster);
    free(x->part_sum);
    free(x->part_mask);
    free(x->contrib);
    free(x);
}

static void model_fini(struct model *m)
{
    for (size_t i = 0; i < m->nents; i++)
        ent_free(m->ents[i]);
    free(m->ents);
    free(m->slots);
    free(m->t);
    free(m->v);
    free(m->tmp);
    free(m->acc);
}

static int rehash(struct model *m, size_t n)
{
    size_t *slots = calloc(n, sizeof(*slots));

    if (!slots)
        return km_err_set(KM_ENOMEM, "out of memory");
    for (size_t i = 0; i < m->nents; i++) {
        size_t k = m->ents[i]->hash & (n - 1);

        while (slots[k])
            k = (k + 1) & (n - 1);
        slots[k] = i + 1;
    }
    free(m->slots);
    m->slots = slots;
    m->nslots = n;
    return 0;
}

static struct ent *lookup(struct model *m, const char *key, uint64_t hash)
{
    for (size_t k = hash & (m->nslots - 1); m->nslots && m->slots[k];
         k = (k + 1) & (m->nslots - 1)) {
        struct ent *x = m->ents[m->slots[k] - 1];

        if (x->hash == hash && strcmp(x->key, key) == 0)
            return x;
    }
    return NULL;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* The deployment a pod series names, and how surely (dep_rank): workload labels are
 * certain (2: a workload_kind other than Deployment says "none"); the ReplicaSet naming
 * convention is a guess (1) that a labelled series of the same pod overrides. */
static int deployment_of(const struct km_labels *l, const char *pod, char *dep, size_t size,
                         bool *has)
{
    const char *wk = get(l, "workload_kind");

    *has = false;
    if (wk) {
        if (strcmp(wk, "Deployment") == 0 && get(l, "workload")) {
            snprintf(dep, size, "%s", get(l, "workload"));
            *has = true;
        }
        return 2;
    }
    *has = km_model_deployment_from_pod(pod, dep, size);
    return *has ? 1 : 0;
}

/* Let a surer series of an existing pod correct what earlier ones said. */
static int update_entity(struct ent *x, const struct km_labels *l, const char *node, int rank,
                         bool has_dep, const char *dep)
{
    if (!x->e.node && node && !(x->e.node = strdup(node)))
        return km_err_set(KM_ENOMEM, "out of memory");
    if (!x->e.cluster && get(l, "cluster") && !(x->e.cluster = strdup(get(l, "cluster"))))
        return km_err_set(KM_ENOMEM, "out of memory");
    if (rank > x->dep_rank) {
        char *d = has_dep ? strdup(dep) : NULL;

        if (has_dep && !d)
            return km_err_set(KM_ENOMEM, "out of memory");
        free(x->e.deployment);
        x->e.deployment = d;
        x->dep_rank = rank;
    }
    return 0;
}

/* The entity a series belongs to (created on first sight), or NULL when the series
 * names none or the filter excludes it (the deployment filter is applied to whole pods
 * after the scan, since a pod's series may disagree on how sure they are). *err is set
 * when memory runs out. */
static struct ent *entity_of(struct model *m, const struct km_labels *l, int *err)
{
    char name[512], key[1100], dep[512];
    const char *ns = NULL, *node = NULL;
    bool has_dep = false;
    int rank = 0;
    uint64_t hash;
    struct ent *x;

    if (m->kind == KM_NODES) {
        if (!node_name(l, name, sizeof(name)))
            return NULL;
        if (m->f->node && strcmp(name, m->f->node) != 0)
            return NULL;
        snprintf(key, sizeof(key), "%s", name);
    } else {
        const char *pod = get(l, "pod");

        ns = get(l, "namespace");
        if (!pod || !ns)
            return NULL;
        snprintf(name, sizeof(name), "%s", pod);
        node = get(l, "node");
        rank = deployment_of(l, pod, dep, sizeof(dep), &has_dep);
        if ((m->f->namespace && strcmp(ns, m->f->namespace) != 0) ||
            (m->f->pod && strcmp(pod, m->f->pod) != 0) ||
            (m->f->node && (!node || strcmp(node, m->f->node) != 0)))
            return NULL;
        snprintf(key, sizeof(key), "%s\001%s", ns, pod);
    }
    hash = XXH3_64bits(key, strlen(key));
    x = lookup(m, key, hash);
    if (x) {
        *err = update_entity(x, l, node, rank, has_dep, dep);
        return *err ? NULL : x;
    }
    if ((m->nents + 1) * 2 > m->nslots && rehash(m, m->nslots ? m->nslots * 2 : 64) != 0) {
        *err = KM_ENOMEM;
        return NULL;
    }
    if (m->nents == m->capents) {
        size_t n = m->capents ? m->capents * 2 : 64;
        struct ent **v = realloc(m->ents, n * sizeof(*v));

        if (!v) {
            *err = km_err_set(KM_ENOMEM, "out of memory");
            return NULL;
        }
        m->ents = v;
        m->capents = n;
    }
    x = calloc(1, sizeof(*x));
    if (!x || !(x->key = strdup(key)) || !(x->e.name = strdup(name)) ||
        (ns && !(x->e.namespace = strdup(ns))) || (node && !(x->e.node = strdup(node))) ||
        (has_dep && !(x->e.deployment = strdup(dep))) ||
        (get(l, "cluster") && !(x->e.cluster = dup_or_null(get(l, "cluster"))))) {
        ent_free(x);
        *err = km_err_set(KM_ENOMEM, "out of memory");
        return NULL;
    }
    x->hash = hash;
    x->dep_rank = rank;
    for (int f = 0; f < KM_FIG_COUNT; f++)
        x->prio[f] = x->cls[f] = -1;
    m->ents[m->nents++] = x;
    {
        size_t k = hash & (m->nslots - 1);

        while (m->slots[k])
            k = (k + 1) & (m->nslots - 1);
        m->slots[k] = m->nents;
    }
    return x;
}

/* ---- passes ------------------------------------------------------------------------------ */

/* Select the series of one source in [mint, maxt]. */
static int select_spec(struct model *m, const struct spec *sp, int64_t mint, int64_t maxt,
                       bool labels_only, struct km_querier **q, struct km_series_set **ss,
                       struct km_matcher *mv[8], size_t *nm)
{
    struct km_select_hints hints = { .mint = mint, .maxt = maxt, .labels_only = labels_only };
    int rc;

    *nm = 0;
    rc = km_matcher_create(&mv[(*nm)++], KM_MATCH_EQ, "__name__", sp->metric);
    if (rc == 0 && sp->xname)
        rc = km_matcher_create(&mv[(*nm)++], sp->xtype, sp->xname, sp->xvalue);
    if (rc == 0 && m->kind == KM_PODS && m->f->namespace)
        rc = km_matcher_create(&mv[(*nm)++], KM_MATCH_EQ, "namespace", m->f->namespace);
    if (rc == 0 && m->kind == KM_PODS && m->f->pod)
        rc = km_matcher_create(&mv[(*nm)++], KM_MATCH_EQ, "pod", m->f->pod);
    if (rc == 0 && m->kind == KM_PODS && m->f->node)
        rc = km_matcher_create(&mv[(*nm)++], KM_MATCH_EQ, "node", m->f->node);
    if (rc == 0)
        rc = km_querier_open(m->store, mint, maxt, q);
    if (rc == 0) {
        rc = km_querier_select(*q, mv, *nm, &hints, ss);
        if (rc) {
            km_querier_close(*q);
            *q = NULL;
        }
    }
    if (rc) {
        for (size_t i = 0; i < *nm; i++)
            km_matcher_destroy(mv[i]);
        *nm = 0;
    }
    return rc;
}

static void close_spec(struct km_querier *q, struct km_series_set *ss, struct km_matcher *mv[8],
                       size_t nm)
{
    km_series_set_close(ss);
    km_querier_close(q);
    for (size_t i = 0; i < nm; i++)
        km_matcher_destroy(mv[i]);
}

static int scan(struct model *m, int64_t mint, int64_t maxt)
{
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < m->nspecs; i++) {
        const struct spec *sp = &m->specs[i];
        struct km_querier *q;
        struct km_series_set *ss;
        struct km_matcher *mv[8];
        size_t nm;

        rc = select_spec(m, sp, mint, maxt, true, &q, &ss, mv, &nm);
        if (rc)
            break;
        while (rc == 0 && km_series_next(ss)) {
            const struct km_labels *l = km_series_labels(ss);
            struct ent *x = entity_of(m, l, &rc);

            if (x)
                x->present[sp->fig][sp->prio][sp->container ? container_class(l) : 0] |= sp->part;
        }
        if (rc == 0)
            rc = km_series_error(ss);
        close_spec(q, ss, mv, nm);
    }
    /* Choose each figure's source: the first priority, then class, that is complete. */
    for (size_t e = 0; e < m->nents; e++) {
        struct ent *x = m->ents[e];

        x->excluded = m->f->deployment &&
                      (!x->e.deployment || strcmp(x->e.deployment, m->f->deployment) != 0);

        for (size_t i = 0; i < m->nspecs; i++) {
            const struct spec *sp = &m->specs[i];

            for (int p = 0; p < NPRIO && x->prio[sp->fig] < 0; p++) {
                for (int c = 0; c < NCLASS && x->prio[sp->fig] < 0; c++) {
                    if (p == sp->prio && (x->present[sp->fig][p][c] & sp->need) == sp->need) {
                        x->prio[sp->fig] = p;
                        x->cls[sp->fig] = c;
                    }
                }
            }
        }
    }
    return rc;
}

static int load_samples(struct model *m, struct km_series_set *ss, size_t *n)
{
    struct km_sample_batch b;

    *n = 0;
    while (km_series_batch(ss, &b)) {
        while (*n + b.n > m->cap) {
            size_t c = m->cap ? m->cap * 2 : 1024;
            int64_t *nt = realloc(m->t, c * sizeof(*nt));
            double *nv = nt ? realloc(m->v, c * sizeof(*nv)) : NULL;
            double *ntmp = nv ? realloc(m->tmp, c * sizeof(*ntmp)) : NULL;

            if (nt)
                m->t = nt;
            if (nv)
                m->v = nv;
            if (ntmp)
                m->tmp = ntmp;
            if (!ntmp)
                return km_err_set(KM_ENOMEM, "out of memory reading samples");
            m->cap = c;
        }
        memcpy(m->t + *n, b.t, b.n * sizeof(*b.t));
        memcpy(m->v + *n, b.v, b.n * sizeof(*b.v));
        *n += b.n;
    }
    return km_series_error(ss);
}

/* Call fn for every series of every chosen source. */
typedef int (*visit_fn)(struct model *m, const struct spec *sp, const struct km_labels *l,
                        struct ent *x, size_t n, void *ud);

static int visit(struct model *m, int64_t mint, int64_t maxt, visit_fn fn, void *ud)
{
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < m->nspecs; i++) {
        const struct spec *sp = &m->specs[i];
        struct km_querier *q;
        struct km_series_set *ss;
        struct km_matcher *mv[8];
        size_t nm, n;

        rc = select_spec(m, sp, mint, maxt, false, &q, &ss, mv, &nm);
        if (rc)
            break;
        while (rc == 0 && km_series_next(ss)) {
            const struct km_labels *l = km_series_labels(ss);
            struct ent *x = entity_of(m, l, &rc);

            if (!x || x->excluded || x->prio[sp->fig] != sp->prio ||
                x->cls[sp->fig] != (sp->container ? container_class(l) : 0))
                continue;
            rc = load_samples(m, ss, &n);
            if (rc == 0 && n)
                rc = fn(m, sp, l, x, n, ud);
        }
        if (rc == 0)
            rc = km_series_error(ss);
        close_spec(q, ss, mv, nm);
    }
    return rc;
}

/* ---- newest figures ------------------------------------------------------------------------ */

struct now_ctx {
    int64_t now, stale_ms;
};

/* Labels that can change while a series goes on being the same thing: the names the
 * agent adds once the Kubernetes API answers. */
static bool volatile_label(const char *name)
{
    return strcmp(name, "workload_kind") == 0 || strcmp(name, "workload") == 0 ||
           strcmp(name, "qos_class") == 0 || strncmp(name, "label_", 6) == 0;
}

static uint64_t identity_of(const struct km_labels *l, const struct spec *sp, const struct model *m)
{
    XXH3_state_t st;

    XXH3_64bits_reset(&st);
    XXH3_64bits_update(&st, &(size_t){ (size_t)(sp - m->specs) }, sizeof(size_t));
    for (size_t i = 0; i < l->n; i++) {
        if (volatile_label(l->v[i].name))
            continue;
        XXH3_64bits_update(&st, l->v[i].name, strlen(l->v[i].name) + 1);
        XXH3_64bits_update(&st, l->v[i].value, strlen(l->v[i].value) + 1);
    }
    return XXH3_64bits_digest(&st);
}

static void apply(struct ent *x, const struct contrib *c, double sign)
{
    x->sum[c->fig] += sign * c->sum;
    x->rate[c->fig] += sign * c->rate;
    x->total[c->fig] += sign * c->total;
    x->e.f.mem_total += sign * c->mem_total;
}

/* Count c unless a newer series of the same identity already did; replace an older.
 * A counter's first reading does not replace a series with a rate (the renamed series
 * has no rate yet for one collection), and is replaced by one whatever their times.
 * (A pod has a few series per source, so a linear search.) */
static int contribute(struct ent *x, const struct contrib *c)
{
    struct contrib *old = NULL;
    int rc;

    for (size_t i = 0; i < x->ncontrib; i++) {
        if (x->contrib[i].key == c->key) {
            old = &x->contrib[i];
            break;
        }
    }
    if (old) {
        bool keep = old->total_only == c->total_only ? old->t >= c->t : c->total_only;

        if (keep)
            return 0;
        apply(x, old, -1);
        *old = *c;
        apply(x, c, 1);
        return 0;
    }
    rc = km_array_grow((void **)&x->contrib, &x->capcontrib, x->ncontrib + 1, sizeof(*x->contrib),
                       16, "adding up figures");
    if (rc)
        return rc;
    x->contrib[x->ncontrib++] = *c;
    apply(x, c, 1);
    return 0;
}

static int add_last(struct model *m, const struct spec *sp, const struct km_labels *l,
                    struct ent *x, size_t n, void *ud)
{
    struct now_ctx *c = ud;
    struct km_figs *f = &x->e.f;
    struct km_view_last last;
    int g = sp->fig;
    struct contrib k = { .fig = g };

    km_view_last(m->t, m->v, n, c->now, c->stale_ms, &last);
    if (!last.has)
        return 0;
    if (last.t > f->t)
        f->t = last.t;
    k.t = last.t;
    switch (sp->kind) {
    case SRC_COUNTER:
        /* The total is known from one reading; the interval's bytes and the rate need
         * two. */
        k.total = last.value;
        f->has_total[g] = g != KM_FIG_CPU;
        k.total_only = !last.has_rate;
        if (!last.has_rate)
            break;
        x->parts[g] |= sp->part;
        k.sum = g == KM_FIG_CPU ? last.delta / last.interval * sp->scale : last.delta;
        k.rate = last.delta / last.interval;
        f->has_rate[g] = g != KM_FIG_CPU;
        break;
    case SRC_GAUGE:
        x->parts[g] |= sp->part;
        k.sum = sp->sign * last.value * sp->scale;
        if (g == KM_FIG_MEM && sp->part == 1 && sp->need == 3) {
            f->has_mem_total = true;
            k.mem_total = last.value;
        }
        break;
    case SRC_INTERVAL:
        x->parts[g] |= sp->part;
        k.sum = last.value;
        if (last.has_rate) {
            k.rate = last.value / last.interval;
            f->has_rate[g] = true;
        }
        break;
    }
    if (m->kind == KM_NODES) {
        apply(x, &k, 1); /* node series carry no labels that change: no pairing needed */
        return 0;
    }
    k.key = identity_of(l, sp, m);
    return contribute(x, &k);
}

static int cmp_entity(const void *a, const void *b)
{
    const struct km_entity *x = a, *y = b;
    int c = strcmp(x->namespace ? x->namespace : "", y->namespace ? y->namespace : "");

    return c ? c : strcmp(x->name, y->name);
}

void km_entities_fini(struct km_entities *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->v[i].name);
        free(e->v[i].namespace);
        free(e->v[i].node);
        free(e->v[i].deployment);
        free(e->v[i].cluster);
    }
    free(e->v);
    memset(e, 0, sizeof(*e));
}

static void model_init(struct model *m, struct km_storage *store, enum km_kind kind,
                       const struct km_filter *f)
{
    memset(m, 0, sizeof(*m));
    m->store = store;
    m->kind = kind;
    m->f = f;
    m->specs = kind == KM_NODES ? node_specs : pod_specs;
    m->nspecs = kind == KM_NODES ? sizeof(node_specs) / sizeof(node_specs[0])
                                 : sizeof(pod_specs) / sizeof(pod_specs[0]);
}

int km_model_current(struct km_storage *store, enum km_kind kind, const struct km_filter *f,
                     int64_t now, int64_t stale_ms, struct km_entities *out)
{
    struct model m;
    struct now_ctx c = { now, stale_ms };
    int rc;

    memset(out, 0, sizeof(*out));
    model_init(&m, store, kind, f);
    rc = scan(&m, now - stale_ms, now);
    if (rc == 0)
        rc = visit(&m, now - stale_ms, now, add_last, &c);
    if (rc == 0 && m.nents) {
        out->v = calloc(m.nents, sizeof(*out->v));
        if (!out->v)
            rc = km_err_set(KM_ENOMEM, "out of memory");
    }
    for (size_t i = 0; rc == 0 && i < m.nents; i++) {
        struct ent *x = m.ents[i];
        struct km_figs *fg = &x->e.f;

        for (int g = 0; g < KM_FIG_COUNT; g++) {
            unsigned need = 1;

            for (size_t k = 0; k < m.nspecs; k++) {
                if ((int)m.specs[k].fig == g && m.specs[k].prio == x->prio[g])
                    need = m.specs[k].need;
            }
            fg->has[g] = x->prio[g] >= 0 && (x->parts[g] & need) == need;
            fg->value[g] = x->sum[g];
            fg->rate[g] = x->rate[g];
            fg->total[g] = x->total[g];
            if (!fg->has[g])
                fg->has_rate[g] = false; /* a total stands alone (one reading) */
        }
        if (fg->t == 0 || x->excluded)
            continue; /* nothing newer than the staleness limit, or not the deployment's */
        out->v[out->n++] = x->e;
        memset(&x->e, 0, sizeof(x->e)); /* the strings moved to out */
    }
    if (rc)
        km_entities_fini(out);
    else if (out->n)
        qsort(out->v, out->n, sizeof(*out->v), cmp_entity);
    model_fini(&m);
    return rc;
}

/* ---- time series ------------------------------------------------------------------------- */

struct steps_ctx {
    const struct km_view_steps *steps;
    double **out;
};

static void add_into(double *dst, const double *src, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (isnan(src[k]))
            continue;
        dst[k] = isnan(dst[k]) ? src[k] : dst[k] + src[k];
    }
}

static int add_steps(struct model *m, const struct spec *sp, const struct km_labels *l,
                     struct ent *x, size_t n, void *ud)
{
    (void)l;
    struct steps_ctx *c = ud;
    size_t ns = c->steps->n;
    bool counter = sp->kind != SRC_GAUGE;

    if (!m->acc) {
        m->acc = malloc((ns ? ns : 1) * sizeof(double));
        if (!m->acc)
            return km_err_set(KM_ENOMEM, "out of memory");
    }
    if (sp->kind == SRC_INTERVAL) {
        /* Bytes per interval, added up, make a counter. */
        for (size_t i = 1; i < n; i++)
            m->v[i] += m->v[i - 1];
    }
    km_view_eval_steps(m->t, m->v, n, counter, c->steps, m->tmp, m->acc);
    for (size_t k = 0; k < ns; k++) {
        if (!isnan(m->acc[k]))
            m->acc[k] *= sp->scale * sp->sign;
    }
    if (sp->need == 1) {
        add_into(c->out[sp->fig], m->acc, ns);
        return 0;
    }
    /* A figure of several parts counts at a step only when every part is there. */
    if (!x->part_sum) {
        x->part_sum = calloc(ns ? ns : 1, sizeof(double));
        x->part_mask = calloc(ns ? ns : 1, 1);
        if (!x->part_sum || !x->part_mask)
            return km_err_set(KM_ENOMEM, "out of memory");
    }
    for (size_t k = 0; k < ns; k++) {
        if (isnan(m->acc[k]))
            continue;
        x->part_sum[k] += m->acc[k];
        x->part_mask[k] |= (unsigned char)sp->part;
    }
    return 0;
}

int km_model_steps(struct km_storage *store, enum km_kind kind, const struct km_filter *f,
                   const struct km_view_steps *steps, double *out[KM_FIG_COUNT])
{
    struct model m;
    struct steps_ctx c = { steps, out };
    int64_t mint = steps->start - 2 * steps->range,
            maxt = steps->start + (int64_t)(steps->n - 1) * steps->step;
    int rc;

    for (int g = 0; g < KM_FIG_COUNT; g++) {
        for (size_t k = 0; k < steps->n; k++)
            out[g][k] = NAN;
    }
    model_init(&m, store, kind, f);
    rc = scan(&m, mint, maxt);
    if (rc == 0)
        rc = visit(&m, mint, maxt, add_steps, &c);
    for (size_t i = 0; rc == 0 && i < m.nents; i++) {
        struct ent *x = m.ents[i];

        if (!x->part_sum)
            continue;
        for (size_t k = 0; k < steps->n; k++) {
            if (x->part_mask[k] == 3)
                out[KM_FIG_MEM][k] = isnan(out[KM_FIG_MEM][k])
                                         ? x->part_sum[k]
                                         : out[KM_FIG_MEM][k] + x->part_sum[k];
        }
    }
    model_fini(&m);
    return rc;
}

/* ---- choosing steps ----------------------------------------------------------------------- */

static int probe(struct model *m, const struct spec *sp, const struct km_labels *l, struct ent *x,
                 size_t n, void *ud)
{
    (void)l;
    int64_t *interval = ud;
    int64_t d = km_view_interval(m->t, n);

    (void)sp;
    (void)x;
    if (d > 0 && (*interval == 0 || d < *interval))
        *interval = d;
    return 0;
}

int km_model_plan_steps(struct km_storage *store, enum km_kind kind, const struct km_filter *f,
                        int64_t end, int64_t window_ms, int64_t step_ms,
                        struct km_view_steps *steps)
{
    struct model m;
    int64_t interval = 0, step, coarse;
    int rc;

    /* The spacing of the newest ten minutes of the entity's series. */
    model_init(&m, store, kind, f);
    m.nspecs = 2; /* the CPU sources say it as well as any */
    rc = scan(&m, end - 600000, end);
    if (rc == 0)
        rc = visit(&m, end - 600000, end, probe, &interval);
    model_fini(&m);
    if (rc)
        return rc;
    if (interval <= 0)
        interval = 15000;
    /* Whole seconds, so that a collector's jitter (5.002 s) does not make the grid's
     * timestamps odd; interpolation makes any step exact. */
    interval = interval < 1500 ? 1000 : (interval + 500) / 1000 * 1000;
    coarse = (window_ms + 499) / 500;
    coarse = (coarse + 999) / 1000 * 1000;
    step = step_ms > 0 ? step_ms : (interval > coarse ? interval : coarse);
    steps->step = step;
    steps->n = (size_t)(window_ms / step);
    if (steps->n == 0)
        steps->n = 1;
    end = end / step * step;
    steps->start = end - (int64_t)(steps->n - 1) * step;
    steps->range = step > 2 * interval ? step : 2 * interval;
    return 0;
}
