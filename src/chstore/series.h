/*
 * series — the map of the series this kmon server has written to ClickHouse (series.c):
 * id → label set, first sample time seen, hour of the last series row written; bounded,
 * thread-safe. The series id itself is km_ch_series_id() (chstore_internal.h).
 */
#ifndef KMON_CHSTORE_SERIES_H
#define KMON_CHSTORE_SERIES_H

#include "chstore/chstore_internal.h"

#include <stdbool.h>
#include <stdint.h>

#define KM_CH_KNOWN_DEFAULT_MAX (8u * 1024 * 1024) /* series kept (0 given to create) */
#define KM_CH_HOUR_MS           (3600 * 1000LL)    /* series rows are written hourly */

/* What noting a sample of a series says. */
struct km_ch_note {
    bool created;     /* the id was new to the map (or the map is full) */
    bool write_row;   /* write a series row now (new id, or a newer hour than the last row) */
    int64_t first_ms; /* the first sample time seen of it (the row's first_ms) */
};

/* On success *out is new; at most `max` series (0: KM_CH_KNOWN_DEFAULT_MAX). */
int km_ch_known_create(struct km_ch_known **out, size_t max);
void km_ch_known_destroy(struct km_ch_known *k); /* accepts NULL */

/* Note a sample at time t of series `id` with labels l (sorted, checked, without empty
 * values), adding the series if new. now_ms: the clock, to forget idle series when full.
 * The row's hour is remembered only by km_ch_known_written(), once the row is spooled. */
int km_ch_known_note(struct km_ch_known *k, uint64_t id, const struct km_label *l, size_t n,
                     int64_t t, int64_t now_ms, struct km_ch_note *out);

void km_ch_known_written(struct km_ch_known *k, uint64_t id, int64_t t);

/* Call fn with the labels of `id` and what noting a sample at t says, under the map's
 * lock (fn must not call the map).
 * KM_ENOTFOUND when the map does not hold id; else fn's return. */
typedef int (*km_ch_known_fn)(void *ud, const struct km_labels *l, const struct km_ch_note *note);
int km_ch_known_with(struct km_ch_known *k, uint64_t id, int64_t t, km_ch_known_fn fn, void *ud);

bool km_ch_known_has(struct km_ch_known *k, uint64_t id);
uint64_t km_ch_known_size(struct km_ch_known *k);

#endif
