/*
 * logsource — the versioned interface LogQL reads logs through: the embedded log store
 * implements it (src/logs/logstore.c), a ClickHouse cluster will (issue 17); nothing
 * outside a store's folder calls the store's query functions directly.
 *
 * A source is a versioned ops table and the context it opened, like struct km_storage.
 * Selecting gives a stream set walked one stream at a time (in label order); the
 * current stream's entries come in borrowed batches, in time order (oldest first, or
 * newest first when the selection is backward), each valid until the next call on the
 * set. A reader may leave a stream before its end by asking for the next one, and a
 * store reads (decompresses) lazily, so a reader that stops early pays for what it read.
 *
 * Time ranges are half-open in nanoseconds: an entry is selected when
 * start_ns <= ts_ns < end_ns (Loki's [from, through)). Entries of one stream with equal
 * timestamps come in the order they were stored (reversed when backward).
 *
 * Threads: every function may be called from any thread; a set belongs to one thread at
 * a time. Errors are returned (km_err_msg() says why), never printed.
 */
#ifndef KMON_LOGS_LOGSOURCE_H
#define KMON_LOGS_LOGSOURCE_H

#include "logs/logtypes.h"
#include "storage/sample.h" /* struct km_matcher, km_str_fn */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KM_LOG_SOURCE_V1 1u

/* What to read. `must_contain` is a hint, never a filter the caller may skip: literal
 * byte strings every line the caller keeps will contain (from `|= "…"` line filters),
 * which a store may use to skip whole chunks that cannot hold a match; a store that
 * ignores it is correct, only slower. */
struct km_log_select {
    struct km_matcher *const *m; /* the stream selector: at least one matcher */
    size_t nm;
    int64_t start_ns, end_ns; /* start_ns <= ts < end_ns */
    bool backward;            /* newest entries first */
    const char *const *must_contain;
    const size_t *must_contain_len;
    size_t n_must_contain;
};

/* What /loki/api/v1/index/stats answers: the streams matching, their chunks, their
 * entries and the bytes of their lines (uncompressed) within the range. A store may
 * count whole chunks that overlap the range (Loki does). */
struct km_log_stats {
    uint64_t streams, chunks, entries, bytes;
};

/* A batch of the current stream's entries, borrowed from the set. */
struct km_log_batch {
    const struct km_log_entry *e;
    size_t n;
};

typedef int (*km_log_labels_fn)(void *ud, const struct km_labels *l);

struct km_log_source_ops {
    unsigned version; /* KM_LOG_SOURCE_V1 */
    const char *name; /* "logstore" */

    int (*select)(void *ctx, const struct km_log_select *sel, void **set);
    /* The next stream (false at the end or on error: set_error says which). */
    bool (*set_next)(void *set);
    /* The current stream's labels, valid until the set is closed. */
    const struct km_labels *(*set_labels)(void *set);
    /* The current stream's next batch (false: no more entries in the range). */
    bool (*set_batch)(void *set, struct km_log_batch *b);
    int (*set_error)(void *set);
    void (*set_close)(void *set);

    /* Label names (sorted, unique) of the streams matching m (all when nm == 0) that
     * hold entries in [start_ns, end_ns), and the values of one name. fn may be called
     * under the store's lock: it must not call the store. */
    int (*label_names)(void *ctx, struct km_matcher *const *m, size_t nm, int64_t start_ns,
                       int64_t end_ns, km_str_fn fn, void *ud);
    int (*label_values)(void *ctx, const char *name, struct km_matcher *const *m, size_t nm,
                        int64_t start_ns, int64_t end_ns, km_str_fn fn, void *ud);
    /* The streams matching m with entries in the range, each once, in label order. */
    int (*series)(void *ctx, struct km_matcher *const *m, size_t nm, int64_t start_ns,
                  int64_t end_ns, km_log_labels_fn fn, void *ud);
    int (*stats)(void *ctx, struct km_matcher *const *m, size_t nm, int64_t start_ns,
                 int64_t end_ns, struct km_log_stats *out);
};

/* An open source. */
struct km_log_source {
    const struct km_log_source_ops *ops;
    void *ctx;
};

struct km_log_set;

int km_log_select(const struct km_log_source *s, const struct km_log_select *sel,
                  struct km_log_set **out);
bool km_log_set_next(struct km_log_set *set);
const struct km_labels *km_log_set_labels(struct km_log_set *set);
bool km_log_set_batch(struct km_log_set *set, struct km_log_batch *b);
int km_log_set_error(struct km_log_set *set);
/* Accepts NULL. */
void km_log_set_close(struct km_log_set *set);

int km_log_label_names(const struct km_log_source *s, struct km_matcher *const *m, size_t nm,
                       int64_t start_ns, int64_t end_ns, km_str_fn fn, void *ud);
int km_log_label_values(const struct km_log_source *s, const char *name,
                        struct km_matcher *const *m, size_t nm, int64_t start_ns, int64_t end_ns,
                        km_str_fn fn, void *ud);
int km_log_series(const struct km_log_source *s, struct km_matcher *const *m, size_t nm,
                  int64_t start_ns, int64_t end_ns, km_log_labels_fn fn, void *ud);
int km_log_stats(const struct km_log_source *s, struct km_matcher *const *m, size_t nm,
                 int64_t start_ns, int64_t end_ns, struct km_log_stats *out);

#endif
