/*
 * fsutil — small file-system helpers the commands share before they open their
 * directories: creating a directory with its missing parents (a fresh node has no
 * /var/lib/kmon), reading a configuration file whole. Thread-safe; nothing is kept
 * between calls.
 */
#ifndef KMON_COMMON_FSUTIL_H
#define KMON_COMMON_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* Create directory `path` and every missing parent with `mode` (0750; the umask
 * applies), like mkdir -p. An existing directory is fine; an existing non-directory is
 * not. Returns 0, or KM_EIO / KM_EINVAL with a message naming the component that could
 * not be made and why (km_err_errno() gives the errno). */
int km_mkdir_p(const char *path, mode_t mode);

/* km_mkdir_p() for a directory a setting names, with a message a user can act on:
 * "cannot create the <what> <path> (creating /var/lib/kmon: Permission denied); give
 * another with --<flag> DIR". */
int km_mkdir_setting(const char *path, mode_t mode, const char *what, const char *flag);

/* Read the whole of a (configuration) file into out (initialised here; the caller
 * finishes it, also on error): KM_EIO naming the file when it cannot be read, KM_ELIMIT
 * when it holds more than max bytes. */
struct km_buf;
int km_file_read(const char *path, size_t max, struct km_buf *out);

#endif
