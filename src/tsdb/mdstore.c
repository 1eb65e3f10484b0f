/*
 * mdstore — metric metadata in memory and in DIR/metadata (see mdstore.h).
 *
 * In memory: an array of names sorted by byte order (binary search; a new name is
 * inserted in place, which is rare once the senders' families are known), each with a
 * small array of entries (type, help, unit, last seen). Bytes are accounted as the
 * strings plus the structs that hold them.
 *
 * The file, written whole by km_mdstore_save(), all integers little-endian:
 *
 *   offset  size  field
 *   0       4     magic "KMMD"
 *   4       4     format version (1)
 *   8       4     payload length L
 *   12      4     checksum: the low 32 bits of XXH3-64 over the payload
 *   16      L     payload:
 *                   uvarint  number of entries
 *                   per entry, names ascending, the entries of one name together:
 *                     uvarint len, name bytes (a valid metric name)
 *                     u8       type (remote.proto's MetricType, 0 to 7)
 *                     uvarint len, help bytes (UTF-8, no NUL)
 *                     uvarint len, unit bytes (UTF-8, no NUL)
 *                     varint   last seen, ms since the epoch (zigzag)
 *
 * The file is exactly 16 + L bytes; anything else (short, long, another magic or
 * version, a bad checksum, an entry that does not parse or breaks a rule above) makes
 * the whole file corrupt, and nothing of it is used.
 */
#include "tsdb/mdstore.h"

#include "bits.h"
#include "common/array.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/labels.h"
#include "common/limits.h"
#include "common/numfmt.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define MD_MAGIC     "KMMD"
#define MD_VERSION   1u
#define MD_HEADER    16u
#define MD_MAX_NAME  4096u /* a metric name in the file (names are never that long) */
#define MD_SAVE_MODE 0640

struct variant {
    int64_t seen_ms;
    enum km_metric_type type;
    char *help; /* owned: "help\0unit\0" in one allocation */
    char *unit; /* points into help's allocation */
};

struct family {
    char *name; /* owned */
    struct variant *v;
    size_t n;
};

struct km_mdstore {
    struct km_mdstore_opts o;
    pthread_mutex_t mu;
    struct family *fam; /* sorted by name */
    size_t n, cap;
    uint64_t entries, bytes;
    uint64_t gen, saved_gen; /* changes made, and the last one written or read */
    uint64_t refused_names, refused_bytes, evicted, truncated, expired;
    pthread_mutex_t save_mu; /* one save at a time */
};

static size_t family_cost(const char *name)
{
    return sizeof(struct family) + strlen(name) + 1;
}

static size_t variant_cost(size_t help_len, size_t unit_len)
{
    return sizeof(struct variant) + help_len + unit_len + 2;
}

int km_mdstore_create(struct km_mdstore **out, const struct km_mdstore_opts *o)
{
    struct km_mdstore *s = calloc(1, sizeof(*s));

    if (!s)
        return km_err_set(KM_ENOMEM, "out of memory");
    s->o = *o;
    if (!s->o.max_names)
        s->o.max_names = KM_LIMIT_METADATA_FAMILIES;
    if (!s->o.max_variants)
        s->o.max_variants = KM_LIMIT_METADATA_VARIANTS;
    if (!s->o.max_text)
        s->o.max_text = KM_LIMIT_METADATA_TEXT;
    if (!s->o.max_bytes)
        s->o.max_bytes = KM_LIMIT_METADATA_BYTES;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->save_mu, NULL);
    *out = s;
    return 0;
}

static void family_free(struct family *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->v[i].help);
    free(f->v);
    free(f->name);
}

/* Under mu: forget everything (counters stay). */
static void clear(struct km_mdstore *s)
{
    for (size_t i = 0; i < s->n; i++)
        family_free(&s->fam[i]);
    s->n = 0;
    s->entries = 0;
    s->bytes = 0;
}

void km_mdstore_destroy(struct km_mdstore *s)
{
    if (!s)
        return;
    clear(s);
    free(s->fam);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->save_mu);
    free(s);
}

/* ---- in memory ------------------------------------------------------------------------ */

/* The index of `name`, or where it would go (*found false). */
static size_t find(const struct km_mdstore *s, const char *name, bool *found)
{
    size_t lo = 0, hi = s->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->fam[mid].name, name);

        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/* The length of s cut to at most max bytes, at a UTF-8 character boundary. */
static size_t cut_len(const char *s, size_t max, bool *cut)
{
    size_t n = strlen(s);

    if (n <= max)
        return n;
    *cut = true;
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return n;
}

static void variant_drop(struct km_mdstore *s, struct family *f, size_t i)
{
    struct variant *v = &f->v[i];

    s->bytes -= variant_cost(strlen(v->help), strlen(v->unit));
    s->entries--;
    free(v->help);
    memmove(v, v + 1, (f->n - i - 1) * sizeof(*v));
    f->n--;
}

static void family_drop(struct km_mdstore *s, size_t i)
{
    struct family *f = &s->fam[i];

    while (f->n)
        variant_drop(s, f, f->n - 1);
    s->bytes -= family_cost(f->name);
    family_free(f);
    memmove(f, f + 1, (s->n - i - 1) * sizeof(*f));
    s->n--;
}

/* Under mu: drop the entries not seen since the ttl before now, and names left empty. */
static void expire(struct km_mdstore *s, int64_t now_ms)
{
    int64_t cutoff;

    if (s->o.ttl_ms <= 0)
        return;
    cutoff = now_ms - s->o.ttl_ms;
    for (size_t i = s->n; i-- > 0;) {
        struct family *f = &s->fam[i];

        for (size_t j = f->n; j-- > 0;) {
            if (f->v[j].seen_ms < cutoff) {
                variant_drop(s, f, j);
                s->expired++;
                s->gen++;
            }
        }
        if (f->n == 0)
            family_drop(s, i);
    }
}

static bool live(const struct km_mdstore *s, const struct variant *v, int64_t now_ms)
{
    return s->o.ttl_ms <= 0 || v->seen_ms >= now_ms - s->o.ttl_ms;
}

/* Under mu: the family of `name`, created if new and the bounds allow; NULL when they
 * do not (counted) or on KM_ENOMEM (*rc). */
static struct family *family_get(struct km_mdstore *s, const char *name, int64_t now_ms, int *rc)
{
    bool found;
    size_t i = find(s, name, &found);
    struct family *f;
    char *copy;

    if (found)
        return &s->fam[i];
    if (s->n >= s->o.max_names) {
        expire(s, now_ms);
        i = find(s, name, &found);
    }
    if (s->n >= s->o.max_names) {
        s->refused_names++;
        return NULL;
    }
    if (s->bytes + family_cost(name) + variant_cost(0, 0) > s->o.max_bytes) {
        s->refused_bytes++;
        return NULL;
    }
    *rc = km_array_grow((void **)&s->fam, &s->cap, s->n + 1, sizeof(*s->fam), 64,
                        "keeping metric metadata");
    if (*rc)
        return NULL;
    copy = strdup(name);
    if (!copy) {
        *rc = km_err_set(KM_ENOMEM, "out of memory");
        return NULL;
    }
    memmove(&s->fam[i + 1], &s->fam[i], (s->n - i) * sizeof(*s->fam));
    f = &s->fam[i];
    *f = (struct family){ .name = copy };
    s->n++;
    s->bytes += family_cost(name);
    return f;
}

static bool same(const struct variant *v, enum km_metric_type type, const char *help, size_t hl,
                 const char *unit, size_t ul)
{
    return v->type == type && strncmp(v->help, help, hl) == 0 && v->help[hl] == '\0' &&
           strncmp(v->unit, unit, ul) == 0 && v->unit[ul] == '\0';
}

/* Under mu: remember one entry as seen at seen_ms. */
static int put_one(struct km_mdstore *s, const struct km_metadata *md, int64_t seen_ms,
                   int64_t now_ms)
{
    enum km_metric_type type = (unsigned)md->type < KM_METRIC_NTYPES ? md->type : KM_METRIC_UNKNOWN;
    bool cut = false;
    size_t hl = cut_len(md->help, s->o.max_text, &cut);
    size_t ul = cut_len(md->unit, s->o.max_text, &cut);
    struct family *f;
    struct variant *v;
    size_t slot, old_cost = 0;
    char *text;
    int rc = 0;

    if (cut)
        s->truncated++;
    f = family_get(s, md->name, now_ms, &rc);
    if (!f)
        return rc;
    for (size_t i = 0; i < f->n; i++) {
        if (same(&f->v[i], type, md->help, hl, md->unit, ul)) {
            if (f->v[i].seen_ms < seen_ms) {
                f->v[i].seen_ms = seen_ms;
                s->gen++;
            }
            return 0;
        }
    }
    /* A new entry: in a free slot, or in place of the least recently seen (unless it is
     * older still: read from a file, it gives way itself). */
    slot = f->n;
    if (f->n >= s->o.max_variants) {
        slot = 0;
        for (size_t i = 1; i < f->n; i++) {
            if (f->v[i].seen_ms < f->v[slot].seen_ms)
                slot = i;
        }
        if (seen_ms < f->v[slot].seen_ms) {
            s->evicted++;
            return 0;
        }
        old_cost = variant_cost(strlen(f->v[slot].help), strlen(f->v[slot].unit));
    }
    if (s->bytes - old_cost + variant_cost(hl, ul) > s->o.max_bytes) {
        s->refused_bytes++;
        rc = 0;
        goto out_drop_empty;
    }
    text = malloc(hl + ul + 2);
    if (!text) {
        rc = km_err_set(KM_ENOMEM, "out of memory");
        goto out_drop_empty;
    }
    memcpy(text, md->help, hl);
    text[hl] = '\0';
    memcpy(text + hl + 1, md->unit, ul);
    text[hl + 1 + ul] = '\0';
    if (slot == f->n) {
        struct variant *p = realloc(f->v, (f->n + 1) * sizeof(*p));

        if (!p) {
            free(text);
            rc = km_err_set(KM_ENOMEM, "out of memory");
            goto out_drop_empty;
        }
        f->v = p;
        f->n++;
        s->entries++;
    } else {
        free(f->v[slot].help);
        s->evicted++;
    }
    v = &f->v[slot];
    *v = (struct variant){ .seen_ms = seen_ms, .type = type, .help = text, .unit = text + hl + 1 };
    s->bytes += variant_cost(hl, ul) - old_cost;
    s->gen++;
    return 0;

out_drop_empty:
    /* A name created for an entry that could not be kept is not kept either. */
    if (f->n == 0) {
        bool found;

        family_drop(s, find(s, md->name, &found));
    }
    return rc;
}

int km_mdstore_put(struct km_mdstore *s, const struct km_metadata *md, size_t n, int64_t now_ms)
{
    int rc = 0;

    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = put_one(s, &md[i], now_ms, now_ms);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int list_family(const struct km_mdstore *s, const struct family *f, int64_t now_ms,
                       km_metadata_fn fn, void *ud)
{
    for (size_t j = 0; j < f->n; j++) {
        const struct variant *v = &f->v[j];
        struct km_metadata md = { f->name, v->type, v->help, v->unit };
        int rc;

        if (!live(s, v, now_ms))
            continue;
        rc = fn(ud, &md);
        if (rc)
            return rc;
    }
    return 0;
}

int km_mdstore_list(struct km_mdstore *s, const char *metric, int64_t now_ms, km_metadata_fn fn,
                    void *ud)
{
    int rc = 0;

    pthread_mutex_lock(&s->mu);
    if (metric) {
        bool found;
        size_t i = find(s, metric, &found);

        if (found)
            rc = list_family(s, &s->fam[i], now_ms, fn, ud);
    } else {
        for (size_t i = 0; i < s->n && rc == 0; i++)
            rc = list_family(s, &s->fam[i], now_ms, fn, ud);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void km_mdstore_stats(struct km_mdstore *s, struct km_mdstore_stats *out)
{
    pthread_mutex_lock(&s->mu);
    *out = (struct km_mdstore_stats){
        .names = s->n,
        .entries = s->entries,
        .bytes = s->bytes,
        .refused_names = s->refused_names,
        .refused_bytes = s->refused_bytes,
        .evicted = s->evicted,
        .truncated = s->truncated,
        .expired = s->expired,
    };
    pthread_mutex_unlock(&s->mu);
}

/* ---- the file ---------------------------------------------------------------------------- */

static void put_text(struct km_buf *b, const char *s)
{
    size_t n = strlen(s);

    km_buf_put_uvarint(b, n);
    km_buf_append(b, s, n);
}

/* Under mu: the whole file into b. */
static int serialize(struct km_mdstore *s, struct km_buf *b)
{
    uint8_t head[MD_HEADER] = { 0 };
    size_t len;

    km_buf_append(b, head, sizeof(head)); /* filled in below */
    km_buf_put_uvarint(b, s->entries);
    for (size_t i = 0; i < s->n; i++) {
        const struct family *f = &s->fam[i];

        for (size_t j = 0; j < f->n; j++) {
            uint8_t type = (uint8_t)f->v[j].type;

            put_text(b, f->name);
            km_buf_append(b, &type, 1);
            put_text(b, f->v[j].help);
            put_text(b, f->v[j].unit);
            km_buf_put_uvarint(b, km_zigzag(f->v[j].seen_ms));
        }
    }
    if (km_buf_error(b))
        return km_err_set(km_buf_error(b), "out of memory writing the metadata");
    len = b->len - MD_HEADER;
    memcpy(head, MD_MAGIC, 4);
    km_le32(head + 4, MD_VERSION);
    km_le32(head + 8, (uint32_t)len);
    km_le32(head + 12, (uint32_t)XXH3_64bits(b->data + MD_HEADER, len));
    memcpy(b->data, head, sizeof(head));
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Write data to path through path.tmp, fsynced, renamed, the directory fsynced. */
static int write_atomically(const char *path, const char *data, size_t len)
{
    char tmp[4096], dir[4096];
    int fd, dfd, rc = 0;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return km_err_set(KM_EINVAL, "path too long: %s", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, MD_SAVE_MODE);
    if (fd < 0)
        return km_err_set_errno(KM_EIO, errno, "cannot create %s", tmp);
    if (write_all(fd, data, len) != 0)
        rc = km_err_set_errno(KM_EIO, errno, "cannot write %s", tmp);
    if (rc == 0 && fsync(fd) != 0)
        rc = km_err_set_errno(KM_EIO, errno, "fsync %s", tmp);
    if (close(fd) != 0 && rc == 0)
        rc = km_err_set_errno(KM_EIO, errno, "cannot close %s", tmp);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = km_err_set_errno(KM_EIO, errno, "cannot rename %s into place", tmp);
    if (rc) {
        unlink(tmp);
        return rc;
    }
    snprintf(dir, sizeof(dir), "%s", path);
    dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return km_err_set_errno(KM_EIO, errno, "cannot open the directory of %s", path);
    if (fsync(dfd) != 0)
        rc = km_err_set_errno(KM_EIO, errno, "fsync the directory of %s", path);
    close(dfd);
    return rc;
}

int km_mdstore_save(struct km_mdstore *s, const char *path, int64_t now_ms)
{
    struct km_buf b;
    uint64_t gen;
    int rc;

    pthread_mutex_lock(&s->save_mu);
    km_buf_init(&b, 2 * (size_t)s->o.max_bytes + MD_HEADER + 64);
    pthread_mutex_lock(&s->mu);
    expire(s, now_ms);
    gen = s->gen;
    rc = gen == s->saved_gen ? 1 : serialize(s, &b);
    pthread_mutex_unlock(&s->mu);
    if (rc == 0)
        rc = write_atomically(path, b.data, b.len);
    if (rc == 0) {
        pthread_mutex_lock(&s->mu);
        s->saved_gen = gen;
        pthread_mutex_unlock(&s->mu);
    }
    km_buf_fini(&b);
    pthread_mutex_unlock(&s->save_mu);
    return rc > 0 ? 0 : rc;
}

/* The whole file into b (at most max bytes). */
static int read_file(const char *path, struct km_buf *b, size_t max)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc = 0;

    if (fd < 0) {
        if (errno == ENOENT)
            return km_err_set(KM_ENOTFOUND, "no metadata file %s", path);
        return km_err_set_errno(KM_EIO, errno, "cannot open %s", path);
    }
    if (fstat(fd, &st) != 0) {
        rc = km_err_set_errno(KM_EIO, errno, "cannot stat %s", path);
        goto out_close;
    }
    if ((uint64_t)st.st_size > max) {
        rc = km_err_set(KM_ECORRUPT, "%s is %lld bytes long, more than a metadata file can be",
                        path, (long long)st.st_size);
        goto out_close;
    }
    rc = km_buf_reserve(b, (size_t)st.st_size);
    while (rc == 0) {
        ssize_t r = read(fd, b->data + b->len, (size_t)st.st_size - b->len);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            rc = km_err_set_errno(KM_EIO, errno, "cannot read %s", path);
        if (r <= 0)
            break;
        b->len += (size_t)r;
        if (b->len == (size_t)st.st_size)
            break;
    }
out_close:
    close(fd);
    return rc;
}

/* A text of the file: its length within the bounds, valid UTF-8, no NUL; into out (a
 * NUL-terminated copy in scratch). */
static bool read_text(struct km_rd *r, size_t max, struct km_buf *scratch, const char **out)
{
    uint64_t n = km_rd_uvarint(r);
    const uint8_t *p;

    if (r->err || n > max || n > km_rd_left(r))
        return false;
    p = km_rd_bytes(r, (size_t)n);
    for (size_t i = 0; i < n;) {
        size_t k = p[i] ? km_utf8_seq_len(p + i, (size_t)n - i) : 0;

        if (k == 0)
            return false;
        i += k;
    }
    km_buf_reset(scratch);
    if (km_buf_append(scratch, p, (size_t)n) != 0)
        return false;
    *out = km_buf_cstr(scratch);
    return true;
}

/* Under mu: the entries of a checked payload. KM_ECORRUPT with where it failed. */
static int parse(struct km_mdstore *s, const char *path, const uint8_t *p, size_t len,
                 int64_t now_ms)
{
    struct km_buf name, help, unit;
    struct km_rd r;
    uint64_t count;
    int rc = 0;

    km_buf_init(&name, MD_MAX_NAME + 1);
    km_buf_init(&help, KM_LIMIT_METADATA_BYTES);
    km_buf_init(&unit, KM_LIMIT_METADATA_BYTES);
    km_rd_init(&r, p, len);
    count = km_rd_uvarint(&r);
    for (uint64_t i = 0; i < count && rc == 0 && !r.err; i++) {
        struct km_metadata md;
        size_t at = (size_t)(r.p - p) + MD_HEADER;
        uint8_t type;
        int64_t seen;

        if (!read_text(&r, MD_MAX_NAME, &name, &md.name) ||
            !km_metric_name_valid(md.name, strlen(md.name)))
            rc = km_err_set(KM_ECORRUPT, "%s: entry %llu at byte %zu: bad metric name", path,
                            (unsigned long long)i + 1, at);
        if (rc == 0) {
            type = km_rd_u8(&r);
            if (r.err || type >= KM_METRIC_NTYPES)
                rc = km_err_set(KM_ECORRUPT, "%s: entry %llu at byte %zu: bad type", path,
                                (unsigned long long)i + 1, at);
        }
        if (rc == 0 && (!read_text(&r, KM_LIMIT_METADATA_BYTES, &help, &md.help) ||
                        !read_text(&r, KM_LIMIT_METADATA_BYTES, &unit, &md.unit)))
            rc = km_err_set(KM_ECORRUPT, "%s: entry %llu at byte %zu: bad help or unit", path,
                            (unsigned long long)i + 1, at);
        if (rc == 0) {
            seen = km_rd_varint(&r);
            if (r.err)
                rc = km_err_set(KM_ECORRUPT, "%s: entry %llu at byte %zu: truncated", path,
                                (unsigned long long)i + 1, at);
        }
        if (rc == 0) {
            md.type = (enum km_metric_type)type;
            if (s->o.ttl_ms <= 0 || seen >= now_ms - s->o.ttl_ms)
                rc = put_one(s, &md, seen, now_ms);
        }
    }
    if (rc == 0 && (r.err || km_rd_left(&r) != 0))
        rc = km_err_set(KM_ECORRUPT, "%s: the payload does not end after its %llu entries", path,
                        (unsigned long long)count);
    km_buf_fini(&name);
    km_buf_fini(&help);
    km_buf_fini(&unit);
    return rc;
}

int km_mdstore_load(struct km_mdstore *s, const char *path, int64_t now_ms)
{
    struct km_buf b;
    const uint8_t *p;
    uint32_t len;
    int rc;

    km_buf_init(&b, 2 * (size_t)s->o.max_bytes + MD_HEADER + 64);
    pthread_mutex_lock(&s->mu);
    clear(s);
    rc = read_file(path, &b, 2 * (size_t)s->o.max_bytes + MD_HEADER);
    p = (const uint8_t *)b.data;
    if (rc == 0 && (b.len < MD_HEADER || memcmp(p, MD_MAGIC, 4) != 0))
        rc = km_err_set(KM_ECORRUPT, "%s is not a kmon metadata file", path);
    if (rc == 0 && km_get_le32(p + 4) != MD_VERSION)
        rc = km_err_set(KM_ECORRUPT, "%s has format version %u (this kmon reads %u)", path,
                        km_get_le32(p + 4), MD_VERSION);
    if (rc == 0) {
        len = km_get_le32(p + 8);
        if (len != b.len - MD_HEADER)
            rc = km_err_set(KM_ECORRUPT, "%s is %zu bytes long, its header says %u", path, b.len,
                            len + MD_HEADER);
        else if (km_get_le32(p + 12) != (uint32_t)XXH3_64bits(p + MD_HEADER, len))
            rc = km_err_set(KM_ECORRUPT, "%s fails its checksum", path);
    }
    if (rc == 0)
        rc = parse(s, path, p + MD_HEADER, b.len - MD_HEADER, now_ms);
    if (rc)
        clear(s);
    s->saved_gen = s->gen;
    pthread_mutex_unlock(&s->mu);
    km_buf_fini(&b);
    return rc;
}
