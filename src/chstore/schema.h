/*
 * schema — kmon's tables in ClickHouse (SCHEMA.md), created or checked on every node
 * (schema.c), and the names reads use.
 */
#ifndef KMON_CHSTORE_SCHEMA_H
#define KMON_CHSTORE_SCHEMA_H

#include "chstore/chstore_internal.h"

#include <stdbool.h>

/* Whether s can name a database or cluster in kmon's statements ([A-Za-z_][A-Za-z0-9_]*,
 * at most 64 bytes). */
bool km_ch_ident_valid(const char *s);

/* The table names of database db (quoted) for reads. */
void km_ch_tables_init(struct km_ch_tables *t, const char *db, bool cluster);

/* Create the database, tables and views on every node (cluster: the _local tables and
 * Distributed ones over them; NULL: plain tables), record the schema version. KM_EAGAIN
 * while a node does not answer; KM_EINVAL when a node refuses (its schema is newer, a
 * statement failed, its version is older than 18.16). */
int km_ch_schema_apply(struct km_ch_client *cl, const char *cluster);

#endif
