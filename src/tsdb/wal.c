/*
 * wal — write-ahead log segments, lanes, replay and checkpoints (see wal.h, FORMAT.md).
 */
#include "wal.h"
#include "common/array.h"

#include "bits.h"
#include "common/err.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "tsdb_internal.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define SEG_MAGIC  "KMW1"
#define SEG_HEADER 12
#define REC_HEADER 9

struct lane {
    pthread_mutex_t mu;
    unsigned id;
    int fd;        /* current segment, -1 when none is open */
    uint32_t seq;  /* its sequence number */
    uint64_t size; /* its bytes */
    bool dirty;    /* written since the last fsync */
};

struct km_wal {
    char *dir;
    struct km_wal_opts o;
    unsigned nlanes;
    struct lane *lanes;
    atomic_uint next_seq;
    atomic_uint next_lane;
    atomic_uint_fast64_t bytes;    /* bytes on disk in segments (approximate) */
    atomic_uint_fast64_t segments; /* segment files on disk */
};

static uint32_t checksum(uint8_t type, const void *payload, size_t len)
{
    XXH3_state_t st;

    XXH3_64bits_reset(&st);
    XXH3_64bits_update(&st, &type, 1);
    XXH3_64bits_update(&st, payload, len);
    return (uint32_t)XXH3_64bits_digest(&st);
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;

    if (fd < 0)
        return km_err_set_errno(KM_EIO, errno, "opening %s", dir);
    if (fsync(fd) != 0)
        rc = km_err_set_errno(KM_EIO, errno, "fsync %s", dir);
    close(fd);
    return rc;
}

/* write(2) all of it, retrying short writes. */
static int write_all(int fd, const struct iovec *iov, int n, size_t total)
{
    struct iovec v[4];
    size_t done = 0;

    memcpy(v, iov, (size_t)n * sizeof(*v));
    while (done < total) {
        ssize_t w = writev(fd, v, n);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        done += (size_t)w;
        /* Advance the vectors past what was written. */
        while (n > 0 && (size_t)w >= v[0].iov_len) {
            w -= (ssize_t)v[0].iov_len;
            memmove(v, v + 1, (size_t)(n - 1) * sizeof(*v));
            n--;
        }
        if (n > 0) {
            v[0].iov_base = (char *)v[0].iov_base + w;
            v[0].iov_len -= (size_t)w;
        }
    }
    return 0;
}

static void seg_path(char *out, size_t size, const char *dir, uint32_t seq)
{
    snprintf(out, size, "%s/%08u", dir, seq);
}

/* Create segment seq for a lane (the file is new: O_EXCL). */
static int seg_create(const char *dir, uint32_t seq, unsigned lane, int *fd_out)
{
    char path[PATH_MAX];
    uint8_t hdr[SEG_HEADER];
    struct iovec iov = { hdr, sizeof(hdr) };
    int fd, rc;

    seg_path(path, sizeof(path), dir, seq);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return km_err_set_errno(KM_EIO, errno, "creating WAL segment %s", path);
    memcpy(hdr, SEG_MAGIC, 4);
    km_le32(hdr + 4, 1);
    km_le32(hdr + 8, lane);
    rc = write_all(fd, &iov, 1, sizeof(hdr));
    if (rc) {
        close(fd);
        unlink(path);
        return km_err_set_errno(KM_EIO, -rc, "writing WAL segment %s", path);
    }
    *fd_out = fd;
    return 0;
}

/* Under the lane lock: close the current segment (fsyncing it) and open the next. */
static int lane_roll(struct km_wal *w, struct lane *l)
{
    uint32_t seq = atomic_fetch_add(&w->next_seq, 1);
    int fd, rc;

    rc = seg_create(w->dir, seq, l->id, &fd);
    if (rc)
        return rc;
    if (l->fd >= 0) {
        if (l->dirty && fsync(l->fd) != 0)
            km_log_warn(KM_TSDB_LOG, "fsync of WAL segment %08u failed: %s", l->seq,
                        strerror(errno));
        close(l->fd);
    }
    l->fd = fd;
    l->seq = seq;
    l->size = SEG_HEADER;
    l->dirty = true; /* the header */
    atomic_fetch_add(&w->segments, 1);
    atomic_fetch_add(&w->bytes, SEG_HEADER);
    return 0;
}

int km_wal_open(struct km_wal **out, const struct km_wal_opts *o, uint32_t first_seq)
{
    struct km_wal *w = calloc(1, sizeof(*w));
    int rc = 0;

    if (!w)
        return km_err_set(KM_ENOMEM, "out of memory");
    w->o = *o;
    w->dir = strdup(o->dir);
    w->nlanes = o->lanes ? o->lanes : 1;
    w->lanes = calloc(w->nlanes, sizeof(*w->lanes));
    if (!w->dir || !w->lanes) {
        rc = km_err_set(KM_ENOMEM, "out of memory");
        goto out_free;
    }
    if (mkdir(w->dir, 0755) != 0 && errno != EEXIST) {
        rc = km_err_set_errno(KM_EIO, errno, "creating %s", w->dir);
        goto out_free;
    }
    atomic_init(&w->next_seq, first_seq ? first_seq : 1);
    for (unsigned i = 0; i < w->nlanes; i++) {
        pthread_mutex_init(&w->lanes[i].mu, NULL);
        w->lanes[i].id = i;
        w->lanes[i].fd = -1;
    }
    /* Count what replay left on disk, for the size figures. */
    {
        DIR *d = opendir(w->dir);
        struct dirent *de;

        while (d && (de = readdir(d)) != NULL) {
            struct stat stt;
            char path[PATH_MAX];

            if (strlen(de->d_name) != 8 || strspn(de->d_name, "0123456789") != 8)
                continue;
            snprintf(path, sizeof(path), "%s/%s", w->dir, de->d_name);
            if (stat(path, &stt) == 0) {
                atomic_fetch_add(&w->segments, 1);
                atomic_fetch_add(&w->bytes, (uint64_t)stt.st_size);
            }
        }
        if (d)
            closedir(d);
    }
    *out = w;
    return 0;

out_free:
    free(w->lanes);
    free(w->dir);
    free(w);
    return rc;
}

void km_wal_close(struct km_wal *w)
{
    if (!w)
        return;
    for (unsigned i = 0; i < w->nlanes; i++) {
        struct lane *l = &w->lanes[i];

        if (l->fd >= 0) {
            if (l->dirty)
                fsync(l->fd);
            close(l->fd);
        }
        pthread_mutex_destroy(&l->mu);
    }
    free(w->lanes);
    free(w->dir);
    free(w);
}

static struct lane *my_lane(struct km_wal *w)
{
    static _Thread_local unsigned lane_plus1;

    if (!lane_plus1)
        lane_plus1 = atomic_fetch_add(&w->next_lane, 1) + 1;
    return &w->lanes[(lane_plus1 - 1) % w->nlanes];
}

int km_wal_log(struct km_wal *w, uint8_t type, const void *payload, size_t len)
{
    struct lane *l = my_lane(w);
    uint8_t hdr[REC_HEADER];
    struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *)(uintptr_t)payload, len } };
    int rc = 0;

    if (len > KM_WAL_MAX_RECORD)
        return km_err_set(KM_ELIMIT, "WAL record of %zu bytes is too large", len);
    km_le32(hdr, (uint32_t)len);
    km_le32(hdr + 4, checksum(type, payload, len));
    hdr[8] = type;
    pthread_mutex_lock(&l->mu);
    if (l->fd < 0 || (l->size + REC_HEADER + len > w->o.segment_bytes && l->size > SEG_HEADER)) {
        rc = lane_roll(w, l);
        if (rc)
            goto out_unlock;
    }
    rc = write_all(l->fd, iov, 2, REC_HEADER + len);
    if (rc) {
        int e = -rc;

        /* Leave no partial record behind: the next write starts clean. */
        if (ftruncate(l->fd, (off_t)l->size) != 0)
            km_log_error(KM_TSDB_LOG, "cannot cut a partial WAL record: %s", strerror(errno));
        rc = km_err_set_errno(KM_EIO, e, "writing the WAL");
        goto out_unlock;
    }
    l->size += REC_HEADER + len;
    l->dirty = true;
    atomic_fetch_add(&w->bytes, REC_HEADER + len);
    if (w->o.fsync_each) {
        if (fsync(l->fd) != 0)
            rc = km_err_set_errno(KM_EIO, errno, "fsync of the WAL");
        else
            l->dirty = false;
    }
out_unlock:
    pthread_mutex_unlock(&l->mu);
    return rc;
}

int km_wal_sync(struct km_wal *w)
{
    int rc = 0;

    for (unsigned i = 0; i < w->nlanes; i++) {
        struct lane *l = &w->lanes[i];
        int fd = -1;

        /* fsync a duplicate descriptor outside the lock, so appends to the lane go on. */
        pthread_mutex_lock(&l->mu);
        if (l->fd >= 0 && l->dirty) {
            fd = dup(l->fd);
            l->dirty = false;
        }
        pthread_mutex_unlock(&l->mu);
        if (fd >= 0) {
            if (fsync(fd) != 0 && rc == 0)
                rc = km_err_set_errno(KM_EIO, errno, "fsync of the WAL");
            close(fd);
        }
    }
    return rc;
}

int km_wal_roll(struct km_wal *w, uint32_t *first_new)
{
    uint32_t first = UINT32_MAX;

    for (unsigned i = 0; i < w->nlanes; i++) {
        struct lane *l = &w->lanes[i];
        int rc;

        pthread_mutex_lock(&l->mu);
        rc = lane_roll(w, l);
        if (rc == 0 && l->seq < first)
            first = l->seq;
        pthread_mutex_unlock(&l->mu);
        if (rc)
            return rc;
    }
    *first_new = first;
    return 0;
}

void km_wal_size(struct km_wal *w, uint64_t *bytes, uint64_t *segments)
{
    *bytes = atomic_load(&w->bytes);
    *segments = atomic_load(&w->segments);
}

/* ---- checkpoints ---------------------------------------------------------------------- */

struct km_wal_ckpt {
    struct km_wal *w;
    uint32_t n;
    char tmp[PATH_MAX], final[PATH_MAX];
    int fd;
    uint32_t seq;
    uint64_t size;
};

int km_wal_ckpt_begin(struct km_wal *w, uint32_t n, struct km_wal_ckpt **out)
{
    struct km_wal_ckpt *c = calloc(1, sizeof(*c));
    char cmd[PATH_MAX];
    int rc;

    if (!c)
        return km_err_set(KM_ENOMEM, "out of memory");
    c->w = w;
    c->n = n;
    c->fd = -1;
    snprintf(c->tmp, sizeof(c->tmp), "%s/checkpoint.%08u.tmp", w->dir, n);
    snprintf(c->final, sizeof(c->final), "%s/checkpoint.%08u", w->dir, n);
    (void)cmd;
    if (mkdir(c->tmp, 0755) != 0 && errno != EEXIST) {
        rc = km_err_set_errno(KM_EIO, errno, "creating %s", c->tmp);
        free(c);
        return rc;
    }
    c->seq = 1;
    rc = seg_create(c->tmp, c->seq, 0, &c->fd);
    if (rc) {
        km_wal_ckpt_abort(c);
        return rc;
    }
    c->size = SEG_HEADER;
    *out = c;
    return 0;
}

int km_wal_ckpt_log(struct km_wal_ckpt *c, uint8_t type, const void *payload, size_t len)
{
    uint8_t hdr[REC_HEADER];
    struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *)(uintptr_t)payload, len } };
    int rc;

    if (len > KM_WAL_MAX_RECORD)
        return km_err_set(KM_ELIMIT, "checkpoint record of %zu bytes is too large", len);
    if (c->size + REC_HEADER + len > c->w->o.segment_bytes && c->size > SEG_HEADER) {
        if (fsync(c->fd) != 0)
            return km_err_set_errno(KM_EIO, errno, "fsync of a checkpoint segment");
        close(c->fd);
        c->fd = -1;
        rc = seg_create(c->tmp, ++c->seq, 0, &c->fd);
        if (rc)
            return rc;
        c->size = SEG_HEADER;
    }
    km_le32(hdr, (uint32_t)len);
    km_le32(hdr + 4, checksum(type, payload, len));
    hdr[8] = type;
    rc = write_all(c->fd, iov, 2, REC_HEADER + len);
    if (rc)
        return km_err_set_errno(KM_EIO, -rc, "writing checkpoint %s", c->tmp);
    c->size += REC_HEADER + len;
    return 0;
}

static void remove_dir(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;

    /* unlinkat() by name: no joined path that could be truncated into another file's. */
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        unlinkat(dirfd(d), de->d_name, 0);
    }
    if (d)
        closedir(d);
    rmdir(path);
}

int km_wal_ckpt_commit(struct km_wal_ckpt *c)
{
    struct km_wal *w = c->w;
    DIR *d;
    struct dirent *de;
    int rc;

    if (fsync(c->fd) != 0) {
        rc = km_err_set_errno(KM_EIO, errno, "fsync of checkpoint %s", c->tmp);
        km_wal_ckpt_abort(c);
        return rc;
    }
    close(c->fd);
    c->fd = -1;
    rc = fsync_dir(c->tmp);
    if (rc == 0 && rename(c->tmp, c->final) != 0)
        rc = km_err_set_errno(KM_EIO, errno, "renaming %s", c->tmp);
    if (rc == 0)
        rc = fsync_dir(w->dir);
    if (rc) {
        km_wal_ckpt_abort(c);
        return rc;
    }
    /* The checkpoint now stands for every segment below n: delete them, and older
     * checkpoints. */
    d = opendir(w->dir);
    while (d && (de = readdir(d)) != NULL) {
        char path[PATH_MAX];
        unsigned long seq;
        struct stat st;

        snprintf(path, sizeof(path), "%s/%s", w->dir, de->d_name);
        if (strlen(de->d_name) == 8 && strspn(de->d_name, "0123456789") == 8) {
            seq = strtoul(de->d_name, NULL, 10);
            if (seq < c->n && stat(path, &st) == 0 && unlink(path) == 0) {
                atomic_fetch_sub(&w->segments, 1);
                atomic_fetch_sub(&w->bytes, (uint64_t)st.st_size);
            }
        } else if (strncmp(de->d_name, "checkpoint.", 11) == 0 && strcmp(path, c->final) != 0) {
            remove_dir(path);
        }
    }
    if (d)
        closedir(d);
    free(c);
    return 0;
}

void km_wal_ckpt_abort(struct km_wal_ckpt *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    remove_dir(c->tmp);
    free(c);
}

/* ---- replay ------------------------------------------------------------------------ */

struct seg {
    uint32_t seq;
    unsigned lane; /* UINT_MAX for checkpoint segments */
    char path[PATH_MAX];
    uint8_t *map; /* whole file, read-only */
    size_t size;  /* file size */
    size_t valid; /* bytes from the start that hold good records */
    bool skip;    /* quarantined or obsolete */
};

struct replay {
    const char *dir;
    bool ro;
    struct seg *segs;
    size_t nsegs, cap;
    struct km_wal_replay_stats *st;
};

static int add_seg(struct replay *r, const char *path, uint32_t seq, bool checkpoint)
{
    struct seg *s;
    struct stat stt;
    int fd;

    if (r->nsegs == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 16;
        struct seg *p = realloc(r->segs, ncap * sizeof(*p));

        if (!p)
            return km_err_set(KM_ENOMEM, "out of memory");
        r->segs = p;
        r->cap = ncap;
    }
    s = &r->segs[r->nsegs];
    memset(s, 0, sizeof(*s));
    s->seq = seq;
    s->lane = checkpoint ? UINT_MAX : 0;
    if (strlen(path) >= sizeof(s->path))
        return km_err_set(KM_ELIMIT, "path too long: %s", path);
    memcpy(s->path, path, strlen(path) + 1);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &stt) != 0) {
        int e = errno;

        if (fd >= 0)
            close(fd);
        return km_err_set_errno(KM_EIO, e, "opening WAL segment %s", path);
    }
    s->size = (size_t)stt.st_size;
    if (s->size) {
        s->map = mmap(NULL, s->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (s->map == MAP_FAILED) {
            int e = errno;

            close(fd);
            s->map = NULL;
            return km_err_set_errno(KM_EIO, e, "mapping WAL segment %s", path);
        }
    }
    close(fd);
    r->nsegs++;
    return 0;
}

static int cmp_seg(const void *a, const void *b)
{
    const struct seg *x = a, *y = b;

    /* Checkpoint segments first, then by sequence. */
    if ((x->lane == UINT_MAX) != (y->lane == UINT_MAX))
        return x->lane == UINT_MAX ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Cut a segment to `len` bytes on disk (not in read-only mode). */
static void cut(struct replay *r, struct seg *s, size_t len, const char *why)
{
    km_log_warn(KM_TSDB_LOG, "WAL segment %s: %s at byte %zu of %zu; %s", s->path, why, len,
                s->size, r->ro ? "left as is (read-only)" : "cut there");
    if (!r->ro && truncate(s->path, (off_t)len) != 0)
        km_log_error(KM_TSDB_LOG, "cannot truncate %s: %s", s->path, strerror(errno));
    s->valid = len;
}

/* Validate a segment's records. Returns true if it ended cleanly (or with a torn tail
 * that was cut), false on corruption. `last` says whether it is its lane's last. */
static bool scan_seg(struct replay *r, struct seg *s, bool last)
{
    size_t off = SEG_HEADER;

    while (off < s->size) {
        size_t left = s->size - off;
        uint32_t len, sum;

        if (left < REC_HEADER) {
            if (last) {
                r->st->torn_tails++;
                cut(r, s, off, "a record cut short (torn tail)");
                return true;
            }
            break;
        }
        len = km_get_le32(s->map + off);
        sum = km_get_le32(s->map + off + 4);
        if (len > KM_WAL_MAX_RECORD || len > left - REC_HEADER) {
            if (last && len <= KM_WAL_MAX_RECORD) {
                r->st->torn_tails++;
                cut(r, s, off, "a record cut short (torn tail)");
                return true;
            }
            break;
        }
        if (checksum(s->map[off + 8], s->map + off + REC_HEADER, len) != sum) {
            if (last && off + REC_HEADER + len == s->size) {
                r->st->torn_tails++;
                cut(r, s, off, "the last record fails its checksum (torn tail)");
                return true;
            }
            break;
        }
        off += REC_HEADER + len;
    }
    if (off >= s->size) {
        s->valid = s->size;
        return true;
    }
    r->st->corruptions++;
    km_log_error(KM_TSDB_LOG,
                 "WAL segment %s is CORRUPT at byte %zu of %zu: replay of its lane stops "
                 "there; the samples after it are lost",
                 s->path, off, s->size);
    cut(r, s, off, "corruption");
    return false;
}

/* Move a segment aside so it is never replayed or overwritten. */
static void quarantine(struct replay *r, struct seg *s)
{
    char to[PATH_MAX + 16];

    s->skip = true;
    if (r->ro)
        return;
    snprintf(to, sizeof(to), "%s.corrupt", s->path);
    if (rename(s->path, to) != 0)
        km_log_error(KM_TSDB_LOG, "cannot rename %s: %s", s->path, strerror(errno));
    else
        km_log_error(KM_TSDB_LOG, "WAL segment %s moved aside as %s", s->path, to);
}

static int list_dir(struct replay *r, uint32_t *ckpt)
{
    DIR *d = opendir(r->dir);
    struct dirent *de;
    int rc = 0;

    *ckpt = 0;
    if (!d)
        return errno == ENOENT ? 0 : km_err_set_errno(KM_EIO, errno, "opening %s", r->dir);
    /* The newest complete checkpoint; leftovers of unfinished ones go. */
    while ((de = readdir(d)) != NULL) {
        char path[PATH_MAX];
        size_t l = strlen(de->d_name);

        if (strncmp(de->d_name, "checkpoint.", 11) != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", r->dir, de->d_name);
        if (l > 4 && strcmp(de->d_name + l - 4, ".tmp") == 0) {
            if (!r->ro)
                remove_dir(path);
            continue;
        }
        if (strtoul(de->d_name + 11, NULL, 10) > *ckpt)
            *ckpt = (uint32_t)strtoul(de->d_name + 11, NULL, 10);
    }
    rewinddir(d);
    while (rc == 0 && (de = readdir(d)) != NULL) {
        char path[PATH_MAX];
        uint32_t seq;

        if (strlen(de->d_name) != 8 || strspn(de->d_name, "0123456789") != 8)
            continue;
        seq = (uint32_t)strtoul(de->d_name, NULL, 10);
        snprintf(path, sizeof(path), "%s/%s", r->dir, de->d_name);
        if (seq >= r->st->next_seq)
            r->st->next_seq = seq + 1;
        if (seq < *ckpt) {
            /* Covered by the checkpoint (a crash before they were deleted). */
            if (!r->ro)
                unlink(path);
            continue;
        }
        rc = add_seg(r, path, seq, false);
    }
    closedir(d);
    if (rc == 0 && *ckpt) {
        char cdir[PATH_MAX];

        snprintf(cdir, sizeof(cdir), "%s/checkpoint.%08u", r->dir, *ckpt);
        d = opendir(cdir);
        while (rc == 0 && d && (de = readdir(d)) != NULL) {
            char path[PATH_MAX + 32];

            if (strlen(de->d_name) != 8 || strspn(de->d_name, "0123456789") != 8)
                continue;
            snprintf(path, sizeof(path), "%s/%.8s", cdir, de->d_name); /* 8 digits: fits */
            rc = add_seg(r, path, (uint32_t)strtoul(de->d_name, NULL, 10), true);
        }
        if (d)
            closedir(d);
        if (*ckpt >= r->st->next_seq)
            r->st->next_seq = *ckpt + 1;
    }
    return rc;
}

/* Read headers, group by lane, validate each lane in order. */
static void validate(struct replay *r)
{
    for (size_t i = 0; i < r->nsegs; i++) {
        struct seg *s = &r->segs[i];

        if (s->size < SEG_HEADER || memcmp(s->map, SEG_MAGIC, 4) != 0 ||
            km_get_le32(s->map + 4) != 1) {
            if (s->size < SEG_HEADER) {
                /* Created, then a crash before its header was written: nothing in it. */
                s->skip = true;
                if (!r->ro && s->lane != UINT_MAX)
                    unlink(s->path);
                continue;
            }
            km_log_error(KM_TSDB_LOG, "WAL segment %s has a bad header", s->path);
            r->st->corruptions++;
            quarantine(r, s);
            continue;
        }
        if (s->lane != UINT_MAX)
            s->lane = km_get_le32(s->map + 8);
    }
    if (r->nsegs > 1)
        km_sort(r->segs, r->nsegs, sizeof(*r->segs), cmp_seg);
    for (size_t i = 0; i < r->nsegs; i++) {
        struct seg *s = &r->segs[i];
        bool last = true, ok;

        if (s->skip)
            continue;
        for (size_t k = i + 1; k < r->nsegs; k++) {
            if (!r->segs[k].skip && r->segs[k].lane == s->lane)
                last = false;
        }
        ok = scan_seg(r, s, last);
        if (!ok) {
            /* Replay of this lane stops here: its later segments go aside. */
            for (size_t k = i + 1; k < r->nsegs; k++) {
                if (!r->segs[k].skip && r->segs[k].lane == s->lane)
                    quarantine(r, &r->segs[k]);
            }
        }
    }
}

static int run_pass(struct replay *r, uint8_t type, km_wal_record_fn fn, void *ud, uint64_t total,
                    uint64_t *done, int64_t *last_log)
{
    for (size_t i = 0; i < r->nsegs; i++) {
        struct seg *s = &r->segs[i];
        size_t off = SEG_HEADER;

        if (s->skip)
            continue;
        while (off + REC_HEADER <= s->valid) {
            uint32_t len = km_get_le32(s->map + off);
            uint8_t t = s->map[off + 8];
            int rc;

            if (t == type) {
                rc = fn(ud, t, s->map + off + REC_HEADER, len);
                if (rc)
                    return rc;
                r->st->records++;
            }
            off += REC_HEADER + len;
        }
        *done += s->valid;
        if (km_time_mono_ns() - *last_log > 2000000000LL) {
            *last_log = km_time_mono_ns();
            km_log_info(KM_TSDB_LOG, "WAL replay: %s %.0f%%",
                        type == KM_WAL_SERIES ? "series" : "samples",
                        total ? 100.0 * (double)*done / (double)total : 100.0);
        }
    }
    return 0;
}

int km_wal_replay(const char *dir, bool read_only, km_wal_record_fn fn, void *ud,
                  struct km_wal_replay_stats *st)
{
    struct replay r = { .dir = dir, .ro = read_only, .st = st };
    uint64_t total = 0, done = 0;
    int64_t last_log = km_time_mono_ns(), t0 = last_log;
    uint32_t ckpt;
    int rc;

    memset(st, 0, sizeof(*st));
    st->next_seq = 1;
    rc = list_dir(&r, &ckpt);
    if (rc)
        goto out_unmap;
    st->checkpoint = ckpt;
    validate(&r);
    for (size_t i = 0; i < r.nsegs; i++) {
        if (!r.segs[i].skip) {
            total += r.segs[i].valid;
            st->segments++;
        }
    }
    st->bytes = total;
    if (total > 64u * 1024 * 1024)
        km_log_info(KM_TSDB_LOG, "replaying the WAL: %llu segments, %.1f MiB%s",
                    (unsigned long long)st->segments, (double)total / 1048576.0,
                    ckpt ? " (with a checkpoint)" : "");
    rc = run_pass(&r, KM_WAL_SERIES, fn, ud, 2 * total, &done, &last_log);
    if (rc == 0)
        rc = run_pass(&r, KM_WAL_SAMPLES, fn, ud, 2 * total, &done, &last_log);
    if (total > 64u * 1024 * 1024)
        km_log_info(KM_TSDB_LOG, "WAL replay done in %.1f s",
                    (double)(km_time_mono_ns() - t0) / 1e9);
out_unmap:
    for (size_t i = 0; i < r.nsegs; i++) {
        if (r.segs[i].map)
            munmap(r.segs[i].map, r.segs[i].size);
    }
    free(r.segs);
    return rc;
}
