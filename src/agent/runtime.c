/*
 * runtime — collector instances, collection, publication and rendering (see runtime.h).
 *
 * Each collector has two metric sets: it fills sets[1 - pub] during a collection and the
 * agent flips `pub` under the mutex when it is done, so readers render sets[pub] while
 * the next collection is being written. The node summary and the agent's own health
 * set are published the same way. Steady state allocates nothing: sets, buffers and
 * file descriptors are all reused.
 */
#include "agent/runtime.h"

#include "common/err.h"
#include "common/jsonw.h"
#include "common/log.h"
#include "common/self_metrics.h"
#include "common/timefmt.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KM_LOGGED_MAX 64

struct km_collector_state {
    const struct km_collector_ops *ops;
    void *ctx;
    bool enabled; /* not switched off by --disable-collectors */
    bool ready;   /* init succeeded */
    struct km_mset sets[2];
    int pub;
    uint64_t errors_total;
    double duration_s;
    /* Hashes of error messages already logged, so each is logged once. */
    uint64_t logged[KM_LOGGED_MAX];
    size_t nlogged;
    char title[192]; /* its section heading in --help */
};

struct km_agent {
    const struct km_host *host;
    struct km_collector_state *cs;
    size_t ncs;
    pthread_mutex_t mu;
    struct km_self_metrics self;
    bool self_ok;
    struct km_mset health[2]; /* agent health + process_*; health[health_pub] is published */
    int health_pub;
    /* Published under mu: the two latest summaries and when they were taken. */
    struct km_node_summary summary, prev_summary;
    int64_t summary_ns, prev_summary_ns; /* wall clock of each; 0: none yet */
    uint64_t collections;
    km_agent_health_fn health_hook;
    void *health_ud;
    int (*ship)(void *ud, const struct km_mset *part);
    void *ship_ud;
    const struct km_mset **sets; /* scratch for km_agent_with_sets() */
};

/* ---- errors --------------------------------------------------------------------------- */

void km_collect_error(struct km_collect *c, const char *fmt, ...)
{
    struct km_collector_state *st = c->state;
    char msg[512];
    uint64_t h;
    va_list ap;

    st->errors_total++;
    if (!km_log_enabled(KM_LOG_DEBUG))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    h = XXH3_64bits(msg, strlen(msg));
    for (size_t i = 0; i < st->nlogged; i++) {
        if (st->logged[i] == h)
            return;
    }
    if (st->nlogged < KM_LOGGED_MAX)
        st->logged[st->nlogged++] = h;
    km_log_debug("agent",
                 "collector %s: %s (counted in kmon_agent_collect_errors_total; "
                 "logged once)",
                 st->ops->name, msg);
}

void km_collect_malformed(struct km_collect *c, int n, const char *what)
{
    if (n <= 0)
        return;
    km_collect_error(c, "skipped malformed lines in %s", what);
    c->state->errors_total += (uint64_t)n - 1;
}

/* ---- life cycle ----------------------------------------------------------------------- */

int km_agent_create(struct km_agent **out, const struct km_collector_ops *const *collectors)
{
    struct km_agent *a;
    size_t n = 0;
    int rc;

    while (collectors[n])
        n++;
    a = calloc(1, sizeof(*a));
    if (!a)
        return km_err_set(KM_ENOMEM, "out of memory");
    a->cs = calloc(n, sizeof(*a->cs));
    a->sets = calloc(n + 1, sizeof(*a->sets));
    if (!a->cs || !a->sets) {
        rc = km_err_set(KM_ENOMEM, "out of memory");
        goto out_free_agent;
    }
    for (size_t i = 0; i < n; i++) {
        struct km_collector_state *st = &a->cs[i];

        if (collectors[i]->version != KM_COLLECTOR_OPS_V1) {
            rc = km_err_set(KM_EINVAL, "collector %s has unsupported ops version %u",
                            collectors[i]->name, collectors[i]->version);
            goto out_free_contexts;
        }
        st->ops = collectors[i];
        st->ctx = calloc(1, collectors[i]->ctx_size ? collectors[i]->ctx_size : 1);
        if (!st->ctx) {
            rc = km_err_set(KM_ENOMEM, "out of memory");
            goto out_free_contexts;
        }
        km_mset_init(&st->sets[0]);
        km_mset_init(&st->sets[1]);
        snprintf(st->title, sizeof(st->title), "Collector %s: %s", st->ops->name, st->ops->help);
        a->ncs++;
        /* Settings start at their defaults, so an agent works without a config parse. */
        if (collectors[i]->cfg) {
            rc = km_cfg_apply_defaults(collectors[i]->cfg, st->ctx);
            if (rc)
                goto out_free_contexts;
        }
    }
    km_mset_init(&a->health[0]);
    km_mset_init(&a->health[1]);
    pthread_mutex_init(&a->mu, NULL);
    *out = a;
    return 0;

out_free_contexts:
    for (size_t i = 0; i < a->ncs; i++) {
        km_mset_fini(&a->cs[i].sets[0]);
        km_mset_fini(&a->cs[i].sets[1]);
        if (a->cs[i].ops->cfg)
            km_cfg_free_fields(a->cs[i].ops->cfg, a->cs[i].ctx);
        free(a->cs[i].ctx);
    }
    free(a->cs);
out_free_agent:
    free(a->sets);
    free(a);
    return rc;
}

void km_agent_cfg_sections(struct km_agent *a, struct km_cfg_section *sections, size_t *n,
                           size_t max)
{
    for (size_t i = 0; i < a->ncs && *n < max; i++) {
        if (!a->cs[i].ops->cfg)
            continue;
        sections[*n].title = a->cs[i].title;
        sections[*n].fields = a->cs[i].ops->cfg;
        sections[*n].base = a->cs[i].ctx;
        (*n)++;
    }
}

#define KM_AGENT_MAX_DISABLED 64

int km_agent_start(struct km_agent *a, const struct km_host *host, const char *disabled)
{
    char list[1024], *names[KM_AGENT_MAX_DISABLED];
    size_t nnames;
    int rc;

    snprintf(list, sizeof(list), "%s", disabled ? disabled : "");
    nnames = km_cfg_split_list(list, names, KM_AGENT_MAX_DISABLED);
    /* Every name in the list must be a collector: a typo must not go unnoticed. */
    for (size_t k = 0; k < nnames; k++) {
        bool known = false;

        for (size_t i = 0; i < a->ncs && !known; i++)
            known = strcmp(names[k], a->cs[i].ops->name) == 0;
        if (!known)
            return km_err_set(KM_EINVAL, "--disable-collectors: no collector named \"%s\"",
                              names[k]);
    }
    a->host = host;
    for (size_t i = 0; i < a->ncs; i++) {
        struct km_collector_state *st = &a->cs[i];

        st->enabled = true;
        for (size_t k = 0; k < nnames; k++)
            st->enabled = st->enabled && strcmp(names[k], st->ops->name) != 0;
        if (!st->enabled)
            continue;
        km_err_set(KM_OK, "%s", "");
        rc = st->ops->init(st->ctx, host);
        /* A bad setting is the user's to fix now; anything else (a file this host does
         * not have) only costs this collector. */
        if (rc == KM_EINVAL)
            return km_err_wrap(rc, "collector %s", st->ops->name);
        if (rc) {
            km_log_warn("agent", "collector %s disabled: %s", st->ops->name, km_err_msg());
            continue;
        }
        st->ready = true;
    }
    a->self_ok = km_self_metrics_init(&a->self) == 0;
    return 0;
}

size_t km_agent_ncollectors(const struct km_agent *a)
{
    size_t n = 0;

    for (size_t i = 0; i < a->ncs; i++)
        n += a->cs[i].ready;
    return n;
}

void km_agent_destroy(struct km_agent *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->ncs; i++) {
        if (a->cs[i].enabled)
            a->cs[i].ops->fini(a->cs[i].ctx);
        km_mset_fini(&a->cs[i].sets[0]);
        km_mset_fini(&a->cs[i].sets[1]);
        if (a->cs[i].ops->cfg)
            km_cfg_free_fields(a->cs[i].ops->cfg, a->cs[i].ctx);
        free(a->cs[i].ctx);
    }
    free(a->cs);
    free(a->sets);
    if (a->host)
        km_self_metrics_fini(&a->self);
    km_mset_fini(&a->health[0]);
    km_mset_fini(&a->health[1]);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

/* ---- collection ----------------------------------------------------------------------- */

static void build_health(struct km_agent *a, struct km_mset *m)
{
    int f_dur, f_err, f_up;

    f_dur = km_mset_family(m, "kmon_agent_collect_duration_seconds",
                           "Wall-clock seconds the last collection of each collector took.",
                           KM_MT_GAUGE, 0);
    f_err = km_mset_family(m, "kmon_agent_collect_errors_total",
                           "Files, lines or metrics a collector had to skip (missing, "
                           "unreadable or malformed).",
                           KM_MT_COUNTER, 0);
    f_up = km_mset_family(m, "kmon_agent_collector_enabled",
                          "1 if the collector runs, 0 if it was disabled or failed to start.",
                          KM_MT_GAUGE, 0);
    for (size_t i = 0; i < a->ncs; i++) {
        struct km_collector_state *st = &a->cs[i];
        struct km_label l = { "collector", st->ops->name };

        km_mset_add(m, f_up, &l, 1, st->ready ? 1 : 0);
        if (!st->ready)
            continue;
        km_mset_add(m, f_dur, &l, 1, st->duration_s);
        km_mset_add(m, f_err, &l, 1, (double)st->errors_total);
    }
    km_mset_add(m,
                km_mset_family(m, "kmon_agent_collections_total",
                               "Collections run since the agent started.", KM_MT_COUNTER, 0),
                NULL, 0, (double)a->collections);
    if (a->self_ok)
        km_self_metrics_collect(&a->self, m);
    if (a->health_hook)
        a->health_hook(a->health_ud, m);
}

void km_agent_set_health_hook(struct km_agent *a, km_agent_health_fn fn, void *ud)
{
    a->health_hook = fn;
    a->health_ud = ud;
}

void km_agent_set_ship_hook(struct km_agent *a, int (*fn)(void *ud, const struct km_mset *part),
                            void *ud)
{
    a->ship = fn;
    a->ship_ud = ud;
}

void km_agent_with_sets(struct km_agent *a, km_agent_sets_fn fn, void *ud)
{
    size_t n = 0;

    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; a->sets && i < a->ncs; i++) {
        if (a->cs[i].ready)
            a->sets[n++] = &a->cs[i].sets[a->cs[i].pub];
    }
    if (a->sets)
        a->sets[n++] = &a->health[a->health_pub];
    fn(ud, a->sets, n);
    pthread_mutex_unlock(&a->mu);
}

void km_agent_collect(struct km_agent *a)
{
    struct km_node_summary sum;
    int64_t now_ns = km_time_now_ns(), now_ms = now_ns / 1000000;
    int hidx;

    memset(&sum, 0, sizeof(sum));
    for (size_t i = 0; i < a->ncs; i++) {
        struct km_collector_state *st = &a->cs[i];
        struct km_mset *scratch;
        struct km_collect c;
        int64_t t0;

        if (!st->ready)
            continue;
        scratch = &st->sets[1 - st->pub];
        km_mset_reset(scratch, now_ms);
        c.out = scratch;
        c.summary = &sum;
        c.now_ms = now_ms;
        c.state = st;
        c.ship = a->ship;
        c.ship_ud = a->ship_ud;
        t0 = km_time_mono_ns();
        st->ops->collect(st->ctx, &c);
        st->duration_s = (double)(km_time_mono_ns() - t0) / 1e9;
        if (km_mset_error(scratch))
            km_collect_error(&c, "metric set: %s", km_err_name(km_mset_error(scratch)));
        pthread_mutex_lock(&a->mu);
        st->pub = 1 - st->pub;
        pthread_mutex_unlock(&a->mu);
    }
    a->collections++;
    hidx = 1 - a->health_pub;
    km_mset_reset(&a->health[hidx], now_ms);
    build_health(a, &a->health[hidx]);
    pthread_mutex_lock(&a->mu);
    a->health_pub = hidx;
    a->prev_summary = a->summary;
    a->prev_summary_ns = a->summary_ns;
    a->summary = sum;
    a->summary_ns = now_ns;
    pthread_mutex_unlock(&a->mu);
}

/* ---- rendering ------------------------------------------------------------------------ */

struct km_agent_view {
    struct km_agent *a;
    bool sets_done; /* the published sets are out */
    size_t coll;    /* the collector whose view is being rendered */
    void *cv;       /* its view */
};

int km_agent_view_begin(struct km_agent *a, struct km_agent_view **out)
{
    struct km_agent_view *v = calloc(1, sizeof(*v));

    *out = v;
    if (!v)
        return km_err_set(KM_ENOMEM, "out of memory");
    v->a = a;
    return 0;
}

int km_agent_view_step(struct km_agent_view *v, struct km_buf *out)
{
    struct km_agent *a = v->a;

    if (!v->sets_done) {
        pthread_mutex_lock(&a->mu);
        for (size_t i = 0; i < a->ncs; i++) {
            if (a->cs[i].ready)
                km_mset_render_prom(&a->cs[i].sets[a->cs[i].pub], out);
        }
        km_mset_render_prom(&a->health[a->health_pub], out);
        pthread_mutex_unlock(&a->mu);
        v->sets_done = true;
        return 1;
    }
    for (; v->coll < a->ncs; v->coll++) {
        const struct km_collector_state *st = &a->cs[v->coll];
        int rc;

        if (!st->ready || !st->ops->view_step)
            continue;
        if (!v->cv && (rc = st->ops->view_begin(st->ctx, &v->cv)) != 0)
            return rc;
        rc = st->ops->view_step(v->cv, out);
        if (rc > 0)
            return 1;
        st->ops->view_end(v->cv);
        v->cv = NULL;
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* End the collector view a render stopped in (an error, a client gone). */
static void view_release(struct km_agent_view *v)
{
    if (v->cv)
        v->a->cs[v->coll].ops->view_end(v->cv);
    v->cv = NULL;
}

void km_agent_view_end(struct km_agent_view *v)
{
    if (!v)
        return;
    view_release(v);
    free(v);
}

int km_agent_render_prom(struct km_agent *a, struct km_buf *out)
{
    struct km_agent_view v = { .a = a }; /* on the stack: a render allocates nothing */
    int rc;

    while ((rc = km_agent_view_step(&v, out)) > 0 && (rc = km_buf_error(out)) == 0)
        ;
    view_release(&v);
    return rc;
}

/* Counter growth between two readings; a counter that went back (reset, device gone)
 * counts from zero, as Prometheus' rate() does. */
static uint64_t growth(uint64_t prev, uint64_t cur)
{
    return cur >= prev ? cur - prev : cur;
}

static void json_io(struct km_jsonw *w, const char *key, const char *a_name, const char *b_name,
                    uint64_t a_prev, uint64_t a_cur, uint64_t b_prev, uint64_t b_cur, double secs,
                    bool have_prev)
{
    char name[64];
    uint64_t da = have_prev ? growth(a_prev, a_cur) : 0, db = have_prev ? growth(b_prev, b_cur) : 0;

    km_jsonw_key(w, key);
    km_jsonw_obj_begin(w);
    km_jsonw_key(w, a_name);
    km_jsonw_u64(w, da);
    km_jsonw_key(w, b_name);
    km_jsonw_u64(w, db);
    snprintf(name, sizeof(name), "%s_per_second", a_name);
    km_jsonw_key(w, name);
    km_jsonw_double(w, have_prev && secs > 0 ? (double)da / secs : 0);
    snprintf(name, sizeof(name), "%s_per_second", b_name);
    km_jsonw_key(w, name);
    km_jsonw_double(w, have_prev && secs > 0 ? (double)db / secs : 0);
    snprintf(name, sizeof(name), "%s_total", a_name);
    km_jsonw_key(w, name);
    km_jsonw_u64(w, a_cur);
    snprintf(name, sizeof(name), "%s_total", b_name);
    km_jsonw_key(w, name);
    km_jsonw_u64(w, b_cur);
    km_jsonw_obj_end(w);
}

void km_agent_render_json(struct km_agent *a, struct km_buf *out)
{
    const struct km_node_summary *s = &a->summary, *p = &a->prev_summary;
    struct km_jsonw w;
    char ts[48];
    double secs;
    bool have_prev;

    pthread_mutex_lock(&a->mu);
    secs = (double)(a->summary_ns - a->prev_summary_ns) / 1e9;
    km_jsonw_init(&w, out);
    km_jsonw_obj_begin(&w);
    km_jsonw_key(&w, "node_name");
    km_jsonw_str(&w, a->host ? a->host->node_name : "");
    km_jsonw_key(&w, "cpu_millicores");
    if (s->has_cpu)
        km_jsonw_i64(&w, (int64_t)llround(s->cpu_millicores));
    else
        km_jsonw_null(&w);
    km_jsonw_key(&w, "memory_bytes");
    if (s->has_memory)
        km_jsonw_i64(&w, (int64_t)llround(s->memory_bytes));
    else
        km_jsonw_null(&w);
    km_jsonw_key(&w, "memory_total_bytes");
    if (s->has_memory)
        km_jsonw_i64(&w, (int64_t)llround(s->memory_total_bytes));
    else
        km_jsonw_null(&w);
    have_prev = a->prev_summary_ns > 0 && p->has_disk && s->has_disk;
    json_io(&w, "disk_io", "read_bytes", "write_bytes", p->disk_read_bytes, s->disk_read_bytes,
            p->disk_written_bytes, s->disk_written_bytes, secs, have_prev);
    have_prev = a->prev_summary_ns > 0 && p->has_net && s->has_net;
    json_io(&w, "network_io", "bytes_recv", "bytes_sent", p->net_recv_bytes, s->net_recv_bytes,
            p->net_sent_bytes, s->net_sent_bytes, secs, have_prev);
    km_jsonw_key(&w, "uptime_seconds");
    if (s->has_uptime)
        km_jsonw_double(&w, s->uptime_seconds);
    else
        km_jsonw_null(&w);
    km_jsonw_key(&w, "interval_seconds");
    km_jsonw_double(&w, a->prev_summary_ns > 0 ? secs : 0);
    km_time_format_rfc3339(ts, sizeof(ts), a->summary_ns, 6);
    km_jsonw_key(&w, "timestamp");
    km_jsonw_str(&w, ts);
    km_jsonw_key(&w, "metrics");
    km_jsonw_arr_begin(&w);
    for (size_t i = 0; i < a->ncs; i++) {
        if (a->cs[i].ready)
            km_mset_render_json(&a->cs[i].sets[a->cs[i].pub], &w);
    }
    km_mset_render_json(&a->health[a->health_pub], &w);
    km_jsonw_arr_end(&w);
    km_jsonw_obj_end(&w);
    km_buf_putc(out, '\n');
    pthread_mutex_unlock(&a->mu);
}

void km_agent_node_name(const char *given, char *out, size_t size)
{
    char host[256];

    if (given && *given) {
        snprintf(out, size, "%s", given);
        return;
    }
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    snprintf(out, size, "%s", host);
}
