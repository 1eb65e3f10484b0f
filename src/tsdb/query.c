/*
 * query — reading the database: a query pins the blocks overlapping its range; a series
 * set merges, in label order, the head's matching series with every pinned block's, and
 * a series found in several places gets one time-ordered, de-duplicated sample stream
 * (where two places disagree on a timestamp, the older block wins, and blocks win over
 * the head: what was stored first stays). A cut waits for the queries that were open
 * when its block was added before it drops the block's samples from the head, so a
 * query sees every sample once, in the head or in a block it pinned.
 */
#include "common/array.h"
#include "db.h"

#include "common/err.h"
#include "common/log.h"
#include "common/timefmt.h"

#include <stdlib.h>
#include <string.h>

struct km_tsdb_query {
    struct km_tsdb *db;
    int64_t mint, maxt;
    struct km_block **blocks;
    size_t nblocks;
    unsigned gen; /* the readers' generation it is counted in */
};

static void readers_enter(struct km_tsdb *db, unsigned *gen)
{
    pthread_mutex_lock(&db->readers_mu);
    *gen = (unsigned)(db->readers_gen & 1);
    db->readers[*gen]++;
    pthread_mutex_unlock(&db->readers_mu);
}

static void readers_leave(struct km_tsdb *db, unsigned gen)
{
    pthread_mutex_lock(&db->readers_mu);
    if (--db->readers[gen] == 0)
        pthread_cond_broadcast(&db->readers_cv);
    pthread_mutex_unlock(&db->readers_mu);
}

void km_tsdb_readers_drain(struct km_tsdb *db)
{
    int64_t t0 = km_time_mono_ns();
    uint64_t waited = 0;
    unsigned gen;

    /* One drain at a time: each waits for a generation no new query joins. */
    pthread_mutex_lock(&db->drain_mu);
    pthread_mutex_lock(&db->readers_mu);
    gen = (unsigned)(db->readers_gen++ & 1);
    waited = db->readers[gen];
    while (db->readers[gen] > 0)
        pthread_cond_wait(&db->readers_cv, &db->readers_mu);
    pthread_mutex_unlock(&db->readers_mu);
    pthread_mutex_unlock(&db->drain_mu);
    if (km_time_mono_ns() - t0 > 5 * 1000000000ll)
        km_log_warn(KM_TSDB_LOG,
                    "a cut waited %.1f s for %llu open queries before dropping its samples "
                    "from memory",
                    (double)(km_time_mono_ns() - t0) / 1e9, (unsigned long long)waited);
}

int km_tsdb_query_open(struct km_tsdb *db, int64_t mint, int64_t maxt, struct km_tsdb_query **out)
{
    struct km_tsdb_query *q = calloc(1, sizeof(*q));

    if (!q)
        return km_err_set(KM_ENOMEM, "out of memory");
    q->db = db;
    q->mint = mint;
    q->maxt = maxt;
    /* Counted before the blocks are pinned: a cut whose block this query does not pin
     * keeps its samples in the head until the query is closed. */
    readers_enter(db, &q->gen);
    pthread_rwlock_rdlock(&db->blocks_lock);
    q->blocks = malloc((db->nblocks ? db->nblocks : 1) * sizeof(*q->blocks));
    if (!q->blocks) {
        pthread_rwlock_unlock(&db->blocks_lock);
        readers_leave(db, q->gen);
        free(q);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < db->nblocks; i++) {
        const struct km_block_meta *m = km_block_meta(db->blocks[i]);

        if (m->maxt < mint || m->mint > maxt)
            continue;
        km_block_acquire(db->blocks[i]);
        q->blocks[q->nblocks++] = db->blocks[i];
    }
    pthread_rwlock_unlock(&db->blocks_lock);
    /* Oldest data first: where blocks disagree on a sample (a late one that conflicted
     * with a stored value), the first one wins. */
    km_sort(q->blocks, q->nblocks, sizeof(*q->blocks), km_block_cmp_age);
    *out = q;
    return 0;
}

void km_tsdb_query_close(struct km_tsdb_query *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->nblocks; i++)
        km_block_release(q->blocks[i]);
    readers_leave(q->db, q->gen);
    free(q->blocks);
    free(q);
}

/* ---- series sets ------------------------------------------------------------------------ */

struct source {
    bool is_head, done, used;
    const struct km_labels *labels; /* the current series' labels */
    /* head */
    struct km_hseries **hs;
    size_t nhs, hi;
    struct km_labels *hlabels; /* strings borrowed from the head */
    size_t hcap;
    /* block */
    struct km_block *b;
    struct km_postings ids;
    size_t bi;
    struct km_block_reader rd;
    struct km_block_series cur;
};

struct km_tsdb_series_set {
    struct km_tsdb_query *q;
    struct source *src;
    size_t nsrc;
    bool started;
    const struct km_labels *labels;
    struct km_samples buf, tmp;
    size_t pos;
    int err;
    int64_t mint, maxt; /* within the query's range */
    bool labels_only;   /* no samples read */
    bool newest;        /* only what ends with the newest sample */
};

/* Move a source to its next series with samples in range. */
static int source_advance(struct km_tsdb_series_set *ss, struct source *s)
{
    struct km_tsdb_query *q = ss->q;

    if (s->is_head) {
        if (s->hi >= s->nhs) {
            s->done = true;
            return 0;
        }
        {
            int rc = km_head_series_label_set(q->db->head, s->hs[s->hi], &s->hlabels, &s->hcap);

            if (rc)
                return rc;
        }
        if (!ss->labels_only) {
            if (s->hi + 4 < s->nhs)
                km_head_series_prefetch(s->hs[s->hi + 4], false);
            if (s->hi + 2 < s->nhs)
                km_head_series_prefetch(s->hs[s->hi + 2], true);
        }
        s->labels = s->hlabels;
        s->hi++;
        return 0;
    }
    for (;;) {
        int rc;
        bool any = false;

        km_block_series_fini(&s->cur);
        if (s->bi >= s->ids.n) {
            s->done = true;
            return 0;
        }
        rc = km_block_read_series(&s->rd, s->ids.v[s->bi++], &s->cur);
        if (rc)
            return rc;
        for (uint32_t c = 0; c < s->cur.nchunks && !any; c++)
            any = s->cur.chunks[c].maxt >= ss->mint && s->cur.chunks[c].mint <= ss->maxt;
        if (any) {
            s->labels = s->cur.labels;
            return 0;
        }
    }
}

int km_tsdb_select_labels(struct km_tsdb_query *q, struct km_matcher *const *m, size_t nm,
                          struct km_tsdb_series_set **out)
{
    return km_tsdb_select_range(q, m, nm, q->mint, q->maxt, KM_TSDB_READ_LABELS, false, out);
}

int km_tsdb_select(struct km_tsdb_query *q, struct km_matcher *const *m, size_t nm,
                   struct km_tsdb_series_set **out)
{
    return km_tsdb_select_range(q, m, nm, q->mint, q->maxt, KM_TSDB_READ_SAMPLES, false, out);
}

int km_tsdb_select_range(struct km_tsdb_query *q, struct km_matcher *const *m, size_t nm,
                         int64_t mint, int64_t maxt, enum km_tsdb_read read, bool any_order,
                         struct km_tsdb_series_set **out)
{
    struct km_tsdb_series_set *ss = calloc(1, sizeof(*ss));
    int rc = 0;

    if (!ss)
        return km_err_set(KM_ENOMEM, "out of memory");
    ss->q = q;
    ss->mint = mint > q->mint ? mint : q->mint;
    ss->maxt = maxt < q->maxt ? maxt : q->maxt;
    ss->labels_only = read == KM_TSDB_READ_LABELS;
    ss->newest = read == KM_TSDB_READ_NEWEST;
    ss->src = calloc(q->nblocks + 1, sizeof(*ss->src));
    if (!ss->src) {
        free(ss);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    /* Blocks, oldest first, then the head; blocks outside the range are not read. */
    for (size_t i = 0; i < q->nblocks && rc == 0; i++) {
        const struct km_block_meta *bm = km_block_meta(q->blocks[i]);
        struct source *s;

        if (bm->maxt < ss->mint || bm->mint > ss->maxt)
            continue;
        s = &ss->src[ss->nsrc++];
        s->b = q->blocks[i];
        km_block_reader_init(&s->rd, s->b);
        rc = km_block_postings(s->b, m, nm, &s->ids);
    }
    if (rc == 0) {
        /* Alone, the head's series need no order: nothing is merged with them. */
        bool sorted = !any_order || ss->nsrc > 0;
        struct source *s = &ss->src[ss->nsrc++];

        s->is_head = true;
        rc = km_head_select(q->db->head, m, nm, ss->mint, ss->maxt, sorted, &s->hs, &s->nhs);
    }
    if (rc) {
        km_tsdb_series_set_destroy(ss);
        return rc;
    }
    *out = ss;
    return 0;
}

static int read_source(struct km_tsdb_series_set *ss, struct source *s, struct km_samples *out)
{
    out->n = 0;
    if (s->is_head && ss->newest)
        return km_head_series_newest(ss->q->db->head, s->hs[s->hi - 1], ss->mint, ss->maxt, out);
    if (s->is_head)
        return km_head_series_samples(ss->q->db->head, s->hs[s->hi - 1], ss->mint, ss->maxt, out);
    return km_block_read_samples(&s->rd, &s->cur, ss->mint, ss->maxt, out);
}

bool km_tsdb_series_next(struct km_tsdb_series_set *ss)
{
    struct km_samples one = { 0 };

    if (ss->err)
        return false;
    for (;;) {
        const struct km_labels *min = NULL;
        bool first = true;

        for (size_t i = 0; i < ss->nsrc; i++) {
            struct source *s = &ss->src[i];

            if ((!ss->started || s->used) && !s->done) {
                ss->err = source_advance(ss, s);
                if (ss->err)
                    goto out_fail;
            }
            s->used = false;
        }
        ss->started = true;
        for (size_t i = 0; i < ss->nsrc; i++) {
            if (!ss->src[i].done && (!min || km_labels_cmp(ss->src[i].labels, min) < 0))
                min = ss->src[i].labels;
        }
        if (!min) {
            km_samples_fini(&one);
            return false;
        }
        ss->buf.n = 0;
        for (size_t i = 0; i < ss->nsrc; i++) {
            struct source *s = &ss->src[i];

            if (s->done || (s->labels != min && km_labels_cmp(s->labels, min) != 0))
                continue;
            s->used = true;
            if (ss->labels_only)
                continue;
            if (first) {
                ss->err = read_source(ss, s, &ss->buf);
                first = false;
            } else {
                ss->err = read_source(ss, s, &one);
                if (ss->err == 0)
                    ss->err = km_samples_merge(&ss->buf, &one, &ss->tmp);
            }
            if (ss->err)
                goto out_fail;
        }
        ss->labels = min;
        ss->pos = 0;
        if (ss->buf.n > 0 || ss->labels_only)
            break;
    }
    km_samples_fini(&one);
    return true;

out_fail:
    km_samples_fini(&one);
    return false;
}

const struct km_labels *km_tsdb_series_labels(const struct km_tsdb_series_set *ss)
{
    return ss->labels;
}

bool km_tsdb_series_sample(struct km_tsdb_series_set *ss, int64_t *t, double *v)
{
    if (ss->pos >= ss->buf.n)
        return false;
    *t = ss->buf.t[ss->pos];
    *v = ss->buf.v[ss->pos++];
    return true;
}

bool km_tsdb_series_batch(struct km_tsdb_series_set *ss, const int64_t **t, const double **v,
                          size_t *n)
{
    if (ss->pos >= ss->buf.n)
        return false;
    *t = ss->buf.t + ss->pos;
    *v = ss->buf.v + ss->pos;
    *n = ss->buf.n - ss->pos;
    ss->pos = ss->buf.n;
    return true;
}

int km_tsdb_series_error(const struct km_tsdb_series_set *ss)
{
    return ss->err;
}

void km_tsdb_series_set_destroy(struct km_tsdb_series_set *ss)
{
    if (!ss)
        return;
    for (size_t i = 0; i < ss->nsrc; i++) {
        struct source *s = &ss->src[i];

        if (s->is_head) {
            for (size_t k = 0; k < s->nhs; k++)
                km_head_series_put(ss->q->db->head, s->hs[k]);
            free(s->hs);
            free(s->hlabels);
        } else {
            km_block_series_fini(&s->cur);
            km_block_reader_fini(&s->rd);
            km_postings_fini(&s->ids);
        }
    }
    free(ss->src);
    km_samples_fini(&ss->buf);
    km_samples_fini(&ss->tmp);
    free(ss);
}

/* ---- label names and values ------------------------------------------------------------ */

struct strset {
    char **v;
    size_t n, cap;
    int err;
};

static int strset_add(void *ud, const char *s)
{
    struct strset *set = ud;

    if (set->n == set->cap) {
        size_t ncap = set->cap ? set->cap * 2 : 64;
        char **p = realloc(set->v, ncap * sizeof(*p));

        if (!p) {
            set->err = km_err_set(KM_ENOMEM, "out of memory");
            return 1;
        }
        set->v = p;
        set->cap = ncap;
    }
    set->v[set->n] = strdup(s);
    if (!set->v[set->n]) {
        set->err = km_err_set(KM_ENOMEM, "out of memory");
        return 1;
    }
    set->n++;
    return 0;
}

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int collect(struct km_tsdb_query *q, const char *name, struct km_matcher *const *m,
                   size_t nm, km_str_fn fn, void *ud)
{
    struct strset set = { 0 };
    int rc;

    rc = name ? km_head_label_values(q->db->head, name, m, nm, q->mint, q->maxt, strset_add, &set)
              : km_head_label_names(q->db->head, m, nm, q->mint, q->maxt, strset_add, &set);
    for (size_t i = 0; i < q->nblocks && rc == 0 && set.err == 0; i++) {
        struct km_postings ids = { 0 };

        rc = km_block_postings(q->blocks[i], m, nm, &ids);
        if (rc == 0)
            rc = name ? km_block_label_values(q->blocks[i], name, &ids, strset_add, &set)
                      : km_block_label_names(q->blocks[i], &ids, strset_add, &set);
        km_postings_fini(&ids);
    }
    if (rc == 0)
        rc = set.err;
    if (rc == 0 && set.n > 1)
        km_sort(set.v, set.n, sizeof(*set.v), cmp_strp);
    for (size_t i = 0; rc == 0 && i < set.n; i++) {
        if (i > 0 && strcmp(set.v[i], set.v[i - 1]) == 0)
            continue;
        if (fn(ud, set.v[i]))
            break;
    }
    for (size_t i = 0; i < set.n; i++)
        free(set.v[i]);
    free(set.v);
    return rc;
}

int km_tsdb_label_names(struct km_tsdb_query *q, struct km_matcher *const *m, size_t nm,
                        km_str_fn fn, void *ud)
{
    return collect(q, NULL, m, nm, fn, ud);
}

int km_tsdb_label_values(struct km_tsdb_query *q, const char *name, struct km_matcher *const *m,
                         size_t nm, km_str_fn fn, void *ud)
{
    return collect(q, name, m, nm, fn, ud);
}
