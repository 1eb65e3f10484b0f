/*
 * inspect — builds the read-only report of inspect.h: opens the database read-only (so
 * the WAL is replayed exactly as the server would, into memory only), verifies each
 * block, lists the block directories that would not open, and counts distinct series
 * across blocks with a k-way merge of their label-ordered series.
 */
#include "inspect.h"

#include "common/err.h"
#include "common/log.h"
#include "db.h"
#include "tsdb_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- distinct series across blocks ------------------------------------------------------- */

struct cursor {
    struct km_block_reader r;
    struct km_block_series cur;
    uint32_t next, n;
    bool valid;
};

static int cursor_advance(struct cursor *c)
{
    int rc;

    if (c->valid)
        km_block_series_fini(&c->cur);
    c->valid = false;
    if (c->next >= c->n)
        return 0;
    rc = km_block_read_series(&c->r, c->next++, &c->cur);
    if (rc == 0)
        c->valid = true;
    return rc;
}

/* The labels of the head's series, in label order (owned, freed with free_labels). */
static int head_labels(struct km_tsdb *db, struct km_labels ***out, size_t *nout)
{
    struct km_hseries **v;
    struct km_labels **l;
    size_t n;
    int rc = km_head_all_sorted(db->head, &v, &n);

    if (rc)
        return rc;
    l = calloc(n ? n : 1, sizeof(*l));
    if (!l)
        rc = km_err_set(KM_ENOMEM, "out of memory");
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = km_head_series_labels(db->head, v[i], &l[i]);
    for (size_t i = 0; i < n; i++)
        km_head_series_put(db->head, v[i]);
    free(v);
    *out = l;
    *nout = n;
    return rc;
}

static void free_labels(struct km_labels **l, size_t n)
{
    for (size_t i = 0; l && i < n; i++)
        km_labels_destroy(l[i]);
    free(l);
}

/* Series in a block are stored in label order, so merging the blocks' series lists (and
 * the head's, sorted the same way) counts each label set once with one series per block
 * in memory. */
static int count_distinct(struct km_block *const *b, size_t nb, struct km_labels *const *head,
                          size_t nhead, uint64_t *out)
{
    struct cursor *c;
    size_t hi = 0;
    uint64_t n = 0;
    int rc = 0;

    *out = 0;
    if (nb == 1 && nhead == 0) {
        *out = km_block_meta(b[0])->series;
        return 0;
    }
    c = calloc(nb ? nb : 1, sizeof(*c));
    if (!c)
        return km_err_set(KM_ENOMEM, "out of memory");
    for (size_t i = 0; i < nb; i++) {
        km_block_reader_init(&c[i].r, b[i]);
        c[i].n = (uint32_t)km_block_meta(b[i])->series;
        if (rc == 0)
            rc = cursor_advance(&c[i]);
    }
    while (rc == 0) {
        const struct km_labels *min = hi < nhead ? head[hi] : NULL;

        for (size_t i = 0; i < nb; i++) {
            if (c[i].valid && (!min || km_labels_cmp(c[i].cur.labels, min) < 0))
                min = c[i].cur.labels;
        }
        if (!min)
            break;
        n++;
        /* Move every cursor off this label set: the head's, then the blocks' (`min` may be
         * one of theirs: compare before advancing). */
        if (hi < nhead && km_labels_cmp(head[hi], min) == 0)
            hi++;
        for (size_t i = 0; i < nb && rc == 0; i++) {
            if (c[i].valid && c[i].cur.labels != min && km_labels_cmp(c[i].cur.labels, min) == 0)
                rc = cursor_advance(&c[i]);
        }
        for (size_t i = 0; i < nb && rc == 0; i++) {
            if (c[i].valid && c[i].cur.labels == min) {
                rc = cursor_advance(&c[i]);
                break;
            }
        }
    }
    for (size_t i = 0; i < nb; i++) {
        if (c[i].valid)
            km_block_series_fini(&c[i].cur);
        km_block_reader_fini(&c[i].r);
    }
    free(c);
    if (rc == 0)
        *out = n;
    return rc;
}

/* ---- blocks ------------------------------------------------------------------------------- */

static int add_block(struct km_tsdb_report *r, struct km_tsdb_block_report **out)
{
    struct km_tsdb_block_report *v = realloc(r->blocks, (r->nblocks + 1) * sizeof(*v));

    /* KM_ENOMEM as a constant: gcc sees that *out is set whenever 0 is returned. */
    if (!v) {
        km_err_set(KM_ENOMEM, "out of memory");
        return KM_ENOMEM;
    }
    r->blocks = v;
    *out = memset(&v[r->nblocks++], 0, sizeof(*v));
    return 0;
}

static int set_error(struct km_tsdb_block_report *br, const char *msg)
{
    free(br->error);
    br->error = strdup(msg);
    return br->error ? 0 : km_err_set(KM_ENOMEM, "out of memory");
}

static int report_block(struct km_tsdb_report *r, struct km_block *b, bool verify, size_t i,
                        size_t n)
{
    const struct km_block_meta *m = km_block_meta(b);
    struct km_tsdb_block_report *br;
    int rc = add_block(r, &br);

    if (rc)
        return rc;
    memcpy(br->id, m->id, sizeof(br->id));
    br->dir = strdup(km_block_dir(b));
    if (!br->dir)
        return km_err_set(KM_ENOMEM, "out of memory");
    br->mint = m->mint;
    br->maxt = m->maxt;
    br->level = m->level;
    br->series = m->series;
    br->samples = m->samples;
    br->chunks = m->chunks;
    br->bytes = m->bytes;
    km_block_sizes(b, &br->index_bytes, &br->chunk_bytes);
    br->readable = true;
    if (verify) {
        uint64_t seen = 0;

        km_log_info(KM_TSDB_LOG, "verifying block %zu of %zu: %s (%llu samples)", i + 1, n, m->id,
                    (unsigned long long)m->samples);
        rc = km_block_verify(b, &seen);
        if (rc == 0) {
            br->verified = true;
        } else {
            if (rc == KM_ENOMEM)
                return rc;
            rc = set_error(br, km_err_msg());
            r->problems++;
        }
    }
    r->samples += br->samples;
    r->chunks += br->chunks;
    r->index_bytes += br->index_bytes;
    r->chunk_bytes += br->chunk_bytes;
    r->bytes += br->bytes;
    if (br->mint < r->mint)
        r->mint = br->mint;
    if (br->maxt > r->maxt)
        r->maxt = br->maxt;
    return rc;
}

/* Block directories the database did not load, and why. */
static int report_unreadable(struct km_tsdb_report *r, struct km_tsdb *db)
{
    for (size_t i = 0; i < db->nbad_blocks; i++) {
        const struct km_tsdb_bad_block *bad = &db->bad_blocks[i];
        struct km_tsdb_block_report *br;
        size_t n = strlen(db->blocks_dir) + strlen(bad->name) + 2;
        int rc = add_block(r, &br);

        if (rc)
            return rc;
        snprintf(br->id, sizeof(br->id), "%s", bad->name);
        br->mint = INT64_MAX;
        br->maxt = INT64_MIN;
        r->problems++;
        br->dir = malloc(n);
        if (!br->dir)
            return km_err_set(KM_ENOMEM, "out of memory");
        snprintf(br->dir, n, "%s/%s", db->blocks_dir, bad->name);
        rc = set_error(br, bad->error);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- the report ------------------------------------------------------------------------ */

int km_tsdb_check_dir(const char *dir)
{
    char path[PATH_MAX];
    struct stat st;

    if (stat(dir, &st) != 0)
        return km_err_set_errno(KM_ENOTFOUND, errno, "cannot read %s", dir);
    if (!S_ISDIR(st.st_mode))
        return km_err_set(KM_EINVAL, "%s is not a directory", dir);
    snprintf(path, sizeof(path), "%s/blocks", dir);
    if (stat(path, &st) == 0)
        return 0;
    snprintf(path, sizeof(path), "%s/wal", dir);
    if (stat(path, &st) == 0)
        return 0;
    return km_err_set(KM_EINVAL, "%s is not a kmon data directory (it has no blocks/ or wal/)",
                      dir);
}

/* The head, the WAL, the clock's window and the totals over everything. */
static void report_head(struct km_tsdb_report *r, struct km_tsdb *db)
{
    struct km_tsdb_stats st;
    int64_t lo;

    km_tsdb_stats(db, &st);
    r->head_series = st.series;
    r->head_samples = st.head_samples;
    r->head_late_samples = st.head_late_samples;
    r->head_chunks = st.head_chunks;
    r->head_mint = st.head_mint;
    r->head_maxt = st.head_maxt;
    r->wal_segments = db->replayed.segments;
    r->wal_bytes = db->replayed.bytes;
    r->wal_records = db->replayed.records;
    r->wal_torn_tails = db->replayed.torn_tails;
    r->wal_corruptions = db->replayed.corruptions;
    r->wal_checkpoint = db->replayed.checkpoint;
    r->wal_future_samples = db->replayed_dropped_future;
    r->wal_future_min = db->replayed_future_min;
    r->wal_future_max = db->replayed_future_max;
    r->now = km_tsdb_now_ms(db);
    km_tsdb_time_window(db, &lo, &r->future_bound);
    r->future_blocks = st.future_blocks;
    r->problems += r->wal_corruptions;
    /* Totals: the blocks' and the head's samples, the blocks' and the WAL's bytes. */
    r->total.samples = r->samples + r->head_samples;
    r->total.chunks = r->chunks + r->head_chunks;
    r->total.bytes = r->bytes + r->wal_bytes;
    r->total.mint = r->mint;
    r->total.maxt = r->maxt;
    if (r->head_samples && r->head_mint < r->total.mint)
        r->total.mint = r->head_mint;
    if (r->head_samples && r->head_maxt > r->total.maxt)
        r->total.maxt = r->head_maxt;
}

int km_tsdb_inspect(const char *dir, bool verify, struct km_tsdb_report *out)
{
    struct km_tsdb_opts o;
    struct km_tsdb *db = NULL;
    struct km_labels **head = NULL;
    size_t nhead = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    out->mint = INT64_MAX;
    out->maxt = INT64_MIN;
    rc = km_tsdb_check_dir(dir);
    if (rc)
        return rc;
    out->dir = strdup(dir);
    if (!out->dir)
        return km_err_set(KM_ENOMEM, "out of memory");
    km_tsdb_opts_default(&o);
    o.dir = dir;
    o.read_only = true;
    o.no_background = true;
    /* Show every old sample there is (the server's retention is not known here); the
     * future bound is the server's default. */
    o.retention_ms = KM_TSDB_MAX_SPAN_MS;
    rc = km_tsdb_open(&db, &o);
    if (rc)
        goto out_fini;

    /* No maintenance runs in a read-only database: the block list is fixed. */
    for (size_t i = 0; i < db->nblocks && rc == 0; i++)
        rc = report_block(out, db->blocks[i], verify, i, db->nblocks);
    if (rc == 0)
        rc = count_distinct(db->blocks, db->nblocks, NULL, 0, &out->series);
    if (rc == 0)
        rc = head_labels(db, &head, &nhead);
    if (rc == 0)
        rc = count_distinct(db->blocks, db->nblocks, head, nhead, &out->total.series);
    free_labels(head, nhead);
    if (rc == 0)
        rc = report_unreadable(out, db);
    if (rc)
        goto out_close;
    report_head(out, db);
    km_tsdb_close(db);
    return 0;

out_close:
    km_tsdb_close(db);
out_fini:
    km_tsdb_report_fini(out);
    return rc;
}

void km_tsdb_report_fini(struct km_tsdb_report *r)
{
    for (size_t i = 0; i < r->nblocks; i++) {
        free(r->blocks[i].dir);
        free(r->blocks[i].error);
    }
    free(r->blocks);
    free(r->dir);
    memset(r, 0, sizeof(*r));
}
