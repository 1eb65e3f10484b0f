/*
 * tsdb_internal — definitions shared by the tsdb's own files, never by its users.
 */
#ifndef KMON_TSDB_INTERNAL_H
#define KMON_TSDB_INTERNAL_H

#include "tsdb.h"

#include <stdbool.h>

struct km_regex;

struct km_matcher {
    enum km_match_type type;
    char *name, *value;
    struct km_regex *re;
    bool matches_empty; /* true when a series without the label matches */
};

/* The subsystem name in log lines. */
#define KM_TSDB_LOG "tsdb"

#endif
