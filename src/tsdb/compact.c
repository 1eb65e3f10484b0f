/*
 * compact — moving data from the head into blocks and keeping blocks in shape: cutting
 * a block from the head and checkpointing the WAL, compacting small blocks into larger
 * ones, and deleting blocks past retention. Runs under db->maint_mu, one round at a
 * time, concurrently with appends and queries.
 */
#include "common/array.h"
#include "db.h"

#include "common/err.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "wal_records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROGRESS_NS             (10 * 1000000000ll) /* log long compactions' progress */
#define CKPT_SERIES_PER_RECORD  1000
#define CKPT_SAMPLES_PER_RECORD 100000

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* ---- checkpoint -------------------------------------------------------------------------- */

int km_tsdb_checkpoint(struct km_tsdb *db)
{
    struct km_hseries **v;
    struct km_wal_ckpt *c = NULL;
    struct km_samples smp = { 0 };
    struct km_buf rec;
    size_t n, inrec = 0;
    uint32_t first;
    int rc;

    rc = km_wal_roll(db->wal, &first);
    if (rc)
        return rc;
    rc = km_head_all_sorted(db->head, &v, &n);
    if (rc)
        return rc;
    km_buf_init(&rec, KM_WAL_MAX_RECORD);
    rc = km_wal_ckpt_begin(db->wal, first, &c);
    /* Series first (replay reads them first anyway), in records of a thousand. */
    km_walrec_series_begin(&rec);
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct km_label l[KM_LIMIT_LABELS_PER_SERIES];
        size_t nl;

        km_head_series_label_view(db->head, v[i], l, &nl);
        km_walrec_series_add(&rec, km_head_series_ref(v[i]), l, nl);
        if (++inrec == CKPT_SERIES_PER_RECORD || i + 1 == n) {
            km_walrec_finish(&rec, inrec);
            rc = km_buf_error(&rec) ? km_buf_error(&rec)
                                    : km_wal_ckpt_log(c, KM_WAL_SERIES, rec.data, rec.len);
            km_walrec_series_begin(&rec);
            inrec = 0;
        }
    }
    km_walrec_samples_begin(&rec, 0);
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = km_head_series_samples(db->head, v[i], INT64_MIN, INT64_MAX, &smp);
        for (size_t k = 0; rc == 0 && k < smp.n; k++) {
            km_walrec_samples_add(&rec, km_head_series_ref(v[i]), 0, smp.t[k], smp.v[k]);
            if (++inrec == CKPT_SAMPLES_PER_RECORD) {
                km_walrec_finish(&rec, inrec);
                rc = km_buf_error(&rec) ? km_buf_error(&rec)
                                        : km_wal_ckpt_log(c, KM_WAL_SAMPLES, rec.data, rec.len);
                km_walrec_samples_begin(&rec, 0);
                inrec = 0;
            }
        }
    }
    if (rc == 0 && inrec) {
        km_walrec_finish(&rec, inrec);
        rc = km_buf_error(&rec) ? km_buf_error(&rec)
                                : km_wal_ckpt_log(c, KM_WAL_SAMPLES, rec.data, rec.len);
    }
    if (rc == 0) {
        rc = km_wal_ckpt_commit(c);
        c = NULL;
    }
    km_wal_ckpt_abort(c);
    for (size_t i = 0; i < n; i++)
        km_head_series_put(db->head, v[i]);
    free(v);
    km_samples_fini(&smp);
    km_buf_fini(&rec);
    return rc;
}

/* ---- cutting ------------------------------------------------------------------------------ */

/* Write the head's samples of the window [a, b) into a block, then drop them from the
 * head (see head.c for why nothing that arrives meanwhile is lost). No checkpoint. */
static int cut_window(struct km_tsdb *db, int64_t a, int64_t b)
{
    struct km_block_writer *w;
    struct km_hseries **v;
    struct km_samples smp = { 0 };
    struct km_block *blk;
    char id[41], path[4200];
    size_t n, removed = 0;
    bool added = false;
    int rc;

    /* Samples below b go to the late buffers before any series is read. */
    km_head_set_min_valid(db->head, b);
    rc = km_head_all_sorted(db->head, &v, &n);
    if (rc)
        return rc;
    rc = km_block_writer_begin(&w, db->blocks_dir, a, b - 1, 1, NULL);
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct km_label l[KM_LIMIT_LABELS_PER_SERIES];
        size_t nl;

        rc = km_head_series_cut_samples(db->head, v[i], a, b, &smp);
        if (rc == 0 && smp.n) {
            km_head_series_label_view(db->head, v[i], l, &nl);
            rc = km_block_writer_add(w, l, nl, smp.t, smp.v, smp.n);
        }
    }
    for (size_t i = 0; i < n; i++)
        km_head_series_put(db->head, v[i]);
    free(v);
    km_samples_fini(&smp);
    if (rc) {
        km_block_writer_abort(w);
        return km_err_wrap(rc, "cutting a block");
    }
    rc = km_block_writer_commit(w, id);
    if (rc == KM_ENOTFOUND) {
        rc = 0; /* nothing in the range */
    } else if (rc == 0) {
        snprintf(path, sizeof(path), "%s/%s", db->blocks_dir, id);
        rc = km_block_open(&blk, path);
        if (rc == 0) {
            rc = km_tsdb_blocks_add(db, blk);
            if (rc)
                km_block_release(blk);
        }
        if (rc == 0) {
            const struct km_block_meta *m = km_block_meta(blk);

            added = true;
            atomic_fetch_add(&db->cuts, 1);
            km_log_info(KM_TSDB_LOG, "cut block %s: %llu series, %llu samples, %.1f KiB", id,
                        (unsigned long long)m->series, (unsigned long long)m->samples,
                        (double)m->bytes / 1024.0);
        }
    }
    if (rc)
        return km_err_wrap(rc, "cutting a block");
    /* The block is durable and queried: once no query that pinned the blocks before it
     * was added is open, drop its data from the head (the caller then checkpoints the
     * WAL). */
    if (added)
        km_tsdb_readers_drain(db);
    rc = km_head_truncate(db->head, a, b, &removed);
    atomic_fetch_add(&db->removed, removed);
    return rc;
}

int km_tsdb_cut(struct km_tsdb *db, int64_t a, int64_t b)
{
    int rc = cut_window(db, a, b);

    return rc ? rc : km_tsdb_checkpoint(db);
}

/* Late samples wait in memory for the next regular cut, at most this long, or until
 * there are this many: a lagging sender then costs a small block now and then, not one
 * per maintenance round. */
#define LATE_CUT_EVERY_NS  (5 * 60 * 1000000000ll)
#define LATE_CUT_SAMPLES   (1u << 20)
#define LATE_CUT_MAX_ROUND 64 /* windows per round, so a flood of old data cannot stall it */

int km_tsdb_cut_due(struct km_tsdb *db)
{
    int64_t range = db->o.block_range_ms;
    int64_t keep = db->o.ooo_window_ms > range / 2 ? db->o.ooo_window_ms : range / 2;
    int64_t now = km_time_mono_ns(), late_done = INT64_MIN;
    int cuts = 0, late_cuts = 0, rc = 0;

    while (cuts < 1000 && rc == 0) {
        struct km_head_times ht;
        int64_t a = INT64_MAX, late_a, b;
        bool in_order_due, late_due;

        km_head_times(db->head, &ht);
        if (ht.maxt == INT64_MIN)
            break;
        if (ht.mint != INT64_MAX)
            a = floor_div(ht.mint, range) * range;
        /* Cut only what no sample within the out-of-order window can reach any more. */
        in_order_due = a != INT64_MAX && a + range <= ht.maxt - keep;
        /* Late windows oldest first, each at most once a round: samples still arriving
         * for a window just cut wait for the next round that is due. */
        late_a = ht.late_mint != INT64_MAX ? floor_div(ht.late_mint, range) * range : INT64_MAX;
        late_due = ht.late_samples > 0 && late_a != INT64_MAX && late_a >= late_done &&
                   late_cuts < LATE_CUT_MAX_ROUND &&
                   (in_order_due || late_cuts > 0 || ht.late_samples >= LATE_CUT_SAMPLES ||
                    now - db->last_late_cut_ns >= LATE_CUT_EVERY_NS);
        if (late_due && late_a < a)
            a = late_a;
        else if (!in_order_due)
            break;
        b = a + range;
        if (b > ht.maxt - keep)
            break;
        if (a < ht.min_valid) {
            late_cuts++;
            late_done = b;
        }
        rc = cut_window(db, a, b);
        cuts++;
    }
    if (late_cuts)
        db->last_late_cut_ns = now;
    if (cuts && rc == 0)
        rc = km_tsdb_checkpoint(db);
    return rc;
}

/* ---- compaction --------------------------------------------------------------------------- */

struct cursor {
    struct km_block *b;
    struct km_block_reader rd;
    struct km_block_series cur;
    uint32_t next;
    bool done;
    bool same; /* holds the series being merged */
};

static int cursor_advance(struct cursor *c)
{
    km_block_series_fini(&c->cur);
    if (c->next >= km_block_meta(c->b)->series) {
        c->done = true;
        return 0;
    }
    return km_block_read_series(&c->rd, c->next++, &c->cur);
}

/* Merge blocks v[0..n) (oldest data first, km_block_cmp_age) into one. Where two hold
 * the same timestamp of a series, the older block's value wins: what was stored first
 * is never replaced by a later, conflicting late sample. The new block's origin is the
 * oldest parent's. */
static int merge_blocks(struct km_tsdb *db, struct km_block **v, size_t n)
{
    struct cursor *cur = calloc(n, sizeof(*cur));
    const char *parents[64];
    struct km_samples all = { 0 }, one = { 0 }, tmp = { 0 };
    struct km_block_writer *w = NULL;
    int64_t mint = INT64_MAX, maxt = INT64_MIN;
    int64_t t0 = km_time_mono_ns(), next_report = t0 + PROGRESS_NS;
    uint64_t samples = 0, series = 0, done = 0;
    int level = 0, rc = 0;
    char id[41];

    if (!cur || n > 63) {
        free(cur);
        return km_err_set(KM_ENOMEM, "out of memory compacting");
    }
    for (size_t i = 0; i < n; i++) {
        const struct km_block_meta *m = km_block_meta(v[i]);

        parents[i] = m->id;
        mint = m->mint < mint ? m->mint : mint;
        maxt = m->maxt > maxt ? m->maxt : maxt;
        level = m->level > level ? m->level : level;
        samples += m->samples;
        series = m->series > series ? m->series : series;
        cur[i].b = v[i];
        km_block_reader_init(&cur[i].rd, v[i]);
        cur[i].rd.nocache = true; /* one pass over everything: the cache is the queries' */
        if (rc == 0)
            rc = cursor_advance(&cur[i]);
    }
    parents[n] = NULL;
    km_log_info(KM_TSDB_LOG, "compacting %zu blocks: %llu samples, at least %llu series", n,
                (unsigned long long)samples, (unsigned long long)series);
    if (rc == 0)
        rc = km_block_writer_begin(&w, db->blocks_dir, mint, maxt, level + 1, parents);
    if (rc == 0)
        km_block_writer_set_origin(w, km_block_meta(v[0])->origin);
    while (rc == 0) {
        const struct km_labels *min = NULL;

        for (size_t i = 0; i < n; i++) {
            if (!cur[i].done && (!min || km_labels_cmp(cur[i].cur.labels, min) < 0))
                min = cur[i].cur.labels;
        }
        if (!min)
            break;
        all.n = 0;
        for (size_t i = 0; i < n; i++)
            cur[i].same = !cur[i].done && km_labels_cmp(cur[i].cur.labels, min) == 0;
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (!cur[i].same)
                continue;
            one.n = 0;
            rc = km_block_read_samples(&cur[i].rd, &cur[i].cur, INT64_MIN, INT64_MAX, &one);
            /* The same sample in two overlapping blocks is kept once. */
            if (rc == 0)
                rc = km_samples_merge(&all, &one, &tmp);
        }
        if (rc == 0)
            rc = km_block_writer_add(w, min->v, min->n, all.t, all.v, all.n);
        if (++done % 1024 == 0 && km_time_mono_ns() >= next_report) {
            km_log_info(KM_TSDB_LOG, "compacting: %llu series written (at least %llu in all)",
                        (unsigned long long)done, (unsigned long long)series);
            next_report = km_time_mono_ns() + PROGRESS_NS;
        }
        /* `min` belongs to one of these cursors: advance only after using it. */
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (cur[i].same)
                rc = cursor_advance(&cur[i]);
        }
    }
    for (size_t i = 0; i < n; i++) {
        km_block_series_fini(&cur[i].cur);
        km_block_reader_fini(&cur[i].rd);
    }
    free(cur);
    km_samples_fini(&all);
    km_samples_fini(&one);
    km_samples_fini(&tmp);
    if (rc) {
        km_block_writer_abort(w);
        return km_err_wrap(rc, "compacting");
    }
    rc = km_block_writer_commit(w, id);
    if (rc == 0) {
        struct km_block *b;
        char path[4200];

        snprintf(path, sizeof(path), "%s/%s", db->blocks_dir, id);
        rc = km_block_open(&b, path);
        if (rc == 0)
            rc = km_tsdb_blocks_add(db, b);
        if (rc == 0) {
            km_tsdb_blocks_remove(db, v, n);
            for (size_t i = 0; i < n; i++) {
                km_block_delete(v[i]);
                km_block_release(v[i]); /* the list's reference */
            }
            atomic_fetch_add(&db->compactions, 1);
            km_log_info(KM_TSDB_LOG, "compacted %zu blocks into %s in %.1f s (level %d, %.1f KiB)",
                        n, id, (double)(km_time_mono_ns() - t0) / 1e9, level + 1,
                        (double)km_block_meta(b)->bytes / 1024.0);
        }
    } else if (rc == KM_ENOTFOUND) {
        rc = 0;
    }
    return rc;
}

int km_tsdb_compact(struct km_tsdb *db)
{
    int64_t range = db->o.block_range_ms, max_range = db->o.retention_ms / 10;
    int64_t future = km_tsdb_now_ms(db) + db->o.max_future_ms;
    struct km_block *group[64];
    size_t ng = 0;
    int64_t newest;
    int rc;

    pthread_rwlock_rdlock(&db->blocks_lock);
    /* A block reaching beyond the future bound (written by an older version that took
     * such samples) is left alone: it must not make every window look complete, nor be
     * merged with everything it overlaps. */
    newest = INT64_MIN;
    for (size_t i = 0; i < db->nblocks; i++) {
        int64_t maxt = km_block_meta(db->blocks[i])->maxt;

        if (maxt > newest && maxt <= future)
            newest = maxt;
    }
    /* Overlapping blocks (late samples' blocks, a forced flush) are merged first. */
    for (size_t i = 1; i < db->nblocks && ng == 0; i++) {
        const struct km_block_meta *p = km_block_meta(db->blocks[i - 1]);
        const struct km_block_meta *m = km_block_meta(db->blocks[i]);

        if (m->mint <= p->maxt && m->maxt <= future && p->maxt <= future) {
            group[ng++] = db->blocks[i - 1];
            group[ng++] = db->blocks[i];
        }
    }
    /* Then windows of 3, 12, 36, … block ranges whose blocks are all complete. */
    for (int64_t r = range * 3; ng == 0 && r <= max_range; r *= (r == range * 3 ? 4 : 3)) {
        for (size_t i = 0; i < db->nblocks && ng == 0; i++) {
            int64_t w0 = floor_div(km_block_meta(db->blocks[i])->mint, r) * r;
            size_t k = i;

            if (w0 + r - 1 > newest)
                break; /* the window is still being filled */
            while (k < db->nblocks && km_block_meta(db->blocks[k])->maxt < w0 + r &&
                   km_block_meta(db->blocks[k])->mint >= w0 && k - i < 63)
                k++;
            if (k - i >= 2) {
                for (size_t j = i; j < k; j++)
                    group[ng++] = db->blocks[j];
            }
        }
    }
    for (size_t i = 0; i < ng; i++)
        km_block_acquire(group[i]);
    pthread_rwlock_unlock(&db->blocks_lock);
    if (ng == 0)
        return 0;
    km_sort(group, ng, sizeof(group[0]), km_block_cmp_age);
    rc = merge_blocks(db, group, ng);
    for (size_t i = 0; i < ng; i++)
        km_block_release(group[i]);
    return rc;
}

/* ---- retention ------------------------------------------------------------------------------ */

int km_tsdb_apply_retention(struct km_tsdb *db)
{
    struct km_block *drop[256];
    size_t ndrop = 0;
    uint64_t total = 0, wal_bytes = 0, wal_segs = 0;
    /* By the clock, never by the newest sample: no sample can make old data expire. */
    int64_t expired = km_tsdb_now_ms(db) - db->o.retention_ms;

    if (db->wal)
        km_wal_size(db->wal, &wal_bytes, &wal_segs);
    pthread_rwlock_rdlock(&db->blocks_lock);
    for (size_t i = 0; i < db->nblocks; i++)
        total += km_block_meta(db->blocks[i])->bytes;
    total += wal_bytes;
    /* Oldest first: blocks past the retention time, then as many as the size cap needs. */
    for (size_t i = 0; i < db->nblocks && ndrop < 256; i++) {
        const struct km_block_meta *m = km_block_meta(db->blocks[i]);
        bool old = m->maxt < expired;
        bool over = db->o.max_bytes && total > db->o.max_bytes;

        if (!old && !over)
            continue;
        km_block_acquire(db->blocks[i]);
        drop[ndrop++] = db->blocks[i];
        total -= m->bytes;
        km_log_info(KM_TSDB_LOG, "retention: deleting block %s (%s)", m->id,
                    old ? "older than the retention time" : "over the size cap");
    }
    pthread_rwlock_unlock(&db->blocks_lock);
    if (ndrop == 0)
        return 0;
    km_tsdb_blocks_remove(db, drop, ndrop);
    for (size_t i = 0; i < ndrop; i++) {
        km_block_delete(drop[i]);
        km_block_release(drop[i]); /* ours */
        km_block_release(drop[i]); /* the list's */
    }
    atomic_fetch_add(&db->retention_deletions, ndrop);
    return 0;
}
