/*
 * snapshot — a consistent copy of a running database (km_tsdb_snapshot): every block's
 * immutable files hard-linked (copied where links cannot be made) and the head written
 * as one more block, into a new directory that opens as a database of its own.
 *
 * Consistency: the copy is taken under maint_mu, so no cut, compaction or retention runs
 * meanwhile: the block list cannot change, no block is deleted while it is linked, and
 * the head loses no sample to a cut before it is written. Each block is also pinned (one
 * reference, as a query takes). Appends go on: a sample appended during the copy may or
 * may not be in it, one acknowledged before it began is.
 */
#include "snapshot.h"
#include "data_version.h"
#include "db.h"
#include "tsdb_internal.h"

#include "common/err.h"
#include "common/fsutil.h"
#include "common/limits.h"
#include "common/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The files of a block directory (block_write.c writes them, nothing changes them). */
static const char *const block_files[] = { "chunks", "index", "meta.json" };

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

    if (fd < 0)
        return km_err_set_errno(KM_EIO, errno, "cannot open %s", dir);
    if (fsync(fd) != 0)
        rc = km_err_set_errno(KM_EIO, errno, "fsync %s", dir);
    close(fd);
    return rc;
}

/* Copy a file byte for byte, fsynced: for when `from` and `to` are on different file
 * systems. */
static int copy_file(const char *from, const char *to, uint64_t *bytes)
{
    char buf[65536];
    int in = open(from, O_RDONLY | O_CLOEXEC), out, rc = 0;
    ssize_t n;

    if (in < 0)
        return km_err_set_errno(KM_EIO, errno, "cannot open %s", from);
    out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0) {
        rc = km_err_set_errno(KM_EIO, errno, "cannot create %s", to);
        goto out_close_in;
    }
    while (rc == 0 && (n = read(in, buf, sizeof(buf))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || write(out, buf, (size_t)n) != n)
            rc = km_err_set_errno(KM_EIO, errno, "cannot copy %s to %s", from, to);
        else
            *bytes += (uint64_t)n;
    }
    if (rc == 0 && fsync(out) != 0)
        rc = km_err_set_errno(KM_EIO, errno, "fsync %s", to);
    if (close(out) != 0 && rc == 0)
        rc = km_err_set_errno(KM_EIO, errno, "cannot close %s", to);
out_close_in:
    close(in);
    return rc;
}

/* A hard link to `from` (a file never changed in place) at `to`, or a copy where links
 * cannot be made (*copied is then set). */
static int link_or_copy(const char *from, const char *to, bool *copied)
{
    if (link(from, to) == 0)
        return 0;
    if (errno != EXDEV && errno != EPERM && errno != EMLINK)
        return km_err_set_errno(KM_EIO, errno, "cannot link %s to %s", from, to);
    uint64_t bytes = 0;

    *copied = true;
    return copy_file(from, to, &bytes);
}

/* blocks/<id> of the database into out_blocks/<id>, through <id>.tmp as a cut does. */
static int link_block(const struct km_block *b, const char *out_blocks, bool *copied)
{
    const char *id = km_block_meta(b)->id;
    char tmp[PATH_MAX + 64], dst[PATH_MAX + 64];
    int rc = 0;

    snprintf(tmp, sizeof(tmp), "%s/%s.tmp", out_blocks, id);
    snprintf(dst, sizeof(dst), "%s/%s", out_blocks, id);
    if (mkdir(tmp, 0750) != 0)
        return km_err_set_errno(KM_EIO, errno, "cannot create %s", tmp);
    for (size_t i = 0; i < sizeof(block_files) / sizeof(block_files[0]) && rc == 0; i++) {
        char from[PATH_MAX + 16], to[PATH_MAX + 96];

        snprintf(from, sizeof(from), "%s/%s", km_block_dir(b), block_files[i]);
        snprintf(to, sizeof(to), "%s/%s", tmp, block_files[i]);
        rc = link_or_copy(from, to, copied);
    }
    if (rc == 0)
        rc = fsync_dir(tmp);
    if (rc == 0 && rename(tmp, dst) != 0)
        rc = km_err_set_errno(KM_EIO, errno, "cannot rename %s into place", tmp);
    return rc;
}

/* The head, every sample of every series, as one block in out_blocks. */
static int write_head(struct km_tsdb *db, const char *out_blocks, struct km_tsdb_snapshot_stats *st)
{
    struct km_block_writer *w;
    struct km_hseries **v;
    struct km_samples smp = { 0 };
    struct km_head_times ht;
    char id[41];
    size_t n;
    int rc;

    km_head_times(db->head, &ht);
    if (ht.maxt == INT64_MIN || (ht.mint == INT64_MAX && ht.late_mint == INT64_MAX))
        return 0; /* empty */
    rc = km_head_all_sorted(db->head, &v, &n);
    if (rc)
        return rc;
    rc = km_block_writer_begin(&w, out_blocks, ht.mint < ht.late_mint ? ht.mint : ht.late_mint,
                               ht.maxt, 1, NULL);
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct km_label l[KM_LIMIT_LABELS_PER_SERIES];
        size_t nl;

        rc = km_head_series_samples(db->head, v[i], INT64_MIN, INT64_MAX, &smp);
        if (rc == 0 && smp.n) {
            km_head_series_label_view(db->head, v[i], l, &nl);
            rc = km_block_writer_add(w, l, nl, smp.t, smp.v, smp.n);
            st->head_series++;
            st->head_samples += smp.n;
        }
    }
    for (size_t i = 0; i < n; i++)
        km_head_series_put(db->head, v[i]);
    free(v);
    km_samples_fini(&smp);
    if (rc) {
        km_block_writer_abort(w);
        return km_err_wrap(rc, "writing the head");
    }
    rc = km_block_writer_commit(w, id);
    if (rc == KM_ENOTFOUND)
        return 0;
    return rc ? km_err_wrap(rc, "writing the head") : 0;
}

/* `out` as a new, empty directory (created with its parents when missing). */
static int make_empty_dir(const char *out)
{
    DIR *d;
    struct dirent *de;
    bool empty = true;
    int rc = km_mkdir_p(out, 0750);

    if (rc)
        return rc;
    d = opendir(out);
    if (!d)
        return km_err_set_errno(KM_EIO, errno, "cannot open %s", out);
    while (empty && (de = readdir(d)) != NULL)
        empty = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
    closedir(d);
    if (!empty)
        return km_err_set(KM_EEXIST, "%s is not empty: give a new directory for the snapshot", out);
    return 0;
}

int km_tsdb_snapshot(struct km_tsdb *db, const char *out, bool skip_head,
                     struct km_tsdb_snapshot_stats *st)
{
    struct km_block **pinned = NULL;
    char out_blocks[PATH_MAX];
    size_t npinned = 0;
    bool copied = false;
    int rc;

    memset(st, 0, sizeof(*st));
    if (!db->wal)
        return km_err_set(KM_EINVAL, "the database is open read-only");
    if ((size_t)snprintf(out_blocks, sizeof(out_blocks), "%s/blocks", out) >= sizeof(out_blocks))
        return km_err_set(KM_EINVAL, "path too long: %s", out);
    rc = make_empty_dir(out);
    if (rc == 0 && mkdir(out_blocks, 0750) != 0)
        rc = km_err_set_errno(KM_EIO, errno, "cannot create %s", out_blocks);
    if (rc)
        return km_err_wrap(rc, "snapshot");
    pthread_mutex_lock(&db->maint_mu);
    pthread_rwlock_rdlock(&db->blocks_lock);
    pinned = malloc((db->nblocks ? db->nblocks : 1) * sizeof(*pinned));
    for (size_t i = 0; pinned && i < db->nblocks; i++) {
        km_block_acquire(db->blocks[i]);
        pinned[npinned++] = db->blocks[i];
    }
    pthread_rwlock_unlock(&db->blocks_lock);
    if (!pinned)
        rc = km_err_set(KM_ENOMEM, "out of memory");
    for (size_t i = 0; i < npinned && rc == 0; i++) {
        rc = link_block(pinned[i], out_blocks, &copied);
        st->blocks += rc == 0;
    }
    if (rc == 0 && !skip_head)
        rc = write_head(db, out_blocks, st);
    pthread_mutex_unlock(&db->maint_mu);
    if (rc == 0) {
        /* The metric metadata as last saved (the file is replaced by rename, never
         * changed in place). */
        char from[PATH_MAX + 16], to[PATH_MAX + 16];

        snprintf(from, sizeof(from), "%s/metadata", db->dir);
        snprintf(to, sizeof(to), "%s/metadata", out);
        if (access(from, F_OK) == 0)
            rc = link_or_copy(from, to, &copied);
    }
    for (size_t i = 0; i < npinned; i++)
        km_block_release(pinned[i]);
    free(pinned);
    if (rc == 0)
        rc = fsync_dir(out_blocks);
    if (rc == 0)
        rc = km_data_version_write(out);
    if (rc)
        return km_err_wrap(rc, "snapshot into %s (delete what it left there)", out);
    st->copied = copied;
    km_log_info(KM_TSDB_LOG,
                "snapshot in %s: %llu blocks %s, the head as a block (%llu series, %llu samples)",
                out, (unsigned long long)st->blocks, copied ? "copied" : "linked",
                (unsigned long long)st->head_series, (unsigned long long)st->head_samples);
    return 0;
}

int km_snapshot_copy_tree(const char *from, const char *to, uint64_t *bytes)
{
    DIR *d;
    struct dirent *de;
    uint64_t total = 0;
    int rc = 0;

    if (mkdir(to, 0750) != 0)
        return km_err_set_errno(KM_EIO, errno, "cannot create %s", to);
    d = opendir(from);
    if (!d)
        return km_err_set_errno(KM_EIO, errno, "cannot open %s", from);
    while (rc == 0 && (de = readdir(d)) != NULL) {
        char src[PATH_MAX], dst[PATH_MAX];
        size_t l = strlen(de->d_name);
        struct stat sb;
        uint64_t sub = 0;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            strcmp(de->d_name, "lock") == 0 || (l > 4 && strcmp(de->d_name + l - 4, ".tmp") == 0))
            continue;
        if ((size_t)snprintf(src, sizeof(src), "%s/%s", from, de->d_name) >= sizeof(src) ||
            (size_t)snprintf(dst, sizeof(dst), "%s/%s", to, de->d_name) >= sizeof(dst)) {
            rc = km_err_set(KM_EINVAL, "path too long under %s", from);
            break;
        }
        if (lstat(src, &sb) != 0)
            rc = km_err_set_errno(KM_EIO, errno, "cannot read %s", src);
        else if (S_ISDIR(sb.st_mode))
            rc = km_snapshot_copy_tree(src, dst, &sub);
        else if (S_ISREG(sb.st_mode))
            rc = copy_file(src, dst, &sub);
        total += sub;
    }
    closedir(d);
    if (rc == 0)
        rc = fsync_dir(to);
    if (bytes)
        *bytes = total;
    return rc;
}
