/*
 * read — what the read side's files (query.c, query_meta.c) share: one SELECT run on any
 * live node with its RowBinary answer streamed through the decoder, counted in the read
 * statistics (queries, errors, rows, bytes, time), and its failure said in words that
 * name ClickHouse. Not for use outside src/chstore/.
 */
#ifndef KMON_CHSTORE_READ_H
#define KMON_CHSTORE_READ_H

#include "chstore/chstore_internal.h"
#include "chstore/rowbin.h"
#include "common/arena.h"

/* A querier: one store, one range [mint, maxt] (query.c opens it). */
struct km_ch_querier {
    struct km_ch_store *st;
    int64_t mint, maxt;
};

/* Run `sql` (ending in FORMAT RowBinary) and hand each row of `ncols` columns of types
 * `cols` to fn(ud, row). Returns 0; KM_EAGAIN when no node answers ("ClickHouse …: …");
 * KM_EINVAL when ClickHouse refused it; KM_ECORRUPT for an answer that is not the rows
 * asked for (it may have broken off: ClickHouse ends an answer it already began with its
 * error's text); fn's error. */
int km_ch_read_rows(struct km_ch_store *st, const char *sql, const enum km_ch_col *cols,
                    size_t ncols, km_ch_row_fn fn, void *ud);
/* The same on one node (its index; < 0: any). */
int km_ch_read_rows_on(struct km_ch_store *st, int node, const char *sql,
                       const enum km_ch_col *cols, size_t ncols, km_ch_row_fn fn, void *ud);

/* Run `sql` whose rows are one String each and hand each (NUL-terminated; a repeat of
 * the one before skipped) to fn(ud, s), until fn returns non-zero (then 0 is returned).
 * (query_meta.c) */
int km_ch_read_strings(struct km_ch_store *st, const char *sql, km_str_fn fn, void *ud);

/* A NUL-terminated copy of a String of the answer in `a`; NULL with *rc set when it
 * holds a NUL byte (KM_ECORRUPT: no label may) or memory runs out. */
const char *km_ch_read_cstr(struct km_arena *a, const struct km_ch_str *s, int *rc);

#endif
