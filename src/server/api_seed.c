/*
 * api_seed — the prototype's REST API, with its paths and shapes, answered by the PromQL
 * engine (every figure is a query of seed_queries.c, asked through model.c; shapes in
 * view.c; documented with examples and the queries in docs/api.md):
 *
 *   GET /api/nodes                          /api/nodes/<node>        /api/nodes/<node>/pods
 *   GET /api/pods                           /api/pods/<pod>[?namespace=]
 *   GET /api/namespaces                     /api/namespaces/<ns>     /api/namespaces/<ns>/pods
 *   GET /api/namespaces/<ns>/deployments    …/deployments/<d>        …/deployments/<d>/pods
 *   GET /api/nodes/<node>/timeseries?window=<duration>[&step=<duration>]
 *   GET /api/pods/<pod>/timeseries?[namespace=&]window=   /api/namespaces/<ns>/timeseries?window=
 *   GET /api/deployments/<d>/timeseries?[namespace=&]window=
 *
 * A request is one instant query at the server's now (current figures; the look-back is
 * --stale-after), or for a time series one instant query saying whether the object
 * exists (look-back: the window) and one range query. Errors are JSON: 404 for an
 * unknown object, 400 for a bad window or step, 409 for a pod or deployment name found
 * in several namespaces without ?namespace=, 500 when the store cannot be read, 503 when
 * a query runs past --query-timeout. Durations are seconds ("300") or what the settings
 * take ("5m", "1h30m", "15d").
 */
#include "auth/auth.h"
#include "common/err.h"
#include "common/http_server.h"
#include "common/jsonw.h"
#include "common/timefmt.h"
#include "model.h"
#include "server_internal.h"
#include "view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_POINTS 11000

/* What the current figures of each level are. */
#define FIGS_RATES                                                                                 \
    ((1ull << KM_SEED_CPU) | (1ull << KM_SEED_MEMORY) | (1ull << KM_SEED_DISK_READ) |              \
     (1ull << KM_SEED_DISK_WRITE) | (1ull << KM_SEED_NET_RECV) | (1ull << KM_SEED_NET_SENT))
#define FIGS_CURRENT                                                                               \
    (FIGS_RATES | (1ull << KM_SEED_DISK_READ_TOTAL) | (1ull << KM_SEED_DISK_WRITE_TOTAL) |         \
     (1ull << KM_SEED_NET_RECV_TOTAL) | (1ull << KM_SEED_NET_SENT_TOTAL) |                         \
     (1ull << KM_SEED_TIMESTAMP))
/* Figures first to last, as bits. */
#define FIG_RUN(first, last) (((1ull << ((last) - (first) + 1)) - 1) << (first))
#define FIG_STATE            (1ull << KM_SEED_STATE)
#define FIGS_NODE                                                                                  \
    (FIGS_CURRENT | (1ull << KM_SEED_MEMORY_TOTAL) | (1ull << KM_SEED_POD_COUNT) | FIG_STATE |     \
     FIG_RUN(KM_SEED_COND_READY, KM_SEED_UNSCHEDULABLE))
#define FIGS_POD                                                                                   \
    (FIGS_CURRENT | (1ull << KM_SEED_DEPLOYMENT_OF) | FIG_STATE |                                  \
     FIG_RUN(KM_SEED_PHASE, KM_SEED_LIM_MEMORY))
#define FIGS_NAMESPACE                                                                             \
    (FIGS_CURRENT | (1ull << KM_SEED_POD_COUNT) | (1ull << KM_SEED_DEPLOYMENT_COUNT) | FIG_STATE | \
     (1ull << KM_SEED_PHASE) | FIG_RUN(KM_SEED_PODS_PENDING, KM_SEED_PODS_UNKNOWN))
#define FIGS_DEPLOYMENT                                                                            \
    (FIGS_CURRENT | (1ull << KM_SEED_POD_COUNT) | FIG_STATE |                                      \
     FIG_RUN(KM_SEED_REPLICAS_DESIRED, KM_SEED_REPLICAS_UNAVAILABLE))
#define FIG_EXISTS (1ull << KM_SEED_TIMESTAMP)

/* ---- request plumbing ----------------------------------------------------------------------- */

struct out {
    struct km_buf b;
    struct km_jsonw w;
};

static void out_init(struct out *o)
{
    km_buf_init(&o->b, 0);
    km_jsonw_init(&o->w, &o->b);
}

/* Answer 200 with what was written (an object the caller opened and closed). */
static void out_send(struct out *o, struct km_http_req *req)
{
    km_buf_putc(&o->b, '\n');
    if (km_buf_error(&o->b))
        km_http_respond_error(req, 500, "the answer could not be built (out of memory)");
    else
        km_http_respond_buf(req, 200, "application/json", &o->b);
    km_buf_fini(&o->b);
}

static int64_t now_ms(void)
{
    return km_time_now_ns() / 1000000;
}

/* Polled by long evaluations. */
static bool client_gone(void *ud)
{
    return km_http_req_cancelled(ud);
}

static double interval_s(const struct km_api_ctx *api)
{
    return (double)api->scrape_ms / 1000;
}

/* Answer a failed query: 503 when it ran out of time (or the client left), else 500. */
static void respond_query_error(struct km_http_req *req, int rc)
{
    if (rc == KM_ETIMEDOUT || rc == KM_ECANCELED)
        km_http_respond_error(req, 503, "the query did not finish: %s", km_err_msg());
    else
        km_http_respond_error(req, 500, "reading the database: %s", km_err_msg());
}

static struct km_pq_opts query_opts(const struct km_api_ctx *api, struct km_http_req *req,
                                    int64_t lookback_ms)
{
    struct km_pq_opts o = api->query;

    o.lookback_ms = lookback_ms;
    o.cancelled = client_gone;
    o.cancel_ud = req;
    return o;
}

/* Ask `ask` at the server's now, with a look-back of lookback_ms; false after answering
 * an error. */
static bool ask_now(const struct km_api_ctx *api, struct km_http_req *req,
                    const struct km_model_ask *ask, const struct km_filter *f, int64_t lookback_ms,
                    struct km_model *out)
{
    struct km_model_params p = { .rate_window_ms = km_model_rate_window(0, api->scrape_ms) };
    struct km_pq_opts o = query_opts(api, req, lookback_ms);
    struct km_auth_view av;
    int rc;

    if (f)
        p.f = *f;
    rc = km_model_instant(km_auth_storage(req, api->store, &av), &o, ask, &p, now_ms(), out);
    if (rc == 0)
        return true;
    respond_query_error(req, rc);
    return false;
}

/* The current figures of one level (look-back: --stale-after). */
static bool current(const struct km_api_ctx *api, struct km_http_req *req, enum km_seed_level level,
                    uint64_t figs, const struct km_filter *f, struct km_model *out)
{
    struct km_model_ask ask = { 0 };

    ask.figs[level] = figs;
    return ask_now(api, req, &ask, f, api->stale_ms, out);
}

/* 404: `what` "name" [in namespace "ns"] not found. */
static void not_found(struct km_http_req *req, const char *what, const char *name, const char *ns)
{
    if (ns)
        km_http_respond_error(req, 404, "%s \"%s\" not found in namespace \"%s\"", what, name, ns);
    else
        km_http_respond_error(req, 404, "%s \"%s\" not found", what, name);
}

/* ---- one object, all objects ------------------------------------------------------------ */

/* Answer the object of a level named (ns, name): its current figures, 404 when there is
 * none (`what` "name" [in namespace "ns"] not found). */
static void answer_one(struct km_http_req *req, const struct km_api_ctx *api,
                       enum km_seed_level level, uint64_t figs, const struct km_filter *f,
                       const char *what, const char *ns, const char *name)
{
    const struct km_entity *e;
    struct km_model m;
    struct out o;

    if (!current(api, req, level, figs, f, &m))
        return;
    e = km_model_find(&m, level, ns, name);
    if (!e) {
        not_found(req, what, name, ns);
    } else {
        out_init(&o);
        km_view_object(&o.w, level, e, interval_s(api));
        out_send(&o, req);
    }
    km_model_fini(&m);
}

/* Answer every object of a level under `key`, with their count (and the time of the
 * answer when `stamped`). */
static void answer_all(struct km_http_req *req, const struct km_api_ctx *api,
                       enum km_seed_level level, uint64_t figs, const char *key, bool stamped)
{
    const struct km_entities *es;
    struct km_model m;
    struct out o;

    if (!current(api, req, level, figs, NULL, &m))
        return;
    es = &m.level[level];
    out_init(&o);
    km_jsonw_obj_begin(&o.w);
    km_jsonw_key(&o.w, key);
    km_jsonw_arr_begin(&o.w);
    for (size_t i = 0; i < es->n; i++)
        km_view_object(&o.w, level, &es->v[i], interval_s(api));
    km_jsonw_arr_end(&o.w);
    km_jsonw_key(&o.w, "count");
    km_jsonw_u64(&o.w, es->n);
    if (stamped)
        km_view_time(&o.w, "timestamp", now_ms());
    km_jsonw_obj_end(&o.w);
    out_send(&o, req);
    km_model_fini(&m);
}

/* ---- nodes ---------------------------------------------------------------------------------- */

static void on_nodes(struct km_http_req *req, void *ud)
{
    answer_all(req, ud, KM_SEED_NODE, FIGS_NODE, "nodes", true);
}

static void on_node(struct km_http_req *req, void *ud)
{
    const char *name = km_http_req_param(req, "node");

    answer_one(req, ud, KM_SEED_NODE, FIGS_NODE, &(struct km_filter){ .node = name }, "node", NULL,
               name);
}

/* A node's pods: a node is known by its own series or by its pods' node label (pods
 * reported by JSON senders or cgroup series of a node whose node series are missing),
 * so 404 only when neither names it. */
static void on_node_pods(struct km_http_req *req, void *ud)
{
    const struct km_api_ctx *api = ud;
    const char *name = km_http_req_param(req, "node");
    struct km_model_ask ask = { .figs[KM_SEED_POD] = FIGS_POD,
                                .figs[KM_SEED_NODE] = FIG_EXISTS | FIG_STATE };
    struct km_model m;
    struct out o;

    if (!ask_now(api, req, &ask, &(struct km_filter){ .node = name }, api->stale_ms, &m))
        return;
    if (m.level[KM_SEED_POD].n == 0 && !km_model_find(&m, KM_SEED_NODE, NULL, name)) {
        not_found(req, "node", name, NULL);
    } else {
        out_init(&o);
        km_jsonw_obj_begin(&o.w);
        km_jsonw_key(&o.w, "node_name");
        km_jsonw_str(&o.w, name);
        km_view_pods(&o.w, &m.level[KM_SEED_POD], NULL, interval_s(api));
        km_jsonw_obj_end(&o.w);
        out_send(&o, req);
    }
    km_model_fini(&m);
}

/* ---- pods --------------------------------------------------------------------------------- */

static void on_pods(struct km_http_req *req, void *ud)
{
    const struct km_api_ctx *api = ud;
    struct km_filter f = { .namespace = km_http_req_arg(req, "namespace") };
    struct km_model m;
    struct out o;

    if (!current(api, req, KM_SEED_POD, FIGS_POD, &f, &m))
        return;
    out_init(&o);
    km_jsonw_obj_begin(&o.w);
    km_view_pods(&o.w, &m.level[KM_SEED_POD], NULL, interval_s(api));
    km_jsonw_obj_end(&o.w);
    out_send(&o, req);
    km_model_fini(&m);
}

/* The namespaces of the objects named `name` among `found` (sorted by namespace), each
 * once: with `w`, as JSON strings, else into `list` ("a, b"). */
static void list_namespaces(const struct km_entities *found, const char *name, struct km_jsonw *w,
                            struct km_buf *list)
{
    const char *last = NULL;

    for (size_t i = 0; i < found->n; i++) {
        const struct km_entity *e = &found->v[i];

        if (strcmp(e->name, name) != 0 || (last && strcmp(e->namespace, last) == 0))
            continue;
        if (w)
            km_jsonw_str(w, e->namespace);
        else
            km_buf_printf(list, "%s%s", last ? ", " : "", e->namespace);
        last = e->namespace;
    }
}

/* 409 naming the namespaces an ambiguous name was found in. */
static void ambiguous(struct km_http_req *req, const char *what, const char *name,
                      const struct km_entities *found)
{
    struct km_buf list;
    struct out o;
    char msg[768];

    km_buf_init(&list, 0);
    list_namespaces(found, name, NULL, &list);
    snprintf(msg, sizeof(msg),
             "%s \"%s\" exists in several namespaces (%.500s): pick one with ?namespace=", what,
             name, km_buf_cstr(&list));
    km_buf_fini(&list);
    out_init(&o);
    km_jsonw_obj_begin(&o.w);
    km_jsonw_key(&o.w, "error");
    km_jsonw_str(&o.w, msg);
    km_jsonw_key(&o.w, "namespaces");
    km_jsonw_arr_begin(&o.w);
    list_namespaces(found, name, &o.w, NULL);
    km_jsonw_arr_end(&o.w);
    km_jsonw_obj_end(&o.w);
    km_buf_putc(&o.b, '\n');
    km_http_respond_buf(req, 409, "application/json", &o.b);
    km_buf_fini(&o.b);
}

/* The one object named `name` among `found` (pods or deployments, sorted by namespace);
 * NULL after answering 404 when there is none, or 409 when there are several
 * namespaces'. */
static const struct km_entity *one_in_namespace(struct km_http_req *req, const char *what,
                                                const char *name, const char *ns,
                                                const struct km_entities *found)
{
    const struct km_entity *one = NULL;

    for (size_t i = 0; i < found->n; i++) {
        if (strcmp(found->v[i].name, name) != 0)
            continue;
        if (one && strcmp(one->namespace, found->v[i].namespace) != 0) {
            ambiguous(req, what, name, found);
            return NULL;
        }
        one = one ? one : &found->v[i];
    }
    if (!one)
        not_found(req, what, name, ns);
    return one;
}

static void on_pod(struct km_http_req *req, void *ud)
{
    const struct km_api_ctx *api = ud;
    const char *name = km_http_req_param(req, "pod");
    struct km_filter f = { .pod = name, .namespace = km_http_req_arg(req, "namespace") };
    const struct km_entity *e;
    struct km_model m;
    struct out o;

    if (!current(api, req, KM_SEED_POD, FIGS_POD, &f, &m))
        return;
    e = one_in_namespace(req, "pod", name, f.namespace, &m.level[KM_SEED_POD]);
    if (e) {
        out_init(&o);
        km_view_object(&o.w, KM_SEED_POD, e, interval_s(api));
        out_send(&o, req);
    }
    km_model_fini(&m);
}

/* ---- namespaces and deployments ---------------------------------------------------------- */

static void on_namespaces(struct km_http_req *req, void *ud)
{
    answer_all(req, ud, KM_SEED_NAMESPACE, FIGS_NAMESPACE, "namespaces", false);
}

static void on_namespace(struct km_http_req *req, void *ud)
{
    const char *ns = km_http_req_param(req, "namespace");

    answer_one(req, ud, KM_SEED_NAMESPACE, FIGS_NAMESPACE, &(struct km_filter){ .namespace = ns },
               "namespace", NULL, ns);
}

/* The pods of a namespace, or of one of its deployments (404 when there are none). */
static void namespace_pods(struct km_http_req *req, const struct km_api_ctx *api, const char *ns,
                           const char *dep)
{
    struct km_model m;
    struct out o;
    size_t n = 0;

    if (!current(api, req, KM_SEED_POD, FIGS_POD, &(struct km_filter){ .namespace = ns }, &m))
        return;
    for (size_t i = 0; i < m.level[KM_SEED_POD].n; i++) {
        const char *d = m.level[KM_SEED_POD].v[i].deployment;

        n += !dep || (d && strcmp(d, dep) == 0);
    }
    if (n == 0) {
        if (dep)
            not_found(req, "deployment", dep, ns);
        else
            not_found(req, "namespace", ns, NULL);
        km_model_fini(&m);
        return;
    }
    out_init(&o);
    km_jsonw_obj_begin(&o.w);
    km_jsonw_key(&o.w, "namespace");
    km_jsonw_str(&o.w, ns);
    if (dep) {
        km_jsonw_key(&o.w, "deployment");
        km_jsonw_str(&o.w, dep);
    }
    km_view_pods(&o.w, &m.level[KM_SEED_POD], dep, interval_s(api));
    km_jsonw_obj_end(&o.w);
    out_send(&o, req);
    km_model_fini(&m);
}

static void on_namespace_pods(struct km_http_req *req, void *ud)
{
    namespace_pods(req, ud, km_http_req_param(req, "namespace"), NULL);
}

static void on_deployment_pods(struct km_http_req *req, void *ud)
{
    namespace_pods(req, ud, km_http_req_param(req, "namespace"),
                   km_http_req_param(req, "deployment"));
}

static void on_deployments(struct km_http_req *req, void *ud)
{
    const struct km_api_ctx *api = ud;
    const char *ns = km_http_req_param(req, "namespace");
    struct km_model_ask ask = { .figs[KM_SEED_DEPLOYMENT] = FIGS_DEPLOYMENT,
                                .figs[KM_SEED_NAMESPACE] =
                                    (1ull << KM_SEED_POD_COUNT) | FIG_STATE };
    const struct km_entities *deps;
    struct km_model m;
    struct out o;

    if (!ask_now(api, req, &ask, &(struct km_filter){ .namespace = ns }, api->stale_ms, &m))
        return;
    if (!km_model_find(&m, KM_SEED_NAMESPACE, NULL, ns)) {
        not_found(req, "namespace", ns, NULL);
        km_model_fini(&m);
        return;
    }
    deps = &m.level[KM_SEED_DEPLOYMENT];
    out_init(&o);
    km_jsonw_obj_begin(&o.w);
    km_jsonw_key(&o.w, "namespace");
    km_jsonw_str(&o.w, ns);
    km_jsonw_key(&o.w, "deployments");
    km_jsonw_arr_begin(&o.w);
    for (size_t i = 0; i < deps->n; i++)
        km_view_object(&o.w, KM_SEED_DEPLOYMENT, &deps->v[i], interval_s(api));
    km_jsonw_arr_end(&o.w);
    km_jsonw_key(&o.w, "count");
    km_jsonw_u64(&o.w, deps->n);
    km_jsonw_obj_end(&o.w);
    out_send(&o, req);
    km_model_fini(&m);
}

static void on_deployment(struct km_http_req *req, void *ud)
{
    const char *ns = km_http_req_param(req, "namespace");

    answer_one(req, ud, KM_SEED_DEPLOYMENT, FIGS_DEPLOYMENT, &(struct km_filter){ .namespace = ns },
               "deployment", ns, km_http_req_param(req, "deployment"));
}

/* ---- time series --------------------------------------------------------------------------- */

/* A positive duration from the query string, as the settings take them: seconds
 * ("300", "0.5") or with units ("5m", "1h30m", "15d"); *ms = dflt when absent. False
 * after answering 400. */
static bool duration_param(struct km_http_req *req, const char *name, int64_t dflt, int64_t max,
                           int64_t *ms)
{
    const char *v = km_http_req_arg(req, name);
    char max_text[32];

    *ms = dflt;
    if (!v)
        return true;
    if (km_duration_parse(v, ms) != 0 || *ms <= 0) {
        km_http_respond_error(req, 400,
                              "%s must be a positive duration: seconds (300) or with units (5m, "
                              "1h30m, 15d), not \"%.64s\"",
                              name, v);
        return false;
    }
    if (*ms > max) {
        km_duration_format(max_text, sizeof(max_text), max);
        km_http_respond_error(req, 400, "%s=%.64s is longer than the %s the server keeps", name, v,
                              max_text);
        return false;
    }
    return true;
}

/* A time-series request's window and step (0: choose), checked before anything is
 * looked up so that a bad one is a 400 whatever it names. */
struct ts_params {
    int64_t window, step;
};

static bool parse_ts_params(const struct km_api_ctx *api, struct km_http_req *req,
                            struct ts_params *p)
{
    if (!duration_param(req, "window", 3600000, api->retention_ms, &p->window) ||
        !duration_param(req, "step", 0, api->retention_ms, &p->step))
        return false;
    if (p->step > p->window) {
        char step[32], window[32];

        km_duration_format(step, sizeof(step), p->step);
        km_duration_format(window, sizeof(window), p->window);
        km_http_respond_error(req, 400, "step (%s) is longer than window (%s)", step, window);
        return false;
    }
    if (p->step && p->window / p->step > MAX_POINTS) {
        km_http_respond_error(req, 400, "window/step asks for %lld points (at most %d)",
                              (long long)(p->window / p->step), MAX_POINTS);
        return false;
    }
    return true;
}

/* The steps of a window ending now: the asked step, else the sampling interval or, when
 * coarser, the window in 500 steps (whole seconds). The last step is the newest multiple
 * of the step. */
static struct km_pq_grid plan_steps(const struct km_api_ctx *api, const struct ts_params *p)
{
    int64_t coarse = ((p->window + 499) / 500 + 999) / 1000 * 1000;
    int64_t step = p->step ? p->step : (api->scrape_ms > coarse ? api->scrape_ms : coarse);
    struct km_pq_grid g = { .step = step, .n = (size_t)(p->window / step) };

    if (g.n == 0)
        g.n = 1;
    g.start = now_ms() / step * step - (int64_t)(g.n - 1) * step;
    return g;
}

/* Answer the time series of the object of `level` named (ns, name): one range query of
 * the figures, keyed as the object is (`key`: "node_name", …). */
static void timeseries(const struct km_api_ctx *api, struct km_http_req *req,
                       const struct ts_params *p, enum km_seed_level level,
                       const struct km_filter *f, const char *key, const char *name, const char *ns)
{
    struct km_model_ask ask = { 0 };
    struct km_pq_grid g = plan_steps(api, p);
    struct km_model_params mp = { .f = *f,
                                  .rate_window_ms = km_model_rate_window(g.step, api->scrape_ms) };
    struct km_pq_opts o = query_opts(api, req, api->query.lookback_ms);
    const struct km_entity *e;
    struct km_model m;
    struct out out;
    struct km_auth_view av;
    size_t points = 0;
    int rc;

    ask.figs[level] = FIGS_RATES;
    rc = km_model_range(km_auth_storage(req, api->store, &av), &o, &ask, &mp, &g, &m);
    if (rc) {
        respond_query_error(req, rc);
        return;
    }
    e = km_model_find(&m, level, level == KM_SEED_NODE || level == KM_SEED_NAMESPACE ? NULL : ns,
                      name);
    out_init(&out);
    km_jsonw_obj_begin(&out.w);
    km_jsonw_key(&out.w, key);
    km_jsonw_str(&out.w, name);
    if (ns) {
        km_jsonw_key(&out.w, "namespace");
        km_jsonw_str(&out.w, ns);
    }
    km_jsonw_key(&out.w, "window");
    km_jsonw_double(&out.w, (double)p->window / 1000);
    km_jsonw_key(&out.w, "step");
    km_jsonw_double(&out.w, (double)g.step / 1000);
    km_jsonw_key(&out.w, "points");
    km_jsonw_arr_begin(&out.w);
    for (size_t k = 0; e && k < g.n; k++)
        points += km_view_point(&out.w, e, &g, k);
    km_jsonw_arr_end(&out.w);
    km_jsonw_key(&out.w, "count");
    km_jsonw_u64(&out.w, points);
    km_jsonw_obj_end(&out.w);
    out_send(&out, req);
    km_model_fini(&m);
}

/* Whether an object of `level` named f has data in the window (or --stale-after when
 * longer), or exists by its cluster state (its time series then has no points): *out
 * holds the level's objects. False after answering an error. */
static bool exists(const struct km_api_ctx *api, struct km_http_req *req, const struct ts_params *p,
                   enum km_seed_level level, const struct km_filter *f, struct km_model *out)
{
    struct km_model_ask ask = { 0 };

    ask.figs[level] = FIG_EXISTS | FIG_STATE;
    return ask_now(api, req, &ask, f, p->window > api->stale_ms ? p->window : api->stale_ms, out);
}

/* A node's or namespace's time series, 404 when it had no data in the window. */
static void ts_by_name(struct km_http_req *req, const struct km_api_ctx *api,
                       enum km_seed_level level, const struct km_filter *f, const char *what,
                       const char *key, const char *name)
{
    struct ts_params p;
    struct km_model m;
    bool found;

    if (!parse_ts_params(api, req, &p) || !exists(api, req, &p, level, f, &m))
        return;
    found = km_model_find(&m, level, NULL, name) != NULL;
    km_model_fini(&m);
    if (!found)
        not_found(req, what, name, NULL);
    else
        timeseries(api, req, &p, level, f, key, name, NULL);
}

/* A pod's or deployment's time series, in the one namespace it is found in (409 when
 * several and no ?namespace=). */
static void ts_in_namespace(struct km_http_req *req, const struct km_api_ctx *api,
                            enum km_seed_level level, struct km_filter *f, const char *what,
                            const char *key, const char *name)
{
    const struct km_entity *e;
    struct ts_params p;
    struct km_model m;

    if (!parse_ts_params(api, req, &p) || !exists(api, req, &p, level, f, &m))
        return;
    e = one_in_namespace(req, what, name, f->namespace, &m.level[level]);
    if (e) {
        f->namespace = e->namespace;
        timeseries(api, req, &p, level, f, key, name, e->namespace);
    }
    km_model_fini(&m);
}

static void on_node_ts(struct km_http_req *req, void *ud)
{
    const char *name = km_http_req_param(req, "node");

    ts_by_name(req, ud, KM_SEED_NODE, &(struct km_filter){ .node = name }, "node", "node_name",
               name);
}

static void on_namespace_ts(struct km_http_req *req, void *ud)
{
    const char *ns = km_http_req_param(req, "namespace");

    ts_by_name(req, ud, KM_SEED_NAMESPACE, &(struct km_filter){ .namespace = ns }, "namespace",
               "namespace", ns);
}

static void on_pod_ts(struct km_http_req *req, void *ud)
{
    const char *name = km_http_req_param(req, "pod");
    struct km_filter f = { .pod = name, .namespace = km_http_req_arg(req, "namespace") };

    ts_in_namespace(req, ud, KM_SEED_POD, &f, "pod", "pod_name", name);
}

static void on_deployment_ts(struct km_http_req *req, void *ud)
{
    const char *dep = km_http_req_param(req, "deployment");
    struct km_filter f = { .namespace = km_http_req_arg(req, "namespace") };

    ts_in_namespace(req, ud, KM_SEED_DEPLOYMENT, &f, "deployment", "deployment", dep);
}

/* ---- routes -------------------------------------------------------------------------------- */

const struct km_http_route km_api_seed_routes[] = {
    { "GET", "/api/nodes", on_nodes, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "GET", "/api/nodes/<node>", on_node, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "GET", "/api/nodes/<node>/pods", on_node_pods, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "GET", "/api/nodes/<node>/timeseries", on_node_ts, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "GET", "/api/pods", on_pods, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "GET", "/api/pods/<pod>", on_pod, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "GET", "/api/pods/<pod>/timeseries", on_pod_ts, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "GET", "/api/namespaces", on_namespaces, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "GET", "/api/namespaces/<namespace>", on_namespace, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "GET", "/api/namespaces/<namespace>/pods", on_namespace_pods,
      KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "GET", "/api/namespaces/<namespace>/timeseries", on_namespace_ts,
      KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "GET", "/api/namespaces/<namespace>/deployments", on_deployments,
      KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "GET", "/api/namespaces/<namespace>/deployments/<deployment>", on_deployment,
      KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "GET", "/api/namespaces/<namespace>/deployments/<deployment>/pods", on_deployment_pods,
      KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "GET", "/api/deployments/<deployment>/timeseries", on_deployment_ts,
      KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
};
const size_t km_api_seed_nroutes = sizeof(km_api_seed_routes) / sizeof(km_api_seed_routes[0]);
