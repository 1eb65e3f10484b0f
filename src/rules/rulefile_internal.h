/*
 * rulefile_internal — what the YAML decoder (rulefile_decode.c) hands the checker
 * (rulefile.c): the file's fields as written, with the positions promtool's messages
 * name. Everything lives in the file's arena.
 */
#ifndef KMON_RULES_RULEFILE_INTERNAL_H
#define KMON_RULES_RULEFILE_INTERNAL_H

#include "common/arena.h"
#include "common/buf.h"
#include "rules/rulefile.h"

#include <stdbool.h>

struct km_rulefile_mem {
    struct km_arena arena;
};

/* A position as Go's yaml.Node gives it: from 1; 0:0 for a field the file lacks. */
struct rf_pos {
    unsigned line, col;
};

struct rf_str {
    const char *v; /* "" when absent or null */
    struct rf_pos pos;
};

struct rf_rule {
    struct rf_str record, alert, expr;
    int64_t for_ms, keep_firing_for_ms;
    struct km_rule_pair *labels; /* in file order */
    size_t nlabels;
    struct km_rule_pair *annotations;
    size_t nannotations;
    unsigned line;
};

struct rf_group {
    struct rf_str name;
    struct rf_pos pos; /* of the group's mapping */
    int64_t interval_ms, limit;
    struct rf_rule *rules;
    size_t nrules;
};

struct rf_doc {
    struct rf_group *groups;
    size_t ngroups;
};

/* Decode text[0..len) as Go's yaml.v3 decodes it into rulefmt.RuleGroups with known
 * fields only. 0 with *doc filled (in `arena`); KM_EINVAL with the decoder's one message
 * in `msg` (no path prefix); KM_ENOMEM; KM_ELIMIT when the file expands past
 * KM_RULEFILE_MAX_NODES. */
int km_rf_decode(struct rf_doc *doc, struct km_arena *arena, const char *text, size_t len,
                 struct km_buf *msg);

#endif
