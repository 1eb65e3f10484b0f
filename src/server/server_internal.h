/*
 * server_internal — the server object, shared by server.c (life cycle, health,
 * /metrics, admin) and the API handlers. Internal to the server.
 */
#ifndef KMON_SERVER_SERVER_INTERNAL_H
#define KMON_SERVER_SERVER_INTERNAL_H

#include "common/self_metrics.h"
#include "server.h"

#include <pthread.h>
#include <stdatomic.h>

#define KM_SERVER_LOG "server"

struct km_http_server;
struct km_http_req;
struct km_ingest;
struct km_storage;

struct km_server {
    struct km_server_opts o;
    struct km_http_server *http;
    struct km_storage *store; /* set once replay is done (then `ready`) */
    struct km_ingest *ingest; /* likewise */
    atomic_bool ready;
    int64_t start_ns; /* wall clock */
    int64_t start_mono_ns;
    pthread_mutex_t self_mu; /* self metrics are read by one request at a time */
    struct km_self_metrics self;
    bool self_ok;
};

/* In a handler: true when the database is open; otherwise answer 503 and return false. */
bool km_server_ready_or_503(struct km_server *s, struct km_http_req *req);

/* The prototype's REST API (api_seed.c): register its routes. */
int km_api_seed_register(struct km_http_server *h, struct km_server *s);

#endif
