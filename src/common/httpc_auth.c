/*
 * httpc_auth — the client side of transport security (see httpc_auth.h): a curl handle
 * gets the CA bundle, the client certificate and key, and an Authorization header read
 * from a token file.
 *
 * The token file is watched cheaply: at most once a second (KM_HTTPC_TOKEN_CHECK_NS) one
 * stat() compares device, inode, size and modification time with what was last read; only
 * a difference re-reads the file. A Kubernetes Secret rotates by swapping a symlink, which
 * stat() follows, so the inode changes. Every other request costs a clock read and a copy
 * of the header. A file that cannot be read, is empty or holds control characters keeps
 * the previous token in use; the error is returned once per change of the file.
 *
 * Threads: any; the token state is under a mutex. The token never reaches a log or an
 * error message.
 */
#include "common/httpc_auth.h"

#include "common/err.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
    KM_HTTPC_TOKEN_MAX = 16 * 1024, /* a bearer token longer than this is not a token */
};
#define KM_HTTPC_TOKEN_CHECK_NS 1000000000LL
#define KM_HTTPC_BEARER         "Authorization: Bearer "

/* What identifies one version of the token file. */
struct km_token_stamp {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

struct km_httpc_auth {
    char *ca_file, *cert_file, *key_file, *token_file;

    pthread_mutex_t mu;
    char *header;               /* "Authorization: Bearer <token>", or NULL: no token file */
    struct km_token_stamp seen; /* the file as last stat()ed (read or refused) */
    int64_t next_check_ns;      /* monotonic time of the next stat() */
};

static int64_t km_now_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void km_stamp_of(struct km_token_stamp *s, const struct stat *st)
{
    s->dev = st->st_dev;
    s->ino = st->st_ino;
    s->size = st->st_size;
    s->mtime = st->st_mtim;
}

static bool km_stamp_equal(const struct km_token_stamp *a, const struct km_token_stamp *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* Check a readable regular file (or what a symlink names) exists at path. */
static int km_check_readable(const char *path, const char *what)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return km_err_set_errno(errno == ENOENT ? KM_ENOTFOUND : KM_EIO, errno,
                                "cannot read the %s %s", what, path);
    close(fd);
    return 0;
}

/* Read the token file into a new header string; *stamp says which version was read. */
static int km_token_read(const char *path, char **out_header, struct km_token_stamp *stamp)
{
    char buf[KM_HTTPC_TOKEN_MAX + 2];
    struct stat st;
    size_t n = 0, len;
    ssize_t r;
    char *h;
    int fd, rc = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return km_err_set_errno(errno == ENOENT ? KM_ENOTFOUND : KM_EIO, errno,
                                "cannot read the token file %s", path);
    if (fstat(fd, &st) != 0) {
        rc = km_err_set_errno(KM_EIO, errno, "cannot stat the token file %s", path);
        goto out_close;
    }
    km_stamp_of(stamp, &st);
    while (n < sizeof(buf) && (r = read(fd, buf + n, sizeof(buf) - n)) != 0) {
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = km_err_set_errno(KM_EIO, errno, "cannot read the token file %s", path);
            goto out_close;
        }
        n += (size_t)r;
    }
    len = n;
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    if (len > 0 && buf[len - 1] == '\r')
        len--;
    if (len > KM_HTTPC_TOKEN_MAX) {
        rc = km_err_set(KM_EINVAL, "the token file %s is longer than %d bytes", path,
                        KM_HTTPC_TOKEN_MAX);
        goto out_close;
    }
    if (len == 0) {
        rc = km_err_set(KM_EINVAL, "the token file %s is empty", path);
        goto out_close;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];

        if (c < 0x20 || c == 0x7f) {
            rc = km_err_set(KM_EINVAL,
                            "the token file %s holds a control character at byte %zu (one "
                            "line expected)",
                            path, i);
            goto out_close;
        }
    }
    h = malloc(sizeof(KM_HTTPC_BEARER) + len);
    if (!h) {
        rc = km_err_set(KM_ENOMEM, "out of memory reading the token file");
        goto out_close;
    }
    memcpy(h, KM_HTTPC_BEARER, sizeof(KM_HTTPC_BEARER) - 1);
    memcpy(h + sizeof(KM_HTTPC_BEARER) - 1, buf, len);
    h[sizeof(KM_HTTPC_BEARER) - 1 + len] = '\0';
    *out_header = h;
out_close:
    explicit_bzero(buf, sizeof(buf));
    close(fd);
    return rc;
}

static void km_header_free(char *h)
{
    if (h) {
        explicit_bzero(h, strlen(h));
        free(h);
    }
}

static int km_dup_opt(char **dst, const char *src)
{
    if (!src || !*src)
        return 0;
    *dst = strdup(src);
    return *dst ? 0 : km_err_set(KM_ENOMEM, "out of memory");
}

int km_httpc_auth_create(struct km_httpc_auth **out, const struct km_httpc_auth_opts *o)
{
    struct km_httpc_auth *a = calloc(1, sizeof(*a));
    int rc;

    if (!a)
        return km_err_set(KM_ENOMEM, "out of memory");
    pthread_mutex_init(&a->mu, NULL);
    if ((rc = km_dup_opt(&a->ca_file, o->ca_file)) != 0 ||
        (rc = km_dup_opt(&a->cert_file, o->cert_file)) != 0 ||
        (rc = km_dup_opt(&a->key_file, o->key_file)) != 0 ||
        (rc = km_dup_opt(&a->token_file, o->token_file)) != 0)
        goto out_destroy;
    if (a->key_file && !a->cert_file) {
        rc = km_err_set(KM_EINVAL, "a client key (%s) needs its certificate (--cert-file)",
                        a->key_file);
        goto out_destroy;
    }
    if ((a->ca_file && (rc = km_check_readable(a->ca_file, "CA file")) != 0) ||
        (a->cert_file && (rc = km_check_readable(a->cert_file, "certificate file")) != 0) ||
        (a->key_file && (rc = km_check_readable(a->key_file, "key file")) != 0))
        goto out_destroy;
    if (a->token_file) {
        rc = km_token_read(a->token_file, &a->header, &a->seen);
        if (rc != 0)
            goto out_destroy;
        a->next_check_ns = km_now_mono_ns() + KM_HTTPC_TOKEN_CHECK_NS;
    }
    *out = a;
    return 0;
out_destroy:
    km_httpc_auth_destroy(a);
    return rc;
}

void km_httpc_auth_destroy(struct km_httpc_auth *a)
{
    if (!a)
        return;
    km_header_free(a->header);
    free(a->ca_file);
    free(a->cert_file);
    free(a->key_file);
    free(a->token_file);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

/* Under a->mu: re-read the token file if its stamp changed since the last look. A file
 * that cannot be used is reported once (its stamp is remembered) and the old token kept. */
static int km_token_refresh_locked(struct km_httpc_auth *a)
{
    struct km_token_stamp now, read_stamp;
    int64_t t = km_now_mono_ns();
    struct stat st;
    char *h = NULL;
    int rc;

    if (t < a->next_check_ns)
        return 0;
    a->next_check_ns = t + KM_HTTPC_TOKEN_CHECK_NS;
    if (stat(a->token_file, &st) != 0) {
        struct km_token_stamp gone = { 0 };

        if (km_stamp_equal(&gone, &a->seen))
            return 0;
        a->seen = gone;
        return km_err_set_errno(KM_EIO, errno,
                                "cannot stat the token file %s (the previous token stays in use)",
                                a->token_file);
    }
    km_stamp_of(&now, &st);
    if (km_stamp_equal(&now, &a->seen))
        return 0;
    rc = km_token_read(a->token_file, &h, &read_stamp);
    a->seen = rc == 0 ? read_stamp : now;
    if (rc != 0)
        return km_err_wrap(rc, "the previous token stays in use");
    km_header_free(a->header);
    a->header = h;
    return 0;
}

int km_httpc_auth_apply(struct km_httpc_auth *a, CURL *curl, struct curl_slist **headers)
{
    struct curl_slist *l;
    int rc = 0;

    if (!a)
        return 0;
    if (a->ca_file)
        curl_easy_setopt(curl, CURLOPT_CAINFO, a->ca_file);
    if (a->cert_file) {
        curl_easy_setopt(curl, CURLOPT_SSLCERT, a->cert_file);
        curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(curl, CURLOPT_SSLKEY, a->key_file ? a->key_file : a->cert_file);
        curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (!a->token_file)
        return 0;
    pthread_mutex_lock(&a->mu);
    rc = km_token_refresh_locked(a);
    l = curl_slist_append(*headers, a->header);
    pthread_mutex_unlock(&a->mu);
    if (!l)
        return km_err_set(KM_ENOMEM, "out of memory adding the Authorization header");
    *headers = l;
    return rc;
}

int km_httpc_auth_headers(struct km_httpc_auth *a, CURL *curl, const struct curl_slist *base,
                          struct curl_slist **out)
{
    struct curl_slist *h = NULL;
    int rc;

    *out = NULL;
    for (const struct curl_slist *l = base; l; l = l->next) {
        struct curl_slist *n = curl_slist_append(h, l->data);

        if (!n) {
            curl_slist_free_all(h);
            return km_err_set(KM_ENOMEM, "out of memory building request headers");
        }
        h = n;
    }
    rc = km_httpc_auth_apply(a, curl, &h);
    if (rc == KM_ENOMEM) {
        curl_slist_free_all(h);
        return rc;
    }
    *out = h;
    return rc;
}
