/*
 * labels — sorted, hashed label sets (see labels.h).
 *
 * The hash is XXH3 over name, 0xff, value, 0xff for each pair (the separator byte cannot
 * occur in valid UTF-8, so "a"+"bc" and "ab"+"c" hash differently), packed into a stack
 * buffer for one call (streamed for sets larger than 4 KiB). An owned set is one
 * malloc: header, the pair array, then all strings.
 */
#include "labels.h"

#include "err.h"
#include "limits.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <stdlib.h>
#include <string.h>

static bool is_alpha_(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

bool km_label_name_valid(const char *s, size_t n)
{
    if (n == 0 || !is_alpha_((unsigned char)s[0]))
        return false;
    for (size_t i = 1; i < n; i++) {
        if (!is_alpha_((unsigned char)s[i]) && !is_digit((unsigned char)s[i]))
            return false;
    }
    return true;
}

bool km_metric_name_valid(const char *s, size_t n)
{
    if (n == 0 || (!is_alpha_((unsigned char)s[0]) && s[0] != ':'))
        return false;
    for (size_t i = 1; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (!is_alpha_(c) && !is_digit(c) && c != ':')
            return false;
    }
    return true;
}

void km_labels_sort(struct km_label *v, size_t n)
{
    /* Insertion sort: label sets are small (typically < 16) and this is stable. */
    for (size_t i = 1; i < n; i++) {
        struct km_label x = v[i];
        size_t j = i;

        while (j > 0 && strcmp(v[j - 1].name, x.name) > 0) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

int km_labels_check(const struct km_label *v, size_t n)
{
    if (n > KM_LIMIT_LABELS_PER_SERIES)
        return km_err_set(KM_ELIMIT, "%zu labels on one series (at most %d)", n,
                          KM_LIMIT_LABELS_PER_SERIES);
    for (size_t i = 0; i < n; i++) {
        if (!km_label_name_valid(v[i].name, strlen(v[i].name)))
            return km_err_set(KM_EINVAL, "invalid label name \"%s\"", v[i].name);
        if (i > 0) {
            int c = strcmp(v[i - 1].name, v[i].name);

            if (c == 0)
                return km_err_set(KM_EINVAL, "duplicate label name \"%s\"", v[i].name);
            if (c > 0)
                return km_err_set(KM_EINVAL, "labels not sorted: \"%s\" after \"%s\"", v[i].name,
                                  v[i - 1].name);
        }
    }
    return 0;
}

uint64_t km_labels_hash(const struct km_label *v, size_t n)
{
    char packed[4096];
    size_t len = 0;

    /* name 0xff value 0xff …, hashed in one call (0xff cannot occur in UTF-8, so "a"+"bc"
     * and "ab"+"c" differ). Never persisted: it may change between versions. */
    for (size_t i = 0; i < n; i++) {
        size_t ln = strlen(v[i].name), lv = strlen(v[i].value);

        if (len + ln + lv + 2 > sizeof(packed))
            goto out_streaming;
        memcpy(packed + len, v[i].name, ln);
        packed[len + ln] = (char)0xff;
        len += ln + 1;
        memcpy(packed + len, v[i].value, lv);
        packed[len + lv] = (char)0xff;
        len += lv + 1;
    }
    return XXH3_64bits(packed, len);

out_streaming : {
    static const unsigned char sep = 0xff;
    XXH3_state_t st;

    XXH3_64bits_reset(&st);
    for (size_t i = 0; i < n; i++) {
        XXH3_64bits_update(&st, v[i].name, strlen(v[i].name));
        XXH3_64bits_update(&st, &sep, 1);
        XXH3_64bits_update(&st, v[i].value, strlen(v[i].value));
        XXH3_64bits_update(&st, &sep, 1);
    }
    return XXH3_64bits_digest(&st);
}
}

/* One allocation holding sorted, valid pairs and their strings (sizes, NUL included, in
 * len[2i] and len[2i + 1]); `hash` when known. */
static int build_sized(struct km_labels **out, const struct km_label *v, const size_t *len,
                       size_t strbytes, size_t n, const uint64_t *hash)
{
    struct km_labels *l;
    char *p;

    l = malloc(sizeof(*l) + n * sizeof(struct km_label) + strbytes);
    if (!l)
        return km_err_set(KM_ENOMEM, "out of memory copying a label set");
    l->n = n;
    p = (char *)(l->v + n);
    for (size_t i = 0; i < n; i++) {
        memcpy(p, v[i].name, len[2 * i]);
        l->v[i].name = p;
        p += len[2 * i];
        memcpy(p, v[i].value, len[2 * i + 1]);
        l->v[i].value = p;
        p += len[2 * i + 1];
    }
    l->hash = hash ? *hash : km_labels_hash(n ? l->v : NULL, n);
    *out = l;
    return 0;
}

static int build(struct km_labels **out, const struct km_label *v, size_t n, const uint64_t *hash)
{
    size_t strbytes = 0, len[2 * KM_LIMIT_LABELS_PER_SERIES];

    for (size_t i = 0; i < n; i++) {
        len[2 * i] = strlen(v[i].name) + 1;
        len[2 * i + 1] = strlen(v[i].value) + 1;
        strbytes += len[2 * i] + len[2 * i + 1];
    }
    return build_sized(out, v, len, strbytes, n, hash);
}

int km_labels_create(struct km_labels **out, const struct km_label *v, size_t n)
{
    struct km_label sorted[KM_LIMIT_LABELS_PER_SERIES];
    int rc;

    if (n > KM_LIMIT_LABELS_PER_SERIES)
        return km_err_set(KM_ELIMIT, "%zu labels on one series (at most %d)", n,
                          KM_LIMIT_LABELS_PER_SERIES);
    if (n == 0) { /* may come as NULL, which memcpy must not see even for 0 bytes */
        static const struct km_label none[1];

        return build(out, none, 0, NULL);
    }
    memcpy(sorted, v, n * sizeof(*v));
    km_labels_sort(sorted, n);
    rc = km_labels_check(sorted, n);
    if (rc)
        return rc;
    return build(out, sorted, n, NULL);
}

int km_labels_create_sorted(struct km_labels **out, const struct km_label *v, size_t n)
{
    if (n > KM_LIMIT_LABELS_PER_SERIES)
        return km_err_set(KM_ELIMIT, "%zu labels on one series (at most %d)", n,
                          KM_LIMIT_LABELS_PER_SERIES);
    return build(out, v, n, NULL);
}

int km_labels_create_known(struct km_labels **out, const struct km_label *v, const uint32_t *len,
                           size_t n, uint64_t hash)
{
    size_t strbytes = 0, sz[2 * KM_LIMIT_LABELS_PER_SERIES];

    if (n > KM_LIMIT_LABELS_PER_SERIES)
        return km_err_set(KM_ELIMIT, "%zu labels on one series (at most %d)", n,
                          KM_LIMIT_LABELS_PER_SERIES);
    for (size_t i = 0; i < 2 * n; i++) {
        sz[i] = (size_t)len[i] + 1;
        strbytes += sz[i];
    }
    return build_sized(out, v, sz, strbytes, n, &hash);
}

int km_labels_dup(struct km_labels **out, const struct km_labels *l)
{
    return build(out, l->v, l->n, &l->hash);
}

void km_labels_destroy(struct km_labels *l)
{
    free(l);
}

int km_labels_cmp_arrays(const struct km_label *a, size_t na, const struct km_label *b, size_t nb)
{
    size_t n = na < nb ? na : nb;

    for (size_t i = 0; i < n; i++) {
        int c = strcmp(a[i].name, b[i].name);

        if (c)
            return c;
        c = strcmp(a[i].value, b[i].value);
        if (c)
            return c;
    }
    return na < nb ? -1 : na > nb ? 1 : 0;
}

int km_labels_cmp(const struct km_labels *a, const struct km_labels *b)
{
    return km_labels_cmp_arrays(a->v, a->n, b->v, b->n);
}

const char *km_labels_get(const struct km_labels *l, const char *name)
{
    /* Binary search: the pairs are sorted by name. */
    size_t lo = 0, hi = l->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(l->v[mid].name, name);

        if (c == 0)
            return l->v[mid].value;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
