/*
 * intern — a table of shared, reference-counted strings for the cluster-state stores:
 * the namespace "default", a node's name, an image or a label value repeated by
 * thousands of pods is kept once. A string handed out stays valid until released as
 * many times as it was acquired; the last release frees it.
 *
 * Threads: the table has its own lock (the reflectors of several kinds intern into one
 * table); the strings it hands out are immutable and may be read without it.
 */
#ifndef KMON_KSTATE_INTERN_H
#define KMON_KSTATE_INTERN_H

#include <stddef.h>
#include <stdint.h>

struct km_intern;

int km_intern_create(struct km_intern **out);
/* Accepts NULL. Every string must have been released. */
void km_intern_destroy(struct km_intern *t);

/* The shared copy of s (NULL for NULL), acquired once more; NULL with KM_ENOMEM set when
 * out of memory. */
const char *km_intern_get(struct km_intern *t, const char *s);
const char *km_intern_getn(struct km_intern *t, const char *s, size_t n);

/* Give back one reference. Accepts NULL. */
void km_intern_put(struct km_intern *t, const char *s);

/* Distinct strings held and the bytes they take (for self-metrics and tests). */
void km_intern_stats(struct km_intern *t, uint64_t *strings, uint64_t *bytes);

#endif
