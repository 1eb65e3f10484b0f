/*
 * view — the REST API's JSON objects (see view.h).
 */
#include "view.h"

#include "common/timefmt.h"
#include "human.h"

#include <math.h>
#include <string.h>

/* The figures of one object at one time: its instant answers, or one step of its range
 * answers. */
struct figs {
    bool has[KM_SEED_FIGS];
    double v[KM_SEED_FIGS];
};

/* A rate, to a thousandth (more digits would only be noise of the sample times). */
static void num_or_null(struct km_jsonw *w, const char *key, bool has, double v)
{
    km_jsonw_key(w, key);
    if (has)
        km_jsonw_double(w, fabs(v) < 1e15 ? round(v * 1000) / 1000 : v);
    else
        km_jsonw_null(w);
}

static void int_or_null(struct km_jsonw *w, const char *key, bool has, double v)
{
    km_jsonw_key(w, key);
    if (has)
        km_jsonw_i64(w, (int64_t)llround(v));
    else
        km_jsonw_null(w);
}

static void str_or_null(struct km_jsonw *w, const char *key, const char *s)
{
    km_jsonw_key(w, key);
    if (s)
        km_jsonw_str(w, s);
    else
        km_jsonw_null(w);
}

static void human(struct km_jsonw *w, const char *key, bool has, double v,
                  void (*fmt)(char *, size_t, double))
{
    char buf[48];

    km_jsonw_key(w, key);
    if (!has) {
        km_jsonw_null(w);
        return;
    }
    fmt(buf, sizeof(buf), v);
    km_jsonw_str(w, buf);
}

void km_view_time(struct km_jsonw *w, const char *key, int64_t ms)
{
    char buf[48];

    km_jsonw_key(w, key);
    if (!ms) {
        km_jsonw_null(w);
        return;
    }
    km_time_format_rfc3339(buf, sizeof(buf), ms * 1000000, 6);
    km_jsonw_str(w, buf);
}

/* Names of the JSON fields of an I/O pair: the interval's bytes, the rates, the totals,
 * the rates' companions. */
struct io_names {
    const char *bytes[2], *rate[2], *total[2], *human[2];
};

static const struct io_names disk_names = { { "read_bytes", "write_bytes" },
                                            { "read_bytes_per_second", "write_bytes_per_second" },
                                            { "read_bytes_total", "write_bytes_total" },
                                            { "read", "write" } };
static const struct io_names net_names = { { "bytes_recv", "bytes_sent" },
                                           { "bytes_recv_per_second", "bytes_sent_per_second" },
                                           { "bytes_recv_total", "bytes_sent_total" },
                                           { "recv", "sent" } };

/* One I/O pair (figures `rate` and rate + 1; their totals `total`, total + 1 when
 * `totals`): the bytes of an interval of `sec` seconds at the rate, as the prototype had
 * them, the rates, the counters' totals. */
static void write_io(struct km_jsonw *w, const struct figs *f, int rate, int total, bool totals,
                     double sec, const char *key, const struct io_names *n)
{
    km_jsonw_key(w, key);
    km_jsonw_obj_begin(w);
    for (int i = 0; i < 2; i++)
        int_or_null(w, n->bytes[i], f->has[rate + i], f->v[rate + i] * sec);
    for (int i = 0; i < 2; i++)
        num_or_null(w, n->rate[i], f->has[rate + i], f->v[rate + i]);
    for (int i = 0; totals && i < 2; i++)
        int_or_null(w, n->total[i], f->has[total + i], f->v[total + i]);
    for (int i = 0; i < 2; i++)
        human(w, n->human[i], f->has[rate + i], f->v[rate + i], km_human_rate);
    km_jsonw_obj_end(w);
}

/* The figures every object and point has; `totals` and the timestamp for current
 * figures only. */
static void write_figs(struct km_jsonw *w, const struct figs *f, bool current, double sec)
{
    int_or_null(w, "cpu_millicores", f->has[KM_SEED_CPU], f->v[KM_SEED_CPU]);
    human(w, "cpu", f->has[KM_SEED_CPU], f->v[KM_SEED_CPU], km_human_cpu);
    int_or_null(w, "memory_bytes", f->has[KM_SEED_MEMORY], f->v[KM_SEED_MEMORY]);
    human(w, "memory", f->has[KM_SEED_MEMORY], f->v[KM_SEED_MEMORY], km_human_bytes);
    if (current && f->has[KM_SEED_MEMORY_TOTAL]) {
        int_or_null(w, "memory_total_bytes", true, f->v[KM_SEED_MEMORY_TOTAL]);
        human(w, "memory_total", true, f->v[KM_SEED_MEMORY_TOTAL], km_human_bytes);
    }
    write_io(w, f, KM_SEED_DISK_READ, KM_SEED_DISK_READ_TOTAL, current, sec, "disk_io",
             &disk_names);
    write_io(w, f, KM_SEED_NET_RECV, KM_SEED_NET_RECV_TOTAL, current, sec, "network_io",
             &net_names);
    if (current)
        km_view_time(w, "timestamp",
                     f->has[KM_SEED_TIMESTAMP] ? llround(f->v[KM_SEED_TIMESTAMP] * 1000) : 0);
}

static void text_or_null(struct km_jsonw *w, const char *key, const struct km_entity *e,
                         enum km_seed_fig fig)
{
    str_or_null(w, key, e->has[fig] ? e->text[fig] : NULL);
}

/* Millicores and bytes (and pods) with their companions, null where unknown. */
static void resources(struct km_jsonw *w, const char *key, const struct km_entity *e,
                      enum km_seed_fig cpu, enum km_seed_fig memory, int pods)
{
    km_jsonw_key(w, key);
    km_jsonw_obj_begin(w);
    int_or_null(w, "cpu_millicores", e->has[cpu], e->v[cpu]);
    human(w, "cpu", e->has[cpu], e->v[cpu], km_human_cpu);
    int_or_null(w, "memory_bytes", e->has[memory], e->v[memory]);
    human(w, "memory", e->has[memory], e->v[memory], km_human_bytes);
    if (pods >= 0)
        int_or_null(w, "pods", e->has[pods], e->v[pods]);
    km_jsonw_obj_end(w);
}

/* The cluster state of a pod: phase, reason, restarts, owner, requests and limits. */
static void pod_state(struct km_jsonw *w, const struct km_entity *e)
{
    text_or_null(w, "phase", e, KM_SEED_PHASE);
    text_or_null(w, "reason", e, KM_SEED_REASON);
    int_or_null(w, "restarts", e->has[KM_SEED_RESTARTS], e->v[KM_SEED_RESTARTS]);
    km_jsonw_key(w, "owner");
    if (e->has[KM_SEED_OWNER_KIND] && e->text[KM_SEED_OWNER_KIND] && e->text[KM_SEED_OWNER_NAME]) {
        km_jsonw_obj_begin(w);
        km_jsonw_key(w, "kind");
        km_jsonw_str(w, e->text[KM_SEED_OWNER_KIND]);
        km_jsonw_key(w, "name");
        km_jsonw_str(w, e->text[KM_SEED_OWNER_NAME]);
        km_jsonw_obj_end(w);
    } else {
        km_jsonw_null(w);
    }
    resources(w, "requests", e, KM_SEED_REQ_CPU, KM_SEED_REQ_MEMORY, -1);
    resources(w, "limits", e, KM_SEED_LIM_CPU, KM_SEED_LIM_MEMORY, -1);
}

/* A node's conditions, allocatable and capacity, unschedulable. */
static void node_state(struct km_jsonw *w, const struct km_entity *e)
{
    static const char *const conds[] = { "Ready", "MemoryPressure", "DiskPressure", "PIDPressure" };

    km_jsonw_key(w, "conditions");
    km_jsonw_obj_begin(w);
    for (int i = 0; i < 4; i++)
        text_or_null(w, conds[i], e, (enum km_seed_fig)(KM_SEED_COND_READY + i));
    km_jsonw_obj_end(w);
    resources(w, "allocatable", e, KM_SEED_ALLOC_CPU, KM_SEED_ALLOC_MEMORY, KM_SEED_ALLOC_PODS);
    resources(w, "capacity", e, KM_SEED_CAP_CPU, KM_SEED_CAP_MEMORY, KM_SEED_CAP_PODS);
    km_jsonw_key(w, "unschedulable");
    if (e->has[KM_SEED_UNSCHEDULABLE])
        km_jsonw_bool(w, e->v[KM_SEED_UNSCHEDULABLE] != 0);
    else
        km_jsonw_null(w);
}

/* A namespace's phase and its pods by phase. */
static void namespace_state(struct km_jsonw *w, const struct km_entity *e)
{
    static const char *const phases[] = { "Pending", "Running", "Succeeded", "Failed", "Unknown" };

    text_or_null(w, "phase", e, KM_SEED_PHASE);
    km_jsonw_key(w, "pods_by_phase");
    km_jsonw_obj_begin(w);
    for (int i = 0; i < 5; i++) {
        enum km_seed_fig f = (enum km_seed_fig)(KM_SEED_PODS_PENDING + i);

        int_or_null(w, phases[i], e->has[f], e->v[f]);
    }
    km_jsonw_obj_end(w);
}

/* A deployment's replicas as its status says. */
static void deployment_state(struct km_jsonw *w, const struct km_entity *e)
{
    static const char *const keys[] = { "desired_replicas", "ready_replicas", "available_replicas",
                                        "updated_replicas", "unavailable_replicas" };

    for (int i = 0; i < 5; i++) {
        enum km_seed_fig f = (enum km_seed_fig)(KM_SEED_REPLICAS_DESIRED + i);

        int_or_null(w, keys[i], e->has[f], e->v[f]);
    }
}

static void current_figs(const struct km_entity *e, struct figs *f)
{
    memcpy(f->has, e->has, sizeof(f->has));
    memcpy(f->v, e->v, sizeof(f->v));
}

static void count(struct km_jsonw *w, const char *key, const struct km_entity *e,
                  enum km_seed_fig fig)
{
    km_jsonw_key(w, key);
    km_jsonw_u64(w, e->has[fig] && e->v[fig] > 0 ? (uint64_t)llround(e->v[fig]) : 0);
}

void km_view_object(struct km_jsonw *w, enum km_seed_level level, const struct km_entity *e,
                    double interval_s)
{
    struct figs f;

    current_figs(e, &f);
    km_jsonw_obj_begin(w);
    switch (level) {
    case KM_SEED_NODE:
        km_jsonw_key(w, "node_name");
        km_jsonw_str(w, e->name);
        str_or_null(w, "cluster", e->cluster);
        break;
    case KM_SEED_POD:
        km_jsonw_key(w, "pod_name");
        km_jsonw_str(w, e->name);
        km_jsonw_key(w, "namespace");
        km_jsonw_str(w, e->namespace);
        str_or_null(w, "node_name", e->node);
        str_or_null(w, "deployment", e->deployment);
        str_or_null(w, "cluster", e->cluster);
        break;
    case KM_SEED_NAMESPACE:
        km_jsonw_key(w, "namespace");
        km_jsonw_str(w, e->name);
        count(w, "deployment_count", e, KM_SEED_DEPLOYMENT_COUNT);
        count(w, "pod_count", e, KM_SEED_POD_COUNT);
        break;
    default:
        km_jsonw_key(w, "deployment");
        km_jsonw_str(w, e->name);
        km_jsonw_key(w, "namespace");
        km_jsonw_str(w, e->namespace);
        count(w, "replicas", e, KM_SEED_POD_COUNT);
        count(w, "pod_count", e, KM_SEED_POD_COUNT);
        break;
    }
    write_figs(w, &f, true, interval_s);
    switch (level) {
    case KM_SEED_NODE:
        count(w, "pod_count", e, KM_SEED_POD_COUNT);
        node_state(w, e);
        break;
    case KM_SEED_POD:
        pod_state(w, e);
        break;
    case KM_SEED_NAMESPACE:
        namespace_state(w, e);
        break;
    default:
        deployment_state(w, e);
        break;
    }
    km_jsonw_obj_end(w);
}

void km_view_pods(struct km_jsonw *w, const struct km_entities *pods, const char *deployment,
                  double interval_s)
{
    size_t n = 0;

    km_jsonw_key(w, "pods");
    km_jsonw_arr_begin(w);
    for (size_t i = 0; i < pods->n; i++) {
        const struct km_entity *p = &pods->v[i];

        if (deployment && (!p->deployment || strcmp(p->deployment, deployment) != 0))
            continue;
        km_view_object(w, KM_SEED_POD, p, interval_s);
        n++;
    }
    km_jsonw_arr_end(w);
    km_jsonw_key(w, "count");
    km_jsonw_u64(w, n);
}

bool km_view_point(struct km_jsonw *w, const struct km_entity *e, const struct km_pq_grid *g,
                   size_t k)
{
    struct figs f;
    bool any = false;

    for (int i = 0; i < KM_SEED_FIGS; i++) {
        f.has[i] = e->steps[i] && !isnan(e->steps[i][k]);
        f.v[i] = f.has[i] ? e->steps[i][k] : 0;
        any = any || f.has[i];
    }
    if (!any)
        return false;
    km_jsonw_obj_begin(w);
    km_view_time(w, "timestamp", km_pq_grid_time(g, k));
    write_figs(w, &f, false, (double)g->step / 1000);
    km_jsonw_obj_end(w);
    return true;
}
