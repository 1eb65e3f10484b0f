/*
 * agent_main — `kmon agent`: configuration, the collection loop, /metrics over HTTP,
 * `--once` snapshots, and graceful shutdown.
 *
 * Threads: the main thread collects every --interval and waits for SIGTERM/SIGINT in
 * between (km_sig_wait); libmicrohttpd's thread serves /metrics from the published
 * collection. Shutdown stops the HTTP server (letting scrapes in flight finish), then
 * the collectors.
 */
#include "agent/agent_main.h"

#include "agent/collector.h"
#include "agent/logs/logs.h"
#include "agent/runtime.h"
#include "agent/ship/ship_loop.h"
#include "common/arenas.h"
#include "common/cfg.h"
#include "common/err.h"
#include "common/expfmt.h"
#include "common/fsutil.h"
#include "common/http_server.h"
#include "common/httpc_auth.h"
#include "common/listen.h"
#include "common/log.h"
#include "common/sig.h"
#include "common/timefmt.h"
#include "version.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const format_choices[] = { "json", "prom", NULL };

struct agent_opts {
    char *listen;
    char *tls_cert, *tls_key, *tls_client_ca; /* HTTPS for /metrics */
    int64_t interval_ms;
    char *node_name;
    char *server, *remote_write, *cluster, *spool_dir;
    char *ca_file, *cert_file, *key_file, *token_file; /* how shipping proves and checks */
    uint64_t spool_max;
    int64_t ship_timeout_ms;
    int64_t metadata_interval_ms;
    char *host_proc, *host_sys, *host_root;
    bool once;
    int format; /* index into format_choices */
    char *disabled;
    int mode; /* index into mode_choices */
};

static const char *const mode_choices[] = { "node", "cluster", NULL };

static const struct km_cfg_field agent_fields[] = {
    { .name = "mode",
      .type = KM_CFG_ENUM,
      .offset = offsetof(struct agent_opts, mode),
      .def = "node",
      .help = "node: this node's collectors (a DaemonSet); cluster: only the cluster-state "
              "collector, kube-state-metrics series from the Kubernetes API (one small "
              "Deployment; docs/cluster-state.md)",
      .choices = mode_choices },
    { .name = "listen",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct agent_opts, listen),
      .def = ":9105",
      .metavar = "ADDR:PORT",
      .help = "where to serve /metrics (Prometheus text format)",
      .per_command = true },
    { .name = "tls-cert",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct agent_opts, tls_cert),
      .metavar = "FILE",
      .help = "serve /metrics over HTTPS (TLS 1.2 and 1.3) with this PEM certificate and "
              "--tls-key, both re-read when they change (checked every 2 s)" },
    { .name = "tls-key",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct agent_opts, tls_key),
      .metavar = "FILE",
      .help = "the PEM private key of --tls-cert" },
    { .name = "tls-client-ca",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct agent_opts, tls_client_ca),
      .metavar = "FILE",
      .help = "with --tls-cert, only scrapers with a valid certificate signed by a CA in this "
              "PEM file get /metrics (mutual TLS)" },
    { .name = "interval",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct agent_opts, interval_ms),
      .def = "5s",
      .help = "time between collections",
      .min = 100,
      .max = 3600000 },
    { .name = "node-name",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct agent_opts, node_name),
      .metavar = "NAME",
      .help = "the node's name (default: the Kubernetes downward-API NODE_NAME, else the "
              "hostname)",
      .env_alias = "NODE_NAME" },
    { .name = "server",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct agent_opts, server),
      .metavar = "URL",
      .help = "ship every collection to this kmon server (its base URL, e.g. "
              "http://kmon:5000)" },
    { .name = "remote-write",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct agent_opts, remote_write),
      .metavar = "URL",
      .help = "ship to any Prometheus remote_write endpoint instead (Prometheus, "
              "VictoriaMetrics, …)" },
    { .name = "ca-file",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct agent_opts, ca_file),
      .metavar = "FILE",
      .help = KM_HTTPC_HELP_CA_FILE },
    { .name = "cert-file",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct agent_opts, cert_file),
      .metavar = "FILE",
      .help = KM_HTTPC_HELP_CERT_FILE },
    { .name = "key-file",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct agent_opts, key_file),
      .metavar = "FILE",
      .help = KM_HTTPC_HELP_KEY_FILE },
    { .name = "token-file",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct agent_opts, token_file),
      .metavar = "FILE",
      .help = KM_HTTPC_HELP_TOKEN_FILE },
    { .name = "cluster",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct agent_opts, cluster),
      .def = "default",
      .metavar = "NAME",
      .help = "the cluster label on every shipped series (with node)" },
    { .name = "spool-dir",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct agent_opts, spool_dir),
      .metavar = "DIR",
      .help = "where collections wait while the server cannot be reached (default "
              "/var/lib/kmon/spool as root, else ./kmon-agent-spool; \"none\": memory "
              "only)" },
    { .name = "spool-max",
      .type = KM_CFG_SIZE,
      .offset = offsetof(struct agent_opts, spool_max),
      .def = "256MiB",
      .help = "bound of the spool: past it the oldest collections are dropped (and counted)" },
    { .name = "ship-timeout",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct agent_opts, ship_timeout_ms),
      .def = "30s",
      .help = "time a delivery may take before it is retried",
      .min = 100,
      .max = 600000 },
    { .name = "metadata-interval",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct agent_opts, metadata_interval_ms),
      .def = "1m",
      .help = "send the shipped families' TYPE and HELP with the first collection and then "
              "this often, as Prometheus' remote_write does (0: never)",
      .min = 0,
      .max = 86400000 },
    { .name = "host-proc",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct agent_opts, host_proc),
      .def = "/proc",
      .metavar = "DIR",
      .help = "the host's /proc (/host/proc in a container)" },
    { .name = "host-sys",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct agent_opts, host_sys),
      .def = "/sys",
      .metavar = "DIR",
      .help = "the host's /sys (/host/sys in a container)" },
    { .name = "host-root",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct agent_opts, host_root),
      .def = "/",
      .metavar = "DIR",
      .help = "the host's root filesystem, for statvfs and /etc/machine-id (/host/root in a "
              "container)" },
    { .name = "once",
      .type = KM_CFG_BOOL,
      .offset = offsetof(struct agent_opts, once),
      .def = "false",
      .help = "take two readings one interval apart, print them and exit" },
    { .name = "format",
      .type = KM_CFG_ENUM,
      .offset = offsetof(struct agent_opts, format),
      .def = "json",
      .help = "output of --once: json (the node snapshot and every metric) or prom (text "
              "exposition)",
      .choices = format_choices },
    { .name = "disable-collectors",
      .type = KM_CFG_LIST,
      .offset = offsetof(struct agent_opts, disabled),
      .metavar = "NAME,...",
      .help = "collectors not to run (the list of collectors is at the top)" },
    KM_CFG_FIELDS_END,
};

static const char *const other_commands[] = { "server", "demo", "query", "tsdb", NULL };

/* --mode from the command line or KMON_MODE, before the settings are parsed. */
static const char *mode_of(int argc, char **argv)
{
    const char *m = getenv("KMON_MODE");

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc)
            m = argv[i + 1];
        else if (strncmp(argv[i], "--mode=", 7) == 0)
            m = argv[i] + 7;
    }
    return m ? m : "node";
}

static int produce_metrics(struct km_http_stream *st, struct km_buf *out, void *ud)
{
    (void)st;
    return km_agent_view_step(ud, out);
}

static void end_metrics(void *ud)
{
    km_agent_view_end(ud);
}

/* Streamed: a cluster agent's view of a large cluster is rendered in parts as the
 * client takes them, never whole in memory. */
static void on_metrics(struct km_http_req *req, void *ud)
{
    struct km_agent_view *v;

    if (km_agent_view_begin(ud, &v) != 0) {
        km_http_respond_error(req, 500, "rendering metrics: %s", km_err_msg());
        return;
    }
    if (km_http_respond_stream(req, 200, KM_EXPFMT_CONTENT_TYPE, produce_metrics, v, end_metrics) !=
        0)
        km_log_warn("agent", "answering /metrics: %s", km_err_msg());
}

static void on_snapshot(struct km_http_req *req, void *ud)
{
    struct km_agent *a = ud;
    struct km_buf b;

    km_buf_init(&b, 0);
    km_agent_render_json(a, &b);
    if (km_buf_error(&b)) {
        km_buf_fini(&b);
        km_http_respond_error(req, 500, "rendering the snapshot: %s", km_err_msg());
        return;
    }
    km_http_respond_buf(req, 200, "application/json", &b);
    km_buf_fini(&b);
}

static void on_root(struct km_http_req *req, void *ud)
{
    static const char page[] =
        "<!doctype html><html><head><title>kmon agent</title></head><body>"
        "<h1>kmon agent " KMON_VERSION "</h1><ul>"
        "<li><a href=\"metrics\">/metrics</a> — Prometheus text format</li>"
        "<li><a href=\"snapshot\">/snapshot</a> — the node snapshot as JSON</li>"
        "<li><a href=\"healthz\">/healthz</a></li></ul></body></html>\n";

    (void)ud;
    km_http_respond(req, 200, "text/html; charset=utf-8", page, sizeof(page) - 1);
}

static void on_healthz(struct km_http_req *req, void *ud)
{
    (void)ud;
    km_http_respond_text(req, 200, "ok\n");
}

/* Every handler gets the agent: they render its published collection. */
static const struct km_http_route agent_routes[] = {
    { "GET", "/metrics", on_metrics, 0 },
    { "GET", "/snapshot", on_snapshot, 0 },
    { "GET", "/healthz", on_healthz, 0 },
    { "GET", "/", on_root, 0 },
};

/* Print one rendering to stdout. */
static int print_snapshot(struct km_agent *a, bool json)
{
    struct km_buf b;
    int rc = 0;

    km_buf_init(&b, 0);
    if (json)
        km_agent_render_json(a, &b);
    else
        rc = km_agent_render_prom(a, &b);
    if (rc || km_buf_error(&b)) {
        fprintf(stderr, "kmon agent: rendering the snapshot failed: %s\n", km_err_msg());
        rc = 1;
    } else if (fwrite(b.data, 1, b.len, stdout) != b.len || fflush(stdout) != 0) {
        fprintf(stderr, "kmon agent: writing the snapshot failed\n");
        rc = 1;
    }
    km_buf_fini(&b);
    return rc;
}

/* The remote_write URL to ship to, or NULL; *err on a bad combination. */
static const char *ship_url(const struct agent_opts *o, char *buf, size_t size, bool *err)
{
    size_t n;

    *err = false;
    if (o->server && *o->server && o->remote_write && *o->remote_write) {
        *err = true;
        return NULL;
    }
    if (o->remote_write && *o->remote_write)
        return o->remote_write;
    if (!o->server || !*o->server)
        return NULL;
    n = strlen(o->server);
    while (n && o->server[n - 1] == '/')
        n--;
    snprintf(buf, size, "%.*s/api/v1/write", (int)n, o->server);
    return buf;
}

/* The spool directory: as given, the default for root or others, NULL for "none". */
static const char *spool_dir(const struct agent_opts *o)
{
    if (o->spool_dir && strcmp(o->spool_dir, "none") == 0)
        return NULL;
    if (o->spool_dir && *o->spool_dir)
        return o->spool_dir;
    return geteuid() == 0 ? "/var/lib/kmon/spool" : "./kmon-agent-spool";
}

/* The node collectors and, last, the container logs' (agent/logs/logs.h). */
static const struct km_collector_ops *const *node_collectors_with_logs(void)
{
    static const struct km_collector_ops *list[64];
    size_t n = 0;

    for (size_t i = 0; km_node_collectors[i] && n < 62; i++)
        list[n++] = km_node_collectors[i];
    list[n++] = &km_collector_logs;
    list[n] = NULL;
    return list;
}

int km_agent_main(int argc, char **argv)
{
    struct agent_opts o = { 0 };
    struct km_cfg_common common = { 0 };
    struct km_cfg_cmd cmd = {
        .name = "agent",
        .usage = "kmon agent [flags]",
        .other_commands = other_commands,
    };
    char summary[2048];
    struct km_http_opts hopts = { 0 };
    struct km_http_server *http = NULL;
    struct km_agent *a = NULL;
    struct km_host host;
    struct km_ship_loop *loop = NULL;
    struct km_ship_setup ship = { 0 };
    struct km_httpc_auth *auth = NULL;
    char node[256], url[2048];
    bool bad_ship, cluster_mode;
    const struct km_collector_ops *const *collectors;
    int rc, status = 1;

    /* One malloc arena for all threads: the HTTP thread allocates little, and a second
     * arena would hold on to its own pages. */
    km_malloc_arenas(1);
    /* The mode decides which collectors (and so which settings) exist: read before the
     * settings table is built (and checked again with the rest of the settings). */
    cluster_mode = strcmp(mode_of(argc, argv), "cluster") == 0;
    collectors = cluster_mode ? km_cluster_collectors : node_collectors_with_logs();
    rc = km_agent_create(&a, collectors);
    if (rc) {
        fprintf(stderr, "kmon agent: %s\n", km_err_msg());
        return 1;
    }
    {
        size_t n = (size_t)snprintf(summary, sizeof(summary),
                                    "Measure this node from the real /proc and /sys every "
                                    "interval and serve the metrics at /metrics\n"
                                    "(node-exporter compatible names), or print one snapshot "
                                    "with --once.\n\nCollectors:\n");

        for (size_t i = 0; collectors[i] && n < sizeof(summary); i++)
            n += (size_t)snprintf(summary + n, sizeof(summary) - n, "  %-11s %s\n",
                                  collectors[i]->name, collectors[i]->help);
        cmd.summary = summary;
    }
    cmd.sections[cmd.nsections++] = (struct km_cfg_section){ "Agent", agent_fields, &o };
    km_agent_cfg_sections(a, cmd.sections, &cmd.nsections, KM_CFG_MAX_SECTIONS - 1);
    cmd.sections[cmd.nsections++] =
        (struct km_cfg_section){ "General", km_cfg_common_fields, &common };
    if (!km_cfg_start_command(&cmd, &common, argc, argv, "kmon agent", &status))
        goto out_free_config;

    km_agent_node_name(o.node_name, node, sizeof(node));
    host.proc = o.host_proc;
    host.sys = o.host_sys;
    host.root = o.host_root;
    host.node_name = node;
    host.host_pid = strcmp(o.host_proc, "/proc") == 0 ? "self" : "1";
    if (access(host.proc, R_OK | X_OK) != 0) {
        fprintf(stderr, "kmon agent: cannot read --host-proc %s\n", host.proc);
        status = 2;
        goto out_free_config;
    }
    ship.url = ship_url(&o, url, sizeof(url), &bad_ship);
    if (bad_ship) {
        fprintf(stderr, "kmon agent: give --server or --remote-write, not both\n");
        status = 2;
        goto out_free_config;
    }
    if (!o.once) {
        rc =
            km_httpc_auth_create(&auth, &(struct km_httpc_auth_opts){ .ca_file = o.ca_file,
                                                                      .cert_file = o.cert_file,
                                                                      .key_file = o.key_file,
                                                                      .token_file = o.token_file });
        if (rc) {
            fprintf(stderr, "kmon agent: %s\n", km_err_msg());
            status = 2;
            goto out_free_config;
        }
    }
    ship.ship.auth = auth;
    ship.node = cluster_mode ? NULL : node; /* KSM series carry their own node label */
    ship.cluster = o.cluster;
    ship.metadata_interval_ms = o.metadata_interval_ms;
    ship.ship.spool_dir = spool_dir(&o);
    ship.ship.spool_max = o.spool_max;
    ship.ship.timeout_ms = o.ship_timeout_ms;
    ship.ship.backoff_min_ms = 500;
    ship.ship.backoff_max_ms = 5000;

    km_logs_set_target(&(struct km_logs_target){ .server = o.server,
                                                 .auth = auth,
                                                 .cluster = o.cluster,
                                                 .timeout_ms = o.ship_timeout_ms,
                                                 .run = !o.once });
    rc = km_sig_init();
    if (rc == 0)
        rc = km_agent_start(a, &host, o.disabled);
    if (rc) {
        fprintf(stderr, "kmon agent: %s\nRun 'kmon agent --help' for the flags.\n", km_err_msg());
        status = 2;
        goto out_free_config;
    }

    if (o.once) {
        km_agent_collect(a);
        if (km_sig_wait(o.interval_ms) != 0) {
            status = 1;
            goto out_free_config;
        }
        km_agent_collect(a);
        status = print_snapshot(a, o.format == 0);
        goto out_free_config;
    }

    if (ship.url && ship.ship.spool_dir) {
        rc = km_mkdir_setting(ship.ship.spool_dir, 0750, "spool directory", "spool-dir");
        if (rc) {
            fprintf(stderr,
                    "kmon agent: %s (or --spool-dir none to keep undelivered collections in "
                    "memory only)\n",
                    km_err_msg());
            goto out_free_config;
        }
    }
    rc = km_ship_loop_create(&loop, a, &ship);
    if (rc) {
        fprintf(stderr, "kmon agent: %s\n", km_err_msg());
        goto out_free_config;
    }
    hopts.listen = o.listen;
    hopts.name = "agent";
    hopts.tls_cert_file = o.tls_cert;
    hopts.tls_key_file = o.tls_key;
    hopts.tls_client_ca_file = o.tls_client_ca;
    hopts.max_body = 64 * 1024; /* the agent takes no uploads */
    /* Scrapers are a few Prometheus replicas: one address cannot take every connection
     * (handlers run on the one polling thread; rendering /metrics takes a millisecond). */
    hopts.max_conns_per_ip = 64;
    rc = km_http_server_create(&http, &hopts);
    if (rc == 0)
        rc = km_http_server_add_routes(http, agent_routes,
                                       sizeof(agent_routes) / sizeof(agent_routes[0]), a);
    if (rc == 0)
        rc = km_http_server_start(http);
    if (rc) {
        fprintf(stderr, "kmon agent: %s\n", km_err_msg());
        km_listen_explain_failure(stderr, &cmd, o.listen, NULL);
        goto out_stop_http;
    }
    {
        char iv[32];

        km_duration_format(iv, sizeof(iv), o.interval_ms);
        /* ":9105" listens everywhere; show an address a browser can open. */
        km_log_info("agent",
                    "kmon agent %s (%s) on node %s: %zu collectors every %s, metrics on "
                    "http%s://%s%s/metrics, host /proc %s, /sys %s",
                    KMON_VERSION, KMON_REVISION, node, km_agent_ncollectors(a), iv,
                    o.tls_cert ? "s" : "", o.listen[0] == ':' ? "localhost" : "", o.listen,
                    host.proc, host.sys);
        if (ship.url)
            km_log_info("agent", "shipping to %s as cluster \"%s\", node \"%s\"; spool %s",
                        ship.url, ship.cluster, node,
                        ship.ship.spool_dir ? ship.ship.spool_dir : "none (memory only)");
    }
    km_ship_loop_run(loop, o.interval_ms);
    status = 0;

out_stop_http:
    km_http_server_stop(http, 5000);
    km_http_server_destroy(http);
    km_ship_loop_destroy(loop, 5000);
out_free_config:
    km_cfg_free(&cmd); /* before the agent: some settings live in its collector contexts */
    km_agent_destroy(a);
    km_httpc_auth_destroy(auth); /* after the shippers that borrowed it */
    return status;
}
