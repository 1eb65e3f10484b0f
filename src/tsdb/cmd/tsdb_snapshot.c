/*
 * tsdb_snapshot — `kmon tsdb snapshot DIR OUT`: a copy of the data directory DIR that no
 * server holds into the new directory OUT, restorable by starting a server with
 * --data OUT. The database is opened as a server opens it (so the WAL is replayed) and
 * km_tsdb_snapshot() links its blocks and writes the head as a block; the log store in
 * DIR/logs is copied whole (no server writes it while we hold DIR). A running server's
 * directory is refused: its own API takes the snapshot (POST /api/v1/admin/tsdb/snapshot).
 */
#include "common/cfg.h"
#include "common/err.h"
#include "common/log.h"
#include "tsdb/cmd/tsdb_main.h"
#include "tsdb/snapshot.h"
#include "tsdb/tsdb.h"
#include "tsdb/tsdb_storage.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct snapshot_opts {
    bool skip_head;
    bool logs;
};

static const struct km_cfg_field snapshot_fields[] = {
    { .name = "skip-head",
      .type = KM_CFG_BOOL,
      .offset = offsetof(struct snapshot_opts, skip_head),
      .def = "false",
      .help = "leave out the samples not yet cut into blocks (the head that the WAL holds)" },
    { .name = "logs",
      .type = KM_CFG_BOOL,
      .offset = offsetof(struct snapshot_opts, logs),
      .def = "true",
      .help = "copy the log store (DIR/logs) too (--no-logs: metrics only)" },
    KM_CFG_FIELDS_END,
};

/* Parse the flags and the two positional arguments; false with *status when done. */
static bool parse_args(struct km_cfg_cmd *c, const struct km_cfg_common *common, int argc,
                       char **argv, const char **dir, const char **out, int *status)
{
    static const char who[] = "kmon tsdb snapshot";
    char *rest[4];
    size_t nrest = 0;
    int rc = km_cfg_parse(c, argc, argv, rest, 4, &nrest);

    if (rc == KM_CFG_HELP) {
        km_cfg_help(c, stdout);
        *status = 0;
        return false;
    }
    if (rc == 0 && nrest != 2)
        rc = km_err_set(KM_EINVAL, "give the data directory and the snapshot's new directory");
    if (rc) {
        fprintf(stderr, "%s: %s\nRun '%s --help' for the flags.\n", who, km_err_msg(), who);
        *status = 2;
        return false;
    }
    km_log_set_level((enum km_log_level)common->log_level);
    km_log_set_format((enum km_log_format)common->log_format);
    *dir = rest[0];
    *out = rest[1];
    return true;
}

/* Open DIR as the server would, without maintenance, keeping every sample its WAL holds. */
static int open_store(const char *dir, struct km_storage **st)
{
    struct km_tsdb_opts o;

    if (access(dir, R_OK | X_OK) != 0)
        return km_err_set_errno(KM_ENOTFOUND, errno, "cannot read %s", dir);
    km_tsdb_opts_default(&o);
    o.dir = dir;
    o.no_background = true;
    o.retention_ms = KM_TSDB_MAX_SPAN_MS; /* whatever the server's, replay drops nothing */
    o.max_future_ms = KM_TSDB_MAX_SPAN_MS;
    o.cache_bytes = 0;
    return km_tsdb_storage_open(st, &o);
}

int km_tsdb_snapshot_main(int argc, char **argv)
{
    struct snapshot_opts o = { 0 };
    struct km_cfg_common common = { 0 };
    struct km_cfg_cmd cmd = {
        .name = "tsdb",
        .usage = "kmon tsdb snapshot [flags] DIR OUT",
        .summary = "Copy the data directory DIR (a server's --data) into the new directory OUT:\n"
                   "the blocks as hard links (copies when OUT is on another file system), the\n"
                   "samples of the WAL as one more block, the metric metadata and the log\n"
                   "store. Start a server with --data OUT to restore it. DIR must not be in\n"
                   "use: a running server takes its snapshot itself with\n"
                   "POST /api/v1/admin/tsdb/snapshot (--enable-admin-api).\n\n"
                   "Exit status: 0 when OUT holds the copy, 1 when it failed (OUT may then hold\n"
                   "part of it), 2 for a usage error.",
        .other_commands = km_tsdb_other_commands,
        .positional_ok = true,
    };
    struct km_storage *st = NULL;
    struct km_tsdb_snapshot_stats ss;
    const char *dir = NULL, *out = NULL;
    uint64_t log_bytes = 0;
    bool logs_copied = false;
    char logs_from[4096], logs_to[4096];
    int rc, status = 1;

    cmd.sections[cmd.nsections++] = (struct km_cfg_section){ "Snapshot", snapshot_fields, &o };
    cmd.sections[cmd.nsections++] =
        (struct km_cfg_section){ "General", km_cfg_common_fields, &common };
    if (!parse_args(&cmd, &common, argc, argv, &dir, &out, &status))
        goto out_free_config;
    snprintf(logs_from, sizeof(logs_from), "%s/clickhouse-spool", dir);
    if (access(logs_from, F_OK) == 0) {
        fprintf(stderr,
                "kmon tsdb snapshot: %s is the data directory of a server with "
                "--storage clickhouse: snapshots are of the embedded store; back up "
                "ClickHouse with its own tools\n",
                dir);
        status = 2;
        goto out_free_config;
    }
    rc = open_store(dir, &st);
    if (rc == KM_EEXIST) {
        fprintf(stderr,
                "kmon tsdb snapshot: %s: a server runs on it; take the snapshot through its API "
                "instead: curl -X POST http://SERVER:5000/api/v1/admin/tsdb/snapshot (the server "
                "needs --enable-admin-api; the copy lands in %s/snapshots/)\n",
                km_err_msg(), dir);
        goto out_free_config;
    }
    if (rc == 0)
        rc = km_tsdb_storage_snapshot(st, out, o.skip_head, &ss);
    snprintf(logs_from, sizeof(logs_from), "%s/logs", dir);
    snprintf(logs_to, sizeof(logs_to), "%s/logs", out);
    if (rc == 0 && o.logs && access(logs_from, F_OK) == 0) {
        /* DIR's lock keeps a server out of DIR/logs too: it opens the TSDB first. */
        rc = km_snapshot_copy_tree(logs_from, logs_to, &log_bytes);
        logs_copied = rc == 0;
    }
    km_storage_close(st);
    if (rc) {
        fprintf(stderr, "kmon tsdb snapshot: %s\n", km_err_msg());
        goto out_free_config;
    }
    printf("snapshot of %s in %s: %llu blocks %s, the head as a block (%llu series, %llu "
           "samples)%s",
           dir, out, (unsigned long long)ss.blocks, ss.copied ? "copied" : "linked",
           (unsigned long long)ss.head_series, (unsigned long long)ss.head_samples,
           logs_copied ? ", the log store copied (" : "\n");
    if (logs_copied)
        printf("%llu bytes)\n", (unsigned long long)log_bytes);
    status = fflush(stdout) == 0 ? 0 : 1;

out_free_config:
    km_cfg_free(&cmd);
    return status;
}
