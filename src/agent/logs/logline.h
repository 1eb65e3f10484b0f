/*
 * logline — one physical line of a container log file, as the runtimes write them:
 *   CRI (containerd, CRI-O):  <RFC3339Nano> <stdout|stderr> <P|F> <text>
 *   Docker json-file:         {"log":"text\n","stream":"stdout","time":"<RFC3339Nano>"}
 * A CRI `P` line, or a Docker "log" without its final "\n", is a partial: the runtime
 * cut a long line and the next physical lines of the same stream continue it.
 *
 * Pure functions; thread-safe. Input is never trusted: anything malformed is KM_EINVAL
 * (with a sentence), never a crash, and nothing is allocated except into `scratch`.
 */
#ifndef KMON_AGENT_LOGS_LOGLINE_H
#define KMON_AGENT_LOGS_LOGLINE_H

#include "common/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum km_logline_stream { KM_LOGLINE_STDOUT = 0, KM_LOGLINE_STDERR = 1 };

struct km_logline {
    int64_t ts_ns;
    int stream;       /* enum km_logline_stream */
    bool partial;     /* continued by the stream's next line */
    const char *text; /* into the input (CRI) or the scratch buffer (Docker) */
    size_t len;
};

/* Parse one CRI line without its "\n" (p[0..n)). On success *out points into p. */
int km_logline_parse_cri(const char *p, size_t n, struct km_logline *out);

/* Parse one Docker json-file line without its "\n". The unescaped text goes into
 * scratch (reset first; its cap bounds the text); on success *out points into it. */
int km_logline_parse_docker(const char *p, size_t n, struct km_buf *scratch,
                            struct km_logline *out);

/* Parse an RFC 3339 timestamp of p[0..n) (up to 9 fractional digits, Z or an offset)
 * into nanoseconds since the epoch. */
int km_logline_parse_ts(const char *p, size_t n, int64_t *out_ns);

#endif
