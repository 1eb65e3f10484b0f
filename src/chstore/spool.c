/*
 * spool — the ClickHouse store's local write-ahead (spool.h).
 *
 * Files in DIR/clickhouse-spool/:
 *   seg-<seq as 16 hex digits>.spool   segments, written in seq order, one active (the last)
 *   acked                              each shard's acknowledged position (tmp + rename)
 *   lock                               flock()ed by the server using the spool
 *
 * A segment (all integers little-endian):
 *   0   8  magic "KMCHSPL1"
 *   8   4  nshards the records were split for
 *   12  4  CRC-32 (zlib) of bytes 0..11
 *   16  …  records:
 *          0  4  payload length L
 *          4  4  CRC-32 of the payload
 *          8  L  payload: u16 nparts, then per part
 *                  u16 shard, u8 kind (0 series rows, 1 sample rows, 2 log stream
 *                  rows, 3 log entry rows: enum km_ch_part_kind), u8 0,
 *                  u32 rows, u32 len, len bytes of RowBinary rows
 * The acked file: magic "KMCHACK1", u32 nshards, per shard u64 seq, u64 offset, then a
 * CRC-32 of everything before it. A position (seq, off) means: that shard's rows of every
 * record before byte `off` of segment `seq`, and of every earlier segment, are in
 * ClickHouse. A segment before every shard's position is deleted.
 *
 * Crash: a record half-written (length past the end, or a CRC that fails) can only be
 * the last of its segment; open truncates it with a warning. The acked file is replaced
 * after each acknowledged insert, so a crash re-sends at most what was inserted since.
 * Durability: fdatasync per record (fsync_interval_ms 0) or at most that interval apart
 * (the appends and the writer threads' km_ch_spool_sync_due() see to it).
 *
 * Threads: any; `mu` guards the segment list, sizes, positions and counters; record
 * bytes are read outside it (a segment is deleted only when every shard is past it,
 * so a reader never loses the file it reads).
 */
#include "chstore/spool.h"

#include "chstore/chstore_internal.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define KM_CH_SEG_MAGIC  "KMCHSPL1"
#define KM_CH_ACK_MAGIC  "KMCHACK1"
#define KM_CH_SEG_HDR    16u
#define KM_CH_REC_HDR    8u
#define KM_CH_PART_HDR   12u
#define KM_CH_REC_MAX    (256u * 1024 * 1024)
#define KM_CH_REPLAY_LOG (64u * 1024 * 1024) /* a spool this large is checked with progress */
#define KM_CH_SPOOL_1GIB (1024ull * 1024 * 1024)

struct km_ch_seg {
    uint64_t seq;
    int fd;
    uint64_t size;
    int64_t created_ms;
};

struct km_ch_spool {
    char *dir, *ack_path, *ack_tmp;
    int lock_fd; /* DIR/lock, flock()ed: one server per spool */
    size_t nshards;
    uint64_t max_bytes, seg_bytes;
    int64_t fsync_ms;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct km_ch_seg *segs; /* by seq; the last is active */
    size_t nsegs, capsegs;
    uint64_t total;
    struct km_ch_spool_pos *acked;
    uint64_t *shard_bytes;
    int64_t *behind_since; /* per shard: wall ms since it has records to read (0: none) */
    int64_t last_sync_ms;
    bool dirty;
    uint64_t wake_gen, append_gen;
    uint64_t truncated, replay_bytes;
};

static void km_put_u16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void km_put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void km_put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint16_t km_get_u16(const unsigned char *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t km_get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t km_get_u64(const unsigned char *p)
{
    return (uint64_t)km_get_u32(p) | (uint64_t)km_get_u32(p + 4) << 32;
}

static uint32_t km_crc(const void *p, size_t n)
{
    return (uint32_t)crc32(0L, p, (uInt)n);
}

static int64_t km_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int km_pread_full(int fd, void *buf, size_t n, uint64_t off)
{
    size_t done = 0;

    while (done < n) {
        ssize_t r = pread(fd, (char *)buf + done, n - done, (off_t)(off + done));

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return km_err_set_errno(KM_EIO, errno, "reading the ClickHouse spool");
        if (r == 0)
            return km_err_set(KM_ECORRUPT, "the ClickHouse spool ends inside a record");
        done += (size_t)r;
    }
    return 0;
}

static int km_pwrite_full(int fd, const void *buf, size_t n, uint64_t off)
{
    size_t done = 0;

    while (done < n) {
        ssize_t r = pwrite(fd, (const char *)buf + done, n - done, (off_t)(off + done));

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return km_err_set_errno(KM_EIO, errno, "writing the ClickHouse spool");
        done += (size_t)r;
    }
    return 0;
}

static void km_seg_path(const struct km_ch_spool *sp, uint64_t seq, char *out, size_t n)
{
    snprintf(out, n, "%s/seg-%016" PRIx64 ".spool", sp->dir, seq);
}

static void km_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Under mu (or at open): add a segment to the list. */
static int km_segs_push(struct km_ch_spool *sp, const struct km_ch_seg *s)
{
    if (sp->nsegs == sp->capsegs) {
        size_t cap = sp->capsegs ? sp->capsegs * 2 : 16;
        struct km_ch_seg *v = realloc(sp->segs, cap * sizeof(*v));

        if (!v)
            return km_err_set(KM_ENOMEM, "out of memory");
        sp->segs = v;
        sp->capsegs = cap;
    }
    sp->segs[sp->nsegs++] = *s;
    return 0;
}

/* Create segment seq, make it the active one. */
static int km_seg_create(struct km_ch_spool *sp, uint64_t seq)
{
    unsigned char hdr[KM_CH_SEG_HDR];
    char path[4096];
    struct km_ch_seg s = { .seq = seq, .size = KM_CH_SEG_HDR, .created_ms = km_wall_ms() };
    int rc;

    km_seg_path(sp, seq, path, sizeof(path));
    s.fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (s.fd < 0)
        return km_err_set_errno(KM_EIO, errno, "cannot create %s", path);
    memcpy(hdr, KM_CH_SEG_MAGIC, 8);
    km_put_u32(hdr + 8, (uint32_t)sp->nshards);
    km_put_u32(hdr + 12, km_crc(hdr, 12));
    rc = km_pwrite_full(s.fd, hdr, sizeof(hdr), 0);
    if (rc == 0 && fdatasync(s.fd) != 0)
        rc = km_err_set_errno(KM_EIO, errno, "cannot sync %s", path);
    if (rc == 0)
        rc = km_segs_push(sp, &s);
    if (rc != 0) {
        close(s.fd);
        unlink(path);
        return rc;
    }
    km_sync_dir(sp->dir);
    sp->total += KM_CH_SEG_HDR;
    return 0;
}

/* ---- open: check the segments -------------------------------------------------------- */

/* Check the records of one segment (opened at open), truncating a torn tail. */
static int km_seg_check(struct km_ch_spool *sp, struct km_ch_seg *s, const char *path,
                        uint64_t *checked, uint64_t total, bool *other_shards)
{
    unsigned char hdr[KM_CH_SEG_HDR], rh[KM_CH_REC_HDR];
    struct stat st;
    uint64_t off = KM_CH_SEG_HDR, size;
    void *buf = NULL;
    int rc = 0;

    if (fstat(s->fd, &st) != 0)
        return km_err_set_errno(KM_EIO, errno, "cannot stat %s", path);
    size = (uint64_t)st.st_size;
    s->created_ms = (int64_t)st.st_mtim.tv_sec * 1000;
    if (size < KM_CH_SEG_HDR || km_pread_full(s->fd, hdr, sizeof(hdr), 0) != 0 ||
        memcmp(hdr, KM_CH_SEG_MAGIC, 8) != 0 || km_get_u32(hdr + 12) != km_crc(hdr, 12)) {
        km_log_warn(KM_CH_LOG,
                    "spool segment %s has no valid header: its %" PRIu64 " bytes are dropped", path,
                    size);
        sp->truncated++;
        s->size = 0;
        return 0;
    }
    *other_shards = km_get_u32(hdr + 8) != sp->nshards;
    while (off + KM_CH_REC_HDR <= size) {
        uint32_t len, crc;

        if ((rc = km_pread_full(s->fd, rh, sizeof(rh), off)) != 0)
            goto out;
        len = km_get_u32(rh);
        crc = km_get_u32(rh + 4);
        if (len > KM_CH_REC_MAX || len > size - off - KM_CH_REC_HDR)
            break;
        free(buf);
        buf = malloc(len ? len : 1);
        if (!buf) {
            rc = km_err_set(KM_ENOMEM, "out of memory checking the spool");
            goto out;
        }
        if ((rc = km_pread_full(s->fd, buf, len, off + KM_CH_REC_HDR)) != 0)
            goto out;
        if (km_crc(buf, len) != crc)
            break;
        off += KM_CH_REC_HDR + len;
        *checked += KM_CH_REC_HDR + len;
        if (total >= KM_CH_REPLAY_LOG &&
            (*checked / KM_CH_REPLAY_LOG) != ((*checked - KM_CH_REC_HDR - len) / KM_CH_REPLAY_LOG))
            km_log_info(KM_CH_LOG, "checking the spool: %" PRIu64 " of %" PRIu64 " MiB",
                        *checked >> 20, total >> 20);
    }
    if (off < size) {
        km_log_warn(KM_CH_LOG,
                    "spool segment %s: a torn record at byte %" PRIu64 " (a crash while it "
                    "was written): %" PRIu64 " bytes truncated, never acknowledged to a client",
                    path, off, size - off);
        sp->truncated++;
        if (ftruncate(s->fd, (off_t)off) != 0) {
            rc = km_err_set_errno(KM_EIO, errno, "cannot truncate %s", path);
            goto out;
        }
    }
    s->size = off;
out:
    free(buf);
    return rc;
}

static int km_seq_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct km_ch_seg *)a)->seq, y = ((const struct km_ch_seg *)b)->seq;

    return x < y ? -1 : x > y;
}

/* The segment files of the directory, sorted, opened. */
static int km_segs_list(struct km_ch_spool *sp)
{
    DIR *d = opendir(sp->dir);
    struct dirent *e;
    int rc = 0;

    if (!d)
        return km_err_set_errno(KM_EIO, errno, "cannot read the spool directory %s", sp->dir);
    while ((e = readdir(d)) != NULL) {
        struct km_ch_seg s = { 0 };
        char path[4096], end[8];

        if (sscanf(e->d_name, "seg-%16" SCNx64 ".%6s", &s.seq, end) != 2 ||
            strcmp(end, "spool") != 0)
            continue;
        km_seg_path(sp, s.seq, path, sizeof(path));
        s.fd = open(path, O_RDWR | O_CLOEXEC);
        if (s.fd < 0) {
            rc = km_err_set_errno(KM_EIO, errno, "cannot open %s", path);
            break;
        }
        if ((rc = km_segs_push(sp, &s)) != 0) {
            close(s.fd);
            break;
        }
    }
    closedir(d);
    if (sp->nsegs > 1)
        qsort(sp->segs, sp->nsegs, sizeof(*sp->segs), km_seq_cmp);
    return rc;
}

/* Read the acked file; a missing or bad one means "nothing acknowledged". Returns the
 * number of shards it was written for (0: none). */
static size_t km_acks_load(struct km_ch_spool *sp)
{
    unsigned char buf[16 + 16 * 65536 + 4];
    size_t n, ns;
    ssize_t r;
    int fd = open(sp->ack_path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return 0;
    r = read(fd, buf, sizeof(buf));
    close(fd);
    if (r < 16)
        return 0;
    n = (size_t)r;
    ns = km_get_u32(buf + 8);
    if (memcmp(buf, KM_CH_ACK_MAGIC, 8) != 0 || n != 12 + 16 * ns + 4 ||
        km_get_u32(buf + n - 4) != km_crc(buf, n - 4)) {
        km_log_warn(KM_CH_LOG, "%s is damaged: the whole spool will be sent again", sp->ack_path);
        return 0;
    }
    if (ns == sp->nshards)
        for (size_t i = 0; i < ns; i++) {
            sp->acked[i].seq = km_get_u64(buf + 12 + 16 * i);
            sp->acked[i].off = km_get_u64(buf + 12 + 16 * i + 8);
        }
    return ns;
}

/* Under mu: write the acked file. */
static int km_acks_save(struct km_ch_spool *sp)
{
    size_t n = 12 + 16 * sp->nshards + 4;
    unsigned char *buf = malloc(n);
    int fd, rc = 0;

    if (!buf)
        return km_err_set(KM_ENOMEM, "out of memory");
    memcpy(buf, KM_CH_ACK_MAGIC, 8);
    km_put_u32(buf + 8, (uint32_t)sp->nshards);
    for (size_t i = 0; i < sp->nshards; i++) {
        km_put_u64(buf + 12 + 16 * i, sp->acked[i].seq);
        km_put_u64(buf + 12 + 16 * i + 8, sp->acked[i].off);
    }
    km_put_u32(buf + n - 4, km_crc(buf, n - 4));
    fd = open(sp->ack_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = km_err_set_errno(KM_EIO, errno, "cannot write %s", sp->ack_tmp);
        goto out_free;
    }
    rc = km_pwrite_full(fd, buf, n, 0);
    close(fd);
    if (rc == 0 && rename(sp->ack_tmp, sp->ack_path) != 0)
        rc = km_err_set_errno(KM_EIO, errno, "cannot replace %s", sp->ack_path);
out_free:
    free(buf);
    return rc;
}

/* Under mu: the index of the first segment with seq >= pos->seq (nsegs: none). */
static size_t km_seg_find(const struct km_ch_spool *sp, uint64_t seq)
{
    size_t lo = 0, hi = sp->nsegs;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;

        if (sp->segs[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Under mu: the bytes of records after pos. */
static uint64_t km_bytes_after(const struct km_ch_spool *sp, const struct km_ch_spool_pos *pos)
{
    uint64_t n = 0;

    for (size_t i = km_seg_find(sp, pos->seq); i < sp->nsegs; i++) {
        const struct km_ch_seg *s = &sp->segs[i];
        uint64_t from = s->seq == pos->seq && pos->off > KM_CH_SEG_HDR ? pos->off : KM_CH_SEG_HDR;

        if (s->size > from)
            n += s->size - from;
    }
    return n;
}

/* Under mu: delete the segments (not the active one) every shard is past. */
static void km_segs_trim(struct km_ch_spool *sp)
{
    uint64_t min = UINT64_MAX;
    size_t k = 0;

    for (size_t i = 0; i < sp->nshards; i++) {
        struct km_ch_spool_pos p = sp->acked[i];
        size_t j = km_seg_find(sp, p.seq);

        /* A position at the end of a finished segment is past it. */
        if (j + 1 < sp->nsegs && sp->segs[j].seq == p.seq && p.off >= sp->segs[j].size)
            p.seq = sp->segs[j + 1].seq;
        if (p.seq < min)
            min = p.seq;
    }
    while (k + 1 < sp->nsegs && sp->segs[k].seq < min) {
        char path[4096];

        km_seg_path(sp, sp->segs[k].seq, path, sizeof(path));
        close(sp->segs[k].fd);
        if (unlink(path) != 0)
            km_log_warn(KM_CH_LOG, "cannot delete %s: %s", path, strerror(errno));
        sp->total -= sp->segs[k].size;
        k++;
    }
    if (k) {
        memmove(sp->segs, sp->segs + k, (sp->nsegs - k) * sizeof(*sp->segs));
        sp->nsegs -= k;
    }
}

/* At open: check every segment, match them with the acked positions. */
static int km_spool_recover(struct km_ch_spool *sp)
{
    uint64_t total = 0, checked = 0;
    size_t acked_for;
    int rc;

    if ((rc = km_segs_list(sp)) != 0)
        return rc;
    for (size_t i = 0; i < sp->nsegs; i++) {
        struct stat st;

        if (fstat(sp->segs[i].fd, &st) == 0)
            total += (uint64_t)st.st_size;
    }
    if (total >= KM_CH_REPLAY_LOG)
        km_log_info(KM_CH_LOG, "checking the spool in %s: %" PRIu64 " MiB", sp->dir, total >> 20);
    for (size_t i = 0; i < sp->nsegs; i++) {
        char path[4096];
        bool other = false;

        km_seg_path(sp, sp->segs[i].seq, path, sizeof(path));
        if ((rc = km_seg_check(sp, &sp->segs[i], path, &checked, total, &other)) != 0)
            return rc;
        if (other) {
            if (sp->segs[i].size > KM_CH_SEG_HDR)
                return km_err_set(KM_EINVAL,
                                  "the ClickHouse spool %s holds records written for another "
                                  "number of shards than the %zu URLs of --clickhouse-url: start "
                                  "kmon with the URLs it was written for to deliver them, or "
                                  "remove the directory to drop them",
                                  path, sp->nshards);
        }
        sp->total += sp->segs[i].size;
    }
    acked_for = km_acks_load(sp);
    if (acked_for != 0 && acked_for != sp->nshards) {
        for (size_t i = 0; i < sp->nsegs; i++)
            if (sp->segs[i].size > KM_CH_SEG_HDR)
                return km_err_set(KM_EINVAL,
                                  "the ClickHouse spool %s was written for %zu shards and "
                                  "--clickhouse-url names %zu: start kmon with the URLs it was "
                                  "written for to deliver it, or remove the directory to drop it",
                                  sp->dir, acked_for, sp->nshards);
    }
    for (size_t i = 0; i < sp->nshards; i++) {
        size_t j = km_seg_find(sp, sp->acked[i].seq);

        if (j < sp->nsegs && sp->segs[j].seq == sp->acked[i].seq &&
            sp->acked[i].off > sp->segs[j].size)
            sp->acked[i].off = sp->segs[j].size;
    }
    sp->replay_bytes = 0;
    for (size_t i = 0; i < sp->nshards; i++) {
        uint64_t b = km_bytes_after(sp, &sp->acked[i]);
        size_t j = km_seg_find(sp, sp->acked[i].seq);

        if (b > sp->replay_bytes)
            sp->replay_bytes = b;
        if (b > 0 && j < sp->nsegs)
            sp->behind_since[i] = sp->segs[j].created_ms;
    }
    if (sp->replay_bytes > 0)
        km_log_info(KM_CH_LOG,
                    "the spool holds %" PRIu64 " bytes ClickHouse has not acknowledged: "
                    "sending them",
                    sp->replay_bytes);
    rc = km_seg_create(sp, sp->nsegs ? sp->segs[sp->nsegs - 1].seq + 1 : 1);
    if (rc == 0)
        km_segs_trim(sp);
    return rc;
}

/* Take DIR/lock: a second server on the same spool would send its records twice. */
static int km_spool_lock(struct km_ch_spool *sp)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/lock", sp->dir);
    sp->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (sp->lock_fd < 0)
        return km_err_set_errno(KM_EIO, errno, "cannot open %s", path);
    if (flock(sp->lock_fd, LOCK_EX | LOCK_NB) != 0)
        return km_err_set(KM_EEXIST, "another kmon server uses the ClickHouse spool in %s",
                          sp->dir);
    return 0;
}

int km_ch_spool_open(struct km_ch_spool **out, const struct km_ch_spool_opts *o)
{
    struct km_ch_spool *sp;
    pthread_condattr_t ca;
    size_t n;
    int rc;

    if (o->nshards == 0 || o->nshards > 65535)
        return km_err_set(KM_EINVAL, "the spool takes 1 to 65535 shards, not %zu", o->nshards);
    sp = calloc(1, sizeof(*sp));
    if (!sp)
        return km_err_set(KM_ENOMEM, "out of memory");
    sp->lock_fd = -1;
    pthread_mutex_init(&sp->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sp->cv, &ca);
    pthread_condattr_destroy(&ca);
    sp->nshards = o->nshards;
    sp->max_bytes = o->max_bytes ? o->max_bytes : KM_CH_SPOOL_1GIB;
    sp->seg_bytes = o->segment_bytes ? o->segment_bytes : KM_CH_SPOOL_SEGMENT_BYTES;
    sp->fsync_ms = o->fsync_interval_ms;
    n = strlen(o->dir) + sizeof("/acked.tmp");
    sp->dir = strdup(o->dir);
    sp->ack_path = malloc(n);
    sp->ack_tmp = malloc(n);
    sp->acked = calloc(o->nshards, sizeof(*sp->acked));
    sp->shard_bytes = calloc(o->nshards, sizeof(*sp->shard_bytes));
    sp->behind_since = calloc(o->nshards, sizeof(*sp->behind_since));
    if (!sp->dir || !sp->ack_path || !sp->ack_tmp || !sp->acked || !sp->shard_bytes ||
        !sp->behind_since) {
        rc = km_err_set(KM_ENOMEM, "out of memory");
        goto out_close;
    }
    snprintf(sp->ack_path, n, "%s/acked", o->dir);
    snprintf(sp->ack_tmp, n, "%s/acked.tmp", o->dir);
    rc = km_mkdir_p(o->dir, 0755);
    if (rc != 0) {
        km_err_wrap(rc, "the ClickHouse spool");
        goto out_close;
    }
    rc = km_spool_lock(sp);
    if (rc != 0)
        goto out_close;
    rc = km_spool_recover(sp);
    if (rc != 0)
        goto out_close;
    sp->last_sync_ms = km_wall_ms();
    *out = sp;
    return 0;
out_close:
    km_ch_spool_close(sp);
    return rc;
}

void km_ch_spool_close(struct km_ch_spool *sp)
{
    if (!sp)
        return;
    for (size_t i = 0; i < sp->nsegs; i++) {
        if (i + 1 == sp->nsegs && sp->dirty)
            fdatasync(sp->segs[i].fd);
        close(sp->segs[i].fd);
    }
    if (sp->lock_fd >= 0)
        close(sp->lock_fd);
    free(sp->segs);
    free(sp->behind_since);
    free(sp->shard_bytes);
    free(sp->acked);
    free(sp->ack_tmp);
    free(sp->ack_path);
    free(sp->dir);
    pthread_cond_destroy(&sp->cv);
    pthread_mutex_destroy(&sp->mu);
    free(sp);
}

/* ---- append ------------------------------------------------------------------------- */

/* Under mu: sync the active segment. */
static int km_spool_sync_locked(struct km_ch_spool *sp)
{
    struct km_ch_seg *a = &sp->segs[sp->nsegs - 1];

    sp->last_sync_ms = km_wall_ms();
    if (!sp->dirty)
        return 0;
    if (fdatasync(a->fd) != 0)
        return km_err_set_errno(KM_EIO, errno, "cannot sync the ClickHouse spool");
    sp->dirty = false;
    return 0;
}

int km_ch_spool_append(struct km_ch_spool *sp, const struct km_ch_spool_part *p, size_t n)
{
    size_t len = 2, off;
    unsigned char *rec;
    struct km_ch_seg *a;
    int rc = 0;

    for (size_t i = 0; i < n; i++)
        len += KM_CH_PART_HDR + p[i].len;
    if (n > 65535 || len > KM_CH_REC_MAX)
        return km_err_set(KM_ELIMIT, "one append of %zu bytes is more than the spool takes", len);
    rec = malloc(KM_CH_REC_HDR + len);
    if (!rec)
        return km_err_set(KM_ENOMEM, "out of memory");
    off = KM_CH_REC_HDR;
    km_put_u16(rec + off, (uint16_t)n);
    off += 2;
    for (size_t i = 0; i < n; i++) {
        km_put_u16(rec + off, p[i].shard);
        rec[off + 2] = p[i].kind;
        rec[off + 3] = 0;
        km_put_u32(rec + off + 4, p[i].rows);
        km_put_u32(rec + off + 8, p[i].len);
        memcpy(rec + off + KM_CH_PART_HDR, p[i].data, p[i].len);
        off += KM_CH_PART_HDR + p[i].len;
    }
    km_put_u32(rec, (uint32_t)len);
    km_put_u32(rec + 4, km_crc(rec + KM_CH_REC_HDR, len));
    len += KM_CH_REC_HDR;

    pthread_mutex_lock(&sp->mu);
    if (sp->total + len > sp->max_bytes) {
        rc = km_err_set(KM_ELIMIT,
                        "ClickHouse is behind: the spool holds %" PRIu64
                        " bytes (--clickhouse-spool-max)",
                        sp->total);
        goto out_unlock;
    }
    a = &sp->segs[sp->nsegs - 1];
    if (a->size + len > sp->seg_bytes && a->size > KM_CH_SEG_HDR) {
        if ((rc = km_spool_sync_locked(sp)) != 0 || (rc = km_seg_create(sp, a->seq + 1)) != 0)
            goto out_unlock;
        a = &sp->segs[sp->nsegs - 1];
    }
    rc = km_pwrite_full(a->fd, rec, len, a->size);
    if (rc != 0) {
        if (ftruncate(a->fd, (off_t)a->size) != 0)
            km_log_warn(KM_CH_LOG, "cannot cut a failed spool write: %s", strerror(errno));
        goto out_unlock;
    }
    a->size += len;
    sp->total += len;
    sp->dirty = true;
    for (size_t i = 0; i < sp->nshards; i++)
        if (sp->behind_since[i] == 0)
            sp->behind_since[i] = km_wall_ms();
    for (size_t i = 0; i < n; i++)
        if (p[i].shard < sp->nshards)
            sp->shard_bytes[p[i].shard] += p[i].len;
    if (sp->fsync_ms <= 0 || km_wall_ms() - sp->last_sync_ms >= sp->fsync_ms)
        rc = km_spool_sync_locked(sp);
    sp->append_gen++;
    pthread_cond_broadcast(&sp->cv);
out_unlock:
    pthread_mutex_unlock(&sp->mu);
    free(rec);
    return rc;
}

void km_ch_spool_sync_due(struct km_ch_spool *sp)
{
    pthread_mutex_lock(&sp->mu);
    if (sp->dirty && km_wall_ms() - sp->last_sync_ms >= sp->fsync_ms &&
        km_spool_sync_locked(sp) != 0)
        km_log_warn(KM_CH_LOG, "%s", km_err_msg());
    pthread_mutex_unlock(&sp->mu);
}

/* ---- read and acknowledge ----------------------------------------------------------- */

void km_ch_spool_acked(struct km_ch_spool *sp, size_t shard, struct km_ch_spool_pos *pos)
{
    pthread_mutex_lock(&sp->mu);
    *pos = sp->acked[shard];
    pthread_mutex_unlock(&sp->mu);
}

/* Take the shard's parts of one record's payload. */
static int km_record_take(const unsigned char *pl, size_t len, size_t shard,
                          struct km_buf *const out[KM_CH_PART__N], size_t rows[KM_CH_PART__N])
{
    size_t off = 2, n;

    if (len < 2)
        return km_err_set(KM_ECORRUPT, "a spool record without its part count");
    n = km_get_u16(pl);
    for (size_t i = 0; i < n; i++) {
        uint32_t plen;
        unsigned kind;

        if (off + KM_CH_PART_HDR > len)
            return km_err_set(KM_ECORRUPT, "a spool record's parts overrun it");
        plen = km_get_u32(pl + off + 8);
        if (plen > len - off - KM_CH_PART_HDR)
            return km_err_set(KM_ECORRUPT, "a spool record's part overruns it");
        kind = pl[off + 2];
        if (kind >= KM_CH_PART__N)
            return km_err_set(KM_ECORRUPT, "a spool record's part is of unknown kind %u", kind);
        if (km_get_u16(pl + off) == shard) {
            km_buf_append(out[kind], pl + off + KM_CH_PART_HDR, plen);
            rows[kind] += km_get_u32(pl + off + 4);
            if (km_buf_error(out[kind]))
                return km_err_set(KM_ENOMEM, "out of memory reading the spool");
        }
        off += KM_CH_PART_HDR + plen;
    }
    return 0;
}

int km_ch_spool_read(struct km_ch_spool *sp, size_t shard, struct km_ch_spool_pos *pos,
                     size_t max_rows, struct km_buf *const out[KM_CH_PART__N],
                     size_t rows[KM_CH_PART__N])
{
    struct km_buf pl;
    size_t total = 0;
    int rc = 0;

    for (size_t k = 0; k < KM_CH_PART__N; k++)
        rows[k] = 0;
    km_buf_init(&pl, KM_CH_REC_MAX);
    while (total < max_rows) {
        unsigned char rh[KM_CH_REC_HDR];
        uint64_t size, next = 0;
        bool last;
        uint32_t len;
        size_t j;
        int fd;

        pthread_mutex_lock(&sp->mu);
        j = km_seg_find(sp, pos->seq);
        if (j == sp->nsegs) {
            pthread_mutex_unlock(&sp->mu);
            break;
        }
        if (sp->segs[j].seq != pos->seq || pos->off < KM_CH_SEG_HDR) {
            pos->seq = sp->segs[j].seq;
            pos->off = KM_CH_SEG_HDR;
        }
        fd = sp->segs[j].fd;
        size = sp->segs[j].size;
        last = j + 1 == sp->nsegs;
        if (!last)
            next = sp->segs[j + 1].seq;
        pthread_mutex_unlock(&sp->mu);
        if (pos->off >= size) {
            if (last)
                break;
            pos->seq = next;
            pos->off = KM_CH_SEG_HDR;
            continue;
        }
        if ((rc = km_pread_full(fd, rh, sizeof(rh), pos->off)) != 0)
            break;
        len = km_get_u32(rh);
        km_buf_reset(&pl);
        if (len > size - pos->off - KM_CH_REC_HDR || km_buf_reserve(&pl, len) != 0) {
            rc = km_err_set(KM_ECORRUPT, "a spool record overruns its segment");
            break;
        }
        if ((rc = km_pread_full(fd, pl.data, len, pos->off + KM_CH_REC_HDR)) != 0)
            break;
        if (km_crc(pl.data, len) != km_get_u32(rh + 4)) {
            rc = km_err_set(KM_ECORRUPT, "a spool record fails its CRC");
            break;
        }
        if ((rc = km_record_take((unsigned char *)pl.data, len, shard, out, rows)) != 0)
            break;
        pos->off += KM_CH_REC_HDR + len;
        total = 0;
        for (size_t k = 0; k < KM_CH_PART__N; k++)
            total += rows[k];
    }
    km_buf_fini(&pl);
    return rc;
}

bool km_ch_spool_pending(struct km_ch_spool *sp, const struct km_ch_spool_pos *pos)
{
    bool p;

    pthread_mutex_lock(&sp->mu);
    p = km_bytes_after(sp, pos) > 0;
    pthread_mutex_unlock(&sp->mu);
    return p;
}

uint64_t km_ch_spool_shard_bytes(struct km_ch_spool *sp, size_t shard)
{
    uint64_t n;

    pthread_mutex_lock(&sp->mu);
    n = sp->shard_bytes[shard];
    pthread_mutex_unlock(&sp->mu);
    return n;
}

static void km_deadline(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

void km_ch_spool_wait(struct km_ch_spool *sp, const struct km_ch_spool_pos *pos, int64_t timeout_ms)
{
    struct timespec dl;
    uint64_t gen;

    km_deadline(&dl, timeout_ms);
    pthread_mutex_lock(&sp->mu);
    gen = sp->wake_gen;
    while (km_bytes_after(sp, pos) == 0 && gen == sp->wake_gen)
        if (pthread_cond_timedwait(&sp->cv, &sp->mu, &dl) != 0)
            break;
    pthread_mutex_unlock(&sp->mu);
}

void km_ch_spool_wake(struct km_ch_spool *sp)
{
    pthread_mutex_lock(&sp->mu);
    sp->wake_gen++;
    pthread_cond_broadcast(&sp->cv);
    pthread_mutex_unlock(&sp->mu);
}

int km_ch_spool_ack(struct km_ch_spool *sp, size_t shard, const struct km_ch_spool_pos *pos)
{
    int rc;

    pthread_mutex_lock(&sp->mu);
    sp->acked[shard] = *pos;
    /* What is left came after the batch was read: at most that old (a slight underestimate). */
    sp->behind_since[shard] = km_bytes_after(sp, pos) > 0 ? km_wall_ms() : 0;
    rc = km_acks_save(sp);
    if (rc == 0)
        km_segs_trim(sp);
    pthread_cond_broadcast(&sp->cv);
    pthread_mutex_unlock(&sp->mu);
    return rc;
}

/* Under mu: whether every shard is at or past the end position `end`. */
static bool km_all_past(const struct km_ch_spool *sp, const struct km_ch_spool_pos *end)
{
    for (size_t i = 0; i < sp->nshards; i++) {
        const struct km_ch_spool_pos *a = &sp->acked[i];

        if (a->seq < end->seq || (a->seq == end->seq && a->off < end->off))
            return false;
    }
    return true;
}

int km_ch_spool_wait_acked(struct km_ch_spool *sp, int64_t timeout_ms)
{
    struct km_ch_spool_pos end;
    struct timespec dl;
    int rc = 0;

    km_deadline(&dl, timeout_ms);
    pthread_mutex_lock(&sp->mu);
    end.seq = sp->segs[sp->nsegs - 1].seq;
    end.off = sp->segs[sp->nsegs - 1].size;
    while (!km_all_past(sp, &end)) {
        if (pthread_cond_timedwait(&sp->cv, &sp->mu, &dl) != 0) {
            rc = km_err_set(KM_ETIMEDOUT,
                            "ClickHouse has not acknowledged the spool's last %" PRIu64
                            " bytes in %" PRId64 " ms",
                            sp->total, timeout_ms);
            break;
        }
    }
    pthread_mutex_unlock(&sp->mu);
    return rc;
}

void km_ch_spool_stats(struct km_ch_spool *sp, struct km_ch_spool_stats *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&sp->mu);
    out->bytes = sp->total;
    out->segments = sp->nsegs;
    out->truncated = sp->truncated;
    out->replay_bytes = sp->replay_bytes;
    for (size_t i = 0; i < sp->nshards; i++) {
        uint64_t b = km_bytes_after(sp, &sp->acked[i]);

        if (b > out->unacked)
            out->unacked = b;
        if (b > 0 && sp->behind_since[i] &&
            (out->oldest_ms == 0 || sp->behind_since[i] < out->oldest_ms))
            out->oldest_ms = sp->behind_since[i];
    }
    pthread_mutex_unlock(&sp->mu);
}
