/*
 * expfmt — writer of the Prometheus text exposition format, version 0.0.4:
 *
 *   # HELP node_load1 1m load average.
 *   # TYPE node_load1 gauge
 *   node_load1 0.21
 *   node_cpu_seconds_total{cpu="0",mode="idle"} 19489.5
 *
 * HELP text escapes '\' and newline; label values escape '\', '"' and newline; bytes
 * that are not valid UTF-8 become U+FFFD (Prometheus rejects the whole scrape
 * otherwise). Values are written by km_fmt_double(). Writes into a km_buf; errors land
 * in its sticky error. Pure functions; thread-safe.
 */
#ifndef KMON_COMMON_EXPFMT_H
#define KMON_COMMON_EXPFMT_H

#include "buf.h"
#include "labels.h"

#include <stdbool.h>
#include <stdint.h>

#define KM_EXPFMT_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The # HELP and # TYPE lines of a family. `type` is "counter", "gauge", "untyped", … ;
 * `help` may be NULL to omit the HELP line. */
void km_expfmt_family(struct km_buf *b, const char *name, const char *help, const char *type);

/* One sample line. Labels are written in the order given; `ts_ms` is written only when
 * `with_ts` is true. */
void km_expfmt_sample(struct km_buf *b, const char *name, const struct km_label *labels,
                      size_t nlabels, double value, bool with_ts, int64_t ts_ms);

/* Escaping helpers, exposed for tests. */
void km_expfmt_escape_help(struct km_buf *b, const char *s);
void km_expfmt_escape_label_value(struct km_buf *b, const char *s);

#endif
