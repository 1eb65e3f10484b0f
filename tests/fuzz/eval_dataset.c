/*
 * eval_dataset — builds fuzz_promql_eval's dataset (see eval_dataset.h).
 *
 * Every series is a label set and a kind of values; samples come every 15 s (some series
 * at other intervals, with gaps or jittered timestamps), from a splitmix64 stream with a
 * fixed seed. They are appended through the storage interface in time order: the first
 * half, then a flush that cuts it into a block on disk, then the rest into the head, and
 * last a few late samples behind the cut (the store keeps them in the head for a later
 * block), so queries read blocks, the head and both at once.
 */
#include "eval_dataset.h"

#include "common/array.h"
#include "common/err.h"
#include "promql/value.h"
#include "tsdb/tsdb_storage.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FZ_SCRAPE_MS  15000LL
#define FZ_SAMPLES    300
#define FZ_MAX_LABELS 5
#define FZ_CLOCK_MS   (FZ_DATA_END_MS + 3600LL * 1000)

enum kind {
    COUNTER,   /* rising, with resets */
    GAUGE,     /* wandering, with the special values at fixed places */
    BUCKET,    /* cumulative histogram bucket of the bound in `arg` */
    HSUM,      /* the histogram's _sum */
    HCOUNT,    /* the histogram's _count */
    UP,        /* 0/1 with a gap ended by staleness markers */
    SPARSE,    /* a sample every few minutes, at odd milliseconds */
    STALE_END, /* stops half way with a staleness marker, comes back later */
};

struct def {
    enum kind kind;
    double arg;
    const char *l[2 * FZ_MAX_LABELS]; /* name, value, … ("__name__" first) */
};

#define NAME "__name__"

static const struct def defs[] = {
    { COUNTER, 0, { NAME, "fz_requests_total", "job", "api", "instance", "i0", "code", "200" } },
    { COUNTER, 0, { NAME, "fz_requests_total", "job", "api", "instance", "i0", "code", "500" } },
    { COUNTER, 0, { NAME, "fz_requests_total", "job", "api", "instance", "i1", "code", "200" } },
    { COUNTER, 0, { NAME, "fz_requests_total", "job", "api", "instance", "i1", "code", "500" } },
    { COUNTER, 0, { NAME, "fz_requests_total", "job", "api", "instance", "i2", "code", "200" } },
    { COUNTER, 0, { NAME, "fz_requests_total", "job", "api", "instance", "i2", "code", "503" } },
    { COUNTER, 0, { NAME, "fz_requests_total", "job", "web", "instance", "i0", "code", "200" } },
    { COUNTER, 0, { NAME, "fz_requests_total", "job", "web", "instance", "i0", "code", "404" } },
    { COUNTER, 0, { NAME, "fz_requests_total", "job", "web", "instance", "i1", "code", "200" } },
    { COUNTER, 0, { NAME, "fz_requests_total", "job", "web", "instance", "i1", "code", "500" } },
    { COUNTER, 0, { NAME, "fz_requests_total", "job", "web", "instance", "i3", "code", "200" } },
    { COUNTER, 0, { NAME, "fz_requests_total", "job", "web", "instance", "i3", "code", "500" } },
    { GAUGE, 0, { NAME, "fz_temp_celsius", "instance", "i0", "room", "a" } },
    { GAUGE, 1, { NAME, "fz_temp_celsius", "instance", "i1", "room", "a" } },
    { GAUGE, 2, { NAME, "fz_temp_celsius", "instance", "i2", "room", "b" } },
    { GAUGE, 3, { NAME, "fz_temp_celsius", "instance", "i3", "room", "b" } },
    { GAUGE, 4, { NAME, "fz_temp_celsius", "instance", "i4" } },
    { BUCKET, 0.1, { NAME, "fz_latency_seconds_bucket", "instance", "i0", "le", "0.1" } },
    { BUCKET, 0.5, { NAME, "fz_latency_seconds_bucket", "instance", "i0", "le", "0.5" } },
    { BUCKET, 1, { NAME, "fz_latency_seconds_bucket", "instance", "i0", "le", "1" } },
    { BUCKET, 1, { NAME, "fz_latency_seconds_bucket", "instance", "i0", "le", "1.0" } },
    { BUCKET, 5, { NAME, "fz_latency_seconds_bucket", "instance", "i0", "le", "5" } },
    { BUCKET, INFINITY, { NAME, "fz_latency_seconds_bucket", "instance", "i0", "le", "+Inf" } },
    { BUCKET, 0.1, { NAME, "fz_latency_seconds_bucket", "instance", "i1", "le", "0.1" } },
    { BUCKET, 0.5, { NAME, "fz_latency_seconds_bucket", "instance", "i1", "le", "0.5" } },
    { BUCKET, 1, { NAME, "fz_latency_seconds_bucket", "instance", "i1", "le", "1" } },
    { BUCKET, 5, { NAME, "fz_latency_seconds_bucket", "instance", "i1", "le", "5" } },
    { BUCKET, -1, { NAME, "fz_latency_seconds_bucket", "instance", "i1", "le", "2" } }, /* dips */
    { BUCKET, INFINITY, { NAME, "fz_latency_seconds_bucket", "instance", "i1", "le", "+Inf" } },
    { BUCKET, INFINITY, { NAME, "fz_latency_seconds_bucket", "instance", "i2", "le", "+Inf" } },
    { BUCKET, NAN, { NAME, "fz_latency_seconds_bucket", "instance", "i2", "le", "x" } },
    { HSUM, 0, { NAME, "fz_latency_seconds_sum", "instance", "i0" } },
    { HSUM, 0, { NAME, "fz_latency_seconds_sum", "instance", "i1" } },
    { HCOUNT, 0, { NAME, "fz_latency_seconds_count", "instance", "i0" } },
    { HCOUNT, 0, { NAME, "fz_latency_seconds_count", "instance", "i1" } },
    { UP, 0, { NAME, "fz_up", "instance", "i0", "job", "api" } },
    { UP, 1, { NAME, "fz_up", "instance", "i1", "job", "api" } },
    { UP, 2, { NAME, "fz_up", "instance", "i2", "job", "web" } },
    { UP, 3, { NAME, "fz_up", "instance", "i3", "job", "web" } },
    { SPARSE, 7, { NAME, "fz_sparse", "kind", "seven" } },
    { SPARSE, 3, { NAME, "fz_sparse", "kind", "three" } },
    { SPARSE, 11, { NAME, "fz_sparse", "kind", "eleven", "job", "api" } },
    { GAUGE, 5, { NAME, "fz_weird", "path", "/api/v1/query?q=a.b*c+d", "re", "(x|y)+[z]{2}" } },
    { GAUGE, 6, { NAME, "fz_weird", "path", "^$\\.|?*+()[]{}", "re", "\\d\\w\\s" } },
    { GAUGE, 7, { NAME, "fz_weird", "path", "line\nbreak\t\"quoted\"", "re", ".*" } },
    { GAUGE,
      8,
      { NAME, "fz_weird", "path",
        "\xc3\xbc"
        "n"
        "\xc3\xaf"
        "c"
        "\xc3\xb6"
        "d"
        "\xc3\xa9",
        "re", "a" } },
    { GAUGE, 9, { NAME, "fz_weird", "path", "x", "re", "(?i)X", "le", "0.5" } },
    { COUNTER, 0, { NAME, "fz_x", "a", "1" } },
    { COUNTER, 0, { NAME, "fz_y", "a", "1" } },
    { STALE_END, 0, { NAME, "fz_stale", "instance", "i0", "job", "api" } },
    { STALE_END, 1, { NAME, "fz_stale", "instance", "i1", "job", "web" } },
};

#define NDEFS (sizeof(defs) / sizeof(defs[0]))

struct samples {
    struct km_sample *v;
    size_t n, cap;
};

static uint64_t rng_state = 0x6b6d6f6e2d66757aull;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_unit(void)
{
    return (double)(rng_next() >> 11) / 9007199254740992.0;
}

static double stale_marker(void)
{
    uint64_t bits = KM_PQ_STALE_BITS;
    double d;

    memcpy(&d, &bits, sizeof(d));
    return d;
}

static int push(struct samples *s, const struct km_label *l, size_t nl, int64_t t, double v)
{
    int rc = km_array_grow((void **)&s->v, &s->cap, s->n + 1, sizeof(*s->v), 4096,
                           "building the dataset");

    if (rc)
        return rc;
    s->v[s->n++] = (struct km_sample){ l, nl, t, v };
    return 0;
}

/* A gauge's value at sample i: a slow wave, and the special values at fixed places. */
static double gauge_value(double seed, int i)
{
    static const double special[] = { NAN, INFINITY, -INFINITY, -0.0, 0.0, 1e308, -1e308, 5e-324 };

    if (i % 37 == (int)seed * 5 % 37)
        return special[(i / 37 + (int)seed) % 8];
    return 20 + seed + 5 * sin(i / 20.0 + seed) + rng_unit();
}

/* The samples of one series. */
static int gen_series(const struct def *d, const struct km_label *l, size_t nl, struct samples *out)
{
    double v = 0, sum = 0, count = 0;
    int rc = 0;

    for (int i = 0; i < FZ_SAMPLES && rc == 0; i++) {
        int64_t t = FZ_DATA_START_MS + i * FZ_SCRAPE_MS;

        switch (d->kind) {
        case COUNTER:
            if (rng_next() % 60 == 0)
                v = (double)(rng_next() % 5); /* a restart */
            else
                v += (double)(rng_next() % 10) + (rng_next() % 4 ? 0 : 0.25);
            break;
        case GAUGE:
            v = gauge_value(d->arg, i);
            break;
        case BUCKET:
            /* Cumulative counts: the share of observations at or below the bound. */
            if (isnan(d->arg))
                v = rng_unit();
            else if (d->arg < 0)
                v = i % 50 == 25 ? 0 : i * 4.0; /* a count that goes down */
            else
                v = i * 10.0 * (isinf(d->arg) ? 1 : d->arg / (d->arg + 0.5));
            break;
        case HSUM:
            sum += rng_unit() * 3;
            v = sum;
            break;
        case HCOUNT:
            count += 10;
            v = count;
            break;
        case UP:
            /* Down (no samples) between 20 and 32 minutes for odd instances, a
             * staleness marker where it went away. */
            if ((int)d->arg % 2 == 1 && i >= 80 && i < 128) {
                if (i == 80)
                    rc = push(out, l, nl, t, stale_marker());
                continue;
            }
            v = (rng_next() % 13 == 0) ? 0 : 1;
            break;
        case SPARSE:
            if (i % ((int)d->arg * 4) != 0)
                continue;
            t += (int64_t)(rng_next() % 15000) - 7000; /* off the 15 s grid, even below 0 */
            v = rng_unit() * 100 - 50;
            break;
        case STALE_END:
            if (i >= 150 + (int)d->arg * 10 && i < 200) {
                if (i == 150 + (int)d->arg * 10)
                    rc = push(out, l, nl, t, stale_marker());
                continue;
            }
            v = i < 150 ? i : -i;
            break;
        }
        if (rc == 0)
            rc = push(out, l, nl, t, v);
    }
    return rc;
}

static int cmp_time(const void *a, const void *b)
{
    const struct km_sample *x = a, *y = b;

    return (x->t > y->t) - (x->t < y->t);
}

static int64_t fixed_clock(void)
{
    return FZ_CLOCK_MS;
}

static uint64_t nseries, nsamples;

void fz_dataset_size(uint64_t *series, uint64_t *samples)
{
    *series = nseries;
    *samples = nsamples;
}

/* Append samples [from, to) of s and check every one was taken. */
static int append_all(struct km_storage *store, const struct samples *s, size_t from, size_t to)
{
    struct km_append_result res;
    int rc;

    memset(&res, 0, sizeof(res));
    if (from >= to)
        return 0;
    rc = km_storage_append(store, s->v + from, to - from, NULL, &res);
    if (rc)
        return rc;
    if (res.appended != to - from)
        return km_err_set(KM_EINVAL, "the dataset was not taken whole: %llu of %zu appended",
                          (unsigned long long)res.appended, to - from);
    return 0;
}

int fz_dataset_open(const char *dir, struct km_storage **out)
{
    static struct km_label labels[NDEFS][FZ_MAX_LABELS];
    struct samples s = { 0 };
    struct km_storage *store = NULL;
    struct km_tsdb_opts o;
    size_t half = 0, late = 0;
    int rc = 0;

    for (size_t k = 0; k < NDEFS && rc == 0; k++) {
        size_t nl = 0;

        while (nl < FZ_MAX_LABELS && defs[k].l[2 * nl]) {
            labels[k][nl] = (struct km_label){ defs[k].l[2 * nl], defs[k].l[2 * nl + 1] };
            nl++;
        }
        rc = gen_series(&defs[k], labels[k], nl, &s);
    }
    if (rc)
        goto out_free_samples;
    /* In time order (stable enough: one series never has two samples at one time). */
    qsort(s.v, s.n, sizeof(*s.v), cmp_time);
    while (half < s.n && s.v[half].t < FZ_DATA_END_MS / 2)
        half++;
    /* A few samples of the first half held back, appended after the cut. */
    for (size_t i = half; i > 0 && late < 7; i--) {
        if (s.v[i - 1].labels == labels[0] || s.v[i - 1].labels == labels[13]) {
            struct km_sample tmp = s.v[i - 1];

            memmove(&s.v[i - 1], &s.v[i], (half - i) * sizeof(*s.v));
            s.v[half - 1] = tmp;
            half--;
            late++;
        }
    }

    km_tsdb_opts_default(&o);
    o.dir = dir;
    o.clock_ms = fixed_clock;
    o.no_background = true;
    o.wal_lanes = 1;
    o.fsync_interval_ms = 3600LL * 1000;
    rc = km_tsdb_storage_open(&store, &o);
    if (rc)
        goto out_free_samples;
    rc = append_all(store, &s, 0, half);
    if (rc == 0)
        rc = km_storage_flush(store);
    if (rc == 0)
        rc = append_all(store, &s, half + late, s.n);
    if (rc == 0)
        rc = append_all(store, &s, half, half + late);
    if (rc) {
        km_storage_close(store);
        goto out_free_samples;
    }
    nseries = NDEFS;
    nsamples = s.n;
    *out = store;
out_free_samples:
    free(s.v);
    return rc;
}
