/*
 * store — the objects of one kind as the API last told them: compact objects
 * (objects.h) keyed by uid in a hash table, replaced whole on each ADDED or MODIFIED
 * event, removed on DELETED, and replaced as a set by a relist: objects the new list does
 * not contain are removed when it completes (relist_end), so a relist after 410 Gone
 * neither loses nor duplicates an object, and an object deleted while the watch was down
 * goes away. Versions already emitted are kept until the next emission has written
 * their stale markers.
 *
 * Threads: the kind's reflector writes, the emitter reads; one mutex. Parsing happens
 * before the lock is taken.
 */
#ifndef KMON_KSTATE_STORE_H
#define KMON_KSTATE_STORE_H

#include "emit.h"
#include "kinds.h"

#include <stddef.h>

struct km_kstore;

int km_kstore_create(struct km_kstore **out, const struct km_kind *kind, struct km_intern *in);
/* Accepts NULL. */
void km_kstore_destroy(struct km_kstore *s);

/* Parse an API object and put it in place of the one with its uid. KM_EINVAL (with a
 * sentence) when it is not a usable object of the kind; the store is then unchanged. */
int km_kstore_upsert(struct km_kstore *s, struct km_kparse *p, const json_t *obj);

/* Remove the object with the uid in obj's metadata (a DELETED event). */
void km_kstore_delete(struct km_kstore *s, const json_t *obj);

/* A relist starts: objects put from now on are part of the new list. */
void km_kstore_relist_begin(struct km_kstore *s);
/* The relist completed: remove the objects it did not contain; returns how many. */
size_t km_kstore_relist_end(struct km_kstore *s);

size_t km_kstore_count(struct km_kstore *s);

/* Declare the kind's families in e and emit every object, then the stale markers of
 * the objects' versions emitted last time and gone since (replaced, deleted, dropped by
 * a relist). Returns the number of stale markers. */
uint64_t km_kstore_emit(struct km_kstore *s, struct km_kemit *e);

/* A view (for /metrics), in parts: emit the objects from bucket *pos on into e (whose
 * filter usually names one family) until its set holds `max` samples or the table ends;
 * *pos moves on. Returns true at the table's end. Marks nothing emitted, retires
 * nothing: the emissions' stale markers are not disturbed. */
bool km_kstore_view(struct km_kstore *s, struct km_kemit *e, size_t *pos, size_t max);

/* Nothing emitted is out there any more (another replica emits): drop the retired
 * versions without markers, and the next emission starts from nothing. */
void km_kstore_forget(struct km_kstore *s);

/* Call fn on each object under the lock (tests, tools). */
void km_kstore_each(struct km_kstore *s, void (*fn)(void *ud, const void *obj), void *ud);

#endif
