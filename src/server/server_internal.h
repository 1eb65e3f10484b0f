/*
 * server_internal — the server object, shared by server.c (life cycle, health,
 * /metrics, admin) and the API handlers. Internal to the server.
 */
#ifndef KMON_SERVER_SERVER_INTERNAL_H
#define KMON_SERVER_SERVER_INTERNAL_H

#include "common/cfg.h"
#include "common/http_server.h"
#include "common/self_metrics.h"
#include "logs/logsink.h"
#include "logs/logsource.h"
#include "promql/eval.h"
#include "server.h"

#include <pthread.h>

#define KM_SERVER_LOG "server"

struct km_forward;
struct km_kma;
struct km_ingest;
struct km_logstore;
struct km_logs_api;
struct km_otlp_ingest;
struct km_alert_history;
struct km_mset;
struct km_notifier;
struct km_rules;
struct km_server_cs;
struct km_storage;

/* What the REST API and ingest handlers are given, and nothing more. Filled once the
 * database is open, before the HTTP server is marked ready: their routes are flagged
 * KM_ROUTE_NEEDS_READY and never run before. */
struct km_api_ctx {
    struct km_storage *store; /* the database: queriers come from it */
    struct km_ingest *ingest;
    int64_t stale_ms;                    /* the REST API lists what has data this recent */
    int64_t scrape_ms;                   /* how often senders sample: the REST API's rate windows */
    int64_t retention_ms;                /* no window or step longer than this */
    struct km_pq_opts query;             /* PromQL: lookback, samples limit, timeout */
    int64_t start_ns;                    /* when the server started (runtimeinfo) */
    const struct km_cfg_field *settings; /* the server's settings (flags, config) */
    const void *settings_base;
    struct km_rules *rules; /* set (atomically) once the rules are loaded; may be NULL */
};

struct km_server {
    struct km_server_opts o;
    struct km_http_server *http; /* its readiness says the database is open */
    struct km_api_ctx api;
    int64_t start_ns; /* wall clock */
    int64_t start_mono_ns;
    pthread_mutex_t self_mu; /* self metrics are read by one request at a time */
    struct km_self_metrics self;
    bool self_ok;
    struct km_server_cs *cs;          /* --cluster-state, or NULL */
    struct km_ui *ui;                 /* the dashboard's files */
    struct km_rules *rules;           /* --rules */
    struct km_notifier *notifier;     /* --alertmanager, --alert-webhook, or NULL */
    struct km_alert_history *history; /* DATA/alerts, or NULL */
    struct km_logstore *logs;         /* DATA/logs (--storage tsdb), or NULL */
    struct km_log_sink log_sink;      /* where logs go: that store or ClickHouse */
    struct km_log_source log_src;     /* and where they are read */
    bool logs_on;                     /* log_sink and log_src are set */
    struct km_logs_api *logs_api;     /* the Loki API over it */
    struct km_auth *auth;             /* --tokens, or NULL (open) */
    struct km_forward *forward;       /* --remote-write-url/-config, or NULL */
    struct km_otlp_ingest *otlp;      /* OTLP/HTTP ingest (/v1/metrics, /v1/logs) */
    struct km_http_server *otlp_http; /* --otlp-listen, or NULL */
    struct km_http_server *k8s_http;  /* --k8s-api-listen, or NULL */
    struct km_kma *kma;               /* the Kubernetes metrics APIs' routes' context */
    /* The self-scrape (self_scrape.c). */
    pthread_t scrape_thread;
    pthread_mutex_t scrape_mu;
    pthread_cond_t scrape_wake;
    bool scrape_init, scrape_started, scrape_stop;
};

/* Everything /metrics shows (server.c). */
void km_server_collect_metrics(struct km_server *s, struct km_mset *m);

/* The server's own metrics stored every --self-scrape-interval (self_scrape.c). */
int km_server_self_scrape_start(struct km_server *s);
void km_server_self_scrape_stop(struct km_server *s);

/* The rules and the notifier (server_rules.c). */
int km_server_rules_start(struct km_server *s);
void km_server_rules_stop(struct km_server *s);
int km_server_rules_reload(struct km_server *s, struct km_buf *errs);
void km_server_rules_metrics(struct km_server *s, struct km_mset *m);
void km_server_on_reload(struct km_http_req *req, void *ud);
void km_server_on_alert_history(struct km_http_req *req, void *ud);
void km_server_on_alertmanagers(struct km_http_req *req, void *ud);

/* The prototype's REST API (api_seed.c): its routes, for a struct km_api_ctx. */
extern const struct km_http_route km_api_seed_routes[];
extern const size_t km_api_seed_nroutes;

#endif
