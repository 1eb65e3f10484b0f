/*
 * logs_main — `kmon logs <command>`: `query` runs a LogQL query over a data directory's
 * log store (opened read-only, safe beside the server that holds it) or asks a server's
 * /loki/api/v1/query_range, and prints the lines (raw, one JSON object per line, or
 * Loki's `data` object); `inspect` says what a log store holds.
 *
 * Both sources give Loki's `data` object (the server's answer, or the same rendering
 * of a local evaluation), which one printer reads: the same query prints the same
 * either way. Exit status: 0 with the answer printed, 1 when the query fails, 2 for a
 * usage error.
 */
#include "logs/cmd/logs_main.h"

#include "common/buf.h"
#include "common/cfg.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/subcmd.h"
#include "common/timefmt.h"
#include "logql/logql.h"
#include "logs/logstore.h"
#include "query/query.h"
#include "version.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_DATA_DIR "./data"
#define MAX_ANSWER       (512u << 20) /* bytes of a server's answer read */

static const char *const other_commands[] = { "server", "query", "tsdb", NULL };

enum { OUT_RAW, OUT_JSONL, OUT_JSON };
static const char *const output_choices[] = { "raw", "jsonl", "json", NULL };

struct logs_query_opts {
    char *server, *data;
    struct km_query_client client; /* with --server */
    int64_t since_ms, timeout_ms, limit;
    bool forward;
    int output;
};

static const struct km_cfg_field query_fields[] = {
    { .name = "since",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct logs_query_opts, since_ms),
      .def = "1h",
      .help = "read the lines of this last stretch of time",
      .min = 1,
      .max = 100ll * 365 * 86400000 },
    { .name = "limit",
      .type = KM_CFG_INT,
      .offset = offsetof(struct logs_query_opts, limit),
      .def = "100",
      .help = "print at most this many lines (a log query)",
      .min = 1,
      .max = 1000000 },
    { .name = "forward",
      .type = KM_CFG_BOOL,
      .offset = offsetof(struct logs_query_opts, forward),
      .def = "false",
      .help = "oldest lines first (default: newest first, as Loki)" },
    { .name = "output",
      .type = KM_CFG_ENUM,
      .offset = offsetof(struct logs_query_opts, output),
      .def = "raw",
      .help = "raw (the lines), jsonl (one {\"ts\",\"labels\",\"line\"} object per line) or "
              "json (Loki's data object)",
      .choices = output_choices },
    { .name = "timeout",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct logs_query_opts, timeout_ms),
      .def = "2m",
      .help = "the longest the query may run",
      .min = 1000,
      .max = 86400000 },
    { .name = "data",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct logs_query_opts, data),
      .metavar = "DIR",
      .help = "query the log store of this data directory (DIR/logs), opened read-only "
              "(default " DEFAULT_DATA_DIR ")" },
    { .name = "server",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct logs_query_opts, server),
      .metavar = "URL",
      .help = "ask the kmon server (or any Loki) at this base URL instead (e.g. "
              "http://kmon:5000)" },
    KM_CFG_FIELDS_END,
};

/* DIR/logs when DIR is a data directory holding one, else DIR itself. */
static void logs_dir(const char *dir, struct km_buf *out)
{
    struct stat st;

    km_buf_printf(out, "%s/logs", dir);
    if (stat(km_buf_cstr(out), &st) == 0 && S_ISDIR(st.st_mode))
        return;
    km_buf_reset(out);
    km_buf_puts(out, dir);
}

/* ---- sources: both give Loki's data object ------------------------------------------- */

static int query_local(const struct logs_query_opts *o, const char *q, int64_t start, int64_t end,
                       struct km_buf *data)
{
    struct km_logstore_opts so = { .read_only = true };
    struct km_logstore *store = NULL;
    struct km_logql_expr *e = NULL;
    struct km_logql_result *res = NULL;
    struct km_logql_params p;
    struct km_log_source src;
    struct km_buf dir, err;
    int rc;

    km_buf_init(&dir, 0);
    km_buf_init(&err, 1u << 16);
    rc = km_logql_parse(&e, q, strlen(q), &err);
    if (rc) {
        if (err.len)
            km_err_set(rc, "%s", km_buf_cstr(&err));
        goto out;
    }
    logs_dir(o->data ? o->data : DEFAULT_DATA_DIR, &dir);
    so.dir = km_buf_cstr(&dir);
    rc = km_logstore_open(&store, &so);
    if (rc) {
        km_err_wrap(rc, "opening the log store in %s", so.dir);
        goto out;
    }
    km_logstore_source(store, &src);
    km_logql_params_default(&p);
    p.start_ns = start;
    p.end_ns = end;
    p.limit = (size_t)o->limit;
    p.direction = o->forward ? KM_LOGQL_FORWARD : KM_LOGQL_BACKWARD;
    p.deadline_ns = km_time_mono_ns() + o->timeout_ms * 1000000;
    if (km_logql_expr_kind(e) == KM_LOGQL_METRIC) {
        int64_t s = (end - start) / 1000000000 / 250;

        p.step_ns = (s < 1 ? 1 : s) * 1000000000ll;
    }
    rc = km_logql_eval(e, &src, &p, &res);
    if (rc == 0)
        rc = km_logql_render_data(data, res);
out:
    km_logql_result_destroy(res);
    km_logstore_close(store);
    km_logql_expr_destroy(e);
    km_buf_fini(&err);
    km_buf_fini(&dir);
    return rc;
}

/* GET base/loki/api/v1/query_range; *data receives the `data` object. */
static int query_remote(const struct logs_query_opts *o, const char *q, int64_t start, int64_t end,
                        struct km_buf *data)
{
    struct km_buf path, body;
    json_t *root = NULL, *d;
    long status = 0;
    char *esc, *s;
    int rc;

    km_buf_init(&path, 0);
    km_buf_init(&body, MAX_ANSWER);
    esc = curl_easy_escape(NULL, q, 0);
    if (!esc) {
        rc = km_err_set(KM_ENOMEM, "out of memory");
        goto out;
    }
    km_buf_printf(
        &path, "/loki/api/v1/query_range?query=%s&start=%lld&end=%lld&limit=%lld&direction=%s", esc,
        (long long)start, (long long)end, (long long)o->limit, o->forward ? "forward" : "backward");
    curl_free(esc);
    rc = km_buf_error(&path) ? km_err_set(KM_ENOMEM, "out of memory") : 0;
    if (rc == 0)
        rc = km_query_http(o->server, &o->client, km_buf_cstr(&path), NULL, 0,
                           "kmon-logs/" KMON_VERSION, o->timeout_ms, &body, &status);
    if (rc)
        goto out;
    root = json_loadb(body.data ? body.data : "", body.len, 0, NULL);
    if (status != 200) {
        json_t *m = json_object_get(root, "message");

        rc = km_err_set(KM_EINVAL, "the server answered %ld: %.*s", status,
                        json_is_string(m) ? (int)json_string_length(m) : (int)body.len,
                        json_is_string(m) ? json_string_value(m) : km_buf_cstr(&body));
        goto out_root;
    }
    d = json_object_get(root, "data");
    if (!json_is_object(d)) {
        rc = km_err_set(KM_ECORRUPT, "the server's answer has no data object");
        goto out_root;
    }
    s = json_dumps(d, JSON_COMPACT);
    if (!s) {
        rc = km_err_set(KM_ENOMEM, "out of memory");
        goto out_root;
    }
    km_buf_puts(data, s);
    free(s);
out_root:
    json_decref(root);
out:
    km_buf_fini(&body);
    km_buf_fini(&path);
    return rc;
}

/* ---- printing ------------------------------------------------------------------------ */

struct line {
    int64_t ts;
    const json_t *labels, *line;
};

static int by_ts(const void *a, const void *b)
{
    const struct line *x = a, *y = b;

    return (x->ts > y->ts) - (x->ts < y->ts);
}

static int by_ts_desc(const void *a, const void *b)
{
    return by_ts(b, a);
}

static void print_streams(const json_t *result, const struct logs_query_opts *o)
{
    struct line *v = NULL;
    size_t n = 0, cap = 0, i, k;
    const json_t *st, *val;

    json_array_foreach(result, i, st)
    {
        const json_t *values = json_object_get(st, "values");

        json_array_foreach(values, k, val)
        {
            if (n == cap) {
                struct line *nv;

                cap = cap ? cap * 2 : 256;
                nv = realloc(v, cap * sizeof(*v));
                if (!nv)
                    goto out;
                v = nv;
            }
            v[n].ts = strtoll(json_string_value(json_array_get(val, 0)) ?: "0", NULL, 10);
            v[n].labels = json_object_get(st, "stream");
            v[n].line = json_array_get(val, 1);
            n++;
        }
    }
    /* Streams come one after another: merge them into one time order. */
    if (n > 1)
        qsort(v, n, sizeof(*v), o->forward ? by_ts : by_ts_desc);
    for (i = 0; i < n && i < (size_t)o->limit; i++) {
        if (o->output == OUT_RAW) {
            fwrite(json_string_value(v[i].line), 1, json_string_length(v[i].line), stdout);
            fputc('\n', stdout);
        } else {
            char ts[48];
            json_t *obj = json_object();
            char *s;

            km_time_format_rfc3339(ts, sizeof(ts), v[i].ts, 9);
            json_object_set_new(obj, "ts", json_string(ts));
            json_object_set(obj, "labels", (json_t *)v[i].labels);
            json_object_set(obj, "line", (json_t *)v[i].line);
            s = json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII * 0);
            if (s)
                puts(s);
            free(s);
            json_decref(obj);
        }
    }
out:
    free(v);
}

/* A metric answer: one line per point, the series' labels then time and value. */
static void print_metric(const json_t *data)
{
    const json_t *result = json_object_get(data, "result"), *s, *pt;
    const char *type = json_string_value(json_object_get(data, "resultType"));
    size_t i, k;

    if (type && strcmp(type, "scalar") == 0) {
        printf("%s\n", json_string_value(json_array_get(result, 1)) ?: "");
        return;
    }
    json_array_foreach(result, i, s)
    {
        char *labels = json_dumps(json_object_get(s, "metric"), JSON_COMPACT | JSON_SORT_KEYS);
        const json_t *values = json_object_get(s, "values");

        if (!values)
            printf("%s %.3f %s\n", labels ? labels : "{}",
                   json_number_value(json_array_get(json_object_get(s, "value"), 0)),
                   json_string_value(json_array_get(json_object_get(s, "value"), 1)) ?: "");
        json_array_foreach(values, k, pt)
            printf("%s %.3f %s\n", labels ? labels : "{}", json_number_value(json_array_get(pt, 0)),
                   json_string_value(json_array_get(pt, 1)) ?: "");
        free(labels);
    }
}

static int print_data(const struct km_buf *data, const struct logs_query_opts *o)
{
    json_error_t jerr;
    json_t *d;
    const char *type;

    if (o->output == OUT_JSON) {
        fwrite(data->data, 1, data->len, stdout);
        fputc('\n', stdout);
        return 0;
    }
    d = json_loadb(data->data ? data->data : "", data->len, JSON_ALLOW_NUL, &jerr);
    if (!d)
        return km_err_set(KM_ECORRUPT, "the answer is not JSON: %s", jerr.text);
    type = json_string_value(json_object_get(d, "resultType"));
    if (type && strcmp(type, "streams") == 0)
        print_streams(json_object_get(d, "result"), o);
    else
        print_metric(d);
    json_decref(d);
    return 0;
}

static int query_main(int argc, char **argv)
{
    struct logs_query_opts o = { 0 };
    struct km_cfg_common common = { 0 };
    struct km_cfg_field general[8];
    struct km_cfg_cmd cmd = {
        .name = "logs-query",
        .usage = "kmon logs query [flags] 'LOGQL'",
        .summary = "Run a LogQL query over the log store of a data directory (read-only: safe "
                   "beside\nthe server that holds it) or of a running server (--server), and "
                   "print the\nlines, newest first unless --forward. A metric query prints one "
                   "line per point.",
        .other_commands = other_commands,
        .positional_ok = true,
    };
    struct km_buf data;
    char *rest[2];
    size_t nrest = 0;
    int64_t now = km_time_now_ns(), start;
    int rc, status = 2;

    km_buf_init(&data, MAX_ANSWER);
    km_query_general_fields(general, sizeof(general) / sizeof(general[0]));
    cmd.sections[cmd.nsections++] = (struct km_cfg_section){ "Query", query_fields, &o };
    cmd.sections[cmd.nsections++] = (struct km_cfg_section){ "Server connection (--server)",
                                                             km_query_client_fields, &o.client };
    cmd.sections[cmd.nsections++] = (struct km_cfg_section){ "General", general, &common };
    rc = km_cfg_parse(&cmd, argc, argv, rest, 2, &nrest);
    if (rc == KM_CFG_HELP) {
        km_cfg_help(&cmd, stdout);
        printf("\nExamples:\n"
               "  kmon logs query '{namespace=\"default\"} |= \"error\"'\n"
               "  kmon logs query --server http://kmon:5000 --since 15m --output jsonl "
               "'{app=\"api\"} | json | status >= 500'\n"
               "  kmon logs query 'sum by (pod) (count_over_time({namespace=\"x\"}[5m]))'\n");
        status = 0;
        goto out;
    }
    if (rc == 0 && nrest != 1)
        rc = km_err_set(KM_EINVAL, "give one LogQL query (quote it)");
    if (rc == 0 && o.data && o.server)
        rc = km_err_set(KM_EINVAL, "give --data or --server, not both");
    if (rc) {
        fprintf(stderr, "kmon logs query: %s\nRun 'kmon logs query --help' for the flags.\n",
                km_err_msg());
        goto out;
    }
    km_log_set_level((enum km_log_level)common.log_level);
    km_log_set_format((enum km_log_format)common.log_format);
    start = now - o.since_ms * 1000000;
    rc = o.server ? query_remote(&o, rest[0], start, now, &data)
                  : query_local(&o, rest[0], start, now + 1, &data);
    if (rc == 0)
        rc = print_data(&data, &o);
    if (rc) {
        fprintf(stderr, "kmon logs query: %s\n", km_err_msg());
        status = 1;
        goto out;
    }
    status = 0;
out:
    km_buf_fini(&data);
    km_cfg_free(&cmd);
    return status;
}

/* ---- inspect --------------------------------------------------------------------------- */

struct inspect_opts {
    bool json;
};

static const struct km_cfg_field inspect_fields[] = {
    { .name = "json",
      .type = KM_CFG_BOOL,
      .offset = offsetof(struct inspect_opts, json),
      .def = "false",
      .help = "print JSON instead of text" },
    KM_CFG_FIELDS_END,
};

static int inspect_main(int argc, char **argv)
{
    struct inspect_opts o = { 0 };
    struct km_cfg_common common = { 0 };
    struct km_cfg_cmd cmd = {
        .name = "logs-inspect",
        .usage = "kmon logs inspect [flags] DIR",
        .summary = "Say what a log store holds (DIR: a data directory or its logs/ folder): "
                   "streams,\nchunks, entries, bytes raw and compressed, the time range, the "
                   "WAL, the largest\nstreams. Read-only: safe beside a running server.",
        .other_commands = other_commands,
        .positional_ok = true,
    };
    struct km_buf dir;
    char *rest[2];
    size_t nrest = 0;
    int rc, status = 2;

    km_buf_init(&dir, 0);
    cmd.sections[cmd.nsections++] = (struct km_cfg_section){ "Inspect", inspect_fields, &o };
    cmd.sections[cmd.nsections++] =
        (struct km_cfg_section){ "General", km_cfg_common_fields, &common };
    rc = km_cfg_parse(&cmd, argc, argv, rest, 2, &nrest);
    if (rc == KM_CFG_HELP) {
        km_cfg_help(&cmd, stdout);
        status = 0;
        goto out;
    }
    if (rc == 0 && nrest != 1)
        rc = km_err_set(KM_EINVAL, "give the data directory");
    if (rc) {
        fprintf(stderr, "kmon logs inspect: %s\nRun 'kmon logs inspect --help' for the flags.\n",
                km_err_msg());
        goto out;
    }
    logs_dir(rest[0], &dir);
    rc = km_logstore_inspect(km_buf_cstr(&dir), o.json, stdout);
    if (rc) {
        fprintf(stderr, "kmon logs inspect: %s\n", km_err_msg());
        status = 1;
        goto out;
    }
    status = 0;
out:
    km_buf_fini(&dir);
    km_cfg_free(&cmd);
    return status;
}

static const struct km_subcmd subcommands[] = {
    { "query", "run a LogQL query over a data directory or a server and print the lines",
      query_main },
    { "inspect", "say what a log store holds (streams, chunks, bytes, time range)", inspect_main },
};

int km_logs_main(int argc, char **argv)
{
    static const struct km_subcmd_set set = {
        .who = "kmon logs",
        .usage = "kmon logs <command> [flags]",
        .about = "Tools over the log store: LogQL queries and inspection.",
        .cmds = subcommands,
        .n = sizeof(subcommands) / sizeof(subcommands[0]),
    };

    return km_subcmd_dispatch(&set, argc, argv);
}
