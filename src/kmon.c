/*
 * kmon — the one binary: dispatches `kmon <command> [flags]` to the command's main.
 * Every command answers --help; `kmon help <command>` is the same.
 */
#include "agent/agent_main.h"
#include "demo/demo_main.h"
#include "logs/cmd/logs_main.h"
#include "query/query_main.h"
#include "rules/cmd/rules_main.h"
#include "server/auth/auth.h"
#include "server/mcp/mcp.h"
#include "server/server_main.h"
#include "sim/sim_main.h"
#include "tsdb/cmd/tsdb_main.h"
#include "version.h"

#include <stdio.h>
#include <string.h>

struct command {
    const char *name;
    const char *summary;
    int (*main)(int argc, char **argv);
};

static const struct command commands[] = {
    { "agent", "measure this node (/proc, /sys) and serve /metrics, or print one snapshot",
      km_agent_main },
    { "server", "store metrics (remote_write, JSON) and serve the REST API and /metrics",
      km_server_main },
    { "demo", "a server and an agent for this host in one process (try this first)", km_demo_main },
    { "query", "evaluate a PromQL expression over a data directory or a running server",
      km_query_main },
    { "tsdb", "tools over a data directory: inspect blocks, bytes per sample, verify checksums",
      km_tsdb_main },
    { "rules", "check and unit-test Prometheus rule files (recording and alerting rules)",
      km_rules_main },
    { "logs", "query the log store with LogQL (a data directory or a server), inspect it",
      km_logs_main },
    { "token", "make a bearer token for the server's --tokens file", km_token_main },
    { "simulate", "push a simulated cluster's agent and cluster-state series to a server",
      km_sim_main },
    { "mcp", "speak MCP over stdio to a server's /mcp (for desktop LLM clients)",
      km_mcp_stdio_main },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
    fprintf(out,
            "kmon %s — Kubernetes monitoring: a node agent (node-exporter and cAdvisor "
            "metrics)\nand a server that stores them (remote_write, JSON) in its own "
            "time-series database,\nanswers PromQL, the REST API and a dashboard, and "
            "evaluates recording and alerting\nrules (Alertmanager, webhooks)\n\n"
            "Usage: kmon <command> [flags]\n\nCommands:\n",
            KMON_VERSION);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "  %-10s %s\n", "help", "show this help, or a command's: kmon help <command>");
    fprintf(out, "  %-10s %s\n", "version", "print the version (also --version)");
    fprintf(out, "\nRun 'kmon <command> --help' for a command's flags. Every flag can also be "
                 "set\nwith a KMON_* environment variable or in a YAML file given by --config.\n");
}

static const struct command *find(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const struct command *c;

    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0 ||
        strcmp(argv[1], "-V") == 0) {
        printf("kmon %s (revision %s)\n", KMON_VERSION, KMON_REVISION);
        return 0;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        char *help_argv[] = { NULL, "--help", NULL };

        if (argc < 3 || strcmp(argv[1], "help") != 0) {
            usage(stdout);
            return 0;
        }
        c = find(argv[2]);
        if (!c) {
            fprintf(stderr, "kmon: no command named \"%s\"\n\n", argv[2]);
            usage(stderr);
            return 2;
        }
        help_argv[0] = argv[2];
        return c->main(2, help_argv);
    }
    c = find(argv[1]);
    if (!c) {
        fprintf(stderr, "kmon: unknown command \"%s\"\n\n", argv[1]);
        usage(stderr);
        return 2;
    }
    return c->main(argc - 1, argv + 1);
}
