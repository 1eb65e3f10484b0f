/*
 * rules_main — `kmon rules <command>`: dispatch to check and test, and what both share:
 * their start (flags, files, log settings).
 */
#include "rules/cmd/rules_main.h"

#include "common/err.h"
#include "common/log.h"
#include "common/subcmd.h"

#include <stdio.h>

const char *const km_rules_other_commands[] = { "agent", "server", "demo", "query", "tsdb", NULL };

bool km_rules_start_files_command(const struct km_cfg_cmd *c, const struct km_cfg_common *common,
                                  int argc, char **argv, const char *who, char **files, size_t cap,
                                  size_t *nfiles, int *status)
{
    int rc = km_cfg_parse(c, argc, argv, files, cap, nfiles);

    if (rc == KM_CFG_HELP) {
        km_cfg_help(c, stdout);
        *status = 0;
        return false;
    }
    if (rc == 0 && *nfiles == 0)
        rc = km_err_set(KM_EINVAL, "give one or more files");
    if (rc) {
        fprintf(stderr, "%s: %s\nRun '%s --help' for the flags.\n", who, km_err_msg(), who);
        *status = 2;
        return false;
    }
    km_log_set_level((enum km_log_level)common->log_level);
    km_log_set_format((enum km_log_format)common->log_format);
    return true;
}

static const struct km_subcmd subcommands[] = {
    { "check", "check rule files as the server loads them (promtool check rules)",
      km_rules_check_main },
    { "test", "run unit tests of rule files (promtool test rules' format)", km_rules_test_main },
};

int km_rules_main(int argc, char **argv)
{
    static const struct km_subcmd_set set = {
        .who = "kmon rules",
        .usage = "kmon rules <command> [flags] FILE...",
        .about = "Tools over Prometheus rule files (recording and alerting rules).",
        .cmds = subcommands,
        .n = sizeof(subcommands) / sizeof(subcommands[0]),
    };

    return km_subcmd_dispatch(&set, argc, argv);
}
