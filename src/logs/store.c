/*
 * store — the log store (logstore.h): streams and their label index, heads, the WAL,
 * cutting and writing chunks, replay at open, retention and metrics. Reads are in
 * lread.c; byte formats in lcodec.c and FORMAT.md.
 */
#include "logs/logcheck.h"
#include "logs/lstore.h"

#include "common/array.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/mset.h"
#include "common/timefmt.h"

#define XXH_INLINE_ALL
#include <xxhash.h>
#include <zstd.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MOD "logs"

#define DEF_FSYNC_MS      1000
#define DEF_CHUNK_TARGET  (1024u * 1024)
#define DEF_CHUNK_AGE_MS  (3600LL * 1000)
#define DEF_FILE_BYTES    (64ull * 1024 * 1024)
#define DEF_WAL_SEG_BYTES (64ull * 1024 * 1024)
#define DEF_ZSTD_LEVEL    3

/* ---------------------------------------------------------------- small helpers */

int64_t km_ls_now_ms(struct km_logstore *s)
{
    if (s->o.now_ms)
        return s->o.now_ms(s->o.now_ud);
    return km_time_now_ns() / 1000000;
}

static int pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
    const char *c = p;

    while (n > 0) {
        ssize_t w = pwrite(fd, c, n, (off_t)off);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        c += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
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

/* Read a whole file (at most max bytes). *out new (free()). */
static int read_file(const char *path, size_t max, uint8_t **out, size_t *len)
{
    struct stat st;
    uint8_t *p;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return km_err_set_errno(errno == ENOENT ? KM_ENOTFOUND : KM_EIO, errno, "opening %s", path);
    if (fstat(fd, &st) != 0) {
        close(fd);
        return km_err_set_errno(KM_EIO, errno, "stat %s", path);
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return km_err_set(KM_ELIMIT, "%s is larger than %zu bytes", path, max);
    }
    p = malloc((size_t)st.st_size + 1);
    if (!p) {
        close(fd);
        return km_err_set(KM_ENOMEM, "out of memory reading %s", path);
    }
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, p + got, (size_t)st.st_size - got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    *out = p;
    *len = got;
    return 0;
}

/* Sequence numbers of DIR's files named by 8 digits and an optional suffix. */
static int list_seqs(const char *dir, const char *suffix, uint32_t **out, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    uint32_t *v = NULL;
    size_t nv = 0, cap = 0;
    size_t sl = strlen(suffix);

    if (!d)
        return km_err_set_errno(KM_EIO, errno, "opening %s", dir);
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        char *end;
        unsigned long seq;

        if (l != 8 + sl || strcmp(de->d_name + 8, suffix) != 0)
            continue;
        seq = strtoul(de->d_name, &end, 10);
        if (end != de->d_name + 8 || seq > UINT32_MAX)
            continue;
        if (km_array_grow((void **)&v, &cap, nv + 1, sizeof(*v), 16, "listing files") < 0) {
            closedir(d);
            free(v);
            return KM_ENOMEM;
        }
        v[nv++] = (uint32_t)seq;
    }
    closedir(d);
    /* insertion sort: directories hold few files */
    for (size_t i = 1; i < nv; i++)
        for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
            uint32_t t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    *out = v;
    *n = nv;
    return 0;
}

/* ---------------------------------------------------------------- maps and postings */

int km_lmap_find(const struct lmap *m, uint64_t h, uint32_t *from, uint32_t *out)
{
    if (m->cap == 0)
        return 0;
    h |= 1;
    for (size_t i = *from; i < m->cap; i++) {
        size_t k = (size_t)(h + i) & (m->cap - 1);

        if (m->h[k] == 0)
            return 0;
        if (m->h[k] == h) {
            *from = (uint32_t)i + 1;
            *out = m->v[k];
            return 1;
        }
    }
    return 0;
}

static int lmap_put(struct lmap *m, uint64_t h, uint32_t v)
{
    h |= 1;
    if ((m->n + 1) * 2 > m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 64;
        uint64_t *nh = calloc(ncap, sizeof(*nh));
        uint32_t *nv = calloc(ncap, sizeof(*nv));

        if (!nh || !nv) {
            free(nh);
            free(nv);
            return km_err_set(KM_ENOMEM, "out of memory growing the log stream index");
        }
        for (size_t i = 0; i < m->cap; i++) {
            size_t k;

            if (!m->h[i])
                continue;
            for (k = (size_t)m->h[i] & (ncap - 1); nh[k]; k = (k + 1) & (ncap - 1))
                ;
            nh[k] = m->h[i];
            nv[k] = m->v[i];
        }
        free(m->h);
        free(m->v);
        m->h = nh;
        m->v = nv;
        m->cap = ncap;
    }
    size_t k;
    for (k = (size_t)h & (m->cap - 1); m->h[k]; k = (k + 1) & (m->cap - 1))
        ;
    m->h[k] = h;
    m->v[k] = v;
    m->n++;
    return 0;
}

static void lmap_fini(struct lmap *m)
{
    free(m->h);
    free(m->v);
}

static int post_add(struct lpost *p, uint32_t v)
{
    if (km_array_grow((void **)&p->v, &p->cap, p->n + 1, sizeof(*p->v), 4,
                      "growing the log label index") < 0)
        return KM_ENOMEM;
    p->v[p->n++] = v;
    return 0;
}

static uint64_t pair_hash(const char *name, const char *value)
{
    XXH3_state_t st;

    XXH3_64bits_reset(&st);
    XXH3_64bits_update(&st, name, strlen(name) + 1);
    XXH3_64bits_update(&st, value, strlen(value));
    return XXH3_64bits_digest(&st);
}

long km_ls_name_find(struct km_logstore *s, const char *name)
{
    uint32_t from = 0, v;

    while (km_lmap_find(&s->name_map, XXH3_64bits(name, strlen(name)), &from, &v))
        if (strcmp(s->names[v].name, name) == 0)
            return v;
    return -1;
}

long km_ls_pair_find(struct km_logstore *s, const char *name, const char *value)
{
    uint32_t from = 0, v;

    while (km_lmap_find(&s->pair_map, pair_hash(name, value), &from, &v))
        if (strcmp(s->pairs[v].value, value) == 0 &&
            strcmp(s->names[s->pairs[v].name].name, name) == 0)
            return v;
    return -1;
}

static int index_stream(struct km_logstore *s, struct lstream *st)
{
    for (size_t i = 0; i < st->labels->n; i++) {
        const char *name = st->labels->v[i].name, *value = st->labels->v[i].value;
        long ni = km_ls_name_find(s, name), pi;

        if (ni < 0) {
            if (km_array_grow((void **)&s->names, &s->capnames, s->nnames + 1, sizeof(*s->names),
                              16, "growing the log label index") < 0)
                return KM_ENOMEM;
            ni = (long)s->nnames;
            memset(&s->names[ni], 0, sizeof(s->names[ni]));
            s->names[ni].name = strdup(name);
            if (!s->names[ni].name)
                return km_err_set(KM_ENOMEM, "out of memory indexing a log stream");
            s->nnames++;
            if (lmap_put(&s->name_map, XXH3_64bits(name, strlen(name)), (uint32_t)ni) < 0)
                return KM_ENOMEM;
        }
        pi = km_ls_pair_find(s, name, value);
        if (pi < 0) {
            if (km_array_grow((void **)&s->pairs, &s->cappairs, s->npairs + 1, sizeof(*s->pairs),
                              64, "growing the log label index") < 0)
                return KM_ENOMEM;
            pi = (long)s->npairs;
            memset(&s->pairs[pi], 0, sizeof(s->pairs[pi]));
            s->pairs[pi].name = (uint32_t)ni;
            s->pairs[pi].value = strdup(value);
            if (!s->pairs[pi].value)
                return km_err_set(KM_ENOMEM, "out of memory indexing a log stream");
            s->npairs++;
            if (lmap_put(&s->pair_map, pair_hash(name, value), (uint32_t)pi) < 0 ||
                post_add(&s->names[ni].vals, (uint32_t)pi) < 0)
                return KM_ENOMEM;
        }
        if (post_add(&s->pairs[pi].ids, st->idx) < 0)
            return KM_ENOMEM;
    }
    return 0;
}

static uint64_t id_hash(uint64_t id)
{
    return XXH3_64bits(&id, sizeof(id));
}

static struct lstream *stream_by_id(struct km_logstore *s, uint64_t id)
{
    uint32_t from = 0, v;

    while (km_lmap_find(&s->by_id, id_hash(id), &from, &v))
        if (s->st[v]->id == id)
            return s->st[v];
    return NULL;
}

static struct lstream *stream_by_labels(struct km_logstore *s, const struct km_label *v, size_t n,
                                        uint64_t hash)
{
    uint32_t from = 0, i;

    while (km_lmap_find(&s->by_labels, hash, &from, &i))
        if (km_labels_cmp_arrays(s->st[i]->labels->v, s->st[i]->labels->n, v, n) == 0)
            return s->st[i];
    return NULL;
}

static void dedup_fini(struct ldedup *d)
{
    free(d->tab);
    free(d->ring);
}

static void stream_destroy(struct lstream *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->nch; i++) {
        km_lmem_unref(st->ch[i]->mem);
        km_lfile_unref(st->ch[i]->file);
        free(st->ch[i]);
    }
    free(st->ch);
    free(st->he);
    km_buf_fini(&st->hlines);
    dedup_fini(&st->dd);
    km_labels_destroy(st->labels);
    free(st);
}

/* Add a stream (labels owned by it on success) to the table and index. */
static int stream_add(struct km_logstore *s, uint64_t id, struct km_labels *l, struct lstream **out)
{
    struct lstream *st = calloc(1, sizeof(*st));

    if (!st)
        return km_err_set(KM_ENOMEM, "out of memory adding a log stream");
    if (km_array_grow((void **)&s->st, &s->capst, s->nst + 1, sizeof(*s->st), 64,
                      "adding a log stream") < 0) {
        free(st);
        return KM_ENOMEM;
    }
    st->id = id;
    st->idx = (uint32_t)s->nst;
    st->labels = l;
    st->mint = INT64_MAX;
    st->maxt = INT64_MIN;
    st->newest = INT64_MIN;
    st->hmint = INT64_MAX;
    st->hmaxt = INT64_MIN;
    km_buf_init(&st->hlines, KM_LOGS_HEAD_MAX_BYTES);
    s->st[s->nst++] = st;
    if (lmap_put(&s->by_labels, l->hash, st->idx) < 0 ||
        lmap_put(&s->by_id, id_hash(id), st->idx) < 0 || index_stream(s, st) < 0) {
        /* The maps may name the index: leave the stream in the table, without labels in
         * use; the store is out of memory and will fail further work. */
        return KM_ENOMEM;
    }
    if (id >= s->next_id)
        s->next_id = id + 1;
    *out = st;
    return 0;
}

/* ---------------------------------------------------------------- dedup */

static uint64_t entry_fp(int64_t ts, const char *line, size_t len)
{
    return XXH3_64bits_withSeed(line, len, (uint64_t)ts) | 1;
}

static bool dd_has(const struct ldedup *d, uint64_t fp)
{
    if (!d->tcap)
        return false;
    for (uint32_t k = (uint32_t)fp & (d->tcap - 1);; k = (k + 1) & (d->tcap - 1)) {
        if (d->tab[k] == 0)
            return false;
        if (d->tab[k] == fp)
            return true;
    }
}

static void dd_tab_del(struct ldedup *d, uint64_t fp)
{
    uint32_t mask = d->tcap - 1, i, j;

    for (i = (uint32_t)fp & mask; d->tab[i] && d->tab[i] != fp; i = (i + 1) & mask)
        ;
    if (!d->tab[i])
        return;
    /* backward-shift deletion */
    j = i;
    for (;;) {
        uint32_t home;

        j = (j + 1) & mask;
        if (!d->tab[j])
            break;
        home = (uint32_t)d->tab[j] & mask;
        /* move j to i when its home is not cyclically in (i, j] */
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            d->tab[i] = d->tab[j];
            i = j;
        }
    }
    d->tab[i] = 0;
}

static void dd_pop(struct ldedup *d)
{
    dd_tab_del(d, d->ring[d->rhead].fp);
    d->rhead = (d->rhead + 1) % d->rcap;
    d->rlen--;
}

static int dd_grow(struct ldedup *d)
{
    uint32_t ncap = d->rcap ? d->rcap * 2 : 64;
    uint32_t ntcap = ncap * 2;
    __typeof__(d->ring) nr;
    uint64_t *nt;

    if (ncap > KM_LOGS_DEDUP_ENTRIES)
        return 0;
    nr = malloc(ncap * sizeof(*nr));
    nt = calloc(ntcap, sizeof(*nt));
    if (!nr || !nt) {
        free(nr);
        free(nt);
        return km_err_set(KM_ENOMEM, "out of memory remembering log entries");
    }
    for (uint32_t i = 0; i < d->rlen; i++) {
        uint64_t fp = d->ring[(d->rhead + i) % d->rcap].fp;
        uint32_t k;

        nr[i] = d->ring[(d->rhead + i) % d->rcap];
        for (k = (uint32_t)fp & (ntcap - 1); nt[k] && nt[k] != fp; k = (k + 1) & (ntcap - 1))
            ;
        nt[k] = fp;
    }
    free(d->ring);
    free(d->tab);
    d->ring = nr;
    d->tab = nt;
    d->rcap = ncap;
    d->tcap = ntcap;
    d->rhead = 0;
    return 0;
}

/* Remember an entry; forget those out of the window and the oldest past the cap. */
static void dd_add(struct ldedup *d, int64_t ts, uint64_t fp, int64_t horizon)
{
    uint32_t k;

    while (d->rlen && d->ring[d->rhead].ts < horizon)
        dd_pop(d);
    if (ts < horizon || dd_has(d, fp))
        return;
    if (d->rlen == d->rcap && dd_grow(d) < 0)
        return;
    if (d->rlen == d->rcap)
        dd_pop(d);
    if (!d->rcap)
        return;
    d->ring[(d->rhead + d->rlen) % d->rcap].ts = ts;
    d->ring[(d->rhead + d->rlen) % d->rcap].fp = fp;
    d->rlen++;
    for (k = (uint32_t)fp & (d->tcap - 1); d->tab[k]; k = (k + 1) & (d->tcap - 1))
        ;
    d->tab[k] = fp;
}

static int64_t window_horizon(struct km_logstore *s, struct lstream *st)
{
    int64_t w = s->o.ooo_window_ms * 1000000;

    /* saturating: a replayed WAL may hold any timestamp */
    if (st->newest < INT64_MIN + w)
        return INT64_MIN;
    return st->newest - w;
}

struct ts_fp {
    int64_t ts;
    uint64_t fp;
};

static int cmp_ts_fp(const void *a, const void *b)
{
    const struct ts_fp *x = a, *y = b;

    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->fp < y->fp ? -1 : x->fp > y->fp;
}

/* After a restart: remember the entries of the stream's chunks within the window too.
 * The remembered set is rebuilt in time order so that the newest entries (the ones a
 * client retries) are the ones kept when there are more than the cap. */
static void dd_load(struct km_logstore *s, struct lstream *st)
{
    int64_t horizon = window_horizon(s, st);
    struct ldedup *d = &st->dd;
    struct ts_fp *v = NULL;
    size_t n = 0, cap = 0, from_chunks = 0;

    d->loaded = true;
    if (km_array_grow((void **)&v, &cap, d->rlen + 1, sizeof(*v), 64, "finding duplicates") < 0)
        return;
    for (uint32_t i = 0; i < d->rlen; i++) {
        v[n].ts = d->ring[(d->rhead + i) % d->rcap].ts;
        v[n++].fp = d->ring[(d->rhead + i) % d->rcap].fp;
    }
    for (size_t i = st->nch; i-- > 0 && from_chunks < KM_LOGS_DEDUP_ENTRIES;) {
        struct lchunk *c = st->ch[i];
        struct km_log_entry *e = NULL, *ev;
        uint8_t *body = NULL;
        size_t ne = 0;
        bool skipped;

        if (c->maxt < horizon)
            continue;
        if (c->mem) {
            ev = c->mem->e;
            ne = c->mem->n;
        } else if (km_ls_read_chunk(c->file, c->off, c->len, c->bloom_len, c->crc, c->n, NULL, NULL,
                                    0, &skipped, &body, &e, &ne) < 0) {
            km_log_warn(MOD, "reading a chunk to find duplicates: %s", km_err_msg());
            continue;
        } else {
            ev = e;
        }
        if (km_array_grow((void **)&v, &cap, n + ne, sizeof(*v), 64, "finding duplicates") == 0) {
            for (size_t k = 0; k < ne; k++)
                if (ev[k].ts_ns >= horizon) {
                    v[n].ts = ev[k].ts_ns;
                    v[n++].fp = entry_fp(ev[k].ts_ns, ev[k].line, ev[k].len);
                    from_chunks++;
                }
        }
        free(e);
        free(body);
    }
    km_sort(v, n, sizeof(*v), cmp_ts_fp);
    while (d->rlen)
        dd_pop(d);
    for (size_t i = n > KM_LOGS_DEDUP_ENTRIES ? n - KM_LOGS_DEDUP_ENTRIES : 0; i < n; i++)
        dd_add(d, v[i].ts, v[i].fp, horizon);
    free(v);
}

/* ---------------------------------------------------------------- chunks in memory */

void km_lmem_unref(struct lmem *m)
{
    if (!m || atomic_fetch_sub(&m->refs, 1) != 1)
        return;
    free(m->e);
    free(m->lines);
    free(m);
}

void km_lfile_unref(struct lfile *f)
{
    if (!f || atomic_fetch_sub(&f->refs, 1) != 1)
        return;
    if (f->dat >= 0)
        close(f->dat);
    if (f->idx >= 0)
        close(f->idx);
    free(f);
}

struct sort_ix {
    int64_t ts;
    uint32_t i;
};

static int cmp_sort_ix(const void *a, const void *b)
{
    const struct sort_ix *x = a, *y = b;

    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Cut the head into a chunk queued for writing. */
static int head_cut(struct km_logstore *s, struct lstream *st)
{
    struct lchunk *c;
    struct lmem *m;
    bool sorted = true;
    size_t len;

    if (st->hn == 0)
        return 0;
    c = calloc(1, sizeof(*c));
    m = calloc(1, sizeof(*m));
    if (!c || !m ||
        km_array_grow((void **)&st->ch, &st->capch, st->nch + 1, sizeof(*st->ch), 4,
                      "cutting a log chunk") < 0 ||
        km_array_grow((void **)&s->q, &s->qcap, s->qn + 1, sizeof(*s->q), 64,
                      "queueing a log chunk") < 0)
        goto nomem;
    m->e = malloc(st->hn * sizeof(*m->e));
    if (!m->e)
        goto nomem;
    for (size_t i = 1; i < st->hn; i++)
        if (st->he[i].ts < st->he[i - 1].ts) {
            sorted = false;
            break;
        }
    m->lines = km_buf_detach(&st->hlines, &len);
    if (!m->lines)
        m->lines = calloc(1, 1);
    if (!m->lines)
        goto nomem;
    if (sorted) {
        for (size_t i = 0; i < st->hn; i++)
            m->e[i] =
                (struct km_log_entry){ st->he[i].ts, m->lines + st->he[i].off, st->he[i].len };
    } else {
        struct sort_ix *ix = malloc(st->hn * sizeof(*ix));

        if (!ix)
            goto nomem_lines;
        for (size_t i = 0; i < st->hn; i++)
            ix[i] = (struct sort_ix){ st->he[i].ts, (uint32_t)i };
        km_sort(ix, st->hn, sizeof(*ix), cmp_sort_ix);
        for (size_t i = 0; i < st->hn; i++) {
            struct lhead_entry *h = &st->he[ix[i].i];

            m->e[i] = (struct km_log_entry){ h->ts, m->lines + h->off, h->len };
        }
        free(ix);
    }
    atomic_init(&m->refs, 1);
    m->n = st->hn;
    c->mem = m;
    c->mint = st->hmint;
    c->maxt = st->hmaxt;
    c->n = (uint32_t)st->hn;
    c->raw = len;
    c->first_pos = st->hfirst_pos;
    c->last_pos = st->hlast_pos;
    st->ch[st->nch++] = c;
    if (s->qhead > 0 && s->qhead == s->qn) {
        s->qhead = 0;
        s->qn = 0;
    }
    s->q[s->qn].s = st;
    s->q[s->qn].c = c;
    s->qn++;
    s->head_bytes -= len;
    st->hn = 0;
    st->hmint = INT64_MAX;
    st->hmaxt = INT64_MIN;
    st->hfirst_pos = st->hlast_pos = 0;
    pthread_cond_signal(&s->cv);
    return 0;
nomem_lines:
    /* give the lines back to the head */
    km_buf_append(&st->hlines, m->lines, len);
    free(m->lines);
nomem:
    if (m)
        free(m->e);
    free(m);
    free(c);
    return km_err_set(KM_ENOMEM, "out of memory cutting a log chunk");
}

static int head_append(struct km_logstore *s, struct lstream *st, const struct km_log_entry *e,
                       uint64_t pos)
{
    if (st->hn >= KM_LC_CHUNK_ENTRIES_MAX || st->hlines.len + e->len >= KM_LOGS_HEAD_MAX_BYTES) {
        /* only a hostile WAL record gets here (pushes cut between records) */
        km_log_warn(MOD, "a WAL record overfills stream %llu's head; cutting it mid-record",
                    (unsigned long long)st->id);
        if (head_cut(s, st) < 0)
            return KM_ENOMEM;
    }
    if (km_array_grow((void **)&st->he, &st->hcap, st->hn + 1, sizeof(*st->he), 64,
                      "appending to a log head") < 0)
        return KM_ENOMEM;
    if (st->hn == 0) {
        st->hcreated_ms = km_ls_now_ms(s);
        st->hfirst_pos = pos;
        /* one allocation per chunk rather than a chain of doublings */
        if (st->hlines.cap == 0 && e->len < s->o.chunk_target_bytes)
            km_buf_reserve(&st->hlines, s->o.chunk_target_bytes + s->o.chunk_target_bytes / 8);
    }
    st->he[st->hn].ts = e->ts_ns;
    st->he[st->hn].off = (uint32_t)st->hlines.len;
    st->he[st->hn].len = (uint32_t)e->len;
    km_buf_append(&st->hlines, e->line, e->len);
    if (km_buf_error(&st->hlines))
        return km_err_set(KM_ENOMEM, "out of memory appending to a log head");
    st->hn++;
    st->hlast_pos = pos;
    s->head_bytes += e->len;
    if (e->ts_ns < st->hmint)
        st->hmint = e->ts_ns;
    if (e->ts_ns > st->hmaxt)
        st->hmaxt = e->ts_ns;
    if (e->ts_ns < st->mint)
        st->mint = e->ts_ns;
    if (e->ts_ns > st->maxt)
        st->maxt = e->ts_ns;
    if (e->ts_ns > st->newest)
        st->newest = e->ts_ns;
    return 0;
}

/* Cut the head once it is large enough: only between WAL records, since a chunk's
 * last_pos says its stream's records up to there are all in chunks. */
static int head_maybe_cut(struct km_logstore *s, struct lstream *st)
{
    if (st->hlines.len >= s->o.chunk_target_bytes ||
        st->hn + KM_LOGS_WAL_REC_ENTRIES >= KM_LC_CHUNK_ENTRIES_MAX ||
        st->hlines.len + KM_LOGS_WAL_REC_BYTES + s->o.max_line_bytes >= KM_LOGS_HEAD_MAX_BYTES)
        return head_cut(s, st);
    return 0;
}

/* ---------------------------------------------------------------- WAL */

static void wal_path(char *out, size_t size, const char *dir, uint32_t seq)
{
    snprintf(out, size, "%s/wal/%08u", dir, seq);
}

static int wal_open_segment(struct km_logstore *s)
{
    char path[PATH_MAX];
    uint8_t hdr[KM_LC_FILE_HEADER];
    uint32_t seq = s->nwal_segs ? s->wal_segs[s->nwal_segs - 1] + 1 : 1;
    int fd;

    /* positions must grow past every chunk's wal_pos, even with no segment left */
    if (seq < s->wal_seq_floor)
        seq = s->wal_seq_floor;

    wal_path(path, sizeof(path), s->dir, seq);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0)
        return km_err_set_errno(KM_EIO, errno, "creating %s", path);
    memcpy(hdr, KM_LC_MAGIC_WAL, 4);
    km_lc_put_u32(hdr + 4, KM_LC_VERSION);
    if (pwrite_all(fd, hdr, sizeof(hdr), 0) < 0 ||
        km_array_grow((void **)&s->wal_segs, &s->capwal_segs, s->nwal_segs + 1,
                      sizeof(*s->wal_segs), 16, "opening a WAL segment") < 0) {
        close(fd);
        unlink(path);
        return km_err_set(KM_EIO, "writing %s", path);
    }
    s->wal_segs[s->nwal_segs++] = seq;
    s->wal_fd = fd;
    s->wal_seq = seq;
    s->wal_size = KM_LC_FILE_HEADER;
    s->wal_bytes += KM_LC_FILE_HEADER;
    snprintf(path, sizeof(path), "%s/wal", s->dir);
    fsync_dir(path); /* best effort: the segment's name */
    return 0;
}

/* Append one record (payload in s->walbuf after KM_LC_REC_HEADER bytes of room). */
static int wal_write(struct km_logstore *s, uint64_t *pos)
{
    uint8_t *p = (uint8_t *)s->walbuf.data;
    uint32_t len = (uint32_t)(s->walbuf.len - KM_LC_REC_HEADER);
    int rc;

    if (s->wal_fd < 0 || s->wal_size + s->walbuf.len > s->o.wal_segment_bytes) {
        if (s->wal_fd >= 0) {
            /* the store's thread syncs and closes it: pushes do not wait for the disk */
            if (s->wal_dirty && !s->fsync_each &&
                s->nold_wal_fds < sizeof(s->old_wal_fds) / sizeof(*s->old_wal_fds)) {
                s->old_wal_fds[s->nold_wal_fds++] = s->wal_fd;
                pthread_cond_signal(&s->cv);
            } else {
                if (s->wal_dirty)
                    fdatasync(s->wal_fd);
                close(s->wal_fd);
            }
            s->wal_fd = -1;
        }
        rc = wal_open_segment(s);
        if (rc < 0)
            return rc;
    }
    km_lc_rec_header(p, KM_LC_REC_ENTRIES, p + KM_LC_REC_HEADER, len);
    rc = pwrite_all(s->wal_fd, p, s->walbuf.len, s->wal_size);
    if (rc < 0) {
        /* cut off what was written; the next record goes to a new segment */
        if (ftruncate(s->wal_fd, (off_t)s->wal_size) != 0)
            km_log_warn(MOD, "cannot cut a failed WAL write off segment %u", s->wal_seq);
        close(s->wal_fd);
        s->wal_fd = -1;
        s->write_errors++;
        return km_err_set_errno(KM_EIO, -rc, "writing the log WAL");
    }
    *pos = (uint64_t)s->wal_seq << 32 | s->wal_size;
    s->wal_size += s->walbuf.len;
    s->wal_bytes += s->walbuf.len;
    s->wal_dirty = true;
    return 0;
}

/* Delete WAL segments no head or unwritten chunk needs (under mu). */
static void wal_truncate(struct km_logstore *s)
{
    uint64_t keep = UINT64_MAX;
    uint32_t keep_seq;
    size_t k = 0;

    if (s->o.read_only)
        return;
    for (size_t i = 0; i < s->nst; i++)
        if (s->st[i]->hn && s->st[i]->hfirst_pos < keep)
            keep = s->st[i]->hfirst_pos;
    for (size_t i = s->qhead; i < s->qn; i++)
        if (s->q[i].c->first_pos < keep)
            keep = s->q[i].c->first_pos;
    /* the segment being written is kept; a closed one (rolled by the size cap, or after
     * a failed write) only while a record in it is needed */
    keep_seq = keep != UINT64_MAX ? (uint32_t)(keep >> 32)
               : s->wal_fd >= 0   ? s->wal_seq
                                  : UINT32_MAX;
    for (size_t i = 0; i < s->nwal_segs; i++) {
        uint32_t seq = s->wal_segs[i];

        if (seq < keep_seq && (seq != s->wal_seq || s->wal_fd < 0)) {
            char path[PATH_MAX];
            struct stat stt;

            if (seq >= s->wal_seq_floor) /* positions keep growing */
                s->wal_seq_floor = seq + 1;
            wal_path(path, sizeof(path), s->dir, seq);
            if (stat(path, &stt) == 0 && s->wal_bytes >= (uint64_t)stt.st_size)
                s->wal_bytes -= (uint64_t)stt.st_size;
            if (unlink(path) != 0 && errno != ENOENT)
                km_log_warn(MOD, "cannot delete %s: %s", path, strerror(errno));
        } else {
            s->wal_segs[k++] = seq;
        }
    }
    s->nwal_segs = k;
}

/* At close, or when the size cap finds the WAL large, if every entry is in chunks on
 * disk: delete the current segment too (the next push starts a new one), so that the
 * next open does not read it only to skip it (under mu, or with no other thread). */
static void wal_drop_if_idle(struct km_logstore *s)
{
    char path[PATH_MAX];

    if (s->o.read_only || s->wal_fd < 0 || s->qhead != s->qn)
        return;
    for (size_t i = 0; i < s->nst; i++)
        if (s->st[i]->hn)
            return;
    wal_truncate(s); /* every segment below the current one */
    for (size_t i = 0; i < s->nold_wal_fds; i++) {
        fdatasync(s->old_wal_fds[i]);
        close(s->old_wal_fds[i]);
    }
    s->nold_wal_fds = 0;
    close(s->wal_fd);
    s->wal_fd = -1;
    s->wal_dirty = false;
    /* the next segment (a push after the size cap dropped this one) numbers above it */
    if (s->wal_seq_floor <= s->wal_seq)
        s->wal_seq_floor = s->wal_seq + 1;
    wal_path(path, sizeof(path), s->dir, s->wal_seq);
    if (unlink(path) == 0) {
        s->nwal_segs = 0;
        s->wal_bytes = 0;
        snprintf(path, sizeof(path), "%s/wal", s->dir);
        fsync_dir(path);
    }
}

/* ---------------------------------------------------------------- chunk files */

static void file_path(char *out, size_t size, const char *dir, uint32_t seq, const char *ext)
{
    snprintf(out, size, "%s/chunks/%08u.%s", dir, seq, ext);
}

static int file_create(struct km_logstore *s, struct lfile **out)
{
    char pd[PATH_MAX], pi[PATH_MAX];
    uint8_t hdr[KM_LC_FILE_HEADER];
    struct lfile *f = calloc(1, sizeof(*f));
    uint32_t seq = s->next_file_seq;

    if (!f)
        return km_err_set(KM_ENOMEM, "out of memory creating a chunk file");
    file_path(pd, sizeof(pd), s->dir, seq, "dat");
    file_path(pi, sizeof(pi), s->dir, seq, "idx");
    f->dat = open(pd, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    f->idx = open(pi, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (f->dat < 0 || f->idx < 0)
        goto fail;
    memcpy(hdr, KM_LC_MAGIC_DAT, 4);
    km_lc_put_u32(hdr + 4, KM_LC_VERSION);
    if (pwrite_all(f->dat, hdr, sizeof(hdr), 0) < 0)
        goto fail;
    memcpy(hdr, KM_LC_MAGIC_IDX, 4);
    if (pwrite_all(f->idx, hdr, sizeof(hdr), 0) < 0)
        goto fail;
    char cd[PATH_MAX];
    snprintf(cd, sizeof(cd), "%s/chunks", s->dir);
    fsync_dir(cd);
    atomic_init(&f->refs, 1);
    f->seq = seq;
    f->dat_size = f->idx_size = KM_LC_FILE_HEADER;
    f->mint = INT64_MAX;
    f->maxt = INT64_MIN;
    s->next_file_seq = seq + 1;
    *out = f;
    return 0;
fail:
    km_err_set_errno(KM_EIO, errno, "creating the chunk file %s", pd);
    if (f->dat >= 0)
        close(f->dat);
    if (f->idx >= 0)
        close(f->idx);
    unlink(pd);
    unlink(pi);
    free(f);
    return KM_EIO;
}

/* The stream's time range from its chunks and head. */
static void stream_bounds(struct lstream *st)
{
    st->mint = st->hn ? st->hmint : INT64_MAX;
    st->maxt = st->hn ? st->hmaxt : INT64_MIN;
    for (size_t j = 0; j < st->nch; j++) {
        if (st->ch[j]->mint < st->mint)
            st->mint = st->ch[j]->mint;
        if (st->ch[j]->maxt > st->maxt)
            st->maxt = st->ch[j]->maxt;
    }
}

/* Drop the head's entries older than cut (under mu). The WAL keeps their records until
 * it is truncated; replay skips entries older than the retention, so they stay gone. */
static void head_trim(struct km_logstore *s, struct lstream *st, int64_t cut)
{
    size_t w = 0, dropped = 0;
    uint32_t woff = 0;
    int64_t mint = INT64_MAX, maxt = INT64_MIN;

    for (size_t i = 0; i < st->hn; i++) {
        struct lhead_entry h = st->he[i];

        if (h.ts < cut) {
            dropped += h.len;
            continue;
        }
        /* offsets grow with i, so the move is always backwards */
        if (woff != h.off)
            memmove(st->hlines.data + woff, st->hlines.data + h.off, h.len);
        st->he[w++] = (struct lhead_entry){ h.ts, woff, h.len };
        woff += h.len;
        if (h.ts < mint)
            mint = h.ts;
        if (h.ts > maxt)
            maxt = h.ts;
    }
    s->retention_head_entries += st->hn - w;
    s->head_bytes -= dropped;
    st->hlines.len = woff;
    st->hn = w;
    st->hmint = mint;
    st->hmaxt = maxt;
    if (w == 0)
        st->hfirst_pos = st->hlast_pos = 0;
    stream_bounds(st);
}

/* Drop chunks in file f from every stream and delete it (under mu and wmu). */
static void file_delete(struct km_logstore *s, struct lfile *f)
{
    char p[PATH_MAX];
    size_t k = 0;

    for (size_t i = 0; i < s->nst; i++) {
        struct lstream *st = s->st[i];
        size_t w = 0;
        bool changed = false;

        for (size_t j = 0; j < st->nch; j++) {
            if (st->ch[j]->file == f) {
                s->retention_chunks++;
                s->retention_bytes += st->ch[j]->len;
                km_lfile_unref(f);
                free(st->ch[j]);
                changed = true;
            } else {
                st->ch[w++] = st->ch[j];
            }
        }
        st->nch = w;
        if (changed)
            stream_bounds(st);
    }
    file_path(p, sizeof(p), s->dir, f->seq, "idx");
    unlink(p);
    file_path(p, sizeof(p), s->dir, f->seq, "dat");
    unlink(p);
    f->deleted = true;
    s->retention_files++;
    for (size_t i = 0; i < s->nfiles; i++)
        if (s->files[i] != f)
            s->files[k++] = s->files[i];
    s->nfiles = k;
    if (s->cur == f)
        s->cur = NULL;
    km_lfile_unref(f);
}

/* Write queued chunks (wmu held). */
static int drain(struct km_logstore *s)
{
    struct km_buf body, out;
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    struct {
        struct lstream *st;
        struct lchunk *c;
        struct lfile *f;
        uint64_t off;
        uint32_t len, bloom_len, crc;
    } *done = NULL;
    size_t ndone = 0, capdone = 0;
    struct lfile *synced[8];
    size_t nsynced = 0;
    int rc = 0;

    if (!cc)
        return km_err_set(KM_ENOMEM, "out of memory compressing log chunks");
    km_buf_init(&body, KM_LC_BODY_MAX);
    km_buf_init(&out, KM_LC_BODY_MAX);
    for (;;) {
        struct lstream *st;
        struct lchunk *c;
        struct lfile *f;
        uint32_t bloom_len;
        size_t bound, z;
        uint8_t idx[KM_LC_IDX_ENTRY];
        struct km_lc_idx x;

        pthread_mutex_lock(&s->mu);
        if (s->qhead == s->qn) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        st = s->q[s->qhead].s;
        c = s->q[s->qhead].c;
        pthread_mutex_unlock(&s->mu);

        /* compress outside the lock: the chunk's memory is immutable */
        km_buf_reset(&body);
        km_buf_reset(&out);
        km_lc_body_encode(&body, c->mem->e, c->mem->n);
        bloom_len = km_lc_bloom_size(c->raw);
        bound = ZSTD_compressBound(body.len);
        if (km_buf_error(&body) || km_buf_reserve(&out, bloom_len + bound) < 0) {
            rc = km_err_set(KM_ENOMEM, "out of memory compressing a log chunk");
            break;
        }
        memset(out.data, 0, bloom_len);
        for (size_t i = 0; i < c->mem->n; i++)
            km_lc_bloom_add((uint8_t *)out.data, bloom_len, c->mem->e[i].line, c->mem->e[i].len);
        z = ZSTD_compressCCtx(cc, out.data + bloom_len, bound, body.data, body.len,
                              s->o.zstd_level);
        if (ZSTD_isError(z)) {
            rc = km_err_set(KM_EIO, "compressing a log chunk: %s", ZSTD_getErrorName(z));
            break;
        }
        out.len = bloom_len + z;

        pthread_mutex_lock(&s->mu);
        if (s->cur && s->cur->dat_size >= s->o.chunk_file_bytes)
            s->cur = NULL;
        if (!s->cur) {
            rc = file_create(s, &f);
            if (rc == 0 && km_array_grow((void **)&s->files, &s->capfiles, s->nfiles + 1,
                                         sizeof(*s->files), 16, "adding a chunk file") < 0) {
                km_lfile_unref(f);
                rc = KM_ENOMEM;
            }
            if (rc < 0) {
                pthread_mutex_unlock(&s->mu);
                break;
            }
            s->files[s->nfiles++] = f;
            s->cur = f;
        }
        f = s->cur;
        pthread_mutex_unlock(&s->mu);

        x = (struct km_lc_idx){ .stream_id = st->id,
                                .mint = c->mint,
                                .maxt = c->maxt,
                                .entries = c->n,
                                .bloom_len = bloom_len,
                                .raw_bytes = c->raw,
                                .offset = f->dat_size,
                                .length = (uint32_t)out.len,
                                .crc = km_lc_checksum(out.data, out.len),
                                .wal_pos = c->last_pos };
        km_lc_idx_encode(idx, &x);
        rc = pwrite_all(f->dat, out.data, out.len, f->dat_size);
        if (rc == 0)
            rc = pwrite_all(f->idx, idx, sizeof(idx), f->idx_size);
        if (rc < 0) {
            rc = km_err_set_errno(KM_EIO, -rc, "writing log chunk file %08u", f->seq);
            if (ftruncate(f->dat, (off_t)f->dat_size) != 0 ||
                ftruncate(f->idx, (off_t)f->idx_size) != 0)
                km_log_warn(MOD, "cannot cut a failed write off chunk file %08u", f->seq);
            pthread_mutex_lock(&s->mu);
            s->write_errors++;
            s->cur = NULL; /* start a new file next time */
            pthread_mutex_unlock(&s->mu);
            break;
        }
        if (km_array_grow((void **)&done, &capdone, ndone + 1, sizeof(*done), 16,
                          "writing log chunks") < 0) {
            rc = KM_ENOMEM;
            break;
        }
        done[ndone].st = st;
        done[ndone].c = c;
        done[ndone].f = f;
        done[ndone].off = f->dat_size;
        done[ndone].len = (uint32_t)out.len;
        done[ndone].bloom_len = bloom_len;
        done[ndone].crc = x.crc;
        ndone++;
        pthread_mutex_lock(&s->mu);
        f->dat_size += out.len;
        f->idx_size += sizeof(idx);
        s->qhead++;
        pthread_mutex_unlock(&s->mu);
        if (nsynced == 0 || synced[nsynced - 1] != f) {
            if (nsynced == 8) {
                /* many files in one drain: sync the oldest now */
                fdatasync(synced[0]->dat);
                fdatasync(synced[0]->idx);
                km_lfile_unref(synced[0]);
                memmove(synced, synced + 1, 7 * sizeof(*synced));
                nsynced--;
            }
            atomic_fetch_add(&f->refs, 1);
            synced[nsynced++] = f;
        }
    }
    /* durable before the WAL that holds the same entries may go */
    for (size_t i = 0; i < nsynced; i++) {
        if (fdatasync(synced[i]->dat) != 0 || fdatasync(synced[i]->idx) != 0)
            km_log_warn(MOD, "fsync of chunk file %08u: %s", synced[i]->seq, strerror(errno));
    }
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < ndone; i++) {
        struct lchunk *c = done[i].c;
        struct lfile *f = done[i].f;

        atomic_fetch_add(&f->refs, 1);
        c->file = f;
        c->off = done[i].off;
        c->len = done[i].len;
        c->bloom_len = done[i].bloom_len;
        c->crc = done[i].crc;
        km_lmem_unref(c->mem);
        c->mem = NULL;
        done[i].st->durable_pos = c->last_pos;
        if (c->mint < f->mint)
            f->mint = c->mint;
        if (c->maxt > f->maxt)
            f->maxt = c->maxt;
        f->chunks++;
        f->raw += c->raw;
        s->chunks_written++;
        s->chunk_bytes_written += c->len;
        s->chunk_raw_written += c->raw;
    }
    if (s->qhead == s->qn)
        s->qhead = s->qn = 0;
    if (ndone)
        wal_truncate(s);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < nsynced; i++)
        km_lfile_unref(synced[i]);
    free(done);
    km_buf_fini(&body);
    km_buf_fini(&out);
    ZSTD_freeCCtx(cc);
    return rc;
}

/* Read one written chunk (see lstore.h). */
int km_ls_read_chunk(struct lfile *f, uint64_t off, uint32_t len, uint32_t bloom_len, uint32_t crc,
                     uint32_t n, const char *const *needle, const size_t *needle_len,
                     size_t nneedle, bool *skipped, uint8_t **body, struct km_log_entry **e,
                     size_t *ne)
{
    uint8_t *raw, *b;
    size_t blen;
    ssize_t r;
    int rc;

    *skipped = false;
    raw = malloc(len ? len : 1);
    if (!raw)
        return km_err_set(KM_ENOMEM, "out of memory reading a log chunk");
    if (nneedle && bloom_len) {
        r = pread(f->dat, raw, bloom_len, (off_t)off);
        if (r != (ssize_t)bloom_len) {
            free(raw);
            return km_err_set(KM_EIO, "reading a log chunk's filter in file %08u", f->seq);
        }
        for (size_t i = 0; i < nneedle; i++)
            if (!km_lc_bloom_maybe(raw, bloom_len, needle[i], needle_len[i])) {
                free(raw);
                *skipped = true;
                return 0;
            }
        r = pread(f->dat, raw + bloom_len, len - bloom_len, (off_t)(off + bloom_len));
        r = r < 0 ? r : r + (ssize_t)bloom_len;
    } else {
        r = pread(f->dat, raw, len, (off_t)off);
    }
    if (r != (ssize_t)len) {
        free(raw);
        return km_err_set(KM_EIO, "reading a log chunk at %llu in file %08u",
                          (unsigned long long)off, f->seq);
    }
    if (km_lc_checksum(raw, len) != crc) {
        free(raw);
        return km_err_set(KM_ECORRUPT, "a log chunk at %llu in file %08u fails its checksum",
                          (unsigned long long)off, f->seq);
    }
    rc = km_lc_unzstd(raw + bloom_len, len - bloom_len, KM_LC_BODY_MAX, &b, &blen);
    free(raw);
    if (rc < 0)
        return rc;
    rc = km_lc_body_decode(b, blen, n, e, ne);
    if (rc < 0) {
        free(b);
        return rc;
    }
    *body = b;
    return 0;
}

/* ---------------------------------------------------------------- retention */

/* Retention (under wmu): chunk files whose newest entry is older than the retention,
 * head entries older than it, then the oldest files while the store's files (chunks and
 * WAL) pass retention_bytes. Returns true when the WAL alone holds more than half the
 * cap (and wal_tried is false): the caller runs retention_cut_wal(). */
static bool retention(struct km_logstore *s, bool wal_tried)
{
    int64_t now_ns = km_ls_now_ms(s) * 1000000;
    int64_t cut = now_ns - s->o.retention_ms * 1000000;
    bool cut_heads = false;

    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nfiles;) {
        struct lfile *f = s->files[i];

        if (f->chunks && f->maxt < cut) {
            file_delete(s, f);
            continue;
        }
        i++;
    }
    for (size_t i = 0; i < s->nst; i++)
        if (s->st[i]->hn && s->st[i]->hmint < cut)
            head_trim(s, s->st[i], cut);
    if (s->o.retention_bytes) {
        for (;;) {
            uint64_t total = s->wal_bytes;
            struct lfile *oldest = NULL;

            for (size_t i = 0; i < s->nfiles; i++) {
                total += s->files[i]->dat_size + s->files[i]->idx_size;
                if (s->files[i]->chunks && (!oldest || s->files[i]->maxt < oldest->maxt))
                    oldest = s->files[i];
            }
            if (total <= s->o.retention_bytes)
                break;
            if (s->wal_bytes > s->o.retention_bytes / 2 && !wal_tried) {
                /* the WAL is what is large: cut heads before deleting anything */
                cut_heads = true;
                break;
            }
            if (!oldest)
                break;
            file_delete(s, oldest);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return cut_heads;
}

/* The size cap found the WAL large: cut every head and close the current segment (so
 * that every WAL record is in a cut chunk), write the chunks out, delete the closed
 * segments, then apply the cap again (under wmu). */
static void retention_cut_wal(struct km_logstore *s)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nst; i++)
        if (s->st[i]->hn && head_cut(s, s->st[i]) < 0)
            km_log_warn(MOD, "cutting log heads for the size cap: %s", km_err_msg());
    /* every record so far is in a cut chunk: close the segment, the next push starts a
     * new one, and once the chunks are written the closed ones are deleted */
    if (s->wal_fd >= 0) {
        if (s->wal_dirty)
            fdatasync(s->wal_fd);
        close(s->wal_fd);
        s->wal_fd = -1;
        s->wal_dirty = false;
        if (s->wal_seq_floor <= s->wal_seq)
            s->wal_seq_floor = s->wal_seq + 1;
    }
    pthread_mutex_unlock(&s->mu);
    if (drain(s) < 0)
        km_log_warn(MOD, "writing log chunks: %s", km_err_msg());
    pthread_mutex_lock(&s->mu);
    wal_truncate(s);
    pthread_mutex_unlock(&s->mu);
    retention(s, true);
}

/* Streams with no data left (no chunk, nothing in the head, so nothing in the WAL that
 * replay would keep) leave the streams file and the label index (under wmu). The streams
 * file is rewritten to a temporary name, synced and renamed over the old one: a crash
 * leaves the old file or the new one. Its first record keeps next_id, so an id is never
 * given twice (a dropped stream's WAL records are skipped at replay, its id being
 * unknown). A stream pushed again later gets a new id. */
static int streams_gc(struct km_logstore *s, bool force)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    struct km_buf b, rec;
    size_t dead = 0, live = 0;
    int64_t now = km_ls_now_ms(s);
    int fd = -1, rc = 0;
    uint8_t hdr[KM_LC_REC_HEADER], v[10];

    if (s->o.read_only)
        return 0;
    pthread_mutex_lock(&s->mu);
    if (s->nsets == 0) {
        for (size_t i = 0; i < s->ngrave; i++)
            stream_destroy(s->grave[i]);
        s->ngrave = 0;
    }
    if (!force && now - s->last_gc_ms < KM_LOGS_GC_PERIOD_MS && now >= s->last_gc_ms) {
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
    s->last_gc_ms = now;
    for (size_t i = 0; i < s->nst; i++)
        dead += s->st[i]->nch == 0 && s->st[i]->hn == 0;
    if (dead == 0) {
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
    if (km_array_grow((void **)&s->grave, &s->capgrave, s->ngrave + dead, sizeof(*s->grave), 16,
                      "dropping log streams") < 0) {
        pthread_mutex_unlock(&s->mu);
        return KM_ENOMEM;
    }

    /* the new streams file */
    km_buf_init(&b, 0);
    km_buf_init(&rec, 0);
    memcpy(hdr, KM_LC_MAGIC_STRM, 4);
    km_lc_put_u32(hdr + 4, KM_LC_VERSION);
    km_buf_append(&b, hdr, KM_LC_FILE_HEADER);
    km_buf_append(&rec, v, km_lc_put_uvarint(v, s->next_id));
    km_lc_rec_header(hdr, KM_LC_REC_NEXT_ID, rec.data, (uint32_t)rec.len);
    km_buf_append(&b, hdr, sizeof(hdr));
    km_buf_append(&b, rec.data, rec.len);
    for (size_t i = 0; i < s->nst; i++) {
        struct lstream *st = s->st[i];

        if (st->nch == 0 && st->hn == 0)
            continue;
        km_buf_reset(&rec);
        km_lc_stream_encode(&rec, st->id, st->labels);
        km_lc_rec_header(hdr, KM_LC_REC_STREAM, rec.data, (uint32_t)rec.len);
        km_buf_append(&b, hdr, sizeof(hdr));
        km_buf_append(&b, rec.data, rec.len);
    }
    if (km_buf_error(&b) || km_buf_error(&rec)) {
        rc = km_err_set(KM_ENOMEM, "out of memory rewriting the log streams file");
        goto free_bufs;
    }
    snprintf(path, sizeof(path), "%s/streams", s->dir);
    snprintf(tmp, sizeof(tmp), "%s/streams.tmp", s->dir);
    fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0 || pwrite_all(fd, b.data, b.len, 0) < 0 || fdatasync(fd) != 0 ||
        rename(tmp, path) != 0) {
        rc = km_err_set_errno(KM_EIO, errno, "rewriting the log streams file %s", path);
        s->write_errors++;
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        goto free_bufs;
    }
    fsync_dir(s->dir);
    if (s->strm_fd >= 0)
        close(s->strm_fd);
    s->strm_fd = fd;
    s->strm_dirty = false;

    /* the table and the label index, rebuilt from the live streams */
    for (size_t i = 0; i < s->nnames; i++) {
        free(s->names[i].name);
        free(s->names[i].vals.v);
    }
    for (size_t i = 0; i < s->npairs; i++) {
        free(s->pairs[i].value);
        free(s->pairs[i].ids.v);
    }
    s->nnames = s->npairs = 0;
    lmap_fini(&s->by_labels);
    lmap_fini(&s->by_id);
    lmap_fini(&s->name_map);
    lmap_fini(&s->pair_map);
    memset(&s->by_labels, 0, sizeof(s->by_labels));
    memset(&s->by_id, 0, sizeof(s->by_id));
    memset(&s->name_map, 0, sizeof(s->name_map));
    memset(&s->pair_map, 0, sizeof(s->pair_map));
    for (size_t i = 0; i < s->nst; i++) {
        struct lstream *st = s->st[i];

        if (st->nch == 0 && st->hn == 0) {
            s->grave[s->ngrave++] = st;
            s->streams_dropped++;
            continue;
        }
        st->idx = (uint32_t)live;
        s->st[live++] = st;
        if (rc == 0 &&
            (lmap_put(&s->by_labels, st->labels->hash, st->idx) < 0 ||
             lmap_put(&s->by_id, id_hash(st->id), st->idx) < 0 || index_stream(s, st) < 0))
            rc = KM_ENOMEM; /* as in stream_add: the store is out of memory */
    }
    s->nst = live;
    if (s->nsets == 0) {
        for (size_t i = 0; i < s->ngrave; i++)
            stream_destroy(s->grave[i]);
        s->ngrave = 0;
    }
free_bufs:
    pthread_mutex_unlock(&s->mu);
    km_buf_fini(&b);
    km_buf_fini(&rec);
    return rc;
}

/* ---------------------------------------------------------------- background */

static void sync_logs(struct km_logstore *s)
{
    int wfd = -1, sfd = -1, old[8];
    size_t nold;

    pthread_mutex_lock(&s->mu);
    nold = s->nold_wal_fds;
    memcpy(old, s->old_wal_fds, nold * sizeof(*old));
    s->nold_wal_fds = 0;
    if (s->strm_dirty && s->strm_fd >= 0)
        sfd = dup(s->strm_fd);
    if (s->wal_dirty && s->wal_fd >= 0)
        wfd = dup(s->wal_fd);
    s->strm_dirty = s->wal_dirty = false;
    pthread_mutex_unlock(&s->mu);
    if (sfd >= 0) {
        fdatasync(sfd);
        close(sfd);
    }
    for (size_t i = 0; i < nold; i++) {
        fdatasync(old[i]);
        close(old[i]);
    }
    if (wfd >= 0) {
        fdatasync(wfd);
        close(wfd);
    }
}

static void cut_old_heads(struct km_logstore *s, bool all)
{
    int64_t now = km_ls_now_ms(s);

    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nst; i++) {
        struct lstream *st = s->st[i];

        if (st->hn && (all || now - st->hcreated_ms >= s->o.max_chunk_age_ms))
            head_cut(s, st);
    }
    pthread_mutex_unlock(&s->mu);
}

static void *bg_main(void *arg)
{
    struct km_logstore *s = arg;
    int64_t last_sync = km_time_mono_ns(), last_maint = 0;

    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        struct timespec ts;
        int64_t now = km_time_mono_ns();
        int64_t next = last_sync + s->o.fsync_interval_ms * 1000000;

        if (s->nold_wal_fds)
            next = now;
        if (s->qhead == s->qn && now < next) {
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t wait = next - now;
            if (wait > 1000000000)
                wait = 1000000000;
            ts.tv_sec += (time_t)(wait / 1000000000);
            ts.tv_nsec += (long)(wait % 1000000000);
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&s->cv, &s->mu, &ts);
            continue;
        }
        pthread_mutex_unlock(&s->mu);
        now = km_time_mono_ns();
        if (now >= next) {
            sync_logs(s);
            last_sync = now;
        }
        pthread_mutex_lock(&s->wmu);
        if (drain(s) < 0)
            km_log_warn(MOD, "writing log chunks: %s", km_err_msg());
        if (now - last_maint >= 1000000000LL) {
            cut_old_heads(s, false);
            drain(s);
            if (retention(s, false))
                retention_cut_wal(s);
            if (streams_gc(s, false) < 0)
                km_log_warn(MOD, "dropping log streams with no data: %s", km_err_msg());
            last_maint = now;
        }
        pthread_mutex_unlock(&s->wmu);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---------------------------------------------------------------- push */

/* fsync_interval_ms < 0: the streams file, then the WAL segment, synced before a push
 * returns (under mu: pushes wait for each other's disk, as asked). Segments rolled
 * during the push were synced when they were rolled (wal_write). */
static int sync_each(struct km_logstore *s)
{
    if (s->strm_dirty && s->strm_fd >= 0 && fdatasync(s->strm_fd) != 0) {
        s->write_errors++;
        return km_err_set_errno(KM_EIO, errno, "fsync of the log streams file");
    }
    s->strm_dirty = false;
    if (s->wal_dirty && s->wal_fd >= 0 && fdatasync(s->wal_fd) != 0) {
        s->write_errors++;
        return km_err_set_errno(KM_EIO, errno, "fsync of the log WAL");
    }
    s->wal_dirty = false;
    return 0;
}

static void refuse(struct km_logstore *s, struct km_log_push_result *res, enum km_log_refusal r,
                   const struct km_label *lv, size_t nl, const struct km_log_entry *e,
                   const char *detail)
{
    s->refused[r]++;
    s->refused_bytes[r] += e ? e->len : 0;
    km_log_refusal_note(res, r, lv, nl, e, detail);
}

static int push_one(struct km_logstore *s, const struct km_log_push_stream *ps, int64_t now_ms,
                    struct km_log_push_result *res)
{
    struct km_label lv[KM_LIMIT_LABELS_PER_SERIES];
    size_t nl = 0;
    struct lstream *st = NULL;
    uint32_t *ord = NULL;
    const struct km_log_entry **acc = NULL;
    size_t nacc = 0;
    const struct km_log_limits lim = { .retention_ms = s->o.retention_ms,
                                       .max_future_ms = s->o.max_future_ms,
                                       .ooo_window_ms = s->o.ooo_window_ms,
                                       .max_line_bytes = s->o.max_line_bytes,
                                       .max_streams = s->o.max_streams };
    int64_t newest;
    uint64_t hash;
    const char *why;
    int rc = 0;
    char detail[96];

    if (!km_log_labels_prepare(ps, lv, &nl, &why)) {
        for (size_t i = 0; i < ps->n_entries; i++)
            refuse(s, res, KM_LOG_INVALID, ps->labels, ps->n_labels > 16 ? 16 : ps->n_labels,
                   &ps->entries[i], why);
        return 0;
    }
    if (ps->n_entries == 0)
        return 0;
    hash = km_labels_hash(lv, nl);
    st = stream_by_labels(s, lv, nl, hash);

    if ((rc = km_log_entries_order(ps, &ord)) != 0)
        return rc;
    acc = malloc(ps->n_entries * sizeof(*acc));
    if (!acc) {
        rc = km_err_set(KM_ENOMEM, "out of memory storing log entries");
        goto free_ord;
    }

    newest = st ? st->newest : INT64_MIN;
    if (st && !st->dd.loaded)
        dd_load(s, st);
    for (size_t k = 0; k < ps->n_entries; k++) {
        const struct km_log_entry *e = &ps->entries[ord[k]];

        int r = km_log_entry_check(&lim, now_ms, newest, e, detail, sizeof(detail));

        if (r >= 0) {
            refuse(s, res, (enum km_log_refusal)r, lv, nl, e, detail);
            continue;
        }
        if (newest != INT64_MIN && e->ts_ns <= newest) {
            uint64_t fp = entry_fp(e->ts_ns, e->line, e->len);
            bool dup = st && dd_has(&st->dd, fp);

            /* within this push */
            for (size_t j = nacc; !dup && j-- > 0 && acc[j]->ts_ns == e->ts_ns;)
                dup = acc[j]->len == e->len && memcmp(acc[j]->line, e->line, e->len) == 0;
            if (dup) {
                res->duplicate++;
                s->entries_dup++;
                s->bytes_dup += e->len;
                continue;
            }
        } else if (nacc && acc[nacc - 1]->ts_ns == e->ts_ns && acc[nacc - 1]->len == e->len &&
                   memcmp(acc[nacc - 1]->line, e->line, e->len) == 0) {
            res->duplicate++;
            s->entries_dup++;
            s->bytes_dup += e->len;
            continue;
        }
        if (e->ts_ns > newest)
            newest = e->ts_ns;
        acc[nacc++] = e;
    }
    if (nacc == 0)
        goto free_ord;
    if (!st) {
        struct km_labels *l;

        if (s->nst >= s->o.max_streams) {
            snprintf(detail, sizeof(detail), "(the limit is %llu streams)",
                     (unsigned long long)s->o.max_streams);
            for (size_t i = 0; i < nacc; i++)
                refuse(s, res, KM_LOG_STREAM_LIMIT, lv, nl, acc[i], detail);
            goto free_ord;
        }
        rc = km_labels_create_sorted(&l, lv, nl);
        if (rc < 0)
            goto free_ord;
        /* the stream's record goes first: WAL records name it by id */
        struct km_buf b;
        uint8_t hdr[KM_LC_REC_HEADER];
        struct stat sst;

        km_buf_init(&b, 0);
        km_lc_stream_encode(&b, s->next_id, l);
        km_lc_rec_header(hdr, KM_LC_REC_STREAM, b.data, (uint32_t)b.len);
        rc = fstat(s->strm_fd, &sst) != 0 ? -errno : 0;
        if (rc == 0)
            rc = pwrite_all(s->strm_fd, hdr, sizeof(hdr), (uint64_t)sst.st_size);
        if (rc == 0)
            rc = pwrite_all(s->strm_fd, b.data, b.len, (uint64_t)sst.st_size + sizeof(hdr));
        km_buf_fini(&b);
        if (rc < 0) {
            if (ftruncate(s->strm_fd, sst.st_size) != 0)
                km_log_warn(MOD, "cannot cut a failed write off the streams file");
            km_labels_destroy(l);
            s->write_errors++;
            rc = km_err_set_errno(KM_EIO, -rc, "writing the log streams file");
            goto free_ord;
        }
        s->strm_dirty = true;
        rc = stream_add(s, s->next_id, l, &st);
        if (rc < 0)
            goto free_ord;
        st->dd.loaded = true;
    }
    /* WAL records, then the head: the head always equals the WAL after the last cut */
    for (size_t i = 0; i < nacc;) {
        size_t j = i, bytes = 0;
        uint64_t pos = 0;
        struct km_log_entry *tmp;

        while (j < nacc && (j == i || (bytes + acc[j]->len < KM_LOGS_WAL_REC_BYTES &&
                                       j - i < KM_LOGS_WAL_REC_ENTRIES)))
            bytes += acc[j++]->len;
        tmp = malloc((j - i) * sizeof(*tmp));
        if (!tmp) {
            rc = km_err_set(KM_ENOMEM, "out of memory storing log entries");
            goto free_ord;
        }
        for (size_t k = i; k < j; k++)
            tmp[k - i] = *acc[k];
        km_buf_reset(&s->walbuf);
        if (km_buf_reserve(&s->walbuf, KM_LC_REC_HEADER + bytes + (j - i) * 20 + 32) < 0) {
            free(tmp);
            rc = km_err_set(KM_ENOMEM, "out of memory writing the log WAL");
            goto free_ord;
        }
        s->walbuf.len = KM_LC_REC_HEADER;
        km_lc_wal_encode(&s->walbuf, st->id, tmp, j - i);
        free(tmp);
        if (km_buf_error(&s->walbuf)) {
            rc = km_err_set(KM_ENOMEM, "out of memory writing the log WAL");
            goto free_ord;
        }
        rc = wal_write(s, &pos);
        if (rc < 0)
            goto free_ord;
        int64_t horizon;
        for (size_t k = i; k < j; k++) {
            rc = head_append(s, st, acc[k], pos);
            if (rc < 0)
                goto free_ord; /* in the WAL: replay restores it */
            horizon = window_horizon(s, st);
            dd_add(&st->dd, acc[k]->ts_ns, entry_fp(acc[k]->ts_ns, acc[k]->line, acc[k]->len),
                   horizon);
            res->stored++;
            s->entries_stored++;
            s->bytes_stored += acc[k]->len;
        }
        rc = head_maybe_cut(s, st);
        if (rc < 0)
            goto free_ord;
        i = j;
    }
free_ord:
    free(ord);
    free(acc);
    return rc;
}

int km_logstore_push(struct km_logstore *s, const struct km_log_push_stream *st, size_t n,
                     struct km_log_push_result *res)
{
    int64_t now = km_ls_now_ms(s);
    int rc = 0;

    memset(res, 0, sizeof(*res));
    if (s->o.read_only)
        return km_err_set(KM_EINVAL, "the log store is open read-only");
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = push_one(s, &st[i], now, res);
    if (rc == 0 && s->fsync_each)
        rc = sync_each(s);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* ---------------------------------------------------------------- open */

static int load_streams(struct km_logstore *s)
{
    char path[PATH_MAX];
    uint8_t *buf = NULL;
    size_t len = 0, off = KM_LC_FILE_HEADER;
    int rc;

    if (!s->o.read_only) { /* a rewrite (stream GC) cut short by a crash */
        snprintf(path, sizeof(path), "%s/streams.tmp", s->dir);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/streams", s->dir);
    rc = read_file(path, SIZE_MAX / 2, &buf, &len);
    if (rc == KM_ENOTFOUND || (rc == 0 && len < KM_LC_FILE_HEADER)) {
        free(buf);
        if (s->o.read_only)
            return 0;
        uint8_t hdr[KM_LC_FILE_HEADER];
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);

        if (fd < 0)
            return km_err_set_errno(KM_EIO, errno, "creating %s", path);
        memcpy(hdr, KM_LC_MAGIC_STRM, 4);
        km_lc_put_u32(hdr + 4, KM_LC_VERSION);
        if (pwrite_all(fd, hdr, sizeof(hdr), 0) < 0 || fdatasync(fd) != 0) {
            close(fd);
            return km_err_set_errno(KM_EIO, errno, "writing %s", path);
        }
        s->strm_fd = fd;
        return fsync_dir(s->dir);
    }
    if (rc < 0)
        return rc;
    if (memcmp(buf, KM_LC_MAGIC_STRM, 4) != 0 || km_lc_get_u32(buf + 4) != KM_LC_VERSION) {
        free(buf);
        return km_err_set(KM_ECORRUPT, "%s is not a kmon log streams file (version 1)", path);
    }
    while (off < len) {
        uint8_t type;
        const uint8_t *pl;
        uint32_t pl_len;
        size_t total;
        uint64_t id;
        struct km_labels *l;
        struct lstream *st;

        rc = km_lc_rec_next(buf + off, buf + len, &type, &pl, &pl_len, &total);
        if (rc <= 0) {
            km_log_warn(MOD, "%s: %s at byte %zu; cutting it there", path,
                        rc == 0 ? "a torn record" : "a corrupt record", off);
            break;
        }
        if (type == KM_LC_REC_NEXT_ID) {
            const uint8_t *q = pl;

            if (km_lc_get_uvarint(&q, pl + pl_len, &id) == 0 && q == pl + pl_len &&
                id > s->next_id && id < KM_LOGS_MAX_STREAM_ID)
                s->next_id = id;
        } else if (type == KM_LC_REC_STREAM && km_lc_stream_decode(pl, pl_len, &id, &l) == 0) {
            if (id == 0 || id >= KM_LOGS_MAX_STREAM_ID || stream_by_id(s, id) ||
                stream_by_labels(s, l->v, l->n, l->hash)) {
                /* a duplicate is skipped, but its id is not given again either */
                if (id < KM_LOGS_MAX_STREAM_ID && id >= s->next_id)
                    s->next_id = id + 1;
                km_labels_destroy(l);
            } else if (stream_add(s, id, l, &st) < 0) {
                free(buf);
                return KM_ENOMEM;
            }
        }
        off += total;
    }
    free(buf);
    if (s->o.read_only)
        return 0;
    s->strm_fd = open(path, O_RDWR | O_CLOEXEC);
    if (s->strm_fd < 0)
        return km_err_set_errno(KM_EIO, errno, "opening %s", path);
    if (off < len && ftruncate(s->strm_fd, (off_t)off) != 0)
        return km_err_set_errno(KM_EIO, errno, "cutting %s", path);
    return 0;
}

static int load_file(struct km_logstore *s, uint32_t seq)
{
    char pd[PATH_MAX], pi[PATH_MAX];
    struct lfile *f = calloc(1, sizeof(*f));
    uint8_t *ib = NULL;
    size_t ilen = 0, ilen_read, off = KM_LC_FILE_HEADER;
    struct stat sd;
    uint64_t dat_end = KM_LC_FILE_HEADER;
    int flags = s->o.read_only ? O_RDONLY : O_RDWR;
    int rc;

    if (!f)
        return km_err_set(KM_ENOMEM, "out of memory loading chunk files");
    f->dat = f->idx = -1;
    atomic_init(&f->refs, 1);
    f->seq = seq;
    f->mint = INT64_MAX;
    f->maxt = INT64_MIN;
    file_path(pd, sizeof(pd), s->dir, seq, "dat");
    file_path(pi, sizeof(pi), s->dir, seq, "idx");
    f->dat = open(pd, flags | O_CLOEXEC);
    if (f->dat < 0 || fstat(f->dat, &sd) != 0) {
        rc = km_err_set_errno(KM_EIO, errno, "opening %s", pd);
        goto fail;
    }
    rc = read_file(pi, SIZE_MAX / 2, &ib, &ilen);
    if (rc < 0)
        goto fail;
    ilen_read = ilen;
    if (ilen < KM_LC_FILE_HEADER || memcmp(ib, KM_LC_MAGIC_IDX, 4) != 0) {
        km_log_warn(MOD, "%s has no valid header; ignoring the chunk file", pi);
        ilen = 0;
    }
    while (ilen && off + KM_LC_IDX_ENTRY <= ilen) {
        struct km_lc_idx x;
        struct lstream *st;
        struct lchunk *c;

        if (km_lc_idx_decode(ib + off, &x) < 0 || x.offset < KM_LC_FILE_HEADER ||
            x.offset + x.length > (uint64_t)sd.st_size) {
            km_log_warn(MOD, "%s: a bad entry at byte %zu; the file's later chunks are dropped", pi,
                        off);
            break;
        }
        off += KM_LC_IDX_ENTRY;
        if (x.offset + x.length > dat_end)
            dat_end = x.offset + x.length;
        st = stream_by_id(s, x.stream_id);
        if (!st) {
            km_log_warn(MOD, "%s names stream %llu, which the streams file lacks", pi,
                        (unsigned long long)x.stream_id);
            continue;
        }
        c = calloc(1, sizeof(*c));
        if (!c || km_array_grow((void **)&st->ch, &st->capch, st->nch + 1, sizeof(*st->ch), 4,
                                "loading log chunks") < 0) {
            free(c);
            rc = km_err_set(KM_ENOMEM, "out of memory loading log chunks");
            goto fail;
        }
        *c = (struct lchunk){ .mint = x.mint,
                              .maxt = x.maxt,
                              .n = x.entries,
                              .raw = x.raw_bytes,
                              .last_pos = x.wal_pos,
                              .file = f,
                              .off = x.offset,
                              .len = x.length,
                              .bloom_len = x.bloom_len,
                              .crc = x.crc };
        atomic_fetch_add(&f->refs, 1);
        st->ch[st->nch++] = c;
        if (x.wal_pos > st->durable_pos)
            st->durable_pos = x.wal_pos;
        if (x.mint < st->mint)
            st->mint = x.mint;
        if (x.maxt > st->maxt)
            st->maxt = x.maxt;
        if (x.maxt > st->newest)
            st->newest = x.maxt;
        if (x.mint < f->mint)
            f->mint = x.mint;
        if (x.maxt > f->maxt)
            f->maxt = x.maxt;
        f->chunks++;
        f->raw += x.raw_bytes;
    }
    free(ib);
    f->idx = open(pi, flags | O_CLOEXEC);
    if (f->idx < 0) {
        rc = km_err_set_errno(KM_EIO, errno, "opening %s", pi);
        goto fail;
    }
    f->dat_size = dat_end;
    f->idx_size = ilen ? off : KM_LC_FILE_HEADER;
    if (f->chunks == 0 && ilen_read <= KM_LC_FILE_HEADER && !s->o.read_only) {
        /* made just before a crash, no chunk indexed yet (the WAL still holds any
         * bytes of its .dat): nothing to keep */
        unlink(pi);
        unlink(pd);
        if (seq >= s->next_file_seq)
            s->next_file_seq = seq + 1;
        km_lfile_unref(f);
        return 0;
    }
    if (!s->o.read_only &&
        (ftruncate(f->dat, (off_t)f->dat_size) != 0 || ftruncate(f->idx, (off_t)f->idx_size) != 0))
        km_log_warn(MOD, "cannot cut the torn tail off chunk file %08u", seq);
    if (km_array_grow((void **)&s->files, &s->capfiles, s->nfiles + 1, sizeof(*s->files), 16,
                      "loading chunk files") < 0) {
        rc = KM_ENOMEM;
        goto fail_noib;
    }
    s->files[s->nfiles++] = f;
    if (seq >= s->next_file_seq)
        s->next_file_seq = seq + 1;
    return 0;
fail:
    free(ib);
fail_noib:
    km_lfile_unref(f);
    return rc;
}

struct replay {
    struct km_logstore *s;
    struct lstream *last;
    uint64_t pos;
    int64_t old;
    uint64_t n;
};

static int replay_entry(void *ud, uint64_t id, const struct km_log_entry *e)
{
    struct replay *r = ud;
    struct lstream *st = stream_by_id(r->s, id);
    int rc;

    if (!st || r->pos <= st->durable_pos || e->ts_ns < r->old)
        return 0;
    rc = head_append(r->s, st, e, r->pos);
    if (rc < 0)
        return rc;
    r->last = st;
    dd_add(&st->dd, e->ts_ns, entry_fp(e->ts_ns, e->line, e->len), window_horizon(r->s, st));
    r->n++;
    return 0;
}

static int replay_wal(struct km_logstore *s)
{
    char wdir[PATH_MAX];
    uint32_t *seqs = NULL;
    size_t n = 0;
    struct replay r = { .s = s, .old = (km_ls_now_ms(s) - s->o.retention_ms) * 1000000 };
    int rc;

    snprintf(wdir, sizeof(wdir), "%s/wal", s->dir);
    rc = list_seqs(wdir, "", &seqs, &n);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX], msg[160];
        uint8_t *buf;
        size_t len, off = KM_LC_FILE_HEADER;

        if (s->o.progress) {
            snprintf(msg, sizeof(msg), "replaying the log WAL: %zu%% (%zu of %zu segments)",
                     i * 100 / n, i, n);
            s->o.progress(s->o.progress_ud, msg);
        }
        wal_path(path, sizeof(path), s->dir, seqs[i]);
        rc = read_file(path, KM_LC_REC_MAX * 4ull + SIZE_MAX / 4, &buf, &len);
        if (rc < 0)
            goto out;
        if (len < KM_LC_FILE_HEADER || memcmp(buf, KM_LC_MAGIC_WAL, 4) != 0) {
            km_log_warn(MOD, "%s has no valid header; skipping it", path);
            free(buf);
            off = len = 0;
        } else {
            while (off < len) {
                uint8_t type;
                const uint8_t *pl;
                uint32_t pl_len;
                size_t total;
                int k = km_lc_rec_next(buf + off, buf + len, &type, &pl, &pl_len, &total);

                if (k <= 0) {
                    if (k == 0)
                        km_log_warn(MOD,
                                    "%s: a torn record at byte %zu (a crash mid-write); "
                                    "cutting it off",
                                    path, off);
                    else
                        km_log_error(MOD,
                                     "%s: a corrupt record at byte %zu; the rest of the "
                                     "segment is cut off",
                                     path, off);
                    break;
                }
                if (type == KM_LC_REC_ENTRIES) {
                    r.pos = (uint64_t)seqs[i] << 32 | off;
                    r.last = NULL;
                    rc = km_lc_wal_decode(pl, pl_len, replay_entry, &r);
                    if (rc == 0 && r.last)
                        rc = head_maybe_cut(s, r.last);
                    if (rc == KM_ENOMEM) {
                        free(buf);
                        goto out;
                    }
                    if (rc < 0)
                        km_log_warn(MOD, "%s: %s", path, km_err_msg());
                    rc = 0;
                }
                off += total;
            }
            free(buf);
            if (off < len && !s->o.read_only && truncate(path, (off_t)off) != 0)
                km_log_warn(MOD, "cannot cut %s: %s", path, strerror(errno));
        }
        if (km_array_grow((void **)&s->wal_segs, &s->capwal_segs, s->nwal_segs + 1,
                          sizeof(*s->wal_segs), 16, "replaying the WAL") < 0) {
            rc = KM_ENOMEM;
            goto out;
        }
        s->wal_segs[s->nwal_segs++] = seqs[i];
        s->wal_bytes += off ? off : len;
    }
    s->wal_replayed = r.n;
    if (s->o.progress && n) {
        char msg[160];

        snprintf(msg, sizeof(msg), "replaying the log WAL: 100%% (%zu segments, %llu entries)", n,
                 (unsigned long long)r.n);
        s->o.progress(s->o.progress_ud, msg);
    }
out:
    free(seqs);
    return rc;
}

/* At most 100 years, so that milliseconds times 10^6 never overflow. */
#define MAX_MS (100LL * 366 * 24 * 3600 * 1000)

static void set_defaults(struct km_logstore_opts *o)
{
    struct km_log_limits l = { .retention_ms = o->retention_ms,
                               .max_future_ms = o->max_future_ms,
                               .ooo_window_ms = o->ooo_window_ms,
                               .max_line_bytes = o->max_line_bytes,
                               .max_streams = o->max_streams };

    if (o->fsync_interval_ms > MAX_MS)
        o->fsync_interval_ms = MAX_MS;
    if (o->max_chunk_age_ms > MAX_MS)
        o->max_chunk_age_ms = MAX_MS;
    km_log_limits_resolve(&l);
    o->retention_ms = l.retention_ms;
    o->max_future_ms = l.max_future_ms;
    o->ooo_window_ms = l.ooo_window_ms;
    o->max_line_bytes = l.max_line_bytes;
    o->max_streams = l.max_streams;
    /* negative: fsync before every push returns (the store's thread still wakes up
     * every DEF_FSYNC_MS for its other work) */
    if (o->fsync_interval_ms <= 0)
        o->fsync_interval_ms = DEF_FSYNC_MS;
    if (o->chunk_target_bytes == 0)
        o->chunk_target_bytes = DEF_CHUNK_TARGET;
    if (o->chunk_target_bytes > KM_LOGS_HEAD_MAX_BYTES / 2)
        o->chunk_target_bytes = KM_LOGS_HEAD_MAX_BYTES / 2;
    if (o->max_chunk_age_ms <= 0)
        o->max_chunk_age_ms = DEF_CHUNK_AGE_MS;
    if (o->chunk_file_bytes == 0)
        o->chunk_file_bytes = DEF_FILE_BYTES;
    if (o->wal_segment_bytes == 0)
        o->wal_segment_bytes = DEF_WAL_SEG_BYTES;
    if (o->wal_segment_bytes < 4096)
        o->wal_segment_bytes = 4096;
    if (o->zstd_level == 0)
        o->zstd_level = DEF_ZSTD_LEVEL;
}

int km_logstore_open(struct km_logstore **out, const struct km_logstore_opts *opts)
{
    struct km_logstore *s;
    char path[PATH_MAX];
    uint32_t *seqs = NULL;
    size_t nseqs = 0;
    int rc;

    if (!opts->dir || !opts->dir[0])
        return km_err_set(KM_EINVAL, "the log store needs a directory");
    s = calloc(1, sizeof(*s));
    if (!s)
        return km_err_set(KM_ENOMEM, "out of memory opening the log store");
    s->o = *opts;
    s->fsync_each = opts->fsync_interval_ms < 0;
    set_defaults(&s->o);
    s->lockfd = s->strm_fd = s->wal_fd = -1;
    s->next_id = 1;
    s->next_file_seq = 1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->wmu, NULL);
    pthread_cond_init(&s->cv, NULL);
    km_buf_init(&s->walbuf, KM_LC_REC_MAX);
    s->dir = strdup(opts->dir);
    if (!s->dir) {
        rc = km_err_set(KM_ENOMEM, "out of memory opening the log store");
        goto fail;
    }
    s->o.dir = s->dir;
    if (!s->o.read_only) {
        snprintf(path, sizeof(path), "%s/wal", s->dir);
        rc = km_mkdir_p(path, 0750);
        if (rc == 0) {
            snprintf(path, sizeof(path), "%s/chunks", s->dir);
            rc = km_mkdir_p(path, 0750);
        }
        if (rc < 0)
            goto fail;
        snprintf(path, sizeof(path), "%s/lock", s->dir);
        s->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
        if (s->lockfd < 0) {
            rc = km_err_set_errno(KM_EIO, errno, "opening %s", path);
            goto fail;
        }
        if (flock(s->lockfd, LOCK_EX | LOCK_NB) != 0) {
            rc = km_err_set(KM_EEXIST, "the log store %s is open in another process", s->dir);
            goto fail;
        }
    }
    rc = load_streams(s);
    if (rc < 0)
        goto fail;
    snprintf(path, sizeof(path), "%s/chunks", s->dir);
    if (access(path, F_OK) == 0) {
        rc = list_seqs(path, ".idx", &seqs, &nseqs);
        if (rc < 0)
            goto fail;
        for (size_t i = 0; i < nseqs; i++) {
            rc = load_file(s, seqs[i]);
            if (rc < 0)
                goto fail;
        }
        free(seqs);
        seqs = NULL;
    }
    for (size_t i = 0; i < s->nst; i++)
        s->st[i]->dd.loaded = s->st[i]->nch == 0;
    snprintf(path, sizeof(path), "%s/wal", s->dir);
    if (access(path, F_OK) == 0) {
        rc = replay_wal(s);
        if (rc < 0)
            goto fail;
    }
    for (size_t i = 0; i < s->nst; i++)
        if ((uint32_t)(s->st[i]->durable_pos >> 32) >= s->wal_seq_floor)
            s->wal_seq_floor = (uint32_t)(s->st[i]->durable_pos >> 32) + 1;
    if (!s->o.read_only) {
        rc = wal_open_segment(s);
        if (rc < 0)
            goto fail;
        if (pthread_create(&s->bg, NULL, bg_main, s) != 0) {
            rc = km_err_set(KM_EIO, "cannot start the log store's thread");
            goto fail;
        }
        s->bg_running = true;
    }
    *out = s;
    return 0;
fail:
    free(seqs);
    km_logstore_close(s);
    return rc;
}

int km_logstore_flush(struct km_logstore *s)
{
    int rc;

    if (s->o.read_only)
        return 0;
    cut_old_heads(s, true);
    pthread_mutex_lock(&s->wmu);
    rc = drain(s);
    pthread_mutex_unlock(&s->wmu);
    pthread_mutex_lock(&s->mu);
    s->wal_dirty = s->strm_dirty = true;
    pthread_mutex_unlock(&s->mu);
    sync_logs(s);
    return rc;
}

/* Run retention now (tests; the background thread does it every second). */
void km_logstore_retention(struct km_logstore *s)
{
    if (s->o.read_only)
        return;
    pthread_mutex_lock(&s->wmu);
    if (retention(s, false))
        retention_cut_wal(s);
    if (streams_gc(s, true) < 0)
        km_log_warn(MOD, "dropping log streams with no data: %s", km_err_msg());
    pthread_mutex_unlock(&s->wmu);
}

void km_logstore_close(struct km_logstore *s)
{
    if (!s)
        return;
    if (s->bg_running) {
        km_logstore_flush(s);
        pthread_mutex_lock(&s->mu);
        s->stopping = true;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->bg, NULL);
        wal_drop_if_idle(s);
    }
    for (size_t i = 0; i < s->nst; i++)
        stream_destroy(s->st[i]);
    free(s->st);
    for (size_t i = 0; i < s->ngrave; i++)
        stream_destroy(s->grave[i]);
    free(s->grave);
    for (size_t i = 0; i < s->nfiles; i++)
        km_lfile_unref(s->files[i]);
    free(s->files);
    for (size_t i = 0; i < s->nnames; i++) {
        free(s->names[i].name);
        free(s->names[i].vals.v);
    }
    free(s->names);
    for (size_t i = 0; i < s->npairs; i++) {
        free(s->pairs[i].value);
        free(s->pairs[i].ids.v);
    }
    free(s->pairs);
    lmap_fini(&s->by_labels);
    lmap_fini(&s->by_id);
    lmap_fini(&s->name_map);
    lmap_fini(&s->pair_map);
    free(s->q);
    free(s->wal_segs);
    km_buf_fini(&s->walbuf);
    for (size_t i = 0; i < s->nold_wal_fds; i++) {
        fdatasync(s->old_wal_fds[i]);
        close(s->old_wal_fds[i]);
    }
    if (s->wal_fd >= 0) {
        fdatasync(s->wal_fd);
        close(s->wal_fd);
    }
    if (s->strm_fd >= 0)
        close(s->strm_fd);
    if (s->lockfd >= 0)
        close(s->lockfd);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->wmu);
    pthread_mutex_destroy(&s->mu);
    free(s->dir);
    free(s);
}

static int sink_push(void *ctx, const struct km_log_push_stream *st, size_t n,
                     struct km_log_push_result *res)
{
    return km_logstore_push(ctx, st, n, res);
}

static void sink_metrics(void *ctx, struct km_mset *m)
{
    km_logstore_metrics(ctx, m);
}

void km_logstore_sink(struct km_logstore *s, struct km_log_sink *out)
{
    *out = (struct km_log_sink){ .push = sink_push, .metrics = sink_metrics, .ctx = s };
}

void km_logstore_source(struct km_logstore *s, struct km_log_source *out)
{
    out->ops = &km_logstore_source_ops;
    out->ctx = s;
}

/* ---------------------------------------------------------------- metrics */

void km_logstore_metrics(struct km_logstore *s, struct km_mset *m)
{
    uint64_t disk = 0, mem_chunks = 0, disk_chunks = 0;
    int f;

    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nfiles; i++) {
        disk += s->files[i]->dat_size + s->files[i]->idx_size;
        disk_chunks += s->files[i]->chunks;
    }
    mem_chunks = s->qn - s->qhead;
    f = km_mset_family(m, "kmon_logs_entries_total", "Log entries pushed, by outcome and reason.",
                       KM_MT_COUNTER, 0);
    km_mset_add(m, f, (struct km_label[]){ { "outcome", "stored" } }, 1, (double)s->entries_stored);
    km_mset_add(m, f, (struct km_label[]){ { "outcome", "duplicate" } }, 1, (double)s->entries_dup);
    for (int r = 0; r < KM_LOG_REFUSAL__N; r++)
        km_mset_add(
            m, f,
            (struct km_label[]){ { "outcome", "refused" }, { "reason", km_log_refusal_reason(r) } },
            2, (double)s->refused[r]);
    f = km_mset_family(m, "kmon_logs_bytes_total", "Bytes of log lines pushed, by outcome.",
                       KM_MT_COUNTER, 0);
    km_mset_add(m, f, (struct km_label[]){ { "outcome", "stored" } }, 1, (double)s->bytes_stored);
    km_mset_add(m, f, (struct km_label[]){ { "outcome", "duplicate" } }, 1, (double)s->bytes_dup);
    uint64_t rb = 0;
    for (int r = 0; r < KM_LOG_REFUSAL__N; r++)
        rb += s->refused_bytes[r];
    km_mset_add(m, f, (struct km_label[]){ { "outcome", "refused" } }, 1, (double)rb);
    km_mset_gauge(m, "kmon_logs_streams", "Log streams in the store.", (double)s->nst);
    f = km_mset_family(m, "kmon_logs_chunks", "Log chunks, written or waiting to be written.",
                       KM_MT_GAUGE, 0);
    km_mset_add(m, f, (struct km_label[]){ { "state", "disk" } }, 1, (double)disk_chunks);
    km_mset_add(m, f, (struct km_label[]){ { "state", "pending" } }, 1, (double)mem_chunks);
    km_mset_gauge(m, "kmon_logs_disk_bytes", "Bytes of chunk files on disk.", (double)disk);
    km_mset_gauge(m, "kmon_logs_wal_bytes", "Bytes of log WAL segments on disk.",
                  (double)s->wal_bytes);
    km_mset_gauge(m, "kmon_logs_head_bytes", "Bytes of log lines in open chunks in memory.",
                  (double)s->head_bytes);
    km_mset_add(m,
                km_mset_family(m, "kmon_logs_retention_deleted_chunks_total",
                               "Log chunks deleted by retention.", KM_MT_COUNTER, 0),
                NULL, 0, (double)s->retention_chunks);
    km_mset_add(m,
                km_mset_family(m, "kmon_logs_retention_deleted_bytes_total",
                               "Compressed bytes of log chunks deleted by retention.",
                               KM_MT_COUNTER, 0),
                NULL, 0, (double)s->retention_bytes);
    km_mset_add(m,
                km_mset_family(m, "kmon_logs_retention_deleted_head_entries_total",
                               "Log entries still in memory deleted by retention.", KM_MT_COUNTER,
                               0),
                NULL, 0, (double)s->retention_head_entries);
    km_mset_add(m,
                km_mset_family(m, "kmon_logs_streams_dropped_total",
                               "Log streams dropped once retention had deleted all their data.",
                               KM_MT_COUNTER, 0),
                NULL, 0, (double)s->streams_dropped);
    km_mset_add(m,
                km_mset_family(m, "kmon_logs_write_errors_total",
                               "Failed writes of the log WAL, streams or chunk files.",
                               KM_MT_COUNTER, 0),
                NULL, 0, (double)s->write_errors);
    km_mset_gauge(
        m, "kmon_logs_compression_ratio",
        "Compressed bytes per raw byte of the chunks written since start.",
        s->chunk_raw_written ? (double)s->chunk_bytes_written / (double)s->chunk_raw_written : 0);
    pthread_mutex_unlock(&s->mu);
}
