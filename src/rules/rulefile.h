/*
 * rulefile — Prometheus rule files read and checked as Prometheus 2.42 reads them
 * (rulefmt): YAML `groups` of `name`, `interval`, `limit` and `rules`, each rule a
 * `record` or an `alert` with `expr`, `for`, `keep_firing_for`, `labels` and
 * `annotations`. Unknown fields, wrong types, repeated keys, bad durations, expressions
 * that do not parse and templates that do not parse are refused with the messages
 * `promtool check rules` prints, one error per line, each prefixed by the file's path:
 *
 *   rules.yaml: 5:15: group "g1", rule 1, "job:up:sum": could not parse expression: 1:17: …
 *   rules.yaml: yaml: unmarshal errors:
 *     line 3: field foo not found in type rulefmt.RuleGroup
 *
 * A loaded file owns everything it points to (one arena); it is immutable after the
 * load and may be shared between threads.
 */
#ifndef KMON_RULES_RULEFILE_H
#define KMON_RULES_RULEFILE_H

#include "common/buf.h"

#include <stddef.h>
#include <stdint.h>

/* A rule file larger than this is refused (the biggest mixins are ~300 KB). */
#define KM_RULEFILE_MAX_BYTES (16u << 20)
/* YAML nodes visited while decoding one file, aliases counted at every use: a file of
 * nested aliases (a "billion laughs") stops here instead of expanding. */
#define KM_RULEFILE_MAX_NODES 2000000u

struct km_promql_expr;
struct km_tmpl;

enum km_rule_kind { KM_RULE_RECORD, KM_RULE_ALERT };

/* A label or an annotation: its value is a template for alerting rules. */
struct km_rule_pair {
    const char *name;
    const char *value;
    struct km_tmpl *tmpl; /* alerting rules: the parsed value; NULL for recording rules */
};

struct km_rule {
    enum km_rule_kind kind;
    const char *name; /* the `record` or `alert` value */
    const char *expr_text;
    struct km_promql_expr *expr;
    int64_t for_ms, keep_firing_for_ms;
    struct km_rule_pair *labels; /* sorted by name */
    size_t nlabels;
    struct km_rule_pair *annotations; /* sorted by name */
    size_t nannotations;
    unsigned line; /* of the rule in its file, from 1 */
};

struct km_rule_group {
    const char *name;
    int64_t interval_ms; /* 0: the manager's default evaluation interval */
    int64_t limit;       /* 0: none */
    struct km_rule *rules;
    size_t nrules;
};

struct km_rulefile {
    char *path;
    struct km_rule_group *groups;
    size_t ngroups;
    size_t nrules; /* over all groups */
    struct km_rulefile_mem *mem;
};

/* Read and check text[0..len), the content of `path` (used in messages). On success *out
 * is new (free it with km_rulefile_destroy()). KM_EINVAL when the file is refused, with
 * every error appended to `errs` one per line (a line may span several, as promtool's
 * "unmarshal errors" do); KM_ENOMEM, KM_ELIMIT (too large or too many nodes). */
int km_rulefile_parse(struct km_rulefile **out, const char *path, const char *text, size_t len,
                      struct km_buf *errs);

/* The same for the file at `path`: KM_ENOTFOUND or KM_EIO with a sentence in errs when it
 * cannot be read. */
int km_rulefile_load(struct km_rulefile **out, const char *path, struct km_buf *errs);

void km_rulefile_destroy(struct km_rulefile *f);

/* promtool's duplicate-rules lint: rules (recording or alerting) of the same name and
 * labels in the file, appended to `out` as promtool prints them. Returns how many. */
size_t km_rulefile_lint_duplicates(const struct km_rulefile *f, struct km_buf *out);

#endif
