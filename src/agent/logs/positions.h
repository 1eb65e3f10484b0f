/*
 * positions — the log tailer's checkpoint: for every file it follows, the file's
 * identity (device, inode, and a hash of its first bytes against inode reuse) and the
 * offset up to which the server acknowledged its lines. Written durably (a temporary
 * file, fsync, rename, fsync of the directory) so a crash leaves the old or the new
 * checkpoint whole, never a mix.
 *
 * File <state dir>/positions, text, one file a line after a version line:
 *   kmon-log-positions 1
 *   <dev> <inode> <fp_len> <fp as 16 hex digits> <offset> <done 0|1> <path>
 * <path> is relative to the pods directory (<ns>_<pod>_<uid>/<container>/<name>) and has
 * no spaces or newlines (Kubernetes names cannot hold them; others are not saved).
 * Pure functions; one caller at a time per directory.
 */
#ifndef KMON_AGENT_LOGS_POSITIONS_H
#define KMON_AGENT_LOGS_POSITIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KM_LOGPOS_FP_MAX   1024u      /* bytes hashed at the start of a file */
#define KM_LOGPOS_MAX      (1u << 20) /* entries in one checkpoint */
#define KM_LOGPOS_PATH_MAX 1024u

struct km_logpos {
    char *path;
    uint64_t dev, ino;
    uint32_t fp_len; /* bytes hashed (less than KM_LOGPOS_FP_MAX for a short file) */
    uint64_t fp;     /* XXH3 of the first fp_len bytes (of the uncompressed text) */
    uint64_t off;    /* acknowledged up to here (uncompressed offset) */
    bool done;       /* read to its end and acknowledged: never read again */
    bool used;       /* for the caller: matched to a file */
};

/* The hash of a file's first bytes. */
uint64_t km_logpos_hash(const void *p, size_t n);

/* Read <dir>/positions. On success *out is a new array of *n entries (none when the
 * file does not exist); free with km_logpos_free(). A damaged checkpoint is
 * KM_ECORRUPT with the line's number. */
int km_logpos_load(const char *dir, struct km_logpos **out, size_t *n);

/* Replace <dir>/positions with p[0..n), durably. Entries whose path holds a space or a
 * newline are skipped. */
int km_logpos_save(const char *dir, const struct km_logpos *p, size_t n);

/* Accepts NULL. */
void km_logpos_free(struct km_logpos *p, size_t n);

#endif
