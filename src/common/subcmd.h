/*
 * subcmd — a command made of subcommands (`kmon tsdb inspect`, `kmon rules check`):
 * the usage listing them, --help, and dispatch to the one named.
 */
#ifndef KMON_COMMON_SUBCMD_H
#define KMON_COMMON_SUBCMD_H

#include <stddef.h>

struct km_subcmd {
    const char *name;
    const char *summary; /* one line for the usage */
    int (*main)(int argc, char **argv);
};

struct km_subcmd_set {
    const char *who;   /* "kmon tsdb" */
    const char *usage; /* "kmon tsdb <command> [flags] DIR" */
    const char *about; /* a sentence under the usage line */
    const struct km_subcmd *cmds;
    size_t n;
};

/* Run the subcommand argv[1] names with argv[1..]; usage on stdout for --help (0), on
 * stderr for a missing or unknown subcommand (2). Returns the exit status. */
int km_subcmd_dispatch(const struct km_subcmd_set *s, int argc, char **argv);

#endif
