/*
 * limits — every hard cap in kmon, named in one place (as curl does for its buffers).
 * A buffer or table that grows from outside input is bounded by one of these.
 */
#ifndef KMON_COMMON_LIMITS_H
#define KMON_COMMON_LIMITS_H

/* Default cap of a km_buf when its owner names none. */
#define KM_LIMIT_BUF_DEFAULT (64u * 1024 * 1024)

/* A single /proc or /sys file read into memory (mountinfo on a host with many mounts is
 * the largest we expect; /proc/stat on a 1024-CPU host is ~150 KiB). */
#define KM_LIMIT_PROCFILE (16u * 1024 * 1024)

/* A rendered /metrics page or JSON snapshot. */
#define KM_LIMIT_RENDER (256u * 1024 * 1024)

/* Samples and families in one collector's batch. */
#define KM_LIMIT_BATCH_SAMPLES  (4u * 1024 * 1024)
#define KM_LIMIT_BATCH_FAMILIES (256u * 1024)

/* Strings of one batch (names, label values). */
#define KM_LIMIT_BATCH_ARENA (256u * 1024 * 1024)

/* Labels on one series. */
#define KM_LIMIT_LABELS_PER_SERIES 256

/* A YAML configuration file. */
#define KM_LIMIT_CONFIG_FILE (4u * 1024 * 1024)

/* Default HTTP request body cap. */
#define KM_LIMIT_HTTP_BODY (16u * 1024 * 1024)

/* Mounts the filesystem collector tracks at once. */
#define KM_LIMIT_MOUNTS 16384

#endif
