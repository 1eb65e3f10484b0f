/*
 * tailer — follows every container log file under <root>/var/log/pods (the kubelet's
 * layout: <namespace>_<pod>_<uid>/<container>/<restart>.log, rotated to
 * <restart>.log.<YYYYMMDD-hhmmss> and later gzipped to …gz) and cuts what they hold
 * into batches of labelled log lines (logtypes.h), at least once and in order per
 * stream.
 *
 * Files are followed by their open descriptor (so by inode): a renamed, or even
 * deleted, file is read to its end before the container's next file, and a file is
 * known again after a restart by device, inode and a hash of its first bytes (for a
 * gzipped copy: of its uncompressed first bytes). Per container, files are read
 * oldest first: restart number, then rotation time, the live file last.
 *
 * Lines go through two stages per stream: the runtime's partial lines (CRI `P`, Docker
 * without "\n") are joined up to max_line bytes — a longer line is cut into pieces of
 * max_line bytes: max_line − strlen(KM_TAILER_SPLIT_MARK) bytes of text (at a UTF-8
 * boundary) followed by KM_TAILER_SPLIT_MARK, the last piece unmarked; piece k carries
 * the line's timestamp + k ns (so a store dropping exact duplicates keeps pieces that
 * happen to be equal); then, when a multiline rule names the container, lines not
 * matching its start-of-record regex are appended (with "\n") to the record before.
 *
 * Positions: a batch remembers, for each file it took lines from, the offset before
 * which every line is in this batch or an earlier one. km_tailer_ack() moves the
 * files' acknowledged offsets there; only acknowledged offsets are checkpointed
 * (positions.h). One batch is out at a time: until it is acknowledged, nothing more is
 * read (backpressure: a slow server slows reading, nothing is dropped).
 *
 * Workload labels: with a `workload` lookup (the agent's pod metadata), a container's
 * streams also carry workload_kind and workload (its pod's controlling Deployment,
 * StatefulSet, …) once the lookup knows the pod (by the uid in the directory name).
 * While it does not, lines go without them and the lookup is retried every
 * KM_TAILER_WORKLOAD_RETRY_MS; once known (or known to have no workload) a container's
 * labels never change again. So a pod the metadata learns of late starts a new stream
 * (the same labels plus the two) at the first batch after; no line is in both.
 *
 * Fairness: each fill reads the containers round-robin, each at most `stream_budget`
 * bytes per round, until the batch holds batch_bytes; a noisy container takes its
 * share of each batch, the others theirs.
 *
 * Threads: one owner drives scan/fill/ack/checkpoint; km_tailer_metrics() may run on
 * another thread.
 */
#ifndef KMON_AGENT_LOGS_TAILER_H
#define KMON_AGENT_LOGS_TAILER_H

#include "common/mset.h"
#include "logs/logtypes.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KM_TAILER_SPLIT_MARK " [kmon: line split, continued]"

/* Bounds (see limits.h for the style). */
#define KM_TAILER_LINE_MIN          256u                /* smallest --logs-max-line */
#define KM_TAILER_LINE_MAX          (64u * 1024 * 1024) /* largest --logs-max-line */
#define KM_TAILER_BATCH_MAX         (64u * 1024 * 1024) /* largest --logs-batch-bytes */
#define KM_TAILER_CONTAINERS_MAX    65536u              /* containers followed at once */
#define KM_TAILER_FILES_PER_C       64u                 /* files per container directory */
#define KM_TAILER_RULES_MAX         64u                 /* multiline rules */
#define KM_TAILER_WORKLOAD_MAX      256u                /* a workload name or kind, with its NUL */
#define KM_TAILER_WORKLOAD_RETRY_MS 5000                /* lookups of a pod not known yet */

/* The workload of the pod whose uid is `uid`: 1 with kind and name written
 * (NUL-terminated, cut to KM_TAILER_WORKLOAD_MAX bytes), 0 when the pod is known and has
 * no workload (a bare pod), negative when the pod is not known (yet). Called with the
 * tailer's lock held, from the thread driving km_tailer_scan(). */
typedef int (*km_tailer_workload_fn)(void *ud, const char *uid, char *kind, char *name);

struct km_tailer_opts {
    const char *root;      /* the host's root: logs are under <root>/var/log/pods */
    const char *state_dir; /* where positions are checkpointed; NULL: nowhere (tests) */
    const char *cluster, *node;
    size_t max_line;                /* cap of a joined line (256 KiB by default) */
    size_t batch_bytes;             /* line bytes in one batch (1 MiB by default) */
    size_t stream_budget;           /* bytes read from one file per round (0: batch_bytes / 4) */
    size_t buffered_max;            /* bytes held in partial lines over all files (0: 64 MiB) */
    const char *multiline;          /* rules "ns/container=REGEX" separated by ';' or newlines */
    int64_t rotate_grace_ms;        /* a rotated file idle this long is finished (1 s) */
    int64_t multiline_flush_ms;     /* a multiline record idle this long is sent (1 s) */
    km_tailer_workload_fn workload; /* NULL: no workload labels */
    void *workload_ud;
};

struct km_tailer;

/* Check the options, compile the multiline rules and load the checkpoint. KM_EINVAL
 * with a sentence for bad options or rules. */
int km_tailer_open(struct km_tailer **out, const struct km_tailer_opts *o);

/* Re-read the directories: new pods, containers and files are followed, renamed files
 * renamed, finished ones of deleted containers forgotten. */
int km_tailer_scan(struct km_tailer *t);

/* Read into a new batch (the previous one must have been acknowledged). On success
 * *st, *n describe it (valid until the next ack) and *bytes counts its line bytes;
 * *n == 0 when there was nothing to read. */
int km_tailer_fill(struct km_tailer *t, const struct km_log_push_stream **st, size_t *n,
                   uint64_t *bytes);

/* The batch was delivered (true) or refused for good (false: counted as dropped);
 * either way its positions advance. */
void km_tailer_ack(struct km_tailer *t, bool delivered);

/* Write the acknowledged positions durably. */
int km_tailer_checkpoint(struct km_tailer *t);

struct km_tailer_stats {
    uint64_t lines_read, bytes_read, lines_shipped, bytes_shipped;
    uint64_t drop_malformed, drop_rejected, drop_too_long, drop_lost_files;
    uint64_t bytes_drop_rejected, bytes_drop_malformed, bytes_drop_too_long;
    uint64_t lines_split, truncations, files_followed, lag_bytes, buffered_bytes;
};

void km_tailer_stats(struct km_tailer *t, struct km_tailer_stats *out);

/* kmon_agent_logs_* families into m (counters, and the lag of every file). */
void km_tailer_metrics(struct km_tailer *t, struct km_mset *m);

/* Accepts NULL. Does not checkpoint. */
void km_tailer_close(struct km_tailer *t);

#endif
