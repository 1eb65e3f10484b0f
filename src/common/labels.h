/*
 * labels — the label set of a series: name/value pairs sorted by name, unique, with
 * `__name__` holding the metric name, and a 64-bit xxhash (XXH3) over all of it.
 *
 * Two forms: a borrowed array of struct km_label (what collectors and parsers build on
 * the stack, zero-copy) and an owned struct km_labels (one allocation holding the pairs
 * and their strings, immutable once built). The hash is for lookups; identity is always
 * confirmed with km_labels_cmp(), never by the hash alone. Thread-safe (pure functions,
 * immutable values).
 */
#ifndef KMON_COMMON_LABELS_H
#define KMON_COMMON_LABELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KM_METRIC_NAME_LABEL "__name__"

struct km_label {
    const char *name;
    const char *value;
};

struct km_labels {
    uint64_t hash;
    size_t n;
    struct km_label v[]; /* sorted by name; strings live after the array */
};

/* Valid Prometheus names: labels [a-zA-Z_][a-zA-Z0-9_]*, metrics [a-zA-Z_:][a-zA-Z0-9_:]*. */
bool km_label_name_valid(const char *s, size_t n);
bool km_metric_name_valid(const char *s, size_t n);

/* Sort pairs by name (stable for equal names, so duplicates stay detectable). */
void km_labels_sort(struct km_label *v, size_t n);

/* 0 when v is sorted, free of duplicate names and of invalid names; else KM_EINVAL
 * with a message naming the offending label. Empty values are allowed here (they mean
 * "label absent" to Prometheus; ingest drops them before building a set). */
int km_labels_check(const struct km_label *v, size_t n);

/* Hash of a sorted pair array. Equal sets hash equally; different sets almost never. */
uint64_t km_labels_hash(const struct km_label *v, size_t n);

/* Build an owned set from n pairs in any order: copies, sorts, checks, hashes.
 * On success *out is new; the caller frees it with km_labels_destroy(). */
int km_labels_create(struct km_labels **out, const struct km_label *v, size_t n);

/* The same from pairs already sorted and checked (a block's index, written from a
 * checked set): copies and hashes only. */
int km_labels_create_sorted(struct km_labels **out, const struct km_label *v, size_t n);

/* The same from pairs a store holds sorted and checked with their string lengths
 * (without the NUL) and km_labels_hash() known: copies only. */
int km_labels_create_known(struct km_labels **out, const struct km_label *v, const uint32_t *len,
                           size_t n, uint64_t hash);

/* A copy of an owned set. */
int km_labels_dup(struct km_labels **out, const struct km_labels *l);

void km_labels_destroy(struct km_labels *l);

/* Order two sorted pair arrays: by pairs in turn, then by length. 0 means equal. */
int km_labels_cmp_arrays(const struct km_label *a, size_t na, const struct km_label *b, size_t nb);
int km_labels_cmp(const struct km_labels *a, const struct km_labels *b);

/* The value of `name`, or NULL when the set has no such label. */
const char *km_labels_get(const struct km_labels *l, const char *name);

#endif
