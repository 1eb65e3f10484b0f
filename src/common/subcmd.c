/*
 * subcmd — dispatch to a command's subcommands (see subcmd.h).
 */
#include "common/subcmd.h"

#include <stdio.h>
#include <string.h>

static void usage(const struct km_subcmd_set *s, FILE *out)
{
    fprintf(out, "Usage: %s\n\n%s\n\nCommands:\n", s->usage, s->about);
    for (size_t i = 0; i < s->n; i++)
        fprintf(out, "  %-10s %s\n", s->cmds[i].name, s->cmds[i].summary);
    fprintf(out, "\nRun '%s <command> --help' for a command's flags.\n", s->who);
}

int km_subcmd_dispatch(const struct km_subcmd_set *s, int argc, char **argv)
{
    if (argc < 2) {
        usage(s, stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(s, stdout);
        return 0;
    }
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(argv[1], s->cmds[i].name) == 0)
            return s->cmds[i].main(argc - 1, argv + 1);
    }
    fprintf(stderr, "%s: unknown command \"%s\"\n\n", s->who, argv[1]);
    usage(s, stderr);
    return 2;
}
