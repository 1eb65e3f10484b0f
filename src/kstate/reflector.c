/*
 * reflector — list + watch of one kind into its store, or into a consumer's callbacks
 * (see reflector.h).
 *
 * The loop (the consumer's callbacks in brackets; the store's in km_kreflector_start()):
 *   list:  [list_begin]; GET path?limit=N[&continue=C] page after page, each item [put]
 *          as ADDED; a 410 on a continue token starts the list again from the first
 *          page; [list_end] once the list completed (the store removes what the list did
 *          not contain). The list's metadata.resourceVersion is where the watch starts.
 *   watch: GET path?watch=1&resourceVersion=RV&allowWatchBookmarks=true&timeoutSeconds=T;
 *          ADDED/MODIFIED/DELETED [put], BOOKMARK moves RV; an ERROR event with code 410
 *          or an HTTP 410 goes back to list; a stream that ends is watched again from
 *          RV; errors wait a jittered backoff first (never a busy loop).
 *   relist: km_kreflector_relist() cuts the request in flight short (the client's stop
 *          flag, `cut`); the loop calls [relist] and lists again, not counting it as a
 *          410.
 */
#include "reflector.h"

#include "common/arenas.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "kube/backoff.h"
#include "kube/kclient.h"
#include "kube/pause.h"
#include "kube/watch.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG               "cluster-state"
#define MAX_PAGE_BYTES    (256u << 20) /* default of opts.max_page_bytes */
#define MAX_EVENT_BYTES   (16u << 20)  /* default of opts.max_event_bytes */
#define MAX_ERR_BYTES     (1u << 20)
#define MAX_LIST_TRIES    5 /* lists restarted for an expired continue token */
#define MAX_NAME_BYTES    64
#define MAX_PATH_BYTES    1024
#define MAX_FORBIDDEN_MSG 512

/* Results of a list or watch, besides 0 and KM_E*. */
#define R_RELIST    1001
#define R_RETRY     1002
#define R_FORBIDDEN 1003

struct km_kreflector {
    /* What is listed and where it goes. */
    char name[MAX_NAME_BYTES], path[MAX_PATH_BYTES], forbidden_msg[MAX_FORBIDDEN_MSG];
    struct km_kreflector_consumer c;
    struct km_kstore *store; /* km_kreflector_start(): the consumer is the store */
    struct km_kparse parse;
    struct km_kreflector_opts o;
    struct km_kube_client k;
    struct km_watch_stream ws;
    struct km_buf body, errbody;
    struct km_kube_backoff backoff;
    struct km_kreflector_stats st;
    pthread_t thread;
    struct km_kube_pause pause; /* stops the thread */
    atomic_bool cut;            /* ends the request in flight: stop or relist_req */
    atomic_bool relist_req;     /* km_kreflector_relist() */
    bool started, warned_forbidden;
    struct km_log_limit err_log;
    char rv[128];
};

/* ---- helpers ----------------------------------------------------------------------- */

static bool stopped(struct km_kreflector *r)
{
    return km_kube_pause_stopped(&r->pause);
}

static bool relist_asked(struct km_kreflector *r)
{
    return atomic_load(&r->relist_req);
}

/* Percent-encode a continue token into out. */
static void encode(char *out, size_t size, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t k = 0;

    for (; *s && k + 4 < size; s++) {
        unsigned char c = (unsigned char)*s;

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            out[k++] = (char)c;
        } else {
            out[k++] = '%';
            out[k++] = hex[c >> 4];
            out[k++] = hex[c & 15];
        }
    }
    out[k] = '\0';
}

static void set_rv(struct km_kreflector *r, const json_t *obj)
{
    const json_t *meta = json_is_object(obj) ? json_object_get(obj, "metadata") : NULL;
    const json_t *rv = json_is_object(meta) ? json_object_get(meta, "resourceVersion") : NULL;

    if (json_is_string(rv) && json_string_length(rv) < sizeof(r->rv))
        snprintf(r->rv, sizeof(r->rv), "%s", json_string_value(rv));
}

static void log_error(struct km_kreflector *r, const char *what)
{
    uint64_t held;

    atomic_fetch_add(&r->st.errors, 1);
    if (!stopped(r) && km_log_limit_take(&r->err_log, &held))
        km_log_warn(LOG, "%s: %s (%llu more since the last message)", r->name, what,
                    (unsigned long long)held);
}

/* A non-2xx answer as a result code. */
static int status_result(long status, struct km_buf *b)
{
    char msg[512], why[700];

    if (status == 403)
        return R_FORBIDDEN;
    if (status == 410)
        return R_RELIST;
    snprintf(why, sizeof(why), "HTTP %ld: %s", status, km_kube_status_message(b, msg, sizeof(msg)));
    return km_err_set(KM_EIO, "%s", why);
}

/* ---- list ---------------------------------------------------------------------------- */

static int list_page(struct km_kreflector *r, const char *cont, char *next, size_t nsize)
{
    char path[4096], enc[2048];
    const json_t *items, *item, *meta, *c;
    json_t *doc;
    long status;
    size_t i;
    int rc;

    encode(enc, sizeof(enc), cont);
    snprintf(path, sizeof(path), "%s?limit=%u%s%s", r->path, r->o.page_limit,
             cont[0] ? "&continue=" : "", enc);
    rc = km_kube_get(&r->k, path, &r->body, 120, &status);
    if (rc)
        return relist_asked(r) ? R_RELIST : rc;
    if (status != 200)
        return status_result(status, &r->body);
    if (km_buf_error(&r->body))
        return km_err_set(KM_ELIMIT, "a list page larger than %zu bytes", r->o.max_page_bytes);
    atomic_fetch_add(&r->st.pages, 1);
    doc = json_loadb(r->body.data, r->body.len, 0, NULL);
    items = json_object_get(doc, "items");
    if (!json_is_array(items)) {
        json_decref(doc);
        return km_err_set(KM_EINVAL, "GET %s: not a list", path);
    }
    json_array_foreach(items, i, item)
    {
        rc = r->c.put(r->c.ud, KM_W_ADDED, item);
        if (rc == KM_ENOMEM)
            break;
        rc = 0;
    }
    set_rv(r, doc);
    meta = json_object_get(doc, "metadata");
    c = json_is_object(meta) ? json_object_get(meta, "continue") : NULL;
    snprintf(next, nsize, "%s",
             json_is_string(c) && json_string_length(c) < nsize ? json_string_value(c) : "");
    json_decref(doc);
    return rc;
}

static int list(struct km_kreflector *r)
{
    char cont[2048] = "", next[2048];
    int tries = 0, rc;

    atomic_fetch_add(&r->st.lists, 1);
    r->c.list_begin(r->c.ud);
    for (;;) {
        rc = list_page(r, cont, next, sizeof(next));
        if (rc == R_RELIST && cont[0] && !relist_asked(r) && ++tries < MAX_LIST_TRIES) {
            /* The continue token expired: the list starts over. */
            km_log_info(LOG, "%s: the list's continue token expired; listing again", r->name);
            atomic_fetch_add(&r->st.relists_gone, 1);
            r->c.list_begin(r->c.ud);
            cont[0] = '\0';
            continue;
        }
        if (rc == R_RELIST && !relist_asked(r))
            rc = km_err_set(KM_EIO, "the list answered 410 Gone");
        if (rc || !next[0] || stopped(r))
            break;
        memcpy(cont, next, sizeof(cont));
    }
    if (rc == 0 && !stopped(r))
        r->c.list_end(r->c.ud);
    /* A list is megabytes of JSON read once: give the memory back. */
    km_buf_fini(&r->body);
    km_buf_init(&r->body, r->o.max_page_bytes);
    km_malloc_trim();
    return rc;
}

/* ---- watch --------------------------------------------------------------------------- */

static int on_event(void *ud, enum km_watch_type type, const json_t *obj)
{
    struct km_kreflector *r = ud;
    const char *msg;

    atomic_fetch_add(&r->st.events, 1);
    if (relist_asked(r))
        return R_RELIST;
    switch (type) {
    case KM_W_ADDED:
    case KM_W_MODIFIED:
    case KM_W_DELETED:
        set_rv(r, obj);
        return r->c.put(r->c.ud, type, obj) == KM_ENOMEM ? KM_ENOMEM : 0;
    case KM_W_BOOKMARK:
        set_rv(r, obj);
        return 0;
    case KM_W_ERROR:
        if (json_integer_value(json_object_get(obj, "code")) == 410)
            return R_RELIST;
        msg = json_string_value(json_object_get(obj, "message"));
        log_error(r, msg ? msg : "the watch sent an error");
        return R_RETRY;
    }
    return 0;
}

static int on_stream(void *ud, const char *data, size_t n)
{
    struct km_kreflector *r = ud;

    return km_watch_stream_feed(&r->ws, data, n, on_event, r);
}

static int watch(struct km_kreflector *r)
{
    char path[4096], enc[256];
    long status;
    int rc;

    encode(enc, sizeof(enc), r->rv);
    snprintf(path, sizeof(path),
             "%s?watch=1&resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=%ld", r->path,
             enc, r->o.watch_timeout_s);
    km_watch_stream_reset(&r->ws);
    atomic_fetch_add(&r->st.watches, 1);
    rc = km_kube_stream(&r->k, path, r->o.watch_timeout_s + 30, on_stream, r, &r->errbody, &status);
    if (relist_asked(r))
        return R_RELIST;
    if (rc == R_RELIST || rc == R_RETRY)
        return rc;
    if (rc == KM_EINVAL || rc == KM_ELIMIT)
        return R_RELIST; /* the stream can no longer be trusted */
    if (rc == 0 && (status < 200 || status >= 300))
        rc = status_result(status, &r->errbody);
    return rc;
}

/* ---- the loop ------------------------------------------------------------------------ */

static void forbidden(struct km_kreflector *r)
{
    if (!r->warned_forbidden) {
        km_log_warn(LOG, "%s", r->forbidden_msg);
        r->warned_forbidden = true;
    }
    atomic_store(&r->st.forbidden, true);
    atomic_store(&r->st.up, true); /* the API answers; it refuses */
    km_kube_pause_sleep(&r->pause, r->o.forbidden_retry_ms);
}

/* A relist km_kreflector_relist() asked for: the consumer forgets what it must, and
 * requests run again. */
static bool take_relist(struct km_kreflector *r)
{
    if (!relist_asked(r))
        return false;
    atomic_store(&r->relist_req, false);
    atomic_store(&r->cut, false);
    if (stopped(r))
        atomic_store(&r->cut, true); /* stop came meanwhile: keep requests cut */
    if (r->c.relist)
        r->c.relist(r->c.ud);
    return true;
}

static void *run(void *arg)
{
    struct km_kreflector *r = arg;
    bool need_list = true;

    while (!stopped(r)) {
        int64_t started = km_time_mono_ns();
        int rc;

        if (take_relist(r))
            need_list = true;
        if (need_list) {
            rc = list(r);
            if (take_relist(r))
                continue;
            if (rc == R_FORBIDDEN) {
                forbidden(r);
                continue;
            }
            if (rc) {
                atomic_store(&r->st.up, false);
                log_error(r, km_err_msg());
                km_kube_pause_sleep(&r->pause, km_kube_backoff_next(&r->backoff));
                continue;
            }
            if (atomic_load(&r->st.forbidden))
                km_log_info(LOG, "%s: listing is allowed now", r->name);
            atomic_store(&r->st.forbidden, false);
            r->warned_forbidden = false;
            atomic_store(&r->st.synced, true);
            atomic_store(&r->st.up, true);
            km_kube_backoff_reset(&r->backoff);
            need_list = false;
        }
        rc = watch(r);
        if (rc == R_RELIST) {
            if (!relist_asked(r))
                atomic_fetch_add(&r->st.relists_gone, 1);
            need_list = true;
            continue;
        }
        if (rc == R_FORBIDDEN) {
            need_list = true;
            forbidden(r);
            continue;
        }
        if (rc && rc != R_RETRY) {
            atomic_store(&r->st.up, false);
            log_error(r, km_err_msg());
        }
        if (rc || km_time_mono_ns() - started < 1000000000)
            km_kube_pause_sleep(&r->pause,
                                km_kube_backoff_next(&r->backoff)); /* never a tight loop */
        else
            km_kube_backoff_reset(&r->backoff);
    }
    return NULL;
}

/* ---- the store as the consumer ---------------------------------------------------------- */

static void store_list_begin(void *ud)
{
    struct km_kreflector *r = ud;

    km_kstore_relist_begin(r->store);
}

static int store_put(void *ud, enum km_watch_type type, const json_t *obj)
{
    struct km_kreflector *r = ud;
    int rc;

    if (type == KM_W_DELETED) {
        km_kstore_delete(r->store, obj);
        return 0;
    }
    rc = km_kstore_upsert(r->store, &r->parse, obj);
    if (rc && rc != KM_ENOMEM)
        km_log_debug(LOG, "%s: an object was skipped: %s", r->name, km_err_msg());
    return rc == KM_ENOMEM ? rc : 0;
}

static void store_list_end(void *ud)
{
    struct km_kreflector *r = ud;

    km_kstore_relist_end(r->store);
}

/* ---- life ---------------------------------------------------------------------------- */

static void reflector_free(struct km_kreflector *r)
{
    km_kube_client_fini(&r->k);
    km_watch_stream_fini(&r->ws);
    km_buf_fini(&r->body);
    km_buf_fini(&r->errbody);
    km_kube_pause_fini(&r->pause);
    free(r);
}

/* A reflector of t into c (c.ud NULL: the reflector itself), its thread not started. */
static int reflector_new(struct km_kreflector **out, const struct km_kreflector_target *t,
                         const struct km_kreflector_consumer *c, const struct km_kube_config *cfg,
                         const struct km_kreflector_opts *o)
{
    struct km_kreflector *r = calloc(1, sizeof(*r));
    int rc;

    if (!r)
        return km_err_set(KM_ENOMEM, "out of memory");
    snprintf(r->name, sizeof(r->name), "%s", t->name);
    snprintf(r->path, sizeof(r->path), "%s", t->path);
    snprintf(r->forbidden_msg, sizeof(r->forbidden_msg), "%s", t->forbidden);
    r->c = *c;
    if (!r->c.ud)
        r->c.ud = r;
    r->o = *o;
    if (!r->o.watch_timeout_s)
        r->o.watch_timeout_s = 300;
    if (!r->o.page_limit)
        r->o.page_limit = 500;
    if (!r->o.forbidden_retry_ms)
        r->o.forbidden_retry_ms = 10 * 60 * 1000;
    if (!r->o.max_page_bytes)
        r->o.max_page_bytes = MAX_PAGE_BYTES;
    if (!r->o.max_event_bytes)
        r->o.max_event_bytes = MAX_EVENT_BYTES;
    r->err_log.period_ns = 60 * 1000000000ll;
    km_kube_pause_init(&r->pause);
    km_buf_init(&r->body, r->o.max_page_bytes);
    km_buf_init(&r->errbody, MAX_ERR_BYTES);
    km_watch_stream_init(&r->ws, r->o.max_event_bytes);
    km_kube_backoff_init(&r->backoff, r->o.backoff_min_ms ? r->o.backoff_min_ms : 1000,
                         r->o.backoff_max_ms ? r->o.backoff_max_ms : 30000,
                         (uint64_t)km_time_mono_ns() ^ (uintptr_t)r);
    rc = km_kube_client_init(&r->k, cfg, &r->cut);
    if (rc) {
        reflector_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

static int reflector_run(struct km_kreflector **out, struct km_kreflector *r)
{
    char what[96];
    int rc;

    snprintf(what, sizeof(what), "the %s reflector's thread", r->name);
    rc = km_kube_thread_start(&r->thread, run, r, what);
    if (rc) {
        reflector_free(r);
        return rc;
    }
    r->started = true;
    *out = r;
    return 0;
}

int km_kreflector_start_consumer(struct km_kreflector **out, const struct km_kreflector_target *t,
                                 const struct km_kreflector_consumer *c,
                                 const struct km_kube_config *cfg,
                                 const struct km_kreflector_opts *o)
{
    struct km_kreflector *r;
    int rc;

    *out = NULL;
    rc = reflector_new(&r, t, c, cfg, o);
    if (rc)
        return rc;
    return reflector_run(out, r);
}

int km_kreflector_start(struct km_kreflector **out, const struct km_kind *kind,
                        struct km_kstore *store, const struct km_kparse *parse,
                        const struct km_kube_config *cfg, const struct km_kreflector_opts *o)
{
    static const struct km_kreflector_consumer c = { store_list_begin, store_put, store_list_end,
                                                     NULL, NULL };
    char msg[MAX_FORBIDDEN_MSG];
    struct km_kreflector_target t = { kind->name, kind->path, msg };
    struct km_kreflector *r;
    int rc;

    *out = NULL;
    snprintf(msg, sizeof(msg),
             "forbidden: cannot list %s%s%s; the ClusterRole needs list,watch on %s "
             "(apiGroups: [\"%s\"]); %s are skipped",
             kind->group[0] ? kind->group : "", kind->group[0] ? "/" : "", kind->name, kind->name,
             kind->group, kind->name);
    rc = reflector_new(&r, &t, &c, cfg, o);
    if (rc)
        return rc;
    r->store = store;
    r->parse = *parse;
    return reflector_run(out, r);
}

void km_kreflector_relist(struct km_kreflector *r)
{
    atomic_store(&r->relist_req, true);
    atomic_store(&r->cut, true);
}

const struct km_kreflector_stats *km_kreflector_stats(const struct km_kreflector *r)
{
    return &r->st;
}

void km_kreflector_halt(struct km_kreflector *r)
{
    if (!r)
        return;
    atomic_store(&r->cut, true);
    km_kube_pause_stop(&r->pause);
    if (r->started)
        pthread_join(r->thread, NULL);
    r->started = false;
}

void km_kreflector_stop(struct km_kreflector *r)
{
    if (!r)
        return;
    km_kreflector_halt(r);
    reflector_free(r);
}
