/*
 * forward — the server's remote_write forwarding: every destination of
 * --remote-write-url and --remote-write-config (fwd_config.h), each with its own
 * relabelling, queue, spool under DATA/forward/<name>/ and sender (fwd_dest.h), fed by
 * ingest's tap with the samples it stored (docs/forwarding.md says which).
 *
 * Threads: km_forward_push from any number of ingesting threads; create, metrics and
 * destroy from the server's controlling thread and /metrics.
 */
#ifndef KMON_SERVER_FORWARD_FORWARD_H
#define KMON_SERVER_FORWARD_FORWARD_H

#include "storage/sample.h"

#include <stddef.h>
#include <stdint.h>

struct km_forward_opts {
    const char *data_dir;    /* spools go to DATA/forward/<name> */
    const char *urls;        /* --remote-write-url, comma-separated (may be NULL) */
    const char *config_file; /* --remote-write-config (may be NULL) */
    uint64_t spool_max;      /* bytes per destination's spool */
};

struct km_forward;
struct km_mset;

/* *out is NULL (and 0 returned) when there is no destination. KM_EINVAL with a sentence
 * for a bad URL or configuration. */
int km_forward_create(struct km_forward **out, const struct km_forward_opts *o);
/* Stops every sender; what waits is spooled for the next start. Accepts NULL. */
void km_forward_destroy(struct km_forward *f);

/* Hand the samples s[0..n) to every destination; with st (may be NULL: all of them)
 * only those whose status is KM_SAMPLE_APPENDED. Never blocks on I/O. The signature of
 * ingest's forwarding tap (ud is the km_forward). */
void km_forward_push(void *ud, const struct km_sample *s, size_t n,
                     const enum km_sample_status *st);

/* kmon_forward_* families. */
void km_forward_metrics(struct km_forward *f, struct km_mset *m);

#endif
