/*
 * listen — listen addresses as users write them (":5000", "127.0.0.1:5000",
 * "[::1]:5000", "localhost:5000"): whether one is reachable only from this machine, and
 * what to tell a user whose address could not be bound. Binding is the HTTP server's
 * (http_server.c); this only reads the text. Thread-safe.
 */
#ifndef KMON_COMMON_LISTEN_H
#define KMON_COMMON_LISTEN_H

#include "cfg.h"

#include <stdbool.h>
#include <stdio.h>

/* True when every address `listen`'s host stands for is a loopback address (127.0.0.0/8,
 * ::1, ::ffff:127.x); false for all interfaces (":5000", "0.0.0.0", "[::]", "*"), any
 * other address, or a host that does not resolve. May ask the resolver. */
bool km_listen_is_loopback(const char *listen);

/* After binding `listen` failed for command `c`: when the cause (km_err_errno()) was that
 * the address is in use or the port is privileged, write to `out` a sentence telling how
 * to pick another address: --listen and the command's variable (KMON_SERVER_LISTEN),
 * or, with `make_target` ("demo"), the make command line that passes them. Returns
 * whether it wrote anything. */
bool km_listen_explain_failure(FILE *out, const struct km_cfg_cmd *c, const char *listen,
                               const char *make_target);

#endif
