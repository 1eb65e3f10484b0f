/*
 * listen — what a listen address means to a user (see listen.h).
 */
#include "listen.h"

#include "err.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* The host part of `listen` into host ("" for ":5000"), and where the port starts. */
static const char *split_host(const char *listen, char *host, size_t size)
{
    const char *colon;

    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');

        if (close) {
            snprintf(host, size, "%.*s", (int)(close - listen - 1), listen + 1);
            return close[1] == ':' ? close + 2 : close + 1;
        }
    }
    colon = strrchr(listen, ':');
    if (!colon) {
        snprintf(host, size, "%s", listen);
        return listen + strlen(listen);
    }
    snprintf(host, size, "%.*s", (int)(colon - listen), listen);
    return colon + 1;
}

static bool addr_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return false;
}

bool km_listen_is_loopback(const char *listen)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL;
    char host[256];
    bool loopback;

    split_host(listen, host, sizeof(host));
    if (host[0] == '\0' || strcmp(host, "*") == 0)
        return false;
    if (getaddrinfo(host, NULL, &hints, &res) != 0)
        return false;
    loopback = res != NULL;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next)
        loopback = loopback && addr_is_loopback(ai->ai_addr);
    freeaddrinfo(res);
    return loopback;
}

bool km_listen_explain_failure(FILE *out, const struct km_cfg_cmd *c, const char *listen,
                               const char *make_target)
{
    char host[256], other[300], env[64];
    const char *port = split_host(listen, host, sizeof(host));
    long p = strtol(port, NULL, 10);
    bool bracket = strchr(host, ':') != NULL;
    int e = km_err_errno();

    if (e != EADDRINUSE && e != EACCES)
        return false;
    km_cfg_env_of(c, "listen", env, sizeof(env));
    /* The same host, the next port (or 5001 when the port is privileged). */
    p = e == EACCES && p < 1024 ? 5001 : p > 0 && p < 65535 ? p + 1 : 5001;
    snprintf(other, sizeof(other), "%s%s%s:%ld", bracket ? "[" : "", host, bracket ? "]" : "", p);
    if (e == EADDRINUSE)
        fprintf(out, "Another program (perhaps another kmon) is listening on %s.", listen);
    else
        fprintf(out, "Ports below 1024 need root (or CAP_NET_BIND_SERVICE).");
    if (make_target)
        fprintf(out, " Pick another address: make %s ARGS='--listen %s', or %s=%s make %s.\n",
                make_target, other, env, other, make_target);
    else
        fprintf(out, " Pick another address with --listen %s, or %s=%s in the environment.\n",
                other, env, other);
    return true;
}
