/*
 * httpc_rss — what an HTTP(S) client stack costs a process in memory, for the agent's
 * RSS target (bench/README.md, "What the agent's HTTP client costs"). The same small
 * job, 20 GETs on one kept-alive connection to a local HTTPS (or HTTP) server, done with
 * one of several client stacks chosen at build time; then the process prints its own
 * VmHWM, VmRSS, RssAnon and RssFile as one JSON line.
 *
 *   -DUSE_CURL     libcurl (whichever libcurl the link names: -gnutls or OpenSSL)
 *   -DUSE_GNUTLS   GnuTLS directly: a hand-written HTTP/1.1 exchange over its session
 *   -DUSE_MBEDTLS  Mbed TLS 2.28 (Debian's libmbedtls-dev) the same way
 *   (neither)      plain HTTP over a socket: the process floor (libc only)
 *
 *   httpc_rss HOST PORT [CA_FILE]      (a CA file: TLS; none: plain HTTP)
 *
 * Built and run by bench/httpc-rss/run.sh; not part of kmon.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#if defined(USE_CURL)
#include <curl/curl.h>
#elif defined(USE_GNUTLS)
#include <gnutls/gnutls.h>
#elif defined(USE_MBEDTLS)
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#endif

#define REQUESTS 20

static long status_kb(const char *field)
{
    char line[256];
    size_t n = strlen(field);
    long v = -1;
    FILE *f = fopen("/proc/self/status", "r");

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            v = strtol(line + n + 1, NULL, 10);
    }
    fclose(f);
    return v;
}

static int dial(const char *host, int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        perror("connect");
        exit(1);
    }
    return fd;
}

/* Read one response whose body has a Content-Length; returns the body bytes. */
typedef long (*recv_fn)(void *ctx, char *buf, size_t cap);

static long read_response(recv_fn rd, void *ctx)
{
    static char buf[1 << 16];
    size_t len = 0;
    long body = -1;

    for (;;) {
        char *end;
        long n = rd(ctx, buf + len, sizeof(buf) - 1 - len);

        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (end) {
            char *cl = strstr(buf, "Content-Length:");
            size_t have = len - (size_t)(end + 4 - buf);

            body = cl ? strtol(cl + 15, NULL, 10) : 0;
            while ((long)have < body) {
                n = rd(ctx, buf, sizeof(buf));
                if (n <= 0)
                    return -1;
                have += (size_t)n;
            }
            return body;
        }
        if (len == sizeof(buf) - 1)
            return -1;
    }
}

static const char request[] = "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n";

#if defined(USE_CURL)
static size_t sink(char *p, size_t sz, size_t n, void *ud)
{
    (void)p;
    *(size_t *)ud += sz * n;
    return sz * n;
}

static int run(const char *host, int port, const char *ca)
{
    char url[128];
    size_t got = 0;
    CURL *c;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    c = curl_easy_init();
    snprintf(url, sizeof(url), "%s://%s:%d/", ca ? "https" : "http", host, port);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &got);
    if (ca) {
        curl_easy_setopt(c, CURLOPT_CAINFO, ca);
        curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    for (int i = 0; i < REQUESTS; i++) {
        if (curl_easy_perform(c) != CURLE_OK)
            return 1;
    }
    curl_easy_cleanup(c);
    return got ? 0 : 1;
}
#elif defined(USE_GNUTLS)
static long tls_recv(void *ctx, char *buf, size_t cap)
{
    ssize_t n;

    /* TLS 1.3 session tickets arrive after the handshake: E_AGAIN, then the data. */
    do {
        n = gnutls_record_recv(ctx, buf, cap);
    } while (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED);
    return (long)n;
}

static int run(const char *host, int port, const char *ca)
{
    gnutls_certificate_credentials_t cred;
    gnutls_session_t s;
    int fd, rc;

    if (!ca)
        return 2;
    gnutls_global_init();
    gnutls_certificate_allocate_credentials(&cred);
    if (gnutls_certificate_set_x509_trust_file(cred, ca, GNUTLS_X509_FMT_PEM) <= 0)
        return 1;
    gnutls_init(&s, GNUTLS_CLIENT);
    gnutls_set_default_priority(s);
    gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
    gnutls_session_set_verify_cert(s, NULL, 0);
    fd = dial(host, port);
    gnutls_transport_set_int(s, fd);
    do {
        rc = gnutls_handshake(s);
    } while (rc < 0 && !gnutls_error_is_fatal(rc));
    if (rc < 0) {
        fprintf(stderr, "handshake: %s\n", gnutls_strerror(rc));
        return 1;
    }
    for (int i = 0; i < REQUESTS; i++) {
        if (gnutls_record_send(s, request, sizeof(request) - 1) < 0 ||
            read_response(tls_recv, s) < 0)
            return 1;
    }
    gnutls_bye(s, GNUTLS_SHUT_WR);
    close(fd);
    gnutls_deinit(s);
    gnutls_certificate_free_credentials(cred);
    return 0;
}
#elif defined(USE_MBEDTLS)
static long mbed_recv(void *ctx, char *buf, size_t cap)
{
    int n;

    do {
        n = mbedtls_ssl_read(ctx, (unsigned char *)buf, cap);
    } while (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE);
    return n;
}

static int run(const char *host, int port, const char *ca)
{
    mbedtls_net_context net;
    mbedtls_ssl_context ssl;
    mbedtls_ssl_config conf;
    mbedtls_x509_crt cacert;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_entropy_context ent;
    char portstr[16];
    int rc;

    if (!ca)
        return 2;
    snprintf(portstr, sizeof(portstr), "%d", port);
    mbedtls_net_init(&net);
    mbedtls_ssl_init(&ssl);
    mbedtls_ssl_config_init(&conf);
    mbedtls_x509_crt_init(&cacert);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_entropy_init(&ent);
    if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &ent, NULL, 0) != 0 ||
        mbedtls_x509_crt_parse_file(&cacert, ca) != 0 ||
        mbedtls_net_connect(&net, host, portstr, MBEDTLS_NET_PROTO_TCP) != 0 ||
        mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT) != 0)
        return 1;
    mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&conf, &cacert, NULL);
    mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
    if (mbedtls_ssl_setup(&ssl, &conf) != 0 || mbedtls_ssl_set_hostname(&ssl, "localhost") != 0)
        return 1;
    mbedtls_ssl_set_bio(&ssl, &net, mbedtls_net_send, mbedtls_net_recv, NULL);
    while ((rc = mbedtls_ssl_handshake(&ssl)) != 0) {
        if (rc != MBEDTLS_ERR_SSL_WANT_READ && rc != MBEDTLS_ERR_SSL_WANT_WRITE) {
            fprintf(stderr, "handshake: -0x%04x\n", (unsigned)-rc);
            return 1;
        }
    }
    for (int i = 0; i < REQUESTS; i++) {
        if (mbedtls_ssl_write(&ssl, (const unsigned char *)request, sizeof(request) - 1) < 0 ||
            read_response(mbed_recv, &ssl) < 0)
            return 1;
    }
    mbedtls_ssl_close_notify(&ssl);
    mbedtls_net_free(&net);
    mbedtls_ssl_free(&ssl);
    mbedtls_ssl_config_free(&conf);
    mbedtls_x509_crt_free(&cacert);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&ent);
    return 0;
}
#else
static long sock_recv(void *ctx, char *buf, size_t cap)
{
    return (long)recv(*(int *)ctx, buf, cap, 0);
}

static int run(const char *host, int port, const char *ca)
{
    int fd;

    if (ca)
        return 2;
    fd = dial(host, port);
    for (int i = 0; i < REQUESTS; i++) {
        if (send(fd, request, sizeof(request) - 1, 0) < 0 || read_response(sock_recv, &fd) < 0)
            return 1;
    }
    close(fd);
    return 0;
}
#endif

int main(int argc, char **argv)
{
    int rc;

    if (argc < 3) {
        fprintf(stderr, "usage: httpc_rss HOST PORT [CA_FILE]\n");
        return 2;
    }
    rc = run(argv[1], atoi(argv[2]), argc > 3 ? argv[3] : NULL);
    if (rc) {
        fprintf(stderr, "httpc_rss: the requests failed\n");
        return rc;
    }
    printf("{\"hwm_kb\":%ld,\"rss_kb\":%ld,\"rss_anon_kb\":%ld,\"rss_file_kb\":%ld}\n",
           status_kb("VmHWM"), status_kb("VmRSS"), status_kb("RssAnon"), status_kb("RssFile"));
    return 0;
}
