/*
 * server — the kmon server as one object: its HTTP server (ingest, the prototype's REST
 * API, health, /metrics) over the embedded database. `kmon server` runs one; `kmon
 * demo` runs one beside an agent in the same process.
 *
 * The HTTP server starts first and answers /healthz at once; everything that needs the
 * database answers 503 ("starting") until the WAL has been replayed, which /readyz
 * reports. Threads: the HTTP server's polling threads (which answer the health probes
 * themselves) and its handler workers; start/stop from one controlling thread.
 */
#ifndef KMON_SERVER_SERVER_H
#define KMON_SERVER_SERVER_H

#include "common/cfg.h"
#include "kstate/settings.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct km_server_opts {
    char *listen;
    char *tls_cert; /* HTTPS: PEM certificate (chain) and key (NULL: plain HTTP) */
    char *tls_key;
    char *tls_client_ca; /* mutual TLS: clients need a certificate this CA signed */
    char *data_dir;
    int64_t retention_ms;
    uint64_t retention_bytes;
    int64_t block_range_ms;
    int64_t ooo_window_ms;
    int64_t max_future_ms;
    int64_t fsync_interval_ms;
    uint64_t cache_bytes;
    uint64_t max_request_bytes;
    uint64_t max_decoded_bytes;
    int64_t max_series;
    int64_t max_samples_per_s;
    int64_t max_series_per_cluster;
    int64_t max_samples_per_s_per_cluster;
    uint64_t max_log_bytes_per_s_per_cluster;
    uint64_t max_label_value_bytes;
    uint64_t series_cache_bytes;
    int64_t http_threads;
    int64_t http_request_timeout_ms;
    int64_t http_header_timeout_ms;
    int64_t http_max_conns;
    int64_t http_max_conns_per_ip;
    int64_t stale_ms;
    int64_t scrape_ms;
    int64_t query_lookback_ms;
    int64_t query_max_samples;
    int64_t query_timeout_ms;
    bool admin_api;
    char *tokens;         /* --tokens FILE: bearer tokens and their scopes (NULL: open) */
    char *ui_dir;         /* serve the dashboard from here (development), not the embedded copy */
    char *rules;          /* rule file globs, comma-separated */
    char *alertmanagers;  /* Alertmanager URLs, comma-separated */
    char *alert_webhooks; /* webhook URLs, comma-separated */
    char *remote_write_urls;         /* forwarding destinations, comma-separated */
    char *remote_write_config;       /* more, in Prometheus' remote_write YAML */
    uint64_t remote_write_spool_max; /* bytes per destination */
    char *external_url;              /* how users reach this server (generatorURL, templates) */
    int64_t rules_interval_ms;
    bool default_rules;                 /* load the default rule pack */
    char *disabled_rules;               /* default rules not to load, comma-separated */
    int64_t alert_history_retention_ms; /* 0: no history */
    int64_t self_scrape_ms;             /* 0: the server does not store its own metrics */
    /* The cluster-state collector (--cluster-state); cs is filled by the "Cluster
     * state" section (kstate/settings.h). */
    bool cluster_state;
    char *cluster;
    int64_t cluster_state_interval_ms;
    struct km_kstate_settings cs;
    /* The log store (DATA/logs) and the Loki API. */
    int64_t logs_retention_ms; /* 0: retention_ms */
    uint64_t logs_retention_bytes;
    uint64_t logs_max_line_bytes;
    int64_t logs_max_streams;
    int64_t logs_ooo_window_ms;
    char *otlp_listen;    /* a second listener for OTLP/HTTP only, or NULL/"": none */
    char *k8s_api_listen; /* a listener for the Kubernetes metrics API only, or NULL/"" */
    char *k8s_api_tls_cert, *k8s_api_tls_key; /* its own pair (NULL: the main one) */
    char *k8s_metrics_config;                 /* custom and external metrics (YAML), or NULL */
    char *k8s_api_client_ca; /* on it: clients (the aggregation layer) need a certificate
                              * this CA signed, and then no token */
    /* The store (--storage): the embedded TSDB, or ClickHouse (src/chstore). */
    int storage;            /* KM_SERVER_STORAGE_* */
    char *ch_urls;          /* one per shard, comma-separated */
    char *ch_cluster;       /* remote_servers name (required with more than one URL) */
    char *ch_database;      /* default "kmon" */
    char *ch_user;          /* NULL: "default" */
    char *ch_password_file; /* NULL: no password */
    char *ch_ca_file, *ch_cert_file, *ch_key_file;
    uint64_t ch_spool_max; /* bytes of the local spool before appends are refused */
    int ch_rollups;        /* KM_SERVER_ROLLUPS_* */
};

enum { KM_SERVER_STORAGE_TSDB = 0, KM_SERVER_STORAGE_CLICKHOUSE = 1 };
enum { KM_SERVER_ROLLUPS_AUTO = 0, KM_SERVER_ROLLUPS_OFF = 1 };

/* A sentence saying what is wrong with the store's settings (--storage and the
 * --clickhouse-* flags), or NULL when they are usable: a usage error (exit 2). */
const char *km_server_storage_usage_error(const struct km_server_opts *o);

/* The settings of `kmon server` (and of the server inside `kmon demo`), pointing into
 * struct km_server_opts. */
extern const struct km_cfg_field km_server_fields[];

struct km_server;

/* Bind the listening socket, start serving, open (replay) the database. On success *out
 * is running; stop it with km_server_destroy(). */
int km_server_start(struct km_server **out, const struct km_server_opts *o);

/* Reload the rule files (SIGHUP): 0, or an error with every file's errors in errs (the old
 * rules stay). */
struct km_buf;
int km_server_reload(struct km_server *s, struct km_buf *errs);

/* The port bound (useful with port 0). */
uint16_t km_server_port(const struct km_server *s);

/* Stop serving (requests in flight finish, up to grace_ms), close the database (its WAL
 * fsynced) and free everything. Accepts NULL. */
void km_server_destroy(struct km_server *s, int64_t grace_ms);

#endif
