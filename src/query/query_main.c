/*
 * query_main — the `kmon query` command (see query_main.h): its settings, the times of
 * the query, the choice of source, and what a person reads when something fails (a parse
 * error is shown with a caret under the place Prometheus' message names). The parts are
 * in query.h.
 *
 * Exit status: 0 with the answer printed, 1 when the query fails, 2 for a usage error.
 */
#include "query/query_main.h"

#include "common/buf.h"
#include "common/cfg.h"
#include "common/err.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "query/query.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_DATA_DIR "./data" /* the server's --data default */
#define DEFAULT_RANGE_MS 3600000  /* --start when only --end or --step is given: an hour */

struct query_opts {
    char *time, *start, *end;
    int64_t step_ms, lookback_ms, max_samples, timeout_ms;
    int output; /* enum km_query_output */
    char *data, *server;
    struct km_query_client client; /* with --server */
};

static const char *const output_choices[] = { "table", "json", "csv", NULL };
static const char *const other_commands[] = { "agent", "server", "demo", "tsdb", NULL };

static const struct km_cfg_field query_fields[] = {
    { .name = "time",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct query_opts, time),
      .metavar = "TIME",
      .help = "evaluate an instant query at this time (default now)" },
    { .name = "start",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct query_opts, start),
      .metavar = "TIME",
      .help = "make it a range query from this time (default: an hour before --end)" },
    { .name = "end",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct query_opts, end),
      .metavar = "TIME",
      .help = "make it a range query up to this time (default now)" },
    { .name = "step",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct query_opts, step_ms),
      .help = "make it a range query with this resolution (default: the range over 250 points "
              "in whole seconds, at least 1s, as promtool chooses)",
      .min = 1,
      .max = 100ll * 365 * 86400000 },
    { .name = "lookback-delta",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct query_opts, lookback_ms),
      .help = "how far back a selector looks for a series' newest sample (default 5m, as the "
              "server's --query-lookback-delta; with --data only: a server uses its own)",
      .min = 1000,
      .max = 86400000 },
    { .name = "max-samples",
      .type = KM_CFG_INT,
      .offset = offsetof(struct query_opts, max_samples),
      .help = "samples the query may hold in memory at once (default 50000000, as the "
              "server's --query-max-samples; with --data only: a server uses its own)",
      .min = 1,
      .max = INT64_MAX },
    { .name = "timeout",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct query_opts, timeout_ms),
      .def = "2m",
      .help = "the longest the query may run (with --server it is sent along, and may only "
              "shorten the server's --query-timeout)",
      .min = 1000,
      .max = 86400000 },
    { .name = "output",
      .type = KM_CFG_ENUM,
      .offset = offsetof(struct query_opts, output),
      .def = "table",
      .help = "table (a line per point, aligned, for people and grep), json (the API's "
              "\"data\" object, for jq) or csv (a column per label, then timestamp and value)",
      .choices = output_choices },
    KM_CFG_FIELDS_END,
};

static const struct km_cfg_field source_fields[] = {
    { .name = "data",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct query_opts, data),
      .metavar = "DIR",
      .help = "evaluate here over this data directory, opened read-only: safe beside the "
              "server that holds it (default " DEFAULT_DATA_DIR ", the server's)" },
    { .name = "server",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct query_opts, server),
      .metavar = "URL",
      .help = "ask the kmon server (or any Prometheus) at this base URL instead, through "
              "/api/v1/query and /api/v1/query_range (e.g. http://kmon:5000)" },
    KM_CFG_FIELDS_END,
};

static void print_help(const struct km_cfg_cmd *c)
{
    km_cfg_help(c, stdout);
    printf("\nTIME is RFC 3339 (2025-06-12T10:00:00Z), seconds since the epoch (1749722400),\n"
           "now, or a duration from now (-1h, now-30m, +5m).\n"
           "\nExamples:\n"
           "  kmon query up                                    # now, over ./data\n"
           "  kmon query --data /var/lib/kmon 'sum by (node) (rate(node_cpu_seconds_total[5m]))'\n"
           "  kmon query --server http://kmon:5000 --time 2025-06-12T10:00:00Z 'up == 0'\n"
           "  kmon query --start -1h --step 1m 'kmon_node_memory_bytes'   # the last hour\n"
           "  kmon query --output json up | jq -r '.result[].metric.instance'\n"
           "  kmon query --output csv --start -6h up > up.csv\n"
           "  kmon query - < query.promql                      # the expression from stdin\n"
           "\nExit status: 0 with the answer printed (an empty one too); 1 when the query\n"
           "fails: not valid PromQL (Prometheus' message, a caret under the place), refused\n"
           "or failed by the engine, no data directory, a server that cannot be reached or\n"
           "answers an error; 2 for a bad flag or time.\n");
}

/* The expression: the argument, or standard input for "-" (*owned is then the caller's). */
static int read_expr(const char *arg, const char **expr, char **owned)
{
    struct km_buf b;
    char chunk[65536];
    size_t n;

    if (strcmp(arg, "-") != 0) {
        *expr = arg;
        return 0;
    }
    km_buf_init(&b, KM_LIMIT_PROMQL_QUERY);
    while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
        km_buf_append(&b, chunk, n);
    if (ferror(stdin) || km_buf_error(&b)) {
        int rc = km_buf_error(&b) == KM_ELIMIT
                     ? km_err_set(KM_ELIMIT,
                                  "the expression on standard input is longer than "
                                  "kmon parses (%u MiB)",
                                  KM_LIMIT_PROMQL_QUERY >> 20)
                     : km_err_set(KM_EIO, "cannot read the expression from standard input");

        km_buf_fini(&b);
        return rc;
    }
    km_buf_putc(&b, '\0'); /* an empty input is still a string */
    *owned = km_buf_detach(&b, NULL);
    *expr = *owned;
    return 0;
}

/* A time flag, within Prometheus' range of times (so no arithmetic on it overflows). */
static int parse_time_flag(const char *name, const char *text, int64_t now, int64_t *ms)
{
    int rc = km_query_parse_time(text, now, ms);

    if (rc)
        return km_err_wrap(rc, "--%s", name);
    if (*ms < KM_TIME_PROM_MIN_MS || *ms > KM_TIME_PROM_MAX_MS)
        return km_err_set(KM_EINVAL, "--%s: \"%s\" is beyond the times Prometheus knows", name,
                          text);
    return 0;
}

/* The range flags into q; their checks are the API's, said as flags. */
static int resolve_range(const struct query_opts *o, int64_t now, struct km_query_req *q)
{
    char a[64], b[64], d[32];
    int rc;

    q->range = true;
    q->end_ms = now;
    rc = o->end ? parse_time_flag("end", o->end, now, &q->end_ms) : 0;
    q->start_ms = q->end_ms - DEFAULT_RANGE_MS;
    if (rc == 0 && o->start)
        rc = parse_time_flag("start", o->start, now, &q->start_ms);
    if (rc)
        return rc;
    if (q->end_ms < q->start_ms)
        return km_err_set(KM_EINVAL, "--end (%s) is before --start (%s)",
                          km_time_format_ms(a, sizeof(a), q->end_ms),
                          km_time_format_ms(b, sizeof(b), q->start_ms));
    q->step_ms = o->step_ms ? o->step_ms : km_query_auto_step(q->start_ms, q->end_ms);
    if ((q->end_ms - q->start_ms) / q->step_ms > KM_QUERY_MAX_POINTS) {
        km_duration_format(d, sizeof(d), q->step_ms);
        return km_err_set(KM_EINVAL,
                          "from --start to --end at a --step of %s is %lld points per series; "
                          "Prometheus and kmon answer at most %d: give a larger --step",
                          d, (long long)((q->end_ms - q->start_ms) / q->step_ms + 1),
                          KM_QUERY_MAX_POINTS);
    }
    return 0;
}

/* Check the settings together and resolve the query's times against `now`. */
static int resolve(const struct query_opts *o, int64_t now, struct km_query_req *q)
{
    bool range = o->start || o->end || o->step_ms;

    if (range && o->time)
        return km_err_set(KM_EINVAL, "--time is for an instant query; a range query takes "
                                     "--start, --end and --step");
    if (o->data && o->server)
        return km_err_set(KM_EINVAL, "give --data or --server, not both");
    if (o->server && (o->lookback_ms || o->max_samples))
        return km_err_set(KM_EINVAL, "--lookback-delta and --max-samples apply to --data: a "
                                     "server uses its own --query-lookback-delta and "
                                     "--query-max-samples");
    if (o->server && strncmp(o->server, "http://", 7) != 0 &&
        strncmp(o->server, "https://", 8) != 0)
        return km_err_set(KM_EINVAL,
                          "--server wants a URL starting with http:// or https:// (e.g. "
                          "http://kmon:5000), not \"%s\"",
                          o->server);
    q->lookback_ms = o->lookback_ms;
    q->max_samples = (uint64_t)o->max_samples;
    q->timeout_ms = o->timeout_ms;
    if (range)
        return resolve_range(o, now, q);
    q->time_ms = now;
    return o->time ? parse_time_flag("time", o->time, now, &q->time_ms) : 0;
}

/* Under a parse error, the line of the expression it names and a caret under its column
 * (Prometheus counts columns in bytes; tabs are kept so the caret lines up). */
static void print_caret(const char *expr, unsigned line, unsigned col)
{
    const char *p = expr;
    size_t len;

    for (unsigned l = 1; l < line && p; l++) {
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    if (!p || col == 0)
        return;
    len = strcspn(p, "\n");
    if (col - 1 > len)
        return;
    fprintf(stderr, "  %.*s\n  ", (int)len, p);
    for (size_t i = 0; i + 1 < col; i++) {
        if (p[i] == '\t')
            fputc('\t', stderr);
        else if (((unsigned char)p[i] & 0xC0) != 0x80)
            fputc(' ', stderr);
    }
    fputs("^\n", stderr);
}

/* Say why the query failed; a parse error ("1:5: parse error: …", from here or from the
 * server) with the expression and a caret. */
static void print_failure(const char *expr, const char *msg)
{
    unsigned line, col;
    int n = 0;

    if (sscanf(msg, "%u:%u: parse error: %n", &line, &col, &n) == 2 && n > 0) {
        fprintf(stderr, "kmon query: the expression is not valid PromQL: %s\n", msg);
        print_caret(expr, line, col);
        return;
    }
    fprintf(stderr, "kmon query: %s\n", msg);
}

/* Run the query and print its answer; the exit status. */
static int run_query(const struct query_opts *o, const struct km_query_req *q)
{
    struct km_query_answer a;
    int rc = o->server ? km_query_remote(o->server, &o->client, q, &a)
                       : km_query_local(o->data ? o->data : DEFAULT_DATA_DIR, q, &a);

    if (rc) {
        print_failure(q->expr, km_err_msg());
        return 1;
    }
    for (const char *w = a.warnings; w && *w;) {
        size_t n = strcspn(w, "\n");

        fprintf(stderr, "kmon query: warning: %.*s\n", (int)n, w);
        w += n + (w[n] == '\n');
    }
    rc = km_query_print(stdout, &a.r, (enum km_query_output)o->output);
    if (rc)
        fprintf(stderr, "kmon query: %s\n", km_err_msg());
    else if (o->output == KM_QUERY_OUTPUT_TABLE && km_query_result_empty(&a.r) &&
             isatty(STDOUT_FILENO))
        fprintf(stderr, "(no series)\n");
    km_query_answer_fini(&a);
    return rc ? 1 : 0;
}

int km_query_main(int argc, char **argv)
{
    struct query_opts o = { 0 };
    struct km_cfg_common common = { 0 };
    struct km_cfg_field general[8];
    struct km_cfg_cmd cmd = {
        .name = "query",
        .usage = "kmon query [flags] EXPR",
        .summary = "Evaluate the PromQL expression EXPR and print the answer, as the server's\n"
                   "/api/v1/query (an instant query, at --time) and /api/v1/query_range (with\n"
                   "--start, --end or --step) answer it. The data comes from a data directory\n"
                   "opened read-only (--data: safe beside the server that holds it) or from a\n"
                   "running kmon server or any Prometheus (--server); the same expression gives\n"
                   "the same answer either way.",
        .other_commands = other_commands,
        .positional_ok = true,
    };
    struct km_query_req q = { 0 };
    char *rest[2], *owned_expr = NULL;
    size_t nrest = 0;
    int rc, status = 2;

    km_query_general_fields(general, sizeof(general) / sizeof(general[0]));
    cmd.sections[cmd.nsections++] = (struct km_cfg_section){ "Query", query_fields, &o };
    cmd.sections[cmd.nsections++] = (struct km_cfg_section){ "Source", source_fields, &o };
    cmd.sections[cmd.nsections++] = (struct km_cfg_section){ "Server connection (--server)",
                                                             km_query_client_fields, &o.client };
    cmd.sections[cmd.nsections++] = (struct km_cfg_section){ "General", general, &common };
    rc = km_cfg_parse(&cmd, argc, argv, rest, 2, &nrest);
    if (rc == KM_CFG_HELP) {
        print_help(&cmd);
        status = 0;
        goto out_free_config;
    }
    if (rc == 0 && nrest != 1)
        rc = km_err_set(KM_EINVAL, nrest ? "give one expression (quote it: kmon query 'sum(up)')"
                                         : "give the expression to evaluate");
    /* Now in whole seconds: times read cleanly, and a range's steps fall on seconds. */
    if (rc == 0)
        rc = resolve(&o, km_time_now_ns() / 1000000000 * 1000, &q);
    if (rc == 0)
        rc = read_expr(rest[0], &q.expr, &owned_expr);
    if (rc) {
        fprintf(stderr, "kmon query: %s\nRun 'kmon query --help' for the flags.\n", km_err_msg());
        goto out_free_config;
    }
    km_log_set_level((enum km_log_level)common.log_level);
    km_log_set_format((enum km_log_format)common.log_format);
    status = run_query(&o, &q);

out_free_config:
    free(owned_expr);
    km_cfg_free(&cmd);
    return status;
}
