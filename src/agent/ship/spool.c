/*
 * spool — the on-disk request queue (see spool.h).
 *
 * Segment file <seq>.spool (seq: 16 decimal digits, increasing):
 *
 *   offset  size  field
 *   0       4     magic "KMSP"
 *   4       4     format version (1)
 *   8       …     records, back to back:
 *                   u32 payload length L (at most 64 MiB)
 *                   u32 samples in the request
 *                   u32 checksum: low 32 bits of XXH3-64 of the payload, seeded with
 *                       (samples << 32 | L)
 *                   L   the request body (snappy-compressed WriteRequest)
 *
 * cursor (written to cursor.tmp and renamed): u64 seq of the oldest segment, u64 byte
 * offset of its next unsent record, u32 checksum of those 16 bytes. A cursor that does
 * not name a record boundary of the oldest segment is ignored (resending is harmless:
 * the server keeps each sample once).
 *
 * Appends go to the newest segment, which is cut at seg_max; delivery reads the oldest.
 * A segment read to its end is deleted; the newest one, once fully delivered, is
 * truncated back to its header. Integers are little-endian.
 */
#include "agent/ship/spool.h"
#include "common/array.h"

#include "common/err.h"
#include "common/fsutil.h"
#include "common/log.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAGIC      "KMSP"
#define VERSION    1
#define HDR        8
#define REC_HDR    12
#define MAX_RECORD (64u * 1024 * 1024)
#define LOG        "spool"

struct seg {
    uint64_t seq;
    uint64_t end;     /* bytes holding valid records */
    uint64_t unread;  /* requests not yet delivered */
    uint64_t samples; /* their samples */
};

struct km_spool {
    char *dir;
    uint64_t max, seg_max;
    struct seg *segs; /* oldest first */
    size_t nsegs, cap;
    int wfd;       /* the newest segment, appending */
    int rfd;       /* the oldest segment, reading */
    uint64_t rseq; /* which segment rfd is */
    uint64_t roff; /* next record to deliver in segs[0] */
    uint64_t bytes, requests, samples;
};

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t checksum(const void *p, size_t n, uint32_t samples)
{
    return (uint32_t)XXH3_64bits_withSeed(p, n, (uint64_t)samples << 32 | (uint32_t)n);
}

static void seg_path(const struct km_spool *s, uint64_t seq, char *out, size_t size)
{
    snprintf(out, size, "%s/%016llu.spool", s->dir, (unsigned long long)seq);
}

/* ---- cursor ------------------------------------------------------------------------------ */

static void write_cursor(struct km_spool *s)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    uint8_t b[20];
    int fd;

    if (!s->nsegs)
        return;
    for (int i = 0; i < 8; i++) {
        b[i] = (uint8_t)(s->segs[0].seq >> (8 * i));
        b[8 + i] = (uint8_t)(s->roff >> (8 * i));
    }
    put32(b + 16, (uint32_t)XXH3_64bits(b, 16));
    snprintf(path, sizeof(path), "%s/cursor", s->dir);
    snprintf(tmp, sizeof(tmp), "%s/cursor.tmp", s->dir);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    if (write(fd, b, sizeof(b)) == (ssize_t)sizeof(b))
        rename(tmp, path);
    close(fd);
}

static bool read_cursor(const struct km_spool *s, uint64_t *seq, uint64_t *off)
{
    char path[PATH_MAX];
    uint8_t b[20];
    int fd;
    bool ok;

    snprintf(path, sizeof(path), "%s/cursor", s->dir);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ok = read(fd, b, sizeof(b)) == (ssize_t)sizeof(b) &&
         get32(b + 16) == (uint32_t)XXH3_64bits(b, 16);
    close(fd);
    *seq = *off = 0;
    for (int i = 7; ok && i >= 0; i--) {
        *seq = *seq << 8 | b[i];
        *off = *off << 8 | b[8 + i];
    }
    return ok;
}

/* ---- segments ---------------------------------------------------------------------------- */

static int add_seg(struct km_spool *s, uint64_t seq)
{
    if (s->nsegs == s->cap) {
        size_t n = s->cap ? s->cap * 2 : 16;
        struct seg *v = realloc(s->segs, n * sizeof(*v));

        if (!v)
            return km_err_set(KM_ENOMEM, "out of memory");
        s->segs = v;
        s->cap = n;
    }
    s->segs[s->nsegs++] = (struct seg){ .seq = seq, .end = HDR };
    return 0;
}

/* Delete the oldest segment; its undelivered samples are added to *dropped. */
static void drop_oldest(struct km_spool *s, uint64_t *dropped)
{
    char path[PATH_MAX];
    struct seg *g = &s->segs[0];

    seg_path(s, g->seq, path, sizeof(path));
    if (unlink(path) != 0 && errno != ENOENT)
        km_log_warn(LOG, "cannot delete %s: %s", path, strerror(errno));
    if (dropped)
        *dropped += g->samples;
    s->bytes -= g->end;
    s->requests -= g->unread;
    s->samples -= g->samples;
    if (s->rfd >= 0 && s->rseq == g->seq) {
        close(s->rfd);
        s->rfd = -1;
    }
    memmove(s->segs, s->segs + 1, (s->nsegs - 1) * sizeof(*s->segs));
    s->nsegs--;
    s->roff = HDR;
}

/* Read a whole segment and count its valid records from `from` (which must be a record
 * boundary: *at_boundary says whether it was); g->end is where they stop (a torn or
 * damaged record, or the file's end). */
static int scan_seg(struct km_spool *s, struct seg *g, uint64_t from, bool *torn, bool *at_boundary)
{
    char path[PATH_MAX];
    struct stat st;
    uint8_t *data = NULL;
    uint64_t off = HDR;
    int fd, rc = 0;

    *torn = false;
    *at_boundary = from == HDR;
    g->unread = g->samples = 0;
    seg_path(s, g->seq, path, sizeof(path));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        rc = km_err_set_errno(KM_EIO, errno, "opening %s", path);
        goto out_close;
    }
    data = malloc(st.st_size ? (size_t)st.st_size : 1);
    if (!data) {
        rc = km_err_set(KM_ENOMEM, "out of memory reading %s", path);
        goto out_close;
    }
    if (pread(fd, data, (size_t)st.st_size, 0) != st.st_size) {
        rc = km_err_set_errno(KM_EIO, errno, "reading %s", path);
        goto out_free;
    }
    g->end = HDR;
    if ((uint64_t)st.st_size < HDR || memcmp(data, MAGIC, 4) != 0 || get32(data + 4) != VERSION) {
        *torn = (uint64_t)st.st_size > 0;
        goto out_free;
    }
    while (off + REC_HDR <= (uint64_t)st.st_size) {
        uint32_t len = get32(data + off), samples = get32(data + off + 4);

        if (len > MAX_RECORD || off + REC_HDR + len > (uint64_t)st.st_size ||
            checksum(data + off + REC_HDR, len, samples) != get32(data + off + 8))
            break;
        if (off == from)
            *at_boundary = true;
        if (off >= from) {
            g->unread++;
            g->samples += samples;
        }
        off += REC_HDR + len;
    }
    g->end = off;
    if (off == from)
        *at_boundary = true;
    *torn = off != (uint64_t)st.st_size;

out_free:
    free(data);
out_close:
    if (fd >= 0)
        close(fd);
    return rc;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

static int list_segments(struct km_spool *s)
{
    DIR *d = opendir(s->dir);
    struct dirent *de;
    uint64_t *seqs = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    if (!d)
        return km_err_set_errno(KM_EIO, errno, "opening %s", s->dir);
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);

        if (l != 22 || strcmp(de->d_name + 16, ".spool") != 0 ||
            strspn(de->d_name, "0123456789") != 16)
            continue;
        if (n == cap) {
            size_t c = cap ? cap * 2 : 16;
            uint64_t *v = realloc(seqs, c * sizeof(*v));

            if (!v) {
                rc = km_err_set(KM_ENOMEM, "out of memory");
                break;
            }
            seqs = v;
            cap = c;
        }
        seqs[n++] = strtoull(de->d_name, NULL, 10);
    }
    closedir(d);
    if (n)
        km_sort(seqs, n, sizeof(*seqs), cmp_u64);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = add_seg(s, seqs[i]);
    free(seqs);
    return rc;
}

static int open_writer(struct km_spool *s, bool create)
{
    char path[PATH_MAX];
    struct seg *g = &s->segs[s->nsegs - 1];

    if (s->wfd >= 0)
        close(s->wfd);
    seg_path(s, g->seq, path, sizeof(path));
    s->wfd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (create ? O_TRUNC : 0), 0644);
    if (s->wfd < 0)
        return km_err_set_errno(KM_EIO, errno, "opening %s", path);
    if (create) {
        uint8_t h[HDR];

        memcpy(h, MAGIC, 4);
        put32(h + 4, VERSION);
        if (write(s->wfd, h, HDR) != HDR)
            return km_err_set_errno(KM_EIO, errno, "writing %s", path);
        s->bytes += HDR;
    } else if (ftruncate(s->wfd, (off_t)g->end) != 0) {
        /* A torn record at the end: cut it off so appends follow valid data. */
        return km_err_set_errno(KM_EIO, errno, "truncating %s", path);
    }
    if (lseek(s->wfd, (off_t)g->end, SEEK_SET) < 0)
        return km_err_set_errno(KM_EIO, errno, "seeking %s", path);
    return 0;
}

int km_spool_open(struct km_spool **out, const char *dir, uint64_t max_bytes)
{
    struct km_spool *s = calloc(1, sizeof(*s));
    uint64_t cseq = 0, coff = 0;
    bool have_cursor;
    int rc;

    if (!s)
        return km_err_set(KM_ENOMEM, "out of memory");
    s->wfd = s->rfd = -1;
    s->max = max_bytes;
    s->seg_max = max_bytes / 8 < 8u * 1024 * 1024 ? max_bytes / 8 : 8u * 1024 * 1024;
    if (s->seg_max < 64 * 1024)
        s->seg_max = 64 * 1024;
    s->roff = HDR;
    s->dir = strdup(dir);
    if (!s->dir) {
        rc = km_err_set(KM_ENOMEM, "out of memory");
        goto out_close;
    }
    rc = km_mkdir_p(dir, 0750);
    if (rc) {
        km_err_wrap(rc, "creating the spool directory %s", dir);
        goto out_close;
    }
    rc = list_segments(s);
    if (rc)
        goto out_close;
    have_cursor = read_cursor(s, &cseq, &coff);
    for (size_t i = 0; i < s->nsegs; i++) {
        struct seg *g = &s->segs[i];
        uint64_t from = i == 0 && have_cursor && cseq == g->seq ? coff : HDR;
        bool torn, at_boundary;

        rc = scan_seg(s, g, from, &torn, &at_boundary);
        if (rc == 0 && !at_boundary) {
            km_log_warn(LOG,
                        "spool cursor does not point at a request: sending segment "
                        "%016llu again from its start",
                        (unsigned long long)g->seq);
            from = HDR;
            rc = scan_seg(s, g, from, &torn, &at_boundary);
        }
        if (rc)
            goto out_close;
        if (torn)
            km_log_warn(LOG,
                        "spool segment %016llu: a damaged or torn record at byte %llu; the "
                        "rest of the segment is dropped",
                        (unsigned long long)g->seq, (unsigned long long)g->end);
        if (i == 0 && from > HDR && from <= g->end)
            s->roff = from;
        s->bytes += g->end;
        s->requests += g->unread;
        s->samples += g->samples;
    }
    if (s->nsegs) {
        rc = open_writer(s, false);
        if (rc)
            goto out_close;
        if (s->requests)
            km_log_info(LOG, "spool %s holds %llu requests (%llu samples) to send", dir,
                        (unsigned long long)s->requests, (unsigned long long)s->samples);
    }
    *out = s;
    return 0;

out_close:
    km_spool_close(s);
    return rc;
}

void km_spool_close(struct km_spool *s)
{
    if (!s)
        return;
    if (s->wfd >= 0)
        close(s->wfd);
    if (s->rfd >= 0)
        close(s->rfd);
    free(s->segs);
    free(s->dir);
    free(s);
}

bool km_spool_empty(const struct km_spool *s)
{
    return s->requests == 0;
}

/* ---- push -------------------------------------------------------------------------------- */

int km_spool_push(struct km_spool *s, const void *body, size_t len, uint32_t samples,
                  uint64_t *dropped)
{
    uint8_t h[REC_HDR];
    struct iovec iov[2] = { { h, REC_HDR }, { (void *)(uintptr_t)body, len } };
    struct seg *g;
    int rc;

    if (len > MAX_RECORD)
        return km_err_set(KM_ELIMIT, "a %zu-byte request is too large to spool", len);
    if (!s->nsegs || s->segs[s->nsegs - 1].end + REC_HDR + len > s->seg_max) {
        uint64_t seq = s->nsegs ? s->segs[s->nsegs - 1].seq + 1 : 1;

        rc = add_seg(s, seq);
        if (rc == 0)
            rc = open_writer(s, true);
        if (rc)
            return rc;
    }
    /* Keep within the bound: oldest segments go first, never the one being written. */
    while (s->bytes + REC_HDR + len > s->max && s->nsegs > 1) {
        km_log_warn(LOG, "spool full (%llu bytes): dropping its oldest %llu samples",
                    (unsigned long long)s->bytes, (unsigned long long)s->segs[0].samples);
        drop_oldest(s, dropped);
    }
    g = &s->segs[s->nsegs - 1];
    put32(h, (uint32_t)len);
    put32(h + 4, samples);
    put32(h + 8, checksum(body, len, samples));
    if (writev(s->wfd, iov, 2) != (ssize_t)(REC_HDR + len) || fsync(s->wfd) != 0) {
        rc = km_err_set_errno(KM_EIO, errno, "writing the spool in %s", s->dir);
        /* Cut anything partial so the segment stays readable. */
        if (ftruncate(s->wfd, (off_t)g->end) == 0)
            lseek(s->wfd, (off_t)g->end, SEEK_SET);
        return rc;
    }
    g->end += REC_HDR + len;
    g->unread++;
    g->samples += samples;
    s->bytes += REC_HDR + len;
    s->requests++;
    s->samples += samples;
    return 0;
}

/* ---- delivery ---------------------------------------------------------------------------- */

/* The oldest segment is used up: delete it, or if it is the newest, empty it. */
static void retire_oldest(struct km_spool *s)
{
    if (s->nsegs > 1) {
        drop_oldest(s, NULL);
        return;
    }
    if (ftruncate(s->wfd, HDR) == 0 && lseek(s->wfd, HDR, SEEK_SET) == HDR) {
        s->bytes -= s->segs[0].end - HDR;
        s->segs[0].end = HDR;
    }
    s->roff = HDR;
}

int km_spool_peek(struct km_spool *s, struct km_buf *out, uint32_t *samples, uint64_t *dropped)
{
    while (s->requests) {
        struct seg *g = &s->segs[0];
        uint8_t h[REC_HDR];
        uint32_t len;
        int rc;

        if (s->roff >= g->end) {
            retire_oldest(s);
            continue;
        }
        if (s->rfd < 0 || s->rseq != g->seq) {
            char path[PATH_MAX];

            if (s->rfd >= 0)
                close(s->rfd);
            seg_path(s, g->seq, path, sizeof(path));
            s->rfd = open(path, O_RDONLY | O_CLOEXEC);
            if (s->rfd < 0)
                return km_err_set_errno(KM_EIO, errno, "opening %s", path);
            s->rseq = g->seq;
        }
        if (pread(s->rfd, h, REC_HDR, (off_t)s->roff) != REC_HDR)
            goto damaged;
        len = get32(h);
        *samples = get32(h + 4);
        if (len > MAX_RECORD || s->roff + REC_HDR + len > g->end)
            goto damaged;
        km_buf_reset(out);
        rc = km_buf_reserve(out, len);
        if (rc)
            return rc;
        if (pread(s->rfd, out->data, len, (off_t)(s->roff + REC_HDR)) != (ssize_t)len ||
            checksum(out->data, len, *samples) != get32(h + 8))
            goto damaged;
        out->len = len;
        return 0;

    damaged:
        /* Changed under us (disk error, someone else's hands): give up this segment. */
        km_log_error(LOG,
                     "spool segment %016llu is damaged at byte %llu: its remaining %llu "
                     "requests are dropped",
                     (unsigned long long)g->seq, (unsigned long long)s->roff,
                     (unsigned long long)g->unread);
        if (dropped)
            *dropped += g->samples;
        s->requests -= g->unread;
        s->samples -= g->samples;
        g->unread = g->samples = 0;
        s->roff = g->end;
    }
    return KM_ENOTFOUND;
}

int km_spool_pop(struct km_spool *s)
{
    struct seg *g;
    uint8_t h[REC_HDR];

    if (!s->requests)
        return KM_ENOTFOUND;
    g = &s->segs[0];
    if (s->rfd < 0 || pread(s->rfd, h, REC_HDR, (off_t)s->roff) != REC_HDR)
        return km_err_set(KM_EINVAL, "km_spool_pop() without a km_spool_peek()");
    s->roff += REC_HDR + get32(h);
    g->unread--;
    g->samples -= get32(h + 4);
    s->requests--;
    s->samples -= get32(h + 4);
    if (s->roff >= g->end)
        retire_oldest(s);
    write_cursor(s);
    return 0;
}

void km_spool_stats(const struct km_spool *s, struct km_spool_stats *st)
{
    st->bytes = s->bytes;
    st->requests = s->requests;
    st->samples = s->samples;
}
