/*
 * db — opening (blocks, WAL replay), appending, closing and statistics of the database
 * (see tsdb.h for the contract, db.h for the shared state).
 *
 * Append protocol, which makes "returned 0" mean "durable":
 *   1. resolve every sample's series; series that do not exist yet are created but not
 *      published;
 *   2. their series record goes to the WAL (so no sample record can name a reference
 *      the log has never defined), then they are published;
 *   3. samples go to the head, which decides accepted / duplicate / rejected;
 *   4. the accepted ones go to the WAL as one samples record.
 */
#include "db.h"

#include "common/err.h"
#include "common/fsutil.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/mset.h"
#include "common/numfmt.h"
#include "common/timefmt.h"
#include "data_version.h"
#include "wal_records.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

void km_tsdb_opts_default(struct km_tsdb_opts *o)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    memset(o, 0, sizeof(*o));
    o->retention_ms = 15LL * 24 * 3600 * 1000;
    o->block_range_ms = 2LL * 3600 * 1000;
    o->ooo_window_ms = 3600LL * 1000;
    o->max_future_ms = 10LL * 60 * 1000;
    o->fsync_interval_ms = 1000;
    o->wal_lanes = (unsigned)(ncpu < 1 ? 1 : ncpu > 8 ? 8 : ncpu);
    o->wal_segment_bytes = 64u * 1024 * 1024;
    o->cache_bytes = 64u * 1024 * 1024;
}

/* ---- the clock ------------------------------------------------------------------------- */

int64_t km_tsdb_now_ms(const struct km_tsdb *db)
{
    return db->o.clock_ms ? db->o.clock_ms() : km_time_now_ns() / 1000000;
}

const struct km_tsdb_opts *km_tsdb_options(const struct km_tsdb *db)
{
    return &db->o;
}

void km_tsdb_time_window(struct km_tsdb *db, int64_t *lo, int64_t *hi)
{
    int64_t now = km_tsdb_now_ms(db);

    /* Options are bounded at open, so neither end can overflow. */
    *lo = now - db->o.retention_ms;
    *hi = now + db->o.max_future_ms;
}

/* ---- block list ------------------------------------------------------------------------ */

int km_tsdb_blocks_add(struct km_tsdb *db, struct km_block *b)
{
    size_t i;

    km_block_set_cache(b, db->cache);
    pthread_rwlock_wrlock(&db->blocks_lock);
    if (db->nblocks == db->capblocks) {
        size_t ncap = db->capblocks ? db->capblocks * 2 : 16;
        struct km_block **p = realloc(db->blocks, ncap * sizeof(*p));

        if (!p) {
            pthread_rwlock_unlock(&db->blocks_lock);
            return km_err_set(KM_ENOMEM, "out of memory");
        }
        db->blocks = p;
        db->capblocks = ncap;
    }
    for (i = db->nblocks; i > 0 && km_block_meta(db->blocks[i - 1])->mint > km_block_meta(b)->mint;
         i--)
        db->blocks[i] = db->blocks[i - 1];
    db->blocks[i] = b;
    db->nblocks++;
    pthread_rwlock_unlock(&db->blocks_lock);
    return 0;
}

void km_tsdb_blocks_remove(struct km_tsdb *db, struct km_block *const *v, size_t n)
{
    size_t w = 0;

    pthread_rwlock_wrlock(&db->blocks_lock);
    for (size_t i = 0; i < db->nblocks; i++) {
        bool drop = false;

        for (size_t k = 0; k < n && !drop; k++)
            drop = db->blocks[i] == v[k];
        if (!drop)
            db->blocks[w++] = db->blocks[i];
    }
    db->nblocks = w;
    pthread_rwlock_unlock(&db->blocks_lock);
}

int64_t km_tsdb_blocks_maxt(struct km_tsdb *db, int64_t bound)
{
    int64_t m = INT64_MIN;

    pthread_rwlock_rdlock(&db->blocks_lock);
    for (size_t i = 0; i < db->nblocks; i++) {
        int64_t t = km_block_meta(db->blocks[i])->maxt;

        if (t > m && t <= bound)
            m = t;
    }
    pthread_rwlock_unlock(&db->blocks_lock);
    return m;
}

/* Blocks reaching beyond the future bound: an older version took samples from the
 * future and cut them. They are kept and queried, but set no time bound. */
static void warn_future_blocks(struct km_tsdb *db, int64_t bound)
{
    uint64_t n = 0;

    pthread_rwlock_rdlock(&db->blocks_lock);
    for (size_t i = 0; i < db->nblocks; i++) {
        const struct km_block_meta *m = km_block_meta(db->blocks[i]);
        char a[40], b[40];

        if (m->maxt <= bound)
            continue;
        n++;
        km_log_warn(KM_TSDB_LOG,
                    "block %s holds samples up to %s, beyond the future bound (%s): kept and "
                    "queried, but it sets no time bound; delete it if its data is wrong",
                    m->id, km_time_format_ms(b, sizeof(b), m->maxt),
                    km_time_format_ms(a, sizeof(a), bound));
    }
    pthread_rwlock_unlock(&db->blocks_lock);
    atomic_store(&db->future_blocks, n);
}

static void remove_leftover(const char *path)
{
    static const char *const files[] = { "chunks", "index", "meta.json", "meta.json.tmp" };

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char p[PATH_MAX + 96];

        snprintf(p, sizeof(p), "%s/%s", path, files[i]);
        unlink(p);
    }
    rmdir(path);
}

/* Remember a block directory that did not load, for inspect. */
static int note_bad_block(struct km_tsdb *db, const char *name, const char *why)
{
    struct km_tsdb_bad_block *v =
        realloc(db->bad_blocks, (db->nbad_blocks + 1) * sizeof(*db->bad_blocks));

    if (!v)
        return km_err_set(KM_ENOMEM, "out of memory");
    db->bad_blocks = v;
    v[db->nbad_blocks].name = strdup(name);
    v[db->nbad_blocks].error = strdup(why);
    if (!v[db->nbad_blocks].name || !v[db->nbad_blocks].error) {
        free(v[db->nbad_blocks].name);
        free(v[db->nbad_blocks].error);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    db->nbad_blocks++;
    return 0;
}

static int load_blocks(struct km_tsdb *db)
{
    DIR *d = opendir(db->blocks_dir);
    struct dirent *de;
    int rc = 0;

    if (!d)
        return errno == ENOENT ? 0 : km_err_set_errno(KM_EIO, errno, "opening %s", db->blocks_dir);
    while (rc == 0 && (de = readdir(d)) != NULL) {
        char path[PATH_MAX + 64];
        size_t l = strlen(de->d_name);
        struct km_block *b;

        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", db->blocks_dir, de->d_name);
        if ((l > 4 && strcmp(de->d_name + l - 4, ".tmp") == 0) ||
            (l > 8 && strcmp(de->d_name + l - 8, ".deleted") == 0)) {
            if (!db->o.read_only)
                remove_leftover(path); /* an unfinished write or delete */
            continue;
        }
        if (l > 8 && strcmp(de->d_name + l - 8, ".corrupt") == 0) {
            rc = note_bad_block(db, de->d_name,
                                "set aside as unreadable when the database was opened before; "
                                "its data is not queried (restore it or delete it)");
            continue;
        }
        if (km_block_open(&b, path) != 0) {
            char to[PATH_MAX + 80];

            km_log_error(KM_TSDB_LOG, "block %s cannot be read and is skipped: %s", path,
                         km_err_msg());
            rc = note_bad_block(db, de->d_name, km_err_msg());
            if (!db->o.read_only) {
                snprintf(to, sizeof(to), "%s.corrupt", path);
                rename(path, to);
            }
            continue;
        }
        rc = km_tsdb_blocks_add(db, b);
        if (rc)
            km_block_release(b);
    }
    closedir(d);
    /* A crash between writing a compacted block and deleting its parents leaves both:
     * the parents go now. */
    if (rc == 0 && !db->o.read_only) {
        struct km_block *drop[64] = { 0 };
        size_t ndrop = 0;

        pthread_rwlock_rdlock(&db->blocks_lock);
        for (size_t i = 0; i < db->nblocks; i++) {
            char **p = km_block_meta(db->blocks[i])->parents;

            for (size_t k = 0; p && p[k]; k++) {
                for (size_t j = 0; j < db->nblocks && ndrop < 64; j++) {
                    if (strcmp(km_block_meta(db->blocks[j])->id, p[k]) == 0)
                        drop[ndrop++] = db->blocks[j];
                }
            }
        }
        pthread_rwlock_unlock(&db->blocks_lock);
        km_tsdb_blocks_remove(db, drop, ndrop);
        for (size_t i = 0; i < ndrop; i++) {
            km_log_info(KM_TSDB_LOG, "removing block %s, already compacted into another",
                        km_block_meta(drop[i])->id);
            km_block_delete(drop[i]);
            km_block_release(drop[i]);
        }
    }
    return rc;
}

/* ---- replay -------------------------------------------------------------------------- */

struct alias {
    uint64_t from, to;
};

struct replay_ctx {
    struct km_tsdb *db;
    struct alias *alias; /* open addressing, from == 0 is empty */
    size_t nalias, capalias;
    uint64_t series, samples, unknown;
    int64_t lo, hi; /* the clock's window at open */
    uint64_t dropped_future, dropped_old;
    int64_t future_min, future_max;
};

static uint64_t mix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
}

static int alias_put(struct replay_ctx *c, uint64_t from, uint64_t to)
{
    size_t i;

    if ((c->nalias + 1) * 2 > c->capalias) {
        size_t n = c->capalias ? c->capalias * 2 : 256;
        struct alias *a = calloc(n, sizeof(*a));

        if (!a)
            return km_err_set(KM_ENOMEM, "out of memory");
        for (size_t k = 0; k < c->capalias; k++) {
            if (!c->alias[k].from)
                continue;
            i = mix64(c->alias[k].from) & (n - 1);
            while (a[i].from)
                i = (i + 1) & (n - 1);
            a[i] = c->alias[k];
        }
        free(c->alias);
        c->alias = a;
        c->capalias = n;
    }
    for (i = mix64(from) & (c->capalias - 1); c->alias[i].from; i = (i + 1) & (c->capalias - 1)) {
        if (c->alias[i].from == from) {
            c->alias[i].to = to;
            return 0;
        }
    }
    c->alias[i] = (struct alias){ from, to };
    c->nalias++;
    return 0;
}

static uint64_t alias_get(const struct replay_ctx *c, uint64_t ref)
{
    if (!c->capalias)
        return ref;
    for (size_t i = mix64(ref) & (c->capalias - 1); c->alias[i].from;
         i = (i + 1) & (c->capalias - 1)) {
        if (c->alias[i].from == ref)
            return c->alias[i].to;
    }
    return ref;
}

static int replay_series(void *ud, uint64_t ref, const struct km_label *l, size_t n)
{
    struct replay_ctx *c = ud;
    struct km_head *h = c->db->head;
    struct km_hseries *s, *got;
    uint64_t hash;
    int rc;

    if (km_labels_check(l, n) != 0 || ref == 0)
        return 0; /* cannot have been logged by us: ignore */
    /* Whatever becomes of this record, its reference was handed out once: a new series
     * must never get it again, or a later replay would file samples under the wrong one. */
    km_head_reserve_ref(h, ref);
    hash = km_labels_hash(l, n);
    s = km_head_lookup(h, l, n, hash);
    if (!s) {
        rc = km_head_series_new(h, l, n, hash, ref, &s);
        if (rc)
            return rc;
        got = km_head_publish(h, s);
        if (!got)
            return km_err_set(KM_ENOMEM, "out of memory replaying the WAL");
        s = got;
        c->series++;
    }
    rc = km_head_series_ref(s) != ref ? alias_put(c, ref, km_head_series_ref(s)) : 0;
    km_head_series_put(h, s);
    return rc;
}

static int replay_sample(void *ud, uint64_t ref, int64_t t, double v)
{
    struct replay_ctx *c = ud;
    struct km_hseries *s = km_head_by_ref(c->db->head, alias_get(c, ref));

    if (!s) {
        /* Its series record was lost: keep the number from being reused all the same. */
        km_head_reserve_ref(c->db->head, ref);
        c->unknown++;
        return 0;
    }
    /* Samples an older version took from the future (or that retention has passed while
     * the server was down) heal away here: they would poison the head's time bounds. */
    switch (km_sample_check_time(t, c->lo, c->hi)) {
    case KM_SAMPLE_TOO_NEW:
        c->dropped_future++;
        c->future_min = t < c->future_min ? t : c->future_min;
        c->future_max = t > c->future_max ? t : c->future_max;
        km_head_series_put(c->db->head, s);
        return 0;
    case KM_SAMPLE_OUT_OF_RETENTION:
        c->dropped_old++;
        km_head_series_put(c->db->head, s);
        return 0;
    default:
        break;
    }
    switch (km_head_append(c->db->head, s, t, v, true)) {
    case KM_APPEND_OK:
        c->samples++;
        break;
    case KM_APPEND_NOMEM:
        km_head_series_put(c->db->head, s);
        return km_err_set(KM_ENOMEM, "out of memory replaying the WAL");
    default:
        break;
    }
    km_head_series_put(c->db->head, s);
    return 0;
}

static int replay_record(void *ud, uint8_t type, const uint8_t *p, size_t len)
{
    int rc;

    if (type == KM_WAL_SERIES)
        rc = km_walrec_decode_series(p, len, replay_series, ud);
    else if (type == KM_WAL_SAMPLES)
        rc = km_walrec_decode_samples(p, len, replay_sample, ud);
    else
        return 0;
    if (rc == KM_ECORRUPT) {
        /* The checksum held but the payload does not parse: a bug, not bit rot. */
        km_log_error(KM_TSDB_LOG, "WAL record skipped: %s", km_err_msg());
        return 0;
    }
    return rc;
}

/* Say what the replay dropped as beyond the clock's window. */
static void report_dropped(const struct km_tsdb *db, const struct replay_ctx *c)
{
    char a[48], b[48], h[48];

    if (c->dropped_future)
        km_log_warn(
            KM_TSDB_LOG,
            "WAL replay: dropped %llu samples from the future (%s to %s, beyond the "
            "bound %s): a sender's clock or unit was wrong when an older version took "
            "them%s",
            (unsigned long long)c->dropped_future, km_time_format_ms(a, sizeof(a), c->future_min),
            km_time_format_ms(b, sizeof(b), c->future_max), km_time_format_ms(h, sizeof(h), c->hi),
            db->o.read_only ? " (read-only: the WAL is left as it is)" : "");
    if (c->dropped_old)
        km_log_info(KM_TSDB_LOG, "WAL replay: dropped %llu samples older than the retention",
                    (unsigned long long)c->dropped_old);
}

static int replay(struct km_tsdb *db)
{
    struct replay_ctx c = { .db = db, .future_min = INT64_MAX, .future_max = INT64_MIN };
    struct km_wal_replay_stats st;
    int64_t t0 = km_time_mono_ns();
    size_t pruned = 0;
    uint64_t settled = 0;
    int rc;

    km_tsdb_time_window(db, &c.lo, &c.hi);
    km_head_bulk_begin(db->head);
    rc = km_wal_replay(db->wal_dir, db->o.read_only, replay_record, &c, &st);
    free(c.alias);
    if (rc == 0)
        rc = km_head_bulk_end(db->head);
    if (rc)
        return km_err_wrap(rc, "replaying the WAL");
    /* Series whose every sample was dropped (or never came) leave the head. */
    rc = km_head_truncate(db->head, INT64_MIN, INT64_MIN, &pruned);
    if (rc == 0)
        rc = km_head_settle(db->head, &settled);
    if (rc)
        return km_err_wrap(rc, "replaying the WAL");
    if (settled)
        km_log_info(KM_TSDB_LOG,
                    "WAL replay: %llu series had samples from several WAL lanes; put back in "
                    "time order",
                    (unsigned long long)settled);
    db->replayed = st;
    db->replayed_series = c.series > pruned ? c.series - pruned : 0;
    db->replayed_samples = c.samples;
    db->replayed_dropped_future = c.dropped_future;
    db->replayed_dropped_old = c.dropped_old;
    db->replayed_future_min = c.future_min;
    db->replayed_future_max = c.future_max;
    report_dropped(db, &c);
    atomic_store(&db->wal_corruptions, st.corruptions);
    atomic_store(&db->wal_torn_tails, st.torn_tails);
    atomic_store(&db->replay_unknown_series, c.unknown);
    if (st.segments)
        km_log_info(KM_TSDB_LOG,
                    "WAL replayed in %.2f s: %llu segments (%.1f MiB), %llu series, %llu samples"
                    "%s%s",
                    (double)(km_time_mono_ns() - t0) / 1e9, (unsigned long long)st.segments,
                    (double)st.bytes / 1048576.0, (unsigned long long)c.series,
                    (unsigned long long)c.samples,
                    !st.torn_tails    ? ""
                    : db->o.read_only ? ", a torn tail (left as is: read-only)"
                                      : ", a torn tail cut",
                    st.corruptions ? ", CORRUPTION found (see above)" : "");
    if (c.unknown)
        km_log_error(KM_TSDB_LOG,
                     "WAL replay: %llu samples name series the log never defined "
                     "(lost with a corrupt segment)",
                     (unsigned long long)c.unknown);
    if (!db->o.read_only) {
        struct km_wal_opts wo = { .dir = db->wal_dir,
                                  .lanes = db->o.wal_lanes,
                                  .segment_bytes = db->o.wal_segment_bytes,
                                  .fsync_each = db->o.fsync_interval_ms == 0 };

        rc = km_wal_open(&db->wal, &wo, st.next_seq);
        /* What was dropped leaves the log too: the next open has nothing to heal. */
        if (rc == 0 && (c.dropped_future || c.dropped_old))
            rc = km_tsdb_checkpoint(db);
    }
    return rc;
}

/* ---- open / close ------------------------------------------------------------------------ */

static void *background(void *arg)
{
    struct km_tsdb *db = arg;
    int64_t period = db->o.fsync_interval_ms > 0 && db->o.fsync_interval_ms < 1000
                         ? db->o.fsync_interval_ms
                         : 1000;

    pthread_mutex_lock(&db->bg_mu);
    while (!db->stopping) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += period / 1000;
        ts.tv_nsec += (period % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&db->bg_cv, &db->bg_mu, &ts);
        if (db->stopping)
            break;
        pthread_mutex_unlock(&db->bg_mu);
        if (km_tsdb_maintain(db) != 0)
            km_log_error(KM_TSDB_LOG, "maintenance: %s", km_err_msg());
        pthread_mutex_lock(&db->bg_mu);
    }
    pthread_mutex_unlock(&db->bg_mu);
    return NULL;
}

static int lock_dir(struct km_tsdb *db)
{
    char path[PATH_MAX + 16];

    snprintf(path, sizeof(path), "%s/lock", db->dir);
    db->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (db->lock_fd < 0)
        return km_err_set_errno(KM_EIO, errno, "opening %s", path);
    if (flock(db->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;

        close(db->lock_fd);
        db->lock_fd = -1;
        if (e == EWOULDBLOCK)
            return km_err_set(KM_EEXIST, "%s is in use by another kmon process", db->dir);
        return km_err_set_errno(KM_EIO, e, "locking %s", path);
    }
    return 0;
}

int km_tsdb_open(struct km_tsdb **out, const struct km_tsdb_opts *o)
{
    struct km_tsdb *db;
    struct km_head_opts ho;
    int rc;

    if (!o->dir || !*o->dir)
        return km_err_set(KM_EINVAL, "no data directory");
    /* Bounded so that no time arithmetic (clock ± these) can overflow. */
    if (o->block_range_ms <= 0 || o->block_range_ms > KM_TSDB_MAX_SPAN_MS || o->ooo_window_ms < 0 ||
        o->ooo_window_ms > KM_TSDB_MAX_SPAN_MS || o->retention_ms <= 0 ||
        o->retention_ms > KM_TSDB_MAX_SPAN_MS || o->max_future_ms < 0 ||
        o->max_future_ms > KM_TSDB_MAX_SPAN_MS || o->wal_segment_bytes < 4096)
        return km_err_set(KM_EINVAL, "bad tsdb options");
    db = calloc(1, sizeof(*db));
    if (!db)
        return km_err_set(KM_ENOMEM, "out of memory");
    db->o = *o;
    db->lock_fd = -1;
    pthread_rwlock_init(&db->blocks_lock, NULL);
    pthread_mutex_init(&db->maint_mu, NULL);
    pthread_mutex_init(&db->readers_mu, NULL);
    pthread_mutex_init(&db->drain_mu, NULL);
    pthread_cond_init(&db->readers_cv, NULL);
    pthread_mutex_init(&db->bg_mu, NULL);
    {
        pthread_condattr_t ca;

        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&db->bg_cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    db->dir = strdup(o->dir);
    db->wal_dir = malloc(strlen(o->dir) + 8);
    db->blocks_dir = malloc(strlen(o->dir) + 8);
    if (!db->dir || !db->wal_dir || !db->blocks_dir) {
        rc = km_err_set(KM_ENOMEM, "out of memory");
        goto out_close;
    }
    rc = km_seccache_create(&db->cache, o->cache_bytes);
    if (rc)
        goto out_close;
    sprintf(db->wal_dir, "%s/wal", o->dir);
    sprintf(db->blocks_dir, "%s/blocks", o->dir);
    db->o.dir = db->dir;
    if (!o->read_only) {
        /* Locked before anything else is read or written; the version is checked (and
         * written in a new directory) before blocks/ exists. */
        rc = km_mkdir_p(db->dir, 0750);
        if (rc == 0)
            rc = lock_dir(db);
        if (rc == 0)
            rc = km_data_version_check(db->dir, true, NULL);
        if (rc == 0 && mkdir(db->blocks_dir, 0750) != 0 && errno != EEXIST)
            rc = km_err_set_errno(KM_EIO, errno, "creating %s", db->blocks_dir);
        if (rc)
            goto out_close;
    } else if (access(db->dir, R_OK | X_OK) != 0) {
        rc = km_err_set_errno(KM_ENOTFOUND, errno, "cannot read %s", db->dir);
        goto out_close;
    } else if ((rc = km_data_version_check(db->dir, false, NULL)) != 0) {
        goto out_close;
    }
    ho.block_range_ms = o->block_range_ms;
    ho.ooo_window_ms = o->ooo_window_ms;
    rc = km_head_create(&db->head, &ho);
    if (rc == 0)
        rc = load_blocks(db);
    if (rc)
        goto out_close;
    {
        int64_t lo, hi, bmax;

        km_tsdb_time_window(db, &lo, &hi);
        warn_future_blocks(db, hi);
        bmax = km_tsdb_blocks_maxt(db, hi);
        if (bmax != INT64_MIN)
            km_head_set_min_valid(db->head, bmax + 1);
    }
    rc = replay(db);
    if (rc)
        goto out_close;
    db->last_sync_ns = km_time_mono_ns();
    if (!o->read_only && !o->no_background) {
        if (pthread_create(&db->bg, NULL, background, db) != 0) {
            rc = km_err_set(KM_EIO, "cannot start the tsdb maintenance thread");
            goto out_close;
        }
        db->bg_started = true;
    }
    *out = db;
    return 0;

out_close:
    km_tsdb_close(db);
    return rc;
}

void km_tsdb_close(struct km_tsdb *db)
{
    if (!db)
        return;
    if (db->bg_started) {
        pthread_mutex_lock(&db->bg_mu);
        db->stopping = true;
        pthread_cond_signal(&db->bg_cv);
        pthread_mutex_unlock(&db->bg_mu);
        pthread_join(db->bg, NULL);
    }
    km_wal_close(db->wal); /* fsyncs */
    for (size_t i = 0; i < db->nblocks; i++)
        km_block_release(db->blocks[i]);
    free(db->blocks);
    km_seccache_release(db->cache); /* freed with the last block that holds it */
    for (size_t i = 0; i < db->nbad_blocks; i++) {
        free(db->bad_blocks[i].name);
        free(db->bad_blocks[i].error);
    }
    free(db->bad_blocks);
    km_head_destroy(db->head);
    if (db->lock_fd >= 0)
        close(db->lock_fd);
    pthread_rwlock_destroy(&db->blocks_lock);
    pthread_mutex_destroy(&db->maint_mu);
    pthread_mutex_destroy(&db->readers_mu);
    pthread_mutex_destroy(&db->drain_mu);
    pthread_cond_destroy(&db->readers_cv);
    pthread_mutex_destroy(&db->bg_mu);
    pthread_cond_destroy(&db->bg_cv);
    free(db->dir);
    free(db->wal_dir);
    free(db->blocks_dir);
    free(db);
}

/* ---- append ------------------------------------------------------------------------------ */

/* Canonical labels for lookup: empty values dropped (Prometheus treats them as absent)
 * and sorted by name (usually they already are: checked in one pass). Strings are
 * borrowed from the input. Nothing is validated here: a set equal to an existing
 * series is valid by construction, and new ones go through valid() first. */
static bool canonical(const struct km_sample *s, struct km_label *l, size_t *n)
{
    size_t k = 0;
    bool sorted = true;

    if (s->nlabels > KM_LIMIT_LABELS_PER_SERIES) {
        km_err_set(KM_ELIMIT, "%zu labels on one series (at most %d)", s->nlabels,
                   KM_LIMIT_LABELS_PER_SERIES);
        return false;
    }
    for (size_t i = 0; i < s->nlabels; i++) {
        const struct km_label *x = &s->labels[i];

        if (!x->name || !x->value || !x->value[0])
            continue;
        if (k && sorted && strcmp(l[k - 1].name, x->name) >= 0)
            sorted = false;
        l[k++] = *x;
    }
    if (!sorted)
        km_labels_sort(l, k);
    *n = k;
    return true;
}

/* What a new series must satisfy: valid and unique names, a metric name, UTF-8 values. */
static bool valid(const struct km_label *l, size_t n)
{
    bool has_name = false;

    if (km_labels_check(l, n) != 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *v = (const unsigned char *)l[i].value;

        if (strcmp(l[i].name, KM_METRIC_NAME_LABEL) == 0)
            has_name = true;
        for (size_t p = 0; v[p];) {
            size_t sl;

            if (v[p] < 0x80) {
                p++;
                continue;
            }
            sl = km_utf8_seq_len(v + p, strlen((const char *)v + p));
            if (!sl) {
                km_err_set(KM_EINVAL, "label %s has a value that is not UTF-8", l[i].name);
                return false;
            }
            p += sl;
        }
    }
    if (!has_name)
        km_err_set(KM_EINVAL, "a series without a metric name (__name__)");
    return has_name;
}

/* Create, log and publish one series (the rare path after a concurrent truncation). */
static struct km_hseries *create_one(struct km_tsdb *db, const struct km_label *l, size_t n,
                                     uint64_t hash, struct km_buf *rec, int *rc, bool *won)
{
    struct km_hseries *s;

    *rc = km_head_series_new(db->head, l, n, hash, 0, &s);
    if (*rc)
        return NULL;
    km_walrec_series_begin(rec);
    km_walrec_series_add(rec, km_head_series_ref(s), l, n);
    km_walrec_finish(rec, 1);
    *rc = km_buf_error(rec) ? km_buf_error(rec)
                            : km_wal_log(db->wal, KM_WAL_SERIES, rec->data, rec->len);
    if (*rc) {
        km_head_series_put(db->head, s);
        return NULL;
    }
    {
        struct km_hseries *got = km_head_publish(db->head, s);

        /* Another writer may have published the same label set first: its series won. */
        if (got == s)
            atomic_fetch_add(&db->created, 1);
        if (won)
            *won = got == s;
        return got;
    }
}

/* Count a sample outside the clock's window; its status (KM_SAMPLE_APPENDED if inside). */
static enum km_sample_status check_time(struct km_append_result *res, int64_t t, int64_t lo,
                                        int64_t hi)
{
    enum km_sample_status st = km_sample_check_time(t, lo, hi);

    if (st == KM_SAMPLE_TOO_NEW)
        res->too_new++;
    else if (st == KM_SAMPLE_OUT_OF_RETENTION)
        res->out_of_retention++;
    return st;
}

/* Count a sample the head did not take (duplicate, too old, conflicting); its status. */
static enum km_sample_status count_refusal(struct km_append_result *res, enum km_append_status st)
{
    switch (st) {
    case KM_APPEND_DUPLICATE:
        res->duplicate++;
        return KM_SAMPLE_DUPLICATE;
    case KM_APPEND_TOO_OLD:
        res->too_old++;
        return KM_SAMPLE_TOO_OLD;
    default:
        res->conflicting++;
        return KM_SAMPLE_CONFLICTING;
    }
}

/* Log the accepted samples of one append call (record `rec`) to the WAL and count the
 * outcomes; a WAL failure leaves them unacknowledged. Returns rc, or the WAL's error. */
static int finish_append(struct km_tsdb *db, struct km_buf *rec, size_t naccepted,
                         struct km_append_result *res, int rc)
{
    if (naccepted) {
        int lrc;

        km_walrec_finish(rec, naccepted);
        lrc = km_buf_error(rec) ? km_buf_error(rec)
                                : km_wal_log(db->wal, KM_WAL_SAMPLES, rec->data, rec->len);
        if (lrc && rc == 0)
            rc = lrc;
        if (lrc == 0)
            res->appended = naccepted;
    }
    atomic_fetch_add(&db->appended, res->appended);
    atomic_fetch_add(&db->duplicates, res->duplicate);
    atomic_fetch_add(&db->too_old, res->too_old);
    atomic_fetch_add(&db->too_new, res->too_new);
    atomic_fetch_add(&db->out_of_retention, res->out_of_retention);
    atomic_fetch_add(&db->conflicting, res->conflicting);
    atomic_fetch_add(&db->invalid, res->invalid);
    return rc;
}

int km_tsdb_append(struct km_tsdb *db, const struct km_sample *s, size_t n,
                   enum km_sample_status *status, struct km_append_result *res)
{
    struct km_hseries **ser = NULL;
    size_t *pending = NULL, npending = 0, naccepted = 0;
    struct km_buf rec;
    int64_t lo, hi;
    int rc = 0;

    memset(res, 0, sizeof(*res));
    if (!db->wal)
        return km_err_set(KM_EINVAL, "the database is open read-only");
    if (n == 0)
        return 0;
    km_tsdb_time_window(db, &lo, &hi);
    km_buf_init(&rec, KM_WAL_MAX_RECORD);
    ser = calloc(n, sizeof(*ser));
    pending = malloc(n * sizeof(*pending));
    if (!ser || !pending) {
        rc = km_err_set(KM_ENOMEM, "out of memory appending");
        goto out_free;
    }
    /* 1. Resolve; create what is missing, unpublished, and log it. A sample outside the
     * clock's window creates nothing. */
    km_walrec_series_begin(&rec);
    for (size_t i = 0; i < n; i++) {
        struct km_label l[KM_LIMIT_LABELS_PER_SERIES];
        enum km_sample_status ts = check_time(res, s[i].t, lo, hi);
        size_t nl;
        uint64_t hash;

        if (status)
            status[i] = ts == KM_SAMPLE_APPENDED ? KM_SAMPLE_INVALID : ts;
        if (ts != KM_SAMPLE_APPENDED)
            continue;
        if (!canonical(&s[i], l, &nl)) {
            res->invalid++;
            continue;
        }
        hash = km_labels_hash(l, nl);
        ser[i] = km_head_lookup(db->head, l, nl, hash);
        if (ser[i])
            continue;
        if (!valid(l, nl)) {
            res->invalid++;
            continue;
        }
        rc = km_head_series_new(db->head, l, nl, hash, 0, &ser[i]);
        if (rc)
            goto out_free;
        km_walrec_series_add(&rec, km_head_series_ref(ser[i]), l, nl);
        pending[npending++] = i;
    }
    if (npending) {
        km_walrec_finish(&rec, npending);
        rc = km_buf_error(&rec) ? km_buf_error(&rec)
                                : km_wal_log(db->wal, KM_WAL_SERIES, rec.data, rec.len);
        if (rc)
            goto out_free;
        /* 2. Publish; a series published meanwhile by another writer wins. */
        for (size_t k = 0; k < npending; k++) {
            size_t i = pending[k];

            ser[i] = km_head_publish(db->head, ser[i]);
            if (!ser[i]) {
                rc = km_err_set(KM_ENOMEM, "out of memory creating series");
                goto out_free;
            }
        }
        res->series_created = npending;
        atomic_fetch_add(&db->created, npending);
    }
    /* 3. Samples into the head; 4. the accepted ones into the log. */
    km_walrec_samples_begin(&rec, s[0].t);
    for (size_t i = 0; i < n; i++) {
        enum km_append_status st;

        if (!ser[i])
            continue;
        st = km_head_append(db->head, ser[i], s[i].t, s[i].v, false);
        if (st == KM_APPEND_REMOVED) {
            struct km_label l[KM_LIMIT_LABELS_PER_SERIES];
            struct km_buf one;
            size_t nl;
            uint64_t hash;

            canonical(&s[i], l, &nl);
            hash = km_labels_hash(l, nl);
            km_head_series_put(db->head, ser[i]);
            ser[i] = km_head_lookup(db->head, l, nl, hash);
            if (!ser[i]) {
                km_buf_init(&one, 0);
                ser[i] = create_one(db, l, nl, hash, &one, &rc, NULL);
                km_buf_fini(&one);
                if (!ser[i])
                    goto out_free;
            }
            st = km_head_append(db->head, ser[i], s[i].t, s[i].v, false);
        }
        switch (st) {
        case KM_APPEND_OK:
            km_walrec_samples_add(&rec, km_head_series_ref(ser[i]), s[0].t, s[i].t, s[i].v);
            naccepted++;
            if (status)
                status[i] = KM_SAMPLE_APPENDED;
            break;
        case KM_APPEND_DUPLICATE:
        case KM_APPEND_TOO_OLD:
        case KM_APPEND_CONFLICT: {
            enum km_sample_status out = count_refusal(res, st);

            if (status)
                status[i] = out;
            break;
        }
        case KM_APPEND_NOMEM:
        case KM_APPEND_REMOVED:
            rc = km_err_set(KM_ENOMEM, "out of memory appending");
            goto out_log;
        }
    }
out_log:
    rc = finish_append(db, &rec, naccepted, res, rc);
out_free:
    for (size_t i = 0; ser && i < n; i++)
        km_head_series_put(db->head, ser[i]);
    free(ser);
    free(pending);
    km_buf_fini(&rec);
    return rc;
}

int km_tsdb_series_ref(struct km_tsdb *db, const struct km_label *labels, size_t nlabels,
                       uint64_t *ref, bool *created)
{
    struct km_label l[KM_LIMIT_LABELS_PER_SERIES];
    struct km_sample one = { labels, nlabels, 0, 0 };
    struct km_hseries *s;
    struct km_buf rec;
    uint64_t hash;
    size_t nl;
    int rc = 0;

    if (!db->wal)
        return km_err_set(KM_EINVAL, "the database is open read-only");
    if (!canonical(&one, l, &nl))
        return KM_ELIMIT;
    hash = km_labels_hash(l, nl);
    if (created)
        *created = false;
    s = km_head_lookup(db->head, l, nl, hash);
    if (!s) {
        if (!valid(l, nl))
            return KM_EINVAL;
        km_buf_init(&rec, 0);
        s = create_one(db, l, nl, hash, &rec, &rc, created);
        km_buf_fini(&rec);
        if (!s)
            return rc ? rc : km_err_set(KM_ENOMEM, "out of memory creating a series");
    }
    *ref = km_head_series_ref(s);
    km_head_series_put(db->head, s);
    return 0;
}

/* km_tsdb_append_refs loads the series of the sample this far ahead, and the newest
 * chunk of the one that far (its series loaded by then). */
#define PREFETCH_SERIES 8
#define PREFETCH_CHUNK  4

int km_tsdb_append_refs(struct km_tsdb *db, const struct km_ref_sample *s, size_t n,
                        enum km_sample_status *status, struct km_append_result *res)
{
    struct km_buf rec;
    size_t naccepted = 0;
    int64_t lo, hi;
    int rc = 0;

    memset(res, 0, sizeof(*res));
    if (!db->wal)
        return km_err_set(KM_EINVAL, "the database is open read-only");
    if (n == 0)
        return 0;
    km_tsdb_time_window(db, &lo, &hi);
    km_buf_init(&rec, KM_WAL_MAX_RECORD);
    km_walrec_samples_begin(&rec, s[0].t);
    km_head_read_begin(db->head);
    for (size_t i = 0; i < n; i++) {
        enum km_sample_status out = check_time(res, s[i].t, lo, hi);
        struct km_hseries *hs;
        enum km_append_status st;

        if (out != KM_SAMPLE_APPENDED) {
            if (status)
                status[i] = out;
            continue;
        }
        if (i + PREFETCH_SERIES < n)
            km_head_prefetch(db->head, s[i + PREFETCH_SERIES].ref, false);
        if (i + PREFETCH_CHUNK < n)
            km_head_prefetch(db->head, s[i + PREFETCH_CHUNK].ref, true);
        out = KM_SAMPLE_STALE_REF;
        hs = km_head_by_ref_locked(db->head, s[i].ref);
        if (hs) {
            st = km_head_append(db->head, hs, s[i].t, s[i].v, false);
            switch (st) {
            case KM_APPEND_OK:
                km_walrec_samples_add(&rec, s[i].ref, s[0].t, s[i].t, s[i].v);
                naccepted++;
                out = KM_SAMPLE_APPENDED;
                break;
            case KM_APPEND_DUPLICATE:
            case KM_APPEND_TOO_OLD:
            case KM_APPEND_CONFLICT:
                out = count_refusal(res, st);
                break;
            case KM_APPEND_REMOVED:
                break;
            case KM_APPEND_NOMEM:
                rc = km_err_set(KM_ENOMEM, "out of memory appending");
                break;
            }
        }
        if (out == KM_SAMPLE_STALE_REF)
            res->stale_refs++;
        if (status)
            status[i] = out;
        if (rc)
            break;
    }
    km_head_read_end(db->head);
    rc = finish_append(db, &rec, naccepted, res, rc);
    km_buf_fini(&rec);
    return rc;
}

/* ---- maintenance, stats ------------------------------------------------------------------- */

int km_tsdb_sync(struct km_tsdb *db)
{
    return db->wal ? km_wal_sync(db->wal) : 0;
}

int km_tsdb_maintain(struct km_tsdb *db)
{
    int64_t now = km_time_mono_ns();
    int rc = 0;

    if (!db->wal)
        return 0;
    pthread_mutex_lock(&db->maint_mu);
    if (db->o.fsync_interval_ms > 0 &&
        now - db->last_sync_ns >= db->o.fsync_interval_ms * 1000000) {
        rc = km_wal_sync(db->wal);
        db->last_sync_ns = now;
    }
    if (rc == 0)
        rc = km_tsdb_cut_due(db);
    if (rc == 0)
        rc = km_tsdb_compact(db);
    if (rc == 0)
        rc = km_tsdb_apply_retention(db);
    pthread_mutex_unlock(&db->maint_mu);
    return rc;
}

int km_tsdb_flush(struct km_tsdb *db)
{
    struct km_head_stats hs;
    int rc = 0;

    if (!db->wal)
        return km_err_set(KM_EINVAL, "the database is open read-only");
    pthread_mutex_lock(&db->maint_mu);
    km_head_stats(db->head, &hs);
    if (hs.samples > 0 && hs.times.maxt != INT64_MIN) {
        int64_t mint = hs.times.mint < hs.times.late_mint ? hs.times.mint : hs.times.late_mint;

        rc = km_tsdb_cut(db, mint, hs.times.maxt + 1);
    }
    if (rc == 0)
        rc = km_wal_sync(db->wal);
    pthread_mutex_unlock(&db->maint_mu);
    return rc;
}

void km_tsdb_stats(struct km_tsdb *db, struct km_tsdb_stats *out)
{
    struct km_head_stats hs;

    memset(out, 0, sizeof(*out));
    km_head_stats(db->head, &hs);
    out->series = hs.series;
    out->head_chunks = hs.chunks;
    out->head_samples = hs.samples;
    out->head_bytes = hs.bytes;
    out->head_mint = hs.times.mint < hs.times.late_mint ? hs.times.mint : hs.times.late_mint;
    out->head_maxt = hs.times.maxt;
    out->min_valid_time = hs.times.min_valid;
    out->head_late_samples = hs.times.late_samples;
    out->late_appended = hs.times.late_total;
    out->samples_appended = atomic_load(&db->appended);
    out->duplicates = atomic_load(&db->duplicates);
    out->rejected_too_old = atomic_load(&db->too_old);
    out->rejected_too_new = atomic_load(&db->too_new);
    out->rejected_out_of_retention = atomic_load(&db->out_of_retention);
    out->future_blocks = atomic_load(&db->future_blocks);
    out->rejected_conflicting = atomic_load(&db->conflicting);
    out->rejected_invalid = atomic_load(&db->invalid);
    out->series_created = atomic_load(&db->created);
    out->series_removed = atomic_load(&db->removed);
    out->compactions = atomic_load(&db->compactions);
    out->block_cuts = atomic_load(&db->cuts);
    out->retention_deletions = atomic_load(&db->retention_deletions);
    pthread_rwlock_rdlock(&db->blocks_lock);
    out->blocks = db->nblocks;
    for (size_t i = 0; i < db->nblocks; i++) {
        const struct km_block_meta *m = km_block_meta(db->blocks[i]);

        out->block_bytes += m->bytes;
        out->block_samples += m->samples;
        out->block_series += m->series;
    }
    pthread_rwlock_unlock(&db->blocks_lock);
    if (db->wal)
        km_wal_size(db->wal, &out->wal_bytes, &out->wal_segments);
}

/* kmon_tsdb_block_cache_*: how often queries found blocks' pages decompressed already. */
static void metrics_cache(struct km_tsdb *db, struct km_mset *m)
{
    struct km_seccache_stats cs;
    int f;

    km_seccache_stats(db->cache, &cs);
    f = km_mset_family(m, "kmon_tsdb_block_cache_requests_total",
                       "Block pages and chunk frames queries asked for, by whether they were "
                       "found decompressed in the cache.",
                       KM_MT_COUNTER, 0);
    km_mset_add(m, f, &(struct km_label){ "result", "hit" }, 1, (double)cs.hits);
    km_mset_add(m, f, &(struct km_label){ "result", "miss" }, 1, (double)cs.misses);
    km_mset_add(m,
                km_mset_family(m, "kmon_tsdb_block_cache_evictions_total",
                               "Cached pages dropped to make room (least recently used first).",
                               KM_MT_COUNTER, 0),
                NULL, 0, (double)cs.evictions);
    km_mset_gauge(m, "kmon_tsdb_block_cache_bytes", "Memory the block cache holds.",
                  (double)cs.bytes);
    km_mset_gauge(m, "kmon_tsdb_block_cache_max_bytes",
                  "The block cache's budget (--tsdb-cache-size).", (double)cs.max_bytes);
}

void km_tsdb_metrics(struct km_tsdb *db, struct km_mset *m)
{
    struct km_tsdb_stats st;
    int f;

    km_tsdb_stats(db, &st);
    metrics_cache(db, m);
    km_mset_gauge(m, "kmon_tsdb_head_series", "Series in the head (memory).", (double)st.series);
    km_mset_gauge(m, "kmon_tsdb_head_chunks", "Chunks in the head.", (double)st.head_chunks);
    km_mset_gauge(m, "kmon_tsdb_head_samples", "Samples in the head.", (double)st.head_samples);
    km_mset_gauge(m, "kmon_tsdb_head_late_samples",
                  "Samples in the head older than the last cut, waiting for a block of their "
                  "own.",
                  (double)st.head_late_samples);
    km_mset_gauge(m, "kmon_tsdb_head_bytes",
                  "Memory the head accounts for: chunks, series, labels and index.",
                  (double)st.head_bytes);
    if (st.head_maxt != INT64_MIN)
        km_mset_gauge(m, "kmon_tsdb_head_max_time_seconds", "Newest sample in the head.",
                      (double)st.head_maxt / 1000.0);
    km_mset_add(m,
                km_mset_family(m, "kmon_tsdb_samples_appended_total",
                               "Samples stored since the database was opened.", KM_MT_COUNTER, 0),
                NULL, 0, (double)st.samples_appended);
    km_mset_add(m,
                km_mset_family(m, "kmon_tsdb_samples_late_total",
                               "Samples stored behind a cut (a lagging sender or a backfill): "
                               "they reach blocks of their own, merged by compaction.",
                               KM_MT_COUNTER, 0),
                NULL, 0, (double)st.late_appended);
    km_mset_add(m,
                km_mset_family(m, "kmon_tsdb_samples_duplicate_total",
                               "Samples accepted as exact duplicates of stored ones (no-ops).",
                               KM_MT_COUNTER, 0),
                NULL, 0, (double)st.duplicates);
    f = km_mset_family(m, "kmon_tsdb_samples_rejected_total", "Samples refused, by reason.",
                       KM_MT_COUNTER, 0);
    km_mset_add(m, f, &(struct km_label){ "reason", "too_old" }, 1, (double)st.rejected_too_old);
    km_mset_add(m, f, &(struct km_label){ "reason", "too_new" }, 1, (double)st.rejected_too_new);
    km_mset_add(m, f, &(struct km_label){ "reason", "out_of_retention" }, 1,
                (double)st.rejected_out_of_retention);
    km_mset_add(m, f, &(struct km_label){ "reason", "conflicting" }, 1,
                (double)st.rejected_conflicting);
    km_mset_add(m, f, &(struct km_label){ "reason", "invalid" }, 1, (double)st.rejected_invalid);
    km_mset_add(m,
                km_mset_family(m, "kmon_tsdb_series_created_total", "Series created in the head.",
                               KM_MT_COUNTER, 0),
                NULL, 0, (double)st.series_created);
    km_mset_add(m,
                km_mset_family(m, "kmon_tsdb_series_removed_total",
                               "Series removed from the head once all their samples were in "
                               "blocks.",
                               KM_MT_COUNTER, 0),
                NULL, 0, (double)st.series_removed);
    km_mset_gauge(m, "kmon_tsdb_blocks", "Blocks on disk.", (double)st.blocks);
    km_mset_gauge(m, "kmon_tsdb_future_blocks",
                  "Blocks reaching beyond the future bound (taken by an older version): kept "
                  "and queried, setting no time bound.",
                  (double)st.future_blocks);
    km_mset_gauge(m, "kmon_tsdb_blocks_bytes", "Bytes of all blocks on disk.",
                  (double)st.block_bytes);
    f = km_mset_family(m, "kmon_tsdb_block_bytes", "Bytes on disk of each block.", KM_MT_GAUGE, 0);
    pthread_rwlock_rdlock(&db->blocks_lock);
    for (size_t i = 0; i < db->nblocks; i++) {
        const struct km_block_meta *bm = km_block_meta(db->blocks[i]);

        km_mset_add(m, f, &(struct km_label){ "block", bm->id }, 1, (double)bm->bytes);
    }
    pthread_rwlock_unlock(&db->blocks_lock);
    km_mset_gauge(m, "kmon_tsdb_wal_bytes", "Bytes of WAL segments on disk.", (double)st.wal_bytes);
    km_mset_gauge(m, "kmon_tsdb_wal_segments", "WAL segment files on disk.",
                  (double)st.wal_segments);
    km_mset_add(m,
                km_mset_family(m, "kmon_tsdb_wal_corruptions_total",
                               "WAL lanes whose replay stopped at corruption at the last open.",
                               KM_MT_COUNTER, 0),
                NULL, 0, (double)atomic_load(&db->wal_corruptions));
    km_mset_add(m,
                km_mset_family(m, "kmon_tsdb_block_cuts_total", "Blocks cut from the head.",
                               KM_MT_COUNTER, 0),
                NULL, 0, (double)st.block_cuts);
    km_mset_add(m,
                km_mset_family(m, "kmon_tsdb_compactions_total",
                               "Blocks written by compacting others.", KM_MT_COUNTER, 0),
                NULL, 0, (double)st.compactions);
    km_mset_add(m,
                km_mset_family(m, "kmon_tsdb_retention_deletions_total",
                               "Blocks deleted by the retention time or size cap.", KM_MT_COUNTER,
                               0),
                NULL, 0, (double)st.retention_deletions);
}
