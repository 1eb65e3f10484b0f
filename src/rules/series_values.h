/*
 * series_values — the expanding notation of promtool's unit tests (`input_series`
 * values): "1 2 3", "1+1x3" (1 2 3 4), "5-1x2" (5 4 3), "0x3" (0 0 0 0), "_" (no sample),
 * "_x3" (four missing), "stale" (a stale marker), and Inf, -Inf, NaN. Pure; thread-safe.
 */
#ifndef KMON_RULES_SERIES_VALUES_H
#define KMON_RULES_SERIES_VALUES_H

#include "common/buf.h"

#include <stdbool.h>
#include <stddef.h>

/* Values of one series beyond this are refused (12 days at 1 s steps). */
#define KM_SERIES_VALUES_MAX (1u << 20)

struct km_series_value {
    double v;
    bool missing; /* "_": no sample at this step */
};

/* Expand `text` into *out (malloc'ed, *n values, one per step from 0). KM_EINVAL with a
 * message in `err` naming the bad term; KM_ELIMIT past KM_SERIES_VALUES_MAX. */
int km_series_values_parse(const char *text, struct km_series_value **out, size_t *n,
                           struct km_buf *err);

#endif
