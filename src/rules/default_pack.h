/*
 * default_pack — kmon's default rule pack (the YAML files of rules/default in the source tree,
 * docs/rules.md), compiled into the binary at build time by cmake/embed_rules.cmake.
 */
#ifndef KMON_RULES_DEFAULT_PACK_H
#define KMON_RULES_DEFAULT_PACK_H

#include <stddef.h>

struct km_rules_embedded {
    const char *name; /* "kubernetes-apps.yaml" */
    const char *text; /* the file's bytes, NUL-terminated */
    size_t len;
};

/* The files, in name order; a { NULL } entry ends the table. */
extern const struct km_rules_embedded km_rules_default_pack[];
extern const size_t km_rules_default_pack_count;

#endif
