/*
 * data_version — the data directory's format version: DIR/kmon.version, one line holding a
 * decimal number, written when the directory is created. A server refuses a directory
 * whose version is newer than the one it writes (an upgrade that went back); a directory
 * without the file (made before it existed) is version 1 and gets the file.
 */
#ifndef KMON_TSDB_DATA_VERSION_H
#define KMON_TSDB_DATA_VERSION_H

#include <stdbool.h>

/* The format this build writes and the newest it reads. */
#define KM_DATA_FORMAT_VERSION 1

/* The file's name inside the data directory. */
#define KM_DATA_VERSION_FILE "kmon.version"

/* Check the version of the data directory `dir`: KM_EINVAL with a sentence naming the
 * directory and both versions when it is newer than this build's, KM_ECORRUPT when the
 * file cannot be read as a version. When `write` is set, a missing file is written
 * (version 1 for a directory already holding data, this build's version for a new
 * one). *version (may be NULL) receives the directory's version. */
int km_data_version_check(const char *dir, bool write, int *version);

/* Write this build's version into `dir` (a new directory: a snapshot's). */
int km_data_version_write(const char *dir);

#endif
