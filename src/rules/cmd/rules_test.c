/*
 * rules_test — `kmon rules test FILE…`: promtool's rule unit-test files (rule_files,
 * evaluation_interval, tests with input_series, alert_rule_test, promql_expr_test) run
 * over kmon's rule manager, PromQL engine and TSDB, reported as `promtool test rules`
 * reports them. Exit status 0 when every test passed, 1 when one failed, 2 for a usage
 * error.
 */
#include "common/cfg.h"
#include "common/err.h"
#include "common/log.h"
#include "rules/cmd/rules_main.h"
#include "rules/unittest.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_FILES 4096

int km_rules_test_main(int argc, char **argv)
{
    struct km_cfg_common common = { 0 };
    struct km_cfg_cmd cmd = {
        .name = "rules",
        .usage = "kmon rules test [flags] FILE...",
        .summary = "Run unit tests of rule files, written in promtool's format (rule_files,\n"
                   "evaluation_interval, tests: input_series in the expanding notation,\n"
                   "alert_rule_test, promql_expr_test), over kmon's own rule evaluation and\n"
                   "PromQL engine. The output and the exit status are promtool test rules'\n"
                   "(0 all passed, 1 a test failed, 2 a usage error).",
        .other_commands = km_rules_other_commands,
        .positional_ok = true,
    };
    char **files = calloc(MAX_FILES, sizeof(*files));
    size_t nfiles = 0;
    int status = 2;
    bool failed = false;

    if (!files) {
        fprintf(stderr, "kmon rules test: out of memory\n");
        return 1;
    }
    cmd.sections[cmd.nsections++] =
        (struct km_cfg_section){ "General", km_cfg_common_fields, &common };
    if (!km_rules_start_files_command(&cmd, &common, argc, argv, "kmon rules test", files,
                                      MAX_FILES, &nfiles, &status))
        goto out_free_config;
    for (size_t i = 0; i < nfiles; i++) {
        if (km_rules_unittest_run(files[i], stdout, stderr) != 0)
            failed = true;
        fflush(stdout);
    }
    status = failed ? 1 : 0;

out_free_config:
    km_cfg_free(&cmd);
    free(files);
    return status;
}
