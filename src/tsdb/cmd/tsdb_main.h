/*
 * tsdb_main — the `kmon tsdb` command (tools over a data directory: inspect, dump).
 */
#ifndef KMON_TSDB_TSDB_MAIN_H
#define KMON_TSDB_TSDB_MAIN_H

#include <stdbool.h>

int km_tsdb_main(int argc, char **argv);

struct km_cfg_cmd;
struct km_cfg_common;

/* What the subcommands share: their --format choices and the sibling commands. */
extern const char *const km_tsdb_format_choices[];
extern const char *const km_tsdb_other_commands[];

/* Parse a subcommand that takes one data directory (into *dir, borrowed from argv) and
 * apply the log settings. False with the exit status in *status when it should stop:
 * 0 after --help, 2 for a usage error (said on stderr as "<who>: <sentence>"). */
bool km_tsdb_start_dir_command(const struct km_cfg_cmd *c, const struct km_cfg_common *common,
                               int argc, char **argv, const char *who, const char **dir,
                               int *status);

/* `kmon tsdb dump` (tsdb_dump.c). */
int km_tsdb_dump_main(int argc, char **argv);

/* `kmon tsdb snapshot` (tsdb_snapshot.c). */
int km_tsdb_snapshot_main(int argc, char **argv);

#endif
