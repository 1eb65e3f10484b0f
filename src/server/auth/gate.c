/*
 * gate — the HTTP server's authorize hook (see auth.h): the token a request presents,
 * checked against the token file's digests and the route's scope flag; 401 or 403 with a
 * JSON message; the request's identity attached for its handler. The file is checked
 * for changes at most once a second, by whichever request comes first, and reloaded
 * then (a small file: a stat, and a read when it changed).
 */
#include "auth.h"

#include "common/err.h"
#include "common/http_server.h"
#include "common/jsonw.h"
#include "common/log.h"
#include "common/mset.h"
#include "common/timefmt.h"

#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define LOG_NAME        "auth"
#define CHECK_EVERY_NS  1000000000ll
#define MAX_TOKEN_BYTES 4096

/* What identifies a version of the file (a Kubernetes Secret swaps a symlink: the inode
 * changes). */
struct file_sig {
    dev_t dev;
    ino_t ino;
    off_t size;
    int64_t mtime_ns;
};

struct name_count {
    char *name;
    uint64_t n;
};

struct km_auth {
    char *path;
    pthread_mutex_t mu; /* guards set, sig, bad_sig, counts */
    struct km_auth_token_set set;
    struct file_sig sig;     /* of the tokens in use */
    struct file_sig bad_sig; /* of a file refused (said once) */
    bool bad;
    int64_t next_check_ns; /* atomic */
    int64_t reload_s;      /* when the tokens in use were read */
    uint64_t reloads_failed;
    uint64_t ok, unauthenticated, forbidden; /* atomic */
    struct name_count *counts;
    size_t ncounts;
};

static bool sig_equal(const struct file_sig *a, const struct file_sig *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime_ns == b->mtime_ns;
}

static int sig_of(const char *path, struct file_sig *out)
{
    struct stat st;

    memset(out, 0, sizeof(*out));
    if (stat(path, &st) != 0)
        return -1;
    out->dev = st.st_dev;
    out->ino = st.st_ino;
    out->size = st.st_size;
    out->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000ll + st.st_mtim.tv_nsec;
    return 0;
}

int km_auth_open(struct km_auth **out, const char *path)
{
    struct km_auth *a = calloc(1, sizeof(*a));
    int rc;

    *out = NULL;
    if (!a || !(a->path = strdup(path))) {
        free(a);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    sig_of(path, &a->sig);
    rc = km_auth_tokens_load(&a->set, path);
    if (rc) {
        free(a->path);
        free(a);
        return rc;
    }
    pthread_mutex_init(&a->mu, NULL);
    a->reload_s = km_time_now_ns() / 1000000000ll;
    a->next_check_ns = km_time_mono_ns() + CHECK_EVERY_NS;
    km_log_info(LOG_NAME, "%zu tokens from %s", a->set.n, path);
    *out = a;
    return 0;
}

void km_auth_close(struct km_auth *a)
{
    if (!a)
        return;
    km_auth_token_set_fini(&a->set);
    for (size_t i = 0; i < a->ncounts; i++)
        free(a->counts[i].name);
    free(a->counts);
    pthread_mutex_destroy(&a->mu);
    free(a->path);
    free(a);
}

int km_auth_reload(struct km_auth *a)
{
    struct km_auth_token_set fresh, old;
    struct file_sig sig;
    bool changed;
    int rc;

    if (sig_of(a->path, &sig) != 0) {
        pthread_mutex_lock(&a->mu);
        changed = !a->bad || !sig_equal(&sig, &a->bad_sig);
        a->bad = true;
        a->bad_sig = sig;
        if (changed)
            a->reloads_failed++;
        pthread_mutex_unlock(&a->mu);
        if (changed)
            km_log_error(LOG_NAME, "the token file %s cannot be read; the tokens in use stay",
                         a->path);
        return KM_EIO;
    }
    pthread_mutex_lock(&a->mu);
    changed = !sig_equal(&sig, &a->sig) && !(a->bad && sig_equal(&sig, &a->bad_sig));
    pthread_mutex_unlock(&a->mu);
    if (!changed)
        return 0;
    rc = km_auth_tokens_load(&fresh, a->path);
    pthread_mutex_lock(&a->mu);
    if (rc) {
        a->bad = true;
        a->bad_sig = sig;
        a->reloads_failed++;
        pthread_mutex_unlock(&a->mu);
        km_log_error(LOG_NAME, "%s; the tokens in use stay until the file is fixed", km_err_msg());
        return rc;
    }
    old = a->set;
    a->set = fresh;
    a->sig = sig;
    a->bad = false;
    a->reload_s = km_time_now_ns() / 1000000000ll;
    pthread_mutex_unlock(&a->mu);
    km_auth_token_set_fini(&old);
    km_log_info(LOG_NAME, "reloaded %zu tokens from %s", fresh.n, a->path);
    return 1;
}

/* At most once a second, by one thread. */
static void maybe_reload(struct km_auth *a)
{
    int64_t now = km_time_mono_ns();
    int64_t next = __atomic_load_n(&a->next_check_ns, __ATOMIC_RELAXED);

    if (now < next || !__atomic_compare_exchange_n(&a->next_check_ns, &next, now + CHECK_EVERY_NS,
                                                   false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        return;
    km_auth_reload(a);
}

/* ---- the presented token ------------------------------------------------------------- */

/* "Basic base64(user:password)": the password, or the user when there is none. Returns
 * the token in out (gnutls_free it) or false. */
static bool from_basic(const char *b64, gnutls_datum_t *out, const char **tok, size_t *len)
{
    gnutls_datum_t in = { (unsigned char *)(uintptr_t)b64, (unsigned)strlen(b64) };
    const char *colon;

    if (gnutls_base64_decode2(&in, out) < 0)
        return false;
    colon = memchr(out->data, ':', out->size);
    if (colon && (size_t)(colon + 1 - (const char *)out->data) < out->size) {
        *tok = colon + 1;
        *len = out->size - (size_t)(colon + 1 - (const char *)out->data);
    } else {
        *tok = (const char *)out->data;
        *len = colon ? (size_t)(colon - (const char *)out->data) : out->size;
    }
    return *len > 0;
}

/* The first `token` argument of the raw query string, %-decoded into out (at most size - 1
 * bytes); its length, or 0 when there is none (or it is too long or malformed). */
static size_t from_query(const struct km_http_req *r, char *out, size_t size)
{
    size_t qlen, i = 0;
    const char *q = km_http_req_query(r, &qlen), *end = q + qlen;

    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp ? amp : end;

        if (stop - q > 6 && memcmp(q, "token=", 6) == 0) {
            for (const char *c = q + 6; c < stop; c++) {
                int v = (unsigned char)*c;

                if (i + 1 >= size)
                    return 0;
                if (*c == '+') {
                    v = ' ';
                } else if (*c == '%') {
                    static const char hex[] = "0123456789abcdef0123456789ABCDEF";
                    const char *h1, *h2;

                    if (stop - c < 3 || !(h1 = memchr(hex, c[1], 32)) ||
                        !(h2 = memchr(hex, c[2], 32)))
                        return 0;
                    v = (int)((h1 - hex) % 16 * 16 + (h2 - hex) % 16);
                    c += 2;
                }
                out[i++] = (char)v;
            }
            out[i] = 0;
            return i;
        }
        q = stop + 1;
    }
    return 0;
}

/* ---- answers --------------------------------------------------------------------------- */

static void refuse(struct km_http_req *r, unsigned status, const char *type, const char *msg)
{
    struct km_buf b;
    struct km_jsonw w;

    if (status == 401)
        km_http_req_add_header(r, "WWW-Authenticate", "Bearer realm=\"kmon\"");
    km_buf_init(&b, 0);
    km_jsonw_init(&w, &b);
    km_jsonw_obj_begin(&w);
    km_jsonw_key(&w, "status");
    km_jsonw_str(&w, "error");
    km_jsonw_key(&w, "errorType");
    km_jsonw_str(&w, type);
    km_jsonw_key(&w, "error");
    km_jsonw_str(&w, msg);
    km_jsonw_obj_end(&w);
    km_buf_putc(&b, '\n');
    km_http_respond_buf(r, status, "application/json", &b);
    km_buf_fini(&b);
}

static const char *scope_name(enum km_auth_scope s)
{
    return s == KM_AUTH_ADMIN ? "admin" : s == KM_AUTH_WRITE ? "write" : "read";
}

static bool scope_allows(enum km_auth_scope have, unsigned flags, const char **need)
{
    if (flags & KM_ROUTE_ADMIN) {
        *need = "an admin token";
        return have == KM_AUTH_ADMIN;
    }
    if (flags & KM_ROUTE_WRITE) {
        *need = "a write (or admin) token";
        return have == KM_AUTH_WRITE || have == KM_AUTH_ADMIN;
    }
    *need = "a read (or admin) token";
    return have == KM_AUTH_READ || have == KM_AUTH_ADMIN;
}

static void count_token(struct km_auth *a, const char *name)
{
    struct name_count *c;

    for (size_t i = 0; i < a->ncounts; i++)
        if (strcmp(a->counts[i].name, name) == 0) {
            a->counts[i].n++;
            return;
        }
    c = realloc(a->counts, (a->ncounts + 1) * sizeof(*c));
    if (!c)
        return;
    a->counts = c;
    c[a->ncounts].name = strdup(name);
    c[a->ncounts].n = 1;
    if (c[a->ncounts].name)
        a->ncounts++;
}

static struct km_auth_id *id_of_token(const struct km_auth_token *t)
{
    struct km_auth_id *id = calloc(1, sizeof(*id));

    if (!id || !(id->name = strdup(t->name)))
        goto out_fail;
    id->scope = t->scope;
    if (t->scope == KM_AUTH_WRITE) {
        if (!(id->cluster = strdup(t->clusters[0])))
            goto out_fail;
    } else if (t->nclusters) {
        id->clusters = calloc(t->nclusters, sizeof(*id->clusters));
        if (!id->clusters)
            goto out_fail;
        for (; id->nclusters < t->nclusters; id->nclusters++)
            if (!(id->clusters[id->nclusters] = strdup(t->clusters[id->nclusters])))
                goto out_fail;
    }
    return id;

out_fail:
    km_auth_id_free(id);
    return NULL;
}

bool km_auth_authorize(struct km_http_req *r, unsigned flags, void *ud)
{
    struct km_auth *a = ud;
    const char *h, *tok = NULL, *need;
    size_t len = 0;
    gnutls_datum_t basic = { NULL, 0 };
    char qtok[MAX_TOKEN_BYTES + 1];
    struct km_auth_id *id = NULL;
    enum km_auth_scope scope = KM_AUTH_READ;
    bool found = false, allowed = false;
    long i;

    if (!(flags & (KM_ROUTE_READ | KM_ROUTE_WRITE | KM_ROUTE_ADMIN)))
        return true;
    maybe_reload(a);
    h = km_http_req_header(r, "Authorization");
    if (h && strncasecmp(h, "Bearer ", 7) == 0) {
        for (tok = h + 7; *tok == ' '; tok++)
            ;
        len = strlen(tok);
        while (len && tok[len - 1] == ' ')
            len--;
    } else if (h && strncasecmp(h, "Basic ", 6) == 0) {
        if (!from_basic(h + 6, &basic, &tok, &len))
            tok = NULL;
    } else if (!h && (flags & KM_ROUTE_READ) && !(flags & (KM_ROUTE_WRITE | KM_ROUTE_ADMIN)) &&
               strcmp(km_http_req_method(r), "GET") == 0) {
        /* Browsers cannot set headers on an EventSource or a WebSocket. */
        len = from_query(r, qtok, sizeof(qtok));
        tok = len ? qtok : NULL;
    }
    if (!tok || len == 0 || len > MAX_TOKEN_BYTES) {
        gnutls_free(basic.data);
        __atomic_add_fetch(&a->unauthenticated, 1, __ATOMIC_RELAXED);
        refuse(r, 401, "unauthorized",
               "this server requires a token: send \"Authorization: Bearer <token>\"");
        return false;
    }
    pthread_mutex_lock(&a->mu);
    i = km_auth_token_find(&a->set, tok, len);
    if (i >= 0) {
        found = true;
        scope = a->set.t[i].scope;
        allowed = scope_allows(scope, flags, &need);
        count_token(a, a->set.t[i].name);
        if (allowed)
            id = id_of_token(&a->set.t[i]);
    }
    pthread_mutex_unlock(&a->mu);
    gnutls_free(basic.data);
    if (!found) {
        __atomic_add_fetch(&a->unauthenticated, 1, __ATOMIC_RELAXED);
        refuse(r, 401, "unauthorized", "unknown token");
        return false;
    }
    if (!allowed) {
        char msg[160];

        __atomic_add_fetch(&a->forbidden, 1, __ATOMIC_RELAXED);
        snprintf(msg, sizeof(msg), "forbidden: this needs %s; the token's scope is %s", need,
                 scope_name(scope));
        refuse(r, 403, "forbidden", msg);
        return false;
    }
    if (!id) {
        refuse(r, 503, "unavailable", "out of memory");
        return false;
    }
    __atomic_add_fetch(&a->ok, 1, __ATOMIC_RELAXED);
    km_http_req_set_auth(r, id, km_auth_id_free);
    return true;
}

void km_auth_metrics(struct km_auth *a, struct km_mset *m)
{
    int fam = km_mset_family(m, "kmon_auth_requests_total",
                             "Requests that needed a token, by outcome (ok, unauthenticated: no or "
                             "an unknown token, forbidden: a token without the scope).",
                             KM_MT_COUNTER, 0);
    static const char *results[] = { "ok", "unauthenticated", "forbidden" };
    uint64_t v[3] = { __atomic_load_n(&a->ok, __ATOMIC_RELAXED),
                      __atomic_load_n(&a->unauthenticated, __ATOMIC_RELAXED),
                      __atomic_load_n(&a->forbidden, __ATOMIC_RELAXED) };

    for (size_t i = 0; i < 3; i++)
        km_mset_add(m, fam, &(struct km_label){ "result", results[i] }, 1, (double)v[i]);
    pthread_mutex_lock(&a->mu);
    fam = km_mset_family(m, "kmon_auth_token_file_reload_failures_total",
                         "Versions of the token file refused (unreadable or invalid).",
                         KM_MT_COUNTER, 0);
    km_mset_add(m, fam, NULL, 0, (double)a->reloads_failed);
    fam = km_mset_family(m, "kmon_auth_token_requests_total",
                         "Requests that presented a known token, by the token's name (allowed or "
                         "not).",
                         KM_MT_COUNTER, 0);
    for (size_t i = 0; i < a->ncounts; i++)
        km_mset_add(m, fam, &(struct km_label){ "token", a->counts[i].name }, 1,
                    (double)a->counts[i].n);
    km_mset_gauge(m, "kmon_auth_tokens", "Tokens loaded from the token file.", (double)a->set.n);
    km_mset_gauge(m, "kmon_auth_tokens_last_reload_success_timestamp_seconds",
                  "When the token file in use was read.", (double)a->reload_s);
    km_mset_gauge(m, "kmon_auth_tokens_last_reload_successful",
                  "0 while the token file on disk is refused (the previous tokens stay in use).",
                  a->bad ? 0 : 1);
    pthread_mutex_unlock(&a->mu);
}

bool km_auth_refuse_limited(struct km_http_req *r, const char *what)
{
    char msg[256];

    if (!km_auth_read_limited(r))
        return false;
    snprintf(msg, sizeof(msg),
             "forbidden: %s cover every cluster; this needs a read token without a cluster "
             "list (or an admin token)",
             what);
    refuse(r, 403, "forbidden", msg);
    return true;
}
