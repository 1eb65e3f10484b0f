/*
 * cfg — declarative configuration: one table of fields gives parsing, defaults, the
 * environment variable, the YAML key and the --help text of every setting.
 *
 * Precedence, highest first: command-line flag (--name VALUE or --name=VALUE), then the
 * environment variable KMON_NAME (upper case, '-' and '.' become '_'), then the YAML file
 * named by --config / KMON_CONFIG (keys are the flag names, nesting joins with '.', and a
 * mapping named after the command holds settings for that command only), then the
 * default. A bad value or an unknown flag or key is an error naming where it came from.
 *
 * A field marked per_command belongs to each command on its own (a listen address: the
 * agent, the server and the demo must never share one): its variable is
 * KMON_<COMMAND>_<NAME> (KMON_AGENT_LISTEN), the shared KMON_<NAME> is refused with a
 * sentence naming the command's own, and in the YAML file it may appear only in the
 * command's mapping.
 *
 * Fields point into caller-owned structs (one per section) by offset. Strings and lists
 * are malloc'ed into those structs and freed by km_cfg_free(). Not thread-safe: parse
 * once at start-up.
 */
#ifndef KMON_COMMON_CFG_H
#define KMON_COMMON_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum km_cfg_type {
    KM_CFG_STRING,   /* char *  (NULL when unset) */
    KM_CFG_BOOL,     /* bool */
    KM_CFG_INT,      /* int64_t */
    KM_CFG_DURATION, /* int64_t milliseconds; "5s", "1m30s", "15d" */
    KM_CFG_SIZE,     /* uint64_t bytes; "256MiB", "1GB" */
    KM_CFG_ENUM,     /* int: index into `choices` */
    KM_CFG_LIST,     /* char *: comma-separated; YAML sequences are joined with ',';
                        a flag given again adds to the list (--url a --url b) */
};

struct km_cfg_field {
    const char *name; /* "interval" → --interval, KMON_INTERVAL, YAML "interval" */
    enum km_cfg_type type;
    size_t offset;              /* offsetof() into the section's struct */
    const char *def;            /* default, as text; NULL: unset */
    const char *metavar;        /* placeholder in --help; NULL: derived from the type */
    const char *help;           /* one sentence */
    const char *env_alias;      /* another environment variable read after KMON_* */
    const char *const *choices; /* KM_CFG_ENUM: NULL-terminated */
    int64_t min, max;           /* KM_CFG_INT / DURATION bounds when min < max */
    bool per_command;           /* KMON_<COMMAND>_<NAME>; YAML only under the command */
};

#define KM_CFG_FIELDS_END                                                                          \
    {                                                                                              \
        .name = NULL                                                                               \
    }

struct km_cfg_section {
    const char *title;                 /* heading in --help, "Agent" */
    const struct km_cfg_field *fields; /* ends with KM_CFG_FIELDS_END */
    void *base;                        /* the struct the fields point into */
};

#define KM_CFG_MAX_SECTIONS 24

struct km_cfg_cmd {
    const char *name;    /* "agent": the YAML section of this command */
    const char *usage;   /* "kmon agent [flags]" */
    const char *summary; /* a paragraph for --help */
    struct km_cfg_section sections[KM_CFG_MAX_SECTIONS];
    size_t nsections;
    /* Other commands' YAML sections, skipped without error ("server", "demo"). */
    const char *const *other_commands;
    bool positional_ok; /* accept non-flag arguments (returned through rest) */
};

/* Settings every command has: --config, --log-level, --log-format. */
struct km_cfg_common {
    char *config;
    int log_level;  /* enum km_log_level */
    int log_format; /* enum km_log_format */
};
extern const struct km_cfg_field km_cfg_common_fields[];

#define KM_CFG_HELP 1 /* km_cfg_parse() result: --help was asked for */

/* Fill every section from defaults, the YAML file, the environment and argv[1..argc).
 * Non-flag arguments are stored in rest[0..*nrest) (borrowed from argv; at most
 * `rest_cap`) when the command accepts them. Returns 0, KM_CFG_HELP, or a negative
 * code with a sentence in km_err_msg(). */
int km_cfg_parse(const struct km_cfg_cmd *c, int argc, char **argv, char **rest, size_t rest_cap,
                 size_t *nrest);

/* The start every long-running command shares: parse (no positional arguments); on
 * --help print the help to stdout; on a usage error print "<who>: <sentence>" and the
 * help to stderr; else apply common's log level and format. True to go on; false with
 * the exit status in *status (0 after --help, 2 for a usage error). */
bool km_cfg_start_command(const struct km_cfg_cmd *c, const struct km_cfg_common *common, int argc,
                          char **argv, const char *who, int *status);

/* Apply only the defaults of `fields` to the struct at `base` (for code that builds a
 * configured object without parsing a command line). Returns 0 or KM_EINVAL when a
 * default is malformed (a programming error). */
int km_cfg_apply_defaults(const struct km_cfg_field *fields, void *base);

/* Write the --help text. */
void km_cfg_help(const struct km_cfg_cmd *c, FILE *out);

/* Free the strings the parse stored in the sections' structs (and set them to NULL,
 * so freeing twice is harmless). */
void km_cfg_free(const struct km_cfg_cmd *c);
void km_cfg_free_fields(const struct km_cfg_field *fields, void *base);

/* The value a field holds in `base`, as text a user would write ("5m", "256MiB",
 * "true", "" for an unset string). Returns out. */
const char *km_cfg_format_value(const struct km_cfg_field *f, const void *base, char *out,
                                size_t size);

/* The environment variable of a field name: "host-proc" → "KMON_HOST_PROC". */
void km_cfg_env_name(const char *name, char *out, size_t size);

/* The environment variable of field `f` in command `c`: km_cfg_env_name()'s, or
 * KMON_<COMMAND>_<NAME> for a per_command field ("KMON_AGENT_LISTEN"). */
void km_cfg_field_env(const struct km_cfg_cmd *c, const struct km_cfg_field *f, char *out,
                      size_t size);

/* The environment variable of the setting called `name` in command `c` (for messages
 * that tell a user what to set); "" when the command has no such setting. */
void km_cfg_env_of(const struct km_cfg_cmd *c, const char *name, char *out, size_t size);

/* Split a comma-separated list in place into at most `max` trimmed, non-empty items.
 * Returns how many were stored. `s` is modified. */
size_t km_cfg_split_list(char *s, char **items, size_t max);

#endif
