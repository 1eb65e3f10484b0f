/*
 * procfile — read a /proc or /sys file again and again through one open descriptor.
 *
 * The agent reads the same few files every interval; keeping each open and calling
 * pread(fd, …, 0) regenerates the kernel's text without an open/close pair, and the
 * buffer is reused, so the steady state makes no system calls beyond the reads and no
 * allocations. A read error closes the descriptor; the next read reopens it (a device
 * that comes back, a file that appears after a module loads). One owner; not
 * thread-safe.
 */
#ifndef KMON_COMMON_PROCFILE_H
#define KMON_COMMON_PROCFILE_H

#include "buf.h"

#include <stddef.h>

struct km_procfile {
    char *path; /* owned */
    int fd;     /* -1 when closed */
    struct km_buf buf;
};

/* Set up for reading `dir`/`rel` (rel may be NULL). Does not open the file yet. */
int km_procfile_init(struct km_procfile *f, const char *dir, const char *rel);

/* Read the whole file. On success *data points into the procfile's buffer (valid until
 * the next read) and is NUL-terminated. KM_ENOTFOUND when the file does not exist,
 * KM_EIO for other failures, KM_ELIMIT past KM_LIMIT_PROCFILE; km_err_msg() names it. */
int km_procfile_read(struct km_procfile *f, const char **data, size_t *len);

/* Close the descriptor, keeping the path and buffer. */
void km_procfile_close(struct km_procfile *f);

/* Close and free everything. Accepts a zeroed or half-initialised procfile. */
void km_procfile_fini(struct km_procfile *f);

/* Read a small file once (open, read, close) into out[0..size), NUL-terminated, with
 * one trailing newline removed. Returns the length or a negative code. */
long km_read_small_file(const char *path, char *out, size_t size);

/* Join "dir" and "rel" with exactly one '/', into out. Returns 0 or KM_ELIMIT. */
int km_path_join(char *out, size_t size, const char *dir, const char *rel);

#endif
