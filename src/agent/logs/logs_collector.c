/*
 * logs_collector — the "logs" collector: settings, starting the sender, counters (see
 * logs.h).
 */
#include "agent/logs/logs.h"

#include "agent/collectors/pods.h"
#include "agent/logs/logship.h"
#include "agent/logs/tailer.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const mode_choices[] = { "auto", "on", "off", NULL };
static const char *const encoding_choices[] = { "protobuf", "json", NULL };

enum { MODE_AUTO, MODE_ON, MODE_OFF };

struct logs_ctx {
    int mode;
    char *state_dir, *multiline, *url;
    uint64_t max_line, batch_bytes;
    int encoding;
    struct km_tailer *t;
    struct km_logship *s;
    char state_buf[4096], url_buf[2048];
};

static const struct km_cfg_field logs_cfg[] = {
    { .name = "logs",
      .type = KM_CFG_ENUM,
      .offset = offsetof(struct logs_ctx, mode),
      .def = "auto",
      .help = "collect every container's log under <host-root>/var/log/pods and ship it to "
              "the server's /loki/api/v1/push: auto (when shipping to a kmon --server or "
              "--logs-url is set, and the directory exists at start), on, off",
      .choices = mode_choices },
    { .name = "logs-state-dir",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct logs_ctx, state_dir),
      .metavar = "DIR",
      .help = "where the read positions are checkpointed (default /var/lib/kmon/logs as "
              "root, beside the spool, else ./kmon-agent-logs); keep it across restarts" },
    { .name = "logs-max-line",
      .type = KM_CFG_SIZE,
      .offset = offsetof(struct logs_ctx, max_line),
      .def = "256KiB",
      .help = "cap of a log line once the runtime's partial lines are joined (keep it at "
              "most the server's --logs-max-line-size); a longer line is cut into pieces of "
              "this size, each but the last ending with \"" KM_TAILER_SPLIT_MARK "\" (and "
              "a timestamp 1 ns after the previous piece's); also the cap of a multiline "
              "record" },
    { .name = "logs-multiline",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct logs_ctx, multiline),
      .metavar = "NS[/CONTAINER]=REGEX;...",
      .help = "join lines into records (stack traces): in the containers named (NS/* or "
              "*/CONTAINER for any), a line not matching REGEX (a start of record, e.g. "
              "^\\d{4}-) is appended to the one before; rules separated by ';' or newlines, "
              "the first that names a container wins" },
    { .name = "logs-batch-bytes",
      .type = KM_CFG_SIZE,
      .offset = offsetof(struct logs_ctx, batch_bytes),
      .def = "1MiB",
      .help = "log text in one push request (memory use is a small multiple of this)" },
    { .name = "logs-url",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct logs_ctx, url),
      .metavar = "URL",
      .help = "push logs here instead of <--server>/loki/api/v1/push (any Loki push "
              "endpoint)" },
    { .name = "logs-encoding",
      .type = KM_CFG_ENUM,
      .offset = offsetof(struct logs_ctx, encoding),
      .def = "protobuf",
      .help = "the push body: protobuf (snappy, as promtail sends) or json (Loki's JSON "
              "form, for debugging)",
      .choices = encoding_choices },
    KM_CFG_FIELDS_END,
};

/* Set once by agent_main before the collectors start, read by init. */
static struct {
    char server[2048], cluster[256];
    bool has_server, run;
    int64_t timeout_ms;
    struct km_httpc_auth *auth;
} target = { .timeout_ms = 30000 };

void km_logs_set_target(const struct km_logs_target *t)
{
    target.has_server = t->server && *t->server;
    snprintf(target.server, sizeof(target.server), "%s", t->server ? t->server : "");
    snprintf(target.cluster, sizeof(target.cluster), "%s", t->cluster ? t->cluster : "default");
    target.timeout_ms = t->timeout_ms > 0 ? t->timeout_ms : 30000;
    target.run = t->run;
    target.auth = t->auth;
}

struct km_httpc_auth *km_logs_server_auth(void)
{
    return target.auth;
}

/* <--server>/loki/api/v1/push into url. */
static void server_push_url(char *url, size_t size)
{
    size_t n = strlen(target.server);

    while (n && target.server[n - 1] == '/')
        n--;
    snprintf(url, size, "%.*s/loki/api/v1/push", (int)n, target.server);
}

bool km_logs_server_push(char *url, size_t size, const char **cluster, int64_t *timeout_ms)
{
    if (!target.has_server || !target.run)
        return false;
    server_push_url(url, size);
    *cluster = target.cluster;
    *timeout_ms = target.timeout_ms;
    return true;
}

static int logs_init(void *vctx, const struct km_host *host)
{
    struct logs_ctx *ctx = vctx;
    struct km_tailer_opts to = { 0 };
    struct km_logship_opts so = { 0 };
    char pods[4096];
    struct stat sb;
    bool have_dir;
    const char *url = NULL, *state;
    int rc;

    snprintf(pods, sizeof(pods), "%s/var/log/pods", strcmp(host->root, "/") == 0 ? "" : host->root);
    have_dir = stat(pods, &sb) == 0 && S_ISDIR(sb.st_mode);
    if (ctx->url && *ctx->url) {
        url = ctx->url;
    } else if (target.has_server) {
        server_push_url(ctx->url_buf, sizeof(ctx->url_buf));
        url = ctx->url_buf;
    }
    if (ctx->mode == MODE_OFF)
        return 0;
    if (!url) {
        if (ctx->mode == MODE_ON)
            return km_err_set(KM_EINVAL, "--logs on needs --server or --logs-url");
        return 0;
    }
    if (ctx->mode == MODE_AUTO && !have_dir) {
        km_log_info("logs", "%s does not exist: log collection is off (--logs on to wait for it)",
                    pods);
        return 0;
    }
    if (ctx->max_line < KM_TAILER_LINE_MIN || ctx->max_line > KM_TAILER_LINE_MAX ||
        ctx->batch_bytes < 1024 || ctx->batch_bytes > KM_TAILER_BATCH_MAX)
        return km_err_set(KM_EINVAL,
                          "--logs-max-line must be 256 B to 64 MiB and --logs-batch-bytes 1 KiB "
                          "to 64 MiB");
    state = ctx->state_dir && *ctx->state_dir ? ctx->state_dir
            : geteuid() == 0                  ? "/var/lib/kmon/logs"
                                              : "./kmon-agent-logs";
    snprintf(ctx->state_buf, sizeof(ctx->state_buf), "%s", state);
    to.root = host->root;
    to.state_dir = ctx->state_buf;
    to.cluster = target.cluster;
    to.node = host->node_name;
    to.max_line = (size_t)ctx->max_line;
    to.batch_bytes = (size_t)ctx->batch_bytes;
    to.multiline = ctx->multiline;
    to.workload = km_pods_workload; /* the pods collector's metadata, when it has some */
    if (!target.run) {
        /* --once: check the settings only. */
        rc = km_tailer_open(&ctx->t, &(struct km_tailer_opts){ .root = host->root,
                                                               .max_line = to.max_line,
                                                               .batch_bytes = to.batch_bytes,
                                                               .multiline = to.multiline });
        km_tailer_close(ctx->t);
        ctx->t = NULL;
        return rc;
    }
    rc = km_mkdir_setting(ctx->state_buf, 0750, "log state directory", "logs-state-dir");
    if (rc)
        return KM_EINVAL; /* its sentence is set: the agent stops with it */
    rc = km_tailer_open(&ctx->t, &to);
    if (rc)
        return rc;
    so.url = url;
    so.auth = target.auth;
    so.json = ctx->encoding == 1;
    so.timeout_ms = target.timeout_ms;
    rc = km_logship_start(&ctx->s, ctx->t, &so);
    if (rc) {
        km_tailer_close(ctx->t);
        ctx->t = NULL;
        return rc;
    }
    km_log_info("logs", "shipping container logs from %s to %s (%s); positions in %s", pods, url,
                so.json ? "JSON" : "protobuf", ctx->state_buf);
    return 0;
}

static void logs_collect(void *vctx, struct km_collect *c)
{
    struct logs_ctx *ctx = vctx;

    km_mset_gauge(c->out, "kmon_agent_logs_enabled", "1 when container logs are collected.",
                  ctx->s ? 1 : 0);
    if (!ctx->s)
        return;
    km_tailer_metrics(ctx->t, c->out);
    km_logship_metrics(ctx->s, c->out);
}

static void logs_fini(void *vctx)
{
    struct logs_ctx *ctx = vctx;

    km_logship_stop(ctx->s, 2000);
    ctx->s = NULL;
    km_tailer_close(ctx->t);
    ctx->t = NULL;
}

const struct km_collector_ops km_collector_logs = {
    .version = KM_COLLECTOR_OPS_V1,
    .name = "logs",
    .help = "container logs from /var/log/pods, shipped to the server (--logs)",
    .cfg = logs_cfg,
    .ctx_size = sizeof(struct logs_ctx),
    .init = logs_init,
    .collect = logs_collect,
    .fini = logs_fini,
};
