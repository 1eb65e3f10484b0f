/*
 * snapshot — what `kmon tsdb snapshot` uses besides km_tsdb_snapshot() (tsdb.h): a copy
 * of a directory tree no process writes, for the log store of a stopped server.
 */
#ifndef KMON_TSDB_SNAPSHOT_H
#define KMON_TSDB_SNAPSHOT_H

#include <stdint.h>

/* Copy the regular files and directories under `from` into `to` (created; it must not
 * exist), each file fsynced, leaving out `lock` files and `*.tmp` names. *bytes (may be
 * NULL) receives the bytes copied. Files are copied, never linked: a store that appends
 * to its files in place would change a link's contents. */
int km_snapshot_copy_tree(const char *from, const char *to, uint64_t *bytes);

#endif
