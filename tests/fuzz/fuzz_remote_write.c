/*
 * fuzz_remote_write — the in-place remote_write decoder against the protobuf-c code
 * generated from the same remote.proto, on arbitrary bytes. They must agree on whether
 * a body is a WriteRequest and, when it is, on every label (name and value bytes), every
 * sample (timestamp, value bits), the counts of exemplars and metadata, and every
 * metadata entry (type, family name, help, unit).
 */
#include "fuzz_common.h"
#include "remote.pb-c.h"
#include "remote/rw_decode.h"

#define MAX_SERIES 4096

struct seen {
    struct km_rw_series s[MAX_SERIES];
    size_t n;
    bool overflow;
};

static int collect(void *ud, const struct km_rw_series *s)
{
    struct seen *seen = ud;

    if (seen->n == MAX_SERIES) {
        seen->overflow = true;
        return 0;
    }
    seen->s[seen->n++] = *s;
    return 0;
}

/* protobuf-c's strings end at the first NUL; ours carry the bytes as sent. */
static bool same_string(const char *ref, const char *p, uint32_t n)
{
    size_t k = strnlen(p, n);

    return strlen(ref) == k && memcmp(ref, p, k) == 0;
}

static bool same_bits(double a, double b)
{
    return memcmp(&a, &b, sizeof(a)) == 0;
}

static void compare_series(const struct km_rw_series *s, const Prometheus__TimeSeries *ref)
{
    static struct km_rw_label labels[65536];
    struct km_rw_sample_it it;
    size_t nl = 0, k = 0;
    int64_t t;
    double v;

    CHECK(s->nlabels == ref->n_labels);
    CHECK(s->nsamples == ref->n_samples);
    CHECK(s->nexemplars == ref->n_exemplars);
    CHECK(km_rw_series_labels(s, labels, sizeof(labels) / sizeof(labels[0]), &nl) == 0);
    CHECK(nl == ref->n_labels);
    for (size_t i = 0; i < nl; i++) {
        CHECK(same_string(ref->labels[i]->name, labels[i].name, labels[i].name_len));
        CHECK(same_string(ref->labels[i]->value, labels[i].value, labels[i].value_len));
    }
    km_rw_samples_init(&it, s);
    while (km_rw_samples_next(&it, &t, &v)) {
        CHECK(k < ref->n_samples);
        CHECK(t == ref->samples[k]->timestamp);
        CHECK(same_bits(v, ref->samples[k]->value));
        k++;
    }
    CHECK(k == ref->n_samples);
}

struct md_seen {
    const Prometheus__WriteRequest *ref;
    size_t n;
};

static int compare_metadata(void *ud, const struct km_rw_metadata *m)
{
    struct md_seen *x = ud;
    const Prometheus__MetricMetadata *r;

    CHECK(x->n < x->ref->n_metadata);
    r = x->ref->metadata[x->n++];
    CHECK((uint32_t)m->type == (uint32_t)r->type);
    CHECK(same_string(r->metric_family_name, m->name, m->name_len));
    CHECK(same_string(r->help, m->help, m->help_len));
    CHECK(same_string(r->unit, m->unit, m->unit_len));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct seen seen;
    struct km_rw_stats st;
    Prometheus__WriteRequest *ref;
    uint8_t *copy = (uint8_t *)fuzz_copy(data, size);
    int rc;

    if (!copy)
        return 0;
    seen.n = 0;
    seen.overflow = false;
    rc = km_rw_decode(copy, size, collect, &seen, &st);
    ref = prometheus__write_request__unpack(NULL, size, copy);
    /* Acceptance must agree both ways. */
    CHECK((rc == 0) == (ref != NULL));
    if (rc == 0 && ref) {
        CHECK(st.series == ref->n_timeseries);
        CHECK(st.metadata == ref->n_metadata);
        struct md_seen md = { ref, 0 };

        for (size_t i = 0; i < seen.n && !seen.overflow; i++)
            compare_series(&seen.s[i], ref->timeseries[i]);
        CHECK(km_rw_decode_metadata(copy, size, compare_metadata, &md) == 0);
        CHECK(md.n == ref->n_metadata);
    }
    prometheus__write_request__free_unpacked(ref, NULL);
    free(copy);
    return 0;
}
