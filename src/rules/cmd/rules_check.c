/*
 * rules_check — `kmon rules check FILE…`: each rule file read as the server reads it, and
 * reported as `promtool check rules` reports it (so scripts written for one work with the
 * other): "Checking FILE", then "  SUCCESS: N rules found" on stdout, or "  FAILED:" and
 * one error per line on stderr; the duplicate-rules lint is reported as a failure too,
 * but changes the exit status only with --lint-fatal. Exit status 0, 1 when a file
 * failed, 3 when only the lint did (with --lint-fatal), 2 for a usage error.
 */
#include "common/buf.h"
#include "common/cfg.h"
#include "common/err.h"
#include "common/log.h"
#include "rules/cmd/rules_main.h"
#include "rules/rulefile.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_FILES 4096

struct check_opts {
    int lint; /* 0 all, 1 duplicate-rules, 2 none */
    bool lint_fatal;
};

static const char *const lint_choices[] = { "all", "duplicate-rules", "none", NULL };

static const struct km_cfg_field check_fields[] = {
    { .name = "lint",
      .type = KM_CFG_ENUM,
      .offset = offsetof(struct check_opts, lint),
      .def = "duplicate-rules",
      .help = "linting checks to apply: all, duplicate-rules (recording rules of one name and "
              "labels), none",
      .choices = lint_choices },
    { .name = "lint-fatal",
      .type = KM_CFG_BOOL,
      .offset = offsetof(struct check_opts, lint_fatal),
      .def = "false",
      .help = "make lint errors exit with status 3" },
    KM_CFG_FIELDS_END,
};

/* 0 when the file is valid (lint findings in *linted), 1 when it is not. */
static int check_file(const char *path, const struct check_opts *o, bool *linted)
{
    struct km_rulefile *f = NULL;
    struct km_buf errs, lint;
    int rc;

    printf("Checking %s\n", path);
    km_buf_init(&errs, 16u << 20);
    rc = km_rulefile_load(&f, path, &errs);
    if (rc) {
        fflush(stdout);
        fprintf(stderr, "  FAILED:\n%s\n", errs.len ? km_buf_cstr(&errs) : "out of memory");
        km_buf_fini(&errs);
        printf("\n");
        return 1;
    }
    km_buf_init(&lint, 0);
    if (o->lint != 2 && km_rulefile_lint_duplicates(f, &lint)) {
        /* As promtool: reported as a failure, but the exit status says so only with
         * --lint-fatal. */
        fflush(stdout);
        lint.len--; /* promtool ends the message without a newline, then adds one */
        fprintf(stderr, "  FAILED:\nlint error %s\n", km_buf_cstr(&lint));
        printf("\n");
        *linted = true;
    } else {
        printf("  SUCCESS: %zu rules found\n\n", f->nrules);
    }
    km_buf_fini(&lint);
    km_buf_fini(&errs);
    km_rulefile_destroy(f);
    return 0;
}

int km_rules_check_main(int argc, char **argv)
{
    struct check_opts o = { 0 };
    struct km_cfg_common common = { 0 };
    struct km_cfg_cmd cmd = {
        .name = "rules",
        .usage = "kmon rules check [flags] FILE...",
        .summary = "Check Prometheus rule files as the server loads them: YAML structure and\n"
                   "fields, durations, every expression parsed as PromQL, every label and\n"
                   "annotation template of alerting rules parsed. The output and the exit\n"
                   "status are promtool check rules' (0 valid, 1 a file failed, 3 a lint\n"
                   "finding with --lint-fatal, 2 a usage error).",
        .other_commands = km_rules_other_commands,
        .positional_ok = true,
    };
    char **files = NULL;
    size_t nfiles = 0;
    bool failed = false, linted = false;
    int status = 2;

    cmd.sections[cmd.nsections++] = (struct km_cfg_section){ "Check", check_fields, &o };
    cmd.sections[cmd.nsections++] =
        (struct km_cfg_section){ "General", km_cfg_common_fields, &common };
    files = calloc(MAX_FILES, sizeof(*files));
    if (!files) {
        fprintf(stderr, "kmon rules check: out of memory\n");
        return 1;
    }
    if (!km_rules_start_files_command(&cmd, &common, argc, argv, "kmon rules check", files,
                                      MAX_FILES, &nfiles, &status))
        goto out_free_config;
    for (size_t i = 0; i < nfiles; i++) {
        if (check_file(files[i], &o, &linted))
            failed = true;
    }
    status = failed ? 1 : linted && o.lint_fatal ? 3 : 0;

out_free_config:
    km_cfg_free(&cmd);
    free(files);
    return status;
}
