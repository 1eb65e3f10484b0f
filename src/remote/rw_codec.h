/*
 * rw_codec — the rest of remote_write's wire: snappy block compression of request
 * bodies (with a cap on what a body may expand to) and encoding a WriteRequest with the
 * protobuf-c code generated from remote.proto (what the agent ships).
 * Pure functions; thread-safe.
 */
#ifndef KMON_REMOTE_RW_CODEC_H
#define KMON_REMOTE_RW_CODEC_H

#include "common/buf.h"
#include "common/labels.h"

#include <stddef.h>
#include <stdint.h>

/* One series to encode: its labels (sorted by name, __name__ included) and samples. */
struct km_rw_ts {
    const struct km_label *labels;
    size_t nlabels;
    const int64_t *t; /* milliseconds */
    const double *v;
    size_t nsamples;
};

/* Append the protobuf WriteRequest of ts[0..n) to out. 0 or KM_ENOMEM. */
int km_rw_encode(struct km_buf *out, const struct km_rw_ts *ts, size_t n);

/* One MetricMetadata to encode: remote.proto's MetricType, the family name, help and
 * unit (NUL-terminated; help and unit may be ""). */
struct km_rw_md {
    unsigned type;
    const char *name, *help, *unit;
};

/* Append md[0..n) to out as WriteRequest metadata fields: after km_rw_encode()'s bytes
 * they make one WriteRequest carrying both (protobuf concatenates repeated fields), or
 * alone a request of metadata only. 0 or KM_ENOMEM. */
int km_rw_encode_metadata(struct km_buf *out, const struct km_rw_md *md, size_t n);

/* Replace out's contents with in[0..n) snappy-compressed (block format, as remote_write
 * sends it). */
int km_rw_compress(struct km_buf *out, const void *in, size_t n);

/* Replace out's contents with the decompressed in[0..n). KM_EINVAL (with a message)
 * when in is not snappy data, KM_ELIMIT when it would expand past max bytes. */
int km_rw_uncompress(struct km_buf *out, const void *in, size_t n, size_t max);

#endif
