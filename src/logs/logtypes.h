/*
 * logtypes — the plain types every part of kmon's log path shares: one log entry
 * (a timestamp in nanoseconds and a line of bytes) and one stream's entries as a client
 * pushes them (its labels and entries). The agent's tailer builds them, the Loki push
 * codec (src/remote/loki_push.h) decodes and encodes them, the log store
 * (src/logs/logstore.h) takes them and LogQL reads them back (src/logs/logsource.h).
 *
 * Lines are bytes with a length: they may hold any byte, NUL included, and are not
 * NUL-terminated unless a producer says so. Nothing here allocates.
 */
#ifndef KMON_LOGS_LOGTYPES_H
#define KMON_LOGS_LOGTYPES_H

#include "common/labels.h"

#include <stddef.h>
#include <stdint.h>

/* One log line. */
struct km_log_entry {
    int64_t ts_ns;    /* nanoseconds since the Unix epoch (UTC) */
    const char *line; /* borrowed; `len` bytes */
    size_t len;
};

/* One stream's entries, as pushed: labels in any order (the store sorts and checks
 * them), entries in any order (the store orders them). Everything borrowed. */
struct km_log_push_stream {
    const struct km_label *labels;
    size_t n_labels;
    const struct km_log_entry *entries;
    size_t n_entries;
};

#endif
