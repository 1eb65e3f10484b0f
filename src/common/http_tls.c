/*
 * http_tls — HTTPS for the HTTP server: the certificate, key and client CA files read
 * (capped at KM_LIMIT_TLS_FILE) and checked with GnuTLS when the server is created, so a
 * bad file is an error that names it rather than a daemon that will not start; then
 * handed to libmicrohttpd (MHD_USE_TLS, MHD_OPTION_HTTPS_MEM_KEY/CERT/TRUST).
 *
 * Client certificates: libmicrohttpd 0.9.75 with a trust list only *requests* one and
 * verifies nothing. On each new connection (before its handshake) we make GnuTLS
 * require a certificate and verify it against the CA during the handshake, so a client
 * without a valid one never gets to send a request.
 *
 * The PEM texts are owned by the server (libmicrohttpd reads them at start). Reloading
 * changed files is for later.
 */
#include "err.h"
#include "http_internal.h"
#include "limits.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Load what was read into a throw-away GnuTLS credential: the errors libmicrohttpd
 * would only log, with the files' names. */
static int check_material(const struct km_http_server *s, const struct km_http_opts *o)
{
    gnutls_certificate_credentials_t cred;
    gnutls_datum_t cert = datum(s->tls_cert), key = datum(s->tls_key);
    int g, rc = 0;

    if (gnutls_certificate_allocate_credentials(&cred) != GNUTLS_E_SUCCESS)
        return km_err_set(KM_ENOMEM, "out of memory");
    g = gnutls_certificate_set_x509_key_mem2(cred, &cert, &key, GNUTLS_X509_FMT_PEM, NULL, 0);
    if (g < 0)
        rc = km_err_set(KM_EINVAL, "the TLS certificate %s and key %s cannot be used: %s",
                        o->tls_cert_file, o->tls_key_file, gnutls_strerror(g));
    if (rc == 0 && s->tls_ca) {
        gnutls_datum_t ca = datum(s->tls_ca);

        g = gnutls_certificate_set_x509_trust_mem(cred, &ca, GNUTLS_X509_FMT_PEM);
        if (g <= 0)
            rc = km_err_set(KM_EINVAL, "no usable CA certificate in the client CA file %s%s%s",
                            o->tls_client_ca_file, g < 0 ? ": " : "",
                            g < 0 ? gnutls_strerror(g) : "");
    }
    gnutls_certificate_free_credentials(cred);
    return rc;
}

int km_http_tls_load(struct km_http_server *s, const struct km_http_opts *o)
{
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
    rc = read_pem(o->tls_cert_file, "certificate", &s->tls_cert);
    if (rc == 0)
        rc = read_pem(o->tls_key_file, "key", &s->tls_key);
    if (rc == 0 && o->tls_client_ca_file)
        rc = read_pem(o->tls_client_ca_file, "client CA", &s->tls_ca);
    if (rc == 0)
        rc = check_material(s, o);
    if (rc)
        km_http_tls_free(s);
    return rc;
}

void km_http_tls_free(struct km_http_server *s)
{
    if (s->tls_key)
        memset(s->tls_key, 0, strlen(s->tls_key)); /* a private key does not linger */
    free(s->tls_cert);
    free(s->tls_key);
    free(s->tls_ca);
    s->tls_cert = s->tls_key = s->tls_ca = NULL;
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
    if (s->tls_ca)
        items[(*n)++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_TRUST, 0, s->tls_ca };
}

bool km_http_tls_on_connection(struct km_http_server *s, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci;
    gnutls_session_t session;

    if (!s->tls_ca)
        return true;
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session)
        return false;
    session = (gnutls_session_t)ci->tls_session;
    gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE);
    gnutls_session_set_verify_cert(session, NULL, 0);
    return true;
}
