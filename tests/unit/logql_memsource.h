/*
 * logql_memsource — a tiny in-memory log source (struct km_log_source_ops) for LogQL's
 * tests and fuzz targets: streams added with their labels and entries, selected by
 * matchers and a half-open time range, handed out in small batches (so readers meet
 * batch boundaries) in label order, forward or backward.
 */
#ifndef KMON_TESTS_LOGQL_MEMSOURCE_H
#define KMON_TESTS_LOGQL_MEMSOURCE_H

#include "logs/logsource.h"

#include <stddef.h>
#include <stdint.h>

struct memsource;

/* A new empty source; batch: entries per batch (>= 1). */
struct memsource *memsource_create(size_t batch);
void memsource_destroy(struct memsource *m);

/* Add one entry to the stream with these labels ("a=1,b=2" form, sorted or not); the
 * line is copied. Entries may come in any order (the source sorts them stably). */
int memsource_add(struct memsource *m, const char *labels, int64_t ts_ns, const char *line,
                  size_t len);

/* The source to hand to km_logql_eval. */
struct km_log_source memsource_source(struct memsource *m);

/* How many times a stream was left before its end (readers leaving early), and the
 * must_contain literals of the last select. */
size_t memsource_left_early(const struct memsource *m);
size_t memsource_last_must(const struct memsource *m, const char **first);

#endif
