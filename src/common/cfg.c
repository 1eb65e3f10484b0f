/*
 * cfg — table-driven configuration from flags, KMON_* variables and a YAML file (see
 * cfg.h). The order of application is the reverse of precedence: defaults, YAML,
 * environment, flags; each later source overwrites the earlier value.
 */
#include "cfg.h"

#include "err.h"
#include "limits.h"
#include "log.h"
#include "timefmt.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

static const char *const log_level_choices[] = { "error", "warn", "info", "debug", NULL };
static const char *const log_format_choices[] = { "text", "logfmt", NULL };

const struct km_cfg_field km_cfg_common_fields[] = {
    { .name = "config",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_cfg_common, config),
      .metavar = "FILE",
      .help = "YAML file with settings (keys are the flag names); flags and KMON_* "
              "variables override it" },
    { .name = "log-level",
      .type = KM_CFG_ENUM,
      .offset = offsetof(struct km_cfg_common, log_level),
      .def = "info",
      .help = "least severe messages to log",
      .choices = log_level_choices },
    { .name = "log-format",
      .type = KM_CFG_ENUM,
      .offset = offsetof(struct km_cfg_common, log_format),
      .def = "text",
      .help = "log line format: text for people, logfmt for log pipelines",
      .choices = log_format_choices },
    KM_CFG_FIELDS_END,
};

void km_cfg_env_name(const char *name, char *out, size_t size)
{
    size_t n = 0;
    const char *prefix = "KMON_";

    if (size == 0)
        return;
    for (; *prefix && n + 1 < size; prefix++)
        out[n++] = *prefix;
    for (; *name && n + 1 < size; name++) {
        char c = *name;

        out[n++] = (c == '-' || c == '.') ? '_' : (char)toupper((unsigned char)c);
    }
    out[n] = '\0';
}

void km_cfg_field_env(const struct km_cfg_cmd *c, const struct km_cfg_field *f, char *out,
                      size_t size)
{
    char scoped[256];

    if (!f->per_command || !c->name) {
        km_cfg_env_name(f->name, out, size);
        return;
    }
    snprintf(scoped, sizeof(scoped), "%s.%s", c->name, f->name);
    km_cfg_env_name(scoped, out, size);
}

/* Names match when equal up to '-' vs '_'. */
static bool name_eq(const char *a, const char *b, size_t blen)
{
    size_t i;

    for (i = 0; i < blen && a[i]; i++) {
        char x = a[i] == '_' ? '-' : a[i], y = b[i] == '_' ? '-' : b[i];

        if (x != y)
            return false;
    }
    return i == blen && a[i] == '\0';
}

static const struct km_cfg_field *find_field(const struct km_cfg_cmd *c, const char *name,
                                             size_t len, void **base)
{
    for (size_t s = 0; s < c->nsections; s++) {
        for (const struct km_cfg_field *f = c->sections[s].fields; f->name; f++) {
            if (name_eq(f->name, name, len)) {
                *base = c->sections[s].base;
                return f;
            }
        }
    }
    return NULL;
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = { "true", "1", "yes", "on", "y" };
    static const char *const no[] = { "false", "0", "no", "off", "n" };

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return km_err_set(KM_EINVAL, "\"%s\" is not a boolean (want true or false)", s);
}

static int replace_string(char **slot, const char *s)
{
    char *dup = NULL;

    if (s) {
        dup = strdup(s);
        if (!dup)
            return km_err_set(KM_ENOMEM, "out of memory");
    }
    free(*slot);
    *slot = dup;
    return 0;
}

/* Store the text value of one field, checking it against its type. */
static int apply(const struct km_cfg_field *f, void *base, const char *text)
{
    char *slot = (char *)base + f->offset;
    char *end;
    int rc;

    switch (f->type) {
    case KM_CFG_STRING:
    case KM_CFG_LIST:
        return replace_string((char **)(void *)slot, text);
    case KM_CFG_BOOL: {
        bool v = false;

        rc = parse_bool(text, &v);
        if (rc)
            return rc;
        *(bool *)(void *)slot = v;
        return 0;
    }
    case KM_CFG_INT: {
        long long v;

        errno = 0;
        v = strtoll(text, &end, 10);
        if (errno || end == text || *end)
            return km_err_set(KM_EINVAL, "\"%s\" is not an integer", text);
        if (f->min < f->max && (v < f->min || v > f->max))
            return km_err_set(KM_EINVAL, "%lld is out of range [%lld, %lld]", v, (long long)f->min,
                              (long long)f->max);
        *(int64_t *)(void *)slot = v;
        return 0;
    }
    case KM_CFG_DURATION: {
        int64_t ms;

        rc = km_duration_parse(text, &ms);
        if (rc)
            return rc;
        if (f->min < f->max && (ms < f->min || ms > f->max)) {
            char lo[32], hi[32];

            km_duration_format(lo, sizeof(lo), f->min);
            km_duration_format(hi, sizeof(hi), f->max);
            return km_err_set(KM_EINVAL, "%s is out of range [%s, %s]", text, lo, hi);
        }
        *(int64_t *)(void *)slot = ms;
        return 0;
    }
    case KM_CFG_SIZE: {
        uint64_t v;

        rc = km_size_parse(text, &v);
        if (rc)
            return rc;
        *(uint64_t *)(void *)slot = v;
        return 0;
    }
    case KM_CFG_ENUM:
        for (int i = 0; f->choices[i]; i++) {
            if (strcmp(text, f->choices[i]) == 0) {
                *(int *)(void *)slot = i;
                return 0;
            }
        }
        return km_err_set(KM_EINVAL, "\"%s\" is not one of the allowed values", text);
    }
    return km_err_set(KM_EINVAL, "unknown field type");
}

static int apply_from(const struct km_cfg_field *f, void *base, const char *text,
                      const char *origin)
{
    int rc = apply(f, base, text);

    if (rc)
        return km_err_wrap(rc, "bad value for --%s from %s", f->name, origin);
    return 0;
}

int km_cfg_apply_defaults(const struct km_cfg_field *fields, void *base)
{
    for (const struct km_cfg_field *f = fields; f->name; f++) {
        int rc;

        if (!f->def)
            continue;
        rc = apply_from(f, base, f->def, "its default");
        if (rc)
            return rc;
    }
    return 0;
}

static int apply_defaults(const struct km_cfg_cmd *c)
{
    for (size_t s = 0; s < c->nsections; s++) {
        int rc = km_cfg_apply_defaults(c->sections[s].fields, c->sections[s].base);

        if (rc)
            return rc;
    }
    return 0;
}

/* A per-command field's shared variable (KMON_LISTEN) is refused: read by every command,
 * it would give two of them the same value. */
static int refuse_shared_env(const struct km_cfg_cmd *c, const struct km_cfg_field *f)
{
    char shared[256], own[256];

    if (!f->per_command || !c->name)
        return 0;
    km_cfg_env_name(f->name, shared, sizeof(shared));
    if (!getenv(shared))
        return 0;
    km_cfg_field_env(c, f, own, sizeof(own));
    return km_err_set(KM_EINVAL,
                      "environment variable %s would give every kmon command the same --%s: "
                      "set %s for kmon %s instead (and unset %s)",
                      shared, f->name, own, c->name, shared);
}

static int apply_env(const struct km_cfg_cmd *c)
{
    char env[256], origin[300];

    for (size_t s = 0; s < c->nsections; s++) {
        for (const struct km_cfg_field *f = c->sections[s].fields; f->name; f++) {
            const char *v;
            int rc = refuse_shared_env(c, f);

            if (rc)
                return rc;
            km_cfg_field_env(c, f, env, sizeof(env));
            v = getenv(env);
            if (!v && f->env_alias) {
                v = getenv(f->env_alias);
                snprintf(env, sizeof(env), "%s", f->env_alias);
            }
            if (!v)
                continue;
            snprintf(origin, sizeof(origin), "environment variable %s", env);
            rc = apply_from(f, c->sections[s].base, v, origin);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* ---- YAML ---------------------------------------------------------------------------- */

struct yaml_walk {
    const struct km_cfg_cmd *cmd;
    const char *path;
    yaml_document_t *doc;
};

static bool is_other_command(const struct km_cfg_cmd *c, const char *key)
{
    if (!c->other_commands)
        return false;
    for (const char *const *o = c->other_commands; *o; o++) {
        if (strcmp(*o, key) == 0)
            return true;
    }
    return false;
}

static int yaml_apply_scalar(struct yaml_walk *w, const char *key, const char *value,
                             const yaml_node_t *at, bool in_cmd)
{
    char origin[600];
    const struct km_cfg_field *f;
    void *base;

    f = find_field(w->cmd, key, strlen(key), &base);
    if (!f)
        return km_err_set(KM_EINVAL, "%s line %zu: unknown setting \"%s\"", w->path,
                          (size_t)at->start_mark.line + 1, key);
    if (f->per_command && !in_cmd)
        return km_err_set(KM_EINVAL,
                          "%s line %zu: \"%s\" is set per command (the agent, the server and "
                          "the demo must not share it): put it under \"%s:\"",
                          w->path, (size_t)at->start_mark.line + 1, key, w->cmd->name);
    snprintf(origin, sizeof(origin), "%s line %zu", w->path, (size_t)at->start_mark.line + 1);
    return apply_from(f, base, value, origin);
}

/* Join a sequence of scalars with ','. */
static int yaml_join_sequence(struct yaml_walk *w, const yaml_node_t *seq, char **out)
{
    size_t len = 0;
    char *s;

    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++) {
        yaml_node_t *n = yaml_document_get_node(w->doc, *it);

        if (!n || n->type != YAML_SCALAR_NODE)
            return km_err_set(KM_EINVAL, "%s line %zu: a list may hold only plain values", w->path,
                              (size_t)seq->start_mark.line + 1);
        len += n->data.scalar.length + 1;
    }
    s = malloc(len + 1);
    if (!s)
        return km_err_set(KM_ENOMEM, "out of memory");
    len = 0;
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++) {
        yaml_node_t *n = yaml_document_get_node(w->doc, *it);

        if (len)
            s[len++] = ',';
        memcpy(s + len, n->data.scalar.value, n->data.scalar.length);
        len += n->data.scalar.length;
    }
    s[len] = '\0';
    *out = s;
    return 0;
}

/* Walk a mapping; `prefix` is the dotted path so far. `pass` 0 applies everything but
 * this command's own section, pass 1 applies only that section (so it wins). */
static int yaml_walk_mapping(struct yaml_walk *w, const yaml_node_t *map, const char *prefix,
                             int pass, bool in_cmd)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(w->doc, p->value);
        char key[512];
        int rc = 0;

        if (!k || !v || k->type != YAML_SCALAR_NODE)
            return km_err_set(KM_EINVAL, "%s: keys must be plain names", w->path);
        snprintf(key, sizeof(key), "%s%s%s", prefix, *prefix ? "." : "",
                 (const char *)k->data.scalar.value);
        if (!*prefix && !in_cmd) {
            if (strcmp(key, w->cmd->name) == 0 && v->type == YAML_MAPPING_NODE) {
                if (pass == 1)
                    rc = yaml_walk_mapping(w, v, "", pass, true);
                if (rc)
                    return rc;
                continue;
            }
            if (is_other_command(w->cmd, key) && v->type == YAML_MAPPING_NODE)
                continue;
        }
        if (pass == 0 && in_cmd)
            continue;
        if (pass == 1 && !in_cmd)
            continue;
        switch (v->type) {
        case YAML_MAPPING_NODE:
            rc = yaml_walk_mapping(w, v, key, pass, in_cmd);
            break;
        case YAML_SCALAR_NODE:
            rc = yaml_apply_scalar(w, key, (const char *)v->data.scalar.value, v, in_cmd);
            break;
        case YAML_SEQUENCE_NODE: {
            char *joined = NULL;

            rc = yaml_join_sequence(w, v, &joined);
            if (rc == 0)
                rc = yaml_apply_scalar(w, key, joined, v, in_cmd);
            free(joined);
            break;
        }
        default:
            rc = km_err_set(KM_EINVAL, "%s: unsupported YAML node", w->path);
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int apply_yaml(const struct km_cfg_cmd *c, const char *path)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_node_t *root;
    struct yaml_walk w = { .cmd = c, .path = path, .doc = &doc };
    FILE *f;
    long size;
    int rc = 0;

    f = fopen(path, "rb");
    if (!f)
        return km_err_set_errno(KM_ENOTFOUND, errno, "cannot open config file %s", path);
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > (long)KM_LIMIT_CONFIG_FILE) {
        fclose(f);
        return km_err_set(KM_ELIMIT, "config file %s is larger than %u bytes", path,
                          KM_LIMIT_CONFIG_FILE);
    }
    rewind(f);
    if (!yaml_parser_initialize(&parser)) {
        rc = km_err_set(KM_ENOMEM, "out of memory initialising the YAML parser");
        goto out_close;
    }
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = km_err_set(KM_EINVAL, "%s line %zu: %s", path, (size_t)parser.problem_mark.line + 1,
                        parser.problem ? parser.problem : "invalid YAML");
        goto out_parser;
    }
    root = yaml_document_get_root_node(&doc);
    if (root) {
        if (root->type == YAML_MAPPING_NODE) {
            rc = yaml_walk_mapping(&w, root, "", 0, false);
            if (rc == 0)
                rc = yaml_walk_mapping(&w, root, "", 1, false);
        } else if (!(root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0)) {
            rc = km_err_set(KM_EINVAL, "%s: the top level must be a mapping of settings", path);
        }
    }
    yaml_document_delete(&doc);
out_parser:
    yaml_parser_delete(&parser);
out_close:
    fclose(f);
    return rc;
}

/* ---- flags --------------------------------------------------------------------------- */

/* The value of --config from argv or the environment, without applying anything else. */
static const char *find_config_path(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            return argv[i + 1];
        if (strncmp(argv[i], "--config=", 9) == 0)
            return argv[i] + 9;
    }
    return getenv("KMON_CONFIG");
}

/* A list flag given again on the command line adds to what it gave before (not to what
 * the environment or the file gave: the command line replaces those). */
static int append_list(const struct km_cfg_field *f, void *base, const char *value,
                       const char *origin)
{
    const char *old = *(char **)(void *)((char *)base + f->offset);
    size_t n = strlen(old) + strlen(value) + 2;
    char *joined = malloc(n);
    int rc;

    if (!joined)
        return km_err_set(KM_ENOMEM, "out of memory");
    snprintf(joined, n, "%s,%s", old, value);
    rc = apply_from(f, base, joined, origin);
    free(joined);
    return rc;
}

static int apply_flags(const struct km_cfg_cmd *c, int argc, char **argv, char **rest,
                       size_t rest_cap, size_t *nrest)
{
    const struct km_cfg_field *lists_seen[64];
    size_t nlists = 0;
    bool flags_done = false;
    size_t nr = 0;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *name, *eq, *value = NULL;
        const struct km_cfg_field *f;
        char origin[600];
        bool negated = false;
        size_t len;
        void *base;
        int rc;

        if (flags_done || arg[0] != '-' || arg[1] == '\0') {
            if (!c->positional_ok)
                return km_err_set(KM_EINVAL, "unexpected argument \"%s\"", arg);
            if (nr >= rest_cap)
                return km_err_set(KM_EINVAL, "too many arguments");
            rest[nr++] = argv[i];
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            flags_done = true;
            continue;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)
            return KM_CFG_HELP;
        if (arg[1] != '-')
            return km_err_set(KM_EINVAL, "unknown flag %s (flags are spelled --name)", arg);
        name = arg + 2;
        eq = strchr(name, '=');
        len = eq ? (size_t)(eq - name) : strlen(name);
        f = find_field(c, name, len, &base);
        if (!f && len > 3 && strncmp(name, "no-", 3) == 0) {
            f = find_field(c, name + 3, len - 3, &base);
            if (f && f->type == KM_CFG_BOOL && !eq)
                negated = true;
            else
                f = NULL;
        }
        if (!f)
            return km_err_set(KM_EINVAL, "unknown flag --%.*s", (int)len, name);
        if (eq) {
            value = eq + 1;
        } else if (negated) {
            value = "false";
        } else if (f->type == KM_CFG_BOOL) {
            value = "true";
        } else {
            if (i + 1 >= argc)
                return km_err_set(KM_EINVAL, "flag --%s needs a value", f->name);
            value = argv[++i];
        }
        snprintf(origin, sizeof(origin), "the command line");
        if (f->type == KM_CFG_LIST) {
            bool again = false;

            for (size_t k = 0; k < nlists; k++)
                again |= lists_seen[k] == f;
            if (!again && nlists < sizeof(lists_seen) / sizeof(lists_seen[0]))
                lists_seen[nlists++] = f;
            rc = again ? append_list(f, base, value, origin) : apply_from(f, base, value, origin);
        } else {
            rc = apply_from(f, base, value, origin);
        }
        if (rc)
            return rc;
    }
    if (nrest)
        *nrest = nr;
    return 0;
}

int km_cfg_parse(const struct km_cfg_cmd *c, int argc, char **argv, char **rest, size_t rest_cap,
                 size_t *nrest)
{
    const char *config;
    int rc;

    if (nrest)
        *nrest = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return KM_CFG_HELP;
    }
    rc = apply_defaults(c);
    if (rc)
        return rc;
    config = find_config_path(argc, argv);
    if (config && *config) {
        rc = apply_yaml(c, config);
        if (rc)
            return rc;
    }
    rc = apply_env(c);
    if (rc)
        return rc;
    return apply_flags(c, argc, argv, rest, rest_cap, nrest);
}

void km_cfg_env_of(const struct km_cfg_cmd *c, const char *name, char *out, size_t size)
{
    void *base;
    const struct km_cfg_field *f = find_field(c, name, strlen(name), &base);

    if (f)
        km_cfg_field_env(c, f, out, size);
    else if (size)
        out[0] = '\0';
}

/* ---- help ---------------------------------------------------------------------------- */

static void help_metavar(const struct km_cfg_field *f, char *out, size_t size)
{
    size_t n = 0;

    if (f->metavar) {
        snprintf(out, size, " %s", f->metavar);
        return;
    }
    switch (f->type) {
    case KM_CFG_BOOL:
        out[0] = '\0';
        return;
    case KM_CFG_INT:
        snprintf(out, size, " N");
        return;
    case KM_CFG_DURATION:
        snprintf(out, size, " DUR");
        return;
    case KM_CFG_SIZE:
        snprintf(out, size, " SIZE");
        return;
    case KM_CFG_LIST:
        snprintf(out, size, " A,B,...");
        return;
    case KM_CFG_ENUM:
        out[n++] = ' ';
        for (int i = 0; f->choices[i] && n + 1 < size; i++) {
            int w = snprintf(out + n, size - n, "%s%s", i ? "|" : "", f->choices[i]);

            if (w < 0)
                break;
            n += (size_t)w;
        }
        out[n < size ? n : size - 1] = '\0';
        return;
    case KM_CFG_STRING:
        snprintf(out, size, " STRING");
        return;
    }
}

bool km_cfg_start_command(const struct km_cfg_cmd *c, const struct km_cfg_common *common, int argc,
                          char **argv, const char *who, int *status)
{
    int rc = km_cfg_parse(c, argc, argv, NULL, 0, NULL);

    if (rc == KM_CFG_HELP) {
        km_cfg_help(c, stdout);
        *status = 0;
        return false;
    }
    if (rc) {
        fprintf(stderr, "%s: %s\n\n", who, km_err_msg());
        km_cfg_help(c, stderr);
        *status = 2;
        return false;
    }
    km_log_set_level((enum km_log_level)common->log_level);
    km_log_set_format((enum km_log_format)common->log_format);
    return true;
}

void km_cfg_help(const struct km_cfg_cmd *c, FILE *out)
{
    fprintf(out, "Usage: %s\n\n", c->usage);
    if (c->summary)
        fprintf(out, "%s\n", c->summary);
    for (size_t s = 0; s < c->nsections; s++) {
        fprintf(out, "\n%s:\n", c->sections[s].title);
        for (const struct km_cfg_field *f = c->sections[s].fields; f->name; f++) {
            char mv[128], env[256];

            help_metavar(f, mv, sizeof(mv));
            km_cfg_field_env(c, f, env, sizeof(env));
            fprintf(out, "  --%s%s\n        %s", f->name, mv, f->help);
            if (f->def && *f->def)
                fprintf(out, " (default %s)", f->def);
            fprintf(out, " [env %s%s%s]\n", env, f->env_alias ? ", " : "",
                    f->env_alias ? f->env_alias : "");
        }
    }
    fprintf(out, "\n  -h, --help\n        show this help and exit\n");
}

void km_cfg_free_fields(const struct km_cfg_field *fields, void *base)
{
    for (const struct km_cfg_field *f = fields; f->name; f++) {
        if (f->type == KM_CFG_STRING || f->type == KM_CFG_LIST) {
            char **slot = (char **)(void *)((char *)base + f->offset);

            free(*slot);
            *slot = NULL;
        }
    }
}

void km_cfg_free(const struct km_cfg_cmd *c)
{
    for (size_t s = 0; s < c->nsections; s++)
        km_cfg_free_fields(c->sections[s].fields, c->sections[s].base);
}

size_t km_cfg_split_list(char *s, char **items, size_t max)
{
    size_t n = 0;
    char *save = NULL;

    if (!s)
        return 0;
    for (char *tok = strtok_r(s, ",", &save); tok && n < max; tok = strtok_r(NULL, ",", &save)) {
        char *end;

        while (isspace((unsigned char)*tok))
            tok++;
        end = tok + strlen(tok);
        while (end > tok && isspace((unsigned char)end[-1]))
            *--end = '\0';
        if (*tok)
            items[n++] = tok;
    }
    return n;
}

const char *km_cfg_format_value(const struct km_cfg_field *f, const void *base, char *out,
                                size_t size)
{
    const char *p = (const char *)base + f->offset;

    switch (f->type) {
    case KM_CFG_STRING:
    case KM_CFG_LIST: {
        const char *v = *(const char *const *)(const void *)p;

        snprintf(out, size, "%s", v ? v : "");
        break;
    }
    case KM_CFG_BOOL:
        snprintf(out, size, "%s", *(const bool *)(const void *)p ? "true" : "false");
        break;
    case KM_CFG_INT:
        snprintf(out, size, "%lld", (long long)*(const int64_t *)(const void *)p);
        break;
    case KM_CFG_DURATION:
        km_duration_format(out, size, *(const int64_t *)(const void *)p);
        break;
    case KM_CFG_SIZE:
        snprintf(out, size, "%llu", (unsigned long long)*(const uint64_t *)(const void *)p);
        break;
    case KM_CFG_ENUM: {
        int i = *(const int *)(const void *)p;

        snprintf(out, size, "%s", f->choices && i >= 0 ? f->choices[i] : "");
        break;
    }
    }
    return out;
}
