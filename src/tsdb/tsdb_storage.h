/*
 * tsdb_storage — the embedded TSDB as a kmon store (storage/storage.h): what the server
 * opens when --storage is tsdb, the default. Public, next to tsdb.h.
 */
#ifndef KMON_TSDB_TSDB_STORAGE_H
#define KMON_TSDB_TSDB_STORAGE_H

#include "storage/storage.h"
#include "tsdb/tsdb.h"

/* Open (or create) the database in o->dir as a store, replaying its WAL. On success *out
 * is new; close it with km_storage_close(). */
int km_tsdb_storage_open(struct km_storage **out, const struct km_tsdb_opts *o);

/* The same from the generic configuration: what the server calls for --storage tsdb. */
int km_storage_open_tsdb(struct km_storage **out, const struct km_storage_config *c);

/* km_tsdb_snapshot() of a store km_storage_open_tsdb() opened, its metric metadata
 * saved first so that the copy has it. KM_EINVAL for another kind of store. */
int km_tsdb_storage_snapshot(struct km_storage *s, const char *out, bool skip_head,
                             struct km_tsdb_snapshot_stats *st);

#endif
