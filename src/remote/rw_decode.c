/*
 * rw_decode — reads remote_write WriteRequests in place (see rw_decode.h).
 *
 * The messages and field numbers (remote.proto):
 *
 *   WriteRequest  1 TimeSeries (LEN, repeated)   3 MetricMetadata (LEN, repeated)
 *   TimeSeries    1 Label (LEN)  2 Sample (LEN)  3 Exemplar (LEN)  [4 native histogram]
 *   Label         1 name (LEN)   2 value (LEN)
 *   Sample        1 value (64-bit double)        2 timestamp (varint int64, ms)
 *   Exemplar      1 Label (LEN)  2 value (64-bit) 3 timestamp (varint)
 *   MetricMetadata 1 type (varint)  2 family name, 4 help, 5 unit (LEN)
 *
 * Acceptance follows protobuf-c 1.4 (the reference the fuzz target compares with): a tag
 * is a varint of at most 5 bytes whose first byte has field bits; a length prefix at
 * most 5 bytes and within the message; a varint at most 10 bytes; wire types 3, 4, 6
 * and 7 are errors anywhere; a known field with another wire type is an error; unknown
 * fields are skipped (histograms are field 4 of TimeSeries, unknown to remote.proto,
 * counted here and not stored).
 */
#include "rw_decode.h"

#include "common/err.h"

#include <string.h>

enum { WT_VARINT = 0, WT_64BIT = 1, WT_LEN = 2, WT_32BIT = 5 };

struct rd {
    const uint8_t *p, *end;
};

struct field {
    uint32_t num;
    unsigned wt;
    const uint8_t *start; /* the tag's first byte */
    const uint8_t *val;   /* the value (after a length prefix for LEN) */
    size_t len;           /* bytes of the value */
};

/* Any field: tag, then its value by wire type. 0 or KM_EINVAL. */
static __attribute__((noinline)) int next_field_slow(struct rd *r, struct field *f,
                                                     const char *where)
{
    size_t rem = (size_t)(r->end - r->p), max = rem < 5 ? rem : 5, i;
    uint32_t tag;
    unsigned shift = 4;

    f->start = r->p;
    if ((r->p[0] & 0xf8) == 0)
        return km_err_set(KM_EINVAL, "%s: field number 0", where);
    f->wt = r->p[0] & 7;
    tag = (uint32_t)(r->p[0] & 0x7f) >> 3;
    if (r->p[0] & 0x80) {
        for (i = 1; i < max; i++) {
            tag |= (uint32_t)(r->p[i] & 0x7f) << shift;
            shift += 7;
            if (!(r->p[i] & 0x80))
                break;
        }
        if (i == max)
            return km_err_set(KM_EINVAL, "%s: malformed field tag", where);
        r->p += i + 1;
    } else {
        r->p++;
    }
    f->num = tag;
    rem = (size_t)(r->end - r->p);
    switch (f->wt) {
    case WT_VARINT:
        max = rem < 10 ? rem : 10;
        for (i = 0; i < max && (r->p[i] & 0x80); i++)
            ;
        if (i == max)
            return km_err_set(KM_EINVAL, "%s: unterminated varint", where);
        f->val = r->p;
        f->len = i + 1;
        break;
    case WT_64BIT:
    case WT_32BIT: {
        size_t need = f->wt == WT_64BIT ? 8 : 4;

        if (rem < need)
            return km_err_set(KM_EINVAL, "%s: truncated fixed-size value", where);
        f->val = r->p;
        f->len = need;
        break;
    }
    case WT_LEN: {
        size_t len = 0;

        max = rem < 5 ? rem : 5;
        shift = 0;
        for (i = 0; i < max; i++) {
            len |= (size_t)(r->p[i] & 0x7f) << shift;
            shift += 7;
            if (!(r->p[i] & 0x80))
                break;
        }
        if (i == max)
            return km_err_set(KM_EINVAL, "%s: malformed length", where);
        if (len > rem - (i + 1))
            return km_err_set(KM_EINVAL, "%s: a length of %zu bytes runs past the message", where,
                              len);
        f->val = r->p + i + 1;
        f->len = len;
        r->p += i + 1;
        break;
    }
    default:
        return km_err_set(KM_EINVAL, "%s: unsupported wire type %u", where, f->wt);
    }
    r->p += f->len;
    return 0;
}

/* Read one field. The common case inline: a one-byte tag of a LEN field with a
 * one-byte length (labels, their strings, samples, series in small requests). */
static inline int next_field(struct rd *r, struct field *f, const char *where)
{
    const uint8_t *p = r->p;
    size_t rem = (size_t)(r->end - p);

    if ((p[0] & 0x87) == WT_LEN && (p[0] & 0xf8) && rem >= 2 && p[1] < 0x80 &&
        (size_t)p[1] <= rem - 2) {
        f->start = p;
        f->num = p[0] >> 3;
        f->wt = WT_LEN;
        f->val = p + 2;
        f->len = p[1];
        r->p = p + 2 + f->len;
        return 0;
    }
    return next_field_slow(r, f, where);
}

/* protobuf-c's reading of a varint of `len` bytes: 7 bits per byte, bits past 64 lost. */
static uint64_t varint_value(const uint8_t *p, size_t len)
{
    uint64_t v = 0;

    for (size_t i = 0; i < len; i++)
        v |= (uint64_t)(p[i] & 0x7f) << (7 * i < 64 ? 7 * i : 63);
    return v;
}

static double double_value(const uint8_t *p)
{
    uint64_t bits = 0;
    double v;

    for (int i = 7; i >= 0; i--)
        bits = bits << 8 | p[i];
    memcpy(&v, &bits, sizeof(v));
    return v;
}

/* A known field must come with the wire type its declaration gives. */
static int expect(const struct field *f, unsigned wt, const char *where, const char *name)
{
    if (f->wt != wt)
        return km_err_set(KM_EINVAL, "%s: field %s has wire type %u, not %u", where, name, f->wt,
                          wt);
    return 0;
}

/* ---- schema checks ----------------------------------------------------------------------- */

static int check_label(const uint8_t *p, size_t n)
{
    struct rd r = { p, p + n };
    struct field f;
    int rc;

    /* What every encoder writes: name and value, short lengths, nothing else. */
    if (n >= 4 && p[0] == 0x0a && p[1] < 0x80 && (size_t)p[1] + 4 <= n && p[p[1] + 2] == 0x12 &&
        p[p[1] + 3] < 0x80 && (size_t)p[1] + 4 + p[p[1] + 3] == n)
        return 0;

    while (r.p < r.end) {
        rc = next_field(&r, &f, "Label");
        if (rc == 0 && (f.num == 1 || f.num == 2))
            rc = expect(&f, WT_LEN, "Label", f.num == 1 ? "name" : "value");
        if (rc)
            return rc;
    }
    return 0;
}

static int check_sample(const uint8_t *p, size_t n, const char *where)
{
    struct rd r = { p, p + n };
    struct field f;
    int rc;

    /* What every encoder writes: value, then a timestamp varint ending the message. */
    if (n >= 11 && n <= 20 && p[0] == 0x09 && p[9] == 0x10) {
        size_t i = 10;

        while (i < n - 1 && (p[i] & 0x80))
            i++;
        if (i == n - 1 && !(p[i] & 0x80))
            return 0;
    }

    while (r.p < r.end) {
        rc = next_field(&r, &f, where);
        if (rc == 0 && f.num == 1)
            rc = expect(&f, WT_64BIT, where, "value");
        else if (rc == 0 && f.num == 2)
            rc = expect(&f, WT_VARINT, where, "timestamp");
        if (rc)
            return rc;
    }
    return 0;
}

static int check_exemplar(const uint8_t *p, size_t n)
{
    struct rd r = { p, p + n };
    struct field f;
    int rc;

    while (r.p < r.end) {
        rc = next_field(&r, &f, "Exemplar");
        if (rc)
            return rc;
        switch (f.num) {
        case 1:
            rc = expect(&f, WT_LEN, "Exemplar", "labels");
            if (rc == 0)
                rc = check_label(f.val, f.len);
            break;
        case 2:
            rc = expect(&f, WT_64BIT, "Exemplar", "value");
            break;
        case 3:
            rc = expect(&f, WT_VARINT, "Exemplar", "timestamp");
            break;
        default:
            break;
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int check_metadata(const uint8_t *p, size_t n)
{
    struct rd r = { p, p + n };
    struct field f;
    int rc;

    while (r.p < r.end) {
        rc = next_field(&r, &f, "MetricMetadata");
        if (rc == 0 && f.num == 1)
            rc = expect(&f, WT_VARINT, "MetricMetadata", "type");
        else if (rc == 0 && (f.num == 2 || f.num == 4 || f.num == 5))
            rc = expect(&f, WT_LEN, "MetricMetadata", "name, help or unit");
        if (rc)
            return rc;
    }
    return 0;
}

static int check_series(const uint8_t *p, size_t n, struct km_rw_series *s)
{
    struct rd r = { p, p + n };
    const uint8_t *last_label_end = NULL;
    bool other_since_label = false;
    struct field f;
    int rc;

    memset(s, 0, sizeof(*s));
    s->msg = p;
    s->len = n;
    s->labels_adjacent = true;
    while (r.p < r.end) {
        rc = next_field(&r, &f, "TimeSeries");
        if (rc)
            return rc;
        switch (f.num) {
        case 1:
            rc = expect(&f, WT_LEN, "TimeSeries", "labels");
            if (rc == 0)
                rc = check_label(f.val, f.len);
            if (!s->labels)
                s->labels = f.start;
            else if (other_since_label)
                s->labels_adjacent = false;
            last_label_end = r.p;
            other_since_label = false;
            s->nlabels++;
            break;
        case 2:
            rc = expect(&f, WT_LEN, "TimeSeries", "samples");
            if (rc == 0)
                rc = check_sample(f.val, f.len, "Sample");
            if (!s->first_sample)
                s->first_sample = f.start;
            s->nsamples++;
            other_since_label = true;
            break;
        case 3:
            rc = expect(&f, WT_LEN, "TimeSeries", "exemplars");
            if (rc == 0)
                rc = check_exemplar(f.val, f.len);
            s->nexemplars++;
            other_since_label = true;
            break;
        case 4:
            s->nhistograms += f.wt == WT_LEN;
            other_since_label = true;
            break;
        default:
            other_since_label = true;
            break;
        }
        if (rc)
            return rc;
    }
    s->labels_len = s->labels ? (size_t)(last_label_end - s->labels) : 0;
    return 0;
}

/* ---- the request ---------------------------------------------------------------------- */

int km_rw_decode(const uint8_t *p, size_t n, km_rw_series_fn fn, void *ud, struct km_rw_stats *st)
{
    struct rd r = { p, p + n };
    struct km_rw_stats local;
    struct field f;
    int rc;

    if (!st)
        st = &local;
    memset(st, 0, sizeof(*st));
    while (r.p < r.end) {
        rc = next_field(&r, &f, "WriteRequest");
        if (rc)
            return rc;
        if (f.num == 1) {
            struct km_rw_series s;

            rc = expect(&f, WT_LEN, "WriteRequest", "timeseries");
            if (rc == 0)
                rc = check_series(f.val, f.len, &s);
            if (rc)
                return km_err_wrap(rc, "time series %llu", (unsigned long long)st->series + 1);
            st->series++;
            st->samples += s.nsamples;
            st->exemplars += s.nexemplars;
            st->histograms += s.nhistograms;
            if (fn && (rc = fn(ud, &s)) != 0)
                return rc;
        } else if (f.num == 3) {
            rc = expect(&f, WT_LEN, "WriteRequest", "metadata");
            if (rc == 0)
                rc = check_metadata(f.val, f.len);
            if (rc)
                return rc;
            st->metadata++;
        }
    }
    return 0;
}

/* ---- reading checked metadata ------------------------------------------------------------ */

int km_rw_decode_metadata(const uint8_t *p, size_t n, km_rw_metadata_fn fn, void *ud)
{
    struct rd r = { p, p + n };
    struct field f;

    while (r.p < r.end && next_field(&r, &f, "WriteRequest") == 0) {
        struct rd mr = { f.val, f.val + f.len };
        struct km_rw_metadata m = { .name = "", .help = "", .unit = "" };
        struct field mf;
        int rc;

        if (f.num != 3 || f.wt != WT_LEN)
            continue;
        while (mr.p < mr.end && next_field(&mr, &mf, "MetricMetadata") == 0) {
            if (mf.num == 1 && mf.wt == WT_VARINT) {
                m.type = varint_value(mf.val, mf.len);
            } else if (mf.wt == WT_LEN && (mf.num == 2 || mf.num == 4 || mf.num == 5)) {
                const char **s = mf.num == 2 ? &m.name : mf.num == 4 ? &m.help : &m.unit;
                uint32_t *len = mf.num == 2 ? &m.name_len : mf.num == 4 ? &m.help_len : &m.unit_len;

                *s = (const char *)mf.val;
                *len = (uint32_t)mf.len;
            }
        }
        rc = fn(ud, &m);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- reading a checked series --------------------------------------------------------- */

int km_rw_series_labels(const struct km_rw_series *s, struct km_rw_label *v, size_t cap, size_t *n)
{
    struct rd r = { s->msg, s->msg + s->len };
    struct field f;

    *n = 0;
    while (r.p < r.end && next_field(&r, &f, "TimeSeries") == 0) {
        struct rd lr = { f.val, f.val + f.len };
        struct field lf;
        struct km_rw_label *l;

        if (f.num != 1)
            continue;
        if (*n == cap)
            return km_err_set(KM_ELIMIT, "more than %zu labels on one series", cap);
        l = &v[(*n)++];
        memset(l, 0, sizeof(*l));
        l->name = l->value = "";
        while (lr.p < lr.end && next_field(&lr, &lf, "Label") == 0) {
            if (lf.num == 1) {
                l->name = (const char *)lf.val;
                l->name_len = (uint32_t)lf.len;
            } else if (lf.num == 2) {
                l->value = (const char *)lf.val;
                l->value_len = (uint32_t)lf.len;
            }
        }
    }
    return 0;
}

void km_rw_samples_init(struct km_rw_sample_it *it, const struct km_rw_series *s)
{
    it->p = s->first_sample ? s->first_sample : s->msg + s->len;
    it->end = s->msg + s->len;
}

bool km_rw_samples_next(struct km_rw_sample_it *it, int64_t *t, double *v)
{
    struct rd r = { it->p, it->end };
    struct field f;
    const uint8_t *p = it->p;

    /* The common case: Sample{value, timestamp} with a one-byte length, the timestamp
     * one varint ending the message. */
    if (it->end - p >= 13 && p[0] == 0x12 && p[1] >= 11 && p[1] <= 20 && p[2] == 0x09 &&
        p[11] == 0x10 && (size_t)(it->end - p) >= (size_t)p[1] + 2) {
        size_t i = 12, last = (size_t)p[1] + 1;

        while (i < last && (p[i] & 0x80))
            i++;
        if (i == last && !(p[i] & 0x80)) {
            *v = double_value(p + 3);
            *t = (int64_t)varint_value(p + 12, (size_t)p[1] - 10);
            it->p = p + 2 + p[1];
            return true;
        }
    }

    while (r.p < r.end && next_field(&r, &f, "TimeSeries") == 0) {
        struct rd sr = { f.val, f.val + f.len };
        struct field sf;

        if (f.num != 2)
            continue;
        *t = 0;
        *v = 0;
        while (sr.p < sr.end && next_field(&sr, &sf, "Sample") == 0) {
            if (sf.num == 1)
                *v = double_value(sf.val);
            else if (sf.num == 2)
                *t = (int64_t)varint_value(sf.val, sf.len);
        }
        it->p = r.p;
        return true;
    }
    it->p = it->end;
    return false;
}
