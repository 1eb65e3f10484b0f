/*
 * log — kmon's one logging API: levels, a module name, one line per message on stderr.
 *
 *   2026-11-22T10:15:03.120Z info  agent: listening on 0.0.0.0:9105
 *
 * Lines are written with a single write(2), so concurrent threads never interleave
 * within a line. The level is process-wide and may be changed at any time.
 * Libraries do not log errors they return; they log only what nobody else would see
 * (progress of long work, a skipped malformed line at debug).
 */
#ifndef KMON_COMMON_LOG_H
#define KMON_COMMON_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum km_log_level {
    KM_LOG_ERROR = 0,
    KM_LOG_WARN = 1,
    KM_LOG_INFO = 2,
    KM_LOG_DEBUG = 3,
};

enum km_log_format {
    KM_LOG_TEXT = 0,   /* human-readable, as above */
    KM_LOG_LOGFMT = 1, /* ts=… level=… module=… msg="…" for log pipelines */
};

void km_log_set_level(enum km_log_level level);
void km_log_set_format(enum km_log_format format);
bool km_log_enabled(enum km_log_level level);

/* "error", "warn", "info", "debug" → level; KM_EINVAL with a message otherwise. */
int km_log_parse_level(const char *s, enum km_log_level *out);
int km_log_parse_format(const char *s, enum km_log_format *out);

/* Redirect output to `fd` (default 2, stderr). */
void km_log_set_fd(int fd);

void km_log_write(enum km_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Arguments are not evaluated when the level is disabled. */
#define km_log_error(module, ...)                                                                  \
    (km_log_enabled(KM_LOG_ERROR) ? km_log_write(KM_LOG_ERROR, module, __VA_ARGS__) : (void)0)
#define km_log_warn(module, ...)                                                                   \
    (km_log_enabled(KM_LOG_WARN) ? km_log_write(KM_LOG_WARN, module, __VA_ARGS__) : (void)0)
#define km_log_info(module, ...)                                                                   \
    (km_log_enabled(KM_LOG_INFO) ? km_log_write(KM_LOG_INFO, module, __VA_ARGS__) : (void)0)
#define km_log_debug(module, ...)                                                                  \
    (km_log_enabled(KM_LOG_DEBUG) ? km_log_write(KM_LOG_DEBUG, module, __VA_ARGS__) : (void)0)

/* At most one message per period from one place (a flood of bad requests must not
 * flood the log): km_log_limit_take() says whether to log now, and how many messages it
 * held back since the last one it let through. Thread-safe; zero-initialise with the
 * period: struct km_log_limit l = KM_LOG_LIMIT_INIT(10). */
struct km_log_limit {
    atomic_int_fast64_t next_ns;
    atomic_uint_fast64_t held;
    int64_t period_ns;
};

#define KM_LOG_LIMIT_INIT(seconds)                                                                 \
    {                                                                                              \
        0, 0, (int64_t)(seconds)*1000000000                                                        \
    }

bool km_log_limit_take(struct km_log_limit *l, uint64_t *held_back);

#endif
