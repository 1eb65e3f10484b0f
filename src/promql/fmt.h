/*
 * fmt — numbers as the Prometheus HTTP API writes them, so that clients comparing
 * strings see what they would see from Prometheus: sample values as Go's
 * strconv.FormatFloat(v, 'f', -1, 64) (shortest text that reads back to the same
 * double; 'e' form below 1e-6 and from 1e21; "NaN", "+Inf", "-Inf"), timestamps as
 * seconds with up to three decimals ("1435781451.781", "1435781451.78" is written
 * "1435781451.780", "12" for whole seconds), and the label value count_values gives.
 * Pure functions; thread-safe.
 */
#ifndef KMON_PROMQL_FMT_H
#define KMON_PROMQL_FMT_H

#include <stddef.h>
#include <stdint.h>

/* Room for any number written here (the 'f' form of a double takes up to ~330). */
#define KM_PQ_FMT_MAX 512

/* A sample value as the API writes it (without quotes). Returns the length. */
size_t km_pq_fmt_value(char *out, size_t size, double v);

/* A timestamp in ms as seconds with its milliseconds ("-1.5", "12", "12.034"). */
size_t km_pq_fmt_time(char *out, size_t size, int64_t ms);

/* A float as Go's strconv.FormatFloat(v, 'f', -1, 64) writes it (no exponent ever):
 * what count_values puts in its label. */
size_t km_pq_fmt_float_f(char *out, size_t size, double v);

/* Go's strconv.FormatFloat(v, 'g', -1, 64) (what %v prints in error messages). */
size_t km_pq_fmt_float_g(char *out, size_t size, double v);

/* A float as Go's encoding/json writes one (shortest; 'e' form below 1e-6 and from 1e21,
 * e.g. "1796397007.25"): the timestamps of scalar and string results. */
size_t km_pq_fmt_json_float(char *out, size_t size, double v);

#endif
