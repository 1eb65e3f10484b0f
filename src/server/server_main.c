/*
 * server_main — the `kmon server` command: settings, start, wait for SIGTERM/SIGINT,
 * graceful stop (requests in flight finish, the WAL is fsynced).
 */
#include "server/server_main.h"

#include "common/arenas.h"
#include "common/buf.h"
#include "common/cfg.h"
#include "common/err.h"
#include "common/listen.h"
#include "common/log.h"
#include "common/sig.h"
#include "server/server.h"
#include "version.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static const char *const other_commands[] = { "agent", "demo", "query", "tsdb", NULL };

int km_server_main(int argc, char **argv)
{
    struct km_server_opts o = { 0 };
    struct km_cfg_common common = { 0 };
    struct km_cfg_cmd cmd = {
        .name = "server",
        .usage = "kmon server [flags]",
        .summary = "Store metrics in the embedded time-series database and serve them:\n"
                   "  POST /api/v1/write              Prometheus remote_write 1.0 (agents, "
                   "Prometheus, vmagent, OTel)\n"
                   "  POST /api/nodes/<n>/metrics     the prototype's JSON (and "
                   "/api/namespaces/<ns>/pods/<p>/metrics)\n"
                   "  GET  /api/nodes, /api/pods, …   the prototype's REST API (docs/api.md)\n"
                   "  POST /loki/api/v1/push          Loki's push API (promtail, Alloy, Fluent "
                   "Bit, Vector, logging libraries; protobuf or JSON)\n"
                   "  GET  /loki/api/v1/query_range   LogQL and the rest of Loki's API (Grafana's "
                   "Loki data source, logcli); logs in DATA/logs\n"
                   "  GET  /, /healthz, /readyz       health; GET /metrics about kmon itself",
        .other_commands = other_commands,
    };
    struct km_server *s = NULL;
    int rc, status = 1;

    /* Few malloc arenas: the HTTP threads' scratch is reused, and per-thread arenas would
     * each hold on to their own peak. */
    km_malloc_arenas(2);
    cmd.sections[cmd.nsections++] = (struct km_cfg_section){ "Server", km_server_fields, &o };
    cmd.sections[cmd.nsections++] =
        (struct km_cfg_section){ "Cluster state (with --cluster-state)", km_kstate_fields, &o.cs };
    cmd.sections[cmd.nsections++] =
        (struct km_cfg_section){ "General", km_cfg_common_fields, &common };
    if (!km_cfg_start_command(&cmd, &common, argc, argv, "kmon server", &status))
        goto out_free_config;
    if (km_server_storage_usage_error(&o)) {
        fprintf(stderr, "kmon server: %s\n", km_server_storage_usage_error(&o));
        status = 2;
        goto out_free_config;
    }
    rc = km_sig_init();
    if (rc == 0)
        rc = km_server_start(&s, &o);
    if (rc) {
        fprintf(stderr, "kmon server: %s\n", km_err_msg());
        km_listen_explain_failure(stderr, &cmd, o.listen, NULL);
        goto out_free_config;
    }
    km_log_info("server",
                "kmon server %s (%s) ready: API and remote_write on http%s://%s%s/ (POST "
                "/api/v1/write), data in %s",
                KMON_VERSION, KMON_REVISION, o.tls_cert ? "s" : "",
                o.listen[0] == ':' ? "localhost" : "", o.listen, o.data_dir);
    for (;;) {
        int sig = km_sig_wait(60000);

        if (sig == SIGHUP) {
            struct km_buf errs;

            km_log_info("server", "SIGHUP: reloading the rule files");
            km_buf_init(&errs, 1u << 20);
            km_server_reload(s, &errs);
            km_buf_fini(&errs);
        } else if (sig != 0) {
            break;
        }
    }
    km_log_info("server", "stopping: finishing requests, syncing the write-ahead log");
    km_server_destroy(s, 10000);
    km_log_info("server", "stopped");
    status = 0;

out_free_config:
    km_cfg_free(&cmd);
    return status;
}
