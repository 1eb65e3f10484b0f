/*
 * reflector — list + watch of one kind into its store (see reflector.h).
 *
 * The loop:
 *   list:  relist_begin; GET path?limit=N[&continue=C] page after page, each item put in
 *          the store; a 410 on a continue token starts the list again from the first
 *          page; relist_end removes what the list did not contain. The list's
 *          metadata.resourceVersion is where the watch starts.
 *   watch: GET path?watch=1&resourceVersion=RV&allowWatchBookmarks=true&timeoutSeconds=T;
 *          ADDED/MODIFIED put, DELETED removes, BOOKMARK moves RV; an ERROR event with
 *          code 410 or an HTTP 410 goes back to list; a stream that ends is watched
 *          again from RV; errors wait a jittered backoff first (never a busy loop).
 */
#include "reflector.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "kube/backoff.h"
#include "kube/kclient.h"
#include "kube/pause.h"
#include "kube/watch.h"

#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG             "cluster-state"
#define MAX_PAGE_BYTES  (256u << 20)
#define MAX_EVENT_BYTES (16u << 20)
#define MAX_ERR_BYTES   (1u << 20)
#define MAX_LIST_TRIES  5 /* lists restarted for an expired continue token */

/* Results of a list or watch, besides 0 and KM_E*. */
#define R_RELIST    1001
#define R_RETRY     1002
#define R_FORBIDDEN 1003

struct km_kreflector {
    const struct km_kind *kind;
    struct km_kstore *store;
    struct km_kparse parse;
    struct km_kreflector_opts o;
    struct km_kube_client k;
    struct km_watch_stream ws;
    struct km_buf body, errbody;
    struct km_kube_backoff backoff;
    struct km_kreflector_stats st;
    pthread_t thread;
    struct km_kube_pause pause; /* its stop flag stops requests too */
    bool started, warned_forbidden;
    struct km_log_limit err_log;
    char rv[128];
};

/* ---- helpers ----------------------------------------------------------------------- */

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
    const char *rv = km_kjson_str(json_object_get(obj, "metadata"), "resourceVersion");

    if (rv && strlen(rv) < sizeof(r->rv))
        snprintf(r->rv, sizeof(r->rv), "%s", rv);
}

static void log_error(struct km_kreflector *r, const char *what)
{
    uint64_t held;

    atomic_fetch_add(&r->st.errors, 1);
    if (!km_kube_pause_stopped(&r->pause) && km_log_limit_take(&r->err_log, &held))
        km_log_warn(LOG, "%s: %s (%llu more since the last message)", r->kind->name, what,
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
    const json_t *items, *item;
    json_t *doc;
    long status;
    size_t i;
    int rc;

    encode(enc, sizeof(enc), cont);
    snprintf(path, sizeof(path), "%s?limit=%u%s%s", r->kind->path, r->o.page_limit,
             cont[0] ? "&continue=" : "", enc);
    rc = km_kube_get(&r->k, path, &r->body, 120, &status);
    if (rc)
        return rc;
    if (status != 200)
        return status_result(status, &r->body);
    if (km_buf_error(&r->body))
        return km_err_set(KM_ELIMIT, "a list page larger than %u bytes", MAX_PAGE_BYTES);
    atomic_fetch_add(&r->st.pages, 1);
    doc = json_loadb(r->body.data, r->body.len, 0, NULL);
    items = json_object_get(doc, "items");
    if (!json_is_array(items)) {
        json_decref(doc);
        return km_err_set(KM_EINVAL, "GET %s: not a list", path);
    }
    json_array_foreach(items, i, item)
    {
        rc = km_kstore_upsert(r->store, &r->parse, item);
        if (rc == KM_ENOMEM)
            break;
        if (rc)
            km_log_debug(LOG, "%s: an object was skipped: %s", r->kind->name, km_err_msg());
        rc = 0;
    }
    set_rv(r, doc);
    cont = km_kjson_str(json_object_get(doc, "metadata"), "continue");
    snprintf(next, nsize, "%s", cont && strlen(cont) < nsize ? cont : "");
    json_decref(doc);
    return rc;
}

static int list(struct km_kreflector *r)
{
    char cont[2048] = "", next[2048];
    int tries = 0, rc;

    atomic_fetch_add(&r->st.lists, 1);
    km_kstore_relist_begin(r->store);
    for (;;) {
        rc = list_page(r, cont, next, sizeof(next));
        if (rc == R_RELIST && cont[0] && ++tries < MAX_LIST_TRIES) {
            /* The continue token expired: the list starts over. */
            km_log_info(LOG, "%s: the list's continue token expired; listing again", r->kind->name);
            atomic_fetch_add(&r->st.relists_gone, 1);
            km_kstore_relist_begin(r->store);
            cont[0] = '\0';
            continue;
        }
        if (rc == R_RELIST)
            rc = km_err_set(KM_EIO, "the list answered 410 Gone");
        if (rc || !next[0] || km_kube_pause_stopped(&r->pause))
            break;
        memcpy(cont, next, sizeof(cont));
    }
    if (rc == 0 && !km_kube_pause_stopped(&r->pause))
        km_kstore_relist_end(r->store);
    /* A list is megabytes of JSON read once: give the memory back. */
    km_buf_fini(&r->body);
    km_buf_init(&r->body, MAX_PAGE_BYTES);
    malloc_trim(0);
    return rc;
}

/* ---- watch --------------------------------------------------------------------------- */

static int on_event(void *ud, enum km_watch_type type, const json_t *obj)
{
    struct km_kreflector *r = ud;
    const json_t *code;
    int rc;

    atomic_fetch_add(&r->st.events, 1);
    switch (type) {
    case KM_W_ADDED:
    case KM_W_MODIFIED:
        set_rv(r, obj);
        rc = km_kstore_upsert(r->store, &r->parse, obj);
        if (rc && rc != KM_ENOMEM)
            km_log_debug(LOG, "%s: an object was skipped: %s", r->kind->name, km_err_msg());
        return rc == KM_ENOMEM ? rc : 0;
    case KM_W_DELETED:
        set_rv(r, obj);
        km_kstore_delete(r->store, obj);
        return 0;
    case KM_W_BOOKMARK:
        set_rv(r, obj);
        return 0;
    case KM_W_ERROR:
        code = json_object_get(obj, "code");
        if (json_integer_value(code) == 410)
            return R_RELIST;
        log_error(r, km_kjson_str(obj, "message") ? km_kjson_str(obj, "message")
                                                  : "the watch sent an error");
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
             "%s?watch=1&resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=%ld",
             r->kind->path, enc, r->o.watch_timeout_s);
    km_watch_stream_reset(&r->ws);
    atomic_fetch_add(&r->st.watches, 1);
    rc = km_kube_stream(&r->k, path, r->o.watch_timeout_s + 30, on_stream, r, &r->errbody, &status);
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
        km_log_warn(LOG,
                    "forbidden: cannot list %s%s%s; the ClusterRole needs list,watch on %s "
                    "(apiGroups: [\"%s\"]); %s are skipped",
                    r->kind->group[0] ? r->kind->group : "", r->kind->group[0] ? "/" : "",
                    r->kind->name, r->kind->name, r->kind->group, r->kind->name);
        r->warned_forbidden = true;
    }
    atomic_store(&r->st.forbidden, true);
    atomic_store(&r->st.up, true); /* the API answers; it refuses */
    km_kube_pause_sleep(&r->pause, r->o.forbidden_retry_ms);
}

static void *run(void *arg)
{
    struct km_kreflector *r = arg;
    bool need_list = true;

    while (!km_kube_pause_stopped(&r->pause)) {
        int64_t started = km_time_mono_ns();
        int rc;

        if (need_list) {
            rc = list(r);
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
            atomic_store(&r->st.forbidden, false);
            atomic_store(&r->st.synced, true);
            atomic_store(&r->st.up, true);
            km_kube_backoff_reset(&r->backoff);
            need_list = false;
        }
        rc = watch(r);
        if (rc == R_RELIST) {
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

int km_kreflector_start(struct km_kreflector **out, const struct km_kind *kind,
                        struct km_kstore *store, const struct km_kparse *parse,
                        const struct km_kube_config *cfg, const struct km_kreflector_opts *o)
{
    struct km_kreflector *r = calloc(1, sizeof(*r));
    char what[96];
    int rc;

    *out = NULL;
    if (!r)
        return km_err_set(KM_ENOMEM, "out of memory");
    r->kind = kind;
    r->store = store;
    r->parse = *parse;
    r->o = *o;
    if (!r->o.watch_timeout_s)
        r->o.watch_timeout_s = 300;
    if (!r->o.page_limit)
        r->o.page_limit = 500;
    if (!r->o.forbidden_retry_ms)
        r->o.forbidden_retry_ms = 10 * 60 * 1000;
    r->err_log.period_ns = 60 * 1000000000ll;
    km_kube_pause_init(&r->pause);
    km_buf_init(&r->body, MAX_PAGE_BYTES);
    km_buf_init(&r->errbody, MAX_ERR_BYTES);
    km_watch_stream_init(&r->ws, MAX_EVENT_BYTES);
    km_kube_backoff_init(&r->backoff, r->o.backoff_min_ms ? r->o.backoff_min_ms : 1000,
                         r->o.backoff_max_ms ? r->o.backoff_max_ms : 30000,
                         (uint64_t)km_time_mono_ns() ^ (uintptr_t)r);
    rc = km_kube_client_init(&r->k, cfg, &r->pause.stop);
    if (rc)
        goto out_free;
    snprintf(what, sizeof(what), "the %s reflector's thread", kind->name);
    rc = km_kube_thread_start(&r->thread, run, r, what);
    if (rc)
        goto out_free;
    r->started = true;
    *out = r;
    return 0;

out_free:
    reflector_free(r);
    return rc;
}

const struct km_kreflector_stats *km_kreflector_stats(const struct km_kreflector *r)
{
    return &r->st;
}

void km_kreflector_stop(struct km_kreflector *r)
{
    if (!r)
        return;
    km_kube_pause_stop(&r->pause);
    if (r->started)
        pthread_join(r->thread, NULL);
    reflector_free(r);
}
