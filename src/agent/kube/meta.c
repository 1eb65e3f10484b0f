/*
 * meta — this node's pods from the Kubernetes API, kept current by list + watch (see
 * meta.h).
 */
#include "meta.h"

#include "common/arenas.h"
#include "common/array.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "kube/backoff.h"
#include "kube/kclient.h"
#include "kube/kconfig.h"
#include "kube/pause.h"
#include "kube/watch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOG             "kubernetes"
#define MAX_LIST_BYTES  (64u << 20)
#define MAX_EVENT_BYTES (8u << 20)
#define MAX_OBJ_BYTES   (4u << 20)
#define BACKOFF_MIN_MS  1000
#define BACKOFF_MAX_MS  30000

/* Relist (410 Gone), or re-watch from the last version after a pause (other errors). */
#define WATCH_RELIST 1001
#define WATCH_RETRY  1002

struct entry {
    struct km_pod_meta m;
    char *wkind, *wname;
    int64_t deleted_ms; /* 0: alive */
    bool seen;          /* in the current list */
};

/* An owner's workload, asked once: (ns, kind, name) → (wkind, wname). When the API
 * could not say (forbidden, unreachable), the naming convention's answer is kept until
 * `retry_ms`, so pod updates do not turn into a request each. */
struct owner {
    char *ns, *kind, *name, *wkind, *wname;
    int64_t retry_ms; /* 0: final */
};

#define OWNER_RETRY_MS (10 * 60 * 1000)

static int64_t now_ms(void);

struct km_kube_meta {
    struct km_kube_meta_opts o;
    char *node;
    char **labels;
    struct km_kube_config cfg;
    struct km_kube_client watch, get;
    struct km_watch_stream ws;
    struct km_buf body, errbody;
    pthread_t thread;
    bool started;
    struct km_kube_pause pause; /* its stop flag stops requests too */
    pthread_mutex_t mu;         /* entries, stats */
    pthread_cond_t wake;
    struct entry **e;
    size_t n, cap;
    struct owner *own;
    size_t nown, capown;
    char rv[64];
    struct km_kube_meta_stats st;
    bool attempted; /* the first list has been tried (under mu) */
    bool warned;
    uint64_t rnd;
};

/* ---- the store (callers hold mu) ------------------------------------------------------ */

static struct entry *find(struct km_kube_meta *m, const char *uid, size_t *at)
{
    size_t lo = 0, hi = m->n;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(m->e[mid]->m.uid, uid);

        if (c == 0) {
            *at = mid;
            return m->e[mid];
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *at = lo;
    return NULL;
}

static void entry_free(struct entry *x)
{
    if (!x)
        return;
    km_pod_meta_fini(&x->m);
    free(x->wkind);
    free(x->wname);
    free(x);
}

/* Put x in place of the entry with its uid (or insert it). Takes ownership. */
static int put(struct km_kube_meta *m, struct entry *x)
{
    size_t at;
    struct entry *old = find(m, x->m.uid, &at);
    int rc;

    if (old) {
        m->e[at] = x;
        entry_free(old);
        return 0;
    }
    rc = km_array_grow((void **)&m->e, &m->cap, m->n + 1, sizeof(*m->e), 64, "keeping pods");
    if (rc) {
        entry_free(x);
        return rc;
    }
    memmove(m->e + at + 1, m->e + at, (m->n - at) * sizeof(*m->e));
    m->e[at] = x;
    m->n++;
    return 0;
}

/* Forget pods deleted longer ago than the grace period. */
static void expire(struct km_kube_meta *m, int64_t now)
{
    size_t k = 0;

    for (size_t i = 0; i < m->n; i++) {
        struct entry *x = m->e[i];

        if (x->deleted_ms && now - x->deleted_ms > m->o.grace_ms)
            entry_free(x);
        else
            m->e[k++] = x;
    }
    m->n = k;
}

/* ---- workloads --------------------------------------------------------------------------- */

static const char *str_at(const json_t *o, const char *key)
{
    const json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;

    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The controller of an object at `path`: 1 found (into kind, name), 0 the object has no
 * controller, -1 the API could not say (error, forbidden, gone). */
static int controller_of(struct km_kube_meta *m, const char *path, char *kind, char *name,
                         size_t size)
{
    json_t *obj, *refs, *r;
    long status;
    size_t i;
    int found = 0;

    if (km_kube_get(&m->get, path, &m->body, 30, &status) != 0 || status != 200 ||
        km_buf_error(&m->body))
        return -1;
    obj = json_loadb(m->body.data, m->body.len, 0, NULL);
    refs = json_object_get(json_object_get(obj, "metadata"), "ownerReferences");
    json_array_foreach(refs, i, r)
    {
        if (json_is_true(json_object_get(r, "controller")) && str_at(r, "kind") &&
            str_at(r, "name")) {
            snprintf(kind, size, "%s", str_at(r, "kind"));
            snprintf(name, size, "%s", str_at(r, "name"));
            found = 1;
            break;
        }
    }
    json_decref(obj);
    return obj ? found : -1;
}

/* Resolve (and remember) the workload of an owner. */
static void workload_of(struct km_kube_meta *m, const struct km_pod_meta *p, char *wkind,
                        char *wname, size_t size)
{
    const char *kind = p->owner_kind, *name = p->owner_name;
    char path[1024], k2[256], n2[256];
    struct owner *o;
    int r = -1;

    wkind[0] = wname[0] = '\0';
    if (!kind)
        return; /* a bare pod */
    for (size_t i = 0; i < m->nown; i++) {
        o = &m->own[i];
        if (strcmp(o->ns, p->ns) == 0 && strcmp(o->kind, kind) == 0 && strcmp(o->name, name) == 0) {
            if (o->retry_ms && now_ms() >= o->retry_ms) {
                /* Ask again: forget the guess. */
                free(o->ns);
                free(o->kind);
                free(o->name);
                free(o->wkind);
                free(o->wname);
                m->own[i] = m->own[--m->nown];
                break;
            }
            snprintf(wkind, size, "%s", o->wkind);
            snprintf(wname, size, "%s", o->wname);
            return;
        }
    }
    snprintf(wkind, size, "%s", kind);
    snprintf(wname, size, "%s", name);
    if (strcmp(kind, "ReplicaSet") == 0) {
        snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%s/replicasets/%s", p->ns, name);
        r = controller_of(m, path, k2, n2, sizeof(k2));
        if (r == 1) {
            snprintf(wkind, size, "%s", k2);
            snprintf(wname, size, "%s", n2);
        } else if (r < 0 && p->template_hash) {
            /* No answer: the Deployment controller names its ReplicaSets
             * <deployment>-<pod-template-hash>. */
            size_t nl = strlen(name), hl = strlen(p->template_hash);

            if (nl > hl + 1 && name[nl - hl - 1] == '-' &&
                strcmp(name + nl - hl, p->template_hash) == 0) {
                snprintf(wkind, size, "Deployment");
                snprintf(wname, size, "%.*s", (int)(nl - hl - 1), name);
            }
        }
    } else if (strcmp(kind, "Job") == 0) {
        snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/jobs/%s", p->ns, name);
        r = controller_of(m, path, k2, n2, sizeof(k2));
        if (r == 1 && strcmp(k2, "CronJob") == 0) {
            snprintf(wkind, size, "CronJob");
            snprintf(wname, size, "%s", n2);
        }
    } else {
        r = 0; /* StatefulSet, DaemonSet, …: the owner is the workload */
    }
    if (km_array_grow((void **)&m->own, &m->capown, m->nown + 1, sizeof(*o), 16,
                      "keeping workloads") != 0)
        return;
    o = &m->own[m->nown];
    o->ns = strdup(p->ns);
    o->kind = strdup(kind);
    o->name = strdup(name);
    o->wkind = strdup(wkind);
    o->wname = strdup(wname);
    o->retry_ms = r < 0 ? now_ms() + OWNER_RETRY_MS : 0;
    if (o->ns && o->kind && o->name && o->wkind && o->wname) {
        m->nown++;
    } else {
        free(o->ns);
        free(o->kind);
        free(o->name);
        free(o->wkind);
        free(o->wname);
    }
}

/* ---- events ------------------------------------------------------------------------------- */

static int64_t now_ms(void)
{
    return km_time_now_ns() / 1000000;
}

static void set_rv(struct km_kube_meta *m, const json_t *obj)
{
    const char *rv = str_at(json_object_get(obj, "metadata"), "resourceVersion");

    if (rv && strlen(rv) < sizeof(m->rv))
        snprintf(m->rv, sizeof(m->rv), "%s", rv);
}

/* Add or replace a pod from its object (workload resolved outside the lock). */
static int upsert(struct km_kube_meta *m, const json_t *pod, bool seen)
{
    struct entry *x = calloc(1, sizeof(*x));
    char wkind[256], wname[256];
    int rc;

    if (!x)
        return km_err_set(KM_ENOMEM, "out of memory");
    rc = km_pod_meta_parse(pod, (const char *const *)m->labels, m->o.nlabels, &x->m);
    if (rc) {
        free(x);
        km_log_debug(LOG, "a pod object was skipped: %s", km_err_msg());
        return 0;
    }
    if (m->o.node && x->m.node && strcmp(x->m.node, m->o.node) != 0) {
        entry_free(x); /* not ours (a server ignoring the field selector) */
        return 0;
    }
    workload_of(m, &x->m, wkind, wname, sizeof(wkind));
    if ((wkind[0] && !(x->wkind = strdup(wkind))) || (wname[0] && !(x->wname = strdup(wname)))) {
        entry_free(x);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    x->seen = seen;
    pthread_mutex_lock(&m->mu);
    rc = put(m, x);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static void mark_deleted(struct km_kube_meta *m, const json_t *pod)
{
    const char *uid = str_at(json_object_get(pod, "metadata"), "uid");
    struct entry *x;
    size_t at;

    if (!uid)
        return;
    pthread_mutex_lock(&m->mu);
    x = find(m, uid, &at);
    if (x && !x->deleted_ms)
        x->deleted_ms = now_ms();
    pthread_mutex_unlock(&m->mu);
}

static int on_event(void *ud, enum km_watch_type type, const json_t *obj)
{
    struct km_kube_meta *m = ud;
    const json_t *code;

    pthread_mutex_lock(&m->mu);
    m->st.events++;
    pthread_mutex_unlock(&m->mu);
    switch (type) {
    case KM_W_ADDED:
    case KM_W_MODIFIED:
        set_rv(m, obj);
        return upsert(m, obj, true);
    case KM_W_DELETED:
        set_rv(m, obj);
        mark_deleted(m, obj);
        return 0;
    case KM_W_BOOKMARK:
        set_rv(m, obj);
        return 0;
    case KM_W_ERROR:
        code = json_object_get(obj, "code");
        if (json_integer_value(code) == 410) {
            km_log_info(LOG, "watch: resourceVersion %s is too old (%s): listing again", m->rv,
                        str_at(obj, "message") ? str_at(obj, "message") : "410 Gone");
            return WATCH_RELIST;
        }
        km_log_warn(LOG, "watch: the API server sent an error: %s",
                    str_at(obj, "message") ? str_at(obj, "message") : "(no message)");
        return WATCH_RETRY;
    }
    return 0;
}

static int on_stream(void *ud, const char *data, size_t n)
{
    struct km_kube_meta *m = ud;

    return km_watch_stream_feed(&m->ws, data, n, on_event, m);
}

/* ---- the loop ------------------------------------------------------------------------------ */

static void set_up(struct km_kube_meta *m, bool up, const char *why)
{
    if (km_kube_pause_stopped(&m->pause))
        return; /* a request cut short by the shutdown says nothing about the API */
    pthread_mutex_lock(&m->mu);
    m->st.up = up;
    if (!up)
        m->st.failures++;
    pthread_mutex_unlock(&m->mu);
    if (!up && !m->warned) {
        km_log_warn(LOG,
                    "cannot read pods from the Kubernetes API (%s): %s; naming pods from the "
                    "kubelet's log layout until it answers",
                    m->cfg.source, why);
        m->warned = true;
    } else if (up && m->warned) {
        km_log_info(LOG, "the Kubernetes API answers again (%s)", m->cfg.source);
        m->warned = false;
    }
}

/* List every pod of the node (paginated); on success the store holds exactly them (others
 * marked deleted) and m->rv is the list's version. */
static int list(struct km_kube_meta *m)
{
    char path[2048], cont[1024] = "", msg[512], why[700];
    json_t *doc = NULL;
    long status;
    int rc;

    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n; i++)
        m->e[i]->seen = false;
    m->st.lists++;
    pthread_mutex_unlock(&m->mu);
    do {
        const json_t *items, *pod;
        const char *c;
        size_t i;

        snprintf(path, sizeof(path), "/api/v1/pods?fieldSelector=spec.nodeName%%3D%s&limit=500%s%s",
                 m->node, cont[0] ? "&continue=" : "", cont);
        rc = km_kube_get(&m->get, path, &m->body, 60, &status);
        if (rc == 0 && status != 200) {
            snprintf(why, sizeof(why), "HTTP %ld: %s", status,
                     km_kube_status_message(&m->body, msg, sizeof(msg)));
            rc = km_err_set(status == 410 ? KM_ENOTFOUND : KM_EIO, "%s", why);
        } else if (rc == 0 && km_buf_error(&m->body)) {
            rc = km_err_set(KM_ELIMIT, "the pod list is larger than %u bytes", MAX_LIST_BYTES);
        }
        if (rc)
            return rc;
        doc = json_loadb(m->body.data, m->body.len, 0, NULL);
        items = json_object_get(doc, "items");
        if (!json_is_array(items)) {
            json_decref(doc);
            return km_err_set(KM_EINVAL, "the pod list is not a PodList");
        }
        json_array_foreach(items, i, pod)
        {
            rc = upsert(m, pod, true);
            if (rc)
                break;
        }
        set_rv(m, doc);
        c = str_at(json_object_get(doc, "metadata"), "continue");
        snprintf(cont, sizeof(cont), "%s", c && strlen(c) < sizeof(cont) ? c : "");
        json_decref(doc);
    } while (rc == 0 && cont[0] && !km_kube_pause_stopped(&m->pause));
    if (rc == 0) {
        int64_t now = now_ms();

        pthread_mutex_lock(&m->mu);
        for (size_t i = 0; i < m->n; i++) {
            if (!m->e[i]->seen && !m->e[i]->deleted_ms)
                m->e[i]->deleted_ms = now;
        }
        pthread_mutex_unlock(&m->mu);
    }
    return rc;
}

static int watch(struct km_kube_meta *m)
{
    char path[2048], msg[512];
    long status;
    int rc;

    snprintf(path, sizeof(path),
             "/api/v1/pods?fieldSelector=spec.nodeName%%3D%s&watch=1&resourceVersion=%s"
             "&allowWatchBookmarks=true&timeoutSeconds=%ld",
             m->node, m->rv, m->o.watch_timeout_s);
    km_watch_stream_reset(&m->ws);
    pthread_mutex_lock(&m->mu);
    m->st.watches++;
    pthread_mutex_unlock(&m->mu);
    rc = km_kube_stream(&m->watch, path, m->o.watch_timeout_s + 30, on_stream, m, &m->errbody,
                        &status);
    if (rc == WATCH_RELIST || rc == WATCH_RETRY)
        return rc;
    if (rc == 0 && status == 410)
        return WATCH_RELIST;
    if (rc == 0 && (status < 200 || status >= 300)) {
        set_up(m, false, km_kube_status_message(&m->errbody, msg, sizeof(msg)));
        return WATCH_RETRY;
    }
    if (rc) {
        set_up(m, false, km_err_msg());
        return WATCH_RETRY;
    }
    set_up(m, true, NULL);
    return 0;
}

static void *run(void *arg)
{
    struct km_kube_meta *m = arg;
    struct km_kube_backoff backoff;
    bool need_list = true;

    km_kube_backoff_init(&backoff, BACKOFF_MIN_MS, BACKOFF_MAX_MS, m->rnd);
    while (!km_kube_pause_stopped(&m->pause)) {
        int64_t started = km_time_mono_ns();
        int rc;

        if (need_list) {
            rc = list(m);
            /* A list of a full node is megabytes of JSON read once: give the memory
             * back rather than keep it for the next relist. */
            km_buf_fini(&m->body);
            km_buf_init(&m->body, MAX_LIST_BYTES);
            km_malloc_trim();
            pthread_mutex_lock(&m->mu);
            m->attempted = true;
            pthread_cond_broadcast(&m->wake);
            pthread_mutex_unlock(&m->mu);
            if (rc) {
                set_up(m, false, km_err_msg());
                km_kube_pause_sleep(&m->pause, km_kube_backoff_next(&backoff));
                continue;
            }
            set_up(m, true, NULL);
            need_list = false;
            km_kube_backoff_reset(&backoff);
        }
        rc = watch(m);
        pthread_mutex_lock(&m->mu);
        expire(m, now_ms());
        pthread_mutex_unlock(&m->mu);
        if (rc == WATCH_RELIST) {
            pthread_mutex_lock(&m->mu);
            m->st.relists_gone++;
            pthread_mutex_unlock(&m->mu);
            need_list = true;
            continue;
        }
        if (rc == WATCH_RETRY || km_time_mono_ns() - started < 1000000000) {
            /* An error, or a stream that ended at once: never a tight loop. The watch
             * resumes from the last version seen (a 410 then asks for a relist). */
            km_kube_pause_sleep(&m->pause, km_kube_backoff_next(&backoff));
        } else {
            km_kube_backoff_reset(&backoff);
        }
    }
    return NULL;
}

/* ---- life ----------------------------------------------------------------------------------- */

static void meta_free(struct km_kube_meta *m)
{
    for (size_t i = 0; i < m->n; i++)
        entry_free(m->e[i]);
    free(m->e);
    for (size_t i = 0; i < m->nown; i++) {
        free(m->own[i].ns);
        free(m->own[i].kind);
        free(m->own[i].name);
        free(m->own[i].wkind);
        free(m->own[i].wname);
    }
    free(m->own);
    for (size_t i = 0; m->labels && i < m->o.nlabels; i++)
        free(m->labels[i]);
    free(m->labels);
    free(m->node);
    km_kube_client_fini(&m->watch);
    km_kube_client_fini(&m->get);
    km_watch_stream_fini(&m->ws);
    km_buf_fini(&m->body);
    km_buf_fini(&m->errbody);
    km_kube_config_fini(&m->cfg);
    pthread_cond_destroy(&m->wake);
    pthread_mutex_destroy(&m->mu);
    km_kube_pause_fini(&m->pause);
    free(m);
}

int km_kube_meta_start(struct km_kube_meta **out, const struct km_kube_meta_opts *o)
{
    struct km_kube_meta *m = calloc(1, sizeof(*m));
    int rc;

    *out = NULL;
    if (!m)
        return km_err_set(KM_ENOMEM, "out of memory");
    m->o = *o;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->wake, NULL);
    km_kube_pause_init(&m->pause);
    km_buf_init(&m->body, MAX_LIST_BYTES);
    km_buf_init(&m->errbody, MAX_OBJ_BYTES);
    km_watch_stream_init(&m->ws, MAX_EVENT_BYTES);
    m->rnd = (uint64_t)km_time_mono_ns();
    rc = o->kubeconfig && *o->kubeconfig ? km_kube_config_kubeconfig(&m->cfg, o->kubeconfig)
                                         : km_kube_config_incluster(&m->cfg, o->sa_dir);
    if (rc)
        goto out_free;
    m->node = strdup(o->node);
    m->labels = calloc(o->nlabels + 1, sizeof(char *));
    if (!m->node || !m->labels) {
        rc = km_err_set(KM_ENOMEM, "out of memory");
        goto out_free;
    }
    for (size_t i = 0; i < o->nlabels; i++) {
        if (!(m->labels[i] = strdup(o->labels[i]))) {
            rc = km_err_set(KM_ENOMEM, "out of memory");
            goto out_free;
        }
    }
    m->o.labels = NULL;
    rc = km_kube_client_init(&m->watch, &m->cfg, &m->pause.stop);
    if (rc == 0)
        rc = km_kube_client_init(&m->get, &m->cfg, &m->pause.stop);
    if (rc)
        goto out_free;
    if (pthread_create(&m->thread, NULL, run, m) != 0) {
        rc = km_err_set(KM_ENOMEM, "cannot start the Kubernetes metadata thread");
        goto out_free;
    }
    m->started = true;
    km_log_info(LOG, "watching the pods of node %s through %s", m->node, m->cfg.source);
    *out = m;
    return 0;

out_free:
    meta_free(m);
    return rc;
}

bool km_kube_meta_with_pod(struct km_kube_meta *m, const char *uid,
                           void (*fn)(void *ud, const struct km_kube_pod *p), void *ud)
{
    struct entry *x;
    size_t at;

    pthread_mutex_lock(&m->mu);
    x = find(m, uid, &at);
    if (x && x->deleted_ms && now_ms() - x->deleted_ms > m->o.grace_ms)
        x = NULL; /* past its grace period (freed after the current watch) */
    if (x) {
        struct km_kube_pod p = { &x->m, x->wkind, x->wname };

        fn(ud, &p);
    }
    pthread_mutex_unlock(&m->mu);
    return x != NULL;
}

bool km_kube_meta_wait_listed(struct km_kube_meta *m, int64_t timeout_ms)
{
    struct timespec ts;
    bool done;

    ts = km_kube_deadline_in(timeout_ms);
    pthread_mutex_lock(&m->mu);
    while (!m->attempted && pthread_cond_timedwait(&m->wake, &m->mu, &ts) == 0)
        ;
    done = m->attempted && m->st.up;
    pthread_mutex_unlock(&m->mu);
    return done;
}

void km_kube_meta_stats(struct km_kube_meta *m, struct km_kube_meta_stats *out)
{
    pthread_mutex_lock(&m->mu);
    *out = m->st;
    out->pods = m->n;
    pthread_mutex_unlock(&m->mu);
}

void km_kube_meta_stop(struct km_kube_meta *m)
{
    if (!m)
        return;
    km_kube_pause_stop(&m->pause);
    if (m->started)
        pthread_join(m->thread, NULL);
    meta_free(m);
}
