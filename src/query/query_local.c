/*
 * query_local — `kmon query --data DIR`: the query evaluated here over a data directory
 * opened read-only (see query.h). The engine is the server's; only the store differs in
 * how it is opened: blocks as they are, the WAL replayed into memory, no lock, nothing
 * written, no retention applied (every old sample the directory holds is seen).
 *
 * Beside a running server the directory changes under the reader: the server cuts the
 * head into a new block and then drops those samples from the WAL, and compaction
 * replaces blocks. An open that listed the blocks before such a cut and replayed the WAL
 * after it would miss the samples moved; one that lists blocks as they are deleted may
 * fail to read one. So the block directory is listed before the open and after the
 * evaluation, and the query runs again (up to LOCAL_ATTEMPTS times) when it changed or a
 * file vanished while it was read.
 */
#include "query/query.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "promql/parse.h"
#include "tsdb/inspect.h"
#include "tsdb/tsdb_storage.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOCAL_ATTEMPTS 5

/* The entries of dir/blocks, one a line (none when it has no blocks/). */
static int list_blocks(const char *dir, struct km_buf *out)
{
    char path[4096];
    struct dirent *de;
    DIR *d;

    km_buf_reset(out);
    snprintf(path, sizeof(path), "%s/blocks", dir);
    d = opendir(path);
    if (!d)
        return errno == ENOENT ? 0 : km_err_set_errno(KM_EIO, errno, "cannot read %s", path);
    while ((de = readdir(d)) != NULL) {
        km_buf_puts(out, de->d_name);
        km_buf_putc(out, '\n');
    }
    closedir(d);
    return km_buf_error(out) ? km_err_set(KM_ENOMEM, "out of memory listing %s", path) : 0;
}

static int evaluate(const char *dir, const struct km_promql_expr *e, const struct km_query_req *q,
                    struct km_pq_result *out)
{
    struct km_tsdb_opts to;
    struct km_storage *store = NULL;
    struct km_pq_opts o;
    int rc;

    memset(out, 0, sizeof(*out));
    km_tsdb_opts_default(&to);
    to.dir = dir;
    to.read_only = true;
    to.no_background = true;
    to.retention_ms = KM_TSDB_MAX_SPAN_MS;
    rc = km_tsdb_storage_open(&store, &to);
    if (rc)
        return rc;
    km_pq_opts_default(&o);
    if (q->lookback_ms)
        o.lookback_ms = q->lookback_ms;
    if (q->max_samples)
        o.max_samples = q->max_samples;
    o.timeout_ms = q->timeout_ms;
    if (q->range)
        rc = km_pq_eval_range(store, e, q->start_ms, q->end_ms, q->step_ms, &o, out);
    else
        rc = km_pq_eval_instant(store, e, q->time_ms, &o, out);
    km_storage_close(store);
    return rc;
}

static int check_dir(const char *dir)
{
    int rc = km_tsdb_check_dir(dir);
    char msg[1024];

    if (rc == 0)
        return 0;
    snprintf(msg, sizeof(msg), "%s", km_err_msg());
    return km_err_set(rc,
                      "%s (give the server's data directory with --data DIR, or ask a running "
                      "server with --server URL)",
                      msg);
}

/* Evaluate until the blocks stayed the same throughout (or the attempts run out). */
static int evaluate_stable(const char *dir, const struct km_promql_expr *e,
                           const struct km_query_req *q, struct km_query_answer *out)
{
    struct km_buf before, after;
    bool changed = false, vanished;
    int rc;

    km_buf_init(&before, 0);
    km_buf_init(&after, 0);
    for (int attempt = 1;; attempt++) {
        rc = list_blocks(dir, &before);
        if (rc)
            break;
        rc = evaluate(dir, e, q, &out->r);
        /* A file that vanished while it was read (a WAL segment the server folded into a
         * checkpoint, a block compaction replaced) is worth another try too. */
        vanished = rc != 0 && km_err_errno() == ENOENT;
        if (list_blocks(dir, &after) != 0)
            break;
        changed = before.len != after.len || memcmp(before.data, after.data, before.len) != 0;
        if ((!changed && !vanished) || attempt == LOCAL_ATTEMPTS)
            break;
        km_log_debug("query", "the blocks of %s changed while the query read them: again", dir);
        km_pq_result_fini(&out->r);
    }
    if (rc == 0 && changed) {
        out->warnings = strdup("the server cut or compacted blocks while each of several "
                               "reads of the data directory ran: the answer may miss samples "
                               "it moved meanwhile (ask it with --server instead)");
        if (!out->warnings)
            rc = km_err_set(KM_ENOMEM, "out of memory");
    }
    km_buf_fini(&after);
    km_buf_fini(&before);
    return rc;
}

int km_query_local(const char *dir, const struct km_query_req *q, struct km_query_answer *out)
{
    struct km_promql_expr *e = NULL;
    struct km_promql_error perr;
    int rc;

    memset(out, 0, sizeof(*out));
    /* The expression first: a typo needs no data directory. */
    rc = km_promql_parse(q->expr, strlen(q->expr), &e, &perr);
    if (rc)
        return rc;
    rc = check_dir(dir);
    if (rc == 0)
        rc = evaluate_stable(dir, e, q, out);
    if (rc)
        km_query_answer_fini(out);
    km_promql_expr_destroy(e);
    return rc;
}
