/*
 * tsdb_main — the `kmon tsdb` command: tools over a data directory. `kmon tsdb inspect
 * DIR` prints the blocks, their series, samples and bytes per sample, the head the WAL
 * holds, and verifies every checksum (inspect.h builds the report; this file prints it
 * as a table or as JSON).
 */
#include "tsdb/cmd/tsdb_main.h"

#include "common/buf.h"
#include "common/cfg.h"
#include "common/err.h"
#include "common/jsonw.h"
#include "common/log.h"
#include "common/subcmd.h"
#include "common/timefmt.h"
#include "tsdb/inspect.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* ---- formatting helpers ------------------------------------------------------------------- */

/* A millisecond timestamp as RFC 3339 (milliseconds shown only when not whole seconds);
 * times too far out for nanoseconds print as raw milliseconds. */
static const char *fmt_time(char *out, size_t size, int64_t ms)
{
    if (ms < -9000000000000ll || ms > 9000000000000ll)
        km_time_format_ms(out, size, ms);
    else
        km_time_format_rfc3339(out, size, ms * 1000000, ms % 1000 ? 3 : 0);
    return out;
}

static const char *fmt_bytes(char *out, size_t size, uint64_t n)
{
    static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
    double v = (double)n;
    size_t u = 0;

    while (v >= 1024 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, size, "%" PRIu64 " B", n);
    else
        snprintf(out, size, "%.1f %s", v, unit[u]);
    return out;
}

/* a / b with three decimals, or "-" when b is 0. */
static const char *fmt_ratio(char *out, size_t size, uint64_t a, uint64_t b)
{
    if (b == 0)
        snprintf(out, size, "-");
    else
        snprintf(out, size, "%.3f", (double)a / (double)b);
    return out;
}

static void json_ratio(struct km_jsonw *w, const char *key, uint64_t a, uint64_t b)
{
    km_jsonw_key(w, key);
    if (b == 0)
        km_jsonw_null(w);
    else
        km_jsonw_double(w, (double)a / (double)b);
}

static void json_time(struct km_jsonw *w, const char *key, int64_t ms, bool present)
{
    char buf[48];

    km_jsonw_key(w, key);
    if (!present) {
        km_jsonw_null(w);
        return;
    }
    km_jsonw_str(w, fmt_time(buf, sizeof(buf), ms));
}

static void json_u64(struct km_jsonw *w, const char *key, uint64_t v)
{
    km_jsonw_key(w, key);
    km_jsonw_u64(w, v);
}

/* ---- text ------------------------------------------------------------------------------ */

static void print_text(const struct km_tsdb_report *r, bool verify, FILE *out)
{
    char a[48], b[48], c[24], d[24], e[24], f[24], g[24];
    size_t readable = 0;

    fprintf(out, "Data directory %s\n\n", r->dir);
    for (size_t i = 0; i < r->nblocks; i++)
        readable += r->blocks[i].readable;
    if (r->nblocks == 0) {
        fprintf(out, "Blocks: none yet (the head is cut into a block once it spans the block "
                     "range).\n");
    } else {
        fprintf(out, "%-28s  %-24s  %-24s  %3s  %9s  %12s  %10s  %10s  %7s  %7s  %7s  %s\n",
                "BLOCK", "FROM", "TO", "LVL", "SERIES", "SAMPLES", "INDEX", "DATA", "B/SMPL",
                "DATA/S", "IDX/SER", "CHECK");
        for (size_t i = 0; i < r->nblocks; i++) {
            const struct km_tsdb_block_report *k = &r->blocks[i];

            if (!k->readable) {
                fprintf(out, "%-28s  UNREADABLE: %s\n", k->id, k->error ? k->error : "?");
                continue;
            }
            fprintf(out,
                    "%-28s  %-24s  %-24s  %3d  %9" PRIu64 "  %12" PRIu64
                    "  %10s  %10s  %7s  %7s  %7s  %s\n",
                    k->id, fmt_time(a, sizeof(a), k->mint), fmt_time(b, sizeof(b), k->maxt),
                    k->level, k->series, k->samples, fmt_bytes(c, sizeof(c), k->index_bytes),
                    fmt_bytes(d, sizeof(d), k->chunk_bytes),
                    fmt_ratio(e, sizeof(e), k->bytes, k->samples),
                    fmt_ratio(f, sizeof(f), k->chunk_bytes, k->samples),
                    fmt_ratio(g, sizeof(g), k->index_bytes, k->series),
                    k->error      ? "FAILED"
                    : k->verified ? "ok"
                                  : "-");
            if (k->error)
                fprintf(out, "    %s\n", k->error);
        }
        fprintf(out, "\n");
    }
    fprintf(out, "Total:    %" PRIu64 " series, %" PRIu64 " samples, %s (blocks and WAL)",
            r->total.series, r->total.samples, fmt_bytes(a, sizeof(a), r->total.bytes));
    if (r->total.samples)
        fprintf(out, ", %s bytes per sample, %s to %s",
                fmt_ratio(a, sizeof(a), r->total.bytes, r->total.samples),
                fmt_time(b, sizeof(b), r->total.mint), fmt_time(c, sizeof(c), r->total.maxt));
    fprintf(out, "\nClock:    %s; samples up to %s are taken\n\n", fmt_time(a, sizeof(a), r->now),
            fmt_time(b, sizeof(b), r->future_bound));
    if (readable) {
        fprintf(out, "Blocks:   %zu, %s to %s\n", readable, fmt_time(a, sizeof(a), r->mint),
                fmt_time(b, sizeof(b), r->maxt));
        if (r->future_blocks)
            fprintf(out,
                    "FUTURE:   %" PRIu64 " block(s) reach beyond the future bound (an older "
                    "version took samples from the future): kept and queried\n",
                    r->future_blocks);
        fprintf(out,
                "Series:   %" PRIu64 " (each counted once)\nSamples:  %" PRIu64 " in %" PRIu64
                " chunks\n",
                r->series, r->samples, r->chunks);
        fprintf(out, "Bytes:    %s (index %s, data %s)\n", fmt_bytes(a, sizeof(a), r->bytes),
                fmt_bytes(b, sizeof(b), r->index_bytes), fmt_bytes(c, sizeof(c), r->chunk_bytes));
        fprintf(out, "Per sample: %s bytes in total, %s bytes of data; index %s bytes per series\n",
                fmt_ratio(a, sizeof(a), r->bytes, r->samples),
                fmt_ratio(b, sizeof(b), r->chunk_bytes, r->samples),
                fmt_ratio(c, sizeof(c), r->index_bytes, r->series));
    }
    fprintf(out,
            "\nHead (rebuilt from the WAL): %" PRIu64 " series, %" PRIu64 " samples in %" PRIu64
            " chunks",
            r->head_series, r->head_samples, r->head_chunks);
    if (r->head_samples)
        fprintf(out, ", %s to %s", fmt_time(a, sizeof(a), r->head_mint),
                fmt_time(b, sizeof(b), r->head_maxt));
    if (r->head_late_samples)
        fprintf(out, ", %" PRIu64 " behind the newest block (waiting for a block of their own)",
                r->head_late_samples);
    fprintf(out, "\nWAL: %" PRIu64 " segments, %s, %" PRIu64 " records", r->wal_segments,
            fmt_bytes(a, sizeof(a), r->wal_bytes), r->wal_records);
    if (r->wal_checkpoint)
        fprintf(out, ", checkpoint %08" PRIu32, r->wal_checkpoint);
    if (r->wal_future_samples)
        fprintf(out,
                ", FUTURE: %" PRIu64 " samples from %s to %s beyond the bound (a server "
                "drops them when it starts)",
                r->wal_future_samples, fmt_time(a, sizeof(a), r->wal_future_min),
                fmt_time(b, sizeof(b), r->wal_future_max));
    if (r->wal_torn_tails)
        fprintf(out, ", %" PRIu64 " torn tail(s) (the server cuts them on start)",
                r->wal_torn_tails);
    if (r->wal_corruptions)
        fprintf(out, ", CORRUPTION in %" PRIu64 " lane(s): replay stops there (see the log above)",
                r->wal_corruptions);
    fprintf(out, "\n\n");
    if (r->problems)
        fprintf(out, "PROBLEMS: %zu (unreadable or failed blocks, WAL corruption): see above.\n",
                r->problems);
    else if (verify)
        fprintf(out, "Verified: every block checksum and chunk is good.\n");
    else
        fprintf(out, "Not verified (--no-verify): blocks were opened, not read in full.\n");
}

/* ---- JSON ------------------------------------------------------------------------------ */

static void json_sizes(struct km_jsonw *w, uint64_t series, uint64_t samples, uint64_t chunks,
                       uint64_t bytes, uint64_t index_bytes, uint64_t chunk_bytes)
{
    json_u64(w, "series", series);
    json_u64(w, "samples", samples);
    json_u64(w, "chunks", chunks);
    json_u64(w, "bytes", bytes);
    json_u64(w, "index_bytes", index_bytes);
    json_u64(w, "data_bytes", chunk_bytes);
    json_ratio(w, "bytes_per_sample", bytes, samples);
    json_ratio(w, "data_bytes_per_sample", chunk_bytes, samples);
    json_ratio(w, "index_bytes_per_series", index_bytes, series);
}

static int print_json(const struct km_tsdb_report *r, bool verify, FILE *out)
{
    struct km_buf buf;
    struct km_jsonw w;
    int rc = 0;

    km_buf_init(&buf, 0);
    km_jsonw_init(&w, &buf);
    km_jsonw_obj_begin(&w);
    km_jsonw_key(&w, "dir");
    km_jsonw_str(&w, r->dir);
    /* Totals over everything the directory holds, then the parts. */
    json_u64(&w, "series", r->total.series);
    json_u64(&w, "samples", r->total.samples);
    json_u64(&w, "chunks", r->total.chunks);
    json_u64(&w, "bytes", r->total.bytes);
    json_ratio(&w, "bytes_per_sample", r->total.bytes, r->total.samples);
    json_time(&w, "min_time", r->total.mint, r->total.mint <= r->total.maxt);
    json_time(&w, "max_time", r->total.maxt, r->total.mint <= r->total.maxt);
    json_time(&w, "now", r->now, true);
    json_time(&w, "future_bound", r->future_bound, true);
    json_u64(&w, "future_blocks", r->future_blocks);
    km_jsonw_key(&w, "blocks_total");
    km_jsonw_obj_begin(&w);
    json_sizes(&w, r->series, r->samples, r->chunks, r->bytes, r->index_bytes, r->chunk_bytes);
    json_time(&w, "min_time", r->mint, r->mint <= r->maxt);
    json_time(&w, "max_time", r->maxt, r->mint <= r->maxt);
    km_jsonw_obj_end(&w);
    km_jsonw_key(&w, "blocks");
    km_jsonw_arr_begin(&w);
    for (size_t i = 0; i < r->nblocks; i++) {
        const struct km_tsdb_block_report *k = &r->blocks[i];

        km_jsonw_obj_begin(&w);
        km_jsonw_key(&w, "id");
        km_jsonw_str(&w, k->id);
        km_jsonw_key(&w, "dir");
        km_jsonw_str(&w, k->dir);
        km_jsonw_key(&w, "readable");
        km_jsonw_bool(&w, k->readable);
        km_jsonw_key(&w, "verified");
        km_jsonw_bool(&w, k->verified);
        km_jsonw_key(&w, "error");
        if (k->error)
            km_jsonw_str(&w, k->error);
        else
            km_jsonw_null(&w);
        if (k->readable) {
            km_jsonw_key(&w, "level");
            km_jsonw_i64(&w, k->level);
            km_jsonw_key(&w, "min_time_ms");
            km_jsonw_i64(&w, k->mint);
            km_jsonw_key(&w, "max_time_ms");
            km_jsonw_i64(&w, k->maxt);
            json_time(&w, "min_time", k->mint, true);
            json_time(&w, "max_time", k->maxt, true);
            json_sizes(&w, k->series, k->samples, k->chunks, k->bytes, k->index_bytes,
                       k->chunk_bytes);
        }
        km_jsonw_obj_end(&w);
    }
    km_jsonw_arr_end(&w);
    km_jsonw_key(&w, "head");
    km_jsonw_obj_begin(&w);
    json_u64(&w, "series", r->head_series);
    json_u64(&w, "samples", r->head_samples);
    json_u64(&w, "chunks", r->head_chunks);
    json_u64(&w, "late_samples", r->head_late_samples);
    json_time(&w, "min_time", r->head_mint, r->head_samples > 0);
    json_time(&w, "max_time", r->head_maxt, r->head_samples > 0);
    km_jsonw_obj_end(&w);
    km_jsonw_key(&w, "wal");
    km_jsonw_obj_begin(&w);
    json_u64(&w, "segments", r->wal_segments);
    json_u64(&w, "bytes", r->wal_bytes);
    json_u64(&w, "records", r->wal_records);
    json_u64(&w, "checkpoint", r->wal_checkpoint);
    json_u64(&w, "future_samples", r->wal_future_samples);
    json_time(&w, "future_min_time", r->wal_future_min, r->wal_future_samples > 0);
    json_time(&w, "future_max_time", r->wal_future_max, r->wal_future_samples > 0);
    json_u64(&w, "torn_tails", r->wal_torn_tails);
    json_u64(&w, "corruptions", r->wal_corruptions);
    km_jsonw_obj_end(&w);
    km_jsonw_key(&w, "verified");
    km_jsonw_bool(&w, verify && r->problems == 0);
    json_u64(&w, "problems", r->problems);
    km_jsonw_key(&w, "ok");
    km_jsonw_bool(&w, r->problems == 0);
    km_jsonw_obj_end(&w);
    km_buf_putc(&buf, '\n');
    if (km_buf_error(&buf))
        rc = km_err_set(KM_ENOMEM, "out of memory formatting the report");
    else if (fwrite(buf.data, 1, buf.len, out) != buf.len || fflush(out) != 0)
        rc = km_err_set(KM_EIO, "cannot write the report");
    km_buf_fini(&buf);
    return rc;
}

/* ---- commands ---------------------------------------------------------------------------- */

struct inspect_opts {
    int format; /* 0 text, 1 json */
    bool verify;
};

const char *const km_tsdb_format_choices[] = { "text", "json", NULL };
const char *const km_tsdb_other_commands[] = { "agent", "server", "demo", "query", NULL };

bool km_tsdb_start_dir_command(const struct km_cfg_cmd *c, const struct km_cfg_common *common,
                               int argc, char **argv, const char *who, const char **dir,
                               int *status)
{
    char *rest[4];
    size_t nrest = 0;
    int rc = km_cfg_parse(c, argc, argv, rest, 4, &nrest);

    if (rc == KM_CFG_HELP) {
        km_cfg_help(c, stdout);
        *status = 0;
        return false;
    }
    if (rc == 0 && nrest == 0)
        rc = km_err_set(KM_EINVAL, "give the data directory");
    else if (rc == 0 && nrest > 1)
        rc = km_err_set(KM_EINVAL, "give one data directory, not %zu", nrest);
    if (rc) {
        fprintf(stderr, "%s: %s\nRun '%s --help' for the flags.\n", who, km_err_msg(), who);
        *status = 2;
        return false;
    }
    km_log_set_level((enum km_log_level)common->log_level);
    km_log_set_format((enum km_log_format)common->log_format);
    *dir = rest[0];
    return true;
}

static const struct km_cfg_field inspect_fields[] = {
    { .name = "format",
      .type = KM_CFG_ENUM,
      .offset = offsetof(struct inspect_opts, format),
      .def = "text",
      .help = "text (a table for people) or json (the same, for scripts)",
      .choices = km_tsdb_format_choices },
    { .name = "verify",
      .type = KM_CFG_BOOL,
      .offset = offsetof(struct inspect_opts, verify),
      .def = "true",
      .help = "read every block in full: checksums, chunk decoding, sample counts "
              "(--no-verify only opens them)" },
    KM_CFG_FIELDS_END,
};

static int inspect_main(int argc, char **argv)
{
    struct inspect_opts o = { 0 };
    struct km_cfg_common common = { 0 };
    struct km_cfg_cmd cmd = {
        .name = "tsdb",
        .usage = "kmon tsdb inspect [flags] DIR",
        .summary = "Report on the data directory DIR (the server's --data): every block with\n"
                   "its time range, series, samples and bytes per sample (total, data only,\n"
                   "index per series), the totals (series counted once), the head that\n"
                   "replaying the WAL rebuilds, and a check of every checksum. Read-only: safe\n"
                   "beside a running server.\n\n"
                   "Exit status: 0 when all is well, 1 when a block is unreadable or fails\n"
                   "verification, the WAL is corrupt, or DIR cannot be inspected; 2 for a\n"
                   "usage error.",
        .other_commands = km_tsdb_other_commands,
        .positional_ok = true,
    };
    struct km_tsdb_report r;
    const char *dir = NULL;
    int rc, status = 1;

    cmd.sections[cmd.nsections++] = (struct km_cfg_section){ "Inspect", inspect_fields, &o };
    cmd.sections[cmd.nsections++] =
        (struct km_cfg_section){ "General", km_cfg_common_fields, &common };
    if (!km_tsdb_start_dir_command(&cmd, &common, argc, argv, "kmon tsdb inspect", &dir, &status))
        goto out_free_config;
    rc = km_tsdb_inspect(dir, o.verify, &r);
    if (rc) {
        fprintf(stderr, "kmon tsdb inspect: %s\n", km_err_msg());
        goto out_free_config;
    }
    if (o.format == 1) {
        if (print_json(&r, o.verify, stdout) != 0)
            fprintf(stderr, "kmon tsdb inspect: %s\n", km_err_msg());
        else
            status = r.problems ? 1 : 0;
    } else {
        print_text(&r, o.verify, stdout);
        status = fflush(stdout) == 0 && r.problems == 0 ? 0 : 1;
    }
    km_tsdb_report_fini(&r);

out_free_config:
    km_cfg_free(&cmd);
    return status;
}

static const struct km_subcmd subcommands[] = {
    { "inspect", "blocks, series, samples, bytes per sample, WAL; verify every checksum",
      inspect_main },
    { "dump", "print the samples of matching series", km_tsdb_dump_main },
    { "snapshot", "copy a data directory no server holds (restore: --data OUT)",
      km_tsdb_snapshot_main },
};

int km_tsdb_main(int argc, char **argv)
{
    static const struct km_subcmd_set set = {
        .who = "kmon tsdb",
        .usage = "kmon tsdb <command> [flags] DIR",
        .about = "Tools over a kmon data directory (the server's time-series database).",
        .cmds = subcommands,
        .n = sizeof(subcommands) / sizeof(subcommands[0]),
    };

    return km_subcmd_dispatch(&set, argc, argv);
}
