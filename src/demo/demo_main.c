/*
 * demo_main — `kmon demo`: a server and an agent for this host in one process. The
 * server keeps its data under --data (./data) and answers on --listen (127.0.0.1:5000);
 * the agent measures this machine every --interval and ships to the server over
 * loopback with remote_write, exactly as a DaemonSet agent would, spooling under
 * <data>/agent-spool. Ctrl-C (or SIGTERM) stops both cleanly.
 */
#include "demo/demo_main.h"

#include "agent/collector.h"
#include "agent/runtime.h"
#include "agent/ship/ship_loop.h"
#include "common/arenas.h"
#include "common/cfg.h"
#include "common/err.h"
#include "common/listen.h"
#include "common/log.h"
#include "common/sig.h"
#include "server/server.h"
#include "version.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct demo_opts {
    char *listen;
    char *data;
    int64_t interval_ms;
    int64_t retention_ms;
    char *node_name;
    char *cluster;
    char *ui_dir;
};

static const struct km_cfg_field demo_fields[] = {
    { .name = "listen",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct demo_opts, listen),
      .def = "127.0.0.1:5000",
      .metavar = "ADDR:PORT",
      .help = "where the server answers (the API, remote_write and /metrics)",
      .per_command = true },
    { .name = "data",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct demo_opts, data),
      .def = "./data",
      .metavar = "DIR",
      .help = "the database (and the agent's spool) directory" },
    { .name = "interval",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct demo_opts, interval_ms),
      .def = "5s",
      .help = "time between the agent's collections",
      .min = 100,
      .max = 3600000 },
    { .name = "retention",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct demo_opts, retention_ms),
      .def = "15d",
      .help = "delete data older than this",
      .min = 3600000,
      .max = 100ll * 365 * 86400000 },
    { .name = "node-name",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct demo_opts, node_name),
      .metavar = "NAME",
      .help = "this node's name (default: the hostname)",
      .env_alias = "NODE_NAME" },
    { .name = "cluster",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct demo_opts, cluster),
      .def = "default",
      .metavar = "NAME",
      .help = "the cluster label on this node's series" },
    { .name = "ui-dir",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct demo_opts, ui_dir),
      .metavar = "DIR",
      .help = "serve the dashboard from this directory (web/src of a source tree) instead "
              "of the copy built into the binary: for working on the dashboard" },
    KM_CFG_FIELDS_END,
};

static const char *const other_commands[] = { "agent", "server", "query", "tsdb", NULL };

/* What to open in a browser or with curl. */
static void print_where(const struct demo_opts *o, uint16_t port, const char *node)
{
    const char *colon = strrchr(o->listen, ':');
    int hlen = colon ? (int)(colon - o->listen) : 0;
    char base[300];

    /* ":5000", "0.0.0.0:5000" and "*:5000" listen everywhere: loopback works. */
    if (hlen == 0 || (hlen == 7 && strncmp(o->listen, "0.0.0.0", 7) == 0) ||
        (hlen == 1 && o->listen[0] == '*'))
        snprintf(base, sizeof(base), "http://127.0.0.1:%u", port);
    else
        snprintf(base, sizeof(base), "http://%.*s:%u", hlen, o->listen, port);
    printf("\nkmon demo is running: a server and an agent measuring this machine (%s).\n\n"
           "  %s/ui/                  the dashboard (open it in a browser)\n"
           "  %s/                     health\n"
           "  %s/api/nodes            this node, as the prototype's API shows it\n"
           "  %s/api/nodes/%s/timeseries?window=300\n"
           "  %s/metrics              kmon about itself\n\n"
           "Data in %s. Ctrl-C stops it.\n\n",
           node, base, base, base, base, node, base, o->data);
    fflush(stdout);
}

int km_demo_main(int argc, char **argv)
{
    struct demo_opts o = { 0 };
    struct km_cfg_common common = { 0 };
    struct km_cfg_cmd cmd = {
        .name = "demo",
        .usage = "kmon demo [flags]",
        .summary = "Run a kmon server and an agent for this host in one process: the agent "
                   "measures\nthis machine and ships to the server over loopback "
                   "(remote_write), the server\nstores it and answers the API. The quickest "
                   "way to see kmon work.",
        .other_commands = other_commands,
    };
    struct km_server_opts so = { 0 };
    struct km_agent *a = NULL;
    struct km_server *srv = NULL;
    struct km_ship_loop *loop = NULL;
    struct km_ship_setup ship = { 0 };
    struct km_host host = { .proc = "/proc", .sys = "/sys", .root = "/", .host_pid = "self" };
    char node[256], url[512], spool[4200];
    int rc, status = 1;

    km_malloc_arenas(2);
    rc = km_agent_create(&a, km_node_collectors);
    if (rc) {
        fprintf(stderr, "kmon demo: %s\n", km_err_msg());
        return 1;
    }
    cmd.sections[cmd.nsections++] = (struct km_cfg_section){ "Demo", demo_fields, &o };
    km_agent_cfg_sections(a, cmd.sections, &cmd.nsections, KM_CFG_MAX_SECTIONS - 1);
    cmd.sections[cmd.nsections++] =
        (struct km_cfg_section){ "General", km_cfg_common_fields, &common };
    if (!km_cfg_start_command(&cmd, &common, argc, argv, "kmon demo", &status))
        goto out_free_config;
    km_agent_node_name(o.node_name, node, sizeof(node));
    host.node_name = node;

    /* The server: its own defaults, then the demo's choices. */
    rc = km_cfg_apply_defaults(km_server_fields, &so);
    if (rc == 0) {
        free(so.listen);
        free(so.data_dir);
        so.listen = strdup(o.listen);
        so.data_dir = strdup(o.data);
        so.retention_ms = o.retention_ms;
        if (o.ui_dir) {
            free(so.ui_dir);
            so.ui_dir = strdup(o.ui_dir);
        }
        rc = so.listen && so.data_dir && (!o.ui_dir || so.ui_dir)
                 ? km_sig_init()
                 : km_err_set(KM_ENOMEM, "out of memory");
    }
    if (rc == 0)
        rc = km_server_start(&srv, &so);
    if (rc) {
        fprintf(stderr, "kmon demo: %s\n", km_err_msg());
        /* make exports MAKELEVEL: `make demo` then needs the make command line. */
        km_listen_explain_failure(stderr, &cmd, o.listen, getenv("MAKELEVEL") ? "demo" : NULL);
        goto out_free_server_opts;
    }
    /* The agent, shipping to it over loopback. */
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/api/v1/write", km_server_port(srv));
    snprintf(spool, sizeof(spool), "%s/agent-spool", o.data);
    ship.url = url;
    ship.node = node;
    ship.cluster = o.cluster;
    ship.metadata_interval_ms = 60000;
    ship.ship.spool_dir = spool;
    ship.ship.spool_max = 256u * 1024 * 1024;
    ship.ship.timeout_ms = 30000;
    ship.ship.backoff_min_ms = 500;
    ship.ship.backoff_max_ms = 5000;
    rc = km_agent_start(a, &host, NULL);
    if (rc == 0)
        rc = km_ship_loop_create(&loop, a, &ship);
    if (rc) {
        fprintf(stderr, "kmon demo: %s\n", km_err_msg());
        goto out_stop_server;
    }
    km_log_info("demo", "kmon %s (%s): server on %s, data in %s; agent on node %s every %lld ms",
                KMON_VERSION, KMON_REVISION, o.listen, o.data, node, (long long)o.interval_ms);
    print_where(&o, km_server_port(srv), node);
    km_ship_loop_run(loop, o.interval_ms);
    status = 0;
    km_ship_loop_destroy(loop, 2000);

out_stop_server:
    km_server_destroy(srv, 5000);
    km_log_info("demo", "stopped");
out_free_server_opts:
    km_cfg_free_fields(km_server_fields, &so);
out_free_config:
    km_cfg_free(&cmd);
    km_agent_destroy(a);
    return status;
}
