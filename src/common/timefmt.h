/*
 * timefmt — clocks and time formatting shared by kmon (RFC 3339 timestamps, durations).
 * Pure functions; thread-safe.
 */
#ifndef KMON_COMMON_TIMEFMT_H
#define KMON_COMMON_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* Wall clock (CLOCK_REALTIME) in nanoseconds since the Unix epoch. */
int64_t km_time_now_ns(void);

/* Monotonic clock (CLOCK_MONOTONIC) in nanoseconds. */
int64_t km_time_mono_ns(void);

/* Format a wall-clock time as RFC 3339 in UTC with `digits` fractional digits (0, 3, 6
 * or 9): "2025-06-12T10:25:19.273139Z". Returns the length written (always < size). */
size_t km_time_format_rfc3339(char *out, size_t size, int64_t ns, int digits);

/* Parse an RFC 3339 timestamp ("2025-06-12T10:25:19.273139Z", "…+09:00"; 't', 'z' and
 * a space for 'T' accepted; up to 9 fractional digits). Stores nanoseconds since the
 * epoch. KM_EINVAL with a message when malformed or out of range. */
int km_time_parse_rfc3339(const char *s, int64_t *out_ns);

/* The same in milliseconds since the epoch, for every year from 0000 to 9999. */
int km_time_parse_rfc3339_ms(const char *s, int64_t *out_ms);

/* Prometheus' minimum and maximum times (what its API takes for an absent start or end), in
 * milliseconds: 1677-09-21 and 2262-04-11, the range of Go's time in nanoseconds. */
#define KM_TIME_PROM_MIN_MS (-9223309901257974ll)
#define KM_TIME_PROM_MAX_MS (9223309901257974ll)

/* Parse a time as the Prometheus HTTP API reads one (its parseTime): seconds since the
 * epoch with a fraction rounded to the millisecond ("1435781451.781", "-5") or RFC 3339,
 * and the two texts Prometheus writes for its minimum and maximum times. Stores
 * milliseconds since the epoch. KM_EINVAL with a message when it is none of them. */
int km_time_parse_prom(const char *s, int64_t *out_ms);

/* Format milliseconds since the epoch as RFC 3339 in UTC with milliseconds
 * ("2099-01-01T00:00:00.000Z"); a time outside years 0 to 9999 as "<n> ms since the
 * epoch". Returns out, for use in a format's arguments. */
const char *km_time_format_ms(char *out, size_t size, int64_t ms);

/* Parse a duration: "500ms", "5s", "1m30s", "2h", "15d", "1w", "1y", or a plain number of
 * seconds ("30", "0.5"). Stores milliseconds. KM_EINVAL with a message when malformed,
 * negative or overflowing. */
int km_duration_parse(const char *s, int64_t *out_ms);

/* Format milliseconds as the shortest duration text ("1h30m", "5s", "250ms"). */
size_t km_duration_format(char *out, size_t size, int64_t ms);

/* Parse a byte size: "256MiB", "1GB", "64k", "1048576". Stores bytes. */
int km_size_parse(const char *s, uint64_t *out);

#endif
