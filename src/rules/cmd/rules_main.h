/*
 * rules_main — the `kmon rules` command: `check` (promtool check rules) and `test`
 * (promtool test rules) over Prometheus rule files.
 */
#ifndef KMON_RULES_RULES_MAIN_H
#define KMON_RULES_RULES_MAIN_H

#include "common/cfg.h"

#include <stdbool.h>
#include <stddef.h>

int km_rules_main(int argc, char **argv);

/* The sibling commands' YAML sections (skipped in a shared config file). */
extern const char *const km_rules_other_commands[];

/* Parse a subcommand that takes files (into files[0..*nfiles), borrowed from argv) and
 * apply the log settings. False with the exit status in *status when it should stop: 0
 * after --help, 2 for a usage error (said on stderr as "<who>: <sentence>"). */
bool km_rules_start_files_command(const struct km_cfg_cmd *c, const struct km_cfg_common *common,
                                  int argc, char **argv, const char *who, char **files, size_t cap,
                                  size_t *nfiles, int *status);

/* `kmon rules check` (rules_check.c). */
int km_rules_check_main(int argc, char **argv);

/* `kmon rules test` (rules_test.c). */
int km_rules_test_main(int argc, char **argv);

#endif
