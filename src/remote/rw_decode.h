/*
 * rw_decode — Prometheus remote_write 1.0 WriteRequest bodies (after snappy), read in
 * place: no allocation, no copy. The server's ingest path, where one request carries
 * thousands of series each with its full label set and usually one sample.
 *
 * km_rw_decode() checks the message against the schema of remote.proto (wire types of
 * known fields, bounds of every length, unknown fields skipped) with the acceptance
 * rules of protobuf-c 1.4, the generated reference decoder it is tested against: a body
 * this accepts, protobuf-c accepts with the same content. It hands each TimeSeries to a
 * callback as soon as that series is checked, in one pass, so a body found malformed
 * further on has already shown the callback its first series: collect them, and act
 * only once km_rw_decode() returned 0. Labels and samples are read with the functions
 * below. Pure functions over caller-owned bytes; thread-safe.
 *
 * Wire format reminders: a field is a varint tag (field number << 3 | wire type) then
 * a varint (type 0), 8 bytes (1), a varint length and that many bytes (2) or 4 bytes
 * (5). Within a Label, a name or value given twice means the last one.
 */
#ifndef KMON_REMOTE_RW_DECODE_H
#define KMON_REMOTE_RW_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One TimeSeries of a request, viewed in place. */
struct km_rw_series {
    const uint8_t *msg; /* the TimeSeries message bytes */
    size_t len;
    /* From the first label field's tag to the end of the last label field. When the
     * label fields are adjacent (every known sender writes them first, together) these
     * bytes identify the label set as sent: a cache key. */
    const uint8_t *labels;
    size_t labels_len;
    bool labels_adjacent;
    const uint8_t *first_sample; /* the first sample field's tag, or NULL */
    uint32_t nlabels, nsamples, nexemplars, nhistograms;
};

struct km_rw_stats {
    uint64_t series, samples, exemplars, histograms, metadata;
};

/* Called for each TimeSeries once it has been checked (the rest of the body may not
 * have been yet); a non-zero return stops and is returned. */
typedef int (*km_rw_series_fn)(void *ud, const struct km_rw_series *s);

/* Check the WriteRequest p[0..n), calling fn (may be NULL) for every TimeSeries in
 * order. Returns 0, KM_EINVAL with a message saying what is malformed and where, or
 * fn's code. `st` (may be NULL) receives the counts of what was read. */
int km_rw_decode(const uint8_t *p, size_t n, km_rw_series_fn fn, void *ud, struct km_rw_stats *st);

/* One MetricMetadata as sent, strings in place (not NUL-terminated; absent ones empty). */
struct km_rw_metadata {
    uint64_t type; /* remote.proto's MetricType (0 unknown … 7 stateset), or what was sent */
    const char *name, *help, *unit;
    uint32_t name_len, help_len, unit_len;
};

/* Called for each MetricMetadata; a non-zero return stops and is returned. */
typedef int (*km_rw_metadata_fn)(void *ud, const struct km_rw_metadata *m);

/* Call fn for every MetricMetadata of the WriteRequest p[0..n), in order. Only for a
 * body km_rw_decode() accepted (it checked them): returns 0 or fn's code. */
int km_rw_decode_metadata(const uint8_t *p, size_t n, km_rw_metadata_fn fn, void *ud);

/* A label as sent: name and value bytes in place (not NUL-terminated). */
struct km_rw_label {
    const char *name, *value;
    uint32_t name_len, value_len;
};

/* The labels of s in wire order into v[0..cap); *n is their number. Returns 0, or
 * KM_ELIMIT when s has more than cap labels. */
int km_rw_series_labels(const struct km_rw_series *s, struct km_rw_label *v, size_t cap, size_t *n);

/* The samples of s in wire order. */
struct km_rw_sample_it {
    const uint8_t *p, *end;
};

void km_rw_samples_init(struct km_rw_sample_it *it, const struct km_rw_series *s);
/* The next sample; false at the end. */
bool km_rw_samples_next(struct km_rw_sample_it *it, int64_t *t, double *v);

#endif
