/*
 * tailer — following the kubelet's container log files (see tailer.h).
 *
 * Offsets are of the uncompressed text. Per file:
 *   off_read   bytes taken from the file (the incomplete last line waits in `carry`)
 *   off_lines  end of the last complete physical line handled
 *   off_batch  the safe offset when the last batch was cut: every line before it is in
 *              that batch or an earlier one (a line still being joined — partial or
 *              multiline — holds it back to the start of its first physical line)
 *   off_acked  off_batch of the last acknowledged batch: what is checkpointed
 * A restart resumes at off_acked; lines of the other stream between a held-back
 * record's start and off_lines are sent again then, as exact duplicates the store
 * drops.
 */
#include "agent/logs/tailer.h"

#include "agent/logs/logline.h"
#include "agent/logs/positions.h"
#include "common/array.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/regex.h"
#include "common/timefmt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define LOG          "logs"
#define READ_CHUNK   (256u * 1024)
#define PHYS_SLACK   (64u * 1024) /* a physical line may exceed max_line by this much */
#define NAME_MAX_LEN 256
#define LIVE_ROT     INT64_MAX

enum { FMT_UNKNOWN, FMT_CRI, FMT_DOCKER };

struct rec {
    struct km_buf text;
    int64_t ts;
    uint64_t start; /* offset of its first physical line */
    uint32_t piece; /* pieces of a split line sent so far */
    bool on;
    int64_t touched_ns; /* monotonic */
};

struct lcont;

struct lfile {
    struct lcont *c;
    char name[NAME_MAX_LEN];
    uint64_t dev, ino;
    int fd;
    gzFile gz;
    bool is_gz, alias, done, present, unlinked;
    struct lfile *orig; /* alias: the plain file this is the gzipped copy of */
    long restart;
    int64_t rot; /* rotation time as YYYYMMDDhhmmss; LIVE_ROT for <n>.log */
    int fmt;
    uint64_t off_read, off_lines, off_batch, off_acked, size;
    int64_t mtime_ns;
    uint32_t fp_len;
    uint64_t fp;
    struct km_buf carry;
    struct rec part[2], ml[2];
    bool in_long, skip_nl, long_partial;
    int long_stream;
    int64_t long_ts;
};

struct lcont {
    char *rel; /* <ns>_<pod>_<uid>/<container> */
    char ns[256], pod[256], container[256], uid[128];
    char wkind[KM_TAILER_WORKLOAD_MAX], wname[KM_TAILER_WORKLOAD_MAX];
    bool wknown;       /* the lookup answered: the labels are final */
    int64_t wretry_ns; /* the next lookup while not known */
    struct km_label lab[2][8];
    size_t nlab;
    struct lfile **f;
    size_t nf, capf;
    const struct km_regex *ml;
    bool present;
    long bidx[2];
    uint64_t bgen;
};

struct rule {
    char *ns, *container; /* NULL: any */
    struct km_regex *re;
};

struct bent {
    size_t s;
    int64_t ts;
    size_t off, len;
};

struct bstream {
    struct lcont *c;
    int stream;
    size_t n, first;
};

struct km_tailer {
    struct km_tailer_opts o;
    char *pods_dir, *state_dir, *cluster, *node;
    pthread_mutex_t mu;
    struct lcont **c; /* sorted by rel */
    size_t nc, capc, rr;
    struct rule rules[KM_TAILER_RULES_MAX];
    size_t nrules;
    struct km_logpos *saved;
    size_t nsaved;
    bool scanned;
    /* The batch. */
    uint64_t bgen;
    struct km_buf btext;
    struct bent *be;
    size_t nbe, capbe;
    struct bstream *bs;
    size_t nbs, capbs;
    struct km_log_push_stream *out;
    struct km_log_entry *oute;
    size_t capout, capoute;
    uint64_t batch_lines, batch_bytes;
    bool batch_out;
    /* Scratch. */
    struct km_buf rbuf, dscratch;
    char *fpbuf;
    struct km_tailer_stats st;
};

/* ---- small helpers -------------------------------------------------------------------- */

static void rec_init(struct rec *r, size_t cap)
{
    km_buf_init(&r->text, cap);
    r->on = false;
}

static void rec_reset(struct rec *r)
{
    km_buf_reset(&r->text);
    r->on = false;
}

static int64_t mono_ns(void)
{
    return km_time_mono_ns();
}

/* <n>.log, <n>.log.<YYYYMMDD-hhmmss>, <n>.log.<YYYYMMDD-hhmmss>.gz */
static bool parse_name(const char *s, long *restart, int64_t *rot, bool *gz)
{
    char *end;
    int64_t r = 0;

    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    *restart = strtol(s, &end, 10);
    if (errno || strncmp(end, ".log", 4) != 0)
        return false;
    end += 4;
    if (!*end) {
        *rot = LIVE_ROT;
        *gz = false;
        return true;
    }
    if (*end != '.')
        return false;
    end++;
    for (int i = 0; i < 15; i++, end++) {
        if (i == 8) {
            if (*end != '-')
                return false;
            continue;
        }
        if (*end < '0' || *end > '9')
            return false;
        r = r * 10 + (*end - '0');
    }
    *rot = r;
    if (!*end) {
        *gz = false;
        return true;
    }
    if (strcmp(end, ".gz") == 0) {
        *gz = true;
        return true;
    }
    return false;
}

static int file_order(const struct lfile *a, const struct lfile *b)
{
    if (a->restart != b->restart)
        return a->restart < b->restart ? -1 : 1;
    if (a->rot != b->rot)
        return a->rot < b->rot ? -1 : 1;
    return (int)a->is_gz - (int)b->is_gz;
}

static int cmp_files(const void *x, const void *y)
{
    return file_order(*(struct lfile *const *)x, *(struct lfile *const *)y);
}

static uint64_t safe_off(const struct lfile *f)
{
    uint64_t o = f->off_lines;

    for (int s = 0; s < 2; s++) {
        if (f->part[s].on && f->part[s].start < o)
            o = f->part[s].start;
        if (f->ml[s].on && f->ml[s].start < o)
            o = f->ml[s].start;
    }
    return o;
}

static uint64_t held_bytes(const struct lfile *f)
{
    return f->carry.len + f->part[0].text.len + f->part[1].text.len + f->ml[0].text.len +
           f->ml[1].text.len;
}

/* ---- the batch ------------------------------------------------------------------------ */

static void emit(struct km_tailer *t, struct lfile *f, int s, int64_t ts, const char *p, size_t n,
                 bool mark)
{
    struct lcont *c = f->c;
    size_t ml = mark ? sizeof(KM_TAILER_SPLIT_MARK) - 1 : 0;

    if (c->bgen != t->bgen) {
        c->bidx[0] = c->bidx[1] = -1;
        c->bgen = t->bgen;
    }
    if (c->bidx[s] < 0) {
        if (km_array_grow((void **)&t->bs, &t->capbs, t->nbs + 1, sizeof(*t->bs), 16,
                          "for a log batch") != 0)
            goto out_drop;
        t->bs[t->nbs] = (struct bstream){ c, s, 0, 0 };
        c->bidx[s] = (long)t->nbs++;
    }
    if (km_array_grow((void **)&t->be, &t->capbe, t->nbe + 1, sizeof(*t->be), 256,
                      "for a log batch") != 0)
        goto out_drop;
    t->be[t->nbe] = (struct bent){ (size_t)c->bidx[s], ts, t->btext.len, n + ml };
    km_buf_append(&t->btext, p, n);
    if (mark)
        km_buf_append(&t->btext, KM_TAILER_SPLIT_MARK, ml);
    if (km_buf_error(&t->btext)) {
        t->btext.len = t->be[t->nbe].off;
        t->btext.err = 0;
        goto out_drop;
    }
    t->nbe++;
    t->bs[c->bidx[s]].n++;
    t->batch_lines++;
    t->batch_bytes += n + ml;
    t->st.lines_read++;
    return;
out_drop:
    /* Only when memory runs out: the caps keep the batch below its buffer's bound. */
    t->st.drop_too_long++;
    t->st.bytes_drop_too_long += n;
}

/* ---- the two stages --------------------------------------------------------------------- */

static void flush_ml(struct km_tailer *t, struct lfile *f, int s)
{
    struct rec *m = &f->ml[s];

    if (!m->on)
        return;
    emit(t, f, s, m->ts, m->text.data ? m->text.data : "", m->text.len, false);
    rec_reset(m);
}

static void stage2(struct km_tailer *t, struct lfile *f, int s, int64_t ts, const char *p, size_t n,
                   uint64_t start)
{
    struct rec *m = &f->ml[s];

    if (!f->c->ml) {
        emit(t, f, s, ts, p, n, false);
        return;
    }
    if (m->on && !km_regex_match(f->c->ml, p, n) && m->text.len + 1 + n <= t->o.max_line) {
        km_buf_putc(&m->text, '\n');
        km_buf_append(&m->text, p, n);
        m->touched_ns = mono_ns();
        return;
    }
    flush_ml(t, f, s);
    m->on = true;
    m->ts = ts;
    m->start = start;
    m->touched_ns = mono_ns();
    km_buf_append(&m->text, p, n);
}

/* The longest cut of p[0..n) at most `room` bytes that does not split a UTF-8 sequence
 * (when that leaves nothing, `room` itself). */
static size_t utf8_cut(const char *p, size_t n, size_t room)
{
    size_t cut = room < n ? room : n;

    while (cut > 0 && cut < n && ((unsigned char)p[cut] & 0xC0) == 0x80 && room - cut < 4)
        cut--;
    return cut ? cut : (room < n ? room : n);
}

/* Stage 1: join partial lines of stream s. Past max_line, the first max_line − mark
 * bytes (at a UTF-8 boundary) go out as a piece ending with the mark, so no line sent is
 * longer than max_line. */
static void feed(struct km_tailer *t, struct lfile *f, int s, int64_t ts, const char *p, size_t n,
                 bool partial, uint64_t start)
{
    const size_t ml = sizeof(KM_TAILER_SPLIT_MARK) - 1, pmax = t->o.max_line - ml;
    struct rec *r = &f->part[s];

    if (!r->on) {
        if (!partial && n <= t->o.max_line) {
            stage2(t, f, s, ts, p, n, start);
            return;
        }
        r->on = true;
        r->ts = ts;
        r->start = start;
        r->piece = 0;
    }
    while (r->text.len + n > t->o.max_line) {
        size_t k;

        if (r->text.len < pmax) {
            size_t cut = utf8_cut(p, n, pmax - r->text.len);

            km_buf_append(&r->text, p, cut);
            p += cut;
            n -= cut;
        }
        k = utf8_cut(r->text.data, r->text.len, pmax);
        flush_ml(t, f, s);
        emit(t, f, s, r->ts + r->piece, r->text.data, k, true);
        r->piece++;
        t->st.lines_split++;
        memmove(r->text.data, r->text.data + k, r->text.len - k);
        r->text.len -= k;
    }
    km_buf_append(&r->text, p, n);
    if (!partial) {
        stage2(t, f, s, r->ts + r->piece, r->text.data ? r->text.data : "", r->text.len, r->start);
        rec_reset(r);
    }
}

static void drop_malformed(struct km_tailer *t, struct lfile *f, size_t n)
{
    t->st.drop_malformed++;
    t->st.bytes_drop_malformed += n;
    (void)f;
}

/* One physical line p[0..n) (without "\n") spanning [start, end) of the file. */
static void physical_line(struct km_tailer *t, struct lfile *f, const char *p, size_t n,
                          uint64_t start, uint64_t end)
{
    struct km_logline l;
    int rc;

    if (f->skip_nl) {
        f->skip_nl = false;
        f->off_lines = end;
        return;
    }
    if (f->in_long) {
        f->in_long = false;
        feed(t, f, f->long_stream, f->long_ts, p, n, f->long_partial,
             f->part[f->long_stream].start);
        f->off_lines = end;
        return;
    }
    if (f->fmt == FMT_UNKNOWN && n)
        f->fmt = p[0] == '{' ? FMT_DOCKER : FMT_CRI;
    if (f->fmt == FMT_DOCKER)
        rc = km_logline_parse_docker(p, n, &t->dscratch, &l);
    else
        rc = km_logline_parse_cri(p, n, &l);
    if (rc == 0)
        feed(t, f, l.stream, l.ts_ns, l.text, l.len, l.partial, start);
    else if (rc == KM_ELIMIT) {
        t->st.drop_too_long++;
        t->st.bytes_drop_too_long += n;
    } else
        drop_malformed(t, f, n);
    f->off_lines = end;
}

/* The incomplete end of what was read, p[0..n) at offset base: kept for the next read,
 * or, past the physical line bound, handled now in pieces. */
static void leftover(struct km_tailer *t, struct lfile *f, const char *p, size_t n)
{
    struct km_logline l;

    if (f->skip_nl) {
        t->st.bytes_drop_too_long += n;
        return;
    }
    if (f->in_long) {
        feed(t, f, f->long_stream, f->long_ts, p, n, true, 0);
        return;
    }
    if (n <= t->o.max_line + PHYS_SLACK) {
        km_buf_append(&f->carry, p, n);
        return;
    }
    /* A physical line longer than max_line: a CRI line is joined and cut like partials
     * (its rest follows without a header); a Docker line cannot be cut inside its JSON
     * and is dropped. */
    if (f->fmt != FMT_DOCKER && p[0] != '{' && km_logline_parse_cri(p, n, &l) == 0) {
        f->in_long = true;
        f->long_stream = l.stream;
        f->long_ts = l.ts_ns;
        f->long_partial = l.partial;
        feed(t, f, l.stream, l.ts_ns, l.text, l.len, true, f->off_read - n);
        return;
    }
    f->skip_nl = true;
    t->st.drop_too_long++;
    t->st.bytes_drop_too_long += n;
}

static void consume(struct km_tailer *t, struct lfile *f, const char *p, size_t n, uint64_t base)
{
    size_t i = 0;

    while (i < n) {
        const char *nl = memchr(p + i, '\n', n - i);
        size_t e;

        if (!nl)
            break;
        e = (size_t)(nl - p);
        physical_line(t, f, p + i, e - i, base + i, base + e + 1);
        i = e + 1;
    }
    if (i < n)
        leftover(t, f, p + i, n - i);
}

/* ---- files ------------------------------------------------------------------------------- */

static void file_close_fds(struct lfile *f)
{
    if (f->gz) {
        gzclose(f->gz);
        f->gz = NULL;
    }
    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
}

static void file_free(struct lfile *f)
{
    if (!f)
        return;
    file_close_fds(f);
    km_buf_fini(&f->carry);
    for (int s = 0; s < 2; s++) {
        km_buf_fini(&f->part[s].text);
        km_buf_fini(&f->ml[s].text);
    }
    free(f);
}

/* The first up-to-KM_LOGPOS_FP_MAX uncompressed bytes of a file into t->fpbuf. */
static size_t read_head(struct km_tailer *t, struct lfile *f, const char *path)
{
    size_t got = 0;

    if (f->is_gz) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        gzFile g = fd >= 0 ? gzdopen(fd, "rb") : NULL;
        int r;

        if (!g) {
            if (fd >= 0)
                close(fd);
            return 0;
        }
        r = gzread(g, t->fpbuf, KM_LOGPOS_FP_MAX);
        got = r > 0 ? (size_t)r : 0;
        gzclose(g);
        return got;
    }
    while (got < KM_LOGPOS_FP_MAX) {
        ssize_t r = pread(f->fd, t->fpbuf + got, KM_LOGPOS_FP_MAX - got, (off_t)got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    return got;
}

/* Position a new file: at a saved position when one is its own, else at its start. */
static void place_new(struct km_tailer *t, struct lfile *f, const char *head, size_t hlen)
{
    size_t plen = strlen(f->c->rel);

    for (size_t i = 0; i < t->nsaved; i++) {
        struct km_logpos *e = &t->saved[i];
        bool same_inode = e->dev == f->dev && e->ino == f->ino;

        if (e->used || strncmp(e->path, f->c->rel, plen) != 0 || e->path[plen] != '/')
            continue;
        if (e->fp_len > hlen || km_logpos_hash(head, e->fp_len) != e->fp)
            continue;
        if (!same_inode && !f->is_gz)
            continue; /* plain files are known by their inode; only a gzipped copy moves */
        if (!same_inode && e->fp_len == 0)
            continue;
        e->used = true;
        f->off_read = f->off_lines = f->off_batch = f->off_acked = e->off;
        f->done = e->done;
        if (f->is_gz && !f->done && e->off && gzseek(f->gz, (z_off_t)e->off, SEEK_SET) < 0) {
            km_log_warn(LOG, "%s/%s: cannot seek to %llu in the compressed file; reading it whole",
                        f->c->rel, f->name, (unsigned long long)e->off);
            f->off_read = f->off_lines = f->off_batch = f->off_acked = 0;
            gzrewind(f->gz);
        }
        return;
    }
}

/* A new gzipped file may be the compressed copy of a plain file still followed. */
static struct lfile *find_original(struct lcont *c, const struct lfile *g, const char *head,
                                   size_t hlen)
{
    char buf[KM_LOGPOS_FP_MAX];

    if (!hlen)
        return NULL;
    for (size_t i = 0; i < c->nf; i++) {
        struct lfile *o = c->f[i];
        ssize_t r;

        if (o == g || o->is_gz || o->alias || o->fd < 0 || o->restart != g->restart ||
            o->rot == LIVE_ROT)
            continue;
        r = pread(o->fd, buf, hlen, 0);
        if (r == (ssize_t)hlen && memcmp(buf, head, hlen) == 0)
            return o;
    }
    return NULL;
}

static int add_file(struct km_tailer *t, struct lcont *c, const char *dir, const char *name,
                    long restart, int64_t rot, bool gz)
{
    char path[8192];
    struct lfile *f;
    struct stat sb;
    size_t hlen;
    int rc;

    if (c->nf >= KM_TAILER_FILES_PER_C)
        return 0; /* a container with that many files is not the kubelet's */
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
        return 0;
    f = calloc(1, sizeof(*f));
    if (!f)
        return km_err_set(KM_ENOMEM, "out of memory following %s", path);
    f->c = c;
    f->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (f->fd < 0 || fstat(f->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        file_free(f);
        return 0; /* gone already, or not a file */
    }
    snprintf(f->name, sizeof(f->name), "%s", name);
    f->dev = (uint64_t)sb.st_dev;
    f->ino = (uint64_t)sb.st_ino;
    f->size = (uint64_t)sb.st_size;
    f->restart = restart;
    f->rot = rot;
    f->is_gz = gz;
    f->present = true;
    km_buf_init(&f->carry, t->o.max_line + PHYS_SLACK + 1);
    for (int s = 0; s < 2; s++) {
        rec_init(&f->part[s], t->o.max_line + 1);
        rec_init(&f->ml[s], t->o.max_line + 1);
    }
    if (gz) {
        int fd2 = dup(f->fd);

        f->gz = fd2 >= 0 ? gzdopen(fd2, "rb") : NULL;
        if (!f->gz) {
            if (fd2 >= 0)
                close(fd2);
            file_free(f);
            return 0;
        }
        gzbuffer(f->gz, 128 * 1024);
    }
    hlen = read_head(t, f, path);
    f->fp_len = (uint32_t)hlen;
    f->fp = km_logpos_hash(t->fpbuf, hlen);
    if (gz) {
        struct lfile *o = find_original(c, f, t->fpbuf, hlen);

        if (o) {
            f->alias = true;
            f->orig = o;
            f->done = true;
        }
    }
    if (!f->alias)
        place_new(t, f, t->fpbuf, hlen);
    rc = km_array_grow((void **)&c->f, &c->capf, c->nf + 1, sizeof(*c->f), 4, "following logs");
    if (rc) {
        file_free(f);
        return rc;
    }
    c->f[c->nf++] = f;
    km_sort(c->f, c->nf, sizeof(*c->f), cmp_files);
    return 0;
}

/* Plain files first, then gzipped ones: a gzipped copy is recognised against its
 * plain original only once that is known. */
static void scan_container(struct km_tailer *t, struct lcont *c, const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    for (size_t i = 0; i < c->nf; i++)
        c->f[i]->present = false;
    if (!d)
        return;
    for (int pass = 0; pass < 2; pass++) {
        if (pass)
            rewinddir(d);
        while ((de = readdir(d)) != NULL) {
            long restart;
            int64_t rot;
            bool gz, known = false;
            struct stat sb;

            if (!parse_name(de->d_name, &restart, &rot, &gz) ||
                strlen(de->d_name) >= NAME_MAX_LEN || gz != (pass == 1))
                continue;
            if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
                !S_ISREG(sb.st_mode))
                continue;
            for (size_t i = 0; i < c->nf; i++) {
                struct lfile *f = c->f[i];

                if (f->dev == (uint64_t)sb.st_dev && f->ino == (uint64_t)sb.st_ino) {
                    if (strcmp(f->name, de->d_name) != 0) {
                        snprintf(f->name, sizeof(f->name), "%s", de->d_name);
                        f->restart = restart;
                        f->rot = rot;
                    }
                    f->present = true;
                    known = true;
                    break;
                }
            }
            if (!known && add_file(t, c, dir, de->d_name, restart, rot, gz) != 0)
                km_log_warn(LOG, "%s", km_err_msg());
        }
    }
    closedir(d);
    km_sort(c->f, c->nf, sizeof(*c->f), cmp_files);
}

/* ---- containers -------------------------------------------------------------------- */

static const struct km_regex *rule_for(struct km_tailer *t, const char *ns, const char *container)
{
    for (size_t i = 0; i < t->nrules; i++) {
        const struct rule *r = &t->rules[i];

        if ((!r->ns || strcmp(r->ns, ns) == 0) &&
            (!r->container || strcmp(r->container, container) == 0))
            return r->re;
    }
    return NULL;
}

static int cmp_rel(const void *key, const void *elem)
{
    return strcmp(key, (*(struct lcont *const *)elem)->rel);
}

static struct lcont *find_container(struct km_tailer *t, const char *rel, size_t *pos)
{
    size_t lo = 0, hi = t->nc;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = cmp_rel(rel, &t->c[mid]);

        if (c == 0)
            return t->c[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    *pos = lo;
    return NULL;
}

static void set_labels(struct km_tailer *t, struct lcont *c)
{
    static const char *const streams[2] = { "stdout", "stderr" };

    for (int s = 0; s < 2; s++) {
        c->lab[s][0] = (struct km_label){ "cluster", t->cluster };
        c->lab[s][1] = (struct km_label){ "container", c->container };
        c->lab[s][2] = (struct km_label){ "namespace", c->ns };
        c->lab[s][3] = (struct km_label){ "node", t->node };
        c->lab[s][4] = (struct km_label){ "pod", c->pod };
        c->lab[s][5] = (struct km_label){ "stream", streams[s] };
        c->lab[s][6] = (struct km_label){ "workload", c->wname };
        c->lab[s][7] = (struct km_label){ "workload_kind", c->wkind };
    }
    c->nlab = c->wname[0] && c->wkind[0] ? 8 : 6;
}

/* Ask for the container's workload while its pod is not known, at most every
 * KM_TAILER_WORKLOAD_RETRY_MS, and never while a batch (which borrows the labels) is
 * out. */
static void lookup_workload(struct km_tailer *t, struct lcont *c)
{
    int64_t now;
    int rc;

    if (c->wknown || !t->o.workload || t->batch_out)
        return;
    now = mono_ns();
    if (now < c->wretry_ns)
        return;
    if (!c->uid[0]) {
        c->wknown = true; /* nothing to look up by */
        return;
    }
    rc = t->o.workload(t->o.workload_ud, c->uid, c->wkind, c->wname);
    if (rc < 0) {
        c->wkind[0] = c->wname[0] = '\0';
        c->wretry_ns = now + KM_TAILER_WORKLOAD_RETRY_MS * 1000000ll;
        return;
    }
    if (rc == 0)
        c->wkind[0] = c->wname[0] = '\0';
    c->wkind[KM_TAILER_WORKLOAD_MAX - 1] = c->wname[KM_TAILER_WORKLOAD_MAX - 1] = '\0';
    c->wknown = true;
    set_labels(t, c);
}

static struct lcont *add_container(struct km_tailer *t, const char *poddir, const char *container,
                                   size_t pos)
{
    struct lcont *c;
    const char *u1 = strchr(poddir, '_'), *u2 = u1 ? strchr(u1 + 1, '_') : NULL;
    size_t rl = strlen(poddir) + strlen(container) + 2;

    if (!u1 || !u2 || strchr(u2 + 1, '_') || u1 == poddir || u2 == u1 + 1 || !u2[1] ||
        (size_t)(u1 - poddir) >= sizeof(c->ns) || (size_t)(u2 - u1 - 1) >= sizeof(c->pod) ||
        strlen(container) >= sizeof(c->container) || t->nc >= KM_TAILER_CONTAINERS_MAX)
        return NULL;
    if (km_array_grow((void **)&t->c, &t->capc, t->nc + 1, sizeof(*t->c), 64, "following logs") !=
        0)
        return NULL;
    c = calloc(1, sizeof(*c));
    if (!c || !(c->rel = malloc(rl))) {
        free(c);
        return NULL;
    }
    snprintf(c->rel, rl, "%s/%s", poddir, container);
    memcpy(c->ns, poddir, (size_t)(u1 - poddir));
    memcpy(c->pod, u1 + 1, (size_t)(u2 - u1 - 1));
    snprintf(c->container, sizeof(c->container), "%s", container);
    if (strlen(u2 + 1) < sizeof(c->uid))
        memcpy(c->uid, u2 + 1, strlen(u2 + 1) + 1);
    c->ml = rule_for(t, c->ns, c->container);
    c->bidx[0] = c->bidx[1] = -1;
    set_labels(t, c);
    memmove(t->c + pos + 1, t->c + pos, (t->nc - pos) * sizeof(*t->c));
    t->c[pos] = c;
    t->nc++;
    return c;
}

static void container_free(struct lcont *c)
{
    for (size_t i = 0; i < c->nf; i++)
        file_free(c->f[i]);
    free(c->f);
    free(c->rel);
    free(c);
}

/* Drop finished, acknowledged files whose names are gone; then empty, gone
 * containers. */
static void forget(struct km_tailer *t)
{
    size_t w = 0;

    for (size_t i = 0; i < t->nc; i++) {
        struct lcont *c = t->c[i];
        size_t k = 0;

        for (size_t j = 0; j < c->nf; j++) {
            struct lfile *f = c->f[j];
            bool acked = f->alias || (f->done && f->off_acked >= safe_off(f));

            if (!f->present && f->done && acked) {
                for (size_t q = 0; q < c->nf; q++) {
                    if (c->f[q]->orig == f) {
                        c->f[q]->orig = NULL;
                        c->f[q]->off_acked = f->off_acked;
                    }
                }
                file_free(f);
                continue;
            }
            c->f[k++] = f;
        }
        c->nf = k;
        if (!c->present && c->nf == 0) {
            container_free(c);
            continue;
        }
        t->c[w++] = c;
    }
    t->nc = w;
    if (t->rr >= t->nc)
        t->rr = 0;
}

int km_tailer_scan(struct km_tailer *t)
{
    DIR *d;
    struct dirent *de;
    char dir[8192];

    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < t->nc; i++) {
        t->c[i]->present = false;
        for (size_t j = 0; j < t->c[i]->nf; j++)
            t->c[i]->f[j]->present = false;
    }
    d = opendir(t->pods_dir);
    while (d && (de = readdir(d)) != NULL) {
        DIR *pd;
        struct dirent *ce;

        if (de->d_name[0] == '.')
            continue;
        if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", t->pods_dir, de->d_name) >= sizeof(dir))
            continue;
        pd = opendir(dir);
        while (pd && (ce = readdir(pd)) != NULL) {
            char rel[1024], cdir[8192];
            struct lcont *c;
            size_t pos = 0;
            struct stat sb;

            if (ce->d_name[0] == '.')
                continue;
            if (fstatat(dirfd(pd), ce->d_name, &sb, 0) != 0 || !S_ISDIR(sb.st_mode))
                continue;
            if ((size_t)snprintf(rel, sizeof(rel), "%s/%s", de->d_name, ce->d_name) >= sizeof(rel))
                continue;
            c = find_container(t, rel, &pos);
            if (!c)
                c = add_container(t, de->d_name, ce->d_name, pos);
            if (!c)
                continue;
            c->present = true;
            lookup_workload(t, c);
            if ((size_t)snprintf(cdir, sizeof(cdir), "%s/%s", dir, ce->d_name) < sizeof(cdir))
                scan_container(t, c, cdir);
        }
        if (pd)
            closedir(pd);
    }
    if (d)
        closedir(d);
    forget(t);
    if (!t->scanned) {
        for (size_t i = 0; i < t->nsaved; i++) {
            if (!t->saved[i].used && !t->saved[i].done) {
                t->st.drop_lost_files++;
                km_log_warn(LOG,
                            "%s: not found after the restart (rotated away while the agent was "
                            "down?): the lines after offset %llu are lost",
                            t->saved[i].path, (unsigned long long)t->saved[i].off);
            }
        }
        km_logpos_free(t->saved, t->nsaved);
        t->saved = NULL;
        t->nsaved = 0;
        t->scanned = true;
    }
    pthread_mutex_unlock(&t->mu);
    return 0;
}

/* ---- reading ----------------------------------------------------------------------------- */

static struct lfile *active_file(struct lcont *c, size_t *idx)
{
    for (size_t i = 0; i < c->nf; i++) {
        if (!c->f[i]->done && !c->f[i]->alias) {
            *idx = i;
            return c->f[i];
        }
    }
    return NULL;
}

/* Finish a file: its last incomplete line and the records it holds are sent. */
static void finish(struct km_tailer *t, struct lfile *f)
{
    if (f->carry.len) {
        struct km_buf b = f->carry;

        km_buf_init(&f->carry, b.max);
        physical_line(t, f, b.data, b.len, f->off_read - b.len, f->off_read);
        km_buf_fini(&b);
    }
    f->in_long = f->skip_nl = false;
    for (int s = 0; s < 2; s++) {
        if (f->part[s].on) {
            stage2(t, f, s, f->part[s].ts + f->part[s].piece,
                   f->part[s].text.data ? f->part[s].text.data : "", f->part[s].text.len,
                   f->part[s].start);
            rec_reset(&f->part[s]);
        }
        flush_ml(t, f, s);
    }
    f->off_lines = f->off_read;
    f->done = true;
    /* A plain file keeps its descriptor until its name is gone: the gzipped copy the
     * kubelet makes of it later is recognised by comparing their first bytes. */
    if (f->gz) {
        gzclose(f->gz);
        f->gz = NULL;
    }
}

static void truncated(struct km_tailer *t, struct lfile *f)
{
    km_log_info(LOG, "%s/%s was truncated: reading it again from its start", f->c->rel, f->name);
    t->st.truncations++;
    km_buf_reset(&f->carry);
    for (int s = 0; s < 2; s++) {
        rec_reset(&f->part[s]);
        rec_reset(&f->ml[s]);
    }
    f->in_long = f->skip_nl = false;
    f->off_read = f->off_lines = f->off_batch = f->off_acked = 0;
    f->fp_len = 0;
    f->fp = km_logpos_hash("", 0);
    f->fmt = FMT_UNKNOWN;
}

/* Read up to `want` bytes of f and handle its lines. Returns the bytes read; sets
 * *finished when the file is done. */
static size_t read_some(struct km_tailer *t, struct lfile *f, size_t want, bool is_last,
                        bool *finished)
{
    size_t total = 0;

    *finished = false;
    while (total < want) {
        size_t chunk = want - total < READ_CHUNK ? want - total : READ_CHUNK, carry = f->carry.len;
        ssize_t r;

        km_buf_reset(&t->rbuf);
        if (km_buf_reserve(&t->rbuf, carry + chunk) != 0)
            break;
        if (carry)
            memcpy(t->rbuf.data, f->carry.data, carry);
        km_buf_reset(&f->carry);
        if (f->gz) {
            r = gzread(f->gz, t->rbuf.data + carry, (unsigned)chunk);
        } else {
            do
                r = pread(f->fd, t->rbuf.data + carry, chunk, (off_t)f->off_read);
            while (r < 0 && errno == EINTR);
        }
        if (r < 0) {
            km_log_warn(LOG, "reading %s/%s: %s", f->c->rel, f->name, strerror(errno));
            r = 0;
        }
        f->off_read += (uint64_t)r;
        t->st.bytes_read += (uint64_t)r;
        total += (size_t)r;
        consume(t, f, t->rbuf.data, carry + (size_t)r, f->off_read - carry - (uint64_t)r);
        if (r == 0)
            break;
    }
    if (total < want) {
        /* At the end of what is there: truncated? finished? */
        struct stat sb;
        int64_t now = km_time_now_ns();

        if (f->gz) {
            f->size = f->off_read;
            finish(t, f);
            *finished = true;
            return total;
        }
        if (fstat(f->fd, &sb) != 0)
            return total;
        f->size = (uint64_t)sb.st_size;
        f->unlinked = sb.st_nlink == 0;
        f->mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
        if ((uint64_t)sb.st_size < f->off_read) {
            truncated(t, f);
            return total;
        }
        if ((uint64_t)sb.st_size == f->off_read && (!is_last || f->unlinked) &&
            now - f->mtime_ns > t->o.rotate_grace_ms * 1000000) {
            finish(t, f);
            *finished = true;
        }
    }
    return total;
}

static void flush_idle(struct km_tailer *t)
{
    int64_t now = mono_ns();

    for (size_t i = 0; i < t->nc; i++) {
        struct lcont *c = t->c[i];

        if (!c->ml)
            continue;
        for (size_t j = 0; j < c->nf; j++) {
            for (int s = 0; s < 2; s++) {
                struct rec *m = &c->f[j]->ml[s];

                if (m->on && now - m->touched_ns > t->o.multiline_flush_ms * 1000000)
                    flush_ml(t, c->f[j], s);
            }
        }
    }
}

static int build_batch(struct km_tailer *t)
{
    size_t pos = 0;

    if (km_array_grow((void **)&t->out, &t->capout, t->nbs ? t->nbs : 1, sizeof(*t->out), 16,
                      "for a log batch") != 0 ||
        km_array_grow((void **)&t->oute, &t->capoute, t->nbe ? t->nbe : 1, sizeof(*t->oute), 256,
                      "for a log batch") != 0)
        return KM_ENOMEM;
    for (size_t i = 0; i < t->nbs; i++) {
        t->bs[i].first = pos;
        pos += t->bs[i].n;
        t->bs[i].n = 0;
    }
    for (size_t i = 0; i < t->nbe; i++) {
        struct bstream *b = &t->bs[t->be[i].s];

        t->oute[b->first + b->n++] =
            (struct km_log_entry){ t->be[i].ts, t->btext.data + t->be[i].off, t->be[i].len };
    }
    for (size_t i = 0; i < t->nbs; i++) {
        struct bstream *b = &t->bs[i];

        t->out[i] = (struct km_log_push_stream){ b->c->lab[b->stream], b->c->nlab,
                                                 t->oute + b->first, b->n };
    }
    return 0;
}

int km_tailer_fill(struct km_tailer *t, const struct km_log_push_stream **st, size_t *n,
                   uint64_t *bytes)
{
    size_t budget, active = 0;
    uint64_t held = 0;
    int rc;

    pthread_mutex_lock(&t->mu);
    t->bgen++;
    km_buf_reset(&t->btext);
    t->nbe = t->nbs = 0;
    t->batch_lines = t->batch_bytes = 0;
    for (size_t i = 0; i < t->nc; i++) {
        size_t idx;

        active += active_file(t->c[i], &idx) != NULL;
        for (size_t j = 0; j < t->c[i]->nf; j++)
            held += held_bytes(t->c[i]->f[j]);
    }
    /* Each visit reads the container's share of a batch (at least 16 KiB, at most
     * stream_budget): with many busy containers, every one of them gets into each
     * batch. Visits go round-robin and resume where the last batch stopped. */
    budget = active ? t->o.batch_bytes / active : t->o.batch_bytes;
    if (budget < 16 * 1024)
        budget = 16 * 1024;
    if (budget > t->o.stream_budget)
        budget = t->o.stream_budget;
    for (int round = 0; t->nc && round < 1 << 16; round++) {
        bool any = false;

        for (size_t k = 0; k < t->nc && t->btext.len < t->o.batch_bytes; k++) {
            struct lcont *c = t->c[t->rr];
            size_t idx, left = t->o.batch_bytes - t->btext.len, got;
            struct lfile *f = active_file(c, &idx);
            bool finished;

            t->rr = (t->rr + 1) % t->nc;
            if (!f)
                continue;
            /* Over the memory bound: only files holding partial lines read on, so they
             * can complete them. */
            if (held > t->o.buffered_max && !f->part[0].on && !f->part[1].on && !f->in_long)
                continue;
            got = read_some(t, f, left < budget ? left : budget, idx + 1 == c->nf, &finished);
            if (got || finished)
                any = true;
        }
        if (!any || t->btext.len >= t->o.batch_bytes)
            break;
    }
    flush_idle(t);
    held = 0;
    for (size_t i = 0; i < t->nc; i++) {
        for (size_t j = 0; j < t->c[i]->nf; j++) {
            t->c[i]->f[j]->off_batch = safe_off(t->c[i]->f[j]);
            held += held_bytes(t->c[i]->f[j]);
        }
    }
    t->st.buffered_bytes = held;
    rc = build_batch(t);
    if (rc == 0) {
        *st = t->out;
        *n = t->nbs;
        *bytes = t->batch_bytes;
        t->batch_out = true;
    }
    pthread_mutex_unlock(&t->mu);
    return rc;
}

void km_tailer_ack(struct km_tailer *t, bool delivered)
{
    pthread_mutex_lock(&t->mu);
    if (!t->batch_out) {
        pthread_mutex_unlock(&t->mu);
        return;
    }
    for (size_t i = 0; i < t->nc; i++)
        for (size_t j = 0; j < t->c[i]->nf; j++)
            t->c[i]->f[j]->off_acked = t->c[i]->f[j]->off_batch;
    if (delivered) {
        t->st.lines_shipped += t->batch_lines;
        t->st.bytes_shipped += t->batch_bytes;
    } else {
        t->st.drop_rejected += t->batch_lines;
        t->st.bytes_drop_rejected += t->batch_bytes;
    }
    t->batch_out = false;
    pthread_mutex_unlock(&t->mu);
}

/* ---- checkpoint ---------------------------------------------------------------------- */

int km_tailer_checkpoint(struct km_tailer *t)
{
    struct km_logpos *v = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    if (!t->state_dir)
        return 0;
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < t->nc && rc == 0; i++) {
        struct lcont *c = t->c[i];

        for (size_t j = 0; j < c->nf; j++) {
            struct lfile *f = c->f[j];
            const struct lfile *src = f->alias && f->orig ? f->orig : f;
            struct km_logpos *e;
            size_t pl;

            /* A plain file's hash grows with it up to KM_LOGPOS_FP_MAX bytes. */
            if (!f->is_gz && f->fd >= 0 && f->fp_len < KM_LOGPOS_FP_MAX &&
                f->off_read > f->fp_len) {
                size_t h = read_head(t, f, NULL);

                f->fp_len = (uint32_t)h;
                f->fp = km_logpos_hash(t->fpbuf, h);
            }
            rc = km_array_grow((void **)&v, &cap, n + 1, sizeof(*v), 64, "checkpointing logs");
            if (rc)
                break;
            e = &v[n];
            pl = strlen(c->rel) + strlen(f->name) + 2;
            e->path = malloc(pl);
            if (!e->path) {
                rc = km_err_set(KM_ENOMEM, "out of memory checkpointing logs");
                break;
            }
            snprintf(e->path, pl, "%s/%s", c->rel, f->name);
            e->dev = f->dev;
            e->ino = f->ino;
            e->fp_len = f->fp_len;
            e->fp = f->fp;
            e->off = src->off_acked;
            e->done = f->alias ? (!f->orig || (src->done && src->off_acked >= safe_off(src)))
                               : (f->done && f->off_acked >= safe_off(f));
            n++;
        }
    }
    pthread_mutex_unlock(&t->mu);
    if (rc == 0)
        rc = km_logpos_save(t->state_dir, v, n);
    km_logpos_free(v, n);
    return rc;
}

/* ---- metrics ------------------------------------------------------------------------- */

void km_tailer_stats(struct km_tailer *t, struct km_tailer_stats *out)
{
    uint64_t files = 0, lag = 0;

    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < t->nc; i++) {
        for (size_t j = 0; j < t->c[i]->nf; j++) {
            const struct lfile *f = t->c[i]->f[j];

            if (f->alias || f->done)
                continue;
            files++;
            if (f->size > f->off_acked)
                lag += f->size - f->off_acked;
        }
    }
    *out = t->st;
    out->files_followed = files;
    out->lag_bytes = lag;
    pthread_mutex_unlock(&t->mu);
}

void km_tailer_metrics(struct km_tailer *t, struct km_mset *m)
{
    struct km_tailer_stats s;
    int f;

    km_tailer_stats(t, &s);
    f = km_mset_family(m, "kmon_agent_logs_lines_total",
                       "Log lines by stage: read (cut from the files, after joining partials), "
                       "shipped (acknowledged by the server).",
                       KM_MT_COUNTER, 0);
    km_mset_add(m, f, &(struct km_label){ "stage", "read" }, 1, (double)s.lines_read);
    km_mset_add(m, f, &(struct km_label){ "stage", "shipped" }, 1, (double)s.lines_shipped);
    f = km_mset_family(m, "kmon_agent_logs_bytes_total",
                       "Log bytes by stage: read (from the files, uncompressed), shipped (line "
                       "text acknowledged by the server).",
                       KM_MT_COUNTER, 0);
    km_mset_add(m, f, &(struct km_label){ "stage", "read" }, 1, (double)s.bytes_read);
    km_mset_add(m, f, &(struct km_label){ "stage", "shipped" }, 1, (double)s.bytes_shipped);
    f = km_mset_family(m, "kmon_agent_logs_dropped_lines_total",
                       "Log lines not delivered, by reason: malformed (not CRI or Docker "
                       "json-file), too_long (a Docker line over the cap), rejected (the server "
                       "refused the batch with a 4xx).",
                       KM_MT_COUNTER, 0);
    km_mset_add(m, f, &(struct km_label){ "reason", "malformed" }, 1, (double)s.drop_malformed);
    km_mset_add(m, f, &(struct km_label){ "reason", "too_long" }, 1, (double)s.drop_too_long);
    km_mset_add(m, f, &(struct km_label){ "reason", "rejected" }, 1, (double)s.drop_rejected);
    f = km_mset_family(m, "kmon_agent_logs_dropped_bytes_total",
                       "Log bytes not delivered, by reason (as the lines).", KM_MT_COUNTER, 0);
    km_mset_add(m, f, &(struct km_label){ "reason", "malformed" }, 1,
                (double)s.bytes_drop_malformed);
    km_mset_add(m, f, &(struct km_label){ "reason", "too_long" }, 1, (double)s.bytes_drop_too_long);
    km_mset_add(m, f, &(struct km_label){ "reason", "rejected" }, 1, (double)s.bytes_drop_rejected);
    km_mset_add(m,
                km_mset_family(m, "kmon_agent_logs_lost_files_total",
                               "Files with unread lines that were gone after a restart (rotated "
                               "away while the agent was down).",
                               KM_MT_COUNTER, 0),
                NULL, 0, (double)s.drop_lost_files);
    km_mset_add(m,
                km_mset_family(m, "kmon_agent_logs_split_lines_total",
                               "Lines longer than --logs-max-line, cut into marked pieces.",
                               KM_MT_COUNTER, 0),
                NULL, 0, (double)s.lines_split);
    km_mset_add(m,
                km_mset_family(m, "kmon_agent_logs_truncations_total",
                               "Files found shorter than what was read (copytruncate): read "
                               "again from their start.",
                               KM_MT_COUNTER, 0),
                NULL, 0, (double)s.truncations);
    km_mset_gauge(m, "kmon_agent_logs_files_followed", "Log files being followed.",
                  (double)s.files_followed);
    km_mset_gauge(m, "kmon_agent_logs_lag_bytes",
                  "Bytes in the followed files not yet acknowledged by the server.",
                  (double)s.lag_bytes);
    km_mset_gauge(m, "kmon_agent_logs_buffered_bytes",
                  "Bytes held in memory in lines being joined.", (double)s.buffered_bytes);
    f = km_mset_family(m, "kmon_agent_logs_file_lag_bytes",
                       "Bytes of each followed file not yet acknowledged by the server.",
                       KM_MT_GAUGE, KM_MF_LOCAL);
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < t->nc; i++) {
        const struct lcont *c = t->c[i];

        for (size_t j = 0; j < c->nf; j++) {
            const struct lfile *fl = c->f[j];
            struct km_label l[4] = { { "container", c->container },
                                     { "file", fl->name },
                                     { "namespace", c->ns },
                                     { "pod", c->pod } };

            if (fl->alias || fl->done)
                continue;
            km_mset_add(m, f, l, 4,
                        fl->size > fl->off_acked ? (double)(fl->size - fl->off_acked) : 0);
        }
    }
    pthread_mutex_unlock(&t->mu);
}

/* ---- life cycle ---------------------------------------------------------------------- */

static int parse_rules(struct km_tailer *t, const char *spec)
{
    const char *p = spec;

    while (p && *p) {
        size_t len = strcspn(p, ";\n");
        char *r = strndup(p, len), *eq, *sl, *sel = r, what[256];
        struct rule *ru;
        int rc;

        if (!r)
            return km_err_set(KM_ENOMEM, "out of memory");
        while (*sel == ' ' || *sel == '\t')
            sel++;
        if (!*sel) {
            free(r);
            p += len + (p[len] ? 1 : 0);
            continue;
        }
        eq = strchr(sel, '=');
        if (!eq || eq == sel || !eq[1]) {
            rc = km_err_set(KM_EINVAL,
                            "--logs-multiline: \"%s\" is not NAMESPACE[/CONTAINER]=REGEX", sel);
            free(r);
            return rc;
        }
        if (t->nrules >= KM_TAILER_RULES_MAX) {
            free(r);
            return km_err_set(KM_EINVAL, "--logs-multiline: more than %u rules",
                              KM_TAILER_RULES_MAX);
        }
        *eq = '\0';
        snprintf(what, sizeof(what), "%s", sel);
        ru = &t->rules[t->nrules];
        sl = strchr(sel, '/');
        if (sl)
            *sl = '\0';
        ru->ns = strcmp(sel, "*") == 0 ? NULL : strdup(sel);
        ru->container = sl && strcmp(sl + 1, "*") != 0 ? strdup(sl + 1) : NULL;
        rc = km_regex_compile(&ru->re, eq + 1, KM_REGEX_JIT);
        if (rc) {
            rc = km_err_wrap(KM_EINVAL, "--logs-multiline: the regex of %s", what);
            free(ru->ns);
            free(ru->container);
            free(r);
            return rc;
        }
        /* "^..." anchors at the line's start: km_regex_match finds a match anywhere. */
        t->nrules++;
        free(r);
        p += len + (p[len] ? 1 : 0);
    }
    return 0;
}

int km_tailer_open(struct km_tailer **out, const struct km_tailer_opts *o)
{
    struct km_tailer *t;
    size_t rl;
    int rc;

    if (o->max_line < KM_TAILER_LINE_MIN || o->max_line > KM_TAILER_LINE_MAX)
        return km_err_set(KM_EINVAL, "--logs-max-line must be between %u bytes and %u MiB",
                          KM_TAILER_LINE_MIN, KM_TAILER_LINE_MAX >> 20);
    if (o->batch_bytes < 1024 || o->batch_bytes > KM_TAILER_BATCH_MAX)
        return km_err_set(KM_EINVAL, "--logs-batch-bytes must be between 1 KiB and %u MiB",
                          KM_TAILER_BATCH_MAX >> 20);
    t = calloc(1, sizeof(*t));
    if (!t)
        return km_err_set(KM_ENOMEM, "out of memory");
    t->o = *o;
    if (!t->o.stream_budget)
        t->o.stream_budget = t->o.batch_bytes / 4 > 4096 ? t->o.batch_bytes / 4 : 4096;
    if (!t->o.buffered_max)
        t->o.buffered_max = 64u * 1024 * 1024;
    if (t->o.rotate_grace_ms <= 0)
        t->o.rotate_grace_ms = 1000;
    if (t->o.multiline_flush_ms <= 0)
        t->o.multiline_flush_ms = 1000;
    pthread_mutex_init(&t->mu, NULL);
    rl = strlen(o->root ? o->root : "/") + 16;
    t->pods_dir = malloc(rl);
    t->cluster = strdup(o->cluster ? o->cluster : "");
    t->node = strdup(o->node ? o->node : "");
    t->state_dir = o->state_dir ? strdup(o->state_dir) : NULL;
    t->fpbuf = malloc(KM_LOGPOS_FP_MAX);
    if (!t->pods_dir || !t->cluster || !t->node || (o->state_dir && !t->state_dir) || !t->fpbuf) {
        rc = km_err_set(KM_ENOMEM, "out of memory");
        goto out_free;
    }
    {
        const char *root = o->root ? o->root : "/";
        size_t n = strlen(root);

        while (n > 1 && root[n - 1] == '/')
            n--;
        snprintf(t->pods_dir, rl, "%.*s/var/log/pods", (int)(n == 1 && root[0] == '/' ? 0 : n),
                 root);
    }
    km_buf_init(&t->btext, t->o.batch_bytes + READ_CHUNK + 8 * (t->o.max_line + 64) + PHYS_SLACK);
    km_buf_init(&t->rbuf, t->o.max_line + PHYS_SLACK + READ_CHUNK + 1);
    km_buf_init(&t->dscratch, t->o.max_line + PHYS_SLACK);
    rc = parse_rules(t, o->multiline);
    if (rc)
        goto out_free;
    if (t->state_dir) {
        rc = km_logpos_load(t->state_dir, &t->saved, &t->nsaved);
        if (rc) {
            km_log_warn(LOG, "%s: reading every log file from its start", km_err_msg());
            t->saved = NULL;
            t->nsaved = 0;
            rc = 0;
        }
    }
    *out = t;
    return 0;

out_free:
    km_tailer_close(t);
    return rc;
}

void km_tailer_close(struct km_tailer *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nc; i++)
        container_free(t->c[i]);
    free(t->c);
    for (size_t i = 0; i < t->nrules; i++) {
        free(t->rules[i].ns);
        free(t->rules[i].container);
        km_regex_destroy(t->rules[i].re);
    }
    km_logpos_free(t->saved, t->nsaved);
    km_buf_fini(&t->btext);
    km_buf_fini(&t->rbuf);
    km_buf_fini(&t->dscratch);
    free(t->be);
    free(t->bs);
    free(t->out);
    free(t->oute);
    free(t->fpbuf);
    free(t->pods_dir);
    free(t->cluster);
    free(t->node);
    free(t->state_dir);
    pthread_mutex_destroy(&t->mu);
    free(t);
}
