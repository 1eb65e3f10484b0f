/*
 * http_tls — HTTPS for the HTTP server: the certificate, key and client CA files read
 * (capped at KM_LIMIT_TLS_FILE) and checked with GnuTLS when the server is created, so a
 * bad file is an error that names it rather than a daemon that will not start; then
 * handed to libmicrohttpd (MHD_USE_TLS, MHD_OPTION_HTTPS_MEM_KEY/CERT/TRUST), with TLS
 * 1.2 and 1.3 only (KM_HTTP_TLS_PRIORITIES).
 *
 * Credentials of our own: every new connection (before its handshake) is given the
 * server's current GnuTLS credential (gnutls_credentials_set), which holds the key pair
 * and the client CA. That is what makes reloading possible: the watchdog thread calls
 * km_http_tls_tick(), which every KM_HTTP_TLS_CHECK_NS stat()s the files and, when one
 * changed (inode, size or mtime), reads them into a new credential and swaps it in; new
 * connections get it, connections already open keep the one they began with (each holds
 * a reference, dropped when it closes). A new pair that cannot be used (half written, a
 * key that does not match) leaves the old one serving; the error is logged once per
 * change of the files and counted.
 *
 * Client certificates: libmicrohttpd 0.9.75 with a trust list only *requests* one and
 * verifies nothing. On each new connection we make GnuTLS require a certificate and
 * verify it (chain and validity dates) against the CA during the handshake, so a client
 * without a valid one never gets to send a request.
 *
 * Threads: the load at create; km_http_tls_on_connection/on_close on MHD's threads;
 * km_http_tls_tick on the watchdog; metrics on any. The current credential and the
 * counters are under tls->mu. The PEM texts for MHD's start are owned by the server.
 */
#include "err.h"
#include "http_internal.h"
#include "limits.h"
#include "log.h"
#include "mset.h"
#include "timefmt.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define KM_HTTP_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define KM_HTTP_TLS_CHECK_NS   (2 * 1000000000LL)

enum { KM_TLS_CERT, KM_TLS_KEY, KM_TLS_CA, KM_TLS_NFILES };

/* One loaded key pair (and client CA): shared by the connections that began with it. */
struct km_tls_cred {
    gnutls_certificate_credentials_t cred;
    atomic_int refs;
};

/* What identifies one version of a file (all zero: missing). */
struct km_tls_stamp {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

struct km_http_tls {
    char *paths[KM_TLS_NFILES];              /* the files (paths[KM_TLS_CA] NULL: no client CA) */
    int64_t next_check_ns;                   /* watchdog only */
    struct km_tls_stamp seen[KM_TLS_NFILES]; /* watchdog only: the files as last looked at */
    pthread_mutex_t mu;
    struct km_tls_cred *cur; /* under mu */
    uint64_t reloads, failures;
    double expiry_s; /* the serving certificate's notAfter, Unix seconds */
};

static const char *const km_tls_what[KM_TLS_NFILES] = { "certificate", "key", "client CA" };

/* Read a whole PEM file into *out (NUL-terminated, owned by the caller). */
static int read_pem(const char *path, const char *what, char **out)
{
    struct km_buf b;
    FILE *f = fopen(path, "re");
    char chunk[4096];
    size_t n;
    int rc = 0;

    if (!f)
        return km_err_set_errno(KM_EIO, errno, "cannot read the TLS %s %s", what, path);
    km_buf_init(&b, KM_LIMIT_TLS_FILE);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        km_buf_append(&b, chunk, n);
    if (ferror(f))
        rc = km_err_set(KM_EIO, "cannot read the TLS %s %s", what, path);
    else if (km_buf_error(&b))
        rc = km_err_set(KM_ELIMIT, "the TLS %s %s is larger than %u bytes", what, path,
                        KM_LIMIT_TLS_FILE);
    else if (!b.len)
        rc = km_err_set(KM_EINVAL, "the TLS %s %s is empty", what, path);
    fclose(f);
    explicit_bzero(chunk, sizeof(chunk));
    if (rc) {
        km_buf_fini(&b);
        return rc;
    }
    *out = km_buf_detach(&b, NULL);
    return 0;
}

static gnutls_datum_t datum(const char *pem)
{
    return (gnutls_datum_t){ (unsigned char *)(uintptr_t)pem, (unsigned)strlen(pem) };
}

static void pem_free(char *pem)
{
    if (pem) {
        explicit_bzero(pem, strlen(pem)); /* a private key does not linger */
        free(pem);
    }
}

static void cred_release(struct km_tls_cred *c)
{
    if (c && atomic_fetch_sub(&c->refs, 1) == 1) {
        gnutls_certificate_free_credentials(c->cred);
        free(c);
    }
}

/* The notAfter of the first certificate in a PEM text (0 when it cannot be parsed). */
static double cert_expiry(const char *pem)
{
    gnutls_x509_crt_t crt;
    gnutls_datum_t d = datum(pem);
    double t = 0;

    if (gnutls_x509_crt_init(&crt) < 0)
        return 0;
    if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) >= 0)
        t = (double)gnutls_x509_crt_get_expiration_time(crt);
    gnutls_x509_crt_deinit(crt);
    return t;
}

/* Make a credential from PEM texts (ca may be NULL); paths name the files in errors. On
 * success *out holds one reference. */
static int cred_make(struct km_tls_cred **out, const char *cert, const char *key, const char *ca,
                     char *const paths[KM_TLS_NFILES])
{
    struct km_tls_cred *c = calloc(1, sizeof(*c));
    gnutls_datum_t dc = datum(cert), dk = datum(key);
    int g, rc = 0;

    if (!c)
        return km_err_set(KM_ENOMEM, "out of memory");
    if (gnutls_certificate_allocate_credentials(&c->cred) != GNUTLS_E_SUCCESS) {
        free(c);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    atomic_init(&c->refs, 1);
    g = gnutls_certificate_set_x509_key_mem2(c->cred, &dc, &dk, GNUTLS_X509_FMT_PEM, NULL, 0);
    if (g < 0) {
        rc = km_err_set(KM_EINVAL, "the TLS certificate %s and key %s cannot be used: %s",
                        paths[KM_TLS_CERT], paths[KM_TLS_KEY], gnutls_strerror(g));
        goto out_release;
    }
    if (ca) {
        gnutls_datum_t da = datum(ca);

        g = gnutls_certificate_set_x509_trust_mem(c->cred, &da, GNUTLS_X509_FMT_PEM);
        if (g <= 0) {
            rc = km_err_set(KM_EINVAL, "no usable CA certificate in the client CA file %s%s%s",
                            paths[KM_TLS_CA], g < 0 ? ": " : "", g < 0 ? gnutls_strerror(g) : "");
            goto out_release;
        }
    }
    *out = c;
    return 0;
out_release:
    cred_release(c);
    return rc;
}

static void stamp_files(char *const paths[KM_TLS_NFILES], struct km_tls_stamp st[KM_TLS_NFILES])
{
    for (int i = 0; i < KM_TLS_NFILES; i++) {
        struct stat sb;

        memset(&st[i], 0, sizeof(st[i]));
        if (paths[i] && stat(paths[i], &sb) == 0)
            st[i] = (struct km_tls_stamp){ sb.st_dev, sb.st_ino, sb.st_size, sb.st_mtim };
    }
}

static bool stamps_equal(const struct km_tls_stamp *a, const struct km_tls_stamp *b)
{
    for (int i = 0; i < KM_TLS_NFILES; i++)
        if (a[i].dev != b[i].dev || a[i].ino != b[i].ino || a[i].size != b[i].size ||
            a[i].mtime.tv_sec != b[i].mtime.tv_sec || a[i].mtime.tv_nsec != b[i].mtime.tv_nsec)
            return false;
    return true;
}

/* Read the files into pems[] and a credential. On success *out holds one reference and
 * pems[] are owned by the caller; on failure nothing is left allocated. */
static int load_files(char *const paths[KM_TLS_NFILES], char *pems[KM_TLS_NFILES],
                      struct km_tls_cred **out)
{
    int rc = 0;

    for (int i = 0; i < KM_TLS_NFILES; i++)
        pems[i] = NULL;
    for (int i = 0; i < KM_TLS_NFILES && rc == 0; i++)
        if (paths[i])
            rc = read_pem(paths[i], km_tls_what[i], &pems[i]);
    if (rc == 0)
        rc = cred_make(out, pems[KM_TLS_CERT], pems[KM_TLS_KEY], pems[KM_TLS_CA], paths);
    if (rc != 0)
        for (int i = 0; i < KM_TLS_NFILES; i++) {
            pem_free(pems[i]);
            pems[i] = NULL;
        }
    return rc;
}

int km_http_tls_load(struct km_http_server *s, const struct km_http_opts *o)
{
    const char *files[KM_TLS_NFILES] = { o->tls_cert_file, o->tls_key_file, o->tls_client_ca_file };
    char *pems[KM_TLS_NFILES];
    struct km_http_tls *t;
    int rc;

    if (!o->tls_cert_file && !o->tls_key_file) {
        if (o->tls_client_ca_file)
            return km_err_set(KM_EINVAL, "a client CA (%s) needs a TLS certificate and key",
                              o->tls_client_ca_file);
        return 0;
    }
    if (!o->tls_cert_file || !o->tls_key_file)
        return km_err_set(KM_EINVAL, "TLS needs both a certificate and its key");
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
        return km_err_set(KM_EINVAL, "this libmicrohttpd was built without TLS");
    t = calloc(1, sizeof(*t));
    if (!t)
        return km_err_set(KM_ENOMEM, "out of memory");
    pthread_mutex_init(&t->mu, NULL);
    s->tls = t;
    for (int i = 0; i < KM_TLS_NFILES; i++)
        if (files[i] && !(t->paths[i] = strdup(files[i]))) {
            rc = km_err_set(KM_ENOMEM, "out of memory");
            goto out_free;
        }
    stamp_files(t->paths, t->seen);
    rc = load_files(t->paths, pems, &t->cur);
    if (rc)
        goto out_free;
    s->tls_cert = pems[KM_TLS_CERT];
    s->tls_key = pems[KM_TLS_KEY];
    s->tls_ca = pems[KM_TLS_CA];
    t->expiry_s = cert_expiry(s->tls_cert);
    t->next_check_ns = km_time_mono_ns() + KM_HTTP_TLS_CHECK_NS;
    return 0;
out_free:
    km_http_tls_free(s);
    return rc;
}

void km_http_tls_free(struct km_http_server *s)
{
    struct km_http_tls *t = s->tls;

    pem_free(s->tls_cert);
    pem_free(s->tls_key);
    pem_free(s->tls_ca);
    s->tls_cert = s->tls_key = s->tls_ca = NULL;
    if (!t)
        return;
    cred_release(t->cur);
    for (int i = 0; i < KM_TLS_NFILES; i++)
        free(t->paths[i]);
    pthread_mutex_destroy(&t->mu);
    free(t);
    s->tls = NULL;
}

unsigned km_http_tls_flags(const struct km_http_server *s)
{
    return s->tls_cert ? MHD_USE_TLS : 0;
}

void km_http_tls_options(struct km_http_server *s, struct MHD_OptionItem *items, size_t *n)
{
    if (!s->tls_cert)
        return;
    items[(*n)++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert };
    items[(*n)++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key };
    items[(*n)++] =
        (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0, KM_HTTP_TLS_PRIORITIES };
    if (s->tls_ca)
        items[(*n)++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_TRUST, 0, s->tls_ca };
}

bool km_http_tls_on_connection(struct km_http_server *s, struct MHD_Connection *conn,
                               struct km_tls_cred **held)
{
    const union MHD_ConnectionInfo *ci;
    gnutls_session_t session;
    struct km_tls_cred *c;

    *held = NULL;
    if (!s->tls)
        return true;
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session)
        return false;
    session = (gnutls_session_t)ci->tls_session;
    pthread_mutex_lock(&s->tls->mu);
    c = s->tls->cur;
    atomic_fetch_add(&c->refs, 1);
    pthread_mutex_unlock(&s->tls->mu);
    if (gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, c->cred) < 0) {
        cred_release(c);
        return false;
    }
    *held = c;
    if (s->tls_ca) {
        gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE);
        gnutls_session_set_verify_cert(session, NULL, 0);
    }
    return true;
}

void km_http_tls_on_close(struct km_tls_cred *held)
{
    cred_release(held);
}

void km_http_tls_tick(struct km_http_server *s, int64_t now_ns)
{
    struct km_http_tls *t = s->tls;
    struct km_tls_stamp st[KM_TLS_NFILES];
    struct km_tls_cred *c = NULL, *old;
    char *pems[KM_TLS_NFILES];
    double expiry;
    int rc;

    if (!t || now_ns < t->next_check_ns)
        return;
    t->next_check_ns = now_ns + KM_HTTP_TLS_CHECK_NS;
    stamp_files(t->paths, st);
    if (stamps_equal(st, t->seen))
        return;
    memcpy(t->seen, st, sizeof(st));
    rc = load_files(t->paths, pems, &c);
    if (rc) {
        km_log_error(s->name,
                     "TLS: the changed certificate files are not used, the previous "
                     "ones still serve: %s",
                     km_err_msg());
        pthread_mutex_lock(&t->mu);
        t->failures++;
        pthread_mutex_unlock(&t->mu);
        return;
    }
    expiry = cert_expiry(pems[KM_TLS_CERT]);
    for (int i = 0; i < KM_TLS_NFILES; i++)
        pem_free(pems[i]);
    pthread_mutex_lock(&t->mu);
    old = t->cur;
    t->cur = c;
    t->reloads++;
    t->expiry_s = expiry;
    pthread_mutex_unlock(&t->mu);
    cred_release(old);
    km_log_info(s->name, "TLS: certificate %s reloaded", t->paths[KM_TLS_CERT]);
}

void km_http_tls_metrics(struct km_http_server *s, struct km_mset *m)
{
    struct km_http_tls *t = s->tls;
    uint64_t reloads, failures;
    double expiry;

    if (!t)
        return;
    pthread_mutex_lock(&t->mu);
    reloads = t->reloads;
    failures = t->failures;
    expiry = t->expiry_s;
    pthread_mutex_unlock(&t->mu);
    km_mset_add(m,
                km_mset_family(m, "kmon_tls_cert_reloads_total",
                               "Times changed TLS certificate files were loaded and served "
                               "without a restart.",
                               KM_MT_COUNTER, 0),
                NULL, 0, (double)reloads);
    km_mset_add(m,
                km_mset_family(m, "kmon_tls_cert_reload_failures_total",
                               "Times changed TLS certificate files could not be used (the "
                               "previous certificate kept serving).",
                               KM_MT_COUNTER, 0),
                NULL, 0, (double)failures);
    km_mset_gauge(m, "kmon_tls_cert_expiry_timestamp_seconds",
                  "When the certificate being served expires (notAfter), Unix seconds.", expiry);
}
