/*
 * wal_records — encoding and decoding of the WAL's series and samples records (layout
 * in FORMAT.md). Used by the database for appends, replay and checkpoints.
 * Pure functions; thread-safe.
 */
#ifndef KMON_TSDB_WAL_RECORDS_H
#define KMON_TSDB_WAL_RECORDS_H

#include "common/buf.h"
#include "common/labels.h"

#include <stddef.h>
#include <stdint.h>

/* Series record: start with a count placeholder, add series, then finish. */
void km_walrec_series_begin(struct km_buf *b);
void km_walrec_series_add(struct km_buf *b, uint64_t ref, const struct km_label *l, size_t n);
void km_walrec_finish(struct km_buf *b, uint64_t count);

/* Samples record. */
void km_walrec_samples_begin(struct km_buf *b, int64_t base_t);
void km_walrec_samples_add(struct km_buf *b, uint64_t ref, int64_t base_t, int64_t t, double v);

/* Decoding: callbacks per series / sample. A non-zero return stops and is returned;
 * malformed payloads give KM_ECORRUPT. Label strings passed to the series callback are
 * NUL-terminated copies valid during the call. */
typedef int (*km_walrec_series_fn)(void *ud, uint64_t ref, const struct km_label *l, size_t n);
typedef int (*km_walrec_sample_fn)(void *ud, uint64_t ref, int64_t t, double v);

int km_walrec_decode_series(const uint8_t *p, size_t len, km_walrec_series_fn fn, void *ud);
int km_walrec_decode_samples(const uint8_t *p, size_t len, km_walrec_sample_fn fn, void *ud);

#endif
