/*
 * statfs_pool — statvfs() with a deadline, so a hung mount (an NFS server gone, a FUSE
 * daemon stopped) cannot hang the agent.
 *
 * Calls run on a worker thread; the caller waits at most `timeout_ms`. A call that
 * overruns leaves its worker behind ("stuck"): the pool remembers the path, answers
 * KM_EAGAIN for it without trying again, and uses a fresh worker for other paths. When
 * the stuck call finally returns, that worker forgets the path and exits, and the mount
 * is tried again at the next collection. At most KM_STATFS_MAX_STUCK workers can be
 * stuck at once; past that, calls fail with KM_ELIMIT instead of starting threads.
 *
 * Threads: one caller at a time (the collection thread); workers are internal. The
 * state the workers share outlives the pool until the last stuck worker exits.
 */
#ifndef KMON_AGENT_STATFS_POOL_H
#define KMON_AGENT_STATFS_POOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/statvfs.h>

#define KM_STATFS_MAX_STUCK 64

struct km_statfs_pool;

/* The call to make; statvfs() unless a test injects another. */
typedef int (*km_statvfs_fn)(const char *path, struct statvfs *st);

int km_statfs_pool_create(struct km_statfs_pool **out, int64_t timeout_ms, km_statvfs_fn fn);

/* statvfs(path) within the deadline. 0 and *st filled; KM_ETIMEDOUT when it overran now
 * (the path is stuck from here on); KM_EAGAIN when the path is still stuck from an
 * earlier call; KM_ELIMIT when too many paths are stuck; KM_EIO with errno's text when
 * statvfs failed. */
int km_statfs_pool_stat(struct km_statfs_pool *p, const char *path, struct statvfs *st);

/* Paths currently stuck. */
size_t km_statfs_pool_nstuck(struct km_statfs_pool *p);

/* Stop the idle worker; stuck workers clean up after themselves when they return.
 * Accepts NULL. */
void km_statfs_pool_destroy(struct km_statfs_pool *p);

#endif
