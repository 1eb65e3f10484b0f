/*
 * rw_codec — snappy framing of request bodies and WriteRequest encoding (rw_codec.h).
 * Encoding builds the generated message structs for one request in a single scratch
 * allocation and lets protobuf-c pack them.
 */
#include "rw_codec.h"

#include "common/err.h"
#include "remote.pb-c.h"

#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>

/* Append the packed request to out. */
static int pack(struct km_buf *out, const Prometheus__WriteRequest *req)
{
    size_t size = prometheus__write_request__get_packed_size(req);
    int rc = km_buf_reserve(out, size);

    if (rc == 0) {
        prometheus__write_request__pack(req, (uint8_t *)out->data + out->len);
        out->len += size;
        out->data[out->len] = '\0';
    }
    return rc;
}

int km_rw_encode(struct km_buf *out, const struct km_rw_ts *ts, size_t n)
{
    Prometheus__WriteRequest req = PROMETHEUS__WRITE_REQUEST__INIT;
    Prometheus__TimeSeries *series, **series_p;
    Prometheus__Label *labels, **labels_p;
    Prometheus__Sample *samples, **samples_p;
    size_t nl = 0, ns = 0, li = 0, si = 0;
    void *scratch;
    int rc;

    for (size_t i = 0; i < n; i++) {
        nl += ts[i].nlabels;
        ns += ts[i].nsamples;
    }
    scratch = malloc((n ? n : 1) * (sizeof(*series) + sizeof(*series_p)) +
                     (nl ? nl : 1) * (sizeof(*labels) + sizeof(*labels_p)) +
                     (ns ? ns : 1) * (sizeof(*samples) + sizeof(*samples_p)));
    if (!scratch)
        return km_err_set(KM_ENOMEM, "out of memory encoding a remote_write request");
    series = scratch;
    labels = (Prometheus__Label *)(series + (n ? n : 1));
    samples = (Prometheus__Sample *)(labels + (nl ? nl : 1));
    series_p = (Prometheus__TimeSeries **)(samples + (ns ? ns : 1));
    labels_p = (Prometheus__Label **)(series_p + (n ? n : 1));
    samples_p = (Prometheus__Sample **)(labels_p + (nl ? nl : 1));
    for (size_t i = 0; i < n; i++) {
        Prometheus__TimeSeries *s = &series[i];

        prometheus__time_series__init(s);
        s->n_labels = ts[i].nlabels;
        s->labels = &labels_p[li];
        for (size_t k = 0; k < ts[i].nlabels; k++, li++) {
            prometheus__label__init(&labels[li]);
            /* protobuf-c only reads these strings while packing. */
            labels[li].name = (char *)ts[i].labels[k].name;
            labels[li].value = (char *)ts[i].labels[k].value;
            labels_p[li] = &labels[li];
        }
        s->n_samples = ts[i].nsamples;
        s->samples = &samples_p[si];
        for (size_t k = 0; k < ts[i].nsamples; k++, si++) {
            prometheus__sample__init(&samples[si]);
            samples[si].timestamp = ts[i].t[k];
            samples[si].value = ts[i].v[k];
            samples_p[si] = &samples[si];
        }
        series_p[i] = s;
    }
    req.n_timeseries = n;
    req.timeseries = series_p;
    rc = pack(out, &req);
    free(scratch);
    return rc;
}

int km_rw_encode_metadata(struct km_buf *out, const struct km_rw_md *md, size_t n)
{
    Prometheus__WriteRequest req = PROMETHEUS__WRITE_REQUEST__INIT;
    Prometheus__MetricMetadata *m, **mp;
    int rc;

    if (n == 0)
        return 0;
    m = malloc(n * (sizeof(*m) + sizeof(*mp)));
    if (!m)
        return km_err_set(KM_ENOMEM, "out of memory encoding remote_write metadata");
    mp = (Prometheus__MetricMetadata **)(m + n);
    for (size_t i = 0; i < n; i++) {
        prometheus__metric_metadata__init(&m[i]);
        m[i].type = (Prometheus__MetricMetadata__MetricType)md[i].type;
        /* protobuf-c only reads these strings while packing. */
        m[i].metric_family_name = (char *)md[i].name;
        m[i].help = (char *)md[i].help;
        m[i].unit = (char *)md[i].unit;
        mp[i] = &m[i];
    }
    req.n_metadata = n;
    req.metadata = mp;
    rc = pack(out, &req);
    free(m);
    return rc;
}

int km_rw_compress(struct km_buf *out, const void *in, size_t n)
{
    size_t cap = snappy_max_compressed_length(n), len;
    int rc;

    km_buf_reset(out);
    rc = km_buf_reserve(out, cap);
    if (rc)
        return rc;
    len = cap;
    if (snappy_compress(in, n, out->data, &len) != SNAPPY_OK)
        return km_err_set(KM_EINVAL, "snappy compression failed");
    out->len = len;
    out->data[len] = '\0';
    return 0;
}

int km_rw_uncompress(struct km_buf *out, const void *in, size_t n, size_t max)
{
    size_t len;
    int rc;

    km_buf_reset(out);
    if (snappy_uncompressed_length(in, n, &len) != SNAPPY_OK)
        return km_err_set(KM_EINVAL, "the body is not snappy-compressed (block format)");
    if (len > max)
        return km_err_set(KM_ELIMIT, "the body expands to %zu bytes, more than the %zu allowed",
                          len, max);
    rc = km_buf_reserve(out, len);
    if (rc)
        return rc;
    if (snappy_uncompress(in, n, out->data, &len) != SNAPPY_OK)
        return km_err_set(KM_EINVAL, "the body is not valid snappy data");
    out->len = len;
    out->data[len] = '\0';
    return 0;
}
