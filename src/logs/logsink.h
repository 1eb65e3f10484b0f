/*
 * logsink — the write seam of the log path: what the server's Loki push API, its OTLP
 * logs receiver and its Kubernetes Events collector push entries into. The embedded log
 * store implements it (km_logstore_sink(), logstore.h), the ClickHouse store does
 * (km_ch_log_sink(), src/chstore/chstore.h); the server picks one by --storage.
 *
 * A push takes streams as a client sent them and judges each entry on its own, the same
 * way in every store (logcheck.h): invalid labels, too far in the future, older than the
 * retention, too far behind its stream's newest entry, too long, one stream too many.
 * The refusals are counted in the result (with one example sentence for the client's
 * 400), not an error. push returns 0 once what it counted stored is durable in the
 * store's write-ahead; a negative code only when the store itself failed (nothing of
 * the call acknowledged: the client should retry).
 *
 * Threads: push and metrics may be called from any thread.
 */
#ifndef KMON_LOGS_LOGSINK_H
#define KMON_LOGS_LOGSINK_H

#include "logs/logtypes.h"

#include <stddef.h>
#include <stdint.h>

struct km_mset;

enum km_log_refusal {
    KM_LOG_INVALID,      /* the stream's labels (or the entry) are invalid */
    KM_LOG_TOO_NEW,      /* too far in the future */
    KM_LOG_RETENTION,    /* older than the retention */
    KM_LOG_TOO_OLD,      /* behind its stream's newest by more than the window */
    KM_LOG_TOO_LONG,     /* line longer than max_line_bytes */
    KM_LOG_STREAM_LIMIT, /* a new stream past max_streams */
    KM_LOG_REFUSAL__N,
};

/* What one push did. `example` holds one refused entry, as a sentence naming its
 * stream, timestamp and reason, for the client's 400 (empty when nothing was refused).
 * `duplicate` counts entries the store recognised as already stored (a store that
 * cannot tell counts them stored and drops the copies when reading). */
struct km_log_push_result {
    uint64_t stored, duplicate;
    uint64_t refused[KM_LOG_REFUSAL__N];
    uint64_t refused_total;
    char example[512];
};

/* A few words naming a refusal ("too far in the future", …) for messages and the
 * reason label of kmon_logs_entries_total. */
const char *km_log_refusal_str(enum km_log_refusal r);
const char *km_log_refusal_reason(enum km_log_refusal r); /* "too_new", … */

struct km_log_sink {
    /* Push n streams (res is zeroed by the call). */
    int (*push)(void *ctx, const struct km_log_push_stream *st, size_t n,
                struct km_log_push_result *res);
    /* The store's kmon_logs_* families (NULL: none). */
    void (*metrics)(void *ctx, struct km_mset *m);
    void *ctx;
};

static inline int km_log_sink_push(const struct km_log_sink *s, const struct km_log_push_stream *st,
                                   size_t n, struct km_log_push_result *res)
{
    return s->push(s->ctx, st, n, res);
}

#endif
