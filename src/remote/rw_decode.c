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
 * Acceptance follows protobuf-c 1.4 (the reference the fuzz target compares with), as
 * pbread.h reads it; a known field with another wire type is an error; unknown fields
 * are skipped (histograms are field 4 of TimeSeries, unknown to remote.proto, counted
 * here and not stored).
 */
#include "rw_decode.h"

#include "common/err.h"
#include "pbread.h"

#include <string.h>

/* ---- schema checks ----------------------------------------------------------------------- */

static int check_label(const uint8_t *p, size_t n)
{
    static const struct km_pb_decl decl[] = { { 1, KM_PB_LEN, "name", NULL },
                                              { 2, KM_PB_LEN, "value", NULL } };

    /* What every encoder writes: name and value, short lengths, nothing else. */
    if (n >= 4 && p[0] == 0x0a && p[1] < 0x80 && (size_t)p[1] + 4 <= n && p[p[1] + 2] == 0x12 &&
        p[p[1] + 3] < 0x80 && (size_t)p[1] + 4 + p[p[1] + 3] == n)
        return 0;
    return km_pb_check(p, n, "Label", decl, 2);
}

static int check_sample(const uint8_t *p, size_t n)
{
    static const struct km_pb_decl decl[] = { { 1, KM_PB_64BIT, "value", NULL },
                                              { 2, KM_PB_VARINT, "timestamp", NULL } };

    /* What every encoder writes: value, then a timestamp varint ending the message. */
    if (n >= 11 && n <= 20 && p[0] == 0x09 && p[9] == 0x10) {
        size_t i = 10;

        while (i < n - 1 && (p[i] & 0x80))
            i++;
        if (i == n - 1 && !(p[i] & 0x80))
            return 0;
    }
    return km_pb_check(p, n, "Sample", decl, 2);
}

static int check_exemplar(const uint8_t *p, size_t n)
{
    static const struct km_pb_decl decl[] = { { 1, KM_PB_LEN, "labels", check_label },
                                              { 2, KM_PB_64BIT, "value", NULL },
                                              { 3, KM_PB_VARINT, "timestamp", NULL } };

    return km_pb_check(p, n, "Exemplar", decl, 3);
}

static int check_metadata(const uint8_t *p, size_t n)
{
    static const struct km_pb_decl decl[] = { { 1, KM_PB_VARINT, "type", NULL },
                                              { 2, KM_PB_LEN, "metric_family_name", NULL },
                                              { 4, KM_PB_LEN, "help", NULL },
                                              { 5, KM_PB_LEN, "unit", NULL } };

    return km_pb_check(p, n, "MetricMetadata", decl, 4);
}

static int check_series(const uint8_t *p, size_t n, struct km_rw_series *s)
{
    struct km_pb_reader r = { p, p + n };
    const uint8_t *last_label_end = NULL;
    bool other_since_label = false;
    struct km_pb_field f;
    int rc;

    memset(s, 0, sizeof(*s));
    s->msg = p;
    s->len = n;
    s->labels_adjacent = true;
    while (r.p < r.end) {
        rc = km_pb_next(&r, &f, "TimeSeries");
        if (rc)
            return rc;
        switch (f.num) {
        case 1:
            rc = km_pb_expect(&f, KM_PB_LEN, "TimeSeries", "labels");
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
            rc = km_pb_expect(&f, KM_PB_LEN, "TimeSeries", "samples");
            if (rc == 0)
                rc = check_sample(f.val, f.len);
            if (!s->first_sample)
                s->first_sample = f.start;
            s->nsamples++;
            other_since_label = true;
            break;
        case 3:
            rc = km_pb_expect(&f, KM_PB_LEN, "TimeSeries", "exemplars");
            if (rc == 0)
                rc = check_exemplar(f.val, f.len);
            s->nexemplars++;
            other_since_label = true;
            break;
        case 4:
            s->nhistograms += f.wt == KM_PB_LEN;
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
    struct km_pb_reader r = { p, p + n };
    struct km_rw_stats local;
    struct km_pb_field f;
    int rc;

    if (!st)
        st = &local;
    memset(st, 0, sizeof(*st));
    while (r.p < r.end) {
        rc = km_pb_next(&r, &f, "WriteRequest");
        if (rc)
            return rc;
        if (f.num == 1) {
            struct km_rw_series s;

            rc = km_pb_expect(&f, KM_PB_LEN, "WriteRequest", "timeseries");
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
            rc = km_pb_expect(&f, KM_PB_LEN, "WriteRequest", "metadata");
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
    struct km_pb_reader r = { p, p + n };
    struct km_pb_field f;

    while (r.p < r.end && km_pb_next(&r, &f, "WriteRequest") == 0) {
        struct km_pb_reader mr = { f.val, f.val + f.len };
        struct km_rw_metadata m = { .name = "", .help = "", .unit = "" };
        struct km_pb_field mf;
        int rc;

        if (f.num != 3 || f.wt != KM_PB_LEN)
            continue;
        while (mr.p < mr.end && km_pb_next(&mr, &mf, "MetricMetadata") == 0) {
            if (mf.num == 1 && mf.wt == KM_PB_VARINT) {
                m.type = km_pb_varint(mf.val, mf.len);
            } else if (mf.wt == KM_PB_LEN && (mf.num == 2 || mf.num == 4 || mf.num == 5)) {
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
    struct km_pb_reader r = { s->msg, s->msg + s->len };
    struct km_pb_field f;

    *n = 0;
    while (r.p < r.end && km_pb_next(&r, &f, "TimeSeries") == 0) {
        struct km_pb_reader lr = { f.val, f.val + f.len };
        struct km_pb_field lf;
        struct km_rw_label *l;

        if (f.num != 1)
            continue;
        if (*n == cap)
            return km_err_set(KM_ELIMIT, "more than %zu labels on one series", cap);
        l = &v[(*n)++];
        memset(l, 0, sizeof(*l));
        l->name = l->value = "";
        while (lr.p < lr.end && km_pb_next(&lr, &lf, "Label") == 0) {
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
    struct km_pb_reader r = { it->p, it->end };
    struct km_pb_field f;
    const uint8_t *p = it->p;

    /* The common case: Sample{value, timestamp} with a one-byte length, the timestamp
     * one varint ending the message. */
    if (it->end - p >= 13 && p[0] == 0x12 && p[1] >= 11 && p[1] <= 20 && p[2] == 0x09 &&
        p[11] == 0x10 && (size_t)(it->end - p) >= (size_t)p[1] + 2) {
        size_t i = 12, last = (size_t)p[1] + 1;

        while (i < last && (p[i] & 0x80))
            i++;
        if (i == last && !(p[i] & 0x80)) {
            *v = km_pb_double(p + 3);
            *t = (int64_t)km_pb_varint(p + 12, (size_t)p[1] - 10);
            it->p = p + 2 + p[1];
            return true;
        }
    }

    while (r.p < r.end && km_pb_next(&r, &f, "TimeSeries") == 0) {
        struct km_pb_reader sr = { f.val, f.val + f.len };
        struct km_pb_field sf;

        if (f.num != 2)
            continue;
        *t = 0;
        *v = 0;
        while (sr.p < sr.end && km_pb_next(&sr, &sf, "Sample") == 0) {
            if (sf.num == 1)
                *v = km_pb_double(sf.val);
            else if (sf.num == 2)
                *t = (int64_t)km_pb_varint(sf.val, sf.len);
        }
        it->p = r.p;
        return true;
    }
    it->p = it->end;
    return false;
}
