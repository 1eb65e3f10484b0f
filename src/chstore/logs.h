/*
 * logs — the ClickHouse store's logs (SCHEMA.md "Logs"): the log sink of logs_write.c
 * (pushes judged as the embedded store judges them, spooled as log stream and entry
 * rows) and the log source of logs_read.c (LogQL's reads over SQL). chstore.c hands
 * them out through km_ch_logs_open() (chstore.h). Not for use outside src/chstore/.
 */
#ifndef KMON_CHSTORE_LOGS_H
#define KMON_CHSTORE_LOGS_H

#include "chstore/chstore_internal.h"
#include "logs/logcheck.h"
#include "logs/logsink.h"
#include "logs/logsource.h"

struct km_mset;

/* Set up st->logs with the limits (resolved: logcheck.h); the logs' retention becomes
 * lim's. KM_EINVAL when done already. */
int km_ch_logs_create(struct km_ch_store *st, const struct km_log_limits *lim);
/* Accepts st->logs NULL. */
void km_ch_logs_destroy(struct km_ch_store *st);

/* The sink's ops (ctx: the struct km_ch_store). */
int km_ch_log_push(void *ctx, const struct km_log_push_stream *ps, size_t n,
                   struct km_log_push_result *res);
void km_ch_log_metrics(void *ctx, struct km_mset *m);

/* The source's ops (ctx: the struct km_ch_store). */
extern const struct km_log_source_ops km_ch_log_source_ops;

#endif
