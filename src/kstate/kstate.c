/*
 * kstate — the cluster-state collector: reflectors, stores and emission (see kstate.h).
 */
#include "kstate.h"

#include "common/err.h"
#include "common/log.h"
#include "common/mset.h"
#include "common/procfile.h"
#include "common/timefmt.h"
#include "kinds.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG       "cluster-state"
#define MAX_KINDS 32

struct km_kstate {
    struct km_kube_config cfg;
    struct km_intern *in;
    struct km_allowlist labels, annots;
    char *cluster;
    size_t n;
    struct {
        const struct km_kind *kind;
        struct km_kparse parse;
        struct km_kstore *store;
        struct km_kreflector *refl;
    } k[MAX_KINDS];
    struct km_kleader *leader; /* NULL: no election */
    struct km_kevents *events; /* NULL: Events not watched */
    uint64_t emissions, last_series, stale_total;
    double last_seconds;
};

/* Walk a comma list: fn for each kind named (or every kind when the list is empty). */
static int each_kind(const char *kinds, int (*fn)(void *ud, const struct km_kind *k), void *ud)
{
    const char *p = kinds;

    if (!kinds || !*kinds) {
        for (size_t i = 0; i < km_nkinds; i++) {
            int rc = fn(ud, km_kinds[i]);

            if (rc)
                return rc;
        }
        return 0;
    }
    while (*p) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        char name[64];
        const struct km_kind *k;
        int rc;

        if (len == 0 || len >= sizeof(name))
            return km_err_set(KM_EINVAL, "\"%.80s\" is not a list of kinds (%s)", kinds,
                              km_kstate_kind_names());
        memcpy(name, p, len);
        name[len] = '\0';
        k = km_kind_find(name);
        if (!k)
            return km_err_set(KM_EINVAL, "unknown kind \"%s\" (known: %s)", name,
                              km_kstate_kind_names());
        rc = fn(ud, k);
        if (rc)
            return rc;
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}

static int ignore(void *ud, const struct km_kind *k)
{
    (void)ud;
    (void)k;
    return 0;
}

int km_kstate_check_kinds(const char *kinds)
{
    return each_kind(kinds, ignore, NULL);
}

const char *km_kstate_kind_names(void)
{
    static char names[512];

    if (!names[0]) {
        size_t k = 0;

        for (size_t i = 0; i < km_nkinds && k < sizeof(names); i++)
            k += (size_t)snprintf(names + k, sizeof(names) - k, "%s%s", i ? "," : "",
                                  km_kinds[i]->name);
    }
    return names;
}

static int add_kind(void *ud, const struct km_kind *kind)
{
    struct km_kstate *s = ud;
    size_t i = s->n;

    for (size_t j = 0; j < s->n; j++) {
        if (s->k[j].kind == kind)
            return 0; /* named twice */
    }
    if (i == MAX_KINDS)
        return km_err_set(KM_ELIMIT, "more than %d kinds", MAX_KINDS);
    s->k[i].kind = kind;
    s->k[i].parse.in = s->in;
    s->k[i].parse.labels = km_allowlist_for(&s->labels, kind->name);
    s->k[i].parse.annots = km_allowlist_for(&s->annots, kind->name);
    s->n++;
    return km_kstore_create(&s->k[i].store, kind, s->in);
}

void km_kstate_stop(struct km_kstate *s)
{
    if (!s)
        return;
    km_kevents_stop(s->events);
    km_kleader_stop(s->leader);
    for (size_t i = 0; i < s->n; i++)
        km_kreflector_stop(s->k[i].refl);
    for (size_t i = 0; i < s->n; i++)
        km_kstore_destroy(s->k[i].store);
    km_intern_destroy(s->in);
    km_allowlist_fini(&s->labels);
    km_allowlist_fini(&s->annots);
    km_kube_config_fini(&s->cfg);
    free(s->cluster);
    free(s);
}

/* --leader-elect: the elector on the Lease, in the service account's namespace by
 * default when in-cluster. */
static int start_leader(struct km_kstate *s, const struct km_kstate_opts *o)
{
    struct km_kleader_opts lo = o->leader;
    char ns[256] = "default", path[4096];
    int rc;

    if (!lo.ns || !*lo.ns) {
        if ((!o->kubeconfig || !*o->kubeconfig) && o->sa_dir &&
            km_path_join(path, sizeof(path), o->sa_dir, "namespace") == 0 &&
            km_read_small_file(path, ns, sizeof(ns)) <= 0)
            snprintf(ns, sizeof(ns), "default");
        lo.ns = ns;
    }
    rc = km_kleader_start(&s->leader, &s->cfg, &lo);
    if (rc)
        return km_err_wrap(rc, "leader election");
    km_log_info(LOG, "electing a leader with the lease %s/%s as %s; emitting only when leading",
                lo.ns, lo.name, km_kleader_identity(s->leader));
    return 0;
}

static bool events_leading(void *ud)
{
    return km_kstate_leading(ud);
}

/* Events as log lines, after the elector (only the leader's lines are written). */
static int start_events(struct km_kstate *s, const struct km_kstate_opts *o)
{
    struct km_kevents_opts eo = { .sink = o->events_sink,
                                  .cluster = o->events_cluster && *o->events_cluster
                                                 ? o->events_cluster
                                                 : s->cluster,
                                  .leading = events_leading,
                                  .leading_ud = s,
                                  .watch_timeout_s = o->r.watch_timeout_s,
                                  .page_limit = o->r.page_limit,
                                  .backoff_min_ms = o->r.backoff_min_ms,
                                  .backoff_max_ms = o->r.backoff_max_ms,
                                  .forbidden_retry_ms = o->r.forbidden_retry_ms };
    int rc = km_kevents_start(&s->events, &s->cfg, &eo);

    if (rc)
        return km_err_wrap(rc, "the Events watcher");
    km_log_info(LOG, "writing Kubernetes Events (events.k8s.io/v1) as the log stream "
                     "{source=\"kubernetes-events\"}");
    return 0;
}

struct km_kevents *km_kstate_events(struct km_kstate *s)
{
    return s->events;
}

int km_kstate_start(struct km_kstate **out, const struct km_kstate_opts *o)
{
    struct km_kstate *s = calloc(1, sizeof(*s));
    int rc;

    *out = NULL;
    if (!s)
        return km_err_set(KM_ENOMEM, "out of memory");
    rc = km_allowlist_parse(&s->labels, o->labels_allowlist);
    if (rc == 0)
        rc = km_allowlist_parse(&s->annots, o->annotations_allowlist);
    if (rc == 0)
        rc = km_intern_create(&s->in);
    if (rc == 0 && o->cluster && *o->cluster && !(s->cluster = strdup(o->cluster)))
        rc = km_err_set(KM_ENOMEM, "out of memory");
    if (rc == 0)
        rc = each_kind(o->kinds, add_kind, s);
    if (rc == 0)
        rc = o->kubeconfig && *o->kubeconfig ? km_kube_config_kubeconfig(&s->cfg, o->kubeconfig)
                                             : km_kube_config_incluster(&s->cfg, o->sa_dir);
    for (size_t i = 0; rc == 0 && i < s->n; i++)
        rc = km_kreflector_start(&s->k[i].refl, s->k[i].kind, s->k[i].store, &s->k[i].parse,
                                 &s->cfg, &o->r);
    if (rc == 0 && o->leader_elect)
        rc = start_leader(s, o);
    if (rc == 0 && o->events && o->events_sink.push)
        rc = start_events(s, o);
    if (rc) {
        km_kstate_stop(s);
        return rc;
    }
    km_log_info(LOG, "watching %zu kinds (%s) through %s", s->n,
                o->kinds && *o->kinds ? o->kinds : km_kstate_kind_names(), s->cfg.source);
    *out = s;
    return 0;
}

int km_kstate_emit(struct km_kstate *s, const struct km_kemit_out *out, struct km_kstate_emitted *r)
{
    struct km_kemit e = { .m = out->m, .out = out, .cluster = s->cluster };
    int64_t t0 = km_time_mono_ns();
    int rc;

    for (size_t i = 0; i < s->n; i++) {
        e.labels_on = s->k[i].parse.labels != NULL;
        e.annots_on = s->k[i].parse.annots != NULL;
        km_kstore_emit(s->k[i].store, &e);
    }
    rc = km_kemit_finish(&e);
    s->emissions++;
    s->last_series = e.series;
    s->stale_total += e.stale;
    s->last_seconds = (double)(km_time_mono_ns() - t0) / 1e9;
    if (r) {
        r->series = e.series;
        r->stale = e.stale;
    }
    return rc;
}

/* Samples rendered per view step: a few MiB of text at most. */
#define VIEW_CHUNK 8192

struct km_kstate_view {
    struct km_kstate *s;
    size_t kind, fam; /* what is being rendered */
    size_t pos;       /* the next bucket of the kind's store */
    bool header;      /* the family's HELP and TYPE are out */
    struct km_mset m;
};

int km_kstate_view_begin(struct km_kstate *s, struct km_kstate_view **out)
{
    struct km_kstate_view *v = calloc(1, sizeof(*v));

    *out = NULL;
    if (!v)
        return km_err_set(KM_ENOMEM, "out of memory");
    v->s = s;
    km_mset_init(&v->m);
    *out = v;
    return 0;
}

int km_kstate_view_step(struct km_kstate_view *v, struct km_buf *b)
{
    struct km_kstate *s = v->s;

    if (v->kind == 0 && v->fam == 0 && v->pos == 0 && !km_kstate_leading(s))
        return 0; /* a standby shows nothing: the leader's view is the cluster's */
    while (v->kind < s->n) {
        const struct km_kind *k = s->k[v->kind].kind;
        struct km_kemit_out out = { .m = &v->m };
        struct km_kemit e = { .m = &v->m,
                              .out = &out,
                              .cluster = s->cluster,
                              .filter = true,
                              .only = (int)v->fam,
                              .labels_on = s->k[v->kind].parse.labels != NULL,
                              .annots_on = s->k[v->kind].parse.annots != NULL };
        bool end;
        int rc;

        if (v->fam >= k->nfams || v->fam >= 64) {
            v->kind++;
            v->fam = v->pos = 0;
            continue;
        }
        km_mset_reset(&v->m, 0);
        e.kind = k;
        km_kemit_begin_kind(&e);
        end = km_kstore_view(s->k[v->kind].store, &e, &v->pos, VIEW_CHUNK);
        rc = km_kemit_finish(&e);
        if (rc)
            return rc;
        if (e.fam[v->fam] >= 0 && v->m.fam[e.fam[v->fam]].count) {
            km_mset_render_prom_family(&v->m, (size_t)e.fam[v->fam], b, !v->header);
            v->header = true;
        }
        if (end) {
            v->fam++;
            v->pos = 0;
            v->header = false;
        }
        return 1;
    }
    return 0;
}

void km_kstate_view_end(struct km_kstate_view *v)
{
    if (!v)
        return;
    km_mset_fini(&v->m);
    free(v);
}

void km_kstate_forget(struct km_kstate *s)
{
    for (size_t i = 0; i < s->n; i++)
        km_kstore_forget(s->k[i].store);
}

bool km_kstate_leading(struct km_kstate *s)
{
    return !s->leader || km_kleader_is_leader(s->leader);
}

bool km_kstate_synced(struct km_kstate *s)
{
    for (size_t i = 0; i < s->n; i++) {
        const struct km_kreflector_stats *st = km_kreflector_stats(s->k[i].refl);

        if (!atomic_load(&st->forbidden) && !atomic_load(&st->synced))
            return false;
    }
    return true;
}

/* One kind's row of kmon_cluster_state_* (the families fam[], in km_kstate_metrics()'s
 * order): its objects and its reflector's statistics. */
static void reflector_metrics(struct km_mset *m, const int *fam, const char *kind, size_t objects,
                              const struct km_kreflector_stats *st)
{
    struct km_label l = { "kind", kind };
    double v[] = { (double)objects,
                   (double)atomic_load(&st->lists),
                   (double)atomic_load(&st->pages),
                   (double)atomic_load(&st->watches),
                   (double)atomic_load(&st->events),
                   (double)atomic_load(&st->relists_gone),
                   (double)atomic_load(&st->errors),
                   atomic_load(&st->forbidden) ? 1.0 : 0.0,
                   atomic_load(&st->synced) ? 1.0 : 0.0 };

    for (size_t j = 0; j < sizeof(v) / sizeof(v[0]); j++)
        km_mset_add(m, fam[j], &l, 1, v[j]);
}

void km_kstate_metrics(struct km_kstate *s, struct km_mset *m)
{
    static const struct {
        const char *name, *help;
        enum km_mtype type;
    } f[] = {
        { "kmon_cluster_state_objects", "Objects of the kind in the collector's store.",
          KM_MT_GAUGE },
        { "kmon_cluster_state_lists_total", "Lists of the kind (each a relist of the store).",
          KM_MT_COUNTER },
        { "kmon_cluster_state_list_pages_total", "List pages read.", KM_MT_COUNTER },
        { "kmon_cluster_state_watches_total", "Watch requests made.", KM_MT_COUNTER },
        { "kmon_cluster_state_events_total", "Watch events received.", KM_MT_COUNTER },
        { "kmon_cluster_state_relists_gone_total",
          "Relists because the API answered 410 Gone (a watch or a list's continue token too "
          "old).",
          KM_MT_COUNTER },
        { "kmon_cluster_state_errors_total", "Failed lists and watches.", KM_MT_COUNTER },
        { "kmon_cluster_state_forbidden", "1 when the API forbids listing the kind (RBAC).",
          KM_MT_GAUGE },
        { "kmon_cluster_state_synced", "1 once the kind has been listed completely.", KM_MT_GAUGE },
    };
    int fam[sizeof(f) / sizeof(f[0])];
    uint64_t strings, bytes;

    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        fam[i] = km_mset_family(m, f[i].name, f[i].help, f[i].type, 0);
    for (size_t i = 0; i < s->n; i++)
        reflector_metrics(m, fam, s->k[i].kind->name, km_kstore_count(s->k[i].store),
                          km_kreflector_stats(s->k[i].refl));
    if (s->events) {
        reflector_metrics(m, fam, "events", km_kevents_tracked(s->events),
                          km_kevents_stats(s->events));
        km_kevents_metrics(s->events, m);
    }
    km_intern_stats(s->in, &strings, &bytes);
    {
        const struct {
            const char *name, *help;
            enum km_mtype type;
            double v;
        } g[] = {
            { "kmon_cluster_state_emissions_total", "Emissions of the cluster state.",
              KM_MT_COUNTER, (double)s->emissions },
            { "kmon_cluster_state_emission_series", "Series in the last emission.", KM_MT_GAUGE,
              (double)s->last_series },
            { "kmon_cluster_state_emitted_stale_markers_total",
              "Stale markers emitted for series that ended (deleted or changed objects).",
              KM_MT_COUNTER, (double)s->stale_total },
            { "kmon_cluster_state_emission_duration_seconds", "How long the last emission took.",
              KM_MT_GAUGE, s->last_seconds },
            { "kmon_cluster_state_interned_strings", "Distinct strings the stores share.",
              KM_MT_GAUGE, (double)strings },
            { "kmon_cluster_state_interned_bytes", "Bytes of the strings the stores share.",
              KM_MT_GAUGE, (double)bytes },
        };

        for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++)
            km_mset_add(m, km_mset_family(m, g[i].name, g[i].help, g[i].type, 0), NULL, 0, g[i].v);
    }
    if (s->leader)
        km_kleader_metrics(s->leader, m);
}
