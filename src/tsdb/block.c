/*
 * block — opening and reading blocks (see block.h; layout in block_format.h and
 * FORMAT.md). Nothing read from disk is trusted: lengths and offsets are checked
 * against the mapped files, sections against their checksums, ids against their
 * tables; a damaged block fails with KM_ECORRUPT, never a crash.
 */
#include "block.h"
#include "common/array.h"

#include "block_format.h"
#include "common/err.h"
#include "common/limits.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct ptab {
    uint32_t name, value, page, off, count;
};

struct sympage {
    char *raw;        /* decompressed page, strings NUL-separated in place */
    const char **str; /* pointers to each string */
    uint32_t n;
    atomic_bool ready; /* set (release) once raw and str are complete: read without the lock */
};

struct km_block {
    atomic_uint refs;
    atomic_bool deleted;
    char dir[PATH_MAX];
    struct km_block_meta meta;
    uint8_t *idx, *chk;
    size_t idx_len, chk_len;
    uint32_t nsyms, nseries, npairs;
    uint32_t nsympages, nseriespages, npostpages, nframes;
    uint64_t *sympage_off, *seriespage_off, *postpage_off, *frame_off;
    struct ptab *ptab; /* sorted by (name, value): the writer sorted symbols first */
    pthread_mutex_t symmu;
    struct sympage *sympages;
    uint64_t serial;           /* this block's entries in the cache */
    struct km_seccache *cache; /* NULL: none */
};

/* Serial numbers of open blocks: never reused, so a cache entry cannot outlive its
 * block's mapping under another block's name. */
static atomic_uint_fast64_t block_serials;

static void unmap(uint8_t *p, size_t n)
{
    if (p && n)
        munmap(p, n);
}

static int map_file(const char *dir, const char *name, uint8_t **out, size_t *len)
{
    char path[PATH_MAX + 32];
    struct stat st;
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;

        if (fd >= 0)
            close(fd);
        return km_err_set_errno(e == ENOENT ? KM_ENOTFOUND : KM_EIO, e, "opening %s", path);
    }
    *len = (size_t)st.st_size;
    *out = NULL;
    if (*len) {
        *out = mmap(NULL, *len, PROT_READ, MAP_SHARED, fd, 0);
        if (*out == MAP_FAILED) {
            int e = errno;

            close(fd);
            *out = NULL;
            return km_err_set_errno(KM_EIO, e, "mapping %s", path);
        }
    }
    close(fd);
    return 0;
}

static int read_meta(struct km_block *b)
{
    char path[PATH_MAX + 32];
    json_error_t jerr;
    json_t *root, *stats, *comp, *parents;
    size_t np;
    int rc = 0;

    snprintf(path, sizeof(path), "%s/meta.json", b->dir);
    root = json_load_file(path, 0, &jerr);
    if (!root)
        return km_err_set(KM_ECORRUPT, "%s: %s", path, jerr.text);
    stats = json_object_get(root, "stats");
    comp = json_object_get(root, "compaction");
    parents = comp ? json_object_get(comp, "parents") : NULL;
    if (!json_is_integer(json_object_get(root, "version")) ||
        json_integer_value(json_object_get(root, "version")) != 1 ||
        !json_is_string(json_object_get(root, "id")) ||
        !json_is_integer(json_object_get(root, "mint")) ||
        !json_is_integer(json_object_get(root, "maxt")) || !json_is_object(stats)) {
        rc = km_err_set(KM_ECORRUPT, "%s: missing or bad fields", path);
        goto out_free;
    }
    snprintf(b->meta.id, sizeof(b->meta.id), "%s", json_string_value(json_object_get(root, "id")));
    snprintf(b->meta.origin, sizeof(b->meta.origin), "%s",
             comp && json_is_string(json_object_get(comp, "origin"))
                 ? json_string_value(json_object_get(comp, "origin"))
                 : b->meta.id);
    b->meta.mint = json_integer_value(json_object_get(root, "mint"));
    b->meta.maxt = json_integer_value(json_object_get(root, "maxt"));
    b->meta.series = (uint64_t)json_integer_value(json_object_get(stats, "series"));
    b->meta.samples = (uint64_t)json_integer_value(json_object_get(stats, "samples"));
    b->meta.chunks = (uint64_t)json_integer_value(json_object_get(stats, "chunks"));
    b->meta.level = comp ? (int)json_integer_value(json_object_get(comp, "level")) : 1;
    np = json_is_array(parents) ? json_array_size(parents) : 0;
    b->meta.parents = calloc(np + 1, sizeof(char *));
    if (!b->meta.parents) {
        rc = km_err_set(KM_ENOMEM, "out of memory");
        goto out_free;
    }
    for (size_t i = 0; i < np; i++) {
        const char *s = json_string_value(json_array_get(parents, i));

        b->meta.parents[i] = strdup(s ? s : "");
    }
out_free:
    json_decref(root);
    return rc;
}

int km_block_cmp_age(const void *a, const void *b)
{
    const struct km_block_meta *x = km_block_meta(*(struct km_block *const *)a);
    const struct km_block_meta *y = km_block_meta(*(struct km_block *const *)b);
    int c = strcmp(x->origin, y->origin);

    return c ? c : strcmp(x->id, y->id);
}

/* Read a table section of u32 count + count u64 offsets into *offs. */
static int read_offsets(const uint8_t *file, size_t len, struct km_buf *tmp, const uint8_t *p,
                        size_t plen, uint32_t *count, uint64_t **offs)
{
    struct km_rd r;
    uint32_t n;

    (void)tmp;
    km_rd_init(&r, p, plen);
    n = km_rd_u32(&r);
    if (r.err || (size_t)n * 8 > km_rd_left(&r))
        return km_err_set(KM_ECORRUPT, "bad offset table");
    *offs = malloc(((size_t)n ? n : 1) * sizeof(uint64_t));
    if (!*offs)
        return km_err_set(KM_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < n; i++) {
        (*offs)[i] = km_rd_u64(&r);
        if ((*offs)[i] >= len)
            return km_err_set(KM_ECORRUPT, "offset out of the file");
    }
    (void)file;
    *count = n;
    return 0;
}

static int open_index(struct km_block *b)
{
    const uint8_t *f;
    uint64_t symtab, seriestab, posttab;
    struct km_buf t;
    int rc;

    if (b->idx_len < 8 + KM_BLK_INDEX_FOOTER || memcmp(b->idx, KM_BLK_INDEX_MAGIC, 4) != 0 ||
        km_get_le32(b->idx + 4) != KM_BLK_VERSION)
        return km_err_set(KM_ECORRUPT, "index: bad header");
    f = b->idx + b->idx_len - KM_BLK_INDEX_FOOTER;
    if (memcmp(f + 36, KM_BLK_FOOTER_MAGIC, 4) != 0 ||
        km_get_le32(f + 40) != km_blk_checksum(f, 40))
        return km_err_set(KM_ECORRUPT, "index: bad footer (truncated or damaged file)");
    symtab = km_get_le64(f);
    seriestab = km_get_le64(f + 8);
    posttab = km_get_le64(f + 16);
    b->nsyms = km_get_le32(f + 24);
    b->nseries = km_get_le32(f + 28);
    b->npairs = km_get_le32(f + 32);
    km_buf_init(&t, 0);
    rc = km_blk_section_get(b->idx, b->idx_len, symtab, &t) < 0 ? KM_ECORRUPT : 0;
    if (rc == 0)
        rc = read_offsets(b->idx, b->idx_len, &t, (const uint8_t *)t.data, t.len, &b->nsympages,
                          &b->sympage_off);
    if (rc == 0 && b->nsympages != (b->nsyms + KM_BLK_SYMS_PER_PAGE - 1) / KM_BLK_SYMS_PER_PAGE)
        rc = km_err_set(KM_ECORRUPT, "index: symbol table does not match its count");
    if (rc == 0)
        rc = km_blk_section_get(b->idx, b->idx_len, seriestab, &t) < 0 ? KM_ECORRUPT : 0;
    if (rc == 0)
        rc = read_offsets(b->idx, b->idx_len, &t, (const uint8_t *)t.data, t.len, &b->nseriespages,
                          &b->seriespage_off);
    if (rc == 0 &&
        b->nseriespages != (b->nseries + KM_BLK_SERIES_PER_PAGE - 1) / KM_BLK_SERIES_PER_PAGE)
        rc = km_err_set(KM_ECORRUPT, "index: series table does not match its count");
    if (rc == 0)
        rc = km_blk_section_get(b->idx, b->idx_len, posttab, &t) < 0 ? KM_ECORRUPT : 0;
    if (rc == 0) {
        size_t need = (size_t)b->npairs * 20;

        if (t.len < need + 4) {
            rc = km_err_set(KM_ECORRUPT, "index: postings table too short");
        } else {
            b->ptab = malloc(((size_t)b->npairs ? b->npairs : 1) * sizeof(*b->ptab));
            if (!b->ptab)
                rc = km_err_set(KM_ENOMEM, "out of memory");
            for (uint32_t i = 0; rc == 0 && i < b->npairs; i++) {
                const uint8_t *e = (const uint8_t *)t.data + (size_t)i * 20;

                b->ptab[i] = (struct ptab){ km_get_le32(e), km_get_le32(e + 4), km_get_le32(e + 8),
                                            km_get_le32(e + 12), km_get_le32(e + 16) };
                if (b->ptab[i].name >= b->nsyms || b->ptab[i].value >= b->nsyms ||
                    b->ptab[i].count > b->nseries ||
                    (i > 0 && (b->ptab[i].name < b->ptab[i - 1].name ||
                               (b->ptab[i].name == b->ptab[i - 1].name &&
                                b->ptab[i].value <= b->ptab[i - 1].value))))
                    rc = km_err_set(KM_ECORRUPT, "index: bad postings table entry");
            }
            if (rc == 0)
                rc = read_offsets(b->idx, b->idx_len, &t, (const uint8_t *)t.data + need,
                                  t.len - need, &b->npostpages, &b->postpage_off);
            for (uint32_t i = 0; rc == 0 && i < b->npairs; i++) {
                if (b->ptab[i].page >= b->npostpages)
                    rc = km_err_set(KM_ECORRUPT, "index: postings page out of range");
            }
        }
    }
    km_buf_fini(&t);
    if (rc == KM_ECORRUPT && km_err_msg()[0] == '\0')
        km_err_set(KM_ECORRUPT, "index: damaged table");
    return rc;
}

static int open_chunks(struct km_block *b)
{
    const uint8_t *f;
    struct km_buf t;
    uint32_t n;
    int rc;

    if (b->chk_len < 8 + KM_BLK_CHUNKS_FOOTER || memcmp(b->chk, KM_BLK_CHUNKS_MAGIC, 4) != 0 ||
        km_get_le32(b->chk + 4) != KM_BLK_VERSION)
        return km_err_set(KM_ECORRUPT, "chunks: bad header");
    f = b->chk + b->chk_len - KM_BLK_CHUNKS_FOOTER;
    if (memcmp(f + 12, KM_BLK_FOOTER_MAGIC, 4) != 0 ||
        km_get_le32(f + 16) != km_blk_checksum(f, 16))
        return km_err_set(KM_ECORRUPT, "chunks: bad footer (truncated or damaged file)");
    n = km_get_le32(f + 8);
    km_buf_init(&t, 0);
    rc = km_blk_section_get(b->chk, b->chk_len, km_get_le64(f), &t) < 0 ? KM_ECORRUPT : 0;
    if (rc == 0 && t.len != (size_t)n * 8)
        rc = km_err_set(KM_ECORRUPT, "chunks: frame table does not match its count");
    if (rc == 0) {
        b->frame_off = malloc(((size_t)n ? n : 1) * sizeof(uint64_t));
        if (!b->frame_off)
            rc = km_err_set(KM_ENOMEM, "out of memory");
        for (uint32_t i = 0; rc == 0 && i < n; i++) {
            b->frame_off[i] = km_get_le64((const uint8_t *)t.data + (size_t)i * 8);
            if (b->frame_off[i] >= b->chk_len)
                rc = km_err_set(KM_ECORRUPT, "chunks: frame offset out of the file");
        }
        b->nframes = n;
    }
    km_buf_fini(&t);
    return rc;
}

static void block_free(struct km_block *b)
{
    km_seccache_forget(b->cache, b->serial);
    km_seccache_release(b->cache);
    unmap(b->idx, b->idx_len);
    unmap(b->chk, b->chk_len);
    free(b->sympage_off);
    free(b->seriespage_off);
    free(b->postpage_off);
    free(b->frame_off);
    free(b->ptab);
    for (uint32_t i = 0; b->sympages && i < b->nsympages; i++) {
        free(b->sympages[i].raw);
        free(b->sympages[i].str);
    }
    free(b->sympages);
    for (size_t i = 0; b->meta.parents && b->meta.parents[i]; i++)
        free(b->meta.parents[i]);
    free(b->meta.parents);
    pthread_mutex_destroy(&b->symmu);
    free(b);
}

int km_block_open(struct km_block **out, const char *dir)
{
    struct km_block *b = calloc(1, sizeof(*b));
    struct stat st;
    char path[PATH_MAX + 32];
    int rc;

    if (!b)
        return km_err_set(KM_ENOMEM, "out of memory");
    pthread_mutex_init(&b->symmu, NULL);
    atomic_init(&b->refs, 1);
    b->serial = atomic_fetch_add(&block_serials, 1);
    snprintf(b->dir, sizeof(b->dir), "%s", dir);
    rc = read_meta(b);
    if (rc == 0)
        rc = map_file(dir, "index", &b->idx, &b->idx_len);
    if (rc == 0)
        rc = map_file(dir, "chunks", &b->chk, &b->chk_len);
    if (rc == 0)
        rc = open_index(b);
    if (rc == 0)
        rc = open_chunks(b);
    if (rc == 0 && b->nseries != b->meta.series)
        rc = km_err_set(KM_ECORRUPT, "index holds %u series, meta.json says %llu", b->nseries,
                        (unsigned long long)b->meta.series);
    if (rc == 0) {
        b->sympages = calloc(b->nsympages ? b->nsympages : 1, sizeof(*b->sympages));
        if (!b->sympages)
            rc = km_err_set(KM_ENOMEM, "out of memory");
    }
    if (rc) {
        km_err_wrap(rc, "block %s", dir);
        block_free(b);
        return rc;
    }
    snprintf(path, sizeof(path), "%s/meta.json", dir);
    b->meta.bytes = b->idx_len + b->chk_len + (stat(path, &st) == 0 ? (uint64_t)st.st_size : 0);
    *out = b;
    return 0;
}

void km_block_acquire(struct km_block *b)
{
    atomic_fetch_add(&b->refs, 1);
}

static void remove_block_dir(const char *dir)
{
    static const char *const files[] = { "chunks", "index", "meta.json" };
    char tmp[PATH_MAX + 16];

    /* Rename first so a crash half-way leaves no block that looks whole. */
    snprintf(tmp, sizeof(tmp), "%s.deleted", dir);
    if (rename(dir, tmp) != 0)
        snprintf(tmp, sizeof(tmp), "%s", dir);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char p[PATH_MAX + 64];

        snprintf(p, sizeof(p), "%s/%s", tmp, files[i]);
        unlink(p);
    }
    if (rmdir(tmp) != 0)
        km_log_warn(KM_TSDB_LOG, "cannot remove %s: %s", tmp, strerror(errno));
}

void km_block_set_cache(struct km_block *b, struct km_seccache *c)
{
    if (c)
        km_seccache_acquire(c);
    km_seccache_release(b->cache);
    b->cache = c;
}

void km_block_release(struct km_block *b)
{
    if (b && atomic_fetch_sub(&b->refs, 1) == 1)
        block_free(b);
}

void km_block_delete(struct km_block *b)
{
    bool was = false;

    if (atomic_compare_exchange_strong(&b->deleted, &was, true))
        remove_block_dir(b->dir);
}

const struct km_block_meta *km_block_meta(const struct km_block *b)
{
    return &b->meta;
}

const char *km_block_dir(const struct km_block *b)
{
    return b->dir;
}

void km_block_sizes(const struct km_block *b, uint64_t *index_bytes, uint64_t *chunk_bytes)
{
    *index_bytes = b->idx_len;
    *chunk_bytes = b->chk_len;
}

/* ---- symbols ------------------------------------------------------------------------ */

/* Under symmu: decompress symbol page p once. */
static int load_sympage(struct km_block *b, uint32_t p)
{
    struct sympage *sp = &b->sympages[p];
    uint32_t want =
        p + 1 < b->nsympages ? KM_BLK_SYMS_PER_PAGE : b->nsyms - p * KM_BLK_SYMS_PER_PAGE;
    struct km_buf raw;
    struct km_rd r;
    char *w;

    if (sp->raw)
        return 0;
    km_buf_init(&raw, 0);
    if (km_blk_section_get(b->idx, b->idx_len, b->sympage_off[p], &raw) < 0) {
        km_buf_fini(&raw);
        return KM_ECORRUPT;
    }
    sp->str = malloc(want * sizeof(*sp->str));
    /* Rewrite "uvarint len, bytes" as NUL-terminated strings in a copy of the page. */
    sp->raw = malloc(raw.len + want + 1);
    if (!sp->str || !sp->raw) {
        free(sp->str);
        free(sp->raw);
        sp->str = NULL;
        sp->raw = NULL;
        km_buf_fini(&raw);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    km_rd_init(&r, raw.data, raw.len);
    w = sp->raw;
    for (uint32_t i = 0; i < want; i++) {
        uint64_t n = km_rd_uvarint(&r);
        const uint8_t *s = km_rd_bytes(&r, n);

        if (!s || memchr(s, '\0', n)) {
            free(sp->str);
            free(sp->raw);
            sp->str = NULL;
            sp->raw = NULL;
            km_buf_fini(&raw);
            return km_err_set(KM_ECORRUPT, "block %s: bad symbol page %u", b->meta.id, p);
        }
        memcpy(w, s, n);
        w[n] = '\0';
        sp->str[i] = w;
        w += n + 1;
    }
    sp->n = want;
    km_buf_fini(&raw);
    atomic_store_explicit(&sp->ready, true, memory_order_release);
    return 0;
}

/* The string of symbol id (NULL when out of range or its page is damaged). Strings stay
 * valid for the block's life. */
static const char *sym(struct km_block *b, uint32_t id)
{
    uint32_t p = id / KM_BLK_SYMS_PER_PAGE;
    const char *s = NULL;

    if (id >= b->nsyms)
        return NULL;
    if (atomic_load_explicit(&b->sympages[p].ready, memory_order_acquire))
        return b->sympages[p].str[id % KM_BLK_SYMS_PER_PAGE];
    pthread_mutex_lock(&b->symmu);
    if (load_sympage(b, p) == 0)
        s = b->sympages[p].str[id % KM_BLK_SYMS_PER_PAGE];
    pthread_mutex_unlock(&b->symmu);
    return s;
}

/* The id of a string, by binary search over the sorted symbols; -1 when absent. */
static int64_t sym_find(struct km_block *b, const char *s)
{
    uint32_t lo = 0, hi = b->nsyms;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const char *m = sym(b, mid);
        int c;

        if (!m)
            return -1;
        c = strcmp(m, s);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* ---- postings ---------------------------------------------------------------------- */

/* The range [*lo, *hi) of table entries with this name. */
static void name_range(const struct km_block *b, uint32_t name, uint32_t *lo_out, uint32_t *hi_out)
{
    uint32_t lo = 0, hi = b->npairs;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (b->ptab[mid].name < name)
            lo = mid + 1;
        else
            hi = mid;
    }
    *lo_out = lo;
    hi = b->npairs;
    {
        uint32_t l2 = lo;

        while (l2 < hi) {
            uint32_t mid = l2 + (hi - l2) / 2;

            if (b->ptab[mid].name <= name)
                l2 = mid + 1;
            else
                hi = mid;
        }
        *hi_out = l2;
    }
}

/* Decode the list of table entry e into out. */
static int read_list(struct km_block *b, const struct ptab *e, struct km_buf *page,
                     int64_t *page_no, struct km_postings *out)
{
    struct km_rd r;
    uint32_t prev = 0;

    if (*page_no != e->page) {
        if (km_blk_section_get(b->idx, b->idx_len, b->postpage_off[e->page], page) < 0)
            return KM_ECORRUPT;
        *page_no = e->page;
    }
    if (e->off > page->len)
        return km_err_set(KM_ECORRUPT, "block %s: postings offset out of its page", b->meta.id);
    km_rd_init(&r, page->data + e->off, page->len - e->off);
    out->n = 0;
    for (uint32_t i = 0; i < e->count; i++) {
        uint64_t d = km_rd_uvarint(&r);
        int rc;

        if (r.err || (i > 0 && d == 0) || prev + d >= b->nseries || prev + d < prev)
            return km_err_set(KM_ECORRUPT, "block %s: bad postings list", b->meta.id);
        prev += (uint32_t)d;
        rc = km_postings_push(out, prev);
        if (rc)
            return rc;
    }
    return 0;
}

static int all_series(struct km_block *b, struct km_postings *out)
{
    out->n = 0;
    for (uint32_t i = 0; i < b->nseries; i++) {
        int rc = km_postings_push(out, i);

        if (rc)
            return rc;
    }
    return 0;
}

/* The series one matcher selects. The lists of the matching values are OR-ed into a
 * bitmap over the block's series (a regex can match thousands of values: merging list
 * by list would be quadratic), which is then read out in order. */
static int matcher_list(struct km_block *b, const struct km_matcher *m, struct km_buf *page,
                        int64_t *page_no, struct km_postings *out)
{
    struct km_postings one = { 0 };
    int64_t name = sym_find(b, m->name);
    size_t nwords = ((size_t)b->nseries + 63) / 64;
    uint64_t *bits;
    uint32_t lo, hi;
    int rc = 0;

    out->n = 0;
    if (name < 0)
        return m->matches_empty ? all_series(b, out) : 0;
    bits = calloc(nwords ? nwords : 1, sizeof(*bits));
    if (!bits)
        return km_err_set(KM_ENOMEM, "out of memory");
    name_range(b, (uint32_t)name, &lo, &hi);
    for (uint32_t i = lo; i < hi && rc == 0; i++) {
        const char *v = sym(b, b->ptab[i].value);

        if (!v) {
            rc = KM_ECORRUPT;
            break;
        }
        if (km_matcher_matches(m, v) == m->matches_empty)
            continue;
        /* A value that matches (or, when "" matches, one that does not). */
        rc = read_list(b, &b->ptab[i], page, page_no, &one);
        for (size_t k = 0; rc == 0 && k < one.n; k++)
            bits[one.v[k] / 64] |= 1ull << (one.v[k] % 64);
    }
    /* When "" matches, the series without a non-matching value are the answer. */
    for (size_t w = 0; rc == 0 && w < nwords; w++) {
        uint64_t word = m->matches_empty ? ~bits[w] : bits[w];

        if (w == nwords - 1 && b->nseries % 64)
            word &= (1ull << (b->nseries % 64)) - 1;
        while (word && rc == 0) {
            rc = km_postings_push(out, (uint32_t)(w * 64 + (size_t)__builtin_ctzll(word)));
            word &= word - 1;
        }
    }
    km_postings_fini(&one);
    free(bits);
    return rc;
}

int km_block_postings(struct km_block *b, struct km_matcher *const *m, size_t nm,
                      struct km_postings *out)
{
    struct km_postings cur = { 0 }, tmp = { 0 };
    struct km_buf page;
    int64_t page_no = -1;
    int rc = 0;

    if (nm == 0)
        return all_series(b, out);
    km_buf_init(&page, 0);
    for (size_t i = 0; i < nm && rc == 0; i++) {
        rc = matcher_list(b, m[i], &page, &page_no, i == 0 ? out : &cur);
        if (rc == 0 && i > 0) {
            rc = km_postings_intersect(&tmp, out, &cur);
            if (rc == 0)
                rc = km_postings_copy(out, &tmp);
        }
        if (out->n == 0)
            break;
    }
    km_buf_fini(&page);
    km_postings_fini(&cur);
    km_postings_fini(&tmp);
    if (rc == KM_ECORRUPT)
        km_err_wrap(rc, "block %s", b->meta.id);
    return rc;
}

/* ---- series and samples ------------------------------------------------------------- */

void km_block_reader_init(struct km_block_reader *r, struct km_block *b)
{
    memset(r, 0, sizeof(*r));
    r->b = b;
    r->page_no = -1;
    r->frame_no = -1;
}

/* Hold section `off` of file (the index or the chunks) in s, giving back what s held. */
static int hold_section(struct km_block_reader *r, const uint8_t *file, size_t len, uint64_t off,
                        struct km_block_section *s)
{
    struct km_seccache *c = r->nocache ? NULL : r->b->cache;

    km_seccache_put(c, s->ent);
    memset(s, 0, sizeof(*s));
    return km_seccache_get(c, r->b->serial, file, len, off, &s->ent, &s->data, &s->len);
}

void km_block_reader_fini(struct km_block_reader *r)
{
    struct km_seccache *c = r->nocache ? NULL : r->b->cache;

    km_seccache_put(c, r->page.ent);
    km_seccache_put(c, r->frame.ent);
    memset(&r->page, 0, sizeof(r->page));
    memset(&r->frame, 0, sizeof(r->frame));
}

void km_block_series_fini(struct km_block_series *s)
{
    km_labels_destroy(s->labels);
    free(s->chunks);
    memset(s, 0, sizeof(*s));
}

int km_block_read_series(struct km_block_reader *r, uint32_t id, struct km_block_series *out)
{
    struct km_block *b = r->b;
    struct km_label l[KM_LIMIT_LABELS_PER_SERIES];
    uint32_t p = id / KM_BLK_SERIES_PER_PAGE;
    struct km_rd rd;
    uint64_t nl = 0, nc;
    int64_t prev;
    int rc;

    memset(out, 0, sizeof(*out));
    if (id >= b->nseries)
        return km_err_set(KM_EINVAL, "no series %u in block %s", id, b->meta.id);
    if (r->page_no != p) {
        r->page_no = -1;
        rc = hold_section(r, b->idx, b->idx_len, b->seriespage_off[p], &r->page);
        if (rc)
            return km_err_wrap(rc, "block %s: index, series page %u", b->meta.id, p);
        r->page_no = p;
        r->next_id = p * KM_BLK_SERIES_PER_PAGE;
        r->next_off = 0;
    }
    /* Skip to the series within its page: from where the last read stopped when the ids
     * come in order (a selection's do), else from the page's start. */
    if (id < r->next_id) {
        r->next_id = p * KM_BLK_SERIES_PER_PAGE;
        r->next_off = 0;
    }
    km_rd_init(&rd, (const uint8_t *)r->page.data + r->next_off, r->page.len - r->next_off);
    /* The series before it: only where each ends (2 symbols a label, 4 numbers a chunk). */
    for (uint32_t k = r->next_id; k < id; k++) {
        nl = km_rd_uvarint(&rd);
        km_rd_skip_uvarints(&rd, 2 * nl);
        nc = km_rd_uvarint(&rd);
        if (rd.err || nl == 0 || nl > KM_LIMIT_LABELS_PER_SERIES || nc > km_rd_left(&rd))
            return km_err_set(KM_ECORRUPT, "block %s: bad series entry", b->meta.id);
        km_rd_skip_uvarints(&rd, 4 * nc);
    }
    nl = km_rd_uvarint(&rd);
    if (rd.err || nl == 0 || nl > KM_LIMIT_LABELS_PER_SERIES)
        return km_err_set(KM_ECORRUPT, "block %s: bad series entry", b->meta.id);
    for (uint64_t i = 0; i < 2 * nl; i++) {
        uint64_t s = km_rd_uvarint(&rd);
        const char *str = s < b->nsyms ? sym(b, (uint32_t)s) : NULL;

        if (!str)
            return km_err_set(KM_ECORRUPT, "block %s: bad symbol in a series", b->meta.id);
        if (i % 2 == 0)
            l[i / 2].name = str;
        else
            l[i / 2].value = str;
    }
    nc = km_rd_uvarint(&rd);
    if (rd.err || nc > (uint64_t)b->meta.chunks + 1 || nc > km_rd_left(&rd))
        return km_err_set(KM_ECORRUPT, "block %s: bad chunk count", b->meta.id);
    out->chunks = malloc((nc ? nc : 1) * sizeof(*out->chunks));
    if (!out->chunks)
        return km_err_set(KM_ENOMEM, "out of memory");
    prev = b->meta.mint;
    for (uint64_t c = 0; c < nc; c++) {
        int64_t mint = (int64_t)((uint64_t)prev + (uint64_t)km_rd_varint(&rd));
        int64_t maxt = (int64_t)((uint64_t)mint + km_rd_uvarint(&rd));
        uint64_t frame = km_rd_uvarint(&rd), off = km_rd_uvarint(&rd);

        if (rd.err || frame >= b->nframes || off > KM_BLK_MAX_SECTION || maxt < mint) {
            free(out->chunks);
            out->chunks = NULL;
            return km_err_set(KM_ECORRUPT, "block %s: bad chunk reference", b->meta.id);
        }
        out->chunks[c] = (struct km_block_chunkref){ mint, maxt, (uint32_t)frame, (uint32_t)off };
        prev = maxt;
    }
    out->nchunks = (uint32_t)nc;
    r->next_id = id + 1;
    r->next_off = (size_t)(rd.p - (const uint8_t *)r->page.data);
    /* Written from checked, sorted sets: copied as they are. */
    rc = km_labels_create_sorted(&out->labels, l, (size_t)nl);
    if (rc) {
        km_block_series_fini(out);
        return km_err_wrap(KM_ECORRUPT, "block %s: series labels", b->meta.id);
    }
    out->id = id;
    return 0;
}

int km_block_read_samples(struct km_block_reader *r, const struct km_block_series *s, int64_t mint,
                          int64_t maxt, struct km_samples *out)
{
    struct km_block *b = r->b;
    struct km_samples tmp = { 0 };
    int rc = 0;

    for (uint32_t i = 0; i < s->nchunks && rc == 0; i++) {
        const struct km_block_chunkref *c = &s->chunks[i];
        long used;

        if (c->maxt < mint || c->mint > maxt)
            continue;
        if (r->frame_no != c->frame) {
            r->frame_no = -1;
            rc = hold_section(r, b->chk, b->chk_len, b->frame_off[c->frame], &r->frame);
            if (rc) {
                rc = km_err_wrap(rc, "block %s: chunks, frame %u", b->meta.id, c->frame);
                break;
            }
            r->frame_no = c->frame;
        }
        if (c->off >= r->frame.len) {
            rc = km_err_set(KM_ECORRUPT, "block %s: chunk offset out of its frame", b->meta.id);
            break;
        }
        used = km_bchunk_decode((const uint8_t *)r->frame.data + c->off, r->frame.len - c->off,
                                &tmp, KM_BLK_CHUNK_SAMPLES);
        if (used < 0) {
            rc = km_err_wrap((int)used, "block %s", b->meta.id);
            break;
        }
        {
            /* The chunk's samples within [mint, maxt]: one run, its times increasing. */
            size_t a = 0, z = tmp.n;

            while (a < z && tmp.t[a] < mint)
                a++;
            while (z > a && tmp.t[z - 1] > maxt)
                z--;
            rc = km_samples_append(out, tmp.t + a, tmp.v + a, z - a);
        }
    }
    km_samples_fini(&tmp);
    return rc;
}

/* ---- labels --------------------------------------------------------------------------- */

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int report_sorted(const char **v, size_t n, km_str_fn fn, void *ud)
{
    if (n > 1)
        km_sort(v, n, sizeof(*v), cmp_cstr);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(v[i], v[i - 1]) == 0)
            continue;
        if (fn(ud, v[i]))
            break;
    }
    return 0;
}

static int collect(struct km_block *b, const char *name, const struct km_postings *ids,
                   km_str_fn fn, void *ud)
{
    struct km_block_reader r;
    const char **v = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    km_block_reader_init(&r, b);
    for (size_t i = 0; i < ids->n && rc == 0; i++) {
        struct km_block_series s;

        rc = km_block_read_series(&r, ids->v[i], &s);
        if (rc)
            break;
        for (size_t k = 0; k < s.labels->n && rc == 0; k++) {
            const char *str;
            int64_t id;

            if (name && strcmp(s.labels->v[k].name, name) != 0)
                continue;
            /* Report the block's own copy, which outlives the series. */
            id = sym_find(b, name ? s.labels->v[k].value : s.labels->v[k].name);
            str = id >= 0 ? sym(b, (uint32_t)id) : NULL;
            if (!str)
                continue;
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 64;
                const char **p = realloc(v, ncap * sizeof(*p));

                if (!p) {
                    rc = km_err_set(KM_ENOMEM, "out of memory");
                    break;
                }
                v = p;
                cap = ncap;
            }
            v[n++] = str;
        }
        km_block_series_fini(&s);
    }
    km_block_reader_fini(&r);
    if (rc == 0)
        rc = report_sorted(v, n, fn, ud);
    free(v);
    return rc;
}

int km_block_label_names(struct km_block *b, const struct km_postings *ids, km_str_fn fn, void *ud)
{
    return collect(b, NULL, ids, fn, ud);
}

int km_block_label_values(struct km_block *b, const char *name, const struct km_postings *ids,
                          km_str_fn fn, void *ud)
{
    return collect(b, name, ids, fn, ud);
}

/* ---- verification ------------------------------------------------------------------- */

int km_block_verify(struct km_block *b, uint64_t *samples_seen)
{
    struct km_block_reader r;
    struct km_samples s = { 0 };
    struct km_postings list = { 0 };
    struct km_buf page;
    int64_t page_no = -1;
    uint64_t total = 0;
    int rc = 0;

    for (uint32_t p = 0; p < b->nsympages && rc == 0; p++) {
        pthread_mutex_lock(&b->symmu);
        rc = load_sympage(b, p);
        pthread_mutex_unlock(&b->symmu);
        if (rc == KM_ECORRUPT)
            km_err_wrap(rc, "block %s: index, symbol page %u", b->meta.id, p);
    }
    for (uint32_t i = 1; i < b->nsyms && rc == 0; i++) {
        if (strcmp(sym(b, i - 1), sym(b, i)) >= 0)
            rc = km_err_set(KM_ECORRUPT, "block %s: symbols not sorted", b->meta.id);
    }
    km_buf_init(&page, 0);
    for (uint32_t i = 0; i < b->npairs && rc == 0; i++) {
        rc = read_list(b, &b->ptab[i], &page, &page_no, &list);
        if (rc == KM_ECORRUPT)
            km_err_wrap(rc, "block %s: index, postings list %u", b->meta.id, i);
    }
    km_buf_fini(&page);
    km_postings_fini(&list);
    km_block_reader_init(&r, b);
    for (uint32_t id = 0; id < b->nseries && rc == 0; id++) {
        struct km_block_series ser;

        rc = km_block_read_series(&r, id, &ser);
        if (rc)
            break;
        s.n = 0;
        rc = km_block_read_samples(&r, &ser, INT64_MIN, INT64_MAX, &s);
        total += s.n;
        km_block_series_fini(&ser);
    }
    km_block_reader_fini(&r);
    km_samples_fini(&s);
    for (uint32_t f = 0; f < b->nframes && rc == 0; f++) {
        struct km_buf fr;

        km_buf_init(&fr, 0);
        if (km_blk_section_get(b->chk, b->chk_len, b->frame_off[f], &fr) < 0)
            rc = km_err_wrap(KM_ECORRUPT, "block %s: frame %u", b->meta.id, f);
        km_buf_fini(&fr);
    }
    if (rc == 0 && total != b->meta.samples)
        rc = km_err_set(KM_ECORRUPT, "block %s holds %llu samples, meta.json says %llu", b->meta.id,
                        (unsigned long long)total, (unsigned long long)b->meta.samples);
    if (samples_seen)
        *samples_seen = total;
    return rc;
}
