/*
 * tsdb_internal — definitions shared by the tsdb's own files, never by its users.
 */
#ifndef KMON_TSDB_INTERNAL_H
#define KMON_TSDB_INTERNAL_H

#include "tsdb.h"

#include <stdbool.h>

/* The subsystem name in log lines. */
#define KM_TSDB_LOG "tsdb"

#endif
