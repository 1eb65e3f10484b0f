/*
 * server — the server's life cycle and its own endpoints (see server.h): health (GET /,
 * /healthz, /readyz), /metrics about itself, the admin flush, and the route tables of
 * ingest and the REST API. Routes that need the database are flagged
 * KM_ROUTE_NEEDS_READY: the HTTP server answers them 503 until the database is open,
 * the rule files are loaded and km_http_server_set_ready() is called, so no handler
 * checks it.
 */
#include "server_internal.h"

#include "api_prom.h"
#include "auth/auth.h"
#include "chstore/chstore.h"
#include "cluster_state.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/http_server.h"
#include "common/jsonw.h"
#include "common/listen.h"
#include "common/log.h"
#include "common/mset.h"
#include "common/timefmt.h"
#include "ingest.h"
#include "ingest_otlp.h"
#include "kmetrics/kma.h"
#include "kstate/settings.h"
#include "logs/logcheck.h"
#include "logs/logstore.h"
#include "logs_api.h"
#include "mcp/mcp.h"
#include "server/forward/forward.h"
#include "storage/storage.h"
#include "tsdb/tsdb_storage.h"
#include "ui/ui.h"
#include "version.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

static const char *const storage_choices[] = { "tsdb", "clickhouse", NULL };
static const char *const rollups_choices[] = { "auto", "off", NULL };

const struct km_cfg_field km_server_fields[] = {
    { .name = "listen",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_server_opts, listen),
      .def = ":5000",
      .metavar = "ADDR:PORT",
      .help = "where to serve the API, remote_write and /metrics (without --tokens anyone who "
              "reaches it can write and read: keep it on loopback or behind a proxy then)",
      .per_command = true },
    { .name = "tls-cert",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_server_opts, tls_cert),
      .metavar = "FILE",
      .help = "serve HTTPS (TLS 1.2 and 1.3) with this PEM certificate (the chain may "
              "follow it) and --tls-key; both files are re-read when they change (checked "
              "every 2 s), no restart needed" },
    { .name = "tls-key",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_server_opts, tls_key),
      .metavar = "FILE",
      .help = "the PEM private key of --tls-cert" },
    { .name = "tls-client-ca",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_server_opts, tls_client_ca),
      .metavar = "FILE",
      .help = "with TLS, require every client to present a valid (unexpired) certificate "
              "signed by a CA in this PEM file (mutual TLS); re-read when it changes" },
    { .name = "data",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_server_opts, data_dir),
      .def = "./data",
      .metavar = "DIR",
      .help = "the database directory (created if missing)" },
    { .name = "storage",
      .type = KM_CFG_ENUM,
      .offset = offsetof(struct km_server_opts, storage),
      .def = "tsdb",
      .help = "where samples are stored: tsdb (the embedded database in --data) or "
              "clickhouse (a ClickHouse server or cluster, --clickhouse-url; --data then "
              "holds the spool of what ClickHouse has not acknowledged yet)",
      .choices = storage_choices },
    { .name = "clickhouse-url",
      .type = KM_CFG_LIST,
      .offset = offsetof(struct km_server_opts, ch_urls),
      .metavar = "URL[,URL…]",
      .help = "with --storage clickhouse: the HTTP interface of each shard "
              "(http(s)://host:8123), in the order of the shards of --clickhouse-cluster" },
    { .name = "clickhouse-cluster",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_server_opts, ch_cluster),
      .metavar = "NAME",
      .help = "the remote_servers cluster of the ClickHouse nodes (required with more than "
              "one --clickhouse-url): kmon creates local tables and Distributed ones over them" },
    { .name = "clickhouse-database",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_server_opts, ch_database),
      .def = "kmon",
      .metavar = "NAME",
      .help = "the ClickHouse database kmon creates and uses" },
    { .name = "clickhouse-user",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_server_opts, ch_user),
      .metavar = "NAME",
      .help = "the ClickHouse user (default: default)" },
    { .name = "clickhouse-password-file",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_server_opts, ch_password_file),
      .metavar = "FILE",
      .help = "the ClickHouse user's password, one line (re-read when the file changes)" },
    { .name = "clickhouse-ca-file",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_server_opts, ch_ca_file),
      .metavar = "FILE",
      .help = "verify https:// ClickHouse nodes against the CA certificate(s) in this PEM file "
              "(default: the system's trusted CAs)" },
    { .name = "clickhouse-cert-file",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_server_opts, ch_cert_file),
      .metavar = "FILE",
      .help = "present this PEM client certificate to ClickHouse (mutual TLS; with "
              "--clickhouse-key-file)" },
    { .name = "clickhouse-key-file",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_server_opts, ch_key_file),
      .metavar = "FILE",
      .help = "the PEM private key of --clickhouse-cert-file (default: in that file)" },
    { .name = "clickhouse-spool-max",
      .type = KM_CFG_SIZE,
      .offset = offsetof(struct km_server_opts, ch_spool_max),
      .def = "1GiB",
      .help = "disk the local spool may fill while ClickHouse is behind or down; past it "
              "writes are refused (503) until ClickHouse catches up" },
    { .name = "clickhouse-rollups",
      .type = KM_CFG_ENUM,
      .offset = offsetof(struct km_server_opts, ch_rollups),
      .def = "auto",
      .help = "auto: range queries with a step of 5m or more read ClickHouse's 5-minute and "
              "1-hour rollups where they give the same answer; off: always the raw samples",
      .choices = rollups_choices },
    { .name = "retention",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct km_server_opts, retention_ms),
      .def = "15d",
      .help = "delete data older than this",
      .min = 3600000,
      .max = 100ll * 365 * 86400000 },
    { .name = "retention-size",
      .type = KM_CFG_SIZE,
      .offset = offsetof(struct km_server_opts, retention_bytes),
      .def = "0",
      .help = "also delete the oldest blocks while the database is larger than this (0: no "
              "cap)" },
    { .name = "block-range",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct km_server_opts, block_range_ms),
      .def = "2h",
      .help = "span of data cut from memory into each on-disk block",
      .min = 60000,
      .max = 86400000 },
    { .name = "out-of-order-window",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct km_server_opts, ooo_window_ms),
      .def = "1h",
      .help = "samples this much older than their series' newest are still accepted (judged "
              "per series; older data of a series never seen that far back is kept too)",
      .min = 0,
      .max = 86400000 },
    { .name = "max-future",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct km_server_opts, max_future_ms),
      .def = "10m",
      .help = "samples further ahead of the server's clock are refused (400), on every "
              "ingest path: a wrong clock or a unit mix-up cannot reach the store",
      .min = 0,
      .max = 366ll * 86400000 },
    { .name = "wal-fsync-interval",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct km_server_opts, fsync_interval_ms),
      .def = "1s",
      .help = "how often the write-ahead log is fsynced (0: on every write; a sample is "
              "safe from a crash of the process as soon as it is acknowledged)",
      .min = 0,
      .max = 600000 },
    { .name = "tsdb-cache-size",
      .type = KM_CFG_SIZE,
      .offset = offsetof(struct km_server_opts, cache_bytes),
      .def = "64MiB",
      .help = "memory for blocks' pages and chunks kept decompressed for the queries that come "
              "next (a refreshed panel asks the same again; 0: none)" },
    { .name = "max-request-bytes",
      .type = KM_CFG_SIZE,
      .offset = offsetof(struct km_server_opts, max_request_bytes),
      .def = "32MiB",
      .help = "larger request bodies are refused (413)" },
    { .name = "max-decoded-bytes",
      .type = KM_CFG_SIZE,
      .offset = offsetof(struct km_server_opts, max_decoded_bytes),
      .def = "256MiB",
      .help = "a remote_write body may not expand past this (413)" },
    { .name = "max-series",
      .type = KM_CFG_INT,
      .offset = offsetof(struct km_server_opts, max_series),
      .def = "0",
      .help = "refuse new series (429) once the database's head holds this many (0: no cap)",
      .min = 0,
      .max = INT64_MAX },
    { .name = "max-samples-per-second",
      .type = KM_CFG_INT,
      .offset = offsetof(struct km_server_opts, max_samples_per_s),
      .def = "0",
      .help = "ingest rate above which requests are answered 429 with Retry-After (0: no "
              "cap)",
      .min = 0,
      .max = INT64_MAX },
    { .name = "max-series-per-cluster",
      .type = KM_CFG_INT,
      .offset = offsetof(struct km_server_opts, max_series_per_cluster),
      .def = "0",
      .help = "refuse new series of a cluster (429) once the head holds this many with its "
              "label cluster (the write token's cluster, else the series' label; none counts "
              "as one cluster; 0: no cap)",
      .min = 0,
      .max = INT64_MAX },
    { .name = "max-samples-per-second-per-cluster",
      .type = KM_CFG_INT,
      .offset = offsetof(struct km_server_opts, max_samples_per_s_per_cluster),
      .def = "0",
      .help = "each cluster's ingest rate above which its requests are answered 429 with "
              "Retry-After, the other clusters unaffected (a burst of one second's worth; 0: no "
              "cap)",
      .min = 0,
      .max = INT64_MAX },
    { .name = "max-log-bytes-per-second-per-cluster",
      .type = KM_CFG_SIZE,
      .offset = offsetof(struct km_server_opts, max_log_bytes_per_s_per_cluster),
      .def = "0",
      .help = "each cluster's Loki push rate in log line bytes above which its pushes are "
              "answered 429 with Retry-After (a burst of one second's worth; 0: no cap)" },
    { .name = "max-label-value-bytes",
      .type = KM_CFG_SIZE,
      .offset = offsetof(struct km_server_opts, max_label_value_bytes),
      .def = "16KiB",
      .help = "longer label values are refused (400)" },
    { .name = "series-cache-size",
      .type = KM_CFG_SIZE,
      .offset = offsetof(struct km_server_opts, series_cache_bytes),
      .def = "1GiB",
      .help = "at most this much memory for recognising remote_write and OTLP series by a "
              "fingerprint of their label bytes (32 bytes a series, grown as series come and "
              "rid of those unseen for 15 minutes)" },
    { .name = "http-threads",
      .type = KM_CFG_INT,
      .offset = offsetof(struct km_server_opts, http_threads),
      .def = "0",
      .help = "threads running request handlers (0: one per CPU); the threads that read "
              "and write connections and answer /healthz and /readyz are apart",
      .min = 0,
      .max = 256 },
    { .name = "http-request-timeout",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct km_server_opts, http_request_timeout_ms),
      .def = "30s",
      .help = "a connection that takes longer to send one request (headers and body) is "
              "closed; idle connections are closed after 30 s",
      .min = 1000,
      .max = 3600000 },
    { .name = "http-header-timeout",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct km_server_opts, http_header_timeout_ms),
      .def = "10s",
      .help = "a new connection that has not sent its request headers by then is closed",
      .min = 1000,
      .max = 3600000 },
    { .name = "http-max-connections",
      .type = KM_CFG_INT,
      .offset = offsetof(struct km_server_opts, http_max_conns),
      .def = "4096",
      .help = "connections served at once (the open-files limit is raised to fit)",
      .min = 16,
      .max = 1000000 },
    { .name = "http-max-connections-per-ip",
      .type = KM_CFG_INT,
      .offset = offsetof(struct km_server_opts, http_max_conns_per_ip),
      .def = "256",
      .help = "connections from one client address at once, so that no client takes the "
              "capacity probes and others need; raise it behind a proxy or NAT that "
              "sends many clients from one address (0: no limit)",
      .min = 0,
      .max = 1000000 },
    { .name = "stale-after",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct km_server_opts, stale_ms),
      .def = "5m",
      .help = "the API lists a node or pod until its newest sample is this old",
      .min = 1000,
      .max = 86400000 },
    { .name = "scrape-interval",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct km_server_opts, scrape_ms),
      .def = "5s",
      .help = "how often senders sample (kmon agents' --interval, Prometheus' "
              "scrape_interval): the REST API's rate window is max(4 × this, 1m, step + "
              "this), its I/O bytes are per this interval and its default time-series step "
              "is no shorter",
      .min = 1000,
      .max = 3600000 },
    { .name = "query-lookback-delta",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct km_server_opts, query_lookback_ms),
      .def = "5m",
      .help = "how far back PromQL looks for a series' newest sample (Prometheus' "
              "--query.lookback-delta)",
      .min = 1000,
      .max = 86400000 },
    { .name = "query-max-samples",
      .type = KM_CFG_INT,
      .offset = offsetof(struct km_server_opts, query_max_samples),
      .def = "50000000",
      .help = "samples a query may hold in memory at once; past it the query fails (422), as "
              "Prometheus' --query.max-samples",
      .min = 1,
      .max = INT64_MAX },
    { .name = "query-timeout",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct km_server_opts, query_timeout_ms),
      .def = "2m",
      .help = "the longest a query may run (503); a query's timeout argument may only shorten it",
      .min = 1000,
      .max = 86400000 },
    { .name = "enable-admin-api",
      .type = KM_CFG_BOOL,
      .offset = offsetof(struct km_server_opts, admin_api),
      .def = "false",
      .help = "serve the admin API: POST /api/v1/admin/flush (cut the memory into a block "
              "now) and POST /api/v1/admin/tsdb/snapshot (a copy in DATA/snapshots)" },
    { .name = "tokens",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_server_opts, tokens),
      .metavar = "FILE",
      .help = "bearer tokens (YAML: tokens: [{name, sha256, scope: write|read|admin, cluster}]; "
              "docs/security.md; kmon token new makes one): every API, ingest and /metrics "
              "request then needs one of them; re-read when the file changes (default: none, "
              "everything is open)" },
    { .name = "ui-dir",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_server_opts, ui_dir),
      .metavar = "DIR",
      .help = "serve the dashboard (/ui/) from this directory (web/src of a source tree) "
              "instead of the copy built into the binary: for working on the dashboard" },
    { .name = "rules",
      .type = KM_CFG_LIST,
      .offset = offsetof(struct km_server_opts, rules),
      .metavar = "GLOB,...",
      .help = "Prometheus rule files to evaluate (recording and alerting rules; globs such as "
              "'/etc/kmon/rules/*.yaml'), reloaded on SIGHUP and POST /-/reload" },
    { .name = "rules-evaluation-interval",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct km_server_opts, rules_interval_ms),
      .def = "1m",
      .help = "how often a rule group without its own interval is evaluated",
      .min = 1000,
      .max = 86400000 },
    { .name = "default-rules",
      .type = KM_CFG_BOOL,
      .offset = offsetof(struct km_server_opts, default_rules),
      .def = "true",
      .help = "evaluate kmon's default rule pack (Kubernetes, node and kmon alerts; "
              "docs/rules.md); a rule of the same name in a --rules file replaces a default one" },
    { .name = "disable-rules",
      .type = KM_CFG_LIST,
      .offset = offsetof(struct km_server_opts, disabled_rules),
      .metavar = "NAME,...",
      .help = "default rules (alert or record names) not to evaluate" },
    { .name = "self-scrape-interval",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct km_server_opts, self_scrape_ms),
      .def = "15s",
      .help = "how often the server stores its own /metrics (job=\"kmon\"; kmon's own alerts "
              "read them); 0 stores none",
      .min = 0,
      .max = 3600000 },
    { .name = "alert-history-retention",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct km_server_opts, alert_history_retention_ms),
      .def = "90d",
      .help = "how long every alert's transitions are kept (DATA/alerts; GET "
              "/api/alerts/history); 0 keeps none",
      .min = 0,
      .max = 3650LL * 86400000 },
    { .name = "alertmanager",
      .type = KM_CFG_LIST,
      .offset = offsetof(struct km_server_opts, alertmanagers),
      .metavar = "URL,...",
      .help = "Alertmanagers to send alerts to (http://am:9093; API v2)" },
    { .name = "alert-webhook",
      .type = KM_CFG_LIST,
      .offset = offsetof(struct km_server_opts, alert_webhooks),
      .metavar = "URL,...",
      .help = "URLs to POST alerts to as JSON ({\"version\":\"1\",\"status\",\"alerts\"})" },
    { .name = "remote-write-url",
      .type = KM_CFG_LIST,
      .offset = offsetof(struct km_server_opts, remote_write_urls),
      .metavar = "URL,...",
      .help = "forward every sample ingested to these Prometheus remote_write endpoints "
              "(another kmon's /api/v1/write, Prometheus, Mimir, VictoriaMetrics), each with "
              "its own queue, spool under DATA/forward and retries; repeat the flag for more "
              "(docs/forwarding.md)" },
    { .name = "remote-write-config",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_server_opts, remote_write_config),
      .metavar = "FILE",
      .help = "more forwarding destinations, in Prometheus' remote_write YAML (url, name, "
              "write_relabel_configs, bearer_token_file, tls_config, queue_config)" },
    { .name = "remote-write-spool-max",
      .type = KM_CFG_SIZE,
      .offset = offsetof(struct km_server_opts, remote_write_spool_max),
      .def = "1GiB",
      .help = "disk each forwarding destination may fill while it cannot be reached; past "
              "it the oldest samples are dropped (counted)" },
    { .name = "external-url",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_server_opts, external_url),
      .metavar = "URL",
      .help = "how users reach this server: alerts' generatorURL and $externalURL in "
              "templates (default: none)" },
    { .name = "cluster-state",
      .type = KM_CFG_BOOL,
      .offset = offsetof(struct km_server_opts, cluster_state),
      .def = "false",
      .help = "watch the Kubernetes API and store kube-state-metrics series (kube_pod_info, "
              "kube_deployment_status_replicas_available, …; docs/cluster-state.md)" },
    { .name = "cluster",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_server_opts, cluster),
      .metavar = "NAME",
      .help = "the cluster label on every cluster-state series (default: none)" },
    { .name = "cluster-state-interval",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct km_server_opts, cluster_state_interval_ms),
      .def = "30s",
      .help = "how often the cluster state is stored (first as soon as every kind is listed)",
      .min = 100,
      .max = 3600000 },
    { .name = "logs-retention",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct km_server_opts, logs_retention_ms),
      .def = "0",
      .help = "delete log lines older than this (0: the same as --retention)",
      .min = 0,
      .max = 100ll * 365 * 86400000 },
    { .name = "logs-retention-size",
      .type = KM_CFG_SIZE,
      .offset = offsetof(struct km_server_opts, logs_retention_bytes),
      .def = "0",
      .help = "also delete the oldest log chunks while the log store (DATA/logs) is larger "
              "than this (0: no cap)" },
    { .name = "logs-max-line-size",
      .type = KM_CFG_SIZE,
      .offset = offsetof(struct km_server_opts, logs_max_line_bytes),
      .def = "256KiB",
      .help = "longer log lines are refused (400, counted per reason)" },
    { .name = "logs-max-streams",
      .type = KM_CFG_INT,
      .offset = offsetof(struct km_server_opts, logs_max_streams),
      .def = "1000000",
      .help = "new log streams (label sets) past this many are refused (400)",
      .min = 1,
      .max = INT64_MAX },
    { .name = "logs-ooo-window",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct km_server_opts, logs_ooo_window_ms),
      .def = "1h",
      .help = "log lines this much older than their stream's newest are still accepted "
              "(--max-future applies to log lines too)",
      .min = 0,
      .max = 7ll * 86400000 },
    { .name = "otlp-listen",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_server_opts, otlp_listen),
      .metavar = "ADDR:PORT",
      .help = "also serve OpenTelemetry OTLP/HTTP ingest (POST /v1/metrics, /v1/logs; the "
              "usual port is 4318) on this address, with the main listener's TLS and "
              "tokens; the main listener serves them too (default: no second listener)" },
    { .name = "k8s-api-listen",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_server_opts, k8s_api_listen),
      .metavar = "ADDR:PORT",
      .help = "also serve the Kubernetes metrics API (metrics.k8s.io, what `kubectl top` "
              "and the HPA read; docs/k8s-metrics.md) on this address, with the main "
              "listener's TLS certificate; the main listener serves it too (default: no "
              "second listener)" },
    { .name = "k8s-api-tls-cert",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_server_opts, k8s_api_tls_cert),
      .metavar = "FILE",
      .help = "the PEM certificate (chain) --k8s-api-listen serves, reloaded when it changes "
              "(default: --tls-cert)" },
    { .name = "k8s-api-tls-key",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_server_opts, k8s_api_tls_key),
      .metavar = "FILE",
      .help = "its PEM private key (default: --tls-key)" },
    { .name = "k8s-metrics-config",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_server_opts, k8s_metrics_config),
      .metavar = "FILE",
      .help = "serve custom.metrics.k8s.io and external.metrics.k8s.io (what an HPA scales "
              "on) from the PromQL rules in this YAML file (docs/k8s-metrics.md)" },
    { .name = "k8s-api-client-ca",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_server_opts, k8s_api_client_ca),
      .metavar = "FILE",
      .help = "on --k8s-api-listen, require a client certificate signed by this CA (the "
              "cluster's requestheader-client-ca, which the API server's aggregation "
              "layer presents) instead of a token" },
    KM_CFG_FIELDS_END,
};

/* OTLP delta series accumulated at once (otlp/otlp_delta.h). */
#define OTLP_DELTA_SERIES 1000000

/* ---- health --------------------------------------------------------------------------- */

static void on_root(struct km_http_req *req, void *ud)
{
    struct km_server *s = ud;
    struct km_buf b;
    struct km_jsonw w;
    char ts[48];
    bool ready = km_http_server_ready(s->http);

    /* A browser is sent to the dashboard; API clients and probes get this document. */
    if (km_ui_wants_page(req)) {
        km_ui_redirect(req);
        return;
    }
    km_buf_init(&b, 0);
    km_jsonw_init(&w, &b);
    km_jsonw_obj_begin(&w);
    km_jsonw_key(&w, "status");
    km_jsonw_str(&w, ready ? "ok" : "starting");
    km_jsonw_key(&w, "service");
    km_jsonw_str(&w, "kmon");
    km_jsonw_key(&w, "version");
    km_jsonw_str(&w, KMON_VERSION);
    km_jsonw_key(&w, "revision");
    km_jsonw_str(&w, KMON_REVISION);
    km_time_format_rfc3339(ts, sizeof(ts), s->start_ns, 3);
    km_jsonw_key(&w, "started");
    km_jsonw_str(&w, ts);
    km_jsonw_key(&w, "uptime_seconds");
    km_jsonw_double(&w, (double)(km_time_mono_ns() - s->start_mono_ns) / 1e9);
    if (ready) {
        struct km_storage_info st;
        int64_t last = km_ingest_last_ms(s->api.ingest);

        km_storage_info(s->api.store, &st);
        km_jsonw_key(&w, "series");
        km_jsonw_u64(&w, st.series);
        km_jsonw_key(&w, "samples_appended");
        km_jsonw_u64(&w, st.samples_appended);
        km_jsonw_key(&w, "blocks");
        km_jsonw_u64(&w, st.blocks);
        km_jsonw_key(&w, "last_ingest");
        if (last) {
            km_time_format_rfc3339(ts, sizeof(ts), last * 1000000, 3);
            km_jsonw_str(&w, ts);
        } else {
            km_jsonw_null(&w);
        }
    }
    km_jsonw_key(&w, "data_dir");
    km_jsonw_str(&w, s->o.data_dir);
    km_jsonw_obj_end(&w);
    km_buf_putc(&b, '\n');
    km_http_respond_buf(req, ready ? 200 : 503, "application/json", &b);
    km_buf_fini(&b);
}

static void on_healthz(struct km_http_req *req, void *ud)
{
    (void)ud;
    km_http_respond_text(req, 200, "ok\n");
}

/* Flagged KM_ROUTE_NEEDS_READY: answered 503 until the database is open. */
static void on_readyz(struct km_http_req *req, void *ud)
{
    (void)ud;
    km_http_respond_text(req, 200, "ready\n");
}

/* ---- /metrics ----------------------------------------------------------------------- */

void km_server_collect_metrics(struct km_server *s, struct km_mset *m)
{
    struct statvfs vfs;

    pthread_mutex_lock(&s->self_mu);
    if (s->self_ok)
        km_self_metrics_collect(&s->self, m);
    pthread_mutex_unlock(&s->self_mu);
    km_mset_gauge(m, "kmon_server_start_time_seconds", "When the server started.",
                  (double)s->start_ns / 1e9);
    km_mset_gauge(m, "kmon_server_ready", "1 once the database is open.",
                  km_http_server_ready(s->http) ? 1 : 0);
    if (statvfs(s->o.data_dir, &vfs) == 0) {
        km_mset_gauge(m, "kmon_data_directory_size_bytes",
                      "Size of the filesystem holding the data directory.",
                      (double)vfs.f_blocks * (double)vfs.f_frsize);
        km_mset_gauge(m, "kmon_data_directory_available_bytes",
                      "Space left to kmon on the filesystem holding the data directory.",
                      (double)vfs.f_bavail * (double)vfs.f_frsize);
    }
    km_http_server_metrics(s->http, m);
    if (km_http_server_ready(s->http)) {
        km_ingest_metrics(s->api.ingest, m);
        km_storage_metrics(s->api.store, m);
        km_logs_api_metrics(s->logs_api, m);
        km_forward_metrics(s->forward, m);
        km_otlp_ingest_metrics(s->otlp, m);
    }
    if (s->cs)
        km_server_cs_metrics(s->cs, m);
    km_server_rules_metrics(s, m);
    km_ui_metrics(m);
    if (s->auth)
        km_auth_metrics(s->auth, m);
}

static void on_metrics(struct km_http_req *req, void *ud)
{
    struct km_server *s = ud;
    struct km_mset m;
    struct km_buf b;

    km_mset_init(&m);
    km_mset_reset(&m, 0);
    km_server_collect_metrics(s, &m);
    km_buf_init(&b, 0);
    km_mset_render_prom(&m, &b);
    km_mset_fini(&m);
    if (km_buf_error(&b))
        km_http_respond_error(req, 500, "rendering /metrics failed");
    else
        km_http_respond_buf(req, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
    km_buf_fini(&b);
}

/* ---- admin and ingest (their context: the API's) --------------------------------------- */

static void on_flush(struct km_http_req *req, void *ud)
{
    const struct km_api_ctx *api = ud;

    if (km_storage_flush(api->store) != 0)
        km_http_respond_error(req, 500, "flush failed: %s", km_err_msg());
    else
        km_http_respond(req, 204, NULL, "", 0);
}

/* POST /api/v1/admin/tsdb/snapshot[?skip_head=BOOL], as Prometheus': a consistent copy of
 * the database in DATA/snapshots/<name>, answered {"status":"success","data":{"name"}}. */
static void on_snapshot(struct km_http_req *req, void *ud)
{
    const struct km_api_ctx *api = ud;
    const struct km_server_opts *o = api->settings_base;
    const char *arg = km_http_req_arg(req, "skip_head");
    struct km_tsdb_snapshot_stats st;
    struct km_buf path, body;
    char name[64];
    uint64_t rnd = 0;
    time_t now = time(NULL);
    struct tm tm;
    bool skip = false;

    if (km_storage_is_clickhouse(api->store)) {
        km_http_respond_error(req, 400,
                              "snapshots are of the embedded store; back up ClickHouse with "
                              "its own tools");
        return;
    }

    /* Go's strconv.ParseBool, as Prometheus reads it. */
    if (arg && *arg) {
        static const char *const yes[] = { "1", "t", "T", "TRUE", "true", "True" };
        static const char *const no[] = { "0", "f", "F", "FALSE", "false", "False" };
        bool known = false;

        for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
            if (strcmp(arg, yes[i]) == 0)
                skip = known = true;
            else if (strcmp(arg, no[i]) == 0)
                known = true;
        }
        if (!known) {
            km_http_respond_error(req, 400, "unable to parse boolean 'skip_head' argument: %s",
                                  arg);
            return;
        }
    }
    if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
        rnd = (uint64_t)km_time_now_ns();
    gmtime_r(&now, &tm);
    strftime(name, 32, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(name + strlen(name), sizeof(name) - strlen(name), "-%016llx",
             (unsigned long long)(rnd & 0x7fffffffffffffffULL));
    km_buf_init(&path, 0);
    km_buf_printf(&path, "%s/snapshots/%s", o->data_dir, name);
    if (km_buf_error(&path) ||
        km_tsdb_storage_snapshot(api->store, km_buf_cstr(&path), skip, &st) != 0) {
        km_http_respond_error(req, 500, "create snapshot: %s", km_err_msg());
        km_buf_fini(&path);
        return;
    }
    km_buf_fini(&path);
    km_buf_init(&body, 0);
    {
        struct km_jsonw w;

        km_jsonw_init(&w, &body);
        km_jsonw_obj_begin(&w);
        km_jsonw_key(&w, "status");
        km_jsonw_str(&w, "success");
        km_jsonw_key(&w, "data");
        km_jsonw_obj_begin(&w);
        km_jsonw_key(&w, "name");
        km_jsonw_str(&w, name);
        km_jsonw_obj_end(&w);
        km_jsonw_obj_end(&w);
    }
    if (km_buf_error(&body))
        km_http_respond_error(req, 500, "out of memory");
    else
        km_http_respond_buf(req, 200, "application/json", &body);
    km_buf_fini(&body);
}

static void on_write(struct km_http_req *req, void *ud)
{
    const struct km_api_ctx *api = ud;

    km_ingest_remote_write(req, api->ingest);
}

static void on_node_json(struct km_http_req *req, void *ud)
{
    const struct km_api_ctx *api = ud;

    km_ingest_node_json(req, api->ingest);
}

static void on_pod_json(struct km_http_req *req, void *ud)
{
    const struct km_api_ctx *api = ud;

    km_ingest_pod_json(req, api->ingest);
}

/* ---- life cycle ------------------------------------------------------------------------ */

static int add_routes(struct km_server *s)
{
    /* Probes are answered by the polling threads themselves: no queue of slow requests
     * stands before them. */
    static const struct km_http_route own[] = {
        { "GET", "/", on_root, 0 },
        { "GET", "/healthz", on_healthz, KM_ROUTE_INLINE },
        { "GET", "/readyz", on_readyz, KM_ROUTE_INLINE | KM_ROUTE_NEEDS_READY },
        { "GET", "/-/healthy", on_healthz, KM_ROUTE_INLINE },
        { "GET", "/-/ready", on_readyz, KM_ROUTE_INLINE | KM_ROUTE_NEEDS_READY },
        { "GET", "/metrics", on_metrics, KM_ROUTE_READ },
        { "POST", "/-/reload", km_server_on_reload, KM_ROUTE_NEEDS_READY | KM_ROUTE_ADMIN },
        { "PUT", "/-/reload", km_server_on_reload, KM_ROUTE_NEEDS_READY | KM_ROUTE_ADMIN },
        { "GET", "/api/alerts/history", km_server_on_alert_history,
          KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
        { "GET", "/api/v1/alertmanagers", km_server_on_alertmanagers, KM_ROUTE_READ },
    };
    static const struct km_http_route ingest[] = {
        { "POST", "/api/v1/write", on_write, KM_ROUTE_NEEDS_READY | KM_ROUTE_WRITE },
        { "POST", "/api/nodes/<node>/metrics", on_node_json,
          KM_ROUTE_NEEDS_READY | KM_ROUTE_WRITE },
        { "POST", "/api/namespaces/<namespace>/pods/<pod>/metrics", on_pod_json,
          KM_ROUTE_NEEDS_READY | KM_ROUTE_WRITE },
    };
    static const struct km_http_route admin[] = {
        { "POST", "/api/v1/admin/flush", on_flush, KM_ROUTE_NEEDS_READY | KM_ROUTE_ADMIN },
        { "POST", "/api/v1/admin/tsdb/snapshot", on_snapshot,
          KM_ROUTE_NEEDS_READY | KM_ROUTE_ADMIN },
    };
    int rc;

    rc = km_http_server_add_routes(s->http, own, sizeof(own) / sizeof(own[0]), s);
    if (rc == 0)
        rc =
            km_http_server_add_routes(s->http, ingest, sizeof(ingest) / sizeof(ingest[0]), &s->api);
    if (rc == 0 && s->o.admin_api)
        rc = km_http_server_add_routes(s->http, admin, sizeof(admin) / sizeof(admin[0]), &s->api);
    if (rc == 0)
        rc = km_ui_create(&s->ui, s->o.ui_dir);
    if (rc == 0)
        rc = km_http_server_add_routes(s->http, km_ui_routes, km_ui_nroutes, s->ui);
    if (rc == 0)
        rc = km_http_server_add_routes(s->http, km_api_seed_routes, km_api_seed_nroutes, &s->api);
    if (rc == 0)
        rc = km_http_server_add_routes(s->http, km_api_prom_routes, km_api_prom_nroutes, &s->api);
    if (rc == 0)
        rc = km_kma_create(&s->kma, &s->api, s->o.k8s_metrics_config);
    if (rc == 0)
        rc = km_http_server_add_routes(s->http, km_kma_routes, km_kma_nroutes, s->kma);
    if (rc == 0)
        rc = km_http_server_add_routes(s->http, km_mcp_routes, km_mcp_nroutes, s);
    if (rc == 0) {
        struct km_logs_api_opts lo = {
            .max_decoded_bytes = s->o.max_decoded_bytes,
            .query_timeout_ms = s->o.query_timeout_ms,
        };

        rc = km_logs_api_create(&s->logs_api, &lo);
    }
    if (rc == 0)
        rc = km_http_server_add_routes(s->http, km_logs_api_routes, km_logs_api_nroutes,
                                       s->logs_api);
    if (rc == 0)
        rc = km_otlp_ingest_create(&s->otlp, s->o.max_decoded_bytes, OTLP_DELTA_SERIES);
    if (rc == 0)
        rc = km_http_server_add_routes(s->http, km_otlp_routes, km_otlp_nroutes, s->otlp);
    return rc;
}

/* A second listener: options ho (the main one's, adjusted), the health probes and
 * `routes`; *out is it (destroyed by km_server_stop() even when half made). */
static int start_listener(struct km_server *s, const struct km_http_opts *ho,
                          const struct km_http_route *routes, size_t nroutes, void *ctx,
                          const char *flag, struct km_http_server **out)
{
    static const struct km_http_route probes[] = {
        { "GET", "/healthz", on_healthz, KM_ROUTE_INLINE },
        { "GET", "/readyz", on_readyz, KM_ROUTE_INLINE | KM_ROUTE_NEEDS_READY },
    };
    int rc = km_http_server_create(out, ho);

    if (rc == 0)
        rc = km_http_server_add_routes(*out, probes, sizeof(probes) / sizeof(probes[0]), s);
    if (rc == 0)
        rc = km_http_server_add_routes(*out, routes, nroutes, ctx);
    if (rc == 0)
        rc = km_http_server_start(*out);
    return rc ? km_err_wrap(rc, "%s %s", flag, ho->listen) : 0;
}

/* --otlp-listen: a second listener with the main one's options (TLS, tokens, limits,
 * CORS for browser exporters) serving only OTLP/HTTP ingest and the health probes. */
static int start_otlp_listener(struct km_server *s, const struct km_http_opts *main_opts)
{
    struct km_http_opts ho = *main_opts;

    if (!s->o.otlp_listen || !s->o.otlp_listen[0])
        return 0;
    ho.listen = s->o.otlp_listen;
    ho.name = "otlp";
    return start_listener(s, &ho, km_otlp_routes, km_otlp_nroutes, s->otlp, "--otlp-listen",
                          &s->otlp_http);
}

/* --k8s-api-listen: the Kubernetes metrics API alone, for the API server's aggregation
 * layer, which proves who it is with its proxy client certificate (--k8s-api-client-ca)
 * and cannot send kmon's tokens. */
static int start_k8s_api_listener(struct km_server *s, const struct km_http_opts *main_opts)
{
    struct km_http_opts ho = *main_opts;

    if (!s->o.k8s_api_listen || !s->o.k8s_api_listen[0])
        return 0;
    if (s->o.k8s_api_tls_cert && s->o.k8s_api_tls_cert[0]) {
        ho.tls_cert_file = s->o.k8s_api_tls_cert;
        ho.tls_key_file = s->o.k8s_api_tls_key;
        ho.tls_client_ca_file = NULL;
    }
    if (!ho.tls_cert_file || !ho.tls_cert_file[0] || !ho.tls_key_file || !ho.tls_key_file[0])
        return km_err_set(KM_EINVAL, "--k8s-api-listen needs a certificate and key "
                                     "(--k8s-api-tls-cert and --k8s-api-tls-key, or --tls-cert "
                                     "and --tls-key): the Kubernetes API is served over HTTPS "
                                     "only");
    ho.listen = s->o.k8s_api_listen;
    ho.name = "k8s-api";
    ho.cors = false;
    if (s->o.k8s_api_client_ca && s->o.k8s_api_client_ca[0]) {
        ho.tls_client_ca_file = s->o.k8s_api_client_ca;
        ho.authorize = NULL; /* the certificate is the credential */
        ho.authorize_ud = NULL;
    }
    return start_listener(s, &ho, km_kma_routes, km_kma_nroutes, s->kma, "--k8s-api-listen",
                          &s->k8s_http);
}

static void logs_progress(void *ud, const char *msg)
{
    (void)ud;
    km_log_info(KM_SERVER_LOG, "%s", msg);
}

/* The logs on ClickHouse (--storage clickhouse), judged by the same limits. */
static int open_logs_clickhouse(struct km_server *s, const struct km_logstore_opts *lo)
{
    struct km_log_limits lim = { .retention_ms = lo->retention_ms,
                                 .max_future_ms = lo->max_future_ms,
                                 .ooo_window_ms = lo->ooo_window_ms,
                                 .max_line_bytes = lo->max_line_bytes,
                                 .max_streams = lo->max_streams };
    int rc = km_ch_logs_open(s->api.store, &lim, &s->log_sink, &s->log_src);

    if (rc)
        return km_err_wrap(rc, "the logs on ClickHouse");
    s->logs_on = true;
    km_logs_api_attach_sink(s->logs_api, &s->log_sink, &s->log_src);
    return 0;
}

/* The log store in DATA/logs (or the logs on ClickHouse), and the Loki API over it. */
static int open_logs(struct km_server *s)
{
    struct km_buf dir;
    struct km_logstore_opts lo = {
        .retention_ms = s->o.logs_retention_ms ? s->o.logs_retention_ms : s->o.retention_ms,
        .retention_bytes = s->o.logs_retention_bytes,
        /* The store reads 0 as its default and a negative value as none / every push;
         * the flags' 0 means none / every write, as for the TSDB. */
        .max_future_ms = s->o.max_future_ms ? s->o.max_future_ms : -1,
        .ooo_window_ms = s->o.logs_ooo_window_ms ? s->o.logs_ooo_window_ms : -1,
        .max_line_bytes = (size_t)s->o.logs_max_line_bytes,
        .max_streams = (uint64_t)s->o.logs_max_streams,
        .fsync_interval_ms = s->o.fsync_interval_ms ? s->o.fsync_interval_ms : -1,
        .progress = logs_progress,
    };
    int rc;

    if (km_storage_is_clickhouse(s->api.store))
        return open_logs_clickhouse(s, &lo);
    km_buf_init(&dir, 0);
    km_buf_printf(&dir, "%s/logs", s->o.data_dir);
    lo.dir = km_buf_cstr(&dir);
    rc = km_logstore_open(&s->logs, &lo);
    if (rc) {
        rc = km_err_wrap(rc, "opening the log store in %s", lo.dir);
    } else {
        km_logstore_sink(s->logs, &s->log_sink);
        km_logstore_source(s->logs, &s->log_src);
        s->logs_on = true;
        km_logs_api_attach_sink(s->logs_api, &s->log_sink, &s->log_src);
    }
    km_buf_fini(&dir);
    return rc;
}

/* --remote-write-url / --remote-write-config: the forwarder, fed by ingest's tap. */
static int start_forward(struct km_server *s)
{
    struct km_forward_opts fo = {
        .data_dir = s->o.data_dir,
        .urls = s->o.remote_write_urls,
        .config_file = s->o.remote_write_config,
        .spool_max = s->o.remote_write_spool_max,
    };
    int rc = km_forward_create(&s->forward, &fo);

    if (rc == 0 && s->forward)
        km_ingest_set_forward(s->api.ingest, km_forward_push, s->forward);
    return rc;
}

const char *km_server_storage_usage_error(const struct km_server_opts *o)
{
    if (o->storage != KM_SERVER_STORAGE_CLICKHOUSE)
        return o->ch_urls && *o->ch_urls
                   ? "--clickhouse-url is for --storage clickhouse (the store is tsdb)"
                   : NULL;
    if (!o->ch_urls || !*o->ch_urls)
        return "--storage clickhouse needs --clickhouse-url URL[,URL…]: the HTTP interface "
               "of each ClickHouse shard (http://host:8123)";
    if (strchr(o->ch_urls, ',') && !(o->ch_cluster && *o->ch_cluster))
        return "more than one --clickhouse-url needs --clickhouse-cluster NAME: the "
               "remote_servers cluster whose shards they are, in its order";
    return NULL;
}

/* --storage clickhouse: the store on ClickHouse, with the spool in --data. */
static int open_clickhouse(struct km_server *s)
{
    struct km_ch_opts co = {
        .client = { .database = s->o.ch_database,
                    .user = s->o.ch_user,
                    .password_file = s->o.ch_password_file,
                    .tls = { .ca_file = s->o.ch_ca_file,
                             .cert_file = s->o.ch_cert_file,
                             .key_file = s->o.ch_key_file } },
        .cluster = s->o.ch_cluster,
        .dir = s->o.data_dir,
        .spool_max_bytes = s->o.ch_spool_max,
        .retention_ms = s->o.retention_ms,
        .max_future_ms = s->o.max_future_ms,
        .fsync_interval_ms = s->o.fsync_interval_ms,
        .no_rollups = s->o.ch_rollups == KM_SERVER_ROLLUPS_OFF,
    };
    const char *urls[256];
    char *list = strdup(s->o.ch_urls ? s->o.ch_urls : ""), *save = NULL;
    size_t n = 0;
    int rc;

    if (!list)
        return km_err_set(KM_ENOMEM, "out of memory");
    for (char *u = strtok_r(list, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
        u += strspn(u, " ");
        if (!*u)
            continue;
        if (n == sizeof(urls) / sizeof(urls[0])) {
            free(list);
            return km_err_set(KM_EINVAL, "more than %zu --clickhouse-url", n);
        }
        urls[n++] = u;
    }
    co.client.urls = urls;
    co.client.nurls = n;
    rc = km_storage_open_clickhouse(&s->api.store, &co);
    free(list);
    return rc;
}

static int open_db(struct km_server *s)
{
    struct km_storage_config sc = {
        .dir = s->o.data_dir,
        .retention_ms = s->o.retention_ms,
        .max_bytes = s->o.retention_bytes,
        .block_range_ms = s->o.block_range_ms,
        .ooo_window_ms = s->o.ooo_window_ms,
        .max_future_ms = s->o.max_future_ms,
        .fsync_interval_ms = s->o.fsync_interval_ms,
        .cache_bytes = s->o.cache_bytes,
        .no_cache = s->o.cache_bytes == 0,
    };
    struct km_ingest_opts io = {
        .max_decoded_bytes = s->o.max_decoded_bytes,
        .max_series = (uint64_t)s->o.max_series,
        .max_samples_per_s = (double)s->o.max_samples_per_s,
        .series_cache_bytes = s->o.series_cache_bytes,
        .max_label_value_bytes = s->o.max_label_value_bytes,
        .max_series_per_cluster = (uint64_t)s->o.max_series_per_cluster,
        .max_samples_per_s_per_cluster = (double)s->o.max_samples_per_s_per_cluster,
        .max_log_bytes_per_s_per_cluster = (double)s->o.max_log_bytes_per_s_per_cluster,
        .head_span_ms = s->o.block_range_ms * 3 / 2,
    };
    int rc;

    if (s->o.storage == KM_SERVER_STORAGE_CLICKHOUSE) {
        rc = open_clickhouse(s);
        if (rc)
            return km_err_wrap(rc, "opening the ClickHouse store");
    } else {
        rc = km_storage_open_tsdb(&s->api.store, &sc);
        if (rc)
            return km_err_wrap(rc, "opening the database in %s", s->o.data_dir);
    }
    rc = km_ingest_create(&s->api.ingest, s->api.store, &io);
    if (rc)
        return rc;
    rc = start_forward(s);
    if (rc)
        return rc;
    rc = open_logs(s);
    if (rc)
        return rc;
    km_otlp_ingest_attach(s->otlp, s->api.ingest, &s->log_sink);
    km_logs_api_set_clusters(s->logs_api, km_ingest_clusters(s->api.ingest));
    return 0;
}

/* Ready once the database is open and the rule files are loaded (as Prometheus is ready
 * only after its rules): a client told "ready" finds /api/v1/rules complete. */
static void set_ready(struct km_server *s)
{
    km_http_server_set_ready(s->http, true);
    if (s->otlp_http)
        km_http_server_set_ready(s->otlp_http, true);
    if (s->k8s_http)
        km_http_server_set_ready(s->k8s_http, true);
}

/* --cluster-state: the collector, emitting through ingest. */
/* Kubernetes Events from the collector, into the log sink: what the store refuses
 * (counted in its metrics) is not retried; only a failing store is. */
static int push_kube_events(void *ud, const struct km_log_push_stream *st, size_t n)
{
    struct km_log_push_result r;

    return km_log_sink_push(ud, st, n, &r);
}

static int start_cluster_state(struct km_server *s)
{
    struct km_kstate_opts ko;
    int rc;

    if (!s->o.cluster_state)
        return 0;
    rc = km_kstate_opts_from(&ko, &s->o.cs, s->o.cluster);
    if (rc == 0 && s->logs_on)
        ko.events_sink = (struct km_kevents_sink){ push_kube_events, &s->log_sink };
    if (rc == 0)
        rc = km_server_cs_start(&s->cs, &ko, s->o.cluster_state_interval_ms, s->api.ingest);
    return rc ? km_err_wrap(rc, "--cluster-state") : 0;
}

/* Without tokens anyone who reaches the port may write and read: say so when more than
 * this machine can reach us. */
static void warn_if_reachable(const struct km_server *s)
{
    if (s->auth || km_listen_is_loopback(s->o.listen))
        return;
    km_log_warn(KM_SERVER_LOG,
                "listening on %s without authentication: anyone who can reach this port can "
                "write and read metrics; give --tokens FILE (docs/security.md), bind to "
                "loopback (--listen 127.0.0.1:%u) or put the server behind an authenticating "
                "proxy or a NetworkPolicy",
                s->o.listen, km_http_server_port(s->http));
}

int km_server_start(struct km_server **out, const struct km_server_opts *o)
{
    struct km_server *s = calloc(1, sizeof(*s));
    struct km_http_opts ho = { 0 };
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int rc;

    if (!s)
        return km_err_set(KM_ENOMEM, "out of memory");
    s->o = *o;
    s->start_ns = km_time_now_ns();
    s->start_mono_ns = km_time_mono_ns();
    pthread_mutex_init(&s->self_mu, NULL);
    s->self_ok = km_self_metrics_init(&s->self) == 0;
    ho.listen = o->listen;
    ho.tls_cert_file = o->tls_cert;
    ho.tls_key_file = o->tls_key;
    ho.tls_client_ca_file = o->tls_client_ca;
    ho.name = KM_SERVER_LOG;
    ho.max_body = o->max_request_bytes;
    if (ncpu < 1)
        ncpu = 1;
    /* Two polling threads share reading and writing; handlers run on the workers. */
    ho.threads = ncpu > 1 ? 2 : 1;
    ho.workers = o->http_threads > 0 ? (unsigned)o->http_threads : (unsigned)ncpu;
    ho.cors = true;
    ho.request_timeout_s = (unsigned)((o->http_request_timeout_ms + 999) / 1000);
    ho.header_timeout_s = (unsigned)((o->http_header_timeout_ms + 999) / 1000);
    ho.max_conns = (unsigned)o->http_max_conns;
    ho.max_conns_per_ip = (unsigned)o->http_max_conns_per_ip;
    ho.not_ready_msg = "starting: the database is replaying its write-ahead log";
    s->api.stale_ms = o->stale_ms;
    s->api.scrape_ms = o->scrape_ms;
    s->api.retention_ms = o->retention_ms;
    km_pq_opts_default(&s->api.query);
    s->api.query.lookback_ms = o->query_lookback_ms;
    s->api.query.max_samples = (uint64_t)o->query_max_samples;
    s->api.query.timeout_ms = o->query_timeout_ms;
    s->api.start_ns = s->start_ns;
    s->api.settings = km_server_fields;
    s->api.settings_base = &s->o;
    rc = km_mkdir_setting(o->data_dir, 0750, "data directory", "data"); /* and parents */
    if (rc == 0 && o->tokens && *o->tokens) {
        rc = km_auth_open(&s->auth, o->tokens);
        if (rc)
            rc = km_err_wrap(rc, "--tokens");
        ho.authorize = km_auth_authorize;
        ho.authorize_ud = s->auth;
    }
    if (rc == 0)
        rc = km_http_server_create(&s->http, &ho);
    if (rc == 0)
        rc = add_routes(s);
    if (rc == 0)
        rc = km_http_server_start(s->http);
    if (rc == 0)
        rc = start_otlp_listener(s, &ho);
    if (rc == 0)
        rc = start_k8s_api_listener(s, &ho);
    if (rc == 0) {
        warn_if_reachable(s);
        rc = open_db(s);
    }
    if (rc == 0)
        rc = start_cluster_state(s);
    if (rc == 0)
        rc = km_server_rules_start(s);
    if (rc == 0)
        rc = km_server_self_scrape_start(s);
    if (rc) {
        km_server_destroy(s, 0);
        return rc;
    }
    set_ready(s);
    *out = s;
    return 0;
}

int km_server_reload(struct km_server *s, struct km_buf *errs)
{
    return km_server_rules_reload(s, errs);
}

uint16_t km_server_port(const struct km_server *s)
{
    return km_http_server_port(s->http);
}

void km_server_destroy(struct km_server *s, int64_t grace_ms)
{
    if (!s)
        return;
    /* The self-scrape, the rules and the collector write through ingest: stopped before
     * it; the rules after the HTTP server, whose /-/reload and API handlers use them. */
    km_server_self_scrape_stop(s);
    km_http_server_stop(s->otlp_http, grace_ms);
    km_http_server_stop(s->k8s_http, grace_ms);
    km_http_server_stop(s->http, grace_ms);
    km_server_rules_stop(s);
    km_server_cs_stop(s->cs);
    km_http_server_destroy(s->otlp_http);
    km_http_server_destroy(s->k8s_http);
    km_http_server_destroy(s->http);
    km_kma_destroy(s->kma);         /* after the listeners that route to it */
    km_forward_destroy(s->forward); /* after every writer: what waits is spooled */
    km_otlp_ingest_destroy(s->otlp);
    km_ingest_destroy(s->api.ingest);
    km_storage_close(s->api.store);
    km_logstore_close(s->logs);
    km_logs_api_destroy(s->logs_api);
    km_ui_destroy(s->ui);
    km_auth_close(s->auth);
    if (s->self_ok)
        km_self_metrics_fini(&s->self);
    pthread_mutex_destroy(&s->self_mu);
    free(s);
}
