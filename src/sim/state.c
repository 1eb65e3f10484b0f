/*
 * state — a simulated cluster's kube-state-metrics series (see series.h): objects of
 * kstate's compact shapes (objects.h) filled in from the model, emitted by kstate's own
 * emitters, so every family, label and series is the cluster-state collector's.
 * Strings point into the model or at constants: nothing here is interned or freed.
 */
#include "kstate/emit.h"
#include "kstate/kinds.h"
#include "sim/series.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const cnames[KM_SIM_MAX_CONTAINERS] = { "app", "sidecar", "proxy" };

static void begin(struct km_kemit *e, const struct km_kind *k)
{
    e->kind = k;
    km_kemit_begin_kind(e);
}

static void emit(struct km_kemit *e, const void *obj)
{
    e->kind->emit(e, obj);
    km_kemit_object_done(e);
}

static void emit_pod(struct km_kemit *e, const struct km_sim_model *md, const struct km_sim_pod *p)
{
    const struct km_sim_deploy *d = &md->deploy[p->deploy];
    const struct km_sim_node *n = &md->node[p->node];
    struct km_kres req[2] = { { "cpu", "core", d->cpu_request },
                              { "memory", "byte", d->mem_limit / 2 } };
    struct km_kres lim[2] = { { "cpu", "core", d->cpu_request * 2 },
                              { "memory", "byte", d->mem_limit } };
    char rs[KM_SIM_NAME_MAX + 20], ip[24], hip[24], cid[KM_SIM_MAX_CONTAINERS][80];
    char image[KM_SIM_MAX_CONTAINERS][96];
    struct km_kowner owner = { "ReplicaSet", rs, true };
    struct km_kctr c[KM_SIM_MAX_CONTAINERS];
    int64_t started_s;
    unsigned restarts = km_sim_pod_restarts(p, md->now_s, &started_s);
    struct km_kpod kp = {
        .m = { .uid = p->uid,
               .ns = km_sim_namespaces[d->ns],
               .name = p->name,
               .created_s = p->created_s },
        .node = n->name,
        .host_ip = hip,
        .pod_ip = ip,
        .phase = "Running",
        .owners = &owner,
        .nowners = 1,
        .c = c,
        .nc = (uint16_t)d->ncontainers,
        .start_s = p->created_s,
        .ready = 1,
        .scheduled = 1,
    };

    snprintf(rs, sizeof(rs), "%s-%s", d->name, p->hash);
    snprintf(ip, sizeof(ip), "10.%u.%u.%u", (unsigned)(p->key >> 8) & 255,
             (unsigned)(p->key >> 16) & 255, (unsigned)(p->key >> 24) & 255);
    snprintf(hip, sizeof(hip), "172.16.%u.%u", (unsigned)(n->key & 0xffff) >> 8,
             (unsigned)n->key & 255);
    memset(c, 0, sizeof(c));
    for (unsigned i = 0; i < d->ncontainers; i++) {
        snprintf(image[i], sizeof(image[i]), "registry.example/%s/%s:%u", d->name, cnames[i],
                 d->revision);
        snprintf(cid[i], sizeof(cid[i]), "containerd://%016llx%016llx", (unsigned long long)p->key,
                 (unsigned long long)(p->key * (i + 3)));
        c[i] = (struct km_kctr){
            .name = cnames[i],
            .image_spec = image[i],
            .image = image[i],
            .image_id = image[i],
            .container_id = cid[i],
            .req = req,
            .lim = lim,
            .nreq = 2,
            .nlim = 2,
            .restarts = i == 0 ? (int32_t)restarts : 0,
            .state = KM_KC_RUNNING,
            .has_status = true,
            .ready = true,
        };
    }
    if (restarts) {
        c[0].last_terminated_reason = "Error";
        /* Between restarts a crash-looping container waits in back-off. */
        if (md->now_s - started_s > (int64_t)p->crash_period_s / 2) {
            c[0].state = KM_KC_WAITING;
            c[0].state_reason = "CrashLoopBackOff";
            c[0].ready = false;
            kp.ready = 0;
        }
    }
    emit(e, &kp);
}

static void emit_node(struct km_kemit *e, const struct km_sim_node *n)
{
    static const char *roles[] = { "worker" };
    struct km_kcond conds[] = { { "Ready", NULL, 1 },
                                { "MemoryPressure", NULL, 0 },
                                { "DiskPressure", NULL, 0 },
                                { "PIDPressure", NULL, 0 },
                                { "NetworkUnavailable", NULL, 0 } };
    struct km_kres cap[] = { { "cpu", "core", 8 },
                             { "memory", "byte", 32.0 * 1073741824.0 },
                             { "pods", "integer", 110 },
                             { "ephemeral_storage", "byte", 200e9 } };
    struct km_kres alloc[] = { { "cpu", "core", 7.9 },
                               { "memory", "byte", 31.0 * 1073741824.0 },
                               { "pods", "integer", 110 },
                               { "ephemeral_storage", "byte", 180e9 } };
    char ip[24], cidr[24], provider[96];
    struct km_knode kn = {
        .m = { .uid = n->uid, .name = n->name, .created_s = n->created_s },
        .kernel = "6.1.0-18-amd64",
        .os_image = "Debian GNU/Linux 12 (bookworm)",
        .runtime = "containerd://1.6.20",
        .kubelet = "v1.29.3",
        .kubeproxy = "v1.29.3",
        .provider_id = provider,
        .pod_cidr = cidr,
        .system_uuid = n->uid,
        .internal_ip = ip,
        .roles = roles,
        .conds = conds,
        .capacity = cap,
        .allocatable = alloc,
        .nroles = 1,
        .nconds = 5,
        .ncapacity = 4,
        .nallocatable = 4,
    };
    unsigned i = (unsigned)(n->key & 0xffff);

    snprintf(ip, sizeof(ip), "172.16.%u.%u", i >> 8, i & 255);
    snprintf(cidr, sizeof(cidr), "10.%u.%u.0/24", i >> 8, i & 255);
    snprintf(provider, sizeof(provider), "sim://%s", n->name);
    emit(e, &kn);
}

static void emit_cluster(struct km_kemit *e, const struct km_sim_model *md)
{
    begin(e, &km_kind_namespaces);
    for (unsigned i = 0; i < md->nns; i++) {
        char uid[40];
        struct km_knamespace ns = {
            .m = { .uid = uid, .name = km_sim_namespaces[i], .created_s = md->now_s - 86400 * 90 },
            .phase = "Active"
        };

        snprintf(uid, sizeof(uid), "ns-%u", i);
        emit(e, &ns);
    }
    begin(e, &km_kind_deployments);
    for (unsigned i = 0; i < md->ndeploy; i++) {
        const struct km_sim_deploy *d = &md->deploy[i];
        int64_t n = d->n, updated = d->n - d->rolling;
        struct km_kcond conds[] = { { "Available", NULL, 1 }, { "Progressing", NULL, 1 } };
        struct km_kdeploy kd = {
            .m = { .uid = d->uid,
                   .ns = km_sim_namespaces[d->ns],
                   .name = d->name,
                   .created_s = d->created_s,
                   .generation = d->revision },
            .conds = conds,
            .spec_replicas = n,
            .replicas = n,
            .ready = n,
            .available = n,
            .unavailable = 0,
            .updated = updated,
            .observed_gen = d->revision,
            .max_unavailable = ceil((double)n / 4),
            .max_surge = ceil((double)n / 4),
            .nconds = 2,
        };

        emit(e, &kd);
    }
    begin(e, &km_kind_replicasets);
    for (unsigned i = 0; i < md->ndeploy; i++) {
        const struct km_sim_deploy *d = &md->deploy[i];
        char name[KM_SIM_NAME_MAX + 20];
        struct km_kowner owner = { "Deployment", d->name, true };
        struct km_krs rs = {
            .m = { .uid = d->rs_uid,
                   .ns = km_sim_namespaces[d->ns],
                   .name = name,
                   .created_s = d->rs_created_s,
                   .generation = 1 },
            .owners = &owner,
            .nowners = 1,
            .spec_replicas = d->n,
            .replicas = d->n - d->rolling,
            .fully_labeled = d->n - d->rolling,
            .ready = d->n - d->rolling,
            .observed_gen = 1,
        };

        snprintf(name, sizeof(name), "%s-%s", d->name, d->hash);
        emit(e, &rs);
    }
}

int km_sim_state_series(struct km_mset *m, const struct km_sim_model *md, unsigned i,
                        bool cluster_wide, const char *cluster)
{
    struct km_kemit_out out = { .m = m };
    struct km_kemit e = { .m = m, .out = &out, .cluster = cluster };
    const struct km_sim_node *n = &md->node[i];

    if (n->present) {
        begin(&e, &km_kind_pods);
        for (unsigned k = md->node_first[i]; k < md->node_first[i + 1]; k++)
            emit_pod(&e, md, &md->pod[md->by_node[k]]);
        begin(&e, &km_kind_nodes);
        emit_node(&e, n);
    }
    if (cluster_wide)
        emit_cluster(&e, md);
    return km_kemit_finish(&e);
}
