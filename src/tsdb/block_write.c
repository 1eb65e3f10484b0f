/*
 * block_write — writing a block (see block.h; layout in FORMAT.md "Blocks").
 *
 * Chunk data streams to the chunks file in zstd frames as series arrive; labels and
 * chunk references stay in memory (interned strings, 32-bit ids) until commit, when the
 * sorted symbol table, the series pages and the postings are written to the index. The
 * whole block is built in <id>.tmp and renamed into place after everything is fsynced,
 * so a crash leaves either no block or a complete one.
 */
#include "block.h"

#include "block_format.h"
#include "common/array.h"
#include "common/err.h"
#include "common/jsonw.h"
#include "common/limits.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK_SPAN_MS 7200000 /* a chunk never crosses a 2 h boundary */
#define INDEX_FLUSH   (1u << 20)

struct wchunk {
    int64_t mint, maxt;
    uint32_t frame, off;
};

struct wseries {
    size_t lab; /* offset of its 2 * nl string ids in w->labs */
    uint32_t nl;
    size_t chunk; /* first chunk in w->chunks */
    uint32_t nchunks;
};

struct km_block_writer {
    char blocks_dir[PATH_MAX], tmp[PATH_MAX + 8], final[PATH_MAX + 48], id[41];
    int64_t mint, maxt;
    int level;
    char **parents;
    char origin[41];
    int chunks_fd;
    uint64_t chunks_off;
    struct km_buf frame, out, enc;
    uint64_t *frame_offs;
    size_t nframes, capframes;
    /* Interned strings: bytes in `strs`, offsets in `stroff`, lookup by hash. */
    struct km_buf strs;
    uint32_t *stroff;
    size_t nstr, capstr;
    uint32_t *strhash; /* id + 1 or 0 */
    size_t nstrhash;
    uint32_t *labs;
    size_t nlabs, caplabs;
    struct wseries *series;
    size_t nseries, capseries;
    struct wchunk *chunks;
    size_t nchunks, capchunks;
    uint64_t nsamples;
};

static int grow(void **v, size_t *cap, size_t need, size_t elem)
{
    return km_array_grow(v, cap, need, elem, 64, "writing a block");
}

static const char *str_of(const struct km_block_writer *w, uint32_t id)
{
    return w->strs.data + w->stroff[id];
}

static int intern(struct km_block_writer *w, const char *s, uint32_t *id)
{
    size_t n = strlen(s), mask, i;
    uint64_t h = XXH3_64bits(s, n);
    int rc;

    if ((w->nstr + 1) * 2 > w->nstrhash) {
        size_t nn = w->nstrhash ? w->nstrhash * 2 : 1024;
        uint32_t *nh = calloc(nn, sizeof(*nh));

        if (!nh)
            return km_err_set(KM_ENOMEM, "out of memory writing a block");
        for (size_t k = 0; k < w->nstr; k++) {
            const char *x = str_of(w, (uint32_t)k);
            size_t j = XXH3_64bits(x, strlen(x)) & (nn - 1);

            while (nh[j])
                j = (j + 1) & (nn - 1);
            nh[j] = (uint32_t)k + 1;
        }
        free(w->strhash);
        w->strhash = nh;
        w->nstrhash = nn;
    }
    mask = w->nstrhash - 1;
    for (i = h & mask; w->strhash[i]; i = (i + 1) & mask) {
        if (strcmp(str_of(w, w->strhash[i] - 1), s) == 0) {
            *id = w->strhash[i] - 1;
            return 0;
        }
    }
    rc = grow((void **)&w->stroff, &w->capstr, w->nstr + 1, sizeof(*w->stroff));
    if (rc)
        return rc;
    w->stroff[w->nstr] = (uint32_t)w->strs.len;
    km_buf_append(&w->strs, s, n + 1);
    if (km_buf_error(&w->strs))
        return km_buf_error(&w->strs);
    w->strhash[i] = (uint32_t)w->nstr + 1;
    *id = (uint32_t)w->nstr++;
    return 0;
}

static int write_fd(int fd, const void *p, size_t n, const char *what)
{
    const char *c = p;

    while (n) {
        ssize_t got = write(fd, c, n);

        if (got < 0) {
            if (errno == EINTR)
                continue;
            return km_err_set_errno(KM_EIO, errno, "writing %s", what);
        }
        c += got;
        n -= (size_t)got;
    }
    return 0;
}

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

    if (fd < 0)
        return km_err_set_errno(KM_EIO, errno, "opening %s", path);
    if (fsync(fd) != 0)
        rc = km_err_set_errno(KM_EIO, errno, "fsync %s", path);
    close(fd);
    return rc;
}

static void remove_tree(const char *dir)
{
    static const char *const files[] = { "chunks", "index", "meta.json", "meta.json.tmp" };

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char p[PATH_MAX + 64];

        snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

/* A new block id: the creation time in ms, then a random part; ids made by this process
 * increase strictly (the same millisecond counts on from the last random part), so they
 * order blocks by creation. */
static void make_id(char id[41])
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static uint64_t last_ms, last_rnd;
    struct timespec ts;
    uint64_t rnd = 0, ms;

    clock_gettime(CLOCK_REALTIME, &ts);
    ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
        rnd = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull;
    rnd >>= 1; /* room to count on */
    pthread_mutex_lock(&mu);
    if (ms <= last_ms) {
        ms = last_ms;
        rnd = last_rnd + 1;
    }
    last_ms = ms;
    last_rnd = rnd;
    pthread_mutex_unlock(&mu);
    snprintf(id, 41, "%012llx%016llx", (unsigned long long)ms, (unsigned long long)rnd);
}

int km_block_writer_begin(struct km_block_writer **out, const char *blocks_dir, int64_t mint,
                          int64_t maxt, int level, const char *const *parents)
{
    struct km_block_writer *w = calloc(1, sizeof(*w));
    char path[PATH_MAX + 64];
    uint8_t hdr[8];
    size_t np = 0;
    int rc;

    if (!w)
        return km_err_set(KM_ENOMEM, "out of memory");
    w->chunks_fd = -1;
    km_buf_init(&w->frame, 0);
    km_buf_init(&w->out, 0);
    km_buf_init(&w->enc, 0);
    km_buf_init(&w->strs, 0);
    w->mint = mint;
    w->maxt = maxt;
    w->level = level;
    while (parents && parents[np])
        np++;
    w->parents = calloc(np + 1, sizeof(char *));
    for (size_t i = 0; w->parents && i < np; i++)
        w->parents[i] = strdup(parents[i]);
    snprintf(w->blocks_dir, sizeof(w->blocks_dir), "%s", blocks_dir);
    make_id(w->id);
    memcpy(w->origin, w->id, sizeof(w->origin));
    snprintf(w->tmp, sizeof(w->tmp), "%s/%s.tmp", blocks_dir, w->id);
    snprintf(w->final, sizeof(w->final), "%s/%s", blocks_dir, w->id);
    if (!w->parents) {
        rc = km_err_set(KM_ENOMEM, "out of memory");
        goto out_abort;
    }
    if ((mkdir(blocks_dir, 0755) != 0 && errno != EEXIST) || mkdir(w->tmp, 0755) != 0) {
        rc = km_err_set_errno(KM_EIO, errno, "creating %s", w->tmp);
        goto out_abort;
    }
    snprintf(path, sizeof(path), "%s/chunks", w->tmp);
    w->chunks_fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (w->chunks_fd < 0) {
        rc = km_err_set_errno(KM_EIO, errno, "creating %s", path);
        goto out_abort;
    }
    memcpy(hdr, KM_BLK_CHUNKS_MAGIC, 4);
    km_le32(hdr + 4, KM_BLK_VERSION);
    rc = write_fd(w->chunks_fd, hdr, sizeof(hdr), path);
    if (rc)
        goto out_abort;
    w->chunks_off = sizeof(hdr);
    *out = w;
    return 0;

out_abort:
    km_block_writer_abort(w);
    return rc;
}

static int flush_frame(struct km_block_writer *w)
{
    int rc;

    if (w->frame.len == 0)
        return 0;
    km_buf_reset(&w->out);
    rc = km_blk_section_put(&w->out, w->frame.data, w->frame.len, 3);
    if (rc == 0)
        rc = grow((void **)&w->frame_offs, &w->capframes, w->nframes + 1, sizeof(uint64_t));
    if (rc == 0)
        rc = write_fd(w->chunks_fd, w->out.data, w->out.len, "block chunks");
    if (rc)
        return rc;
    w->frame_offs[w->nframes++] = w->chunks_off;
    w->chunks_off += w->out.len;
    km_buf_reset(&w->frame);
    return 0;
}

static int add_chunk(struct km_block_writer *w, const int64_t *t, const double *v, size_t n)
{
    struct wchunk *c;
    int rc;

    km_buf_reset(&w->enc);
    km_bchunk_encode(&w->enc, t, v, n);
    if (km_buf_error(&w->enc))
        return km_buf_error(&w->enc);
    rc = grow((void **)&w->chunks, &w->capchunks, w->nchunks + 1, sizeof(*w->chunks));
    if (rc)
        return rc;
    c = &w->chunks[w->nchunks++];
    c->mint = t[0];
    c->maxt = t[n - 1];
    c->frame = (uint32_t)w->nframes;
    c->off = (uint32_t)w->frame.len;
    km_buf_append(&w->frame, w->enc.data, w->enc.len);
    if (km_buf_error(&w->frame))
        return km_buf_error(&w->frame);
    w->nsamples += n;
    return w->frame.len >= KM_BLK_FRAME_RAW ? flush_frame(w) : 0;
}

static int64_t span_of(int64_t t)
{
    int64_t q = t / CHUNK_SPAN_MS;

    return (t % CHUNK_SPAN_MS != 0 && t < 0) ? q - 1 : q;
}

int km_block_writer_add(struct km_block_writer *w, const struct km_label *l, size_t nl,
                        const int64_t *t, const double *v, size_t ns)
{
    struct wseries *s;
    size_t start = 0;
    int rc;

    if (ns == 0)
        return 0;
    if (nl == 0 || nl > KM_LIMIT_LABELS_PER_SERIES)
        return km_err_set(KM_EINVAL, "block series with %zu labels", nl);
    if (w->nseries) {
        const struct wseries *p = &w->series[w->nseries - 1];
        struct km_label prev[KM_LIMIT_LABELS_PER_SERIES];

        for (uint32_t i = 0; i < p->nl; i++) {
            prev[i].name = str_of(w, w->labs[p->lab + 2 * i]);
            prev[i].value = str_of(w, w->labs[p->lab + 2 * i + 1]);
        }
        if (km_labels_cmp_arrays(prev, p->nl, l, nl) >= 0)
            return km_err_set(KM_EINVAL, "block series added out of label order");
    }
    rc = grow((void **)&w->series, &w->capseries, w->nseries + 1, sizeof(*w->series));
    if (rc == 0)
        rc = grow((void **)&w->labs, &w->caplabs, w->nlabs + 2 * nl, sizeof(*w->labs));
    if (rc)
        return rc;
    s = &w->series[w->nseries];
    s->lab = w->nlabs;
    s->nl = (uint32_t)nl;
    s->chunk = w->nchunks;
    for (size_t i = 0; i < nl; i++) {
        rc = intern(w, l[i].name, &w->labs[w->nlabs + 2 * i]);
        if (rc == 0)
            rc = intern(w, l[i].value, &w->labs[w->nlabs + 2 * i + 1]);
        if (rc)
            return rc;
    }
    /* Chunks of at most KM_BLK_CHUNK_SAMPLES that never cross a 2 h boundary. */
    for (size_t i = 1; i <= ns; i++) {
        if (i == ns || i - start == KM_BLK_CHUNK_SAMPLES || span_of(t[i]) != span_of(t[start])) {
            rc = add_chunk(w, t + start, v + start, i - start);
            if (rc)
                return rc;
            start = i;
        }
    }
    s->nchunks = (uint32_t)(w->nchunks - s->chunk);
    w->nlabs += 2 * nl;
    w->nseries++;
    return 0;
}

/* ---- commit: the index ------------------------------------------------------------------- */

struct index_out {
    int fd;
    uint64_t off; /* bytes written so far */
    struct km_buf buf;
};

static int index_flush(struct index_out *o)
{
    int rc = write_fd(o->fd, o->buf.data, o->buf.len, "block index");

    o->off += o->buf.len;
    km_buf_reset(&o->buf);
    return rc;
}

/* Append a section; returns its offset in the file through *at. */
static int index_section(struct index_out *o, const void *raw, size_t n, uint64_t *at)
{
    int rc;

    *at = o->off + o->buf.len;
    rc = km_blk_section_put(&o->buf, raw, n, 9);
    if (rc == 0 && o->buf.len >= INDEX_FLUSH)
        rc = index_flush(o);
    return rc;
}

static void put_uv(struct km_buf *b, uint64_t v)
{
    uint8_t tmp[10];

    km_buf_append(b, tmp, km_put_uvarint(tmp, v));
}

static int cmp_str_ids(const void *a, const void *b, void *ud)
{
    const struct km_block_writer *w = ud;

    return strcmp(str_of(w, *(const uint32_t *)a), str_of(w, *(const uint32_t *)b));
}

struct triple {
    uint32_t name, value, series;
};

static int cmp_triple(const void *a, const void *b)
{
    const struct triple *x = a, *y = b;

    if (x->name != y->name)
        return x->name < y->name ? -1 : 1;
    if (x->value != y->value)
        return x->value < y->value ? -1 : 1;
    return x->series < y->series ? -1 : x->series > y->series;
}

/* Write `count` items in pages of `per_page` (each page one section, filled by fill()),
 * then a table: the page count and each page's offset. */
typedef void (*page_fill_fn)(void *ud, struct km_buf *page, size_t i);

static int write_paged(struct index_out *o, size_t count, size_t per_page, page_fill_fn fill,
                       void *ud, uint64_t *table_at)
{
    struct km_buf page, table;
    uint32_t npages = (uint32_t)((count + per_page - 1) / per_page);
    int rc = 0;

    km_buf_init(&page, 0);
    km_buf_init(&table, 0);
    km_buf_append(&table, &(uint8_t[4]){ 0 }, 4);
    km_le32((uint8_t *)table.data, npages);
    for (uint32_t p = 0; p < npages && rc == 0; p++) {
        uint64_t at = 0;
        uint8_t le[8];

        km_buf_reset(&page);
        for (size_t i = (size_t)p * per_page; i < count && i < (size_t)(p + 1) * per_page; i++)
            fill(ud, &page, i);
        rc = km_buf_error(&page);
        if (rc == 0)
            rc = index_section(o, page.data, page.len, &at);
        km_le64(le, at);
        km_buf_append(&table, le, 8);
    }
    if (rc == 0)
        rc = km_buf_error(&table);
    if (rc == 0)
        rc = index_section(o, table.data, table.len, table_at);
    km_buf_fini(&page);
    km_buf_fini(&table);
    return rc;
}

struct sym_fill {
    const struct km_block_writer *w;
    const uint32_t *order;
};

static void fill_symbol(void *ud, struct km_buf *page, size_t i)
{
    const struct sym_fill *f = ud;
    const char *s = str_of(f->w, f->order[i]);
    size_t n = strlen(s);

    put_uv(page, n);
    km_buf_append(page, s, n);
}

/* Write pages of symbols (sorted) and a table of their offsets; fill final[] with each
 * string's final id. */
static int write_symbols(struct km_block_writer *w, struct index_out *o, uint32_t *final,
                         uint64_t *table_at)
{
    uint32_t *order = malloc((w->nstr ? w->nstr : 1) * sizeof(*order));
    int rc;

    if (!order)
        return km_err_set(KM_ENOMEM, "out of memory writing a block");
    for (size_t i = 0; i < w->nstr; i++)
        order[i] = (uint32_t)i;
    qsort_r(order, w->nstr, sizeof(*order), cmp_str_ids, w);
    for (size_t i = 0; i < w->nstr; i++)
        final[order[i]] = (uint32_t)i;
    rc = write_paged(o, w->nstr, KM_BLK_SYMS_PER_PAGE, fill_symbol, &(struct sym_fill){ w, order },
                     table_at);
    free(order);
    return rc;
}

struct series_fill {
    const struct km_block_writer *w;
    const uint32_t *final;
};

static void fill_series(void *ud, struct km_buf *page, size_t i)
{
    const struct series_fill *f = ud;
    const struct km_block_writer *w = f->w;
    const struct wseries *s = &w->series[i];
    int64_t prev = w->mint;

    put_uv(page, s->nl);
    for (uint32_t k = 0; k < 2 * s->nl; k++)
        put_uv(page, f->final[w->labs[s->lab + k]]);
    put_uv(page, s->nchunks);
    for (uint32_t k = 0; k < s->nchunks; k++) {
        const struct wchunk *c = &w->chunks[s->chunk + k];

        put_uv(page, km_zigzag((int64_t)((uint64_t)c->mint - (uint64_t)prev)));
        put_uv(page, (uint64_t)c->maxt - (uint64_t)c->mint);
        put_uv(page, c->frame);
        put_uv(page, c->off);
        prev = c->maxt;
    }
}

static int write_series(struct km_block_writer *w, struct index_out *o, const uint32_t *final,
                        uint64_t *table_at)
{
    return write_paged(o, w->nseries, KM_BLK_SERIES_PER_PAGE, fill_series,
                       &(struct series_fill){ w, final }, table_at);
}

static int write_postings(struct km_block_writer *w, struct index_out *o, const uint32_t *final,
                          uint64_t *table_at, uint32_t *npairs_out)
{
    struct triple *tr = malloc((w->nlabs / 2 ? w->nlabs / 2 : 1) * sizeof(*tr));
    struct km_buf page, entries, pages;
    uint32_t npairs = 0, npages = 0;
    size_t n = 0;
    int rc = 0;

    if (!tr)
        return km_err_set(KM_ENOMEM, "out of memory writing a block");
    km_buf_init(&page, 0);
    km_buf_init(&entries, 0);
    km_buf_init(&pages, 0);
    for (size_t i = 0; i < w->nseries; i++) {
        const struct wseries *s = &w->series[i];

        for (uint32_t k = 0; k < s->nl; k++)
            tr[n++] = (struct triple){ final[w->labs[s->lab + 2 * k]],
                                       final[w->labs[s->lab + 2 * k + 1]], (uint32_t)i };
    }
    km_sort(tr, n, sizeof(*tr), cmp_triple);
    for (size_t i = 0; i < n && rc == 0;) {
        size_t j = i;
        uint8_t e[20];
        uint32_t prev = 0;

        while (j < n && tr[j].name == tr[i].name && tr[j].value == tr[i].value)
            j++;
        km_le32(e, tr[i].name);
        km_le32(e + 4, tr[i].value);
        km_le32(e + 8, npages);
        km_le32(e + 12, (uint32_t)page.len);
        km_le32(e + 16, (uint32_t)(j - i));
        km_buf_append(&entries, e, sizeof(e));
        for (size_t k = i; k < j; k++) {
            put_uv(&page, tr[k].series - prev);
            prev = tr[k].series;
        }
        npairs++;
        i = j;
        if (page.len >= KM_BLK_POSTINGS_PAGE || i == n) {
            uint64_t at = 0;
            uint8_t le[8];

            rc = km_buf_error(&page);
            if (rc == 0)
                rc = index_section(o, page.data, page.len, &at);
            km_le64(le, at);
            km_buf_append(&pages, le, 8);
            npages++;
            km_buf_reset(&page);
        }
    }
    /* The table: npairs entries of 20 bytes, then u32 npages and their offsets. */
    {
        uint8_t le[4];

        km_le32(le, npages);
        km_buf_append(&entries, le, 4);
        km_buf_append(&entries, pages.data, pages.len);
    }
    if (rc == 0)
        rc = km_buf_error(&entries);
    if (rc == 0)
        rc = index_section(o, entries.data, entries.len, table_at);
    *npairs_out = npairs;
    km_buf_fini(&page);
    km_buf_fini(&entries);
    km_buf_fini(&pages);
    free(tr);
    return rc;
}

static int write_meta(struct km_block_writer *w)
{
    char path[PATH_MAX + 64], tmp[PATH_MAX + 64];
    struct km_buf b;
    struct km_jsonw j;
    int fd, rc;

    km_buf_init(&b, 0);
    km_jsonw_init(&j, &b);
    km_jsonw_obj_begin(&j);
    km_jsonw_key(&j, "version");
    km_jsonw_i64(&j, KM_BLK_VERSION);
    km_jsonw_key(&j, "id");
    km_jsonw_str(&j, w->id);
    km_jsonw_key(&j, "mint");
    km_jsonw_i64(&j, w->mint);
    km_jsonw_key(&j, "maxt");
    km_jsonw_i64(&j, w->maxt);
    km_jsonw_key(&j, "stats");
    km_jsonw_obj_begin(&j);
    km_jsonw_key(&j, "series");
    km_jsonw_u64(&j, w->nseries);
    km_jsonw_key(&j, "samples");
    km_jsonw_u64(&j, w->nsamples);
    km_jsonw_key(&j, "chunks");
    km_jsonw_u64(&j, w->nchunks);
    km_jsonw_obj_end(&j);
    km_jsonw_key(&j, "compaction");
    km_jsonw_obj_begin(&j);
    km_jsonw_key(&j, "level");
    km_jsonw_i64(&j, w->level);
    km_jsonw_key(&j, "parents");
    km_jsonw_arr_begin(&j);
    for (size_t i = 0; w->parents[i]; i++)
        km_jsonw_str(&j, w->parents[i]);
    km_jsonw_arr_end(&j);
    km_jsonw_key(&j, "origin");
    km_jsonw_str(&j, w->origin);
    km_jsonw_obj_end(&j);
    km_jsonw_obj_end(&j);
    km_buf_putc(&b, '\n');
    rc = km_buf_error(&b);
    snprintf(tmp, sizeof(tmp), "%s/meta.json.tmp", w->tmp);
    snprintf(path, sizeof(path), "%s/meta.json", w->tmp);
    if (rc == 0) {
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            rc = km_err_set_errno(KM_EIO, errno, "creating %s", tmp);
        } else {
            rc = write_fd(fd, b.data, b.len, tmp);
            if (rc == 0 && fsync(fd) != 0)
                rc = km_err_set_errno(KM_EIO, errno, "fsync %s", tmp);
            close(fd);
            if (rc == 0 && rename(tmp, path) != 0)
                rc = km_err_set_errno(KM_EIO, errno, "renaming %s", tmp);
        }
    }
    km_buf_fini(&b);
    return rc;
}

void km_block_writer_set_origin(struct km_block_writer *w, const char *origin)
{
    snprintf(w->origin, sizeof(w->origin), "%s", origin);
}

int km_block_writer_commit(struct km_block_writer *w, char id[41])
{
    struct index_out o = { .fd = -1 };
    uint64_t symtab = 0, seriestab = 0, posttab = 0, frametab;
    uint32_t *final = NULL, npairs = 0;
    char path[PATH_MAX + 64];
    uint8_t foot[KM_BLK_INDEX_FOOTER], cfoot[KM_BLK_CHUNKS_FOOTER], hdr[8];
    int rc;

    km_buf_init(&o.buf, 0);
    if (w->nseries == 0) {
        km_block_writer_abort(w);
        km_buf_fini(&o.buf);
        return km_err_set(KM_ENOTFOUND, "no samples: no block written");
    }
    /* The block's range covers its data, also a sample outside the range asked for. */
    for (size_t i = 0; i < w->nchunks; i++) {
        if (w->chunks[i].mint < w->mint)
            w->mint = w->chunks[i].mint;
        if (w->chunks[i].maxt > w->maxt)
            w->maxt = w->chunks[i].maxt;
    }
    /* Chunks: last frame, frame table, footer. */
    rc = flush_frame(w);
    if (rc)
        goto out_abort;
    km_buf_reset(&w->out);
    {
        struct km_buf t;
        uint8_t le[8];

        km_buf_init(&t, 0);
        for (size_t i = 0; i < w->nframes; i++) {
            km_le64(le, w->frame_offs[i]);
            km_buf_append(&t, le, 8);
        }
        rc = km_buf_error(&t);
        if (rc == 0)
            rc = km_blk_section_put(&w->out, t.data ? t.data : "", t.len, 3);
        km_buf_fini(&t);
    }
    frametab = w->chunks_off;
    km_le64(cfoot, frametab);
    km_le32(cfoot + 8, (uint32_t)w->nframes);
    memcpy(cfoot + 12, KM_BLK_FOOTER_MAGIC, 4);
    km_le32(cfoot + 16, km_blk_checksum(cfoot, 16));
    km_le32(cfoot + 20, 0);
    if (rc == 0)
        rc = write_fd(w->chunks_fd, w->out.data, w->out.len, "block chunks");
    if (rc == 0)
        rc = write_fd(w->chunks_fd, cfoot, sizeof(cfoot), "block chunks");
    if (rc == 0 && fsync(w->chunks_fd) != 0)
        rc = km_err_set_errno(KM_EIO, errno, "fsync block chunks");
    if (rc)
        goto out_abort;
    close(w->chunks_fd);
    w->chunks_fd = -1;

    /* Index. */
    snprintf(path, sizeof(path), "%s/index", w->tmp);
    o.fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (o.fd < 0) {
        rc = km_err_set_errno(KM_EIO, errno, "creating %s", path);
        goto out_abort;
    }
    memcpy(hdr, KM_BLK_INDEX_MAGIC, 4);
    km_le32(hdr + 4, KM_BLK_VERSION);
    km_buf_append(&o.buf, hdr, sizeof(hdr));
    final = malloc((w->nstr ? w->nstr : 1) * sizeof(*final));
    if (!final) {
        rc = km_err_set(KM_ENOMEM, "out of memory writing a block");
        goto out_abort;
    }
    rc = write_symbols(w, &o, final, &symtab);
    if (rc == 0)
        rc = write_series(w, &o, final, &seriestab);
    if (rc == 0)
        rc = write_postings(w, &o, final, &posttab, &npairs);
    if (rc)
        goto out_abort;
    km_le64(foot, symtab);
    km_le64(foot + 8, seriestab);
    km_le64(foot + 16, posttab);
    km_le32(foot + 24, (uint32_t)w->nstr);
    km_le32(foot + 28, (uint32_t)w->nseries);
    km_le32(foot + 32, npairs);
    memcpy(foot + 36, KM_BLK_FOOTER_MAGIC, 4);
    km_le32(foot + 40, km_blk_checksum(foot, 40));
    km_buf_append(&o.buf, foot, sizeof(foot));
    rc = km_buf_error(&o.buf);
    if (rc == 0)
        rc = index_flush(&o);
    if (rc == 0 && fsync(o.fd) != 0)
        rc = km_err_set_errno(KM_EIO, errno, "fsync %s", path);
    if (rc)
        goto out_abort;
    close(o.fd);
    o.fd = -1;
    rc = write_meta(w);
    if (rc == 0)
        rc = fsync_path(w->tmp);
    if (rc == 0 && rename(w->tmp, w->final) != 0)
        rc = km_err_set_errno(KM_EIO, errno, "renaming %s", w->tmp);
    if (rc == 0)
        rc = fsync_path(w->blocks_dir);
    if (rc)
        goto out_abort;
    memcpy(id, w->id, 41);
    free(final);
    km_buf_fini(&o.buf);
    w->tmp[0] = '\0'; /* nothing left to remove */
    km_block_writer_abort(w);
    return 0;

out_abort:
    if (o.fd >= 0)
        close(o.fd);
    free(final);
    km_buf_fini(&o.buf);
    km_block_writer_abort(w);
    return rc;
}

void km_block_writer_abort(struct km_block_writer *w)
{
    if (!w)
        return;
    if (w->chunks_fd >= 0)
        close(w->chunks_fd);
    if (w->tmp[0])
        remove_tree(w->tmp);
    for (size_t i = 0; w->parents && w->parents[i]; i++)
        free(w->parents[i]);
    free(w->parents);
    km_buf_fini(&w->frame);
    km_buf_fini(&w->out);
    km_buf_fini(&w->enc);
    km_buf_fini(&w->strs);
    free(w->frame_offs);
    free(w->stroff);
    free(w->strhash);
    free(w->labs);
    free(w->series);
    free(w->chunks);
    free(w);
}
