/*
 * log — levelled, line-atomic logging to stderr (see log.h). The level and format are
 * atomics so any thread may read them while another changes them.
 */
#include "log.h"

#include "err.h"
#include "timefmt.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define KM_LOG_LINE_MAX 2048

static atomic_int log_level = KM_LOG_INFO;
static atomic_int log_format = KM_LOG_TEXT;
static atomic_int log_fd = 2;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void km_log_set_level(enum km_log_level level)
{
    atomic_store(&log_level, (int)level);
}

void km_log_set_format(enum km_log_format format)
{
    atomic_store(&log_format, (int)format);
}

void km_log_set_fd(int fd)
{
    atomic_store(&log_fd, fd);
}

bool km_log_enabled(enum km_log_level level)
{
    return (int)level <= atomic_load_explicit(&log_level, memory_order_relaxed);
}

int km_log_parse_level(const char *s, enum km_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum km_log_level)i;
            return 0;
        }
    }
    if (strcmp(s, "warning") == 0) {
        *out = KM_LOG_WARN;
        return 0;
    }
    return km_err_set(KM_EINVAL, "unknown log level \"%s\" (want error, warn, info or debug)", s);
}

int km_log_parse_format(const char *s, enum km_log_format *out)
{
    if (strcmp(s, "text") == 0) {
        *out = KM_LOG_TEXT;
        return 0;
    }
    if (strcmp(s, "logfmt") == 0) {
        *out = KM_LOG_LOGFMT;
        return 0;
    }
    return km_err_set(KM_EINVAL, "unknown log format \"%s\" (want text or logfmt)", s);
}

/* Append s to line[*n..cap) with logfmt quoting of '"' and '\' and newlines. */
static void put_quoted(char *line, size_t *n, size_t cap, const char *s)
{
    for (; *s && *n + 2 < cap; s++) {
        if (*s == '"' || *s == '\\') {
            line[(*n)++] = '\\';
            line[(*n)++] = *s;
        } else if (*s == '\n') {
            line[(*n)++] = '\\';
            line[(*n)++] = 'n';
        } else {
            line[(*n)++] = *s;
        }
    }
}

void km_log_write(enum km_log_level level, const char *module, const char *fmt, ...)
{
    char line[KM_LOG_LINE_MAX], msg[KM_LOG_LINE_MAX - 128], ts[40];
    int saved_errno = errno;
    size_t n = 0;
    va_list ap;
    int w;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    km_time_format_rfc3339(ts, sizeof(ts), km_time_now_ns(), 3);
    if (atomic_load(&log_format) == KM_LOG_LOGFMT) {
        w = snprintf(line, sizeof(line), "ts=%s level=%s module=%s msg=\"", ts, level_names[level],
                     module);
        n = w > 0 ? (size_t)w : 0;
        put_quoted(line, &n, sizeof(line) - 2, msg);
        line[n++] = '"';
    } else {
        w = snprintf(line, sizeof(line), "%s %-5s %s: %s", ts, level_names[level], module, msg);
        n = w > 0 ? (size_t)w : 0;
        if (n > sizeof(line) - 2)
            n = sizeof(line) - 2;
    }
    line[n++] = '\n';
    if (write(atomic_load(&log_fd), line, n) < 0) {
        /* Nowhere left to report a failed log write. */
    }
    errno = saved_errno;
}

bool km_log_limit_take(struct km_log_limit *l, uint64_t *held_back)
{
    int64_t now = km_time_mono_ns();
    int64_t next = atomic_load(&l->next_ns);

    if (now < next || !atomic_compare_exchange_strong(&l->next_ns, &next, now + l->period_ns)) {
        atomic_fetch_add(&l->held, 1);
        return false;
    }
    *held_back = atomic_exchange(&l->held, 0);
    return true;
}
