/*
 * chclient — the HTTP client of ClickHouse (chclient.h): one POST per statement.
 *
 * The request: URL "<node>/?database=<db>&query=<statement>" with the rows as the POST
 * body for an INSERT (gzip-compressed on request, Content-Encoding: gzip, which 18.16
 * reads), else "<node>/?database=<db>" with the statement as the body. User and password
 * go in X-ClickHouse-User / X-ClickHouse-Key headers (never in the URL, never logged);
 * the password file is read at create and re-read when its inode, size or mtime change
 * (looked at once a second at most).
 *
 * The answer: HTTP 200 streams to the caller's sink; any other status is read (up to
 * KM_CH_ERRBODY_MAX) and turned into an error: a body "Code: N, e.displayText() =
 * DB::Exception: <text>, e.what() …" (18.16) or "Code: N. DB::Exception: <text> (NAME)
 * (version …)" (newer) is a statement ClickHouse refused (KM_EINVAL with its text); a 5xx
 * without one, a failed connection or a timeout is KM_EAGAIN.
 *
 * Nodes: a node that failed to connect is skipped for KM_CH_DOWN_NS by calls on any
 * node (node < 0), which start from a rotating index; if every node is marked down they
 * are all tried anyway. Connections are reused: idle curl easy handles are kept in a
 * small pool (up to KM_CH_POOL) and a call takes one.
 *
 * Threads: any number; the pool, the node marks and the password are under one mutex,
 * never held during a transfer.
 */
#include "chstore/chclient.h"

#include "common/buf.h"
#include "common/err.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define KM_CH_DOWN_NS       (5 * 1000000000LL) /* a node that failed is skipped this long */
#define KM_CH_PW_CHECK_NS   1000000000LL       /* the password file is stat()ed this often */
#define KM_CH_POOL          16                 /* idle curl handles kept */
#define KM_CH_ERRBODY_MAX   (64u * 1024)       /* an error answer kept for its message */
#define KM_CH_ERRMSG_MAX    2000               /* ClickHouse's text kept in a kmon error */
#define KM_CH_TEXT_MAX      (1024u * 1024)     /* km_ch_exec_text's answer */
#define KM_CH_PASSWORD_MAX  4096
#define KM_CH_URL_FIXED_MAX 2048

struct km_ch_node {
    char *url;          /* without a trailing slash */
    int64_t down_until; /* monotonic ns; 0: up */
};

struct km_ch_client {
    struct km_ch_node *nodes;
    size_t nnodes;
    char *database, *user, *password_file;
    char *db_escaped; /* url-escaped database */
    long connect_timeout_ms, timeout_ms;
    struct km_httpc_auth *auth;
    atomic_uint rotate;

    pthread_mutex_t mu;
    char *password; /* NULL: none */
    struct stat pw_seen;
    int64_t pw_next_check;
    CURL *pool[KM_CH_POOL];
    size_t npool;
};

/* One transfer's state, seen by the write callback. */
struct km_ch_xfer {
    CURL *curl;
    long status; /* 0 until the first byte */
    const struct km_ch_request *r;
    struct km_buf errbody; /* a non-200 answer */
    size_t delivered;      /* bytes given to the sink */
    int sink_rc;
};

static int64_t km_ch_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- the password file -------------------------------------------------------------- */

/* Read the password file's first line into *out (malloc'd). */
static int km_ch_password_read(const char *path, char **out, struct stat *st)
{
    char buf[KM_CH_PASSWORD_MAX + 2];
    size_t n = 0;
    ssize_t r;
    int fd, rc = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return km_err_set_errno(KM_EINVAL, errno, "cannot read the ClickHouse password file %s",
                                path);
    if (fstat(fd, st) != 0) {
        rc = km_err_set_errno(KM_EIO, errno, "cannot stat the ClickHouse password file %s", path);
        goto out_close;
    }
    while (n < sizeof(buf) - 1 && (r = read(fd, buf + n, sizeof(buf) - 1 - n)) != 0) {
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = km_err_set_errno(KM_EIO, errno, "cannot read the ClickHouse password file %s",
                                  path);
            goto out_close;
        }
        n += (size_t)r;
    }
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    if (strlen(buf) > KM_CH_PASSWORD_MAX) {
        rc = km_err_set(KM_EINVAL, "the ClickHouse password file %s holds more than %d bytes", path,
                        KM_CH_PASSWORD_MAX);
        goto out_close;
    }
    *out = strdup(buf);
    if (!*out)
        rc = km_err_set(KM_ENOMEM, "out of memory");
out_close:
    explicit_bzero(buf, sizeof(buf));
    close(fd);
    return rc;
}

static void km_ch_password_free(char *p)
{
    if (p) {
        explicit_bzero(p, strlen(p));
        free(p);
    }
}

/* Under c->mu: re-read the password file when it changed (at most once a second). A
 * file that became unreadable keeps the last password. */
static void km_ch_password_refresh(struct km_ch_client *c)
{
    struct stat st;
    char *pw = NULL;
    int64_t now;

    if (!c->password_file)
        return;
    now = km_ch_now_ns();
    if (now < c->pw_next_check)
        return;
    c->pw_next_check = now + KM_CH_PW_CHECK_NS;
    if (stat(c->password_file, &st) != 0)
        return;
    if (st.st_ino == c->pw_seen.st_ino && st.st_dev == c->pw_seen.st_dev &&
        st.st_size == c->pw_seen.st_size && st.st_mtim.tv_sec == c->pw_seen.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == c->pw_seen.st_mtim.tv_nsec)
        return;
    if (km_ch_password_read(c->password_file, &pw, &st) != 0)
        return;
    km_ch_password_free(c->password);
    c->password = pw;
    c->pw_seen = st;
}

/* ---- create / destroy --------------------------------------------------------------- */

static int km_ch_dup(char **dst, const char *src)
{
    *dst = strdup(src);
    return *dst ? 0 : km_err_set(KM_ENOMEM, "out of memory");
}

static int km_ch_url_check(const char *u)
{
    size_t n = strlen(u);

    if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
        return km_err_set(
            KM_EINVAL, "ClickHouse URL \"%s\": expected http://host:port or https://host:port", u);
    if (n >= KM_CH_URL_FIXED_MAX || strcspn(u, " \t\r\n?#") != n ||
        u[strncmp(u, "https", 5) == 0 ? 8 : 7] == '\0')
        return km_err_set(KM_EINVAL, "ClickHouse URL \"%s\": not a URL of a server", u);
    return 0;
}

int km_ch_client_create(struct km_ch_client **out, const struct km_ch_client_opts *o)
{
    struct km_ch_client *c;
    int rc;

    if (o->nurls == 0)
        return km_err_set(KM_EINVAL, "no ClickHouse URL given (--clickhouse-url)");
    c = calloc(1, sizeof(*c));
    if (!c)
        return km_err_set(KM_ENOMEM, "out of memory");
    pthread_mutex_init(&c->mu, NULL);
    c->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 3000;
    c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 60000;
    c->nodes = calloc(o->nurls, sizeof(*c->nodes));
    if (!c->nodes) {
        rc = km_err_set(KM_ENOMEM, "out of memory");
        goto out_destroy;
    }
    for (size_t i = 0; i < o->nurls; i++) {
        size_t n;

        if ((rc = km_ch_url_check(o->urls[i])) != 0 ||
            (rc = km_ch_dup(&c->nodes[i].url, o->urls[i])) != 0)
            goto out_destroy;
        c->nnodes++;
        n = strlen(c->nodes[i].url);
        while (n > 0 && c->nodes[i].url[n - 1] == '/')
            c->nodes[i].url[--n] = '\0';
    }
    if ((rc = km_ch_dup(&c->database, o->database && *o->database ? o->database : "kmon")) != 0 ||
        (rc = km_ch_dup(&c->user, o->user && *o->user ? o->user : "default")) != 0)
        goto out_destroy;
    c->db_escaped = curl_easy_escape(NULL, c->database, 0);
    if (!c->db_escaped) {
        rc = km_err_set(KM_ENOMEM, "out of memory");
        goto out_destroy;
    }
    if (o->password_file && *o->password_file) {
        if ((rc = km_ch_dup(&c->password_file, o->password_file)) != 0 ||
            (rc = km_ch_password_read(c->password_file, &c->password, &c->pw_seen)) != 0)
            goto out_destroy;
        c->pw_next_check = km_ch_now_ns() + KM_CH_PW_CHECK_NS;
    }
    rc = km_httpc_auth_create(&c->auth, &o->tls);
    if (rc != 0) {
        km_err_wrap(rc, "ClickHouse TLS");
        goto out_destroy;
    }
    *out = c;
    return 0;
out_destroy:
    km_ch_client_destroy(c);
    return rc;
}

void km_ch_client_destroy(struct km_ch_client *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->npool; i++)
        curl_easy_cleanup(c->pool[i]);
    km_httpc_auth_destroy(c->auth);
    km_ch_password_free(c->password);
    free(c->password_file);
    curl_free(c->db_escaped);
    free(c->user);
    free(c->database);
    for (size_t i = 0; i < c->nnodes; i++)
        free(c->nodes[i].url);
    free(c->nodes);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

size_t km_ch_client_nodes(const struct km_ch_client *c)
{
    return c->nnodes;
}

const char *km_ch_client_url(const struct km_ch_client *c, size_t node)
{
    return node < c->nnodes ? c->nodes[node].url : "";
}

const char *km_ch_client_database(const struct km_ch_client *c)
{
    return c->database;
}

/* ---- one transfer -------------------------------------------------------------------- */

static CURL *km_ch_handle_take(struct km_ch_client *c)
{
    CURL *h = NULL;

    pthread_mutex_lock(&c->mu);
    if (c->npool > 0)
        h = c->pool[--c->npool];
    pthread_mutex_unlock(&c->mu);
    if (h)
        curl_easy_reset(h); /* keeps its connections */
    else
        h = curl_easy_init();
    return h;
}

static void km_ch_handle_give(struct km_ch_client *c, CURL *h)
{
    pthread_mutex_lock(&c->mu);
    if (c->npool < KM_CH_POOL) {
        c->pool[c->npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    if (h)
        curl_easy_cleanup(h);
}

static size_t km_ch_on_data(char *p, size_t size, size_t nmemb, void *ud)
{
    struct km_ch_xfer *x = ud;
    size_t n = size * nmemb;

    if (x->status == 0)
        curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &x->status);
    if (x->status != 200) {
        if (x->errbody.len < KM_CH_ERRBODY_MAX)
            km_buf_append(
                &x->errbody, p,
                n < KM_CH_ERRBODY_MAX - x->errbody.len ? n : KM_CH_ERRBODY_MAX - x->errbody.len);
        return n;
    }
    if (!x->r->sink)
        return n;
    x->sink_rc = x->r->sink(x->r->ud, p, n);
    if (x->sink_rc != 0)
        return CURL_WRITEFUNC_ERROR;
    x->delivered += n;
    return n;
}

/* gzip `in` into a new km_buf. */
static int km_ch_gzip(struct km_buf *out, const void *in, size_t n)
{
    z_stream z;
    int zr;

    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return km_err_set(KM_ENOMEM, "gzip: cannot initialise zlib");
    if (km_buf_reserve(out, deflateBound(&z, n)) != 0) {
        deflateEnd(&z);
        return km_err_set(KM_ENOMEM, "out of memory compressing %zu bytes", n);
    }
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = (Bytef *)out->data;
    z.avail_out = (uInt)(out->cap - 1);
    zr = deflate(&z, Z_FINISH);
    out->len = z.total_out;
    deflateEnd(&z);
    if (zr != Z_STREAM_END)
        return km_err_set(KM_EIO, "gzip: deflate failed (%d)", zr);
    return 0;
}

/* ClickHouse's text of an error answer, without the stack trace, into the thread's
 * message. Returns KM_EINVAL when it is a ClickHouse exception, else KM_EAGAIN (5xx) or
 * KM_EINVAL (other statuses). */
static int km_ch_error_parse(const struct km_ch_client *c, size_t node, long status,
                             const struct km_buf *body)
{
    const char *s = body->len ? body->data : "";
    const char *code = strstr(s, "Code: ");
    const char *text, *end;
    size_t len;

    if (!code) {
        len = strcspn(s, "\r\n");
        if (len > 200)
            len = 200;
        return km_err_set(status >= 500 ? KM_EAGAIN : KM_EINVAL,
                          "ClickHouse %s answered HTTP %ld%s%.*s", c->nodes[node].url, status,
                          len ? ": " : "", (int)len, s);
    }
    text = strstr(code, "DB::Exception: ");
    text = text ? text + strlen("DB::Exception: ") : code;
    end = strstr(text, ", e.what() = ");
    if (!end)
        end = strstr(text, "\nStack trace");
    if (!end)
        end = strstr(text, " (version ");
    if (!end)
        end = text + strlen(text);
    while (end > text && (end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\r'))
        end--;
    len = (size_t)(end - text);
    if (len > KM_CH_ERRMSG_MAX)
        len = KM_CH_ERRMSG_MAX;
    return km_err_set(KM_EINVAL, "ClickHouse %s: Code %d: %.*s", c->nodes[node].url,
                      atoi(code + strlen("Code: ")), (int)len, text);
}

/* The full URL of one request into `u`. */
static int km_ch_url_build(struct km_ch_client *c, size_t node, const struct km_ch_request *r,
                           struct km_buf *u)
{
    km_buf_printf(u, "%s/?", c->nodes[node].url);
    if (!r->no_database)
        km_buf_printf(u, "database=%s&", c->db_escaped);
    if (r->body) {
        char *q = curl_easy_escape(NULL, r->sql, 0);

        if (!q)
            return km_err_set(KM_ENOMEM, "out of memory");
        km_buf_printf(u, "query=%s&", q);
        curl_free(q);
    }
    u->data[--u->len] = '\0'; /* the last '&' or '?' */
    return km_buf_error(u) ? km_err_set(KM_ENOMEM, "out of memory building a URL") : 0;
}

/* The headers of one request: user, password, content encoding, TLS. */
static int km_ch_headers_build(struct km_ch_client *c, CURL *h, bool gzip, struct curl_slist **out)
{
    struct curl_slist *l = NULL, *t;
    struct km_buf b;
    int rc = 0;

    km_buf_init(&b, 16384);
    km_buf_printf(&b, "X-ClickHouse-User: %s", c->user);
    t = curl_slist_append(l, b.data);
    if (!t)
        goto out_nomem;
    l = t;
    km_buf_reset(&b);
    pthread_mutex_lock(&c->mu);
    km_ch_password_refresh(c);
    km_buf_printf(&b, "X-ClickHouse-Key: %s", c->password ? c->password : "");
    pthread_mutex_unlock(&c->mu);
    t = km_buf_error(&b) ? NULL : curl_slist_append(l, b.data);
    explicit_bzero(b.data, b.len);
    if (!t)
        goto out_nomem;
    l = t;
    t = curl_slist_append(l, "Content-Type: application/octet-stream");
    if (!t)
        goto out_nomem;
    l = t;
    if (gzip) {
        t = curl_slist_append(l, "Content-Encoding: gzip");
        if (!t)
            goto out_nomem;
        l = t;
    }
    if (km_httpc_auth_apply(c->auth, h, &l) == KM_ENOMEM)
        goto out_nomem;
    *out = l;
    km_buf_fini(&b);
    return 0;
out_nomem:
    rc = km_err_set(KM_ENOMEM, "out of memory");
    curl_slist_free_all(l);
    km_buf_fini(&b);
    return rc;
}

/* Run r on one node. *delivered: whether the sink got any byte (no failover then). */
static int km_ch_exec_node(struct km_ch_client *c, size_t node, const struct km_ch_request *r,
                           const void *body, size_t body_len, bool *delivered)
{
    struct km_ch_xfer x = { .r = r };
    struct curl_slist *hdr = NULL;
    struct km_buf url;
    char errbuf[CURL_ERROR_SIZE] = "";
    CURLcode cc;
    int rc;

    km_buf_init(&url, 0);
    km_buf_init(&x.errbody, KM_CH_ERRBODY_MAX + 1);
    x.curl = km_ch_handle_take(c);
    if (!x.curl) {
        rc = km_err_set(KM_ENOMEM, "cannot create a curl handle");
        goto out_free;
    }
    if ((rc = km_ch_url_build(c, node, r, &url)) != 0 ||
        (rc = km_ch_headers_build(c, x.curl, r->gzip_body && r->body, &hdr)) != 0)
        goto out_give;
    curl_easy_setopt(x.curl, CURLOPT_URL, url.data);
    curl_easy_setopt(x.curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(x.curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x.curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(x.curl, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    curl_easy_setopt(x.curl, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(x.curl, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(x.curl, CURLOPT_POST, 1L);
    curl_easy_setopt(x.curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(x.curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(x.curl, CURLOPT_WRITEFUNCTION, km_ch_on_data);
    curl_easy_setopt(x.curl, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(x.curl, CURLOPT_ERRORBUFFER, errbuf);
    cc = curl_easy_perform(x.curl);
    if (x.status == 0)
        curl_easy_getinfo(x.curl, CURLINFO_RESPONSE_CODE, &x.status);
    if (x.sink_rc != 0) {
        rc = x.sink_rc;
    } else if (cc != CURLE_OK) {
        rc = km_err_set(KM_EAGAIN, "ClickHouse %s: %s", c->nodes[node].url,
                        errbuf[0] ? errbuf : curl_easy_strerror(cc));
        if (x.delivered == 0) {
            pthread_mutex_lock(&c->mu);
            c->nodes[node].down_until = km_ch_now_ns() + KM_CH_DOWN_NS;
            pthread_mutex_unlock(&c->mu);
        }
    } else if (x.status != 200) {
        rc = km_ch_error_parse(c, node, x.status, &x.errbody);
    } else {
        rc = 0;
        pthread_mutex_lock(&c->mu);
        c->nodes[node].down_until = 0;
        pthread_mutex_unlock(&c->mu);
    }
    *delivered = x.delivered > 0;
    curl_easy_setopt(x.curl, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(x.curl, CURLOPT_HTTPHEADER, NULL);
out_give:
    km_ch_handle_give(c, x.curl);
    curl_slist_free_all(hdr);
out_free:
    km_buf_fini(&x.errbody);
    km_buf_fini(&url);
    return rc;
}

int km_ch_exec(struct km_ch_client *c, int node, const struct km_ch_request *r)
{
    struct km_buf gz;
    const void *body = r->body ? r->body : r->sql;
    size_t body_len = r->body ? r->body_len : strlen(r->sql);
    size_t start, tried = 0;
    int64_t now;
    int rc = KM_EAGAIN;
    bool delivered = false;

    km_buf_init(&gz, 0);
    if (r->body && r->gzip_body) {
        rc = km_ch_gzip(&gz, r->body, r->body_len);
        if (rc != 0)
            goto out;
        body = gz.data;
        body_len = gz.len;
    }
    if (node >= 0) {
        if ((size_t)node >= c->nnodes) {
            rc = km_err_set(KM_EINVAL, "ClickHouse node %d: there are %zu", node, c->nnodes);
            goto out;
        }
        rc = km_ch_exec_node(c, (size_t)node, r, body, body_len, &delivered);
        goto out;
    }
    start = atomic_fetch_add(&c->rotate, 1u) % c->nnodes;
    /* Two passes: the nodes not marked down, then (if none answered) the others. */
    for (int pass = 0; pass < 2 && tried < c->nnodes; pass++) {
        for (size_t k = 0; k < c->nnodes; k++) {
            size_t i = (start + k) % c->nnodes;
            bool down;

            now = km_ch_now_ns();
            pthread_mutex_lock(&c->mu);
            down = c->nodes[i].down_until > now;
            pthread_mutex_unlock(&c->mu);
            if (down != (pass == 1))
                continue;
            tried++;
            rc = km_ch_exec_node(c, i, r, body, body_len, &delivered);
            if (rc != KM_EAGAIN || delivered)
                goto out;
        }
    }
out:
    km_buf_fini(&gz);
    return rc;
}

static int km_ch_text_sink(void *ud, const void *data, size_t n)
{
    struct km_buf *b = ud;

    if (km_buf_append(b, data, n) != 0)
        return km_err_set(KM_ELIMIT, "ClickHouse's answer is larger than %u bytes", KM_CH_TEXT_MAX);
    return 0;
}

int km_ch_exec_text(struct km_ch_client *c, int node, const char *sql, char **out)
{
    struct km_buf b;
    struct km_ch_request r = { .sql = sql, .sink = km_ch_text_sink, .ud = &b };
    int rc;

    km_buf_init(&b, KM_CH_TEXT_MAX);
    rc = km_ch_exec(c, node, &r);
    if (rc != 0) {
        km_buf_fini(&b);
        return rc;
    }
    if (b.len > 0 && b.data[b.len - 1] == '\n')
        b.data[--b.len] = '\0';
    if (!b.data) {
        *out = strdup("");
        return *out ? 0 : km_err_set(KM_ENOMEM, "out of memory");
    }
    *out = km_buf_detach(&b, NULL);
    return 0;
}

int km_ch_quote(struct km_buf *b, const char *s, size_t n)
{
    km_buf_putc(b, '\'');
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch == '\\' || ch == '\'') {
            km_buf_putc(b, '\\');
            km_buf_putc(b, (char)ch);
        } else if (ch < 0x20 || ch == 0x7f) {
            km_buf_printf(b, "\\x%02X", ch);
        } else {
            km_buf_putc(b, (char)ch);
        }
    }
    km_buf_putc(b, '\'');
    return km_buf_error(b) ? km_err_set(KM_ENOMEM, "out of memory quoting a string") : 0;
}
