/*
 * eval_dataset — the small, fixed dataset fuzz_promql_eval evaluates queries over: about
 * fifty series of a few hundred samples each, written once through the storage interface
 * into an embedded TSDB (the first half cut into a block on disk, the rest in the head),
 * built from a fixed seed so every run and every replay sees the same data.
 *
 * What it holds (names the generator picks from, eval_dataset.c has the details):
 *   fz_requests_total{job,instance,code}  counters with resets
 *   fz_temp_celsius{instance,room}        gauges with NaN, ±Inf, -0, ±1e308, 5e-324
 *   fz_latency_seconds_bucket{instance,le} a histogram (le="1" and le="1.0" both, a bucket
 *                                         that is not monotonic), with _sum and _count
 *   fz_up{instance}                       0/1 with a gap, staleness markers and a restart
 *   fz_sparse{kind}                       samples minutes apart, timestamps not on a grid
 *   fz_weird{path,re,…}                   label values full of regex metacharacters
 *   fz_x{a}, fz_y{a}                      the same labels once the name is dropped
 * Samples lie in [0, FZ_DATA_END_MS] ms since the epoch; the store's clock is fixed.
 */
#ifndef KMON_TESTS_FUZZ_EVAL_DATASET_H
#define KMON_TESTS_FUZZ_EVAL_DATASET_H

#include "storage/storage.h"

#include <stdint.h>

#define FZ_DATA_START_MS 0LL
#define FZ_DATA_END_MS   (300LL * 15000) /* 75 minutes of 15 s scrapes */

/* Create the dataset in `dir` (an empty directory) and open it as a store. On success
 * *out is new; close it with km_storage_close(). */
int fz_dataset_open(const char *dir, struct km_storage **out);

/* How many series and samples it holds (for the memory bound). */
void fz_dataset_size(uint64_t *series, uint64_t *samples);

#endif
