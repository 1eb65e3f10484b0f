/*
 * tsdb_dump — `kmon tsdb dump DIR`: print the stored samples of the series that match
 * (by metric name and label matchers), over a time range, read-only (safe beside a
 * running server). Text is the Prometheus exposition format with timestamps, one
 * sample per line; JSON is one object per series per line.
 */
#include "common/buf.h"
#include "common/cfg.h"
#include "common/err.h"
#include "common/expfmt.h"
#include "common/jsonw.h"
#include "common/log.h"
#include "common/numfmt.h"
#include "tsdb/cmd/tsdb_main.h"
#include "tsdb/tsdb.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MATCHERS 32

struct dump_opts {
    char *metric;
    char *labels; /* name=value,name!=value,name=~re,name!~re */
    int64_t min_ms, max_ms;
    int format; /* 0 text, 1 json */
};

static const struct km_cfg_field dump_fields[] = {
    { .name = "metric",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct dump_opts, metric),
      .metavar = "NAME",
      .help = "only series of this metric" },
    { .name = "label",
      .type = KM_CFG_LIST,
      .offset = offsetof(struct dump_opts, labels),
      .metavar = "MATCHER,...",
      .help = "only series matching these: name=value, name!=value, name=~regex, name!~regex "
              "(regexes anchored, as in PromQL)" },
    { .name = "min-time",
      .type = KM_CFG_INT,
      .offset = offsetof(struct dump_opts, min_ms),
      .def = "-9223372036854775807",
      .metavar = "MS",
      .help = "first timestamp (milliseconds since the epoch)" },
    { .name = "max-time",
      .type = KM_CFG_INT,
      .offset = offsetof(struct dump_opts, max_ms),
      .def = "9223372036854775807",
      .metavar = "MS",
      .help = "last timestamp (milliseconds since the epoch)" },
    { .name = "format",
      .type = KM_CFG_ENUM,
      .offset = offsetof(struct dump_opts, format),
      .def = "text",
      .help = "text (exposition format with timestamps) or json (a series per line)",
      .choices = km_tsdb_format_choices },
    KM_CFG_FIELDS_END,
};

/* "name=value" and friends into a matcher. */
static int parse_matcher(const char *s, struct km_matcher **out)
{
    static const struct {
        const char *op;
        enum km_match_type type;
    } ops[] = {
        { "!~", KM_MATCH_NRE }, { "=~", KM_MATCH_RE }, { "!=", KM_MATCH_NEQ }, { "=", KM_MATCH_EQ }
    };
    const char *best = NULL;
    size_t bi = 0;
    char name[256];

    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        const char *p = strstr(s, ops[i].op);

        if (p && (!best || p < best || (p == best && strlen(ops[i].op) > strlen(ops[bi].op)))) {
            best = p;
            bi = i;
        }
    }
    if (!best || best == s || (size_t)(best - s) >= sizeof(name))
        return km_err_set(KM_EINVAL,
                          "bad label matcher \"%s\" (want name=value, name!=value, "
                          "name=~regex or name!~regex)",
                          s);
    snprintf(name, sizeof(name), "%.*s", (int)(best - s), s);
    return km_matcher_create(out, ops[bi].type, name, best + strlen(ops[bi].op));
}

static void print_text(struct km_tsdb_series_set *ss, struct km_buf *b)
{
    const struct km_labels *l = km_tsdb_series_labels(ss);
    const char *name = km_labels_get(l, KM_METRIC_NAME_LABEL);
    struct km_label rest[256];
    size_t n = 0;
    int64_t t;
    double v;

    for (size_t i = 0; i < l->n && n < 256; i++) {
        if (strcmp(l->v[i].name, KM_METRIC_NAME_LABEL) != 0)
            rest[n++] = l->v[i];
    }
    while (km_tsdb_series_sample(ss, &t, &v))
        km_expfmt_sample(b, name ? name : "", rest, n, v, true, t);
}

static void print_json(struct km_tsdb_series_set *ss, struct km_buf *b)
{
    const struct km_labels *l = km_tsdb_series_labels(ss);
    struct km_jsonw w;
    int64_t t;
    double v;

    km_jsonw_init(&w, b);
    km_jsonw_obj_begin(&w);
    km_jsonw_key(&w, "labels");
    km_jsonw_obj_begin(&w);
    for (size_t i = 0; i < l->n; i++) {
        km_jsonw_key(&w, l->v[i].name);
        km_jsonw_str(&w, l->v[i].value);
    }
    km_jsonw_obj_end(&w);
    km_jsonw_key(&w, "samples");
    km_jsonw_arr_begin(&w);
    while (km_tsdb_series_sample(ss, &t, &v)) {
        char num[KM_FMT_DOUBLE_MAX];

        km_jsonw_arr_begin(&w);
        km_jsonw_i64(&w, t);
        /* As the Prometheus API writes values: a string, so NaN and ±Inf survive. */
        km_fmt_double(num, v);
        km_jsonw_str(&w, num);
        km_jsonw_arr_end(&w);
    }
    km_jsonw_arr_end(&w);
    km_jsonw_obj_end(&w);
    km_buf_putc(b, '\n');
}

int km_tsdb_dump_main(int argc, char **argv)
{
    struct dump_opts o = { 0 };
    struct km_cfg_common common = { 0 };
    struct km_cfg_cmd cmd = {
        .name = "tsdb",
        .usage = "kmon tsdb dump [flags] DIR",
        .summary = "Print the samples stored in the data directory DIR (blocks and the head the\n"
                   "WAL holds) of the series matching --metric and --label, within --min-time\n"
                   "and --max-time. Read-only: safe beside a running server.",
        .other_commands = km_tsdb_other_commands,
        .positional_ok = true,
    };
    struct km_matcher *m[MAX_MATCHERS];
    size_t nm = 0;
    const char *dir = NULL;
    struct km_tsdb_opts to;
    struct km_tsdb *db = NULL;
    struct km_tsdb_query *q = NULL;
    struct km_tsdb_series_set *ss = NULL;
    struct km_buf b;
    int rc, status = 1;

    km_buf_init(&b, 0);
    cmd.sections[cmd.nsections++] = (struct km_cfg_section){ "Dump", dump_fields, &o };
    cmd.sections[cmd.nsections++] =
        (struct km_cfg_section){ "General", km_cfg_common_fields, &common };
    if (!km_tsdb_start_dir_command(&cmd, &common, argc, argv, "kmon tsdb dump", &dir, &status))
        goto out_free_config;
    rc = o.metric ? km_matcher_create(&m[nm++], KM_MATCH_EQ, KM_METRIC_NAME_LABEL, o.metric) : 0;
    if (rc == 0 && o.labels) {
        char *items[MAX_MATCHERS];
        size_t n = km_cfg_split_list(o.labels, items, MAX_MATCHERS - 1);

        for (size_t i = 0; rc == 0 && i < n; i++) {
            rc = parse_matcher(items[i], &m[nm]);
            if (rc == 0)
                nm++;
        }
    }
    if (rc == 0 && nm == 0)
        rc = km_matcher_create(&m[nm++], KM_MATCH_RE, KM_METRIC_NAME_LABEL, ".+");
    if (rc) {
        fprintf(stderr, "kmon tsdb dump: %s\nRun 'kmon tsdb dump --help' for the flags.\n",
                km_err_msg());
        status = 2;
        goto out_free_matchers;
    }
    km_tsdb_opts_default(&to);
    to.dir = dir;
    to.read_only = true;
    to.retention_ms = KM_TSDB_MAX_SPAN_MS; /* every old sample there is */
    to.no_background = true;
    rc = km_tsdb_open(&db, &to);
    if (rc == 0)
        rc = km_tsdb_query_open(db, o.min_ms, o.max_ms, &q);
    if (rc == 0)
        rc = km_tsdb_select(q, m, nm, &ss);
    if (rc) {
        fprintf(stderr, "kmon tsdb dump: %s\n", km_err_msg());
        goto out_close;
    }
    status = 0;
    while (km_tsdb_series_next(ss)) {
        if (o.format == 1)
            print_json(ss, &b);
        else
            print_text(ss, &b);
        if (b.len > 1 << 20 || km_buf_error(&b)) {
            if (km_buf_error(&b) || fwrite(b.data, 1, b.len, stdout) != b.len)
                status = 1;
            km_buf_reset(&b);
        }
    }
    if (km_tsdb_series_error(ss)) {
        fprintf(stderr, "kmon tsdb dump: %s\n", km_err_msg());
        status = 1;
    }
    if (b.len && fwrite(b.data, 1, b.len, stdout) != b.len)
        status = 1;
    if (fflush(stdout) != 0)
        status = 1;

out_close:
    km_tsdb_series_set_destroy(ss);
    km_tsdb_query_close(q);
    km_tsdb_close(db);
out_free_matchers:
    for (size_t i = 0; i < nm; i++)
        km_matcher_destroy(m[i]);
out_free_config:
    km_cfg_free(&cmd);
    km_buf_fini(&b);
    return status;
}
